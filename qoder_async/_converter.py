"""The one cattrs converter between the API's JSON and the models; every hook is set up here.

Structuring is the hot path (every page of a listing) and is tuned for it. Unstructuring
gives the wire shape the API sends (`to_dict`): RFC 3339 UTC timestamps, enum values as
strings, `cas_config` back inside `metadata`, and None written as `null` or left out per
field as `WIRE_NONE` says.
"""

from __future__ import annotations

import enum
import re
import sys
from datetime import datetime, timedelta, timezone
from types import UnionType
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from qoder_async import _event_codec
from qoder_async._errors import ResponseValidationError
from qoder_async._events import (
    ContentBlock,
    DocumentSource,
    ImageSource,
    InitialEvent,
    Rubric,
)
from qoder_async._models import (
    AgentRef,
    CasConfig,
    CasRunExtras,
    CasSettings,
    CasStats,
    Deployment,
    DeploymentRun,
    DeploymentStatus,
    Page,
    PausedReason,
    RunError,
    RunStatus,
    Schedule,
    TriggerContext,
    TriggerType,
)

__all__ = ["WIRE_NONE", "WireNone", "converter", "format_datetime", "parse_datetime", "structure"]

T = TypeVar("T")

# RFC 3339 with 0-9 fractional digits (spec section 5.9: 0, 5, 6 and 9 all occur).
_FAST_ISO = sys.version_info >= (3, 11)
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)\Z"
)


def parse_datetime(value: str) -> datetime:
    """Parse an RFC 3339 timestamp into an aware datetime; digits past microseconds are dropped.

    Raises ValueError for anything else, including timestamps without an offset.
    """
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


def _structure_datetime(value: object, _: object) -> datetime:
    if value.__class__ is not str:
        msg = f"expected an RFC 3339 string, got {type(value).__name__}"
        raise TypeError(msg)
    return parse_datetime(value)


def _structure_optional_datetime(value: object, _: object) -> datetime | None:
    # The most common optional field of all: one call instead of three layers.
    return None if value is None else _structure_datetime(value, _)


def _structure_bool(value: object, _: object) -> bool:
    # cattrs' default is bool(value), which would read "false" as True.
    if not isinstance(value, bool):
        msg = f"expected a JSON boolean, got {type(value).__name__}"
        raise TypeError(msg)
    return value


def _open_enum_hook(enum_type: type[enum.Enum]) -> Any:
    members = enum_type._value2member_map_

    def structure_open_enum(value: object, _: object) -> object:
        # Unknown values are kept as plain strings: a new status must never crash a client.
        if not isinstance(value, str):
            msg = f"expected a string for {enum_type.__name__}, got {type(value).__name__}"
            raise TypeError(msg)
        return members.get(value, value)

    return structure_open_enum


# How None is written, per None-able field (spec 3, 4, 7), so that every documented example
# round-trips exactly. "null": the API sends the key with null when there is no value (shown
# null in the examples or documented as nullable). "omit": the API leaves the key out when
# there is no value (conditional, Qoder- or SDK-only fields), or never sends null for it, so
# None can only mean the key was absent. Two readings are inferences: `next_trigger_at` is
# "null" because the fake sends null for manual-only deployments, and `Page.has_more` is
# "omit" because spec 7.4 has it absent, never null. tests/test_serialize.py fails when a
# None-able field of a model is missing here.
WireNone = Literal["null", "omit"]
WIRE_NONE: dict[type, dict[str, WireNone]] = {
    Page: {"first_id": "null", "last_id": "null", "next_page": "null", "has_more": "omit"},
    Deployment: {
        "description": "null",
        "schedule": "null",
        "paused_reason": "null",
        "archived_at": "null",
        "updated_at": "omit",
        "cas_config": "omit",  # written inside `metadata`, see unstructure_deployment
        "environment_variables": "omit",
        "budget": "omit",
    },
    DeploymentRun: {
        "error": "null",
        "session_id": "null",
        "status": "omit",
        "triggered_at": "omit",
        "completed_at": "omit",
        "duration_ms": "omit",
        "cas_run_extras": "omit",
    },
    AgentRef: {"version": "omit"},
    Schedule: {"last_run_at": "omit"},
    CasConfig: {"config": "omit", "session_strategy": "omit", "stats": "omit"},
    CasSettings: {"max_concurrent": "omit", "max_retries": "omit", "timeout_ms": "omit"},
    CasStats: {
        "next_trigger_at": "null",
        "last_triggered_at": "omit",
        "consecutive_failures": "omit",
        "total_failures": "omit",
        "total_runs": "omit",
    },
    RunError: {"message": "omit"},
    PausedReason: {"error": "omit"},
    TriggerContext: {"scheduled_at": "omit"},
    CasRunExtras: {"attempt": "omit", "turn_id": "omit", "started_at": "omit"},
}


def _enum_value(value: object) -> object:
    # Open enums hold a member or, for a value this SDK does not know, the string as it came.
    return value.value if isinstance(value, enum.Enum) else value


def _unstructure_hook(conv: cattrs.Converter, cls: type) -> Any:
    model = get_origin(cls) or cls
    wire_none = WIRE_NONE.get(model, {})
    # omit_if_default leaves a field out when it equals its default: only None may be left
    # out, so a field that defaults to something else (has_more=False) is always written.
    omitted = {
        field.name: override(omit_if_default=True)
        for field in attrs.fields(model)
        if wire_none.get(field.name) == "omit" and field.default is None
    }
    return make_dict_unstructure_fn(cls, conv, **omitted)  # type: ignore[arg-type]


def _make_converter() -> cattrs.Converter:
    # Our models use PEP 563 string annotations. cattrs before 26.1 resolves them by calling
    # typing.get_type_hints on the parameterised alias (`Page[Deployment]`), which raises
    # TypeError; resolved once on the generic class itself, they are never looked up again.
    attrs.resolve_types(Page)
    # detailed_validation=False: generated structuring code without per-field error
    # bookkeeping; failures are re-raised as ResponseValidationError by `structure`.
    conv = cattrs.Converter(
        detailed_validation=False,
        forbid_extra_keys=False,
        unstruct_collection_overrides={tuple: list},
    )
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook_factory(_is_optional, lambda type_: _optional_hook(conv, type_))
    conv.register_structure_hook_factory(
        _is_homogeneous_tuple, lambda type_: _tuple_hook(conv, type_)
    )
    conv.register_structure_hook(Union[datetime, None], _structure_optional_datetime)  # noqa: UP007
    # Undocumented shapes (resources, budget) pass through as the decoded JSON.
    conv.register_structure_hook_func(lambda type_: type_ is object, lambda value, _: value)
    for open_enum in (DeploymentStatus, RunStatus, TriggerType):
        conv.register_structure_hook(Union[open_enum, str], _open_enum_hook(open_enum))  # noqa: UP007
    run_status = Union[RunStatus, str]  # noqa: UP007
    conv.register_structure_hook(
        Union[RunStatus, str, None],  # noqa: UP007
        _optional(_open_enum_hook(RunStatus), run_status),
    )

    _register_event_hooks(conv)

    structure_deployment_fields = cattrs.gen.make_dict_structure_fn(Deployment, conv)

    def structure_deployment(value: object, _: object) -> Deployment:
        if not isinstance(value, dict):
            msg = f"a deployment must be an object, got {type(value).__name__}"
            raise TypeError(msg)
        metadata = value.get("metadata")
        if isinstance(metadata, dict) and "cas_config" in metadata:
            # Lift the server-managed cas_config out so `metadata` is the caller's strings.
            user = {k: v for k, v in metadata.items() if k != "cas_config"}
            value = {**value, "metadata": user, "cas_config": metadata["cas_config"]}
        return structure_deployment_fields(value, Deployment)

    conv.register_structure_hook(Deployment, structure_deployment)
    _register_unstructure_hooks(conv)
    return conv


def _register_event_hooks(conv: cattrs.Converter) -> None:
    # Events are read and written by hand (spec 7.2: dispatch on `type`, unknowns kept raw).
    codec = _event_codec
    events = tuple[InitialEvent, ...]
    conv.register_structure_hook_func(
        lambda type_: type_ == events, lambda value, _: codec.structure_events(value)
    )
    conv.register_structure_hook(InitialEvent, lambda value, _: codec.structure_event(value))
    conv.register_structure_hook(
        ContentBlock, lambda value, _: _or_type_error(codec.structure_block, value)
    )
    conv.register_structure_hook(
        DocumentSource,
        lambda value, _: _or_type_error(codec.structure_source, value, document=True),
    )
    conv.register_structure_hook(
        ImageSource,
        lambda value, _: _or_type_error(codec.structure_source, value, document=False),
    )
    conv.register_structure_hook(
        Rubric, lambda value, _: _or_type_error(codec.structure_rubric, value)
    )
    for union in (InitialEvent, ContentBlock, DocumentSource, Rubric):
        for cls in get_args(union):
            conv.register_structure_hook(cls, _one_kind(conv.get_structure_hook(union)))
    for cls, write in codec.UNSTRUCTURE.items():
        conv.register_unstructure_hook(cls, write)
    write_event = codec.unstructure_event
    conv.register_unstructure_hook_func(
        lambda type_: type_ == events, lambda value: [write_event(event) for event in value]
    )


def _or_type_error(read: Any, value: object, **kwargs: object) -> object:
    try:
        return read(value, **kwargs)
    except _event_codec.Mismatch:
        msg = f"expected a JSON object, got {type(value).__name__}"
        raise TypeError(msg) from None


def _one_kind(structure_any: Any) -> Any:
    def structure_kind(value: object, cls: type) -> object:
        # from_dict(TextBlock, ...) must give a TextBlock, not whatever the JSON turns out to be.
        obj = structure_any(value, cls)
        if obj.__class__ is not cls:
            msg = f"expected a {cls.__name__}, got JSON for {type(obj).__name__}"
            raise ValueError(msg)
        return obj

    return structure_kind


def _register_unstructure_hooks(conv: cattrs.Converter) -> None:
    conv.register_unstructure_hook(datetime, format_datetime)
    for open_enum in (DeploymentStatus, RunStatus, TriggerType):
        for union in (Union[open_enum, str], Union[open_enum, str, None]):  # noqa: UP007
            conv.register_unstructure_hook(union, _enum_value)
    # Class hooks (events, Deployment) take precedence over this factory for the others.
    conv.register_unstructure_hook_factory(attrs.has, lambda cls: _unstructure_hook(conv, cls))
    unstructure_fields = _unstructure_hook(conv, Deployment)

    def unstructure_deployment(deployment: Deployment) -> dict[str, Any]:
        # The server keeps cas_config inside metadata; the model lifts it out (see _models).
        out: dict[str, Any] = unstructure_fields(deployment)
        cas_config = out.pop("cas_config", None)
        if cas_config is not None:
            out["metadata"] = {**out["metadata"], "cas_config": cas_config}
        return out

    conv.register_unstructure_hook(Deployment, unstructure_deployment)


def _is_optional(type_: object) -> bool:
    args = get_args(type_)
    return get_origin(type_) in (Union, UnionType) and len(args) == 2 and type(None) in args


def _optional_hook(conv: cattrs.Converter, type_: object) -> Any:
    # cattrs' generic optional hook dispatches on the inner type at every call; binding the
    # inner hook once makes optional fields (most of a run) about a third cheaper.
    (inner,) = (arg for arg in get_args(type_) if arg is not type(None))
    return _optional(conv.get_structure_hook(inner), inner)


def _is_homogeneous_tuple(type_: object) -> bool:
    args = get_args(type_)
    return get_origin(type_) is tuple and len(args) == 2 and args[1] is Ellipsis


def _tuple_hook(conv: cattrs.Converter, type_: object) -> Any:
    # Binding the item hook once (cattrs' own tuple hook dispatches per item) makes a page
    # of runs or deployments, with their tuples of timestamps, events and ids, cheaper.
    inner = get_args(type_)[0]
    hook = conv.get_structure_hook(inner)

    def structure_tuple(value: object, _: object) -> tuple[object, ...]:
        if value.__class__ is not list and value.__class__ is not tuple:
            msg = f"expected a JSON array, got {type(value).__name__}"
            raise TypeError(msg)
        return tuple([hook(item, inner) for item in value])

    return structure_tuple


def _optional(hook: Any, inner: object) -> Any:
    """`hook` for `inner`, letting None through."""

    def structure_optional(value: object, _: object) -> object:
        return None if value is None else hook(value, inner)

    return structure_optional


converter = _make_converter()


def structure(data: object, cls: type[T]) -> T:
    """Structure decoded JSON into `cls`, raising ResponseValidationError on any mismatch."""
    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, KeyError, TypeError, ValueError, AttributeError) as exc:
        name = getattr(cls, "__name__", str(cls))
        msg = f"response does not match the {name} shape: {exc!r}"
        raise ResponseValidationError(msg) from exc


# Pre-build the hot structuring paths at import so the first page pays no code generation.
for _cls in (Page[Deployment], Page[DeploymentRun], Deployment, DeploymentRun):
    converter.get_structure_hook(_cls)
