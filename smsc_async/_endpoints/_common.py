"""Small shared pieces of the management endpoints: the ``OK`` answer, ids, e-mails, URLs, dates."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from .._converter import moscow_time
from .._errors import APIError, ProtocolError
from .._limits import Charger, uncharged
from .._validation import check_int, check_phone, check_str, list_items
from ._base import Endpoint, Kind, ok

__all__ = [
    "check_email",
    "check_recipient",
    "check_emails",
    "check_record_id",
    "check_urls",
    "expect_ok",
    "format_date",
    "ok_endpoint",
]

# Deliberately loose: the gateway is the judge of deliverability; this catches typos and lists
# passed as one string.
_EMAIL = re.compile(r"[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+")


def ok_endpoint(
    name: str,
    path: str,
    selector: tuple[tuple[str, str], ...] = (),
    *,
    errors: Mapping[int, type[APIError]],
    rules: Charger = uncharged,
    concurrency: str | None = None,
    kind: Kind = Kind.WRITE,
) -> Endpoint[str]:
    """A command whose success answer is the bare ``OK`` (``{"result": "OK"}`` in JSON)."""
    return Endpoint(
        name,
        path,
        lambda: str,
        selector,
        errors=errors,
        rules=rules,
        concurrency=concurrency,
        kind=kind,
        adapt=ok,
    )


def expect_ok(endpoint: Endpoint[str], result: str) -> None:
    """Raise ProtocolError unless the gateway said ``OK``."""
    if result.strip().upper() != "OK":
        raise ProtocolError(f"expected OK, got {result!r}", endpoint=endpoint.name)


def check_record_id(value: object, name: str = "id") -> str:
    """A server-assigned record id (template, mailing, contact, group): a positive int."""
    return str(check_int(name, value, 1))


def check_recipient(value: object, name: str = "phone") -> str:
    """A number, or an e-mail address: status.php finds e-mails by address as SMS by number."""
    if isinstance(value, str) and "@" in value:
        return check_email(value, name)
    return check_phone(value, name)


def check_email(value: object, name: str = "email") -> str:
    """One e-mail address."""
    address = check_str(name, value).strip()
    if not _EMAIL.fullmatch(address):
        raise ValueError(f"{name}: {value!r} is not an e-mail address")
    return address


def check_emails(value: object, name: str = "addresses") -> list[str]:
    """One address, a ``,``/``;`` separated string of them, or an iterable of addresses."""
    addresses = [check_email(a, name) for a in list_items(value, name)]
    if not addresses:
        raise ValueError(f"{name} must name at least one address")
    return addresses


def check_urls(value: object, name: str = "fileurls") -> list[str]:
    """One http(s) URL or an iterable of them (files the gateway fetches and attaches)."""
    items: Iterable[Any]
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, dict)):
        items = value
    else:
        raise TypeError(f"{name} must be a str or an iterable of str, not {type(value).__name__}")
    urls: list[str] = []
    for item in items:
        text = check_str(name, item).strip()
        try:
            url = httpx.URL(text)
        except Exception:  # httpx raises InvalidURL and others for garbage
            raise ValueError(f"{name}: {item!r} is not a URL") from None
        if url.scheme not in ("http", "https") or not url.host or "," in text:
            raise ValueError(f"{name}: {item!r} is not an http(s) URL without commas")
        urls.append(text)
    if not urls:
        raise ValueError(f"{name} must hold at least one URL")
    return urls


def format_date(value: object, name: str) -> str:
    """A calendar date as the gateway takes it: ``dd.mm.yyyy``."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware; a naive datetime is ambiguous")
        value = value.astimezone(moscow_time()).date()
    if isinstance(value, dt.date):
        return value.strftime("%d.%m.%Y")
    raise TypeError(f"{name} must be a date or a datetime, not {type(value).__name__}")
