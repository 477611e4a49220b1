"""`client.with_raw_response`: every method's twin, returning `APIResponse[T]`."""

from __future__ import annotations

import inspect
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from qoder_async import (
    APIResponse,
    Deployment,
    DeploymentRun,
    DeploymentRuns,
    Deployments,
    NotFoundError,
    Page,
    QoderClient,
    ResponseValidationError,
    RetryPolicy,
    UserMessage,
)
from qoder_async._raw import NO_RAW_TWIN
from qoder_async.testing import FakeQoderAPI, Fault
from tests.helpers import BASE_URL, deployment_with_runs
from tests.hostile import DEPLOYMENT

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

pytestmark = pytest.mark.anyio

AGENT = "agent_019ebb21ef8e7df6a559052c94875160"
ENV = "env_019e49a1780171daac1e6b01f290ac2b"
MISSING = "dep_00000000000000000000000000000000"


def public_methods(cls: type) -> set[str]:
    """The public methods a resource class defines."""
    return {
        name
        for name, member in vars(cls).items()
        if not name.startswith("_") and inspect.isfunction(member)
    }


@pytest.mark.parametrize(
    ("resource", "cls"), [("deployments", Deployments), ("deployment_runs", DeploymentRuns)]
)
def test_every_method_has_a_raw_twin_with_its_parameters(
    resource: str, cls: type[Deployments | DeploymentRuns]
) -> None:
    """Each public resource method (but the fan-out) has a twin with the very same parameters."""
    client = QoderClient(pat="pt-test")
    normal = getattr(client, resource)
    raw = getattr(client.with_raw_response, resource)
    methods = public_methods(cls)
    assert methods - NO_RAW_TWIN == set(type(raw).__slots__)
    for name in methods - NO_RAW_TWIN:
        twin = getattr(raw, name)
        original = inspect.signature(getattr(normal, name))
        signature = inspect.signature(twin)
        assert signature.parameters == original.parameters, name
        returned = str(original.return_annotation)
        expected = (
            f"APIResponse[Page[{returned.removeprefix('Pager[')}]"
            if returned.startswith("Pager[")
            else f"APIResponse[{returned}]"
        )
        assert signature.return_annotation == expected
        assert twin.__doc__ == getattr(normal, name).__doc__
        assert twin.__name__ == name


def check_raw(raw: APIResponse[Any], api: FakeQoderAPI) -> None:
    """The attributes every raw response has, against the request the fake saw last."""
    assert isinstance(raw, APIResponse)
    assert raw.status_code == 200
    assert isinstance(raw.http_response, httpx.Response)
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.request_id == api.requests[-1].headers["x-request-id"]
    assert isinstance(raw.elapsed, timedelta)
    assert raw.elapsed >= timedelta(0)
    assert raw.retries_taken == 0
    assert raw.http_response.json()  # the body is read and there
    assert raw.parse() is raw.parse()  # structured once


# name, raw call, how to get the same model the normal way afterwards
Case = tuple[
    str,
    "Callable[[QoderClient, str, str], Awaitable[APIResponse[Any]]]",
    "Callable[[QoderClient, str, str, Any], Awaitable[object]]",
]
CASES: list[Case] = [
    (
        "deployments.get",
        lambda c, d, r: c.with_raw_response.deployments.get(d),
        lambda c, d, r, parsed: c.deployments.get(d),
    ),
    (
        "deployments.create",
        lambda c, d, r: c.with_raw_response.deployments.create(
            name="raw", agent=AGENT, environment_id=ENV, initial_events=[UserMessage(content="x")]
        ),
        lambda c, d, r, parsed: c.deployments.get(parsed.id),
    ),
    (
        "deployments.update",
        lambda c, d, r: c.with_raw_response.deployments.update(d, description="raw"),
        lambda c, d, r, parsed: c.deployments.get(d),
    ),
    (
        "deployments.pause",
        lambda c, d, r: c.with_raw_response.deployments.pause(d),
        lambda c, d, r, parsed: c.deployments.get(d),
    ),
    (
        "deployments.archive",
        lambda c, d, r: c.with_raw_response.deployments.archive(d),
        lambda c, d, r, parsed: c.deployments.get(d),
    ),
    (
        "deployments.run",
        lambda c, d, r: c.with_raw_response.deployments.run(d),
        lambda c, d, r, parsed: c.deployments.get_run(d, parsed.id),
    ),
    (
        "deployments.get_run",
        lambda c, d, r: c.with_raw_response.deployments.get_run(d, r),
        lambda c, d, r, parsed: c.deployments.get_run(d, r),
    ),
    (
        "deployments.list",
        lambda c, d, r: c.with_raw_response.deployments.list(limit=2),
        lambda c, d, r, parsed: c.deployments.list(limit=2),
    ),
    (
        "deployments.list_runs",
        lambda c, d, r: c.with_raw_response.deployments.list_runs(d, limit=2),
        lambda c, d, r, parsed: c.deployments.list_runs(d, limit=2),
    ),
    (
        "deployment_runs.list",
        lambda c, d, r: c.with_raw_response.deployment_runs.list(limit=2),
        lambda c, d, r, parsed: c.deployment_runs.list(limit=2),
    ),
    (
        "deployment_runs.get",
        lambda c, d, r: c.with_raw_response.deployment_runs.get(r),
        lambda c, d, r, parsed: c.deployment_runs.get(r),
    ),
    (
        "deployment_runs.wait",
        lambda c, d, r: c.with_raw_response.deployment_runs.wait(r),
        lambda c, d, r, parsed: c.deployment_runs.wait(r),
    ),
]


@pytest.mark.parametrize(("name", "raw_call", "normal"), CASES, ids=[c[0] for c in CASES])
async def test_a_raw_twin_answers_with_the_response_and_the_same_model(
    api: FakeQoderAPI,
    client: QoderClient,
    name: str,
    raw_call: Callable[[QoderClient, str, str], Awaitable[APIResponse[Any]]],
    normal: Callable[[QoderClient, str, str, Any], Awaitable[object]],
) -> None:
    """A twin sends one request and gives its status, headers, id, time and the model."""
    deployment_id, (run_id, _, _) = deployment_with_runs(api, 3)
    api.add_deployment()
    api.add_deployment()
    api.reset_stats()
    raw = await raw_call(client, deployment_id, run_id)
    assert len(api.requests) == 1  # a listing: its first page only
    check_raw(raw, api)
    parsed = raw.parse()
    assert parsed == await normal(client, deployment_id, run_id, parsed)  # a Pager: page 1
    if name.endswith(("list", "list_runs")):
        assert isinstance(parsed, Page)
        assert len(parsed.data) == 2
        assert api.requests[0].query["limit"] == "2"
    else:
        assert isinstance(parsed, (Deployment, DeploymentRun))


async def test_a_raw_listing_sends_what_the_pagers_first_request_sends(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """Cursor, filters, options and a max_items-sized limit go out as on a Pager's first page."""
    deployment_id, run_ids = deployment_with_runs(api, 6)
    raw = await client.with_raw_response.deployments.list_runs(
        deployment_id,
        status="completed",
        after_id=run_ids[0],
        max_items=3,
        extra_query={"x_probe": "1"},
        extra_headers={"X-Trace-Id": "t"},
    )
    assert [run.id for run in raw.parse().data] == run_ids[1:4]
    (request,) = api.requests
    assert request.query == {
        "status": "completed",
        "after_id": run_ids[0],
        "limit": "3",
        "x_probe": "1",
    }
    assert request.headers["x-trace-id"] == "t"
    with pytest.raises(ValueError, match="max_items=0"):
        await client.with_raw_response.deployments.list_runs(deployment_id, max_items=0)
    with pytest.raises(ValueError, match="pass at most one cursor"):
        await client.with_raw_response.deployment_runs.list(after_id="a", page="b")
    with pytest.raises(TypeError, match="prefetch"):
        await client.with_raw_response.deployment_runs.list(prefetch=None)  # type: ignore[arg-type]
    assert len(api.requests) == 1


async def test_a_raw_response_after_retries_is_the_successful_attempts(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """After a 503 and a retry, the raw response is the 200 and says one retry was taken."""
    deployment_id = api.add_deployment()["id"]
    api.faults.append(Fault(status=503, retry_after=0))
    fast = client.with_options(retry=RetryPolicy(initial_backoff=0, max_backoff=0))
    raw = await fast.with_raw_response.deployments.get(deployment_id)
    assert raw.status_code == 200
    assert raw.retries_taken == 1
    assert len(api.requests) == 2
    assert raw.request_id == api.requests[1].headers["x-request-id"]


async def test_raw_twins_raise_as_the_methods_do(api: FakeQoderAPI, client: QoderClient) -> None:
    """Errors come as themselves (with their response); bad arguments before any I/O."""
    with pytest.raises(NotFoundError) as caught:
        await client.with_raw_response.deployments.get(MISSING)
    assert caught.value.response is not None
    assert caught.value.headers["content-type"].startswith("application/json")
    api.reset_stats()
    with pytest.raises(ValueError, match="deployment_id"):
        await client.with_raw_response.deployments.get("not-an-id")
    deployment_id = api.add_deployment()["id"]
    with pytest.raises(ValueError, match=r"deployment_runs\.wait"):
        await client.with_raw_response.deployments.run(deployment_id, wait=True)
    assert api.requests == []


async def test_parse_is_lazy_and_raises_what_the_method_raises() -> None:
    """A body of the wrong shape still gives a raw response; parse() then raises."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.url.path.endswith("/dep_bad"):
            return httpx.Response(200, json={"id": "dep_bad"})
        return httpx.Response(
            201, json=DEPLOYMENT, headers={"x-request-id": "srv-1", "x-custom": "yes"}
        )

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
        QoderClient(pat="pt-test", base_url=BASE_URL, http_client=http, timeout=9) as client,
    ):
        raw = await client.with_raw_response.deployments.get("dep_bad")
        assert raw.status_code == 200
        with pytest.raises(ResponseValidationError):
            raw.parse()
        with pytest.raises(ResponseValidationError):
            await client.deployments.get("dep_bad")
        view = client.with_options(timeout=3)
        good = await view.with_raw_response.deployments.get(str(DEPLOYMENT["id"]))
    assert good.status_code == 201
    assert good.headers["x-custom"] == "yes"
    assert good.request_id == "srv-1"
    assert good.parse().id == DEPLOYMENT["id"]
    assert sent[-1].extensions["timeout"]["read"] == 3
    assert (
        repr(good)
        == f"<APIResponse [201 Created] GET /api/v1/cloud/deployments/{DEPLOYMENT['id']}>"
    )


def test_with_raw_response_is_made_once_per_client() -> None:
    """The namespace is built on first use and kept; a view has its own."""
    client = QoderClient(pat="pt-test")
    assert client.with_raw_response is client.with_raw_response
    assert client.with_options(timeout=1).with_raw_response is not client.with_raw_response
