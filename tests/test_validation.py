"""Bad input is refused before any request leaves, naming the argument."""

from __future__ import annotations

import datetime as dt

import pytest

from smsc_async import _validation as v


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("79161234567", "79161234567"),
        ("+7 (916) 123-45-67", "+79161234567"),
        ("380501234567", "380501234567"),
    ],
)
def test_phone_normalized(raw: str, expected: str) -> None:
    assert v.check_phone(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "12", "7916abc4567", "0791612345", "+7916123456789012", "++7916"]
)
def test_bad_phone_named(raw: str) -> None:
    with pytest.raises(ValueError, match="phones"):
        v.check_phones([raw])


def test_phones_forms() -> None:
    assert v.check_phones("79161234567, 79031234567;79261234567") == [
        "79161234567",
        "79031234567",
        "79261234567",
    ]
    with pytest.raises(TypeError, match="phones"):
        v.check_phones(79161234567)
    with pytest.raises(ValueError, match="at least one"):
        v.check_phones([])


def test_message_length() -> None:
    assert v.check_message("x" * 1000)
    with pytest.raises(ValueError, match="1001 characters"):
        v.check_message("x" * 1001)
    with pytest.raises(ValueError, match="message must not be empty"):
        v.check_message("  ")
    with pytest.raises(TypeError, match="message must be a str"):
        v.check_message(b"bytes")


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        (1, True),
        (2147483647, True),
        (0, False),
        (2147483648, False),
        ("a.b-c_9", True),
        ("x" * 41, False),
        ("bad id", False),
    ],
)
def test_message_id(raw: object, ok: bool) -> None:
    if ok:
        assert v.check_message_id(raw) == str(raw)
    else:
        with pytest.raises(ValueError, match="id"):
            v.check_message_id(raw)
    with pytest.raises(TypeError):
        v.check_message_id(True)


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        ("Shop", True),
        ("ABCDEFGHIJK", True),
        ("ABCDEFGHIJKL", False),
        ("123456789012345", True),
        ("1234567890123456", False),
        ("", True),
        (".", True),
        ("Магазин", False),
    ],
)
def test_sender(raw: str, ok: bool) -> None:
    if ok:
        assert v.check_sender(raw) == raw
    else:
        with pytest.raises(ValueError, match="sender"):
            v.check_sender(raw)


def test_send_time() -> None:
    utc = dt.datetime(2026, 12, 31, 21, 30, tzinfo=dt.timezone.utc)
    assert v.format_send_time(utc) == "01.01.27 00:30"  # Moscow is UTC+3
    assert v.format_send_time(dt.timedelta(minutes=90)) == "+90"
    with pytest.raises(ValueError, match="timezone-aware"):
        v.format_send_time(dt.datetime(2026, 1, 1))
    with pytest.raises(TypeError, match="time must be"):
        v.format_send_time("tomorrow")


def test_valid_and_choices() -> None:
    assert v.format_valid(5) == "5"
    assert v.format_valid(dt.timedelta(hours=1, minutes=30)) == "01:30"
    with pytest.raises(ValueError, match="valid"):
        v.format_valid(25)
    with pytest.raises(ValueError, match="translit must be one of"):
        v.check_choice("translit", 3, (0, 1, 2))
    with pytest.raises(TypeError, match="flash must be a bool"):
        v.check_flag("flash", 1)


def test_phone_digits_are_ascii_only() -> None:
    with pytest.raises(ValueError, match="phone"):
        v.check_phone("٧٩١٦١٢٣٤٥٦٧")  # Arabic-Indic digits match \d but are no phone number
