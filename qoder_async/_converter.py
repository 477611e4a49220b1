"""The one cattrs converter that turns the API's JSON into models; every hook is set up here."""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta, timezone
from types import UnionType
from typing import TYPE_CHECKING, Any, TypeVar, Union, get_args, get_origin

import attrs
import cattrs

from qoder_async._errors import ResponseValidationError
from qoder_async._models import (
    ContentBlock,
    Deployment,
    DeploymentRun,
    DeploymentStatus,
    EventType,
    Page,
    RunStatus,
    TriggerType,
)

if TYPE_CHECKING:
    import enum

__all__ = ["converter", "parse_datetime", "structure"]

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


def _make_converter() -> cattrs.Converter:
    # Our models use PEP 563 string annotations. cattrs before 26.1 resolves them by calling
    # typing.get_type_hints on the parameterised alias (`Page[Deployment]`), which raises
    # TypeError; resolved once on the generic class itself, they are never looked up again.
    attrs.resolve_types(Page)
    # detailed_validation=False: generated structuring code without per-field error
    # bookkeeping; failures are re-raised as ResponseValidationError by `structure`.
    conv = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook_factory(_is_optional, lambda type_: _optional_hook(conv, type_))
    conv.register_structure_hook(Union[datetime, None], _structure_optional_datetime)  # noqa: UP007
    # Undocumented shapes (resources, budget) pass through as the decoded JSON.
    conv.register_structure_hook_func(lambda type_: type_ is object, lambda value, _: value)
    for open_enum in (DeploymentStatus, RunStatus, TriggerType, EventType):
        conv.register_structure_hook(Union[open_enum, str], _open_enum_hook(open_enum))  # noqa: UP007
    run_status = Union[RunStatus, str]  # noqa: UP007
    conv.register_structure_hook(
        Union[RunStatus, str, None],  # noqa: UP007
        _optional(_open_enum_hook(RunStatus), run_status),
    )

    structure_block = conv.get_structure_hook(ContentBlock)

    def structure_content(value: object, _: object) -> str | tuple[ContentBlock, ...] | None:
        # Spec 4.1: an event's content is a plain string or a list of content blocks.
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, list):
            return tuple(structure_block(block, ContentBlock) for block in value)
        msg = f"event content must be a string or a list, got {type(value).__name__}"
        raise TypeError(msg)

    conv.register_structure_hook(
        Union[str, tuple[ContentBlock, ...], None],  # noqa: UP007
        structure_content,
    )

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
    return conv


def _is_optional(type_: object) -> bool:
    args = get_args(type_)
    return get_origin(type_) in (Union, UnionType) and len(args) == 2 and type(None) in args


def _optional_hook(conv: cattrs.Converter, type_: object) -> Any:
    # cattrs' generic optional hook dispatches on the inner type at every call; binding the
    # inner hook once makes optional fields (most of a run) about a third cheaper.
    (inner,) = (arg for arg in get_args(type_) if arg is not type(None))
    return _optional(conv.get_structure_hook(inner), inner)


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
