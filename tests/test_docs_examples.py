"""Every README snippet runs against a loopback fake API, every example with QODER_FAKE=1."""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent
PAT = "pt-docs-examples"
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
SNIPPETS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)

# Runs one README snippet. Fragments that `await` run inside an event loop with the names
# the README assumes to exist (`client`, `cutoff`); whole programs run as they are.
RUNNER = """
import ast, sys
from datetime import datetime, timedelta, timezone
import anyio
from qoder_async import QoderClient

source = sys.stdin.read()
code = compile(source, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)

async def run_fragment():
    async with QoderClient() as client:
        names = {"client": client, "cutoff": datetime.now(timezone.utc) - timedelta(days=1)}
        await eval(code, names)

if code.co_flags & 0x80:  # CO_COROUTINE: the snippet awaits at top level
    anyio.run(run_fragment)
else:
    exec(code, {"__name__": "__main__"})
"""


@pytest.fixture(scope="module")
def fake_api_url() -> Iterator[str]:
    """A fake API in its own process (its clock at the real time) for the duration of the module."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qoder_async.testing",
            "--pat",
            PAT,
            "--deployments",
            "15",
            "--runs-per-deployment",
            "40",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()


def _run(
    args: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, input=stdin, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _env(**extra: str) -> dict[str, str]:
    """This process's environment without any Qoder settings, plus `extra`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("QODER_")}
    return {**env, "PYTHONWARNINGS": "error", **extra}


def test_there_is_something_to_run() -> None:
    """The README has Python snippets and examples/ has scripts."""
    assert len(SNIPPETS) >= 4
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"readme-{i}" for i in range(len(SNIPPETS))])
def test_readme_snippet_runs(snippet: str, fake_api_url: str) -> None:
    """A README snippet runs to completion without an error or a warning."""
    env = _env(QODER_PAT=PAT, QODER_BASE_URL=fake_api_url)
    result = _run([sys.executable, "-c", RUNNER], env, stdin=snippet)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("script", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs_against_the_fake_with_qoder_fake_1(script: Path) -> None:
    """An example documents QODER_FAKE=1 and, with only that set, runs and prints something."""
    docstring = ast.get_docstring(ast.parse(script.read_text())) or ""
    assert f"QODER_FAKE=1 uv run python examples/{script.name}" in docstring
    result = _run([sys.executable, str(script)], _env(QODER_FAKE="1"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_failed_runs_report_finds_runs_of_the_last_day() -> None:
    """Against the fake (its clock at the real time), the 24-hour report lists failed runs."""
    script = ROOT / "examples" / "failed_runs_report.py"
    result = _run([sys.executable, str(script)], _env(QODER_FAKE="1"))
    assert result.returncode == 0, result.stderr
    total = re.search(r"^(\d+) failed runs:", result.stdout, re.MULTILINE)
    assert total is not None, result.stdout
    assert int(total.group(1)) > 0
    assert len(result.stdout.splitlines()) == int(total.group(1)) + 1


def test_readme_documents_the_examples_switch() -> None:
    """The README's examples section names QODER_FAKE=1 and every script in examples/."""
    readme = (ROOT / "README.md").read_text()
    section = readme.partition("\n### Examples\n")[2].partition("\n#")[0]
    assert "QODER_FAKE=1" in section
    for script in EXAMPLES:
        assert f"examples/{script.name}" in section or script.stem in section


def test_web_backend_serves_under_uvicorn() -> None:
    """`uvicorn examples.web_backend:app` starts with QODER_FAKE=1, answers, and stops on SIGTERM."""
    command = [sys.executable, "-m", "uvicorn", "examples.web_backend:app"]
    command += ["--host", "127.0.0.1", "--port", "0", "--no-access-log"]
    env = _env(QODER_FAKE="1")
    with subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True) as server:
        assert server.stderr is not None
        try:
            lines: list[str] = []
            while not (lines and "Uvicorn running on" in lines[-1]):
                line = server.stderr.readline()
                assert line, "".join(lines)
                lines.append(line)
            url = re.search(r"http://127\.0\.0\.1:\d+", lines[-1])
            assert url is not None, lines[-1]
            missing = httpx.get(f"{url.group()}/deployments/dep_missing0000/failures")
            assert missing.status_code == 404  # the fake answered 404 through the app
            assert missing.json()["detail"]
            malformed = httpx.get(f"{url.group()}/deployments/not-an-id/failures")
            assert malformed.status_code == 422
            streamed = httpx.get(f"{url.group()}/runs.ndjson", params={"limit": 30})
            assert streamed.headers["content-type"] == "application/x-ndjson"
            runs = [json.loads(line) for line in streamed.text.splitlines()]
            assert len(runs) == 30  # two pages of the fake's default size, and some
            assert {run["type"] for run in runs} == {"deployment_run"}
        finally:
            server.terminate()
        # uvicorn shuts down gracefully, then may re-raise the signal to exit by it.
        assert server.wait(timeout=10) in (0, -signal.SIGTERM)
        log = server.stderr.read()
        assert "Application shutdown complete" in log
        assert "Traceback" not in log
