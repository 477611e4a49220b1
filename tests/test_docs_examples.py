"""Every README snippet and every script in examples/ runs against a loopback fake API."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

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
    """A fake API in its own process, its clock at the real time, for the duration of the module."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qoder_async.testing",
            "--pat",
            PAT,
            "--now",
            "now",
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


def _run(args: list[str], url: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QODER_PAT": PAT, "QODER_BASE_URL": url, "PYTHONWARNINGS": "error"}
    return subprocess.run(
        args, input=stdin, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_there_is_something_to_run() -> None:
    """The README has Python snippets and examples/ has scripts."""
    assert len(SNIPPETS) >= 4
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"readme-{i}" for i in range(len(SNIPPETS))])
def test_readme_snippet_runs(snippet: str, fake_api_url: str) -> None:
    """A README snippet runs to completion without an error or a warning."""
    result = _run([sys.executable, "-c", RUNNER], fake_api_url, stdin=snippet)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("script", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs(script: Path, fake_api_url: str) -> None:
    """An example script runs to completion and prints something."""
    result = _run([sys.executable, str(script)], fake_api_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
