"""Frozen models of the gateway's answers.

Field names are the gateway's own JSON names (``fmt=3``); money is :class:`~decimal.Decimal`, gateway
dates (``DD.MM.YYYY hh:mm:ss``, Moscow time) are timezone-aware :class:`~datetime.datetime`, and
status and status-error codes are :class:`~enum.IntEnum` members (unknown codes become members named
``UNKNOWN_<n>`` rather than failing). One cattrs converter (``smsc_async._converter``) builds them all.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import attrs

__all__ = [
    "Balance",
    "Contact",
    "ContactGroup",
    "CostEstimate",
    "IncomingMessage",
    "Job",
    "JobCreated",
    "JobStatus",
    "MessageStatus",
    "MessageType",
    "OperatorInfo",
    "OperatorPrice",
    "OperatorStatus",
    "PhoneResult",
    "PriceZone",
    "Prices",
    "SendResult",
    "SenderName",
    "SenderStatus",
    "SendingStats",
    "SentMessage",
    "ShortLink",
    "Status",
    "StatusError",
    "Template",
    "UserStat",
]


class _OpenIntEnum(enum.IntEnum):
    """An IntEnum that keeps codes it does not know as pseudo-members instead of failing."""

    @classmethod
    def _missing_(cls, value: object) -> _OpenIntEnum | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        member = int.__new__(cls, value)
        member._name_ = f"UNKNOWN_{value}"
        member._value_ = value
        return member


class Status(_OpenIntEnum):
    """Delivery status of a message (``status``)."""

    NOT_FOUND = -3
    STOPPED = -2
    WAITING = -1
    HANDED_TO_OPERATOR = 0
    DELIVERED = 1
    READ = 2
    EXPIRED = 3
    LINK_CLICKED = 4
    UNDELIVERABLE = 20
    INVALID_NUMBER = 22
    FORBIDDEN = 23
    INSUFFICIENT_FUNDS = 24
    UNAVAILABLE_NUMBER = 25

    @property
    def final(self) -> bool:
        """Whether the status will not change any more (delivered, failed, not found …)."""
        return self not in _PENDING


_PENDING = frozenset({Status.STOPPED, Status.WAITING, Status.HANDED_TO_OPERATOR})


class StatusError(_OpenIntEnum):
    """Why a message was not delivered (``err``); 0 when there is no error."""

    NONE = 0
    SUBSCRIBER_DOES_NOT_EXIST = 1
    SUBSCRIBER_OFFLINE = 6
    SERVICE_NOT_ENABLED = 11
    HANDSET_ERROR = 12
    SUBSCRIBER_BLOCKED = 13
    SERVICE_NOT_SUPPORTED = 21
    VIRTUAL_SENDING = 200
    SIM_REPLACED = 219
    QUEUE_OVERFLOW = 220
    NO_ANSWER = 237
    NO_TEMPLATE = 238
    FORBIDDEN_IP = 239
    BUSY = 240
    CONVERSION_ERROR = 241
    ANSWERING_MACHINE = 242
    NO_CONTRACT = 243
    MAILINGS_FORBIDDEN = 244
    STATUS_NOT_RECEIVED = 245
    TIME_RESTRICTION = 246
    MESSAGE_LIMIT = 247
    NO_ROUTE = 248
    INVALID_NUMBER_FORMAT = 249
    NUMBER_FORBIDDEN_BY_SETTINGS = 250
    NUMBER_LIMIT = 251
    NUMBER_FORBIDDEN = 252
    SPAM_FILTER = 253
    UNREGISTERED_SENDER = 254
    REJECTED_BY_OPERATOR = 255


class MessageType(_OpenIntEnum):
    """Kind of a message (``type``)."""

    SMS = 0
    FLASH = 1
    BINARY = 2
    WAP_PUSH = 3
    HLR = 4
    PING = 5
    MMS = 6
    CALL = 7
    EMAIL = 8
    VIBER = 10
    SOCIAL = 12


@attrs.frozen(kw_only=True)
class Balance:
    """The account's balance (balance.php with ``cur=1``)."""

    balance: Decimal
    currency: str | None = None
    credit: Decimal | None = None


@attrs.frozen(kw_only=True)
class PhoneResult:
    """Per-number detail of a send (``op=1`` / ``err=1``); ``status``/``error`` set on failures."""

    phone: str
    mccmnc: str | None = None
    cost: Decimal | None = None
    status: Status | None = None
    error: StatusError | None = None


@attrs.frozen(kw_only=True)
class SendResult:
    """What send.php answered: the message ``id`` and ``cnt`` parts (× recipients).

    ``cost`` is set for ``cost=2`` and ``cost=3``, ``balance`` for ``cost=3``; ``phones`` when
    per-number details were asked for.
    """

    id: int | str
    cnt: int
    cost: Decimal | None = None
    balance: Decimal | None = None
    phones: tuple[PhoneResult, ...] | None = None


@attrs.frozen(kw_only=True)
class CostEstimate:
    """What a send would cost (send.php ``cost=1``); nothing was sent."""

    cost: Decimal
    cnt: int
    phones: tuple[PhoneResult, ...] | None = None


@attrs.frozen(kw_only=True)
class MessageStatus:
    """Status of one message (status.php); ``all=1``/``all=2`` fill in the optional fields."""

    status: Status
    err: StatusError = StatusError.NONE
    last_date: dt.datetime | None = None
    last_timestamp: int | None = None
    flag: int | None = None
    id: int | str | None = None
    phone: str | None = None
    send_date: dt.datetime | None = None
    send_timestamp: int | None = None
    cost: Decimal | None = None
    sender_id: str | None = None
    status_name: str | None = None
    message: str | None = None
    comment: str | None = None
    type: MessageType | None = None
    sms_cnt: int | None = None
    mccmnc: str | None = None
    country: str | None = None
    operator: str | None = None
    region: str | None = None
    # HLR results (messages of type 4); ``cn``/``net`` are the home country and operator,
    # ``rcn``/``rnet`` the roaming ones (empty at home).
    imsi: str | None = None
    msc: str | None = None
    mcc: int | None = None
    mnc: int | None = None
    cn: str | None = None
    net: str | None = None
    rcn: str | None = None
    rnet: str | None = None

    @property
    def final(self) -> bool:
        """Whether this status will not change any more."""
        return self.status.final


@attrs.frozen(kw_only=True)
class OperatorInfo:
    """Operator of a number (info.php ``get_operator``).

    In answers about several numbers ``phone`` says which number an entry is for; an entry the
    gateway could not resolve has ``error``/``error_code`` set and the other fields empty.
    """

    phone: str | None = None
    country: str | None = None
    operator: str | None = None
    region: str | None = None
    mcc: int | None = None
    mnc: int | None = None
    tz: int | None = None
    error: str | None = None
    error_code: int | None = None

    @property
    def found(self) -> bool:
        """Whether the gateway knew the number's operator."""
        return self.error_code is None


@attrs.frozen(kw_only=True)
class Template:
    """A message template (templates.php ``get``).

    ``format`` is the kind of message it is for (``"sms"``, ``"viber"``, ``"mail"`` …; ``None``
    for any); ``autosign`` whether the account's auto-signature is added.
    """

    id: int
    name: str
    msg: str
    format: str | None = None
    sender: str | None = None
    autosign: bool = False


class JobStatus(_OpenIntEnum):
    """State of a mailing list (jobs.php)."""

    SCHEDULED = 0
    DONE = 1
    CANCELLED = 2


@attrs.frozen(kw_only=True)
class JobCreated:
    """What jobs.php ``add`` answered: the mailing's ``id`` and, when asked for, its ``cost``."""

    id: int
    cost: Decimal | None = None


@attrs.frozen(kw_only=True)
class Job:
    """A mailing list (jobs.php ``get`` / ``get_all``).

    ``time`` is when it starts (aware, Moscow-based); ``cnt`` the number of recipients; ``rpt``
    the repetition (0 none, 1 hourly, 2 daily, 3 working days, 4 weekends, 5 weekly, 6 monthly,
    7 yearly).
    """

    id: int
    name: str
    status: JobStatus
    mes: str
    phones: str
    cnt: int
    time: dt.datetime | None = None
    sender: str | None = None
    rpt: int = 0
    cost: Decimal | None = None


@attrs.frozen(kw_only=True)
class Contact:
    """A contact of the phone book (phones.php ``get``); ``grp`` lists the ids of its groups."""

    id: int
    phone: str
    name: str | None = None
    fnm: str | None = None
    lnm: str | None = None
    mnm: str | None = None
    mail: str | None = None
    cmt: str | None = None
    grp: tuple[int, ...] = ()


@attrs.frozen(kw_only=True)
class ContactGroup:
    """A contact group (phones.php ``get_group``); send to it with ``phones="G<num>"``.

    ``type`` is 0 for a group of numbers, 1 for one of e-mail addresses; ``cnt`` its size.
    """

    id: int
    name: str
    num: int
    type: int = 0
    cnt: int = 0


@attrs.frozen(kw_only=True)
class UserStat:
    """Sending statistics of a sub-client (users.php ``get_stat`` / ``get_stat_all``).

    ``sms`` is the number of messages sent, ``credit`` what was spent and ``debit`` what was paid
    in over the period; ``balance`` the sub-client's balance now.
    """

    login: str
    sms: int
    credit: Decimal
    debit: Decimal
    balance: Decimal
    currency: str


class SenderStatus(_OpenIntEnum):
    """Moderation state of a sender name (``status`` in senders.php ``all=1`` lists)."""

    MODERATION = 0
    ALLOWED = 1
    DISABLED = 2


class OperatorStatus(_OpenIntEnum):
    """Registration state of a sender name at one operator (senders.php ``operators=1``)."""

    PENDING = 0
    SUBMITTED = 1
    ALLOWED = 2
    REJECTED = 3
    SUSPENDED = 4
    INSUFFICIENT_FUNDS = 5
    DOCUMENTS_REQUIRED = 8
    FROM_MONTH_START = 9
    DEREGISTERING = 255


#: The per-operator status fields of a sender name, in the gateway's fmt=0 order.
SENDER_OPERATOR_FIELDS = (
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


@attrs.frozen(kw_only=True)
class SenderName:
    """A sender name (senders.php ``get``).

    ``status`` is set in ``all=1`` lists; the per-operator fields (``mega_step``, ``mts_int`` …)
    with ``operators=1``; :attr:`operators` gathers the ones present.
    """

    sender: str
    id: int
    status: SenderStatus | None = None
    mega_step: OperatorStatus | None = None
    bee_step: OperatorStatus | None = None
    motiv_step: OperatorStatus | None = None
    sber_step: OperatorStatus | None = None
    winmob_step: OperatorStatus | None = None
    volnamob_step: OperatorStatus | None = None
    mts_step: OperatorStatus | None = None
    tele2_step: OperatorStatus | None = None
    tele2: OperatorStatus | None = None
    ua_reg: OperatorStatus | None = None
    ua_int: OperatorStatus | None = None
    mega_int: OperatorStatus | None = None
    motiv_int: OperatorStatus | None = None
    mts_int: OperatorStatus | None = None
    motiv: OperatorStatus | None = None
    by_reg: OperatorStatus | None = None
    by_int: OperatorStatus | None = None
    tele2_int: OperatorStatus | None = None
    sber_int: OperatorStatus | None = None

    @property
    def operators(self) -> dict[str, OperatorStatus]:
        """The per-operator statuses the gateway reported, by field name."""
        found = ((name, getattr(self, name)) for name in SENDER_OPERATOR_FIELDS)
        return {name: value for name, value in found if value is not None}


@attrs.frozen(kw_only=True)
class SentMessage:
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
class IncomingMessage:
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
class SendingStats:
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
class PriceZone:
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
class OperatorPrice:
    """An individual SMS price for one operator (``mccmnc``) set for the account."""

    mccmnc: str
    cost: Decimal


@attrs.frozen(kw_only=True)
class Prices:
    """The account's tariffs (get.php ``get_price``): zones, individual prices, e-mail price."""

    zones: tuple[PriceZone, ...] = ()
    codes: tuple[OperatorPrice, ...] = ()
    mail: Decimal | None = None


@attrs.frozen(kw_only=True)
class ShortLink:
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
