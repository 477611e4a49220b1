"""One logical request: headers, auth, retries with back-off, error mapping and JSON decoding."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import platform
import random
import uuid
from contextvars import ContextVar
from typing import TYPE_CHECKING, Final

import anyio
import httpx

from qoder_async import _errors

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from httpx._client import UseClientDefault

__all__ = ["BackoffGate", "Transport", "launched", "on_launch"]

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

log = logging.getLogger("qoder_async")

# Back-off without a server hint: 0.5 s doubling to 8 s, full jitter on the top quarter
# (spec 2.2 asks for exponential back-off on 429 and 5xx).
INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 8.0
DEFAULT_TIMEOUT = 60.0
# A Retry-After beyond this is treated as "do not wait that long": we fall back to our own
# back-off rather than stall a caller for minutes on one header.
MAX_RETRY_AFTER = 60.0

_STATUS_ERRORS: Final[Mapping[int, type[_errors.APIError]]] = {
    400: _errors.BadRequestError,
    401: _errors.AuthenticationError,
    403: _errors.PermissionDeniedError,
    404: _errors.NotFoundError,
    409: _errors.ConflictError,
    413: _errors.RequestTooLargeError,
    422: _errors.UnprocessableEntityError,
    429: _errors.RateLimitError,
    529: _errors.OverloadedError,
}

# 429 and 503 are the gateway's overload signals (spec 2.2): they pause the whole client.
_OVERLOAD_STATUSES: Final = frozenset({429, 503})


class BackoffGate:
    """A client-wide pause: once the server signals overload, every request waits it out.

    Shared by all tasks using one client (and its `with_options` copies), so a 429 seen by
    one fan-out worker slows every worker instead of each retrying on its own.
    """

    def __init__(self) -> None:
        self._resume_at = 0.0

    def hold(self, delay: float) -> None:
        """Keep requests from starting for `delay` seconds from now (never shortens a hold)."""
        self._resume_at = max(self._resume_at, anyio.current_time() + delay)

    @property
    def holding(self) -> bool:
        """Whether a hold is in force now."""
        return self._resume_at > anyio.current_time()

    async def wait(self) -> None:
        """Return once no hold is in force; returns at once when none is."""
        # A loop, not an Event: another task may extend the hold while this one sleeps.
        while (remaining := self._resume_at - anyio.current_time()) > 0:  # noqa: ASYNC110
            await anyio.sleep(remaining)


class Transport:
    """Sends one logical API request through a pooled httpx client, with retries.

    Owns the httpx client unless one was passed in. `request` returns decoded JSON or raises
    an exception from `qoder_async._errors`; it never returns an error response.
    """

    def __init__(
        self,
        *,
        pat: str,
        base_url: str,
        timeout: float | None,
        max_retries: int,
        max_connections: int,
        http_client: httpx.AsyncClient | None,
        headers: Mapping[str, str] | None = None,
        gate: BackoffGate | None = None,
        limiter: anyio.CapacityLimiter | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.timeout = timeout
        self._timeout_arg = _timeout_arg(timeout)
        self.max_connections = max_connections
        self.gate = gate if gate is not None else BackoffGate()
        self._owns_client = http_client is None
        if http_client is None:
            http_client = httpx.AsyncClient(
                timeout=httpx.Timeout(timeout or DEFAULT_TIMEOUT, connect=10.0),
                limits=httpx.Limits(
                    max_connections=max_connections, max_keepalive_connections=max_connections
                ),
            )
        self.http_client = http_client
        # httpcore (behind httpx's own transport) reports when a request is on the wire;
        # other transports (mocks, in-process fakes) are "sent" once they are called.
        self._traced = isinstance(
            getattr(http_client, "_transport", None), httpx.AsyncHTTPTransport
        )
        # Never more requests in flight than the pool has connections: a caller can then
        # not run into httpx's PoolTimeout by fanning out, whatever it does.
        self.limiter = limiter if limiter is not None else anyio.CapacityLimiter(max_connections)
        self._headers = {
            "Authorization": f"Bearer {pat}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            **(headers or {}),
        }

    def copy(self, *, timeout: float | None, max_retries: int) -> Transport:
        """A transport sharing this one's connections, limiter and back-off, with new policy."""
        clone = object.__new__(Transport)
        clone.__dict__.update(self.__dict__)
        clone.timeout = timeout
        clone._timeout_arg = _timeout_arg(timeout)
        clone.max_retries = max_retries
        clone._owns_client = False
        return clone

    async def aclose(self) -> None:
        """Close the httpx client if this transport created it; idempotent."""
        if self._owns_client:
            await self.http_client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: object = None,
        idempotency_key: str | None = None,
    ) -> object:
        """Send one logical request, retrying what is safe to retry, and decode its JSON.

        Every POST carries an Idempotency-Key (generated unless given) that stays the same
        across retries, which makes retrying a POST safe (spec 1, idempotency). 409 is never
        retried. Raises APIError subclasses, APIConnectionError/APITimeoutError once retries
        are spent, or ResponseValidationError for a 2xx body that is not JSON.
        """
        headers = dict(self._headers)
        request_id = str(uuid.uuid4())
        headers["x-request-id"] = request_id
        content: bytes | None = None
        if json_body is not None:
            content = json.dumps(json_body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        if method != "GET":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        url = self.base_url + path
        tracking = on_launch.get() is not None
        extensions = {"trace": _trace} if tracking and self._traced else None

        attempt = 0
        while True:
            if attempt:
                # As the official SDKs do (spec 7.5): lets the server tell retries apart.
                headers["X-Qoder-Retry-Count"] = str(attempt)
            error: _errors.QoderError
            response: httpx.Response | None = None
            try:
                if not self.limiter.available_tokens:
                    launched()
                async with self.limiter:
                    # Inside the limiter: a request that queued for a connection while a
                    # hold began must still wait it out.
                    if self.gate.holding:
                        launched()
                        await self.gate.wait()
                    if tracking and not self._traced:
                        launched()
                    response = await self.http_client.request(
                        method,
                        url,
                        params=params,
                        content=content,
                        headers=headers,
                        timeout=self._timeout_arg,
                        extensions=extensions,
                    )
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
            except httpx.DecodingError as exc:
                msg = f"{method} {path}: the response body could not be decoded ({exc})"
                raise _errors.ResponseValidationError(msg) from exc
            except httpx.RequestError as exc:
                # Anything else httpx raises for a request (e.g. too many redirects).
                msg = f"{method} {path} failed: {exc!r}"
                raise _errors.APIConnectionError(msg) from exc
            else:
                if response.is_success:
                    return _decode(response, method, path)
                error = _api_error(response, request_id)
                retryable = _should_retry(response)

            overloaded = response is not None and response.status_code in _OVERLOAD_STATUSES
            delay = _retry_delay(response, attempt)
            if overloaded:
                # Every request of this client waits it out, whether or not this one retries.
                self.gate.hold(delay)
            if not retryable or attempt >= self.max_retries:
                raise error
            log.info(
                "retrying %s %s in %.2fs after %s (attempt %d of %d)",
                method,
                path,
                delay,
                response.status_code if response is not None else type(error).__name__,
                attempt + 1,
                self.max_retries,
            )
            if not overloaded:
                await anyio.sleep(delay)
            attempt += 1


def _timeout_arg(timeout: float | None) -> httpx.Timeout | UseClientDefault:
    """None keeps the httpx client's own timeout (a caller's client keeps its settings)."""
    if timeout is None:
        return httpx.USE_CLIENT_DEFAULT
    return httpx.Timeout(timeout, connect=min(10.0, timeout))


def _decode(response: httpx.Response, method: str, path: str) -> object:
    try:
        return json.loads(response.content)
    except ValueError as exc:
        msg = f"{method} {path} answered {response.status_code} with a body that is not JSON"
        raise _errors.ResponseValidationError(msg) from exc


def _should_retry(response: httpx.Response) -> bool:
    if response.status_code == 409:
        return False
    # The server may say outright whether a retry can help (spec 2.2, SDK behaviour).
    hint = response.headers.get("x-should-retry")
    if hint == "true":
        return True
    if hint == "false":
        return False
    return response.status_code in (408, 429) or response.status_code >= 500


def _retry_after(response: httpx.Response | None) -> float | None:
    """The server's requested delay in seconds, from retry-after-ms or Retry-After."""
    if response is None:
        return None
    headers = response.headers
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return float(raw_ms) / 1000
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return (when - dt.datetime.now(dt.timezone.utc)).total_seconds()


def _retry_delay(response: httpx.Response | None, attempt: int) -> float:
    hinted = _retry_after(response)
    if hinted is not None and 0 <= hinted <= MAX_RETRY_AFTER:
        return hinted
    backoff = min(INITIAL_BACKOFF * 2.0**attempt, MAX_BACKOFF)
    # Jitter spreads the retries of many concurrent callers apart.
    return backoff * (0.75 + 0.25 * random.random())  # noqa: S311


def _api_error(response: httpx.Response, sent_request_id: str) -> _errors.APIError:
    status = response.status_code
    error_type = message = code = param = body_request_id = None
    body: object = None
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        envelope = body.get("error")
        if isinstance(envelope, dict):
            error_type = _str_or_none(envelope.get("type"))
            message = _str_or_none(envelope.get("message"))
            code = _str_or_none(envelope.get("code"))
            param = _str_or_none(envelope.get("param"))
        body_request_id = _str_or_none(body.get("request_id"))
    # Header first, then body, then our own (spec 2.1: the server echoes ours or makes one).
    request_id = (
        response.headers.get("x-request-id")
        or response.headers.get("request-id")
        or body_request_id
        or sent_request_id
    )
    if message is None:
        message = response.reason_phrase or "HTTP error"
    cls = _STATUS_ERRORS.get(status, _errors.ServerError if status >= 500 else _errors.APIError)
    if cls is _errors.RateLimitError:
        return _errors.RateLimitError(
            message,
            status_code=status,
            error_type=error_type,
            code=code,
            param=param,
            request_id=request_id,
            body=body,
            retry_after=_retry_after(response),
        )
    return cls(
        message,
        status_code=status,
        error_type=error_type,
        code=code,
        param=param,
        request_id=request_id,
        body=body,
    )


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
