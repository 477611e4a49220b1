"""The optional msgspec fast path (`pip install qoder-async[fast]`): JSON bytes to models.

Imported only when msgspec is importable and `QODER_FAST` is not "0" (see `_converter`).
It must give exactly what the default path (`json.loads` + the converter) gives, so it
shares every decision with it instead of copying them:

- msgspec parses the JSON and checks its shape in C, into "wire" Structs generated from
  the models, in which timestamps and enum values stay strings and initial events stay
  decoded JSON;
- a function generated per model then builds the frozen attrs instance from its Struct,
  with the default path's own timestamp hook (its truncation of nanoseconds, spec 3.8,
  where msgspec would round), enum hook and initial-event reader.

Whatever msgspec refuses (a wrong type, a duplicate it reads differently, malformed or
non-UTF-8 JSON) raises one of `ERRORS`, and the caller then takes the default path, which
accepts or reports it as it always does. Pure-JSON fields (`resources`, `budget`) and
Deployment's `metadata` (whose `cas_config` is lifted out, spec 4.1) are decoded as JSON and
handed to the default path's hooks.
"""

from __future__ import annotations

import enum
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, get_origin

import attrs
import msgspec

from qoder_async import _event_codec
from qoder_async._events import InitialEvent
from qoder_async._models import CasConfig, Deployment
from qoder_async._structure_gen import optional_of, qualifies, resolved_fields, slot

if TYPE_CHECKING:
    from collections.abc import Callable

    import cattrs

__all__ = ["ERRORS", "Unsupported", "decoder"]


class Unsupported(Exception):  # noqa: N818 - a signal to take the default path
    """A type the fast path does not decode (the event unions): use the default path."""


#: What a failed fast decode raises; the caller then takes the default path.
ERRORS = (msgspec.DecodeError, Unsupported, TypeError, ValueError, KeyError, AttributeError)


def decoder(conv: cattrs.Converter, cls: Any) -> Callable[[bytes], Any]:
    """A function decoding JSON bytes into `cls` (a model or `Page[X]`); cached per type.

    Raises Unsupported for a type it cannot decode, and any of `ERRORS` for bad input.
    """
    return _decoder(_Hooks(conv), cls)


class _Hooks:
    """The default path's hooks, shared so that both paths decide alike; hashable for caching."""

    def __init__(self, conv: cattrs.Converter) -> None:
        self.conv = conv
        self.datetime = conv.get_structure_hook(datetime)

    def __hash__(self) -> int:
        return id(self.conv)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Hooks) and other.conv is self.conv


@cache
def _decoder(hooks: _Hooks, cls: Any) -> Callable[[bytes], Any]:
    wire, build = _plan(hooks, cls)
    decode = msgspec.json.Decoder(wire).decode

    def decode_model(content: bytes) -> Any:
        return build(decode(content))

    return decode_model


@cache
def _plan(hooks: _Hooks, cls: Any) -> tuple[Any, Callable[[Any], Any]]:
    """The wire Struct of model `cls` and the function building the model from it."""
    origin = get_origin(cls) or cls
    if not attrs.has(origin) or "__slots__" not in vars(origin):
        raise Unsupported(repr(cls))
    fields: list[tuple[str, Any, Any]] = []
    names: dict[str, object] = {"__cl": origin, "__new": object.__new__}
    lines = ["def build(m):", "    self = __new(__cl)"]
    lifted: tuple[str, ...] = ()
    if origin is Deployment:
        # Spec 4.1: `cas_config` comes from inside `metadata` (or, as in the default path,
        # from the top level when metadata has none); the rest of metadata must be strings.
        lifted = ("metadata", "cas_config")
        names["__lift"] = _lift_metadata(hooks)
        lines.append("    metadata, cas_config = __lift(m.metadata, m.cas_config)")
    for field, type_ in resolved_fields(cls):
        name = field.name
        if name in lifted:
            wire_type: Any = dict[str, Any] if name == "metadata" else Any
            convert: list[str] | None = None
            lines.append(f"    v = {name}")
        else:
            wire_type, convert = _field(hooks, name, type_, names)
            lines.append(f"    v = m.{name}")
            lines += [f"    {line}" for line in convert or ()]
        names[f"__set_{name}"] = slot(origin, name).__set__
        lines.append(f"    __set_{name}(self, v)")
        default: Any = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = msgspec.field(default_factory=default.factory)
        elif default is attrs.NOTHING:
            default = msgspec.NODEFAULT
        fields.append((name, wire_type, default))
    lines.append("    return self")
    wire = msgspec.defstruct(f"{origin.__name__}Wire", fields, kw_only=True)
    # Generated once per model, from our own field names only.
    exec(compile("\n".join(lines), f"<build {origin.__name__}>", "exec"), names)  # noqa: S102
    return wire, names["build"]  # type: ignore[return-value]


def _lift_metadata(hooks: _Hooks) -> Callable[[dict[str, Any], Any], tuple[Any, Any]]:
    structure_metadata = hooks.conv.get_structure_hook(dict[str, str])
    structure_cas_config = hooks.conv.get_structure_hook(CasConfig | None)

    def lift(metadata: dict[str, Any], cas_config: Any) -> tuple[Any, Any]:
        if "cas_config" in metadata:
            cas_config = metadata.pop("cas_config")
        return structure_metadata(metadata, None), structure_cas_config(cas_config, None)

    return lift


def _field(
    hooks: _Hooks, name: str, type_: Any, names: dict[str, object]
) -> tuple[Any, list[str] | None]:
    """The wire type of a field and the code turning its wire value `v` into the field's."""
    inner = optional_of(type_)
    if inner is not None:
        wire_type, convert = _field(hooks, name, inner, names)
        if convert:
            convert = ["if v is not None:", *(f"    {line}" for line in convert)]
        return wire_type | None, convert
    if type_ in (str, int, bool) or type_ == dict[str, str]:
        return type_, None
    if type_ is datetime:
        names["__dt"] = hooks.datetime
        return str, ["v = __dt(v, None)"]
    if isinstance(type_, type) and issubclass(type_, enum.Enum):
        names[f"__m_{name}"] = type_._value2member_map_
        names[f"__e_{name}"] = hooks.conv.get_structure_hook(type_)
        names[f"__t_{name}"] = type_
        return str, [f"v = __m_{name}.get(v) or __e_{name}(v, __t_{name})"]
    if type_ is object:
        return Any, None
    if type_ == dict[str, object]:
        names[f"__h_{name}"] = hooks.conv.get_structure_hook(type_)
        return Any, [f"v = __h_{name}(v, None)"]
    if type_ == tuple[datetime, ...]:
        names[f"__h_{name}"] = hooks.conv.get_structure_hook(type_)
        return list[str], [f"v = __h_{name}(v, None)"]
    if get_origin(type_) is tuple:
        item = type_.__args__[0]
        if item == InitialEvent:
            names["__events"] = _event_codec.structure_events
            return list[Any], ["v = __events(v)"]
        item_wire, item_convert = _field(hooks, f"{name}_item", item, names)
        if item_convert is None:
            return list[item_wire], ["v = tuple(v)"]  # type: ignore[valid-type]
        names[f"__item_{name}"] = _item_function(item_convert, names)
        return list[item_wire], [f"v = tuple([__item_{name}(v) for v in v])"]  # type: ignore[valid-type]
    if attrs.has(type_) and _plain(type_):
        # Strings, integers and booleans only: msgspec's strict checks are the default
        # path's, so it builds these models itself, in C.
        return type_, None
    if attrs.has(type_):
        wire, build = _plan(hooks, type_)
        names[f"__b_{name}"] = build
        return wire, [f"v = __b_{name}(v)"]
    raise Unsupported(repr(type_))


def _item_function(convert: list[str], names: dict[str, object]) -> Callable[[Any], Any]:
    scope = dict(names)
    code = "\n".join(["def item(v):", *(f"    {line}" for line in convert), "    return v"])
    exec(code, scope)  # noqa: S102
    return scope["item"]  # type: ignore[return-value]


def _plain(cls: type) -> bool:
    """Whether every field of `cls` is a str, int, bool or such a model, or None."""
    if not qualifies(cls):
        return False
    for _, type_ in resolved_fields(cls):
        base = optional_of(type_) or type_
        if base not in (str, int, bool) and not (attrs.has(base) and _plain(base)):
            return False
    return True


class _HeadItem(msgspec.Struct):
    id: str


class _Head(msgspec.Struct):
    # What the cursor chain reads of a page (see _chain.PageHead); every other field, and
    # everything else in an item, is skipped by msgspec without building anything.
    data: list[_HeadItem]
    has_more: bool | None = None
    next_page: str | None = None
    first_id: str | None = None
    last_id: str | None = None


_HEAD_DECODER = msgspec.json.Decoder(_Head)


def read_page_head(
    content: bytes,
) -> tuple[list[str], bool | None, str | None, str | None, str | None]:
    """A page's item ids and cursor fields, read from its JSON without decoding the items.

    Raises one of `ERRORS` when the body is not a page with plainly typed head fields.
    """
    head = _HEAD_DECODER.decode(content)
    return (
        [item.id for item in head.data],
        head.has_more,
        head.next_page,
        head.first_id,
        head.last_id,
    )
