"""A local stand-in for the SMSC gateway, for tests and for trying code without an account.

:class:`Emulator` is a raw ASGI 3 application answering ``/sys/send.php``, ``/sys/status.php``,
``/sys/balance.php`` and ``/sys/info.php`` in all four formats, enforcing the gateway's rate rules
(:mod:`smsc_async._limits`), and misbehaving on demand (:class:`Fault`). Use it in-process::

    emu = Emulator(limits=RateLimits().scaled(0.01))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emu), base_url="http://smsc.test"
    ) as http:
        await http.get("/sys/balance.php", params={"login": "demo", "psw": "demo", "fmt": 3})

or over a loopback socket with :func:`serve`, or from a shell:
``python -m smsc_async.testing --port 8089 --scale 0.01``.
"""

from __future__ import annotations

from smsc_async.testing._app import ConnectionDropped, Emulator
from smsc_async.testing._faults import Fault, FaultKind
from smsc_async.testing._numbers import RESERVED, ReservedNumbers
from smsc_async.testing._server import serve
from smsc_async.testing._state import Account, Incoming, Message, Stats

__all__ = [
    "Account",
    "ConnectionDropped",
    "Emulator",
    "Fault",
    "FaultKind",
    "Incoming",
    "Message",
    "RESERVED",
    "ReservedNumbers",
    "Stats",
    "serve",
]
