"""A client used without `async with` prefetches in its own background host, and cleans up.

The subprocess tests run a small program under `python -X dev -W error` on each backend,
so that any warning (a task destroyed while pending, an unclosed socket, a coroutine never
awaited) fails them, including those printed while the interpreter shuts down.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import httpx
import pytest
from anyio import wait_all_tasks_blocked

from qoder_async import ClientClosedError, QoderClient
from qoder_async._taskgroup import BackgroundHost, running_library
from qoder_async.testing import FakeQoderAPI
from tests.helpers import BASE_URL, connect, deployment_with_runs, hang_after, task_count

CHILD = textwrap.dedent(
    """
    import sys

    import anyio
    import httpx
    from anyio import wait_all_tasks_blocked

    from qoder_async import QoderClient
    from qoder_async.testing import FakeQoderAPI
    from tests.helpers import deployment_with_runs, hang_after, task_count

    BACKEND, MODE = sys.argv[1], sys.argv[2]


    async def listing(client: QoderClient, deployment_id: str, api: FakeQoderAPI) -> None:
        async for _ in client.deployments.list_runs(deployment_id, limit=10):
            break  # a bare loop left early: at most the one request ahead stays
        await wait_all_tasks_blocked()
        print("in flight", api.in_flight, "requests", len(api.requests))


    async def main() -> None:
        api = FakeQoderAPI(pat="pt-test")
        deployment_id, _ = deployment_with_runs(api, 40)
        hang_after(api, 1)  # page 1 is answered; the request for page 2 hangs
        before = task_count()
        http = httpx.AsyncClient(transport=api.transport())  # in process: no sockets
        client = QoderClient(pat=api.pat, http_client=http)
        await listing(client, deployment_id, api)
        if MODE == "loop-ends":
            print("loop ends")  # with the client never closed
            return
        await client.aclose()
        await http.aclose()
        await wait_all_tasks_blocked()
        print("after aclose in flight", api.in_flight, "tasks", task_count() - before)
        # Over loopback HTTP, with a pool of the client's own that aclose() must close.
        api.faults.clear()
        hang_after(api, 1)
        async with api.serve() as base_url:
            client = QoderClient(pat=api.pat, base_url=base_url)
            await listing(client, deployment_id, api)
            await client.aclose()
            pool = client._transport.http_client._transport._pool
            print("after aclose connections", len(pool.connections))
        await wait_all_tasks_blocked()
        print("after the server tasks", task_count() - before)


    anyio.run(main, backend=BACKEND)
    print("exited")
    """
)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("mode", ["aclose", "loop-ends"])
def test_a_client_without_async_with_prefetches_and_leaves_nothing_behind(
    backend: str, mode: str
) -> None:
    """Under -X dev -W error, a client never entered prefetches one page and ends cleanly."""
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "-c", CHILD, backend, mode],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parent.parent,
        check=False,
    )
    # asyncio's debug mode also logs steps slower than 100 ms: a timing note on a busy
    # machine, not a warning, and not about us.
    stderr = [line for line in result.stderr.splitlines() if not line.startswith("Executing <")]
    assert stderr == []
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    # Page 1 was handed out and page 2's request is on its way: one request ahead, no more.
    assert lines[0] == "in flight 1 requests 2"
    if mode == "aclose":
        assert lines[1:] == [
            "after aclose in flight 0 tasks 0",
            "in flight 1 requests 4",
            "after aclose connections 0",
            "after the server tasks 0",
            "exited",
        ]
    else:
        assert lines[1:] == ["loop ends", "exited"]


@pytest.mark.anyio
async def test_the_host_starts_on_first_need_and_ends_with_the_client() -> None:
    """No task exists before the first listing; aclose() ends the host and its prefetches."""
    api = FakeQoderAPI(pat="pt-test")
    deployment_id, ids = deployment_with_runs(api, 25)
    async with httpx.AsyncClient(transport=api.transport()) as http:
        before = task_count()
        client = QoderClient(pat=api.pat, base_url=BASE_URL, http_client=http)
        await client.deployments.get(deployment_id)
        assert task_count() == before  # plain requests start nothing
        assert [run.id async for run in client.deployments.list_runs(deployment_id)] == ids
        assert task_count() == before + 1  # the host, idle
        await client.aclose()
        assert task_count() == before
        await client.aclose()  # idempotent


@pytest.mark.anyio
async def test_a_view_prefetches_in_the_clients_host() -> None:
    """A with_options view of a client never entered prefetches; closing the view does nothing."""
    api = FakeQoderAPI(pat="pt-test")
    deployment_id, _ = deployment_with_runs(api, 40)
    hang_after(api, 1)
    async with connect(api, enter=False) as client:
        view = client.with_options(max_retries=0)
        async for _ in view.deployments.list_runs(deployment_id, limit=10):
            break
        await wait_all_tasks_blocked()
        assert api.in_flight == 1
        await view.aclose()
        await wait_all_tasks_blocked()
        assert api.in_flight == 1  # the view owns nothing
    assert api.in_flight == 0


@pytest.mark.anyio
async def test_aclose_while_a_consumer_waits_raises_client_closed_there() -> None:
    """A consumer waiting for a page when the client closes gets ClientClosedError, not a hang."""
    api = FakeQoderAPI(pat="pt-test")
    deployment_id, _ = deployment_with_runs(api, 40)
    hang_after(api, 1)
    errors: list[BaseException] = []
    async with connect(api, enter=False) as client:

        async def consume() -> None:
            try:
                async for _ in client.deployments.list_runs(deployment_id, limit=10):
                    pass
            except ClientClosedError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as group:
            group.start_soon(consume)
            await wait_all_tasks_blocked()
            assert api.in_flight == 1
            await client.aclose()
    assert len(errors) == 1
    assert api.in_flight == 0


@pytest.mark.anyio
async def test_running_library_names_the_backend(anyio_backend: tuple[str, object]) -> None:
    """The host tells asyncio from trio without sniffio."""
    assert running_library() == anyio_backend[0]


def test_outside_async_code_there_is_no_host() -> None:
    """From synchronous code no host can start, and nothing is queued."""
    host = BackgroundHost()
    assert running_library() is None
    assert host.spawner() is None


@pytest.mark.anyio
async def test_a_closed_host_refuses_new_work() -> None:
    """After aclose() the host gives no spawner, and a late start_soon raises RuntimeError."""
    host = BackgroundHost()
    spawner = host.spawner()
    assert spawner is host  # its task group is not open yet: work would be queued
    await host.aclose()
    assert host.spawner() is None

    async def never() -> None:
        raise AssertionError  # pragma: no cover

    with pytest.raises(RuntimeError, match="ended"):
        host.start_soon(never)
