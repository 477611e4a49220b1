"""`client.deployments`: every method against the fake API, in-process."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from qoder_async import (
    AgentRef,
    AuthenticationError,
    CasConfig,
    CasSettings,
    ConflictError,
    DefineOutcome,
    Deployment,
    DeploymentRun,
    DeploymentStatus,
    DocumentBlock,
    FileSource,
    NotFoundError,
    QoderClient,
    RunStatus,
    RunTimeoutError,
    Schedule,
    SystemMessage,
    TextBlock,
    TextRubric,
    TriggerType,
    UserMessage,
)
from qoder_async.testing import FakeQoderAPI, Fault
from tests.helpers import BASE_URL, START, deployment_with_runs

if TYPE_CHECKING:
    from qoder_async import Pager
    from qoder_async.testing import RecordedRequest

pytestmark = pytest.mark.anyio

PAT = "pt-test"
AGENT = "agent_019ebb21ef8e7df6a559052c94875160"
ENV = "env_019e49a1780171daac1e6b01f290ac2b"
PROMPT = "Generate today's status report"
EVENT = UserMessage(content=PROMPT)
MISSING_DEP = "dep_00000000000000000000000000000000"
MISSING_RUN = "drun_00000000000000000000000000000000"


async def ids(pager: Pager[Deployment] | Pager[DeploymentRun]) -> list[str]:
    """The ids of every item a pager yields, in order."""
    return [item.id async for item in pager]


def instant(text: str) -> tuple[datetime, int]:
    """An RFC 3339 "Z" timestamp as a sortable (whole seconds, nanoseconds) pair."""
    head, _, fraction = text.removesuffix("Z").partition(".")
    return datetime.fromisoformat(head), int(fraction.ljust(9, "0")) if fraction else 0


def newest_first(records: list[dict[str, Any]], field: str) -> list[str]:
    """Record ids sorted as the API lists them: by `field` descending, ties by id descending."""
    ordered = sorted(records, key=lambda record: (instant(record[field]), record["id"]))
    return [record["id"] for record in reversed(ordered)]


def sent(api: FakeQoderAPI, method: str, path: str) -> list[RecordedRequest]:
    """The requests the fake received with this method and resource path."""
    return [r for r in api.requests if r.method == method and r.path == path]


def add_deployments(api: FakeQoderAPI, count: int, **fields: Any) -> list[str]:
    """Add `count` deployments created a minute apart; return their ids newest first."""
    added = [
        api.add_deployment(created_at=START + timedelta(minutes=i), **fields)["id"]
        for i in range(count)
    ]
    return added[::-1]


# -- list ----------------------------------------------------------------------------------


async def test_list_is_newest_first_across_pages(api: FakeQoderAPI, client: QoderClient) -> None:
    """Listing seeded data yields every unarchived deployment newest first, page after page."""
    api.seed(deployments=25, runs_per_deployment=0)
    expected = newest_first(
        [dep for dep in api.deployments.values() if dep["archived_at"] is None], "created_at"
    )
    assert len(expected) > 14  # the seed makes several pages of 7
    assert await ids(client.deployments.list(limit=7)) == expected
    listed = sent(api, "GET", "/deployments")
    assert len(listed) == math.ceil(len(expected) / 7)
    assert all(r.query["limit"] == "7" for r in listed)


async def test_list_models_match_the_stored_json(api: FakeQoderAPI, client: QoderClient) -> None:
    """Listed deployments carry the stored fields, with cas_config lifted out of metadata."""
    stored = api.add_deployment(name="report", description="daily", metadata={"team": "sre"})
    [dep] = [dep async for dep in client.deployments.list()]
    assert (dep.id, dep.name, dep.description) == (stored["id"], "report", "daily")
    assert dep.agent.id == stored["agent"]["id"]
    assert dep.metadata == {"team": "sre"}
    assert dep.cas_config is not None
    assert dep.cas_config.config == CasSettings(max_concurrent=1, max_retries=0, timeout_ms=300_000)
    assert dep.status is DeploymentStatus.ACTIVE


async def test_list_of_nothing_is_empty(client: QoderClient) -> None:
    """An account without deployments lists nothing."""
    assert await ids(client.deployments.list()) == []
    page = await client.deployments.list()
    assert (page.data, page.has_more, page.first_id, page.last_id) == ((), False, None, None)


async def test_list_hides_archived_unless_asked(api: FakeQoderAPI, client: QoderClient) -> None:
    """Archived deployments are left out by default and with False, included with True."""
    newest, archived, oldest = add_deployments(api, 3)
    await client.deployments.archive(archived)
    assert await ids(client.deployments.list()) == [newest, oldest]
    assert await ids(client.deployments.list(include_archived=False)) == [newest, oldest]
    assert await ids(client.deployments.list(include_archived=True)) == [newest, archived, oldest]
    assert [r.query.get("include_archived") for r in sent(api, "GET", "/deployments")] == [
        None,
        "false",
        "true",
    ]


@pytest.mark.parametrize(
    "status", ["active", "paused", DeploymentStatus.ACTIVE, DeploymentStatus.PAUSED]
)
async def test_list_filters_by_status(
    api: FakeQoderAPI, client: QoderClient, status: DeploymentStatus | str
) -> None:
    """`status` keeps only deployments in that state, as a str or an enum member."""
    for i, state in enumerate(["active", "paused", "active", "paused"]):
        api.add_deployment(status=state, created_at=START + timedelta(minutes=i))  # type: ignore[arg-type]
    api.add_deployment(status="paused", archived=True)
    expected = newest_first(
        [
            dep
            for dep in api.deployments.values()
            if dep["status"] == status and dep["archived_at"] is None
        ],
        "created_at",
    )
    assert len(expected) == 2
    assert await ids(client.deployments.list(status=status)) == expected
    assert sent(api, "GET", "/deployments")[0].query["status"] == DeploymentStatus(status).value


async def test_list_filters_by_agent(api: FakeQoderAPI, client: QoderClient) -> None:
    """`agent_id` keeps only the deployments of that agent."""
    other = "agent_019ebb21ef8e7df6a559052c94875161"
    mine = add_deployments(api, 2, agent=AGENT)
    add_deployments(api, 2, agent=other)
    assert await ids(client.deployments.list(agent_id=AGENT)) == mine
    assert sent(api, "GET", "/deployments")[0].query["agent_id"] == AGENT


async def test_list_filters_by_creation_time(api: FakeQoderAPI, client: QoderClient) -> None:
    """`created_at_gte`/`created_at_lte` are inclusive bounds sent as RFC 3339 UTC."""
    newest_first_ids = add_deployments(api, 6)  # minutes 5 down to 0
    lower = START + timedelta(minutes=2)
    # The same instant, written in another zone: sent in UTC.
    upper = (START + timedelta(minutes=4)).astimezone(timezone(timedelta(hours=8)))
    listed = client.deployments.list(created_at_gte=lower, created_at_lte=upper)
    assert await ids(listed) == newest_first_ids[1:4]
    assert await ids(client.deployments.list(created_at_gte=lower)) == newest_first_ids[:4]
    assert await ids(client.deployments.list(created_at_lte=upper)) == newest_first_ids[1:]
    query = sent(api, "GET", "/deployments")[0].query
    assert query["created_at[gte]"] == "2026-06-01T00:02:00.000000Z"
    assert query["created_at[lte]"] == "2026-06-01T00:04:00.000000Z"


async def test_list_filters_combine(api: FakeQoderAPI, client: QoderClient) -> None:
    """Several filters keep only what matches all of them."""
    add_deployments(api, 2, agent=AGENT, status="paused")
    wanted = add_deployments(api, 2, agent=AGENT)
    add_deployments(api, 2, status="active")
    listed = client.deployments.list(status="active", agent_id=AGENT, include_archived=False)
    assert await ids(listed) == wanted
    # include_archived=False is the default: with status it stays off the wire (spec 7.5).
    assert "include_archived" not in sent(api, "GET", "/deployments")[0].query


async def test_list_limit_sets_the_page_size(api: FakeQoderAPI, client: QoderClient) -> None:
    """`limit` is the page size: 7 deployments by 3 come as pages of 3, 3 and 1."""
    expected = add_deployments(api, 7)
    pages = [page async for page in client.deployments.list(limit=3).pages()]
    assert [len(page.data) for page in pages] == [3, 3, 1]
    assert [page.has_more for page in pages] == [True, True, False]
    assert [dep.id for page in pages for dep in page.data] == expected
    # Spec 7.4: each next page is asked for with the previous page's opaque next_page.
    assert [r.query.get("page") for r in sent(api, "GET", "/deployments")] == [
        None,
        pages[0].next_page,
        pages[1].next_page,
    ]


async def test_list_after_id_continues_toward_older(api: FakeQoderAPI, client: QoderClient) -> None:
    """`after_id` starts just past that deployment, toward older ones."""
    expected = add_deployments(api, 6)
    assert await ids(client.deployments.list(after_id=expected[1], limit=2)) == expected[2:]


async def test_list_before_id_walks_toward_newer(api: FakeQoderAPI, client: QoderClient) -> None:
    """`before_id` yields the newer deployments, nearest to the cursor first."""
    expected = add_deployments(api, 6)
    listed = client.deployments.list(before_id=expected[4], limit=2)
    assert await ids(listed) == expected[:4][::-1]
    assert all("after_id" not in r.query for r in sent(api, "GET", "/deployments"))


async def test_list_resumes_from_next_page(api: FakeQoderAPI, client: QoderClient) -> None:
    """The opaque `next_page` of one page, passed as `page`, lists the rest."""
    expected = add_deployments(api, 5)
    first = await client.deployments.list(limit=2)
    assert first.has_more
    assert first.next_page is not None
    rest = client.deployments.list(page=first.next_page, limit=2)
    assert [dep.id for dep in first.data] + await ids(rest) == expected
    assert sent(api, "GET", "/deployments")[1].query["page"] == first.next_page


@pytest.mark.parametrize(("max_items", "limit", "limits"), [(4, 3, ["3", "1"]), (0, 3, [])])
async def test_list_max_items_caps_items_and_requests(
    api: FakeQoderAPI, client: QoderClient, max_items: int, limit: int, limits: list[str]
) -> None:
    """`max_items` caps the total, and the last request asks only for what is still wanted."""
    expected = add_deployments(api, 8)
    listed = client.deployments.list(max_items=max_items, limit=limit)
    assert await ids(listed) == expected[:max_items]
    assert [r.query["limit"] for r in sent(api, "GET", "/deployments")] == limits


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"after_id": "dep_a", "before_id": "dep_b"}, ValueError),
        ({"page": "p", "after_id": "dep_a"}, ValueError),
        ({"status": "archived"}, ValueError),
        ({"status": 1}, TypeError),
        ({"include_archived": "yes"}, TypeError),
        ({"agent_id": "env_1"}, ValueError),
        ({"created_at_gte": datetime(2026, 6, 1)}, ValueError),
        ({"created_at_lte": "2026-06-01T00:00:00Z"}, TypeError),
        ({"limit": 0}, ValueError),
        ({"limit": 1001}, ValueError),
        ({"max_items": -1}, ValueError),
    ],
)
async def test_list_rejects_bad_arguments_before_any_request(
    api: FakeQoderAPI, client: QoderClient, arguments: dict[str, Any], error: type[Exception]
) -> None:
    """Invalid list arguments raise at once, and nothing is sent."""
    with pytest.raises(error):
        client.deployments.list(**arguments)
    assert api.requests == []


async def test_list_accepts_the_earliest_creation_bound(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """`created_at_gte=datetime.min` (an open lower bound) lists everything, sent as RFC 3339."""
    expected = add_deployments(api, 2)
    earliest = datetime.min.replace(tzinfo=timezone.utc)
    assert await ids(client.deployments.list(created_at_gte=earliest)) == expected
    assert api.requests[0].query["created_at[gte]"] == "0001-01-01T00:00:00.000000Z"


# -- get -----------------------------------------------------------------------------------


async def test_get_returns_the_deployment(api: FakeQoderAPI, client: QoderClient) -> None:
    """`get` returns the stored deployment as a model."""
    stored = api.add_deployment(name="nightly", vault_ids=["vlt_1"], schedule=False)
    dep = await client.deployments.get(stored["id"])
    assert (dep.id, dep.name, dep.vault_ids, dep.schedule) == (
        stored["id"],
        "nightly",
        ("vlt_1",),
        None,
    )
    assert dep.environment_id == stored["environment_id"]
    assert dep.initial_events == (EVENT,)
    assert [r.path for r in api.requests] == [f"/deployments/{stored['id']}"]


async def test_get_missing_raises_not_found(api: FakeQoderAPI, client: QoderClient) -> None:
    """A missing deployment raises NotFoundError with the request id, without a retry."""
    with pytest.raises(NotFoundError) as caught:
        await client.deployments.get(MISSING_DEP)
    error = caught.value
    assert (error.status_code, error.error_type) == (404, "not_found_error")
    [request] = api.requests
    assert error.request_id == request.headers["x-request-id"]
    assert MISSING_DEP in error.message


@pytest.mark.parametrize("deployment_id", ["", "drun_1", "dep_../x", "dep_a/b", 7])
async def test_get_rejects_bad_ids(
    api: FakeQoderAPI, client: QoderClient, deployment_id: object
) -> None:
    """An id that is not a `dep_` id is refused before any request."""
    with pytest.raises((ValueError, TypeError)):
        await client.deployments.get(deployment_id)  # type: ignore[arg-type]
    assert api.requests == []


# -- create --------------------------------------------------------------------------------


async def test_create_with_every_field(api: FakeQoderAPI, client: QoderClient) -> None:
    """`create` sends every field and returns them, stored by the fake as sent."""
    blocks = (TextBlock(text="Summarise"), TextBlock(text=""))
    outcome = DefineOutcome(
        description="A report", rubric=TextRubric(content="Complete"), max_iterations=2
    )
    document = DocumentBlock(source=FileSource(file_id="file_1"), title="Runbook")
    dep = await client.deployments.create(
        name="nightly-report",
        description="Nightly summary",
        agent=AgentRef(id=AGENT, version=3),
        environment_id=ENV,
        initial_events=[
            UserMessage(content=[TextBlock(text="Look at this"), document]),
            SystemMessage(content=blocks),
            outcome,
        ],
        schedule=Schedule(expression="30 9 * * 1-5", timezone="Asia/Shanghai"),
        resources=[{"type": "github_repository", "url": "https://github.com/o/r"}],
        vault_ids=["vlt_1", "vlt_2"],
        metadata={"team": "sre", "tier": "gold"},
        cas_config=CasConfig(
            config=CasSettings(max_concurrent=2, max_retries=1, timeout_ms=60_000),
            session_strategy="new_session",
        ),
        environment_variables="LOG_LEVEL=debug",
        budget={"type": "limit", "max_list_cost": {"amount": "5.00", "currency": "USD"}},
    )
    assert dep.name == "nightly-report"
    assert dep.description == "Nightly summary"
    assert dep.agent == AgentRef(id=AGENT, type="agent", version=3)
    assert dep.environment_id == ENV
    assert dep.initial_events == (
        UserMessage(content=[TextBlock(text="Look at this"), document]),
        SystemMessage(content=blocks),
        outcome,
    )
    assert dep.schedule is not None
    assert (dep.schedule.type, dep.schedule.expression, dep.schedule.timezone) == (
        "cron",
        "30 9 * * 1-5",
        "Asia/Shanghai",
    )
    assert len(dep.schedule.upcoming_runs_at) == 5
    assert dep.resources == ({"type": "github_repository", "url": "https://github.com/o/r"},)
    assert dep.vault_ids == ("vlt_1", "vlt_2")
    assert dep.metadata == {"team": "sre", "tier": "gold"}
    assert dep.cas_config is not None
    assert dep.cas_config.config == CasSettings(max_concurrent=2, max_retries=1, timeout_ms=60_000)
    assert dep.cas_config.session_strategy == "new_session"
    assert dep.cas_config.stats is not None
    assert dep.cas_config.stats.total_runs == 0
    assert dep.environment_variables == "LOG_LEVEL=debug"
    assert dep.budget == {"type": "limit", "max_list_cost": {"amount": "5.00", "currency": "USD"}}
    assert (dep.status, dep.paused_reason, dep.archived_at) == (DeploymentStatus.ACTIVE, None, None)

    [request] = api.requests
    assert request.json["agent"] == {"id": AGENT, "type": "agent", "version": 3}
    assert request.json["initial_events"][1] == {
        "type": "system.message",
        "content": [{"type": "text", "text": "Summarise"}, {"type": "text", "text": ""}],
    }
    assert request.json["metadata"] == {
        "team": "sre",
        "tier": "gold",
        "cas_config": {
            "session_strategy": "new_session",
            "config": {"max_concurrent": 2, "max_retries": 1, "timeout_ms": 60_000},
        },
    }
    stored = api.deployments[dep.id]
    assert stored["name"] == "nightly-report"
    assert stored["metadata"]["team"] == "sre"
    assert stored["metadata"]["cas_config"]["config"]["max_concurrent"] == 2
    assert stored["initial_events"] == request.json["initial_events"]


async def test_create_minimal_gets_the_defaults(api: FakeQoderAPI, client: QoderClient) -> None:
    """A deployment made from the required fields only is manual-only with default config."""
    dep = await client.deployments.create(
        name="on-demand", agent=AGENT, environment_id=ENV, initial_events=[EVENT]
    )
    # Spec 4.1: a plain agent id comes back resolved to a concrete version.
    assert dep.agent.id == AGENT
    assert dep.agent.version is not None
    assert (dep.schedule, dep.resources, dep.vault_ids, dep.metadata) == (None, (), (), {})
    assert dep.cas_config is not None
    assert dep.cas_config.config == CasSettings(max_concurrent=1, max_retries=0, timeout_ms=300_000)
    assert dep.cas_config.session_strategy == "new_session"
    [request] = api.requests
    assert request.json == {
        "name": "on-demand",
        "agent": AGENT,
        "environment_id": ENV,
        "initial_events": [{"type": "user.message", "content": [{"type": "text", "text": PROMPT}]}],
    }
    assert list(api.deployments) == [dep.id]


async def test_create_is_listed_first(api: FakeQoderAPI, client: QoderClient) -> None:
    """A new deployment is the newest, so it lists first."""
    older = add_deployments(api, 2)
    dep = await client.deployments.create(
        name="new", agent=AGENT, environment_id=ENV, initial_events=[EVENT]
    )
    assert await ids(client.deployments.list()) == [dep.id, *older]


async def test_create_with_the_same_key_and_body_replays(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """The same Idempotency-Key and body replay the first deployment instead of a second."""
    arguments: dict[str, Any] = {
        "name": "nightly",
        "agent": AGENT,
        "environment_id": ENV,
        "initial_events": [EVENT],
        "metadata": {"team": "sre"},
        "idempotency_key": "create-nightly-1",
    }
    first = await client.deployments.create(**arguments)
    again = await client.deployments.create(**arguments)
    assert again == first
    assert list(api.deployments) == [first.id]
    requests = sent(api, "POST", "/deployments")
    assert [r.headers["idempotency-key"] for r in requests] == ["create-nightly-1"] * 2


async def test_create_with_the_same_key_and_another_body_conflicts(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """Reusing an Idempotency-Key with a different body raises ConflictError and creates nothing."""
    common: dict[str, Any] = {
        "agent": AGENT,
        "environment_id": ENV,
        "initial_events": [EVENT],
        "idempotency_key": "create-1",
    }
    first = await client.deployments.create(name="one", **common)
    with pytest.raises(ConflictError) as caught:
        await client.deployments.create(name="two", **common)
    assert (caught.value.status_code, caught.value.error_type) == (409, "conflict_error")
    assert "Idempotency key" in caught.value.message
    assert list(api.deployments) == [first.id]
    assert len(sent(api, "POST", "/deployments")) == 2  # a 409 is never retried


async def test_create_without_a_key_sends_a_fresh_one_each_time(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """Without `idempotency_key`, two identical creates are two deployments."""
    for _ in range(2):
        await client.deployments.create(
            name="twin", agent=AGENT, environment_id=ENV, initial_events=[EVENT]
        )
    keys = {r.headers["idempotency-key"] for r in sent(api, "POST", "/deployments")}
    assert len(keys) == 2
    assert len(api.deployments) == 2


async def test_create_retried_after_503_creates_one_deployment(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """A POST retried after a transient 503 reuses its Idempotency-Key and creates exactly one."""
    api.faults.append(Fault(status=503, retry_after=0, method="POST", path="/deployments"))
    dep = await client.deployments.create(
        name="retried", agent=AGENT, environment_id=ENV, initial_events=[EVENT]
    )
    assert list(api.deployments) == [dep.id]
    first, second = sent(api, "POST", "/deployments")
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert first.content == second.content


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"name": ""}, ValueError),
        ({"name": "x" * 257}, ValueError),
        ({"agent": "env_1"}, ValueError),
        ({"agent": {"id": AGENT}}, TypeError),
        ({"environment_id": "agent_1"}, ValueError),
        ({"initial_events": []}, ValueError),
        ({"initial_events": [EVENT] * 51}, ValueError),
        ({"initial_events": [{"type": "user.message"}]}, TypeError),
        (
            {"initial_events": [DefineOutcome(description="", rubric=TextRubric(content="x"))]},
            ValueError,
        ),
        ({"schedule": Schedule(expression="0 9 * *", timezone="UTC")}, ValueError),
        ({"vault_ids": ["vlt"] * 51}, ValueError),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, ValueError),
        ({"metadata": {"cas_config": "x"}}, ValueError),
        ({"metadata": {"team": None}}, TypeError),
        ({"resources": [{"url": "x"}]}, TypeError),
        ({"cas_config": CasConfig(config=CasSettings(max_concurrent=0))}, ValueError),
        ({"idempotency_key": ""}, ValueError),
    ],
)
async def test_create_rejects_bad_arguments_before_any_request(
    api: FakeQoderAPI, client: QoderClient, arguments: dict[str, Any], error: type[Exception]
) -> None:
    """Invalid create arguments raise before anything is sent."""
    fields: dict[str, Any] = {
        "name": "x",
        "agent": AGENT,
        "environment_id": ENV,
        "initial_events": [EVENT],
        **arguments,
    }
    with pytest.raises(error):
        await client.deployments.create(**fields)
    assert api.requests == []


@pytest.mark.parametrize(
    "content",
    [
        [{"type": "text", "text": "Summarise"}],
        ("Summarise",),
        (TextBlock(text=5),),  # type: ignore[arg-type]
        5,
    ],
)
async def test_create_rejects_malformed_event_content_before_any_request(
    api: FakeQoderAPI, client: QoderClient, content: object
) -> None:
    """Event content that is neither a str nor content blocks of str raises TypeError, unsent."""
    event = UserMessage(content=content)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"initial_events\[0\]\.content"):
        await client.deployments.create(
            name="x", agent=AGENT, environment_id=ENV, initial_events=[event]
        )
    assert api.requests == []


@pytest.mark.parametrize("key", ["two\nlines", " padded ", "smuggled\r\nx-evil: 1"])
async def test_idempotency_key_that_is_no_header_value_is_refused(
    api: FakeQoderAPI, client: QoderClient, key: str
) -> None:
    """An Idempotency-Key that cannot be sent as a header raises ValueError before any request."""
    stored = api.add_deployment()
    with pytest.raises(ValueError, match="idempotency_key"):
        await client.deployments.pause(stored["id"], idempotency_key=key)
    assert api.requests == []


# -- update --------------------------------------------------------------------------------


async def test_update_is_a_merge_patch(api: FakeQoderAPI, client: QoderClient) -> None:
    """Only the given fields change; a metadata key set to None is deleted, others are kept."""
    stored = api.add_deployment(
        name="before", description="kept", metadata={"team": "sre", "owner": "ana"}
    )
    dep = await client.deployments.update(
        stored["id"], name="after", metadata={"team": None, "tier": "gold"}
    )
    assert dep.name == "after"
    assert dep.metadata == {"owner": "ana", "tier": "gold"}
    assert dep.description == "kept"
    assert dep.agent.id == stored["agent"]["id"]
    assert dep.environment_id == stored["environment_id"]
    assert dep.schedule is not None
    assert dep.schedule.expression == stored["schedule"]["expression"]
    [request] = api.requests
    assert (request.method, request.path) == ("POST", f"/deployments/{stored['id']}")
    assert request.json == {"name": "after", "metadata": {"team": None, "tier": "gold"}}
    assert api.deployments[stored["id"]]["metadata"] == {
        "cas_config": stored["metadata"]["cas_config"],
        "owner": "ana",
        "tier": "gold",
    }


async def test_update_replaces_lists_schedule_and_config(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """Lists and the schedule are replaced whole; cas_config settings merge into the old ones."""
    stored = api.add_deployment(vault_ids=["vlt_old"], max_retries=2)
    new_event = SystemMessage(content="Be brief")
    dep = await client.deployments.update(
        stored["id"],
        agent=AgentRef(id=AGENT, version=2),
        environment_id=ENV,
        initial_events=[new_event],
        vault_ids=["vlt_new"],
        resources=[{"type": "memory_store", "id": "mem_1"}],
        schedule=Schedule(expression="0 */6 * * *", timezone="UTC"),
        cas_config=CasConfig(config=CasSettings(max_concurrent=3)),
    )
    assert dep.agent == AgentRef(id=AGENT, version=2)
    assert dep.environment_id == ENV
    assert dep.initial_events == (new_event,)
    assert dep.vault_ids == ("vlt_new",)
    assert dep.resources == ({"type": "memory_store", "id": "mem_1"},)
    assert dep.schedule is not None
    assert (dep.schedule.expression, dep.schedule.timezone) == ("0 */6 * * *", "UTC")
    assert dep.cas_config is not None
    assert dep.cas_config.config == CasSettings(max_concurrent=3, max_retries=2, timeout_ms=300_000)
    assert dep.cas_config.stats is not None
    assert dep == await client.deployments.get(stored["id"])


async def test_update_missing_raises_not_found(api: FakeQoderAPI, client: QoderClient) -> None:
    """Updating a missing deployment raises NotFoundError and creates nothing."""
    with pytest.raises(NotFoundError):
        await client.deployments.update(MISSING_DEP, name="x")
    assert len(api.deployments) == 0


async def test_update_without_fields_is_refused(api: FakeQoderAPI, client: QoderClient) -> None:
    """An update with nothing to change raises ValueError before any request."""
    stored = api.add_deployment()
    with pytest.raises(ValueError, match="at least one field"):
        await client.deployments.update(stored["id"])
    assert api.requests == []


# -- pause, unpause, archive ---------------------------------------------------------------


async def test_pause(api: FakeQoderAPI, client: QoderClient) -> None:
    """Pausing an active deployment makes it paused for a manual reason."""
    stored = api.add_deployment()
    dep = await client.deployments.pause(stored["id"])
    assert dep.status is DeploymentStatus.PAUSED
    assert dep.paused_reason is not None
    assert (dep.paused_reason.type, dep.paused_reason.error) == ("manual", None)
    assert api.deployments[stored["id"]]["status"] == "paused"
    [request] = api.requests
    assert (request.method, request.path) == ("POST", f"/deployments/{stored['id']}/pause")
    assert "idempotency-key" in request.headers


async def test_pause_twice_conflicts_without_retry(api: FakeQoderAPI, client: QoderClient) -> None:
    """Pausing a paused deployment raises a 409 ConflictError after exactly one request."""
    stored = api.add_deployment(status="paused")
    with pytest.raises(ConflictError) as caught:
        await client.deployments.pause(stored["id"])
    assert (caught.value.status_code, caught.value.error_type) == (409, "conflict_error")
    assert caught.value.request_id == api.requests[0].headers["x-request-id"]
    assert len(api.requests) == 1


async def test_pause_with_the_same_key_replays(api: FakeQoderAPI, client: QoderClient) -> None:
    """A pause repeated with its Idempotency-Key replays the first answer instead of a 409."""
    stored = api.add_deployment()
    first = await client.deployments.pause(stored["id"], idempotency_key="pause-1")
    again = await client.deployments.pause(stored["id"], idempotency_key="pause-1")
    assert again == first
    with pytest.raises(ConflictError):
        await client.deployments.pause(stored["id"], idempotency_key="pause-2")


async def test_unpause(api: FakeQoderAPI, client: QoderClient) -> None:
    """Unpausing a paused deployment makes it active and clears the reason."""
    stored = api.add_deployment(status="paused")
    dep = await client.deployments.unpause(stored["id"])
    assert (dep.status, dep.paused_reason) == (DeploymentStatus.ACTIVE, None)
    assert api.deployments[stored["id"]]["status"] == "active"


async def test_unpause_active_conflicts(api: FakeQoderAPI, client: QoderClient) -> None:
    """Unpausing an active deployment raises ConflictError without a retry."""
    stored = api.add_deployment()
    with pytest.raises(ConflictError):
        await client.deployments.unpause(stored["id"])
    assert len(api.requests) == 1


@pytest.mark.parametrize("status", ["active", "paused"])
async def test_archive(api: FakeQoderAPI, client: QoderClient, status: str) -> None:
    """Archiving sets archived_at, suffixes the name with the time, and keeps the status."""
    stored = api.add_deployment(name="weekly", status=status)  # type: ignore[arg-type]
    dep = await client.deployments.archive(stored["id"])
    assert dep.archived_at is not None
    assert dep.is_archived
    assert dep.name == f"weekly_archived_{int(dep.archived_at.timestamp())}"
    assert dep.status == status
    assert dep.schedule is not None
    assert dep.schedule.upcoming_runs_at == ()
    assert api.deployments[stored["id"]]["archived_at"] is not None


async def test_archived_is_hidden_from_list(api: FakeQoderAPI, client: QoderClient) -> None:
    """Once archived, a deployment lists only with include_archived=True, and can still be got."""
    stored = api.add_deployment()
    await client.deployments.archive(stored["id"])
    assert await ids(client.deployments.list()) == []
    assert await ids(client.deployments.list(include_archived=True)) == [stored["id"]]
    assert (await client.deployments.get(stored["id"])).is_archived


async def test_archive_twice_conflicts(api: FakeQoderAPI, client: QoderClient) -> None:
    """Archiving an archived deployment raises ConflictError and leaves its name alone."""
    stored = api.add_deployment(archived=True)
    with pytest.raises(ConflictError):
        await client.deployments.archive(stored["id"])
    assert api.deployments[stored["id"]]["name"] == stored["name"]
    assert len(api.requests) == 1


@pytest.mark.parametrize("action", ["pause", "unpause", "archive", "run"])
async def test_actions_on_a_missing_deployment_raise_not_found(
    api: FakeQoderAPI, client: QoderClient, action: str
) -> None:
    """Every action on a missing deployment raises NotFoundError."""
    method = getattr(client.deployments, action)
    with pytest.raises(NotFoundError):
        await method(MISSING_DEP)
    assert [r.path for r in api.requests] == [f"/deployments/{MISSING_DEP}/{action}"]


# -- run -----------------------------------------------------------------------------------


async def test_run_returns_a_running_run(api: FakeQoderAPI, client: QoderClient) -> None:
    """Running an active deployment returns a manual run that is running with a session."""
    stored = api.add_deployment()
    run = await client.deployments.run(stored["id"])
    assert isinstance(run, DeploymentRun)
    assert run.deployment_id == stored["id"]
    assert run.status is RunStatus.RUNNING
    assert run.session_id is not None
    assert run.error is None
    assert run.trigger_context.type is TriggerType.MANUAL
    assert run.agent.id == stored["agent"]["id"]
    assert not run.is_terminal
    assert api.runs[run.id]["status"] == "running"
    [request] = api.requests
    assert (request.method, request.path, request.json) == (
        "POST",
        f"/deployments/{stored['id']}/run",
        {},
    )
    assert api.deployments[stored["id"]]["metadata"]["cas_config"]["stats"]["total_runs"] == 1


async def test_run_past_max_concurrent_is_skipped(api: FakeQoderAPI, client: QoderClient) -> None:
    """A run triggered while max_concurrent runs are going comes back skipped, not an error."""
    stored = api.add_deployment(max_concurrent=2)
    first = await client.deployments.run(stored["id"])
    second = await client.deployments.run(stored["id"])
    third = await client.deployments.run(stored["id"])
    assert [first.status, second.status, third.status] == ["running", "running", "skipped"]
    assert third.is_terminal
    assert third.session_id is None
    assert api.runs[third.id]["status"] == "skipped"


@pytest.mark.parametrize("state", ["paused", "archived"])
async def test_run_of_an_inactive_deployment_conflicts(
    api: FakeQoderAPI, client: QoderClient, state: str
) -> None:
    """Running a paused or archived deployment raises ConflictError and records no run."""
    stored = api.add_deployment(status="paused" if state == "paused" else "active")
    if state == "archived":
        await client.deployments.archive(stored["id"])
        api.reset_stats()
    with pytest.raises(ConflictError) as caught:
        await client.deployments.run(stored["id"])
    assert caught.value.status_code == 409
    assert len(api.runs) == 0
    assert len(api.requests) == 1


async def test_run_and_wait_returns_the_terminal_run(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """`run(wait=True)` polls until the run has completed and returns that state."""
    api.run_polls_to_complete = 3
    stored = api.add_deployment()
    run = await client.deployments.run(stored["id"], wait=True, poll_interval=0.001)
    assert run.status is RunStatus.COMPLETED
    assert run.is_terminal
    assert run.completed_at is not None
    assert run.duration_ms is not None
    assert run.error is None
    assert api.runs[run.id]["status"] == "completed"
    polls = sent(api, "GET", f"/deployment_runs/{run.id}")
    assert len(polls) == 3


async def test_run_and_wait_returns_a_skipped_run_at_once(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """`run(wait=True)` returns a skipped run without polling it."""
    stored = api.add_deployment()
    api.run_polls_to_complete = None
    await client.deployments.run(stored["id"])
    api.reset_stats()
    run = await client.deployments.run(stored["id"], wait=True, poll_interval=0.001)
    assert run.status is RunStatus.SKIPPED
    assert [r.method for r in api.requests] == ["POST"]


async def test_run_and_wait_times_out_with_the_last_state(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """`run(wait=True)` raises RunTimeoutError holding the run when it never finishes."""
    api.run_polls_to_complete = None
    stored = api.add_deployment()
    with pytest.raises(RunTimeoutError) as caught:
        await client.deployments.run(stored["id"], wait=True, timeout=0.05, poll_interval=0.001)
    run = caught.value.run
    assert run is not None
    assert run.status is RunStatus.RUNNING
    assert list(api.runs) == [run.id]


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"wait": "yes"}, TypeError),
        ({"wait": True, "timeout": 0}, ValueError),
        ({"wait": True, "timeout": -1.0}, ValueError),
        ({"wait": True, "poll_interval": 0}, ValueError),
        ({"wait": True, "poll_interval": "1"}, TypeError),
        ({"wait": True, "timeout": True}, TypeError),
        ({"idempotency_key": 5}, TypeError),
    ],
)
async def test_run_rejects_bad_arguments_before_triggering(
    api: FakeQoderAPI, client: QoderClient, arguments: dict[str, Any], error: type[Exception]
) -> None:
    """Bad `run` arguments raise before the run is triggered."""
    stored = api.add_deployment()
    with pytest.raises(error):
        await client.deployments.run(stored["id"], **arguments)
    assert api.requests == []
    assert len(api.runs) == 0


@pytest.mark.parametrize("option", ["timeout", "poll_interval"])
async def test_run_rejects_nan_wait_options_before_triggering(
    api: FakeQoderAPI, client: QoderClient, option: str
) -> None:
    """A NaN timeout or poll interval is refused before the run is triggered."""
    stored = api.add_deployment(max_concurrent=5)
    options: dict[str, Any] = {option: math.nan}
    # The message is checked last: the requests made on the way are the point of the test.
    with pytest.raises(ValueError) as caught:  # noqa: PT011
        await client.deployments.run(stored["id"], wait=True, **options)
    assert api.requests == []  # today: the POST /run went out, a run was triggered
    assert len(api.runs) == 0
    assert option in str(caught.value)


# -- list_runs and get_run -----------------------------------------------------------------


async def test_list_runs_lists_one_deployments_runs_newest_first(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """`list_runs` yields only that deployment's runs, newest triggered first, across pages."""
    deployment_id, expected = deployment_with_runs(api, 7)
    deployment_with_runs(api, 3)  # another deployment's runs stay out
    assert await ids(client.deployments.list_runs(deployment_id, limit=3)) == expected
    listed = sent(api, "GET", f"/deployments/{deployment_id}/runs")
    assert len(listed) == 3


async def test_list_runs_of_seeded_data(api: FakeQoderAPI, client: QoderClient) -> None:
    """For seeded deployments, every run lists in the API's order, archived ones included."""
    api.seed(deployments=6, runs_per_deployment=9)
    for deployment_id in api.deployments:
        runs = [run for run in api.runs.values() if run["deployment_id"] == deployment_id]
        listed = client.deployments.list_runs(deployment_id, limit=4)
        assert await ids(listed) == newest_first(runs, "triggered_at")


@pytest.mark.parametrize("status", list(RunStatus))
async def test_list_runs_filters_by_status(
    api: FakeQoderAPI, client: QoderClient, status: RunStatus
) -> None:
    """`status` keeps only the runs in that state."""
    deployment_id = api.add_deployment()["id"]
    for i, state in enumerate([*RunStatus, *RunStatus]):
        api.add_run(deployment_id, status=state.value, triggered_at=START + timedelta(minutes=i))
    expected = newest_first(
        [run for run in api.runs.values() if run["status"] == status], "triggered_at"
    )
    assert len(expected) == 2
    assert await ids(client.deployments.list_runs(deployment_id, status=status)) == expected
    assert await ids(client.deployments.list_runs(deployment_id, status=status.value)) == expected


async def test_list_runs_filters_by_trigger_time(api: FakeQoderAPI, client: QoderClient) -> None:
    """`triggered_after`/`triggered_before` are exclusive bounds on the trigger time."""
    deployment_id, expected = deployment_with_runs(api, 6)  # minutes 5 down to 0
    after, before = START + timedelta(minutes=1), START + timedelta(minutes=4)
    both = client.deployments.list_runs(
        deployment_id, triggered_after=after, triggered_before=before
    )
    assert await ids(both) == expected[2:4]
    only_after = client.deployments.list_runs(deployment_id, triggered_after=after)
    assert await ids(only_after) == expected[:4]
    only_before = client.deployments.list_runs(deployment_id, triggered_before=before)
    assert await ids(only_before) == expected[2:]
    query = sent(api, "GET", f"/deployments/{deployment_id}/runs")[0].query
    assert query["triggered_after"] == "2026-06-01T00:01:00.000000Z"
    assert query["triggered_before"] == "2026-06-01T00:04:00.000000Z"


async def test_list_runs_cursors_and_max_items(api: FakeQoderAPI, client: QoderClient) -> None:
    """`after_id`, `before_id`, `page` and `max_items` work on one deployment's runs."""
    deployment_id, expected = deployment_with_runs(api, 8)
    runs = client.deployments.list_runs
    assert await ids(runs(deployment_id, after_id=expected[2], limit=2)) == expected[3:]
    assert await ids(runs(deployment_id, before_id=expected[3], limit=2)) == expected[:3][::-1]
    first = await runs(deployment_id, limit=3)
    assert first.next_page is not None
    rest = await ids(runs(deployment_id, page=first.next_page))
    assert [run.id for run in first.data] + rest == expected
    assert await ids(runs(deployment_id, max_items=5, limit=2)) == expected[:5]


async def test_list_runs_of_a_missing_deployment_raises_when_iterated(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """`list_runs` of a missing deployment sends nothing until iterated, then raises 404."""
    pager = client.deployments.list_runs(MISSING_DEP)
    assert api.requests == []
    with pytest.raises(NotFoundError) as caught:
        await ids(pager)
    assert caught.value.status_code == 404
    assert len(api.requests) == 1


async def test_list_runs_of_an_archived_deployment(api: FakeQoderAPI, client: QoderClient) -> None:
    """An archived deployment still lists its runs."""
    deployment_id, expected = deployment_with_runs(api, 3)
    await client.deployments.archive(deployment_id)
    assert await ids(client.deployments.list_runs(deployment_id)) == expected


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"status": "done"}, ValueError),
        ({"triggered_after": datetime(2026, 6, 1)}, ValueError),
        ({"triggered_before": 0}, TypeError),
        ({"after_id": "drun_a", "page": "p"}, ValueError),
        ({"limit": "10"}, TypeError),
    ],
)
async def test_list_runs_rejects_bad_arguments(
    api: FakeQoderAPI, client: QoderClient, arguments: dict[str, Any], error: type[Exception]
) -> None:
    """Invalid list_runs arguments raise at once, and nothing is sent."""
    deployment_id = api.add_deployment()["id"]
    with pytest.raises(error):
        client.deployments.list_runs(deployment_id, **arguments)
    assert api.requests == []


async def test_get_run_returns_the_run(api: FakeQoderAPI, client: QoderClient) -> None:
    """`get_run` returns one run of a deployment, as stored."""
    deployment_id = api.add_deployment()["id"]
    stored = api.add_run(
        deployment_id,
        status="failed",
        trigger_type="retry",
        error={"type": "vault_not_found_error", "message": "gone"},
    )
    run = await client.deployments.get_run(deployment_id, stored["id"])
    assert (run.id, run.deployment_id, run.status) == (stored["id"], deployment_id, "failed")
    assert run.error is not None
    assert (run.error.type, run.error.message) == ("vault_not_found_error", "gone")
    assert run.trigger_context.type is TriggerType.RETRY
    assert run.session_id is None
    assert run.cas_run_extras is not None
    assert run.cas_run_extras.attempt == 2
    assert [r.path for r in api.requests] == [f"/deployments/{deployment_id}/runs/{stored['id']}"]


async def test_get_run_of_another_deployment_is_not_found(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """A run asked for under a deployment it does not belong to raises NotFoundError."""
    mine, _ = deployment_with_runs(api, 1)
    _, [theirs] = deployment_with_runs(api, 1)
    with pytest.raises(NotFoundError) as caught:
        await client.deployments.get_run(mine, theirs)
    assert caught.value.error_type == "not_found_error"


@pytest.mark.parametrize("missing", ["deployment", "run"])
async def test_get_run_missing_is_not_found(
    api: FakeQoderAPI, client: QoderClient, missing: str
) -> None:
    """A missing deployment or run raises NotFoundError."""
    deployment_id, [run_id] = deployment_with_runs(api, 1)
    if missing == "deployment":
        deployment_id = MISSING_DEP
    else:
        run_id = MISSING_RUN
    with pytest.raises(NotFoundError):
        await client.deployments.get_run(deployment_id, run_id)


async def test_get_run_rejects_bad_ids(api: FakeQoderAPI, client: QoderClient) -> None:
    """Ids with the wrong prefix are refused before any request."""
    with pytest.raises(ValueError, match="run_id"):
        await client.deployments.get_run(MISSING_DEP, "dep_1")
    with pytest.raises(ValueError, match="deployment_id"):
        await client.deployments.get_run("drun_1", MISSING_RUN)
    assert api.requests == []


# -- authentication and retries ------------------------------------------------------------


async def test_wrong_pat_raises_authentication_error(api: FakeQoderAPI) -> None:
    """A PAT the API does not know raises AuthenticationError (401) without a retry."""
    api.add_deployment()
    async with (
        httpx.AsyncClient(transport=api.transport()) as http,
        QoderClient(pat="pt-wrong", base_url=BASE_URL, http_client=http) as client,
    ):
        with pytest.raises(AuthenticationError) as caught:
            await ids(client.deployments.list())
        with pytest.raises(AuthenticationError):
            await client.deployments.create(
                name="x", agent=AGENT, environment_id=ENV, initial_events=[EVENT]
            )
    assert (caught.value.status_code, caught.value.error_type) == (401, "authentication_error")
    assert [r.headers["authorization"] for r in api.requests] == ["Bearer pt-wrong"] * 2
    assert len(api.deployments) == 1


async def test_run_retried_after_503_triggers_one_run(
    api: FakeQoderAPI, client: QoderClient
) -> None:
    """A run POST retried after a transient 503 triggers exactly one run."""
    stored = api.add_deployment()
    api.faults.append(Fault(status=503, retry_after=0, path=r"/deployments/.*/run"))
    run = await client.deployments.run(stored["id"])
    assert list(api.runs) == [run.id]
    keys = {r.headers["idempotency-key"] for r in api.requests}
    assert len(api.requests) == 2
    assert len(keys) == 1


async def test_get_retried_after_503_succeeds(api: FakeQoderAPI, client: QoderClient) -> None:
    """A GET answered with a transient 503 is retried and returns the deployment."""
    stored = api.add_deployment()
    api.faults.append(Fault(status=503, retry_after=0, times=2))
    dep = await client.deployments.get(stored["id"])
    assert dep.id == stored["id"]
    assert len(api.requests) == 3
