"""A plain asyncio program: every active deployment next to its latest run.

Nothing here but `asyncio.run` and `asyncio.gather`: the SDK needs no anyio in your code.
The latest runs are fetched concurrently, one request per deployment, while the listing of
deployments pages on in the background. Reads $QODER_PAT and, optionally,
$QODER_BASE_URL. With QODER_FAKE=1 it talks to an in-process fake API
(`qoder_async.testing`) seeded with sample data instead: no account, no network.

    uv run python examples/asyncio_app.py
    QODER_FAKE=1 uv run python examples/asyncio_app.py
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

from qoder_async import Deployment, DeploymentRun, QoderClient

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager


async def latest_run(client: QoderClient, deployment: Deployment) -> DeploymentRun | None:
    """The most recent run of `deployment`, or None if it never ran."""
    page = await client.deployments.list_runs(deployment.id, limit=1)
    return page.data[0] if page.data else None


async def main() -> None:
    """Print each active deployment (at most 20) with the status of its latest run."""
    async with connect() as client:
        deployments = [d async for d in client.deployments.list(status="active", max_items=20)]
        latest = await asyncio.gather(*(latest_run(client, d) for d in deployments))
        for deployment, run in zip(deployments, latest, strict=True):
            if run is None:
                print(f"{deployment.name:<40} never ran")
                continue
            status = run.status or ("failed" if run.error else "created")
            print(f"{deployment.name:<40} {status:<10} {run.sort_time:%Y-%m-%d %H:%M} UTC")


def connect() -> AbstractAsyncContextManager[QoderClient]:
    """A client for the API the environment names, or for a seeded fake one if $QODER_FAKE=1."""
    if os.environ.get("QODER_FAKE", "") in ("", "0"):
        return QoderClient()
    # The fake is a testing aid: imported only when asked for. Its clock starts now, so
    # the latest runs are recent.
    from qoder_async.testing import fake_client

    return fake_client(runs_per_deployment=10)


if __name__ == "__main__":
    asyncio.run(main())
