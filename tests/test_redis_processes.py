"""Several real processes share one login through Redis against the strict emulator.

Each worker is this module run as a script (``python -m tests.test_redis_processes CONFIG``): it
opens its own :class:`~smsc_async.Session` with its own :class:`~smsc_async.redis.RedisBackend`
to the emulator served on a loopback port by this (the pytest) process, waits for the word
"go" on stdin so all start together, hammers the gateway, and prints what it saw as JSON.
Times are ``time.monotonic()``, one clock for every process of the machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from smsc_async import RateLimits, Session, TooManyRequestsError
from smsc_async._backend import Demand, Reservation
from smsc_async._limiter import Limiter
from smsc_async.redis import RedisBackend
from smsc_async.testing import Emulator, Fault
from smsc_async.testing._server import make_config
from tests.redis_server import redis_server, redis_url  # noqa: F401

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parent.parent
# One-minute rules last 1.2 s: what a busy 2-core machine adds to each request (the client
# counts a request from its answer) stays a small share of the window.
SCALE = 0.02
SPAWN_TIMEOUT = 30.0

# -- the worker ---------------------------------------------------------------------------------


async def _work(cfg: dict[str, Any]) -> dict[str, Any]:
    limits = RateLimits().scaled(cfg["scale"])
    answers: dict[str, list[float]] = {}
    errors: list[str] = []
    index = cfg["index"]
    counter = 0
    async with (
        RedisBackend.from_url(cfg["redis"], lease_ttl=10.0) as backend,
        Session(
            login="demo",
            password="demo",
            base_url=cfg["url"],
            limits=limits,
            backend=backend,
            retry=None,
        ) as smsc,
    ):
        # Connect to Redis before the start (a decision that takes nothing, on no rule's key).
        await backend.wait_time((Demand("warm-up", 1, 1.0),))
        print("ready", flush=True)
        go = await _read_line()
        start_at = float(go.split()[1])
        await _sleep_until(start_at)
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

        import anyio

        async with anyio.create_task_group() as tg:
            for kind, count in cfg["tasks"].items():
                for _ in range(count):
                    tg.start_soon(loop, kind)
    return {"answers": answers, "errors": errors}


async def _hold(cfg: dict[str, Any]) -> None:
    # Take ``hold`` concurrency slots and keep them until killed.
    limits = RateLimits(concurrency=cfg["cap"])
    async with RedisBackend.from_url(cfg["redis"], lease_ttl=cfg["lease_ttl"]) as root:
        backend = root.bind(cfg["namespace"])
        limiter = Limiter(limits, backend=backend)
        leases = [limiter.slot("/sys/info.php", {}) for _ in range(cfg["hold"])]
        for lease in leases:
            await lease.__aenter__()
        print("held", flush=True)
        await asyncio.sleep(3600)


async def _read_line() -> str:
    import anyio

    return await anyio.to_thread.run_sync(sys.stdin.readline)


async def _sleep_until(at: float) -> None:
    import anyio

    await anyio.sleep(max(0.0, at - time.monotonic()))


def _skew_clocks(seconds: float) -> None:
    # This "host" has its wall clock off by ``seconds``.
    real, real_ns = time.time, time.time_ns
    time.time = lambda: real() + seconds  # type: ignore[assignment]
    time.time_ns = lambda: real_ns() + int(seconds * 1e9)  # type: ignore[assignment]


def _worker_main(cfg: dict[str, Any]) -> None:
    _skew_clocks(cfg.get("skew", 0.0))
    if cfg["mode"] == "hold":
        asyncio.run(_hold(cfg))
        return
    if cfg.get("trio"):
        import trio

        result = trio.run(_work, cfg)
    else:
        loop = asyncio.new_event_loop()
        # And its event loop's clock starts somewhere else: only its rate matters.
        base = loop.time
        loop.time = lambda: base() + cfg.get("skew", 0.0)  # type: ignore[method-assign]
        try:
            result = loop.run_until_complete(_work(cfg))
        finally:
            loop.close()
    print(json.dumps(result), flush=True)


# -- the parent ---------------------------------------------------------------------------------


def _spawn(cfg: dict[str, Any]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.test_redis_processes", json.dumps(cfg)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def _reap(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()


def _expect(proc: subprocess.Popen[str], word: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != word:
        proc.kill()
        raise AssertionError(f"worker said {line!r} instead of {word!r}")


def _run_workers(cfgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    procs = [_spawn(cfg) for cfg in cfgs]
    try:
        for proc in procs:
            _expect(proc, "ready")
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
            _reap(proc)


def _usage(times: list[float], limit: int, window: float) -> float:
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
def _serve(emulator: Emulator) -> Iterator[str]:
    """Like :func:`smsc_async.testing.serve`, on a listening socket made with IPPROTO_TCP.

    asyncio sets TCP_NODELAY only on sockets whose ``proto`` says TCP, and accepted sockets
    inherit the listener's: with ``proto=0`` every answer stalls ~40 ms on a delayed ACK, which
    would show here as 7 % of every 0.6 s window lost to the network.
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


@pytest.fixture
def limits() -> RateLimits:
    return RateLimits().scaled(SCALE)


@pytest.fixture
def served(limits: RateLimits) -> Iterator[tuple[Emulator, str]]:
    emulator = Emulator(limits=limits, delivery_delay=0.05)
    with _serve(emulator) as url:
        yield emulator, url


def _message(url: str, limits: RateLimits) -> list[str]:
    import anyio

    async def send() -> list[str]:
        async with Session(login="demo", password="demo", base_url=url, limits=limits) as smsc:
            sent = await smsc.send("79161234567", "status target")
            return [str(sent.id), "79161234567"]

    return anyio.run(send)


def _config(index: int, url: str, redis: str, **extra: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "mode": "work",
        "index": index,
        "url": url,
        "redis": redis,
        "scale": SCALE,
        "duration": 5.0,
    }
    cfg.update(extra)
    return cfg


def test_four_processes_share_the_rules(
    served: tuple[Emulator, str],
    redis_url: str,  # noqa: F811
    limits: RateLimits,
) -> None:
    emulator, url = served
    message = _message(url, limits)
    # One rule of each scope: the login's balance, one message's status, one identical look-up.
    tasks = {"balance": 2, "status": 2, "operator": 2}
    results = _run_workers(
        [_config(i, url, redis_url, message=message, tasks=tasks, trio=(i == 3)) for i in range(4)]
    )
    errors = [e for r in results for e in r["errors"]]
    assert errors == []
    assert emulator.stats.errors[9] == 0
    rules = {
        "balance": limits.balance,
        "status": limits.status_message,
        "operator": limits.operator_identical,
    }
    for kind, rule in rules.items():
        times = [t for r in results for t in r["answers"].get(kind, [])]
        # Every process took part.
        assert all(r["answers"].get(kind) for r in results), kind
        # Never more than the rule allows in any window (how close to it depends on the load).
        used = _usage(times, rule.limit, rule.window)
        assert used <= 1.0 + 1e-9, (kind, used)


def test_four_processes_share_the_concurrency_cap(
    served: tuple[Emulator, str],
    redis_url: str,  # noqa: F811
    limits: RateLimits,
) -> None:
    emulator, url = served
    # Every send-path request stays in flight 0.1 s: 4 x 6 workers want 24 places of 14.
    emulator.inject(Fault(kind="delay", path="/sys/send.php", seconds=0.1, times=None))
    results = _run_workers(
        [_config(i, url, redis_url, tasks={"cost": 6}, duration=1.5) for i in range(4)]
    )
    errors = [e for r in results for e in r["errors"]]
    assert errors == []
    assert emulator.stats.errors[9] == 0
    # 24 workers want the 14 places all along: they fill them, and never one more.
    assert emulator.stats.max_in_flight["demo"] == limits.concurrency
    assert all(r["answers"]["cost"] for r in results)


def test_skewed_host_clocks_do_not_matter(
    served: tuple[Emulator, str],
    redis_url: str,  # noqa: F811
    limits: RateLimits,
) -> None:
    emulator, url = served
    message = _message(url, limits)
    skews = [3600.0, -3600.0, 86_400.0 * 365]
    results = _run_workers(
        [
            _config(
                i,
                url,
                redis_url,
                message=message,
                tasks={"balance": 2, "status": 2},
                skew=skew,
                duration=3.0,
            )
            for i, skew in enumerate(skews)
        ]
    )
    assert [e for r in results for e in r["errors"]] == []
    assert emulator.stats.errors[9] == 0
    for kind, rule in (("balance", limits.balance), ("status", limits.status_message)):
        times = [t for r in results for t in r["answers"][kind]]
        assert _usage(times, rule.limit, rule.window) <= 1.0 + 1e-9, kind


def test_killed_process_does_not_leak_its_leases(redis_url: str) -> None:  # noqa: F811
    import anyio

    # Renewed every 0.5 s: a holder stalled 1.5 s would lose its places while alive.
    lease_ttl, cap, hold = 2.0, 14, 10
    namespace = "killed"
    proc = _spawn(
        {
            "mode": "hold",
            "redis": redis_url,
            "namespace": namespace,
            "lease_ttl": lease_ttl,
            "cap": cap,
            "hold": hold,
        }
    )
    admin = _admin(redis_url)
    try:
        _expect(proc, "held")
        # Alive, it renews its leases: two lease lengths later they are still taken.
        time.sleep(2 * lease_ttl)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        seconds, micros = admin.time()
        killed_at = seconds * 1_000_000 + micros
    finally:
        _reap(proc)

    async def check() -> int:
        async with RedisBackend.from_url(redis_url, lease_ttl=lease_ttl) as root:
            backend = root.bind(namespace)
            limiter = Limiter(RateLimits(concurrency=cap), backend=backend)
            demands, _, _ = limiter._demands("/sys/info.php", {})
            # The dead process's places are still taken: 4 are free, not 14.
            mine = []
            for _ in range(cap - hold):
                got = await backend.acquire(demands)
                assert isinstance(got, Reservation)
                mine.append(got)
            assert isinstance(await backend.acquire(demands), float)
            for got in mine:
                await backend.release(got, sent=True)
            # Its last heartbeat came before it died: no lease lasts past one lease_ttl after.
            scores = [
                s for _, s in admin.zrange(backend.key("*concurrency"), 0, -1, withscores=True)
            ]
            assert len(scores) == hold
            assert max(scores) <= killed_at + lease_ttl * 1_000_000
            # ...then all 14 at once.
            give_up = time.monotonic() + lease_ttl + 30.0
            while True:
                assert time.monotonic() < give_up, "the dead process's leases never ran out"
                taken = [await backend.acquire(demands) for _ in range(cap)]
                ok = [t for t in taken if isinstance(t, Reservation)]
                for got in ok:
                    await backend.release(got, sent=True)
                if len(ok) == cap:
                    return int(max(scores))
                await anyio.sleep(0.02)

    anyio.run(check)
    # Nothing left behind: what remains counts no more and goes by itself.
    seconds, micros = admin.time()
    now = seconds * 1_000_000 + micros
    for key in _all_keys(admin):
        assert admin.zcount(key, f"({now}", "+inf") == 0, key
        assert 0 < admin.pttl(key) <= (2 * lease_ttl + 1.0) * 1000, key
    admin.close()


def _admin(url: str) -> Any:
    """A synchronous client for looking into Redis (the cluster client on a cluster)."""
    import redis

    with redis.Redis.from_url(url) as probe:
        if probe.info("cluster").get("cluster_enabled") == 1:
            return redis.RedisCluster.from_url(url)
    return redis.Redis.from_url(url)


def _all_keys(client: Any) -> list[str]:
    from tests.redis_server import all_keys

    return all_keys(client)


if __name__ == "__main__":
    _worker_main(json.loads(sys.argv[1]))
