"""The exception tree of smsc_async.

Every failure is an :class:`SMSCError`::

    SMSCError
    ├── TransportError                 the request did not complete (wraps the httpx error)
    │   ├── ConnectError               no connection could be made
    │   └── RequestTimeout             no complete answer within the attempt's deadline
    ├── ProtocolError                  an answer we cannot read: non-200, HTML page, empty,
    │                                  truncated, oversized, too deeply nested or
    │                                  unstructurable body (.endpoint, .excerpt)
    ├── RefusedError                   the session refused to send; nothing left the machine
    │   ├── DuplicateSendError         an identical send inside its window (a double click)
    │   ├── LockedOutError             earlier authorization failures: stopped before the IP block
    │   ├── CircuitOpenError           the gateway blocked the IP (error 4): cooling down
    │   ├── LimiterUnavailableError    the shared limiter (Redis) cannot be reached
    │   └── RateLimitedError           the limiter would hold the request longer than max_wait
    ├── SendUnconfirmedError           a send may have reached the gateway but no answer was
    │                                  read: reconcile it before sending again (.id, .phones)
    └── APIError                       the gateway answered with an error code (``.code``,
        │                              ``.message`` (server text), ``.endpoint``, ``.id``)
        ├── ParameterError             1
        ├── AuthorizationError         2
        ├── IPBlockedError             4
        ├── TooManyRequestsError       9
        ├── InsufficientFundsError     send 3, receive_phones 5 (buying a number)
        ├── NotFoundError              3 on most endpoints (templates, phones, users, documents,
        │   │                          ping, receive_phones too)
        │   ├── SenderNotFoundError    senders 3
        │   ├── OperatorNotFoundError  info 3
        │   ├── LinkNotFoundError      tinyurls 3
        │   └── MessageNotFoundError   get_messages 3
        ├── DateFormatError            send/jobs 5
        ├── PersistError               senders 5, status 5 (delete), jobs 3 (save)
        ├── MessageForbiddenError      send 6
        ├── InvalidPhoneError          send 7, senders 7, phones 7, wait_call 7
        ├── UndeliverableError         send 8, senders 8
        ├── CodeAlreadySentError       senders 10 (retry after 8 hours)
        └── WrongCodeError             senders 11

Codes map to classes **per endpoint**: each endpoint's declaration names its own codes (code 3 is
"insufficient funds" on send but "not found" elsewhere) beside the shared ones (``SHARED_ERRORS``);
``ERROR_TABLES`` gathers them by endpoint name. Credentials never appear in any message here: the
session never passes them in, and every excerpt or server text it places into one passes its
redactor first (the password and API key in any spelling -- raw, URL- or form-encoded, HTML- or
JSON-escaped -- become ``***``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

__all__ = [
    "APIError",
    "AuthorizationError",
    "CircuitOpenError",
    "CodeAlreadySentError",
    "ConnectError",
    "DateFormatError",
    "DuplicateSendError",
    "ERROR_TABLES",
    "IPBlockedError",
    "InsufficientFundsError",
    "InvalidPhoneError",
    "LimiterUnavailableError",
    "LinkNotFoundError",
    "LockedOutError",
    "MessageForbiddenError",
    "MessageNotFoundError",
    "NotFoundError",
    "OperatorNotFoundError",
    "ParameterError",
    "PersistError",
    "ProtocolError",
    "RateLimitedError",
    "RefusedError",
    "RequestTimeout",
    "SHARED_ERRORS",
    "SMSCError",
    "SendUnconfirmedError",
    "SenderNotFoundError",
    "TooManyRequestsError",
    "TransportError",
    "UndeliverableError",
    "WrongCodeError",
    "api_error",
]


class SMSCError(Exception):
    """Root of every error smsc_async raises (bad input raises ``ValueError``/``TypeError``)."""


class TransportError(SMSCError):
    """The HTTP request did not complete; the underlying httpx error is the ``__cause__``."""

    def __init__(self, message: str, *, endpoint: str) -> None:
        super().__init__(message)
        self.endpoint = endpoint


class ConnectError(TransportError):
    """No connection to the gateway could be made."""


class RequestTimeout(TransportError):
    """The request timed out (connect, read, write or waiting for a pooled connection)."""


class ProtocolError(SMSCError):
    """The gateway answered something we cannot read as the endpoint's answer."""

    def __init__(
        self, message: str, *, endpoint: str, excerpt: str = "", status_code: int | None = None
    ) -> None:
        detail = f"{endpoint}: {message}"
        if excerpt:
            detail += f" (body starts {excerpt!r})"
        super().__init__(detail)
        self.endpoint = endpoint
        self.excerpt = excerpt
        self.status_code = status_code


class RefusedError(SMSCError):
    """The session refused to send the request; nothing left the machine."""


class DuplicateSendError(RefusedError):
    """An identical send already went out inside the gateway's one-per-minute window.

    Sending it again would either be refused with error 9 or deliver the message twice, so it is
    never queued: change the text, the recipients or the ``id``, or wait ``retry_after`` seconds.
    """

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LockedOutError(RefusedError):
    """Earlier requests failed authorization; further attempts would get the IP blocked."""


class CircuitOpenError(RefusedError):
    """The gateway blocked this IP (error 4): requests fail fast for ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LimiterUnavailableError(RefusedError):
    """The shared limiter backend (Redis) could not be reached in time; nothing was sent.

    Without the shared windows this process cannot know what the other processes of the login
    have spent, so it sends nothing rather than risk error 9 (or pass ``fallback=True`` to
    :class:`~smsc_async.redis.RedisBackend` to fall back to this process's own limits).
    """


class RateLimitedError(RefusedError):
    """The limiter would hold the request longer than the caller's ``max_wait``; nothing was sent.

    ``retry_after`` is the limiter's estimate, in seconds, of when the request would be admitted
    (``inf`` when an answer still in flight decides), so a web handler can answer 429 with a
    ``Retry-After`` header. ``rule`` names the rate rule that holds it.
    """

    def __init__(self, message: str, *, retry_after: float, rule: str = "") -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.rule = rule


class SendUnconfirmedError(SMSCError):
    """A send may have reached the gateway, but no answer was read: its outcome is unknown.

    Sending it again could deliver it twice. ``id`` is the message id the request carried (the
    session assigns one when the caller gave none), ``phones`` the recipients, ``endpoint`` the
    endpoint's name and ``reason`` what went wrong (the underlying error is the ``__cause__``).
    ``await session.reconcile(err)`` asks the gateway what it accepted; resend only when it
    answers ``None``.

    ``deadline`` is the time, on the session's clock, after which the lost attempt could no
    longer be waiting for its answer (``None`` when unknown); ``reconcile`` waits past it before
    it trusts "not found". The message never shows the phones.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        id: str,
        phones: tuple[str, ...],
        reason: str,
        deadline: float | None = None,
    ) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.id = id
        self.phones = phones
        self.reason = reason
        self.deadline = deadline


class APIError(SMSCError):
    """The gateway answered with an error code.

    ``code`` is the gateway's number, ``message`` its own text, ``endpoint`` the endpoint's name and
    ``id`` the message id the gateway echoed back (send errors 3, 6, 7, 8), else ``None``.
    """

    def __init__(self, code: int, message: str, *, endpoint: str, id: str | None = None) -> None:
        text = f"{endpoint}: error {code} ({message})"
        if id is not None:
            text += f", id {id}"
        super().__init__(text)
        self.code = code
        self.message = message
        self.endpoint = endpoint
        self.id = id


class ParameterError(APIError):
    """Error 1: the gateway rejected the request's parameters."""


class AuthorizationError(APIError):
    """Error 2: wrong login/password/API key, or a call from an IP outside the account's list."""


class IPBlockedError(APIError):
    """Error 4: the gateway temporarily blocked this IP address."""


class TooManyRequestsError(APIError):
    """Error 9: a rate rule or the concurrent-connections cap was exceeded."""


class InsufficientFundsError(APIError):
    """send.php error 3 (receive_phones.php 5): not enough money on the account."""


class NotFoundError(APIError):
    """Error 3 on endpoints where it means "not found"."""


class SenderNotFoundError(NotFoundError):
    """senders.php error 3: no such sender name."""


class OperatorNotFoundError(NotFoundError):
    """info.php error 3: no operator known for the number."""


class LinkNotFoundError(NotFoundError):
    """tinyurls.php error 3: no such short link."""


class MessageNotFoundError(NotFoundError):
    """get.php (history) error 3: no such message."""


class DateFormatError(APIError):
    """send.php / jobs.php error 5: the date or time has a wrong format."""


class PersistError(APIError):
    """The gateway could not save or delete a record (senders 5, status delete 5, jobs 3)."""


class MessageForbiddenError(APIError):
    """send.php error 6: the message is forbidden (by its text or its sender name)."""


class InvalidPhoneError(APIError):
    """Error 7: the phone number has a wrong format."""


class UndeliverableError(APIError):
    """Error 8: the message (or a confirmation code) cannot be delivered to the number."""


class CodeAlreadySentError(APIError):
    """senders.php error 10: the code was already sent to the number; retry after 8 hours."""


class WrongCodeError(APIError):
    """senders.php error 11: wrong confirmation code."""


#: The codes that mean the same on every endpoint; each endpoint's declaration adds its own.
SHARED_ERRORS: Mapping[int, type[APIError]] = {
    1: ParameterError,
    2: AuthorizationError,
    4: IPBlockedError,
    9: TooManyRequestsError,
}

if TYPE_CHECKING:
    #: Error code → exception class, per endpoint name: read from the endpoint declarations
    #: (``smsc_async._endpoints``) on first use.
    ERROR_TABLES: Mapping[str, Mapping[int, type[APIError]]]


def __getattr__(name: str) -> Any:
    if name == "ERROR_TABLES":
        return _error_tables()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _error_tables() -> Mapping[str, Mapping[int, type[APIError]]]:
    # The declarations import this module, so their tables are gathered on first use.
    from ._endpoints import error_tables

    return error_tables()


def api_error(endpoint: str, code: int, message: str, id: str | None = None) -> APIError:
    """The exception for ``code`` as ``endpoint`` means it (``APIError`` itself when unmapped)."""
    table = _error_tables().get(endpoint, SHARED_ERRORS)
    cls = table.get(code, APIError)
    return cls(code, message, endpoint=endpoint, id=id)


# Shown under the names users import them by: tracebacks and logs say ``smsc_async.ConnectError``,
# not ``smsc_async._errors.ConnectError`` (pickle finds them there too). Kept at the end, apart
# from the class bodies, so every error class defined above is covered (a test checks that each
# is exported from smsc_async under that name).
for _obj in list(globals().values()):
    if isinstance(_obj, type) and issubclass(_obj, SMSCError) and _obj.__module__ == __name__:
        _obj.__module__ = "smsc_async"
del _obj
