"""The ``smsc_emulator`` fixture, as a user's own test suite sees it (run through pytester)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent

USER_TESTS = """
import pytest
import smsc_async
from smsc_async.testing import ServedEmulator

pytestmark = pytest.mark.anyio
PHONE = "79161234567"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


def test_it_is_served_on_loopback(smsc_emulator: ServedEmulator) -> None:
    assert smsc_emulator.base_url.startswith("http://127.0.0.1:")
    assert (smsc_emulator.login, smsc_emulator.password) == ("demo", "demo")


async def test_a_session_sends_and_reads_the_status(smsc_emulator: ServedEmulator) -> None:
    async with smsc_emulator.session() as smsc:
        sent = await smsc.send(PHONE, "Your code: 1234", id="code-1")
        status = await smsc.status(sent.id, PHONE, all=1)
    assert status.message == "Your code: 1234"
    assert smsc_emulator.stats.requests["/sys/send.php"] == 1


async def test_a_session_by_api_key(smsc_emulator: ServedEmulator) -> None:
    async with smsc_emulator.session(api_key=smsc_emulator.api_key) as smsc:
        assert (await smsc.balance()).balance == 1000


async def test_each_test_gets_a_fresh_emulator(smsc_emulator: ServedEmulator) -> None:
    assert smsc_emulator.stats.requests["/sys/send.php"] == 0


async def test_faults_are_injected_through_the_fixture(smsc_emulator: ServedEmulator) -> None:
    smsc_emulator.inject(kind="error", path="/sys/balance.php", error_code=1)
    async with smsc_emulator.session() as smsc:
        with pytest.raises(smsc_async.ParameterError):
            await smsc.balance()
        assert (await smsc.balance()).currency == "RUR"


async def test_a_lost_send_answer_is_found_by_id(smsc_emulator: ServedEmulator) -> None:
    smsc_emulator.inject(kind="drop", path="/sys/send.php", after=True)
    async with smsc_emulator.session() as smsc:
        with pytest.raises(smsc_async.SMSCError):
            await smsc.send(PHONE, "Your order has shipped", id="order-7")
        status = await smsc.status("order-7", PHONE, all=1)
    assert status.message == "Your order has shipped"
    assert smsc_emulator.stats.faults["drop"] == 1


@pytest.mark.smsc_emulator(scale=0.01, delivery_delay=0.0)
async def test_the_marker_configures_the_emulator(smsc_emulator: ServedEmulator) -> None:
    assert smsc_emulator.scale == 0.01
    assert smsc_emulator.emulator.gateway_limits.balance.window == pytest.approx(0.6)
    async with smsc_emulator.session() as smsc:
        assert smsc.limits.balance.window == pytest.approx(0.6)
"""


def test_the_plugin_is_registered_by_entry_point() -> None:
    plugins = {e.name: e.value for e in entry_points(group="pytest11")}
    assert plugins.get("smsc_async") == "smsc_async.testing.pytest_plugin"


def test_a_user_suite_uses_the_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=13)


def test_without_uvicorn_the_fixture_says_which_extra_to_install(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest("import sys\nsys.modules['uvicorn'] = None\n")
    pytester.makepyfile(test_user="def test_x(smsc_emulator):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    assert "pip install 'smsc-async[emulator]'" in result.stdout.str()
    assert "Traceback" not in result.stdout.str()


def test_command_line_without_uvicorn_says_which_extra_to_install() -> None:
    script = (
        "import runpy, sys\n"
        "sys.modules['uvicorn'] = None  # as if the emulator extra were not installed\n"
        "sys.argv = ['python -m smsc_async.testing', '--port', '0']\n"
        "runpy.run_module('smsc_async.testing', run_name='__main__')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "pip install 'smsc-async[emulator]'" in done.stderr
    assert "Traceback" not in done.stderr
