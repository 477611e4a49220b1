"""Argument checks and request bodies: every invalid argument fails here, before any I/O.

Each check raises TypeError for a value of the wrong kind and ValueError for a value out
of range, naming the argument. None always means "not sent".
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, TypeVar

from qoder_async._event_checks import MAX_EVENTS, events_json
from qoder_async._models import AgentRef, CasConfig, Schedule

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = [
    "MAX_EVENTS",
    "MAX_LIMIT",
    "agent_json",
    "cas_config_json",
    "check_bool",
    "check_datetime",
    "check_enum",
    "check_header_value",
    "check_id",
    "check_idempotency_key",
    "check_limit",
    "check_name",
    "check_seconds",
    "check_str",
    "cursors",
    "events_json",
    "metadata_json",
    "optional",
    "query",
    "schedule_json",
    "vault_ids_json",
]

E = TypeVar("E", bound=enum.Enum)

# Deployment and run lists allow 1000, not the generic convention's 100 (spec section 5.3).
MAX_LIMIT = 1000
MAX_NAME = 256
MAX_VAULT_IDS = 50
MAX_METADATA_KEYS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
MAX_HEADER_VALUE = 255
# Visible ASCII, inner spaces allowed: what an HTTP header value can carry unchanged.
_HEADER_TOKEN = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?\Z")
# Ids go into URL paths: restricting them to the id alphabet rules out path injection.
_ID_BODY = re.compile(r"[A-Za-z0-9_-]+\Z")


def _type_error(name: str, expected: str, value: object) -> TypeError:
    return TypeError(f"{name} must be {expected}, got {type(value).__name__}")


def check_str(value: object, name: str) -> str:
    """Return `value` if it is a non-empty string."""
    if not isinstance(value, str):
        raise _type_error(name, "a str", value)
    if not value:
        msg = f"{name} must not be empty"
        raise ValueError(msg)
    return value


def check_id(value: object, prefix: str, name: str) -> str:
    """Return `value` if it is an id with the given prefix, e.g. `dep_` (spec section 0)."""
    check_str(value, name)
    assert isinstance(value, str)  # noqa: S101 - narrowed by check_str
    if not value.startswith(prefix) or not _ID_BODY.match(value, len(prefix)):
        msg = f"{name} must be an id starting with {prefix!r}, got {value!r}"
        raise ValueError(msg)
    return value


def check_limit(value: object) -> int | None:
    """Return the page size if it is None or an int in 1..1000."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error("limit", "an int", value)
    if not 1 <= value <= MAX_LIMIT:
        msg = f"limit must be between 1 and {MAX_LIMIT}, got {value}"
        raise ValueError(msg)
    return value


def check_bool(value: object, name: str) -> str:
    """Return the query form ("true"/"false") of a bool."""
    if not isinstance(value, bool):
        raise _type_error(name, "a bool", value)
    return "true" if value else "false"


def check_enum(value: object, enum_type: type[E], name: str) -> str:
    """Return the wire value of an enum member or of a string naming one."""
    if isinstance(value, enum_type):
        return str(value.value)
    if not isinstance(value, str):
        raise _type_error(name, f"a {enum_type.__name__} or str", value)
    allowed = [str(member.value) for member in enum_type]
    if value not in allowed:
        msg = f"{name} must be one of {', '.join(allowed)}; got {value!r}"
        raise ValueError(msg)
    return value


def check_datetime(value: object, name: str) -> str:
    """Return an aware datetime as RFC 3339 in UTC; naive datetimes are ambiguous, so refused."""
    if not isinstance(value, datetime):
        raise _type_error(name, "a datetime", value)
    if value.tzinfo is None or value.utcoffset() is None:
        msg = f"{name} must be timezone-aware (e.g. datetime.now(timezone.utc)), got {value!r}"
        raise ValueError(msg)
    utc = value.astimezone(timezone.utc)
    # isoformat pads the year to four digits, which strftime("%Y") does not do everywhere.
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def check_seconds(value: object, name: str) -> float:
    """Return a positive, finite-or-infinite number of seconds; NaN is refused too."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _type_error(name, "a number of seconds", value)
    if not value > 0:  # written so that NaN fails as well
        msg = f"{name} must be positive, got {value!r}"
        raise ValueError(msg)
    return float(value)


def check_header_value(value: object, name: str) -> str:
    """Return a value that can travel as an HTTP header unchanged (1 to 255 characters)."""
    check_str(value, name)
    assert isinstance(value, str)  # noqa: S101 - narrowed by check_str
    if len(value) > MAX_HEADER_VALUE or not _HEADER_TOKEN.match(value):
        msg = (
            f"{name} must be 1 to 255 printable ASCII characters without "
            f"surrounding spaces, got {value!r}"
        )
        raise ValueError(msg)
    return value


def check_idempotency_key(value: object) -> str:
    """Return an Idempotency-Key that can travel as an HTTP header value (spec 1)."""
    return check_header_value(value, "idempotency_key")


def check_name(value: object) -> str:
    """Return a deployment name of 1 to 256 characters."""
    check_str(value, "name")
    assert isinstance(value, str)  # noqa: S101 - narrowed by check_str
    if len(value) > MAX_NAME:
        msg = f"name must be at most {MAX_NAME} characters, got {len(value)}"
        raise ValueError(msg)
    return value


def agent_json(value: object) -> object:
    """The `agent` field: an id string (latest version) or an AgentRef (pinned version)."""
    if isinstance(value, str):
        return check_id(value, "agent_", "agent")
    if isinstance(value, AgentRef):
        check_id(value.id, "agent_", "agent.id")
        if value.type != "agent":
            msg = f"agent.type must be 'agent', got {value.type!r}"
            raise ValueError(msg)
        ref: dict[str, object] = {"id": value.id, "type": "agent"}
        if value.version is not None:
            if isinstance(value.version, bool) or not isinstance(value.version, int):
                raise _type_error("agent.version", "an int", value.version)
            if value.version < 1:
                msg = f"agent.version must be >= 1, got {value.version}"
                raise ValueError(msg)
            ref["version"] = value.version
        return ref
    raise _type_error("agent", "an agent id str or an AgentRef", value)


def schedule_json(value: object) -> dict[str, str]:
    """The `schedule` field: all three of type, expression and timezone (spec 3.4)."""
    if not isinstance(value, Schedule):
        raise _type_error("schedule", "a Schedule", value)
    if value.type != "cron":
        msg = f"schedule.type must be 'cron', got {value.type!r}"
        raise ValueError(msg)
    expression = check_str(value.expression, "schedule.expression")
    if len(expression.split()) != 5:
        msg = f"schedule.expression must be a 5-field cron expression, got {expression!r}"
        raise ValueError(msg)
    return {
        "type": "cron",
        "expression": expression,
        "timezone": check_str(value.timezone, "schedule.timezone"),
    }


def vault_ids_json(value: object) -> list[str]:
    """The `vault_ids` field: at most 50 vault ids."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise _type_error("vault_ids", "a list of str", value)
    if len(value) > MAX_VAULT_IDS:
        msg = f"vault_ids may hold at most {MAX_VAULT_IDS} ids, got {len(value)}"
        raise ValueError(msg)
    return [check_str(vault_id, f"vault_ids[{i}]") for i, vault_id in enumerate(value)]


def metadata_json(value: object, *, allow_delete: bool) -> dict[str, str | None]:
    """User metadata: at most 16 keys of <= 64 chars, values <= 512 chars (spec 3.2).

    With `allow_delete` (update), a None value deletes the key (merge-patch, spec 3.4).
    `cas_config` is reserved: pass it through the `cas_config` argument instead.
    """
    if not isinstance(value, Mapping):
        raise _type_error("metadata", "a mapping of str to str", value)
    if len(value) > MAX_METADATA_KEYS:
        msg = f"metadata may hold at most {MAX_METADATA_KEYS} keys, got {len(value)}"
        raise ValueError(msg)
    out: dict[str, str | None] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise _type_error("metadata keys", "str", key)
        if key == "cas_config":
            msg = "metadata['cas_config'] is reserved; pass cas_config=CasConfig(...) instead"
            raise ValueError(msg)
        if not 1 <= len(key) <= MAX_METADATA_KEY:
            msg = f"metadata key {key!r} must be 1 to {MAX_METADATA_KEY} characters"
            raise ValueError(msg)
        if item is None and allow_delete:
            out[key] = None
            continue
        if not isinstance(item, str):
            raise _type_error(f"metadata[{key!r}]", "a str", item)
        if len(item) > MAX_METADATA_VALUE:
            msg = f"metadata[{key!r}] must be at most {MAX_METADATA_VALUE} characters"
            raise ValueError(msg)
        out[key] = item
    return out


def cas_config_json(value: object) -> dict[str, object]:
    """`metadata.cas_config` input: `config` and `session_strategy`; `stats` is read-only."""
    if not isinstance(value, CasConfig):
        raise _type_error("cas_config", "a CasConfig", value)
    if value.stats is not None:
        msg = "cas_config.stats is maintained by the server and cannot be set"
        raise ValueError(msg)
    body: dict[str, object] = {}
    if value.session_strategy is not None:
        body["session_strategy"] = check_str(value.session_strategy, "cas_config.session_strategy")
    if value.config is not None:
        settings: dict[str, int] = {}
        for field in ("max_concurrent", "max_retries", "timeout_ms"):
            number = getattr(value.config, field)
            if number is None:
                continue
            if isinstance(number, bool) or not isinstance(number, int):
                raise _type_error(f"cas_config.config.{field}", "an int", number)
            if number < 0 or (field != "max_retries" and number == 0):
                msg = f"cas_config.config.{field} must be positive, got {number}"
                raise ValueError(msg)
            settings[field] = number
        body["config"] = settings
    return body


def optional(check: Callable[..., str], value: object, *args: object) -> str | None:
    """`check(value, *args)`, or None (not sent) when `value` is None."""
    return None if value is None else check(value, *args)


def query(pairs: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """A query dict without the parameters that were not given."""
    return {key: value for key, value in pairs if value is not None}


def cursors(after_id: str | None, before_id: str | None, page: str | None) -> dict[str, str]:
    """The cursor query: at most one cursor, since the API answers 400 to more (spec 2.3)."""
    given = query((("after_id", after_id), ("before_id", before_id), ("page", page)))
    if len(given) > 1:
        msg = f"pass at most one cursor; got {' and '.join(given)}"
        raise ValueError(msg)
    for name, value in given.items():
        check_str(value, name)
    return given
