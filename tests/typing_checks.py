"""What a type checker sees of the public API: `assert_type` over it, and calls it must refuse.

mypy checks this module with the rest of tests/ (`uv run mypy`, strict). `accepted` states
the type of every public call and is also run against the fake (tests/test_typing.py), so
the types cannot drift from what the calls return. `rejected` is never run: each of its
calls is a mistake mypy must catch, silenced by a `# type: ignore[code]`; under
`warn_unused_ignores` (part of --strict) an ignore that silences nothing is an error, so the
day mypy accepts one of these calls, CI fails.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from typing_extensions import assert_type

from qoder_async import (
    NOT_GIVEN,
    APIResponse,
    Deployment,
    DeploymentRun,
    DeploymentRuns,
    DeploymentRunsWithRawResponse,
    Deployments,
    DeploymentStatus,
    DeploymentsWithRawResponse,
    FanOut,
    Page,
    Pager,
    QoderClient,
    QoderClientWithRawResponse,
    RunStatus,
    TriggerType,
    UserMessage,
    from_dict,
    to_dict,
    to_json,
)

AGENT = "agent_019ebb21ef8e7df6a559052c94875160"
ENV = "env_019e49a1780171daac1e6b01f290ac2b"


async def accepted(client: QoderClient, deployment_id: str, run_id: str) -> None:
    """Every public call, with the type mypy must infer for it."""
    deployments = assert_type(client.deployments, Deployments)
    runs = assert_type(client.deployment_runs, DeploymentRuns)
    assert_type(client.with_options(timeout=httpx.Timeout(5), max_retries=1), QoderClient)
    assert_type(client.with_options(deadline=None), QoderClient)

    # Listings: Literal filters, enum members too, and per-request options.
    pager = assert_type(deployments.list(status="active", limit=2), Pager[Deployment])
    assert_type(await pager, Page[Deployment])
    async for deployment in deployments.list(status=DeploymentStatus.ACTIVE, max_items=2):
        assert_type(deployment, Deployment)
    async for page in deployments.list_runs(deployment_id, status="failed").pages():
        assert_type(page, Page[DeploymentRun])
    listed = runs.list(
        status=RunStatus.COMPLETED,
        trigger_type="manual",
        extra_query={"status": "completed"},
        extra_headers={"X-Trace-Id": "t"},
        timeout=5,
        deadline=30,
    )
    async with listed:
        async for run in listed:
            assert_type(run, DeploymentRun)
    assert_type(runs.list(trigger_type=TriggerType.SCHEDULE), Pager[DeploymentRun])

    # Single calls.
    dep = assert_type(await deployments.get(deployment_id, timeout=httpx.Timeout(5)), Deployment)
    created = await deployments.create(
        name="typed",
        agent=AGENT,
        environment_id=ENV,
        initial_events=[UserMessage(content="x")],
        extra_body={"description": "set through extra_body"},
    )
    assert_type(created, Deployment)
    # Update: left out is not sent, None clears (where allowed), NOT_GIVEN is left out.
    assert_type(await deployments.update(created.id, schedule=None, description=None), Deployment)
    assert_type(await deployments.update(created.id, name="n", budget=NOT_GIVEN), Deployment)
    assert_type(await deployments.pause(created.id), Deployment)
    assert_type(await deployments.unpause(created.id), Deployment)
    triggered = assert_type(await deployments.run(created.id, request_timeout=5), DeploymentRun)
    assert_type(await deployments.get_run(created.id, triggered.id), DeploymentRun)
    assert_type(await runs.get(run_id, extra_headers={"X-Trace-Id": "t"}), DeploymentRun)
    assert_type(await runs.wait(run_id, timeout=5, request_timeout=2), DeploymentRun)
    assert_type(await deployments.archive(created.id), Deployment)

    # The fan-out.
    fan = deployments.list_runs_across(
        [deployment_id], order="newest_first", on_error="skip", status="completed"
    )
    assert_type(fan, FanOut)
    async with fan:
        async for run in fan:
            assert_type(run, DeploymentRun)
    assert_type(fan.resume_state(), dict[str, object])
    assert_type(fan.failed, dict[str, Exception])

    # Raw responses.
    raw = assert_type(client.with_raw_response, QoderClientWithRawResponse)
    assert_type(raw.deployments, DeploymentsWithRawResponse)
    assert_type(raw.deployment_runs, DeploymentRunsWithRawResponse)
    response = await raw.deployments.get(deployment_id, extra_query={"x": "1"})
    assert_type(response, APIResponse[Deployment])
    assert_type(response.parse(), Deployment)
    assert_type(response.status_code, int)
    assert_type(response.headers, httpx.Headers)
    assert_type(response.request_id, str | None)
    assert_type(response.elapsed, timedelta)
    assert_type(response.retries_taken, int)
    assert_type(response.http_response, httpx.Response)
    first = assert_type(await raw.deployments.list(limit=1), APIResponse[Page[Deployment]])
    assert_type(first.parse().data, tuple[Deployment, ...])
    assert_type(await raw.deployments.list_runs(deployment_id), APIResponse[Page[DeploymentRun]])
    assert_type(await raw.deployments.get_run(deployment_id, run_id), APIResponse[DeploymentRun])
    assert_type(await raw.deployment_runs.list(), APIResponse[Page[DeploymentRun]])
    assert_type(await raw.deployment_runs.get(run_id), APIResponse[DeploymentRun])
    assert_type(await raw.deployment_runs.wait(run_id), APIResponse[DeploymentRun])
    assert_type(await raw.deployments.run(deployment_id), APIResponse[DeploymentRun])

    # Serialisation.
    data = assert_type(to_dict(dep), dict[str, Any])
    assert_type(to_json(dep), str)
    assert_type(from_dict(Deployment, data), Deployment)
    assert_type(from_dict(Page[Deployment], {"data": [data]}), Page[Deployment])
    assert_type(datetime.now(timezone.utc) - dep.created_at, timedelta)


async def rejected(client: QoderClient, deployment_id: str, text: str) -> None:
    """Calls mypy must refuse (never run): each ignore would be unused if it accepted one."""
    client.deployments.list(status="failure")  # type: ignore[arg-type]
    client.deployment_runs.list(status="cancelled")  # type: ignore[arg-type]
    client.deployment_runs.list(status=text)  # type: ignore[arg-type]
    client.deployment_runs.list(trigger_type="cron")  # type: ignore[arg-type]
    client.deployments.list_runs(deployment_id, status=DeploymentStatus.ACTIVE)  # type: ignore[arg-type]
    client.deployments.list_runs_across([], order="oldest_first")  # type: ignore[arg-type]
    client.deployments.list_runs_across([], on_error="ignore")  # type: ignore[arg-type]
    await client.deployments.update(deployment_id, name=None)  # type: ignore[arg-type]
    await client.deployments.update(deployment_id, metadata=None)  # type: ignore[arg-type]
    await client.deployments.get(deployment_id, extra_headers={"X-Count": 1})  # type: ignore[dict-item]
    await client.deployments.get(deployment_id, extra_body={"x": 1})  # type: ignore[call-arg]
    await client.deployments.get(deployment_id, timeout="5")  # type: ignore[arg-type]
    await client.deployments.run(deployment_id, timeout=httpx.Timeout(5))  # type: ignore[arg-type]
    await client.deployment_runs.wait("drun_x", request_timeout="5")  # type: ignore[arg-type]
    client.with_options(timeout="5")  # type: ignore[arg-type]
    client.with_raw_response.deployments.list_runs_across([])  # type: ignore[attr-defined]
    await client.with_raw_response.deployments.get(deployment_id, bogus=1)  # type: ignore[call-arg]
    deployment: Deployment = await client.with_raw_response.deployments.get(deployment_id)  # type: ignore[assignment]
    del deployment
