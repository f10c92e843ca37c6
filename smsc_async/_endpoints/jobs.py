"""Mailing lists: jobs.php (``add``, ``del``, ``cancel``, ``get``, ``get_all``).

``add`` answers ``{"id": N}`` (with ``cost=1`` also ``"cost"``), as documented; ``del`` and
``cancel`` the bare ``OK``. The shape of ``get``/``get_all`` is not documented: we read (and the
emulator writes) one object, or a list of them, with ``id``, ``name``, ``status`` (0 scheduled,
1 done, 2 cancelled), ``mes``, ``phones``, ``cnt``, ``time`` (``DD.MM.YYYY hh:mm:ss``), ``sender``,
``rpt`` and ``cost``. The gateway allows one identical jobs.php request a minute; the limiter
holds a repeat until then.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Iterable
from typing import Literal

from .. import models
from .._errors import DateFormatError, PersistError
from .._limits import identical
from .._validation import (
    check_choice,
    check_flag,
    check_int,
    check_message,
    check_phones,
    check_sender,
    check_str,
    format_send_time,
    list_items,
)
from ._base import Endpoint, Kind, Namespace, as_list
from ._common import check_record_id, expect_ok, format_date, ok_endpoint

__all__ = ["Jobs", "Repeat"]

_PATH = "/sys/jobs.php"
_ERRORS = {3: PersistError, 5: DateFormatError}
# Every jobs.php command: one identical request a minute.
_RULES = identical("jobs_identical")

#: 0 none, 1 hourly, 2 daily, 3 working days, 4 weekends, 5 weekly, 6 monthly, 7 yearly.
Repeat = Literal[0, 1, 2, 3, 4, 5, 6, 7]

ADD = Endpoint(
    "jobs",
    _PATH,
    lambda: models.JobCreated,
    (("add", "1"),),
    errors=_ERRORS,
    rules=_RULES,
    kind=Kind.WRITE,
)
DELETE = ok_endpoint("jobs", _PATH, (("del", "1"),), errors=_ERRORS, rules=_RULES)
CANCEL = ok_endpoint("jobs", _PATH, (("cancel", "1"),), errors=_ERRORS, rules=_RULES)
GET = Endpoint("jobs", _PATH, lambda: models.Job, (("get", "1"),), errors=_ERRORS, rules=_RULES)
LIST = Endpoint(
    "jobs",
    _PATH,
    lambda: list[models.Job],
    (("get_all", "1"),),
    errors=_ERRORS,
    rules=_RULES,
    adapt=as_list,
)


class Jobs(Namespace):
    """Mailing lists (jobs.php), as ``smsc.jobs``: list, get, add, cancel, delete."""

    async def add(
        self,
        name: str,
        phones: str | Iterable[str],
        message: str,
        *,
        sender: str | None = None,
        time: dt.datetime | dt.timedelta | None = None,
        repeat: Repeat = 0,
        repeats: int | None = None,
        template: int | None = None,
        cost: bool = False,
    ) -> models.JobCreated:
        """Create a mailing list: ``message`` to ``phones`` (numbers or ``"G<num>"`` groups).

        It starts at ``time`` (default: now); ``repeat`` repeats it (1 hourly … 7 yearly) at most
        ``repeats`` times; ``template`` names a template id to take the text from; ``cost=True``
        also returns the mailing's cost.

        >>> job = await smsc.jobs.add("promo", ["79161234567"], "Sale!",
        ...                           time=dt.timedelta(hours=2))  # doctest: +SKIP
        """
        params = {
            "name": check_str("name", name).strip(),
            "phones": ",".join(_recipients(phones)),
            "mes": check_message(message),
        }
        if sender is not None:
            params["sender"] = check_sender(sender)
        if time is not None:
            params["time"] = format_send_time(time)
        if check_choice("repeat", repeat, range(8)):
            params["rpt"] = str(repeat)
        if repeats is not None:
            if not repeat:
                raise ValueError("repeats needs repeat (1..7)")
            params["rptn"] = str(check_int("repeats", repeats, 1))
        if template is not None:
            params["tpl"] = check_record_id(template, "template")
        if check_flag("cost", cost) == "1":
            params["cost"] = "1"
        return await self._call(ADD, params)

    async def delete(self, id: int) -> None:
        """Delete mailing ``id``.

        >>> await smsc.jobs.delete(job.id)  # doctest: +SKIP
        """
        expect_ok(DELETE, await self._call(DELETE, {"id": check_record_id(id)}))

    async def cancel(self, id: int) -> None:
        """Stop mailing ``id`` before it goes out (it stays listed as cancelled).

        >>> await smsc.jobs.cancel(job.id)  # doctest: +SKIP
        """
        expect_ok(CANCEL, await self._call(CANCEL, {"id": check_record_id(id)}))

    async def get(self, id: int) -> models.Job:
        """Mailing ``id``.

        >>> (await smsc.jobs.get(job.id)).status  # doctest: +SKIP
        <JobStatus.SCHEDULED: 0>
        """
        return await self._call(GET, {"id": check_record_id(id)})

    async def list(
        self, *, start: dt.date | None = None, end: dt.date | None = None
    ) -> builtins.list[models.Job]:
        """Every mailing, or those starting between the dates ``start`` and ``end``.

        >>> await smsc.jobs.list(start=dt.date(2025, 1, 1))  # doctest: +SKIP
        """
        params: dict[str, str] = {}
        if start is not None:
            params["start"] = format_date(start, "start")
        if end is not None:
            params["end"] = format_date(end, "end")
        return await self._call(LIST, params)


def _recipients(value: object) -> list[str]:
    # A contact group ("G12") is as good as a number here.
    out: list[str] = []
    for item in list_items(value, "phones"):
        if isinstance(item, str) and item.strip()[:1] in "Gg" and item.strip()[1:].isdigit():
            out.append("G" + item.strip()[1:])
        else:
            out.extend(check_phones([item]))
    if not out:
        raise ValueError("phones must name at least one number")
    return out
