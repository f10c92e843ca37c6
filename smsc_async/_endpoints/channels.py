"""The other channels of send.php: HLR and ping requests, voice calls, Viber, Telegram, MMS, e-mail.

Every channel is its own keyword-only method, so each takes only the options that mean something
for it and is checked before anything is sent; all of them run through the same send pipeline and
rules as :meth:`~smsc_async.Session.send` (an identical request inside a minute raises
:class:`~smsc_async.DuplicateSendError`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Literal

from .. import models
from .._validation import (
    check_choice,
    check_int,
    check_message,
    check_phone,
    check_phones,
    check_str,
)
from ._base import Calls
from ._common import check_email, check_emails, check_urls
from .messages import SEND, send_options

__all__ = ["VOICES", "ChannelCalls", "Voice"]

#: Text-to-speech voices of voice calls: male, second male, female, second female.
VOICES = ("m", "m2", "w", "w2")
Voice = Literal["m", "m2", "w", "w2"]
Cost = Literal[0, 2, 3]

_TELEGRAM_RECIPIENT = re.compile(r"@[A-Za-z0-9_]{4,32}|#[0-9]{1,20}")
# The gateway's text limit is 1000 characters, and binary data goes as two hex digits a byte.
_MAX_BINARY = 500
_TELEGRAM_BOT = re.compile(r"@[A-Za-z0-9_]{2,29}bot", re.IGNORECASE)


def _text_send(phones: object, message: object, channel: str) -> dict[str, str]:
    """The checked recipients and text of a send on ``channel`` (the send.php flag to set)."""
    return {"phones": ",".join(check_phones(phones)), "mes": check_message(message), channel: "1"}


def _common(
    params: dict[str, str],
    *,
    sender: str | None = None,
    id: int | str | None,
    time: dt.datetime | dt.timedelta | None,
    cost: Cost,
    details: bool,
) -> dict[str, str]:
    params.update(send_options(sender=sender, id=id, time=time, cost=cost, details=details))
    return params


def _telegram_recipients(value: object) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Iterable) or isinstance(items, (bytes, dict)):
        kind = type(value).__name__
        raise TypeError(f"recipients must be a str or an iterable of str, not {kind}")
    out: list[str] = []
    for item in items:
        text = check_str("recipients", item).strip()
        if _TELEGRAM_RECIPIENT.fullmatch(text):
            out.append(text)
        else:
            try:
                out.append(check_phone(text, "recipients"))
            except ValueError:
                raise ValueError(
                    f"recipients: {item!r} is neither a phone number, an @nickname nor a #id"
                ) from None
    if not out:
        raise ValueError("recipients must name at least one recipient")
    return out


def _call_param(
    answer_wait: int | None, retry_interval: int | None, attempts: int | None
) -> str | None:
    given = (answer_wait, retry_interval, attempts)
    if all(v is None for v in given):
        return None
    if any(v is None for v in given):
        raise ValueError("answer_wait, retry_interval and attempts go together: pass all three")
    wait = check_int("answer_wait", answer_wait, 0, 99)
    interval = check_int("retry_interval", retry_interval, 10, 3600)
    tries = check_int("attempts", attempts, 0, 9)
    return f"{wait},{interval},{tries}"


class ChannelCalls(Calls):
    """The other send.php channels, HLR and ping: each a :data:`~._base.Kind.SEND` like ``send``."""

    async def hlr(
        self, phones: str | Iterable[str], *, id: int | str | None = None
    ) -> models.SendResult:
        """Ask the operators' HLR about numbers (send.php ``hlr=1``); no SMS is delivered.

        The result arrives as the message's status: :meth:`status` (or :meth:`wait_for_status`)
        then carries ``imsi``, ``msc``, ``mcc``, ``mnc``, ``cn``/``net`` (home country and
        network) and ``rcn``/``rnet`` (roaming ones).

        >>> sent = await smsc.hlr("79161234567")  # doctest: +SKIP
        >>> (await smsc.wait_for_status(sent.id, "79161234567")).net  # doctest: +SKIP
        'MTS'
        """
        params = {"phones": ",".join(check_phones(phones)), "hlr": "1"}
        return await self._call(SEND, _common(params, id=id, time=None, cost=0, details=False))

    async def ping(
        self, phones: str | Iterable[str], *, id: int | str | None = None
    ) -> models.SendResult:
        """Send an invisible ping-SMS (send.php ``ping=1``): its status says if the phone is on.

        >>> sent = await smsc.ping("79161234567")  # doctest: +SKIP
        """
        params = {"phones": ",".join(check_phones(phones)), "ping": "1"}
        return await self._call(SEND, _common(params, id=id, time=None, cost=0, details=False))

    async def send_push(
        self,
        phones: str | Iterable[str],
        url: str,
        title: str,
        *,
        sender: str | None = None,
        id: int | str | None = None,
        time: dt.datetime | dt.timedelta | None = None,
        cost: Cost = 0,
        details: bool = False,
    ) -> models.SendResult:
        """Send a WAP-push: a link ``url`` with the caption ``title`` (send.php ``push=1``).

        >>> await smsc.send_push("79161234567", "https://shop.example/s", "Sale")  # doctest: +SKIP
        """
        link = check_urls(url, "url")[0]
        caption = check_str("title", title)
        if "\n" in caption:
            raise ValueError("title must be one line")
        params = {
            "phones": ",".join(check_phones(phones)),
            "mes": check_message(f"{link}\n{caption}", "title"),
            "push": "1",
        }
        return await self._call(
            SEND, _common(params, sender=sender, id=id, time=time, cost=cost, details=details)
        )

    async def send_viber(
        self,
        phones: str | Iterable[str],
        message: str,
        *,
        sender: str | None = None,
        id: int | str | None = None,
        time: dt.datetime | dt.timedelta | None = None,
        cost: Cost = 0,
        details: bool = False,
    ) -> models.SendResult:
        """Send a Viber message (send.php ``viber=1``).

        >>> await smsc.send_viber("79161234567", "Shipped!", sender="Shop")  # doctest: +SKIP
        """
        params = _text_send(phones, message, "viber")
        return await self._call(
            SEND, _common(params, sender=sender, id=id, time=time, cost=cost, details=details)
        )

    async def send_telegram(
        self,
        recipients: str | Iterable[str],
        message: str,
        *,
        bot: str | None = None,
        id: int | str | None = None,
        time: dt.datetime | dt.timedelta | None = None,
        cost: Cost = 0,
        details: bool = False,
    ) -> models.SendResult:
        """Send a Telegram message (send.php ``tg=1``) to phone numbers, ``@nickname``s or ``#id``s.

        ``bot`` (``"@shop_bot"``) sends through the account's chat bot instead of the gateway's.

        >>> await smsc.send_telegram(["@alex_k", "79161234567"], "Hi")  # doctest: +SKIP
        """
        params = {
            "phones": ",".join(_telegram_recipients(recipients)),
            "mes": check_message(message),
            "tg": "1",
        }
        if bot is not None:
            name = check_str("bot", bot).strip()
            if not _TELEGRAM_BOT.fullmatch(name):
                raise ValueError(f"bot: {bot!r} is not a Telegram bot name like '@shop_bot'")
            params["bot"] = name
        return await self._call(SEND, _common(params, id=id, time=time, cost=cost, details=details))

    async def call(
        self,
        phones: str | Iterable[str],
        message: str,
        *,
        voice: Voice = "m",
        answer_wait: int | None = None,
        retry_interval: int | None = None,
        attempts: int | None = None,
        fileurl: str | None = None,
        id: int | str | None = None,
        time: dt.datetime | dt.timedelta | None = None,
        cost: Cost = 0,
        details: bool = False,
    ) -> models.SendResult:
        """Phone the numbers and speak ``message`` (send.php ``call=1``); ``cnt`` is billed blocks.

        ``voice`` is one of ``"m"``, ``"m2"``, ``"w"``, ``"w2"``. ``answer_wait`` (seconds to
        wait for an answer, 0-99), ``retry_interval`` (seconds between attempts, 10-3600) and
        ``attempts`` (redials, 0-9) go together as the gateway's ``param``. ``fileurl`` plays an
        audio file instead of synthesized speech.

        >>> await smsc.call("79161234567", "Your code is 1 2 3 4", voice="w")  # doctest: +SKIP
        """
        params = _text_send(phones, message, "call")
        if check_choice("voice", voice, VOICES) != "m":
            params["voice"] = voice
        param = _call_param(answer_wait, retry_interval, attempts)
        if param is not None:
            params["param"] = param
        if fileurl is not None:
            params["fileurl"] = check_urls(fileurl, "fileurl")[0]
        return await self._call(SEND, _common(params, id=id, time=time, cost=cost, details=details))

    async def send_mms(
        self,
        phones: str | Iterable[str],
        message: str,
        *,
        subject: str | None = None,
        fileurls: str | Iterable[str] | None = None,
        sender: str | None = None,
        id: int | str | None = None,
        time: dt.datetime | dt.timedelta | None = None,
        cost: Cost = 0,
        details: bool = False,
    ) -> models.SendResult:
        """Send an MMS (send.php ``mms=1``) with the files at ``fileurls`` attached.

        The gateway fetches the files itself, so the URLs must be reachable from the internet.

        >>> url = "https://x.example/a.jpg"
        >>> await smsc.send_mms("79161234567", "Photo", fileurls=url)  # doctest: +SKIP
        """
        params = _text_send(phones, message, "mms")
        if subject is not None:
            params["subj"] = check_str("subject", subject)
        if fileurls is not None:
            params["fileurl"] = ",".join(check_urls(fileurls))
        return await self._call(
            SEND, _common(params, sender=sender, id=id, time=time, cost=cost, details=details)
        )

    async def send_email(
        self,
        addresses: str | Iterable[str],
        message: str,
        *,
        subject: str,
        sender: str | None = None,
        fileurls: str | Iterable[str] | None = None,
        id: int | str | None = None,
        time: dt.datetime | dt.timedelta | None = None,
        cost: Cost = 0,
        details: bool = False,
    ) -> models.SendResult:
        """Send an e-mail (send.php ``mail=1``) to ``addresses`` from ``sender`` (an address).

        >>> await smsc.send_email("ann@example.com", "<b>Hi</b>", subject="News",
        ...                       sender="shop@example.com")  # doctest: +SKIP
        """
        params = {
            "phones": ",".join(check_emails(addresses)),
            "mes": check_message(message),
            "mail": "1",
            "subj": check_str("subject", subject),
        }
        if sender is not None:
            params["sender"] = check_email(sender, "sender")
        if fileurls is not None:
            params["fileurl"] = ",".join(check_urls(fileurls))
        return await self._call(SEND, _common(params, id=id, time=time, cost=cost, details=details))

    async def send_social(
        self,
        phones: str | Iterable[str],
        message: str,
        *,
        sender: str | None = None,
        id: int | str | None = None,
        time: dt.datetime | dt.timedelta | None = None,
        cost: Cost = 0,
        details: bool = False,
    ) -> models.SendResult:
        """Message the users of Odnoklassniki, VKontakte or Mail.ru Agent with these numbers.

        Sent as send.php ``soc=1``: the gateway delivers through whichever of the networks the
        number is registered with.

        >>> await smsc.send_social("79161234567", "Your order has shipped")  # doctest: +SKIP
        """
        params = _text_send(phones, message, "soc")
        return await self._call(
            SEND, _common(params, sender=sender, id=id, time=time, cost=cost, details=details)
        )

    async def send_binary(
        self,
        phones: str | Iterable[str],
        data: bytes,
        *,
        sender: str | None = None,
        id: int | str | None = None,
        time: dt.datetime | dt.timedelta | None = None,
        cost: Cost = 0,
        details: bool = False,
    ) -> models.SendResult:
        """Send ``data`` as a binary SMS (send.php ``bin=2``: the bytes go as a hex string).

        At most 500 bytes (the gateway's 1000-character text limit); long data is split into
        parts of 140 bytes less the header, each billed.

        >>> await smsc.send_binary("79161234567", bytes.fromhex("0B05041582"))  # doctest: +SKIP
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes, not {type(data).__name__}")
        raw = bytes(data)
        if not raw:
            raise ValueError("data must not be empty")
        if len(raw) > _MAX_BINARY:
            raise ValueError(f"data is {len(raw)} bytes; at most {_MAX_BINARY} can be sent")
        params = {"phones": ",".join(check_phones(phones)), "mes": raw.hex().upper(), "bin": "2"}
        return await self._call(
            SEND, _common(params, sender=sender, id=id, time=time, cost=cost, details=details)
        )

    async def send_whatsapp(
        self,
        phones: str | Iterable[str],
        message: str,
        *,
        bot_number: str,
        id: int | str | None = None,
        time: dt.datetime | dt.timedelta | None = None,
        cost: Cost = 0,
        details: bool = False,
    ) -> models.SendResult:
        """Send a WhatsApp message from the account's WhatsApp number ``bot_number``.

        Sent as send.php with ``bot=wa:<bot_number>``. Files go in the text as the gateway's
        ``<file https://…>`` macro.

        >>> await smsc.send_whatsapp("79161234567", "Hi",
        ...                          bot_number="79990001122")  # doctest: +SKIP
        """
        params = {
            "phones": ",".join(check_phones(phones)),
            "mes": check_message(message),
            "bot": "wa:" + check_phone(bot_number, "bot_number").lstrip("+"),
        }
        return await self._call(SEND, _common(params, id=id, time=time, cost=cost, details=details))
