"""Ids taken from server data are checked before they go into a request path."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from qoder_async import QoderClient, ResponseValidationError
from qoder_async._converter import structure
from qoder_async._models import Deployment
from tests.helpers import BASE_URL

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.anyio

EXAMPLES = json.loads((Path(__file__).parent / "data" / "spec_examples.json").read_text())
DEPLOYMENT_ID = EXAMPLES["deployment_1"]["id"]
HOSTILE = [
    "drun_1/../../deployments?include_archived=true",
    "drun_1?x=1",
    "drun_1#frag",
    "drun_1/..",
    "../drun_1",
    "drun_%2e%2e",
    "drun_ 1",
    "",
]


class _Server:
    """Answers POST /run with a run whose id the test picks, and lists deployments likewise."""

    def __init__(self, run_id: str = "drun_1", deployment_id: str = DEPLOYMENT_ID) -> None:
        self.run_id = run_id
        self.deployment_id = deployment_id
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Record the request; answer the two routes these tests use."""
        self.requests.append(request)
        if request.method == "POST" and request.url.path.endswith("/run"):
            run = {
                **EXAMPLES["deployment_run_1"],
                "id": self.run_id,
                "status": "running",
                "completed_at": None,
            }
            return httpx.Response(200, json=run)
        if request.url.path.endswith("/deployments"):
            deployment = {**EXAMPLES["deployment_1"], "id": self.deployment_id}
            return httpx.Response(200, json={"data": [deployment], "has_more": False})
        return httpx.Response(200, json={"data": [], "has_more": False})


@asynccontextmanager
async def _client(server: _Server) -> AsyncIterator[QoderClient]:
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(server.handle)) as http,
        QoderClient(pat="pt-test", base_url=BASE_URL, http_client=http) as client,
    ):
        yield client


@pytest.mark.parametrize("run_id", HOSTILE)
async def test_run_and_wait_refuses_a_run_id_that_would_reroute_the_poll(run_id: str) -> None:
    """A run id from the server that is not a plain id raises before any poll is sent."""
    server = _Server(run_id=run_id)
    async with _client(server) as client:
        with pytest.raises(ResponseValidationError, match="run id"):
            await client.deployments.run(DEPLOYMENT_ID, wait=True, poll_interval=0.001)
    assert [(r.method, r.url.path) for r in server.requests] == [
        ("POST", f"/api/v1/cloud/deployments/{DEPLOYMENT_ID}/run")
    ]


async def test_run_and_wait_polls_a_plain_run_id() -> None:
    """A well-formed run id is polled as before."""
    server = _Server(run_id="drun_019ec55a68af73028afa5b87931cb2f3")
    async with _client(server) as client:
        with pytest.raises(ResponseValidationError):  # the mock's poll answer is not a run
            await client.deployments.run(DEPLOYMENT_ID, wait=True, poll_interval=0.001)
    assert server.requests[-1].url.path.endswith("/deployment_runs/" + server.run_id)


@pytest.mark.parametrize("deployment_id", [h.replace("drun_", "dep_") for h in HOSTILE])
async def test_a_fan_out_refuses_a_bad_deployment_id_from_a_source_pager(
    deployment_id: str,
) -> None:
    """A Deployment listed by the server with a bad id raises before any runs request."""
    server = _Server(deployment_id=deployment_id)
    async with _client(server) as client:
        fan = client.deployments.list_runs_across(client.deployments.list())
        with pytest.raises(ResponseValidationError, match="deployment id"):
            async for _ in fan:
                pass  # pragma: no cover - refused before the first run
    assert [r.url.path for r in server.requests] == ["/api/v1/cloud/deployments"]


@pytest.mark.parametrize("deployment_id", ["dep_1/../../deployments", "dep_1?x", ""])
async def test_a_fan_out_refuses_a_listed_deployment_object_with_a_bad_id(
    deployment_id: str,
) -> None:
    """Deployment objects in a list are server data: a bad id is a ResponseValidationError."""
    deployment: Any = structure({**EXAMPLES["deployment_1"], "id": deployment_id}, Deployment)
    server = _Server()
    async with _client(server) as client:
        with pytest.raises(ResponseValidationError, match="deployment id"):
            client.deployments.list_runs_across([deployment])
    assert server.requests == []
