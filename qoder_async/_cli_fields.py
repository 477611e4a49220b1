"""`deployments create|update` fields: from `--from-file` (wire JSON) and options to SDK arguments.

The file holds a deployment in the API's wire shape: a create/update body, or a whole
deployment as `deployments get --json` prints it (read-only fields are ignored, so a
deployment can be copied or edited and sent back). Options override the file. For
`update`, a field left out is not sent and a JSON null (or `--clear FIELD`) clears it,
as `client.deployments.update` does with None (spec 7.3). Every problem is a ValueError
or TypeError, reported as a usage error before any request.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qoder_async import from_dict
from qoder_async._events import InitialEvent, UserMessage
from qoder_async._models import AgentRef, CasConfig, CasSettings, Schedule

if TYPE_CHECKING:
    import argparse

__all__ = ["deployment_fields", "user_message"]

# Fields of a deployment the caller can set (spec 3.2, 3.4); the file may carry the rest
# of a deployment's fields too, which the server maintains and are therefore skipped.
WRITABLE = frozenset(
    {
        "name",
        "description",
        "agent",
        "environment_id",
        "initial_events",
        "schedule",
        "resources",
        "vault_ids",
        "metadata",
        "environment_variables",
        "budget",
    }
)
READ_ONLY = frozenset(
    {"id", "type", "status", "paused_reason", "archived_at", "created_at", "updated_at"}
)
_CAS_OPTIONS = ("max_concurrent", "max_retries", "timeout_ms")


def user_message(text: str) -> UserMessage:
    """A `user.message` initial event with `text` as its one text block."""
    return UserMessage(content=text)


def deployment_fields(args: argparse.Namespace, *, update: bool) -> dict[str, Any]:
    """Keyword arguments for `deployments.create` or `.update` from the file and options."""
    wire = _read_file(args.from_file) if args.from_file else {}
    unknown = sorted(set(wire) - WRITABLE - READ_ONLY)
    if unknown:
        msg = f"--from-file: unknown deployment fields {', '.join(unknown)}"
        raise ValueError(msg)
    fields: dict[str, Any] = {}
    for key in sorted(WRITABLE & set(wire)):
        value = wire[key]
        if value is None and key == "metadata":
            msg = "--from-file: metadata cannot be null; map a key to null to delete it"
            raise ValueError(msg)
        if value is None:
            if update:
                fields[key] = None  # the SDK refuses to clear what cannot be cleared
            continue
        if key == "metadata":
            fields.update(_metadata_from_wire(value))
        else:
            fields[key] = _FROM_WIRE.get(key, _same)(value)
    _apply_options(fields, args, update=update)
    if update:
        for field in args.clear or ():
            if fields.get(field) is not None:
                msg = f"--clear {field} contradicts a value given for {field}"
                raise ValueError(msg)
            fields[field] = None
    else:
        missing = [
            option
            for option, field in (
                ("--name", "name"),
                ("--agent", "agent"),
                ("--environment", "environment_id"),
                ("--message", "initial_events"),
            )
            if fields.get(field) is None
        ]
        if missing:
            msg = f"create needs {', '.join(missing)} (as options or in --from-file)"
            raise ValueError(msg)
    return fields


def _apply_options(fields: dict[str, Any], args: argparse.Namespace, *, update: bool) -> None:
    for field in ("name", "description", "environment_id", "environment_variables", "budget"):
        value = getattr(args, field)
        if value is not None:
            fields[field] = value
    if args.agent is not None:
        fields["agent"] = args.agent
    if args.agent_version is not None:
        agent = fields.get("agent")
        agent_id = agent.id if isinstance(agent, AgentRef) else agent
        if agent_id is None:
            msg = "--agent-version needs --agent"
            raise ValueError(msg)
        fields["agent"] = AgentRef(id=agent_id, version=args.agent_version)
    if args.message:
        fields["initial_events"] = [user_message(text) for text in args.message]
    if args.schedule is not None or args.timezone is not None:
        schedule = fields.get("schedule")
        expression = args.schedule or (schedule.expression if schedule else None)
        if expression is None:
            msg = "--timezone needs --schedule"
            raise ValueError(msg)
        timezone = args.timezone or (schedule.timezone if schedule else "UTC")
        fields["schedule"] = Schedule(expression=expression, timezone=timezone)
    if args.resource:
        fields["resources"] = list(args.resource)
    if args.vault_id:
        fields["vault_ids"] = list(args.vault_id)
    metadata = dict(fields.get("metadata") or {})
    metadata.update(dict(args.metadata or ()))
    for key in getattr(args, "delete_metadata", None) or ():
        metadata[key] = None
    fields.pop("metadata", None)
    if metadata:
        fields["metadata"] = metadata
    _apply_cas_options(fields, args)


def _apply_cas_options(fields: dict[str, Any], args: argparse.Namespace) -> None:
    given = {name: getattr(args, name) for name in _CAS_OPTIONS}
    given = {name: value for name, value in given.items() if value is not None}
    if not given and args.session_strategy is None:
        return
    current = fields.get("cas_config") or CasConfig()
    settings = current.config or CasSettings()
    fields["cas_config"] = CasConfig(
        config=CasSettings(**{**_settings_dict(settings), **given}),
        session_strategy=args.session_strategy or current.session_strategy,
    )


def _settings_dict(settings: CasSettings) -> dict[str, int]:
    values = {name: getattr(settings, name) for name in _CAS_OPTIONS}
    return {name: value for name, value in values.items() if value is not None}


def _read_file(path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"--from-file: cannot read {path}: {exc.strerror}"
        raise ValueError(msg) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        msg = f"--from-file: {path} is not JSON: {exc}"
        raise ValueError(msg) from None
    if not isinstance(data, dict):
        msg = f"--from-file: {path} must hold a JSON object, got {type(data).__name__}"
        raise TypeError(msg)
    return data


def _same(value: object) -> object:
    # Lists and objects the SDK checks itself (resources, vault_ids, budget, strings).
    return value


def _agent_from_wire(value: object) -> str | AgentRef:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        # A read deployment names the resolved version; sent back, it pins that version.
        return AgentRef(id=value["id"], version=value.get("version"))
    msg = "--from-file: agent must be an id or an object with an id"
    raise TypeError(msg)


def _schedule_from_wire(value: object) -> Schedule:
    if not isinstance(value, dict):
        msg = f"--from-file: schedule must be an object or null, got {type(value).__name__}"
        raise TypeError(msg)
    try:
        return Schedule(
            type=value.get("type", "cron"),
            expression=value["expression"],
            timezone=value["timezone"],
        )
    except KeyError as exc:
        msg = f"--from-file: schedule needs {exc.args[0]!r}"
        raise ValueError(msg) from None


def _events_from_wire(value: object) -> list[InitialEvent]:
    if not isinstance(value, list):
        msg = f"--from-file: initial_events must be a list, got {type(value).__name__}"
        raise TypeError(msg)
    return [_event_from_wire(index, item) for index, item in enumerate(value)]


def _event_from_wire(index: int, item: object) -> InitialEvent:
    # Unknown kinds and fields are carried through as the SDK reads them (spec 7.2).
    try:
        return from_dict(InitialEvent, item)  # type: ignore[arg-type]
    except ValueError as exc:
        msg = f"--from-file: initial_events[{index}]: {exc}"
        raise ValueError(msg) from None


def _metadata_from_wire(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        msg = f"--from-file: metadata must be an object, got {type(value).__name__}"
        raise TypeError(msg)
    out: dict[str, Any] = {}
    user = {key: item for key, item in value.items() if key != "cas_config"}
    if user:
        out["metadata"] = user
    cas = value.get("cas_config")
    if isinstance(cas, dict):
        # `stats` is the server's bookkeeping (read-only); the rest is the caller's.
        try:
            out["cas_config"] = from_dict(
                CasConfig, {key: item for key, item in cas.items() if key != "stats"}
            )
        except ValueError as exc:
            msg = f"--from-file: metadata.cas_config: {exc}"
            raise ValueError(msg) from None
    elif cas is not None:
        msg = "--from-file: metadata.cas_config must be an object"
        raise TypeError(msg)
    return out


_FROM_WIRE = {
    "agent": _agent_from_wire,
    "schedule": _schedule_from_wire,
    "initial_events": _events_from_wire,
}
