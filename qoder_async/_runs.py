"""`client.deployment_runs`: runs across all deployments (spec 3.11 and 3.12)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from qoder_async._converter import structure
from qoder_async._errors import RunTimeoutError
from qoder_async._models import DeploymentRun, RunStatus, TriggerType
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
    from datetime import datetime

    from qoder_async._pagination import Pager
    from qoder_async._transport import Transport

__all__ = ["DEFAULT_WAIT_TIMEOUT", "DeploymentRuns", "wait_for_run"]

DEFAULT_WAIT_TIMEOUT = 600.0
DEFAULT_POLL_INTERVAL = 1.0
# Polling slows down geometrically to this cap: long runs cost few requests.
MAX_POLL_INTERVAL = 15.0
POLL_BACKOFF = 1.5


class DeploymentRuns(Resource):
    """The runs of all the caller's deployments, `client.deployment_runs`.

    Arguments are validated before any I/O (ValueError/TypeError); API and connection
    failures raise the exceptions of `qoder_async`.
    """

    __slots__ = ()

    def list(
        self,
        *,
        deployment_id: str | None = None,
        status: RunStatus | str | None = None,
        trigger_type: TriggerType | str | None = None,
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
        )

    async def get(self, run_id: str) -> DeploymentRun:
        """Fetch one run by id alone; NotFoundError if it does not exist."""
        run_id = check_id(run_id, "drun_", "run_id")
        return await self._call("GET", f"/deployment_runs/{run_id}", DeploymentRun)

    async def wait(
        self,
        run_id: str,
        *,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> DeploymentRun:
        """Poll a run until it is terminal (completed, failed or skipped) and return it.

        A run in the minimal shape of spec 7.1 (no `status`) is final as soon as it is
        returned, so waiting on one costs exactly one GET (see `DeploymentRun.is_terminal`).
        Polls after `poll_interval` seconds, then 1.5 times longer each time, up to 15 s.
        Raises RunTimeoutError, carrying the last state seen, if the run is still going
        after `timeout` seconds (None waits forever). A failed run is returned, not raised:
        check `run.status` and `run.error`.
        """
        run_id = check_id(run_id, "drun_", "run_id")
        check_wait_args(timeout, poll_interval)
        return await wait_for_run(
            self._transport, run_id, None, timeout=timeout, poll_interval=poll_interval
        )


def check_wait_args(timeout: float | None, poll_interval: float) -> None:
    """Refuse a non-positive timeout or poll interval before any request."""
    if timeout is not None:
        check_seconds(timeout, "timeout")
    check_seconds(poll_interval, "poll_interval")


async def wait_for_run(
    transport: Transport,
    run_id: str,
    run: DeploymentRun | None,
    *,
    timeout: float | None,
    poll_interval: float,
) -> DeploymentRun:
    """Poll `GET /deployment_runs/{run_id}` until terminal; `run` is the state known so far."""
    last = run
    interval = poll_interval
    with anyio.move_on_after(timeout if timeout is not None else float("inf")) as scope:
        while last is None or not last.is_terminal:
            if last is not None:
                await anyio.sleep(interval)
                interval = min(interval * POLL_BACKOFF, max(MAX_POLL_INTERVAL, poll_interval))
            data = await transport.request("GET", f"/deployment_runs/{run_id}")
            last = structure(data, DeploymentRun)
        return last
    assert scope.cancelled_caught  # noqa: S101 - the only way out of the block above
    state = "no state yet" if last is None else f"last status {last.status!r}"
    msg = f"run {run_id} did not finish within {timeout} s ({state})"
    raise RunTimeoutError(msg, run=last)
