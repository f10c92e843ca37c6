"""Sends whose answer was lost: SendUnconfirmedError, reconcile(), and the ids behind them.

The emulator runs on a real loopback socket (its own thread, real time); the session's waits for
a deadline run on a :class:`JumpClock`, so reconcile's wait costs no wall time.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
import httpx
import pytest

from smsc_async import (
    ConnectError,
    DuplicateSendError,
    RateLimits,
    ReconciledSend,
    RequestTimeout,
    SendUnconfirmedError,
    Session,
    Status,
    TransportError,
)
from smsc_async.testing import Emulator, Fault

from .conftest import FAST_RETRY

pytestmark = pytest.mark.anyio

PHONE = "79161234567"
OTHER = "79031234567"
SEND = "/sys/send.php"


class JumpClock:
    """The loop's clock plus an offset that ``sleep`` advances at once: waits cost no time."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.slept: list[float] = []

    def now(self) -> float:
        return anyio.current_time() + self.offset

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.offset += max(seconds, 0.0)
        await anyio.lowlevel.checkpoint()

    def jitter(self, high: float) -> float:
        return 0.0


@pytest.fixture
def clock() -> JumpClock:
    return JumpClock()


@pytest.fixture
async def session(live_url: str, limits: RateLimits, clock: JumpClock) -> AsyncIterator[Session]:
    async with Session(
        "demo", "demo", base_url=live_url, limits=limits, retry=FAST_RETRY, clock=clock, timeout=2
    ) as smsc:
        yield smsc


async def test_every_send_carries_a_unique_id(live_url: str, limits: RateLimits) -> None:
    bodies: list[bytes] = []

    async def record(request: httpx.Request) -> None:
        bodies.append(request.content)

    async with (
        httpx.AsyncClient(event_hooks={"request": [record]}) as client,
        Session("demo", "demo", base_url=live_url, limits=limits, http_client=client) as smsc,
    ):
        first = await smsc.send(PHONE, "one")
        second = await smsc.send(PHONE, "two")
        mine = await smsc.send(PHONE, "three", id="order-7")
        await smsc.cost(PHONE, "four")  # an estimate sends nothing: no id needed
    ids = [re.search(rb"(?:^|&)id=([^&]*)", body) for body in bodies]
    assert [m is not None for m in ids] == [True, True, True, False]
    assigned = [m.group(1).decode() for m in ids[:2] if m]
    assert assigned[0] != assigned[1]
    assert all(re.fullmatch(r"sa[a-z0-9]{20}", i) for i in assigned)
    assert [str(first.id), str(second.id), str(mine.id)] == [*assigned, "order-7"]


async def test_an_assigned_id_does_not_hide_a_double_click(
    session: Session, emulator: Emulator
) -> None:
    await session.send(PHONE, "double click")
    with pytest.raises(DuplicateSendError):
        await session.send(PHONE, "double click")
    assert emulator.stats.requests[SEND] == 1


async def test_the_retry_of_an_error_9_keeps_the_id(session: Session, emulator: Emulator) -> None:
    emulator.inject(Fault(kind="error", error_code=9, path=SEND, times=1))
    sent = await session.send(PHONE, "once")
    assert emulator.stats.requests[SEND] == 2
    assert (await session.status(sent.id, PHONE)).status is not Status.NOT_FOUND
    assert emulator.stats.sms == 1


async def test_answer_lost_after_the_gateway_stored_it(
    session: Session, emulator: Emulator, clock: JumpClock
) -> None:
    emulator.inject(Fault(kind="drop", after=True, path=SEND))
    with pytest.raises(SendUnconfirmedError) as info:
        await session.send([PHONE, OTHER], "maybe sent", sender="Shop")
    err = info.value
    assert err.endpoint == "send" and err.reason == "connection lost"
    assert err.phones == (PHONE, OTHER)
    assert re.fullmatch(r"sa[a-z0-9]{20}", err.id)
    assert isinstance(err.__cause__, TransportError)
    assert PHONE not in str(err) and "maybe sent" not in str(err)
    assert emulator.stats.sms == 2  # the gateway did send it
    found = await session.reconcile(err)
    assert isinstance(found, ReconciledSend) and found.id == err.id
    assert set(found.statuses) == {PHONE, OTHER}
    assert all(s.status is not Status.NOT_FOUND for s in found.statuses.values())
    assert clock.slept == []  # found at once: nothing to wait for


async def test_lost_before_the_gateway_saw_it_is_none_after_the_deadline(
    session: Session, emulator: Emulator, clock: JumpClock
) -> None:
    emulator.inject(Fault(kind="drop", path=SEND))
    with pytest.raises(SendUnconfirmedError) as info:
        await session.send(PHONE, "never stored")
    err = info.value
    assert err.deadline is not None
    assert await session.reconcile(err) is None
    # "Not found" was trusted only once the lost attempt could no longer be on its way.
    from smsc_async._constants import RECONCILE_GRACE

    assert clock.now() >= err.deadline + RECONCILE_GRACE
    assert emulator.stats.requests["/sys/status.php"] == 2
    # The recipe: nothing was delivered, so resending is safe (a new id, so not a duplicate).
    await session.send(PHONE, "never stored", id="resend-1")
    assert emulator.stats.sms == 1


async def test_reconcile_never_says_none_while_the_send_may_be_in_flight(
    live_url: str, limits: RateLimits, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The gateway stores the message 0.6 s after it arrived, long after the client gave up at
    # 0.2 s; reconcile must still find it. Real time: the emulator's thread does not jump.
    monkeypatch.setattr("smsc_async._reconcile.RECONCILE_GRACE", 2.0)
    emulator.inject(Fault(kind="delay", seconds=0.6, path=SEND))
    async with Session("demo", "demo", base_url=live_url, limits=limits, timeout=0.2) as smsc:
        with pytest.raises(SendUnconfirmedError) as info:
            await smsc.send(PHONE, "slow gateway")
        assert info.value.reason == "timeout"
        assert isinstance(info.value.__cause__, RequestTimeout)
        found = await smsc.reconcile(info.value)
    assert found is not None and found.statuses[PHONE].status is not Status.NOT_FOUND
    assert emulator.stats.sms == 1


async def test_unreadable_answer_to_a_send_is_unconfirmed(
    session: Session, emulator: Emulator
) -> None:
    emulator.inject(Fault(kind="html", status=502, after=True, path=SEND))
    with pytest.raises(SendUnconfirmedError) as info:
        await session.send_list({PHONE: "Hi Ann", OTHER: "Hi Bob"})
    assert info.value.reason == "unreadable answer"
    assert info.value.phones == (PHONE, OTHER)
    found = await session.reconcile(info.value)
    assert found is not None and set(found.statuses) == {PHONE, OTHER}


async def test_a_send_that_never_left_stays_a_connect_error(limits: RateLimits) -> None:
    # A port nobody listens on: the connection is refused, nothing reached any gateway.
    with anyio.fail_after(10):
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        await listener.aclose()
    async with Session("demo", "demo", base_url=f"http://127.0.0.1:{port}", limits=limits) as smsc:
        with pytest.raises(ConnectError):
            await smsc.send(PHONE, "x")
        # Never sent, so the same send is not held as a possible duplicate.
        with pytest.raises(ConnectError):
            await smsc.send(PHONE, "x")


async def test_a_send_stuck_in_the_pool_stays_a_request_timeout(
    live_url: str, limits: RateLimits, emulator: Emulator
) -> None:
    emulator.inject(Fault(kind="delay", seconds=1.0, path="/sys/balance.php"))
    client = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=1), timeout=httpx.Timeout(5.0, pool=0.2)
    )
    async with client, Session("demo", "demo", base_url=live_url, http_client=client) as smsc:
        results: list[BaseException] = []

        async def balance() -> None:
            await smsc.balance()

        async with anyio.create_task_group() as tg:
            tg.start_soon(balance)
            # Until the one pooled connection is busy with it (the emulator's thread has no
            # event to wait on).
            while emulator.stats.requests["/sys/balance.php"] == 0:  # noqa: ASYNC110
                await anyio.sleep(0.01)
            try:
                await smsc.send(PHONE, "queued")
            except Exception as exc:
                results.append(exc)
    (error,) = results
    assert type(error) is RequestTimeout
    assert isinstance(error.__cause__, httpx.PoolTimeout)
    assert emulator.stats.requests[SEND] == 0


async def test_reconcile_checks_its_argument(session: Session) -> None:
    with pytest.raises(TypeError, match="SendUnconfirmedError"):
        await session.reconcile(RuntimeError("x"))  # type: ignore[arg-type]
    group = SendUnconfirmedError("x", endpoint="send", id="a", phones=("G12",), reason="timeout")
    with pytest.raises(ValueError, match="recipients"):
        await session.reconcile(group)
