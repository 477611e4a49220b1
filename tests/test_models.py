"""The models themselves: open enums, hashing, the Page repr."""

from __future__ import annotations

import copy
import json
import pickle
import typing
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from typing_extensions import assert_type

from qoder_async import (
    Deployment,
    DeploymentRun,
    DeploymentStatus,
    Page,
    RunStatus,
    TriggerType,
    from_dict,
    to_dict,
)
from qoder_async._models import _MAX_UNKNOWN
from tests.test_serialize import _ANY_MODEL, EXAMPLES, MODELS

# -- open enums ----------------------------------------------------------------------------


@pytest.mark.parametrize("enum_type", [RunStatus, DeploymentStatus, TriggerType])
def test_unknown_values_become_unknown_members(enum_type: Any) -> None:
    """A value the SDK does not know is a member outside `list(E)`, equal to its string."""
    member = enum_type("brand_new_value")
    assert isinstance(member, enum_type)
    assert member == "brand_new_value"
    assert str(member) == "brand_new_value"
    assert f"{member}" == "brand_new_value"
    assert member.value == "brand_new_value"
    assert member.name is None
    assert not member.known
    assert member not in list(enum_type)
    assert repr(member) == f"{enum_type.__name__}('brand_new_value')"
    assert enum_type("brand_new_value") is member
    assert pickle.loads(pickle.dumps(member)) is member  # noqa: S301 - our own bytes
    assert copy.deepcopy(member) is member
    assert all(known.known for known in enum_type)


def test_known_members_are_unchanged() -> None:
    """Known values still give the canonical members, with their usual repr."""
    assert RunStatus("completed") is RunStatus.COMPLETED
    assert repr(RunStatus.COMPLETED) == "<RunStatus.COMPLETED: 'completed'>"
    assert RunStatus.COMPLETED == "completed"  # type: ignore[comparison-overlap]


@pytest.mark.parametrize("value", [5, None, b"completed", ["completed"]])
def test_only_strings_make_members(value: object) -> None:
    """A non-string is still refused with ValueError, as by any enum."""
    with pytest.raises(ValueError, match="is not a valid RunStatus"):
        RunStatus(value)


def test_unknown_members_are_remembered_up_to_a_bound() -> None:
    """A server sending ever new values cannot grow memory: only the first ones are cached."""
    values = [f"status-{n}" for n in range(_MAX_UNKNOWN + 50)]
    members = [TriggerType(value) for value in values]
    assert len(TriggerType._value2member_map_) <= len(TriggerType) + _MAX_UNKNOWN
    # Past the bound, members are made anew each time, equal and hashing alike.
    last = values[-1]
    assert TriggerType(last) == members[-1]
    assert hash(TriggerType(last)) == hash(members[-1]) == hash(last)


def test_a_member_and_its_string_hash_alike() -> None:
    """Equal by ==, so equal hashes: a member finds its string's dict entry and back."""
    assert hash(RunStatus.FAILED) == hash("failed")
    assert {"failed": 1}[RunStatus.FAILED] == 1
    unknown: dict[str, int] = {RunStatus("cancelling"): 1}
    assert unknown["cancelling"] == 1


def test_unknown_values_are_written_back_raw() -> None:
    """to_dict writes an unknown status exactly as it came."""
    raw = copy.deepcopy(EXAMPLES["deployment_run_2"])
    raw["status"] = "cancelling"
    run = from_dict(DeploymentRun, raw)
    assert run.status == RunStatus("cancelling")
    written = to_dict(run)["status"]
    assert type(written) is str
    assert written == "cancelling"


def test_model_enum_fields_are_typed_by_the_enum_alone() -> None:
    """Status and trigger type are typed by the enum only, so an IDE shows the known values."""
    deployment = from_dict(Deployment, copy.deepcopy(EXAMPLES["deployment_1"]))
    run = from_dict(DeploymentRun, copy.deepcopy(EXAMPLES["deployment_run_2"]))
    # Checked by mypy (over the tests) as well as run.
    assert_type(deployment.status, DeploymentStatus)
    assert_type(run.status, RunStatus | None)
    assert_type(run.trigger_context.type, TriggerType)
    hints = typing.get_type_hints(DeploymentRun)
    assert hints["status"] == RunStatus | None
    assert typing.get_type_hints(Deployment)["status"] is DeploymentStatus


# -- hashing -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["deployment_1", "deployment_2", "page_deployment_run_1"])
def test_documented_models_hash(name: str) -> None:
    """A deployment (dict metadata, resources) and a page of runs can be hashed and put in sets."""
    cls: Any = Deployment if name.startswith("deployment") else Page[DeploymentRun]
    model = from_dict(cls, copy.deepcopy(EXAMPLES[name]))
    again = from_dict(cls, copy.deepcopy(EXAMPLES[name]))
    assert hash(model) == hash(again)
    assert len({model, again}) == 1


def test_json_object_fields_count_for_equality_not_for_hash() -> None:
    """Models differing only in metadata are unequal, and may share a hash."""
    deployment = from_dict(Deployment, copy.deepcopy(EXAMPLES["deployment_1"]))
    other = attrs.evolve(deployment, metadata={"team": "sre"})
    assert deployment != other
    assert hash(deployment) == hash(other)
    unhashable = [
        field.name
        for cls in MODELS
        for field in attrs.fields(cls)
        if field.eq and field.hash is False and field.name not in ("extra", "raw")
    ]
    assert sorted(unhashable) == ["budget", "metadata", "resources"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=_ANY_MODEL)
def test_every_generated_model_hashes_like_its_equal_copy(model: Any) -> None:
    """hash() works on every model, and a model read back from its JSON hashes equal."""
    copied = json.loads(json.dumps(to_dict(model)))
    cls: Any = type(model)
    if isinstance(model, Page):
        cls = Page[type(model.data[0]) if model.data else Deployment]  # type: ignore[misc]
    again = from_dict(cls, copied)
    assert again == model
    assert hash(again) == hash(model)


# -- Page repr -----------------------------------------------------------------------------


def test_page_repr_names_count_and_cursors_not_items() -> None:
    """A page's repr shows how many items and its cursors, however many items it holds."""
    page = from_dict(Page[DeploymentRun], copy.deepcopy(EXAMPLES["page_deployment_run_1"]))
    text = repr(page)
    assert text == (
        f"<Page of 1 DeploymentRun first_id={page.first_id!r} last_id={page.last_id!r}"
        " has_more=False next_page=None>"
    )
    assert repr(Page(data=())) == (
        "<Page of 0 items first_id=None last_id=None has_more=None next_page=None>"
    )
    big = Page(data=page.data * 1000)
    assert len(repr(big)) < 200
