"""Soak: long listings over loopback HTTP while the server misbehaves (issue 8).

Two scenarios, each on asyncio and trio, against `FakeQoderAPI.serve()` on 127.0.0.1:

- pager: `runs` runs of one deployment (default 20,000) listed in pages of 100 while 20% of
  requests are answered 503 or 429 (half with `Retry-After`, half with `retry-after-ms`, all
  0-50 ms, half of them with no body) and 5% of connections are reset. The client retries up
  to 8 times (resets back off 0.5 s doubling, as no hint comes with them). Every run must
  arrive exactly once, in the server's order.
- fan-out: `deployments` deployments (default 2000) of 25 runs each, fed by
  `client.deployments.list(include_archived=True, limit=100)` to `list_runs_across` at
  default settings (concurrency 16, 2 retries, the server's page size), while 10% of all
  requests are answered 503 with a `Retry-After` of 0-50 ms. Every run must arrive, at once
  or after one resume in a fresh client (the state through JSON), and none twice.

Each reports faults injected, requests sent and retried (`X-Qoder-Retry-Count`), runs
delivered against expected, and leaks: tasks and file descriptors left once the client and
the server are closed, and requests still in flight. Run `python -m tests.soak --help`, or
`nox -s soak`; tests/test_soak.py runs a reduced version in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from functools import partial
from typing import TYPE_CHECKING

import anyio
import attrs
import sniffio

from qoder_async import FanOutError, QoderClient
from qoder_async.testing import FakeQoderAPI, Fault, RandomFaults
from tests.helpers import task_count

if TYPE_CHECKING:
    from collections.abc import Sequence

    from qoder_async import DeploymentRun

__all__ = ["SoakResult", "soak_fan_out", "soak_pager"]

PAT = "pt-soak"
BACKENDS = ("asyncio", "trio")

# 20% 503/429 (half Retry-After, half retry-after-ms, 0-50 ms; half with no body), 5% resets.
PAGER_FAULTS = RandomFaults(
    rate=0.25,
    faults=[
        Fault(status=503, retry_after=0),
        Fault(status=429, retry_after=0.01, body="empty"),
        Fault(status=503, retry_after=0.05, body="empty"),
        Fault(status=429, retry_after=0.02),
        Fault(status=503, retry_after_ms=0, body="empty"),
        Fault(status=429, retry_after_ms=20),
        Fault(status=503, retry_after_ms=50),
        Fault(status=429, retry_after_ms=10, body="empty"),
        Fault(reset=True),
    ],
    weights=[2.5] * 8 + [5],
)
# 10% 503s, as a gateway in trouble sends them, with short Retry-After values.
FAN_OUT_FAULTS = RandomFaults(
    rate=0.10,
    faults=[
        Fault(status=503, retry_after=0, body="empty"),
        Fault(status=503, retry_after=0.01),
        Fault(status=503, retry_after=0.02, body="empty"),
        Fault(status=503, retry_after=0.05),
    ],
)


@attrs.define
class SoakResult:
    """What one soak run saw: faults, retries, delivery and leaks."""

    name: str
    backend: str
    expected: int
    delivered: int = 0
    duplicates: int = 0
    missing: int = 0
    in_order: bool = True
    resumes: int = 0
    requests: int = 0
    retried: int = 0
    injected: Counter[str] = attrs.field(factory=Counter)
    tasks_left: int = 0
    fds_left: int | None = None
    in_flight_left: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether delivery was exact and nothing leaked."""
        return (
            self.delivered == self.expected
            and self.duplicates == 0
            and self.missing == 0
            and self.in_order
            and self.resumes <= 1
            and self.tasks_left == 0
            and not self.fds_left
            and self.in_flight_left == 0
        )

    def row(self) -> list[str]:
        """The result as a table row (see HEADER)."""
        faults = ", ".join(f"{label}: {count}" for label, count in sorted(self.injected.items()))
        return [
            self.name,
            self.backend,
            f"{sum(self.injected.values())} ({faults})",
            str(self.requests),
            str(self.retried),
            f"{self.delivered}/{self.expected}",
            str(self.duplicates),
            "yes" if self.in_order else "no",
            str(self.resumes),
            f"{self.tasks_left} tasks, {self.fds_left} fds, {self.in_flight_left} in flight",
            f"{self.seconds:.1f}",
            "ok" if self.ok else "FAILED",
        ]


HEADER = [
    "scenario",
    "backend",
    "faults injected",
    "requests",
    "retried",
    "delivered/expected",
    "dup",
    "in order",
    "resumes",
    "leaks",
    "s",
    "",
]


def _open_fds() -> int | None:
    """The number of open file descriptors of this process, where /proc tells it."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def _fresh(faults: RandomFaults, seed: int) -> RandomFaults:
    """A copy with its own seeded draws and counters, so that each run starts alike."""
    return RandomFaults(rate=faults.rate, faults=faults.faults, weights=faults.weights, seed=seed)


def _tally(result: SoakResult, api: FakeQoderAPI, faults: RandomFaults) -> None:
    result.requests = len(api.requests)
    result.retried = sum("x-qoder-retry-count" in r.headers for r in api.requests)
    result.injected = Counter(faults.injected)


async def soak_pager(runs: int = 20_000, *, seed: int = 1) -> SoakResult:
    """List `runs` runs in pages of 100 through 20% 503/429 and 5% resets; exact, in order."""
    api = FakeQoderAPI(pat=PAT, seed=seed)
    api.seed(deployments=1, runs_per_deployment=runs)
    [deployment_id] = api.deployments
    result = SoakResult("pager", _backend(), expected=runs)
    fds, tasks = _open_fds(), task_count()
    started = time.perf_counter()
    async with api.serve() as base_url:
        async with QoderClient(pat=PAT, base_url=base_url, max_retries=8) as client:
            truth = [
                run.id async for run in client.deployments.list_runs(deployment_id, limit=1000)
            ]
            api.reset_stats()
            api.random_faults = faults = _fresh(PAGER_FAULTS, seed)
            got = [run.id async for run in client.deployments.list_runs(deployment_id, limit=100)]
            api.random_faults = None
        result.in_flight_left = api.in_flight
        _tally(result, api, faults)
    result.seconds = time.perf_counter() - started
    _compare(result, truth, got)
    result.in_order = got == truth
    _leaks(result, fds, tasks)
    return result


async def soak_fan_out(
    deployments: int = 2000, runs_per_deployment: int = 25, *, seed: int = 1
) -> SoakResult:
    """Fan out over `deployments` through 10% 503s at default settings; one resume at most."""
    api = FakeQoderAPI(pat=PAT, seed=seed)
    api.seed(deployments=deployments, runs_per_deployment=runs_per_deployment)
    truth = list(api.runs)
    result = SoakResult("fan-out", _backend(), expected=len(truth))
    fds, tasks = _open_fds(), task_count()
    started = time.perf_counter()
    got: list[DeploymentRun] = []
    api.random_faults = faults = _fresh(FAN_OUT_FAULTS, seed)
    async with api.serve() as base_url:
        state: object = None
        while True:
            async with QoderClient(pat=PAT, base_url=base_url) as client:
                source = client.deployments.list(include_archived=True, limit=100)
                fan = client.deployments.list_runs_across(
                    source,
                    resume=None if state is None else json.loads(json.dumps(state)),
                )
                try:
                    async for run in fan:
                        got.append(run)  # noqa: PERF401 - keeps the runs before an error
                    break
                except FanOutError as exc:
                    state = exc.resume_state
                    result.resumes += 1
                    if result.resumes > 3:
                        break
        api.random_faults = None
        result.in_flight_left = api.in_flight
        _tally(result, api, faults)
    result.seconds = time.perf_counter() - started
    _compare(result, truth, [run.id for run in got])
    _leaks(result, fds, tasks)
    return result


def _compare(result: SoakResult, truth: Sequence[str], got: Sequence[str]) -> None:
    counts = Counter(got)
    result.delivered = len(got)
    result.duplicates = sum(count - 1 for count in counts.values() if count > 1)
    result.missing = len(set(truth) - set(counts))


def _leaks(result: SoakResult, fds: int | None, tasks: int) -> None:
    result.tasks_left = task_count() - tasks
    now = _open_fds()
    result.fds_left = None if fds is None or now is None else now - fds


def _backend() -> str:
    return sniffio.current_async_library()


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table with a header rule."""
    table = [HEADER, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in table
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run both scenarios on the chosen backends, print the table; 1 if any failed."""
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--runs", type=int, default=20_000, help="runs for the pager soak")
    parser.add_argument("--deployments", type=int, default=2000, help="fan-out deployments")
    parser.add_argument("--backend", choices=(*BACKENDS, "both"), default="both")
    parser.add_argument("--seed", type=int, default=1, help="seed of the data and the faults")
    args = parser.parse_args(argv)
    backends = BACKENDS if args.backend == "both" else (args.backend,)
    results: list[SoakResult] = []
    for backend in backends:
        results.append(anyio.run(partial(soak_pager, args.runs, seed=args.seed), backend=backend))
        results.append(
            anyio.run(partial(soak_fan_out, args.deployments, seed=args.seed), backend=backend)
        )
    sys.stdout.write(format_table([result.row() for result in results]) + "\n")
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
