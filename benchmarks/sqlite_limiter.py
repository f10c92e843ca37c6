"""What a decision costs on the SQLite backend, beside baselines measured in the same run.

Run from the repository root::

    python benchmarks/sqlite_limiter.py

Figures (all paired in interleaved slices, benchmarks/_pairs.py: the median of the per-pair
ratios with its interquartile spread; printed, and emitted as one ``BENCH-JSON:`` line named
``sqlite_limiter``):

* acquire latency on the SQLite backend (one ``BEGIN IMMEDIATE`` transaction in a worker
  thread; wall time, since the thread hop and the file are the cost), each slice's median,
  against the same worker-thread hop around a trivial transaction (``BEGIN IMMEDIATE;
  COMMIT`` -- the floor of any design on this file); the memory backend's latency for scale;
* aggregate decisions per second (an acquire or a release: one transaction each) from 4
  processes on one key of one file, against the same 4 processes making trivial transactions
  on one file (the floor), in alternating rounds;
* with ``--redis`` (starts a ``redis-server`` on a free loopback port), the Redis backend in
  the same slices and rounds: the two shared backends side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pairs import Pair, apaired, emit, paired

from smsc_async._backend import Demand, LimiterBackend, MemoryBackend, Reservation
from smsc_async.sqlite import SQLiteBackend

# One key whose rule never refuses (a huge limit, a millisecond window) plus the login's cap.
DEMANDS = (Demand("bench:one", 10**9, 0.001), Demand("*concurrency", 10**6, 0.0))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def _timed(backend: LimiterBackend, out: list[float], per: int) -> None:
    clock = time.perf_counter
    for _ in range(per):
        start = clock()
        got = await backend.acquire(DEMANDS)
        out.append(clock() - start)
        assert isinstance(got, Reservation)
        await backend.release(got, sent=True)


async def _latency(
    path: str, per: int, slices: int, redis_url: str | None
) -> tuple[dict[str, Pair], float]:
    """Per baseline, the paired ratio of SQLite's median acquire latency (µs) to its own; and
    the memory backend's median latency (µs), for scale."""
    floor_conn = sqlite3.connect(path + ".floor", isolation_level=None, check_same_thread=False)
    floor_conn.execute("PRAGMA journal_mode=WAL")
    floor_conn.execute("PRAGMA synchronous=NORMAL")

    def trivial() -> None:
        floor_conn.execute("BEGIN IMMEDIATE")
        floor_conn.execute("COMMIT")

    clock = time.perf_counter

    def timed(backend: LimiterBackend) -> Callable[[], Awaitable[float]]:
        async def slice_() -> float:
            out: list[float] = []
            await _timed(backend, out, per)
            return statistics.median(out) * 1e6

        return slice_

    async def floor() -> float:
        out = []
        for _ in range(per):
            start = clock()
            await anyio.to_thread.run_sync(trivial)
            out.append(clock() - start)
        return statistics.median(out) * 1e6

    found: dict[str, Pair] = {}
    async with contextlib.AsyncExitStack() as stack:
        root = await stack.enter_async_context(SQLiteBackend(path))
        sqlite = timed(root.bind("bench-latency"))
        options: dict[str, Any] = {"slices": slices, "warmup": 3, "quiet_gc": False}
        found["sqlite_over_trivial_transaction"] = await apaired(floor, sqlite, **options)
        if redis_url is not None:
            from smsc_async.redis import RedisBackend

            redis_root = await stack.enter_async_context(RedisBackend.from_url(redis_url))
            redis = timed(redis_root.bind("bench-latency"))
            found["sqlite_over_redis"] = await apaired(redis, sqlite, **options)
    memory = timed(MemoryBackend())
    memory_us = statistics.median([await memory() for _ in range(5)])
    floor_conn.close()
    return found, memory_us


class _TrivialTransactions:
    """The floor as a backend: each decision one empty ``BEGIN IMMEDIATE; COMMIT`` on the file,
    in a worker thread, one connection per process behind a lock (as the SQLite backend has)."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(
            path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.Lock()

    def _transaction(self) -> None:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute("COMMIT")

    async def acquire(
        self, demands: Sequence[Demand], ahead: Sequence[int] | None = None
    ) -> Reservation | float:
        await anyio.to_thread.run_sync(self._transaction)
        return Reservation(demands, None)

    async def wait_time(
        self, demands: Sequence[Demand], ahead: Sequence[int] | None = None
    ) -> float:
        await anyio.to_thread.run_sync(self._transaction)
        return 0.0

    async def release(self, reservation: Reservation, *, sent: bool, hold: float = 0.0) -> None:
        await anyio.to_thread.run_sync(self._transaction)


def _hammer(where: str | None, seconds: float, tasks: int, barrier: Any, out: Any) -> None:
    """One process: ``tasks`` loops of acquire+release on the one key; report decisions made."""

    async def main() -> int:
        done = 0
        deadline = 0.0

        async def loop(backend: LimiterBackend) -> None:
            nonlocal done
            while time.monotonic() < deadline:
                got = await backend.acquire(DEMANDS)
                assert isinstance(got, Reservation)
                await backend.release(got, sent=True)
                done += 2

        async def run(backend: LimiterBackend) -> None:
            nonlocal deadline
            await backend.wait_time(DEMANDS)  # open the file before the start
            await anyio.to_thread.run_sync(barrier.wait)
            deadline = time.monotonic() + seconds
            async with anyio.create_task_group() as tg:
                for _ in range(tasks):
                    tg.start_soon(loop, backend)

        if where is None:
            await run(MemoryBackend())
        elif where.startswith("floor:"):
            await run(_TrivialTransactions(where.removeprefix("floor:")))
        elif where.startswith("redis://"):
            from smsc_async.redis import RedisBackend

            async with RedisBackend.from_url(where) as redis_root:
                await run(redis_root.bind("bench-shared"))
        else:
            async with SQLiteBackend(where) as root:
                await run(root.bind("bench-shared"))
        return done

    out.put(anyio.run(main))


def _throughput(where: str | None, processes: int, seconds: float, tasks: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    barrier = ctx.Barrier(processes + 1)
    workers = [
        ctx.Process(target=_hammer, args=(where, seconds, tasks, barrier, out))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=120)
    total = sum(out.get(timeout=120) for _ in workers)
    for worker in workers:
        worker.join()
    return total / seconds


def _rounds(
    first: str | None, second: str | None, args: argparse.Namespace
) -> tuple[Pair, list[float], list[float]]:
    """Alternating throughput rounds: the paired ratio of ``second``'s rate to ``first``'s."""
    rates: dict[str | None, list[float]] = {first: [], second: []}

    def cost(where: str | None) -> Callable[[], float]:
        def run() -> float:
            rate = _throughput(where, args.processes, args.seconds, args.tasks)
            rates[where].append(rate)
            return 1e6 / rate  # µs per decision, lower is better

        return run

    # B/A of the costs: how many times first's rate second's is.
    pair = paired(cost(second), cost(first), slices=args.rounds, warmup=0, quiet_gc=False)
    return pair, rates[first], rates[second]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per", type=int, default=30, help="acquires per slice")
    parser.add_argument("--slices", type=int, default=401, help="interleaved slices")
    parser.add_argument("--seconds", type=float, default=1.0, help="throughput round length")
    parser.add_argument("--rounds", type=int, default=7, help="throughput rounds per variant")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=4, help="concurrent loops per process")
    parser.add_argument("--redis", action="store_true", help="measure the Redis backend too")
    args = parser.parse_args()
    figures: dict[str, Any] = {}

    with contextlib.ExitStack() as stack:
        workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="smsc-bench-sqlite-"))
        redis_url = None
        if args.redis:
            from redis_limiter import redis_server

            redis_url = stack.enter_context(redis_server())
        path = str(Path(workdir) / "limits.sqlite3")
        latency, memory_us = anyio.run(_latency, path, args.per, args.slices, redis_url)
        print(f"acquire latency (median per slice of {args.per}), {args.slices} paired slices:")
        for key, pair in latency.items():
            other = key.removeprefix("sqlite_over_").replace("_", " ")
            print("  " + pair.line("µs", other, "sqlite", digits=1))
        print(f"  memory backend (for scale) {memory_us:.1f} µs")
        figures["latency"] = {key: pair.as_dict() for key, pair in latency.items()}
        figures["latency"]["memory_us"] = round(memory_us, 2)

        print(
            f"decisions per second, {args.processes} processes x {args.tasks} loops, one key, "
            f"{args.rounds} alternating rounds of {args.seconds:g} s:"
        )
        floor = "floor:" + path + ".floor"
        pair, trivial, shared = _rounds(floor, path, args)
        print(
            f"  trivial transactions {statistics.median(trivial):7.0f}/s, sqlite (one file) "
            f"{statistics.median(shared):7.0f}/s: sqlite/trivial = {pair.ratio:.3f} "
            f"(range {pair.low:.3f}-{pair.high:.3f}, {pair.slices} rounds)"
        )
        figures["throughput"] = {
            "trivial_per_s": round(statistics.median(trivial)),
            "sqlite_per_s": round(statistics.median(shared)),
            "sqlite_over_trivial_transaction": pair.as_dict(),
        }
        if redis_url is not None:
            pair, _, remote = _rounds(path, redis_url, args)
            print(
                f"  redis (shared) {statistics.median(remote):9.0f}/s: redis/sqlite = "
                f"{pair.ratio:.2f}"
            )
            figures["throughput"]["redis_per_s"] = round(statistics.median(remote))
            figures["throughput"]["redis_over_sqlite"] = pair.as_dict()
    emit("sqlite_limiter", figures)


if __name__ == "__main__":
    main()
