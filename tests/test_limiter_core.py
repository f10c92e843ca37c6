"""The pure decision core: sliding-window logs and the memory backend, on literal numbers."""

from __future__ import annotations

import heapq
import math
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from smsc_async._backend import (
    Demand,
    MemoryBackend,
    Reservation,
    SlidingLog,
    _Binding,
    _Pair,
    _Repeats,
)

INF = math.inf


class FakeClock:
    """A :class:`~smsc_async.Clock` that moves only when a test sets ``at``."""

    def __init__(self, at: float = 0.0) -> None:
        self.at = at

    def now(self) -> float:
        return self.at

    async def sleep(self, seconds: float) -> None:
        raise AssertionError("the backend never sleeps")

    def jitter(self, high: float) -> float:
        return 0.0


def take(log: SlidingLog, now: float) -> None:
    assert log.take(lambda: now)


# -- SlidingLog: table tests ----------------------------------------------------------------


def test_docstring_walkthrough() -> None:
    log = SlidingLog(limit=2, window=60.0)
    assert log.try_admit(0.0) == 0.0
    assert log.take(lambda: 0.0)
    assert log.take(lambda: 0.0)
    assert not log.take(lambda: 1.0)  # full, and nothing taken
    assert log.inflight == 2
    assert log.try_admit(1.0) == INF  # both in flight: an answer decides
    log.complete(5.0)
    assert log.try_admit(6.0) == 59.0  # the answer of 5.0 ages out at 65.0
    log.complete(7.0)
    assert log.try_admit(8.0) == 57.0  # the answer of 7.0 does not change that
    assert log.try_admit(64.999) == pytest.approx(0.001)
    assert log.try_admit(65.0) == 0.0
    assert len(log) == 1  # 5.0's entry was dropped, 7.0's still counts


@pytest.mark.parametrize(
    ("limit", "window", "completions", "inflight", "now", "ahead", "ready_at"),
    [
        # fewer than limit entries: admissible at once
        (3, 60.0, [0.0, 1.0], 0, 2.0, 0, 2.0),
        # full: the oldest answer ages out first
        (3, 60.0, [0.0, 1.0, 2.0], 0, 10.0, 0, 60.0),
        # an entry ages out exactly ``window`` after its answer
        (3, 60.0, [0.0, 1.0, 2.0], 0, 60.0, 0, 60.0),
        # one in flight + two answers: still the oldest answer decides
        (3, 60.0, [0.0, 1.0], 1, 10.0, 0, 60.0),
        # all in flight: only an answer can free a slot
        (2, 60.0, [], 2, 10.0, 0, INF),
        # one earlier waiter claims a slot: this request needs the second-oldest to age out
        (3, 60.0, [0.0, 1.0, 2.0], 0, 10.0, 1, 61.0),
        # two claims ahead and free room for both plus this one
        (5, 60.0, [0.0, 1.0], 0, 10.0, 2, 10.0),
        # claims ahead beyond what the answers will free: wait for an answer
        (2, 60.0, [0.0], 1, 10.0, 1, INF),
        # a concurrency cap is a log with a zero window
        (2, 0.0, [5.0, 6.0], 0, 6.0, 0, 6.0),
        (2, 0.0, [], 2, 6.0, 0, INF),
    ],
)
def test_ready_at_table(
    limit: int,
    window: float,
    completions: list[float],
    inflight: int,
    now: float,
    ahead: int,
    ready_at: float,
) -> None:
    log = SlidingLog(limit, window)
    for t in completions:
        take(log, t)
        log.complete(t)
    for _ in range(inflight):
        take(log, now)
    assert log.ready_at(now, ahead) == ready_at
    expected_wait = 0.0 if ready_at <= now else ready_at - now
    assert log.try_admit(now, ahead) == expected_wait


def test_cancelled_entry_frees_its_slot_at_once() -> None:
    log = SlidingLog(1, 60.0)
    take(log, 0.0)
    assert log.try_admit(0.0) == INF
    log.cancel()
    assert log.try_admit(0.0) == 0.0
    assert len(log) == 0


def test_completion_from_a_clock_that_went_back_keeps_order() -> None:
    log = SlidingLog(2, 10.0)
    take(log, 0.0)
    take(log, 0.0)
    log.complete(5.0)
    log.complete(3.0)
    assert list(log.expiries) == [13.0, 15.0]
    assert log.ready_at(5.0) == 13.0


def test_take_reads_the_clock_only_when_the_log_looks_full() -> None:
    log = SlidingLog(2, 10.0)
    reads: list[float] = []

    def clock() -> float:
        reads.append(20.0)
        return 20.0

    assert log.take(clock)
    log.complete(0.0)
    assert log.take(clock)
    assert reads == []
    log.complete(1.0)
    assert log.take(clock)  # full by count; at 20.0 both answers have aged out
    assert reads == [20.0]
    assert len(log) == 1


def test_a_cap_holds_a_place_only_when_told_to() -> None:
    cap = SlidingLog(2, 0.0)
    take(cap, 0.0)
    take(cap, 0.0)
    cap.complete(1.0)  # answered: the place is free at once
    cap.complete(1.0, hold=29.0)  # cancelled: the gateway may be at work on it until 30.0
    assert list(cap.expiries) == [30.0]
    assert cap.ready_at(1.0) == 1.0
    take(cap, 1.0)
    assert cap.ready_at(2.0) == 30.0
    # A rate log counts a held entry for its window from now, not from the hold.
    rate = SlidingLog(1, 60.0)
    take(rate, 0.0)
    rate.complete(5.0, hold=100.0)
    assert list(rate.expiries) == [65.0]


@pytest.mark.parametrize(
    ("limit", "completions", "inflight", "ahead", "earliest"),
    [
        # known from the expiries: the same as ready_at
        (2, [0.0, 1.0], 0, 0, 60.0),
        # both in flight: not before either could answer (now) and age out
        (2, [], 2, 0, 70.0),
        # one claimant ahead goes at 60.0 (when 0.0 ages out) and counts until 120.0
        (1, [0.0], 0, 1, 120.0),
        # two slots; claimants at 60 and 61 fill them until 120 and 121
        (2, [0.0, 1.0], 0, 2, 120.0),
        (2, [0.0, 1.0], 0, 3, 121.0),
    ],
)
def test_earliest_table(
    limit: int, completions: list[float], inflight: int, ahead: int, earliest: float
) -> None:
    log = SlidingLog(limit, 60.0)
    for t in completions:
        take(log, t)
        log.complete(t)
    for _ in range(inflight):
        take(log, 10.0)
    assert log.earliest(10.0, ahead) == earliest
    assert SlidingLog(2, 0.0).earliest(10.0) == 10.0


# -- the properties, through the memory backend's hot path -----------------------------------


RATE = "rule:key"
CAP_KEY = "*concurrency"


def simulate(
    limit: int, window: int, cap: int, requests: list[tuple[int, int, int, int]]
) -> tuple[list[tuple[int, int, int]], list[int]]:
    """Run requests first come first served through ``MemoryBackend.try_acquire/release_now``.

    Each request is (arrival gap, time in flight, hold, slots): it demands ``slots`` slots of a
    rate rule of ``limit`` per ``window`` and one place of a cap of ``cap``; it ends ``time in
    flight`` after admission, and ``hold > 0`` ends it as a cancelled request whose place stays
    taken ``hold`` seconds more. Returns each request's (admitted, ended, place freed) times and
    its earliest possible admission (arrival, or the previous admission: first in, first out).
    """
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    in_flight: list[tuple[int, int, Reservation, int]] = []  # (end, seq, reservation, hold)
    schedule: list[tuple[int, int, int]] = []
    earliest: list[int] = []
    arrival = previous = 0

    def complete_until(t: float) -> None:
        while in_flight and in_flight[0][0] <= t:
            end, _, reservation, hold = heapq.heappop(in_flight)
            clock.at = float(end)
            backend.release_now(reservation, sent=True, hold=float(hold))

    for seq, (gap, duration, hold, slots) in enumerate(requests):
        demands = (*[Demand(RATE, limit, float(window))] * slots, Demand(CAP_KEY, cap, 0.0))
        arrival += gap
        t: float = max(arrival, previous)
        earliest.append(int(t))
        while True:
            complete_until(t)
            clock.at = t
            got = backend.try_acquire(demands)
            if isinstance(got, Reservation):
                break
            # A refusal took nothing, in any log.
            assert backend.inflight(CAP_KEY) == len(in_flight)
            assert backend.inflight(RATE) == sum(len(r.demands) - 1 for _, _, r, _ in in_flight)
            next_end = in_flight[0][0] if in_flight else INF
            assert got < INF or in_flight, "an infinite wait needs a request in flight"
            t = min(t + got, next_end)
        assert t == int(t)
        heapq.heappush(in_flight, (int(t) + duration, seq, got, hold))
        schedule.append((int(t), int(t) + duration, int(t) + duration + hold))
        previous = int(t)
    return schedule, earliest


requests_strategy = st.lists(
    st.tuples(st.integers(0, 30), st.integers(0, 40), st.integers(0, 30), st.integers(1, 3)),
    min_size=1,
    max_size=40,
)
limits_strategy = {
    "limit": st.integers(3, 6),
    "window": st.integers(1, 60),
    "cap": st.integers(1, 4),
}


@settings(max_examples=300, deadline=None)
@given(**limits_strategy, requests=requests_strategy)
def test_never_more_than_limit_in_any_window(
    limit: int, window: int, cap: int, requests: list[tuple[int, int, int, int]]
) -> None:
    schedule, _ = simulate(limit, window, cap, requests)
    slots = [r[3] for r in requests]
    for j, (admitted, _, _) in enumerate(schedule):
        # Counting each request at its end (in flight = now): when a request is admitted, its
        # slots and those of the earlier requests that still count fit in the rule ...
        counted = sum(slots[i] for i in range(j) if schedule[i][1] + window > admitted)
        assert counted + slots[j] <= limit
        # ... and fewer than ``cap`` earlier requests are in flight or hold their place.
        holding = [i for i in range(j) if schedule[i][2] > admitted or schedule[i][1] > admitted]
        assert len(holding) < cap


@settings(max_examples=300, deadline=None)
@given(**limits_strategy, requests=requests_strategy)
def test_no_request_waits_longer_than_necessary(
    limit: int, window: int, cap: int, requests: list[tuple[int, int, int, int]]
) -> None:
    schedule, earliest = simulate(limit, window, cap, requests)
    for j, (admitted, _, _) in enumerate(schedule):
        need = requests[j][3]
        # The rule: the moment at most ``limit - need`` earlier slots still count.
        expiries = sorted(
            (e for i in range(j) for e in [schedule[i][1] + window] * requests[i][3]),
            reverse=True,
        )
        rule = expiries[limit - need] if len(expiries) > limit - need else earliest[j]
        # The cap: the moment fewer than ``cap`` earlier requests hold a place.
        frees = sorted((max(schedule[i][1], schedule[i][2]) for i in range(j)), reverse=True)
        place = frees[cap - 1] if len(frees) >= cap else earliest[j]
        assert admitted == max(earliest[j], rule, place)


@settings(max_examples=300, deadline=None)
@given(
    limit=st.integers(1, 5),
    window=st.integers(1, 60),
    entries=st.lists(st.integers(0, 100), max_size=8),
    inflight=st.integers(0, 5),
    ahead=st.integers(0, 8),
    extra=st.integers(0, 100),
)
def test_earliest_is_a_lower_bound_and_exact_when_known(
    limit: int, window: int, entries: list[int], inflight: int, ahead: int, extra: int
) -> None:
    log = SlidingLog(limit, float(window))
    for t in sorted(entries):
        log.inflight += 1
        log.complete(float(t))
    log.inflight += inflight
    now = float(max(entries, default=0))
    ready = log.ready_at(now, ahead)
    least = log.earliest(now, ahead)
    if ready < INF:
        assert least == ready
    assert now <= least <= ready
    # Whatever happens next (answers come, claimants go, as late as they like), the request
    # cannot go before ``least``: replay one such future and check.
    ends = sorted([*log.expiries, *[now + extra + window] * inflight])
    admitted = now
    for _ in range(ahead + 1):  # each claimant, then this request
        index = len(ends) - limit
        admitted = max(admitted, ends[index] if index >= 0 else now)
        ends = sorted([*ends, admitted + extra + window])
    assert admitted >= least


# -- MemoryBackend --------------------------------------------------------------------------

BALANCE = Demand("balance:balance", 2, 60.0)
CAP = Demand("*concurrency", 3, 0.0)


def test_backend_admits_all_demands_or_none() -> None:
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    first = backend.try_acquire((BALANCE, CAP))
    second = backend.try_acquire((BALANCE, CAP))
    assert isinstance(first, Reservation)
    assert isinstance(second, Reservation)
    third = backend.try_acquire((BALANCE, CAP))
    assert third == INF  # two in flight on a rule of two
    # The refusal took no concurrency slot.
    assert backend.inflight(CAP.key) == 2
    other = backend.try_acquire((CAP,))
    assert isinstance(other, Reservation)
    assert backend.try_acquire((CAP,)) == INF  # three in flight: the cap is full
    backend.release_now(other, sent=True)
    clock.at = 1.0
    backend.release_now(first, sent=True)
    clock.at = 2.0
    backend.release_now(second, sent=True)
    assert backend.inflight(CAP.key) == 0
    clock.at = 30.0
    assert backend.try_acquire((BALANCE, CAP)) == 31.0  # 1.0 + 60 - 30
    assert backend.wait_time_now((BALANCE,)) == 31.0
    assert backend.wait_time_now((CAP,)) == 0.0
    # Claims of earlier waiters: one ahead means the second answer (2.0) must age out too.
    assert backend.wait_time_now((BALANCE,), (1,)) == 32.0
    assert backend.wait_time_now((Demand("balance:other", 2, 60.0),), (2,)) == INF
    clock.at = 61.0
    got = backend.try_acquire((BALANCE, CAP), (0, 0))
    assert isinstance(got, Reservation)


def test_backend_unsent_drops_the_entry() -> None:
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    one = Demand("status_batch:batch", 1, 60.0)
    got = backend.try_acquire((one,))
    assert isinstance(got, Reservation)
    backend.release_now(got, sent=False)
    assert isinstance(backend.try_acquire((one,)), Reservation)


@pytest.mark.anyio
async def test_backend_protocol_methods() -> None:
    clock = FakeClock(100.0)
    backend = MemoryBackend(clock=clock)
    one = Demand("jobs_identical:x", 1, 10.0)
    got = await backend.acquire((one,))
    assert isinstance(got, Reservation)
    assert await backend.acquire((one,)) == INF
    assert await backend.wait_time((one,)) == INF
    clock.at = 101.0
    await backend.release(got, sent=True)
    clock.at = 105.0
    assert await backend.wait_time((one,)) == 6.0
    assert await backend.acquire((one,)) == 6.0


def test_memory_stays_bounded_with_many_distinct_keys() -> None:
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    cap = Demand("*concurrency", 14, 0.0)
    window = 1.0
    for i in range(100_000):
        clock.at = i * 1e-3  # a thousand distinct keys live within any one window
        demand = Demand(f"status_message:{i}|79990000000", 5, window)
        got = backend.try_acquire((demand, cap))
        assert isinstance(got, Reservation)
        backend.release_now(got, sent=True)
    # About one window's worth of keys (+ the cap's log), not 100 000.
    assert len(backend) <= 1_000 + 10
    # Keys that aged out were really dropped, and a live one is still exact.
    assert backend.log("status_message:0|79990000000") is None
    live = backend.log("status_message:99999|79990000000")
    assert live is not None
    assert len(live) == 1


def test_busy_log_is_not_dropped() -> None:
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    busy = Demand("balance:balance", 10, 1.0)
    held = backend.try_acquire((busy,))
    assert isinstance(held, Reservation)
    for i in range(5_000):
        clock.at = i * 1e-2
        got = backend.try_acquire((Demand(f"x:{i}", 1, 1.0),))
        assert isinstance(got, Reservation)
        backend.release_now(got, sent=True)
    assert backend.inflight("balance:balance") == 1
    backend.release_now(held, sent=True)
    assert len(backend.log("balance:balance") or ()) == 1


def test_a_repeated_key_takes_one_slot_per_occurrence() -> None:
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    pair = Demand("status_message:7|79990000001", 5, 60.0)
    three = backend.try_acquire((pair, pair, pair, CAP))
    assert isinstance(three, Reservation)
    assert backend.inflight(pair.key) == 3
    assert backend.try_acquire((pair, pair, pair, CAP)) == INF  # 3 + 3 > 5: nothing taken
    assert backend.inflight(pair.key) == 3
    assert backend.inflight(CAP.key) == 1
    clock.at = 1.0
    backend.release_now(three, sent=True)
    assert backend.wait_time_now((pair,) * 3) == 60.0
    assert backend.wait_time_now((pair,) * 2) == 0.0
    # Claims ahead count once per key; this request's own occurrences are added to them.
    assert backend.wait_time_now((pair, pair), (1, 1)) == 60.0


def test_a_refused_acquire_leaves_no_new_log_behind() -> None:
    backend = MemoryBackend(clock=FakeClock())
    full = Demand("*concurrency", 1, 0.0)
    held = backend.try_acquire((full,))
    assert isinstance(held, Reservation)
    fresh = Demand("operator_identical:/sys/info.php&phone=79990000001", 3, 60.0)
    assert backend.try_acquire((fresh, full)) == INF
    assert backend.log(fresh.key) is None
    assert len(backend) == 1


def test_a_hold_keeps_the_caps_and_counts_the_rules_from_now() -> None:
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    rule = Demand("balance:balance", 10, 60.0)
    got = backend.try_acquire((rule, CAP))
    assert isinstance(got, Reservation)
    clock.at = 5.0
    backend.release_now(got, sent=False, hold=25.0)  # a hold implies the request may have left
    assert list(backend.log(CAP.key).expiries) == [30.0]  # type: ignore[union-attr]
    assert list(backend.log(rule.key).expiries) == [65.0]  # type: ignore[union-attr]
    for _ in range(2):
        assert isinstance(backend.try_acquire((CAP,)), Reservation)
    assert backend.wait_time_now((CAP,)) == 25.0  # three places: two in flight, one held


def test_a_bare_time_function_is_a_clock_too() -> None:
    at = [5.0]
    backend = MemoryBackend(clock=lambda: at[0])
    one = Demand("jobs_identical:x", 1, 10.0)
    got = backend.try_acquire((one,))
    assert isinstance(got, Reservation)
    backend.release_now(got, sent=True)
    at[0] = 7.0
    assert backend.wait_time_now((one,)) == 8.0


def test_a_bound_log_dropped_by_the_sweep_is_looked_up_again() -> None:
    # The backend binds a demands tuple to its logs; once the sweep drops one of them, the same
    # tuple must count in the live log, not in the dropped one.
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    demands = (Demand("balance:balance", 2, 1.0), CAP)
    cap_first = (CAP, Demand("balance:balance", 2, 1.0))  # the dropped log second
    got = backend.try_acquire(demands)
    assert isinstance(got, Reservation)
    backend.release_now(got, sent=True)
    got = backend.try_acquire(cap_first)
    assert isinstance(got, Reservation)
    backend.release_now(got, sent=False)
    dropped = backend.log("balance:balance")
    for i in range(1, 50):  # other keys go idle later: the sweep reaches the balance log
        clock.at = 1.0 + i * 0.1
        other = backend.try_acquire((Demand(f"x:{i}", 1, 1.0),))
        assert isinstance(other, Reservation)
        backend.release_now(other, sent=True)
    assert backend.log("balance:balance") is None
    first = backend.try_acquire(demands)
    second = backend.try_acquire(demands)
    assert isinstance(first, Reservation)
    assert isinstance(second, Reservation)
    live = backend.log("balance:balance")
    assert live is not None
    assert live is not dropped
    assert live.inflight == 2
    assert backend.try_acquire(demands) == INF  # the rule of two, kept in the live log
    assert backend.try_acquire(cap_first) == INF  # the other binding sees the live log too
    assert backend.inflight(CAP.key) == 2  # and its refusal took no place of the cap
    backend.release_now(first, sent=True)
    backend.release_now(second, sent=False)
    assert list(live.expiries) == [clock.at + 1.0]
    assert backend.inflight(CAP.key) == 0


def test_one_demands_tuple_held_twice_releases_independently() -> None:
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    demands = (BALANCE, CAP)
    one, two = backend.try_acquire(demands), backend.try_acquire(demands)
    assert isinstance(one, Reservation)
    assert isinstance(two, Reservation)
    clock.at = 3.0
    backend.release_now(one, sent=True)
    assert backend.inflight(BALANCE.key) == 1
    assert backend.inflight(CAP.key) == 1
    clock.at = 4.0
    backend.release_now(two, sent=True, hold=2.0)
    assert list(backend.log(BALANCE.key).expiries) == [63.0, 64.0]  # type: ignore[union-attr]
    assert list(backend.log(CAP.key).expiries) == [6.0]  # type: ignore[union-attr]


def test_demands_in_a_list_are_decided_alike() -> None:
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    got = backend.try_acquire([BALANCE, CAP])
    assert isinstance(got, Reservation)
    assert isinstance(backend.try_acquire((BALANCE, CAP)), Reservation)
    assert backend.try_acquire([BALANCE, CAP]) == INF
    backend.release_now(got, sent=False)
    assert backend.inflight(BALANCE.key) == 1


def test_a_refusal_on_a_later_demand_undoes_the_earlier_ones_every_time() -> None:
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    full = Demand("*concurrency", 1, 0.0)
    held = backend.try_acquire((full,))
    assert isinstance(held, Reservation)
    pair = Demand("status_message:7|79990000001", 5, 60.0)
    demands = (pair, pair, full)
    for _ in range(3):  # bound on the first refusal, refused again through the binding
        assert backend.try_acquire(demands) == INF
        assert backend.log(pair.key) is None
    backend.release_now(held, sent=False)
    got = backend.try_acquire(demands)
    assert isinstance(got, Reservation)
    assert backend.inflight(pair.key) == 2


# -- the shortcuts against the general path ----------------------------------------------------


class _Unbound(_Repeats):
    """A binding that never decides on its own: every acquire through it looks closer."""

    __slots__ = ()

    def take(self) -> Reservation | None:
        return None

    def answered(self) -> None:
        self.backend.release_now(self.reservation, sent=True)


class GeneralBackend(MemoryBackend):
    """The memory backend without its shortcuts, as the rule is written in :class:`SlidingLog`.

    Every acquire goes through ``SlidingLog.take`` one log at a time (its bindings never decide,
    so a limiter on it never takes its fast path either), and every release through
    ``SlidingLog.complete``/``cancel``.
    """

    def _binding_for(self, demands: Any, logs: Any) -> Any:
        return _Unbound(self, demands, logs)

    def try_acquire(self, demands: Any, ahead: Any = None) -> Reservation | float:
        if ahead is not None and any(ahead):
            wait = self.wait_time_now(demands, ahead)
            if wait > 0:
                return wait
        return self._take(demands)

    def release_now(self, reservation: Reservation, *, sent: bool, hold: float = 0.0) -> None:
        now = self.clock.now()
        for log in reservation.handle.logs:  # type: ignore[attr-defined]
            if not sent and hold <= 0:
                log.cancel()
                continue
            log.complete(now, hold)
            if log.window:
                self._idle_from(log, log.expiries[-1], now)


# Small numbers, so that expiries, holds and the clock often meet exactly.
RULE_A = Demand("rule:a", 3, 4.0)
RULE_B = Demand("rule:b", 2, 7.0)
STATUS_CAP = Demand("*status", 1, 0.0)
SMALL_CAP = Demand("*concurrency", 2, 0.0)
#: The shapes a request can have: one rate log and the cap (a _Pair), a repeated key, several
#: rate logs, caps only, a rate log alone, a cap before a rate log.
SHAPES = [
    (RULE_A, SMALL_CAP),
    (RULE_B, SMALL_CAP),
    (RULE_A, RULE_A, SMALL_CAP),
    (RULE_A, RULE_B, SMALL_CAP),
    (RULE_B, STATUS_CAP, SMALL_CAP),
    (SMALL_CAP,),
    (RULE_A,),
    (SMALL_CAP, RULE_B),
]

operations = st.lists(
    st.one_of(
        st.tuples(st.just("acquire"), st.integers(0, len(SHAPES) - 1)),
        st.tuples(st.sampled_from(["answer", "unsent"]), st.integers(0, 50)),
        st.tuples(st.just("hold"), st.integers(0, 50), st.integers(1, 10)),
        st.tuples(st.just("advance"), st.integers(0, 8)),
        # The clock going back a little (the code keeps every log in order even then).
        st.tuples(st.just("advance"), st.integers(-2, -1)),
    ),
    max_size=80,
)


def backend_state(backend: MemoryBackend) -> dict[str, Any]:
    """Every log that holds something (and every rate log), and the idle sweep's queues."""
    logs = {
        key: (log.inflight, list(log.expiries), getattr(log, "queued", False))
        for key, log in backend._logs.items()
        # An empty cap's log may exist in one and not yet in the other (caps are kept).
        if log.inflight or log.expiries or log.window
    }
    idle = {w: [(t, log.key) for t, log in q] for w, q in backend._idle.items() if q}
    return {"logs": logs, "idle": idle}


@settings(max_examples=600, deadline=None)
@given(ops=operations)
# A log answered again exactly when its idle entry comes due: the sweep looks at it now.
@example(ops=[("acquire", 0), ("answer", 0), ("advance", 4), ("acquire", 0), ("answer", 0)])
# An answer that comes before the last one's (the clock went back): the log stays in order.
@example(ops=[("acquire", 0), ("answer", 0), ("advance", -1), ("acquire", 0), ("answer", 0)])
def test_the_bindings_decide_and_record_as_the_general_path(ops: list[tuple[Any, ...]]) -> None:
    fast_clock, general_clock = FakeClock(), FakeClock()
    fast, general = MemoryBackend(clock=fast_clock), GeneralBackend(clock=general_clock)
    held: list[tuple[Reservation, Reservation]] = []
    for op in ops:
        kind = op[0]
        if kind == "acquire":
            demands = SHAPES[op[1]]
            one, other = fast.try_acquire(demands), general.try_acquire(demands)
            if isinstance(one, Reservation):
                assert isinstance(other, Reservation)
                assert one.demands == other.demands == demands
                held.append((one, other))
            else:
                assert one == other
        elif kind == "advance":
            fast_clock.at = general_clock.at = fast_clock.at + op[1]
        elif held:
            one, other = held.pop(op[1] % len(held))
            sent = kind != "unsent"
            hold = float(op[2]) if kind == "hold" else 0.0
            fast.release_now(one, sent=sent, hold=hold)
            general.release_now(other, sent=sent, hold=hold)
        assert backend_state(fast) == backend_state(general)
        for demands in SHAPES:
            assert fast.wait_time_now(demands) == general.wait_time_now(demands)


def test_each_shape_has_its_binding() -> None:
    backend = MemoryBackend(clock=FakeClock())
    kinds = {demands: type(backend.bind(demands)) for demands in SHAPES}
    assert kinds[(RULE_A, SMALL_CAP)] is _Pair
    assert kinds[(RULE_A, RULE_A, SMALL_CAP)] is _Repeats
    assert kinds[(RULE_A, RULE_B, SMALL_CAP)] is _Binding
    assert kinds[(SMALL_CAP, RULE_B)] is _Binding  # a cap first: not the pair's shape
    assert backend.bind((RULE_A, SMALL_CAP)) is backend.bind((RULE_A, SMALL_CAP))
