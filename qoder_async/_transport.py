"""One logical request: headers, auth, deadlines, retries with back-off, the budget, decoding.

`Transport` holds what a client and its views share (pool, limits, budget, pause: `Shared`)
and one view's `Settings`; the attempts of each request are a `_call.Call`.

What bounds a request in time (each checked before waiting, so nothing waits in vain):
- `timeout` bounds each attempt's I/O end to end: connect, send and the whole body (a
  server trickling bytes cannot stretch it). A float, or an `httpx.Timeout` whose largest
  value is the end-to-end bound and whose parts stay httpx's per-operation limits.
- `deadline` (optional) bounds the whole logical call: every attempt, every wait for the
  budget, a connection or the client-wide pause, and every back-off. A retry that could
  only start past it is not made: the last error is raised at once.
- The client-wide overload pause (`BackoffGate`) holds another request at most as long as
  that request's timeout and deadline allow; past that, it gets the error that caused the
  pause at once, with `retry_after` set to what remains of it.
Order of the waits inside one attempt: the pause, the chain's spacing, a connection slot,
the pause again (it may have begun meanwhile), the rate budget, then the wire.
"""

from __future__ import annotations

import json
import platform
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Final, TypeAlias

import anyio
import attrs
import httpx

from qoder_async import _errors
from qoder_async._call import Call
from qoder_async._decode import DEFAULT_MAX_RESPONSE_BYTES
from qoder_async._gate import BackoffGate
from qoder_async._launch import launched, on_launch
from qoder_async._ratelimit import Budget, RateLimit, Spacing
from qoder_async._retry import DEFAULT_RETRY, RetryPolicy

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from httpx._client import UseClientDefault

__all__ = [
    "DEFAULT_TIMEOUT",
    "VERSION",
    "BackoffGate",
    "Settings",
    "Transport",
    "launched",
    "on_launch",
]

VERSION: Final = "0.1.0"
USER_AGENT: Final = (
    f"qoder-async/{VERSION} (python {platform.python_version()}; httpx {httpx.__version__})"
)
DEFAULT_TIMEOUT: Final = 60.0
DEFAULT_CONNECT_TIMEOUT: Final = 10.0


Timeout: TypeAlias = "float | httpx.Timeout | None"


@attrs.frozen(kw_only=True)
class Settings:
    """The per-view policy of a transport: what `with_options` may change."""

    timeout: Timeout = None
    retry: RetryPolicy = DEFAULT_RETRY
    deadline: float | None = None
    # Headers over the client's (per-request `extra_headers`, checked in `_options`).
    headers: tuple[tuple[str, str], ...] = ()


class Shared:
    """What a client and all its `with_options` views share: connections, limits, state."""

    def __init__(
        self,
        *,
        pat: str,
        base_url: str,
        max_connections: int,
        http_client: httpx.AsyncClient | None,
        headers: Mapping[str, str] | None,
        rate_limit: RateLimit | None,
        max_response_bytes: int,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_connections = max_connections
        self.owns_client = http_client is None
        if http_client is None:
            http_client = httpx.AsyncClient(
                timeout=httpx.Timeout(DEFAULT_TIMEOUT, connect=DEFAULT_CONNECT_TIMEOUT),
                limits=httpx.Limits(
                    max_connections=max_connections, max_keepalive_connections=max_connections
                ),
            )
        self.http_client = http_client
        # httpcore (behind httpx's own transport) reports when a request is on the wire;
        # other transports (mocks, in-process fakes) are "sent" once they are called.
        self.traced = isinstance(getattr(http_client, "_transport", None), httpx.AsyncHTTPTransport)
        # Never more requests in flight than the pool has connections: a caller can then
        # not run into httpx's PoolTimeout by fanning out, whatever it does.
        self.limiter = anyio.CapacityLimiter(max_connections)
        self.gate = BackoffGate()
        self.budget = Budget(rate_limit) if rate_limit is not None else None
        self.max_response_bytes = max_response_bytes
        self.headers = {
            "Authorization": f"Bearer {pat}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            **(headers or {}),
        }
        self.closed = False


class Transport:
    """Sends one logical API request through a pooled httpx client, with retries.

    Owns the httpx client unless one was passed in. `request` returns decoded JSON or raises
    an exception from `qoder_async._errors`; it never returns an error response. Build one
    with `Transport.open`, and views with other settings with `copy`.
    """

    def __init__(self, shared: Shared, settings: Settings, *, root: bool = False) -> None:
        self.shared = shared
        self.settings = settings
        # Only the transport that created the shared state closes it.
        self._root = root
        self.retry = settings.retry
        self.deadline = settings.deadline
        self.timeout_arg, self.attempt_limit = _timeouts(settings.timeout, shared.http_client)
        self.headers = _with_headers(shared.headers, settings.headers)

    @classmethod
    def open(
        cls,
        *,
        pat: str,
        base_url: str,
        settings: Settings,
        max_connections: int,
        http_client: httpx.AsyncClient | None,
        headers: Mapping[str, str] | None = None,
        rate_limit: RateLimit | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> Transport:
        """A transport with its own shared state (pool, limits, budget, pause)."""
        shared = Shared(
            pat=pat,
            base_url=base_url,
            max_connections=max_connections,
            http_client=http_client,
            headers=headers,
            rate_limit=rate_limit,
            max_response_bytes=max_response_bytes,
        )
        return cls(shared, settings, root=True)

    def copy(self, settings: Settings) -> Transport:
        """A view sharing this one's connections, limits, budget and pause, with `settings`."""
        return Transport(self.shared, settings)

    @property
    def base_url(self) -> str:
        """The API base URL, without a trailing slash."""
        return self.shared.base_url

    @property
    def http_client(self) -> httpx.AsyncClient:
        """The httpx client every view sends through."""
        return self.shared.http_client

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        """The in-flight limit (the pool size), shared by every view."""
        return self.shared.limiter

    @property
    def max_connections(self) -> int:
        """The most requests in flight at once."""
        return self.shared.max_connections

    @property
    def gate(self) -> BackoffGate:
        """The client-wide overload pause, shared by every view."""
        return self.shared.gate

    @gate.setter
    def gate(self, gate: BackoffGate) -> None:
        self.shared.gate = gate

    @property
    def budget(self) -> Budget | None:
        """The client's rate budget, or None when it is off."""
        return self.shared.budget

    @property
    def max_response_bytes(self) -> int:
        """The largest successful response body read, in bytes."""
        return self.shared.max_response_bytes

    @property
    def timeout(self) -> Timeout:
        """This view's timeout, as given (None: the default, or the caller's client's)."""
        return self.settings.timeout

    @property
    def max_retries(self) -> int:
        """This view's retry count."""
        return self.settings.retry.max_retries

    @property
    def closed(self) -> bool:
        """Whether the client was closed."""
        return self.shared.closed

    def spacing(self) -> Spacing | None:
        """A Spacing for one new cursor chain (bulk paging, spec 2.2), or None when off."""
        budget = self.shared.budget
        return budget.spacing() if budget is not None else None

    async def aclose(self) -> None:
        """Close the client's state: a view does nothing; idempotent."""
        shared = self.shared
        if not self._root or shared.closed:
            return
        shared.closed = True
        if shared.owns_client:
            await shared.http_client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: object = None,
        idempotency_key: str | None = None,
        deadline: float | None = None,
        spacing: Spacing | None = None,
        decode: Callable[[bytes], object] | None = None,
    ) -> object:
        """Send one logical request, retrying what is safe to retry, and decode its JSON.

        Every POST carries an Idempotency-Key (generated unless given) that stays the same
        across retries, which makes retrying a POST safe (spec 1, idempotency). 409 is never
        retried. `deadline` (seconds; default the view's) bounds the whole call, `spacing`
        paces the requests of one cursor chain. Raises APIError subclasses,
        APIConnectionError/APITimeoutError once retries are spent or the deadline is
        reached, ResponseValidationError for a body that cannot be used, and
        ClientClosedError after the client was closed. `decode`, when given, turns a
        successful body into the result directly (the fast path); whatever it refuses is
        decoded as JSON as usual, so the caller gets either.
        """
        call = self._call(method, path, params, json_body, idempotency_key, spacing)
        call.decode = decode
        return await self._run(call, deadline)

    async def request_raw(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: object = None,
        idempotency_key: str | None = None,
        deadline: float | None = None,
    ) -> tuple[object, httpx.Response]:
        """As `request`, and the successful attempt's `httpx.Response` (its body read).

        Its `elapsed` is set here, from sending to the end of the body, for every transport:
        httpx sets it only when it closes a stream, which a response whose body a transport
        gave already read (mocks, the fake in-process) never needs.
        """
        call = self._call(method, path, params, json_body, idempotency_key, None)
        data = await self._run(call, deadline)
        response = call.response
        assert response is not None  # noqa: S101 - set by every successful run
        response.elapsed = timedelta(seconds=call.elapsed)
        return data, response

    def _call(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json_body: object,
        idempotency_key: str | None,
        spacing: Spacing | None,
    ) -> Call:
        if self.shared.closed:
            msg = "this QoderClient is closed: create a new QoderClient to send requests"
            raise _errors.ClientClosedError(msg)
        headers = dict(self.headers)
        request_id = str(uuid.uuid4())
        headers["x-request-id"] = request_id
        content: bytes | None = None
        if json_body is not None:
            content = json.dumps(json_body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        if method != "GET":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        return Call(self, method, path, params, content, headers, request_id, spacing)

    async def _run(self, call: Call, deadline: float | None) -> object:
        limit = deadline if deadline is not None else self.deadline
        if limit is None:
            return await call.run()
        call.deadline_at = anyio.current_time() + limit
        with anyio.CancelScope(deadline=call.deadline_at):
            return await call.run()
        # Reached only when the deadline cancelled the call while it waited or read.
        msg = f"{call.method} {call.path} did not complete within its deadline of {limit} s"
        raise _errors.APITimeoutError(msg) from call.last_error


def _with_headers(base: dict[str, str], extra: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """`base` with `extra` over it; header names ignore case, so an override replaces."""
    if not extra:
        return base
    overridden = {name.lower() for name, _ in extra}
    headers = {name: value for name, value in base.items() if name.lower() not in overridden}
    headers.update(extra)
    return headers


def _timeouts(
    timeout: Timeout, http_client: httpx.AsyncClient
) -> tuple[httpx.Timeout | UseClientDefault, float | None]:
    """The per-operation timeout argument for httpx, and the end-to-end bound of one attempt."""
    if timeout is None:
        # The httpx client's own settings (ours: 60 s, 10 s to connect).
        return httpx.USE_CLIENT_DEFAULT, _end_to_end(http_client.timeout)
    if isinstance(timeout, httpx.Timeout):
        return timeout, _end_to_end(timeout)
    return httpx.Timeout(timeout, connect=min(DEFAULT_CONNECT_TIMEOUT, timeout)), timeout


def _end_to_end(timeout: httpx.Timeout) -> float | None:
    parts = [part for part in (timeout.connect, timeout.read, timeout.write, timeout.pool) if part]
    return max(parts) if parts else None
