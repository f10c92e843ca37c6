"""Frozen models of the gateway's answers.

Field names are the gateway's own JSON names (``fmt=3``); money is :class:`~decimal.Decimal`,
gateway dates (``DD.MM.YYYY hh:mm:ss``, Moscow time) are timezone-aware
:class:`~datetime.datetime`, and status and status-error codes are :class:`~enum.IntEnum` members
(unknown codes become members named ``UNKNOWN_<n>`` rather than failing). One cattrs converter
(``smsc_async._converter``) builds them all.

Each API area's models live in a private module that is imported on first use: building dozens of
attrs classes costs milliseconds, and a program that only sends should not pay for the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._models.data import (
        IncomingMessage,
        OperatorPrice,
        Prices,
        PriceZone,
        SendingStats,
        SentMessage,
        ShortLink,
    )
    from ._models.management import (
        Contact,
        ContactGroup,
        Job,
        JobCreated,
        JobStatus,
        Template,
        UserStat,
    )
    from ._models.messages import (
        Balance,
        CostEstimate,
        MessageStatus,
        MessageType,
        OperatorInfo,
        PhoneResult,
        SendResult,
        Status,
        StatusError,
    )
    from ._models.misc import (
        Act,
        InboundNumber,
        Invoice,
        MegafonStat,
        OperatorTemplate,
        WaitCall,
    )
    from ._models.senders import (
        OperatorStatus,
        SenderName,
        SenderStatus,
    )

__all__ = [
    "Act",
    "Balance",
    "Contact",
    "ContactGroup",
    "CostEstimate",
    "InboundNumber",
    "IncomingMessage",
    "Invoice",
    "Job",
    "JobCreated",
    "JobStatus",
    "MegafonStat",
    "MessageStatus",
    "MessageType",
    "OperatorInfo",
    "OperatorPrice",
    "OperatorStatus",
    "OperatorTemplate",
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
    "WaitCall",
]

# Where each name is defined: the module is imported the first time one of its names is used.
_HOMES: dict[str, str] = {
    "Balance": "messages",
    "CostEstimate": "messages",
    "MessageStatus": "messages",
    "MessageType": "messages",
    "OperatorInfo": "messages",
    "PhoneResult": "messages",
    "SendResult": "messages",
    "Status": "messages",
    "StatusError": "messages",
    "Contact": "management",
    "ContactGroup": "management",
    "Job": "management",
    "JobCreated": "management",
    "JobStatus": "management",
    "Template": "management",
    "UserStat": "management",
    "OperatorStatus": "senders",
    "SENDER_OPERATOR_FIELDS": "senders",
    "SenderName": "senders",
    "SenderStatus": "senders",
    "IncomingMessage": "data",
    "OperatorPrice": "data",
    "PriceZone": "data",
    "Prices": "data",
    "SendingStats": "data",
    "SentMessage": "data",
    "ShortLink": "data",
    "Act": "misc",
    "InboundNumber": "misc",
    "Invoice": "misc",
    "MegafonStat": "misc",
    "OperatorTemplate": "misc",
    "WaitCall": "misc",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"smsc_async._models.{home}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
