"""The `initial_events` argument of create/update: checked before any I/O, then written as JSON.

Every failure names the event index and the field, e.g. `initial_events[2].rubric`, and
is a TypeError for a value of the wrong kind or a ValueError for a missing or invalid
one. The JSON comes from the converter's one writer (`_event_codec`), so what is sent is
exactly what `to_dict` shows. `Unknown*` objects are the escape hatch for kinds this SDK
does not know (or read back from the API): their `raw` JSON is sent unchecked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from qoder_async._event_codec import unstructure_event
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

__all__ = ["MAX_EVENTS", "events_json"]

# Spec 3.2: create and update take 1 to 50 events.
MAX_EVENTS = 50

# The JSON keys each model writes itself; `extra` must not hold them (it would be ignored).
_WRITTEN: dict[type, frozenset[str]] = {
    UserMessage: frozenset({"type", "content"}),
    SystemMessage: frozenset({"type", "content"}),
    DefineOutcome: frozenset({"type", "description", "rubric", "max_iterations"}),
    TextBlock: frozenset({"type", "text"}),
    ImageBlock: frozenset({"type", "source"}),
    DocumentBlock: frozenset({"type", "source", "title", "context"}),
    RedactedBlock: frozenset({"type"}),
    Base64Source: frozenset({"type", "media_type", "data"}),
    PlainTextSource: frozenset({"type", "media_type", "data"}),
    URLSource: frozenset({"type", "url"}),
    FileSource: frozenset({"type", "file_id"}),
    TextRubric: frozenset({"type", "content"}),
    FileRubric: frozenset({"type", "file_id"}),
}
_EVENT_KINDS = "a UserMessage, SystemMessage, DefineOutcome or UnknownEvent"
_BLOCK_KINDS = "a TextBlock, ImageBlock, DocumentBlock, RedactedBlock or UnknownBlock"
_SOURCE_KINDS = "a Base64Source, URLSource, FileSource or UnknownSource"
_DOCUMENT_SOURCE_KINDS = "a Base64Source, URLSource, FileSource, PlainTextSource or UnknownSource"
_RUBRIC_KINDS = "a TextRubric, FileRubric or UnknownRubric"


def _type_error(where: str, expected: str, value: object) -> TypeError:
    return TypeError(f"{where} must be {expected}, got {type(value).__name__}")


def _required(value: object, where: str, expected: str) -> None:
    if value is None:
        msg = f"{where} is required: {expected}"
        raise ValueError(msg)


def _str(value: object, where: str, *, allow_empty: bool = False) -> None:
    _required(value, where, "a str")
    if not isinstance(value, str):
        raise _type_error(where, "a str", value)
    if not value and not allow_empty:
        msg = f"{where} must not be empty"
        raise ValueError(msg)


def _optional_str(value: object, where: str) -> None:
    if value is not None and not isinstance(value, str):
        raise _type_error(where, "a str or None", value)


def _json_object(value: object, where: str) -> None:
    if not isinstance(value, Mapping):
        raise _type_error(where, "a mapping of str to JSON values", value)
    for key in value:
        if not isinstance(key, str):
            raise _type_error(f"{where} keys", "str", key)


def _extra(obj: object, where: str) -> None:
    extra = getattr(obj, "extra", None)
    _json_object(extra, f"{where}.extra")
    assert isinstance(extra, Mapping)  # noqa: S101 - narrowed by _json_object
    for key in extra:
        if key in _WRITTEN[type(obj)]:
            msg = f"{where}.extra must not hold {key!r}: it is a field of {type(obj).__name__}"
            raise ValueError(msg)


def _source(source: object, where: str, *, document: bool) -> None:
    _required(source, where, _DOCUMENT_SOURCE_KINDS if document else _SOURCE_KINDS)
    if isinstance(source, UnknownSource):
        _json_object(source.raw, f"{where}.raw")
        return
    if isinstance(source, Base64Source):
        _str(source.media_type, f"{where}.media_type")
        _str(source.data, f"{where}.data")
    elif isinstance(source, URLSource):
        _str(source.url, f"{where}.url")
    elif isinstance(source, FileSource):
        _str(source.file_id, f"{where}.file_id")
    elif isinstance(source, PlainTextSource):
        if not document:
            msg = f"{where} must not be a PlainTextSource: plain text is for documents (spec 7.2)"
            raise ValueError(msg)
        _str(source.data, f"{where}.data", allow_empty=True)
        if source.media_type != "text/plain":
            msg = f"{where}.media_type must be 'text/plain', got {source.media_type!r}"
            raise ValueError(msg)
    else:
        raise _type_error(where, _DOCUMENT_SOURCE_KINDS if document else _SOURCE_KINDS, source)
    _extra(source, where)


def _block(block: object, where: str) -> None:
    if isinstance(block, UnknownBlock):
        _json_object(block.raw, f"{where}.raw")
        return
    if isinstance(block, TextBlock):
        _str(block.text, f"{where}.text", allow_empty=True)
    elif isinstance(block, ImageBlock):
        _source(block.source, f"{where}.source", document=False)
    elif isinstance(block, DocumentBlock):
        _source(block.source, f"{where}.source", document=True)
        _optional_str(block.title, f"{where}.title")
        _optional_str(block.context, f"{where}.context")
    elif not isinstance(block, RedactedBlock):
        raise _type_error(where, _BLOCK_KINDS, block)
    _extra(block, where)


def _content(event: UserMessage | SystemMessage, where: str) -> None:
    content: object = event.content
    if not isinstance(content, tuple):
        # The model turns a str or a sequence into a tuple; anything else is left as given.
        raise _type_error(where, "a str or a sequence of content blocks", content)
    for index, block in enumerate(content):
        if isinstance(event, SystemMessage) and not isinstance(block, TextBlock):
            raise _type_error(f"{where}[{index}]", "a TextBlock (system messages take text)", block)
        _block(block, f"{where}[{index}]")


def _rubric(rubric: object, where: str) -> None:
    _required(rubric, where, _RUBRIC_KINDS)
    if isinstance(rubric, UnknownRubric):
        _json_object(rubric.raw, f"{where}.raw")
        return
    if isinstance(rubric, TextRubric):
        _str(rubric.content, f"{where}.content")
    elif isinstance(rubric, FileRubric):
        _str(rubric.file_id, f"{where}.file_id")
    else:
        raise _type_error(where, _RUBRIC_KINDS, rubric)
    _extra(rubric, where)


def _event(event: object, where: str) -> None:
    if isinstance(event, UnknownEvent):
        _json_object(event.raw, f"{where}.raw")
        return
    if isinstance(event, (UserMessage, SystemMessage)):
        _content(event, f"{where}.content")
    elif isinstance(event, DefineOutcome):
        _str(event.description, f"{where}.description")
        _rubric(event.rubric, f"{where}.rubric")
        iterations = event.max_iterations
        if iterations is not None:
            if isinstance(iterations, bool) or not isinstance(iterations, int):
                raise _type_error(f"{where}.max_iterations", "an int or None", iterations)
            if iterations < 1:
                msg = f"{where}.max_iterations must be >= 1, got {iterations}"
                raise ValueError(msg)
    else:
        raise _type_error(where, _EVENT_KINDS, event)
    _extra(event, where)


def events_json(value: object) -> list[dict[str, object]]:
    """The `initial_events` field: 1 to 50 events (spec 3.2, 7.2), checked, as wire JSON.

    Raises TypeError or ValueError naming the event and field, e.g. `initial_events[2].rubric`.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise _type_error("initial_events", f"a list of events ({_EVENT_KINDS})", value)
    if not 1 <= len(value) <= MAX_EVENTS:
        msg = f"initial_events must hold 1 to {MAX_EVENTS} events, got {len(value)}"
        raise ValueError(msg)
    for index, event in enumerate(value):
        _event(event, f"initial_events[{index}]")
    return [unstructure_event(event) for event in value]
