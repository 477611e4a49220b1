"""The client-wide overload pause: after a 429 or 503, every request of the client waits it out.

A waiting request never waits past its own timeout or deadline: the transport asks
`remaining()` first and, when the pause is longer than it may wait, raises at once the
error that caused the pause (`cause`), with `retry_after` set to what remains.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from qoder_async._errors import APIError

__all__ = ["BackoffGate"]


class BackoffGate:
    """A client-wide pause: once the server signals overload, every request waits it out.

    Shared by all tasks using one client (and its `with_options` copies), so a 429 seen by
    one fan-out worker slows every worker instead of each retrying on its own.
    """

    def __init__(self) -> None:
        self._resume_at = 0.0
        self.cause: APIError | None = None

    def hold(self, delay: float) -> None:
        """Keep requests from starting for `delay` seconds from now (never shortens a hold)."""
        self._resume_at = max(self._resume_at, anyio.current_time() + delay)

    def hold_for(self, error: APIError, delay: float) -> None:
        """Hold for `delay` seconds because of `error`, which becomes the cause if it extends."""
        before = self._resume_at
        self.hold(delay)
        if self._resume_at > before or self.cause is None:
            self.cause = error

    @property
    def holding(self) -> bool:
        """Whether a hold is in force now."""
        return self._resume_at > anyio.current_time()

    def remaining(self) -> float:
        """Seconds until the hold ends (<= 0 when none is in force)."""
        return self._resume_at - anyio.current_time()

    async def wait(self) -> None:
        """Return once no hold is in force; returns at once when none is."""
        # A loop, not an Event: another task may extend the hold while this one sleeps.
        while (remaining := self._resume_at - anyio.current_time()) > 0:  # noqa: ASYNC110
            await anyio.sleep(remaining)
