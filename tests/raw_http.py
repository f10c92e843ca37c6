"""Tiny HTTP/1.1 servers on loopback sockets that misbehave in ways no real framework allows.

Each server runs in the test's own event loop (asyncio or trio, through anyio), so under trio's
``MockClock`` its sleeps are virtual like the session's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc

Handler = Callable[[anyio.abc.SocketStream, bytes], Awaitable[None]]


async def read_request(stream: anyio.abc.SocketStream) -> bytes:
    """One whole request (head and body) from ``stream``."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        body += await stream.receive()
    return head + b"\r\n\r\n" + body


def body_of(request: bytes) -> bytes:
    """The body of a request read by :func:`read_request`."""
    return request.partition(b"\r\n\r\n")[2]


def response_head(status: int = 200, **headers: str | int) -> bytes:
    """A status line and headers (``content_length=5`` becomes ``content-length: 5``)."""
    lines = [f"HTTP/1.1 {status} X"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    """Serve ``handler(stream, request)`` for each connection; yield the base URL."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            try:
                request = await read_request(stream)
                await handler(stream, request)
            except (anyio.BrokenResourceError, anyio.EndOfStream, anyio.ClosedResourceError):
                pass  # the client hung up: what these servers are for

    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            tg.cancel_scope.cancel()
    await listener.aclose()
