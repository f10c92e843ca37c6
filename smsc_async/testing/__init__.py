"""A local stand-in for the SMSC gateway, for tests and for trying code without an account.

:class:`Emulator` is a raw ASGI 3 application answering the gateway's ``/sys/*.php`` scripts in
all four formats, enforcing the documented rate rules (:class:`GatewayLimits`, written from the
gateway's documentation; the client's own ``RateLimits`` is compared with it by a test, never
imported), and misbehaving on demand (:class:`Fault`). Use it in-process::

    emu = Emulator(scale=0.01)  # every rule window x 0.01
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emu), base_url="http://smsc.test"
    ) as http:
        await http.get("/sys/balance.php", params={"login": "demo", "psw": "demo", "fmt": 3})

or over a loopback socket with :func:`serve`, or in a pytest suite through the ``smsc_emulator``
fixture (:mod:`smsc_async.testing.pytest_plugin`, registered by entry point), or from a shell:
``python -m smsc_async.testing --port 8089 --scale 0.01``.
"""

from __future__ import annotations

from smsc_async.testing._app import ConnectionDropped, Emulator
from smsc_async.testing._faults import Fault, FaultKind
from smsc_async.testing._limits import GatewayBlock, GatewayLimits, GatewayRule
from smsc_async.testing._numbers import RESERVED, ReservedNumbers
from smsc_async.testing._served import ServedEmulator
from smsc_async.testing._server import serve
from smsc_async.testing._state import Account, Incoming, Message, Stats

__all__ = [
    "Account",
    "ConnectionDropped",
    "Emulator",
    "Fault",
    "FaultKind",
    "GatewayBlock",
    "GatewayLimits",
    "GatewayRule",
    "Incoming",
    "Message",
    "RESERVED",
    "ReservedNumbers",
    "ServedEmulator",
    "Stats",
    "serve",
]
