"""Type-checked only (mypy strict): pins the models' ``to_dict`` types. Never run by pytest."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from typing_extensions import assert_type

import smsc_async


def _to_dict(balance: smsc_async.Balance, sent: smsc_async.SendResult) -> str:
    assert_type(balance.to_dict(), dict[str, Any])
    assert_type(sent.to_dict(), dict[str, Any])
    assert_type(smsc_async.Balance(balance=Decimal("1")).to_dict(), dict[str, Any])
    return json.dumps([balance.to_dict(), sent.to_dict()])
