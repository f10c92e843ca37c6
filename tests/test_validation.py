"""Bad input is refused before any request leaves, naming the argument."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from smsc_async import ProtocolError, Session
from smsc_async import _validation as v
from smsc_async._endpoints._base import decode
from smsc_async._endpoints.info import BALANCE, OPERATOR_INFO
from smsc_async._endpoints.messages import SEND

MOSCOW = dt.timezone(dt.timedelta(hours=3))
PHONE = "79161234567"


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


# -- bad input that used to leave (issue 9, item 10) ---------------------------------------------
# Each case is refused with ValueError/TypeError naming the argument, and no request leaves: the
# session's transport counts every request it is handed.


@pytest.fixture
def anyio_backend() -> str:
    # Validation runs before the first await that matters: one backend proves it.
    return "asyncio"


def answer(body: bytes) -> httpx.Response:
    # A streamed body, as a server's is (httpx reads a content= body at once, see
    # test_mock_transport_answers_are_read in test_public_names.py).
    return httpx.Response(200, stream=httpx.ByteStream(body))


class Counter:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return answer(b'{"id": 1, "cnt": 1, "balance": "10.00"}')


@pytest.fixture
def counter() -> Counter:
    return Counter()


@pytest.fixture
async def counted(counter: Counter) -> AsyncIterator[Session]:
    async with Session("demo", "demo", transport=httpx.MockTransport(counter)) as smsc:
        yield smsc


def _non_ascii_digits() -> list[str]:
    return [c for c in map(chr, range(128, sys.maxunicode + 1)) if c.isdigit() and not c.isascii()]


NON_ASCII_DIGITS = _non_ascii_digits()


@pytest.mark.parametrize("sender", ["١٢٣٤٥٦٧٨٩٠١٢", "²³¹", "٧٩١٦١٢٣٤٥٦٧", "12٣"])
@pytest.mark.anyio
async def test_sender_of_non_ascii_digits_never_leaves(
    counted: Session, counter: Counter, sender: str
) -> None:
    with pytest.raises(ValueError, match="sender"):
        await counted.send(PHONE, "x", sender=sender)
    assert counter.requests == []


def test_every_non_ascii_digit_is_refused_as_a_sender() -> None:
    # All of them, not a sample: str.isdigit() is true for each, which let them through.
    assert len(NON_ASCII_DIGITS) > 100
    for char in NON_ASCII_DIGITS:
        with pytest.raises(ValueError, match="sender"):
            v.check_sender(char * 3)
    assert v.check_sender("79161234567") == "79161234567"


@pytest.mark.parametrize(
    "when",
    [
        dt.datetime(2126, 5, 1, 12, 0, tzinfo=dt.timezone.utc),  # was sent as 01.05.26: at once
        dt.datetime(2100, 1, 1, 0, 0, tzinfo=MOSCOW),
        dt.datetime(2099, 12, 31, 21, 0, tzinfo=dt.timezone.utc),  # 2100-01-01 00:00 in Moscow
        dt.datetime(1999, 12, 31, 23, 59, tzinfo=MOSCOW),
        dt.datetime(999, 1, 1, tzinfo=dt.timezone.utc),  # was sent malformed
        dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc),
        dt.datetime.max.replace(tzinfo=dt.timezone.utc),  # OverflowError before
        dt.datetime.max.replace(tzinfo=dt.timezone(dt.timedelta(hours=-12))),
        dt.datetime.min.replace(tzinfo=dt.timezone(dt.timedelta(hours=14))),
    ],
    ids=lambda when: when.isoformat(),
)
@pytest.mark.anyio
async def test_send_time_the_gateway_cannot_express_never_leaves(
    counted: Session, counter: Counter, when: dt.datetime
) -> None:
    with pytest.raises(ValueError, match=r"^time must fall in the years 2000\.\.2099"):
        await counted.send(PHONE, "x", time=when)
    assert counter.requests == []


@pytest.mark.parametrize(
    ("when", "sent"),
    [
        (dt.datetime(2000, 1, 1, 0, 0, tzinfo=MOSCOW), "01.01.00 00:00"),
        (dt.datetime(2099, 12, 31, 23, 59, tzinfo=MOSCOW), "31.12.99 23:59"),
        (dt.datetime(2099, 12, 31, 20, 59, tzinfo=dt.timezone.utc), "31.12.99 23:59"),
        (dt.datetime(1999, 12, 31, 21, 0, tzinfo=dt.timezone.utc), "01.01.00 00:00"),
    ],
)
@pytest.mark.anyio
async def test_send_time_edges_of_the_two_digit_window(
    counted: Session, counter: Counter, when: dt.datetime, sent: str
) -> None:
    assert v.format_send_time(when) == sent
    await counted.send(PHONE, "x", time=when)
    (request,) = counter.requests
    assert httpx.QueryParams(request.content.decode())["time"] == sent


@pytest.mark.parametrize(
    ("amount", "error", "match"),
    [
        ("1e30", ValueError, "below"),  # decimal.InvalidOperation before
        ("1e1000000", ValueError, "below"),
        (Decimal("1E+999999999"), ValueError, "below"),
        (10**12, ValueError, "below"),
        ("NaN", ValueError, "finite"),
        ("sNaN", ValueError, "finite"),
        (Decimal("-Infinity"), ValueError, "finite"),
        ("Infinity", ValueError, "finite"),
        ("0", ValueError, "positive"),
        ("-5", ValueError, "positive"),
        ("1.005", ValueError, "decimals"),
        ("1e-30", ValueError, "decimals"),
        ("ten", ValueError, "not a number"),
        (1.5, TypeError, "Decimal, int or str"),
        (True, TypeError, "Decimal, int or str"),
        (None, TypeError, "Decimal, int or str"),
    ],
)
def test_money_arguments_are_finite_decimals(amount: object, error: type, match: str) -> None:
    with pytest.raises(error, match=f"^amount.*{match}"):
        v.check_money("amount", amount)


@pytest.mark.parametrize(
    ("amount", "sent"),
    [
        ("100", "100.00"),
        (" 12.5 ", "12.50"),
        (Decimal("0.01"), "0.01"),
        ("1e3", "1000.00"),
        (999_999_999_999, "999999999999.00"),
        (Decimal("7.10"), "7.10"),
    ],
)
def test_money_written_as_the_gateway_reads_it(amount: object, sent: str) -> None:
    assert v.check_money("amount", amount) == sent


@pytest.mark.xfail(
    strict=True,
    reason="users.py and misc.py still check amounts by hand: they must call "
    "_validation.check_money (endpoint modules belong to helper 'redesign')",
)
@pytest.mark.parametrize("amount", ["1e30", "1e13"])
@pytest.mark.parametrize("call", ["users.pay", "documents.add_invoice"])
@pytest.mark.anyio
async def test_an_absurd_amount_never_leaves(
    counted: Session, counter: Counter, call: str, amount: str
) -> None:
    if call == "users.pay":
        attempt = counted.users.pay("shop-2", amount)
    else:
        attempt = counted.documents.add_invoice(amount, user="shop-2")
    with pytest.raises(ValueError, match="amount"):
        await attempt
    assert counter.requests == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"balance": "sNaN"}',
        b'{"balance": "NaN"}',
        b'{"balance": "-Infinity"}',
        b'{"balance": "inf"}',
        b'{"balance": NaN}',  # json.loads accepts these bare words
        b'{"balance": Infinity}',
        b'{"balance": -Infinity}',
        b'{"balance": "1e400"}',
        b'{"balance": 1e30}',
        b'{"balance": "10.00", "credit": "NaN"}',
    ],
)
def test_non_finite_money_in_an_answer_is_a_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError, match="balance: unexpected answer shape"):
        decode(BALANCE, 200, body)


def test_non_finite_money_nested_in_an_answer_is_a_protocol_error() -> None:
    body = {"id": 1, "cnt": 1, "phones": [{"phone": PHONE, "cost": "NaN"}]}
    with pytest.raises(ProtocolError, match="send: unexpected answer shape"):
        decode(SEND, 200, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("raw", "value"),
    [("250.80", "250.80"), (250.8, "250.8"), (0, "0"), ("-12.5", "-12.5"), ("1e2", "1E+2")],
)
def test_finite_money_in_an_answer_is_kept_exactly(raw: object, value: str) -> None:
    balance = decode(BALANCE, 200, json.dumps({"balance": raw}).encode())
    assert balance.balance == Decimal(value)
    assert str(balance.balance) == value


@pytest.mark.anyio
async def test_non_finite_balance_through_the_session_is_a_protocol_error() -> None:
    def nan_balance(request: httpx.Request) -> httpx.Response:
        return answer(b'{"balance": "sNaN", "currency": "RUR"}')

    async with Session("demo", "demo", transport=httpx.MockTransport(nan_balance)) as smsc:
        with pytest.raises(ProtocolError, match="balance"):
            await smsc.balance()


@pytest.mark.parametrize("cnt", ["١٢", "1_000", "²", "1" * 31, "0x10", "", "1.0"])
def test_integers_in_an_answer_are_ascii_digits(cnt: str) -> None:
    with pytest.raises(ProtocolError, match="send: unexpected answer shape"):
        decode(SEND, 200, json.dumps({"id": 1, "cnt": cnt}).encode())


@pytest.mark.parametrize(("cnt", "value"), [("12", 12), (" 3 ", 3), ("-1", -1), (7, 7)])
def test_integers_in_an_answer_as_the_gateway_writes_them(cnt: object, value: int) -> None:
    assert decode(SEND, 200, json.dumps({"id": 1, "cnt": cnt}).encode()).cnt == value


@pytest.mark.parametrize("tz", ["١٢", "1_0", "+٣"])
def test_integers_of_a_flat_record_are_ascii_digits_too(tz: str) -> None:
    # OperatorInfo has only optional str/int fields: a bulk look-up builds millions of them, so
    # its structuring may take a shorter path; the same rule must hold on it.
    body = {"phone": PHONE, "operator": "МТС", "tz": tz}
    with pytest.raises(ProtocolError, match="info: unexpected answer shape"):
        decode(OPERATOR_INFO, 200, json.dumps(body).encode())
    ok = decode(OPERATOR_INFO, 200, json.dumps({**body, "tz": "3"}).encode())
    assert ok[0].tz == 3
