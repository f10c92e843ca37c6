"""Models of history, inbox, statistics, tariffs and short-link answers (get.php, tinyurls.php)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import attrs

from ._base import Model
from .messages import MessageType, Status, StatusError

__all__ = [
    "IncomingMessage",
    "OperatorPrice",
    "PriceZone",
    "Prices",
    "SendingStats",
    "SentMessage",
    "ShortLink",
]


@attrs.frozen(kw_only=True)
class SentMessage(Model):
    """One message of the sending history (get.php ``get_messages``).

    ``int_id`` is the gateway's global id: pass the smallest one of a page as ``prev_id`` to get
    the messages sent before it. ``format`` is 0 for SMS, 8 for e-mail (then ``phone`` is the
    address).
    """

    status: Status
    int_id: int
    phone: str
    err: StatusError = StatusError.NONE
    last_date: dt.datetime | None = None
    last_timestamp: int | None = None
    send_date: dt.datetime | None = None
    send_timestamp: int | None = None
    cost: Decimal | None = None
    sender_id: str | None = None
    status_name: str | None = None
    message: str | None = None
    mccmnc: str | None = None
    country: str | None = None
    operator: str | None = None
    region: str | None = None
    type: MessageType | None = None
    id: int | str | None = None
    sms_cnt: int | None = None
    format: int | None = None
    crc: int | None = None


@attrs.frozen(kw_only=True)
class IncomingMessage(Model):
    """A message received on the account's number (get.php ``get_answers``).

    ``id`` grows with every message: pass the largest one seen as ``after_id`` to get newer ones.
    """

    id: int
    received: dt.datetime
    phone: str
    message: str
    to_phone: str | None = None
    sent: dt.datetime | None = None


@attrs.frozen(kw_only=True)
class SendingStats(Model):
    """Sending statistics of one login over a period (get.php ``get_stat``).

    ``sms`` is the number of messages; ``credit`` and ``debit`` the two money columns exactly as
    the gateway names them (its documentation glosses them inconsistently; in the emulator
    ``credit`` is what the messages cost).
    """

    login: str
    sms: int
    credit: Decimal
    debit: Decimal
    currency: str


@attrs.frozen(kw_only=True)
class PriceZone(Model):
    """One tariff zone (get.php ``get_price``).

    ``api`` is the SMS price via the API, ``mass`` via the web account; ``mms``, ``hlr`` and
    ``call`` the prices of an MMS, an HLR request and a voice call.
    """

    zone: str
    name: str
    api: Decimal | None = None
    mass: Decimal | None = None
    mms: Decimal | None = None
    hlr: Decimal | None = None
    call: Decimal | None = None


@attrs.frozen(kw_only=True)
class OperatorPrice(Model):
    """An individual SMS price for one operator (``mccmnc``) set for the account."""

    mccmnc: str
    cost: Decimal


@attrs.frozen(kw_only=True)
class Prices(Model):
    """The account's tariffs (get.php ``get_price``): zones, individual prices, e-mail price."""

    zones: tuple[PriceZone, ...] = ()
    codes: tuple[OperatorPrice, ...] = ()
    mail: Decimal | None = None


@attrs.frozen(kw_only=True)
class ShortLink(Model):
    """Click counts of a short link (tinyurls.php ``get``).

    ``cnt`` counts every click; ``cnt_day`` today's, ``cnt_yes`` yesterday's, ``cnt_mon`` this
    month's and ``cnt_pmon`` the previous month's. ``link`` is the short link itself.
    """

    id: int
    cnt: int
    cnt_mon: int
    cnt_day: int
    cnt_yes: int
    cnt_pmon: int
    link: str
