"""Getting data: get.php (history, incoming, statistics, tariffs, MegaFon), tinyurls.php."""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import AsyncIterator, Iterable

from .. import models
from .._clock import Clock
from .._converter import moscow_time
from .._errors import LinkNotFoundError, MessageNotFoundError, ProtocolError
from .._limits import identical, per_login
from .._validation import check_flag, check_int, check_phone, check_phones, check_str
from ._base import Calls, Dispatch, Endpoint, as_list
from ._common import check_emails, format_date

__all__ = [
    "ANSWERS",
    "MEGAFON",
    "MESSAGES",
    "PRICES",
    "SHORT_LINK",
    "STATS",
    "DataCalls",
    "answers_params",
    "history_params",
]

_GET = "/sys/get.php"

#: get_messages: at most this many messages a page (the gateway's own cap).
MAX_HISTORY_PAGE = 1000
#: get_answers: at most this many messages a page, and this many hours back.
MAX_ANSWERS_PAGE = 10_000
MAX_ANSWERS_HOURS = 168
#: Messages a page of :meth:`DataAPI.incoming`; a full page is followed at once by the next.
INCOMING_PAGE = 100


MESSAGES = Endpoint(
    "get_messages",
    _GET,
    lambda: list[models.SentMessage],
    (("get_messages", "1"),),
    errors={3: MessageNotFoundError},
    rules=identical("messages_identical", "messages_hourly"),
    adapt=as_list,
)
ANSWERS = Endpoint(
    "get_answers",
    _GET,
    lambda: list[models.IncomingMessage],
    (("get_answers", "1"),),
    rules=identical("answers_identical"),
    adapt=as_list,
)
STATS = Endpoint(
    "get_stat",
    _GET,
    lambda: list[models.SendingStats],
    (("get_stat", "1"),),
    rules=per_login("stat_any"),
    adapt=as_list,
)
PRICES = Endpoint(
    "get_price",
    _GET,
    lambda: models.Prices,
    (("get_price", "1"),),
    rules=identical("price_identical"),
)
MEGAFON = Endpoint(
    "get_mega_accounts",
    _GET,
    lambda: list[models.MegafonStat],
    (("get_mega_accounts", "1"),),
    adapt=as_list,
)
SHORT_LINK = Endpoint(
    "tinyurls",
    "/sys/tinyurls.php",
    lambda: models.ShortLink,
    (("get", "1"),),
    errors={3: LinkNotFoundError},
    rules=identical("tinyurl_identical"),
)


def _date(value: object, name: str) -> tuple[dt.date, str]:
    text = format_date(value, name)  # checks the type and that a datetime is aware
    if isinstance(value, dt.datetime):
        return value.astimezone(moscow_time()).date(), text
    assert isinstance(value, dt.date)
    return value, text


def _period(start: object, end: object) -> dict[str, str]:
    params: dict[str, str] = {}
    first = last = None
    if start is not None:
        first, params["start"] = _date(start, "start")
    if end is not None:
        last, params["end"] = _date(end, "end")
    if first is not None and last is not None and last < first:
        raise ValueError(f"end ({params['end']}) is before start ({params['start']})")
    return params


def history_params(
    *,
    start: dt.date | None,
    end: dt.date | None,
    phones: str | Iterable[str] | None,
    emails: str | Iterable[str] | None,
) -> dict[str, str]:
    """The checked filters of a get_messages request (without ``cnt``/``prev_id``)."""
    params = _period(start, end)
    if phones is not None and emails is not None:
        raise ValueError("pass phones (SMS history) or emails (e-mail history), not both")
    if phones is not None:
        params["phone"] = ",".join(p.lstrip("+") for p in check_phones(phones))
    if emails is not None:
        params["email"] = ",".join(check_emails(emails, "emails"))
        params["format"] = "8"
    return params


def answers_params(
    *, hours: int | None, after_id: int | None, cnt: int | None, to_phone: str | None
) -> dict[str, str]:
    """The checked parameters of a get_answers request."""
    params: dict[str, str] = {}
    if hours is not None:
        params["hour"] = str(check_int("hours", hours, 1, MAX_ANSWERS_HOURS))
    if after_id is not None:
        params["after_id"] = str(check_int("after_id", after_id, 0))
    if cnt is not None:
        params["cnt"] = str(check_int("cnt", cnt, 1, MAX_ANSWERS_PAGE))
    if to_phone is not None:
        params["to_phone"] = check_phone(to_phone, "to_phone").lstrip("+")
    return params


class DataCalls(Calls):
    """The sending history, incoming messages, statistics, tariffs and short-link clicks."""

    async def get_messages(
        self,
        *,
        start: dt.date | None = None,
        end: dt.date | None = None,
        phones: str | Iterable[str] | None = None,
        emails: str | Iterable[str] | None = None,
        cnt: int | None = None,
        prev_id: int | None = None,
    ) -> list[models.SentMessage]:
        """One page of the sending history, newest first (get.php ``get_messages``).

        ``start``/``end`` bound the period (dates, at most six months back), ``phones`` picks
        recipients; ``emails`` asks for the e-mail history (``format=8``) of those addresses
        instead. ``cnt`` caps the page (at most 1000); ``prev_id`` (an ``int_id``) asks for the
        messages sent before that one. :meth:`history` walks every page for you.

        The gateway answers error 3 (:class:`~smsc_async.MessageNotFoundError`) when nothing
        matches, and allows three identical requests a minute and thirty an hour.

        >>> page = await smsc.get_messages(phones="79161234567", cnt=10)  # doctest: +SKIP
        """
        params = history_params(start=start, end=end, phones=phones, emails=emails)
        if cnt is not None:
            params["cnt"] = str(check_int("cnt", cnt, 1, MAX_HISTORY_PAGE))
        if prev_id is not None:
            params["prev_id"] = str(check_int("prev_id", prev_id, 1))
        return await self._call(MESSAGES, params)

    def history(
        self,
        *,
        start: dt.date | None = None,
        end: dt.date | None = None,
        phones: str | Iterable[str] | None = None,
        emails: str | Iterable[str] | None = None,
        page_size: int = MAX_HISTORY_PAGE,
    ) -> AsyncIterator[models.SentMessage]:
        """Every message of the sending history, newest first, page after page (``prev_id``).

        Takes the filters of :meth:`get_messages`; each page is one request (the gateway allows
        thirty an hour, so keep ``page_size`` large). Ends quietly when the history does.

        >>> async for msg in smsc.history(start=dt.date(2024, 1, 1)):  # doctest: +SKIP
        ...     print(msg.int_id, msg.phone, msg.status)
        """
        params = history_params(start=start, end=end, phones=phones, emails=emails)
        size = check_int("page_size", page_size, 1, MAX_HISTORY_PAGE)
        return _History(self._call, params, size)

    async def answers(
        self,
        *,
        hours: int | None = None,
        after_id: int | None = None,
        cnt: int | None = None,
        to_phone: str | None = None,
    ) -> list[models.IncomingMessage]:
        """One page of incoming messages, oldest first (get.php ``get_answers``).

        ``hours`` looks back that many hours (at most 168; the gateway's default is the current
        day), ``after_id`` returns only messages after that id, ``cnt`` caps the page (at most
        10000), ``to_phone`` picks one of the account's receiving numbers. The gateway allows
        three identical requests a minute. :meth:`incoming` follows new messages for you.

        >>> for sms in await smsc.answers(hours=24):  # doctest: +SKIP
        ...     print(sms.phone, sms.message)
        """
        params = answers_params(hours=hours, after_id=after_id, cnt=cnt, to_phone=to_phone)
        return await self._call(ANSWERS, params)

    def incoming(
        self,
        *,
        after_id: int | None = None,
        hours: int | None = None,
        to_phone: str | None = None,
        poll_interval: float | None = None,
        page_size: int = INCOMING_PAGE,
    ) -> AsyncIterator[models.IncomingMessage]:
        """Every incoming message, oldest first, then new ones as they arrive -- forever.

        Starts after ``after_id`` (resume from the last id you handled) or, without it, with what
        :meth:`answers` returns for ``hours``. While messages keep coming each poll carries a new
        ``after_id``; when nothing arrives the same request repeats every ``poll_interval``
        seconds, by default the gateway's rule spread evenly (60 s / 3 identical requests =
        20 s), so polling never runs into error 9. Errors end the stream; ``break`` out of the
        loop to stop it.

        >>> async for sms in smsc.incoming(after_id=last_seen):  # doctest: +SKIP
        ...     await handle(sms)
        """
        size = check_int("page_size", page_size, 1, MAX_ANSWERS_PAGE)
        base = answers_params(hours=hours, after_id=None, cnt=size, to_phone=to_phone)
        if after_id is not None:
            check_int("after_id", after_id, 0)
        if poll_interval is None:
            rule = self._limits.answers_identical
            interval = rule.window / rule.limit
        else:
            if isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float)):
                raise TypeError(
                    f"poll_interval must be a number, not {type(poll_interval).__name__}"
                )
            if not poll_interval >= 0:
                raise ValueError(f"poll_interval must be >= 0, got {poll_interval!r}")
            interval = float(poll_interval)
        return _Inbox(self._call, base, after_id, size, interval, self._clock)

    async def stats(
        self,
        start: dt.date,
        end: dt.date | None = None,
        *,
        mycur: bool = False,
        balance2: bool = False,
    ) -> list[models.SendingStats]:
        """Sending statistics for a period, one entry per login (get.php ``get_stat``).

        ``end`` defaults to "from ``start`` on"; ``mycur=True`` reports money in the account's
        own currency; ``balance2=True`` covers messages paid from the electronic balance. The
        gateway allows three statistics requests a minute.

        >>> await smsc.stats(dt.date(2024, 1, 1), dt.date(2024, 2, 1))  # doctest: +SKIP
        """
        if start is None:
            raise TypeError("start must be a date, not None")
        params = _period(start, end)
        if check_flag("mycur", mycur) == "1":
            params["mycur"] = "1"
        if check_flag("balance2", balance2) == "1":
            params["balance2"] = "1"
        return await self._call(STATS, params)

    async def prices(self) -> models.Prices:
        """The account's tariffs: zones, individual per-operator prices, e-mail price.

        get.php ``get_price``; the gateway allows three identical requests a minute.

        >>> [(z.name, z.api) for z in (await smsc.prices()).zones]  # doctest: +SKIP
        """
        return await self._call(PRICES, {})

    async def short_link(
        self, *, id: int | None = None, link: str | None = None
    ) -> models.ShortLink:
        """Click counts of a short link, by its ``id`` or by the original full ``link``.

        tinyurls.php ``get``; an unknown link raises :class:`~smsc_async.LinkNotFoundError`.

        >>> (await smsc.short_link(id=145142)).cnt  # doctest: +SKIP
        """
        if (id is None) == (link is None):
            raise ValueError("pass exactly one of id and link")
        if id is not None:
            return await self._call(SHORT_LINK, {"id": str(check_int("id", id, 1))})
        return await self._call(SHORT_LINK, {"link": check_str("link", link).strip()})

    async def megafon_accounts(self, account: str | None = None) -> list[models.MegafonStat]:
        """MegaFon statistics per personal account number (only ``account`` when given).

        >>> await smsc.megafon_accounts("5000123456")  # doctest: +SKIP
        """
        params: dict[str, str] = {}
        if account is not None:
            text = check_str("account", account).strip()
            if not text.isascii() or not text.isalnum():
                raise ValueError(f"account: {account!r} is not an account number")
            params["account"] = text
        return await self._call(MEGAFON, params)


# Iterators as classes, not async generators: a caller breaking out of ``async for`` leaves
# nothing to finalize, under asyncio and trio alike.


class _History:
    """The pages of get_messages, walked backwards by ``prev_id``, one message at a time."""

    def __init__(self, call: Dispatch, params: dict[str, str], size: int) -> None:
        self._call = call
        self._params = params
        self._size = size
        self._prev_id: int | None = None
        self._buffer: deque[models.SentMessage] = deque()
        self._done = False

    def __aiter__(self) -> _History:
        return self

    async def __anext__(self) -> models.SentMessage:
        while not self._buffer:
            if self._done:
                raise StopAsyncIteration
            await self._fetch()
        return self._buffer.popleft()

    async def _fetch(self) -> None:
        params = {**self._params, "cnt": str(self._size)}
        if self._prev_id is not None:
            params["prev_id"] = str(self._prev_id)
        try:
            page = await self._call(MESSAGES, params)
        except MessageNotFoundError:
            self._done = True  # error 3 is how the gateway says nothing is left
            return
        self._buffer.extend(page)
        if len(page) < self._size:
            self._done = True
            return
        lowest = min(m.int_id for m in page)
        if self._prev_id is not None and lowest >= self._prev_id:
            # A page not older than the last one would make this loop forever.
            raise ProtocolError(
                f"history page after prev_id={self._prev_id} starts at int_id {lowest}",
                endpoint=MESSAGES.name,
            )
        self._prev_id = lowest


class _Inbox:
    """get_answers polled forever: new ``after_id`` while messages come, paced when idle."""

    def __init__(
        self,
        call: Dispatch,
        params: dict[str, str],
        after_id: int | None,
        size: int,
        interval: float,
        clock: Clock,
    ) -> None:
        self._call = call
        self._clock = clock  # the session's: idle polls are paced on the time a test controls
        self._params = params
        self._last = after_id
        self._size = size
        self._interval = interval
        self._buffer: deque[models.IncomingMessage] = deque()
        self._idle = False

    def __aiter__(self) -> _Inbox:
        return self

    async def __anext__(self) -> models.IncomingMessage:
        while not self._buffer:
            if self._idle:
                await self._clock.sleep(self._interval)
            await self._poll()
        return self._buffer.popleft()

    async def _poll(self) -> None:
        params = dict(self._params)
        last = self._last
        if last is not None:
            params["after_id"] = str(last)
        page = await self._call(ANSWERS, params)
        # Sorted and filtered by id, so an answer in another order or one repeating a message
        # still yields each message once, oldest first.
        fresh = sorted((m for m in page if last is None or m.id > last), key=lambda m: m.id)
        if fresh:
            self._last = fresh[-1].id
        self._buffer.extend(fresh)
        # A full page means more are waiting: ask again at once (a new after_id, so not an
        # identical request); otherwise wait before repeating the same request.
        self._idle = not (fresh and len(page) >= self._size)
