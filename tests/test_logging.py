"""The qoder_async logger: one DEBUG line per attempt, no secret in it, and QODER_LOG."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap

import httpx
import pytest

from qoder_async import QoderClient, RetryPolicy
from qoder_async._logging import configure_from_env, log
from tests.hostile import DEPLOYMENT

PAT = "pt-SECRET-LOG-1"
BASE_URL = "https://api.example.test/api/v1/cloud"
DEP_ID = str(DEPLOYMENT["id"])


@pytest.mark.anyio
async def test_one_debug_line_per_attempt_with_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    """Each attempt logs method, path and query, status, ms, request id and attempt number."""
    caplog.set_level(logging.DEBUG, logger="qoder_async")
    answers = [
        httpx.Response(503),
        httpx.Response(200, json={"data": [], "has_more": False}),
    ]
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answers[len(sent) - 1]

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
        QoderClient(
            pat=PAT,
            base_url=BASE_URL,
            http_client=http,
            retry=RetryPolicy(initial_backoff=0, max_backoff=0),
            workspace_id="ws-SECRET-HEADER",
        ) as client,
    ):
        page = await client.deployments.list(status="active", limit=5)
    assert page.data == ()
    lines = [r for r in caplog.records if r.name == "qoder_async" and r.levelno == logging.DEBUG]
    assert len(lines) == 2
    request_id = sent[0].headers["x-request-id"]
    for number, (record, status) in enumerate(zip(lines, ("503", "200"), strict=True), 1):
        text = record.getMessage()
        assert text.startswith("GET /deployments?")
        assert "status=active" in text
        assert "limit=5" in text
        assert f"-> {status} in " in text
        assert " ms " in text
        assert f"request_id={request_id}" in text
        assert f"attempt {number}" in text
    for record in caplog.records:
        assert "SECRET" not in record.getMessage()


@pytest.mark.anyio
async def test_a_failed_attempt_names_its_error_class(caplog: pytest.LogCaptureFixture) -> None:
    """An attempt without a response logs the error's class instead of a status."""
    caplog.set_level(logging.DEBUG, logger="qoder_async")

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
        QoderClient(pat=PAT, base_url=BASE_URL, http_client=http, max_retries=0) as client,
    ):
        with pytest.raises(Exception, match="refused"):
            await client.deployments.get(DEP_ID)
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert f"GET /deployments/{DEP_ID} -> APIConnectionError in" in line


def test_configure_from_env_is_idempotent_and_needs_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without QODER_LOG nothing is installed; with it, one stderr handler, however often."""
    before = list(log.handlers)
    level = log.level
    try:
        monkeypatch.delenv("QODER_LOG", raising=False)
        configure_from_env()
        assert log.handlers == before
        monkeypatch.setenv("QODER_LOG", "verbose")
        configure_from_env()
        assert log.handlers == before
        monkeypatch.setenv("QODER_LOG", "INFO")
        configure_from_env()
        configure_from_env()
        added = [h for h in log.handlers if h not in before]
        assert len(added) == 1
        assert log.level == logging.INFO
        monkeypatch.setenv("QODER_LOG", "debug")
        configure_from_env()
        assert [h for h in log.handlers if h not in before] == added
        assert log.level == logging.DEBUG
    finally:
        for handler in [h for h in log.handlers if h not in before]:
            log.removeHandler(handler)
        log.setLevel(level)


SCRIPT = textwrap.dedent(
    """
    import anyio, httpx, json, logging
    from qoder_async import QoderClient

    def handler(request):
        return httpx.Response(200, json=json.loads({deployment!r}))

    async def main():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            for _ in range(2):  # two clients: still one handler
                async with QoderClient(
                    pat="pt-SECRET-SUB", base_url={base_url!r}, http_client=http
                ) as client:
                    await client.deployments.get({dep_id!r})
        print(len(logging.getLogger("qoder_async").handlers))

    anyio.run(main)
    """
)


@pytest.mark.parametrize(("value", "lines"), [("debug", 2), ("info", 0), ("", 0)])
def test_qoder_log_writes_to_stderr(value: str, lines: int) -> None:
    """`QODER_LOG=debug` prints the attempt lines on stderr, once each; `info` hides them."""
    script = SCRIPT.format(deployment=json.dumps(DEPLOYMENT), base_url=BASE_URL, dep_id=DEP_ID)
    env = {**os.environ, "QODER_LOG": value, "PYTHONWARNINGS": "error"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ("1" if value else "0")
    ours = [line for line in result.stderr.splitlines() if "qoder_async:" in line]
    assert len(ours) == lines
    assert all(f"GET /deployments/{DEP_ID} -> 200" in line for line in ours)
    assert "SECRET" not in result.stderr
