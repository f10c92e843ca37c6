"""The SQLite backend in one process: the memory backend's decisions, on a clock the file keeps.

Every decision reads an injected wall clock, so waits are asserted exactly. Async tests run on
asyncio and on trio.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsc_async import RateLimits, Session
from smsc_async._backend import Demand, MemoryBackend, Reservation
from smsc_async._errors import DuplicateSendError, LimiterUnavailableError
from smsc_async._limiter import Limiter
from smsc_async.sqlite import SQLiteBackend
from smsc_async.testing import Emulator

W = 60.0
POLL = 0.01
BALANCE = Demand("balance:balance", 3, W)
CAP = Demand("*concurrency", 2, 0.0)


class FakeWall:
    """A wall clock that moves only when told (and may be stepped back)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def wall() -> FakeWall:
    return FakeWall()


@pytest.fixture
async def backend(tmp_path: Path, wall: FakeWall) -> AsyncIterator[SQLiteBackend]:
    async with SQLiteBackend(
        tmp_path / "limits.sqlite3", lease_ttl=5.0, poll_interval=POLL, clock=wall
    ) as b:
        yield b.bind("ns")


def rows(path: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT log, member, score, window, leased FROM entries").fetchall()
    finally:
        conn.close()


# -- decisions -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_limit_then_exact_wait(backend: SQLiteBackend, wall: FakeWall) -> None:
    demands = (BALANCE, CAP)
    answered = []
    for _ in range(3):
        got = await backend.acquire(demands)
        assert isinstance(got, Reservation)
        wall.t += 1.0
        await backend.release(got, sent=True)
        answered.append(wall.t)
    wall.t += 0.5
    # The first answer counts until one window after it, exactly.
    assert await backend.acquire(demands) == answered[0] + W - wall.t
    assert await backend.wait_time(demands) == answered[0] + W - wall.t
    wall.t = answered[0] + W
    got = await backend.acquire(demands)
    assert isinstance(got, Reservation)
    await backend.release(got, sent=False)


@pytest.mark.anyio
async def test_unsent_frees_and_in_flight_counts(backend: SQLiteBackend, wall: FakeWall) -> None:
    demands = (BALANCE, CAP)
    first = await backend.acquire(demands)
    assert isinstance(first, Reservation)
    await backend.release(first, sent=False)
    assert rows(backend.path) == []
    held = [await backend.acquire(demands) for _ in range(2)]
    assert all(isinstance(r, Reservation) for r in held)
    # The cap (2) is full of requests in flight: look again within the poll interval.
    assert await backend.acquire(demands) == POLL
    for r in held:
        assert isinstance(r, Reservation)
        await backend.release(r, sent=True)
    third = await backend.acquire(demands)
    assert isinstance(third, Reservation)
    # The rule (3) holds 2 answered + 1 in flight: the in-flight one counts a whole window from
    # its answer, which is not yet here.
    assert await backend.acquire((BALANCE,)) == W
    await backend.release(third, sent=True)


@pytest.mark.anyio
async def test_ahead_claims_keep_room_for_earlier_waiters(backend: SQLiteBackend) -> None:
    got = await backend.acquire((BALANCE,))
    assert isinstance(got, Reservation)
    await backend.release(got, sent=True)
    assert await backend.wait_time((BALANCE,), (1,)) == 0.0
    assert await backend.wait_time((BALANCE,), (2,)) == W
    assert await backend.wait_time((BALANCE,), (3,)) == math.inf
    assert await backend.acquire((BALANCE,), (2,)) == W


@pytest.mark.anyio
async def test_refusal_takes_nothing(backend: SQLiteBackend) -> None:
    other = Demand("stat_any:stat", 1, W)
    got = await backend.acquire((other,))
    assert isinstance(got, Reservation)
    assert isinstance(await backend.acquire((BALANCE, other)), float)
    # Refused on ``other``: the balance log keeps no entry either.
    assert len(rows(backend.path)) == 1
    await backend.release(got, sent=False)


@pytest.mark.anyio
async def test_a_repeated_key_takes_one_slot_per_occurrence(
    backend: SQLiteBackend, wall: FakeWall
) -> None:
    pair = Demand("status_message:7|79161234567", 5, W)
    # statuses() asking one pair six times: never admissible at once under a limit of 5.
    assert await backend.acquire((pair,) * 6) == math.inf
    got = await backend.acquire((pair,) * 4)
    assert isinstance(got, Reservation)
    assert len(rows(backend.path)) == 4
    # One slot left: two occurrences do not fit, one does.
    assert await backend.wait_time((pair,) * 2) == W
    assert await backend.wait_time((pair,)) == 0.0
    wall.t += 2.0
    await backend.release(got, sent=True)
    assert await backend.wait_time((pair,) * 2) == W
    wall.t += W
    assert await backend.wait_time((pair,) * 5) == 0.0


@pytest.mark.anyio
async def test_hold_keeps_cap_places_and_counts_rate_entries_from_now(
    backend: SQLiteBackend, wall: FakeWall
) -> None:
    one = Demand("*concurrency", 1, 0.0)
    got = await backend.acquire((BALANCE, one))
    assert isinstance(got, Reservation)
    wall.t += 3.0
    # The request timed out; the gateway may still be working on it for 2 s.
    await backend.release(got, sent=False, hold=2.0)
    assert await backend.acquire((one,)) == POLL
    wall.t += 1.5
    assert await backend.acquire((one,)) == POLL
    wall.t += 0.5
    free = await backend.acquire((one,))
    assert isinstance(free, Reservation)
    await backend.release(free, sent=False)
    # Its rate entry counts one window from the release, as a sent one does.
    for _ in range(2):
        r = await backend.acquire((BALANCE,))
        assert isinstance(r, Reservation)
        await backend.release(r, sent=True)
    assert await backend.wait_time((BALANCE,)) == W - 2.0
    with pytest.raises(ValueError, match="hold"):
        await backend.release(free, sent=True, hold=-1.0)


def _run_ops(ops: list[tuple[str, int]], path: Path) -> None:
    """Apply ``ops`` to a memory and an SQLite backend; their decisions must agree exactly."""
    demands = [
        (Demand("a:x", 2, 1000.0), Demand("*c", 3, 0.0)),
        (Demand("b:y", 1, 1000.0), Demand("a:x", 2, 1000.0), Demand("*c", 3, 0.0)),
        (Demand("*c", 3, 0.0),),
    ]
    # (Repeated keys are left to their own test above: on main the memory backend lets two
    # occurrences of a key share the last slot, which the contract says they must not.)
    wall = FakeWall()

    async def main() -> None:
        memory = MemoryBackend(clock=wall)
        async with SQLiteBackend(path, lease_ttl=100.0, clock=wall) as shared:
            held: list[tuple[Reservation, Reservation]] = []
            for op, arg in ops:
                wall.t += 1.0
                if op == "acquire":
                    which = demands[arg % len(demands)]
                    mine = memory.try_acquire(which)
                    theirs = await shared.acquire(which)
                    assert isinstance(mine, Reservation) == isinstance(theirs, Reservation)
                    if isinstance(mine, Reservation) and isinstance(theirs, Reservation):
                        held.append((mine, theirs))
                    elif isinstance(mine, float) and mine < math.inf:
                        # Held by answered entries: both know exactly when.
                        assert theirs == mine
                    else:
                        # Held by entries in flight: memory waits for the release; a shared
                        # file cannot see other processes' releases and bounds the wait.
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
    ops: list[tuple[str, int]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    _run_ops(ops, tmp_path_factory.mktemp("ops") / "limits.sqlite3")


# -- time ----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_clock_stepped_back_does_not_free_slots(
    backend: SQLiteBackend, wall: FakeWall
) -> None:
    for _ in range(3):
        got = await backend.acquire((BALANCE,))
        assert isinstance(got, Reservation)
        await backend.release(got, sent=True)
    wall.t += 10.0
    assert await backend.wait_time((BALANCE,)) == W - 10.0
    # Someone sets the clock back an hour: the store's time goes on from where it was.
    wall.t -= 3600.0
    assert await backend.wait_time((BALANCE,)) == W - 10.0
    wall.t += 5.0
    assert await backend.wait_time((BALANCE,)) == W - 15.0
    wall.t += W - 15.0
    assert await backend.wait_time((BALANCE,)) == 0.0


@pytest.mark.anyio
async def test_the_guard_outlives_the_process(tmp_path: Path, wall: FakeWall) -> None:
    # One command, then the host's clock is stepped back, then the next command: the file
    # remembers where time was.
    path = tmp_path / "limits.sqlite3"
    async with SQLiteBackend(path, clock=wall) as first:
        for _ in range(3):
            got = await first.acquire((BALANCE,))
            assert isinstance(got, Reservation)
            await first.release(got, sent=True)
    wall.t -= 100.0
    async with SQLiteBackend(path, clock=wall) as second:
        assert await second.wait_time((BALANCE,)) == W
        wall.t += 1.0
        assert await second.wait_time((BALANCE,)) == W - 1.0


# -- privacy, namespaces, sessions ---------------------------------------------------------------


@pytest.mark.anyio
async def test_no_key_is_stored_in_clear(tmp_path: Path) -> None:
    path = tmp_path / "limits.sqlite3"
    key = "send_identical:/sys/send.php&mes=Hello&phones=79161234567"
    async with SQLiteBackend(path) as root:
        a, b = root.bind("alex"), root.bind("bob")
        for view in (a, b):
            got = await view.acquire((Demand(key, 1, W),))
            assert isinstance(got, Reservation)
            await view.release(got, sent=True)
        with_secret = SQLiteBackend(path, secret="password").bind("alex")
        assert with_secret.log_id(key) != a.log_id(key)
        await with_secret.aclose()
        # While open, and after: neither the file nor its write-ahead log holds a key.
        raw = b"".join(p.read_bytes() for p in list(tmp_path.glob("limits.sqlite3*")))  # noqa: ASYNC240
    raw += path.read_bytes()
    assert b"79161234567" not in raw
    assert b"Hello" not in raw
    # One log per login: the namespaces do not meet.
    assert len({r[0] for r in rows(str(path))}) == 2
    assert path.stat().st_mode & 0o077 == 0


@pytest.mark.anyio
async def test_two_sessions_of_one_login_share_one_window(
    tmp_path: Path, live_url: str, emulator: Emulator, limits: RateLimits
) -> None:
    path = tmp_path / "limits.sqlite3"

    def session(backend: SQLiteBackend) -> Session:
        return Session(
            login="demo", password="demo", base_url=live_url, limits=limits, backend=backend
        )

    async with (
        SQLiteBackend(path) as first,
        SQLiteBackend(path) as second,
        session(first) as one,
        session(second) as two,
    ):
        await one.send("79161234567", "Hello")
        # The other "process" knows at once, without asking the gateway.
        with pytest.raises(DuplicateSendError):
            await two.send("79161234567", "Hello")
        for _ in range(limits.balance.limit + 2):
            await (one if _ % 2 else two).balance()
    assert emulator.stats.errors[9] == 0
    assert emulator.stats.sms == 1


@pytest.mark.anyio
async def test_cancelled_waiter_leaves_nothing(backend: SQLiteBackend, wall: FakeWall) -> None:
    limiter = Limiter(RateLimits(), backend=backend)
    for _ in range(10):
        async with limiter.slot("/sys/balance.php", {}):
            pass
    before = rows(backend.path)
    with anyio.move_on_after(0.05):
        async with limiter.slot("/sys/balance.php", {}):
            raise AssertionError("admitted past the rule")
    assert rows(backend.path) == before


@pytest.mark.anyio
async def test_a_locked_file_fails_clearly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "limits.sqlite3"
    async with SQLiteBackend(path, timeout=0.05) as backend:
        held = await backend.acquire((BALANCE,))
        assert isinstance(held, Reservation)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(LimiterUnavailableError, match="nothing was sent"):
                await backend.acquire((BALANCE,))
            # A release it cannot write is logged, never raised; the lease runs out instead.
            await backend.release(held, sent=True)
            assert "runs out with its lease" in caplog.text
        finally:
            other.execute("ROLLBACK")
            other.close()
        got = await backend.acquire((BALANCE,))
        assert isinstance(got, Reservation)
        await backend.release(got, sent=True)


def _locked_store(path: Path, timeout: float) -> tuple[Any, sqlite3.Connection, list[float]]:
    """A backend's store, set up, with another connection holding the file's write lock.

    The store sleeps on a clock of its own, recording each pause: no time passes.
    """
    store = SQLiteBackend(path, timeout=timeout)._store
    store.run(lambda conn, now: None)  # connected, the schema made
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    now = [0.0]
    gaps: list[float] = []

    def sleep(seconds: float) -> None:
        gaps.append(seconds)
        now[0] += seconds

    store._sleep, store._clock = sleep, lambda: now[0]
    return store, other, gaps


def _nominal_gaps(count: int) -> list[float]:
    """0.1 ms doubling up to 4 ms: the pauses between tries for the lock, before jitter."""
    return [min(0.0001 * 2**k, 0.004) for k in range(count)]


def test_a_decision_tries_again_soon_after_the_lock_is_taken(tmp_path: Path) -> None:
    # SQLite's own busy handler sleeps 1, 2, 5, 10, 15 ... ms between tries, where a decision
    # holds the lock a fraction of a millisecond: the store tries again after about 0.1 ms,
    # the pause doubling up to about 4 ms, and takes the lock at the first try after it is
    # free.
    store, other, gaps = _locked_store(tmp_path / "limits.sqlite3", timeout=5.0)
    tries = 12

    def sleep(seconds: float) -> None:
        recorded(seconds)
        if len(gaps) == tries:
            other.execute("ROLLBACK")

    recorded, store._sleep = store._sleep, sleep
    try:
        assert store.run(lambda conn, now: "decided") == "decided"
    finally:
        other.close()
        store.close()
    assert len(gaps) == tries
    for gap, nominal in zip(gaps, _nominal_gaps(tries), strict=True):
        assert nominal / 2 <= gap <= nominal * 1.5


def test_a_decision_gives_up_on_the_lock_at_its_timeout(tmp_path: Path) -> None:
    store, other, gaps = _locked_store(tmp_path / "limits.sqlite3", timeout=0.05)
    try:
        with pytest.raises(LimiterUnavailableError, match="database is locked"):
            store.run(lambda conn, now: "decided")
    finally:
        other.close()
        store.close()
    # Every pause within its bounds, the last cut to what was left: 50 ms waited in all.
    for gap, nominal in zip(gaps[:-1], _nominal_gaps(len(gaps)), strict=False):
        assert nominal / 2 <= gap <= nominal * 1.5
    assert math.isclose(sum(gaps), 0.05) and len(gaps) < 50


@pytest.mark.anyio
async def test_a_file_that_cannot_be_made_fails_clearly(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.touch()
    async with SQLiteBackend(blocker / "limits.sqlite3") as backend:
        with pytest.raises(LimiterUnavailableError, match="nothing was sent"):
            await backend.acquire((BALANCE,))


def test_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="path"):
        SQLiteBackend(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="path"):
        SQLiteBackend("")
    for name in ("lease_ttl", "poll_interval", "timeout"):
        with pytest.raises(ValueError, match=name):
            SQLiteBackend(tmp_path / "x", **{name: 0})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="namespace"):
        SQLiteBackend(tmp_path / "x").bind("")
    with pytest.raises(TypeError, match="secret"):
        SQLiteBackend(tmp_path / "x", secret=5)  # type: ignore[arg-type]
    assert "x" in repr(SQLiteBackend(tmp_path / "x"))


@pytest.mark.anyio
async def test_a_decision_waiting_for_the_lock_does_not_block_the_event_loop(
    tmp_path: Path,
) -> None:
    # Another process holds the write lock until a task of this event loop says so: if the
    # waiting decision blocked the loop, that task could never run and the decision would time
    # out instead.
    path = tmp_path / "limits.sqlite3"
    async with SQLiteBackend(path, timeout=30.0) as backend:
        await backend.wait_time((BALANCE,))
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        order: list[str] = []

        async def decide() -> None:
            got = await backend.acquire((BALANCE,))
            assert isinstance(got, Reservation)
            order.append("decided")

        async def unlock() -> None:
            await anyio.sleep(0.05)  # the decision is waiting for the lock by now
            order.append("loop ran")
            await anyio.to_thread.run_sync(other.execute, "ROLLBACK")

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(decide)
                tg.start_soon(unlock)
        finally:
            other.close()
    assert order == ["loop ran", "decided"]


# -- cancellation while the worker thread holds the transaction -----------------------------------


class GatedWall(FakeWall):
    """A wall clock that, once armed, stops inside the next transaction until let go."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        self.inside = threading.Event()
        self.go = threading.Event()

    def __call__(self) -> float:
        if self.armed:
            self.armed = False
            self.inside.set()
            assert self.go.wait(30), "never let go"
        return self.t


async def _cancel_inside_the_transaction(wall: GatedWall, call: Any) -> bool:
    """Run ``call()`` and cancel it while its decision is inside the file's transaction."""
    wall.armed = True
    wall.inside.clear()
    wall.go.clear()
    with anyio.CancelScope() as scope:

        async def cancel_when_inside() -> None:
            await anyio.to_thread.run_sync(wall.inside.wait)
            scope.cancel()
            wall.go.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel_when_inside)
            await call()
            # Only reached if the call ignored the cancellation: it must not.
            await anyio.lowlevel.checkpoint()
    assert wall.go.is_set()
    return scope.cancelled_caught


@pytest.mark.anyio
async def test_an_acquire_cancelled_inside_its_transaction_takes_nothing(tmp_path: Path) -> None:
    wall = GatedWall()
    async with SQLiteBackend(tmp_path / "limits.sqlite3", lease_ttl=5.0, clock=wall) as base:
        backend = base.bind("ns")
        held = await backend.acquire((BALANCE, CAP))
        assert isinstance(held, Reservation)
        before = rows(backend.path)
        got: list[object] = []

        async def acquire() -> None:
            got.append(await backend.acquire((BALANCE, CAP)))

        assert await _cancel_inside_the_transaction(wall, acquire)
        # The decision took its rows inside the transaction; the cancelled call gave back
        # exactly those, and the reservation made before is untouched (and still renewed).
        assert got == [] or not isinstance(got[0], Reservation)
        assert rows(backend.path) == before
        handle: Any = held.handle
        assert list(backend._store.leased) == [handle.member]
        # Exactly one place of the cap of two is still free.
        second = await backend.acquire((CAP,))
        assert isinstance(second, Reservation)
        assert await backend.acquire((CAP,)) == POLL
        await backend.release(second, sent=False)
        await backend.release(held, sent=False)
        assert rows(backend.path) == []


@pytest.mark.anyio
async def test_a_slot_cancelled_inside_the_backends_transaction_leaves_nothing(
    tmp_path: Path,
) -> None:
    wall = GatedWall()
    async with SQLiteBackend(tmp_path / "limits.sqlite3", lease_ttl=5.0, clock=wall) as base:
        limiter = Limiter(RateLimits(), backend=base.bind("ns"))
        async with limiter.slot("/sys/balance.php", {}):
            pass
        before = rows(base.path)
        entered: list[bool] = []

        async def slot() -> None:
            async with limiter.slot("/sys/balance.php", {}):
                entered.append(True)

        assert await _cancel_inside_the_transaction(wall, slot)
        # The request never left: nothing of it counts, in the rate log or the caps.
        assert entered == []
        assert rows(base.path) == before
