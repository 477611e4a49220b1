"""Models to and from the API's JSON wire shape: `to_dict`, `to_json` and `from_dict`."""

from __future__ import annotations

import json
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

import attrs
import cattrs

from qoder_async._converter import converter, shape_error
from qoder_async._models import Page

__all__ = ["from_dict", "to_dict", "to_json"]

T = TypeVar("T")


def to_dict(obj: object) -> dict[str, Any]:
    """A model (or `Page`) as the JSON object the API sends, built from fresh dicts and lists.

    Timestamps are RFC 3339 in UTC with `Z` and as many fraction digits as they need (the
    models keep microseconds, so a nanosecond timestamp comes back cut to microseconds);
    enum members are their string values and unknown values the strings that came;
    `Deployment.cas_config` goes back inside `metadata`. A None field is written as `null`
    where the API sends null and left out where the API leaves the key out (spec 3, 4, 7).
    Raises TypeError for anything that is not a model, ValueError for a naive datetime.
    """
    if not attrs.has(type(obj)):
        msg = f"to_dict takes a qoder_async model, got {type(obj).__name__}"
        raise TypeError(msg)
    out: dict[str, Any] = converter.unstructure(obj)
    return out


def to_json(obj: object) -> str:
    """`to_dict(obj)` as compact JSON text (non-ASCII characters kept as they are)."""
    return json.dumps(to_dict(obj), ensure_ascii=False, separators=(",", ":"))


def from_dict(cls: type[T], data: object) -> T:
    """Structure the API's JSON (e.g. from `to_dict` or a stored response) into `cls`.

    The inverse of `to_dict`: `from_dict(type(x), to_dict(x)) == x`. A page needs its item
    type: `from_dict(Page[Deployment], data)`. The unions `InitialEvent`, `ContentBlock`,
    `ImageSource`, `DocumentSource` and `Rubric` are accepted too. Raises ValueError,
    naming the JSON path of the first value that does not fit, if `data` does not have the
    shape of `cls`; TypeError if `cls` is not a model.
    """
    if cls is Page:
        msg = "from_dict needs the item type of a page: Page[Deployment] or Page[DeploymentRun]"
        raise TypeError(msg)
    kinds = get_args(cls) if get_origin(cls) in (Union, UnionType) else (get_origin(cls) or cls,)
    if not all(attrs.has(kind) for kind in kinds):
        msg = f"from_dict takes a qoder_async model class, got {cls!r}"
        raise TypeError(msg)
    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, KeyError, TypeError, ValueError, AttributeError) as exc:
        # The message names the JSON path of the value that does not fit.
        raise ValueError(str(shape_error(data, cls, exc, "data"))) from exc
