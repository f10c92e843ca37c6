"""``/sys/tinyurls.php``: click counts of a short link, by its ``id`` or its original ``link``.

Links are made with :func:`smsc_async.testing._records.add_short_link`; clicks are counted by
Moscow calendar day and month relative to emulator time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from smsc_async.testing._endpoints._context import PARAMETERS_ERROR, Context
from smsc_async.testing._records import ShortLinkRecord, records
from smsc_async.testing._time import MOSCOW
from smsc_async.testing._wire import GatewayError, csv, flag, key_values, to_json, xml

PATH = "/sys/tinyurls.php"
ERRORS: Mapping[int, str] = {3: "Link not found."}  # seed 003

_FIELDS = ("id", "cnt", "cnt_mon", "cnt_day", "cnt_yes", "cnt_pmon", "link")


def _bare(url: str) -> str:
    """A link compared without its scheme, a ``www.`` or a trailing slash (``mywebsite.ru``)."""
    text = url.strip()
    for scheme in ("https://", "http://"):
        if text.lower().startswith(scheme):
            text = text[len(scheme) :]
    if text.lower().startswith("www."):
        text = text[4:]
    host, slash, rest = text.partition("/")
    return (host.lower() + slash + rest).rstrip("/")


def _find(links: list[ShortLinkRecord], params: Mapping[str, str]) -> ShortLinkRecord:
    id_text = params.get("id", "").strip()
    link = params.get("link", "").strip()
    if id_text:
        if not id_text.isdigit():
            raise GatewayError(1, PARAMETERS_ERROR)
        found = next((x for x in links if x.id == int(id_text)), None)
    elif link:
        wanted = _bare(link)
        found = next((x for x in links if wanted in (_bare(x.url), _bare(x.short))), None)
    else:
        raise GatewayError(1, PARAMETERS_ERROR)
    if found is None:
        raise GatewayError(3, ERRORS[3])
    return found


def counts(clicks: list[float], now: float) -> dict[str, int]:
    """``cnt``, ``cnt_mon``, ``cnt_day``, ``cnt_yes`` and ``cnt_pmon`` at emulator time ``now``."""
    today = dt.datetime.fromtimestamp(now, MOSCOW).date()
    yesterday = today - dt.timedelta(days=1)
    month = (today.year, today.month)
    previous = (today.year - 1, 12) if today.month == 1 else (today.year, today.month - 1)
    days = [dt.datetime.fromtimestamp(t, MOSCOW).date() for t in clicks if t <= now]
    return {
        "cnt": len(days),
        "cnt_mon": sum((d.year, d.month) == month for d in days),
        "cnt_day": sum(d == today for d in days),
        "cnt_yes": sum(d == yesterday for d in days),
        "cnt_pmon": sum((d.year, d.month) == previous for d in days),
    }


def handle(ctx: Context) -> str:
    """Answer one tinyurls.php request in ``ctx.fmt``."""
    if not flag(ctx.params, "get"):
        raise GatewayError(1, PARAMETERS_ERROR)
    link = _find(records(ctx.account).links, ctx.params)
    values: dict[str, object] = {"id": link.id, **counts(link.clicks, ctx.now), "link": link.short}
    row = [(name, values[name]) for name in _FIELDS]
    if ctx.fmt == 3:
        return to_json({name: str(value) for name, value in row})
    if ctx.fmt == 2:
        return xml("result", row)
    if ctx.fmt == 1:
        return csv(value for _, value in row)
    return key_values(row)
