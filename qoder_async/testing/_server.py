"""The loopback front end: a small HTTP/1.1 server on anyio, for asyncio and trio alike.

It implements what HTTP clients such as httpx need from a server: request line and
headers, Content-Length or chunked bodies, keep-alive with `Connection: close` honoured,
and responses with Content-Length. One task per connection; a client that goes away
mid-request is dropped quietly.
"""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import unquote

import anyio
from anyio.abc import SocketAttribute

from ._faults import trickle
from ._wire import BASE_PATH, REASONS, Reply, error_body

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from anyio.abc import SocketStream

    from ._wire import Handler

MAX_HEAD = 64 * 1024
# Spec 1: the global site accepts bodies up to 32 MB.
MAX_BODY = 32 * 1024 * 1024
# How long a closing connection waits for the client to read the last response.
_LINGER = 2.0
_DISCONNECTS = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)


class _HttpError(Exception):
    """A request the server cannot parse; answered with `status` and a closed connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@asynccontextmanager
async def serve(handle: Handler, host: str, port: int) -> AsyncIterator[str]:
    """Listen on host:port (0 = any free port) and yield the base URL until exit."""
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    bound = listener.extra(SocketAttribute.local_port)  # noqa: S610 (anyio, not Django)
    netloc = f"[{host}]:{bound}" if ":" in host else f"{host}:{bound}"
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, partial(_connection, handle))
        try:
            yield f"http://{netloc}{BASE_PATH}"
        finally:
            group.cancel_scope.cancel()


async def _connection(handle: Handler, stream: SocketStream) -> None:
    """Serve one connection's requests in turn until it closes (one task per connection)."""
    reader = _Reader(stream)
    try:
        while True:
            try:
                request = await reader.request()
            except _HttpError as exc:
                body = error_body(exc.status, exc.message, str(uuid.uuid4()))
                reply = Reply(exc.status, body, [("content-type", "application/json")])
                await stream.send(_head(reply, keep_alive=False) + body)
                await _linger(stream)
                return
            if request is None:
                return
            method, path, query, headers, content, keep_alive = request
            try:
                reply = await handle(method, path, query, headers, content)
            except Exception as exc:  # a bug in the fake must not take the server down
                body = error_body(500, f"The fake API failed: {exc!r}", str(uuid.uuid4()))
                reply = Reply(500, body, [("content-type", "application/json")])
            if reply.reset:
                return  # Fault.reset: hang up without a word
            await _send(stream, reply, keep_alive, with_body=method != "HEAD")
            if not keep_alive:
                await _linger(stream)
                return
    except _DISCONNECTS:
        pass  # the client went away; nothing to answer
    finally:
        with anyio.CancelScope(shield=True):
            await stream.aclose()


async def _send(stream: SocketStream, reply: Reply, keep_alive: bool, *, with_body: bool) -> None:
    head = _head(reply, keep_alive)
    if not with_body:
        await stream.send(head)  # RFC 9110 section 9.3.2: a HEAD response has no body
    elif reply.slow_body and reply.body:
        await stream.send(head)
        for pause, piece in trickle(reply.body, reply.slow_body):
            await anyio.sleep(pause)
            await stream.send(piece)
    else:
        await stream.send(head + reply.body)


async def _linger(stream: SocketStream) -> None:
    """Half-close, then wait for the client to finish reading and hang up.

    Closing at once could discard a response still in the send buffer (asyncio aborts
    the transport on close).
    """
    with anyio.move_on_after(_LINGER):
        await stream.send_eof()
        while await stream.receive():
            pass


def _head(reply: Reply, keep_alive: bool) -> bytes:
    lines = [
        f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Unknown')}\r\n"
        f"content-length: {len(reply.body)}\r\n"
    ]
    lines.extend(f"{name}: {value}\r\n" for name, value in reply.headers)
    if not keep_alive:
        lines.append("connection: close\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


class _Reader:
    """Buffered reads of requests from one connection."""

    def __init__(self, stream: SocketStream) -> None:
        self._stream = stream
        self._buffer = b""

    async def _fill(self) -> bool:
        try:
            chunk = await self._stream.receive()
        except anyio.EndOfStream:
            return False
        self._buffer += chunk
        return True

    async def _until(self, marker: bytes, limit: int) -> bytes | None:
        start = 0
        while True:
            end = self._buffer.find(marker, start)
            if end >= 0:
                found, self._buffer = self._buffer[:end], self._buffer[end + len(marker) :]
                return found
            if len(self._buffer) > limit:
                raise _HttpError(431, "Request head too large.")
            start = max(0, len(self._buffer) - len(marker) + 1)
            if not await self._fill():
                return None

    async def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not await self._fill():
                raise anyio.EndOfStream
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    async def request(self) -> tuple[str, str, str, dict[str, str], bytes, bool] | None:
        """The next request (method, path, query, headers, body, keep-alive), None at EOF."""
        head = await self._until(b"\r\n\r\n", MAX_HEAD)
        if head is None:
            return None  # clean EOF between requests, or a client that left mid-head
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _HttpError(400, "Malformed request line.")
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise _HttpError(400, "Malformed header line.")
            name, value = name.lower(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await self._chunked()
        else:
            length = headers.get("content-length", "0")
            if not length.isdigit():
                raise _HttpError(400, "Invalid Content-Length.")
            if int(length) > MAX_BODY:
                raise _HttpError(413, "Request body too large.")
            body = await self._exactly(int(length)) if length != "0" else b""
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.0":
            keep_alive = "keep-alive" in connection
        else:
            keep_alive = "close" not in connection
        if target.startswith(("http://", "https://")):
            # Absolute form (RFC 9112 section 3.2.2): keep only the path and query.
            target = "/" + target.split("/", 3)[3] if target.count("/") >= 3 else "/"
        path, _, query = target.partition("?")
        return method, unquote(path), query, headers, body, keep_alive

    async def _chunked(self) -> bytes:
        body = bytearray()
        while True:
            line = await self._until(b"\r\n", MAX_HEAD)
            if line is None:
                raise anyio.EndOfStream
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _HttpError(400, "Malformed chunk size.") from None
            if size == 0:
                # Skip trailers up to the blank line that ends the message.
                while await self._until(b"\r\n", MAX_HEAD):
                    pass
                return bytes(body)
            if len(body) + size > MAX_BODY:
                raise _HttpError(413, "Request body too large.")
            body += await self._exactly(size)
            await self._exactly(2)  # the CRLF after each chunk
