"""What every resource shares: one request structured into a model, and a Pager."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar, cast

import attrs

from qoder_async._chain import Chain
from qoder_async._converter import ensure, fast_decoder, fast_page_reader, structure
from qoder_async._errors import ResponseValidationError
from qoder_async._launch import source_limiter
from qoder_async._models import Deployment, DeploymentRun, Page
from qoder_async._pagination import Pager
from qoder_async._params import check_id, check_idempotency_key, check_limit, cursors
from qoder_async._response import APIResponse
from qoder_async._transport import launched

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from qoder_async._options import RequestOptions
    from qoder_async._taskgroup import Spawner
    from qoder_async._transport import Transport

__all__ = ["Resource", "check_server_id", "source_limiter"]

M = TypeVar("M", Deployment, DeploymentRun)
R = TypeVar("R")


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


async def _counted(send: Callable[[], Awaitable[R]]) -> R:
    """Await `send()`, holding a slot of the fan-out reading us as its source, if any."""
    limiter = source_limiter.get()
    if limiter is None:
        return await send()
    if not limiter.available_tokens:
        launched()
    async with limiter:
        return await send()


class Resource:
    """Base of the resource namespaces: binds a transport and the client's task group.

    A resource built with `raw=True` backs `client.with_raw_response` alone: there every
    method returns an `APIResponse` (a list method, an awaitable of the first page's),
    which `_raw`'s typed wrappers declare. Nothing else ever sees such a resource.
    """

    __slots__ = ("_raw", "_task_group", "_transport")

    def __init__(
        self,
        transport: Transport,
        task_group: Callable[[], Spawner | None],
        *,
        raw: bool = False,
    ) -> None:
        self._transport = transport
        self._task_group = task_group
        self._raw = raw

    def _transport_for(self, options: RequestOptions | None) -> Transport:
        """The transport of one call: a view with its own headers or time bounds, if any."""
        transport = self._transport
        if options is None or not options.changes_transport:
            return transport
        settings = transport.settings
        return transport.copy(
            attrs.evolve(
                settings,
                timeout=options.timeout if options.timeout is not None else settings.timeout,
                deadline=options.deadline if options.deadline is not None else settings.deadline,
                headers=settings.headers + options.headers,
            )
        )

    async def _call(
        self,
        method: str,
        path: str,
        model: type[M],
        *,
        json_body: object = None,
        idempotency_key: str | None = None,
        options: RequestOptions | None = None,
    ) -> M:
        if idempotency_key is not None:
            check_idempotency_key(idempotency_key)
        if self._raw:
            # An APIResponse[M], as the raw twin declares (see the class docstring).
            return cast(
                "M",
                await self._fetch(
                    method,
                    path,
                    lambda data: structure(data, model),
                    json_body=json_body,
                    idempotency_key=idempotency_key,
                    options=options,
                ),
            )
        transport = self._transport_for(options)
        params = None
        if options is not None:
            params = options.merge_query({}) or None
            json_body = options.merge_body(json_body)
        decode = fast_decoder(model)
        data = await _counted(
            lambda: transport.request(
                method,
                path,
                params=params,
                json_body=json_body,
                idempotency_key=idempotency_key,
                decode=decode,
            )
        )
        return ensure(data, model)

    async def _fetch(
        self,
        method: str,
        path: str,
        parse: Callable[[object], R],
        *,
        params: Mapping[str, str] | None = None,
        json_body: object = None,
        idempotency_key: str | None = None,
        options: RequestOptions | None = None,
    ) -> APIResponse[R]:
        """One request, answered with its raw response; `parse` makes the model of it."""
        transport = self._transport_for(options)
        if options is not None:
            params = options.merge_query(params or {}) or None
            json_body = options.merge_body(json_body)
        data, response = await _counted(
            lambda: transport.request_raw(
                method, path, params=params, json_body=json_body, idempotency_key=idempotency_key
            )
        )
        return APIResponse(response, data, parse)

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
        options: RequestOptions | None = None,
    ) -> Pager[M]:
        """A Pager over `path` with the filters and the (validated) cursor and page size.

        Options apply to every page: extra query parameters join (and override) the filters.
        """
        if options is not None:
            filters = options.merge_query(filters)
        params = {**filters, **cursors(after_id, before_id, page)}
        limit = check_limit(limit)
        if self._raw:
            # An awaitable of APIResponse[Page[M]], as the raw twin declares.
            return cast(
                "Pager[M]",
                self._first_page(path, model, params, limit, max_items, prefetch, options),
            )
        # Bound now: later pages keep this call's transport (timeout and retry policy).
        transport = self._transport_for(options)
        page_type: type[Page[M]] = Page[model]  # type: ignore[valid-type]

        # Bulk paging keeps its own pace (spec 2.2), one Spacing per cursor chain.
        spacing = transport.spacing()

        # fetch_page returns the decoded JSON, or with the fast path (msgspec) a RawPage
        # whose head alone was read: either way the Pager advances its cursor from it and
        # decodes the items once the next request is on the wire.
        decode = fast_page_reader(page_type)

        async def fetch_page(query: dict[str, str]) -> object:
            return await _counted(
                lambda: transport.request("GET", path, params=query, spacing=spacing, decode=decode)
            )

        return Pager(
            fetch_page,
            params,
            structure=lambda data: ensure(data, page_type),
            path=path,
            limit=limit,
            max_items=max_items,
            prefetch=prefetch,
            task_group=self._task_group,
        )

    def _first_page(
        self,
        path: str,
        model: type[M],
        params: dict[str, str],
        limit: int | None,
        max_items: int | None,
        prefetch: int,
        options: RequestOptions | None,
    ) -> Awaitable[APIResponse[Page[M]]]:
        """The raw response of the request a Pager with these arguments would send first."""
        # Checked as a Pager checks them, though only max_items shapes the request.
        _check_count(prefetch, "prefetch")
        if max_items is not None:
            _check_count(max_items, "max_items")
        if max_items == 0:
            msg = "max_items=0 sends no request, so there is no raw response to return"
            raise ValueError(msg)
        query = Chain(params, limit=limit, max_items=max_items).next_request()
        page_type: type[Page[M]] = Page[model]  # type: ignore[valid-type]
        # The query already holds the extra parameters: no options.query merged twice.
        options = attrs.evolve(options, query={}) if options is not None else None
        return self._fetch(
            "GET", path, lambda data: structure(data, page_type), params=query, options=options
        )


def _check_count(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{name} must be an int, got {type(value).__name__}"
        raise TypeError(msg)
    if value < 0:
        msg = f"{name} must be >= 0, got {value}"
        raise ValueError(msg)
