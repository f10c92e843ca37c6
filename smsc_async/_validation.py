"""Argument checks that run before any request leaves.

Each check names the argument and says what is wrong with the value; credentials are never quoted.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from ._constants import (
    MAX_DIGIT_SENDER_LENGTH,
    MAX_MESSAGE_ID,
    MAX_MESSAGE_LENGTH,
    MAX_MONEY,
    MAX_SENDER_LENGTH,
    SEND_TIME_YEARS,
)
from ._converter import moscow_time

__all__ = [
    "check_choice",
    "check_flag",
    "check_int",
    "check_message",
    "check_message_id",
    "check_money",
    "check_phone",
    "check_phones",
    "check_sender",
    "check_str",
    "format_send_time",
    "format_valid",
    "list_items",
]

T = TypeVar("T")

# Formatting people put into numbers; stripped before the digits are checked.
_PHONE_NOISE = re.compile(r"[\s\-().]")
_PHONE = re.compile(r"\+?[1-9][0-9]{6,14}")
_STRING_ID = re.compile(r"[A-Za-z0-9._-]{1,40}")
_SENDER_CHARS = re.compile(r"[A-Za-z0-9 !#$%&'*+\-./:;<=>?@_~,\"]*")


def _type_name(value: object) -> str:
    return type(value).__name__


def check_str(name: str, value: object, *, allow_empty: bool = False) -> str:
    """``value`` as a str, else TypeError; empty only when allowed."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {_type_name(value)}")
    if not allow_empty and not value.strip():
        raise ValueError(f"{name} must not be empty")
    return value


def check_phone(value: object, name: str = "phone") -> str:
    """One international number: 7 to 15 digits, optional leading ``+``; formatting is dropped."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {_type_name(value)}")
    phone = _PHONE_NOISE.sub("", value)
    if not _PHONE.fullmatch(phone):
        raise ValueError(
            f"{name}: {value!r} is not a phone number in international format "
            "(7 to 15 digits, optional leading '+')"
        )
    return phone


def list_items(value: object, name: str) -> Iterable[Any]:
    """The items of a ``,``/``;`` separated string, or of an iterable (not bytes or a dict)."""
    if isinstance(value, str):
        return [item for item in re.split(r"[,;]", value) if item.strip()]
    if isinstance(value, Iterable) and not isinstance(value, (bytes, dict)):
        return value
    raise TypeError(f"{name} must be a str or an iterable of str, not {_type_name(value)}")


def check_phones(value: object, name: str = "phones") -> list[str]:
    """One number, a ``,``/``;`` separated string of them, or an iterable of numbers."""
    phones = [check_phone(p, name) for p in list_items(value, name)]
    if not phones:
        raise ValueError(f"{name} must name at least one number")
    return phones


def check_message(value: object, name: str = "message") -> str:
    """Message text: non-empty, at most 1000 characters."""
    text = check_str(name, value)
    if len(text) > MAX_MESSAGE_LENGTH:
        raise ValueError(
            f"{name} is {len(text)} characters long; the gateway takes at most {MAX_MESSAGE_LENGTH}"
        )
    return text


def check_message_id(value: object, name: str = "id") -> str:
    """A message id: an int in 1..2147483647 or up to 40 of ``[A-Za-z0-9._-]``."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int or a str, not bool")
    if isinstance(value, int):
        if not 1 <= value <= MAX_MESSAGE_ID:
            raise ValueError(f"{name} must be in 1..{MAX_MESSAGE_ID}, got {value}")
        return str(value)
    if isinstance(value, str):
        if not _STRING_ID.fullmatch(value):
            raise ValueError(
                f"{name}: {value!r} must be 1 to 40 Latin letters, digits, '.', '-' or '_'"
            )
        return value
    raise TypeError(f"{name} must be an int or a str, not {_type_name(value)}")


def check_sender(value: object, name: str = "sender") -> str:
    """Sender name: up to 11 characters, or up to 15 digits; ``""`` or ``"."`` drop the default."""
    sender = check_str(name, value, allow_empty=True)
    if sender in ("", "."):
        return sender
    # isascii() first: str.isdigit() is also true of '١٢٣' and '²³¹', which no operator shows.
    if sender.isascii() and sender.isdigit():
        if len(sender) > MAX_DIGIT_SENDER_LENGTH:
            raise ValueError(
                f"{name}: a digit-only sender has at most 15 digits, got {len(sender)}"
            )
        return sender
    if len(sender) > MAX_SENDER_LENGTH:
        raise ValueError(f"{name}: {sender!r} is longer than {MAX_SENDER_LENGTH} characters")
    if not _SENDER_CHARS.fullmatch(sender):
        raise ValueError(
            f"{name}: {sender!r} may hold only Latin letters, digits, space and symbols"
        )
    return sender


def check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """An int (not bool) in ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {_type_name(value)}")
    if value < low or (high is not None and value > high):
        upper = "" if high is None else str(high)
        raise ValueError(f"{name} must be in {low}..{upper}, got {value}")
    return value


def check_flag(name: str, value: object) -> str:
    """A bool option as the gateway's ``"0"``/``"1"``."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {_type_name(value)}")
    return "1" if value else "0"


def check_choice(name: str, value: T, choices: Iterable[T]) -> T:
    """One of the documented values."""
    allowed = tuple(choices)
    if isinstance(value, bool) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


def format_send_time(value: object, name: str = "time") -> str:
    """When to send: an aware datetime (sent as Moscow time) or a timedelta from now.

    The gateway reads ``DD.MM.YY hh:mm`` with a two-digit year, so only years 2000..2099 (in
    Moscow) can be expressed; any other year would be read as one of those (2126 as 2026, i.e.
    at once) and is refused.
    """
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware; a naive datetime is ambiguous")
        first, last = SEND_TIME_YEARS
        try:
            moscow = value.astimezone(moscow_time())
        except (OverflowError, ValueError):
            # datetime.max/min with an offset: outside what Python itself can convert.
            moscow = None
        if moscow is None or not first <= moscow.year <= last:
            raise ValueError(
                f"{name} must fall in the years {first}..{last} (Moscow time): the gateway reads "
                f"a two-digit year, got {value.isoformat()}"
            )
        return moscow.strftime("%d.%m.%y %H:%M")
    if isinstance(value, dt.timedelta):
        minutes = int(value.total_seconds() // 60)
        if minutes < 0:
            raise ValueError(f"{name} must not be negative, got {value}")
        return f"+{minutes}"
    raise TypeError(f"{name} must be a datetime or a timedelta, not {_type_name(value)}")


def check_money(name: str, value: object, *, places: int = 2) -> str:
    """A positive amount of money with at most ``places`` decimals, as the gateway writes it.

    Takes a :class:`~decimal.Decimal`, an int or a numeric str (never a float, whose binary
    error would be sent); NaN, infinities and amounts of :data:`MAX_MONEY` or more are refused.
    """
    if isinstance(value, (bool, float)) or not isinstance(value, (Decimal, int, str)):
        raise TypeError(f"{name} must be a Decimal, int or str, not {_type_name(value)}")
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{name}: {value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{name} must be a finite amount, got {value!r}")
    # Bounded before quantize(): a huge exponent would overflow the decimal context.
    if not 0 < number < MAX_MONEY:
        raise ValueError(f"{name} must be positive and below {MAX_MONEY}, got {value!r}")
    step = Decimal(1).scaleb(-places)
    if number != number.quantize(step):
        raise ValueError(f"{name} must have at most {places} decimals, got {value!r}")
    return f"{number:.{places}f}"


def format_valid(value: object, name: str = "valid") -> str:
    """Lifetime at the operator: whole hours 1..24 or a timedelta up to 24 hours."""
    if isinstance(value, dt.timedelta):
        minutes = int(value.total_seconds() // 60)
        if not 1 <= minutes <= 24 * 60:
            raise ValueError(f"{name} must be between 1 minute and 24 hours, got {value}")
        return f"{minutes // 60:02d}:{minutes % 60:02d}"
    return str(check_int(name, value, 1, 24))
