"""The `qoder_async` logger: one DEBUG line per attempt, and `QODER_LOG` to see them.

A line names the method, the path and query, the outcome (status or error), the elapsed
milliseconds, the request id and the attempt number. Never a header, never a body: headers
carry the PAT and may carry the caller's own tokens (extra headers).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Final

import httpx

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["configure_from_env", "log", "log_attempt"]

log: Final = logging.getLogger("qoder_async")

_HANDLER_NAME: Final = "qoder_async.QODER_LOG"
_LEVELS: Final = {"debug": logging.DEBUG, "info": logging.INFO}


def configure_from_env() -> None:
    """With `QODER_LOG=debug` or `info`, log to stderr at that level; idempotent.

    Installs one handler on the `qoder_async` logger, only if none was installed this way
    before; other values of `QODER_LOG` (or none) change nothing.
    """
    level = _LEVELS.get(os.environ.get("QODER_LOG", "").strip().lower())
    if level is None:
        return
    if not any(handler.get_name() == _HANDLER_NAME for handler in log.handlers):
        handler = logging.StreamHandler()  # stderr
        handler.set_name(_HANDLER_NAME)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
    log.setLevel(level)


def log_attempt(
    method: str,
    path: str,
    params: Mapping[str, str] | None,
    outcome: str,
    started: float,
    now: float,
    request_id: str,
    attempt: int,
) -> None:
    """Write the DEBUG line of one attempt (callers check `isEnabledFor` first)."""
    target = path
    if params:
        # httpx's own encoding, so the line shows what went on the wire.
        target = f"{path}?{httpx.QueryParams(params)}"
    log.debug(
        "%s %s -> %s in %.1f ms (request_id=%s, attempt %d)",
        method,
        target,
        outcome,
        (now - started) * 1000,
        request_id,
        attempt,
    )
