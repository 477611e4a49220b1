"""FakeQoderAPI: the fake's public face, and the request pipeline both front ends share."""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl

import anyio

from ._clock import Clock, IdFactory
from ._data import make_run, trigger_context
from ._faults import (
    Fault,
    RandomFaults,
    fault_headers,
    fault_reply,
    replaces_response,
    take_fault,
)
from ._records import RecordedRequest, RecordView
from ._routes import INVALID_JSON, dispatch
from ._seed import Seeder
from ._store import RunShape, Store
from ._validate import create_fields
from ._wire import BASE_PATH, NS_PER_SECOND, ApiError, Reply, error_body, format_ts, to_ns

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from contextlib import AbstractAsyncContextManager

    import httpx

_JSON_HEADERS = ("content-type", "application/json")


class FakeQoderAPI:
    """An in-memory fake of the Qoder Deployments API, speaking the spec's JSON.

    Reach it in-process with `transport()` or over real loopback HTTP with `serve()`;
    both mount the API at `/api/v1/cloud`. Only `Authorization: Bearer <pat>` is
    accepted (default pat `pt-fake-token`). Timestamps come from a clock that starts at
    `now` (default: the current time, so "the last 24 hours" holds recent runs) and
    advances with real time; generated data all lies before `now`. The same `seed` and
    `now` give the same ids and data: pass `now` explicitly for a reproducible data set.
    Knobs, all plain attributes:

    - `latency`: seconds awaited before answering every request (no CPU cost).
    - `run_polls_to_complete`: a run started by POST /run completes on its N-th GET
      (nested or global); None means it stays running until `complete_run`.
    - `faults`: a list of `Fault`s, consumed first in, first out by matching requests.
    - `random_faults`: a `RandomFaults` (or None) that hits a random share of the
      requests the scripted faults leave alone, reproducibly from its seed.
    - `requests`: every `RecordedRequest` seen, faulted ones included (unless
      `record_requests` is False, for long-running servers).
    - `in_flight`, `max_in_flight`: requests being handled now and the peak since the
      last `reset_stats()`.
    - `run_shape`: which of the two run shapes of spec 7.1 runs are served in. "mixed"
      (the default): runs of about a quarter of the seeded deployments come in the
      minimal shape (no `status`, `triggered_at`, `completed_at`, `duration_ms`,
      `cas_run_extras`), every other run in the rich shape; "minimal": every run;
      "rich": none. `runs` always shows the whole record.

    Not thread-safe: use it from the event loop that serves it.
    """

    def __init__(
        self,
        *,
        pat: str = "pt-fake-token",
        seed: int = 0,
        now: datetime | None = None,
        run_shape: RunShape = "mixed",
    ) -> None:
        self.pat = pat
        self.latency: float = 0.0
        self.run_polls_to_complete: int | None = 2
        self.faults: list[Fault] = []
        self.random_faults: RandomFaults | None = None
        self.requests: list[RecordedRequest] = []
        self.record_requests = True
        self.in_flight = 0
        self.max_in_flight = 0
        rng = random.Random(seed)
        start = datetime.now(timezone.utc) if now is None else now
        self._store = Store(Clock(to_ns(start)), IdFactory(rng))
        self._store.run_shape = run_shape
        self._seeder = Seeder(self._store, rng)
        self._idempotent: dict[str, tuple[bytes, Reply]] = {}
        self._names = 0

    def __repr__(self) -> str:
        store = self._store
        return (
            f"<FakeQoderAPI deployments={len(store.deployments)} runs={len(store.runs)}"
            f" latency={self.latency} faults={len(self.faults)}>"
        )

    # -- data ----------------------------------------------------------------------------

    @property
    def deployments(self) -> Mapping[str, dict[str, Any]]:
        """Stored deployments by id, as JSON; every lookup returns a fresh copy.

        Editing a copy changes nothing: change state through the methods or the API.
        """
        return RecordView(self._store.deployments, self._store)

    @property
    def runs(self) -> Mapping[str, dict[str, Any]]:
        """Stored runs by id, as JSON; every lookup returns a fresh copy."""
        return RecordView(self._store.runs, self._store)

    @property
    def run_shape(self) -> RunShape:
        """Which shape runs are served in: "mixed", "rich" or "minimal" (spec 7.1)."""
        return self._store.run_shape

    @run_shape.setter
    def run_shape(self, shape: RunShape) -> None:
        self._store.run_shape = shape

    def seed(self, deployments: int = 10, runs_per_deployment: int = 5) -> None:
        """Add realistic generated deployments, each with `runs_per_deployment` runs.

        The data depends only on the constructor's `seed` and `now` (and on what was
        added before): a mix of scheduled and manual-only, active, paused and archived
        deployments, and completed, failed, skipped, running and pending runs, all dated
        before `now`.
        """
        if deployments < 0 or runs_per_deployment < 0:
            raise ValueError("counts must be >= 0")
        self._seeder.seed(deployments, runs_per_deployment)

    def add_deployment(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        agent: str | Mapping[str, Any] | None = None,
        environment_id: str | None = None,
        status: Literal["active", "paused"] = "active",
        archived: bool = False,
        schedule: bool | Mapping[str, str] = True,
        created_at: datetime | str | None = None,
        initial_events: Sequence[Mapping[str, Any]] | None = None,
        resources: Sequence[Mapping[str, Any]] = (),
        vault_ids: Sequence[str] = (),
        metadata: Mapping[str, str] | None = None,
        max_concurrent: int = 1,
        max_retries: int = 0,
        timeout_ms: int = 300_000,
    ) -> dict[str, Any]:
        """Store a deployment and return its JSON (a copy).

        Defaults: a generated name, a new agent and environment id, one user.message
        event, the schedule `0 9 * * *` in Asia/Shanghai (`schedule=False` for
        manual-only, or a `{"type": "cron", "expression", "timezone"}` mapping) and
        `created_at` now. The fields are checked like POST /deployments; ValueError
        says which one is wrong.
        """
        if status not in ("active", "paused"):
            raise ValueError(f"status must be 'active' or 'paused', got {status!r}")
        now = self._store.clock.now_ns()
        self._names += 1
        if schedule is True:
            schedule = {"type": "cron", "expression": "0 9 * * *", "timezone": "Asia/Shanghai"}
        body: dict[str, Any] = {
            "name": f"deployment-{self._names}" if name is None else name,
            "description": description,
            "agent": agent if agent is not None else self._store.ids.new("agent", now),
            "environment_id": environment_id or self._store.ids.new("env", now),
            "initial_events": list(
                initial_events
                or [{"content": "Generate today's status report", "type": "user.message"}]
            ),
            "resources": list(resources),
            "vault_ids": list(vault_ids),
            "metadata": {
                **(metadata or {}),
                "cas_config": {
                    "config": {
                        "max_concurrent": max_concurrent,
                        "max_retries": max_retries,
                        "timeout_ms": timeout_ms,
                    }
                },
            },
            "schedule": dict(schedule) if schedule else None,
        }
        try:
            # A JSON round trip copies the caller's objects and rejects what JSON cannot hold.
            fields = create_fields(json.loads(json.dumps(body)))
        except ApiError as exc:
            raise ValueError(f"{exc.param}: {exc.message}") from None
        created = None if created_at is None else _instant(created_at)
        dep_id = self._store.create_deployment(fields, created=created)["id"]
        if status == "paused":
            self._store.pause(dep_id)
        if archived:
            self._store.archive(dep_id)
        return self.deployments[dep_id]

    def add_run(
        self,
        deployment_id: str,
        *,
        status: Literal["pending", "running", "completed", "failed", "skipped"] = "completed",
        triggered_at: datetime | str | None = None,
        trigger_type: Literal["manual", "schedule", "retry"] = "manual",
        error: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Store a run of an existing deployment and return its JSON (a copy).

        `triggered_at` defaults to now. A failed run gets `error` (default an
        `unknown_error`) and no session. Runs added here never complete by polling;
        use `complete_run`. KeyError if the deployment does not exist.
        """
        store = self._store
        dep = store.deployments[deployment_id]
        if status not in ("pending", "running", "completed", "failed", "skipped"):
            raise ValueError(f"unknown run status {status!r}")
        if trigger_type not in ("manual", "schedule", "retry"):
            raise ValueError(f"unknown trigger type {trigger_type!r}")
        if triggered_at is None:
            at = store.distinct(store.run_instants, store.clock.now_ns(), 6)
        else:
            at = _instant(triggered_at)
        run = make_run(
            store.ids,
            dep,
            at=at,
            trigger=trigger_context(trigger_type, at[0]),
            status=status,
            attempt=2 if trigger_type == "retry" else 1,
            error=json.loads(json.dumps(error)) if error is not None else None,
        )
        store.insert_run(run)
        store.refresh_stats(deployment_id)
        return self.runs[run["id"]]

    def complete_run(
        self,
        run_id: str,
        status: Literal["completed", "failed", "skipped"] = "completed",
        error: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """End a pending or running run and return its JSON (a copy).

        A failed run gets `error` (default an `unknown_error`) and loses its session
        (spec 4.2). KeyError if the run does not exist; ValueError if it already ended.
        """
        copied = json.loads(json.dumps(error)) if error is not None else None
        self._store.finish_run(run_id, status, copied)
        return self.runs[run_id]

    def reset_stats(self) -> None:
        """Clear `requests` and restart `max_in_flight` from the current `in_flight`."""
        self.requests.clear()
        self.max_in_flight = self.in_flight

    # -- front ends ----------------------------------------------------------------------

    def transport(self) -> httpx.AsyncBaseTransport:
        """An in-process httpx transport to this fake: no sockets, any host.

        Use it as `httpx.AsyncClient(transport=api.transport(), base_url=...)` with a
        base URL ending in `/api/v1/cloud`, e.g. `https://api.qoder.com/api/v1/cloud`.
        """
        from ._inprocess import InProcessTransport

        return InProcessTransport(self._handle)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> AbstractAsyncContextManager[str]:
        """Serve this fake over real HTTP/1.1 while the context is open; yields the base URL.

        `port=0` picks a free port. The URL looks like
        `http://127.0.0.1:54321/api/v1/cloud`. Leaving the context closes the listener
        and every connection. Works under asyncio and trio.
        """
        from ._server import serve

        return serve(self._handle, host, port)

    # -- the pipeline --------------------------------------------------------------------

    async def _handle(
        self, method: str, path: str, query: str, headers: dict[str, str], content: bytes
    ) -> Reply:
        """Answer one request: record it, wait, apply faults, then let the API answer.

        `path` is the URL path, `query` the raw query string, `headers` lower-cased.
        """
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight
        try:
            inside = path == BASE_PATH or path.startswith(BASE_PATH + "/")
            resource = path[len(BASE_PATH) :] if inside else path
            params = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
            body: object = None
            if content:
                try:
                    body = json.loads(content)
                except ValueError:
                    body = INVALID_JSON
            if self.record_requests:
                recorded = RecordedRequest(
                    method=method,
                    path=resource,
                    query=params,
                    headers=headers,
                    # Parsed again so that editing it cannot reach the stored records.
                    json=None if body is None or body is INVALID_JSON else json.loads(content),
                    content=content,
                )
                self.requests.append(recorded)
            request_id = headers.get("x-request-id") or str(uuid.uuid4())
            await anyio.sleep(self.latency)
            fault = take_fault(self.faults, method, resource) if self.faults else None
            if fault is None and self.random_faults is not None:
                fault = self.random_faults.draw(method, resource)
            if fault is not None:
                await anyio.sleep(fault.delay)
                if replaces_response(fault):
                    return fault_reply(fault, request_id)
            reply = self._answer(
                method, resource if inside else None, params, headers, body, request_id
            )
            if fault is not None:
                reply.headers.extend(fault_headers(fault))
                reply.slow_body = fault.slow_body
            return reply
        finally:
            self.in_flight -= 1

    def _answer(
        self,
        method: str,
        resource: str | None,
        query: dict[str, str],
        headers: dict[str, str],
        body: object,
        request_id: str,
    ) -> Reply:
        key = headers.get("idempotency-key") or headers.get("x-idempotency-key")
        fingerprint: bytes | None = None
        try:
            self._authenticate(headers)
            if resource is None:
                raise ApiError(404, f"Not found; the API lives under {BASE_PATH}.")
            if key is not None and method == "POST":
                # Spec 1: the same key and body replay the stored answer; another body is a 409.
                fingerprint = _fingerprint(resource, body)
                seen = self._idempotent.get(key)
                if seen is not None:
                    if seen[0] != fingerprint:
                        raise ApiError(409, "Idempotency key reused with a different request body.")
                    stored = seen[1]
                    replay = [
                        _JSON_HEADERS,
                        ("x-request-id", request_id),
                        ("idempotent-replayed", "true"),
                    ]
                    return Reply(stored.status, stored.body, replay)
        except ApiError as exc:
            return _error_reply(exc, request_id)
        try:
            payload = dispatch(
                self._store, method, resource, query, body, self.run_polls_to_complete
            )
            reply = Reply(200, payload, [_JSON_HEADERS, ("x-request-id", request_id)])
        except ApiError as exc:
            reply = _error_reply(exc, request_id)
        if key is not None and fingerprint is not None:
            self._idempotent[key] = (fingerprint, reply)
        return reply

    def _authenticate(self, headers: dict[str, str]) -> None:
        # Spec 1: only `Authorization: Bearer <PAT>`; `x-api-key` is refused.
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token == self.pat:
            return
        if "authorization" not in headers and "x-api-key" in headers:
            raise ApiError(401, "x-api-key is not accepted; send Authorization: Bearer <PAT>.")
        raise ApiError(401, "Invalid API key or token.")


def _error_reply(exc: ApiError, request_id: str) -> Reply:
    body = error_body(exc.status, exc.message, request_id, exc.param)
    return Reply(exc.status, body, [_JSON_HEADERS, ("x-request-id", request_id)])


def _fingerprint(resource: str, body: object) -> bytes:
    # Key order does not make two bodies different.
    canonical = None if body is INVALID_JSON else body
    return json.dumps([resource, canonical], sort_keys=True).encode()


def _instant(value: datetime | str) -> tuple[int, str]:
    """A caller's timestamp as (nanoseconds, RFC 3339 text in UTC with "Z")."""
    ns = to_ns(value)
    if isinstance(value, str) and value.endswith(("Z", "z")):
        return ns, value[:-1] + "Z"  # kept as written: its precision is the caller's choice
    digits = 9 if ns % 1000 else 6 if ns % NS_PER_SECOND else 0
    return ns, format_ts(ns, digits)
