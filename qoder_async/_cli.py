"""The `qoder-async` command (also `python -m qoder_async`): run one command, map the outcome.

Exit status: 0 ok; 1 an API error (printed on one line: status, error type, message and
request id) or another failure to talk to the API; 2 a usage error, from argparse or an
argument the SDK refuses before sending anything; 130 interrupted.

How Ctrl-C stops at once with nothing left running: the command runs in a task group next
to a SIGINT receiver, and the signal cancels that group. Every request in flight is
cancelled where it waits, and the `async with` blocks on the way out close the client,
its prefetch tasks and its connections; then the process exits with 130 and no traceback.
A Ctrl-C before the receiver is up (while importing or parsing) ends the same way.

A broken pipe (`qoder-async runs list | head -n 1`) ends the command quietly with 0: the
reader has what it asked for. stdout is then pointed at /dev/null, so that Python's own
flush at exit cannot complain a second time.
"""

from __future__ import annotations

import os
import signal
import sys
from functools import partial
from typing import TYPE_CHECKING

import anyio

from qoder_async._cli_connect import open_client
from qoder_async._cli_deployments import COMMANDS as DEPLOYMENT_COMMANDS
from qoder_async._cli_output import Output
from qoder_async._cli_parser import build_parser
from qoder_async._cli_runs import COMMANDS as RUN_COMMANDS
from qoder_async._errors import APIError, FanOutError, QoderError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Awaitable, Callable, Sequence

    from anyio.abc import TaskStatus

__all__ = ["main"]

EXIT_OK = 0
EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

COMMANDS = {**DEPLOYMENT_COMMANDS, **RUN_COMMANDS}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `qoder-async` command line; returns the process exit status."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_OK


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.action == "demo":
        if args.latency < 0:
            parser.error("--latency must be >= 0")
        # Imported here: the tour pulls in the fake API, which nothing else needs.
        from qoder_async._cli_demo import demo

        interrupted = anyio.run(_guarded, partial(demo, args.latency), backend=args.backend)
        return EXIT_INTERRUPTED if interrupted else EXIT_OK
    if not (args.fake or args.pat or os.environ.get("QODER_PAT")):
        return _fail(EXIT_USAGE, "no PAT: pass --pat or set $QODER_PAT (or try --fake)")
    out = Output(
        json_lines=args.json,
        stdout=sys.stdout,
        stderr=sys.stderr,
        streaming=args.action == "runs.watch",
    )
    try:
        interrupted = anyio.run(_guarded, partial(_command, args, out))
    except FanOutError as exc:
        out.progress.clear()
        for deployment_id, error in exc.failed.items():
            _fail(EXIT_API_ERROR, f"{deployment_id}: {_describe(error)}")
        if exc.source_error is not None:
            _fail(EXIT_API_ERROR, f"listing deployments: {_describe(exc.source_error)}")
        count = len(exc.failed) + (exc.source_error is not None)
        return _fail(EXIT_API_ERROR, f"{count} listing(s) failed; every other run was printed")
    except APIError as exc:
        out.progress.clear()
        return _fail(EXIT_API_ERROR, _describe(exc))
    except QoderError as exc:
        out.progress.clear()
        return _fail(EXIT_API_ERROR, _describe(exc))
    except (ValueError, TypeError) as exc:
        # The SDK checks every argument before any request is sent (and so does the CLI).
        out.progress.clear()
        return _fail(EXIT_USAGE, str(exc))
    if interrupted:
        out.progress.clear()
        return EXIT_INTERRUPTED
    sys.stdout.flush()
    return EXIT_OK


async def _command(args: argparse.Namespace, out: Output) -> None:
    async with open_client(
        pat=args.pat,
        base_url=args.base_url,
        fake=args.fake,
        lively=args.action == "runs.watch",
    ) as client:
        await COMMANDS[args.action](client, out, args)


async def _guarded(command: Callable[[], Awaitable[None]]) -> bool:
    """Run `command` until it returns or SIGINT arrives; True if it was interrupted.

    The command's own exception is raised as itself, never inside an ExceptionGroup.
    """
    interrupted = False
    failure: list[Exception] = []
    async with anyio.create_task_group() as group:

        async def stop_on_sigint(*, task_status: TaskStatus[None]) -> None:
            nonlocal interrupted
            try:
                receiver = anyio.open_signal_receiver(signal.SIGINT)
                signals = receiver.__enter__()
            except NotImplementedError:  # asyncio on Windows: KeyboardInterrupt it is
                task_status.started()
                return
            try:
                task_status.started()
                async for _ in signals:
                    interrupted = True
                    group.cancel_scope.cancel()
                    return
            finally:
                receiver.__exit__(None, None, None)

        await group.start(stop_on_sigint)
        try:
            await command()
        except Exception as exc:  # handed over, and raised as itself below
            failure.append(exc)
        group.cancel_scope.cancel()
    if failure and not interrupted:
        raise failure[0]
    return interrupted


def _describe(exc: BaseException) -> str:
    """One line on an error: status, type, message and request id for an API error."""
    if not isinstance(exc, APIError):
        return f"{type(exc).__name__}: {exc}"
    kind = exc.error_type or "error"
    if exc.code:
        kind += f" ({exc.code})"
    param = f" (param: {exc.param})" if exc.param else ""
    request_id = exc.request_id or "none"
    return f"{exc.status_code} {kind}: {exc.message}{param} [request id: {request_id}]"


def _fail(status: int, message: str) -> int:
    sys.stdout.flush()
    one_line = " ".join(message.split())
    sys.stderr.write(f"qoder-async: error: {one_line}\n")
    sys.stderr.flush()
    return status


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real stdout: nothing will be flushed to it either
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
