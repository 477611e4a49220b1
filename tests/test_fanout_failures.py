"""Fan-out under failure: one deployment's error never costs the others, and the source is counted."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING

import anyio
import attrs
import pytest
from anyio import wait_all_tasks_blocked

from qoder_async import (
    APIConnectionError,
    FanOutError,
    NotFoundError,
    PermissionDeniedError,
    QoderError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
)
from qoder_async.testing import FakeQoderAPI, Fault
from tests.helpers import connect, deployment_with_runs, task_count

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from qoder_async import DeploymentRun, QoderClient
    from qoder_async._fanout import Order

pytestmark = pytest.mark.anyio

ORDERS: list[Order] = ["arrival", "newest_first"]
UNKNOWN = "dep_" + "0" * 32
HANG = 3600.0


def _fleet(api: FakeQoderAPI, counts: Sequence[int]) -> dict[str, list[str]]:
    return dict(deployment_with_runs(api, count) for count in counts)


def _runs_path(deployment_id: str) -> str:
    return rf"/deployments/{deployment_id}/runs"


# How one deployment's listing fails: the fault (repeated) and the exception it becomes.
FAILURES: dict[str, tuple[Fault, type[QoderError]]] = {
    "500": (Fault(status=500), ServerError),
    "503-after-retries": (Fault(status=503, retry_after=0), ServerError),
    "429-after-retries": (Fault(status=429, retry_after_ms=0, body="empty"), RateLimitError),
    "403": (Fault(status=403), PermissionDeniedError),
    "reset": (Fault(reset=True), APIConnectionError),
    "malformed-200": (Fault(body="malformed"), ResponseValidationError),
}


def _fail_after_first_page(api: FakeQoderAPI, deployment_id: str, fault: Fault) -> None:
    """The deployment's first page is answered; every later request of it gets `fault`."""
    path = _runs_path(deployment_id)
    api.faults.append(Fault(delay=0, path=path))
    api.faults.append(attrs.evolve(fault, path=path, times=1000))


async def _drain(fan: AsyncIterator[DeploymentRun], got: list[str]) -> None:
    async for run in fan:
        got.append(run.id)  # noqa: PERF401 - keeps the runs that came before an error


# -- 1. any error ends one stream, not the fan-out ---------------------------------------------


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("kind", list(FAILURES))
async def test_a_failing_deployment_never_stops_the_others(order: Order, kind: str) -> None:
    """Whatever the error, every other run is delivered before an error is raised at the end."""
    fault, error_type = FAILURES[kind]
    # Only the "after retries" kinds are retried; the others fail on their first attempt.
    retries = 2 if kind.endswith("after-retries") else 0
    api = FakeQoderAPI(pat="pt-test")
    fleet = _fleet(api, [7, 12, 5, 9, 0, 6])
    failing = list(fleet)[1]
    _fail_after_first_page(api, failing, fault)
    got: list[str] = []
    async with connect(api, max_retries=retries) as client:
        before = task_count()
        fan = client.deployments.list_runs_across(list(fleet), concurrency=2, order=order, limit=4)
        with pytest.raises(QoderError) as caught:
            await _drain(fan, got)
        await wait_all_tasks_blocked()
        assert api.in_flight == 0
        assert task_count() == before
    expected = Counter(run for runs in fleet.values() for run in runs)
    expected.subtract(fleet[failing][4:])  # all but what came after its first page
    assert Counter(got) == +expected
    assert isinstance(caught.value.__cause__, error_type)
    assert list(fan.failed) == [failing]
    assert type(fan.failed[failing]) is error_type
    failed_requests = [r for r in api.requests if failing in r.path]
    assert len(failed_requests) == 1 + 1 + retries  # one page, then one failing attempt each


@pytest.mark.parametrize("order", ORDERS)
async def test_the_error_at_the_end_carries_every_failure_and_a_resume_state(
    order: Order,
) -> None:
    """FanOutError names each failed deployment, chains the first error and holds the state."""
    api = FakeQoderAPI(pat="pt-test")
    fleet = _fleet(api, [5, 5, 5, 5])
    first, _, third, _ = fleet
    for deployment_id in (first, third):
        api.faults.append(Fault(status=500, path=_runs_path(deployment_id), times=10))
    async with connect(api, max_retries=0) as client:
        fan = client.deployments.list_runs_across(list(fleet), order=order, limit=2)
        got: list[str] = []
        with pytest.raises(FanOutError) as caught:
            await _drain(fan, got)
        with pytest.raises(StopAsyncIteration):  # ended for good
            await fan.__anext__()
    error = caught.value
    assert set(error.failed) == {first, third}
    assert error.failed == fan.failed
    assert error.source_error is None
    assert isinstance(error.__cause__, ServerError)
    assert first in str(error)
    assert third in str(error)
    assert "resume" in str(error)
    assert error.resume_state == fan.resume_state()
    json.dumps(error.resume_state)
    assert len(got) == 10


async def test_on_error_skip_ends_quietly_and_fills_failed() -> None:
    """With on_error="skip" the fan-out ends without an error; `failed` says what was lost."""
    api = FakeQoderAPI(pat="pt-test")
    fleet = _fleet(api, [3, 4, 5])
    broken = next(iter(fleet))
    api.faults.append(Fault(status=502, path=_runs_path(broken), times=10))
    async with connect(api, max_retries=0) as client:
        fan = client.deployments.list_runs_across(list(fleet), on_error="skip", limit=2)
        got = [run.id async for run in fan]
    assert len(got) == 9
    assert list(fan.failed) == [broken]
    assert type(fan.failed[broken]) is ServerError
    assert fan.skipped == []


# -- 2. on_error callables, sync and async ---------------------------------------------------


@pytest.mark.parametrize("order", ORDERS)
async def test_an_async_on_error_is_awaited_for_every_error(order: Order) -> None:
    """An async on_error is awaited, for a 404 and for any other error; the rest continue."""
    api = FakeQoderAPI(pat="pt-test")
    fleet = _fleet(api, [4, 6, 3])
    broken = list(fleet)[1]
    api.faults.append(Fault(status=500, path=_runs_path(broken), times=10))
    told: list[tuple[str, type[Exception]]] = []

    async def on_error(deployment_id: str, error: Exception) -> None:
        await anyio.lowlevel.checkpoint()
        told.append((deployment_id, type(error)))

    async with connect(api, max_retries=0) as client:
        fan = client.deployments.list_runs_across(
            [UNKNOWN, *fleet], on_error=on_error, order=order, limit=2
        )
        got = Counter([run.id async for run in fan])
    assert sorted(told) == sorted([(UNKNOWN, NotFoundError), (broken, ServerError)])
    assert sum(got.values()) == 4 + 3
    assert [skipped for skipped, _ in fan.skipped] == [UNKNOWN]
    assert list(fan.failed) == [broken]


@pytest.mark.parametrize("order", ORDERS)
async def test_an_async_on_error_that_raises_stops_everything_as_itself(order: Order) -> None:
    """An awaited on_error that raises stops the fan-out with its own exception."""

    class GiveUpError(Exception):
        pass

    async def on_error(deployment_id: str, error: Exception) -> None:
        await anyio.lowlevel.checkpoint()
        raise GiveUpError(deployment_id)

    api = FakeQoderAPI(pat="pt-test")
    fleet = _fleet(api, [30, 30])
    async with connect(api) as client:
        before = task_count()
        with pytest.raises(GiveUpError) as caught:
            async with client.deployments.list_runs_across(
                [*fleet, UNKNOWN], on_error=on_error, order=order, limit=5
            ) as fan:
                async for _ in fan:
                    pass
        assert caught.value.args == (UNKNOWN,)
        assert api.in_flight == 0
        assert task_count() == before


# -- 3. the deployments source ---------------------------------------------------------------


async def test_a_failing_source_still_lists_what_was_read_then_raises() -> None:
    """When listing the deployments fails, those read are listed in full, then FanOutError."""
    api = FakeQoderAPI(pat="pt-test")
    fleet = _fleet(api, [3] * 6)
    # Newest first: the first page of deployments names the last three created.
    read = list(fleet)[3:]
    api.faults.append(Fault(delay=0, path=r"/deployments\Z"))
    api.faults.append(Fault(status=503, retry_after=0, path=r"/deployments\Z", times=10))
    async with connect(api, max_retries=0) as client:
        fan = client.deployments.list_runs_across(client.deployments.list(limit=3), limit=2)
        got: list[str] = []
        with pytest.raises(FanOutError) as caught:
            await _drain(fan, got)
    assert Counter(got) == Counter(run for dep in read for run in fleet[dep])
    assert fan.failed == {}
    assert isinstance(fan.source_error, ServerError)
    assert caught.value.source_error is fan.source_error
    assert caught.value.__cause__ is fan.source_error
    assert "reading the deployments failed" in str(caught.value)


async def test_on_error_raise_raises_a_source_error_at_once() -> None:
    """With on_error="raise" a failing source stops the fan-out with its error, as itself."""
    api = FakeQoderAPI(pat="pt-test")
    _fleet(api, [3] * 4)
    api.faults.append(Fault(status=503, retry_after=0, path=r"/deployments\Z", times=10))
    async with connect(api, max_retries=0) as client:
        fan = client.deployments.list_runs_across(client.deployments.list(), on_error="raise")
        with pytest.raises(ServerError):
            async for _ in fan:
                pass  # pragma: no cover - the source fails first


@pytest.mark.parametrize("order", ORDERS)
async def test_a_deployment_named_twice_is_listed_once(order: Order) -> None:
    """A source that repeats a deployment does not repeat its runs."""
    api = FakeQoderAPI(pat="pt-test")
    fleet = _fleet(api, [4, 2])
    first, second = fleet
    async with connect(api) as client:
        fan = client.deployments.list_runs_across(
            [first, second, first, first], order=order, limit=3
        )
        got = Counter([run.id async for run in fan])
    assert got == Counter(fleet[first] + fleet[second])


# -- 4. in-flight requests, the source pager's included ----------------------------------------


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("concurrency", [1, 2, 3])
async def test_a_source_pager_adds_no_request_beyond_concurrency(
    order: Order, concurrency: int
) -> None:
    """With every request hanging, the runs' and the source pager's together fill `concurrency`."""
    api = FakeQoderAPI(pat="pt-test")
    _fleet(api, [5] * 12)
    # The first page of deployments is answered; every later request hangs.
    api.faults += [Fault(delay=0, path=r"/deployments\Z"), Fault(delay=HANG, times=1000)]

    async def consume(client: QoderClient) -> None:
        async with client.deployments.list_runs_across(
            client.deployments.list(limit=4), concurrency=concurrency, order=order
        ) as fan:
            async for _ in fan:
                pass  # pragma: no cover - no run ever arrives

    async with connect(api) as client:
        async with anyio.create_task_group() as group:
            group.start_soon(consume, client)
            await wait_all_tasks_blocked()
            assert api.in_flight == concurrency
            assert api.max_in_flight == concurrency
            group.cancel_scope.cancel()
        assert api.in_flight == 0


@pytest.mark.parametrize("order", ORDERS)
async def test_a_full_listing_fed_by_a_pager_stays_within_concurrency(order: Order) -> None:
    """A whole fan-out fed by a prefetching pager never has more than `concurrency` requests."""
    api = FakeQoderAPI(pat="pt-test")
    fleet = _fleet(api, [3] * 16)
    api.latency = 0.001
    async with connect(api) as client:
        api.reset_stats()
        fan = client.deployments.list_runs_across(
            client.deployments.list(limit=2, prefetch=2), concurrency=2, order=order, limit=2
        )
        got = Counter([run.id async for run in fan])
    assert got == Counter(run for runs in fleet.values() for run in runs)
    assert api.max_in_flight <= 2
