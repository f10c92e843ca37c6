"""The emulator's management scripts in all four formats: templates, jobs, phones and users."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from smsc_async.testing import Emulator, GatewayLimits

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    # What the emulator answers does not depend on the event loop (its clock here is a fake
    # one): asyncio only. Its loop-dependent parts (delays, drops, rule windows, served
    # sockets) run on both backends in test_emulator_faults.py and test_emulator_rules.py.
    return "asyncio"


START = 1_700_000_000.0  # 15.11.2023 01:13:20 in Moscow
AUTH: dict[str, Any] = {"login": "alex", "psw": "secret", "charset": "utf-8"}
STATUS = "/sys/status.php"
TEMPLATES, JOBS, PHONES, USERS = (
    "/sys/templates.php",
    "/sys/jobs.php",
    "/sys/phones.php",
    "/sys/users.php",
)
PHONE = "79161234567"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Gateway:
    """An emulator with one account on a fake clock, asked over the ASGI transport."""

    def __init__(self, **options: Any) -> None:
        self.clock = FakeClock()
        settings: dict[str, Any] = {"clock": self.clock, "start_time": START, "strict": False}
        settings.update(options)
        self.emu = Emulator(**settings)
        self.emu.add_account(login="alex", password="secret", balance=Decimal("250.80"))

    async def ask(self, path: str, fmt: int = 3, **params: Any) -> str:
        transport = httpx.ASGITransport(app=self.emu)
        async with httpx.AsyncClient(transport=transport, base_url="http://smsc.test") as http:
            response = await http.post(path, data={**AUTH, "fmt": fmt, **params})
        assert response.status_code == 200
        return response.text

    async def json(self, path: str, **params: Any) -> Any:
        return json.loads(await self.ask(path, 3, **params))


@pytest.fixture
def gw() -> Gateway:
    return Gateway()


def error(fmt: int, code: int, text: str) -> str:
    return {
        0: f"ERROR = {code} ({text})",
        1: f"0,-{code}",
        2: f"<result>\n<error>{text}</error>\n<error_code>{code}</error_code>\n</result>",
        3: json.dumps({"error": text, "error_code": code}),
    }[fmt]


OK = {0: "OK", 1: "OK", 2: "<result>OK</result>", 3: '{"result": "OK"}'}
CREATED = {
    0: "OK, ID - 1",
    1: "1",
    2: "<result>\n<id>1</id>\n</result>",
    3: '{"id": 1}',
}
FMTS = [0, 1, 2, 3]

# -- templates ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FMTS)
async def test_templates_in_every_format(gw: Gateway, fmt: int) -> None:
    added = await gw.ask(TEMPLATES, fmt, add=1, name="code", msg="Код: {code}", format="sms")
    assert added == CREATED[fmt]
    listed = await gw.ask(TEMPLATES, fmt, get=1)
    assert (
        listed
        == {
            0: "id = 1, name = code, msg = Код: {code}, format = sms, sender = , autosign = 0",
            1: "1,code,Код: {code},sms,,0",
            2: "<list>\n<template>\n<id>1</id>\n<name>code</name>\n<msg>Код: {code}</msg>\n"
            "<format>sms</format>\n<sender></sender>\n<autosign>0</autosign>\n</template>\n</list>",
            3: '[{"id": 1, "name": "code", "msg": "Код: {code}", "format": "sms", "sender": "", '
            '"autosign": 0}]',
        }[fmt]
    )
    assert await gw.ask(TEMPLATES, fmt, chg=1, id=1, msg="New", **{"fl[1]": 1}) == OK[fmt]
    assert await gw.json(TEMPLATES, get=1) == [
        {"id": 1, "name": "code", "msg": "New", "format": "sms", "sender": "", "autosign": 1}
    ]
    assert await gw.ask(TEMPLATES, fmt, del_=1) == error(fmt, 1, "Error in parameters.")
    assert await gw.ask(TEMPLATES, fmt, **{"del": 1, "id": 1}) == OK[fmt]
    assert await gw.ask(TEMPLATES, fmt, **{"del": 1, "id": 1}) == error(
        fmt, 3, "template not found"
    )
    # A change of an unknown id answers the plain line whatever the format.
    assert await gw.ask(TEMPLATES, fmt, chg=1, id=1, name="x") == "ERROR = 3 (template not found)"
    assert gw.emu.stats.errors_by_path[TEMPLATES][3] == 2


@pytest.mark.parametrize(
    "params",
    [
        {"add": 1, "msg": "no name"},
        {"add": 1, "name": "no text"},
        {"add": 1, "name": "n", "msg": "x" * 1001},
        {"add": 1, "name": "n", "msg": "x", "format": "fax"},
        {"chg": 1, "id": "abc"},
        {"get": 0},
    ],
)
async def test_template_parameter_errors(gw: Gateway, params: dict[str, Any]) -> None:
    assert await gw.json(TEMPLATES, **params) == {"error": "Error in parameters.", "error_code": 1}


# -- jobs ---------------------------------------------------------------------------------------

JOB_FIELDS = (
    "id = 1, name = promo, status = 0, mes = Sale, phones = 79161234567, cnt = 1, "
    "time = 15.11.2023 02:13:20, sender = Shop, rpt = 2, cost = {cost}"
)


@pytest.mark.parametrize("fmt", FMTS)
async def test_jobs_in_every_format(gw: Gateway, fmt: int) -> None:
    params = {"name": "promo", "phones": PHONE, "mes": "Sale", "sender": "Shop", "rpt": 2}
    added = await gw.ask(JOBS, fmt, add=1, time="+60", cost=1, **params)
    cost = json.loads(await gw.ask(JOBS, 3, get=1, id=1))["cost"]
    assert Decimal(cost) > 0
    assert (
        added
        == {
            0: f"OK, ID - 1, COST - {cost}",
            1: f"1,{cost}",
            2: f"<result>\n<id>1</id>\n<cost>{cost}</cost>\n</result>",
            3: json.dumps({"id": 1, "cost": cost}),
        }[fmt]
    )
    got = await gw.ask(JOBS, fmt, get=1, id=1)
    if fmt == 0:
        assert got == JOB_FIELDS.format(cost=cost)
    elif fmt == 1:
        assert got == f"1,promo,0,Sale,{PHONE},1,15.11.2023 02:13:20,Shop,2,{cost}"
    elif fmt == 2:
        assert got.startswith("<job>\n<id>1</id>\n<name>promo</name>\n<status>0</status>")
    else:
        assert json.loads(got)["time"] == "15.11.2023 02:13:20"
    assert await gw.ask(JOBS, fmt, add=1, **{**params, "name": "second"}) == (
        CREATED[fmt].replace("1", "2")
    )
    every = await gw.ask(JOBS, fmt, get_all=1)
    assert len(every.splitlines()) == {0: 2, 1: 2, 2: 26, 3: 1}[fmt]
    assert await gw.ask(JOBS, fmt, cancel=1, id=1) == OK[fmt]
    assert await gw.ask(JOBS, fmt, cancel=1, id=1) == error(fmt, 3, "error saving record")
    assert await gw.ask(JOBS, fmt, **{"del": 1, "id": 1}) == OK[fmt]
    assert await gw.ask(JOBS, fmt, get=1, id=1) == error(fmt, 3, "error saving record")
    bad_time = await gw.ask(JOBS, fmt, add=1, time="31.02.2024 10:00", **params)
    assert bad_time == error(fmt, 5, "wrong date format")


async def test_job_status_follows_the_clock(gw: Gateway) -> None:
    await gw.json(JOBS, add=1, name="n", phones=PHONE, mes="m", time="+10")
    assert (await gw.json(JOBS, get=1, id=1))["status"] == 0
    gw.clock.now = 599.0
    assert (await gw.json(JOBS, get=1, id=1))["status"] == 0
    gw.clock.now = 600.0
    assert (await gw.json(JOBS, get=1, id=1))["status"] == 1
    assert await gw.json(JOBS, cancel=1, id=1) == {"error": "error saving record", "error_code": 3}


async def test_job_recipients_groups_and_periods(gw: Gateway) -> None:
    await gw.json(PHONES, add_group=1, name="vip", num=4)  # id 1
    await gw.json(PHONES, add=1, phone="79031234567", grp=1)
    await gw.json(PHONES, add=1, phone="+7 916 123-45-67", grp=1)
    added = await gw.json(JOBS, add=1, name="n", phones=f"G4,{PHONE}", mes="m", cost=1)
    job = await gw.json(JOBS, get=1, id=added["id"])
    assert job["cnt"] == 2  # the group's two members; the repeated number counts once
    assert job["cost"] == added["cost"]
    assert len(await gw.json(JOBS, get_all=1, start="15.11.2023", end="15.11.2023")) == 1
    assert await gw.json(JOBS, get_all=1, start="16.11.2023") == []
    assert await gw.json(JOBS, get_all=1, start="2023-11-15") == {
        "error": "wrong date format",
        "error_code": 5,
    }
    tpl = await gw.json(TEMPLATES, add=1, name="t", msg="From template")
    from_tpl = await gw.json(JOBS, add=1, name="t", phones=PHONE, tpl=tpl["id"])
    assert (await gw.json(JOBS, get=1, id=from_tpl["id"]))["mes"] == "From template"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"add": 1, "phones": PHONE, "mes": "m"}, 1),
        ({"add": 1, "name": "n", "mes": "m"}, 1),
        ({"add": 1, "name": "n", "phones": PHONE}, 1),
        ({"add": 1, "name": "n", "phones": "123", "mes": "m"}, 1),
        ({"add": 1, "name": "n", "phones": "G9", "mes": "m"}, 1),
        ({"add": 1, "name": "n", "phones": PHONE, "mes": "m", "rpt": 8}, 1),
        ({"add": 1, "name": "n", "phones": PHONE, "mes": "m", "time": "soon"}, 5),
        ({"add": 1, "name": "n", "phones": PHONE, "mes": "m", "tz": "x"}, 5),
        ({"add": 1, "name": "n", "phones": PHONE, "tpl": 77}, 3),
        ({"get": 1, "id": 77}, 3),
        ({"get": 1}, 1),
        ({"nothing": 1}, 1),
    ],
)
async def test_job_errors(gw: Gateway, params: dict[str, Any], code: int) -> None:
    assert (await gw.json(JOBS, **params))["error_code"] == code


async def test_identical_jobs_requests_are_refused_in_strict_mode() -> None:
    gw = Gateway(strict=True, limits=GatewayLimits())
    assert await gw.json(JOBS, get_all=1) == []
    assert (await gw.json(JOBS, get_all=1))["error_code"] == 9
    assert await gw.json(JOBS, get_all=1, start="01.01.2023") == []  # not identical
    gw.clock.now = 60.0
    assert await gw.json(JOBS, get_all=1) == []
    for _ in range(5):  # the other scripts have no documented rule
        assert await gw.json(TEMPLATES, get=1) == []


# -- phones -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FMTS)
async def test_phone_book_in_every_format(gw: Gateway, fmt: int) -> None:
    assert await gw.ask(PHONES, fmt, add_group=1, name="vip") == CREATED[fmt]
    added = await gw.ask(PHONES, fmt, add=1, phone="8 (916) 123-45-67", name="Ann", grp=1)
    assert added == CREATED[fmt].replace("1", "2")
    contacts = await gw.ask(PHONES, fmt, get=1)
    assert (
        contacts
        == {
            0: f"id = 2, phone = {PHONE}, name = Ann, "
            "fnm = , lnm = , mnm = , mail = , cmt = , grp = 1",
            1: f"2,{PHONE},Ann,,,,,,1",
            2: f"<list>\n<phone>\n<id>2</id>\n<phone>{PHONE}</phone>\n<name>Ann</name>\n"
            "<fnm></fnm>\n"
            "<lnm></lnm>\n<mnm></mnm>\n<mail></mail>\n<cmt></cmt>\n<grp>1</grp>\n</phone>\n</list>",
            3: json.dumps(
                [
                    {
                        "id": 2,
                        "phone": PHONE,
                        "name": "Ann",
                        "fnm": "",
                        "lnm": "",
                        "mnm": "",
                        "mail": "",
                        "cmt": "",
                        "grp": "1",
                    }
                ]
            ),
        }[fmt]
    )
    groups = await gw.ask(PHONES, fmt, get_group=1)
    assert (
        groups
        == {
            0: "id = 1, name = vip, num = 1, type = 0, cnt = 1",
            1: "1,vip,1,0,1",
            2: "<list>\n<group>\n<id>1</id>\n<name>vip</name>\n<num>1</num>\n<type>0</type>\n"
            "<cnt>1</cnt>\n</group>\n</list>",
            3: '[{"id": 1, "name": "vip", "num": 1, "type": 0, "cnt": 1}]',
        }[fmt]
    )
    assert await gw.ask(PHONES, fmt, move_group=3, phone=PHONE, grp=1) == OK[fmt]
    assert await gw.ask(PHONES, fmt, chg=1, phone=PHONE, new_phone="79031234567") == OK[fmt]
    assert await gw.ask(PHONES, fmt, add_black=1, phone=PHONE, type=1) == OK[fmt]
    assert await gw.ask(PHONES, fmt, del_black=1, phone=PHONE) == OK[fmt]
    assert await gw.ask(PHONES, fmt, del_black=1, phone=PHONE) == error(fmt, 3, "record not found")
    assert await gw.ask(PHONES, fmt, add=1, phone="7916") == error(fmt, 7, "invalid number")
    assert await gw.ask(PHONES, fmt, **{"del": 1, "phone": "79031234567"}) == OK[fmt]
    assert await gw.ask(PHONES, fmt, del_group=1, id=1) == OK[fmt]
    assert await gw.ask(PHONES, fmt, get=1) == {0: "", 1: "", 2: "<list>\n</list>", 3: "[]"}[fmt]


async def test_group_moves_and_numbers(gw: Gateway) -> None:
    a = (await gw.json(PHONES, add_group=1, name="a"))["id"]
    b = (await gw.json(PHONES, add_group=1, name="b", num=9, type=1))["id"]
    await gw.json(PHONES, add=1, phone=PHONE, grp=f"{a},{b}")
    await gw.json(PHONES, add=1, phone="79031234567", grp=a)
    assert await gw.json(PHONES, move_group=1, phone=f"{PHONE},79031234567", grp=b) == {
        "result": "OK"
    }
    assert {c["grp"] for c in await gw.json(PHONES, get=1)} == {str(b)}
    await gw.json(PHONES, move_group=2, phone=PHONE, grp=a)
    assert [c["phone"] for c in await gw.json(PHONES, get=1, grp=a)] == [PHONE]
    assert [g["num"] for g in await gw.json(PHONES, get_group=1)] == [1, 9]
    assert (await gw.json(PHONES, chg_group=1, id=a, num=9))["error_code"] == 1
    await gw.json(PHONES, chg_group=1, id=a, name="A", num=2)
    assert [(g["name"], g["num"]) for g in await gw.json(PHONES, get_group=1)] == [
        ("A", 2),
        ("b", 9),
    ]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"add": 1}, 1),
        ({"add": 1, "phone": PHONE, "grp": "x"}, 1),
        ({"add": 1, "phone": PHONE, "grp": "42"}, 3),
        ({"chg": 1, "phone": PHONE, "name": "x"}, 3),
        ({"del": 1, "phone": PHONE}, 3),
        ({"add_group": 1}, 1),
        ({"add_group": 1, "name": "g", "type": 3}, 1),
        ({"add_group": 1, "name": "g", "num": 0}, 1),
        ({"chg_group": 1, "id": 42}, 3),
        ({"del_group": 1, "id": 42}, 3),
        ({"move_group": 4, "phone": PHONE, "grp": 1}, 1),
        ({"move_group": 1, "phone": PHONE, "grp": 42}, 3),
        ({"add_black": 1, "phone": "abc"}, 7),
        ({"add_black": 1, "phone": PHONE, "type": 5}, 1),
        ({"get": 1, "grp": 42}, 3),
    ],
)
async def test_phone_book_errors(gw: Gateway, params: dict[str, Any], code: int) -> None:
    assert (await gw.json(PHONES, **params))["error_code"] == code


# -- users --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FMTS)
async def test_sub_clients_in_every_format(gw: Gateway, fmt: int) -> None:
    assert await gw.ask(USERS, fmt, add=1, user="sub", password="pw", curr=2) == CREATED[fmt]
    assert await gw.ask(USERS, fmt, pay=1, user="sub", sum="10.5") == OK[fmt]
    assert gw.emu.account("alex").balance == Decimal("240.30")
    assert gw.emu.account("sub").balance == Decimal("10.50")
    stat = await gw.ask(USERS, fmt, get_stat=1, user="sub")
    assert (
        stat
        == {
            0: "login = sub, sms = 0, credit = 0.00, debit = 10.50, balance = 10.50, "
            "currency = USD",
            1: "sub,0,0.00,10.50,10.50,USD",
            2: "<stat>\n<login>sub</login>\n<sms>0</sms>\n<credit>0.00</credit>\n"
            "<debit>10.50</debit>\n"
            "<balance>10.50</balance>\n<currency>USD</currency>\n</stat>",
            3: '{"login": "sub", "sms": 0, "credit": "0.00", "debit": "10.50", "balance": "10.50", '
            '"currency": "USD"}',
        }[fmt]
    )
    every = await gw.ask(USERS, fmt, get_stat_all=1)
    assert "sub" in every
    assert every.startswith("[") == (fmt == 3)
    assert await gw.ask(USERS, fmt, chg=1, user="sub", dlim=5) == OK[fmt]
    assert await gw.ask(USERS, fmt, chg=1, user="nobody", dlim=5) == error(fmt, 3, "user not found")


async def test_sub_client_sends_and_is_counted(gw: Gateway) -> None:
    await gw.json(USERS, add=1, user="sub", password="pw")
    await gw.json(USERS, pay=1, user="sub", sum="20")
    sub = {"login": "sub", "psw": "pw"}
    sent = await gw.json("/sys/send.php", phones=PHONE, mes="Hi", cost=2, **sub)
    stat = await gw.json(USERS, get_stat=1, user="sub")
    assert (stat["sms"], stat["credit"]) == (1, sent["cost"])
    assert Decimal(stat["balance"]) == Decimal("20") - Decimal(sent["cost"])
    assert (await gw.json(USERS, get_stat=1, user="sub", end="14.11.2023"))["sms"] == 0
    await gw.json(USERS, chg=1, user="sub", new_login="sub2", password="pw2")
    assert (await gw.json("/sys/balance.php", **sub))["error_code"] == 2
    assert (await gw.json("/sys/balance.php", login="sub2", psw="pw2"))["balance"] == (
        stat["balance"]
    )
    assert (await gw.json(USERS, get_stat=1, user="sub2"))["sms"] == 1
    assert (await gw.json(USERS, get_stat=1, user="sub"))["error_code"] == 3


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"add": 1, "user": "sub"}, 1),
        ({"add": 1, "user": "has space", "password": "pw"}, 1),
        ({"add": 1, "user": "alex", "password": "pw"}, 1),
        ({"add": 1, "user": "x", "password": "pw", "curr": 9}, 1),
        ({"add": 1, "user": "x", "password": "pw", "dlim": "-1"}, 1),
        ({"add": 1, "user": "x", "password": "pw", "reseller": 2}, 1),
        ({"pay": 1, "user": "nobody", "sum": 1}, 3),
        ({"get_stat": 1, "user": "nobody"}, 3),
        ({"get_stat_all": 1, "start": "yesterday"}, 1),
        ({"get_stat": 0}, 1),
    ],
)
async def test_sub_client_errors(gw: Gateway, params: dict[str, Any], code: int) -> None:
    assert (await gw.json(USERS, **params))["error_code"] == code


@pytest.mark.parametrize("amount", ["0", "-5", "abc", "NaN", "1000"])
async def test_pay_refuses_bad_amounts(gw: Gateway, amount: str) -> None:
    await gw.json(USERS, add=1, user="sub", password="pw")
    assert (await gw.json(USERS, pay=1, user="sub", sum=amount))["error_code"] == 1
    assert gw.emu.account("alex").balance == Decimal("250.80")


async def test_books_are_per_account(gw: Gateway) -> None:
    gw.emu.add_account(login="bob", password="pw")
    await gw.json(TEMPLATES, add=1, name="mine", msg="x")
    assert await gw.json(TEMPLATES, get=1, login="bob", psw="pw") == []
    assert len(await gw.json(TEMPLATES, get=1)) == 1


# -- send.php / status.php extras: HLR results, e-mail senders ----------------------------------


async def test_hlr_result_in_the_status(gw: Gateway) -> None:
    sent = await gw.json("/sys/send.php", phones=PHONE, hlr=1)
    query = {"id": sent["id"], "phone": PHONE}
    assert "imsi" not in await gw.json(STATUS, **query)  # no answer from the HLR yet
    gw.clock.now = 5.0
    status = await gw.json(STATUS, all=1, **query)
    assert status["type"] == 4
    assert status["status"] == 1
    assert {k: status[k] for k in ("imsi", "msc", "mcc", "mnc", "rcn", "rnet")} == {
        "imsi": "250019161234567",
        "msc": "79160000000",
        "mcc": "250",
        "mnc": "01",
        "rcn": "",
        "rnet": "",
    }
    assert status["cn"]
    assert status["net"]
    line = await gw.ask(STATUS, 0, **query)
    assert ", imsi = 250019161234567, msc = 79160000000, mcc = 250, mnc = 01, cn = " in line
    # An SMS has no HLR fields.
    sms = await gw.json("/sys/send.php", phones=PHONE, mes="Hi")
    gw.clock.now = 10.0
    assert "imsi" not in await gw.json(STATUS, id=sms["id"], phone=PHONE, all=2)


@pytest.mark.parametrize(
    ("sender", "ok"), [("shop@example.com", True), ("Shop", False), ("", True)]
)
async def test_mail_sender_is_an_address(gw: Gateway, sender: str, ok: bool) -> None:
    answer = await gw.json(
        "/sys/send.php", phones="ann@example.com", mes="Hi", mail=1, subj="S", sender=sender
    )
    assert ("id" in answer) is ok
