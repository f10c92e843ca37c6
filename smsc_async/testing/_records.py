"""Per-account records of the data endpoints: sender names, short links, individual tariffs.

They live beside :class:`~smsc_async.testing.Account` (keyed by it, weakly) so the core state module
stays as it is; replacing an account with ``add_account`` starts its records afresh. The helpers
here are how tests (and people trying code) put records into an emulator; each takes the emulator's
lock, because the app may be serving in another thread.
"""

from __future__ import annotations

import random
import weakref
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

import attrs

from smsc_async.testing._state import Account, Message

if TYPE_CHECKING:
    from smsc_async.testing._app import Emulator

__all__ = [
    "Records",
    "SenderRecord",
    "ShortLinkRecord",
    "add_sender",
    "add_short_link",
    "click_short_link",
    "int_ids",
    "records",
    "sender_code",
    "set_individual_price",
]

#: The per-operator fields of a sender name, in the order of seed 000's "with fmt = 0 and
#: operators = 1" line: "name = <sender>, mega_step = ..., ..., sber_int = ..., id = <id>".
OPERATOR_FIELDS = (
    "mega_step",
    "bee_step",
    "motiv_step",
    "sber_step",
    "winmob_step",
    "volnamob_step",
    "mts_step",
    "tele2_step",
    "tele2",
    "ua_reg",
    "ua_int",
    "mega_int",
    "motiv_int",
    "mts_int",
    "motiv",
    "by_reg",
    "by_int",
    "tele2_int",
    "sber_int",
)
#: Short links the emulator hands out look like ``https://smsc.ru/~<id in base 36>``.
SHORT_LINK_BASE = "https://smsc.ru/~"


@attrs.define(kw_only=True, eq=False)
class SenderRecord:
    """A sender name: ``status`` 0 waiting for moderation, 1 allowed, 2 disabled.

    ``operators`` holds explicit per-operator statuses; a field not in it reads 2 (allowed) for an
    allowed name and 0 (waiting) otherwise. ``code``/``code_sent_at`` track a confirmation code
    sent to a digit-only name.
    """

    id: int
    sender: str
    status: int = 0
    comment: str = ""
    operators: dict[str, int] = attrs.Factory(dict)
    code: str | None = None
    code_sent_at: float | None = None

    def operator_status(self, field: str) -> int:
        """The status at the operator ``field`` (``"mts_step"`` …)."""
        return self.operators.get(field, 2 if self.status == 1 else 0)


@attrs.define(kw_only=True, eq=False)
class ShortLinkRecord:
    """A short link: its ``id``, the original ``url``, the ``short`` link and click times."""

    id: int
    url: str
    short: str
    clicks: list[float] = attrs.Factory(list)


@attrs.define(kw_only=True, eq=False)
class Records:
    """What one account holds besides :class:`~smsc_async.testing.Account`'s own fields.

    ``prices`` maps an operator (``mccmnc``) to the account's individual SMS price; ``int_ids``
    gives sent messages the global ids the history reports, in the order they were sent.
    """

    senders: list[SenderRecord] = attrs.Factory(list)
    links: list[ShortLinkRecord] = attrs.Factory(list)
    prices: dict[str, Decimal] = attrs.Factory(dict)
    int_ids: weakref.WeakKeyDictionary[Message, int] = attrs.Factory(weakref.WeakKeyDictionary)
    next_sender_id: int = 1
    next_link_id: int = 1
    next_int_id: int = 1

    def sender(self, name: str) -> SenderRecord | None:
        """The sender called ``name`` (names compare without case), if any."""
        folded = name.casefold()
        return next((s for s in self.senders if s.sender.casefold() == folded), None)

    def sender_by_id(self, id: int) -> SenderRecord | None:
        """The sender with ``id``, if any."""
        return next((s for s in self.senders if s.id == id), None)


_RECORDS: weakref.WeakKeyDictionary[Account, Records] = weakref.WeakKeyDictionary()
_CODES = random.Random()


def records(account: Account) -> Records:
    """The records of ``account`` (created empty on first use)."""
    found = _RECORDS.get(account)
    if found is None:
        found = _RECORDS[account] = Records()
    return found


def int_ids(account: Account) -> Mapping[Message, int]:
    """Global ids of the account's messages; messages not yet numbered get the next ones.

    ``account.messages`` keeps insertion order and a message is inserted when it is sent, so
    numbering the unnumbered ones in that order keeps ids growing with sending time.
    """
    rec = records(account)
    for message in account.messages.values():
        if message not in rec.int_ids:
            rec.int_ids[message] = rec.next_int_id
            rec.next_int_id += 1
    return rec.int_ids


def new_code() -> str:
    """A six-digit confirmation code."""
    return f"{_CODES.randrange(1_000_000):06d}"


def add_sender(
    emulator: Emulator,
    login: str,
    sender: str,
    *,
    status: int = 1,
    comment: str = "",
    operators: Mapping[str, int] | None = None,
) -> SenderRecord:
    """Give ``login`` the sender name ``sender`` (allowed by default) and return its record."""
    unknown = set(operators or {}) - set(OPERATOR_FIELDS)
    if unknown:
        raise ValueError(f"unknown operator fields: {sorted(unknown)}")
    with emulator._lock:
        rec = records(emulator.account(login))
        if rec.sender(sender) is not None:
            raise ValueError(f"{login} already has the sender name {sender!r}")
        record = SenderRecord(
            id=rec.next_sender_id,
            sender=sender,
            status=status,
            comment=comment,
            operators=dict(operators or {}),
        )
        rec.next_sender_id += 1
        rec.senders.append(record)
        return record


def sender_code(emulator: Emulator, login: str, sender: str) -> str | None:
    """The confirmation code last sent to the digit-only sender name ``sender``, if any."""
    with emulator._lock:
        record = records(emulator.account(login)).sender(sender.lstrip("+"))
        return None if record is None else record.code


def add_short_link(
    emulator: Emulator, login: str, url: str, *, clicks: Iterable[float] = ()
) -> ShortLinkRecord:
    """Create a short link to ``url`` for ``login``; ``clicks`` are emulator times (unix s)."""
    with emulator._lock:
        rec = records(emulator.account(login))
        link_id = rec.next_link_id
        rec.next_link_id += 1
        record = ShortLinkRecord(
            id=link_id,
            url=url,
            short=SHORT_LINK_BASE + _base36(link_id),
            clicks=sorted(clicks),
        )
        rec.links.append(record)
        return record


def click_short_link(
    emulator: Emulator, login: str, link_id: int, *, at: float | None = None
) -> None:
    """Record one click on short link ``link_id`` at emulator time ``at`` (default: now)."""
    with emulator._lock:
        rec = records(emulator.account(login))
        link = next((x for x in rec.links if x.id == link_id), None)
        if link is None:
            raise KeyError(link_id)
        link.clicks.append(emulator.now() if at is None else at)


def set_individual_price(emulator: Emulator, login: str, mccmnc: str, cost: Decimal) -> None:
    """Give ``login`` an individual SMS price for the operator ``mccmnc`` (get_price ``codes``)."""
    with emulator._lock:
        records(emulator.account(login)).prices[mccmnc] = Decimal(cost)


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out
