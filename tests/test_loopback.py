"""End to end over real HTTP: a QoderClient against the fake served on 127.0.0.1."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from qoder_async import (
    APITimeoutError,
    ConflictError,
    DeploymentStatus,
    NotFoundError,
    QoderClient,
    ResponseValidationError,
    RetryPolicy,
    RunStatus,
    UserMessage,
    _retry,
)
from qoder_async.testing import FakeQoderAPI, Fault
from tests.helpers import START

pytestmark = pytest.mark.anyio

PAT = "pt-loopback"
AGENT = "agent_019ebb21ef8e7df6a559052c94875160"
ENV = "env_019e49a1780171daac1e6b01f290ac2b"
EVENT = UserMessage(content="Generate today's status report")
MISSING_DEP = "dep_00000000000000000000000000000000"


@pytest.fixture
def api() -> FakeQoderAPI:
    """An empty fake to serve; each test adds the data it needs."""
    return FakeQoderAPI(pat=PAT)


@pytest.fixture
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make back-off without a server hint zero (a reset has no Retry-After to honour)."""
    monkeypatch.setattr(_retry, "DEFAULT_RETRY", RetryPolicy(initial_backoff=0, max_backoff=0))


async def test_list_pages_over_http(api: FakeQoderAPI) -> None:
    """A listing follows its cursors over several HTTP requests and loses nothing."""
    added = [api.add_deployment(created_at=START + timedelta(minutes=i))["id"] for i in range(11)]
    async with api.serve() as base_url, QoderClient(pat=api.pat, base_url=base_url) as client:
        listed = [dep.id async for dep in client.deployments.list(limit=4)]
    assert listed == added[::-1]
    pages = [r for r in api.requests if r.path == "/deployments"]
    tokens = [r.query.get("page") for r in pages]
    assert tokens[0] is None
    assert len(tokens) == 3
    # Spec 7.4: followed as the opaque page cursor, which the fake makes unlike any id.
    assert all(token and token not in listed for token in tokens[1:])
    assert all("after_id" not in r.query for r in pages)


async def test_create_run_and_pause_over_http(api: FakeQoderAPI) -> None:
    """A deployment is created, run to completion, paused, refused a run and resumed."""
    async with api.serve() as base_url, QoderClient(pat=api.pat, base_url=base_url) as client:
        dep = await client.deployments.create(
            name="loopback", agent=AGENT, environment_id=ENV, initial_events=[EVENT]
        )
        run = await client.deployments.run(dep.id, wait=True, poll_interval=0.001)
        assert (run.deployment_id, run.status) == (dep.id, RunStatus.COMPLETED)
        paused = await client.deployments.pause(dep.id)
        assert paused.status is DeploymentStatus.PAUSED
        with pytest.raises(ConflictError):
            await client.deployments.run(dep.id)
        resumed = await client.deployments.unpause(dep.id)
        assert resumed.status is DeploymentStatus.ACTIVE
        runs = [r.id async for r in client.deployments.list_runs(dep.id)]
    assert runs == [run.id]
    assert api.runs[run.id]["status"] == "completed"
    assert api.deployments[dep.id]["status"] == "active"


async def test_not_found_over_http(api: FakeQoderAPI) -> None:
    """A 404 arrives as NotFoundError carrying the request id the server saw."""
    async with api.serve() as base_url, QoderClient(pat=api.pat, base_url=base_url) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.deployments.get(MISSING_DEP)
    assert (caught.value.status_code, caught.value.error_type) == (404, "not_found_error")
    [request] = api.requests
    assert caught.value.request_id == request.headers["x-request-id"]


async def test_rate_limit_is_retried_over_http(api: FakeQoderAPI) -> None:
    """A 429 with Retry-After 0 is retried on the wire, and the retry succeeds."""
    stored = api.add_deployment()
    api.faults.append(Fault(status=429, retry_after=0))
    async with api.serve() as base_url, QoderClient(pat=api.pat, base_url=base_url) as client:
        dep = await client.deployments.get(stored["id"])
    assert dep.id == stored["id"]
    first, second = api.requests
    assert first.headers["x-request-id"] == second.headers["x-request-id"]


@pytest.mark.usefixtures("_no_backoff")
async def test_connection_reset_is_retried_over_http(api: FakeQoderAPI) -> None:
    """A connection dropped without a response is retried, and the retry succeeds."""
    stored = api.add_deployment()
    api.faults.append(Fault(reset=True))
    async with api.serve() as base_url, QoderClient(pat=api.pat, base_url=base_url) as client:
        dep = await client.deployments.get(stored["id"])
    assert dep.id == stored["id"]
    assert len(api.requests) == 2


async def test_malformed_json_is_a_validation_error(api: FakeQoderAPI) -> None:
    """A 200 whose body is cut-off JSON raises ResponseValidationError, without a retry."""
    stored = api.add_deployment()
    api.faults.append(Fault(body="malformed"))
    async with api.serve() as base_url, QoderClient(pat=api.pat, base_url=base_url) as client:
        with pytest.raises(ResponseValidationError):
            await client.deployments.get(stored["id"])
    assert len(api.requests) == 1


async def test_slow_body_times_out(api: FakeQoderAPI) -> None:
    """A body that trickles in slower than the client's timeout raises APITimeoutError."""
    stored = api.add_deployment()
    # Ten pieces a second apart: each read waits far longer than the 0.2 s timeout.
    api.faults.append(Fault(slow_body=10))
    async with (
        api.serve() as base_url,
        QoderClient(pat=api.pat, base_url=base_url, timeout=0.2, max_retries=0) as client,
    ):
        with pytest.raises(APITimeoutError):
            await client.deployments.get(stored["id"])
    assert len(api.requests) == 1


@pytest.mark.usefixtures("_no_backoff")
async def test_post_retried_after_a_lost_answer_creates_one(api: FakeQoderAPI) -> None:
    """A create whose answer times out after the API acted is retried and replayed, not doubled."""
    api.faults.append(Fault(slow_body=30, method="POST"))
    async with (
        api.serve() as base_url,
        QoderClient(pat=api.pat, base_url=base_url, timeout=0.5, max_retries=1) as client,
    ):
        dep = await client.deployments.create(
            name="once", agent=AGENT, environment_id=ENV, initial_events=[EVENT]
        )
    assert list(api.deployments) == [dep.id]
    first, second = api.requests
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]


@pytest.mark.usefixtures("_no_backoff")
async def test_bad_idempotency_key_is_refused_not_retried(api: FakeQoderAPI) -> None:
    """A key that is not a valid header value raises ValueError at once instead of retrying."""
    stored = api.add_deployment()
    async with api.serve() as base_url, QoderClient(pat=api.pat, base_url=base_url) as client:
        with pytest.raises(ValueError, match="idempotency_key"):
            await client.deployments.pause(stored["id"], idempotency_key="two\nlines")
    assert api.deployments[stored["id"]]["status"] == "active"


async def test_server_sees_our_headers(api: FakeQoderAPI) -> None:
    """Every request carries the PAT, a UUID x-request-id and our User-Agent; POSTs a key."""
    async with api.serve() as base_url, QoderClient(pat=api.pat, base_url=base_url) as client:
        dep = await client.deployments.create(
            name="headers",
            agent=AGENT,
            environment_id=ENV,
            initial_events=[EVENT],
            idempotency_key="key-123",
        )
        await client.deployments.get(dep.id)
        await client.deployments.pause(dep.id)
    create, get, pause = api.requests
    for request in (create, get, pause):
        assert request.headers["authorization"] == f"Bearer {PAT}"
        assert request.headers["user-agent"].startswith("qoder-async/")
        rid = request.headers["x-request-id"]
        assert str(uuid.UUID(rid)) == rid
    assert len({r.headers["x-request-id"] for r in api.requests}) == 3
    assert create.headers["idempotency-key"] == "key-123"
    assert create.headers["content-type"] == "application/json"
    key = pause.headers["idempotency-key"]
    assert str(uuid.UUID(key)) == key
    assert "idempotency-key" not in get.headers
