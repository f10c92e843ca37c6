"""Shared rate rules on Redis: every process and host using one login keeps one set of windows.

The gateway counts requests per login, not per process. A web backend with several workers, or
a bot beside a nightly job, must therefore share its windows and its concurrency cap, or each
process spends the whole allowance and the gateway answers error 9. :class:`RedisBackend` keeps
the limiter's logs in Redis (``pip install smsc-async[redis]``, Redis 7.0 or later)::

    from smsc_async import Session
    from smsc_async.redis import RedisBackend

    async with RedisBackend.from_url("redis://localhost:6379/0") as backend:
        async with Session(login="alex", password="…", backend=backend) as smsc:
            await smsc.balance()

How the logs live in Redis:

* one sorted set per log (a rule's key, or a concurrency cap); members are per-attempt tokens
  and scores the microsecond when the entry stops counting: answer time + window for completed
  requests, *last heartbeat + lease_ttl + window* for requests in flight. A process renews the
  leases of its requests in flight every ``heartbeat`` seconds, so a process that dies (or
  loses Redis) gives its places back within ``lease_ttl`` seconds;
* every decision (acquire, wait time, release, renewal) is one Lua script run atomically over
  all the logs a request counts against, reading the time from the Redis server (``TIME``),
  never from the hosts' clocks, and answering with how long to wait;
* an acquire is idempotent and can be undone: its token marks the entries it took, and an
  attempt whose outcome the caller never learnt (cancelled, timed out) is undone by token and
  *tombstoned*, so the script refuses it should it still run later. Each acquire also carries
  the server time after which its caller has given up, past which the script refuses it;
* keys are ``<prefix>:{<namespace>}:<rule>:<mac>``: the session binds the namespace to a keyed
  hash of its login and derives the MAC key from its password or API key, and the part of a
  log key that names a number, a text or a message id is replaced by its MAC, so nothing in
  Redis can be matched against a guessed number or text without the login's secret. The
  ``{…}`` hash tag puts all of one login's keys in one Redis Cluster slot;
* every key carries an expiry at least as late as its last entry, so idle keys disappear.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import itertools
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Sequence
from functools import partial
from types import TracebackType
from typing import Any, Union

import anyio

try:
    import redis as _redis
    import redis.asyncio as _aredis
    from redis.asyncio.retry import Retry as _AsyncRetry
    from redis.backoff import NoBackoff
    from redis.exceptions import NoScriptError
    from redis.retry import Retry as _SyncRetry
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "smsc_async.redis needs the redis package: pip install 'smsc-async[redis]'"
    ) from exc

from smsc_async._backend import Demand, MemoryBackend, Reservation
from smsc_async._errors import LimiterUnavailableError

__all__ = ["RedisBackend", "RedisClient"]

logger = logging.getLogger("smsc_async")

#: What :class:`RedisBackend` accepts as its client: an asyncio one, or a synchronous one that
#: is then called from worker threads (the way to share limits under trio).
RedisClient = Union[
    "_aredis.Redis",
    "_aredis.RedisCluster",
    "_redis.Redis",
    "_redis.RedisCluster",
]

_INF = math.inf
_MICRO = 1_000_000
#: Seconds a request in flight keeps its places without a heartbeat (a dead holder's places
#: come back after at most this long).
DEFAULT_LEASE_TTL = 6.0
#: Seconds between checks while a concurrency cap is full with other processes' requests.
DEFAULT_POLL_INTERVAL = 0.005
#: Seconds one Redis call may take before the backend gives up on it.
DEFAULT_TIMEOUT = 2.0
#: Seconds on in-memory limits before a falling-back backend tries Redis again.
DEFAULT_RECHECK = 5.0
# How often releases Redis could not take are tried again while any are waiting.
_RETRY_INTERVAL = 0.05
# At most this many releases wait for Redis to come back (older ones run out with their lease).
_PENDING_MAX = 10_000
# The log of tombstoned (undone) acquire tokens, one per namespace. Demand keys never start so.
_CANCELLED = "#cancelled"

# The server's clock in microseconds. Scores go to redis.call as Lua numbers, which Redis writes
# exactly for integers below 2^53 (a microsecond timestamp has 16 digits; Lua's own tostring
# would keep 14). ``keep`` extends a key's expiry to at least ``ms`` from now, never shortening
# it.
_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function keep(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
"""

# KEYS: the logs, then (when taking) the namespace's tombstone log. ARGV: take (1/0), token,
# lease µs, poll µs, the server time after which the caller has given up (0: unknown), then per
# log: limit, window µs, and 2 * ahead + tend (1: this process last tended the key's expiry
# and garbage long enough ago to do it now). A log may repeat: each occurrence takes its own
# entry (token, token#1, token#2...). Returns {code, now}: code 0 admissible (taken when asked),
# -1 wait for a release of an earlier claim of the caller, -2 the token was undone, -3 too
# late, else the µs to wait.
#
# Entries that stopped counting are skipped by ZCOUNT and removed when a process tends the
# key (every lease_ttl / 2 per process and key) or when the log is full; the expiry of a key in
# use is pushed to 2 * lease + window whenever a process tends it, so no key dies under a live
# entry, and an idle key goes by itself.
_DECIDE = (
    _PRELUDE
    + """
local take = ARGV[1] == '1'
local member = ARGV[2]
local nlogs = #KEYS
if take then
  nlogs = nlogs - 1
  local late = tonumber(ARGV[5])
  if late > 0 and now > late then return {-3, now} end
  if redis.call('ZSCORE', KEYS[#KEYS], member) then return {-2, now} end
end
local lease = tonumber(ARGV[3])
local poll = tonumber(ARGV[4])
local after = now + 1  -- scores are whole µs: "> now"
local wait = 0
local counts = {}
local seen = {}
local tend = {}
for i = 1, nlogs do
  local key = KEYS[i]
  local limit = tonumber(ARGV[3 * i + 3])
  local window = tonumber(ARGV[3 * i + 4])
  local packed = tonumber(ARGV[3 * i + 5])
  local flag = packed % 2
  local ahead = (packed - flag) / 2
  local n = counts[key]
  local occ = seen[key] or 0
  if n == nil then
    if flag == 1 then
      redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
      tend[key] = true
    end
    n = redis.call('ZCOUNT', key, after, '+inf')
    counts[key] = n
  end
  seen[key] = occ + 1
  -- The k-th oldest entry still counting (0-based) must go before this request has a slot.
  local k = n + ahead + occ - limit
  if k >= 0 then
    local w = -1
    if k < n then
      local s = tonumber(redis.call('ZRANGEBYSCORE', key, after, '+inf', 'WITHSCORES',
        'LIMIT', k, 1)[2])
      if s - window <= now then
        -- Answered (or its lease ran out): it stops counting at s, exactly.
        w = s - now
      elseif window > 0 then
        -- Still in flight: it counts a whole window from its answer, which is not yet here.
        w = window
      else
        -- A cap held by a request in flight: look again soon (or when its lease ends).
        w = math.min(poll, s - now)
      end
    end
    if w < 0 then
      wait = -1
    elseif wait >= 0 and w > wait then
      wait = w
    end
  end
end
if wait ~= 0 or not take then
  return {wait, now}
end
seen = {}
for i = 1, nlogs do
  local key = KEYS[i]
  local window = tonumber(ARGV[3 * i + 4])
  local m = member
  local occ = seen[key]
  if occ then
    m = member .. '#' .. occ
    seen[key] = occ + 1
  else
    seen[key] = 1
  end
  redis.call('ZADD', key, now + lease + window, m)
  if counts[key] == 0 or tend[key] then
    -- A new key (or one holding only what stopped counting) may have no expiry yet.
    local ms = math.ceil((2 * lease + window) / 1000) + 1
    if counts[key] == 0 then redis.call('PEXPIRE', key, ms) else keep(key, ms) end
    counts[key] = -1
    tend[key] = nil
  end
end
return {0, now}
"""
)

# KEYS: the logs, then (to undo) the tombstone log. ARGV: mode ('1' answered, '0' never left,
# 'u' undo an acquire whose outcome is unknown), token, hold µs, lease µs, µs the tombstone
# stays, then per log window µs.
_RELEASE = (
    _PRELUDE
    + """
local mode = ARGV[1]
local member = ARGV[2]
local hold = tonumber(ARGV[3])
local lease = tonumber(ARGV[4])
local nlogs = #KEYS
if mode == 'u' then
  nlogs = nlogs - 1
  local tomb = KEYS[#KEYS]
  local stay = tonumber(ARGV[5])
  redis.call('ZREMRANGEBYSCORE', tomb, '-inf', now)
  redis.call('ZADD', tomb, now + stay, member)
  keep(tomb, math.ceil(stay / 1000) + 1)
end
local seen = {}
for i = 1, nlogs do
  local key = KEYS[i]
  local window = tonumber(ARGV[i + 5])
  local m = member
  local occ = seen[key]
  if occ then
    m = member .. '#' .. occ
    seen[key] = occ + 1
  else
    seen[key] = 1
  end
  local span = 0
  if window > 0 then
    -- Answered (or maybe seen by the gateway): counts one window from now.
    if mode == '1' or hold > 0 then span = window end
  elseif hold > 0 then
    -- The gateway may still be working on it: its place stays taken a while.
    span = hold
  end
  if span == 0 then
    redis.call('ZREM', key, m)
  elseif window == 0 or redis.call('ZADD', key, 'XX', 'LT', 'CH', now + span, m) == 0 then
    -- Held, re-added after its lease ran out, or counting longer than its lease did: the
    -- key's expiry may be short of it.
    redis.call('ZADD', key, now + span, m)
    keep(key, math.ceil((2 * lease + span) / 1000) + 1)
  end
end
return 0
"""
)

# KEYS: the logs. ARGV: lease µs, the server time after which the caller has given up, then per
# entry: log index, window µs, token. Extends in-flight entries that still exist (never brings
# back one released or run out).
_RENEW = (
    _PRELUDE
    + """
local late = tonumber(ARGV[2])
if late > 0 and now > late then return -3 end
local lease = tonumber(ARGV[1])
local longest = {}
for j = 3, #ARGV, 3 do
  local i = tonumber(ARGV[j])
  local window = tonumber(ARGV[j + 1])
  redis.call('ZADD', KEYS[i], 'XX', 'GT', now + lease + window, ARGV[j + 2])
  if longest[i] == nil or window > longest[i] then longest[i] = window end
end
for i, window in pairs(longest) do
  keep(KEYS[i], math.ceil((2 * lease + window) / 1000) + 1)
end
return 0
"""
)


class _Script:
    """A Lua script and its SHA1: run by EVALSHA (one round trip), EVAL when not cached yet."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


_DECIDE_SCRIPT = _Script(_DECIDE)
_RELEASE_SCRIPT = _Script(_RELEASE)
_RENEW_SCRIPT = _Script(_RENEW)
_SCRIPTS = (_DECIDE_SCRIPT, _RELEASE_SCRIPT, _RENEW_SCRIPT)


def _in_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _run_sync(client: Any, script: _Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
    try:
        return client.evalsha(script.sha, len(keys), *keys, *args)
    except NoScriptError:
        # First use on this server (or after SCRIPT FLUSH): EVAL also caches it.
        return client.eval(script.source, len(keys), *keys, *args)


def _unavailable(exc: BaseException) -> LimiterUnavailableError:
    return LimiterUnavailableError(
        f"the shared limiter on Redis did not answer ({type(exc).__name__}: {exc}); "
        "nothing was sent"
    )


# Arguments as bytes: redis-py passes bytes through, while it formats every int and encodes
# every str on each call.
_SMALL = [str(i).encode() for i in range(256)]


def _b(n: int) -> bytes:
    return _SMALL[n] if 0 <= n < 256 else str(n).encode()


class _Plan:
    """What a request's demands need on Redis, computed once per distinct set of demands."""

    __slots__ = (
        "keys",
        "keys_take",
        "members",
        "statics",
        "tend_at",
        "windows",
        "windows_b",
        "zero_tail",
    )

    def __init__(self, keys: list[str], demands: Sequence[Demand], tomb: str) -> None:
        self.keys = keys
        self.keys_take = [*keys, tomb]
        self.windows = [round(d.window * _MICRO) for d in demands]
        self.windows_b = [_b(w) for w in self.windows]
        self.statics = [(_b(d.limit), w) for d, w in zip(demands, self.windows_b, strict=True)]
        # The arguments per log when nobody waits ahead and no key is due for tending.
        self.zero_tail: list[bytes] = []
        for limit, window in self.statics:
            self.zero_tail += (limit, window, b"0")
        #: Until when (monotonic) none of the keys needs tending by this process.
        self.tend_at = -_INF
        # Per position, the suffix of its entry's token when its log repeats ("#1", "#2"...).
        seen: dict[str, int] = {}
        members = []
        for key in keys:
            occ = seen.get(key, 0)
            seen[key] = occ + 1
            members.append(f"#{occ}" if occ else "")
        self.members = members


class _Shared:
    """State shared by a backend and all its views: the client, the clock offset, the leases."""

    def __init__(
        self,
        client: Any,
        *,
        owned: bool,
        timeout: float,
        lease_us: int,
        heartbeat: float,
        url: str | None = None,
        cluster: bool | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        # ``client`` None: created from ``url`` on first use, for the running async library.
        self.client = client
        self.owned = owned
        self.timeout = timeout
        self.lease_us = lease_us
        self.heartbeat = heartbeat
        self.url = url
        self.cluster = cluster
        self.options = options or {}
        self.threaded = False
        #: Whether socket timeouts bound every call, so no timeout scope is needed around it.
        self.bounded = False
        if client is not None:
            self._adopt(client)
        # Server time minus local monotonic time, in µs (a lower bound, from the last reply).
        self.offset: int | None = None
        self.token = secrets.token_hex(6) + ":"
        self.counter = itertools.count()
        # Reservations in flight (token -> view, plan), renewed by the worker.
        self.live: dict[str, tuple[RedisBackend, _Plan]] = {}
        # Releases and undos Redis could not take: (queued at, view, keys, args).
        self.pending: deque[tuple[float, RedisBackend, list[str], list[Any]]] = deque()
        # Redis failed on the last call: releases go to ``pending`` without trying.
        self.failing = False
        self.starting: anyio.Event | None = None  # set once the client is ready
        # The client exists, the scripts are loaded, the server's clock is known.
        self.ready = False
        self.worker: object = None  # the event loop (or trio token) the worker runs in
        self.worker_scope: anyio.CancelScope | None = None

    def _adopt(self, client: Any) -> None:
        self.threaded = not isinstance(client, (_aredis.Redis, _aredis.RedisCluster))
        self.bounded = self.owned  # from_url set the socket timeouts and turned retries off

    def _probe(self) -> bool:
        # Whether the server is a cluster node (asked once, when the backend is first used).
        assert self.url is not None
        with _redis.Redis.from_url(
            self.url,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            retry=_SyncRetry(NoBackoff(), 0),
        ) as probe:
            return bool(probe.info("cluster").get("cluster_enabled") == 1)

    def _make_sync_client(self) -> Any:
        # redis-py's asyncio client runs only on asyncio: elsewhere (trio) use the synchronous
        # client from worker threads, redis-py's documented way outside asyncio.
        assert self.url is not None
        options = dict(self.options)
        options.setdefault("retry", _SyncRetry(NoBackoff(), 0))
        if self.cluster:
            return _redis.RedisCluster.from_url(self.url, **options)
        return _redis.from_url(self.url, **options)

    async def _ensure(self) -> Any:
        # One task creates the client; the others wait for it (two tasks starting redis-py's
        # cluster client at once make it drop each other's connections).
        while not self.ready:
            starting = self.starting
            if starting is not None:
                await starting.wait()
                continue
            self.starting = anyio.Event()
            try:
                await self._create()
            finally:
                starting, self.starting = self.starting, None
                starting.set()
        return self.client

    async def _create(self) -> None:
        client: Any = self.client
        threaded = self.threaded
        if client is None:
            assert self.url is not None
            # Blocking I/O (the probe, the synchronous clients) goes to a thread; the asyncio
            # client is made here, in its event loop.
            if self.cluster is None:
                self.cluster = await anyio.to_thread.run_sync(self._probe)
            threaded = not _in_asyncio()
            if threaded:
                client = await anyio.to_thread.run_sync(self._make_sync_client)
            else:
                options = dict(self.options)
                options.setdefault("retry", _AsyncRetry(NoBackoff(), 0))
                if self.cluster:
                    client = _aredis.RedisCluster.from_url(self.url, **options)
                else:
                    client = _aredis.from_url(self.url, **options)
        try:
            # The scripts, loaded up front (on every master of a cluster), so EVALSHA runs
            # from the first call; and the server's clock, so that even the first acquire
            # carries the time after which its caller has given up.
            if threaded:
                for script in _SCRIPTS:
                    await anyio.to_thread.run_sync(client.script_load, script.source)
                seconds, micros = await anyio.to_thread.run_sync(client.time)
            else:
                for script in _SCRIPTS:
                    await client.script_load(script.source)
                seconds, micros = await client.time()
        except BaseException:
            if self.client is None:  # ours: close it (a client passed in stays as it is)
                with anyio.CancelScope(shield=True):
                    if threaded:
                        await anyio.to_thread.run_sync(client.close)
                    else:
                        await client.aclose()
            raise
        self.note_time(int(seconds) * _MICRO + int(micros))
        if self.client is None:
            self.client = client
            self._adopt(client)
        self.ready = True

    async def run(self, script: _Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run ``script``; any failure is :class:`LimiterUnavailableError`, nothing else."""
        try:
            if not self.ready:
                with anyio.fail_after(self.timeout * 2):
                    await self._ensure()
            client = self.client
            if self.threaded:
                call = partial(_run_sync, client, script, keys, args)
                # The thread reads its own reply (its connection stays in step) even when the
                # caller gives up; the socket timeouts bound it, the scope bounds the caller.
                with anyio.fail_after(self.timeout * 2 if self.bounded else self.timeout):
                    reply = await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
            elif self.bounded:
                reply = await self._run_async(client, script, keys, args)
            else:
                # A cancelled command makes redis-py drop its connection: never out of step.
                with anyio.fail_after(self.timeout):
                    reply = await self._run_async(client, script, keys, args)
        except Exception as exc:
            self.failing = True
            raise _unavailable(exc) from exc
        self.failing = False
        return reply

    @staticmethod
    async def _run_async(client: Any, script: _Script, keys: Sequence[str], args: Any) -> Any:
        try:
            return await client.evalsha(script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await client.eval(script.source, len(keys), *keys, *args)

    def not_after(self) -> int:
        """The server time (µs) after which a call sent now has been given up by its caller."""
        offset = self.offset
        if offset is None:
            return 0
        return round((time.monotonic() + self.timeout) * _MICRO) + offset

    def note_time(self, server_us: int) -> None:
        self.offset = server_us - round(time.monotonic() * _MICRO)

    # -- the worker: heartbeats and releases to retry ----------------------------------------

    def wake_worker(self) -> None:
        """Make sure the worker runs in this event loop (it stops when it has nothing to do)."""
        loop: object
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            import trio

            loop = trio.lowlevel.current_trio_token()
        if self.worker is loop:
            return
        self.worker = loop
        if isinstance(loop, asyncio.AbstractEventLoop):
            task = loop.create_task(self._work(loop))
            _TASKS.add(task)
            task.add_done_callback(_TASKS.discard)
        else:
            import trio

            trio.lowlevel.spawn_system_task(self._work, loop)

    async def _work(self, loop: object) -> None:
        try:
            with anyio.CancelScope() as scope:
                self.worker_scope = scope
                # Lingers two heartbeats after its last lease: short requests come and go far
                # more often than that, and starting a task per request would cost more.
                idle = 0
                while idle < 2:
                    await anyio.sleep(_RETRY_INTERVAL if self.pending else self.heartbeat)
                    idle = 0 if self.live or self.pending else idle + 1
                    await self.drain()
                    await self._renew()
        except Exception:  # pragma: no cover - a bug; never crash the event loop
            logger.exception("smsc_async: the Redis lease worker failed")
        finally:
            if self.worker is loop:
                self.worker = None
                self.worker_scope = None

    async def drain(self) -> None:
        """Try the releases Redis could not take, oldest first, until one fails."""
        pending = self.pending
        horizon = time.monotonic() - (self.lease_us / _MICRO + self.timeout)
        while pending:
            entry = pending[0]
            queued, _, keys, args = entry
            if queued < horizon:
                pending.popleft()  # its entries ran out with their lease meanwhile
                continue
            try:
                # Releases are idempotent: a concurrent drain running the same one is harmless.
                await self.run(_RELEASE_SCRIPT, keys, args)
            except LimiterUnavailableError:
                return
            if pending and pending[0] is entry:
                pending.popleft()

    def defer(self, view: RedisBackend, keys: list[str], args: list[Any]) -> None:
        if len(self.pending) >= _PENDING_MAX:
            self.pending.popleft()
        self.pending.append((time.monotonic(), view, keys, args))
        self.wake_worker()

    async def _renew(self) -> None:
        if not self.live:
            return
        groups: dict[str, tuple[list[str], dict[str, int], list[Any]]] = {}
        for member, (view, plan) in list(self.live.items()):
            group = groups.get(view._base)
            if group is None:
                group = groups[view._base] = ([], {}, [self.lease_us, self.not_after()])
            keys, index, args = group
            for key, window, suffix in zip(plan.keys, plan.windows, plan.members, strict=True):
                i = index.get(key)
                if i is None:
                    keys.append(key)
                    i = index[key] = len(keys)
                args += (i, window, member + suffix)
        for keys, _, args in groups.values():
            try:
                await self.run(_RENEW_SCRIPT, keys, args)
            except LimiterUnavailableError as exc:
                logger.warning("smsc_async: could not renew limiter leases on Redis (%s)", exc)

    async def aclose(self) -> None:
        scope = self.worker_scope
        if scope is not None:
            scope.cancel()
        self.worker = None
        client = self.client
        if client is None or not self.owned:
            return
        self.client = None
        self.ready = False
        if self.threaded:
            await anyio.to_thread.run_sync(client.close)
        else:
            await client.aclose()


# Strong references to the workers' asyncio tasks (the loop keeps only weak ones).
_TASKS: set[asyncio.Task[None]] = set()


def _wait_seconds(result: int) -> float:
    return _INF if result < 0 else result / _MICRO


class RedisBackend:
    """The limiter's logs in Redis, shared by every process and host that uses one login.

    Implements :class:`~smsc_async.LimiterBackend` with one atomic Lua script per decision, on
    the Redis server's clock. Create it from a URL, or around a client you already have (an
    asyncio ``redis.asyncio.Redis``/``RedisCluster``, or a synchronous ``redis.Redis``/
    ``RedisCluster`` that is then called from worker threads -- the way to use it under trio;
    :meth:`from_url` picks the right one by itself)::

        backend = RedisBackend.from_url("redis://cache:6379/0")
        backend = RedisBackend(redis.asyncio.Redis(host="cache", socket_timeout=2.0))

    Pass it to every :class:`~smsc_async.Session` of the login (``backend=backend``); the session
    binds it to a keyed hash of its login (:meth:`bind`), so one backend may serve several logins.

    * ``prefix`` starts every key (keep the default unless several applications share a Redis
      and must not share limits);
    * ``lease_ttl``: seconds a request in flight keeps its places without a heartbeat. The
      backend renews the leases of its requests in flight every ``heartbeat`` seconds (default
      ``lease_ttl / 4``), so a live holder keeps them as long as its request takes, and a dead
      process (or one cut off from Redis) gives them back within ``lease_ttl``. A holder cut off
      from Redis for longer than ``lease_ttl - heartbeat`` loses its places to the others;
    * ``poll_interval``: how often a request waiting on a concurrency cap full of other
      processes' requests looks again;
    * ``timeout``: seconds one Redis call may take; beyond, or when Redis cannot be reached,
      requests fail with :class:`~smsc_async.LimiterUnavailableError` (nothing is sent) --
      unless ``fallback=True``: then the backend logs a warning and keeps this process's own
      in-memory limits, trying Redis again every ``recheck`` seconds. Releases never raise: a
      release Redis cannot take is tried again as soon as Redis answers (within its lease).

    A client of your own should have socket timeouts and redis-py's retries off
    (``retry=Retry(NoBackoff(), 0)``), as :meth:`from_url` sets them: a retried acquire is
    harmless but can hold its places until its lease ends. Close the backend when done
    (``async with`` or :meth:`aclose`); it closes only a client it created. Use one backend per
    event loop.
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str = "smsc",
        namespace: str = "default",
        lease_ttl: float = DEFAULT_LEASE_TTL,
        heartbeat: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
        fallback: bool = False,
        recheck: float = DEFAULT_RECHECK,
    ) -> None:
        self._setup(
            client,
            None,
            None,
            {},
            prefix=prefix,
            namespace=namespace,
            lease_ttl=lease_ttl,
            heartbeat=heartbeat,
            poll_interval=poll_interval,
            timeout=timeout,
            fallback=fallback,
            recheck=recheck,
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "smsc",
        namespace: str = "default",
        lease_ttl: float = DEFAULT_LEASE_TTL,
        heartbeat: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
        fallback: bool = False,
        recheck: float = DEFAULT_RECHECK,
        cluster: bool | None = None,
        **client_options: Any,
    ) -> RedisBackend:
        """A backend on a client it creates (and closes) for ``url`` (``redis://``, ``rediss://``).

        The client is created on first use: redis-py's asyncio client under asyncio, its
        synchronous client in worker threads otherwise (trio). ``cluster`` selects redis-py's
        cluster client (``None``: ask the server, once). ``client_options`` go to redis-py's
        ``from_url``; socket timeouts default to ``timeout`` and redis-py's own retries are off.
        """
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, not {type(url).__name__}")
        scheme = url.partition("://")[0].lower() if "://" in url else ""
        if scheme not in ("redis", "rediss", "unix"):
            # The scheme only: the rest of a URL may carry a password.
            raise ValueError(
                f"url must be a redis://, rediss:// or unix:// URL, not {scheme or 'no'} scheme"
            )
        options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
        }
        options.update(client_options)
        self = cls.__new__(cls)
        self._setup(
            None,
            url,
            cluster,
            options,
            prefix=prefix,
            namespace=namespace,
            lease_ttl=lease_ttl,
            heartbeat=heartbeat,
            poll_interval=poll_interval,
            timeout=timeout,
            fallback=fallback,
            recheck=recheck,
        )
        return self

    def _setup(
        self,
        client: Any,
        url: str | None,
        cluster: bool | None,
        options: dict[str, Any],
        *,
        prefix: str,
        namespace: str,
        lease_ttl: float,
        heartbeat: float | None,
        poll_interval: float,
        timeout: float,
        fallback: bool,
        recheck: float,
    ) -> None:
        for name, value in (("prefix", prefix), ("namespace", namespace)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty str, got {value!r}")
            if "{" in value or "}" in value:
                # The braces are the Redis Cluster hash tag: ours must be the first.
                raise ValueError(f"{name} must not contain braces, got {value!r}")
        if heartbeat is None:
            heartbeat = lease_ttl / 4 if isinstance(lease_ttl, (int, float)) else lease_ttl
        for name, number in (
            ("lease_ttl", lease_ttl),
            ("heartbeat", heartbeat),
            ("poll_interval", poll_interval),
            ("timeout", timeout),
            ("recheck", recheck),
        ):
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                raise TypeError(f"{name} must be a number of seconds, not {type(number).__name__}")
            if not number > 0 or number == _INF:
                raise ValueError(f"{name} must be a positive number of seconds, got {number!r}")
        if heartbeat >= lease_ttl:
            raise ValueError(
                f"heartbeat ({heartbeat!r} s) must be shorter than lease_ttl ({lease_ttl!r} s)"
            )
        if cluster is not None and not isinstance(cluster, bool):
            raise TypeError(f"cluster must be a bool or None, not {type(cluster).__name__}")
        self._shared = _Shared(
            client,
            owned=client is None,
            timeout=timeout,
            lease_us=round(lease_ttl * _MICRO),
            heartbeat=heartbeat,
            url=url,
            cluster=cluster,
            options=options,
        )
        self._prefix = prefix
        self._namespace = namespace
        self._mac_key = hashlib.blake2b(namespace.encode(), person=b"smsc_async.ns").digest()
        self._lease_us = round(lease_ttl * _MICRO)
        self._poll_us = max(1, round(poll_interval * _MICRO))
        self._lease_b = _b(self._lease_us)
        self._poll_b = _b(self._poll_us)
        self._timeout = timeout
        self._fallback = fallback
        self._recheck = recheck
        self._reset_view()

    def _reset_view(self) -> None:
        self._base = f"{self._prefix}:{{{self._namespace}}}:"
        self._tomb = self._base + _CANCELLED
        self._keys: dict[str, str] = {}
        self._plans: dict[tuple[Demand, ...], _Plan] = {}
        # When this process last tended each key (its expiry and its garbage), monotonic.
        self._tend: dict[str, float] = {}
        self._memory: MemoryBackend | None = None
        # While falling back: when to try Redis again.
        self._down_until = -_INF

    def __repr__(self) -> str:
        return f"<smsc_async.redis.RedisBackend keys={self._base}*>"

    @property
    def namespace(self) -> str:
        """The namespace of this view's keys (the session sets it to a keyed hash of its login)."""
        return self._namespace

    def bind(self, namespace: str, *, key: bytes | None = None) -> RedisBackend:
        """A view of this backend (same client, same settings) keeping its keys in ``namespace``.

        ``key`` (16 to 64 bytes) is the secret the view's log keys are hashed with: the part of
        a key that names a number, a text or an id becomes a MAC (keyed BLAKE2b) of it, so
        nothing stored can be matched against a guess without ``key``. Every process of one
        login must pass the same. Without it the MAC key is derived from ``namespace`` alone,
        which hides nothing from someone who knows the namespace. :class:`~smsc_async.Session`
        calls it with a keyed hash of its login and a key derived from its password or API key,
        so every process of one login meets in the same keys and different logins never do.
        """
        if not isinstance(namespace, str) or not namespace or "{" in namespace or "}" in namespace:
            raise ValueError(f"namespace must be a non-empty str without braces, got {namespace!r}")
        if key is not None and (not isinstance(key, bytes) or not 16 <= len(key) <= 64):
            raise ValueError("key must be 16 to 64 bytes")
        view = copy.copy(self)
        view._namespace = namespace
        view._mac_key = (
            key
            if key is not None
            else hashlib.blake2b(namespace.encode(), person=b"smsc_async.ns").digest()
        )
        view._reset_view()
        return view

    def key(self, demand_key: str) -> str:
        """The Redis key of the log ``demand_key`` (e.g. ``"balance:balance"``), for inspection.

        A rule's log keeps its rule name readable and hashes the rest:
        ``smsc:{<namespace>}:balance:<mac>``; a cap (``"*concurrency"``) keeps its name.
        """
        key = self._keys.get(demand_key)
        if key is None:
            if len(self._keys) >= 4096:
                self._keys.clear()
            rule, sep, rest = demand_key.partition(":")
            if sep:
                mac = hashlib.blake2b(rest.encode(), key=self._mac_key, digest_size=16)
                key = f"{self._base}{rule}:{mac.hexdigest()}"
            else:
                key = self._base + demand_key
            self._keys[demand_key] = key
        return key

    def _plan(self, demands: Sequence[Demand]) -> _Plan:
        index = demands if isinstance(demands, tuple) else tuple(demands)
        plan = self._plans.get(index)
        if plan is None:
            if len(self._plans) >= 4096:
                self._plans.clear()
            plan = self._plans[index] = _Plan(
                [self.key(d.key) for d in demands], demands, self._tomb
            )
        return plan

    async def aclose(self) -> None:
        """Stop renewing leases and close the Redis client if :meth:`from_url` made it."""
        await self._shared.aclose()

    async def __aenter__(self) -> RedisBackend:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- the protocol ------------------------------------------------------------------------

    async def acquire(
        self, demands: Sequence[Demand], ahead: Sequence[int] | None = None
    ) -> Reservation | float:
        """See :meth:`smsc_async.LimiterBackend.acquire`; one round trip to Redis.

        A wait for a cap held by other processes is bounded by ``poll_interval``: their
        releases cannot wake this process.
        """
        memory = self._memory_now()
        if memory is not None:
            return memory.try_acquire(demands, ahead)
        shared = self._shared
        if shared.pending and not shared.failing:
            # This process's own releases that Redis missed go first: its places are free.
            await shared.drain()
        plan = self._plan(demands)
        member = shared.token + format(next(shared.counter), "x")
        clock = time.monotonic()
        due = None if clock < plan.tend_at else self._due(plan, clock)
        tail: list[Any]
        if ahead is None and due is None:
            tail = plan.zero_tail
        else:
            tail = []
            for i, (limit, window) in enumerate(plan.statics):
                packed = 2 * (ahead[i] if ahead is not None else 0)
                if due is not None and due[i]:
                    packed += 1
                tail += (limit, window, _b(packed))
        for attempt in range(2):
            not_after = shared.not_after()
            args = [b"1", member, self._lease_b, self._poll_b, _b(not_after), *tail]
            try:
                reply = await shared.run(_DECIDE_SCRIPT, plan.keys_take, args)
                code, server_now = int(reply[0]), int(reply[1])
            except anyio.get_cancelled_exc_class():
                # The script may have run, or may still run: undo it, and tombstone its token.
                with anyio.CancelScope(shield=True):
                    await self._undo(plan, member, now=True)
                raise
            except LimiterUnavailableError as exc:
                await self._undo(plan, member, now=False)
                return self._fall_back(exc).try_acquire(demands, ahead)
            except (TypeError, ValueError, IndexError) as exc:
                await self._undo(plan, member, now=False)
                return self._fall_back(_unavailable(exc)).try_acquire(demands, ahead)
            shared.note_time(server_now)
            if code == 0:
                if due is not None:
                    self._tended(plan, due, clock)
                shared.live[member] = (self, plan)
                shared.wake_worker()
                self._recovered()
                return Reservation(demands, member)
            if attempt:
                break
            if code == -3:
                # Refused as late: the clock offset was stale (a stalled loop). Once more, on
                # the offset this reply gave.
                continue
            if code != -2 and shared.pending:
                # Redis is back: the releases it missed first (they may free what we wait for).
                await shared.drain()
                continue
            break
        self._recovered()
        if code in (-2, -3):
            return self._fall_back(
                LimiterUnavailableError(
                    "the shared limiter on Redis answered too late; nothing was sent"
                )
            ).try_acquire(demands, ahead)
        return _wait_seconds(code)

    async def wait_time(
        self, demands: Sequence[Demand], ahead: Sequence[int] | None = None
    ) -> float:
        """See :meth:`smsc_async.LimiterBackend.wait_time`; one round trip to Redis."""
        memory = self._memory_now()
        if memory is not None:
            return memory.wait_time_now(demands, ahead)
        plan = self._plan(demands)
        tail: list[Any]
        if ahead is None:
            tail = plan.zero_tail
        else:
            tail = []
            for (limit, window), claims in zip(plan.statics, ahead, strict=True):
                tail += (limit, window, _b(2 * claims))
        args = [b"0", b"", self._lease_b, self._poll_b, b"0", *tail]
        try:
            reply = await self._shared.run(_DECIDE_SCRIPT, plan.keys, args)
            code, server_now = int(reply[0]), int(reply[1])
        except LimiterUnavailableError as exc:
            return self._fall_back(exc).wait_time_now(demands, ahead)
        except (TypeError, ValueError, IndexError) as exc:
            return self._fall_back(_unavailable(exc)).wait_time_now(demands, ahead)
        self._shared.note_time(server_now)
        self._recovered()
        return _wait_seconds(code)

    async def release(self, reservation: Reservation, *, sent: bool, hold: float = 0.0) -> None:
        """See :meth:`smsc_async.LimiterBackend.release`; one round trip, and it never raises.

        ``hold > 0``: the request's concurrency places stay taken ``hold`` more seconds (the
        gateway may still be working on it) and its rate entries count from now. If Redis
        cannot take the release, it is tried again as soon as Redis answers; its entries run
        out with their lease at the latest.
        """
        handle = reservation.handle
        if not isinstance(handle, str):
            # Taken from the in-memory fallback.
            assert self._memory is not None
            self._memory.release_now(reservation, sent=sent, hold=hold)
            return
        shared = self._shared
        shared.live.pop(handle, None)
        plan = self._plan(reservation.demands)
        hold_us = round(min(hold, 86_400.0) * _MICRO) if hold > 0 else 0
        args: list[Any] = [b"1" if sent else b"0", handle, _b(hold_us), self._lease_b, b"0"]
        args += plan.windows_b
        if shared.failing or self._down_until > -_INF:
            # Redis is failing right now: do not hold the caller up for a timeout.
            shared.defer(self, plan.keys, args)
            return
        try:
            await shared.run(_RELEASE_SCRIPT, plan.keys, args)
        except LimiterUnavailableError as exc:
            logger.warning(
                "smsc_async: could not release limiter entry %s on Redis (%s); "
                "trying again when Redis answers",
                handle,
                exc.__cause__ or exc,
            )
            shared.defer(self, plan.keys, args)

    # -- internals ---------------------------------------------------------------------------

    def _due(self, plan: _Plan, clock: float) -> list[bool]:
        # Which keys this process should tend now: each at least every lease_ttl / 2.
        half = self._lease_us / _MICRO / 2
        tend = self._tend
        return [clock - tend.get(key, -_INF) >= half for key in plan.keys]

    def _tended(self, plan: _Plan, due: list[bool], clock: float) -> None:
        tend = self._tend
        if len(tend) >= 4096:
            tend.clear()
        for key, was_due in zip(plan.keys, due, strict=True):
            if was_due:
                tend[key] = clock
        half = self._lease_us / _MICRO / 2
        plan.tend_at = min(tend.get(key, clock) for key in plan.keys) + half

    async def _undo(self, plan: _Plan, member: str, *, now: bool) -> None:
        """Take back whatever an acquire of unknown outcome took, and tombstone its token."""
        shared = self._shared
        # The tombstone outlives the acquire: the script refuses it as late by then, or (clock
        # offset not known yet) its entries would have run out anyway.
        tomb_us = self._lease_us + 2 * round(shared.timeout * _MICRO)
        args: list[Any] = [b"u", member, b"0", self._lease_b, _b(tomb_us), *plan.windows_b]
        if now and not shared.failing:
            try:
                await shared.run(_RELEASE_SCRIPT, plan.keys_take, args)
                return
            except LimiterUnavailableError:
                pass
        shared.defer(self, plan.keys_take, args)

    def _recovered(self) -> None:
        if self._down_until > -_INF:
            self._down_until = -_INF
            logger.warning("smsc_async: Redis answers again; shared limits are back")

    def _memory_now(self) -> MemoryBackend | None:
        # The in-memory fallback, while it is in force.
        if self._down_until == -_INF:
            return None
        if anyio.current_time() >= self._down_until:
            return None  # time to try Redis again
        return self._memory

    def _fall_back(self, exc: LimiterUnavailableError) -> MemoryBackend:
        if not self._fallback:
            raise exc
        if self._memory is None:
            self._memory = MemoryBackend()
        first = self._down_until == -_INF
        self._down_until = anyio.current_time() + self._recheck
        if first:
            logger.warning(
                "smsc_async: %s; falling back to this process's own limits (other processes "
                "of the login are not counted) and trying Redis again every %.3g s",
                exc,
                self._recheck,
            )
        return self._memory
