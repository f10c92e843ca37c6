"""The HTTP client a session sends through: httpx's own transport, or aiohttp's on asyncio.

Either way the session builds ``httpx.Request`` objects and reads ``httpx.Response`` streams: the
same timeouts, the same headers, the same streaming reads (so any size cap on an answer applies
alike) and the same exception types. ``http_backend="httpx"`` sends through an
``httpx.AsyncClient``; ``http_backend="aiohttp"`` hands each request straight to
``httpx_aiohttp.AiohttpTransport`` (the transport openai-python offers) through the transport
interface, without an ``AsyncClient`` around it: the client's per-request work (URL merging,
cookies, auth and redirect handling, none of which a session uses) cost more CPU than the
transport itself. aiohttp spends a fraction of httpx's CPU per request; it runs on asyncio only,
so trio keeps httpx.

The mapping of aiohttp's failures to httpx's exceptions is redone here, because the transport's
own table files several of them under a different branch than httpx would (a refused connection
or a dropped answer as ``ConnectTimeout``, a malformed status line not at all): a session must
raise the same error for the same fault whichever backend carries it.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

import httpx

if TYPE_CHECKING:
    import aiohttp

__all__ = ["HTTP_BACKENDS", "Client", "HttpBackend", "make_client"]

HttpBackend = Literal["httpx", "aiohttp"]
HTTP_BACKENDS: tuple[HttpBackend, ...] = ("httpx", "aiohttp")

#: What ``http_backend=None`` means. Only the test suite's transport plugin
#: (tests/_transports.py) changes it, to run every HTTP test on both backends.
DEFAULT_BACKEND: HttpBackend = "httpx"

_ASYNCIO_ONLY = (
    "http_backend='aiohttp' runs on asyncio only; under trio use the default http_backend='httpx'"
)


def _in_trio() -> bool:
    trio = sys.modules.get("trio")  # never imported here: a program on asyncio has none
    if trio is None:
        return False
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True


class Client(Protocol):
    """What a session needs of its HTTP client: ``httpx.AsyncClient`` has it, so has ours."""

    def build_request(
        self,
        method: str,
        url: str,
        *,
        content: bytes,
        headers: Mapping[str, str],
        extensions: dict[str, Any] | None,
    ) -> httpx.Request: ...

    async def send(self, request: httpx.Request, *, stream: bool) -> httpx.Response: ...

    async def aclose(self) -> None: ...


def make_client(
    http_backend: str | None,
    *,
    transport: httpx.AsyncBaseTransport | None,
    timeout: float,
    concurrency: int,
    headers: dict[str, str],
) -> Client:
    """The session's client: a pool of ``concurrency`` connections on the chosen backend.

    ``http_backend`` is ``"httpx"``, ``"aiohttp"`` or ``None`` (the default, httpx). An injected
    ``transport`` wins over the default but not over an explicit ``"aiohttp"``.
    """
    if http_backend is not None and http_backend not in HTTP_BACKENDS:
        if not isinstance(http_backend, str):
            raise TypeError(f"http_backend must be a str, not {type(http_backend).__name__}")
        raise ValueError(f"http_backend must be 'httpx' or 'aiohttp', got {http_backend!r}")
    if http_backend == "aiohttp" and transport is not None:
        raise ValueError("pass transport or http_backend='aiohttp', not both")
    backend = http_backend if http_backend is not None else DEFAULT_BACKEND
    pool = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    if backend == "aiohttp" and transport is None:
        if _in_trio():
            raise RuntimeError(_ASYNCIO_ONLY)
        return _TransportClient(_aiohttp_transport(pool), timeout=timeout, headers=headers)
    return httpx.AsyncClient(
        transport=transport,
        timeout=timeout,
        limits=pool,
        headers=headers,
        follow_redirects=False,
    )


def _aiohttp_transport(pool: httpx.Limits) -> httpx.AsyncBaseTransport:
    try:
        from httpx_aiohttp import AiohttpTransport
    except ImportError:
        raise ImportError(
            "http_backend='aiohttp' needs the aiohttp extra: pip install 'smsc-async[aiohttp]'"
        ) from None
    # The transport sizes aiohttp's connector from the pool limits (``limit=max_connections``)
    # and opens its aiohttp session on the first request, inside the running loop.
    return _AiohttpTransport(AiohttpTransport(limits=pool))


# What httpx.AsyncClient puts on every request (bar the User-Agent, which the session sets).
_CLIENT_HEADERS = {"Accept": "*/*", "Accept-Encoding": "gzip, deflate", "Connection": "keep-alive"}


class _TransportClient:
    """A :class:`Client` that hands each request straight to one transport.

    It builds the request as ``httpx.AsyncClient`` would for a session (the client's default
    headers under the session's, the same timeout on every phase, no redirects followed) and
    skips the rest of the client's pipeline. The transport's response is returned as it is:
    the session streams it and closes it.
    """

    __slots__ = ("_headers", "_merges", "_timeout", "_transport", "_urls")

    def __init__(
        self, transport: httpx.AsyncBaseTransport, *, timeout: float, headers: Mapping[str, str]
    ) -> None:
        self._transport = transport
        self._timeout = httpx.Timeout(timeout).as_dict()
        self._headers = _merged(_CLIENT_HEADERS.items(), headers)
        # Each endpoint's URL parsed once: httpx parses a str URL on every request.
        self._urls: dict[str, httpx.URL] = {}
        # The headers of a request merged over the client's, by the request's own (a session
        # passes one constant set), and whether httpx would add the Host and Content-Length.
        self._merges: dict[tuple[tuple[str, str], ...], tuple[list[tuple[str, str]], bool]] = {}

    def build_request(
        self,
        method: str,
        url: str,
        *,
        content: bytes,
        headers: Mapping[str, str],
        extensions: dict[str, Any] | None,
    ) -> httpx.Request:
        parsed = self._urls.get(url)
        if parsed is None:
            if len(self._urls) >= 64:  # a session posts to a few dozen paths of one host
                self._urls.clear()
            parsed = self._urls[url] = httpx.URL(url)
        timeout = {"timeout": self._timeout}
        extensions = timeout if extensions is None else {**timeout, **extensions}
        own = tuple(headers.items())
        known = self._merges.get(own)
        if known is None:
            if len(self._merges) >= 64:
                self._merges.clear()
            merged = _merged(self._headers, headers)
            known = self._merges[own] = merged, _plain_headers(merged)
        merged, plain = known
        if content and plain and parsed.host:
            # What content= makes httpx add (the Host first, the Content-Length last, as its
            # _prepare orders them when the caller set neither), added here: encoding the
            # content and merging those headers in took two thirds of building the request.
            fields = [("Host", parsed.netloc.decode("ascii")), *merged]
            fields.append(("Content-Length", str(len(content))))
            request = httpx.Request(
                method,
                parsed,
                headers=fields,
                stream=httpx.ByteStream(content),
                extensions=extensions,
            )
            request.read()  # as content= leaves it: the body in .content
            return request
        return httpx.Request(method, parsed, content=content, headers=merged, extensions=extensions)

    async def send(self, request: httpx.Request, *, stream: bool = True) -> httpx.Response:
        """The transport's response, its body not read yet (``stream`` must be true)."""
        if not stream:
            raise ValueError("the session reads every answer as a stream")
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        await self._transport.aclose()


def _merged(base: Iterable[tuple[str, str]], over: Mapping[str, str]) -> list[tuple[str, str]]:
    """``over`` merged into ``base`` as ``httpx.Headers.update`` merges them.

    A name given again (in any case) leaves its old place and goes to the end with the rest of
    ``over``, as ``httpx.AsyncClient`` merges a request's headers into its own.
    """
    replaced = {name.lower() for name in over}
    kept = [(name, value) for name, value in base if name.lower() not in replaced]
    return kept + list(over.items())


# Headers whose presence changes what httpx adds to a request with content.
_FRAMING = frozenset({"host", "content-length", "transfer-encoding"})


def _plain_headers(headers: Iterable[tuple[str, str]]) -> bool:
    """Whether ``headers`` leave httpx to add the Host and Content-Length itself."""
    return not any(name.lower() in _FRAMING for name, _ in headers)


class _AiohttpTransport(httpx.AsyncBaseTransport):
    """``AiohttpTransport`` with httpx's exception types and an asyncio-only guard."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import asyncio

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(_ASYNCIO_ONLY) from None
        with _HttpxErrors(request):
            response = await self._inner.handle_async_request(request)
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        # The transport's own response (made for this request, held by no one else) with its
        # stream wrapped: a second Response would parse the same headers again.
        response.stream = _Body(stream, request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Body(httpx.AsyncByteStream):
    """The answer's body, with read failures mapped as httpx maps them.

    :func:`~smsc_async._body.read_body` iterates it straight, without ``Response.aiter_raw``:
    its failures carry their request already, and the chunks need no re-chunking.
    """

    def __init__(self, inner: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self._inner = inner
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _HttpxErrors(self._request):
            async for chunk in self._inner:
                yield chunk

    async def aclose(self) -> None:
        with _HttpxErrors(self._request):
            await self._inner.aclose()


class _HttpxErrors:
    """Within it, aiohttp's failures (bare or wrapped by the transport) become httpx's.

    A class rather than a ``@contextmanager`` generator: it is entered three times a request.
    """

    __slots__ = ("_request",)

    def __init__(self, request: httpx.Request) -> None:
        self._request = request

    def __enter__(self) -> None:
        pass

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        import aiohttp

        if isinstance(exc, httpx.HTTPError):
            cause = exc.__cause__
            if isinstance(cause, aiohttp.ClientError):
                raise _mapped(cause, self._request) from cause
        elif isinstance(exc, aiohttp.ClientError):
            # The transport lets some aiohttp errors through unmapped (a malformed answer).
            raise _mapped(exc, self._request) from exc


def _mapped(exc: aiohttp.ClientError, request: httpx.Request) -> httpx.HTTPError:
    """The httpx exception httpx's own transport raises for the same fault."""
    import aiohttp

    kind: type[httpx.TransportError]
    message: Any = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        kind = httpx.ConnectTimeout
    elif isinstance(exc, aiohttp.ServerTimeoutError):
        kind = httpx.ReadTimeout
    elif isinstance(exc, aiohttp.ClientConnectorError):
        kind = httpx.ConnectError
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        kind = httpx.RemoteProtocolError
        message = "Server disconnected without sending a response."
    elif isinstance(exc, (aiohttp.ClientResponseError, aiohttp.ClientPayloadError)):
        kind = httpx.RemoteProtocolError  # a malformed status line, headers or body
    elif isinstance(exc, aiohttp.ClientConnectionError):
        kind = httpx.ReadError  # reset by peer and the like
    else:
        kind = httpx.TransportError
    return kind(message, request=request)
