"""The ``smsc`` command line: bulk operator look-ups and day-to-day checks of an SMSC account.

Install with the ``cli`` extra (``pip install "smsc-async[cli]"``), then::

    smsc --emulator lookup examples/phones.txt -o out.csv    # no account needed
    export SMSC_LOGIN=alex SMSC_PASSWORD=...                 # or SMSC_API_KEY=...
    smsc balance
    smsc lookup phones.txt -o operators.csv                  # rerun to resume

Credentials come only from the environment (``SMSC_LOGIN``/``SMSC_PASSWORD`` or ``SMSC_API_KEY``),
never from arguments that would land in the shell history; ``SMSC_BASE_URL`` picks the regional
host. The rate rules' windows outlive each command: they are kept in an SQLite file under
``$SMSC_STATE_DIR`` (default: the platform's user state directory), or in Redis with ``--redis``
/ ``SMSC_REDIS_URL``, so a command run again within the minute waits for its slot instead of
drawing error 9. ``--emulator`` keeps the emulator's state there too. Exit codes: 0 success, 1
the gateway (or the limiter) refused, 2 a usage or configuration error, 3 a network or protocol
failure (the shared limiter's store out of reach included: nothing was sent), 130 interrupted.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import io
import json
import math
import os
import re
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, ExitStack
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Literal, NoReturn, TypeVar

import anyio
import attrs

try:
    import click
    import platformdirs
    from rich.console import Console
    from rich.live import Live
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TaskID,
        TextColumn,
    )
    from rich.table import Table
    from rich.text import Text
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise SystemExit(
        f"the smsc command line needs the 'cli' extra: pip install 'smsc-async[cli]' ({exc})"
    ) from None

from . import __version__
from ._backend import LimiterBackend
from ._bulk import LookupProgress, LookupResult, normalize_phone
from ._constants import DEFAULT_LOOKUP_BATCH, DEFAULT_LOOKUP_CONCURRENCY
from ._errors import (
    APIError,
    DuplicateSendError,
    LimiterUnavailableError,
    MessageNotFoundError,
    OperatorNotFoundError,
    ProtocolError,
    RefusedError,
    SendUnconfirmedError,
    SMSCError,
    TransportError,
)
from ._events import Event, LimiterWait
from ._limits import RateLimits
from ._models.messages import SendResult, Status
from ._reconcile import ReconciledSend
from ._session import Session

__all__ = ["main"]

T = TypeVar("T")

#: Exit codes.
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_NETWORK = 3
EXIT_UNCONFIRMED = 4
EXIT_INTERRUPTED = 130

#: Columns of ``smsc lookup`` output, CSV and JSON lines alike: the input line's number and its
#: text, the number as looked up, and the answer.
COLUMNS = (
    "line",
    "input",
    "phone",
    "result",
    "country",
    "operator",
    "region",
    "mcc",
    "mnc",
    "tz",
    "error",
)
#: The ``result`` column's values, and how the summary names the failures.
RESULTS = {
    "found": "found",
    "invalid": "rejected locally",
    "refused": "refused by the gateway",
    "not_found": "operator not found",
    "error": "transport",
}
_JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
_ENV_HELP = (
    "Credentials come from SMSC_LOGIN and SMSC_PASSWORD, or SMSC_API_KEY; the host from "
    "SMSC_BASE_URL (default https://smsc.ru); the rate rules' state is kept under "
    "SMSC_STATE_DIR (or in Redis: SMSC_REDIS_URL)."
)


class CLIError(Exception):
    """An expected failure: printed as one line, exits with ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


@attrs.frozen(kw_only=True)
class Settings:
    """How to reach the gateway (the environment's account, or the emulator) and keep its rules."""

    emulator: bool = False
    scale: float = 1.0
    base_url: str | None = None
    timeout: float = 30.0
    redis: str | None = None

    @property
    def limits(self) -> RateLimits:
        """The rules the command keeps: the gateway's, or the emulator's scaled ones."""
        return RateLimits().scaled(self.scale) if self.emulator else RateLimits()


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str, code: int) -> NoReturn:
    # Never as markup: the message may quote the gateway or the user ("[b]…").
    _stderr().print(Text.assemble(("smsc: error: ", "bold red"), message))
    sys.exit(code)


def _say(console: Console, message: str) -> None:
    console.print(Text(message))


# -- where state lives -----------------------------------------------------------------------------


def state_dir() -> Path:
    """``$SMSC_STATE_DIR``, or the platform's user state directory for smsc-async (created 0700)."""
    chosen = os.environ.get("SMSC_STATE_DIR") or platformdirs.user_state_dir("smsc-async")
    path = Path(chosen).expanduser()
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot create the state directory {path}: {exc.strerror or exc}") from None
    return path


def _credentials() -> tuple[str | None, str | None, str | None]:
    env = os.environ
    login, password, api_key = (
        env.get("SMSC_LOGIN") or None,
        env.get("SMSC_PASSWORD") or None,
        env.get("SMSC_API_KEY") or None,
    )
    if api_key is not None and (login is not None or password is not None):
        raise CLIError("set either SMSC_API_KEY or SMSC_LOGIN and SMSC_PASSWORD, not both")
    if api_key is None and (login is None or password is None):
        raise CLIError(
            "no credentials: set SMSC_LOGIN and SMSC_PASSWORD (or SMSC_API_KEY) in the "
            "environment, or try the emulator with --emulator"
        )
    return login, password, api_key


def _backend(settings: Settings, secret: str) -> LimiterBackend:
    """Where the limiter keeps its logs between commands: Redis if asked for, else SQLite."""
    if settings.redis:
        try:
            from .redis import RedisBackend
        except ImportError as exc:
            raise CLIError(str(exc)) from None
        try:
            return RedisBackend.from_url(settings.redis)
        except ValueError as exc:
            raise CLIError(f"--redis: {exc}") from None
    from .sqlite import SQLiteBackend

    name = f"limits-emulator-x{settings.scale:g}.sqlite3" if settings.emulator else "limits.sqlite3"
    return SQLiteBackend(state_dir() / name, secret=secret)


class _EmulatorState:
    """The emulator of ``--emulator``, kept under the state directory between commands.

    One command at a time holds it (a lock file), loads it, and saves it back when done, so a
    send followed by ``status`` finds the message and the emulator's rate windows carry over.
    The file is JSON read as untrusted data (:func:`load_emulator`): one that is damaged, from
    another version or written by someone else is reported and replaced by a fresh emulator.
    """

    def __init__(self, scale: float) -> None:
        self._path = state_dir() / f"emulator-x{scale:g}.json"
        self._scale = scale
        self._lock_file: IO[bytes] | None = None
        self.emulator: Any = None

    def __enter__(self) -> _EmulatorState:
        self._lock_file = open(self._path.with_suffix(".lock"), "ab")
        with contextlib.suppress(ImportError):
            import fcntl

            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX)
        try:
            self.emulator = load_emulator(self._path, self._scale)
        except BadStateError as exc:
            _stderr().print(
                Text.assemble(
                    ("smsc: warning: ", "bold yellow"),
                    f"{exc}; the emulator starts afresh (the file is replaced when done)",
                )
            )
            self.emulator = _fresh_emulator(self._scale)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            data = json.dumps(_dump_emulator(self.emulator), ensure_ascii=False)
            _write_atomically(self._path, data.encode("utf-8"))
        finally:
            if self._lock_file is not None:
                self._lock_file.close()


# -- the emulator's state as JSON ------------------------------------------------------------------
#
# What ``--emulator`` keeps between commands: the accounts' balances, messages and incoming
# messages, the rule windows and IP blocks, the counters. It is read back as untrusted input:
# JSON (never pickle: loading a pickle runs code), every value checked for its type before it
# is put into a fresh emulator, and nothing but the fresh emulator's own accounts is changed.

_STATE_VERSION = 1
#: A state file larger than this is not read (the emulator keeps at most 100 000 messages).
_STATE_MAX_BYTES = 64 * 1024 * 1024


class BadStateError(Exception):
    """The emulator's state file cannot be used; the message says why."""


def _fresh_emulator(scale: float) -> Any:
    from .testing import Emulator

    # Wall-clock time, so its windows and dates mean the same in the next command.
    return Emulator(limits=RateLimits().scaled(scale), delivery_delay=0.5, clock=time.time)


def _check(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    # bool is an int to isinstance; never accept it where a number is wanted.
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise BadStateError(f"{what}: expected {getattr(kind, '__name__', kind)}, got a bool")
    if not isinstance(value, kind):
        raise BadStateError(f"{what}: expected {getattr(kind, '__name__', kind)}")
    return value


def _number(value: Any, what: str) -> float:
    number = float(_check(value, (int, float), what))
    if not math.isfinite(number):
        raise BadStateError(f"{what}: not a finite number")
    return number


def _decimal(value: Any, what: str) -> Decimal:
    try:
        number = Decimal(_check(value, str, what))
    except ArithmeticError:
        raise BadStateError(f"{what}: not a decimal number") from None
    if not number.is_finite():
        raise BadStateError(f"{what}: not a finite number")
    return number


def _times(value: Any, what: str) -> list[float]:
    return [_number(t, what) for t in _check(value, list, what)]


def _counter(value: Any, what: str, *, int_keys: bool = False) -> Counter[Any]:
    counts: Counter[Any] = Counter()
    for key, count in _check(value, dict, what).items():
        if int_keys:
            try:
                key = int(key)
            except ValueError:
                raise BadStateError(f"{what}: {key!r} is not a number") from None
        counts[key] = _check(count, int, what)
    return counts


def _dump_emulator(emu: Any) -> dict[str, Any]:
    """The state ``--emulator`` keeps, as JSON-ready data."""

    def operator(op: Any) -> dict[str, Any] | None:
        if op is None:
            return None
        return {
            "country": op.country,
            "operator": op.operator,
            "region": op.region,
            "mcc": op.mcc,
            "mnc": op.mnc,
            "tz": op.tz,
            "price": str(op.price),
        }

    with emu._lock:
        accounts = {
            login: {
                "balance": str(account.balance),
                "credit": None if account.credit is None else str(account.credit),
                "currency": account.currency,
                "messages": [
                    {
                        "id": m.id,
                        "phone": m.phone,
                        "text": m.text,
                        "sender": m.sender,
                        "cost": str(m.cost),
                        "parts": m.parts,
                        "type": m.type,
                        "sent_at": m.sent_at,
                        "start_at": m.start_at,
                        "final_status": m.final_status,
                        "final_err": m.final_err,
                        "operator": operator(m.operator),
                        "comment": m.comment,
                    }
                    for m in account.messages.values()
                ],
                "incoming": [
                    {
                        "id": i.id,
                        "phone": i.phone,
                        "message": i.message,
                        "to_phone": i.to_phone,
                        "sent": i.sent,
                        "received": i.received,
                    }
                    for i in account.incoming
                ],
            }
            for login, account in emu.accounts.items()
        }
        guard = emu._guard
        stats = emu.stats
        return {
            "version": _STATE_VERSION,
            "accounts": accounts,
            "windows": [
                [owner, name, key, window, list(log)]
                for (owner, name, key), (window, log) in emu._windows._logs.items()
            ],
            "guard": {
                "auth": {ip: list(log) for ip, log in guard._auth_failures.items()},
                "sends": {ip: list(log) for ip, log in guard._send_failures.items()},
                "blocked": dict(guard._blocked),
            },
            "stats": {
                "requests": dict(stats.requests),
                "errors": {str(k): v for k, v in stats.errors.items()},
                "errors_by_path": {
                    path: {str(k): v for k, v in codes.items()}
                    for path, codes in stats.errors_by_path.items()
                },
                "max_in_flight": dict(stats.max_in_flight),
                "max_status_in_flight": dict(stats.max_status_in_flight),
                "faults": dict(stats.faults),
                "sms": stats.sms,
            },
            "next_id": emu._next_id,
            "next_incoming": emu._next_incoming,
            "arrivals": emu._arrivals,
        }


def _restore(emu: Any, data: Any) -> None:
    """Put ``data`` (from :func:`_dump_emulator`, or not) into the fresh emulator ``emu``."""
    from .testing import Incoming, Message
    from .testing._numbers import Operator

    data = _check(data, dict, "the state")
    if data.get("version") != _STATE_VERSION:
        raise BadStateError(f"not version {_STATE_VERSION} of the emulator's state")
    for login, saved in _check(data["accounts"], dict, "accounts").items():
        try:
            account = emu.account(login)
        except KeyError:
            continue  # only the emulator's own accounts: a file cannot add logins
        saved = _check(saved, dict, "an account")
        account.balance = _decimal(saved["balance"], "balance")
        account.credit = None if saved["credit"] is None else _decimal(saved["credit"], "credit")
        account.currency = _check(saved["currency"], str, "currency")
        messages: dict[tuple[str, str], Any] = {}
        for m in _check(saved["messages"], list, "messages"):
            m = _check(m, dict, "a message")
            op = m["operator"]
            if op is not None:
                op = _check(op, dict, "an operator")
                op = Operator(
                    **{f: _check(op[f], str, f) for f in ("country", "operator", "region")},
                    mcc=_check(op["mcc"], str, "mcc"),
                    mnc=_check(op["mnc"], str, "mnc"),
                    tz=_check(op["tz"], int, "tz"),
                    price=_decimal(op["price"], "price"),
                )
            message = Message(
                **{f: _check(m[f], str, f) for f in ("id", "phone", "text", "sender", "comment")},
                cost=_decimal(m["cost"], "cost"),
                **{f: _check(m[f], int, f) for f in ("parts", "type", "final_status", "final_err")},
                sent_at=_number(m["sent_at"], "sent_at"),
                start_at=_number(m["start_at"], "start_at"),
                operator=op,
            )
            messages[(message.id, message.phone)] = message
        account.messages = messages
        account.incoming = [
            Incoming(
                id=_check(i["id"], int, "id"),
                **{f: _check(i[f], str, f) for f in ("phone", "message", "to_phone")},
                sent=_number(i["sent"], "sent"),
                received=_number(i["received"], "received"),
            )
            for i in map(lambda i: _check(i, dict, "an incoming message"), saved["incoming"])
        ]
    logs = emu._windows._logs
    for entry in _check(data["windows"], list, "windows"):
        owner, name, key, window, times = _check(entry, list, "a window")
        for part in (owner, name, key):
            _check(part, str, "a window's name")
        logs[(owner, name, key)] = (_number(window, "window"), deque(_times(times, "window")))
    guard = _check(data["guard"], dict, "guard")
    for field, saved_logs in (
        ("_auth_failures", guard["auth"]),
        ("_send_failures", guard["sends"]),
    ):
        target = getattr(emu._guard, field)
        for ip, times in _check(saved_logs, dict, "guard").items():
            target[ip] = deque(_times(times, "guard"))
    for ip, until in _check(guard["blocked"], dict, "blocked").items():
        emu._guard._blocked[ip] = _number(until, "blocked")
    saved_stats = _check(data["stats"], dict, "stats")
    stats = emu.stats
    stats.requests = _counter(saved_stats["requests"], "requests")
    stats.errors = _counter(saved_stats["errors"], "errors", int_keys=True)
    stats.errors_by_path = {
        _check(path, str, "a path"): _counter(codes, "errors", int_keys=True)
        for path, codes in _check(saved_stats["errors_by_path"], dict, "errors").items()
    }
    stats.max_in_flight = _counter(saved_stats["max_in_flight"], "max_in_flight")
    stats.max_status_in_flight = _counter(saved_stats["max_status_in_flight"], "max_in_flight")
    stats.faults = _counter(saved_stats["faults"], "faults")
    stats.sms = _check(saved_stats["sms"], int, "sms")
    emu._next_id = _check(data["next_id"], int, "next_id")
    emu._next_incoming = _check(data["next_incoming"], int, "next_incoming")
    emu._arrivals = _check(data["arrivals"], int, "arrivals")


def load_emulator(path: Path, scale: float) -> Any:
    """The emulator saved in ``path`` (a fresh one if there is no such file).

    Raises :class:`BadStateError` naming the file and the problem when it cannot be read as
    the state of an emulator: it is read as data only, whoever wrote it.
    """
    emu = _fresh_emulator(scale)
    try:
        with path.open("rb") as f:
            raw = f.read(_STATE_MAX_BYTES + 1)
    except FileNotFoundError:
        return emu
    except OSError as exc:
        raise BadStateError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > _STATE_MAX_BYTES:
        raise BadStateError(f"{path} is larger than {_STATE_MAX_BYTES} bytes")
    try:
        _restore(emu, json.loads(raw.decode("utf-8")))
    except BadStateError as exc:
        raise BadStateError(f"{path} is not the state of an emulator ({exc})") from None
    except (ValueError, TypeError, KeyError, RecursionError, ArithmeticError) as exc:
        # Not JSON, or JSON of another shape (a missing field, a list of the wrong length).
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise BadStateError(f"{path} is not the state of an emulator ({what})") from None
    return emu


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# -- running a command -----------------------------------------------------------------------------


def _window_text(seconds: float) -> str:
    if seconds == 60.0:
        return "a minute"
    if seconds == 3600.0:
        return "an hour"
    return f"{seconds:g} s"


#: Waits shorter than this pass without a word.
_NOTICE_FROM = 1.0


class _WaitNotice:
    """Says on stderr what a command waits for, so that it never seems to hang.

    On a terminal a live line counts the wait down (and is gone once the request goes); on a
    pipe or in a log, one line per wait: ``smsc: waiting 41 s for the 10-per-minute balance
    rule``.
    """

    def __init__(self, console: Console) -> None:
        self._console = console
        self._meter = Meter(span=60.0, ceiling=math.inf)
        self._live: Live | None = None
        self._said: tuple[str, float] | None = None

    def event(self, event: Event) -> None:
        """The session's ``on_event``."""
        if not isinstance(event, LimiterWait):
            return
        self._meter.event(event)
        if event.seconds < _NOTICE_FROM:
            return
        if self._console.is_terminal:
            if self._live is None:
                self._live = Live(self, console=self._console, transient=True)
                self._live.start()
            return
        # The limiter reports every sleep; a wait already told is not told again.
        now = time.monotonic()
        if self._said is not None and self._said[0] == event.rule and now < self._said[1]:
            return
        self._said = (event.rule, now + event.seconds)
        text = self._meter.waiting()
        if text:
            self._console.print(Text(f"smsc: {text}"))

    def __rich__(self) -> Text:
        return Text(self._meter.waiting(), style="yellow")

    def close(self) -> None:
        """Take the live line away."""
        if self._live is not None:
            self._live.stop()
            self._live = None


def _run(
    settings: Settings,
    job: Callable[[Session], Awaitable[T]],
    *,
    on_event: Callable[[Event], None] | None = None,
) -> T:
    """Run ``job`` with a session; turn expected failures into one line and an exit code."""
    limits = settings.limits
    notice: _WaitNotice | None = None
    if on_event is None:
        notice = _WaitNotice(_stderr())
        on_event = notice.event
    with ExitStack() as outer:
        try:
            if settings.emulator:
                import httpx

                state = outer.enter_context(_EmulatorState(settings.scale))
                login: str | None = "demo"
                password: str | None = "demo"
                api_key: str | None = None
                options: dict[str, Any] = {
                    "base_url": "http://127.0.0.1",
                    "transport": httpx.ASGITransport(app=state.emulator),
                }
            else:
                login, password, api_key = _credentials()
                options = {"timeout": settings.timeout}
                if settings.base_url:
                    options["base_url"] = settings.base_url
            secret = api_key if api_key is not None else str(password)

            async def main() -> T:
                async with AsyncExitStack() as stack:
                    if notice is not None:
                        stack.callback(notice.close)
                    backend = _backend(settings, secret)
                    aclose = getattr(backend, "aclose", None)
                    if aclose is not None:
                        stack.push_async_callback(aclose)
                    try:
                        if api_key is not None:
                            session = Session(
                                api_key=api_key,
                                limits=limits,
                                backend=backend,
                                on_event=on_event,
                                **options,
                            )
                        else:
                            session = Session(
                                login=login,
                                password=password,
                                limits=limits,
                                backend=backend,
                                on_event=on_event,
                                **options,
                            )
                    except ValueError as exc:
                        raise CLIError(str(exc)) from None
                    smsc = await stack.enter_async_context(session)
                    return await job(smsc)

            return anyio.run(main)
        except CLIError as exc:
            _fail(str(exc), exc.code)
        except DuplicateSendError as exc:
            window = _window_text(limits.send_identical.window)
            _fail(
                f"an identical message went out less than {window} ago; nothing was sent "
                f"(retry in {exc.retry_after:.0f} s or change the text)",
                EXIT_REFUSED,
            )
        except LimiterUnavailableError as exc:
            # Redis (or the state file) out of reach: nothing was sent; a retry may pass.
            _fail(str(exc), EXIT_NETWORK)
        except (APIError, RefusedError) as exc:
            _fail(str(exc), EXIT_REFUSED)
        except (TransportError, ProtocolError) as exc:
            _fail(str(exc), EXIT_NETWORK)
        except SMSCError as exc:
            _fail(str(exc), EXIT_REFUSED)
        except (ValueError, TypeError) as exc:
            # Argument checks of the library name the argument and the problem.
            _fail(str(exc), EXIT_USAGE)
        except OSError as exc:
            _fail(
                f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc), EXIT_USAGE
            )
        except KeyboardInterrupt:
            _fail("interrupted", EXIT_INTERRUPTED)
        except BaseException as exc:
            # On Python 3.10 a Ctrl+C cancels the run and comes out as asyncio's CancelledError.
            asyncio = sys.modules.get("asyncio")
            if asyncio is not None and isinstance(exc, asyncio.CancelledError):
                _fail("interrupted", EXIT_INTERRUPTED)
            raise


def _plain(value: object) -> object:
    if isinstance(value, (Decimal, dt.datetime, dt.date)):
        return str(value)
    return value


def _print_json(value: Any) -> None:
    data = attrs.asdict(value) if attrs.has(type(value)) else value
    click.echo(json.dumps(data, ensure_ascii=False, default=_plain))


def _print_fields(value: attrs.AttrsInstance) -> None:
    for field in attrs.fields(type(value)):
        item = getattr(value, field.name)
        if item is None:
            continue
        if isinstance(item, tuple):
            item = ", ".join(str(getattr(i, "phone", i)) for i in item)
        click.echo(f"{field.name}: {getattr(item, 'name', item)}")


# -- the command group -----------------------------------------------------------------------------

# The connection options work before the subcommand (``smsc --emulator lookup …``) and after it
# (``smsc lookup … --emulator``); given after, they win.
_CONNECTION_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (
        ("--emulator",),
        {
            "is_flag": True,
            "default": False,
            "help": "Run against the embedded gateway emulator (demo account; its state is kept "
            "between commands; nothing leaves the machine).",
        },
    ),
    (
        ("--emulator-scale",),
        {
            "type": click.FloatRange(min=0.001, max=1.0),
            "help": "Multiply the emulator's rule windows (0.01: a minute of rules passes in "
            "0.6 s) [default: 1].",
        },
    ),
    (
        ("--base-url",),
        {"help": "Gateway host, e.g. https://smscentre.com [env: SMSC_BASE_URL]."},
    ),
    (
        ("--timeout",),
        {
            "type": click.FloatRange(min=0.1),
            "help": "Seconds to wait for each answer [default: 30].",
        },
    ),
    (
        ("--redis", "redis_url"),
        {
            "metavar": "URL",
            "help": "Keep the rate rules' state in this Redis (shared with other hosts) "
            "instead of the local state directory [env: SMSC_REDIS_URL].",
        },
    ),
]
_CONNECTION_NAMES = ("emulator", "emulator_scale", "base_url", "timeout", "redis_url")


def _connection_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add the connection options to a subcommand and hand it the merged :class:`Settings`."""

    @functools.wraps(f)
    def command(*args: Any, **kwargs: Any) -> Any:
        given = {name: kwargs.pop(name) for name in _CONNECTION_NAMES}
        ctx = click.get_current_context()
        base: Settings = ctx.find_object(Settings) or Settings()
        settings = attrs.evolve(
            base,
            emulator=base.emulator or given["emulator"],
            scale=given["emulator_scale"] if given["emulator_scale"] is not None else base.scale,
            base_url=given["base_url"] if given["base_url"] is not None else base.base_url,
            timeout=given["timeout"] if given["timeout"] is not None else base.timeout,
            redis=given["redis_url"] if given["redis_url"] is not None else base.redis,
        )
        return f(settings, *args, **kwargs)

    for decls, options in reversed(_CONNECTION_OPTIONS):
        command = click.option(*decls, **options)(command)
    return command


@click.group(epilog=_ENV_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--emulator", is_flag=True, help=_CONNECTION_OPTIONS[0][1]["help"])
@click.option(
    "--emulator-scale",
    type=click.FloatRange(min=0.001, max=1.0),
    default=1.0,
    show_default=True,
    help="Multiply the emulator's rule windows (0.01: a minute of rules passes in 0.6 s).",
)
@click.option(
    "--base-url",
    envvar="SMSC_BASE_URL",
    help="Gateway host, e.g. https://smscentre.com [env: SMSC_BASE_URL].",
)
@click.option(
    "--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
    help="Seconds to wait for each answer.",
)  # fmt: skip
@click.option(
    "--redis", "redis_url", envvar="SMSC_REDIS_URL", metavar="URL",
    help=_CONNECTION_OPTIONS[4][1]["help"],
)  # fmt: skip
@click.version_option(version=__version__, message="smsc %(version)s")
@click.pass_context
def cli(
    ctx: click.Context,
    emulator: bool,
    emulator_scale: float,
    base_url: str | None,
    timeout: float,
    redis_url: str | None,
) -> None:
    """Look up operators in bulk and check an SMSC account from the shell."""
    ctx.obj = Settings(
        emulator=emulator,
        scale=emulator_scale,
        base_url=base_url or None,
        timeout=timeout,
        redis=redis_url or None,
    )


# -- numbers as people write them ------------------------------------------------------------------

#: How national numbers (written without ``+`` or ``00``) of a country are read: its calling
#: code, its trunk prefix and the length of the national number after the trunk prefix.
COUNTRIES: dict[str, tuple[str, str, int]] = {
    "RU": ("7", "8", 10),
    "KZ": ("7", "8", 10),
    "UA": ("380", "0", 9),
    "BY": ("375", "80", 9),
    "KG": ("996", "0", 9),
    "AM": ("374", "0", 8),
    "AZ": ("994", "0", 9),
    "GE": ("995", "0", 9),
    "MD": ("373", "0", 8),
}
_NOISE = re.compile(r"[\s\-().]")


def read_number(text: str, country: str) -> str:
    """The number of ``text`` in international form (``+`` and digits), read as ``country`` does.

    ``+…`` and ``00…`` are international as written; a national number with the country's trunk
    prefix gets its calling code (``--country RU``: ``8 916 …`` → ``+7916…``; ``--country UA``:
    ``067 …`` → ``+38067…``); anything else is taken as international without its ``+``. Raises
    ``ValueError`` for an ``8…`` number of Russian shape when the country does not read it so,
    rather than make it Russian silently. Text that is no number at all comes back stripped
    (the look-up rejects it).
    """
    stripped = text.strip()
    digits = _NOISE.sub("", stripped)
    if digits.startswith("+"):
        return digits
    if not digits.isdigit() or not digits.isascii():
        return stripped
    if digits.startswith("00"):
        return "+" + digits[2:]
    code, trunk, length = COUNTRIES[country]
    if digits.startswith(trunk) and len(digits) == len(trunk) + length:
        return "+" + code + digits[len(trunk) :]
    if country == "RU" and len(digits) == 10 and digits[0] == "9":
        return "+7" + digits  # a Russian mobile number without its trunk prefix
    if trunk != "8" and len(digits) == 11 and digits[0] == "8":
        raise ValueError(
            f"{stripped!r} looks like a Russian or Kazakh national number, but --country is "
            f"{country}: write it as +7… (or pass --country RU)"
        )
    return "+" + digits


# -- lookup ----------------------------------------------------------------------------------------


def _kind(result: LookupResult) -> str:
    error = result.error
    if error is None:
        return "found"
    if isinstance(error, OperatorNotFoundError):
        return "not_found"
    if isinstance(error, ValueError):
        return "invalid"
    if isinstance(error, APIError):
        return "refused"
    return "error"


def _row(result: LookupResult, line: int | None, text: str) -> dict[str, object]:
    info = result.info
    row: dict[str, object] = dict.fromkeys(COLUMNS)
    row.update(line=line, input=text, phone=result.phone, result=_kind(result))
    if info is not None:
        row.update(
            country=info.country,
            operator=info.operator,
            region=info.region,
            mcc=info.mcc,
            mnc=info.mnc,
            tz=info.tz,
        )
    else:
        row["error"] = str(result.error)
    return row


def _output_format(path: str | None, chosen: str | None) -> str:
    if chosen is not None:
        return chosen
    if path is not None and path != "-" and Path(path).suffix.lower() in _JSON_SUFFIXES:
        return "jsonl"
    return "csv"


def _done_in(text: str, path: str, fmt: str) -> list[str]:
    """The numbers already in an earlier run's output (its complete lines)."""
    if not text:
        return []
    phones: list[str] = []
    if fmt == "csv":
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if header != list(COLUMNS):
            raise CLIError(
                f"{path} exists but is not an `smsc lookup` CSV file; "
                "pick another --output or pass --restart to replace it"
            )
        at = COLUMNS.index("phone")
        phones.extend(row[at] for row in reader if len(row) > at)
    else:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                phones.append(str(json.loads(line)["phone"]))
            except (ValueError, KeyError, TypeError):
                raise CLIError(
                    f"{path}:{number} is not an `smsc lookup` JSON line; "
                    "pick another --output or pass --restart to replace it"
                ) from None
    return phones


def _lines_with_numbers(lines: IO[str]) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of each line's number: its first field; comments skipped."""
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        for separator in (",", ";", "\t"):
            text = text.split(separator, 1)[0]
        text = text.strip().strip('"')
        if any(c.isdigit() for c in text):
            yield number, text


def _count_numbers(path: str) -> int | None:
    if path == "-" or not Path(path).is_file():
        return None
    with open(path, encoding="utf-8-sig", errors="replace") as lines:
        return sum(1 for _ in _lines_with_numbers(lines))


def _same_file(source: str, output: str) -> bool:
    """Whether ``output`` is the file ``source`` reads (``-``: the file stdin comes from)."""
    try:
        if source == "-":
            # ``smsc lookup - -o phones.txt < phones.txt`` reads the output all the same.
            mine, theirs = os.fstat(sys.stdin.fileno()), os.stat(output)
            return os.path.samestat(mine, theirs)
        return os.path.samefile(source, output)
    except (OSError, ValueError):
        # No such output yet, or no stdin at all (ValueError: it was closed).
        return False


class _Output:
    """The output file, written beside itself and renamed into place.

    Rows go to a temporary file in the output's directory (a copy of the earlier output when
    resuming). :meth:`commit` renames it over the output: at the end, and also after an
    interruption or a failure when that only adds complete rows to what was there (resuming, or
    a new file). A restarted run that did not finish leaves the earlier output as it was.
    """

    def __init__(self, path: str, *, keep: str) -> None:
        # Through symlinks: replace the file the link points to, not the link.
        self.path = os.path.realpath(path)
        self.existed = os.path.exists(self.path)
        directory = os.path.dirname(self.path)
        fd, self._tmp = tempfile.mkstemp(
            dir=directory, prefix=f".{os.path.basename(self.path)}.", suffix=".partial"
        )
        self.stream: IO[str] = os.fdopen(fd, "w", encoding="utf-8", newline="")
        self.stream.write(keep)
        self._mode = os.stat(self.path).st_mode & 0o7777 if self.existed else None
        self._done = False

    def commit(self) -> None:
        if self._done:
            return
        self._done = True
        self.stream.close()
        if self._mode is not None:
            os.chmod(self._tmp, self._mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self._tmp, 0o666 & ~umask)
        os.replace(self._tmp, self.path)

    def discard(self) -> None:
        if self._done:
            return
        self._done = True
        self.stream.close()
        with contextlib.suppress(OSError):
            os.unlink(self._tmp)


class _Writer:
    """Writes result rows as CSV or JSON lines, flushing after every answered batch."""

    def __init__(self, stream: IO[str], fmt: str, *, header: bool) -> None:
        self._stream = stream
        self._json = fmt == "jsonl"
        self._csv = csv.writer(stream, lineterminator="\n")
        self.kinds: Counter[str] = Counter()
        if header and not self._json:
            self._csv.writerow(COLUMNS)

    def write(self, result: LookupResult, line: int | None, text: str) -> None:
        row = _row(result, line, text)
        self.kinds[str(row["result"])] += 1
        if self._json:
            self._stream.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            self._csv.writerow(["" if v is None else v for v in row.values()])

    def flush(self) -> None:
        self._stream.flush()


def _format_eta(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


#: How a wait names the rule it waits for; ``{n}`` is the rule's limit, ``{per}`` its window.
_RULE_PHRASES = {
    "operator_any": "the {n}-per-{per} look-up rule",
    "operator_identical": "the {n}-per-{per} rule for identical look-ups",
    "balance": "the {n}-per-{per} balance rule",
    "send_identical": "the {n}-per-{per} rule for identical sends",
    "cost_identical": "the {n}-per-{per} rule for identical cost requests",
    "status_message": "the {n}-per-{per} status rule of one message",
    "status_batch": "the {n}-per-{per} rule for batch status requests",
    "messages_hourly": "the {n}-per-{per} history rule",
    "messages_identical": "the {n}-per-{per} rule for identical history requests",
    "senders_list_identical": "the {n}-per-{per} rule for identical sender lists",
    "stat_any": "the {n}-per-{per} statistics rule",
    "concurrency": "the cap of {n} requests at once",
    "status_concurrency": "the cap of {n} status requests at once",
}


def _per(window: float) -> str:
    if window == 60.0:
        return "minute"
    if window == 3600.0:
        return "hour"
    return f"{window:g}-s"


def rule_phrase(wait: LimiterWait) -> str:
    """The rule a :class:`~smsc_async.LimiterWait` waits for, as the bar and the notices say it.

    ``"the 100-per-minute look-up rule"``, ``"the cap of 14 requests at once"``.
    """
    phrase = _RULE_PHRASES.get(wait.rule)
    if phrase is None:
        name = wait.rule.replace("_", " ")
        phrase = (
            f"the cap of {{n}} {name} at once"
            if wait.window == 0
            else f"the {{n}}-per-{{per}} {name} rule"
        )
    return phrase.format(n=wait.limit, per=_per(wait.window))


class Meter:
    """What the bar shows between batches: the rule the run waits for, a moving rate, the ETA.

    Fed with :meth:`event` (the session's ``on_event``) and :meth:`progress` (the look-up's
    callback); read by the bar's columns at every refresh, so the wait counts down and the rate
    moves even while no batch is answered. The rate is over the last ``span`` seconds (the
    look-up rule's window), never above ``ceiling`` (the rule's most numbers per second), so the
    first window's burst does not promise an ETA the rule cannot keep.
    """

    def __init__(
        self, *, span: float, ceiling: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._span = span
        self._ceiling = ceiling
        self._clock = clock
        self._start = clock()
        self._samples: list[tuple[float, int]] = [(self._start, 0)]
        self.done = 0
        self.total: int | None = None
        self._wait: LimiterWait | None = None
        self._wait_until = 0.0

    def event(self, event: Event) -> None:
        """Take a session event: a :class:`~smsc_async.LimiterWait` shows as the wait."""
        if isinstance(event, LimiterWait):
            self._wait = event
            self._wait_until = self._clock() + event.seconds

    def progress(self, done: int, total: int | None) -> None:
        """Take the look-up's progress: a batch answered ends the wait on show."""
        now = self._clock()
        if done != self.done:
            self._wait = None
        self.done, self.total = done, total
        self._samples.append((now, done))
        # Keep one sample older than the span, to measure the whole span.
        while len(self._samples) > 2 and self._samples[1][0] <= now - self._span:
            del self._samples[0]

    def waiting(self) -> str:
        """``"waiting 41 s for the 100-per-minute look-up rule"``, or ``""``."""
        wait = self._wait
        if wait is None:
            return ""
        rule = rule_phrase(wait)
        if not math.isfinite(wait.seconds):
            return f"waiting for an answer in flight ({rule})"
        left = self._wait_until - self._clock()
        if left <= 0:
            return ""
        return f"waiting {math.ceil(left)} s for {rule}"

    def rate(self) -> float:
        """Numbers per second over the last ``span`` seconds (up to now), at most ``ceiling``."""
        now = self._clock()
        # Done is a step function of time: its value a span ago is the last sample by then.
        before = self._samples[0][1]
        for at, done in self._samples:
            if at > now - self._span:
                break
            before = done
        elapsed = min(now - self._start, self._span)
        if elapsed <= 0:
            return 0.0
        return min((self.done - before) / elapsed, self._ceiling)

    def eta(self) -> float | None:
        """Seconds left at :meth:`rate` (``None`` while the total or the rate is unknown)."""
        if self.total is None:
            return None
        left = max(self.total - self.done, 0)
        if left == 0:
            return 0.0
        rate = self.rate()
        return left / rate if rate > 0 else None


class _MeterColumn(ProgressColumn):
    """Rate and ETA from the meter, or the wait while the run waits for a rule."""

    def __init__(self, meter: Meter) -> None:
        super().__init__()
        self._meter = meter

    def render(self, task: Task) -> Text:
        meter = self._meter
        waiting = meter.waiting()
        if waiting:
            return Text(waiting, style="yellow")
        return Text(f"{meter.rate():8.0f} numbers/s  ETA {_format_eta(meter.eta())}")


def _progress_bar(console: Console, meter: Meter) -> Progress:
    return Progress(
        TextColumn("[bold]lookup"),
        BarColumn(),
        MofNCompleteColumn(),
        _MeterColumn(meter),
        TextColumn("[red]{task.fields[failed]} failed"),
        console=console,
        transient=False,
    )


@cli.command(short_help="Look up the operators of a file of numbers.")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, writable=True),
    help="Where to write results (default: stdout). An existing file is resumed.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl"]),
    help="Output format (default: from the output's extension, .jsonl → JSON lines; else CSV).",
)
@click.option(
    "--country",
    type=click.Choice(sorted(COUNTRIES), case_sensitive=False),
    default="RU",
    show_default=True,
    help="How numbers written without + are read: RU makes 8 916 … into +7 916 …, UA makes "
    "067 … into +380 67 ….",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_LOOKUP_BATCH,
    show_default=True,
    help="Numbers per info.php request.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=14),
    default=DEFAULT_LOOKUP_CONCURRENCY,
    show_default=True,
    help="Requests in flight at once.",
)
@click.option("--restart", is_flag=True, help="Replace the output instead of resuming it.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a live progress bar on stderr (default: when stderr is a terminal).",
)
@_connection_options
def lookup(
    settings: Settings,
    source: str,
    output: str | None,
    fmt: str | None,
    country: str,
    batch_size: int,
    concurrency: int,
    restart: bool,
    progress: bool | None,
) -> None:
    """Look up the operator of every number in SOURCE (a file, one number a line; - for stdin).

    Numbers are normalized and de-duplicated; each distinct number gets one output row with its
    input line, the text as written, the number looked up, and a result: found, not_found,
    invalid (rejected locally), refused (by the gateway) or error (transport). Requests run at
    the gateway's ceiling of 100 a minute. Rerunning with the same --output skips the numbers
    already written; the output is replaced only once complete rows are ready, never the input.
    """
    country = country.upper()
    fmt = _output_format(output, fmt)
    console = _stderr()
    show = progress if progress is not None else console.is_terminal
    to_file = output is not None and output != "-"
    if to_file and _same_file(source, str(output)):
        what = "the standard input" if source == "-" else f"the input {source}"
        _fail(
            f"the output {output} is {what} (the same file, a link or a hard link); "
            "pick another --output",
            EXIT_USAGE,
        )
    keep = ""
    skip: list[str] = []
    if to_file and not restart and Path(str(output)).is_file():
        try:
            data = Path(str(output)).read_bytes()
            # A run killed mid-line left a fragment: drop it, its number is redone.
            keep = data[: data.rfind(b"\n") + 1].decode("utf-8")
            skip = _done_in(keep, str(output), fmt)
        except (OSError, UnicodeDecodeError) as exc:
            _fail(f"cannot resume {output}: {exc}", EXIT_USAGE)
        except CLIError as exc:
            _fail(str(exc), exc.code)
    # Every line with a number: the run subtracts duplicates and numbers done before as it goes.
    total = _count_numbers(source)
    rule = settings.limits.operator_any
    meter = Meter(span=rule.window, ceiling=rule.limit * batch_size / rule.window)
    out_file: _Output | None = None
    if to_file:
        try:
            out_file = _Output(str(output), keep=keep)
        except OSError as exc:
            _fail(f"cannot write {output}: {exc.strerror or exc}", EXIT_USAGE)
    local_failed = 0

    async def job(smsc: Session) -> LookupProgress:
        nonlocal local_failed
        with ExitStack() as stack:
            lines: IO[str] = stack.enter_context(
                click.open_file(source, encoding="utf-8-sig", errors="replace")
            )
            if out_file is not None:
                out = out_file.stream
            else:
                out = stack.enter_context(click.open_file("-", "w", encoding="utf-8"))
            writer = _Writer(out, fmt, header=not keep)
            bar = stack.enter_context(_progress_bar(console, meter)) if show else None
            task: TaskID | None = None
            if bar is not None:
                task = bar.add_task("lookup", total=total, failed=0)
            done_before = set(skip)
            # Where each number waiting for its answer came from: entries leave as answers come,
            # so this holds about the numbers in flight (plus late duplicates of answered ones).
            origin: dict[str, tuple[int, str]] = {}

            def numbers() -> Iterator[str]:
                nonlocal local_failed
                for line, text in _lines_with_numbers(lines):
                    try:
                        number = read_number(text, country)
                    except ValueError as exc:
                        if text in done_before:
                            continue
                        done_before.add(text)
                        local_failed += 1
                        writer.write(LookupResult(phone=text, error=exc), line, text)
                        continue
                    # The look-up names each result by the number it normalized (or by the
                    # text, when that is no number at all).
                    try:
                        key = normalize_phone(number)
                    except ValueError:
                        key = number.strip()
                    if key not in done_before and key not in origin:
                        origin[key] = (line, text)
                    yield number

            def report(p: LookupProgress) -> None:
                writer.flush()
                # Numbers rejected here never reach the look-up: add them to its figures.
                every = None if p.total is None else p.total + local_failed
                meter.progress(p.done + local_failed, every)
                if bar is not None and task is not None:
                    bar.update(
                        task,
                        completed=p.done + local_failed,
                        total=every,
                        failed=p.failed + local_failed,
                    )

            async with smsc.lookup_operators(
                numbers(),
                batch_size=batch_size,
                concurrency=concurrency,
                progress=report,
                total=total,
                skip=skip,
            ) as results:
                async for item in results:
                    line, text = origin.pop(item.phone, (None, item.phone))
                    writer.write(item, line, text)
            writer.flush()
            final = results.progress
            if bar is not None and task is not None:
                bar.update(
                    task, completed=final.done + local_failed, total=final.done + local_failed
                )
            kinds.update(writer.kinds)
            return final

    kinds: Counter[str] = Counter()
    try:
        # Without a bar, waits are told line by line (a log must not seem to hang either).
        final = _run(settings, job, on_event=meter.event if show else None)
    except SystemExit as exc:
        if out_file is not None:
            if out_file.existed and restart:
                out_file.discard()
                if exc.code == EXIT_INTERRUPTED:
                    _say(_stderr(), f"{output} is left as it was")
            else:
                # Only complete rows were added to what was there: keep them to resume from.
                out_file.commit()
                if exc.code == EXIT_INTERRUPTED:
                    _say(_stderr(), f"rerun the same command to resume from {output}")
        raise
    except BaseException:
        if out_file is not None:
            out_file.discard()
        raise
    if out_file is not None:
        out_file.commit()
    where = f" → {output}" if to_file else ""
    resumed = f" ({len(skip)} done before)" if skip else ""
    done = final.done + local_failed
    failed = done - kinds["found"]
    split = ", ".join(f"{kinds[k]} {RESULTS[k]}" for k in RESULTS if k != "found")
    _say(
        console,
        f"{done} numbers looked up in {final.elapsed:.1f} s: {kinds['found']} found, "
        f"{failed} failed ({split}), {final.requests} requests{resumed}{where}",
    )


# -- day-to-day checks -----------------------------------------------------------------------------

_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@cli.command()
@_json_option
@_connection_options
def balance(settings: Settings, as_json: bool) -> None:
    """Show the account's balance."""
    result = _run(settings, lambda smsc: smsc.balance())
    if as_json:
        _print_json(result)
    else:
        credit = f" (credit {result.credit})" if result.credit is not None else ""
        click.echo(f"{result.balance} {result.currency or ''}{credit}".strip())


@cli.command()
@click.argument("phones")
@click.argument("message")
@click.option("--sender", help="Sender name (must be registered on the account).")
@click.option("--translit", is_flag=True, help="Send the text in Latin letters.")
@click.option("--dry-run", is_flag=True, help="Only show what it would cost; send nothing.")
@_json_option
@_connection_options
def send(
    settings: Settings,
    phones: str,
    message: str,
    sender: str | None,
    translit: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Send MESSAGE to PHONES (comma-separated numbers).

    An identical message (same text, same numbers) sent less than a minute ago, by this command
    or any other process of the login, is refused at once: the gateway would refuse it too.
    When the gateway's answer is lost, the command asks the gateway whether it took the message
    (exit 0 if so, 3 if it certainly did not, 4 if that cannot be found out).
    """
    if dry_run:
        estimate = _run(
            settings,
            lambda smsc: smsc.cost(phones, message, sender=sender, translit=1 if translit else 0),
        )
        if as_json:
            _print_json(estimate)
        else:
            click.echo(f"would cost {estimate.cost} for {estimate.cnt} SMS; nothing was sent")
        return
    sent = _run(
        settings,
        lambda smsc: _send_or_reconcile(
            smsc, phones, message, sender=sender, translit=1 if translit else 0
        ),
    )
    if isinstance(sent, ReconciledSend):
        if as_json:
            statuses = {phone: attrs.asdict(s) for phone, s in sent.statuses.items()}
            click.echo(
                json.dumps(
                    {"id": sent.id, "confirmed_by_status": True, "statuses": statuses},
                    ensure_ascii=False,
                    default=_plain,
                )
            )
        else:
            click.echo(
                f"sent: id {sent.id}; its answer was lost, the gateway's status confirms it "
                f"({len(sent.statuses)} recipients)"
            )
    elif as_json:
        _print_json(sent)
    else:
        click.echo(f"sent: id {sent.id}, {sent.cnt} SMS, cost {sent.cost}, balance {sent.balance}")


async def _send_or_reconcile(
    smsc: Session, phones: str, message: str, *, sender: str | None, translit: Literal[0, 1]
) -> SendResult | ReconciledSend:
    """Send; when the answer is lost, ask the gateway what it took instead of guessing.

    Exits 4 when even that cannot be found out: the message may have gone out, so the user must
    check before sending again. A message certainly not taken exits 3 (sending again is safe).
    """
    try:
        return await smsc.send(phones, message, sender=sender, translit=translit, cost=3)
    except SendUnconfirmedError as err:
        _say(
            _stderr(),
            f"smsc: the answer to message {err.id} was lost ({err.reason}); asking the gateway "
            'whether it took it ("not taken" is trusted only once the send cannot still arrive)',
        )
        try:
            found = await smsc.reconcile(err)
        except (SMSCError, ValueError) as exc:
            raise CLIError(
                f"outcome unknown: message {err.id} may have been sent ({exc}); check with "
                f"`smsc status {err.id} PHONE` before sending it again",
                EXIT_UNCONFIRMED,
            ) from None
        if found is None:
            raise CLIError(
                f"not sent: the gateway has no message {err.id} (its answer was lost: "
                f"{err.reason}); sending it again is safe",
                EXIT_NETWORK,
            ) from None
        return found


@cli.command()
@click.argument("message_id")
@click.argument("phone")
@_json_option
@_connection_options
def status(settings: Settings, message_id: str, phone: str, as_json: bool) -> None:
    """Show the delivery status of message MESSAGE_ID sent to PHONE (exit 1 if none is known)."""
    result = _run(settings, lambda smsc: smsc.status(message_id, phone, all=1))
    if as_json:
        _print_json(result)
    else:
        _print_fields(result)
    if result.status == Status.NOT_FOUND:
        _fail(f"no message {message_id} to {phone} is known to the gateway", EXIT_REFUSED)


@cli.command()
@click.option("--all", "show_all", is_flag=True, help="Also names not (yet) allowed for use.")
@_json_option
@_connection_options
def senders(settings: Settings, show_all: bool, as_json: bool) -> None:
    """List the account's sender names."""
    names = _run(settings, lambda smsc: smsc.senders.list(all=show_all))
    if as_json:
        _print_json([attrs.asdict(n) for n in names])
        return
    if not names:
        click.echo("no sender names")
        return
    table = Table("id", "sender", "status", box=None, pad_edge=False)
    for name in names:
        state = getattr(name.status, "name", "") if name.status is not None else ""
        table.add_row(Text(str(name.id)), Text(name.sender), Text(state.lower()))
    Console(highlight=False, soft_wrap=True).print(table)


@cli.command()
@click.option("--phone", help="Only messages to this number.")
@click.option(
    "--days",
    type=click.IntRange(min=1, max=183),
    default=7,
    show_default=True,
    help="How many days back to look.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1, max=1000),
    default=20,
    show_default=True,
    help="At most this many messages, newest first.",
)
@_json_option
@_connection_options
def history(settings: Settings, phone: str | None, days: int, limit: int, as_json: bool) -> None:
    """Show the latest sent messages."""
    start = dt.date.today() - dt.timedelta(days=days)

    async def job(smsc: Session) -> list[Any]:
        try:
            return list(await smsc.get_messages(start=start, phones=phone, cnt=limit))
        except MessageNotFoundError:
            return []  # the gateway's way of saying the history is empty

    messages = _run(settings, job)
    if as_json:
        _print_json([attrs.asdict(m) for m in messages])
        return
    if not messages:
        click.echo("no messages")
        return
    table = Table("sent", "phone", "status", "cost", "message", box=None, pad_edge=False)
    for msg in messages:
        # Cells as Text: a message may hold "[brackets]" that rich would read as markup.
        table.add_row(
            Text(msg.send_date.strftime("%Y-%m-%d %H:%M") if msg.send_date else ""),
            Text(msg.phone),
            Text(msg.status.name.lower()),
            Text("" if msg.cost is None else str(msg.cost)),
            Text((msg.message or "")[:40]),
        )
    Console(highlight=False, soft_wrap=True).print(table)


def main() -> None:
    """Entry point of the ``smsc`` command."""
    cli(prog_name="smsc")


if __name__ == "__main__":
    main()
