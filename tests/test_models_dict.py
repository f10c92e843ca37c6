"""Every public model gives JSON-safe data (``to_dict``) and resolvable type hints."""

from __future__ import annotations

import datetime as dt
import enum
import json
import typing
from decimal import Decimal
from typing import Any

import attrs
import pytest

from smsc_async import models
from smsc_async._converter import get_converter

MSK = dt.timezone(dt.timedelta(hours=3))

#: One representative fmt=3 answer per model, with every kind of field filled in.
ANSWERS: dict[str, Any] = {
    "Balance": {"balance": "250.80", "currency": "RUR", "credit": "100.00"},
    "PhoneResult": {
        "phone": "79161234567",
        "mccmnc": "25001",
        "cost": "3.50",
        "status": 22,
        "error": "249",
    },
    "SendResult": {
        "id": 12,
        "cnt": 2,
        "cost": "7.00",
        "balance": "243.80",
        "phones": [
            {"phone": "79161234567", "mccmnc": "25001", "cost": "3.50"},
            {"phone": "79031234567", "mccmnc": "25099", "cost": "3.50", "status": "-1"},
        ],
    },
    "CostEstimate": {
        "cost": "3.50",
        "cnt": 1,
        "phones": [{"phone": "79161234567", "cost": "3.50"}],
    },
    "MessageStatus": {
        "status": 1,
        "err": 0,
        "last_date": "28.02.2026 12:30:45",
        "last_timestamp": 1772271045,
        "id": "order-1",
        "phone": "79161234567",
        "send_date": "28.02.2026 12:30:40",
        "cost": "3.50",
        "sender_id": "Shop",
        "status_name": "Доставлено",
        "message": "Код: 1",
        "type": 0,
        "sms_cnt": 1,
        "mccmnc": "25001",
        "country": "Россия",
        "operator": "МТС",
        "region": "Москва",
        "mcc": "250",
        "mnc": "01",
    },
    "OperatorInfo": {
        "phone": "79161234567",
        "country": "Россия",
        "operator": "МТС",
        "region": "Москва",
        "mcc": "250",
        "mnc": "01",
        "tz": 3,
    },
    "SentMessage": {
        "status": 1,
        "int_id": 990001,
        "phone": "79161234567",
        "last_date": "28.02.2026 12:30:45",
        "send_date": "28.02.2026 12:30:40",
        "cost": "3.50",
        "message": "Hi",
        "type": "0",
        "id": 5,
        "sms_cnt": 1,
        "format": 0,
        "crc": 0,
    },
    "IncomingMessage": {
        "id": 7,
        "received": "01.03.2026 09:00:00",
        "phone": "79161234567",
        "message": "STOP",
        "to_phone": "79990001122",
        "sent": "01.03.2026 08:59:58",
    },
    "SendingStats": {
        "login": "demo",
        "sms": 10,
        "credit": "35.00",
        "debit": "0",
        "currency": "RUR",
    },
    "PriceZone": {
        "zone": "1",
        "name": "Россия",
        "api": "3.50",
        "mass": "3.80",
        "mms": "9.00",
        "hlr": "0.30",
        "call": "1.20",
    },
    "OperatorPrice": {"mccmnc": "25001", "cost": "2.90"},
    "Prices": {
        "zones": [{"zone": "1", "name": "Россия", "api": "3.50"}],
        "codes": [{"mccmnc": "25001", "cost": "2.90"}],
        "mail": "0.05",
    },
    "ShortLink": {
        "id": 145142,
        "cnt": 12,
        "cnt_mon": 10,
        "cnt_day": 2,
        "cnt_yes": 3,
        "cnt_pmon": 2,
        "link": "https://smsc.ru/x/abc",
    },
    "Template": {
        "id": 3,
        "name": "code",
        "msg": "Code: {code}",
        "format": "sms",
        "sender": "Shop",
        "autosign": "1",
    },
    "JobCreated": {"id": 44, "cost": "35.00"},
    "Job": {
        "id": 44,
        "name": "promo",
        "status": 0,
        "mes": "Sale!",
        "phones": "79161234567",
        "cnt": 1,
        "time": "02.03.2026 10:00:00",
        "sender": "Shop",
        "rpt": 2,
        "cost": "3.50",
    },
    "Contact": {
        "id": 1,
        "phone": "79161234567",
        "name": "Ann",
        "mail": "ann@example.com",
        "grp": [1, 2],
    },
    "ContactGroup": {"id": 1, "name": "vip", "num": 1, "type": 0, "cnt": 2},
    "UserStat": {
        "login": "shop-2",
        "sms": 3,
        "credit": "10.50",
        "debit": "100.00",
        "balance": "89.50",
        "currency": "RUR",
    },
    "SenderName": {"sender": "Shop", "id": 8, "status": 1, "mts_int": 2, "mega_step": 255},
    "OperatorTemplate": {"id": 2, "msg": "Code: %d%", "sender": "Shop", "mts_trn": 1},
    "Invoice": {
        "id": 12,
        "num": "A-12",
        "date": "01.03.2026 00:00:00",
        "sum": "1500.00",
        "service": "SMS",
        "paid": 0,
    },
    "Act": {
        "id": 3,
        "num": "ACT-3",
        "date": "31.03.2026 23:59:59",
        "sum": "1500.00",
        "invoice": 12,
    },
    "InboundNumber": {"phone": "79587654321", "cost": "193.55", "bought": 1, "noprolong": 0},
    "WaitCall": {"id": 9, "phone": "79990001122"},
    "MegafonStat": {"account": "5000123456", "sms": 4, "cost": "14.00"},
}

PUBLIC: dict[str, Any] = {name: getattr(models, name) for name in models.__all__}
MODELS: dict[str, Any] = {name: cls for name, cls in PUBLIC.items() if attrs.has(cls)}
CLASSES: dict[str, Any] = {name: cls for name, cls in PUBLIC.items() if isinstance(cls, type)}


def build(name: str) -> Any:
    return get_converter().structure(ANSWERS[name], MODELS[name])


def test_every_public_model_has_a_representative_answer() -> None:
    assert set(ANSWERS) == set(MODELS)
    assert len(MODELS) >= 26


def _check(value: Any, data: Any) -> None:
    """``data`` is ``value`` as JSON data: each leaf checked against its Python original."""
    if attrs.has(type(value)):
        fields = attrs.fields_dict(type(value))
        assert isinstance(data, dict)
        assert list(data) == list(fields)
        for name in fields:
            _check(getattr(value, name), data[name])
    elif isinstance(value, tuple):
        assert isinstance(data, list)
        assert len(data) == len(value)
        for item, item_data in zip(value, data, strict=True):
            _check(item, item_data)
    elif isinstance(value, Decimal):
        assert type(data) is str
        assert Decimal(data) == value
        assert data == str(value)  # exact: no float on the way
    elif isinstance(value, dt.datetime):
        assert type(data) is str
        assert dt.datetime.fromisoformat(data) == value
        assert data.endswith("+03:00")
    elif isinstance(value, enum.Enum):
        assert type(data) is int
        assert data == value.value
    else:
        assert type(value) in (str, int, bool, type(None))
        assert data == value
        assert type(data) is type(value)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_to_dict_is_json_safe(name: str) -> None:
    model = build(name)
    data = model.to_dict()
    _check(model, data)
    # Nothing json.dumps would need a default= for, and it comes back the same.
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data


def test_to_dict_literal() -> None:
    assert build("SendResult").to_dict() == {
        "id": 12,
        "cnt": 2,
        "cost": "7.00",
        "balance": "243.80",
        "phones": [
            {
                "phone": "79161234567",
                "mccmnc": "25001",
                "cost": "3.50",
                "status": None,
                "error": None,
            },
            {
                "phone": "79031234567",
                "mccmnc": "25099",
                "cost": "3.50",
                "status": -1,
                "error": None,
            },
        ],
    }
    status = build("MessageStatus").to_dict()
    assert status["status"] == 1
    assert status["last_date"] == "2026-02-28T12:30:45+03:00"
    assert status["cost"] == "3.50"


def test_unknown_status_codes_are_plain_ints_too() -> None:
    status = get_converter().structure({"status": 77, "err": 901}, models.MessageStatus)
    assert status.status.name == "UNKNOWN_77"
    data = status.to_dict()
    assert (data["status"], data["err"]) == (77, 901)
    assert json.dumps({"s": data["status"]}) == '{"s": 77}'


def test_to_dict_of_a_model_built_by_hand() -> None:
    balance = models.Balance(balance=Decimal("0.10"))
    assert balance.to_dict() == {"balance": "0.10", "currency": None, "credit": None}
    when = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)
    incoming = models.IncomingMessage(id=1, received=when, phone="7", message="m")
    assert incoming.to_dict()["received"] == "2026-03-01T09:00:00+00:00"


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_type_hints_resolve_on_every_public_model(name: str) -> None:
    cls: Any = CLASSES[name]
    hints = typing.get_type_hints(cls)
    if attrs.has(cls):
        assert set(hints) == set(attrs.fields_dict(cls))
        resolved = attrs.resolve_types(cls)
        assert {f.name: f.type for f in attrs.fields(resolved)} == hints
        assert typing.get_type_hints(MODELS[name].to_dict) == {"return": dict[str, Any]}
