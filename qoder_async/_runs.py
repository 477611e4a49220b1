"""`client.deployment_runs`: runs across all deployments (spec 3.11 and 3.12)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qoder_async._models import DeploymentRun, RunStatus, TriggerType
from qoder_async._params import (
    check_bool,
    check_datetime,
    check_enum,
    check_id,
    check_limit,
    one_cursor,
    query,
)
from qoder_async._resource import Resource

if TYPE_CHECKING:
    from datetime import datetime

    from qoder_async._pagination import Pager

__all__ = ["DeploymentRuns"]


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
        one_cursor(after_id, before_id, page)
        params = query(
            [
                (
                    "deployment_id",
                    None
                    if deployment_id is None
                    else check_id(deployment_id, "dep_", "deployment_id"),
                ),
                ("status", None if status is None else check_enum(status, RunStatus, "status")),
                (
                    "trigger_type",
                    None
                    if trigger_type is None
                    else check_enum(trigger_type, TriggerType, "trigger_type"),
                ),
                ("has_error", None if has_error is None else check_bool(has_error, "has_error")),
                *(
                    (f"created_at[{op}]", None if bound is None else check_datetime(bound, name))
                    for op, name, bound in (
                        ("gt", "created_at_gt", created_at_gt),
                        ("gte", "created_at_gte", created_at_gte),
                        ("lt", "created_at_lt", created_at_lt),
                        ("lte", "created_at_lte", created_at_lte),
                    )
                ),
                ("after_id", after_id),
                ("before_id", before_id),
                ("page", page),
            ]
        )
        return self._pager(
            "/deployment_runs",
            DeploymentRun,
            params,
            limit=check_limit(limit),
            max_items=max_items,
            prefetch=prefetch,
        )

    async def get(self, run_id: str) -> DeploymentRun:
        """Fetch one run by id alone; NotFoundError if it does not exist."""
        run_id = check_id(run_id, "drun_", "run_id")
        return await self._call("GET", f"/deployment_runs/{run_id}", DeploymentRun)
