"""State and rendering shared by the management scripts: templates, jobs, phones, users.

Each account gets one :class:`Book` (kept beside the account, so :class:`~._state.Account` needs
no new fields). Records render in the four formats the same way on every script: one record as
``name = value, …`` (fmt 0), comma-separated values (1), an XML element (2) or a JSON object (3);
a list of records one per line, in ``<list>``, or as a JSON array.
"""

from __future__ import annotations

import datetime as dt
import re
import weakref
from collections.abc import Iterable, Mapping
from decimal import Decimal

import attrs

from smsc_async.testing._endpoints._context import PARAMETERS_ERROR
from smsc_async.testing._state import Account
from smsc_async.testing._wire import GatewayError, csv, key_values, to_json, xml

Fields = list[tuple[str, object]]

_DATE = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})")


@attrs.define(kw_only=True, eq=False)
class TemplateRecord:
    """One message template."""

    id: int
    name: str
    msg: str
    format: str = ""
    sender: str = ""
    autosign: bool = False


@attrs.define(kw_only=True, eq=False)
class JobRecord:
    """One mailing list. Scheduled until ``start_at`` (unix seconds), then done."""

    id: int
    name: str
    phones: str
    mes: str
    sender: str
    start_at: float
    rpt: int
    cnt: int
    cost: Decimal
    cancelled: bool = False

    def status(self, now: float) -> int:
        """0 scheduled, 1 done, 2 cancelled."""
        if self.cancelled:
            return 2
        return 0 if now < self.start_at else 1


@attrs.define(kw_only=True, eq=False)
class ContactRecord:
    """One contact of the phone book, keyed by its number."""

    id: int
    phone: str
    name: str = ""
    fnm: str = ""
    lnm: str = ""
    mnm: str = ""
    mail: str = ""
    cmt: str = ""
    groups: list[int] = attrs.Factory(list)


@attrs.define(kw_only=True, eq=False)
class GroupRecord:
    """One contact group; ``num`` is what ``phones=G<num>`` names."""

    id: int
    name: str
    num: int
    type: int = 0


@attrs.define(kw_only=True, eq=False)
class UserRecord:
    """One sub-client: its settings and what was paid in (it also exists as an account)."""

    id: int
    login: str
    reseller: bool = False
    currency: str = "RUR"
    sender: str = ""
    dlim: int = 0
    plim: int = 0
    debit: Decimal = Decimal("0")


@attrs.define(kw_only=True, eq=False)
class Book:
    """What one account keeps through the management scripts."""

    templates: dict[int, TemplateRecord] = attrs.Factory(dict)
    jobs: dict[int, JobRecord] = attrs.Factory(dict)
    contacts: dict[str, ContactRecord] = attrs.Factory(dict)
    groups: dict[int, GroupRecord] = attrs.Factory(dict)
    blacklist: dict[str, int] = attrs.Factory(dict)
    users: dict[str, UserRecord] = attrs.Factory(dict)
    last_id: int = 0

    def next_id(self) -> int:
        """A fresh record id (one sequence for every kind of record of the account)."""
        self.last_id += 1
        return self.last_id

    def group_by_num(self, num: int) -> GroupRecord | None:
        """The group that ``G<num>`` names."""
        return next((g for g in self.groups.values() if g.num == num), None)


_BOOKS: weakref.WeakKeyDictionary[Account, Book] = weakref.WeakKeyDictionary()


def book_of(account: Account) -> Book:
    """The account's book (created empty on first use; it goes when the account goes)."""
    book = _BOOKS.get(account)
    if book is None:
        book = _BOOKS[account] = Book()
    return book


def command(params: Mapping[str, str], names: Iterable[str]) -> str:
    """The first command flag set among ``names``; error 1 when there is none."""
    for name in names:
        if params.get(name, "0").strip() not in ("", "0"):
            return name
    raise GatewayError(1, PARAMETERS_ERROR)


def record_id(params: Mapping[str, str], name: str = "id") -> int:
    """A positive integer record id from ``params``; error 1 when missing or malformed."""
    value = params.get(name, "").strip()
    if not value.isdigit() or not value.isascii() or int(value) < 1:
        raise GatewayError(1, PARAMETERS_ERROR)
    return int(value)


def parse_date(value: str, code: int) -> dt.date | None:
    """``dd.mm.yyyy`` (or empty: ``None``); error ``code`` when malformed."""
    text = value.strip()
    if not text:
        return None
    match = _DATE.fullmatch(text)
    try:
        if match is None:
            raise ValueError(text)
        return dt.date(int(match[3]), int(match[2]), int(match[1]))
    except ValueError:
        raise GatewayError(code, "wrong date format") from None


def render_one(fmt: int, root: str, fields: Fields) -> str:
    """One record in ``fmt``."""
    if fmt == 0:
        return key_values(fields)
    if fmt == 1:
        return csv(value for _, value in fields)
    if fmt == 2:
        return xml(root, fields)
    return to_json(dict(fields))


def render_many(fmt: int, tag: str, rows: list[Fields]) -> str:
    """A list of records in ``fmt`` (an empty list is an empty body, ``<list>`` or ``[]``)."""
    if fmt == 3:
        return to_json([dict(row) for row in rows])
    if fmt == 2:
        inner = "".join(xml(tag, row) + "\n" for row in rows)
        return f"<list>\n{inner}</list>"
    return "\n".join(render_one(fmt, tag, row) for row in rows)


def render_created(fmt: int, id: int, cost: str | None = None) -> str:
    """The answer to creating a record: its ``id`` (and, for priced mailings, the ``cost``)."""
    if fmt == 0:
        return f"OK, ID - {id}" + (f", COST - {cost}" if cost is not None else "")
    fields: Fields = [("id", id)]
    if cost is not None:
        fields.append(("cost", cost))
    if fmt == 1:
        return csv(value for _, value in fields)
    if fmt == 2:
        return xml("result", fields)
    return to_json(dict(fields))
