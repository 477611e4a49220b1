"""Per-request options: extra headers, query and body, timeout and deadline, for one call."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest

from qoder_async import (
    APITimeoutError,
    BadRequestError,
    NotFoundError,
    QoderClient,
    RetryPolicy,
    UserMessage,
)
from qoder_async.testing import FakeQoderAPI, Fault
from tests.helpers import BASE_URL, connect, deployment_with_runs

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from qoder_async.testing import RecordedRequest

pytestmark = pytest.mark.anyio

AGENT = "agent_019ebb21ef8e7df6a559052c94875160"
ENV = "env_019e49a1780171daac1e6b01f290ac2b"
HEADERS = {"X-Trace-Id": "trace-42"}
QUERY = {"x_probe": "1"}
EMPTY_PAGE = {"data": [], "has_more": False}


async def drain(pager: Any) -> list[Any]:
    """Every item of a pager or fan-out, inside `async with`."""
    async with pager:
        return [item async for item in pager]


# name, is_post, call(client, deployment_id, run_id, **options)
Call = tuple[str, bool, "Callable[..., Awaitable[object]]"]
METHODS: list[Call] = [
    ("deployments.list", False, lambda c, d, r, **o: drain(c.deployments.list(limit=1, **o))),
    ("deployments.get", False, lambda c, d, r, **o: c.deployments.get(d, **o)),
    (
        "deployments.create",
        True,
        lambda c, d, r, **o: c.deployments.create(
            name="n",
            agent=AGENT,
            environment_id=ENV,
            initial_events=[UserMessage(content="x")],
            **o,
        ),
    ),
    ("deployments.update", True, lambda c, d, r, **o: c.deployments.update(d, name="n2", **o)),
    ("deployments.pause", True, lambda c, d, r, **o: c.deployments.pause(d, **o)),
    ("deployments.run", True, lambda c, d, r, **o: c.deployments.run(d, **o)),
    ("deployments.list_runs", False, lambda c, d, r, **o: drain(c.deployments.list_runs(d, **o))),
    ("deployments.get_run", False, lambda c, d, r, **o: c.deployments.get_run(d, r, **o)),
    (
        "deployments.list_runs_across",
        False,
        lambda c, d, r, **o: drain(c.deployments.list_runs_across([d], **o)),
    ),
    (
        "deployment_runs.list",
        False,
        lambda c, d, r, **o: drain(c.deployment_runs.list(deployment_id=d, **o)),
    ),
    ("deployment_runs.get", False, lambda c, d, r, **o: c.deployment_runs.get(r, **o)),
    ("deployment_runs.wait", False, lambda c, d, r, **o: c.deployment_runs.wait(r, **o)),
]


@pytest.mark.parametrize(("name", "is_post", "call"), METHODS, ids=[m[0] for m in METHODS])
async def test_options_reach_the_wire_of_every_method(
    api: FakeQoderAPI,
    client: QoderClient,
    name: str,
    is_post: bool,
    call: Callable[..., Awaitable[object]],
) -> None:
    """Extra headers and query (and body on POSTs) go out with every request of a call."""
    deployment_id, (run_id,) = deployment_with_runs(api, 1)
    options: dict[str, object] = {"extra_headers": HEADERS, "extra_query": QUERY}
    if is_post:
        options["extra_body"] = {"description": "from extra_body"}
    api.reset_stats()
    await call(client, deployment_id, run_id, **options)
    assert api.requests
    for request in api.requests:
        assert request.headers["x-trace-id"] == "trace-42"
        assert request.query["x_probe"] == "1"
        if is_post:
            assert request.json["description"] == "from extra_body"
    # The next call (on a fresh deployment), without options, sends none of them.
    deployment_id, (run_id,) = deployment_with_runs(api, 1)
    api.reset_stats()
    await call(client, deployment_id, run_id)
    assert all("x-trace-id" not in r.headers and "x_probe" not in r.query for r in api.requests)


async def test_a_listing_sends_its_options_on_every_page(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """Every page of a pager carries the call's headers and query, and no other call does."""
    deployment_id, run_ids = deployment_with_runs(api, 5)
    api.reset_stats()
    runs = client.deployments.list_runs(deployment_id, limit=2, extra_headers=HEADERS)
    assert [run.id for run in await drain(runs)] == run_ids
    assert len(api.requests) == 3
    assert {r.headers["x-trace-id"] for r in api.requests} == {"trace-42"}
    await client.deployments.get(deployment_id)
    assert "x-trace-id" not in api.requests[-1].headers


async def test_extra_query_sends_a_filter_value_the_sdk_does_not_know(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """A status the SDK refuses goes out through extra_query, over the SDK's own filter."""
    with pytest.raises(ValueError, match=r"extra_query=\{'status': 'cancelled'\}") as caught:
        client.deployment_runs.list(status="cancelled")  # type: ignore[arg-type]
    assert "must be one of pending, running" in str(caught.value)
    assert api.requests == []
    # The fake does not know "cancelled" either: the point is that it got it.
    with pytest.raises(BadRequestError, match="status"):
        await client.deployment_runs.list(status="failed", extra_query={"status": "cancelled"})
    assert api.requests[-1].query["status"] == "cancelled"


async def test_extra_body_keys_override_the_body_and_make_an_update(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """extra_body's top-level keys replace the SDK's, and alone they are an update."""
    deployment_id = api.add_deployment(name="before")["id"]
    updated = await client.deployments.update(
        deployment_id, name="from-argument", extra_body={"name": "from-extra"}
    )
    assert updated.name == "from-extra"
    assert api.requests[-1].json == {"name": "from-extra"}
    updated = await client.deployments.update(deployment_id, extra_body={"description": "d"})
    assert updated.description == "d"
    with pytest.raises(ValueError, match="at least one field"):
        await client.deployments.update(deployment_id)


@pytest.fixture
def wire() -> list[httpx.Request]:
    """The requests a `mock_client` sent."""
    return []


@pytest.fixture
async def mock_client(wire: list[httpx.Request]) -> AsyncIterator[QoderClient]:
    """A client whose every request is answered 200 with an empty page, recorded in `wire`."""

    def handler(request: httpx.Request) -> httpx.Response:
        wire.append(request)
        if request.url.path.endswith("/deployments"):
            return httpx.Response(200, json=EMPTY_PAGE)
        return httpx.Response(404, json={"error": {"type": "not_found_error", "message": "no"}})

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
        QoderClient(
            pat="pt-SECRET-PAT",
            base_url=BASE_URL,
            http_client=http,
            timeout=30,
            workspace_id="ws-default",
            max_retries=0,
        ) as client,
    ):
        yield client


async def test_extra_headers_override_the_clients_headers_for_one_call(
    mock_client: QoderClient, wire: list[httpx.Request]
) -> None:
    """A client header is replaced, whatever the case of its name, and only for that call."""
    await mock_client.deployments.list(
        extra_headers={"QODER-WORKSPACE-ID": "ws-other", "user-agent": "my-app/1.0"}
    )
    await mock_client.deployments.list()
    first, second = (dict(r.headers.multi_items()) for r in wire)
    names = [name.lower() for name, _ in wire[0].headers.multi_items()]
    assert names.count("qoder-workspace-id") == names.count("user-agent") == 1
    assert first["qoder-workspace-id"] == "ws-other"
    assert first["user-agent"] == "my-app/1.0"
    assert second["qoder-workspace-id"] == "ws-default"
    assert second["user-agent"].startswith("qoder-async/")
    assert first["authorization"] == second["authorization"] == "Bearer pt-SECRET-PAT"


async def test_timeout_applies_to_one_call_and_every_page(
    mock_client: QoderClient, wire: list[httpx.Request]
) -> None:
    """A per-call timeout replaces the client's for that call's requests only."""
    await mock_client.deployments.list(timeout=2)
    await mock_client.deployments.list(timeout=httpx.Timeout(5, connect=1))
    await mock_client.deployments.list()
    await mock_client.with_options(timeout=7).deployments.list(timeout=3)
    timeouts = [r.extensions["timeout"] for r in wire]
    assert timeouts[0]["read"] == 2
    assert timeouts[0]["connect"] == 2
    assert timeouts[1] == {"connect": 1, "read": 5, "write": 5, "pool": 5}
    assert timeouts[2]["read"] == 30
    assert timeouts[3]["read"] == 3


async def test_wait_and_run_take_request_timeout() -> None:
    """`wait` and `run` keep `timeout` for the wait; `request_timeout` bounds each attempt."""
    api = FakeQoderAPI(pat="pt-test")
    deployment_id, (run_id,) = deployment_with_runs(api, 1)
    seen: list[dict[str, float]] = []

    async def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return await api.transport().handle_async_request(request)

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(record)) as http,
        QoderClient(pat=api.pat, base_url=BASE_URL, http_client=http) as client,
    ):
        await client.deployment_runs.wait(run_id, timeout=60, request_timeout=4)
        await client.deployments.run(deployment_id, request_timeout=6)
        with pytest.raises(ValueError, match="request_timeout="):
            await client.deployments.run(deployment_id, timeout=5)
    assert [t["read"] for t in seen] == [4, 6]


async def test_a_per_call_deadline_bounds_that_call_only() -> None:
    """`deadline=` ends one call in time; the next call, without it, is not bounded by it."""
    release = anyio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        if "x-hang" in request.headers:
            await release.wait()
        return httpx.Response(200, json=EMPTY_PAGE)

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
        QoderClient(pat="pt-test", base_url=BASE_URL, http_client=http) as client,
    ):
        with pytest.raises(APITimeoutError, match=r"deadline of 0\.05 s"):
            await client.deployments.list(deadline=0.05, extra_headers={"X-Hang": "1"})
        with pytest.raises(APITimeoutError, match="timed out"):
            await client.with_options(max_retries=0).deployments.list(
                timeout=0.05, extra_headers={"X-Hang": "1"}
            )
        release.set()
        assert (await client.deployments.list(extra_headers={"X-Hang": "1"})).data == ()


SECRET = "tok-SECRET-VALUE"
BAD_OPTIONS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("authorization", {"extra_headers": {"Authorization": SECRET}}, ValueError, "PAT"),
    ("authorization-case", {"extra_headers": {"aUtHoRiZaTiOn": SECRET}}, ValueError, "PAT"),
    ("x-api-key", {"extra_headers": {"X-Api-Key": SECRET}}, ValueError, "PAT"),
    ("idempotency", {"extra_headers": {"Idempotency-Key": SECRET}}, ValueError, "idempotency_key"),
    ("request-id", {"extra_headers": {"X-Request-Id": SECRET}}, ValueError, "every request"),
    ("retry-count", {"extra_headers": {"X-Qoder-Retry-Count": "1"}}, ValueError, "retry"),
    ("content-type", {"extra_headers": {"Content-Type": "text/plain"}}, ValueError, "JSON"),
    ("host", {"extra_headers": {"Host": "evil.example"}}, ValueError, "base_url"),
    ("bad-name", {"extra_headers": {"X Trace": "1"}}, ValueError, "header name"),
    ("name-colon", {"extra_headers": {"X-A:": "1"}}, ValueError, "header name"),
    ("newline", {"extra_headers": {"X-Token": SECRET + "\r\nX-Evil: 1"}}, ValueError, "printable"),
    ("non-ascii", {"extra_headers": {"X-Token": SECRET + "é"}}, ValueError, "ASCII"),
    ("surrounding-space", {"extra_headers": {"X-Token": " " + SECRET}}, ValueError, "surrounding"),
    ("empty-value", {"extra_headers": {"X-Token": ""}}, ValueError, "1 to 8192"),
    ("too-long", {"extra_headers": {"X-Token": SECRET * 1000}}, ValueError, "8192"),
    ("not-str", {"extra_headers": {"X-Token": 5}}, TypeError, "must be a str"),
    ("twice", {"extra_headers": {"X-Token": SECRET, "x-token": SECRET}}, ValueError, "case"),
    ("headers-not-mapping", {"extra_headers": [("X-A", SECRET)]}, TypeError, "mapping"),
    ("query-not-str", {"extra_query": {"x": 1}}, TypeError, "must be a str"),
    ("query-empty-key", {"extra_query": {"": "1"}}, ValueError, "empty"),
    ("query-limit", {"extra_query": {"limit": "5"}}, ValueError, "pass limit="),
    ("query-page", {"extra_query": {"page": "tok"}}, ValueError, "pass page="),
    ("query-after", {"extra_query": {"after_id": "dep_1"}}, ValueError, "after_id="),
    ("query-before", {"extra_query": {"before_id": "dep_1"}}, ValueError, "before_id="),
    ("timeout-zero", {"timeout": 0}, ValueError, "timeout must be positive"),
    ("timeout-nan", {"timeout": math.nan}, ValueError, "timeout must be positive"),
    ("timeout-str", {"timeout": "5"}, TypeError, "timeout"),
    ("deadline-negative", {"deadline": -1}, ValueError, "deadline must be positive"),
]


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [case[1:] for case in BAD_OPTIONS],
    ids=[case[0] for case in BAD_OPTIONS],
)
async def test_bad_options_are_refused_before_io_without_showing_values(
    api: FakeQoderAPI,
    client: QoderClient,
    options: dict[str, Any],
    error: type[Exception],
    match: str,
) -> None:
    """A bad option raises before any request, and its message never shows a header value."""
    with pytest.raises(error, match=match) as caught:
        client.deployments.list(**options)
    assert SECRET not in str(caught.value)
    assert api.requests == []


BAD_BODIES: list[tuple[str, object, type[Exception]]] = [
    ("datetime", {"when": datetime.now(timezone.utc)}, TypeError),
    ("nan", {"x": math.nan}, ValueError),
    ("non-str-key", {1: "x"}, TypeError),
    ("not-mapping", ["x"], TypeError),
]


@pytest.mark.parametrize(
    ("body", "error"), [case[1:] for case in BAD_BODIES], ids=[case[0] for case in BAD_BODIES]
)
async def test_a_body_json_cannot_carry_is_refused_before_io(
    api: FakeQoderAPI, client: QoderClient, body: object, error: type[Exception]
) -> None:
    """extra_body must be a JSON object with str keys; else TypeError/ValueError, no request."""
    deployment_id = api.add_deployment()["id"]
    with pytest.raises(error, match="extra_body"):
        await client.deployments.pause(deployment_id, extra_body=body)  # type: ignore[arg-type]
    assert api.requests == []


async def test_paging_parameters_may_go_in_extra_query_outside_listings(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """Only a listing reserves `limit` and the cursors: a single GET sends them as given."""
    deployment_id = api.add_deployment()["id"]
    await client.deployments.get(deployment_id, extra_query={"limit": "5", "page": "x"})
    assert api.requests[-1].query == {"limit": "5", "page": "x"}


async def test_header_values_never_reach_logs_or_errors(
    api: FakeQoderAPI, client: QoderClient, caplog: pytest.LogCaptureFixture
) -> None:
    """An extra header's value is in no log line (DEBUG or retry INFO) and in no error."""
    caplog.set_level(logging.DEBUG, logger="qoder_async")
    deployment_id = api.add_deployment()["id"]
    api.faults.append(Fault(status=503, retry_after=0))
    fast = client.with_options(retry=RetryPolicy(initial_backoff=0, max_backoff=0))
    await fast.deployments.get(deployment_id, extra_headers={"X-Upstream-Token": SECRET})
    missing = "dep_00000000000000000000000000000000"
    with pytest.raises(NotFoundError) as caught:
        await fast.deployments.get(missing, extra_headers={"X-Upstream-Token": SECRET})
    assert api.requests[0].headers["x-upstream-token"] == SECRET
    assert len([r for r in caplog.records if r.levelno == logging.DEBUG]) == 3
    assert any(r.levelno == logging.INFO for r in caplog.records)
    assert SECRET not in caplog.text
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)


async def test_fan_out_options_join_its_filters_and_resume_state(api: FakeQoderAPI) -> None:
    """A fan-out's extra query is part of its filters: a resume state made with it needs it."""
    deployment_id, run_ids = deployment_with_runs(api, 3)
    async with connect(api) as client:
        fan = client.deployments.list_runs_across(
            [deployment_id], extra_query=QUERY, extra_headers=HEADERS, limit=2
        )
        state = fan.resume_state()
        assert [run.id for run in await drain(fan)] == run_ids
        assert all(r.query["x_probe"] == "1" for r in api.requests)
        with pytest.raises(ValueError, match="filters"):
            client.deployments.list_runs_across([deployment_id], resume=state)
        again = client.deployments.list_runs_across(
            [deployment_id], extra_query=QUERY, resume=state
        )
        assert [run.id for run in await drain(again)] == run_ids


async def test_fan_out_source_keeps_its_own_options(api: FakeQoderAPI) -> None:
    """A fan-out's options go on its own requests, not on those of a pager it reads."""
    deployment_id, _ = deployment_with_runs(api, 2)
    async with connect(api) as client:
        source = client.deployments.list(extra_headers={"X-Source": "1"})
        fan = client.deployments.list_runs_across(source, extra_headers=HEADERS)
        await drain(fan)
    requests: list[RecordedRequest] = api.requests
    listing = [r for r in requests if r.path == "/deployments"]
    runs = [r for r in requests if r.path == f"/deployments/{deployment_id}/runs"]
    assert listing
    assert runs
    assert all("x-source" in r.headers and "x-trace-id" not in r.headers for r in listing)
    assert all("x-trace-id" in r.headers and "x-source" not in r.headers for r in runs)
