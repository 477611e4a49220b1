"""Argument types of the `qoder-async` command: durations, instants, counts, KEY=VALUE, JSON.

Each raises argparse.ArgumentTypeError, which argparse turns into a usage error (exit 2).
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import datetime, timedelta, timezone

__all__ = [
    "count",
    "json_object",
    "key_value",
    "natural",
    "parse_duration",
    "parse_instant",
]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h|d|w)?\Z")


def parse_duration(text: str) -> float:
    """Seconds from `90`, `1.5`, `250ms`, `90s`, `5m`, `2h`, `1d` or `1w`; must be positive."""
    match = _DURATION.match(text.strip())
    if match is None:
        msg = f"not a duration: {text!r} (e.g. 30s, 5m, 2h, 1d)"
        raise argparse.ArgumentTypeError(msg)
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds <= 0:
        msg = f"a duration must be positive, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return seconds


def parse_instant(text: str, *, now: datetime | None = None) -> datetime:
    """An aware datetime from a duration ago (`24h`: 24 hours before now) or an ISO time.

    ISO 8601 dates and times are read as UTC when they carry no offset.
    """
    if _DURATION.match(text.strip()):
        reference = now or datetime.now(timezone.utc)
        return reference - timedelta(seconds=parse_duration(text))
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        msg = f"not a time: {text!r} (e.g. 24h, 2026-06-01, 2026-06-01T09:00:00Z)"
        raise argparse.ArgumentTypeError(msg) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def count(text: str) -> int:
    """A whole number >= 1."""
    return _whole(text, 1)


def natural(text: str) -> int:
    """A whole number >= 0."""
    return _whole(text, 0)


def _whole(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        msg = f"not an integer: {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if value < minimum:
        msg = f"must be >= {minimum}, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def key_value(text: str) -> tuple[str, str]:
    """`KEY=VALUE` as a pair; the value may be empty or hold `=`."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        msg = f"expected KEY=VALUE, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return key, value


def json_object(text: str) -> dict[str, object]:
    """A JSON object given on the command line."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        msg = f"not JSON: {exc}"
        raise argparse.ArgumentTypeError(msg) from None
    if not isinstance(value, dict):
        msg = f"expected a JSON object, got {type(value).__name__}"
        raise argparse.ArgumentTypeError(msg)
    return value
