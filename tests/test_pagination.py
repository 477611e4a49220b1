"""Pager: items in order across pages, prefetch, cursors, max_items, resume and cleanup."""

from __future__ import annotations

import math
from typing import Any

import anyio
import httpx
import pytest
from anyio import wait_all_tasks_blocked
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qoder_async import (
    DeploymentRun,
    Page,
    PaginationError,
    QoderClient,
    ServerError,
)
from qoder_async._pagination import Pager
from qoder_async.testing import FakeQoderAPI, Fault
from tests.helpers import BASE_URL, connect, deployment_with_runs, hang_after, task_count

pytestmark = pytest.mark.anyio


def _runs_requests(api: FakeQoderAPI) -> list[dict[str, str]]:
    return [r.query for r in api.requests if r.path.endswith("/runs")]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    count=st.integers(min_value=0, max_value=45),
    limit=st.integers(min_value=1, max_value=12),
    prefetch=st.integers(min_value=0, max_value=3),
    backward=st.booleans(),
    start=st.integers(min_value=0, max_value=45),
    stop_after=st.none() | st.integers(min_value=1, max_value=45),
    max_items=st.none() | st.integers(min_value=0, max_value=45),
)
async def test_items_match_the_server_with_no_loss_or_duplicate(
    count: int,
    limit: int,
    prefetch: int,
    backward: bool,
    start: int,
    stop_after: int | None,
    max_items: int | None,
) -> None:
    """For any size, page size, prefetch, direction, cap and early exit, items are exact.

    Resuming from `resume_cursor` then delivers exactly the rest.
    """
    api = FakeQoderAPI(pat="pt-test", seed=count)
    deployment_id, ids = deployment_with_runs(api, count)
    cursor: dict[str, str] = {}
    expected = ids
    if count and start < count:
        # Forward from after_id=ids[start]; backward from before_id=ids[start] (newer first).
        if backward:
            cursor = {"before_id": ids[start]}
            expected = ids[:start][::-1]
        else:
            cursor = {"after_id": ids[start]}
            expected = ids[start + 1 :]
    if max_items is not None:
        expected = expected[:max_items]
    async with connect(api) as client:
        pager = client.deployments.list_runs(
            deployment_id,
            limit=limit,
            prefetch=prefetch,
            max_items=max_items,
            after_id=cursor.get("after_id"),
            before_id=cursor.get("before_id"),
        )
        got: list[str] = []
        async with pager:
            async for run in pager:
                got.append(run.id)
                if stop_after is not None and len(got) >= stop_after:
                    break
        cut = len(expected) if stop_after is None else min(stop_after, len(expected))
        assert got == expected[:cut]
        # Spec 7.4: after the first request, forward pages follow the fake's opaque
        # next_page as `page`; backward ones keep before_id=first_id.
        later = _runs_requests(api)[1:]
        assert all(("before_id" if backward and cursor else "page") in q for q in later)
        assert not any("after_id" in q for q in later)
        assert pager.resume_cursor == (
            got[-1] if got else cursor.get("after_id", cursor.get("before_id"))
        )

        # Resume where the first pager stopped: together they give the whole listing.
        rest: list[str] = []
        if max_items is None or cut < max_items:
            remaining = None if max_items is None else max_items - cut
            rest = [
                run.id
                async for run in client.deployments.list_runs(
                    deployment_id,
                    limit=limit,
                    prefetch=prefetch,
                    max_items=remaining,
                    after_id=None if pager.backward else pager.resume_cursor,
                    before_id=pager.resume_cursor if pager.backward else None,
                )
            ]
        assert got + rest == expected
        assert len(set(got + rest)) == len(got + rest)


async def test_next_page_is_requested_while_the_current_one_is_consumed() -> None:
    """With prefetch=1, page 2 is requested as soon as page 1 is handed out, not later."""
    api = FakeQoderAPI(pat="pt-test")
    deployment_id, _ = deployment_with_runs(api, 30)
    async with connect(api) as client:
        runs = client.deployments.list_runs(deployment_id, limit=10)
        async with runs:
            first = await runs.__aiter__().__anext__()
            assert isinstance(first, DeploymentRun)
            await wait_all_tasks_blocked()
            # Page 1 is in the caller's hands and page 2 has already been requested.
            assert len(_runs_requests(api)) == 2


async def test_a_caller_that_never_awaits_still_gets_the_next_request_sent() -> None:
    """Once a caller is seen computing without awaiting, pages wait for the next send.

    Over HTTP: page 2 is buffered and its fetching task has ended when the caller takes it
    and, without awaiting, asks for page 3 before page 3's request could even be sent.
    From then on a page is handed out only once the request fetched ahead is on the wire.
    """
    api = FakeQoderAPI(pat="pt-test")
    deployment_id, _ = deployment_with_runs(api, 50)
    hang_after(api, 3)  # pages 1 to 3 are answered; page 4 waits until cancelled
    async with (
        api.serve() as base_url,
        QoderClient(pat=api.pat, base_url=base_url) as client,
        client.deployments.list_runs(deployment_id, limit=10) as runs,
    ):
        pages = runs.pages()
        await pages.__anext__()
        await wait_all_tasks_blocked()
        prefetcher = runs._prefetcher
        assert prefetcher.has_page
        assert not prefetcher._running  # page 2 is buffered: nothing fetches ahead now
        await pages.__anext__()  # page 2: page 3's request is started, not yet sent
        assert not prefetcher._consumer_starves  # an awaiting caller is never made to wait
        assert prefetcher._unsent
        await pages.__anext__()  # page 3, asked for before page 3's request was sent
        assert prefetcher._consumer_starves
        # No await since page 3 arrived, yet httpcore reported page 4's request as sent
        # while that request still waits for its answer.
        assert prefetcher._running
        assert not prefetcher._unsent
        await wait_all_tasks_blocked()
        assert len(_runs_requests(api)) == 4
        assert api.in_flight == 1


@pytest.mark.parametrize(("prefetch", "requests"), [(0, 1), (1, 2), (2, 3), (3, 4)])
async def test_prefetch_depth_bounds_pages_fetched_ahead(prefetch: int, requests: int) -> None:
    """prefetch=N fetches at most N pages beyond the one being consumed, and 0 none."""
    api = FakeQoderAPI(pat="pt-test")
    deployment_id, _ = deployment_with_runs(api, 100)
    async with (
        connect(api) as client,
        client.deployments.list_runs(deployment_id, limit=10, prefetch=prefetch) as runs,
    ):
        iterator = runs.__aiter__()
        await iterator.__anext__()
        await wait_all_tasks_blocked()
        assert len(_runs_requests(api)) == requests
        assert len(runs._prefetcher._buffer) <= prefetch


async def test_no_request_after_the_last_page() -> None:
    """A listing that fits one page costs one request, prefetch or not."""
    api = FakeQoderAPI(pat="pt-test")
    deployment_id, ids = deployment_with_runs(api, 7)
    async with connect(api) as client:
        got = [run.id async for run in client.deployments.list_runs(deployment_id, limit=7)]
        await wait_all_tasks_blocked()
    assert got == ids
    assert len(_runs_requests(api)) == 1


async def test_max_items_asks_only_for_what_is_still_needed() -> None:
    """The last request under max_items asks for the remainder, and no request follows."""
    api = FakeQoderAPI(pat="pt-test")
    deployment_id, ids = deployment_with_runs(api, 50)
    async with connect(api) as client:
        got = [
            run.id
            async for run in client.deployments.list_runs(deployment_id, limit=10, max_items=23)
        ]
        await wait_all_tasks_blocked()
    assert got == ids[:23]
    assert [q["limit"] for q in _runs_requests(api)] == ["10", "10", "3"]


async def test_later_pages_keep_filters_and_policy() -> None:
    """Every page repeats the first request's filters, and one cursor only."""
    api = FakeQoderAPI(pat="pt-test")
    deployment_id, _ = deployment_with_runs(api, 25)
    async with connect(api) as client:
        got = [
            run
            async for run in client.deployments.list_runs(
                deployment_id, status="completed", limit=5
            )
        ]
    assert got
    queries = _runs_requests(api)
    assert len(queries) >= 2
    for query in queries:
        assert query["status"] == "completed"
        assert sum(key in query for key in ("after_id", "before_id", "page")) <= 1


async def test_later_pages_keep_the_retry_policy() -> None:
    """A pager made through with_options(max_retries=0) does not retry its later pages."""
    api = FakeQoderAPI(pat="pt-test")
    deployment_id, _ = deployment_with_runs(api, 20)
    async with connect(api, max_retries=3) as client:
        strict = client.with_options(max_retries=0)
        runs = strict.deployments.list_runs(deployment_id, limit=10, prefetch=0)
        got: list[str] = []
        with pytest.raises(ServerError):
            async for run in runs:
                got.append(run.id)
                if len(got) == 10:
                    api.faults.append(Fault(status=503, retry_after=0))
    assert len(got) == 10
    assert len(_runs_requests(api)) == 2


async def test_an_error_on_the_next_page_arrives_when_that_page_is_needed() -> None:
    """A failed prefetch surfaces as itself, after every item of the earlier page."""
    api = FakeQoderAPI(pat="pt-test")
    deployment_id, ids = deployment_with_runs(api, 30)
    # Page 1 is answered normally (a fault without a status lets the API answer); page 2,
    # fetched ahead while page 1 is consumed, fails.
    api.faults.extend([Fault(delay=0), Fault(status=500)])
    async with connect(api, max_retries=0) as client:
        got: list[str] = []
        runs = client.deployments.list_runs(deployment_id, limit=10)
        with pytest.raises(ServerError) as caught:
            async for run in runs:
                got.append(run.id)  # noqa: PERF401 - keeps what arrived before the error
    assert got == ids[:10]
    assert caught.value.status_code == 500
    assert type(caught.value) is ServerError  # itself, not wrapped in an ExceptionGroup


async def test_break_inside_async_with_cancels_the_inflight_request() -> None:
    """Leaving `async with pager` early cancels the prefetch at once and leaves no task."""
    api = FakeQoderAPI(pat="pt-test")
    deployment_id, _ = deployment_with_runs(api, 40)
    hang_after(api, 1)  # page 1 is answered; the prefetch of page 2 hangs
    async with connect(api) as client:
        before = task_count()
        async with client.deployments.list_runs(deployment_id, limit=10) as runs:
            async for _ in runs:
                await wait_all_tasks_blocked()
                assert api.in_flight == 1
                break
        assert api.in_flight == 0
        assert task_count() == before
        assert len(_runs_requests(api)) == 2


async def test_caller_exception_cancels_and_propagates_as_itself() -> None:
    """An exception in the loop body propagates unwrapped and cancels the prefetch."""

    class BoomError(Exception):
        pass

    api = FakeQoderAPI(pat="pt-test")
    deployment_id, _ = deployment_with_runs(api, 40)
    hang_after(api, 1)  # page 1 is answered; the prefetch of page 2 hangs
    async with connect(api) as client:
        with pytest.raises(BoomError):
            async with client.deployments.list_runs(deployment_id, limit=10) as runs:
                async for _ in runs:
                    await wait_all_tasks_blocked()
                    raise BoomError
        assert api.in_flight == 0
        assert len(_runs_requests(api)) == 2


async def test_outside_cancellation_cancels_the_prefetch() -> None:
    """Cancelling the consumer's scope from outside cancels the in-flight request too."""
    api = FakeQoderAPI(pat="pt-test")
    deployment_id, _ = deployment_with_runs(api, 40)
    hang_after(api, 1)  # page 1 is answered; the prefetch of page 2 hangs
    consumed = anyio.Event()
    async with connect(api) as client:
        before = task_count()

        async def consume() -> None:
            async with client.deployments.list_runs(deployment_id, limit=10) as runs:
                async for _ in runs:
                    consumed.set()
                    await anyio.sleep_forever()

        async with anyio.create_task_group() as group:
            group.start_soon(consume)
            await consumed.wait()
            await wait_all_tasks_blocked()
            assert api.in_flight == 1
            group.cancel_scope.cancel()
        assert api.in_flight == 0
        assert task_count() == before
        assert len(_runs_requests(api)) == 2


async def test_aclose_cancels_the_prefetch_and_ends_iteration() -> None:
    """aclose() mid-iteration cancels the in-flight request; the loop then ends quietly."""
    api = FakeQoderAPI(pat="pt-test")
    deployment_id, _ = deployment_with_runs(api, 40)
    hang_after(api, 1)  # page 1 is answered; the prefetch of page 2 hangs
    async with connect(api) as client:
        runs = client.deployments.list_runs(deployment_id, limit=10)
        got = 0
        async for _ in runs:
            got += 1
            if got == 1:
                await wait_all_tasks_blocked()
                assert api.in_flight == 1
                await runs.aclose()
                await wait_all_tasks_blocked()
                assert api.in_flight == 0
        await runs.aclose()  # idempotent
    assert got == 10
    assert len(_runs_requests(api)) == 2


async def test_bare_break_leaves_at_most_one_request_behind() -> None:
    """A bare `async for` that breaks leaves only the one prefetch, which ends by itself."""
    api = FakeQoderAPI(pat="pt-test")
    deployment_id, _ = deployment_with_runs(api, 100)
    async with connect(api) as client:
        before = task_count()
        async for _ in client.deployments.list_runs(deployment_id, limit=10):
            break
        await wait_all_tasks_blocked()
        # The prefetch of page 2 finished on its own and nothing else was started.
        assert task_count() == before
        assert api.in_flight == 0
        assert len(_runs_requests(api)) == 2


async def test_cleanup_over_loopback_leaves_the_pool_idle() -> None:
    """Over real HTTP, an early exit leaves no busy connection and no ResourceWarning."""
    api = FakeQoderAPI(pat="pt-test")
    deployment_id, _ = deployment_with_runs(api, 40)
    # Page 1 is answered, the prefetch of page 2 hangs until cancelled.
    api.faults.extend([Fault(delay=0), Fault(delay=3600)])
    async with api.serve() as base_url, QoderClient(pat=api.pat, base_url=base_url) as client:
        async with client.deployments.list_runs(deployment_id, limit=10) as runs:
            async for _ in runs:
                await wait_all_tasks_blocked()
                break
        pool = client._transport.http_client._transport._pool  # type: ignore[attr-defined]
        assert all(
            not connection.is_available() or connection.is_idle() for connection in pool.connections
        )
        assert not any(
            connection.info().startswith("HTTP/1.1, ACTIVE") for connection in pool.connections
        )
        assert (await client.deployments.get(deployment_id)).id == deployment_id
    assert len(_runs_requests(api)) == 2


async def test_pages_and_await_first_page() -> None:
    """`.pages()` yields whole pages; `await pager` gives the first page, then iteration continues."""
    api = FakeQoderAPI(pat="pt-test")
    deployment_id, ids = deployment_with_runs(api, 25)
    async with connect(api) as client:
        pages = [
            page async for page in client.deployments.list_runs(deployment_id, limit=10).pages()
        ]
        assert [len(page.data) for page in pages] == [10, 10, 5]
        assert [run.id for page in pages for run in page.data] == ids
        pager = client.deployments.list_runs(deployment_id, limit=10)
        first = await pager
        assert isinstance(first, Page)
        assert first.has_more
        assert [run.id for run in first.data] == ids[:10]
        assert [run.id async for run in pager] == ids


async def test_a_pager_is_consumed_once() -> None:
    """Iterating a pager twice is refused with a clear RuntimeError."""
    api = FakeQoderAPI(pat="pt-test")
    deployment_id, _ = deployment_with_runs(api, 3)
    async with connect(api) as client:
        pager = client.deployments.list_runs(deployment_id)
        assert len([run async for run in pager]) == 3
        with pytest.raises(RuntimeError, match="only once"):
            pager.__aiter__()


async def test_without_async_with_the_client_still_prefetches() -> None:
    """A client never entered with `async with` prefetches too; aclose() leaves no task."""
    api = FakeQoderAPI(pat="pt-test")
    deployment_id, ids = deployment_with_runs(api, 25)
    before = task_count()
    async with connect(api, enter=False) as client:
        runs = client.deployments.list_runs(deployment_id, limit=10)
        iterator = runs.__aiter__()
        await iterator.__anext__()
        await wait_all_tasks_blocked()
        assert len(_runs_requests(api)) == 2  # page 2 was fetched ahead
        assert [r.id async for r in iterator] == ids[1:]
    assert task_count() == before


async def test_without_async_with_aclose_cancels_what_was_fetched_ahead() -> None:
    """Without `async with`, pager.aclose() and client.aclose() each cancel the request ahead."""
    api = FakeQoderAPI(pat="pt-test")
    deployment_id, _ = deployment_with_runs(api, 40)
    hang_after(api, 1)  # page 1 of each listing is answered; the prefetch of page 2 hangs
    before = task_count()
    async with connect(api, enter=False) as client:
        runs = client.deployments.list_runs(deployment_id, limit=10)
        async for _ in runs:
            break
        await wait_all_tasks_blocked()
        assert api.in_flight == 1  # one request ahead, no more
        await runs.aclose()
        await wait_all_tasks_blocked()
        assert api.in_flight == 0
        api.faults.clear()
        hang_after(api, 1)
        async for _ in client.deployments.list_runs(deployment_id, limit=10):
            break
        await wait_all_tasks_blocked()
        assert api.in_flight == 1
    # The client's aclose() cancelled it and waited for every task it had started.
    assert api.in_flight == 0
    assert task_count() == before
    assert len(_runs_requests(api)) == 4


def _page_handler(pages: list[dict[str, object]]) -> httpx.MockTransport:
    calls = iter(pages)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=next(calls))

    return httpx.MockTransport(handler)


def _run_json(run_id: str) -> dict[str, object]:
    return {
        "id": run_id,
        "deployment_id": "dep_x",
        "agent": {"id": "agent_x", "version": 1},
        "trigger_context": {"type": "manual"},
        "created_at": "2026-06-14T08:58:17Z",
    }


@pytest.mark.parametrize(
    "pages",
    [
        # The same cursor twice.
        [
            {
                "data": [_run_json("drun_a")],
                "first_id": "drun_a",
                "last_id": "drun_a",
                "has_more": True,
            },
            {
                "data": [_run_json("drun_b")],
                "first_id": "drun_a",
                "last_id": "drun_a",
                "has_more": True,
            },
        ],
        # has_more with an empty page.
        [
            {
                "data": [_run_json("drun_a")],
                "first_id": "drun_a",
                "last_id": "drun_a",
                "has_more": True,
            },
            {"data": [], "first_id": None, "last_id": None, "has_more": True},
        ],
        # has_more with no cursor at all (spec 7.4: a server fault, not the end).
        [
            {"data": [_run_json("drun_a")], "has_more": True, "next_page": "t1"},
            {"data": [_run_json("drun_b")], "has_more": True},
        ],
    ],
    ids=["repeated-cursor", "empty-page-with-more", "more-without-cursor"],
)
async def test_a_cursor_that_does_not_advance_raises_pagination_error(
    pages: list[dict[str, Any]],
) -> None:
    """A server whose cursor repeats or is missing cannot loop us forever or end us silently."""
    got: list[str] = []
    async with (
        httpx.AsyncClient(transport=_page_handler(pages)) as http,
        QoderClient(pat="pt-test", base_url=BASE_URL, http_client=http) as client,
    ):
        with pytest.raises(PaginationError) as caught:
            async for run in client.deployment_runs.list(prefetch=0):
                got.append(run.id)  # noqa: PERF401 - keeps what arrived before the error
    # Every item sent was delivered first; the error says where to resume.
    assert got == [run["id"] for p in pages for run in p["data"]]
    assert caught.value.resume_cursor == got[-1]


async def test_opaque_next_page_is_followed_when_last_id_is_missing() -> None:
    """Without last_id the pager follows `next_page` as the opaque `page` cursor (spec 2.3)."""
    seen: list[dict[str, str]] = []
    pages = iter(
        [
            {"data": [_run_json("drun_a")], "has_more": True, "next_page": "tok-1"},
            {"data": [_run_json("drun_b")], "has_more": False, "next_page": None},
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.url.params))
        return httpx.Response(200, json=next(pages))

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
        QoderClient(pat="pt-test", base_url=BASE_URL, http_client=http) as client,
    ):
        got = [run.id async for run in client.deployment_runs.list()]
    assert got == ["drun_a", "drun_b"]
    assert seen == [{}, {"page": "tok-1"}]


def test_pager_arguments_are_checked() -> None:
    """Prefetch and max_items are validated when the pager is made."""

    async def never(query: dict[str, str]) -> object:
        raise AssertionError  # pragma: no cover

    def structure(raw: object) -> Page[DeploymentRun]:
        raise AssertionError  # pragma: no cover

    with pytest.raises(ValueError, match="prefetch"):
        Pager(never, {}, structure=structure, prefetch=-1)
    with pytest.raises(TypeError, match="max_items"):
        Pager(never, {}, structure=structure, max_items=math.pi)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at most one cursor"):
        Pager(never, {"after_id": "a", "page": "b"}, structure=structure)


async def test_a_pager_repr_shows_what_it_lists_and_how_far_it_got() -> None:
    """The repr names the path, filters, progress, resume cursor and state, never the PAT."""
    api = FakeQoderAPI(pat="pt-secret-token")
    deployment_id, ids = deployment_with_runs(api, 25)
    async with connect(api) as client:
        pager = client.deployments.list_runs(deployment_id, status="completed", limit=10)
        assert repr(pager) == (
            f"Pager(path='/deployments/{deployment_id}/runs', filters={{'status': 'completed'}},"
            " limit=10, prefetch=1, delivered=0, resume_cursor=None, state='new')"
        )
        iterator = pager.__aiter__()
        await iterator.__anext__()
        assert "delivered=1" in repr(pager)
        assert f"resume_cursor={ids[0]!r}" in repr(pager)
        assert "state='open'" in repr(pager)
        await pager.aclose()
        assert "state='closed'" in repr(pager)
        done = client.deployments.list_runs(deployment_id, max_items=3, before_id=ids[5])
        assert [run.id async for run in done] == ids[:5][::-1][:3]
        assert repr(done).endswith(
            f"max_items=3, backward=True, prefetch=1, delivered=3,"
            f" resume_cursor={ids[2]!r}, state='exhausted')"
        )
        api.faults.append(Fault(status=500))
        failing = client.with_options(max_retries=0).deployments.list_runs(deployment_id)
        with pytest.raises(ServerError):
            await failing.__aiter__().__anext__()
        assert "state='failed'" in repr(failing)
        for shown in (pager, done, failing):
            assert "pt-secret-token" not in repr(shown)
