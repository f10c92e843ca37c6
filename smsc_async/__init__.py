"""smsc_async: an asyncio (and trio) client for the SMSC SMS gateway HTTP API.

>>> import smsc_async
>>> async with smsc_async.Session(login="alex", password="…") as smsc:  # doctest: +SKIP
...     balance = await smsc.balance()
...     sent = await smsc.send(["79161234567"], "Код: 1234", sender="Shop")

Everything public is importable from here; ``smsc_async.testing`` (the gateway emulator) and
``smsc_async.redis`` (limits shared across processes) are imported on their own.
"""

from __future__ import annotations

from ._backend import LimiterBackend, MemoryBackend
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
    LinkNotFoundError,
    LockedOutError,
    MessageForbiddenError,
    MessageNotFoundError,
    NotFoundError,
    OperatorNotFoundError,
    ParameterError,
    PersistError,
    ProtocolError,
    RefusedError,
    RequestTimeout,
    SenderNotFoundError,
    SMSCError,
    TooManyRequestsError,
    TransportError,
    UndeliverableError,
    WrongCodeError,
)
from ._limiter import Limiter
from ._limits import Block, RateLimits, Rule, Scope
from ._retry import RetryPolicy
from ._session import Session
from .models import (
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

__version__ = "0.1.0"

__all__ = [
    "APIError",
    "AuthorizationError",
    "Balance",
    "Block",
    "CircuitOpenError",
    "CodeAlreadySentError",
    "ConnectError",
    "CostEstimate",
    "DateFormatError",
    "DuplicateSendError",
    "IPBlockedError",
    "InsufficientFundsError",
    "InvalidPhoneError",
    "Limiter",
    "LimiterBackend",
    "LinkNotFoundError",
    "LockedOutError",
    "MemoryBackend",
    "MessageForbiddenError",
    "MessageNotFoundError",
    "MessageStatus",
    "MessageType",
    "NotFoundError",
    "OperatorInfo",
    "OperatorNotFoundError",
    "ParameterError",
    "PersistError",
    "PhoneResult",
    "ProtocolError",
    "RateLimits",
    "RefusedError",
    "RequestTimeout",
    "RetryPolicy",
    "Rule",
    "SMSCError",
    "Scope",
    "SendResult",
    "SenderNotFoundError",
    "Session",
    "Status",
    "StatusError",
    "TooManyRequestsError",
    "TransportError",
    "UndeliverableError",
    "WrongCodeError",
    "__version__",
]
