"""Routing: one authenticated request (resource path, query, body) to its JSON answer."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from . import _tokens
from ._validate import create_fields, update_fields
from ._wire import ApiError, dumps, parse_ts

if TYPE_CHECKING:
    from ._store import Key, Store

Query = Mapping[str, str]

# Marks a request body that is present but not JSON.
INVALID_JSON = object()

_CURSORS = ("after_id", "before_id", "page")
_DEPLOYMENT_STATUSES = ("active", "paused")
_RUN_STATUSES = ("pending", "running", "completed", "failed", "skipped")
_TRIGGER_TYPES = ("manual", "schedule", "retry")
_ACTIONS = ("pause", "unpause", "archive", "run")
_CREATED_BOUNDS = (
    ("created_at[gt]", operator.gt),
    ("created_at[gte]", operator.ge),
    ("created_at[lt]", operator.lt),
    ("created_at[lte]", operator.le),
)


def dispatch(
    store: Store, method: str, path: str, query: Query, body: object, polls: int | None
) -> bytes:
    """Handle one request and return the 200 body; raise ApiError for any error answer.

    `path` is relative to the base path, e.g. "/deployments/dep_x/runs". `polls` is
    FakeQoderAPI.run_polls_to_complete.
    """
    parts = path.split("/")[1:]
    if not parts or not all(parts):
        raise _no_route(path)
    head, count = parts[0], len(parts)
    if head == "deployments":
        if count == 1:
            if method == "GET":
                return _list_deployments(store, query)
            _allow(method, "POST", path)
            return store.encoded(store.create_deployment(create_fields(_json(body)))["id"])
        dep_id = parts[1]
        if count == 2:
            if method == "GET":
                return store.encoded(store.deployment(dep_id)["id"])
            _allow(method, "POST", path)
            fields = update_fields(_json(body))
            return store.encoded(store.update_deployment(dep_id, fields)["id"])
        if count == 3 and parts[2] in _ACTIONS:
            _allow(method, "POST", path)
            return _action(store, parts[2], dep_id)
        if count == 3 and parts[2] == "runs":
            _allow(method, "GET", path)
            return _list_runs(store, query, dep_id)
        if count == 4 and parts[2] == "runs":
            _allow(method, "GET", path)
            store.deployment(dep_id)
            return _get_run(store, parts[3], dep_id, polls)
    elif head == "deployment_runs":
        if count == 1:
            _allow(method, "GET", path)
            return _list_runs(store, query, None)
        if count == 2:
            _allow(method, "GET", path)
            return _get_run(store, parts[1], None, polls)
    raise _no_route(path)


def _no_route(path: str) -> ApiError:
    return ApiError(404, f"No route for {path!r}.")


def _allow(method: str, allowed: str, path: str) -> None:
    if method != allowed:
        raise ApiError(405, f"Method {method} is not allowed for {path!r}; use {allowed}.")


def _json(body: object) -> object:
    if body is INVALID_JSON:
        raise ApiError(400, "Request body must be valid JSON.")
    return {} if body is None else body


def _action(store: Store, action: str, dep_id: str) -> bytes:
    # Spec 3.5-3.8: these take no body (or `{}`), so the body is ignored.
    if action == "run":
        return store.encoded(store.trigger_run(dep_id)["id"])
    if action == "pause":
        return store.encoded(store.pause(dep_id)["id"])
    if action == "unpause":
        return store.encoded(store.unpause(dep_id)["id"])
    return store.encoded(store.archive(dep_id)["id"])


def _get_run(store: Store, run_id: str, dep_id: str | None, polls: int | None) -> bytes:
    store.run(run_id, dep_id)
    store.observe_run(run_id, polls)
    return store.encoded(run_id)


# -- query parameters ----------------------------------------------------------------------


def _limit(query: Query, maximum: int = 1000) -> int:
    raw = query.get("limit", "")
    if raw == "":
        return 20
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        # Spec 2.3: run lists allow up to 1000 (the generic convention says 100);
        # GET /deployments passes 100, see _list_deployments.
        raise ApiError(400, f"limit must be an integer between 1 and {maximum}.", param="limit")
    return int(raw)


def _cursor(
    query: Query, scope: str, lookup: Callable[[str], Key | None]
) -> tuple[Key | None, bool]:
    """The cursor's list position and whether the page walks forward (toward older)."""
    given = [name for name in _CURSORS if query.get(name)]
    if len(given) > 1:
        # Spec 2.3: page, before_id and after_id are mutually exclusive.
        raise ApiError(
            400, "Only one of after_id, before_id and page may be given.", param=given[1]
        )
    if not given:
        return None, True
    name = given[0]
    if name == "page":
        return _tokens.decode(query[name], scope, lookup), True
    key = lookup(query[name])
    if key is None:
        raise ApiError(400, f"Invalid cursor {name}={query[name]!r}.", param=name)
    return key, name != "before_id"


def _choice(query: Query, name: str, allowed: tuple[str, ...]) -> str | None:
    value = query.get(name)
    if value is None or value in allowed:
        return value
    raise ApiError(400, f"{name} must be one of {', '.join(allowed)}.", param=name)


def _boolean(query: Query, name: str) -> bool | None:
    value = query.get(name)
    if value is None:
        return None
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ApiError(400, f"{name} must be true or false.", param=name)


def _instant(query: Query, name: str) -> int | None:
    value = query.get(name)
    if value is None:
        return None
    try:
        return parse_ts(value)
    except ValueError:
        raise ApiError(400, f"{name} must be an RFC 3339 timestamp.", param=name) from None


def _bounded(
    instant: Callable[[str], int], compare: Callable[[int, int], bool], bound: int
) -> Callable[[str], bool]:
    return lambda record_id: compare(instant(record_id), bound)


def _all(checks: list[Callable[[str], bool]]) -> Callable[[str], bool] | None:
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    return lambda record_id: all(check(record_id) for check in checks)


def _envelope(
    store: Store, ids: list[str], has_more: bool, forward: bool, scope: str, keys: dict[str, Key]
) -> bytes:
    """The spec 2.3 list envelope, joined from cached item encodings."""
    first = ids[0] if ids else None
    last = ids[-1] if ids else None
    # Spec 7.4: next_page is an opaque cursor that only moves forward. The docs show it
    # equal to last_id (spec 3.1); ours is an encoded position, so that a client taking
    # it for an id fails here rather than against the real API.
    next_page = _tokens.encode(scope, keys[last]) if has_more and forward and last else None
    return b"".join(
        (
            b'{"data":[',
            b",".join([store.encoded(record_id) for record_id in ids]),
            b'],"first_id":',
            dumps(first),
            b',"has_more":',
            b"true" if has_more else b"false",
            b',"last_id":',
            dumps(last),
            b',"next_page":',
            dumps(next_page),
            b"}",
        )
    )


# -- lists ---------------------------------------------------------------------------------


def _list_deployments(store: Store, query: Query) -> bytes:
    # Spec 7.5 leaves two rules unresolved: the docs allow limit up to 1000, the Go SDK
    # says "maximum 100"; the Go SDK says status and include_archived cannot be combined.
    # The fake takes the strict reading of both (the one a real server might enforce),
    # so that a client that could draw a 400 from the real API draws one here.
    limit = _limit(query, 100)
    cursor, forward = _cursor(query, "/deployments", store.dep_keys.get)
    status = _choice(query, "status", _DEPLOYMENT_STATUSES)
    include_archived = _boolean(query, "include_archived") or False
    if status is not None and "include_archived" in query:
        raise ApiError(
            400, "status and include_archived cannot be combined.", param="include_archived"
        )
    agent_id = query.get("agent_id")
    since = _instant(query, "created_at[gte]")
    until = _instant(query, "created_at[lte]")
    deployments, keys = store.deployments, store.dep_keys

    def keep(dep_id: str) -> bool:
        dep = deployments[dep_id]
        created = keys[dep_id][0]
        return (
            (include_archived or dep["archived_at"] is None)
            and (status is None or dep["status"] == status)
            and (agent_id is None or dep["agent"]["id"] == agent_id)
            and (since is None or created >= since)
            and (until is None or created <= until)
        )

    ids, has_more = store.page(store.dep_order, keep, limit, cursor, forward)
    return _envelope(store, ids, has_more, forward, "/deployments", keys)


def _list_runs(store: Store, query: Query, dep_id: str | None) -> bytes:
    """List runs of one deployment (spec 3.9) or of all of them (spec 3.11)."""
    if dep_id is not None:
        store.deployment(dep_id)  # 404 first; archived deployments still list their runs
    limit = _limit(query)
    runs, run_keys = store.runs, store.run_keys

    def lookup(run_id: str) -> Key | None:
        key = run_keys.get(run_id)
        if key is not None and dep_id is not None and runs[run_id]["deployment_id"] != dep_id:
            return None
        return key

    scope = "/deployment_runs" if dep_id is None else f"/deployments/{dep_id}/runs"
    cursor, forward = _cursor(query, scope, lookup)
    status = _choice(query, "status", _RUN_STATUSES)
    checks: list[Callable[[str], bool]] = []
    if status is not None:
        checks.append(lambda run_id: runs[run_id]["status"] == status)
    if dep_id is not None:
        keys = store.runs_by_dep[dep_id]
        for name, compare in (("triggered_after", operator.gt), ("triggered_before", operator.lt)):
            bound = _instant(query, name)
            if bound is not None:
                checks.append(_bounded(lambda run_id: run_keys[run_id][0], compare, bound))
    else:
        only = query.get("deployment_id")
        # Spec 3.11: an unknown deployment_id is an empty list, not a 404.
        keys = store.run_order if only is None else store.runs_by_dep.get(only, [])
        trigger = _choice(query, "trigger_type", _TRIGGER_TYPES)
        if trigger is not None:
            checks.append(lambda run_id: runs[run_id]["trigger_context"]["type"] == trigger)
        has_error = _boolean(query, "has_error")
        if has_error is True:
            checks.append(lambda run_id: runs[run_id]["error"] is not None)
        elif has_error is False:
            # Spec 3.11 (SDK doc comment): false keeps runs that have a session.
            checks.append(lambda run_id: runs[run_id]["session_id"] is not None)
        for name, compare in _CREATED_BOUNDS:
            bound = _instant(query, name)
            if bound is not None:
                checks.append(_bounded(store.run_created.__getitem__, compare, bound))
    keep = _all(checks)
    ids, has_more = store.page(keys, keep, limit, cursor, forward)
    return _envelope(store, ids, has_more, forward, scope, run_keys)
