"""The fake API itself, driven with raw httpx in-process and over loopback HTTP."""

from __future__ import annotations

import contextlib
import email.utils
import json
import re
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qoder_async._converter import parse_datetime
from qoder_async.testing import FakeQoderAPI, Fault, RandomFaults, RecordedRequest, fake_client
from tests.helpers import NOW

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.anyio

PAT = "pt-test"
BASE_URL = "https://api.qoder.com/api/v1/cloud"
ID = re.compile(r"(dep|drun|agent|env|sess|turn|vlt)_[0-9a-f]{32}")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z")
EVENT = {"type": "user.message", "content": "Generate today's status report"}
CREATE = {
    "name": "nightly-report",
    "agent": "agent_019ebb21ef8e7df6a559052c94875160",
    "environment_id": "env_019e49a1780171daac1e6b01f290ac2b",
    "initial_events": [EVENT],
}


def client_for(api: FakeQoderAPI, **headers: str) -> httpx.AsyncClient:
    """An httpx client wired to the fake in-process, authenticated unless told otherwise."""
    sent = {"authorization": f"Bearer {PAT}", **headers}
    return httpx.AsyncClient(transport=api.transport(), base_url=BASE_URL, headers=sent)


@pytest.fixture
def api() -> FakeQoderAPI:
    """A fake with a small seeded data set, the same on every run."""
    fake = FakeQoderAPI(pat=PAT, seed=0, now=NOW)
    fake.seed(deployments=12, runs_per_deployment=6)
    return fake


@pytest.fixture
async def http(api: FakeQoderAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated in-process client to `api`."""
    async with client_for(api) as client:
        yield client


async def walk(http: httpx.AsyncClient, path: str, params: dict[str, Any]) -> list[str]:
    """Every id of a list, following next_page until has_more is false."""
    ids: list[str] = []
    query = dict(params)
    while True:
        page = (await http.get(path, params=query)).raise_for_status().json()
        ids.extend(item["id"] for item in page["data"])
        # Spec 7.4: an opaque cursor, never the last id, present exactly when has_more.
        assert (page["next_page"] is not None) == page["has_more"]
        assert page["next_page"] is None or page["next_page"] not in (
            item["id"] for item in page["data"]
        )
        if not page["has_more"]:
            return ids
        query["page"] = page["next_page"]


def assert_error(
    response: httpx.Response, status: int, kind: str, param: str | None = None
) -> None:
    """The response is a spec 2.1 error envelope of this status, type and param."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == kind
    assert body["error"].get("param") == param
    assert body["request_id"] == response.headers["x-request-id"]


# -- auth and request ids ------------------------------------------------------------------


async def test_only_the_bearer_pat_is_accepted(api: FakeQoderAPI) -> None:
    """A missing or wrong token and a bare x-api-key all get 401 authentication_error."""
    async with httpx.AsyncClient(transport=api.transport(), base_url=BASE_URL) as anonymous:
        assert_error(await anonymous.get("/deployments"), 401, "authentication_error")
        wrong = {"authorization": "Bearer pt-other"}
        assert_error(
            await anonymous.get("/deployments", headers=wrong), 401, "authentication_error"
        )
        api_key = {"x-api-key": PAT}
        assert_error(
            await anonymous.get("/deployments", headers=api_key), 401, "authentication_error"
        )
        ok = await anonymous.get("/deployments", headers={"authorization": f"Bearer {PAT}"})
        assert ok.status_code == 200


async def test_request_id_is_echoed_or_generated(http: httpx.AsyncClient) -> None:
    """A sent x-request-id comes back in the header and error body; otherwise a UUID is made."""
    sent = await http.get("/deployments/dep_missing", headers={"x-request-id": "req-123"})
    assert_error(sent, 404, "not_found_error")
    assert sent.headers["x-request-id"] == "req-123"
    generated = await http.get("/deployments")
    assert generated.status_code == 200
    assert re.fullmatch(r"[0-9a-f-]{36}", generated.headers["x-request-id"])


async def test_unknown_routes_and_methods(http: httpx.AsyncClient) -> None:
    """Unknown paths are 404, paths outside the base are 404 and a wrong method is 405."""
    assert_error(await http.get("/agents"), 404, "not_found_error")
    assert_error(await http.get("https://api.qoder.com/v1/deployments"), 404, "not_found_error")
    response = await http.delete("/deployments")
    assert response.status_code == 405
    assert response.json()["type"] == "error"


# -- pagination ----------------------------------------------------------------------------


async def test_lists_are_newest_first(api: FakeQoderAPI, http: httpx.AsyncClient) -> None:
    """Deployments sort by created_at and runs by triggered_at, newest first, ids breaking ties."""
    params: dict[str, str | int] = {"limit": 100, "include_archived": "true"}
    deployments = (await http.get("/deployments", params=params)).json()["data"]
    assert len(deployments) == len(api.deployments)
    keys = [(item["created_at"], item["id"]) for item in deployments]
    assert [k[1] for k in sorted(keys, key=_instant_key, reverse=True)] == [k[1] for k in keys]
    runs = (await http.get("/deployment_runs", params={"limit": 1000})).json()["data"]
    assert len(runs) == len(api.runs)
    # Runs in the minimal shape (spec 7.1) carry only created_at, equal to triggered_at here.
    keys = [(item.get("triggered_at", item["created_at"]), item["id"]) for item in runs]
    assert [k[1] for k in sorted(keys, key=_instant_key, reverse=True)] == [k[1] for k in keys]


def _instant_key(pair: tuple[str, str]) -> tuple[datetime, str, str]:
    text, record_id = pair
    whole, _, fraction = text.rstrip("Z").partition(".")
    parsed = datetime.fromisoformat(whole)
    return parsed, fraction.ljust(9, "0"), record_id


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(limit=st.integers(1, 9), include_archived=st.booleans())
async def test_paging_both_ways_loses_and_duplicates_nothing(
    http: httpx.AsyncClient, limit: int, include_archived: bool
) -> None:
    """Walking forward with page or backward with before_id yields the full list exactly."""
    for path in ("/deployments", "/deployment_runs"):
        params: dict[str, Any] = {"limit": 1000}
        if path == "/deployments":
            params["limit"] = 100  # the Go SDK's maximum for this route (spec 7.5)
            params["include_archived"] = str(include_archived).lower()
        full = [item["id"] for item in (await http.get(path, params=params)).json()["data"]]
        forward = await walk(http, path, {**params, "limit": limit})
        assert forward == full
        # Backward from the oldest item: each page is the `limit` items just newer.
        pages: list[list[str]] = []
        cursor = full[-1]
        while True:
            page = (
                await http.get(path, params={**params, "limit": limit, "before_id": cursor})
            ).json()
            ids = [item["id"] for item in page["data"]]
            end = full.index(cursor)
            assert ids == full[max(0, end - limit) : end]
            assert page["has_more"] == (end - limit > 0)
            assert page["next_page"] is None
            pages.append(ids)
            if not page["has_more"]:
                break
            cursor = page["first_id"]
        assert [i for ids in reversed(pages) for i in ids] == full[:-1]


async def test_after_id_matches_page(http: httpx.AsyncClient) -> None:
    """after_id and page are the same forward cursor, exclusive of the cursor item."""
    first = (await http.get("/deployment_runs", params={"limit": 4})).json()
    by_page = await http.get("/deployment_runs", params={"limit": 4, "page": first["next_page"]})
    by_after = await http.get("/deployment_runs", params={"limit": 4, "after_id": first["last_id"]})
    assert by_page.json() == by_after.json()
    assert first["last_id"] not in [run["id"] for run in by_page.json()["data"]]


async def test_empty_page_envelope(http: httpx.AsyncClient) -> None:
    """An empty page has null first_id, last_id and next_page and has_more false."""
    page = (await http.get("/deployment_runs", params={"deployment_id": "dep_unknown"})).json()
    assert page == {
        "data": [],
        "first_id": None,
        "has_more": False,
        "last_id": None,
        "next_page": None,
    }


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"after_id": "x", "before_id": "y"}, "before_id"),
        ({"page": "x", "after_id": "y"}, "page"),
        ({"after_id": "drun_unknown"}, "after_id"),
        ({"before_id": "drun_unknown"}, "before_id"),
        ({"page": "drun_unknown"}, "page"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
    ],
)
async def test_bad_cursors_and_limits_are_400(
    http: httpx.AsyncClient, params: dict[str, str], param: str
) -> None:
    """More than one cursor, an unknown cursor id or a limit outside 1..1000 is a 400."""
    response = await http.get("/deployment_runs", params=params)
    assert_error(response, 400, "invalid_request_error", param)


async def test_next_page_is_an_opaque_token_not_an_id(
    api: FakeQoderAPI, http: httpx.AsyncClient
) -> None:
    """next_page works only as `page`; an id as page, a token as after_id or a bad token is 400."""
    first = (await http.get("/deployment_runs", params={"limit": 4})).json()
    token, last_id = first["next_page"], first["last_id"]
    assert token not in api.runs
    assert token not in api.deployments
    assert (await http.get("/deployment_runs", params={"page": token})).status_code == 200
    dep_id = next(iter(api.deployments))
    for path, params, param in [
        ("/deployment_runs", {"page": last_id}, "page"),  # next_page == last_id assumed
        ("/deployment_runs", {"after_id": token}, "after_id"),
        ("/deployment_runs", {"page": token[:-3]}, "page"),  # garbled
        ("/deployment_runs", {"page": token + "x"}, "page"),
        ("/deployments", {"page": token}, "page"),  # a token of another list
        (f"/deployments/{dep_id}/runs", {"page": token}, "page"),
    ]:
        assert_error(await http.get(path, params=params), 400, "invalid_request_error", param)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"status": "active", "include_archived": "true"}, "include_archived"),
        ({"status": "paused", "include_archived": "false"}, "include_archived"),
        ({"limit": "101"}, "limit"),
    ],
)
async def test_deployment_list_takes_the_strict_reading_of_spec_7_5(
    http: httpx.AsyncClient, params: dict[str, str], param: str
) -> None:
    """A status with include_archived, or a limit over 100, is a 400 on GET /deployments."""
    assert_error(await http.get("/deployments", params=params), 400, "invalid_request_error", param)
    ok = await http.get("/deployment_runs", params={"limit": "1000"})
    assert ok.status_code == 200  # run lists keep 1000


async def test_nested_cursor_must_belong_to_the_deployment(
    api: FakeQoderAPI, http: httpx.AsyncClient
) -> None:
    """A run id of another deployment is not a valid cursor for a deployment's runs."""
    first, second = [
        dep
        for dep in api.deployments.values()
        if dep["metadata"]["cas_config"]["stats"]["total_runs"]
    ][:2]
    other_run = next(
        run_id for run_id, run in api.runs.items() if run["deployment_id"] == second["id"]
    )
    response = await http.get(f"/deployments/{first['id']}/runs", params={"after_id": other_run})
    assert_error(response, 400, "invalid_request_error", "after_id")


# -- filters -------------------------------------------------------------------------------


async def test_deployment_filters(api: FakeQoderAPI, http: httpx.AsyncClient) -> None:
    """status, include_archived, agent_id and the created_at range filter deployments."""
    everything = list(api.deployments.values())
    live = {dep["id"] for dep in everything if dep["archived_at"] is None}
    page = (await http.get("/deployments", params={"limit": 100})).json()
    assert {dep["id"] for dep in page["data"]} == live
    archived = api.add_deployment(archived=True)
    page = (
        await http.get("/deployments", params={"limit": 100, "include_archived": "true"})
    ).json()
    assert archived["id"] in {dep["id"] for dep in page["data"]}
    for status in ("active", "paused"):
        page = (await http.get("/deployments", params={"limit": 100, "status": status})).json()
        assert {dep["id"] for dep in page["data"]} == {
            dep["id"] for dep in everything if dep["status"] == status and dep["id"] in live
        }
    agent_id = everything[0]["agent"]["id"]
    page = (await http.get("/deployments", params={"agent_id": agent_id, "limit": 100})).json()
    assert page["data"]
    assert all(dep["agent"]["id"] == agent_id for dep in page["data"])
    newest = api.add_deployment(created_at="2026-06-14T08:00:00Z")
    window = {
        "created_at[gte]": "2026-06-14T08:00:00Z",
        "created_at[lte]": "2026-06-14T08:00:00+00:00",
    }
    page = (await http.get("/deployments", params=window)).json()
    assert [dep["id"] for dep in page["data"]] == [newest["id"]]


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        ("/deployments", {"status": "archived"}, "status"),
        ("/deployments", {"include_archived": "yes"}, "include_archived"),
        ("/deployments", {"created_at[gte]": "yesterday"}, "created_at[gte]"),
        ("/deployment_runs", {"status": "done"}, "status"),
        ("/deployment_runs", {"trigger_type": "cron"}, "trigger_type"),
        ("/deployment_runs", {"has_error": "1"}, "has_error"),
        ("/deployment_runs", {"created_at[lt]": "2026-13-01T00:00:00Z"}, "created_at[lt]"),
    ],
)
async def test_bad_filters_are_400(
    http: httpx.AsyncClient, path: str, params: dict[str, str], param: str
) -> None:
    """A bad enum, boolean or timestamp is a 400 naming the parameter."""
    assert_error(await http.get(path, params=params), 400, "invalid_request_error", param)


async def test_run_filters(api: FakeQoderAPI, http: httpx.AsyncClient) -> None:
    """Run lists filter by status, trigger type, has_error, deployment and time bounds."""
    dep = api.add_deployment()
    failed = api.add_run(dep["id"], status="failed", triggered_at="2026-06-14T08:10:00.5Z")
    done = api.add_run(dep["id"], triggered_at="2026-06-14T08:20:00Z", trigger_type="schedule")
    skipped = api.add_run(
        dep["id"], status="skipped", triggered_at="2026-06-14T08:30:00.123456789Z"
    )

    async def ids(path: str, **params: str) -> list[str]:
        page = (await http.get(path, params={"limit": 1000, **params})).json()
        return [run["id"] for run in page["data"]]

    nested = f"/deployments/{dep['id']}/runs"
    assert await ids(nested) == [skipped["id"], done["id"], failed["id"]]
    assert await ids(nested, status="failed") == [failed["id"]]
    bounds = {
        "triggered_after": "2026-06-14T08:10:00.5Z",
        "triggered_before": "2026-06-14T08:30:00.123456789Z",
    }
    assert await ids(nested, **bounds) == [done["id"]]
    scoped = {"deployment_id": dep["id"]}
    assert await ids("/deployment_runs", **scoped, has_error="true") == [failed["id"]]
    assert await ids("/deployment_runs", **scoped, has_error="false") == [done["id"]]
    assert await ids("/deployment_runs", **scoped, trigger_type="schedule") == [done["id"]]
    window = {"created_at[gt]": failed["created_at"], "created_at[lte]": skipped["created_at"]}
    assert await ids("/deployment_runs", **scoped, **window) == [skipped["id"], done["id"]]
    window = {"created_at[gte]": failed["created_at"], "created_at[lt]": skipped["created_at"]}
    assert await ids("/deployment_runs", **scoped, **window) == [done["id"], failed["id"]]
    everything = await ids("/deployment_runs", status="failed")
    assert all(api.runs[run_id]["error"] is not None for run_id in everything)
    assert_error(await http.get("/deployments/dep_unknown/runs"), 404, "not_found_error")


# -- the state machine ---------------------------------------------------------------------


async def test_pause_unpause_archive(api: FakeQoderAPI, http: httpx.AsyncClient) -> None:
    """Pause, unpause and archive change state as spec 3.5-3.7 say, and 409 when out of turn."""
    dep_id = api.add_deployment(name="report")["id"]
    paused = (await http.post(f"/deployments/{dep_id}/pause")).json()
    assert (paused["status"], paused["paused_reason"]) == ("paused", {"type": "manual"})
    assert_error(await http.post(f"/deployments/{dep_id}/pause"), 409, "conflict_error")
    assert_error(await http.post(f"/deployments/{dep_id}/run"), 409, "conflict_error")
    active = (await http.post(f"/deployments/{dep_id}/unpause")).json()
    assert (active["status"], active["paused_reason"]) == ("active", None)
    assert len(active["schedule"]["upcoming_runs_at"]) == 5
    assert_error(await http.post(f"/deployments/{dep_id}/unpause"), 409, "conflict_error")
    archived = (await http.post(f"/deployments/{dep_id}/archive")).json()
    assert archived["status"] == "active"  # spec 3.7: archiving leaves status alone
    assert re.fullmatch(r"report_archived_\d{10}", archived["name"])
    assert TIMESTAMP.fullmatch(archived["archived_at"])
    assert archived["schedule"]["upcoming_runs_at"] == []
    # Documented (spec 3.6-3.8): 409 to archive again, to run it, to unpause a non-paused one.
    for action in ("archive", "run", "unpause"):
        assert_error(await http.post(f"/deployments/{dep_id}/{action}"), 409, "conflict_error")
    assert_error(await http.post("/deployments/dep_unknown/pause"), 404, "not_found_error")


async def test_archived_deployments_are_locked(api: FakeQoderAPI, http: httpx.AsyncClient) -> None:
    """Where the docs are silent, changing an archived deployment is a 403; documented 409s win."""
    active = api.add_deployment(archived=True)["id"]
    paused = api.add_deployment(status="paused", archived=True)["id"]
    locked = {"description": "changed"}
    for dep_id in (active, paused):
        response = await http.post(f"/deployments/{dep_id}", json=locked)
        assert_error(response, 403, "permission_error")
        assert_error(await http.post(f"/deployments/{dep_id}/archive"), 409, "conflict_error")
        assert_error(await http.post(f"/deployments/{dep_id}/run"), 409, "conflict_error")
    assert_error(await http.post(f"/deployments/{active}/pause"), 403, "permission_error")
    assert_error(await http.post(f"/deployments/{active}/unpause"), 409, "conflict_error")
    assert_error(await http.post(f"/deployments/{paused}/pause"), 409, "conflict_error")
    assert_error(await http.post(f"/deployments/{paused}/unpause"), 403, "permission_error")
    assert api.deployments[paused]["status"] == "paused"


async def test_run_now_polls_to_completion(api: FakeQoderAPI, http: httpx.AsyncClient) -> None:
    """POST /run makes a running run that completes on its run_polls_to_complete-th GET."""
    dep = api.add_deployment()
    run = (await http.post(f"/deployments/{dep['id']}/run", json={})).json()
    assert run["status"] == "running"
    assert run["trigger_context"] == {"type": "manual"}
    assert ID.fullmatch(run["id"])
    assert ID.fullmatch(run["session_id"])
    assert re.fullmatch(r".*\.\d{9}Z", run["triggered_at"])
    assert run["created_at"] == run["triggered_at"]
    first = (await http.get(f"/deployments/{dep['id']}/runs/{run['id']}")).json()
    assert first["status"] == "running"
    second = (await http.get(f"/deployment_runs/{run['id']}")).json()
    assert second["status"] == "completed"
    assert second["duration_ms"] >= 0
    assert TIMESTAMP.fullmatch(second["completed_at"])
    stats = api.deployments[dep["id"]]["metadata"]["cas_config"]["stats"]
    assert (stats["total_runs"], stats["last_triggered_at"]) == (1, run["triggered_at"])
    other = api.add_deployment()
    assert_error(
        await http.get(f"/deployments/{other['id']}/runs/{run['id']}"), 404, "not_found_error"
    )


async def test_runs_past_max_concurrent_are_skipped(
    api: FakeQoderAPI, http: httpx.AsyncClient
) -> None:
    """With max_concurrent runs running, a new trigger is recorded as skipped (spec 3.8)."""
    api.run_polls_to_complete = None
    dep_id = api.add_deployment(max_concurrent=1)["id"]
    running = (await http.post(f"/deployments/{dep_id}/run")).json()
    skipped = (await http.post(f"/deployments/{dep_id}/run")).json()
    assert (skipped["status"], skipped["session_id"], skipped["error"]) == ("skipped", None, None)
    for _ in range(3):
        assert (await http.get(f"/deployment_runs/{running['id']}")).json()["status"] == "running"
    api.complete_run(
        running["id"], "failed", {"type": "session_rate_limited_error", "message": "slow down"}
    )
    failed = (await http.get(f"/deployment_runs/{running['id']}")).json()
    assert failed["error"]["type"] == "session_rate_limited_error"
    assert failed["session_id"] is None
    assert (await http.post(f"/deployments/{dep_id}/run")).json()["status"] == "running"
    stats = api.deployments[dep_id]["metadata"]["cas_config"]["stats"]
    assert (stats["total_runs"], stats["total_failures"]) == (3, 1)


# -- create and update ---------------------------------------------------------------------


async def test_create_resolves_and_fills_defaults(http: httpx.AsyncClient) -> None:
    """Create resolves a plain agent id, merges cas_config defaults and plans the schedule."""
    body = {
        **CREATE,
        "schedule": {"type": "cron", "expression": "0 9 * * *", "timezone": "Asia/Shanghai"},
        "metadata": {"team": "sre", "cas_config": {"config": {"max_concurrent": 2}}},
    }
    dep = (await http.post("/deployments", json=body)).raise_for_status().json()
    assert dep["agent"] == {"id": CREATE["agent"], "type": "agent", "version": 1}
    assert (dep["status"], dep["archived_at"], dep["paused_reason"]) == ("active", None, None)
    cas = dep["metadata"]["cas_config"]
    assert cas["config"] == {"max_concurrent": 2, "max_retries": 0, "timeout_ms": 300000}
    assert cas["session_strategy"] == "new_session"
    assert cas["stats"]["total_runs"] == 0
    assert dep["metadata"]["team"] == "sre"
    upcoming = dep["schedule"]["upcoming_runs_at"]
    assert len(upcoming) == 5
    assert all(at.endswith("T01:00:00Z") for at in upcoming)
    assert cas["stats"]["next_trigger_at"] == upcoming[0]
    assert (await http.get(f"/deployments/{dep['id']}")).json() == dep


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"name": None}, "name"),
        ({"name": "x" * 257}, "name"),
        ({"agent": "bot_1"}, "agent"),
        ({"agent": {"id": "agent_1", "type": "robot"}}, "agent.type"),
        ({"environment_id": "prod"}, "environment_id"),
        ({"initial_events": []}, "initial_events"),
        ({"initial_events": [EVENT] * 51}, "initial_events"),
        ({"initial_events": [{"type": "user.shout"}]}, "initial_events[0].type"),
        ({"vault_ids": ["v"] * 51}, "vault_ids"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        (
            {"schedule": {"type": "cron", "expression": "daily", "timezone": "UTC"}},
            "schedule.expression",
        ),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_create_validation(
    http: httpx.AsyncClient, change: dict[str, Any], param: str
) -> None:
    """Each violation of spec 3.2 is a 400 naming the offending field."""
    body = {key: value for key, value in {**CREATE, **change}.items() if value is not None}
    assert_error(await http.post("/deployments", json=body), 400, "invalid_request_error", param)


async def test_invalid_json_body_is_400(http: httpx.AsyncClient) -> None:
    """A body that is not JSON is a 400 invalid_request_error."""
    response = await http.post(
        "/deployments", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_error(response, 400, "invalid_request_error")


async def test_update_is_a_merge_patch(api: FakeQoderAPI, http: httpx.AsyncClient) -> None:
    """Update changes only the given fields; a null metadata value deletes the key."""
    dep = api.add_deployment(metadata={"team": "sre", "owner": "ana"})
    patch = {"name": "renamed", "metadata": {"owner": None, "tier": "gold"}, "schedule": None}
    updated = (await http.post(f"/deployments/{dep['id']}", json=patch)).json()
    assert updated["name"] == "renamed"
    assert updated["schedule"] is None
    assert updated["description"] == dep["description"]
    assert {key for key in updated["metadata"] if key != "cas_config"} == {"team", "tier"}
    assert_error(await http.post("/deployments/dep_unknown", json=patch), 404, "not_found_error")


async def test_idempotency_key_replays_or_conflicts(
    api: FakeQoderAPI, http: httpx.AsyncClient
) -> None:
    """The same key and body replay the first answer; the same key with another body is a 409."""
    before = len(api.deployments)
    headers = {"idempotency-key": "2b0e7a36-1c5a-4a43-9a4b-2f0f3c6c9a51"}
    first = await http.post("/deployments", json=CREATE, headers=headers)
    again = await http.post("/deployments", json=dict(reversed(CREATE.items())), headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert len(api.deployments) == before + 1
    other = await http.post("/deployments", json={**CREATE, "name": "other"}, headers=headers)
    assert_error(other, 409, "conflict_error")
    assert (
        other.json()["error"]["message"] == "Idempotency key reused with a different request body."
    )


# -- faults --------------------------------------------------------------------------------


async def test_rate_limit_fault_with_retry_after(
    api: FakeQoderAPI, http: httpx.AsyncClient
) -> None:
    """A 429 fault answers with an envelope and Retry-After, then the API answers again."""
    api.faults.append(Fault(status=429, retry_after=2, should_retry=True))
    limited = await http.get("/deployments")
    assert_error(limited, 429, "rate_limit_error")
    assert (limited.headers["retry-after"], limited.headers["x-should-retry"]) == ("2", "true")
    assert (await http.get("/deployments")).status_code == 200
    assert api.faults == []


async def test_empty_and_malformed_fault_bodies(api: FakeQoderAPI, http: httpx.AsyncClient) -> None:
    """An empty 503 with retry-after-ms and a 200 whose body is not JSON arrive as scripted."""
    api.faults += [
        Fault(status=503, body="empty", retry_after_ms=250, should_retry=False),
        Fault(body="malformed"),
    ]
    unavailable = await http.get("/deployments")
    assert (unavailable.status_code, unavailable.content) == (503, b"")
    assert unavailable.headers["retry-after-ms"] == "250"
    assert unavailable.headers["x-should-retry"] == "false"
    malformed = await http.get("/deployments")
    assert malformed.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        malformed.json()


async def test_retry_after_as_http_date(api: FakeQoderAPI, http: httpx.AsyncClient) -> None:
    """retry_after_date sends Retry-After as an HTTP date about retry_after seconds ahead."""
    api.faults.append(Fault(status=503, retry_after=30, retry_after_date=True))
    response = await http.get("/deployments")
    when = email.utils.parsedate_to_datetime(response.headers["retry-after"])
    now = datetime.now(timezone.utc)
    assert now < when <= now + timedelta(seconds=31)


async def test_reset_fault_drops_the_request(api: FakeQoderAPI, http: httpx.AsyncClient) -> None:
    """A reset raises a transport error in-process and the request has no effect."""
    dep_id = api.add_deployment()["id"]
    api.faults.append(Fault(reset=True, method="post", path="/deployments/dep_.*/run"))
    with pytest.raises(httpx.RemoteProtocolError):
        await http.post(f"/deployments/{dep_id}/run")
    assert api.deployments[dep_id]["metadata"]["cas_config"]["stats"]["total_runs"] == 0


async def test_faults_match_method_and_path_fifo(
    api: FakeQoderAPI, http: httpx.AsyncClient
) -> None:
    """Faults hit only matching requests, `times` times each, first in first out."""
    api.faults += [
        Fault(status=500, method="GET", path="/deployment_runs", times=2),
        Fault(status=408),
    ]
    assert (await http.get("/deployments")).status_code == 408
    assert (await http.get("/deployment_runs")).status_code == 500
    assert api.faults == [Fault(status=500, method="GET", path="/deployment_runs", times=1)]
    assert (await http.get("/deployment_runs")).status_code == 500
    assert (await http.get("/deployment_runs")).status_code == 200


async def _statuses(http: httpx.AsyncClient, path: str, count: int) -> list[int]:
    statuses = []
    for _ in range(count):
        try:
            statuses.append((await http.get(path)).status_code)
        except httpx.RemoteProtocolError:  # noqa: PERF203 - a reset is one of the outcomes
            statuses.append(0)
    return statuses


async def test_random_faults_hit_about_their_rate_reproducibly(api: FakeQoderAPI) -> None:
    """RandomFaults hit about `rate` of the requests, by weight, the same way for a seed."""
    mix = [Fault(status=503, retry_after=0), Fault(status=429, body="empty"), Fault(reset=True)]
    seen: list[list[int]] = []
    for _ in range(2):
        api.random_faults = faults = RandomFaults(rate=0.3, faults=mix, weights=[2, 1, 1], seed=7)
        async with client_for(api) as http:
            seen.append(await _statuses(http, "/deployments", 400))
    first, again = seen
    assert first == again
    injected = faults.injected
    assert sum(injected.values()) == sum(status != 200 for status in first)
    assert 80 <= sum(injected.values()) <= 160
    assert injected["503"] > injected["429"] > 0
    assert injected["reset"] == first.count(0)


async def test_random_faults_leave_scripted_faults_first_and_honour_the_path(
    api: FakeQoderAPI, http: httpx.AsyncClient
) -> None:
    """Scripted faults win; RandomFaults only hit matching paths; rate 0 and 1 are exact."""
    api.random_faults = RandomFaults(rate=1.0, faults=[Fault(status=503)], path="/deployment_runs")
    api.faults.append(Fault(status=408, path="/deployment_runs"))
    assert await _statuses(http, "/deployment_runs", 3) == [408, 503, 503]
    assert await _statuses(http, "/deployments", 3) == [200, 200, 200]
    api.random_faults = RandomFaults(rate=0.0, faults=[Fault(status=503)])
    assert await _statuses(http, "/deployments", 20) == [200] * 20
    assert api.random_faults.injected == Counter()


@pytest.mark.parametrize(
    "arguments",
    [
        {"rate": 1.5, "faults": [Fault(status=503)]},
        {"rate": -0.1, "faults": [Fault(status=503)]},
        {"rate": 0.5, "faults": []},
        {"rate": 0.5, "faults": ["503"]},
        {"rate": 0.5, "faults": [Fault(status=503)], "weights": [1, 2]},
        {"rate": 0.5, "faults": [Fault(status=503)], "path": "("},
    ],
)
def test_random_faults_refuse_bad_settings(arguments: dict[str, Any]) -> None:
    """Rates outside 0..1, no faults, mismatched weights and bad patterns are refused."""
    with pytest.raises((ValueError, re.error)):
        RandomFaults(**arguments)


async def test_delay_and_slow_body_faults_keep_the_answer(
    api: FakeQoderAPI, http: httpx.AsyncClient
) -> None:
    """A fault with only delay or slow_body lets the API answer, intact."""
    expected = (await http.get("/deployments")).json()
    api.faults += [Fault(delay=0.01, retry_after=1), Fault(slow_body=0.02)]
    delayed = await http.get("/deployments")
    assert (delayed.json(), delayed.headers["retry-after"]) == (expected, "1")
    assert (await http.get("/deployments")).json() == expected


def test_fault_arguments_are_checked() -> None:
    """Nonsense faults fail when built, not when a request hits them."""
    with pytest.raises(ValueError, match="status"):
        Fault(status=42)
    with pytest.raises(ValueError, match="times"):
        Fault(times=0)
    with pytest.raises(ValueError, match="retry_after"):
        Fault(retry_after_date=True)


# -- bookkeeping ---------------------------------------------------------------------------


async def test_requests_are_recorded(api: FakeQoderAPI, http: httpx.AsyncClient) -> None:
    """Each request is recorded with its method, resource path, query, headers and JSON body."""
    api.reset_stats()
    await http.get("/deployments", params={"limit": 2, "created_at[gte]": "2026-01-01T00:00:00Z"})
    await http.post("/deployments", json=CREATE, headers={"X-Trace": "1"})
    listed, created = api.requests
    assert isinstance(listed, RecordedRequest)
    assert (listed.method, listed.path, listed.json) == ("GET", "/deployments", None)
    assert listed.query == {"limit": "2", "created_at[gte]": "2026-01-01T00:00:00Z"}
    assert (created.method, created.json, created.headers["x-trace"]) == ("POST", CREATE, "1")
    assert created.headers["authorization"] == f"Bearer {PAT}"


async def test_in_flight_counts_concurrent_requests(
    api: FakeQoderAPI, http: httpx.AsyncClient
) -> None:
    """in_flight counts requests being handled, max_in_flight the peak, even on cancellation."""
    api.latency = 3600
    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(http.get, "/deployments")
        await anyio.wait_all_tasks_blocked()
        assert (api.in_flight, api.max_in_flight) == (5, 5)
        group.cancel_scope.cancel()
    assert (api.in_flight, api.max_in_flight) == (0, 5)
    api.reset_stats()
    assert (api.max_in_flight, api.requests) == (0, [])


# -- the Python API and generated data -----------------------------------------------------


def test_seeded_data_is_realistic_and_reproducible() -> None:
    """Seeding is deterministic for a seed and a `now`, and yields varied spec 4.1/4.2 records."""
    first, again = FakeQoderAPI(seed=7, now=NOW), FakeQoderAPI(seed=7, now=NOW)
    first.seed(deployments=40, runs_per_deployment=8)
    again.seed(deployments=40, runs_per_deployment=8)
    assert dict(first.deployments) == dict(again.deployments)
    assert dict(first.runs) == dict(again.runs)
    deployments, runs = list(first.deployments.values()), list(first.runs.values())
    assert {dep["status"] for dep in deployments} == {"active", "paused"}
    assert any(dep["archived_at"] for dep in deployments)
    assert any(dep["schedule"] is None for dep in deployments)
    assert Counter(run["status"] for run in runs).keys() >= {
        "completed",
        "failed",
        "skipped",
        "running",
    }
    assert {run["trigger_context"]["type"] for run in runs} == {"manual", "schedule", "retry"}
    digits = Counter(
        len(at.partition(".")[2].rstrip("Z")) for run in runs for at in (run["triggered_at"],)
    )
    assert digits.keys() >= {0, 5, 6, 9}
    assert len({run["triggered_at"] for run in runs}) == len(runs)
    for dep in deployments:
        assert ID.fullmatch(dep["id"])
        assert ID.fullmatch(dep["agent"]["id"])
        assert set(dep["metadata"]["cas_config"]) == {"config", "session_strategy", "stats"}
    for run in runs:
        assert ID.fullmatch(run["id"])
        assert TIMESTAMP.fullmatch(run["triggered_at"])
        if run["status"] == "failed":
            assert run["error"]["type"]
            assert run["session_id"] is None
        if run["status"] in ("running", "completed"):
            assert run["error"] is None
            assert ID.fullmatch(run["session_id"])


def test_clock_starts_now_by_default_with_seeded_data_before_it() -> None:
    """Without `now` the clock starts at the current time and every seeded record predates it."""
    before = datetime.now(timezone.utc)
    api = FakeQoderAPI(seed=3)
    api.seed(deployments=20, runs_per_deployment=10)
    created = parse_datetime(api.add_deployment()["created_at"])
    # A new deployment's created_at may be cut to whole seconds.
    assert before.replace(microsecond=0) <= created <= datetime.now(timezone.utc)
    stamps = [
        parse_datetime(stamp)
        for record in (*api.deployments.values(), *api.runs.values())
        for key in ("created_at", "triggered_at", "updated_at")
        if (stamp := record.get(key)) is not None
    ]
    assert len(stamps) > 200
    assert max(stamps) <= created


def test_python_api_returns_copies_and_checks_arguments() -> None:
    """add_* return copies, views are read-only copies and bad arguments raise."""
    api = FakeQoderAPI()
    dep = api.add_deployment(name="x", status="paused", schedule=False)
    dep["name"] = "changed"
    assert api.deployments[dep["id"]]["name"] == "x"
    assert api.deployments[dep["id"]]["paused_reason"] == {"type": "manual"}
    run = api.add_run(dep["id"], status="running")
    assert api.complete_run(run["id"])["status"] == "completed"
    with pytest.raises(ValueError, match="already"):
        api.complete_run(run["id"])
    with pytest.raises(KeyError):
        api.add_run("dep_unknown")
    with pytest.raises(ValueError, match="name"):
        api.add_deployment(name="")


# -- loopback ------------------------------------------------------------------------------


async def test_loopback_server_speaks_http(api: FakeQoderAPI) -> None:
    """Over loopback the fake answers many keep-alive requests, POST bodies and closes on request."""
    headers = {"authorization": f"Bearer {PAT}"}
    limits = httpx.Limits(max_connections=4)
    async with api.serve() as base_url:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v1/cloud", base_url)
        async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits) as http:
            async with anyio.create_task_group() as group:
                for _ in range(40):
                    group.start_soon(http.get, "/deployment_runs")
            created = await http.post("/deployments", json=CREATE)
            assert created.status_code == 200
            assert created.json()["name"] == CREATE["name"]
            closing = await http.get("/deployments", headers={"connection": "close"})
            assert (closing.status_code, closing.headers["connection"]) == (200, "close")
            assert (await http.get("/deployments/dep_unknown")).status_code == 404
            head = await http.head("/deployments")
            assert (head.status_code, head.content) == (405, b"")

            async def chunks() -> AsyncIterator[bytes]:
                yield json.dumps(CREATE).encode()

            chunked = await http.post("/deployments", content=chunks())
            assert chunked.status_code == 200
    assert api.in_flight == 0
    assert api.requests[-1].json == CREATE


async def test_loopback_faults(api: FakeQoderAPI) -> None:
    """Over loopback a reset drops the connection and a slow body still arrives whole."""
    headers = {"authorization": f"Bearer {PAT}"}
    async with (
        api.serve() as base_url,
        httpx.AsyncClient(base_url=base_url, headers=headers) as http,
    ):
        expected = (await http.get("/deployments")).content
        api.faults += [Fault(reset=True), Fault(slow_body=0.05), Fault(status=503, body="empty")]
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await http.get("/deployments")
        assert (await http.get("/deployments")).content == expected
        unavailable = await http.get("/deployments")
        assert (unavailable.status_code, unavailable.content) == (503, b"")


async def test_loopback_survives_bad_and_vanishing_clients(api: FakeQoderAPI) -> None:
    """A malformed request gets a 400 and a client leaving mid-request is dropped quietly."""
    async with api.serve() as base_url:
        port = int(base_url.split(":")[2].split("/")[0])
        async with await anyio.connect_tcp("127.0.0.1", port) as bad:
            await bad.send(b"NONSENSE\r\n\r\n")
            assert (await read_to_end(bad)).startswith(b"HTTP/1.1 400 ")
        async with await anyio.connect_tcp("127.0.0.1", port) as leaving:
            await leaving.send(
                b"POST /api/v1/cloud/deployments HTTP/1.1\r\ncontent-length: 10\r\n\r\n{"
            )
        idle = await anyio.connect_tcp("127.0.0.1", port)  # still open when the server stops
        async with httpx.AsyncClient(base_url=base_url) as http:
            assert (await http.get("/deployments")).status_code == 401
    await idle.aclose()


async def read_to_end(stream: anyio.abc.ByteStream) -> bytes:
    """Everything a peer sends until it closes the connection."""
    data = b""
    with contextlib.suppress(anyio.EndOfStream):
        while True:
            data += await stream.receive()
    return data


def test_server_runs_as_a_process() -> None:
    """`python -m qoder_async.testing` serves with its clock at the current time, ends on SIGTERM."""
    command = [sys.executable, "-m", "qoder_async.testing", "--deployments", "3", "--pat", PAT]
    before = datetime.now(timezone.utc).replace(microsecond=0)
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as server:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        try:
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v1/cloud", base_url)
            auth = {"authorization": f"Bearer {PAT}"}
            response = httpx.get(f"{base_url}/deployments", headers=auth)
            assert response.status_code == 200
            created = httpx.post(f"{base_url}/deployments", headers=auth, json=CREATE)
            assert created.is_success, created.text
            assert before <= parse_datetime(created.json()["created_at"])
            assert parse_datetime(created.json()["created_at"]) <= datetime.now(timezone.utc)
        finally:
            server.terminate()
        assert server.wait(timeout=10) == 0
        assert server.stdout.read() == ""


async def test_fake_client_is_an_entered_client_of_a_seeded_fake() -> None:
    """fake_client() seeds a fake and yields a client of it; given an api, it uses that one."""
    async with fake_client(deployments=3, runs_per_deployment=2) as client:
        deployments = [d async for d in client.deployments.list(include_archived=True)]
    assert len(deployments) == 3
    api = FakeQoderAPI(pat="pt-mine", now=NOW)
    dep = api.add_deployment()
    async with fake_client(api) as client:
        assert (await client.deployments.get(dep["id"])).id == dep["id"]
    assert [request.headers["authorization"] for request in api.requests] == ["Bearer pt-mine"]
