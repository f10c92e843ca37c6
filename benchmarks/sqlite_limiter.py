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
  timed with every thread on one CPU (``_pairs.one_core``);
* aggregate decisions per second (an acquire or a release: one transaction each) from 4
  processes on one key of one file, against the same 4 processes making trivial transactions
  on one file (the floor, trying for the lock as the backend does: SQLite's own busy handler
  held it to 0.7x of that), in alternating rounds run by the same processes (each keeps both
  open), the first pair discarded as warm-up;
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

from _backends import DEMANDS, timed_acquires
from _pairs import Pair, apaired, emit, one_core

from smsc_async._backend import Demand, LimiterBackend, MemoryBackend, Reservation
from smsc_async.sqlite import SQLiteBackend, _Store


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
            await timed_acquires(backend, out, per)
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
        # Tries for the lock as the backend makes them (not in SQLite's busy handler).
        self._conn.execute("PRAGMA busy_timeout = 0")
        self._tries = _Store(path, timeout=30.0, lease_ttl=10.0, wall=time.time)

    def _transaction(self) -> None:
        with self._lock:
            self._tries._begin(self._conn)
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


def _backend_for(where: str | None, stack: contextlib.AsyncExitStack) -> Awaitable[Any]:
    async def open_() -> Any:
        if where is None:
            return MemoryBackend()
        if where.startswith("floor:"):
            return _TrivialTransactions(where.removeprefix("floor:"))
        if where.startswith("redis://"):
            from smsc_async.redis import RedisBackend

            root = await stack.enter_async_context(RedisBackend.from_url(where))
            return root.bind("bench-shared")
        root = await stack.enter_async_context(SQLiteBackend(where))
        return root.bind("bench-shared")

    return open_()


def _order(rounds: int) -> list[int]:
    """Which side runs in each round: pairs in turn led by 0 and by 1 (0 1, 1 0, 0 1 ...)."""
    return [side if i % 2 == 0 else 1 - side for i in range(rounds) for side in (0, 1)]


def _hammer(
    sides: tuple[str | None, str | None],
    seconds: float,
    tasks: int,
    rounds: int,
    barrier: Any,
    out: Any,
) -> None:
    """One process: for each round, ``tasks`` loops of acquire+release on the one key of the
    round's side; reports the decisions made in each round."""

    async def main() -> list[int]:
        async with contextlib.AsyncExitStack() as stack:
            backends = [await _backend_for(where, stack) for where in sides]
            for backend in backends:
                await backend.wait_time(DEMANDS)  # open every file before the first round
            made = []
            for side in _order(rounds):
                backend = backends[side]
                done = 0
                await anyio.to_thread.run_sync(barrier.wait)
                deadline = time.monotonic() + seconds

                async def loop(backend: LimiterBackend = backend, until: float = deadline) -> None:
                    nonlocal done
                    while time.monotonic() < until:
                        got = await backend.acquire(DEMANDS)
                        assert isinstance(got, Reservation)
                        await backend.release(got, sent=True)
                        done += 2

                async with anyio.create_task_group() as tg:
                    for _ in range(tasks):
                        tg.start_soon(loop)
                made.append(done)
            return made

    out.put(anyio.run(main))


def _rounds(
    first: str | None, second: str | None, args: argparse.Namespace
) -> tuple[Pair, list[float], list[float]]:
    """Alternating throughput rounds: the paired ratio of ``second``'s rate to ``first``'s.

    The same ``--processes`` processes run every round, each with both sides open, so a pair
    compares the two sides in the same processes a moment apart (fresh processes per round
    would add their start-up and their own memory layout to each round).
    """
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    barrier = ctx.Barrier(args.processes + 1)
    workers = [
        ctx.Process(
            target=_hammer,
            args=((first, second), args.seconds, args.tasks, args.rounds, barrier, out),
        )
        for _ in range(args.processes)
    ]
    for worker in workers:
        worker.start()
    order = _order(args.rounds)
    for _ in order:
        barrier.wait(timeout=120)  # every process ready: the round starts
    made = [out.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join()
    rates = [sum(per[i] for per in made) / args.seconds for i in range(len(order))]
    sides: list[list[float]] = [[], []]
    for side, rate in zip(order, rates, strict=True):
        sides[side].append(rate)
    # Costs, µs per decision (lower is better): B/A is how many times second's rate first's is.
    samples = [[1e6 / b, 1e6 / a] for a, b in zip(sides[0], sides[1], strict=True)]
    pair = Pair.from_json({"samples": samples[1:]})  # the first pair warms the files up
    return pair, sides[0], sides[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per", type=int, default=30, help="acquires per slice")
    parser.add_argument("--slices", type=int, default=801, help="interleaved slices")
    parser.add_argument("--seconds", type=float, default=0.2, help="throughput round length")
    # (At 121 rounds the ratio moved 7.5 % between runs; at 161, 3.5 %.)
    parser.add_argument("--rounds", type=int, default=201, help="throughput rounds per variant")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=4, help="concurrent loops per process")
    parser.add_argument("--redis", action="store_true", help="measure the Redis backend too")
    args = parser.parse_args()
    figures: dict[str, Any] = {}

    with contextlib.ExitStack() as stack:
        workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="smsc-bench-sqlite-"))
        redis_url = None
        pids: list[int] = []
        if args.redis:
            from redis_limiter import SERVER_PIDS, redis_server

            redis_url = stack.enter_context(redis_server())
            pids.append(SERVER_PIDS[redis_url])
        path = str(Path(workdir) / "limits.sqlite3")
        # The worker threads and this thread on one CPU while latency is timed (a hop between
        # two vCPUs costs what the host makes it: the ratio moved 14 % between runs; on one CPU
        # within 1 %), all CPUs again for the throughput processes.
        with one_core(*pids):
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
