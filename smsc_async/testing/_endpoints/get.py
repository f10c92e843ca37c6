"""``/sys/get.php``: sending history, incoming messages, statistics and tariffs.

Everything is read from the account's state, so a message sent through the emulator shows up in
the history and the statistics, and one added with ``Emulator.add_incoming`` in the answers.

* ``get_messages`` -- newest first; ``prev_id`` (an ``int_id``) pages backwards; ``format=8``
  is the e-mail history. Nothing matching is error 3 ("message not found").
* ``get_answers`` -- oldest first; ``after_id`` pages forwards; without ``hour`` or ``after_id``
  the current (Moscow) day.
* ``get_stat`` -- one row for the login over ``start``..``end``: ``sms`` counts SMS parts,
  ``credit`` what they cost, ``debit`` payments (none in the emulator). The emulator keeps one
  currency, so ``mycur`` changes nothing; ``balance2`` (messages paid from the electronic
  balance) is all zeros.
* ``get_price`` -- one zone per operator of the emulator's number table, the account's
  individual prices (``codes``) and the e-mail price.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Mapping
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

from smsc_async.testing._endpoints import mega_accounts
from smsc_async.testing._endpoints import send as _send
from smsc_async.testing._endpoints._context import PARAMETERS_ERROR, Context
from smsc_async.testing._endpoints.status import moscow_date
from smsc_async.testing._numbers import (
    _BY_CODE,
    _KAZAKHSTAN,
    _RUSSIA,
    _RUSSIA_FIXED,
    INTERNATIONAL_PRICE,
    normalize,
)
from smsc_async.testing._records import int_ids, records
from smsc_async.testing._state import STATUS_NAMES, Account, Message
from smsc_async.testing._time import MOSCOW
from smsc_async.testing._wire import (
    GatewayError,
    csv,
    flag,
    json_id,
    key_values,
    money,
    to_json,
    xml,
)

PATH = "/sys/get.php"
ERRORS: Mapping[int, str] = {3: "Message not found."}  # seed 003

MAX_HISTORY = 1000
MAX_ANSWERS = 10_000
MAX_HOURS = 168
_EMAIL_TYPE = 8
_FIXED = {c.flag: c.fixed_price for c in _send._CHANNELS}


def _fail(code: int = 1) -> GatewayError:
    return GatewayError(code, ERRORS.get(code, PARAMETERS_ERROR))


def handle(ctx: Context) -> str:
    """Answer one get.php request in ``ctx.fmt``."""
    params = ctx.params
    if flag(params, "get_messages"):
        return _messages(ctx)
    if flag(params, "get_answers"):
        return _answers(ctx)
    if flag(params, "get_stat"):
        return _stat(ctx)
    if flag(params, "get_price"):
        return _price(ctx)
    if flag(params, "get_mega_accounts"):
        return mega_accounts.handle(ctx)
    raise _fail()


# ------------------------------------------------------------------------------------- parameters


def _date(params: Mapping[str, str], name: str) -> dt.date | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    try:
        return dt.datetime.strptime(value, "%d.%m.%Y").date()
    except ValueError:
        raise _fail() from None


def _period(params: Mapping[str, str]) -> tuple[dt.date | None, dt.date | None]:
    start, end = _date(params, "start"), _date(params, "end")
    if start is not None and end is not None and end < start:
        raise _fail()
    return start, end


def _int(params: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    value = params.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise _fail()
    return int(value)


def _day(timestamp: float) -> dt.date:
    return dt.datetime.fromtimestamp(timestamp, MOSCOW).date()


def _within(timestamp: float, start: dt.date | None, end: dt.date | None) -> bool:
    day = _day(timestamp)
    return (start is None or day >= start) and (end is None or day <= end)


# ---------------------------------------------------------------------------------------- history

# (JSON name, fmt=0 label) in the fmt=0 order; fmt=1 and fmt=2/3 have orders of their own.
_LABELS0 = (
    ("status", "Status"),
    ("last_date", "check_time"),
    ("err", "err"),
    ("send_date", "send_date"),
    ("phone", "phone"),
    ("mccmnc", "mccmnc"),
    ("country", "country"),
    ("operator", "operator"),
    ("region", "region"),
    ("cost", "cost"),
    ("sender_id", "sender_id"),
    ("status_name", "status_name"),
    ("message", "message"),
    ("type", "type"),
    ("id", "ID"),
    ("int_id", "int_id"),
    ("sms_cnt", "sms_cnt"),
    ("format", "format"),
    ("crc", "crc"),
)
_ORDER1 = (
    "status",
    "last_timestamp",
    "err",
    "send_timestamp",
    "phone",
    "mccmnc",
    "country",
    "operator",
    "region",
    "cost",
    "sender_id",
    "status_name",
    "message",
    "type",
    "id",
    "int_id",
    "sms_cnt",
    "format",
    "crc",
)
_ORDER23 = (
    "status",
    "last_date",
    "last_timestamp",
    "err",
    "send_date",
    "send_timestamp",
    "phone",
    "cost",
    "sender_id",
    "status_name",
    "message",
    "mccmnc",
    "country",
    "operator",
    "region",
    "type",
    "id",
    "int_id",
    "sms_cnt",
    "format",
    "crc",
)


def _history_row(message: Message, int_id: int, now: float, delay: float) -> dict[str, object]:
    status, err, changed = message.state(now, delay)
    op = message.operator
    return {
        "status": status,
        "last_date": moscow_date(changed),
        "last_timestamp": int(changed),
        "err": err,
        "send_date": moscow_date(message.sent_at),
        "send_timestamp": int(message.sent_at),
        "phone": message.phone,
        "cost": money(message.cost),
        "sender_id": message.sender,
        "status_name": STATUS_NAMES.get(status, ""),
        "message": message.text,
        "mccmnc": op.mccmnc if op else "",
        "country": op.country if op else "",
        "operator": op.operator if op else "",
        "region": op.region if op else "",
        "type": message.type,
        "id": message.id,
        "int_id": int_id,
        "sms_cnt": message.parts,
        "format": _EMAIL_TYPE if message.type == _EMAIL_TYPE else 0,
        "crc": zlib.crc32(message.text.encode("utf-8")),
    }


def _recipients(value: str, *, email: bool) -> set[str] | None:
    items = [x.strip() for x in value.replace(";", ",").split(",") if x.strip()]
    if not items:
        return None
    if email:
        return {x.lower() for x in items}
    numbers = {normalize(x) for x in items}
    if None in numbers:
        raise _fail()
    return {n for n in numbers if n is not None}


def history(account: Account, params: Mapping[str, str]) -> list[tuple[Message, int]]:
    """The messages a get_messages request selects, newest first, with their ``int_id``."""
    start, end = _period(params)
    kind = params.get("format", "0").strip() or "0"
    if kind not in ("0", "8"):
        raise _fail()
    email = kind == "8"
    wanted = _recipients(params.get("email" if email else "phone", ""), email=email)
    cnt = min(_int(params, "cnt", MAX_HISTORY) or MAX_HISTORY, MAX_HISTORY)
    prev_id = _int(params, "prev_id")
    ids = int_ids(account)
    picked = [
        (m, ids[m])
        for m in account.messages.values()
        if (m.type == _EMAIL_TYPE) == email
        and (wanted is None or m.phone in wanted)
        and (prev_id is None or ids[m] < prev_id)
        and _within(m.sent_at, start, end)
    ]
    picked.sort(key=lambda pair: pair[1], reverse=True)
    return picked[:cnt]


def _messages(ctx: Context) -> str:
    picked = history(ctx.account, ctx.params)
    if not picked:
        raise _fail(3)
    delay = ctx.emulator.delivery_delay
    rows = [_history_row(m, int_id, ctx.now, delay) for m, int_id in picked]
    if ctx.fmt == 3:
        return to_json(
            [
                {
                    name: json_id(str(row[name]))
                    if name == "id"
                    else str(row[name])
                    if name == "int_id"
                    else row[name]
                    for name in _ORDER23
                }
                for row in rows
            ]
        )
    if ctx.fmt == 2:
        inner = "".join(xml("sms", ((n, row[n]) for n in _ORDER23)) + "\n" for row in rows)
        return f"<list>\n{inner}</list>"
    if ctx.fmt == 1:
        # The seed writes a space before the text: ``<status_name>, <message>``.
        return "\n".join(
            csv(row[n] for n in _ORDER1[:12]) + ", " + csv(row[n] for n in _ORDER1[12:])
            for row in rows
        )
    return "\n".join(key_values((label, row[name]) for name, label in _LABELS0) for row in rows)


# --------------------------------------------------------------------------------------- incoming

_ANSWER_ORDER = ("id", "received", "phone", "message", "to_phone", "sent")
_ANSWER_ORDER1 = ("id", "received", "phone", "to_phone", "sent", "message")


def _answers(ctx: Context) -> str:
    params, now = ctx.params, ctx.now
    hours = _int(params, "hour")
    if hours is not None and not 1 <= hours <= MAX_HOURS:
        raise _fail()
    after_id = _int(params, "after_id")
    cnt = _int(params, "cnt", MAX_ANSWERS) or MAX_ANSWERS
    to_phone = params.get("to_phone", "").strip()
    target = normalize(to_phone) if to_phone else None
    if to_phone and target is None:
        raise _fail()
    if hours is not None:
        since = now - hours * 3600
    elif after_id is not None:
        since = now - MAX_HOURS * 3600
    else:
        midnight = dt.datetime.combine(_day(now), dt.time(), MOSCOW)
        since = midnight.timestamp()
    picked = sorted(
        (
            m
            for m in ctx.account.incoming
            if m.received >= since
            and (after_id is None or m.id > after_id)
            and (target is None or m.to_phone == target)
        ),
        key=lambda m: m.id,
    )[: min(cnt, MAX_ANSWERS)]
    rows = [
        {
            "id": m.id,
            "received": moscow_date(m.received),
            "phone": m.phone,
            "message": m.message,
            "to_phone": m.to_phone,
            "sent": moscow_date(m.sent),
        }
        for m in picked
    ]
    if ctx.fmt == 3:
        return to_json([{n: row[n] for n in _ANSWER_ORDER} for row in rows])
    if ctx.fmt == 2:
        inner = "".join(xml("sms", ((n, row[n]) for n in _ANSWER_ORDER)) + "\n" for row in rows)
        return f"<sms_answers>\n{inner}</sms_answers>"
    if ctx.fmt == 1:
        return "\n".join(csv(row[n] for n in _ANSWER_ORDER1) for row in rows)
    return "\n".join(key_values((n, row[n]) for n in _ANSWER_ORDER) for row in rows)


# ------------------------------------------------------------------------------------- statistics


def _stat(ctx: Context) -> str:
    start, end = _period(ctx.params)
    if start is None:
        raise _fail()
    acct = ctx.account
    sms, spent = 0, Decimal("0")
    if not flag(ctx.params, "balance2"):
        for m in acct.messages.values():
            if _within(m.sent_at, start, end):
                sms += m.parts
                spent += m.cost
    row: list[tuple[str, object]] = [
        ("login", acct.login),
        ("sms", sms),
        ("credit", money(spent)),
        ("debit", money(Decimal("0"))),
        ("currency", acct.currency),
    ]
    if ctx.fmt == 3:
        return to_json([{n: str(v) for n, v in row}])
    if ctx.fmt == 2:
        return "<list>\n" + xml("stat", row) + "\n</list>"
    if ctx.fmt == 1:
        return csv(v for _, v in row)
    return key_values(row)


# ---------------------------------------------------------------------------------------- tariffs


def zones() -> list[dict[str, str]]:
    """The emulator's tariff zones: one per operator of its number table, then the rest."""
    out: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for country in (_RUSSIA, _RUSSIA_FIXED, _KAZAKHSTAN, *_BY_CODE.values()):
        for net in (*country.nets.values(), *country.fallback):
            if (country.name, net.name) in seen:
                continue
            seen.add((country.name, net.name))
            # No comma in a zone name: fmt=1 lines are split on commas.
            out.append(_zone(len(out) + 1, f"{country.name} - {net.name}", net.price))
    out.append(_zone(len(out) + 1, "Другие страны", INTERNATIONAL_PRICE))
    return out


def _zone(number: int, name: str, price: Decimal) -> dict[str, str]:
    return {
        "zone": str(number),
        "name": name,
        "api": money(price),
        "mass": money(price),
        "mms": money(_FIXED["mms"] or Decimal("0")),
        "hlr": money(_FIXED["hlr"] or Decimal("0")),
        "call": money(_FIXED["call"] or Decimal("0")),
    }


_ZONES = zones()


def _price(ctx: Context) -> str:
    codes = [
        {"mccmnc": mccmnc, "cost": money(cost)}
        for mccmnc, cost in sorted(records(ctx.account).prices.items())
    ]
    mail = money(_FIXED["mail"] or Decimal("0"))
    if ctx.fmt == 3:
        # "codes" is always there, empty when the account has no individual tariffs.
        return to_json({"zones": _ZONES, "codes": codes, "mail": mail})
    if ctx.fmt == 2:
        zone_lines = "".join(
            "<zone "
            + " ".join(
                f"{k}={quoteattr(z[k])}" for k in ("name", "api", "mass", "mms", "hlr", "call")
            )
            + f">{escape(z['zone'])}</zone>\n"
            for z in _ZONES
        )
        code_lines = "".join(
            f"<mccmnc cost={quoteattr(c['cost'])}>{escape(c['mccmnc'])}</mccmnc>\n" for c in codes
        )
        body = f"<price>\n<zones>\n{zone_lines}</zones>\n<codes>\n{code_lines}</codes>\n"
        return body + f"<mail>{mail}</mail>\n</price>"
    entries = [*_ZONES, *codes]
    if ctx.fmt == 1:
        return "\n".join([*(csv(e.values()) for e in entries), mail])
    return "\n".join([*(key_values(e.items()) for e in entries), f"mail = {mail}"])
