"""The realistic seeded data set: deployments and runs generated from one seeded RNG."""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from ._content import seeded_events
from ._data import (
    DEFAULT_SESSION_STRATEGY,
    JSON,
    RUN_ERRORS,
    agent_ref,
    make_run,
    trigger_context,
)
from ._wire import NS_PER_MS, NS_PER_SECOND

if TYPE_CHECKING:
    import random

    from ._store import Store

DAY_NS = 86_400 * NS_PER_SECOND

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
