"""What a decision costs on the SQLite backend, beside baselines measured in the same run.

Run from the repository root::

    python benchmarks/sqlite_limiter.py

Figures:

* acquire latency on the SQLite backend (one ``BEGIN IMMEDIATE`` transaction in a worker
  thread), in slices interleaved with two baselines: the same worker-thread hop around a
  trivial transaction (``BEGIN IMMEDIATE; COMMIT`` -- the floor of any design on this file), and
  the memory backend; medians and their ratios;
* aggregate decisions per second (an acquire or a release: one transaction each) from 4
  processes on one key of one file, and the same 4 processes each on its own memory backend;
* with ``--redis`` (starts a ``redis-server`` on a free loopback port), the Redis backend in
  the same slices and the same 4-process run: the two shared backends side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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


async def _latency(path: str, n: int, slices: int, redis_url: str | None) -> dict[str, list[float]]:
    """Per variant, acquire latencies (s), measured in ``slices`` interleaved slices."""
    floor_conn = sqlite3.connect(path + ".floor", isolation_level=None, check_same_thread=False)
    floor_conn.execute("PRAGMA journal_mode=WAL")
    floor_conn.execute("PRAGMA synchronous=NORMAL")

    def trivial() -> None:
        floor_conn.execute("BEGIN IMMEDIATE")
        floor_conn.execute("COMMIT")

    memory = MemoryBackend()
    times: dict[str, list[float]] = {"sqlite": [], "trivial transaction": [], "memory": []}
    clock = time.perf_counter
    async with contextlib.AsyncExitStack() as stack:
        root = await stack.enter_async_context(SQLiteBackend(path))
        backend = root.bind("bench-latency")
        shared: LimiterBackend | None = None
        if redis_url is not None:
            from smsc_async.redis import RedisBackend

            times["redis"] = []
            redis_root = await stack.enter_async_context(RedisBackend.from_url(redis_url))
            shared = redis_root.bind("bench-latency")
        for warm in (backend, shared):  # warm up: the file, the thread pool, the connection
            if warm is not None:
                await _timed(warm, [], 200)
        per = max(1, n // slices)
        for _ in range(slices):
            await _timed(backend, times["sqlite"], per)
            for _ in range(per):
                start = clock()
                await anyio.to_thread.run_sync(trivial)
                times["trivial transaction"].append(clock() - start)
            await _timed(memory, times["memory"], per)
            if shared is not None:
                await _timed(shared, times["redis"], per)
    floor_conn.close()
    return times


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=6_000, help="acquires timed per variant")
    parser.add_argument("--slices", type=int, default=20, help="interleaved slices")
    parser.add_argument("--seconds", type=float, default=3.0, help="throughput run length")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=4, help="concurrent loops per process")
    parser.add_argument("--redis", action="store_true", help="measure the Redis backend too")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="smsc-bench-sqlite-"))
        redis_url = None
        if args.redis:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from redis_limiter import redis_server

            redis_url = stack.enter_context(redis_server())
        path = str(Path(workdir) / "limits.sqlite3")
        times = anyio.run(_latency, path, args.n, args.slices, redis_url)
        print(f"acquire latency, {args.n} acquires per variant in {args.slices} slices:")
        base = statistics.median(times["sqlite"])
        for name, values in times.items():
            med, p99 = statistics.median(values), _percentile(values, 0.99)
            print(
                f"  {name:20s} median {med * 1e6:8.1f} us   p99 {p99 * 1e6:8.1f} us   "
                f"sqlite / this x{base / med:.2f}"
            )
        shared = _throughput(path, args.processes, args.seconds, args.tasks)
        memory = _throughput(None, args.processes, args.seconds, args.tasks)
        print(
            f"decisions per second, {args.processes} processes x {args.tasks} loops, one key, "
            f"{args.seconds:g} s:"
        )
        print(f"  sqlite (one file)     {shared:9.0f}/s")
        print(f"  memory (per process)  {memory:9.0f}/s   memory / sqlite x{memory / shared:.1f}")
        if redis_url is not None:
            remote = _throughput(redis_url, args.processes, args.seconds, args.tasks)
            print(
                f"  redis (shared)        {remote:9.0f}/s   redis / sqlite x{remote / shared:.1f}"
            )


if __name__ == "__main__":
    main()
