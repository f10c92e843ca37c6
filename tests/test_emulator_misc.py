"""The emulator's remaining scripts in all four formats: exact bodies, state and errors.

op_templates.php, documents.php, ping.php, receive_phones.php, wait_call.php, get.php
``get_mega_accounts`` and send.php's WhatsApp form (``bot=wa:<number>``).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from smsc_async.testing._endpoints._misc import (
    add_megafon_account,
    add_notification_group,
    notifications,
    pay_invoice,
)
from smsc_async.testing._endpoints.receive_phones import charge

from .test_emulator_management import START, Gateway

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    # What the emulator answers does not depend on the event loop (its clock here is a fake
    # one): asyncio only. Its loop-dependent parts (delays, drops, rule windows, served
    # sockets) run on both backends in test_emulator_faults.py and test_emulator_rules.py.
    return "asyncio"


OP, DOCS, PING, INBOUND, WAIT, GET, SEND = (
    "/sys/op_templates.php",
    "/sys/documents.php",
    "/sys/ping.php",
    "/sys/receive_phones.php",
    "/sys/wait_call.php",
    "/sys/get.php",
    "/sys/send.php",
)
FLAGS = "mts_srv = 0, mts_trn = 1, mega_srv = 0, mega_trn = 0, bee_srv = 1, bee_trn = 0, "
FLAGS += "tele2_srv = 0, tele2_trn = 0"


@pytest.fixture
def gw() -> Gateway:
    return Gateway()


@pytest.mark.parametrize(
    ("fmt", "created", "listed"),
    [
        (0, "OK, ID - 1", f"id = 1, sender = Shop, msg = Code %d%, {FLAGS}"),
        (1, "1", "1,Shop,Code %d%,0,1,0,0,1,0,0,0"),
        (
            2,
            "<result>\n<id>1</id>\n</result>",
            "<list>\n<template>\n<id>1</id>\n<sender>Shop</sender>\n<msg>Code %d%</msg>\n"
            "<mts_srv>0</mts_srv>\n<mts_trn>1</mts_trn>\n<mega_srv>0</mega_srv>\n"
            "<mega_trn>0</mega_trn>\n<bee_srv>1</bee_srv>\n<bee_trn>0</bee_trn>\n"
            "<tele2_srv>0</tele2_srv>\n<tele2_trn>0</tele2_trn>\n</template>\n</list>",
        ),
        (
            3,
            '{"id": 1}',
            '[{"id": 1, "sender": "Shop", "msg": "Code %d%", "mts_srv": 0, "mts_trn": 1, '
            '"mega_srv": 0, "mega_trn": 0, "bee_srv": 1, "bee_trn": 0, "tele2_srv": 0, '
            '"tele2_trn": 0}]',
        ),
    ],
)
async def test_op_templates_bodies(gw: Gateway, fmt: int, created: str, listed: str) -> None:
    empty = await gw.ask(OP, fmt, get=1)
    assert empty == {0: "", 1: "", 2: "<list>\n</list>", 3: "[]"}[fmt]
    add = {"add": 1, "msg": "Code %d%", "sender": "Shop", "mts_trn": 1, "bee_srv": 1}
    assert await gw.ask(OP, fmt, **add) == created
    assert await gw.ask(OP, fmt, get=1) == listed


async def test_op_templates_refuse_a_template_without_operators(gw: Gateway) -> None:
    assert await gw.json(OP, add=1, msg="Code") == {
        "error": "Error in parameters.",
        "error_code": 1,
    }
    assert await gw.json(OP, add=1, msg=" ", mts_srv=1) == {
        "error": "Error in parameters.",
        "error_code": 1,
    }
    assert await gw.json(OP, get=1) == []


@pytest.mark.parametrize(
    ("fmt", "invoices", "acts"),
    [
        (
            0,
            "id = 2, num = S-2, date = 15.11.2023 01:13:20, sum = 10.50, service = SMS, paid = 1",
            "id = 3, num = A-3, date = 15.11.2023 01:13:20, sum = 10.50, invoice = 2",
        ),
        (1, "2,S-2,15.11.2023 01:13:20,10.50,SMS,1", "3,A-3,15.11.2023 01:13:20,10.50,2"),
        (
            2,
            "<list>\n<invoice>\n<id>2</id>\n<num>S-2</num>\n<date>15.11.2023 01:13:20</date>\n"
            "<sum>10.50</sum>\n<service>SMS</service>\n<paid>1</paid>\n</invoice>\n</list>",
            "<list>\n<act>\n<id>3</id>\n<num>A-3</num>\n<date>15.11.2023 01:13:20</date>\n"
            "<sum>10.50</sum>\n<invoice>2</invoice>\n</act>\n</list>",
        ),
        (
            3,
            '[{"id": 2, "num": "S-2", "date": "15.11.2023 01:13:20", "sum": "10.50", '
            '"service": "SMS", "paid": 1}]',
            '[{"id": 3, "num": "A-3", "date": "15.11.2023 01:13:20", "sum": "10.50", '
            '"invoice": 2}]',
        ),
    ],
)
async def test_documents_bodies(gw: Gateway, fmt: int, invoices: str, acts: str) -> None:
    assert await gw.json("/sys/users.php", add=1, user="sub", password="pw12345678") == {"id": 1}
    created = await gw.ask(DOCS, fmt, add_account=1, user="sub", sum="10.5", service="SMS")
    assert created == {0: "OK, ID - 2", 1: "2", 2: "<result>\n<id>2</id>\n</result>"}.get(
        fmt, '{"id": 2}'
    )
    assert await gw.json(DOCS, get_act=1, user_id=1) == []
    assert pay_invoice(gw.emu, "alex", 2).id == 3
    assert await gw.ask(DOCS, fmt, get_account=1, user="sub") == invoices
    assert await gw.ask(DOCS, fmt, get_act=1, user_id=1) == acts
    assert await gw.ask(DOCS, fmt, get_act=1, user="sub", num="A-3") == acts
    assert await gw.json(DOCS, get_act=1, user="sub", num="A-4") == []
    assert await gw.json(DOCS, get_account=1, user="sub", id=3) == []


async def test_documents_errors(gw: Gateway) -> None:
    not_found = {"error": "user not found", "error_code": 3}
    assert await gw.json(DOCS, add_account=1, user="nobody", sum="1") == not_found
    assert await gw.json(DOCS, get_account=1, user_id=99) == not_found
    assert await gw.ask(DOCS, 0, get_act=1, user="x") == "ERROR = 3 (user not found)"
    await gw.json("/sys/users.php", add=1, user="sub", password="pw12345678")
    for total in ("0", "-1", "1.001", "ten", ""):
        body = await gw.json(DOCS, add_account=1, user="sub", sum=total)
        assert body["error_code"] == 1, total
    assert (await gw.json(DOCS, user="sub"))["error_code"] == 1  # no command
    assert await gw.json(DOCS, get_account=1, user="sub") == []


@pytest.mark.parametrize("fmt", [0, 1, 2, 3])
async def test_ping_bodies(gw: Gateway, fmt: int) -> None:
    group = add_notification_group(gw.emu, "alex")
    ok = {0: "OK", 1: "OK", 2: "<result>OK</result>", 3: '{"result": "OK"}'}[fmt]
    assert await gw.ask(PING, fmt, id=group, ok=1, name="db", host="h", info="i") == ok
    missing = {
        0: "ERROR = 3 (notification group not found)",
        1: "0,-3",
        2: "<result>\n<error>notification group not found</error>\n<error_code>3</error_code>\n"
        "</result>",
        3: '{"error": "notification group not found", "error_code": 3}',
    }[fmt]
    assert await gw.ask(PING, fmt, id=group + 1) == missing
    seen = notifications(gw.emu, "alex")
    assert [(n.group, n.ok, n.name, n.host, n.info, n.at) for n in seen] == [
        (group, True, "db", "h", "i", START)
    ]


@pytest.mark.parametrize(
    ("fmt", "listed", "bought"),
    [
        (
            0,
            "phone = 79587654321, cost = 600.00, bought = 0, noprolong = 0\n"
            "phone = 79587654322, cost = 600.00, bought = 0, noprolong = 0\n"
            "phone = 79587650000, cost = 1500.00, bought = 0, noprolong = 0",
            "phone = 79587654321, cost = 320.00",
        ),
        (
            1,
            "79587654321,600.00,0,0\n79587654322,600.00,0,0\n79587650000,1500.00,0,0",
            "79587654321,320.00",
        ),
        (
            2,
            "<list>\n"
            + "".join(
                f"<phone>\n<phone>{p}</phone>\n<cost>{c}</cost>\n<bought>0</bought>\n"
                "<noprolong>0</noprolong>\n</phone>\n"
                for p, c in [
                    ("79587654321", "600.00"),
                    ("79587654322", "600.00"),
                    ("79587650000", "1500.00"),
                ]
            )
            + "</list>",
            "<result>\n<phone>79587654321</phone>\n<cost>320.00</cost>\n</result>",
        ),
        (
            3,
            '[{"phone": "79587654321", "cost": "600.00", "bought": 0, "noprolong": 0}, '
            '{"phone": "79587654322", "cost": "600.00", "bought": 0, "noprolong": 0}, '
            '{"phone": "79587650000", "cost": "1500.00", "bought": 0, "noprolong": 0}]',
            '{"phone": "79587654321", "cost": "320.00"}',
        ),
    ],
)
async def test_receive_phones_bodies(gw: Gateway, fmt: int, listed: str, bought: str) -> None:
    gw.emu.account("alex").balance = Decimal("1000.00")
    assert await gw.ask(INBOUND, fmt, gets=1) == listed
    # 15 November (Moscow): 16 of 30 days left, today included: 600 * 16 / 30.
    assert charge(Decimal("600.00"), START) == Decimal("320.00")
    assert await gw.ask(INBOUND, fmt, buy=1, phone="+79587654321") == bought
    assert gw.emu.account("alex").balance == Decimal("680.00")


async def test_receive_phones_state(gw: Gateway) -> None:
    gw.emu.account("alex").balance = Decimal("1000.00")
    assert await gw.json(INBOUND, buy=1, phone="79587654321") == {
        "phone": "79587654321",
        "cost": "320.00",
    }
    assert gw.emu.account("alex").balance == Decimal("680.00")
    assert await gw.json(INBOUND, chg=1, phone="79587654321", noprolong=1) == {"result": "OK"}
    rows = {r["phone"]: r for r in await gw.json(INBOUND, gets=1)}
    assert rows["79587654321"] == {
        "phone": "79587654321",
        "cost": "600.00",
        "bought": 1,
        "noprolong": 1,
    }
    # Another account no longer sees the number, and cannot buy or change it.
    gw.emu.add_account(login="bob", password="pw", balance=Decimal("5000"))
    other = {"login": "bob", "psw": "pw"}
    assert "79587654321" not in {r["phone"] for r in await gw.json(INBOUND, gets=1, **other)}
    not_found = {"error": "number not found", "error_code": 3}
    assert await gw.json(INBOUND, buy=1, phone="79587654321", **other) == not_found
    assert await gw.json(INBOUND, chg=1, phone="79587654321", noprolong=0, **other) == not_found
    assert await gw.json(INBOUND, buy=1, phone="79001112233") == not_found
    assert (await gw.json(INBOUND, chg=1, phone="79587654321", noprolong=2))["error_code"] == 1
    assert (await gw.json(INBOUND, buy=1, phone="12"))["error_code"] == 1
    gw.emu.account("alex").balance = Decimal("10.00")
    assert await gw.json(INBOUND, buy=1, phone="79587650000") == {
        "error": "not enough money",
        "error_code": 5,
    }
    assert gw.emu.account("alex").balance == Decimal("10.00")


async def test_receive_phones_insufficient_funds_in_fmt_0(gw: Gateway) -> None:
    # The account has 250.80; the first number costs 320.00 for the rest of November.
    assert await gw.ask(INBOUND, 0, buy=1, phone="79587654321") == "ERROR = 5 (not enough money)"
    assert gw.emu.account("alex").balance == Decimal("250.80")


@pytest.mark.parametrize(
    ("fmt", "body"),
    [
        (0, "id = 1, phone = 78005553535"),
        (1, "1,78005553535"),
        (2, "<result>\n<id>1</id>\n<phone>78005553535</phone>\n</result>"),
        (3, '{"id": 1, "phone": "78005553535"}'),
    ],
)
async def test_wait_call_bodies(gw: Gateway, fmt: int, body: str) -> None:
    assert await gw.ask(WAIT, fmt, phone="+7 916 123-45-67") == body
    assert await gw.json(WAIT, phone="89161234567") == {"id": 2, "phone": "74951234567"}
    assert await gw.json(WAIT, phone="+7916123456") == {"error": "invalid number", "error_code": 7}
    assert await gw.json(WAIT) == {"error": "Error in parameters.", "error_code": 1}


@pytest.mark.parametrize(
    ("fmt", "body"),
    [
        (0, "account = 5001, sms = 12, cost = 18.60\naccount = 5002, sms = 1, cost = 1.55"),
        (1, "5001,12,18.60\n5002,1,1.55"),
        (
            2,
            "<list>\n<account>\n<account>5001</account>\n<sms>12</sms>\n<cost>18.60</cost>\n"
            "</account>\n<account>\n<account>5002</account>\n<sms>1</sms>\n<cost>1.55</cost>\n"
            "</account>\n</list>",
        ),
        (
            3,
            '[{"account": "5001", "sms": 12, "cost": "18.60"}, '
            '{"account": "5002", "sms": 1, "cost": "1.55"}]',
        ),
    ],
)
async def test_megafon_bodies(gw: Gateway, fmt: int, body: str) -> None:
    assert await gw.ask(GET, fmt, get_mega_accounts=1) == {0: "", 1: "", 3: "[]"}.get(
        fmt, "<list>\n</list>"
    )
    add_megafon_account(gw.emu, "alex", "5001", sms=12, cost=Decimal("18.6"))
    add_megafon_account(gw.emu, "alex", "5002", sms=1, cost=Decimal("1.55"))
    assert await gw.ask(GET, fmt, get_mega_accounts=1) == body
    assert await gw.json(GET, get_mega_accounts=1, account="5002") == [
        {"account": "5002", "sms": 1, "cost": "1.55"}
    ]


async def test_whatsapp_and_binary_sends(gw: Gateway) -> None:
    sent = await gw.json(SEND, phones="79161234567", mes="Hi", bot="wa:79990001122", cost=3)
    assert sent == {"id": 1, "cnt": 1, "cost": "1.00", "balance": "249.80"}
    status = await gw.json("/sys/status.php", id=1, phone="79161234567", all=1)
    assert status["type"] == 14
    bad = await gw.json(SEND, phones="79161234567", mes="Hi", bot="wa:@shop")
    assert bad == {"error": "Error in parameters.", "error_code": 1}
    binary = await gw.json(SEND, phones="79161234567", mes="0B05", bin=2)
    assert binary["cnt"] == 1
    odd = await gw.json(SEND, phones="79161234567", mes="0B0", bin=2)
    assert odd == {"error": "Error in parameters.", "error_code": 1}
