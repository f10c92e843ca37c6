"""The async limiter on virtual time: exact waits, fairness, cancellation, caps, holds, max_wait.

Every test runs under asyncio and trio on virtual time (see ``virtual_anyio_backend`` in
conftest): the clock jumps to the next timer whenever every task is blocked, so the rules are the
gateway's own (one minute, one hour) and every admission time is asserted exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import anyio
import attrs
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsc_async import LimiterWait, LockedOutError, RateLimitedError, Session
from smsc_async._backend import MemoryBackend
from smsc_async._errors import (
    AuthorizationError,
    ConnectError,
    DuplicateSendError,
    ParameterError,
    ProtocolError,
    RequestTimeout,
    TransportError,
)
from smsc_async._limiter import Lease, Limiter
from smsc_async._limits import RateLimits, Rule, Scope, charges_for, fixed_charges
from smsc_async.testing import Emulator

from .test_limiter_core import GeneralBackend, backend_state

pytestmark = pytest.mark.anyio

LIMITS = RateLimits()
W = 60.0  # every one-minute rule's window

BALANCE: tuple[str, dict[str, str]] = ("/sys/balance.php", {})  # 10 per W
BATCH = ("/sys/status.php", {"id": "1,2", "phone": "79990000001"})  # status_batch: 1 per W
INFO: tuple[str, dict[str, str]] = ("/sys/info.php", {})  # only the concurrency caps
OPERATOR = ("/sys/info.php", {"get_operator": "1", "phone": "79990000001"})  # 3 per W


@pytest.fixture
def anyio_backend(virtual_anyio_backend: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    return virtual_anyio_backend


def now() -> float:
    return anyio.current_time()


def jobs(name: str) -> tuple[str, dict[str, str]]:
    """A request on a rule of one identical request per window, keyed by ``name``."""
    return ("/sys/jobs.php", {"get": "1", "name": name})


def send(text: str = "hello", phones: str = "79990000001") -> tuple[str, dict[str, str]]:
    return ("/sys/send.php", {"phones": phones, "mes": text})


def status(pairs: list[tuple[str, str]]) -> tuple[str, dict[str, str]]:
    return (
        "/sys/status.php",
        {"id": ",".join(i for i, _ in pairs), "phone": ",".join(p for _, p in pairs)},
    )


async def pass_through(limiter: Limiter, request: tuple[str, dict[str, str]]) -> float:
    """Take a slot, answer at once; return the admission time."""
    async with limiter.slot(*request):
        return now()


async def fail_inside(
    limiter: Limiter, request: tuple[str, dict[str, str]], error: Exception, after: float = 0
) -> None:
    """Take a slot and fail with ``error`` ``after`` seconds in it."""
    async with limiter.slot(*request):
        await anyio.sleep(after)
        raise error


# -- exact waits -----------------------------------------------------------------------------


async def test_eleventh_balance_waits_exactly_until_the_first_answer_ages_out() -> None:
    limiter = Limiter(LIMITS)
    t0 = now()
    for _ in range(10):
        async with limiter.slot(*BALANCE):
            await anyio.sleep(1)  # answered at t0 + 1, t0 + 2 ... t0 + 10
    assert now() == t0 + 10
    assert await pass_through(limiter, BALANCE) == t0 + 1 + W
    assert await pass_through(limiter, BALANCE) == t0 + 2 + W


async def test_in_flight_counts_until_its_answer() -> None:
    limiter = Limiter(LIMITS)
    async with limiter.slot(*BATCH):
        await anyio.sleep(30)
    answered = now()
    assert await pass_through(limiter, BATCH) == answered + W


async def test_waiter_on_an_in_flight_slot_wakes_on_the_answer() -> None:
    limiter = Limiter(LIMITS)
    admitted: list[float] = []

    async def second() -> None:
        admitted.append(await pass_through(limiter, BATCH))

    async with anyio.create_task_group() as tg:
        async with limiter.slot(*BATCH):
            tg.start_soon(second)
            await anyio.sleep(5)
            assert limiter.waiting() == 1
        answered = now()
    assert admitted == [answered + W]


async def test_hourly_rule() -> None:
    limiter = Limiter(LIMITS)
    path, params = "/sys/get.php", {"get_messages": "1"}
    t0 = now()
    for i in range(30):
        # Different parameters each time so only the hourly rule (30 per hour) binds.
        async with limiter.slot(path, {**params, "cnt": str(i)}):
            pass
        await anyio.sleep(100)
    assert await pass_through(limiter, (path, {**params, "cnt": "x"})) == t0 + 3600


async def test_cost_requests_queue_instead_of_raising() -> None:
    limiter = Limiter(LIMITS)
    cost = ("/sys/send.php", {"phones": "79990000001", "mes": "x", "cost": "1"})
    t0 = now()
    times = [await pass_through(limiter, cost) for _ in range(6)]  # 5 identical per window
    assert times == [t0] * 5 + [t0 + W]


# -- fairness --------------------------------------------------------------------------------


async def test_same_key_is_first_in_first_out() -> None:
    limiter = Limiter(LIMITS)
    admitted: dict[int, float] = {}

    async def one(i: int) -> None:
        admitted[i] = await pass_through(limiter, jobs("report"))

    t0 = now()
    async with anyio.create_task_group() as tg:
        for i in range(5):
            tg.start_soon(one, i)
            await anyio.sleep(1)  # arrive (and queue) in this order
    assert admitted == {i: t0 + i * W for i in range(5)}


async def test_thirty_balance_requests_go_ten_per_window_in_arrival_order() -> None:
    limiter = Limiter(LIMITS)
    admitted: dict[int, float] = {}

    async def one(i: int) -> None:
        admitted[i] = await pass_through(limiter, BALANCE)

    t0 = now()
    async with anyio.create_task_group() as tg:
        for i in range(30):
            tg.start_soon(one, i)
            await anyio.sleep(0)  # noqa: ASYNC115  # arrival order = start order
    assert [admitted[i] for i in range(30)] == [t0 + (i // 10) * W for i in range(30)]


async def test_waiter_on_one_key_does_not_block_another_key() -> None:
    limiter = Limiter(LIMITS)
    await pass_through(limiter, jobs("a"))
    done: list[tuple[str, float]] = []

    async def blocked() -> None:
        done.append(("a", await pass_through(limiter, jobs("a"))))

    t0 = now()
    async with anyio.create_task_group() as tg:
        tg.start_soon(blocked)
        await anyio.sleep(1)
        done.append(("b", await pass_through(limiter, jobs("b"))))
    assert done == [("b", t0 + 1), ("a", t0 + W)]


async def test_a_request_that_fits_by_count_does_not_take_a_claimed_slot() -> None:
    # Message 1 has room for one more request; a batch waiting for its own rule has claimed
    # it. A single status request for message 1 fits by count, and must still wait its turn.
    limiter = Limiter(LIMITS)
    one = status([("1", "79990000001")])
    batch = status([("1", "79990000001"), ("2", "79990000001")])
    t0 = now()
    await pass_through(limiter, batch)  # the batch rule is taken for a window
    for _ in range(3):
        await pass_through(limiter, one)  # message 1: four of its five
    admitted: list[tuple[str, float]] = []

    async def second_batch() -> None:
        admitted.append(("batch", await pass_through(limiter, batch)))

    async with anyio.create_task_group() as tg:
        tg.start_soon(second_batch)
        await anyio.sleep(1)
        assert limiter.waiting() == 1
        admitted.append(("one", await pass_through(limiter, one)))
    # Both fit once message 1's window has passed (in either order at that instant).
    assert sorted(admitted) == [("batch", t0 + W), ("one", t0 + W)]


async def test_claims_leave_room_on_a_shared_rule() -> None:
    # operator_any (100 per minute) is shared; operator_identical (3 per minute) is per number.
    limiter = Limiter(LIMITS)
    for _ in range(3):
        await pass_through(limiter, OPERATOR)
    t0 = now()
    admitted: list[tuple[str, float]] = []

    async def waiter() -> None:
        admitted.append(("same", await pass_through(limiter, OPERATOR)))

    other = ("/sys/info.php", {"get_operator": "1", "phone": "79990000002"})
    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.sleep(1)
        # The waiter claims one of the shared slots; plenty are left for another number.
        admitted.append(("other", await pass_through(limiter, other)))
    assert admitted == [("other", t0 + 1), ("same", t0 + W)]


async def test_cancelled_waiter_gives_its_place_to_the_next() -> None:
    limiter = Limiter(LIMITS)
    t0 = now()
    await pass_through(limiter, BATCH)
    admitted: dict[str, float] = {}

    async def waiter(name: str) -> None:
        admitted[name] = await pass_through(limiter, BATCH)

    async def cancelled() -> None:
        with anyio.move_on_after(10):
            await waiter("cancelled")

    async with anyio.create_task_group() as tg:
        # Queue: first (goes at t0 + W), cancelled, third.
        for task in (partial(waiter, "first"), cancelled, partial(waiter, "third")):
            tg.start_soon(task)
            await anyio.sleep(1)
        assert limiter.waiting() == 3
        await anyio.sleep(10)
        assert limiter.waiting() == 2
    # The third took the cancelled one's place: one window after the first, not two.
    assert admitted == {"first": t0 + W, "third": t0 + 2 * W}


async def test_cancelled_waiter_holds_nothing() -> None:
    limiter = Limiter(LIMITS)
    await pass_through(limiter, BATCH)
    with anyio.move_on_after(10):
        await pass_through(limiter, BATCH)
        pytest.fail("admitted before its window")
    assert limiter.waiting() == 0
    assert not limiter._queues  # every queue it joined is gone


async def test_waiters_behind_a_cancelled_one_all_move_up() -> None:
    limiter = Limiter(LIMITS)
    t0 = now()
    for _ in range(3):
        await pass_through(limiter, OPERATOR)
        await anyio.sleep(10)  # answers at t0, t0 + 10, t0 + 20
    admitted: dict[str, float] = {}

    async def waiter(name: str) -> None:
        admitted[name] = await pass_through(limiter, OPERATOR)

    async def cancelled() -> None:
        with anyio.move_on_after(5):
            await waiter("cancelled")

    async with anyio.create_task_group() as tg:
        for task in (cancelled, partial(waiter, "b"), partial(waiter, "c")):
            tg.start_soon(task)
            await anyio.sleep(1)
        assert limiter.waiting() == 3
    # Both moved up one place: each to the expiry before the one it waited for.
    assert admitted == {"b": t0 + W, "c": t0 + 10 + W}


async def test_waiters_move_up_when_a_request_turns_out_unsent() -> None:
    limiter = Limiter(LIMITS)
    t0 = now()
    for _ in range(2):
        await pass_through(limiter, OPERATOR)
        await anyio.sleep(10)  # answers at t0, t0 + 10
    admitted: dict[str, float] = {}

    async def waiter(name: str) -> None:
        admitted[name] = await pass_through(limiter, OPERATOR)

    async with anyio.create_task_group() as tg:
        async with limiter.slot(*OPERATOR) as lease:  # the third slot, in flight
            for name in ("a", "b", "c"):
                tg.start_soon(waiter, name)
                await anyio.sleep(1)
            # a waits for t0 + W, b for t0 + 10 + W, c for an answer.
            assert limiter.waiting() == 3
            lease.unsent()
        unsent = now()
    assert admitted == {"a": unsent, "b": t0 + W, "c": t0 + 10 + W}


# -- concurrency caps ------------------------------------------------------------------------


async def test_global_concurrency_cap() -> None:
    limiter = Limiter(LIMITS)
    started: list[float] = []

    async def one() -> None:
        async with limiter.slot(*INFO):
            started.append(now())
            await anyio.sleep(1)

    t0 = now()
    async with anyio.create_task_group() as tg:
        for _ in range(40):
            tg.start_soon(one)
    assert started == [t0] * 14 + [t0 + 1] * 14 + [t0 + 2] * 12


async def test_waiters_on_the_cap_are_not_woken_by_every_answer() -> None:
    # 60 balance requests against the cap of 14 on a rule that never binds: each answer should
    # wake about one waiter (the next in line for the cap), not every waiter queued on the rule.
    limits = attrs.evolve(LIMITS, balance=attrs.evolve(LIMITS.balance, limit=10**6))
    backend = MemoryBackend()
    attempts = 0
    acquire = backend.acquire

    async def counting_acquire(*args: Any, **kwargs: Any) -> Any:
        nonlocal attempts
        attempts += 1
        return await acquire(*args, **kwargs)

    backend.acquire = counting_acquire  # type: ignore[method-assign]
    limiter = Limiter(limits, backend=backend)

    async def one(i: int) -> None:
        async with limiter.slot("/sys/balance.php", {"cur": "1"}):
            await anyio.sleep(1 + i / 64)  # answers one at a time

    async with anyio.create_task_group() as tg:
        for i in range(60):
            tg.start_soon(one, i)
    # Each of the 46 queued requests tries once on arrival, once when it claims the cap, and
    # about once when woken; a herd would be ~46 tries per answer.
    assert attempts <= 4 * 46


async def test_status_concurrency_cap_and_its_share_of_the_global_one() -> None:
    limiter = Limiter(LIMITS)
    status_started: list[float] = []
    info_started: list[float] = []

    async def one_status(i: int) -> None:
        async with limiter.slot("/sys/status.php", {"id": str(i), "phone": "79990000001"}):
            status_started.append(now())
            await anyio.sleep(10)

    async def info() -> None:
        async with limiter.slot(*INFO):
            info_started.append(now())
            await anyio.sleep(1)

    t0 = now()
    async with anyio.create_task_group() as tg:
        for i in range(12):
            tg.start_soon(one_status, i)
        await anyio.sleep(1)
        for _ in range(10):
            tg.start_soon(info)
    assert status_started == [t0] * 4 + [t0 + 10] * 4 + [t0 + 20] * 4
    # Requests outside the status group were not queued behind waiting status requests.
    assert info_started == [t0 + 1] * 10


async def test_request_waiting_for_its_rule_does_not_hold_a_concurrency_place() -> None:
    limiter = Limiter(attrs.evolve(LIMITS, concurrency=2))
    await pass_through(limiter, BATCH)

    async def blocked() -> None:
        await pass_through(limiter, BATCH)

    async with anyio.create_task_group() as tg:
        tg.start_soon(blocked)
        tg.start_soon(blocked)
        await anyio.sleep(1)
        start = now()
        async with limiter.slot(*INFO), limiter.slot(*INFO):
            assert now() == start
        tg.cancel_scope.cancel()


# -- sends -----------------------------------------------------------------------------------


async def test_identical_send_raises_at_once() -> None:
    limiter = Limiter(LIMITS)
    await pass_through(limiter, send("secret text"))
    await anyio.sleep(20)
    start = now()
    with pytest.raises(DuplicateSendError) as caught:
        # Same numbers in another order and separator: still identical.
        await pass_through(limiter, send("secret text", phones="+79990000001"))
    assert now() == start  # raised, not queued
    assert caught.value.retry_after == W - 20
    assert "secret" not in str(caught.value)
    assert "79990000001" not in str(caught.value)
    # Another text goes at once.
    assert await pass_through(limiter, send("other text")) == start


async def test_identical_send_while_the_first_is_in_flight() -> None:
    limiter = Limiter(LIMITS)
    async with limiter.slot(*send()):
        with pytest.raises(DuplicateSendError) as caught:
            await pass_through(limiter, send())
        # It will count for a whole window from its answer, which has not come yet.
        assert caught.value.retry_after == W


async def test_identical_send_goes_exactly_one_window_after_the_answer() -> None:
    limiter = Limiter(LIMITS)
    t0 = await pass_through(limiter, send())
    await anyio.sleep(W - 1)
    with pytest.raises(DuplicateSendError) as caught:
        await pass_through(limiter, send())
    assert caught.value.retry_after == 1
    await anyio.sleep(1)
    assert await pass_through(limiter, send()) == t0 + W


# -- what counts as sent ---------------------------------------------------------------------


async def test_unsent_and_refused_requests_free_their_slot() -> None:
    limiter = Limiter(LIMITS)
    start = now()
    async with limiter.slot(*BATCH) as lease:
        lease.unsent()
    async with limiter.slot(*BATCH) as lease:
        lease.refused()
    assert await pass_through(limiter, BATCH) == start


@pytest.mark.parametrize(
    "error",
    [
        ConnectError("no route", endpoint="status"),
        httpx.ConnectError("refused"),
        httpx.PoolTimeout("no connection"),
    ],
)
async def test_errors_that_prove_nothing_left_free_the_slot(error: Exception) -> None:
    limiter = Limiter(LIMITS)
    with pytest.raises(type(error)):
        async with limiter.slot(*BATCH):
            raise error
    timeout = RequestTimeout("connect", endpoint="status")
    timeout.__cause__ = httpx.ConnectTimeout("slow")
    with pytest.raises(RequestTimeout):
        async with limiter.slot(*BATCH):
            raise timeout
    start = now()
    assert await pass_through(limiter, BATCH) == start


@pytest.mark.parametrize(
    "error", [RequestTimeout("read", endpoint="status"), RuntimeError("decode failed")]
)
async def test_other_errors_count_the_request(error: Exception) -> None:
    limiter = Limiter(LIMITS)
    with pytest.raises(type(error)):
        await fail_inside(limiter, BATCH, error, after=3)
    answered = now()
    assert await pass_through(limiter, BATCH) == answered + W


async def test_cancelled_request_counts() -> None:
    limiter = Limiter(LIMITS)
    with anyio.move_on_after(3):
        async with limiter.slot(*BATCH):
            await anyio.sleep_forever()  # the POST, cancelled while the gateway may have it
    cancelled = now()
    assert await pass_through(limiter, BATCH) == cancelled + W


async def test_lease_cannot_be_entered_twice() -> None:
    limiter = Limiter(LIMITS)
    lease = limiter.slot(*INFO)
    async with lease:
        with pytest.raises(RuntimeError):
            await lease.__aenter__()


# -- concurrency places follow the gateway ---------------------------------------------------


async def test_cancelled_requests_keep_their_places_until_their_deadline() -> None:
    limiter = Limiter(LIMITS)
    t0 = now()

    async def stuck() -> None:
        async with limiter.slot(*INFO, deadline=t0 + 30):
            await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        for _ in range(14):
            tg.start_soon(stuck)
        await anyio.sleep(5)
        tg.cancel_scope.cancel()  # 14 requests in flight, cancelled at t0 + 5
    assert now() == t0 + 5
    # The gateway may be at work on all 14 until t0 + 30: the 15th waits exactly that long.
    assert await pass_through(limiter, INFO) == t0 + 30


async def test_timed_out_request_holds_until_admission_plus_request_timeout() -> None:
    limiter = Limiter(LIMITS, request_timeout=20)
    t0 = now()
    for _ in range(13):
        await pass_through(limiter, INFO)

    async def timed_out() -> None:
        with pytest.raises(RequestTimeout):
            await fail_inside(limiter, INFO, RequestTimeout("read", endpoint="info"), after=4)

    async with anyio.create_task_group() as tg:
        for _ in range(14):
            tg.start_soon(timed_out)
    assert now() == t0 + 4
    assert await pass_through(limiter, INFO) == t0 + 20


async def test_an_explicit_deadline_wins_over_the_request_timeout() -> None:
    limiter = Limiter(attrs.evolve(LIMITS, concurrency=1), request_timeout=20)
    t0 = now()
    with anyio.move_on_after(1):
        async with limiter.slot(*INFO, deadline=t0 + 7):
            await anyio.sleep_forever()
    assert await pass_through(limiter, INFO) == t0 + 7


@pytest.mark.parametrize(
    "error",
    [
        ConnectError("no route", endpoint="info"),  # certainly never left
        ParameterError(1, "bad", endpoint="info"),  # the gateway answered
        ProtocolError("garbled", endpoint="info"),  # the gateway answered
    ],
)
async def test_requests_the_gateway_is_done_with_free_their_places_at_once(
    error: Exception,
) -> None:
    limiter = Limiter(LIMITS, request_timeout=20)
    t0 = now()

    async def failing() -> None:
        with pytest.raises(type(error)):
            await fail_inside(limiter, INFO, error, after=4)

    async with anyio.create_task_group() as tg:
        for _ in range(14):
            tg.start_soon(failing)
    assert await pass_through(limiter, INFO) == t0 + 4


async def test_a_dropped_connection_holds_the_place_too() -> None:
    limiter = Limiter(attrs.evolve(LIMITS, concurrency=1), request_timeout=20)
    t0 = now()
    with pytest.raises(TransportError):
        async with limiter.slot(*INFO):
            raise TransportError("reset", endpoint="info")
    assert await pass_through(limiter, INFO) == t0 + 20


def emulated(**kwargs: Any) -> httpx.ASGITransport:
    """The strict emulator in-process, on the loop's (virtual) clock and the gateway's rules."""
    return httpx.ASGITransport(app=Emulator(clock=anyio.current_time, **kwargs))


async def test_session_holds_places_of_cancelled_requests_for_its_timeout() -> None:
    async with Session(
        "demo", "demo", base_url="http://127.0.0.1", transport=emulated(latency=100), timeout=25
    ) as smsc:
        t0 = now()
        async with anyio.create_task_group() as tg:
            for i in range(14):
                tg.start_soon(smsc.operator_info, f"7999000{i:04d}")
            await anyio.sleep(5)
            tg.cancel_scope.cancel()  # all 14 are at the gateway, which is still at work
        assert await pass_through(smsc._limiter, INFO) == t0 + 25


async def test_repeated_keys_each_take_a_slot() -> None:
    limiter = Limiter(LIMITS)
    pair = ("7", "79990000001")
    t0 = now()
    assert await pass_through(limiter, status([pair] * 5)) == t0
    # All five slots of that message's rule are spent: the next look at it waits a window.
    assert await pass_through(limiter, ("/sys/status.php", {"id": "7", "phone": pair[1]})) == t0 + W


async def test_repeated_keys_wait_for_room_for_all_of_them() -> None:
    limiter = Limiter(LIMITS)
    pair = ("7", "79990000001")
    t0 = now()
    for _ in range(4):
        await pass_through(limiter, ("/sys/status.php", {"id": "7", "phone": pair[1]}))
        await anyio.sleep(1)  # answers at t0 .. t0 + 3
    # Three slots are needed and one is free: the two oldest answers must age out first.
    assert await pass_through(limiter, status([pair, pair, ("8", pair[1]), pair])) == t0 + 1 + W


async def test_a_request_that_could_never_be_admitted_raises_value_error() -> None:
    limiter = Limiter(LIMITS)
    start = now()
    with pytest.raises(ValueError, match="status_message") as caught:
        await pass_through(limiter, status([("7", "79990000001")] * 6))
    assert "79990000001" not in str(caught.value)
    assert now() == start
    assert not limiter._queues
    assert limiter.backend.log("status_message:7|79990000001") is None  # type: ignore[attr-defined]


# -- max_wait --------------------------------------------------------------------------------


async def test_max_wait_raises_at_once_with_retry_after_and_rule() -> None:
    limiter = Limiter(LIMITS)
    t0 = now()
    for _ in range(10):
        await pass_through(limiter, BALANCE)
    await anyio.sleep(15)
    with pytest.raises(RateLimitedError) as caught:
        async with limiter.slot(*BALANCE, max_wait=44):
            pytest.fail("admitted")
    assert now() == t0 + 15  # at once
    assert caught.value.retry_after == W - 15
    assert caught.value.rule == "balance"
    assert not limiter._queues  # it took nothing
    # A longer bound waits, exactly as long as needed.
    async with limiter.slot(*BALANCE, max_wait=45):
        assert now() == t0 + W


async def test_max_wait_zero_admits_only_at_once() -> None:
    limiter = Limiter(LIMITS)
    start = now()
    async with limiter.slot(*BATCH, max_wait=0):
        pass
    with pytest.raises(RateLimitedError) as caught:
        async with limiter.slot(*BATCH, max_wait=0):
            pass
    assert (caught.value.retry_after, caught.value.rule) == (W, "status_batch")
    assert now() == start


async def test_max_wait_counts_the_queue_ahead() -> None:
    limiter = Limiter(LIMITS)
    await pass_through(limiter, jobs("x"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(pass_through, limiter, jobs("x"))  # goes at t0 + W
        await anyio.sleep(1)
        with pytest.raises(RateLimitedError) as caught:
            async with limiter.slot(*jobs("x"), max_wait=100):
                pass
        assert caught.value.retry_after == 2 * W - 1
        assert caught.value.rule == "jobs_identical"


async def test_max_wait_on_a_full_cap_waits_for_answers_at_most_that_long() -> None:
    limiter = Limiter(attrs.evolve(LIMITS, concurrency=1))
    t0 = now()
    async with anyio.create_task_group() as tg:

        async def hold(seconds: float) -> None:
            async with limiter.slot(*INFO):
                await anyio.sleep(seconds)

        tg.start_soon(hold, 8)
        await anyio.sleep(1)
        with pytest.raises(RateLimitedError) as caught:
            async with limiter.slot(*INFO, max_wait=5):
                pass
        assert now() == t0 + 6
        assert caught.value.retry_after == float("inf")
        assert caught.value.rule == "concurrency"
        # An answer within the bound admits it.
        async with limiter.slot(*INFO, max_wait=5):
            assert now() == t0 + 8


async def test_max_wait_on_held_places_is_known_at_once() -> None:
    limiter = Limiter(attrs.evolve(LIMITS, concurrency=1))
    t0 = now()
    with anyio.move_on_after(1):
        async with limiter.slot(*INFO, deadline=t0 + 30):
            await anyio.sleep_forever()
    with pytest.raises(RateLimitedError) as caught:
        async with limiter.slot(*INFO, max_wait=10):
            pass
    assert now() == t0 + 1
    assert caught.value.retry_after == 29
    assert caught.value.rule == "concurrency"


async def test_session_max_wait_and_with_options() -> None:
    async with Session(
        "demo", "demo", base_url="http://127.0.0.1", transport=emulated(), max_wait=10
    ) as smsc:
        t0 = now()
        for _ in range(10):
            await smsc.balance()
        with pytest.raises(RateLimitedError) as caught:
            await smsc.balance()
        assert (caught.value.retry_after, caught.value.rule) == (W, "balance")
        assert now() == t0
        patient = smsc.with_options(max_wait=None)
        assert patient._limiter is smsc._limiter
        assert patient._client is smsc._client
        await patient.balance()
        assert now() == t0 + W
        assert smsc._max_wait == 10
        for _ in range(9):
            await smsc.with_options(max_wait=0).balance()
        with pytest.raises(RateLimitedError) as caught:
            await smsc.with_options(max_wait=0).balance()
        assert caught.value.retry_after == W
        assert now() == t0 + W
        with pytest.raises(ValueError, match="max_wait"):
            smsc.with_options(max_wait=-1)
    assert patient._closed  # closing one closes the copies too


async def test_with_options_reaches_the_namespaces_too() -> None:
    async with Session("demo", "demo", base_url="http://127.0.0.1", transport=emulated()) as smsc:
        for _ in range(3):
            await smsc.senders.list()  # 3 identical a minute
        t0 = now()
        with pytest.raises(RateLimitedError) as caught:
            await smsc.with_options(max_wait=0).senders.list()
        assert caught.value.rule == "senders_list_identical"
        await smsc.senders.list()  # the original still waits
        assert now() == t0 + W


@pytest.mark.parametrize("bad", [-1, float("nan"), "5", True])
def test_max_wait_is_checked(bad: Any) -> None:
    with pytest.raises((ValueError, TypeError), match="max_wait"):
        Session("demo", "demo", max_wait=bad)


async def test_with_options_copies_share_the_lockout_state() -> None:
    emulator = Emulator(clock=anyio.current_time)
    transport = httpx.ASGITransport(app=emulator)
    async with Session("demo", "wrong", base_url="http://127.0.0.1", transport=transport) as smsc:
        with pytest.raises(AuthorizationError):
            await smsc.with_options(max_wait=1).balance()
        with pytest.raises(LockedOutError):
            await smsc.balance()  # the original knows what its copy learned
    assert emulator.stats.requests["/sys/balance.php"] == 1


# -- events and logs -------------------------------------------------------------------------


async def test_limiter_wait_events_and_info_log(caplog: pytest.LogCaptureFixture) -> None:
    events: list[Any] = []
    limiter = Limiter(LIMITS, on_event=events.append)
    for _ in range(10):
        await pass_through(limiter, BALANCE)
    await anyio.sleep(20)
    with caplog.at_level(logging.INFO, logger="smsc_async"):
        async with limiter.slot(*BALANCE, name="balance"):
            pass
        await pass_through(limiter, OPERATOR)
    assert events == [
        LimiterWait(
            endpoint="balance", rule="balance", limit=10, window=W, seconds=W - 20, queued=1
        )
    ]
    (record,) = caplog.records
    assert record.getMessage() == (
        "balance: waiting 40.0 s for the rule balance (10 per 60 s); 1 queued for it"
    )


async def test_every_sleep_is_an_event_though_the_log_tells_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[Any] = []
    limiter = Limiter(LIMITS, on_event=events.append)
    t0 = now()
    for _ in range(3):
        await pass_through(limiter, OPERATOR)
        await anyio.sleep(10)  # answers at t0, t0 + 10, t0 + 20: slots free at +60, +70, +80
    assert now() == t0 + 30

    async def cancelled() -> None:
        with anyio.move_on_after(5):
            await pass_through(limiter, OPERATOR)

    with caplog.at_level(logging.INFO, logger="smsc_async"):
        async with anyio.create_task_group() as tg:
            tg.start_soon(cancelled)  # waits 30 s for the slot of t0 + 60; gives up at t0 + 35
            await anyio.sleep(1)
            tg.start_soon(pass_through, limiter, OPERATOR)  # behind it: 39 s, then 25 s
    assert [e.seconds for e in events] == [30.0, 39.0, 25.0]
    assert len(caplog.records) == 2  # one line per request


async def test_short_waits_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    events: list[Any] = []
    limiter = Limiter(LIMITS, on_event=events.append)
    pair = ("7", "79990000001")
    for _ in range(5):
        await pass_through(limiter, status([pair]))
    await anyio.sleep(W - 2)
    with caplog.at_level(logging.INFO, logger="smsc_async"):
        async with limiter.slot(*status([pair]), name="status"):
            pass
    assert [(e.rule, e.seconds, e.queued) for e in events] == [("status_message", 2.0, 1)]
    assert not caplog.records


async def test_cap_waits_are_events_with_an_unknown_length() -> None:
    events: list[Any] = []
    limiter = Limiter(attrs.evolve(LIMITS, concurrency=1), on_event=events.append)
    async with anyio.create_task_group() as tg, limiter.slot(*INFO):
        tg.start_soon(pass_through, limiter, INFO)
        await anyio.sleep(1)
    assert [(e.rule, e.limit, e.window, e.seconds) for e in events] == [
        ("concurrency", 1, 0.0, float("inf"))
    ]


async def test_a_failing_hook_is_logged_and_dropped(caplog: pytest.LogCaptureFixture) -> None:
    def hook(event: Any) -> None:
        raise RuntimeError("boom")

    limiter = Limiter(LIMITS, on_event=hook)
    t0 = await pass_through(limiter, BATCH)
    with caplog.at_level(logging.ERROR, logger="smsc_async"):
        assert await pass_through(limiter, BATCH) == t0 + W
    assert "on_event" in caplog.text


# -- one clock -------------------------------------------------------------------------------


class RecordingClock:
    """The loop's clock, recording every sleep the limiter asks of it."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def now(self) -> float:
        return anyio.current_time()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await anyio.sleep(seconds)

    def jitter(self, high: float) -> float:
        return 0.0


async def test_the_limiter_sleeps_on_its_clock() -> None:
    clock = RecordingClock()
    limiter = Limiter(LIMITS, clock=clock)
    assert limiter.clock is clock
    assert limiter.backend.clock is clock  # type: ignore[attr-defined]
    for _ in range(10):
        await pass_through(limiter, BALANCE)
        await anyio.sleep(1)
    await anyio.sleep(20)
    await pass_through(limiter, BALANCE)
    assert clock.sleeps == [W - 30]


def test_the_session_hands_its_clock_to_the_limiter() -> None:
    clock = RecordingClock()
    smsc = Session("demo", "demo", clock=clock)
    assert smsc._limiter.clock is clock
    assert smsc._limiter.backend.clock is clock  # type: ignore[attr-defined]


async def test_generic_backend_path() -> None:
    """The limiter through the protocol's async methods only (as a Redis backend would be)."""

    class Wrapped:
        def __init__(self, inner: MemoryBackend) -> None:
            self.inner = inner
            self.calls: list[str] = []

        def __getattr__(self, name: str) -> Callable[..., Awaitable[object]]:
            self.calls.append(name)
            return getattr(self.inner, name)  # type: ignore[no-any-return]

    wrapped = Wrapped(MemoryBackend())
    limiter = Limiter(LIMITS, backend=wrapped, request_timeout=20)  # type: ignore[arg-type]
    t0 = await pass_through(limiter, BATCH)
    assert await pass_through(limiter, BATCH) == t0 + W
    async with limiter.slot(*send()) as lease:
        lease.sent()  # its answer is in: nothing to hold
        with pytest.raises(DuplicateSendError):
            await pass_through(limiter, send())
    with anyio.move_on_after(1):
        async with limiter.slot(*jobs("held")):
            await anyio.sleep_forever()
    assert {"acquire", "release", "wait_time"} <= set(wrapped.calls)
    assert wrapped.inner.log("*concurrency") is not None
    assert list(wrapped.inner.log("*concurrency").expiries) == [t0 + W + 20]  # type: ignore[union-attr]


async def test_a_backend_without_hold_frees_the_places_instead_of_failing() -> None:
    class OldBackend:
        """A backend written to the protocol before release() took ``hold``."""

        def __init__(self) -> None:
            self.inner = MemoryBackend()

        async def acquire(self, demands: Any, ahead: Any = None) -> Any:
            return await self.inner.acquire(demands, ahead)

        async def wait_time(self, demands: Any, ahead: Any = None) -> float:
            return await self.inner.wait_time(demands, ahead)

        async def release(self, reservation: Any, *, sent: bool) -> None:
            await self.inner.release(reservation, sent=sent)

    limiter = Limiter(attrs.evolve(LIMITS, concurrency=1), backend=OldBackend())  # type: ignore[arg-type]
    t0 = now()
    with anyio.move_on_after(1):
        async with limiter.slot(*INFO, deadline=t0 + 30):
            await anyio.sleep_forever()
    assert await pass_through(limiter, INFO) == t0 + 1


# -- plans per path ---------------------------------------------------------------------------


def _declared_requests() -> st.SearchStrategy[tuple[str, dict[str, str]]]:
    from smsc_async._endpoints import by_path

    paths = sorted(by_path())
    names = sorted(
        {k for group in by_path().values() for e in group for k, _ in e.selector}
        | {"id", "phone", "phones", "mes", "cur", "fmt", "login"}
    )
    values = st.sampled_from(["1", "0", "7", "79990000001", "7,8", "79990000001,79990000002"])
    return st.tuples(
        st.sampled_from([*paths, "/sys/unknown.php"]),
        st.dictionaries(st.sampled_from(names), values, max_size=5),
    )


@settings(max_examples=400, deadline=None)
@given(request=_declared_requests())
def test_fixed_charges_are_what_charges_for_says_whatever_the_parameters(
    request: tuple[str, dict[str, str]],
) -> None:
    path, params = request
    fixed = fixed_charges(path)
    if fixed is not None:
        assert fixed == charges_for(path, params)
    limiter = Limiter(RateLimits())
    fresh = Limiter(RateLimits())
    # The same plan whether the limiter knew the path already (from other parameters) or not.
    limiter._plan(path, {})
    assert limiter._demands(path, params) == fresh._demands(path, params)


def test_balance_is_planned_once_per_path_and_status_per_request() -> None:
    limiter = Limiter(RateLimits())
    a = limiter._plan("/sys/balance.php", {"cur": "1"})
    assert limiter._plan("/sys/balance.php", {}) is a
    s1 = limiter._plan("/sys/status.php", {"id": "1", "phone": "79990000001"})
    s2 = limiter._plan("/sys/status.php", {"id": "2", "phone": "79990000001"})
    assert s1.demands[0].key != s2.demands[0].key
    assert fixed_charges("/sys/status.php") is None


# -- the fast path against the general one ---------------------------------------------------

_PIN_LIMITS = attrs.evolve(
    LIMITS,
    concurrency=3,
    status_concurrency=2,
    balance=Rule(limit=3, window=10.0),
    status_message=Rule(limit=2, window=12.0, scope=Scope.MESSAGE),
)
#: One request of each shape: a rate log and the cap, the caps alone, a message and both caps,
#: a message asked twice, an identical-send rule, a per-key rule.
_PIN_REQUESTS: list[tuple[str, dict[str, str]]] = [
    BALANCE,
    INFO,
    status([("1", "79990000001")]),
    status([("1", "79990000001"), ("1", "79990000001")]),
    send(),
    jobs("a"),
]
_PIN_EXITS: dict[str, BaseException | None] = {
    "answered": None,
    "unsent": None,
    "refused": None,
    "timed out": RequestTimeout("read", endpoint="x"),  # may have left: holds its places
    "never left": ConnectError("no route", endpoint="x"),
    "gateway error": ParameterError(1, "bad", endpoint="x"),
}
_pin_ops = st.lists(
    st.one_of(
        st.tuples(st.just("enter"), st.integers(0, len(_PIN_REQUESTS) - 1)),
        st.tuples(st.just("exit"), st.integers(0, 20), st.sampled_from(sorted(_PIN_EXITS))),
        st.tuples(st.just("advance"), st.integers(0, 13)),
    ),
    max_size=50,
)


class _StillClock:
    """A clock that moves only when the test moves it (the limiters here never sleep)."""

    def __init__(self) -> None:
        self.at = 0.0

    def now(self) -> float:
        return self.at

    async def sleep(self, seconds: float) -> None:
        raise AssertionError("max_wait=0: nothing waits")

    def jitter(self, high: float) -> float:
        return 0.0


async def _enter(lease: Lease) -> object:
    try:
        await lease.__aenter__()
    except RateLimitedError as exc:
        return ("limited", exc.retry_after, exc.rule)
    except DuplicateSendError as exc:
        return ("duplicate", exc.retry_after)
    return "admitted"


async def _exit(lease: Lease, how: str) -> None:
    if how == "unsent":
        lease.unsent()
    elif how == "refused":
        lease.refused()
    error = _PIN_EXITS[how]
    await lease.__aexit__(type(error) if error else None, error, None)


async def _run_both(ops: list[tuple[Any, ...]]) -> None:
    fast_clock, general_clock = _StillClock(), _StillClock()
    fast_backend = MemoryBackend(clock=fast_clock)
    general_backend = GeneralBackend(clock=general_clock)
    fast = Limiter(_PIN_LIMITS, backend=fast_backend, clock=fast_clock, request_timeout=15)
    general = Limiter(_PIN_LIMITS, backend=general_backend, clock=general_clock, request_timeout=15)
    held: list[tuple[Lease, Lease]] = []
    for op in ops:
        if op[0] == "enter":
            request = _PIN_REQUESTS[op[1]]
            one, other = fast.slot(*request, max_wait=0), general.slot(*request, max_wait=0)
            outcome = await _enter(one)
            assert outcome == await _enter(other)
            if outcome == "admitted":
                held.append((one, other))
        elif op[0] == "advance":
            fast_clock.at = general_clock.at = fast_clock.at + op[1]
        elif held:
            one, other = held.pop(op[1] % len(held))
            await _exit(one, op[2])
            await _exit(other, op[2])
        assert backend_state(fast_backend) == backend_state(general_backend)
        assert fast.waiting() == general.waiting() == 0


@settings(max_examples=150, deadline=None)
@given(ops=_pin_ops)
def test_the_fast_path_admits_and_records_as_the_general_path(ops: list[tuple[Any, ...]]) -> None:
    """Every decision of ``async with slot()`` through the backend's bindings (no await, no
    look-up) against a limiter whose backend decides each one through ``SlidingLog`` alone."""
    for backend in ("asyncio", "trio"):
        anyio.run(_run_both, ops, backend=backend)


async def test_a_plan_binds_its_demands_again_once_the_sweep_dropped_a_log() -> None:
    limiter = Limiter(LIMITS)
    memory = limiter._memory
    assert memory is not None
    await pass_through(limiter, BALANCE)
    plan = limiter._plan(*BALANCE)
    old = plan.binding
    assert old is not None
    await anyio.sleep(W)
    memory._drop(old.logs[0])  # what the sweep does to a log that holds nothing any more
    t = await pass_through(limiter, BALANCE)
    new = plan.binding
    assert new is not None
    assert new is not old
    assert not new.stale()
    assert new.logs[0] is memory.log("balance:balance")
    assert list(memory.log("balance:balance").expiries) == [t + W]  # type: ignore[union-attr]


def test_slot_fills_the_lease_as_its_constructor_does() -> None:
    limiter = Limiter(LIMITS)
    params = {"id": "1"}
    made = limiter.slot("/sys/status.php", params, deadline=5.0, max_wait=2.0, name="status")
    built = Lease(limiter, "/sys/status.php", params, 5.0, 2.0, "status")
    for name in Lease.__slots__:
        assert getattr(made, name) == getattr(built, name), name
