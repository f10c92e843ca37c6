"""What the limiter-backend benchmarks share: the demands every decision asks, and timed acquires.

Only the backends' public API is used (``acquire``, ``release``), so the same scripts measure
any version of a backend.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smsc_async._backend import Demand, LimiterBackend, Reservation

#: One key whose rule never refuses (a huge limit, a millisecond window) plus the login's cap.
DEMANDS = (Demand("bench:one", 10**9, 0.001), Demand("*concurrency", 10**6, 0.0))


async def timed_acquires(backend: LimiterBackend, out: list[float], per: int) -> None:
    """``per`` acquires of :data:`DEMANDS`, each followed by its release (not timed).

    Appends each acquire's wall time (s) to ``out``.
    """
    clock = time.perf_counter
    for _ in range(per):
        start = clock()
        got = await backend.acquire(DEMANDS)
        out.append(clock() - start)
        assert isinstance(got, Reservation)
        await backend.release(got, sent=True)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (the element at that rank, no interpolation)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]
