"""Operator templates, documents, notifications, inbound numbers, call checks, MegaFon statistics,
and the social/binary/WhatsApp channels, over HTTP to the emulator."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

from smsc_async import (
    InsufficientFundsError,
    InvalidPhoneError,
    NotFoundError,
    Session,
)
from smsc_async.models import (
    Act,
    InboundNumber,
    Invoice,
    MegafonStat,
    MessageType,
    OperatorTemplate,
    WaitCall,
)
from smsc_async.testing import Emulator
from smsc_async.testing._endpoints._misc import (
    CALL_NUMBERS,
    INBOUND_NUMBERS,
    add_megafon_account,
    add_notification_group,
    notifications,
    pay_invoice,
)
from smsc_async.testing._endpoints.receive_phones import charge

from ._input import assert_refused

pytestmark = pytest.mark.anyio

PHONE = "79161234567"
Call = Callable[[Session], Awaitable[Any]]
FOR_SALE = INBOUND_NUMBERS[0][0]


async def test_operator_templates_round_trip(smsc: Session) -> None:
    assert await smsc.operator_templates.list() == []
    first = await smsc.operator_templates.add(
        "Code: %d%", sender="Shop", transactional=["mts", "mega"]
    )
    second = await smsc.operator_templates.add("Sale!", service="tele2", transactional=("bee",))
    assert first != second
    got = await smsc.operator_templates.list()
    assert got == [
        OperatorTemplate(id=first, msg="Code: %d%", sender="Shop", mts_trn=True, mega_trn=True),
        OperatorTemplate(id=second, msg="Sale!", sender=None, tele2_srv=True, bee_trn=True),
    ]
    assert (got[0].service, got[0].transactional) == ((), ("mts", "mega"))
    assert (got[1].service, got[1].transactional) == (("tele2",), ("bee",))


async def test_invoices_and_acts(smsc: Session, emulator: Emulator) -> None:
    uid = await smsc.users.add("shop-2", "pw-123456")
    first = await smsc.documents.add_invoice("1500.00", user="shop-2", service="SMS")
    second = await smsc.documents.add_invoice(Decimal("99.90"), user_id=uid)
    invoices = await smsc.documents.invoices(user="shop-2")
    assert [(i.id, i.sum, i.service, i.paid) for i in invoices] == [
        (first, Decimal("1500.00"), "SMS", False),
        (second, Decimal("99.90"), None, False),
    ]
    assert all(isinstance(i, Invoice) and i.date.tzinfo is not None for i in invoices)
    assert [i.id for i in await smsc.documents.invoices(user_id=uid, id=second)] == [second]
    assert await smsc.documents.acts(user="shop-2") == []

    act = pay_invoice(emulator, "demo", first)
    acts = await smsc.documents.acts(user_id=uid)
    assert acts == [
        Act(id=act.id, num=act.num, date=acts[0].date, sum=Decimal("1500.00"), invoice=first)
    ]
    assert await smsc.documents.acts(user="shop-2", num=act.num) == acts
    assert await smsc.documents.acts(user="shop-2", num="nope") == []
    assert (await smsc.documents.invoices(user="shop-2", id=first))[0].paid is True

    with pytest.raises(NotFoundError) as info:
        await smsc.documents.add_invoice("10", user="nobody")
    assert (info.value.code, info.value.endpoint) == (3, "documents")
    with pytest.raises(NotFoundError):
        await smsc.documents.invoices(user_id=uid + 1000)


async def test_notify(smsc: Session, emulator: Emulator) -> None:
    group = add_notification_group(emulator, "demo")
    await smsc.notifications.send(group, name="db", host="db1.example", info="disk full")
    await smsc.notifications.send(group, ok=True)
    seen = notifications(emulator, "demo")
    assert [(n.group, n.ok, n.name, n.host, n.info) for n in seen] == [
        (group, False, "db", "db1.example", "disk full"),
        (group, True, "", "", ""),
    ]
    with pytest.raises(NotFoundError) as info:
        await smsc.notifications.send(group + 1)
    assert (info.value.code, info.value.endpoint) == (3, "ping")


async def test_inbound_numbers(smsc: Session, emulator: Emulator) -> None:
    listed = await smsc.inbound_numbers.list()
    assert listed == [
        InboundNumber(phone=phone, cost=fee, bought=False, noprolong=False)
        for phone, fee in INBOUND_NUMBERS
    ]
    before = emulator.account("demo").balance
    charged = await smsc.inbound_numbers.buy("+" + FOR_SALE)
    expected = charge(INBOUND_NUMBERS[0][1], emulator.now())
    assert charged == expected > 0
    assert emulator.account("demo").balance == before - charged
    mine = {n.phone: n for n in await smsc.inbound_numbers.list()}[FOR_SALE]
    assert (mine.bought, mine.renews) == (True, True)

    await smsc.inbound_numbers.set_renewal(FOR_SALE, renew=False)
    mine = {n.phone: n for n in await smsc.inbound_numbers.list()}[FOR_SALE]
    assert (mine.noprolong, mine.renews) == (True, False)
    await smsc.inbound_numbers.set_renewal(FOR_SALE, renew=True)
    assert {n.phone: n for n in await smsc.inbound_numbers.list()}[FOR_SALE].renews

    with pytest.raises(NotFoundError):  # already ours: no longer for sale
        await smsc.inbound_numbers.buy(FOR_SALE)
    with pytest.raises(NotFoundError):  # for sale, but not ours to change
        await smsc.inbound_numbers.set_renewal(INBOUND_NUMBERS[1][0], renew=False)
    with pytest.raises(NotFoundError):  # no such number at all
        await smsc.inbound_numbers.buy("79001112233")

    emulator.account("demo").balance = Decimal("1.00")
    with pytest.raises(InsufficientFundsError) as info:
        await smsc.inbound_numbers.buy(INBOUND_NUMBERS[2][0])
    assert (info.value.code, info.value.endpoint) == (5, "receive_phones")
    assert emulator.account("demo").balance == Decimal("1.00")


async def test_wait_call(smsc: Session) -> None:
    first = await smsc.wait_call(PHONE)
    second = await smsc.wait_call("+7 (903) 123-45-67")
    assert isinstance(first, WaitCall)
    assert first.id != second.id
    assert [first.phone, second.phone] == list(CALL_NUMBERS)
    # Seven to fifteen digits passes our check; a Russian number must have eleven.
    with pytest.raises(InvalidPhoneError) as info:
        await smsc.wait_call("+7916123456")
    assert (info.value.code, info.value.endpoint) == (7, "wait_call")


async def test_megafon_accounts(smsc: Session, emulator: Emulator) -> None:
    assert await smsc.megafon_accounts() == []
    add_megafon_account(emulator, "demo", "5000123456", sms=12, cost=Decimal("18.60"))
    add_megafon_account(emulator, "demo", "5000999999", sms=1, cost=Decimal("1.55"))
    one = MegafonStat(account="5000123456", sms=12, cost=Decimal("18.60"))
    assert len(await smsc.megafon_accounts()) == 2
    assert await smsc.megafon_accounts("5000123456") == [one]
    assert await smsc.megafon_accounts("1") == []


async def test_social_binary_and_whatsapp_channels(smsc: Session, emulator: Emulator) -> None:
    social = await smsc.send_social(PHONE, "Shipped", cost=2)
    assert (social.cnt, social.cost) == (1, Decimal("1.50"))
    assert (await smsc.status(social.id, PHONE, all=1)).type == MessageType.SOCIAL

    short = await smsc.send_binary(PHONE, bytes(range(100)))
    long = await smsc.send_binary(PHONE, b"\xff" * 200, id="bin-2")
    assert (short.cnt, long.cnt) == (1, 2)
    assert (await smsc.status(short.id, PHONE, all=1)).type == MessageType.BINARY

    wa = await smsc.send_whatsapp([PHONE, "79031234567"], "Hi", bot_number="+79990001122")
    assert wa.cnt == 2  # one part to each of two numbers
    assert int((await smsc.status(wa.id, PHONE, all=1)).type or 0) == 14
    sent = {m.text for m in emulator.account("demo").messages.values()}
    assert bytes(range(100)).hex().upper() in sent


BAD_INPUT: list[tuple[Call, type[Exception], str]] = [
    (lambda s: s.operator_templates.add("x"), ValueError, "operator"),
    (lambda s: s.operator_templates.add("x", service="beeline"), ValueError, "service"),  # type: ignore[arg-type]
    (lambda s: s.operator_templates.add("x", transactional=[1]), ValueError, "transactional"),  # type: ignore[list-item]
    (lambda s: s.operator_templates.add(" ", service="mts"), ValueError, "message"),
    (lambda s: s.operator_templates.add("x", service="mts", sender="!" * 20), ValueError, "sender"),
    (lambda s: s.documents.add_invoice(10), ValueError, "user"),
    (lambda s: s.documents.add_invoice(10, user="a", user_id=1), ValueError, "user"),
    (lambda s: s.documents.add_invoice("1.005", user="a"), ValueError, "amount"),
    (lambda s: s.documents.add_invoice(-1, user="a"), ValueError, "amount"),
    (lambda s: s.documents.add_invoice(1.5, user="a"), TypeError, "amount"),  # type: ignore[arg-type]
    (lambda s: s.documents.add_invoice(1, user="a b"), ValueError, "user"),
    (lambda s: s.documents.invoices(user_id=0), ValueError, "user_id"),
    (lambda s: s.documents.acts(user="a", id=-1), ValueError, "id"),
    (lambda s: s.notifications.send(0), ValueError, "group_id"),
    (lambda s: s.notifications.send(1, ok="yes"), TypeError, "ok"),  # type: ignore[arg-type]
    (lambda s: s.notifications.send(1, info="x" * 1001), ValueError, "info"),
    (lambda s: s.inbound_numbers.buy("12"), ValueError, "phone"),
    (lambda s: s.inbound_numbers.set_renewal(PHONE, renew=None), TypeError, "renew"),  # type: ignore[arg-type]
    (lambda s: s.wait_call("call me"), ValueError, "phone"),
    (lambda s: s.megafon_accounts("50 00"), ValueError, "account"),
    (lambda s: s.send_social([], "x"), ValueError, "phones"),
    (lambda s: s.send_binary(PHONE, "00ff"), TypeError, "data"),  # type: ignore[arg-type]
    (lambda s: s.send_binary(PHONE, b""), ValueError, "data"),
    (lambda s: s.send_binary(PHONE, b"x" * 501), ValueError, "data"),
    (lambda s: s.send_whatsapp(PHONE, "x", bot_number="@bot"), ValueError, "bot_number"),
    (lambda s: s.send_whatsapp(PHONE, "", bot_number=PHONE), ValueError, "message"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "needle"), BAD_INPUT)
def test_bad_input_never_leaves(call: Call, error: type[Exception], needle: str) -> None:
    assert_refused(call, error, needle)
