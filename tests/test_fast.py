"""The msgspec fast path: exactly the default path's results and errors, and optional."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qoder_async import (
    AgentRef,
    CasConfig,
    Deployment,
    DeploymentRun,
    Page,
    ResponseValidationError,
    Schedule,
    to_json,
)
from qoder_async._converter import decode_json, fast_path_enabled
from tests.test_serialize import _JSON, EXAMPLES, MODEL_EXAMPLES, strategy

# The models the client decodes, and the nested ones the fast path builds on its own.
FAST_TYPES: list[Any] = [
    Deployment,
    DeploymentRun,
    Page[Deployment],
    Page[DeploymentRun],
    AgentRef,
    Schedule,
    CasConfig,
]
_PAGES = {
    Page[Deployment]: st.lists(strategy(Deployment), max_size=3),
    Page[DeploymentRun]: st.lists(strategy(DeploymentRun), max_size=3),
}


def both(content: bytes, cls: Any) -> tuple[object, object]:
    """The fast path's and the default path's result (or raised error) for `content`."""
    return _decode(content, cls, fast=True), _decode(content, cls, fast=False)


def _decode(content: bytes, cls: Any, *, fast: bool) -> object:
    try:
        return decode_json(content, cls, fast=fast)
    except ResponseValidationError as exc:
        return ("error", exc.path)


def _model(cls: Any) -> st.SearchStrategy[Any]:
    if cls in _PAGES:
        return _PAGES[cls].map(lambda items: Page(data=tuple(items), has_more=bool(items)))
    return strategy(cls)


def test_the_fast_path_is_installed_in_the_dev_environment() -> None:
    """The dev group installs msgspec, so that these tests compare two real paths."""
    assert fast_path_enabled()


@pytest.mark.parametrize("name", MODEL_EXAMPLES)
def test_every_spec_example_decodes_the_same_on_both_paths(name: str) -> None:
    """Each documented example gives equal models on the fast and the default path."""
    content = json.dumps(EXAMPLES[name]).encode()
    fast, default = both(content, MODEL_EXAMPLES[name])
    assert not isinstance(default, tuple)
    assert fast == default


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), cls=st.sampled_from(FAST_TYPES))
def test_generated_payloads_decode_the_same_on_both_paths(data: st.DataObject, cls: Any) -> None:
    """For any model, its JSON decodes to the model itself on both paths."""
    model = data.draw(_model(cls))
    content = to_json(model).encode()
    fast, default = both(content, cls)
    assert fast == default == model


def _leaves(value: object, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON value, the root included."""
    paths = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            paths += _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += _leaves(item, (*path, index))
    return paths


def _replace(value: Any, path: tuple[Any, ...], new: object) -> Any:
    if not path:
        return new
    value[path[0]] = _replace(value[path[0]], path[1:], new)
    return value


_ODD_VALUES = (
    _JSON
    | st.sampled_from(
        [
            "2026-06-14T08:54:06.271902633Z",
            "2026-06-14T08:54:06.9999999Z",
            "2026-06-14t08:54:06z",
            "2026-06-14 08:54:06+08:00",
            "2026-06-14T08:54:06",
            "2026-06-14T08:54:06.Z",
            "2026-06-14T08:54:06.1234567890Z",
            "2026-W24-1T08:54:06Z",
            "cancelling",
            1.0,
            True,
            2**70,
        ]
    )
    | st.builds(lambda: {"cas_config": {"config": {"max_retries": "3"}}})
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), cls=st.sampled_from(FAST_TYPES))
def test_damaged_payloads_give_the_same_result_or_error(data: st.DataObject, cls: Any) -> None:
    """Any one value replaced by other JSON: equal models, or the same error path, on both."""
    model = data.draw(_model(cls))
    payload = json.loads(to_json(model))
    path = data.draw(st.sampled_from(_leaves(payload)))
    payload = _replace(copy.deepcopy(payload), path, data.draw(_ODD_VALUES))
    fast, default = both(json.dumps(payload).encode(), cls)
    assert fast == default


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("2026-06-14T08:54:06.271902633Z", 271902),
        ("2026-06-14T08:54:06.2719025Z", 271902),
        ("2026-06-14T08:54:06.999999999Z", 999999),
        ("2026-06-14T16:54:06.1+08:00", 100000),
        ("2026-06-14t08:54:06z", 0),
        ("2026-06-14T08:54:06", None),
    ],
)
def test_timestamps_read_as_the_default_path_reads_them(text: str, micros: int | None) -> None:
    """Nanoseconds are cut (not rounded, as msgspec alone would), offsets kept, naive refused."""
    raw = copy.deepcopy(EXAMPLES["deployment_run_1"])
    raw["created_at"] = text
    fast, default = both(json.dumps(raw).encode(), DeploymentRun)
    assert fast == default
    if micros is None:
        assert fast == ("error", ("created_at",))
    else:
        assert isinstance(fast, DeploymentRun)
        assert fast.created_at.microsecond == micros


def test_errors_on_the_fast_path_name_the_json_path() -> None:
    """A body the fast path refuses is reported by the default path, with its JSON path."""
    raw = copy.deepcopy(EXAMPLES["page_deployment_run_1"])
    raw["data"][0]["trigger_context"]["type"] = 5
    with pytest.raises(ResponseValidationError) as info:
        decode_json(json.dumps(raw).encode(), Page[DeploymentRun])
    assert info.value.path == ("data", 0, "trigger_context", "type")
    assert info.value.json_path == "$.data[0].trigger_context.type"
    with pytest.raises(ResponseValidationError, match="not JSON") as not_json:
        decode_json(b"{nope", Page[DeploymentRun])
    assert not_json.value.path is None


def _run_python(code: str, **env: str) -> str:
    """Run `code` in a fresh interpreter of this environment and return its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        cwd=Path(__file__).parent.parent,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


_WITHOUT_MSGSPEC = """
import sys
sys.modules["msgspec"] = None  # as if it were not installed: importing it raises ImportError
import anyio, httpx
import qoder_async
from qoder_async import Page, DeploymentRun
from qoder_async._converter import decode_json, fast_path_enabled
from qoder_async.testing import FakeQoderAPI

assert not fast_path_enabled()
page = decode_json(b'{"data": [], "has_more": false}', Page[DeploymentRun])
assert page.data == ()

async def main():
    api = FakeQoderAPI(pat="pt-test")
    api.seed(deployments=2, runs_per_deployment=3)
    async with httpx.AsyncClient(transport=api.transport()) as http:
        async with qoder_async.QoderClient(
            pat="pt-test", base_url="https://api.qoder.com/api/v1/cloud", http_client=http
        ) as client:
            return [run.id async for run in client.deployment_runs.list(limit=2)]

for backend in ("asyncio", "trio"):
    assert len(anyio.run(main, backend=backend)) == 6
assert "qoder_async._fast" not in sys.modules
print("ok")
"""


def test_the_default_path_works_without_msgspec() -> None:
    """With msgspec missing, the package imports, decodes and lists on asyncio and trio."""
    assert _run_python(_WITHOUT_MSGSPEC).strip() == "ok"


def test_qoder_fast_0_turns_the_fast_path_off() -> None:
    """QODER_FAST=0 keeps msgspec out even where it is installed."""
    code = (
        "import sys; from qoder_async._converter import fast_path_enabled; "
        "print(fast_path_enabled(), 'msgspec' in sys.modules)"
    )
    assert _run_python(code, QODER_FAST="0").split() == ["False", "False"]
    assert _run_python(code, QODER_FAST="1").split() == ["True", "True"]
