"""The `qoder-async` argument parser: every command, option and argument type.

Global options (`--pat`, `--base-url`, `--fake`, `--json`) are accepted before or after the
command: every sub-parser repeats them with SUPPRESS defaults, so a value given at one level
is never reset by another. Each leaf command stores its name in `args.action`.
"""

from __future__ import annotations

import argparse

from qoder_async._cli_types import (
    count,
    json_object,
    key_value,
    natural,
    parse_duration,
    parse_instant,
)
from qoder_async._deployment_args import CLEARABLE_FIELDS
from qoder_async._models import DeploymentStatus, RunStatus, TriggerType
from qoder_async._transport import VERSION

__all__ = ["build_parser"]

DESCRIPTION = """\
Command line for the Qoder Cloud Agents API: deployments and their runs.

Authenticates with --pat or $QODER_PAT against --base-url or $QODER_BASE_URL; --fake talks
to an embedded fake API with sample data instead (no account needed). Output is a table on
a terminal, tab-separated text when piped, or JSON lines in the API's wire shape (--json).
Exit status: 0 ok, 1 API error, 2 usage error, 130 interrupted."""

EPILOG = """\
examples:
  qoder-async demo
  qoder-async --fake deployments list --status active
  qoder-async runs list --status failed --since 24h --json | jq -r .error.type
  qoder-async runs watch --status failed --interval 10s"""


def _add_globals(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # Below the top level the defaults are SUPPRESS: an option given before the command
    # must survive the sub-parser, which would otherwise write its own default over it.
    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    group = parser.add_argument_group("global options (before or after the command)")
    group.add_argument(
        "--pat",
        default=default(None),
        help="personal access token (default: $QODER_PAT; prefer the variable, "
        "command lines are visible to other users)",
    )
    group.add_argument(
        "--base-url",
        default=default(None),
        help="API base URL (default: $QODER_BASE_URL or https://api.qoder.com/api/v1/cloud)",
    )
    group.add_argument(
        "--fake",
        action="store_true",
        default=default(False),
        help="use an embedded fake API with sample data, fresh for each command",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="write JSON lines in the API's wire shape, one object per line",
    )


class _Builder:
    """Adds leaf commands that all carry the global options."""

    def __init__(self) -> None:
        self.common = argparse.ArgumentParser(add_help=False)
        _add_globals(self.common, top=False)

    def group(
        self, commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_: str
    ) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        parser = commands.add_parser(name, help=help_, description=help_, parents=[self.common])
        return parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")

    def leaf(
        self,
        commands: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        action: str,
        help_: str,
    ) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help_, description=help_, parents=[self.common])
        parser.set_defaults(action=action)
        return parser


def build_parser() -> argparse.ArgumentParser:
    """The whole `qoder-async` parser."""
    parser = argparse.ArgumentParser(
        prog="qoder-async",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"qoder-async {VERSION}")
    _add_globals(parser, top=True)
    build = _Builder()
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = build.leaf(
        commands, "demo", "demo", "tour the SDK against the embedded fake API over loopback HTTP"
    )
    demo.add_argument(
        "--backend", choices=("asyncio", "trio"), default="asyncio", help="event loop to use"
    )
    demo.add_argument(
        "--latency",
        type=float,
        default=0.02,
        help="seconds the fake API waits before each answer (default 0.02)",
    )

    _deployment_commands(build, build.group(commands, "deployments", "manage deployments"))
    _run_commands(build, build.group(commands, "runs", "list, inspect, wait for and watch runs"))
    return parser


def _deployment_commands(
    build: _Builder, commands: argparse._SubParsersAction[argparse.ArgumentParser]
) -> None:
    listing = build.leaf(commands, "list", "deployments.list", "list deployments, newest first")
    listing.add_argument("--status", choices=[s.value for s in DeploymentStatus])
    listing.add_argument(
        "--include-archived",
        action="store_true",
        default=None,
        help="include archived deployments (not with --status)",
    )
    listing.add_argument("--agent", metavar="AGENT_ID", help="only deployments of this agent")
    listing.add_argument(
        "--created-after", type=parse_instant, metavar="TIME", help="created at or after TIME"
    )
    listing.add_argument(
        "--created-before", type=parse_instant, metavar="TIME", help="created at or before TIME"
    )
    _add_paging(listing)

    get = build.leaf(commands, "get", "deployments.get", "show one deployment")
    get.add_argument("deployment_id", metavar="ID")

    create = build.leaf(commands, "create", "deployments.create", "create a deployment")
    _add_fields(create, update=False)

    update = build.leaf(
        commands,
        "update",
        "deployments.update",
        "change some fields of a deployment; the others keep their values",
    )
    update.add_argument("deployment_id", metavar="ID")
    _add_fields(update, update=True)

    for name, verb in (
        ("pause", "pause a deployment so its schedule stops firing"),
        ("unpause", "resume a paused deployment"),
        ("archive", "archive a deployment for good (there is no unarchive)"),
    ):
        command = build.leaf(commands, name, f"deployments.{name}", verb)
        command.add_argument("deployment_id", metavar="ID")
        _add_idempotency_key(command)

    run = build.leaf(commands, "run", "deployments.run", "trigger a run of a deployment now")
    run.add_argument("deployment_id", metavar="ID")
    run.add_argument("--wait", action="store_true", help="wait until the run has finished")
    _add_wait_options(run)
    _add_idempotency_key(run)


def _run_commands(
    build: _Builder, commands: argparse._SubParsersAction[argparse.ArgumentParser]
) -> None:
    listing = build.leaf(commands, "list", "runs.list", "list runs, newest first")
    listing.add_argument(
        "--deployment",
        action="append",
        default=[],
        metavar="ID",
        help="runs of this deployment; repeat for several (listed concurrently)",
    )
    listing.add_argument(
        "--all-deployments",
        action="store_true",
        help="list the runs of every deployment concurrently (a fan-out)",
    )
    _add_run_filters(listing)
    listing.add_argument(
        "--since",
        type=parse_instant,
        metavar="TIME",
        help="a duration ago (24h, 30m, 7d) or an ISO time (UTC unless it has an offset); "
        "trigger time with --deployment/--all-deployments, creation time otherwise",
    )
    listing.add_argument("--until", type=parse_instant, metavar="TIME", help="as --since")
    listing.add_argument(
        "--order",
        choices=("arrival", "newest_first"),
        help="across several deployments: as pages arrive (default) or merged newest first",
    )
    _add_paging(listing)

    get = build.leaf(commands, "get", "runs.get", "show one run")
    get.add_argument("run_id", metavar="ID")

    wait = build.leaf(commands, "wait", "runs.wait", "wait until a run has finished, then show it")
    wait.add_argument("run_id", metavar="ID")
    _add_wait_options(wait)

    watch = build.leaf(
        commands,
        "watch",
        "runs.watch",
        "print new runs as they appear, each once, until Ctrl-C",
    )
    watch.add_argument(
        "--deployment",
        action="append",
        default=[],
        metavar="ID",
        help="only runs of this deployment; repeat for several",
    )
    _add_run_filters(watch)
    watch.add_argument(
        "--interval",
        type=parse_duration,
        default=5.0,
        metavar="DURATION",
        help="time between polls (default 5s, at least 100ms)",
    )


def _add_run_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--status", choices=[s.value for s in RunStatus])
    parser.add_argument(
        "--trigger-type",
        choices=[t.value for t in TriggerType],
        help="what started the run (not with several deployments)",
    )
    errors = parser.add_mutually_exclusive_group()
    errors.add_argument(
        "--has-error",
        dest="has_error",
        action="store_const",
        const=True,
        help="only runs whose session could not be created",
    )
    errors.add_argument(
        "--no-error",
        dest="has_error",
        action="store_const",
        const=False,
        help="only runs that got a session",
    )


def _add_paging(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=count, metavar="N", help="page size")
    parser.add_argument("--max-items", type=natural, metavar="N", help="stop after N items")
    cursor = parser.add_mutually_exclusive_group()
    cursor.add_argument("--after-id", metavar="ID", help="start after this id (older items)")
    cursor.add_argument("--before-id", metavar="ID", help="start before this id (newer items)")
    cursor.add_argument("--page", metavar="TOKEN", help="start at this page token")


def _add_wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=parse_duration,
        default=600.0,
        metavar="DURATION",
        help="give up waiting after this long (default 10m)",
    )
    parser.add_argument(
        "--interval",
        type=parse_duration,
        default=1.0,
        metavar="DURATION",
        help="first poll interval; it grows by half each time up to 15s (default 1s)",
    )


def _add_idempotency_key(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--idempotency-key", metavar="KEY", help="makes a retried request safe (default: random)"
    )


def _add_fields(parser: argparse.ArgumentParser, *, update: bool) -> None:
    fields = parser.add_argument_group(
        "fields" if not update else "fields (only those given are changed)"
    )
    fields.add_argument(
        "--from-file",
        metavar="FILE",
        help="a JSON object with the fields in the API's wire shape ('-' for stdin), e.g. "
        "the output of `deployments get --json`; read-only fields are ignored and the "
        "options below override it" + ("; a null field is cleared" if update else ""),
    )
    fields.add_argument("--name")
    fields.add_argument("--description")
    fields.add_argument("--agent", metavar="AGENT_ID", help="the agent (its latest version)")
    fields.add_argument("--agent-version", type=count, metavar="N", help="pin an agent version")
    fields.add_argument("--environment", dest="environment_id", metavar="ENV_ID")
    fields.add_argument(
        "--message",
        action="append",
        metavar="TEXT",
        help="a user message sent to the agent on every run; repeat for several"
        + (" (replaces all initial events)" if update else ""),
    )
    fields.add_argument("--schedule", metavar="CRON", help="a 5-field cron expression")
    fields.add_argument("--timezone", metavar="TZ", help="time zone of --schedule (default UTC)")
    fields.add_argument(
        "--resource",
        action="append",
        type=json_object,
        metavar="JSON",
        help='a resource object, e.g. \'{"type": "github_repository", ...}\'; repeat',
    )
    fields.add_argument("--vault-id", action="append", metavar="ID", help="repeat for several")
    fields.add_argument(
        "--metadata",
        action="append",
        type=key_value,
        metavar="KEY=VALUE",
        help="set a metadata key; repeat for several",
    )
    if update:
        fields.add_argument(
            "--delete-metadata", action="append", metavar="KEY", help="delete a metadata key"
        )
    fields.add_argument("--max-concurrent", type=count, metavar="N", help="runs at once")
    fields.add_argument("--max-retries", type=natural, metavar="N", help="retries of a run")
    fields.add_argument("--timeout-ms", type=count, metavar="MS", help="run timeout")
    fields.add_argument("--session-strategy", metavar="STRATEGY", help="e.g. new_session")
    fields.add_argument("--environment-variables", metavar="TEXT")
    fields.add_argument("--budget", type=json_object, metavar="JSON", help="a budget object")
    if update:
        fields.add_argument(
            "--clear",
            action="append",
            choices=sorted(CLEARABLE_FIELDS),
            metavar="FIELD",
            help="clear a field (sent as null): " + ", ".join(sorted(CLEARABLE_FIELDS)),
        )
    _add_idempotency_key(parser)
