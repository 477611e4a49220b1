"""The client budget: RateLimit on by default where it matters, paced, adaptive, per-chain spacing."""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest

from qoder_async import FanOutError, QoderClient, RateLimit, RateLimitError, RetryPolicy, _ratelimit
from qoder_async._ratelimit import (
    DECREASE_COOLDOWN,
    FLOOR_FRACTION,
    HEADROOM,
    RECOVERY_PER_SECOND,
    SLACK,
    Budget,
    Spacing,
    _Bucket,
)
from tests.hostile import DEPLOYMENT, RUN, BudgetServer, each_request, serve

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

PAT = "pt-test"
REMOTE = "https://api.example.test/api/v1/cloud"
DEP_ID = str(DEPLOYMENT["id"])


def bad(value: object) -> Any:
    """Pass a deliberately ill-typed value past the type checker."""
    return value


# -- the value -------------------------------------------------------------------------------


def test_defaults_are_the_documented_budget() -> None:
    """50 GET/s, 20 writes/s and 100 ms between the pages of one listing (spec 2.2, 7.7)."""
    assert RateLimit() == RateLimit(reads_per_second=50, writes_per_second=20, page_interval=0.1)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"reads_per_second": 0}, ValueError),
        ({"reads_per_second": -5}, ValueError),
        ({"writes_per_second": float("nan")}, ValueError),
        ({"writes_per_second": float("inf")}, ValueError),
        ({"reads_per_second": "50"}, TypeError),
        ({"reads_per_second": True}, TypeError),
        ({"page_interval": -0.1}, ValueError),
        ({"page_interval": None}, TypeError),
    ],
)
def test_bad_budgets_are_refused(options: dict[str, object], error: type[Exception]) -> None:
    """Each field is checked when the value is made, naming the field."""
    with pytest.raises(error, match=next(iter(options))):
        RateLimit(**bad(options))


# -- on by default, except where requests stay on this machine ----------------------------------


@pytest.mark.anyio
async def test_on_by_default_for_a_remote_host() -> None:
    """With httpx's network transport to a remote host, the documented budget applies."""
    async with QoderClient(pat=PAT) as client:
        assert client.rate_limit == RateLimit()
    async with QoderClient(pat=PAT, base_url=REMOTE) as client:
        assert client.rate_limit == RateLimit()


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:9/cloud", "http://localhost:9/cloud", "http://[::1]:9/cloud"]
)
@pytest.mark.anyio
async def test_off_by_default_for_loopback(base_url: str) -> None:
    """A loopback base URL (the fake, a test server) gets no budget unless asked for."""
    async with QoderClient(pat=PAT, base_url=base_url) as client:
        assert client.rate_limit is None
        assert client._transport.spacing() is None
    async with QoderClient(pat=PAT, base_url=base_url, rate_limit=RateLimit()) as client:
        assert client.rate_limit == RateLimit()


@pytest.mark.anyio
async def test_off_by_default_for_an_in_process_transport() -> None:
    """A caller's client with a MockTransport (or the fake's in-process one) gets no budget."""
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    async with (
        httpx.AsyncClient(transport=transport) as http,
        QoderClient(pat=PAT, base_url=REMOTE, http_client=http) as client,
    ):
        assert client.rate_limit is None
    async with (
        httpx.AsyncClient() as http,
        QoderClient(pat=PAT, base_url=REMOTE, http_client=http) as client,
    ):
        assert client.rate_limit == RateLimit()


@pytest.mark.anyio
async def test_none_turns_it_off_and_views_share_one_limiter() -> None:
    """`rate_limit=None` turns it off; every with_options view shares the client's limiter."""
    async with QoderClient(pat=PAT, rate_limit=None) as client:
        assert client.rate_limit is None
        assert client._transport.budget is None
    budget = RateLimit(reads_per_second=5)
    async with QoderClient(pat=PAT, rate_limit=budget) as client:
        view = client.with_options(timeout=3, max_retries=0).with_options(deadline=9)
        assert view.rate_limit == budget
        assert view._transport.budget is client._transport.budget
        assert "reads_per_second=5" in repr(client)


# -- the bucket: pace, decrease, recovery, headers ------------------------------------------------


def test_a_bucket_paces_requests_under_the_budget() -> None:
    """Requests go on slots 1 / (0.95 * budget) apart; a slightly late one keeps the schedule."""
    bucket = _Bucket(20)
    interval = 1 / (20 * HEADROOM)
    assert bucket.delay(100.0) <= 0
    bucket.sent(100.0)
    first_slot = 100.0 - SLACK + interval
    assert bucket.delay(100.0) == pytest.approx(first_slot - 100.0)
    assert bucket.delay(first_slot) == pytest.approx(0.0, abs=1e-12)
    # Sent a little late (within SLACK): the next slot is one interval after the slot.
    bucket.sent(first_slot + SLACK / 2)
    assert bucket.delay(first_slot) == pytest.approx(interval)
    # Sent very late: the schedule restarts from then.
    bucket.sent(first_slot + 5.0)
    assert bucket.delay(first_slot + 5.0) == pytest.approx(interval - SLACK)


@pytest.mark.parametrize("late", [0.0, 0.003, SLACK, 0.05])
def test_no_second_holds_more_sends_than_the_schedule_allows(late: float) -> None:
    """However late each send is, any one second holds at most (1 + SLACK) * rate + 1 sends."""
    per_second = 50
    bucket = _Bucket(per_second)
    now, sends = 0.0, []
    for index in range(300):
        now = max(now, now + bucket.delay(now)) + (late if index % 3 else 0.0)
        bucket.sent(now)
        sends.append(now)
    most = max(sum(1 for moment in sends if start <= moment < start + 1.0) for start in sends)
    assert most <= (1 + SLACK) * per_second * HEADROOM + 1
    assert most <= per_second - 1


def test_overload_halves_the_rate_once_per_episode_down_to_a_floor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 429/503/reset halves the rate; more within the cooldown do not; it stops at a floor."""
    bucket = _Bucket(40)
    limit = 40 * HEADROOM
    bucket.overloaded(10.0)
    assert bucket.rate(10.0) == pytest.approx(limit / 2)
    bucket.overloaded(10.0 + DECREASE_COOLDOWN / 2)
    assert bucket.rate(10.0) == pytest.approx(limit / 2)
    # Without recovery in between, repeated episodes reach the floor and stay there.
    monkeypatch.setattr(_ratelimit, "RECOVERY_PER_SECOND", 0.0)
    now = 10.0
    for _ in range(20):
        now += DECREASE_COOLDOWN
        bucket.overloaded(now)
    assert bucket.rate(now) == pytest.approx(limit * FLOOR_FRACTION)


def test_the_rate_recovers_additively_and_never_above_the_budget() -> None:
    """After a decrease, the rate grows by a tenth of the budget per second, up to it."""
    bucket = _Bucket(50)
    limit = 50 * HEADROOM
    bucket.overloaded(0.0)
    assert bucket.rate(0.0) == pytest.approx(limit / 2)
    assert bucket.rate(1.0) == pytest.approx(limit / 2 + limit * RECOVERY_PER_SECOND)
    assert bucket.rate(2.0) == pytest.approx(limit / 2 + 2 * limit * RECOVERY_PER_SECOND)
    assert bucket.rate(60.0) == pytest.approx(limit)


def _response(status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers={k.replace("_", "-"): v for k, v in headers.items()})


def _headers_only(headers: dict[str, str]) -> httpx.Response:
    return httpx.Response(200, headers={k.replace("_", "-"): v for k, v in headers.items()})


@pytest.mark.anyio
async def test_ratelimit_remaining_zero_pauses_until_the_reset() -> None:
    """`X-RateLimit-Remaining: 0` with a Reset (epoch seconds) pauses the bucket until then."""
    budget = Budget(RateLimit())
    reset_at = time.time() + 5
    budget.observe(
        budget.reads,
        _response(x_ratelimit_remaining="0", x_ratelimit_reset=f"{reset_at:.3f}"),
        reset=False,
    )
    now = anyio.current_time()
    assert 4 < budget.reads.delay(now) <= 5.01
    assert budget.writes.delay(now) <= 0


@pytest.mark.anyio
async def test_ratelimit_remaining_caps_the_rate_until_the_reset() -> None:
    """`Remaining: 10` within `Reset` 4 s from now caps the rate at 2.5/s until then."""
    budget = Budget(RateLimit())
    budget.observe(
        budget.reads, _response(x_ratelimit_remaining="10", x_ratelimit_reset="4"), reset=False
    )
    now = anyio.current_time()
    assert budget.reads.rate(now) == pytest.approx(2.5)
    assert budget.reads.rate(now + 5) == pytest.approx(50 * HEADROOM)


@pytest.mark.parametrize(
    "headers",
    [
        {"x_ratelimit_remaining": "0"},
        {"x_ratelimit_reset": "4"},
        {"x_ratelimit_remaining": "soon", "x_ratelimit_reset": "4"},
        {"x_ratelimit_remaining": "0", "x_ratelimit_reset": "1000000000"},  # in the past
        {"x_ratelimit_remaining": "0", "x_ratelimit_reset": "86400"},  # a day: too long
    ],
)
@pytest.mark.anyio
async def test_unusable_ratelimit_headers_change_nothing(headers: dict[str, str]) -> None:
    """Half the pair, garbage, a reset in the past or absurdly far: ignored."""
    budget = Budget(RateLimit())
    budget.observe(budget.reads, _headers_only(headers), reset=False)
    now = anyio.current_time()
    assert budget.reads.delay(now) <= 0
    assert budget.reads.rate(now) == pytest.approx(50 * HEADROOM)


@pytest.mark.parametrize(
    ("status", "reset", "lowered"),
    [(429, False, True), (503, False, True), (500, False, False), (None, True, True)],
)
@pytest.mark.anyio
async def test_only_overload_signals_lower_the_rate(
    status: int | None, reset: bool, lowered: bool
) -> None:
    """429, 503 and resets lower the rate; other errors do not."""
    budget = Budget(RateLimit())
    response = _response(status) if status is not None else None
    budget.observe(budget.writes, response, reset=reset)
    rate = budget.writes.rate(anyio.current_time())
    assert (rate < 20 * HEADROOM) is lowered


@pytest.mark.anyio
async def test_a_429_through_the_client_lowers_its_read_rate() -> None:
    """End to end: a 429 on a GET lowers the client's read rate, not its write rate."""
    steps = [
        httpx.Response(429, headers={"Retry-After": "0"}),
        httpx.Response(200, json=DEPLOYMENT),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return steps.pop(0)

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
        QoderClient(pat=PAT, base_url=REMOTE, http_client=http, rate_limit=RateLimit()) as client,
    ):
        await client.deployments.get(DEP_ID)
        budget = client._transport.budget
        assert budget is not None
        now = anyio.current_time()
        assert budget.reads.rate(now) < 50 * HEADROOM
        assert budget.writes.rate(now) == pytest.approx(20 * HEADROOM)


# -- spacing per cursor chain ----------------------------------------------------------------


def test_spacing_keeps_one_chain_apart() -> None:
    """A chain's next request may go `interval` after its last one."""
    spacing = Spacing(0.1)
    assert spacing.delay(5.0) < 0
    spacing.sent(5.0)
    assert spacing.delay(5.0) == pytest.approx(0.1)
    assert spacing.delay(5.1) == pytest.approx(0.0, abs=1e-12)


@contextlib.asynccontextmanager
async def timed_client(**options: Any) -> AsyncIterator[tuple[QoderClient, list[float]]]:
    """A client over a MockTransport answering run pages of 2; records arrival times."""
    arrivals: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        arrivals.append(anyio.current_time())
        after = request.url.params.get("after_id")
        index = int(after.removeprefix("drun_"), 16) + 1 if after else 0
        more = index < 4
        run = {**RUN, "id": f"drun_{index:032x}"}
        page = {"data": [run], "first_id": run["id"], "last_id": run["id"], "has_more": more}
        return httpx.Response(200, content=json.dumps(page).encode())

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
        QoderClient(pat=PAT, base_url=REMOTE, http_client=http, **options) as client,
    ):
        yield client, arrivals


@pytest.mark.anyio
async def test_a_pager_spaces_its_page_requests() -> None:
    """With the budget on, one listing's consecutive page requests are >= page_interval apart."""
    budget = RateLimit(reads_per_second=1000, page_interval=0.05)
    async with timed_client(rate_limit=budget) as (client, arrivals):
        runs = [run.id async for run in client.deployment_runs.list()]
    assert len(runs) == 5
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    # Sleeps never end early, so the requests leave >= 50 ms apart however slow the machine
    # is; between leaving and reaching the handler a few ms of jitter may come off.
    assert len(gaps) == 4
    assert all(gap >= 0.045 for gap in gaps)


@pytest.mark.anyio
async def test_no_spacing_without_a_budget() -> None:
    """With the budget off, pages are not spaced (and nothing is paced at all)."""
    async with timed_client(rate_limit=None) as (client, arrivals):
        runs = [run.id async for run in client.deployment_runs.list()]
        assert client._transport.spacing() is None
    assert len(runs) == 5
    assert len(arrivals) == 5


# -- against a server that enforces the budget -------------------------------------------------


@pytest.mark.anyio
async def test_a_fan_out_stays_within_a_server_enforced_budget() -> None:
    """A fan-out against a server enforcing 20 GET/s over any sliding second sees no 429.

    About 2.5 s of traffic: 12 deployments x 4 pages. The server counts arrivals: never
    more than the budget in any one second.
    """
    per_second = 20
    server = BudgetServer(per_second, runs=8)
    deployments = [f"dep_{i:032x}" for i in range(12)]
    async with (
        serve(each_request(server.answer)) as url,
        QoderClient(
            pat=PAT,
            base_url=url,
            max_retries=0,
            rate_limit=RateLimit(reads_per_second=per_second),
        ) as client,
    ):
        fan = client.deployments.list_runs_across(deployments, concurrency=12, limit=2)
        with anyio.fail_after(30):
            runs = [run async for run in fan]
    assert len(runs) == 12 * 8
    assert len({(run.deployment_id, run.id) for run in runs}) == 12 * 8
    assert server.refused == 0
    assert len(server.arrivals) == 12 * 4
    assert server.busiest_second() <= per_second


@pytest.mark.anyio
async def test_without_the_budget_the_same_fan_out_is_refused() -> None:
    """The contrast: with rate_limit=None the server's budget is exceeded and it answers 429."""
    per_second = 20
    server = BudgetServer(per_second, runs=8)
    deployments = [f"dep_{i:032x}" for i in range(12)]
    async with (
        serve(each_request(server.answer)) as url,
        QoderClient(
            pat=PAT,
            base_url=url,
            retry=RetryPolicy(max_retries=0),
            rate_limit=None,
        ) as client,
    ):
        fan = client.deployments.list_runs_across(deployments, concurrency=12, limit=2)
        with anyio.fail_after(30), pytest.raises(FanOutError) as caught:
            async for _ in fan:
                pass
    assert server.refused > 0
    # The fan-out delivers what it can; the refused listings fail with the server's 429.
    assert caught.value.failed
    assert all(type(error) is RateLimitError for error in caught.value.failed.values())
