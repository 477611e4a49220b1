"""The converter: every documented JSON example structures, and the wire's oddities parse."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qoder_async import (
    Deployment,
    DeploymentRun,
    DeploymentStatus,
    EventType,
    Page,
    ResponseValidationError,
    RunStatus,
    SystemMessage,
    TextBlock,
    TriggerType,
    UnknownEvent,
    UserMessage,
)
from qoder_async._converter import parse_datetime, structure

EXAMPLES: dict[str, dict[str, object]] = json.loads(
    (Path(__file__).parent / "data" / "spec_examples.json").read_text()
)


def _example(name: str) -> dict[str, object]:
    copy: dict[str, object] = json.loads(json.dumps(EXAMPLES[name]))
    return copy


@pytest.mark.parametrize(
    "name", [n for n in EXAMPLES if n.startswith("deployment_") and "run" not in n]
)
def test_spec_deployment_examples_structure(name: str) -> None:
    """Every Deployment example in the spec structures, with cas_config lifted out of metadata."""
    raw = _example(name)
    deployment = structure(raw, Deployment)
    assert deployment.id == raw["id"]
    assert deployment.agent.version == 1
    assert deployment.cas_config is not None
    assert deployment.cas_config.config is not None
    assert deployment.cas_config.config.timeout_ms == 300000
    assert deployment.cas_config.stats is not None
    assert "cas_config" not in deployment.metadata
    assert deployment.schedule is not None
    assert deployment.schedule.expression
    assert deployment.created_at.tzinfo is not None
    assert deployment.is_archived == (raw["archived_at"] is not None)
    assert deployment.initial_events[0].type == EventType.USER_MESSAGE


def test_spec_archived_example_keeps_active_status() -> None:
    """The archived example stays `active`, with archived_at set and no upcoming runs (spec 3.7)."""
    deployment = structure(_example("deployment_3"), Deployment)
    assert deployment.status is DeploymentStatus.ACTIVE
    assert deployment.is_archived
    assert deployment.schedule is not None
    assert deployment.schedule.upcoming_runs_at == ()
    assert deployment.schedule.last_run_at == datetime(2026, 6, 14, 8, 58, 17, tzinfo=timezone.utc)


def test_spec_paused_example() -> None:
    """The paused example carries paused_reason and the stats' last_triggered_at."""
    deployment = structure(_example("deployment_2"), Deployment)
    assert deployment.status is DeploymentStatus.PAUSED
    assert deployment.paused_reason is not None
    assert deployment.paused_reason.type == "manual"
    assert deployment.cas_config is not None
    assert deployment.cas_config.stats is not None
    assert deployment.cas_config.stats.total_runs == 1
    assert deployment.cas_config.stats.last_triggered_at is not None


@pytest.mark.parametrize("name", ["deployment_run_1", "deployment_run_2"])
def test_spec_run_examples_structure(name: str) -> None:
    """Every DeploymentRun example structures, nanosecond timestamps included."""
    raw = _example(name)
    run = structure(raw, DeploymentRun)
    assert run.id == raw["id"]
    assert run.trigger_context.type is TriggerType.MANUAL
    assert run.cas_run_extras is not None
    assert run.cas_run_extras.attempt == 1
    assert run.triggered_at is not None
    assert run.status in (RunStatus.RUNNING, RunStatus.COMPLETED)


def test_spec_nanosecond_run_example() -> None:
    """The run-now example's 9-digit fractions parse, truncated to microseconds."""
    run = structure(_example("deployment_run_1"), DeploymentRun)
    assert run.status is RunStatus.RUNNING
    assert not run.is_terminal
    assert run.created_at == datetime(2026, 6, 14, 8, 54, 6, 271902, tzinfo=timezone.utc)
    assert run.completed_at is None


def test_spec_page_examples_structure() -> None:
    """Both list envelopes in the spec structure into Page of the right model."""
    deployments = structure(_example("page_deployment_1"), Page[Deployment])
    assert deployments.has_more
    assert deployments.next_page == deployments.last_id
    assert len(deployments.data) == 1
    runs = structure(_example("page_deployment_run_1"), Page[DeploymentRun])
    assert not runs.has_more
    assert runs.next_page is None
    assert runs.data[0].is_terminal
    assert runs.data[0].duration_ms == 17268


def test_older_small_run_shape_structures() -> None:
    """The older CMA run shape, without any Qoder-specific field, still structures (spec 3.10)."""
    raw = _example("deployment_run_2")
    for key in ("status", "cas_run_extras", "triggered_at", "completed_at", "duration_ms"):
        raw.pop(key)
    raw["created_at"] = "2026-06-14T08:58:17Z"
    run = structure(raw, DeploymentRun)
    assert run.status is None
    assert run.triggered_at is None
    # Spec 7.1: a run in the minimal shape is final as soon as it is returned.
    assert run.is_terminal
    assert run.is_minimal_shape
    assert run.sort_time == run.created_at


def test_unknown_fields_are_ignored_and_unknown_enums_kept() -> None:
    """New fields are ignored and new enum values are kept as unknown members."""
    raw = _example("deployment_run_2")
    raw["brand_new_field"] = {"x": 1}
    raw["status"] = "cancelling"
    raw["trigger_context"] = {"type": "webhook", "extra": True}
    run = structure(raw, DeploymentRun)
    assert run.status == "cancelling"
    assert isinstance(run.status, RunStatus)
    assert run.status is not None
    assert not run.status.known
    assert run.status not in list(RunStatus)
    assert run.trigger_context.type == "webhook"
    assert isinstance(run.trigger_context.type, TriggerType)
    deployment_raw = _example("deployment_1")
    deployment_raw["status"] = "suspended"
    status = structure(deployment_raw, Deployment).status
    assert status == "suspended"
    assert repr(status) == "DeploymentStatus('suspended')"


def test_event_content_may_be_a_list_of_blocks() -> None:
    """An initial event's content may be a list of content blocks instead of a string."""
    raw = _example("deployment_1")
    raw["initial_events"] = [
        {"type": "user.message", "content": [{"type": "text", "text": "hi"}]},
        {"type": "system.message", "content": "be brief"},
        {"type": "future.event"},
    ]
    deployment = structure(raw, Deployment)
    first, second, third = deployment.initial_events
    assert first == UserMessage(content=(TextBlock(text="hi"),))
    assert isinstance(second, SystemMessage)
    assert second.content == (TextBlock(text="be brief"),)
    assert third == UnknownEvent(raw={"type": "future.event"})
    assert third.type == "future.event"


def test_user_metadata_is_kept_beside_cas_config() -> None:
    """User keys stay in `metadata` while cas_config is lifted out."""
    raw = _example("deployment_1")
    metadata = raw["metadata"]
    assert isinstance(metadata, dict)
    metadata["team"] = "infra"
    deployment = structure(raw, Deployment)
    assert deployment.metadata == {"team": "infra"}


@pytest.mark.parametrize(
    "raw",
    [
        {"data": "nope"},
        {"data": [{"id": "drun_x"}]},
        {"data": [], "has_more": "maybe?"},
        [],
    ],
)
def test_wrong_shapes_raise_response_validation_error(raw: object) -> None:
    """A body that is not the documented shape raises ResponseValidationError."""
    with pytest.raises(ResponseValidationError, match="Page"):
        structure(raw, Page[DeploymentRun])


def test_bad_timestamp_raises_response_validation_error() -> None:
    """A timestamp that is not RFC 3339 with an offset is rejected."""
    raw = _example("deployment_run_2")
    raw["created_at"] = "2026-06-14 08:58"
    with pytest.raises(ResponseValidationError):
        structure(raw, DeploymentRun)


@given(
    moment=st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.just(timezone.utc),
    ),
    digits=st.integers(min_value=0, max_value=9),
    offset_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
    nanos=st.integers(min_value=0, max_value=999),
    zulu=st.booleans(),
)
def test_parse_datetime_accepts_0_to_9_fraction_digits(
    moment: datetime, digits: int, offset_minutes: int, nanos: int, zulu: bool
) -> None:
    """Any RFC 3339 timestamp with 0-9 fractional digits parses to the same instant (to the µs)."""
    tz = timezone.utc if zulu else timezone(timedelta(minutes=offset_minutes))
    local = moment.astimezone(tz)
    fraction = f"{local.microsecond:06d}{nanos:03d}"[:digits]
    offset = "Z" if zulu else local.strftime("%z")
    offset = offset if zulu else f"{offset[:3]}:{offset[3:]}"
    text = local.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if digits else "") + offset
    parsed = parse_datetime(text)
    expected_micros = int(fraction[:6].ljust(6, "0")) if digits else 0
    assert parsed == local.replace(microsecond=expected_micros)
    assert parsed.utcoffset() == tz.utcoffset(None)


@pytest.mark.parametrize(
    "text", ["2026-06-14", "2026-06-14T08:58:01", "2026-06-14T08:58:01.1234567890Z", "x"]
)
def test_parse_datetime_rejects_non_rfc3339(text: str) -> None:
    """Dates without time or offset, and malformed fractions, are refused."""
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_datetime(text)


def _set(path: tuple[str | int, ...], value: object) -> Any:
    def mutate(raw: Any) -> None:
        for part in path[:-1]:
            raw = raw[part]
        if value is _DROP:
            del raw[path[-1]]
        else:
            raw[path[-1]] = value

    return mutate


_DROP = object()


@pytest.mark.parametrize(
    ("name", "mutate", "path", "reason"),
    [
        (
            "page_deployment_run_1",
            _set(("data", 0, "trigger_context", "type"), 5),
            ("data", 0, "trigger_context", "type"),
            "expected a string for TriggerType, got integer",
        ),
        (
            "page_deployment_run_1",
            _set(("data", 0, "agent"), _DROP),
            ("data", 0, "agent"),
            "required key is missing",
        ),
        (
            "page_deployment_run_1",
            _set(("data", 0, "created_at"), "2026-06-14"),
            ("data", 0, "created_at"),
            "not an RFC 3339 timestamp",
        ),
        ("page_deployment_run_1", _set(("has_more",), "x"), ("has_more",), "JSON boolean"),
        (
            "page_deployment_1",
            _set(("data", 0, "metadata", "cas_config", "config", "max_retries"), "3"),
            ("data", 0, "metadata", "cas_config", "config", "max_retries"),
            "expected a JSON integer, got string",
        ),
        (
            "page_deployment_1",
            _set(("data", 0, "metadata", "on call"), 5),
            ("data", 0, "metadata", "on call"),
            "expected a JSON string",
        ),
        (
            "page_deployment_1",
            _set(("data", 0, "schedule", "upcoming_runs_at", 1), None),
            ("data", 0, "schedule", "upcoming_runs_at", 1),
            "RFC 3339",
        ),
    ],
)
def test_validation_errors_name_the_json_path(
    name: str, mutate: Any, path: tuple[str | int, ...], reason: str
) -> None:
    """ResponseValidationError says which value of the body does not fit, and why."""
    raw = _example(name)
    mutate(raw)
    cls: Any = Page[DeploymentRun] if "run" in name else Page[Deployment]
    with pytest.raises(ResponseValidationError, match=reason) as info:
        structure(raw, cls)
    assert info.value.path == path
    assert info.value.json_path is not None
    assert info.value.json_path in str(info.value)


def test_json_path_quotes_keys_that_are_not_names() -> None:
    """Keys that are not identifiers are written in brackets; the whole body is `$`."""
    error = ResponseValidationError("x", path=("data", 0, "metadata", "on call"))
    assert error.json_path == "$.data[0].metadata['on call']"
    assert ResponseValidationError("x", path=()).json_path == "$"
    assert ResponseValidationError("x").json_path is None
    with pytest.raises(ResponseValidationError, match=r"at \$: expected a JSON object") as info:
        structure([], Page[Deployment])
    assert info.value.path == ()
