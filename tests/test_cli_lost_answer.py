"""``smsc send`` when the gateway's answer is lost: it reconciles instead of guessing.

Before, a lost answer came out as "error" with exit 1, the same as a refusal: the user could not
tell "not sent" from "sent, answer lost" and a second try could deliver the message twice.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from smsc_async import RateLimits, Session
from smsc_async.cli import EXIT_NETWORK, EXIT_UNCONFIRMED, CLIError, _send_or_reconcile
from smsc_async.testing import Emulator, Fault

from .conftest import FAST_RETRY
from .test_unconfirmed import JumpClock

PHONE = "79161234567"
SEND = "/sys/send.php"
STATUS = "/sys/status.php"
ROOT = Path(__file__).resolve().parent.parent


def test_a_lost_answer_of_a_message_the_gateway_took_is_reported_as_sent(
    live_url: str, emulator: Emulator, tmp_path: Path
) -> None:
    emulator.inject(Fault(kind="drop", after=True, path=SEND))
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "SMSC_BASE_URL": live_url,
        "SMSC_LOGIN": "demo",
        "SMSC_PASSWORD": "demo",
        "SMSC_STATE_DIR": str(tmp_path / "state"),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "smsc_async.cli", "send", PHONE, "Code 4242", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "answer to message sa" in proc.stderr and "was lost" in proc.stderr
    answer = json.loads(proc.stdout)
    assert re.fullmatch(r"sa[a-z0-9]{20}", answer["id"])
    assert answer["confirmed_by_status"] is True
    assert set(answer["statuses"]) == {PHONE}
    assert emulator.stats.sms == 1
    assert emulator.stats.requests[SEND] == 1  # asked, never sent again


@pytest.fixture
async def session(live_url: str, limits: RateLimits) -> AsyncIterator[tuple[Session, JumpClock]]:
    clock = JumpClock()
    async with Session(
        "demo", "demo", base_url=live_url, limits=limits, retry=FAST_RETRY, clock=clock, timeout=2
    ) as smsc:
        yield smsc, clock


@pytest.mark.anyio
async def test_a_message_the_gateway_never_took_says_sending_again_is_safe(
    session: tuple[Session, JumpClock], emulator: Emulator
) -> None:
    smsc, clock = session
    emulator.inject(Fault(kind="drop", path=SEND))  # lost before the gateway stored anything
    with pytest.raises(CLIError) as info:
        await _send_or_reconcile(smsc, PHONE, "Code 4242", sender=None, translit=0)
    assert info.value.code == EXIT_NETWORK
    assert "not sent" in str(info.value) and "sending it again is safe" in str(info.value)
    assert sum(clock.slept) > 0  # "not found" was trusted only after the send's deadline
    assert emulator.stats.sms == 0


@pytest.mark.anyio
async def test_an_outcome_that_cannot_be_found_out_exits_4(
    session: tuple[Session, JumpClock], emulator: Emulator
) -> None:
    smsc, _ = session
    emulator.inject(Fault(kind="drop", after=True, path=SEND))
    emulator.inject(Fault(kind="http_status", status=503, path=STATUS, times=None))
    with pytest.raises(CLIError) as info:
        await _send_or_reconcile(smsc, PHONE, "Code 4242", sender=None, translit=0)
    assert info.value.code == EXIT_UNCONFIRMED
    assert "outcome unknown" in str(info.value) and "before sending it again" in str(info.value)
    assert emulator.stats.sms == 1
    assert emulator.stats.requests[SEND] == 1
