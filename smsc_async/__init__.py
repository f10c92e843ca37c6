"""smsc_async: an asyncio (and trio) client for the SMSC SMS gateway HTTP API.

>>> import smsc_async
>>> async with smsc_async.Session(login="alex", password="…") as smsc:  # doctest: +SKIP
...     balance = await smsc.balance()
...     sent = await smsc.send(["79161234567"], "Код: 1234", sender="Shop")

Everything public is importable from here, the classes of the management namespaces too (for
annotations: ``smsc.senders`` is a :class:`Senders`); ``smsc_async.testing`` (the gateway
emulator) and ``smsc_async.redis`` (limits shared across processes) are imported on their own.
Models, bulk look-ups and the segment calculator load on first use, so ``import smsc_async`` stays
cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._backend import (
    LimiterBackend,
    MemoryBackend,
)
from ._clock import (
    Clock,
    SystemClock,
)
from ._endpoints import (
    Blacklist,
    Contacts,
    Documents,
    Groups,
    InboundNumbers,
    Jobs,
    Notifications,
    OperatorTemplates,
    Senders,
    Templates,
    Users,
)
from ._errors import (
    APIError,
    AuthorizationError,
    CircuitOpenError,
    CodeAlreadySentError,
    ConnectError,
    DateFormatError,
    DuplicateSendError,
    InsufficientFundsError,
    InvalidPhoneError,
    IPBlockedError,
    LimiterUnavailableError,
    LinkNotFoundError,
    LockedOutError,
    MessageForbiddenError,
    MessageNotFoundError,
    NotFoundError,
    OperatorNotFoundError,
    ParameterError,
    PersistError,
    ProtocolError,
    RateLimitedError,
    RefusedError,
    RequestTimeout,
    SenderNotFoundError,
    SendUnconfirmedError,
    SMSCError,
    TooManyRequestsError,
    TransportError,
    UndeliverableError,
    WrongCodeError,
)
from ._events import (
    LimiterWait,
    RequestDone,
)
from ._limiter import (
    Limiter,
)
from ._limits import (
    Block,
    RateLimits,
    Rule,
    Scope,
)
from ._reconcile import (
    ReconciledSend,
)
from ._retry import (
    RetryPolicy,
)
from ._session import (
    Session,
)

if TYPE_CHECKING:
    from ._bulk import (
        BulkLookup,
        LookupProgress,
        LookupResult,
        LookupResults,
        normalize_phone,
    )
    from ._segments import (
        Segments,
        segments,
    )
    from .models import (
        Act,
        Balance,
        Contact,
        ContactGroup,
        CostEstimate,
        InboundNumber,
        IncomingMessage,
        Invoice,
        Job,
        JobCreated,
        JobStatus,
        MegafonStat,
        MessageStatus,
        MessageType,
        OperatorInfo,
        OperatorPrice,
        OperatorStatus,
        OperatorTemplate,
        PhoneResult,
        Prices,
        PriceZone,
        SenderName,
        SenderStatus,
        SendingStats,
        SendResult,
        SentMessage,
        ShortLink,
        Status,
        StatusError,
        Template,
        UserStat,
        WaitCall,
    )

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "Act",
    "AuthorizationError",
    "Balance",
    "Blacklist",
    "Block",
    "BulkLookup",
    "CircuitOpenError",
    "Clock",
    "CodeAlreadySentError",
    "ConnectError",
    "Contact",
    "ContactGroup",
    "Contacts",
    "CostEstimate",
    "DateFormatError",
    "Documents",
    "DuplicateSendError",
    "Groups",
    "IPBlockedError",
    "InboundNumber",
    "InboundNumbers",
    "IncomingMessage",
    "InsufficientFundsError",
    "InvalidPhoneError",
    "Invoice",
    "Job",
    "JobCreated",
    "JobStatus",
    "Jobs",
    "Limiter",
    "LimiterBackend",
    "LimiterUnavailableError",
    "LimiterWait",
    "LinkNotFoundError",
    "LockedOutError",
    "LookupProgress",
    "LookupResult",
    "LookupResults",
    "MegafonStat",
    "MemoryBackend",
    "MessageForbiddenError",
    "MessageNotFoundError",
    "MessageStatus",
    "MessageType",
    "NotFoundError",
    "Notifications",
    "OperatorInfo",
    "OperatorNotFoundError",
    "OperatorPrice",
    "OperatorStatus",
    "OperatorTemplate",
    "OperatorTemplates",
    "ParameterError",
    "PersistError",
    "PhoneResult",
    "PriceZone",
    "Prices",
    "ProtocolError",
    "RateLimitedError",
    "RateLimits",
    "ReconciledSend",
    "RefusedError",
    "RequestDone",
    "RequestTimeout",
    "RetryPolicy",
    "Rule",
    "SMSCError",
    "Scope",
    "Segments",
    "SendResult",
    "SendUnconfirmedError",
    "SenderName",
    "SenderNotFoundError",
    "SenderStatus",
    "Senders",
    "SendingStats",
    "SentMessage",
    "Session",
    "ShortLink",
    "Status",
    "StatusError",
    "SystemClock",
    "Template",
    "Templates",
    "TooManyRequestsError",
    "TransportError",
    "UndeliverableError",
    "UserStat",
    "Users",
    "WaitCall",
    "WrongCodeError",
    "__version__",
    "normalize_phone",
    "segments",
]

# Loaded on first use: name -> the module that defines it.
_LAZY: dict[str, str] = {
    "Balance": "smsc_async.models",
    "Contact": "smsc_async.models",
    "ContactGroup": "smsc_async.models",
    "CostEstimate": "smsc_async.models",
    "IncomingMessage": "smsc_async.models",
    "Job": "smsc_async.models",
    "JobCreated": "smsc_async.models",
    "JobStatus": "smsc_async.models",
    "MessageStatus": "smsc_async.models",
    "MessageType": "smsc_async.models",
    "OperatorInfo": "smsc_async.models",
    "OperatorPrice": "smsc_async.models",
    "OperatorStatus": "smsc_async.models",
    "PhoneResult": "smsc_async.models",
    "PriceZone": "smsc_async.models",
    "Prices": "smsc_async.models",
    "SendResult": "smsc_async.models",
    "SenderName": "smsc_async.models",
    "SenderStatus": "smsc_async.models",
    "SendingStats": "smsc_async.models",
    "SentMessage": "smsc_async.models",
    "ShortLink": "smsc_async.models",
    "Status": "smsc_async.models",
    "StatusError": "smsc_async.models",
    "Template": "smsc_async.models",
    "UserStat": "smsc_async.models",
    "Act": "smsc_async.models",
    "InboundNumber": "smsc_async.models",
    "Invoice": "smsc_async.models",
    "MegafonStat": "smsc_async.models",
    "OperatorTemplate": "smsc_async.models",
    "WaitCall": "smsc_async.models",
    "BulkLookup": "smsc_async._bulk",
    "LookupProgress": "smsc_async._bulk",
    "LookupResult": "smsc_async._bulk",
    "LookupResults": "smsc_async._bulk",
    "normalize_phone": "smsc_async._bulk",
    "Segments": "smsc_async._segments",
    "segments": "smsc_async._segments",
}


def __getattr__(name: str) -> Any:
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
