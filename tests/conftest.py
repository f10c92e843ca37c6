"""Shared fixtures: both async backends, the emulator in-process and on a real loopback socket."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import selectors
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import trio.testing

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


# -- virtual time ------------------------------------------------------------------------------
#
# Time-dependent tests run on virtual time under both backends: trio's MockClock with
# autojump_threshold=0, and for asyncio the loop below. Both jump the clock to the next timer as
# soon as every task is blocked, so a minute of rate rules runs in milliseconds, and every wait is
# exact (a test asserts ``== 60.0``, never ``≈ 0.6 ± 0.1``).
#
# Why a loop rather than only a virtual ``Clock`` handed to the session: the loop's clock is what
# anyio's timeouts, ``anyio.sleep`` and the in-process emulator read too, so with the loop every
# part of a test agrees on one time, exactly as under trio's MockClock, and one test body serves
# both backends. Real sockets and threads do not belong on virtual time (the clock would jump
# while they work); those tests keep the plain ``anyio_backend``.


class _JumpingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """Polls real I/O without blocking; when nothing is ready, jumps the loop to its next timer."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        events: list[tuple[Any, int]] = super().select(0)
        if events or timeout == 0:
            return events
        if timeout is None or not self._loop._jump():
            # No timer at all: only another thread can wake the loop (call_soon_threadsafe).
            return super().select(timeout)  # type: ignore[no-any-return]
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio event loop on virtual time, starting at 0.0 (asyncio's twin of trio's MockClock).

    Built from public APIs only: ``time()`` and ``call_at()`` are the loop's public methods and the
    selector is the constructor's ``selector`` argument. Timers are tracked as they are scheduled,
    so a jump lands exactly on a timer's own deadline, not on ``now + (deadline - now)``.
    """

    def __init__(self) -> None:
        self._virtual_now = 0.0
        self._timers: list[tuple[float, int, asyncio.TimerHandle]] = []
        self._order = itertools.count()
        super().__init__(selector=_JumpingSelector(self))

    def time(self) -> float:
        return self._virtual_now

    def call_at(self, when: float, callback: Any, *args: Any, context: Any = None) -> Any:
        handle = super().call_at(when, callback, *args, context=context)
        heapq.heappush(self._timers, (when, next(self._order), handle))
        return handle

    def _jump(self) -> bool:
        timers = self._timers
        while timers and (timers[0][2].cancelled() or timers[0][0] <= self._virtual_now):
            heapq.heappop(timers)
        if not timers:
            return False
        self._virtual_now = timers[0][0]
        return True


def virtual_backend(name: str) -> tuple[str, dict[str, Any]]:
    """The ``anyio_backend`` value that runs ``name`` ("asyncio" or "trio") on virtual time."""
    if name == "trio":
        return "trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}
    return "asyncio", {"loop_factory": VirtualTimeLoop}


@pytest.fixture(autouse=True)
def _fresh_mock_clock(request: pytest.FixtureRequest) -> None:
    """A trio MockClock of its own for each test parametrized with a shared one (``VIRTUAL``).

    A parameter is built once, at collection: without this, every such test ran on the clock
    the one before left, at whatever time it had reached, and a test's differences of times
    were off by a rounding (540.05 - 540.0 is not 0.05). asyncio's loop is made per test.
    """
    callspec = getattr(request.node, "callspec", None)
    backend = callspec.params.get("anyio_backend") if callspec is not None else None
    if isinstance(backend, tuple) and backend[0] == "trio":
        options = backend[1]
        clock = options.get("clock")
        if isinstance(clock, trio.testing.MockClock):
            options["clock"] = trio.testing.MockClock(autojump_threshold=clock.autojump_threshold)


@pytest.fixture(params=["asyncio", "trio"])
def virtual_anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """Both backends on virtual time; a module opts in with::

    @pytest.fixture
    def anyio_backend(virtual_anyio_backend):
        return virtual_anyio_backend
    """
    return virtual_backend(str(request.param))
