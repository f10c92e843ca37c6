"""Sending and message status: send.php and status.php (sending, estimating, polling, deleting)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Literal

import anyio

from .. import models
from .._errors import (
    DateFormatError,
    InsufficientFundsError,
    InvalidPhoneError,
    MessageForbiddenError,
    PersistError,
    UndeliverableError,
)
from .._limits import identical, per_message
from .._validation import (
    check_choice,
    check_flag,
    check_int,
    check_message,
    check_message_id,
    check_phone,
    check_phones,
    check_sender,
    format_send_time,
    format_valid,
)
from ._base import Calls, Endpoint, Kind, as_list
from ._common import check_recipient, expect_ok, ok_endpoint

__all__ = ["COST", "DELETE", "SEND", "STATUS", "STATUSES", "MessageCalls", "send_options"]

_SEND = "/sys/send.php"
_STATUS = "/sys/status.php"
_SEND_ERRORS = {
    3: InsufficientFundsError,
    5: DateFormatError,
    6: MessageForbiddenError,
    7: InvalidPhoneError,
    8: UndeliverableError,
}
_STATUS_ERRORS = {5: PersistError}
# One request asks about one message or several; both count per message, a batch also once a
# minute. Shared by both declarations so that a request's charges follow from its parameters.
_STATUS_RULES = per_message("status_message", batch="status_batch")

#: Every delivery over send.php (SMS, list, the other channels, HLR, ping).
SEND = Endpoint(
    "send",
    _SEND,
    lambda: models.SendResult,
    errors=_SEND_ERRORS,
    rules=identical("send_identical"),
    kind=Kind.SEND,
)
#: The cost estimate (``cost=1``): nothing is sent, so it is a read and never counts as a send.
COST = Endpoint(
    "send",
    _SEND,
    lambda: models.CostEstimate,
    (("cost", "1"),),
    errors=_SEND_ERRORS,
    rules=identical("cost_identical"),
)
STATUS = Endpoint(
    "status",
    _STATUS,
    lambda: models.MessageStatus,
    errors=_STATUS_ERRORS,
    rules=_STATUS_RULES,
    concurrency="status",
)
STATUSES = Endpoint(
    "status",
    _STATUS,
    lambda: list[models.MessageStatus],
    errors=_STATUS_ERRORS,
    rules=_STATUS_RULES,
    concurrency="status",
    adapt=as_list,
)
DELETE = ok_endpoint(
    "status",
    _STATUS,
    (("del", "1"),),
    errors=_STATUS_ERRORS,
    rules=per_message("status_message"),
    concurrency="status",
)

Translit = Literal[0, 1, 2]
StatusDetail = Literal[0, 1, 2]


def send_options(
    *,
    sender: str | None = None,
    id: int | str | None = None,
    time: dt.datetime | dt.timedelta | None = None,
    translit: Translit = 0,
    tinyurl: bool = False,
    flash: bool = False,
    valid: int | dt.timedelta | None = None,
    maxsms: int | None = None,
    details: bool = False,
    cost: Literal[0, 2, 3] = 0,
) -> dict[str, str]:
    """The checked send.php options shared by every send, channel and cost estimate."""
    params: dict[str, str] = {}
    if sender is not None:
        params["sender"] = check_sender(sender)
    if id is not None:
        params["id"] = check_message_id(id)
    if time is not None:
        params["time"] = format_send_time(time)
    if check_choice("translit", translit, (0, 1, 2)):
        params["translit"] = str(translit)
    if check_flag("tinyurl", tinyurl) == "1":
        params["tinyurl"] = "1"
    if check_flag("flash", flash) == "1":
        params["flash"] = "1"
    if valid is not None:
        params["valid"] = format_valid(valid)
    if maxsms is not None:
        params["maxsms"] = str(check_int("maxsms", maxsms, 1))
    if check_flag("details", details) == "1":
        params["op"] = "1"
    if check_choice("cost", cost, (0, 2, 3)):
        params["cost"] = str(cost)
    return params


def list_body(messages: object) -> str:
    r"""``list``: one ``phones:text`` line per recipient, newlines in texts written as ``\\n``."""
    items = messages.items() if isinstance(messages, dict) else messages
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise TypeError("messages must be a mapping or an iterable of (phone, text) pairs")
    lines = []
    for item in items:
        if not isinstance(item, tuple) or len(item) != 2:
            raise TypeError("messages must hold (phone, text) pairs")
        phone, text = item
        number = check_phone(phone, "messages")
        body = check_message(text, f"messages[{number!r}]")
        lines.append(f"{number}:{body.replace(chr(10), chr(92) + 'n')}")
    if not lines:
        raise ValueError("messages must hold at least one (phone, text) pair")
    return "\n".join(lines)


class MessageCalls(Calls):
    """Sending, estimating, polling and deleting messages: send.php and status.php."""

    async def send(
        self,
        phones: str | Iterable[str],
        message: str,
        *,
        sender: str | None = None,
        id: int | str | None = None,
        time: dt.datetime | dt.timedelta | None = None,
        translit: Translit = 0,
        tinyurl: bool = False,
        flash: bool = False,
        valid: int | dt.timedelta | None = None,
        maxsms: int | None = None,
        cost: Literal[0, 2, 3] = 0,
        details: bool = False,
    ) -> models.SendResult:
        """Send ``message`` to one or more numbers (send.php).

        ``time`` delays the send (an aware datetime, or a timedelta from now); ``valid`` is the
        lifetime at the operator (hours or a timedelta up to 24 h); ``cost=2`` also returns the
        cost, ``cost=3`` the cost and the new balance; ``details=True`` adds per-number results.

        A send is never retried into a duplicate: an identical send inside the gateway's
        one-per-minute window raises :class:`~smsc_async.DuplicateSendError` at once, and a send
        whose answer was lost (timeout, dropped connection) surfaces as an error, not a retry.

        >>> sent = await smsc.send(["79161234567"], "Code: 1234", sender="Shop")  # doctest: +SKIP
        """
        numbers = check_phones(phones)
        params = {"phones": ",".join(numbers), "mes": check_message(message)}
        params.update(
            send_options(
                sender=sender,
                id=id,
                time=time,
                translit=translit,
                tinyurl=tinyurl,
                flash=flash,
                valid=valid,
                maxsms=maxsms,
                details=details,
                cost=cost,
            )
        )
        return await self._call(SEND, params)

    async def send_list(
        self,
        messages: dict[str, str] | Iterable[tuple[str, str]],
        *,
        sender: str | None = None,
        id: int | str | None = None,
        time: dt.datetime | dt.timedelta | None = None,
        translit: Translit = 0,
        valid: int | dt.timedelta | None = None,
        maxsms: int | None = None,
        cost: Literal[0, 2, 3] = 0,
        details: bool = False,
    ) -> models.SendResult:
        """Send a different text to each number in one request (send.php ``list``).

        >>> texts = {"79161234567": "Hi Ann", "79031234567": "Hi Bob"}
        >>> await smsc.send_list(texts)  # doctest: +SKIP
        """
        params = {"list": list_body(messages)}
        params.update(
            send_options(
                sender=sender,
                id=id,
                time=time,
                translit=translit,
                valid=valid,
                maxsms=maxsms,
                details=details,
                cost=cost,
            )
        )
        return await self._call(SEND, params)

    async def cost(
        self,
        phones: str | Iterable[str],
        message: str,
        *,
        sender: str | None = None,
        translit: Translit = 0,
        flash: bool = False,
        maxsms: int | None = None,
        details: bool = False,
    ) -> models.CostEstimate:
        """What sending ``message`` would cost (send.php ``cost=1``); nothing is sent.

        >>> est = await smsc.cost("79161234567", "Code: 1234")  # doctest: +SKIP
        >>> est.cost, est.cnt  # doctest: +SKIP
        (Decimal('3.50'), 1)
        """
        numbers = check_phones(phones)
        params = {"phones": ",".join(numbers), "mes": check_message(message)}
        params.update(
            send_options(
                sender=sender, translit=translit, flash=flash, maxsms=maxsms, details=details
            )
        )
        return await self._call(COST, params)

    async def status(
        self, id: int | str, phone: str, *, all: StatusDetail = 0
    ) -> models.MessageStatus:
        """Delivery status of one message (status.php).

        ``all=1`` adds the send date, cost, sender, text and type; ``all=2`` also the country,
        operator and region. The gateway allows five status requests per message a minute.

        >>> st = await smsc.status(sent.id, "79161234567")  # doctest: +SKIP
        >>> st.status, st.final  # doctest: +SKIP
        (<Status.DELIVERED: 1>, True)
        """
        params = {"id": check_message_id(id), "phone": check_recipient(phone)}
        if check_choice("all", all, (0, 1, 2)):
            params["all"] = str(all)
        return await self._call(STATUS, params)

    async def statuses(
        self, messages: Iterable[tuple[int | str, str]], *, all: StatusDetail = 0
    ) -> list[models.MessageStatus]:
        """Statuses of several messages in one request; each result carries ``id`` and ``phone``.

        ``messages`` holds ``(id, phone)`` pairs. The gateway allows one such batch request a
        minute, so poll single messages with :meth:`status`.

        >>> await smsc.statuses([(101, "79161234567"), (102, "79031234567")])  # doctest: +SKIP
        """
        if isinstance(messages, (str, bytes)):
            raise TypeError("messages must be an iterable of (id, phone) pairs")
        ids: list[str] = []
        phones: list[str] = []
        for pair in messages:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise TypeError("messages must hold (id, phone) pairs")
            ids.append(check_message_id(pair[0]))
            phones.append(check_recipient(pair[1]))
        if not ids:
            raise ValueError("messages must hold at least one (id, phone) pair")
        # A trailing comma keeps the batch answer shape even for a single message.
        params = {"id": ",".join(ids) + ",", "phone": ",".join(phones) + ","}
        if check_choice("all", all, (0, 1, 2)):
            params["all"] = str(all)
        return await self._call(STATUSES, params)

    async def delete(self, id: int | str, phone: str) -> None:
        """Delete a sent message from the account (status.php ``del=1``).

        ``phone`` is the recipient's number (or address, for an e-mail).

        Raises :class:`~smsc_async.PersistError` (status error 5) when the gateway cannot.

        >>> await smsc.delete(sent.id, "79161234567")  # doctest: +SKIP
        """
        params = {"id": check_message_id(id), "phone": check_recipient(phone)}
        expect_ok(DELETE, await self._call(DELETE, params))

    async def wait_for_status(
        self,
        id: int | str,
        phone: str,
        *,
        # A deadline argument, as the issue asks; anyio.fail_after around the call works too.
        timeout: float | None = 600.0,  # noqa: ASYNC109
        interval: float | None = None,
        all: Literal[0, 1, 2] = 0,
    ) -> models.MessageStatus:
        """Poll status.php until the message's status is final, and return it.

        ``phone`` is the recipient's number (or address, for an e-mail).

        By default polls as fast as the gateway's rule allows (five status requests per message a
        minute: every 12 s, scaled with ``limits``); a shorter ``interval`` is still held to the
        rule by the limiter. Raises ``TimeoutError`` when no final status came within
        ``timeout`` seconds (``None``: wait for ever).

        >>> st = await smsc.wait_for_status(sent.id, "79161234567", timeout=300)  # doctest: +SKIP
        >>> st.status  # doctest: +SKIP
        <Status.DELIVERED: 1>
        """
        params = {"id": check_message_id(id), "phone": check_recipient(phone)}
        if check_choice("all", all, (0, 1, 2)):
            params["all"] = str(all)
        rule = self._limits.status_message
        pace = rule.window / rule.limit
        if interval is None:
            interval = pace
        elif isinstance(interval, bool) or not isinstance(interval, (int, float)):
            raise TypeError(f"interval must be a number, not {type(interval).__name__}")
        elif not interval > 0:
            raise ValueError(f"interval must be > 0, got {interval!r}")
        if timeout is not None and (isinstance(timeout, bool) or not timeout > 0):
            raise ValueError(f"timeout must be > 0 or None, got {timeout!r}")
        last: models.MessageStatus | None = None
        with anyio.move_on_after(timeout):
            while True:
                last = await self._call(STATUS, dict(params))
                if last.final:
                    return last
                await self._clock.sleep(interval)
        seen = "no answer" if last is None else f"last status {last.status.name}"
        raise TimeoutError(f"message {params['id']} to {params['phone']}: {seen} after {timeout} s")
