"""`client.deployments`: the eight deployment routes and the two nested run routes (spec 3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qoder_async._deployment_args import (
    CLEARABLE_FIELDS,
    FIELD_JSON,
    check_fan_out_args,
    check_list_args,
    metadata_body,
    run_filters,
)
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
from qoder_async._options import request_options
from qoder_async._params import (
    agent_json,
    check_bool,
    check_datetime,
    check_enum,
    check_id,
    check_limit,
    check_name,
    events_json,
    optional,
    query,
)
from qoder_async._resource import Resource, check_server_id
from qoder_async._resume import parse_state
from qoder_async._runs import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
    check_wait_args,
    wait_for_run,
)
from qoder_async._sentinel import NOT_GIVEN, NotGiven, NotGivenOr

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    import httpx

    from qoder_async._fanout import DeploymentSource, ErrorPolicy, Order
    from qoder_async._literals import DeploymentStatusName, RunStatusName
    from qoder_async._options import RequestOptions
    from qoder_async._pagination import Pager

__all__ = ["Deployments"]


class Deployments(Resource):
    """The deployments API, `client.deployments`.

    Every method validates its arguments before any I/O (ValueError/TypeError) and raises
    the exceptions of `qoder_async` for API and connection failures. POST methods send an
    Idempotency-Key (generated unless `idempotency_key` is given) that makes their retries
    safe; a key reused with a different body raises ConflictError.

    Per-request options, on every method: `extra_headers`, `extra_query`, `timeout` (per
    attempt, as the client's; `request_timeout` on `run`, whose `timeout` bounds the wait)
    and `deadline` (the whole of each request) override the client's for every request of
    that call only (every page of a listing); None keeps the client's. POST methods also
    take `extra_body`, whose top-level keys override the body's. Checked before any I/O
    (ValueError/TypeError): `Authorization`, `X-Api-Key`, `Idempotency-Key`,
    `X-Request-Id`, `X-Qoder-Retry-Count` and framing headers cannot be set this way, and
    a listing's `extra_query` cannot set its `limit` or cursors.
    """

    __slots__ = ()

    def list(
        self,
        *,
        status: DeploymentStatus | DeploymentStatusName | None = None,
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
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> Pager[Deployment]:
        """List deployments, newest first; archived ones only with `include_archived=True`.

        `limit` is the page size (1-100, server default 20); `max_items` caps the total.
        Pass at most one cursor: `after_id`, `before_id` (pages toward newer deployments)
        or the opaque `page`. `created_at_gte`/`created_at_lte` must be timezone-aware.
        `status` cannot be combined with `include_archived=True` (ValueError, spec 7.5).
        """
        check_list_args(status, include_archived, limit)
        options = request_options(
            extra_headers=extra_headers,
            extra_query=extra_query,
            timeout=timeout,
            deadline=deadline,
            listing=True,
        )
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
            options=options,
        )

    async def get(
        self,
        deployment_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> Deployment:
        """Fetch one deployment; raises NotFoundError if it does not exist."""
        deployment_id = check_id(deployment_id, "dep_", "deployment_id")
        options = request_options(
            extra_headers=extra_headers, extra_query=extra_query, timeout=timeout, deadline=deadline
        )
        return await self._call("GET", f"/deployments/{deployment_id}", Deployment, options=options)

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
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
        extra_body: Mapping[str, object] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
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
                body[field] = FIELD_JSON[field](value)
        user_metadata = metadata_body(metadata, cas_config, allow_delete=False)
        if user_metadata is not None:
            body["metadata"] = user_metadata
        options = request_options(
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
            timeout=timeout,
            deadline=deadline,
        )
        return await self._call(
            "POST",
            "/deployments",
            Deployment,
            json_body=body,
            idempotency_key=idempotency_key,
            options=options,
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
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
        extra_body: Mapping[str, object] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> Deployment:
        """Change some fields of a deployment (a merge-patch sent as POST, spec 3.4).

        An argument left out is not sent, so the field keeps its value. `None` clears a
        field, sent as JSON null (spec 7.3), where the API allows it: `description`,
        `schedule` (the deployment becomes manual-only), `resources`, `vault_ids`,
        `environment_variables` and `budget`; None for any other argument raises
        ValueError. Lists replace the whole list. In `metadata`, a key mapped to None is
        deleted. Raises ValueError if no field (and no `extra_body`) is given.
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
                body[field] = FIELD_JSON[field](value)
        if metadata is None:
            msg = "metadata=None: map a key to None to delete that key, or leave it out"
            raise ValueError(msg)
        if cas_config is None:
            msg = "cas_config=None: cas_config cannot be cleared; leave the argument out"
            raise ValueError(msg)
        user_metadata = metadata_body(
            None if metadata is NOT_GIVEN else metadata,
            None if cas_config is NOT_GIVEN else cas_config,
            allow_delete=True,
        )
        if user_metadata is not None:
            body["metadata"] = user_metadata
        options = request_options(
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
            timeout=timeout,
            deadline=deadline,
        )
        if not body and not (options is not None and options.body):
            msg = "update needs at least one field to change"
            raise ValueError(msg)
        return await self._call(
            "POST",
            f"/deployments/{deployment_id}",
            Deployment,
            json_body=body,
            idempotency_key=idempotency_key,
            options=options,
        )

    async def pause(
        self,
        deployment_id: str,
        *,
        idempotency_key: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
        extra_body: Mapping[str, object] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> Deployment:
        """Pause a deployment so its schedule stops firing; ConflictError if already paused."""
        return await self._transition(
            deployment_id,
            "pause",
            idempotency_key,
            request_options(
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
                deadline=deadline,
            ),
        )

    async def unpause(
        self,
        deployment_id: str,
        *,
        idempotency_key: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
        extra_body: Mapping[str, object] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> Deployment:
        """Resume a paused deployment; ConflictError if it is not paused."""
        return await self._transition(
            deployment_id,
            "unpause",
            idempotency_key,
            request_options(
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
                deadline=deadline,
            ),
        )

    async def archive(
        self,
        deployment_id: str,
        *,
        idempotency_key: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
        extra_body: Mapping[str, object] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> Deployment:
        """Archive a deployment for good (there is no unarchive); ConflictError if archived.

        The name gets `_archived_<unix time>` appended; `status` does not change.
        """
        return await self._transition(
            deployment_id,
            "archive",
            idempotency_key,
            request_options(
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
                deadline=deadline,
            ),
        )

    async def run(
        self,
        deployment_id: str,
        *,
        wait: bool = False,
        timeout: float | NotGiven | None = NOT_GIVEN,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        idempotency_key: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
        extra_body: Mapping[str, object] | None = None,
        request_timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> DeploymentRun:
        """Trigger a run now; ConflictError if the deployment is paused or archived.

        When the deployment is already at its `max_concurrent` limit the call still
        succeeds and the run comes back with status "skipped" (spec 3.8). With `wait=True`
        it then polls until the run is terminal, as `client.deployment_runs.wait` does:
        `timeout` (default 600 s, None waits forever) bounds that wait, RunTimeoutError
        past it, and is a ValueError without `wait=True`; the per-attempt timeout of each
        request is `request_timeout`. A run returned in the minimal shape of spec 7.1 is
        final at once and is not polled. The per-request options apply to the POST and
        to every poll (`extra_body` to the POST only).
        """
        deployment_id = check_id(deployment_id, "dep_", "deployment_id")
        if not isinstance(wait, bool):
            msg = f"wait must be a bool, got {type(wait).__name__}"
            raise TypeError(msg)
        wait_timeout = DEFAULT_WAIT_TIMEOUT if timeout is NOT_GIVEN else timeout
        if wait:
            check_wait_args(wait_timeout, poll_interval)
            if self._raw:
                msg = (
                    "with_raw_response.deployments.run(wait=True): a raw response is that of "
                    "one request; trigger without wait, then call "
                    "with_raw_response.deployment_runs.wait(run_id)"
                )
                raise ValueError(msg)
        elif timeout is not NOT_GIVEN:
            # Otherwise run(id, timeout=5) would be read as a request timeout and ignored.
            msg = (
                "timeout= bounds the wait for the run and needs wait=True; the per-attempt "
                "timeout of the request is request_timeout="
            )
            raise ValueError(msg)
        options = request_options(
            extra_headers=extra_headers,
            extra_query=extra_query,
            extra_body=extra_body,
            timeout=request_timeout,
            deadline=deadline,
        )
        run = await self._call(
            "POST",
            f"/deployments/{deployment_id}/run",
            DeploymentRun,
            json_body={},
            idempotency_key=idempotency_key,
            options=options,
        )
        if not wait:
            return run
        # The id goes into the polling path: one the server made up must not reroute it.
        run_id = check_server_id(run.id, "drun_", "run id")
        return await wait_for_run(
            lambda: self._call("GET", f"/deployment_runs/{run_id}", DeploymentRun, options=options),
            run_id,
            run,
            timeout=wait_timeout,
            poll_interval=poll_interval,
        )

    def list_runs(
        self,
        deployment_id: str,
        *,
        status: RunStatus | RunStatusName | None = None,
        triggered_after: datetime | None = None,
        triggered_before: datetime | None = None,
        limit: int | None = None,
        after_id: str | None = None,
        before_id: str | None = None,
        page: str | None = None,
        max_items: int | None = None,
        prefetch: int = 1,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> Pager[DeploymentRun]:
        """List the runs of one deployment, newest triggered first.

        Raises NotFoundError (when iterated) if the deployment does not exist. Paging
        arguments as for `list`; time filters must be timezone-aware.
        """
        deployment_id = check_id(deployment_id, "dep_", "deployment_id")
        filters = run_filters(
            status=status, triggered_after=triggered_after, triggered_before=triggered_before
        )
        options = request_options(
            extra_headers=extra_headers,
            extra_query=extra_query,
            timeout=timeout,
            deadline=deadline,
            listing=True,
        )
        return self._pager(
            f"/deployments/{deployment_id}/runs",
            DeploymentRun,
            filters,
            limit=limit,
            after_id=after_id,
            before_id=before_id,
            page=page,
            max_items=max_items,
            prefetch=prefetch,
            options=options,
        )

    def list_runs_across(
        self,
        deployments: DeploymentSource,
        *,
        concurrency: int | None = None,
        order: Order = "arrival",
        on_error: ErrorPolicy = "raise_at_end",
        status: RunStatus | RunStatusName | None = None,
        triggered_after: datetime | None = None,
        triggered_before: datetime | None = None,
        limit: int | None = None,
        prefetch: int = 1,
        resume: Mapping[str, object] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
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

        The per-request options apply to every request of the fan-out, not to those of
        the deployments source (give a source its own); `extra_query` joins the filters,
        and so the resume state. A 429 or 503 pauses every request of the client, not
        just the one that saw it.
        Needs a task group: use it inside `async with QoderClient()` or as
        `async with ...list_runs_across(...)`.
        """
        concurrency = check_fan_out_args(
            deployments,
            concurrency=concurrency,
            order=order,
            on_error=on_error,
            prefetch=prefetch,
            max_connections=self._transport.max_connections,
        )
        filters = run_filters(
            status=status, triggered_after=triggered_after, triggered_before=triggered_before
        )
        options = request_options(
            extra_headers=extra_headers,
            extra_query=extra_query,
            timeout=timeout,
            deadline=deadline,
            listing=True,
        )
        if options is not None:
            # Part of the filters, so that a resume state made without them is refused.
            filters = options.merge_query(filters)
        return FanOut(
            self._transport_for(options),
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

    async def get_run(
        self,
        deployment_id: str,
        run_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> DeploymentRun:
        """Fetch one run of a deployment; NotFoundError if either does not exist."""
        deployment_id = check_id(deployment_id, "dep_", "deployment_id")
        run_id = check_id(run_id, "drun_", "run_id")
        options = request_options(
            extra_headers=extra_headers, extra_query=extra_query, timeout=timeout, deadline=deadline
        )
        return await self._call(
            "GET", f"/deployments/{deployment_id}/runs/{run_id}", DeploymentRun, options=options
        )

    async def _transition(
        self,
        deployment_id: str,
        action: str,
        idempotency_key: str | None,
        options: RequestOptions | None,
    ) -> Deployment:
        deployment_id = check_id(deployment_id, "dep_", "deployment_id")
        return await self._call(
            "POST",
            f"/deployments/{deployment_id}/{action}",
            Deployment,
            # Both official SDKs send `{}` as JSON; the docs mark Content-Type required (7.5).
            json_body={},
            idempotency_key=idempotency_key,
            options=options,
        )
