"""Serving an emulator on a loopback port: uvicorn in a background thread with its own loop."""

from __future__ import annotations

import logging
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


class _QuietDrops(logging.Filter):
    """Keeps uvicorn from logging a deliberate drop (``ConnectionDropped``) as a server error."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionDropped)


def _quiet_drops() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())


def make_config(emulator: Any, **kwargs: Any) -> uvicorn.Config:
    """A uvicorn configuration serving ``emulator``: quiet, no lifespan, h11.

    Only uvicorn's public configuration is used. A ``drop`` fault reaches uvicorn as an
    exception raised after the answer's status line (:class:`ConnectionDropped`); the ASGI
    specification leaves a server no other choice than to close the connection then, so the
    client reads a status line and headers and then the end of the stream: the answer is lost
    before its body (``httpx.RemoteProtocolError``). ASGI has no event that closes a connection
    before the status line, so a drop cannot be made earlier without reaching into uvicorn's
    protocol classes.
    """
    import uvicorn

    _quiet_drops()
    options: dict[str, Any] = {
        "http": "h11",
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
def serve(emulator: Any = None, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``emulator`` (a fresh one when ``None``) on ``host:port``; yield its base URL.

    ``emulator`` is an :class:`Emulator` or any ASGI 3 application wrapping one. uvicorn runs in
    a background thread with its own event loop, so the caller may use asyncio, trio or plain
    threads. ``port=0`` picks a free port. The listening socket is made here (with
    ``TCP_NODELAY``, which accepted connections inherit) and handed to uvicorn's public
    ``Server.run(sockets=...)``. The server stops on exit::

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
