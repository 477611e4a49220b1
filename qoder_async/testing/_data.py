"""JSON builders for deployments and runs, and the realistic seeded data set (spec 4.1, 4.2)."""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ._content import seeded_events
from ._wire import NS_PER_MS, NS_PER_SECOND, format_ts, truncate_ns

if TYPE_CHECKING:
    import random

    from ._clock import IdFactory
    from ._store import Store

JSON = dict[str, Any]

DAY_NS = 86_400 * NS_PER_SECOND
DEFAULT_SESSION_STRATEGY = "new_session"

# Spec 4.2: run error codes come from the upstream types; the set is open-ended.
RUN_ERRORS = {
    "environment_archived_error": "The environment for this deployment has been archived.",
    "agent_archived_error": "The agent for this deployment has been archived.",
    "environment_not_found_error": "The environment for this deployment was not found.",
    "vault_not_found_error": "A vault referenced by this deployment was not found.",
    "session_rate_limited_error": "Session creation was rate limited. Try again later.",
    "session_creation_rejected_error": "The session could not be created.",
    "mcp_egress_blocked_error": "An MCP server could not be reached: egress is blocked.",
    "unknown_error": "The run failed for an unknown reason.",
}

# (cron expression, time zone, a word for the name of a deployment on that schedule)
_SCHEDULES = (
    ("0 9 * * *", "Asia/Shanghai", "daily"),
    ("30 9 * * 1-5", "Asia/Shanghai", "weekday"),
    ("0 */6 * * *", "UTC", "six-hourly"),
    ("15 2 * * *", "Europe/Berlin", "nightly"),
    ("0 8 * * 1", "America/New_York", "weekly"),
    ("45 23 * * *", "Asia/Tokyo", "nightly"),
)
_TASKS = (
    "status-report",
    "dependency-audit",
    "security-scan",
    "release-notes",
    "flaky-test-triage",
    "changelog-digest",
    "issue-grooming",
    "cost-review",
    "docs-sync",
    "incident-summary",
)
_COMPONENTS = ("billing", "checkout", "search", "gateway", "mobile", "infra", "web", "data")
_PROMPTS = (
    "Generate today's status report",
    "Audit third-party dependencies and open PRs for outdated ones",
    "Scan the repository for leaked secrets and report findings",
    "Summarise merged pull requests into draft release notes",
    "Find flaky tests from the last 24 hours of CI and file issues",
    "Review open issues and label the ones without an owner",
)
_TEAMS = ("platform", "payments", "growth", "sre", "mobile")


def agent_ref(agent_id: str, version: int = 1) -> JSON:
    """A resolved agent reference (spec 4.1: always carries a concrete version)."""
    return {"id": agent_id, "type": "agent", "version": version}


def cas_config(*, max_concurrent: int = 1, max_retries: int = 0, timeout_ms: int = 300_000) -> JSON:
    """The server-managed `metadata.cas_config` with the spec 3.2 defaults and zeroed stats."""
    return {
        "config": {
            "max_concurrent": max_concurrent,
            "max_retries": max_retries,
            "timeout_ms": timeout_ms,
        },
        "session_strategy": DEFAULT_SESSION_STRATEGY,
        "stats": {
            "consecutive_failures": 0,
            "next_trigger_at": None,
            "total_failures": 0,
            "total_runs": 0,
        },
    }


def upcoming_runs(expression: str, tz_name: str, after_ns: int) -> list[str]:
    """Five plausible upcoming fire times of a cron schedule, as RFC 3339 UTC.

    This is deliberately not a cron evaluator, only enough for realistic data: it reads
    the minute field (a number), the hour field (a number, `*/n`, else hourly) and the
    day-of-week field (a number or a range), ignores the day-of-month and month fields,
    and steps in local time of `tz_name` (UTC when unknown) so daylight saving looks right.
    """
    fields = [*expression.split(), "*", "*", "*", "*", "*"][:5]
    minute = int(fields[0]) % 60 if fields[0].isdigit() else 0
    try:
        zone: timezone | ZoneInfo = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = timezone.utc
    after = datetime.fromtimestamp(after_ns // NS_PER_SECOND, tz=timezone.utc).astimezone(zone)
    hour_field = fields[1]
    if hour_field.isdigit():
        step = timedelta(days=1)
        nxt = after.replace(hour=int(hour_field) % 24, minute=minute, second=0, microsecond=0)
    else:
        every = hour_field[2:]
        hours = int(every) if hour_field[:2] == "*/" and every.isdigit() and every != "0" else 1
        step = timedelta(hours=hours)
        nxt = after.replace(
            hour=after.hour - after.hour % hours, minute=minute, second=0, microsecond=0
        )
    days = _weekdays(fields[4])
    times: list[str] = []
    while len(times) < 5:
        # Cron counts Sunday as 0; Python's weekday() counts Monday as 0.
        if nxt > after and (nxt.weekday() + 1) % 7 in days:
            times.append(nxt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        nxt += step
    return times


def _weekdays(field: str) -> set[int]:
    """The cron days of week (0 = Sunday) a day-of-week field allows; all when unsure."""
    first, dash, last = field.partition("-")
    if first.isdigit() and (not dash or last.isdigit()):
        low, high = int(first), int(last) if dash else int(first)
        chosen = {day % 7 for day in range(low, high + 1)}
        if chosen:
            return chosen
    return set(range(7))


def schedule_json(expression: str, tz_name: str, after_ns: int) -> JSON:
    """A deployment's `schedule` object with its upcoming fire times."""
    return {
        "expression": expression,
        "timezone": tz_name,
        "type": "cron",
        "upcoming_runs_at": upcoming_runs(expression, tz_name, after_ns),
    }


def deployment_json(
    *,
    dep_id: str,
    name: str,
    description: str | None,
    agent: JSON,
    environment_id: str,
    initial_events: list[JSON],
    resources: list[JSON],
    vault_ids: list[str],
    metadata: JSON,
    schedule: JSON | None,
    created_at: str,
    extra: JSON | None = None,
) -> JSON:
    """A full spec 4.1 Deployment, active and not archived, keys in the API's (sorted) order."""
    deployment: JSON = {
        "agent": agent,
        "archived_at": None,
        "created_at": created_at,
        "description": description,
        "environment_id": environment_id,
        "id": dep_id,
        "initial_events": initial_events,
        "metadata": metadata,
        "name": name,
        "paused_reason": None,
        "resources": resources,
        "schedule": schedule,
        "status": "active",
        "type": "deployment",
        "updated_at": created_at,
        "vault_ids": vault_ids,
    }
    if extra:
        deployment = dict(sorted({**deployment, **extra}.items()))
    return deployment


def run_json(
    *,
    run_id: str,
    deployment: JSON,
    triggered_at: str,
    trigger_context: JSON,
    extras: JSON,
    status: str,
    session_id: str | None,
    error: JSON | None,
) -> JSON:
    """A spec 4.2 Deployment Run; `completed_at`/`duration_ms` are added when it ends."""
    return {
        "agent": deployment["agent"],
        "cas_run_extras": extras,
        "created_at": triggered_at,
        "deployment_id": deployment["id"],
        "error": error,
        "id": run_id,
        "session_id": session_id,
        "status": status,
        "trigger_context": trigger_context,
        "triggered_at": triggered_at,
        "type": "deployment_run",
    }


def make_run(
    ids: IdFactory,
    deployment: JSON,
    *,
    at: tuple[int, str],
    trigger: JSON,
    status: str,
    attempt: int = 1,
    start_delay_ns: int = 38_250_514,
    digits: int = 6,
    duration_ms: int = 17_268,
    error: JSON | None = None,
) -> JSON:
    """A run triggered at `at` (nanoseconds, text) in `status`, consistent with spec 4.2.

    Running and completed runs have a session; failed runs have an error and no
    session (spec 4.2: exactly one of them is non-null); pending and skipped runs have
    neither. Terminal runs carry `completed_at`; only completed ones `duration_ms`.
    """
    at_ns, text = at
    started = truncate_ns(at_ns + start_delay_ns, digits)
    extras: JSON = {"attempt": attempt}
    session_id: str | None = None
    if status in ("running", "completed"):
        extras["started_at"] = format_ts(started, digits)
        extras["turn_id"] = ids.new("turn", started)
        session_id = ids.new("sess", at_ns)
    elif status == "failed":
        extras["started_at"] = format_ts(started, digits)
        error = error or {"message": RUN_ERRORS["unknown_error"], "type": "unknown_error"}
    run = run_json(
        run_id=ids.new("drun", at_ns),
        deployment=deployment,
        triggered_at=text,
        trigger_context=trigger,
        extras=extras,
        status=status,
        session_id=session_id,
        error=error if status == "failed" else None,
    )
    if status == "completed":
        finished = truncate_ns(started + duration_ms * NS_PER_MS + 271_000, 6)
        run["completed_at"] = format_ts(finished, 6)
        run["duration_ms"] = (finished - started) // NS_PER_MS
    elif status == "failed":
        run["completed_at"] = format_ts(truncate_ns(started + 150 * NS_PER_MS, 6), 6)
    elif status == "skipped":
        run["completed_at"] = format_ts(truncate_ns(at_ns, 6), 6)
    return dict(sorted(run.items()))


def trigger_context(trigger_type: str, at_ns: int) -> JSON:
    """A run's trigger_context; a scheduled run fires a little after its whole-minute slot."""
    if trigger_type == "schedule":
        slot = at_ns - at_ns % (60 * NS_PER_SECOND)
        return {"scheduled_at": format_ts(slot, 0), "type": "schedule"}
    return {"type": trigger_type}


class Seeder:
    """Generates a realistic, reproducible data set into a store from one seeded RNG."""

    def __init__(self, store: Store, rng: random.Random) -> None:
        self._store = store
        self._rng = rng
        self._names: set[str] = set()

    def seed(self, deployments: int, runs_per_deployment: int) -> None:
        """Add `deployments` deployments with `runs_per_deployment` runs each."""
        rng, store = self._rng, self._store
        start = store.clock.start_ns
        pool = max(1, deployments // 4)
        agents = [agent_ref(self._old_id("agent"), rng.randint(1, 3)) for _ in range(pool)]
        envs = [self._old_id("env") for _ in range(pool)]
        for _ in range(deployments):
            created = start - rng.randrange(DAY_NS, 120 * DAY_NS)
            dep_id = self._deployment(
                created, rng.choice(agents), rng.choice(envs), runs_per_deployment
            )
            # Encode now, so the first requests for seeded data cost no encoding either.
            for _, record_id in (*store.runs_by_dep[dep_id], store.dep_keys[dep_id]):
                store.encoded(record_id)

    def _old_id(self, prefix: str) -> str:
        """An id for a record made before any deployment (agents, environments)."""
        start = self._store.clock.start_ns
        return self._store.ids.new(prefix, start - self._rng.randrange(150 * DAY_NS, 300 * DAY_NS))

    def _name(self, cadence: str) -> str:
        rng = self._rng
        name = f"{cadence}-{rng.choice(_TASKS)}-{rng.choice(_COMPONENTS)}"
        candidate, n = name, 1
        while candidate in self._names:
            n += 1
            candidate = f"{name}-{n}"
        self._names.add(candidate)
        return candidate

    def _deployment(self, created: int, agent: JSON, env: str, runs: int) -> str:
        rng, store = self._rng, self._store
        prompt = rng.choice(_PROMPTS)
        metadata: JSON = {}
        if rng.random() < 0.5:
            metadata["team"] = rng.choice(_TEAMS)
        expression, tz_name, cadence = rng.choice(_SCHEDULES)
        scheduled = rng.random() < 0.7
        name = self._name(cadence if scheduled else "on-demand")
        index = len(self._names) - 1
        fields: JSON = {
            "name": name,
            "description": f"{prompt}." if rng.random() < 0.8 else None,
            "agent": agent,
            "environment_id": env,
            "initial_events": seeded_events(index, prompt, created),
            "resources": [],
            "vault_ids": [store.ids.new("vlt", created)] if rng.random() < 0.2 else [],
            "metadata": metadata,
            "config": {
                "max_concurrent": rng.choice((1, 1, 1, 2, 3)),
                "max_retries": rng.choice((0, 0, 1, 2)),
                "timeout_ms": rng.choice((300_000, 300_000, 600_000, 1_800_000)),
            },
            "session_strategy": DEFAULT_SESSION_STRATEGY,
            "schedule": (expression, tz_name) if scheduled else None,
            "extra": None,
        }
        at = store.distinct(store.dep_instants, created, rng.choice((0, 0, 0, 5, 6, 9)))
        dep = store.create_deployment(fields, created=at)
        end = store.clock.start_ns - NS_PER_SECOND
        roll = rng.random()
        if roll < 0.25:
            # Archived (10%) or paused (15%): runs stop when that happened.
            end = rng.randrange(at[0] + NS_PER_SECOND, end)
        self._runs(dep, at[0], end, runs, live=roll >= 0.25)
        if zlib.crc32(dep["id"].encode()) % 4 == 0:
            # About a quarter of the seeded deployments serve their runs in the minimal
            # shape of spec 7.1, as an older generation of the API would. Chosen from the
            # id, not the RNG, so the rest of a seeded data set stays as it was.
            store.minimal_runs.update(key[1] for key in store.runs_by_dep[dep["id"]])
        store.refresh_stats(dep["id"])
        if roll < 0.1:
            store.archive(dep["id"], end)
        elif roll < 0.25:
            reason: JSON = {"type": "manual"}
            if rng.random() < 0.2:
                # Spec 4.1: an automatic pause may carry an error cause.
                reason = {"error": {"type": "agent_archived_error"}, "type": "error"}
            store.pause(dep["id"], end, reason)
        return str(dep["id"])

    def _runs(self, dep: JSON, first: int, last: int, count: int, *, live: bool) -> None:
        rng, store = self._rng, self._store
        max_retries = dep["metadata"]["cas_config"]["config"]["max_retries"]
        span = max(last - first, 2 * NS_PER_SECOND)
        instants = sorted(
            first + NS_PER_SECOND + rng.randrange(span - NS_PER_SECOND) for _ in range(count)
        )
        previous_failed, attempt = False, 1
        for index, raw in enumerate(instants):
            roll = rng.random()
            if live and index == count - 1 and roll < 0.3:
                status = "running" if roll < 0.25 else "pending"
            else:
                status = "completed" if roll < 0.72 else "failed" if roll < 0.9 else "skipped"
            if previous_failed and attempt <= max_retries:
                attempt += 1
                trigger_type = "retry"
            else:
                attempt = 1
                scheduled = dep["schedule"] is not None and rng.random() < 0.75
                trigger_type = "schedule" if scheduled else "manual"
            at = store.distinct(store.run_instants, raw, rng.choice((0, 5, 6, 6, 9)))
            code = rng.choice(tuple(RUN_ERRORS))
            run = make_run(
                store.ids,
                dep,
                at=at,
                trigger=trigger_context(trigger_type, at[0]),
                status=status,
                attempt=attempt,
                start_delay_ns=rng.randrange(20 * NS_PER_MS, 60 * NS_PER_MS),
                digits=rng.choice((6, 9)),
                duration_ms=rng.randrange(5_000, 600_000),
                error={"message": RUN_ERRORS[code], "type": code},
            )
            store.insert_run(run, at[0])
            previous_failed = status == "failed"
