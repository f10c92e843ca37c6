"""How many SMS parts a text takes: GSM 03.38 7-bit versus UCS-2, and transliteration."""

from __future__ import annotations

# 3GPP TS 23.038 §6.2.1, the GSM 7-bit default alphabet in code order 0x00-0x7F, 16 per row;
# 0x1B is the escape to the extension table, not a character of its own (written "\x1b" here
# and left out below).
_GSM_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
_GSM_BASIC = frozenset(_GSM_TABLE) - {"\x1b"}
# TS 23.038 §6.2.1.1, the extension table: code after the escape -> character. Each costs two
# septets (the escape plus the code).
_GSM_EXTENSION_TABLE = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}
_GSM_EXTENSION = frozenset(_GSM_EXTENSION_TABLE.values())

# smsc-api.md §3.1: "160 Latin / 70 Cyrillic chars per single SMS; 153 / 67 per part when split
# (UDH header)"; binary payloads: 140 bytes, 134 per part (the same 6-byte header).
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
