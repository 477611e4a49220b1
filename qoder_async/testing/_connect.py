"""`fake_client`: a QoderClient wired in-process to a fake, for examples, demos and tests."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import httpx

from ._api import FakeQoderAPI

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from qoder_async import QoderClient

# Enough data for paging and a fan-out to show, little enough to seed in a blink.
DEFAULT_DEPLOYMENTS = 20
DEFAULT_RUNS_PER_DEPLOYMENT = 100


@asynccontextmanager
async def fake_client(
    api: FakeQoderAPI | None = None,
    *,
    deployments: int = DEFAULT_DEPLOYMENTS,
    runs_per_deployment: int = DEFAULT_RUNS_PER_DEPLOYMENT,
    max_connections: int | None = None,
) -> AsyncIterator[QoderClient]:
    """An entered QoderClient talking to `api` in-process (no sockets), closed on exit.

    Without `api`, a new FakeQoderAPI is seeded with `deployments` deployments of
    `runs_per_deployment` runs each, dated up to now. The client is what
    `QoderClient(...)` gives against the real API, so code under test cannot tell.
    """
    # Imported here: the rest of qoder_async.testing does not depend on the SDK.
    from qoder_async import QoderClient

    if api is None:
        api = FakeQoderAPI()
        api.seed(deployments=deployments, runs_per_deployment=runs_per_deployment)
    async with (
        httpx.AsyncClient(transport=api.transport()) as http,
        QoderClient(pat=api.pat, http_client=http, max_connections=max_connections) as client,
    ):
        yield client
