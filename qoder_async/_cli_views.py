"""What the CLI shows of a deployment or a run: table columns and the fields of a detail view.

A column has a priority (0 is never dropped; higher numbers go first when the terminal is
too narrow) and is either fixed (ids, times: never cut, so they stay copyable) or flexible
(names, errors: cut with an ellipsis down to `min_width` before any column is dropped).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timezone
from typing import TYPE_CHECKING, Generic, TypeVar

import attrs

if TYPE_CHECKING:
    from datetime import datetime

    from qoder_async._models import Deployment, DeploymentRun

__all__ = ["DEPLOYMENT_VIEW", "RUN_VIEW", "Column", "View", "fmt_duration", "fmt_time"]

T = TypeVar("T")


def fmt_time(value: datetime | None, *, human: bool) -> str:
    """A timestamp in UTC: `2026-06-01 09:00` on a terminal, RFC 3339 otherwise."""
    if value is None:
        return "-"
    utc = value.astimezone(timezone.utc)
    if human:
        return f"{utc:%Y-%m-%d %H:%M}"
    return utc.replace(tzinfo=None).isoformat() + "Z"


def fmt_duration(milliseconds: int | None) -> str:
    """A run's duration: `850ms`, `12.3s`, `4m05s` or `2h03m`."""
    if milliseconds is None:
        return "-"
    if milliseconds < 1000:
        return f"{milliseconds}ms"
    seconds = milliseconds / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


@attrs.frozen(kw_only=True)
class Column(Generic[T]):
    """One table column: its header, how to read a cell, and how it may be squeezed."""

    header: str
    cell: Callable[[T, bool], str]
    priority: int = 0
    flexible: bool = False
    # Below min_width, dropping a less important column is preferred to cutting more.
    min_width: int = 0
    # The width when rows are printed one by one as they come (runs watch): no sample.
    stream_width: int = 40


@attrs.frozen(kw_only=True)
class View(Generic[T]):
    """How one kind of object is shown: as a table row, and field by field."""

    columns: tuple[Column[T], ...]
    details: Callable[[T], list[tuple[str, str]]]


def _deployment_state(deployment: Deployment) -> str:
    return "archived" if deployment.is_archived else str(deployment.status)


def _schedule(deployment: Deployment) -> str:
    schedule = deployment.schedule
    return f"{schedule.expression} {schedule.timezone}" if schedule else "manual"


def _next_run(deployment: Deployment, human: bool) -> str:
    schedule = deployment.schedule
    # A paused deployment still lists upcoming times it will not fire at (spec 3.5).
    if schedule is None or not schedule.upcoming_runs_at or deployment.status != "active":
        return "-"
    return fmt_time(schedule.upcoming_runs_at[0], human=human)


def _agent(deployment: Deployment | DeploymentRun) -> str:
    agent = deployment.agent
    return agent.id if agent.version is None else f"{agent.id} v{agent.version}"


def _events(deployment: Deployment) -> list[str]:
    lines = []
    for event in deployment.initial_events:
        kind = str(getattr(event, "type", "?"))
        content = getattr(event, "content", None)
        if isinstance(content, str):
            text = content
        else:
            texts = [getattr(block, "text", None) for block in content or ()]
            text = " ".join(t for t in texts if isinstance(t, str))
        lines.append(f"{kind}: {text}" if text else kind)
    return lines


def _deployment_details(deployment: Deployment) -> list[tuple[str, str]]:
    schedule = deployment.schedule
    cas = deployment.cas_config
    rows = [
        ("id", deployment.id),
        ("name", deployment.name),
        ("status", _deployment_state(deployment)),
        ("description", deployment.description or ""),
        ("agent", _agent(deployment)),
        ("environment", deployment.environment_id),
        ("schedule", _schedule(deployment)),
    ]
    if schedule is not None:
        upcoming = ", ".join(fmt_time(t, human=True) for t in schedule.upcoming_runs_at[:3])
        rows += [
            ("upcoming runs", upcoming),
            ("last run", fmt_time(schedule.last_run_at, human=True)),
        ]
    rows += [("initial event", line) for line in _events(deployment)]
    rows += [("resource", str(resource)) for resource in deployment.resources]
    rows.append(("vault ids", ", ".join(deployment.vault_ids)))
    rows.append(("metadata", ", ".join(f"{k}={v}" for k, v in deployment.metadata.items())))
    if cas is not None and cas.config is not None:
        settings = attrs.asdict(cas.config)
        config = " ".join(f"{k}={v}" for k, v in settings.items() if v is not None)
        rows.append(("run config", config))
    if cas is not None and cas.session_strategy:
        rows.append(("session strategy", cas.session_strategy))
    if cas is not None and cas.stats is not None:
        stats = cas.stats
        rows.append(
            (
                "stats",
                f"{stats.total_runs or 0} runs, {stats.total_failures or 0} failed, "
                f"{stats.consecutive_failures or 0} failed in a row",
            )
        )
    if deployment.paused_reason is not None:
        reason = deployment.paused_reason
        error = f" ({reason.error.type}: {reason.error.message})" if reason.error else ""
        rows.append(("paused because", reason.type + error))
    rows += [
        ("environment vars", deployment.environment_variables or ""),
        ("budget", str(deployment.budget) if deployment.budget else ""),
        ("created", fmt_time(deployment.created_at, human=True)),
        ("updated", fmt_time(deployment.updated_at, human=True)),
        ("archived", fmt_time(deployment.archived_at, human=True)),
    ]
    return [(label, value) for label, value in rows if value not in ("", "-")]


DEPLOYMENT_VIEW: View[Deployment] = View(
    columns=(
        Column(header="ID", cell=lambda d, _: d.id),
        Column(
            header="NAME",
            cell=lambda d, _: d.name,
            priority=1,
            flexible=True,
            min_width=20,
            stream_width=40,
        ),
        Column(header="STATUS", cell=lambda d, _: _deployment_state(d), priority=1),
        Column(
            header="SCHEDULE",
            cell=lambda d, _: _schedule(d),
            priority=3,
            flexible=True,
            min_width=14,
            stream_width=28,
        ),
        Column(header="NEXT RUN (UTC)", cell=_next_run, priority=4),
        Column(
            header="CREATED (UTC)", cell=lambda d, h: fmt_time(d.created_at, human=h), priority=5
        ),
        Column(header="AGENT", cell=lambda d, _: _agent(d), priority=6),
    ),
    details=_deployment_details,
)


def _run_status(run: DeploymentRun) -> str:
    # Spec 7.1: a run in the minimal shape has no status; it is final as returned.
    return "-" if run.status is None else str(run.status)


def _run_error(run: DeploymentRun) -> str:
    if run.error is None:
        return "-"
    return f"{run.error.type}: {run.error.message}" if run.error.message else run.error.type


def _run_details(run: DeploymentRun) -> list[tuple[str, str]]:
    trigger = run.trigger_context
    extras = run.cas_run_extras
    rows = [
        ("id", run.id),
        ("deployment", run.deployment_id),
        ("status", _run_status(run)),
        ("trigger", str(trigger.type)),
        ("scheduled at", fmt_time(trigger.scheduled_at, human=True)),
        ("error", _run_error(run)),
        ("session", run.session_id or ""),
        ("agent", _agent(run)),
        ("triggered", fmt_time(run.triggered_at, human=True)),
        ("created", fmt_time(run.created_at, human=True)),
        ("completed", fmt_time(run.completed_at, human=True)),
        ("duration", fmt_duration(run.duration_ms)),
        ("attempt", str(extras.attempt) if extras and extras.attempt else ""),
    ]
    return [(label, value) for label, value in rows if value not in ("", "-")]


RUN_VIEW: View[DeploymentRun] = View(
    columns=(
        Column(header="ID", cell=lambda r, _: r.id),
        Column(header="DEPLOYMENT", cell=lambda r, _: r.deployment_id, priority=4),
        Column(header="STATUS", cell=lambda r, _: _run_status(r), priority=1),
        Column(header="TRIGGER", cell=lambda r, _: str(r.trigger_context.type), priority=5),
        Column(
            header="TRIGGERED (UTC)", cell=lambda r, h: fmt_time(r.sort_time, human=h), priority=2
        ),
        Column(header="DURATION", cell=lambda r, _: fmt_duration(r.duration_ms), priority=6),
        Column(
            header="ERROR",
            cell=lambda r, _: _run_error(r),
            priority=3,
            flexible=True,
            min_width=12,
            stream_width=60,
        ),
    ),
    details=_run_details,
)
