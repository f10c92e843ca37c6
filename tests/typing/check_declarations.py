"""Type-checked only (mypy strict): each call's return type comes from its endpoint declaration.

Never run by pytest. ``warn_unused_ignores`` (part of strict) makes the ``type: ignore`` lines
pins too: were a declaration's answer type ``Any``, the mismatch below would go unnoticed and the
ignore would be reported as unused.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from typing_extensions import assert_type

import smsc_async
from smsc_async import models
from smsc_async._endpoints._base import Dispatch, Endpoint
from smsc_async._endpoints.data import MESSAGES, PRICES
from smsc_async._endpoints.info import BALANCE, OPERATOR_INFO
from smsc_async._endpoints.jobs import ADD as ADD_JOB
from smsc_async._endpoints.messages import COST, DELETE, SEND, STATUSES
from smsc_async._endpoints.misc import BUY_INBOUND
from smsc_async._endpoints.senders import ADD as ADD_SENDER

# The declarations carry no annotation: mypy infers the answer type from ``model``.
assert_type(BALANCE, Endpoint[models.Balance])
assert_type(SEND, Endpoint[models.SendResult])
assert_type(COST, Endpoint[models.CostEstimate])
assert_type(STATUSES, Endpoint[list[models.MessageStatus]])
assert_type(OPERATOR_INFO, Endpoint[list[models.OperatorInfo]])
assert_type(MESSAGES, Endpoint[list[models.SentMessage]])
assert_type(PRICES, Endpoint[models.Prices])
assert_type(ADD_JOB, Endpoint[models.JobCreated])
assert_type(ADD_SENDER, Endpoint[int])
assert_type(BUY_INBOUND, Endpoint[Decimal])
assert_type(DELETE, Endpoint[str])
assert_type(Endpoint("x", "/sys/x.php", lambda: models.WaitCall), Endpoint[models.WaitCall])


async def _pipeline(call: Dispatch) -> None:
    assert_type(await call(BALANCE, {}), models.Balance)
    assert_type(await call(STATUSES, {}), list[models.MessageStatus])


async def _wrong(call: Dispatch) -> models.SendResult:
    # A method promising another type than its declaration answers is a type error.
    return await call(COST, {})  # type: ignore[arg-type]


async def _calls() -> None:
    async with smsc_async.Session(login="alex", password="secret") as smsc:
        assert_type(await smsc.balance(), smsc_async.Balance)
        assert_type(await smsc.send_viber("79161234567", "Hi"), smsc_async.SendResult)
        assert_type(await smsc.delete(1, "79161234567"), None)
        assert_type(await smsc.wait_call("79161234567"), smsc_async.WaitCall)
        assert_type(await smsc.prices(), smsc_async.Prices)
        assert_type(await smsc.stats(dt.date(2026, 1, 1)), list[smsc_async.SendingStats])
        assert_type(await smsc.megafon_accounts(), list[smsc_async.MegafonStat])
        async for incoming in smsc.incoming():
            assert_type(incoming, smsc_async.IncomingMessage)
        # The namespaces.
        assert_type(smsc.senders, smsc_async.Senders)
        assert_type(await smsc.senders.add("Shop"), int)
        assert_type(await smsc.senders.list(all=True), list[smsc_async.SenderName])
        assert_type(await smsc.senders.delete("Shop"), None)
        assert_type(await smsc.templates.list(), list[smsc_async.Template])
        assert_type(await smsc.jobs.add("promo", "79161234567", "Sale"), smsc_async.JobCreated)
        assert_type(await smsc.jobs.get(1), smsc_async.Job)
        assert_type(await smsc.jobs.list(), list[smsc_async.Job])
        assert_type(await smsc.contacts.list(group=1), list[smsc_async.Contact])
        assert_type(await smsc.groups.list(), list[smsc_async.ContactGroup])
        assert_type(await smsc.blacklist.add("79161234567"), None)
        assert_type(await smsc.users.stat("shop-2"), smsc_async.UserStat)
        assert_type(await smsc.users.stats(), list[smsc_async.UserStat])
        assert_type(await smsc.documents.invoices(user="shop-2"), list[smsc_async.Invoice])
        assert_type(await smsc.operator_templates.list(), list[smsc_async.OperatorTemplate])
        assert_type(await smsc.inbound_numbers.buy("79587654321"), Decimal)
        assert_type(await smsc.inbound_numbers.list(), list[smsc_async.InboundNumber])
        assert_type(await smsc.notifications.send(3), None)
