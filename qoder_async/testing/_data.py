"""JSON builders for deployments and runs, consistent with spec 4.1 and 4.2."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ._wire import NS_PER_MS, NS_PER_SECOND, format_ts, truncate_ns

if TYPE_CHECKING:
    from ._clock import IdFactory

JSON = dict[str, Any]

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
