"""Every exception qoder_async raises, on one screen.

```
QoderError                      anything raised by this package on purpose
├── APIError                    the API answered with an error status
│   ├── BadRequestError         400 invalid_request_error
│   ├── AuthenticationError     401 authentication_error
│   ├── PermissionDeniedError   403 permission_error
│   ├── NotFoundError           404 not_found_error
│   ├── ConflictError           409 conflict_error
│   ├── RequestTooLargeError    413 (body over the gateway's limit, spec 1)
│   ├── UnprocessableEntityError 422 (the official SDKs map it, spec 7.6)
│   ├── RateLimitError          429 (gateway back-pressure, spec 2.2)
│   └── ServerError             5xx
│       └── OverloadedError     529 (the API is overloaded, spec 7.6)
├── APIConnectionError          no usable response: refused, reset, protocol error
│   └── APITimeoutError         the request timed out
├── ResponseValidationError     a body that is not JSON, too large, or not the documented shape
├── PaginationError             the server's paging is broken (resume_cursor to go on)
├── RunTimeoutError             a run did not reach a terminal state in time
├── FanOutError                 a fan-out delivered all it could, but some listings failed
└── ClientClosedError           the QoderClient was used after it was closed
```

Invalid arguments are rejected before any I/O with the builtin `ValueError` or
`TypeError`, never with a `QoderError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from collections.abc import Mapping

    from typing_extensions import Self

    from qoder_async._models import DeploymentRun

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConflictError",
    "FanOutError",
    "NotFoundError",
    "OverloadedError",
    "PaginationError",
    "PermissionDeniedError",
    "QoderError",
    "RateLimitError",
    "RequestTooLargeError",
    "ResponseValidationError",
    "RunTimeoutError",
    "ServerError",
    "UnprocessableEntityError",
]


class QoderError(Exception):
    """Base class of every exception raised by qoder_async on purpose."""


class APIError(QoderError):
    """The API answered with an error status.

    Carries the HTTP `status_code`, the API's `error_type` and `message` (from the error
    envelope, spec 2.1), its finer-grained `code` when it sends one (spec 7.6), the
    offending `param` if the API named one, and the `request_id`
    to quote to Qoder support. Bodies that are not the envelope (the gateway answers 429/503
    with no body, spec 2.2) still produce the right subclass, with `error_type` None.

    `body` is the decoded error body (the envelope as a dict, or the text), cut to at most
    64 KiB of text when it was longer. `response` is the `httpx.Response` (its body already
    read; `headers` is a shortcut to its headers, empty when there is no response).
    `retry_after` is the delay in seconds the server asked for (`Retry-After` or
    `retry-after-ms`), or what remained of the client's pause when this error was raised
    without a request of its own (see `RetryPolicy`), else None.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        body: object = None,
        retry_after: float | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.error_type = error_type
        self.code = code
        self.param = param
        self.request_id = request_id
        self.body = body
        self.retry_after = retry_after
        self.response = response

    @property
    def headers(self) -> httpx.Headers:
        """The response's headers (empty if there was no response)."""
        return self.response.headers if self.response is not None else httpx.Headers()

    def _again(self, *, retry_after: float | None) -> Self:
        """The same error, raised anew for another request (with what remains to wait)."""
        return type(self)(
            self.message,
            status_code=self.status_code,
            error_type=self.error_type,
            code=self.code,
            param=self.param,
            request_id=self.request_id,
            body=self.body,
            retry_after=retry_after,
            response=self.response,
        )

    def __str__(self) -> str:
        kind = f" {self.error_type}" if self.error_type else ""
        if self.code:
            kind += f" ({self.code})"
        param = f" (param: {self.param})" if self.param else ""
        rid = f" [request_id: {self.request_id}]" if self.request_id else ""
        return f"{self.status_code}{kind}: {self.message}{param}{rid}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code}, "
            f"error_type={self.error_type!r}, code={self.code!r}, message={self.message!r}, "
            f"param={self.param!r}, request_id={self.request_id!r})"
        )


class BadRequestError(APIError):
    """400: a parameter is missing, malformed or out of range, or a cursor is invalid."""


class AuthenticationError(APIError):
    """401: the PAT is missing, malformed, expired or revoked."""


class PermissionDeniedError(APIError):
    """403: the PAT is valid but may not access this resource."""


class NotFoundError(APIError):
    """404: the deployment or run does not exist (or is not visible to this PAT)."""


class ConflictError(APIError):
    """409: the resource's state forbids the call, or an idempotency key was reused.

    Examples: pausing a paused deployment, running an archived one. Never retried.
    """


class RequestTooLargeError(APIError):
    """413: the request body is over the gateway's size limit (32 MB global, 4 MB CN, spec 1)."""


class UnprocessableEntityError(APIError):
    """422: the request was well-formed but the API could not process it (spec 7.6)."""


class RateLimitError(APIError):
    """429: the gateway asks the client to slow down.

    `retry_after` is the delay in seconds the server asked for, or None if it sent none.
    Raised once the client's retries are used up, or at once when the server asks for a
    longer wait than the retry policy honours or the deadline allows.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 429,
        error_type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        body: object = None,
        retry_after: float | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(
            message,
            status_code=status_code,
            error_type=error_type,
            code=code,
            param=param,
            request_id=request_id,
            body=body,
            retry_after=retry_after,
            response=response,
        )


class ServerError(APIError):
    """5xx: the API or its gateway failed; raised once the client's retries are used up.

    Like RateLimitError, a 503 asking for a longer wait than the policy or the deadline
    allows is raised at once, with `retry_after` set.
    """


class OverloadedError(ServerError):
    """529: the API is overloaded; retried like other 5xx, raised once retries are used up."""


class APIConnectionError(QoderError):
    """No usable HTTP response arrived: connection refused or reset, or a protocol error.

    The underlying httpx exception is chained as `__cause__`.
    """


class APITimeoutError(APIConnectionError):
    """The request did not complete within the configured timeout."""


class ResponseValidationError(QoderError):
    """A response body that cannot be used: not JSON, or not the shape the spec documents.

    Also raised for JSON nested too deeply or holding numbers out of range, and for a body
    over the client's `max_response_bytes`. Not retried: the same request would get the
    same body.

    `path` holds the keys and list indices from the body's root to the value that does not
    fit (`("data", 3, "trigger_context", "type")`, `()` for the body itself) and `json_path`
    the same as JSONPath (`"$.data[3].trigger_context.type"`); both are None when the body
    is not JSON at all or the error is not about one value.
    """

    def __init__(self, message: str, *, path: tuple[str | int, ...] | None = None) -> None:
        super().__init__(message)
        self.path = path

    @property
    def json_path(self) -> str | None:
        """`path` as JSONPath, e.g. `$.data[3].trigger_context.type`; None without a path."""
        if self.path is None:
            return None
        parts = ["$"]
        for part in self.path:
            if isinstance(part, int):
                parts.append(f"[{part}]")
            elif part.isidentifier() and part.isascii():
                parts.append(f".{part}")
            else:
                parts.append(f"[{part!r}]")
        return "".join(parts)


class PaginationError(QoderError):
    """The server's paging cannot go on: its cursor does not advance or is missing.

    Raised instead of looping forever or stopping early without a word: when a cursor
    repeats, when a page says `has_more` but holds no items, or when it says `has_more`
    but gives no cursor to continue from (spec 7.4). It comes once the items the
    server did send have been delivered. `resume_cursor` is the id of the last item
    delivered (None if none was and the listing did not start from an id): pass it as
    `after_id` (`before_id` for a backward listing) to continue exactly after it.
    """

    def __init__(self, message: str, *, resume_cursor: str | None = None) -> None:
        super().__init__(message)
        self.resume_cursor = resume_cursor


class RunTimeoutError(QoderError, TimeoutError):
    """A run did not reach a terminal status before the wait's deadline.

    `run` is the last state seen (None if not even one poll completed), so the caller can
    decide whether to keep waiting.
    """

    def __init__(self, message: str, *, run: DeploymentRun | None) -> None:
        super().__init__(message)
        self.run = run


class FanOutError(QoderError):
    """A fan-out delivered every run it could, but some listings failed.

    Raised by `list_runs_across` after the last deliverable run, never before. `failed` maps
    each deployment id whose listing failed (after the client's retries) to its exception;
    `source_error` is the exception that stopped the reading of the deployments source, or
    None. `resume_state` is the JSON-serialisable state to pass as
    `list_runs_across(..., resume=...)`: it lists what is left, those deployments included.
    The first failure is chained as `__cause__`.
    """

    def __init__(
        self,
        message: str,
        *,
        failed: Mapping[str, Exception],
        source_error: Exception | None,
        resume_state: dict[str, object],
    ) -> None:
        super().__init__(message)
        self.failed = dict(failed)
        self.source_error = source_error
        self.resume_state = resume_state


class ClientClosedError(QoderError, RuntimeError):
    """The QoderClient (or a `with_options` view of it) was used after `aclose()`.

    Also a RuntimeError, as using any closed resource is. Create a new client instead.
    """
