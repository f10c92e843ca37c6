"""The aiohttp backend: chosen, sized, guarded, and indistinguishable from httpx in what it returns.

Every HTTP behaviour test also runs on aiohttp (tests/_transports.py); these pin what is the
backend's own: its selection, its connector, the trio guard, and that each transport fault maps to
the same exception on both backends.
"""

from __future__ import annotations

import gzip
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest

from smsc_async import (
    ConnectError,
    RequestTimeout,
    Session,
    SMSCError,
    TransportError,
    _http,
)
from smsc_async._http import make_client
from smsc_async.testing import Emulator, Fault, serve

httpx_aiohttp = pytest.importorskip("httpx_aiohttp")
aiohttp = pytest.importorskip("aiohttp")

BACKENDS = ("httpx", "aiohttp")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiohttp runs on asyncio only; the trio guard is tested below


def _inner(session: Session) -> httpx_aiohttp.AiohttpTransport:
    outer = session._client._transport
    inner = getattr(outer, "_inner", None)
    assert isinstance(inner, httpx_aiohttp.AiohttpTransport)
    return inner


@pytest.fixture
def url() -> Iterator[str]:
    """A fresh emulator on a loopback socket (not ``live_url``: these tests pick their backends)."""
    with serve(Emulator()) as base_url:
        yield base_url


@pytest.mark.anyio
async def test_connector_sized_to_the_concurrency_cap(url: str) -> None:
    async with Session("demo", "demo", base_url=url, http_backend="aiohttp") as smsc:
        await smsc.balance()
        client = _inner(smsc).client
        assert isinstance(client, aiohttp.ClientSession)
        assert client.connector is not None
        assert client.connector.limit == smsc.limits.concurrency == 14
    assert client.closed  # the session closed what it opened


@pytest.mark.anyio
async def test_httpx_backend_is_httpx_own_transport(url: str) -> None:
    async with Session("demo", "demo", base_url=url, http_backend="httpx") as smsc:
        assert isinstance(smsc._client._transport, httpx.AsyncHTTPTransport)


async def _scenario(smsc: Session) -> list[object]:
    """Answers whose content does not depend on when they were asked."""
    out: list[object] = [await smsc.balance()]
    out.append(await smsc.operator_info(["79161234567", "79031234567", "77011234567"]))
    out.append(await smsc.cost(["79161234567", "79031234567"], "Привет, мир"))
    sent = await smsc.send("79161234567", "code 1234", id=4242)
    out.append((sent.id, sent.cnt))
    for call in (lambda: smsc.status(10**9, "79161234567"), lambda: smsc.cost("7916123456", "x")):
        try:
            out.append(await call())
        except SMSCError as exc:
            out.append((type(exc), str(exc)))
    return out


@pytest.mark.anyio
async def test_identical_results_on_both_backends() -> None:
    answers = []
    for backend in BACKENDS:
        with serve(Emulator()) as url:  # a fresh gateway for each: the same ids, the same state
            async with Session("demo", "demo", base_url=url, http_backend=backend) as smsc:
                answers.append(await _scenario(smsc))
    assert answers[0] == answers[1]
    assert len(answers[0]) == 6


# -- faults below HTTP: the same exception, whichever backend -----------------------------------

Handler = Callable[[anyio.abc.SocketStream], Awaitable[None]]


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    """A TCP server on loopback that answers each connection with ``handler``."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def serve_one(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            try:
                await stream.receive(65536)
                await handler(stream)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve_one)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            tg.cancel_scope.cancel()


async def _garbage(stream: anyio.abc.SocketStream) -> None:
    await stream.send(b"this is not HTTP\r\n\r\n")


async def _truncated(stream: anyio.abc.SocketStream) -> None:
    await stream.send(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"balance":')


async def _silent(stream: anyio.abc.SocketStream) -> None:
    await anyio.sleep_forever()


async def _close(stream: anyio.abc.SocketStream) -> None:
    await stream.aclose()


FAULTS: dict[str, tuple[Handler | None, type[SMSCError], type[httpx.HTTPError]]] = {
    "refused": (None, ConnectError, httpx.ConnectError),
    "closed without an answer": (_close, TransportError, httpx.RemoteProtocolError),
    "not HTTP": (_garbage, TransportError, httpx.RemoteProtocolError),
    "truncated body": (_truncated, TransportError, httpx.RemoteProtocolError),
    # The session's whole-attempt deadline fires first: no transport error lies beneath it.
    "no answer in time": (_silent, RequestTimeout, type(None)),
}


async def _failure(url: str, backend: str, deadline: float = 30.0) -> BaseException:
    # A generous deadline: on a loaded machine a served answer may take long, and only the
    # silent server is meant to run into it.
    async with Session(
        "demo", "demo", base_url=url, http_backend=backend, timeout=deadline, retry=None
    ) as smsc:
        with pytest.raises(SMSCError) as caught:
            await smsc.balance()
    return caught.value


@pytest.mark.anyio
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_faults_map_to_the_same_errors(fault: str) -> None:
    handler, error, cause = FAULTS[fault]
    seen = []
    for backend in BACKENDS:
        if handler is None:
            with socket_closed_port() as url:
                exc = await _failure(url, backend)
        else:
            async with raw_server(handler) as url:
                exc = await _failure(url, backend, 0.2 if handler is _silent else 30.0)
        seen.append((type(exc), type(exc.__cause__)))
    assert seen == [(error, cause), (error, cause)]


@pytest.mark.anyio
async def test_a_dropped_answer_maps_as_httpx_maps_it() -> None:
    seen = []
    emulator = Emulator()
    with serve(emulator) as url:
        for backend in BACKENDS:
            emulator.inject(Fault(kind="drop", path="/sys/balance.php", times=1))
            exc = await _failure(url, backend)
            seen.append((type(exc), type(exc.__cause__)))
    assert seen == [(TransportError, httpx.RemoteProtocolError)] * 2


class socket_closed_port:
    """A loopback URL on which nothing listens (the port was bound, then freed)."""

    def __enter__(self) -> str:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        pass


# -- selection and its guards -------------------------------------------------------------------


def test_bad_http_backend_values_are_refused() -> None:
    with pytest.raises(ValueError, match="http_backend must be 'httpx' or 'aiohttp'"):
        Session("demo", "demo", http_backend="requests")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="http_backend must be a str"):
        Session("demo", "demo", http_backend=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not both"):
        Session("demo", "demo", http_backend="aiohttp", transport=httpx.MockTransport(print))
    with pytest.raises(ValueError, match="not both"):
        Session("demo", "demo", http_backend="aiohttp", http_client=httpx.AsyncClient())


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx_aiohttp", None)  # as if not installed
    with pytest.raises(ImportError, match=r"smsc-async\[aiohttp\]"):
        make_client("aiohttp", transport=None, timeout=1.0, concurrency=1, headers={})


@pytest.mark.parametrize("anyio_backend", ["trio"])
@pytest.mark.anyio
async def test_trio_gets_a_clear_error(url: str) -> None:
    with pytest.raises(RuntimeError, match="asyncio only"):
        Session("demo", "demo", base_url=url, http_backend="aiohttp")


def test_trio_gets_a_clear_error_for_a_session_made_outside_it(url: str) -> None:
    import trio

    smsc = Session("demo", "demo", base_url=url, http_backend="aiohttp")

    async def use() -> None:
        async with smsc:
            await smsc.balance()

    with pytest.raises(RuntimeError, match="asyncio only"):
        trio.run(use)


# -- the client around the aiohttp transport ----------------------------------------------------


def _captured(make: Callable[[httpx.AsyncBaseTransport], Any]) -> list[httpx.Request]:
    """The requests a session's client built by ``make`` hands its transport for two posts."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b'{"balance": "1.00"}')

    async def main() -> None:
        client = make(httpx.MockTransport(answer))
        for path, body, ext in (("/sys/balance.php", b"a=1&b=%2C", None), ("/x", b"", {"k": 1})):
            request = client.build_request(
                "POST",
                "http://127.0.0.1:9/base" + path,
                content=body,
                headers={"Content-Type": "application/x-www-form-urlencoded", "X-One": "1"},
                extensions=ext,
            )
            response = await client.send(request, stream=True)
            assert await response.aread() == b'{"balance": "1.00"}'
            await response.aclose()
        await client.aclose()

    anyio.run(main)
    return seen


def test_the_transport_client_builds_what_httpx_client_builds() -> None:
    # The aiohttp backend skips httpx.AsyncClient; the transport must see the very same request.
    settings: dict[str, Any] = {"timeout": 7.5, "concurrency": 3, "headers": {"User-Agent": "ua"}}
    ours = _captured(lambda t: _http._TransportClient(t, timeout=7.5, headers={"User-Agent": "ua"}))
    theirs = _captured(lambda t: make_client("httpx", transport=t, **settings))
    assert len(ours) == len(theirs) == 2
    for mine, httpx_own in zip(ours, theirs, strict=True):
        assert mine.method == httpx_own.method
        assert mine.url == httpx_own.url
        assert mine.headers.multi_items() == httpx_own.headers.multi_items()
        assert mine.content == httpx_own.content
        assert mine.extensions == httpx_own.extensions


def test_the_transport_client_streams_only() -> None:
    client = _http._TransportClient(
        httpx.MockTransport(lambda r: httpx.Response(200)), timeout=1.0, headers={}
    )
    request = client.build_request("POST", "http://h/", content=b"", headers={}, extensions=None)
    with pytest.raises(ValueError, match="stream"):
        anyio.run(lambda: client.send(request, stream=False))


@pytest.mark.anyio
async def test_aiohttp_sessions_skip_httpx_client(url: str) -> None:
    async with Session("demo", "demo", base_url=url, http_backend="aiohttp") as smsc:
        assert not isinstance(smsc._client, httpx.AsyncClient)
        assert (await smsc.balance()).currency


# -- the body read straight from the transport's stream -----------------------------------------


def _answer(head: bytes, *parts: bytes) -> Handler:
    async def handler(stream: anyio.abc.SocketStream) -> None:
        await stream.send(head)
        for part in parts:
            await stream.send(part)
            await anyio.sleep(0.01)  # separate chunks on the wire

    return handler


_JSON = b'{"balance":"1.00"}'
_GZIP = gzip.compress(_JSON)
_BOMB = gzip.compress(b" " * 50_000)
BODIES: dict[str, Handler] = {
    "plain": _answer(b"HTTP/1.1 200 OK\r\nContent-Length: 18\r\n\r\n", _JSON),
    "in pieces": _answer(b"HTTP/1.1 200 OK\r\nContent-Length: 18\r\n\r\n", _JSON[:5], _JSON[5:]),
    "chunked": _answer(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"12\r\n" + _JSON + b"\r\n0\r\n\r\n",
    ),
    "gzip": _answer(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(_GZIP),
        _GZIP,
    ),
    "announced too large": _answer(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n", b"x" * 5000),
    "too large, unannounced": _answer(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", b"x" * 600, b"x" * 600
    ),
    "inflates too large": _answer(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(_BOMB),
        _BOMB,
    ),
    "corrupt gzip": _answer(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 10\r\n\r\n", b"not gzip!!"
    ),
    "truncated": _answer(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", _JSON),
    "cut mid-chunk": _answer(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"40\r\n" + _JSON
    ),
}


async def _read(url: str) -> object:
    """What the aiohttp backend's client and read_body make of one answer (or its error)."""
    from smsc_async._body import read_body

    client = make_client("aiohttp", transport=None, timeout=30.0, concurrency=1, headers={})
    try:
        request = client.build_request("POST", url, content=b"x=1", headers={}, extensions=None)
        response = await client.send(request, stream=True)
        try:
            return await read_body(response, 1000)
        except Exception as exc:
            cause = exc.__cause__
            return type(exc), str(exc), type(cause), getattr(exc, "request", None) is request
        finally:
            await response.aclose()
            assert response.is_closed
    finally:
        await client.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("body", list(BODIES))
async def test_the_straight_body_read_gives_what_aiter_raw_gives(
    body: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smsc_async import _body

    assert _body._Body is _http._Body  # the stream read_body takes straight: the backend's own
    async with raw_server(BODIES[body]) as url:
        straight = await _read(url)
        monkeypatch.setattr(_body, "_Body", type("Other", (), {}))  # every read via aiter_raw
        general = await _read(url)
    assert straight == general
    if body in ("plain", "in pieces", "chunked", "gzip"):
        assert straight == _JSON
    else:
        assert isinstance(straight, tuple)


_URLS = [
    "http://127.0.0.1:9/sys/info.php",
    "http://smsc.ru/sys/send.php",  # the default port: a Host without it
    "https://smsc.ru:443/sys/send.php",
    "http://[::1]:8080/x",
    "http://user:pw@smsc.ru:81/x?y=1",  # userinfo stays out of the Host
    "http://пример.рф/sys/info.php",  # IDNA
]
_REQUEST_HEADERS: list[dict[str, str]] = [
    {"Content-Type": "application/x-www-form-urlencoded", "Accept-Encoding": "gzip"},
    {},
    {"Host": "elsewhere"},
    {"content-length": "5"},
    {"Transfer-Encoding": "chunked"},
    {"X-Non-Ascii": "café"},
]


@pytest.mark.parametrize("url", _URLS)
@pytest.mark.parametrize("headers", _REQUEST_HEADERS)
@pytest.mark.parametrize("content", [b"login=a&psw=b&phone=79161234567%2C79031234567", b""])
@pytest.mark.parametrize(
    "session_headers", [{"User-Agent": "ua"}, {"User-Agent": "ua", "HOST": "h"}]
)
def test_a_built_request_is_the_one_httpx_client_builds(
    url: str, headers: dict[str, str], content: bytes, session_headers: dict[str, str]
) -> None:
    ours = _http._TransportClient(
        httpx.MockTransport(lambda r: httpx.Response(200)), timeout=7.5, headers=session_headers
    )
    theirs = make_client(
        "httpx", transport=None, timeout=7.5, concurrency=1, headers=session_headers
    )
    built = []
    for client in (ours, theirs):
        try:
            request = client.build_request(
                "POST", url, content=content, headers=headers, extensions={"k": 1}
            )
        except Exception as exc:  # the same refusal (a header httpx cannot encode)
            built.append((type(exc), str(exc)))
            continue
        built.append(
            (
                request.method,
                request.url,
                request.headers.raw,
                request.headers.encoding,
                request.content,
                b"".join(request.stream),  # type: ignore[arg-type]
                type(request.stream),
                request.extensions,
            )
        )
    anyio.run(theirs.aclose)
    assert built[0] == built[1]
