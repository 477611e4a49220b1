"""A task group for background helper tasks that never swallows or wraps the caller's errors."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from types import TracebackType

    from anyio.abc import TaskGroup

__all__ = ["HelperTaskGroup"]


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
