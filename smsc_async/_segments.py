r"""How many SMS parts a text takes, before sending it: GSM-7 versus UCS-2, single versus split.

A text that fits the GSM 03.38 alphabet goes as 7-bit septets: 160 in one SMS, 153 per part once
it is split (a part loses 7 septets to the concatenation header). The extension characters
``^ { } \ [ ~ ] | €`` and form feed take two septets each (an escape plus the character). Any
other character forces UCS-2 for the whole text: 70 UTF-16 units in one SMS, 67 per part, and a
character outside the Basic Multilingual Plane (most emoji) takes two units. A character is never
split across two parts, so a part may hold one septet or unit less than its capacity.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import attrs

from ._validation import check_int, check_str

__all__ = ["Encoding", "Segments", "segments"]

Encoding = Literal["gsm7", "ucs2"]

_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("^{}\\[~]|€\f")

#: Capacity of one SMS and of one part of a split SMS, per encoding.
_CAPACITY: dict[str, tuple[int, int]] = {"gsm7": (160, 153), "ucs2": (70, 67)}


@attrs.frozen(kw_only=True)
class Segments:
    """How a text will be sent as SMS.

    ``encoding`` is ``"gsm7"`` or ``"ucs2"``; ``length`` the text's size in septets (GSM-7, with
    extension characters counted twice) or UTF-16 units (UCS-2); ``parts`` the number of SMS it
    takes (after the ``maxsms`` cap, if one was given); ``per_part`` the capacity of each part
    (160/70 for a single SMS, 153/67 for a split one); ``truncated`` whether ``maxsms`` cut the
    text short (the gateway sends only the first ``maxsms`` parts).
    """

    encoding: Encoding
    parts: int
    length: int
    per_part: int
    truncated: bool = False

    def cost(self, price_per_part: Decimal | int | str, recipients: int = 1) -> Decimal:
        """The price of sending the text to ``recipients`` numbers at ``price_per_part`` each.

        >>> segments("Hello").cost(Decimal("3.50"), recipients=2)
        Decimal('7.00')
        """
        check_int("recipients", recipients, 1)
        return Decimal(str(price_per_part)) * self.parts * recipients


def _units(text: str) -> tuple[Encoding, list[int]]:
    if all(c in _GSM_BASIC or c in _GSM_EXTENSION for c in text):
        return "gsm7", [2 if c in _GSM_EXTENSION else 1 for c in text]
    return "ucs2", [2 if ord(c) > 0xFFFF else 1 for c in text]


def _count_parts(units: list[int], part: int) -> int:
    parts, used = 1, 0
    for size in units:
        if used + size > part:
            parts += 1
            used = 0
        used += size
    return parts


def segments(text: str, *, maxsms: int | None = None) -> Segments:
    """Count the SMS parts ``text`` takes, as the gateway splits it (``maxsms`` caps the parts).

    An empty text takes no parts.

    >>> segments("Hello")
    Segments(encoding='gsm7', parts=1, length=5, per_part=160, truncated=False)
    >>> segments("Привет, " * 10).parts  # 80 characters of Cyrillic: UCS-2, split
    2
    >>> segments("x" * 500, maxsms=2)
    Segments(encoding='gsm7', parts=2, length=500, per_part=153, truncated=True)
    """
    check_str("text", text, allow_empty=True)
    if maxsms is not None:
        check_int("maxsms", maxsms, 1)
    encoding, units = _units(text)
    single, part = _CAPACITY[encoding]
    length = sum(units)
    if length == 0:
        return Segments(encoding=encoding, parts=0, length=0, per_part=single)
    if length <= single:
        return Segments(encoding=encoding, parts=1, length=length, per_part=single)
    parts = _count_parts(units, part)
    truncated = maxsms is not None and parts > maxsms
    if truncated:
        assert maxsms is not None
        parts = maxsms
    return Segments(
        encoding=encoding, parts=parts, length=length, per_part=part, truncated=truncated
    )
