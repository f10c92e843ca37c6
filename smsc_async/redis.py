"""Shared rate rules on Redis: every process and host using one login keeps one set of windows.

The gateway counts requests per login, not per process. A web backend with several workers, or
a bot beside a nightly job, must therefore share its windows and its concurrency cap, or each
process spends the whole allowance and the gateway answers error 9. :class:`RedisBackend` keeps
the limiter's logs in Redis (``pip install smsc-async[redis]``)::

    from smsc_async import Session
    from smsc_async.redis import RedisBackend

    async with RedisBackend.from_url("redis://localhost:6379/0") as backend:
        async with Session(login="alex", password="…", backend=backend) as smsc:
            await smsc.balance()

How the logs live in Redis:

* one sorted set per log (a rule's key, or a concurrency cap), members are request ids and
  scores the microsecond when the entry stops counting: answer time + window for completed
  requests; *acquire time + lease_ttl + window* for requests in flight, so a process that dies
  holding slots gives them back once its leases expire;
* every decision (acquire, wait time, release) is one Lua script run atomically over all the
  logs a request counts against, reading the time from the Redis server (``TIME``), never from
  the hosts' clocks, and answering with how long to wait;
* keys are ``<prefix>:{<namespace>}:<rule>:<key>``: the session binds the namespace to a hash of
  its login (never a password or API key in clear), and the ``{…}`` hash tag puts all of one
  login's keys in one Redis Cluster slot;
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
from collections.abc import Callable, Sequence
from functools import partial
from types import TracebackType
from typing import Any, Union

import anyio

try:
    import redis as _redis
    import redis.asyncio as _aredis
    from redis.asyncio.retry import Retry as _AsyncRetry
    from redis.backoff import NoBackoff
    from redis.exceptions import NoScriptError, RedisError, ResponseError
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
#: Seconds a request may stay in flight before its slots are presumed abandoned.
DEFAULT_LEASE_TTL = 150.0
#: Seconds between checks while a concurrency cap is full with other processes' requests.
DEFAULT_POLL_INTERVAL = 0.005
#: Seconds one Redis call may take before the backend gives up on it.
DEFAULT_TIMEOUT = 2.0
#: Seconds on in-memory limits before a falling-back backend tries Redis again.
DEFAULT_RECHECK = 5.0

# Shared by both scripts: the server's clock in microseconds, and scores written as integers
# (Lua's tostring keeps only 14 digits; a microsecond timestamp has 16).
_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function int(x) return string.format('%.0f', x) end
local function keep(key, us)
  -- Extend the key's expiry to at least ``us`` from now, never shorten it.
  local ms = math.ceil(us / 1000) + 1
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
local function fit(key)
  -- Make the key expire with its last entry (an empty sorted set is gone already).
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2]
  if last then redis.call('PEXPIRE', key, math.ceil((tonumber(last) - now) / 1000) + 1) end
end
"""

# KEYS: the logs. ARGV: take (1/0), member, lease µs, poll µs, then per key limit, window µs,
# ahead. Returns 0 (admissible; taken when asked), -1 (wait for a release of an earlier claim
# of the caller), or the µs to wait.
_DECIDE = (
    _PRELUDE
    + """
local lease = tonumber(ARGV[3])
local poll = tonumber(ARGV[4])
local wait = 0
local snow = int(now)
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[3 * i + 2])
  local window = tonumber(ARGV[3 * i + 3])
  local ahead = tonumber(ARGV[3 * i + 4])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', snow)
  local n = redis.call('ZCARD', key)
  -- The k-th oldest entry (0-based) must go before this request has a slot.
  local k = n + ahead - limit
  if k >= 0 then
    local w = -1
    if k < n then
      local s = tonumber(redis.call('ZRANGE', key, k, k, 'WITHSCORES')[2])
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
if wait ~= 0 or ARGV[1] ~= '1' then
  return wait
end
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[3 * i + 3])
  redis.call('ZADD', key, int(now + lease + window), ARGV[2])
  keep(key, lease + window)
end
return 0
"""
)

# KEYS: the logs. ARGV: sent (1/0), member, then per key window µs.
_RELEASE = (
    _PRELUDE
    + """
local sent = ARGV[1] == '1'
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[i + 2])
  if sent and window > 0 then
    -- The answer arrived now: the entry counts one window from now (re-added if its lease
    -- ran out meanwhile, because the gateway counted it all the same).
    redis.call('ZADD', key, int(now + window), ARGV[2])
  else
    redis.call('ZREM', key, ARGV[2])
  end
  fit(key)
end
return 0
"""
)


class _Script:
    """A Lua script and its SHA1, run by EVALSHA (one round trip) with EVAL as the fallback."""

    __slots__ = ("sha", "sha_bytes", "source", "source_bytes")

    def __init__(self, source: str) -> None:
        self.source = source
        self.source_bytes = source.encode()
        self.sha = hashlib.sha1(self.source_bytes, usedforsecurity=False).hexdigest()
        self.sha_bytes = self.sha.encode()


_DECIDE_SCRIPT = _Script(_DECIDE)
_RELEASE_SCRIPT = _Script(_RELEASE)


def _in_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


def _pack(command: bytes, script: bytes, keys: Sequence[str], args: Sequence[Any]) -> bytes:
    """One RESP command: ``command script numkeys *keys *args`` (ints and strs only)."""
    parts = [b"*%d\r\n" % (3 + len(keys) + len(args)), _bulk(command), _bulk(script)]
    parts.append(_bulk(b"%d" % len(keys)))
    parts.extend(_bulk(key.encode()) for key in keys)
    parts.extend(_bulk(arg.encode() if isinstance(arg, str) else b"%d" % arg) for arg in args)
    return b"".join(parts)


class _Store:
    """Runs scripts on one Redis client, in the cheapest way the client allows.

    * an asyncio ``redis.asyncio.Redis``: on connections of its own, made with the client's
      settings, sending pre-packed EVALSHA commands and reading with a timeout: redis-py's
      command layer (pool, retries, encoders) costs more than the round trip itself;
    * an asyncio ``RedisCluster``: through the client (it routes by the keys' hash slot);
    * a synchronous client (what :meth:`RedisBackend.from_url` makes under trio): in worker
      threads.
    """

    def __init__(
        self, client: Any, *, owned: bool, timeout: float, url: str | None = None, **options: Any
    ) -> None:
        # ``client`` None: created from ``url`` on first use, for the running async library.
        self._client = client
        self._owned = owned
        self._timeout = timeout
        self._url = url
        self._options = options
        # Connections of the direct mode that are not in use.
        self._free: list[Any] = []
        self._connection: Callable[[], Any] | None = None
        #: Whether every call is bounded by socket timeouts, so that no extra timeout scope is
        #: needed around it (a scope costs a sixth of a round trip).
        self.bounded = False
        self._mode = "pending"
        if client is not None:
            self._adopt(client)

    def _adopt(self, client: Any) -> None:
        self._mode = "threaded"
        if isinstance(client, _aredis.RedisCluster):
            self._mode = "client"
        elif isinstance(client, _aredis.Redis):
            self._mode = "direct"
            pool = client.connection_pool
            settings = dict(pool.connection_kwargs)
            # Connecting (and its handshake) is bounded by these; see _direct for the rest.
            settings["socket_timeout"] = settings.get("socket_timeout") or self._timeout
            settings["socket_connect_timeout"] = (
                settings.get("socket_connect_timeout") or self._timeout
            )
            self._connection = partial(pool.connection_class, **settings)
            self.bounded = True
        elif self._owned:
            self.bounded = True  # from_url set its socket timeouts

    def _ensure(self) -> Any:
        if self._client is None:
            assert self._url is not None
            options = dict(self._options)
            client: Any
            if _in_asyncio():
                options.setdefault("retry", _AsyncRetry(NoBackoff(), 0))
                client = _aredis.from_url(self._url, **options)
            else:
                # redis-py's asyncio client runs only on asyncio: elsewhere (trio) use the
                # synchronous client from worker threads.
                options.setdefault("retry", _SyncRetry(NoBackoff(), 0))
                client = _redis.from_url(self._url, **options)
            self._client = client
            self._adopt(client)
        return self._client

    async def run(self, script: _Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        client = self._ensure()
        mode = self._mode
        if mode == "direct":
            try:
                return await self._direct(_pack(b"EVALSHA", script.sha_bytes, keys, args))
            except NoScriptError:
                # First use on this server (or after SCRIPT FLUSH): EVAL also caches it.
                return await self._direct(_pack(b"EVAL", script.source_bytes, keys, args))
        if mode == "threaded":
            call = partial(_run_sync, client, script, keys, args)
            return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
        try:
            return await client.evalsha(script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await client.eval(script.source, len(keys), *keys, *args)

    async def _direct(self, packed: bytes) -> Any:
        free = self._free
        fresh = not free
        if fresh:
            assert self._connection is not None
            connection = self._connection()
        else:
            connection = free.pop()
        try:
            if fresh:
                await connection.connect()
                # Sends become plain writes: with a socket timeout redis-py starts a task per
                # send to time it. Every read below carries the timeout instead.
                connection.socket_timeout = None
            await connection.send_packed_command(packed, check_health=False)
            reply = await connection.read_response(timeout=self._timeout)
        except ResponseError:
            # An error reply leaves the connection in step: keep it.
            free.append(connection)
            raise
        except BaseException:
            # Cancelled or failed mid-command: the reply may still come, so the connection is
            # out of step for good.
            with anyio.CancelScope(shield=True):
                await connection.disconnect(nowait=True)
            raise
        free.append(connection)
        return reply

    async def aclose(self) -> None:
        free, self._free = self._free, []
        for connection in free:
            await connection.disconnect()
        client = self._client
        if client is None or not self._owned:
            return
        self._client = None
        if self._mode == "threaded":
            await anyio.to_thread.run_sync(client.close)
        else:
            await client.aclose()


def _run_sync(client: Any, script: _Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
    try:
        return client.evalsha(script.sha, len(keys), *keys, *args)
    except NoScriptError:
        return client.eval(script.source, len(keys), *keys, *args)


def _wait_seconds(result: int) -> float:
    return _INF if result < 0 else result / _MICRO


class RedisBackend:
    """The limiter's logs in Redis, shared by every process and host that uses one login.

    Implements :class:`~smsc_async.LimiterBackend` with one atomic Lua script per decision, on
    the Redis server's clock. Create it from a URL, or around a client you already have (an
    asyncio ``redis.asyncio.Redis``/``RedisCluster``, or a synchronous ``redis.Redis`` that is
    then called from worker threads -- the way to use it under trio; :meth:`from_url` picks
    the right one by itself)::

        backend = RedisBackend.from_url("redis://cache:6379/0")
        backend = RedisBackend(redis.asyncio.Redis(host="cache"))

    Pass it to every :class:`~smsc_async.Session` of the login (``backend=backend``); the session
    binds it to a hash of its login (:meth:`bind`), so one backend may serve several logins.

    * ``prefix`` starts every key (keep the default unless several applications share a Redis
      and must not share limits);
    * ``lease_ttl``: seconds after which a request still in flight is presumed abandoned (its
      process died) and its slots come back; keep it above the longest a request can take;
    * ``poll_interval``: how often a request waiting on a concurrency cap full of other
      processes' requests looks again;
    * ``timeout``: seconds one Redis call may take; beyond, or when Redis cannot be reached,
      requests fail with :class:`~smsc_async.LimiterUnavailableError` (nothing is sent) --
      unless ``fallback=True``: then the backend logs a warning and keeps this process's own
      in-memory limits, trying Redis again every ``recheck`` seconds. Releases never raise: a
      release Redis cannot take is logged and its lease runs out by itself.

    Close it when done (``async with`` or :meth:`aclose`); it closes only a client it created
    (and the connections it opened itself). Use one backend per event loop.
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str = "smsc",
        namespace: str = "default",
        lease_ttl: float = DEFAULT_LEASE_TTL,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
        fallback: bool = False,
        recheck: float = DEFAULT_RECHECK,
    ) -> None:
        self._setup(
            _Store(client, owned=False, timeout=timeout),
            prefix=prefix,
            namespace=namespace,
            lease_ttl=lease_ttl,
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
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
        fallback: bool = False,
        recheck: float = DEFAULT_RECHECK,
        **client_options: Any,
    ) -> RedisBackend:
        """A backend on a client it creates (and closes) for ``url`` (``redis://``, ``rediss://``).

        The client is created on first use: redis-py's asyncio client under asyncio, its
        synchronous client in worker threads otherwise (trio). ``client_options`` go to
        ``redis.from_url``; socket timeouts default to ``timeout`` and redis-py's own retries
        are off (a retried acquire could take a slot twice).
        """
        options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "retry_on_timeout": False,
        }
        options.update(client_options)
        self = cls.__new__(cls)
        store = _Store(None, owned=True, timeout=timeout, url=url, **options)
        self._setup(
            store,
            prefix=prefix,
            namespace=namespace,
            lease_ttl=lease_ttl,
            poll_interval=poll_interval,
            timeout=timeout,
            fallback=fallback,
            recheck=recheck,
        )
        return self

    def _setup(
        self,
        store: _Store,
        *,
        prefix: str,
        namespace: str,
        lease_ttl: float,
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
        for name, number in (
            ("lease_ttl", lease_ttl),
            ("poll_interval", poll_interval),
            ("timeout", timeout),
            ("recheck", recheck),
        ):
            if not number > 0 or number == _INF:
                raise ValueError(f"{name} must be a positive number of seconds, got {number!r}")
        self._store = store
        self._prefix = prefix
        self._namespace = namespace
        self._lease_us = round(lease_ttl * _MICRO)
        self._poll_us = max(1, round(poll_interval * _MICRO))
        self._timeout = timeout
        self._fallback = fallback
        self._recheck = recheck
        self._token = secrets.token_hex(5) + ":"
        self._counter = itertools.count()
        self._reset_view()

    def _reset_view(self) -> None:
        self._base = f"{self._prefix}:{{{self._namespace}}}:"
        self._keys: dict[str, str] = {}
        self._memory: MemoryBackend | None = None
        # While falling back: when to try Redis again.
        self._down_until = -_INF

    def __repr__(self) -> str:
        return f"<smsc_async.redis.RedisBackend keys={self._base}*>"

    @property
    def namespace(self) -> str:
        """The namespace of this view's keys (the session sets it to a hash of its login)."""
        return self._namespace

    def bind(self, namespace: str) -> RedisBackend:
        """A view of this backend (same client, same settings) keeping its keys in ``namespace``.

        :class:`~smsc_async.Session` calls it with a hash of its login, so every process of
        one login meets in the same keys and different logins never do.
        """
        if not isinstance(namespace, str) or not namespace or "{" in namespace or "}" in namespace:
            raise ValueError(f"namespace must be a non-empty str without braces, got {namespace!r}")
        view = copy.copy(self)
        view._namespace = namespace
        view._reset_view()
        return view

    def key(self, demand_key: str) -> str:
        """The Redis key of the log ``demand_key`` (e.g. ``"balance:balance"``), for inspection."""
        key = self._keys.get(demand_key)
        if key is None:
            if len(self._keys) >= 4096:
                self._keys.clear()
            key = self._keys[demand_key] = self._base + demand_key
        return key

    async def aclose(self) -> None:
        """Close the Redis client if this backend created it (:meth:`from_url`). Idempotent."""
        await self._store.aclose()

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
        member = self._token + format(next(self._counter), "x")
        keys, args = self._decide_args(demands, ahead, take=True, member=member)
        try:
            result = await self._run(_DECIDE_SCRIPT, keys, args)
        except anyio.get_cancelled_exc_class():
            # The script may have run before the cancellation: take back what it took.
            with anyio.CancelScope(shield=True):
                await self._quiet_release(keys, [member, "0"], member)
            raise
        except LimiterUnavailableError as exc:
            return self._fall_back(exc).try_acquire(demands, ahead)
        if result == 0:
            return Reservation(demands, member)
        return _wait_seconds(result)

    async def wait_time(
        self, demands: Sequence[Demand], ahead: Sequence[int] | None = None
    ) -> float:
        """See :meth:`smsc_async.LimiterBackend.wait_time`; one round trip to Redis."""
        memory = self._memory_now()
        if memory is not None:
            return memory.wait_time_now(demands, ahead)
        keys, args = self._decide_args(demands, ahead, take=False, member="")
        try:
            result = await self._run(_DECIDE_SCRIPT, keys, args)
        except LimiterUnavailableError as exc:
            return self._fall_back(exc).wait_time_now(demands, ahead)
        return _wait_seconds(result)

    async def release(self, reservation: Reservation, *, sent: bool) -> None:
        """See :meth:`smsc_async.LimiterBackend.release`; one round trip, and it never raises.

        If Redis cannot take the release, the entries stay until their leases run out.
        """
        handle = reservation.handle
        if not isinstance(handle, str):
            # Taken from the in-memory fallback.
            assert self._memory is not None
            self._memory.release_now(reservation, sent=sent)
            return
        if self._down_until > -_INF:
            # Redis is known to be down: do not hold the caller up for a timeout.
            logger.debug("smsc_async: Redis down; limiter entry %s runs out with its lease", handle)
            return
        keys = [self.key(d.key) for d in reservation.demands]
        args: list[Any] = ["1" if sent else "0", handle]
        args.extend(round(d.window * _MICRO) for d in reservation.demands)
        await self._quiet_release(keys, args, handle)

    # -- internals ---------------------------------------------------------------------------

    def _decide_args(
        self,
        demands: Sequence[Demand],
        ahead: Sequence[int] | None,
        *,
        take: bool,
        member: str,
    ) -> tuple[list[str], list[Any]]:
        keys = [self.key(d.key) for d in demands]
        args: list[Any] = ["1" if take else "0", member, self._lease_us, self._poll_us]
        for i, demand in enumerate(demands):
            args.append(demand.limit)
            args.append(round(demand.window * _MICRO))
            args.append(ahead[i] if ahead is not None else 0)
        return keys, args

    async def _run(self, script: _Script, keys: Sequence[str], args: Sequence[Any]) -> int:
        store = self._store
        try:
            if store.bounded:
                # A timeout scope costs a sixth of a round trip: skip it when the socket
                # timeouts already bound the call.
                result = await store.run(script, keys, args)
            else:
                with anyio.fail_after(self._timeout):
                    result = await store.run(script, keys, args)
        except (RedisError, OSError, TimeoutError) as exc:
            raise LimiterUnavailableError(
                f"the shared limiter on Redis did not answer ({type(exc).__name__}: {exc}); "
                "nothing was sent"
            ) from exc
        if self._down_until > -_INF:
            self._down_until = -_INF
            logger.warning("smsc_async: Redis answers again; shared limits are back")
        return int(result)

    async def _quiet_release(self, keys: Sequence[str], args: Sequence[Any], member: str) -> None:
        try:
            await self._run(_RELEASE_SCRIPT, keys, args)
        except LimiterUnavailableError as exc:
            logger.warning(
                "smsc_async: could not release limiter entry %s on Redis (%s); "
                "it runs out with its lease",
                member,
                exc.__cause__ or exc,
            )

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
