"""Shared fixtures: every async test runs on asyncio and on trio; a fake API and a client."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from qoder_async.testing import FakeQoderAPI
from tests.helpers import NOW, connect

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from qoder_async import QoderClient


@pytest.fixture(
    params=[
        pytest.param(("asyncio", {"debug": True}), id="asyncio"),
        pytest.param(("trio", {}), id="trio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, bool]]:
    """Run each async test on asyncio (debug mode) and trio."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def api() -> FakeQoderAPI:
    """An empty fake API accepting the PAT "pt-test", its clock started at NOW; tests add data."""
    return FakeQoderAPI(pat="pt-test", now=NOW)


@pytest.fixture
async def client(api: FakeQoderAPI) -> AsyncIterator[QoderClient]:
    """A client talking to `api` in-process, inside `async with`."""
    async with connect(api) as client:
        yield client
