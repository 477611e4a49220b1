"""Developer sessions; each one runs through uv against the locked environment."""

from __future__ import annotations

import glob

import nox

nox.options.default_venv_backend = "none"
nox.options.sessions = ["tests", "lint", "typecheck", "docs-examples"]


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (asyncio and trio)."""
    session.run("uv", "run", "--frozen", "pytest", *session.posargs)


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
