"""One logical request: headers, auth, deadlines, retries with back-off, the budget, decoding.

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
import logging
import platform
import uuid
from contextvars import ContextVar
from typing import TYPE_CHECKING, Final, TypeAlias

import anyio
import attrs
import httpx

from qoder_async import _errors
from qoder_async._decode import (
    DEFAULT_MAX_RESPONSE_BYTES,
    MAX_ERROR_BODY,
    BodyTooLargeError,
    api_error,
    read_body,
    success_json,
)
from qoder_async._gate import BackoffGate
from qoder_async._logging import log, log_attempt
from qoder_async._ratelimit import Budget, RateLimit, Spacing
from qoder_async._retry import DEFAULT_RETRY, RetryPolicy, retry_after, should_retry

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

# Set by a prefetch task: called once its request is on the wire, or parked behind a limit
# or a back-off hold, so that the consumer can hand out the current page only then
# (see Prefetcher). Without it, a consumer that computes without awaiting would starve
# the task and the request would leave only after the page was consumed.
on_launch: ContextVar[Callable[[], None] | None] = ContextVar("on_launch", default=None)


def launched() -> None:
    """Tell the waiting consumer, if any, that this task's request can go no further now."""
    callback = on_launch.get()
    if callback is not None:
        callback()


async def _trace(event: str, info: object) -> None:
    # httpcore reports each step; the request is on the wire once its body is sent.
    if event.endswith("send_request_body.complete"):
        launched()


VERSION: Final = "0.1.0"
USER_AGENT: Final = (
    f"qoder-async/{VERSION} (python {platform.python_version()}; httpx {httpx.__version__})"
)
DEFAULT_TIMEOUT: Final = 60.0
DEFAULT_CONNECT_TIMEOUT: Final = 10.0

# 429 and 503 are the gateway's overload signals (spec 2.2): they pause the whole client.
_OVERLOAD_STATUSES: Final = frozenset({429, 503})
# A connection dropped by the peer: the gateway's third overload signal (spec 2.2, 7.7).
_RESETS: Final = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)

Timeout: TypeAlias = "float | httpx.Timeout | None"


@attrs.frozen(kw_only=True)
class Settings:
    """The per-view policy of a transport: what `with_options` may change."""

    timeout: Timeout = None
    retry: RetryPolicy = DEFAULT_RETRY
    deadline: float | None = None


class _Shared:
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

    def __init__(self, shared: _Shared, settings: Settings, *, root: bool = False) -> None:
        self._shared = shared
        self.settings = settings
        # Only the transport that created the shared state closes it.
        self._root = root
        self.retry = settings.retry
        self.deadline = settings.deadline
        self._timeout_arg, self._attempt_limit = _timeouts(settings.timeout, shared.http_client)

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
        shared = _Shared(
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
        return Transport(self._shared, settings)

    @property
    def base_url(self) -> str:
        """The API base URL, without a trailing slash."""
        return self._shared.base_url

    @property
    def http_client(self) -> httpx.AsyncClient:
        """The httpx client every view sends through."""
        return self._shared.http_client

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        """The in-flight limit (the pool size), shared by every view."""
        return self._shared.limiter

    @property
    def max_connections(self) -> int:
        """The most requests in flight at once."""
        return self._shared.max_connections

    @property
    def gate(self) -> BackoffGate:
        """The client-wide overload pause, shared by every view."""
        return self._shared.gate

    @gate.setter
    def gate(self, gate: BackoffGate) -> None:
        self._shared.gate = gate

    @property
    def budget(self) -> Budget | None:
        """The client's rate budget, or None when it is off."""
        return self._shared.budget

    @property
    def max_response_bytes(self) -> int:
        """The largest successful response body read, in bytes."""
        return self._shared.max_response_bytes

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
        return self._shared.closed

    def spacing(self) -> Spacing | None:
        """A Spacing for one new cursor chain (bulk paging, spec 2.2), or None when off."""
        budget = self._shared.budget
        return budget.spacing() if budget is not None else None

    async def aclose(self) -> None:
        """Close the client's state: a view does nothing; idempotent."""
        shared = self._shared
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
    ) -> object:
        """Send one logical request, retrying what is safe to retry, and decode its JSON.

        Every POST carries an Idempotency-Key (generated unless given) that stays the same
        across retries, which makes retrying a POST safe (spec 1, idempotency). 409 is never
        retried. `deadline` (seconds; default the view's) bounds the whole call, `spacing`
        paces the requests of one cursor chain. Raises APIError subclasses,
        APIConnectionError/APITimeoutError once retries are spent or the deadline is
        reached, ResponseValidationError for a body that cannot be used, and
        ClientClosedError after the client was closed.
        """
        if self._shared.closed:
            msg = "this QoderClient is closed: create a new QoderClient to send requests"
            raise _errors.ClientClosedError(msg)
        headers = dict(self._shared.headers)
        request_id = str(uuid.uuid4())
        headers["x-request-id"] = request_id
        content: bytes | None = None
        if json_body is not None:
            content = json.dumps(json_body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        if method != "GET":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        call = _Call(self, method, path, params, content, headers, request_id, spacing)
        limit = deadline if deadline is not None else self.deadline
        if limit is None:
            return await call.run()
        call.deadline_at = anyio.current_time() + limit
        with anyio.CancelScope(deadline=call.deadline_at):
            return await call.run()
        # Reached only when the deadline cancelled the call while it waited or read.
        msg = f"{method} {path} did not complete within its deadline of {limit} s"
        raise _errors.APITimeoutError(msg) from call.last_error


class _AttemptTimeoutError(Exception):
    """One attempt's I/O took longer than its timeout (internal)."""


class _Call:
    """The attempts of one logical request."""

    def __init__(
        self,
        transport: Transport,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        content: bytes | None,
        headers: dict[str, str],
        request_id: str,
        spacing: Spacing | None,
    ) -> None:
        self.transport = transport
        self.shared = transport._shared
        self.method = method
        self.path = path
        self.params = params
        self.content = content
        self.headers = headers
        self.request_id = request_id
        self.spacing = spacing
        self.deadline_at: float | None = None
        self.last_error: _errors.QoderError | None = None
        self.tracking = on_launch.get() is not None
        self.extensions = {"trace": _trace} if self.tracking and self.shared.traced else None

    async def run(self) -> object:
        retry = self.transport.retry
        method, path = self.method, self.path
        budget = self.shared.budget
        bucket = budget.bucket(method) if budget is not None else None
        attempt = 0
        while True:
            if attempt:
                # As the official SDKs do (spec 7.5): lets the server tell retries apart.
                self.headers["X-Qoder-Retry-Count"] = str(attempt)
            error: _errors.QoderError
            response: httpx.Response | None = None
            started = anyio.current_time()
            reset = False
            try:
                await self._wait_out_pause()
                if self.spacing is not None:
                    await self._wait_for_spacing(self.spacing)
                limiter = self.shared.limiter
                if not limiter.available_tokens:
                    launched()
                async with limiter:
                    # Inside the limiter: a request that queued for a connection while a
                    # hold began must still wait it out.
                    if self.shared.gate.holding:
                        await self._wait_out_pause()
                    if bucket is not None:
                        if not bucket.ready(anyio.current_time()):
                            launched()
                        await bucket.acquire()
                    if self.spacing is not None:
                        self.spacing.sent(anyio.current_time())
                    if self.tracking and not self.shared.traced:
                        launched()
                    started = anyio.current_time()
                    response, body, truncated = await self._exchange()
            except _AttemptTimeoutError:
                error = _errors.APITimeoutError(f"{method} {path} timed out")
                retryable = True
            except httpx.TimeoutException as exc:
                error = _errors.APITimeoutError(f"{method} {path} timed out")
                error.__cause__ = exc
                retryable = True
            except httpx.LocalProtocolError as exc:
                # We could not even form the request: retrying the same bytes cannot help.
                msg = f"{method} {path} could not be sent: {exc}"
                raise _errors.APIConnectionError(msg) from exc
            except httpx.TransportError as exc:
                error = _errors.APIConnectionError(f"{method} {path} failed: {exc!r}")
                error.__cause__ = exc
                retryable = True
                reset = isinstance(exc, _RESETS)
            except httpx.DecodingError as exc:
                msg = f"{method} {path}: the response body could not be decoded ({exc})"
                raise _errors.ResponseValidationError(msg) from exc
            except BodyTooLargeError as exc:
                size = f"{exc.declared} bytes" if exc.declared is not None else "a body"
                msg = (
                    f"{method} {path} answered with {size}, over the client's "
                    f"max_response_bytes of {exc.limit}"
                )
                raise _errors.ResponseValidationError(msg) from None
            except httpx.RequestError as exc:
                # Anything else httpx raises for a request (e.g. too many redirects).
                msg = f"{method} {path} failed: {exc!r}"
                raise _errors.APIConnectionError(msg) from exc
            else:
                if budget is not None and bucket is not None:
                    budget.observe(bucket, response, reset=False)
                if response.is_success:
                    self._log(str(response.status_code), started, attempt)
                    return success_json(body, method, path, response.status_code)
                error = api_error(
                    response, body, truncated=truncated, sent_request_id=self.request_id
                )
                retryable = should_retry(response)
            if reset and budget is not None and bucket is not None:
                budget.observe(bucket, None, reset=True)
            self._log(
                str(response.status_code) if response is not None else type(error).__name__,
                started,
                attempt,
            )
            self.last_error = error
            delay = self._retry_delay(error, response, attempt, retryable)
            log.info(
                "retrying %s %s in %.2fs after %s (attempt %d of %d)",
                method,
                path,
                delay,
                response.status_code if response is not None else type(error).__name__,
                attempt + 1,
                retry.max_retries,
            )
            if not (response is not None and response.status_code in _OVERLOAD_STATUSES):
                await anyio.sleep(delay)
            attempt += 1

    def _retry_delay(
        self,
        error: _errors.QoderError,
        response: httpx.Response | None,
        attempt: int,
        retryable: bool,
    ) -> float:
        """How long to wait before the next attempt; raises `error` when there is none."""
        retry = self.transport.retry
        hinted = retry_after(response.headers) if response is not None else None
        delay = hinted if hinted is not None else retry.backoff(attempt)
        overloaded = response is not None and response.status_code in _OVERLOAD_STATUSES
        if overloaded:
            assert isinstance(error, _errors.APIError)  # noqa: S101 - it has a response
            # Every request of this client waits it out, whether or not this one retries.
            self.shared.gate.hold_for(error, delay)
        if not retryable or attempt >= retry.max_retries:
            raise error
        if hinted is not None and hinted > retry.max_retry_after:
            # Longer than the policy honours: raise now rather than retry early (spec 7.6).
            raise error
        if self.deadline_at is not None and anyio.current_time() + delay >= self.deadline_at:
            # The retry could only start past the deadline.
            raise error
        return delay

    async def _wait_out_pause(self) -> None:
        """Wait for the client-wide pause to end, if it ends in time; else raise its cause."""
        gate = self.shared.gate
        remaining = gate.remaining()
        if remaining <= 0:
            return
        cause = gate.cause
        if cause is not None and cause is self.last_error:
            # Our own retry after our own 429/503: the policy (and deadline) allowed it.
            bound = self.transport.retry.max_retry_after
        else:
            limit = self.transport._attempt_limit
            bound = limit if limit is not None else float("inf")
        if self.deadline_at is not None:
            bound = min(bound, self.deadline_at - anyio.current_time())
        if remaining <= bound:
            launched()
            with anyio.move_on_after(bound):
                await gate.wait()
                return
        raise self._pause_error(gate)

    def _pause_error(self, gate: BackoffGate) -> _errors.QoderError:
        remaining = max(gate.remaining(), 0.0)
        cause = gate.cause
        if cause is not None:
            return cause._again(retry_after=remaining)
        msg = (
            f"{self.method} {self.path} was not sent: the client is paused for "
            f"{remaining:.2f} s more, longer than this request may wait"
        )
        return _errors.APITimeoutError(msg)

    async def _wait_for_spacing(self, spacing: Spacing) -> None:
        delay = spacing.delay(anyio.current_time())
        if delay > 0:
            launched()
            await anyio.sleep(delay)

    async def _exchange(self) -> tuple[httpx.Response, bytes, bool]:
        """One attempt on the wire, bounded end to end: the response and its (capped) body."""
        shared, transport = self.shared, self.transport
        request = shared.http_client.build_request(
            self.method,
            shared.base_url + self.path,
            params=self.params,
            content=self.content,
            headers=self.headers,
            timeout=transport._timeout_arg,
            extensions=self.extensions,
        )
        response: httpx.Response | None = None
        truncated = False
        with anyio.move_on_after(transport._attempt_limit) as scope:
            try:
                response = await shared.http_client.send(request, stream=True)
                if response.is_success:
                    body, _ = await read_body(response, shared.max_response_bytes, truncate=False)
                else:
                    try:
                        body, truncated = await read_body(response, MAX_ERROR_BODY, truncate=True)
                    except httpx.DecodingError:
                        # An error body we cannot even decompress must not stop a retry.
                        body = b""
            finally:
                # A body read to its end has closed the response already.
                if response is not None and not response.is_closed:
                    with anyio.CancelScope(shield=True):
                        await response.aclose()
        if scope.cancelled_caught:
            raise _AttemptTimeoutError
        assert response is not None  # noqa: S101 - set unless the scope was cancelled
        return response, body, truncated

    def _log(self, outcome: str, started: float, attempt: int) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log_attempt(
                self.method,
                self.path,
                self.params,
                outcome,
                started,
                anyio.current_time(),
                self.request_id,
                attempt + 1,
            )


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
