"""`client.deployment_runs`: runs across all deployments (spec 3.11 and 3.12)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import anyio

from qoder_async._converter import structure
from qoder_async._errors import RunTimeoutError
from qoder_async._models import DeploymentRun, RunStatus, TriggerType
from qoder_async._options import request_options
from qoder_async._params import (
    check_bool,
    check_datetime,
    check_enum,
    check_id,
    check_seconds,
    optional,
    query,
)
from qoder_async._resource import Resource

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping
    from datetime import datetime

    import httpx

    from qoder_async._literals import RunStatusName, TriggerTypeName
    from qoder_async._pagination import Pager
    from qoder_async._response import APIResponse

__all__ = ["DEFAULT_WAIT_TIMEOUT", "DeploymentRuns", "wait_for_run"]

DEFAULT_WAIT_TIMEOUT = 600.0
DEFAULT_POLL_INTERVAL = 1.0
# Polling slows down geometrically to this cap: long runs cost few requests.
MAX_POLL_INTERVAL = 15.0
POLL_BACKOFF = 1.5


class DeploymentRuns(Resource):
    """The runs of all the caller's deployments, `client.deployment_runs`.

    Arguments are validated before any I/O (ValueError/TypeError); API and connection
    failures raise the exceptions of `qoder_async`. Every method takes the per-request
    options `extra_headers`, `extra_query`, `timeout` (per attempt; `request_timeout` on
    `wait`, whose `timeout` bounds the wait) and `deadline`, as `client.deployments` does.
    """

    __slots__ = ()

    def list(
        self,
        *,
        deployment_id: str | None = None,
        status: RunStatus | RunStatusName | None = None,
        trigger_type: TriggerType | TriggerTypeName | None = None,
        has_error: bool | None = None,
        created_at_gt: datetime | None = None,
        created_at_gte: datetime | None = None,
        created_at_lt: datetime | None = None,
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
    ) -> Pager[DeploymentRun]:
        """List runs across deployments, newest triggered first (order inferred, spec 3.11).

        An unknown `deployment_id` yields no runs rather than NotFoundError. `has_error=True`
        keeps failed session creations, False keeps runs that got a session. The
        `created_at_*` bounds come from the official SDK only and must be timezone-aware.
        Paging arguments as for `client.deployments.list`.
        """
        filters = query(
            [
                ("deployment_id", optional(check_id, deployment_id, "dep_", "deployment_id")),
                ("status", optional(check_enum, status, RunStatus, "status")),
                ("trigger_type", optional(check_enum, trigger_type, TriggerType, "trigger_type")),
                ("has_error", optional(check_bool, has_error, "has_error")),
                ("created_at[gt]", optional(check_datetime, created_at_gt, "created_at_gt")),
                ("created_at[gte]", optional(check_datetime, created_at_gte, "created_at_gte")),
                ("created_at[lt]", optional(check_datetime, created_at_lt, "created_at_lt")),
                ("created_at[lte]", optional(check_datetime, created_at_lte, "created_at_lte")),
            ]
        )
        options = request_options(
            extra_headers=extra_headers,
            extra_query=extra_query,
            timeout=timeout,
            deadline=deadline,
            listing=True,
        )
        return self._pager(
            "/deployment_runs",
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

    async def get(
        self,
        run_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> DeploymentRun:
        """Fetch one run by id alone; NotFoundError if it does not exist."""
        run_id = check_id(run_id, "drun_", "run_id")
        options = request_options(
            extra_headers=extra_headers, extra_query=extra_query, timeout=timeout, deadline=deadline
        )
        return await self._call("GET", f"/deployment_runs/{run_id}", DeploymentRun, options=options)

    async def wait(
        self,
        run_id: str,
        *,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
        request_timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> DeploymentRun:
        """Poll a run until it is terminal (completed, failed or skipped) and return it.

        A run in the minimal shape of spec 7.1 (no `status`) is final as soon as it is
        returned, so waiting on one costs exactly one GET (see `DeploymentRun.is_terminal`).
        Polls after `poll_interval` seconds, then 1.5 times longer each time, up to 15 s.
        Raises RunTimeoutError, carrying the last state seen, if the run is still going
        after `timeout` seconds (None waits forever). A failed run is returned, not raised:
        check `run.status` and `run.error`. The per-request options apply to every poll
        (`request_timeout` bounds each attempt). Its raw twin returns the last poll's response.
        """
        run_id = check_id(run_id, "drun_", "run_id")
        check_wait_args(timeout, poll_interval)
        options = request_options(
            extra_headers=extra_headers,
            extra_query=extra_query,
            timeout=request_timeout,
            deadline=deadline,
        )
        path = f"/deployment_runs/{run_id}"
        if not self._raw:
            return await wait_for_run(
                lambda: self._call("GET", path, DeploymentRun, options=options),
                run_id,
                None,
                timeout=timeout,
                poll_interval=poll_interval,
            )
        last: list[APIResponse[DeploymentRun]] = []

        async def poll() -> DeploymentRun:
            response = await self._fetch(
                "GET", path, lambda data: structure(data, DeploymentRun), options=options
            )
            last[:] = [response]
            return response.parse()

        await wait_for_run(poll, run_id, None, timeout=timeout, poll_interval=poll_interval)
        # An APIResponse, as the raw twin declares (see Resource).
        return cast("DeploymentRun", last[0])


def check_wait_args(timeout: float | None, poll_interval: float) -> None:
    """Refuse a non-positive timeout or poll interval before any request."""
    if timeout is not None:
        check_seconds(timeout, "timeout")
    check_seconds(poll_interval, "poll_interval")


async def wait_for_run(
    poll: Callable[[], Awaitable[DeploymentRun]],
    run_id: str,
    run: DeploymentRun | None,
    *,
    timeout: float | None,
    poll_interval: float,
) -> DeploymentRun:
    """Call `poll` (one `GET /deployment_runs/{run_id}`) until the run is terminal.

    `run` is the state known so far (None: poll at once).
    """
    last = run
    interval = poll_interval
    with anyio.move_on_after(timeout if timeout is not None else float("inf")) as scope:
        while last is None or not last.is_terminal:
            if last is not None:
                await anyio.sleep(interval)
                interval = min(interval * POLL_BACKOFF, max(MAX_POLL_INTERVAL, poll_interval))
            last = await poll()
        return last
    assert scope.cancelled_caught  # noqa: S101 - the only way out of the block above
    state = "no state yet" if last is None else f"last status {last.status!r}"
    msg = f"run {run_id} did not finish within {timeout} s ({state})"
    raise RunTimeoutError(msg, run=last)
