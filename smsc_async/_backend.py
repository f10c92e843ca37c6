"""Where the limiter keeps its logs: the exact sliding-window log, the backend protocol, memory.

A rate rule is "at most ``limit`` requests in any span of ``window`` seconds". Its state is a
*log* per key: the requests still in flight (each counts as "now" until its answer arrives) and the
times at which the completed ones age out (answer time + ``window``). A request is admissible
when fewer than ``limit`` entries are in the log. A concurrency cap is the same log with
``window == 0``: an entry holds its place while in flight, and for ``hold`` seconds more when the
request was cancelled or timed out (the gateway may still be working on it).

Three layers, from the inside out:

* :class:`SlidingLog` -- one log, plain synchronous code, no clock of its own: the one
  implementation of the rule, which the property tests drive and the memory backend runs;
* :class:`LimiterBackend` -- the protocol the async :class:`~smsc_async.Limiter` talks to: one
  atomic decision for all the logs a request counts against (:class:`Demand`), answered with a
  :class:`Reservation` or the seconds to wait;
* :class:`MemoryBackend` -- that protocol over :class:`SlidingLog` objects in a dict, for one
  process. A shared (Redis) backend implements the same three methods with one Lua script each.
"""

from __future__ import annotations

import math
from bisect import insort
from collections import deque
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

from ._clock import Clock, SystemClock, _loop_clock

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
    """The running event loop's monotonic clock (what :class:`~smsc_async.SystemClock` reads)."""
    return _loop_clock()()


class SlidingLog:
    """One sliding-window log: at most ``limit`` entries in any span of ``window`` seconds.

    In-flight entries are interchangeable, so the log keeps their count; completed entries are
    kept as their expiry times, oldest first, and only while they still count. The log has no
    clock: callers pass ``now`` (or, to :meth:`take`, a function that reads it only if needed)::

        log = SlidingLog(limit=2, window=60.0)
        log.try_admit(0.0)          # 0.0: admissible now
        log.take(lambda: 0.0)       # True: an entry is in flight
        log.take(lambda: 0.0)       # True
        log.try_admit(1.0)          # inf: both slots are in flight; the wait depends on an answer
        log.complete(5.0)           # one answer arrived at 5.0: it counts until 65.0
        log.try_admit(6.0)          # 59.0: then one slot is free, whatever the other one does
        log.complete(7.0)
        log.try_admit(65.0)         # 0.0

    ``ahead`` counts slots claimed by earlier waiters: the answer is then the moment a slot is
    free *for this request* once each of them has taken one. A concurrency cap (``window == 0``)
    keeps an expiry only for an entry completed with ``hold > 0``.
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

    def earliest(self, now: float, ahead: int = 0) -> float:
        """A lower bound of :meth:`ready_at`, finite for a rate log even while answers decide.

        Equal to :meth:`ready_at` when that is finite. Otherwise, for a rate log, the time a slot
        would be free if every answer in flight came now and every earlier claimant went as early
        as it could: no answer can come earlier, so the request cannot go earlier either. (A
        concurrency cap learns nothing from this: ``inf`` stays.)
        """
        ready = self.ready_at(now, ahead)
        window = self.window
        if ready < _INF or not window:
            return ready
        # When the log's entries free their slots, earliest first: the completed ones at their
        # expiries (all <= now + window), those in flight at now + window at the earliest.
        frees = [*self.expiries, *([now + window] * self.inflight)]
        held = len(frees)
        at = now
        for claim in range(ahead + 1):
            # The claimant's slot is the one freed when enough earlier entries have gone.
            index = held + claim - self.limit
            at = frees[index] if index >= 0 else now
            frees.append(at + window)  # its own entry, answered as early as possible
        return at

    def try_admit(self, now: float, ahead: int = 0) -> float:
        """Seconds until a new entry is admissible: ``0.0`` now, ``inf`` if an answer decides."""
        ready = self.ready_at(now, ahead)
        return ready - now if ready > now else 0.0

    def take(self, clock: Callable[[], float]) -> bool:
        """Add an in-flight entry if one is admissible now; ``False`` (and nothing taken) if not.

        ``clock`` is read only when the log looks full: entries that may have aged out are
        dropped only then, so an unthrottled request never reads the time here.
        """
        expiries = self.expiries
        if self.inflight + len(expiries) >= self.limit:
            if not expiries:
                return False
            now = clock()
            while expiries and expiries[0] <= now:
                expiries.popleft()
            if self.inflight + len(expiries) >= self.limit:
                return False
        self.inflight += 1
        return True

    def complete(self, now: float, hold: float = 0.0) -> None:
        """An in-flight entry ended at ``now``: it counts for its window (a cap: ``hold``) more.

        A rate log counts the entry until ``now + window`` (the gateway counts arrivals, and it
        arrived no later than now). A concurrency cap keeps the place until ``now + hold``.
        """
        self.inflight -= 1
        span = self.window or hold
        if span > 0:
            expiry = now + span
            expiries = self.expiries
            if expiries and expiry < expiries[-1]:
                # Holds of different lengths, or a clock that went backwards: keep the order.
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
    plain strings so a shared backend can use them as its own keys. A request may demand one key
    several times (a status request asking one message twice): each occurrence is a slot.
    """

    # A NamedTuple rather than an attrs class: several are built per request on the hot path.
    key: str
    limit: int
    window: float


class Reservation(NamedTuple):
    """The slots one admitted request holds: hand it back to ``release`` exactly once."""

    # A NamedTuple: the memory backend builds one per request with tuple.__new__ (no __init__).
    #: The demands this reservation satisfied, in the order they were asked for.
    demands: Sequence[Demand]
    #: The backend's own record of the entries (opaque to everyone else).
    handle: object

    def __repr__(self) -> str:
        return f"Reservation({[d.key for d in self.demands]!r})"


_new_reservation = tuple.__new__


class LimiterBackend(Protocol):
    """Storage and atomic decisions for the limiter's logs.

    Every method decides *atomically* over all the demands it is given, reading its own clock
    (the memory backend: the session's clock; a Redis backend: the server's ``TIME``), so that
    several processes sharing one backend share one view of time.

    A key demanded ``n`` times in one call needs ``n`` slots of that log. ``ahead[i]`` (when
    given) is how many slots of ``demands[i]``'s log earlier waiters of this process have
    claimed (the same number for each occurrence of a repeated key): the request is admissible
    there only if its own slots remain after each of them has taken one. That keeps waiters
    first-in, first-out without holding real slots while they wait.

    A returned wait of ``inf`` means "until a slot in flight is released": the limiter then wakes
    on its own releases. A backend shared between processes cannot see the other processes'
    releases that way, so it should return a finite bound instead (e.g. the earliest expiry of an
    in-flight lease).
    """

    async def acquire(
        self, demands: Sequence[Demand], ahead: Sequence[int] | None = None
    ) -> Reservation | float:
        """Take one in-flight slot per demand, or none and say how long to wait.

        Returns a :class:`Reservation` or the seconds (``> 0``, maybe ``inf``) until every demand
        would be admissible, given what is known now.
        """
        ...

    async def wait_time(
        self, demands: Sequence[Demand], ahead: Sequence[int] | None = None
    ) -> float:
        """Like ``acquire`` but take nothing: ``0.0`` if admissible now, else seconds to wait."""
        ...

    async def release(self, reservation: Reservation, *, sent: bool, hold: float = 0.0) -> None:
        """Give back a reservation's slots.

        ``sent=True``: the request's answer arrived now, so each entry counts until now plus its
        window. ``sent=False``: the request never left, so its entries are dropped. ``hold > 0``
        (the request was cancelled or timed out and the gateway may still be working on it):
        the concurrency places (``window == 0``) stay taken for ``hold`` more seconds, and the
        rate entries count from now, as with ``sent=True``.
        """
        ...


class _StoredLog(SlidingLog):
    """A log as the memory backend keeps it: with its key and its place in the idle sweep."""

    __slots__ = ("dropped", "idle", "key", "queued", "room")

    def __init__(self, demand: Demand, idle: deque[tuple[float, _StoredLog]]) -> None:
        super().__init__(demand.limit, demand.window)
        self.key = demand.key
        # The sweep queue of the log's window length; ``queued``: the log is in it.
        self.idle = idle
        self.queued = False
        # No longer the backend's log of its key (it held nothing and was let go): a binding
        # that still names it must look its key up again.
        self.dropped = False
        # The limit while the log is live, 0 once dropped: the fast path's one check by count
        # then fails for a binding that still names it, without a check of its own.
        self.room = demand.limit


class _Binding:
    """A demands tuple bound to its logs: the memory backend's prepared handle on them.

    The limiter keeps one per plan and runs the un-throttled path through it: :meth:`take`
    decides by count alone and :meth:`answered` records the answer, each one call. It is also
    the :attr:`Reservation.handle` of every memory reservation, and one reservation serves
    every request that makes those demands (a reservation only names its logs). Valid while
    none of its logs is dropped (:attr:`_StoredLog.dropped`); this general form takes each
    log in turn, :class:`_Repeats` and :class:`_Pair` are its shapes with a key demanded
    twice and with one rate log and one cap.
    """

    __slots__ = ("backend", "clock", "logs", "reservation")

    def __init__(
        self, backend: MemoryBackend, demands: Sequence[Demand], logs: tuple[_StoredLog, ...]
    ) -> None:
        self.backend = backend
        self.clock = backend._clock
        self.logs = logs
        self.reservation: Reservation = _new_reservation(Reservation, (demands, self))

    def take(self) -> Reservation | None:
        """The reservation, if every log has room by its count alone; else ``None``, nothing taken.

        No clock read, nothing pruned: ``None`` means "look closer" (the log may hold only
        aged-out entries, or was dropped), not "refused".
        """
        logs = self.logs
        for log in logs:
            if log.inflight + len(log.expiries) >= log.room:
                for earlier in logs:  # each log appears once (see _Repeats)
                    if earlier is log:
                        break
                    earlier.inflight -= 1
                return None
            log.inflight += 1
        return self.reservation

    def answered(self) -> None:
        """The request's answer arrived now: each entry counts for its window from now on."""
        now = self.clock.now()
        for log in self.logs:
            window = log.window
            if not window:
                log.inflight -= 1  # SlidingLog.complete of a cap without a hold, inlined
                continue
            expiry = now + window
            expiries = log.expiries
            if expiries and expiry < expiries[-1]:
                # A clock that went backwards (or a held entry ahead): keep the order.
                log.complete(now)
                expiry = expiries[-1]
            else:
                # SlidingLog.complete's in-order case, inlined.
                log.inflight -= 1
                expiries.append(expiry)
            if not log.inflight:
                self.backend._idle_from(log, expiry, now)

    def stale(self) -> bool:
        """A log of the binding was dropped: the demands must be bound again."""
        return any(log.dropped for log in self.logs)


class _Repeats(_Binding):
    """A binding that names one log more than once: each occurrence is one slot."""

    __slots__ = ()

    def take(self) -> Reservation | None:
        """See :meth:`_Binding.take`; a repeated key meets its own earlier entry here."""
        logs = self.logs
        for i, log in enumerate(logs):
            if log.inflight + len(log.expiries) >= log.room:
                for earlier in logs[:i]:
                    earlier.inflight -= 1
                return None
            log.inflight += 1
        return self.reservation


class _Pair(_Binding):
    """A binding of one rate log and then one concurrency cap: most requests' shape.

    :meth:`_Binding.take` and :meth:`_Binding.answered` unrolled for two logs, the loop being
    a fair share of the un-throttled path's cost; ``tests/test_limiter_core.py`` pins every
    decision and every state to the general form.
    """

    __slots__ = ("cap", "rate")

    def __init__(
        self, backend: MemoryBackend, demands: Sequence[Demand], logs: tuple[_StoredLog, ...]
    ) -> None:
        super().__init__(backend, demands, logs)
        self.rate, self.cap = logs

    def take(self) -> Reservation | None:
        """See :meth:`_Binding.take`."""
        rate, cap = self.rate, self.cap
        if (
            rate.inflight + len(rate.expiries) >= rate.room
            or cap.inflight + len(cap.expiries) >= cap.room
        ):
            return None
        rate.inflight += 1
        cap.inflight += 1
        return self.reservation

    def answered(self) -> None:
        """See :meth:`_Binding.answered`."""
        now = self.clock.now()
        self.cap.inflight -= 1
        rate = self.rate
        expiry = now + rate.window
        expiries = rate.expiries
        if expiries and expiry < expiries[-1]:
            rate.complete(now)
            expiry = expiries[-1]
        else:
            rate.inflight -= 1
            expiries.append(expiry)
        if rate.inflight:
            return
        idle = rate.idle  # MemoryBackend._idle_from, inlined
        if not rate.queued:
            rate.queued = True
            idle.append((expiry, rate))
        if idle[0][0] <= now:
            self.backend._sweep(idle, now)


_BOUND_CACHE_SIZE = 1024


class _ReadOnlyClock:
    """A :class:`~smsc_async.Clock` around a bare time function: the backend only reads it."""

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now

    async def sleep(self, seconds: float) -> None:
        raise TypeError("a MemoryBackend's bare time function cannot sleep; pass a Clock")

    def jitter(self, high: float) -> float:
        return 0.0


class MemoryBackend:
    """The limiter's logs in this process's memory: exact, and decided without any ``await``.

    Every decision is :class:`SlidingLog`'s. The synchronous ``try_acquire``/``wait_time_now``/
    ``release_now`` are the fast path the :class:`~smsc_async.Limiter` uses, and ``bind``
    prepares a request's demands for its un-throttled path (one call to take the slots, one to
    record the answer); the async methods implement :class:`LimiterBackend`. ``clock`` is a
    :class:`~smsc_async.Clock` (default: the running loop's; the limiter passes the session's)
    or a bare function returning monotonic seconds. Logs that hold nothing any more are dropped
    a few at a time as requests complete, so memory follows the number of keys used within one
    window, not the number ever used (the logs of concurrency caps, ``window == 0``, are few and
    kept)::

        backend = MemoryBackend()
        limiter = Limiter(RateLimits(), backend=backend)  # the default when no backend is given
    """

    def __init__(self, *, clock: Clock | Callable[[], float] | None = None) -> None:
        if clock is None:
            clock = SystemClock()
        elif not isinstance(clock, Clock):
            clock = _ReadOnlyClock(clock)  # a bare monotonic function, as the first release took
        self._clock: Clock = clock
        self._logs: dict[str, _StoredLog] = {}
        # Per window length: (time, log) for logs that may hold nothing from that time on, each
        # log at most once. For one window length those times grow (completion + window), so
        # the front is the next candidate; a log found still in use is put back at the end.
        self._idle: dict[float, deque[tuple[float, _StoredLog]]] = {}
        # The same requests come back (a balance, a limiter's cached plan): per demands tuple,
        # its binding to its logs.
        self._bound: dict[tuple[Demand, ...], _Binding] = {}

    @property
    def clock(self) -> Clock:
        """The clock the decisions read."""
        return self._clock

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
        log = self._logs[demand.key] = _StoredLog(demand, idle)
        return log

    def try_acquire(
        self, demands: Sequence[Demand], ahead: Sequence[int] | None = None
    ) -> Reservation | float:
        """Synchronous :meth:`acquire`."""
        if ahead is not None and any(ahead):
            wait = self.wait_time_now(demands, ahead)
            if wait > 0:
                return wait
        try:
            bound: _Binding | None = self._bound.get(demands)  # type: ignore[call-overload]
        except TypeError:  # demands in a list: not hashable, no shortcut
            return self._take(demands)
        if bound is None:
            bound = self.bind(demands)  # type: ignore[arg-type]
        got = bound.take()
        if got is not None:
            return got
        if bound.stale():
            del self._bound[demands]  # type: ignore[arg-type]
        return self._take(demands)  # maybe only aged-out entries fill a log: look closer

    def bind(self, demands: tuple[Demand, ...]) -> _Binding:
        """The live binding of ``demands`` to their logs (the fast path's handle on them).

        The limiter keeps one per plan and calls its ``take()`` before :meth:`try_acquire`;
        when that says "look closer" it asks here again, which gives a fresh binding once a log
        of the old one has been dropped.
        """
        cache = self._bound
        found: _Binding | None = cache.get(demands)
        if found is not None and not found.stale():
            return found
        if len(cache) >= _BOUND_CACHE_SIZE:
            cache.clear()
        logs = self._logs
        bound = []
        for demand in demands:
            log = logs.get(demand.key)
            bound.append(log if log is not None else self._new_log(demand))
        found = cache[demands] = self._binding_for(demands, tuple(bound))
        return found

    def _binding_for(self, demands: Sequence[Demand], logs: tuple[_StoredLog, ...]) -> _Binding:
        """The binding of ``demands`` to ``logs``, in the shape that fits them."""
        if len({id(log) for log in logs}) < len(logs):
            return _Repeats(self, demands, logs)
        if len(logs) == 2 and logs[0].window and not logs[1].window:
            return _Pair(self, demands, logs)
        return _Binding(self, demands, logs)

    def _take(self, demands: Sequence[Demand]) -> Reservation | float:
        """:meth:`try_acquire` without the shortcut: prune full-looking logs, undo on refusal."""
        logs = self._logs
        taken: list[_StoredLog] = []
        for demand in demands:
            log = logs.get(demand[0])
            if log is None:
                log = self._new_log(demand)
            if not log.take(self._clock.now):
                self._undo(taken, demands)
                return self.wait_time_now(demands)
            taken.append(log)
        return self._binding_for(demands, tuple(taken)).reservation

    def _undo(self, taken: list[_StoredLog], demands: Sequence[Demand]) -> None:
        for log in taken:
            log.cancel()
        logs = self._logs
        for demand in demands:
            found = logs.get(demand.key)
            # A log created for this attempt (or bound and never used) and left empty: drop it
            # (the sweep never saw it).
            if found is None or not found.window or found.queued:
                continue
            if not found.inflight and not found.expiries:
                self._drop(found)

    def _drop(self, log: _StoredLog) -> None:
        del self._logs[log.key]
        log.dropped = True
        log.room = 0

    def wait_time_now(self, demands: Sequence[Demand], ahead: Sequence[int] | None = None) -> float:
        """Synchronous :meth:`wait_time`."""
        now = self._clock.now()
        ready = now
        own: dict[str, int] = {}
        for i, demand in enumerate(demands):
            key = demand.key
            # This request's own earlier slots of the same log count as claims ahead of it.
            mine = own.get(key, 0)
            own[key] = mine + 1
            claims = mine + (ahead[i] if ahead is not None else 0)
            log = self._logs.get(key)
            if log is not None:
                at = log.ready_at(now, claims)
                if at > ready:
                    ready = at
            elif claims >= demand.limit:
                ready = _INF
        return ready - now if ready > now else 0.0

    def earliest_wait_now(self, demands: Sequence[Demand], ahead: Sequence[int]) -> float:
        """How long the request will wait at least: a lower bound of :meth:`wait_time_now`.

        Finite for rate rules even while answers decide (see :meth:`SlidingLog.earliest`).
        """
        now = self._clock.now()
        ready = now
        own: dict[str, int] = {}
        for i, demand in enumerate(demands):
            key = demand.key
            mine = own.get(key, 0)
            own[key] = mine + 1
            log = self._logs.get(key)
            if log is not None:
                ready = max(ready, log.earliest(now, mine + ahead[i]))
        return ready - now if ready > now else 0.0

    def release_now(self, reservation: Reservation, *, sent: bool, hold: float = 0.0) -> None:
        """Synchronous :meth:`release`."""
        binding: _Binding = reservation.handle  # type: ignore[assignment]
        if hold <= 0:
            if sent:
                binding.answered()
            else:
                for log in binding.logs:
                    log.cancel()
            return
        now = self._clock.now()
        for log in binding.logs:
            # A cap keeps the place for ``hold``; a rate log counts the entry for its window
            # from now, as if answered.
            log.complete(now, hold)
            if log.window:
                self._idle_from(log, log.expiries[-1], now)

    def _idle_from(self, log: _StoredLog, expiry: float, now: float) -> None:
        """``log`` holds nothing in flight: it may hold nothing at all from ``expiry`` on."""
        if log.inflight:
            return
        idle = log.idle
        if not log.queued:
            log.queued = True
            idle.append((expiry, log))
        if idle[0][0] <= now:
            self._sweep(idle, now)

    def _sweep(self, idle: deque[tuple[float, _StoredLog]], now: float) -> None:
        # Look at two candidates per log that goes idle: more than are added, so the backlog of
        # dead logs only shrinks, and no call pays for a mass expiry.
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
                    self._drop(candidate)
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

    async def release(self, reservation: Reservation, *, sent: bool, hold: float = 0.0) -> None:
        """See :meth:`LimiterBackend.release`."""
        self.release_now(reservation, sent=sent, hold=hold)
