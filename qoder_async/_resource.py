"""What every resource shares: one request structured into a model, and a Pager."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from qoder_async._converter import structure
from qoder_async._models import Deployment, DeploymentRun, Page
from qoder_async._pagination import Pager
from qoder_async._params import check_idempotency_key, check_limit, cursors

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from anyio.abc import TaskGroup

    from qoder_async._transport import Transport

__all__ = ["Resource"]

M = TypeVar("M", Deployment, DeploymentRun)


class Resource:
    """Base of the resource namespaces: binds a transport and the client's task group."""

    __slots__ = ("_task_group", "_transport")

    def __init__(self, transport: Transport, task_group: Callable[[], TaskGroup | None]) -> None:
        self._transport = transport
        self._task_group = task_group

    async def _call(
        self,
        method: str,
        path: str,
        model: type[M],
        *,
        json_body: object = None,
        idempotency_key: str | None = None,
    ) -> M:
        if idempotency_key is not None:
            check_idempotency_key(idempotency_key)
        data = await self._transport.request(
            method, path, json_body=json_body, idempotency_key=idempotency_key
        )
        return structure(data, model)

    def _pager(
        self,
        path: str,
        model: type[M],
        filters: Mapping[str, str],
        *,
        limit: int | None,
        after_id: str | None,
        before_id: str | None,
        page: str | None,
        max_items: int | None,
        prefetch: int,
    ) -> Pager[M]:
        """A Pager over `path` with the filters and the (validated) cursor and page size."""
        params = {**filters, **cursors(after_id, before_id, page)}
        limit = check_limit(limit)
        # Bound now: later pages keep this call's transport (timeout and retry policy).
        transport = self._transport
        page_type: type[Page[M]] = Page[model]  # type: ignore[valid-type]

        # Bulk paging keeps its own pace (spec 2.2), one Spacing per cursor chain.
        spacing = transport.spacing()

        async def fetch_page(query: dict[str, str]) -> Page[M]:
            data = await transport.request("GET", path, params=query, spacing=spacing)
            return structure(data, page_type)

        return Pager(
            fetch_page,
            params,
            limit=limit,
            max_items=max_items,
            prefetch=prefetch,
            task_group=self._task_group,
        )
