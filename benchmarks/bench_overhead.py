"""What the client costs per request and per run, against bare httpx (+ json.loads) and qca-sdk.

Setup: the fake API runs in its own process on 127.0.0.1 (`python -m qoder_async.testing`),
once per server latency F in 0, 5 and 20 ms (an `await sleep(F)` before every answer, no CPU),
seeded with one deployment of `--runs` runs (default 10 000). The client budget is off in
every row: it is off by default for loopback hosts, and the script checks that it is.

Sections, each measured for three rows in the same process against the same server,
interleaved round by round, `--repeats` times (default 3), the median reported (each measurement
starts after `gc.collect()`, so that no row pays for the garbage of another):
- requests: `deployments.get(id)` and `deployments.list(limit=1)` (its first page, `await
  pager`), each `n` times by 1 and by 16 concurrent tasks (n = 400 at F = 0, 2 s / F
  otherwise; 4n at concurrency 16). Per request: client CPU (`time.process_time()`, the
  server is another process) and wall time.
- listings: every run of the deployment with `limit=100` (the first 5000 runs, 50 pages) and
  `limit=1000` (all 10 000, 10 pages), touching each run's id. Per run: client CPU; per
  listing: wall time.
- per page (F = 0 only): 200 pages of `limit=1`, which shows the per-page machinery; ours
  with `prefetch=1` (default) and `prefetch=0`.
Rows:
- ours: `qoder_async.QoderClient` inside `async with`, `max_retries=0`, default prefetch.
- httpx: a bare `httpx.AsyncClient` loop, `response.json()` (json.loads) only; listings
  follow `after_id=last_id` while `has_more`. The floor for any SDK built on httpx.
- qca: the official SDK `qca-sdk` (`AsyncManaged`), `iter_pages()` for listings.
Every listing is checked (the expected count of distinct run ids), so nothing is timed
that did not happen. Ratios are to the httpx row of the same section and latency.

Then, unless `--no-profile`: ours' 1000/page listing at F = 0 under cProfile, with the
top costs by own time, grouped by where they live, and the top functions.

Targets (issue 10), checked at the end: listing wall time <= 1.05x httpx at 5 and 20 ms,
for 100 and 1000 per page; client CPU per run <= 1.5x httpx at 100/page and <= 1.8x at
1000/page (at F = 0, where CPU is least diluted by waiting).

Run: `uv run --frozen --group bench python benchmarks/bench_overhead.py [--quick] [--json PATH]`
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib.metadata
import platform
import pstats
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import httpx
from _harness import (
    PAT,
    deployment_ids,
    fake_server,
    format_table,
    median,
    run_and_report,
)
from qca import AsyncManaged

from qoder_async import QoderClient

if TYPE_CHECKING:
    from collections.abc import Sequence

ROWS = ("ours", "httpx", "qca")
LATENCIES = (0.0, 0.005, 0.02)
QUICK_LATENCIES = (0.0, 0.02)
CONCURRENCY = (1, 16)
# (runs per page, runs listed): 50 pages of 100, 10 pages of 1000.
LISTINGS = ((100, 5000), (1000, 10_000))
PER_PAGE_PAGES = 200
WALL_TARGET = 1.05
CPU_TARGETS = {100: 1.5, 1000: 1.8}
POOL = 64

Op = Callable[[], Awaitable[None]]
R = TypeVar("R")


class Clients:
    """One warmed-up client per row, shared by every measurement at one latency."""

    def __init__(self, base_url: str, deployment: str) -> None:
        self.deployment = deployment
        limits = httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL)
        self.ours = QoderClient(pat=PAT, base_url=base_url, max_retries=0, max_connections=POOL)
        if self.ours.rate_limit is not None:
            msg = "the client budget must be off in this benchmark"
            raise RuntimeError(msg)
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {PAT}"},
            timeout=60.0,
            limits=limits,
        )
        self.qca_http = httpx.AsyncClient(limits=limits, timeout=60.0)
        self.qca = AsyncManaged(
            pat=PAT, base_url=base_url, max_retries=0, timeout=60.0, http_client=self.qca_http
        )

    async def aclose(self) -> None:
        """Close every client."""
        await self.ours.aclose()
        await self.http.aclose()
        await self.qca.close()
        await self.qca_http.aclose()

    def request_op(self, row: str, op: str) -> Op:
        """One request of kind `op` ("get" or "list1") by `row`."""
        deployment = self.deployment
        if row == "ours":
            ours = self.ours

            async def ours_get() -> None:
                _ = (await ours.deployments.get(deployment)).id

            async def ours_list1() -> None:
                _ = (await ours.deployments.list(limit=1)).data[0].id

            return ours_get if op == "get" else ours_list1
        if row == "httpx":
            http = self.http

            async def http_get() -> None:
                response = await http.get(f"/deployments/{deployment}")
                response.raise_for_status()
                _ = response.json()["id"]

            async def http_list1() -> None:
                response = await http.get("/deployments", params={"limit": "1"})
                response.raise_for_status()
                _ = response.json()["data"][0]["id"]

            return http_get if op == "get" else http_list1
        qca = self.qca

        async def qca_get() -> None:
            _ = (await qca.deployments.retrieve(deployment)).id

        async def qca_list1() -> None:
            _ = (await qca.deployments.list(limit=1)).data[0].id

        return qca_get if op == "get" else qca_list1

    async def listing(self, row: str, limit: int, runs: int, prefetch: int = 1) -> int:
        """List the first `runs` runs by `row`, `limit` per page; the distinct ids seen."""
        ids: set[str] = set()
        if row == "ours":
            pager = self.ours.deployments.list_runs(
                self.deployment, limit=limit, max_items=runs, prefetch=prefetch
            )
            async with pager:
                async for run in pager:
                    ids.add(run.id)
        elif row == "httpx":
            path = f"/deployments/{self.deployment}/runs"
            params = {"limit": str(limit)}
            while True:
                response = await self.http.get(path, params=params)
                response.raise_for_status()
                body: dict[str, Any] = response.json()
                for item in body["data"]:
                    ids.add(item["id"])
                if not body["has_more"] or len(ids) >= runs:
                    break
                params = {"limit": str(limit), "after_id": body["last_id"]}
        else:
            first = await self.qca.deployments.runs.list(self.deployment, limit=limit)
            async for page in first.iter_pages():
                for run in page.data:
                    ids.add(str(run.id))
                if len(ids) >= runs:
                    break
        return len(ids)


async def run_concurrently(op: Op, total: int, concurrency: int) -> None:
    """Make `total` calls of `op` from `concurrency` tasks."""

    async def worker(count: int) -> None:
        for _ in range(count):
            await op()

    share, extra = divmod(total, concurrency)
    async with anyio.create_task_group() as group:
        for i in range(concurrency):
            group.start_soon(worker, share + (i < extra))


async def timed(action: Callable[..., Awaitable[R]], *args: Any) -> tuple[float, float, R]:
    """(client CPU seconds, wall seconds, result) of awaiting `action(*args)`.

    Garbage from the row before is collected first, so that no row pays for another's.
    """
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = await action(*args)
    return time.process_time() - cpu0, time.perf_counter() - wall0, result


Samples = dict[str, dict[str, list[tuple[float, float]]]]


async def measure_latency(args: argparse.Namespace, latency: float) -> dict[str, Any]:
    """Every section at one server latency; per-unit (cpu, wall) samples per key and row."""
    samples: Samples = {}
    listings = [(limit, min(runs, args.runs)) for limit, runs in LISTINGS]
    with fake_server(
        latency=latency, deployments=1, runs_per_deployment=args.runs, seed=0
    ) as server:
        (deployment,) = await deployment_ids(server.base_url)
        clients = Clients(server.base_url, deployment)
        try:
            async with clients.ours:
                n = args.requests or (400 if latency == 0 else int(2.0 / latency))
                if args.quick:
                    n = max(20, n // 8)
                # Warm up: open POOL-enough connections and run every code path once.
                for row in ROWS:
                    for op in ("get", "list1"):
                        await run_concurrently(clients.request_op(row, op), 32, 16)
                    for limit, runs in listings:
                        await clients.listing(row, limit, min(runs, 2 * limit))
                for round_ in range(args.repeats):
                    for op in ("get", "list1"):
                        for concurrency in CONCURRENCY:
                            total = n * (4 if concurrency > 1 else 1)
                            key = f"{op} c={concurrency}"
                            for row in ROWS:
                                action = clients.request_op(row, op)
                                cpu, wall, _ = await timed(
                                    run_concurrently, action, total, concurrency
                                )
                                samples.setdefault(key, {}).setdefault(row, []).append(
                                    (cpu / total, wall / total)
                                )
                    for limit, runs in listings:
                        key = f"list {limit}/page"
                        for row in ROWS:
                            cpu, wall, got = await timed(clients.listing, row, limit, runs)
                            check(row, got, runs)
                            samples.setdefault(key, {}).setdefault(row, []).append(
                                (cpu / runs, wall)
                            )
                    if latency == 0:
                        pages = max(20, PER_PAGE_PAGES // (8 if args.quick else 1))
                        for row, prefetch in (("ours", 1), ("ours p0", 0), ("httpx", 1)):
                            name = "ours" if row.startswith("ours") else row
                            cpu, wall, got = await timed(clients.listing, name, 1, pages, prefetch)
                            check(row, got, pages)
                            samples.setdefault("pages limit=1", {}).setdefault(row, []).append(
                                (cpu / pages, wall / pages)
                            )
                    print(
                        f"  F = {latency * 1000:.0f} ms: round {round_ + 1}/{args.repeats}",
                        file=sys.stderr,
                        flush=True,
                    )
                profile = None
                if latency == 0 and not args.no_profile:
                    profile = await profile_listing(clients, *listings[-1])
        finally:
            await clients.aclose()
    return {"latency": latency, "requests": n, "samples": samples, "profile": profile}


def check(row: str, got: int, expected: int) -> None:
    """Refuse a listing that did not return the expected number of distinct runs."""
    if got != expected:
        msg = f"{row}: listed {got} distinct runs, expected {expected}"
        raise RuntimeError(msg)


# Where a function lives, by file path, for the grouped profile.
PLACES = (
    ("qoder_async/_converter", "structuring (our converter, cattrs)"),
    ("cattrs", "structuring (our converter, cattrs)"),
    ("attr", "structuring (our converter, cattrs)"),
    ("json/decoder", "json.loads"),
    ("json/__init__", "json.loads"),
    ("_decode", "json.loads"),
    ("httpcore", "httpcore"),
    ("h11", "httpcore"),
    ("httpx", "httpx"),
    ("anyio", "anyio"),
    ("asyncio", "asyncio event loop"),
    ("selectors", "asyncio event loop"),
    ("qoder_async", "qoder_async (pager, transport)"),
)


def place(filename: str) -> str:
    """The group a profiled function belongs to."""
    for needle, name in PLACES:
        if needle in filename:
            return name
    return "other (builtins, stdlib)"


async def profile_listing(clients: Clients, limit: int, runs: int) -> dict[str, Any]:
    """Ours' listing under cProfile: own time grouped by place, and the top functions."""
    profiler = cProfile.Profile()
    profiler.enable()
    got = await clients.listing("ours", limit, runs)
    profiler.disable()
    check("ours (profiled)", got, runs)
    stats = pstats.Stats(profiler)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]  # pstats' own table
    total = sum(entry[2] for entry in raw.values())
    groups: dict[str, float] = {}
    functions: list[tuple[float, str]] = []
    for (filename, line, name), (_, _, tottime, _, _) in raw.items():
        where = place(filename)
        groups[where] = groups.get(where, 0.0) + tottime
        short = filename.rsplit("site-packages/", 1)[-1].rsplit("/h9/", 1)[-1]
        functions.append((tottime, f"{short}:{line} {name}"))
    functions.sort(reverse=True)
    return {
        "limit": limit,
        "runs": runs,
        "total_seconds": total,
        "groups": dict(sorted(groups.items(), key=lambda item: -item[1])),
        "functions": [{"seconds": s, "function": f} for s, f in functions[:10]],
    }


def summarise(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Medians and ratios to the httpx row, per latency and section."""
    table = []
    for result in results:
        for key, rows in result["samples"].items():
            cpu = {row: median([s[0] for s in values]) for row, values in rows.items()}
            wall = {row: median([s[1] for s in values]) for row, values in rows.items()}
            table.append(
                {
                    "latency": result["latency"],
                    "section": key,
                    "cpu": cpu,
                    "wall": wall,
                    "cpu_ratio": {row: cpu[row] / cpu["httpx"] for row in cpu},
                    "wall_ratio": {row: wall[row] / wall["httpx"] for row in wall},
                }
            )
    return table


def versions() -> dict[str, str]:
    """Python and library versions, for the record."""
    names = ("qoder-async", "httpx", "httpcore", "anyio", "cattrs", "attrs", "qca-sdk", "sniffio")
    found = {"python": platform.python_version()}
    for name in names:
        found[name] = _version(name)
    return found


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def kind(key: str) -> str:
    """Which table a measurement key belongs to."""
    if key.startswith(("get ", "list1 ")):
        return "requests"
    return "listings" if key.endswith("/page") else "per page"


def report(data: dict[str, Any]) -> None:
    """Print the tables, the profile and whether the targets were met."""
    print(
        "\nOverhead: loopback fake server in its own process; client budget OFF (loopback"
        f" default, checked); median of {data['config']['repeats']};"
        " CPU = client process CPU; ratios to bare httpx (+ json.loads) of the same row set."
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in data["versions"].items()))
    rows = data["table"]
    sections = (("requests", "request"), ("listings", "run"), ("per page", "page"))
    for section, unit in sections:
        chosen = [r for r in rows if kind(r["section"]) == section]
        if not chosen:
            continue
        names = [row for row in (*ROWS, "ours p0") if row in chosen[0]["cpu"]]
        wall_unit = "ms/listing" if section == "listings" else f"ms/{unit}"
        headers = ["F ms", "what"]
        for row in names:
            headers += [f"{row} us/{unit}", "x"]
        for row in names:
            headers += [f"{row} {wall_unit}", "x"]
        table = []
        for r in chosen:
            line = [f"{r['latency'] * 1000:.0f}", r["section"]]
            for row in names:
                line += [f"{r['cpu'][row] * 1e6:.1f}", f"{r['cpu_ratio'][row]:.2f}"]
            for row in names:
                line += [f"{r['wall'][row] * 1000:.2f}", f"{r['wall_ratio'][row]:.2f}"]
            table.append(line)
        print(f"\n{section}: client CPU (us per {unit}) and wall time, x = ratio to httpx")
        print(format_table(headers, table, left=2))
    profile = data.get("profile")
    if profile:
        total = profile["total_seconds"]
        print(
            f"\nProfile of ours, listing {profile['runs']} runs at {profile['limit']}/page,"
            f" F = 0 (cProfile own time, {total * 1000:.0f} ms in all; cProfile inflates"
            " small calls):"
        )
        groups = [
            [name, f"{seconds * 1000:.1f}", f"{seconds / total:.0%}"]
            for name, seconds in list(profile["groups"].items())[:8]
        ]
        print(format_table(["where", "ms", "share"], groups))
        top = [
            [f["function"], f"{f['seconds'] * 1000:.1f}", f"{f['seconds'] / total:.0%}"]
            for f in profile["functions"][:5]
        ]
        print("\nTop 5 functions by own time:")
        print(format_table(["function", "ms", "share"], top))
    print()
    for r in rows:
        if r["section"].startswith("list ") and r["latency"] > 0:
            ratio = r["wall_ratio"]["ours"]
            verdict = "met" if ratio <= WALL_TARGET else "NOT met"
            print(
                f"Target wall <= {WALL_TARGET}x httpx, {r['section']}, F ="
                f" {r['latency'] * 1000:.0f} ms: {verdict} ({ratio:.2f}x)"
            )
    for r in rows:
        if r["section"].startswith("list ") and r["latency"] == 0:
            limit = int(r["section"].split()[1].split("/")[0])
            target = CPU_TARGETS[limit]
            ratio = r["cpu_ratio"]["ours"]
            verdict = "met" if ratio <= target else "NOT met"
            print(f"Target CPU <= {target}x httpx, {r['section']}, F = 0: {verdict} ({ratio:.2f}x)")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Measure the client's own cost per request and per run."
    )
    parser.add_argument(
        "--quick", action="store_true", help="a fast smoke run: F = 0 and 20 ms, 1 repeat"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the raw numbers to PATH")
    parser.add_argument("--repeats", type=int, help="rounds, median reported (default 3)")
    parser.add_argument(
        "--requests", type=int, help="requests per measurement (default 400 at F = 0, 2 s / F)"
    )
    parser.add_argument(
        "--runs", type=int, default=10_000, help="runs of the deployment (default 10000)"
    )
    parser.add_argument(
        "--latency",
        type=lambda text: [float(part) for part in text.split(",")],
        help="comma-separated server latencies in seconds (default 0,0.005,0.02)",
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled listing")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.latency = args.latency or list(QUICK_LATENCIES if args.quick else LATENCIES)
    if args.repeats < 1 or args.runs < 2000 or (args.requests is not None and args.requests < 16):
        parser.error("--repeats must be >= 1, --runs >= 2000, --requests >= 16")
    if min(args.latency) < 0:
        parser.error("latencies must be >= 0")
    return args


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    """Measure at every latency and return the raw and summarised numbers."""
    results = [await measure_latency(args, latency) for latency in args.latency]
    profile = next((r["profile"] for r in results if r["profile"]), None)
    return {
        "benchmark": "overhead",
        "config": {
            "repeats": args.repeats,
            "latencies": args.latency,
            "runs": args.runs,
            "quick": args.quick,
        },
        "versions": versions(),
        "results": [{k: v for k, v in r.items() if k != "profile"} for r in results],
        "table": summarise(results),
        "profile": profile,
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print (and optionally save) its results."""
    args = parse_args(argv)
    run_and_report(lambda: anyio.run(bench, args), report, args.json)


if __name__ == "__main__":
    main()
