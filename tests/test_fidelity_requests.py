"""Requests and errors as the official SDKs send and map them (spec 7.5 and 7.6)."""

from __future__ import annotations

import json

import httpx
import pytest

from qoder_async import (
    APIError,
    OverloadedError,
    QoderClient,
    RequestTooLargeError,
    RetryPolicy,
    ServerError,
    UnprocessableEntityError,
    _retry,
)
from qoder_async.testing import FakeQoderAPI
from tests.helpers import connect

pytestmark = pytest.mark.anyio

BASE_URL = "https://api.example.test/api/v1/cloud"
DEP_ID = "dep_019ec556114c78f8b60ee34fcb98bf59"


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries without a server hint cost no time."""
    monkeypatch.setattr(_retry, "DEFAULT_RETRY", RetryPolicy(initial_backoff=0, max_backoff=0))


@pytest.mark.parametrize("action", ["pause", "unpause", "archive"])
async def test_actions_send_an_empty_json_object(action: str) -> None:
    """Gap 5: pause, unpause and archive send `{}` with Content-Type: application/json."""
    api = FakeQoderAPI(pat="pt-test")
    dep = api.add_deployment(status="paused" if action == "unpause" else "active")
    async with connect(api) as client:
        await getattr(client.deployments, action)(dep["id"])
    (request,) = [r for r in api.requests if r.path.endswith(f"/{action}")]
    assert request.content == b"{}"
    assert request.headers["content-type"] == "application/json"


async def test_run_without_options_sends_an_empty_json_object() -> None:
    """`run` with no options also sends `{}` as JSON (spec 7.5)."""
    api = FakeQoderAPI(pat="pt-test")
    dep = api.add_deployment()
    async with connect(api) as client:
        await client.deployments.run(dep["id"])
    (request,) = [r for r in api.requests if r.path.endswith("/run")]
    assert request.content == b"{}"
    assert request.headers["content-type"] == "application/json"


def _handler(status: int, error: dict[str, str]) -> httpx.MockTransport:
    body = json.dumps({"type": "error", "request_id": "req_1", "error": error}).encode()

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": "application/json"})

    return httpx.MockTransport(answer)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (413, RequestTooLargeError),
        (422, UnprocessableEntityError),
        (529, OverloadedError),
    ],
)
async def test_new_statuses_have_their_own_classes(status: int, cls: type[APIError]) -> None:
    """Gap 6: 413, 422 and 529 raise their own classes, with the error object's `code`."""
    error = {"type": "some_error", "code": "specific_code", "message": "nope", "param": "name"}
    async with (
        httpx.AsyncClient(transport=_handler(status, error)) as http,
        QoderClient(pat="pt-test", base_url=BASE_URL, http_client=http, max_retries=0) as client,
    ):
        with pytest.raises(APIError) as info:
            await client.deployments.get(DEP_ID)
    exc = info.value
    assert type(exc) is cls
    assert exc.status_code == status
    assert exc.code == "specific_code"
    assert exc.error_type == "some_error"
    assert exc.request_id == "req_1"
    assert "specific_code" in str(exc)
    assert "code='specific_code'" in repr(exc)


def test_overloaded_is_a_server_error() -> None:
    """529 is a ServerError, so code catching 5xx catches it too."""
    assert issubclass(OverloadedError, ServerError)


async def test_code_is_none_when_absent() -> None:
    """An error object without `code` leaves it None and out of the message."""
    error = {"type": "not_found_error", "message": "no such deployment"}
    async with (
        httpx.AsyncClient(transport=_handler(404, error)) as http,
        QoderClient(pat="pt-test", base_url=BASE_URL, http_client=http) as client,
    ):
        with pytest.raises(APIError) as info:
            await client.deployments.get(DEP_ID)
    assert info.value.code is None
    assert "(" not in str(info.value).split(":")[0]


async def test_retried_attempts_carry_the_retry_count() -> None:
    """Retries carry X-Qoder-Retry-Count with the attempt number; the first attempt none."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503)

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http,
        QoderClient(pat="pt-test", base_url=BASE_URL, http_client=http, max_retries=2) as client,
    ):
        with pytest.raises(ServerError):
            await client.deployments.get(DEP_ID)
    counts = [request.headers.get("x-qoder-retry-count") for request in seen]
    assert counts == [None, "1", "2"]
