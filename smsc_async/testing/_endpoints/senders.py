"""``/sys/senders.php``: sender names -- list, add, change, send and check a code, delete.

A new name waits for moderation (status 0); a digit-only name becomes allowed (status 1) once it
is confirmed with the code ``send_code`` sent it. Tests make allowed names with
:func:`smsc_async.testing._records.add_sender` and read sent codes with ``sender_code``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from xml.sax.saxutils import escape, quoteattr

from smsc_async.testing._endpoints._context import PARAMETERS_ERROR, Context
from smsc_async.testing._numbers import RESERVED, normalize
from smsc_async.testing._records import (
    OPERATOR_FIELDS,
    Records,
    SenderRecord,
    new_code,
    records,
)
from smsc_async.testing._wire import GatewayError, csv, flag, key_values, render_ok, to_json

PATH = "/sys/senders.php"
# As seed 000 words them.
ERRORS: Mapping[int, str] = {
    3: "Sender name not found.",
    5: "Error saving or deleting the sender's name.",
    7: "Invalid number format.",
    8: "The confirmation code cannot be delivered to the specified number.",
    10: "The code has already been sent to the specified number. Retry is possible after 8 hours.",
    11: "Invalid confirmation code.",
}

#: A confirmation code goes to the same number at most once in this many seconds.
CODE_INTERVAL = 8 * 3600.0

# The JSON form lists the operator fields in its own order (seed 000).
_JSON_OPERATOR_ORDER = (
    "mega_step",
    "mega_int",
    "bee_step",
    "motiv",
    "motiv_step",
    "motiv_int",
    "sber_step",
    "sber_int",
    "winmob_step",
    "volnamob_step",
    "mts_step",
    "mts_int",
    "tele2_step",
    "tele2",
    "tele2_int",
    "ua_reg",
    "ua_int",
    "by_reg",
    "by_int",
)
_NAME = re.compile(r"[A-Za-z0-9 !\"#$%&'()*+,\-./:;<=>?@_]{1,11}")
_DIGITS = re.compile(r"[0-9]{1,15}")


def _fail(code: int) -> GatewayError:
    return GatewayError(code, ERRORS.get(code, PARAMETERS_ERROR))


def _valid_name(params: Mapping[str, str], name: str = "sender") -> str:
    value = params.get(name, "").strip()
    if not (_DIGITS.fullmatch(value) or _NAME.fullmatch(value)):
        raise _fail(1)
    return value


def _id(params: Mapping[str, str]) -> int | None:
    value = params.get("id", "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise _fail(1)
    return int(value)


def _target(rec: Records, params: Mapping[str, str]) -> SenderRecord:
    """The record named by ``id`` or else by ``sender``: error 3 when there is none."""
    found: SenderRecord | None
    id = _id(params)
    if id is not None:
        found = rec.sender_by_id(id)
    elif params.get("sender", "").strip():
        found = rec.sender(params["sender"].strip())
    else:
        raise _fail(1)
    if found is None:
        raise _fail(3)
    return found


def _number_sender(rec: Records, params: Mapping[str, str]) -> tuple[SenderRecord, str]:
    """The digit-only sender named by ``sender``: 7 when it is no number, 3 when unknown."""
    raw = params.get("sender", "").strip()
    if not raw:
        raise _fail(1)
    number = normalize(raw)
    if number is None:
        raise _fail(7)
    found = rec.sender(number) or rec.sender(raw.lstrip("+"))
    if found is None:
        raise _fail(3)
    return found, number


def handle(ctx: Context) -> str:
    """Answer one senders.php request in ``ctx.fmt``."""
    params = ctx.params
    rec = records(ctx.account)
    if flag(params, "get"):
        return _render_list(ctx.fmt, rec.senders, params)
    if flag(params, "add"):
        return _add(ctx, rec)
    if flag(params, "chg"):
        _change(rec, params)
    elif flag(params, "send_code"):
        _send_code(ctx, rec)
    elif flag(params, "check_code"):
        _check_code(rec, params)
    elif flag(params, "del"):
        rec.senders.remove(_target(rec, params))
    else:
        raise _fail(1)
    return render_ok(ctx.fmt)


def _add(ctx: Context, rec: Records) -> str:
    name = _valid_name(ctx.params)
    if rec.sender(name) is not None:
        raise _fail(5)
    record = SenderRecord(id=rec.next_sender_id, sender=name, comment=ctx.params.get("cmt", ""))
    rec.next_sender_id += 1
    rec.senders.append(record)
    if ctx.fmt == 0:
        return f"ID = {record.id}"
    if ctx.fmt == 1:
        return str(record.id)
    if ctx.fmt == 2:
        return f"<sender>\n<id>{record.id}</id>\n</sender>"
    return to_json({"sender": record.id})


def _change(rec: Records, params: Mapping[str, str]) -> None:
    record = _target(rec, params)
    if _id(params) is not None and params.get("sender", "").strip():
        name = _valid_name(params)
        other = rec.sender(name)
        if other is not None and other is not record:
            raise _fail(5)
        if name != record.sender:
            # A new name is moderated (or confirmed) afresh.
            record.sender, record.status, record.code, record.code_sent_at = name, 0, None, None
            record.operators.clear()
    if "cmt" in params:
        record.comment = params["cmt"]


def _send_code(ctx: Context, rec: Records) -> None:
    record, number = _number_sender(rec, ctx.params)
    if record.code_sent_at is not None and ctx.now - record.code_sent_at < CODE_INTERVAL:
        raise _fail(10)
    if number.startswith(RESERVED.undeliverable):
        raise _fail(8)
    record.code, record.code_sent_at = new_code(), ctx.now


def _check_code(rec: Records, params: Mapping[str, str]) -> None:
    record, _ = _number_sender(rec, params)
    code = params.get("code", "").strip()
    if record.code is None or code != record.code:
        raise _fail(11)
    record.status, record.code = 1, None


def _render_list(fmt: int, senders: list[SenderRecord], params: Mapping[str, str]) -> str:
    every = flag(params, "all")
    shown = [s for s in senders if every or s.status == 1]
    if flag(params, "operators"):
        return _render_operators(fmt, shown)
    if fmt == 3:
        objects: list[dict[str, object]] = []
        for s in shown:
            obj: dict[str, object] = {"sender": s.sender}
            if every:
                obj["status"] = s.status
            obj["id"] = s.id
            objects.append(obj)
        return to_json(objects)
    if fmt == 2:
        inner = "".join(
            f"<sender{f' status={quoteattr(str(s.status))}' if every else ''}"
            f" id={quoteattr(str(s.id))}>{escape(s.sender)}</sender>\n"
            for s in shown
        )
        return f"<list>\n{inner}</list>"
    rows = [
        [("name", s.sender), *([("status", s.status)] if every else []), ("id", s.id)]
        for s in shown
    ]
    if fmt == 1:
        return "\n".join(csv(value for _, value in row) for row in rows)
    return "\n".join(key_values(row) for row in rows)


def _render_operators(fmt: int, shown: list[SenderRecord]) -> str:
    rows: list[list[tuple[str, object]]] = [
        [
            ("name", s.sender),
            *((field, s.operator_status(field)) for field in OPERATOR_FIELDS),
            ("id", s.id),
        ]
        for s in shown
    ]
    if fmt == 3:
        # The JSON form quotes every status and the id.
        return to_json(
            [
                {"sender": s.sender}
                | {field: str(s.operator_status(field)) for field in _JSON_OPERATOR_ORDER}
                | {"id": str(s.id)}
                for s in shown
            ]
        )
    if fmt == 2:
        inner = "".join(
            "<sender "
            + " ".join(f"{name}={quoteattr(str(value))}" for name, value in row[1:])
            + f">{escape(str(row[0][1]))}</sender>\n"
            for row in rows
        )
        return f"<list>\n{inner}</list>"
    if fmt == 1:
        # The seed shows no fmt=1 form for operators=1; the fields come in the fmt=0 order.
        return "\n".join(csv(value for _, value in row) for row in rows)
    return "\n".join(key_values(row) for row in rows)
