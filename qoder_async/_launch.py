"""Telling a prefetching consumer that a request is on its way (or can go no further now)."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import anyio

__all__ = ["launched", "on_launch", "source_limiter", "trace"]

# Set by a prefetch task: called once its request is on the wire, or parked behind a limit
# or a back-off hold, so that the consumer can hand out the current page only then
# (see Prefetcher). Without it, a consumer that computes without awaiting would starve
# the task and the request would leave only after the page was consumed.
on_launch: ContextVar[Callable[[], None] | None] = ContextVar("on_launch", default=None)


# Set by a fan-out while it reads its deployments source: the requests the source makes
# through this client (and the prefetch tasks it starts meanwhile, which carry the limiter over, see
# Prefetcher._start)
# then count against the fan-out's concurrency, so that the two together never exceed it.
source_limiter: ContextVar[anyio.CapacityLimiter | None] = ContextVar(
    "source_limiter", default=None
)


def launched() -> None:
    """Tell the waiting consumer, if any, that this task's request can go no further now."""
    callback = on_launch.get()
    if callback is not None:
        callback()


async def trace(event: str, info: Mapping[str, object]) -> None:
    """The httpx `trace` extension: reports `launched()` once the request body is sent."""
    # httpcore reports each step; the request is on the wire once its body is sent.
    if event.endswith("send_request_body.complete"):
        launched()
    elif event.endswith("send_request_body.started"):
        # Each later step would call us again for nothing (6 calls, about 8 µs per request):
        # httpcore reads the extension anew for each step, so dropping it ends them. A retry
        # of this request is then not traced, which is fine: it was reported sent already.
        request = info.get("request")
        extensions = getattr(request, "extensions", None)
        if isinstance(extensions, dict):
            extensions.pop("trace", None)
