"""Hardening: bad PATs and base URLs refused before I/O, hostile bodies, size caps, closed clients."""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest

from qoder_async import (
    ClientClosedError,
    QoderClient,
    QoderError,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
)
from tests.hostile import (
    DEPLOYMENT,
    Counter,
    Request,
    each_request,
    head,
    response,
    serve,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from anyio.abc import SocketStream

    from tests.hostile import ConnectionHandler

PAT = "pt-test"
BASE_URL = "https://api.example.test/api/v1/cloud"
DEP_ID = str(DEPLOYMENT["id"])
DEEP = b"[" * 1500 + b"]" * 1500
MIB = 1024 * 1024
QUICK = RetryPolicy(initial_backoff=0, max_backoff=0)
BOUND = 20.0


def bad(value: object) -> Any:
    """Pass a deliberately ill-typed value past the type checker."""
    return value


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start without QODER_PAT and QODER_BASE_URL, whatever the machine has."""
    monkeypatch.delenv("QODER_PAT", raising=False)
    monkeypatch.delenv("QODER_BASE_URL", raising=False)


class Recorder:
    """A MockTransport handler that records requests and replays steps (the last repeats)."""

    def __init__(self, *steps: httpx.Response) -> None:
        self.steps = steps or (httpx.Response(200, content=json.dumps(DEPLOYMENT).encode()),)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Record `request` and answer with the next step."""
        self.requests.append(request)
        step = self.steps[min(len(self.requests), len(self.steps)) - 1]
        return httpx.Response(step.status_code, headers=step.headers, content=step.content)


@contextlib.asynccontextmanager
async def mock_client(recorder: Recorder, **options: Any) -> AsyncIterator[QoderClient]:
    """A client over a MockTransport driven by `recorder`, retries without back-off."""
    options.setdefault("retry", QUICK)
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as http,
        QoderClient(pat=PAT, base_url=BASE_URL, http_client=http, **options) as client,
    ):
        yield client


# -- the PAT -----------------------------------------------------------------------------------

SECRET = "pt-SECRET-4f9a"
BAD_PATS = [
    pytest.param(SECRET + "\r\nX-Injected: 1", id="crlf"),
    pytest.param(SECRET + "\n", id="trailing-lf"),
    pytest.param("pt-SECRET 4f9a", id="inner-space"),
    pytest.param("pt-SECRET\t4f9a", id="tab"),
    pytest.param("pt-SECRET-4f9ä", id="non-ascii"),
    pytest.param("pt-SECRET-\x7f", id="del"),
    pytest.param("pt-SECRET-\x00", id="nul"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize("pat", BAD_PATS)
def test_a_pat_that_is_not_printable_ascii_is_refused_without_echoing_it(pat: str) -> None:
    """Issue 8 #6: a PAT that is not printable ASCII is refused, never echoed.

    CR/LF, whitespace, non-ASCII or control characters raise ValueError at once, and the
    message shows no part of the secret.
    """
    with pytest.raises(ValueError, match="pat") as caught:
        QoderClient(pat=pat)
    assert "SECRET" not in str(caught.value)
    assert "SECRET" not in repr(caught.value.args)


@pytest.mark.parametrize("pat", BAD_PATS[:5])
def test_a_bad_pat_from_the_environment_is_refused_too(
    monkeypatch: pytest.MonkeyPatch, pat: str
) -> None:
    """$QODER_PAT goes through the same check."""
    monkeypatch.setenv("QODER_PAT", pat)
    with pytest.raises(ValueError, match="pat") as caught:
        QoderClient()
    assert "SECRET" not in str(caught.value)


# -- the base URL ------------------------------------------------------------------------------

BAD_URLS = [
    pytest.param("http://", id="no-host"),
    pytest.param("https://", id="https-no-host"),
    pytest.param("https:///api/v1/cloud", id="empty-host"),
    pytest.param("https://api.qoder.com/api/v1/cloud?q=1", id="query"),
    pytest.param("https://api.qoder.com/api/v1/cloud?", id="empty-query"),
    pytest.param("https://api.qoder.com/api/v1/cloud#f", id="fragment"),
    pytest.param("https://user:pw-SECRET@api.qoder.com/cloud", id="userinfo"),
    pytest.param("https://user@api.qoder.com/cloud", id="user"),
    pytest.param("https://api.qoder.com:99999/cloud", id="port-range"),
    pytest.param("https://api.qoder.com:abc/cloud", id="port-text"),
    pytest.param("https://api.qoder.com/api v1", id="space"),
    pytest.param("https://api.qoder.com/cloud\r\n", id="crlf"),
    pytest.param("ftp://api.qoder.com/cloud", id="ftp"),
    pytest.param("api.qoder.com/api/v1/cloud", id="no-scheme"),
    pytest.param("http://api.qoder.com/api/v1/cloud", id="cleartext"),
    pytest.param("http://10.0.0.7:8080/cloud", id="cleartext-lan"),
]


@pytest.mark.parametrize("base_url", BAD_URLS)
def test_a_base_url_that_would_misroute_or_leak_is_refused(base_url: str) -> None:
    """Issue 8 #6: a base URL that would misroute or leak raises ValueError.

    No host, a query, a fragment, userinfo, a bad port or cleartext http to another
    machine: each names base_url, never echoing a password.
    """
    with pytest.raises(ValueError, match="base_url") as caught:
        QoderClient(pat=PAT, base_url=base_url)
    assert "SECRET" not in str(caught.value)


def test_a_base_url_must_be_a_string() -> None:
    """A base URL of another type is a TypeError."""
    with pytest.raises(TypeError, match="base_url"):
        QoderClient(pat=PAT, base_url=bad(b"https://api.qoder.com"))


@pytest.mark.parametrize(
    "base_url",
    [
        "http://localhost:8080/cloud",
        "http://127.0.0.5/cloud",
        "http://[::1]:9000/cloud",
        "http://api.localhost/cloud",
        "https://api.qoder.com.cn/api/v1/cloud",
    ],
)
@pytest.mark.anyio
async def test_loopback_http_and_any_https_are_accepted(base_url: str) -> None:
    """Plain http to this machine is fine; https anywhere is."""
    async with QoderClient(pat=PAT, base_url=base_url) as client:
        assert client.base_url == base_url


@pytest.mark.anyio
async def test_cleartext_http_needs_an_explicit_opt_in() -> None:
    """`allow_insecure_http=True` accepts http to another host; a non-bool is refused."""
    async with QoderClient(
        pat=PAT, base_url="http://gateway.internal/cloud", allow_insecure_http=True
    ) as client:
        assert client.base_url == "http://gateway.internal/cloud"
    with pytest.raises(TypeError, match="allow_insecure_http"):
        QoderClient(pat=PAT, allow_insecure_http=bad("yes"))


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"max_response_bytes": 0}, ValueError),
        ({"max_response_bytes": 1.5}, TypeError),
        ({"max_response_bytes": True}, TypeError),
        ({"deadline": 0}, ValueError),
        ({"deadline": "5"}, TypeError),
        ({"rate_limit": 50}, TypeError),
        ({"timeout": httpx.Limits()}, TypeError),
    ],
)
def test_other_new_options_are_checked(options: dict[str, Any], error: type[Exception]) -> None:
    """The size cap, deadline, budget and timeout are checked when the client is made."""
    name = next(iter(options))
    with pytest.raises(error, match=name):
        QoderClient(pat=PAT, **options)


# -- bodies that would hurt: deep nesting, huge numbers, NaN --------------------------------------


def deep_json(status: int, then_ok: bool) -> ConnectionHandler:
    """A server answering JSON nested 1500 deep with `status` (then 200s, if `then_ok`)."""
    counter = Counter()

    async def answer(request: Request, stream: SocketStream) -> bool:
        counter.requests += 1
        if counter.requests > 1 and then_ok:
            await stream.send(response(200, json.dumps(DEPLOYMENT).encode()))
        else:
            await stream.send(response(status, DEEP))
        return True

    return each_request(answer)


@pytest.mark.anyio
async def test_json_nested_too_deep_is_a_validation_error() -> None:
    """Issue 8 #6: a 200 whose JSON is nested 1500 deep raises ResponseValidationError."""
    async with (
        serve(deep_json(200, then_ok=False)) as url,
        QoderClient(pat=PAT, base_url=url, max_retries=0) as client,
    ):
        with pytest.raises(ResponseValidationError, match="deep"):
            await client.deployments.get(DEP_ID)


@pytest.mark.anyio
async def test_a_503_with_deep_json_is_still_retried() -> None:
    """Issue 8 #6: a 503 whose body is nested 1500 deep is retried like any 503."""
    async with (
        serve(deep_json(503, then_ok=True)) as url,
        QoderClient(pat=PAT, base_url=url, max_retries=1) as client,
    ):
        deployment = await client.deployments.get(DEP_ID)
    assert deployment.id == DEP_ID


def _deployment_with(raw_number: str) -> bytes:
    text = json.dumps({**DEPLOYMENT, "agent": {**DEPLOYMENT["agent"], "version": 7}})  # type: ignore[dict-item]
    return text.replace('"version": 7', f'"version": {raw_number}').encode()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(_deployment_with("1e400"), id="overflow"),
        pytest.param(_deployment_with("-1e400"), id="negative-overflow"),
        pytest.param(_deployment_with("NaN"), id="nan"),
        pytest.param(_deployment_with("Infinity"), id="infinity"),
        pytest.param(_deployment_with("1" * 5000), id="5000-digits"),
        pytest.param(DEEP, id="deep-list"),
        pytest.param(b'{"a":' * 1500 + b"1" + b"}" * 1500, id="deep-object"),
        pytest.param(b"\xff\xfe\x00garbage", id="not-utf8"),
        pytest.param(b"", id="empty"),
    ],
)
@pytest.mark.anyio
async def test_any_undecodable_2xx_body_is_a_validation_error(content: bytes) -> None:
    """Overflowing numbers, NaN, deep nesting or bytes that are not JSON: ResponseValidationError."""
    recorder = Recorder(httpx.Response(200, content=content))
    async with mock_client(recorder) as client:
        with pytest.raises(ResponseValidationError):
            await client.deployments.get(DEP_ID)
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(DEEP, id="deep"),
        pytest.param(b'{"error": {"message": 1e400}}', id="overflow"),
        pytest.param(b"\xff\xfe<html>", id="not-utf8"),
        pytest.param(b'{"error": NaN}', id="nan"),
    ],
)
@pytest.mark.anyio
async def test_a_5xx_body_never_stops_a_retry(content: bytes) -> None:
    """Whatever the body of a 503, it is retried, and the retry's 200 is returned."""
    ok = httpx.Response(200, content=json.dumps(DEPLOYMENT).encode())
    recorder = Recorder(httpx.Response(503, content=content), ok)
    async with mock_client(recorder) as client:
        deployment = await client.deployments.get(DEP_ID)
    assert deployment.id == DEP_ID
    assert len(recorder.requests) == 2


# -- the response size cap -----------------------------------------------------------------------

HUNDRED_MB = 100_000_000


def huge_body(status: int, counter: Counter, *, chunked: bool) -> ConnectionHandler:
    """A server answering a body of 100 MB (zeros) as fast as the client reads it."""
    chunk = b"0" * (64 * 1024)

    async def answer(request: Request, stream: SocketStream) -> bool:
        counter.requests += 1
        if chunked:
            fields = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
            await stream.send(head(status, fields))
        else:
            await stream.send(head(status, {"Content-Type": "application/json"}, length=HUNDRED_MB))
        left = HUNDRED_MB
        while left:
            piece = chunk[:left]
            left -= len(piece)
            framed = f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
            await stream.send(framed)
            counter.bytes_sent += len(framed)
        if chunked:
            await stream.send(b"0\r\n\r\n")
        return True

    return each_request(answer)


@pytest.mark.anyio
async def test_a_declared_body_over_the_cap_is_refused_before_reading() -> None:
    """A 200 declaring 100 MB (over the default 64 MiB) raises at once; little is transferred."""
    counter = Counter()
    async with (
        serve(huge_body(200, counter, chunked=False)) as url,
        QoderClient(pat=PAT, base_url=url, max_retries=0) as client,
    ):
        with anyio.fail_after(BOUND), pytest.raises(ResponseValidationError, match="max_response"):
            await client.deployments.get(DEP_ID)
    # Socket buffers absorb a few MB before the client hangs up; never the whole body.
    assert counter.bytes_sent < 32 * MIB


@pytest.mark.anyio
async def test_an_undeclared_body_over_the_cap_is_cut_while_reading() -> None:
    """A chunked body with no length is read only up to `max_response_bytes`, then refused."""
    counter = Counter()
    async with (
        serve(huge_body(200, counter, chunked=True)) as url,
        QoderClient(pat=PAT, base_url=url, max_retries=0, max_response_bytes=MIB) as client,
    ):
        with anyio.fail_after(BOUND), pytest.raises(ResponseValidationError, match="max_response"):
            await client.deployments.get(DEP_ID)
    assert counter.bytes_sent < 32 * MIB


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
@pytest.mark.anyio
async def test_a_huge_error_body_is_kept_cut_to_64_kib(chunked: bool) -> None:
    """Issue 8 #6: a 503 with a 100 MB body is retried and raised with 64 KiB at most kept.

    The rest of the body is never read.
    """
    counter = Counter()
    async with (
        serve(huge_body(503, counter, chunked=chunked)) as url,
        QoderClient(pat=PAT, base_url=url, max_retries=1) as client,
    ):
        with anyio.fail_after(BOUND), pytest.raises(ServerError) as caught:
            await client.deployments.get(DEP_ID)
    body = caught.value.body
    assert isinstance(body, str)
    assert 0 < len(body.encode()) <= 64 * 1024
    assert counter.requests == 2
    assert counter.bytes_sent < 2 * 32 * MIB


# -- a closed client -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_closed_client_says_so_and_sends_nothing() -> None:
    """Issue 8 #6: any call after aclose() raises ClientClosedError naming QoderClient.

    Also through a view, and with the caller's http_client still open.
    """
    recorder = Recorder()
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as http:
        client = QoderClient(pat=PAT, base_url=BASE_URL, http_client=http)
        view = client.with_options(timeout=3)
        await client.aclose()
        for call in (
            lambda: client.deployments.get(DEP_ID),
            lambda: view.deployments.get(DEP_ID),
            lambda: client.deployment_runs.get("drun_1"),
            lambda: client.deployments.pause(DEP_ID),
        ):
            with pytest.raises(RuntimeError, match="QoderClient") as caught:
                await call()
            assert isinstance(caught.value, ClientClosedError)
            assert isinstance(caught.value, QoderError)
        with pytest.raises(ClientClosedError, match="QoderClient"):
            await client.deployments.list()
        assert not http.is_closed
    assert recorder.requests == []


@pytest.mark.anyio
async def test_an_owned_pool_closed_raises_the_same_clear_error() -> None:
    """With the client's own pool, the error is ours too, not httpx's bare RuntimeError."""
    async with QoderClient(pat=PAT) as client:
        pass
    with pytest.raises(ClientClosedError, match="QoderClient is closed"):
        await client.deployments.get(DEP_ID)


@pytest.mark.anyio
async def test_closing_a_view_leaves_the_client_open() -> None:
    """A view's aclose() does nothing: the client it came from owns the pool."""
    recorder = Recorder()
    async with mock_client(recorder) as client:
        await client.with_options(max_retries=0).aclose()
        await client.deployments.get(DEP_ID)
    assert len(recorder.requests) == 1
