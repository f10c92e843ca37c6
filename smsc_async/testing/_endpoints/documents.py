"""``/sys/documents.php``: invoices and acts of sub-clients.

Commands ``add_account``, ``get_account``, ``get_act``. The sub-client is named by ``user``
(login) or ``user_id`` and must be one of the account's (users.php), else error 3. Answers (our
reading): ``add_account`` the invoice ``id``; ``get_account`` invoices with ``id``, ``num``,
``date``, ``sum``, ``service``, ``paid``; ``get_act`` acts with ``id``, ``num``, ``date``,
``sum``, ``invoice``. An act is issued when an invoice is paid (:func:`~._misc.pay_invoice`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal

from smsc_async.testing._endpoints._book import (
    Fields,
    book_of,
    command,
    record_id,
    render_created,
    render_many,
)
from smsc_async.testing._endpoints._context import PARAMETERS_ERROR, Context
from smsc_async.testing._endpoints._misc import ActRecord, InvoiceRecord, misc_of
from smsc_async.testing._endpoints.status import moscow_date
from smsc_async.testing._wire import GatewayError, money

PATH = "/sys/documents.php"
ERRORS: Mapping[int, str] = {3: "user not found"}

_SUM = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,2})?")


def _user(ctx: Context) -> str:
    params, book = ctx.params, book_of(ctx.account)
    login = params.get("user", "").strip()
    if login:
        if login not in book.users:
            raise GatewayError(3, ERRORS[3])
        return login
    uid = record_id(params, "user_id")
    for record in book.users.values():
        if record.id == uid:
            return record.login
    raise GatewayError(3, ERRORS[3])


def _invoice(i: InvoiceRecord) -> Fields:
    return [
        ("id", i.id),
        ("num", i.num),
        ("date", moscow_date(i.date)),
        ("sum", money(i.sum)),
        ("service", i.service),
        ("paid", int(i.paid)),
    ]


def _act(a: ActRecord) -> Fields:
    return [
        ("id", a.id),
        ("num", a.num),
        ("date", moscow_date(a.date)),
        ("sum", money(a.sum)),
        ("invoice", a.invoice),
    ]


def handle(ctx: Context) -> str:
    """Answer one documents.php request."""
    params, rec = ctx.params, misc_of(ctx.account)
    what = command(params, ("add_account", "get_account", "get_act"))
    user = _user(ctx)
    if what == "add_account":
        total = params.get("sum", "").strip()
        if not _SUM.fullmatch(total) or Decimal(total) <= 0:
            raise GatewayError(1, PARAMETERS_ERROR)
        iid = book_of(ctx.account).next_id()
        rec.invoices[iid] = InvoiceRecord(
            id=iid,
            user=user,
            num=f"S-{iid}",
            date=ctx.now,
            sum=Decimal(total),
            service=params.get("service", "").strip(),
        )
        return render_created(ctx.fmt, iid)
    only = record_id(params) if params.get("id", "").strip() else None
    if what == "get_account":
        invoices = [
            _invoice(i) for i in rec.invoices.values() if i.user == user and only in (None, i.id)
        ]
        return render_many(ctx.fmt, "invoice", invoices)
    num = params.get("num", "").strip()
    acts = [
        _act(a)
        for a in rec.acts.values()
        if a.user == user and only in (None, a.id) and num in ("", a.num)
    ]
    return render_many(ctx.fmt, "act", acts)
