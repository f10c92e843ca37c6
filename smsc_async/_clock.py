"""The one clock a session reads: monotonic time, sleeping, and a source of jitter.

Everything in the package that waits or measures time -- the limiter, retries, bulk look-ups,
``wait_for_status``, leases and circuits -- goes through the session's :class:`Clock`, so a test
can hand the session a virtual clock and run a minute of rate rules in milliseconds with exact
assertions. The default, :class:`SystemClock`, is the running event loop's clock (asyncio or trio,
through anyio).
"""

from __future__ import annotations

import random
from typing import Protocol, runtime_checkable

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


class SystemClock:
    """The running event loop's clock (asyncio's or trio's, through anyio).

    ``seed`` fixes the jitter source (for reproducible runs); by default it is seeded by the OS.
    """

    __slots__ = ("_random",)

    def __init__(self, *, seed: int | None = None) -> None:
        self._random = random.Random(seed)

    def __repr__(self) -> str:
        return "SystemClock()"

    def now(self) -> float:
        """``anyio.current_time()``."""
        return anyio.current_time()

    async def sleep(self, seconds: float) -> None:
        """``anyio.sleep(seconds)``."""
        await anyio.sleep(seconds)

    def jitter(self, high: float) -> float:
        """A uniform random number in ``[0, high)``."""
        return self._random.random() * high if high > 0 else 0.0
