"""The pure decision core: sliding-window logs and the memory backend, on literal numbers."""

from __future__ import annotations

import heapq
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsc_async._backend import Demand, MemoryBackend, Reservation, SlidingLog

INF = math.inf


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- SlidingLog: table tests ----------------------------------------------------------------


def test_docstring_walkthrough() -> None:
    log = SlidingLog(limit=2, window=60.0)
    assert log.try_admit(0.0) == 0.0
    log.admit(0.0)
    log.admit(0.0)
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
        log.admit(t)
        log.complete(t)
    for _ in range(inflight):
        log.admit(now)
    assert log.ready_at(now, ahead) == ready_at
    expected_wait = 0.0 if ready_at <= now else ready_at - now
    assert log.try_admit(now, ahead) == expected_wait


def test_cancelled_entry_frees_its_slot_at_once() -> None:
    log = SlidingLog(1, 60.0)
    log.admit(0.0)
    assert log.try_admit(0.0) == INF
    log.cancel()
    assert log.try_admit(0.0) == 0.0
    assert len(log) == 0


def test_completion_from_a_clock_that_went_back_keeps_order() -> None:
    log = SlidingLog(2, 10.0)
    log.admit(0.0)
    log.admit(0.0)
    log.complete(5.0)
    log.complete(3.0)
    assert list(log.expiries) == [13.0, 15.0]
    assert log.ready_at(5.0) == 13.0


# -- SlidingLog: the property ---------------------------------------------------------------


def simulate(
    limit: int, window: int, requests: list[tuple[int, int]]
) -> tuple[list[tuple[int, int]], list[int]]:
    """Run requests (arrival gap, time in flight) first come first served through one log.

    Returns each request's (admitted, answered) times and its earliest possible admission
    (arrival, or the previous admission for first-in first-out).
    """
    log = SlidingLog(limit, float(window))
    in_flight: list[int] = []  # completion times, a heap
    schedule: list[tuple[int, int]] = []
    earliest: list[int] = []
    arrival = 0
    previous = 0
    for gap, duration in requests:
        arrival += gap
        t: float = max(arrival, previous)
        earliest.append(int(t))
        while True:
            while in_flight and in_flight[0] <= t:
                log.complete(float(heapq.heappop(in_flight)))
            wait = log.try_admit(t)
            if wait == 0.0:
                break
            if wait == INF:
                assert in_flight, "an infinite wait needs a request in flight"
                t = in_flight[0]
            else:
                t += wait
        log.admit(t)
        assert t == int(t)
        heapq.heappush(in_flight, int(t) + duration)
        schedule.append((int(t), int(t) + duration))
        previous = int(t)
    return schedule, earliest


requests_strategy = st.lists(
    st.tuples(st.integers(0, 30), st.integers(0, 40)), min_size=1, max_size=40
)


@settings(max_examples=300, deadline=None)
@given(limit=st.integers(1, 5), window=st.integers(1, 60), requests=requests_strategy)
def test_never_more_than_limit_in_any_window(
    limit: int, window: int, requests: list[tuple[int, int]]
) -> None:
    schedule, _ = simulate(limit, window, requests)
    # Counting each request at its answer (in flight = now): when a request is admitted, fewer
    # than ``limit`` earlier ones are in flight or answered less than ``window`` ago.
    for j, (admitted, _) in enumerate(schedule):
        counted = [i for i in range(j) if schedule[i][1] + window > admitted]
        assert len(counted) < limit
    # Hence the gateway, whenever it sees each arrival between admission and answer, never
    # finds ``limit + 1`` of them within a span shorter than ``window``.
    answers = sorted(done for _, done in schedule)
    for i in range(len(answers) - limit):
        assert answers[i + limit] - answers[i] >= window


@settings(max_examples=300, deadline=None)
@given(limit=st.integers(1, 5), window=st.integers(1, 60), requests=requests_strategy)
def test_no_request_waits_longer_than_necessary(
    limit: int, window: int, requests: list[tuple[int, int]]
) -> None:
    schedule, earliest = simulate(limit, window, requests)
    for j, (admitted, _) in enumerate(schedule):
        # The earliest moment at which fewer than ``limit`` earlier requests still count:
        # the ``limit``-th latest expiry (answer + window) among them, if there are that many.
        expiries = sorted((done + window for _, done in schedule[:j]), reverse=True)
        bound = expiries[limit - 1] if len(expiries) >= limit else earliest[j]
        assert admitted == max(earliest[j], bound)


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
    clock.now = 1.0
    backend.release_now(first, sent=True)
    clock.now = 2.0
    backend.release_now(second, sent=True)
    assert backend.inflight(CAP.key) == 0
    clock.now = 30.0
    assert backend.try_acquire((BALANCE, CAP)) == 31.0  # 1.0 + 60 - 30
    assert backend.wait_time_now((BALANCE,)) == 31.0
    assert backend.wait_time_now((CAP,)) == 0.0
    # Claims of earlier waiters: one ahead means the second answer (2.0) must age out too.
    assert backend.wait_time_now((BALANCE,), (1,)) == 32.0
    assert backend.wait_time_now((Demand("balance:other", 2, 60.0),), (2,)) == INF
    clock.now = 61.0
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
    clock.now = 101.0
    await backend.release(got, sent=True)
    clock.now = 105.0
    assert await backend.wait_time((one,)) == 6.0
    assert await backend.acquire((one,)) == 6.0


def test_memory_stays_bounded_with_many_distinct_keys() -> None:
    clock = FakeClock()
    backend = MemoryBackend(clock=clock)
    cap = Demand("*concurrency", 14, 0.0)
    window = 1.0
    for i in range(100_000):
        clock.now = i * 1e-3  # a thousand distinct keys live within any one window
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
        clock.now = i * 1e-2
        got = backend.try_acquire((Demand(f"x:{i}", 1, 1.0),))
        assert isinstance(got, Reservation)
        backend.release_now(got, sent=True)
    assert backend.inflight("balance:balance") == 1
    backend.release_now(held, sent=True)
    assert len(backend.log("balance:balance") or ()) == 1
