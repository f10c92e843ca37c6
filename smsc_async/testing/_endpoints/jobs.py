"""``/sys/jobs.php``: mailing lists (``add``, ``del``, ``cancel``, ``get``, ``get_all``).

``add`` answers the documented ``OK, ID - <id>`` / ``<id>`` / ``{"id": …}`` (with ``cost=1`` also
the cost); ``del``/``cancel`` ``OK``; ``get`` one mailing and ``get_all`` a list, each with
``id``, ``name``, ``status`` (0 scheduled, 1 done, 2 cancelled), ``mes``, ``phones``, ``cnt``,
``time``, ``sender``, ``rpt`` and ``cost``. A mailing is "done" once its start time passed; the
emulator does not deliver its messages. Recipients may be numbers or contact groups ``G<num>``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal

from smsc_async.testing._endpoints._book import (
    Book,
    Fields,
    JobRecord,
    book_of,
    command,
    parse_date,
    record_id,
    render_created,
    render_many,
    render_one,
)
from smsc_async.testing._endpoints._context import PARAMETERS_ERROR, Context
from smsc_async.testing._endpoints.send import schedule
from smsc_async.testing._endpoints.status import moscow_date
from smsc_async.testing._numbers import normalize, price
from smsc_async.testing._sms import count_parts
from smsc_async.testing._time import MOSCOW
from smsc_async.testing._wire import GatewayError, flag, money, render_ok

PATH = "/sys/jobs.php"
ERRORS: Mapping[int, str] = {3: "error saving record", 5: "wrong date format"}

MAX_JOBS = 200
MAX_TEXT = 1000
_GROUP = re.compile(r"[Gg]([0-9]{1,5})")


def _fail(code: int) -> GatewayError:
    return GatewayError(code, ERRORS.get(code, PARAMETERS_ERROR))


def _recipients(book: Book, raw: str) -> list[str]:
    numbers: list[str] = []
    for item in re.split(r"[,;]", raw):
        item = item.strip()
        if not item:
            continue
        group = _GROUP.fullmatch(item)
        if group:
            found = book.group_by_num(int(group[1]))
            if found is None:
                raise _fail(1)
            numbers += [c.phone for c in book.contacts.values() if found.id in c.groups]
            continue
        number = normalize(item)
        if number is None:
            raise _fail(1)
        numbers.append(number)
    return list(dict.fromkeys(numbers))


def _fields(job: JobRecord, now: float) -> Fields:
    return [
        ("id", job.id),
        ("name", job.name),
        ("status", job.status(now)),
        ("mes", job.mes),
        ("phones", job.phones),
        ("cnt", job.cnt),
        ("time", moscow_date(job.start_at)),
        ("sender", job.sender),
        ("rpt", job.rpt),
        ("cost", money(job.cost)),
    ]


def _add(ctx: Context, book: Book) -> str:
    params = ctx.params
    name = params.get("name", "").strip()
    phones = params.get("phones", "").strip()
    mes = params.get("mes", "")
    if "tpl" in params:
        template = book.templates.get(record_id(params, "tpl"))
        if template is None:
            raise _fail(3)
        mes = mes or template.msg
    if not name or not phones or not mes.strip() or len(mes) > MAX_TEXT:
        raise _fail(1)
    rpt_text = params.get("rpt", "0").strip() or "0"
    if rpt_text not in tuple("01234567"):
        raise _fail(1)
    tz = params.get("tz", "").strip() or "0"
    if not re.fullmatch(r"[+-]?[0-9]{1,2}", tz):
        raise _fail(5)
    try:
        start_at = schedule(params.get("time", ""), 3 + int(tz), ctx.now)
    except ValueError:
        raise _fail(5) from None
    numbers = _recipients(book, phones)
    if len(book.jobs) >= MAX_JOBS:
        raise _fail(3)
    parts = count_parts(mes)
    cost = sum((price(n) * parts for n in numbers), Decimal("0"))
    job = JobRecord(
        id=book.next_id(),
        name=name,
        phones=phones,
        mes=mes,
        sender=params.get("sender", "").strip(),
        start_at=start_at,
        rpt=int(rpt_text),
        cnt=len(numbers),
        cost=cost,
    )
    book.jobs[job.id] = job
    return render_created(ctx.fmt, job.id, money(cost) if flag(params, "cost") else None)


def _in_period(job: JobRecord, start: dt.date | None, end: dt.date | None) -> bool:
    day = dt.datetime.fromtimestamp(job.start_at, MOSCOW).date()
    return (start is None or day >= start) and (end is None or day <= end)


def handle(ctx: Context) -> str:
    """Answer one jobs.php request."""
    params, book = ctx.params, book_of(ctx.account)
    what = command(params, ("add", "del", "cancel", "get", "get_all"))
    if what == "add":
        return _add(ctx, book)
    if what == "get_all":
        start = parse_date(params.get("start", ""), 5)
        end = parse_date(params.get("end", ""), 5)
        rows = [_fields(j, ctx.now) for j in book.jobs.values() if _in_period(j, start, end)]
        return render_many(ctx.fmt, "job", rows)
    job = book.jobs.get(record_id(params))
    if job is None:
        raise _fail(3)
    if what == "get":
        return render_one(ctx.fmt, "job", _fields(job, ctx.now))
    if what == "cancel":
        if job.status(ctx.now) != 0:
            raise _fail(3)  # only a mailing that has not started can be cancelled
        job.cancelled = True
        return render_ok(ctx.fmt)
    del book.jobs[job.id]
    return render_ok(ctx.fmt)
