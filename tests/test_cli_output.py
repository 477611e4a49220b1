"""CLI output in-process: argument types, column fitting, JSON lines, TSV, tables, progress."""

from __future__ import annotations

import argparse
import io
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qoder_async import Deployment, DeploymentRun, to_dict
from qoder_async._cli_output import GAP, Output, fit_columns
from qoder_async._cli_parser import build_parser
from qoder_async._cli_types import parse_duration, parse_instant
from qoder_async._cli_views import DEPLOYMENT_VIEW, RUN_VIEW, Column, fmt_duration
from qoder_async._converter import structure
from qoder_async.testing import FakeQoderAPI
from tests.helpers import NOW


class _Terminal(io.StringIO):
    """A text buffer that claims to be a terminal."""

    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def sample() -> tuple[list[Deployment], list[DeploymentRun]]:
    """Seeded deployments and runs, structured as the client would."""
    api = FakeQoderAPI(seed=3, now=NOW)
    api.seed(deployments=6, runs_per_deployment=4)
    deployments = [structure(d, Deployment) for d in api.deployments.values()]
    runs = [structure(r, DeploymentRun) for r in api.runs.values()]
    return deployments, runs


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("1.5", 1.5), ("250ms", 0.25), ("5m", 300), ("2h", 7200), ("1d", 86400)],
)
def test_durations(text: str, seconds: float) -> None:
    """Durations read as seconds, with or without a unit."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "-1s", "0s", "soon", "1h30m"])
def test_bad_durations(text: str) -> None:
    """Anything but one positive number with one unit is refused."""
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_instants() -> None:
    """--since takes a duration ago, or an ISO date/time read as UTC unless it has an offset."""
    now = datetime(2026, 6, 14, 9, 0, tzinfo=timezone.utc)
    assert parse_instant("24h", now=now) == now - timedelta(hours=24)
    assert parse_instant("2026-06-01") == datetime(2026, 6, 1, tzinfo=timezone.utc)
    assert parse_instant("2026-06-01T09:00") == datetime(2026, 6, 1, 9, tzinfo=timezone.utc)
    shanghai = parse_instant("2026-06-01T09:00:00+08:00")
    assert shanghai == datetime(2026, 6, 1, 1, tzinfo=timezone.utc)
    assert parse_instant("2026-06-01T09:00:00Z").tzinfo is not None
    with pytest.raises(argparse.ArgumentTypeError):
        parse_instant("yesterday")


def test_global_options_go_before_or_after_the_command() -> None:
    """--json, --fake, --pat and --base-url parse the same at every level."""
    parser = build_parser()
    for argv in (
        ["--json", "--pat", "pt-x", "runs", "list"],
        ["runs", "--json", "--pat", "pt-x", "list"],
        ["runs", "list", "--json", "--pat", "pt-x"],
    ):
        args = parser.parse_args(argv)
        assert (args.json, args.pat, args.fake, args.base_url) == (True, "pt-x", False, None)
        assert args.action == "runs.list"


def test_durations_of_runs() -> None:
    """Run durations read at a glance."""
    assert [fmt_duration(ms) for ms in (None, 850, 12_340, 245_000, 7_380_000)] == [
        "-",
        "850ms",
        "12.3s",
        "4m05s",
        "2h03m",
    ]


@st.composite
def _columns(draw: st.DrawFn) -> tuple[list[Column[Any]], list[int]]:
    count = draw(st.integers(1, 8))
    columns: list[Column[Any]] = []
    natural = []
    for i in range(count):
        header = "H" * draw(st.integers(1, 6))
        flexible = draw(st.booleans())
        columns.append(
            Column(
                header=header,
                cell=lambda obj, human: "",
                priority=0 if i == 0 else draw(st.integers(0, 5)),
                flexible=flexible,
                min_width=draw(st.integers(0, 20)),
            )
        )
        natural.append(draw(st.integers(len(header), 60)))
    return columns, natural


@given(_columns(), st.integers(10, 250))
def test_fitted_columns_keep_order_and_fit_when_they_can(
    spec: tuple[list[Column[Any]], list[int]], width: int
) -> None:
    """Columns keep their order, priority 0 stays, fixed ones keep their width, the rest fit."""
    columns, natural = spec
    fitted = fit_columns(columns, natural, width)
    kept = [columns.index(column) for column, _ in fitted]
    assert kept == sorted(kept)
    assert {i for i, c in enumerate(columns) if c.priority == 0} <= set(kept)
    dropped = [c.priority for i, c in enumerate(columns) if i not in kept]
    assert all(p >= columns[i].priority for p in dropped for i in kept)
    for (column, size), i in zip(fitted, kept, strict=True):
        floor = max(column.min_width, len(column.header))
        assert size == natural[i] if not column.flexible else min(natural[i], floor) <= size
    total = sum(size for _, size in fitted) + len(GAP) * (len(fitted) - 1)
    if len(fitted) > len([c for c in columns if c.priority == 0]):
        assert total <= width  # something could have been dropped, so it fits


def test_json_lines_are_to_dict(sample: tuple[list[Deployment], list[DeploymentRun]]) -> None:
    """--json writes each object as one line of its wire dict."""
    deployments, runs = sample
    stdout = io.StringIO()
    out = Output(json_lines=True, stdout=stdout, stderr=io.StringIO())
    for deployment in deployments:
        out.item(deployment, DEPLOYMENT_VIEW)
    out.show(runs[0], RUN_VIEW)
    out.close()
    lines = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert lines == [to_dict(d) for d in deployments] + [to_dict(runs[0])]


def test_piped_output_is_tsv_and_one_line_per_object(
    sample: tuple[list[Deployment], list[DeploymentRun]],
) -> None:
    """Without a terminal: no header, every column, tabs and line breaks in values flattened."""
    deployments, _ = sample
    odd = attrs.evolve(deployments[0], name="tab\there\nand a new line")
    stdout, stderr = io.StringIO(), io.StringIO()
    out = Output(json_lines=False, stdout=stdout, stderr=stderr)
    out.item(odd, DEPLOYMENT_VIEW)
    out.item(deployments[1], DEPLOYMENT_VIEW)
    out.close()
    rows = [line.split("\t") for line in stdout.getvalue().splitlines()]
    assert [len(row) for row in rows] == [len(DEPLOYMENT_VIEW.columns)] * 2
    assert rows[0][:2] == [odd.id, "tab here and a new line"]
    assert stderr.getvalue() == ""  # no progress without a terminal


@pytest.mark.parametrize("columns", [60, 80, 120, 250])
def test_tables_fit_the_terminal(
    columns: int,
    sample: tuple[list[Deployment], list[DeploymentRun]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a terminal a table has a header and rows no wider than the terminal, ids whole."""
    monkeypatch.setenv("COLUMNS", str(columns))
    _, runs = sample
    stdout = _Terminal()
    out = Output(json_lines=False, stdout=stdout, stderr=io.StringIO())
    for run in runs:
        out.item(run, RUN_VIEW)
    out.close()
    header, *rows = stdout.getvalue().splitlines()
    assert header.startswith("ID ")
    assert [row.split()[0] for row in rows] == [run.id for run in runs]
    assert max(len(line) for line in (header, *rows)) <= columns
    if columns == 250:
        assert header.split() == [
            "ID", "DEPLOYMENT", "STATUS", "TRIGGER", "TRIGGERED", "(UTC)", "DURATION", "ERROR"
        ]  # fmt: skip


def test_progress_is_wiped_before_rows_on_a_shared_terminal(
    sample: tuple[list[Deployment], list[DeploymentRun]],
) -> None:
    """With stdout and stderr on one terminal, the progress line is erased before a row."""
    _, runs = sample
    terminal = _Terminal()
    out = Output(json_lines=True, stdout=terminal, stderr=terminal)
    out.progress.show("12 runs (100/s)", force=True)
    out.item(runs[0], RUN_VIEW)
    out.close()
    text = terminal.getvalue()
    assert text.startswith("\r12 runs (100/s)\x1b[K\r\x1b[K{")
    assert not out.progress.visible


def test_details_view(sample: tuple[list[Deployment], list[DeploymentRun]]) -> None:
    """A single object is shown field by field: aligned on a terminal, label<TAB>value if piped."""
    deployments, _ = sample
    deployment = deployments[0]
    piped = io.StringIO()
    Output(json_lines=False, stdout=piped, stderr=io.StringIO()).show(deployment, DEPLOYMENT_VIEW)
    assert f"id\t{deployment.id}" in piped.getvalue().splitlines()
    terminal = _Terminal()
    Output(json_lines=False, stdout=terminal, stderr=io.StringIO()).show(
        deployment, DEPLOYMENT_VIEW
    )
    lines = terminal.getvalue().splitlines()
    assert lines[0].split() == ["id:", deployment.id]
    assert len({line.index(line.split()[-1]) for line in lines[:2]}) == 1  # values aligned
