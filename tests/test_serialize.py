"""`to_dict`, `to_json` and `from_dict`: the API's wire shape, both ways, for every model."""

from __future__ import annotations

import copy
import enum
import json
import re
import typing
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

import attrs
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qoder_async
from qoder_async import (
    Deployment,
    DeploymentRun,
    DeploymentStatus,
    Page,
    Schedule,
    UnknownBlock,
    UnknownEvent,
    UnknownRubric,
    UnknownSource,
    from_dict,
    to_dict,
    to_json,
)
from qoder_async._converter import WIRE_NONE, format_datetime, parse_datetime
from qoder_async._event_checks import events_json
from qoder_async.testing import FakeQoderAPI
from tests.helpers import BASE_URL, connect

EXAMPLES: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "spec_examples.json").read_text()
)
# The spec section 3, 4 and 7 examples that are model objects, with their model.
MODEL_EXAMPLES: dict[str, Any] = {
    "deployment_1": Deployment,
    "deployment_2": Deployment,
    "deployment_3": Deployment,
    "deployment_run_1": DeploymentRun,
    "deployment_run_2": DeploymentRun,
    "deployment_run_7_1": DeploymentRun,
    "page_deployment_1": Page[Deployment],
    "page_deployment_run_1": Page[DeploymentRun],
}
# Every public model but the generic Page and the Unknown* holders, which get their own.
MODELS = [
    value
    for name in qoder_async.__all__
    if attrs.has(value := getattr(qoder_async, name))
    # The API's objects, not configuration values such as RetryPolicy or RateLimit.
    and value.__module__ in ("qoder_async._models", "qoder_async._events")
    and value is not Page
    and not name.startswith("Unknown")
]
_FRACTION = re.compile(r"(\d\d:\d\d:\d\d)\.(\d{1,9})Z")


def dumps(value: object) -> str:
    """The comparison form of JSON: keys sorted, so only content counts."""
    return json.dumps(value, sort_keys=True)


def as_models_write(value: Any) -> Any:
    """The JSON as to_dict writes it: legacy content as one text block, timestamps in µs.

    Timestamps are cut to microseconds, the models' precision, with trailing zeros trimmed.
    """
    if isinstance(value, dict):
        out = {key: as_models_write(item) for key, item in value.items()}
        if out.get("type") in ("user.message", "system.message") and isinstance(
            out.get("content"), str
        ):
            out["content"] = [{"type": "text", "text": out["content"]}]
        return out
    if isinstance(value, list):
        return [as_models_write(item) for item in value]
    if isinstance(value, str):

        def micro(match: re.Match[str]) -> str:
            digits = match.group(2)[:6].rstrip("0")
            return f"{match.group(1)}{'.' if digits else ''}{digits}Z"

        return _FRACTION.sub(micro, value)
    return value


# -- the documented examples ---------------------------------------------------------------


@pytest.mark.parametrize("name", MODEL_EXAMPLES)
def test_every_spec_example_round_trips(name: str) -> None:
    """A spec 3/4/7 example read and written is the example (legacy content, nanoseconds aside)."""
    raw = copy.deepcopy(EXAMPLES[name])
    model = from_dict(MODEL_EXAMPLES[name], raw)
    assert dumps(to_dict(model)) == dumps(as_models_write(EXAMPLES[name]))
    assert from_dict(MODEL_EXAMPLES[name], to_dict(model)) == model


def test_examples_cover_the_exceptions_only_where_the_spec_has_them() -> None:
    """Only legacy string content and nanosecond timestamps differ from the examples as written."""
    exact = [name for name in MODEL_EXAMPLES if as_models_write(EXAMPLES[name]) == EXAMPLES[name]]
    assert exact == ["deployment_run_2", "deployment_run_7_1", "page_deployment_run_1"]


@pytest.mark.parametrize("name", [n for n in MODEL_EXAMPLES if "deployment_run" not in n])
def test_example_events_are_sent_back_as_received(name: str) -> None:
    """The initial_events a create/update would send from a read deployment equal the example's."""
    raw = EXAMPLES[name]
    deployments = raw.get("data", [raw])
    for deployment in deployments:
        model = from_dict(Deployment, copy.deepcopy(deployment))
        sent = events_json(model.initial_events)
        assert dumps(sent) == dumps(as_models_write(deployment["initial_events"]))


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["update_request_1", "update_request_7_2"])
async def test_spec_request_bodies_are_sent_byte_equal(name: str) -> None:
    """An update built from the structured example request sends exactly the example's JSON."""
    sent: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        return httpx.Response(200, json=EXAMPLES["deployment_2"])

    body = EXAMPLES[name]
    fields: dict[str, Any] = {}
    if "name" in body:
        fields["name"] = body["name"]
    if "schedule" in body:
        fields["schedule"] = from_dict(Schedule, body["schedule"])
    if "initial_events" in body:
        deployment = {**copy.deepcopy(EXAMPLES["deployment_1"]), **copy.deepcopy(body)}
        fields["initial_events"] = from_dict(Deployment, deployment).initial_events
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
        qoder_async.QoderClient(pat="pt-x", base_url=BASE_URL, http_client=http) as client,
    ):
        await client.deployments.update("dep_019ec55a2b687b3f94eee77dd77e4b2a", **fields)
    (content,) = sent
    assert dumps(json.loads(content)) == dumps(body)


@pytest.mark.anyio
async def test_the_fakes_data_round_trips() -> None:
    """Every seeded deployment, run and page of the fake comes back from to_dict as served."""
    api = FakeQoderAPI(pat="pt-test", seed=11)
    api.seed(deployments=18, runs_per_deployment=4)
    for deployment in api.deployments.values():
        written = to_dict(from_dict(Deployment, deployment))
        assert dumps(written) == dumps(as_models_write(deployment))
    for run in api.runs.values():
        assert dumps(to_dict(from_dict(DeploymentRun, run))) == dumps(as_models_write(run))
    headers = {"authorization": "Bearer pt-test"}
    async with httpx.AsyncClient(
        transport=api.transport(), base_url=BASE_URL, headers=headers
    ) as http:
        deployments = (await http.get("/deployments", params={"limit": 7})).json()
        runs = (await http.get("/deployment_runs", params={"limit": 7})).json()
    assert dumps(to_dict(from_dict(Page[Deployment], deployments))) == dumps(
        as_models_write(deployments)
    )
    assert dumps(to_dict(from_dict(Page[DeploymentRun], runs))) == dumps(as_models_write(runs))


@pytest.mark.anyio
async def test_what_the_client_returns_serialises(api: FakeQoderAPI) -> None:
    """A page the client fetched serialises to the envelope the API sent."""
    api.seed(deployments=3, runs_per_deployment=0)
    async with connect(api) as client:
        page = await client.deployments.list(limit=2)
    [request] = api.requests
    assert request.path == "/deployments"
    envelope = to_dict(page)
    assert [item["id"] for item in envelope["data"]] == [d.id for d in page.data]
    assert envelope["has_more"] is True
    assert set(envelope) == {"data", "first_id", "last_id", "has_more", "next_page"}


# -- the rules -----------------------------------------------------------------------------


def _none_able(cls: type) -> set[str]:
    hints = typing.get_type_hints(cls)
    return {
        field.name
        for field in attrs.fields(cls)
        if get_origin(hints[field.name]) in (Union, UnionType)
        and type(None) in get_args(hints[field.name])
    }


@pytest.mark.parametrize("cls", [m for m in MODELS if m.__module__ == "qoder_async._models"])
def test_every_none_able_field_has_a_wire_rule(cls: type) -> None:
    """Each field that may be None says whether None is written as null or left out."""
    rules = WIRE_NONE[cls]
    assert _none_able(cls) <= set(rules), _none_able(cls) - set(rules)
    assert set(rules) <= {field.name for field in attrs.fields(cls)}


def test_none_is_null_or_absent_as_the_api_writes_it() -> None:
    """A run's error and session_id stay as null; its Qoder-only fields disappear when unset."""
    run = from_dict(DeploymentRun, copy.deepcopy(EXAMPLES["deployment_run_7_1"]))
    written = to_dict(run)
    assert written["error"] is None
    assert written["session_id"] == "sess_019ec55694c47605a8904c8f3d842ccb"
    assert not {"status", "triggered_at", "completed_at", "duration_ms", "cas_run_extras"} & set(
        written
    )
    deployment = to_dict(from_dict(Deployment, copy.deepcopy(EXAMPLES["deployment_1"])))
    assert (deployment["archived_at"], deployment["paused_reason"]) == (None, None)
    assert "environment_variables" not in deployment
    assert "budget" not in deployment
    assert "last_run_at" not in deployment["schedule"]


def test_enums_are_written_as_their_strings() -> None:
    """Known statuses become plain strings; unknown ones are written as they came."""
    raw = copy.deepcopy(EXAMPLES["deployment_run_2"])
    written = to_dict(from_dict(DeploymentRun, raw))
    assert type(written["status"]) is str
    assert written["status"] == "completed"
    raw["status"] = "cancelled"
    raw["trigger_context"] = {"type": "webhook"}
    written = to_dict(from_dict(DeploymentRun, raw))
    assert (written["status"], written["trigger_context"]) == ("cancelled", {"type": "webhook"})
    deployment = from_dict(Deployment, copy.deepcopy(EXAMPLES["deployment_2"]))
    assert deployment.status is DeploymentStatus.PAUSED
    assert type(to_dict(deployment)["status"]) is str


def test_cas_config_goes_back_into_metadata() -> None:
    """`Deployment.cas_config` is written inside `metadata`, beside the caller's keys."""
    raw = copy.deepcopy(EXAMPLES["deployment_2"])
    raw["metadata"]["team"] = "sre"
    deployment = from_dict(Deployment, raw)
    assert deployment.metadata == {"team": "sre"}
    assert to_dict(deployment)["metadata"] == raw["metadata"]
    manual = attrs.evolve(deployment, cas_config=None)
    assert to_dict(manual)["metadata"] == {"team": "sre"}


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("2026-06-14T08:58:17.13334Z", "2026-06-14T08:58:17.13334Z"),
        ("2026-06-14T08:58:17.165588Z", "2026-06-14T08:58:17.165588Z"),
        ("2026-06-14T08:58:01Z", "2026-06-14T08:58:01Z"),
        ("2026-06-14T08:58:10.500Z", "2026-06-14T08:58:10.5Z"),
        ("2026-06-14T08:54:06.271902633Z", "2026-06-14T08:54:06.271902Z"),
        ("2026-06-14T16:54:06.1+08:00", "2026-06-14T08:54:06.1Z"),
        ("0999-01-02T03:04:05Z", "0999-01-02T03:04:05Z"),
    ],
)
def test_timestamps_are_written_as_rfc3339_utc(text: str, written: str) -> None:
    """UTC with Z, fraction digits trimmed; nanoseconds come back cut to microseconds."""
    assert format_datetime(parse_datetime(text)) == written


def test_naive_datetimes_are_refused() -> None:
    """A naive datetime names no instant, so to_dict raises ValueError."""
    run = from_dict(DeploymentRun, copy.deepcopy(EXAMPLES["deployment_run_7_1"]))
    naive = attrs.evolve(run, created_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        to_dict(naive)


def test_to_json_is_compact_and_keeps_unicode() -> None:
    """to_json is to_dict as compact JSON text, with non-ASCII characters as they are."""
    raw = copy.deepcopy(EXAMPLES["deployment_1"])
    raw["name"] = "日报-🚀"
    deployment = from_dict(Deployment, raw)
    text = to_json(deployment)
    assert '"name":"日报-🚀"' in text
    assert ", " not in text
    assert ": " not in text
    assert json.loads(text) == to_dict(deployment)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: to_dict({"id": "dep_1"}), TypeError),
        (lambda: to_dict(5), TypeError),
        (lambda: from_dict(Page, {"data": []}), TypeError),
        (lambda: from_dict(dict, {}), TypeError),
        (lambda: from_dict(Deployment, {"id": 5}), ValueError),
        (lambda: from_dict(DeploymentRun, []), ValueError),
        (lambda: from_dict(Page[DeploymentRun], {"data": "nope"}), ValueError),
    ],
)
def test_misuse_raises_a_clear_error(call: Any, error: type[Exception]) -> None:
    """Non-models and JSON of the wrong shape raise TypeError and ValueError."""
    with pytest.raises(error):
        call()


# -- the property --------------------------------------------------------------------------

_KNOWN_KINDS: dict[type, set[str]] = {
    UnknownEvent: {"user.message", "system.message", "user.define_outcome"},
    UnknownBlock: {"text", "image", "document", "redacted"},
    UnknownSource: {"base64", "url", "file", "text"},
    UnknownRubric: {"text", "file"},
}
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)
_DATETIMES = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from(
        [timezone.utc, timezone(timedelta(hours=8)), timezone(-timedelta(hours=5, minutes=30))]
    ),
)


def _unknown(cls: type) -> st.SearchStrategy[Any]:
    kind = st.text(max_size=12).filter(lambda text: text not in _KNOWN_KINDS[cls])
    raw = st.builds(
        lambda fields, kind: {**fields, "type": kind},
        st.dictionaries(st.text(max_size=6).filter(lambda key: key != "type"), _JSON, max_size=3),
        kind,
    )
    return st.builds(cls, raw=raw)


def _extra(cls: type) -> st.SearchStrategy[dict[str, object]]:
    written = {"type", *(field.name for field in attrs.fields(cls) if field.name != "extra")}
    return st.dictionaries(
        st.text(max_size=8).filter(lambda key: key not in written), _JSON, max_size=2
    )


def strategy(hint: Any) -> st.SearchStrategy[Any]:
    """Values of a model field's type, models included, as the API could send them."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, UnionType):
        return st.one_of([strategy(arg) for arg in args])
    if hint is type(None):
        return st.none()
    if origin is tuple:
        return st.lists(strategy(args[0]), max_size=3).map(tuple)
    if origin in (dict, Mapping):
        return st.dictionaries(st.text(max_size=8), strategy(args[1]), max_size=3)
    if hint in _KNOWN_KINDS:
        return _unknown(hint)
    if attrs.has(hint):
        hints = typing.get_type_hints(hint)
        fields: dict[str, st.SearchStrategy[Any]] = {
            field.name: strategy(hints[field.name]) for field in attrs.fields(hint)
        }
        if "extra" in fields:
            fields["extra"] = _extra(hint)
        if hint is Deployment:
            # `cas_config` is reserved in metadata: the model keeps it in its own field.
            fields["metadata"] = st.dictionaries(
                st.text(max_size=8).filter(lambda key: key != "cas_config"), st.text(max_size=8)
            )
        return st.builds(hint, **fields)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        # Known members and values this SDK does not know (kept as unknown members).
        return st.sampled_from(hint) | st.text(max_size=8).map(hint)
    return {
        str: st.text(max_size=12),
        int: st.integers(),
        bool: st.booleans(),
        datetime: _DATETIMES,
        object: _JSON,
    }[hint]


_ANY_MODEL = st.one_of(
    *[strategy(model) for model in MODELS],
    *[_unknown(cls) for cls in _KNOWN_KINDS],
    st.builds(Page, data=st.lists(strategy(Deployment), max_size=2).map(tuple)),
    st.builds(Page, data=st.lists(strategy(DeploymentRun), max_size=2).map(tuple)),
    st.builds(
        Page,
        data=st.just(()),
        first_id=st.none() | st.text(max_size=8),
        last_id=st.none() | st.text(max_size=8),
        has_more=st.booleans(),
        next_page=st.none() | st.text(max_size=8),
    ),
)


def _model_type(model: object) -> Any:
    if isinstance(model, Page):
        # A page does not know its item type at run time; from_dict needs it.
        item = type(model.data[0]) if model.data else Deployment
        return Page[item]  # type: ignore[valid-type]
    return type(model)


@settings(max_examples=300, deadline=None)
@given(model=_ANY_MODEL)
def test_from_dict_inverts_to_dict_for_every_model(model: Any) -> None:
    """`from_dict(type(x), to_dict(x)) == x`, also through JSON text, for generated models."""
    assert from_dict(_model_type(model), to_dict(model)) == model
    assert from_dict(_model_type(model), json.loads(to_json(model))) == model
