"""Where background helper tasks (prefetches) run: a scoped task group, or a client's own host.

Helpers never raise (they hand their errors over as values) and never wait on a consumer, so
either place only has to cancel them and wait for them when it closes.
- `HelperTaskGroup`: an anyio task group for the duration of an `async with` block.
- `BackgroundHost`: for a client used without `async with`. On first need, from async code,
  it starts one long-lived host task (asyncio: a task of the running loop; trio: a system
  task), which owns an anyio task group where the helpers run. The client's `aclose()`
  cancels the host and waits for it and its helpers; when the event loop ends first, the
  host is cancelled with every other task and ends quietly. A helper started before the
  host task got to open its group is queued and started there, in its starter's context.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from typing import TYPE_CHECKING, Any, TypeAlias

import anyio

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from types import TracebackType

    from anyio.abc import TaskGroup

__all__ = ["BackgroundHost", "HelperTaskGroup", "Spawner", "running_library"]

Helper: TypeAlias = "Callable[..., Coroutine[Any, Any, None]]"
# What a helper is started in: both raise RuntimeError once no task can be started there.
Spawner: TypeAlias = "TaskGroup | BackgroundHost"


class HelperTaskGroup:
    """Hosts short-lived helper tasks (prefetches) for the duration of an `async with` block.

    Leaving the block cancels the helpers and waits for them. The block's own exception is
    never handed to the task group, because anyio would wrap it in an ExceptionGroup: it
    propagates as itself. Helpers must not raise; they hand their errors over as values.
    """

    def __init__(self) -> None:
        self._group: TaskGroup | None = None

    @property
    def group(self) -> TaskGroup | None:
        """The open task group, or None outside the block."""
        return self._group

    async def __aenter__(self) -> TaskGroup:
        if self._group is not None:
            msg = "this object can be entered only once at a time"
            raise RuntimeError(msg)
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        return group

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        group, self._group = self._group, None
        assert group is not None  # noqa: S101 - set by __aenter__
        group.cancel_scope.cancel()
        await group.__aexit__(None, None, None)


def running_library() -> str | None:
    """The name of the async library running the caller ("asyncio" or "trio"), else None.

    Read from the libraries themselves rather than through sniffio, which a plain install
    of this package need not have: trio can only be running if it was imported.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return "asyncio"
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            pass
        else:
            return "trio"
    return None


class BackgroundHost:
    """The helper tasks of a client used without `async with`, in a host task of their own.

    `spawner()` gives somewhere to start a helper (None outside async code and after
    `aclose()`); `aclose()` cancels the host and waits until it and its helpers have ended.
    """

    def __init__(self) -> None:
        self._group: TaskGroup | None = None
        # Helpers started before the host task opened its group, with their contexts.
        self._queued: list[tuple[contextvars.Context, Helper, tuple[object, ...]]] = []
        self._scope: anyio.CancelScope | None = None
        self._ended: anyio.Event | None = None
        # The loop (asyncio) or run (trio) the host lives in, and its asyncio task: a strong
        # reference, or the loop could drop the task while it waits.
        self._home: object = None
        self._task: asyncio.Task[None] | None = None
        self._alive = False
        self._closed = False

    def spawner(self) -> Spawner | None:
        """Where to start a helper now, starting the host if needed; None if impossible."""
        if self._closed:
            return None
        if self._group is not None:
            return self._group
        if not self._alive and not self._launch():
            return None
        return self

    def start_soon(self, func: Helper, *args: object) -> None:
        """Start `func(*args)` in the host's task group (queued until the host has opened it)."""
        group = self._group
        if group is not None:
            group.start_soon(func, *args)
            return
        if self._closed or not self._alive:
            msg = "the client's background tasks have ended"
            raise RuntimeError(msg)
        self._queued.append((contextvars.copy_context(), func, args))

    def cancel(self) -> None:
        """Cancel the host and every helper, and accept no more; idempotent."""
        self._closed = True
        if self._scope is not None:
            self._scope.cancel()

    async def aclose(self) -> None:
        """Cancel the host and every helper, and wait for them to end; idempotent."""
        self.cancel()
        if not self._alive or self._ended is None:
            return
        if self._home is not _home(running_library()):
            return  # its event loop is gone or is another one: nothing there can be awaited
        # Shielded: even a caller being cancelled leaves no helper running behind it.
        with anyio.CancelScope(shield=True):
            await self._ended.wait()

    def _launch(self) -> bool:
        library = running_library()
        if library is None:
            return False
        self._scope = anyio.CancelScope()
        self._ended = anyio.Event()
        self._home = _home(library)
        if library == "asyncio":
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._host(), name="qoder_async background host")
        else:
            import trio  # running, hence importable

            # A system task: cancelled, quietly, when the run's main task ends.
            trio.lowlevel.spawn_system_task(self._host, name="qoder_async background host")
        self._alive = True
        return True

    async def _host(self) -> None:
        assert self._scope is not None  # noqa: S101 - set by _launch
        assert self._ended is not None  # noqa: S101 - set by _launch
        try:
            with self._scope:
                async with anyio.create_task_group() as group:
                    self._group = group
                    queued, self._queued = self._queued, []
                    for context, func, args in queued:
                        # In its starter's context, as a direct start_soon would have been.
                        context.run(_start_soon, group, func, args)
                    await anyio.sleep_forever()
        finally:
            self._group = None
            self._alive = False
            self._task = None
            self._ended.set()


def _start_soon(group: TaskGroup, func: Helper, args: tuple[object, ...]) -> None:
    group.start_soon(func, *args)


def _home(library: str | None) -> object:
    """The running asyncio loop or trio run (its token), to tell event loops apart."""
    if library == "asyncio":
        return asyncio.get_running_loop()
    if library == "trio":
        import trio  # running, hence importable

        return trio.lowlevel.current_trio_token()
    return None
