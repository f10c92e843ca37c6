"""How many SMS parts a text takes: GSM 03.38 7-bit versus UCS-2, and transliteration."""

from __future__ import annotations

_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each of these costs two septets (an escape plus the character).
_GSM_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM_SINGLE, GSM_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
BINARY_SINGLE, BINARY_PART = 140, 134

_TRANSLIT = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
    "и": "i", "й": "j", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "c", "ч": "ch", "ш": "sh", "щ": "sch",
    "ъ": "", "ы": "y", "ь": "'", "э": "e", "ю": "yu", "я": "ya",
}  # fmt: skip


def is_gsm7(text: str) -> bool:
    """Whether ``text`` fits the GSM 7-bit alphabet (basic table plus extension)."""
    return all(c in _GSM_BASIC or c in _GSM_EXTENSION for c in text)


def _pack(units: list[int], single: int, part: int) -> list[int]:
    """Split per-character unit costs into parts; a character never straddles two parts."""
    if sum(units) <= single:
        return [len(units)]
    parts: list[int] = []
    used = count = 0
    for cost in units:
        if used + cost > part:
            parts.append(count)
            used = count = 0
        used += cost
        count += 1
    parts.append(count)
    return parts


def split(text: str) -> list[str]:
    """``text`` cut into the SMS parts the gateway would send (one part for an empty text)."""
    if is_gsm7(text):
        units = [2 if c in _GSM_EXTENSION else 1 for c in text]
        sizes = _pack(units, GSM_SINGLE, GSM_PART)
    else:
        units = [2 if ord(c) > 0xFFFF else 1 for c in text]
        sizes = _pack(units, UCS2_SINGLE, UCS2_PART)
    chunks: list[str] = []
    start = 0
    for size in sizes:
        chunks.append(text[start : start + size])
        start += size
    return chunks


def count_parts(text: str) -> int:
    """Number of SMS parts for ``text``: 160/153 septets (GSM-7) or 70/67 characters (UCS-2)."""
    return len(split(text))


def count_binary_parts(size: int) -> int:
    """Number of SMS parts for ``size`` bytes of binary payload (140 single, 134 per part)."""
    if size <= BINARY_SINGLE:
        return 1
    return -(-size // BINARY_PART)


def transliterate(text: str) -> str:
    """Russian letters to Latin, as ``translit=1`` does, so the text fits GSM-7."""
    out: list[str] = []
    for c in text:
        low = c.lower()
        if low in _TRANSLIT:
            latin = _TRANSLIT[low]
            out.append(latin.capitalize() if c != low else latin)
        else:
            out.append(c)
    return "".join(out)
