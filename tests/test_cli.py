"""The ``smsc`` command line: click's CliRunner, the emulator, and one real subprocess."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner, Result

from smsc_async.cli import COLUMNS, EXIT_NETWORK, EXIT_REFUSED, EXIT_USAGE, cli
from smsc_async.testing import Emulator

ROOT = Path(__file__).resolve().parent.parent
PHONES = ROOT / "examples" / "phones.txt"
# examples/phones.txt: 315 numbers, 303 distinct once normalized.
DISTINCT, FOUND, NOT_FOUND, INVALID = 303, 290, 6, 7
CLEAN_ENV = {"SMSC_LOGIN": "", "SMSC_PASSWORD": "", "SMSC_API_KEY": "", "SMSC_BASE_URL": ""}


def invoke(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    return CliRunner().invoke(
        cli, list(args), env={**CLEAN_ENV, **(env or {})}, input=stdin, catch_exceptions=False
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def assert_complete(rows: list[dict[str, str]]) -> None:
    phones = [r["phone"] for r in rows]
    assert len(phones) == len(set(phones)) == DISTINCT
    counts = Counter(r["result"] for r in rows)
    assert counts == {"found": FOUND, "not_found": NOT_FOUND, "invalid": INVALID}


@pytest.fixture
def account_env(live_url: str) -> dict[str, str]:
    return {"SMSC_BASE_URL": live_url, "SMSC_LOGIN": "demo", "SMSC_PASSWORD": "demo"}


# -- lookup --------------------------------------------------------------------------------------


def test_lookup_writes_csv(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    result = invoke("--emulator", "lookup", str(PHONES), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert f"{DISTINCT} numbers looked up" in result.stderr
    rows = read_csv(out)
    assert list(rows[0]) == list(COLUMNS)
    assert_complete(rows)
    moscow = next(r for r in rows if r["phone"] == "79268782235")  # "79268782235" in the file
    assert (moscow["result"], moscow["country"], moscow["mcc"]) == ("found", "Россия", "250")


def test_lookup_writes_json_lines(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = invoke("--emulator", "lookup", str(PHONES), "-o", str(out), "--batch-size", "20")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert all(set(row) == set(COLUMNS) for row in rows)
    assert_complete([{k: str(v) for k, v in row.items()} for row in rows])
    missing = next(row for row in rows if row["result"] == "not_found")
    assert missing["operator"] is None
    assert "Operator not found." in missing["error"]


def test_lookup_resumes_where_it_stopped(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    lines = PHONES.read_text(encoding="utf-8").splitlines()
    first_part = tmp_path / "first.txt"
    first_part.write_text("\n".join(lines[:150]) + "\n", encoding="utf-8")
    assert invoke("--emulator", "lookup", str(first_part), "-o", str(out)).exit_code == 0
    done_before = len(read_csv(out))
    # The run "crashed" in the middle of writing a row.
    with out.open("a", encoding="utf-8") as f:
        f.write("7916,fou")
    result = invoke("--emulator", "lookup", str(PHONES), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert f"{DISTINCT - done_before} numbers looked up" in result.stderr
    assert f"({done_before} done before)" in result.stderr
    assert_complete(read_csv(out))
    # Nothing is left to do: a third run sends no request at all.
    again = invoke("--emulator", "lookup", str(PHONES), "-o", str(out))
    assert "0 numbers looked up" in again.stderr
    assert "0 requests" in again.stderr
    assert_complete(read_csv(out))
    # --restart starts over.
    fresh = invoke("--emulator", "lookup", str(PHONES), "-o", str(out), "--restart")
    assert f"{DISTINCT} numbers looked up" in fresh.stderr
    assert_complete(read_csv(out))


def test_lookup_refuses_to_resume_a_foreign_file(tmp_path: Path) -> None:
    out = tmp_path / "notes.csv"
    out.write_text("name,age\nann,3\n", encoding="utf-8")
    result = invoke("--emulator", "lookup", str(PHONES), "-o", str(out))
    assert result.exit_code == EXIT_USAGE
    assert "not an `smsc lookup` CSV file" in result.stderr
    assert out.read_text(encoding="utf-8") == "name,age\nann,3\n"


def test_lookup_stdin_to_stdout(tmp_path: Path) -> None:
    stdin = "phone\n+7 916 123-45-67\n89161234567;Ann\n# a comment\n\n+380 67 123 4567\n"
    result = invoke("--emulator", "lookup", "-", "--format", "jsonl", stdin=stdin)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["phone"] for r in rows) == ["380671234567", "79161234567"]
    assert all(r["result"] == "found" for r in rows)


def test_lookup_progress_bar(tmp_path: Path) -> None:
    result = invoke(
        "--emulator", "lookup", str(PHONES), "-o", str(tmp_path / "o.csv"), "--progress"
    )
    assert result.exit_code == 0
    assert f"{DISTINCT}/{DISTINCT}" in result.stderr
    assert "numbers/s" in result.stderr
    assert f"{NOT_FOUND + INVALID} failed" in result.stderr


def test_lookup_with_account_from_environment(
    tmp_path: Path, account_env: dict[str, str], emulator: Emulator
) -> None:
    out = tmp_path / "out.csv"
    result = invoke("lookup", str(PHONES), "-o", str(out), env=account_env)
    assert result.exit_code == 0, result.output
    assert_complete(read_csv(out))
    assert emulator.stats.requests["/sys/info.php"] > 0


def test_lookup_missing_input() -> None:
    result = invoke("--emulator", "lookup", "no-such-file.txt")
    assert result.exit_code == EXIT_USAGE
    assert "does not exist" in result.stderr


# -- day-to-day checks ---------------------------------------------------------------------------


def test_balance(account_env: dict[str, str]) -> None:
    result = invoke("balance", env=account_env)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "1000.00 RUR"
    as_json = json.loads(invoke("balance", "--json", env=account_env).stdout)
    assert as_json == {"balance": "1000.00", "currency": "RUR", "credit": None}


def test_send_status_and_history(account_env: dict[str, str], emulator: Emulator) -> None:
    dry = invoke("send", "79161234567", "Hello", "--dry-run", env=account_env)
    assert dry.exit_code == 0, dry.output
    assert "nothing was sent" in dry.stdout
    assert emulator.stats.sms == 0
    sent = json.loads(invoke("send", "79161234567", "Hello", "--json", env=account_env).stdout)
    assert sent["cnt"] == 1
    assert emulator.stats.sms == 1
    status = invoke("status", str(sent["id"]), "79161234567", env=account_env)
    assert status.exit_code == 0, status.output
    assert "status: " in status.stdout
    history = invoke("history", "--json", env=account_env)
    assert history.exit_code == 0, history.output
    messages = json.loads(history.stdout)
    assert [m["phone"] for m in messages] == ["79161234567"]
    assert messages[0]["message"] == "Hello"
    table = invoke("history", "--phone", "79161234567", env=account_env)
    assert "79161234567" in table.stdout
    assert "Hello" in table.stdout


def test_history_empty(account_env: dict[str, str]) -> None:
    result = invoke("history", env=account_env)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "no messages"


def test_senders(account_env: dict[str, str], emulator: Emulator) -> None:
    from smsc_async.testing._records import add_sender

    assert invoke("senders", env=account_env).stdout.strip() == "no sender names"
    add_sender(emulator, "demo", "Shop")
    result = invoke("senders", env=account_env)
    assert result.exit_code == 0, result.output
    assert "Shop" in result.stdout
    names = json.loads(invoke("senders", "--json", "--all", env=account_env).stdout)
    assert [n["sender"] for n in names] == ["Shop"]


# -- failures: one clear line, a meaningful exit code, no traceback ------------------------------


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
def test_configuration_errors(env: dict[str, str], needle: str) -> None:
    result = invoke("balance", env=env)
    assert result.exit_code == EXIT_USAGE
    assert needle in result.stderr
    assert "Traceback" not in result.output


def test_wrong_password(live_url: str) -> None:
    env = {"SMSC_BASE_URL": live_url, "SMSC_LOGIN": "demo", "SMSC_PASSWORD": "nope"}
    result = invoke("balance", env=env)
    assert result.exit_code == EXIT_REFUSED
    assert "error 2" in result.stderr
    assert "nope" not in result.output  # the password is never echoed


def test_wrong_password_stops_a_lookup_at_once(live_url: str, emulator: Emulator) -> None:
    env = {"SMSC_BASE_URL": live_url, "SMSC_LOGIN": "demo", "SMSC_PASSWORD": "nope"}
    result = invoke("lookup", str(PHONES), env=env)
    assert result.exit_code == EXIT_REFUSED
    assert emulator.stats.errors[2] == 1


def test_unreachable_gateway() -> None:
    env = {"SMSC_BASE_URL": "http://127.0.0.1:9", "SMSC_LOGIN": "a", "SMSC_PASSWORD": "b"}
    result = invoke("--timeout", "2", "balance", env=env)
    assert result.exit_code == EXIT_NETWORK
    assert "cannot connect" in result.stderr


def test_invalid_arguments(account_env: dict[str, str]) -> None:
    result = invoke("send", "not-a-phone", "Hello", env=account_env)
    assert result.exit_code == EXIT_USAGE
    assert "not a phone number" in result.stderr


def test_interrupt_hints_at_resuming(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(anyio, "run", interrupted)
    result = invoke("--emulator", "lookup", str(PHONES), "-o", str(tmp_path / "o.csv"))
    assert result.exit_code == 130
    assert "rerun the same command to resume" in result.stderr


# -- the real thing ------------------------------------------------------------------------------


def test_subprocess_emulator_lookup(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    env = {**os.environ, "PYTHONPATH": str(ROOT), **CLEAN_ENV}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "smsc_async.cli",
            "--emulator",
            "lookup",
            str(PHONES),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"{DISTINCT} numbers looked up" in proc.stderr
    assert_complete(list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8")))))


def test_help_and_version() -> None:
    import smsc_async

    assert invoke("--version").stdout.strip() == f"smsc {smsc_async.__version__}"
    listing = invoke("--help").stdout
    for command in ("lookup", "balance", "send", "status", "senders", "history"):
        assert command in listing
    assert "SMSC_API_KEY" in listing
