"""Keeping the session's secrets out of errors, logs, reprs and captured tracebacks.

:class:`Credentials` holds the login and the password or API key; its ``repr`` masks the secret,
so a traceback reporter that captures locals (``TracebackException(capture_locals=True)``, Sentry)
shows ``Credentials(login='alex', password=***)``. :class:`Form` is the mapping a request is
POSTed with: it carries the secret only while httpx encodes the body and masks it in its ``repr``.
:class:`Redactor` removes every form a secret can take in a server's text (raw, URL- and
form-encoded, HTML- and JSON-escaped) from whatever the session puts into an exception.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator, Mapping
from urllib.parse import quote, quote_plus

__all__ = ["MASK", "Credentials", "Form", "Redactor", "detach"]

#: What a secret is replaced with.
MASK = "***"


class Credentials:
    """A login with its password, or an API key; the secret never shows in ``repr``."""

    __slots__ = ("_fields", "kind", "login")

    def __init__(self, login: str | None, password: str | None, api_key: str | None) -> None:
        for name, value in (("login", login), ("password", password), ("api_key", api_key)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a str, not {type(value).__name__}")
            if value is not None and not value:
                raise ValueError(f"{name} must not be empty")
        if api_key is not None:
            if login is not None or password is not None:
                raise ValueError("pass either login and password or api_key, not both")
            self.kind = "api_key"
            self.login: str | None = None
            self._fields: tuple[tuple[str, str], ...] = (("apikey", api_key),)
        else:
            if login is None or password is None:
                raise ValueError("pass login and password, or api_key")
            self.kind = "password"
            self.login = login
            self._fields = (("login", login), ("psw", password))

    def __repr__(self) -> str:
        if self.kind == "api_key":
            return f"Credentials(api_key={MASK})"
        return f"Credentials(login={self.login!r}, password={MASK})"

    def fields(self) -> tuple[tuple[str, str], ...]:
        """The form fields that authenticate a request (``login``/``psw`` or ``apikey``)."""
        return self._fields

    def secrets(self) -> tuple[str, ...]:
        """The values that must never leave in clear: the password or the API key."""
        return tuple(value for name, value in self._fields if name != "login")

    def identity(self) -> str:
        """What names the login for a shared limiter: the login, or the API key when used alone."""
        if self.login is not None:
            return f"login:{self.login}"
        return f"apikey:{self._fields[0][1]}"


class Form(Mapping[str, str]):
    """The fields of one POST body; ``repr`` shows every field but the secret ones.

    httpx reads it as a plain mapping when it encodes the body.
    """

    __slots__ = ("_data",)

    def __init__(
        self,
        params: Mapping[str, str],
        credentials: Credentials,
        fixed: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self._data = {**params, **dict(fixed), **dict(credentials.fields())}

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        shown = {k: MASK if k in ("psw", "apikey") else v for k, v in self._data.items()}
        return f"Form({shown!r})"

    def encoded(self) -> bytes:
        """The body as ``application/x-www-form-urlencoded``, byte for byte ``urlencode``'s.

        urllib quotes byte by byte in Python; a list of 100 numbers took it ~90 µs. Values of
        letters, digits, ``,._~-`` (phone lists, ids, flags) need at most the commas escaped.
        Call it straight into the request: a local holding the result would show the password
        in a traceback's captured locals.
        """
        # Names go through the same short path as values (they are plain words).
        return "&".join(
            [f"{_form_value(k)}={_form_value(v)}" for k, v in self._data.items()]
        ).encode("ascii")


# What quote_plus leaves as it is, plus the comma (which it writes as %2C).
_PLAIN_OR_COMMA = re.compile(r"[A-Za-z0-9_.~,-]*")


def _form_value(value: str) -> str:
    if _PLAIN_OR_COMMA.fullmatch(value):
        return value.replace(",", "%2C")
    return quote_plus(value)


def _variants(secret: str) -> set[str]:
    """Every spelling of ``secret`` a server might echo back."""
    forms = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        html.escape(secret),
        html.escape(secret, quote=False),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    # Percent-encoding is case-insensitive in its hex digits: "%2f" is "%2F".
    forms |= {f.lower() for f in list(forms) if "%" in f}
    return {f for f in forms if f}


class Redactor:
    """Replaces every known spelling of the session's secrets in a text with ``***``."""

    __slots__ = ("_needles",)

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        needles: set[str] = set()
        for secret in secrets:
            needles |= _variants(secret)
        # Longest first, so a spelling that contains another is replaced whole.
        self._needles = tuple(sorted(needles, key=len, reverse=True))

    def __repr__(self) -> str:
        return f"Redactor({len(self._needles)} spellings)"

    def __call__(self, text: str) -> str:
        """``text`` with every spelling of a secret replaced by ``***``."""
        for needle in self._needles:
            if needle in text:
                text = text.replace(needle, MASK)
        return text

    def excerpt(self, text: str, length: int) -> str:
        """The first ``length`` characters of ``text`` once redacted.

        The whole text is redacted before it is cut (it is bounded by the answer size cap): cut
        first, a secret straddling the limit would leave its start behind, and a masked one
        earlier in the text would pull later characters into view.
        """
        return self(text)[:length]


def detach(exc: BaseException) -> BaseException:
    """Drop the tracebacks of ``exc`` and of every exception chained to it; return ``exc``.

    Frames inside httpx, httpcore and the decoder hold the request body or the answer (which may
    echo it) in their locals, and reporters that capture locals would send them off. The
    messages and the chain itself stay; re-raised, ``exc`` gets a traceback of the session's
    own frames only.
    """
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return exc
