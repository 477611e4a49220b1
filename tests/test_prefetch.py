"""Prefetcher: the next request goes out before the current page is structured, and stays safe.

The chain is advanced from the raw JSON; a page is structured once the request after it is
on its way. These tests watch that order (a structuring hook that reads a request counter),
and that a page which cannot be structured still surfaces, as itself, where it stands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest
from anyio import wait_all_tasks_blocked

from qoder_async import DeploymentRun, Page, QoderClient, ResponseValidationError, _resource
from qoder_async._chain import RawPage
from qoder_async._converter import ensure, fast_path_enabled, structure
from qoder_async._launch import launched
from qoder_async._pagination import Pager
from qoder_async.testing import FakeQoderAPI
from tests.helpers import deployment_with_runs, task_count

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.anyio


def _run_json(run_id: str, created_at: str = "2026-06-14T08:58:17Z") -> dict[str, object]:
    return {
        "id": run_id,
        "deployment_id": "dep_x",
        "agent": {"id": "agent_x", "version": 1},
        "trigger_context": {"type": "manual"},
        "created_at": created_at,
    }


def _pages(count: int, size: int) -> list[dict[str, Any]]:
    """`count` chained pages of `size` runs each, following `next_page` tokens."""
    pages = []
    for number in range(count):
        ids = [f"drun_{number:02d}{i:02d}" for i in range(size)]
        last = number == count - 1
        pages.append(
            {
                "data": [_run_json(run_id) for run_id in ids],
                "first_id": ids[0],
                "last_id": ids[-1],
                "has_more": not last,
                "next_page": None if last else f"t{number + 1}",
            }
        )
    return pages


class FakeWire:
    """A fetch function over canned pages that reports each request sent, and counts them."""

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.sent = 0
        self.hold: anyio.Event | None = None

    async def fetch(self, query: dict[str, str]) -> object:
        """Send one request: report it on the wire, then wait for its answer."""
        token = query.get("page")
        number = int(token[1:]) if token else 0
        self.sent += 1
        if self.hold is not None:
            await self.hold.wait()  # parked before it could be sent (say, for a connection)
        launched()  # as the transport does once the request is written
        # The answer comes once every other task is idle: a network slower than the caller.
        await wait_all_tasks_blocked()
        return self.pages[number]


def _recording(sent: Callable[[], int], log: list[tuple[str, int]]) -> Any:
    """A structuring function that notes, for each page, how many requests were sent."""

    def record(raw: object) -> Page[DeploymentRun]:
        page = structure(raw, Page[DeploymentRun])
        log.append((page.data[0].id if page.data else "", sent()))
        return page

    return record


async def test_the_next_request_is_sent_before_the_current_page_is_structured() -> None:
    """With a consumer waiting, page n is structured only after request n+1 went out."""
    wire = FakeWire(_pages(4, 3))
    log: list[tuple[str, int]] = []
    async with anyio.create_task_group() as group:
        pager: Pager[DeploymentRun] = Pager(
            wire.fetch,
            {},
            structure=_recording(lambda: wire.sent, log),
            task_group=lambda: group,
        )
        got = [run.id async for run in pager]
    assert got == [run["id"] for page in wire.pages for run in page["data"]]
    # Page k (1-based) was structured when k+1 requests had been sent; the last one, after
    # which no request follows, when all 4 had.
    assert log == [("drun_0000", 2), ("drun_0100", 3), ("drun_0200", 4), ("drun_0300", 4)]


async def test_a_consumer_busy_with_a_page_gets_the_next_one_structured_at_once() -> None:
    """When nobody waits, the page fetched ahead is structured at once and its task ends."""
    wire = FakeWire(_pages(3, 2))
    log: list[tuple[str, int]] = []
    async with anyio.create_task_group() as group:
        pager: Pager[DeploymentRun] = Pager(
            wire.fetch,
            {},
            structure=_recording(lambda: wire.sent, log),
            task_group=lambda: group,
        )
        pages = pager.pages()
        await pages.__anext__()
        while pager._prefetcher._running:  # the caller is busy: page 2 arrives meanwhile
            await wait_all_tasks_blocked()
        assert wire.sent == 2  # prefetch=1: one page ahead, no more
        assert log == [("drun_0000", 2), ("drun_0100", 2)]
        assert not pager._prefetcher._running
        assert [page.data[0].id async for page in pages] == ["drun_0100", "drun_0200"]


@pytest.mark.parametrize("fast", [False, True], ids=["default", "fast-path"])
async def test_over_http_page_n_is_structured_after_request_n_plus_1_is_written(
    monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    """Over loopback HTTP, httpcore's trace reports the send, and only then is a page structured."""
    if fast and not fast_path_enabled():
        pytest.skip("the fast path needs msgspec")
    api = FakeQoderAPI(pat="pt-test")
    deployment_id, ids = deployment_with_runs(api, 40)
    started = 0

    async def count(request: httpx.Request) -> None:
        nonlocal started
        started += 1

    log: list[tuple[str, int]] = []

    def recording(data: object, cls: Any) -> Any:
        # With the fast path the page arrives as a RawPage: only its head was read so far.
        assert isinstance(data, RawPage) is fast
        page = ensure(data, cls)
        log.append((page.data[0].id, started))
        return page

    if not fast:
        monkeypatch.setattr(_resource, "fast_page_reader", lambda cls: None)
    monkeypatch.setattr(_resource, "ensure", recording)
    async with (
        api.serve() as base_url,
        httpx.AsyncClient(event_hooks={"request": [count]}) as http,
        QoderClient(pat=api.pat, base_url=base_url, http_client=http) as client,
    ):
        pages = client.deployments.list_runs(deployment_id, limit=10).pages()
        first = await pages.__anext__()
        # Page 1 was structured while page 2's request was already written to the socket.
        assert log == [(ids[0], 2)]
        rest = [run.id async for page in pages for run in page.data]
    assert [run.id for run in first.data] + rest == ids
    assert [started for _, started in log] == [2, 3, 4, 4]


async def test_a_page_that_cannot_be_structured_fails_where_it_stands() -> None:
    """A bad page 2 raises ResponseValidationError after page 1; the request past it stops."""
    pages = _pages(4, 2)
    pages[1]["data"][1] = _run_json("drun_bad", created_at="yesterday")
    wire = FakeWire(pages)
    got: list[str] = []
    async with anyio.create_task_group() as group:
        before = task_count()
        pager: Pager[DeploymentRun] = Pager(
            wire.fetch, {}, structure=_page_of_runs, task_group=lambda: group
        )
        with pytest.raises(ResponseValidationError, match="shape"):
            async for run in pager:
                got.append(run.id)  # noqa: PERF401 - keeps what arrived before the error
        await wait_all_tasks_blocked()
        assert task_count() == before
    assert got == ["drun_0000", "drun_0001"]
    assert wire.sent <= 3  # page 3's request may have gone out; nothing after it
    assert pager._prefetcher.resume_query() == {"page": "t1"}  # where to retry from


@pytest.mark.parametrize(
    "bad",
    [
        {"has_more": "yes"},  # not a JSON boolean
        {"data": {"id": "drun_x"}},  # not a list
        {"data": [["drun_x"]]},  # an item that is not an object
    ],
    ids=["has-more-str", "data-object", "item-list"],
)
async def test_a_page_whose_cursor_cannot_be_read_fails_without_moving_on(
    bad: dict[str, object],
) -> None:
    """A page whose head is not plain JSON is structured first: it fails, and nothing follows."""
    pages = _pages(3, 2)
    pages[1].update(bad)
    wire = FakeWire(pages)
    got: list[str] = []
    async with anyio.create_task_group() as group:
        pager: Pager[DeploymentRun] = Pager(
            wire.fetch, {}, structure=_page_of_runs, task_group=lambda: group
        )
        with pytest.raises(ResponseValidationError):
            async for run in pager:
                got.append(run.id)  # noqa: PERF401 - keeps what arrived before the error
    assert got == ["drun_0000", "drun_0001"]
    assert wire.sent == 2


async def test_a_page_with_an_integer_id_is_refused_with_its_json_path() -> None:
    """A head the raw reading refuses (an integer id) fails as the converter says, with the path."""
    pages = _pages(2, 2)
    pages[0]["data"][0]["id"] = 7
    wire = FakeWire(pages)
    async with anyio.create_task_group() as group:
        pager: Pager[DeploymentRun] = Pager(
            wire.fetch, {}, structure=_page_of_runs, task_group=lambda: group
        )
        with pytest.raises(ResponseValidationError) as caught:
            [run.id async for run in pager]
    assert caught.value.json_path == "$.data[0].id"


async def test_a_cancelled_prefetch_loses_no_page_it_had_fetched() -> None:
    """A prefetch task cancelled from outside still hands over the page it had fetched."""
    wire = FakeWire(_pages(3, 2))

    async def host(*, task_status: anyio.abc.TaskStatus[anyio.abc.TaskGroup]) -> None:
        async with anyio.create_task_group() as group:
            task_status.started(group)
            await anyio.sleep_forever()

    unstructured: list[bool] = []
    async with anyio.create_task_group() as outer:
        group = await outer.start(host)
        pager: Pager[DeploymentRun] = Pager(
            wire.fetch, {}, structure=_page_of_runs, task_group=lambda: group
        )
        pages = pager.pages()
        first = await pages.__anext__()
        wire.hold = anyio.Event()

        async def cancel_while_parked() -> None:
            # Until page 2 has arrived and page 3's request is parked before it was sent.
            while wire.sent != 3:
                await wait_all_tasks_blocked()
            await wait_all_tasks_blocked()
            unstructured.append(pager._prefetcher._unsettled is not None)
            group.cancel_scope.cancel()
            assert wire.hold is not None
            wire.hold.set()

        outer.start_soon(cancel_while_parked)
        rest = [page async for page in pages]
        outer.cancel_scope.cancel()
    assert unstructured == [True]
    assert [run.id for page in (first, *rest) for run in page.data] == [
        f"drun_{number:02d}{i:02d}" for number in range(3) for i in range(2)
    ]


def _page_of_runs(raw: object) -> Page[DeploymentRun]:
    return structure(raw, Page[DeploymentRun])
