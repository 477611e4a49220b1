"""The fake's state: deployments and runs, their list orders, and the spec's state machine."""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from typing import TYPE_CHECKING, Any, Literal

from ._data import JSON, cas_config, deployment_json, make_run, schedule_json
from ._validate import MAX_METADATA_KEYS
from ._wire import NS_PER_MS, ApiError, dumps, format_ts, parse_ts, truncate_ns

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._clock import Clock, IdFactory

# A record's place in its list: ascending (timestamp, id); list order is the reverse, so
# newest first with ties broken by id descending (spec 2.3 gives the timestamp order).
Key = tuple[int, str]

TERMINAL = frozenset({"completed", "failed", "skipped"})

# Spec 7.1: the only fields of a run in the minimal shape of the contract examples.
MINIMAL_RUN_FIELDS = frozenset(
    {"agent", "created_at", "deployment_id", "error", "id", "session_id", "trigger_context", "type"}
)
RunShape = Literal["mixed", "rich", "minimal"]
RUN_SHAPES: tuple[RunShape, ...] = ("mixed", "rich", "minimal")


class Store:
    """Deployments and runs as JSON dicts, indexed for cursor pagination.

    Every change to a record goes through `changed`, which drops its cached encoding:
    list pages are joined from cached bytes, so serving a page costs no JSON encoding.
    """

    def __init__(self, clock: Clock, ids: IdFactory) -> None:
        self.clock = clock
        self.ids = ids
        self.deployments: dict[str, JSON] = {}
        self.runs: dict[str, JSON] = {}
        self.dep_keys: dict[str, Key] = {}
        self.run_keys: dict[str, Key] = {}
        self.run_created: dict[str, int] = {}
        self.dep_order: list[Key] = []
        self.run_order: list[Key] = []
        self.runs_by_dep: dict[str, list[Key]] = {}
        self.dep_instants: set[int] = set()
        self.run_instants: set[int] = set()
        # GETs seen per run started by POST /run, for FakeQoderAPI.run_polls_to_complete.
        self.polls: dict[str, int] = {}
        # Runs kept whole here (for filters and the state machine) but served in the
        # minimal shape of spec 7.1 under the "mixed" run shape.
        self.minimal_runs: set[str] = set()
        self._run_shape: RunShape = "mixed"
        self._cache: dict[str, bytes] = {}

    # -- records and indexes -------------------------------------------------------------

    def insert_deployment(self, dep: JSON) -> None:
        """Store a new deployment."""
        key = (parse_ts(dep["created_at"]), dep["id"])
        self.deployments[dep["id"]] = dep
        self.dep_keys[dep["id"]] = key
        self.dep_instants.add(key[0])
        self.runs_by_dep.setdefault(dep["id"], [])
        insort(self.dep_order, key)

    def insert_run(self, run: JSON, triggered_ns: int | None = None) -> None:
        """Store a new run of an existing deployment (stats are not refreshed).

        `triggered_ns` saves parsing `triggered_at` when the caller knows the instant.
        """
        if triggered_ns is None:
            triggered_ns = parse_ts(run["triggered_at"])
        key = (triggered_ns, run["id"])
        self.runs[run["id"]] = run
        self.run_keys[run["id"]] = key
        same = run["created_at"] == run["triggered_at"]
        self.run_created[run["id"]] = triggered_ns if same else parse_ts(run["created_at"])
        self.run_instants.add(key[0])
        insort(self.run_order, key)
        insort(self.runs_by_dep[run["deployment_id"]], key)

    @staticmethod
    def distinct(used: set[int], ns: int, digits: int) -> tuple[int, str]:
        """The first instant at or after `ns`, at `digits` precision, not in `used`."""
        unit: int = 10 ** (9 - digits)
        at = truncate_ns(ns, digits)
        while at in used:
            at += unit
        return at, format_ts(at, digits)

    @property
    def run_shape(self) -> RunShape:
        """Which shape runs are served in: "mixed", "rich" or "minimal" (spec 7.1)."""
        return self._run_shape

    @run_shape.setter
    def run_shape(self, shape: RunShape) -> None:
        if shape not in RUN_SHAPES:
            raise ValueError(f"run_shape must be one of {', '.join(RUN_SHAPES)}, got {shape!r}")
        self._run_shape = shape
        self._cache.clear()

    def encoded(self, record_id: str) -> bytes:
        """The JSON a deployment or run is served as, cached until it changes."""
        body = self._cache.get(record_id)
        if body is None:
            record = self.deployments.get(record_id)
            if record is None:
                record = self.runs[record_id]
                if self._run_shape == "minimal" or (
                    self._run_shape == "mixed" and record_id in self.minimal_runs
                ):
                    record = {k: v for k, v in record.items() if k in MINIMAL_RUN_FIELDS}
            body = self._cache[record_id] = dumps(record)
        return body

    def changed(self, record_id: str) -> None:
        """Forget the cached encoding of a record that was modified."""
        self._cache.pop(record_id, None)

    def deployment(self, dep_id: str) -> JSON:
        """The deployment with this id; ApiError 404 if there is none."""
        dep = self.deployments.get(dep_id)
        if dep is None:
            raise ApiError(404, f"Deployment {dep_id!r} not found.")
        return dep

    def run(self, run_id: str, dep_id: str | None = None) -> JSON:
        """The run with this id (of `dep_id` if given); ApiError 404 if there is none."""
        run = self.runs.get(run_id)
        if run is None or (dep_id is not None and run["deployment_id"] != dep_id):
            raise ApiError(404, f"Deployment run {run_id!r} not found.")
        return run

    def page(
        self,
        keys: list[Key],
        keep: Callable[[str], bool] | None,
        limit: int,
        cursor: Key | None,
        forward: bool,
    ) -> tuple[list[str], bool]:
        """Up to `limit` kept ids past `cursor`, in list order, and whether more exist.

        Forward walks toward older records (after_id/page); backward walks toward newer
        ones (before_id) and returns the `limit` ids nearest the cursor, newest first.
        """
        found: list[str] = []
        has_more = False
        if forward:
            index = len(keys) - 1 if cursor is None else bisect_left(keys, cursor) - 1
            step, stop = -1, -1
        else:
            index = 0 if cursor is None else bisect_right(keys, cursor)
            step, stop = 1, len(keys)
        while index != stop:
            record_id = keys[index][1]
            index += step
            if keep is None or keep(record_id):
                if len(found) == limit:
                    has_more = True
                    break
                found.append(record_id)
        if not forward:
            found.reverse()
        return found, has_more

    # -- deployments ---------------------------------------------------------------------

    def create_deployment(self, fields: JSON, created: tuple[int, str] | None = None) -> JSON:
        """Create a deployment from validated fields (see _validate.create_fields).

        `created` is an explicit (nanoseconds, text) creation time; the default is now.
        """
        now = self.clock.now_ns()
        if created is None:
            # Spec 3.3/3.5 examples: deployment timestamps carry whole seconds.
            created = (truncate_ns(now, 0), format_ts(now, 0))
        created_ns, created_at = created
        config = cas_config(**fields["config"])
        config["session_strategy"] = fields["session_strategy"]
        metadata = dict(sorted({**fields["metadata"], "cas_config": config}.items()))
        schedule = fields["schedule"]
        dep = deployment_json(
            dep_id=self.ids.new("dep", created_ns),
            name=fields["name"],
            description=fields["description"],
            agent=fields["agent"],
            environment_id=fields["environment_id"],
            initial_events=fields["initial_events"],
            resources=fields["resources"],
            vault_ids=fields["vault_ids"],
            metadata=metadata,
            schedule=None
            if schedule is None
            else schedule_json(schedule[0], schedule[1], max(now, created_ns)),
            created_at=created_at,
            extra=fields["extra"],
        )
        self.insert_deployment(dep)
        self.refresh_stats(dep["id"])
        return dep

    def update_deployment(self, dep_id: str, fields: JSON) -> JSON:
        """Apply a validated merge-patch (spec 3.4); 403 if the deployment is archived."""
        dep = self.deployment(dep_id)
        self._refuse_archived(dep, "updated")
        now = self.clock.now_ns()
        # Metadata first: it is the only field that can still be refused (too many keys).
        for name in sorted(fields, key=lambda name: name != "metadata"):
            value = fields[name]
            if name == "metadata":
                self._patch_metadata(dep, value)
            elif name == "schedule":
                old = dep["schedule"]
                dep["schedule"] = None if value is None else schedule_json(value[0], value[1], now)
                if old is not None and value is not None and "last_run_at" in old:
                    dep["schedule"]["last_run_at"] = old["last_run_at"]
                    dep["schedule"] = dict(sorted(dep["schedule"].items()))
            else:
                dep[name] = value
        dep["updated_at"] = format_ts(now, 0)
        self.refresh_stats(dep_id)
        return dep

    @staticmethod
    def _patch_metadata(dep: JSON, patch: dict[str, Any]) -> None:
        metadata = dict(dep["metadata"])
        for key, value in patch.items():
            if key == "cas_config":
                continue
            if value is None:
                metadata.pop(key, None)
            else:
                metadata[key] = value
        if len(metadata) - 1 > MAX_METADATA_KEYS:
            raise ApiError(
                400, f"metadata must have at most {MAX_METADATA_KEYS} keys.", param="metadata"
            )
        if "cas_config" in patch:
            # The reserved key merges into the server-managed config; stats stay.
            cas = metadata["cas_config"]
            cas["config"] = {**cas["config"], **patch["cas_config"]["config"]}
            cas["session_strategy"] = patch["cas_config"].get(
                "session_strategy", cas["session_strategy"]
            )
        dep["metadata"] = dict(sorted(metadata.items()))

    def pause(self, dep_id: str, at_ns: int | None = None, reason: JSON | None = None) -> JSON:
        """Pause (spec 3.5); 409 if already paused, else 403 if archived."""
        dep = self.deployment(dep_id)
        if dep["status"] == "paused":
            raise ApiError(409, "Deployment is already paused.")
        self._refuse_archived(dep, "paused")
        at = self.clock.now_ns() if at_ns is None else at_ns
        dep["status"] = "paused"
        dep["paused_reason"] = reason or {"type": "manual"}
        dep["updated_at"] = format_ts(at, 0)
        self.changed(dep_id)
        return dep

    def unpause(self, dep_id: str) -> JSON:
        """Unpause (spec 3.6); 409 if not paused, else 403 if archived.

        Upcoming runs are recomputed from now.
        """
        dep = self.deployment(dep_id)
        if dep["status"] != "paused":
            raise ApiError(409, "Deployment is not paused.")
        self._refuse_archived(dep, "unpaused")
        now = self.clock.now_ns()
        dep["status"] = "active"
        dep["paused_reason"] = None
        dep["updated_at"] = format_ts(now, 0)
        schedule = dep["schedule"]
        if schedule is not None and dep["archived_at"] is None:
            fresh = schedule_json(schedule["expression"], schedule["timezone"], now)
            schedule["upcoming_runs_at"] = fresh["upcoming_runs_at"]
        self.refresh_stats(dep_id)
        return dep

    @staticmethod
    def _refuse_archived(dep: JSON, done: str) -> None:
        # The docs are silent on updating, pausing or unpausing an archived deployment
        # (spec 3.4-3.6 list no such error). Our reading: spec 2.1's 403 permission_error
        # for "a locked archived resource". The documented 409s (already paused, not
        # paused) are checked first and win where both apply.
        if dep["archived_at"] is not None:
            raise ApiError(403, f"Deployment is archived and cannot be {done}.")

    def archive(self, dep_id: str, at_ns: int | None = None) -> JSON:
        """Archive (spec 3.7); 409 if already archived. Renames and clears upcoming runs."""
        dep = self.deployment(dep_id)
        if dep["archived_at"] is not None:
            raise ApiError(409, "Deployment is already archived.")
        at = truncate_ns(self.clock.now_ns() if at_ns is None else at_ns, 0)
        dep["archived_at"] = dep["updated_at"] = format_ts(at, 0)
        dep["name"] = f"{dep['name']}_archived_{at // 1_000_000_000}"
        if dep["schedule"] is not None:
            dep["schedule"]["upcoming_runs_at"] = []
        self.changed(dep_id)
        return dep

    def refresh_stats(self, dep_id: str) -> None:
        """Recompute `metadata.cas_config.stats` and `schedule.last_run_at` from the runs."""
        dep = self.deployments[dep_id]
        config = dep["metadata"]["cas_config"]
        stats = config["stats"]
        runs = [self.runs[key[1]] for key in reversed(self.runs_by_dep[dep_id])]
        consecutive = 0
        for run in runs:
            if run["status"] == "failed":
                consecutive += 1
            elif run["status"] == "completed":
                break
        fresh: JSON = {"consecutive_failures": consecutive}
        schedule = dep["schedule"]
        if runs:
            fresh["last_triggered_at"] = runs[0]["triggered_at"]
            if schedule is not None:
                schedule["last_run_at"] = runs[0]["triggered_at"]
                dep["schedule"] = dict(sorted(schedule.items()))
        if schedule is None:
            fresh["next_trigger_at"] = None
        elif schedule["upcoming_runs_at"]:
            fresh["next_trigger_at"] = schedule["upcoming_runs_at"][0]
        else:
            # Spec 3.7 example: archiving keeps the last next_trigger_at.
            fresh["next_trigger_at"] = stats.get("next_trigger_at")
        fresh["total_failures"] = sum(run["status"] == "failed" for run in runs)
        fresh["total_runs"] = len(runs)
        config["stats"] = fresh
        self.changed(dep_id)

    # -- runs ----------------------------------------------------------------------------

    def trigger_run(self, dep_id: str) -> JSON:
        """Run now (spec 3.8): a running run, or a skipped one past max_concurrent."""
        dep = self.deployment(dep_id)
        # Spec 3.8 documents 409 conflict_error for both: archived, or not active.
        if dep["archived_at"] is not None:
            raise ApiError(409, "Deployment is archived and cannot be run.")
        if dep["status"] != "active":
            raise ApiError(409, "Deployment is not active and cannot be run.")
        limit = dep["metadata"]["cas_config"]["config"]["max_concurrent"]
        running = sum(self.runs[key[1]]["status"] == "running" for key in self.runs_by_dep[dep_id])
        # Spec 3.8: POST /run answers with nanosecond timestamps.
        at = self.distinct(self.run_instants, self.clock.now_ns(), 9)
        run = make_run(
            self.ids,
            dep,
            at=at,
            trigger={"type": "manual"},
            status="skipped" if running >= limit else "running",
            start_delay_ns=self.clock.now_ns() - at[0],
            digits=9,
        )
        if run["status"] == "running":
            self.polls[run["id"]] = 0
        self.insert_run(run, at[0])
        self.refresh_stats(dep_id)
        return run

    def observe_run(self, run_id: str, polls_to_complete: int | None) -> None:
        """Count one GET of a run started by POST /run; complete it at the threshold."""
        seen = self.polls.get(run_id)
        if seen is None:
            return
        self.polls[run_id] = seen = seen + 1
        if polls_to_complete is not None and seen >= polls_to_complete:
            self.finish_run(run_id, "completed", None)

    def finish_run(self, run_id: str, status: str, error: JSON | None) -> JSON:
        """Move a pending or running run to a terminal status; ValueError otherwise."""
        run = self.runs[run_id]
        if run["status"] in TERMINAL:
            raise ValueError(f"run {run_id} is already {run['status']}")
        if status not in TERMINAL:
            raise ValueError(f"status must be one of {sorted(TERMINAL)}, got {status!r}")
        self.polls.pop(run_id, None)
        now = self.clock.now_ns()
        run["status"] = status
        run["completed_at"] = format_ts(now, 6)
        if status == "completed":
            started = run["cas_run_extras"].get("started_at") or run["triggered_at"]
            run["duration_ms"] = max(0, truncate_ns(now, 6) - parse_ts(started)) // NS_PER_MS
            run["error"] = None
        else:
            # Spec 4.2 (Go SDK): exactly one of session_id and error is non-null.
            run["session_id"] = None
            if status == "failed" and error is None:
                error = {
                    "message": "The run failed for an unknown reason.",
                    "type": "unknown_error",
                }
            run["error"] = error if status == "failed" else None
        self.runs[run_id] = dict(sorted(run.items()))
        self.changed(run_id)
        self.refresh_stats(run["deployment_id"])
        return self.runs[run_id]
