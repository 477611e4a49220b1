"""QoderClient: configuration, lifecycle and the resource namespaces."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import httpx

from qoder_async._deployments import Deployments
from qoder_async._params import check_header_value, check_seconds
from qoder_async._runs import DeploymentRuns
from qoder_async._taskgroup import HelperTaskGroup
from qoder_async._transport import Transport

if TYPE_CHECKING:
    from types import TracebackType

    from anyio.abc import TaskGroup
    from typing_extensions import Self

__all__ = ["DEFAULT_BASE_URL", "QoderClient"]

DEFAULT_BASE_URL = "https://api.qoder.com/api/v1/cloud"
DEFAULT_MAX_CONNECTIONS = 100
_KEEP = object()


class QoderClient:
    """An async client of the Qoder Cloud Agents API (deployments and their runs).

    Use it as `async with QoderClient() as client:`. The PAT comes from `pat=` or
    `$QODER_PAT` and the base URL from `base_url=` or `$QODER_BASE_URL` (default
    `https://api.qoder.com/api/v1/cloud`). `timeout` is in seconds per request (60 by
    default; None with an `http_client` keeps that client's own). Failed requests are
    retried `max_retries` times (default 2) with back-off, honouring Retry-After.

    `max_connections` sizes the connection pool, and no more requests than that are ever
    in flight at once, so fanning out cannot run into httpx's PoolTimeout. A caller's
    `http_client` is used as is and never closed by this client.

    Inside `async with`, listings prefetch their next page in the client's task group;
    a client used without `async with` still works but fetches each page on demand.
    `workspace_id` and `betas` send the `qoder-workspace-id` and `x-qoder-beta` headers
    that the official SDKs send; the docs do not mention them (spec 1), so both are
    optional pass-throughs. Raises ValueError if no PAT is given or found.
    """

    def __init__(
        self,
        *,
        pat: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        max_retries: int = 2,
        max_connections: int | None = None,
        http_client: httpx.AsyncClient | None = None,
        workspace_id: str | None = None,
        betas: Sequence[str] = (),
    ) -> None:
        pat = pat if pat is not None else os.environ.get("QODER_PAT") or None
        if pat is None:
            msg = "no PAT: pass pat= or set the QODER_PAT environment variable"
            raise ValueError(msg)
        if not isinstance(pat, str):
            msg = f"pat must be a str, got {type(pat).__name__}"
            raise TypeError(msg)
        if not pat.strip() or pat != pat.strip():
            # The value itself is never echoed: it is a secret.
            msg = "pat must be a non-empty token without surrounding whitespace"
            raise ValueError(msg)
        base_url = base_url or os.environ.get("QODER_BASE_URL") or DEFAULT_BASE_URL
        if not isinstance(base_url, str) or not base_url.startswith(("https://", "http://")):
            msg = f"base_url must be an http(s) URL, got {base_url!r}"
            raise ValueError(msg)
        _check_policy(timeout, max_retries)
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            msg = f"http_client must be an httpx.AsyncClient, got {type(http_client).__name__}"
            raise TypeError(msg)
        if max_connections is None:
            max_connections = _pool_size(http_client) or DEFAULT_MAX_CONNECTIONS
        elif isinstance(max_connections, bool) or not isinstance(max_connections, int):
            msg = f"max_connections must be an int, got {type(max_connections).__name__}"
            raise TypeError(msg)
        elif max_connections < 1:
            msg = f"max_connections must be >= 1, got {max_connections}"
            raise ValueError(msg)
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
        self._transport = Transport(
            pat=pat,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            max_connections=max_connections,
            http_client=http_client,
            headers=extra_headers,
        )
        self._helpers = HelperTaskGroup()
        # Set on with_options() copies: they prefetch in, and live as long as, this client.
        self._parent: QoderClient | None = None
        self._closed = False
        self._bind()

    def _bind(self) -> None:
        self.deployments = Deployments(self._transport, self._prefetch_group)
        self.deployment_runs = DeploymentRuns(self._transport, self._prefetch_group)

    @property
    def base_url(self) -> str:
        """The API base URL requests are sent to."""
        return self._transport.base_url

    @property
    def max_connections(self) -> int:
        """The most requests this client has in flight at once (its pool size)."""
        return self._transport.max_connections

    def with_options(
        self, *, timeout: float | object | None = _KEEP, max_retries: int | object = _KEEP
    ) -> QoderClient:
        """A client sharing this one's connections and lifecycle, with another policy.

        Listings made through it keep that timeout and retry count for all their pages.
        """
        clone = object.__new__(QoderClient)
        clone.__dict__.update(self.__dict__)
        new_timeout = self._transport.timeout if timeout is _KEEP else timeout
        new_retries = self._transport.max_retries if max_retries is _KEEP else max_retries
        checked_timeout, checked_retries = _check_policy(new_timeout, new_retries)
        clone._transport = self._transport.copy(
            timeout=checked_timeout, max_retries=checked_retries
        )
        clone._parent = self
        clone._bind()
        return clone

    def _prefetch_group(self) -> TaskGroup | None:
        if self._parent is not None:
            return self._parent._prefetch_group()
        return self._helpers.group

    async def __aenter__(self) -> Self:
        if self._closed:
            msg = "this QoderClient is closed; create a new one"
            raise RuntimeError(msg)
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
        """Close the connection pool (unless it was the caller's); idempotent."""
        if not self._closed:
            self._closed = True
            await self._transport.aclose()

    def __repr__(self) -> str:
        # Never the PAT: reprs end up in logs and tracebacks.
        return (
            f"QoderClient(base_url={self.base_url!r}, timeout={self._transport.timeout!r}, "
            f"max_retries={self._transport.max_retries!r}, "
            f"max_connections={self.max_connections!r})"
        )


def _check_policy(timeout: object, max_retries: object) -> tuple[float | None, int]:
    """Refuse a timeout or retry count of the wrong kind (TypeError) or range (ValueError)."""
    checked_timeout = None if timeout is None else check_seconds(timeout, "timeout")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int):
        msg = f"max_retries must be an int, got {type(max_retries).__name__}"
        raise TypeError(msg)
    if max_retries < 0:
        msg = f"max_retries must be >= 0, got {max_retries!r}"
        raise ValueError(msg)
    return checked_timeout, max_retries


def _pool_size(http_client: httpx.AsyncClient | None) -> int | None:
    """The caller's pool size, read from httpx internals; None if they are not as expected."""
    if http_client is None:
        return None
    pool = getattr(getattr(http_client, "_transport", None), "_pool", None)
    size = getattr(pool, "_max_connections", None)
    return size if isinstance(size, int) and size > 0 else None
