"""``/sys/status.php``: delivery status of one message or a batch, and ``del=1`` to delete."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from smsc_async.testing._endpoints._context import PARAMETERS_ERROR, Context
from smsc_async.testing._numbers import Operator, normalize
from smsc_async.testing._state import STATUS_NAMES, Message
from smsc_async.testing._time import MOSCOW
from smsc_async.testing._wire import (
    GatewayError,
    csv,
    flag,
    json_id,
    key_values,
    money,
    render_ok,
    to_json,
    xml,
)

PATH = "/sys/status.php"
ERRORS: Mapping[int, str] = {5: "error deleting message"}

_PHONES = re.compile(r"[,;\s]+")  # as ``_limits.message_pairs`` splits them, so charges match
_HLR = 4  # the message type of HLR requests

# fmt=0 labels of the fields that differ from their JSON names.
_LABELS_FMT0 = {"status": "Status", "last_date": "check_time"}
# Each text format shows a time once: fmt=0 as a date, fmt=1 as a unix timestamp.
_HIDDEN = {
    0: frozenset({"last_timestamp", "send_timestamp"}),
    1: frozenset({"last_date", "send_date"}),
    2: frozenset(),
    3: frozenset(),
}
# What an answered HLR request adds (smsc-api.md §3.6): IMSI, serving MSC, home network codes and
# names, roaming country and network (empty at home).
_HLR_NAMES = ("imsi", "msc", "mcc", "mnc", "cn", "net", "rcn", "rnet")
# The official PHP/Python libraries recognise an HLR line of all=1/all=2 by this sender name at
# index 14/17 (the eight HLR fields shift the all=1/all=2 fields by eight).
_HLR_SENDER = "HLR"


def moscow_date(timestamp: float) -> str:
    """``DD.MM.YYYY hh:mm:ss`` in Moscow time (the tz database's Europe/Moscow when present)."""
    return dt.datetime.fromtimestamp(timestamp, MOSCOW).strftime("%d.%m.%Y %H:%M:%S")


def _recipient(raw: str) -> str:
    return normalize(raw) or raw.strip().lower()


Fields = list[tuple[str, object]]


def _fields(
    message: Message, level: int, now: float, delay: float, fmt: int
) -> tuple[Fields, Fields]:
    """``(line, named_only)``: a status line in the order the official libraries read fmt=1.

    The official libraries split an all=1 line into at most 9 fields and an all=2 line into at
    most 12, so the message text (which may hold commas) must come last: ``status,
    last_timestamp, err, [HLR fields,] send_timestamp, phone, cost, [country, operator, region,]
    sender_id, status_name, message``. ``named_only`` holds what only fmt=0/2/3 carry.
    """
    status, err, changed = message.state(now, delay)
    hlr = message.type == _HLR
    op = message.operator
    line: Fields = [
        ("status", status),
        ("last_date", moscow_date(changed)),
        ("last_timestamp", int(changed)),
        ("err", err),
    ]
    if hlr and status == 1 and op is not None:
        line += _hlr_fields(message.phone, op)
    elif hlr and fmt == 1:
        line += [(name, "") for name in _HLR_NAMES]  # not answered yet: the places stay
    named: Fields = []
    if level >= 1:
        line += [
            ("send_date", moscow_date(message.sent_at)),
            ("send_timestamp", int(message.sent_at)),
            ("phone", message.phone),
            ("cost", money(message.cost)),
        ]
        if level >= 2:
            line += [
                ("country", op.country if op else ""),
                ("operator", op.operator if op else ""),
                ("region", op.region if op else ""),
            ]
        line += [
            ("sender_id", _HLR_SENDER if hlr else message.sender),
            ("status_name", STATUS_NAMES.get(status, "")),
            ("message", message.text),
        ]
        named += [("comment", message.comment), ("type", message.type), ("sms_cnt", message.parts)]
        if level >= 2:
            named.append(("mccmnc", op.mccmnc if op else ""))
    return line, named


def _hlr_fields(phone: str, op: Operator) -> Fields:
    """What an answered HLR request reports: IMSI, serving MSC, home (and roaming) network."""
    # Deterministic stand-ins: an IMSI is MCC + MNC + a subscriber number, 15 digits in all.
    imsi = (op.mcc + op.mnc + phone[-10:]).ljust(15, "0")[:15]
    return [
        ("imsi", imsi),
        ("msc", phone[:4] + "0000000"),
        ("mcc", op.mcc),
        ("mnc", op.mnc),
        ("cn", op.country),
        ("net", op.operator),
        ("rcn", ""),
        ("rnet", ""),
    ]


def _present(name: str, value: object) -> bool:
    """Whether a named format (fmt=0/2/3) carries the field.

    ``err`` only when there is an error, ``comment`` only when the message has one; the emulator
    never sets ``flag`` (the docs do not say what it means).
    """
    if name == "err":
        return value != 0
    if name == "comment":
        return value != ""
    return True


def _render(fmt: int, fields: Fields) -> Fields:
    hidden = _HIDDEN[fmt]
    shown = [(n, v) for n, v in fields if n not in hidden]
    if fmt == 1:
        return shown
    return [(n, v) for n, v in shown if _present(n, v)]


def _line(fmt: int, fields: Fields) -> str:
    if fmt == 0:
        return key_values((_LABELS_FMT0.get(name, name), value) for name, value in fields)
    return csv(value for _, value in fields)


def handle(ctx: Context) -> str:
    params = ctx.params
    ids_raw, phones_raw = params.get("id", ""), params.get("phone", "")
    ids = [i.strip() for i in ids_raw.split(",") if i.strip()]
    phones = [p for p in _PHONES.split(phones_raw) if p]
    if len(phones) == 1 and len(ids) > 1:
        phones *= len(ids)
    if not ids or len(phones) != len(ids):
        raise GatewayError(1, PARAMETERS_ERROR)
    level_text = params.get("all", "0").strip() or "0"
    if level_text not in ("0", "1", "2"):
        raise GatewayError(1, PARAMETERS_ERROR)
    level = int(level_text)
    batch = "," in ids_raw or "," in phones_raw
    keys = [(i, _recipient(p)) for i, p in zip(ids, phones, strict=True)]
    messages = ctx.account.messages

    if flag(params, "del"):
        if any(key not in messages for key in keys):
            raise GatewayError(5, ERRORS[5])
        for key in keys:
            messages.pop(key, None)
        return render_ok(ctx.fmt)

    delay = ctx.emulator.delivery_delay
    rows: list[Fields] = []
    for key, sent_as in zip(keys, phones, strict=True):
        message = messages.get(key)
        fields: Fields = [("status", -3)]
        if message is not None:
            line, named = _fields(message, level, ctx.now, delay, ctx.fmt)
            fields = _render(ctx.fmt, line if ctx.fmt == 1 else line + named)
        if batch:
            # A batch answer says which message each entry is about; the number is echoed as
            # the request wrote it, so a caller can match entries to its own list.
            fields.append(("id", key[0]))
            if not any(name == "phone" for name, _ in fields):
                fields.append(("phone", sent_as.strip()))
        rows.append(fields)

    if ctx.fmt == 3:
        objects = [
            {name: json_id(str(value)) if name == "id" else value for name, value in row}
            for row in rows
        ]
        return to_json(objects if batch else objects[0])
    if ctx.fmt == 2:
        if batch:
            inner = "".join(xml("sms", row) + "\n" for row in rows)
            return f"<list>\n{inner}</list>"
        return xml("result", rows[0])
    return "\n".join(_line(ctx.fmt, row) for row in rows)
