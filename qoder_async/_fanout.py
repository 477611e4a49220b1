"""Listing the runs of many deployments at once, under one concurrency limit.

Each deployment's runs are a cursor chain of its own (a `Prefetcher`, as in a Pager); a
`CapacityLimiter` of `concurrency` slots bounds how many of their requests are in flight.
While the fan-out reads a lazy source (such as `client.deployments.list()`), the requests
that source makes through the client hold a slot of the same limiter (`source_limiter`), so
the two together never exceed `concurrency`. Fetching is driven by the consumer exactly as
in `Pager`: short-lived tasks fetch ahead and end. A caller who stops a bare `async for`
early leaves requests to finish on their own: at most `concurrency` in "arrival" order, and
in "newest_first" one for each deployment whose current page the merge was reading.
`async with` / `aclose()` cancels them at once. Errors travel as values to the consumer and
are raised there as themselves, never as an ExceptionGroup.

What nothing loses. A deployment whose listing fails (after the client's retries) ends that
stream only: it is recorded in `failed` and the others go on. Each stream knows the cursor
that fetched the page it is handing out and how far it got, so `resume_state()` can say, at
any moment, exactly which runs were handed out (see `_resume`).

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
import inspect
from collections import deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
)
from typing import TYPE_CHECKING, Literal, NoReturn

import anyio

from qoder_async._chain import Chain
from qoder_async._converter import ensure, fast_page_reader
from qoder_async._errors import ClientClosedError, FanOutError, NotFoundError
from qoder_async._launch import source_limiter
from qoder_async._models import Deployment, DeploymentRun, Page
from qoder_async._params import check_id
from qoder_async._prefetch import Prefetcher
from qoder_async._resource import check_server_id
from qoder_async._resume import Position, cursor_of, dump_state
from qoder_async._taskgroup import HelperTaskGroup
from qoder_async._transport import launched

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

    from qoder_async._resume import ResumeState
    from qoder_async._taskgroup import Spawner
    from qoder_async._transport import Transport

__all__ = ["DeploymentSource", "ErrorPolicy", "FanOut", "Order"]

Order = Literal["arrival", "newest_first"]
ErrorPolicy = Literal["raise_at_end", "skip", "raise"] | Callable[[str, Exception], object]
DeploymentSource = Iterable[str | Deployment] | AsyncIterable[str | Deployment]


class _Stream:
    """One deployment's runs: its cursor chain, its prefetch buffer and the current page."""

    __slots__ = (
        "carried",
        "chain",
        "cursor",
        "deployment_id",
        "index",
        "items",
        "prefetcher",
        "queued",
    )

    prefetcher: Prefetcher[DeploymentRun]

    def __init__(self, deployment_id: str, chain: Chain[DeploymentRun], start: Position) -> None:
        self.deployment_id = deployment_id
        self.chain = chain
        # The cursor that fetched `items`; `index` of them have been handed out.
        self.cursor = start.cursor
        self.items: tuple[DeploymentRun, ...] = ()
        self.index = 0
        # Runs an earlier fan-out handed out past `start.cursor`: dropped once, when seen.
        self.carried = set(start.skip)
        self.queued = False

    def take(self, page: Page[DeploymentRun]) -> None:
        """Make `page` (just returned by the prefetcher) the one being handed out."""
        query = self.prefetcher.query
        cursor = cursor_of(query) if query is not None else self.cursor
        data = page.data
        if self.carried:
            kept = [run for run in data if run.id not in self.carried]
            self.carried.difference_update(run.id for run in data)
            data = tuple(kept)
        self.cursor, self.items, self.index = cursor, data, 0

    def position(self) -> Position | None:
        """Where a new fan-out would resume this listing; None once it was handed out whole."""
        if self.index < len(self.items):
            handed = {run.id for run in self.items[: self.index]}
            return Position(self.cursor, frozenset(handed | self.carried))
        # The current page is all handed out: resume from the next one, whose cursor is
        # that of the page fetched after it (buffered, or failed) or else the chain's (in
        # flight, or not asked yet: the chain advances only when a page arrives).
        query = self.prefetcher.resume_query()
        if query is not None:
            return Position(cursor_of(query), frozenset(self.carried))
        if not self.chain.done and not self.chain.stuck:
            return Position(cursor_of(self.chain.next_request()), frozenset(self.carried))
        return None


def _structure_runs(data: object) -> Page[DeploymentRun]:
    return ensure(data, Page[DeploymentRun])


# The fast path's page head reader (msgspec), or None: see Resource._pager.
_decode_runs = fast_page_reader(Page[DeploymentRun])


class _Head:
    """A merge-heap entry; orders newest first, so that heapq's minimum is the newest run."""

    __slots__ = ("id", "stream", "timestamp")

    def __init__(self, run: DeploymentRun, stream: _Stream) -> None:
        self.timestamp = run.sort_time.timestamp()
        self.id = run.id
        self.stream = stream

    def __lt__(self, other: _Head) -> bool:
        return (self.timestamp, self.id) > (other.timestamp, other.id)


class FanOut:
    """The runs of many deployments as one async iterator; see `list_runs_across`.

    Use `async with` around it (or call `aclose()`) to cancel outstanding requests the
    moment you stop. A deployment whose listing fails does not stop the others:
    `failed` maps its id to the exception (after the client's retries), `skipped` lists
    the deployments that were not found (archived or deleted meanwhile, nothing left to
    deliver), and `source_error` is the exception that ended the reading of the
    deployments source early, if any. `resume_state()` says what is left, at any moment.
    Each deployment's runs are paged as a Pager pages them (spec 7.4): no run is yielded
    twice (a repeat is dropped with a warning), and a server that cannot go on fails that
    deployment's listing with PaginationError.
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
        task_group: Callable[[], Spawner | None],
        resume: ResumeState | None = None,
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
        self._exhausted = False
        self._started = False
        self._delivered = 0
        # Bookkeeping for resume_state(): every deployment is in exactly one of these,
        # or not reached yet. `_live` holds opened streams not handed out whole, in order.
        self._done: list[str] = list(resume.done) if resume else []
        self._queued_resumes: deque[tuple[str, Position]] = deque(resume.pending if resume else ())
        self._live: dict[str, _Stream] = {}
        # Each deployment is listed once, however often the source names it.
        self._seen: set[str] = set(self._done)
        self._seen.update(deployment_id for deployment_id, _ in self._queued_resumes)
        self.failed: dict[str, Exception] = {}
        self.skipped: list[tuple[str, NotFoundError]] = []
        self.source_error: Exception | None = None

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
                run = await self._next_arrival()
            else:
                run = await self._next_merged()
        except BaseException:
            # Any error (or cancellation) ends the fan-out: stop every other request now.
            self._close_streams()
            with anyio.CancelScope(shield=True):
                await self._close_source()
            raise
        self._delivered += 1
        return run

    def __repr__(self) -> str:
        # What it lists and how far it got; the PAT lives in the transport, never here.
        if self._exhausted:
            state = "exhausted"
        elif self._closed:
            state = "closed"
        else:
            state = "open" if self._started else "new"
        if self.source_error is not None:
            source = "failed"
        else:
            source = "done" if self._source_done else "reading"
        parts = [f"filters={self._params!r}"] if self._params else []
        if self._limit is not None:
            parts.append(f"limit={self._limit}")
        parts += [
            f"order={self._order!r}",
            f"concurrency={self._concurrency}",
            f"delivered={self._delivered}",
            f"open={len(self._streams)}",
            f"done={len(self._done)}",
            f"failed={len(self.failed)}",
            f"skipped={len(self.skipped)}",
            f"source={source!r}",
            f"state={state!r}",
        ]
        return f"FanOut({', '.join(parts)})"

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

    def resume_state(self) -> dict[str, object]:
        """A JSON-serialisable note of what is left to list, as of the last run handed out.

        Pass it to `list_runs_across(..., resume=state)` with the same filters and the same
        deployments source (a fresh pager or iterator is fine, in another process too): it
        then hands out exactly the runs this fan-out has not, each once. Deployments that
        failed are retried from where they stopped; those not reached yet come from the
        source. Valid at any time: during iteration, after an error, after `aclose()`.
        """
        done = list(self._done)
        pending: list[tuple[str, Position]] = []
        for deployment_id, stream in self._live.items():
            position = stream.position()
            if position is None:
                done.append(deployment_id)
            else:
                pending.append((deployment_id, position))
        pending.extend(self._queued_resumes)
        return dump_state(self._params, done, pending)

    # -- arrival order -------------------------------------------------------------------

    async def _next_arrival(self) -> DeploymentRun:
        while True:
            stream = self._current
            if stream is not None:
                if stream.index < len(stream.items):
                    run = stream.items[stream.index]
                    stream.index += 1
                    return run
                self._settle(stream)
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
                self._finish()
            await self._wait_for_change()

    # -- newest-first merge --------------------------------------------------------------

    async def _next_merged(self) -> DeploymentRun:
        if not self._merge_started:
            self._merge_started = True
            await self._open_streams(limit=None)
            for stream in list(self._streams):
                await self._push_head(stream)
        if not self._heap:
            self._finish()
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

    def _finish(self) -> NoReturn:
        """End the iteration: FanOutError if something could not be listed, else stop."""
        self._closed = True
        self._exhausted = True
        unhandled = self.failed if self._on_error == "raise_at_end" else {}
        if not unhandled and self.source_error is None:
            raise StopAsyncIteration
        parts = []
        if unhandled:
            listed = [f"{key} ({type(exc).__name__}: {exc})" for key, exc in unhandled.items()]
            more = f"; and {len(listed) - 3} more" if len(listed) > 3 else ""
            parts.append(
                f"{len(listed)} deployment(s) could not be listed: {'; '.join(listed[:3])}{more}"
            )
        if self.source_error is not None:
            source = self.source_error
            parts.append(f"reading the deployments failed: {type(source).__name__}: {source}")
        msg = (
            "; ".join(parts) + ". Every other run was delivered; pass "
            "resume=error.resume_state to list_runs_across to list what is left"
        )
        error = FanOutError(
            msg,
            failed=unhandled,
            source_error=self.source_error,
            resume_state=self.resume_state(),
        )
        first = next(iter(unhandled.values()), self.source_error)
        raise error from first

    async def _load_next_page(self, stream: _Stream) -> bool:
        """Make the stream's next page current; False once the stream has ended."""
        try:
            page = await stream.prefetcher.next_page()
        except Exception as exc:  # any failure ends this stream only, never the others
            self._forget(stream)
            await self._stream_failed(stream, exc)
            return False
        if page is None:
            self._forget(stream)
            self._settle(stream)
            return False
        stream.take(page)
        if stream.prefetcher.finished:
            self._forget(stream)
        if not stream.items and stream.prefetcher.finished:
            self._settle(stream)
            return False
        return True

    async def _stream_failed(self, stream: _Stream, error: Exception) -> None:
        """Record a listing that failed, then apply `on_error` (which may raise)."""
        deployment_id = stream.deployment_id
        if isinstance(error, NotFoundError) and self._on_error != "raise":
            # Gone (archived or deleted meanwhile): nothing is left to deliver.
            self.skipped.append((deployment_id, error))
            self._live.pop(deployment_id, None)
            self._done.append(deployment_id)
        else:
            # Stays live: resume_state() says where to retry it from.
            self.failed[deployment_id] = error
        if self._on_error == "raise":
            raise error
        if callable(self._on_error):
            outcome = self._on_error(deployment_id, error)
            if inspect.isawaitable(outcome):
                await outcome

    def _settle(self, stream: _Stream) -> None:
        """Move a stream that has handed out its last run from live to done."""
        deployment_id = stream.deployment_id
        if deployment_id in self._live and stream.position() is None:
            del self._live[deployment_id]
            self._done.append(deployment_id)
            stream.items = ()

    async def _open_streams(self, *, limit: int | None) -> None:
        while not self._source_done and (limit is None or len(self._streams) < limit):
            item = await self._next_deployment()
            if item is None:
                self._source_done = True
                return
            self._open(*item)

    async def _next_deployment(self) -> tuple[str, Position] | None:
        """The next deployment to open: the resumed ones first, then the source's new ones."""
        if self._queued_resumes:
            return self._queued_resumes.popleft()
        while True:
            item = await self._next_source_item()
            if item is None:
                return None
            if isinstance(item, Deployment):
                # Server data: a bad id is the server's fault, and must not reach a path.
                deployment_id = check_server_id(item.id, "dep_", "deployment id")
            else:
                deployment_id = check_id(item, "dep_", "deployments item")
            if deployment_id not in self._seen:
                self._seen.add(deployment_id)
                return deployment_id, Position(None, frozenset())

    async def _next_source_item(self) -> str | Deployment | None:
        try:
            if self._sync_source is not None:
                return next(self._sync_source, None)
            assert self._async_source is not None  # noqa: S101 - one of the two is set
            # The source's own requests (a Pager's prefetch included) take our slots.
            token = source_limiter.set(self._limiter)
            try:
                return await anext(self._async_source)
            finally:
                source_limiter.reset(token)
        except StopAsyncIteration:
            return None
        except Exception as exc:
            if self._on_error == "raise":
                raise
            # The deployments read so far are still listed; the error comes at the end.
            self.source_error = exc
            return None

    def _open(self, deployment_id: str, start: Position) -> None:
        transport, limiter = self._transport, self._limiter
        path = f"/deployments/{deployment_id}/runs"
        params = dict(self._params)
        if start.cursor is not None:
            params[start.cursor[0]] = start.cursor[1]
        chain: Chain[DeploymentRun] = Chain(params, limit=self._limit, max_items=None)
        stream = _Stream(deployment_id, chain, start)
        spacing = transport.spacing()  # this stream's own pace when paging (spec 2.2)

        # Returns the decoded JSON: the prefetcher structures it once the next is on the wire.
        async def fetch_page(query: dict[str, str]) -> object:
            # `async with`, not acquire_nowait(): on older anyio releases the trio backend
            # lets trio's own WouldBlock escape, so the cheaper form broke there.
            if not limiter.available_tokens:
                launched()
            async with limiter:
                return await transport.request(
                    "GET", path, params=query, spacing=spacing, decode=_decode_runs
                )

        stream.prefetcher = Prefetcher(
            chain,
            fetch_page,
            _structure_runs,
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
        self._live[deployment_id] = stream
        if not stream.prefetcher.start():
            if transport.closed:
                msg = "this QoderClient is closed: create a new QoderClient to send requests"
                raise ClientClosedError(msg)
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

    def _task_group(self) -> Spawner | None:
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
