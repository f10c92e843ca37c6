"""The retry policy: exactly the waits its docstring states, on the session clock (virtual time)."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from smsc_async import (
    ConnectError,
    InsufficientFundsError,
    ProtocolError,
    RequestTimeout,
    RetryPolicy,
    Session,
    SMSCError,
    TooManyRequestsError,
    TransportError,
)
from smsc_async._endpoints._base import Kind
from smsc_async.testing import Emulator, Fault

pytestmark = pytest.mark.anyio

PHONE = "79161234567"


@pytest.fixture
def anyio_backend(virtual_anyio_backend: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    return virtual_anyio_backend


class SteadyClock:
    """The loop's clock with a fixed jitter draw, recording every sleep asked of it."""

    def __init__(self, draw: float = 0.25) -> None:
        self.draw = draw
        self.sleeps: list[float] = []
        self.jitters: list[float] = []

    def now(self) -> float:
        return anyio.current_time()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await anyio.sleep(seconds)

    def jitter(self, high: float) -> float:
        self.jitters.append(high)
        return self.draw * high


def session(emulator: Emulator, **kwargs: Any) -> Session:
    return Session(
        "demo",
        "demo",
        base_url="http://127.0.0.1",
        transport=httpx.ASGITransport(app=emulator),
        **kwargs,
    )


# -- the waits -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "waits"),
    [
        (RetryPolicy(), [1.0, 2.0, 4.0]),
        (RetryPolicy(attempts=6, initial=1.0, max_wait=5.0), [1.0, 2.0, 4.0, 5.0, 5.0]),
        (RetryPolicy(attempts=5, initial=0.5, max_wait=3.0), [0.5, 1.0, 2.0, 3.0]),
        (RetryPolicy(attempts=1), []),
        (RetryPolicy(attempts=3, initial=0.0), [0.0, 0.0]),
    ],
)
def test_waits_double_from_initial_up_to_max_wait(policy: RetryPolicy, waits: list[float]) -> None:
    assert list(policy.waits()) == waits


async def test_error_9_is_retried_after_exactly_the_documented_waits() -> None:
    emulator = Emulator(clock=anyio.current_time)
    emulator.inject(Fault(kind="error", error_code=9, path="/sys/balance.php", times=None))
    clock = SteadyClock()
    policy = RetryPolicy(attempts=4, initial=1.0, max_wait=30.0, jitter=2.0)
    async with session(emulator, clock=clock, retry=policy) as smsc:
        t0 = anyio.current_time()
        with pytest.raises(TooManyRequestsError):
            await smsc.balance()
        # initial, 2 x initial, 4 x initial, each plus clock.jitter(2.0) (= 0.5 here).
        assert clock.sleeps == [1.5, 2.5, 4.5]
        assert clock.jitters == [2.0, 2.0, 2.0]
        assert anyio.current_time() == t0 + 8.5
    assert emulator.stats.requests["/sys/balance.php"] == 4


async def test_a_retry_that_succeeds_stops_there() -> None:
    emulator = Emulator(clock=anyio.current_time)
    emulator.inject(Fault(kind="error", error_code=9, path="/sys/send.php", times=2))
    clock = SteadyClock(draw=0.0)
    async with session(emulator, clock=clock) as smsc:
        sent = await smsc.send(PHONE, "hello")
    assert sent.cnt == 1
    assert clock.sleeps == [1.0, 2.0]
    assert emulator.stats.requests["/sys/send.php"] == 3
    assert emulator.stats.sms == 1


async def test_max_wait_caps_every_wait() -> None:
    emulator = Emulator(clock=anyio.current_time)
    emulator.inject(Fault(kind="error", error_code=9, path="/sys/balance.php", times=None))
    clock = SteadyClock(draw=0.0)
    policy = RetryPolicy(attempts=5, initial=3.0, max_wait=7.0, jitter=0.0)
    async with session(emulator, clock=clock, retry=policy) as smsc:
        with pytest.raises(TooManyRequestsError):
            await smsc.balance()
    assert clock.sleeps == [3.0, 6.0, 7.0, 7.0]


# -- which failures are retried --------------------------------------------------------------


async def test_a_read_is_retried_after_a_dropped_connection() -> None:
    emulator = Emulator(clock=anyio.current_time)
    emulator.inject(Fault(kind="drop", path="/sys/balance.php"))
    clock = SteadyClock(draw=0.0)
    async with session(emulator, clock=clock) as smsc:
        balance = await smsc.balance()
    assert balance.balance > 0
    assert clock.sleeps == [1.0]
    assert emulator.stats.requests["/sys/balance.php"] == 2


async def test_a_read_is_retried_after_a_5xx_but_not_after_a_garbled_200() -> None:
    emulator = Emulator(clock=anyio.current_time)
    async with session(emulator, clock=SteadyClock()) as smsc:
        emulator.inject(Fault(kind="http_status", status=502, path="/sys/balance.php"))
        await smsc.balance()
        assert emulator.stats.requests["/sys/balance.php"] == 2
        emulator.inject(Fault(kind="malformed", path="/sys/balance.php"))
        with pytest.raises(ProtocolError):
            await smsc.balance()
        assert emulator.stats.requests["/sys/balance.php"] == 3


@pytest.mark.parametrize("fault", [Fault(kind="drop"), Fault(kind="http_status", status=503)])
async def test_a_send_is_never_retried_after_a_transport_failure(fault: Fault) -> None:
    emulator = Emulator(clock=anyio.current_time)
    emulator.inject(fault)
    clock = SteadyClock()
    async with session(emulator, clock=clock) as smsc:
        with pytest.raises(SMSCError):
            await smsc.send(PHONE, "may have gone")
    assert clock.sleeps == []
    assert emulator.stats.requests["/sys/send.php"] == 1


async def test_other_gateway_errors_are_not_retried() -> None:
    emulator = Emulator(clock=anyio.current_time)
    emulator.inject(Fault(kind="error", error_code=3, path="/sys/send.php"))
    clock = SteadyClock()
    async with session(emulator, clock=clock) as smsc:
        with pytest.raises(InsufficientFundsError):
            await smsc.send(PHONE, "x")
    assert clock.sleeps == []


async def test_retry_none_turns_retrying_off() -> None:
    emulator = Emulator(clock=anyio.current_time)
    emulator.inject(Fault(kind="error", error_code=9, path="/sys/balance.php"))
    async with session(emulator, retry=None) as smsc:
        with pytest.raises(TooManyRequestsError):
            await smsc.balance()
    assert emulator.stats.requests["/sys/balance.php"] == 1


def _protocol(status: int | None) -> ProtocolError:
    return ProtocolError("bad", endpoint="balance", status_code=status)


@pytest.mark.parametrize(
    ("error", "send", "write", "read"),
    [
        (TooManyRequestsError(9, "busy", endpoint="x"), True, True, True),
        (ConnectError("no route", endpoint="x"), False, False, True),
        (RequestTimeout("read", endpoint="x"), False, False, True),
        (TransportError("reset", endpoint="x"), False, False, True),
        (_protocol(503), False, False, True),
        (_protocol(500), False, False, True),
        (_protocol(404), False, False, False),
        (_protocol(200), False, False, False),
        (_protocol(None), False, False, False),
        (InsufficientFundsError(3, "no money", endpoint="x"), False, False, False),
        (RuntimeError("bug"), False, False, False),
    ],
)
def test_the_rule(error: Exception, send: bool, write: bool, read: bool) -> None:
    policy = RetryPolicy()
    assert [policy.retries(error, kind) for kind in (Kind.SEND, Kind.WRITE, Kind.READ)] == [
        send,
        write,
        read,
    ]


# -- the public runner (what the bulk runner uses) -------------------------------------------


async def test_run_retries_any_attempt_on_the_given_clock() -> None:
    clock = SteadyClock(draw=0.0)
    failures = [TooManyRequestsError(9, "busy", endpoint="x"), ConnectError("no", endpoint="x")]
    tries: list[float] = []

    async def attempt() -> str:
        tries.append(anyio.current_time())
        if failures:
            raise failures.pop(0)
        return "done"

    t0 = anyio.current_time()
    policy = RetryPolicy(attempts=3, initial=2.0, jitter=0.0)
    assert await policy.run(attempt, clock=clock, kind=Kind.READ) == "done"
    assert tries == [t0, t0 + 2, t0 + 6]


async def test_run_counts_a_failure_already_had_as_the_first_try() -> None:
    clock = SteadyClock(draw=0.0)
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        raise TooManyRequestsError(9, "busy", endpoint="x")

    first = TooManyRequestsError(9, "busy", endpoint="x")
    with pytest.raises(TooManyRequestsError):
        await RetryPolicy(attempts=3).run(attempt, clock=clock, kind=Kind.SEND, failed=first)
    assert calls == 2
    assert clock.sleeps == [1.0, 2.0]


async def test_run_gives_up_at_once_on_what_it_does_not_retry() -> None:
    clock = SteadyClock()

    async def attempt() -> None:
        raise ConnectError("no route", endpoint="x")

    with pytest.raises(ConnectError):
        await RetryPolicy().run(attempt, clock=clock, kind=Kind.SEND)
    assert clock.sleeps == []


async def test_retries_are_logged_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    emulator = Emulator(clock=anyio.current_time)
    emulator.inject(Fault(kind="error", error_code=9, path="/sys/send.php", times=1))
    with caplog.at_level("INFO", logger="smsc_async"):
        async with session(emulator, clock=SteadyClock(draw=0.0)) as smsc:
            await smsc.send(PHONE, "secret text")
    assert [r.getMessage() for r in caplog.records] == [
        "send: TooManyRequestsError; try 2 of 4 in 1.00 s"
    ]
    assert "demo" not in caplog.text
    assert PHONE not in caplog.text
