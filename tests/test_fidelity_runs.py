"""Runs in both shapes of spec 7.1: one rule for "finished", ordering by created_at."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import attrs
import httpx
import pytest

from qoder_async import (
    AgentRef,
    DeploymentRun,
    QoderClient,
    RunStatus,
    TriggerContext,
    TriggerType,
)
from qoder_async.testing import FakeQoderAPI
from tests.helpers import NOW, connect

pytestmark = pytest.mark.anyio

BASE_URL = "https://api.example.test/api/v1/cloud"
# Spec 7.1, verbatim: the contract examples' Get-run response.
MINIMAL_RUN = {
    "agent": {"id": "agent_019eb4d4a06d747c865d5800b9c57ae2", "type": "agent", "version": 1},
    "created_at": "2026-06-14T08:54:06Z",
    "deployment_id": "dep_019ec556114c78f8b60ee34fcb98bf59",
    "error": None,
    "id": "drun_019ec55694c07f2a9b402ffb4448ec18",
    "session_id": "sess_019ec55694c47605a8904c8f3d842ccb",
    "trigger_context": {"type": "manual"},
    "type": "deployment_run",
}


class _Counter:
    """A MockTransport handler answering every request with the spec 7.1 minimal run."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, content=json.dumps(MINIMAL_RUN).encode())


async def test_wait_returns_at_once_for_the_contract_get_run_response() -> None:
    """Gap 1: wait() on the contract's minimal-shape Get-run response returns after one GET."""
    handler = _Counter()
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
        QoderClient(pat="pt-test", base_url=BASE_URL, http_client=http) as client,
    ):
        run = await client.deployment_runs.wait(str(MINIMAL_RUN["id"]), timeout=3)
    assert run.id == MINIMAL_RUN["id"]
    assert run.status is None
    assert run.is_terminal
    assert len(handler.requests) == 1


async def test_run_with_wait_returns_a_minimal_run_without_polling() -> None:
    """Gap 1: run(wait=True) answered with a minimal-shape run does not poll at all."""
    handler = _Counter()
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
        QoderClient(pat="pt-test", base_url=BASE_URL, http_client=http) as client,
    ):
        run = await client.deployments.run(str(MINIMAL_RUN["deployment_id"]), wait=True, timeout=3)
    assert run.is_minimal_shape
    assert [request.method for request in handler.requests] == ["POST"]


def test_finished_rule_for_both_shapes() -> None:
    """Minimal runs are final; rich runs are final by status, unknown statuses are not final."""
    base = DeploymentRun(
        id="drun_1",
        deployment_id="dep_1",
        agent=AgentRef(id="agent_1", version=1),
        trigger_context=TriggerContext(type=TriggerType.MANUAL),
        created_at=datetime(2026, 6, 14, tzinfo=timezone.utc),
    )
    assert base.is_terminal
    for status, final in [
        ("pending", False),
        ("running", False),
        ("completed", True),
        ("failed", True),
        ("skipped", True),
        ("cancelling", False),
    ]:
        assert attrs.evolve(base, status=RunStatus(status)).is_terminal is final


async def test_fake_serves_minimal_runs_on_request() -> None:
    """The fake's run_shape="minimal" serves the spec 7.1 shape, and wait() returns at once."""
    api = FakeQoderAPI(pat="pt-test", run_shape="minimal")
    api.run_polls_to_complete = None  # a rich run would never finish
    dep = api.add_deployment()
    async with connect(api) as client:
        run = await client.deployments.run(dep["id"], wait=True, timeout=3)
        again = await client.deployment_runs.wait(run.id, timeout=3)
    assert run.status is None
    assert run.triggered_at is None
    assert again.id == run.id
    served = [r for r in api.requests if r.method == "GET"]
    assert len(served) == 1
    # The fake still keeps the whole record.
    assert api.runs[run.id]["status"] == "running"


async def test_fake_mixes_both_shapes_by_default_and_orders_them() -> None:
    """Seeded data mixes both shapes; a newest-first merge orders them by created_at."""
    api = FakeQoderAPI(pat="pt-test", now=NOW)  # a fixed clock: the same data every run
    api.seed(deployments=24, runs_per_deployment=4)
    async with connect(api) as client:
        runs = [run async for run in client.deployment_runs.list(limit=1000)]
        ids = [dep.id async for dep in client.deployments.list(include_archived=True, limit=100)]
        async with client.deployments.list_runs_across(ids, order="newest_first") as fan_out:
            merged = [run async for run in fan_out]
    shapes = {run.is_minimal_shape for run in runs}
    assert shapes == {True, False}
    times = [run.sort_time for run in merged]
    assert times == sorted(times, reverse=True)
    assert len(merged) == len(runs)


def test_fake_rejects_an_unknown_run_shape() -> None:
    """An unknown run_shape is refused with ValueError."""
    with pytest.raises(ValueError, match="run_shape"):
        FakeQoderAPI(run_shape="ancient")  # type: ignore[arg-type]
