"""The emulator's answers, byte for byte, for every endpoint and every fmt."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from smsc_async.testing import RESERVED, Emulator, GatewayLimits

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    # What the emulator answers does not depend on the event loop (its clock here is a fake
    # one): asyncio only. Its loop-dependent parts (delays, drops, rule windows, served
    # sockets) run on both backends in test_emulator_faults.py and test_emulator_rules.py.
    return "asyncio"


START = 1_700_000_000.0  # 14.11.2023 22:13:20 UTC = 15.11.2023 01:13:20 in Moscow
START_MSK = "15.11.2023 01:13:20"
AUTH: dict[str, Any] = {"login": "alex", "psw": "secret", "charset": "utf-8"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(**kwargs: Any) -> tuple[Emulator, FakeClock]:
    clock = FakeClock()
    options: dict[str, Any] = {"clock": clock, "start_time": START, "strict": False}
    options.update(kwargs)
    emu = Emulator(**options)
    emu.add_account(
        login="alex", password="secret", api_key="k-123", balance=Decimal("250.80"), currency="RUB"
    )
    return emu, clock


def client(emu: Emulator) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=emu), base_url="http://smsc.test")


async def get(emu: Emulator, path: str, **params: Any) -> str:
    async with client(emu) as http:
        response = await http.get(path, params={**AUTH, **params})
    assert response.status_code == 200
    return response.text


# --------------------------------------------------------------------------------- balance.php


@pytest.mark.parametrize(
    ("fmt", "body"),
    [
        (0, "250.80"),
        (1, "250.80"),
        (2, "<balance>250.80</balance>"),
        (3, '{"balance": "250.80"}'),
    ],
)
async def test_balance(fmt: int, body: str) -> None:
    emu, _ = make()
    assert await get(emu, "/sys/balance.php", fmt=fmt) == body


@pytest.mark.parametrize(
    ("fmt", "body"),
    [
        (0, "250.80 RUB"),
        (1, "250.80,RUB"),
        (2, "<result>\n<balance>250.80</balance>\n<currency>RUB</currency>\n</result>"),
        (3, '{"balance": "250.80", "currency": "RUB"}'),
    ],
)
async def test_balance_with_currency(fmt: int, body: str) -> None:
    emu, _ = make()
    assert await get(emu, "/sys/balance.php", fmt=fmt, cur=1) == body


@pytest.mark.parametrize(
    ("fmt", "body"),
    [
        (0, "-10.00 KZT"),
        (1, "-10.00,KZT"),
        (
            2,
            "<result>\n<balance>-10.00</balance>\n<credit>500.00</credit>\n"
            "<currency>KZT</currency>\n</result>",
        ),
        (3, '{"balance": "-10.00", "credit": "500.00", "currency": "KZT"}'),
    ],
)
async def test_balance_with_credit(fmt: int, body: str) -> None:
    emu, _ = make()
    emu.add_account(
        login="kz", password="p", balance=Decimal("-10"), currency="KZT", credit=Decimal(500)
    )
    async with client(emu) as http:
        response = await http.get(
            "/sys/balance.php", params={"login": "kz", "psw": "p", "fmt": fmt, "cur": 1}
        )
    assert response.text == body


@pytest.mark.parametrize(
    "credentials",
    [
        {"login": "alex", "psw": "secret"},
        {"apikey": "k-123"},
        {"login": "", "psw": "k-123"},
        {"login": "alex", "psw": "5ebe2294ecd0e0f08eab7690d2a6ee69"},  # md5("secret")
    ],
)
async def test_authorization_forms(credentials: dict[str, str]) -> None:
    emu, _ = make()
    async with client(emu) as http:
        response = await http.get("/sys/balance.php", params={**credentials, "fmt": 3})
    assert response.json() == {"balance": "250.80"}


@pytest.mark.parametrize(
    ("fmt", "body"),
    [
        (0, "ERROR = 2 (Invalid username or password.)"),
        (1, "0,-2"),
        (
            2,
            "<result>\n<error>Invalid username or password.</error>\n"
            "<error_code>2</error_code>\n</result>",
        ),
        (3, '{"error": "Invalid username or password.", "error_code": 2}'),
    ],
)
@pytest.mark.parametrize(
    "credentials",
    [
        {"login": "alex", "psw": "wrong"},
        {"login": "nobody", "psw": "secret"},
        {"apikey": "k-999"},
        {"login": "alex"},
        {},
    ],
)
async def test_authorization_error(fmt: int, body: str, credentials: dict[str, str]) -> None:
    emu, _ = make()
    async with client(emu) as http:
        response = await http.get("/sys/balance.php", params={**credentials, "fmt": fmt})
    assert response.status_code == 200
    assert response.text == body
    assert emu.stats.errors[2] == 1


async def test_demo_account() -> None:
    async with client(Emulator()) as http:
        response = await http.get(
            "/sys/balance.php", params={"login": "demo", "psw": "demo", "fmt": 3, "cur": 1}
        )
    assert response.json() == {"balance": "1000.00", "currency": "RUR"}


async def test_unknown_path_is_a_404_page() -> None:
    emu, _ = make()
    async with client(emu) as http:
        response = await http.get("/sys/nothing.php", params=AUTH)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


# ------------------------------------------------------------------------------ charsets, POST


async def test_default_charset_is_windows_1251_both_ways() -> None:
    emu, _ = make()
    text = "Привет"
    raw = quote(text.encode("cp1251"))
    async with client(emu) as http:
        response = await http.get(
            f"/sys/send.php?login=alex&psw=secret&phones=79161234567&mes={raw}&id=m1&fmt=3"
        )
        assert response.headers["content-type"] == "application/json; charset=windows-1251"
        assert json.loads(response.content.decode("cp1251")) == {"id": "m1", "cnt": 1}
        info = await http.get(
            "/sys/status.php?login=alex&psw=secret&phone=79161234567&id=m1&all=1&fmt=0"
        )
    assert "message = Привет" in info.content.decode("cp1251")
    assert emu.account("alex").messages["m1", "79161234567"].text == text


async def test_utf8_charset() -> None:
    emu, _ = make()
    async with client(emu) as http:
        response = await http.get(
            "/sys/info.php",
            params={**AUTH, "get_operator": 1, "phone": "79161234567", "fmt": 3},
        )
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.content.decode("utf-8").startswith('{"country": "Россия"')


async def test_post_form_merges_with_query() -> None:
    emu, _ = make()
    async with client(emu) as http:
        response = await http.post(
            "/sys/send.php?fmt=3&login=alex",
            data={"psw": "secret", "phones": "79161234567", "mes": "hi", "charset": "utf-8"},
        )
    assert response.json() == {"id": 1, "cnt": 1}


# ------------------------------------------------------------------------------------ send.php

SEND = {"phones": "+79161234567,79261234567", "mes": "Hello"}  # MTS 4.30 + MegaFon 4.10


@pytest.mark.parametrize(
    ("cost", "fmt", "body"),
    [
        ("0", 0, "OK - 2 SMS, ID - 1"),
        ("0", 1, "1,2"),
        ("0", 2, "<result>\n<id>1</id>\n<cnt>2</cnt>\n</result>"),
        ("0", 3, '{"id": 1, "cnt": 2}'),
        ("2", 0, "OK - 2 SMS, ID - 1, COST - 8.40"),
        ("2", 1, "1,2,8.40"),
        ("2", 2, "<result>\n<id>1</id>\n<cnt>2</cnt>\n<cost>8.40</cost>\n</result>"),
        ("2", 3, '{"id": 1, "cnt": 2, "cost": "8.40"}'),
        ("3", 0, "OK - 2 SMS, ID - 1, COST - 8.40, BALANCE - 242.40"),
        ("3", 1, "1,2,8.40,242.40"),
        (
            "3",
            2,
            "<result>\n<id>1</id>\n<cnt>2</cnt>\n<cost>8.40</cost>\n<balance>242.40</balance>\n"
            "</result>",
        ),
        ("3", 3, '{"id": 1, "cnt": 2, "cost": "8.40", "balance": "242.40"}'),
    ],
)
async def test_send(cost: str, fmt: int, body: str) -> None:
    emu, _ = make()
    assert await get(emu, "/sys/send.php", cost=cost, fmt=fmt, **SEND) == body
    assert emu.account("alex").balance == Decimal("242.40")
    assert set(emu.account("alex").messages) == {("1", "79161234567"), ("1", "79261234567")}


@pytest.mark.parametrize(
    ("fmt", "body"),
    [
        (0, "8.40 (2 SMS)"),
        (1, "8.40,2"),
        (2, "<result>\n<cost>8.40</cost>\n<cnt>2</cnt>\n</result>"),
        (3, '{"cost": "8.40", "cnt": 2}'),
    ],
)
async def test_cost_estimate_sends_nothing(fmt: int, body: str) -> None:
    emu, _ = make()
    assert await get(emu, "/sys/send.php", cost=1, fmt=fmt, **SEND) == body
    assert emu.account("alex").balance == Decimal("250.80")
    assert emu.account("alex").messages == {}


async def test_send_keeps_client_id_and_numbers_server_ids() -> None:
    emu, _ = make()
    assert await get(emu, "/sys/send.php", fmt=3, id="order-7.a_b", **SEND) == (
        '{"id": "order-7.a_b", "cnt": 2}'
    )
    assert await get(emu, "/sys/send.php", fmt=3, id="2147483647", **SEND) == (
        '{"id": 2147483647, "cnt": 2}'
    )
    assert await get(emu, "/sys/send.php", fmt=1, id="0", phones="79161234567", mes="a") == "1,1"
    assert await get(emu, "/sys/send.php", fmt=1, phones="79161234567", mes="b") == "2,1"


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("[" * 80, 1),  # extension characters count twice
        ("[" * 81, 2),
        ("я" * 70, 1),
        ("я" * 71, 2),
        ("я" * 134, 2),
        ("я" * 135, 3),
        ("a" * 159 + "я", 3),  # one Cyrillic letter makes the whole text UCS-2
    ],
)
async def test_send_counts_parts_times_recipients(text: str, parts: int) -> None:
    emu, _ = make()
    body = await get(
        emu, "/sys/send.php", fmt=3, cost=2, mes=text, phones="79161234567;79161234568"
    )
    assert json.loads(body) == {"id": 1, "cnt": 2 * parts, "cost": f"{Decimal('8.60') * parts}"}


async def test_maxsms_cuts_the_text() -> None:
    emu, _ = make()
    body = await get(emu, "/sys/send.php", fmt=3, mes="a" * 1000, phones="79161234567", maxsms=2)
    assert json.loads(body) == {"id": 1, "cnt": 2}
    assert emu.account("alex").messages["1", "79161234567"].text == "a" * 306


async def test_translit_makes_cyrillic_fit_gsm() -> None:
    emu, _ = make()
    body = await get(emu, "/sys/send.php", fmt=3, mes="я" * 80, phones="79161234567", translit=1)
    assert json.loads(body)["cnt"] == 1


async def test_send_list_gives_each_number_its_text() -> None:
    emu, _ = make()
    listing = "79161234567:Your code: 1\\nbye\n79261234567,79261234568:" + "b" * 200
    body = await get(emu, "/sys/send.php", fmt=3, list=listing)
    assert json.loads(body) == {"id": 1, "cnt": 5}
    assert emu.account("alex").messages["1", "79161234567"].text == "Your code: 1\nbye"


@pytest.mark.parametrize(
    ("fmt", "body"),
    [
        (0, "ERROR = 7 (invalid number), ID - 1"),
        (1, "1,-7"),
        (
            2,
            "<result>\n<error>invalid number</error>\n<error_code>7</error_code>\n<id>1</id>\n"
            "</result>",
        ),
        (3, '{"error": "invalid number", "error_code": 7, "id": 1}'),
    ],
)
async def test_send_error_echoes_id(fmt: int, body: str) -> None:
    emu, _ = make()
    assert await get(emu, "/sys/send.php", fmt=fmt, phones="12ab,+8916", mes="hi") == body


@pytest.mark.parametrize(
    ("params", "code", "text"),
    [
        ({"phones": RESERVED.undeliverable + "123", "mes": "hi"}, 8, "can't deliver"),
        ({"phones": "79161234567", "mes": "Best CASINO in town"}, 6, "message is denied"),
        ({"phones": "79161234567", "mes": "x" * 1000, "maxsms": "0"}, 3, "no money"),
    ],
)
async def test_send_errors_with_id(params: dict[str, str], code: int, text: str) -> None:
    emu, _ = make()
    emu.account("alex").balance = Decimal("20")
    body = await get(emu, "/sys/send.php", fmt=3, id="abc", **params)
    assert json.loads(body) == {"error": text, "error_code": code, "id": "abc"}
    assert emu.account("alex").balance == Decimal("20")
    assert emu.account("alex").messages == {}


async def test_credit_lets_the_balance_go_negative() -> None:
    emu, _ = make()
    emu.account("alex").balance = Decimal("1")
    emu.account("alex").credit = Decimal("10")
    body = await get(emu, "/sys/send.php", fmt=3, cost=3, phones="79161234567", mes="hi")
    assert json.loads(body)["balance"] == "-3.30"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"phones": "79161234567", "mes": ""}, 1),
        ({"phones": "79161234567", "mes": "x" * 1001}, 1),
        ({"phones": "", "mes": "hi"}, 1),
        ({"phones": "79161234567", "mes": "hi", "id": "bad id"}, 1),
        ({"phones": "79161234567", "mes": "hi", "id": "x" * 41}, 1),
        ({"phones": "79161234567", "mes": "hi", "sender": "TooLongName1"}, 1),
        ({"phones": "79161234567", "mes": "hi", "sender": "1" * 16}, 1),
        ({"phones": "79161234567", "mes": "hi", "cost": "4"}, 1),
        ({"phones": "79161234567", "mes": "hi", "valid": "25"}, 1),
        ({"phones": "79161234567", "mes": "hi", "time": "tomorrow"}, 5),
        ({"phones": "79161234567", "mes": "hi", "time": "32.01.24 10:00"}, 5),
        ({"phones": "79161234567", "mes": "hi", "time": "10-9"}, 5),
    ],
)
async def test_send_request_errors(params: dict[str, str], code: int) -> None:
    emu, _ = make()
    body = json.loads(await get(emu, "/sys/send.php", fmt=3, **params))
    assert body["error_code"] == code
    assert "id" not in body


async def test_send_accepts_other_channels() -> None:
    emu, _ = make()
    for extra in (
        {"flash": "1"},
        {"viber": "1"},
        {"tg": "1"},
        {"call": "1", "voice": "w", "param": "10,10,2"},
        {"mms": "1", "subj": "Hi", "fileurl": "http://example.com/a.png"},
        {"push": "1"},
        {"sender": "MyShop", "valid": "01:30", "tinyurl": "1", "time": "+10", "tz": "1"},
    ):
        body = json.loads(
            await get(emu, "/sys/send.php", fmt=3, phones="79161234567", mes="hi", **extra)
        )
        assert body["cnt"] >= 1, extra
    hlr = json.loads(await get(emu, "/sys/send.php", fmt=3, phones="79161234567", hlr=1))
    assert hlr["cnt"] == 1
    mail = await get(emu, "/sys/send.php", fmt=3, mail=1, phones="a@b.example", mes="x", subj="s")
    assert json.loads(mail)["cnt"] == 1
    binary = await get(emu, "/sys/send.php", fmt=3, bin=2, phones="79161234567", mes="0A0B")
    assert json.loads(binary)["cnt"] == 1


@pytest.mark.parametrize(
    ("flags", "numbers"),
    [
        ({"op": "1"}, ["79161234567", "12ab", RESERVED.undeliverable + "000"]),
        ({"err": "1"}, ["12ab", RESERVED.undeliverable + "000"]),
    ],
)
async def test_send_per_number_answers(flags: dict[str, str], numbers: list[str]) -> None:
    emu, _ = make()
    phones = "79161234567,12ab," + RESERVED.undeliverable + "000"
    body = json.loads(
        await get(emu, "/sys/send.php", fmt=3, cost=2, phones=phones, mes="hi", **flags)
    )
    entries = {
        "79161234567": {"mccmnc": "25001", "cost": "4.30", "status": -1, "error": 0},
        "12ab": {"mccmnc": "", "cost": "0.00", "status": 22, "error": 249},
        RESERVED.undeliverable + "000": {
            "mccmnc": "25011",
            "cost": "0.00",
            "status": 25,
            "error": 248,
        },
    }
    assert body == {
        "id": 1,
        "cnt": 1,
        "cost": "4.30",
        "phones": [{"phone": n, **entries[n]} for n in numbers],
    }


# ---------------------------------------------------------------------------------- status.php


async def test_status_moves_through_queued_handed_delivered() -> None:
    emu, clock = make(delivery_delay=10.0)
    await get(emu, "/sys/send.php", id="s1", phones="79161234567", mes="hi")
    seen = []
    for step in (0.0, 5.0, 10.0):
        clock.now = step
        body = json.loads(await get(emu, "/sys/status.php", fmt=3, id="s1", phone="79161234567"))
        seen.append((body["status"], body["last_timestamp"] - int(START)))
    assert seen == [(-1, 0), (0, 5), (1, 10)]


@pytest.mark.parametrize(
    ("fmt", "body"),
    [
        # err (and flag) only when there is one; fmt=1 keeps err in its place.
        (0, f"Status = 1, check_time = {START_MSK}"),
        (1, f"1,{int(START)},0"),
        (
            2,
            f"<result>\n<status>1</status>\n<last_date>{START_MSK}</last_date>\n"
            f"<last_timestamp>{int(START)}</last_timestamp>\n</result>",
        ),
        (3, f'{{"status": 1, "last_date": "{START_MSK}", "last_timestamp": {int(START)}}}'),
    ],
)
async def test_status(fmt: int, body: str) -> None:
    emu, _ = make(delivery_delay=0.0)
    await get(emu, "/sys/send.php", id="42", phones="+79161234567", mes="hi")
    assert await get(emu, "/sys/status.php", fmt=fmt, id="42", phone="+79161234567") == body


@pytest.mark.parametrize(
    ("fmt", "body"),
    [
        (
            0,
            f"Status = 1, check_time = {START_MSK}, send_date = {START_MSK}, "
            "phone = 79161234567, cost = 4.30, sender_id = Shop, status_name = Доставлено, "
            "message = hi, type = 0, sms_cnt = 1",
        ),
        # fmt=1 ends with the message, as the official libraries split the line.
        (1, f"1,{int(START)},0,{int(START)},79161234567,4.30,Shop,Доставлено,hi"),
    ],
)
async def test_status_all_1_lines(fmt: int, body: str) -> None:
    emu, _ = make(delivery_delay=0.0)
    await get(emu, "/sys/send.php", id="42", phones="79161234567", mes="hi", sender="Shop")
    assert await get(emu, "/sys/status.php", fmt=fmt, id="42", phone="79161234567", all=1) == body


async def test_status_all_2_json() -> None:
    emu, _ = make(delivery_delay=0.0)
    await get(emu, "/sys/send.php", id="42", phones="79161234567", mes="hi", sender="Shop")
    body = json.loads(await get(emu, "/sys/status.php", fmt=3, id="42", phone="79161234567", all=2))
    assert body == {
        "status": 1,
        "last_date": START_MSK,
        "last_timestamp": int(START),
        "send_date": START_MSK,
        "send_timestamp": int(START),
        "phone": "79161234567",
        "cost": "4.30",
        "sender_id": "Shop",
        "status_name": "Доставлено",
        "message": "hi",
        "type": 0,
        "sms_cnt": 1,
        "country": "Россия",
        "operator": "МТС",
        "region": "Москва",
        "mccmnc": "25001",
    }


async def test_status_batch_and_trailing_comma() -> None:
    emu, _ = make(delivery_delay=0.0)
    await get(emu, "/sys/send.php", id="7", phones="79161234567,79261234567", mes="hi")
    body = await get(emu, "/sys/status.php", fmt=3, id="7,7,8", phone="79161234567,79261234567,7")
    row = {"status": 1, "last_date": START_MSK, "last_timestamp": int(START)}
    assert json.loads(body) == [
        {**row, "id": 7, "phone": "79161234567"},
        {**row, "id": 7, "phone": "79261234567"},
        {"status": -3, "id": 8, "phone": "7"},
    ]
    single = await get(emu, "/sys/status.php", fmt=3, id="7", phone="79161234567,")
    assert json.loads(single) == [{**row, "id": 7, "phone": "79161234567"}]
    lines = await get(emu, "/sys/status.php", fmt=1, id="7,", phone="79161234567")
    assert lines == f"1,{int(START)},0,7,79161234567"


@pytest.mark.parametrize(
    ("fmt", "body"),
    [
        (0, "Status = -3"),
        (1, "-3"),
        (2, "<result>\n<status>-3</status>\n</result>"),
        (3, '{"status": -3}'),
    ],
)
async def test_status_not_found(fmt: int, body: str) -> None:
    emu, _ = make()
    assert await get(emu, "/sys/status.php", fmt=fmt, id="1", phone="79161234567") == body


@pytest.mark.parametrize(
    ("prefix", "status", "err"),
    [(RESERVED.absent, 20, 1), (RESERVED.unavailable, 25, 248), ("7916123", 1, 0)],
)
async def test_status_final_outcomes(prefix: str, status: int, err: int) -> None:
    emu, _ = make(delivery_delay=0.0)
    number = prefix + "4567"[: 11 - len(prefix)]
    await get(emu, "/sys/send.php", id="1", phones=number, mes="hi")
    body = json.loads(await get(emu, "/sys/status.php", fmt=3, id="1", phone=number))
    assert (body["status"], body.get("err", 0)) == (status, err)
    assert ("err" in body) == (err != 0)


async def test_status_delete() -> None:
    emu, _ = make()
    await get(emu, "/sys/send.php", id="1", phones="79161234567", mes="hi")
    deleted = await get(
        emu, "/sys/status.php", **{"fmt": 3, "id": "1", "phone": "79161234567", "del": 1}
    )
    assert deleted == '{"result": "OK"}'
    assert await get(emu, "/sys/status.php", fmt=3, id="1", phone="79161234567") == '{"status": -3}'
    again = await get(
        emu, "/sys/status.php", **{"fmt": 0, "id": "1", "phone": "79161234567", "del": 1}
    )
    assert again == "ERROR = 5 (error deleting message)"


@pytest.mark.parametrize(
    "params",
    [
        {"id": "1"},
        {"phone": "79161234567"},
        {"id": "1,2,3", "phone": "7916,7926"},
        {"id": "1", "phone": "7", "all": "3"},
    ],
)
async def test_status_parameter_errors(params: dict[str, str]) -> None:
    emu, _ = make()
    assert await get(emu, "/sys/status.php", fmt=1, **params) == "0,-1"


# ------------------------------------------------------------------------------------ info.php


@pytest.mark.parametrize(
    ("fmt", "body"),
    [
        (0, "country = Россия, operator = МТС, region = Москва, mcc = 250, mnc = 01, tz = 3"),
        (1, "Россия,МТС,Москва,250,01,3"),
        (
            2,
            "<info>\n<country>Россия</country>\n<operator>МТС</operator>\n"
            "<region>Москва</region>\n<mcc>250</mcc>\n<mnc>01</mnc>\n<tz>3</tz>\n</info>",
        ),
        (
            3,
            '{"country": "Россия", "operator": "МТС", "region": "Москва", '
            '"mcc": "250", "mnc": "01", "tz": "3"}',
        ),
    ],
)
async def test_operator(fmt: int, body: str) -> None:
    emu, _ = make()
    assert await get(emu, "/sys/info.php", get_operator=1, fmt=fmt, phone="+79161234567") == body


async def test_operator_list() -> None:
    emu, _ = make()
    missing = RESERVED.no_operator + "123"
    phones = f"79161234567,{missing},+77011234567"
    body = json.loads(await get(emu, "/sys/info.php", get_operator=1, fmt=3, phone=phones))
    assert body == [
        {
            "phone": "79161234567",
            "country": "Россия",
            "operator": "МТС",
            "region": "Москва",
            "mcc": "250",
            "mnc": "01",
            "tz": "3",
        },
        {"phone": missing, "error": "Operator not found.", "error_code": 3},
        {
            "phone": "77011234567",
            "country": "Казахстан",
            "operator": "Kcell",
            "region": "Караганда",
            "mcc": "401",
            "mnc": "02",
            "tz": "5",
        },
    ]
    lines = await get(emu, "/sys/info.php", get_operator=1, fmt=1, phone=phones)
    assert lines.splitlines()[1] == f"{missing},-3"


@pytest.mark.parametrize(
    ("phone", "code"),
    [
        (RESERVED.no_operator + "000", 3),
        ("79161234567,7916,79261234567", 1),
        ("", 1),
        (",".join(["79161234567"] * 6), 1),
    ],
)
async def test_operator_errors(phone: str, code: int) -> None:
    emu, _ = make(max_lookup_batch=5)
    body = json.loads(await get(emu, "/sys/info.php", get_operator=1, fmt=3, phone=phone))
    assert body["error_code"] == code


async def test_operator_answers_every_well_formed_number() -> None:
    emu, _ = make(limits=GatewayLimits(), strict=False, max_lookup_batch=2000)
    numbers = [f"79{n:09d}" for n in range(0, 999_999_999, 1_000_003)]
    numbers += [f"77{n:09d}" for n in range(0, 999_999_999, 7_000_003)]
    numbers += [f"380{n:09d}" for n in range(0, 999_999_999, 9_000_007)]
    numbers += [f"375{n:09d}" for n in range(0, 999_999_999, 9_000_007)]
    numbers = [n for n in numbers if not n.startswith(RESERVED.no_operator)]
    body = json.loads(
        await get(emu, "/sys/info.php", get_operator=1, fmt=3, phone=",".join(numbers))
    )
    assert len(body) == len(numbers)
    assert all("error" not in entry and entry["operator"] for entry in body)
    again = json.loads(
        await get(emu, "/sys/info.php", get_operator=1, fmt=3, phone=",".join(numbers) + ",")
    )
    assert again == body
