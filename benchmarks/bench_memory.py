"""Whether streaming a long listing keeps the client's memory flat: 1,000,000 runs, 1000 a page.

Setup: the real client and Pager (`client.deployment_runs.list(limit=1000)`, prefetch 1)
read from an in-process httpx transport that serves pre-encoded pages: one 1000-run page
made by the fake API (fixed seed and clock), with every run id rewritten to a template
that the transport stamps with the page number, so that all 1,000,000 runs have distinct
ids (the pager drops ids it has seen, spec 7.4) and serving a page costs one
`bytes.replace`. Page n's `next_page` cursor is `c<n+1>`; the last says has_more false.

Rows, each in a fresh interpreter (RSS never shrinks back, so rows must not share one):
- stream: `async for run in pager`, keeping nothing;
- collect (baseline): the same, appending every run to a list, for `--collect-pages`
  pages only (default 100), to show what holding the items costs per 50 pages.
RSS (from /proc) is sampled before the first page and after every 50 pages. Reported:
RSS after 50 pages, the growth after them (the largest sample minus the one at page 50),
and MiB per 1000 pages. Target: stream grows less than 10 MiB after the first 50 pages.

Run: `uv run --frozen --group bench python benchmarks/bench_memory.py [--quick] [--json PATH]`
(`--quick`: 200,000 runs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import httpx
from _harness import current_rss_mib, format_table, write_json

from qoder_async import QoderClient
from qoder_async.testing import FakeQoderAPI

if TYPE_CHECKING:
    from collections.abc import Sequence

BASE_URL = "https://api.qoder.com/api/v1/cloud"
PAT = "pt-bench"
NOW = datetime(2026, 6, 14, 9, 0, tzinfo=timezone.utc)
PAGE_SIZE = 1000
SAMPLE_EVERY = 50
_STAMP = b"PPPPPPPP"


async def _template() -> bytes:
    """The fake's 1000-run page with ids `drun_<stamp><index>` and the paging fields cleared."""
    api = FakeQoderAPI(pat=PAT, seed=10, now=NOW)
    api.seed(deployments=PAGE_SIZE, runs_per_deployment=1)
    headers = {"Authorization": f"Bearer {PAT}"}
    async with httpx.AsyncClient(
        transport=api.transport(), base_url=BASE_URL, headers=headers
    ) as http:
        response = await http.get("/deployment_runs", params={"limit": PAGE_SIZE})
        response.raise_for_status()
        body: dict[str, Any] = response.json()
    stamp = _STAMP.decode()
    for index, run in enumerate(body["data"]):
        run["id"] = f"drun_{stamp}{index:024x}"
    ids = [run["id"] for run in body["data"]]
    body.update(first_id=ids[0], last_id=ids[-1], has_more="HASMORE", next_page="NEXTPAGE")
    return json.dumps(body).encode()


def _transport(template: bytes, pages: int) -> httpx.MockTransport:
    def serve(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("page")
        number = int(cursor[1:]) if cursor else 0
        last = number == pages - 1
        body = (
            template.replace(_STAMP, b"%08x" % number)
            .replace(b'"HASMORE"', b"false" if last else b"true")
            .replace(b'"NEXTPAGE"', b"null" if last else b'"c%d"' % (number + 1))
        )
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    return httpx.MockTransport(serve)


async def _row(row: str, pages: int) -> dict[str, Any]:
    template = await _template()
    samples: list[float] = [current_rss_mib() or 0.0]
    kept: list[object] = []
    count = 0
    started = time.perf_counter()
    async with (
        httpx.AsyncClient(transport=_transport(template, pages)) as http,
        QoderClient(pat=PAT, base_url=BASE_URL, http_client=http) as client,
    ):
        pager = client.deployment_runs.list(limit=PAGE_SIZE)
        async with pager:
            async for run in pager:
                count += 1
                if row == "collect":
                    kept.append(run)
                if count % (PAGE_SIZE * SAMPLE_EVERY) == 0:
                    samples.append(current_rss_mib() or 0.0)
    if count != pages * PAGE_SIZE:
        msg = f"listed {count} runs, expected {pages * PAGE_SIZE}"
        raise RuntimeError(msg)
    return {"runs": count, "seconds": time.perf_counter() - started, "rss_mib": samples}


def _child(row: str, pages: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", row, "--pages", str(pages)]
    # Our own interpreter and script, no shell.
    result = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def report(results: dict[str, dict[str, Any]]) -> bool:
    """Print the table; return whether the stream row met the 10 MiB target."""
    rows = []
    for name, data in results.items():
        rss = data["rss_mib"]
        at_50 = rss[1]
        growth = max(rss[1:]) - at_50
        pages_after = (len(rss) - 2) * SAMPLE_EVERY
        rows.append(
            [
                name,
                f"{data['runs']:,}",
                f"{rss[0]:.1f}",
                f"{at_50:.1f}",
                f"{rss[-1]:.1f}",
                f"{growth:.1f}",
                f"{growth / pages_after * 1000:.1f}" if pages_after else "-",
                f"{data['seconds']:.1f}",
            ]
        )
    headers = ["row", "runs", "RSS start", "RSS @50p", "RSS end", "growth", "MiB/1000p", "s"]
    print("RSS in MiB; growth = largest sample after page 50 minus the sample at page 50.")
    print(format_table(headers, rows))
    stream: list[float] = results["stream"]["rss_mib"]
    growth = max(stream[1:]) - stream[1]
    met = growth < 10.0
    print(
        f"\nstream: {growth:.1f} MiB growth after the first 50 pages "
        f"(target < 10 MiB: {'met' if met else 'NOT met'})"
    )
    print("stream samples:", " ".join(f"{value:.0f}" for value in stream))
    return met


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options; unknown ones (for other benchmarks under nox) are ignored."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="200,000 runs instead of 1,000,000")
    parser.add_argument("--collect-pages", type=int, default=100, help="pages for the baseline")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--child", choices=["stream", "collect"], help=argparse.SUPPRESS)
    parser.add_argument("--pages", type=int, default=1000, help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args(argv)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Run each row in its own interpreter and print the table."""
    args = parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(_row(args.child, args.pages))))
        return
    pages = 200 if args.quick else 1000
    results = {
        "stream": _child("stream", pages),
        "collect": _child("collect", max(args.collect_pages, 2 * SAMPLE_EVERY)),
    }
    report(results)
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
