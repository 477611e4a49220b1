"""The retry policy as a value, and what a response says about retrying it.

How a failed attempt is decided (`next_delay`), in this order:
1. Not retryable (409, other 4xx, `x-should-retry: false`), or no retries left: raise.
2. The server asked for a wait (`retry-after-ms`, else `Retry-After` in seconds or as an
   HTTP date). Longer than `RetryPolicy.max_retry_after`, or reaching past the deadline:
   raise at once with `retry_after` set, never retry earlier than asked (spec 7.6: the
   official SDK now honours any positive value). Otherwise wait exactly that long.
3. No usable hint: exponential back-off with jitter; a back-off that would end past the
   deadline raises at once instead of sleeping in vain.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import random
from typing import TYPE_CHECKING, Final

import attrs

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_RETRY", "RetryPolicy", "retry_after", "should_retry"]


def _non_negative_seconds(
    _instance: object, attribute: attrs.Attribute[float], value: float
) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        msg = f"{attribute.name} must be a number of seconds, got {type(value).__name__}"
        raise TypeError(msg)
    if not (value >= 0 and math.isfinite(value)):  # written so that NaN fails too
        msg = f"{attribute.name} must be a finite number >= 0, got {value!r}"
        raise ValueError(msg)


def _retry_count(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{attribute.name} must be an int, got {type(value).__name__}"
        raise TypeError(msg)
    if value < 0:
        msg = f"{attribute.name} must be >= 0, got {value!r}"
        raise ValueError(msg)


def _fraction(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    _non_negative_seconds(_instance, attribute, value)
    if value > 1:
        msg = f"{attribute.name} must be between 0 and 1, got {value!r}"
        raise ValueError(msg)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How a failed request is retried: how often, how long to back off, which waits to honour.

    `max_retries` (default 2) retries follow the first attempt. Without a server hint the
    n-th retry waits `initial_backoff * 2**n` seconds (0.5 s doubling), capped at
    `max_backoff` (8 s), minus a random part of up to `jitter` of it (0.25), so that many
    callers do not retry in step. A `Retry-After`/`retry-after-ms` of up to
    `max_retry_after` seconds (60) is waited exactly; a longer one raises the error at once
    with `retry_after` set, rather than retrying earlier than the server asked. The
    client's `deadline`, if set, caps every wait as well. Raises TypeError/ValueError for
    values of the wrong kind or range.
    """

    max_retries: int = attrs.field(default=2, validator=_retry_count)
    initial_backoff: float = attrs.field(default=0.5, validator=_non_negative_seconds)
    max_backoff: float = attrs.field(default=8.0, validator=_non_negative_seconds)
    jitter: float = attrs.field(default=0.25, validator=_fraction)
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative_seconds)

    def __attrs_post_init__(self) -> None:
        if self.max_backoff < self.initial_backoff:
            msg = (
                f"max_backoff ({self.max_backoff}) must not be below "
                f"initial_backoff ({self.initial_backoff})"
            )
            raise ValueError(msg)

    @property
    def attempts(self) -> int:
        """How many times a request is tried at most: `max_retries + 1`."""
        return self.max_retries + 1

    def backoff(self, retry: int) -> float:
        """The wait before retry number `retry` (0 for the first) when the server gave none."""
        ceiling = min(self.initial_backoff * 2.0**retry, self.max_backoff)
        # Jitter spreads the retries of many concurrent callers apart.
        return ceiling * (1.0 - self.jitter * random.random())  # noqa: S311


# The client's policy when none is given. Read when a client is created, so a test can
# swap it for one without back-off.
DEFAULT_RETRY: RetryPolicy = RetryPolicy()

_RETRYABLE_STATUSES: Final = frozenset({408, 429})


def should_retry(response: httpx.Response) -> bool:
    """Whether an error response may be retried at all (the policy decides when)."""
    if response.status_code == 409:
        return False
    # The server may say outright whether a retry can help (spec 2.2, SDK behaviour).
    hint = response.headers.get("x-should-retry")
    if hint == "true":
        return True
    if hint == "false":
        return False
    return response.status_code in _RETRYABLE_STATUSES or response.status_code >= 500


def retry_after(headers: httpx.Headers) -> float | None:
    """The server's requested wait in seconds, from retry-after-ms or Retry-After.

    None when absent, unreadable or negative (a date in the past included): such a hint
    gives way to our own back-off.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        seconds = _number(raw_ms)
        if seconds is not None:
            return seconds / 1000
    raw = headers.get("retry-after")
    if raw is None:
        return None
    seconds = _number(raw)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    seconds = (when - dt.datetime.now(dt.timezone.utc)).total_seconds()
    return seconds if seconds >= 0 else None


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value >= 0 and math.isfinite(value) else None
