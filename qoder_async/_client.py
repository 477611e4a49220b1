"""QoderClient: configuration, lifecycle and the resource namespaces."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import attrs
import httpx

from qoder_async import _retry
from qoder_async._config import check_base_url, check_pat, is_loopback_host
from qoder_async._decode import DEFAULT_MAX_RESPONSE_BYTES
from qoder_async._deployments import Deployments
from qoder_async._errors import ClientClosedError
from qoder_async._logging import configure_from_env
from qoder_async._params import check_header_value, check_seconds
from qoder_async._ratelimit import RateLimit
from qoder_async._raw import QoderClientWithRawResponse
from qoder_async._retry import RetryPolicy
from qoder_async._runs import DeploymentRuns
from qoder_async._sentinel import NOT_GIVEN, NotGiven
from qoder_async._taskgroup import BackgroundHost, HelperTaskGroup
from qoder_async._transport import Settings, Transport

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

    from qoder_async._taskgroup import Spawner

__all__ = ["DEFAULT_BASE_URL", "QoderClient"]

DEFAULT_BASE_URL = "https://api.qoder.com/api/v1/cloud"
DEFAULT_MAX_CONNECTIONS = 100


class QoderClient:
    """An async client of the Qoder Cloud Agents API (deployments and their runs).

    Use it as `async with QoderClient() as client:`. The PAT comes from `pat=` or
    `$QODER_PAT` (printable ASCII without whitespace) and the base URL from `base_url=` or
    `$QODER_BASE_URL` (default `https://api.qoder.com/api/v1/cloud`; plain `http://` only
    to this machine unless `allow_insecure_http=True`).

    Time: `timeout` (seconds, or an `httpx.Timeout`; 60 by default, None with an
    `http_client` keeps that client's own) bounds each attempt end to end, body included;
    `deadline` (seconds, default none) bounds a whole call, retries and waits included.
    Retries: `retry=RetryPolicy(...)`, or just `max_retries` (default 2); Retry-After is
    honoured up to the policy's `max_retry_after`, beyond which the error is raised at once.

    Budget: `rate_limit` (a `RateLimit`, default the documented 50 GET/s and 20 writes/s,
    paced and adaptive) is shared by everything this client sends; it is off by default
    for loopback hosts and for an `http_client` with an in-process transport, and
    `rate_limit=None` turns it off. `max_connections` sizes the connection pool, and no
    more requests than that are ever in flight at once. `max_response_bytes` (64 MiB)
    caps a response body, enforced while reading. A caller's `http_client` is used as is
    and never closed by this client.

    Listings prefetch their next page in background tasks the client owns: inside
    `async with`, in the block's task group; used without it (say, created in a web app's
    startup and closed with `aclose()`), in a task group the client starts on first need.
    Either way `aclose()` (or leaving the block) cancels them and waits for them.
    `workspace_id` and `betas` send the `qoder-workspace-id` and `x-qoder-beta` headers
    that the official SDKs send; the docs do not mention them (spec 1), so both are
    optional pass-throughs. Raises ValueError/TypeError for a missing or bad option, before
    any I/O; using the client after `aclose()` raises ClientClosedError.
    """

    def __init__(
        self,
        *,
        pat: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | None = None,
        deadline: float | None = None,
        rate_limit: RateLimit | NotGiven | None = NOT_GIVEN,
        max_connections: int | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        http_client: httpx.AsyncClient | None = None,
        workspace_id: str | None = None,
        betas: Sequence[str] = (),
        allow_insecure_http: bool = False,
    ) -> None:
        pat = pat if pat is not None else os.environ.get("QODER_PAT") or None
        if pat is None:
            msg = "no PAT: pass pat= or set the QODER_PAT environment variable"
            raise ValueError(msg)
        pat = check_pat(pat)
        if not isinstance(allow_insecure_http, bool):
            msg = f"allow_insecure_http must be a bool, got {type(allow_insecure_http).__name__}"
            raise TypeError(msg)
        base_url = check_base_url(
            base_url or os.environ.get("QODER_BASE_URL") or DEFAULT_BASE_URL,
            allow_insecure_http=allow_insecure_http,
        )
        settings = Settings(
            timeout=_check_timeout(timeout),
            retry=_combine_retry(_retry.DEFAULT_RETRY, retry, max_retries),
            deadline=_check_deadline(deadline),
        )
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            msg = f"http_client must be an httpx.AsyncClient, got {type(http_client).__name__}"
            raise TypeError(msg)
        if max_connections is None:
            max_connections = _pool_size(http_client) or DEFAULT_MAX_CONNECTIONS
        else:
            max_connections = _check_count(max_connections, "max_connections")
        max_response_bytes = _check_count(max_response_bytes, "max_response_bytes")
        if rate_limit is NOT_GIVEN:
            rate_limit = None if _is_local(base_url, http_client) else RateLimit()
        elif rate_limit is not None and not isinstance(rate_limit, RateLimit):
            msg = f"rate_limit must be a RateLimit or None, got {type(rate_limit).__name__}"
            raise TypeError(msg)
        extra_headers = {}
        if workspace_id is not None:
            extra_headers["qoder-workspace-id"] = check_header_value(workspace_id, "workspace_id")
        if isinstance(betas, (str, bytes)) or not isinstance(betas, Sequence):
            msg = f"betas must be a list of str, got {type(betas).__name__}"
            raise TypeError(msg)
        if betas:
            extra_headers["x-qoder-beta"] = ",".join(
                check_header_value(beta, "betas item") for beta in betas
            )
        configure_from_env()
        transport = Transport.open(
            pat=pat,
            base_url=base_url,
            settings=settings,
            max_connections=max_connections,
            http_client=http_client,
            headers=extra_headers,
            rate_limit=rate_limit,
            max_response_bytes=max_response_bytes,
        )
        self._setup(transport, parent=None)

    def _setup(self, transport: Transport, *, parent: QoderClient | None) -> None:
        """Set every attribute: the one initializer of clients and of their views."""
        self._transport = transport
        # Set on with_options() views: they prefetch in, and live as long as, the client.
        self._parent = parent
        self._helpers = HelperTaskGroup()
        self._host = BackgroundHost()
        self.deployments = Deployments(transport, self._prefetch_group)
        self.deployment_runs = DeploymentRuns(transport, self._prefetch_group)
        self._raw: QoderClientWithRawResponse | None = None

    @property
    def base_url(self) -> str:
        """The API base URL requests are sent to."""
        return self._transport.base_url

    @property
    def max_connections(self) -> int:
        """The most requests this client has in flight at once (its pool size)."""
        return self._transport.max_connections

    @property
    def rate_limit(self) -> RateLimit | None:
        """The client's budget, or None when it is off."""
        budget = self._transport.budget
        return budget.config if budget is not None else None

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy of this client (or view)."""
        return self._transport.retry

    @property
    def with_raw_response(self) -> QoderClientWithRawResponse:
        """The client's methods again, each returning the `APIResponse[T]` of its request.

        `await client.with_raw_response.deployments.get(dep_id)` gives the status code,
        headers, request id and elapsed time of the response, and the Deployment through
        `.parse()`; a list method gives the response of its first page. Same arguments and
        errors as the method itself; shares this client's (or view's) settings.
        """
        raw = self._raw
        if raw is None:
            transport = self._transport
            raw = self._raw = QoderClientWithRawResponse(
                Deployments(transport, self._prefetch_group, raw=True),
                DeploymentRuns(transport, self._prefetch_group, raw=True),
            )
        return raw

    def with_options(
        self,
        *,
        timeout: float | httpx.Timeout | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | NotGiven = NOT_GIVEN,
        deadline: float | NotGiven | None = NOT_GIVEN,
    ) -> QoderClient:
        """A view of this client with another timeout, retry policy or deadline.

        It shares the client's connections, budget, pause and lifecycle; options left out
        keep their value. Listings made through it keep those settings for all their pages. `max_retries`
        changes only the count of the current policy; passing it with a `retry` of another
        count is a ValueError. Closing a view does nothing: close the client.
        """
        settings = self._transport.settings
        settings = attrs.evolve(
            settings,
            timeout=settings.timeout if timeout is NOT_GIVEN else _check_timeout(timeout),
            retry=_combine_retry(
                settings.retry, None if retry is NOT_GIVEN else retry, max_retries
            ),
            deadline=settings.deadline if deadline is NOT_GIVEN else _check_deadline(deadline),
        )
        view = QoderClient.__new__(QoderClient)
        view._setup(self._transport.copy(settings), parent=self)
        return view

    def _prefetch_group(self) -> Spawner | None:
        if self._parent is not None:
            return self._parent._prefetch_group()
        group = self._helpers.group
        if group is not None:
            return group
        if self._transport.closed:
            return None
        # Not entered with `async with`: prefetch in the client's own background host.
        return self._host.spawner()

    async def __aenter__(self) -> Self:
        if self._transport.closed:
            msg = "this QoderClient is closed; create a new one"
            raise ClientClosedError(msg)
        if self._helpers.group is not None:
            msg = "a QoderClient can be entered only once"
            raise RuntimeError(msg)
        await self._helpers.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            # Prefetch tasks are bounded, but nobody will wait for their pages any more.
            await self._helpers.__aexit__(exc_type, exc, tb)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Cancel background prefetches and close the connection pool; idempotent.

        Waits until every prefetch task has ended. A caller's `http_client` is left open.
        On a `with_options` view this does nothing: the client it came from owns the pool.
        """
        if self._parent is not None:
            return
        # Cancelled first, awaited last: a consumer that a cancelled prefetch leaves waiting
        # then fetches in place and meets the closed transport (ClientClosedError).
        self._host.cancel()
        try:
            await self._transport.aclose()
        finally:
            await self._host.aclose()

    def __repr__(self) -> str:
        # Never the PAT: reprs end up in logs and tracebacks.
        transport = self._transport
        return (
            f"QoderClient(base_url={self.base_url!r}, timeout={transport.timeout!r}, "
            f"max_retries={transport.max_retries!r}, deadline={transport.deadline!r}, "
            f"rate_limit={self.rate_limit!r}, max_connections={self.max_connections!r})"
        )


def _check_timeout(timeout: object) -> float | httpx.Timeout | None:
    """A timeout is None, an httpx.Timeout, or a positive number of seconds."""
    if timeout is None or isinstance(timeout, httpx.Timeout):
        return timeout
    return check_seconds(timeout, "timeout")


def _check_deadline(deadline: object) -> float | None:
    return None if deadline is None else check_seconds(deadline, "deadline")


def _combine_retry(
    base: RetryPolicy, retry: RetryPolicy | None, max_retries: int | NotGiven
) -> RetryPolicy:
    """The policy from `retry=` and/or `max_retries=`; ValueError if they contradict."""
    if retry is not None and not isinstance(retry, RetryPolicy):
        msg = f"retry must be a RetryPolicy, got {type(retry).__name__}"
        raise TypeError(msg)
    if max_retries is NOT_GIVEN:
        return retry if retry is not None else base
    if isinstance(max_retries, bool) or not isinstance(max_retries, int):
        msg = f"max_retries must be an int, got {type(max_retries).__name__}"
        raise TypeError(msg)
    if max_retries < 0:
        msg = f"max_retries must be >= 0, got {max_retries!r}"
        raise ValueError(msg)
    if retry is None:
        return attrs.evolve(base, max_retries=max_retries)
    if retry.max_retries != max_retries:
        msg = (
            f"max_retries={max_retries} contradicts retry=RetryPolicy(max_retries="
            f"{retry.max_retries}): pass one of them"
        )
        raise ValueError(msg)
    return retry


def _check_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{name} must be an int, got {type(value).__name__}"
        raise TypeError(msg)
    if value < 1:
        msg = f"{name} must be >= 1, got {value}"
        raise ValueError(msg)
    return value


def _is_local(base_url: str, http_client: httpx.AsyncClient | None) -> bool:
    """Whether requests stay on this machine: a loopback host, or an in-process transport."""
    if is_loopback_host(urlsplit(base_url).hostname or ""):
        return True
    # A caller's client whose transport is not httpx's network one (MockTransport, the
    # fake's in-process transport, ASGI) never reaches the gateway the budget protects.
    return http_client is not None and not isinstance(
        getattr(http_client, "_transport", None), httpx.AsyncHTTPTransport
    )


def _pool_size(http_client: httpx.AsyncClient | None) -> int | None:
    """The caller's pool size, read from httpx internals; None if they are not as expected."""
    if http_client is None:
        return None
    pool = getattr(getattr(http_client, "_transport", None), "_pool", None)
    size = getattr(pool, "_max_connections", None)
    return size if isinstance(size, int) and size > 0 else None
