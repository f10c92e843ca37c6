"""How much the limiter costs when nothing is throttled, and how much of a rule it uses when it is.

Run from the repository root::

    python benchmarks/limiter.py

Figures:

* the cost of one un-throttled decision (admit + record), in microseconds, for the pure sliding
  log, the memory backend (one rule + the concurrency cap) and a whole ``async with slot()``,
  each with its ratio to a minimal hand-written sliding log measured in the same run;
* the cost of the retry machinery on the success path: ``Session._call`` (which enters tenacity
  only after an error 9) against calling the attempt directly, with the HTTP step stubbed out;
* the achieved rate of a saturated rule as a fraction of its allowance, on scaled windows, and the
  same through a whole ``Session`` against the strict emulator, with its error-9 count.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from smsc_async import Session
from smsc_async._backend import Demand, MemoryBackend, SlidingLog
from smsc_async._endpoints._base import Endpoint
from smsc_async._limiter import Limiter
from smsc_async._limits import RateLimits


class _Clock:
    """A clock that moves by a fixed step each time it is read: un-throttled, but ageing."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class _BaselineLog:
    """The minimal hand-written sliding log: timestamps of admissions, pruned on each call."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.log: deque[float] = deque()

    def acquire(self, now: float) -> bool:
        log = self.log
        horizon = now - self.window
        while log and log[0] <= horizon:
            log.popleft()
        if len(log) < self.limit:
            log.append(now)
            return True
        return False


def _best_of(fn: Callable[[int], None], n: int, repeat: int) -> float:
    """Microseconds per call, best of ``repeat`` runs of ``n`` calls."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn(n)
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def bench_baseline(n: int) -> None:
    clock = _Clock(1e-6)
    log = _BaselineLog(1000, 1e-3)
    acquire = log.acquire
    for _ in range(n):
        acquire(clock())


def bench_core(n: int) -> None:
    clock = _Clock(1e-6)
    log = SlidingLog(1000, 1e-3)
    for _ in range(n):
        now = clock()
        if log.try_admit(now) == 0.0:
            log.admit(now)
            log.complete(now)


def bench_backend(n: int) -> None:
    backend = MemoryBackend(clock=_Clock(1e-6))
    demands = (Demand("balance:balance", 1000, 1e-3), Demand("*concurrency", 14, 0.0))
    acquire = backend.try_acquire
    release = backend.release_now
    for _ in range(n):
        release(acquire(demands), sent=True)  # type: ignore[arg-type]


def bench_slot(n: int) -> None:
    limits = RateLimits().scaled(1e-9)  # windows of nanoseconds: nothing ever throttles

    async def main() -> None:
        limiter = Limiter(limits)
        slot = limiter.slot
        params: dict[str, str] = {}
        for _ in range(n):
            async with slot("/sys/balance.php", params):
                pass

    anyio.run(main)


def bench_slot_baseline(n: int) -> None:
    # The same async-with shape around the baseline log: what an async wrapper costs anyway.
    class _Slot:
        def __init__(self, log: _BaselineLog) -> None:
            self.log = log

        async def __aenter__(self) -> None:
            self.log.acquire(time.monotonic())

        async def __aexit__(self, *exc: object) -> None:
            return None

    async def main() -> None:
        log = _BaselineLog(1000, 1e-9)
        for _ in range(n):
            async with _Slot(log):
                pass

    anyio.run(main)


class _StubbedSession(Session):
    """A session whose attempt returns at once: what is left is the retry wrapper around it."""

    async def _attempt(self, endpoint: Endpoint[object], params: dict[str, str]) -> object:
        return params


def _retry_wrapper_costs(n: int) -> tuple[float, float]:
    endpoint: Endpoint[object] = Endpoint("balance", "/sys/balance.php", lambda: object)
    params = {"cur": "1"}

    async def main() -> tuple[float, float]:
        smsc = _StubbedSession("demo", "demo", base_url="http://127.0.0.1")
        direct, wrapped = [], []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(n):
                await smsc._attempt(endpoint, params)
            direct.append(time.perf_counter() - start)
            start = time.perf_counter()
            for _ in range(n):
                await smsc._call(endpoint, params)
            wrapped.append(time.perf_counter() - start)
        await smsc.aclose()
        return min(direct) / n * 1e6, min(wrapped) / n * 1e6

    return anyio.run(main)


async def _saturate_session(seconds: float, tasks: int, factor: float) -> tuple[int, float, int]:
    from smsc_async.testing import Emulator

    limits = RateLimits().scaled(factor)
    emulator = Emulator(limits=limits)
    rule = limits.balance
    admitted: list[float] = []
    async with Session(
        "demo",
        "demo",
        base_url="http://127.0.0.1",
        transport=httpx.ASGITransport(app=emulator),
        limits=limits,
    ) as smsc:
        deadline = anyio.current_time() + seconds

        async def worker() -> None:
            while anyio.current_time() < deadline:
                await smsc.balance()
                admitted.append(anyio.current_time())

        async with anyio.create_task_group() as tg:
            for _ in range(tasks):
                tg.start_soon(worker)
    admitted.sort()
    span = admitted[-1] - admitted[0]
    return len(admitted) - rule.limit, rule.limit * span / rule.window, emulator.stats.errors[9]


async def _saturate(
    rule: str, seconds: float, tasks: int, latency: float, factor: float
) -> tuple[int, float, float]:
    limits = RateLimits().scaled(factor)
    limiter = Limiter(limits)
    window = limits.rules()[rule].window
    limit = limits.rules()[rule].limit
    admitted: list[float] = []
    path = {"balance": "/sys/balance.php"}[rule]
    deadline = anyio.current_time() + seconds

    async def worker() -> None:
        while anyio.current_time() < deadline:
            async with limiter.slot(path, {}):
                admitted.append(anyio.current_time())
                await anyio.sleep(latency)

    async with anyio.create_task_group() as tg:
        for _ in range(tasks):
            tg.start_soon(worker)
    admitted.sort()
    # Over whole windows after the first burst: the rule allows ``limit`` per window.
    first, last = admitted[0], admitted[-1]
    span = last - first
    allowance = limit * span / window
    return len(admitted) - limit, allowance, span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=200_000, help="calls per timing run")
    parser.add_argument("--seconds", type=float, default=3.0, help="saturation run length")
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    args = parser.parse_args()
    n = args.n
    base = _best_of(bench_baseline, n, 5)
    print(f"baseline hand-written sliding log     {base:7.3f} us/decision")
    for name, fn in [
        ("SlidingLog try_admit+admit+complete", bench_core),
        ("MemoryBackend acquire+release (2 logs)", bench_backend),
    ]:
        cost = _best_of(fn, n, 5)
        print(f"{name:<38}{cost:7.3f} us   x{cost / base:.2f} baseline")
    slot_base = _best_of(bench_slot_baseline, n // 4, 3)
    slot = _best_of(bench_slot, n // 4, 3)
    print(f"async with around the baseline log    {slot_base:7.3f} us")
    print(
        f"async with limiter.slot(balance)      {slot:7.3f} us   x{slot / slot_base:.2f} "
        "async baseline (includes charges_for)"
    )
    direct, wrapped = _retry_wrapper_costs(n // 4)
    print(
        f"retry wrapper on the success path      {wrapped - direct:7.3f} us   "
        f"(Session._call {wrapped:.3f} us vs the bare attempt {direct:.3f} us)"
    )
    got, allowance, errors9 = anyio.run(
        _saturate_session, args.seconds, 20, 0.01, backend=args.backend
    )
    print(
        f"saturated balance through Session vs the strict emulator ({args.backend}): "
        f"{got / allowance:.4f} of the allowance, error-9 answers: {errors9}"
    )
    for latency in (0.0, 0.005):
        got, allowance, span = anyio.run(
            _saturate, "balance", args.seconds, 20, latency, 0.01, backend=args.backend
        )
        print(
            f"saturated balance (10 per 0.6 s, {args.backend}, in flight {latency * 1e3:.0f} ms): "
            f"{got} admitted after the first burst in {span:.3f} s; allowance {allowance:.1f}: "
            f"{got / allowance:.4f} of it"
        )


if __name__ == "__main__":
    main()
