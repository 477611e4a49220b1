"""`client.deployments`: the eight deployment routes and the two nested run routes (spec 3)."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from qoder_async._fanout import FanOut
from qoder_async._models import (
    AgentRef,
    CasConfig,
    Deployment,
    DeploymentRun,
    DeploymentStatus,
    InitialEvent,
    RunStatus,
    Schedule,
)
from qoder_async._params import (
    agent_json,
    cas_config_json,
    check_bool,
    check_datetime,
    check_enum,
    check_id,
    check_limit,
    check_name,
    check_str,
    events_json,
    metadata_json,
    optional,
    query,
    schedule_json,
    vault_ids_json,
)
from qoder_async._resource import Resource, check_server_id
from qoder_async._resume import parse_state
from qoder_async._runs import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
    check_wait_args,
    wait_for_run,
)
from qoder_async._sentinel import NOT_GIVEN, NotGivenOr

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from qoder_async._fanout import DeploymentSource, ErrorPolicy, Order
    from qoder_async._pagination import Pager

__all__ = ["Deployments"]


class Deployments(Resource):
    """The deployments API, `client.deployments`.

    Every method validates its arguments before any I/O (ValueError/TypeError) and raises
    the exceptions of `qoder_async` for API and connection failures. POST methods send an
    Idempotency-Key (generated unless `idempotency_key` is given) that makes their retries
    safe; a key reused with a different body raises ConflictError.
    """

    __slots__ = ()

    def list(
        self,
        *,
        status: DeploymentStatus | str | None = None,
        include_archived: bool | None = None,
        agent_id: str | None = None,
        created_at_gte: datetime | None = None,
        created_at_lte: datetime | None = None,
        limit: int | None = None,
        after_id: str | None = None,
        before_id: str | None = None,
        page: str | None = None,
        max_items: int | None = None,
        prefetch: int = 1,
    ) -> Pager[Deployment]:
        """List deployments, newest first; archived ones only with `include_archived=True`.

        `limit` is the page size (1-100, server default 20); `max_items` caps the total.
        Pass at most one cursor: `after_id`, `before_id` (pages toward newer deployments)
        or the opaque `page`. `created_at_gte`/`created_at_lte` must be timezone-aware.
        `status` cannot be combined with `include_archived=True` (ValueError, spec 7.5).
        """
        _check_list_args(status, include_archived, limit)
        if status is not None and include_archived is False:
            # False is the server's default: leaving it out keeps the wire free of the
            # combination the Go SDK forbids, and means the same.
            include_archived = None
        filters = query(
            [
                ("status", optional(check_enum, status, DeploymentStatus, "status")),
                ("include_archived", optional(check_bool, include_archived, "include_archived")),
                ("agent_id", optional(check_id, agent_id, "agent_", "agent_id")),
                ("created_at[gte]", optional(check_datetime, created_at_gte, "created_at_gte")),
                ("created_at[lte]", optional(check_datetime, created_at_lte, "created_at_lte")),
            ]
        )
        return self._pager(
            "/deployments",
            Deployment,
            filters,
            limit=limit,
            after_id=after_id,
            before_id=before_id,
            page=page,
            max_items=max_items,
            prefetch=prefetch,
        )

    async def get(self, deployment_id: str) -> Deployment:
        """Fetch one deployment; raises NotFoundError if it does not exist."""
        deployment_id = check_id(deployment_id, "dep_", "deployment_id")
        return await self._call("GET", f"/deployments/{deployment_id}", Deployment)

    async def create(
        self,
        *,
        name: str,
        agent: str | AgentRef,
        environment_id: str,
        initial_events: Sequence[InitialEvent],
        description: str | None = None,
        schedule: Schedule | None = None,
        resources: Sequence[Mapping[str, object]] | None = None,
        vault_ids: Sequence[str] | None = None,
        metadata: Mapping[str, str] | None = None,
        cas_config: CasConfig | None = None,
        environment_variables: str | None = None,
        budget: Mapping[str, object] | None = None,
        idempotency_key: str | None = None,
    ) -> Deployment:
        """Create a deployment; it starts `active` and fires on its schedule at once.

        `agent` is an `agent_` id (latest version) or an AgentRef pinning a version.
        Without `schedule` the deployment runs only when triggered. 1-50 initial events,
        at most 50 vault ids, metadata of at most 16 keys (keys <= 64, values <= 512 chars).
        `environment_variables` and `budget` are passed through as the official SDK does.
        Optional arguments left as None are not sent.
        """
        body: dict[str, object] = {
            "name": check_name(name),
            "agent": agent_json(agent),
            "environment_id": check_id(environment_id, "env_", "environment_id"),
            "initial_events": events_json(initial_events),
        }
        for field, value in (
            ("description", description),
            ("schedule", schedule),
            ("resources", resources),
            ("vault_ids", vault_ids),
            ("environment_variables", environment_variables),
            ("budget", budget),
        ):
            if value is not None:
                body[field] = _FIELD_JSON[field](value)
        user_metadata = _metadata_json(metadata, cas_config, allow_delete=False)
        if user_metadata is not None:
            body["metadata"] = user_metadata
        return await self._call(
            "POST", "/deployments", Deployment, json_body=body, idempotency_key=idempotency_key
        )

    async def update(
        self,
        deployment_id: str,
        *,
        name: NotGivenOr[str] = NOT_GIVEN,
        description: NotGivenOr[str | None] = NOT_GIVEN,
        agent: NotGivenOr[str | AgentRef] = NOT_GIVEN,
        environment_id: NotGivenOr[str] = NOT_GIVEN,
        schedule: NotGivenOr[Schedule | None] = NOT_GIVEN,
        initial_events: NotGivenOr[Sequence[InitialEvent]] = NOT_GIVEN,
        resources: NotGivenOr[Sequence[Mapping[str, object]] | None] = NOT_GIVEN,
        vault_ids: NotGivenOr[Sequence[str] | None] = NOT_GIVEN,
        metadata: NotGivenOr[Mapping[str, str | None]] = NOT_GIVEN,
        cas_config: NotGivenOr[CasConfig] = NOT_GIVEN,
        environment_variables: NotGivenOr[str | None] = NOT_GIVEN,
        budget: NotGivenOr[Mapping[str, object] | None] = NOT_GIVEN,
        idempotency_key: str | None = None,
    ) -> Deployment:
        """Change some fields of a deployment (a merge-patch sent as POST, spec 3.4).

        An argument left out is not sent, so the field keeps its value. `None` clears a
        field, sent as JSON null (spec 7.3), where the API allows it: `description`,
        `schedule` (the deployment becomes manual-only), `resources`, `vault_ids`,
        `environment_variables` and `budget`; None for any other argument raises
        ValueError. Lists replace the whole list. In `metadata`, a key mapped to None is
        deleted. Raises ValueError if no field is given.
        """
        deployment_id = check_id(deployment_id, "dep_", "deployment_id")
        body: dict[str, object] = {}
        for field, value in (
            ("name", name),
            ("description", description),
            ("agent", agent),
            ("environment_id", environment_id),
            ("schedule", schedule),
            ("initial_events", initial_events),
            ("resources", resources),
            ("vault_ids", vault_ids),
            ("environment_variables", environment_variables),
            ("budget", budget),
        ):
            if value is NOT_GIVEN:
                continue
            if value is None:
                if field not in CLEARABLE_FIELDS:
                    msg = (
                        f"{field}=None: {field} cannot be cleared; leave the argument out "
                        "to keep its value"
                    )
                    raise ValueError(msg)
                body[field] = None
            else:
                body[field] = _FIELD_JSON[field](value)
        if metadata is None:
            msg = "metadata=None: map a key to None to delete that key, or leave it out"
            raise ValueError(msg)
        if cas_config is None:
            msg = "cas_config=None: cas_config cannot be cleared; leave the argument out"
            raise ValueError(msg)
        user_metadata = _metadata_json(
            None if metadata is NOT_GIVEN else metadata,
            None if cas_config is NOT_GIVEN else cas_config,
            allow_delete=True,
        )
        if user_metadata is not None:
            body["metadata"] = user_metadata
        if not body:
            msg = "update needs at least one field to change"
            raise ValueError(msg)
        return await self._call(
            "POST",
            f"/deployments/{deployment_id}",
            Deployment,
            json_body=body,
            idempotency_key=idempotency_key,
        )

    async def pause(self, deployment_id: str, *, idempotency_key: str | None = None) -> Deployment:
        """Pause a deployment so its schedule stops firing; ConflictError if already paused."""
        return await self._transition(deployment_id, "pause", idempotency_key)

    async def unpause(
        self, deployment_id: str, *, idempotency_key: str | None = None
    ) -> Deployment:
        """Resume a paused deployment; ConflictError if it is not paused."""
        return await self._transition(deployment_id, "unpause", idempotency_key)

    async def archive(
        self, deployment_id: str, *, idempotency_key: str | None = None
    ) -> Deployment:
        """Archive a deployment for good (there is no unarchive); ConflictError if archived.

        The name gets `_archived_<unix time>` appended; `status` does not change.
        """
        return await self._transition(deployment_id, "archive", idempotency_key)

    async def run(
        self,
        deployment_id: str,
        *,
        wait: bool = False,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        idempotency_key: str | None = None,
    ) -> DeploymentRun:
        """Trigger a run now; ConflictError if the deployment is paused or archived.

        When the deployment is already at its `max_concurrent` limit the call still
        succeeds and the run comes back with status "skipped" (spec 3.8). With `wait=True`
        it then polls until the run is terminal, as `client.deployment_runs.wait` does
        (`timeout` and `poll_interval` apply only then; RunTimeoutError on timeout). A run
        returned in the minimal shape of spec 7.1 is final at once and is not polled.
        """
        deployment_id = check_id(deployment_id, "dep_", "deployment_id")
        if not isinstance(wait, bool):
            msg = f"wait must be a bool, got {type(wait).__name__}"
            raise TypeError(msg)
        if wait:
            check_wait_args(timeout, poll_interval)
        run = await self._call(
            "POST",
            f"/deployments/{deployment_id}/run",
            DeploymentRun,
            json_body={},
            idempotency_key=idempotency_key,
        )
        if not wait:
            return run
        # The id goes into the polling path: one the server made up must not reroute it.
        run_id = check_server_id(run.id, "drun_", "run id")
        return await wait_for_run(
            self._transport, run_id, run, timeout=timeout, poll_interval=poll_interval
        )

    def list_runs(
        self,
        deployment_id: str,
        *,
        status: RunStatus | str | None = None,
        triggered_after: datetime | None = None,
        triggered_before: datetime | None = None,
        limit: int | None = None,
        after_id: str | None = None,
        before_id: str | None = None,
        page: str | None = None,
        max_items: int | None = None,
        prefetch: int = 1,
    ) -> Pager[DeploymentRun]:
        """List the runs of one deployment, newest triggered first.

        Raises NotFoundError (when iterated) if the deployment does not exist. Paging
        arguments as for `list`; time filters must be timezone-aware.
        """
        deployment_id = check_id(deployment_id, "dep_", "deployment_id")
        return self._pager(
            f"/deployments/{deployment_id}/runs",
            DeploymentRun,
            run_filters(
                status=status, triggered_after=triggered_after, triggered_before=triggered_before
            ),
            limit=limit,
            after_id=after_id,
            before_id=before_id,
            page=page,
            max_items=max_items,
            prefetch=prefetch,
        )

    def list_runs_across(
        self,
        deployments: DeploymentSource,
        *,
        concurrency: int | None = None,
        order: Order = "arrival",
        on_error: ErrorPolicy = "raise_at_end",
        status: RunStatus | str | None = None,
        triggered_after: datetime | None = None,
        triggered_before: datetime | None = None,
        limit: int | None = None,
        prefetch: int = 1,
        resume: Mapping[str, object] | None = None,
    ) -> FanOut:
        """List the runs of many deployments at once, as one async iterator of runs.

        `deployments` holds ids or Deployment objects: a list, any iterable, or an async
        iterable such as `client.deployments.list(status="active")`, consumed lazily so
        that listing deployments and listing their runs overlap. Each deployment is listed
        once, however often the source names it. A Deployment whose id is not a safe
        `dep_` id (server data) raises ResponseValidationError before anything is sent
        for it.

        `concurrency` (default min(16, the client's max_connections)) bounds how many
        requests run at once, the source's own counted: requests an async source makes
        through this client (a Pager's prefetch included) take the same slots. Not
        counted: requests it makes by other means (another client, raw httpx), the one
        request a pager may already have in flight when it is passed in (until it ends),
        and requests made by `on_error`. It may not exceed
        `QoderClient(max_connections=...)`, so the pool cannot time out.
        `order="arrival"` yields runs as pages arrive; `"newest_first"` merges every
        deployment's runs by `triggered_at`, newest first (it holds one page per
        deployment and must open them all before the first run).

        A deployment whose listing fails (after the client's retries, any error) never
        stops the others: every run that can be delivered is. Its error lands in
        `.failed` (deployment id -> exception), and `on_error` decides the rest:
        `"raise_at_end"` (default) raises FanOutError after the last deliverable run;
        `"skip"` ends quietly (check `.failed`); `"raise"` stops at the first error,
        cancels the rest and raises it as itself; a callable `on_error(id, error)` (awaited
        if it returns an awaitable) is told about each one and the fan-out goes on, unless
        it raises, which stops everything with its exception. A deployment not found
        (404: archived or deleted meanwhile) has nothing left to deliver: it is recorded in
        `.skipped`, not `.failed`, and raises only with `"raise"`. If reading an async
        source fails, the deployments read so far are still listed, `.source_error` is
        set, and FanOutError follows (except with `"raise"`, which raises it at once).

        `fan.resume_state()` (also on FanOutError) is a JSON-serialisable note of what is
        left. Passing it as `resume=` with the same filters and the same deployments
        source (a fresh pager is fine, in another process too) hands out exactly the runs
        not handed out yet, each once: failed and unfinished deployments continue where
        they stopped, the others come from the source. `limit`, `order` and `concurrency`
        may differ; with `order="newest_first"` the resumed runs are newest first among
        themselves. A malformed state, or one made with other filters, raises ValueError
        before any request.

        A 429 or 503 pauses every request of the client, not just the one that saw it.
        Needs a task group: use it inside `async with QoderClient()` or as
        `async with ...list_runs_across(...)`.
        """
        max_connections = self._transport.max_connections
        if concurrency is None:
            concurrency = min(16, max_connections)
        if isinstance(concurrency, bool) or not isinstance(concurrency, int):
            msg = f"concurrency must be an int, got {type(concurrency).__name__}"
            raise TypeError(msg)
        if concurrency < 1:
            msg = f"concurrency must be >= 1, got {concurrency}"
            raise ValueError(msg)
        if concurrency > max_connections:
            msg = (
                f"concurrency={concurrency} exceeds the connection pool "
                f"(QoderClient(max_connections={max_connections})); raise max_connections "
                "or lower concurrency"
            )
            raise ValueError(msg)
        if order not in ("arrival", "newest_first"):
            msg = f"order must be 'arrival' or 'newest_first', got {order!r}"
            raise ValueError(msg)
        if not (callable(on_error) or on_error in ("raise_at_end", "skip", "raise")):
            msg = (
                f"on_error must be 'raise_at_end', 'skip', 'raise' or a callable, got {on_error!r}"
            )
            raise ValueError(msg)
        if isinstance(prefetch, bool) or not isinstance(prefetch, int):
            msg = f"prefetch must be an int, got {type(prefetch).__name__}"
            raise TypeError(msg)
        if prefetch < 1:
            msg = f"prefetch must be >= 1 for a fan-out, got {prefetch}"
            raise ValueError(msg)
        if isinstance(deployments, (str, bytes)) or not isinstance(
            deployments, (Iterable, AsyncIterable)
        ):
            msg = "deployments must be an iterable or async iterable of ids or Deployments"
            raise TypeError(msg)
        if isinstance(deployments, (list, tuple)):
            for item in deployments:
                if isinstance(item, Deployment):
                    check_server_id(item.id, "dep_", "deployment id")
                else:
                    check_id(item, "dep_", "deployments item")
        filters = run_filters(
            status=status, triggered_after=triggered_after, triggered_before=triggered_before
        )
        return FanOut(
            self._transport,
            deployments,
            filters,
            limit=check_limit(limit),
            concurrency=concurrency,
            order=order,
            on_error=on_error,
            prefetch=prefetch,
            task_group=self._task_group,
            resume=None if resume is None else parse_state(resume, filters),
        )

    async def get_run(self, deployment_id: str, run_id: str) -> DeploymentRun:
        """Fetch one run of a deployment; NotFoundError if either does not exist."""
        deployment_id = check_id(deployment_id, "dep_", "deployment_id")
        run_id = check_id(run_id, "drun_", "run_id")
        return await self._call("GET", f"/deployments/{deployment_id}/runs/{run_id}", DeploymentRun)

    async def _transition(
        self, deployment_id: str, action: str, idempotency_key: str | None
    ) -> Deployment:
        deployment_id = check_id(deployment_id, "dep_", "deployment_id")
        return await self._call(
            "POST",
            f"/deployments/{deployment_id}/{action}",
            Deployment,
            # Both official SDKs send `{}` as JSON; the docs mark Content-Type required (7.5).
            json_body={},
            idempotency_key=idempotency_key,
        )


def run_filters(
    *,
    status: RunStatus | str | None,
    triggered_after: datetime | None,
    triggered_before: datetime | None,
) -> dict[str, str]:
    """The filters of `GET /deployments/{id}/runs` (spec 3.9), validated."""
    return query(
        [
            ("status", optional(check_enum, status, RunStatus, "status")),
            ("triggered_after", optional(check_datetime, triggered_after, "triggered_after")),
            ("triggered_before", optional(check_datetime, triggered_before, "triggered_before")),
        ]
    )


# Spec 7.3: the fields an update may clear with JSON null. The Go SDK documents null for
# description, resources and vault_ids; qca-sdk sends null for any argument passed as
# None, which is how a schedule is removed (inferred: the docs do not say, spec 3.4).
CLEARABLE_FIELDS = frozenset(
    {"description", "schedule", "resources", "vault_ids", "environment_variables", "budget"}
)


def _description_json(value: object) -> str:
    if not isinstance(value, str):
        msg = f"description must be a str, got {type(value).__name__}"
        raise TypeError(msg)
    return value


def _resources_json(value: object) -> list[dict[str, object]]:
    # Resource shapes (github_repository, file, memory_store) are not documented beyond
    # their type names (spec 4.1), so they pass through as given.
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        msg = f"resources must be a list of mappings, got {type(value).__name__}"
        raise TypeError(msg)
    for i, item in enumerate(value):
        if not isinstance(item, Mapping) or not isinstance(item.get("type"), str):
            msg = f"resources[{i}] must be a mapping with a str 'type'"
            raise TypeError(msg)
    return [dict(item) for item in value]


def _budget_json(value: object) -> dict[str, object]:
    # Spec 7.5: qca-sdk 0.11.0 names the amount max_credit_cost, older sources
    # max_list_cost; the mapping is passed through as given.
    if not isinstance(value, Mapping):
        msg = f"budget must be a mapping, got {type(value).__name__}"
        raise TypeError(msg)
    return dict(value)


# How each optional create/update field is checked and turned into JSON.
_FIELD_JSON: dict[str, Callable[[Any], object]] = {
    "name": check_name,
    "description": _description_json,
    "agent": agent_json,
    "environment_id": lambda value: check_id(value, "env_", "environment_id"),
    "schedule": schedule_json,
    "initial_events": events_json,
    "resources": _resources_json,
    "vault_ids": vault_ids_json,
    "environment_variables": lambda value: check_str(value, "environment_variables"),
    "budget": _budget_json,
}


def _metadata_json(
    metadata: Mapping[str, str | None] | Mapping[str, str] | None,
    cas_config: CasConfig | None,
    *,
    allow_delete: bool,
) -> dict[str, object] | None:
    """The `metadata` object: the caller's keys plus `cas_config`, or None if neither."""
    if metadata is None and cas_config is None:
        return None
    body: dict[str, object] = {}
    if metadata is not None:
        body.update(metadata_json(metadata, allow_delete=allow_delete))
    if cas_config is not None:
        body["cas_config"] = cas_config_json(cas_config)
    return body


# Spec 7.5: the docs page says 1000, the Go SDK's DeploymentListParams "maximum 100".
# Unresolved, so we take the reading that cannot draw a 400: 100. Page sizes the SDK picks
# by itself (DEFAULT_PAGE_SIZE under max_items) stay below it. Run lists keep 1000.
MAX_DEPLOYMENTS_LIMIT = 100


def _check_list_args(status: object, include_archived: object, limit: object) -> None:
    """Refuse the `GET /deployments` arguments the Go SDK documents as invalid (spec 7.5)."""
    check_limit(limit)
    if isinstance(limit, int) and limit > MAX_DEPLOYMENTS_LIMIT:
        msg = (
            f"limit must be between 1 and {MAX_DEPLOYMENTS_LIMIT} for deployments.list, got "
            f"{limit} (spec 7.5: the Go SDK documents 100 as the maximum; the docs say 1000)"
        )
        raise ValueError(msg)
    if status is not None and include_archived is True:
        # Spec 7.5: the Go SDK says status and include_archived cannot be combined. Read as
        # "never both on the wire": the one reading that cannot draw a 400 (see list).
        msg = (
            "status cannot be combined with include_archived=True (spec 7.5); list with "
            "include_archived=True and filter on Deployment.status instead"
        )
        raise ValueError(msg)
