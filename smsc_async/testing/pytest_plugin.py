"""The ``smsc_emulator`` pytest fixture: test your own code against the emulated gateway.

Registered through the ``pytest11`` entry point, so installing ``smsc-async[emulator]`` is all it
takes::

    async def test_reminder_goes_out(smsc_emulator):
        async with smsc_emulator.session() as smsc:
            await send_reminders(smsc)
        assert smsc_emulator.stats.requests["/sys/send.php"] == 1

Each test gets a fresh emulator (demo account, strict documented rules) on one loopback server
shared by the whole run. ``@pytest.mark.smsc_emulator(scale=0.01, delivery_delay=0.05, ...)``
passes keyword arguments to :class:`~smsc_async.testing.Emulator` (``scale`` shrinks every rule
window: a minute of rules in 0.6 s).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from smsc_async.testing._app import Emulator
from smsc_async.testing._served import ServedEmulator

__all__ = ["smsc_emulator"]

_MARKER = "smsc_emulator"
_NEEDS_SERVER = (
    "the smsc_emulator fixture serves the emulator with uvicorn, which is not installed: "
    "pip install 'smsc-async[emulator]'"
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker that configures the fixture's emulator."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(**kwargs): keyword arguments for the smsc_emulator fixture's Emulator "
        "(scale=0.01, strict=False, delivery_delay=..., latency=...)",
    )


class _Mount:
    """The one served ASGI app of a run; each test mounts its own fresh emulator on it."""

    def __init__(self) -> None:
        self.app: Emulator | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        app = self.app
        if app is None:
            if scope["type"] == "lifespan":
                return
            raise RuntimeError("no emulator is mounted (the smsc_emulator fixture has ended)")
        await app(scope, receive, send)


@pytest.fixture(scope="session")
def _smsc_emulator_server() -> Iterator[tuple[_Mount, str]]:
    try:
        import uvicorn  # noqa: F401
    except ImportError:
        missing = True
    else:
        missing = False
    if missing:  # outside the ``except``: the report shows this advice, not the ImportError
        pytest.fail(_NEEDS_SERVER, pytrace=False)
    from smsc_async.testing._server import serve

    mount = _Mount()
    with serve(mount, host="127.0.0.1", port=0) as base_url:
        yield mount, base_url


@pytest.fixture
def smsc_emulator(
    request: pytest.FixtureRequest, _smsc_emulator_server: tuple[_Mount, str]
) -> Iterator[ServedEmulator]:
    """A fresh emulated gateway on loopback (a :class:`~smsc_async.testing.ServedEmulator`).

    It has ``.base_url``, ``.login``, ``.password``, ``.session(**kw)``, ``.inject(...)`` and
    ``.emulator``.
    """
    marker = request.node.get_closest_marker(_MARKER)
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    scale = float(options.get("scale", 1.0))
    mount, base_url = _smsc_emulator_server
    emulator = Emulator(**options)
    mount.app = emulator
    try:
        yield ServedEmulator(emulator, base_url, scale=scale)
    finally:
        mount.app = None
