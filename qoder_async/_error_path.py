"""Where in a response body structuring failed: the JSON path named by ResponseValidationError.

The converter runs without per-field error bookkeeping, so that the hot path pays nothing
for errors. Only once it has failed does `locate` walk the body beside the model's types,
trying each part with the same hooks, down to the deepest value that does not fit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, get_args, get_origin

import attrs

from qoder_async._models import Deployment
from qoder_async._structure_gen import optional_of, resolved_fields

if TYPE_CHECKING:
    import cattrs

__all__ = ["Path", "locate"]

Path = tuple[str | int, ...]
_FAILURES = (TypeError, ValueError, KeyError, AttributeError)


def locate(conv: cattrs.Converter, data: object, type_: Any) -> tuple[Path, str]:
    """The path to the deepest part of `data` that does not structure as `type_`, and why.

    Call it only when structuring `data` as `type_` has failed.
    """
    return _walk(conv, data, type_, ())


def _fails(conv: cattrs.Converter, value: object, type_: Any) -> Exception | None:
    try:
        conv.get_structure_hook(type_)(value, type_)
    except _FAILURES as exc:
        return exc
    return None


def _json_kind(value: object) -> str:
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    kinds.update({int: "an integer", float: "a number", type(None): "null"})
    return kinds.get(type(value), type(value).__name__)


def _walk(conv: cattrs.Converter, value: object, type_: Any, path: Path) -> tuple[Path, str]:
    inner = optional_of(type_)
    if inner is not None:
        type_ = inner
    origin = get_origin(type_) or type_
    args = get_args(type_)
    if attrs.has(origin) and not hasattr(origin, "extra") and not hasattr(origin, "raw"):
        # A model (events and their parts are read whole by their own reader).
        if value.__class__ is not dict:
            return path, f"expected a JSON object, got {_json_kind(value)}"
        return _walk_model(conv, value, type_, path)
    if origin is tuple and args[1:] == (Ellipsis,):
        if value.__class__ is not list:
            return path, f"expected a JSON array, got {_json_kind(value)}"
        for index, item in enumerate(value):
            if _fails(conv, item, args[0]) is not None:
                return _walk(conv, item, args[0], (*path, index))
    if origin is dict and value.__class__ is dict:
        for key, item in value.items():
            if _fails(conv, item, args[1]) is not None:
                return _walk(conv, item, args[1], (*path, key))
    error = _fails(conv, value, type_)
    return path, str(error) if error is not None else "does not fit its type"


def _walk_model(
    conv: cattrs.Converter, value: dict[str, object], type_: Any, path: Path
) -> tuple[Path, str]:
    sources: dict[str, tuple[Path, dict[str, object]]] = {}
    metadata = value.get("metadata")
    if get_origin(type_) is None and type_ is Deployment and isinstance(metadata, dict):
        # Spec 4.1: the model's cas_config is the body's metadata.cas_config.
        rest = {key: item for key, item in metadata.items() if key != "cas_config"}
        sources["metadata"] = (path, {"metadata": rest})
        if "cas_config" in metadata:
            sources["cas_config"] = ((*path, "metadata"), metadata)
    for field, field_type in resolved_fields(type_):
        where, holder = sources.get(field.name, (path, value))
        if field.name not in holder:
            if field.default is attrs.NOTHING:
                return (*where, field.name), "required key is missing"
            continue
        item = holder[field.name]
        if _fails(conv, item, field_type) is not None:
            return _walk(conv, item, field_type, (*where, field.name))
    error = _fails(conv, value, type_)
    return path, str(error) if error is not None else "does not fit its type"
