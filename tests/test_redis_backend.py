"""The Redis backend in one process: the same decisions as the memory backend, on Redis's clock.

Runs against a real ``redis-server`` started on a free loopback port (``tests/redis_server.py``);
skips with the reason when none can be started. Every async test runs on asyncio and on trio
(trio goes through redis-py's synchronous client in worker threads).
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.cluster import key_slot

from smsc_async import RateLimits, Session
from smsc_async._backend import Demand, MemoryBackend, Reservation, current_time
from smsc_async._errors import LimiterUnavailableError
from smsc_async._limiter import Limiter
from smsc_async.redis import RedisBackend
from smsc_async.testing import Emulator
from tests.redis_server import all_keys, redis_server, redis_url  # noqa: F401

pytestmark = pytest.mark.redis

W = 0.3  # seconds: a rule window long enough to tell a wait from scheduling noise
# Bounded, not timed: a hung or absent Redis holds a caller a few timeouts at most (connect,
# then read), far from forever; a busy machine adds its own delays.
BOUND = 10.0

BALANCE = Demand("balance:balance", 3, W)
CAP = Demand("*concurrency", 2, 0.0)


@pytest.fixture
async def backend(redis_url: str) -> AsyncIterator[RedisBackend]:  # noqa: F811
    async with RedisBackend.from_url(redis_url, lease_ttl=5.0, poll_interval=0.005) as b:
        yield b.bind(uuid.uuid4().hex)


@pytest.fixture
def sync_redis(redis_url: str) -> Iterator[redis.Redis]:  # noqa: F811
    with redis.Redis.from_url(redis_url) as client:
        yield client


def _scores(client: redis.Redis, key: str) -> list[float]:
    return [s for _, s in client.zrange(key, 0, -1, withscores=True)]


def _entries(client: redis.Redis, key: str) -> list[tuple[bytes, float]]:
    """A log's entries (member, score), checking that a cap's sentinel is what it must be.

    A concurrency cap keeps one member ``b""`` at ``-inf`` (never counted, never swept), so
    that releasing its last entry leaves the key and its expiry in place.
    """
    found = client.zrange(key, 0, -1, withscores=True)
    sentinels = [(m, s) for m, s in found if m == b""]
    assert sentinels in ([], [(b"", -math.inf)]), sentinels
    return [(m, s) for m, s in found if m != b""]


# -- decisions ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_limit_then_exact_wait(backend: RedisBackend) -> None:
    demands = (BALANCE, CAP)
    answered = []
    for _ in range(3):
        got = await backend.acquire(demands)
        assert isinstance(got, Reservation)
        await backend.release(got, sent=True)
        answered.append(current_time())
    wait = await backend.acquire(demands)
    assert isinstance(wait, float)
    # The first answer counts until one window after it (server clock, same machine).
    assert 0 < wait <= W
    assert 0 < await backend.wait_time(demands) <= wait
    # Waiting what it said is enough, exactly: no second wait.
    await anyio.sleep(wait)
    got = await backend.acquire(demands)
    assert isinstance(got, Reservation)
    await backend.release(got, sent=False)


@pytest.mark.anyio
async def test_unsent_frees_and_in_flight_counts(backend: RedisBackend) -> None:
    demands = (BALANCE, CAP)
    first = await backend.acquire(demands)
    assert isinstance(first, Reservation)
    await backend.release(first, sent=False)
    held = [await backend.acquire(demands) for _ in range(2)]
    assert all(isinstance(r, Reservation) for r in held)
    # The cap (2) is full of requests in flight: look again within the poll interval.
    wait = await backend.acquire(demands)
    assert wait == pytest.approx(0.005)
    for r in held:
        assert isinstance(r, Reservation)
        await backend.release(r, sent=True)
    third = await backend.acquire(demands)
    assert isinstance(third, Reservation)
    # The rule (3) now holds 2 answered + 1 in flight: the next one waits for the oldest answer.
    wait = await backend.acquire((BALANCE,))
    assert isinstance(wait, float)
    assert 0 < wait <= W
    await backend.release(third, sent=True)


@pytest.mark.anyio
async def test_ahead_claims_keep_room_for_earlier_waiters(backend: RedisBackend) -> None:
    got = await backend.acquire((BALANCE,))
    assert isinstance(got, Reservation)
    await backend.release(got, sent=True)
    # Two slots left: with two earlier claims none is ours; with three claims we wait for one
    # of the claimants (a release of this process), which only the limiter can see.
    assert await backend.wait_time((BALANCE,), (1,)) == 0.0
    wait = await backend.wait_time((BALANCE,), (2,))
    assert 0 < wait <= W
    assert await backend.wait_time((BALANCE,), (3,)) == math.inf
    assert isinstance(await backend.acquire((BALANCE,), (2,)), float)


@pytest.mark.anyio
async def test_refusal_takes_nothing(backend: RedisBackend, sync_redis: redis.Redis) -> None:
    other = Demand("stat_any:stat", 1, W)
    got = await backend.acquire((other,))
    assert isinstance(got, Reservation)
    # Refused on ``other``: the balance log must not keep an entry either.
    assert isinstance(await backend.acquire((BALANCE, other)), float)
    assert sync_redis.zcard(backend.key(BALANCE.key)) == 0
    await backend.release(got, sent=False)


@pytest.mark.anyio
async def test_hold_keeps_the_places_and_counts_the_rules(
    backend: RedisBackend, sync_redis: redis.Redis
) -> None:
    cap = Demand("*concurrency", 1, 0.0)
    rule = Demand("stat_any:stat", 2, W)
    got = await backend.acquire((rule, cap))
    assert isinstance(got, Reservation)
    hold = 0.5
    # Cancelled while the gateway may still be working on it: the place stays taken for
    # ``hold`` seconds, the rule's entry counts from now as if answered.
    await backend.release(got, sent=False, hold=hold)
    [(_, cap_until)] = _entries(sync_redis, backend.key(cap.key))
    [(_, rule_until)] = _entries(sync_redis, backend.key(rule.key))
    assert cap_until - rule_until == round((hold - W) * 1_000_000)  # one clock reading
    assert isinstance(await backend.acquire((cap,)), float)
    got = await backend.acquire((cap,))
    while not isinstance(got, Reservation):
        await anyio.sleep(0.01)
        got = await backend.acquire((cap,))
    seconds, micros = sync_redis.time()
    assert seconds * 1_000_000 + micros >= cap_until
    await backend.release(got, sent=False, hold=0.0)
    # Nothing counts any more (the held entry that ran out is swept later).
    seconds, micros = sync_redis.time()
    assert sync_redis.zcount(backend.key(cap.key), f"({seconds * 1_000_000 + micros}", "+inf") == 0


@pytest.mark.anyio
async def test_a_repeated_key_takes_a_slot_per_occurrence(
    backend: RedisBackend, sync_redis: redis.Redis
) -> None:
    pair = Demand("status_message:1|79161234567", 3, W)
    key = backend.key(pair.key)
    got = await backend.acquire((pair, pair, pair, CAP))
    assert isinstance(got, Reservation)
    assert sync_redis.zcard(key) == 3
    assert isinstance(await backend.acquire((pair,)), float)  # all three slots are taken
    await backend.release(got, sent=False)
    assert sync_redis.zcard(key) == 0
    # Four occurrences of a rule of three can never fit.
    assert await backend.acquire((pair,) * 4) == math.inf
    assert await backend.wait_time((pair,) * 4) == math.inf
    two = await backend.acquire((pair, pair))
    assert isinstance(two, Reservation)
    assert await backend.wait_time((pair,)) == 0.0
    assert isinstance(await backend.acquire((pair, pair)), float)
    await backend.release(two, sent=True)
    assert sync_redis.zcard(key) == 2  # both answered entries count a window


def _run_ops(ops: list[tuple[str, int]], url: str) -> None:
    """Apply ``ops`` to a memory and a Redis backend; their decisions must agree."""
    demands = [
        (Demand("a:x", 2, 1000.0), Demand("*c", 3, 0.0)),
        (Demand("b:y", 1, 1000.0), Demand("a:x", 2, 1000.0), Demand("*c", 3, 0.0)),
        (Demand("*c", 3, 0.0),),
    ]

    async def main() -> None:
        memory = MemoryBackend()
        async with RedisBackend.from_url(url, lease_ttl=100.0) as root:
            shared = root.bind(uuid.uuid4().hex)
            held: list[tuple[Reservation, Reservation]] = []
            for op, arg in ops:
                if op == "acquire":
                    which = demands[arg % len(demands)]
                    mine = memory.try_acquire(which)
                    theirs = await shared.acquire(which)
                    assert isinstance(mine, Reservation) == isinstance(theirs, Reservation)
                    if isinstance(mine, Reservation) and isinstance(theirs, Reservation):
                        held.append((mine, theirs))
                    elif isinstance(mine, float) and mine < math.inf:
                        # Held by answered entries: both know when (clocks a moment apart).
                        assert theirs == pytest.approx(mine, abs=1.0)
                    else:
                        # Held by entries in flight: memory waits for the release; Redis
                        # cannot see other processes' releases and bounds the wait (a cap:
                        # the poll; a rule: one window, since the answer is still to come).
                        assert isinstance(theirs, float)
                        assert 0 < theirs <= 1000.0
                elif held:
                    mine, theirs = held.pop(arg % len(held))
                    sent = op == "sent"
                    memory.release_now(mine, sent=sent)
                    await shared.release(theirs, sent=sent)

    anyio.run(main)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=st.lists(
        st.tuples(st.sampled_from(["acquire", "acquire", "sent", "unsent"]), st.integers(0, 50)),
        max_size=30,
    )
)
def test_same_decisions_as_the_memory_backend(
    ops: list[tuple[str, int]],
    redis_url: str,  # noqa: F811
) -> None:
    _run_ops(ops, redis_url)


# -- clients ---------------------------------------------------------------------------------


async def _round(backend: RedisBackend) -> None:
    got = await backend.acquire((BALANCE, CAP))
    assert isinstance(got, Reservation)
    await backend.release(got, sent=True)
    assert isinstance(await backend.acquire((Demand("jobs:x", 1, W),)), Reservation)
    assert isinstance(await backend.acquire((Demand("jobs:x", 1, W),)), float)


@pytest.mark.anyio
async def test_a_synchronous_client_passed_in(redis_url: str) -> None:  # noqa: F811
    # The way to share limits under trio with a client of one's own: used from worker threads.
    with redis.Redis.from_url(redis_url, socket_timeout=1.0) as client:
        async with RedisBackend(client) as root:
            await _round(root.bind("sync-client"))
        assert client.ping()  # not ours to close


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_an_asyncio_client_passed_in(redis_url: str, sync_redis: redis.Redis) -> None:  # noqa: F811
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        async with RedisBackend(client) as root:
            await _round(root.bind("asyncio-client"))
        # Through the client's own pool; not ours to close.
        assert await client.ping()
    finally:
        await client.aclose()


@pytest.mark.anyio
async def test_scripts_come_back_after_a_script_flush(
    backend: RedisBackend, sync_redis: redis.Redis
) -> None:
    await _round(backend.bind("before"))
    sync_redis.script_flush()
    await _round(backend.bind("after"))


# -- keys, leases, expiry ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_keys_share_one_slot_per_login_and_expire(
    redis_url: str,  # noqa: F811
    sync_redis: redis.Redis,
) -> None:
    lease = 0.2
    async with RedisBackend.from_url(redis_url, lease_ttl=lease) as root:
        backend = root.bind("abc123")
        demands = (BALANCE, Demand("send_identical:/sys/send.php&mes=hi", 1, W), CAP)
        got = await backend.acquire(demands)
        assert isinstance(got, Reservation)
        keys = sorted(all_keys(sync_redis))
        assert keys == sorted(backend.key(d.key) for d in demands)
        assert all(k.startswith("smsc:{abc123}:v2:") for k in keys)
        assert len({key_slot(k.encode()) for k in keys}) == 1
        for key in keys:
            # No key outlives its last entry by more than a lease (the slack that lets a
            # process push a key's expiry only every lease / 2).
            assert 0 < sync_redis.pttl(key) <= (2 * lease + W) * 1000 + 2
        await backend.release(got, sent=True)
        # The cap's entry is gone at once; the cap keeps its sentinel (and its expiry).
        assert sync_redis.zrange(backend.key(CAP.key), 0, -1, withscores=True) == [(b"", -math.inf)]
        # The rest go by themselves (Redis's own clock; sleeping longer changes nothing).
        await anyio.sleep(2 * lease + W + 0.05)
        assert all_keys(sync_redis) == []


@pytest.mark.anyio
async def test_abandoned_leases_run_out(redis_url: str) -> None:  # noqa: F811
    lease = 0.5
    rule = Demand("stat_any:stat", 1, W)
    # Taken and never released by a holder that then goes (its heartbeats stop with it).
    async with RedisBackend.from_url(redis_url, lease_ttl=lease) as root:
        holder = root.bind("dead")
        taken = current_time()
        assert isinstance(await holder.acquire((CAP,)), Reservation)
        assert isinstance(await holder.acquire((CAP,)), Reservation)
        assert isinstance(await holder.acquire((rule,)), Reservation)
    async with RedisBackend.from_url(redis_url, lease_ttl=lease, poll_interval=0.01) as root:
        backend = root.bind("dead")
        wait = await backend.acquire((CAP,))
        if isinstance(wait, Reservation):
            # Only a machine too busy to look before the leases ended gets here: then they had.
            assert current_time() - taken >= lease
            await backend.release(wait, sent=True)
        else:
            assert wait <= 0.01
        # The cap comes back when the leases end (polled: no release will ever announce it)...
        got = await backend.acquire((CAP,))
        while not isinstance(got, Reservation):
            await anyio.sleep(0.01)
            got = await backend.acquire((CAP,))
        assert current_time() - taken >= lease
        await backend.release(got, sent=True)
        # ...a rule's entry counts one window more, as if answered at the lease's end.
        wait = await backend.acquire((rule,))
        if isinstance(wait, Reservation):
            # Looked too late (a busy machine): the entry must then have aged out for real.
            assert current_time() - taken >= lease + W
        else:
            assert 0 < wait <= W


@pytest.mark.anyio
async def test_a_live_holder_keeps_its_places_past_the_lease(redis_url: str) -> None:  # noqa: F811
    lease = 1.2  # renewed every 0.3 s: a loop stalled 0.9 s would lose it
    async with RedisBackend.from_url(redis_url, lease_ttl=lease) as root:
        backend = root.bind(uuid.uuid4().hex)
        cap = Demand("*concurrency", 1, 0.0)
        rule = Demand("stat_any:stat", 1, W)
        got = await backend.acquire((rule, cap))
        assert isinstance(got, Reservation)
        # Several leases long, in flight all along: the heartbeats keep both places taken.
        for _ in range(6):
            await anyio.sleep(lease / 2)
            assert isinstance(await backend.acquire((cap,)), float)
            assert isinstance(await backend.acquire((rule,)), float)
        await backend.release(got, sent=False)
        again = await backend.acquire((rule, cap))
        assert isinstance(again, Reservation)
        await backend.release(again, sent=False)


@pytest.mark.anyio
async def test_decisions_ignore_the_host_clock(
    backend: RedisBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A host whose wall clock is a day off: the windows are on the Redis server's clock.
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 86_400.0)
    monkeypatch.setattr(time, "time_ns", lambda: int((real() + 86_400.0) * 1e9))
    got = await backend.acquire((Demand("stat_any:stat", 1, W),))
    assert isinstance(got, Reservation)
    await backend.release(got, sent=True)
    wait = await backend.acquire((Demand("stat_any:stat", 1, W),))
    assert isinstance(wait, float)
    assert 0 < wait <= W  # a day off would make it 0 or a day


def test_bind_and_settings_are_checked(redis_url: str) -> None:  # noqa: F811
    backend = RedisBackend.from_url(redis_url)
    assert backend.namespace == "default"
    view = backend.bind("f00")
    assert view.namespace == "f00"
    # The layout's version follows the namespace: another layout never shares our keys.
    assert view.key("balance:balance").startswith("smsc:{f00}:v2:balance:")
    assert backend.key("balance:balance").startswith("smsc:{default}:v2:balance:")
    assert view.key("*concurrency") == "smsc:{f00}:v2:*concurrency"
    # The MAC key decides the hashed part: same key, same Redis key; another key, another.
    secret = bytes(range(32))
    assert backend.bind("f00", key=secret).key("a:b") == backend.bind("f00", key=secret).key("a:b")
    assert backend.bind("f00", key=secret).key("a:b") != view.key("a:b")
    with pytest.raises(ValueError, match="key"):
        backend.bind("f00", key=b"short")
    with pytest.raises(ValueError, match="heartbeat"):
        RedisBackend.from_url(redis_url, lease_ttl=1.0, heartbeat=1.0)
    with pytest.raises(TypeError, match="lease_ttl"):
        RedisBackend.from_url(redis_url, lease_ttl="5")  # type: ignore[arg-type]
    for bad in ("", "a{b", "c}"):
        with pytest.raises(ValueError, match="namespace"):
            backend.bind(bad)
    with pytest.raises(ValueError, match="redis://") as bad:
        RedisBackend.from_url("http://user:s3cret@nowhere")
    assert "s3cret" not in str(bad.value)
    with pytest.raises(ValueError, match="prefix"):
        RedisBackend.from_url(redis_url, prefix="x{y}")
    with pytest.raises(ValueError, match="lease_ttl"):
        RedisBackend.from_url(redis_url, lease_ttl=0)
    with pytest.raises(ValueError, match="timeout"):
        RedisBackend.from_url(redis_url, timeout=math.inf)


# -- through the limiter and the session -------------------------------------------------------


@pytest.mark.anyio
async def test_two_limiters_share_one_window(backend: RedisBackend) -> None:
    limits = RateLimits().scaled(0.005)  # balance: 10 per 0.3 s
    a = Limiter(limits, backend=backend)
    b = Limiter(limits, backend=backend)
    answered = []
    for i in range(10):
        async with (a if i % 2 else b).slot("/sys/balance.php", {}):
            # Before the release: the answer cannot count from any earlier.
            answered.append(current_time())
    async with a.slot("/sys/balance.php", {}):
        admitted = current_time()
    assert admitted >= answered[0] + limits.balance.window


@pytest.mark.anyio
async def test_concurrency_cap_is_shared(backend: RedisBackend) -> None:
    limits = RateLimits(concurrency=3).scaled(0.005)
    limiters = [Limiter(limits, backend=backend) for _ in range(3)]
    inside = 0
    most = 0

    async def one(limiter: Limiter) -> None:
        nonlocal inside, most
        async with limiter.slot("/sys/info.php", {}):
            inside += 1
            most = max(most, inside)
            await anyio.sleep(0.02)
            inside -= 1

    async with anyio.create_task_group() as tg:
        for i in range(12):
            tg.start_soon(one, limiters[i % 3])
    assert most == 3


@pytest.mark.anyio
async def test_cancelled_waiter_leaves_nothing(
    backend: RedisBackend, sync_redis: redis.Redis
) -> None:
    limits = RateLimits(concurrency=1).scaled(0.005)
    limiter = Limiter(limits, backend=backend)
    async with limiter.slot("/sys/info.php", {}):
        with anyio.move_on_after(0.05):
            async with limiter.slot("/sys/info.php", {}):
                pytest.fail("admitted past a full cap")
    # Nothing counts; at most the tombstone of an acquire cancelled on its way (a negative
    # score: it never counts, and refuses that acquire should it still run).
    left = _scores(sync_redis, backend.key("*concurrency"))
    assert all(score < 0 for score in left), left


@pytest.mark.anyio
async def test_session_binds_a_hash_of_its_login(
    redis_url: str,  # noqa: F811
    sync_redis: redis.Redis,
    live_url: str,
    limits: RateLimits,
    emulator: Emulator,
) -> None:
    async with RedisBackend.from_url(redis_url) as backend:
        sessions = [
            Session(
                login="demo", password="demo", base_url=live_url, limits=limits, backend=backend
            ),
            Session(
                login="demo", password="demo", base_url=live_url, limits=limits, backend=backend
            ),
        ]
        start = current_time()
        for i in range(limits.balance.limit):
            await sessions[i % 2].balance()
        keys = sorted(all_keys(sync_redis))
        assert len(keys) == 2  # the rule's log, and the cap (its sentinel: every place free)
        assert all("demo" not in key for key in keys)
        assert keys[0].endswith(":*concurrency") and ":balance:" in keys[1]
        assert _entries(sync_redis, keys[0]) == []
        # The second session waits for the first one's window (counted from the first answer,
        # which came after ``start``), however long the ten took: no error 9 from the gateway.
        await sessions[1].balance()
        assert current_time() - start >= limits.balance.window
        assert emulator.stats.errors[9] == 0
        async with Session(api_key="demo-key", base_url=live_url, backend=backend) as other:
            await other.balance()
        assert len(all_keys(sync_redis)) == 4  # another identity, another namespace
        for session in sessions:
            await session.aclose()


# -- Redis unreachable -------------------------------------------------------------------------


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback server that accepts connections and never answers (a hung Redis)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    stop = threading.Event()
    accepted: list[socket.socket] = []

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            accepted.append(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.mark.anyio
async def test_unreachable_redis_fails_clearly() -> None:
    async with RedisBackend.from_url(f"redis://127.0.0.1:{_dead_port()}/0", timeout=0.5) as b:
        limiter = Limiter(RateLimits(), backend=b)
        start = current_time()
        with pytest.raises(LimiterUnavailableError, match="Redis did not answer"):
            async with limiter.slot("/sys/balance.php", {}):
                pytest.fail("admitted without the shared limiter")
        assert current_time() - start < BOUND


@pytest.mark.anyio
async def test_hung_redis_times_out(silent_server: str) -> None:
    async with RedisBackend.from_url(silent_server, timeout=0.2) as backend:
        start = current_time()
        with pytest.raises(LimiterUnavailableError):
            await backend.acquire((BALANCE, CAP))
        assert current_time() - start < BOUND


@pytest.mark.anyio
async def test_fallback_to_memory_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    url = f"redis://127.0.0.1:{_dead_port()}/0"
    caplog.set_level(logging.WARNING, logger="smsc_async")
    async with RedisBackend.from_url(url, timeout=0.5, fallback=True, recheck=60.0) as backend:
        limiter = Limiter(RateLimits().scaled(0.005), backend=backend)
        for _ in range(10):
            async with limiter.slot("/sys/balance.php", {}):
                pass
        # The in-memory rules hold: the 11th balance waits for the window.
        start = current_time()
        async with limiter.slot("/sys/balance.php", {}):
            pass
        assert current_time() - start >= 0.3 - 0.02
    warnings = [r for r in caplog.records if "falling back" in r.getMessage()]
    assert len(warnings) == 1


# -- the scripts' own paths ----------------------------------------------------------------------
# Driven through the backend's internals where the public API can only reach them by chance
# (an acquire that arrives after its undo, a client that sends one acquire twice).


def _server_now(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1_000_000 + int(micros)


async def _acquire_as(backend: RedisBackend, demands: tuple[Demand, ...], member: bytes) -> object:
    """Run the acquire the backend would send for ``demands``, with the token ``member``."""
    from smsc_async.redis import _DOUBLE

    plan = backend._plan(demands)
    shared = backend._shared
    blob = _DOUBLE.pack(0) + plan.zero_spec + member
    return await shared.run(plan.acquire_script, plan.head, (blob,))


@pytest.mark.parametrize("ahead", [None, (0, 0)], ids=["shaped", "generic"])
@pytest.mark.anyio
async def test_an_acquire_that_arrives_after_its_undo_is_refused(
    backend: RedisBackend, sync_redis: redis.Redis, ahead: tuple[int, int] | None
) -> None:
    demands = (CAP, BALANCE)
    await backend.wait_time(demands)  # ready: scripts loaded, clock known
    plan = backend._plan(demands)
    member = b"undone:1"
    await backend._undo(plan, member, now=True)
    if ahead is None:
        reply = await _acquire_as(backend, demands, member)
    else:
        # The generic script (what runs when earlier waiters claim slots, or a key is due).
        from smsc_async.redis import _DOUBLE

        blob = _DOUBLE.pack(0) + plan.spec(ahead, [True, True]) + member
        reply = await backend._shared.run(backend._shared.scripts.acquire, plan.head, (blob,))
    assert isinstance(reply, list) and int(reply[0]) == -2
    # Nothing counts; the first log keeps only the tombstone, the others nothing at all.
    now = _server_now(sync_redis)
    cap_key, rule_key = backend.key(CAP.key), backend.key(BALANCE.key)
    [(name, score)] = sync_redis.zrange(cap_key, 0, -1, withscores=True)
    assert name == member and score < -now
    assert sync_redis.zcard(rule_key) == 0
    # The tombstone's key outlives the tombstone, and an entry another process adds to it
    # (2 leases: set at the undo, read a moment later; half a second covers a busy machine).
    ttl_ms = sync_redis.pttl(cap_key)
    assert ttl_ms * 1000 >= -score - _server_now(sync_redis)
    assert ttl_ms >= 2 * backend._lease_us // 1000 - 500
    # And the log still admits everyone else, the tombstone never counting.
    taken = [await backend.acquire((Demand(CAP.key, 2, 0.0),)) for _ in range(3)]
    assert [isinstance(t, Reservation) for t in taken] == [True, True, False]
    for got in taken[:2]:
        assert isinstance(got, Reservation)
        await backend.release(got, sent=False)


@pytest.mark.anyio
async def test_an_acquire_sent_twice_holds_one_entry_per_log(
    backend: RedisBackend, sync_redis: redis.Redis
) -> None:
    # A client that retries a command whose reply it lost (redis-py's cluster client does):
    # the second run finds the token taken and answers admitted, taking nothing more.
    demands = (BALANCE, CAP)
    await backend.wait_time(demands)
    member = b"twice:1"
    first = await _acquire_as(backend, demands, member)
    second = await _acquire_as(backend, demands, member)
    assert isinstance(first, int) and isinstance(second, int)
    for demand in demands:
        assert [m for m, _ in _entries(sync_redis, backend.key(demand.key))] == [member]
    await backend.release(Reservation(demands, member), sent=False)
    # Nothing left but the cap's sentinel.
    assert all_keys(sync_redis) == [backend.key(CAP.key)]
    assert _entries(sync_redis, backend.key(CAP.key)) == []


@pytest.mark.anyio
async def test_a_log_swept_empty_gets_its_expiry_back(
    redis_url: str,  # noqa: F811
    sync_redis: redis.Redis,
) -> None:
    lease = 0.2
    # A window a loaded machine cannot outlast between two calls (0.05 s once let the log age
    # before the check that it is full).
    rule = Demand("stat_any:stat", 2, 0.5)
    async with RedisBackend.from_url(redis_url, lease_ttl=lease) as root:
        backend = root.bind(uuid.uuid4().hex)
        key = backend.key(rule.key)
        for _ in range(2):
            got = await backend.acquire((rule,))
            assert isinstance(got, Reservation)
            await backend.release(got, sent=True)
        # Full of answered entries; once both stopped counting (slept past the second one:
        # longer changes nothing), the acquire sweeps the log empty (the key goes) and takes
        # its entry in a key that must get an expiry again.
        wait = await backend.acquire((rule,))
        assert isinstance(wait, float) and 0 < wait <= rule.window
        await anyio.sleep(rule.window + 0.01)
        got = await backend.acquire((rule,))
        assert isinstance(got, Reservation)
        assert sync_redis.zcard(key) == 1
        assert 0 < sync_redis.pttl(key) <= (2 * lease + rule.window) * 1000 + 2
        await backend.release(got, sent=False)


# -- the straight-line acquire decides as the generic one ----------------------------------------
# Every state a request's logs can be in, within a step of their limits: entries still counting,
# one that stopped counting (swept later) or another token's tombstone, and for a cap its
# sentinel there or missing (a key a held release re-created). The straight-line acquire (what
# runs when nobody waits ahead and nothing is due) and the generic one, each on the same state,
# must admit alike, answer the same wait, leave the same entries counting, and leave no key
# without an expiry.

_SHAPES = {
    "rule+cap": (Demand("stat_any:x", 2, 30.0), Demand("*concurrency", 2, 0.0)),
    "cap": (Demand("*concurrency", 2, 0.0),),
    "rule+caps": (
        Demand("balance:x", 1, 30.0),
        Demand("*status_concurrency", 1, 0.0),
        Demand("*concurrency", 2, 0.0),
    ),
}


def _log_states(demand: Demand, first: bool) -> list[tuple[int, str, bool]]:
    """(entries counting, extra: "" / "old" / "tomb", sentinel) for one log.

    Tombstones live in a request's first log only.
    """
    extras = ["", "old", "tomb"] if first else ["", "old"]
    sentinels = [False, True] if demand.window == 0 else [False]
    return [
        (n, extra, sentinel)
        for n in range(demand.limit + 1)
        for extra in extras
        for sentinel in sentinels
    ]


def _set_state(
    client: redis.Redis, keys: list[str], states: tuple[tuple[int, str, bool], ...], now: int
) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.delete(*keys)
    for i, (key, (n, extra, sentinel)) in enumerate(zip(keys, states, strict=True)):
        members: dict[str, float] = {f"live:{i}:{j}": now + 10_000_000 for j in range(n)}
        if extra == "old":
            members["old"] = now - 1_000_000
        elif extra == "tomb":
            members["tomb"] = -(now + 10_000_000)
        if sentinel:
            members[""] = -math.inf
        if members:
            pipe.zadd(key, members)
            pipe.pexpire(key, 60_000)
    pipe.execute()


def _outcome(
    client: redis.Redis, keys: list[str], reply: Any, now: int
) -> tuple[object, list[list[bytes]]]:
    # The wait (µs), if any, to a tenth of a second: the two runs read the clock a moment apart.
    decided: object = "admitted"
    if not isinstance(reply, int):
        decided = pytest.approx(int(reply[0]), abs=100_000)
    counting: list[list[bytes]] = []
    for key in keys:
        counting.append(sorted(m for m, s in client.zrange(key, 0, -1, withscores=True) if s > now))
        if client.exists(key):
            assert client.pttl(key) > 0, key  # no key without an expiry
    return decided, counting


@pytest.mark.parametrize("shape", list(_SHAPES))
def test_the_straight_line_acquire_decides_as_the_generic_one(
    shape: str,
    redis_url: str,  # noqa: F811
) -> None:
    import itertools

    from smsc_async.redis import _DOUBLE

    demands = _SHAPES[shape]
    backend = RedisBackend.from_url(redis_url, lease_ttl=5.0).bind(uuid.uuid4().hex)
    plan = backend._plan(demands)
    keys = plan.keys
    generic = backend._shared.scripts.acquire
    assert plan.acquire_script is not generic  # a shape of its own
    blob = _DOUBLE.pack(0) + plan.zero_spec + b"t:1"
    admitted = 0
    with redis.Redis.from_url(redis_url) as client:
        table = [_log_states(d, i == 0) for i, d in enumerate(demands)]
        for states in itertools.product(*table):
            outcomes: list[tuple[object, list[list[bytes]]]] = []
            for script in (plan.acquire_script, generic):
                now = _server_now(client)
                _set_state(client, keys, states, now)
                reply = client.eval(script.source, len(keys), *keys, blob)
                outcomes.append(_outcome(client, keys, reply, now))
            assert outcomes[0] == outcomes[1], states
            admitted += outcomes[0][0] == "admitted"
        client.delete(*keys)
    # Both kinds of outcome met (the table is not all one way).
    assert 0 < admitted < math.prod(len(states) for states in table)


@pytest.mark.parametrize(
    ("old", "live", "swept"),
    [(63, 0, False), (64, 0, True), (40, 24, True), (0, 64, False), (95, 0, False), (96, 0, True)],
)
def test_a_log_that_admits_many_is_swept_now_and_then(
    old: int,
    live: int,
    swept: bool,
    redis_url: str,  # noqa: F811
) -> None:
    # A log of a rule that admits many (more than 64) keeps its entries that stopped counting
    # until a process tends it: the straight-line acquire sweeps it when its ZCARD reaches 64,
    # 96, 128... and decides as the generic acquire, which never sweeps such a log.
    from smsc_async.redis import _DOUBLE

    demands = (Demand("operator_any:x", 1000, 30.0), Demand("*concurrency", 2, 0.0))
    backend = RedisBackend.from_url(redis_url, lease_ttl=5.0).bind(uuid.uuid4().hex)
    plan = backend._plan(demands)
    keys = plan.keys
    blob = _DOUBLE.pack(0) + plan.zero_spec + b"t:1"
    with redis.Redis.from_url(redis_url) as client:
        outcomes = []
        for script in (plan.acquire_script, backend._shared.scripts.acquire):
            now = _server_now(client)
            client.delete(*keys)
            entries = {f"old:{j}": now - 1_000_000 for j in range(old)}
            entries.update({f"live:{j}": now + 10_000_000 for j in range(live)})
            if entries:
                client.zadd(keys[0], entries)
                client.pexpire(keys[0], 60_000)
            reply = client.eval(script.source, len(keys), *keys, blob)
            outcomes.append(_outcome(client, keys, reply, now))
            left = client.zcard(keys[0])
            if script is plan.acquire_script:
                assert left == (live + 1 if swept else old + live + 1)
        assert outcomes[0] == outcomes[1]
        assert outcomes[0][0] == "admitted"
        client.delete(*keys)
