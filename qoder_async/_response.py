"""APIResponse[T]: the HTTP response of a successful call, and the model it holds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import timedelta

    import httpx

__all__ = ["APIResponse"]

T = TypeVar("T")


class APIResponse(Generic[T]):
    """The HTTP response of one successful call, with `parse()` for the model it holds.

    Returned by `client.with_raw_response.<resource>.<method>(...)`, whose arguments are
    those of the method itself. For a list method it is the response of the first page
    (`parse()` gives a `Page[T]`, in the order the server sent it). After retries, it is
    the response of the attempt that succeeded. Errors are raised exactly as by the method
    itself (`APIError` has `.response` and `.headers` too). `http_response` is the
    `httpx.Response`, its body already read (`.content` and `.json()` work).
    """

    __slots__ = ("_data", "_parse", "_parsed", "_structured", "http_response")

    def __init__(self, http_response: httpx.Response, data: object, parse: Callable[[object], T]):
        self.http_response = http_response
        self._data = data
        self._parse = parse
        self._parsed: T | None = None
        self._structured = False

    @property
    def status_code(self) -> int:
        """The HTTP status code, e.g. 200 or 201."""
        return self.http_response.status_code

    @property
    def headers(self) -> httpx.Headers:
        """The response headers (case-insensitive)."""
        return self.http_response.headers

    @property
    def request_id(self) -> str | None:
        """The request id to quote to Qoder support: the server's, else the one we sent."""
        # Spec 2.1: the server echoes the x-request-id it got, or makes one up.
        headers = self.http_response.headers
        request_id: str | None = (
            headers.get("x-request-id")
            or headers.get("request-id")
            or self.http_response.request.headers.get("x-request-id")
        )
        return request_id

    @property
    def elapsed(self) -> timedelta:
        """How long the successful attempt took, from sending to the end of the body."""
        return self.http_response.elapsed

    @property
    def retries_taken(self) -> int:
        """How many retries came before the attempt that succeeded (0 for the first)."""
        # Every retried attempt carries its number (spec 7.5), the first none.
        return int(self.http_response.request.headers.get("x-qoder-retry-count", "0"))

    def parse(self) -> T:
        """The model the method itself returns, structured once and then cached.

        Raises ResponseValidationError if the body is not the documented shape.
        """
        if not self._structured:
            self._parsed = self._parse(self._data)
            self._structured = True
        return self._parsed  # type: ignore[return-value]  # set just above

    def __repr__(self) -> str:
        request = self.http_response.request
        return (
            f"<APIResponse [{self.status_code} {self.http_response.reason_phrase}] "
            f"{request.method} {request.url.path}>"
        )
