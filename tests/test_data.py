"""Getting data (get.php, tinyurls.php) end to end, over real HTTP to the emulator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import anyio
import pytest

from smsc_async import (
    APIError,
    LinkNotFoundError,
    MessageNotFoundError,
    MessageType,
    RateLimits,
    Session,
    Status,
    TooManyRequestsError,
)
from smsc_async._constants import MOSCOW
from smsc_async.models import IncomingMessage, OperatorPrice, SendingStats
from smsc_async.testing import Emulator, Fault, Incoming
from smsc_async.testing._records import add_short_link, set_individual_price

from ._input import assert_refused

pytestmark = pytest.mark.anyio

GET = "/sys/get.php"
PHONES = ["79161234567", "79031234567", "79261234567", "79501234567", "79851234567"]
#: Emulator time starts at noon, Friday 15 March 2024, Moscow: dates in answers are known.
START = dt.datetime(2024, 3, 15, 12, 0, tzinfo=MOSCOW)
TODAY = START.date()


@pytest.fixture
def emulator(limits: RateLimits) -> Emulator:
    return Emulator(limits=limits, delivery_delay=0.05, start_time=START.timestamp())


# ------------------------------------------------------------------------------------ history


async def test_history_page_newest_first(smsc: Session) -> None:
    sent = [await smsc.send(p, f"text {n}", sender="Shop") for n, p in enumerate(PHONES[:3])]
    page = await smsc.get_messages()
    assert [m.phone for m in page] == PHONES[:3][::-1]
    assert [m.id for m in page] == [s.id for s in sent][::-1]
    ids = [m.int_id for m in page]
    assert ids == sorted(ids, reverse=True)
    newest = page[0]
    assert newest.message == "text 2"
    assert newest.sender_id == "Shop"
    assert newest.type is MessageType.SMS
    assert newest.format == 0
    assert newest.sms_cnt == 1
    assert newest.cost == Decimal("4.10")  # MegaFon (926) in the emulator's table
    assert newest.status in (Status.WAITING, Status.HANDED_TO_OPERATOR, Status.DELIVERED)
    assert newest.send_date is not None
    assert newest.send_date.date() == TODAY
    assert newest.send_date.tzinfo is not None
    assert newest.country == "Россия"
    assert newest.crc is not None


async def test_history_filters_and_paging(smsc: Session) -> None:
    for n, phone in enumerate(PHONES[:3]):
        await smsc.send(phone, f"text {n}")
    [only] = await smsc.get_messages(phones="+" + PHONES[1])
    assert only.message == "text 1"
    two = await smsc.get_messages(phones=PHONES[:2])
    assert {m.phone for m in two} == set(PHONES[:2])
    [newest] = await smsc.get_messages(cnt=1)
    older = await smsc.get_messages(prev_id=newest.int_id)
    assert [m.phone for m in older] == [PHONES[1], PHONES[0]]
    assert len(await smsc.get_messages(start=TODAY, end=TODAY)) == 3
    with pytest.raises(MessageNotFoundError) as info:
        await smsc.get_messages(start=TODAY + dt.timedelta(days=1))
    assert (info.value.code, info.value.endpoint) == (3, "get_messages")


async def test_history_walks_every_page(smsc: Session, emulator: Emulator) -> None:
    for n, phone in enumerate(PHONES):
        await smsc.send(phone, f"text {n}")
    seen = [m.phone async for m in smsc.history(page_size=2)]
    assert seen == PHONES[::-1]
    assert emulator.stats.requests[GET] == 3  # 2 + 2 + 1: a short page is the last


async def test_history_ends_on_error_3(smsc: Session, emulator: Emulator) -> None:
    for phone in PHONES[:4]:
        await smsc.send(phone, "x")
    assert len([m async for m in smsc.history(page_size=2)]) == 4
    assert emulator.stats.requests[GET] == 3  # the third page is "message not found"
    assert [m async for m in smsc.history(phones=PHONES[4])] == []


async def test_email_history(smsc: Session) -> None:
    await smsc.send(PHONES[0], "an SMS")
    # No sender: the emulator's send.php still checks an e-mail sender as an SMS sender name.
    await smsc.send_email("Ann@Example.com", "<b>Hi</b>", subject="News")
    [mail] = await smsc.get_messages(emails="ann@example.com")
    assert mail.format == 8
    assert mail.type is MessageType.EMAIL
    assert mail.phone == "ann@example.com"
    assert [m.phone for m in await smsc.get_messages()] == [PHONES[0]]
    assert [m.format async for m in smsc.history(emails=["ann@example.com"])] == [8]


# ----------------------------------------------------------------------------------- incoming


def _add(emulator: Emulator, n: int, to_phone: str = "79000000001") -> Incoming:
    return emulator.add_incoming("demo", phone=PHONES[n % 5], message=f"in {n}", to_phone=to_phone)


async def test_answers_oldest_first_with_after_id(smsc: Session, emulator: Emulator) -> None:
    assert await smsc.answers() == []
    for n in range(3):
        _add(emulator, n)
    _add(emulator, 3, to_phone="79000000002")
    page = await smsc.answers()
    assert [m.message for m in page] == ["in 0", "in 1", "in 2", "in 3"]
    first = page[0]
    assert first == IncomingMessage(
        id=first.id,
        received=first.received,
        phone=PHONES[0],
        message="in 0",
        to_phone="79000000001",
        sent=first.sent,
    )
    assert first.received.date() == TODAY
    assert [m.message for m in await smsc.answers(after_id=page[1].id)] == ["in 2", "in 3"]
    assert [m.message for m in await smsc.answers(cnt=1)] == ["in 0"]
    assert [m.message for m in await smsc.answers(to_phone="+79000000002")] == ["in 3"]


async def test_answers_look_back(smsc: Session, emulator: Emulator) -> None:
    _add(emulator, 0)
    old = START.timestamp() - 5 * 3600  # 07:00 today, Moscow
    older = START.timestamp() - 30 * 3600  # yesterday
    incoming = emulator.account("demo").incoming
    incoming.append(
        Incoming(id=50, phone=PHONES[1], message="old", to_phone="", sent=old, received=old)
    )
    incoming.append(
        Incoming(id=60, phone=PHONES[2], message="older", to_phone="", sent=older, received=older)
    )
    assert [m.message for m in await smsc.answers()] == ["in 0", "old"]  # the current day
    assert [m.message for m in await smsc.answers(hours=1)] == ["in 0"]
    assert [m.message for m in await smsc.answers(hours=48)] == ["in 0", "old", "older"]
    assert [m.message for m in await smsc.answers(after_id=1)] == ["old", "older"]


async def test_incoming_follows_new_messages(smsc: Session, emulator: Emulator) -> None:
    _add(emulator, 0)
    _add(emulator, 1)
    got: list[IncomingMessage] = []
    interval = smsc.limits.answers_identical.window / smsc.limits.answers_identical.limit

    async def later() -> None:
        await anyio.sleep(interval * 3)
        _add(emulator, 2)
        await anyio.sleep(interval * 2)
        _add(emulator, 3)
        _add(emulator, 4)

    start = anyio.current_time()
    async with anyio.create_task_group() as tg:
        tg.start_soon(later)
        with anyio.fail_after(5):
            async for sms in smsc.incoming():
                got.append(sms)
                if len(got) == 5:
                    break
    elapsed = anyio.current_time() - start
    assert [m.message for m in got] == [f"in {n}" for n in range(5)]
    assert emulator.stats.errors[9] == 0
    # Idle polls repeat the same request, spaced by the rule: 3 a minute, 0.2 s here.
    polls = emulator.stats.requests[GET]
    assert polls <= elapsed / interval + 2
    assert polls >= 3


async def test_incoming_reads_full_pages_at_once(smsc: Session, emulator: Emulator) -> None:
    for n in range(5):
        _add(emulator, n)
    got: list[int] = []
    with anyio.fail_after(3):
        async for sms in smsc.incoming(after_id=1, page_size=2, poll_interval=60):
            got.append(sms.id)
            if len(got) == 4:
                break
    assert got == [2, 3, 4, 5]
    assert emulator.stats.requests[GET] == 2


async def test_incoming_drops_repeats_and_sorts(smsc: Session, emulator: Emulator) -> None:
    # A gateway answering newest first, or repeating a message, still yields each once in order.
    for n in range(3):
        _add(emulator, n)
    emulator.account("demo").incoming.reverse()
    got: list[int] = []
    with anyio.fail_after(3):
        async for sms in smsc.incoming(poll_interval=0):
            got.append(sms.id)
            if len(got) == 3:
                break
    assert got == [1, 2, 3]


# ---------------------------------------------------------------------------------- statistics


async def test_stats_count_what_was_sent(smsc: Session) -> None:
    a = await smsc.send(PHONES[0], "one", cost=2)
    b = await smsc.send(PHONES[1], "x" * 200, cost=2)  # two parts
    assert a.cost is not None
    assert b.cost is not None
    [row] = await smsc.stats(TODAY)
    assert row == SendingStats(
        login="demo", sms=3, credit=a.cost + b.cost, debit=Decimal("0.00"), currency="RUR"
    )
    [mine] = await smsc.stats(TODAY, TODAY, mycur=True)
    assert mine.sms == 3
    [none] = await smsc.stats(TODAY - dt.timedelta(days=3), TODAY - dt.timedelta(days=1))
    assert (none.sms, none.credit) == (0, Decimal("0"))
    [electronic] = await smsc.stats(TODAY, balance2=True)
    assert electronic.sms == 0


# ------------------------------------------------------------------------------------- tariffs


async def test_prices(smsc: Session, emulator: Emulator) -> None:
    prices = await smsc.prices()
    assert prices.codes == ()
    assert prices.mail == Decimal("0.10")
    mts = next(z for z in prices.zones if z.name == "Россия - МТС")
    assert (mts.api, mts.mass, mts.mms, mts.hlr, mts.call) == (
        Decimal("4.30"),
        Decimal("4.30"),
        Decimal("9.00"),
        Decimal("0.30"),
        Decimal("0.90"),
    )
    sent = await smsc.send(PHONES[0], "MTS number", cost=2)  # 916: MTS
    assert sent.cost == mts.api
    assert len({z.zone for z in prices.zones}) == len(prices.zones)
    set_individual_price(emulator, "demo", "25001", Decimal("3.75"))
    set_individual_price(emulator, "demo", "25002", Decimal("3.80"))
    assert (await smsc.prices()).codes == (
        OperatorPrice(mccmnc="25001", cost=Decimal("3.75")),
        OperatorPrice(mccmnc="25002", cost=Decimal("3.80")),
    )


# --------------------------------------------------------------------------------- short links


async def test_short_link_by_id_and_by_link(smsc: Session, emulator: Emulator) -> None:
    now = START.timestamp()
    clicks = [
        now - 60,  # today
        now - 86_400,  # yesterday
        dt.datetime(2024, 3, 1, 10, tzinfo=MOSCOW).timestamp(),  # this month
        dt.datetime(2024, 2, 20, 10, tzinfo=MOSCOW).timestamp(),  # previous month
        dt.datetime(2024, 2, 29, 23, 59, tzinfo=MOSCOW).timestamp(),  # previous month
        dt.datetime(2024, 1, 10, tzinfo=MOSCOW).timestamp(),  # earlier
        now + 3600,  # not yet
    ]
    link = add_short_link(emulator, "demo", "https://mywebsite.ru/", clicks=clicks)
    info = await smsc.short_link(id=link.id)
    assert (info.id, info.cnt, info.cnt_day, info.cnt_yes, info.cnt_mon, info.cnt_pmon) == (
        link.id,
        6,
        1,
        1,
        3,
        2,
    )
    assert info.link == link.short
    assert await smsc.short_link(link="mywebsite.ru") == info
    with pytest.raises(LinkNotFoundError) as by_id:
        await smsc.short_link(id=link.id + 1)
    assert (by_id.value.code, by_id.value.endpoint) == (3, "tinyurls")
    with pytest.raises(LinkNotFoundError):
        await smsc.short_link(link="https://other.example/")


# ---------------------------------------------------------------------------- errors and input

_Call = Callable[[Session], Awaitable[Any]]
CALLS: list[tuple[str, str, _Call]] = [
    ("get_messages", GET, lambda s: s.get_messages()),
    ("get_answers", GET, lambda s: s.answers()),
    ("get_stat", GET, lambda s: s.stats(TODAY)),
    ("get_price", GET, lambda s: s.prices()),
    ("tinyurls", "/sys/tinyurls.php", lambda s: s.short_link(id=1)),
]


@pytest.mark.parametrize(("endpoint", "path", "call"), CALLS, ids=[c[0] for c in CALLS])
async def test_error_9_is_retried_then_raised(
    smsc: Session, emulator: Emulator, endpoint: str, path: str, call: _Call
) -> None:
    emulator.inject(Fault(kind="error", error_code=9, path=path, times=None))
    with pytest.raises(TooManyRequestsError) as info:
        await call(smsc)
    assert info.value.endpoint == endpoint
    assert emulator.stats.requests[path] == 4  # the test retry policy's attempts


async def test_error_3_means_not_found_only_where_documented(
    smsc: Session, emulator: Emulator
) -> None:
    emulator.inject(Fault(kind="error", error_code=3, path=GET))
    with pytest.raises(APIError) as info:
        await smsc.answers()
    assert type(info.value) is APIError


async def test_rate_rules_are_kept(smsc: Session, emulator: Emulator) -> None:
    await smsc.send(PHONES[0], "x")
    _add(emulator, 0)
    link = add_short_link(emulator, "demo", "https://mywebsite.ru/")
    start = anyio.current_time()
    for _ in range(4):  # three identical (or, for statistics, any) requests a minute
        await smsc.get_messages()
        await smsc.answers()
        await smsc.stats(TODAY)
        await smsc.prices()
        await smsc.short_link(id=link.id)
    assert anyio.current_time() - start >= smsc.limits.stat_any.window * 0.9
    assert emulator.stats.errors[9] == 0


BAD: list[tuple[_Call, type[Exception]]] = [
    (lambda s: s.get_messages(start="01.01.2024"), TypeError),  # type: ignore[arg-type]
    (lambda s: s.get_messages(start=dt.datetime(2024, 1, 1)), ValueError),  # naive
    (lambda s: s.get_messages(start=TODAY, end=TODAY - dt.timedelta(days=1)), ValueError),
    (lambda s: s.get_messages(phones="12"), ValueError),
    (lambda s: s.get_messages(emails="not an address"), ValueError),
    (lambda s: s.get_messages(phones=PHONES[0], emails="a@b.ru"), ValueError),
    (lambda s: s.get_messages(cnt=0), ValueError),
    (lambda s: s.get_messages(cnt=1001), ValueError),
    (lambda s: s.get_messages(prev_id=0), ValueError),
    (lambda s: s.get_messages(prev_id="5"), TypeError),  # type: ignore[arg-type]
    (lambda s: s.answers(hours=0), ValueError),
    (lambda s: s.answers(hours=169), ValueError),
    (lambda s: s.answers(after_id=-1), ValueError),
    (lambda s: s.answers(cnt=10_001), ValueError),
    (lambda s: s.answers(to_phone="abc"), ValueError),
    (lambda s: s.stats(None), TypeError),  # type: ignore[arg-type]
    (lambda s: s.stats(TODAY, TODAY - dt.timedelta(days=1)), ValueError),
    (lambda s: s.stats(TODAY, mycur=1), TypeError),  # type: ignore[arg-type]
    (lambda s: s.short_link(), ValueError),
    (lambda s: s.short_link(id=1, link="x.ru"), ValueError),
    (lambda s: s.short_link(id=0), ValueError),
    (lambda s: s.short_link(link=""), ValueError),
]


_Iterate = Callable[[Session], Any]
BAD_ITERATORS: list[tuple[_Iterate, type[Exception]]] = [
    (lambda s: s.history(page_size=0), ValueError),
    (lambda s: s.history(page_size=1001), ValueError),
    (lambda s: s.history(phones=["12"]), ValueError),
    (lambda s: s.incoming(poll_interval=-1), ValueError),
    (lambda s: s.incoming(poll_interval="1"), TypeError),  # type: ignore[arg-type]
    (lambda s: s.incoming(page_size=0), ValueError),
    (lambda s: s.incoming(after_id=-5), ValueError),
]


@pytest.mark.parametrize(("call", "exc"), BAD)
def test_bad_input_never_leaves(call: _Call, exc: type[Exception]) -> None:
    assert_refused(call, exc)


@pytest.mark.parametrize(("call", "exc"), BAD_ITERATORS)
def test_iterators_check_input_when_called(call: _Iterate, exc: type[Exception]) -> None:
    assert_refused(call, exc)  # on the call, before any iteration
