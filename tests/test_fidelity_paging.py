"""Paging as the official SDKs do it (spec 7.4), proven against the fake and hostile servers.

The hostile servers are written here, not taken from the fake: each serves canned pages
(in-process through httpx.MockTransport, or over a raw anyio TCP socket on 127.0.0.1)
and lies in one way the real API might: no `has_more`, no cursor, overlapping pages, a
`next_page` that is not the last id.
"""

from __future__ import annotations

import json
import logging
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import anyio
import httpx
import pytest
from anyio.abc import SocketAttribute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qoder_async import PaginationError, QoderClient
from qoder_async._chain import SEEN_WINDOW, Chain, PageHead
from tests.helpers import BASE_URL, connect, deployment_with_runs

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from anyio.abc import SocketStream

    from qoder_async.testing import FakeQoderAPI

pytestmark = pytest.mark.anyio

PAT = "pt-test"
DEPLOYMENT = "dep_hostile"
FRONTS = ["mock", "tcp"]
Body = dict[str, Any]


def run_json(run_id: str) -> Body:
    """A run in the minimal shape of the contract examples (spec 7.1)."""
    return {
        "id": run_id,
        "deployment_id": DEPLOYMENT,
        "agent": {"id": "agent_x", "type": "agent", "version": 1},
        "trigger_context": {"type": "manual"},
        "created_at": "2026-06-14T08:58:17Z",
        "type": "deployment_run",
    }


def page(ids: list[str], **envelope: object) -> Body:
    """A list envelope holding runs with these ids, and exactly the envelope keys given."""
    return {"data": [run_json(run_id) for run_id in ids], **envelope}


def run_ids(count: int, prefix: str = "drun_") -> list[str]:
    """`count` distinct run ids, in list order."""
    return [f"{prefix}{i:03d}" for i in range(count)]


class Script:
    """A hostile server's answers: the canned pages in order, whatever the query says.

    Records every query it got; once the pages are used up it answers 500.
    """

    def __init__(self, pages: list[Body]) -> None:
        self.pages = list(pages)
        self.queries: list[dict[str, str]] = []

    def answer(self, query: dict[str, str]) -> tuple[int, bytes]:
        """The status and JSON body for the next request."""
        self.queries.append(query)
        if not self.pages:
            body = {"type": "error", "error": {"type": "api_error", "message": "no more pages"}}
            return 500, json.dumps(body).encode()
        return 200, json.dumps(self.pages.pop(0)).encode()


@asynccontextmanager
async def raw_server(script: Script) -> AsyncIterator[str]:
    """Serve `script` over a raw HTTP/1.1 socket on 127.0.0.1; yields the base URL."""

    async def read_head(stream: SocketStream, buffer: bytes) -> tuple[bytes, bytes] | None:
        try:
            while b"\r\n\r\n" not in buffer:
                buffer += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return None  # the client closed the connection
        head, _, rest = buffer.partition(b"\r\n\r\n")
        return head, rest

    async def handle(stream: SocketStream) -> None:
        async with stream:
            buffer = b""
            while (request := await read_head(stream, buffer)) is not None:
                head, buffer = request
                target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode()
                status, body = script.answer(dict(parse_qsl(urlsplit(target).query)))
                reply = (
                    f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
                    f"content-length: {len(body)}\r\n\r\n"
                ).encode()
                await stream.send(reply + body)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(SocketAttribute.local_port)  # noqa: S610 (anyio, not Django)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, handle)
        try:
            yield f"http://127.0.0.1:{port}/api/v1/cloud"
        finally:
            group.cancel_scope.cancel()


@asynccontextmanager
async def hostile(script: Script, front: str) -> AsyncIterator[QoderClient]:
    """A client talking to `script` in-process ("mock") or over loopback TCP ("tcp")."""
    with anyio.fail_after(10):
        if front == "mock":

            def handler(request: httpx.Request) -> httpx.Response:
                status, body = script.answer(dict(request.url.params))
                return httpx.Response(
                    status, content=body, headers={"content-type": "application/json"}
                )

            async with (
                httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
                QoderClient(pat=PAT, base_url=BASE_URL, http_client=http, max_retries=0) as client,
            ):
                yield client
        else:
            async with (
                raw_server(script) as base_url,
                QoderClient(pat=PAT, base_url=base_url, max_retries=0) as client,
            ):
                yield client


def duplicate_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The WARNING records of the `qoder_async` logger about dropped repeats."""
    return [
        record
        for record in caplog.records
        if record.name == "qoder_async"
        and record.levelno == logging.WARNING
        and "already listed" in record.getMessage()
    ]


# -- the fake: opaque next_page tokens ------------------------------------------------------


async def test_a_listing_follows_the_fakes_opaque_tokens_as_page(api: FakeQoderAPI) -> None:
    """Each later request sends exactly the previous page's next_page as `page`, never an id."""
    deployment_id, ids = deployment_with_runs(api, 25)
    async with connect(api) as client:
        pages = [p async for p in client.deployments.list_runs(deployment_id, limit=10).pages()]
    assert [run.id for p in pages for run in p.data] == ids
    sent = [r.query for r in api.requests if r.path.endswith("/runs")]
    assert sent == [
        {"limit": "10"},
        {"limit": "10", "page": pages[0].next_page},
        {"limit": "10", "page": pages[1].next_page},
    ]
    for p in pages[:2]:
        assert p.next_page is not None
        assert p.next_page not in ids  # opaque: an encoded position, not the last id


async def test_the_fan_out_follows_opaque_tokens_as_page(api: FakeQoderAPI) -> None:
    """Every stream of list_runs_across pages with `page=<next_page>`, never after_id."""
    fleet = dict(deployment_with_runs(api, n) for n in (9, 4, 0))
    async with connect(api) as client:
        got = [run.id async for run in client.deployments.list_runs_across(fleet, limit=3)]
    assert sorted(got) == sorted(i for ids in fleet.values() for i in ids)
    for deployment_id, ids in fleet.items():
        queries = [r.query for r in api.requests if r.path == f"/deployments/{deployment_id}/runs"]
        assert len(queries) == max(1, -(-len(ids) // 3))
        assert all("after_id" not in q and "before_id" not in q for q in queries)
        assert "page" not in queries[0]
        assert all(q["page"] not in ids for q in queries[1:])


async def test_resume_cursor_continues_exactly_mid_page_with_opaque_tokens(
    api: FakeQoderAPI,
) -> None:
    """Stopping mid-page and resuming from resume_cursor loses and repeats nothing."""
    deployment_id, ids = deployment_with_runs(api, 23)
    async with connect(api) as client:
        first: list[str] = []
        async with client.deployments.list_runs(deployment_id, limit=10) as runs:
            async for run in runs:
                first.append(run.id)
                if len(first) == 14:  # in the middle of the second page
                    break
        assert runs.resume_cursor == ids[13]
        # The second page came through the fake's opaque token, not after_id.
        assert "page" in [r.query for r in api.requests if r.path.endswith("/runs")][1]
        rest = [
            run.id
            async for run in client.deployments.list_runs(
                deployment_id, limit=10, after_id=runs.resume_cursor
            )
        ]
    assert first + rest == ids


# -- hostile servers ------------------------------------------------------------------------


@pytest.mark.parametrize("front", FRONTS)
async def test_has_more_absent_with_next_page_continues(front: str) -> None:
    """A page with no has_more key but a next_page is not the last one (spec 7.4)."""
    ids = run_ids(25)
    script = Script(
        [
            page(ids[:10], first_id=ids[0], last_id=ids[9], next_page="opaque-1"),
            page(ids[10:20], first_id=ids[10], last_id=ids[19], next_page="opaque-2"),
            page(ids[20:], first_id=ids[20], last_id=ids[24], next_page=None),
        ]
    )
    async with hostile(script, front) as client:
        got = [run.id async for run in client.deployment_runs.list(limit=10)]
    assert got == ids
    assert script.queries == [
        {"limit": "10"},
        {"limit": "10", "page": "opaque-1"},
        {"limit": "10", "page": "opaque-2"},
    ]


@pytest.mark.parametrize("front", FRONTS)
async def test_has_more_without_a_cursor_raises_with_the_resume_cursor(front: str) -> None:
    """has_more: true with no cursor raises PaginationError after the 30 items sent, not a silent end."""
    ids = run_ids(50)
    script = Script(
        [
            page(ids[:10], has_more=True, next_page="t1", last_id=ids[9]),
            page(ids[10:20], has_more=True, next_page="t2", last_id=ids[19]),
            # Neither next_page nor last_id: nothing to continue from.
            page(ids[20:30], has_more=True),
            # What the server would have said after the fix, from after_id=ids[29].
            page(ids[30:50], has_more=False, next_page=None, last_id=ids[49]),
        ]
    )
    got: list[str] = []
    async with hostile(script, front) as client:
        listing = client.deployment_runs.list(limit=10)
        with pytest.raises(PaginationError, match="no cursor") as caught:
            async for run in listing:
                got.append(run.id)  # noqa: PERF401 - keeps what arrived before the error
        assert got == ids[:30]
        assert caught.value.resume_cursor == ids[29] == listing.resume_cursor
        rest = client.deployment_runs.list(limit=20, after_id=caught.value.resume_cursor)
        got.extend([run.id async for run in rest])
    assert got == ids
    assert script.queries[-1] == {"limit": "20", "after_id": ids[29]}


@pytest.mark.parametrize("front", FRONTS)
async def test_backward_has_more_without_first_id_raises_with_the_resume_cursor(
    front: str,
) -> None:
    """Paging backward, has_more with no first_id raises with the last item handed out."""
    ids = run_ids(6)
    script = Script(
        [
            page(ids[3:6], first_id=ids[3], last_id=ids[5], has_more=True),
            page(ids[:3], has_more=True),
        ]
    )
    async with hostile(script, front) as client:
        listing = client.deployment_runs.list(limit=3, before_id="drun_999")
        got: list[str] = []
        with pytest.raises(PaginationError) as caught:
            async for run in listing:
                got.append(run.id)  # noqa: PERF401 - keeps what arrived before the error
    assert got == ids[::-1]  # nearest to the cursor first
    assert caught.value.resume_cursor == ids[0]
    assert script.queries == [
        {"limit": "3", "before_id": "drun_999"},
        {"limit": "3", "before_id": ids[3]},
    ]


def overlapping_pages(ids: list[str], size: int, shift: int) -> list[Body]:
    """Pages of `size` where the second starts `shift` items early, as an offset shift does."""
    starts = [0, *range(size - shift, len(ids), size)]
    pages = []
    for start in starts:
        chunk = ids[start : start + size]
        more = start + len(chunk) < len(ids)
        pages.append(
            page(
                chunk,
                first_id=chunk[0],
                last_id=chunk[-1],
                has_more=more,
                next_page=f"offset-{start + len(chunk)}" if more else None,
            )
        )
    return pages


@pytest.mark.parametrize("front", FRONTS)
async def test_an_overlapping_page_yields_no_duplicate_and_logs_a_warning(
    front: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The 5 repeats of a page overlapping the one before are dropped, with one warning."""
    ids = run_ids(50)
    pages = overlapping_pages(ids, 10, 5)
    assert sum(len(p["data"]) for p in pages) == 55
    script = Script(pages)
    caplog.set_level(logging.WARNING, logger="qoder_async")
    async with hostile(script, front) as client:
        got = [run.id async for run in client.deployment_runs.list(limit=10)]
    assert got == ids
    [warning] = duplicate_warnings(caplog)
    assert "5 item(s)" in warning.getMessage()
    assert ids[5] in warning.getMessage()


async def test_pages_and_max_items_count_only_delivered_items(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """pages() drops the repeats too, and max_items counts items delivered, not received."""
    ids = run_ids(50)
    caplog.set_level(logging.WARNING, logger="qoder_async")
    async with hostile(Script(overlapping_pages(ids, 10, 5)), "mock") as client:
        pages = [p async for p in client.deployment_runs.list(limit=10).pages()]
    assert [run.id for p in pages for run in p.data] == ids
    assert [len(p.data) for p in pages] == [10, 5, 10, 10, 10, 5]
    script = Script(overlapping_pages(ids, 10, 5))
    async with hostile(script, "mock") as client:
        got = [run.id async for run in client.deployment_runs.list(limit=10, max_items=12)]
    assert got == ids[:12]
    assert [q["limit"] for q in script.queries] == ["10", "2"]
    assert len(duplicate_warnings(caplog)) == 2


async def test_the_fan_out_drops_repeats_of_an_overlapping_stream(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A deployment whose pages overlap gives each run once in list_runs_across too."""
    ids = run_ids(50)
    caplog.set_level(logging.WARNING, logger="qoder_async")
    async with hostile(Script(overlapping_pages(ids, 10, 5)), "mock") as client:
        got = [run.id async for run in client.deployments.list_runs_across([DEPLOYMENT])]
    assert got == ids
    assert len(duplicate_warnings(caplog)) == 1


@pytest.mark.parametrize("front", FRONTS)
async def test_a_next_page_unlike_last_id_is_sent_as_page(front: str) -> None:
    """next_page is followed as `page=`, never replaced by after_id=last_id (spec 7.4)."""
    ids = run_ids(6)
    # The list is cut, as in the docs' example (spec 3.1): last_id is not the last item.
    script = Script(
        [
            page(ids[:3], first_id=ids[0], last_id="drun_elsewhere", has_more=True, next_page="c2"),
            page(ids[3:], first_id=ids[3], last_id=ids[5], has_more=False, next_page=None),
        ]
    )
    async with hostile(script, front) as client:
        got = [run.id async for run in client.deployment_runs.list()]
    assert got == ids
    assert script.queries == [{}, {"page": "c2"}]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    count=st.integers(0, 40),
    sizes=st.lists(st.integers(1, 8), min_size=1, max_size=12),
    back=st.lists(st.integers(0, 6), min_size=1, max_size=12),
    prefetch=st.integers(0, 2),
    max_items=st.none() | st.integers(0, 45),
)
async def test_overlapping_opaque_pages_never_lose_or_duplicate(
    count: int, sizes: list[int], back: list[int], prefetch: int, max_items: int | None
) -> None:
    """For any page sizes and overlaps, every id comes once, in order, up to max_items."""
    ids = run_ids(count)
    pages: list[Body] = []
    start = n = 0
    while True:
        # A page may restart up to `back` items before where the last one ended.
        begin = max(0, start - back[n % len(back)]) if n else 0
        chunk = ids[begin : max(begin + sizes[n % len(sizes)], start + 1)]
        start = begin + len(chunk)
        more = start < len(ids)
        pages.append(page(chunk, has_more=more, next_page=f"tok-{n}" if more else None))
        n += 1
        if not more:
            break
    expected = ids if max_items is None else ids[:max_items]
    async with hostile(Script(pages), "mock") as client:
        listing = client.deployment_runs.list(prefetch=prefetch, max_items=max_items)
        got = [run.id async for run in listing]
    assert got == expected


# -- GET /deployments ambiguities (spec 7.5) ------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        {"status": "active", "include_archived": True},
        {"status": "paused", "include_archived": True},
        {"limit": 101},
        {"limit": 1000},
    ],
)
async def test_deployments_list_refuses_what_may_draw_a_400(
    api: FakeQoderAPI, client: QoderClient, arguments: dict[str, Any]
) -> None:
    """A status with include_archived=True, or a page size over 100, fails before any I/O."""
    with pytest.raises(ValueError, match=r"spec 7\.5"):
        client.deployments.list(**arguments)
    assert api.requests == []


async def test_deployments_page_sizes_stay_within_100(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """limit=100 is allowed, and the sizes the SDK picks itself under max_items stay <= 100."""
    for _ in range(130):
        api.add_deployment()
    assert len([d async for d in client.deployments.list(limit=100)]) == 130
    assert len([d async for d in client.deployments.list(max_items=125)]) == 125
    listed = client.deployments.list(status="active", include_archived=False, max_items=3)
    assert len([d async for d in listed]) == 3
    # include_archived=False is the default: with status it is left off the wire.
    assert "include_archived" not in api.requests[-1].query
    sizes = [int(r.query.get("limit", "20")) for r in api.requests]
    assert max(sizes) == 100
    assert all(size <= 100 for size in sizes)


def test_the_repeat_filter_remembers_a_bounded_window() -> None:
    """The ids kept to drop repeats stay within the window, however long the listing is."""
    chain: Chain[Any] = Chain({}, limit=1000, max_items=None)
    for page in range(40):
        ids = [f"drun_{page:03d}{i:05d}" for i in range(1000)]
        head = PageHead(
            ids, has_more=True, next_page=f"tok{page}", first_id=ids[0], last_id=ids[-1]
        )
        assert chain.advance(head) is None
    assert len(chain._ids) <= SEEN_WINDOW
    # An overlap with the latest items is still caught: an offset shift of 5 records.
    overlap = [f"drun_039{i:05d}" for i in range(995, 1000)] + ["drun_new00001"]
    head = PageHead(
        overlap, has_more=False, next_page=None, first_id=overlap[0], last_id=overlap[-1]
    )
    assert chain.advance(head) == [5]
