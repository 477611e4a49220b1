"""The `qoder-async` command line."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import pytest

from qoder_async import _cli
from qoder_async._cli import main
from qoder_async.testing import FakeQoderAPI, Fault
from tests.helpers import NOW, connect

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from qoder_async import QoderClient


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_demo_tours_every_feature(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`qoder-async demo` runs against the embedded fake and shows each part of the tour."""
    assert main(["demo", "--backend", backend, "--latency", "0.001"]) == 0
    out = capsys.readouterr().out
    for marker in (
        "Fake Qoder API listening at http://127.0.0.1:",
        "pausing again raises ConflictError: 409 conflict_error",
        "a missing deployment raises NotFoundError: 404",
        ": completed in",
        "prefetch=0:",
        "prefetch=1:",
        "update(schedule=None) made it manual-only: schedule=None",
        "6. `qoder-async runs watch --json`",
        '{"id":"drun_',
        "Done.",
    ):
        assert marker in out
    assert "pt-fake-token" not in out  # the PAT never shows, not even in the client's repr


def test_demo_rejects_a_negative_latency(capsys: pytest.CaptureFixture[str]) -> None:
    """A negative --latency is refused with a usage error."""
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--latency", "-1"])
    assert exit_info.value.code == 2
    assert "--latency" in capsys.readouterr().err


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    """Running without a command prints usage and exits 2."""
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "usage" in capsys.readouterr().err


def test_no_pat_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --pat, $QODER_PAT or --fake, a command exits 2 and says how to authenticate."""
    monkeypatch.delenv("QODER_PAT", raising=False)
    assert main(["runs", "list"]) == 2
    assert capsys.readouterr().err == (
        "qoder-async: error: no PAT: pass --pat or set $QODER_PAT (or try --fake)\n"
    )


def test_a_fan_out_with_failures_prints_every_other_run_then_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`runs list --all-deployments`: one failing deployment is reported, the rest is printed."""
    api = FakeQoderAPI(seed=2, now=NOW)
    api.seed(deployments=4, runs_per_deployment=3)
    listed = [d for d in api.deployments.values() if d["archived_at"] is None]
    broken = listed[0]["id"]
    api.faults.append(Fault(status=400, path=f"/deployments/{broken}/runs"))

    @asynccontextmanager
    async def open_fake(**_: object) -> AsyncIterator[QoderClient]:
        async with connect(api) as client:
            yield client

    monkeypatch.setattr(_cli, "open_client", open_fake)
    assert main(["runs", "list", "--all-deployments", "--json", "--pat", api.pat]) == 1
    captured = capsys.readouterr()
    printed = {json.loads(line)["deployment_id"] for line in captured.out.splitlines()}
    assert printed == {d["id"] for d in listed} - {broken}
    first, last = captured.err.splitlines()
    assert first.startswith(f"qoder-async: error: {broken}: 400 invalid_request_error: ")
    assert "[request id: " in first
    assert last == "qoder-async: error: 1 listing(s) failed; every other run was printed"
