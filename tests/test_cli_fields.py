"""`deployments create|update` fields from `--from-file` and options, checked before any request."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from qoder_async import (
    AgentRef,
    CasConfig,
    CasSettings,
    InitialEvent,
    Schedule,
    UserMessage,
    from_dict,
)
from qoder_async._cli_fields import deployment_fields
from qoder_async._cli_parser import build_parser
from qoder_async.testing import FakeQoderAPI
from tests.helpers import NOW

if TYPE_CHECKING:
    from pathlib import Path


def _fields(argv: list[str]) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    return deployment_fields(args, update=args.action == "deployments.update")


def _write(tmp_path: Path, data: object) -> str:
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps(data))
    return str(path)


@pytest.fixture
def wire() -> dict[str, Any]:
    """A scheduled deployment as the API sends it (cas_config, stats and all)."""
    api = FakeQoderAPI(seed=5, now=NOW)
    api.seed(deployments=8, runs_per_deployment=1)
    return next(d for d in api.deployments.values() if d["schedule"] and d["vault_ids"])


def test_a_whole_deployment_from_get_json_becomes_create_arguments(
    wire: dict[str, Any], tmp_path: Path
) -> None:
    """Read-only fields are skipped, cas_config leaves metadata, stats are dropped."""
    fields = _fields(["deployments", "create", "--from-file", _write(tmp_path, wire)])
    assert fields["name"] == wire["name"]
    assert fields["agent"] == AgentRef(id=wire["agent"]["id"], version=wire["agent"]["version"])
    assert fields["environment_id"] == wire["environment_id"]
    assert fields["schedule"] == Schedule(
        expression=wire["schedule"]["expression"], timezone=wire["schedule"]["timezone"]
    )
    # from_dict's signature takes classes; the InitialEvent union works at run time.
    events: list[object] = [
        from_dict(InitialEvent, e)  # type: ignore[arg-type]
        for e in wire["initial_events"]
    ]
    assert fields["initial_events"] == events
    assert fields["vault_ids"] == wire["vault_ids"]
    user = {k: v for k, v in wire["metadata"].items() if k != "cas_config"}
    assert fields.get("metadata", {}) == user
    config = wire["metadata"]["cas_config"]
    assert fields["cas_config"] == CasConfig(
        config=CasSettings(**config["config"]), session_strategy=config["session_strategy"]
    )
    assert not {"id", "status", "created_at", "paused_reason", "type"} & set(fields)


def test_options_override_the_file(wire: dict[str, Any], tmp_path: Path) -> None:
    """An option wins over the same field in the file; unrelated file fields stay."""
    fields = _fields([
        "deployments", "create", "--from-file", _write(tmp_path, wire), "--name", "copy",
        "--timezone", "UTC", "--message", "only this", "--metadata", "team=x",
        "--max-retries", "5", "--agent-version", "2",
    ])  # fmt: skip
    assert fields["name"] == "copy"
    assert fields["schedule"] == Schedule(expression=wire["schedule"]["expression"], timezone="UTC")
    assert fields["initial_events"] == [UserMessage(content="only this")]
    assert fields["metadata"]["team"] == "x"
    assert fields["cas_config"].config.max_retries == 5
    assert (
        fields["cas_config"].config.timeout_ms
        == wire["metadata"]["cas_config"]["config"]["timeout_ms"]
    )
    assert fields["agent"] == AgentRef(id=wire["agent"]["id"], version=2)


def test_update_sends_only_what_is_given_and_clears_nulls(tmp_path: Path) -> None:
    """For update, JSON null and --clear become None (clear); absent fields are not sent."""
    path = _write(tmp_path, {"description": None, "metadata": {"old": None, "new": "v"}})
    fields = _fields([
        "deployments", "update", "dep_1", "--from-file", path, "--clear", "schedule",
        "--delete-metadata", "gone",
    ])  # fmt: skip
    assert fields == {
        "description": None,
        "schedule": None,
        "metadata": {"old": None, "new": "v", "gone": None},
    }


@pytest.mark.parametrize(
    ("argv", "data", "message"),
    [
        (["create"], None, "create needs --name, --agent, --environment, --message"),
        (["create", "--name", "x"], {"nmae": "typo"}, "unknown deployment fields nmae"),
        (["update", "dep_1", "--timezone", "UTC"], None, "--timezone needs --schedule"),
        (["update", "dep_1", "--agent-version", "3"], None, "--agent-version needs --agent"),
        (["update", "dep_1", "--clear", "budget", "--budget", "{}"], None, "contradicts"),
        (["update", "dep_1"], {"metadata": None}, "metadata cannot be null"),
        (["update", "dep_1"], {"schedule": {"timezone": "UTC"}}, "schedule needs 'expression'"),
        (["update", "dep_1"], {"initial_events": [42]}, "initial_events[0]"),
    ],
)
def test_invalid_fields_are_usage_errors(
    argv: list[str], data: object, message: str, tmp_path: Path
) -> None:
    """Missing, unknown, contradictory or malformed fields raise ValueError naming them."""
    extra = [] if data is None else ["--from-file", _write(tmp_path, data)]
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _fields(["deployments", *argv, *extra])


def test_a_file_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    """A JSON array, invalid JSON or a missing file is refused with the file named."""
    with pytest.raises(TypeError, match="must hold a JSON object"):
        _fields(["deployments", "update", "dep_1", "--from-file", _write(tmp_path, [1])])
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(ValueError, match="is not JSON"):
        _fields(["deployments", "update", "dep_1", "--from-file", str(tmp_path / "bad.json")])
    with pytest.raises(ValueError, match="cannot read"):
        _fields(["deployments", "update", "dep_1", "--from-file", str(tmp_path / "none.json")])
