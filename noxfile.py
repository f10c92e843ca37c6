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
    # Every script in benchmarks/, one at a time; figures to benchmarks/results/results.json and
    # the rule picture to benchmarks/results/admissions.svg. aiolimiter is drawn beside ours and
    # a token bucket: a benchmark-only install. ``nox -s benchmarks -- --twice`` runs the set
    # twice and flags every ratio that moved more than 5 % between the runs.
    session.install("-e", ".[test]", "aiolimiter")
    session.run("python", "benchmarks/run.py", *session.posargs)
