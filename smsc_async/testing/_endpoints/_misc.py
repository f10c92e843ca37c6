"""State of the remaining scripts: operator templates, documents, notifications, inbound numbers.

Per-account records live beside the account (keyed by it, weakly, like :mod:`._book`); the
inbound numbers for sale are the emulator's, shared by its accounts (a number one account bought
is no longer for sale to another). The helpers put records in the way tests need them; each takes
the emulator's lock, because the app may be serving in another thread.
"""

from __future__ import annotations

import weakref
from decimal import Decimal
from typing import TYPE_CHECKING

import attrs

from smsc_async.testing._endpoints._book import book_of
from smsc_async.testing._state import Account

if TYPE_CHECKING:
    from smsc_async.testing._app import Emulator

__all__ = [
    "INBOUND_NUMBERS",
    "ActRecord",
    "InboundRecord",
    "InvoiceRecord",
    "MegafonRecord",
    "MiscRecords",
    "Notification",
    "OpTemplateRecord",
    "add_megafon_account",
    "add_notification_group",
    "inbound",
    "misc_of",
    "notifications",
    "pay_invoice",
]

#: The inbound numbers every emulator starts with, and their monthly fee.
INBOUND_NUMBERS: tuple[tuple[str, Decimal], ...] = (
    ("79587654321", Decimal("600.00")),
    ("79587654322", Decimal("600.00")),
    ("79587650000", Decimal("1500.00")),
)
#: The numbers wait_call.php hands out for subscribers to call, in turn.
CALL_NUMBERS = ("78005553535", "74951234567")
#: Per-operator flags of an operator template, in the order the emulator writes them.
OP_TEMPLATE_FLAGS = (
    "mts_srv",
    "mts_trn",
    "mega_srv",
    "mega_trn",
    "bee_srv",
    "bee_trn",
    "tele2_srv",
    "tele2_trn",
)


@attrs.define(kw_only=True, eq=False)
class OpTemplateRecord:
    """One operator template and the operators it is registered with."""

    id: int
    sender: str
    msg: str
    flags: frozenset[str]


@attrs.define(kw_only=True, eq=False)
class InvoiceRecord:
    """One invoice to sub-client ``user`` (a login); ``date`` is unix seconds."""

    id: int
    user: str
    num: str
    date: float
    sum: Decimal
    service: str
    paid: bool = False


@attrs.define(kw_only=True, eq=False)
class ActRecord:
    """One act of sub-client ``user``, closing invoice ``invoice``."""

    id: int
    user: str
    num: str
    date: float
    sum: Decimal
    invoice: int


@attrs.define(kw_only=True, eq=False)
class Notification:
    """One ping.php call as the emulator recorded it."""

    group: int
    ok: bool
    name: str
    host: str
    info: str
    at: float


@attrs.define(kw_only=True, eq=False)
class MegafonRecord:
    """MegaFon statistics of one personal account number."""

    account: str
    sms: int
    cost: Decimal


@attrs.define(kw_only=True, eq=False)
class InboundRecord:
    """An inbound number: for sale while ``owner`` is ``None``."""

    phone: str
    cost: Decimal
    owner: str | None = None
    noprolong: bool = False


@attrs.define(kw_only=True, eq=False)
class MiscRecords:
    """What one account keeps through these scripts (ids come from the account's book)."""

    op_templates: dict[int, OpTemplateRecord] = attrs.Factory(dict)
    invoices: dict[int, InvoiceRecord] = attrs.Factory(dict)
    acts: dict[int, ActRecord] = attrs.Factory(dict)
    groups: set[int] = attrs.Factory(set)
    notifications: list[Notification] = attrs.Factory(list)
    megafon: dict[str, MegafonRecord] = attrs.Factory(dict)
    wait_calls: dict[int, str] = attrs.Factory(dict)


_RECORDS: weakref.WeakKeyDictionary[Account, MiscRecords] = weakref.WeakKeyDictionary()
_INBOUND: weakref.WeakKeyDictionary[Emulator, dict[str, InboundRecord]] = (
    weakref.WeakKeyDictionary()
)


def misc_of(account: Account) -> MiscRecords:
    """The account's records (created empty on first use)."""
    rec = _RECORDS.get(account)
    if rec is None:
        rec = _RECORDS[account] = MiscRecords()
    return rec


def inbound(emulator: Emulator) -> dict[str, InboundRecord]:
    """The emulator's inbound numbers by number (the starting set on first use)."""
    numbers = _INBOUND.get(emulator)
    if numbers is None:
        numbers = _INBOUND[emulator] = {
            phone: InboundRecord(phone=phone, cost=cost) for phone, cost in INBOUND_NUMBERS
        }
    return numbers


def add_notification_group(emulator: Emulator, login: str) -> int:
    """Create an event notification group for ``login`` and return its id (for ping.php)."""
    with emulator._lock:
        account = emulator.account(login)
        group = book_of(account).next_id()
        misc_of(account).groups.add(group)
        return group


def notifications(emulator: Emulator, login: str) -> list[Notification]:
    """The notifications ``login`` triggered, oldest first."""
    with emulator._lock:
        return list(misc_of(emulator.account(login)).notifications)


def add_megafon_account(
    emulator: Emulator, login: str, account: str, *, sms: int, cost: Decimal
) -> None:
    """Give ``login`` MegaFon statistics for personal account number ``account``."""
    with emulator._lock:
        misc_of(emulator.account(login)).megafon[account] = MegafonRecord(
            account=account, sms=sms, cost=cost
        )


def pay_invoice(emulator: Emulator, login: str, invoice: int) -> ActRecord:
    """Mark ``login``'s invoice ``invoice`` paid and issue the act that closes it."""
    with emulator._lock:
        account = emulator.account(login)
        rec = misc_of(account)
        record = rec.invoices.get(invoice)
        if record is None:
            raise KeyError(f"{login} has no invoice {invoice}")
        if record.paid:
            raise ValueError(f"invoice {invoice} is already paid")
        record.paid = True
        act_id = book_of(account).next_id()
        act = ActRecord(
            id=act_id,
            user=record.user,
            num=f"A-{act_id}",
            date=emulator.now(),
            sum=record.sum,
            invoice=record.id,
        )
        rec.acts[act.id] = act
        return act
