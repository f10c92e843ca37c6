"""``/sys/send.php``: sending (SMS and the other channels) and cost estimates (``cost=1``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import attrs

from smsc_async.testing._endpoints._context import PARAMETERS_ERROR, Context
from smsc_async.testing._numbers import RESERVED, Operator, lookup, normalize, price
from smsc_async.testing._sms import count_binary_parts, split, transliterate
from smsc_async.testing._state import Message
from smsc_async.testing._wire import GatewayError, csv, flag, json_id, money, to_json, xml_attrs

PATH = "/sys/send.php"
ERRORS: Mapping[int, str] = {
    3: "no money",
    5: "wrong time format",
    6: "message is denied",
    7: "invalid number",
    8: "can't deliver",
}

MAX_TEXT = 1000
_ID = re.compile(r"[A-Za-z0-9._-]{1,40}")
_SENDER_NAME = re.compile(r"[A-Za-z0-9 !\"#$%&'()*+,\-./:;<=>?@_]{1,11}")
_SENDER_DIGITS = re.compile(r"[0-9]{1,15}")
_EMAIL = re.compile(r"[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+")
_TELEGRAM = re.compile(r"@[A-Za-z0-9_]{4,32}|#[0-9]{1,20}")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*")
_RECIPIENTS = re.compile(r"[,;]")
_MOSCOW = 3  # hours east of UTC; the gateway's clock and ``tz`` are Moscow-relative


@attrs.frozen
class _Channel:
    flag: str
    type: int  # the ``type`` status.php reports
    needs_text: bool = True
    fixed_price: Decimal | None = None  # per message; None: the operator's SMS price per part


# Checked in this order: the first set flag wins.
_CHANNELS = (
    _Channel("hlr", 4, needs_text=False, fixed_price=Decimal("0.30")),
    _Channel("ping", 5, needs_text=False),
    _Channel("mms", 6, fixed_price=Decimal("9.00")),
    _Channel("mail", 8, fixed_price=Decimal("0.10")),
    _Channel("call", 7, fixed_price=Decimal("0.90")),
    _Channel("viber", 10, fixed_price=Decimal("1.20")),
    _Channel("tg", 13, fixed_price=Decimal("0.90")),
    _Channel("soc", 12, fixed_price=Decimal("1.50")),
    _Channel("bin", 2),
    _Channel("push", 3),
    _Channel("flash", 1),
)
_SMS = _Channel("sms", 0)
# WhatsApp has no flag: ``bot=wa:<the account's WhatsApp number>`` selects it. Its status ``type``
# is not documented; 14 is the emulator's choice.
_WHATSAPP = _Channel("wa", 14, fixed_price=Decimal("1.00"))
_WHATSAPP_BOT = re.compile(r"wa:[0-9]{7,15}")
# A voice call is billed in five-second blocks; about thirteen characters are spoken in five.
_CALL_CHARS_PER_BLOCK = 13


@attrs.define
class _Line:
    """One recipient of the request with its text and what became of it."""

    shown: str  # the recipient as echoed in per-number answers
    key: str  # normalized recipient (status.php looks messages up by it)
    text: str
    parts: int
    unit_price: Decimal
    operator: Operator | None
    status: int = -1  # per-number status in ``op``/``err`` answers
    error: int = 0
    final: tuple[int, int] = (1, 0)

    @property
    def failed(self) -> bool:
        return self.status != -1

    @property
    def cost(self) -> Decimal:
        return Decimal("0") if self.failed else self.unit_price * self.parts


def _fail(code: int, id: str | None = None) -> GatewayError:
    return GatewayError(code, ERRORS.get(code, PARAMETERS_ERROR), id=id)


def _message_id(params: Mapping[str, str]) -> str | None:
    value = params.get("id", "").strip()
    if value in ("", "0"):  # the official libraries send id=0 for "none"
        return None
    if not _ID.fullmatch(value):
        raise _fail(1)
    return value


def _channel(params: Mapping[str, str]) -> _Channel:
    for channel in _CHANNELS:
        if flag(params, channel.flag):
            return channel
    bot = params.get("bot", "").strip()
    if bot[:3].lower() == "wa:":
        if not _WHATSAPP_BOT.fullmatch(bot.lower()):
            raise _fail(1)
        return _WHATSAPP
    return _SMS


def _sender(params: Mapping[str, str]) -> str:
    value = params.get("sender", "")
    if value in ("", "."):
        return ""
    if _SENDER_DIGITS.fullmatch(value) or _SENDER_NAME.fullmatch(value):
        return value
    raise _fail(1)


def _mail_sender(params: Mapping[str, str]) -> str:
    value = params.get("sender", "").strip()
    if value and not _EMAIL.fullmatch(value):
        raise _fail(1)
    return value


def _texts(params: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(recipients, text)`` pairs from ``phones`` + ``mes`` or from ``list``."""
    listing = params.get("list", "")
    if listing.strip():
        pairs = []
        for line in listing.splitlines():
            if not line.strip():
                continue
            recipients, sep, text = line.partition(":")
            if not sep:
                raise _fail(1)
            pairs.append((recipients, text.replace("\\n", "\n")))
        return pairs
    return [(params.get("phones", ""), params.get("mes", ""))]


def _local_offset(params: Mapping[str, str]) -> int:
    value = params.get("tz", "").strip()
    if not value:
        return _MOSCOW
    if not re.fullmatch(r"[+-]?[0-9]{1,2}", value) or not -12 <= int(value) <= 12:
        raise _fail(5)
    return _MOSCOW + int(value)


def schedule(value: str, offset_hours: int, now: float) -> float:
    """The unix time a ``time`` parameter asks for (``now`` when immediate or past).

    Accepts ``DDMMYYhhmm``, ``DD.MM.YY hh:mm`` (also a four-digit year and seconds), ``h1-h2`` (an
    hour window), ``0<unix timestamp>``, ``+<minutes>`` and ``0``; anything else is ``ValueError``.
    """
    text = value.strip()
    if text in ("", "0"):
        return now
    zone = timezone(timedelta(hours=offset_hours))
    if re.fullmatch(r"\+[0-9]{1,6}", text):
        return now + 60 * int(text[1:])
    window = re.fullmatch(r"([0-9]{1,2})-([0-9]{1,2})", text)
    if window:
        first, last = int(window[1]), int(window[2])
        if not 0 <= first < last <= 24:
            raise ValueError(text)
        local = datetime.fromtimestamp(now, zone)
        if first <= local.hour < last:
            return now
        start = local.replace(hour=first, minute=0, second=0, microsecond=0)
        if start <= local:
            start += timedelta(days=1)
        return start.timestamp()
    compact = re.fullmatch(r"([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})", text)
    dotted = re.fullmatch(
        r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{2}|[0-9]{4}) ([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?",
        text,
    )
    if compact or dotted:
        parts = (compact or dotted).groups()  # type: ignore[union-attr]
        year = int(parts[2])
        moment = datetime(
            year + 2000 if year < 100 else year,
            int(parts[1]),
            int(parts[0]),
            int(parts[3]),
            int(parts[4]),
            int(parts[5]) if len(parts) > 5 and parts[5] else 0,
            tzinfo=zone,
        )
        return max(moment.timestamp(), now)
    if re.fullmatch(r"0[0-9]{1,12}", text):
        return max(float(int(text)), now)
    raise ValueError(text)


def _check_valid(params: Mapping[str, str]) -> None:
    value = params.get("valid", "").strip()
    if not value:
        return
    hours = re.fullmatch(r"[0-9]{1,2}", value)
    clock = re.fullmatch(r"([0-9]{1,2}):([0-9]{2})", value)
    if hours and 1 <= int(value) <= 24:
        return
    if clock and int(clock[2]) < 60 and (0, 1) <= (int(clock[1]), int(clock[2])) <= (24, 0):
        return
    raise _fail(1)


def _maxsms(params: Mapping[str, str]) -> int | None:
    value = params.get("maxsms", "").strip()
    if not value or value == "0":
        return None
    if not value.isdigit():
        raise _fail(1)
    return int(value)


def _measure(
    channel: _Channel, text: str, params: Mapping[str, str], maxsms: int | None
) -> tuple[str, int]:
    """The text as sent (cut to ``maxsms`` parts) and its count of parts (or call blocks)."""
    if not channel.needs_text or (channel.fixed_price is not None and channel.flag != "call"):
        return text, 1
    if channel.flag == "call":
        return text, max(1, -(-len(text) // _CALL_CHARS_PER_BLOCK))
    if channel.flag == "bin":
        if params.get("bin", "").strip() == "2":
            if not _HEX.fullmatch(text):
                raise _fail(1)
            return text, count_binary_parts(len(text) // 2)
        return text, count_binary_parts(len(text.encode("latin-1", "replace")))
    chunks = split(text)
    if maxsms is not None and len(chunks) > maxsms:
        chunks = chunks[:maxsms]
        text = "".join(chunks)
    return text, len(chunks)


def _line(channel: _Channel, recipient: str, text: str, parts: int) -> _Line:
    raw = recipient.strip()
    if channel.flag == "mail":
        ok = _EMAIL.fullmatch(raw) is not None
        line = _Line(raw, raw.lower(), text, parts, channel.fixed_price or Decimal("0"), None)
        if not ok:
            line.status, line.error = 22, 249
        return line
    if channel.flag == "tg" and _TELEGRAM.fullmatch(raw):
        return _Line(raw, raw.lower(), text, parts, channel.fixed_price or Decimal("0"), None)
    number = normalize(raw)
    if number is None:
        return _Line(raw.lstrip("+"), raw, text, parts, Decimal("0"), None, status=22, error=249)
    unit = channel.fixed_price if channel.fixed_price is not None else price(number)
    line = _Line(number, number, text, parts, unit, lookup(number))
    if number.startswith(RESERVED.undeliverable):
        line.status, line.error = 25, 248
    elif number.startswith(RESERVED.absent):
        line.final = (20, 1)
    elif number.startswith(RESERVED.unavailable):
        line.final = (25, 248)
    return line


def handle(ctx: Context) -> str:
    params, emu, acct = ctx.params, ctx.emulator, ctx.account
    given_id = _message_id(params)
    cost_mode = params.get("cost", "0").strip() or "0"
    if cost_mode not in ("0", "1", "2", "3"):
        raise _fail(1)
    channel = _channel(params)
    pairs = _texts(params)
    # An e-mail goes out from an address, not from an SMS sender name.
    sender = _mail_sender(params) if channel.flag == "mail" else _sender(params)
    _check_valid(params)
    maxsms = _maxsms(params)
    try:
        start_at = schedule(params.get("time", ""), _local_offset(params), ctx.now)
    except ValueError:
        raise _fail(5) from None
    translit = params.get("translit", "0").strip() in ("1", "2")

    lines: list[_Line] = []
    seen: set[str] = set()
    for recipients, raw_text in pairs:
        text = transliterate(raw_text) if translit else raw_text
        if (channel.needs_text and not text.strip()) or len(text) > MAX_TEXT:
            raise _fail(1)
        text, parts = _measure(channel, text, params, maxsms)
        for recipient in _RECIPIENTS.split(recipients):
            if not recipient.strip():
                continue
            line = _line(channel, recipient, text, parts)
            if line.key not in seen:
                seen.add(line.key)
                lines.append(line)
    if not lines:
        raise _fail(1)

    msg_id = given_id or emu.next_message_id()
    if all(line.status == 22 for line in lines):
        raise _fail(7, msg_id)
    texts = {line.text.lower() for line in lines}
    if any(word in text for word in emu.forbidden_words for text in texts):
        raise _fail(6, msg_id)
    accepted = [line for line in lines if not line.failed]
    if not accepted:
        raise _fail(8, msg_id)
    total = sum((line.cost for line in accepted), Decimal("0"))
    cnt = sum(line.parts for line in accepted)

    if cost_mode != "1":
        if total > acct.spendable():
            raise _fail(3, msg_id)
        acct.balance -= total
        for line in accepted:
            emu.store_message(
                acct,
                Message(
                    id=msg_id,
                    phone=line.key,
                    text=line.text,
                    sender=sender,
                    cost=line.cost,
                    parts=line.parts,
                    type=channel.type,
                    sent_at=ctx.now,
                    start_at=start_at,
                    final_status=line.final[0],
                    final_err=line.final[1],
                    operator=line.operator,
                ),
            )
        emu.stats.sms += cnt

    shown = lines if flag(params, "op") else [x for x in lines if x.failed]
    per_number = flag(params, "op") or flag(params, "err")
    return _render(
        ctx.fmt, cost_mode, msg_id, cnt, total, acct.balance, shown if per_number else None
    )


def _phone_entry(line: _Line) -> dict[str, object]:
    return {
        "phone": line.shown,
        "mccmnc": line.operator.mccmnc if line.operator else "",
        "cost": money(line.cost),
        "status": line.status,
        "error": line.error,
    }


def _render(
    fmt: int,
    cost_mode: str,
    msg_id: str,
    cnt: int,
    total: Decimal,
    balance: Decimal,
    phones: list[_Line] | None,
) -> str:
    fields: list[tuple[str, object]]
    if cost_mode == "1":
        fields = [("cost", money(total)), ("cnt", cnt)]
        line0 = f"{money(total)} ({cnt} SMS)"
    else:
        fields = [("id", msg_id), ("cnt", cnt)]
        line0 = f"OK - {cnt} SMS, ID - {msg_id}"
        if cost_mode in ("2", "3"):
            fields.append(("cost", money(total)))
            line0 += f", COST - {money(total)}"
        if cost_mode == "3":
            fields.append(("balance", money(balance)))
            line0 += f", BALANCE - {money(balance)}"
    if fmt == 0:
        return line0
    if fmt == 1:
        return csv(value for _, value in fields)
    if fmt == 2:
        inner = "".join(f"<{name}>{value}</{name}>\n" for name, value in fields)
        if phones is not None:
            entries = "".join(xml_attrs("phone", _phone_entry(x).items()) + "\n" for x in phones)
            inner += f"<phones>\n{entries}</phones>\n"
        return f"<result>\n{inner}</result>"
    obj: dict[str, object] = dict(fields)
    if "id" in obj:
        obj["id"] = json_id(msg_id)
    if phones is not None:
        obj["phones"] = [_phone_entry(x) for x in phones]
    return to_json(obj)
