"""What decoding one 1000-item page costs: JSON bytes to models, ours against the baselines.

Setup: a 1000-run page and a 1000-deployment page, made once by the fake API from a fixed
seed and clock (`FakeQoderAPI(seed=10, now=2026-06-14T09:00Z)`, 1000 deployments with one
run each): the runs page is its answer to `GET /deployment_runs?limit=1000`, the
deployments page the 10 pages of `GET /deployments?limit=100` (its maximum) in one
envelope. Their sha256 is printed, so two runs can be checked to have decoded the same
bytes. The deployments carry the fake's rich initial events (text, image and document
blocks, define_outcome rubrics); a quarter of the runs come in the minimal shape (spec
7.1), and about half of the timestamps have nanosecond fractions.

Rows, each from the page's bytes to objects:
- ours (default): `json.loads` and our converter, what a plain install runs.
- ours (fast path): the msgspec fast path of the `fast` extra (`decode_json`).
- cattrs untuned: a plain `cattrs.Converter()` on our models, given only what it cannot do
  itself (timestamps, the initial-event unions, the cas_config lift).
- pydantic v2: `TypeAdapter(Page).validate_json` on equivalent frozen models (enum | str
  statuses, discriminated unions for the events, `cas_config` as a model inside metadata).
- qca-sdk: the official SDK's own models, through its response parser.
- msgspec Structs: `msgspec.json.Decoder` on equivalent frozen Structs (tagged unions for
  the events; statuses as plain str, as msgspec cannot keep unknown enum values).
- json.loads / orjson.loads: parsing alone, no models.
The pydantic and msgspec models do the same work on these pages but would reject an event
kind they do not know, which ours keeps (spec 7.2).

Each row decodes its page `--rounds` times (default 30, `--quick` 8), rows interleaved
round by round after a warm-up, with a `gc.collect()` before every timed call; the median
is reported with ratios to pydantic and to msgspec Structs. Every row's result is checked
(1000 items, the same ids in order) and ours (fast path) must equal ours (default).

Run: `uv run --frozen --group bench python benchmarks/bench_decode.py [--quick] [--json PATH]`
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import gc
import hashlib
import json
import platform
import statistics
import time
from datetime import datetime, timezone
from importlib.metadata import version
from types import SimpleNamespace
from typing import TYPE_CHECKING, Annotated, Any, Literal

import cattrs
import httpx
import msgspec
import orjson
import pydantic
from _harness import format_table, write_json

from qoder_async import (
    ContentBlock,
    Deployment,
    DeploymentRun,
    DocumentSource,
    ImageSource,
    InitialEvent,
    Page,
    Rubric,
)
from qoder_async import _event_codec as codec
from qoder_async._converter import decode_json, fast_path_enabled, parse_datetime
from qoder_async.testing import FakeQoderAPI

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

NOW = datetime(2026, 6, 14, 9, 0, tzinfo=timezone.utc)
BASE_URL = "https://api.qoder.com/api/v1/cloud"
PAT = "pt-bench"


# -- the pages ------------------------------------------------------------------------------


async def _pages() -> dict[str, bytes]:
    api = FakeQoderAPI(pat=PAT, seed=10, now=NOW)
    api.seed(deployments=1000, runs_per_deployment=1)
    headers = {"Authorization": f"Bearer {PAT}"}
    async with httpx.AsyncClient(
        transport=api.transport(), base_url=BASE_URL, headers=headers
    ) as http:
        runs = await http.get("/deployment_runs", params={"limit": 1000})
        runs.raise_for_status()
        items: list[Any] = []
        params = {"limit": "100", "include_archived": "true"}
        while True:
            response = await http.get("/deployments", params=params)
            response.raise_for_status()
            body = response.json()
            items += body["data"]
            if not body["has_more"]:
                break
            params["after_id"] = body["last_id"]
    envelope = {
        "data": items,
        "first_id": items[0]["id"],
        "last_id": items[-1]["id"],
        "has_more": False,
        "next_page": None,
    }
    return {"runs": runs.content, "deployments": json.dumps(envelope).encode()}


# -- pydantic v2 equivalents ----------------------------------------------------------------


class _P(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="ignore")


class PRunStatus(str, enum.Enum):
    """Run statuses, as ours."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


class PTriggerType(str, enum.Enum):
    """Trigger types, as ours."""

    MANUAL = "manual"
    SCHEDULE = "schedule"
    RETRY = "retry"


class PDeploymentStatus(str, enum.Enum):
    """Deployment statuses, as ours."""

    ACTIVE = "active"
    PAUSED = "paused"


class PAgentRef(_P):
    """AgentRef."""

    id: str
    type: str = "agent"
    version: int | None = None


class PRunError(_P):
    """RunError."""

    type: str
    message: str | None = None


class PTriggerContext(_P):
    """TriggerContext."""

    type: PTriggerType | str
    scheduled_at: datetime | None = None


class PCasRunExtras(_P):
    """CasRunExtras."""

    attempt: int | None = None
    turn_id: str | None = None
    started_at: datetime | None = None


class PRun(_P):
    """DeploymentRun."""

    id: str
    type: str = "deployment_run"
    deployment_id: str
    agent: PAgentRef
    status: PRunStatus | str | None = None
    error: PRunError | None = None
    trigger_context: PTriggerContext
    session_id: str | None = None
    triggered_at: datetime | None = None
    created_at: datetime
    completed_at: datetime | None = None
    duration_ms: int | None = None
    cas_run_extras: PCasRunExtras | None = None


class PBase64(_P):
    """Base64Source."""

    type: Literal["base64"]
    media_type: str
    data: str


class PURL(_P):
    """URLSource."""

    type: Literal["url"]
    url: str


class PFile(_P):
    """FileSource."""

    type: Literal["file"]
    file_id: str


class PPlainText(_P):
    """PlainTextSource."""

    type: Literal["text"]
    media_type: str = "text/plain"
    data: str


class PText(_P):
    """TextBlock."""

    type: Literal["text"]
    text: str


class PImage(_P):
    """ImageBlock."""

    type: Literal["image"]
    source: Annotated[PBase64 | PURL | PFile, pydantic.Field(discriminator="type")]


class PDocument(_P):
    """DocumentBlock."""

    type: Literal["document"]
    source: Annotated[PBase64 | PURL | PFile | PPlainText, pydantic.Field(discriminator="type")]
    title: str | None = None
    context: str | None = None


class PRedacted(_P):
    """RedactedBlock."""

    type: Literal["redacted"]


PBlock = Annotated[PText | PImage | PDocument | PRedacted, pydantic.Field(discriminator="type")]


class PTextRubric(_P):
    """TextRubric."""

    type: Literal["text"]
    content: str


class PFileRubric(_P):
    """FileRubric."""

    type: Literal["file"]
    file_id: str


class PUserMessage(_P):
    """UserMessage."""

    type: Literal["user.message"]
    content: str | tuple[PBlock, ...]


class PSystemMessage(_P):
    """SystemMessage."""

    type: Literal["system.message"]
    content: str | tuple[PText, ...]


class PDefineOutcome(_P):
    """DefineOutcome."""

    type: Literal["user.define_outcome"]
    description: str
    rubric: Annotated[PTextRubric | PFileRubric, pydantic.Field(discriminator="type")]
    max_iterations: int | None = None


PEvent = Annotated[
    PUserMessage | PSystemMessage | PDefineOutcome, pydantic.Field(discriminator="type")
]


class PSchedule(_P):
    """Schedule."""

    type: str = "cron"
    expression: str
    timezone: str
    upcoming_runs_at: tuple[datetime, ...] = ()
    last_run_at: datetime | None = None


class PCasSettings(_P):
    """CasSettings."""

    max_concurrent: int | None = None
    max_retries: int | None = None
    timeout_ms: int | None = None


class PCasStats(_P):
    """CasStats."""

    consecutive_failures: int | None = None
    total_failures: int | None = None
    total_runs: int | None = None
    next_trigger_at: datetime | None = None
    last_triggered_at: datetime | None = None


class PCasConfig(_P):
    """CasConfig."""

    config: PCasSettings | None = None
    session_strategy: str | None = None
    stats: PCasStats | None = None


class PPausedReason(_P):
    """PausedReason."""

    type: str
    error: PRunError | None = None


class PDeployment(_P):
    """Deployment; `cas_config` stays inside metadata, validated as a model there."""

    id: str
    type: str = "deployment"
    name: str
    description: str | None = None
    agent: PAgentRef
    environment_id: str
    initial_events: tuple[PEvent, ...] = ()
    resources: tuple[dict[str, Any], ...] = ()
    vault_ids: tuple[str, ...] = ()
    metadata: dict[str, PCasConfig | str] = pydantic.Field(default_factory=dict)
    schedule: PSchedule | None = None
    status: PDeploymentStatus | str
    paused_reason: PPausedReason | None = None
    archived_at: datetime | None = None
    created_at: datetime
    updated_at: datetime | None = None
    environment_variables: str | None = None
    budget: dict[str, Any] | None = None


class PRunPage(_P):
    """Page[DeploymentRun]."""

    data: tuple[PRun, ...]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool | None = None
    next_page: str | None = None


class PDeploymentPage(_P):
    """Page[Deployment]."""

    data: tuple[PDeployment, ...]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool | None = None
    next_page: str | None = None


# -- msgspec Struct equivalents -------------------------------------------------------------


class _S(msgspec.Struct, frozen=True, kw_only=True):
    pass


class SAgentRef(_S, frozen=True, kw_only=True):
    """AgentRef."""

    id: str
    type: str = "agent"
    version: int | None = None


class SRunError(_S, frozen=True, kw_only=True):
    """RunError."""

    type: str
    message: str | None = None


class STriggerContext(_S, frozen=True, kw_only=True):
    """TriggerContext."""

    type: str
    scheduled_at: datetime | None = None


class SCasRunExtras(_S, frozen=True, kw_only=True):
    """CasRunExtras."""

    attempt: int | None = None
    turn_id: str | None = None
    started_at: datetime | None = None


class SRun(_S, frozen=True, kw_only=True):
    """DeploymentRun."""

    id: str
    type: str = "deployment_run"
    deployment_id: str
    agent: SAgentRef
    status: str | None = None
    error: SRunError | None = None
    trigger_context: STriggerContext
    session_id: str | None = None
    triggered_at: datetime | None = None
    created_at: datetime
    completed_at: datetime | None = None
    duration_ms: int | None = None
    cas_run_extras: SCasRunExtras | None = None


class _Tagged(_S, tag_field="type", frozen=True):
    pass


class SBase64(_Tagged, tag="base64", frozen=True, kw_only=True):
    """Base64Source."""

    media_type: str
    data: str


class SURL(_Tagged, tag="url", frozen=True, kw_only=True):
    """URLSource."""

    url: str


class SFile(_Tagged, tag="file", frozen=True, kw_only=True):
    """FileSource."""

    file_id: str


class SPlainText(_Tagged, tag="text", frozen=True, kw_only=True):
    """PlainTextSource."""

    media_type: str = "text/plain"
    data: str


class SText(_Tagged, tag="text", frozen=True, kw_only=True):
    """TextBlock."""

    text: str


class SImage(_Tagged, tag="image", frozen=True, kw_only=True):
    """ImageBlock."""

    source: SBase64 | SURL | SFile


class SDocument(_Tagged, tag="document", frozen=True, kw_only=True):
    """DocumentBlock."""

    source: SBase64 | SURL | SFile | SPlainText
    title: str | None = None
    context: str | None = None


class SRedacted(_Tagged, tag="redacted", frozen=True, kw_only=True):
    """RedactedBlock."""


class STextRubric(_Tagged, tag="text", frozen=True, kw_only=True):
    """TextRubric."""

    content: str


class SFileRubric(_Tagged, tag="file", frozen=True, kw_only=True):
    """FileRubric."""

    file_id: str


class SUserMessage(_Tagged, tag="user.message", frozen=True, kw_only=True):
    """UserMessage."""

    content: str | list[SText | SImage | SDocument | SRedacted]


class SSystemMessage(_Tagged, tag="system.message", frozen=True, kw_only=True):
    """SystemMessage."""

    content: str | list[SText]


class SDefineOutcome(_Tagged, tag="user.define_outcome", frozen=True, kw_only=True):
    """DefineOutcome."""

    description: str
    rubric: STextRubric | SFileRubric
    max_iterations: int | None = None


class SSchedule(_S, frozen=True, kw_only=True):
    """Schedule."""

    type: str = "cron"
    expression: str
    timezone: str
    upcoming_runs_at: tuple[datetime, ...] = ()
    last_run_at: datetime | None = None


class SCasSettings(_S, frozen=True, kw_only=True):
    """CasSettings."""

    max_concurrent: int | None = None
    max_retries: int | None = None
    timeout_ms: int | None = None


class SCasStats(_S, frozen=True, kw_only=True):
    """CasStats."""

    consecutive_failures: int | None = None
    total_failures: int | None = None
    total_runs: int | None = None
    next_trigger_at: datetime | None = None
    last_triggered_at: datetime | None = None


class SCasConfig(_S, frozen=True, kw_only=True):
    """CasConfig."""

    config: SCasSettings | None = None
    session_strategy: str | None = None
    stats: SCasStats | None = None


class SPausedReason(_S, frozen=True, kw_only=True):
    """PausedReason."""

    type: str
    error: SRunError | None = None


class SDeployment(_S, frozen=True, kw_only=True):
    """Deployment; `cas_config` stays inside metadata, decoded as a Struct there."""

    id: str
    type: str = "deployment"
    name: str
    description: str | None = None
    agent: SAgentRef
    environment_id: str
    initial_events: tuple[SUserMessage | SSystemMessage | SDefineOutcome, ...] = ()
    resources: tuple[dict[str, Any], ...] = ()
    vault_ids: tuple[str, ...] = ()
    metadata: dict[str, SCasConfig | str] = {}
    schedule: SSchedule | None = None
    status: str
    paused_reason: SPausedReason | None = None
    archived_at: datetime | None = None
    created_at: datetime
    updated_at: datetime | None = None
    environment_variables: str | None = None
    budget: dict[str, Any] | None = None


class SRunPage(_S, frozen=True, kw_only=True):
    """Page[DeploymentRun]."""

    data: tuple[SRun, ...]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool | None = None
    next_page: str | None = None


class SDeploymentPage(_S, frozen=True, kw_only=True):
    """Page[Deployment]."""

    data: tuple[SDeployment, ...]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool | None = None
    next_page: str | None = None


# -- the rows -------------------------------------------------------------------------------


def _untuned_cattrs() -> cattrs.Converter:
    """A plain cattrs converter, given only what it cannot do by itself on our models."""
    conv = cattrs.Converter()
    conv.register_structure_hook(datetime, lambda value, _: parse_datetime(value))
    conv.register_structure_hook(InitialEvent, lambda value, _: codec.structure_event(value))
    for union in (ContentBlock, ImageSource, DocumentSource, Rubric):
        conv.register_structure_hook(union, lambda value, _: value)  # inside events only
    conv.register_structure_hook_func(lambda type_: type_ is object, lambda value, _: value)
    fields = cattrs.gen.make_dict_structure_fn(Deployment, conv)

    def deployment(value: Any, _: object) -> Deployment:
        metadata = dict(value.get("metadata", {}))
        cas_config = metadata.pop("cas_config", None)
        return fields({**value, "metadata": metadata, "cas_config": cas_config}, Deployment)

    conv.register_structure_hook(Deployment, deployment)
    return conv


def _qca(kind: str) -> Callable[[bytes], Any]:
    # Imported here: qca-sdk is in the bench group only.
    from qca.common._models import parse_response
    from qca.common.pagination import AsyncPage
    from qca.managed.types.deployment import Deployment as QDeployment
    from qca.managed.types.deployment_run import DeploymentRun as QRun

    page = AsyncPage[QRun] if kind == "runs" else AsyncPage[QDeployment]
    response = SimpleNamespace(headers={})
    return lambda content: parse_response(page, json.loads(content), response)


def rows(kind: str) -> dict[str, Callable[[bytes], Any]]:
    """Every row's decode function for the `kind` page ("runs" or "deployments")."""
    ours: Any = Page[DeploymentRun] if kind == "runs" else Page[Deployment]
    pydantic_page = pydantic.TypeAdapter(PRunPage if kind == "runs" else PDeploymentPage)
    struct_page = msgspec.json.Decoder(SRunPage if kind == "runs" else SDeploymentPage)
    untuned = _untuned_cattrs()
    return {
        "ours (default)": lambda content: decode_json(content, ours, fast=False),
        "ours (fast path)": lambda content: decode_json(content, ours),
        "cattrs untuned": lambda content: untuned.structure(json.loads(content), ours),
        "pydantic v2": pydantic_page.validate_json,
        "qca-sdk": _qca(kind),
        "msgspec Structs": struct_page.decode,
        "json.loads": json.loads,
        "orjson.loads": orjson.loads,
    }


def _ids(result: Any) -> list[str]:
    data = result["data"] if isinstance(result, dict) else result.data
    return [item["id"] if isinstance(item, dict) else item.id for item in data]


def measure(kind: str, content: bytes, rounds: int) -> dict[str, float]:
    """Median seconds per decode of each row, rows interleaved round by round."""
    decoders = rows(kind)
    expected = _ids(json.loads(content))
    results = {name: decode(content) for name, decode in decoders.items()}
    for name, result in results.items():
        if _ids(result) != expected:
            msg = f"{name} decoded the {kind} page wrongly"
            raise RuntimeError(msg)
    if results["ours (fast path)"] != results["ours (default)"]:
        raise RuntimeError("the fast path and the default path disagree")
    times: dict[str, list[float]] = {name: [] for name in decoders}
    for _ in range(rounds):
        for name, decode in decoders.items():
            gc.collect()
            started = time.perf_counter()
            decode(content)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def report(results: dict[str, dict[str, float]], digests: dict[str, str]) -> None:
    """Print one table per page: ms per page, ratios to pydantic and to msgspec Structs."""
    names = ("cattrs", "msgspec", "orjson", "pydantic", "pydantic-core", "qca-sdk")
    versions = ", ".join(f"{name} {version(name)}" for name in names)
    print(f"Python {platform.python_version()}; qoder_async, {versions}")
    print(f"fast path installed: {fast_path_enabled()}")
    for kind, medians in results.items():
        print(f"\n1000 {kind} per page (sha256 {digests[kind][:16]}):")
        table = [
            [
                name,
                f"{seconds * 1e3:.2f}",
                f"{seconds / medians['pydantic v2']:.2f}",
                f"{seconds / medians['msgspec Structs']:.2f}",
            ]
            for name, seconds in medians.items()
        ]
        print(format_table(["row", "ms/page", "x pydantic", "x msgspec"], table))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options; unknown ones (for other benchmarks under nox) are ignored."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="8 rounds instead of 30")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per row")
    parser.add_argument("--json", help="also write the results to this file")
    args, _ = parser.parse_known_args(argv)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Make the pages, measure every row on both and print the tables."""
    args = parse_args(argv)
    rounds = args.rounds or (8 if args.quick else 30)
    pages = asyncio.run(_pages())
    digests = {kind: hashlib.sha256(content).hexdigest() for kind, content in pages.items()}
    results = {kind: measure(kind, content, rounds) for kind, content in pages.items()}
    report(results, digests)
    if args.json:
        write_json(args.json, {"rounds": rounds, "sha256": digests, "seconds": results})


if __name__ == "__main__":
    main()
