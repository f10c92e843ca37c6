"""The ``smsc`` command line, driven as a user drives it: the real entry point in a subprocess.

Every command runs ``python -m smsc_async.cli`` with ``SMSC_STATE_DIR`` in the test's temporary
directory, so the rate rules' state (and ``--emulator``'s) lives and dies with the test.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from smsc_async import MessageNotFoundError, RateLimits, Session
from smsc_async._events import LimiterWait
from smsc_async.cli import (
    COLUMNS,
    EXIT_NETWORK,
    EXIT_REFUSED,
    EXIT_USAGE,
    BadStateError,
    Meter,
    load_emulator,
    read_number,
    rule_phrase,
)
from smsc_async.sqlite import SQLiteBackend
from smsc_async.testing import Emulator
from tests.redis_server import redis_server, redis_url  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
PHONES = ROOT / "examples" / "phones.txt"
PHONE_LINES = PHONES.read_text(encoding="utf-8").splitlines()
# examples/phones.txt: 315 numbers, 303 distinct once normalized.
DISTINCT, FOUND, NOT_FOUND, INVALID, REFUSED = 303, 290, 6, 4, 3
CLEAN_ENV = {
    "SMSC_LOGIN": "",
    "SMSC_PASSWORD": "",
    "SMSC_API_KEY": "",
    "SMSC_BASE_URL": "",
    "SMSC_REDIS_URL": "",
}


class Result:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.exit_code = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.output = proc.stdout + proc.stderr


Run = Callable[..., Result]


def _command(state: Path, env: dict[str, str] | None) -> tuple[list[str], dict[str, str]]:
    full = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        **CLEAN_ENV,
        "SMSC_STATE_DIR": str(state),
        **(env or {}),
    }
    return [sys.executable, "-m", "smsc_async.cli"], full


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def smsc(state: Path, tmp_path: Path) -> Run:
    """Run ``smsc ARGS…`` in a subprocess and wait for it."""

    def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
        command, full = _command(state, env)
        proc = subprocess.run(
            [*command, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=full,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        return Result(proc)

    return run


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def assert_complete(rows: list[dict[str, str]]) -> None:
    phones = [r["phone"] for r in rows]
    assert len(phones) == len(set(phones)) == DISTINCT
    counts = Counter(r["result"] for r in rows)
    assert counts == {
        "found": FOUND,
        "not_found": NOT_FOUND,
        "invalid": INVALID,
        "refused": REFUSED,
    }
    # Every row can be joined back to its input line.
    for row in rows:
        line = PHONE_LINES[int(row["line"]) - 1]
        assert row["input"] and row["input"] in line, row


def saved_emulator(state: Path, scale: str) -> Emulator:
    emulator = load_emulator(state / f"emulator-x{scale}.json", float(scale))
    assert isinstance(emulator, Emulator)
    return emulator


@pytest.fixture
def account_env(live_url: str) -> dict[str, str]:
    return {"SMSC_BASE_URL": live_url, "SMSC_LOGIN": "demo", "SMSC_PASSWORD": "demo"}


# -- lookup ----------------------------------------------------------------------------------------


def test_lookup_writes_csv_rows_a_user_can_join_back(smsc: Run, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    result = smsc("--emulator", "--emulator-scale", "0.01", "lookup", str(PHONES), "-o", str(out))
    assert result.exit_code == 0, result.output
    # The summary splits the failures by kind.
    assert (
        f"{DISTINCT} numbers looked up" in result.stderr
        and f"{FOUND} found, {DISTINCT - FOUND} failed ({INVALID} rejected locally, "
        f"{REFUSED} refused by the gateway, {NOT_FOUND} operator not found, 0 transport)"
        in result.stderr
    ), result.stderr
    rows = read_csv(out)
    assert list(rows[0]) == list(COLUMNS)
    assert_complete(rows)
    moscow = next(r for r in rows if r["phone"] == "79268782235")
    assert (moscow["line"], moscow["input"]) == ("6", "79268782235")
    assert (moscow["result"], moscow["country"], moscow["mcc"]) == ("found", "Россия", "250")
    national = next(r for r in rows if r["input"] == "8 999 638 51 01")
    assert (national["line"], national["phone"]) == ("5", "79996385101")
    # The output replaced nothing and left no temporary file behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "state"]


def test_lookup_writes_json_lines(smsc: Run, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = smsc(
        "--emulator", "--emulator-scale", "0.01", "lookup", str(PHONES), "-o", str(out),
        "--batch-size", "20",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert all(set(row) == set(COLUMNS) for row in rows)
    assert_complete([{k: str(v) for k, v in row.items()} for row in rows])
    missing = next(row for row in rows if row["result"] == "not_found")
    assert missing["operator"] is None
    assert "Operator not found." in missing["error"]


def test_lookup_resumes_where_it_stopped(smsc: Run, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    first_part = tmp_path / "first.txt"
    first_part.write_text("\n".join(PHONE_LINES[:150]) + "\n", encoding="utf-8")
    emu = ("--emulator", "--emulator-scale", "0.01")
    assert smsc(*emu, "lookup", str(first_part), "-o", str(out)).exit_code == 0
    done_before = len(read_csv(out))
    # The run "crashed" in the middle of writing a row.
    with out.open("a", encoding="utf-8") as f:
        f.write("7,7916,fou")
    result = smsc(*emu, "lookup", str(PHONES), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert f"{DISTINCT - done_before} numbers looked up" in result.stderr
    assert f"({done_before} done before)" in result.stderr
    assert_complete(read_csv(out))
    # Nothing is left to do: a third run sends no request at all.
    again = smsc(*emu, "lookup", str(PHONES), "-o", str(out))
    assert "0 numbers looked up" in again.stderr
    assert "0 requests" in again.stderr
    assert_complete(read_csv(out))
    # --restart starts over.
    fresh = smsc(*emu, "lookup", str(PHONES), "-o", str(out), "--restart")
    assert f"{DISTINCT} numbers looked up" in fresh.stderr
    assert_complete(read_csv(out))


def test_lookup_refuses_to_resume_a_foreign_file(smsc: Run, tmp_path: Path) -> None:
    out = tmp_path / "notes.csv"
    out.write_text("name,age\nann,3\n", encoding="utf-8")
    result = smsc("--emulator", "lookup", str(PHONES), "-o", str(out))
    assert result.exit_code == EXIT_USAGE
    assert "not an `smsc lookup` CSV file" in result.stderr
    assert out.read_text(encoding="utf-8") == "name,age\nann,3\n"


def test_lookup_stdin_to_stdout(smsc: Run) -> None:
    stdin = "phone\n+7 916 123-45-67\n89161234567;Ann\n# a comment\n\n+380 67 123 4567\n"
    result = smsc("--emulator", "lookup", "-", "--format", "jsonl", stdin=stdin)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted((r["phone"], r["line"]) for r in rows) == [
        ("380671234567", 6),
        ("79161234567", 2),
    ]
    assert all(r["result"] == "found" for r in rows)


def test_lookup_progress_bar(smsc: Run, tmp_path: Path) -> None:
    result = smsc(
        "--emulator", "--emulator-scale", "0.01", "lookup", str(PHONES),
        "-o", str(tmp_path / "o.csv"), "--progress",
    )  # fmt: skip
    assert result.exit_code == 0
    assert f"{DISTINCT}/{DISTINCT}" in result.stderr
    assert "numbers/s" in result.stderr
    assert f"{DISTINCT - FOUND} failed" in result.stderr


def test_lookup_with_account_from_environment(
    smsc: Run, tmp_path: Path, account_env: dict[str, str], emulator: Emulator
) -> None:
    out = tmp_path / "out.csv"
    result = smsc("lookup", str(PHONES), "-o", str(out), env=account_env)
    assert result.exit_code == 0, result.output
    assert_complete(read_csv(out))
    assert emulator.stats.requests["/sys/info.php"] > 0


def test_lookup_missing_input(smsc: Run) -> None:
    result = smsc("--emulator", "lookup", "no-such-file.txt")
    assert result.exit_code == EXIT_USAGE
    assert "does not exist" in result.stderr


# -- never destroy input ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["same path", "symlink", "hard link"])
@pytest.mark.parametrize("restart", [False, True])
def test_the_output_is_never_the_input(smsc: Run, tmp_path: Path, how: str, restart: bool) -> None:
    source = tmp_path / "phones.txt"
    source.write_bytes(PHONES.read_bytes())
    out = source
    if how == "symlink":
        out = tmp_path / "link.csv"
        out.symlink_to(source)
    elif how == "hard link":
        out = tmp_path / "hard.csv"
        os.link(source, out)
    flags = ["--restart"] if restart else []
    result = smsc("--emulator", "lookup", str(source), "-o", str(out), *flags)
    assert result.exit_code == EXIT_USAGE
    assert "is the input" in result.stderr
    assert source.read_bytes() == PHONES.read_bytes()


@pytest.mark.parametrize("restart", [False, True])
def test_stdin_redirected_from_the_output_is_the_input_too(
    state: Path, tmp_path: Path, restart: bool
) -> None:
    # smsc lookup - -o phones.txt < phones.txt: the input is the output's file all the same.
    source = tmp_path / "phones.txt"
    source.write_bytes(PHONES.read_bytes())
    command, env = _command(state, None)
    flags = ["--restart"] if restart else []
    with source.open("rb") as stdin:
        proc = subprocess.run(
            [*command, "--emulator", "lookup", "-", "-o", str(source), *flags],
            stdin=stdin, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
            check=False,
        )  # fmt: skip
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "is the standard input" in proc.stderr
    assert source.read_bytes() == PHONES.read_bytes()


#: Runs the command as a terminal's foreground job does: Ctrl+C raises KeyboardInterrupt. A job
#: started in the background by a non-interactive shell (``pytest … &``, a CI script) inherits
#: SIGINT ignored, and so would the command: the test's SIGINT would then be lost and the run
#: would go on to its end (Python keeps an inherited SIG_IGN, and so does asyncio's runner).
_FOREGROUND = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'smsc'; runpy.run_module('smsc_async.cli', run_name='__main__')"
)


def _partial_rows(tmp_path: Path) -> int:
    partials = list(tmp_path.glob(".*.partial"))
    return sum(p.read_text(encoding="utf-8").count("\n") for p in partials)


def _interrupt_when_waiting(state: Path, tmp_path: Path, rows: int, *args: str) -> str:
    """Run ``smsc ARGS…``; SIGINT it once it waits for the look-up rule; return its stderr.

    Waits on what the command shows: the "waiting … look-up rule" line on stderr (it is in the
    limiter's wait) and ``rows`` lines in the temporary output. The bounds only catch a hang.
    The process is killed and reaped whatever happens, so no pipe outlives the test.
    """
    _, env = _command(state, None)
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "w", encoding="utf-8") as err_file:
        proc = subprocess.Popen(
            [sys.executable, "-c", _FOREGROUND, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err_file,
            env=env,
            cwd=tmp_path,
        )
        try:
            deadline = time.monotonic() + 300
            while not (
                "look-up rule" in err_path.read_text(encoding="utf-8")
                and _partial_rows(tmp_path) >= rows
            ):
                assert proc.poll() is None, err_path.read_text(encoding="utf-8")
                assert time.monotonic() < deadline, "the run never waited for the rule"
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            # Well inside the rule's 60 s wait: a lost SIGINT shows as a run that goes on.
            code = proc.wait(timeout=45)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    err = err_path.read_text(encoding="utf-8")
    assert code == 130, err
    assert "looked up in" not in err, err
    return err


@pytest.fixture
def sigint_ignored() -> Iterator[None]:
    """The test process ignores SIGINT, as a background job of a non-interactive shell does."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def test_an_interrupted_restart_leaves_the_good_output_in_place(
    smsc: Run, state: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.csv"
    source = tmp_path / "many.txt"
    # 120 distinct numbers, one per request: 100 go at once, then the look-up rule holds a minute.
    source.write_text("".join(f"7916{i:07d}\n" for i in range(120)), encoding="utf-8")
    done = smsc("--emulator", "--emulator-scale", "0.01", "lookup", str(PHONES), "-o", str(out))
    assert done.exit_code == 0, done.output
    good = out.read_bytes()
    err = _interrupt_when_waiting(
        state, tmp_path, 90,
        "--emulator", "lookup", str(source), "-o", str(out), "--restart", "--batch-size", "1",
    )  # fmt: skip
    assert "left as it was" in err
    assert out.read_bytes() == good
    assert list(tmp_path.glob(".*.partial")) == []


@pytest.mark.usefixtures("sigint_ignored")
def test_an_interrupted_run_keeps_its_complete_rows_to_resume(state: Path, tmp_path: Path) -> None:
    # Run from a process that ignores SIGINT (pytest started in the background): the command
    # must still take the test's SIGINT as a Ctrl+C.
    out = tmp_path / "out.csv"
    source = tmp_path / "many.txt"
    source.write_text("".join(f"7916{i:07d}\n" for i in range(120)), encoding="utf-8")
    err = _interrupt_when_waiting(
        state, tmp_path, 90,
        "--emulator", "lookup", str(source), "-o", str(out), "--batch-size", "1",
    )  # fmt: skip
    assert "rerun the same command to resume" in err
    rows = read_csv(out)
    assert len(rows) >= 89
    assert all(r["result"] == "found" for r in rows)


# -- limits survive between commands ---------------------------------------------------------------


def test_a_rerun_waits_for_its_slot_instead_of_drawing_error_9(
    smsc: Run, state: Path, tmp_path: Path
) -> None:
    # 99 numbers a request each: the first run takes 99 places of the look-up rule (100 a
    # window of 3 s here) at once, and the second, right after, must wait for that window.
    source = tmp_path / "many.txt"
    source.write_text("".join(f"7916{i:07d}\n" for i in range(99)), encoding="utf-8")
    emu = ("--emulator", "--emulator-scale", "0.05")
    for name in ("first.csv", "second.csv"):
        result = smsc(*emu, "lookup", str(source), "-o", str(tmp_path / name), "--batch-size", "1")
        assert result.exit_code == 0, result.output
        assert len(read_csv(tmp_path / name)) == 99
    emulator = saved_emulator(state, "0.05")
    assert emulator.stats.requests["/sys/info.php"] == 198
    assert emulator.stats.errors[9] == 0


def test_an_identical_send_is_refused_at_once_whatever_process_sent_it(
    smsc: Run, state: Path, account_env: dict[str, str], emulator: Emulator, live_url: str
) -> None:
    first = smsc("send", "79161234567", "Hello", env=account_env)
    assert first.exit_code == 0, first.output
    again = smsc("send", "79161234567", "Hello", env=account_env)
    assert again.exit_code == EXIT_REFUSED
    assert "an identical message went out less than a minute ago" in again.stderr
    # Refused before asking the gateway: no retries, no error 9.
    assert emulator.stats.requests["/sys/send.php"] == 1
    assert emulator.stats.errors[9] == 0

    # A program of the same login on the same state file counts as well.
    async def library_send() -> None:
        async with (
            SQLiteBackend(state / "limits.sqlite3", secret="demo") as backend,
            Session(login="demo", password="demo", base_url=live_url, backend=backend) as s,
        ):
            # The same parameters as the command's send: an identical request.
            await s.send("79161234567", "From the library", translit=0, cost=3)

    anyio.run(library_send)
    third = smsc("send", "79161234567", "From the library", env=account_env)
    assert third.exit_code == EXIT_REFUSED
    assert "an identical message went out" in third.stderr
    assert emulator.stats.requests["/sys/send.php"] == 2


@pytest.mark.redis
def test_limits_in_redis(smsc: Run, redis_url: str) -> None:  # noqa: F811
    assert smsc("--emulator", "send", "79161234567", "Hi", "--redis", redis_url).exit_code == 0
    again = smsc("--emulator", "send", "79161234567", "Hi", env={"SMSC_REDIS_URL": redis_url})
    assert again.exit_code == EXIT_REFUSED
    assert "an identical message went out" in again.stderr
    bad = smsc("--emulator", "balance", "--redis", "http://nowhere")
    assert bad.exit_code == EXIT_USAGE
    assert "redis://" in bad.stderr


# -- progress never freezes ------------------------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _wait(seconds: float, *, rule: str = "operator_any", limit: int = 100, window: float = 60.0):  # type: ignore[no-untyped-def]
    return LimiterWait(
        endpoint="info", rule=rule, limit=limit, window=window, seconds=seconds, queued=3
    )


def test_the_bar_says_what_it_waits_for_and_counts_down() -> None:
    clock = FakeTime()
    meter = Meter(span=60.0, ceiling=100.0, clock=clock)
    meter.progress(100, 300)
    meter.event(_wait(41.2))
    assert meter.waiting() == "waiting 42 s for the 100-per-minute look-up rule"
    clock.t += 0.2
    assert meter.waiting() == "waiting 41 s for the 100-per-minute look-up rule"
    clock.t += 40.5
    assert meter.waiting() == "waiting 1 s for the 100-per-minute look-up rule"
    # The next answered batch ends the wait on show.
    meter.progress(101, 300)
    assert meter.waiting() == ""
    meter.event(_wait(float("inf"), rule="concurrency", limit=14, window=0.0))
    assert meter.waiting() == "waiting for an answer in flight (the cap of 14 requests at once)"
    meter.event(_wait(5.0, rule="messages_hourly", limit=30, window=3600.0))
    assert meter.waiting() == "waiting 5 s for the 30-per-hour history rule"
    clock.t += 5.0
    assert meter.waiting() == ""


def test_rate_and_eta_come_from_a_moving_window_not_the_first_burst() -> None:
    clock = FakeTime()
    # The rule allows 100 numbers a minute (1 a request): at most 5/3 numbers per second.
    meter = Meter(span=60.0, ceiling=100 / 60, clock=clock)
    clock.t += 0.5
    meter.progress(100, 400)  # the first burst: 100 numbers in half a second
    assert meter.rate() == 100 / 60
    assert meter.eta() == 300 / (100 / 60)
    # A minute of waiting: the rate falls as the window moves, the ETA grows; nothing freezes.
    clock.t += 30.0
    assert meter.rate() == 100 / 60  # 100 numbers in 30.5 s, capped by the rule
    clock.t += 60.0
    assert meter.rate() == 0.0  # no number in the last minute
    assert meter.eta() is None
    for _ in range(4):
        clock.t += 15.0
        meter.progress(meter.done + 25, 400)
    assert meter.rate() == pytest.approx(100 / 60)
    assert meter.eta() == pytest.approx(200 / (100 / 60))


@pytest.mark.parametrize(
    ("rule", "phrase"),
    [
        ("operator_any", "the 100-per-minute look-up rule"),
        ("operator_identical", "the 3-per-minute rule for identical look-ups"),
        ("balance", "the 10-per-minute balance rule"),
        ("send_identical", "the 1-per-minute rule for identical sends"),
        ("cost_identical", "the 5-per-minute rule for identical cost requests"),
        ("status_message", "the 5-per-minute status rule of one message"),
        ("messages_hourly", "the 30-per-hour history rule"),
        ("messages_identical", "the 3-per-minute rule for identical history requests"),
        ("senders_list_identical", "the 3-per-minute rule for identical sender lists"),
        ("concurrency", "the cap of 14 requests at once"),
        ("status_concurrency", "the cap of 4 status requests at once"),
    ],
)
def test_every_rule_a_command_can_wait_on_is_named_as_people_say_it(rule: str, phrase: str) -> None:
    # The numbers come from the real rules, as the limiter reports them.
    limits = RateLimits()
    value = getattr(limits, rule)
    limit, window = (value, 0.0) if isinstance(value, int) else (value.limit, value.window)
    assert rule_phrase(_wait(41.0, rule=rule, limit=limit, window=window)) == phrase
    meter = Meter(span=60.0, ceiling=1.0, clock=FakeTime())
    meter.event(_wait(41.0, rule=rule, limit=limit, window=window))
    assert meter.waiting() == f"waiting 41 s for {phrase}"


def test_the_real_bar_shows_the_wait(smsc: Run, tmp_path: Path) -> None:
    source = tmp_path / "many.txt"
    source.write_text("".join(f"7916{i:07d}\n" for i in range(103)), encoding="utf-8")
    # A live bar on a pipe, as on a terminal; the rule's window is 3 s at this scale.
    result = smsc(
        "--emulator", "--emulator-scale", "0.05", "lookup", str(source), "-o",
        str(tmp_path / "o.csv"), "--batch-size", "1", "--progress",
        env={"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    shown = set(re.findall(r"waiting (\d+) s for the 100-per-3-s look-up rule", result.stderr))
    # The wait is counted down as it passes, from the limiter's own figure.
    assert shown and max(map(int, shown)) <= 3 and len(shown) >= 2, result.stderr[-2000:]
    assert "numbers/s" in result.stderr


def _fill(state: Path, scale: float, calls: Callable[[Session], Any]) -> None:
    """Spend a rule from a program of the same login, on the command's own state file."""

    async def go() -> None:
        import httpx

        limits = RateLimits().scaled(scale)
        async with (
            SQLiteBackend(state / f"limits-emulator-x{scale:g}.sqlite3", secret="demo") as b,
            Session(
                login="demo", password="demo", base_url="http://127.0.0.1", limits=limits,
                backend=b, transport=httpx.ASGITransport(app=Emulator(limits=limits)),
            ) as s,
        ):  # fmt: skip
            await calls(s)

    state.mkdir(mode=0o700, exist_ok=True)
    anyio.run(go)


async def _balances(s: Session) -> None:
    for _ in range(10):
        await s.balance()


async def _statuses(s: Session) -> None:
    for _ in range(5):
        await s.status("12345", "79161234567", all=1)


async def _histories(s: Session) -> None:
    for _ in range(30):
        with contextlib.suppress(MessageNotFoundError):
            await s.get_messages(start=dt.date.today() - dt.timedelta(days=7), cnt=20)


@pytest.mark.parametrize(
    ("scale", "fill", "command", "phrase", "code"),
    [
        ("0.1", _balances, ["balance"], "the 10-per-6-s balance rule", 0),
        (
            "0.1", _statuses, ["status", "12345", "79161234567"],
            "the 5-per-6-s status rule of one message", EXIT_REFUSED,
        ),
        ("0.002", _histories, ["history"], "the 30-per-7.2-s history rule", 0),
    ],
    ids=["balance", "status", "history"],
)  # fmt: skip
def test_a_command_that_waits_says_what_for(
    smsc: Run,
    state: Path,
    scale: str,
    fill: Callable[[Session], Any],
    command: list[str],
    phrase: str,
    code: int,
) -> None:
    _fill(state, float(scale), fill)
    result = smsc("--emulator", "--emulator-scale", scale, *command)
    assert result.exit_code == code, result.output
    told = re.findall(rf"^smsc: waiting (\d+) s for {re.escape(phrase)}$", result.stderr, re.M)
    assert len(told) == 1, result.stderr
    assert 1 <= int(told[0]) <= math.ceil(float(scale) * (3600 if "history" in phrase else 60))


# -- --country -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "country", "number"),
    [
        ("8 916 123-45-67", "RU", "+79161234567"),
        ("9161234567", "RU", "+79161234567"),
        ("79161234567", "RU", "+79161234567"),
        ("+7 916 123 45 67", "UA", "+79161234567"),
        ("0039 06 1234 5678", "RU", "+390612345678"),
        ("067 123 45 67", "UA", "+380671234567"),
        ("80 29 313 47 43", "BY", "+375293134743"),
        ("8 701 854 83 74", "KZ", "+77018548374"),
        ("380671234567", "UA", "+380671234567"),
        ("9161234567", "UA", "+9161234567"),
        ("not a number", "RU", "not a number"),
    ],
)
def test_national_numbers_are_read_as_the_country_says(
    text: str, country: str, number: str
) -> None:
    assert read_number(text, country) == number


def test_an_8_number_is_not_made_russian_for_another_country() -> None:
    with pytest.raises(ValueError, match="--country is UA"):
        read_number("8 916 123 45 67", "UA")


def test_lookup_country_option(smsc: Run, tmp_path: Path) -> None:
    source = tmp_path / "ua.txt"
    source.write_text("067 123 45 67\n8 916 123 45 67\n+7 916 123 45 67\n", encoding="utf-8")
    result = smsc("--emulator", "lookup", str(source), "--format", "jsonl", "--country", "ua")
    assert result.exit_code == 0, result.output
    rows = {r["line"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert (rows[1]["phone"], rows[1]["result"]) == ("380671234567", "found")
    assert rows[2]["result"] == "invalid"
    assert "--country is UA" in rows[2]["error"]
    assert (rows[3]["phone"], rows[3]["result"]) == ("79161234567", "found")
    assert "1 rejected locally" in result.stderr
    russian = smsc("--emulator", "lookup", str(source), "--format", "jsonl")
    phones = sorted(json.loads(line)["phone"] for line in russian.stdout.splitlines())
    assert phones == ["+0671234567", "79161234567"]  # line 3 is line 2's number again


# -- day-to-day checks -----------------------------------------------------------------------------


def test_balance(smsc: Run, account_env: dict[str, str]) -> None:
    result = smsc("balance", env=account_env)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "1000.00 RUR"
    as_json = json.loads(smsc("balance", "--json", env=account_env).stdout)
    assert as_json == {"balance": "1000.00", "currency": "RUR", "credit": None}


def test_send_status_and_history(
    smsc: Run, account_env: dict[str, str], emulator: Emulator
) -> None:
    dry = smsc("send", "79161234567", "Hello", "--dry-run", env=account_env)
    assert dry.exit_code == 0, dry.output
    assert "nothing was sent" in dry.stdout
    assert emulator.stats.sms == 0
    sent = json.loads(smsc("send", "79161234567", "Hello", "--json", env=account_env).stdout)
    assert sent["cnt"] == 1
    assert emulator.stats.sms == 1
    status = smsc("status", str(sent["id"]), "79161234567", env=account_env)
    assert status.exit_code == 0, status.output
    assert "status: " in status.stdout
    history = smsc("history", "--json", env=account_env)
    assert history.exit_code == 0, history.output
    messages = json.loads(history.stdout)
    assert [m["phone"] for m in messages] == ["79161234567"]
    assert messages[0]["message"] == "Hello"
    table = smsc("history", "--phone", "79161234567", env=account_env)
    assert "79161234567" in table.stdout
    assert "Hello" in table.stdout


def test_the_emulator_keeps_its_state_between_commands(smsc: Run) -> None:
    sent = smsc("--emulator", "send", "79161234567", "Hello [b]world[/x]", "--json")
    assert sent.exit_code == 0, sent.output
    message_id = str(json.loads(sent.stdout)["id"])
    status = smsc("--emulator", "status", message_id, "79161234567")
    assert status.exit_code == 0, status.output
    assert "message: Hello [b]world[/x]" in status.stdout
    # The balance went down, and the history shows the text as it was written.
    assert smsc("--emulator", "balance").stdout.strip() != "1000.00 RUR"
    history = smsc("--emulator", "history")
    assert history.exit_code == 0, history.output
    assert "Hello [b]world[/x]" in history.stdout


class _Payload:
    # A pickle of this runs ``touch <marker>`` when loaded.
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.marker}",))


_BAD_STATES = {
    "not json": b"{not json",
    "not utf-8": b"\xff\xfe\x00",
    "deep nesting": b"[" * 100_000,
    "wrong types": json.dumps(
        {"version": 1, "accounts": {"demo": {"balance": {"__class__": "os.system"}}}}
    ).encode(),
    "version": json.dumps({"version": 99}).encode(),
    "wrong shape": json.dumps({"version": 1, "accounts": []}).encode(),
}


@pytest.mark.parametrize("content", ["hostile pickle", *_BAD_STATES])
def test_a_corrupt_or_hostile_emulator_state_is_refused(tmp_path: Path, content: str) -> None:
    import pickle

    marker = tmp_path / "pwned"
    data = pickle.dumps(_Payload(marker)) if content == "hostile pickle" else _BAD_STATES[content]
    path = tmp_path / "emulator-x1.json"
    path.write_bytes(data)
    with pytest.raises(BadStateError, match=f"^{re.escape(str(path))} is not the state of an"):
        load_emulator(path, 1.0)
    assert not marker.exists()


def test_a_refused_emulator_state_starts_afresh(smsc: Run, state: Path, tmp_path: Path) -> None:
    # What the command does with any state load_emulator refuses (the cases above).
    import pickle

    marker = tmp_path / "pwned"
    state.mkdir(mode=0o700)
    path = state / "emulator-x1.json"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    result = smsc("--emulator", "balance")
    assert (result.exit_code, result.stdout.strip()) == (0, "1000.00 RUR"), result.output
    assert f"{path} is not the state of an emulator" in result.stderr
    assert "starts afresh" in result.stderr
    assert not marker.exists()
    # The file was replaced by a good state: the next command reads it without a word.
    sent = smsc("--emulator", "send", "79161234567", "Hi", "--json")
    assert sent.exit_code == 0, sent.output
    assert sent.stderr == ""
    assert saved_emulator(state, "1").stats.sms == 1


def test_status_of_an_unknown_message_fails(smsc: Run) -> None:
    result = smsc("--emulator", "status", "12345", "79161234567")
    assert result.exit_code == EXIT_REFUSED
    assert "no message 12345 to 79161234567" in result.stderr


def test_brackets_never_crash_the_cli(smsc: Run) -> None:
    result = smsc("--emulator", "send", "[/x]79161234567[b]", "Hello")
    assert result.exit_code == EXIT_USAGE
    assert "[/x]79161234567[b]" in result.stderr


def test_options_after_the_subcommand(smsc: Run, tmp_path: Path) -> None:
    result = smsc("balance", "--emulator")
    assert (result.exit_code, result.stdout.strip()) == (0, "1000.00 RUR")
    out = tmp_path / "o.csv"
    result = smsc("lookup", str(PHONES), "-o", str(out), "--emulator", "--emulator-scale", "0.01")
    assert result.exit_code == 0, result.output
    assert_complete(read_csv(out))


def test_history_empty(smsc: Run, account_env: dict[str, str]) -> None:
    result = smsc("history", env=account_env)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "no messages"


def test_senders(smsc: Run, account_env: dict[str, str], emulator: Emulator) -> None:
    from smsc_async.testing._records import add_sender

    assert smsc("senders", env=account_env).stdout.strip() == "no sender names"
    add_sender(emulator, "demo", "Shop[/b]")
    result = smsc("senders", env=account_env)
    assert result.exit_code == 0, result.output
    assert "Shop[/b]" in result.stdout
    names = json.loads(smsc("senders", "--json", "--all", env=account_env).stdout)
    assert [n["sender"] for n in names] == ["Shop[/b]"]


# -- failures: one clear line, a meaningful exit code, no traceback --------------------------------


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({}, "no credentials: set SMSC_LOGIN and SMSC_PASSWORD"),
        ({"SMSC_LOGIN": "demo"}, "no credentials"),
        ({"SMSC_API_KEY": "k", "SMSC_LOGIN": "demo", "SMSC_PASSWORD": "x"}, "not both"),
        (
            {"SMSC_LOGIN": "a", "SMSC_PASSWORD": "b", "SMSC_BASE_URL": "http://example.com"},
            "plain http is allowed only for loopback",
        ),
    ],
)
def test_configuration_errors(smsc: Run, env: dict[str, str], needle: str) -> None:
    result = smsc("balance", env=env)
    assert result.exit_code == EXIT_USAGE
    assert needle in result.stderr


def test_wrong_password(smsc: Run, live_url: str) -> None:
    env = {"SMSC_BASE_URL": live_url, "SMSC_LOGIN": "demo", "SMSC_PASSWORD": "nope"}
    result = smsc("balance", env=env)
    assert result.exit_code == EXIT_REFUSED
    assert "error 2" in result.stderr
    assert "nope" not in result.output  # the password is never echoed


def test_wrong_password_stops_a_lookup_at_once(
    smsc: Run, live_url: str, emulator: Emulator
) -> None:
    env = {"SMSC_BASE_URL": live_url, "SMSC_LOGIN": "demo", "SMSC_PASSWORD": "nope"}
    result = smsc("lookup", str(PHONES), env=env)
    assert result.exit_code == EXIT_REFUSED
    assert emulator.stats.errors[2] == 1


#: The command with the session's retry waits cut to 10 ms (the policy's own waits, 1-2-4 s, are
#: test_retry.py's, on virtual time): what a user sees once the retries are spent, in 0.5 s.
_SHORT_RETRIES = (
    "import functools, sys; import smsc_async.cli as cli; "
    "from smsc_async import RetryPolicy; "
    "cli.Session = functools.partial(cli.Session, retry=RetryPolicy(initial=0.01, jitter=0.0)); "
    "sys.argv[0] = 'smsc'; cli.main()"
)


def test_unreachable_gateway(state: Path, tmp_path: Path) -> None:
    env = {"SMSC_BASE_URL": "http://127.0.0.1:9", "SMSC_LOGIN": "a", "SMSC_PASSWORD": "b"}
    _, full = _command(state, env)
    proc = subprocess.run(
        [sys.executable, "-c", _SHORT_RETRIES, "--timeout", "2", "balance"],
        capture_output=True, text=True, env=full, cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == EXIT_NETWORK, proc.stderr
    assert "cannot connect" in proc.stderr


def test_an_unreachable_limiter_store_is_a_network_failure(smsc: Run) -> None:
    result = smsc("--emulator", "balance", "--redis", "redis://127.0.0.1:9")
    assert result.exit_code == EXIT_NETWORK, result.output
    assert "nothing was sent" in result.stderr


def test_invalid_arguments(smsc: Run, account_env: dict[str, str]) -> None:
    result = smsc("send", "not-a-phone", "Hello", env=account_env)
    assert result.exit_code == EXIT_USAGE
    assert "not a phone number" in result.stderr


def test_state_is_kept_under_the_state_dir(smsc: Run, state: Path) -> None:
    assert smsc("--emulator", "balance").exit_code == 0
    names = sorted(p.name for p in state.iterdir())
    assert "emulator-x1.json" in names
    assert "limits-emulator-x1.sqlite3" in names
    assert state.stat().st_mode & 0o077 == 0


def test_help_and_version(smsc: Run) -> None:
    import smsc_async

    assert smsc("--version").stdout.strip() == f"smsc {smsc_async.__version__}"
    listing = smsc("--help").stdout
    for command in ("lookup", "balance", "send", "status", "senders", "history"):
        assert command in listing
    assert "SMSC_API_KEY" in listing
    assert "SMSC_STATE_DIR" in listing
