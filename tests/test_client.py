"""QoderClient: where the PAT and base URL come from, option checks, lifecycle and repr."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from qoder_async import DEFAULT_BASE_URL, NotFoundError, QoderClient

PAT = "pt-test"
DEP = "dep_019ec556114c78f8b60ee34fcb98bf59"
DEPLOYMENT = json.loads((Path(__file__).parent / "data" / "spec_examples.json").read_text())[
    "deployment_1"
]


class Recorder:
    """A MockTransport handler that records requests and answers with a deployment."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Record `request` and answer 200 with a deployment."""
        self.requests.append(request)
        return httpx.Response(200, json=DEPLOYMENT)


def bad(value: object) -> Any:
    """Pass a deliberately ill-typed value past the type checker."""
    return value


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start without QODER_PAT and QODER_BASE_URL, whatever the machine has."""
    monkeypatch.delenv("QODER_PAT", raising=False)
    monkeypatch.delenv("QODER_BASE_URL", raising=False)


async def sent_request(**options: Any) -> httpx.Request:
    """Build a client with `options` over a recording transport, make one GET, return it."""
    recorder = Recorder()
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as http_client,
        QoderClient(http_client=http_client, **options) as client,
    ):
        await client.deployments.get(DEP)
    (request,) = recorder.requests
    return request


# --- the PAT ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_pat_argument_is_sent() -> None:
    """`pat=` is sent as the bearer token."""
    request = await sent_request(pat=PAT)
    assert request.headers["Authorization"] == f"Bearer {PAT}"


@pytest.mark.anyio
async def test_pat_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without `pat=`, $QODER_PAT is used."""
    monkeypatch.setenv("QODER_PAT", "pt-from-env")
    request = await sent_request()
    assert request.headers["Authorization"] == "Bearer pt-from-env"


@pytest.mark.anyio
async def test_pat_argument_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pat=` takes precedence over $QODER_PAT."""
    monkeypatch.setenv("QODER_PAT", "pt-from-env")
    request = await sent_request(pat=PAT)
    assert request.headers["Authorization"] == f"Bearer {PAT}"


def test_missing_pat_names_both_sources() -> None:
    """With neither `pat=` nor $QODER_PAT, a ValueError says how to provide one."""
    with pytest.raises(ValueError, match="QODER_PAT") as info:
        QoderClient()
    assert "pat=" in str(info.value)


def test_pat_must_be_a_string() -> None:
    """A PAT that is not a string is a TypeError."""
    with pytest.raises(TypeError, match="pat"):
        QoderClient(pat=bad(b"pt-bytes"))


@pytest.mark.parametrize("pat", ["", "   ", " pt-secret-padded", "pt-secret-padded\n"])
def test_pat_blank_or_padded_is_rejected_without_echoing_it(pat: str) -> None:
    """An empty or whitespace-padded PAT is a ValueError whose message does not show it."""
    with pytest.raises(ValueError, match="pat") as info:
        QoderClient(pat=pat)
    if pat.strip():
        assert "secret" not in str(info.value)


# --- the base URL ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_default_base_url() -> None:
    """Without `base_url=` or $QODER_BASE_URL, requests go to the production gateway."""
    assert DEFAULT_BASE_URL == "https://api.qoder.com/api/v1/cloud"
    request = await sent_request(pat=PAT)
    assert str(request.url) == f"{DEFAULT_BASE_URL}/deployments/{DEP}"


@pytest.mark.anyio
async def test_base_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without `base_url=`, $QODER_BASE_URL is used."""
    monkeypatch.setenv("QODER_BASE_URL", "https://env.example.test/api/v1/cloud")
    request = await sent_request(pat=PAT)
    assert str(request.url) == f"https://env.example.test/api/v1/cloud/deployments/{DEP}"


@pytest.mark.anyio
async def test_base_url_argument_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """`base_url=` takes precedence over $QODER_BASE_URL."""
    monkeypatch.setenv("QODER_BASE_URL", "https://env.example.test/api/v1/cloud")
    request = await sent_request(pat=PAT, base_url="http://localhost:8080/cloud")
    assert str(request.url) == f"http://localhost:8080/cloud/deployments/{DEP}"


@pytest.mark.parametrize(
    "base_url", ["https://x.example.test/cloud/", "https://x.example.test/cloud//"]
)
@pytest.mark.anyio
async def test_trailing_slash_is_tolerated(base_url: str) -> None:
    """A base URL ending in a slash does not produce a double slash."""
    request = await sent_request(pat=PAT, base_url=base_url)
    assert str(request.url) == f"https://x.example.test/cloud/deployments/{DEP}"


@pytest.mark.anyio
async def test_base_url_property() -> None:
    """`client.base_url` is the base URL without a trailing slash."""
    async with QoderClient(pat=PAT, base_url="https://x.example.test/cloud/") as client:
        assert client.base_url == "https://x.example.test/cloud"


@pytest.mark.parametrize(
    "base_url", ["api.qoder.com/api/v1/cloud", "ftp://api.qoder.com", "/cloud"]
)
def test_base_url_must_be_http(base_url: str) -> None:
    """A base URL that is not http(s) is a ValueError naming it."""
    with pytest.raises(ValueError, match="base_url"):
        QoderClient(pat=PAT, base_url=base_url)


def test_base_url_from_environment_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed $QODER_BASE_URL is rejected like the argument."""
    monkeypatch.setenv("QODER_BASE_URL", "api.qoder.com")
    with pytest.raises(ValueError, match="base_url"):
        QoderClient(pat=PAT)


# --- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", ["10", True, 0, -1.5, [5]])
def test_bad_timeout_is_rejected(timeout: object) -> None:
    """A timeout that is not a positive number of seconds is rejected, naming it."""
    with pytest.raises((TypeError, ValueError), match="timeout"):
        QoderClient(pat=PAT, timeout=bad(timeout))


@pytest.mark.parametrize("max_retries", ["2", True, 1.5, -1, None])
def test_bad_max_retries_is_rejected(max_retries: object) -> None:
    """max_retries must be an int >= 0."""
    with pytest.raises((TypeError, ValueError), match="max_retries"):
        QoderClient(pat=PAT, max_retries=bad(max_retries))


@pytest.mark.parametrize(
    ("max_connections", "exc"),
    [("2", TypeError), (True, TypeError), (2.0, TypeError), (0, ValueError), (-3, ValueError)],
)
def test_bad_max_connections_is_rejected(max_connections: object, exc: type[Exception]) -> None:
    """max_connections must be an int >= 1: TypeError for other kinds, ValueError below 1."""
    with pytest.raises(exc, match="max_connections"):
        QoderClient(pat=PAT, max_connections=bad(max_connections))


def test_sync_http_client_is_rejected() -> None:
    """A synchronous httpx.Client is not an AsyncClient: TypeError naming http_client."""
    with httpx.Client() as sync_client, pytest.raises(TypeError, match="http_client"):
        QoderClient(pat=PAT, http_client=bad(sync_client))


@pytest.mark.parametrize("http_client", ["http://localhost", object()])
def test_other_http_client_is_rejected(http_client: object) -> None:
    """Anything but an httpx.AsyncClient is a TypeError naming http_client."""
    with pytest.raises(TypeError, match="http_client"):
        QoderClient(pat=PAT, http_client=bad(http_client))


@pytest.mark.parametrize(("timeout", "max_retries"), [(None, 0), (0.5, 0), (30, 10)])
@pytest.mark.anyio
async def test_valid_options_are_kept(timeout: float | None, max_retries: int) -> None:
    """Valid timeout and max_retries values are accepted and used."""
    async with QoderClient(pat=PAT, timeout=timeout, max_retries=max_retries) as client:
        assert client._transport.timeout == timeout
        assert client._transport.max_retries == max_retries


@pytest.mark.anyio
async def test_default_options() -> None:
    """By default: 2 retries and a pool of 100 connections."""
    async with QoderClient(pat=PAT) as client:
        assert client._transport.max_retries == 2
        assert client.max_connections == 100


@pytest.mark.anyio
async def test_max_connections_defaults_to_the_callers_pool() -> None:
    """With a caller's client and no max_connections, its pool size is the limit."""
    async with (
        httpx.AsyncClient(limits=httpx.Limits(max_connections=7)) as http_client,
        QoderClient(pat=PAT, http_client=http_client) as client,
    ):
        assert client.max_connections == 7
        assert client._transport.limiter.total_tokens == 7


@pytest.mark.anyio
async def test_max_connections_sizes_the_owned_pool() -> None:
    """max_connections sizes the in-flight limit of an owned client."""
    async with QoderClient(pat=PAT, max_connections=3) as client:
        assert client.max_connections == 3
        assert client._transport.limiter.total_tokens == 3


# --- lifecycle -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_with_returns_the_client_and_closes_the_owned_pool() -> None:
    """`async with` gives the client itself and closes the httpx client it created."""
    client = QoderClient(pat=PAT)
    async with client as entered:
        assert entered is client
        assert not client._transport.http_client.is_closed
    assert client._transport.http_client.is_closed


@pytest.mark.anyio
async def test_owned_pool_is_closed_when_the_block_raises() -> None:
    """Leaving `async with` by an exception still closes the owned httpx client."""
    client = QoderClient(pat=PAT)
    raised: list[BaseException] = []
    try:
        async with client:
            raise KeyError("boom")
    except Exception as exc:  # the exception's exact form is the next test's concern
        raised.append(exc)
    assert raised
    assert client._transport.http_client.is_closed


@pytest.mark.anyio
async def test_exception_in_block_propagates_as_itself() -> None:
    """An exception raised inside `async with client:` leaves the block as itself."""
    with pytest.raises(KeyError):
        async with QoderClient(pat=PAT):
            raise KeyError("boom")


@pytest.mark.anyio
async def test_api_error_in_block_can_be_caught_outside() -> None:
    """A NotFoundError from a call inside the block can be caught around the block."""

    def not_found(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            404, json={"type": "error", "error": {"type": "not_found_error", "message": "gone"}}
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(not_found)) as http_client:
        with pytest.raises(NotFoundError):
            async with QoderClient(pat=PAT, http_client=http_client) as client:
                await client.deployments.get(DEP)


@pytest.mark.anyio
async def test_aclose_is_idempotent() -> None:
    """Closing twice, or after `async with`, is fine."""
    client = QoderClient(pat=PAT)
    await client.aclose()
    await client.aclose()
    assert client._transport.http_client.is_closed
    async with QoderClient(pat=PAT) as other:
        pass
    await other.aclose()
    await other.aclose()


@pytest.mark.anyio
async def test_callers_http_client_is_not_closed() -> None:
    """A caller's httpx client stays open after the QoderClient closes, and still works."""
    recorder = Recorder()
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as http_client:
        async with QoderClient(pat=PAT, http_client=http_client) as client:
            await client.deployments.get(DEP)
        await client.aclose()
        assert not http_client.is_closed
        response = await http_client.get("https://elsewhere.example.test/")
        assert response.status_code == 200
    assert http_client.is_closed


@pytest.mark.anyio
async def test_client_works_without_async_with() -> None:
    """A client used without `async with` still makes requests, and aclose ends it."""
    recorder = Recorder()
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as http_client:
        client = QoderClient(pat=PAT, http_client=http_client)
        try:
            deployment = await client.deployments.get(DEP)
        finally:
            await client.aclose()
    assert deployment.id == DEP
    assert len(recorder.requests) == 1


@pytest.mark.anyio
async def test_entering_twice_raises() -> None:
    """A client can be entered only once at a time."""
    async with QoderClient(pat=PAT) as client:
        with pytest.raises(RuntimeError, match="once"):
            async with client:
                pass
        assert not client._transport.http_client.is_closed


@pytest.mark.anyio
async def test_entering_after_close_raises() -> None:
    """A closed client cannot be entered again, whether closed by aclose or `async with`."""
    client = QoderClient(pat=PAT)
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        async with client:
            pass
    async with QoderClient(pat=PAT) as other:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        async with other:
            pass


# --- repr ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_repr_shows_configuration_but_not_the_pat(monkeypatch: pytest.MonkeyPatch) -> None:
    """The repr names the base URL and options and never the PAT, however it was given."""
    async with QoderClient(
        pat="pt-secret-argument", base_url="https://x.example.test/cloud", max_retries=4
    ) as client:
        text = repr(client)
        assert "https://x.example.test/cloud" in text
        assert "max_retries=4" in text
        assert "pt-secret-argument" not in text
        assert "pt-secret-argument" not in str(client)
        assert "pt-secret-argument" not in repr(client.with_options(timeout=3))
    monkeypatch.setenv("QODER_PAT", "pt-secret-env")
    async with QoderClient() as env_client:
        assert "pt-secret-env" not in repr(env_client)
        assert DEFAULT_BASE_URL in repr(env_client)


# --- SDK-only headers (spec 1: sent by the official SDKs, not documented) -------------------


@pytest.mark.anyio
async def test_workspace_and_beta_headers_are_sent_when_given() -> None:
    """`workspace_id=` and `betas=` become the qoder-workspace-id and x-qoder-beta headers."""
    request = await sent_request(pat=PAT, workspace_id="ws_123", betas=["a-2026", "b-2026"])
    assert request.headers["qoder-workspace-id"] == "ws_123"
    assert request.headers["x-qoder-beta"] == "a-2026,b-2026"


@pytest.mark.anyio
async def test_workspace_and_beta_headers_are_absent_by_default() -> None:
    """Neither SDK-only header is sent unless asked for."""
    request = await sent_request(pat=PAT)
    assert "qoder-workspace-id" not in request.headers
    assert "x-qoder-beta" not in request.headers


@pytest.mark.parametrize(
    ("options", "exc"),
    [
        ({"workspace_id": ""}, ValueError),
        ({"workspace_id": "ws 1\n"}, ValueError),
        ({"workspace_id": 5}, TypeError),
        ({"betas": "one-beta"}, TypeError),
        ({"betas": ["ok", " padded"]}, ValueError),
    ],
)
def test_bad_sdk_only_headers_are_rejected(options: dict[str, Any], exc: type[Exception]) -> None:
    """Header values that could not travel unchanged are refused when the client is made."""
    with pytest.raises(exc, match=r"workspace_id|betas"):
        QoderClient(pat=PAT, **options)
