"""``/sys/templates.php``: message templates (``add``, ``chg``, ``del``, ``get``).

Answers: ``add`` the new ``id``; ``chg``/``del`` ``OK``; ``get`` every template with ``id``,
``name``, ``msg``, ``format``, ``sender``, ``autosign``. A change of an unknown id answers the
plain ``ERROR = 3 (...)`` line whatever ``fmt`` asked, as the real gateway was seen to do.
"""

from __future__ import annotations

from collections.abc import Mapping

from smsc_async.testing._endpoints._book import (
    Fields,
    TemplateRecord,
    book_of,
    command,
    record_id,
    render_created,
    render_many,
)
from smsc_async.testing._endpoints._context import PARAMETERS_ERROR, Context
from smsc_async.testing._wire import GatewayError, flag, plain_error, render_ok

PATH = "/sys/templates.php"
ERRORS: Mapping[int, str] = {3: "template not found"}

FORMATS = frozenset({"", "sms", "flash", "bin", "push", "mms", "call", "mail", "viber"})
MAX_TEXT = 1000
MAX_TEMPLATES = 500


def _text(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None or not value.strip():
        return None
    if len(value) > MAX_TEXT:
        raise GatewayError(1, PARAMETERS_ERROR)
    return value


def _required(params: Mapping[str, str], name: str) -> str:
    value = _text(params, name)
    if value is None:
        raise GatewayError(1, PARAMETERS_ERROR)
    return value


def _format(params: Mapping[str, str]) -> str | None:
    if "format" not in params:
        return None
    value = params["format"].strip().lower()
    if value not in FORMATS:
        raise GatewayError(1, PARAMETERS_ERROR)
    return value


def _fields(t: TemplateRecord) -> Fields:
    return [
        ("id", t.id),
        ("name", t.name),
        ("msg", t.msg),
        ("format", t.format),
        ("sender", t.sender),
        ("autosign", int(t.autosign)),
    ]


def handle(ctx: Context) -> str:
    """Answer one templates.php request."""
    params, book = ctx.params, book_of(ctx.account)
    what = command(params, ("add", "chg", "del", "get"))
    if what == "get":
        return render_many(ctx.fmt, "template", [_fields(t) for t in book.templates.values()])
    if what == "add":
        name = _required(params, "name")
        msg = _required(params, "msg")
        if len(book.templates) >= MAX_TEMPLATES:
            raise GatewayError(1, "too many templates")
        created = TemplateRecord(
            id=book.next_id(),
            name=name.strip(),
            msg=msg,
            format=_format(params) or "",
            sender=params.get("sender", "").strip(),
            autosign=flag(params, "fl[1]"),
        )
        book.templates[created.id] = created
        return render_created(ctx.fmt, created.id)
    tid = record_id(params)
    if what == "del":
        if book.templates.pop(tid, None) is None:
            raise GatewayError(3, ERRORS[3])
        return render_ok(ctx.fmt)
    record = book.templates.get(tid)
    if record is None:
        # Returned, not raised: the plain line goes out even when JSON was asked for.
        ctx.emulator.stats.error(ctx.path, 3)
        return plain_error(3, ERRORS[3])
    new_name = _text(params, "name")
    new_msg = _text(params, "msg")
    fmt_name = _format(params)
    if new_name is not None:
        record.name = new_name.strip()
    if new_msg is not None:
        record.msg = new_msg
    if fmt_name is not None:
        record.format = fmt_name
    if "sender" in params:
        record.sender = params["sender"].strip()
    if "fl[1]" in params:
        record.autosign = flag(params, "fl[1]")
    return render_ok(ctx.fmt)
