"""Prefetcher: the pages of one cursor chain, fetched ahead of the consumer by short-lived tasks.

It keeps the invariants stated in `_pagination`'s docstring ("How prefetch stays safe"), for
a Pager and for each stream of a fan-out alike.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import anyio
import attrs

from qoder_async._chain import Chain, PageHead, head_of, read_head
from qoder_async._launch import on_launch, source_limiter

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from qoder_async._models import Page
    from qoder_async._taskgroup import Spawner

__all__ = ["Prefetcher", "Query"]


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_HasId)

Query = dict[str, str]


class _Failure:
    """An exception raised while fetching or structuring, re-raised to the consumer as itself."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


class _Fetched(Generic[T]):
    """A page the chain has moved past, still to be structured."""

    __slots__ = ("keep", "query", "raw")

    def __init__(self, query: Query, raw: object, keep: list[int] | None) -> None:
        self.query = query
        self.raw = raw
        self.keep = keep


def _kept(page: Page[T], keep: list[int] | None) -> Page[T]:
    """`page` with only the items at `keep` (None: all of them)."""
    if keep is None:
        return page
    data = page.data
    return attrs.evolve(page, data=tuple([data[index] for index in keep]))


class Prefetcher(Generic[T]):
    """Buffers up to `depth` pages fetched ahead of the consumer by short-lived tasks.

    `fetch(query)` returns a page's decoded JSON and `structure(raw)` the `Page[T]` (or
    raises ResponseValidationError). `query` is the query of the page last handed out.
    """

    def __init__(
        self,
        chain: Chain[T],
        fetch: Callable[[Query], Awaitable[object]],
        structure: Callable[[object], Page[T]],
        depth: int,
        task_group: Callable[[], Spawner | None],
        on_change: Callable[[], None] | None = None,
        *,
        eager: bool = True,
        pace_sends: bool = False,
    ) -> None:
        self._chain = chain
        self._on_change = on_change
        # Eager: the next fetch starts whenever a page is taken. A merge starts it itself,
        # only for the streams it is actually reading (see _fanout).
        self._eager = eager
        self._fetch = fetch
        self._structure = structure
        self._depth = depth
        self._task_group = task_group
        # Each entry: the query that fetched it (None for a PaginationError) and the page.
        self._buffer: deque[tuple[Query | None, Page[T] | _Failure]] = deque()
        self._unsettled: _Fetched[T] | None = None
        self._running = False
        self._failed = False
        self._closed = False
        # Set once a prefetch task was cancelled from outside (its task group is closing):
        # from then on pages are fetched in place rather than in a dying task group.
        self._inline_only = False
        self._scope: anyio.CancelScope | None = None
        self._waiter: anyio.Event | None = None
        # Whether a request is about to be sent and has not said so yet; `_sends` counts
        # those that did (plain values: an Event per page costs more than it saves).
        self._unsent = False
        self._sends = 0
        self._send_waiter: anyio.Event | None = None
        # `_sends` when a page was handed out before its successor's request was sent, and
        # whether a consumer was ever seen to come back before such a send (see next_page).
        self._handed_before_send: int | None = None
        self._consumer_starves = pace_sends
        self.query: Query | None = None
        self._resume_query: Query | None = None

    async def next_page(self) -> Page[T] | None:
        """The next page, or None once the listing is exhausted; re-raises fetch errors."""
        if self._handed_before_send is not None:
            if self._sends == self._handed_before_send:
                # The caller came back before the request fetched ahead was even sent: it
                # computes without awaiting. From now on pages wait for that send.
                self._consumer_starves = True
            self._handed_before_send = None
        while not self._buffer:
            if self._closed or (self._chain.done and not self._running):
                return None
            if not self._running and not self._start():
                # No task group to prefetch in (or it is shutting down): fetch in place.
                return await self.fetch_inline()
            waiter = self._waiter = anyio.Event()
            await waiter.wait()
        query, item = self._buffer.popleft()
        self.query = query
        if isinstance(item, _Failure):
            self.close()  # cancels a request sent past a page that could not be structured
            self._resume_query = query  # that page is where a new listing would retry
            raise item.error
        if self._eager and not self._running:
            self._start()
        if self._unsent:
            if self._consumer_starves:
                # Hand this page out only once the request fetched ahead is on its way, or a
                # consumer that computes without awaiting would hold it back until it asks
                # for the next page. Not done for consumers that await (the usual case):
                # for them sending overlaps with their work and waiting would only add it.
                waiter = self._send_waiter = anyio.Event()
                await waiter.wait()
            else:
                self._handed_before_send = self._sends
        return item

    @property
    def has_page(self) -> bool:
        """Whether `next_page` would return (or raise) without waiting."""
        return bool(self._buffer)

    @property
    def finished(self) -> bool:
        """Whether no page will ever come again (exhausted, failed and consumed, or closed)."""
        return not self._buffer and (self._closed or (self._chain.done and not self._running))

    @property
    def closed(self) -> bool:
        """Whether `close()` was called (or a failure was raised to the consumer)."""
        return self._closed

    def resume_query(self) -> Query | None:
        """The query of the first page not handed out whose request was made, if any.

        A page buffered, waiting to be structured, or failed (after its failure was raised);
        None when there is none, and the chain's next request is the one to resume from.
        """
        if self._closed:
            return self._resume_query
        if self._buffer:
            return self._buffer[0][0]
        if self._unsettled is not None:
            return self._unsettled.query
        return None

    def start(self) -> bool:
        """Start fetching ahead now, if possible; False when there is nothing to start."""
        return not self._running and self._start()

    def close(self) -> None:
        """Cancel the in-flight request, if any, and drop the buffer; idempotent."""
        if not self._closed:
            self._resume_query = self.resume_query()
            self._closed = True
        self._mark_sent()
        self._buffer.clear()
        self._unsettled = None
        if self._scope is not None:
            self._scope.cancel()

    async def fetch_inline(self) -> Page[T] | None:
        """Fetch the next page in the calling task, or None if the chain has ended."""
        if self._chain.done:
            return None
        query = self._chain.next_request()
        self.query = query
        raw = await self._fetch(query)
        # Nothing to overlap with here: structured first, so that a page that cannot be
        # structured leaves the chain where it was (asking again asks for it again).
        page = self._structure(raw)
        return _kept(page, self._chain.advance(head_of(page)))

    def _may_fetch(self) -> bool:
        if self._closed or self._failed or self._chain.done:
            return False
        held = len(self._buffer) + (self._unsettled is not None)
        # A waiting consumer takes the next page at once: it does not count as held.
        return held < self._depth + (self._waiter is not None)

    def _start(self) -> bool:
        if self._inline_only or self._depth == 0 or not self._may_fetch():
            return False
        task_group = self._task_group()
        if task_group is None:
            return False
        scope = self._scope = anyio.CancelScope()
        self._running = True
        self._unsent = True
        try:
            # The fan-out limiter of a source being read now goes with the task explicitly:
            # whether a spawned task sees its spawner's context differs between anyio and
            # trio releases (it did not on anyio 4.2 or trio 0.27).
            task_group.start_soon(self._run, scope, source_limiter.get())
        except RuntimeError:
            # The task group has closed (the client is shutting down).
            self._running = False
            self._unsent = False
            return False
        return True

    async def _run(self, scope: anyio.CancelScope, limiter: anyio.CapacityLimiter | None) -> None:
        on_launch.set(self._sent)  # this task's own context: its requests only
        source_limiter.set(limiter)
        try:
            with scope:
                while self._may_fetch():
                    query: Query | None = None
                    try:
                        query = self._chain.next_request()
                        self._unsent = True
                        raw = await self._fetch(query)
                        if self._closed:
                            return
                        self._settle()  # in case the request never said it was sent
                        self._unsettled = self._advance(query, raw)
                    except Exception as exc:
                        # Not raised here: the consumer re-raises it as itself when it asks
                        # for this page, so it never surfaces wrapped in an ExceptionGroup.
                        self._settle()
                        self._fail(query, exc)
                        return
                self._settle()
        except BaseException:
            self._inline_only = True
            raise
        finally:
            self._running = False
            if not self._closed:
                self._settle()
            self._mark_sent()
            self._wake()

    def _advance(self, query: Query, raw: object) -> _Fetched[T] | None:
        """Move the chain past the page `raw`; what is left to do to hand it out.

        Read from the raw JSON when its head is plainly typed, the usual case; otherwise the
        page is structured now (raising ResponseValidationError with the chain unmoved).
        """
        head: PageHead | None = read_head(raw)
        if head is not None:
            return _Fetched(query, raw, self._chain.advance(head))
        page = self._structure(raw)
        self._buffer.append((query, _kept(page, self._chain.advance(head_of(page)))))
        self._wake()
        return None

    def _sent(self) -> None:
        """Called once this task's request is on its way: now structure the page before it."""
        self._settle()
        self._mark_sent()

    def _settle(self) -> None:
        fetched = self._unsettled
        if fetched is None:
            return
        self._unsettled = None
        try:
            page = _kept(self._structure(fetched.raw), fetched.keep)
        except Exception as exc:
            self._fail(fetched.query, exc)
            # Nothing past a page that cannot be read will be handed out: stop fetching it.
            if self._scope is not None:
                self._scope.cancel()
            return
        self._buffer.append((fetched.query, page))
        self._wake()

    def _fail(self, query: Query | None, error: Exception) -> None:
        self._failed = True
        self._buffer.append((query, _Failure(error)))
        self._wake()

    def _mark_sent(self) -> None:
        if self._unsent:
            self._unsent = False
            self._sends += 1
            if self._send_waiter is not None:
                self._send_waiter.set()
                self._send_waiter = None

    def _wake(self) -> None:
        if self._waiter is not None:
            self._waiter.set()
            self._waiter = None
        if self._on_change is not None:
            self._on_change()
