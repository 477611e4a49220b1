"""The fake's opaque `next_page` tokens: an encoded list position, never an item id.

Spec 7.4: clients must follow `page=<next_page>` and never assume `next_page == last_id`
(the docs' deployment list page shows it equal, spec 3.1). The fake therefore issues a
token that is not an id, so that a client reading it as one is caught: passed as
`after_id` it is an unknown id (400), and an id passed as `page` is not a token (400, as
the Go SDK documents for an invalid or expired page cursor, spec 2.3).
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from ._wire import ApiError

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._store import Key

_PREFIX = "pgt1."


def encode(scope: str, key: Key) -> str:
    """The token of the position just past `key` in the list named by `scope`."""
    raw = f"{scope}\n{key[0]}\n{key[1]}".encode()
    return _PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(token: str, scope: str, lookup: Callable[[str], Key | None]) -> Key:
    """The position a token of this list points past; ApiError 400 if it is not one."""
    if token.startswith(_PREFIX):
        body = token[len(_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raw = ""
        parts = raw.split("\n")
        if len(parts) == 3 and parts[0] == scope and parts[1].isdigit():
            key = lookup(parts[2])
            # A token of another list, or one naming a position that was never issued.
            if key is not None and key == (int(parts[1]), parts[2]):
                return key
    raise ApiError(400, "Invalid or expired page cursor.", param="page")
