"""Small hostile HTTP servers for the tests: raw anyio TCP on 127.0.0.1, one job each.

Each server answers what a misbehaving gateway might: bytes trickled slowly, connections
reset, bodies of 100 MB, JSON nested too deep, or 429s past a budget. They speak just
enough HTTP/1.1 for httpx (request head, Content-Length bodies, keep-alive), so that the
faults are real socket behaviour, not mocks. `BudgetServer` also runs as a process for the
budget benchmark: `python -m tests.hostile --reads-per-second 50` prints its base URL.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import struct
import sys
from collections import deque
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import anyio
from anyio.abc import SocketAttribute

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from typing import TypeAlias

    from anyio.abc import SocketStream

    ConnectionHandler: TypeAlias = Callable[[SocketStream], Awaitable[None]]

BASE_PATH = "/api/v1/cloud"
_EXAMPLES = json.loads((Path(__file__).parent / "data" / "spec_examples.json").read_text())
DEPLOYMENT: dict[str, object] = _EXAMPLES["deployment_1"]
RUN: dict[str, object] = _EXAMPLES["deployment_run_1"]
_DISCONNECTS = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)


class Request:
    """A parsed request head (and body, if it had a Content-Length)."""

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        parts = urlsplit(target)
        self.path = parts.path
        self.query = {key: values[-1] for key, values in parse_qs(parts.query).items()}


class Reader:
    """Reads requests one after another from a connection (keep-alive)."""

    def __init__(self, stream: SocketStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def request(self) -> Request | None:
        """The next request, or None once the client closed the connection."""
        while b"\r\n\r\n" not in self.buffer:
            try:
                chunk = await self.stream.receive()
            except _DISCONNECTS:
                return None
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        line, *lines = head.decode("latin-1").split("\r\n")
        method, target, _ = line.split(" ", 2)
        headers = {}
        for item in lines:
            name, _, value = item.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self.buffer += await self.stream.receive()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return Request(method, target, headers, body)


def head(status: int, headers: dict[str, str] | None = None, *, length: int | None = None) -> bytes:
    """A response head; Content-Length `length` unless the headers say otherwise."""
    lines = [f"HTTP/1.1 {status} Status"]
    fields = dict(headers or {})
    if length is not None:
        fields.setdefault("Content-Length", str(length))
    lines += [f"{name}: {value}" for name, value in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def response(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    """A whole response with a Content-Length body."""
    fields = {"Content-Type": "application/json", **(headers or {})}
    return head(status, fields, length=len(body)) + body


async def reset(stream: SocketStream) -> None:
    """Drop the connection with a TCP RST (SO_LINGER 0), as an overloaded gateway may."""
    raw = stream.extra(SocketAttribute.raw_socket)  # noqa: S610 (anyio, not Django)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await stream.aclose()


@asynccontextmanager
async def serve(handler: ConnectionHandler) -> AsyncIterator[str]:
    """Serve `handler` (one call per connection) on 127.0.0.1; yields the base URL."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(SocketAttribute.local_port)  # noqa: S610 (anyio, not Django)

    async def guarded(stream: SocketStream) -> None:
        # A client hanging up is its right: the handler simply ends.
        async with stream:
            with contextlib.suppress(*_DISCONNECTS):
                await handler(stream)

    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, guarded)
        try:
            yield f"http://127.0.0.1:{port}{BASE_PATH}"
        finally:
            group.cancel_scope.cancel()


def each_request(
    answer: Callable[[Request, SocketStream], Awaitable[bool]],
) -> ConnectionHandler:
    """A connection handler calling `answer` per request; it returns False to stop."""

    async def handler(stream: SocketStream) -> None:
        reader = Reader(stream)
        while (request := await reader.request()) is not None:
            if not await answer(request, stream):
                return

    return handler


class Counter:
    """Counts what a hostile server did, for the test to check."""

    def __init__(self) -> None:
        self.requests = 0
        self.bytes_sent = 0


def run_json(index: int, deployment_id: str) -> dict[str, object]:
    """A run in the documented shape (spec example), with its own id and creation time."""
    minute, second = divmod(index, 60)
    hour, minute = divmod(minute, 60)
    return {
        **RUN,
        "id": f"drun_{index:032x}",
        "deployment_id": deployment_id,
        "created_at": f"2026-06-14T{hour % 24:02d}:{minute:02d}:{second:02d}Z",
        "triggered_at": f"2026-06-14T{hour % 24:02d}:{minute:02d}:{second:02d}Z",
    }


class BudgetServer:
    """Serves runs, refusing with a bodyless 429 what is over a budget (spec 2.2).

    At most `per_second` requests are served in any sliding one-second window. Each deployment has `runs` runs, listed newest first with `after_id` cursors. Records
    when each request arrived and whether it was refused.
    """

    def __init__(self, per_second: int, *, runs: int = 10) -> None:
        self.per_second = per_second
        self.runs = runs
        self.accepted: deque[float] = deque()
        self.arrivals: list[tuple[float, bool]] = []
        self.refused = 0

    async def answer(self, request: Request, stream: SocketStream) -> bool:
        """Refuse over the budget, else serve the page asked for."""
        now = anyio.current_time()
        while self.accepted and self.accepted[0] <= now - 1.0:
            self.accepted.popleft()
        if len(self.accepted) >= self.per_second:
            self.refused += 1
            self.arrivals.append((now, False))
            await stream.send(response(429))
            return True
        self.accepted.append(now)
        self.arrivals.append((now, True))
        await stream.send(response(200, json.dumps(self.page(request)).encode()))
        return True

    def page(self, request: Request) -> dict[str, object]:
        """The page of `/deployments/{id}/runs` the query asks for."""
        parts = request.path.split("/")
        deployment_id = parts[-2]
        limit = int(request.query.get("limit", "20"))
        # Newest first: index runs - 1 down to 0.
        indexes = list(range(self.runs - 1, -1, -1))
        after = request.query.get("after_id")
        if after is not None:
            indexes = [i for i in indexes if i < int(after.removeprefix("drun_"), 16)]
        chosen = indexes[:limit]
        data = [run_json(i, deployment_id) for i in chosen]
        return {
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": len(indexes) > limit,
        }

    def busiest_second(self) -> int:
        """The most requests that arrived in any one-second window (refused ones included)."""
        times = [at for at, _ in self.arrivals]
        most, start = 0, 0
        for end, at in enumerate(times):
            while times[start] <= at - 1.0:
                start += 1
            most = max(most, end - start + 1)
        return most


def main() -> None:
    """Run a BudgetServer until killed; prints its base URL, then one JSON line per SIGTERM."""
    parser = argparse.ArgumentParser(description="A loopback server enforcing a request budget.")
    parser.add_argument("--reads-per-second", type=int, default=50)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    server = BudgetServer(args.reads_per_second, runs=args.runs)

    async def run() -> None:
        async with serve(each_request(server.answer)) as url:
            print(url, flush=True)  # noqa: T201 - the benchmark reads it
            # One line of statistics per line read on stdin ("stats"), for the benchmark.
            async for line in _lines():
                if line == "reset":
                    server.arrivals.clear()
                    server.refused = 0
                    continue
                stats = {
                    "requests": len(server.arrivals),
                    "refused": server.refused,
                    "busiest_second": server.busiest_second(),
                }
                print(json.dumps(stats), flush=True)  # noqa: T201

    anyio.run(run)


async def _lines() -> AsyncIterator[str]:
    while True:
        line = await anyio.to_thread.run_sync(sys.stdin.readline)
        if not line:
            return
        yield line.strip()


if __name__ == "__main__":
    main()
