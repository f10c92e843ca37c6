"""The emulator enforces the gateway's rate rules, concurrency caps and IP blocks."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import anyio
import attrs
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsc_async.testing import Emulator, GatewayLimits
from smsc_async.testing import GatewayBlock as Block
from smsc_async.testing import GatewayRule as Rule
from smsc_async.testing._rules import IPGuard, Windows

pytestmark = pytest.mark.anyio

AUTH: dict[str, Any] = {"login": "alex", "psw": "secret", "fmt": "3"}
WINDOW = 0.6  # one minute at scale 0.01


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(limits: GatewayLimits | None = None, **kwargs: Any) -> tuple[Emulator, FakeClock]:
    clock = FakeClock()
    emu = Emulator(limits=limits or GatewayLimits().scaled(0.01), clock=clock, **kwargs)
    emu.add_account(login="alex", password="secret", balance=Decimal(1000))
    return emu, clock


def client(emu: Emulator, ip: str = "10.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=emu, client=(ip, 5000))
    return httpx.AsyncClient(transport=transport, base_url="http://smsc.test")


async def code(http: httpx.AsyncClient, path: str, **params: Any) -> int:
    response = await http.get(path, params={**AUTH, **params})
    body = json.loads(response.text)  # decodes in the answer's charset (windows-1251 here)
    return int(body.get("error_code", 0)) if isinstance(body, dict) else 0


async def test_eleventh_balance_in_a_window_gets_error_9_and_the_window_slides() -> None:
    emu, clock = make()
    async with client(emu) as http:
        for i in range(10):
            clock.now = 100 + i * 0.05
            assert await code(http, "/sys/balance.php") == 0
        clock.now = 100 + 0.59
        assert await code(http, "/sys/balance.php") == 9
        clock.now = 100 + WINDOW  # the first request is exactly one window old: no longer counts
        assert await code(http, "/sys/balance.php") == 0
        assert await code(http, "/sys/balance.php") == 9
        clock.now = 100 + WINDOW + 0.05
        assert await code(http, "/sys/balance.php") == 0
    assert emu.stats.errors[9] == 2
    assert emu.stats.requests["/sys/balance.php"] == 14


async def test_refused_requests_are_not_counted() -> None:
    emu, clock = make()
    send = {"phones": "79161234567", "mes": "same"}
    async with client(emu) as http:
        assert await code(http, "/sys/send.php", **send) == 0
        clock.now += WINDOW / 2
        assert await code(http, "/sys/send.php", **send) == 9
        clock.now += WINDOW / 2  # had the refusal counted, this would still be refused
        assert await code(http, "/sys/send.php", **send) == 0


async def test_identical_send_rule_keys_on_normalized_parameters() -> None:
    emu, _ = make()
    async with client(emu) as http:
        assert await code(http, "/sys/send.php", phones="79161234567;79261234567", mes="a") == 0
        again = {**AUTH, "phones": "+79261234567,79161234567", "mes": "a", "fmt": "0"}
        response = await http.get("/sys/send.php", params=again)
        assert response.text == "ERROR = 9 (duplicate request, wait a minute)"
        assert await code(http, "/sys/send.php", phones="79161234567", mes="b") == 0
    assert emu.stats.errors[9] == 1


async def test_cost_requests_allow_five_identical() -> None:
    emu, _ = make()
    async with client(emu) as http:
        codes = [
            await code(http, "/sys/send.php", phones="79161234567", mes="a", cost=1)
            for _ in range(6)
        ]
    assert codes == [0, 0, 0, 0, 0, 9]


async def test_status_rules_per_message_and_per_batch() -> None:
    emu, _ = make()
    async with client(emu) as http:
        single = [
            await code(http, "/sys/status.php", id="1", phone="79161234567") for _ in range(6)
        ]
        other = await code(http, "/sys/status.php", id="2", phone="79161234567")
        batch = [
            await code(http, "/sys/status.php", id="3,4", phone="79161234567") for _ in range(2)
        ]
    assert single == [0, 0, 0, 0, 0, 9]
    assert other == 0
    assert batch == [0, 9]


async def test_operator_rules_identical_and_any() -> None:
    limits = attrs.evolve(GatewayLimits().scaled(0.01), operator_any=Rule(limit=5, window=WINDOW))
    emu, _ = make(limits)
    async with client(emu) as http:
        same = [
            await code(http, "/sys/info.php", get_operator=1, phone="79161234567") for _ in range(4)
        ]
        others = [
            await code(http, "/sys/info.php", get_operator=1, phone=f"7916123456{i}")
            for i in range(3)
        ]
    assert same == [0, 0, 0, 9]
    assert others == [0, 0, 9]


async def test_concurrency_cap() -> None:
    limits = attrs.evolve(GatewayLimits(), balance=Rule(limit=1000, window=60))
    emu = Emulator(limits=limits, latency=0.3)
    answers: list[int] = []

    async def one(http: httpx.AsyncClient) -> None:
        answers.append(await code(http, "/sys/balance.php", login="demo", psw="demo"))

    async with client(emu) as http, anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(one, http)
    assert sorted(answers) == [0] * 14 + [9] * 6
    assert emu.stats.max_in_flight["demo"] == 14
    assert emu.stats.errors[9] == 6


async def test_status_concurrency_cap() -> None:
    emu = Emulator(limits=GatewayLimits(), latency=0.3)
    answers: list[int] = []

    async def one(http: httpx.AsyncClient, n: int) -> None:
        answers.append(
            await code(http, "/sys/status.php", login="demo", psw="demo", id=n, phone="79161234567")
        )

    async with client(emu) as http, anyio.create_task_group() as tg:
        for n in range(7):
            tg.start_soon(one, http, n + 1)
    assert sorted(answers) == [0] * 4 + [9] * 3
    assert emu.stats.max_status_in_flight["demo"] == 4


async def test_lenient_mode_enforces_nothing() -> None:
    emu, _ = make(strict=False)
    async with client(emu) as http:
        codes = [await code(http, "/sys/balance.php") for _ in range(30)]
        bad = [await code(http, "/sys/balance.php", psw="wrong") for _ in range(10)]
    assert codes == [0] * 30
    assert bad == [2] * 10


async def test_auth_failures_block_the_ip() -> None:
    emu, clock = make()  # 5 failures in 18 s block for 18 s at scale 0.01
    async with client(emu) as http, client(emu, ip="10.0.0.2") as neighbour:
        failures = [await code(http, "/sys/balance.php", psw="wrong") for _ in range(5)]
        assert failures == [2] * 5
        response = await http.get("/sys/balance.php", params={**AUTH, "fmt": "0"})
        assert response.text == "ERROR = 4 (The IP address is temporarily blocked.)"
        assert await code(neighbour, "/sys/balance.php") == 0
        clock.now += 18.0
        assert await code(http, "/sys/balance.php") == 0
    assert emu.stats.errors[4] == 1


async def test_auth_failures_outside_the_window_do_not_block() -> None:
    emu, clock = make()
    async with client(emu) as http:
        for _ in range(4):
            assert await code(http, "/sys/balance.php", psw="wrong") == 2
        clock.now += 18.0
        assert await code(http, "/sys/balance.php", psw="wrong") == 2
        assert await code(http, "/sys/balance.php") == 0


async def test_failed_sends_in_a_row_block_the_ip() -> None:
    limits = attrs.evolve(
        GatewayLimits().scaled(0.01), failed_sends=Block(count=3, window=6.0, duration=6.0)
    )
    emu, clock = make(limits)
    async with client(emu) as http:
        assert await code(http, "/sys/send.php", phones="bad", mes="1") == 7
        assert await code(http, "/sys/send.php", phones="bad", mes="2") == 7
        assert await code(http, "/sys/send.php", phones="79161234567", mes="ok") == 0  # resets
        for n in range(3):
            assert await code(http, "/sys/send.php", phones="bad", mes=f"x{n}") == 7
        assert await code(http, "/sys/balance.php") == 4
        clock.now += 6.0
        assert await code(http, "/sys/balance.php") == 0


async def test_rule_memory_is_bounded() -> None:
    emu, clock = make()
    async with client(emu) as http:
        for n in range(50):
            assert await code(http, "/sys/send.php", phones="79161234567", mes=f"text {n}") == 0
    assert emu.rule_logs() == 50
    clock.now += WINDOW
    assert emu.rule_logs() == 0


# ------------------------------------------------------------------- the pure core, in numbers


def test_windows_literal() -> None:
    rule = Rule(limit=2, window=10.0)
    windows = Windows()
    charge = [("r", "k", rule)]
    assert windows.admit("a", charge, 0.0) is None
    assert windows.admit("a", charge, 1.0) is None
    assert windows.admit("a", charge, 9.9) == "r"
    assert windows.admit("b", charge, 9.9) is None  # another owner has its own log
    assert windows.admit("a", charge, 10.0) is None
    assert windows.admit("a", charge, 10.5) == "r"
    assert windows.admit("a", charge, 11.0) is None


def test_windows_all_or_nothing() -> None:
    tight, loose = Rule(limit=1, window=10.0), Rule(limit=5, window=10.0)
    windows = Windows()
    assert windows.admit("a", [("loose", "x", loose), ("tight", "y", tight)], 0.0) is None
    assert windows.admit("a", [("loose", "x", loose), ("tight", "y", tight)], 1.0) == "tight"
    # The refused request recorded nothing in the loose log either: four more fit.
    for t in (2.0, 3.0, 4.0, 5.0):
        assert windows.admit("a", [("loose", "x", loose)], t) is None
    assert windows.admit("a", [("loose", "x", loose)], 6.0) == "loose"


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=5),
    gaps=st.lists(st.floats(min_value=0.0, max_value=4.0), min_size=1, max_size=60),
)
def test_windows_never_exceed_and_never_refuse_needlessly(limit: int, gaps: list[float]) -> None:
    window = 10.0
    rule = Rule(limit=limit, window=window)
    windows = Windows()
    admitted: list[float] = []
    now = 0.0
    for gap in gaps:
        now += gap
        recent = [t for t in admitted if t > now - window]
        if windows.admit("o", [("r", "k", rule)], now) is None:
            admitted.append(now)
            assert len(recent) < limit
        else:
            assert len(recent) == limit
    for t in admitted:
        assert len([u for u in admitted if t - window < u <= t]) <= limit


def test_ip_guard_literal() -> None:
    guard = IPGuard(
        auth=Block(count=2, window=10.0, duration=5.0),
        sends=Block(count=2, window=10.0, duration=5.0),
    )
    guard.auth_failed("ip", 0.0)
    assert not guard.blocked("ip", 1.0)
    guard.auth_failed("ip", 1.0)
    assert guard.blocked("ip", 1.0)
    assert guard.blocked_until("ip") == 6.0
    assert not guard.blocked("ip", 6.0)
    guard.send_failed("ip", 7.0)
    guard.send_succeeded("ip")
    guard.send_failed("ip", 8.0)
    assert not guard.blocked("ip", 8.0)
    guard.send_failed("ip", 9.0)
    assert guard.blocked("ip", 9.0)
    guard.sweep(100.0)
    assert guard.blocked_until("ip") is None


def test_no_json_in_error_9_text() -> None:
    # The concurrency refusal and the rule refusal are both error 9 but say different things.
    from smsc_async.testing._endpoints import CONCURRENCY_TEXT, error_text

    assert error_text("/sys/balance.php", 9) != CONCURRENCY_TEXT
    assert json.dumps(CONCURRENCY_TEXT)
