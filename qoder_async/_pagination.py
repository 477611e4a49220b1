"""Pager[T]: cursor pagination that fetches page n+1 while the caller consumes page n.

How prefetch stays safe (the code below keeps each of these):
- One request per chain. The cursor chain is serial (page n+1's cursor is known only once
  page n has arrived), so at most one request per pager is ever in flight. The chain is
  advanced from the page's raw JSON (`_chain.read_head`), so that request can go out before
  page n is structured; the same reading drops ids already passed on (no duplicates) and
  counts toward `max_items`, forward or backward alike.
- Our own decode hides behind the network. A page that has arrived is structured only once
  the next request is on its way: when the transport reports it sent (`_launch.on_launch`:
  httpcore's trace once the request is written, at once for in-process transports, or when
  it is parked behind a limit or a back-off), or at once when no request follows now.
  A consumer seen coming back before the request fetched ahead was sent (one that computes
  without awaiting) gets each later page only once that request is on its way.
- Bounded. Pages fetched and not handed out never exceed `prefetch`, except that a consumer
  already waiting is owed the page about to arrive, so the request after it may go out too:
  at most `prefetch + 1` pages are held, the consumer's one included.
- Tasks end rather than wait. A prefetch task fetches while it may and then *ends*: no task
  ever waits on the consumer. A caller who walks away from a bare `async for` leaves behind
  at most one request that finishes (or times out) on its own, and nothing else; inside
  `async with pager:` (or after `aclose()`) that request is cancelled at once. A task
  cancelled from outside (its task group closing) still structures the page it holds, so
  nothing fetched is lost, and the pager then fetches in place.
- Errors are values. An exception from fetching or structuring a page takes that page's
  place in the buffer and is raised as itself (never in an ExceptionGroup) when that page
  is asked for, after every item before it. A page that cannot be structured ends the
  listing: the request already sent past it is cancelled. A PaginationError (a server that
  cannot go on) comes only after the items the server did send.
- Where tasks run: the pager's own task group under `async with pager:`, else the client's
  (its `async with` block, or its background host when used without one, see `_taskgroup`).
  With `prefetch=0`, or with nowhere to run a task, the pager fetches each page when it is
  asked for and structures it in place, before advancing the chain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import anyio
import attrs

from qoder_async._chain import Chain
from qoder_async._models import Page
from qoder_async._prefetch import Prefetcher
from qoder_async._taskgroup import HelperTaskGroup

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
    from types import TracebackType

    from typing_extensions import Self

    from qoder_async._prefetch import Query
    from qoder_async._taskgroup import Spawner

__all__ = ["Pager"]


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_HasId)


class Pager(Generic[T]):
    """An auto-paginating listing: `async for` yields items across pages.

    `pages()` yields whole `Page[T]` objects, `await pager` gives just the first page, and
    `async with pager:` scopes the background fetching so that leaving the block cancels it
    at once. The request for the next page runs while the caller consumes the current one
    (`prefetch` pages ahead, default 1; 0 turns it off), holding at most `prefetch + 1` pages;
    it goes out before the current page is even structured, so decoding overlaps with the
    network too. `max_items` caps the total number of items. A pager is consumed once.

    Forward it follows the server's opaque `next_page` as `page=` (as the official SDKs
    do, spec 7.4), and `after_id=<last_id>` only on pages without one. Started with
    `before_id`, it pages backward (toward newer records) and yields items in that
    direction, nearest to the cursor first.

    No item id is yielded twice in one listing, by `async for` or `pages()`: a page that
    overlaps earlier ones (what an offset shift on the server produces when records come
    or go between requests) has its repeats dropped, with a WARNING on the `qoder_async`
    logger, and the listing goes on. Repeats are looked for among the latest 10,000 ids
    (two pages, if pages are larger), so memory stays flat over any length of listing.
    `max_items` counts the items delivered.

    `resume_cursor` is the id of the last item handed out: pass it as `after_id` (or
    `before_id` when paging backward) to a new listing with the same filters to continue
    exactly after it. It is an item id rather than a page token because only an id can
    resume in the middle of a page, and an id does not expire as a page token may.

    Raises the API's errors as themselves when the page that failed is asked for (items
    already delivered stay delivered), ResponseValidationError likewise for a page that
    cannot be read (which ends the listing), and PaginationError (with `resume_cursor`) once
    the items the server did send are delivered, if it cannot go on: a repeated cursor,
    `has_more` on an empty page, or `has_more` with no cursor at all.
    """

    def __init__(
        self,
        fetch: Callable[[Query], Awaitable[object]],
        params: Mapping[str, str],
        *,
        structure: Callable[[object], Page[T]],
        limit: int | None = None,
        max_items: int | None = None,
        prefetch: int = 1,
        task_group: Callable[[], Spawner | None] = lambda: None,
        path: str | None = None,
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
        self._path = path
        self._limit = limit
        self._prefetch = prefetch
        self._max_items = max_items
        self._delivered = 0
        self._handed = 0
        self._resume_cursor = self._chain.resume_cursor
        self._client_task_group = task_group
        self._helpers = HelperTaskGroup()
        self._prefetcher = Prefetcher(
            self._chain, fetch, structure, prefetch, self._pick_task_group
        )
        self._first: Page[T] | None = None
        self._first_pending = False
        self._started = False
        self._state = "new"

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

    def __repr__(self) -> str:
        # The query and progress only: the PAT lives in the transport, never here.
        parts = [] if self._path is None else [f"path={self._path!r}"]
        if self._chain.base:
            parts.append(f"filters={self._chain.base!r}")
        if self._limit is not None:
            parts.append(f"limit={self._limit}")
        if self._max_items is not None:
            parts.append(f"max_items={self._max_items}")
        if self.backward:
            parts.append("backward=True")
        parts += [
            f"prefetch={self._prefetch}",
            f"delivered={self._handed}",
            f"resume_cursor={self._resume_cursor!r}",
            f"state={self._state!r}",
        ]
        return f"Pager({', '.join(parts)})"

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
        self._close()
        await self._helpers.__aexit__(exc_type, exc, tb)

    async def aclose(self) -> None:
        """Stop the listing: cancel the in-flight request and drop buffered pages; idempotent."""
        self._close()
        await anyio.lowlevel.checkpoint()

    def _close(self) -> None:
        self._prefetcher.close()
        if self._state in ("new", "open"):
            self._state = "closed"

    def _pick_task_group(self) -> Spawner | None:
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
            if self._state == "new":
                self._state = "open"
            try:
                page = await self._prefetcher.next_page()
            except Exception:
                self._state = "failed"
                raise
        if page is None:
            if self._state == "open":
                self._state = "closed" if self._prefetcher.closed else "exhausted"
            return None
        data = page.data[::-1] if self._chain.backward else page.data
        if self._max_items is not None and len(data) > self._max_items - self._delivered:
            data = data[: self._max_items - self._delivered]
        self._delivered += len(data)
        return attrs.evolve(page, data=data) if data is not page.data else page

    def _handed_out(self, item: T, count: int) -> None:
        self._resume_cursor = item.id
        self._handed += count


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
            self._pager._handed_out(page.data[-1], len(page.data))
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
        # Inlined `_handed_out`: this runs once per item.
        pager = self._pager
        pager._resume_cursor = item.id
        pager._handed += 1
        return item
