"""What a decision costs on the Redis backend, beside the in-memory one measured in the same run.

Run from the repository root (starts its own ``redis-server`` on a free loopback port unless
``--url`` names one)::

    python benchmarks/redis_limiter.py

Figures:

* acquire latency through Redis on loopback (median, p99; goals 0.2 ms and 1.5 ms), checked to
  be exactly one round trip per acquire (the server's own command count), and the memory
  backend's acquire latency;
* aggregate decisions per second (an acquire or a release: one atomic script each) from 4
  processes on one key (goal 15 000/s), and the same 4 processes each on its own memory backend.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from smsc_async._backend import Demand, MemoryBackend, Reservation
from smsc_async.redis import RedisBackend

# One key whose rule never refuses (a huge limit, a millisecond window) plus the login's cap.
DEMANDS = (Demand("bench:one", 10**9, 0.001), Demand("*concurrency", 10**6, 0.0))


@contextmanager
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit(
            "redis-server is not on PATH (Debian: apt-get install redis-server), or pass --url"
        )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="smsc-bench-redis-")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        for _ in range(500):
            try:
                with redis.Redis.from_url(url) as client:
                    client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.01)
        yield url
    finally:
        process.terminate()
        process.wait()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _client_commands(admin: redis.Redis) -> int:
    """Commands clients sent (EVALSHA and the rest), not those the scripts ran inside."""
    stats = admin.info("commandstats")
    inner = ("zadd", "zrem", "zremrangebyscore", "zcard", "zrange", "pttl", "pexpire", "time")
    total = sum(v["calls"] for k, v in stats.items() if k.removeprefix("cmdstat_") not in inner)
    # Leave out the INFO calls of this measurement.
    return total - stats.get("cmdstat_info", {}).get("calls", 0)


async def _latency(url: str, n: int) -> tuple[list[float], list[float], int]:
    """Acquire latencies (s) through Redis and in memory, and Redis commands per acquire+release."""
    with redis.Redis.from_url(url) as admin:
        admin.config_resetstat()
        async with RedisBackend.from_url(url) as root:
            backend = root.bind("bench-latency")
            for _ in range(200):  # warm up: connection, script cache
                got = await backend.acquire(DEMANDS)
                assert isinstance(got, Reservation)
                await backend.release(got, sent=True)
            before = _client_commands(admin)
            clock = time.perf_counter
            redis_times = []
            for _ in range(n):
                start = clock()
                got = await backend.acquire(DEMANDS)
                redis_times.append(clock() - start)
                assert isinstance(got, Reservation)
                await backend.release(got, sent=True)
            commands = _client_commands(admin) - before
    memory = MemoryBackend()
    memory_times = []
    for _ in range(n):
        start = clock()
        got = await memory.acquire(DEMANDS)
        memory_times.append(clock() - start)
        assert isinstance(got, Reservation)
        await memory.release(got, sent=True)
    return redis_times, memory_times, commands


def _hammer(url: str | None, seconds: float, tasks: int, barrier: Any, out: Any) -> None:
    """One process: ``tasks`` loops of acquire+release on the one key; report decisions made."""

    async def main() -> int:
        done = 0
        deadline = 0.0

        async def loop(backend: RedisBackend | MemoryBackend) -> None:
            nonlocal done
            while time.monotonic() < deadline:
                got = await backend.acquire(DEMANDS)
                assert isinstance(got, Reservation)
                await backend.release(got, sent=True)
                done += 2

        async def run(backend: RedisBackend | MemoryBackend) -> None:
            nonlocal deadline
            await backend.wait_time(DEMANDS)  # connect before the start
            await anyio.to_thread.run_sync(barrier.wait)
            deadline = time.monotonic() + seconds
            async with anyio.create_task_group() as tg:
                for _ in range(tasks):
                    tg.start_soon(loop, backend)

        if url is None:
            await run(MemoryBackend())
        else:
            async with RedisBackend.from_url(url) as root:
                await run(root.bind("bench-shared"))
        return done

    out.put(anyio.run(main))


def _throughput(url: str | None, processes: int, seconds: float, tasks: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    # Everyone starts together once every interpreter has imported and connected.
    barrier = ctx.Barrier(processes + 1)
    workers = [
        ctx.Process(target=_hammer, args=(url, seconds, tasks, barrier, out))
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
    parser.add_argument("--url", help="an existing Redis to use (default: start one)")
    parser.add_argument("-n", type=int, default=20_000, help="acquires timed for the latency")
    parser.add_argument("--seconds", type=float, default=3.0, help="throughput run length")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=4, help="concurrent loops per process")
    args = parser.parse_args()

    def run(url: str) -> None:
        redis_times, memory_times, commands = anyio.run(_latency, url, args.n)
        print(f"acquire latency, {args.n} acquires, one key + the cap:")
        r50, r99 = _percentile(redis_times, 0.5) * 1e3, _percentile(redis_times, 0.99) * 1e3
        m50, m99 = _percentile(memory_times, 0.5) * 1e6, _percentile(memory_times, 0.99) * 1e6
        print(f"  redis   median {r50:6.3f} ms   p99 {r99:6.3f} ms   (goals 0.2 / 1.5 ms)")
        print(f"  memory  median {m50:6.2f} us   p99 {m99:6.2f} us")
        per = commands / args.n
        print(f"  Redis commands per acquire+release: {per:.3f} (one EVALSHA each way)")
        redis_rate = _throughput(url, args.processes, args.seconds, args.tasks)
        memory_rate = _throughput(None, args.processes, args.seconds, args.tasks)
        print(
            f"decisions per second, {args.processes} processes x {args.tasks} loops, one key, "
            f"{args.seconds:g} s:"
        )
        print(f"  redis (shared)        {redis_rate:9.0f}/s   (goal 15000/s)")
        print(f"  memory (per process)  {memory_rate:9.0f}/s   x{memory_rate / redis_rate:.1f}")

    if args.url:
        run(args.url)
    else:
        with redis_server() as url:
            run(url)


if __name__ == "__main__":
    main()
