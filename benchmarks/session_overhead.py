"""Client CPU per call: the Session over bare httpx, and the aiohttp backend over the default.

Every client calls the same emulator endpoint (``/sys/balance.php``, fmt=3), served by a separate
process on loopback so that this process's CPU time (``time.process_time``: the whole client,
threads included) is the client's alone. Each figure pairs A and B in many short interleaved
slices (benchmarks/_pairs.py: warm-up pairs discarded, no garbage collection inside a slice) and
prints the median of the paired ratios with its interquartile spread:

* per async backend (asyncio, trio), one call at a time: client CPU µs per call of
  ``Session.balance()`` against a bare ``httpx.AsyncClient`` posting the same form;
* asyncio, 14 concurrent tasks (the gateway's concurrency cap): client CPU per call of
  ``Session(http_backend="aiohttp")`` against the default httpx backend (goal ≤ 0.4), after
  checking both give identical answers from the emulator; timed against a server replaying the
  emulator's balance answer (the emulator is slower per call than the aiohttp client, and the
  client's CPU per call moved with its speed). Measured in ``--processes`` fresh processes one
  after the other, each with servers of its own, their pairs pooled: in one process this ratio
  held still to 2 % over its own pairs but moved 12-21 % from one process to the next (each has
  its own memory layout and hash seed);
* import time of ``smsc_async`` over importing its five dependencies (goal ≤ 20 ms).

The sessions run with their full limiter and the library's defaults, on the production clock,
with the balance rule raised out of the way (the real rule allows 10 a minute), so the figures are
the pipeline's cost, not the rule's waits.

    python benchmarks/session_overhead.py [--slice-ms 20] [--slices 201]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _pairs import Pair, apaired_loops, emit, in_processes, pool  # noqa: E402

from smsc_async import RateLimits, Rule, Session  # noqa: E402

FORM = {"login": "demo", "psw": "demo", "cur": "1", "fmt": "3", "charset": "utf-8"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_emulator() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "smsc_async.testing", "--port", str(port), "--lenient"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    url = f"http://127.0.0.1:{port}"
    if _answers(url):
        return proc, url
    proc.kill()
    raise RuntimeError("emulator did not start")


def _answers(url: str, seconds: float = 20.0) -> bytes | None:
    """The body of ``url``'s answer to a balance request, once it answers (``None``: never)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            response = httpx.post(url + "/sys/balance.php", data=FORM, timeout=1)
            return response.raise_for_status().content
        except httpx.HTTPError:
            time.sleep(0.05)
    return None


class _Replay(asyncio.Protocol):
    """One keep-alive connection answering every request with the same recorded response."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in self.buffer[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            assert self.transport is not None
            self.transport.write(self.response)


def _serve_replay(body: bytes, port: int) -> None:
    response = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(body), body)
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Replay(response), "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def _start_replay(url: str) -> tuple[multiprocessing.Process, str]:
    """A server that answers every request with the emulator's answer to ``balance()``.

    The 14-concurrent figure times the client against it: the emulator is a whole gateway in
    Python and slower per call than the aiohttp client, so the client waited on it and its CPU
    per call moved with the emulator's speed (aiohttp's by 9 % between two runs, httpx's by
    2 %). Replaying the recorded bytes costs the server a few µs a call, so the client is what
    limits the pace, as against the real gateway.
    """
    body = _answers(url)
    assert body is not None
    port = _free_port()
    server = multiprocessing.Process(target=_serve_replay, args=(body, port), daemon=True)
    server.start()
    replay = f"http://127.0.0.1:{port}"
    if _answers(replay) == body:
        return server, replay
    server.kill()
    raise RuntimeError("replay server did not start")


def _limits() -> RateLimits:
    return attrs.evolve(RateLimits(), balance=Rule(limit=10**9, window=60.0))


Call = Callable[[], Awaitable[object]]


async def _cpu_per_call(call: Call, n: int, tasks: int) -> float:
    """Client CPU µs per call for ``n`` calls made by ``tasks`` concurrent tasks."""
    per_task = max(n // tasks, 1)

    async def worker() -> None:
        for _ in range(per_task):
            await call()

    start = time.process_time()
    async with anyio.create_task_group() as tg:
        for _ in range(tasks):
            tg.start_soon(worker)
    return (time.process_time() - start) / (per_task * tasks) * 1e6


async def _measure(url: str, seconds: float, slices: int, backend: str) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    async with httpx.AsyncClient() as bare:

        async def bare_call() -> object:
            response = await bare.post(url + "/sys/balance.php", data=FORM)
            return response.json()

        async with Session("demo", "demo", base_url=url, limits=_limits()) as smsc:
            for call in (bare_call, smsc.balance):  # warm up the pools and caches
                await _cpu_per_call(call, 100, 1)
            seq = await apaired_loops(
                lambda k: _cpu_per_call(bare_call, k, 1),
                lambda k: _cpu_per_call(smsc.balance, k, 1),
                seconds=seconds,
                slices=slices,
            )
            print(
                f"[{backend}] sequential client CPU per call: " + seq.line("µs", "httpx", "Session")
            )
            figures["sequential_session_over_bare_httpx"] = seq.as_dict()
    return figures


async def _concurrent(url: str, replay: str, seconds: float, slices: int) -> Pair:
    """aiohttp over httpx, 14 concurrent tasks, in this process (asyncio).

    Both give identical answers from the emulator at ``url``; they are timed against ``replay``,
    which answers every request with the emulator's balance answer.
    """
    async with (
        Session("demo", "demo", base_url=url, limits=_limits()) as smsc,
        Session("demo", "demo", base_url=url, limits=_limits(), http_backend="aiohttp") as fast,
    ):
        same = [await smsc.balance(), await smsc.operator_info("79161234567")]
        assert same == [await fast.balance(), await fast.operator_info("79161234567")]
    async with (
        Session("demo", "demo", base_url=replay, limits=_limits()) as smsc,
        Session("demo", "demo", base_url=replay, limits=_limits(), http_backend="aiohttp") as fast,
    ):
        assert await smsc.balance() == await fast.balance()
        for call in (smsc.balance, fast.balance):  # warm up the pools and caches
            await _cpu_per_call(call, 100, 14)
        return await apaired_loops(
            lambda k: _cpu_per_call(smsc.balance, k, 14),
            lambda k: _cpu_per_call(fast.balance, k, 14),
            seconds=seconds,
            slices=slices,
        )


def _import_ms(runs: int = 21) -> tuple[float, float]:
    """What ``import smsc_async`` adds to its five dependencies, in fresh interpreters (ms).

    Each run imports the dependencies first, then times ``import smsc_async`` inside the same
    interpreter: the difference of two whole interpreter runs (what this figure was before)
    carried their start-up's noise, 10 ms either way here. Returns the best and the median.
    """
    # Installed packages import from bytecode (pip compiles it, as it did for the dependencies);
    # with PYTHONDONTWRITEBYTECODE set, a source checkout would be recompiled on every run.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "smsc_async")], check=True)
    statement = (
        "import httpx, anyio, attrs, cattrs, tenacity, time\n"
        "start = time.perf_counter()\n"
        "import smsc_async\n"
        "print(time.perf_counter() - start)"
    )
    took = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", statement],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        ).stdout
        took.append(float(out) * 1000)
    return min(took), statistics.median(took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--slice-ms", type=float, default=20.0, help="client CPU milliseconds per slice"
    )
    parser.add_argument("--slices", type=int, default=201, help="interleaved A/B pairs")
    parser.add_argument("--no-import", action="store_true", help="skip the import-time figure")
    parser.add_argument(
        "--processes", type=int, default=16, help="fresh processes of the 14-concurrent figure"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    seconds = args.slice_ms / 1e3
    if args.worker:
        # One process's pairs of the concurrent figure, for the parent to pool, with servers of
        # its own (a server's process has its own memory layout too, pooled like the workers').
        proc, url = _start_emulator()
        try:
            server, replay = _start_replay(url)
            try:
                pair = anyio.run(_concurrent, url, replay, seconds, args.slices)
            finally:
                server.kill()
                server.join()
        finally:
            proc.terminate()
            proc.wait()
        emit("session-overhead-worker", {"concurrent14": pair.to_json()})
        return
    figures: dict[str, Any] = {}
    proc, url = _start_emulator()
    try:
        for backend in ("asyncio", "trio"):
            figures[backend] = anyio.run(
                _measure, url, seconds, args.slices, backend, backend=backend
            )
        per_process = max(args.slices // args.processes, 5)
        argv = [__file__, "--slice-ms", str(args.slice_ms), "--slices", str(per_process)]
        sets = in_processes(argv, args.processes)
        con = pool([Pair.from_json(found["concurrent14"]) for found in sets])
        print(
            "[asyncio] 14 concurrent calls, client CPU per call: "
            + con.line("µs", "httpx", "aiohttp")
            + " (goal ≤ 0.4; identical answers)"
        )
        figures["asyncio"]["concurrent14_aiohttp_over_httpx"] = con.as_dict()
    finally:
        proc.terminate()
        proc.wait()
    if not args.no_import:
        best, median = _import_ms()
        print(
            f"import: smsc_async adds {best:.1f} ms to its five dependencies "
            f"(median of 21 fresh interpreters {median:.1f} ms; goal ≤ 20 ms)"
        )
        figures["import_added_ms"] = round(best, 2)
        figures["import_added_median_ms"] = round(median, 2)
    emit("session_overhead", figures)


if __name__ == "__main__":
    main()
