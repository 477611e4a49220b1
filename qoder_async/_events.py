"""Initial events and their content blocks, sources and rubrics (spec 7.2) as frozen models.

Every documented kind has its own class; the type aliases (`InitialEvent`, `ContentBlock`,
`ImageSource`, `DocumentSource`, `Rubric`) name the unions. What this SDK does not know is
carried through, never dropped, so that reading a deployment and sending its
`initial_events` back gives the JSON that was received (spec 7.2):

- a JSON key a known kind does not document lands in that object's `extra` mapping and is
  written back beside the typed fields;
- an object of an unknown `type`, or of a known `type` whose fields do not have the
  documented types (e.g. `"title": null`), is kept whole as `Unknown*` with its `raw` JSON.

Legacy string `content` (`{"type": "user.message", "content": "..."}`, spec 3.x examples) is
read as one `TextBlock` and goes back as a one-block list, the form both official SDKs send.
`extra` and `raw` take no part in hashing, so events stay hashable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar, Literal, TypeAlias

import attrs

__all__ = [
    "Base64Source",
    "ContentBlock",
    "DefineOutcome",
    "DocumentBlock",
    "DocumentSource",
    "FileRubric",
    "FileSource",
    "ImageBlock",
    "ImageSource",
    "InitialEvent",
    "PlainTextSource",
    "RedactedBlock",
    "Rubric",
    "SystemMessage",
    "TextBlock",
    "TextRubric",
    "URLSource",
    "UnknownBlock",
    "UnknownEvent",
    "UnknownRubric",
    "UnknownSource",
    "UserMessage",
]


class _Unknown:
    """Shared behaviour of the `Unknown*` classes: `type` read from the raw JSON."""

    __slots__ = ()
    raw: Mapping[str, object]

    @property
    def type(self) -> object:
        """The raw object's `type` (None if it has none); usually an unknown string."""
        return self.raw.get("type")


# -- sources ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Base64Source:
    """Inline data of an image or document block: `media_type` (e.g. "image/png") and base64 `data`."""

    type: ClassVar[Literal["base64"]] = "base64"
    media_type: str
    data: str
    extra: Mapping[str, object] = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class URLSource:
    """An image or document the API fetches from `url`."""

    type: ClassVar[Literal["url"]] = "url"
    url: str
    extra: Mapping[str, object] = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class FileSource:
    """An image or document uploaded before through the Files API, by its `file_id`."""

    type: ClassVar[Literal["file"]] = "file"
    file_id: str
    extra: Mapping[str, object] = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class PlainTextSource:
    """A document given as plain text; allowed for documents only, not images (spec 7.2)."""

    type: ClassVar[Literal["text"]] = "text"
    data: str
    media_type: str = "text/plain"
    extra: Mapping[str, object] = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class UnknownSource(_Unknown):
    """A source of a kind this SDK does not know; `raw` is its JSON, sent back unchanged."""

    raw: Mapping[str, object] = attrs.field(hash=False)


#: Where an image block's bytes come from.
ImageSource: TypeAlias = Base64Source | URLSource | FileSource | UnknownSource
#: Where a document block's content comes from: an image source or plain text.
DocumentSource: TypeAlias = Base64Source | URLSource | FileSource | PlainTextSource | UnknownSource


# -- content blocks --------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TextBlock:
    """A block of text in a message's `content`."""

    type: ClassVar[Literal["text"]] = "text"
    text: str
    extra: Mapping[str, object] = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class ImageBlock:
    """An image in a user message: base64 data, a URL or an uploaded file (spec 7.2)."""

    type: ClassVar[Literal["image"]] = "image"
    source: ImageSource
    extra: Mapping[str, object] = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class DocumentBlock:
    """A document in a user message, with an optional `title` and `context` for the agent."""

    type: ClassVar[Literal["document"]] = "document"
    source: DocumentSource
    title: str | None = None
    context: str | None = None
    extra: Mapping[str, object] = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class RedactedBlock:
    """A block whose content was removed; it has no field besides `type`."""

    type: ClassVar[Literal["redacted"]] = "redacted"
    extra: Mapping[str, object] = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class UnknownBlock(_Unknown):
    """A content block this SDK does not know; `raw` is its JSON, sent back unchanged."""

    raw: Mapping[str, object] = attrs.field(hash=False)


#: One block of a message's `content`.
ContentBlock: TypeAlias = TextBlock | ImageBlock | DocumentBlock | RedactedBlock | UnknownBlock


# -- rubrics ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TextRubric:
    """A define_outcome rubric written out in `content`."""

    type: ClassVar[Literal["text"]] = "text"
    content: str
    extra: Mapping[str, object] = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class FileRubric:
    """A define_outcome rubric stored as an uploaded file, by its `file_id`."""

    type: ClassVar[Literal["file"]] = "file"
    file_id: str
    extra: Mapping[str, object] = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class UnknownRubric(_Unknown):
    """A rubric of a kind this SDK does not know; `raw` is its JSON, sent back unchanged."""

    raw: Mapping[str, object] = attrs.field(hash=False)


#: How the agent judges a define_outcome event's result.
Rubric: TypeAlias = TextRubric | FileRubric | UnknownRubric


# -- events ----------------------------------------------------------------------------


def _blocks(value: str | Sequence[ContentBlock]) -> tuple[ContentBlock, ...]:
    # A caller's str becomes one text block, the only form the official SDKs send; other
    # values are left for `initial_events` checks to report with their index.
    given: object = value
    if isinstance(given, str):
        return (TextBlock(text=given),)
    if isinstance(given, tuple):
        return given
    if isinstance(given, Sequence):
        return tuple(given)
    return given  # type: ignore[return-value]


def _text_blocks(value: str | Sequence[TextBlock]) -> tuple[TextBlock, ...]:
    return _blocks(value)  # type: ignore[return-value]


@attrs.frozen(kw_only=True)
class UserMessage:
    """A user message sent to the agent at the start of every run.

    `content` takes a str (sent as one `TextBlock`) or a sequence of blocks, and always
    holds a tuple of blocks.
    """

    type: ClassVar[Literal["user.message"]] = "user.message"
    content: tuple[ContentBlock, ...] = attrs.field(converter=_blocks)
    extra: Mapping[str, object] = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class SystemMessage:
    """A system message sent at the start of every run; its `content` is text blocks only.

    `content` takes a str (sent as one `TextBlock`) or a sequence of `TextBlock`s.
    """

    type: ClassVar[Literal["system.message"]] = "system.message"
    content: tuple[TextBlock, ...] = attrs.field(converter=_text_blocks)
    extra: Mapping[str, object] = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class DefineOutcome:
    """A `user.define_outcome` event: the result the agent works toward, and how it is judged.

    `description` and `rubric` are required; `max_iterations` (optional) caps the attempts.
    """

    type: ClassVar[Literal["user.define_outcome"]] = "user.define_outcome"
    description: str
    rubric: Rubric
    max_iterations: int | None = None
    extra: Mapping[str, object] = attrs.field(factory=dict, hash=False)


@attrs.frozen(kw_only=True)
class UnknownEvent(_Unknown):
    """An initial event this SDK does not know; `raw` is its JSON, sent back unchanged.

    Also holds a known event type whose fields do not match spec 7.2, so nothing is lost.
    Sent as it is, without checks.
    """

    raw: Mapping[str, object] = attrs.field(hash=False)


#: An event sent to the agent at the start of every run of a deployment.
InitialEvent: TypeAlias = UserMessage | SystemMessage | DefineOutcome | UnknownEvent
