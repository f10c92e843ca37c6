"""Secrets stay secret: errors from pages that echo the request, captured locals, reprs, logs."""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any
from urllib.parse import quote, quote_plus

import anyio
import anyio.abc
import pytest

from smsc_async import (
    APIError,
    ProtocolError,
    SendUnconfirmedError,
    Session,
    SMSCError,
    TransportError,
)
from smsc_async._redact import Credentials, Form, Redactor

from .raw_http import body_of, raw_server, response_head

pytestmark = pytest.mark.anyio

PASSWORD = "pä ss/w&rd=%41+ü"
API_KEY = "k3y/with+plus&amp"
PHONE = "79161234567"
TEXT = "Your code 4242"


def spellings(secret: str) -> list[str]:
    encoded = [quote(secret, safe=""), quote_plus(secret, safe="")]
    return [secret, *encoded, *(e.lower() for e in encoded)]


def assert_clean(text: str, secret: str = PASSWORD) -> None:
    for spelling in spellings(secret):
        assert spelling not in text, spelling


def everything_about(exc: BaseException) -> str:
    """What a reporter could print: str, repr, attributes, and the traceback with its locals."""
    parts = [str(exc), repr(exc), repr(exc.args), repr(vars(exc))]
    cause = exc.__cause__
    while cause is not None:
        parts += [str(cause), repr(cause), repr(cause.args)]
        cause = cause.__cause__
    parts += traceback.TracebackException.from_exception(exc, capture_locals=True).format()
    return "\n".join(parts)


async def _echo_page(stream: anyio.abc.SocketStream, request: bytes) -> None:
    # A misconfigured proxy's error page quoting the request it could not forward.
    body = b"<html><body><pre>" + body_of(request) + b"</pre></body></html>"
    await stream.send(response_head(500, content_length=len(body)) + body)


async def _echo_json_error(stream: anyio.abc.SocketStream, request: bytes) -> None:
    text = body_of(request).decode()
    body = json.dumps({"error": f"bad request {text}", "error_code": 1}).encode()
    await stream.send(response_head(200, content_length=len(body)) + body)


async def _echo_then_drop(stream: anyio.abc.SocketStream, request: bytes) -> None:
    await stream.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n" + body_of(request))


async def _trickle_echo(stream: anyio.abc.SocketStream, request: bytes) -> None:
    await stream.send(response_head(200, content_length=100_000) + body_of(request))
    await anyio.sleep(60)


@pytest.mark.parametrize(
    ("handler", "kind"),
    [
        (_echo_page, ProtocolError),
        (_echo_json_error, APIError),
        (_echo_then_drop, TransportError),
        (_trickle_echo, TransportError),
    ],
    ids=["html-page", "json-error", "dropped", "timeout"],
)
@pytest.mark.parametrize("call", ["balance", "send"])
async def test_errors_never_carry_the_password(
    handler: Any, kind: type[SMSCError], call: str
) -> None:
    async with (
        raw_server(handler) as url,
        Session("demo", PASSWORD, base_url=url, timeout=1, retry=None) as smsc,
    ):
        request = smsc.balance() if call == "balance" else smsc.send(PHONE, TEXT)
        with pytest.raises(SMSCError) as info:
            await request

    exc = info.value
    expected: tuple[type[SMSCError], ...] = (kind,)
    if call == "send" and kind is not APIError:
        expected = (SendUnconfirmedError,)
    assert isinstance(exc, expected), repr(exc)
    report = everything_about(exc)
    assert_clean(report)
    if not isinstance(exc, APIError):  # an API error quotes the server, which may quote us
        assert PHONE not in str(exc) and TEXT not in str(exc)


async def test_the_api_key_is_redacted_too() -> None:
    # retry=None: the page is an HTTP 500, which the default policy retries for reads.
    async with (
        raw_server(_echo_page) as url,
        Session(api_key=API_KEY, base_url=url, retry=None) as smsc,
    ):
        with pytest.raises(ProtocolError) as info:
            await smsc.balance()
    assert "***" in info.value.excerpt
    assert_clean(everything_about(info.value), API_KEY)


def test_reprs_mask_the_secret() -> None:
    credentials = Credentials("alex", PASSWORD, None)
    assert repr(credentials) == "Credentials(login='alex', password=***)"
    assert repr(Credentials(None, None, API_KEY)) == "Credentials(api_key=***)"
    form = Form({"phones": PHONE}, credentials, (("fmt", "3"),))
    assert dict(form) == {"phones": PHONE, "fmt": "3", "login": "alex", "psw": PASSWORD}
    assert_clean(repr(form))
    session = Session("alex", PASSWORD)
    assert_clean(repr(session))
    assert_clean(repr(vars(session)))


def test_redactor_spellings() -> None:
    redact = Redactor((PASSWORD,))
    for spelling in spellings(PASSWORD):
        assert redact(f"x{spelling}y") == "x***y"
    assert redact("psw=p%C3%A4+ss%2Fw%26rd%3D%2541%2B%C3%BC&") == "psw=***&"
    assert redact('"pä ss/w&amp;rd=%41+ü"') == '"***"'  # HTML-escaped
    assert redact('"p\\u00e4 ss/w&rd=%41+\\u00fc"') == '"***"'  # JSON-escaped
    assert Redactor(())("anything") == "anything"
    # A secret cut by the excerpt's limit is still removed whole.
    assert redact.excerpt("ab" + PASSWORD + "cd", 5) == "ab***"


async def test_logs_carry_no_secret_and_no_personal_data(
    caplog: pytest.LogCaptureFixture, live_url: str
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx's and httpcore's included
    async with Session("demo", "demo", base_url=live_url, timeout=1) as smsc:
        await smsc.send(PHONE, TEXT)
        await smsc.balance()
    async with raw_server(_echo_page) as url, Session("demo", PASSWORD, base_url=url) as smsc:
        with pytest.raises(SendUnconfirmedError):
            await smsc.send(PHONE, TEXT)
    assert "send attempt 1" in caplog.text
    assert_clean(caplog.text)
    assert PHONE not in caplog.text and TEXT not in caplog.text
