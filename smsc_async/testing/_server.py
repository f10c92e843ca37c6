"""Serving an emulator on a loopback port: uvicorn in a background thread with its own loop."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from smsc_async.testing._app import ConnectionDropped, Emulator

if TYPE_CHECKING:
    import uvicorn

_START_TIMEOUT = 10.0


def _protocol_class() -> type[asyncio.Protocol]:
    """The h11 protocol of uvicorn, taught to drop a connection without any answer.

    A plain ASGI server answers 500 when the app raises before responding; the gateway emulator's
    ``drop`` fault must instead look like a vanished server, so the connection is aborted here.
    """
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class DroppingH11Protocol(H11Protocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            app = self.app

            async def dropping_app(scope: Any, receive: Any, send: Any) -> None:
                try:
                    await app(scope, receive, send)
                except ConnectionDropped:
                    self.transport.abort()
                    # Let ``connection_lost`` mark the cycle disconnected so uvicorn sends nothing.
                    for _ in range(10):
                        cycle = self.cycle
                        if cycle is None or cycle.disconnected:
                            break
                        await asyncio.sleep(0)

            self.app = dropping_app

    return DroppingH11Protocol


def make_config(emulator: Emulator, **kwargs: Any) -> uvicorn.Config:
    """A uvicorn configuration serving ``emulator`` (quiet, no lifespan, drop-capable)."""
    import uvicorn

    options: dict[str, Any] = {
        "http": _protocol_class(),
        "lifespan": "off",
        "log_level": "warning",
        "access_log": False,
        "log_config": None,
        "ws": "none",
        "timeout_graceful_shutdown": 1,
    }
    options.update(kwargs)
    return uvicorn.Config(emulator, **options)


@contextmanager
def serve(
    emulator: Emulator | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """Serve ``emulator`` (a fresh one when ``None``) on ``host:port``; yield its base URL.

    uvicorn runs in a background thread with its own event loop, so the caller may use asyncio,
    trio or plain threads. ``port=0`` picks a free port. The server stops on exit::

        with serve(Emulator(), port=0) as base_url:  # "http://127.0.0.1:PORT"
            httpx.get(base_url + "/sys/balance.php", params={"login": "demo", "psw": "demo"})
    """
    import uvicorn

    app = emulator if emulator is not None else Emulator()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this; without it Nagle + delayed ACK add ~40 ms to each answer.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(make_config(app))
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"smsc-emulator-{bound_port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if failure or not thread.is_alive():
                raise RuntimeError("the emulator server failed to start") from (
                    failure[0] if failure else None
                )
            if time.monotonic() > deadline:
                raise RuntimeError("the emulator server did not start in time")
            time.sleep(0.005)
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        yield f"http://{shown}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=_START_TIMEOUT)
        sock.close()
