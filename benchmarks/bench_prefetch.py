"""How much of the page-fetch latency the prefetching Pager hides behind the caller's work.

Setup: the fake API runs in its own process on 127.0.0.1 with `--latency F` (F = 20 ms by
default), an `await anyio.sleep(F)` before every answer, so the latency costs the server no
CPU. One deployment holds exactly N * limit runs (N = 50 pages of limit = 20 by default),
and every row lists all N pages of that deployment's runs. After each page the consumer
spends C, at the ratios F:C = 4:1, 2:1, 1:1, 1:2, 1:4 (C = 5 to 80 ms), in one of these
ways (`--consumers`):
- io: I/O-like, `await anyio.sleep(C)`.
- cpu: CPU-bound, a busy loop on `time.perf_counter()` with no await (default ratios 2:1,
  1:1, 1:2 only, to stay within about 3 minutes; `--full` runs all five).
- thread (not run by default): the same busy loop in `anyio.to_thread.run_sync`.
A first block with C = 0 shows each implementation's bare per-page fetch time.

Rows, all measured in one run against the same server, interleaved round by round, after
each client has listed two pages to warm up its connection:
- ours p0/p1/p2: `qoder_async` with `prefetch=0, 1, 2`, iterating `pager.pages()`.
- qca: the official SDK `qca-sdk` (no prefetch), iterating `page.iter_pages()`.
- httpx: a hand-written loop on a bare `httpx.AsyncClient`, following `after_id=last_id`
  while `has_more`, decoding JSON only.
The I/O rows of ours and qca are measured `--repeats` times (default 3) and the median is
reported; the reference rows (httpx at each ratio, the CPU consumers, the C = 0 block) are
measured `--reference-repeats` times (default 1) and marked "(1x)"; `--full` repeats all.

Computed: serial = N * (F + C) and ideal = max(N*F, F + N*C), both with the nominal F.
Derived per ratio:
- overlap efficiency of ours p1/p2 = (T_p0 - T) / (T_p0 - ideal*), where T_p0 is the
  measured ours p0 (the real serial time) and ideal* = max(N*F_eff + C, F_eff + N*C) is the
  exact lower bound with ours' real per-page fetch time in that block, F_eff = T_p0/N - C.
  The denominator is then (N - 1) * min(F_eff, C), the time that can overlap at all, and
  1.0 means all of it did. The JSON also has `efficiency_nominal`, against the nominal ideal.
- p1/qca: the time of ours p1 over qca's (below 1 is faster).
Targets checked for the I/O-like consumer: efficiency >= 0.9 at every ratio, and at F = C
ours p1 <= 0.6x qca's time. Every listing is verified (N pages, N * limit distinct run ids,
the same set as a reference listing), so nothing is timed that did not happen.

Run: `uv run --frozen --group bench python benchmarks/bench_prefetch.py [--quick] [--json PATH]`
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

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

Consumer = Callable[[], Awaitable[None]]
Kind = Literal["io", "cpu", "thread"]

# (F parts, C parts): C = F * c / f.
RATIOS: tuple[tuple[int, int], ...] = ((4, 1), (2, 1), (1, 1), (1, 2), (1, 4))
QUICK_RATIOS: tuple[tuple[int, int], ...] = ((2, 1), (1, 2))
# The CPU-bound consumers are measured at fewer ratios by default, to stay within 3 minutes.
CPU_RATIOS: tuple[tuple[int, int], ...] = ((2, 1), (1, 1), (1, 2))
ROWS = ("ours p0", "ours p1", "ours p2", "qca", "httpx")
PREFETCH = {"ours p0": 0, "ours p1": 1, "ours p2": 2}
EFFICIENCY_TARGET = 0.9
QCA_RATIO_TARGET = 0.6


def burn(seconds: float) -> None:
    """Keep the CPU busy for `seconds` of wall time, without yielding to the event loop."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def consumer(kind: Kind, seconds: float) -> Consumer:
    """The per-page work: sleep (I/O-like) or burn the CPU for `seconds`; nothing for 0."""

    async def idle() -> None:
        return

    async def sleep() -> None:
        await anyio.sleep(seconds)

    async def spin() -> None:
        burn(seconds)  # no await: the event loop is blocked throughout, as in real CPU work

    async def offload() -> None:
        await anyio.to_thread.run_sync(burn, seconds)

    if seconds <= 0:
        return idle
    return {"io": sleep, "cpu": spin, "thread": offload}[kind]


@dataclass(frozen=True)
class Clients:
    """One warmed-up client per implementation, shared by every measurement."""

    ours: QoderClient
    qca: AsyncManaged
    http: httpx.AsyncClient
    deployment: str


async def list_ours(
    clients: Clients, limit: int, prefetch: int, consume: Consumer
) -> tuple[int, list[str]]:
    """List the deployment's runs with qoder_async, page by page; (pages, run ids)."""
    pages = 0
    ids: list[str] = []
    pager = clients.ours.deployments.list_runs(clients.deployment, limit=limit, prefetch=prefetch)
    async with pager:
        async for page in pager.pages():
            pages += 1
            ids.extend(run.id for run in page.data)
            await consume()
    return pages, ids


async def list_qca(clients: Clients, limit: int, consume: Consumer) -> tuple[int, list[str]]:
    """List the deployment's runs with qca-sdk, page by page; (pages, run ids)."""
    pages = 0
    ids: list[str] = []
    first = await clients.qca.deployments.runs.list(clients.deployment, limit=limit)
    async for page in first.iter_pages():
        pages += 1
        ids.extend(str(run.id) for run in page.data)
        await consume()
    return pages, ids


async def list_httpx(clients: Clients, limit: int, consume: Consumer) -> tuple[int, list[str]]:
    """List the deployment's runs with a bare httpx loop (after_id = last_id); (pages, ids)."""
    pages = 0
    ids: list[str] = []
    path = f"/deployments/{clients.deployment}/runs"
    params = {"limit": str(limit)}
    while True:
        response = await clients.http.get(path, params=params)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        pages += 1
        ids.extend(item["id"] for item in body["data"])
        await consume()
        if not body["has_more"]:
            return pages, ids
        params = {"limit": str(limit), "after_id": body["last_id"]}


async def measure(
    row: str, clients: Clients, limit: int, consume: Consumer
) -> tuple[float, int, list[str]]:
    """Time one full listing by `row`: (seconds, pages, run ids)."""
    start = time.perf_counter()
    if row in PREFETCH:
        pages, ids = await list_ours(clients, limit, PREFETCH[row], consume)
    elif row == "qca":
        pages, ids = await list_qca(clients, limit, consume)
    else:
        pages, ids = await list_httpx(clients, limit, consume)
    return time.perf_counter() - start, pages, ids


async def warm_up(clients: Clients, limit: int) -> None:
    """Open every client's connection and run its listing code path once (two pages)."""
    ours = clients.ours.deployments.list_runs(clients.deployment, limit=limit, max_items=2 * limit)
    async with ours:
        async for _ in ours.pages():
            pass
    first = await clients.qca.deployments.runs.list(clients.deployment, limit=limit)
    await first.get_next_page()


def check(row: str, pages: int, ids: list[str], expected: set[str], n_pages: int) -> None:
    """Refuse a listing that did not return exactly the expected pages and runs."""
    if pages != n_pages or len(ids) != len(expected) or set(ids) != expected:
        msg = (
            f"{row}: listed {pages} pages and {len(ids)} runs ({len(set(ids))} distinct),"
            f" expected {n_pages} pages and the server's {len(expected)} runs"
        )
        raise RuntimeError(msg)


@dataclass(frozen=True)
class Block:
    """One consumer setting and the rows measured under it, each with its repeat count."""

    kind: Kind
    seconds: float
    label: str
    repeats: dict[str, int]

    @property
    def key(self) -> str:
        """The block's name in the results."""
        return f"{self.kind} {self.label}"


def plan(args: argparse.Namespace) -> list[Block]:
    """The measurements to make: C = 0 first, then every consumer kind at its ratios."""
    latency, repeats, reference = args.latency, args.repeats, args.reference_repeats
    if args.full:
        reference = repeats
    # C = 0 shows each implementation's own per-page cost; efficiencies do not depend on it.
    blocks = [Block("io", 0.0, "F:0", dict.fromkeys(ROWS, reference))]
    for kind in args.consumers:
        if kind == "io":
            ratios = QUICK_RATIOS if args.quick else RATIOS
            # The bare-httpx loop is serial like ours p0: a reference, measured fewer times.
            rows = {**dict.fromkeys(ROWS, repeats), "httpx": reference}
        else:
            ratios = QUICK_RATIOS if args.quick else RATIOS if args.full else CPU_RATIOS
            rows = dict.fromkeys(PREFETCH, reference)
        blocks += [Block(kind, latency * c / f, f"{f}:{c}", rows) for f, c in ratios]
    return blocks


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    """Start the server, make every planned measurement and return the raw numbers."""
    latency: float = args.latency
    n_pages: int = args.pages
    limit: int = args.limit
    blocks = plan(args)
    samples: dict[str, dict[str, list[float]]] = {}
    rounds = max(max(block.repeats.values()) for block in blocks)

    with fake_server(latency=latency, deployments=1, runs_per_deployment=n_pages * limit) as srv:
        (deployment,) = await deployment_ids(srv.base_url)
        headers = {"Authorization": f"Bearer {PAT}"}
        qca_http = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=256)
        )
        qca = AsyncManaged(
            pat=PAT, base_url=srv.base_url, max_retries=0, timeout=10.0, http_client=qca_http
        )
        try:
            async with (
                QoderClient(pat=PAT, base_url=srv.base_url, max_retries=0) as ours,
                httpx.AsyncClient(base_url=srv.base_url, headers=headers, timeout=10.0) as http,
            ):
                clients = Clients(ours, qca, http, deployment)
                # The expected runs, which every measured listing is checked against; this
                # also warms up the httpx client's connection.
                _, _, reference = await measure("httpx", clients, limit, consumer("io", 0))
                expected = set(reference)
                await warm_up(clients, limit)
                # Rounds are interleaved so that drift on the machine hits every row alike.
                for round_ in range(rounds):
                    for block in blocks:
                        consume = consumer(block.kind, block.seconds)
                        for row, repeats in block.repeats.items():
                            if round_ >= repeats:
                                continue
                            elapsed, pages, ids = await measure(row, clients, limit, consume)
                            check(row, pages, ids, expected, n_pages)
                            samples.setdefault(block.key, {}).setdefault(row, []).append(elapsed)
                    print(f"  round {round_ + 1}/{rounds} done", file=sys.stderr, flush=True)
        finally:
            await qca.close()
    return analyse(samples, blocks, latency=latency, n_pages=n_pages, limit=limit, args=args)


def analyse(
    samples: dict[str, dict[str, list[float]]],
    blocks: Sequence[Block],
    *,
    latency: float,
    n_pages: int,
    limit: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Medians, computed bounds, efficiencies and ratios, as one JSON-ready dict."""
    fetch = {row: median(times) / n_pages for row, times in samples["io F:0"].items()}
    results: list[dict[str, Any]] = []
    for block in blocks:
        seconds = block.seconds
        if seconds == 0:
            continue
        times = {row: median(values) for row, values in samples[block.key].items()}
        serial_measured = times["ours p0"]
        # Ours' fetch time per page in this very block: T_p0 = N * (F_eff + C).
        f_eff = serial_measured / n_pages - seconds
        ideal_nominal = max(n_pages * latency, latency + n_pages * seconds)
        ideal = max(n_pages * f_eff + seconds, f_eff + n_pages * seconds)
        efficiency = {}
        efficiency_nominal = {}
        for row in ("ours p1", "ours p2"):
            efficiency[row] = _ratio(serial_measured - times[row], serial_measured - ideal)
            efficiency_nominal[row] = _ratio(
                serial_measured - times[row], serial_measured - ideal_nominal
            )
        results.append(
            {
                "consumer": block.kind,
                "ratio": block.label,
                "consume_seconds": seconds,
                "serial_computed": n_pages * (latency + seconds),
                "ideal_nominal": ideal_nominal,
                "ideal": ideal,
                "fetch_seconds_per_page": f_eff,
                "median_seconds": times,
                "samples_seconds": samples[block.key],
                "efficiency": efficiency,
                "efficiency_nominal": efficiency_nominal,
                "ours_p1_over_qca": times["ours p1"] / times["qca"] if "qca" in times else None,
            }
        )
    return {
        "benchmark": "prefetch",
        "config": {
            "latency": latency,
            "pages": n_pages,
            "limit": limit,
            "repeats": args.repeats,
            "reference_repeats": args.repeats if args.full else args.reference_repeats,
            "consumers": args.consumers,
            "quick": args.quick,
            "full": args.full,
        },
        "fetch_seconds_per_page": fetch,
        "fetch_samples_seconds": samples["io F:0"],
        "results": results,
    }


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else float("nan")


TITLES = {
    "io": "I/O-like consumer: await anyio.sleep(C) per page",
    "cpu": "CPU-bound consumer: busy loop for C per page, no await",
    "thread": "CPU-bound consumer offloaded: await anyio.to_thread.run_sync(busy loop for C)",
}


def report(data: dict[str, Any]) -> None:
    """Print the tables, the ratios and whether the targets were met."""
    config = data["config"]
    n, latency = config["pages"], config["latency"]
    print(
        f"\nPrefetch: {n} pages x {config['limit']} runs of one deployment, F ="
        f" {latency * 1000:.0f} ms server latency per page (loopback fake server);"
        f" median of {config['repeats']} unless marked; times in ms"
    )
    fetch = data["fetch_seconds_per_page"]
    runs = len(data["fetch_samples_seconds"]["httpx"])
    print(f"\nPer-page fetch time with no consumer (C = 0), median of {runs}:")
    print(
        format_table(
            ["row", "ms/page", "vs httpx"],
            [
                [row, f"{fetch[row] * 1000:.2f}", f"{fetch[row] / fetch['httpx']:.2f}x"]
                for row in ROWS
            ],
        )
    )
    for kind, title in TITLES.items():
        results = [r for r in data["results"] if r["consumer"] == kind]
        if not results:
            continue
        rows = [row for row in ROWS if row in results[0]["median_seconds"]]
        counts = {row: len(results[0]["samples_seconds"][row]) for row in rows}
        names = [
            row if counts[row] == config["repeats"] else f"{row} ({counts[row]}x)" for row in rows
        ]
        headers = ["F:C", "C", "serial", "ideal", "ideal*", *names, "eff p1", "eff p2"]
        if "qca" in rows:
            headers.append("p1/qca")
        table = []
        for r in results:
            times = r["median_seconds"]
            line = [
                r["ratio"],
                _ms(r["consume_seconds"]),
                _ms(r["serial_computed"]),
                _ms(r["ideal_nominal"]),
                _ms(r["ideal"]),
                *(_ms(times[row]) for row in rows),
                f"{r['efficiency']['ours p1']:.2f}",
                f"{r['efficiency']['ours p2']:.2f}",
            ]
            if r["ours_p1_over_qca"] is not None:
                line.append(f"{r['ours_p1_over_qca']:.2f}x")
            table.append(line)
        print(f"\n{title}:")
        print(format_table(headers, table))
    print(
        "\nserial = N*(F+C) and ideal = max(N*F, F+N*C), with the nominal F;"
        " ideal* = max(N*F_eff+C, F_eff+N*C), F_eff = T_p0/N - C.\n"
        "eff = (T_p0 - T) / (T_p0 - ideal*), T_p0 = measured ours p0 (1 = all overlappable"
        " time overlapped); p1/qca = time of ours p1 / time of qca; (kx) = median of k runs."
    )
    io_results = [r for r in data["results"] if r["consumer"] == "io"]
    if io_results:
        worst = min(min(r["efficiency"].values()) for r in io_results)
        verdict = "met" if worst >= EFFICIENCY_TARGET else "NOT met"
        print(
            f"\nTarget, I/O-like consumer, overlap efficiency >= {EFFICIENCY_TARGET} at every"
            f" ratio (p1 and p2): {verdict} (lowest {worst:.2f})"
        )
        for r in io_results:
            if r["ratio"] == "1:1":
                ratio = r["ours_p1_over_qca"]
                verdict = "met" if ratio <= QCA_RATIO_TARGET else "NOT met"
                print(
                    f"Target, at F = C, ours p1 <= {QCA_RATIO_TARGET}x qca's time: {verdict}"
                    f" ({ratio:.2f}x)"
                )
    for kind in ("cpu", "thread"):
        results = [r for r in data["results"] if r["consumer"] == kind]
        if results:
            effs = "; ".join(
                f"{r['ratio']} p1 {r['efficiency']['ours p1']:.2f} p2"
                f" {r['efficiency']['ours p2']:.2f}"
                for r in results
            )
            print(f"Overlap efficiency, {kind} consumer: {effs}")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def _consumers(text: str) -> list[Kind]:
    kinds: list[Kind] = []
    for part in text.split(","):
        if part not in ("io", "cpu", "thread"):
            msg = f"unknown consumer {part!r}; choose from io, cpu, thread"
            raise argparse.ArgumentTypeError(msg)
        if part not in kinds:
            kinds.append(part)  # type: ignore[arg-type]  # checked just above
    return kinds


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Measure how much page-fetch latency the prefetching Pager hides."
    )
    parser.add_argument(
        "--quick", action="store_true", help="a fast smoke run: 5 pages, 2 ratios, 1 repeat"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the raw numbers to PATH")
    parser.add_argument(
        "--full",
        action="store_true",
        help="every row at every ratio, all --repeats times (about twice as long)",
    )
    parser.add_argument(
        "--repeats", type=int, help="runs per measurement, median reported (default 3, quick 1)"
    )
    parser.add_argument(
        "--reference-repeats",
        type=int,
        default=1,
        help="runs of the reference rows: C = 0, httpx at each ratio, CPU consumers (default 1)",
    )
    parser.add_argument("--pages", type=int, help="pages per listing (default 50, quick 5)")
    parser.add_argument("--limit", type=int, default=20, help="runs per page (default 20)")
    parser.add_argument(
        "--latency", type=float, default=0.02, help="server latency F in seconds (default 0.02)"
    )
    parser.add_argument(
        "--consumers",
        type=_consumers,
        default=["io", "cpu"],
        help="comma-separated consumer kinds: io, cpu, thread (default io,cpu)",
    )
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.pages is None:
        args.pages = 5 if args.quick else 50
    if min(args.repeats, args.reference_repeats, args.limit) < 1 or args.pages < 2:
        parser.error("--repeats, --reference-repeats and --limit must be >= 1, --pages >= 2")
    if args.latency <= 0:
        parser.error("--latency must be > 0")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print (and optionally save) its results."""
    args = parse_args(argv)
    run_and_report(lambda: anyio.run(bench, args), report, args.json)


if __name__ == "__main__":
    main()
