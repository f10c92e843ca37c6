"""``/sys/balance.php``: the balance, with ``cur=1`` the currency and a non-zero credit."""

from __future__ import annotations

from collections.abc import Mapping

from smsc_async.testing._endpoints._context import Context
from smsc_async.testing._wire import csv, flag, money, to_json, xml

PATH = "/sys/balance.php"
ERRORS: Mapping[int, str] = {}


def handle(ctx: Context) -> str:
    acct = ctx.account
    balance = money(acct.balance)
    if not flag(ctx.params, "cur"):
        if ctx.fmt == 2:
            return f"<balance>{balance}</balance>"
        if ctx.fmt == 3:
            return to_json({"balance": balance})
        return balance
    credit = money(acct.credit) if acct.credit else None
    if ctx.fmt == 0:
        return f"{balance} {acct.currency}"
    if ctx.fmt == 1:
        return csv([balance, acct.currency])
    fields: list[tuple[str, object]] = [("balance", balance)]
    if credit is not None:
        fields.append(("credit", credit))
    fields.append(("currency", acct.currency))
    if ctx.fmt == 2:
        return xml("result", fields)
    return to_json(dict(fields))
