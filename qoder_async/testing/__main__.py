"""Run the fake API as a loopback HTTP server in its own process (for benchmarks and demos).

Prints exactly one line, the base URL, once it is listening, then serves until SIGINT or
SIGTERM. Example::

    python -m qoder_async.testing --port 0 --latency 0.02 --seed 0
        --deployments 1000 --runs-per-deployment 40
"""

from __future__ import annotations

import argparse
import signal
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import anyio

from ._api import FakeQoderAPI

if TYPE_CHECKING:
    from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m qoder_async.testing",
        description="Serve a fake Qoder Deployments API over loopback HTTP.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--deployments", type=int, default=10, help="deployments to seed")
    parser.add_argument("--runs-per-deployment", type=int, default=5, help="runs per deployment")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    parser.add_argument("--pat", default="pt-fake-token", help="the accepted bearer token")
    parser.add_argument(
        "--now",
        type=_instant,
        default=None,
        help="start of the fake clock: an RFC 3339 time or 'now' (default: now)",
    )
    parser.add_argument(
        "--backend", choices=("asyncio", "trio"), default="asyncio", help="event loop to run on"
    )
    return parser


def _instant(text: str) -> datetime:
    if text == "now":
        return datetime.now(timezone.utc)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        msg = f"--now needs a time zone, e.g. {text}Z"
        raise argparse.ArgumentTypeError(msg)
    return moment


async def _serve(args: argparse.Namespace) -> None:
    # Listen for signals first, so that one arriving while seeding still ends us cleanly.
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        api = FakeQoderAPI(pat=args.pat, seed=args.seed, now=args.now)
        api.latency = args.latency
        api.record_requests = False  # nobody can read them, and they would pile up
        api.seed(deployments=args.deployments, runs_per_deployment=args.runs_per_deployment)
        async with api.serve(host=args.host, port=args.port) as base_url:
            sys.stdout.write(base_url + "\n")
            sys.stdout.flush()
            async for _ in signals:
                return  # leaving the context closes the listener and every connection


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and serve until a signal arrives."""
    args = _parser().parse_args(argv)
    anyio.run(_serve, args, backend=args.backend)


if __name__ == "__main__":
    main()
