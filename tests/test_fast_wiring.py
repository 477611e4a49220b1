"""The client decodes through the msgspec fast path when it is on, with the same results."""

from __future__ import annotations

import json

import httpx
import pytest

from qoder_async import QoderClient, ResponseValidationError, _converter, to_dict
from qoder_async.testing import FakeQoderAPI
from tests.helpers import NOW, connect

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not _converter.fast_path_enabled(), reason="msgspec not installed"),
]


async def test_listings_and_gets_skip_the_default_structuring(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the fast path on, pages and objects come out of msgspec, not json.loads + cattrs."""
    api = FakeQoderAPI(pat="pt-test", now=NOW)
    api.seed(deployments=6, runs_per_deployment=30)
    async with connect(api) as client:
        expected_runs = [to_dict(run) for run in await _default_runs(client, monkeypatch)]
        calls: list[object] = []
        real = _converter.structure

        def counting(data: object, cls: object) -> object:
            calls.append(cls)
            return real(data, cls)  # type: ignore[arg-type]

        monkeypatch.setattr(_converter, "structure", counting)
        runs = [to_dict(run) async for run in client.deployment_runs.list(limit=50)]
        dep_id = next(iter(api.deployments))
        deployment = await client.deployments.get(dep_id)
    assert runs == expected_runs
    assert deployment.id == dep_id
    assert calls == []


async def _default_runs(client: QoderClient, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    with monkeypatch.context() as patch:
        patch.setattr("qoder_async._resource.fast_page_reader", lambda cls: None)
        return [run async for run in client.deployment_runs.list(limit=50)]


async def test_a_body_the_fast_path_refuses_fails_as_the_default_path_says() -> None:
    """A page with a bad field raises the default path's ResponseValidationError and path."""
    page = {
        "data": [{"id": "drun_1", "type": "deployment_run", "deployment_id": "dep_1"}],
        "has_more": False,
        "next_page": None,
        "first_id": "drun_1",
        "last_id": "drun_1",
    }
    body = json.dumps(page).encode()

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http,
        QoderClient(pat="pt-test", http_client=http) as client,
    ):
        with pytest.raises(ResponseValidationError) as caught:
            await client.deployment_runs.list()
    assert caught.value.json_path is not None
    assert caught.value.json_path.startswith("$.data[0]")
