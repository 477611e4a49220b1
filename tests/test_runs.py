"""`client.deployment_runs`: listing runs across deployments, getting one, waiting for one."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest

from qoder_async import (
    DeploymentRun,
    NotFoundError,
    QoderClient,
    RunStatus,
    RunTimeoutError,
    TriggerType,
)
from tests.helpers import START, deployment_with_runs

if TYPE_CHECKING:
    from qoder_async import Pager
    from qoder_async._literals import RunStatusName, TriggerTypeName
    from qoder_async.testing import FakeQoderAPI, RecordedRequest

pytestmark = pytest.mark.anyio

MISSING_RUN = "drun_00000000000000000000000000000000"


async def ids(pager: Pager[DeploymentRun]) -> list[str]:
    """The ids of every run a pager yields, in order."""
    return [run.id async for run in pager]


def instant(text: str) -> tuple[datetime, int]:
    """An RFC 3339 "Z" timestamp as a sortable (whole seconds, nanoseconds) pair."""
    head, _, fraction = text.removesuffix("Z").partition(".")
    return datetime.fromisoformat(head), int(fraction.ljust(9, "0")) if fraction else 0


def newest_first(runs: list[dict[str, Any]]) -> list[str]:
    """Run ids as the API lists them: triggered_at descending, ties by id descending."""
    ordered = sorted(runs, key=lambda run: (instant(run["triggered_at"]), run["id"]))
    return [run["id"] for run in reversed(ordered)]


def listed(api: FakeQoderAPI) -> list[RecordedRequest]:
    """The requests for the global run list."""
    return [r for r in api.requests if r.path == "/deployment_runs"]


def polls(api: FakeQoderAPI, run_id: str) -> int:
    """How many times the run was fetched by id."""
    return sum(r.path == f"/deployment_runs/{run_id}" for r in api.requests)


def interleaved(api: FakeQoderAPI, count: int) -> tuple[list[str], list[str]]:
    """Two deployments whose runs alternate in time; return both deployment ids and all runs."""
    deployments = [api.add_deployment()["id"], api.add_deployment()["id"]]
    for i in range(count):
        api.add_run(deployments[i % 2], triggered_at=START + timedelta(minutes=i))
    return deployments, newest_first(list(api.runs.values()))


# -- list ----------------------------------------------------------------------------------


async def test_list_spans_deployments_newest_first(api: FakeQoderAPI, client: QoderClient) -> None:
    """Runs of every deployment list together, newest triggered first, across pages."""
    _, expected = interleaved(api, 9)
    assert await ids(client.deployment_runs.list(limit=4)) == expected
    assert [r.query.get("limit") for r in listed(api)] == ["4", "4", "4"]


async def test_list_of_seeded_data(api: FakeQoderAPI, client: QoderClient) -> None:
    """Seeded runs of all states list exactly as the fake orders them."""
    api.seed(deployments=8, runs_per_deployment=6)
    expected = newest_first(list(api.runs.values()))
    assert await ids(client.deployment_runs.list(limit=13)) == expected


async def test_list_models_match_the_stored_json(api: FakeQoderAPI, client: QoderClient) -> None:
    """Listed runs carry the stored fields."""
    deployment_id = api.add_deployment()["id"]
    stored = api.add_run(deployment_id, trigger_type="schedule", triggered_at=START)
    [run] = [run async for run in client.deployment_runs.list()]
    assert (run.id, run.deployment_id, run.status) == (stored["id"], deployment_id, "completed")
    assert run.triggered_at == START
    assert run.trigger_context.type is TriggerType.SCHEDULE
    assert run.trigger_context.scheduled_at == START
    assert run.session_id == stored["session_id"]
    assert run.duration_ms == stored["duration_ms"]


async def test_list_filters_by_deployment(api: FakeQoderAPI, client: QoderClient) -> None:
    """`deployment_id` keeps the runs of that deployment only."""
    (first, second), _ = interleaved(api, 7)
    for deployment_id in (first, second):
        expected = newest_first(
            [run for run in api.runs.values() if run["deployment_id"] == deployment_id]
        )
        pager = client.deployment_runs.list(deployment_id=deployment_id, limit=2)
        assert await ids(pager) == expected
    assert listed(api)[0].query["deployment_id"] == first


async def test_list_of_an_unknown_deployment_is_empty(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """An unknown `deployment_id` lists no runs instead of raising NotFoundError (spec 3.11)."""
    interleaved(api, 3)
    unknown = "dep_00000000000000000000000000000000"
    assert await ids(client.deployment_runs.list(deployment_id=unknown)) == []


@pytest.mark.parametrize("status", [*RunStatus, "failed"])
async def test_list_filters_by_status(
    api: FakeQoderAPI, client: QoderClient, status: RunStatus | RunStatusName
) -> None:
    """`status` keeps the runs in that state, given as an enum member or a str."""
    deployments = [api.add_deployment()["id"], api.add_deployment()["id"]]
    for i, state in enumerate([*RunStatus, *RunStatus]):
        api.add_run(
            deployments[i % 2],
            status=state.value,
            triggered_at=START + timedelta(minutes=i),
        )
    expected = newest_first([run for run in api.runs.values() if run["status"] == status])
    assert len(expected) == 2
    assert await ids(client.deployment_runs.list(status=status)) == expected
    assert listed(api)[0].query["status"] == RunStatus(status).value


@pytest.mark.parametrize("trigger", [*TriggerType, "schedule"])
async def test_list_filters_by_trigger_type(
    api: FakeQoderAPI, client: QoderClient, trigger: TriggerType | TriggerTypeName
) -> None:
    """`trigger_type` keeps the runs started that way."""
    deployment_id = api.add_deployment()["id"]
    for i, kind in enumerate([*TriggerType, *TriggerType]):
        api.add_run(
            deployment_id,
            trigger_type=kind.value,
            triggered_at=START + timedelta(minutes=i),
        )
    expected = newest_first(
        [run for run in api.runs.values() if run["trigger_context"]["type"] == trigger]
    )
    assert len(expected) == 2
    assert await ids(client.deployment_runs.list(trigger_type=trigger)) == expected


@pytest.mark.parametrize("has_error", [True, False])
async def test_list_filters_by_error(
    api: FakeQoderAPI, client: QoderClient, has_error: bool
) -> None:
    """`has_error=True` keeps runs with an error, False keeps runs that got a session."""
    api.seed(deployments=6, runs_per_deployment=6)
    runs = list(api.runs.values())
    if has_error:
        expected = newest_first([run for run in runs if run["error"] is not None])
    else:
        expected = newest_first([run for run in runs if run["session_id"] is not None])
    assert expected
    assert len(expected) < len(runs)
    assert await ids(client.deployment_runs.list(has_error=has_error, limit=10)) == expected
    assert listed(api)[0].query["has_error"] == str(has_error).lower()


@pytest.mark.parametrize(
    ("bound", "minute", "kept"),
    [
        ("created_at_gt", 2, [5, 4, 3]),
        ("created_at_gte", 2, [5, 4, 3, 2]),
        ("created_at_lt", 2, [1, 0]),
        ("created_at_lte", 2, [2, 1, 0]),
    ],
)
async def test_list_filters_by_creation_time(
    api: FakeQoderAPI, client: QoderClient, bound: str, minute: int, kept: list[int]
) -> None:
    """Each `created_at_*` bound keeps the runs on its side, and is sent as created_at[op]."""
    _, newest = deployment_with_runs(api, 6)  # minutes 5 down to 0
    at = START + timedelta(minutes=minute)
    filters: dict[str, Any] = {bound: at}
    pager = client.deployment_runs.list(**filters)
    assert await ids(pager) == [newest[5 - i] for i in kept]
    operator = bound.removeprefix("created_at_")
    assert listed(api)[0].query == {f"created_at[{operator}]": "2026-06-01T00:02:00.000000Z"}


async def test_list_accepts_the_earliest_creation_bound(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """`created_at_gt=datetime.min` (an open lower bound) lists every run."""
    _, newest = deployment_with_runs(api, 3)
    earliest = datetime.min.replace(tzinfo=timezone.utc)
    assert await ids(client.deployment_runs.list(created_at_gt=earliest)) == newest
    assert listed(api)[0].query["created_at[gt]"] == "0001-01-01T00:00:00.000000Z"


async def test_list_creation_bounds_combine(api: FakeQoderAPI, client: QoderClient) -> None:
    """Lower and upper creation bounds together keep the runs in between, zones converted."""
    _, newest = deployment_with_runs(api, 6)
    plus_two = timezone(timedelta(hours=2))
    pager = client.deployment_runs.list(
        created_at_gt=(START + timedelta(minutes=1)).astimezone(plus_two),
        created_at_lte=START + timedelta(minutes=4),
    )
    assert await ids(pager) == newest[1:4]


async def test_list_filters_combine(api: FakeQoderAPI, client: QoderClient) -> None:
    """Several filters keep only the runs that match all of them."""
    api.seed(deployments=6, runs_per_deployment=8)
    deployment_id = next(iter(api.deployments))
    expected = newest_first(
        [
            run
            for run in api.runs.values()
            if run["deployment_id"] == deployment_id
            and run["status"] == "completed"
            and run["trigger_context"]["type"] == "schedule"
            and run["session_id"] is not None
        ]
    )
    pager = client.deployment_runs.list(
        deployment_id=deployment_id, status="completed", trigger_type="schedule", has_error=False
    )
    assert await ids(pager) == expected


async def test_list_cursors(api: FakeQoderAPI, client: QoderClient) -> None:
    """`after_id` goes toward older runs, `before_id` toward newer ones, `page` resumes."""
    _, expected = interleaved(api, 9)
    runs = client.deployment_runs.list
    assert await ids(runs(after_id=expected[3], limit=2)) == expected[4:]
    assert await ids(runs(before_id=expected[5], limit=2)) == expected[:5][::-1]
    first = await runs(limit=4)
    assert first.has_more
    assert first.next_page is not None
    rest = await ids(runs(page=first.next_page, limit=4))
    assert [run.id for run in first.data] + rest == expected


@pytest.mark.parametrize(("max_items", "limits"), [(5, ["2", "2", "1"]), (0, []), (50, None)])
async def test_list_max_items(
    api: FakeQoderAPI, client: QoderClient, max_items: int, limits: list[str] | None
) -> None:
    """`max_items` caps the runs listed and asks only for what is still wanted."""
    _, expected = interleaved(api, 9)
    assert (
        await ids(client.deployment_runs.list(max_items=max_items, limit=2))
        == (expected[:max_items])
    )
    if limits is not None:
        assert [r.query["limit"] for r in listed(api)] == limits


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"deployment_id": "drun_1"}, ValueError),
        ({"status": "done"}, ValueError),
        ({"trigger_type": "cron"}, ValueError),
        ({"trigger_type": 3}, TypeError),
        ({"has_error": 1}, TypeError),
        ({"created_at_gt": datetime(2026, 6, 1)}, ValueError),
        ({"created_at_lte": "2026-06-01"}, TypeError),
        ({"after_id": "drun_a", "before_id": "drun_b"}, ValueError),
        ({"limit": 0}, ValueError),
        ({"max_items": 1.5}, TypeError),
        ({"prefetch": -1}, ValueError),
    ],
)
async def test_list_rejects_bad_arguments_before_any_request(
    api: FakeQoderAPI, client: QoderClient, arguments: dict[str, Any], error: type[Exception]
) -> None:
    """Invalid list arguments raise at once, and nothing is sent."""
    with pytest.raises(error):
        client.deployment_runs.list(**arguments)
    assert api.requests == []


# -- get -----------------------------------------------------------------------------------


async def test_get_returns_the_run(api: FakeQoderAPI, client: QoderClient) -> None:
    """`get` finds a run by its id alone."""
    _, [run_id, *_] = deployment_with_runs(api, 3)
    run = await client.deployment_runs.get(run_id)
    stored = api.runs[run_id]
    assert (run.id, run.deployment_id, run.session_id) == (
        run_id,
        stored["deployment_id"],
        stored["session_id"],
    )
    assert run.is_terminal
    assert [r.path for r in api.requests] == [f"/deployment_runs/{run_id}"]


async def test_get_missing_raises_not_found(api: FakeQoderAPI, client: QoderClient) -> None:
    """A missing run raises NotFoundError carrying the request id."""
    with pytest.raises(NotFoundError) as caught:
        await client.deployment_runs.get(MISSING_RUN)
    assert (caught.value.status_code, caught.value.error_type) == (404, "not_found_error")
    assert caught.value.request_id == api.requests[0].headers["x-request-id"]
    assert len(api.requests) == 1


@pytest.mark.parametrize("run_id", ["", "dep_1", "drun_x/../y", None])
async def test_get_rejects_bad_ids(api: FakeQoderAPI, client: QoderClient, run_id: object) -> None:
    """An id that is not a `drun_` id is refused before any request."""
    with pytest.raises((ValueError, TypeError)):
        await client.deployment_runs.get(run_id)  # type: ignore[arg-type]
    assert api.requests == []


# -- wait ----------------------------------------------------------------------------------


async def test_wait_polls_until_completed(api: FakeQoderAPI, client: QoderClient) -> None:
    """`wait` polls a running run until it completes and returns the completed run."""
    api.run_polls_to_complete = 4
    started = await client.deployments.run(api.add_deployment()["id"])
    run = await client.deployment_runs.wait(started.id, timeout=30, poll_interval=0.001)
    assert run.id == started.id
    assert run.status is RunStatus.COMPLETED
    assert run.completed_at is not None
    assert polls(api, started.id) == 4
    assert api.runs[started.id]["status"] == "completed"


async def test_wait_without_timeout(api: FakeQoderAPI, client: QoderClient) -> None:
    """`timeout=None` waits as long as it takes."""
    started = await client.deployments.run(api.add_deployment()["id"])
    run = await client.deployment_runs.wait(started.id, timeout=None, poll_interval=0.001)
    assert run.status is RunStatus.COMPLETED


async def test_wait_returns_a_failed_run(api: FakeQoderAPI, client: QoderClient) -> None:
    """A failed run is returned with its error, not raised."""
    api.run_polls_to_complete = None
    started = await client.deployments.run(api.add_deployment()["id"])
    api.complete_run(started.id, status="failed")
    run = await client.deployment_runs.wait(started.id, poll_interval=0.001)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error.type == "unknown_error"
    assert run.session_id is None
    assert polls(api, started.id) == 1


@pytest.mark.parametrize("status", ["skipped", "completed", "failed"])
async def test_wait_returns_a_finished_run_at_once(
    api: FakeQoderAPI, client: QoderClient, status: str
) -> None:
    """A run that has already ended is returned after one fetch."""
    deployment_id = api.add_deployment()["id"]
    stored = api.add_run(deployment_id, status=status)  # type: ignore[arg-type]
    run = await client.deployment_runs.wait(stored["id"], poll_interval=0.001)
    assert run.status == status
    assert run.is_terminal
    assert polls(api, stored["id"]) == 1


async def test_wait_times_out_with_the_last_run_seen(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """A run that never ends raises RunTimeoutError carrying its last seen state."""
    api.run_polls_to_complete = None
    started = await client.deployments.run(api.add_deployment()["id"])
    with pytest.raises(RunTimeoutError) as caught:
        await client.deployment_runs.wait(started.id, timeout=0.05, poll_interval=0.001)
    assert isinstance(caught.value, TimeoutError)
    run = caught.value.run
    assert run is not None
    assert (run.id, run.status) == (started.id, RunStatus.RUNNING)
    assert started.id in str(caught.value)


async def test_wait_times_out_before_the_first_answer(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """When not even the first poll answers in time, RunTimeoutError carries no run."""
    deployment_id = api.add_deployment()["id"]
    stored = api.add_run(deployment_id, status="running")
    api.latency = 60.0  # the first poll is cancelled at the deadline
    with pytest.raises(RunTimeoutError) as caught:
        await client.deployment_runs.wait(stored["id"], timeout=0.05)
    assert caught.value.run is None
    assert api.in_flight == 0


async def test_wait_for_a_missing_run_raises_not_found(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """Waiting for a run that does not exist raises NotFoundError."""
    with pytest.raises(NotFoundError):
        await client.deployment_runs.wait(MISSING_RUN, poll_interval=0.001)


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"timeout": 0}, ValueError),
        ({"timeout": -1.5}, ValueError),
        ({"timeout": -math.inf}, ValueError),
        ({"poll_interval": 0}, ValueError),
        ({"poll_interval": -0.001}, ValueError),
        ({"timeout": "10"}, TypeError),
        ({"timeout": True}, TypeError),
        ({"poll_interval": None}, TypeError),
        ({"poll_interval": False}, TypeError),
        ({"poll_interval": "0.1"}, TypeError),
        ({"run_id": "dep_1"}, ValueError),
        ({"run_id": 1}, TypeError),
    ],
)
async def test_wait_rejects_bad_arguments_before_any_request(
    api: FakeQoderAPI, client: QoderClient, arguments: dict[str, Any], error: type[Exception]
) -> None:
    """A non-positive or non-number timeout or poll interval, or a bad id, is refused at once."""
    options = {"run_id": MISSING_RUN, **arguments}
    with pytest.raises(error):
        await client.deployment_runs.wait(**options)
    assert api.requests == []


@pytest.mark.parametrize("option", ["timeout", "poll_interval"])
async def test_wait_rejects_nan_before_any_request(
    api: FakeQoderAPI, client: QoderClient, option: str
) -> None:
    """A NaN timeout or poll interval is refused before any request, naming the argument."""
    deployment_id = api.add_deployment()["id"]
    stored = api.add_run(deployment_id, status="running")
    options: dict[str, Any] = {option: math.nan}
    # The message is checked last: the requests made on the way are the point of the test.
    with pytest.raises(ValueError) as caught:  # noqa: PT011
        await client.deployment_runs.wait(stored["id"], **options)
    assert api.requests == []
    assert option in str(caught.value)
