"""``/sys/receive_phones.php``: dedicated inbound numbers (``gets``, ``buy``, ``chg``).

Answers (our reading): ``gets`` every number for sale and every number the account has, with
``phone``, ``cost`` (monthly fee), ``bought`` and ``noprolong``; ``buy`` the ``phone`` and the
``cost`` charged -- the fee for the days left in the month, today included (Moscow time);
``chg`` ``OK``. Error 3: the number is not for sale (``buy``) or not the account's (``chg``);
error 5: the balance does not cover the charge.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

from smsc_async.testing._endpoints._book import Fields, command, render_many, render_one
from smsc_async.testing._endpoints._context import PARAMETERS_ERROR, Context
from smsc_async.testing._endpoints._misc import InboundRecord, inbound
from smsc_async.testing._numbers import normalize
from smsc_async.testing._time import MOSCOW
from smsc_async.testing._wire import GatewayError, money, render_ok

PATH = "/sys/receive_phones.php"
ERRORS: Mapping[int, str] = {3: "number not found", 5: "not enough money"}


def charge(fee: Decimal, now: float) -> Decimal:
    """The fee for the rest of the month of ``now`` (unix seconds), today included."""
    day = dt.datetime.fromtimestamp(now, MOSCOW)
    days = calendar.monthrange(day.year, day.month)[1]
    left = days - day.day + 1
    return (fee * left / days).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _fields(n: InboundRecord, login: str) -> Fields:
    return [
        ("phone", n.phone),
        ("cost", money(n.cost)),
        ("bought", int(n.owner == login)),
        ("noprolong", int(n.noprolong)),
    ]


def _phone(params: Mapping[str, str]) -> str:
    number = normalize(params.get("phone", ""))
    if number is None:
        raise GatewayError(1, PARAMETERS_ERROR)
    return number


def handle(ctx: Context) -> str:
    """Answer one receive_phones.php request."""
    params, login = ctx.params, ctx.account.login
    numbers = inbound(ctx.emulator)
    what = command(params, ("gets", "buy", "chg"))
    if what == "gets":
        rows = [_fields(n, login) for n in numbers.values() if n.owner in (None, login)]
        return render_many(ctx.fmt, "phone", rows)
    record = numbers.get(_phone(params))
    if what == "buy":
        if record is None or record.owner is not None:
            raise GatewayError(3, ERRORS[3])
        cost = charge(record.cost, ctx.now)
        if ctx.account.spendable() < cost:
            raise GatewayError(5, ERRORS[5])
        ctx.account.balance -= cost
        record.owner, record.noprolong = login, False
        return render_one(ctx.fmt, "result", [("phone", record.phone), ("cost", money(cost))])
    if record is None or record.owner != login:
        raise GatewayError(3, ERRORS[3])
    value = params.get("noprolong", "").strip()
    if value not in ("0", "1"):
        raise GatewayError(1, PARAMETERS_ERROR)
    record.noprolong = value == "1"
    return render_ok(ctx.fmt)
