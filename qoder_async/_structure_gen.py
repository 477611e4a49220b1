"""One generated structuring function per model: the hot path of every page of a listing.

cattrs' generated code calls a hook per field (a scalar through two or three layers),
collects keyword arguments in a dict and then calls the class's `__init__`, which stores
them one by one again. Here each model gets one function, generated once, that reads each
JSON key, checks a scalar's JSON type inline, calls a hook only for what needs one
(timestamps, enums, nested models, tuples) and stores the value straight into the
instance's slot. That is what makes a page of runs or deployments cost less than
pydantic's Rust validator on the same shapes (benchmarks/bench_decode.py).

Only models whose `__init__` does nothing but store fields qualify (frozen, slotted, no
converters, validators or `__attrs_*_init__`): for them, filling the slots is exactly what
`__init__` would do. `make_structure_fn` returns None for any other class.
"""

from __future__ import annotations

import enum
from datetime import datetime
from types import UnionType
from typing import TYPE_CHECKING, Any, TypeVar, Union, get_args, get_origin

import attrs

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import cattrs

__all__ = [
    "NOTHING",
    "Source",
    "make_structure_fn",
    "optional_of",
    "qualifies",
    "resolved_fields",
    "slot",
]

#: The value of an absent key, in generated code and `Source` preludes.
NOTHING: Any = object()
_SCALARS = (str, int, bool)


class Source:
    """Where a model's fields come from when they are not simply `o[name]`.

    `prelude` is code run first (with the JSON object in `o`, `NOTHING` and the names in
    `names` in scope); `fields` maps a field name to the variable holding its JSON value
    (`NOTHING` when absent).
    """

    def __init__(
        self, prelude: str, fields: Mapping[str, str], names: Mapping[str, object]
    ) -> None:
        self.prelude = prelude
        self.fields = dict(fields)
        self.names = dict(names)


def resolved_fields(cls: Any) -> list[tuple[attrs.Attribute[Any], Any]]:
    """The attrs fields of a model or of a parameterised generic (`Page[Deployment]`), with types."""
    origin = get_origin(cls) or cls
    attrs.resolve_types(origin)
    mapping: dict[object, object] = {}
    if origin is not cls:
        mapping = dict(zip(origin.__parameters__, get_args(cls), strict=True))
    return [(field, _substitute(field.type, mapping)) for field in attrs.fields(origin)]


def _substitute(type_: Any, mapping: Mapping[object, object]) -> Any:
    # Our one generic model is Page, whose only parameterised field is `tuple[T, ...]`.
    if isinstance(type_, TypeVar):
        return mapping.get(type_, type_)
    args = get_args(type_)
    if get_origin(type_) is tuple and args[1:] == (Ellipsis,):
        return tuple[_substitute(args[0], mapping), ...]  # type: ignore[misc]
    return type_


def qualifies(cls: type) -> bool:
    """Whether `cls` is a frozen slotted attrs class whose `__init__` only stores its fields."""
    params = getattr(cls, "__attrs_attrs__", None)
    return (
        params is not None
        and "__slots__" in vars(cls)
        and not hasattr(cls, "__attrs_pre_init__")
        and not hasattr(cls, "__attrs_post_init__")
        and all(field.converter is None and field.validator is None for field in params)
    )


def optional_of(type_: Any) -> Any:
    """`X` for `X | None`, else None."""
    args = get_args(type_)
    if get_origin(type_) in (Union, UnionType) and len(args) == 2 and type(None) in args:
        return args[0] if args[1] is type(None) else args[1]
    return None


def make_structure_fn(
    conv: cattrs.Converter,
    cls: Any,
    *,
    datetime_hook: Callable[[object, object], datetime],
    fail: Callable[[str, type, object], None],
    source: Source | None = None,
) -> Callable[[object, object], Any] | None:
    """The structuring function for the model `cls` (a class or `Page[X]`), or None.

    `datetime_hook(value, _)` parses a timestamp; `fail(key, expected, value)` raises the
    TypeError for a scalar of the wrong JSON type. Other field types use `conv`'s hooks.
    """
    origin = get_origin(cls) or cls
    if not qualifies(origin):
        return None
    names: dict[str, object] = {
        "__cl": origin,
        "__new": object.__new__,
        "__fail": fail,
        "__dt": datetime_hook,
        "__object_error": _object_error,
        "NOTHING": NOTHING,
    }
    if source is not None:
        names.update(source.names)
    lines = [
        "def structure(o, _=None):",
        "    if o.__class__ is not dict:",
        "        __object_error(__cl, o)",
    ]
    if source is not None:
        lines += ["    " + line for line in source.prelude.strip().splitlines()]
    lines.append("    self = __new(__cl)")
    for field, type_ in resolved_fields(cls):
        lines += _field_code(conv, field, type_, names, source)
    lines.append("    return self")
    code = "\n".join(lines)
    # Generated once per model at import, from our own field names only.
    exec(compile(code, f"<structure {origin.__name__}>", "exec"), names)  # noqa: S102
    function: Callable[[object, object], Any] = names["structure"]  # type: ignore[assignment]
    return function


def _field_code(
    conv: cattrs.Converter,
    field: attrs.Attribute[Any],
    type_: Any,
    names: dict[str, object],
    source: Source | None,
) -> list[str]:
    name = field.name
    names[f"__set_{name}"] = slot(names["__cl"], name).__set__
    inner = optional_of(type_)
    optional = inner is not None
    base = inner if optional else type_
    default = field.default
    key = repr(name)
    if source is not None and name in source.fields:
        read = [f"    v = {source.fields[name]}"]
        absent = "v is NOTHING"
    elif default is attrs.NOTHING:
        read, absent = [f"    v = o[{key}]"], None
    elif default is None and optional:
        read, absent = [f"    v = o.get({key})"], None
    elif base in _SCALARS and isinstance(default, base):
        names[f"__d_{name}"] = default
        read, absent = [f"    v = o.get({key}, __d_{name})"], None
    else:
        read, absent = [f"    v = o.get({key}, NOTHING)"], "v is NOTHING"

    convert = _convert(conv, name, base, names)
    if optional and convert:
        convert = ["if v is not None:", *("    " + line for line in convert)]
    lines = list(read)
    if absent is not None:
        names[f"__default_{name}"] = default
        make_default = (
            f"__default_{name}.factory()"
            if isinstance(default, attrs.Factory)  # type: ignore[arg-type]
            else f"__default_{name}"
        )
        lines.append(f"    if {absent}:")
        lines.append(f"        v = {make_default}")
        if convert:
            lines.append("    else:")
            lines += ["        " + line for line in convert]
    else:
        lines += ["    " + line for line in convert]
    lines.append(f"    __set_{name}(self, v)")
    return lines


def slot(cls: Any, name: str) -> Any:
    """The slot descriptor of field `name` (a base class holds those of inherited fields)."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    msg = f"{cls.__name__} has no slot {name!r}"
    raise TypeError(msg)


def _convert(conv: cattrs.Converter, name: str, type_: Any, names: dict[str, object]) -> list[str]:
    """Code that turns the JSON value `v` into the field's value, in place."""
    if type_ is object:
        return []
    if type_ in _SCALARS:
        # A class check, not isinstance: JSON true is no integer here, as in msgspec.
        names[f"__t_{name}"] = type_
        return [f"if v.__class__ is not __t_{name}:", f"    __fail({name!r}, __t_{name}, v)"]
    if type_ is datetime:
        return ["v = __dt(v, None)"]
    if isinstance(type_, type) and issubclass(type_, enum.Enum):
        # Known values are one dict lookup; the enum itself makes the unknown ones.
        names[f"__m_{name}"] = type_._value2member_map_
        names[f"__e_{name}"] = conv.get_structure_hook(type_)
        names[f"__t_{name}"] = type_
        return [f"v = __m_{name}.get(v) or __e_{name}(v, __t_{name})"]
    names[f"__h_{name}"] = conv.get_structure_hook(type_)
    names[f"__t_{name}"] = type_
    return [f"v = __h_{name}(v, __t_{name})"]


def _object_error(cls: type, value: object) -> None:
    msg = f"expected a JSON object for {cls.__name__}, got {type(value).__name__}"
    raise TypeError(msg)
