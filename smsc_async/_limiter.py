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

Concurrency places follow the gateway, not the caller: a request cancelled or timed out after it
may have left keeps its places until its deadline (the gateway may still be working on it); a
request that certainly never left frees them at once.
"""

from __future__ import annotations

import inspect
import logging
import math
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from types import TracebackType

import anyio
import httpx

from ._backend import Demand, LimiterBackend, MemoryBackend, Reservation, _Binding
from ._clock import Clock, SystemClock
from ._errors import (
    APIError,
    ConnectError,
    DuplicateSendError,
    ProtocolError,
    RateLimitedError,
)
from ._events import EventHook, LimiterWait
from ._limits import Charge, RateLimits, charges_for, concurrency_group, fixed_charges

__all__ = ["Lease", "Limiter"]

logger = logging.getLogger("smsc_async")

_INF = math.inf
# Log keys are "<rule>:<key>"; rule names never contain these, so caps cannot collide with them.
_CONCURRENCY_KEY = "*concurrency"
_STATUS_CONCURRENCY_KEY = "*status"
_CAP_RULES = {_CONCURRENCY_KEY: "concurrency", _STATUS_CONCURRENCY_KEY: "status_concurrency"}
_SEND_RULE = "send_identical"
_PLAN_CACHE_SIZE = 1024
# Waits at least this long are logged at INFO (once per request).
_LOG_WAITS_FROM = 3.0

# Errors raised inside a slot (or chained as their cause) that prove the request never reached
# the gateway: no connection, or no pooled connection, was ever had. (A RefusedError inside the
# block would come from something else -- the session refuses before it takes a slot.)
_NEVER_LEFT: tuple[type[BaseException], ...] = (
    ConnectError,
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
# Errors that prove the gateway answered (an error code, or a body we could not read): it is
# done with the request, so its places need not be held.
_ANSWERED: tuple[type[BaseException], ...] = (APIError, ProtocolError)


def _takes_hold(backend: LimiterBackend) -> bool:
    try:
        return "hold" in inspect.signature(backend.release).parameters
    except (TypeError, ValueError):
        return False


def _never_left(exc: BaseException | None) -> bool:
    return isinstance(exc, _NEVER_LEFT) or isinstance(getattr(exc, "__cause__", None), _NEVER_LEFT)


class _Plan:
    """What one kind of request demands: its rate logs then its caps (narrowest first)."""

    __slots__ = ("binding", "demands", "logs", "repeats", "send")

    def __init__(self, demands: tuple[Demand, ...], logs: int, send: int, repeats: bool) -> None:
        self.demands = demands
        self.logs = logs  # how many of the demands are rate logs
        self.send = send  # the index of the identical-send log, or -1
        self.repeats = repeats  # some key is demanded more than once
        # In memory: the demands bound to their logs (set on first use, renewed when stale).
        self.binding: _Binding | None = None


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


_new_lease = object.__new__


class Lease:
    """One request's place in the rate rules; use it as ``async with limiter.slot(...) as lease``.

    Entering waits until the request is admissible and takes its slots. Leaving records the
    answer's arrival (the request counts against its rules for one window from then on), unless
    the request never left: after :meth:`unsent` or :meth:`refused`, or when the block raised an
    error that proves it (no connection could be had), the slots are freed as if never taken.
    Anything else -- an error, a timeout or a cancellation once the block has started -- counts
    as sent, because the gateway may have seen the request; unless the error proves that the
    gateway answered (:class:`~smsc_async.APIError`, :class:`~smsc_async.ProtocolError`), the
    request's concurrency places stay taken until its deadline.
    """

    __slots__ = (
        "_deadline",
        "_limiter",
        "_max_wait",
        "_name",
        "_params",
        "_path",
        "_reservation",
        "_sent",
    )

    def __init__(
        self,
        limiter: Limiter,
        path: str,
        params: Mapping[str, str],
        deadline: float | None,
        max_wait: float | None,
        name: str | None,
    ) -> None:
        self._limiter = limiter
        self._path = path
        self._params = params
        self._deadline = deadline
        self._max_wait = max_wait
        self._name = name
        self._reservation: Reservation | None = None
        self._sent: bool | None = None

    def sent(self) -> None:
        """Mark that the request's answer arrived: it counts on exit even if the block fails."""
        self._sent = True

    def unsent(self) -> None:
        """Mark that the request never left: its slots are freed on exit, not counted."""
        self._sent = False

    def refused(self) -> None:
        """Mark that the gateway refused the request without acting on it (error 9).

        Its slots are freed on exit as after :meth:`unsent`, so that the refusal does not hold
        an identical-send window against the retry.
        """
        self._sent = False

    async def __aenter__(self) -> Lease:
        if self._reservation is not None:
            raise RuntimeError("a Lease can be entered only once")
        limiter = self._limiter
        # A path whose charges ignore the parameters (a balance, a ping): one look-up.
        plan = limiter._by_path.get(self._path)
        if plan is None:
            plan = limiter._plan(self._path, self._params)
        got: Reservation | None = None
        queues = limiter._queues
        # Nothing waits for these logs: in memory, decided on the spot, no await.
        free = not queues or not any(d.key in queues for d in plan.demands)
        binding = plan.binding  # set only in memory
        if binding is not None and free:
            got = binding.take()  # room by count alone: the whole decision
        if got is None:
            got = await self._admit(plan, free)
        self._reservation = got
        timeout = limiter._request_timeout
        if timeout is not None and self._deadline is None:
            self._deadline = limiter._clock.now() + timeout
        return self

    async def _admit(self, plan: _Plan, free: bool) -> Reservation:
        """Everything but the fast path: a closer look in memory, a shared backend, waiting.

        ``free``: nothing waits for the plan's logs.
        """
        limiter = self._limiter
        memory = limiter._memory
        if memory is not None and free:
            demands = plan.demands
            plan.binding = memory.bind(demands)  # the first, or one renewed
            got = memory.try_acquire(demands)
            if type(got) is Reservation:
                return got
        return await limiter._wait(plan, self._max_wait, self._name or self._path)

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
        limiter = self._limiter
        memory = limiter._memory
        if exc is None and memory is not None:
            # The answer arrived (or the block said it never left): the hot path.
            answered = self._sent is not False
            if answered:
                reservation.handle.answered()  # type: ignore[attr-defined]
            else:
                memory.release_now(reservation, sent=False)
            if limiter._queues:
                limiter._wake_after(reservation, answered)
            return
        sent = self._sent
        hold = 0.0
        if sent is None:
            if exc is None:
                sent = True
            elif _never_left(exc):
                sent = False
            else:
                sent = True
                deadline = self._deadline
                if deadline is not None and not isinstance(exc, _ANSWERED):
                    # Cancelled, timed out or cut off: the gateway may still be at work on it.
                    hold = deadline - limiter._clock.now()
        if memory is not None:
            if hold > 0:
                memory.release_now(reservation, sent=True, hold=hold)
            else:
                memory.release_now(reservation, sent=sent)
            if limiter._queues:
                limiter._wake_after(reservation, sent)
        else:
            await limiter._release(reservation, sent, hold)


class Limiter:
    """Keeps one login's requests inside the gateway's rate rules, exactly and fairly.

    ``limits`` are the rules (``RateLimits().scaled(0.01)`` in tests); ``backend`` keeps the logs
    (default: a :class:`~smsc_async.MemoryBackend` on ``clock``); ``clock`` is the
    :class:`~smsc_async.Clock` the limiter sleeps on and measures deadlines with (default: the
    running loop's; the session passes its own). ``on_event`` receives a
    :class:`~smsc_async.LimiterWait` each time a request is about to wait. ``request_timeout``
    bounds how long an admitted request can be in flight: a request cancelled or timed out
    inside its slot keeps its concurrency places until that long after its admission (unless
    :meth:`slot` got an explicit ``deadline``). The session calls :meth:`slot` around every
    request::

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
        clock: Clock | None = None,
        on_event: EventHook | None = None,
        request_timeout: float | None = None,
    ) -> None:
        if request_timeout is not None and not request_timeout > 0:
            raise ValueError(f"request_timeout must be > 0 or None, got {request_timeout!r}")
        self._limits = limits
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._backend: LimiterBackend = (
            backend if backend is not None else MemoryBackend(clock=self._clock)
        )
        # The memory backend is decided synchronously: no coroutine on the fast path.
        self._memory = self._backend if isinstance(self._backend, MemoryBackend) else None
        # A backend written before release() took ``hold`` frees held places at once instead.
        self._holds = self._memory is not None or _takes_hold(self._backend)
        self._on_event = on_event
        self._request_timeout = request_timeout
        self._rules = {
            name: (name + ":", rule.limit, rule.window) for name, rule in limits.rules().items()
        }
        every = Demand(_CONCURRENCY_KEY, limits.concurrency, 0.0)
        self._caps = (every,)
        # Narrowest first: the order in which a waiter claims its caps.
        self._caps_status = (
            Demand(_STATUS_CONCURRENCY_KEY, limits.status_concurrency, 0.0),
            every,
        )
        # Per request (path and parameters): what it demands.
        self._plans: dict[tuple[object, ...], _Plan] = {}
        # Per path whose requests all demand the same, whatever their parameters: that plan.
        self._by_path: dict[str, _Plan] = {}
        # Paths whose demands depend on the parameters (no use looking them up above).
        self._varying: set[str] = set()
        self._queues: dict[str, _Queue] = {}

    @property
    def limits(self) -> RateLimits:
        """The rules this limiter keeps."""
        return self._limits

    @property
    def backend(self) -> LimiterBackend:
        """Where the logs are kept."""
        return self._backend

    @property
    def clock(self) -> Clock:
        """The clock the limiter waits on."""
        return self._clock

    def slot(
        self,
        path: str,
        params: Mapping[str, str],
        *,
        deadline: float | None = None,
        max_wait: float | None = None,
        name: str | None = None,
    ) -> Lease:
        """A place for one request to ``path`` with ``params``; enter it to wait until admissible.

        ``deadline`` (a time on the limiter's clock) is when the gateway can no longer be working
        on the request: if the block ends in a cancellation or a timeout, the request's
        concurrency places stay taken until then (default: ``request_timeout`` after admission).
        ``max_wait`` bounds the wait: a request the limiter would hold longer raises
        :class:`~smsc_async.RateLimitedError` at once (``retry_after``, ``rule``), taking
        nothing; while the wait depends on answers still in flight it waits for them at most
        ``max_wait`` seconds. ``name`` (the endpoint's) labels events and logs.

        Raises :class:`~smsc_async.DuplicateSendError` on entry for an identical send still inside
        its window, and ``ValueError`` for a request that needs more slots of one rule than the
        rule allows (it could never be admitted).
        """
        # Lease.__init__'s work without its call: a class call runs __init__ through
        # type.__call__, a third of the set-up's cost (tests pin the two to the same Lease).
        lease = _new_lease(Lease)
        lease._limiter = self
        lease._path = path
        lease._params = params
        lease._deadline = deadline
        lease._max_wait = max_wait
        lease._name = name
        lease._reservation = None
        lease._sent = None
        return lease

    def waiting(self) -> int:
        """How many requests are waiting for a slot (in at least one queue)."""
        seen: set[int] = set()
        for queue in self._queues.values():
            seen.update(id(w) for w in queue.waiters)
        return len(seen)

    # -- what a request demands ------------------------------------------------------------

    def _plan(self, path: str, params: Mapping[str, str]) -> _Plan:
        # The same requests come back (a balance, a message's status...): charges_for is pure,
        # and far dearer than building this key.
        plan = self._by_path.get(path)
        if plan is not None:
            return plan
        key = (path, *params.items())
        plans = self._plans
        plan = plans.get(key)
        if plan is None:
            if path not in self._varying:
                fixed = fixed_charges(path)
                if fixed is not None:
                    by_path = self._by_path
                    if len(by_path) >= _PLAN_CACHE_SIZE:
                        by_path.clear()
                    plan = by_path[path] = self._make_plan(path, fixed)
                    return plan
                if len(self._varying) >= _PLAN_CACHE_SIZE:
                    self._varying.clear()
                self._varying.add(path)
            if len(plans) >= _PLAN_CACHE_SIZE:
                plans.clear()
            plan = plans[key] = self._make_plan(path, charges_for(path, params))
        return plan

    def _demands(self, path: str, params: Mapping[str, str]) -> tuple[tuple[Demand, ...], int, int]:
        """A request's demands, how many are rate logs, the send's index (for tests)."""
        plan = self._plan(path, params)
        return plan.demands, plan.logs, plan.send

    def _make_plan(self, path: str, charges: tuple[Charge, ...]) -> _Plan:
        caps = self._caps_status if concurrency_group(path) == "status" else self._caps
        rules = self._rules
        logs: list[Demand] = []
        send = -1
        counts: dict[str, int] = {}
        for charge in charges:
            prefix, limit, window = rules[charge.rule]
            key = prefix + charge.key
            count = counts[key] = counts.get(key, 0) + 1
            if count > limit:
                raise ValueError(
                    f"this request counts {count} or more times against the rule "
                    f"{charge.rule!r} (at most {limit} per {window:g} s) and could never be "
                    f"admitted; ask for each item at most {limit} times"
                )
            if charge.rule == _SEND_RULE:
                send = len(logs)
            logs.append(Demand(key, limit, window))
        return _Plan((*logs, *caps), len(logs), send, len(counts) < len(logs))

    def _rule_of(self, demand: Demand) -> str:
        cap = _CAP_RULES.get(demand.key)
        return cap if cap is not None else demand.key.partition(":")[0]

    # -- waiting ---------------------------------------------------------------------------

    def _ahead(self, plan: _Plan, waiter: _Waiter) -> list[int]:
        queues = self._queues
        ahead = []
        for demand, ticket in zip(plan.demands, waiter.tickets, strict=True):
            queue = queues.get(demand.key)
            if queue is None:
                ahead.append(0)
            elif ticket < 0:
                ahead.append(len(queue.tickets))
            else:
                ahead.append(queue.rank(ticket))
        if plan.repeats:
            # A repeated key's tickets sit side by side: count only the claims before the first
            # (the backend adds this request's own earlier slots itself).
            first: dict[str, int] = {}
            for i, demand in enumerate(plan.demands):
                ahead[i] = first.setdefault(demand.key, ahead[i])
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

    async def _holder(self, demands: Sequence[Demand], ahead: Sequence[int]) -> tuple[int, float]:
        """Which demand holds the request longest, and for how long (the slow path only)."""
        worst, longest = 0, -1.0
        for i, demand in enumerate(demands):
            mine = tuple(d for d in demands[: i + 1] if d.key == demand.key)
            wait = await self._backend.wait_time(mine, (ahead[i],) * len(mine))
            if wait > longest:
                worst, longest = i, wait
        return worst, longest

    async def _wait(self, plan: _Plan, max_wait: float | None, name: str) -> Reservation:
        backend = self._backend
        demands, n_logs, send = plan.demands, plan.logs, plan.send
        waiter = _Waiter(len(demands))
        give_up = _INF if max_wait is None else self._clock.now() + max_wait
        if send >= 0 and self._memory is not None:
            # In memory this check is free; a shared backend learns the same from its first
            # acquire below (checked right after it), saving a round trip per send.
            await self._duplicate(demands, send, self._ahead(plan, waiter))
        # Rate logs are claimed from the start. A cap is claimed only once everything before it
        # would admit us (caps go narrowest first), so that waiting for a rule or for the
        # status cap does not hold places of the global cap that others could use now.
        self._enqueue(demands, waiter, 0, n_logs)
        claimed = n_logs
        admitted = False
        told = False
        try:
            while True:
                ahead = self._ahead(plan, waiter)
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
                sleep = wait
                if give_up < _INF:
                    now = self._clock.now()
                    if now + wait > give_up:
                        if wait == _INF and self._memory is not None:
                            # Answers decide, but perhaps not soon enough whatever they do.
                            least = self._memory.earliest_wait_now(demands, ahead)
                            if least < _INF and now + least > give_up:
                                await self._refuse(demands, ahead, least, max_wait, name)
                        if wait < _INF or now >= give_up:
                            await self._refuse(demands, ahead, wait, max_wait, name)
                        # Answers in flight decide: wait for them, but no longer than allowed.
                        sleep = give_up - now
                if self._on_event is not None or not told:
                    told = await self._tell(demands, ahead, wait, name, log=not told) or told
                waiter.forever = wait == _INF
                waiter.on_caps = claimed > n_logs
                with anyio.CancelScope() as scope:
                    waiter.scope = scope
                    await self._clock.sleep(sleep)
                waiter.scope = None
        finally:
            waiter.scope = None
            self._leave(demands, waiter, wake=not admitted)

    async def _refuse(
        self,
        demands: Sequence[Demand],
        ahead: Sequence[int],
        wait: float,
        max_wait: float | None,
        name: str,
    ) -> None:
        i, _ = await self._holder(demands, ahead)
        demand = demands[i]
        rule = self._rule_of(demand)
        what = f"{demand.limit} " + (f"per {demand.window:g} s" if demand.window else "in flight")
        raise RateLimitedError(
            f"{name}: the limiter would hold this request "
            + ("until an answer in flight arrives" if wait == _INF else f"{wait:.3g} s")
            + f" for the rule {rule} ({what}), longer than max_wait="
            f"{max_wait:g} s; nothing was sent",
            retry_after=wait,
            rule=rule,
        )

    async def _tell(
        self, demands: Sequence[Demand], ahead: Sequence[int], wait: float, name: str, *, log: bool
    ) -> bool:
        """Report a wait to the event hook (every time) and the log (once); True if logged."""
        hook = self._on_event
        loud = log and _LOG_WAITS_FROM <= wait < _INF
        if hook is None and not loud:
            return False
        i, _ = await self._holder(demands, ahead)
        demand = demands[i]
        rule = self._rule_of(demand)
        queue = self._queues.get(demand.key)
        if loud:
            logger.info(
                "%s: waiting %.1f s for the rule %s (%d per %g s); %d queued for it",
                name,
                wait,
                rule,
                demand.limit,
                demand.window,
                len(queue.waiters) if queue is not None else 0,
            )
        if hook is not None:
            event = LimiterWait(
                endpoint=name,
                rule=rule,
                limit=demand.limit,
                window=demand.window,
                seconds=wait,
                queued=len(queue.waiters) if queue is not None else 0,
            )
            try:
                hook(event)
            except Exception:
                logger.exception("smsc_async: the on_event hook raised; event dropped")
        return loud

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

    def _wake_after(self, reservation: Reservation, sent: bool) -> None:
        queues = self._queues
        for demand in reservation.demands:
            queue = queues.get(demand.key)
            if queue is not None:
                # An answer only turns an "until released" wait into a known one; a request
                # that never left frees its slot, which shortens every wait.
                self._wake(demand, queue, everyone=not sent)

    async def _release(self, reservation: Reservation, sent: bool, hold: float) -> None:
        # The slots must go back even when the task is being cancelled.
        with anyio.CancelScope(shield=True):
            if hold > 0 and self._holds:
                await self._backend.release(reservation, sent=True, hold=hold)
            elif hold > 0:
                await self._backend.release(reservation, sent=True)
            else:
                await self._backend.release(reservation, sent=sent)
        if self._queues:
            self._wake_after(reservation, sent)
