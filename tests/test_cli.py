"""The `qoder-async` command line."""

from __future__ import annotations

import pytest

from qoder_async._cli import main


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
