"""Helpers shared by the tests: clients wired to the fake API, task counting."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import httpx

from qoder_async import QoderClient
from qoder_async.testing import Fault

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from qoder_async.testing import FakeQoderAPI

BASE_URL = "https://api.qoder.com/api/v1/cloud"
START = datetime(2026, 6, 1, tzinfo=timezone.utc)
# The fake's clock in tests: the date of the spec's examples, so seeded data is reproducible.
NOW = datetime(2026, 6, 14, 9, 0, tzinfo=timezone.utc)


@asynccontextmanager
async def connect(
    api: FakeQoderAPI, *, enter: bool = True, **options: object
) -> AsyncIterator[QoderClient]:
    """A QoderClient talking to `api` in-process; `enter=False` skips `async with client`."""
    async with httpx.AsyncClient(transport=api.transport()) as http:
        client = QoderClient(pat=api.pat, base_url=BASE_URL, http_client=http, **options)  # type: ignore[arg-type]
        if enter:
            async with client:
                yield client
        else:
            try:
                yield client
            finally:
                await client.aclose()


def deployment_with_runs(api: FakeQoderAPI, count: int) -> tuple[str, list[str]]:
    """Add a deployment with `count` runs; return its id and the run ids newest first."""
    deployment = api.add_deployment()
    for i in range(count):
        api.add_run(deployment["id"], triggered_at=START + timedelta(minutes=i))
    runs = sorted(
        (run for run in api.runs.values() if run["deployment_id"] == deployment["id"]),
        key=lambda run: (run["triggered_at"], run["id"]),
        reverse=True,
    )
    return deployment["id"], [run["id"] for run in runs]


def hang_after(api: FakeQoderAPI, answered: int) -> None:
    """Let the next `answered` requests through, then make every later one hang until cancelled.

    Armed up front because a prefetch request leaves before the page ahead of it is handed
    out: setting `api.latency` from the loop body would come too late.
    """
    if answered:
        api.faults.append(Fault(delay=0, times=answered))
    api.faults.append(Fault(delay=3600, times=1_000_000))


def task_count() -> int:
    """How many tasks exist in this event loop (asyncio or trio)."""
    try:
        return len(asyncio.all_tasks())
    except RuntimeError:  # no running asyncio loop: we are under trio
        pass
    import trio

    def count(task: trio.lowlevel.Task) -> int:
        return 1 + sum(
            count(child) for nursery in task.child_nurseries for child in nursery.child_tasks
        )

    return count(trio.lowlevel.current_root_task())  # type: ignore[arg-type]
