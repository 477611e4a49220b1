"""Initial events in the fake: the seeded mix (every kind of spec 7.2) and their validation.

Validation answers 400 `invalid_request_error` with `param` naming the field, e.g.
`initial_events[0].content[1].source.type`. The spec lists the fields and their types
(7.2, 3.2) but not the server's rules beyond them; what is taken here without a source
is marked "undocumented" where it is decided.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ._wire import ApiError

JSON = dict[str, Any]

EVENT_TYPES = frozenset({"user.message", "user.define_outcome", "system.message"})
MAX_EVENTS = 50
_BLOCK_TYPES = frozenset({"text", "image", "document", "redacted"})
_IMAGE_SOURCES = frozenset({"base64", "url", "file"})
_DOCUMENT_SOURCES = _IMAGE_SOURCES | {"text"}

# A 1x1 PNG and the first line of a PDF: small but real base64 payloads for seeded blocks.
_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
_PDF = "JVBERi0xLjcKJcK1wrYKCg=="


def _bad(param: str, message: str) -> ApiError:
    return ApiError(400, message, param=param)


def _one_of(value: object, allowed: frozenset[str], param: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise _bad(param, f"{param} must be one of {', '.join(sorted(allowed))}.")
    return value


def _string(obj: JSON, key: str, where: str, *, allow_empty: bool = False) -> None:
    value = obj.get(key)
    if not isinstance(value, str) or (not value and not allow_empty):
        param = f"{where}.{key}"
        raise _bad(param, f"{param} must be a {'' if allow_empty else 'non-empty '}string.")


def _object(value: object, param: str) -> JSON:
    if not isinstance(value, dict):
        raise _bad(param, f"{param} must be an object.")
    return value


def _source(value: object, where: str, allowed: frozenset[str]) -> None:
    source = _object(value, where)
    kind = _one_of(source.get("type"), allowed, f"{where}.type")
    if kind == "url":
        _string(source, "url", where)
    elif kind == "file":
        _string(source, "file_id", where)
    elif kind == "base64":
        _string(source, "media_type", where)
        _string(source, "data", where)
    else:  # plain text, documents only
        if source.get("media_type") != "text/plain":
            param = f"{where}.media_type"
            raise _bad(param, f'{param} must be "text/plain".')
        _string(source, "data", where, allow_empty=True)


def _block(value: object, where: str, allowed: frozenset[str]) -> None:
    block = _object(value, where)
    kind = _one_of(block.get("type"), allowed, f"{where}.type")
    if kind == "text":
        _string(block, "text", where, allow_empty=True)
    elif kind == "image":
        _source(block.get("source"), f"{where}.source", _IMAGE_SOURCES)
    elif kind == "document":
        _source(block.get("source"), f"{where}.source", _DOCUMENT_SOURCES)
        for key in ("title", "context"):
            if key in block:
                # Undocumented whether null clears these: only strings are accepted.
                _string(block, key, where, allow_empty=True)


def _content(event: JSON, where: str, allowed: frozenset[str]) -> None:
    content = event.get("content")
    if isinstance(content, str):
        # Older docs (spec 3.x examples) send a plain string; accepted and stored as given.
        return
    if not isinstance(content, list):
        param = f"{where}.content"
        raise _bad(param, f"{param} must be a list of content blocks.")
    # Undocumented: whether an empty list is refused. It is accepted here.
    for index, block in enumerate(content):
        _block(block, f"{where}.content[{index}]", allowed)


def _rubric(value: object, where: str) -> None:
    rubric = _object(value, where)
    kind = _one_of(rubric.get("type"), frozenset({"text", "file"}), f"{where}.type")
    _string(rubric, "content" if kind == "text" else "file_id", where)


def validate_events(value: object) -> list[JSON]:
    """Check `initial_events` per spec 3.2 (1 to 50) and 7.2 (each event's fields).

    Keys an event or block does not document are kept: the docs do not say whether the
    API refuses them, and keeping them lets a client's pass-through be observed.
    """
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_EVENTS:
        raise _bad("initial_events", f"initial_events must be a list of 1 to {MAX_EVENTS} events.")
    for index, item in enumerate(value):
        where = f"initial_events[{index}]"
        event = _object(item, where)
        kind = _one_of(event.get("type"), EVENT_TYPES, f"{where}.type")
        if kind == "user.message":
            _content(event, where, _BLOCK_TYPES)
        elif kind == "system.message":
            _content(event, where, frozenset({"text"}))
        else:
            _string(event, "description", where)
            if "rubric" not in event:
                raise _bad(f"{where}.rubric", f"{where}.rubric is required.")
            _rubric(event["rubric"], f"{where}.rubric")
            iterations = event.get("max_iterations")
            if "max_iterations" in event and (
                not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 1
            ):
                param = f"{where}.max_iterations"
                raise _bad(param, f"{param} must be a positive integer.")
    return value


def _text(text: str) -> JSON:
    return {"text": text, "type": "text"}


def seeded_events(index: int, prompt: str, created_ns: int) -> list[JSON]:
    """The initial events of the `index`-th seeded deployment; keys in the API's sorted order.

    Six variants in turn, so any six consecutive deployments show every kind of spec 7.2:
    legacy string content, text blocks, a system message, images and documents from every
    source, a redacted block, and define_outcome with a text and a file rubric. File ids
    are derived, not drawn from the seeded RNG: a draw would shift every later seeded value.
    """
    digest = hashlib.sha256(f"files-{created_ns}-{index}".encode()).hexdigest()
    file_ids = (f"file_{digest[:32]}", f"file_{digest[32:]}")
    variant = index % 6
    if variant == 0:
        return [{"content": prompt, "type": "user.message"}]
    if variant == 1:
        return [{"content": [_text(prompt)], "type": "user.message"}]
    if variant == 2:
        image = {"source": {"data": _PNG, "media_type": "image/png", "type": "base64"}}
        return [
            {
                "content": [_text("You are the team's on-call assistant. Be brief.")],
                "type": "system.message",
            },
            {"content": [_text(prompt), {**image, "type": "image"}], "type": "user.message"},
        ]
    if variant == 3:
        runbook = {
            "context": "Follow it step by step.",
            "source": {"type": "url", "url": "https://example.com/runbooks/report.pdf"},
            "title": "Runbook",
            "type": "document",
        }
        chart = {"source": {"type": "url", "url": "https://example.com/charts/latency.png"}}
        return [
            {
                "content": [_text(prompt), runbook, {**chart, "type": "image"}],
                "type": "user.message",
            }
        ]
    if variant == 4:
        notes = {
            "data": "Ship on Fridays only with approval.",
            "media_type": "text/plain",
            "type": "text",
        }
        blocks: list[JSON] = [
            {"source": notes, "title": "Team notes", "type": "document"},
            {
                "source": {"data": _PDF, "media_type": "application/pdf", "type": "base64"},
                "type": "document",
            },
            {"source": {"file_id": file_ids[0], "type": "file"}, "type": "image"},
            {"type": "redacted"},
        ]
        outcome = {
            "description": f"{prompt}, complete and correct.",
            "max_iterations": 3,
            "rubric": {"content": "Every section filled; no open questions.", "type": "text"},
            "type": "user.define_outcome",
        }
        return [{"content": [_text(prompt), *blocks], "type": "user.message"}, outcome]
    document = {"source": {"file_id": file_ids[1], "type": "file"}, "type": "document"}
    return [
        {"content": [_text(prompt), document], "type": "user.message"},
        {
            "description": f"{prompt}.",
            "rubric": {"file_id": file_ids[0], "type": "file"},
            "type": "user.define_outcome",
        },
    ]
