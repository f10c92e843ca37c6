"""The decoder on real gateway bodies (fmt=3 shapes from the seed pages) and broken ones."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from smsc_async import (
    APIError,
    AuthorizationError,
    Balance,
    InsufficientFundsError,
    IPBlockedError,
    MessageStatus,
    OperatorNotFoundError,
    ParameterError,
    ProtocolError,
    SendResult,
    Status,
    StatusError,
    TooManyRequestsError,
)
from smsc_async._endpoints.info import BALANCE, OPERATOR_INFO
from smsc_async._endpoints.messages import COST, SEND, STATUS, STATUSES
from smsc_async.models import MessageType

MSK = dt.timezone(dt.timedelta(hours=3))


def test_balance_with_currency_and_credit() -> None:
    body = b'{"balance": "250.80", "credit": "100.00", "currency": "RUB"}'
    assert BALANCE.path == "/sys/balance.php"
    from smsc_async._endpoints._base import decode

    assert decode(BALANCE, 200, body) == Balance(
        balance=Decimal("250.80"), currency="RUB", credit=Decimal("100.00")
    )


def _decode(endpoint, body: bytes):  # type: ignore[no-untyped-def]
    from smsc_async._endpoints._base import decode

    return decode(endpoint, 200, body)


def test_balance_without_currency() -> None:
    assert _decode(BALANCE, b'{"balance": "0.5"}') == Balance(balance=Decimal("0.5"))


def test_send_result_cost_and_balance() -> None:
    result = _decode(SEND, b'{"id": 3456, "cnt": 2, "cost": "7.00", "balance": "243.80"}')
    assert result == SendResult(id=3456, cnt=2, cost=Decimal("7.00"), balance=Decimal("243.80"))


def test_send_result_string_id_and_phones() -> None:
    body = (
        b'{"id": "order-7", "cnt": 1, "phones": [{"phone": "79161234567", "mccmnc": "25001",'
        b' "cost": "3.50"}, {"phone": "79990000000", "status": "22", "error": "249"}]}'
    )
    result = _decode(SEND, body)
    assert result.id == "order-7"
    assert result.phones is not None
    assert result.phones[0].cost == Decimal("3.50")
    assert result.phones[1].status is Status.INVALID_NUMBER
    assert result.phones[1].error is StatusError.INVALID_NUMBER_FORMAT


def test_cost_estimate() -> None:
    est = _decode(COST, b'{"cost": "3.50", "cnt": 1}')
    assert (est.cost, est.cnt) == (Decimal("3.50"), 1)


def test_status_all_2() -> None:
    body = (
        '{"status": 1, "last_date": "28.11.2026 19:05:45", "last_timestamp": 1795795545, '
        '"flag": 0, "err": 0, "send_date": "28.11.2026 19:05:40", "send_timestamp": 1795795540, '
        '"phone": "79161234567", "cost": "3.50", "sender_id": "Shop", "status_name": "Доставлено", '
        '"message": "Код: 1234", "comment": "", "type": 0, "sms_cnt": 1, "mccmnc": "25001", '
        '"country": "Россия", "operator": "МТС", "region": "Москва"}'
    ).encode()
    st = _decode(STATUS, body)
    assert st.status is Status.DELIVERED and st.final
    assert st.last_date == dt.datetime(2026, 11, 28, 19, 5, 45, tzinfo=MSK)
    assert st.cost == Decimal("3.50")
    assert st.type is MessageType.SMS
    assert st.comment is None  # "" means absent
    assert st.operator == "МТС"


def test_statuses_batch_and_unknown_codes() -> None:
    body = (
        b'[{"id": 1, "phone": "79161234567", "status": 0, "last_date": "", "err": 0},'
        b' {"id": 2, "phone": "79031234567", "status": 77, "err": 999}]'
    )
    first, second = _decode(STATUSES, body)
    assert isinstance(first, MessageStatus) and first.status is Status.HANDED_TO_OPERATOR
    assert not first.final and first.last_date is None
    assert int(second.status) == 77 and second.status.name == "UNKNOWN_77"
    assert second.err.name == "UNKNOWN_999"


def test_operator_info_single_object_becomes_list() -> None:
    body = (
        b'{"country": "Russia", "operator": "MTS", "region": "Moscow", "mcc": "250", '
        b'"mnc": "01", "tz": "3"}'
    )
    (info,) = _decode(OPERATOR_INFO, body)
    assert (info.mcc, info.mnc, info.tz, info.found) == ("250", "01", 3, True)


def test_operator_info_entry_with_error() -> None:
    body = b'[{"phone": "79990000001", "error": "operator not found", "error_code": 3}]'
    (info,) = _decode(OPERATOR_INFO, body)
    assert not info.found and info.phone == "79990000001"


@pytest.mark.parametrize(
    ("endpoint", "code", "cls"),
    [
        (SEND, 3, InsufficientFundsError),
        (OPERATOR_INFO, 3, OperatorNotFoundError),
        (BALANCE, 1, ParameterError),
        (BALANCE, 2, AuthorizationError),
        (STATUS, 4, IPBlockedError),
        (SEND, 9, TooManyRequestsError),
        (BALANCE, 42, APIError),
    ],
)
def test_json_error_maps_per_endpoint(endpoint, code: int, cls: type[APIError]) -> None:  # type: ignore[no-untyped-def]
    body = f'{{"error": "описание", "error_code": {code}}}'.encode()
    with pytest.raises(cls) as info:
        _decode(endpoint, body)
    assert type(info.value) is cls
    assert info.value.code == code and info.value.message == "описание"


def test_send_error_keeps_echoed_id() -> None:
    with pytest.raises(InsufficientFundsError) as info:
        _decode(SEND, b'{"error": "no money", "error_code": 3, "id": 17}')
    assert info.value.id == "17" and info.value.endpoint == "send"


def test_plain_error_form_even_when_json_was_asked() -> None:
    with pytest.raises(IPBlockedError) as info:
        _decode(BALANCE, b"ERROR = 4 (ip is blocked)")
    assert info.value.message == "ip is blocked"
    with pytest.raises(InsufficientFundsError) as sinfo:
        _decode(SEND, b"ERROR = 3 (not enough money), ID - 55")
    assert sinfo.value.id == "55"


@pytest.mark.parametrize(
    ("status_code", "body", "reason"),
    [
        (502, b"<html>Bad Gateway</html>", "HTTP 502"),
        (200, b"", "empty body"),
        (200, b"<!DOCTYPE html><html><body>maintenance</body></html>", "HTML"),
        (200, b'{"balance": "25', "truncated"),
        (200, b"250.80", "unexpected answer shape"),
        (200, b'{"currency": "RUB"}', "unexpected answer shape"),
        (200, b'{"balance": "abc"}', "unexpected answer shape"),
        (200, b"OK", "not JSON"),
    ],
)
def test_unreadable_bodies_are_protocol_errors(status_code: int, body: bytes, reason: str) -> None:
    from smsc_async._endpoints._base import decode

    with pytest.raises(ProtocolError) as info:
        decode(BALANCE, status_code, body)
    assert reason in str(info.value)
    assert info.value.endpoint == "balance"


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"0" + b"}" * 100_000, b"[" * 100_000],
    ids=["lists", "objects", "unclosed"],
)
def test_deeply_nested_json_is_a_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        _decode(BALANCE, body)
    assert info.value.endpoint == "balance"
    assert len(info.value.excerpt) <= 120


@pytest.mark.parametrize(
    "body",
    [
        b'{"error": "x", "error_code": "' + b"9" * 5000 + b'"}',
        b"ERROR = " + b"9" * 5000 + b" (x)",
        b'{"balance": ' + b"1" * 5000 + b"}",
    ],
    ids=["json-code", "plain-code", "json-number"],
)
def test_numbers_too_long_to_convert_are_protocol_errors(body: bytes) -> None:
    # int() refuses more than 4300 digits with ValueError: it must not escape untyped.
    with pytest.raises(ProtocolError):
        _decode(BALANCE, body)


def test_redact_applies_to_everything_taken_from_the_answer() -> None:
    from smsc_async._endpoints._base import decode

    def redact(text: str) -> str:
        return text.replace("hunter2", "***")

    cases = [
        (500, b"login=a&psw=hunter2 rejected"),
        (200, b"<html>psw=hunter2</html>"),
        (200, b'{"error": "bad psw hunter2", "error_code": 1}'),
        (200, b"ERROR = 1 (bad psw hunter2)"),
        (200, b'{"balance": "hunter2"}'),
    ]
    for status, body in cases:
        with pytest.raises((ProtocolError, APIError)) as info:
            decode(BALANCE, status, body, redact=redact)
        err = info.value
        assert "hunter2" not in str(err) and "hunter2" not in repr(err.args)
        assert "hunter2" not in getattr(err, "excerpt", "")
        assert "hunter2" not in getattr(err, "message", "")
