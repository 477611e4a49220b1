"""Frozen attrs models of the API's objects (spec section 4) and their string enums.

Field names equal the JSON keys, with one exception: `Deployment.cas_config` is the
server-managed `metadata.cas_config` object lifted out of `metadata`, so that `metadata`
holds only the caller's string keys. Every field the spec marks Qoder-specific, or that
older copies of the docs leave out, is optional.

Enum-typed fields always hold an enum member, so an IDE and a type checker see the known
values. A value this SDK does not know yet (a new status) still parses: the enum makes an
"unknown member" for it (`RunStatus("cancelling")`, not one of `list(RunStatus)`, with
`.known` False), so a new status never crashes an old client. The enums are `str` enums:
`run.status == "cancelling"` works either way, and `to_dict` writes the raw value.

Models are hashable: fields holding JSON objects (`metadata`, `resources`, `budget`) take
no part in the hash, but do in `==`, so equal models hash equal (mutable dicts cannot be
hashed, and copying them into immutable mappings would slow every page down).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Generic, TypeVar

import attrs

# Re-exported: modules that take initial events import the alias from here too.
from qoder_async._events import InitialEvent

__all__ = [
    "AgentRef",
    "CasConfig",
    "CasRunExtras",
    "CasSettings",
    "CasStats",
    "Deployment",
    "DeploymentRun",
    "DeploymentStatus",
    "EventType",
    "InitialEvent",
    "Page",
    "PausedReason",
    "RunError",
    "RunStatus",
    "Schedule",
    "TriggerContext",
    "TriggerType",
]

T = TypeVar("T")


# How many unknown values each enum remembers: a server cannot grow memory without bound
# by sending ever new values, while the few real new ones keep one member each.
_MAX_UNKNOWN = 64


class _StrEnum(str, enum.Enum):
    """A str enum whose str() is its wire value, and which keeps values it does not know."""

    # Hash as the wire string on every Python version (3.10's Enum hashes the member's name),
    # so that a member and its string, equal by `==`, also hash equal.
    __hash__ = str.__hash__

    def __str__(self) -> str:
        return str(self._value_)

    def __repr__(self) -> str:
        if self._name_ is None:
            return f"{type(self).__name__}({self._value_!r})"
        return f"<{type(self).__name__}.{self._name_}: {self._value_!r}>"

    @property
    def known(self) -> bool:
        """Whether this SDK knows the value; False for a value the API added later."""
        return self._name_ is not None

    @classmethod
    def _missing_(cls, value: object) -> _StrEnum | None:
        # Forward compatibility (design: unknown enum values are kept): any string becomes
        # an unknown member, named None, outside `list(cls)`. The first ones are cached, so
        # that the same unknown value gives the same member.
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._value_ = value
        member._name_ = None  # type: ignore[assignment]
        unknown = cls._value2member_map_
        if len(unknown) < len(cls._member_names_) + _MAX_UNKNOWN:
            return unknown.setdefault(value, member)  # type: ignore[return-value]
        return member


class DeploymentStatus(_StrEnum):
    """A deployment's `status`. Archiving does not change it: see `Deployment.archived_at`."""

    ACTIVE = "active"
    PAUSED = "paused"


class RunStatus(_StrEnum):
    """A deployment run's `status`; `COMPLETED`, `FAILED` and `SKIPPED` are terminal."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


class TriggerType(_StrEnum):
    """What started a run: `trigger_context.type` and the `trigger_type` list filter."""

    MANUAL = "manual"
    SCHEDULE = "schedule"
    # Documented by Qoder only; the official SDKs know just the two above (spec section 5.5).
    RETRY = "retry"


class EventType(_StrEnum):
    """The documented `type`s of initial events (spec 7.2); each has its own model class."""

    USER_MESSAGE = "user.message"
    USER_DEFINE_OUTCOME = "user.define_outcome"
    SYSTEM_MESSAGE = "system.message"


# Terminal states are inferred (spec 4.2): nothing moves a run out of them.
TERMINAL_RUN_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.SKIPPED})


@attrs.frozen(kw_only=True)
class AgentRef:
    """The agent version a deployment or run uses; responses always carry a concrete `version`."""

    id: str
    type: str = "agent"
    version: int | None = None


@attrs.frozen(kw_only=True)
class Schedule:
    """A deployment's cron schedule.

    `upcoming_runs_at` is informational: a paused deployment still lists times it will not
    fire at (spec 3.5), and it is empty once archived.
    """

    type: str = "cron"
    expression: str
    timezone: str
    upcoming_runs_at: tuple[datetime, ...] = ()
    last_run_at: datetime | None = None


@attrs.frozen(kw_only=True)
class CasSettings:
    """`metadata.cas_config.config`: how runs of a deployment are retried, timed and capped."""

    max_concurrent: int | None = None
    max_retries: int | None = None
    timeout_ms: int | None = None


@attrs.frozen(kw_only=True)
class CasStats:
    """`metadata.cas_config.stats`: read-only counters the server keeps for a deployment."""

    consecutive_failures: int | None = None
    total_failures: int | None = None
    total_runs: int | None = None
    next_trigger_at: datetime | None = None
    last_triggered_at: datetime | None = None


@attrs.frozen(kw_only=True)
class CasConfig:
    """Qoder's run configuration and statistics, `metadata.cas_config` on the wire."""

    config: CasSettings | None = None
    session_strategy: str | None = None
    stats: CasStats | None = None


@attrs.frozen(kw_only=True)
class RunError:
    """Why a run (or an automatic pause) failed; `type` is an open-ended code (spec 4.2)."""

    type: str
    message: str | None = None


@attrs.frozen(kw_only=True)
class PausedReason:
    """Why a deployment is paused: `type` "manual", or an automatic pause with an `error`."""

    type: str
    error: RunError | None = None


@attrs.frozen(kw_only=True)
class Deployment:
    """A deployment: an agent bound to an environment, a schedule and initial events.

    Archived deployments keep `status` "active"; check `archived_at` (or `is_archived`).
    """

    id: str
    type: str = "deployment"
    name: str
    description: str | None = None
    agent: AgentRef
    environment_id: str
    initial_events: tuple[InitialEvent, ...] = ()
    resources: tuple[dict[str, object], ...] = attrs.field(default=(), hash=False)
    vault_ids: tuple[str, ...] = ()
    metadata: dict[str, str] = attrs.field(factory=dict, hash=False)
    cas_config: CasConfig | None = None
    schedule: Schedule | None = None
    status: DeploymentStatus
    paused_reason: PausedReason | None = None
    archived_at: datetime | None = None
    created_at: datetime
    updated_at: datetime | None = None
    # Seen only in the official SDK's models (spec 4.1), passed through untouched.
    environment_variables: str | None = None
    budget: dict[str, object] | None = attrs.field(default=None, hash=False)

    @property
    def is_archived(self) -> bool:
        """Whether the deployment has been archived (irreversible, spec 3.7)."""
        return self.archived_at is not None


@attrs.frozen(kw_only=True)
class TriggerContext:
    """What triggered a run; `scheduled_at` is set for scheduled runs."""

    type: TriggerType
    scheduled_at: datetime | None = None


@attrs.frozen(kw_only=True)
class CasRunExtras:
    """Qoder-specific run details: the 1-based attempt, the turn and when it started."""

    attempt: int | None = None
    turn_id: str | None = None
    started_at: datetime | None = None


@attrs.frozen(kw_only=True)
class DeploymentRun:
    """One execution of a deployment.

    Runs come in two shapes (spec 7.1): the minimal one of the contract examples (no
    `status`, `triggered_at`, `completed_at`, `duration_ms` or `cas_run_extras`) and the
    rich one of section 4.2. Everything beyond the minimal core is therefore optional;
    `is_terminal` and `sort_time` answer "finished?" and "when?" for both.
    """

    id: str
    type: str = "deployment_run"
    deployment_id: str
    agent: AgentRef
    status: RunStatus | None = None
    error: RunError | None = None
    trigger_context: TriggerContext
    session_id: str | None = None
    triggered_at: datetime | None = None
    created_at: datetime
    completed_at: datetime | None = None
    duration_ms: int | None = None
    cas_run_extras: CasRunExtras | None = None

    @property
    def is_minimal_shape(self) -> bool:
        """Whether the run came in the minimal shape of spec 7.1, with no `status`."""
        return self.status is None

    @property
    def is_terminal(self) -> bool:
        """Whether the run has finished; the one rule for both shapes of spec 7.1.

        A rich-shape run is finished once its `status` is completed, failed or skipped.
        A minimal-shape run (no `status`, as in the official SDKs' contract examples) is
        a record of session creation, success or failure, and is final as soon as it is
        returned: what the session then does is not the run's business (spec 7.1).
        """
        if self.status is None:
            return True
        return self.status in TERMINAL_RUN_STATUSES

    @property
    def sort_time(self) -> datetime:
        """The instant lists order runs by: `triggered_at`, else `created_at` (spec 7.1)."""
        return self.triggered_at or self.created_at


@attrs.frozen(kw_only=True, repr=False)
class Page(Generic[T]):
    """One page of a cursor-paginated listing (spec 2.3).

    `first_id`/`last_id` are None on an empty page; `next_page` is the opaque forward cursor.
    Its repr names the item count and the cursors, not the items.
    """

    data: tuple[T, ...]
    first_id: str | None = None
    last_id: str | None = None
    # None when the server leaves it out: a `next_page` then still continues (spec 7.4).
    has_more: bool | None = None
    next_page: str | None = None

    def __repr__(self) -> str:
        # A page holds up to 1000 items: printing them all would bury what matters here.
        kind = type(self.data[0]).__name__ if self.data else "items"
        return (
            f"<Page of {len(self.data)} {kind} first_id={self.first_id!r}"
            f" last_id={self.last_id!r} has_more={self.has_more!r}"
            f" next_page={self.next_page!r}>"
        )
