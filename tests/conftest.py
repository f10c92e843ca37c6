"""Shared fixtures: both async backends, the emulator in-process and on a real loopback socket."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from smsc_async import RateLimits, RetryPolicy, Session
from smsc_async.testing import Emulator, serve

pytest_plugins = ["tests._transports"]  # HTTP tests on both HTTP backends (see that module)

#: Every window × 0.01: a minute of rules passes in 0.6 s, an hour in 36 s.
SCALE = 0.01
FAST_RETRY = RetryPolicy(attempts=4, initial=0.01, max_wait=0.05, jitter=0.01)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class _Switch:
    """One loopback server for the whole run; each test mounts its own fresh emulator on it."""

    def __init__(self) -> None:
        self.app: Emulator | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.app is None:
            raise RuntimeError("no emulator mounted")
        await self.app(scope, receive, send)


@pytest.fixture(scope="session")
def _switch() -> Iterator[tuple[_Switch, str]]:
    switch = _Switch()
    with serve(switch, host="127.0.0.1", port=0) as url:  # type: ignore[arg-type]
        yield switch, url


@pytest.fixture
def limits() -> RateLimits:
    return RateLimits().scaled(SCALE)


@pytest.fixture
def emulator(limits: RateLimits) -> Emulator:
    return Emulator(limits=limits, delivery_delay=0.05)


@pytest.fixture
def live_url(_switch: tuple[_Switch, str], emulator: Emulator) -> Iterator[str]:
    """The emulator served over a real loopback socket."""
    switch, url = _switch
    switch.app = emulator
    yield url
    switch.app = None


@pytest.fixture
async def smsc(live_url: str, limits: RateLimits) -> AsyncIterator[Session]:
    """A session with the demo account over real HTTP to the emulator, on scaled windows."""
    async with Session(
        login="demo", password="demo", base_url=live_url, limits=limits, retry=FAST_RETRY
    ) as session:
        yield session


@pytest.fixture
def asgi_transport(emulator: Emulator) -> httpx.ASGITransport:
    """The emulator in-process (no socket)."""
    return httpx.ASGITransport(app=emulator)
