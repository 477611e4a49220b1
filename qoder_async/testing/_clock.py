"""Time and identity for the fake: a virtual clock and time-ordered ids."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ._wire import NS_PER_MS

if TYPE_CHECKING:
    import random


class Clock:
    """A clock that starts at a fixed instant and advances with real elapsed time.

    A fixed start keeps seeded data reproducible; advancing with real time keeps `now`
    meaningful across a test. Readings strictly increase, so two records never share an
    instant unless a caller truncates them.
    """

    def __init__(self, start_ns: int) -> None:
        self._start_ns = start_ns
        self._origin = time.monotonic_ns()
        self._last = start_ns - 1

    def now_ns(self) -> int:
        """Return the current virtual time in nanoseconds since the epoch."""
        now = self._start_ns + time.monotonic_ns() - self._origin
        if now <= self._last:
            now = self._last + 1
        self._last = now
        return now

    @property
    def start_ns(self) -> int:
        """The instant the clock started at."""
        return self._start_ns


class IdFactory:
    """Makes ids like the API's: a prefix and a UUIDv7 in 32 lower-case hex digits.

    Spec 4.1 examples (`dep_019ec55a2b687b3f...`) are UUIDv7: a 48-bit millisecond
    timestamp leads, so ids sort by creation time. Ids made for the same millisecond are
    kept increasing (RFC 9562 section 6.2 allows a monotonic counter), so ties between
    equal timestamps break in creation order.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._last: dict[str, int] = {}

    def new(self, prefix: str, at_ns: int) -> str:
        """Return a fresh id for a record created at `at_ns`."""
        ms = at_ns // NS_PER_MS
        value = (
            (ms & 0xFFFF_FFFF_FFFF) << 80
            | 0x7 << 76
            | self._rng.getrandbits(12) << 64
            | 0b10 << 62
            | self._rng.getrandbits(62)
        )
        last = self._last.get(prefix)
        if last is not None and last >> 80 == value >> 80 and value <= last:
            value = last + 1
        self._last[prefix] = value
        return f"{prefix}_{value:032x}"
