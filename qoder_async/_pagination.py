"""Pager[T]: cursor pagination that fetches page n+1 while the caller consumes page n.

How prefetch stays safe. The cursor chain is serial (page n+1's cursor is known only once
page n has arrived), so at most one request per pager is ever in flight. It runs in a
short-lived task that fetches until `prefetch` pages are buffered and then *ends*: no task
ever waits on the consumer. A caller who walks away from a bare `async for` therefore leaves
behind at most one request that finishes (or times out) on its own, and nothing else; inside
`async with pager:` (or after `aclose()`) that request is cancelled at once. The task runs in
the pager's own task group under `async with`, else in the client's (see QoderClient), and
without either the pager simply fetches each page when it is asked for.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import anyio
import attrs

from qoder_async._errors import PaginationError
from qoder_async._models import Page
from qoder_async._taskgroup import HelperTaskGroup
from qoder_async._transport import on_launch

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
    from types import TracebackType

    from anyio.abc import TaskGroup
    from typing_extensions import Self

__all__ = ["CURSOR_PARAMS", "DEFAULT_PAGE_SIZE", "Chain", "Pager", "Prefetcher"]


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_HasId)

log = logging.getLogger("qoder_async")

# Spec 2.3: `page` is the opaque cursor; `after_id`/`before_id` the compatibility ones.
CURSOR_PARAMS = ("after_id", "before_id", "page")
# The server's default page size (spec 3.1); needed to size the last request under max_items.
# It must stay <= 100, the GET /deployments ceiling we keep to (spec 7.5).
DEFAULT_PAGE_SIZE = 20


@attrs.define
class _Failure:
    """An exception raised while fetching, delivered to the consumer to re-raise as itself."""

    error: Exception


class Chain(Generic[T]):
    """The cursor chain: which request comes next, and whether the listing has ended.

    Forward it follows `page=<next_page>` whenever the server gave one and falls back to
    `after_id=<last_id>` only when it did not; backward it sends `before_id=<first_id>`
    (spec 7.4). A fault found on a page (has_more with no cursor, an empty page, a repeated
    cursor) does not end the chain at once: the page is still passed on, and the next
    `next_request` raises the PaginationError, so the consumer first gets every item the
    server did send.
    """

    def __init__(self, params: Mapping[str, str], *, limit: int | None, max_items: int | None):
        given = [key for key in CURSOR_PARAMS if key in params]
        if len(given) > 1:
            msg = f"pass at most one cursor, got {' and '.join(given)}"
            raise ValueError(msg)
        self.cursor_key = given[0] if given else "after_id"
        self.cursor: str | None = params[given[0]] if given else None
        self.backward = self.cursor_key == "before_id"
        self.base = {key: value for key, value in params.items() if key not in CURSOR_PARAMS}
        self.limit = limit
        self.remaining = max_items
        self.done = max_items == 0
        # The id of the last item passed on, in delivery order: after_id (before_id when
        # backward) resumes exactly after it, which a page token cannot do mid-page.
        self.resume_cursor = self.cursor if self.cursor_key != "page" else None
        self._failure: PaginationError | None = None
        self._cursors: set[str] = set()
        # Every id passed on so far: one set per listing, so that no id is passed twice.
        self._ids: set[str] = set()

    def next_request(self) -> dict[str, str]:
        """The query for the next page: the filters plus exactly one cursor.

        Raises the PaginationError found on the previous page, if any (and ends the chain).
        """
        if self._failure is not None:
            self.done = True
            raise self._failure
        params = dict(self.base)
        if self.cursor is not None:
            params[self.cursor_key] = self.cursor
        if self.remaining is not None:
            # The last request asks only for what is still wanted.
            params["limit"] = str(min(self.limit or DEFAULT_PAGE_SIZE, self.remaining))
        elif self.limit is not None:
            params["limit"] = str(self.limit)
        return params

    def advance(self, page: Page[T]) -> Page[T]:
        """Move past `page` and return it without the items already passed on.

        Ends the chain after the last page; a page that cannot be followed makes the next
        `next_request` raise PaginationError.
        """
        fresh = self._drop_seen(page)
        data = fresh.data
        if data:
            self.resume_cursor = (data[0] if self.backward else data[-1]).id
        if self.remaining is not None:
            self.remaining = max(0, self.remaining - len(data))
            if self.remaining == 0:
                self.done = True
                return fresh
        if self.backward:
            # Spec 2.3: next_page only moves forward; backward there is only has_more.
            more = page.has_more is True
            key, cursor = "before_id", page.first_id
        else:
            # Spec 7.4: both SDKs keep paging on a next_page even when has_more is absent.
            more = page.has_more is True or (page.has_more is None and bool(page.next_page))
            if page.next_page:
                key, cursor = "page", page.next_page
            else:
                # Older copies of the docs have no next_page: after_id=last_id (spec 2.3).
                key, cursor = "after_id", page.last_id
        if not more:
            self.done = True
        elif not page.data:
            self._fail(
                "the server said has_more but sent an empty page; stopping instead of looping"
            )
        elif not cursor:
            # Spec 7.4: has_more with no usable cursor is a server fault, not the end.
            self._fail("the server said has_more but gave no cursor to continue from")
        elif cursor in self._cursors or cursor == self.cursor:
            self._fail(f"the server repeated the cursor {cursor!r}; stopping instead of looping")
        else:
            self._cursors.add(cursor)
            self.cursor_key, self.cursor = key, cursor
        return fresh

    def _drop_seen(self, page: Page[T]) -> Page[T]:
        seen = self._ids
        ids = [item.id for item in page.data]
        if seen.isdisjoint(ids):
            before = len(seen)
            seen.update(ids)
            if len(seen) - before == len(ids):
                return page  # the usual case: nothing repeated, the page goes on as is
            seen.difference_update(ids)  # an id repeated within the page: sort it out below
        # A page overlapping earlier ones is what an offset shift on the server produces
        # (records added or removed between two requests): drop the repeats and go on.
        kept: list[T] = []
        dropped: list[str] = []
        for item in page.data:
            if item.id in seen:
                dropped.append(item.id)
            else:
                seen.add(item.id)
                kept.append(item)
        log.warning(
            "the server sent %d item(s) already listed (ids %s); dropped them so that no "
            "item is yielded twice",
            len(dropped),
            ", ".join(dropped[:5]) + (", ..." if len(dropped) > 5 else ""),
        )
        return attrs.evolve(page, data=tuple(kept))

    def _fail(self, reason: str) -> None:
        where = "" if self.resume_cursor is None else f" (resume after {self.resume_cursor!r})"
        self._failure = PaginationError(reason + where, resume_cursor=self.resume_cursor)


class Prefetcher(Generic[T]):
    """Buffers up to `depth` pages fetched ahead of the consumer by short-lived tasks."""

    def __init__(
        self,
        chain: Chain[T],
        fetch: Callable[[dict[str, str]], Awaitable[Page[T]]],
        depth: int,
        task_group: Callable[[], TaskGroup | None],
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
        self._depth = depth
        self._task_group = task_group
        self._buffer: deque[Page[T] | _Failure] = deque()
        self._running = False
        self._failed = False
        self._closed = False
        # Set once a prefetch task was cancelled from outside (its task group is closing):
        # from then on pages are fetched in place rather than in a dying task group.
        self._inline_only = False
        self._scope: anyio.CancelScope | None = None
        self._waiter: anyio.Event | None = None
        # Set once the prefetch task's request is on the wire (or can go no further).
        self._launched: anyio.Event | None = None
        # The launch that was pending when the last page was handed out, and whether a
        # consumer was ever seen to come back before such a launch happened (see next_page).
        self._pending_launch: anyio.Event | None = None
        self._consumer_starves = pace_sends

    async def next_page(self) -> Page[T] | None:
        """The next page, or None once the listing is exhausted; re-raises fetch errors."""
        if self._pending_launch is not None:
            if not self._pending_launch.is_set():
                # The caller came back before the request fetched ahead was even sent: it
                # computes without awaiting. From now on pages wait for that send.
                self._consumer_starves = True
            self._pending_launch = None
        while not self._buffer:
            if self._closed or (self._chain.done and not self._running):
                return None
            if not self._running and not self._start():
                # No task group to prefetch in (or it is shutting down): fetch in place.
                return await self.fetch_inline()
            waiter = self._waiter = anyio.Event()
            await waiter.wait()
        item = self._buffer.popleft()
        if isinstance(item, _Failure):
            self._closed = True
            raise item.error
        if self._eager and not self._running:
            self._start()
        launched = self._launched
        if launched is not None:
            if self._consumer_starves:
                # Hand this page out only once the request fetched ahead is on its way, or a
                # consumer that computes without awaiting would hold it back until it asks
                # for the next page. Not done for consumers that await (the usual case):
                # for them sending overlaps with their work and waiting would only add it.
                await launched.wait()
            else:
                self._pending_launch = launched
        return item

    @property
    def has_page(self) -> bool:
        """Whether `next_page` would return (or raise) without waiting."""
        return bool(self._buffer)

    @property
    def finished(self) -> bool:
        """Whether no page will ever come again (exhausted, failed and consumed, or closed)."""
        return not self._buffer and (self._closed or (self._chain.done and not self._running))

    def start(self) -> bool:
        """Start fetching ahead now, if possible; False when there is nothing to start."""
        return not self._running and self._start()

    def close(self) -> None:
        """Cancel the in-flight request, if any, and drop the buffer; idempotent."""
        self._closed = True
        self._mark_launched()
        self._buffer.clear()
        if self._scope is not None:
            self._scope.cancel()

    async def fetch_inline(self) -> Page[T] | None:
        """Fetch the next page in the calling task, or None if the chain has ended."""
        if self._chain.done:
            return None
        page = await self._fetch(self._chain.next_request())
        return self._chain.advance(page)

    def _start(self) -> bool:
        if self._closed or self._failed or self._inline_only or self._chain.done:
            return False
        if self._depth == 0 or len(self._buffer) >= self._depth:
            return False
        task_group = self._task_group()
        if task_group is None:
            return False
        self._scope = anyio.CancelScope()
        self._launched = anyio.Event()
        self._running = True
        try:
            task_group.start_soon(self._run, self._scope)
        except RuntimeError:
            # The task group has closed (the client is shutting down).
            self._running = False
            return False
        return True

    async def _run(self, scope: anyio.CancelScope) -> None:
        on_launch.set(self._mark_launched)  # this task's own context: its requests only
        try:
            with scope:
                while not self._chain.done and len(self._buffer) < self._depth:
                    if self._launched is None:
                        self._launched = anyio.Event()
                    try:
                        page = await self._fetch(self._chain.next_request())
                        page = self._chain.advance(page)
                    except Exception as exc:
                        # Not raised here: the consumer re-raises it as itself when it asks
                        # for this page, so it never surfaces wrapped in an ExceptionGroup.
                        self._failed = True
                        self._buffer.append(_Failure(exc))
                        return
                    if self._closed:
                        return
                    self._buffer.append(page)
                    self._wake()
        except BaseException:
            self._inline_only = True
            raise
        finally:
            self._running = False
            self._mark_launched()
            self._wake()

    def _mark_launched(self) -> None:
        if self._launched is not None:
            self._launched.set()
            self._launched = None

    def _wake(self) -> None:
        if self._waiter is not None:
            self._waiter.set()
            self._waiter = None
        if self._on_change is not None:
            self._on_change()


class Pager(Generic[T]):
    """An auto-paginating listing: `async for` yields items across pages.

    `pages()` yields whole `Page[T]` objects, `await pager` gives just the first page, and
    `async with pager:` scopes the background fetching so that leaving the block cancels it
    at once. The request for the next page runs while the caller consumes the current one
    (`prefetch` pages ahead, default 1; 0 turns it off), holding at most `prefetch + 1` pages.
    `max_items` caps the total number of items. A pager is consumed once.

    Forward it follows the server's opaque `next_page` as `page=` (as the official SDKs
    do, spec 7.4), and `after_id=<last_id>` only on pages without one. Started with
    `before_id`, it pages backward (toward newer records) and yields items in that
    direction, nearest to the cursor first.

    No item id is yielded twice in one listing, by `async for` or `pages()`: a page that
    overlaps earlier ones (what an offset shift on the server produces when records come
    or go between requests) has its repeats dropped, with a WARNING on the `qoder_async`
    logger, and the listing goes on. `max_items` counts the items delivered.

    `resume_cursor` is the id of the last item handed out: pass it as `after_id` (or
    `before_id` when paging backward) to a new listing with the same filters to continue
    exactly after it. It is an item id rather than a page token because only an id can
    resume in the middle of a page, and an id does not expire as a page token may.

    Raises the API's errors as themselves when the page that failed is asked for (items
    already delivered stay delivered), and PaginationError (with `resume_cursor`) once the
    items the server did send are delivered, if it cannot go on: a repeated cursor,
    `has_more` on an empty page, or `has_more` with no cursor at all.
    """

    def __init__(
        self,
        fetch: Callable[[dict[str, str]], Awaitable[Page[T]]],
        params: Mapping[str, str],
        *,
        limit: int | None = None,
        max_items: int | None = None,
        prefetch: int = 1,
        task_group: Callable[[], TaskGroup | None] = lambda: None,
    ) -> None:
        if isinstance(prefetch, bool) or not isinstance(prefetch, int):
            msg = f"prefetch must be an int, got {type(prefetch).__name__}"
            raise TypeError(msg)
        if prefetch < 0:
            msg = f"prefetch must be >= 0, got {prefetch}"
            raise ValueError(msg)
        if max_items is not None:
            if isinstance(max_items, bool) or not isinstance(max_items, int):
                msg = f"max_items must be an int or None, got {type(max_items).__name__}"
                raise TypeError(msg)
            if max_items < 0:
                msg = f"max_items must be >= 0, got {max_items}"
                raise ValueError(msg)
        self._chain: Chain[T] = Chain(params, limit=limit, max_items=max_items)
        self._max_items = max_items
        self._delivered = 0
        self._resume_cursor = self._chain.resume_cursor
        self._client_task_group = task_group
        self._helpers = HelperTaskGroup()
        self._prefetcher = Prefetcher(self._chain, fetch, prefetch, self._pick_task_group)
        self._first: Page[T] | None = None
        self._first_pending = False
        self._started = False

    @property
    def resume_cursor(self) -> str | None:
        """The id of the last item handed out, for `after_id` (`before_id` if backward).

        Before any item: the starting `after_id`/`before_id`, or None (a listing started
        from a `page` token resumes from that same token).
        """
        return self._resume_cursor

    @property
    def backward(self) -> bool:
        """Whether this pager walks backward (it was started with `before_id`)."""
        return self._chain.backward

    def __aiter__(self) -> _ItemIterator[T]:
        self._claim()
        return _ItemIterator(self)

    def pages(self) -> AsyncIterator[Page[T]]:
        """Iterate over whole pages; with max_items, the last page is cut to fit."""
        self._claim()
        return _PageIterator(self)

    def __await__(self) -> Generator[object, None, Page[T]]:
        return self._first_page().__await__()

    async def __aenter__(self) -> Self:
        await self._helpers.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._prefetcher.close()
        await self._helpers.__aexit__(exc_type, exc, tb)

    async def aclose(self) -> None:
        """Stop the listing: cancel the in-flight request and drop buffered pages; idempotent."""
        self._prefetcher.close()
        await anyio.lowlevel.checkpoint()

    def _pick_task_group(self) -> TaskGroup | None:
        return self._helpers.group or self._client_task_group()

    def _claim(self) -> None:
        if self._started:
            msg = "a Pager can be iterated only once; call the list method again for a new one"
            raise RuntimeError(msg)
        self._started = True

    async def _first_page(self) -> Page[T]:
        if self._first is None:
            if self._started:
                msg = "await the Pager before iterating it, not after"
                raise RuntimeError(msg)
            page = await self._prefetcher.fetch_inline()
            self._first = page if page is not None else Page(data=())
            self._first_pending = True
        return self._first

    async def _next_page(self) -> Page[T] | None:
        page: Page[T] | None
        if self._first_pending:
            # A page already shown by `await pager` starts the iteration.
            page, self._first_pending = self._first, False
        else:
            page = await self._prefetcher.next_page()
        if page is None:
            return None
        data = page.data[::-1] if self._chain.backward else page.data
        if self._max_items is not None and len(data) > self._max_items - self._delivered:
            data = data[: self._max_items - self._delivered]
        self._delivered += len(data)
        return attrs.evolve(page, data=data) if data is not page.data else page

    def _handed_out(self, item: T) -> None:
        self._resume_cursor = item.id


class _PageIterator(Generic[T]):
    """Yields the pages of a Pager (in delivery order for backward pagers)."""

    def __init__(self, pager: Pager[T]) -> None:
        self._pager = pager

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Page[T]:
        page = await self._pager._next_page()
        if page is None:
            raise StopAsyncIteration
        if page.data:
            self._pager._handed_out(page.data[-1])
        return page


class _ItemIterator(Generic[T]):
    """Yields the items of a Pager, one page at a time; no await between items of a page."""

    def __init__(self, pager: Pager[T]) -> None:
        self._pager = pager
        self._items: tuple[T, ...] = ()
        self._index = 0

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        while self._index >= len(self._items):
            page = await self._pager._next_page()
            if page is None:
                raise StopAsyncIteration
            self._items, self._index = page.data, 0
        item = self._items[self._index]
        self._index += 1
        self._pager._handed_out(item)
        return item
