"""The `qoder-async` command driven in subprocesses against a fake API served over loopback."""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from qoder_async._converter import parse_datetime

if TYPE_CHECKING:
    from collections.abc import Iterator

if sys.platform == "win32":  # pseudo-terminals, signals and bash pipes are POSIX things
    pytest.skip("POSIX only", allow_module_level=True)

import pty

PAT = "pt-cli-tests"
TIMEOUT = 30
# A progress line as the CLI draws it on a terminal: a carriage return, text, erase-to-end.
PROGRESS = re.compile(r"\r[^\r\n]*?\x1b\[K")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A seeded fake API in its own process (clock at the real time), for the whole module."""
    command = [sys.executable, "-m", "qoder_async.testing", "--pat", PAT]
    command += ["--deployments", "15", "--runs-per-deployment", "40"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:"), url
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def http(server: str) -> Iterator[httpx.Client]:
    """A plain HTTP client of the fake API: the wire shape to compare the CLI's output with."""
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {PAT}"}) as client:
        yield client


def _env(server: str | None = None, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("QODER_")}
    env.update(PYTHONWARNINGS="error", COLUMNS="200")
    if server is not None:
        env.update(QODER_PAT=PAT, QODER_BASE_URL=server)
    env.update(extra)
    return env


def cli(
    server: str | None, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `python -m qoder_async ARGS` against `server` with stdout and stderr captured."""
    return subprocess.run(
        [sys.executable, "-m", "qoder_async", *args],
        input=stdin,
        env=_env(server, **env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def cli_all(
    server: str | None, *commands: tuple[str, ...], **env: str
) -> list[subprocess.CompletedProcess[str]]:
    """Run independent commands at once (each as `cli` would); results in the same order."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "qoder_async", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(server, **env),
            text=True,
        )
        for args in commands
    ]
    results = []
    for process in processes:
        with process:
            stdout, stderr = process.communicate(timeout=TIMEOUT)
        results.append(
            subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        )
    return results


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The stdout of a command that must have succeeded quietly."""
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def same_wire(cli_object: object, api_object: object) -> bool:
    """Equal as JSON, timestamps compared as instants (the models keep microseconds)."""
    if isinstance(cli_object, dict) and isinstance(api_object, dict):
        return cli_object.keys() == api_object.keys() and all(
            same_wire(cli_object[key], api_object[key]) for key in cli_object
        )
    if isinstance(api_object, str) and cli_object == [{"type": "text", "text": api_object}]:
        return True  # legacy string content is written back as one text block (spec 7.2)
    if isinstance(cli_object, list) and isinstance(api_object, list):
        return len(cli_object) == len(api_object) and all(
            same_wire(a, b) for a, b in zip(cli_object, api_object, strict=True)
        )
    if isinstance(cli_object, str) and isinstance(api_object, str) and api_object[-1:] == "Z":
        try:  # the same instant may be written with more or fewer fraction digits
            return parse_datetime(cli_object) == parse_datetime(api_object)
        except ValueError:
            pass
    return cli_object == api_object


def on_a_terminal(server: str, *args: str, columns: int) -> str:
    """Run the CLI with stdout and stderr on a pseudo-terminal; return all it drew there."""
    leader, follower = pty.openpty()
    env = _env(server, COLUMNS=str(columns))
    with subprocess.Popen(
        [sys.executable, "-m", "qoder_async", *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=env,
    ) as process:
        os.close(follower)
        drawn = _drain(leader)
        assert process.wait(timeout=TIMEOUT) == 0, drawn
    os.close(leader)
    return drawn.decode().replace("\r\n", "\n")


def _drain(fd: int) -> bytes:
    data = b""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], deadline - time.monotonic())
        if not ready:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side of the terminal is closed
            break
        if not chunk:
            break
        data += chunk
    return data


def _read_until(fd: int, needle: bytes, data: bytes = b"", *, lines: int = 0) -> bytes:
    """Read from `fd` until `needle` (and `lines` line ends) arrived, within TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    while needle not in data or data.count(b"\n") < lines:
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(remaining, 0))
        assert ready, f"timed out waiting for {needle!r}; got {data!r}"
        chunk = os.read(fd, 65536)
        assert chunk, f"closed before {needle!r}; got {data!r}"
        data += chunk
    return data


def _new_deployment(http: httpx.Client, name: str) -> str:
    """Create an active, manual-only deployment over HTTP; return its id."""
    template = http.get("/deployments", params={"status": "active", "limit": 1}).json()["data"][0]
    body = {
        "name": name,
        "agent": template["agent"]["id"],
        "environment_id": template["environment_id"],
        "initial_events": [{"type": "user.message", "content": [{"type": "text", "text": "hi"}]}],
    }
    created = http.post("/deployments", json=body)
    assert created.status_code in (200, 201), created.text
    deployment_id: str = created.json()["id"]
    return deployment_id


def test_version_from_python_m_and_the_installed_script() -> None:
    """`--version` works through `python -m qoder_async` and the `qoder-async` script."""
    from qoder_async import __version__

    assert ok(cli(None, "--version")) == f"qoder-async {__version__}\n"
    script = Path(sys.executable).with_name("qoder-async")
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert result.returncode == 0
    assert result.stdout == f"qoder-async {__version__}\n"


def test_json_lines_are_the_api_wire_shape(server: str, http: httpx.Client) -> None:
    """`--json` prints one object per line, each what the API sent, across page boundaries."""
    expected = http.get("/deployments", params={"limit": 7}).json()["data"]
    # Global options after the command, and before it (the environment has no PAT here).
    results = cli_all(
        None,
        ("deployments", "list", "--limit", "3", "--max-items", "7", "--json",
         "--pat", PAT, "--base-url", server),
        ("--json", "--pat", PAT, "--base-url", server,
         "deployments", "list", "--limit", "3", "--max-items", "7"),
    )  # fmt: skip
    for result in results:
        lines = json_lines(ok(result))
        assert [line["id"] for line in lines] == [item["id"] for item in expected]
        for line, item in zip(lines, expected, strict=True):
            assert same_wire(line, item), (line, item)
            # cas_config goes back inside metadata, as on the wire.
            assert "cas_config" not in line
            assert "cas_config" in line["metadata"]


def test_piped_output_is_tab_separated_without_header(server: str, http: httpx.Client) -> None:
    """With stdout a pipe, each run is one line of tab-separated fields, ids first, no header."""
    expected = http.get("/deployment_runs", params={"limit": 4}).json()["data"]
    listed, got = cli_all(
        server, ("runs", "list", "--max-items", "4"), ("runs", "get", expected[0]["id"])
    )
    lines = ok(listed).splitlines()
    assert [line.split("\t")[0] for line in lines] == [run["id"] for run in expected]
    assert {len(line.split("\t")) for line in lines} == {7}
    details = ok(got).splitlines()
    assert f"id\t{expected[0]['id']}" in details
    assert f"deployment\t{expected[0]['deployment_id']}" in details


def test_tables_fit_the_terminal_with_progress_on_stderr(server: str, http: httpx.Client) -> None:
    """On a terminal: a header and rows that fit its width, and progress drawn on stderr."""
    expected = http.get("/deployments", params={"limit": 3}).json()["data"]
    drawn = on_a_terminal(server, "deployments", "list", "--max-items", "3", columns=80)
    assert "deployments (" in drawn  # the rate, drawn and then wiped
    table = PROGRESS.sub("", drawn).splitlines()
    assert table[0].startswith("ID  ")
    assert "NAME" in table[0]
    assert [row.split()[0] for row in table[1:]] == [item["id"] for item in expected]
    assert max(len(row) for row in table) <= 80


def test_deployment_lifecycle(server: str, http: httpx.Client) -> None:
    """A deployment through create, update (set and clear), pause, unpause, run --wait, archive."""
    template = http.get("/deployments", params={"status": "active", "limit": 1}).json()["data"][0]
    created = json_lines(ok(cli(
        server, "deployments", "create", "--json", "--name", "cli-lifecycle",
        "--agent", template["agent"]["id"], "--environment", template["environment_id"],
        "--message", "Write the report", "--message", "Then file it",
        "--schedule", "0 9 * * *", "--timezone", "Asia/Shanghai", "--description", "made by a test",
        "--metadata", "team=cli", "--metadata", "owner=tests", "--max-retries", "2",
    )))[0]  # fmt: skip
    deployment_id = created["id"]
    assert same_wire(created, http.get(f"/deployments/{deployment_id}").json())
    assert created["schedule"]["expression"] == "0 9 * * *"
    assert created["metadata"]["team"] == "cli"
    assert created["metadata"]["cas_config"]["config"]["max_retries"] == 2
    assert len(created["initial_events"]) == 2

    updated = json_lines(ok(cli(
        server, "deployments", "update", deployment_id, "--json", "--name", "cli-renamed",
        "--clear", "schedule", "--clear", "description", "--delete-metadata", "owner",
    )))[0]  # fmt: skip
    assert updated["name"] == "cli-renamed"
    assert updated.get("schedule") is None
    assert updated.get("description") is None
    assert "owner" not in updated["metadata"]
    assert updated["metadata"]["team"] == "cli"
    assert updated["initial_events"] == created["initial_events"]  # not sent, so kept

    paused = json_lines(ok(cli(server, "deployments", "pause", deployment_id, "--json")))[0]
    assert paused["status"] == "paused"
    again = cli(server, "deployments", "pause", deployment_id)
    assert again.returncode == 1
    assert again.stdout == ""
    assert re.fullmatch(
        r"qoder-async: error: 409 conflict_error: .+ \[request id: [0-9a-f-]{36}\]\n",
        again.stderr,
    ), again.stderr
    unpaused = ok(cli(server, "deployments", "unpause", deployment_id)).splitlines()
    assert "status\tactive" in unpaused
    assert "name\tcli-renamed" in unpaused
    assert "schedule\tmanual" in unpaused

    run = json_lines(ok(cli(server, "deployments", "run", deployment_id, "--wait",
                            "--interval", "100ms", "--json")))[0]  # fmt: skip
    assert run["deployment_id"] == deployment_id
    assert run["status"] == "completed"

    archived = json_lines(ok(cli(server, "deployments", "archive", deployment_id, "--json")))[0]
    assert archived["archived_at"] is not None
    assert archived["name"].startswith("cli-renamed_archived_")


def test_create_from_a_file_written_by_get_json(server: str, http: httpx.Client) -> None:
    """A deployment printed by `get --json` is accepted back by `create --from-file -`."""
    original = http.get("/deployments", params={"status": "active", "limit": 1}).json()["data"][0]
    printed = ok(cli(server, "deployments", "get", original["id"], "--json"))
    copy = json_lines(ok(cli(server, "deployments", "create", "--from-file", "-",
                             "--name", "cli-copy", "--json", stdin=printed)))[0]  # fmt: skip
    assert copy["id"] != original["id"]
    assert copy["name"] == "cli-copy"
    for field in ("agent", "environment_id", "initial_events", "schedule", "vault_ids"):
        if field == "schedule" and original[field] is not None:
            for key in ("expression", "timezone"):
                assert copy[field][key] == original[field][key]
        else:
            assert copy[field] == original[field], field
    user_metadata = {k: v for k, v in original["metadata"].items() if k != "cas_config"}
    assert {k: v for k, v in copy["metadata"].items() if k != "cas_config"} == user_metadata
    original_config = original["metadata"]["cas_config"]["config"]
    assert copy["metadata"]["cas_config"]["config"] == original_config


def test_runs_list_filters_and_fan_out(server: str, http: httpx.Client) -> None:
    """`runs list`: one deployment with --since/--status, several, and all of them newest first."""
    # Two seeded deployments with recent completed runs (other tests add bare ones).
    recent = http.get("/deployment_runs", params={"status": "completed", "limit": 100}).json()
    first, second = list(dict.fromkeys(run["deployment_id"] for run in recent["data"]))[:2]
    since = datetime.now(timezone.utc) - timedelta(days=30)
    one, two, every = cli_all(
        server,
        ("runs", "list", "--deployment", first, "--since", "30d", "--status", "completed",
         "--json"),
        ("runs", "list", "--deployment", first, "--deployment", second, "--json"),
        ("runs", "list", "--all-deployments", "--order", "newest_first", "--max-items", "25",
         "--json"),
    )  # fmt: skip
    runs = json_lines(ok(one))
    expected = http.get(
        f"/deployments/{first}/runs",
        params={"status": "completed", "limit": 1000, "triggered_after": since.isoformat()},
    ).json()["data"]
    assert runs
    assert {run["id"] for run in runs} <= {run["id"] for run in expected}
    assert all(run["deployment_id"] == first for run in runs)
    assert all(
        parse_datetime(run["triggered_at"]) >= since for run in runs if "triggered_at" in run
    )

    both = json_lines(ok(two))
    assert {run["deployment_id"] for run in both} == {first, second}
    assert len({run["id"] for run in both}) == len(both)

    newest = json_lines(ok(every))
    assert len(newest) == 25
    times = [parse_datetime(run.get("triggered_at") or run["created_at"]) for run in newest]
    assert times == sorted(times, reverse=True)


def test_runs_get_and_wait(server: str, http: httpx.Client) -> None:
    """`runs get` prints one run; `runs wait` polls a fresh run until it is terminal."""
    deployment_id = _new_deployment(http, "cli-wait")
    run_id = http.post(f"/deployments/{deployment_id}/run", json={}).json()["id"]
    got = json_lines(ok(cli(server, "runs", "get", run_id, "--json")))[0]
    assert got["id"] == run_id
    assert got["status"] in ("pending", "running")
    waited = json_lines(ok(cli(server, "runs", "wait", run_id, "--interval", "0.1",
                               "--timeout", "20s", "--json")))  # fmt: skip
    assert [run["status"] for run in waited] == ["completed"]


def test_fake_option_before_or_after_the_command() -> None:
    """--fake lists sample data from the embedded fake, without any PAT or network."""
    failed = json_lines(ok(cli(None, "runs", "list", "--status", "failed", "--max-items", "3",
                               "--json", "--fake")))  # fmt: skip
    assert len(failed) == 3
    assert all(run["error"] is not None for run in failed)
    assert ok(cli(None, "--fake", "deployments", "list")).count("\n") >= 10


def test_usage_errors_exit_2_before_any_request(server: str) -> None:
    """An unknown option and an id the SDK refuses exit 2 with a message, before any request."""
    unknown, bad_id = cli_all(
        server, ("deployments", "list", "--bogus"), ("deployments", "get", "not-an-id")
    )
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("usage: qoder-async ")
    assert unknown.stderr.endswith("error: unrecognized arguments: --bogus\n")
    assert bad_id.returncode == 2
    assert bad_id.stderr == (
        "qoder-async: error: deployment_id must be an id starting with 'dep_', got 'not-an-id'\n"
    )


def test_api_errors_exit_1_with_status_type_message_and_request_id(server: str) -> None:
    """A 404 and a 401 print one line naming status, error type, message and request id."""
    (missing,) = cli_all(server, ("deployments", "get", "dep_" + "0" * 32))
    (denied,) = cli_all(server, ("runs", "list"), QODER_PAT="pt-wrong")
    assert missing.returncode == 1
    assert missing.stdout == ""
    assert re.fullmatch(
        r"qoder-async: error: 404 not_found_error: .*not found.* \[request id: [0-9a-f-]{36}\]\n",
        missing.stderr,
    ), missing.stderr
    assert denied.returncode == 1
    assert denied.stderr.startswith("qoder-async: error: 401 authentication_error: ")
    assert "pt-wrong" not in denied.stderr


def test_head_closes_the_pipe_and_the_cli_exits_quietly(server: str) -> None:
    """`| head -n 1` in a real shell pipe (pipefail on): exit status 0, nothing on stderr."""
    command = f'"{sys.executable}" -m qoder_async runs list --json | head -n 1'
    bash = shutil.which("bash")
    assert bash is not None
    result = subprocess.run(
        [bash, "-o", "pipefail", "-c", command],
        env=_env(server),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert len(json_lines(result.stdout)) == 1


def test_watch_prints_new_runs_once_and_sigint_ends_it(server: str, http: httpx.Client) -> None:
    """`runs watch` prints each run created while it watches once; SIGINT exits 130, no traceback."""
    deployment_id = _new_deployment(http, "cli-watch")
    leader, follower = pty.openpty()  # stderr on a terminal: the watcher says when it is ready
    command = [sys.executable, "-m", "qoder_async", "runs", "watch", "--json"]
    command += ["--deployment", deployment_id, "--interval", "100ms"]
    with subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
        env=_env(server),
        bufsize=0,
    ) as watcher:
        os.close(follower)
        assert watcher.stdout is not None
        stdout = watcher.stdout.fileno()
        try:
            drawn = _read_until(leader, b"watching for new runs")
            first = http.post(f"/deployments/{deployment_id}/run", json={}).json()["id"]
            output = _read_until(stdout, b"\n", lines=1)
            second = http.post(f"/deployments/{deployment_id}/run", json={}).json()["id"]
            output = _read_until(stdout, b"\n", output, lines=2)
            watcher.send_signal(signal.SIGINT)
            assert watcher.wait(timeout=TIMEOUT) == 130
            output += watcher.stdout.read()
        finally:
            if watcher.poll() is None:
                watcher.kill()
        drawn += _drain(leader)
    os.close(leader)
    printed = json_lines(output.decode())
    assert [run["id"] for run in printed] == [first, second]
    assert all(run["deployment_id"] == deployment_id for run in printed)
    assert b"Traceback" not in drawn
    assert b"KeyboardInterrupt" not in drawn


def test_the_readme_jq_one_liner_runs(server: str) -> None:
    """The README's jq one-liner runs as written (with pipefail) and counts failures by type."""
    jq = shutil.which("jq")
    bash = shutil.which("bash")
    if jq is None or bash is None:
        pytest.skip("needs jq and bash")
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    (line,) = (
        line for line in readme.splitlines() if line.startswith("qoder-async ") and "| jq" in line
    )
    command = line.replace("qoder-async", f'"{sys.executable}" -m qoder_async', 1)
    result = subprocess.run(
        [bash, "-o", "pipefail", "-c", command],
        env=_env(server),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    counts = [row.split() for row in result.stdout.splitlines()]
    assert counts
    assert all(count.isdigit() and error.endswith("_error") for count, error in counts)
