"""Wire-level helpers of the fake: timestamps, ids, JSON bytes, replies and error envelopes."""

from __future__ import annotations

import calendar
import json
import re
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeAlias

import attrs

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

# Where both front ends mount the API (spec 0: the gateway base ends in /api/v1/cloud).
BASE_PATH = "/api/v1/cloud"
NS_PER_SECOND = 1_000_000_000
NS_PER_MS = 1_000_000

# One encoder, built once: compact separators keep bodies small and encoding fast.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)

# Spec 3.8 and 4.2: the API emits RFC 3339 with 0-9 fractional digits and "Z"; clients
# send the same or a numeric offset.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})"
)

# Error types by HTTP status (spec 2.1). 408 and 429 have no documented type; these names
# follow the upstream API the spec says Qoder mirrors.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    501: "feature_not_available",
}

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Content Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def dumps(value: object) -> bytes:
    """Encode `value` as compact UTF-8 JSON."""
    return _ENCODER.encode(value).encode()


def truncate_ns(ns: int, digits: int) -> int:
    """Drop the sub-second precision that `digits` fractional digits cannot show."""
    unit: int = 10 ** (9 - digits)
    return ns - ns % unit


def format_ts(ns: int, digits: int) -> str:
    """Format nanoseconds since the epoch as RFC 3339 UTC with `digits` fractional digits."""
    seconds, fraction = divmod(ns, NS_PER_SECOND)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if digits:
        return f"{text}.{fraction:09d}"[: 20 + digits] + "Z"
    return text + "Z"


def parse_ts(text: str) -> int:
    """Parse an RFC 3339 timestamp into nanoseconds since the epoch; raise ValueError."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    # Constructing a datetime validates the calendar fields (month 13, February 30, ...).
    parts = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    seconds = calendar.timegm(parts.timetuple())
    if offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        seconds -= sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)
    nanos = int(fraction.ljust(9, "0")) if fraction else 0
    return seconds * NS_PER_SECOND + nanos


def to_ns(value: datetime | str) -> int:
    """Convert a datetime (naive means UTC) or an RFC 3339 string to epoch nanoseconds."""
    if isinstance(value, str):
        return parse_ts(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    seconds = calendar.timegm(value.utctimetuple())
    return seconds * NS_PER_SECOND + value.microsecond * 1000


@attrs.define(slots=True)
class Reply:
    """One HTTP response as the fake's two front ends (in-process, loopback) send it."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = attrs.Factory(list)
    # Seconds over which the loopback server trickles the body (Fault.slow_body).
    slow_body: float = 0.0
    # Drop the connection instead of answering (Fault.reset).
    reset: bool = False


# What the front ends call for each request: (method, path, raw query, lower-cased
# headers, body) -> Reply. FakeQoderAPI._handle is the one implementation; the front ends
# take it as a callable, so they need nothing from the module that defines the fake.
Handler: TypeAlias = "Callable[[str, str, str, dict[str, str], bytes], Awaitable[Reply]]"


class ApiError(Exception):
    """A request the API refuses: becomes an error envelope (spec 2.1)."""

    def __init__(self, status: int, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param


def error_type(status: int) -> str:
    """The spec 2.1 `error.type` for an HTTP status (`api_error` for unlisted 5xx)."""
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_body(status: int, message: str, request_id: str, param: str | None = None) -> bytes:
    """Encode the spec 2.1 error envelope."""
    error: dict[str, Any] = {"type": error_type(status), "message": message}
    if param is not None:
        error["param"] = param
    return dumps({"type": "error", "request_id": request_id, "error": error})
