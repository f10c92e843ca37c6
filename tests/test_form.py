"""The POST body the session writes itself is exactly what ``urllib.parse.urlencode`` writes."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from hypothesis import given
from hypothesis import strategies as st

from smsc_async._redact import Credentials, Form

_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
_PLAINISH = st.text(st.sampled_from("0123456789,+ ;%&=.-_~aZ"), max_size=40)


@given(st.dictionaries(_TEXT | _PLAINISH, _TEXT | _PLAINISH, max_size=8), _TEXT, _TEXT)
def test_the_body_is_urlencodes_byte_for_byte(
    params: dict[str, str], login: str, password: str
) -> None:
    form = Form(params, Credentials(login or "demo", password or "demo", None), (("fmt", "3"),))
    body = form.encoded()
    assert body == urlencode(dict(form)).encode("ascii")
    assert dict(parse_qsl(body.decode("ascii"), keep_blank_values=True)) == dict(form)


def test_a_phone_list_keeps_its_digits_and_escapes_its_commas() -> None:
    form = Form({"phones": "79161234567,79031234567"}, Credentials("demo", "p&ss=1", None))
    assert form.encoded() == b"phones=79161234567%2C79031234567&login=demo&psw=p%26ss%3D1"
