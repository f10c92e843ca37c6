"""What the limiter costs when nothing is throttled, and how exactly it keeps a rule when it is.

Run from the repository root::

    python benchmarks/limiter.py            # add --backend trio for the saturation runs

Every cost is measured on the production clock (the running asyncio loop's, read the way
:class:`~smsc_async.SystemClock` reads it) and **paired**: the measured code (A) and a baseline
(B) run in alternating slices of the same process, the order flipping every slice, and the figure
is the median of the per-slice ratios A/B with its spread (lowest and highest slice). CPU time
(``time.process_time``) is what is timed, so other processes on the machine move both sides of a
pair alike. Baselines:

* a minimal hand-written sliding log (a deque of admission times, pruned on every call, one rule)
  reading ``time.monotonic``, for the memory backend's acquire and acquire + release (one rule and
  the concurrency cap);
* the same hand-written log inside an ``async with`` (what any async limiter costs at least), for
  a whole ``async with limiter.slot(...)`` of ``balance`` (its rule, the concurrency cap, the plan);
* the bare attempt, for the retry wrapper on the success path (``Session._call``).

The saturation check runs the limiter against a saturated rule (10 per 0.6 s, real time) and
reports the **most admissions in any sliding window** (the number the gateway checks; the rule
allows 10) next to the share of the allowance used, for ours and for a token bucket of the same
rate (capacity 10, refill 10 per 0.6 s), and through a whole Session against the strict emulator.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smsc_async import Session
from smsc_async._backend import Demand, MemoryBackend, Reservation
from smsc_async._endpoints._base import Endpoint
from smsc_async._limiter import Limiter
from smsc_async._limits import RateLimits, Rule

# Un-throttled but ageing: ~1 admission per microsecond against 1000 per 100 us.
LIMIT, WINDOW = 1000, 1e-4


class BaselineLog:
    """The minimal hand-written sliding log: admission times, pruned on each call."""

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


def paired(a: Callable[[int], float], b: Callable[[int], float], n: int, slices: int) -> dict:
    """Median and spread of the per-slice ratio a/b, and each side's median cost in us."""
    ratios, costs_a, costs_b = [], [], []
    for i in range(slices):
        gc.collect()
        if i % 2:
            tb, ta = b(n), a(n)
        else:
            ta, tb = a(n), b(n)
        ratios.append(ta / tb)
        costs_a.append(ta / n * 1e6)
        costs_b.append(tb / n * 1e6)
    return {
        "ratio": statistics.median(ratios),
        "low": min(ratios),
        "high": max(ratios),
        "us": statistics.median(costs_a),
        "baseline_us": statistics.median(costs_b),
    }


def _timed(loop: Callable[[], None]) -> float:
    start = time.process_time()
    loop()
    return time.process_time() - start


# -- the memory backend ------------------------------------------------------------------------


def baseline_log(n: int) -> float:
    log = BaselineLog(LIMIT, WINDOW)
    acquire, now = log.acquire, time.monotonic

    def loop() -> None:
        for _ in range(n):
            acquire(now())

    return _timed(loop)


def backend_pair(n: int) -> float:
    backend = MemoryBackend()  # its clock: the running loop's (SystemClock)
    demands = (Demand("balance:balance", LIMIT, WINDOW), Demand("*concurrency", 14, 0.0))
    acquire, release = backend.try_acquire, backend.release_now

    def loop() -> None:
        for _ in range(n):
            got = acquire(demands)
            assert type(got) is Reservation
            release(got, sent=True)

    return _timed(loop)


def backend_acquire(n: int) -> float:
    backend = MemoryBackend()
    # Nothing is released inside the timed loop, so neither log may fill up.
    demands = (Demand("balance:balance", 10**9, WINDOW), Demand("*concurrency", 10**9, 0.0))
    acquire = backend.try_acquire
    taken: list[Reservation | float] = []
    take = taken.append

    def loop() -> None:
        for _ in range(n):
            take(acquire(demands))

    spent = _timed(loop)
    assert all(type(got) is Reservation for got in taken)
    return spent


# -- a whole slot ------------------------------------------------------------------------------


def _limits() -> RateLimits:
    return attrs.evolve(RateLimits(), balance=Rule(limit=LIMIT, window=WINDOW))


class _BaselineSlot:
    __slots__ = ("log",)

    def __init__(self, log: BaselineLog) -> None:
        self.log = log

    async def __aenter__(self) -> None:
        self.log.acquire(time.monotonic())

    async def __aexit__(self, *exc: object) -> None:
        return None


def baseline_slot(n: int) -> float:
    async def main() -> float:
        log = BaselineLog(LIMIT, WINDOW)
        start = time.process_time()
        for _ in range(n):
            async with _BaselineSlot(log):
                pass
        return time.process_time() - start

    return anyio.run(main)


def limiter_slot(n: int) -> float:
    async def main() -> float:
        limiter = Limiter(_limits(), request_timeout=30.0)  # as the session builds it
        slot, params = limiter.slot, {"cur": "1"}
        start = time.process_time()
        for _ in range(n):
            async with slot("/sys/balance.php", params):
                pass
        return time.process_time() - start

    return anyio.run(main)


# -- the retry wrapper -------------------------------------------------------------------------


class _StubbedSession(Session):
    """A session whose attempt returns at once: what is left is the retry wrapper around it."""

    async def _attempt(
        self, endpoint: Endpoint[object], params: dict[str, str], key: object, attempt: int
    ) -> object:
        return params


_ENDPOINT: Endpoint[object] = Endpoint("balance", "/sys/balance.php", lambda: object)


def _session_loop(n: int, wrapped: bool) -> float:
    async def main() -> float:
        smsc = _StubbedSession("demo", "demo", base_url="http://127.0.0.1")
        params = {"cur": "1"}
        start = time.process_time()
        if wrapped:
            for _ in range(n):
                await smsc._call(_ENDPOINT, params)
        else:
            for _ in range(n):
                await smsc._attempt(_ENDPOINT, params, params, 1)
        spent = time.process_time() - start
        await smsc.aclose()
        return spent

    return anyio.run(main)


# -- saturation --------------------------------------------------------------------------------


def most_in_any_window(times: list[float], window: float) -> int:
    """The most admissions in any half-open span ``[t, t + window)``."""
    times = sorted(times)
    most = start = 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        most = max(most, end - start + 1)
    return most


def share_of_allowance(times: list[float], limit: int, window: float) -> float:
    """Admissions after the first burst over what the rule allows in the same span."""
    times = sorted(times)
    span = times[-1] - times[0]
    return (len(times) - limit) / (limit * span / window)


async def _saturate(seconds: float, tasks: int, latency: float, limits: RateLimits) -> list[float]:
    limiter = Limiter(limits)
    admitted: list[float] = []
    deadline = anyio.current_time() + seconds

    async def worker() -> None:
        while anyio.current_time() < deadline:
            async with limiter.slot("/sys/balance.php", {}):
                admitted.append(anyio.current_time())
                await anyio.sleep(latency)

    async with anyio.create_task_group() as tg:
        for _ in range(tasks):
            tg.start_soon(worker)
    return admitted


async def _token_bucket(seconds: float, tasks: int, limit: int, window: float) -> list[float]:
    """A token bucket of the same rate, for comparison: capacity ``limit``, refill limit/window."""
    rate = limit / window
    tokens, stamp = float(limit), anyio.current_time()
    admitted: list[float] = []
    deadline = stamp + seconds
    lock = anyio.Lock()

    async def worker() -> None:
        nonlocal tokens, stamp
        while anyio.current_time() < deadline:
            async with lock:
                now = anyio.current_time()
                tokens = min(limit, tokens + (now - stamp) * rate)
                stamp = now
                if tokens < 1:
                    await anyio.sleep((1 - tokens) / rate)
                    now = anyio.current_time()
                    tokens = min(limit, tokens + (now - stamp) * rate)
                    stamp = now
                tokens -= 1
                admitted.append(now)

    async with anyio.create_task_group() as tg:
        for _ in range(tasks):
            tg.start_soon(worker)
    return admitted


async def _saturate_session(
    seconds: float, tasks: int, limits: RateLimits
) -> tuple[list[float], int]:
    from smsc_async.testing import Emulator

    emulator = Emulator(limits=limits)
    arrived: list[float] = []

    async def gateway(scope: Any, receive: Any, send: Any) -> None:
        # What the gateway sees: each request's arrival time.
        if scope["type"] == "http":
            arrived.append(anyio.current_time())
        await emulator(scope, receive, send)

    async with Session(
        "demo",
        "demo",
        base_url="http://127.0.0.1",
        transport=httpx.ASGITransport(app=gateway),
        limits=limits,
    ) as smsc:
        deadline = anyio.current_time() + seconds

        async def worker() -> None:
            while anyio.current_time() < deadline:
                await smsc.balance()

        async with anyio.create_task_group() as tg:
            for _ in range(tasks):
                tg.start_soon(worker)
    return arrived, emulator.stats.errors[9]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=20_000, help="calls per slice")
    parser.add_argument("--slices", type=int, default=21, help="paired slices per figure")
    parser.add_argument("--seconds", type=float, default=3.0, help="saturation run length")
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    args = parser.parse_args()
    n, slices = args.n, args.slices

    def show(name: str, fig: dict, goal: str) -> None:
        print(
            f"{name:<44}{fig['us']:6.3f} us  x{fig['ratio']:.2f} baseline "
            f"({fig['baseline_us']:.3f} us; slices x{fig['low']:.2f}..x{fig['high']:.2f})  {goal}"
        )

    async def in_loop() -> tuple[dict, dict]:
        return (
            paired(backend_acquire, baseline_log, n, slices),
            paired(backend_pair, baseline_log, n, slices),
        )

    acquire, pair = anyio.run(in_loop)
    show("MemoryBackend acquire (rule + cap)", acquire, "goal <= 0.8 us")
    show("MemoryBackend acquire + release", pair, "")
    show(
        "async with limiter.slot(balance)",
        paired(limiter_slot, baseline_slot, n, slices),
        "goal <= 2.5 us",
    )
    retry = paired(lambda k: _session_loop(k, True), lambda k: _session_loop(k, False), n, slices)
    extra = retry["us"] - retry["baseline_us"]
    print(
        f"retry wrapper on the success path: Session._call x{retry['ratio']:.3f} the bare attempt "
        f"(+{extra:.3f} us; slices x{retry['low']:.3f}..x{retry['high']:.3f})"
    )

    limits = RateLimits().scaled(0.01)  # balance: 10 per 0.6 s
    rule = limits.balance
    for latency in (0.0, 0.005):
        ours = anyio.run(_saturate, args.seconds, 20, latency, limits, backend=args.backend)
        print(
            f"saturated balance ({rule.limit} per {rule.window:g} s, {args.backend}, in flight "
            f"{latency * 1e3:.0f} ms): most in any window {most_in_any_window(ours, rule.window)} "
            f"(rule: {rule.limit}); {share_of_allowance(ours, rule.limit, rule.window):.4f} of "
            "the allowance"
        )
    bucket = anyio.run(
        _token_bucket, args.seconds, 20, rule.limit, rule.window, backend=args.backend
    )
    print(
        f"token bucket of the same rate: most in any window "
        f"{most_in_any_window(bucket, rule.window)} (rule: {rule.limit}); "
        f"{share_of_allowance(bucket, rule.limit, rule.window):.4f} of the allowance"
    )
    through, errors9 = anyio.run(_saturate_session, args.seconds, 20, limits, backend=args.backend)
    print(
        f"through a Session, arrivals at the strict emulator: most in any window "
        f"{most_in_any_window(through, rule.window)} (rule: {rule.limit}); "
        f"{share_of_allowance(through, rule.limit, rule.window):.4f} of the allowance; "
        f"error-9 answers: {errors9}"
    )


if __name__ == "__main__":
    main()
