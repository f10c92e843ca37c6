"""``/sys/users.php``: sub-clients (``add``, ``chg``, ``pay``, ``get_stat``, ``get_stat_all``).

A sub-client is a real account of the emulator: it can log in and send with its own login and
password, and has a balance of its own that ``pay`` fills from the main account. ``add`` answers
the sub-client's ``id``; ``chg`` and ``pay`` ``OK``; ``get_stat`` one ``login``, ``sms``,
``credit`` (spent), ``debit`` (paid in), ``balance``, ``currency`` record (``sms``/``credit``
counted over ``start``..``end``), ``get_stat_all`` a list of them. Error 3: no such sub-client.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from smsc_async.testing._endpoints._book import (
    Book,
    Fields,
    UserRecord,
    book_of,
    command,
    parse_date,
    render_created,
    render_many,
    render_one,
)
from smsc_async.testing._endpoints._context import PARAMETERS_ERROR, Context
from smsc_async.testing._state import Account
from smsc_async.testing._time import MOSCOW
from smsc_async.testing._wire import GatewayError, money, render_ok

PATH = "/sys/users.php"
ERRORS: Mapping[int, str] = {3: "user not found"}

CURRENCIES = {"1": "RUR", "2": "USD", "3": "EUR", "4": "UAH", "5": "KZT"}
_LOGIN = re.compile(r"[A-Za-z0-9._@-]{1,64}")
_MAX_USERS = 1000


def _fail(code: int, text: str | None = None) -> GatewayError:
    return GatewayError(code, text or ERRORS.get(code, PARAMETERS_ERROR))


def _login(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "").strip()
    if not _LOGIN.fullmatch(value):
        raise _fail(1)
    return value


def _taken(ctx: Context, login: str) -> bool:
    try:
        ctx.emulator.account(login)
    except KeyError:
        return False
    return True


def _settings(record: UserRecord, account: Account, params: Mapping[str, str]) -> None:
    """Check every setting first, then apply them all (a bad one changes nothing)."""
    changes: dict[str, object] = {}
    for name in ("dlim", "plim"):
        if name in params:
            value = params[name].strip()
            if not value.isdigit():
                raise _fail(1)
            changes[name] = int(value)
    if "reseller" in params:
        if params["reseller"].strip() not in ("0", "1"):
            raise _fail(1)
        changes["reseller"] = params["reseller"].strip() == "1"
    if "curr" in params:
        currency = CURRENCIES.get(params["curr"].strip())
        if currency is None:
            raise _fail(1)
        changes["currency"] = currency
    if "sender" in params:
        changes["sender"] = params["sender"].strip()
    for field, setting in changes.items():
        setattr(record, field, setting)
    account.currency = record.currency


def _record(ctx: Context, book: Book) -> tuple[UserRecord, Account]:
    record = book.users.get(_login(ctx.params, "user"))
    if record is None:
        raise _fail(3)
    return record, ctx.emulator.account(record.login)


def _stat(ctx: Context, record: UserRecord, start: dt.date | None, end: dt.date | None) -> Fields:
    account = ctx.emulator.account(record.login)
    sms, spent = 0, Decimal("0")
    for message in account.messages.values():
        day = dt.datetime.fromtimestamp(message.sent_at, MOSCOW).date()
        if (start is None or day >= start) and (end is None or day <= end):
            sms += message.parts
            spent += message.cost
    return [
        ("login", record.login),
        ("sms", sms),
        ("credit", money(spent)),
        ("debit", money(record.debit)),
        ("balance", money(account.balance)),
        ("currency", account.currency),
    ]


def _add(ctx: Context, book: Book) -> str:
    params = ctx.params
    login = _login(params, "user")
    password = params.get("password", "")
    if not password.strip():
        raise _fail(1)
    if _taken(ctx, login):
        raise _fail(1, "login is taken")
    if len(book.users) >= _MAX_USERS:
        raise _fail(1, "too many users")
    record = UserRecord(id=book.next_id(), login=login)
    probe = Account(login=login, password=password)
    _settings(record, probe, params)
    ctx.emulator.add_account(login=login, password=password, currency=record.currency)
    book.users[login] = record
    return render_created(ctx.fmt, record.id)


def _change(ctx: Context, book: Book) -> str:
    params = ctx.params
    record, account = _record(ctx, book)
    new_login = _login(params, "new_login") if params.get("new_login", "").strip() else None
    if new_login is not None and new_login != record.login and _taken(ctx, new_login):
        raise _fail(1, "login is taken")
    if "password" in params and not params["password"].strip():
        raise _fail(1)
    _settings(record, account, params)
    if "password" in params:
        account.password = params["password"]
    if new_login is not None and new_login != record.login:
        renamed = ctx.emulator.add_account(
            login=new_login,
            password=account.password,
            balance=account.balance,
            currency=account.currency,
            credit=account.credit,
        )
        renamed.messages.update(account.messages)
        # The emulator cannot forget a login; the old one just stops authenticating.
        account.password = secrets.token_hex(16)
        account.balance = Decimal("0")
        del book.users[record.login]
        record.login = new_login
        book.users[new_login] = record
    return render_ok(ctx.fmt)


def _pay(ctx: Context, book: Book) -> str:
    record, account = _record(ctx, book)
    try:
        amount = Decimal(ctx.params.get("sum", "").strip())
    except InvalidOperation:
        raise _fail(1) from None
    if not amount.is_finite() or amount <= 0:
        raise _fail(1)
    if amount > ctx.account.spendable():
        raise _fail(1, "not enough money")
    ctx.account.balance -= amount
    account.balance += amount
    record.debit += amount
    return render_ok(ctx.fmt)


def handle(ctx: Context) -> str:
    """Answer one users.php request."""
    params, book = ctx.params, book_of(ctx.account)
    what = command(params, ("add", "chg", "pay", "get_stat", "get_stat_all"))
    if what == "add":
        return _add(ctx, book)
    if what == "chg":
        return _change(ctx, book)
    if what == "pay":
        return _pay(ctx, book)
    start = parse_date(params.get("start", ""), 1)
    end = parse_date(params.get("end", ""), 1)
    if what == "get_stat":
        record, _ = _record(ctx, book)
        return render_one(ctx.fmt, "stat", _stat(ctx, record, start, end))
    rows = [_stat(ctx, record, start, end) for record in book.users.values()]
    return render_many(ctx.fmt, "stat", rows)
