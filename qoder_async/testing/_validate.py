"""Validation of create/update bodies (spec 3.2, 3.4): clean fields or a 400 with `param`."""

from __future__ import annotations

import re
from typing import Any

from ._content import validate_events
from ._data import JSON, agent_ref
from ._wire import ApiError

RESOURCE_TYPES = frozenset({"github_repository", "file", "memory_store"})
_FIELDS = frozenset(
    {
        "name",
        "description",
        "agent",
        "environment_id",
        "schedule",
        "initial_events",
        "resources",
        "vault_ids",
        "metadata",
        # Spec 3.2: SDK-only fields, accepted and stored as given.
        "environment_variables",
        "budget",
    }
)
_REQUIRED = ("name", "agent", "environment_id", "initial_events")
# Spec 7.3: an update may clear these with null. The Go SDK documents null for description,
# resources and vault_ids; schedule, environment_variables and budget are inferred from
# qca-sdk sending null for any argument passed as None (null schedule = manual-only).
_NULLABLE = frozenset(
    {"description", "schedule", "resources", "vault_ids", "environment_variables", "budget"}
)
# A cleared list reads back as [], as on a deployment created without one (spec 3.2).
_EMPTY_WHEN_CLEARED = frozenset({"resources", "vault_ids"})
_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,\-?LW#]+")
_CONFIG_KEYS = {"max_concurrent": 1, "max_retries": 0, "timeout_ms": 1}  # name -> minimum
MAX_METADATA_KEYS = 16


def _bad(param: str, message: str) -> ApiError:
    return ApiError(400, message, param=param)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: object, param: str, *, max_len: int | None = None, prefix: str = "") -> str:
    if not isinstance(value, str) or not value:
        raise _bad(param, f"{param} must be a non-empty string.")
    if max_len is not None and len(value) > max_len:
        raise _bad(param, f"{param} must be at most {max_len} characters.")
    if prefix and not value.startswith(prefix):
        raise _bad(param, f"{param} must start with {prefix!r}.")
    return value


def _agent(value: object) -> JSON:
    # Spec 3.2: a plain id means the latest version; the response always carries one.
    if isinstance(value, str):
        return agent_ref(_text(value, "agent", prefix="agent_"))
    if not isinstance(value, dict):
        raise _bad("agent", "agent must be an agent id or an agent object.")
    agent_id = _text(value.get("id"), "agent.id", prefix="agent_")
    if value.get("type") != "agent":
        raise _bad("agent.type", 'agent.type must be "agent".')
    version = value.get("version", 1)
    if not _is_int(version) or version < 1:
        raise _bad("agent.version", "agent.version must be a positive integer.")
    return agent_ref(agent_id, version)


def _schedule(value: object) -> tuple[str, str] | None:
    if value is None:
        # Spec 3.4 leaves this open; null is taken to mean manual-only.
        return None
    if not isinstance(value, dict):
        raise _bad("schedule", "schedule must be an object.")
    if value.get("type") != "cron":
        raise _bad("schedule.type", 'schedule.type must be "cron".')
    expression = _text(value.get("expression"), "schedule.expression")
    fields = expression.split()
    if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(field) for field in fields):
        raise _bad("schedule.expression", "schedule.expression must be a 5-field cron expression.")
    return expression, _text(value.get("timezone"), "schedule.timezone")


def _resources(value: object) -> list[JSON]:
    if not isinstance(value, list):
        raise _bad("resources", "resources must be a list.")
    for index, resource in enumerate(value):
        if not isinstance(resource, dict) or resource.get("type") not in RESOURCE_TYPES:
            param = f"resources[{index}].type"
            raise _bad(param, f"{param} must be one of {', '.join(sorted(RESOURCE_TYPES))}.")
    return value


def _vault_ids(value: object) -> list[str]:
    if not isinstance(value, list) or len(value) > 50:
        raise _bad("vault_ids", "vault_ids must be a list of at most 50 ids.")
    return [_text(item, "vault_ids") for item in value]


def _cas_config(value: object) -> JSON:
    param = "metadata.cas_config"
    if not isinstance(value, dict):
        raise _bad(param, f"{param} must be an object.")
    clean: JSON = {}
    config = value.get("config", {})
    if not isinstance(config, dict):
        raise _bad(f"{param}.config", f"{param}.config must be an object.")
    for key, minimum in _CONFIG_KEYS.items():
        if key in config:
            item = config[key]
            if not _is_int(item) or item < minimum:
                raise _bad(f"{param}.config.{key}", f"{key} must be an integer >= {minimum}.")
    clean["config"] = {key: config[key] for key in _CONFIG_KEYS if key in config}
    if "session_strategy" in value:
        clean["session_strategy"] = _text(value["session_strategy"], f"{param}.session_strategy")
    return clean


def metadata(value: object, *, patch: bool) -> JSON:
    """User metadata (string to string, spec 3.2 limits); in a patch a null deletes a key."""
    if not isinstance(value, dict):
        raise _bad("metadata", "metadata must be an object.")
    clean: JSON = {}
    for key, item in value.items():
        if key == "cas_config":
            clean[key] = _cas_config(item)
            continue
        if len(key) > 64:
            raise _bad("metadata", "metadata keys must be at most 64 characters.")
        if item is None and patch:
            clean[key] = None
        elif not isinstance(item, str) or len(item) > 512:
            raise _bad(
                f"metadata.{key}", "metadata values must be strings of at most 512 characters."
            )
        else:
            clean[key] = item
    if sum(key != "cas_config" for key in clean) > MAX_METADATA_KEYS:
        raise _bad("metadata", f"metadata must have at most {MAX_METADATA_KEYS} keys.")
    return clean


def _fields(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object.")
    for name in body:
        if name not in _FIELDS:
            raise _bad(name, f"Unknown field: {name}")
    return body


def _check(name: str, value: object) -> object:
    if name == "name":
        return _text(value, "name", max_len=256)
    if name == "description":
        if value is not None and not isinstance(value, str):
            raise _bad("description", "description must be a string.")
        return value
    if name == "agent":
        return _agent(value)
    if name == "environment_id":
        return _text(value, "environment_id", prefix="env_")
    if name == "initial_events":
        return validate_events(value)
    if name == "schedule":
        return _schedule(value)
    if name == "resources":
        return _resources(value)
    if name == "vault_ids":
        return _vault_ids(value)
    return value  # environment_variables, budget: SDK-only pass-throughs


def create_fields(body: object) -> JSON:
    """Validate a create body; return the fields `Store.create_deployment` takes."""
    raw = _fields(body)
    for name in _REQUIRED:
        if raw.get(name) is None:
            raise _bad(name, f"Missing required field: {name}")
    user = metadata(raw.get("metadata", {}), patch=False)
    cas = user.pop("cas_config", {})
    fields: JSON = {name: _check(name, raw[name]) for name in _REQUIRED}
    fields.update(
        description=_check("description", raw.get("description")),
        schedule=_check("schedule", raw.get("schedule")),
        resources=_check("resources", raw.get("resources", [])),
        vault_ids=_check("vault_ids", raw.get("vault_ids", [])),
        metadata=user,
        config=cas.get("config", {}),
        session_strategy=cas.get("session_strategy", "new_session"),
        extra={
            name: raw[name]
            for name in ("budget", "environment_variables")
            if raw.get(name) is not None
        },
    )
    return fields


def update_fields(body: object) -> JSON:
    """Validate an update body (spec 3.4: every field optional); return the changes."""
    raw = _fields(body)
    fields: JSON = {}
    for name, value in raw.items():
        if name == "metadata":
            fields[name] = metadata(value, patch=True)
        elif value is None and name not in _NULLABLE:
            raise _bad(name, f"{name} cannot be null.")
        elif value is None and name in _EMPTY_WHEN_CLEARED:
            fields[name] = []
        else:
            fields[name] = _check(name, value)
    return fields
