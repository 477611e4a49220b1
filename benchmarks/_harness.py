"""Shared pieces of the benchmarks: the fake server subprocess, counters and table output.

The server is `python -m qoder_async.testing` in its own process, bound to 127.0.0.1 on a
free port, so its CPU time never counts as the client's. `FakeServer` starts it, reads the
base URL it prints and terminates it on exit, whatever happened in between.
"""

from __future__ import annotations

import json
import os
import select
import signal
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

__all__ = [
    "PAT",
    "ConnectionCounter",
    "FakeServer",
    "current_rss_mib",
    "deployment_ids",
    "fake_server",
    "format_table",
    "median",
    "process_cpu_seconds",
    "run_and_report",
    "stop_cleanly_on_sigterm",
    "write_json",
]

# The fake's default accepted token; not a secret.
PAT = "pt-fake-token"
_STARTUP_TIMEOUT = 120.0
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class FakeServer:
    """A running fake API subprocess: its base URL and process id."""

    def __init__(self, process: subprocess.Popen[str], base_url: str) -> None:
        self.process = process
        self.base_url = base_url

    @property
    def pid(self) -> int:
        """The server's process id (for reading its CPU time)."""
        return self.process.pid

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the server has used so far; None where unreadable."""
        return process_cpu_seconds(self.pid)


@contextmanager
def fake_server(
    *, latency: float, deployments: int, runs_per_deployment: int, seed: int = 0
) -> Iterator[FakeServer]:
    """Run the fake API on a free loopback port; terminates (then kills) it on exit."""
    command = [
        sys.executable,
        "-m",
        "qoder_async.testing",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--latency",
        repr(latency),
        "--deployments",
        str(deployments),
        "--runs-per-deployment",
        str(runs_per_deployment),
        "--seed",
        str(seed),
        "--pat",
        PAT,
    ]
    # Our own interpreter and arguments, no shell: nothing untrusted reaches the command.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603
    try:
        base_url = _read_base_url(process)
        yield FakeServer(process, base_url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def stop_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so that `finally` blocks still stop the server."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def _read_base_url(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None  # noqa: S101 - created with stdout=PIPE
    # The server prints its URL once seeded and listening, or exits on failure.
    readable, _, _ = select.select([process.stdout], [], [], _STARTUP_TIMEOUT)
    line = process.stdout.readline().strip() if readable else ""
    if not line.startswith("http://127.0.0.1:"):
        msg = f"the fake server did not start (exit code {process.poll()}, said {line!r})"
        raise RuntimeError(msg)
    return line


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of another process, from /proc (Linux); None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            text = stat.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; the fields after it are fixed.
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _CLK_TCK


def current_rss_mib() -> float | None:
    """This process's resident set size now, from /proc (Linux); None elsewhere."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


async def deployment_ids(base_url: str) -> list[str]:
    """Every deployment id the server holds, archived ones included, in list order."""
    ids: list[str] = []
    # GET /deployments: at most 100 per page, the Go SDK's reading (spec 7.5).
    params = {"include_archived": "true", "limit": "100"}
    headers = {"Authorization": f"Bearer {PAT}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30.0) as http:
        while True:
            response = await http.get("/deployments", params=params)
            response.raise_for_status()
            body = response.json()
            ids.extend(item["id"] for item in body["data"])
            if not body["has_more"]:
                return ids
            params["after_id"] = body["last_id"]


class ConnectionCounter:
    """Counts responses and the distinct connections they came on, from an httpx event hook.

    A connection is told apart by the client's local port, read from the response's
    `network_stream` extension (httpcore), so it counts connections actually used, on the
    client side. The hook costs one small coroutine call per response, in every row alike.
    """

    def __init__(self) -> None:
        self.responses = 0
        self.ports: set[int] = set()

    def reset(self) -> None:
        """Forget what was counted so far."""
        self.responses = 0
        self.ports = set()

    async def hook(self, response: httpx.Response) -> None:
        """The httpx `response` event hook."""
        self.responses += 1
        stream = response.extensions.get("network_stream")
        if stream is not None:
            address = stream.get_extra_info("client_addr")
            if isinstance(address, tuple):
                self.ports.add(int(address[1]))

    def http_client(self, pool: int, *, timeout: float = 60.0) -> httpx.AsyncClient:
        """An httpx client with a pool of `pool` connections whose responses are counted."""
        return httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=10.0),
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
            event_hooks={"response": [self.hook]},
        )


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    return float(statistics.median(values))


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1) -> str:
    """A plain-text table: the first `left` columns left-aligned, the others right-aligned."""
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def write_json(path: str, data: object) -> None:
    """Write `data` as indented JSON to `path`."""
    with open(path, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=2, sort_keys=True)
        out.write("\n")


def run_and_report(
    run: Callable[[], dict[str, Any]],
    report: Callable[[dict[str, Any]], None],
    json_path: str | None,
) -> None:
    """Run a benchmark with a clean SIGTERM exit, print its report and total time, save it."""
    stop_cleanly_on_sigterm()
    started = time.perf_counter()
    data = run()
    data["wall_seconds"] = time.perf_counter() - started
    report(data)
    print(f"\n(total {data['wall_seconds']:.0f} s)")
    if json_path:
        write_json(json_path, data)
