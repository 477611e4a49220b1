"""The client a CLI command talks through: the real API, or the embedded fake (`--fake`)."""

from __future__ import annotations

import random
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Literal

import anyio

from qoder_async._client import QoderClient
from qoder_async._taskgroup import HelperTaskGroup

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from qoder_async.testing import FakeQoderAPI

__all__ = ["FAKE_DEPLOYMENTS", "FAKE_RUNS_PER_DEPLOYMENT", "open_client"]

# Enough data for paging and a fan-out to show, little enough to seed in a blink.
FAKE_DEPLOYMENTS = 24
FAKE_RUNS_PER_DEPLOYMENT = 50
FAKE_SEED = 7


@asynccontextmanager
async def open_client(
    *, pat: str | None, base_url: str | None, fake: bool, lively: bool = False
) -> AsyncIterator[QoderClient]:
    """A client for `pat`/`base_url` (else $QODER_PAT/$QODER_BASE_URL), or for a fresh fake.

    The fake is in-process (no sockets), seeded with sample data whose clock is the
    current time. With `lively`, new runs keep appearing in it while the block runs, as
    they would on a real account (for `runs watch`). Raises ValueError without a PAT.
    """
    if not fake:
        async with QoderClient(pat=pat, base_url=base_url) as client:
            yield client
        return
    # The fake is a testing aid: imported only when asked for.
    from qoder_async.testing import FakeQoderAPI, fake_client

    api = FakeQoderAPI(seed=FAKE_SEED)
    api.seed(deployments=FAKE_DEPLOYMENTS, runs_per_deployment=FAKE_RUNS_PER_DEPLOYMENT)
    async with fake_client(api) as client, HelperTaskGroup() as activity:
        # A helper group: the command's own error leaves it as itself, never wrapped in
        # an ExceptionGroup, and leaving the block cancels the simulation.
        if lively:
            activity.start_soon(_simulate_activity, api)
        yield client


async def _simulate_activity(api: FakeQoderAPI) -> None:
    """Add a run to a random active deployment every second or two; some fail, some run on."""
    rng = random.Random()  # noqa: S311 - sample activity, not a secret
    running: list[str] = []
    while True:
        await anyio.sleep(rng.uniform(0.8, 2.0))
        for run_id in running:
            api.complete_run(run_id, "failed" if rng.random() < 0.3 else "completed")
        running.clear()
        active = [
            dep_id
            for dep_id, dep in api.deployments.items()
            if dep["status"] == "active" and dep["archived_at"] is None
        ]
        if not active:
            continue
        status: Literal["completed", "failed", "running"] = rng.choice(
            ("completed", "completed", "failed", "running")
        )
        run = api.add_run(rng.choice(active), status=status)
        if status == "running":
            running.append(run["id"])
