"""Fan-out resume: `resume_state()` then `list_runs_across(resume=...)` hands out exactly the rest."""

from __future__ import annotations

import itertools
import json
import sys
import uuid
from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest
from anyio import wait_all_tasks_blocked
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qoder_async import FanOutError, QoderClient, ServerError
from qoder_async.testing import FakeQoderAPI, Fault
from tests.helpers import BASE_URL, START, connect, deployment_with_runs

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from qoder_async import DeploymentRun, FanOut
    from qoder_async._fanout import Order

pytestmark = pytest.mark.anyio

ORDERS: list[Order] = ["arrival", "newest_first"]


def _fleet(api: FakeQoderAPI, counts: Sequence[int]) -> dict[str, list[str]]:
    return dict(deployment_with_runs(api, count) for count in counts)


def _check_exact(
    fleet: dict[str, list[str]], first: list[DeploymentRun], second: list[DeploymentRun]
) -> None:
    """Every run exactly once, and each deployment's runs in its own order across both parts."""
    everything = Counter(run for runs in fleet.values() for run in runs)
    assert Counter(run.id for run in first + second) == everything
    for deployment_id, runs in fleet.items():
        mine = [run.id for run in first + second if run.deployment_id == deployment_id]
        assert mine == runs


async def _take(
    fan: FanOut, got: list[DeploymentRun], stop_after: int | None, *, scoped: bool
) -> None:
    """Consume `fan` into `got`, leaving after `stop_after` runs; a FanOutError ends it too."""
    try:
        if scoped:
            async with fan:
                async for run in fan:
                    got.append(run)
                    if stop_after is not None and len(got) >= stop_after:
                        break
        else:
            async for run in fan:
                got.append(run)
                if stop_after is not None and len(got) >= stop_after:
                    break
    except FanOutError:
        pass


# -- 1. whatever the stopping point, the rest comes exactly once ----------------------------


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    counts=st.lists(st.integers(min_value=0, max_value=14), min_size=1, max_size=6),
    limit=st.integers(min_value=1, max_value=5),
    resume_limit=st.integers(min_value=1, max_value=6),
    concurrency=st.integers(min_value=1, max_value=3),
    prefetch=st.integers(min_value=1, max_value=2),
    order=st.sampled_from(ORDERS),
    resume_order=st.sampled_from(ORDERS),
    stop_after=st.none() | st.integers(min_value=1, max_value=60),
    failure=st.none() | st.tuples(st.integers(0, 5), st.integers(0, 3)),
    scoped=st.booleans(),
)
async def test_resume_hands_out_exactly_what_was_not_handed_out(
    counts: list[int],
    limit: int,
    resume_limit: int,
    concurrency: int,
    prefetch: int,
    order: Order,
    resume_order: Order,
    stop_after: int | None,
    failure: tuple[int, int] | None,
    scoped: bool,
) -> None:
    """Stopped anywhere (break, failure), a resume in a fresh client delivers the rest once.

    The page size and the order may differ on resume; the state goes through JSON.
    """
    api = FakeQoderAPI(pat="pt-test", seed=len(counts))
    fleet = _fleet(api, counts)
    ids = list(fleet)
    if failure is not None:
        index, pages = failure
        path = rf"/deployments/{ids[index % len(ids)]}/runs"
        if pages:
            api.faults.append(Fault(delay=0, path=path, times=pages))
        api.faults.append(Fault(status=500, path=path, times=1000))
    first: list[DeploymentRun] = []
    async with connect(api, max_retries=0) as client:
        fan = client.deployments.list_runs_across(
            ids, concurrency=concurrency, order=order, limit=limit, prefetch=prefetch
        )
        await _take(fan, first, stop_after, scoped=scoped)
        state = json.loads(json.dumps(fan.resume_state()))
    api.faults.clear()
    async with connect(api) as client:
        resumed = client.deployments.list_runs_across(
            ids, resume=state, order=resume_order, limit=resume_limit
        )
        second = [run async for run in resumed]
        assert json.loads(json.dumps(resumed.resume_state()))["pending"] == {}
    _check_exact(fleet, first, second)
    if resume_order == "newest_first":
        keys = [(run.triggered_at, run.id) for run in second]
        assert keys == sorted(keys, reverse=True)


@pytest.mark.parametrize("order", ORDERS)
async def test_the_state_is_exact_at_every_step_of_an_iteration(order: Order) -> None:
    """A state taken after each run, resumed, gives exactly the runs not yet handed out."""
    api = FakeQoderAPI(pat="pt-test")
    fleet = _fleet(api, [5, 0, 7, 3])
    states: list[dict[str, object]] = []
    handed: list[DeploymentRun] = []
    async with connect(api) as client:
        fan = client.deployments.list_runs_across(list(fleet), concurrency=2, order=order, limit=2)
        states.append(fan.resume_state())
        async for run in fan:
            handed.append(run)
            states.append(fan.resume_state())
        for step, state in enumerate(states):
            rest = [
                run
                async for run in client.deployments.list_runs_across(
                    list(fleet), resume=json.loads(json.dumps(state)), limit=3
                )
            ]
            _check_exact(fleet, handed[:step], rest)
    final = states[-1]
    assert final["pending"] == {}
    assert sorted(final["done"]) == sorted(fleet)  # type: ignore[call-overload]


# -- 2. after failures ---------------------------------------------------------------------


@pytest.mark.parametrize("order", ORDERS)
async def test_after_fan_out_error_one_resume_delivers_the_rest(order: Order) -> None:
    """Deployments that failed mid-listing continue from their cursor in a fresh client."""
    api = FakeQoderAPI(pat="pt-test")
    fleet = _fleet(api, [9, 12, 4, 10])
    ids = list(fleet)
    for deployment_id, pages in ((ids[0], 1), (ids[3], 0)):
        path = rf"/deployments/{deployment_id}/runs"
        if pages:
            api.faults.append(Fault(delay=0, path=path, times=pages))
        api.faults.append(Fault(status=503, retry_after=0, path=path, times=3))
    first: list[DeploymentRun] = []
    async with connect(api) as client:
        fan = client.deployments.list_runs_across(ids, order=order, limit=4)
        with pytest.raises(FanOutError) as caught:
            async for run in fan:
                first.append(run)  # noqa: PERF401 - keeps the runs that came before the error
    assert set(caught.value.failed) == {ids[0], ids[3]}
    assert all(type(error) is ServerError for error in caught.value.failed.values())
    assert not api.faults  # each failed after all its retries
    state = json.loads(json.dumps(caught.value.resume_state))
    assert set(state["pending"]) == {ids[0], ids[3]}
    # The cursor that fetched the failing page: the first page's opaque next_page token.
    key, token = state["pending"][ids[0]]["cursor"]
    assert key == "page"
    assert not token.startswith("drun_")
    assert state["pending"][ids[3]]["cursor"] is None
    api.reset_stats()
    async with connect(api) as client:
        second = [
            run async for run in client.deployments.list_runs_across(ids, resume=state, limit=4)
        ]
    _check_exact(fleet, first, second)
    # Only the two failed deployments were asked for again, from where they stopped.
    assert {r.path for r in api.requests} == {f"/deployments/{d}/runs" for d in (ids[0], ids[3])}


async def test_after_on_error_raise_the_state_resumes_everything_left() -> None:
    """A fan-out stopped by on_error="raise" resumes all it left: failed, open and unstarted."""
    api = FakeQoderAPI(pat="pt-test")
    fleet = _fleet(api, [6] * 8)
    ids = list(fleet)
    api.faults.append(Fault(status=500, path=rf"/deployments/{ids[2]}/runs"))
    first: list[DeploymentRun] = []
    async with connect(api, max_retries=0) as client:
        fan = client.deployments.list_runs_across(
            ids, concurrency=3, on_error="raise", limit=2, prefetch=2
        )
        with pytest.raises(ServerError):
            async with fan:
                async for run in fan:
                    first.append(run)  # noqa: PERF401 - keeps the runs before the error
        state = json.loads(json.dumps(fan.resume_state()))
    assert ids[2] in state["pending"]
    async with connect(api) as client:
        second = [
            run async for run in client.deployments.list_runs_across(ids, resume=state, limit=5)
        ]
    _check_exact(fleet, first, second)


async def test_a_failed_source_is_read_again_on_resume_without_repeating_a_run() -> None:
    """After the deployments listing failed, a resume with a fresh pager lists the rest once."""
    api = FakeQoderAPI(pat="pt-test")
    fleet = _fleet(api, [3, 5, 2, 4, 6, 1, 3])
    api.faults.append(Fault(delay=0, path=r"/deployments\Z"))
    api.faults.append(Fault(status=503, retry_after=0, path=r"/deployments\Z", times=5))
    first: list[DeploymentRun] = []
    async with connect(api, max_retries=0) as client:
        fan = client.deployments.list_runs_across(client.deployments.list(limit=3), limit=2)
        with pytest.raises(FanOutError) as caught:
            async for run in fan:
                first.append(run)  # noqa: PERF401 - keeps the runs before the error
    assert caught.value.source_error is not None
    state = json.loads(json.dumps(caught.value.resume_state))
    assert len(state["done"]) == 3
    api.faults.clear()
    async with connect(api) as client:
        resumed = client.deployments.list_runs_across(
            client.deployments.list(limit=2), resume=state, limit=2
        )
        second = [run async for run in resumed]
    _check_exact(fleet, first, second)


async def test_a_pending_deployment_gone_from_the_source_is_still_finished() -> None:
    """A deployment left unfinished is resumed even if the new source no longer names it."""
    api = FakeQoderAPI(pat="pt-test")
    fleet = _fleet(api, [8, 8])
    first_id, second_id = fleet
    first: list[DeploymentRun] = []
    async with connect(api) as client:
        fan = client.deployments.list_runs_across([first_id], limit=3)
        await _take(fan, first, 4, scoped=True)
        state = fan.resume_state()
        resumed = client.deployments.list_runs_across([second_id], resume=state, limit=3)
        second = [run async for run in resumed]
    _check_exact(fleet, first, second)


# -- 3. cursors the client never interprets ---------------------------------------------------


class _TokenServer:
    """Runs pages keyed by opaque `page` tokens that are not ids, and no first_id/last_id."""

    def __init__(self, fleet: dict[str, list[dict[str, Any]]]) -> None:
        self.fleet = fleet
        self.tokens: dict[str, int] = {}
        self.queries: list[dict[str, str]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer GET /deployments/{id}/runs?limit=&page=."""
        query = dict(request.url.params)
        self.queries.append(query)
        deployment_id = request.url.path.split("/")[-2]
        runs = self.fleet[deployment_id]
        start = self.tokens[query["page"]] if "page" in query else 0
        end = start + int(query.get("limit", "20"))
        body: dict[str, object] = {"data": runs[start:end], "has_more": end < len(runs)}
        if end < len(runs):
            token = f"opaque:{uuid.uuid4().hex}"
            self.tokens[token] = end
            body["next_page"] = token
        return httpx.Response(200, json=body)


def _run_json(deployment_id: str, number: int) -> dict[str, Any]:
    when = (START - timedelta(minutes=number)).isoformat().replace("+00:00", "Z")
    return {
        "id": f"drun_{deployment_id[4:]}{number:04d}",
        "type": "deployment_run",
        "deployment_id": deployment_id,
        "agent": {"id": "agent_1", "type": "agent", "version": 1},
        "status": "completed",
        "trigger_context": {"type": "manual"},
        "triggered_at": when,
        "created_at": when,
    }


@pytest.mark.parametrize("stop_after", [1, 3, 4, 7, 11])
async def test_resume_with_opaque_page_tokens(stop_after: int) -> None:
    """With `page=` tokens that are not ids, the state keeps the token and resumes exactly."""
    fleet = {
        f"dep_{n:032d}": [_run_json(f"dep_{n:032d}", i) for i in range(size)]
        for n, size in enumerate([9, 5, 0, 7])
    }
    server = _TokenServer(fleet)
    expected = {dep: [run["id"] for run in runs] for dep, runs in fleet.items()}
    first: list[DeploymentRun] = []
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(server.handle)) as http,
        QoderClient(pat="pt-test", base_url=BASE_URL, http_client=http) as client,
    ):
        fan = client.deployments.list_runs_across(list(fleet), concurrency=2, limit=3)
        await _take(fan, first, stop_after, scoped=True)
        state = json.loads(json.dumps(fan.resume_state()))
        cursors = [entry["cursor"] for entry in state["pending"].values()]
        assert all(c is None or (c[0] == "page" and c[1].startswith("opaque:")) for c in cursors)
        second = [
            run
            async for run in client.deployments.list_runs_across(list(fleet), resume=state, limit=2)
        ]
    _check_exact(expected, first, second)


# -- 4. another process ------------------------------------------------------------------------

_RESUME_SCRIPT = """
import json, sys
import anyio
from qoder_async import QoderClient

async def main() -> None:
    base_url, state_path, ids = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    state = json.loads(open(state_path).read())
    async with QoderClient(pat="pt-test", base_url=base_url) as client:
        fan = client.deployments.list_runs_across(ids, resume=state, limit=4)
        print(json.dumps([run.id async for run in fan]))

anyio.run(main)
"""


async def test_a_state_resumes_in_another_process(tmp_path: Path) -> None:
    """A state saved to a file is resumed by a new interpreter over loopback HTTP."""
    api = FakeQoderAPI(pat="pt-test")
    fleet = _fleet(api, [7, 3, 9, 5])
    first: list[DeploymentRun] = []
    state_path = tmp_path / "state.json"
    with anyio.fail_after(60):
        async with api.serve() as base_url:
            async with QoderClient(pat="pt-test", base_url=base_url) as client:
                fan = client.deployments.list_runs_across(list(fleet), concurrency=2, limit=3)
                await _take(fan, first, 8, scoped=True)
                state_path.write_text(json.dumps(fan.resume_state()))
            done = await anyio.run_process(
                [sys.executable, "-c", _RESUME_SCRIPT, base_url, str(state_path), ",".join(fleet)]
            )
    second_ids: list[str] = json.loads(done.stdout)
    assert Counter([run.id for run in first] + second_ids) == Counter(
        itertools.chain.from_iterable(fleet.values())
    )


# -- 5. states that cannot be used are refused before any request ---------------------------

DEP_A = "dep_" + "a" * 32
DEP_B = "dep_" + "b" * 32


def _state(**changes: object) -> dict[str, object]:
    state: dict[str, object] = {
        "version": 1,
        "filters": {},
        "done": [DEP_A],
        "pending": {DEP_B: {"cursor": ["after_id", "drun_1"], "skip": ["drun_2"]}},
    }
    state.update(changes)
    return state


def _pending(**entry: object) -> dict[str, object]:
    return {"pending": {DEP_B: {"cursor": None, "skip": [], **entry}}}


@pytest.mark.parametrize(
    ("state", "match"),
    [
        ({k: v for k, v in _state().items() if k != "done"}, "keys"),
        (_state(extra=1), "keys"),
        (_state(version=2), "version"),
        (_state(version=True), "version"),
        (_state(version="1"), "version"),
        (_state(filters=[]), "filters"),
        (_state(filters={"status": 1}), "filters"),
        (_state(filters={"status": "failed"}), "filters"),
        (_state(done=DEP_A), "done"),
        (_state(done=["drun_1"]), "dep_"),
        (_state(done=[DEP_A + "/../x"]), "dep_"),
        (_state(done=[7]), "deployment id"),
        (_state(pending=[]), "pending"),
        (_state(pending={"dep_a b": {"cursor": None, "skip": []}}), "dep_"),
        (_state(pending={DEP_B: None}), "cursor"),
        (_state(pending={DEP_B: {"cursor": None}}), "skip"),
        (_state(**_pending(cursor=["after_id"])), "cursor"),
        (_state(**_pending(cursor=["before_id", "drun_1"])), "cursor"),
        (_state(**_pending(cursor=["after_id", ""])), "cursor"),
        (_state(**_pending(cursor=["after_id", 5])), "cursor"),
        (_state(**_pending(cursor="drun_1")), "cursor"),
        (_state(**_pending(skip="drun_1")), "skip"),
        (_state(**_pending(skip=[""])), "skip"),
        (_state(**_pending(skip=[3])), "skip"),
        (_state(**_pending(extra=1)), "cursor"),
        (_state(done=[DEP_B]), "both done and pending"),
    ],
)
async def test_a_malformed_state_is_refused_before_any_request(
    state: dict[str, object], match: str
) -> None:
    """Each malformed resume state raises ValueError naming the problem; nothing is sent."""
    api = FakeQoderAPI(pat="pt-test")
    async with connect(api) as client:
        with pytest.raises(ValueError, match=match):
            client.deployments.list_runs_across([DEP_A, DEP_B], resume=state)
        await wait_all_tasks_blocked()
    assert api.requests == []


@pytest.mark.parametrize("state", [[], "state", 3])
async def test_a_state_that_is_not_a_mapping_is_a_type_error(state: Any) -> None:
    """A resume value that is not a mapping raises TypeError before any request."""
    api = FakeQoderAPI(pat="pt-test")
    async with connect(api) as client:
        with pytest.raises(TypeError, match="resume"):
            client.deployments.list_runs_across([DEP_A], resume=state)
    assert api.requests == []


async def test_a_resume_with_other_filters_is_refused() -> None:
    """A state made with one status filter is refused for a call with another."""
    api = FakeQoderAPI(pat="pt-test")
    fleet = _fleet(api, [3])
    async with connect(api) as client:
        fan = client.deployments.list_runs_across(list(fleet), status="failed")
        state = fan.resume_state()
        assert state["filters"] == {"status": "failed"}
        with pytest.raises(ValueError, match="filters"):
            client.deployments.list_runs_across(list(fleet), resume=state)
        with pytest.raises(ValueError, match="filters"):
            client.deployments.list_runs_across(list(fleet), resume=state, status="completed")
        same = client.deployments.list_runs_across(list(fleet), resume=state, status="failed")
        assert [run async for run in same] == []
    assert len(api.requests) == 1
