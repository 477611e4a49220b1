"""The attempts of one logical request: waits, the exchange, and what each failure means.

See `_transport` for what bounds a request in time; this module does the waiting (the
client-wide pause, the chain's spacing, a connection slot, the rate budget), sends each
attempt under its end-to-end timeout, maps the outcome, and decides about retrying
(`_retry`), writing one DEBUG line per attempt (`_logging`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

import anyio
import httpx

from qoder_async import _errors
from qoder_async._decode import (
    MAX_ERROR_BODY,
    BodyTooLargeError,
    api_error,
    read_body,
    success_json,
)
from qoder_async._launch import launched, on_launch, trace
from qoder_async._logging import log, log_attempt
from qoder_async._retry import retry_after, should_retry

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from qoder_async._gate import BackoffGate
    from qoder_async._ratelimit import Spacing
    from qoder_async._transport import Transport

__all__ = ["Call"]

# 429 and 503 are the gateway's overload signals (spec 2.2): they pause the whole client.
OVERLOAD_STATUSES: Final = frozenset({429, 503})
# A connection dropped by the peer: the gateway's third overload signal (spec 2.2, 7.7).
_RESETS: Final = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class _AttemptTimeoutError(Exception):
    """One attempt's I/O took longer than its timeout (internal)."""


class Call:
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
        self.shared = transport.shared
        self.method = method
        self.path = path
        self.params = params
        self.content = content
        self.headers = headers
        self.request_id = request_id
        self.spacing = spacing
        self.deadline_at: float | None = None
        self.last_error: _errors.QoderError | None = None
        # The successful attempt's response and its seconds on the wire (`request_raw`).
        self.response: httpx.Response | None = None
        self.elapsed = 0.0
        # Decodes a successful body straight into the model (the msgspec fast path), or None.
        self.decode: Callable[[bytes], object] | None = None
        self.tracking = on_launch.get() is not None
        self.extensions = {"trace": trace} if self.tracking and self.shared.traced else None

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
                    self.response, self.elapsed = response, anyio.current_time() - started
                    if self.decode is not None:
                        try:
                            return self.decode(body)
                        except Exception:  # noqa: S110 - the default path below decides
                            # What the fast path refuses is decoded and checked as if it
                            # were off, so errors and hostile bodies are handled one way.
                            pass
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
            if not (response is not None and response.status_code in OVERLOAD_STATUSES):
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
        overloaded = response is not None and response.status_code in OVERLOAD_STATUSES
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
            limit = self.transport.attempt_limit
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
            timeout=transport.timeout_arg,
            extensions=self.extensions,
        )
        response: httpx.Response | None = None
        truncated = False
        with anyio.move_on_after(transport.attempt_limit) as scope:
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
