"""The client budget (spec 2.2, 7.7): a paced, adaptive request rate shared by a whole client.

How the budget holds. Each kind of request (reads = GET, writes = everything else) has a
`_Bucket` that lets one request go at a time, on a schedule of slots `1 / rate` seconds
apart. A request that goes late by up to `SLACK` keeps the schedule (so wake-up latency
does not eat into the rate); later than that, the schedule restarts from when it went.
So any one second holds at most (1 s + SLACK) * rate + 1 sends. `rate` starts at 95% of the
configured budget: with 50 GET/s that is at most 49 sends in any second, and the
difference absorbs network jitter, so that a server counting over any sliding one-second
window never sees more than the budget. A 429, 503 or reset halves the rate (at most once a second, down to
1/16 of the budget); it then grows back by a tenth of the budget per second, never above
it. `X-RateLimit-Remaining` / `X-RateLimit-Reset` (planned headers, spec 7.7) cap the rate
further until the reset, or pause the bucket until then when nothing remains.

"At least 100 ms between requests when paging in bulk" (spec 2.2) is read per cursor
chain: each Pager and each fan-out stream spaces its own consecutive page requests by
`page_interval` (a `Spacing`), while the rate above bounds the client as a whole.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Final

import anyio
import attrs

if TYPE_CHECKING:
    import httpx

__all__ = ["Budget", "RateLimit", "Spacing"]

# Pace this far under the budget: jitter between leaving the client and arriving at the
# server can otherwise squeeze budget + 1 requests into one second of the server's count.
HEADROOM: Final = 0.95
# How late a request may go and still keep the schedule of slots (see above).
SLACK: Final = 0.01
DECREASE: Final = 0.5
FLOOR_FRACTION: Final = 1 / 16
# Additive increase: the share of the budget regained per second without overload.
RECOVERY_PER_SECOND: Final = 0.1
# One overload episode (many 429s at once) lowers the rate once.
DECREASE_COOLDOWN: Final = 1.0
# Never pause the client longer than this on X-RateLimit-Reset alone.
MAX_HEADER_PAUSE: Final = 60.0
# X-RateLimit-Reset below this is read as seconds from now rather than epoch seconds.
_EPOCH_THRESHOLD: Final = 1e9


def _positive_rate(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        msg = f"{attribute.name} must be a number, got {type(value).__name__}"
        raise TypeError(msg)
    if not (value > 0 and math.isfinite(value)):  # written so that NaN fails too
        msg = f"{attribute.name} must be a finite number > 0, got {value!r}"
        raise ValueError(msg)


def _interval(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        msg = f"{attribute.name} must be a number of seconds, got {type(value).__name__}"
        raise TypeError(msg)
    if not (value >= 0 and math.isfinite(value)):
        msg = f"{attribute.name} must be a finite number >= 0, got {value!r}"
        raise ValueError(msg)


@attrs.frozen(kw_only=True)
class RateLimit:
    """The client's request budget: at most this many reads and writes per second.

    Defaults are the documented budget (spec 2.2, 7.7): 50 GET/s, 20 writes/s, and
    `page_interval` 0.1 s between the consecutive page requests of one listing (one
    Pager, or one deployment in a fan-out). One limiter per client is shared by every
    task, pager, fan-out and `with_options` view. It paces 5% under the budget, halves the
    rate after a 429, 503 or reset and recovers gradually, and honours
    `X-RateLimit-Remaining`/`X-RateLimit-Reset`. Time spent waiting for the budget counts
    against `deadline`, not `timeout`. Raises TypeError/ValueError for bad values.
    """

    reads_per_second: float = attrs.field(default=50.0, validator=_positive_rate)
    writes_per_second: float = attrs.field(default=20.0, validator=_positive_rate)
    page_interval: float = attrs.field(default=0.1, validator=_interval)


class Spacing:
    """Keeps the consecutive requests of one cursor chain `interval` seconds apart.

    A chain has at most one request in flight (see Pager), so this needs no lock.
    """

    __slots__ = ("_last", "interval")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = -math.inf

    def delay(self, now: float) -> float:
        """Seconds to wait at `now` before the chain's next request may go."""
        return self._last + self.interval - now

    def sent(self, now: float) -> None:
        """Record that the chain's request went at `now`."""
        self._last = now


class _Bucket:
    """One kind of request's pace: one at a time, `1 / rate` apart, adapting to overload."""

    def __init__(self, per_second: float) -> None:
        self.limit = per_second * HEADROOM
        self.floor = self.limit * FLOOR_FRACTION
        self._lock = anyio.Lock()
        # When the next request may go: the next slot of the schedule.
        self._next = -math.inf
        # The rate right after the last decrease, and when that was (recovery is lazy).
        self._base = self.limit
        self._since = -math.inf
        # From X-RateLimit-*: a lower rate until `_cap_until`, or a pause until `_paused_until`.
        self._cap = math.inf
        self._cap_until = -math.inf
        self._paused_until = -math.inf

    def rate(self, now: float) -> float:
        """The rate in force at `now`: recovered since the last decrease, capped by headers."""
        rate = min(self.limit, self._base + self.limit * RECOVERY_PER_SECOND * (now - self._since))
        if now < self._cap_until:
            rate = min(rate, self._cap)
        return rate

    def delay(self, now: float) -> float:
        """Seconds to wait at `now` before the next request may go (<= 0: it may go now)."""
        return max(self._next, self._paused_until) - now

    def sent(self, now: float) -> None:
        """Record that a request went at `now`: the next slot is one interval on."""
        self._next = max(self._next, now - SLACK) + 1.0 / self.rate(now)

    def ready(self, now: float) -> bool:
        """Whether a request could go at `now` without waiting."""
        return not self._lock.locked() and self.delay(now) <= 0

    async def acquire(self) -> None:
        """Wait for this bucket's turn, then count a request as sent; FIFO among waiters."""
        async with self._lock:
            # A loop: an overload signal or a header may lower the rate during the sleep.
            while (wait := self.delay(anyio.current_time())) > 0:  # noqa: ASYNC110
                await anyio.sleep(wait)
            self.sent(anyio.current_time())

    def overloaded(self, now: float) -> None:
        """Multiplicative decrease after a 429, 503 or reset (once per episode)."""
        if now - self._since < DECREASE_COOLDOWN:
            return
        self._base = max(self.floor, self.rate(now) * DECREASE)
        self._since = now

    def limit_headers(self, remaining: int, reset_in: float, now: float) -> None:
        """Honour X-RateLimit-Remaining/-Reset: `remaining` requests in `reset_in` seconds."""
        if remaining <= 0:
            self._paused_until = max(self._paused_until, now + reset_in)
        else:
            self._cap = remaining / reset_in
            self._cap_until = now + reset_in


class Budget:
    """A client's rate limiter: a read bucket, a write bucket, and chain spacing."""

    def __init__(self, config: RateLimit) -> None:
        self.config = config
        self.reads = _Bucket(config.reads_per_second)
        self.writes = _Bucket(config.writes_per_second)

    def bucket(self, method: str) -> _Bucket:
        """The bucket a request of this HTTP method counts against."""
        return self.reads if method in ("GET", "HEAD") else self.writes

    def spacing(self) -> Spacing | None:
        """A fresh Spacing for one cursor chain, or None when chains need none."""
        interval = self.config.page_interval
        return Spacing(interval) if interval > 0 else None

    def observe(self, bucket: _Bucket, response: httpx.Response | None, *, reset: bool) -> None:
        """Adapt to a response (or to a connection reset, with `response` None)."""
        now = anyio.current_time()
        if reset or (response is not None and response.status_code in (429, 503)):
            bucket.overloaded(now)
        if response is None:
            return
        headers = response.headers
        raw_remaining = headers.get("x-ratelimit-remaining")
        raw_reset = headers.get("x-ratelimit-reset")
        if raw_remaining is None or raw_reset is None:
            return
        try:
            remaining = int(raw_remaining)
            reset_at = float(raw_reset)
        except ValueError:
            return
        # Spec 7.7 gives epoch seconds; small values are taken as seconds from now, as
        # some gateways send them.
        reset_in = reset_at - time.time() if reset_at >= _EPOCH_THRESHOLD else reset_at
        if 0 < reset_in <= MAX_HEADER_PAUSE:
            bucket.limit_headers(remaining, reset_in, now)
