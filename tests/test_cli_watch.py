"""`runs watch` in-process: new runs printed once, late status matches, cheap polls."""

from __future__ import annotations

import argparse
import io
import json
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from qoder_async import NotFoundError
from qoder_async._cli_output import Output
from qoder_async._cli_watch import watch
from tests.helpers import connect

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from contextlib import AbstractAsyncContextManager

    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

    from qoder_async import QoderClient
    from qoder_async.testing import FakeQoderAPI

pytestmark = pytest.mark.anyio


class _Lines(io.StringIO):
    """A stdout that hands every complete line to a memory stream as it is written."""

    def __init__(self, send: MemoryObjectSendStream[str]) -> None:
        super().__init__()
        self._send = send
        self._partial = ""

    def write(self, text: str, /) -> int:
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            self._send.send_nowait(line)
        return len(text)


def _args(**overrides: Any) -> argparse.Namespace:
    options: dict[str, Any] = {
        "deployment": [],
        "status": None,
        "trigger_type": None,
        "has_error": None,
        "interval": 0.1,
    }
    options.update(overrides)
    return argparse.Namespace(**options)


def _watching(
    client: QoderClient, args: argparse.Namespace
) -> AbstractAsyncContextManager[MemoryObjectReceiveStream[str]]:
    """Run `watch` with --json in the background; yield the lines it prints once it is ready."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def context() -> AsyncIterator[MemoryObjectReceiveStream[str]]:
        send, receive = anyio.create_memory_object_stream[str](100)
        out = Output(json_lines=True, stdout=_Lines(send), stderr=io.StringIO())
        ready = anyio.Event()
        with send, receive:
            async with anyio.create_task_group() as group:
                group.start_soon(lambda: watch(client, out, args, ready=ready))
                with anyio.fail_after(10):
                    await ready.wait()
                yield receive
                group.cancel_scope.cancel()

    return context()


async def _next_id(lines: MemoryObjectReceiveStream[str]) -> str:
    with anyio.fail_after(10):
        run_id: str = json.loads(await lines.receive())["id"]
    return run_id


async def test_a_run_that_fails_after_newer_runs_is_still_printed(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """With --status failed, a run that fails after a newer one failed is printed, each once."""
    deployment = api.add_deployment()["id"]
    api.add_run(deployment)  # existed before the watch: never printed
    async with _watching(client, _args(status="failed")) as lines:
        older = api.add_run(deployment, status="running")["id"]
        api.add_run(deployment, status="completed")
        newer = api.add_run(deployment, status="failed")["id"]
        assert await _next_id(lines) == newer
        api.complete_run(older, "failed")
        assert await _next_id(lines) == older
        last = api.add_run(deployment, status="failed")["id"]
        assert await _next_id(lines) == last  # nothing printed twice in between


async def test_polls_ask_only_for_runs_after_the_cursor(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """Each poll is one GET with before_id set to the newest run seen: new pages only."""
    deployment = api.add_deployment()["id"]
    seeded = api.add_run(deployment)["id"]
    async with _watching(client, _args(deployment=[deployment])) as lines:
        first = api.add_run(deployment)["id"]
        assert await _next_id(lines) == first
        second = api.add_run(deployment)["id"]
        assert await _next_id(lines) == second
    polls = [r for r in api.requests if r.path == "/deployment_runs"]
    assert polls[0].query == {"deployment_id": deployment, "limit": "1"}
    cursors = [poll.query.get("before_id") for poll in polls[1:]]
    assert cursors[0] == seeded
    # The cursor only moves forward, to each run once it has been printed.
    order = [seeded, first, second]
    assert cursors == sorted(cursors, key=order.index)
    assert first in cursors
    assert all(poll.query["deployment_id"] == deployment for poll in polls)


async def test_several_deployments_are_filtered_here(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """With several --deployment ids, one unfiltered listing is polled and others' runs dropped."""
    one, two, other = (api.add_deployment()["id"] for _ in range(3))
    async with _watching(client, _args(deployment=[one, two])) as lines:
        api.add_run(other)
        wanted = api.add_run(two)["id"]
        assert await _next_id(lines) == wanted
    polls = [r for r in api.requests if r.path == "/deployment_runs"]
    assert all("deployment_id" not in poll.query for poll in polls)


async def test_watching_from_an_empty_account(api: FakeQoderAPI, client: QoderClient) -> None:
    """With no runs at all when it starts, the first runs to appear are printed oldest first."""
    deployment = api.add_deployment()["id"]
    async with _watching(client, _args()) as lines:
        first = api.add_run(deployment)["id"]
        assert await _next_id(lines) == first
        second = api.add_run(deployment)["id"]
        assert await _next_id(lines) == second


async def test_an_unknown_deployment_is_a_404_not_an_endless_silence(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """A --deployment that does not exist raises NotFoundError before any poll."""
    out = Output(json_lines=True, stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(NotFoundError):
        await watch(client, out, _args(deployment=["dep_" + "0" * 32]))
    assert not any(r.path == "/deployment_runs" for r in api.requests)


async def test_an_interval_under_100ms_is_refused(api: FakeQoderAPI) -> None:
    """--interval below the 100 ms of the client budget raises ValueError before any request."""
    async with connect(api) as client:
        out = Output(json_lines=True, stdout=io.StringIO(), stderr=io.StringIO())
        with pytest.raises(ValueError, match="at least 100ms"):
            await watch(client, out, _args(interval=0.05))
    assert api.requests == []
