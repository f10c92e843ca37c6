"""Shared rate rules in one SQLite file: the processes of one host keep one set of windows.

``uvicorn --workers 4``, a bot beside a cron job, or the ``smsc`` command run twice in a row all
spend one login's allowance. Without Redis, give each of them the same file::

    from smsc_async import Session
    from smsc_async.sqlite import SQLiteBackend

    async with SQLiteBackend("/var/lib/myapp/smsc-limits.sqlite3") as backend:
        async with Session(login="alex", password="…", backend=backend) as smsc:
            await smsc.balance()

Only the standard library's :mod:`sqlite3` is needed. How the logs live in the file:

* one table of entries: the log they belong to, a member id, and the time the entry stops
  counting -- answer time + window for completed requests, *lease end + window* for requests in
  flight (the same scores as :mod:`smsc_async.redis`);
* every decision is one ``BEGIN IMMEDIATE`` transaction over all the logs a request counts
  against, so two processes never both take the last slot; the file is in WAL mode, so a
  decision waits only for other decisions (each a fraction of a millisecond), never for readers;
* the calls run in a worker thread (``anyio.to_thread``), so a decision that waits for the lock
  never blocks the event loop, under asyncio and trio alike;
* leases are short (``lease_ttl``, 10 s) and renewed by a daemon thread while the request is in
  flight: a process that is killed gives its places back within ``lease_ttl``; the rate entries
  of its last requests still count a window from then, since the gateway may have counted them;
* log names are never stored in clear (they hold phone numbers and message hashes): each is an
  HMAC keyed by the session's namespace (a hash of its login) and the optional ``secret``.

Time is the host's wall clock (``time.time()``), the one clock every process of a host reads
alike; :func:`time.monotonic` is shared too but restarts at boot, while the file outlives it.
A wall clock can be stepped back (NTP, a user): the file keeps the latest time any process saw,
and when a reading is behind it the difference is added to every later reading, so the store's
time never goes backwards (a step forward makes entries age early by that step, as it would for
any client on that host).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import itertools
import math
import os
import random
import secrets
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import anyio.lowlevel

from smsc_async._backend import Demand, Reservation
from smsc_async._errors import LimiterUnavailableError

__all__ = ["SQLiteBackend"]

_INF = math.inf
#: Seconds a request in flight keeps its places without a renewal.
DEFAULT_LEASE_TTL = 10.0
#: Seconds between checks while a concurrency cap is full with other processes' requests.
DEFAULT_POLL_INTERVAL = 0.01
#: Seconds a decision may wait for the file's write lock before the backend gives up.
DEFAULT_TIMEOUT = 5.0
# Tries for the write lock: SQLite's own busy handler sleeps 1, 2, 5, 10, 15 ... ms between
# them, while a decision holds the lock a fraction of a millisecond, so processes taking turns
# on one file spent most of the time asleep. Here the gap starts at _FIRST_GAP and doubles up
# to _LAST_GAP (each drawn from half to one and a half of it), until the decision's timeout.
_FIRST_GAP = 0.0001
_LAST_GAP = 0.004
_SQLITE_BUSY = 5
# Rows that stopped counting are deleted at most this often, across all logs (each decision
# already deletes the stale rows of the logs it reads).
_SWEEP_EVERY = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    log BLOB NOT NULL,
    member TEXT NOT NULL,
    score REAL NOT NULL,
    window REAL NOT NULL,
    leased INTEGER NOT NULL,
    PRIMARY KEY (log, member)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_by_score ON entries (log, score);
CREATE TABLE IF NOT EXISTS clock (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    last REAL NOT NULL,
    offset REAL NOT NULL,
    swept REAL NOT NULL
);
INSERT OR IGNORE INTO clock VALUES (0, 0.0, 0.0, 0.0);
"""


class _Store:
    """One connection to the file (used from worker threads, one at a time) and the renewer."""

    def __init__(
        self, path: str, *, timeout: float, lease_ttl: float, wall: Callable[[], float]
    ) -> None:
        self.path = path
        self.timeout = timeout
        self.lease_ttl = lease_ttl
        self._wall = wall
        self._lock = threading.Lock()
        # The pause between tries for the lock and the clock bounding them (tests set their own).
        self._random = random.Random()
        self._sleep: Callable[[float], None] = time.sleep
        self._clock: Callable[[], float] = time.monotonic
        self._conn: sqlite3.Connection | None = None
        # Entries in flight to renew: reservation member -> its rows (log id, row member).
        self.leased: dict[str, list[tuple[bytes, str]]] = {}
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self.closed = False

    # -- the connection -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is None:
            if self.closed:
                raise LimiterUnavailableError("the SQLite limiter backend is closed")
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves.
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            with contextlib.suppress(OSError):  # not ours to change: a file shared on purpose
                os.chmod(self.path, 0o600)
            conn.execute("PRAGMA journal_mode=WAL")
            # A commit in WAL mode is durable enough without an fsync per decision: a crash of
            # the host loses the last decisions, and with them nothing the gateway remembers.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            # From here on the tries for the lock are _begin()'s (the set-up above waited in
            # SQLite's busy handler, bounded by the same timeout).
            conn.execute("PRAGMA busy_timeout = 0")
            self._conn = conn
        return conn

    def _begin(self, conn: sqlite3.Connection) -> None:
        """``BEGIN IMMEDIATE``, tried again while another process holds the lock (``timeout``)."""
        if _try_begin(conn):
            return
        clock, sleep, jitter = self._clock, self._sleep, self._random.random
        deadline = clock() + self.timeout
        gap = _FIRST_GAP
        while True:
            left = deadline - clock()
            if left <= 0:
                # The error SQLite's own handler gives when its timeout runs out.
                raise sqlite3.OperationalError("database is locked")
            sleep(min(gap * (0.5 + jitter()), left))
            if _try_begin(conn):
                return
            gap = min(2 * gap, _LAST_GAP)

    def run(self, fn: Any, *args: Any) -> Any:
        """``fn(conn, now, *args)`` inside one ``BEGIN IMMEDIATE`` transaction (worker thread)."""
        with self._lock:
            try:
                conn = self._connect()
                self._begin(conn)
                try:
                    now = self._now(conn)
                    result = fn(conn, now, *args)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                return result
            except (sqlite3.Error, OSError) as exc:
                # OSError: the file's directory cannot be made.
                raise LimiterUnavailableError(
                    f"the shared limiter in {self.path} cannot be used "
                    f"({type(exc).__name__}: {exc}); nothing was sent"
                ) from exc

    def _now(self, conn: sqlite3.Connection) -> float:
        # The store's clock: the wall clock plus an offset that grows whenever a reading is
        # behind the latest time seen, so that it never goes backwards (see the module doc).
        last, offset, swept = conn.execute("SELECT last, offset, swept FROM clock").fetchone()
        now = self._wall() + offset
        if now < last:
            offset += last - now
            now = last
        if now - swept >= _SWEEP_EVERY:
            conn.execute("DELETE FROM entries WHERE score <= ?", (now,))
            swept = now
        conn.execute(
            "UPDATE clock SET last = ?, offset = ?, swept = ? WHERE id = 0", (now, offset, swept)
        )
        return float(now)

    # -- leases ----------------------------------------------------------------------------------

    def lease(self, member: str, taken: list[tuple[bytes, str]]) -> None:
        self.leased[member] = taken
        if self._renewer is None and not self.closed:
            self._renewer = threading.Thread(
                target=_renew_loop,
                args=(weakref.ref(self), self._stop, self.lease_ttl / 4),
                name="smsc-sqlite-lease-renewer",
                daemon=True,
            )
            self._renewer.start()

    def renew(self) -> None:
        leased = [row for rows in list(self.leased.values()) for row in rows]
        if leased:
            self.run(_renew, leased, self.lease_ttl)

    def close(self) -> None:
        self.closed = True
        self._stop.set()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _busy(exc: sqlite3.OperationalError) -> bool:
    """Whether ``exc`` is SQLite's "busy": another connection holds the lock."""
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return bool(code & 0xFF == _SQLITE_BUSY)
    return "database is locked" in str(exc)


def _try_begin(conn: sqlite3.Connection) -> bool:
    """``BEGIN IMMEDIATE`` once: False if another connection holds the write lock."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if not _busy(exc):
            raise
        return False
    return True


def _renew_loop(ref: weakref.ref[_Store], stop: threading.Event, interval: float) -> None:
    # Runs until the backend is closed or collected; a daemon, so it dies with the process and
    # with it the renewals: that is how a killed process's places come back.
    while not stop.wait(interval):
        store = ref()
        if store is None or store.closed:
            return
        # Locked for too long: the next round tries again, well inside the lease.
        with contextlib.suppress(LimiterUnavailableError):
            store.renew()
        del store


def _renew(
    conn: sqlite3.Connection, now: float, leased: list[tuple[bytes, str]], ttl: float
) -> None:
    end = now + ttl
    conn.executemany(
        "UPDATE entries SET score = ? + window WHERE log = ? AND member = ? AND leased = 1",
        [(end, log, member) for log, member in leased],
    )


# One group per distinct log of a request: (log id, limit, window, need, occurrences), where
# ``need`` is how many slots must be free before its last occurrence (claims ahead included).
_Group = tuple[bytes, int, float, int, int]


def _decide(
    conn: sqlite3.Connection,
    now: float,
    groups: Sequence[_Group],
    member: str | None,
    lease: float,
    poll: float,
) -> tuple[float, list[tuple[bytes, str]]]:
    """The seconds to wait (``0.0``: admissible, and taken when ``member`` is given)."""
    wait = 0.0
    for log, limit, window, need, _count in groups:
        conn.execute("DELETE FROM entries WHERE log = ? AND score <= ?", (log, now))
        scores = [
            row[0]
            for row in conn.execute(
                "SELECT score FROM entries WHERE log = ? ORDER BY score", (log,)
            )
        ]
        n = len(scores)
        # The k-th oldest entry (0-based) must go before the last of this request's occurrences
        # in the log has a slot.
        k = n + need - limit
        if k < 0:
            continue
        if k >= n:
            w = _INF  # earlier claims of this process: only its own releases can help
        else:
            s = scores[k]
            if s - window <= now:
                w = s - now  # answered (or its lease ran out): it stops counting at s
            elif window > 0:
                w = window  # in flight: it counts a whole window from an answer still to come
            else:
                w = min(poll, s - now)  # a cap held by a request in flight: look again soon
        if w > wait:
            wait = w
    if wait > 0 or member is None:
        return wait, []
    taken: list[tuple[bytes, str]] = []
    rows = []
    for log, _limit, window, _ahead, count in groups:
        for j in range(count):
            name = f"{member}.{j}"
            taken.append((log, name))
            rows.append((log, name, now + lease + window, window))
    conn.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, 1)", rows)
    return 0.0, taken


def _release(
    conn: sqlite3.Connection,
    now: float,
    taken: Sequence[tuple[bytes, str]],
    windows: dict[bytes, float],
    sent: bool,
    hold: float,
) -> None:
    for log, name in taken:
        window = windows[log]
        if window > 0 and (sent or hold > 0):
            # The answer arrived now (or the gateway may still count it): one window from now;
            # re-added if its lease ran out meanwhile, since the gateway counted it all the same.
            conn.execute(
                "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, 0)",
                (log, name, now + window, window),
            )
        elif window == 0 and hold > 0:
            # The gateway may still be working on it: its place stays taken a while.
            conn.execute(
                "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, 0.0, 0)", (log, name, now + hold)
            )
        else:
            conn.execute("DELETE FROM entries WHERE log = ? AND member = ?", (log, name))


class _Handle:
    """What a reservation of this backend holds: its rows and the store they are in."""

    __slots__ = ("member", "store", "taken", "windows")

    def __init__(
        self,
        store: _Store,
        member: str,
        taken: list[tuple[bytes, str]],
        windows: dict[bytes, float],
    ) -> None:
        self.store = store
        self.member = member
        self.taken = taken
        self.windows = windows


class SQLiteBackend:
    """The limiter's logs in one SQLite file, shared by every process of the host that opens it.

    Implements :class:`~smsc_async.LimiterBackend` with one ``BEGIN IMMEDIATE`` transaction per
    decision, run in a worker thread, on the host's wall clock guarded against going back (see
    the module docstring). Pass it to every :class:`~smsc_async.Session` of the login::

        backend = SQLiteBackend("~/.local/state/myapp/limits.sqlite3")
        async with Session(login="alex", password="…", backend=backend) as smsc:
            ...

    The session binds it to a hash of its login (:meth:`bind`), so one file may serve several
    logins.

    * ``secret`` (optional, e.g. the login's password or API key) is mixed into the key that
      hashes log names, so that someone who can read the file and knows the login still cannot
      test guesses of the phone numbers in it; every process of the login must pass the same;
    * ``lease_ttl``: seconds a request in flight keeps its places without a renewal; a daemon
      thread renews them every ``lease_ttl / 4`` while the request runs, so only a process that
      died (or hangs for longer) loses them;
    * ``poll_interval``: how often a request waiting on a concurrency cap full of other
      processes' requests looks again;
    * ``timeout``: seconds a decision may wait for the file's lock; beyond (or when the file
      cannot be opened) requests fail with :class:`~smsc_async.LimiterUnavailableError` and
      nothing is sent. Releases never raise: one the file cannot take runs out with its lease;
    * ``clock``: the wall clock in seconds that every process of the file shares (default
      :func:`time.time`; tests pass a fake one).

    Close it when done (``async with`` or :meth:`aclose`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        namespace: str = "default",
        secret: str | bytes | None = None,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or a path, not {type(path).__name__}")
        text = os.path.expanduser(os.fspath(path))
        if not text:
            raise ValueError("path must not be empty")
        if not isinstance(namespace, str) or not namespace:
            raise ValueError(f"namespace must be a non-empty str, got {namespace!r}")
        if secret is not None and not isinstance(secret, (str, bytes)):
            raise TypeError(f"secret must be a str, bytes or None, not {type(secret).__name__}")
        for name, number in (
            ("lease_ttl", lease_ttl),
            ("poll_interval", poll_interval),
            ("timeout", timeout),
        ):
            if not isinstance(number, (int, float)) or not number > 0 or number == _INF:
                raise ValueError(f"{name} must be a positive number of seconds, got {number!r}")
        if clock is not None and not callable(clock):
            raise TypeError(f"clock must be callable, not {type(clock).__name__}")
        self._store = _Store(text, timeout=timeout, lease_ttl=lease_ttl, wall=clock or time.time)
        self._secret = secret.encode() if isinstance(secret, str) else (secret or b"")
        self._lease = float(lease_ttl)
        self._poll = float(poll_interval)
        self._token = secrets.token_hex(6) + ":"
        self._counter = itertools.count()
        self._set_namespace(namespace)

    def _set_namespace(self, namespace: str) -> None:
        self._namespace = namespace
        # The HMAC key of this view's log names: derived from the namespace and the secret.
        self._key = hashlib.blake2b(
            namespace.encode(), key=hashlib.sha256(self._secret).digest(), person=b"smsc.sqlite"
        ).digest()
        self._ids: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return f"<smsc_async.sqlite.SQLiteBackend path={self._store.path!r}>"

    @property
    def path(self) -> str:
        """The file the logs are kept in."""
        return self._store.path

    @property
    def namespace(self) -> str:
        """The namespace of this view's logs (the session sets it to a hash of its login)."""
        return self._namespace

    def bind(self, namespace: str) -> SQLiteBackend:
        """A view of this backend (same file, same settings) keeping its logs in ``namespace``.

        :class:`~smsc_async.Session` calls it with a hash of its login, so every process of one
        login meets in the same logs and different logins never do.
        """
        if not isinstance(namespace, str) or not namespace:
            raise ValueError(f"namespace must be a non-empty str, got {namespace!r}")
        view = copy.copy(self)
        view._set_namespace(namespace)
        return view

    def log_id(self, demand_key: str) -> bytes:
        """The name under which the log ``demand_key`` is stored: an HMAC, never the key itself."""
        found = self._ids.get(demand_key)
        if found is None:
            if len(self._ids) >= 4096:
                self._ids.clear()
            found = self._ids[demand_key] = hmac.digest(self._key, demand_key.encode(), "blake2s")[
                :16
            ]
        return found

    async def aclose(self) -> None:
        """Close the file and stop renewing leases (entries in flight then run out). Idempotent."""
        await anyio.to_thread.run_sync(self._store.close)

    async def __aenter__(self) -> SQLiteBackend:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- the protocol ----------------------------------------------------------------------------

    def _groups(self, demands: Sequence[Demand], ahead: Sequence[int] | None) -> list[_Group]:
        # Repeated keys form one group: each occurrence takes its own slot.
        groups: dict[str, list[Any]] = {}
        for i, demand in enumerate(demands):
            claims = ahead[i] if ahead is not None else 0
            group = groups.get(demand.key)
            if group is None:
                groups[demand.key] = [
                    self.log_id(demand.key),
                    demand.limit,
                    demand.window,
                    claims,
                    1,
                ]
            else:
                # The j-th occurrence needs a slot beyond the j before it and its own claims.
                group[3] = max(group[3], claims + group[4])
                group[4] += 1
        return [tuple(g) for g in groups.values()]

    async def acquire(
        self, demands: Sequence[Demand], ahead: Sequence[int] | None = None
    ) -> Reservation | float:
        """See :meth:`smsc_async.LimiterBackend.acquire`; one transaction.

        A wait for a cap held by other processes is bounded by ``poll_interval``, a wait for a
        rule held by a request in flight by one window: their releases cannot wake this process.
        Cancelled while its transaction runs, it gives back the places the transaction took
        before the cancellation goes on: nothing is left that nobody owns.
        """
        groups = self._groups(demands, ahead)
        member = self._token + format(next(self._counter), "x")
        store = self._store
        wait, taken = await anyio.to_thread.run_sync(
            store.run, _decide, groups, member, self._lease, self._poll
        )
        if wait > 0:
            return float(wait)
        store.lease(member, taken)
        windows = {g[0]: g[2] for g in groups}
        reservation = Reservation(demands, _Handle(store, member, taken, windows))
        # The worker thread cannot be interrupted, so a cancellation that came meanwhile is
        # delivered only now: give back exactly what the transaction took, and let it through.
        try:
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.release(reservation, sent=False)
            raise
        return reservation

    async def wait_time(
        self, demands: Sequence[Demand], ahead: Sequence[int] | None = None
    ) -> float:
        """See :meth:`smsc_async.LimiterBackend.wait_time`; one transaction."""
        groups = self._groups(demands, ahead)
        wait, _ = await anyio.to_thread.run_sync(
            self._store.run, _decide, groups, None, self._lease, self._poll
        )
        return float(wait)

    async def release(self, reservation: Reservation, *, sent: bool, hold: float = 0.0) -> None:
        """See :meth:`smsc_async.LimiterBackend.release`; one transaction, and it never raises.

        ``hold > 0``: the concurrency places stay taken ``hold`` more seconds and the rate
        entries count from now. If the file cannot take the release, the entries stay until
        their leases run out.
        """
        handle = reservation.handle
        if not isinstance(handle, _Handle):
            raise TypeError("the reservation was not made by this backend")
        if not hold >= 0:
            raise ValueError(f"hold must be >= 0 seconds, got {hold!r}")
        store = handle.store
        store.leased.pop(handle.member, None)
        try:
            await anyio.to_thread.run_sync(
                store.run, _release, handle.taken, handle.windows, sent, float(hold)
            )
        except LimiterUnavailableError as exc:
            import logging

            logging.getLogger("smsc_async").warning(
                "smsc_async: could not release a limiter entry in %s (%s); "
                "it runs out with its lease",
                store.path,
                exc.__cause__ or exc,
            )
