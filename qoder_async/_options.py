"""Per-request options: extra headers, query and body, a timeout and a deadline for one call.

Every public method takes `extra_headers=`, `extra_query=`, `timeout=` and `deadline=`
(POST methods `extra_body=` too). They are checked here, before any I/O, and apply to every
request the call makes (every page of a listing, every poll of a wait): the headers and the
time bounds through a transport view (`Transport.copy`), the query and the body where the
resource builds the request. Top-level keys override: an extra query parameter replaces
the SDK's filter of the same name, an extra body key the SDK's field of that name.

Headers that may not be set this way, and why:
- `Authorization`, `X-Api-Key`: the PAT is the client's. The client's budget, pause and
  limits count the requests of one account, and its repr, logs and errors are built to hide
  that one secret; a request under another PAT belongs to another `QoderClient`.
- `Idempotency-Key`: pass `idempotency_key=` (checked, and kept across retries).
- `X-Request-Id`, `X-Qoder-Retry-Count`: set by the client per request and per attempt, so
  that logs, errors and `APIResponse.request_id` name the request the server saw.
- `Content-Type`, `Content-Length`, `Transfer-Encoding`, `Host`, `Connection`: framing,
  which the client and httpx derive from the request itself.
A header value never appears in a log line or an error message: headers carry secrets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Final

import attrs
import httpx

from qoder_async._params import check_seconds

__all__ = ["RequestOptions", "check_timeout", "request_options"]

# RFC 9110 field names: a token.
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}\Z")
# Visible ASCII with inner spaces: what travels as a header value unchanged.
_HEADER_VALUE: Final = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?\Z")
MAX_HEADER_VALUE: Final = 8192

_RESERVED_HEADERS: Final = {
    "authorization": "the PAT is the client's: use another QoderClient(pat=...) for another token",
    "x-api-key": "the PAT is the client's: use another QoderClient(pat=...) for another token",
    "idempotency-key": "pass idempotency_key= instead",
    "x-request-id": "the client sets a new one for every request",
    "x-qoder-retry-count": "the client sets it on every retry",
    "content-type": "the client sets it for the JSON body",
    "content-length": "httpx derives it from the body",
    "transfer-encoding": "httpx derives it from the body",
    "host": "it comes from base_url",
    "connection": "httpx manages connections",
}
# Spec 2.3: the cursor and page size of a listing belong to its pager.
_PAGING_PARAMS: Final = ("limit", "after_id", "before_id", "page")


@attrs.frozen(kw_only=True)
class RequestOptions:
    """The checked per-request options of one call (internal)."""

    headers: tuple[tuple[str, str], ...] = ()
    query: Mapping[str, str] = attrs.field(factory=dict)
    body: Mapping[str, object] | None = None
    timeout: float | httpx.Timeout | None = None
    deadline: float | None = None

    @property
    def changes_transport(self) -> bool:
        """Whether the call needs a transport view (headers or time bounds of its own)."""
        return bool(self.headers) or self.timeout is not None or self.deadline is not None

    def merge_query(self, params: Mapping[str, str]) -> dict[str, str]:
        """`params` with the extra query parameters over them."""
        return {**params, **self.query}

    def merge_body(self, body: object) -> object:
        """The JSON body with the extra body's top-level keys over it."""
        if self.body is None or not isinstance(body, Mapping):
            return body
        return {**body, **self.body}


def request_options(
    *,
    extra_headers: Mapping[str, str] | None,
    extra_query: Mapping[str, str] | None,
    extra_body: Mapping[str, object] | None = None,
    timeout: float | httpx.Timeout | None,
    deadline: float | None,
    listing: bool = False,
) -> RequestOptions | None:
    """Check the per-request options of one call; None when none was given.

    `listing`: the call is a listing, whose paging parameters extra_query may not set.
    Raises TypeError or ValueError naming the option (never a header's value).
    """
    if (
        extra_headers is None
        and extra_query is None
        and extra_body is None
        and timeout is None
        and deadline is None
    ):
        return None
    return RequestOptions(
        headers=_check_headers(extra_headers) if extra_headers is not None else (),
        query=_check_query(extra_query, listing=listing) if extra_query is not None else {},
        body=_check_body(extra_body) if extra_body is not None else None,
        timeout=check_timeout(timeout),
        deadline=None if deadline is None else check_seconds(deadline, "deadline"),
    )


def check_timeout(timeout: object) -> float | httpx.Timeout | None:
    """A timeout is None, an httpx.Timeout, or a positive number of seconds."""
    if timeout is None or isinstance(timeout, httpx.Timeout):
        return timeout
    return check_seconds(timeout, "timeout")


def _mapping(value: object, name: str) -> Mapping[object, object]:
    if not isinstance(value, Mapping):
        msg = f"{name} must be a mapping, got {type(value).__name__}"
        raise TypeError(msg)
    return value


def _check_headers(extra_headers: object) -> tuple[tuple[str, str], ...]:
    headers: dict[str, tuple[str, str]] = {}
    for name, value in _mapping(extra_headers, "extra_headers").items():
        if not isinstance(name, str):
            msg = f"extra_headers names must be str, got {type(name).__name__}"
            raise TypeError(msg)
        if not _HEADER_NAME.match(name):
            msg = (
                f"extra_headers name {name!r} is not an HTTP header name (1 to 256 letters, "
                "digits or !#$%&'*+-.^_`|~)"
            )
            raise ValueError(msg)
        key = name.lower()
        reason = _RESERVED_HEADERS.get(key)
        if reason is not None:
            msg = f"extra_headers may not set {name}: {reason}"
            raise ValueError(msg)
        if key in headers:
            msg = f"extra_headers sets {headers[key][0]} and {name}: header names ignore case"
            raise ValueError(msg)
        # The value is never shown: a header may carry a secret.
        if not isinstance(value, str):
            msg = f"extra_headers[{name!r}] must be a str, got {type(value).__name__}"
            raise TypeError(msg)
        if len(value) > MAX_HEADER_VALUE or not _HEADER_VALUE.match(value):
            msg = (
                f"extra_headers[{name!r}] must be 1 to {MAX_HEADER_VALUE} printable ASCII "
                "characters without line breaks or surrounding spaces (value not shown)"
            )
            raise ValueError(msg)
        headers[key] = (name, value)
    return tuple(headers.values())


def _check_query(extra_query: object, *, listing: bool) -> dict[str, str]:
    query: dict[str, str] = {}
    for key, value in _mapping(extra_query, "extra_query").items():
        if not isinstance(key, str):
            msg = f"extra_query keys must be str, got {type(key).__name__}"
            raise TypeError(msg)
        if not key:
            msg = "extra_query keys must not be empty"
            raise ValueError(msg)
        if listing and key in _PAGING_PARAMS:
            msg = (
                f"extra_query may not set {key!r} on a listing: the pager sets it on every "
                f"page; pass {key}= to the list method instead"
            )
            raise ValueError(msg)
        if not isinstance(value, str):
            msg = (
                f"extra_query[{key!r}] must be a str (as it goes on the wire, e.g. 'true'), "
                f"got {type(value).__name__}"
            )
            raise TypeError(msg)
        query[key] = value
    return query


def _check_body(extra_body: object) -> dict[str, object]:
    body: dict[str, object] = {}
    for key, value in _mapping(extra_body, "extra_body").items():
        if not isinstance(key, str):
            msg = f"extra_body keys must be str, got {type(key).__name__}"
            raise TypeError(msg)
        body[key] = value
    try:
        # Checked now, so that a value JSON cannot carry fails before any request.
        json.dumps(body, allow_nan=False)
    except TypeError as exc:
        msg = f"extra_body must be JSON-serialisable: {exc}"
        raise TypeError(msg) from None
    except (ValueError, RecursionError) as exc:
        msg = f"extra_body must be JSON-serialisable: {exc}"
        raise ValueError(msg) from None
    return body
