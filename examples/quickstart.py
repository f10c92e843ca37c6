"""Quick start: a real job against the embedded gateway emulator, mounted in-process.

    python examples/quickstart.py

Swap the Session arguments for your own credentials (and drop ``transport``) to run it against
the real gateway.
"""

from __future__ import annotations

import anyio
import httpx

import smsc_async
from smsc_async.testing import Emulator


async def main() -> None:
    emulator = Emulator(delivery_delay=0.2)  # demo account: login "demo", password "demo"
    async with smsc_async.Session(
        login="demo",
        password="demo",
        base_url="http://127.0.0.1",
        transport=httpx.ASGITransport(app=emulator),
    ) as smsc:
        print("balance:  ", await smsc.balance())
        estimate = await smsc.cost(["79161234567", "79031234567"], "Код: 1234")
        print("estimate: ", estimate)
        sent = await smsc.send(["79161234567"], "Код: 1234", sender="Shop", cost=3)
        print("sent:     ", sent)
        await anyio.sleep(0.3)
        status = await smsc.status(sent.id, "79161234567", all=1)
        print("status:   ", status.status.name, "final" if status.final else "pending")
        for info in await smsc.operator_info(["79161234567", "79031234567", "77011234567"]):
            print("operator: ", info.phone, info.country, info.operator, info.region)
        # Management areas are namespaces on the session: smsc.templates, smsc.senders, smsc.jobs …
        await smsc.templates.add("code", "Код: {code}", format="sms")
        print("templates:", [t.name for t in await smsc.templates.list()])
        try:
            await smsc.send(["79161234567"], "Код: 1234", sender="Shop", cost=3)
        except smsc_async.DuplicateSendError as exc:
            print("refused:  ", exc)


if __name__ == "__main__":
    anyio.run(main)
