"""The one clock a session reads: monotonic time, sleeping, and a source of jitter.

Everything in the package that waits or measures time -- the limiter, retries, bulk look-ups,
``wait_for_status``, leases and circuits -- goes through the session's :class:`Clock`, so a test
can hand the session a virtual clock and run a minute of rate rules in milliseconds with exact
assertions. The default, :class:`SystemClock`, is the running event loop's clock (asyncio or trio).
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import anyio

__all__ = ["Clock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """What a session needs of time.

    ``now()`` is monotonic seconds, ``sleep(s)`` waits ``s`` seconds of that same clock, and
    ``jitter(high)`` draws a uniform random spread in ``[0, high)`` (for retry waits).
    """

    def now(self) -> float:
        """Monotonic seconds, the same clock :meth:`sleep` waits on."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock."""
        ...

    def jitter(self, high: float) -> float:
        """A uniform random number in ``[0, high)``."""
        ...


def _loop_clock() -> Callable[[], float]:
    """The running event loop's time function, found through public APIs only.

    ``anyio.current_time()`` asks which library runs on every call, which costs more than a
    whole limiter decision; the answer does not change while a loop runs, so ask once.
    """
    # Importing asyncio costs ~12 ms; if nothing imported it, no asyncio loop can be running.
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            if type(loop).time is asyncio.BaseEventLoop.time:
                # The standard loops' time() is time.monotonic(), whichever loop runs.
                return time.monotonic
            return _while_open(loop)  # uvloop, a virtual-time loop...
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.current_time()
        except RuntimeError:
            pass
        else:
            # Reads the clock of whichever trio run is current (a MockClock in tests).
            return trio.current_time  # type: ignore[no-any-return]
    return anyio.current_time  # no loop: anyio raises the usual error


def _while_open(loop: Any) -> Callable[[], float]:
    """``loop.time``, raising ``RuntimeError`` once the loop is closed (its clock stops there)."""
    read, is_closed = loop.time, loop.is_closed

    def loop_time() -> float:
        if is_closed():
            raise RuntimeError("the event loop this clock was reading is closed")
        return read()  # type: ignore[no-any-return]

    return loop_time


def _unpicked() -> float:
    raise RuntimeError("no clock picked yet")


class SystemClock:
    """The running event loop's clock (asyncio's or trio's).

    The loop's time function is picked on first use, again on every :meth:`sleep`, and whenever
    the one picked stops working (its loop closed, its trio run ended): ``time.monotonic`` for
    asyncio's standard loops (whichever of them runs), the loop's own ``time()`` for others
    (uvloop, a virtual-time loop), ``trio.current_time`` under trio. ``seed`` fixes the jitter
    source (for reproducible runs); by default the OS seeds it.
    """

    def __init__(self, *, seed: int | None = None) -> None:
        self._random = random.Random(seed)
        self._read: Callable[[], float] = _unpicked

    def __repr__(self) -> str:
        return "SystemClock()"

    def now(self) -> float:
        """Monotonic seconds of the running event loop's clock."""
        try:
            return self._read()
        except RuntimeError:
            self._pick()
            return self._read()

    def _pick(self) -> None:
        read = self._read = _loop_clock()
        if read is time.monotonic:
            # Right for every standard asyncio loop, and never stale: from now on ``now`` is
            # time.monotonic itself (an instance attribute before this method), one call less.
            vars(self)["now"] = read
        else:
            vars(self).pop("now", None)

    async def sleep(self, seconds: float) -> None:
        """``anyio.sleep(seconds)``."""
        self._pick()  # cheap here, and follows a session to another library's loop
        await anyio.sleep(seconds)

    def jitter(self, high: float) -> float:
        """A uniform random number in ``[0, high)``."""
        return self._random.random() * high if high > 0 else 0.0
