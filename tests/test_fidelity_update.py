"""Update semantics of spec 7.3: left out is not sent, None is sent as null where clearable."""

from __future__ import annotations

from typing import Any

import pytest

from qoder_async import NOT_GIVEN, Schedule
from qoder_async.testing import FakeQoderAPI
from tests.helpers import connect

pytestmark = pytest.mark.anyio

CLEARABLE = ["description", "schedule", "resources", "vault_ids", "environment_variables", "budget"]


def _last_update_body(api: FakeQoderAPI, dep_id: str) -> Any:
    (request,) = [r for r in api.requests if r.path == f"/deployments/{dep_id}"]
    return request.json


async def test_schedule_none_makes_a_deployment_manual_only() -> None:
    """Gap 3: update(schedule=None) sends "schedule": null and the deployment is manual-only."""
    api = FakeQoderAPI(pat="pt-test")
    dep = api.add_deployment()
    assert dep["schedule"] is not None
    async with connect(api) as client:
        updated = await client.deployments.update(dep["id"], schedule=None)
    assert _last_update_body(api, dep["id"]) == {"schedule": None}
    assert updated.schedule is None
    assert api.deployments[dep["id"]]["schedule"] is None


@pytest.mark.parametrize("field", CLEARABLE)
async def test_each_clearable_field_is_sent_as_null(field: str) -> None:
    """Gap 3: None for a clearable field goes out as JSON null, and only that field."""
    api = FakeQoderAPI(pat="pt-test")
    dep = api.add_deployment(description="text", vault_ids=["vlt_1"])
    async with connect(api) as client:
        fields: dict[str, Any] = {field: None}
        updated = await client.deployments.update(dep["id"], **fields)
    assert _last_update_body(api, dep["id"]) == {field: None}
    if field in ("resources", "vault_ids"):
        assert getattr(updated, field) == ()
    elif field in ("description", "schedule"):
        assert getattr(updated, field) is None


@pytest.mark.parametrize(
    "field", ["name", "agent", "environment_id", "initial_events", "metadata", "cas_config"]
)
async def test_none_for_a_field_that_cannot_be_cleared_is_refused(field: str) -> None:
    """None for a field the API cannot clear raises ValueError naming it, before any I/O."""
    api = FakeQoderAPI(pat="pt-test")
    async with connect(api) as client:
        with pytest.raises(ValueError, match=f"^{field}=None"):
            fields: dict[str, Any] = {field: None}
            await client.deployments.update("dep_1", **fields)
    assert api.requests == []


async def test_arguments_left_out_are_not_sent() -> None:
    """Only the arguments given go out; NOT_GIVEN is the same as leaving one out."""
    api = FakeQoderAPI(pat="pt-test")
    dep = api.add_deployment(description="keep me")
    schedule = Schedule(expression="30 9 * * 1-5", timezone="Asia/Shanghai")
    async with connect(api) as client:
        updated = await client.deployments.update(
            dep["id"], name="renamed", description=NOT_GIVEN, schedule=schedule
        )
    assert _last_update_body(api, dep["id"]) == {
        "name": "renamed",
        "schedule": {"type": "cron", "expression": "30 9 * * 1-5", "timezone": "Asia/Shanghai"},
    }
    assert updated.description == "keep me"


async def test_an_update_of_only_nones_is_sent() -> None:
    """An update that only clears fields is a real update, not "no field given"."""
    api = FakeQoderAPI(pat="pt-test")
    dep = api.add_deployment(description="text")
    async with connect(api) as client:
        updated = await client.deployments.update(dep["id"], description=None, budget=None)
    assert _last_update_body(api, dep["id"]) == {"description": None, "budget": None}
    assert updated.description is None


async def test_an_empty_update_is_still_refused() -> None:
    """Leaving every field out is refused before any I/O."""
    api = FakeQoderAPI(pat="pt-test")
    async with connect(api) as client:
        with pytest.raises(ValueError, match="at least one field"):
            await client.deployments.update("dep_1", name=NOT_GIVEN)
    assert api.requests == []


def test_not_given_is_falsy_and_reads_well() -> None:
    """NOT_GIVEN is falsy and shows as NOT_GIVEN in reprs and signatures."""
    assert not NOT_GIVEN
    assert repr(NOT_GIVEN) == "NOT_GIVEN"
