"""Faults from outside, against a real ``redis-server``: stalls, pauses, kills, cancellations.

Each test reproduces a way the shared limiter broke (issue 9): a reply that comes after its
timeout, a server paused with SIGSTOP or killed and restarted, callers that cancel at random.
They run on asyncio and on trio, count at the strict emulator where the gateway's view matters,
and look into Redis for places still taken: an in-flight entry that outlives every hold is a
leak. Leases are long here (30 s) so that a leaked place cannot pass for one that ran out.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import anyio
import pytest
import redis

from smsc_async import DuplicateSendError, RateLimits, Session, SMSCError
from smsc_async._backend import Demand, Reservation
from smsc_async._errors import LimiterUnavailableError
from smsc_async.redis import RedisBackend
from smsc_async.testing import Emulator, Fault
from tests.redis_server import RedisProcess, all_keys, private_redis, redis_server, redis_url  # noqa: F401

T = TypeVar("T")

pytestmark = [
    pytest.mark.redis,
    # httpx under trio: a request cancelled mid-body leaves its request-body generator to the
    # garbage collector (httpx's own cleanup, not the limiter's).
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <async_generator object ByteStream.__aiter__"
        ":pytest.PytestUnraisableExceptionWarning"
    ),
]

LEASE = 30.0
CAP = Demand("*concurrency", 14, 0.0)
# Requests to the emulator end within this (the session's timeout): what a hold can last.
REQUEST_TIMEOUT = 2.0


@pytest.fixture
def sync_redis(redis_url: str) -> Iterator[redis.Redis]:  # noqa: F811
    with redis.Redis.from_url(redis_url) as client:
        yield client


def _server_now(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1_000_000 + int(micros)


def _taken(client: redis.Redis, key: str) -> list[float]:
    """Scores (µs) of the entries of ``key`` that still count, on the server's clock."""
    now = _server_now(client)
    return [s for _, s in client.zrange(key, 0, -1, withscores=True) if s > now]


async def _no_leaked_place(client: redis.Redis, backend: RedisBackend) -> None:
    """No entry of the cap outlives the longest hold; once the holds end, 14 go at once."""
    key = backend.key(CAP.key)
    now = _server_now(client)
    scores = _taken(client, key)
    # A hold ends within the request's timeout; a leaked lease would last LEASE seconds.
    assert all(s <= now + (REQUEST_TIMEOUT + 1.0) * 1_000_000 for s in scores), (
        "a place is still leased",
        [(s - now) / 1e6 for s in scores],
    )
    if scores:
        await anyio.sleep((max(scores) - now) / 1e6 + 0.01)
    assert _taken(client, key) == []
    burst = [await backend.acquire((CAP,)) for _ in range(CAP.limit)]
    assert all(isinstance(got, Reservation) for got in burst)
    for got in burst:
        assert isinstance(got, Reservation)
        await backend.release(got, sent=False)
    assert _taken(client, key) == []


async def _outcome(call: object) -> type[BaseException] | str:
    try:
        got = await call  # type: ignore[misc]
    except Exception as exc:
        return type(exc)
    return "reservation" if isinstance(got, Reservation) else "wait"


# -- Redis stalls, pauses, dies ------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_paused_redis_fails_typed_and_never_out_of_step(
    private_redis: RedisProcess,  # noqa: F811
) -> None:
    rule = Demand("stat_any:stat", 1, 60.0)
    async with RedisBackend.from_url(private_redis.url, timeout=0.3, lease_ttl=LEASE) as root:
        backend = root.bind("paused")
        delivered = await backend.acquire((rule, CAP))
        assert isinstance(delivered, Reservation)
        private_redis.pause()
        try:
            outcomes: list[type[BaseException] | str] = []

            async def one(call: object) -> None:
                outcomes.append(await _outcome(call))

            async with anyio.create_task_group() as tg:
                for _ in range(5):
                    tg.start_soon(one, backend.acquire((CAP,)))
                    tg.start_soon(one, backend.wait_time((CAP,)))
                # The release of a request that was delivered: it must not raise at all.
                tg.start_soon(one, backend.release(delivered, sent=True))
        finally:
            private_redis.resume()
        assert sorted(map(str, outcomes)) == sorted(
            [str(LimiterUnavailableError)] * 10 + ["wait"]  # release returns None: "wait"
        )
        # The replies to the calls given up come now; none may be read by a later decision.
        other = Demand("stat_any:other", 1, 60.0)
        for _ in range(20):
            got = await backend.acquire((other, CAP))
            assert isinstance(got, Reservation)
            assert isinstance(await backend.acquire((other,)), float)
            await backend.release(got, sent=False)
        # The delivered request's entry counts (released once Redis answered again).
        assert isinstance(await backend.acquire((rule,)), float)
        with redis.Redis.from_url(private_redis.url) as client:
            await _no_leaked_place(client, backend)


@pytest.mark.anyio
async def test_late_replies_to_a_sleeping_redis_leak_nothing(
    private_redis: RedisProcess,  # noqa: F811
) -> None:
    url = private_redis.url
    async with RedisBackend.from_url(url, timeout=0.2, lease_ttl=LEASE) as root:
        backend = root.bind("asleep")
        await backend.wait_time((CAP,))  # connected, clock offset known
        started = anyio.Event()

        def stall() -> None:
            with redis.Redis.from_url(url) as client:
                anyio.from_thread.run_sync(started.set)
                client.execute_command("DEBUG", "SLEEP", "0.8")

        outcomes: list[type[BaseException] | str] = []
        taken: list[Reservation] = []

        async def one() -> None:
            try:
                got = await backend.acquire((CAP,))
            except LimiterUnavailableError:
                outcomes.append(LimiterUnavailableError)
                return
            assert isinstance(got, Reservation)
            taken.append(got)

        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, stall)
            await started.wait()
            await anyio.sleep(0.05)
            for _ in range(20):
                tg.start_soon(one)
        assert set(outcomes) <= {LimiterUnavailableError}
        for got in taken:
            await backend.release(got, sent=False)
        with redis.Redis.from_url(url) as client:
            await _no_leaked_place(client, backend)


async def _before_the_fault(call: Callable[[], Awaitable[T]]) -> T:
    """``call()`` while Redis is healthy: a loaded machine may miss the short timeout once (the
    first call under trio also starts the thread and loads the scripts); try again then."""
    for _ in range(19):
        try:
            return await call()
        except LimiterUnavailableError:
            await anyio.sleep(0.1)
    return await call()


@pytest.mark.anyio
async def test_a_three_second_pause_then_the_login_is_usable_at_once(
    private_redis: RedisProcess,  # noqa: F811
) -> None:
    async with RedisBackend.from_url(private_redis.url, timeout=0.5, lease_ttl=LEASE) as root:
        backend = root.bind("pause")
        held = [await _before_the_fault(lambda: backend.acquire((CAP,))) for _ in range(CAP.limit)]
        assert all(isinstance(r, Reservation) for r in held)
        outcomes: list[type[BaseException] | str] = []

        async def one(call: object) -> None:
            outcomes.append(await _outcome(call))

        private_redis.pause()
        paused = time.monotonic()
        try:
            async with anyio.create_task_group() as tg:
                # The 14 requests are answered during the pause; 5 more try to start.
                for reservation in held:
                    assert isinstance(reservation, Reservation)
                    tg.start_soon(one, backend.release(reservation, sent=True))
                for _ in range(5):
                    tg.start_soon(one, backend.acquire((CAP,)))
            await anyio.sleep(max(0.0, 3.0 - (time.monotonic() - paused)))
        finally:
            private_redis.resume()
        assert outcomes.count(LimiterUnavailableError) == 5
        assert len(outcomes) == 19
        # At once: all 14 places, no lease to wait for.
        again = [await backend.acquire((CAP,)) for _ in range(CAP.limit)]
        assert all(isinstance(r, Reservation) for r in again)
        for reservation in again:
            assert isinstance(reservation, Reservation)
            await backend.release(reservation, sent=True)
        with redis.Redis.from_url(private_redis.url) as client:
            await _no_leaked_place(client, backend)


@pytest.mark.anyio
async def test_a_killed_and_restarted_redis(private_redis: RedisProcess) -> None:  # noqa: F811
    async with RedisBackend.from_url(private_redis.url, timeout=0.5, lease_ttl=LEASE) as root:
        backend = root.bind("killed")
        held = [await backend.acquire((CAP,)) for _ in range(3)]
        private_redis.kill()
        assert await _outcome(backend.acquire((CAP,))) is LimiterUnavailableError
        assert await _outcome(backend.wait_time((CAP,))) is LimiterUnavailableError
        for reservation in held:
            assert isinstance(reservation, Reservation)
            await backend.release(reservation, sent=True)  # never raises
        private_redis.restart()
        # An empty server (its scripts too): every place is free, decisions are exact again.
        again = [await backend.acquire((CAP,)) for _ in range(CAP.limit)]
        assert all(isinstance(r, Reservation) for r in again)
        assert isinstance(await backend.acquire((CAP,)), float)
        for reservation in again:
            assert isinstance(reservation, Reservation)
            await backend.release(reservation, sent=False)
        with redis.Redis.from_url(private_redis.url) as client:
            await _no_leaked_place(client, backend)


# -- cancellation --------------------------------------------------------------------------------


@pytest.fixture
async def shared(redis_url: str) -> Iterator[RedisBackend]:  # noqa: F811
    async with RedisBackend.from_url(redis_url, lease_ttl=LEASE) as backend:
        yield backend  # type: ignore[misc]


def _session(url: str, limits: RateLimits, backend: RedisBackend) -> Session:
    return Session(
        login="demo",
        password="demo",
        base_url=url,
        limits=limits,
        backend=backend,
        retry=None,
        timeout=REQUEST_TIMEOUT,
    )


@pytest.mark.anyio
async def test_cancelled_lookups_leave_no_lease(
    shared: RedisBackend, sync_redis: redis.Redis, live_url: str, limits: RateLimits
) -> None:
    rng = random.Random(9)
    async with _session(live_url, limits, shared) as smsc:
        for i in range(300):
            with anyio.move_on_after(rng.uniform(0.0, 0.004)):
                await smsc.operator_info(f"7916{i:07d}")
        await _no_leaked_place(sync_redis, smsc._limiter.backend)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_breaking_out_of_bulk_lookups_leaves_no_lease(
    shared: RedisBackend, sync_redis: redis.Redis, live_url: str, limits: RateLimits
) -> None:
    async with _session(live_url, limits, shared) as smsc:
        for run in range(6):
            numbers = [f"7926{run:02d}{i:05d}" for i in range(200)]
            async with smsc.lookup_operators(numbers, batch_size=5) as results:
                async for _ in results:
                    break
        await _no_leaked_place(sync_redis, smsc._limiter.backend)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_a_cancellation_storm(
    shared: RedisBackend,
    sync_redis: redis.Redis,
    live_url: str,
    limits: RateLimits,
    emulator: Emulator,
) -> None:
    rng = random.Random(12)
    # Requests stay in flight a while, so the cap is the bottleneck and cancellations land in
    # every phase: waiting, acquiring on Redis, on the wire, releasing.
    emulator.inject(Fault(kind="delay", path="/sys/info.php", seconds=0.02, times=None))
    emulator.inject(Fault(kind="delay", path="/sys/send.php", seconds=0.02, times=None))
    unexpected: list[BaseException] = []
    async with _session(live_url, limits, shared) as smsc:

        async def one(i: int) -> None:
            kind = i % 4
            try:
                if kind == 0:
                    await smsc.operator_info(f"7903{i:07d}")
                elif kind == 1:
                    # The same message again and again: it may go out once, never twice.
                    await smsc.send("79031234567", "storm: one and only")
                elif kind == 2:
                    await smsc.cost("79031234500", f"storm {i}")
                else:
                    await smsc.send(f"7904{i:07d}", f"storm {i}")
            except (SMSCError, ValueError, TypeError, DuplicateSendError):
                pass
            except Exception as exc:  # anything else is a bug
                unexpected.append(exc)

        async def maybe_cancelled(i: int) -> None:
            if rng.random() < 0.3:
                with anyio.move_on_after(rng.uniform(0.0, 0.3)):
                    await one(i)
            else:
                await one(i)

        async with anyio.create_task_group() as tg:
            for i in range(500):
                tg.start_soon(maybe_cancelled, i)
        assert unexpected == []
        assert emulator.stats.max_in_flight["demo"] <= limits.concurrency
        assert emulator.stats.errors[9] == 0
        account = emulator.account("demo")
        same = [
            m
            for m in account.messages.values()
            if m.phone == "79031234567" and m.text == "storm: one and only"
        ]
        assert len(same) <= 1
        await _no_leaked_place(sync_redis, smsc._limiter.backend)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_cancelled_during_the_acquire_on_a_slow_redis(
    private_redis: RedisProcess,  # noqa: F811
) -> None:
    # The caller gives up while its acquire waits on Redis; the script then runs anyway.
    url = private_redis.url
    async with RedisBackend.from_url(url, timeout=1.0, lease_ttl=LEASE) as root:
        backend = root.bind("gave-up")
        await backend.wait_time((CAP,))
        started = anyio.Event()

        def stall() -> None:
            with redis.Redis.from_url(url) as client:
                anyio.from_thread.run_sync(started.set)
                client.execute_command("DEBUG", "SLEEP", "0.3")

        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, stall)
            await started.wait()
            await anyio.sleep(0.02)
            for _ in range(CAP.limit):
                with anyio.move_on_after(0.05):
                    got = await backend.acquire((CAP,))
                    # Admitted in time (Redis awake again): an ordinary request, released.
                    assert isinstance(got, Reservation)
                    await backend.release(got, sent=False)
        with redis.Redis.from_url(url) as client:
            await _no_leaked_place(client, backend)


def _clients(client: redis.Redis) -> int:
    """Connections the server holds, but this one's."""
    return len(client.client_list()) - 1


@pytest.mark.anyio
async def test_the_hot_path_keeps_a_few_connections_never_out_of_step(
    private_redis: RedisProcess,  # noqa: F811
) -> None:
    # On asyncio the acquires and releases run on connections the backend keeps (bounded),
    # under a burst of callers, cancellations mid-call and a stalled server; on trio they go
    # through the synchronous client's pool. Either way: replies never cross, no connection
    # is left behind when the backend closes.
    url = private_redis.url
    rule = Demand("sms_any:kept", 10**9, 0.001)
    with redis.Redis.from_url(url) as admin:
        async with RedisBackend.from_url(url, timeout=1.0, lease_ttl=LEASE) as root:
            backend = root.bind("kept")
            await backend.wait_time((rule, CAP))

            async def calls(n: int) -> None:
                for _ in range(n):
                    got = await backend.acquire((rule,))
                    assert isinstance(got, Reservation)
                    await backend.release(got, sent=True)

            async with anyio.create_task_group() as tg:
                for _ in range(40):
                    tg.start_soon(calls, 10)
            after_burst = _clients(admin)
            assert after_burst <= 40 + 3
            await calls(200)  # one caller at a time reuses what is kept: no new connection
            assert _clients(admin) <= after_burst
            # Callers give up mid-call, some while the server sleeps: what they leave behind
            # (a reply on its way) must never be read as a later call's.
            for k in range(30):
                if k % 10 == 0:
                    await anyio.to_thread.run_sync(
                        lambda: admin.execute_command("CLIENT", "PAUSE", "30", "ALL")
                    )
                got = None
                with anyio.move_on_after(0.0005 * (k % 7)):
                    got = await backend.acquire((rule, CAP))
                if isinstance(got, Reservation):  # released outside the scope, as the limiter does
                    await backend.release(got, sent=False)
            for _ in range(20):
                got = await backend.acquire((rule, CAP))
                assert isinstance(got, Reservation)
                await backend.release(got, sent=False)
            await _no_leaked_place(admin, backend)
        # Closed: every connection of the backend with it.
        for _ in range(100):
            if _clients(admin) == 0:
                break
            await anyio.sleep(0.01)
        assert _clients(admin) == 0


# -- nothing personal in Redis -------------------------------------------------------------------


def _everything(client: redis.Redis) -> list[bytes]:
    """Every key and every stored value (members and scores of sorted sets included)."""
    out: list[bytes] = []
    for name in all_keys(client):
        out.append(name.encode())
        kind = client.type(name)
        if kind == b"zset":
            for member, score in client.zrange(name, 0, -1, withscores=True):
                out += [member, repr(score).encode()]
        elif kind == b"string":
            out.append(client.get(name) or b"")
        elif kind == b"hash":
            for field, value in client.hgetall(name).items():
                out += [field, value]
        else:
            out.append(repr(client.dump(name)).encode())
    return out


@pytest.mark.anyio
async def test_no_personal_data_in_redis(
    shared: RedisBackend, sync_redis: redis.Redis, live_url: str, limits: RateLimits
) -> None:
    import hashlib

    phone, text = "79161234567", "Code 4242"
    async with _session(live_url, limits, shared) as smsc:
        sent = await smsc.send(phone, text)
        # Looked at while the entries are there: statuses, the look-up, the identical send.
        await smsc.status(sent.id, phone)
        await smsc.operator_info(phone)
        await smsc.cost(phone, text)
        stored = _everything(sync_redis)
    assert stored
    # The namespace is not the unsalted hash of the login that anyone can compute.
    guessable = hashlib.blake2b(b"login:demo", digest_size=12, person=b"smsc_async.lim")
    for secret in (phone, phone[1:], text, "demo", guessable.hexdigest()):
        leaks = [item for item in stored if secret.encode() in item]
        assert leaks == [], secret
