"""Real processes sharing one login through a limiter backend, against the strict emulator.

The harness of ``tests/test_redis_processes.py`` (and ``test_redis_cluster.py``, which reuses its
tests) and ``tests/test_sqlite_processes.py``. Each worker is this module run as a script
(``python -m tests._processes CONFIG``): it opens its own :class:`~smsc_async.Session` with its
own backend -- a :class:`~smsc_async.redis.RedisBackend` when the config names ``redis``, else an
:class:`~smsc_async.sqlite.SQLiteBackend` on the config's ``path`` -- to the emulator served on a
loopback port by the pytest process, waits for the word "go" on stdin so all start together,
hammers the gateway, and prints what it saw as JSON. A ``hold`` worker takes concurrency places
and keeps them until it is killed. Times are ``time.monotonic()``, one clock for every process
of the machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from smsc_async import RateLimits, Session, TooManyRequestsError
from smsc_async._backend import Demand, LimiterBackend
from smsc_async._limiter import Limiter
from smsc_async.testing import Emulator
from smsc_async.testing._server import make_config

ROOT = Path(__file__).resolve().parent.parent
# One-minute rules last 1.2 s: what a busy 2-core machine adds to each request (the client
# counts a request from its answer) stays a small share of the window.
SCALE = 0.02
SPAWN_TIMEOUT = 60.0

# -- the worker ---------------------------------------------------------------------------------


@asynccontextmanager
async def _backend(cfg: dict[str, Any]) -> AsyncIterator[LimiterBackend]:
    """The config's backend, open, bound to its ``namespace`` if it names one."""
    root: Any
    if "redis" in cfg:
        from smsc_async.redis import RedisBackend

        root = RedisBackend.from_url(cfg["redis"], lease_ttl=cfg.get("lease_ttl", 10.0))
    else:
        from smsc_async.sqlite import SQLiteBackend

        extra = {"lease_ttl": cfg["lease_ttl"]} if "lease_ttl" in cfg else {}
        root = SQLiteBackend(cfg["path"], **extra)
    async with root:
        yield root.bind(cfg["namespace"]) if "namespace" in cfg else root


async def _work(cfg: dict[str, Any]) -> dict[str, Any]:
    limits = RateLimits().scaled(cfg["scale"])
    answers: dict[str, list[float]] = {}
    errors: list[str] = []
    index = cfg["index"]
    counter = 0
    async with (
        _backend(cfg) as backend,
        Session(
            login="demo",
            password="demo",
            base_url=cfg["url"],
            limits=limits,
            backend=backend,
            retry=None,
        ) as smsc,
    ):
        # Reach the store before the start (a decision that takes nothing, on no rule's key).
        await backend.wait_time((Demand("warm-up", 1, 1.0),))
        print("ready", flush=True)
        go = await anyio.to_thread.run_sync(sys.stdin.readline)
        start_at = float(go.split()[1])
        await anyio.sleep(max(0.0, start_at - time.monotonic()))
        deadline = start_at + cfg["duration"]

        async def loop(kind: str) -> None:
            nonlocal counter
            while time.monotonic() < deadline:
                counter += 1
                try:
                    if kind == "balance":
                        await smsc.balance()
                    elif kind == "status":
                        await smsc.status(cfg["message"][0], cfg["message"][1])
                    elif kind == "operator":
                        # The same look-up from everyone: 3 identical requests a minute.
                        await smsc.operator_info("79161234567")
                    elif kind == "cost":
                        await smsc.cost("79161234500", f"p{index} n{counter}")
                except TooManyRequestsError as exc:
                    errors.append(f"{kind}: error 9: {exc}")
                    continue
                except Exception as exc:
                    errors.append(f"{kind}: {type(exc).__name__}: {exc}")
                    continue
                answers.setdefault(kind, []).append(time.monotonic())

        async with anyio.create_task_group() as tg:
            for kind, count in cfg["tasks"].items():
                for _ in range(count):
                    tg.start_soon(loop, kind)
    return {"answers": answers, "errors": errors}


async def _hold(cfg: dict[str, Any]) -> None:
    # Take ``hold`` concurrency places and keep them until killed.
    async with _backend(cfg) as backend:
        limiter = Limiter(RateLimits(concurrency=cfg["cap"]), backend=backend)
        leases = [limiter.slot("/sys/info.php", {}) for _ in range(cfg["hold"])]
        for lease in leases:
            await lease.__aenter__()
        print("held", flush=True)
        await anyio.sleep(3600)


def _skew_clocks(seconds: float) -> None:
    # This "host" has its wall clock off by ``seconds``.
    real, real_ns = time.time, time.time_ns
    time.time = lambda: real() + seconds  # type: ignore[assignment]
    time.time_ns = lambda: real_ns() + int(seconds * 1e9)  # type: ignore[assignment]


def _worker_main(cfg: dict[str, Any]) -> None:
    job = _hold if cfg["mode"] == "hold" else _work
    skew = cfg.get("skew", 0.0)
    _skew_clocks(skew)
    if cfg.get("trio"):
        result = anyio.run(job, cfg, backend="trio")
    else:
        loop = asyncio.new_event_loop()
        # And its event loop's clock starts somewhere else: only its rate matters.
        base = loop.time
        loop.time = lambda: base() + skew  # type: ignore[method-assign]
        try:
            result = loop.run_until_complete(job(cfg))
        finally:
            loop.close()
    print(json.dumps(result), flush=True)


# -- the parent ---------------------------------------------------------------------------------


def spawn(cfg: dict[str, Any]) -> subprocess.Popen[str]:
    """Start one worker with ``cfg``; its stdin and stdout are pipes to this process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests._processes", json.dumps(cfg)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def reap(proc: subprocess.Popen[str]) -> None:
    """Kill ``proc`` if it still runs, wait for it and close its pipes."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()


def expect(proc: subprocess.Popen[str], word: str) -> None:
    """Read the worker's next line; it must be ``word``."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != word:
        proc.kill()
        raise AssertionError(f"worker said {line!r} instead of {word!r}")


def run_workers(cfgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Start a worker per config, let them go at one instant, and return what each saw."""
    procs = [spawn(cfg) for cfg in cfgs]
    try:
        for proc in procs:
            expect(proc, "ready")
        start_at = time.monotonic() + 0.2
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(f"go {start_at}\n")
            proc.stdin.flush()
        results = []
        for proc in procs:
            out, _ = proc.communicate(timeout=SPAWN_TIMEOUT)
            assert proc.returncode == 0, out
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for proc in procs:
            reap(proc)


def work(index: int, url: str, *, duration: float, **extra: Any) -> dict[str, Any]:
    """A ``work`` worker's config; ``extra`` names its store (``redis=`` or ``path=``), tasks…"""
    return {
        "mode": "work", "index": index, "url": url, "scale": SCALE, "duration": duration, **extra
    }  # fmt: skip


def usage(times: list[float], limit: int, window: float) -> float:
    """The share of a rule's allowance the requests used: 1.0 is every slot, reused on time.

    A rule of ``limit`` per ``window`` lets request ``i + limit`` go one window after request
    ``i``; the usage is that window over the mean time the requests actually took to reuse a
    slot. Unlike a count over a fixed span, it does not depend on where the run was cut.
    """
    times = sorted(times)
    gaps = [later - earlier for earlier, later in zip(times, times[limit:], strict=False)]
    assert gaps, "too few requests to measure"
    return window / (sum(gaps) / len(gaps))


@contextmanager
def serve_tcp(emulator: Emulator) -> Iterator[str]:
    """Like :func:`smsc_async.testing.serve`, on a listening socket made with IPPROTO_TCP.

    asyncio sets TCP_NODELAY only on sockets whose ``proto`` says TCP, and accepted sockets
    inherit the listener's: with ``proto=0`` every answer stalls ~40 ms on a delayed ACK, which
    would show here as 7 % of every 1.2 s window lost to the network.
    """
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    server = uvicorn.Server(make_config(emulator))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10.0
        while not server.started:
            assert thread.is_alive(), "emulator failed"
            assert time.monotonic() < deadline, "emulator did not start"
            time.sleep(0.005)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10.0)
        sock.close()


def message(url: str, limits: RateLimits) -> list[str]:
    """Send one message (the target of the status rule): its id and phone."""

    async def send() -> list[str]:
        async with Session(login="demo", password="demo", base_url=url, limits=limits) as smsc:
            sent = await smsc.send("79161234567", "status target")
            return [str(sent.id), "79161234567"]

    return anyio.run(send)


# Fixtures: import them into the test module (``from tests._processes import limits, served``).


@pytest.fixture
def limits() -> RateLimits:
    return RateLimits().scaled(SCALE)


@pytest.fixture
def served(limits: RateLimits) -> Iterator[tuple[Emulator, str]]:
    emulator = Emulator(limits=limits, delivery_delay=0.05)
    with serve_tcp(emulator) as url:
        yield emulator, url


if __name__ == "__main__":
    _worker_main(json.loads(sys.argv[1]))
