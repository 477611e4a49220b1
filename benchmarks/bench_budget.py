"""The client budget at work: a fan-out against a server that enforces 50 GET/s.

Setup: `tests/hostile.py`'s BudgetServer runs in its own process on 127.0.0.1. It serves
the runs of any deployment (newest first, `after_id` cursors) and allows at most B
requests (B = 50 by default, the documented budget, spec 2.2/7.7) in any sliding one-second
window; every request over that gets a bodyless 429, as the gateway's burst suppression
would answer. The workload lists D deployments x R runs with `limit=L` (default 60 x 50 with
limit 10: 300 page requests) through `client.deployments.list_runs_across(...,
concurrency=K)` (K = 16), with the default retry policy. Rows:
- budget: `QoderClient(rate_limit=RateLimit(reads_per_second=B))`, paced, adaptive, with
  100 ms between the pages of each deployment.
- none: the same with `rate_limit=None`, the contrast: what an unbudgeted fan-out draws.

Measured per row, over the fan-out only: wall time; requests the server saw and how many it
refused (429s); served GET/s = served requests / wall time, and its ratio to B; the most
requests the server saw in any one second; runs delivered against runs expected (a row
whose retries run out is reported as failed, with what it delivered). Rows alternate and
are repeated `--repeats` times (default 3), 1.1 s apart so that the server's window starts
empty; the median row (by wall time) is shown.
Targets: budget row >= 0.9 x B served GET/s, no 429, never more than B in a second.

Run: `uv run --frozen python benchmarks/bench_budget.py [--quick] [--json PATH]`
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from _harness import PAT, format_table, run_and_report

from qoder_async import QoderClient, QoderError, RateLimit

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

ROOT = Path(__file__).resolve().parent.parent
ROWS = ("budget", "none")
RATIO_TARGET = 0.9


class BudgetServerProcess:
    """The BudgetServer subprocess: its base URL, and its counters on request."""

    def __init__(self, process: subprocess.Popen[str], base_url: str) -> None:
        self.process = process
        self.base_url = base_url

    def _ask(self, line: str) -> None:
        assert self.process.stdin is not None  # noqa: S101 - created with stdin=PIPE
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def reset(self) -> None:
        """Forget what the server counted so far."""
        self._ask("reset")

    def stats(self) -> dict[str, int]:
        """Requests seen, refused (429) and the busiest second, since the last reset."""
        self._ask("stats")
        assert self.process.stdout is not None  # noqa: S101 - created with stdout=PIPE
        stats: dict[str, int] = json.loads(self.process.stdout.readline())
        return stats


@contextmanager
def budget_server(per_second: int, runs: int) -> Iterator[BudgetServerProcess]:
    """Run `python -m tests.hostile` on a free loopback port; stops it on exit."""
    command = [
        sys.executable,
        "-m",
        "tests.hostile",
        "--reads-per-second",
        str(per_second),
        "--runs",
        str(runs),
    ]
    # Our own interpreter and module, no shell: nothing untrusted reaches the command.
    process = subprocess.Popen(  # noqa: S603
        command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None  # noqa: S101 - created with stdout=PIPE
        url = process.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            msg = f"the budget server did not start (said {url!r})"
            raise RuntimeError(msg)
        yield BudgetServerProcess(process, url)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


async def fan_out(base_url: str, row: str, args: argparse.Namespace) -> dict[str, Any]:
    """One row: list every deployment's runs; returns wall time, runs and the outcome."""
    rate_limit = RateLimit(reads_per_second=args.budget) if row == "budget" else None
    deployments = [f"dep_{i:032x}" for i in range(args.deployments)]
    delivered = 0
    distinct: set[tuple[str, str]] = set()
    outcome = "ok"
    async with QoderClient(pat=PAT, base_url=base_url, rate_limit=rate_limit) as client:
        started = time.perf_counter()
        try:
            async with client.deployments.list_runs_across(
                deployments, concurrency=args.concurrency, limit=args.limit
            ) as runs:
                async for run in runs:
                    delivered += 1
                    distinct.add((run.deployment_id, run.id))
        except QoderError as exc:
            outcome = f"failed: {type(exc).__name__}"
        wall = time.perf_counter() - started
    expected = args.deployments * args.runs
    if outcome == "ok" and (delivered != expected or len(distinct) != expected):
        msg = f"{row}: delivered {delivered} runs ({len(distinct)} distinct), expected {expected}"
        raise RuntimeError(msg)
    return {"wall_seconds": wall, "runs": delivered, "expected_runs": expected, "outcome": outcome}


def bench(args: argparse.Namespace) -> dict[str, Any]:
    """Run every row `repeats` times, alternating; keep each row's median by wall time."""
    samples: dict[str, list[dict[str, Any]]] = {row: [] for row in ROWS}
    with budget_server(args.budget, args.runs) as server:
        for _ in range(args.repeats):
            for row in ROWS:
                # Let the server's window forget the previous row before this one starts.
                time.sleep(1.1)
                server.reset()
                result = anyio.run(fan_out, server.base_url, row, args)
                stats = server.stats()
                served = stats["requests"] - stats["refused"]
                result.update(stats)
                result["served_per_second"] = served / result["wall_seconds"]
                result["ratio_to_budget"] = result["served_per_second"] / args.budget
                samples[row].append(result)
                print(
                    f"  {row}: {result['wall_seconds']:.2f} s, {stats['requests']} requests,"
                    f" {stats['refused']} refused, {result['outcome']}",
                    file=sys.stderr,
                )
    rows = {row: _median(samples[row]) for row in ROWS}
    return {
        "benchmark": "budget",
        "config": {
            "budget": args.budget,
            "deployments": args.deployments,
            "runs_per_deployment": args.runs,
            "limit": args.limit,
            "concurrency": args.concurrency,
            "repeats": args.repeats,
            "cpus": os.cpu_count(),
        },
        "rows": rows,
        "samples": samples,
    }


def _median(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(samples, key=lambda sample: sample["wall_seconds"])
    return ordered[(len(ordered) - 1) // 2]


def report(data: dict[str, Any]) -> None:
    """Print the table and the targets."""
    config = data["config"]
    pages = -(-config["runs_per_deployment"] // config["limit"])
    print(
        f"\nBudget: fan-out over {config['deployments']} deployments x"
        f" {config['runs_per_deployment']} runs (limit {config['limit']}, {pages} pages each,"
        f" concurrency {config['concurrency']}) against a loopback server allowing"
        f" {config['budget']} GET/s over any sliding second (429 beyond);"
        f" median of {config['repeats']} on {config['cpus']} CPUs"
    )
    headers = [
        "row",
        "wall s",
        "requests",
        "429s",
        "served GET/s",
        "vs budget",
        "busiest 1 s",
        "runs",
        "outcome",
    ]
    table = []
    for row in ROWS:
        r = data["rows"][row]
        table.append(
            [
                "rate_limit=RateLimit(...)" if row == "budget" else "rate_limit=None",
                f"{r['wall_seconds']:.2f}",
                str(r["requests"]),
                str(r["refused"]),
                f"{r['served_per_second']:.1f}",
                f"{r['ratio_to_budget']:.2f}x",
                str(r["busiest_second"]),
                f"{r['runs']}/{r['expected_runs']}",
                r["outcome"],
            ]
        )
    print(format_table(headers, table))
    budget = data["rows"]["budget"]
    met = (
        budget["ratio_to_budget"] >= RATIO_TARGET
        and budget["refused"] == 0
        and budget["busiest_second"] <= config["budget"]
    )
    print(
        f"\nTarget, budget row >= {RATIO_TARGET}x the budget with no 429 and never more than"
        f" {config['budget']} requests in a second: {'met' if met else 'NOT met'}"
        f" ({budget['ratio_to_budget']:.2f}x, {budget['refused']} 429s,"
        f" busiest second {budget['busiest_second']})"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description="Measure the client budget against a server.")
    parser.add_argument("--quick", action="store_true", help="20 deployments, 1 repeat")
    parser.add_argument("--json", metavar="PATH", help="also write the raw numbers to PATH")
    parser.add_argument("--budget", type=int, default=50, help="GET/s allowed (default 50)")
    parser.add_argument("--deployments", type=int, help="deployments (default 60, quick 20)")
    parser.add_argument("--runs", type=int, default=50, help="runs per deployment (default 50)")
    parser.add_argument("--limit", type=int, default=10, help="runs per page (default 10)")
    parser.add_argument("--concurrency", type=int, default=16, help="fan-out concurrency")
    parser.add_argument("--repeats", type=int, help="runs of each row (default 3, quick 1)")
    args = parser.parse_args(argv)
    args.deployments = args.deployments or (20 if args.quick else 60)
    args.repeats = args.repeats or (1 if args.quick else 3)
    if min(args.budget, args.deployments, args.runs, args.limit, args.concurrency) < 1:
        parser.error("counts must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the results."""
    args = parse_args(argv)
    run_and_report(lambda: bench(args), report, args.json)


if __name__ == "__main__":
    main()
