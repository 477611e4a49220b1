"""Report the runs that failed in the last 24 hours across all active deployments.

Lists the active deployments lazily and, while that listing is still paging, lists the
runs of each one (8 at a time), merged newest first. Reads $QODER_PAT and, optionally,
$QODER_BASE_URL.

    uv run python examples/failed_runs_report.py
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import anyio

from qoder_async import QoderClient, RunStatus


async def main() -> None:
    """Print the failed runs of the last day, newest first, and a tally by error type."""
    since = datetime.now(timezone.utc) - timedelta(hours=24)
    by_error: Counter[str] = Counter()
    async with QoderClient() as client:
        failed = client.deployments.list_runs_across(
            client.deployments.list(status="active"),
            status=RunStatus.FAILED,
            triggered_after=since,
            order="newest_first",
            concurrency=8,
        )
        async with failed:
            async for run in failed:
                error = run.error.type if run.error else "unknown"
                by_error[error] += 1
                when = run.triggered_at or run.created_at
                print(f"{when:%H:%M:%S}  {run.deployment_id}  {run.id}  {error}")
        for deployment_id, problem in failed.skipped:
            print(f"skipped {deployment_id}: {problem}")
    print(f"{sum(by_error.values())} failed runs:", dict(by_error.most_common()))


if __name__ == "__main__":
    anyio.run(main)
