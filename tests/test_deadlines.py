"""Time bounds: the end-to-end attempt timeout, the call deadline, and the bounded pause."""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest

from qoder_async import (
    APITimeoutError,
    QoderClient,
    RateLimitError,
    RetryPolicy,
    ServerError,
)
from tests.hostile import DEPLOYMENT, Counter, Reader, each_request, head, serve

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from anyio.abc import SocketStream

    from tests.hostile import ConnectionHandler, Request

pytestmark = pytest.mark.anyio

PAT = "pt-test"
DEP_ID = str(DEPLOYMENT["id"])
BASE_URL = "https://api.example.test/api/v1/cloud"
# Every test here is bounded by this, whatever the SDK does: a hang fails, it never stalls.
BOUND = 10.0


def trickling_body(counter: Counter) -> ConnectionHandler:
    """A server that sends a 200 head, then its 1000-byte body one byte every 0.1 s."""

    async def answer(request: Request, stream: SocketStream) -> bool:
        counter.requests += 1
        await stream.send(head(200, {"Content-Type": "application/json"}, length=1000))
        for _ in range(1000):
            await stream.send(b" ")
            await anyio.sleep(0.1)
        return False

    return each_request(answer)


async def trickling_head(stream: SocketStream) -> None:
    """A server that sends its response head one byte every 0.1 s (it takes 20 s or more)."""
    await Reader(stream).request()
    fields = {"Content-Type": "application/json", "X-Padding": "p" * 200}
    for byte in head(200, fields, length=2) + b"{}":
        await stream.send(bytes([byte]))
        await anyio.sleep(0.1)


async def silent(stream: SocketStream) -> None:
    """A server that reads the request and never answers."""
    await Reader(stream).request()
    await anyio.sleep_forever()


@contextlib.asynccontextmanager
async def mock_client(
    *steps: httpx.Response, **options: object
) -> AsyncIterator[tuple[QoderClient, list[httpx.Request]]]:
    """A client over a MockTransport replaying `steps` (the last repeats); records requests."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        step = steps[min(len(seen), len(steps)) - 1]
        return httpx.Response(step.status_code, headers=step.headers, content=step.content)

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
        QoderClient(pat=PAT, base_url=BASE_URL, http_client=http, **options) as client,  # type: ignore[arg-type]
    ):
        yield client, seen


def ok() -> httpx.Response:
    """A 200 with a deployment."""
    return httpx.Response(200, content=json.dumps(DEPLOYMENT).encode())


# -- timeout: each attempt end to end ----------------------------------------------------------


async def test_timeout_bounds_a_body_trickled_byte_by_byte() -> None:
    """Issue 8 #1: a body trickled 1 byte / 0.1 s raises APITimeoutError after the timeout."""
    counter = Counter()
    async with (
        serve(trickling_body(counter)) as url,
        QoderClient(pat=PAT, base_url=url, timeout=0.25, max_retries=0) as client,
    ):
        with anyio.fail_after(BOUND), pytest.raises(APITimeoutError):
            await client.deployments.get(DEP_ID)
    assert counter.requests == 1


async def test_timeout_bounds_a_head_trickled_byte_by_byte() -> None:
    """A response head trickled 1 byte / 0.1 s cannot stretch the attempt either."""
    async with (
        serve(trickling_head) as url,
        QoderClient(pat=PAT, base_url=url, timeout=0.25, max_retries=0) as client,
    ):
        with anyio.fail_after(BOUND), pytest.raises(APITimeoutError):
            await client.deployments.get(DEP_ID)


async def test_httpx_timeout_bounds_the_attempt_by_its_largest_part() -> None:
    """An httpx.Timeout bounds the attempt end to end by its largest value."""
    async with (
        serve(trickling_body(Counter())) as url,
        QoderClient(
            pat=PAT, base_url=url, timeout=httpx.Timeout(0.1, read=0.25), max_retries=0
        ) as client,
    ):
        with anyio.fail_after(BOUND), pytest.raises(APITimeoutError):
            await client.deployments.get(DEP_ID)


async def test_each_attempt_gets_the_timeout_and_is_retried() -> None:
    """A timed-out attempt is retried, each attempt bounded on its own."""
    counter = Counter()
    async with (
        serve(trickling_body(counter)) as url,
        QoderClient(
            pat=PAT,
            base_url=url,
            timeout=0.15,
            retry=RetryPolicy(max_retries=2, initial_backoff=0, max_backoff=0),
        ) as client,
    ):
        with anyio.fail_after(BOUND), pytest.raises(APITimeoutError):
            await client.deployments.get(DEP_ID)
    assert counter.requests == 3


async def test_a_listing_over_a_trickling_server_times_out() -> None:
    """Inside a pager, a trickled page raises APITimeoutError instead of stalling the listing."""
    async with (
        serve(trickling_body(Counter())) as url,
        QoderClient(pat=PAT, base_url=url, timeout=0.25, max_retries=0) as client,
    ):
        with anyio.fail_after(BOUND), pytest.raises(APITimeoutError):
            async for _ in client.deployments.list():
                pass  # pragma: no cover - no page ever completes


# -- deadline: the whole call ------------------------------------------------------------------


async def test_deadline_bounds_a_call_to_a_silent_server() -> None:
    """With a long timeout, `deadline` still ends a call the server never answers."""
    async with (
        serve(silent) as url,
        QoderClient(pat=PAT, base_url=url, timeout=60, deadline=0.3) as client,
    ):
        with anyio.fail_after(BOUND), pytest.raises(APITimeoutError, match="deadline"):
            await client.deployments.get(DEP_ID)


async def test_deadline_of_a_view_and_of_one_request() -> None:
    """`with_options(deadline=)` and `Transport.request(deadline=)` bound their calls."""
    async with (
        serve(silent) as url,
        QoderClient(pat=PAT, base_url=url, timeout=60) as client,
    ):
        with anyio.fail_after(BOUND), pytest.raises(APITimeoutError, match="deadline"):
            await client.with_options(deadline=0.2).deployments.get(DEP_ID)
        with anyio.fail_after(BOUND), pytest.raises(APITimeoutError, match="deadline"):
            await client._transport.request("GET", f"/deployments/{DEP_ID}", deadline=0.2)
        assert client.with_options(deadline=0.2)._transport.deadline == 0.2
        assert client._transport.deadline is None


async def test_no_back_off_is_slept_past_the_deadline() -> None:
    """A back-off that would end past the deadline raises the last error at once."""
    policy = RetryPolicy(max_retries=5, initial_backoff=30, max_backoff=30)
    async with mock_client(httpx.Response(500), retry=policy, deadline=5) as (client, seen):
        with anyio.fail_after(BOUND), pytest.raises(ServerError):
            await client.deployments.get(DEP_ID)
    assert len(seen) == 1


async def test_a_retry_after_past_the_deadline_raises_at_once() -> None:
    """A Retry-After within the policy but past the deadline raises with retry_after set."""
    throttled = httpx.Response(429, headers={"Retry-After": "30"})
    async with mock_client(throttled, ok(), deadline=5) as (client, seen):
        with anyio.fail_after(BOUND), pytest.raises(RateLimitError) as caught:
            await client.deployments.get(DEP_ID)
    assert caught.value.retry_after == 30
    assert len(seen) == 1


async def test_retries_within_the_deadline_still_happen() -> None:
    """Retries whose waits end before the deadline are made as usual."""
    policy = RetryPolicy(max_retries=3, initial_backoff=0, max_backoff=0)
    async with mock_client(httpx.Response(503), httpx.Response(502), ok(), retry=policy) as (
        client,
        seen,
    ):
        deployment = await client.with_options(deadline=BOUND).deployments.get(DEP_ID)
    assert deployment.id == DEP_ID
    assert len(seen) == 3


# -- the client-wide pause never outlasts a request's own bounds ----------------------------------


async def test_a_pause_longer_than_the_timeout_raises_its_cause_at_once() -> None:
    """Issue 8 #2: after a 503 with Retry-After 20, an unrelated GET gets it at once.

    The GET (timeout 2, no retries) gets that ServerError with retry_after what remains,
    and sends nothing.
    """
    unavailable = httpx.Response(503, headers={"Retry-After": "20"})
    async with mock_client(unavailable, ok(), max_retries=0) as (client, seen):
        with pytest.raises(ServerError):
            await client.deployments.get(DEP_ID)
        quick = client.with_options(timeout=2, max_retries=0)
        with anyio.fail_after(BOUND), pytest.raises(ServerError) as caught:
            await quick.deployment_runs.get("drun_1")
    assert len(seen) == 1
    assert caught.value.status_code == 503
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 20


async def test_a_pause_past_the_deadline_raises_its_cause_at_once() -> None:
    """With a long timeout, a pause that ends past the deadline raises at once too."""
    throttled = httpx.Response(429, headers={"Retry-After": "20"})
    async with mock_client(throttled, ok(), max_retries=0, timeout=60) as (client, seen):
        with pytest.raises(RateLimitError):
            await client.deployments.get(DEP_ID)
        with anyio.fail_after(BOUND), pytest.raises(RateLimitError) as caught:
            await client.with_options(deadline=1).deployments.get(DEP_ID)
    assert len(seen) == 1
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 20


async def test_a_pause_within_the_timeout_is_waited_out() -> None:
    """A short pause is waited out by other requests, which then succeed."""
    throttled = httpx.Response(503, headers={"retry-after-ms": "100"})
    async with mock_client(throttled, ok(), max_retries=0, timeout=5) as (client, seen):
        with pytest.raises(ServerError):
            await client.deployments.get(DEP_ID)
        with anyio.fail_after(BOUND):
            deployment = await client.deployments.get(DEP_ID)
    assert deployment.id == DEP_ID
    assert len(seen) == 2


async def test_a_request_retries_after_its_own_pause_beyond_its_timeout() -> None:
    """The request that drew the 503 waits its Retry-After as the policy allows, timeout or not."""
    throttled = httpx.Response(503, headers={"retry-after-ms": "300"})
    async with mock_client(throttled, ok(), timeout=0.1) as (client, seen):
        with anyio.fail_after(BOUND):
            deployment = await client.deployments.get(DEP_ID)
    assert deployment.id == DEP_ID
    assert len(seen) == 2


async def test_a_pause_extended_while_waiting_raises_when_it_outlasts_the_timeout() -> None:
    """A request waiting out a pause that another 429 extends past its timeout gets that 429."""
    async with mock_client(ok(), timeout=0.3, max_retries=0) as (client, seen):
        gate = client._transport.gate
        first = RateLimitError("slow down", retry_after=0.2)
        gate.hold_for(first, 0.2)
        outcome: list[BaseException] = []

        async def waiter() -> None:
            try:
                await client.deployments.get(DEP_ID)
            except RateLimitError as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as group:
            group.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            gate.hold_for(RateLimitError("slower", retry_after=30), 30)
        assert len(outcome) == 1
        assert str(outcome[0]).endswith("slower")
    assert seen == []
