"""Developer sessions: tests (asyncio and trio), lint (ruff), typing (mypy strict)."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typing"]
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    # Every async test runs on asyncio and on trio (the anyio_backend fixture in conftest.py).
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typing(session: nox.Session) -> None:
    session.install("-e", ".[typing]")
    session.run("mypy")


@nox.session
def benchmarks(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    for script in ("session_overhead", "limiter", "bulk_lookup", "redis_limiter"):
        session.run("python", f"benchmarks/{script}.py")
