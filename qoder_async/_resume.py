"""The resume state of a fan-out: a JSON value saying what is left to list, and its checks.

Version 1 looks like this (every value is a JSON string, list, object or null)::

    {
      "version": 1,
      "filters": {"status": "failed"},          # the run filters, as sent on the wire
      "done": ["dep_a", ...],                     # listed to the end, or gone (404)
      "pending": {                                # opened, not finished; failures too
        "dep_b": {"cursor": ["after_id", "drun_x"], "skip": ["drun_y", "drun_z"]},
        "dep_c": {"cursor": null, "skip": []}
      }
    }

A pending deployment restarts from `cursor`, the one that fetched the page being handed out
when the state was taken (null: its first page), and drops the runs in `skip`, the ones of
that page already handed out. Those are ids, not a count, so a resume with another page size,
or after the server inserted or removed runs, still hands out each run once. A cursor is
whatever the server's paging used (`after_id=<last id>` or an opaque `page=<next_page>`
token, spec 2.3 and 7.4), kept verbatim and never interpreted. Deployments in neither list
were not started: the new fan-out takes them from its source.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, NoReturn

import attrs

from qoder_async._params import check_id

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["VERSION", "Position", "ResumeState", "cursor_of", "dump_state", "parse_state"]

VERSION = 1
# The fan-out pages forward only; a before_id cursor would turn the chain around.
_FORWARD_CURSORS = ("after_id", "page")
_KEYS = frozenset({"version", "filters", "done", "pending"})


@attrs.frozen
class Position:
    """Where one deployment's listing resumes: a cursor (None: the start) and runs to drop."""

    cursor: tuple[str, str] | None
    skip: frozenset[str]


@attrs.frozen
class ResumeState:
    """A checked resume state: deployments done, and where the pending ones resume."""

    done: tuple[str, ...]
    pending: tuple[tuple[str, Position], ...]


def cursor_of(query: Mapping[str, str]) -> tuple[str, str] | None:
    """The cursor parameter of a request's query, or None for a first page."""
    for key in _FORWARD_CURSORS:
        if key in query:
            return key, query[key]
    return None


def dump_state(
    filters: Mapping[str, str], done: Iterable[str], pending: Iterable[tuple[str, Position]]
) -> dict[str, object]:
    """The JSON-serialisable form of a resume state."""
    return {
        "version": VERSION,
        "filters": dict(filters),
        "done": list(done),
        "pending": {
            deployment_id: {
                "cursor": None if position.cursor is None else list(position.cursor),
                "skip": sorted(position.skip),
            }
            for deployment_id, position in pending
        },
    }


def parse_state(value: object, filters: Mapping[str, str]) -> ResumeState:
    """Check a resume state made by `FanOut.resume_state()` against this call's filters.

    Raises TypeError if it is not a mapping, and ValueError if it is malformed, of another
    version, or was made with other filters.
    """
    if not isinstance(value, Mapping):
        msg = f"resume must be a state from FanOut.resume_state(), got {type(value).__name__}"
        raise TypeError(msg)
    if set(value) != _KEYS:
        _bad(f"its keys are {sorted(map(str, value))}, expected {sorted(_KEYS)}")
    if value["version"] != VERSION or isinstance(value["version"], bool):
        _bad(f"version {value['version']!r} is not supported (expected {VERSION})")
    stored = value["filters"]
    if not isinstance(stored, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in stored.items()
    ):
        _bad("filters must map strings to strings")
    if dict(stored) != dict(filters):
        msg = (
            f"the resume state was made with the filters {dict(stored)!r}, but this call has "
            f"{dict(filters)!r}; resume with the same status, triggered_after and "
            "triggered_before"
        )
        raise ValueError(msg)
    done = value["done"]
    if not isinstance(done, list):
        _bad("done must be a list of deployment ids")
    done_ids = tuple(_deployment_id(item) for item in done)
    pending = value["pending"]
    if not isinstance(pending, Mapping):
        _bad("pending must map deployment ids to positions")
    positions = tuple(
        (_deployment_id(key), _position(key, entry)) for key, entry in pending.items()
    )
    both = set(done_ids).intersection(key for key, _ in positions)
    if both:
        _bad(f"{sorted(both)[0]!r} is both done and pending")
    return ResumeState(done=done_ids, pending=positions)


def _position(deployment_id: str, entry: object) -> Position:
    if not isinstance(entry, Mapping) or set(entry) != {"cursor", "skip"}:
        _bad(f"pending[{deployment_id!r}] must be an object with 'cursor' and 'skip'")
    cursor = entry["cursor"]
    if cursor is not None and (
        not isinstance(cursor, list)
        or len(cursor) != 2
        or cursor[0] not in _FORWARD_CURSORS
        or not isinstance(cursor[1], str)
        or not cursor[1]
    ):
        _bad(
            f"pending[{deployment_id!r}].cursor must be null or [key, value] with key "
            f"one of {list(_FORWARD_CURSORS)} and a non-empty value"
        )
    skip = entry["skip"]
    if not isinstance(skip, list) or not all(isinstance(i, str) and i for i in skip):
        _bad(f"pending[{deployment_id!r}].skip must be a list of run ids")
    return Position(cursor=None if cursor is None else (cursor[0], cursor[1]), skip=frozenset(skip))


def _deployment_id(value: object) -> str:
    try:
        return check_id(value, "dep_", "deployment id")
    except (TypeError, ValueError) as exc:
        _bad(str(exc))


def _bad(problem: str) -> NoReturn:
    msg = f"malformed resume state: {problem}"
    raise ValueError(msg)
