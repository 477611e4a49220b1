"""Structuring hooks for the JSON scalars and timestamps of the models, and RFC 3339 I/O.

The converter (and the fast path, through it) uses these for every field that is not a
model: they check the JSON type with a class test (cattrs' own `str(value)`/`int(value)`
would turn a number into a string where the API broke its contract) and parse timestamps
in one call on the common shapes.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import enum

__all__ = [
    "JSON_NAMES",
    "fail",
    "format_datetime",
    "json_name",
    "open_enum_hook",
    "parse_datetime",
    "scalar_hook",
    "structure_datetime",
    "structure_datetimes",
    "structure_json_object",
    "structure_str_dict",
]

# RFC 3339 with 0-9 fractional digits (spec section 5.9: 0, 5, 6 and 9 all occur).
_FAST_ISO = sys.version_info >= (3, 11)
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)\Z"
)


def parse_datetime(value: str) -> datetime:
    """Parse an RFC 3339 timestamp into an aware datetime; digits past microseconds are dropped.

    Raises ValueError for anything else, including timestamps without an offset, and
    TypeError for a value that is not a str.
    """
    if value.__class__ is not str:
        msg = f"expected an RFC 3339 string, got {json_name(value)}"
        raise TypeError(msg)
    if _FAST_ISO and value[-1:] in "Zz":
        # Fast path: 3.11's C parser takes "Z" and up to six fractional digits; longer
        # fractions (nanoseconds, spec 3.8) are cut to six first.
        short = value
        if 27 < len(value) <= 30 and value[19:20] == "." and value[26:-1].isdigit():
            short = value[:26] + "Z"
        if len(short) <= 27:  # the C parser would also take more digits than RFC 3339 allows
            try:
                return datetime.fromisoformat(short)
            except ValueError:
                pass
    match = _RFC3339.match(value)
    if match is None:
        msg = f"not an RFC 3339 timestamp: {value!r}"
        raise ValueError(msg)
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    if offset in ("Z", "z"):
        tz = timezone.utc
    else:
        sign = -1 if offset[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
    return datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tzinfo=tz
    )


def format_datetime(value: datetime) -> str:
    """An aware datetime as RFC 3339 in UTC with `Z`, fraction digits trimmed of trailing zeros.

    So `.13334Z`, `.165588Z` and whole seconds come back as the API wrote them; nanosecond
    fractions were cut to microseconds on reading (spec 3.8), the models' precision.
    Raises ValueError for a naive datetime, which names no instant.
    """
    if value.tzinfo is not timezone.utc:
        if value.tzinfo is None or value.utcoffset() is None:
            msg = f"cannot write a naive datetime as RFC 3339: {value!r}"
            raise ValueError(msg)
        value = value.astimezone(timezone.utc)
    text = value.replace(tzinfo=None).isoformat()
    return (text.rstrip("0") if value.microsecond else text) + "Z"


def fail(key: str, expected: type, value: object) -> None:
    """Raise the TypeError for JSON `value` at `key` that is not the scalar `expected`."""
    msg = f"{key}: expected a JSON {JSON_NAMES[expected]}, got {json_name(value)}"
    raise TypeError(msg)


JSON_NAMES: dict[type, str] = {str: "string", int: "integer", bool: "boolean"}


def json_name(value: object) -> str:
    """The JSON name of a decoded value's type (object, array, string, ...)."""
    kinds = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer"}
    kinds.update({float: "number", type(None): "null"})
    return kinds.get(type(value), type(value).__name__)


def _make_datetime_hook() -> Any:
    fromisoformat = datetime.fromisoformat

    def structure_datetime(value: Any, _: object) -> datetime:
        # The hot path of every run: one call, and the API's usual shapes (UTC with "Z",
        # 0-9 fraction digits) go straight to 3.11's C parser, nanoseconds cut first
        # (spec 3.8); parse_datetime's regex sees only the rest. 3.10's parser lacks "Z".
        if value.__class__ is str and value[-1:] == "Z" and _FAST_ISO:
            if len(value) < 28:
                try:
                    return fromisoformat(value)
                except ValueError:
                    pass
            elif len(value) < 31 and value[19:20] == ".":
                tail = value[26:-1]
                if tail.isdigit() and tail.isascii():
                    return fromisoformat(value[:26] + "Z")
        return parse_datetime(value)

    return structure_datetime


structure_datetime = _make_datetime_hook()
# Fire times of cron schedules (`upcoming_runs_at`) repeat across a page's deployments: a
# bounded cache of parsed timestamps saves most of their parsing (datetimes are immutable).
_MAX_CACHED = 4096
_fire_times: dict[str, datetime] = {}


def structure_datetimes(value: object, _: object) -> tuple[datetime, ...]:
    """A JSON array of timestamps (`upcoming_runs_at`), through the fire-time cache."""
    if value.__class__ is not list and value.__class__ is not tuple:
        msg = f"expected a JSON array of timestamps, got {json_name(value)}"
        raise TypeError(msg)
    cache = _fire_times
    out = []
    for item in value:
        parsed = cache.get(item) if item.__class__ is str else None
        if parsed is None:
            parsed = structure_datetime(item, None)
            if len(cache) >= _MAX_CACHED:
                cache.clear()
            cache[item] = parsed
        out.append(parsed)
    return tuple(out)


def scalar_hook(kind: type) -> Any:
    """The hook for `str`, `int` or `bool`: the value itself if it is exactly that type."""

    def structure_scalar(value: object, _: object) -> object:
        # A class check: cattrs' default, kind(value), would turn 5 into "5" and JSON true
        # into 1 where the API broke its contract.
        if value.__class__ is not kind:
            msg = f"expected a JSON {JSON_NAMES[kind]}, got {json_name(value)}"
            raise TypeError(msg)
        return value

    return structure_scalar


def open_enum_hook(enum_type: type[enum.Enum]) -> Any:
    """The hook for an enum of _models: any string, known or not, becomes a member."""

    def structure_open_enum(value: object, _: object) -> object:
        # Unknown values become unknown members (see _models): a new status never crashes.
        if value.__class__ is not str:
            msg = f"expected a string for {enum_type.__name__}, got {json_name(value)}"
            raise TypeError(msg)
        return enum_type(value)

    return structure_open_enum


def structure_str_dict(value: object, _: object) -> dict[str, str]:
    """A JSON object of strings (`metadata`), copied."""
    if value.__class__ is not dict:
        msg = f"expected a JSON object of strings, got {json_name(value)}"
        raise TypeError(msg)
    for key, item in value.items():
        if item.__class__ is not str:
            msg = f"{key}: expected a JSON string, got {json_name(item)}"
            raise TypeError(msg)
    return dict(value)


def structure_json_object(value: object, _: object) -> dict[str, object]:
    """Any JSON object (`resources`, `budget`), copied one level deep."""
    # Undocumented shapes (resources, budget) pass through as decoded; the copy keeps the
    # model from sharing the caller's dict.
    if value.__class__ is not dict:
        msg = f"expected a JSON object, got {json_name(value)}"
        raise TypeError(msg)
    return dict(value)
