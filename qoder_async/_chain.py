"""The cursor chain of a listing, advanced from a page's raw JSON before the page is structured.

What the chain needs from a page is small: the item ids (for the no-duplicates filter and the
resume cursor) and four cursor fields. `read_head` takes them from the decoded JSON, so that
the next request can go on the wire before the page is structured (see `_pagination`). It
accepts only the plain JSON types the models have (a str id, a bool `has_more`, str or null
cursors); for anything else it gives None and the caller structures the page first and reads
the head from the model (`head_of`), so both readings always agree: the converter decides.
"""

from __future__ import annotations

import logging
from collections import deque
from operator import itemgetter
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Mapping

    from qoder_async._models import Page

from qoder_async._errors import PaginationError

__all__ = [
    "CURSOR_PARAMS",
    "DEFAULT_PAGE_SIZE",
    "SEEN_WINDOW",
    "Chain",
    "PageHead",
    "RawPage",
    "head_of",
    "read_head",
]

# How many of the latest ids a listing remembers to drop repeats (spec 7.4): 10,000 ids
# are about 1.2 MB, and cover an overlap of ten pages of 1000.
SEEN_WINDOW = 10_000


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

_get_id = itemgetter("id")


class PageHead:
    """A page's item ids and cursor fields: all the chain reads of it."""

    __slots__ = ("first_id", "has_more", "ids", "last_id", "next_page")

    def __init__(
        self,
        ids: list[str],
        *,
        has_more: bool | None,
        next_page: str | None,
        first_id: str | None,
        last_id: str | None,
    ) -> None:
        self.ids = ids
        self.has_more = has_more
        self.next_page = next_page
        self.first_id = first_id
        self.last_id = last_id


class RawPage:
    """A page's undecoded JSON body with its head already read (the msgspec fast path).

    The chain advances from `head` at once; the items are decoded from `body` only once
    the next request is on the wire, as the default path structures its decoded JSON.
    """

    __slots__ = ("body", "head")

    def __init__(self, body: bytes, head: PageHead) -> None:
        self.body = body
        self.head = head


def read_head(raw: object) -> PageHead | None:
    """The head of a page from its decoded JSON; None unless every field is plainly typed."""
    if raw.__class__ is RawPage:
        assert isinstance(raw, RawPage)  # noqa: S101 - for the type checker
        return raw.head
    if raw.__class__ is not dict:
        return None
    assert isinstance(raw, dict)  # noqa: S101 - for the type checker; checked just above
    data = raw.get("data")
    if data.__class__ is not list:
        return None
    try:
        # C-level loops: about 30 ns per item, against several µs to structure one.
        ids: list[str] = list(map(_get_id, data))
        kinds = set(map(type, ids))
    except (TypeError, KeyError, IndexError):
        return None
    if kinds and kinds != {str}:
        return None
    has_more = raw.get("has_more")
    next_page, first_id, last_id = raw.get("next_page"), raw.get("first_id"), raw.get("last_id")
    if has_more is not None and has_more.__class__ is not bool:
        return None
    for value in (next_page, first_id, last_id):
        if value is not None and value.__class__ is not str:
            return None
    return PageHead(ids, has_more=has_more, next_page=next_page, first_id=first_id, last_id=last_id)


def head_of(page: Page[T]) -> PageHead:
    """The head of a structured page."""
    return PageHead(
        [item.id for item in page.data],
        has_more=page.has_more,
        next_page=page.next_page,
        first_id=page.first_id,
        last_id=page.last_id,
    )


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
        # The ids passed on most recently (at least the last SEEN_WINDOW, and at least the
        # last two pages), in a set for lookups and a deque for their order. A window, not
        # every id: memory must stay flat over a million-item listing (bench_memory), and
        # the repeats an offset shift produces are the items just before the boundary.
        self._ids: set[str] = set()
        self._order: deque[str] = deque()
        self._window = SEEN_WINDOW

    @property
    def stuck(self) -> bool:
        """Whether the next `next_request` will raise PaginationError."""
        return self._failure is not None

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

    def advance(self, head: PageHead) -> list[int] | None:
        """Move past the page `head` describes; the indexes of its items to pass on.

        None means all of them (the usual case). Ends the chain after the last page; a page
        that cannot be followed makes the next `next_request` raise PaginationError.
        """
        keep = self._drop_seen(head.ids)
        passed = head.ids if keep is None else [head.ids[index] for index in keep]
        if passed:
            self.resume_cursor = passed[0] if self.backward else passed[-1]
        if self.remaining is not None:
            self.remaining = max(0, self.remaining - len(passed))
            if self.remaining == 0:
                self.done = True
                return keep
        if self.backward:
            # Spec 2.3: next_page only moves forward; backward there is only has_more.
            more = head.has_more is True
            key, cursor = "before_id", head.first_id
        else:
            # Spec 7.4: both SDKs keep paging on a next_page even when has_more is absent.
            more = head.has_more is True or (head.has_more is None and bool(head.next_page))
            if head.next_page:
                key, cursor = "page", head.next_page
            else:
                # Older copies of the docs have no next_page: after_id=last_id (spec 2.3).
                key, cursor = "after_id", head.last_id
        if not more:
            self.done = True
        elif not head.ids:
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
        return keep

    def _drop_seen(self, ids: list[str]) -> list[int] | None:
        seen = self._ids
        if seen.isdisjoint(ids):
            before = len(seen)
            seen.update(ids)
            if len(seen) - before == len(ids):
                self._remember(ids)
                return None  # the usual case: nothing repeated, the page goes on as is
            seen.difference_update(ids)  # an id repeated within the page: sort it out below
        # A page overlapping earlier ones is what an offset shift on the server produces
        # (records added between two requests push the ones just sent onto the next page):
        # drop the repeats and go on.
        kept: list[int] = []
        dropped: list[str] = []
        for index, item_id in enumerate(ids):
            if item_id in seen:
                dropped.append(item_id)
            else:
                seen.add(item_id)
                kept.append(index)
        self._remember([ids[index] for index in kept])
        log.warning(
            "the server sent %d item(s) already listed (ids %s); dropped them so that no "
            "item is yielded twice",
            len(dropped),
            ", ".join(dropped[:5]) + (", ..." if len(dropped) > 5 else ""),
        )
        return kept

    def _remember(self, ids: list[str]) -> None:
        """Note `ids` (already in the set) as passed on, forgetting the oldest past the window."""
        order = self._order
        order.extend(ids)
        # Two pages at the least, so a large page size never shrinks the window below one.
        window = max(self._window, 2 * len(ids))
        excess = len(order) - window
        if excess > 0:
            seen = self._ids
            for _ in range(excess):
                seen.discard(order.popleft())

    def _fail(self, reason: str) -> None:
        where = "" if self.resume_cursor is None else f" (resume after {self.resume_cursor!r})"
        self._failure = PaginationError(reason + where, resume_cursor=self.resume_cursor)
