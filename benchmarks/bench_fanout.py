"""Listing the runs of 1000 deployments at once: throughput and cost of the fan-out.

Setup: the fake API runs in its own process on 127.0.0.1 with `--latency 0.02` (20 ms
awaited before every answer, no CPU cost) and 1000 deployments of 40 runs each, listed
with `limit=20`, so every row makes 2000 requests (two serial pages per deployment) and
must return 40 000 runs. Rows, for each concurrency K in 8, 32, 128:
- ours: `client.deployments.list_runs_across(ids, concurrency=K, limit=20)` on a
  `QoderClient(max_connections=max(K, 16), http_client=<the counting client below>)`.
- httpx: hand-written, a task group with one task per deployment, each paging serially
  with `after_id=last_id` under an `anyio.CapacityLimiter(K)`, on a bare httpx client
  decoding JSON only. The floor for any SDK built on httpx.
- qca: the same task group and limiter around the official SDK `qca-sdk`'s paginator.
And once, not per concurrency: qca-naive, qca-sdk used as its docs show, one deployment
after the other, on the first `--naive-deployments` (default 100) deployments only; its
throughput (runs/s) is measured on that subset, and its time for all 1000 is an
extrapolation, labelled as such.

Each row runs in a fresh subprocess of this script, which imports only what that row
needs, so that its peak RSS (`ru_maxrss`, a high-water mark) belongs to that row alone.
Every row's httpx client has a pool of max(K, 16) connections and one response event hook
that counts responses and the distinct client-side ports they came on: "conns" is the
number of connections used (counted client-side). Measured per row, over the timed
section only (after one warm-up request): wall time, runs/s, requests/s, client CPU per
request (`time.process_time()` of the client process; the server is another process),
the client's and the server's CPU use over that interval (the server's from /proc, Linux
only) and peak RSS. Rows are interleaved round by round and repeated, the median
reported: ours and httpx `--repeats` times (default 2; 3 takes about 4 minutes here); the
qca rows, which are CPU-bound in qca's parsing and take about 18 s each,
`--reference-repeats` times (default 1; `--full` repeats them too), so that the whole run
stays near 3 minutes on 2 cores. Every row is verified: the expected number of distinct
runs, exactly 40 per deployment, every deployment present, and the same set of run ids in
every row (a digest), so nothing is timed that did not happen.

The fake server is a single Python process: when its CPU use nears 100% it, not the
client, bounds throughput. The client is a single Python process too, and with many
connections httpcore's pool bookkeeping (work per request that grows with the number of
connections) can make the client CPU-bound first. The output says, per concurrency, which
of the two (if either) was saturated during the bare-httpx row.

Run: `uv run --frozen --group bench python benchmarks/bench_fanout.py [--quick] [--json PATH]`
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import anyio
from _harness import (
    PAT,
    ConnectionCounter,
    current_rss_mib,
    deployment_ids,
    fake_server,
    format_table,
    median,
    process_cpu_seconds,
    run_and_report,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    import httpx
    from _harness import FakeServer

ROWS = ("ours", "httpx", "qca")
NAIVE = "qca-naive"
CONCURRENCY = (8, 32, 128)
QUICK_CONCURRENCY = (8, 32)
THROUGHPUT_TARGET = 0.9
NAIVE_TARGET = 3.0
# Server CPU use above which the server, not the client, is taken to bound a row.
SATURATED = 0.85


# -- the child: one row in its own process --------------------------------------------------


class Tally:
    """The runs a row received: distinct ids and how many per deployment."""

    def __init__(self) -> None:
        self.runs = 0
        self.ids: set[str] = set()
        self.per_deployment: Counter[str] = Counter()

    def add(self, deployment_id: str, run_id: str) -> None:
        """Record one run."""
        self.runs += 1
        self.ids.add(run_id)
        self.per_deployment[deployment_id] += 1

    def verify(self, deployments: Sequence[str], runs_each: int) -> str:
        """Raise unless every deployment gave exactly `runs_each` distinct runs; a digest."""
        expected = len(deployments) * runs_each
        wrong = [d for d in deployments if self.per_deployment[d] != runs_each]
        if self.runs != expected or len(self.ids) != expected or wrong:
            msg = (
                f"got {self.runs} runs ({len(self.ids)} distinct), expected {expected};"
                f" {len(wrong)} deployments without exactly {runs_each} runs"
            )
            raise RuntimeError(msg)
        if set(self.per_deployment) != set(deployments):
            msg = "runs of deployments that were not asked for"
            raise RuntimeError(msg)
        return hashlib.sha256("\n".join(sorted(self.ids)).encode()).hexdigest()[:16]


async def row_ours(
    base_url: str, ids: list[str], k: int, limit: int, http: httpx.AsyncClient, timed: Timer
) -> Tally:
    """Ours: list_runs_across with concurrency K."""
    from qoder_async import QoderClient  # here: only this row's imports count

    tally = Tally()
    pool = max(k, 16)
    client = QoderClient(
        pat=PAT, base_url=base_url, max_retries=0, max_connections=pool, http_client=http
    )
    async with client:
        await client.deployments.list_runs(ids[0], limit=1)  # warm-up
        with timed:
            async with client.deployments.list_runs_across(ids, concurrency=k, limit=limit) as runs:
                async for run in runs:
                    tally.add(run.deployment_id, run.id)
    return tally


async def row_httpx(
    base_url: str, ids: list[str], k: int, limit: int, http: httpx.AsyncClient, timed: Timer
) -> Tally:
    """Bare httpx: one task per deployment, each paging serially, under a limiter of K."""
    tally = Tally()
    limiter = anyio.CapacityLimiter(k)
    headers = {"Authorization": f"Bearer {PAT}"}

    async def one(deployment: str) -> None:
        url = f"{base_url}/deployments/{deployment}/runs"
        params = {"limit": str(limit)}
        async with limiter:
            while True:
                response = await http.get(url, params=params, headers=headers)
                response.raise_for_status()
                body: dict[str, Any] = response.json()
                for item in body["data"]:
                    tally.add(item["deployment_id"], item["id"])
                if not body["has_more"]:
                    return
                params = {"limit": str(limit), "after_id": body["last_id"]}

    await http.get(f"{base_url}/deployments/{ids[0]}/runs", params={"limit": 1}, headers=headers)
    with timed:
        async with anyio.create_task_group() as group:
            for deployment in ids:
                group.start_soon(one, deployment)
    return tally


async def row_qca(
    base_url: str, ids: list[str], k: int, limit: int, http: httpx.AsyncClient, timed: Timer
) -> Tally:
    """qca-sdk: one task per deployment iterating its paginator, under a limiter of K."""
    from qca import AsyncManaged  # here: only this row's imports count

    tally = Tally()
    limiter = anyio.CapacityLimiter(k)
    client = AsyncManaged(pat=PAT, base_url=base_url, max_retries=0, timeout=60.0, http_client=http)

    async def one(deployment: str) -> None:
        async with limiter:
            first = await client.deployments.runs.list(deployment, limit=limit)
            async for page in first.iter_pages():
                for run in page.data:
                    tally.add(str(run.deployment_id), str(run.id))

    try:
        await client.deployments.runs.list(ids[0], limit=1)  # warm-up
        with timed:
            async with anyio.create_task_group() as group:
                for deployment in ids:
                    group.start_soon(one, deployment)
    finally:
        await client.close()
    return tally


async def row_qca_naive(
    base_url: str, ids: list[str], k: int, limit: int, http: httpx.AsyncClient, timed: Timer
) -> Tally:
    """qca-sdk as its docs show: `async for run in list(...)`, one deployment after another."""
    from qca import AsyncManaged  # here: only this row's imports count

    del k  # sequential by definition
    tally = Tally()
    client = AsyncManaged(pat=PAT, base_url=base_url, max_retries=0, timeout=60.0, http_client=http)
    try:
        await client.deployments.runs.list(ids[0], limit=1)  # warm-up
        with timed:
            for deployment in ids:
                async for run in client.deployments.runs.list(deployment, limit=limit):
                    tally.add(str(run.deployment_id), str(run.id))
    finally:
        await client.close()
    return tally


ROW_FUNCTIONS = {"ours": row_ours, "httpx": row_httpx, "qca": row_qca, NAIVE: row_qca_naive}


class Timer:
    """Wall time, client CPU time and server CPU time over the `with` block.

    Entering it also resets the connection counters, so they count the timed section only.
    """

    def __init__(self, server_pid: int, counters: Sequence[ConnectionCounter]) -> None:
        self.server_pid = server_pid
        self.counters = counters
        self.wall = self.cpu = 0.0
        self.server_cpu: float | None = None
        self._wall0 = self._cpu0 = 0.0
        self._server0: float | None = None
        self.rss_at_start: float | None = None

    def __enter__(self) -> None:
        for counter in self.counters:
            counter.reset()
        self.rss_at_start = current_rss_mib()
        self._server0 = process_cpu_seconds(self.server_pid)
        self._cpu0 = time.process_time()
        self._wall0 = time.perf_counter()

    def __exit__(self, *exc_info: object) -> None:
        self.wall = time.perf_counter() - self._wall0
        self.cpu = time.process_time() - self._cpu0
        server = process_cpu_seconds(self.server_pid)
        if server is not None and self._server0 is not None:
            self.server_cpu = server - self._server0


async def child(args: argparse.Namespace, ids: list[str]) -> dict[str, Any]:
    """Run one row in this process, over deployments `ids`, and return its measurements."""
    counter = ConnectionCounter()
    timer = Timer(args.server_pid, [counter])
    async with counter.http_client(max(args.concurrency, 16)) as http:
        tally = await ROW_FUNCTIONS[args.child](
            args.base_url, ids, args.concurrency, args.limit, http, timer
        )
    digest = tally.verify(ids, args.runs)
    return {
        "row": args.child,
        "concurrency": args.concurrency,
        "deployments": len(ids),
        "runs": tally.runs,
        "digest": digest,
        "requests": counter.responses,
        "connections": len(counter.ports),
        "wall_seconds": timer.wall,
        "client_cpu_seconds": timer.cpu,
        "server_cpu_seconds": timer.server_cpu,
        # Linux reports ru_maxrss in KiB.
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        # The RSS when the timed section began (imports, client, warm-up already done).
        "timed_start_rss_mib": timer.rss_at_start,
    }


# -- the parent: server, rows in subprocesses, report ---------------------------------------


def run_child(
    row: str, k: int, *, ids_file: str, server: FakeServer, args: argparse.Namespace
) -> dict[str, Any]:
    """Run one row in a fresh subprocess of this script and return its measurements."""
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        row,
        "--concurrency",
        str(k),
        "--base-url",
        server.base_url,
        "--ids-file",
        ids_file,
        "--server-pid",
        str(server.pid),
        "--limit",
        str(args.limit),
        "--runs",
        str(args.runs),
    ]
    # Our own interpreter and script, no shell: nothing untrusted reaches the command.
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)  # noqa: S603
    if done.returncode != 0:
        msg = f"row {row} at concurrency {k} failed:\n{done.stderr}"
        raise RuntimeError(msg)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def bench(args: argparse.Namespace) -> dict[str, Any]:
    """Start the server, run every row in its own process and return the raw numbers."""
    concurrencies = args.concurrency
    samples: dict[str, list[dict[str, Any]]] = {}
    with (
        fake_server(
            latency=args.latency, deployments=args.deployments, runs_per_deployment=args.runs
        ) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        ids = anyio.run(deployment_ids, server.base_url)
        if len(ids) != args.deployments:
            msg = f"the server holds {len(ids)} deployments, expected {args.deployments}"
            raise RuntimeError(msg)
        ids_file = os.path.join(tmp, "ids.json")
        naive_file = os.path.join(tmp, "naive-ids.json")
        with open(ids_file, "w", encoding="utf-8") as out:
            json.dump(ids, out)
        with open(naive_file, "w", encoding="utf-8") as out:
            json.dump(ids[: args.naive_deployments], out)
        # qca-sdk spends ~0.4 ms of CPU per run it parses, so its rows take about 16 s at any
        # concurrency: they are measured --reference-repeats times, the others --repeats.
        repeats = {"ours": args.repeats, "httpx": args.repeats, "qca": args.reference_repeats}
        rounds = max(repeats.values())
        # Rounds are interleaved so that drift on the machine hits every row alike.
        for round_ in range(rounds):
            for k in concurrencies:
                for row in ROWS:
                    if round_ < repeats[row]:
                        result = run_child(row, k, ids_file=ids_file, server=server, args=args)
                        samples.setdefault(f"{row} {k}", []).append(result)
            print(f"  round {round_ + 1}/{rounds} done", file=sys.stderr, flush=True)
        naive = run_child(NAIVE, 1, ids_file=naive_file, server=server, args=args)
    return analyse(samples, naive, concurrencies, args)


def _summary(results: list[dict[str, Any]], pages: int) -> dict[str, Any]:
    """Medians over repeats of one row's measurements, with the derived rates."""
    wall = median([r["wall_seconds"] for r in results])
    first = results[0]
    requests = first["requests"]
    server = [r["server_cpu_seconds"] for r in results if r["server_cpu_seconds"] is not None]
    server_share = (
        median([s / r["wall_seconds"] for s, r in zip(server, results, strict=True)])
        if len(server) == len(results)
        else None
    )
    return {
        "wall_seconds": wall,
        "runs": first["runs"],
        "requests": requests,
        "expected_requests": first["deployments"] * pages,
        "runs_per_second": first["runs"] / wall,
        "requests_per_second": requests / wall,
        "client_cpu_us_per_request": median(
            [r["client_cpu_seconds"] / r["requests"] * 1e6 for r in results]
        ),
        "server_cpu_share": server_share,
        "client_cpu_share": median([r["client_cpu_seconds"] / r["wall_seconds"] for r in results]),
        "peak_rss_mib": median([r["peak_rss_mib"] for r in results]),
        "growth_rss_mib": (
            median([r["peak_rss_mib"] - r["timed_start_rss_mib"] for r in results])
            if all(r["timed_start_rss_mib"] is not None for r in results)
            else None
        ),
        "connections": median([r["connections"] for r in results]),
        "digests": sorted({r["digest"] for r in results}),
        "samples": results,
    }


def analyse(
    samples: dict[str, list[dict[str, Any]]],
    naive: dict[str, Any],
    concurrencies: Sequence[int],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Medians and ratios, as one JSON-ready dict; checks that every row saw the same runs."""
    pages = -(-args.runs // args.limit)
    rows = {key: _summary(results, pages) for key, results in samples.items()}
    digests = {digest for row in rows.values() for digest in row["digests"]}
    if len(digests) != 1:
        msg = f"rows returned different sets of runs: {sorted(digests)}"
        raise RuntimeError(msg)
    naive_row = _summary([naive], pages)
    scale = args.deployments / naive["deployments"]
    naive_row["extrapolated_wall_seconds"] = naive_row["wall_seconds"] * scale
    ratios = {}
    for k in concurrencies:
        ours, bare, qca = rows[f"ours {k}"], rows[f"httpx {k}"], rows[f"qca {k}"]
        ratios[str(k)] = {
            "ours_over_httpx": ours["runs_per_second"] / bare["runs_per_second"],
            "ours_over_qca": ours["runs_per_second"] / qca["runs_per_second"],
            "ours_over_qca_naive": ours["runs_per_second"] / naive_row["runs_per_second"],
            "latency_bound_seconds": args.deployments * pages * args.latency / k,
        }
    return {
        "benchmark": "fanout",
        "config": {
            "latency": args.latency,
            "deployments": args.deployments,
            "runs_per_deployment": args.runs,
            "limit": args.limit,
            "concurrency": list(concurrencies),
            "repeats": args.repeats,
            "reference_repeats": args.reference_repeats,
            "naive_deployments": naive["deployments"],
            "quick": args.quick,
            "cpus": os.cpu_count(),
        },
        "rows": rows,
        "naive": naive_row,
        "ratios": ratios,
    }


def report(data: dict[str, Any]) -> None:
    """Print the table, the ratios, the targets and where the server was the bottleneck."""
    config = data["config"]
    print(
        f"\nFan-out: {config['deployments']} deployments x {config['runs_per_deployment']} runs,"
        f" limit={config['limit']}, {config['latency'] * 1000:.0f} ms server latency,"
        f" loopback fake server (one Python process) on {config['cpus']} CPUs;"
        f" median of {config['repeats']} ((k)x: of k), each row in a fresh process"
    )
    headers = [
        "K",
        "row",
        "wall s",
        "runs/s",
        "req/s",
        "vs httpx",
        "CPU us/req",
        "client CPU",
        "server CPU",
        "peak RSS MiB",
        "RSS growth",
        "conns",
        "requests",
    ]
    table = []
    for k in config["concurrency"]:
        bare = data["rows"][f"httpx {k}"]
        for row in ROWS:
            r = data["rows"][f"{row} {k}"]
            count = len(r["samples"])
            name = row if count == config["repeats"] else f"{row} ({count}x)"
            table.append(_cells(str(k), name, r, bare))
    naive = data["naive"]
    name = f"{NAIVE} (1x, {config['naive_deployments']} deps)"
    table.append(_cells("1", name, naive, None))
    print(format_table(headers, table, left=2))
    print(
        f"\n{NAIVE}: sequential, measured on {config['naive_deployments']} deployments in"
        f" {naive['wall_seconds']:.1f} s; extrapolated to all {config['deployments']}:"
        f" {naive['extrapolated_wall_seconds']:.0f} s (EXTRAPOLATED, not measured)."
    )
    print(
        "CPU us/req = client process CPU per request; server CPU = the server's CPU time /"
        " wall time over the same interval (1 core = 100%);\nconns = distinct connections"
        " used, counted client-side (local ports of responses); RSS = ru_maxrss of the row's"
        " own process\n(a high-water mark); RSS growth = peak - RSS when the timed section began; client CPU ="
        " client CPU time / wall time."
    )
    print("\nRatios of throughput (runs/s) and the latency bound (requests * F / K):")
    ratio_rows = []
    for k in config["concurrency"]:
        r = data["ratios"][str(k)]
        ratio_rows.append(
            [
                str(k),
                f"{r['ours_over_httpx']:.2f}x",
                f"{r['ours_over_qca']:.2f}x",
                f"{r['ours_over_qca_naive']:.1f}x",
                f"{r['latency_bound_seconds']:.2f}",
                f"{data['rows'][f'ours {k}']['wall_seconds']:.2f}",
            ]
        )
    print(
        format_table(
            ["K", "ours/httpx", "ours/qca", "ours/qca-naive", "bound s", "ours s"], ratio_rows
        )
    )
    worst = min(r["ours_over_httpx"] for r in data["ratios"].values())
    verdict = "met" if worst >= THROUGHPUT_TARGET else "NOT met"
    print(
        f"\nTarget, ours >= {THROUGHPUT_TARGET}x bare-httpx throughput at every concurrency:"
        f" {verdict} (lowest {worst:.2f}x)"
    )
    lowest_naive = min(r["ours_over_qca_naive"] for r in data["ratios"].values())
    verdict = "met" if lowest_naive >= NAIVE_TARGET else "NOT met"
    print(
        f"Target, ours >= {NAIVE_TARGET}x qca-sdk used naively: {verdict}"
        f" (lowest {lowest_naive:.1f}x, against its throughput on the subset)"
    )
    print("\nWho bounds throughput (CPU use during the bare-httpx row, 100% = one core busy):")
    for k in config["concurrency"]:
        print(f"K={k}: {_bottleneck(data['rows'][f'httpx {k}'], data['ratios'][str(k)])}")


def _bottleneck(row: dict[str, Any], ratios: dict[str, float]) -> str:
    server, client = row["server_cpu_share"], row["client_cpu_share"]
    server_text = "unknown (no /proc)" if server is None else f"{server:.0%}"
    text = f"server {server_text}, client {client:.0%}: "
    if server is not None and server >= SATURATED:
        return text + "the server is saturated: it, not the client, bounds throughput here"
    if client >= SATURATED:
        return text + "the client process is CPU-bound (the server is not saturated)"
    bound = ratios["latency_bound_seconds"] / row["wall_seconds"]
    return text + f"neither saturated; latency-bound ({bound:.0%} of the latency bound reached)"


def _cells(k: str, row: str, r: dict[str, Any], bare: dict[str, Any] | None) -> list[str]:
    share = r["server_cpu_share"]
    requests = f"{r['requests']}" + ("" if r["requests"] == r["expected_requests"] else " (!)")
    return [
        k,
        row,
        f"{r['wall_seconds']:.2f}",
        f"{r['runs_per_second']:.0f}",
        f"{r['requests_per_second']:.0f}",
        f"{r['runs_per_second'] / bare['runs_per_second']:.2f}x" if bare is not None else "-",
        f"{r['client_cpu_us_per_request']:.0f}",
        f"{r['client_cpu_share']:.0%}",
        "?" if share is None else f"{share:.0%}",
        f"{r['peak_rss_mib']:.0f}",
        "?" if r["growth_rss_mib"] is None else f"{r['growth_rss_mib']:.0f}",
        f"{r['connections']:.0f}",
        requests,
    ]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (the --child options are internal: one row per subprocess)."""
    parser = argparse.ArgumentParser(
        description="Measure listing the runs of many deployments at once."
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a fast smoke run: 40 deployments, K = 8 and 32, 1 repeat, naive on 10",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the raw numbers to PATH")
    parser.add_argument(
        "--repeats",
        type=int,
        help="runs of the ours and httpx rows, median reported (default 2, quick 1)",
    )
    parser.add_argument(
        "--reference-repeats",
        type=int,
        help="runs of the slow qca rows (default 1; --repeats with --full)",
    )
    parser.add_argument(
        "--full", action="store_true", help="repeat the qca rows as often as the others"
    )
    parser.add_argument("--deployments", type=int, help="deployments (default 1000, quick 40)")
    parser.add_argument("--runs", type=int, default=40, help="runs per deployment (default 40)")
    parser.add_argument("--limit", type=int, default=20, help="runs per page (default 20)")
    parser.add_argument(
        "--latency", type=float, default=0.02, help="server latency in seconds (default 0.02)"
    )
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(part) for part in text.split(",")],
        help="comma-separated concurrencies (default 8,32,128; quick 8,32)",
    )
    parser.add_argument(
        "--naive-deployments",
        type=int,
        help="deployments listed by the sequential qca-sdk row (default 100, quick 10)",
    )
    # Internal: run one row in this process (used by the parent, one subprocess per row).
    parser.add_argument("--child", choices=[*ROWS, NAIVE], help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--ids-file", help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        if args.concurrency is None or len(args.concurrency) != 1:
            parser.error("--child needs exactly one --concurrency")
        args.concurrency = args.concurrency[0]
        return args
    args.repeats = args.repeats or (1 if args.quick else 2)
    args.reference_repeats = args.reference_repeats or (args.repeats if args.full else 1)
    args.deployments = args.deployments or (40 if args.quick else 1000)
    args.concurrency = args.concurrency or list(QUICK_CONCURRENCY if args.quick else CONCURRENCY)
    naive = args.naive_deployments or (10 if args.quick else 100)
    args.naive_deployments = min(naive, args.deployments)
    if (
        min(
            args.repeats,
            args.reference_repeats,
            args.deployments,
            args.runs,
            args.limit,
            *args.concurrency,
        )
        < 1
    ):
        parser.error("counts and concurrencies must be >= 1")
    if args.latency < 0:
        parser.error("--latency must be >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark (or, with --child, one row of it) and print the results."""
    args = parse_args(argv)
    if args.child is not None:
        with open(args.ids_file, encoding="utf-8") as source:
            ids: list[str] = json.load(source)
        print(json.dumps(anyio.run(child, args, ids)))
        return
    run_and_report(lambda: bench(args), report, args.json)


if __name__ == "__main__":
    main()
