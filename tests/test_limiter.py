"""The async limiter: exact waits, fairness, cancellation, caps and sends, on asyncio and trio."""

from __future__ import annotations

import functools
import math
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any, ParamSpec

import anyio
import anyio.lowlevel
import attrs
import httpx
import pytest

from smsc_async._backend import MemoryBackend, current_time
from smsc_async._errors import ConnectError, DuplicateSendError, RequestTimeout
from smsc_async._limiter import Limiter
from smsc_async._limits import RateLimits

pytestmark = pytest.mark.anyio
P = ParamSpec("P")


def bounded(test: Callable[P, Awaitable[None]]) -> Callable[P, Coroutine[Any, Any, None]]:
    """Fail instead of hanging when a waiter is never woken."""

    @functools.wraps(test)
    async def run(*args: P.args, **kwargs: P.kwargs) -> None:
        with anyio.fail_after(20):
            await test(*args, **kwargs)

    return run


# One-minute rules become 0.3 s: long enough to tell a wait from scheduling noise.
FACTOR = 0.005
LIMITS = RateLimits().scaled(FACTOR)
W = 60.0 * FACTOR
# What the event loop may add on a machine shared with other test runs.
SLACK = 0.15

BALANCE: tuple[str, dict[str, str]] = ("/sys/balance.php", {})
BATCH = ("/sys/status.php", {"id": "1,2", "phone": "79990000001"})  # status_batch: 1 per W
INFO: tuple[str, dict[str, str]] = ("/sys/info.php", {})  # only the concurrency caps


def jobs(name: str) -> tuple[str, dict[str, str]]:
    """A request on a rule of one identical request per window, keyed by ``name``."""
    return ("/sys/jobs.php", {"get": "1", "name": name})


def send(text: str = "hello", phones: str = "79990000001") -> tuple[str, dict[str, str]]:
    return ("/sys/send.php", {"phones": phones, "mes": text})


@bounded
async def test_eleventh_balance_waits_exactly_one_window() -> None:
    limiter = Limiter(LIMITS)
    answered: list[float] = []
    for _ in range(10):
        async with limiter.slot(*BALANCE):
            pass
        answered.append(current_time())
    start = current_time()
    async with limiter.slot(*BALANCE):
        admitted = current_time()
    # Never early (that would be error 9), and not later than scheduling noise.
    assert admitted >= answered[0] + W
    assert admitted - start <= W + SLACK


@bounded
async def test_in_flight_counts_until_its_answer() -> None:
    limiter = Limiter(LIMITS)
    async with limiter.slot(*BATCH):
        await anyio.sleep(W / 2)
    answered = current_time()
    async with limiter.slot(*BATCH):
        admitted = current_time()
    assert admitted >= answered + W
    assert admitted <= answered + W + SLACK


@bounded
async def test_waiter_on_in_flight_slot_wakes_on_the_answer() -> None:
    limiter = Limiter(LIMITS)
    admitted: list[float] = []
    answered: list[float] = []

    async def second() -> None:
        async with limiter.slot(*BATCH):
            admitted.append(current_time())

    async with anyio.create_task_group() as tg:
        async with limiter.slot(*BATCH):
            tg.start_soon(second)
            await anyio.sleep(0.05)
            assert limiter.waiting() == 1
        answered.append(current_time())
    assert answered[0] + W <= admitted[0] <= answered[0] + W + SLACK


@bounded
async def test_same_key_is_first_in_first_out() -> None:
    limiter = Limiter(RateLimits().scaled(0.001))  # one per 60 ms
    order: list[int] = []

    async def one(i: int) -> None:
        async with limiter.slot(*jobs("report")):
            order.append(i)

    async with anyio.create_task_group() as tg:
        for i in range(5):
            tg.start_soon(one, i)
            await anyio.sleep(0.005)  # start (and queue) in this order
    assert order == [0, 1, 2, 3, 4]


@bounded
async def test_many_slots_keep_arrival_order_over_time() -> None:
    limiter = Limiter(RateLimits().scaled(0.002))  # balance: 10 per 120 ms
    admitted: dict[int, float] = {}

    async def one(i: int) -> None:
        async with limiter.slot(*BALANCE):
            admitted[i] = current_time()

    async with anyio.create_task_group() as tg:
        for i in range(30):
            tg.start_soon(one, i)
            await anyio.lowlevel.checkpoint()
    times = [admitted[i] for i in range(30)]
    # Batches of ten, one window apart, in arrival order: no later arrival went earlier.
    batches = [times[k : k + 10] for k in (0, 10, 20)]
    assert max(batches[0]) < min(batches[1])
    assert max(batches[1]) < min(batches[2])


@bounded
async def test_waiter_on_one_key_does_not_block_another_key() -> None:
    limiter = Limiter(LIMITS)
    async with limiter.slot(*jobs("a")):
        pass
    done: list[str] = []

    async def blocked() -> None:
        async with limiter.slot(*jobs("a")):
            done.append("a")

    async with anyio.create_task_group() as tg:
        tg.start_soon(blocked)
        await anyio.sleep(0.01)
        start = current_time()
        async with limiter.slot(*jobs("b")):
            done.append("b")
        assert current_time() - start < SLACK
        # The rule shared by both (none here) and the caps did not hold "b" back.
        assert done == ["b"]
    assert done == ["b", "a"]


@bounded
async def test_claims_leave_room_on_a_shared_rule() -> None:
    # operator_any (100 per minute) is shared; operator_identical (3 per minute) is per number.
    limiter = Limiter(LIMITS)
    path = "/sys/info.php"
    same = {"get_operator": "1", "phone": "79990000001"}
    for _ in range(3):
        async with limiter.slot(path, same):
            pass
    admitted: list[str] = []

    async def waiter() -> None:
        async with limiter.slot(path, same):
            admitted.append("same")

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.sleep(0.01)
        # The waiter claims one of the shared slots; there are plenty left for another number.
        async with limiter.slot(path, {"get_operator": "1", "phone": "79990000002"}):
            admitted.append("other")
        assert admitted == ["other"]
    assert admitted == ["other", "same"]


@bounded
async def test_cancelled_waiter_gives_its_place_to_the_next() -> None:
    limiter = Limiter(LIMITS)
    async with limiter.slot(*BATCH):
        pass
    answered = current_time()
    admitted: dict[str, float] = {}

    async def waiter(name: str) -> None:
        async with limiter.slot(*BATCH):
            admitted[name] = current_time()

    async def cancelled() -> None:
        with anyio.move_on_after(0.02):
            async with limiter.slot(*BATCH):
                admitted["cancelled"] = current_time()

    async with anyio.create_task_group() as tg:
        # Queue: first (goes at answered + W), cancelled, third.
        tg.start_soon(waiter, "first")
        await anyio.sleep(0.005)
        tg.start_soon(cancelled)
        await anyio.sleep(0.005)
        tg.start_soon(waiter, "third")
        await anyio.sleep(0.05)
        assert limiter.waiting() == 2
    assert "cancelled" not in admitted
    assert answered + W <= admitted["first"] <= answered + W + SLACK
    # The third took the cancelled one's place: one window after the first, not two.
    assert admitted["first"] + W <= admitted["third"] <= admitted["first"] + W + SLACK


@bounded
async def test_cancelled_waiter_holds_nothing() -> None:
    limiter = Limiter(LIMITS)
    async with limiter.slot(*BATCH):
        pass
    with anyio.move_on_after(0.02):
        async with limiter.slot(*BATCH):
            pytest.fail("admitted before its window")
    assert limiter.waiting() == 0
    assert not limiter._queues  # every queue it joined is gone


@bounded
async def test_global_concurrency_cap() -> None:
    limiter = Limiter(LIMITS)
    running = 0
    most = 0

    async def one() -> None:
        nonlocal running, most
        async with limiter.slot(*INFO):
            running += 1
            most = max(most, running)
            await anyio.sleep(0.02)
            running -= 1

    async with anyio.create_task_group() as tg:
        for _ in range(40):
            tg.start_soon(one)
    assert most == 14


@bounded
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

    async def one() -> None:
        async with limiter.slot("/sys/balance.php", {"cur": "1"}):
            await anyio.sleep(0.005)

    async with anyio.create_task_group() as tg:
        for _ in range(60):
            tg.start_soon(one)
    # Each of the 46 queued requests tries once on arrival, once when it claims the cap, and
    # about once when woken; a herd would be ~46 tries per answer.
    assert attempts <= 4 * 46


@bounded
async def test_status_concurrency_cap_and_its_share_of_the_global_one() -> None:
    limiter = Limiter(LIMITS)
    status_running = 0
    status_most = 0
    info_started: list[float] = []

    async def status(i: int) -> None:
        nonlocal status_running, status_most
        async with limiter.slot("/sys/status.php", {"id": str(i), "phone": "79990000001"}):
            status_running += 1
            status_most = max(status_most, status_running)
            await anyio.sleep(0.05)
            status_running -= 1

    async def info() -> None:
        async with limiter.slot(*INFO):
            info_started.append(current_time())
            await anyio.sleep(0.01)

    start = current_time()
    async with anyio.create_task_group() as tg:
        for i in range(12):
            tg.start_soon(status, i)
        await anyio.sleep(0.005)
        for _ in range(10):
            tg.start_soon(info)
    assert status_most == 4
    # Requests outside the status group were not queued behind waiting status requests.
    assert max(info_started) - start < 0.05


@bounded
async def test_request_waiting_for_its_rule_does_not_hold_a_concurrency_place() -> None:
    limits = attrs.evolve(LIMITS, concurrency=2)
    limiter = Limiter(limits)
    async with limiter.slot(*BATCH):
        pass

    async def blocked() -> None:
        async with limiter.slot(*BATCH):
            pass

    async with anyio.create_task_group() as tg:
        tg.start_soon(blocked)
        tg.start_soon(blocked)
        await anyio.sleep(0.01)
        start = current_time()
        async with limiter.slot(*INFO), limiter.slot(*INFO):
            assert current_time() - start < SLACK
        tg.cancel_scope.cancel()


@bounded
async def test_identical_send_raises_at_once() -> None:
    limiter = Limiter(LIMITS)
    async with limiter.slot(*send("secret text")):
        pass
    start = current_time()
    with pytest.raises(DuplicateSendError) as caught:
        # Same numbers in another order and separator: still identical.
        async with limiter.slot("/sys/send.php", {"phones": "+79990000001", "mes": "secret text"}):
            pytest.fail("a duplicate send was admitted")
    assert current_time() - start < SLACK  # raised, not queued
    assert 0 < caught.value.retry_after <= W
    assert "secret" not in str(caught.value)
    assert "79990000001" not in str(caught.value)
    # Another text goes at once.
    async with limiter.slot(*send("other text")):
        pass


@bounded
async def test_identical_send_while_the_first_is_in_flight() -> None:
    limiter = Limiter(LIMITS)
    async with limiter.slot(*send()):
        with pytest.raises(DuplicateSendError) as caught:
            async with limiter.slot(*send()):
                pytest.fail("a duplicate send was admitted")
        # It will count for a whole window from its answer, which has not come yet.
        assert caught.value.retry_after == W


@bounded
async def test_identical_send_after_its_window_goes() -> None:
    limiter = Limiter(LIMITS)
    async with limiter.slot(*send()):
        pass
    await anyio.sleep(W + 0.01)
    async with limiter.slot(*send()):
        pass


@bounded
async def test_cost_requests_queue_instead_of_raising() -> None:
    limiter = Limiter(RateLimits().scaled(0.001))
    cost = ("/sys/send.php", {"phones": "79990000001", "mes": "x", "cost": "1"})
    for _ in range(6):  # the sixth waits (5 per window)
        async with limiter.slot(*cost):
            pass


@bounded
async def test_unsent_request_frees_its_slot() -> None:
    limiter = Limiter(LIMITS)
    async with limiter.slot(*BATCH) as lease:
        lease.unsent()
    start = current_time()
    async with limiter.slot(*BATCH) as lease:
        lease.refused()
    async with limiter.slot(*BATCH):
        pass
    assert current_time() - start < SLACK


@pytest.mark.parametrize(
    "error",
    [
        ConnectError("no route", endpoint="status"),
        httpx.ConnectError("refused"),
        httpx.PoolTimeout("no connection"),
    ],
)
@bounded
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
    start = current_time()
    async with limiter.slot(*BATCH):
        pass
    assert current_time() - start < SLACK


@pytest.mark.parametrize(
    "error", [RequestTimeout("read", endpoint="status"), RuntimeError("decode failed")]
)
@bounded
async def test_other_errors_count_the_request(error: Exception) -> None:
    limiter = Limiter(LIMITS)
    with pytest.raises(type(error)):
        async with limiter.slot(*BATCH) as lease:
            raise error
    start = current_time()
    async with limiter.slot(*BATCH) as lease:
        lease.sent()
    assert current_time() - start >= W - 0.01


@bounded
async def test_cancelled_request_counts() -> None:
    limiter = Limiter(LIMITS)
    with anyio.move_on_after(0.01):
        async with limiter.slot(*BATCH):
            await anyio.sleep(1)  # the POST, cancelled while the gateway may have it
    with anyio.move_on_after(W / 2) as scope:
        async with limiter.slot(*BATCH):
            pass
    assert scope.cancelled_caught


@bounded
async def test_lease_cannot_be_entered_twice() -> None:
    limiter = Limiter(LIMITS)
    lease = limiter.slot(*INFO)
    async with lease:
        with pytest.raises(RuntimeError):
            await lease.__aenter__()


# -- a fake clock: the exact waits, to the last digit ----------------------------------------


class FakeTime:
    """A clock that moves only when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if math.isinf(seconds):
            await anyio.sleep_forever()
        self.now += seconds
        await anyio.lowlevel.checkpoint()


def fake_limiter(limits: RateLimits) -> tuple[Limiter, FakeTime]:
    fake = FakeTime()
    return Limiter(limits, clock=fake.clock, sleep=fake.sleep), fake


@bounded
async def test_fake_clock_balance_sleeps_exactly_until_the_oldest_ages_out() -> None:
    limiter, fake = fake_limiter(RateLimits())
    for i in range(10):
        fake.now = 1000.0 + i  # answers at 1000, 1001, ... 1009
        async with limiter.slot(*BALANCE):
            pass
    fake.now = 1030.0
    async with limiter.slot(*BALANCE):
        assert fake.now == 1060.0
    assert fake.sleeps == [30.0]
    async with limiter.slot(*BALANCE):
        assert fake.now == 1061.0
    assert fake.sleeps == [30.0, 1.0]


@bounded
async def test_fake_clock_hourly_rule() -> None:
    limiter, fake = fake_limiter(RateLimits())
    path, params = "/sys/get.php", {"get_messages": "1"}
    for i in range(30):
        # Different parameters each time so only the hourly rule (30 per hour) binds.
        fake.now = 1000.0 + 100 * i
        async with limiter.slot(path, {**params, "cnt": str(i)}):
            pass
    async with limiter.slot(path, {**params, "cnt": "x"}):
        assert fake.now == 1000.0 + 3600.0
    assert fake.sleeps == [3600.0 - 2900.0]


@bounded
async def test_custom_backend_and_sleep_are_used() -> None:
    fake = FakeTime()
    backend = MemoryBackend(clock=fake.clock)
    limiter = Limiter(RateLimits(), backend=backend, sleep=fake.sleep)
    assert limiter.backend is backend
    assert limiter.limits == RateLimits()
    async with limiter.slot(*BATCH):
        pass
    async with limiter.slot(*BATCH):
        assert fake.now == 1060.0
    assert backend.log("status_batch:batch") is not None


@bounded
async def test_generic_backend_path() -> None:
    """The limiter through the protocol's async methods only (as a Redis backend would be)."""

    class Wrapped:
        def __init__(self, inner: MemoryBackend) -> None:
            self.inner = inner
            self.calls: list[str] = []

        def __getattr__(self, name: str) -> Callable[..., Awaitable[object]]:
            self.calls.append(name)
            return getattr(self.inner, name)  # type: ignore[no-any-return]

    fake = FakeTime()
    wrapped = Wrapped(MemoryBackend(clock=fake.clock))
    limiter = Limiter(RateLimits(), backend=wrapped, sleep=fake.sleep)  # type: ignore[arg-type]
    async with limiter.slot(*BATCH):
        pass
    async with limiter.slot(*BATCH):
        assert fake.now == 1060.0
    with pytest.raises(DuplicateSendError):
        async with limiter.slot(*send()), limiter.slot(*send()):
            pass
    assert {"acquire", "release", "wait_time"} <= set(wrapped.calls)


# -- every waiter whose wait got shorter is woken ----------------------------------------------

OPERATOR = ("/sys/info.php", {"get_operator": "1", "phone": "79990000001"})  # 3 per window
WIDE = RateLimits().scaled(0.01)  # one-minute rules become 0.6 s
STEP = 0.15  # between answers: more than the scheduling noise we tolerate below
NOISE = 0.08


async def _answers(limiter: Limiter, count: int) -> list[float]:
    answered = []
    for i in range(count):
        if i:
            await anyio.sleep(STEP)
        async with limiter.slot(*OPERATOR):
            pass
        answered.append(current_time())
    return answered


@bounded
async def test_waiters_behind_a_cancelled_one_all_move_up() -> None:
    limiter = Limiter(WIDE)
    expiry = [t + 0.6 for t in await _answers(limiter, 3)]  # the first is >= 0.3 s away
    admitted: dict[str, float] = {}

    async def waiter(name: str) -> None:
        async with limiter.slot(*OPERATOR):
            admitted[name] = current_time()

    async def cancelled() -> None:
        with anyio.move_on_after(0.1):
            await waiter("cancelled")

    async with anyio.create_task_group() as tg:
        for task in (cancelled, partial(waiter, "b"), partial(waiter, "c")):
            tg.start_soon(task)
            await anyio.sleep(0.01)
        assert limiter.waiting() == 3
    assert "cancelled" not in admitted
    # Both moved up one place: each to the expiry before the one it waited for.
    assert expiry[0] <= admitted["b"] <= expiry[0] + NOISE
    assert expiry[1] <= admitted["c"] <= expiry[1] + NOISE


@bounded
async def test_waiters_move_up_when_a_request_turns_out_unsent() -> None:
    limiter = Limiter(WIDE)
    expiry = [t + 0.6 for t in await _answers(limiter, 2)]
    admitted: dict[str, float] = {}

    async def waiter(name: str) -> None:
        async with limiter.slot(*OPERATOR):
            admitted[name] = current_time()

    async with anyio.create_task_group() as tg:
        async with limiter.slot(*OPERATOR) as lease:  # the third slot, in flight
            for name in ("a", "b", "c"):
                tg.start_soon(waiter, name)
                await anyio.sleep(0.01)
            # a waits for expiry[0], b for expiry[1], c for an answer.
            assert limiter.waiting() == 3
            lease.unsent()
        unsent = current_time()
    assert unsent <= admitted["a"] <= unsent + NOISE
    assert expiry[0] <= admitted["b"] <= expiry[0] + NOISE
    assert expiry[1] <= admitted["c"] <= expiry[1] + NOISE
