"""Initial events and content blocks (spec 7.2): reading, sending back, checks, and the fake."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from qoder_async import (
    Base64Source,
    DefineOutcome,
    Deployment,
    DocumentBlock,
    FileRubric,
    FileSource,
    ImageBlock,
    InitialEvent,
    PlainTextSource,
    QoderClient,
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
    from_dict,
    to_dict,
)
from qoder_async._event_checks import events_json
from qoder_async.testing import FakeQoderAPI
from tests.helpers import BASE_URL

if TYPE_CHECKING:
    from collections.abc import Sequence

AGENT = "agent_019ebb21ef8e7df6a559052c94875160"
ENV = "env_019e49a1780171daac1e6b01f290ac2b"
EXAMPLES: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "spec_examples.json").read_text()
)
# Every row of the spec 7.2 tables, as an update request would carry them.
EVERY_KIND: list[dict[str, Any]] = EXAMPLES["update_request_7_2"]["initial_events"]
PNG = EVERY_KIND[0]["content"][1]["source"]["data"]
GOOD = UserMessage(content="Generate today's status report")


def bad(value: object) -> Any:
    """Pass a deliberately ill-typed value past the type checker."""
    return value


def dumps(value: object) -> str:
    """The comparison form of JSON: keys sorted, so only content counts."""
    return json.dumps(value, sort_keys=True)


def read(events: Sequence[object]) -> tuple[InitialEvent, ...]:
    """Structure a JSON `initial_events` list as a deployment read would."""
    raw = copy.deepcopy(EXAMPLES["deployment_1"])
    raw["initial_events"] = copy.deepcopy(list(events))
    return from_dict(Deployment, raw).initial_events


# -- reading -------------------------------------------------------------------------------


def test_every_documented_kind_reads_into_its_class() -> None:
    """Each event, block, source and rubric kind of spec 7.2 becomes its own typed class."""
    message, system, outcome, outcome_file = read(EVERY_KIND)
    assert isinstance(message, UserMessage)
    assert [type(block) for block in message.content] == [
        TextBlock,
        ImageBlock,
        ImageBlock,
        ImageBlock,
        DocumentBlock,
        DocumentBlock,
        DocumentBlock,
        DocumentBlock,
        RedactedBlock,
    ]
    sources = [block.source for block in message.content if isinstance(block, ImageBlock)]
    assert sources == [
        Base64Source(media_type="image/png", data=PNG),
        URLSource(url="https://example.com/chart.png"),
        FileSource(file_id="file_019ec55a68b87a9dafad75c1554d1102"),
    ]
    documents = [block for block in message.content if isinstance(block, DocumentBlock)]
    assert (documents[0].title, documents[0].context) == ("Q2 report", "Quarterly numbers")
    assert (documents[1].title, documents[1].context) == ("Runbook", None)
    assert documents[3].source == PlainTextSource(data="Ship on Fridays only with approval.")
    assert system == SystemMessage(content=(TextBlock(text="Answer in English."),))
    assert outcome == DefineOutcome(
        description="A complete status report",
        rubric=TextRubric(content="Every section is filled in."),
        max_iterations=3,
    )
    assert isinstance(outcome_file, DefineOutcome)
    assert outcome_file.rubric == FileRubric(file_id="file_019ec55694cb76249bc9ba56bf13a15c")
    assert outcome_file.max_iterations is None


def test_legacy_string_content_reads_as_one_text_block() -> None:
    """A plain-string content (spec 3.x examples) is one TextBlock, sent back as a one-block list."""
    events = [
        {"content": "Generate today's status report", "type": "user.message"},
        {"content": "Be brief", "type": "system.message"},
    ]
    user, system = read(events)
    assert user == GOOD
    assert system == SystemMessage(content=(TextBlock(text="Be brief"),))
    assert events_json([user, system]) == [
        {"type": "user.message", "content": [{"type": "text", "text": events[0]["content"]}]},
        {"type": "system.message", "content": [{"type": "text", "text": "Be brief"}]},
    ]


S3_IMAGE = {
    "type": "user.message",
    "content": [{"type": "image", "source": {"type": "s3", "bucket": "b"}}],
}
URL_RUBRIC = {
    "type": "user.define_outcome",
    "description": "d",
    "rubric": {"type": "url", "url": "https://e.com/r"},
    "grader": "strict",
}
AUDIO = {"type": "user.message", "content": [{"type": "audio", "source": {"type": "url"}}]}
UNKNOWNS: list[Any] = [
    pytest.param({"type": "user.react", "emoji": "+1"}, UnknownEvent, id="event-type"),
    pytest.param({"content": [{"text": "x", "type": "text"}]}, UnknownEvent, id="event-no-type"),
    pytest.param({"type": ["user.message"], "content": "x"}, UnknownEvent, id="event-list-type"),
    pytest.param(
        {"type": "user.message", "content": [{"type": "text", "text": "hi"}], "priority": {"a": 2}},
        UserMessage,
        id="event-extra-field",
    ),
    pytest.param(AUDIO, UserMessage, id="block-type"),
    pytest.param(
        {"type": "user.message", "content": [{"type": "text", "text": "x", "cache": True}]},
        UserMessage,
        id="block-extra-field",
    ),
    pytest.param(S3_IMAGE, UserMessage, id="source-kind"),
    pytest.param(
        {
            "type": "user.message",
            "content": [{"type": "image", "source": {"type": "text", "data": "x"}}],
        },
        UserMessage,
        id="plain-text-source-in-image",
    ),
    pytest.param(
        {
            "type": "user.message",
            "content": [
                {
                    "type": "document",
                    "source": {"type": "url", "url": "https://e.com/a", "headers": {"a": "b"}},
                    "citations": {"enabled": True},
                }
            ],
        },
        UserMessage,
        id="source-and-document-extra-fields",
    ),
    pytest.param(URL_RUBRIC, DefineOutcome, id="rubric-kind-and-event-extra"),
    pytest.param(
        {
            "type": "user.define_outcome",
            "description": "d",
            "rubric": {"type": "text", "content": "c", "weight": 0.5},
        },
        DefineOutcome,
        id="rubric-extra-field",
    ),
    # Known kinds in shapes spec 7.2 does not document stay raw, so nothing is lost.
    pytest.param(
        {"type": "user.message", "content": [{"type": "document", "title": None}]},
        UserMessage,
        id="document-without-source",
    ),
    pytest.param(
        {
            "type": "user.message",
            "content": [
                {"type": "document", "source": {"type": "file", "file_id": "f"}, "title": None}
            ],
        },
        UserMessage,
        id="document-null-title",
    ),
    pytest.param(
        {"type": "user.message", "content": [{"type": "text"}]}, UserMessage, id="text-no-text"
    ),
    pytest.param({"type": "user.message", "content": ["hi"]}, UnknownEvent, id="block-not-object"),
    pytest.param({"type": "user.message", "content": 5}, UnknownEvent, id="content-number"),
    pytest.param(
        {
            "type": "system.message",
            "content": [{"type": "image", "source": {"type": "url", "url": "u"}}],
        },
        UnknownEvent,
        id="system-message-image",
    ),
    pytest.param(
        {
            "type": "user.define_outcome",
            "description": "d",
            "rubric": {"type": "text", "content": "c"},
            "max_iterations": None,
        },
        UnknownEvent,
        id="null-max-iterations",
    ),
    pytest.param({"type": "user.define_outcome", "description": "d"}, UnknownEvent, id="no-rubric"),
    pytest.param(
        {"type": "user.define_outcome", "rubric": {"type": "file", "file_id": "f"}},
        UnknownEvent,
        id="no-description",
    ),
]


@pytest.mark.parametrize(("event", "kind"), UNKNOWNS)
def test_read_then_send_back_gives_the_json_received(event: dict[str, Any], kind: type) -> None:
    """Unknown kinds, unknown fields and undocumented shapes are carried through unchanged."""
    (structured,) = read([event])
    assert type(structured) is kind
    assert dumps(events_json([structured])) == dumps([event])
    assert dumps(to_dict(structured)) == dumps(event)


def test_unknown_parts_are_kept_raw_with_their_type() -> None:
    """Unknown blocks, sources and rubrics keep their raw JSON and expose its `type`."""
    (message,) = read([S3_IMAGE])
    assert isinstance(message, UserMessage)
    (image,) = message.content
    assert isinstance(image, ImageBlock)
    assert image.source == UnknownSource(raw={"type": "s3", "bucket": "b"})
    assert image.source.type == "s3"
    (outcome,) = read([URL_RUBRIC])
    assert isinstance(outcome, DefineOutcome)
    assert isinstance(outcome.rubric, UnknownRubric)
    assert outcome.extra == {"grader": "strict"}
    (audio,) = read([AUDIO])
    assert isinstance(audio, UserMessage)
    assert audio.content == (UnknownBlock(raw={"type": "audio", "source": {"type": "url"}}),)
    assert UnknownEvent(raw={}).type is None


def test_models_share_no_mutable_json_with_the_data() -> None:
    """Changing the JSON read, or a dict written, leaves the models unchanged."""
    event = {"type": "user.message", "content": "hi", "meta": {"tags": ["a"]}}
    (structured,) = read([event])
    written = to_dict(structured)
    written["meta"]["tags"].append("b")
    assert to_dict(structured)["meta"] == {"tags": ["a"]}
    numbers = [1]
    model = from_dict(UnknownEvent, {"type": "future", "nested": {"x": numbers}})
    numbers.append(2)
    assert model.raw == {"type": "future", "nested": {"x": [1]}}


def test_events_are_hashable_and_compare_by_value() -> None:
    """Equal events are equal and hash alike, so they can live in sets."""
    first = DefineOutcome(description="d", rubric=TextRubric(content="c"), extra={"x": [1]})
    second = DefineOutcome(description="d", rubric=TextRubric(content="c"), extra={"x": [1]})
    assert first == second
    assert hash(first) == hash(second)
    assert len({UserMessage(content="a"), UserMessage(content=[TextBlock(text="a")])}) == 1
    assert first != DefineOutcome(description="d", rubric=TextRubric(content="c"))


def test_from_dict_of_one_kind_refuses_json_of_another() -> None:
    """`from_dict(TextBlock, ...)` gives a TextBlock or raises ValueError."""
    assert from_dict(TextBlock, {"type": "text", "text": "hi"}) == TextBlock(text="hi")
    assert from_dict(InitialEvent, EVERY_KIND[1]) == SystemMessage(content="Answer in English.")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="TextBlock"):
        from_dict(TextBlock, {"type": "image", "source": {"type": "url", "url": "u"}})
    with pytest.raises(ValueError, match="UserMessage"):
        from_dict(UserMessage, [])


# -- sending -------------------------------------------------------------------------------


def test_every_kind_is_sent_as_the_json_it_was_read_from() -> None:
    """The spec 7.2 example events, read and sent back, are byte-equal to the original."""
    assert json.dumps(events_json(read(EVERY_KIND)), sort_keys=True) == dumps(EVERY_KIND)


def test_a_str_content_is_sent_as_one_text_block() -> None:
    """`UserMessage(content="...")` goes out as `[{"type": "text", ...}]`, never a bare string."""
    assert GOOD.content == (TextBlock(text="Generate today's status report"),)
    assert events_json([GOOD]) == [
        {
            "type": "user.message",
            "content": [{"type": "text", "text": "Generate today's status report"}],
        }
    ]


def _outcome(**changes: Any) -> DefineOutcome:
    fields: dict[str, Any] = {"description": "done", "rubric": TextRubric(content="c"), **changes}
    return DefineOutcome(**fields)


def _message(*blocks: Any) -> UserMessage:
    return UserMessage(content=blocks)


def _image(source: Any) -> UserMessage:
    return _message(ImageBlock(source=source))


BAD_EVENTS: list[Any] = [
    pytest.param(_outcome(description=None), ValueError, "description", id="no-description"),
    pytest.param(_outcome(description=""), ValueError, "description", id="empty-description"),
    pytest.param(_outcome(description=5), TypeError, "description", id="int-description"),
    pytest.param(_outcome(rubric=None), ValueError, "rubric", id="no-rubric"),
    pytest.param(_outcome(rubric={"type": "text"}), TypeError, "rubric", id="dict-rubric"),
    pytest.param(
        _outcome(rubric=TextRubric(content="")), ValueError, "rubric.content", id="empty-rubric"
    ),
    pytest.param(
        _outcome(rubric=FileRubric(file_id=bad(None))),
        ValueError,
        "rubric.file_id",
        id="rubric-file",
    ),
    pytest.param(_outcome(max_iterations=0), ValueError, "max_iterations", id="iterations-0"),
    pytest.param(_outcome(max_iterations=True), TypeError, "max_iterations", id="iterations-bool"),
    pytest.param(
        _message(TextBlock(text=bad(None))), ValueError, "content[0].text", id="text-none"
    ),
    pytest.param(
        _message(TextBlock(text=bad(b"x"))), TypeError, "content[0].text", id="text-bytes"
    ),
    pytest.param(_message({"type": "text"}), TypeError, "content[0]", id="dict-block"),
    pytest.param(_image(None), ValueError, "content[0].source", id="image-no-source"),
    pytest.param(_image({"type": "s3"}), TypeError, "content[0].source", id="source-dict"),
    pytest.param(
        _image(PlainTextSource(data="x")), ValueError, "content[0].source", id="image-plain-text"
    ),
    pytest.param(
        _image(Base64Source(media_type="", data=PNG)),
        ValueError,
        "content[0].source.media_type",
        id="base64-no-media-type",
    ),
    pytest.param(
        _image(Base64Source(media_type="image/png", data=bad(None))),
        ValueError,
        "content[0].source.data",
        id="base64-no-data",
    ),
    pytest.param(_image(URLSource(url=bad(5))), TypeError, "content[0].source.url", id="url-int"),
    pytest.param(
        _image(FileSource(file_id="")), ValueError, "content[0].source.file_id", id="file-empty"
    ),
    pytest.param(
        _message(DocumentBlock(source=PlainTextSource(data="x", media_type="text/html"))),
        ValueError,
        "content[0].source.media_type",
        id="plain-text-html",
    ),
    pytest.param(
        _message(DocumentBlock(source=URLSource(url="u"), title=bad(5))),
        TypeError,
        "content[0].title",
        id="document-title-int",
    ),
    pytest.param(
        _message(DocumentBlock(source=URLSource(url="u"), context=bad(["c"]))),
        TypeError,
        "content[0].context",
        id="document-context-list",
    ),
    pytest.param(
        SystemMessage(content=[bad(ImageBlock(source=URLSource(url="u")))]),
        TypeError,
        "content[0]",
        id="system-image",
    ),
    pytest.param(UserMessage(content=bad(5)), TypeError, "content", id="content-int"),
    pytest.param(
        UserMessage(content="x", extra={"content": "y"}), ValueError, "extra", id="extra-shadows"
    ),
    pytest.param(
        _message(TextBlock(text="x", extra=bad({1: "y"}))),
        TypeError,
        "content[0].extra",
        id="key-int",
    ),
    pytest.param(UnknownEvent(raw=bad(["x"])), TypeError, "raw", id="raw-list"),
    pytest.param({"type": "user.message", "content": "x"}, TypeError, "", id="dict-event"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("event", "error", "field"), BAD_EVENTS)
async def test_bad_shapes_are_refused_before_any_request(
    api: FakeQoderAPI, client: QoderClient, event: Any, error: type[Exception], field: str
) -> None:
    """A bad event raises TypeError/ValueError naming its index and field, and nothing is sent."""
    events = [GOOD, SystemMessage(content="ok"), event]
    where = f"initial_events[2]{'.' if field and field[0] != '[' else ''}{field}"
    with pytest.raises(error) as caught:
        await client.deployments.create(
            name="x", agent=AGENT, environment_id=ENV, initial_events=events
        )
    assert str(caught.value).startswith(where + " "), str(caught.value)
    with pytest.raises(error, match=r"initial_events\[0\]"):
        await client.deployments.update("dep_1", initial_events=[event])
    assert api.requests == []


@pytest.mark.anyio
async def test_every_kind_round_trips_through_the_fake(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """Created from models, read back, and sent again: the wire JSON never changes."""
    events = read(EVERY_KIND)
    created = await client.deployments.create(
        name="kinds", agent=AGENT, environment_id=ENV, initial_events=events
    )
    assert created.initial_events == events
    fetched = await client.deployments.get(created.id)
    await client.deployments.update(created.id, initial_events=fetched.initial_events)
    create, _, update = api.requests
    assert dumps(create.json["initial_events"]) == dumps(EVERY_KIND)
    assert update.json == {"initial_events": create.json["initial_events"]}
    assert dumps(api.deployments[created.id]["initial_events"]) == dumps(EVERY_KIND)


# -- the fake ------------------------------------------------------------------------------


def test_the_fake_seeds_every_kind() -> None:
    """Six seeded deployments carry legacy strings, every block, source, rubric and event kind."""
    api = FakeQoderAPI(seed=5)
    api.seed(deployments=6, runs_per_deployment=0)
    seen: set[str] = set()

    def walk(value: object, path: str) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("type"), str):
                seen.add(f"{path}:{value['type']}")
            for key, item in value.items():
                walk(item, f"{path}.{key}" if key in ("source", "rubric") else path)
        elif isinstance(value, list):
            for item in value:
                walk(item, path)
        elif isinstance(value, str) and path == "content":
            seen.add("legacy string")

    for deployment in api.deployments.values():
        for event in deployment["initial_events"]:
            seen.add(f"event:{event['type']}")
            walk(event.get("content"), "content")
            walk(event.get("rubric"), "rubric")
    assert seen >= {
        "legacy string",
        "event:user.message",
        "event:system.message",
        "event:user.define_outcome",
        "content:text",
        "content:image",
        "content:document",
        "content:redacted",
        "content.source:base64",
        "content.source:url",
        "content.source:file",
        "content.source:text",
        "rubric:text",
        "rubric:file",
    }, seen


BAD_BODIES: list[Any] = [
    pytest.param([5], "initial_events[0]", id="event-number"),
    pytest.param([{"type": "user.shout"}], "initial_events[0].type", id="event-type"),
    pytest.param([{"type": "user.message"}], "initial_events[0].content", id="no-content"),
    pytest.param(
        [{"type": "user.message", "content": [{"type": "text"}]}],
        "initial_events[0].content[0].text",
        id="text-without-text",
    ),
    pytest.param(
        [{"type": "user.message", "content": [{"type": "text", "text": "a"}, {"type": "gif"}]}],
        "initial_events[0].content[1].type",
        id="block-type",
    ),
    pytest.param(
        [{"type": "user.message", "content": [{"type": "image", "source": {"type": "text"}}]}],
        "initial_events[0].content[0].source.type",
        id="image-plain-text",
    ),
    pytest.param(
        [
            {
                "type": "user.message",
                "content": [{"type": "document", "source": {"type": "s3", "url": "u"}}],
            }
        ],
        "initial_events[0].content[0].source.type",
        id="source-kind",
    ),
    pytest.param(
        [{"type": "user.message", "content": [{"type": "image", "source": {"type": "base64"}}]}],
        "initial_events[0].content[0].source.media_type",
        id="base64-fields",
    ),
    pytest.param(
        [
            {
                "type": "user.message",
                "content": [
                    {"type": "document", "source": {"type": "text", "data": "x"}, "title": 5}
                ],
            }
        ],
        "initial_events[0].content[0].source.media_type",
        id="plain-text-media-type",
    ),
    pytest.param(
        [{"type": "system.message", "content": [{"type": "redacted"}]}],
        "initial_events[0].content[0].type",
        id="system-redacted",
    ),
    pytest.param(
        [{"type": "user.define_outcome", "rubric": {"type": "text", "content": "c"}}],
        "initial_events[0].description",
        id="no-description",
    ),
    pytest.param(
        [{"type": "user.define_outcome", "description": "d"}],
        "initial_events[0].rubric",
        id="no-rubric",
    ),
    pytest.param(
        [{"type": "user.define_outcome", "description": "d", "rubric": {"type": "file"}}],
        "initial_events[0].rubric.file_id",
        id="rubric-file-id",
    ),
    pytest.param(
        [
            {
                "type": "user.define_outcome",
                "description": "d",
                "rubric": {"type": "text", "content": "c"},
                "max_iterations": "3",
            }
        ],
        "initial_events[0].max_iterations",
        id="max-iterations-str",
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("events", "param"), BAD_BODIES)
async def test_the_fake_validates_event_bodies(
    api: FakeQoderAPI, events: list[object], param: str
) -> None:
    """The fake answers a spec 7.2 violation with 400 invalid_request_error naming the field."""
    body = {"name": "x", "agent": AGENT, "environment_id": ENV, "initial_events": events}
    headers = {"authorization": f"Bearer {api.pat}"}
    async with httpx.AsyncClient(
        transport=api.transport(), base_url=BASE_URL, headers=headers
    ) as http:
        created = await http.post("/deployments", json=body)
        stored = api.add_deployment()
        updated = await http.post(f"/deployments/{stored['id']}", json={"initial_events": events})
    for response in (created, updated):
        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["type"], error["param"]) == ("invalid_request_error", param)


def test_add_deployment_checks_events_like_the_api() -> None:
    """`add_deployment` refuses a bad event with ValueError naming the field."""
    api = FakeQoderAPI()
    with pytest.raises(ValueError, match=r"initial_events\[0\]\.rubric"):
        api.add_deployment(initial_events=[{"type": "user.define_outcome", "description": "d"}])
    stored = api.add_deployment(initial_events=EVERY_KIND)
    assert dumps(stored["initial_events"]) == dumps(EVERY_KIND)
