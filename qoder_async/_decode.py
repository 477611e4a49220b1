"""Reading and decoding response bodies: a size cap, JSON that cannot hurt, error envelopes.

Every body is read by `read_body` in chunks, never past its cap: `max_response_bytes`
(64 MiB by default) for a successful response, 64 KiB for an error response, whose rest is
dropped with the connection (an error body is only ever parsed for the envelope and kept
on the exception). Decoding catches everything `json` can raise on hostile input (deep
nesting, `1e400`, NaN, malformed text) and turns it into ResponseValidationError for a
2xx, or into a plain text body for an error, which is still retried when its status is.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Final

import anyio

from qoder_async import _errors
from qoder_async._retry import retry_after

if TYPE_CHECKING:
    from collections.abc import Mapping

    import httpx

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "MAX_ERROR_BODY",
    "BodyTooLargeError",
    "api_error",
    "decode_json",
    "read_body",
    "success_json",
]

DEFAULT_MAX_RESPONSE_BYTES: Final = 64 * 1024 * 1024
MAX_ERROR_BODY: Final = 64 * 1024

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


class BodyTooLargeError(Exception):
    """A successful response's body is over the cap (internal; becomes a QoderError)."""

    def __init__(self, limit: int, declared: int | None) -> None:
        super().__init__(limit, declared)
        self.limit = limit
        self.declared = declared


async def read_body(response: httpx.Response, limit: int, *, truncate: bool) -> tuple[bytes, bool]:
    """Read a streamed body of at most `limit` bytes (after content decoding).

    Returns the body and whether it was cut. Over the limit: with `truncate`, the first
    `limit` bytes are kept and the rest is never read; otherwise BodyTooLargeError, before
    any byte is read when Content-Length says so. The caller closes the response.
    """
    headers = response.headers
    declared = headers.get("content-length")
    size = int(declared) if declared is not None and declared.isdigit() else None
    if size is not None and "content-encoding" not in headers:
        # The common case, and the cheap one: h11 never reads past a Content-Length, and
        # without content coding the decoded body is exactly that long.
        if size <= limit:
            return await response.aread(), False
        if not truncate:
            raise BodyTooLargeError(limit, size)
    buffer = bytearray()
    over = False
    # Decoded chunks: the cap bounds memory, which a compressed body could otherwise dodge.
    # Stopping is done by cancelling the read, never by leaving the loop: the exception
    # then unwinds every async generator between us and the socket (httpx, httpcore), so
    # none is left suspended for the garbage collector (trio warns about those).
    with anyio.CancelScope() as scope:
        async for chunk in response.aiter_bytes():
            if over:
                continue  # already buffered by httpx; dropped until the cancel lands
            buffer += chunk
            if len(buffer) > limit:
                over = True
                del buffer[limit:]
                scope.cancel()
    if over and not truncate:
        raise BodyTooLargeError(limit, None)
    cut = over
    content = bytes(buffer)
    # What `aread()` would have stored: lets `exc.response.content`/`.json()` work.
    response._content = content
    return content, cut


def _refuse_constant(name: str) -> object:
    msg = f"{name} is not a JSON number"
    raise ValueError(msg)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        msg = f"the number {text[:40]} is out of range"
        raise ValueError(msg)
    return value


# One decoder, made once: `json.loads` with hooks would build a new one per call.
_DECODER: Final = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def decode_json(content: bytes) -> object:
    """Parse JSON, or raise ValueError or RecursionError.

    ValueError also for NaN, infinities and numbers out of range; RecursionError for
    nesting deeper than the interpreter allows.
    """
    # As json.loads does with bytes: UTF-8, -16 or -32, told apart by the first bytes.
    text = content.decode(json.detect_encoding(content), "surrogatepass")
    if text.startswith("\ufeff"):
        msg = "a byte order mark before JSON"
        raise ValueError(msg)
    return _DECODER.decode(text)


def success_json(content: bytes, method: str, path: str, status: int) -> object:
    """A 2xx body as JSON, or ResponseValidationError saying why it cannot be."""
    try:
        return decode_json(content)
    except RecursionError as exc:
        msg = f"{method} {path} answered {status} with JSON nested too deeply to read"
        raise _errors.ResponseValidationError(msg) from exc
    except ValueError as exc:
        msg = f"{method} {path} answered {status} with a body that is not valid JSON ({exc})"
        raise _errors.ResponseValidationError(msg) from exc


def _error_body(content: bytes, truncated: bool) -> object:
    if not content:
        return None
    if not truncated:
        try:
            return decode_json(content)
        except (ValueError, RecursionError):
            pass
    return content.decode("utf-8", errors="replace")


def api_error(
    response: httpx.Response, content: bytes, *, truncated: bool, sent_request_id: str
) -> _errors.APIError:
    """The exception for an error response whose (possibly truncated) body is `content`."""
    status = response.status_code
    error_type = message = code = param = body_request_id = None
    body = _error_body(content, truncated)
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
    return cls(
        message,
        status_code=status,
        error_type=error_type,
        code=code,
        param=param,
        request_id=request_id,
        body=body,
        retry_after=retry_after(response.headers),
        response=response,
    )


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
