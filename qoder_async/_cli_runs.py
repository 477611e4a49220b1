"""`qoder-async runs ...`: list (one listing or a fan-out), get, wait and watch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qoder_async._cli_deployments import wait_showing_progress, write_pages
from qoder_async._cli_output import RateMeter
from qoder_async._cli_views import RUN_VIEW
from qoder_async._cli_watch import watch

if TYPE_CHECKING:
    import argparse

    from typing_extensions import Self

    from qoder_async._cli_output import Output
    from qoder_async._client import QoderClient
    from qoder_async._models import Deployment
    from qoder_async._pagination import Pager

__all__ = ["COMMANDS"]


async def _list(client: QoderClient, out: Output, args: argparse.Namespace) -> None:
    if args.all_deployments and args.deployment:
        msg = "--all-deployments and --deployment exclude each other"
        raise ValueError(msg)
    if args.all_deployments or len(args.deployment) > 1:
        await _fan_out(client, out, args)
        return
    deployment_id = args.deployment[0] if args.deployment else None
    if deployment_id is not None and args.trigger_type is None and args.has_error is None:
        # The documented route for one deployment (spec 3.9): a 404 for an unknown id, and
        # --since/--until filter on trigger time.
        pager = client.deployments.list_runs(
            deployment_id,
            status=args.status,
            triggered_after=args.since,
            triggered_before=args.until,
            limit=args.limit,
            max_items=args.max_items,
            after_id=args.after_id,
            before_id=args.before_id,
            page=args.page,
        )
    else:
        # Spec 3.11: the only route with trigger_type and has_error; its time filters are
        # on creation time and come from the official SDK only.
        pager = client.deployment_runs.list(
            deployment_id=deployment_id,
            status=args.status,
            trigger_type=args.trigger_type,
            has_error=args.has_error,
            created_at_gte=args.since,
            created_at_lt=args.until,
            limit=args.limit,
            max_items=args.max_items,
            after_id=args.after_id,
            before_id=args.before_id,
            page=args.page,
        )
    await write_pages(pager, out, RUN_VIEW, "runs")


class _Counted:
    """A deployment listing that counts what the fan-out has taken from it."""

    def __init__(self, pager: Pager[Deployment]) -> None:
        self._pager = pager
        self._items = aiter(pager)
        self.count = 0

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Deployment:
        item = await anext(self._items)
        self.count += 1
        return item

    async def aclose(self) -> None:
        await self._pager.aclose()


async def _fan_out(client: QoderClient, out: Output, args: argparse.Namespace) -> None:
    if args.trigger_type is not None or args.has_error is not None:
        msg = "--trigger-type and --has-error need a single listing (one --deployment or none)"
        raise ValueError(msg)
    if args.after_id or args.before_id or args.page:
        msg = "--after-id, --before-id and --page need a single listing (one --deployment)"
        raise ValueError(msg)
    source = _Counted(client.deployments.list()) if args.all_deployments else None
    runs = client.deployments.list_runs_across(
        source if source is not None else args.deployment,
        order=args.order or "arrival",
        # Listing everything, a deployment archived meanwhile is skipped and one that fails
        # does not stop the others (FanOutError at the end); a deployment the caller named
        # must exist, so its 404 stops everything at once.
        on_error="raise_at_end" if args.all_deployments else "raise",
        status=args.status,
        triggered_after=args.since,
        triggered_before=args.until,
        limit=args.limit,
    )
    meter = RateMeter(out.progress, "runs")
    if args.max_items != 0:
        async with runs:
            async for run in runs:
                out.item(run, RUN_VIEW)
                listed = f", {source.count} deployments listed" if source is not None else ""
                meter.add(suffix=listed)
                if not out.human:
                    # Runs of many pages interleave here: flush each, for jq and tail.
                    out.end_page()
                if meter.count == args.max_items:
                    break
    out.close()
    for deployment_id, error in runs.skipped:
        out.note(f"qoder-async: skipped {deployment_id}: {error}")


async def _get(client: QoderClient, out: Output, args: argparse.Namespace) -> None:
    out.show(await client.deployment_runs.get(args.run_id), RUN_VIEW)


async def _wait(client: QoderClient, out: Output, args: argparse.Namespace) -> None:
    call = client.deployment_runs.wait(
        args.run_id, timeout=args.timeout, poll_interval=args.interval
    )
    out.show(await wait_showing_progress(out, f"waiting for {args.run_id}", call), RUN_VIEW)


COMMANDS = {
    "runs.list": _list,
    "runs.get": _get,
    "runs.wait": _wait,
    "runs.watch": watch,
}
