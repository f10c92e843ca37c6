"""``/sys/status.php``: delivery status of one message or a batch, and ``del=1`` to delete."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping

from smsc_async.testing._endpoints._context import Context
from smsc_async.testing._numbers import Operator, normalize
from smsc_async.testing._state import STATUS_NAMES, Message
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
_MOSCOW = 3 * 3600
_HLR = 4  # the message type of HLR requests

# fmt=0 labels of the fields that differ from their JSON names; fields absent here are not shown.
_LABELS_FMT0 = {"status": "Status", "last_date": "check_time"}
_HIDDEN_FMT0 = frozenset({"last_timestamp", "flag", "send_timestamp"})
_HIDDEN_FMT1 = frozenset({"last_date", "flag", "send_date"})


def moscow_date(timestamp: float) -> str:
    """``DD.MM.YYYY hh:mm:ss`` in Moscow time (UTC+3, no daylight saving)."""
    return time.strftime("%d.%m.%Y %H:%M:%S", time.gmtime(timestamp + _MOSCOW))


def _recipient(raw: str) -> str:
    return normalize(raw) or raw.strip().lower()


def _fields(message: Message, level: int, now: float, delay: float) -> list[tuple[str, object]]:
    status, err, changed = message.state(now, delay)
    fields: list[tuple[str, object]] = [
        ("status", status),
        ("last_date", moscow_date(changed)),
        ("last_timestamp", int(changed)),
        ("flag", 0),
        ("err", err),
    ]
    if level >= 1:
        fields += [
            ("send_date", moscow_date(message.sent_at)),
            ("send_timestamp", int(message.sent_at)),
            ("phone", message.phone),
            ("cost", money(message.cost)),
            ("sender_id", message.sender),
            ("status_name", STATUS_NAMES.get(status, "")),
            ("message", message.text),
            ("comment", message.comment),
            ("type", message.type),
            ("sms_cnt", message.parts),
        ]
    if level >= 2:
        op = message.operator
        fields += [
            ("country", op.country if op else ""),
            ("operator", op.operator if op else ""),
            ("region", op.region if op else ""),
            ("mccmnc", op.mccmnc if op else ""),
        ]
    if message.type == _HLR and status == 1 and message.operator is not None:
        fields += _hlr_fields(message.phone, message.operator)
    return fields


def _hlr_fields(phone: str, op: Operator) -> list[tuple[str, object]]:
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


def _line(fmt: int, fields: list[tuple[str, object]]) -> str:
    if fmt == 0:
        return key_values(
            (_LABELS_FMT0.get(name, name), value)
            for name, value in fields
            if name not in _HIDDEN_FMT0
        )
    return csv(value for name, value in fields if name not in _HIDDEN_FMT1)


def handle(ctx: Context) -> str:
    params = ctx.params
    ids_raw, phones_raw = params.get("id", ""), params.get("phone", "")
    ids = [i.strip() for i in ids_raw.split(",") if i.strip()]
    phones = [p for p in _PHONES.split(phones_raw) if p]
    if len(phones) == 1 and len(ids) > 1:
        phones *= len(ids)
    if not ids or len(phones) != len(ids):
        raise GatewayError(1, "parameters error")
    level_text = params.get("all", "0").strip() or "0"
    if level_text not in ("0", "1", "2"):
        raise GatewayError(1, "parameters error")
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
    rows: list[list[tuple[str, object]]] = []
    for key in keys:
        message = messages.get(key)
        fields: list[tuple[str, object]] = [("status", -3)]
        if message is not None:
            fields = _fields(message, level, ctx.now, delay)
        if batch:
            fields.append(("id", key[0]))
            if not any(name == "phone" for name, _ in fields):
                fields.append(("phone", key[1]))
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
