"""The ``smsc`` command line: bulk operator look-ups and day-to-day checks of an SMSC account.

Install with the ``cli`` extra (``pip install "smsc-async[cli]"``), then::

    smsc --emulator lookup examples/phones.txt -o out.csv    # no account needed
    export SMSC_LOGIN=alex SMSC_PASSWORD=...                 # or SMSC_API_KEY=...
    smsc balance
    smsc lookup phones.txt -o operators.csv                  # rerun to resume

Credentials come only from the environment (``SMSC_LOGIN``/``SMSC_PASSWORD`` or ``SMSC_API_KEY``),
never from arguments that would land in the shell history; ``SMSC_BASE_URL`` picks the regional
host. Exit codes: 0 success, 1 the gateway refused, 2 a usage or configuration error, 3 a network
or protocol failure, 130 interrupted.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, NoReturn, TypeVar

import anyio
import attrs

try:
    import click
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
    from rich.table import Table
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise SystemExit(
        f"the smsc command line needs the 'cli' extra: pip install 'smsc-async[cli]' ({exc})"
    ) from None

from . import __version__
from ._bulk import LookupProgress, LookupResult
from ._constants import DEFAULT_LOOKUP_BATCH, DEFAULT_LOOKUP_CONCURRENCY
from ._errors import (
    APIError,
    MessageNotFoundError,
    OperatorNotFoundError,
    ParameterError,
    ProtocolError,
    RefusedError,
    SMSCError,
    TransportError,
)
from ._limits import RateLimits
from ._session import Session

__all__ = ["main"]

T = TypeVar("T")

#: Exit codes.
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_NETWORK = 3
EXIT_INTERRUPTED = 130

#: Columns of ``smsc lookup`` output, CSV and JSON lines alike.
COLUMNS = ("phone", "result", "country", "operator", "region", "mcc", "mnc", "tz", "error")
_JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
_ENV_HELP = (
    "Credentials come from SMSC_LOGIN and SMSC_PASSWORD, or SMSC_API_KEY; the host from "
    "SMSC_BASE_URL (default https://smsc.ru)."
)


class CLIError(Exception):
    """An expected failure: printed as one line, exits with ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


@attrs.frozen(kw_only=True)
class Settings:
    """How to reach the gateway: from the environment, or the embedded emulator."""

    emulator: bool
    scale: float
    base_url: str | None
    timeout: float


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str, code: int) -> NoReturn:
    _stderr().print(f"[bold red]smsc: error:[/] {message}", markup=True)
    sys.exit(code)


def _open_session(settings: Settings) -> Session:
    """A session for the command: the environment's account, or the emulator's demo account."""
    if settings.emulator:
        import httpx

        from .testing import Emulator

        limits = RateLimits().scaled(settings.scale)
        emulator = Emulator(limits=limits, delivery_delay=0.5)
        return Session(
            login="demo",
            password="demo",
            base_url="http://127.0.0.1",
            limits=limits,
            transport=httpx.ASGITransport(app=emulator),
        )
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
    options: dict[str, Any] = {"timeout": settings.timeout}
    if settings.base_url:
        options["base_url"] = settings.base_url
    try:
        if api_key is not None:
            return Session(api_key=api_key, **options)
        return Session(login=login, password=password, **options)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _run(settings: Settings, job: Callable[[Session], Awaitable[T]]) -> T:
    """Run ``job`` with a session; turn expected failures into one line and an exit code."""

    async def main() -> T:
        async with _open_session(settings) as smsc:
            return await job(smsc)

    try:
        return anyio.run(main)
    except CLIError as exc:
        _fail(str(exc), exc.code)
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
        _fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        _fail("interrupted", EXIT_INTERRUPTED)


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


# -- the command group ---------------------------------------------------------------------------


@click.group(epilog=_ENV_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--emulator",
    is_flag=True,
    help="Run against the embedded gateway emulator (demo account, nothing leaves the machine).",
)
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
@click.version_option(version=__version__, message="smsc %(version)s")
@click.pass_context
def cli(
    ctx: click.Context, emulator: bool, emulator_scale: float, base_url: str | None, timeout: float
) -> None:
    """Look up operators in bulk and check an SMSC account from the shell."""
    ctx.obj = Settings(emulator=emulator, scale=emulator_scale, base_url=base_url, timeout=timeout)


# -- lookup --------------------------------------------------------------------------------------


def _row(result: LookupResult) -> dict[str, object]:
    info = result.info
    row: dict[str, object] = dict.fromkeys(COLUMNS)
    row["phone"] = result.phone
    if info is not None:
        row.update(
            result="found",
            country=info.country,
            operator=info.operator,
            region=info.region,
            mcc=info.mcc,
            mnc=info.mnc,
            tz=info.tz,
        )
    else:
        error = result.error
        if isinstance(error, OperatorNotFoundError):
            row["result"] = "not_found"
        elif isinstance(error, (ValueError, ParameterError)):
            row["result"] = "invalid"
        else:
            row["result"] = "error"
        row["error"] = str(error)
    return row


def _output_format(path: str | None, chosen: str | None) -> str:
    if chosen is not None:
        return chosen
    if path is not None and path != "-" and Path(path).suffix.lower() in _JSON_SUFFIXES:
        return "jsonl"
    return "csv"


def _done_in(path: Path, fmt: str) -> list[str]:
    """The numbers already in an earlier run's output; a torn last line is cut off."""
    with path.open("rb+") as raw:
        data = raw.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            # The previous run stopped mid-line: drop the fragment, its number is redone.
            raw.truncate(end)
            data = data[:end]
    text = data.decode("utf-8")
    if not text:
        return []
    phones: list[str] = []
    if fmt == "csv":
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if header != list(COLUMNS):
            raise CLIError(
                f"{path} exists but is not an `smsc lookup` CSV file; "
                "pick another --output or pass --restart to overwrite it"
            )
        phones.extend(row[0] for row in reader if row)
    else:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                phones.append(str(json.loads(line)["phone"]))
            except (ValueError, KeyError, TypeError):
                raise CLIError(
                    f"{path}:{number} is not an `smsc lookup` JSON line; "
                    "pick another --output or pass --restart to overwrite it"
                ) from None
    return phones


def _numbers_in(lines: IO[str]) -> Iterator[str]:
    """The number of each line: its first field; comments and lines without digits skipped."""
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        for separator in (",", ";", "\t"):
            text = text.split(separator, 1)[0]
        text = text.strip().strip('"')
        if any(c.isdigit() for c in text):
            yield text


def _count_numbers(path: str) -> int | None:
    if path == "-" or not Path(path).is_file():
        return None
    with open(path, encoding="utf-8-sig", errors="replace") as lines:
        return sum(1 for _ in _numbers_in(lines))


class _Writer:
    """Writes result rows as CSV or JSON lines, flushing after every answered batch."""

    def __init__(self, stream: IO[str], fmt: str, *, header: bool) -> None:
        self._stream = stream
        self._json = fmt == "jsonl"
        self._csv = csv.writer(stream, lineterminator="\n")
        if header and not self._json:
            self._csv.writerow(COLUMNS)

    def write(self, result: LookupResult) -> None:
        row = _row(result)
        if self._json:
            self._stream.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            self._csv.writerow(["" if v is None else v for v in row.values()])

    def flush(self) -> None:
        self._stream.flush()


def _format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]lookup"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8.0f} numbers/s"),
        TextColumn("ETA {task.fields[eta]}"),
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
@click.option("--restart", is_flag=True, help="Overwrite the output instead of resuming it.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a live progress bar on stderr (default: when stderr is a terminal).",
)
@click.pass_obj
def lookup(
    settings: Settings,
    source: str,
    output: str | None,
    fmt: str | None,
    batch_size: int,
    concurrency: int,
    restart: bool,
    progress: bool | None,
) -> None:
    """Look up the operator of every number in SOURCE (a file, one number a line; - for stdin).

    Numbers are normalized and de-duplicated; each distinct number gets one output row with
    result found, not_found, invalid or error. Requests run at the gateway's ceiling of 100 a
    minute. Rerunning with the same --output skips the numbers already written.
    """
    fmt = _output_format(output, fmt)
    console = _stderr()
    show = progress if progress is not None else console.is_terminal
    to_file = output is not None and output != "-"
    skip: list[str] = []
    if to_file and not restart and Path(str(output)).is_file():
        try:
            skip = _done_in(Path(str(output)), fmt)
        except (OSError, UnicodeDecodeError) as exc:
            _fail(f"cannot resume {output}: {exc}", EXIT_USAGE)
        except CLIError as exc:
            _fail(str(exc), exc.code)
    # Every line with a number: the run subtracts duplicates and numbers done before as it goes.
    total = _count_numbers(source)

    async def job(smsc: Session) -> LookupProgress:
        with ExitStack() as stack:
            lines: IO[str] = stack.enter_context(
                click.open_file(source, encoding="utf-8-sig", errors="replace")
            )
            if to_file:
                mode = "a" if skip else "w"
                out: IO[str] = stack.enter_context(
                    open(str(output), mode, encoding="utf-8", newline="")  # noqa: ASYNC230
                )
            else:
                out = stack.enter_context(click.open_file("-", "w", encoding="utf-8"))
            writer = _Writer(out, fmt, header=not skip)
            bar = stack.enter_context(_progress_bar(console)) if show else None
            task: TaskID | None = None
            if bar is not None:
                task = bar.add_task("lookup", total=total, rate=0.0, eta="--:--", failed=0)

            def report(p: LookupProgress) -> None:
                writer.flush()
                if bar is not None and task is not None:
                    bar.update(
                        task,
                        completed=p.done,
                        total=p.total,
                        rate=p.rate,
                        eta=_format_eta(p.eta),
                        failed=p.failed,
                    )

            async with smsc.lookup_operators(
                _numbers_in(lines),
                batch_size=batch_size,
                concurrency=concurrency,
                progress=report,
                total=total,
                skip=skip,
            ) as results:
                async for item in results:
                    writer.write(item)
            writer.flush()
            return results.progress

    try:
        final = _run(settings, job)
    except SystemExit as exc:
        if exc.code == EXIT_INTERRUPTED and to_file:
            _stderr().print(f"rerun the same command to resume from {output}")
        raise
    where = f" → {output}" if to_file else ""
    resumed = f" ({len(skip)} done before)" if skip else ""
    console.print(
        f"{final.done} numbers looked up in {final.elapsed:.1f} s: {final.found} found, "
        f"{final.failed} failed, {final.requests} requests{resumed}{where}"
    )


# -- day-to-day checks ---------------------------------------------------------------------------

_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@cli.command()
@_json_option
@click.pass_obj
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
@click.pass_obj
def send(
    settings: Settings,
    phones: str,
    message: str,
    sender: str | None,
    translit: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Send MESSAGE to PHONES (comma-separated numbers)."""
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
        lambda smsc: smsc.send(
            phones, message, sender=sender, translit=1 if translit else 0, cost=3
        ),
    )
    if as_json:
        _print_json(sent)
    else:
        click.echo(f"sent: id {sent.id}, {sent.cnt} SMS, cost {sent.cost}, balance {sent.balance}")


@cli.command()
@click.argument("message_id")
@click.argument("phone")
@_json_option
@click.pass_obj
def status(settings: Settings, message_id: str, phone: str, as_json: bool) -> None:
    """Show the delivery status of message MESSAGE_ID sent to PHONE."""
    result = _run(settings, lambda smsc: smsc.status(message_id, phone, all=1))
    if as_json:
        _print_json(result)
    else:
        _print_fields(result)


@cli.command()
@click.option("--all", "show_all", is_flag=True, help="Also names not (yet) allowed for use.")
@_json_option
@click.pass_obj
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
        table.add_row(str(name.id), name.sender, state.lower())
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
@click.pass_obj
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
        table.add_row(
            msg.send_date.strftime("%Y-%m-%d %H:%M") if msg.send_date else "",
            msg.phone,
            msg.status.name.lower(),
            "" if msg.cost is None else str(msg.cost),
            (msg.message or "")[:40],
        )
    Console(highlight=False, soft_wrap=True).print(table)


def main() -> None:
    """Entry point of the ``smsc`` command."""
    cli(prog_name="smsc")


if __name__ == "__main__":
    main()
