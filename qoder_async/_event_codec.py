"""Initial events between JSON and models (spec 7.2); the converter registers these as hooks.

Reading never fails on an event's inside and never drops anything: each known kind is
read by a function that raises `Mismatch` as soon as a field is missing or of the wrong
type, and the object is then kept whole as `Unknown*` (see `_events`). Writing gives the
wire JSON: `type` first, then the typed fields (optional ones only when set), then the
`extra` keys the typed fields do not already write. Both directions copy JSON values, so
a model never shares a mutable dict or list with the caller's data or output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from qoder_async._events import (
    Base64Source,
    DefineOutcome,
    DocumentBlock,
    FileRubric,
    FileSource,
    ImageBlock,
    PlainTextSource,
    RedactedBlock,
    SystemMessage,
    TextBlock,
    TextRubric,
    UnknownBlock,
    UnknownEvent,
    UnknownRubric,
    UnknownSource,
    URLSource,
    UserMessage,
)
from qoder_async._structure_gen import slot

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from qoder_async._events import ContentBlock, DocumentSource, InitialEvent, Rubric

__all__ = [
    "UNSTRUCTURE",
    "Mismatch",
    "copy_json",
    "structure_block",
    "structure_event",
    "structure_events",
    "structure_rubric",
    "structure_source",
    "unstructure_event",
]

JSONObject = dict[str, object]
_T = TypeVar("_T")


class Mismatch(Exception):  # noqa: N818 - a signal between readers, never seen by callers
    """A known kind whose fields do not match spec 7.2: keep the object raw instead."""


def copy_json(value: object) -> object:
    """A deep copy of decoded JSON (dicts and lists; other values are immutable)."""
    if value.__class__ is dict:
        return {key: copy_json(item) for key, item in value.items()}
    if value.__class__ is list:
        return [copy_json(item) for item in value]
    return value


# -- reading ---------------------------------------------------------------------------


def _builder(cls: type[_T]) -> Callable[..., _T]:
    """A constructor for `cls` taking every field by keyword and storing it in its slot.

    A deployments page holds thousands of events, blocks and sources; this skips attrs'
    `__init__` (a bound setattr per field and, for messages, the `content` converter, whose
    work the readers do by always passing tuples) and costs half as much per object.
    """
    fields = [field.name for field in attrs.fields(cls)]  # type: ignore[arg-type]
    names: dict[str, object] = {"__cl": cls, "__new": object.__new__}
    lines = [f"def build(*, {', '.join(fields)}):", "    self = __new(__cl)"]
    for name in fields:
        names[f"__set_{name}"] = slot(cls, name).__set__
        lines.append(f"    __set_{name}(self, {name})")
    lines.append("    return self")
    # Generated once per class at import, from attrs field names only.
    exec("\n".join(lines), names)  # noqa: S102
    return names["build"]  # type: ignore[return-value]


_new_base64 = _builder(Base64Source)
_new_url = _builder(URLSource)
_new_file = _builder(FileSource)
_new_plain_text = _builder(PlainTextSource)
_new_text = _builder(TextBlock)
_new_image = _builder(ImageBlock)
_new_document = _builder(DocumentBlock)
_new_redacted = _builder(RedactedBlock)
_new_text_rubric = _builder(TextRubric)
_new_file_rubric = _builder(FileRubric)
_new_user_message = _builder(UserMessage)
_new_system_message = _builder(SystemMessage)
_new_define_outcome = _builder(DefineOutcome)

# The readers are the hot path of a deployments page: checks are inlined rather than
# shared through small helpers, and each kind is found with one dict lookup.


def _str(obj: JSONObject, key: str) -> str:
    value = obj.get(key)
    if value.__class__ is not str:
        raise Mismatch
    return value


def _optional_str(obj: JSONObject, key: str) -> str | None:
    # A documented-optional key that is present must hold a str: `null` is not documented,
    # and keeping such an object raw is the only way to send the null back.
    return _str(obj, key) if key in obj else None


def _extra(obj: JSONObject, known: frozenset[str]) -> JSONObject:
    return {key: copy_json(value) for key, value in obj.items() if key not in known}


def _reader(readers: dict[str, Callable[[JSONObject], _T]], value: object) -> Callable[..., _T]:
    if value.__class__ is not dict:
        raise Mismatch
    kind = value.get("type")
    # Only a str names a kind (anything else, even an unhashable list, is unknown).
    return (readers.get(kind) if kind.__class__ is str else None) or _unknown


def _unknown(obj: JSONObject) -> Any:
    raise Mismatch


_BASE64_KEYS = frozenset({"type", "media_type", "data"})
_URL_KEYS = frozenset({"type", "url"})
_FILE_KEYS = frozenset({"type", "file_id"})
_TEXT_KEYS = frozenset({"type", "text"})
_IMAGE_KEYS = frozenset({"type", "source"})
_DOCUMENT_KEYS = frozenset({"type", "source", "title", "context"})
_TYPE_KEYS = frozenset({"type"})
_RUBRIC_TEXT_KEYS = frozenset({"type", "content"})
_MESSAGE_KEYS = frozenset({"type", "content"})
_OUTCOME_KEYS = frozenset({"type", "description", "rubric", "max_iterations"})


def _base64(obj: JSONObject) -> Base64Source:
    extra = {} if obj.keys() <= _BASE64_KEYS else _extra(obj, _BASE64_KEYS)
    return _new_base64(media_type=_str(obj, "media_type"), data=_str(obj, "data"), extra=extra)


def _url(obj: JSONObject) -> URLSource:
    extra = {} if obj.keys() <= _URL_KEYS else _extra(obj, _URL_KEYS)
    return _new_url(url=_str(obj, "url"), extra=extra)


def _file(obj: JSONObject) -> FileSource:
    extra = {} if obj.keys() <= _FILE_KEYS else _extra(obj, _FILE_KEYS)
    return _new_file(file_id=_str(obj, "file_id"), extra=extra)


def _plain_text(obj: JSONObject) -> PlainTextSource:
    extra = {} if obj.keys() <= _BASE64_KEYS else _extra(obj, _BASE64_KEYS)
    return _new_plain_text(media_type=_str(obj, "media_type"), data=_str(obj, "data"), extra=extra)


_IMAGE_SOURCES: dict[str, Callable[[JSONObject], DocumentSource]] = {
    "base64": _base64,
    "url": _url,
    "file": _file,
}
_DOCUMENT_SOURCES = {**_IMAGE_SOURCES, "text": _plain_text}


def structure_source(value: object, *, document: bool) -> DocumentSource:
    """An image source, or with `document` also a plain-text source; unknown kinds raw.

    Raises `Mismatch` if `value` is not a JSON object at all.
    """
    read = _reader(_DOCUMENT_SOURCES if document else _IMAGE_SOURCES, value)
    try:
        return read(value)
    except Mismatch:
        return UnknownSource(raw=copy_json(value))  # type: ignore[arg-type]


def _text(obj: JSONObject) -> TextBlock:
    text = obj.get("text")
    if text.__class__ is not str:
        raise Mismatch
    extra = {} if obj.keys() <= _TEXT_KEYS else _extra(obj, _TEXT_KEYS)
    return _new_text(text=text, extra=extra)


def _image(obj: JSONObject) -> ImageBlock:
    extra = {} if obj.keys() <= _IMAGE_KEYS else _extra(obj, _IMAGE_KEYS)
    source = structure_source(obj.get("source"), document=False)
    return _new_image(source=source, extra=extra)


def _document(obj: JSONObject) -> DocumentBlock:
    return _new_document(
        source=structure_source(obj.get("source"), document=True),
        title=_optional_str(obj, "title"),
        context=_optional_str(obj, "context"),
        extra={} if obj.keys() <= _DOCUMENT_KEYS else _extra(obj, _DOCUMENT_KEYS),
    )


def _redacted(obj: JSONObject) -> RedactedBlock:
    return _new_redacted(extra={} if obj.keys() <= _TYPE_KEYS else _extra(obj, _TYPE_KEYS))


_BLOCKS: dict[str, Callable[[JSONObject], ContentBlock]] = {
    "text": _text,
    "image": _image,
    "document": _document,
    "redacted": _redacted,
}


def structure_block(value: object) -> ContentBlock:
    """One content block; raises `Mismatch` if it is not a JSON object at all."""
    read = _reader(_BLOCKS, value)
    try:
        return read(value)
    except Mismatch:
        return UnknownBlock(raw=copy_json(value))  # type: ignore[arg-type]


def _text_rubric(obj: JSONObject) -> TextRubric:
    extra = {} if obj.keys() <= _RUBRIC_TEXT_KEYS else _extra(obj, _RUBRIC_TEXT_KEYS)
    return _new_text_rubric(content=_str(obj, "content"), extra=extra)


def _file_rubric(obj: JSONObject) -> FileRubric:
    extra = {} if obj.keys() <= _FILE_KEYS else _extra(obj, _FILE_KEYS)
    return _new_file_rubric(file_id=_str(obj, "file_id"), extra=extra)


_RUBRICS: dict[str, Callable[[JSONObject], Rubric]] = {
    "text": _text_rubric,
    "file": _file_rubric,
}


def structure_rubric(value: object) -> Rubric:
    """A define_outcome rubric; unknown kinds raw. Raises `Mismatch` for a non-object."""
    read = _reader(_RUBRICS, value)
    try:
        return read(value)
    except Mismatch:
        return UnknownRubric(raw=copy_json(value))  # type: ignore[arg-type]


def _content(obj: JSONObject) -> tuple[ContentBlock, ...]:
    content = obj.get("content")
    if content.__class__ is str:
        # Legacy string content (spec 3.x examples): one text block, written back as such.
        return (_new_text(text=content, extra={}),)
    if content.__class__ is not list:
        raise Mismatch
    return tuple([structure_block(block) for block in content])


def _user_message(obj: JSONObject) -> UserMessage:
    extra = {} if obj.keys() <= _MESSAGE_KEYS else _extra(obj, _MESSAGE_KEYS)
    return _new_user_message(content=_content(obj), extra=extra)


def _system_message(obj: JSONObject) -> SystemMessage:
    content = _content(obj)
    for block in content:
        if block.__class__ is not TextBlock:
            raise Mismatch  # spec 7.2: text blocks only; anything else stays raw
    extra = {} if obj.keys() <= _MESSAGE_KEYS else _extra(obj, _MESSAGE_KEYS)
    return _new_system_message(content=content, extra=extra)


def _define_outcome(obj: JSONObject) -> DefineOutcome:
    max_iterations = obj.get("max_iterations")
    if "max_iterations" in obj and max_iterations.__class__ is not int:
        raise Mismatch
    return _new_define_outcome(
        description=_str(obj, "description"),
        rubric=structure_rubric(obj.get("rubric")),
        max_iterations=max_iterations,
        extra={} if obj.keys() <= _OUTCOME_KEYS else _extra(obj, _OUTCOME_KEYS),
    )


_EVENTS: dict[str, Callable[[JSONObject], InitialEvent]] = {
    "user.message": _user_message,
    "system.message": _system_message,
    "user.define_outcome": _define_outcome,
}


def structure_event(value: object) -> InitialEvent:
    """One initial event; TypeError if it is not a JSON object, never for its inside."""
    try:
        read = _reader(_EVENTS, value)
    except Mismatch:
        msg = f"an initial event must be a JSON object, got {type(value).__name__}"
        raise TypeError(msg) from None
    try:
        return read(value)
    except Mismatch:
        return UnknownEvent(raw=copy_json(value))  # type: ignore[arg-type]


def structure_events(value: object) -> tuple[InitialEvent, ...]:
    """A deployment's `initial_events` list."""
    if value.__class__ is not list:
        msg = f"initial_events must be a JSON array, got {type(value).__name__}"
        raise TypeError(msg)
    return tuple([structure_event(event) for event in value])


# -- writing ---------------------------------------------------------------------------


def _with_extra(out: JSONObject, extra: Mapping[str, object]) -> JSONObject:
    for key, value in extra.items():
        if key not in out:  # a typed field wins over a stray key of the same name
            out[key] = copy_json(value)
    return out


def _write_raw(obj: UnknownEvent | UnknownBlock | UnknownSource | UnknownRubric) -> JSONObject:
    return copy_json(dict(obj.raw))  # type: ignore[return-value]


def _write_base64(source: Base64Source) -> JSONObject:
    out: JSONObject = {"type": "base64", "media_type": source.media_type, "data": source.data}
    return _with_extra(out, source.extra)


def _write_plain_text(source: PlainTextSource) -> JSONObject:
    out: JSONObject = {"type": "text", "media_type": source.media_type, "data": source.data}
    return _with_extra(out, source.extra)


def _write_url(source: URLSource) -> JSONObject:
    return _with_extra({"type": "url", "url": source.url}, source.extra)


def _write_file(source: FileSource | FileRubric) -> JSONObject:
    return _with_extra({"type": "file", "file_id": source.file_id}, source.extra)


def _write_text(block: TextBlock) -> JSONObject:
    return _with_extra({"type": "text", "text": block.text}, block.extra)


def _write_image(block: ImageBlock) -> JSONObject:
    out: JSONObject = {"type": "image", "source": _write(block.source)}
    return _with_extra(out, block.extra)


def _write_document(block: DocumentBlock) -> JSONObject:
    out: JSONObject = {"type": "document", "source": _write(block.source)}
    if block.title is not None:
        out["title"] = block.title
    if block.context is not None:
        out["context"] = block.context
    return _with_extra(out, block.extra)


def _write_redacted(block: RedactedBlock) -> JSONObject:
    return _with_extra({"type": "redacted"}, block.extra)


def _write_text_rubric(rubric: TextRubric) -> JSONObject:
    return _with_extra({"type": "text", "content": rubric.content}, rubric.extra)


def _write_message(event: UserMessage | SystemMessage) -> JSONObject:
    out: JSONObject = {
        "type": event.type,
        "content": [_write(block) for block in event.content],
    }
    return _with_extra(out, event.extra)


def _write_outcome(event: DefineOutcome) -> JSONObject:
    out: JSONObject = {
        "type": "user.define_outcome",
        "description": event.description,
        "rubric": _write(event.rubric),
    }
    if event.max_iterations is not None:
        out["max_iterations"] = event.max_iterations
    return _with_extra(out, event.extra)


#: Writer of each model class; the converter registers them as its unstructure hooks.
UNSTRUCTURE: dict[type, Callable[[Any], JSONObject]] = {
    Base64Source: _write_base64,
    URLSource: _write_url,
    FileSource: _write_file,
    PlainTextSource: _write_plain_text,
    UnknownSource: _write_raw,
    TextBlock: _write_text,
    ImageBlock: _write_image,
    DocumentBlock: _write_document,
    RedactedBlock: _write_redacted,
    UnknownBlock: _write_raw,
    TextRubric: _write_text_rubric,
    FileRubric: _write_file,
    UnknownRubric: _write_raw,
    UserMessage: _write_message,
    SystemMessage: _write_message,
    DefineOutcome: _write_outcome,
    UnknownEvent: _write_raw,
}


def _write(obj: object) -> JSONObject:
    write = UNSTRUCTURE.get(obj.__class__)
    if write is None:
        msg = f"cannot write a {type(obj).__name__} inside an initial event"
        raise TypeError(msg)
    return write(obj)


def unstructure_event(event: InitialEvent) -> JSONObject:
    """The wire JSON of one initial event; TypeError for a part that is not one of the models."""
    return _write(event)
