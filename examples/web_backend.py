"""A FastAPI backend that serves deployment data through one shared QoderClient.

The client lives for the whole application (opened in the lifespan, so its connection pool
and prefetch tasks are shared by every request) and each handler awaits it directly.
`/runs.ndjson` streams runs as NDJSON, one wire-shape object per line (`to_json`), page by
page while the next page is already being fetched.
Run it with any ASGI server; run as a script, it calls its own endpoints in-process once
and exits. Reads $QODER_PAT and, optionally, $QODER_BASE_URL. With QODER_FAKE=1 it talks
to an in-process fake API (`qoder_async.testing`) seeded with sample data instead: no
account, no network.

    uv run uvicorn examples.web_backend:app
    QODER_FAKE=1 uv run uvicorn examples.web_backend:app
    QODER_FAKE=1 uv run python examples/web_backend.py
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import httpx
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import StreamingResponse

from qoder_async import NotFoundError, QoderClient, RunStatus, to_json

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from contextlib import AbstractAsyncContextManager


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open one client for the application's lifetime."""
    async with connect(max_connections=32) as client:
        app.state.qoder = client
        yield


def connect(*, max_connections: int) -> AbstractAsyncContextManager[QoderClient]:
    """A client for the API the environment names, or for a seeded fake one if $QODER_FAKE=1."""
    if os.environ.get("QODER_FAKE", "") in ("", "0"):
        return QoderClient(max_connections=max_connections)
    # The fake is a testing aid: imported only when asked for. Its clock starts now, so
    # "the last 24 hours" holds recent runs.
    from qoder_async.testing import fake_client

    return fake_client(max_connections=max_connections)


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


@app.get("/runs.ndjson")
async def runs_ndjson(
    request: Request, status: str | None = None, limit: int = 100
) -> StreamingResponse:
    """Runs of every deployment, newest first (at most `limit`), as NDJSON."""
    client = _client(request)
    try:
        # RunStatus(...) turns the query's str into the typed filter (ValueError if unknown).
        wanted = RunStatus(status) if status is not None else None
        runs = client.deployment_runs.list(status=wanted, max_items=limit, limit=min(limit, 100))
    except ValueError as exc:  # e.g. an unknown status: refused before any request
        raise HTTPException(status_code=422, detail=str(exc)) from exc

    async def lines() -> AsyncIterator[str]:
        # Leaving the block (the listing ended, or the client went away) stops the prefetch.
        async with runs:
            async for page in runs.pages():
                yield "".join(to_json(run) + "\n" for run in page.data)

    return StreamingResponse(lines(), media_type="application/x-ndjson")


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
        streamed = await http.get("/runs.ndjson", params={"status": "failed", "limit": 5})
        print(streamed.status_code, streamed.headers["content-type"], streamed.text, end="")


if __name__ == "__main__":
    anyio.run(_self_check)
