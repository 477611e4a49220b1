"""The in-process front end: an httpx transport that hands requests straight to the fake."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import httpx

from ._faults import trickle

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from ._wire import Handler


class InProcessTransport(httpx.AsyncBaseTransport):
    """Routes each request to the fake's handler without sockets; the URL's host is ignored."""

    def __init__(self, handle: Handler) -> None:
        self._handle = handle

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer one request the way the loopback server would."""
        content = await request.aread()
        headers = {name.lower(): value for name, value in request.headers.items()}
        url = request.url
        reply = await self._handle(
            request.method, url.path, url.query.decode("ascii"), headers, content
        )
        if reply.reset:
            # What httpx raises when a server closes the connection without answering.
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        if reply.slow_body and reply.body:
            headers_out = [*reply.headers, ("content-length", str(len(reply.body)))]
            return httpx.Response(
                reply.status,
                headers=headers_out,
                stream=_Trickle(reply.body, reply.slow_body),
                request=request,
                extensions={"http_version": b"HTTP/1.1"},
            )
        return httpx.Response(
            reply.status,
            headers=reply.headers,
            content=reply.body,
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )


class _Trickle(httpx.AsyncByteStream):
    """A response body delivered in pieces spread over `seconds` (Fault.slow_body)."""

    def __init__(self, body: bytes, seconds: float) -> None:
        self._body = body
        self._seconds = seconds

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for pause, piece in trickle(self._body, self._seconds):
            await anyio.sleep(pause)
            yield piece
