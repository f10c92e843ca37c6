"""Virtual time for tests that also need the session clock to differ from the loop's.

``VIRTUAL`` parametrizes ``anyio_backend`` of one test onto both backends on virtual time (the
loop and trio's MockClock of tests/conftest.py). :class:`TwiceClock` is a session ``Clock`` on
that virtual time that runs twice as fast as the loop: a wait that ends at exactly ``t0 + T`` on
it was measured on the session clock, not on the loop's (where it would end at ``t0 + 2 T``).
:class:`Recorder` is an httpx transport that notes the session-clock time of every request.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import parse_qsl

import anyio
import httpx
import pytest

from smsc_async import Session
from smsc_async.testing import Emulator

from .conftest import virtual_backend

VIRTUAL = [
    pytest.param(virtual_backend("asyncio"), id="asyncio-virtual"),
    pytest.param(virtual_backend("trio"), id="trio-virtual"),
]


class TwiceClock:
    """A session clock at twice the loop's rate (both exact on virtual time); no jitter."""

    def now(self) -> float:
        return 2 * anyio.current_time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds / 2)

    def jitter(self, high: float) -> float:
        return 0.0


class Recorder(httpx.AsyncBaseTransport):
    """The emulator in-process, noting ``clock.now()`` and the form of each request by path."""

    def __init__(self, emulator: Emulator, clock: TwiceClock) -> None:
        self.emulator = emulator
        self._inner = httpx.ASGITransport(app=emulator)
        self._clock = clock
        self.requests: defaultdict[str, list[tuple[float, dict[str, str]]]] = defaultdict(list)

    def times(self, path: str) -> list[float]:
        """When requests to ``path`` left, on the session clock."""
        return [t for t, _ in self.requests[path]]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode()))
        self.requests[request.url.path].append((self._clock.now(), form))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def on_twice_clock(**emulator: Any) -> tuple[Session, Recorder, TwiceClock]:
    """A session (without retries) and an emulator (given ``emulator``), both on a TwiceClock."""
    clock = TwiceClock()
    recorder = Recorder(Emulator(clock=clock.now, **emulator), clock)
    smsc = Session(
        login="demo",
        password="demo",
        base_url="http://127.0.0.1",
        transport=recorder,
        clock=clock,
        retry=None,
    )
    return smsc, recorder, clock
