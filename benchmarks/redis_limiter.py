"""What a decision costs on the Redis backend, next to a trivial EVALSHA measured in the same run.

Run from the repository root (starts its own ``redis-server`` on a free loopback port unless
``--url`` names one)::

    python benchmarks/redis_limiter.py

The floor is the cheapest thing the backend could do per decision: one ``EVALSHA`` of a script
that only returns, with the same keys, through the same redis-py asyncio client and settings.
A and B run in interleaved slices (A, B, A, B...) so load changes hit both alike; each figure is
the median over slices, and each ratio the median of the per-slice ratios with its spread.

* acquire latency (one rate key + the login's cap; each acquire is followed by its release,
  not timed): median and p99, against the floor's (goal: median ≤ 1.3× the floor), and against
  a floor that also carries the acquire's keys and arguments (what is left is the script);
* decisions per second (an acquire or a release: one script each) from 4 processes on one key,
  against 4 processes running the trivial script (goal: ≥ 0.8× the floor's);
* the Redis commands the scripts run per acquire + release (the server's own counts).
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import socket
import statistics
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
import redis.asyncio

from smsc_async._backend import Demand, Reservation
from smsc_async.redis import RedisBackend

# One key whose rule never refuses (a huge limit, a millisecond window) plus the login's cap.
DEMANDS = (Demand("bench:one", 10**9, 0.001), Demand("*concurrency", 10**6, 0.0))
TRIVIAL = "return 0"


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


def _spread(ratios: list[float]) -> str:
    low, high = _percentile(ratios, 0.1), _percentile(ratios, 0.9)
    return f"{statistics.median(ratios):.2f}x (p10-p90 {low:.2f}-{high:.2f})"


class _Floor:
    """The trivial script through a redis-py asyncio client with the backend's settings."""

    def __init__(self, url: str, keys: list[str]) -> None:
        self.client = redis.asyncio.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.keys = keys
        self.sha = ""

    async def start(self) -> None:
        self.sha = await self.client.script_load(TRIVIAL)

    async def once(self) -> None:
        await self.client.evalsha(self.sha, len(self.keys), *self.keys)

    async def once_with(self, keys: list[str], args: list[Any]) -> None:
        await self.client.evalsha(self.sha, len(keys), *keys, *args)

    async def aclose(self) -> None:
        await self.client.aclose()


async def _latency(url: str, slices: int, per_slice: int) -> dict[str, Any]:
    clock = time.perf_counter
    async with RedisBackend.from_url(url) as root:
        backend = root.bind("bench-latency")
        floor = _Floor(url, [backend.key(d.key) for d in DEMANDS])
        await floor.start()
        for _ in range(300):  # warm up: connections, script caches
            got = await backend.acquire(DEMANDS)
            assert isinstance(got, Reservation)
            await backend.release(got, sent=True)
            await floor.once()
        ours: list[float] = []
        base: list[float] = []
        ratios: list[float] = []
        heavy: list[float] = []
        heavy_ratios: list[float] = []
        # The acquire's own keys and arguments, for the floor that carries them too.
        plan = backend._plan(DEMANDS)
        keys = plan.keys_take
        args = [b"1", "0123456789ab:1", b"6000000", b"5000", b"1796155364354078", *plan.zero_tail]
        for _ in range(slices):
            a: list[float] = []
            for _ in range(per_slice):
                start = clock()
                got = await backend.acquire(DEMANDS)
                a.append(clock() - start)
                assert isinstance(got, Reservation)
                await backend.release(got, sent=True)
            b: list[float] = []
            for _ in range(per_slice):
                start = clock()
                await floor.once()
                b.append(clock() - start)
                await floor.once()  # the release's round trip, as on the A side
            c: list[float] = []
            for _ in range(per_slice):
                start = clock()
                await floor.once_with(keys, args)
                c.append(clock() - start)
                await floor.once()
            ours += a
            base += b
            heavy += c
            ratios.append(statistics.median(a) / statistics.median(b))
            heavy_ratios.append(statistics.median(a) / statistics.median(c))
        await floor.aclose()
    return {
        "ours": ours,
        "floor": base,
        "ratios": ratios,
        "floor_args": heavy,
        "ratios_args": heavy_ratios,
    }


def _commands(url: str, n: int) -> dict[str, float]:
    """Redis commands run inside the scripts per acquire + release (INFO commandstats)."""

    async def run() -> None:
        async with RedisBackend.from_url(url) as root:
            backend = root.bind("bench-count")
            for _ in range(n):
                got = await backend.acquire(DEMANDS)
                assert isinstance(got, Reservation)
                await backend.release(got, sent=True)

    with redis.Redis.from_url(url) as admin:
        anyio.run(run)  # warm (scripts loaded)
        admin.config_resetstat()
        anyio.run(run)
        stats = admin.info("commandstats")
    inner = {k.removeprefix("cmdstat_"): v["calls"] / n for k, v in stats.items()}
    return {k: v for k, v in inner.items() if k not in ("info", "config|resetstat", "hello")}


# -- throughput from several processes ----------------------------------------------------------


def _worker(url: str, tasks: int, commands: Any, results: Any) -> None:
    """One process: on each command ("ours"/"floor", seconds) run that many loops, count."""

    async def main() -> None:
        async with RedisBackend.from_url(url) as root:
            backend = root.bind("bench-shared")
            floor = _Floor(url, [backend.key(d.key) for d in DEMANDS])
            await floor.start()
            await backend.wait_time(DEMANDS)  # connected before the first slice
            results.put("ready")
            while True:
                command = await anyio.to_thread.run_sync(commands.get)
                if command is None:
                    break
                kind, start_at, seconds = command
                await anyio.sleep(max(0.0, start_at - time.monotonic()))
                deadline = start_at + seconds
                done = 0

                async def ours(deadline: float = deadline) -> None:
                    nonlocal done
                    while time.monotonic() < deadline:
                        got = await backend.acquire(DEMANDS)
                        assert isinstance(got, Reservation)
                        await backend.release(got, sent=True)
                        done += 2

                async def trivial(deadline: float = deadline) -> None:
                    nonlocal done
                    while time.monotonic() < deadline:
                        await floor.once()
                        done += 1

                async with anyio.create_task_group() as tg:
                    for _ in range(tasks):
                        tg.start_soon(ours if kind == "ours" else trivial)
                results.put(done)
            await floor.aclose()

    anyio.run(main)


def _throughput(url: str, processes: int, tasks: int, slices: int, seconds: float) -> Any:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    queues = [ctx.Queue() for _ in range(processes)]
    workers = [
        ctx.Process(target=_worker, args=(url, tasks, q, results), daemon=True) for q in queues
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        assert results.get(timeout=120) == "ready"
    rates: dict[str, list[float]] = {"ours": [], "floor": []}
    ratios = []
    for _ in range(slices):
        pair = {}
        for kind in ("ours", "floor"):
            start_at = time.monotonic() + 0.05
            for q in queues:
                q.put((kind, start_at, seconds))
            total = sum(results.get(timeout=120) for _ in workers)
            pair[kind] = total / seconds
            rates[kind].append(pair[kind])
        ratios.append(pair["ours"] / pair["floor"])
    for q in queues:
        q.put(None)
    for worker in workers:
        worker.join(timeout=30)
    return rates, ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="an existing Redis to use (default: start one)")
    parser.add_argument("--slices", type=int, default=20, help="A/B pairs per measurement")
    parser.add_argument("--per-slice", type=int, default=500, help="acquires timed per slice")
    parser.add_argument("--seconds", type=float, default=0.5, help="throughput slice length")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=4, help="concurrent loops per process")
    args = parser.parse_args()

    def run(url: str) -> None:
        lat = anyio.run(_latency, url, args.slices, args.per_slice)
        n = args.slices * args.per_slice
        print(f"acquire latency, {n} acquires in {args.slices} interleaved slices (asyncio):")
        for name, key in (
            ("redis backend             ", "ours"),
            ("trivial EVALSHA           ", "floor"),
            ("trivial EVALSHA, same args", "floor_args"),
        ):
            values = lat[key]
            p50, p99 = _percentile(values, 0.5) * 1e6, _percentile(values, 0.99) * 1e6
            print(f"  {name}  median {p50:7.1f} us   p99 {p99:7.1f} us")
        print(f"  ratio to the floor (median of slices): {_spread(lat['ratios'])}   goal <= 1.3x")
        print(f"  ratio to the floor with the same arguments: {_spread(lat['ratios_args'])}")
        calls = _commands(url, 2000)
        per = {k: round(v, 2) for k, v in sorted(calls.items()) if v >= 0.01}
        inner = sum(v for k, v in calls.items() if k not in ("evalsha", "eval"))
        print(f"  Redis commands per acquire+release: {inner:.2f} inside scripts; {per}")
        rates, ratios = _throughput(url, args.processes, args.tasks, args.slices, args.seconds)
        print(
            f"decisions per second, {args.processes} processes x {args.tasks} loops, one key, "
            f"{args.slices} interleaved slices of {args.seconds:g} s:"
        )
        print(f"  redis backend    {statistics.median(rates['ours']):9.0f}/s")
        print(f"  trivial EVALSHA  {statistics.median(rates['floor']):9.0f}/s")
        print(f"  ratio (median of slices): {_spread(ratios)}   goal >= 0.8x")

    if args.url:
        run(args.url)
    else:
        with redis_server() as url:
            run(url)


if __name__ == "__main__":
    main()
