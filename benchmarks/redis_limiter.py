"""What a decision costs on the Redis backend, next to a trivial EVALSHA measured in the same run.

Run from the repository root (starts its own ``redis-server`` on a free loopback port unless
``--url`` names one)::

    python benchmarks/redis_limiter.py

The floor is the cheapest thing the backend could do per decision: one ``EVALSHA`` of a script
that only returns, with the same keys, through a redis-py asyncio client with the backend's
settings -- ``client.evalsha``, the floor the goals were set on, and the same call on
connections taken from the client's pool and kept, each command sent and read by the
connection itself (what the backend's own hot path does since it keeps connections: the
strictest floor, printed beside the first, every figure paired with each). Ours and the
floor run in interleaved slices (``benchmarks/_pairs.py``: each pair in turn leads, so a
steady drift favours neither; the latency pairs of the two floors are taken in turn, so both
figures see the same stretch of the machine); each ratio is the median of the per-pair
ratios, printed with its interquartile range and its range. Slices are short and many (a few
milliseconds of acquires, 0.1 s of throughput, hundreds of pairs): a load spike from elsewhere
on the machine spoils a few pairs, and the median of hundreds barely moves.

* acquire latency (one rate key + the login's cap; each acquire is followed by its release, not
  timed, as each floor call is followed by a second one): the median per slice, ratio to the
  floor's (goal: ≤ 1.3×), and the p99 of each side over all slices; timed with this process
  and the server it started on one CPU (``_pairs.one_core``: no idle vCPU to wake per round
  trip, whose cost moved the ratios 5-11 % between runs);
* client CPU per acquire + release against two floor calls (what the process spends itself);
* decisions per second (an acquire or a release: one script each) from 4 processes on one key,
  against 4 processes running the trivial script (goal: ≥ 0.8× the floor's): all processes run
  one timeline of slices, switching between ours and the floor at the same instants, and count
  the decisions each slice completed;
* what the server does per acquire + release (its own ``INFO commandstats``): the commands the
  scripts run and the server µs they take, next to two trivial calls.

Only the backend's public API is used, so the same script measures any version of it.
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
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis
import redis.asyncio
from _backends import DEMANDS, percentile, timed_acquires
from _pairs import apaired_together, emit, one_core, summarize

from smsc_async._backend import Reservation
from smsc_async.redis import RedisBackend

TRIVIAL = "return 0"


#: The servers this script started, by URL: their processes, for ``one_core``.
SERVER_PIDS: dict[str, int] = {}


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
    SERVER_PIDS[url] = process.pid
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


class _Floor:
    """The trivial script through a redis-py asyncio client with the backend's settings.

    ``held``: on connections taken from the client's pool and kept, each command sent and its
    reply read by the connection itself -- the cheapest round trip redis-py's public API
    offers, and the way the backend sends its own hot calls (without it, the floor is
    ``client.evalsha``, what an application's own call costs).
    """

    def __init__(self, url: str, keys: list[str], *, held: bool = False) -> None:
        self.client = redis.asyncio.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.keys = keys
        self.sha = ""
        self.held = held
        self.idle: list[Any] = []
        self.command: tuple[Any, ...] = ()

    async def start(self) -> None:
        self.sha = await self.client.script_load(TRIVIAL)
        self.command = ("EVALSHA", self.sha, len(self.keys), *self.keys)

    async def once(self) -> None:
        if not self.held:
            await self.client.evalsha(self.sha, len(self.keys), *self.keys)
            return
        idle = self.idle
        pool: Any = self.client.connection_pool  # get_connection() is untyped in redis-py
        conn = idle.pop() if idle else await pool.get_connection()
        try:
            await conn.send_packed_command(conn.pack_command(*self.command))
            await conn.read_response()
        finally:
            idle.append(conn)

    async def aclose(self) -> None:
        for conn in self.idle:
            await self.client.connection_pool.release(conn)
        await self.client.aclose()


#: The floors each figure is paired with. The goals are against the first (the floor they were
#: set on); the second is the strictest there is, since the backend keeps connections too.
FLOORS = {"client": "trivial client.evalsha", "held": "trivial EVALSHA on a kept connection"}


async def _latency(url: str, slices: int, per_slice: int) -> dict[str, dict[str, Any]]:
    """Per floor (``FLOORS``): the paired latency and client-CPU figures and the p99s.

    The two floors' pairs are taken in turn (``apaired_together``): one after the other, the
    second floor's figures fell in another stretch of the machine than the first's.
    """
    clock = time.perf_counter
    cpu = time.process_time
    async with RedisBackend.from_url(url) as root:
        backend = root.bind("bench-latency")
        keys = [backend.key(d.key) for d in DEMANDS]
        floors = {kind: _Floor(url, keys, held=kind == "held") for kind in FLOORS}
        for floor in floors.values():
            await floor.start()
        # Per floor and side: every timed acquire, and each slice's CPU per acquire + release.
        samples = {kind: {"ours": [], "floor": []} for kind in FLOORS}
        cpu_pairs = {kind: {"ours": [], "floor": []} for kind in FLOORS}

        def ours(kind: str) -> Callable[[], Awaitable[float]]:
            async def slice_() -> float:
                took: list[float] = []
                start_cpu = cpu()
                await timed_acquires(backend, took, per_slice)
                cpu_pairs[kind]["ours"].append((cpu() - start_cpu) / per_slice * 1e6)
                samples[kind]["ours"] += took
                return statistics.median(took) * 1e6

            return slice_

        def trivial(kind: str) -> Callable[[], Awaitable[float]]:
            floor = floors[kind]

            async def slice_() -> float:
                took = []
                start_cpu = cpu()
                for _ in range(per_slice):
                    start = clock()
                    await floor.once()
                    took.append(clock() - start)
                    await floor.once()  # the release's round trip, as on our side
                cpu_pairs[kind]["floor"].append((cpu() - start_cpu) / per_slice * 1e6)
                samples[kind]["floor"] += took
                return statistics.median(took) * 1e6

            return slice_

        pairings = {kind: (trivial(kind), ours(kind)) for kind in FLOORS}
        for a, b in pairings.values():  # warm up: connections, script caches, the lease worker
            for _ in range(2):
                await b()
                await a()
        for kind in FLOORS:
            for side in (samples[kind], cpu_pairs[kind]):
                side["ours"].clear()
                side["floor"].clear()
        # B/A with A the floor: the ratio is ours / floor. Warmed up above: every pair counts
        # (and the CPU figures pair up with them).
        latency = await apaired_together(pairings, slices=slices, warmup=0)
        for floor in floors.values():
            await floor.aclose()
    return {
        kind: {
            "latency": latency[kind],
            "p99_ours": percentile(samples[kind]["ours"], 0.99),
            "p99_floor": percentile(samples[kind]["floor"], 0.99),
            "cpu": summarize(cpu_pairs[kind]["floor"], cpu_pairs[kind]["ours"]),
        }
        for kind in FLOORS
    }


def _server(url: str, n: int) -> dict[str, Any]:
    """What the server runs per acquire + release, from its own INFO commandstats."""

    async def ours() -> None:
        async with RedisBackend.from_url(url) as root:
            backend = root.bind("bench-count")
            for _ in range(n):
                got = await backend.acquire(DEMANDS)
                assert isinstance(got, Reservation)
                await backend.release(got, sent=True)

    def evalsha_usec(stats: dict[str, Any]) -> float:
        return float(
            sum(v["usec"] for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))
        )

    with redis.Redis.from_url(url) as admin:
        anyio.run(ours)  # warm (scripts loaded)
        admin.config_resetstat()
        anyio.run(ours)
        stats = admin.info("commandstats")
        sha = admin.script_load(TRIVIAL)
        keys = [RedisBackend.from_url(url).bind("bench-count").key(d.key) for d in DEMANDS]
        admin.config_resetstat()
        for _ in range(2 * n):
            admin.evalsha(sha, len(keys), *keys)
        trivial = admin.info("commandstats")
    # The client's own commands (the backend's start-up: SCRIPT LOAD, one TIME) are not the
    # scripts'; TIME inside the scripts is.
    skip = ("info", "config|resetstat", "hello", "script|load", "client|setinfo")
    calls = {k.removeprefix("cmdstat_"): v["calls"] / n for k, v in stats.items()}
    calls = {k: round(v, 3) for k, v in sorted(calls.items()) if v >= 0.001 and k not in skip}
    inner = sum(v for k, v in calls.items() if k not in ("evalsha", "eval"))
    return {
        "commands_in_scripts": round(inner, 3),
        "commands": calls,
        "server_us_ours": round(evalsha_usec(stats) / n, 2),
        "server_us_trivial": round(evalsha_usec(trivial) / n, 2),
    }


# -- throughput from several processes ----------------------------------------------------------


async def _slices(
    backend: RedisBackend,
    floor: _Floor,
    tasks: int,
    start_at: float,
    seconds: float,
    kinds: list[str],
) -> list[int]:
    """Decisions completed in each slice by ``tasks`` loops of this process (see ``_worker``)."""
    monotonic = time.monotonic
    end = start_at + seconds * len(kinds)
    last = len(kinds) - 1
    counts = [0] * len(kinds)

    def done(kind: str) -> None:
        # The decision counts in the slice it completed in, if that slice is of its kind.
        now = monotonic()
        i = min(last, int((now - start_at) / seconds))
        if now < end and kinds[i] == kind:
            counts[i] += 1

    async def loop() -> None:
        while True:
            now = monotonic()
            if now >= end:
                return
            if kinds[min(last, int((now - start_at) / seconds))] == "ours":
                got = await backend.acquire(DEMANDS)
                assert isinstance(got, Reservation)
                done("ours")
                await backend.release(got, sent=True)
                done("ours")
            else:
                await floor.once()
                done("floor")

    await anyio.sleep(max(0.0, start_at - monotonic()))
    async with anyio.create_task_group() as tg:
        for _ in range(tasks):
            tg.start_soon(loop)
    return counts


def _worker(url: str, tasks: int, held: bool, commands: Any, results: Any) -> None:
    """One process: on a command (start, seconds per slice, kinds) run every slice, count.

    Slice ``i`` runs from ``start + i * seconds`` for ``seconds``, on the kind ``kinds[i]``
    ("ours": an acquire and its release, two decisions; "floor": one trivial call, one
    decision); every process switches at the same instants (the monotonic clock is the
    machine's). A decision counts in the slice it completed in, if that slice is of its kind
    (one that straddles a switch counts for neither side).
    """

    async def main() -> None:
        async with RedisBackend.from_url(url) as root:
            backend = root.bind("bench-shared")
            floor = _Floor(url, [backend.key(d.key) for d in DEMANDS], held=held)
            await floor.start()
            await backend.wait_time(DEMANDS)  # connected before the first slice
            results.put("ready")
            while True:
                command = await anyio.to_thread.run_sync(commands.get)
                if command is None:
                    break
                results.put(await _slices(backend, floor, tasks, *command))
            await floor.aclose()

    anyio.run(main)


def _throughput(
    url: str, processes: int, tasks: int, slices: int, seconds: float, held: bool, warmup: int = 4
) -> Any:
    """Decisions per second of all processes, ours against the floor in interleaved slices.

    Pair ``i`` is two neighbouring slices, floor then ours or ours then floor in turn, so a
    steady drift favours neither; the first ``warmup`` pairs are run but not counted.
    """
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    queues = [ctx.Queue() for _ in range(processes)]
    workers = [
        ctx.Process(target=_worker, args=(url, tasks, held, q, results), daemon=True)
        for q in queues
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        assert results.get(timeout=120) == "ready"
    kinds: list[str] = []
    for i in range(warmup + slices):
        kinds += ["floor", "ours"] if i % 2 == 0 else ["ours", "floor"]
    start_at = time.monotonic() + 0.2
    for q in queues:
        q.put((start_at, seconds, kinds))
    totals = [0] * len(kinds)
    for _ in workers:
        for i, n in enumerate(results.get(timeout=120 + seconds * len(kinds))):
            totals[i] += n
    for q in queues:
        q.put(None)
    for worker in workers:
        worker.join(timeout=30)
    floor: list[float] = []
    ours: list[float] = []
    for i in range(warmup, warmup + slices):
        for kind, count in zip(kinds[2 * i : 2 * i + 2], totals[2 * i : 2 * i + 2], strict=True):
            (ours if kind == "ours" else floor).append(count / seconds)
    # B/A with A the floor: the ratio is ours / floor.
    return summarize(floor, ours)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="an existing Redis to use (default: start one)")
    parser.add_argument("--slices", type=int, default=801, help="A/B pairs per latency figure")
    parser.add_argument("--per-slice", type=int, default=20, help="acquires timed per slice")
    parser.add_argument("--throughput-slices", type=int, default=201, help="A/B pairs")
    parser.add_argument("--seconds", type=float, default=0.1, help="throughput slice length")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=4, help="concurrent loops per process")
    args = parser.parse_args()

    def run(url: str) -> None:
        figures: dict[str, Any] = {}
        n = args.slices * args.per_slice
        # Client and server on one CPU while latency is timed (``_pairs.one_core``); a server
        # named by --url runs where it runs.
        with one_core(*[SERVER_PIDS[url]] if url in SERVER_PIDS else []):
            measured = anyio.run(_latency, url, args.slices, args.per_slice)
        for kind, name in FLOORS.items():
            lat = measured[kind]
            latency, cpu = lat["latency"], lat["cpu"]
            print(f"acquire latency against {name}: {n} acquires in {args.slices} interleaved "
                  "pairs (asyncio):")  # fmt: skip
            print("  median per slice: " + latency.line("µs", "floor", "ours", digits=1))
            print(
                f"  p99: ours {lat['p99_ours'] * 1e6:.1f} µs, floor {lat['p99_floor'] * 1e6:.1f} µs"
            )
            print("  client CPU per acquire + release against two floor calls: "
                  + cpu.line("µs", "floor", "ours", digits=1))  # fmt: skip
            suffix = "" if kind == "client" else "_held"
            figures[f"latency_ours_over_floor{suffix}"] = latency.as_dict()
            figures[f"latency_median_us{suffix}"] = {
                "ours": round(latency.b, 1), "floor": round(latency.a, 1)
            }  # fmt: skip
            figures[f"latency_p99_us{suffix}"] = {
                "ours": round(lat["p99_ours"] * 1e6, 1),
                "floor": round(lat["p99_floor"] * 1e6, 1),
            }
            figures[f"client_cpu_ours_over_floor{suffix}"] = cpu.as_dict()
        held = figures["latency_ours_over_floor_held"]["ratio"]
        print(f"  latency ratio ours/floor {figures['latency_ours_over_floor']['ratio']:.3f} "
              f"against client.evalsha   goal <= 1.3 (kept connection: {held:.3f})")  # fmt: skip
        server = _server(url, 2000)
        print(
            f"server per acquire + release: {server['commands_in_scripts']:.2f} commands in "
            f"the scripts, {server['server_us_ours']:.1f} µs (two trivial calls: "
            f"{server['server_us_trivial']:.1f} µs); {server['commands']}"
        )
        for kind, name in FLOORS.items():
            rates = _throughput(
                url, args.processes, args.tasks, args.throughput_slices, args.seconds,
                kind == "held",
            )  # fmt: skip
            print(
                f"decisions per second against {name}, {args.processes} processes x "
                f"{args.tasks} loops, one key, {args.throughput_slices} interleaved pairs of "
                f"{args.seconds:g} s:"
            )
            print("  " + rates.line("/s", "floor", "ours", digits=0))
            suffix = "" if kind == "client" else "_held"
            figures[f"throughput_ours_over_floor{suffix}"] = rates.as_dict()
        held = figures["throughput_ours_over_floor_held"]["ratio"]
        print(f"  throughput ratio ours/floor {figures['throughput_ours_over_floor']['ratio']:.3f} "
              f"against client.evalsha   goal >= 0.8 (kept connection: {held:.3f})")  # fmt: skip
        emit(
            "redis_limiter",
            {
                **figures,
                "server": server,
                "goals": {"latency_ratio_max": 1.3, "throughput_ratio_min": 0.8},
            },
        )

    if args.url:
        run(args.url)
    else:
        with redis_server() as url:
            run(url)


if __name__ == "__main__":
    main()
