"""Scripted faults: what the gateway in front of the API may do to a request (spec 2.2)."""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections import Counter
from typing import TYPE_CHECKING, Literal

import attrs

from ._wire import Reply, dumps, error_body

if TYPE_CHECKING:
    from collections.abc import Iterable

_MESSAGES = {
    408: "The request timed out.",
    429: "Too many requests. Slow down and retry later.",
    500: "Internal server error.",
    502: "Bad gateway.",
    503: "The service is temporarily unavailable.",
    504: "Gateway timeout.",
}

# Cut-off JSON: what a client sees when a proxy truncates a body mid-stream.
_MALFORMED_OK = b'{"data":[{"id":"dep_019ec55a2b687b3f94eee77dd77e4b2a","type":"deploym'
_MALFORMED_ERROR = b'{"type":"error","error":{"type":"api_er'


def _non_negative(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _valid_status(
    _instance: object, _attribute: attrs.Attribute[int | None], value: int | None
) -> None:
    if value is not None and not 100 <= value <= 599:
        raise ValueError(f"status must be an HTTP status code, got {value!r}")


@attrs.frozen(kw_only=True)
class Fault:
    """A scripted fault: the next `times` requests matching `method` and `path` get it.

    Faults sit in `FakeQoderAPI.faults` and are consumed first in, first out, before the
    API sees the request, in-process and over loopback alike. A fault with a `status`,
    with `body="malformed"` or with `reset=True` answers in place of the API, so the
    request has no effect (nothing is created, no run is triggered). Any other fault
    (only `delay`, `slow_body` or headers) lets the API answer and shapes that answer.

    - `status`: the HTTP status to answer with, e.g. 429, 503, 500, 408.
    - `retry_after`: seconds sent as `Retry-After` (a decimal when not whole); with
      `retry_after_date=True` it is sent as an HTTP date that many seconds from now
      (whole-second precision, per HTTP).
    - `retry_after_ms`: milliseconds sent as `retry-after-ms`.
    - `should_retry`: sent as `x-should-retry: true|false`.
    - `body`: `"envelope"` (the spec 2.1 error envelope), `"empty"` (no body, as the
      gateway sends with 429/503) or `"malformed"` (truncated JSON; with no `status`,
      a 200 whose body does not parse).
    - `reset`: drop the connection without a response. Over loopback the client sees
      `httpx.RemoteProtocolError` (or `httpx.ReadError`); in-process the transport raises
      `httpx.RemoteProtocolError`.
    - `delay`: extra seconds awaited before answering.
    - `slow_body`: send the headers, then trickle the body over this many seconds.
    - `method`: match only this HTTP method (any case); None matches any.
    - `path`: a regular expression matched with `re.match` against the resource path,
      e.g. `"/deployments/dep_x/runs"` (so a plain prefix works); None matches any.
    - `times`: how many matching requests the fault hits before it is used up.
    """

    status: int | None = attrs.field(default=None, validator=_valid_status)
    retry_after: float | None = None
    retry_after_ms: int | None = None
    retry_after_date: bool = False
    should_retry: bool | None = None
    body: Literal["envelope", "empty", "malformed"] = attrs.field(
        default="envelope", validator=attrs.validators.in_(("envelope", "empty", "malformed"))
    )
    reset: bool = False
    delay: float = attrs.field(default=0.0, validator=_non_negative)
    slow_body: float = attrs.field(default=0.0, validator=_non_negative)
    method: str | None = None
    path: str | None = None
    times: int = attrs.field(default=1, validator=attrs.validators.ge(1))

    def __attrs_post_init__(self) -> None:
        if self.retry_after_date and self.retry_after is None:
            raise ValueError("retry_after_date=True needs retry_after (the seconds to wait)")
        if self.path is not None:
            re.compile(self.path)  # fail at construction, not at the first request

    def matches(self, method: str, path: str) -> bool:
        """Whether a request with this method and resource path is hit by the fault."""
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path is None or re.match(self.path, path) is not None


def _rate(_instance: object, _attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"rate must be between 0 and 1, got {value!r}")


def _some_faults(
    _instance: object, _attribute: attrs.Attribute[tuple[Fault, ...]], value: tuple[Fault, ...]
) -> None:
    if not value or not all(isinstance(fault, Fault) for fault in value):
        raise ValueError("faults must be a non-empty sequence of Fault")


def _fault_tuple(value: Iterable[Fault]) -> tuple[Fault, ...]:
    return tuple(value)


def _weight_tuple(value: Iterable[float] | None) -> tuple[float, ...] | None:
    return None if value is None else tuple(value)


@attrs.define
class RandomFaults:
    """Faults injected at random into a share of requests, reproducibly from `seed`.

    Set `FakeQoderAPI.random_faults` to one. A request that no scripted `Fault` hit and
    that matches `method` and `path` (as in `Fault`) gets, with probability `rate`, one of
    `faults`, picked in proportion to `weights` (default: all alike); their `method`,
    `path` and `times` are ignored. The same seed gives the same sequence of draws; which
    request meets which draw depends on the order requests arrive in. `injected` counts
    what was injected, by label: the status (`"503"`), `"reset"` or `"malformed"`.
    """

    rate: float = attrs.field(validator=_rate)
    faults: tuple[Fault, ...] = attrs.field(converter=_fault_tuple, validator=_some_faults)
    weights: tuple[float, ...] | None = attrs.field(default=None, converter=_weight_tuple)
    seed: int = 0
    method: str | None = None
    path: str | None = None
    injected: Counter[str] = attrs.field(factory=Counter, init=False)
    _rng: random.Random = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.weights is not None and len(self.weights) != len(self.faults):
            raise ValueError("weights must have one entry per fault")
        if self.path is not None:
            re.compile(self.path)
        self._rng = random.Random(self.seed)

    def draw(self, method: str, path: str) -> Fault | None:
        """The fault this request gets, or None; counts it in `injected`."""
        if self.method is not None and self.method.upper() != method:
            return None
        if self.path is not None and re.match(self.path, path) is None:
            return None
        if self._rng.random() >= self.rate:
            return None
        [fault] = self._rng.choices(self.faults, weights=self.weights)
        label = "reset" if fault.reset else str(fault.status or fault.body)
        self.injected[label] += 1
        return fault


def replaces_response(fault: Fault) -> bool:
    """Whether the fault answers in place of the API."""
    return fault.status is not None or fault.body == "malformed" or fault.reset


def fault_headers(fault: Fault) -> list[tuple[str, str]]:
    """The retry-related headers a fault adds to the response."""
    headers: list[tuple[str, str]] = []
    if fault.retry_after is not None:
        if fault.retry_after_date:
            # HTTP dates are absolute, so they are computed from the real clock.
            value = email.utils.formatdate(time.time() + fault.retry_after, usegmt=True)
        elif fault.retry_after == int(fault.retry_after):
            value = str(int(fault.retry_after))
        else:
            value = repr(float(fault.retry_after))
        headers.append(("retry-after", value))
    if fault.retry_after_ms is not None:
        headers.append(("retry-after-ms", str(fault.retry_after_ms)))
    if fault.should_retry is not None:
        headers.append(("x-should-retry", "true" if fault.should_retry else "false"))
    return headers


def fault_reply(fault: Fault, request_id: str) -> Reply:
    """The response of a fault that answers in place of the API."""
    if fault.reset:
        return Reply(status=0, reset=True)
    status = 200 if fault.status is None else fault.status
    headers = [("x-request-id", request_id), *fault_headers(fault)]
    if fault.body == "empty":
        return Reply(status=status, headers=headers, slow_body=fault.slow_body)
    if fault.body == "malformed":
        body = _MALFORMED_OK if status < 400 else _MALFORMED_ERROR
    elif status >= 400:
        message = _MESSAGES.get(status, f"Injected fault with status {status}.")
        body = error_body(status, message, request_id)
    else:
        body = dumps({})
    headers.append(("content-type", "application/json"))
    return Reply(status=status, body=body, headers=headers, slow_body=fault.slow_body)


def take_fault(faults: list[Fault], method: str, path: str) -> Fault | None:
    """Consume one hit of the first fault that matches, or return None."""
    for index, fault in enumerate(faults):
        if fault.matches(method, path):
            if fault.times > 1:
                faults[index] = attrs.evolve(fault, times=fault.times - 1)
            else:
                del faults[index]
            return fault
    return None


def trickle(body: bytes, seconds: float, pieces: int = 10) -> list[tuple[float, bytes]]:
    """Split `body` into up to `pieces` parts, each preceded by an equal share of `seconds`."""
    size = max(1, -(-len(body) // pieces))
    parts = [body[start : start + size] for start in range(0, len(body), size)]
    pause = seconds / len(parts) if parts else 0.0
    return [(pause, part) for part in parts]
