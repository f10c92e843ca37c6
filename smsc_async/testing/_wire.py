"""The gateway's wire conventions: request parameters, charsets and the four answer formats.

Everything here is pure: bytes in, text out. The four formats (``fmt``) are the gateway's own:
0 a human-readable line, 1 comma-separated values, 2 XML, 3 JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import unquote_to_bytes
from xml.sax.saxutils import escape, quoteattr

import attrs

#: The gateway's default charset for reading requests and writing answers.
DEFAULT_CHARSET = "windows-1251"
# Names the gateway accepts in ``charset`` -> Python codec.
_CHARSETS = {
    "windows-1251": "cp1251",
    "cp1251": "cp1251",
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "koi8-r": "koi8_r",
    "koi8r": "koi8_r",
}
_CENT = Decimal("0.01")
_INT_ID = re.compile(r"[1-9][0-9]{0,9}")
_MAX_INT_ID = 2147483647


class GatewayError(Exception):
    """A gateway-level error answer: rendered as ``ERROR = N (text)`` or its fmt equivalent."""

    def __init__(self, code: int, text: str, *, id: str | None = None) -> None:
        super().__init__(f"{code} ({text})")
        self.code = code
        self.text = text
        self.id = id


@attrs.frozen(kw_only=True)
class Request:
    """One decoded request: merged parameters, the answer format and the charset's codec."""

    params: Mapping[str, str]
    fmt: int
    codec: str
    charset: str


def _pairs(raw: bytes) -> Iterator[tuple[bytes, bytes]]:
    for chunk in raw.split(b"&"):
        if not chunk:
            continue
        key, _, value = chunk.partition(b"=")
        yield (
            unquote_to_bytes(key.replace(b"+", b" ")),
            unquote_to_bytes(value.replace(b"+", b" ")),
        )


def parse_request(query: bytes, body: bytes, content_type: str = "") -> Request:
    """Merge the query string and a form body (the body wins on a repeated name) and decode them.

    The gateway decodes parameters in the request's own ``charset`` (default windows-1251), so the
    raw bytes are split first and decoded only once the charset is known.
    """
    raw = list(_pairs(query))
    if body and "multipart/" not in content_type:
        raw.extend(_pairs(body))
    charset = DEFAULT_CHARSET
    for key, value in raw:
        if key == b"charset":
            charset = value.decode("latin-1").strip().lower()
    codec = _CHARSETS.get(charset, "cp1251")
    if charset not in _CHARSETS:
        charset = DEFAULT_CHARSET
    params: dict[str, str] = {}
    for key, value in raw:
        params[key.decode(codec, "replace")] = value.decode(codec, "replace")
    fmt_text = params.get("fmt", "0").strip()
    fmt = int(fmt_text) if fmt_text in ("0", "1", "2", "3") else 0
    return Request(params=params, fmt=fmt, codec=codec, charset=charset)


def content_type(fmt: int, charset: str) -> bytes:
    """The ``Content-Type`` of an answer in ``fmt``."""
    kind = {2: "text/xml", 3: "application/json"}.get(fmt, "text/plain")
    return f"{kind}; charset={charset}".encode("ascii")


def money(value: Decimal) -> str:
    """Money as the gateway writes it: a decimal string with two places (``"250.80"``)."""
    return str(value.quantize(_CENT, rounding=ROUND_HALF_UP))


def json_id(value: str) -> int | str:
    """A message id as JSON: a number when it is the 32-bit integer form, else the string."""
    if _INT_ID.fullmatch(value) and int(value) <= _MAX_INT_ID:
        return int(value)
    return value


def to_json(value: object) -> str:
    """JSON with the gateway's spacing and non-ASCII text left readable."""
    return json.dumps(value, ensure_ascii=False)


def xml(root: str, fields: Iterable[tuple[str, object]]) -> str:
    """``<root>`` holding one element per field, one per line, as the documentation shows them."""
    inner = "".join(f"<{name}>{escape(str(value))}</{name}>\n" for name, value in fields)
    return f"<{root}>\n{inner}</{root}>"


def xml_attrs(tag: str, fields: Iterable[tuple[str, object]]) -> str:
    """An empty element carrying ``fields`` as attributes."""
    attributes = " ".join(f"{name}={quoteattr(str(value))}" for name, value in fields)
    return f"<{tag} {attributes}/>"


def key_values(fields: Iterable[tuple[str, object]]) -> str:
    """The fmt=0 line form: ``name = value, name = value``."""
    return ", ".join(f"{name} = {value}" for name, value in fields)


def csv(values: Iterable[object]) -> str:
    """The fmt=1 line form: values joined by commas."""
    return ",".join(str(v) for v in values)


def render_error(fmt: int, code: int, text: str, id: str | None = None) -> str:
    """The error envelope in ``fmt``; send errors 3, 6, 7 and 8 also carry the message ``id``."""
    if fmt == 1:
        return f"{id if id is not None else 0},-{code}"
    if fmt == 2:
        fields: list[tuple[str, object]] = [("error", text), ("error_code", code)]
        if id is not None:
            fields.append(("id", id))
        return xml("result", fields)
    if fmt == 3:
        obj: dict[str, object] = {"error": text, "error_code": code}
        if id is not None:
            obj["id"] = json_id(id)
        return to_json(obj)
    line = f"ERROR = {code} ({text})"
    return f"{line}, ID - {id}" if id is not None else line


def plain_error(code: int, text: str) -> str:
    """The plain ``ERROR = N (text)`` form some endpoints answer even when JSON was asked for."""
    return f"ERROR = {code} ({text})"


def render_ok(fmt: int) -> str:
    """The bare success answer of commands without data (delete, change)."""
    if fmt == 2:
        return "<result>OK</result>"
    if fmt == 3:
        return to_json({"result": "OK"})
    return "OK"


def flag(params: Mapping[str, str], name: str) -> bool:
    """Whether a ``0``/``1`` parameter is set."""
    return params.get(name, "0").strip() not in ("", "0")
