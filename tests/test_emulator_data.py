"""The emulator's senders.php, get.php and tinyurls.php bodies in every format (seeds 000, 003)."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
import zlib
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from smsc_async._constants import MOSCOW
from smsc_async.testing import Emulator, GatewayLimits
from smsc_async.testing._records import (
    OPERATOR_FIELDS,
    add_sender,
    add_short_link,
    click_short_link,
    sender_code,
    set_individual_price,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    # What the emulator answers does not depend on the event loop (its clock here is a fake
    # one): asyncio only. Its loop-dependent parts (delays, drops, rule windows, served
    # sockets) run on both backends in test_emulator_faults.py and test_emulator_rules.py.
    return "asyncio"


#: A frozen clock at noon, 15 March 2024, Moscow: every date in a body is known.
START = dt.datetime(2024, 3, 15, 12, 0, tzinfo=MOSCOW)
NOON = "15.03.2024 12:00:00"
AUTH = {"login": "demo", "psw": "demo", "charset": "utf-8"}
PHONE = "79161234567"


def _emulator(*, strict: bool = False) -> Emulator:
    return Emulator(
        limits=GatewayLimits().scaled(0.01),
        strict=strict,
        clock=lambda: 0.0,
        start_time=START.timestamp(),
        delivery_delay=0.0,
    )


@pytest.fixture
def emu() -> Emulator:
    return _emulator()


@pytest.fixture
async def http(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=emu)
    async with httpx.AsyncClient(transport=transport, base_url="http://smsc.test") as client:
        yield client


async def ask(http: httpx.AsyncClient, path: str, fmt: int, **params: object) -> str:
    form = {**AUTH, "fmt": str(fmt), **{k: str(v) for k, v in params.items()}}
    response = await http.post(path, data=form)
    assert response.status_code == 200
    return response.text


# ------------------------------------------------------------------------------------ senders

SENDERS = "/sys/senders.php"


async def test_sender_list_in_every_format(http: httpx.AsyncClient, emu: Emulator) -> None:
    add_sender(emu, "demo", "Shop")
    add_sender(emu, "demo", "Wait", status=0)
    assert await ask(http, SENDERS, 0, get=1) == "name = Shop, id = 1"
    assert await ask(http, SENDERS, 1, get=1) == "Shop,1"
    assert await ask(http, SENDERS, 2, get=1) == '<list>\n<sender id="1">Shop</sender>\n</list>'
    assert json.loads(await ask(http, SENDERS, 3, get=1)) == [{"sender": "Shop", "id": 1}]
    assert await ask(http, SENDERS, 0, get=1, all=1) == (
        "name = Shop, status = 1, id = 1\nname = Wait, status = 0, id = 2"
    )
    assert await ask(http, SENDERS, 1, get=1, all=1) == "Shop,1,1\nWait,0,2"
    assert await ask(http, SENDERS, 2, get=1, all=1) == (
        '<list>\n<sender status="1" id="1">Shop</sender>\n'
        '<sender status="0" id="2">Wait</sender>\n</list>'
    )
    assert json.loads(await ask(http, SENDERS, 3, get=1, all=1)) == [
        {"sender": "Shop", "status": 1, "id": 1},
        {"sender": "Wait", "status": 0, "id": 2},
    ]
    assert await ask(http, SENDERS, 3, get=1, all=1) == (
        '[{"sender": "Shop", "status": 1, "id": 1}, {"sender": "Wait", "status": 0, "id": 2}]'
    )


async def test_sender_operator_statuses(http: httpx.AsyncClient, emu: Emulator) -> None:
    add_sender(emu, "demo", "Shop", operators={"mts_step": 3})
    fmt0 = await ask(http, SENDERS, 0, get=1, operators=1)
    expected = ", ".join(
        [
            "name = Shop",
            *(f"{f} = {3 if f == 'mts_step' else 2}" for f in OPERATOR_FIELDS),
            "id = 1",
        ]
    )
    assert fmt0 == expected
    assert fmt0.startswith("name = Shop, mega_step = 2, bee_step = 2, motiv_step = 2, sber_step")
    root = ET.fromstring(await ask(http, SENDERS, 2, get=1, operators=1))
    [sender] = list(root)
    assert sender.text == "Shop"
    assert list(sender.attrib) == [*OPERATOR_FIELDS, "id"]
    assert sender.attrib["mts_step"] == "3"
    obj = json.loads(await ask(http, SENDERS, 3, get=1, operators=1))[0]
    # The JSON form's own order, every value quoted.
    assert list(obj)[:4] == ["sender", "mega_step", "mega_int", "bee_step"]
    assert list(obj)[-1] == "id"
    assert obj["id"] == "1"
    assert obj["mts_step"] == "3"
    assert set(obj) == {"sender", "id", *OPERATOR_FIELDS}


async def test_sender_commands_in_every_format(http: httpx.AsyncClient) -> None:
    assert await ask(http, SENDERS, 0, add=1, sender="A") == "ID = 1"
    assert await ask(http, SENDERS, 1, add=1, sender="B") == "2"
    assert await ask(http, SENDERS, 2, add=1, sender="C") == "<sender>\n<id>3</id>\n</sender>"
    assert await ask(http, SENDERS, 3, add=1, sender="D") == '{"sender": 4}'
    assert await ask(http, SENDERS, 0, chg=1, id=1, cmt="x") == "OK"
    assert await ask(http, SENDERS, 1, chg=1, sender="B", cmt="y") == "OK"
    assert await ask(http, SENDERS, 2, chg=1) == (  # neither id nor sender
        "<result>\n<error>Error in parameters.</error>\n<error_code>1</error_code>\n</result>"
    )
    assert await ask(http, SENDERS, 2, **{"del": 1, "id": 3}) == "<result>OK</result>"
    assert await ask(http, SENDERS, 3, **{"del": 1, "sender": "d"}) == '{"result": "OK"}'
    assert await ask(http, SENDERS, 0, get=1, all=1) == (
        "name = A, status = 0, id = 1\nname = B, status = 0, id = 2"
    )


async def test_sender_errors_in_every_format(http: httpx.AsyncClient, emu: Emulator) -> None:
    assert await ask(http, SENDERS, 0, **{"del": 1, "id": 9}) == (
        "ERROR = 3 (Sender name not found.)"
    )
    assert await ask(http, SENDERS, 1, **{"del": 1, "id": 9}) == "0,-3"
    assert await ask(http, SENDERS, 2, **{"del": 1, "id": 9}) == (
        "<result>\n<error>Sender name not found.</error>\n<error_code>3</error_code>\n</result>"
    )
    assert json.loads(await ask(http, SENDERS, 3, **{"del": 1, "id": 9})) == {
        "error": "Sender name not found.",
        "error_code": 3,
    }
    await ask(http, SENDERS, 0, add=1, sender="Shop")
    assert await ask(http, SENDERS, 1, add=1, sender="shop") == "0,-5"
    assert await ask(http, SENDERS, 1, add=1, sender="Twelve chars") == "0,-1"
    assert await ask(http, SENDERS, 1) == "0,-1"  # no command
    await ask(http, SENDERS, 0, add=1, sender=PHONE)
    assert await ask(http, SENDERS, 1, send_code=1, sender="123") == "0,-7"
    assert await ask(http, SENDERS, 1, check_code=1, sender=PHONE, code="1") == "0,-11"
    assert await ask(http, SENDERS, 1, send_code=1, sender=PHONE) == "OK"
    assert await ask(http, SENDERS, 1, send_code=1, sender="+" + PHONE) == "0,-10"
    code = sender_code(emu, "demo", PHONE)
    assert await ask(http, SENDERS, 0, check_code=1, sender="8" + PHONE[1:], code=code) == "OK"
    assert await ask(http, SENDERS, 0, get=1) == f"name = {PHONE}, id = 2"
    await ask(http, SENDERS, 0, add=1, sender="79990000123")
    assert await ask(http, SENDERS, 1, send_code=1, sender="79990000123") == "0,-8"
    assert await ask(http, SENDERS, 1, send_code=1, sender="79031234567") == "0,-3"


async def test_code_can_be_sent_again_after_eight_hours() -> None:
    now = [0.0]
    emu = Emulator(clock=lambda: now[0], start_time=START.timestamp(), strict=False)
    add_sender(emu, "demo", PHONE, status=0)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emu), base_url="http://smsc.test"
    ) as http:
        assert await ask(http, SENDERS, 0, send_code=1, sender=PHONE) == "OK"
        first = sender_code(emu, "demo", PHONE)
        now[0] += 8 * 3600 - 1
        assert await ask(http, SENDERS, 1, send_code=1, sender=PHONE) == "0,-10"
        now[0] += 1
        assert await ask(http, SENDERS, 0, send_code=1, sender=PHONE) == "OK"
        assert await ask(http, SENDERS, 1, check_code=1, sender=PHONE, code=first) in (
            "0,-11",
            "OK",  # the new code may repeat the old one by chance
        )


# ------------------------------------------------------------------------------------ history

GET = "/sys/get.php"


async def test_history_in_every_format(http: httpx.AsyncClient) -> None:
    assert await ask(http, "/sys/send.php", 0, phones=PHONE, mes="Hello", sender="Shop") == (
        "OK - 1 SMS, ID - 1"
    )
    crc = zlib.crc32(b"Hello")
    assert await ask(http, GET, 0, get_messages=1) == (
        f"Status = 1, check_time = {NOON}, err = 0, send_date = {NOON}, phone = {PHONE}, "
        "mccmnc = 25001, country = Россия, operator = МТС, region = Москва, cost = 4.30, "
        "sender_id = Shop, status_name = Доставлено, message = Hello, type = 0, ID = 1, "
        f"int_id = 1, sms_cnt = 1, format = 0, crc = {crc}"
    )
    ts = int(START.timestamp())
    assert await ask(http, GET, 1, get_messages=1) == (
        f"1,{ts},0,{ts},{PHONE},25001,Россия,МТС,Москва,4.30,Shop,Доставлено, Hello,0,1,1,1,0,{crc}"
    )
    root = ET.fromstring(await ask(http, GET, 2, get_messages=1))
    assert root.tag == "list"
    [sms] = list(root)
    assert sms.tag == "sms"
    assert [c.tag for c in sms][:6] == [
        "status",
        "last_date",
        "last_timestamp",
        "err",
        "send_date",
        "send_timestamp",
    ]
    assert sms.findtext("message") == "Hello"
    assert sms.findtext("int_id") == "1"
    body = await ask(http, GET, 3, get_messages=1)
    [obj] = json.loads(body)
    assert list(obj) == [c.tag for c in sms]
    assert obj["id"] == 1
    assert obj["int_id"] == "1"
    assert obj["last_date"] == NOON
    assert obj["cost"] == "4.30"


async def test_history_selection(http: httpx.AsyncClient) -> None:
    for n, phone in enumerate([PHONE, "79031234567", "79261234567"]):
        await ask(http, "/sys/send.php", 0, phones=phone, mes=f"m{n}")
    await ask(http, "/sys/send.php", 0, phones="ann@example.com", mes="mail", mail=1, subj="s")
    lines = (await ask(http, GET, 1, get_messages=1)).splitlines()
    assert [line.split(",")[4] for line in lines] == ["79261234567", "79031234567", PHONE]
    lines = (await ask(http, GET, 1, get_messages=1, cnt=1, prev_id=3)).splitlines()
    assert [line.split(",")[4] for line in lines] == ["79031234567"]
    lines = (await ask(http, GET, 1, get_messages=1, phone="+79031234567,79161234567")).splitlines()
    assert len(lines) == 2
    [mail] = (await ask(http, GET, 1, get_messages=1, format=8)).splitlines()
    assert mail.split(",")[4] == "ann@example.com"
    assert mail.endswith(f",8,{zlib.crc32(b'mail')}")
    assert await ask(http, GET, 1, get_messages=1, email="bob@example.com", format=8) == "0,-3"
    assert await ask(http, GET, 0, get_messages=1, start="16.03.2024") == (
        "ERROR = 3 (Message not found.)"
    )
    assert await ask(http, GET, 1, get_messages=1, start="15.03.2024", end="14.03.2024") == "0,-1"
    assert await ask(http, GET, 1, get_messages=1, start="2024-03-15") == "0,-1"
    assert await ask(http, GET, 1, get_messages=1, format=3) == "0,-1"
    assert await ask(http, GET, 1) == "0,-1"  # no command


# ----------------------------------------------------------------------------------- incoming


async def test_answers_in_every_format(http: httpx.AsyncClient, emu: Emulator) -> None:
    emu.add_incoming("demo", phone="+79031234567", message="Да, спасибо", to_phone="79000000001")
    emu.add_incoming("demo", phone=PHONE, message="Stop", to_phone="79000000002")
    assert await ask(http, GET, 0, get_answers=1) == (
        f"id = 1, received = {NOON}, phone = 79031234567, message = Да, спасибо, "
        f"to_phone = 79000000001, sent = {NOON}\n"
        f"id = 2, received = {NOON}, phone = {PHONE}, message = Stop, "
        f"to_phone = 79000000002, sent = {NOON}"
    )
    assert await ask(http, GET, 1, get_answers=1, after_id=1) == (
        f"2,{NOON},{PHONE},79000000002,{NOON},Stop"
    )
    assert await ask(http, GET, 2, get_answers=1, cnt=1) == (
        f"<sms_answers>\n<sms>\n<id>1</id>\n<received>{NOON}</received>\n"
        "<phone>79031234567</phone>\n<message>Да, спасибо</message>\n"
        f"<to_phone>79000000001</to_phone>\n<sent>{NOON}</sent>\n</sms>\n</sms_answers>"
    )
    assert json.loads(await ask(http, GET, 3, get_answers=1, to_phone="79000000002")) == [
        {
            "id": 2,
            "received": NOON,
            "phone": PHONE,
            "message": "Stop",
            "to_phone": "79000000002",
            "sent": NOON,
        }
    ]
    assert await ask(http, GET, 3, get_answers=1, after_id=2) == "[]"
    assert await ask(http, GET, 2, get_answers=1, after_id=2) == "<sms_answers>\n</sms_answers>"
    assert await ask(http, GET, 1, get_answers=1, hour=169) == "0,-1"
    assert await ask(http, GET, 1, get_answers=1, after_id="x") == "0,-1"


# --------------------------------------------------------------------------------- statistics


async def test_stat_in_every_format(http: httpx.AsyncClient) -> None:
    await ask(http, "/sys/send.php", 0, phones=PHONE, mes="x" * 200)  # 2 parts at 4.30
    await ask(http, "/sys/send.php", 0, phones="79261234567", mes="y")  # 1 part at 4.10
    period = {"get_stat": 1, "start": "15.03.2024", "end": "15.03.2024"}
    assert await ask(http, GET, 0, **period) == (
        "login = demo, sms = 3, credit = 12.70, debit = 0.00, currency = RUR"
    )
    assert await ask(http, GET, 1, **period) == "demo,3,12.70,0.00,RUR"
    assert await ask(http, GET, 2, **period) == (
        "<list>\n<stat>\n<login>demo</login>\n<sms>3</sms>\n<credit>12.70</credit>\n"
        "<debit>0.00</debit>\n<currency>RUR</currency>\n</stat>\n</list>"
    )
    assert json.loads(await ask(http, GET, 3, **period, mycur=1)) == [
        {"login": "demo", "sms": "3", "credit": "12.70", "debit": "0.00", "currency": "RUR"}
    ]
    assert await ask(http, GET, 1, get_stat=1, start="16.03.2024") == "demo,0,0.00,0.00,RUR"
    assert await ask(http, GET, 1, get_stat=1, start="15.03.2024", balance2=1) == (
        "demo,0,0.00,0.00,RUR"
    )
    assert await ask(http, GET, 1, get_stat=1) == "0,-1"  # start is required


# ------------------------------------------------------------------------------------ tariffs


async def test_prices_in_every_format(http: httpx.AsyncClient, emu: Emulator) -> None:
    fmt0 = (await ask(http, GET, 0, get_price=1)).splitlines()
    assert fmt0[0] == (
        "zone = 1, name = Россия - МТС, api = 4.30, mass = 4.30, mms = 9.00, hlr = 0.30, "
        "call = 0.90"
    )
    assert fmt0[-1] == "mail = 0.10"
    assert not any(line.startswith("mccmnc") for line in fmt0)
    set_individual_price(emu, "demo", "25001", Decimal("3.5"))
    fmt1 = (await ask(http, GET, 1, get_price=1)).splitlines()
    assert fmt1[0] == "1,Россия - МТС,4.30,4.30,9.00,0.30,0.90"
    assert fmt1[-2:] == ["25001,3.50", "0.10"]
    assert len(fmt1) == len(fmt0) + 1
    root = ET.fromstring(await ask(http, GET, 2, get_price=1))
    assert [child.tag for child in root] == ["zones", "codes", "mail"]
    first = root.find("zones/zone")
    assert first is not None
    assert (first.text, first.attrib["name"], first.attrib["api"]) == ("1", "Россия - МТС", "4.30")
    code = root.find("codes/mccmnc")
    assert code is not None
    assert (code.text, code.attrib) == ("25001", {"cost": "3.50"})
    assert root.findtext("mail") == "0.10"
    obj = json.loads(await ask(http, GET, 3, get_price=1))
    assert list(obj) == ["zones", "codes", "mail"]
    assert obj["zones"][0] == {
        "zone": "1",
        "name": "Россия - МТС",
        "api": "4.30",
        "mass": "4.30",
        "mms": "9.00",
        "hlr": "0.30",
        "call": "0.90",
    }
    assert obj["codes"] == [{"mccmnc": "25001", "cost": "3.50"}]
    assert len(obj["zones"]) == len(fmt0) - 1


# -------------------------------------------------------------------------------- short links

TINY = "/sys/tinyurls.php"


async def test_short_link_in_every_format(http: httpx.AsyncClient, emu: Emulator) -> None:
    link = add_short_link(
        emu, "demo", "https://www.mywebsite.ru/page", clicks=[START.timestamp() - 86_400]
    )
    click_short_link(emu, "demo", link.id)
    assert link.short == "https://smsc.ru/~1"
    assert await ask(http, TINY, 0, get=1, id=1) == (
        "id = 1, cnt = 2, cnt_mon = 2, cnt_day = 1, cnt_yes = 1, cnt_pmon = 0, "
        "link = https://smsc.ru/~1"
    )
    assert await ask(http, TINY, 1, get=1, link="mywebsite.ru/page/") == (
        "1,2,2,1,1,0,https://smsc.ru/~1"
    )
    assert await ask(http, TINY, 2, get=1, link="https://smsc.ru/~1") == (
        "<result>\n<id>1</id>\n<cnt>2</cnt>\n<cnt_mon>2</cnt_mon>\n<cnt_day>1</cnt_day>\n"
        "<cnt_yes>1</cnt_yes>\n<cnt_pmon>0</cnt_pmon>\n<link>https://smsc.ru/~1</link>\n</result>"
    )
    assert await ask(http, TINY, 3, get=1, id=1) == (
        '{"id": "1", "cnt": "2", "cnt_mon": "2", "cnt_day": "1", "cnt_yes": "1", '
        '"cnt_pmon": "0", "link": "https://smsc.ru/~1"}'
    )
    assert await ask(http, TINY, 0, get=1, id=2) == "ERROR = 3 (Link not found.)"
    assert await ask(http, TINY, 1, get=1, link="other.ru") == "0,-3"
    assert await ask(http, TINY, 1, get=1) == "0,-1"
    assert await ask(http, TINY, 1, id=1) == "0,-1"
    with pytest.raises(KeyError):
        click_short_link(emu, "demo", 99)


# ---------------------------------------------------------------------------------- the rules


async def test_rules_are_enforced() -> None:
    emu = _emulator(strict=True)  # the clock is frozen: no window ever passes
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emu), base_url="http://smsc.test"
    ) as http:
        assert [await ask(http, GET, 1, get_answers=1) for _ in range(4)][-1] == "0,-9"
        assert await ask(http, GET, 1, get_answers=1, after_id=5) == ""  # not identical
        adds = [await ask(http, SENDERS, 1, add=1, sender=f"S{n}") for n in range(6)]
        assert adds == ["1", "2", "3", "4", "5", "0,-9"]
        stats = [await ask(http, GET, 1, get_stat=1, start=f"1{n}.03.2024") for n in range(4)]
        assert stats[-1] == "0,-9"  # any three a minute, identical or not
        add_short_link(emu, "demo", "https://a.ru")
        links = [await ask(http, TINY, 1, get=1, id=1) for _ in range(4)]
        assert links[-1] == "0,-9"
    assert emu.stats.errors[9] == 4


def test_helpers_check_their_input(emu: Emulator) -> None:
    add_sender(emu, "demo", "Shop")
    with pytest.raises(ValueError, match="already has"):
        add_sender(emu, "demo", "SHOP")
    with pytest.raises(ValueError, match="unknown operator"):
        add_sender(emu, "demo", "Cafe", operators={"nope": 1})
    assert sender_code(emu, "demo", "Nobody") is None
