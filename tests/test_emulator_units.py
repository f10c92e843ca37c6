"""The emulator's pure pieces: SMS parts, numbers, schedules, request decoding."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

import smsc_async.testing
from smsc_async.testing import RESERVED
from smsc_async.testing._endpoints.send import schedule
from smsc_async.testing._numbers import lookup, normalize
from smsc_async.testing._sms import count_binary_parts, count_parts, split, transliterate
from smsc_async.testing._wire import parse_request, render_error

MSK = timezone(timedelta(hours=3))
NOW = datetime(2024, 3, 10, 12, 30, tzinfo=MSK).timestamp()


def test_public_names_are_sorted_and_exported() -> None:
    names = smsc_async.testing.__all__
    assert names == sorted(names)
    for name in set(names) - {"FaultKind"}:  # a Literal alias carries no docstring
        assert getattr(smsc_async.testing, name).__doc__, name


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("€" * 80, 1),
        ("€" * 81, 2),
        ("a" * 152 + "€" + "a" * 152, 3),  # an escape pair never straddles two parts
        ("ж" * 70, 1),
        ("ж" * 71, 2),
        ("😀" * 35, 1),  # a surrogate pair is two UCS-2 units
        ("😀" * 36, 2),
    ],
)
def test_count_parts(text: str, parts: int) -> None:
    assert count_parts(text) == parts


@given(st.text(max_size=700))
def test_split_keeps_the_text_and_the_part_sizes(text: str) -> None:
    chunks = split(text)
    assert "".join(chunks) == text
    assert len(chunks) == count_parts(text)


def test_binary_parts_and_translit() -> None:
    assert [count_binary_parts(n) for n in (1, 140, 141, 268, 269)] == [1, 1, 2, 2, 3]
    assert transliterate("Щука и Ёж") == "Schuka i Ezh"


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("+79161234567", "79161234567"),
        ("79161234567", "79161234567"),
        ("89161234567", "79161234567"),  # without + the gateway corrects the trunk prefix
        ("9161234567", "79161234567"),
        ("+7 (916) 123-45-67", "79161234567"),
        ("+9161234567", "9161234567"),  # with + nothing is corrected
        ("+0791612345", None),
        ("7916123456", None),
        ("791612345678", None),
        ("380671234567", "380671234567"),
        ("38067123456", None),
        ("4915112345678", "4915112345678"),
        ("12ab", None),
        ("", None),
        ("٧٩١٦١٢٣٤٥٦٧", None),  # non-ASCII digits are not digits to the gateway
    ],
)
def test_normalize(raw: str, number: str | None) -> None:
    assert normalize(raw) == number


def test_lookup_table() -> None:
    mts = lookup("79161234567")
    assert mts is not None
    assert (mts.country, mts.operator, mts.region, mts.mccmnc, mts.tz) == (
        "Россия",
        "МТС",
        "Москва",
        "25001",
        3,
    )
    beeline = lookup("79031234567")
    assert beeline is not None
    assert beeline.operator == "Билайн"
    assert lookup(RESERVED.no_operator + "000") is None
    assert lookup("4915112345678") is None
    assert lookup("70012345678") is None


@given(st.integers(min_value=0, max_value=999_999_999))
def test_lookup_answers_every_russian_mobile(rest: int) -> None:
    number = f"79{rest:09d}"
    found = lookup(number)
    assert (found is None) == number.startswith(RESERVED.no_operator)
    assert found == lookup(number)


@pytest.mark.parametrize(
    ("value", "tz", "expected"),
    [
        ("", 0, NOW),
        ("0", 0, NOW),
        ("+15", 0, NOW + 900),
        ("1103241400", 0, datetime(2024, 3, 11, 14, 0, tzinfo=MSK).timestamp()),
        ("11.03.24 14:00", 0, datetime(2024, 3, 11, 14, 0, tzinfo=MSK).timestamp()),
        ("11.03.2024 14:00:30", 0, datetime(2024, 3, 11, 14, 0, 30, tzinfo=MSK).timestamp()),
        ("11.03.24 14:00", 2, datetime(2024, 3, 11, 12, 0, tzinfo=MSK).timestamp()),
        ("01.01.20 10:00", 0, NOW),  # the past means now
        (f"0{int(NOW) + 60}", 0, NOW + 60),
        ("10-18", 0, NOW),  # inside the window
        ("14-18", 0, datetime(2024, 3, 10, 14, 0, tzinfo=MSK).timestamp()),
        ("9-11", 0, datetime(2024, 3, 11, 9, 0, tzinfo=MSK).timestamp()),
    ],
)
def test_schedule(value: str, tz: int, expected: float) -> None:
    assert schedule(value, 3 + tz, NOW) == expected


@pytest.mark.parametrize("value", ["soon", "32.01.24 10:00", "18-9", "24-25", "1.2.3 4:5", "+x"])
def test_schedule_rejects(value: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        schedule(value, 3, NOW)


def test_parse_request_decodes_in_the_request_charset() -> None:
    cp = parse_request(b"mes=%CF%F0%E8&fmt=3", b"")
    assert (cp.params["mes"], cp.fmt, cp.charset) == ("При", 3, "windows-1251")
    utf = parse_request(b"charset=utf-8", b"mes=%D0%9F%D1%80%D0%B8+%21&fmt=9")
    assert (utf.params["mes"], utf.fmt, utf.codec) == ("При !", 0, "utf-8")
    koi = parse_request(b"charset=koi8-r&mes=%F0%D2%C9", b"")
    assert koi.params["mes"] == "При"
    body_wins = parse_request(b"fmt=1", b"fmt=2")
    assert body_wins.fmt == 2


@pytest.mark.parametrize(
    ("fmt", "body"),
    [
        (0, "ERROR = 6 (message is denied), ID - a1"),
        (1, "a1,-6"),
        (2, "<result>\n<error>message is denied</error>\n<error_code>6</error_code>\n"
            "<id>a1</id>\n</result>"),
        (3, '{"error": "message is denied", "error_code": 6, "id": "a1"}'),
    ],
)  # fmt: skip
def test_error_envelope_with_id(fmt: int, body: str) -> None:
    assert render_error(fmt, 6, "message is denied", "a1") == body


def test_accounts_incoming_and_stats_reset() -> None:
    from decimal import Decimal

    from smsc_async.testing import Emulator

    clock = [5.0]
    emu = Emulator(clock=lambda: clock[0], start_time=1_000.0)
    alex = emu.add_account(login="alex", password="pw", balance=Decimal("1.5"))
    assert set(emu.accounts) == {"demo", "alex"}
    assert emu.account("alex") is alex
    assert Emulator(demo=False).accounts == {}
    first = emu.add_incoming("alex", phone="+79161234567", message="yes", to_phone="79001112233")
    clock[0] = 7.0
    second = emu.add_incoming("alex", phone="79161234568", message="no")
    assert (first.id, first.phone, first.received, second.id, second.received) == (
        1,
        "79161234567",
        1_000.0,
        2,
        1_002.0,
    )
    assert alex.incoming == [first, second]
    emu.stats.requests["/x"] += 1
    emu.stats.error("/x", 9)
    emu.stats.reset()
    assert (emu.stats.requests, emu.stats.errors, emu.stats.errors_by_path) == ({}, {}, {})
    with pytest.raises(ValueError, match="login"):
        emu.add_account(login="", password="x")
    with pytest.raises(KeyError):
        emu.add_incoming("nobody", phone="1", message="x")
