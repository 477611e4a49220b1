"""`qoder-async runs watch`: print new runs as they appear, each once, until Ctrl-C.

How it stays cheap. Lists run newest first, and `before_id=<id>` pages toward newer runs
(spec 2.3), so each poll asks only for the runs newer than a cursor: one GET per interval
while nothing happens, one more per 100 new runs. The cursor starts at the newest run that
exists when the watch begins (runs already there are not new) and then moves to the newest
run seen. At the 5 s default that is 0.2 GET/s, far inside the client budget of spec 7.7
(50 GET/s, at least 100 ms between paging requests, which is the shortest interval taken).

Why the cursor may trail. `--status` is applied here, not by the server: a run enters the
API's `status=failed` list only when it fails, and by then newer runs may have moved the
cursor past it, so a server-side filter would miss it. Instead, while a run seen earlier
is unfinished and could still come to match, the cursor stays just before it and the
following polls list it again (at most `MAX_WINDOW` runs back); printed ids are remembered
for that window, so no run is printed twice. The other filters (deployment, trigger type,
has_error) do not change during a run's life and go to the server.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

import anyio

from qoder_async._cli_views import RUN_VIEW

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from qoder_async._cli_output import Output
    from qoder_async._client import QoderClient
    from qoder_async._models import DeploymentRun
    from qoder_async._pagination import Pager

__all__ = ["MIN_INTERVAL", "watch"]

MIN_INTERVAL = 0.1
PAGE_SIZE = 100
# How many runs back a poll may re-list while an unfinished run could still match.
MAX_WINDOW = 1000


class _Window:
    """The cursor and what is remembered about the runs after it."""

    def __init__(self, anchor: str | None, *, status: str | None, deployments: frozenset[str]):
        self.anchor = anchor
        self.printed: set[str] = set()
        self._status = status
        self._deployments = deployments

    def matches(self, run: DeploymentRun) -> bool:
        """Whether `run` passes the filters applied here (status, several deployments)."""
        if self._deployments and run.deployment_id not in self._deployments:
            return False
        return self._status is None or run.status == self._status

    def may_match_later(self, run: DeploymentRun) -> bool:
        """Whether `run` does not match yet but could once it has finished."""
        if self._deployments and run.deployment_id not in self._deployments:
            return False
        return self._status is not None and not run.is_terminal

    def advance(self, seen: list[DeploymentRun]) -> None:
        """Move the cursor after a poll that listed `seen` (oldest first)."""
        if not seen:
            return
        start = max(len(seen) - MAX_WINDOW, 0)
        waiting = next(
            (
                i
                for i in range(start, len(seen))
                if seen[i].id not in self.printed and self.may_match_later(seen[i])
            ),
            None,
        )
        if waiting is None:
            self.anchor = seen[-1].id
            kept: list[DeploymentRun] = []
        elif waiting > 0:
            self.anchor = seen[waiting - 1].id
            kept = seen[waiting:]
        else:
            kept = seen  # the cursor stays where it was
        self.printed &= {run.id for run in kept}


async def watch(
    client: QoderClient,
    out: Output,
    args: argparse.Namespace,
    *,
    ready: anyio.Event | None = None,
) -> None:
    """Poll every `args.interval` seconds and print each new matching run once.

    `ready` is set once the starting point is taken: runs triggered after it are new.
    """
    if args.interval < MIN_INTERVAL:
        msg = f"--interval must be at least {MIN_INTERVAL * 1000:.0f}ms (spec 7.7)"
        raise ValueError(msg)
    deployments = list(dict.fromkeys(args.deployment))
    for deployment_id in deployments:
        # The global listing answers an unknown deployment with no runs (spec 3.11): a
        # typo would watch nothing, forever. A 404 now is the better answer.
        await client.deployments.get(deployment_id)
    server_deployment = deployments[0] if len(deployments) == 1 else None

    def listing(*, limit: int, before_id: str | None = None) -> Pager[DeploymentRun]:
        return client.deployment_runs.list(
            deployment_id=server_deployment,
            trigger_type=args.trigger_type,
            has_error=args.has_error,
            limit=limit,
            before_id=before_id,
        )

    newest = await listing(limit=1)
    window = _Window(
        newest.data[0].id if newest.data else None,
        status=args.status,
        deployments=frozenset(deployments) if len(deployments) > 1 else frozenset(),
    )
    out.progress.show(f"watching for new runs every {args.interval:g}s; Ctrl-C to stop", force=True)
    if ready is not None:
        ready.set()
    while True:
        await anyio.sleep(args.interval)
        seen = await _poll(listing, window.anchor)
        for run in seen:
            if run.id not in window.printed and window.matches(run):
                window.printed.add(run.id)
                out.item(run, RUN_VIEW)
                out.end_page()
        window.advance(seen)
        at = datetime.now(timezone.utc)
        out.progress.show(
            f"watching: last poll {at:%H:%M:%S} UTC, every {args.interval:g}s; Ctrl-C to stop",
            force=True,
        )


async def _poll(
    listing: Callable[..., Pager[DeploymentRun]], anchor: str | None
) -> list[DeploymentRun]:
    """The runs after `anchor`, oldest first (every run there is, if there is no anchor)."""
    if anchor is None:
        # Nothing existed when the watch began: every run is new. Forward lists come
        # newest first, hence the reversal.
        async with listing(limit=PAGE_SIZE) as pager:
            runs = [run async for run in pager]
        return runs[::-1]
    async with listing(before_id=anchor, limit=PAGE_SIZE) as pager:
        # A backward pager hands out the runs nearest the cursor first: oldest first.
        return [run async for run in pager]
