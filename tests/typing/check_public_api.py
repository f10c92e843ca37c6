"""Type-checked only (mypy strict): pins the public API's types. Never run by pytest."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from typing_extensions import assert_type

import smsc_async
from smsc_async.models import Status


async def _usage() -> None:
    async with smsc_async.Session(login="alex", password="secret") as smsc:
        balance = await smsc.balance()
        assert_type(balance, smsc_async.Balance)
        assert_type(balance.balance, Decimal)
        assert_type(balance.currency, str | None)
        sent = await smsc.send(["79161234567"], "Code: 1234", sender="Shop", cost=3)
        assert_type(sent, smsc_async.SendResult)
        assert_type(sent.id, int | str)
        assert_type(sent.cost, Decimal | None)
        estimate = await smsc.cost("79161234567", "Code")
        assert_type(estimate, smsc_async.CostEstimate)
        status = await smsc.status(sent.id, "79161234567", all=2)
        assert_type(status, smsc_async.MessageStatus)
        assert_type(status.status, Status)
        assert_type(status.final, bool)
        assert_type(status.last_date, dt.datetime | None)
        many = await smsc.statuses([(sent.id, "79161234567")])
        assert_type(many, list[smsc_async.MessageStatus])
        infos = await smsc.operator_info(["79161234567"])
        assert_type(infos, list[smsc_async.OperatorInfo])
        async for message in smsc.history(start=dt.date(2026, 1, 1)):
            assert_type(message, smsc_async.SentMessage)
        names = await smsc.senders.list(all=True)
        assert_type(names, list[smsc_async.SenderName])
        async with smsc.lookup_operators(["79161234567"]) as results:
            async for item in results:
                assert_type(item, smsc_async.LookupResult)
                assert_type(item.info, smsc_async.OperatorInfo | None)
        final = await smsc.wait_for_status(sent.id, "79161234567", timeout=60)
        assert_type(final, smsc_async.MessageStatus)
    parts = smsc_async.segments("Привет")
    assert_type(parts, smsc_async.Segments)
    assert_type(parts.parts, int)
    limits = smsc_async.RateLimits().scaled(0.01)
    assert_type(limits, smsc_async.RateLimits)
    assert_type(limits.balance, smsc_async.Rule)


def _shared_limits() -> smsc_async.Session:
    from smsc_async.redis import RedisBackend

    # A Redis backend is a LimiterBackend: Session accepts it as one.
    return smsc_async.Session("alex", "secret", backend=RedisBackend.from_url("redis://localhost"))
