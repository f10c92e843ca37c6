"""The identity key's number lists: the plain-digits shortcut against the general path."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from smsc_async._limits import _any_number_list, _number_list, identity_key

#: Numbers as clients write them, and characters that must send a list down the general path.
_number = st.text(alphabet="0123456789", max_size=15)
_plain = st.lists(_number, max_size=120).map(",".join)
_odd = st.text(alphabet="0123456789,;+ \t\n\u0663\u00b2\uff11x", max_size=60)


@settings(max_examples=1000, deadline=None)
@given(value=st.one_of(_plain, _odd, st.text(max_size=40)))
@example(value="")
@example(value=",,")
@example(value="79990000002,,79990000001,")
@example(value="7999\u0663,7")  # an Arabic-Indic digit
@example(value="+79990000001,79990000002")
@example(value="79990000001 79990000002")
def test_the_plain_list_shortcut_gives_the_general_key(value: str) -> None:
    assert _number_list(value) == _any_number_list(value)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("79990000002,79990000001", "+79990000001; 79990000002"),
        ("79990000001,,79990000002,", "79990000002 79990000001"),
    ],
)
def test_lists_written_differently_are_one_request(one: str, other: str) -> None:
    assert identity_key("/sys/send.php", {"phones": one, "mes": "x"}) == identity_key(
        "/sys/send.php", {"phones": other, "mes": "x"}
    )


def test_a_hundred_numbers_make_one_short_key_whatever_their_order() -> None:
    numbers = [f"7999{i:07d}" for i in range(100)]
    key = identity_key("/sys/send.php", {"phones": ",".join(numbers), "mes": "x"})
    again = identity_key("/sys/send.php", {"phones": ",".join(reversed(numbers)), "mes": "x"})
    assert key == again
    assert key.startswith("/sys/send.php#")
    assert len(key) <= 64
