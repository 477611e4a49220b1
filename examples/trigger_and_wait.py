"""Trigger a run of the newest active deployment and wait for its outcome, on trio.

Shows the one-liner `run(..., wait=True)` and what a caller sees when a deployment cannot
run. Reads $QODER_PAT and, optionally, $QODER_BASE_URL. With QODER_FAKE=1 it talks to an
in-process fake API (`qoder_async.testing`) seeded with sample data instead: no account,
no network.

    uv run python examples/trigger_and_wait.py
    QODER_FAKE=1 uv run python examples/trigger_and_wait.py
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import anyio

from qoder_async import ConflictError, QoderClient, RunTimeoutError

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager


async def main() -> None:
    """Run the newest active deployment once and report how the run ended."""
    async with connect() as client:
        newest = await client.deployments.list(status="active", limit=1)
        if not newest.data:
            print("no active deployment")
            return
        deployment = newest.data[0]
        try:
            run = await client.deployments.run(
                deployment.id, wait=True, timeout=60, poll_interval=0.2
            )
        except ConflictError as exc:
            print(f"{deployment.name} cannot run now: {exc}")
            return
        except RunTimeoutError as exc:
            print(f"still running after 60 s: {exc.run}")
            return
        print(f"{deployment.name}: run {run.id} ended {run.status}", end="")
        print(f" ({run.error.type})" if run.error else f" in {run.duration_ms} ms")


def connect() -> AbstractAsyncContextManager[QoderClient]:
    """A client for the API the environment names, or for a seeded fake one if $QODER_FAKE=1."""
    if os.environ.get("QODER_FAKE", "") in ("", "0"):
        return QoderClient()
    # The fake is a testing aid: imported only when asked for. Its clock starts now, so
    # the latest runs are recent.
    from qoder_async.testing import fake_client

    return fake_client(runs_per_deployment=100)


if __name__ == "__main__":
    anyio.run(main, backend="trio")
