"""Stand-in for the public serialiser (`qoder_async.to_dict`/`to_json`) until it is merged.

Same signatures as the public functions; to be deleted once `qoder_async` exports them.
"""

from __future__ import annotations

import enum
import json
from datetime import datetime, timezone
from typing import Any

import attrs

from qoder_async._converter import converter
from qoder_async._models import Deployment

__all__ = ["to_dict", "to_json"]


def to_dict(obj: object) -> dict[str, Any]:
    """A model as the JSON object the API sends (cas_config back inside metadata)."""
    if not attrs.has(type(obj)):
        msg = f"to_dict takes a qoder_async model, got {type(obj).__name__}"
        raise TypeError(msg)
    out: dict[str, Any] = _wire(converter.unstructure(obj))
    if isinstance(obj, Deployment):
        cas_config = out.pop("cas_config", None)
        if cas_config is not None:
            out["metadata"] = {**out.get("metadata", {}), "cas_config": cas_config}
    return out


def to_json(obj: object) -> str:
    """`to_dict(obj)` as compact JSON text."""
    return json.dumps(to_dict(obj), ensure_ascii=False, separators=(",", ":"))


def _wire(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _wire(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_wire(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat() + "Z"
    return value
