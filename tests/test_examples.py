"""The examples and the README's usage example run, as written, against the emulator.

Each is run the way its user would run it: the FastAPI app served by uvicorn with its lifespan,
the bot through aiogram's own dispatcher, the batch job and the README snippet as scripts in a
subprocess. The emulator is the ``smsc_emulator`` fixture's, on a loopback port; the examples find
it through the environment (``SMSC_LOGIN``, ``SMSC_PASSWORD``, ``SMSC_BASE_URL``), as they would
the real gateway.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import inspect
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from smsc_async import Session, normalize_phone
from smsc_async.testing import Emulator, ServedEmulator

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PHONE = "79161234567"

needs_max_wait = pytest.mark.skipif(
    "max_wait" not in inspect.signature(Session).parameters, reason="needs Session(max_wait)"
)


def load(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` afresh (examples are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The gateway as a user's own suite gets it: the smsc_emulator fixture (the pytest11 plugin), with
# strict documented rules; messages stay queued, so a status read after a send is WAITING.
pytestmark = pytest.mark.smsc_emulator(delivery_delay=600)


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, smsc_emulator: ServedEmulator) -> Emulator:
    """The served emulator, named by the environment the examples read."""
    monkeypatch.setenv("SMSC_LOGIN", smsc_emulator.login)
    monkeypatch.setenv("SMSC_PASSWORD", smsc_emulator.password)
    monkeypatch.setenv("SMSC_BASE_URL", smsc_emulator.base_url)
    return smsc_emulator.emulator


@contextmanager
def served(app: Any) -> Iterator[httpx.Client]:
    """Serve an ASGI app with uvicorn on a loopback port, lifespan on, as ``uvicorn app`` does."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="warning", log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "the app failed to start"
            assert time.monotonic() < deadline, "the app did not start in time"
            time.sleep(0.01)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def sent_texts(emulator: Emulator) -> list[tuple[str, str]]:
    return [(m.phone, m.text) for m in emulator.account("demo").messages.values()]


# -- examples/fastapi_app.py ---------------------------------------------------------------------


@needs_max_wait
def test_fastapi_app_sends_a_code_and_shows_the_balance(gateway: Emulator) -> None:
    app = load("fastapi_app").app
    with served(app) as client:  # the lifespan opens the Session; leaving closes it
        balance = client.get("/balance")
        assert balance.status_code == 200
        assert balance.json() == {"balance": "1000.00", "currency": "RUR", "credit": None}
        sent = client.post("/codes", json={"phone": PHONE})
        assert sent.status_code == 201, sent.text
        assert sent.json()["sent"]["cnt"] == 1
        bad = client.post("/codes", json={"phone": "not a number"})
        assert bad.status_code == 422
        assert "phone" in bad.json()["detail"]
    ((phone, text),) = sent_texts(gateway)
    assert phone == PHONE
    assert re.fullmatch(r"Your code: \d{6}", text)
    assert gateway.stats.requests["/sys/send.php"] == 1  # the malformed number never left


@needs_max_wait
def test_fastapi_app_answers_429_past_max_wait(gateway: Emulator) -> None:
    module = load("fastapi_app")
    with served(module.app) as client:
        # balance.php allows 10 a minute: the 11th would wait for most of a minute, far past
        # MAX_WAIT, so it is refused at once instead of hanging the client.
        answers = [client.get("/balance") for _ in range(11)]
    assert [a.status_code for a in answers] == [200] * 10 + [429]
    retry_after = int(answers[-1].headers["Retry-After"])
    assert module.MAX_WAIT < retry_after <= 60
    assert gateway.stats.requests["/sys/balance.php"] == 10
    assert gateway.stats.errors[9] == 0


@needs_max_wait
def test_fastapi_workers_share_the_rules_through_the_limits_file(
    gateway: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Two workers, as uvicorn --workers 2 runs them: each its own app and Session, one file.
    monkeypatch.setenv("SMSC_LIMITS_FILE", str(tmp_path / "limits.sqlite3"))
    with served(load("fastapi_app").app) as one, served(load("fastapi_app").app) as two:
        answers = [(one if i % 2 else two).get("/balance") for i in range(11)]
    assert [a.status_code for a in answers] == [200] * 10 + [429]
    assert "Retry-After" in answers[-1].headers
    assert gateway.stats.requests["/sys/balance.php"] == 10
    assert gateway.stats.errors[9] == 0


# -- examples/bot.py -----------------------------------------------------------------------------


class TelegramRecorder:
    """What the bot says, caught at aiogram's HTTP session: the Bot API is never reached."""

    def __init__(self) -> None:
        self.said: list[tuple[int, str]] = []

    def session(self) -> Any:
        from aiogram.client.session.base import BaseSession
        from aiogram.methods import SendMessage
        from aiogram.types import Chat, Message

        recorder = self

        class Recording(BaseSession):
            async def make_request(self, bot: Any, method: Any, timeout: Any = None) -> Any:
                assert isinstance(method, SendMessage), method
                recorder.said.append((int(method.chat_id), method.text))
                chat = Chat(id=int(method.chat_id), type="private")
                sent_at = dt.datetime.now(dt.timezone.utc)
                return Message(
                    message_id=len(recorder.said), date=sent_at, chat=chat, text=method.text
                )

            async def stream_content(
                self,
                url: str,
                headers: dict[str, Any] | None = None,
                timeout: int = 30,
                chunk_size: int = 65536,
                raise_for_status: bool = True,
            ) -> AsyncGenerator[bytes, None]:
                raise AssertionError("the bot downloads nothing")
                yield b""

            async def close(self) -> None:
                pass

        return Recording()


class Chat:
    """One user writing to the bot, through aiogram's dispatcher as Telegram's updates would."""

    def __init__(self, dispatcher: Any, bot: Any, recorder: TelegramRecorder, chat_id: int):
        self.dispatcher, self.bot, self.recorder, self.id = dispatcher, bot, recorder, chat_id
        self.updates = 0

    async def say(self, text: str) -> str:
        from aiogram.types import Update

        self.updates += 1
        update = Update.model_validate(
            {
                "update_id": self.updates,
                "message": {
                    "message_id": self.updates,
                    "date": 0,
                    "chat": {"id": self.id, "type": "private"},
                    "from": {"id": self.id, "is_bot": False, "first_name": "Ann"},
                    "text": text,
                    **(
                        {"entities": [{"type": "bot_command", "offset": 0, "length": len(text)}]}
                        if text.startswith("/")
                        else {}
                    ),
                },
            },
            context={"bot": self.bot},
        )
        before = len(self.recorder.said)
        await self.dispatcher.feed_update(self.bot, update)
        ((chat_id, answer),) = self.recorder.said[before:]
        assert chat_id == self.id
        return answer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiogram runs on asyncio only


@pytest.mark.anyio
async def test_bot_confirms_a_number_and_tells_the_balance(gateway: Emulator) -> None:
    pytest.importorskip("aiogram", reason="the bot example needs aiogram (test extra)")
    from aiogram import Bot

    bot_module = load("bot")
    recorder = TelegramRecorder()
    bot = Bot("123456:TEST-TOKEN", session=recorder.session())
    async with Session("demo", "demo", base_url=os.environ["SMSC_BASE_URL"]) as smsc:
        dispatcher = bot_module.build_dispatcher(smsc)
        ann = Chat(dispatcher, bot, recorder, chat_id=42)
        bob = Chat(dispatcher, bot, recorder, chat_id=43)

        assert await ann.say("/balance") == "SMS balance: 1000.00 RUR"
        assert await ann.say("hello") == "Write your phone number to confirm it, or /balance."
        assert await ann.say("+7 (916) 123-45-67") == "We sent you a code by SMS: write it here."
        ((phone, text),) = sent_texts(gateway)
        assert phone == PHONE
        code = text.removeprefix("Your code: ")
        assert re.fullmatch(r"\d{6}", code)

        wrong = f"{(int(code) + 1) % 10**6:06d}"
        assert (await bob.say(code)).startswith("That code is not the one we sent")  # not Bob's
        assert (await ann.say(wrong)).startswith("That code is not the one we sent")
        assert await ann.say(code) == "Confirmed: +7 (916) 123-45-67."
        assert (await ann.say(code)).startswith("That code is not the one")  # used up

        too_short = "+7 916 12"  # looks like a number to the filter, not to the gateway
        assert (await ann.say(too_short)).startswith("That does not look like a phone number")
        assert len(sent_texts(gateway)) == 1
        await bot.session.close()


# -- examples/batch_job.py -----------------------------------------------------------------------


def run_script(path: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``path`` as its user would: ``python path args`` with the gateway in the environment."""
    return subprocess.run(
        [sys.executable, str(path), *args],
        cwd=cwd,
        env={**os.environ, "PYTHONWARNINGS": "error"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_batch_job_looks_up_a_file_with_progress(gateway: Emulator, tmp_path: Path) -> None:
    source = EXAMPLES / "phones.txt"
    target = tmp_path / "operators.csv"
    done = run_script(EXAMPLES / "batch_job.py", str(source), str(target), cwd=tmp_path)
    assert done.returncode == 0, done.stderr

    # One row per distinct number, as the library normalizes them.
    lines = [t.strip() for t in source.read_text(encoding="utf-8").splitlines()]
    given = [t for t in lines if t and not t.startswith("#")]
    expected = set()
    for text in given:
        try:
            expected.add(normalize_phone(text))
        except ValueError:
            expected.add(text)
    with target.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(expected)
    assert {row["phone"] for row in rows} == expected
    found = [row for row in rows if not row["error"]]
    failed = [row for row in rows if row["error"]]
    assert all(row["operator"] and row["country"] and row["mcc"] for row in found)
    # Not numbers at all, refused by the gateway, no operator known: each kind is in the file.
    kinds = {row["error"].split(":")[0] for row in failed}
    assert kinds == {"ValueError", "ParameterError", "OperatorNotFoundError"}

    # Progress after every batch, ending on the whole count, and a summary.
    progress = [line for line in done.stderr.splitlines() if " numbers, " in line]
    assert len(progress) >= 2
    assert progress[-1].startswith(f"{len(expected)}/{len(expected)} numbers, {len(failed)} ")
    assert done.stderr.splitlines()[-1] == (
        f"done: {len(found)} found, {len(failed)} failed -> {target}"
    )
    assert not (tmp_path / "operators.csv.part").exists()
    assert gateway.stats.errors[9] == 0


def test_batch_job_refuses_to_overwrite_its_input(gateway: Emulator, tmp_path: Path) -> None:
    source = tmp_path / "phones.txt"
    source.write_text("79161234567\n", encoding="utf-8")
    (tmp_path / "link.txt").hardlink_to(source)
    done = run_script(EXAMPLES / "batch_job.py", str(source), "link.txt", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == "the output must not be the input"
    assert source.read_text(encoding="utf-8") == "79161234567\n"
    assert sum(gateway.stats.requests.values()) == 0


# -- README.md: the usage example ----------------------------------------------------------------


def readme_block(section: str) -> str:
    """The first ```python block under the README heading ``section``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = text[text.index(f"\n{section}\n") :]
    match = re.search(r"```python\n(.*?)```", body, re.S)
    assert match is not None, f"no python block under {section}"
    return match.group(1)


def test_readme_shows_the_fastapi_example_as_it_is() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = text[text.index("\n## Frameworks\n") :]
    match = re.search(r"  ```python\n(.*?)  ```", body, re.S)
    assert match is not None
    shown = [line.strip() for line in match.group(1).splitlines() if line.strip()]
    example = {line.strip() for line in (EXAMPLES / "fastapi_app.py").read_text().splitlines()}
    assert len(shown) > 10
    assert [line for line in shown if line not in example] == []


def test_readme_usage_runs_as_written(gateway: Emulator, tmp_path: Path) -> None:
    script = tmp_path / "usage.py"
    script.write_text(readme_block("## Usage"), encoding="utf-8")
    done = run_script(script, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert len(out) == 6
    assert out[0] == "Balance(balance=Decimal('1000.00'), currency='RUR', credit=None)"
    assert out[1].startswith("SendResult(id=")
    assert out[2] == "WAITING False"
    assert out[3].startswith("79161234567 ")
    assert out[4].startswith("79031234567 ")
    assert out[5] == "{'balance': '1000.00', 'currency': 'RUR', 'credit': None}"
    assert sent_texts(gateway) == [(PHONE, "Код: 1234")]
