"""Argument validation before any I/O, and the exact query strings and bodies on the wire."""

from __future__ import annotations

import contextlib
import inspect
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from qoder_async import (
    AgentRef,
    CasConfig,
    CasSettings,
    CasStats,
    DefineOutcome,
    DeploymentStatus,
    FileRubric,
    ImageBlock,
    Pager,
    QoderClient,
    RunStatus,
    Schedule,
    SystemMessage,
    TextBlock,
    TriggerType,
    URLSource,
    UserMessage,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

PAT = "pt-test"
BASE_URL = "https://api.example.test/api/v1/cloud"
_EXAMPLES: dict[str, dict[str, object]] = json.loads(
    (Path(__file__).parent / "data" / "spec_examples.json").read_text()
)
DEPLOYMENT = _EXAMPLES["deployment_1"]
RUN = _EXAMPLES["deployment_run_1"]
DEP = "dep_019ec556114c78f8b60ee34fcb98bf59"
RUN_ID = "drun_019ec55694c07f2a9b402ffb4448ec18"
AGENT = "agent_019eb4d4a06d747c865d5800b9c57ae2"
ENV = "env_019e64e01a137caf953ac2ac7b42ec5c"
EVENTS = [UserMessage(content="Generate the report")]
SCHEDULE = Schedule(expression="0 9 * * *", timezone="Asia/Shanghai")
AWARE = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
NAIVE = datetime(2026, 1, 2, 3, 4, 5)


class Recorder:
    """A MockTransport handler that records every request and answers with a plausible body."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Record `request`; answer a page for listings, else a run or a deployment."""
        self.requests.append(request)
        path = request.url.path
        if request.method == "GET" and path.endswith(("/deployments", "/runs", "/deployment_runs")):
            return httpx.Response(200, json={"data": [], "has_more": False})
        if "/runs/" in path or path.endswith("/run") or "/deployment_runs/" in path:
            return httpx.Response(200, json=RUN)
        return httpx.Response(200, json=DEPLOYMENT)

    def body(self) -> object:
        """The JSON body of the only request sent."""
        (request,) = self.requests
        return json.loads(request.content)

    def params(self) -> dict[str, str]:
        """The query parameters of the only request sent."""
        (request,) = self.requests
        return dict(request.url.params)


@contextlib.asynccontextmanager
async def recording_client() -> AsyncIterator[tuple[QoderClient, Recorder]]:
    """A client over a recording MockTransport; both are closed on exit."""
    recorder = Recorder()
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as http_client,
        QoderClient(pat=PAT, base_url=BASE_URL, http_client=http_client) as client,
    ):
        yield client, recorder


def bad(value: object) -> Any:
    """Pass a deliberately ill-typed value past the type checker."""
    return value


def create(client: QoderClient, **overrides: Any) -> object:
    """`deployments.create` with valid arguments, some replaced by `overrides`."""
    arguments: dict[str, Any] = {
        "name": "nightly",
        "agent": AGENT,
        "environment_id": ENV,
        "initial_events": EVENTS,
    }
    arguments.update(overrides)
    return client.deployments.create(**arguments)


def update(client: QoderClient, **fields: Any) -> object:
    """`deployments.update` of DEP with `fields`."""
    return client.deployments.update(DEP, **fields)


LIST_METHODS: list[tuple[str, Callable[..., object]]] = [
    ("deployments.list", lambda c, **kw: c.deployments.list(**kw)),
    ("deployments.list_runs", lambda c, **kw: c.deployments.list_runs(DEP, **kw)),
    ("deployment_runs.list", lambda c, **kw: c.deployment_runs.list(**kw)),
]


def _case(
    case_id: str,
    call: Callable[[QoderClient], object],
    exc: type[Exception],
    name: str,
) -> Any:
    return pytest.param(call, exc, name, id=case_id)


def bind(
    fn: Callable[[QoderClient, Any], object], value: object
) -> Callable[[QoderClient], object]:
    """Close `fn` over `value` (a lambda made in a loop would see only the last value)."""
    return lambda c: fn(c, value)


def list_call(
    method: Callable[..., object], kwargs: dict[str, object]
) -> Callable[[QoderClient], object]:
    """Call a list method with `kwargs`."""
    return lambda c: method(c, **kwargs)


def _list_cases() -> list[Any]:
    cases: list[Any] = []
    value: object
    exc: type[Exception]
    values: list[tuple[object, type[Exception]]]
    for label, method in LIST_METHODS:
        for limit, exc in (
            (0, ValueError),
            (1001, ValueError),
            (-1, ValueError),
            (True, TypeError),
            ("10", TypeError),
            (1.5, TypeError),
        ):
            cases.append(
                _case(f"{label}-limit={limit!r}", list_call(method, {"limit": limit}), exc, "limit")
            )
        for first, second in (
            ("after_id", "before_id"),
            ("after_id", "page"),
            ("before_id", "page"),
        ):
            cases.append(
                _case(
                    f"{label}-{first}+{second}",
                    list_call(method, {first: "dep_a", second: "dep_b"}),
                    ValueError,
                    f"{first} and {second}",
                )
            )
        for cursor in ("after_id", "before_id", "page"):
            cases.append(
                _case(
                    f"{label}-{cursor}-empty", list_call(method, {cursor: ""}), ValueError, cursor
                )
            )
            cases.append(
                _case(f"{label}-{cursor}-int", list_call(method, {cursor: 5}), TypeError, cursor)
            )
        for value, exc in ((-1, ValueError), ("1", TypeError), (True, TypeError), (1.0, TypeError)):
            cases.append(
                _case(
                    f"{label}-prefetch={value!r}",
                    list_call(method, {"prefetch": value}),
                    exc,
                    "prefetch",
                )
            )
        for value, exc in ((-1, ValueError), ("5", TypeError), (True, TypeError), (2.5, TypeError)):
            cases.append(
                _case(
                    f"{label}-max_items={value!r}",
                    list_call(method, {"max_items": value}),
                    exc,
                    "max_items",
                )
            )
        for value, exc in (
            ("bogus", ValueError),
            ("ACTIVE", ValueError),
            ("", ValueError),
            (1, TypeError),
        ):
            cases.append(
                _case(
                    f"{label}-status={value!r}", list_call(method, {"status": value}), exc, "status"
                )
            )
    time_filters = {
        "deployments.list": ("created_at_gte", "created_at_lte"),
        "deployments.list_runs": ("triggered_after", "triggered_before"),
        "deployment_runs.list": (
            "created_at_gt",
            "created_at_gte",
            "created_at_lt",
            "created_at_lte",
        ),
    }
    for label, method in LIST_METHODS:
        for field in time_filters[label]:
            values = [
                (NAIVE, ValueError),
                ("2026-01-02T03:04:05Z", TypeError),
                (date(2026, 1, 2), TypeError),
                (1767322800, TypeError),
            ]
            for value, exc in values:
                cases.append(
                    _case(
                        f"{label}-{field}={type(value).__name__}",
                        list_call(method, {field: value}),
                        exc,
                        field,
                    )
                )
    return cases


def _id_cases() -> list[Any]:
    bad_ids = ("x_1", "dep_", "dep_a/b", "dep_a b", "dep_../x", " dep_a", "dep_a\n", "")
    cases: list[Any] = []
    for value in bad_ids:
        dep_calls: list[tuple[str, Callable[[QoderClient], object]]] = [
            ("get", bind(lambda c, v: c.deployments.get(v), value)),
            ("get_run", bind(lambda c, v: c.deployments.get_run(v, RUN_ID), value)),
            ("update", bind(lambda c, v: c.deployments.update(v, name="n"), value)),
            ("pause", bind(lambda c, v: c.deployments.pause(v), value)),
            ("unpause", bind(lambda c, v: c.deployments.unpause(v), value)),
            ("archive", bind(lambda c, v: c.deployments.archive(v), value)),
            ("run", bind(lambda c, v: c.deployments.run(v), value)),
            ("list_runs", bind(lambda c, v: c.deployments.list_runs(v), value)),
            ("runs.list", bind(lambda c, v: c.deployment_runs.list(deployment_id=v), value)),
        ]
        for label, call in dep_calls:
            cases.append(
                _case(f"{label}-deployment_id={value!r}", call, ValueError, "deployment_id")
            )
        run_value = value.replace("dep_", "drun_")
        cases.append(
            _case(
                f"get_run-run_id={run_value!r}",
                bind(lambda c, v: c.deployments.get_run(DEP, v), run_value),
                ValueError,
                "run_id",
            )
        )
        cases.append(
            _case(
                f"runs.get-run_id={run_value!r}",
                bind(lambda c, v: c.deployment_runs.get(v), run_value),
                ValueError,
                "run_id",
            )
        )
        agent_value = value.replace("dep_", "agent_")
        env_value = value.replace("dep_", "env_")
        cases += [
            _case(
                f"list-agent_id={agent_value!r}",
                bind(lambda c, v: c.deployments.list(agent_id=v), agent_value),
                ValueError,
                "agent_id",
            ),
            _case(
                f"create-agent={agent_value!r}",
                bind(lambda c, v: create(c, agent=v), agent_value),
                ValueError,
                "agent",
            ),
            _case(
                f"create-agent_ref={agent_value!r}",
                bind(lambda c, v: create(c, agent=AgentRef(id=v)), agent_value),
                ValueError,
                "agent.id",
            ),
            _case(
                f"update-agent={agent_value!r}",
                bind(lambda c, v: update(c, agent=v), agent_value),
                ValueError,
                "agent",
            ),
            _case(
                f"create-environment_id={env_value!r}",
                bind(lambda c, v: create(c, environment_id=v), env_value),
                ValueError,
                "environment_id",
            ),
            _case(
                f"update-environment_id={env_value!r}",
                bind(lambda c, v: update(c, environment_id=v), env_value),
                ValueError,
                "environment_id",
            ),
        ]
    # A valid id of the wrong kind.
    cases += [
        _case("get-run-id", lambda c: c.deployments.get(RUN_ID), ValueError, "deployment_id"),
        _case("runs.get-dep-id", lambda c: c.deployment_runs.get(DEP), ValueError, "run_id"),
        _case(
            "get_run-swapped",
            lambda c: c.deployments.get_run(RUN_ID, DEP),
            ValueError,
            "deployment_id",
        ),
        _case(
            "list-agent_id-env", lambda c: c.deployments.list(agent_id=ENV), ValueError, "agent_id"
        ),
        _case("create-agent-env", lambda c: create(c, agent=ENV), ValueError, "agent"),
        _case(
            "create-env-agent",
            lambda c: create(c, environment_id=AGENT),
            ValueError,
            "environment_id",
        ),
        _case("get-int", lambda c: c.deployments.get(bad(5)), TypeError, "deployment_id"),
        _case("runs.get-int", lambda c: c.deployment_runs.get(bad(5)), TypeError, "run_id"),
        _case("create-agent-int", lambda c: create(c, agent=5), TypeError, "agent"),
        _case("create-agent-dict", lambda c: create(c, agent={"id": AGENT}), TypeError, "agent"),
        _case(
            "create-agent-version-str",
            lambda c: create(c, agent=AgentRef(id=AGENT, version=bad("1"))),
            TypeError,
            "agent.version",
        ),
        _case(
            "create-agent-version-bool",
            lambda c: create(c, agent=AgentRef(id=AGENT, version=bad(True))),
            TypeError,
            "agent.version",
        ),
    ]
    return cases


def _filter_cases() -> list[Any]:
    runs = "deployment_runs.list"
    return [
        _case(
            "runs-trigger_type-bogus",
            lambda c: c.deployment_runs.list(trigger_type="cron"),
            ValueError,
            "trigger_type",
        ),
        _case(
            "runs-trigger_type-int",
            lambda c: c.deployment_runs.list(trigger_type=bad(1)),
            TypeError,
            "trigger_type",
        ),
        _case(
            "runs-status-deployment-status",
            lambda c: c.deployment_runs.list(status=bad(DeploymentStatus.ACTIVE)),
            ValueError,
            "status",
        ),
        _case(
            "list-status-run-status",
            lambda c: c.deployments.list(status=bad(RunStatus.FAILED)),
            ValueError,
            "status",
        ),
        _case(
            "list-include_archived-str",
            lambda c: c.deployments.list(include_archived=bad("true")),
            TypeError,
            "include_archived",
        ),
        _case(
            "list-include_archived-int",
            lambda c: c.deployments.list(include_archived=bad(1)),
            TypeError,
            "include_archived",
        ),
        _case(
            f"{runs}-has_error-str",
            lambda c: c.deployment_runs.list(has_error=bad("false")),
            TypeError,
            "has_error",
        ),
        _case(
            f"{runs}-has_error-int",
            lambda c: c.deployment_runs.list(has_error=bad(0)),
            TypeError,
            "has_error",
        ),
    ]


def _body_cases() -> list[Any]:
    long_key = "k" * 65
    return [
        # name
        _case("create-name-257", lambda c: create(c, name="n" * 257), ValueError, "name"),
        _case("create-name-empty", lambda c: create(c, name=""), ValueError, "name"),
        _case("create-name-int", lambda c: create(c, name=5), TypeError, "name"),
        _case("update-name-257", lambda c: update(c, name="n" * 257), ValueError, "name"),
        _case("update-name-empty", lambda c: update(c, name=""), ValueError, "name"),
        # initial events
        _case(
            "create-events-0", lambda c: create(c, initial_events=[]), ValueError, "initial_events"
        ),
        _case(
            "create-events-51",
            lambda c: create(c, initial_events=EVENTS * 51),
            ValueError,
            "initial_events",
        ),
        _case(
            "create-events-str",
            lambda c: create(c, initial_events="hi"),
            TypeError,
            "initial_events",
        ),
        _case(
            "create-events-dict-item",
            lambda c: create(c, initial_events=[{"type": "user.message"}]),
            TypeError,
            "initial_events[0]",
        ),
        _case(
            "create-events-str-item",
            lambda c: create(c, initial_events=[EVENTS[0], "hi"]),
            TypeError,
            "initial_events[1]",
        ),
        _case(
            "create-events-outcome-without-rubric",
            lambda c: create(c, initial_events=[DefineOutcome(description="d", rubric=bad(None))]),
            ValueError,
            "initial_events[0].rubric",
        ),
        _case(
            "create-events-block-int-text",
            lambda c: create(c, initial_events=[UserMessage(content=[TextBlock(text=bad(3))])]),
            TypeError,
            "initial_events[0].content[0].text",
        ),
        _case(
            "update-events-0", lambda c: update(c, initial_events=[]), ValueError, "initial_events"
        ),
        _case(
            "update-events-51",
            lambda c: update(c, initial_events=EVENTS * 51),
            ValueError,
            "initial_events",
        ),
        # vault ids
        _case(
            "create-vault_ids-51",
            lambda c: create(c, vault_ids=[f"vlt_{i}" for i in range(51)]),
            ValueError,
            "vault_ids",
        ),
        _case(
            "create-vault_ids-str", lambda c: create(c, vault_ids="vlt_1"), TypeError, "vault_ids"
        ),
        _case(
            "create-vault_ids-empty-item",
            lambda c: create(c, vault_ids=[""]),
            ValueError,
            "vault_ids[0]",
        ),
        _case(
            "create-vault_ids-int-item",
            lambda c: create(c, vault_ids=[1]),
            TypeError,
            "vault_ids[0]",
        ),
        _case(
            "update-vault_ids-51",
            lambda c: update(c, vault_ids=[f"vlt_{i}" for i in range(51)]),
            ValueError,
            "vault_ids",
        ),
        # metadata
        _case(
            "create-metadata-17-keys",
            lambda c: create(c, metadata={f"k{i}": "v" for i in range(17)}),
            ValueError,
            "metadata",
        ),
        _case(
            "create-metadata-long-key",
            lambda c: create(c, metadata={long_key: "v"}),
            ValueError,
            "metadata",
        ),
        _case(
            "create-metadata-empty-key",
            lambda c: create(c, metadata={"": "v"}),
            ValueError,
            "metadata",
        ),
        _case(
            "create-metadata-long-value",
            lambda c: create(c, metadata={"k": "v" * 513}),
            ValueError,
            "metadata",
        ),
        _case(
            "create-metadata-int-value",
            lambda c: create(c, metadata={"k": 1}),
            TypeError,
            "metadata",
        ),
        _case(
            "create-metadata-none-value",
            lambda c: create(c, metadata={"k": None}),
            TypeError,
            "metadata",
        ),
        _case(
            "create-metadata-int-key", lambda c: create(c, metadata={1: "v"}), TypeError, "metadata"
        ),
        _case(
            "create-metadata-cas_config",
            lambda c: create(c, metadata={"cas_config": "x"}),
            ValueError,
            "cas_config",
        ),
        _case(
            "create-metadata-list",
            lambda c: create(c, metadata=[("k", "v")]),
            TypeError,
            "metadata",
        ),
        _case(
            "update-metadata-17-keys",
            lambda c: update(c, metadata={f"k{i}": "v" for i in range(17)}),
            ValueError,
            "metadata",
        ),
        _case(
            "update-metadata-long-key",
            lambda c: update(c, metadata={long_key: None}),
            ValueError,
            "metadata",
        ),
        _case(
            "update-metadata-long-value",
            lambda c: update(c, metadata={"k": "v" * 513}),
            ValueError,
            "metadata",
        ),
        _case(
            "update-metadata-int-value",
            lambda c: update(c, metadata={"k": 1}),
            TypeError,
            "metadata",
        ),
        _case(
            "update-metadata-cas_config",
            lambda c: update(c, metadata={"cas_config": None}),
            ValueError,
            "cas_config",
        ),
        # cas_config
        _case(
            "create-cas_config-stats",
            lambda c: create(c, cas_config=CasConfig(stats=CasStats(total_runs=1))),
            ValueError,
            "cas_config.stats",
        ),
        _case(
            "update-cas_config-stats",
            lambda c: update(c, cas_config=CasConfig(stats=CasStats())),
            ValueError,
            "cas_config.stats",
        ),
        _case(
            "create-cas_config-dict",
            lambda c: create(c, cas_config={"config": {}}),
            TypeError,
            "cas_config",
        ),
        _case(
            "create-cas_config-zero-concurrency",
            lambda c: create(c, cas_config=CasConfig(config=CasSettings(max_concurrent=0))),
            ValueError,
            "cas_config.config.max_concurrent",
        ),
        _case(
            "create-cas_config-negative-retries",
            lambda c: create(c, cas_config=CasConfig(config=CasSettings(max_retries=-1))),
            ValueError,
            "cas_config.config.max_retries",
        ),
        _case(
            "create-cas_config-str-timeout",
            lambda c: create(c, cas_config=CasConfig(config=CasSettings(timeout_ms=bad("5")))),
            TypeError,
            "cas_config.config.timeout_ms",
        ),
        _case(
            "create-cas_config-empty-strategy",
            lambda c: create(c, cas_config=CasConfig(session_strategy="")),
            ValueError,
            "cas_config.session_strategy",
        ),
        # schedule
        _case(
            "create-schedule-type",
            lambda c: create(
                c, schedule=Schedule(type="rate", expression="0 9 * * *", timezone="UTC")
            ),
            ValueError,
            "schedule.type",
        ),
        _case(
            "create-schedule-4-fields",
            lambda c: create(c, schedule=Schedule(expression="0 9 * *", timezone="UTC")),
            ValueError,
            "schedule.expression",
        ),
        _case(
            "create-schedule-6-fields",
            lambda c: create(c, schedule=Schedule(expression="0 0 9 * * *", timezone="UTC")),
            ValueError,
            "schedule.expression",
        ),
        _case(
            "create-schedule-empty",
            lambda c: create(c, schedule=Schedule(expression="", timezone="UTC")),
            ValueError,
            "schedule.expression",
        ),
        _case(
            "create-schedule-no-timezone",
            lambda c: create(c, schedule=Schedule(expression="0 9 * * *", timezone="")),
            ValueError,
            "schedule.timezone",
        ),
        _case(
            "create-schedule-str", lambda c: create(c, schedule="0 9 * * *"), TypeError, "schedule"
        ),
        _case(
            "update-schedule-4-fields",
            lambda c: update(c, schedule=Schedule(expression="@daily", timezone="UTC")),
            ValueError,
            "schedule.expression",
        ),
        # other fields
        _case(
            "create-description-int", lambda c: create(c, description=5), TypeError, "description"
        ),
        _case(
            "create-resources-dict",
            lambda c: create(c, resources={"type": "file"}),
            TypeError,
            "resources",
        ),
        _case(
            "create-resources-no-type",
            lambda c: create(c, resources=[{"id": "x"}]),
            TypeError,
            "resources",
        ),
        _case("create-budget-list", lambda c: create(c, budget=[1]), TypeError, "budget"),
        _case(
            "create-env-vars-empty",
            lambda c: create(c, environment_variables=""),
            ValueError,
            "environment_variables",
        ),
        # update with nothing to change
        _case(
            "update-no-field", lambda c: c.deployments.update(DEP), ValueError, "at least one field"
        ),
        # idempotency keys
        _case(
            "pause-key-empty",
            lambda c: c.deployments.pause(DEP, idempotency_key=""),
            ValueError,
            "idempotency_key",
        ),
        _case(
            "unpause-key-empty",
            lambda c: c.deployments.unpause(DEP, idempotency_key=""),
            ValueError,
            "idempotency_key",
        ),
        _case(
            "archive-key-empty",
            lambda c: c.deployments.archive(DEP, idempotency_key=""),
            ValueError,
            "idempotency_key",
        ),
        _case(
            "run-key-empty",
            lambda c: c.deployments.run(DEP, idempotency_key=""),
            ValueError,
            "idempotency_key",
        ),
        _case(
            "create-key-empty",
            lambda c: create(c, idempotency_key=""),
            ValueError,
            "idempotency_key",
        ),
        _case(
            "update-key-empty",
            lambda c: update(c, name="n", idempotency_key=""),
            ValueError,
            "idempotency_key",
        ),
        _case(
            "pause-key-int",
            lambda c: c.deployments.pause(DEP, idempotency_key=bad(1)),
            TypeError,
            "idempotency_key",
        ),
    ]


async def invoke(call: Callable[[QoderClient], object], client: QoderClient) -> None:
    """Make the call, awaiting it if it is a coroutine; a Pager must never come back."""
    result = call(client)
    # A list method returns its Pager at once, so its validation must raise before that:
    # the Pager is not awaited or iterated here.
    assert not isinstance(result, Pager), "invalid argument accepted by a list method"
    if inspect.iscoroutine(result):
        await result


@pytest.mark.parametrize(
    ("call", "exc", "name"), [*_list_cases(), *_id_cases(), *_filter_cases(), *_body_cases()]
)
@pytest.mark.anyio
async def test_invalid_argument_is_rejected_before_any_request(
    call: Callable[[QoderClient], object], exc: type[Exception], name: str
) -> None:
    """An invalid argument raises TypeError/ValueError naming it, and nothing is sent."""
    async with recording_client() as (client, recorder):
        with pytest.raises(exc) as info:
            await invoke(call, client)
        assert name in str(info.value)
        assert recorder.requests == []


# --- valid arguments, and what goes on the wire ------------------------------------------------


@pytest.mark.parametrize("limit", [1, 20, "max"])
@pytest.mark.parametrize(
    ("label", "method"), LIST_METHODS, ids=[label for label, _ in LIST_METHODS]
)
@pytest.mark.anyio
async def test_limit_bounds_are_accepted(
    label: str, method: Callable[..., Pager[Any]], limit: int | str
) -> None:
    """`limit` 1 up to the list's maximum (100 for deployments, spec 7.5; else 1000) is sent."""
    if limit == "max":
        limit = 100 if label == "deployments.list" else 1000
    async with recording_client() as (client, recorder):
        await method(client, limit=limit)
    assert recorder.params()["limit"] == str(limit)


@pytest.mark.anyio
async def test_deployments_list_query() -> None:
    """Every filter of deployments.list reaches the wire in its documented form."""
    plus_eight = timezone(timedelta(hours=8))
    async with recording_client() as (client, recorder):
        await client.deployments.list(
            include_archived=True,
            agent_id=AGENT,
            created_at_gte=datetime(2026, 1, 2, 3, 4, 5, tzinfo=plus_eight),
            created_at_lte=datetime(2026, 2, 1, 0, 0, 0, 123456, tzinfo=timezone.utc),
            limit=50,
            after_id="dep_0001",
        )
    (request,) = recorder.requests
    assert request.method == "GET"
    assert request.url.path == "/api/v1/cloud/deployments"
    assert recorder.params() == {
        "include_archived": "true",
        "agent_id": AGENT,
        "created_at[gte]": "2026-01-01T19:04:05.000000Z",
        "created_at[lte]": "2026-02-01T00:00:00.123456Z",
        "limit": "50",
        "after_id": "dep_0001",
    }
    # The brackets are percent-encoded on the wire, which servers decode back.
    assert b"created_at%5Bgte%5D=2026-01-01T19%3A04%3A05.000000Z" in request.url.query
    # status cannot go with include_archived (spec 7.5), so it is checked on its own.
    async with recording_client() as (client, recorder):
        await client.deployments.list(status=DeploymentStatus.PAUSED, include_archived=False)
    assert recorder.params() == {"status": "paused"}


@pytest.mark.anyio
async def test_list_without_arguments_sends_no_query() -> None:
    """A bare listing sends no parameters at all: None means "not sent"."""
    async with recording_client() as (client, recorder):
        await client.deployments.list()
    assert recorder.params() == {}


@pytest.mark.parametrize(("value", "wire"), [(True, "true"), (False, "false")])
@pytest.mark.anyio
async def test_booleans_are_sent_as_true_false(value: bool, wire: str) -> None:
    """`include_archived` and `has_error` are sent as lowercase true/false."""
    async with recording_client() as (client, recorder):
        await client.deployments.list(include_archived=value)
        await client.deployment_runs.list(has_error=value)
    assert [dict(request.url.params) for request in recorder.requests] == [
        {"include_archived": wire},
        {"has_error": wire},
    ]


@pytest.mark.anyio
async def test_list_runs_query() -> None:
    """deployments.list_runs sends its status, time filters and cursor."""
    async with recording_client() as (client, recorder):
        await client.deployments.list_runs(
            DEP,
            status="failed",
            triggered_after=AWARE,
            triggered_before=datetime(2026, 1, 2, 5, 0, tzinfo=timezone(timedelta(hours=-2))),
            limit=1000,
            before_id="drun_0009",
        )
    (request,) = recorder.requests
    assert request.url.path == f"/api/v1/cloud/deployments/{DEP}/runs"
    assert recorder.params() == {
        "status": "failed",
        "triggered_after": "2026-01-02T03:04:05.000000Z",
        "triggered_before": "2026-01-02T07:00:00.000000Z",
        "limit": "1000",
        "before_id": "drun_0009",
    }


@pytest.mark.anyio
async def test_deployment_runs_list_query() -> None:
    """deployment_runs.list sends every filter, the four created_at bounds included."""
    async with recording_client() as (client, recorder):
        await client.deployment_runs.list(
            deployment_id=DEP,
            status=RunStatus.RUNNING,
            trigger_type="retry",
            has_error=False,
            created_at_gt=AWARE,
            created_at_gte=AWARE + timedelta(seconds=1),
            created_at_lt=AWARE + timedelta(days=1),
            created_at_lte=AWARE + timedelta(days=2),
            limit=1,
            page="opaque-cursor",
        )
    (request,) = recorder.requests
    assert request.url.path == "/api/v1/cloud/deployment_runs"
    assert recorder.params() == {
        "deployment_id": DEP,
        "status": "running",
        "trigger_type": "retry",
        "has_error": "false",
        "created_at[gt]": "2026-01-02T03:04:05.000000Z",
        "created_at[gte]": "2026-01-02T03:04:06.000000Z",
        "created_at[lt]": "2026-01-03T03:04:05.000000Z",
        "created_at[lte]": "2026-01-04T03:04:05.000000Z",
        "limit": "1",
        "page": "opaque-cursor",
    }


@pytest.mark.parametrize(
    "status", [*DeploymentStatus, *(member.value for member in DeploymentStatus)]
)
@pytest.mark.anyio
async def test_deployment_status_members_and_strings_are_accepted(
    status: DeploymentStatus | str,
) -> None:
    """A DeploymentStatus member or its string value is sent as the value."""
    async with recording_client() as (client, recorder):
        await client.deployments.list(status=status)
    assert recorder.params() == {"status": DeploymentStatus(status).value}


@pytest.mark.parametrize("status", [*RunStatus, *(member.value for member in RunStatus)])
@pytest.mark.anyio
async def test_run_status_members_and_strings_are_accepted(status: RunStatus | str) -> None:
    """A RunStatus member or its string value is accepted by both run listings."""
    async with recording_client() as (client, recorder):
        await client.deployments.list_runs(DEP, status=status)
        await client.deployment_runs.list(status=status)
    assert [dict(request.url.params) for request in recorder.requests] == [
        {"status": RunStatus(status).value}
    ] * 2


@pytest.mark.parametrize("trigger_type", [*TriggerType, *(member.value for member in TriggerType)])
@pytest.mark.anyio
async def test_trigger_type_members_and_strings_are_accepted(
    trigger_type: TriggerType | str,
) -> None:
    """A TriggerType member or its string value is sent as the value."""
    async with recording_client() as (client, recorder):
        await client.deployment_runs.list(trigger_type=trigger_type)
    assert recorder.params() == {"trigger_type": TriggerType(trigger_type).value}


@pytest.mark.parametrize(("prefetch", "max_items"), [(0, 0), (0, None), (3, 1), (1, 1000)])
@pytest.mark.anyio
async def test_prefetch_and_max_items_bounds_are_accepted(
    prefetch: int, max_items: int | None
) -> None:
    """`prefetch` 0 and `max_items` 0 are valid: no prefetching, and an empty listing."""
    async with recording_client() as (client, recorder):
        items = [
            item async for item in client.deployments.list(prefetch=prefetch, max_items=max_items)
        ]
    assert items == []
    assert len(recorder.requests) == (0 if max_items == 0 else 1)


@pytest.mark.anyio
async def test_create_body_with_agent_id() -> None:
    """Create sends exactly the given fields; an agent id string is sent as a string."""
    async with recording_client() as (client, recorder):
        await client.deployments.create(
            name="nightly", agent=AGENT, environment_id=ENV, initial_events=EVENTS
        )
    (request,) = recorder.requests
    assert request.method == "POST"
    assert request.url.path == "/api/v1/cloud/deployments"
    assert recorder.body() == {
        "name": "nightly",
        "agent": AGENT,
        "environment_id": ENV,
        "initial_events": [
            {"type": "user.message", "content": [{"type": "text", "text": "Generate the report"}]}
        ],
    }


@pytest.mark.anyio
async def test_create_body_with_every_field() -> None:
    """Create sends an AgentRef with its version, the schedule, metadata with cas_config nested."""
    async with recording_client() as (client, recorder):
        await client.deployments.create(
            name="nightly",
            agent=AgentRef(id=AGENT, version=3),
            environment_id=ENV,
            initial_events=[
                UserMessage(
                    content=(
                        TextBlock(text="hi"),
                        ImageBlock(source=URLSource(url="https://example.com/a.png")),
                    )
                ),
                SystemMessage(content="be brief"),
                DefineOutcome(description="done", rubric=FileRubric(file_id="file_1")),
            ],
            description="Runs every morning",
            schedule=SCHEDULE,
            resources=[{"type": "github_repository", "url": "https://github.com/o/r"}],
            vault_ids=["vlt_1", "vlt_2"],
            metadata={"team": "infra"},
            cas_config=CasConfig(
                config=CasSettings(max_concurrent=2, max_retries=0, timeout_ms=300000),
                session_strategy="new_session",
            ),
            environment_variables="FOO=1",
            budget={"max_usd": 5},
        )
    assert recorder.body() == {
        "name": "nightly",
        "agent": {"id": AGENT, "type": "agent", "version": 3},
        "environment_id": ENV,
        "initial_events": [
            {
                "type": "user.message",
                "content": [
                    {"type": "text", "text": "hi"},
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.com/a.png"},
                    },
                ],
            },
            {"type": "system.message", "content": [{"type": "text", "text": "be brief"}]},
            {
                "type": "user.define_outcome",
                "description": "done",
                "rubric": {"type": "file", "file_id": "file_1"},
            },
        ],
        "description": "Runs every morning",
        "schedule": {"type": "cron", "expression": "0 9 * * *", "timezone": "Asia/Shanghai"},
        "resources": [{"type": "github_repository", "url": "https://github.com/o/r"}],
        "vault_ids": ["vlt_1", "vlt_2"],
        "metadata": {
            "team": "infra",
            "cas_config": {
                "session_strategy": "new_session",
                "config": {"max_concurrent": 2, "max_retries": 0, "timeout_ms": 300000},
            },
        },
        "environment_variables": "FOO=1",
        "budget": {"max_usd": 5},
    }


@pytest.mark.anyio
async def test_create_accepts_every_limit_at_its_bound() -> None:
    """A 256-char name, 50 events, 50 vault ids and 16 maximal metadata entries are accepted."""
    metadata = {f"{i:02d}".ljust(64, "k"): "v" * 512 for i in range(16)}
    async with recording_client() as (client, recorder):
        await client.deployments.create(
            name="n" * 256,
            agent=AGENT,
            environment_id=ENV,
            initial_events=EVENTS * 50,
            vault_ids=[f"vlt_{i}" for i in range(50)],
            metadata=metadata,
        )
    body = recorder.body()
    assert isinstance(body, dict)
    assert body["name"] == "n" * 256
    assert len(body["initial_events"]) == 50
    assert len(body["vault_ids"]) == 50
    assert body["metadata"] == metadata


@pytest.mark.anyio
async def test_update_metadata_is_a_merge_patch() -> None:
    """Update sends only the given fields; a metadata key mapped to None is sent as null."""
    async with recording_client() as (client, recorder):
        await client.deployments.update(DEP, metadata={"team": None, "owner": "ops"})
    (request,) = recorder.requests
    assert request.method == "POST"
    assert request.url.path == f"/api/v1/cloud/deployments/{DEP}"
    assert recorder.body() == {"metadata": {"team": None, "owner": "ops"}}


@pytest.mark.anyio
async def test_update_cas_config_is_nested_in_metadata() -> None:
    """update(cas_config=...) sends it as metadata.cas_config, with only the given settings."""
    async with recording_client() as (client, recorder):
        await client.deployments.update(
            DEP, cas_config=CasConfig(config=CasSettings(max_concurrent=4))
        )
    assert recorder.body() == {"metadata": {"cas_config": {"config": {"max_concurrent": 4}}}}


@pytest.mark.anyio
async def test_update_body_with_several_fields() -> None:
    """Update sends an unpinned AgentRef without a version, and the other given fields."""
    async with recording_client() as (client, recorder):
        await client.deployments.update(
            DEP,
            name="renamed",
            description="",
            agent=AgentRef(id=AGENT),
            environment_id=ENV,
            schedule=Schedule(expression="*/5 * * * *", timezone="UTC"),
            initial_events=EVENTS,
            vault_ids=[],
        )
    assert recorder.body() == {
        "name": "renamed",
        "agent": {"id": AGENT, "type": "agent"},
        "environment_id": ENV,
        "initial_events": [
            {"type": "user.message", "content": [{"type": "text", "text": "Generate the report"}]}
        ],
        "description": "",
        "schedule": {"type": "cron", "expression": "*/5 * * * *", "timezone": "UTC"},
        "vault_ids": [],
    }


@pytest.mark.anyio
async def test_transitions_and_run_hit_their_routes() -> None:
    """pause, unpause, archive and run POST to their routes, and gets use their paths."""
    async with recording_client() as (client, recorder):
        await client.deployments.pause(DEP)
        await client.deployments.unpause(DEP)
        await client.deployments.archive(DEP)
        await client.deployments.run(DEP)
        await client.deployments.get_run(DEP, RUN_ID)
        await client.deployment_runs.get(RUN_ID)
    assert [(request.method, request.url.path) for request in recorder.requests] == [
        ("POST", f"/api/v1/cloud/deployments/{DEP}/pause"),
        ("POST", f"/api/v1/cloud/deployments/{DEP}/unpause"),
        ("POST", f"/api/v1/cloud/deployments/{DEP}/archive"),
        ("POST", f"/api/v1/cloud/deployments/{DEP}/run"),
        ("GET", f"/api/v1/cloud/deployments/{DEP}/runs/{RUN_ID}"),
        ("GET", f"/api/v1/cloud/deployment_runs/{RUN_ID}"),
    ]


@pytest.mark.anyio
async def test_metadata_accepts_any_mapping() -> None:
    """A read-only Mapping, which the signature allows, is accepted as metadata."""
    async with recording_client() as (client, recorder):
        await client.deployments.create(
            name="nightly",
            agent=AGENT,
            environment_id=ENV,
            initial_events=EVENTS,
            metadata=MappingProxyType({"team": "infra"}),
        )
    body = recorder.body()
    assert isinstance(body, dict)
    assert body["metadata"] == {"team": "infra"}
