"""The pure segment calculator: GSM-7 versus UCS-2, single versus split, extension characters."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsc_async._segments import Segments, segments
from smsc_async.testing._sms import count_parts

EMOJI = "\U0001f600"  # outside the BMP: two UTF-16 units

CASES = [
    # (text, encoding, parts, length, per_part)
    ("", "gsm7", 0, 0, 160),
    ("Hello", "gsm7", 1, 5, 160),
    ("a" * 160, "gsm7", 1, 160, 160),
    ("a" * 161, "gsm7", 2, 161, 153),
    ("a" * 306, "gsm7", 2, 306, 153),
    ("a" * 307, "gsm7", 3, 307, 153),
    ("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¡ÄÖÑÜ§¿äöñüà", "gsm7", 1, 41, 160),
    ("€", "gsm7", 1, 2, 160),
    ("^{}\\[~]|€\f", "gsm7", 1, 20, 160),
    ("[" * 80, "gsm7", 1, 160, 160),
    ("[" * 81, "gsm7", 2, 162, 153),
    # 152 plain septets then an extension character: the escape pair may not straddle two parts.
    ("a" * 152 + "{" + "a" * 10, "gsm7", 2, 164, 153),
    ("a" * 159 + "€", "gsm7", 2, 161, 153),
    ("line one\nline two\r", "gsm7", 1, 18, 160),
    ("Привет", "ucs2", 1, 6, 70),
    ("я" * 70, "ucs2", 1, 70, 70),
    ("я" * 71, "ucs2", 2, 71, 67),
    ("я" * 134, "ucs2", 2, 134, 67),
    ("я" * 135, "ucs2", 3, 135, 67),
    # One non-GSM character turns the whole text to UCS-2, extension characters count once.
    ("a" * 69 + "я", "ucs2", 1, 70, 70),
    ("{" * 70 + "ж", "ucs2", 2, 71, 67),
    ("ç", "ucs2", 1, 1, 70),  # lower-case c-cedilla is not in GSM 03.38; only Ç is
    (EMOJI, "ucs2", 1, 2, 70),
    (EMOJI * 35, "ucs2", 1, 70, 70),
    (EMOJI * 36, "ucs2", 2, 72, 67),
    # 66 units then a surrogate pair: the pair goes whole into the second part.
    ("я" * 66 + EMOJI + "я" * 10, "ucs2", 2, 78, 67),
]


@pytest.mark.parametrize(("text", "encoding", "parts", "length", "per_part"), CASES)
def test_table(text: str, encoding: str, parts: int, length: int, per_part: int) -> None:
    assert segments(text) == Segments(
        encoding=encoding,  # type: ignore[arg-type]
        parts=parts,
        length=length,
        per_part=per_part,
    )


@pytest.mark.parametrize(
    ("text", "maxsms", "parts", "truncated"),
    [
        ("a" * 500, 2, 2, True),
        ("a" * 500, 4, 4, False),
        ("a" * 500, 10, 4, False),
        ("a" * 160, 1, 1, False),
        ("a" * 161, 1, 1, True),
        ("я" * 200, 2, 2, True),
    ],
)
def test_maxsms_caps_parts(text: str, maxsms: int, parts: int, truncated: bool) -> None:
    result = segments(text, maxsms=maxsms)
    assert (result.parts, result.truncated) == (parts, truncated)
    assert result.length == len(text)


def test_cost() -> None:
    assert segments("a" * 161).cost(Decimal("3.50")) == Decimal("7.00")
    assert segments("Hi").cost("1.20", recipients=3) == Decimal("3.60")
    assert segments("").cost(5) == 0


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: segments(b"bytes"), TypeError),  # type: ignore[arg-type]
        (lambda: segments(None), TypeError),  # type: ignore[arg-type]
        (lambda: segments("x", maxsms=0), ValueError),
        (lambda: segments("x", maxsms=True), TypeError),
        (lambda: segments("x").cost(1, recipients=0), ValueError),
    ],
)
def test_bad_input(call: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        call()  # type: ignore[operator]


_ALPHABET = st.sampled_from([*list("aZ0 @£€{}[]~^|\\\nяЖçé"), EMOJI])


@given(st.text(_ALPHABET, min_size=1, max_size=400))
def test_agrees_with_the_emulator(text: str) -> None:
    # The emulator's splitter is a separate implementation of the same rules; they must agree.
    assert segments(text).parts == count_parts(text)


@given(st.text(_ALPHABET, max_size=400))
def test_parts_bound_length(text: str) -> None:
    result = segments(text)
    if result.parts <= 1:
        assert result.length <= (160 if result.encoding == "gsm7" else 70)
    else:
        # Each part holds at most per_part and loses at most one unit to a split character.
        assert (result.parts - 1) * (result.per_part - 1) < result.length
        assert result.length <= result.parts * result.per_part
