"""Injected faults, and the emulator served over real loopback sockets."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from smsc_async.testing import Emulator, Fault, GatewayLimits, serve

from ._virtual import VIRTUAL

pytestmark = pytest.mark.anyio

AUTH: dict[str, Any] = {"login": "demo", "psw": "demo", "charset": "utf-8"}
ROOT = Path(__file__).resolve().parent.parent


def client(emu: Emulator) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=emu), base_url="http://smsc.test")


async def balance(http: httpx.AsyncClient, fmt: int = 3) -> httpx.Response:
    return await http.get("/sys/balance.php", params={**AUTH, "fmt": fmt})


@pytest.mark.parametrize(
    ("fmt", "body"),
    [
        (0, "ERROR = 8 (can't deliver), ID - 5"),
        (1, "0,-8"),
        (3, '{"error": "busy", "error_code": 9}'),
    ],
)
async def test_error_fault(fmt: int, body: str) -> None:
    emu = Emulator()
    text = "busy" if fmt == 3 else None
    code = 9 if fmt == 3 else 8
    emu.inject(Fault(path="/sys/send.php", kind="error", error_code=code, text=text))
    params: dict[str, Any] = {**AUTH, "fmt": fmt, "phones": "79161234567", "mes": "hi"}
    if fmt == 0:
        params["id"] = "5"
    async with client(emu) as http:
        first = await http.get("/sys/send.php", params=params)
        second = await http.get("/sys/send.php", params={**params, "mes": "other"})
    expected = body if fmt != 0 else "ERROR = 8 (can't deliver)"
    assert first.text == expected
    assert second.status_code == 200
    assert "error" not in second.text.lower()
    assert emu.stats.errors[code] == 1
    assert emu.stats.faults["error"] == 1
    assert emu.account("demo").balance == Decimal("1000.00") - Decimal("4.30")


async def test_plain_error_fault_ignores_fmt() -> None:
    emu = Emulator()
    emu.inject(Fault(kind="plain_error", error_code=3, path="/sys/info.php"))
    async with client(emu) as http:
        response = await http.get(
            "/sys/info.php", params={**AUTH, "get_operator": 1, "phone": "79161234567", "fmt": 3}
        )
    assert response.text == "ERROR = 3 (Operator not found.)"


async def test_http_status_html_and_malformed_faults() -> None:
    emu = Emulator()
    emu.inject(Fault(kind="http_status", status=503))
    emu.inject(Fault(kind="html"))
    emu.inject(Fault(kind="malformed"))
    emu.inject(Fault(kind="malformed", body=b""))
    async with client(emu) as http:
        unavailable = await balance(http)
        html = await balance(http)
        malformed = await balance(http)
        empty = await balance(http)
        normal = await balance(http)
    assert unavailable.status_code == 503
    assert html.status_code == 200
    assert html.headers["content-type"] == "text/html"
    assert html.text.startswith("<html>")
    assert malformed.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(malformed.text)
    assert empty.content == b""
    assert normal.json() == {"balance": "1000.00"}
    assert emu.stats.faults == {"http_status": 1, "html": 1, "malformed": 2}


async def test_fault_times_and_paths() -> None:
    emu = Emulator()
    emu.inject(Fault(kind="http_status", path="/sys/status.php", times=None))
    emu.inject(Fault(kind="http_status", status=502, path="/sys/balance.php", times=2))
    async with client(emu) as http:
        codes = [(await balance(http)).status_code for _ in range(3)]
        status = [
            (
                await http.get("/sys/status.php", params={**AUTH, "id": n, "phone": "79161234567"})
            ).status_code
            for n in range(3)
        ]
        emu.clear_faults()
        cleared = await http.get("/sys/status.php", params={**AUTH, "id": 9, "phone": "7916123"})
    assert codes == [502, 502, 200]
    assert status == [503, 503, 503]
    assert cleared.status_code == 200


async def test_drop_fault_in_process() -> None:
    emu = Emulator()
    emu.inject(Fault(kind="drop"))
    async with client(emu) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await balance(http)
        assert (await balance(http)).json() == {"balance": "1000.00"}


async def test_drop_after_handling_loses_only_the_answer() -> None:
    emu = Emulator()
    emu.inject(Fault(kind="drop", path="/sys/send.php", after=True))
    params: dict[str, Any] = {**AUTH, "fmt": 3, "id": "x1", "phones": "79161234567", "mes": "hi"}
    async with client(emu) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/sys/send.php", params=params)
        status = await http.get(
            "/sys/status.php", params={**AUTH, "fmt": 3, "id": "x1", "phone": "79161234567"}
        )
        retry = await http.get("/sys/send.php", params=params)
    assert status.json()["status"] in (-1, 0, 1)
    assert emu.account("demo").balance == Decimal("995.70")
    assert retry.json()["error_code"] == 9  # the identical send was counted


@pytest.mark.parametrize("anyio_backend", VIRTUAL)
async def test_delay_fault_holds_the_request_in_flight() -> None:
    emu = Emulator(clock=anyio.current_time)
    emu.inject(Fault(kind="delay", seconds=0.2))
    done: list[float] = []

    async def slow(http: httpx.AsyncClient) -> None:
        await balance(http)
        done.append(anyio.current_time())

    async with client(emu) as http:
        start = anyio.current_time()
        async with anyio.create_task_group() as tg:
            tg.start_soon(slow, http)
            await anyio.sleep(0.05)
            assert (await balance(http)).json() == {"balance": "1000.00"}
            quick = anyio.current_time() - start
    # On virtual time: the quick call answered as soon as it was made, the delayed one after
    # exactly its delay, while both were in flight together.
    assert (quick, done[0] - start) == (0.05, 0.2)
    assert emu.stats.max_in_flight["demo"] == 2


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="kind"):
        Fault(kind="explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="times"):
        Fault(kind="drop", times=0)
    with pytest.raises(ValueError, match="seconds"):
        Fault(kind="delay", seconds=-1)


# ------------------------------------------------------------------------------ real sockets


async def test_serve_over_loopback() -> None:
    emu = Emulator(limits=GatewayLimits().scaled(0.01))
    emu.add_account(login="alex", password="secret", api_key="k-123", balance=Decimal("250.80"))
    with serve(emu, host="127.0.0.1", port=0) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=base_url) as http:
            response = await http.get(
                "/sys/balance.php", params={"apikey": "k-123", "fmt": 0, "cur": 1}
            )
            assert response.text == "250.80 RUR"
            sent = await http.post(
                "/sys/send.php",
                data={"login": "alex", "psw": "secret", "phones": "79161234567", "mes": "Привет"},
            )
            assert sent.text == "OK - 1 SMS, ID - 1"
            emu.inject(Fault(kind="drop"))
            with pytest.raises(httpx.RemoteProtocolError):
                await http.get("/sys/balance.php", params={"apikey": "k-123"})
            again = await http.get("/sys/balance.php", params={"apikey": "k-123"})
            assert again.text == "246.50"  # 250.80 - 4.30; the dropped request changed nothing
    assert emu.stats.requests["/sys/balance.php"] == 3
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=base_url) as http:
            await http.get("/sys/balance.php")


async def test_serve_enforces_concurrency_over_sockets() -> None:
    emu = Emulator(limits=GatewayLimits(), latency=0.3)
    answers: list[str] = []

    async def one(http: httpx.AsyncClient, n: int) -> None:
        params: dict[str, Any] = {**AUTH, "fmt": 1, "phones": "79161234567", "mes": f"n{n}"}
        answers.append((await http.get("/sys/send.php", params=params)).text)

    limits = httpx.Limits(max_connections=32)
    with serve(emu) as base_url:
        async with (
            httpx.AsyncClient(base_url=base_url, limits=limits) as http,
            anyio.create_task_group() as tg,
        ):
            for n in range(18):
                tg.start_soon(one, http, n)
    refused = [a for a in answers if a == "0,-9"]
    assert len(refused) == 4
    assert emu.stats.max_in_flight["demo"] == 14


def test_command_line_serves_the_demo_account() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "smsc_async.testing", "--port", str(port), "--scale", "0.01"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline() + process.stdout.readline()
        assert f"http://127.0.0.1:{port}" in banner
        assert "login=demo psw=demo apikey=demo-key" in banner
        deadline = time.monotonic() + 10
        while True:
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/sys/balance.php",
                    params={"login": "demo", "psw": "demo"},
                )
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert response.text == "1000.00"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_serving_uses_only_uvicorns_public_api() -> None:
    source = (ROOT / "smsc_async" / "testing" / "_server.py").read_text(encoding="utf-8")
    assert "uvicorn.protocols" not in source
    assert "H11Protocol" not in source


async def test_a_served_send_whose_answer_is_lost_is_stored() -> None:
    emu = Emulator()
    emu.inject(Fault(kind="drop", path="/sys/send.php", after=True))
    params: dict[str, Any] = {**AUTH, "fmt": 3, "id": "lost-1", "phones": "79161234567"}
    with serve(emu) as base_url:
        async with httpx.AsyncClient(base_url=base_url) as http:
            with pytest.raises(httpx.RemoteProtocolError):
                await http.get("/sys/send.php", params={**params, "mes": "hi"})
            status = await http.get(
                "/sys/status.php",
                params={**AUTH, "fmt": 3, "id": "lost-1", "phone": "79161234567", "all": 1},
            )
    assert status.json()["message"] == "hi"
    assert emu.stats.faults["drop"] == 1
