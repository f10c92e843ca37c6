"""Other send.php channels, HLR, ping, deleting and wait_for_status, over HTTP to the emulator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import anyio
import attrs
import pytest

from smsc_async import (
    Block,
    CircuitOpenError,
    DateFormatError,
    DuplicateSendError,
    InsufficientFundsError,
    InvalidPhoneError,
    MessageForbiddenError,
    MessageType,
    PersistError,
    RateLimits,
    Session,
    Status,
    UndeliverableError,
)
from smsc_async.testing import RESERVED, Emulator, Fault

from ._input import assert_refused
from .conftest import FAST_RETRY

pytestmark = pytest.mark.anyio

PHONE = "79161234567"
OTHER = "79031234567"
SEND = "/sys/send.php"
STATUS = "/sys/status.php"

Call = Callable[[Session], Awaitable[Any]]

# Each channel with the message type status.php reports for it.
CHANNELS: list[tuple[str, Call, MessageType | int]] = [
    ("viber", lambda s: s.send_viber(PHONE, "Shipped", sender="Shop"), MessageType.VIBER),
    ("telegram", lambda s: s.send_telegram(PHONE, "Hi", bot="@shop_bot"), 13),
    ("call", lambda s: s.call(PHONE, "Your code is 1 2 3 4", voice="w2"), MessageType.CALL),
    (
        "mms",
        lambda s: s.send_mms(PHONE, "Photo", subject="Pic", fileurls=["https://x.example/a.jpg"]),
        MessageType.MMS,
    ),
    ("push", lambda s: s.send_push(PHONE, "https://x.example/s", "Sale"), MessageType.WAP_PUSH),
    ("ping", lambda s: s.ping(PHONE), MessageType.PING),
    ("hlr", lambda s: s.hlr(PHONE), MessageType.HLR),
]


@pytest.mark.parametrize(("name", "call", "kind"), CHANNELS, ids=[c[0] for c in CHANNELS])
async def test_channel_is_sent_as_its_kind(
    smsc: Session, emulator: Emulator, name: str, call: Call, kind: int
) -> None:
    sent = await call(smsc)
    assert sent.cnt >= 1
    status = await smsc.status(sent.id, PHONE, all=1)
    assert status.type == kind
    assert emulator.stats.requests[SEND] == 1


async def test_channel_parameters_on_the_wire(smsc: Session, emulator: Emulator) -> None:
    seen: list[dict[str, str]] = []
    original = emulator._handle

    async def record(path: str, request: Any, ip: str, delay: float) -> Any:
        if path == SEND:
            seen.append(dict(request.params))
        return await original(path, request, ip, delay)

    emulator._handle = record  # type: ignore[method-assign]
    await smsc.call(
        PHONE, "Hello", voice="m2", answer_wait=20, retry_interval=60, attempts=3, cost=2
    )
    await smsc.send_email(
        ["ann@example.com", "bob@example.org"],
        "<b>News</b>",
        subject="Weekly",
        sender="shop@example.com",
        fileurls=["https://x.example/a.pdf", "https://x.example/b.pdf"],
    )
    await smsc.send_push(PHONE, "https://x.example/s", "Sale")
    await smsc.send_telegram(["@alex_k", "#12345", OTHER], "Hi")
    call, mail, push, tg = seen
    assert (call["call"], call["voice"], call["param"], call["cost"]) == ("1", "m2", "20,60,3", "2")
    assert mail["mail"] == "1"
    assert mail["subj"] == "Weekly"
    assert mail["phones"] == "ann@example.com,bob@example.org"
    assert mail["sender"] == "shop@example.com"
    assert mail["fileurl"] == "https://x.example/a.pdf,https://x.example/b.pdf"
    assert (push["push"], push["mes"]) == ("1", "https://x.example/s\nSale")
    assert (tg["tg"], tg["phones"]) == ("1", f"@alex_k,#12345,{OTHER}")


async def test_email_and_telegram_recipients(smsc: Session) -> None:
    mail = await smsc.send_email("ann@example.com; bob@example.org", "Hi", subject="S", cost=3)
    assert mail.cnt == 2
    assert mail.cost == Decimal("0.20")
    assert mail.balance is not None
    tg = await smsc.send_telegram(["@alex_k", OTHER], "Hi", details=True)
    assert tg.cnt == 2
    assert tg.phones is not None
    assert len(tg.phones) == 2
    status = await smsc.wait_for_status(mail.id, "ann@example.com", all=1, timeout=5)
    assert status.type is MessageType.EMAIL
    assert status.status is Status.DELIVERED
    await smsc.delete(mail.id, "bob@example.org")


async def test_call_cost_is_in_blocks(smsc: Session) -> None:
    sent = await smsc.call(PHONE, "x" * 40, cost=2)
    assert sent.cnt == 4  # 13 characters spoken per 5-second block
    assert sent.cost == 4 * Decimal("0.90")


async def test_hlr_status_carries_hlr_fields(smsc: Session) -> None:
    sent = await smsc.hlr([PHONE])
    status = await smsc.wait_for_status(sent.id, PHONE, timeout=5)
    assert status.status is Status.DELIVERED
    assert status.imsi
    assert status.imsi.startswith("25001")
    assert status.msc
    assert status.msc.isdigit()
    assert (status.mcc, status.mnc) == ("250", "01")
    assert status.cn
    assert status.net
    assert not status.rcn
    assert not status.rnet
    full = await smsc.status(sent.id, PHONE, all=1)
    assert full.type is MessageType.HLR
    assert full.imsi == status.imsi


async def test_identical_channel_send_is_refused(smsc: Session, emulator: Emulator) -> None:
    await smsc.send_viber(PHONE, "Once")
    with pytest.raises(DuplicateSendError):
        await smsc.send_viber(PHONE, "Once")
    await smsc.send_viber(PHONE, "Once", id=77)  # another id is another request
    await smsc.hlr(PHONE, id=5)
    with pytest.raises(DuplicateSendError):
        await smsc.hlr(PHONE, id=5)
    assert emulator.stats.requests[SEND] == 3


@pytest.mark.parametrize(
    ("prepare", "call", "error"),
    [
        ("poor", lambda s: s.send_viber(PHONE, "Hi"), InsufficientFundsError),
        ("", lambda s: s.send_mms(PHONE, "best casino"), MessageForbiddenError),
        ("", lambda s: s.call("7916123", "Hi"), InvalidPhoneError),
        ("", lambda s: s.hlr(RESERVED.undeliverable + "123"), UndeliverableError),
        ("", lambda s: s.send_email("not-an-address@x", "Hi", subject="S"), ValueError),
    ],
)
async def test_gateway_errors_through_channels(
    smsc: Session, emulator: Emulator, prepare: str, call: Call, error: type[Exception]
) -> None:
    if prepare == "poor":
        emulator.account("demo").balance = Decimal("0.01")
    with pytest.raises(error) as info:
        await call(smsc)
    if hasattr(info.value, "id"):
        assert info.value.id is not None  # send errors 3, 6, 7, 8 echo the message id


async def test_a_channel_reads_send_errors_by_the_send_table(
    smsc: Session, emulator: Emulator
) -> None:
    # Code 5 means "wrong date" on send.php only (the codes every endpoint shares are pinned in
    # test_public_api); a channel is a send.
    emulator.inject(Fault(kind="error", error_code=5, path=SEND))
    with pytest.raises(DateFormatError) as info:
        await smsc.send_viber(PHONE, "Hi")
    assert (info.value.code, info.value.endpoint) == (5, "send")


async def test_error_9_on_a_channel_is_retried(smsc: Session, emulator: Emulator) -> None:
    emulator.inject(Fault(kind="error", error_code=9, path=SEND, times=1))
    sent = await smsc.ping(PHONE)
    assert sent.cnt == 1
    assert emulator.stats.requests[SEND] == 2


def _call(s: Session, wait: int, interval: int, attempts: int) -> Awaitable[Any]:
    return s.call(PHONE, "Hi", answer_wait=wait, retry_interval=interval, attempts=attempts)


BAD_INPUT: list[tuple[Call, type[Exception], str]] = [
    (lambda s: s.call(PHONE, "Hi", voice="x"), ValueError, "voice"),  # type: ignore[arg-type]
    (lambda s: _call(s, 100, 60, 1), ValueError, "answer_wait"),
    (lambda s: _call(s, -1, 60, 1), ValueError, "answer_wait"),
    (lambda s: _call(s, 5, 9, 1), ValueError, "retry_interval"),
    (lambda s: _call(s, 5, 3601, 1), ValueError, "retry_interval"),
    (lambda s: _call(s, 5, 60, 10), ValueError, "attempts"),
    (lambda s: _call(s, 5, 60, True), TypeError, "attempts"),
    (lambda s: s.call(PHONE, "Hi", answer_wait=5), ValueError, "all three"),
    (lambda s: s.call(PHONE, "Hi", fileurl="ftp://x.example/a.wav"), ValueError, "fileurl"),
    (lambda s: s.send_email(PHONE, "Hi", subject="S"), ValueError, "addresses"),
    (lambda s: s.send_email("a@b.com", "Hi", subject="S", sender="Shop"), ValueError, "sender"),
    (lambda s: s.send_email([], "Hi", subject="S"), ValueError, "addresses"),
    (lambda s: s.send_email("a@b.com", "Hi", subject=""), ValueError, "subject"),
    (lambda s: s.send_mms(PHONE, "Hi", fileurls="not a url"), ValueError, "fileurls"),
    (lambda s: s.send_mms(PHONE, "Hi", fileurls=["https://a.b/x,y"]), ValueError, "fileurls"),
    (lambda s: s.send_mms(PHONE, "Hi", fileurls=5), TypeError, "fileurls"),  # type: ignore[arg-type]
    (lambda s: s.send_telegram("@ab", "Hi"), ValueError, "recipients"),
    (lambda s: s.send_telegram(PHONE, "Hi", bot="shop"), ValueError, "bot"),
    (lambda s: s.send_telegram(7, "Hi"), TypeError, "recipients"),  # type: ignore[arg-type]
    (lambda s: s.send_viber(PHONE, ""), ValueError, "message"),
    (lambda s: s.send_viber(PHONE, "x" * 1001), ValueError, "message"),
    (lambda s: s.send_viber(PHONE, "Hi", sender="x" * 12), ValueError, "sender"),
    (lambda s: s.send_viber("12", "Hi"), ValueError, "phones"),
    (lambda s: s.send_viber(PHONE, "Hi", cost=1), ValueError, "cost"),  # type: ignore[arg-type]
    (lambda s: s.send_push(PHONE, "https://x.example", "two\nlines"), ValueError, "title"),
    (lambda s: s.send_push(PHONE, "x.example", "Sale"), ValueError, "url"),
    (lambda s: s.hlr([]), ValueError, "phones"),
    (lambda s: s.ping(PHONE, id="bad id!"), ValueError, "id"),
    (lambda s: s.delete(0, PHONE), ValueError, "id"),
    (lambda s: s.delete(1, "nope"), ValueError, "phone"),
    (lambda s: s.wait_for_status(1, PHONE, interval=0), ValueError, "interval"),
    (lambda s: s.wait_for_status(1, PHONE, timeout=-1), ValueError, "timeout"),
    (lambda s: s.wait_for_status(1, PHONE, all=3), ValueError, "all"),  # type: ignore[arg-type]
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "needle"), BAD_INPUT)
def test_bad_input_never_leaves(call: Call, error: type[Exception], needle: str) -> None:
    assert_refused(call, error, needle)


async def test_delete(smsc: Session, emulator: Emulator) -> None:
    sent = await smsc.send(PHONE, "to be deleted")
    await smsc.delete(sent.id, PHONE)
    assert (await smsc.status(sent.id, PHONE)).status is Status.NOT_FOUND
    with pytest.raises(PersistError) as info:
        await smsc.delete(sent.id, PHONE)  # nothing left to delete: status error 5
    assert info.value.code == 5
    assert info.value.endpoint == "status"


async def test_wait_for_status_returns_the_final_status(smsc: Session) -> None:
    sent = await smsc.send(PHONE, "wait for me")
    status = await smsc.wait_for_status(sent.id, PHONE, timeout=5, all=2)
    assert status.status is Status.DELIVERED
    assert status.final
    assert status.operator
    failed = await smsc.send(RESERVED.absent + "123", "nobody")
    status = await smsc.wait_for_status(failed.id, RESERVED.absent + "123", timeout=5)
    assert status.status is Status.UNDELIVERABLE
    assert status.err == 1


async def test_wait_for_status_times_out_at_the_rule_pace(
    smsc: Session, emulator: Emulator, limits: RateLimits
) -> None:
    sent = await smsc.send(PHONE, "later", time=dt.timedelta(minutes=30))
    rule = limits.status_message
    started = anyio.current_time()
    with pytest.raises(TimeoutError, match="WAITING"):
        await smsc.wait_for_status(sent.id, PHONE, timeout=rule.window)
    # Never before the timeout (how much later depends on the machine's load: not asserted).
    assert anyio.current_time() - started >= rule.window
    # The default interval is window / limit: at most `limit` polls in one window.
    assert 2 <= emulator.stats.requests[STATUS] <= rule.limit + 1
    assert emulator.stats.errors[9] == 0


async def test_fast_polling_is_held_to_the_rule(
    smsc: Session, emulator: Emulator, limits: RateLimits
) -> None:
    sent = await smsc.send(PHONE, "later", time=dt.timedelta(minutes=30))
    rule = limits.status_message
    with pytest.raises(TimeoutError):
        await smsc.wait_for_status(sent.id, PHONE, timeout=rule.window * 1.5, interval=0.001)
    # The limiter, not the interval, paced the polls: the emulator never had to refuse one.
    assert emulator.stats.errors[9] == 0
    assert emulator.stats.requests[STATUS] <= 2 * rule.limit


async def test_wait_for_status_without_timeout(smsc: Session) -> None:
    sent = await smsc.send(PHONE, "soon")
    with anyio.fail_after(5):
        status = await smsc.wait_for_status(sent.id, PHONE, timeout=None, interval=0.02)
    assert status.final


async def test_channels_with_a_fresh_session_and_api_key(live_url: str, limits: RateLimits) -> None:
    async with Session(api_key="demo-key", base_url=live_url, limits=limits, retry=FAST_RETRY) as s:
        sent = await s.send_viber(PHONE, "via key")
        assert sent.cnt == 1


async def test_cost_estimates_never_count_as_sends(
    live_url: str, emulator: Emulator, limits: RateLimits
) -> None:
    # Three failed sends in a row would block the IP: the session refuses the third.
    rules = attrs.evolve(limits, failed_sends=Block(count=3, window=600, duration=600))
    async with Session("demo", "demo", base_url=live_url, limits=rules, retry=None) as smsc:
        emulator.inject(Fault(kind="error", error_code=7, path=SEND, times=None))
        for n in range(3):
            with pytest.raises(InvalidPhoneError):
                await smsc.cost(PHONE, f"estimate {n}")
        for n in range(2):  # failed estimates did not count: two sends may still fail
            with pytest.raises(InvalidPhoneError):
                await smsc.send(PHONE, f"send {n}")
        emulator.clear_faults()
        await smsc.cost(PHONE, "a good estimate")  # and a good one does not reset the count
        with pytest.raises(CircuitOpenError):
            await smsc.send(PHONE, "third")
    assert emulator.stats.requests[SEND] == 6
