"""The one cattrs converter between the API's JSON and the models; every hook is set up here.

Structuring is the hot path (every page of a listing) and is tuned for it. Unstructuring
gives the wire shape the API sends (`to_dict`): RFC 3339 UTC timestamps, enum values as
strings, `cas_config` back inside `metadata`, and None written as `null` or left out per
field as `WIRE_NONE` says.
"""

from __future__ import annotations

import enum
import json
import os
from datetime import datetime
from types import UnionType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from qoder_async import _decode, _error_path, _event_codec, _structure_gen
from qoder_async._chain import PageHead, RawPage
from qoder_async._errors import ResponseValidationError
from qoder_async._events import (
    ContentBlock,
    DocumentSource,
    ImageSource,
    InitialEvent,
    Rubric,
)
from qoder_async._hooks import (
    fail,
    format_datetime,
    open_enum_hook,
    parse_datetime,
    scalar_hook,
    structure_datetime,
    structure_datetimes,
    structure_json_object,
    structure_str_dict,
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

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "WIRE_NONE",
    "WireNone",
    "converter",
    "decode_json",
    "fast_path_enabled",
    "format_datetime",
    "parse_datetime",
    "structure",
]

T = TypeVar("T")

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


_OPEN_ENUMS = (DeploymentStatus, RunStatus, TriggerType)

# Spec 4.1: the server keeps `cas_config` inside `metadata`; the model lifts it out so that
# `metadata` is the caller's strings. A top-level `cas_config` (never sent by the API) is
# read when metadata has none, so that older stored JSON still reads.
_LIFT_CAS_CONFIG = """
metadata = o.get("metadata", NOTHING)
cas_config = o.get("cas_config")
if metadata.__class__ is dict and "cas_config" in metadata:
    cas_config = metadata["cas_config"]
    metadata = {k: x for k, x in metadata.items() if k != "cas_config"}
"""


def _make_converter() -> cattrs.Converter:
    # Our models use PEP 563 string annotations. cattrs before 26.1 resolves them by calling
    # typing.get_type_hints on the parameterised alias (`Page[Deployment]`), which raises
    # TypeError; resolved once on the generic class itself, they are never looked up again.
    attrs.resolve_types(Page)
    # detailed_validation=False: no per-field error bookkeeping on the hot path; failures
    # are re-raised as ResponseValidationError by `structure`, which then finds the path.
    conv = cattrs.Converter(
        detailed_validation=False,
        forbid_extra_keys=False,
        unstruct_collection_overrides={tuple: list},
    )
    conv.register_structure_hook(datetime, structure_datetime)
    conv.register_structure_hook_func(_equals(tuple[datetime, ...]), structure_datetimes)
    for kind in (str, int, bool):
        conv.register_structure_hook(kind, scalar_hook(kind))
    conv.register_structure_hook_factory(_is_optional, lambda type_: _optional_hook(conv, type_))
    conv.register_structure_hook_factory(
        _is_homogeneous_tuple, lambda type_: _tuple_hook(conv, type_)
    )
    for hint, hook in (
        (dict[str, str], structure_str_dict),
        (dict[str, object], structure_json_object),
    ):
        conv.register_structure_hook_func(_equals(hint), hook)
    conv.register_structure_hook_func(lambda type_: type_ is object, lambda value, _: value)
    for open_enum in _OPEN_ENUMS:
        conv.register_structure_hook(open_enum, open_enum_hook(open_enum))
    _register_event_hooks(conv)
    # Models: one generated function each (see _structure_gen); Page[X] through the same.
    conv.register_structure_hook_factory(_is_model, lambda type_: _model_hook(conv, type_))
    lift = _structure_gen.Source(
        _LIFT_CAS_CONFIG, {"metadata": "metadata", "cas_config": "cas_config"}, {}
    )
    conv.register_structure_hook(Deployment, _model_hook(conv, Deployment, source=lift))
    _register_unstructure_hooks(conv)
    return conv


def _equals(hint: object) -> Any:
    return lambda type_: type_ == hint


def _is_model(type_: Any) -> bool:
    return attrs.has(get_origin(type_) or type_)


def _model_hook(
    conv: cattrs.Converter, cls: Any, *, source: _structure_gen.Source | None = None
) -> Any:
    generated = _structure_gen.make_structure_fn(
        conv, cls, datetime_hook=structure_datetime, fail=fail, source=source
    )
    if generated is not None:
        return generated
    return cattrs.gen.make_dict_structure_fn(cls, conv)


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
    for open_enum in _OPEN_ENUMS:
        # The raw value, also for a plain string a caller put in a model by hand.
        for hint in (open_enum, Union[open_enum, None]):  # noqa: UP007
            conv.register_unstructure_hook(hint, _enum_value)
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


def _load_fast_path() -> Any:
    # The msgspec fast path (the `fast` extra) unless QODER_FAST=0; never imported without it.
    if os.environ.get("QODER_FAST", "").strip() == "0":
        return None
    try:
        from qoder_async import _fast
    except ImportError:
        return None
    return _fast


_fast = _load_fast_path()


def fast_path_enabled() -> bool:
    """Whether `decode_json` uses msgspec (installed, and QODER_FAST is not "0")."""
    return _fast is not None


def fast_decoder(cls: type[T]) -> Callable[[bytes], T] | None:
    """The fast path's decoder of a body into `cls`, or None when the fast path is off.

    It raises whatever msgspec or a hook raises for a body it does not take; callers then
    decode the body the default way, which gives the error a caller should see.
    """
    if _fast is None:
        return None
    return _fast.decoder(converter, cls)  # type: ignore[no-any-return]


def fast_page_reader(cls: type[T]) -> Callable[[bytes], RawPage] | None:
    """With the fast path, a reader of a page body's head alone (see `RawPage`); else None.

    It raises for a body whose head is not plainly typed; callers then decode the body
    the default way.
    """
    if _fast is None:
        return None
    read_head = _fast.read_page_head

    def read(body: bytes) -> RawPage:
        ids, has_more, next_page, first_id, last_id = read_head(body)
        head = PageHead(
            ids, has_more=has_more, next_page=next_page, first_id=first_id, last_id=last_id
        )
        return RawPage(body, head)

    return read


def ensure(data: object, cls: type[T]) -> T:
    """`data` as a `cls`: decoded JSON is structured, a `RawPage` decoded, a `cls` kept."""
    if data.__class__ is RawPage:
        assert isinstance(data, RawPage)  # noqa: S101 - for the type checker
        decode = fast_decoder(cls)
        if decode is not None:
            try:
                return decode(data.body)
            except Exception:  # noqa: S110 - the default path below decides
                pass
        try:
            data = _decode.decode_json(data.body)
        except (ValueError, RecursionError) as exc:
            msg = f"the response body cannot be read as JSON ({type(exc).__name__})"
            raise ResponseValidationError(msg) from exc
    if isinstance(data, get_origin(cls) or cls):
        return data
    return structure(data, cls)


def structure(data: object, cls: type[T]) -> T:
    """Structure decoded JSON into `cls`, raising ResponseValidationError on any mismatch.

    The error names the JSON path of the value that does not fit (its `path`/`json_path`).
    """
    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise shape_error(data, cls, exc, "response") from exc


def shape_error(data: object, cls: Any, exc: Exception, what: str) -> ResponseValidationError:
    """The error for `data` that failed to structure as `cls` with `exc`, naming the path.

    The path is found only now, on the error path, so that structuring pays nothing for it.
    """
    name = getattr(cls, "__name__", str(cls))
    if get_origin(cls) is not None:
        name = f"{get_origin(cls).__name__}[{', '.join(a.__name__ for a in get_args(cls))}]"
    try:
        path, reason = _error_path.locate(converter, data, cls)
    except Exception:
        return ResponseValidationError(f"{what} does not match the {name} shape: {exc!r}")
    error = ResponseValidationError("", path=path)
    error.args = (f"{what} does not match the {name} shape at {error.json_path}: {reason}",)
    return error


def decode_json(content: bytes | str, cls: type[T], *, fast: bool = True) -> T:
    """Decode a JSON body straight into `cls`: the msgspec fast path when it is available.

    Gives exactly what `structure(json.loads(content), cls)` gives (tests/test_fast.py):
    whatever the fast path does not accept is decoded by that default path, so errors are
    its ResponseValidationError. `fast=False` forces the default path.
    """
    if fast and _fast is not None:
        try:
            return _fast.decoder(converter, cls)(content)  # type: ignore[no-any-return]
        except _fast.ERRORS:
            pass
    try:
        data = json.loads(content)
    except ValueError as exc:
        msg = f"the response body is not JSON ({exc})"
        raise ResponseValidationError(msg) from exc
    return structure(data, cls)


# Pre-build the hot structuring paths at import so the first page pays no code generation.
for _cls in (Page[Deployment], Page[DeploymentRun], Deployment, DeploymentRun):
    converter.get_structure_hook(_cls)
