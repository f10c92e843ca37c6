"""The async limiter: every request waits here until the gateway's rate rules allow it.

The decisions are made by a :class:`~smsc_async._backend.LimiterBackend` (exact sliding-window
logs); this module only turns a request into its demands, waits, and records::

    limiter = Limiter(RateLimits())
    async with limiter.slot("/sys/balance.php", params) as lease:
        response = await client.post(...)
    # the answer arrived: the request counts against its rules from now on

Waiting is first-in, first-out per log: an earlier waiter *claims* a slot in every log it needs,
and a later request goes first only if a slot is left after each earlier claim. So requests on
other keys are not held up by a waiter they do not compete with, and no waiter is overtaken.
Concurrency caps are claimed only once a waiter's rate rules would admit it, so a request that
waits a minute for its rule does not hold back traffic that could go now.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType

import anyio
import httpx

from smsc_async._backend import Demand, LimiterBackend, MemoryBackend, Reservation
from smsc_async._errors import ConnectError, DuplicateSendError
from smsc_async._limits import RateLimits, charges_for, concurrency_group

__all__ = ["Lease", "Limiter"]

_INF = math.inf
# Log keys are "<rule>:<key>"; rule names never contain these, so caps cannot collide with them.
_CONCURRENCY_KEY = "*concurrency"
_STATUS_CONCURRENCY_KEY = "*status"
_SEND_RULE = "send_identical"
_DEMAND_CACHE_SIZE = 1024

# Errors raised inside a slot (or chained as their cause) that prove the request never reached
# the gateway: no connection, or no pooled connection, was ever had. (A RefusedError inside the
# block would come from something else -- the session refuses before it takes a slot.)
_NEVER_LEFT: tuple[type[BaseException], ...] = (
    ConnectError,
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)


def _never_left(exc: BaseException | None) -> bool:
    return isinstance(exc, _NEVER_LEFT) or isinstance(getattr(exc, "__cause__", None), _NEVER_LEFT)


class _Waiter:
    """A request waiting for its slots."""

    __slots__ = ("forever", "on_caps", "scope", "tickets")

    def __init__(self, size: int) -> None:
        # Per demand: the waiter's ticket in that log's queue, or -1 when not queued there.
        self.tickets = [-1] * size
        self.scope: anyio.CancelScope | None = None
        # Sleeping until a release (rather than until a known time).
        self.forever = False
        # Its rate rules admit it and only a concurrency cap holds it: an answer that merely
        # ages a rate log cannot help it, so such releases leave it asleep (no thundering herd).
        self.on_caps = False

    def wake(self) -> None:
        scope = self.scope
        if scope is not None:
            self.scope = None
            scope.cancel()


class _Queue:
    """The waiters claiming one log, first come first."""

    __slots__ = ("next_ticket", "tickets", "waiters")

    def __init__(self) -> None:
        self.next_ticket = 0
        self.tickets: list[int] = []
        self.waiters: list[_Waiter] = []

    def push(self, waiter: _Waiter) -> int:
        ticket = self.next_ticket
        self.next_ticket = ticket + 1
        self.tickets.append(ticket)
        self.waiters.append(waiter)
        return ticket

    def rank(self, ticket: int) -> int:
        return bisect_left(self.tickets, ticket)

    def remove(self, ticket: int) -> int:
        index = bisect_left(self.tickets, ticket)
        del self.tickets[index]
        del self.waiters[index]
        return index


class Lease:
    """One request's place in the rate rules; use it as ``async with limiter.slot(...) as lease``.

    Entering waits until the request is admissible and takes its slots. Leaving records the
    answer's arrival (the request counts against its rules for one window from then on), unless
    the request never left: after :meth:`unsent` or :meth:`refused`, or when the block raised an
    error that proves it (no connection could be had), the slots are freed as if never taken.
    Anything else -- an error, a timeout or a cancellation once the block has started -- counts
    as sent, because the gateway may have seen the request.
    """

    __slots__ = ("_limiter", "_params", "_path", "_reservation", "_sent")

    def __init__(self, limiter: Limiter, path: str, params: Mapping[str, str]) -> None:
        self._limiter = limiter
        self._path = path
        self._params = params
        self._reservation: Reservation | None = None
        self._sent: bool | None = None

    def sent(self) -> None:
        """Mark that the request left: it counts on exit even if the block then fails."""
        self._sent = True

    def unsent(self) -> None:
        """Mark that the request never left: its slots are freed on exit, not counted."""
        self._sent = False

    def refused(self) -> None:
        """Mark that the gateway refused the request without acting on it (error 9).

        Its slots are freed on exit as after :meth:`unsent`, so that the refusal does not hold
        an identical-request window against the retry.
        """
        self._sent = False

    async def __aenter__(self) -> Lease:
        if self._reservation is not None:
            raise RuntimeError("a Lease can be entered only once")
        self._reservation = await self._limiter._acquire(self._path, self._params)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        reservation = self._reservation
        if reservation is None:
            return
        self._reservation = None
        sent = self._sent
        if sent is None:
            sent = exc is None or not _never_left(exc)
        await self._limiter._release(reservation, sent)


class Limiter:
    """Keeps one login's requests inside the gateway's rate rules, exactly and fairly.

    ``limits`` are the rules (``RateLimits().scaled(0.01)`` in tests); ``backend`` keeps the logs
    (default: a :class:`~smsc_async.MemoryBackend` for this process); ``clock`` is the monotonic
    clock of the default backend and ``sleep`` the way to wait (defaults: anyio's; both must agree
    on what a second is). The session calls :meth:`slot` around every request::

        limiter = Limiter(RateLimits())
        async with limiter.slot("/sys/status.php", {"id": "7", "phone": "79990000000"}):
            ...  # POST and read the answer

    An identical send inside its window is never queued: :meth:`slot` raises
    :class:`~smsc_async.DuplicateSendError` at once.
    """

    def __init__(
        self,
        limits: RateLimits,
        *,
        backend: LimiterBackend | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self._limits = limits
        self._backend: LimiterBackend = (
            backend if backend is not None else MemoryBackend(clock=clock)
        )
        # The memory backend is decided synchronously: no coroutine on the fast path.
        self._memory = self._backend if isinstance(self._backend, MemoryBackend) else None
        self._sleep: Callable[[float], Awaitable[None]] = sleep or anyio.sleep
        self._rules = {
            name: (name + ":", rule.limit, rule.window) for name, rule in limits.rules().items()
        }
        self._send_prefix = self._rules[_SEND_RULE][0]
        every = Demand(_CONCURRENCY_KEY, limits.concurrency, 0.0)
        self._caps = (every,)
        # Narrowest first: the order in which a waiter claims its caps.
        self._caps_status = (
            Demand(_STATUS_CONCURRENCY_KEY, limits.status_concurrency, 0.0),
            every,
        )
        # The same keys come back (balance, a message's status...): reuse their demands.
        self._demand_cache: dict[str, Demand] = {}
        self._queues: dict[str, _Queue] = {}

    @property
    def limits(self) -> RateLimits:
        """The rules this limiter keeps."""
        return self._limits

    @property
    def backend(self) -> LimiterBackend:
        """Where the logs are kept."""
        return self._backend

    def slot(self, path: str, params: Mapping[str, str]) -> Lease:
        """A place for one request to ``path`` with ``params``; enter it to wait until admissible.

        Raises :class:`~smsc_async.DuplicateSendError` on entry for an identical send still inside
        its window.
        """
        return Lease(self, path, params)

    def waiting(self) -> int:
        """How many requests are waiting for a slot (in at least one queue)."""
        seen: set[int] = set()
        for queue in self._queues.values():
            seen.update(id(w) for w in queue.waiters)
        return len(seen)

    # -- acquiring -------------------------------------------------------------------------

    def _demands(self, path: str, params: Mapping[str, str]) -> tuple[tuple[Demand, ...], int, int]:
        """The request's demands (its rate logs, then its caps), how many are logs, the send's."""
        cache = self._demand_cache
        rules = self._rules
        send = -1
        charges = charges_for(path, params)
        caps = self._caps_status if concurrency_group(path) == "status" else self._caps
        if not charges:
            return caps, 0, -1
        logs: list[Demand] = []
        for charge in charges:
            prefix, limit, window = rules[charge.rule]
            key = prefix + charge.key
            demand = cache.get(key)
            if demand is None:
                if len(cache) >= _DEMAND_CACHE_SIZE:
                    cache.clear()
                demand = cache[key] = Demand(key, limit, window)
            if prefix is self._send_prefix:
                send = len(logs)
            logs.append(demand)
        return (*logs, *caps), len(logs), send

    async def _acquire(self, path: str, params: Mapping[str, str]) -> Reservation:
        demands, n_logs, send = self._demands(path, params)
        memory = self._memory
        if memory is not None:
            queues = self._queues
            if not queues or not any(demand.key in queues for demand in demands):
                got = memory.try_acquire(demands)
                if type(got) is Reservation:
                    return got
        return await self._wait(demands, n_logs, send)

    def _ahead(self, demands: Sequence[Demand], waiter: _Waiter) -> list[int]:
        queues = self._queues
        ahead = []
        for demand, ticket in zip(demands, waiter.tickets, strict=True):
            queue = queues.get(demand.key)
            if queue is None:
                ahead.append(0)
            elif ticket < 0:
                ahead.append(len(queue.tickets))
            else:
                ahead.append(queue.rank(ticket))
        return ahead

    def _enqueue(self, demands: Sequence[Demand], waiter: _Waiter, start: int, stop: int) -> None:
        for i in range(start, stop):
            key = demands[i].key
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = _Queue()
            waiter.tickets[i] = queue.push(waiter)

    async def _duplicate(self, demands: Sequence[Demand], send: int, ahead: Sequence[int]) -> None:
        demand = demands[send]
        wait = await self._backend.wait_time((demand,), (ahead[send],))
        if wait > 0:
            # An earlier identical send still in flight: it counts for a window from its answer.
            retry_after = wait if wait < _INF else demand.window
            raise DuplicateSendError(
                "an identical send went out less than its window ago; "
                f"retry after {retry_after:.3g} s or change the message",
                retry_after=retry_after,
            )

    async def _wait(self, demands: tuple[Demand, ...], n_logs: int, send: int) -> Reservation:
        backend = self._backend
        waiter = _Waiter(len(demands))
        if send >= 0 and self._memory is not None:
            # In memory this check is free; a shared backend learns the same from its first
            # acquire below (checked right after it), saving a round trip per send.
            await self._duplicate(demands, send, self._ahead(demands, waiter))
        # Rate logs are claimed from the start. A cap is claimed only once everything before it
        # would admit us (caps go narrowest first), so that waiting for a rule or for the
        # status cap does not hold places of the global cap that others could use now.
        self._enqueue(demands, waiter, 0, n_logs)
        claimed = n_logs
        admitted = False
        try:
            while True:
                ahead = self._ahead(demands, waiter)
                got = await backend.acquire(demands, ahead)
                if isinstance(got, Reservation):
                    admitted = True
                    return got
                wait = got
                if send >= 0:
                    await self._duplicate(demands, send, ahead)
                if claimed < len(demands) and wait == _INF:
                    wait = 0.0
                    if claimed:
                        wait = await backend.wait_time(demands[:claimed], ahead[:claimed])
                    if wait <= 0:
                        self._enqueue(demands, waiter, claimed, claimed + 1)
                        claimed += 1
                        continue
                waiter.forever = wait == _INF
                waiter.on_caps = claimed > n_logs
                with anyio.CancelScope() as scope:
                    waiter.scope = scope
                    await self._sleep(wait)
                waiter.scope = None
        finally:
            waiter.scope = None
            self._leave(demands, waiter, wake=not admitted)

    def _leave(self, demands: Sequence[Demand], waiter: _Waiter, *, wake: bool) -> None:
        queues = self._queues
        for demand, ticket in zip(demands, waiter.tickets, strict=True):
            if ticket < 0:
                continue
            queue = queues[demand.key]
            queue.remove(ticket)
            if not queue.tickets:
                del queues[demand.key]
            elif wake:
                # Everyone behind moved up one place: their waits may be shorter now.
                self._wake(demand, queue, everyone=True)

    def _wake(self, demand: Demand, queue: _Queue, *, everyone: bool) -> None:
        # Only the first ``limit - in flight`` waiters can have a slot without another release.
        reach = demand.limit
        if self._memory is not None:
            reach -= self._memory.inflight(demand.key)
        is_cap = demand.window == 0.0
        for waiter in queue.waiters[: max(reach, 0)]:
            if everyone or (waiter.forever and (is_cap or not waiter.on_caps)):
                waiter.wake()

    # -- releasing -------------------------------------------------------------------------

    async def _release(self, reservation: Reservation, sent: bool) -> None:
        memory = self._memory
        if memory is not None:
            memory.release_now(reservation, sent=sent)
        else:
            # The slots must go back even when the task is being cancelled.
            with anyio.CancelScope(shield=True):
                await self._backend.release(reservation, sent=sent)
        queues = self._queues
        if queues:
            for demand in reservation.demands:
                queue = queues.get(demand.key)
                if queue is not None:
                    # An answer only turns an "until released" wait into a known one; a request
                    # that never left frees its slot, which shortens every wait.
                    self._wake(demand, queue, everyone=not sent)
