"""The transport: headers, error mapping, retries and back-off, the shared gate, the pool limit."""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import random
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest

import qoder_async
from qoder_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    Deployment,
    NotFoundError,
    PermissionDeniedError,
    QoderClient,
    QoderError,
    RateLimitError,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
    _retry,
)
from qoder_async._retry import retry_after
from qoder_async._transport import BackoffGate

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
    from typing import TypeAlias

    Handler: TypeAlias = (
        Callable[[httpx.Request], httpx.Response]
        | Callable[[httpx.Request], Coroutine[Any, Any, httpx.Response]]
    )

PAT = "pt-test"
BASE_URL = "https://api.example.test/api/v1/cloud"
_EXAMPLES: dict[str, dict[str, object]] = json.loads(
    (Path(__file__).parent / "data" / "spec_examples.json").read_text()
)
DEPLOYMENT = _EXAMPLES["deployment_1"]
RUN = _EXAMPLES["deployment_run_1"]
DEP_ID = str(DEPLOYMENT["id"])
RUN_ID = str(RUN["id"])


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make back-off without a server hint zero so that retries cost no time."""
    monkeypatch.setattr(_retry, "DEFAULT_RETRY", RetryPolicy(initial_backoff=0, max_backoff=0))


def reply(
    status: int = 200,
    body: object = None,
    *,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Response:
    """A canned response: `body` as JSON, or raw `content` (empty when both are None)."""
    if content is None and body is not None:
        content = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **(headers or {})}
    return httpx.Response(status, headers=headers, content=content or b"")


def envelope(error_type: str, message: str, *, param: str | None = None) -> dict[str, object]:
    """The spec 2.1 error envelope, with a request id in the body."""
    error: dict[str, object] = {"type": error_type, "message": message}
    if param is not None:
        error["param"] = param
    return {"type": "error", "request_id": "req_body", "error": error}


class Script:
    """A MockTransport handler replaying scripted steps (the last one repeats), recording requests."""

    def __init__(self, *steps: httpx.Response | Exception) -> None:
        self.steps = steps
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Record `request` and answer with the next step."""
        self.requests.append(request)
        step = self.steps[min(len(self.requests), len(self.steps)) - 1]
        if isinstance(step, Exception):
            raise type(step)(*step.args)
        # A fresh response each time: httpx binds a response to the request it answers.
        return httpx.Response(step.status_code, headers=step.headers, content=step.content)


@contextlib.asynccontextmanager
async def open_client(
    handler: Handler,
    *,
    max_retries: int = 2,
    timeout: float | None = None,
    max_connections: int | None = None,
) -> AsyncIterator[QoderClient]:
    """A QoderClient over an in-process MockTransport; both are closed on exit."""
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http_client,
        QoderClient(
            pat=PAT,
            base_url=BASE_URL,
            timeout=timeout,
            max_retries=max_retries,
            max_connections=max_connections,
            http_client=http_client,
        ) as client,
    ):
        yield client


def get_call(client: QoderClient) -> Awaitable[object]:
    """A GET through the public API."""
    return client.deployments.get(DEP_ID)


def post_call(client: QoderClient) -> Awaitable[object]:
    """A POST through the public API."""
    return client.deployments.pause(DEP_ID)


CALLS = [pytest.param(get_call, id="GET"), pytest.param(post_call, id="POST")]


# --- headers -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_get_sends_auth_user_agent_accept_and_request_id() -> None:
    """A GET carries the bearer PAT, our User-Agent, Accept JSON and an x-request-id, no key."""
    script = Script(reply(200, DEPLOYMENT))
    async with open_client(script) as client:
        deployment = await client.deployments.get(DEP_ID)
    assert isinstance(deployment, Deployment)
    (request,) = script.requests
    assert request.method == "GET"
    assert str(request.url) == f"{BASE_URL}/deployments/{DEP_ID}"
    assert request.headers["Authorization"] == f"Bearer {PAT}"
    assert request.headers["User-Agent"].startswith(f"qoder-async/{qoder_async.__version__}")
    assert request.headers["Accept"] == "application/json"
    assert uuid.UUID(request.headers["x-request-id"]).version == 4
    assert "Idempotency-Key" not in request.headers
    assert "Content-Type" not in request.headers
    assert request.content == b""


@pytest.mark.anyio
async def test_request_ids_differ_between_logical_requests() -> None:
    """Two logical requests get two different x-request-id values."""
    script = Script(reply(200, DEPLOYMENT))
    async with open_client(script) as client:
        await client.deployments.get(DEP_ID)
        await client.deployments.get(DEP_ID)
    first, second = (request.headers["x-request-id"] for request in script.requests)
    assert first != second


@pytest.mark.anyio
async def test_request_id_and_idempotency_key_are_stable_across_retries() -> None:
    """Every retry of one POST reuses its x-request-id and its generated uuid4 Idempotency-Key."""
    script = Script(reply(500), httpx.ConnectError("reset"), reply(200, RUN))
    async with open_client(script) as client:
        run = await client.deployments.run(DEP_ID)
    assert run.id == RUN_ID
    assert len(script.requests) == 3
    request_ids = {request.headers["x-request-id"] for request in script.requests}
    keys = {request.headers["Idempotency-Key"] for request in script.requests}
    assert len(request_ids) == 1
    assert len(keys) == 1
    assert uuid.UUID(keys.pop()).version == 4


@pytest.mark.anyio
async def test_json_body_is_sent_with_content_type() -> None:
    """A POST with a body sends compact JSON labelled application/json."""
    script = Script(reply(200, RUN))
    async with open_client(script) as client:
        await client.deployments.run(DEP_ID)
    (request,) = script.requests
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {}


@pytest.mark.anyio
async def test_every_post_method_sends_a_fresh_idempotency_key() -> None:
    """Each POST method sends an Idempotency-Key, a new uuid per logical request."""
    script = Script(reply(200, DEPLOYMENT))
    run_script = Script(reply(200, RUN))
    async with open_client(script) as client, open_client(run_script) as run_client:
        await client.deployments.pause(DEP_ID)
        await client.deployments.unpause(DEP_ID)
        await client.deployments.archive(DEP_ID)
        await client.deployments.update(DEP_ID, name="renamed")
        await client.deployments.create(
            name="n",
            agent="agent_1",
            environment_id="env_1",
            initial_events=[qoder_async.UserMessage(content="hi")],
        )
        await run_client.deployments.run(DEP_ID)
    requests = [*script.requests, *run_script.requests]
    assert [request.method for request in requests] == ["POST"] * 6
    keys = [request.headers["Idempotency-Key"] for request in requests]
    assert all(uuid.UUID(key).version == 4 for key in keys)
    assert len(set(keys)) == len(keys)


@pytest.mark.anyio
async def test_idempotency_key_can_be_given_and_survives_retries() -> None:
    """`idempotency_key=` replaces the generated key, on the first attempt and every retry."""
    script = Script(reply(503), reply(200, DEPLOYMENT))
    async with open_client(script) as client:
        await client.deployments.pause(DEP_ID, idempotency_key="k1")
    assert [request.headers["Idempotency-Key"] for request in script.requests] == ["k1", "k1"]


# --- error mapping -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls", "error_type"),
    [
        (400, BadRequestError, "invalid_request_error"),
        (401, AuthenticationError, "authentication_error"),
        (403, PermissionDeniedError, "permission_error"),
        (404, NotFoundError, "not_found_error"),
        (409, ConflictError, "conflict_error"),
        (429, RateLimitError, "rate_limit_error"),
        (500, ServerError, "api_error"),
        (502, ServerError, "api_error"),
        (503, ServerError, "overloaded_error"),
        (418, APIError, "teapot_error"),
    ],
)
@pytest.mark.anyio
async def test_error_envelope_maps_to_exception(
    status: int, cls: type[APIError], error_type: str
) -> None:
    """Each status raises its class carrying the envelope's type, message, param and request id."""
    script = Script(
        reply(status, envelope(error_type, "Missing required field: name", param="name"))
    )
    async with open_client(script, max_retries=0) as client:
        with pytest.raises(APIError) as info:
            await client.deployments.get(DEP_ID)
    exc = info.value
    assert type(exc) is cls
    assert exc.status_code == status
    assert exc.error_type == error_type
    assert exc.message == "Missing required field: name"
    assert exc.param == "name"
    assert exc.request_id == "req_body"
    text = str(exc)
    assert "\n" not in text
    for part in (str(status), error_type, "Missing required field: name", "req_body"):
        assert part in text


@pytest.mark.parametrize(
    ("headers", "body_has_id", "expected"),
    [
        pytest.param(
            {"x-request-id": "hdr_x", "request-id": "hdr_plain"}, True, "hdr_x", id="x-header"
        ),
        pytest.param({"request-id": "hdr_plain"}, True, "hdr_plain", id="plain-header"),
        pytest.param({}, True, "req_body", id="body"),
        pytest.param({}, False, None, id="sent"),
    ],
)
@pytest.mark.anyio
async def test_request_id_precedence(
    headers: dict[str, str], body_has_id: bool, expected: str | None
) -> None:
    """The request id comes from x-request-id, then request-id, then the body, then ours."""
    body = envelope("not_found_error", "no such deployment")
    if not body_has_id:
        del body["request_id"]
    script = Script(reply(404, body, headers=headers))
    async with open_client(script) as client:
        with pytest.raises(NotFoundError) as info:
            await client.deployments.get(DEP_ID)
    sent = script.requests[0].headers["x-request-id"]
    assert info.value.request_id == (expected if expected is not None else sent)


@pytest.mark.parametrize(
    ("response", "cls"),
    [
        pytest.param(reply(429), RateLimitError, id="429-empty"),
        pytest.param(reply(503), ServerError, id="503-empty"),
        pytest.param(reply(502, content=b"<html>Bad Gateway</html>"), ServerError, id="502-html"),
        pytest.param(reply(400, content=b"{not json"), BadRequestError, id="400-broken-json"),
        pytest.param(reply(404, [1, 2]), NotFoundError, id="404-json-list"),
        pytest.param(reply(401, {"error": "nope"}), AuthenticationError, id="401-flat-error"),
        pytest.param(reply(403, {"error": {"type": 3}}), PermissionDeniedError, id="403-bad-types"),
    ],
)
@pytest.mark.anyio
async def test_error_without_envelope_still_maps(
    response: httpx.Response, cls: type[APIError]
) -> None:
    """Bodies that are empty, not JSON or not the envelope still raise the status's class."""
    script = Script(response)
    async with open_client(script, max_retries=0) as client:
        with pytest.raises(APIError) as info:
            await client.deployments.get(DEP_ID)
    exc = info.value
    assert type(exc) is cls
    assert exc.status_code == response.status_code
    assert exc.error_type is None
    assert exc.message
    assert exc.request_id == script.requests[0].headers["x-request-id"]
    assert str(response.status_code) in str(exc)
    assert "\n" not in str(exc)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"Retry-After": "3"}, 3.0, id="seconds"),
        pytest.param({"retry-after-ms": "1500"}, 1.5, id="ms"),
        pytest.param({}, None, id="none"),
    ],
)
@pytest.mark.anyio
async def test_rate_limit_error_carries_retry_after(
    headers: dict[str, str], expected: float | None
) -> None:
    """RateLimitError.retry_after is the server's requested delay in seconds, or None."""
    script = Script(reply(429, headers=headers))
    async with open_client(script, max_retries=0) as client:
        with pytest.raises(RateLimitError) as info:
            await client.deployments.get(DEP_ID)
    assert info.value.retry_after == expected


# --- retries -------------------------------------------------------------------------------


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize(
    ("status", "cls"),
    [(408, APIError), (429, RateLimitError), (500, ServerError), (503, ServerError)],
)
@pytest.mark.anyio
async def test_retryable_status_is_retried_then_raised(
    call: Callable[[QoderClient], Awaitable[object]], status: int, cls: type[APIError]
) -> None:
    """408, 429, 500 and 503 are retried max_retries times, then raised as themselves."""
    script = Script(reply(status, headers={"Retry-After": "0"}))
    async with open_client(script, max_retries=2) as client:
        with pytest.raises(APIError) as info:
            await call(client)
    assert type(info.value) is cls
    assert len(script.requests) == 3


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize(
    ("error", "cls"),
    [
        (httpx.ConnectError("connection refused"), APIConnectionError),
        (httpx.RemoteProtocolError("peer closed connection"), APIConnectionError),
        (httpx.ReadTimeout("read timed out"), APITimeoutError),
        (httpx.ConnectTimeout("connect timed out"), APITimeoutError),
    ],
)
@pytest.mark.anyio
async def test_connection_errors_are_retried_then_raised(
    call: Callable[[QoderClient], Awaitable[object]],
    error: httpx.TransportError,
    cls: type[APIConnectionError],
) -> None:
    """Transport failures are retried, then raised as APIConnectionError/APITimeoutError."""
    script = Script(error)
    async with open_client(script, max_retries=3) as client:
        with pytest.raises(APIConnectionError) as info:
            await call(client)
    assert type(info.value) is cls
    assert isinstance(info.value.__cause__, type(error))
    assert len(script.requests) == 4


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("hint", [None, "true"])
@pytest.mark.anyio
async def test_conflict_is_never_retried(
    call: Callable[[QoderClient], Awaitable[object]], hint: str | None
) -> None:
    """A 409 is raised at once, even when the server says x-should-retry: true."""
    headers = {} if hint is None else {"x-should-retry": hint}
    script = Script(reply(409, envelope("conflict_error", "already paused"), headers=headers))
    async with open_client(script, max_retries=3) as client:
        with pytest.raises(ConflictError):
            await call(client)
    assert len(script.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 418])
@pytest.mark.anyio
async def test_client_errors_are_not_retried(status: int) -> None:
    """Other 4xx statuses are raised after one attempt."""
    script = Script(reply(status, envelope("x_error", "no")))
    async with open_client(script, max_retries=3) as client:
        with pytest.raises(APIError):
            await client.deployments.get(DEP_ID)
    assert len(script.requests) == 1


@pytest.mark.anyio
async def test_should_retry_false_stops_retrying_a_503() -> None:
    """`x-should-retry: false` makes a 503 final."""
    script = Script(reply(503, headers={"x-should-retry": "false"}))
    async with open_client(script, max_retries=3) as client:
        with pytest.raises(ServerError):
            await client.deployments.get(DEP_ID)
    assert len(script.requests) == 1


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.anyio
async def test_should_retry_true_forces_retrying_a_400(
    call: Callable[[QoderClient], Awaitable[object]],
) -> None:
    """`x-should-retry: true` makes a 400 retryable."""
    script = Script(
        reply(
            400, envelope("invalid_request_error", "try again"), headers={"x-should-retry": "true"}
        ),
        reply(200, DEPLOYMENT),
    )
    async with open_client(script, max_retries=3) as client:
        result = await call(client)
    assert isinstance(result, Deployment)
    assert len(script.requests) == 2


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.anyio
async def test_success_after_transient_failures_returns_the_data(
    call: Callable[[QoderClient], Awaitable[object]],
) -> None:
    """A 503, a reset and a 429 followed by a 200 give the 200's data."""
    script = Script(
        reply(503),
        httpx.ConnectError("reset"),
        reply(429, headers={"retry-after-ms": "0"}),
        reply(200, DEPLOYMENT),
    )
    async with open_client(script, max_retries=3) as client:
        result = await call(client)
    assert isinstance(result, Deployment)
    assert result.id == DEP_ID
    assert len(script.requests) == 4


@pytest.mark.parametrize("max_retries", [0, 1, 5])
@pytest.mark.anyio
async def test_max_retries_bounds_the_attempts(max_retries: int) -> None:
    """A request is attempted exactly max_retries + 1 times; 0 means one attempt."""
    script = Script(reply(500))
    async with open_client(script, max_retries=max_retries) as client:
        with pytest.raises(ServerError):
            await client.deployments.get(DEP_ID)
    assert len(script.requests) == max_retries + 1


@pytest.mark.anyio
async def test_listing_pages_are_retried() -> None:
    """A page request of a listing is retried like any GET."""
    page = {"data": [RUN], "first_id": RUN_ID, "last_id": RUN_ID, "has_more": False}
    script = Script(reply(503, headers={"Retry-After": "0"}), reply(200, page))
    async with open_client(script) as client:
        runs = [run async for run in client.deployment_runs.list()]
    assert [run.id for run in runs] == [RUN_ID]
    assert len(script.requests) == 2


# --- the retry delay -----------------------------------------------------------------------


def _headers(headers: dict[str, str]) -> httpx.Headers:
    return httpx.Headers(headers)


def _http_date(offset: timedelta) -> str:
    return email.utils.format_datetime(datetime.now(timezone.utc) + offset, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"Retry-After": "2"}, 2.0, id="seconds"),
        pytest.param({"Retry-After": "2.5"}, 2.5, id="fractional-seconds"),
        pytest.param({"Retry-After": "0"}, 0.0, id="zero"),
        pytest.param({"Retry-After": "3600"}, 3600.0, id="an-hour"),
        pytest.param({"retry-after-ms": "1500"}, 1.5, id="ms"),
        pytest.param({"retry-after-ms": "120000"}, 120.0, id="ms-over-60s"),
        pytest.param({"retry-after-ms": "250", "Retry-After": "9"}, 0.25, id="ms-wins"),
        pytest.param({"retry-after-ms": "soon", "Retry-After": "9"}, 9.0, id="bad-ms-falls-back"),
        pytest.param({"Retry-After": "-5"}, None, id="negative"),
        pytest.param({"Retry-After": "nan"}, None, id="nan"),
        pytest.param({"Retry-After": "inf"}, None, id="infinite"),
        pytest.param({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None, id="past-date"),
        pytest.param({"Retry-After": "Wed, 21 Oct 2015 07:28:00 -0000"}, None, id="past-no-zone"),
        pytest.param({"Retry-After": "whenever"}, None, id="garbage"),
        pytest.param({}, None, id="absent"),
    ],
)
def test_retry_after_parses_headers(headers: dict[str, str], expected: float | None) -> None:
    """Retry-After (seconds) and retry-after-ms (which wins) give seconds; unusable gives None."""
    assert retry_after(_headers(headers)) == expected


def test_retry_after_http_date() -> None:
    """An HTTP-date Retry-After gives the seconds until that moment."""
    delay = retry_after(_headers({"Retry-After": _http_date(timedelta(seconds=30))}))
    assert delay is not None
    # The date has one-second resolution and the clock moves on: a loose window.
    assert 20 < delay <= 30


def test_backoff_defaults() -> None:
    """Back-off starts at 0.5 s, is capped at 8 s, and hints up to 60 s are honoured."""
    policy = RetryPolicy()
    assert (policy.initial_backoff, policy.max_backoff) == (0.5, 8.0)
    assert (policy.max_retries, policy.max_retry_after, policy.jitter) == (2, 60.0, 0.25)


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (10, 8.0)],
)
def test_backoff_grows_and_is_capped(
    monkeypatch: pytest.MonkeyPatch, attempt: int, ceiling: float
) -> None:
    """Back-off is 0.5 * 2**attempt capped at 8, times a jitter factor in [0.75, 1.0]."""
    policy = RetryPolicy()
    real_random = random.random
    monkeypatch.setattr(random, "random", lambda: 1.0)
    assert policy.backoff(attempt) == pytest.approx(0.75 * ceiling)
    monkeypatch.setattr(random, "random", lambda: 0.0)
    assert policy.backoff(attempt) == pytest.approx(ceiling)
    monkeypatch.setattr(random, "random", real_random)
    delays = [policy.backoff(attempt) for _ in range(200)]
    assert all(0.75 * ceiling <= delay <= ceiling for delay in delays)
    # Jitter: the delays are spread, not one fixed value.
    assert len(set(delays)) > 1


# --- the shared back-off gate ----------------------------------------------------------------


@pytest.mark.anyio
async def test_gate_hold_never_shortens() -> None:
    """`hold` extends the pause to now + delay but never brings it forward."""
    gate = BackoffGate()
    before = anyio.current_time()
    gate.hold(30)
    resume_at = gate._resume_at
    assert resume_at >= before + 30
    gate.hold(1)
    assert gate._resume_at == resume_at
    gate.hold(45)
    assert gate._resume_at >= before + 45


@pytest.mark.anyio
async def test_gate_wait_returns_at_once_without_hold() -> None:
    """Without a hold, or once it lies in the past, `wait` does not block."""
    gate = BackoffGate()
    await gate.wait()
    gate.hold(0)
    await gate.wait()


@pytest.mark.anyio
async def test_gate_wait_blocks_while_held() -> None:
    """A task waiting at a held gate stays blocked."""
    gate = BackoffGate()
    gate.hold(30)
    passed: list[bool] = []

    async def waiter() -> None:
        await gate.wait()
        passed.append(True)

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        assert passed == []
        tg.cancel_scope.cancel()
    assert passed == []


@pytest.mark.anyio
async def test_rate_limit_holds_every_request_of_the_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a 429 with Retry-After, other requests of the client (and its copies) wait too.

    (The pause of 30 s is within their 60 s timeout; a longer one is refused at once.)
    """
    script = Script(reply(429, headers={"Retry-After": "30"}), reply(200, DEPLOYMENT))
    async with open_client(script, max_retries=1, timeout=60) as client:
        gate = client._transport.gate
        held = anyio.Event()
        hold = gate.hold

        def spy(delay: float) -> None:
            hold(delay)
            held.set()

        monkeypatch.setattr(gate, "hold", spy)
        before = anyio.current_time()
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.deployments.get, DEP_ID)
            await held.wait()
            assert gate._resume_at >= before + 30
            tg.start_soon(client.deployment_runs.get, RUN_ID)
            tg.start_soon(client.with_options(max_retries=0).deployments.get, DEP_ID)
            await anyio.wait_all_tasks_blocked()
            # Only the 429 went out: the retry and both newcomers wait at the gate.
            assert len(script.requests) == 1
            tg.cancel_scope.cancel()
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    ("response", "holds"),
    [
        pytest.param(reply(429, headers={"Retry-After": "0"}), [0.0], id="429"),
        pytest.param(reply(503, headers={"retry-after-ms": "0"}), [0.0], id="503"),
        pytest.param(reply(500, headers={"Retry-After": "0"}), [], id="500"),
        pytest.param(reply(408), [], id="408"),
        pytest.param(httpx.ConnectError("reset"), [], id="reset"),
    ],
)
@pytest.mark.anyio
async def test_only_overload_signals_hold_the_gate(
    monkeypatch: pytest.MonkeyPatch, response: httpx.Response | Exception, holds: list[float]
) -> None:
    """429 and 503 pause the whole client through the gate; other retries wait on their own."""
    script = Script(response, reply(200, DEPLOYMENT))
    async with open_client(script) as client:
        seen: list[float] = []
        monkeypatch.setattr(client._transport.gate, "hold", seen.append)
        await client.deployments.get(DEP_ID)
    assert seen == holds
    assert len(script.requests) == 2


# --- 2xx bodies ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_success_that_is_not_json_raises_validation_error() -> None:
    """A 2xx whose body is not JSON raises ResponseValidationError without a retry."""
    script = Script(reply(200, content=b"<html>maintenance</html>"))
    async with open_client(script) as client:
        with pytest.raises(ResponseValidationError):
            await client.deployments.get(DEP_ID)
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    "body",
    [
        pytest.param([DEPLOYMENT], id="list"),
        pytest.param({"id": 5}, id="missing-fields"),
        pytest.param({**DEPLOYMENT, "created_at": "yesterday"}, id="bad-timestamp"),
        pytest.param("dep_1", id="string"),
    ],
)
@pytest.mark.anyio
async def test_success_with_the_wrong_shape_raises_validation_error(body: object) -> None:
    """A 2xx that is JSON but not a Deployment raises ResponseValidationError."""
    script = Script(reply(200, body))
    async with open_client(script) as client:
        with pytest.raises(ResponseValidationError):
            await client.deployments.get(DEP_ID)


@pytest.mark.anyio
async def test_page_with_the_wrong_shape_raises_validation_error() -> None:
    """A listing page that is not the page envelope raises ResponseValidationError."""
    script = Script(reply(200, {"items": [DEPLOYMENT]}), reply(200, {"data": [{"id": 1}]}))
    async with open_client(script) as client:
        with pytest.raises(ResponseValidationError):
            await client.deployments.list()
        with pytest.raises(ResponseValidationError):
            await client.deployment_runs.list()


@pytest.mark.anyio
async def test_undecodable_body_raises_a_qoder_error() -> None:
    """A body httpx cannot decode (e.g. corrupt gzip) raises a QoderError, not a bare httpx error."""
    # What httpx raises while reading a body labelled gzip that is not.
    script = Script(
        httpx.DecodingError("Error -3 while decompressing data: incorrect header check")
    )
    async with open_client(script, max_retries=0) as client:
        with pytest.raises(QoderError):
            await client.deployments.get(DEP_ID)


# --- the PAT stays secret -------------------------------------------------------------------


@pytest.mark.anyio
async def test_pat_not_in_client_repr() -> None:
    """Neither the client's repr nor a copy's shows the PAT."""
    async with open_client(Script(reply(200, DEPLOYMENT))) as client:
        assert PAT not in repr(client)
        assert PAT not in repr(client.with_options(max_retries=0))
        assert BASE_URL in repr(client)


@pytest.mark.parametrize(
    "step",
    [
        pytest.param(reply(401, envelope("authentication_error", "Invalid token.")), id="401"),
        pytest.param(reply(429), id="429"),
        pytest.param(reply(500), id="500"),
        pytest.param(httpx.ConnectError("connection refused"), id="connect"),
        pytest.param(httpx.ReadTimeout("timed out"), id="timeout"),
        pytest.param(reply(200, content=b"not json"), id="not-json"),
        pytest.param(reply(200, {"id": 1}), id="bad-shape"),
    ],
)
@pytest.mark.anyio
async def test_pat_not_in_exceptions(step: httpx.Response | Exception) -> None:
    """No raised exception, nor what it was chained from, shows the PAT in str or repr."""
    async with open_client(Script(step), max_retries=1) as client:
        with pytest.raises(QoderError) as info:
            await client.deployments.get(DEP_ID)
    exc: BaseException | None = info.value
    while exc is not None:
        assert PAT not in str(exc)
        assert PAT not in repr(exc)
        assert all(PAT not in repr(arg) for arg in exc.args)
        exc = exc.__cause__ or exc.__context__


@pytest.mark.anyio
async def test_pat_not_in_retry_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Retries are logged by the qoder_async logger, and no log record shows the PAT."""
    caplog.set_level(logging.DEBUG)
    script = Script(
        reply(503),
        httpx.ConnectError("reset"),
        reply(401, envelope("authentication_error", "Invalid token.")),
    )
    async with open_client(script, max_retries=3) as client:
        with pytest.raises(AuthenticationError):
            await client.deployments.get(DEP_ID)
    ours = [record for record in caplog.records if record.name.startswith("qoder_async")]
    # Two retries at INFO, and one DEBUG line per attempt.
    assert [record.levelno for record in ours] == [logging.DEBUG, logging.INFO] * 2 + [
        logging.DEBUG
    ]
    for record in caplog.records:
        assert PAT not in record.getMessage()
        assert PAT not in repr(record.args)
    assert PAT not in caplog.text


# --- with_options ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_with_options_changes_retries_for_the_copy_only() -> None:
    """A copy made with max_retries=0 tries once; the original keeps its own retry count."""
    script = Script(reply(500))
    async with open_client(script, max_retries=3) as client:
        once = client.with_options(max_retries=0)
        with pytest.raises(ServerError):
            await once.deployments.get(DEP_ID)
        assert len(script.requests) == 1
        with pytest.raises(ServerError):
            await client.deployments.get(DEP_ID)
        assert len(script.requests) == 1 + 4
        assert client._transport.max_retries == 3
        assert once._transport.max_retries == 0


@pytest.mark.anyio
async def test_with_options_shares_pool_limiter_and_gate() -> None:
    """A copy uses the same httpx client, concurrency limit and back-off gate."""
    async with open_client(Script(reply(200, DEPLOYMENT)), timeout=30) as client:
        copy = client.with_options(timeout=5, max_retries=7)
        assert copy._transport.http_client is client._transport.http_client
        assert copy._transport.limiter is client._transport.limiter
        assert copy._transport.gate is client._transport.gate
        assert copy._transport.timeout == 5
        assert client._transport.timeout == 30
        assert client._transport.max_retries == 2
        assert "timeout=5" in repr(copy)
        await copy.aclose()
        assert not client._transport.http_client.is_closed
        await client.deployments.get(DEP_ID)


@pytest.mark.anyio
async def test_with_options_timeout_reaches_the_request() -> None:
    """The copy's timeout is applied to its requests; the original's stays in force."""
    script = Script(reply(200, DEPLOYMENT))
    async with open_client(script, timeout=30) as client:
        await client.with_options(timeout=7.5).deployments.get(DEP_ID)
        await client.deployments.get(DEP_ID)
    copy_timeout, original_timeout = (request.extensions["timeout"] for request in script.requests)
    assert copy_timeout["read"] == 7.5
    assert copy_timeout["connect"] == 7.5
    assert original_timeout["read"] == 30
    assert original_timeout["connect"] == 10


@pytest.mark.anyio
async def test_with_options_keeps_unset_options() -> None:
    """Options not passed to with_options keep the original's values."""
    async with open_client(Script(reply(200, DEPLOYMENT)), timeout=12, max_retries=4) as client:
        copy = client.with_options()
        assert copy._transport.timeout == 12
        assert copy._transport.max_retries == 4
        assert client.with_options(timeout=None)._transport.timeout is None


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": "5"}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"max_retries": True}, "max_retries"),
    ],
)
@pytest.mark.anyio
async def test_with_options_rejects_bad_values(options: dict[str, Any], name: str) -> None:
    """with_options validates like the constructor."""
    async with open_client(Script(reply(200, DEPLOYMENT))) as client:
        with pytest.raises((TypeError, ValueError), match=name):
            client.with_options(**options)


# --- the connection limit --------------------------------------------------------------------


@pytest.mark.anyio
async def test_in_flight_requests_never_exceed_max_connections() -> None:
    """With max_connections=2, at most two requests are in the handler at any moment."""
    in_flight = 0
    peak = 0
    release = anyio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await release.wait()
        finally:
            in_flight -= 1
        return reply(200, DEPLOYMENT)

    results: list[Deployment] = []

    async def fetch(client: QoderClient) -> None:
        results.append(await client.deployments.get(DEP_ID))

    async with open_client(handler, max_connections=2) as client:
        assert client.max_connections == 2
        async with anyio.create_task_group() as tg:
            for _ in range(6):
                tg.start_soon(fetch, client)
            await anyio.wait_all_tasks_blocked()
            assert in_flight == 2
            release.set()
    assert peak == 2
    assert len(results) == 6
