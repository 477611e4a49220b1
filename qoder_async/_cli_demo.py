"""`qoder-async demo`: a tour of the SDK and the CLI against the embedded fake API."""

from __future__ import annotations

import argparse
import io
import sys
import time
from datetime import datetime, timedelta, timezone
from functools import partial

import anyio

from qoder_async._cli_output import Output
from qoder_async._cli_watch import watch
from qoder_async._client import QoderClient
from qoder_async._errors import ConflictError, NotFoundError
from qoder_async._events import UserMessage
from qoder_async._models import RunStatus, Schedule

__all__ = ["demo"]


async def demo(latency: float) -> None:
    """Serve a seeded fake over loopback HTTP and walk through the SDK's features."""
    # Imported here: the fake is a testing aid and stays out of the SDK's import path.
    from qoder_async.testing import FakeQoderAPI

    api = FakeQoderAPI(seed=7, now=datetime.now(timezone.utc))
    api.seed(deployments=12, runs_per_deployment=60)
    async with api.serve() as base_url, QoderClient(pat=api.pat, base_url=base_url) as client:
        _say(f"Fake Qoder API listening at {base_url}; {client!r}")

        _say("\n1. Active deployments, newest first (one `async for`, pages fetched ahead):")
        async for deployment in client.deployments.list(status="active", limit=5):
            schedule = deployment.schedule.expression if deployment.schedule else "manual"
            _say(f"   {deployment.id}  {deployment.name:<32} {schedule}")

        _say("\n2. Failed runs across all deployments, at most 5:")
        async for run in client.deployment_runs.list(status=RunStatus.FAILED, max_items=5):
            error = run.error.type if run.error else "-"
            _say(f"   {run.id}  {run.deployment_id}  {error}")

        _say("\n3. Create, pause, run and archive a deployment:")
        agent = next(iter(api.deployments.values()))["agent"]["id"]
        environment = next(iter(api.deployments.values()))["environment_id"]
        created = await client.deployments.create(
            name="demo-nightly-report",
            agent=agent,
            environment_id=environment,
            initial_events=[UserMessage(content="Write the report")],
            schedule=Schedule(expression="0 9 * * *", timezone="UTC"),
            metadata={"team": "docs"},
        )
        upcoming = created.schedule.upcoming_runs_at if created.schedule else ()
        next_run = f"{upcoming[0]:%Y-%m-%d %H:%M %Z}" if upcoming else "never"
        _say(f"   created {created.id} ({created.status}, first run {next_run})")
        paused = await client.deployments.pause(created.id)
        _say(f"   paused: status={paused.status}, reason={paused.paused_reason}")
        try:
            await client.deployments.pause(created.id)
        except ConflictError as exc:
            _say(f"   pausing again raises {type(exc).__name__}: {exc}")
        await client.deployments.unpause(created.id)
        manual = await client.deployments.update(created.id, schedule=None, description=None)
        _say(f"   update(schedule=None) made it manual-only: schedule={manual.schedule}")
        run = await client.deployments.run(created.id, wait=True, poll_interval=0.05)
        _say(f"   ran {run.id}: {run.status} in {run.duration_ms} ms")
        archived = await client.deployments.archive(created.id)
        _say(f"   archived as {archived.name!r} at {archived.archived_at}")
        try:
            await client.deployments.get("dep_" + "0" * 32)
        except NotFoundError as exc:
            _say(f"   a missing deployment raises {type(exc).__name__}: {exc}")

        _say("\n4. Runs of every active deployment in the last 30 days, newest first:")
        since = datetime.now(timezone.utc) - timedelta(days=30)
        shown = 0
        async with client.deployments.list_runs_across(
            client.deployments.list(status="active"),
            order="newest_first",
            triggered_after=since,
            concurrency=8,
        ) as runs:
            async for run in runs:
                when = run.sort_time
                _say(f"   {when:%Y-%m-%d %H:%M}  {run.deployment_id}  {run.status}")
                shown += 1
                if shown == 5:
                    break

        deployment_id = next(d["id"] for d in api.deployments.values() if d["archived_at"] is None)
        _say(f"\n5. Prefetch: listing 60 runs in pages of 6 with {latency * 1000:.0f} ms latency")
        _say("   and a consumer that spends as long on each page as the server does:")
        api.latency = latency
        for prefetch in (0, 1):
            started = time.perf_counter()
            async with client.deployments.list_runs(
                deployment_id, limit=6, prefetch=prefetch
            ) as pager:
                async for _page in pager.pages():
                    await anyio.sleep(latency)
            elapsed = time.perf_counter() - started
            _say(f"   prefetch={prefetch}: {elapsed * 1000:6.0f} ms")

        _say("\n6. `qoder-async runs watch --json`: a run triggered while it watches is printed")
        _say("   once, as a JSON line in the API's wire shape (made for jq):")
        api.latency = 0.0
        active = next(
            d["id"]
            for d in api.deployments.values()
            if d["status"] == "active" and d["archived_at"] is None
        )
        line = await _watch_one_run(client, active)
        _say(f"   {line[:100]}...")
        _say("\nDone. See README.md for the API and the CLI (try `qoder-async --fake runs list`),")
        _say("and qoder_async.testing for the fake.")


async def _watch_one_run(client: QoderClient, deployment_id: str) -> str:
    """Run `runs watch --json` on a deployment, trigger a run, and return the line printed."""
    printed = anyio.Event()
    stdout = _LineSignal(printed)
    out = Output(json_lines=True, stdout=stdout, stderr=io.StringIO())
    args = argparse.Namespace(
        deployment=[deployment_id], status=None, trigger_type=None, has_error=None, interval=0.1
    )
    ready = anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(partial(watch, client, out, args, ready=ready))
        await ready.wait()
        await client.deployments.run(deployment_id)
        await printed.wait()
        group.cancel_scope.cancel()
    return stdout.getvalue().splitlines()[0]


class _LineSignal(io.StringIO):
    """A text buffer that sets an event once a whole line has been written to it."""

    def __init__(self, event: anyio.Event) -> None:
        super().__init__()
        self._event = event

    def write(self, text: str, /) -> int:
        written = super().write(text)
        if "\n" in text:
            self._event.set()
        return written


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
