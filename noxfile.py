"""Developer sessions; each one runs through uv against the locked environment."""

from __future__ import annotations

import glob
from pathlib import Path

import nox

nox.options.default_venv_backend = "none"
nox.options.sessions = ["tests", "lint", "typecheck", "docs-examples"]

# Where tests-lowest installs: its own environment, so the locked .venv is left alone.
LOWEST_ENV = Path(".nox/lowest")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (asyncio and trio)."""
    session.run("uv", "run", "--frozen", "pytest", *session.posargs)


@nox.session(name="tests-lowest")
def tests_lowest(session: nox.Session) -> None:
    """Run the test suite on the oldest versions our direct dependencies' bounds allow.

    `uv sync --resolution lowest-direct` re-resolves and rewrites uv.lock; the locked
    file is put back as soon as the environment is built.
    """
    env = {"UV_PROJECT_ENVIRONMENT": str(LOWEST_ENV.resolve()), "VIRTUAL_ENV": None}
    lock = Path("uv.lock")
    locked = lock.read_bytes()
    try:
        session.run("uv", "sync", "--resolution", "lowest-direct", env=env)
    finally:
        lock.write_bytes(locked)
    # Name the versions under test in the log.
    show = "from importlib.metadata import version as v; print(*(n + ' ' + v(n) for n in ('anyio', 'attrs', 'cattrs', 'httpx')))"
    session.run("uv", "run", "--no-sync", "python", "-c", show, env=env)
    session.run("uv", "run", "--no-sync", "pytest", *session.posargs, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    """Check lint rules and formatting."""
    session.run("uv", "run", "--frozen", "ruff", "check", ".")
    session.run("uv", "run", "--frozen", "ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check the package, tests, benchmarks and examples with mypy --strict."""
    session.run("uv", "run", "--frozen", "mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Run every benchmark against a loopback fake server, with the baselines installed."""
    for script in sorted(glob.glob("benchmarks/bench_*.py")):
        session.run("uv", "run", "--frozen", "--group", "bench", "python", script, *session.posargs)


@nox.session(name="docs-examples")
def docs_examples(session: nox.Session) -> None:
    """Run every README snippet and every script in examples/ against the fake API."""
    session.run("uv", "run", "--frozen", "pytest", "tests/test_docs_examples.py", "-q")


@nox.session
def soak(session: nox.Session) -> None:
    """Soak: 20,000 runs through 503/429/resets and a 2000-deployment fan-out, both backends."""
    session.run("uv", "run", "--frozen", "python", "-m", "tests.soak", *session.posargs)
