"""RetryPolicy: a value passed to the client and its views; Retry-After honoured or refused."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

import attrs
import httpx
import pytest

from qoder_async import (
    APIError,
    NotFoundError,
    QoderClient,
    RateLimitError,
    RetryPolicy,
    ServerError,
)
from tests.hostile import DEPLOYMENT

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

PAT = "pt-test"
BASE_URL = "https://api.example.test/api/v1/cloud"
DEP_ID = str(DEPLOYMENT["id"])
QUICK = RetryPolicy(initial_backoff=0, max_backoff=0)


def bad(value: object) -> Any:
    """Pass a deliberately ill-typed value past the type checker."""
    return value


@contextlib.asynccontextmanager
async def mock_client(
    *steps: httpx.Response, **options: Any
) -> AsyncIterator[tuple[QoderClient, list[httpx.Request]]]:
    """A client over a MockTransport replaying `steps` (the last repeats); records requests."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        step = steps[min(len(seen), len(steps)) - 1]
        return httpx.Response(step.status_code, headers=step.headers, content=step.content)

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
        QoderClient(pat=PAT, base_url=BASE_URL, http_client=http, **options) as client,
    ):
        yield client, seen


def ok() -> httpx.Response:
    """A 200 with a deployment."""
    return httpx.Response(200, content=json.dumps(DEPLOYMENT).encode())


# -- the value ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "name"),
    [
        ({"max_retries": -1}, ValueError, "max_retries"),
        ({"max_retries": 1.5}, TypeError, "max_retries"),
        ({"max_retries": True}, TypeError, "max_retries"),
        ({"initial_backoff": -0.1}, ValueError, "initial_backoff"),
        ({"initial_backoff": "1"}, TypeError, "initial_backoff"),
        ({"max_backoff": float("nan")}, ValueError, "max_backoff"),
        ({"max_backoff": float("inf")}, ValueError, "max_backoff"),
        ({"initial_backoff": 5, "max_backoff": 1}, ValueError, "max_backoff"),
        ({"jitter": 1.5}, ValueError, "jitter"),
        ({"jitter": -0.1}, ValueError, "jitter"),
        ({"max_retry_after": -1}, ValueError, "max_retry_after"),
        ({"max_retry_after": None}, TypeError, "max_retry_after"),
    ],
)
def test_bad_policy_values_are_refused(
    options: dict[str, object], error: type[Exception], name: str
) -> None:
    """Each field is checked when the policy is made, naming the field."""
    with pytest.raises(error, match=name):
        RetryPolicy(**bad(options))


def test_policy_is_a_frozen_value() -> None:
    """A policy cannot be changed in place, compares by value and counts its attempts."""
    policy = RetryPolicy(max_retries=4)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        policy.max_retries = 1  # type: ignore[misc]
    assert policy == RetryPolicy(max_retries=4)
    assert policy.attempts == 5
    assert RetryPolicy(jitter=0, initial_backoff=1, max_backoff=3).backoff(5) == 3


@pytest.mark.anyio
async def test_policy_reaches_the_client_and_its_views() -> None:
    """`retry=` sets the client's policy; `with_options(retry=)` and `max_retries=` a view's."""
    policy = RetryPolicy(max_retries=5, initial_backoff=0, max_backoff=0, max_retry_after=10)
    async with mock_client(httpx.Response(500), retry=policy) as (client, seen):
        assert client.retry == policy
        with pytest.raises(ServerError):
            await client.deployments.get(DEP_ID)
        assert len(seen) == 6
        view = client.with_options(max_retries=1)
        assert view.retry == attrs.evolve(policy, max_retries=1)
        other = client.with_options(retry=QUICK)
        assert other.retry == QUICK
        assert client.retry == policy
        seen.clear()
        with pytest.raises(ServerError):
            await view.deployments.get(DEP_ID)
        assert len(seen) == 2


@pytest.mark.anyio
async def test_max_retries_is_shorthand_for_the_default_policy() -> None:
    """`max_retries=n` is the default policy with n retries."""
    async with QoderClient(pat=PAT, max_retries=7) as client:
        assert client.retry == RetryPolicy(max_retries=7)
    async with QoderClient(pat=PAT) as client:
        assert client.retry == RetryPolicy()


@pytest.mark.anyio
async def test_contradictory_retry_options_are_refused() -> None:
    """`max_retries` with a `retry` of another count is a ValueError; the same count is fine."""
    with pytest.raises(ValueError, match="max_retries"):
        QoderClient(pat=PAT, max_retries=1, retry=RetryPolicy(max_retries=3))
    with pytest.raises(TypeError, match="retry"):
        QoderClient(pat=PAT, retry=bad(3))
    async with QoderClient(pat=PAT, max_retries=3, retry=RetryPolicy(max_retries=3)) as client:
        with pytest.raises(ValueError, match="max_retries"):
            client.with_options(max_retries=0, retry=RetryPolicy(max_retries=2))
        with pytest.raises(TypeError, match="retry"):
            client.with_options(retry=bad("fast"))
        assert client.with_options(max_retries=2, retry=RetryPolicy(max_retries=2)).retry == (
            RetryPolicy(max_retries=2)
        )


# -- Retry-After -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        pytest.param({"Retry-After": "3600"}, 3600.0, id="an-hour"),
        pytest.param({"Retry-After": "61"}, 61.0, id="61s"),
        pytest.param({"retry-after-ms": "120000"}, 120.0, id="ms"),
    ],
)
@pytest.mark.parametrize(("status", "cls"), [(429, RateLimitError), (503, ServerError)])
@pytest.mark.anyio
async def test_a_wait_longer_than_the_policy_raises_at_once(
    headers: dict[str, str], seconds: float, status: int, cls: type[APIError]
) -> None:
    """Issue 8 #5: a Retry-After over 60 s raises at once with retry_after, never retries early."""
    async with mock_client(httpx.Response(status, headers=headers), ok()) as (client, seen):
        with pytest.raises(cls) as caught:
            await client.deployments.get(DEP_ID)
    assert type(caught.value) is cls
    assert caught.value.retry_after == seconds
    assert len(seen) == 1


@pytest.mark.anyio
async def test_the_longest_honoured_wait_is_configurable() -> None:
    """`max_retry_after` moves the line: below it the wait is honoured, above it raised."""
    throttled = httpx.Response(429, headers={"retry-after-ms": "20"})
    strict = attrs.evolve(QUICK, max_retry_after=0.01)
    async with mock_client(throttled, throttled, ok(), retry=strict) as (client, seen):
        with pytest.raises(RateLimitError):
            await client.deployments.get(DEP_ID)
        assert len(seen) == 1
        lenient = client.with_options(retry=attrs.evolve(QUICK, max_retry_after=0.05))
        deployment = await lenient.deployments.get(DEP_ID)
    assert deployment.id == DEP_ID
    assert len(seen) == 3


@pytest.mark.parametrize(
    ("status", "headers", "delay"),
    [
        pytest.param(500, {"Retry-After": "0.05"}, 0.05, id="500-seconds"),
        pytest.param(502, {"retry-after-ms": "30"}, 0.03, id="502-ms"),
        pytest.param(429, {"Retry-After": "0.04"}, 0.04, id="429-paused"),
        pytest.param(503, {"retry-after-ms": "10"}, 0.01, id="503-paused"),
    ],
)
@pytest.mark.anyio
async def test_a_wait_within_the_policy_is_honoured_exactly(
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    headers: dict[str, str],
    delay: float,
) -> None:
    """The retry waits exactly the server's delay (not our back-off), then succeeds."""
    caplog.set_level(logging.INFO, logger="qoder_async")
    policy = RetryPolicy(initial_backoff=5, max_backoff=5)  # a back-off would show
    async with mock_client(httpx.Response(status, headers=headers), ok(), retry=policy) as (
        client,
        seen,
    ):
        holds: list[float] = []
        gate = client._transport.gate
        hold = gate.hold

        def spy(seconds: float) -> None:
            holds.append(seconds)
            hold(seconds)

        monkeypatch.setattr(gate, "hold", spy)
        deployment = await client.deployments.get(DEP_ID)
    assert deployment.id == DEP_ID
    assert len(seen) == 2
    (retry,) = [r for r in caplog.records if r.getMessage().startswith("retrying")]
    assert isinstance(retry.args, tuple)
    assert retry.args[2] == delay
    assert holds == ([delay] if status in (429, 503) else [])


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        pytest.param(httpx.Response(503, headers={"Retry-After": "7"}), 7.0, id="503"),
        pytest.param(httpx.Response(500), None, id="500-no-hint"),
        pytest.param(httpx.Response(529, headers={"retry-after-ms": "1500"}), 1.5, id="529"),
        pytest.param(httpx.Response(400, headers={"Retry-After": "2"}), 2.0, id="400"),
    ],
)
@pytest.mark.anyio
async def test_every_api_error_carries_retry_after(
    response: httpx.Response, expected: float | None
) -> None:
    """ServerError (and every APIError) has retry_after: the server's hint, or None."""
    async with mock_client(response, max_retries=0) as (client, _):
        with pytest.raises(APIError) as caught:
            await client.deployments.get(DEP_ID)
    assert caught.value.retry_after == expected


# -- the response on errors (issue 9 item 5) ---------------------------------------------------


@pytest.mark.anyio
async def test_api_error_exposes_the_response_and_headers() -> None:
    """APIError.response is the httpx.Response (its body readable); .headers its headers."""
    body = {"type": "error", "error": {"type": "not_found_error", "message": "gone"}}
    missing = httpx.Response(
        404, headers={"X-Trace": "abc", "x-request-id": "req_9"}, content=json.dumps(body).encode()
    )
    async with mock_client(missing) as (client, _):
        with pytest.raises(NotFoundError) as caught:
            await client.deployments.get(DEP_ID)
    exc = caught.value
    assert exc.response is not None
    assert exc.response.status_code == 404
    assert exc.response.json() == body
    assert exc.headers["x-trace"] == "abc"
    assert exc.request_id == "req_9"
    assert APIError("x", status_code=500).headers == httpx.Headers()
