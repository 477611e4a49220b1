"""A FastAPI backend that serves deployment data through one shared QoderClient.

The client lives for the whole application (opened in the lifespan, so its connection pool
and prefetch tasks are shared by every request) and each handler awaits it directly.
Run it with any ASGI server, e.g. `uvicorn examples.web_backend:app`; run as a script, it
calls its own endpoints in-process once and exits. Reads $QODER_PAT and $QODER_BASE_URL.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import httpx
from fastapi import FastAPI, HTTPException, Request

from qoder_async import NotFoundError, QoderClient

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open one client for the application's lifetime."""
    async with QoderClient(max_connections=32) as client:
        app.state.qoder = client
        yield


app = FastAPI(lifespan=lifespan)


def _client(request: Request) -> QoderClient:
    client: QoderClient = request.app.state.qoder
    return client


@app.get("/deployments/{deployment_id}/failures")
async def recent_failures(deployment_id: str, request: Request) -> dict[str, object]:
    """The deployment's name and its 20 most recent failed runs."""
    client = _client(request)
    try:
        deployment = await client.deployments.get(deployment_id)
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=exc.message) from exc
    except ValueError as exc:  # a malformed id never reaches the API
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    runs = client.deployments.list_runs(deployment_id, status="failed", max_items=20)
    return {
        "deployment": deployment.name,
        "failures": [
            {"id": run.id, "error": run.error.type if run.error else None} async for run in runs
        ],
    }


async def _self_check() -> None:
    """Call the endpoints in-process, as a smoke test of the wiring."""
    async with (
        lifespan(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://backend"
        ) as http,
    ):
        client: QoderClient = app.state.qoder
        first = await client.deployments.list(limit=1)
        if first.data:
            answer = await http.get(f"/deployments/{first.data[0].id}/failures")
            print(answer.status_code, answer.json())
        print((await http.get("/deployments/dep_missing0000/failures")).status_code)
        print((await http.get("/deployments/not-an-id/failures")).status_code)


if __name__ == "__main__":
    anyio.run(_self_check)
