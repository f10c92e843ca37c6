"""Fidelity to the gateway as its seed pages and its official client libraries describe it.

Each test is a fact the first round got wrong on the client, the emulator or both: codes kept as
strings, status lines laid out as the official PHP/Python libraries split them, the currency code
the live gateway reports, which fields a status carries, tariff answers, error texts and Moscow
time before 2014.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from typing import Any

import httpx
import pytest

from smsc_async import Session
from smsc_async._converter import moscow_time, parse_gateway_date
from smsc_async._endpoints._common import format_date
from smsc_async._endpoints.data import history_params
from smsc_async.testing import RESERVED, Emulator
from smsc_async.testing import _time as emulator_time
from smsc_async.testing._endpoints.status import moscow_date

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    # What the emulator answers does not depend on the event loop (its clock here is a fake
    # one): asyncio only. Its loop-dependent parts (delays, drops, rule windows, served
    # sockets) run on both backends in test_emulator_faults.py and test_emulator_rules.py.
    return "asyncio"


MTS = "79161234567"  # MTS Moscow in the emulator's number table: MCC 250, MNC 01
AUTH: dict[str, Any] = {"login": "demo", "psw": "demo"}
UTC = dt.timezone.utc


def http(emu: Emulator) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=emu), base_url="http://smsc.test")


def session(emu: Emulator) -> Session:
    return Session(
        login="demo",
        password="demo",
        base_url="http://127.0.0.1",
        transport=httpx.ASGITransport(app=emu),
    )


async def ask(emu: Emulator, path: str, **params: Any) -> str:
    async with http(emu) as client:
        return (await client.get(path, params={**AUTH, **params})).text


# -- codes are strings --------------------------------------------------------------------------


async def test_operator_codes_keep_their_leading_zero() -> None:
    async with session(Emulator()) as smsc:
        (info,) = await smsc.operator_info(MTS)
    assert (info.mcc, info.mnc) == ("250", "01")


async def test_hlr_codes_keep_their_leading_zero() -> None:
    emu = Emulator(delivery_delay=0.0)
    async with session(emu) as smsc:
        sent = await smsc.hlr([MTS])
        status = await smsc.status(sent.id, MTS)
    assert (status.mcc, status.mnc) == ("250", "01")


# -- status.php fmt=1 as the official libraries split it ----------------------------------------


def php_get_status(body: str, all: int) -> list[str]:
    """What smsc_api.php's get_status() returns for one message (written from its source).

    It splits on commas; for all=1/2 a line whose field 14 (all=1) / 17 (all=2) is not ``HLR`` is
    split again into at most 9 / 12 fields, so that commas in the message stay in the last one.
    """
    m = body.split(",")
    index = 14 if all == 1 else 17
    if all and len(m) > 9 and (len(m) <= index or m[index] != "HLR"):
        m = ",".join(m).split(",", 8 if all == 1 else 11)
    return m


def py_get_status(body: str, all: int) -> list[str]:
    """What smsc_api.py (2.0)'s get_status() returns: all=1 only, at most 9 fields."""
    m = body.split(",")
    if all and len(m) > 9 and (len(m) <= 14 or m[14] != "HLR"):
        m = ",".join(m).split(",", 8)
    return m


TEXT = "Hi, Ann, the code is 12,345"


async def sms_status(all: int) -> tuple[Emulator, str]:
    emu = Emulator(delivery_delay=0.0)
    await ask(emu, "/sys/send.php", id="5", phones=MTS, mes=TEXT, sender="Shop")
    return emu, await ask(emu, "/sys/status.php", fmt=1, id="5", phone=MTS, all=all)


@pytest.mark.parametrize("split", [php_get_status, py_get_status])
async def test_all_1_line_reads_back_in_the_official_libraries(split: Any) -> None:
    emu, body = await sms_status(1)
    m = split(body, 1)
    sent = emu.account("demo").messages[("5", MTS)].sent_at
    assert m == ["1", m[1], "0", str(int(sent)), MTS, "4.30", "Shop", "Доставлено", TEXT]


async def test_all_2_line_has_country_operator_region_before_the_message() -> None:
    _, body = await sms_status(2)
    m = php_get_status(body, 2)
    assert len(m) == 12
    assert m[4:] == [MTS, "4.30", "Россия", "МТС", "Москва", "Shop", "Доставлено", TEXT]


@pytest.mark.parametrize(("all", "index"), [(1, 14), (2, 17)])
async def test_hlr_line_carries_the_literal_hlr_where_the_libraries_look(
    all: int, index: int
) -> None:
    emu = Emulator(delivery_delay=0.0)
    await ask(emu, "/sys/send.php", id="9", phones=MTS, hlr=1)
    body = await ask(emu, "/sys/status.php", fmt=1, id="9", phone=MTS, all=all)
    m = php_get_status(body, all)
    assert m[index] == "HLR"
    # status, time, err, then IMSI, MSC, MCC, MNC, country, operator, roaming country/operator
    assert (m[0], m[2], m[3], m[5], m[6], m[9], m[10]) == ("1", "0", m[3], "250", "01", "", "")
    assert m[3].startswith("25001")
    assert m[12] == MTS
    if all == 2:
        assert m[14:17] == ["Россия", "МТС", "Москва"]
    if all == 1:
        assert py_get_status(body, 1) == m


# -- currency, fields a status carries, tariffs ------------------------------------------------


async def test_the_currency_is_the_gateways_rur() -> None:
    emu = Emulator()
    # The answer public clients recorded against the gateway: {"balance": ..., "currency": "RUR"}.
    assert json.loads(await ask(emu, "/sys/balance.php", fmt=3, cur=1)) == {
        "balance": "1000.00",
        "currency": "RUR",
    }
    async with session(emu) as smsc:
        assert (await smsc.balance()).currency == "RUR"


async def test_status_carries_err_and_flag_only_when_present_and_echoes_the_phone() -> None:
    emu = Emulator(delivery_delay=0.0)
    absent = RESERVED.absent + "123"
    await ask(emu, "/sys/send.php", id="1", phones=f"{MTS},{absent}", mes="hi")
    body = await ask(
        emu, "/sys/status.php", fmt=3, id="1,1,2", phone=f"+{MTS},{absent};79160000001"
    )
    delivered, failed, missing = json.loads(body)
    assert "err" not in delivered
    assert "flag" not in delivered
    assert (failed["status"], failed["err"]) == (20, 1)
    assert [e["phone"] for e in (delivered, failed, missing)] == [f"+{MTS}", absent, "79160000001"]


async def test_prices_always_carry_codes_and_zone_names_split_cleanly() -> None:
    emu = Emulator()
    obj = json.loads(await ask(emu, "/sys/get.php", fmt=3, get_price=1))
    assert obj["codes"] == []
    assert all("," not in zone["name"] for zone in obj["zones"])
    xml = await ask(emu, "/sys/get.php", fmt=2, get_price=1)
    assert "<codes>\n</codes>" in xml
    lines = (await ask(emu, "/sys/get.php", fmt=1, get_price=1)).splitlines()
    zones = lines[:-1]  # the last line is the e-mail price
    assert zones
    assert all(len(line.split(",")) == 7 for line in zones)
    async with session(Emulator()) as smsc:  # a fresh one: three identical asks per minute
        prices = await smsc.prices()
    assert prices.codes == ()
    assert len(prices.zones) == len(zones)


# -- error texts as the seed pages word them ----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "code", "text"),
    [
        ("/sys/balance.php", {"psw": "wrong"}, 2, "Invalid username or password."),
        ("/sys/status.php", {}, 1, "Error in parameters."),
        ("/sys/info.php", {"get_operator": 1, "phone": RESERVED.no_operator + "123"}, 3,
         "Operator not found."),
        ("/sys/tinyurls.php", {"get": 1, "id": 77}, 3, "Link not found."),
        ("/sys/get.php", {"get_messages": 1, "phone": MTS}, 3, "Message not found."),
        ("/sys/senders.php", {"del": 1, "sender": "Nobody"}, 3, "Sender name not found."),
    ],
)  # fmt: skip
async def test_error_texts_are_the_seeds_words(
    path: str, params: dict[str, Any], code: int, text: str
) -> None:
    body = json.loads(await ask(Emulator(), path, fmt=3, **params))
    assert body == {"error": text, "error_code": code}


async def test_a_rate_rule_refuses_in_its_pages_words() -> None:
    emu = Emulator()
    for _ in range(10):
        await ask(emu, "/sys/balance.php", fmt=3)
    refused = json.loads(await ask(emu, "/sys/balance.php", fmt=3))
    assert refused == {
        "error": "Attempt to send more than ten balance requests within a minute.",
        "error_code": 9,
    }


async def test_a_blocked_ip_is_told_in_the_seeds_words() -> None:
    emu = Emulator()
    for _ in range(5):
        await ask(emu, "/sys/balance.php", psw="wrong")
    assert (
        await ask(emu, "/sys/balance.php") == "ERROR = 4 (The IP address is temporarily blocked.)"
    )


# -- Moscow time --------------------------------------------------------------------------------

SUMMER_2013 = dt.datetime(2013, 7, 1, 8, 0, tzinfo=UTC)  # 12:00 in Moscow (UTC+4 until 10.2014)
WINTER_2010 = dt.datetime(2010, 1, 15, 9, 0, tzinfo=UTC)  # 12:00 in Moscow (UTC+3, winter time)
SUMMER_2010 = dt.datetime(2010, 7, 15, 8, 0, tzinfo=UTC)  # 12:00 in Moscow (UTC+4, summer time)


@pytest.mark.parametrize("moment", [SUMMER_2013, WINTER_2010, SUMMER_2010])
async def test_gateway_dates_before_2014_are_the_right_instant(moment: dt.datetime) -> None:
    assert parse_gateway_date(moment.astimezone(moscow_time()).strftime("%d.%m.%Y %H:%M:%S")) == (
        moment
    )
    assert moscow_date(moment.timestamp()).endswith(" 12:00:00")
    emu = Emulator(start_time=moment.timestamp(), delivery_delay=0.0)
    async with session(emu) as smsc:
        sent = await smsc.send(MTS, "hi")
        status = await smsc.status(sent.id, MTS, all=1)
    assert status.send_date == moment
    assert status.send_timestamp == int(moment.timestamp())


def test_a_period_given_as_datetimes_uses_the_moscow_date_of_that_time() -> None:
    # 20:30 UTC on 30.06.2012 was 00:30 on 01.07 in Moscow (UTC+4 then); a fixed UTC+3 said 30.06.
    late = dt.datetime(2012, 6, 30, 20, 30, tzinfo=UTC)
    assert format_date(late, "start") == "01.07.2012"
    assert history_params(start=late, end=late, phones=None, emails=None) == {
        "start": "01.07.2012",
        "end": "01.07.2012",
    }


def test_without_a_tz_database_both_sides_fall_back_to_utc_plus_3(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing(key: str) -> zoneinfo.ZoneInfo:
        raise zoneinfo.ZoneInfoNotFoundError(key)

    monkeypatch.setattr(zoneinfo, "ZoneInfo", missing)
    moscow_time.cache_clear()
    try:
        assert moscow_time().utcoffset(None) == dt.timedelta(hours=3)
        assert parse_gateway_date("01.07.2020 12:00:00") == dt.datetime(2020, 7, 1, 9, tzinfo=UTC)
        assert emulator_time._moscow().utcoffset(None) == dt.timedelta(hours=3)
    finally:
        moscow_time.cache_clear()
    monkeypatch.undo()
    assert moscow_time() == zoneinfo.ZoneInfo("Europe/Moscow")
