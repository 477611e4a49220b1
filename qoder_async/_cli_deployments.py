"""`qoder-async deployments ...`: one function per command, each a thin call into the SDK."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from qoder_async._cli_fields import deployment_fields
from qoder_async._cli_output import RateMeter
from qoder_async._cli_views import DEPLOYMENT_VIEW, RUN_VIEW
from qoder_async._taskgroup import HelperTaskGroup

if TYPE_CHECKING:
    import argparse
    from collections.abc import Awaitable

    from qoder_async._cli_output import Output
    from qoder_async._cli_views import View
    from qoder_async._client import QoderClient
    from qoder_async._pagination import Pager

__all__ = ["COMMANDS", "wait_showing_progress", "write_pages"]

T = TypeVar("T")


async def write_pages(pager: Pager[Any], out: Output, view: View[Any], unit: str) -> None:
    """Write a listing page by page (flushed after each), with a rate on stderr."""
    meter = RateMeter(out.progress, unit)
    async with pager:
        async for page in pager.pages():
            for item in page.data:
                out.item(item, view)
            meter.add(len(page.data))
            out.end_page()
    out.close()


async def wait_showing_progress(out: Output, label: str, call: Awaitable[T]) -> T:
    """Await `call`, showing `label` and the time spent on stderr (when it is a terminal)."""
    if not out.progress.enabled:
        return await call

    async def tick() -> None:
        started = time.monotonic()
        while True:
            out.progress.show(f"{label} ({time.monotonic() - started:.0f}s)", force=True)
            await anyio.sleep(1)

    async with HelperTaskGroup() as group:
        group.start_soon(tick)
        try:
            return await call
        finally:
            out.progress.clear()


async def _list(client: QoderClient, out: Output, args: argparse.Namespace) -> None:
    pager = client.deployments.list(
        status=args.status,
        include_archived=args.include_archived,
        agent_id=args.agent,
        created_at_gte=args.created_after,
        created_at_lte=args.created_before,
        limit=args.limit,
        max_items=args.max_items,
        after_id=args.after_id,
        before_id=args.before_id,
        page=args.page,
    )
    await write_pages(pager, out, DEPLOYMENT_VIEW, "deployments")


async def _get(client: QoderClient, out: Output, args: argparse.Namespace) -> None:
    out.show(await client.deployments.get(args.deployment_id), DEPLOYMENT_VIEW)


async def _create(client: QoderClient, out: Output, args: argparse.Namespace) -> None:
    fields = deployment_fields(args, update=False)
    created = await client.deployments.create(**fields, idempotency_key=args.idempotency_key)
    out.show(created, DEPLOYMENT_VIEW)


async def _update(client: QoderClient, out: Output, args: argparse.Namespace) -> None:
    fields = deployment_fields(args, update=True)
    updated = await client.deployments.update(
        args.deployment_id, **fields, idempotency_key=args.idempotency_key
    )
    out.show(updated, DEPLOYMENT_VIEW)


async def _pause(client: QoderClient, out: Output, args: argparse.Namespace) -> None:
    deployment = await client.deployments.pause(
        args.deployment_id, idempotency_key=args.idempotency_key
    )
    out.show(deployment, DEPLOYMENT_VIEW)


async def _unpause(client: QoderClient, out: Output, args: argparse.Namespace) -> None:
    deployment = await client.deployments.unpause(
        args.deployment_id, idempotency_key=args.idempotency_key
    )
    out.show(deployment, DEPLOYMENT_VIEW)


async def _archive(client: QoderClient, out: Output, args: argparse.Namespace) -> None:
    deployment = await client.deployments.archive(
        args.deployment_id, idempotency_key=args.idempotency_key
    )
    out.show(deployment, DEPLOYMENT_VIEW)


async def _run(client: QoderClient, out: Output, args: argparse.Namespace) -> None:
    call = client.deployments.run(
        args.deployment_id,
        wait=args.wait,
        timeout=args.timeout,
        poll_interval=args.interval,
        idempotency_key=args.idempotency_key,
    )
    label = f"waiting for the run of {args.deployment_id}" if args.wait else "triggering"
    out.show(await wait_showing_progress(out, label, call), RUN_VIEW)


COMMANDS = {
    "deployments.list": _list,
    "deployments.get": _get,
    "deployments.create": _create,
    "deployments.update": _update,
    "deployments.pause": _pause,
    "deployments.unpause": _unpause,
    "deployments.archive": _archive,
    "deployments.run": _run,
}
