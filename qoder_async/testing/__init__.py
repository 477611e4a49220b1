"""An in-memory fake of the Qoder Deployments API, for tests, demos and benchmarks.

It speaks the API's JSON with the spec's semantics (cursor pagination both ways,
filters, the pause/unpause/archive/run state machine, error envelopes, idempotency)
and can inject gateway faults. It imports nothing from the rest of `qoder_async`
(`fake_client`, which hands out a connected QoderClient, imports it when called)::

    api = FakeQoderAPI(pat="pt-test")
    api.seed(deployments=10, runs_per_deployment=5)
    async with httpx.AsyncClient(
        transport=api.transport(),
        base_url="https://api.qoder.com/api/v1/cloud",
        headers={"Authorization": "Bearer pt-test"},
    ) as http:
        page = (await http.get("/deployments", params={"limit": 5})).json()

Use `api.serve()` instead of `api.transport()` for a real loopback HTTP server, or run
`python -m qoder_async.testing --help` for one in its own process.
"""

from __future__ import annotations

from ._api import FakeQoderAPI
from ._connect import fake_client
from ._faults import Fault, RandomFaults
from ._records import RecordedRequest

__all__ = ["FakeQoderAPI", "Fault", "RandomFaults", "RecordedRequest", "fake_client"]

# Reprs and tracebacks name the public module, not the private one (attrs classes keep
# theirs: typing resolves their string annotations in the module `__module__` names).
FakeQoderAPI.__module__ = __name__
