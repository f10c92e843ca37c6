"""Sending and message status: send.php and status.php."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

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
from ._base import Caller, Endpoint, Kind
from ._common import check_recipient

if TYPE_CHECKING:
    from ..models import CostEstimate, MessageStatus, SendResult

SEND: Endpoint[SendResult] = Endpoint("send", "/sys/send.php", "SendResult", kind=Kind.SEND)
COST: Endpoint[CostEstimate] = Endpoint("send", "/sys/send.php", "CostEstimate")
STATUS: Endpoint[MessageStatus] = Endpoint("status", "/sys/status.php", "MessageStatus")


def _as_list(data: Any) -> Any:
    return [data] if isinstance(data, dict) else data


STATUSES: Endpoint[list[MessageStatus]] = Endpoint(
    "status", "/sys/status.php", "list[MessageStatus]", adapt=_as_list
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


def list_body(messages: Any) -> str:
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


class MessagesAPI(Caller):
    """send.php and status.php."""

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
    ) -> SendResult:
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
    ) -> SendResult:
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
    ) -> CostEstimate:
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
        params["cost"] = "1"
        return await self._call(COST, params)

    async def status(self, id: int | str, phone: str, *, all: StatusDetail = 0) -> MessageStatus:
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
    ) -> list[MessageStatus]:
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
