"""What every resource shares: one request structured into a model, and a Pager."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, TypeVar

from qoder_async._converter import structure
from qoder_async._errors import ResponseValidationError
from qoder_async._models import Deployment, DeploymentRun, Page
from qoder_async._pagination import Pager
from qoder_async._params import check_id, check_idempotency_key, check_limit, cursors
from qoder_async._transport import launched

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    import anyio

    from qoder_async._taskgroup import Spawner
    from qoder_async._transport import Transport

__all__ = ["Resource", "check_server_id", "source_limiter"]

M = TypeVar("M", Deployment, DeploymentRun)

# Set by a fan-out while it reads its deployments source: the requests the source makes
# through this client (and the prefetch tasks it starts meanwhile, which copy the context)
# then count against the fan-out's concurrency, so that the two together never exceed it.
source_limiter: ContextVar[anyio.CapacityLimiter | None] = ContextVar(
    "source_limiter", default=None
)


def check_server_id(value: str, prefix: str, what: str) -> str:
    """Return an id the server sent if it is safe to put in a path; else ResponseValidationError.

    Ids from the user are checked with ValueError before any I/O; an id from a response is
    server data, so a bad one (say `drun_1/../../deployments`) is the server's fault.
    """
    try:
        return check_id(value, prefix, what)
    except (TypeError, ValueError) as exc:
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        msg = f"the server sent {what} {shown}, which is not an id starting with {prefix!r}"
        raise ResponseValidationError(msg) from exc


async def _counted(send: Callable[[], Awaitable[object]]) -> object:
    """Await `send()`, holding a slot of the fan-out reading us as its source, if any."""
    limiter = source_limiter.get()
    if limiter is None:
        return await send()
    if not limiter.available_tokens:
        launched()
    async with limiter:
        return await send()


class Resource:
    """Base of the resource namespaces: binds a transport and the client's task group."""

    __slots__ = ("_task_group", "_transport")

    def __init__(self, transport: Transport, task_group: Callable[[], Spawner | None]) -> None:
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
        transport = self._transport
        data = await _counted(
            lambda: transport.request(
                method, path, json_body=json_body, idempotency_key=idempotency_key
            )
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

        # Returns the decoded JSON: the Pager advances its cursor from it and structures
        # the page once the next request is on the wire.
        async def fetch_page(query: dict[str, str]) -> object:
            return await _counted(
                lambda: transport.request("GET", path, params=query, spacing=spacing)
            )

        return Pager(
            fetch_page,
            params,
            structure=lambda data: structure(data, page_type),
            path=path,
            limit=limit,
            max_items=max_items,
            prefetch=prefetch,
            task_group=self._task_group,
        )
