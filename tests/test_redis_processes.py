"""Several real processes share one login through Redis against the strict emulator.

The workers are ``tests/_processes.py`` run as scripts, each with its own
:class:`~smsc_async.Session` and :class:`~smsc_async.redis.RedisBackend`; ``test_redis_cluster.py``
runs these tests again on a Redis Cluster.
"""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from smsc_async import RateLimits
from smsc_async._backend import Reservation
from smsc_async._limiter import Limiter
from smsc_async.redis import RedisBackend
from smsc_async.testing import Emulator, Fault
from tests._processes import expect, limits, message, reap, run_workers, served, spawn, usage, work
from tests.redis_server import redis_server, redis_url  # noqa: F401

__all__ = ["limits", "served"]  # fixtures, imported by test_redis_cluster.py too

pytestmark = pytest.mark.redis


def test_four_processes_share_the_rules(
    served: tuple[Emulator, str],
    redis_url: str,  # noqa: F811
    limits: RateLimits,
) -> None:
    emulator, url = served
    target = message(url, limits)
    # One rule of each scope: the login's balance, one message's status, one identical look-up.
    # Each is full all along (a task more than it allows per request's answer time); more tasks
    # would queue for whole windows after the end.
    tasks = {"balance": 2, "status": 1, "operator": 1}
    results = run_workers(
        [
            work(i, url, redis=redis_url, duration=4.0, message=target, tasks=tasks, trio=i == 3)
            for i in range(4)
        ]
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
        used = usage(times, rule.limit, rule.window)
        assert used <= 1.0 + 1e-9, (kind, used)


def test_four_processes_share_the_concurrency_cap(
    served: tuple[Emulator, str],
    redis_url: str,  # noqa: F811
    limits: RateLimits,
) -> None:
    emulator, url = served
    # Every send-path request stays in flight 0.1 s: 4 x 6 workers want 24 places of 14.
    emulator.inject(Fault(kind="delay", path="/sys/send.php", seconds=0.1, times=None))
    results = run_workers(
        [work(i, url, redis=redis_url, duration=1.0, tasks={"cost": 6}) for i in range(4)]
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
    target = message(url, limits)
    skews = [3600.0, -3600.0, 86_400.0 * 365]
    tasks = {"balance": 2, "status": 1}
    results = run_workers(
        [
            work(i, url, redis=redis_url, duration=2.5, message=target, tasks=tasks, skew=skew)
            for i, skew in enumerate(skews)
        ]
    )
    assert [e for r in results for e in r["errors"]] == []
    assert emulator.stats.errors[9] == 0
    for kind, rule in (("balance", limits.balance), ("status", limits.status_message)):
        times = [t for r in results for t in r["answers"][kind]]
        assert usage(times, rule.limit, rule.window) <= 1.0 + 1e-9, kind


def test_killed_process_does_not_leak_its_leases(redis_url: str) -> None:  # noqa: F811
    import anyio

    # That a live holder's heartbeats keep its places is test_redis_backend.py's
    # test_a_live_holder_keeps_its_places_past_the_lease; here the holder dies.
    lease_ttl, cap, hold = 2.0, 14, 10
    namespace = "killed"
    proc = spawn(
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
        expect(proc, "held")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        seconds, micros = admin.time()
        killed_at = seconds * 1_000_000 + micros
    finally:
        reap(proc)

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
            # (The cap's sentinel, b"" at -inf, is no place.)
            scores = [
                s
                for m, s in admin.zrange(backend.key("*concurrency"), 0, -1, withscores=True)
                if m != b""
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
