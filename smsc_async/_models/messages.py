"""Models of sending, status, balance and operator answers (the core endpoints)."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import attrs

from ._base import Model

__all__ = [
    "Balance",
    "CostEstimate",
    "MessageStatus",
    "MessageType",
    "OpenIntEnum",
    "OperatorInfo",
    "PhoneResult",
    "SendResult",
    "Status",
    "StatusError",
]


class OpenIntEnum(enum.IntEnum):
    """An IntEnum that keeps codes it does not know as pseudo-members instead of failing."""

    @classmethod
    def _missing_(cls, value: object) -> OpenIntEnum | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        member = int.__new__(cls, value)
        member._name_ = f"UNKNOWN_{value}"
        member._value_ = value
        return member


class Status(OpenIntEnum):
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


class StatusError(OpenIntEnum):
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


class MessageType(OpenIntEnum):
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
class Balance(Model):
    """The account's balance (balance.php with ``cur=1``)."""

    balance: Decimal
    currency: str | None = None
    credit: Decimal | None = None


@attrs.frozen(kw_only=True)
class PhoneResult(Model):
    """Per-number detail of a send (``op=1`` / ``err=1``); ``status``/``error`` set on failures."""

    phone: str
    mccmnc: str | None = None
    cost: Decimal | None = None
    status: Status | None = None
    error: StatusError | None = None


@attrs.frozen(kw_only=True)
class SendResult(Model):
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
class CostEstimate(Model):
    """What a send would cost (send.php ``cost=1``); nothing was sent."""

    cost: Decimal
    cnt: int
    phones: tuple[PhoneResult, ...] | None = None


@attrs.frozen(kw_only=True)
class MessageStatus(Model):
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
    # Codes, not numbers: MTS's MNC is "01" (the docs and the gateway write them as strings).
    mcc: str | None = None
    mnc: str | None = None
    cn: str | None = None
    net: str | None = None
    rcn: str | None = None
    rnet: str | None = None

    @property
    def final(self) -> bool:
        """Whether this status will not change any more."""
        return self.status.final


@attrs.frozen(kw_only=True)
class OperatorInfo(Model):
    """Operator of a number (info.php ``get_operator``).

    In answers about several numbers ``phone`` says which number an entry is for; an entry the
    gateway could not resolve has ``error``/``error_code`` set and the other fields empty.
    """

    phone: str | None = None
    country: str | None = None
    operator: str | None = None
    region: str | None = None
    #: Mobile country and network codes as the gateway writes them ("250", "01"): codes, not
    #: numbers, so a leading zero is kept.
    mcc: str | None = None
    mnc: str | None = None
    tz: int | None = None
    error: str | None = None
    error_code: int | None = None

    @property
    def found(self) -> bool:
        """Whether the gateway knew the number's operator."""
        return self.error_code is None
