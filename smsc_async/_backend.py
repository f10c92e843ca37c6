"""Where the limiter keeps its logs: the exact sliding-window log, the backend protocol, memory.

A rate rule is "at most ``limit`` requests in any span of ``window`` seconds". Its state is a
*log* per key: the requests still in flight (each counts as "now" until its answer arrives) and the
times at which the completed ones age out (answer time + ``window``). A request is admissible
when fewer than ``limit`` entries are in the log. A concurrency cap is the same log with
``window == 0``: an entry holds its slot only while in flight.

Three layers, from the inside out:

* :class:`SlidingLog` -- one log, plain synchronous code, no clock of its own;
* :class:`LimiterBackend` -- the protocol the async :class:`~smsc_async.Limiter` talks to: one
  atomic decision for all the logs a request counts against (:class:`Demand`), answered with a
  :class:`Reservation` or the seconds to wait;
* :class:`MemoryBackend` -- that protocol over :class:`SlidingLog` objects in a dict, for one
  process. A shared (Redis) backend implements the same three methods with one Lua script each.
"""

from __future__ import annotations

import math
import sys
from bisect import insort
from collections import deque
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

import anyio

__all__ = [
    "Demand",
    "LimiterBackend",
    "MemoryBackend",
    "Reservation",
    "SlidingLog",
    "current_time",
]

_INF = math.inf


def current_time() -> float:
    """``anyio.current_time()``, without its event-loop lookup when the loop is asyncio's."""
    # anyio.current_time() asks sniffio and anyio which library runs, on every call: that
    # costs more than the whole decision. Same clock, same value, read directly.
    # Importing asyncio costs ~12 ms; if nothing imported it, no asyncio loop can be running.
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None:
        loop = asyncio.events._get_running_loop()
        if loop is not None:
            return loop.time()  # type: ignore[no-any-return]
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            return trio.current_time()  # type: ignore[no-any-return]
        except RuntimeError:
            pass
    return anyio.current_time()


class SlidingLog:
    """One sliding-window log: at most ``limit`` entries in any span of ``window`` seconds.

    The caller passes a monotonic ``now`` to every call. In-flight entries are interchangeable,
    so the log keeps their count; completed entries are kept as their expiry times, oldest first,
    and only while they still count::

        log = SlidingLog(limit=2, window=60.0)
        log.try_admit(0.0)      # 0.0: admissible now
        log.admit(0.0)
        log.admit(0.0)
        log.try_admit(1.0)      # inf: both slots are in flight; the wait depends on an answer
        log.complete(5.0)       # one answer arrived at 5.0: it counts until 65.0
        log.try_admit(6.0)      # 59.0: then one slot is free, whatever the other one does
        log.complete(7.0)
        log.try_admit(65.0)     # 0.0

    ``ahead`` counts earlier waiters that have a claim on the log: the answer is then the moment
    a slot is free *for this request* once each of them has taken one.
    """

    __slots__ = ("expiries", "inflight", "limit", "window")

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.inflight = 0
        #: Ageing-out times of the completed entries that still count, ascending.
        self.expiries: deque[float] = deque()

    def __len__(self) -> int:
        """How many entries the log holds (in flight or not yet aged out, as of the last call)."""
        return self.inflight + len(self.expiries)

    def ready_at(self, now: float, ahead: int = 0) -> float:
        """The earliest time (``>= now``) a new entry is admissible; ``inf`` if an answer decides.

        Returns ``now`` itself when admissible right away.
        """
        expiries = self.expiries
        while expiries and expiries[0] <= now:
            expiries.popleft()
        # How many of the completed entries must age out first, minus one.
        k = len(expiries) + self.inflight + ahead - self.limit
        if k < 0:
            return now
        if k < len(expiries):
            return expiries[k]
        return _INF

    def try_admit(self, now: float, ahead: int = 0) -> float:
        """Seconds until a new entry is admissible: ``0.0`` now, ``inf`` if an answer decides."""
        ready = self.ready_at(now, ahead)
        return ready - now if ready > now else 0.0

    def admit(self, now: float) -> None:
        """Add an in-flight entry (the caller has checked that it is admissible at ``now``)."""
        self.inflight += 1

    def complete(self, now: float) -> None:
        """An in-flight entry's answer arrived at ``now``: it counts until ``now + window``."""
        self.inflight -= 1
        if self.window > 0:
            expiry = now + self.window
            expiries = self.expiries
            if expiries and expiry < expiries[-1]:
                # Only a clock that went backwards gets here; keep the order all the same.
                insort(expiries, expiry)
            else:
                expiries.append(expiry)

    def cancel(self) -> None:
        """An in-flight entry never left: it frees its slot at once."""
        self.inflight -= 1

    def idle_at(self, now: float) -> float:
        """When the log will hold nothing (``inf`` while anything is in flight)."""
        if self.inflight:
            return _INF
        return self.expiries[-1] if self.expiries else now


class Demand(NamedTuple):
    """One slot a request needs: in the log ``key`` of a rule of ``limit`` per ``window`` seconds.

    ``window == 0`` makes it a concurrency cap (the slot is held only while in flight). Keys are
    plain strings so a shared backend can use them as its own keys.
    """

    # A NamedTuple rather than an attrs class: several are built per request on the hot path.
    key: str
    limit: int
    window: float


class Reservation:
    """The slots one admitted request holds: hand it back to ``release`` exactly once."""

    __slots__ = ("demands", "handle")

    def __init__(self, demands: Sequence[Demand], handle: object) -> None:
        #: The demands this reservation satisfied, in the order they were asked for.
        self.demands = demands
        #: The backend's own record of the entries (opaque to everyone else).
        self.handle = handle

    def __repr__(self) -> str:
        return f"Reservation({[d.key for d in self.demands]!r})"


class LimiterBackend(Protocol):
    """Storage and atomic decisions for the limiter's logs.

    Every method decides *atomically* over all the demands it is given, reading its own clock
    (the memory backend: a monotonic clock; a Redis backend: the server's ``TIME``), so that
    several processes sharing one backend share one view of time.

    ``ahead[i]`` (when given) is how many earlier waiters of this process hold a claim on
    ``demands[i]``: the request is admissible there only if a slot remains after each of them has
    taken one. That keeps waiters first-in, first-out without holding real slots while they wait.

    A returned wait of ``inf`` means "until a slot in flight is released": the limiter then wakes
    on its own releases. A backend shared between processes cannot see the other processes'
    releases that way, so it should return a finite bound instead (e.g. the earliest expiry of an
    in-flight lease).
    """

    async def acquire(
        self, demands: Sequence[Demand], ahead: Sequence[int] | None = None
    ) -> Reservation | float:
        """Take one in-flight slot in every demanded log, or none and say how long to wait.

        Returns a :class:`Reservation` or the seconds (``> 0``, maybe ``inf``) until every demand
        would be admissible, given what is known now.
        """
        ...

    async def wait_time(
        self, demands: Sequence[Demand], ahead: Sequence[int] | None = None
    ) -> float:
        """Like ``acquire`` but take nothing: ``0.0`` if admissible now, else seconds to wait."""
        ...

    async def release(self, reservation: Reservation, *, sent: bool) -> None:
        """Give back a reservation's slots.

        ``sent=True``: the request's answer arrived now, so each entry counts until now plus its
        window. ``sent=False``: the request never left, so its entries are dropped.
        """
        ...


class _StoredLog(SlidingLog):
    """A log as the memory backend keeps it: with its key and its place in the idle sweep."""

    __slots__ = ("idle", "key", "queued")

    def __init__(self, demand: Demand, idle: deque[tuple[float, _StoredLog]]) -> None:
        super().__init__(demand.limit, demand.window)
        self.key = demand.key
        # The sweep queue of the log's window length; ``queued``: the log is in it.
        self.idle = idle
        self.queued = False


class MemoryBackend:
    """The limiter's logs in this process's memory: exact, and decided without any ``await``.

    The synchronous ``try_acquire``/``wait_time_now``/``release_now`` are the fast path the
    :class:`~smsc_async.Limiter` uses; the async methods implement :class:`LimiterBackend`.
    Logs that hold nothing any more are dropped a few at a time as requests complete, so memory
    follows the number of keys used within one window, not the number ever used (the logs of
    concurrency caps, ``window == 0``, are few and kept)::

        backend = MemoryBackend()
        limiter = Limiter(RateLimits(), backend=backend)  # the default when no backend is given
    """

    def __init__(self, *, clock: Callable[[], float] | None = None) -> None:
        self._clock: Callable[[], float] = clock or current_time
        self._logs: dict[str, _StoredLog] = {}
        # Per window length: (time, log) for logs that may hold nothing from that time on, each
        # log at most once. For one window length those times grow (completion + window), so
        # the front is the next candidate; a log found still in use is put back at the end.
        self._idle: dict[float, deque[tuple[float, _StoredLog]]] = {}

    def __len__(self) -> int:
        """How many logs are held in memory."""
        return len(self._logs)

    def log(self, key: str) -> SlidingLog | None:
        """The log kept under ``key``, if any (for inspection)."""
        return self._logs.get(key)

    def inflight(self, key: str) -> int:
        """How many entries of the log ``key`` are in flight."""
        log = self._logs.get(key)
        return log.inflight if log is not None else 0

    def _new_log(self, demand: Demand) -> _StoredLog:
        idle = self._idle.get(demand.window)
        if idle is None:
            idle = self._idle[demand.window] = deque()
        return _StoredLog(demand, idle)

    def try_acquire(
        self, demands: Sequence[Demand], ahead: Sequence[int] | None = None
    ) -> Reservation | float:
        """Synchronous :meth:`acquire`."""
        if ahead is not None:
            wait = self.wait_time_now(demands, ahead)
            if wait > 0:
                return wait
        now = self._clock()
        logs = self._logs
        found: list[_StoredLog] = []
        fresh: list[_StoredLog] | None = None
        for demand in demands:
            log = logs.get(demand[0])
            if log is None:
                # Stored only once admitted everywhere: a refusal leaves nothing to clean up.
                log = self._new_log(demand)
                if fresh is None:
                    fresh = [log]
                else:
                    fresh.append(log)
            elif ahead is None:
                expiries = log.expiries
                if expiries:
                    while expiries and expiries[0] <= now:
                        expiries.popleft()
                    if len(expiries) + log.inflight >= log.limit:
                        return self.wait_time_now(demands)
                elif log.inflight >= log.limit:
                    return self.wait_time_now(demands)
            found.append(log)
        for log in found:
            log.inflight += 1
        if fresh is not None:
            for log in fresh:
                logs[log.key] = log
        return Reservation(demands, found)

    def wait_time_now(self, demands: Sequence[Demand], ahead: Sequence[int] | None = None) -> float:
        """Synchronous :meth:`wait_time`."""
        now = self._clock()
        ready = now
        for i, demand in enumerate(demands):
            claims = ahead[i] if ahead is not None else 0
            log = self._logs.get(demand.key)
            if log is not None:
                at = log.ready_at(now, claims)
                if at > ready:
                    ready = at
            elif claims >= demand.limit:
                ready = _INF
        return ready - now if ready > now else 0.0

    def release_now(self, reservation: Reservation, *, sent: bool) -> None:
        """Synchronous :meth:`release`."""
        now = self._clock()
        found: list[_StoredLog] = reservation.handle  # type: ignore[assignment]
        for log in found:
            log.inflight -= 1
            window = log.window
            if not window:
                continue
            if sent:
                expiry = now + window
                expiries = log.expiries
                if expiries and expiry < expiries[-1]:
                    # Only a clock that went backwards gets here; keep the order all the same.
                    insort(expiries, expiry)
                else:
                    expiries.append(expiry)
            if log.inflight:
                continue
            idle = log.idle
            if not log.queued:
                log.queued = True
                idle.append((log.expiries[-1] if log.expiries else now, log))
            # Look at two candidates per log that goes idle: more than are added, so the
            # backlog of dead logs only shrinks, and no call pays for a mass expiry.
            for _ in range(2):
                if not idle or idle[0][0] > now:
                    break
                _, candidate = idle.popleft()
                candidate.queued = False
                if candidate.inflight:
                    continue  # queued again when it next goes idle
                at = candidate.idle_at(now)
                if at <= now:
                    if self._logs.get(candidate.key) is candidate:
                        del self._logs[candidate.key]
                else:
                    candidate.queued = True
                    idle.append((at, candidate))

    async def acquire(
        self, demands: Sequence[Demand], ahead: Sequence[int] | None = None
    ) -> Reservation | float:
        """See :meth:`LimiterBackend.acquire`."""
        return self.try_acquire(demands, ahead)

    async def wait_time(
        self, demands: Sequence[Demand], ahead: Sequence[int] | None = None
    ) -> float:
        """See :meth:`LimiterBackend.wait_time`."""
        return self.wait_time_now(demands, ahead)

    async def release(self, reservation: Reservation, *, sent: bool) -> None:
        """See :meth:`LimiterBackend.release`."""
        self.release_now(reservation, sent=sent)
