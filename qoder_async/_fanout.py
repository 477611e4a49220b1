"""Listing the runs of many deployments at once, under one concurrency limit.

Each deployment's runs are a cursor chain of its own (a `Prefetcher`, as in a Pager); a
`CapacityLimiter` of `concurrency` slots bounds how many of their requests are in flight.
Fetching is driven by the consumer exactly as in `Pager`: short-lived tasks fetch ahead and
end. A caller who stops a bare `async for` early leaves requests to finish on their own:
at most `concurrency` in "arrival" order, and in "newest_first" one for each deployment
whose current page the merge was reading. `async with` / `aclose()` cancels them at once. Errors travel as values to
the consumer and are raised there as themselves, never as an ExceptionGroup.

Two orders:
- "arrival": pages are handed out as they arrive. At most `concurrency` deployments are
  open at once; memory is about two pages per open deployment.
- "newest_first": a lazy k-way merge by `triggered_at` (then id), newest first. A merge
  must see the head of every stream before it can hand out anything, so every deployment
  is opened (requests still go `concurrency` at a time) and one page per deployment is
  held (two with prefetch).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
)
from typing import TYPE_CHECKING, Literal

import anyio

from qoder_async._converter import structure
from qoder_async._errors import NotFoundError
from qoder_async._models import Deployment, DeploymentRun, Page
from qoder_async._pagination import Chain, Prefetcher
from qoder_async._params import check_id
from qoder_async._taskgroup import HelperTaskGroup
from qoder_async._transport import launched

if TYPE_CHECKING:
    from datetime import datetime
    from types import TracebackType

    from anyio.abc import TaskGroup
    from typing_extensions import Self

    from qoder_async._transport import Transport

__all__ = ["DeploymentSource", "ErrorPolicy", "FanOut", "Order"]

Order = Literal["arrival", "newest_first"]
ErrorPolicy = Literal["skip", "raise"] | Callable[[str, NotFoundError], object]
DeploymentSource = Iterable[str | Deployment] | AsyncIterable[str | Deployment]

_EPOCH_KEY = float("-inf")


class _Stream:
    """One deployment's runs: its cursor chain, its prefetch buffer and the current page."""

    __slots__ = ("deployment_id", "index", "items", "prefetcher", "queued")

    prefetcher: Prefetcher[DeploymentRun]

    def __init__(self, deployment_id: str) -> None:
        self.deployment_id = deployment_id
        self.items: tuple[DeploymentRun, ...] = ()
        self.index = 0
        self.queued = False


class _Head:
    """A merge-heap entry; orders newest first, so that heapq's minimum is the newest run."""

    __slots__ = ("id", "stream", "timestamp")

    def __init__(self, run: DeploymentRun, stream: _Stream) -> None:
        moment: datetime | None = run.triggered_at or run.created_at
        self.timestamp = moment.timestamp() if moment is not None else _EPOCH_KEY
        self.id = run.id
        self.stream = stream

    def __lt__(self, other: _Head) -> bool:
        return (self.timestamp, self.id) > (other.timestamp, other.id)


class FanOut:
    """The runs of many deployments as one async iterator; see `list_runs_across`.

    Use `async with` around it (or call `aclose()`) to cancel outstanding requests the
    moment you stop. `skipped` lists the deployments skipped because they were not found
    (archived or deleted meanwhile), with their errors.
    """

    def __init__(
        self,
        transport: Transport,
        deployments: DeploymentSource,
        params: dict[str, str],
        *,
        limit: int | None,
        concurrency: int,
        order: Order,
        on_error: ErrorPolicy,
        prefetch: int,
        task_group: Callable[[], TaskGroup | None],
    ) -> None:
        self._transport = transport
        self._params = params
        self._limit = limit
        self._order = order
        self._on_error = on_error
        self._prefetch = max(prefetch, 1)
        self._client_task_group = task_group
        self._helpers = HelperTaskGroup()
        self._limiter = anyio.CapacityLimiter(concurrency)
        self._concurrency = concurrency
        self._sync_source: Iterator[str | Deployment] | None = None
        self._async_source: AsyncIterator[str | Deployment] | None = None
        # A lazily read source with its own background work (a Pager, an async generator)
        # is closed with the fan-out: the caller often has no other handle on it.
        self._source_closer: Callable[[], Awaitable[None]] | None = getattr(
            deployments, "aclose", None
        )
        if isinstance(deployments, AsyncIterable):
            self._async_source = aiter(deployments)
        else:
            self._sync_source = iter(deployments)
        self._source_done = False
        self._streams: list[_Stream] = []
        self._ready: deque[_Stream] = deque()
        self._heap: list[_Head] = []
        self._merge_started = False
        self._current: _Stream | None = None
        self._waiter: anyio.Event | None = None
        self._closed = False
        self._started = False
        self.skipped: list[tuple[str, NotFoundError]] = []

    def __aiter__(self) -> Self:
        if self._started:
            msg = "a FanOut can be iterated only once"
            raise RuntimeError(msg)
        self._started = True
        return self

    async def __anext__(self) -> DeploymentRun:
        if self._closed:
            raise StopAsyncIteration
        try:
            if self._order == "arrival":
                return await self._next_arrival()
            return await self._next_merged()
        except BaseException:
            # Any error (or cancellation) ends the fan-out: stop every other request now.
            self._close_streams()
            with anyio.CancelScope(shield=True):
                await self._close_source()
            raise

    async def __aenter__(self) -> Self:
        await self._helpers.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close_streams()
        try:
            with anyio.CancelScope(shield=True):
                await self._close_source()
        finally:
            await self._helpers.__aexit__(exc_type, exc, tb)

    async def aclose(self) -> None:
        """Stop: cancel every outstanding request and drop buffered pages; idempotent.

        A lazily read source with an `aclose()` (such as a Pager) is closed too.
        """
        self._close_streams()
        await self._close_source()
        await anyio.lowlevel.checkpoint()

    # -- arrival order -------------------------------------------------------------------

    async def _next_arrival(self) -> DeploymentRun:
        while True:
            stream = self._current
            if stream is not None and stream.index < len(stream.items):
                run = stream.items[stream.index]
                stream.index += 1
                return run
            self._current = None
            await self._open_streams(limit=self._concurrency)
            if self._ready:
                stream = self._ready.popleft()
                stream.queued = False
                if await self._load_next_page(stream):
                    self._current = stream
                    # With prefetch > 1 a second page may already wait behind this one.
                    self._on_stream_change(stream)
                continue
            if not self._streams and self._source_done:
                self._closed = True
                raise StopAsyncIteration
            await self._wait_for_change()

    # -- newest-first merge --------------------------------------------------------------

    async def _next_merged(self) -> DeploymentRun:
        if not self._merge_started:
            self._merge_started = True
            await self._open_streams(limit=None)
            for stream in list(self._streams):
                await self._push_head(stream)
        if not self._heap:
            self._closed = True
            raise StopAsyncIteration
        head = heapq.heappop(self._heap)
        stream = head.stream
        run = stream.items[stream.index]
        stream.index += 1
        # Only a stream the merge is reading from fetches ahead, so that leaving early
        # leaves requests behind only for those, not for every deployment.
        stream.prefetcher.start()
        await self._push_head(stream)
        return run

    async def _push_head(self, stream: _Stream) -> None:
        while stream.index >= len(stream.items):
            if not await self._load_next_page(stream):
                return
        heapq.heappush(self._heap, _Head(stream.items[stream.index], stream))

    # -- shared machinery ------------------------------------------------------------------

    async def _load_next_page(self, stream: _Stream) -> bool:
        """Make the stream's next page current; False once the stream has ended."""
        try:
            page = await stream.prefetcher.next_page()
        except NotFoundError as exc:
            self._forget(stream)
            if self._on_error == "raise":
                raise
            self.skipped.append((stream.deployment_id, exc))
            if callable(self._on_error):
                self._on_error(stream.deployment_id, exc)
            return False
        if page is None:
            self._forget(stream)
            return False
        stream.items, stream.index = page.data, 0
        if stream.prefetcher.finished:
            self._forget(stream)
        return bool(page.data) or not stream.prefetcher.finished

    async def _open_streams(self, *, limit: int | None) -> None:
        while not self._source_done and (limit is None or len(self._streams) < limit):
            item = await self._next_source_item()
            if item is None:
                self._source_done = True
                return
            self._open(item)

    async def _next_source_item(self) -> str | Deployment | None:
        if self._sync_source is not None:
            return next(self._sync_source, None)
        assert self._async_source is not None  # noqa: S101 - one of the two is set
        try:
            return await anext(self._async_source)
        except StopAsyncIteration:
            return None

    def _open(self, item: str | Deployment) -> None:
        deployment_id = item.id if isinstance(item, Deployment) else item
        deployment_id = check_id(deployment_id, "dep_", "deployments item")
        transport, limiter = self._transport, self._limiter
        path = f"/deployments/{deployment_id}/runs"
        spacing = transport.spacing()  # this stream's own pace when paging (spec 2.2)

        async def fetch_page(query: dict[str, str]) -> Page[DeploymentRun]:
            if not limiter.available_tokens:
                launched()
            async with limiter:
                data = await transport.request("GET", path, params=query, spacing=spacing)
            return structure(data, Page[DeploymentRun])

        stream = _Stream(deployment_id)
        stream.prefetcher = Prefetcher(
            Chain(self._params, limit=self._limit, max_items=None),
            fetch_page,
            self._prefetch,
            self._task_group,
            on_change=lambda: self._on_stream_change(stream),
            eager=self._order == "arrival",
            # Each page waits for its stream's next request to be sent. Measured in
            # bench_fanout: launching requests one after another rather than in bursts
            # spares httpcore's pool, which scans every connection for every waiting
            # request, and cut client CPU per request by about a third at 32+ streams.
            pace_sends=True,
        )
        self._streams.append(stream)
        if not stream.prefetcher.start():
            msg = (
                "list_runs_across needs a task group: use it inside `async with QoderClient()`"
                " or as `async with client.deployments.list_runs_across(...)`"
            )
            raise RuntimeError(msg)

    def _on_stream_change(self, stream: _Stream) -> None:
        if self._order == "arrival" and stream.prefetcher.has_page and not stream.queued:
            stream.queued = True
            self._ready.append(stream)
        if self._waiter is not None:
            self._waiter.set()
            self._waiter = None

    async def _wait_for_change(self) -> None:
        waiter = self._waiter = anyio.Event()
        await waiter.wait()

    def _forget(self, stream: _Stream) -> None:
        if stream in self._streams:
            self._streams.remove(stream)

    def _task_group(self) -> TaskGroup | None:
        return self._helpers.group or self._client_task_group()

    async def _close_source(self) -> None:
        closer, self._source_closer = self._source_closer, None
        if closer is not None:
            await closer()

    def _close_streams(self) -> None:
        self._closed = True
        for stream in self._streams:
            stream.prefetcher.close()
        self._streams.clear()
        self._ready.clear()
        self._heap.clear()
