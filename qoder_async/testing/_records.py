"""What callers read back from the fake: recorded requests and copy-on-read record views."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from ._store import Store


@attrs.frozen(kw_only=True)
class RecordedRequest:
    """One request the fake received, as `FakeQoderAPI.requests` records it.

    `path` is relative to the base path `/api/v1/cloud` (the full path for a request
    outside it); `query` keeps the last value of a repeated parameter; `headers` has
    lower-case names; `json` is the decoded body, or None when it is absent or not JSON.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    content: bytes


class RecordView(Mapping[str, dict[str, Any]]):
    """A read-only view of stored records; each lookup returns a fresh copy of the whole record."""

    def __init__(self, records: dict[str, dict[str, Any]], store: Store) -> None:
        self._records = records
        self._store = store

    def __getitem__(self, record_id: str) -> dict[str, Any]:
        if record_id not in self._records:
            raise KeyError(record_id)
        # The whole record, even for a run served in the minimal shape (spec 7.1).
        copy: dict[str, Any] = json.loads(json.dumps(self._records[record_id]))
        return copy

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._records))

    def __len__(self) -> int:
        return len(self._records)
