"""Load against the strict emulator over real sockets: the client never trips error 9 or 4.

Windows are scaled by 0.01 (a minute of rules passes in 0.6 s), so every rule saturates many times
over in a few seconds while hundreds of tasks race for it.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from typing import Any

import anyio
import pytest

from smsc_async import DuplicateSendError, RateLimits, Session
from smsc_async.testing import Emulator

from .conftest import FAST_RETRY

pytestmark = pytest.mark.anyio

PHONES = [f"7916{n:07d}" for n in range(1_000_000, 1_000_040)]


async def _mixed_load(smsc: Session, tasks: int, seed: int) -> Counter[str]:
    rng = random.Random(seed)
    done: Counter[str] = Counter()
    sent: list[tuple[Any, str]] = []
    sent_ready = anyio.Event()

    async def one(n: int) -> None:
        # Weighted so that the slowest rules (one batch a minute, one identical jobs request a
        # minute, 30 history requests an hour) do not dominate the run time.
        (kind,) = rng.choices(
            [
                "balance", "send", "cost", "status", "info", "info_same", "statuses",
                "senders", "history", "answers", "stats", "prices", "templates", "contacts",
                "jobs",
            ],
            weights=[3, 4, 2, 2, 6, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0.5],
        )  # fmt: skip
        if kind == "balance":
            await smsc.balance()
        elif kind == "send":
            phone = PHONES[n % len(PHONES)]
            result = await smsc.send(phone, f"load {seed} #{n}")
            sent.append((result.id, phone))
            sent_ready.set()
        elif kind == "cost":
            # Deliberately identical: at most 5 identical cost requests a minute.
            await smsc.cost(PHONES[0], "how much?")
        elif kind == "status":
            await sent_ready.wait()
            msg_id, phone = sent[0]  # the same message again and again: 5 per minute
            await smsc.status(msg_id, phone)
        elif kind == "info":
            await smsc.operator_info(PHONES[n % len(PHONES)])
        elif kind == "info_same":
            await smsc.operator_info([PHONES[1], PHONES[2]])  # 3 identical a minute
        elif kind == "statuses":
            await sent_ready.wait()
            await smsc.statuses(sent[:3])  # one batch a minute
        elif kind == "senders":
            await smsc.senders.list()  # 3 identical a minute
        elif kind == "history":
            await smsc.get_messages(cnt=10)  # 3 identical a minute, 30 an hour
        elif kind == "answers":
            await smsc.answers(hours=1)  # 3 identical a minute
        elif kind == "stats":
            await smsc.stats(dt.date(2026, 1, 1))  # 3 a minute
        elif kind == "prices":
            await smsc.prices()  # 3 identical a minute
        elif kind == "templates":
            await smsc.templates.list()
        elif kind == "contacts":
            await smsc.contacts.list()
        else:
            await smsc.jobs.list()  # 1 identical a minute
        done[kind] += 1

    async with anyio.create_task_group() as tg:
        for n in range(tasks):
            tg.start_soon(one, n)
    return done


async def test_hundreds_of_tasks_mixing_endpoints(_switch: Any) -> None:
    limits = RateLimits().scaled(0.005)
    emulator = Emulator(limits=limits)
    switch, live_url = _switch
    switch.app = emulator
    async with Session("demo", "demo", base_url=live_url, limits=limits, retry=FAST_RETRY) as smsc:
        done = await _mixed_load(smsc, tasks=280, seed=7)
    switch.app = None
    assert sum(done.values()) == 280
    assert emulator.stats.errors[9] == 0, emulator.stats.errors_by_path
    assert emulator.stats.errors[4] == 0
    assert emulator.stats.max_in_flight["demo"] <= limits.concurrency
    assert emulator.stats.max_status_in_flight["demo"] <= limits.status_concurrency


async def test_concurrency_cap_under_slow_answers(_switch: Any) -> None:
    # Every answer takes 50 ms, so 120 look-ups pile up against the cap of 14 in flight; the
    # emulator answers error 9 from the 15th simultaneous request on.
    limits = RateLimits().scaled(0.01)
    emulator = Emulator(limits=limits, latency=0.05)
    switch, url = _switch
    switch.app = emulator
    try:
        async with (
            Session("demo", "demo", base_url=url, limits=limits, retry=None) as smsc,
            anyio.create_task_group() as tg,
        ):
            for n in range(120):
                tg.start_soon(smsc.operator_info, PHONES[n % len(PHONES)])
    finally:
        switch.app = None
    assert emulator.stats.requests["/sys/info.php"] == 120
    assert emulator.stats.errors[9] == 0
    assert emulator.stats.max_in_flight["demo"] == limits.concurrency


async def test_identical_sends_under_concurrency_go_out_once(
    smsc: Session, emulator: Emulator
) -> None:
    outcomes: Counter[str] = Counter()

    async def click() -> None:
        try:
            await smsc.send(PHONES[0], "pay 100 RUB")
            outcomes["sent"] += 1
        except DuplicateSendError:
            outcomes["refused"] += 1

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(click)
    assert outcomes == Counter(sent=1, refused=19)
    assert emulator.stats.requests["/sys/send.php"] == 1
    assert emulator.stats.errors[9] == 0
