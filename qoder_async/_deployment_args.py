"""What `client.deployments` checks and sends: filters, create/update bodies, fan-out arguments.

Every function raises TypeError or ValueError naming the argument, before any I/O.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from qoder_async._models import Deployment, RunStatus
from qoder_async._params import (
    agent_json,
    cas_config_json,
    check_datetime,
    check_enum,
    check_id,
    check_limit,
    check_name,
    check_str,
    events_json,
    metadata_json,
    optional,
    query,
    schedule_json,
    vault_ids_json,
)
from qoder_async._resource import check_server_id

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from qoder_async._literals import RunStatusName
    from qoder_async._models import CasConfig

__all__ = [
    "CLEARABLE_FIELDS",
    "FIELD_JSON",
    "MAX_DEPLOYMENTS_LIMIT",
    "check_fan_out_args",
    "check_list_args",
    "metadata_body",
    "run_filters",
]


def run_filters(
    *,
    status: RunStatus | RunStatusName | None,
    triggered_after: datetime | None,
    triggered_before: datetime | None,
) -> dict[str, str]:
    """The filters of `GET /deployments/{id}/runs` (spec 3.9), validated."""
    return query(
        [
            ("status", optional(check_enum, status, RunStatus, "status")),
            ("triggered_after", optional(check_datetime, triggered_after, "triggered_after")),
            ("triggered_before", optional(check_datetime, triggered_before, "triggered_before")),
        ]
    )


# Spec 7.3: the fields an update may clear with JSON null. The Go SDK documents null for
# description, resources and vault_ids; qca-sdk sends null for any argument passed as
# None, which is how a schedule is removed (inferred: the docs do not say, spec 3.4).
CLEARABLE_FIELDS = frozenset(
    {"description", "schedule", "resources", "vault_ids", "environment_variables", "budget"}
)


def _description_json(value: object) -> str:
    if not isinstance(value, str):
        msg = f"description must be a str, got {type(value).__name__}"
        raise TypeError(msg)
    return value


def _resources_json(value: object) -> list[dict[str, object]]:
    # Resource shapes (github_repository, file, memory_store) are not documented beyond
    # their type names (spec 4.1), so they pass through as given.
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        msg = f"resources must be a list of mappings, got {type(value).__name__}"
        raise TypeError(msg)
    for i, item in enumerate(value):
        if not isinstance(item, Mapping) or not isinstance(item.get("type"), str):
            msg = f"resources[{i}] must be a mapping with a str 'type'"
            raise TypeError(msg)
    return [dict(item) for item in value]


def _budget_json(value: object) -> dict[str, object]:
    # Spec 7.5: qca-sdk 0.11.0 names the amount max_credit_cost, older sources
    # max_list_cost; the mapping is passed through as given.
    if not isinstance(value, Mapping):
        msg = f"budget must be a mapping, got {type(value).__name__}"
        raise TypeError(msg)
    return dict(value)


# How each optional create/update field is checked and turned into JSON.
FIELD_JSON: dict[str, Callable[[Any], object]] = {
    "name": check_name,
    "description": _description_json,
    "agent": agent_json,
    "environment_id": lambda value: check_id(value, "env_", "environment_id"),
    "schedule": schedule_json,
    "initial_events": events_json,
    "resources": _resources_json,
    "vault_ids": vault_ids_json,
    "environment_variables": lambda value: check_str(value, "environment_variables"),
    "budget": _budget_json,
}


def metadata_body(
    metadata: Mapping[str, str | None] | Mapping[str, str] | None,
    cas_config: CasConfig | None,
    *,
    allow_delete: bool,
) -> dict[str, object] | None:
    """The `metadata` object: the caller's keys plus `cas_config`, or None if neither."""
    if metadata is None and cas_config is None:
        return None
    body: dict[str, object] = {}
    if metadata is not None:
        body.update(metadata_json(metadata, allow_delete=allow_delete))
    if cas_config is not None:
        body["cas_config"] = cas_config_json(cas_config)
    return body


# Spec 7.5: the docs page says 1000, the Go SDK's DeploymentListParams "maximum 100".
# Unresolved, so we take the reading that cannot draw a 400: 100. Page sizes the SDK picks
# by itself (DEFAULT_PAGE_SIZE under max_items) stay below it. Run lists keep 1000.
MAX_DEPLOYMENTS_LIMIT = 100


def check_list_args(status: object, include_archived: object, limit: object) -> None:
    """Refuse the `GET /deployments` arguments the Go SDK documents as invalid (spec 7.5)."""
    check_limit(limit)
    if isinstance(limit, int) and limit > MAX_DEPLOYMENTS_LIMIT:
        msg = (
            f"limit must be between 1 and {MAX_DEPLOYMENTS_LIMIT} for deployments.list, got "
            f"{limit} (spec 7.5: the Go SDK documents 100 as the maximum; the docs say 1000)"
        )
        raise ValueError(msg)
    if status is not None and include_archived is True:
        # Spec 7.5: the Go SDK says status and include_archived cannot be combined. Read as
        # "never both on the wire": the one reading that cannot draw a 400 (see list).
        msg = (
            "status cannot be combined with include_archived=True (spec 7.5); list with "
            "include_archived=True and filter on Deployment.status instead"
        )
        raise ValueError(msg)


def check_fan_out_args(
    deployments: object,
    *,
    concurrency: object,
    order: object,
    on_error: object,
    prefetch: object,
    max_connections: int,
) -> int:
    """Refuse bad `list_runs_across` arguments before any I/O; the concurrency to use."""
    if concurrency is None:
        concurrency = min(16, max_connections)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int):
        msg = f"concurrency must be an int, got {type(concurrency).__name__}"
        raise TypeError(msg)
    if concurrency < 1:
        msg = f"concurrency must be >= 1, got {concurrency}"
        raise ValueError(msg)
    if concurrency > max_connections:
        msg = (
            f"concurrency={concurrency} exceeds the connection pool "
            f"(QoderClient(max_connections={max_connections})); raise max_connections "
            "or lower concurrency"
        )
        raise ValueError(msg)
    if order not in ("arrival", "newest_first"):
        msg = f"order must be 'arrival' or 'newest_first', got {order!r}"
        raise ValueError(msg)
    if not (callable(on_error) or on_error in ("raise_at_end", "skip", "raise")):
        msg = f"on_error must be 'raise_at_end', 'skip', 'raise' or a callable, got {on_error!r}"
        raise ValueError(msg)
    if isinstance(prefetch, bool) or not isinstance(prefetch, int):
        msg = f"prefetch must be an int, got {type(prefetch).__name__}"
        raise TypeError(msg)
    if prefetch < 1:
        msg = f"prefetch must be >= 1 for a fan-out, got {prefetch}"
        raise ValueError(msg)
    if isinstance(deployments, (str, bytes)) or not isinstance(
        deployments, (Iterable, AsyncIterable)
    ):
        msg = "deployments must be an iterable or async iterable of ids or Deployments"
        raise TypeError(msg)
    if isinstance(deployments, (list, tuple)):
        for item in deployments:
            if isinstance(item, Deployment):
                check_server_id(item.id, "dep_", "deployment id")
            else:
                check_id(item, "dep_", "deployments item")
    return concurrency
