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
  never from the hosts' clocks, and answering with how long to wait. An acquire runs about one
  command per log and per step (``ZCARD`` bounds what counts; only a log that looks full is
  swept and counted exactly), and the client sends it precomputed bytes: the keys, one packed
  argument, and a script per shape of request with its limits written in;
* an acquire is idempotent and can be undone: its token marks the entries it took, and an
  attempt whose outcome the caller never learnt (cancelled, timed out) is undone by token and
  *tombstoned* (its token stays in the request's first log with a negative score, which never
  counts), so the script refuses it should it still run later. Each acquire also carries
  the server time after which its caller has given up, past which the script refuses it;
* keys are ``<prefix>:{<namespace>}:v2:<rule>:<mac>`` (``v2``: the layout of the entries, so
  clients of another layout never share keys with these): the session binds the namespace to a keyed
  hash of its login and derives the MAC key from its password or API key, and the part of a
  log key that names a number, a text or a message id is replaced by its MAC, so nothing in
  Redis can be matched against a guessed number or text without the login's secret. The
  ``{…}`` hash tag puts all of one login's keys in one Redis Cluster slot;
* every key carries an expiry at least as late as its last entry, so idle keys disappear. A
  concurrency cap also keeps a *sentinel* (the member ``""`` at ``-inf``, which never counts and
  is never swept), so that releasing its last place leaves the key and its expiry in place and
  the next acquire neither re-creates it nor sets its expiry again. The sentinel changes no
  count (counts look above now), so clients that do not write it share the keys safely.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import itertools
import logging
import math
import secrets
import struct
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

from smsc_async._backend import Demand, MemoryBackend, Reservation, _new_reservation
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
# The version of the key layout and the scripts' data model, part of every key: clients of
# another layout never meet ours in the same keys (they would misread each other's entries).
_LAYOUT = "v2"
# A rate log whose ZCARD reaches this (and every _SWEEP_EVERY more) is swept by the
# straight-line acquire: small sorted sets stay in Redis's compact encoding (up to 128 members
# by default), and no process's tending meets thousands of entries at once.
_SWEEP_FROM = 64
_SWEEP_EVERY = 32
# The hot path keeps up to this many idle connections of its own (_Shared._direct), from a
# pool that holds at least _KEPT_FROM: the rest stay for the client's other commands.
_KEPT = 16
_KEPT_FROM = 4 * _KEPT
# At most this many shapes of request get an acquire script of their own (the rule table gives
# a few dozen; the server caches each script it is sent).
_SHAPES_MAX = 256

# The scripts, one per kind of decision. Shared conventions:
#
# * KEYS are the request's logs, one sorted set each, in the order of its demands; a log may
#   repeat, and each occurrence takes its own entry (token, token#1, token#2...);
# * members are per-attempt tokens, scores the whole microsecond (server clock) when the entry
#   stops counting: answer time + window once answered, last heartbeat + lease + window while in
#   flight. An *undone* token stays in the first log as a tombstone with the negative score
#   -(µs when it goes): it never counts (counts look above now) and refuses its acquire;
# * a script takes one argument, ARGV[1], packed: its numbers as little-endian doubles (exact
#   for integers below 2^53, and a microsecond timestamp has 16 digits), then the token. The
#   client sends precomputed bytes for all that does not change between requests of a kind, and
#   the script unpacks them in C (each argument costs the client more than the script);
# * numbers go to redis.call as Lua numbers, which Redis writes exactly for integers below 2^53
#   (never through Lua's tostring, which keeps 14 digits);
# * the lease (µs) and the poll interval (µs) are constants of the script's text;
# * every key carries an expiry at least as late as its last entry: a key is given one when it
#   is created (an empty log is no key), and a process *tends* each key it uses (sweeps what
#   stopped counting and pushes the expiry to 2 * lease + window) at least every lease / 2, so
#   no key dies under a live entry and an idle key goes by itself.
_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local lease = @LEASE@
"""
# ``keep``: extend a key's expiry to at least ``ms`` from now, never shortening it.
_KEEP = """
local function keep(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
"""

# ``m``: the entry of KEYS[i] (``key``) for the token ``member``: the token itself, or
# token#1, token#2... for a log's second and later occurrences in the request (``seen`` counts
# them). The acquire, the release and the undo name a request's entries alike.
_MEMBER = """
  local m = member
  local occ = seen[key]
  if occ then
    m = member .. '#' .. occ
    seen[key] = occ + 1
  else
    seen[key] = 1
  end
"""

# The admission check, common to acquire and wait: ARGV[1] holds from byte @POS@ per log
# limit, window µs, and 2 * ahead + tend (tend 1: this process is due to tend the key). ZCARD
# (O(1)) bounds a log's count from above (it also counts entries that stopped counting and
# tombstones): below the limit, that settles it. Only a log that looks full is swept and
# counted exactly, and then the k-th oldest entry still counting says how long to wait.
# ``wait``: 0 admissible, -1 wait for a release of an earlier claim of the caller, else the µs
# to wait.
_CHECK = """
local spec = ARGV[1]
local poll = @POLL@
local after = now + 1  -- scores are whole µs: "> now"
local wait = 0
local pos = @POS@
local counts, exact, seen, tend, fresh, windows = {}, {}, {}, {}, {}, {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local limit, window, packed
  limit, window, packed, pos = struct.unpack('<ddd', spec, pos)
  windows[i] = window
  local c = counts[key]
  if c == nil then
    if packed % 2 == 1 then
      redis.call('ZREMRANGEBYSCORE', key, 1 - now, now)
      tend[key] = true
    end
    c = redis.call('ZCARD', key)
    if c == 0 then fresh[key] = true end
    counts[key] = c
  end
  local occ = seen[key] or 0
  seen[key] = occ + 1
  local ahead = math.floor(packed / 2)
  if c + ahead + occ >= limit then
    if not exact[key] then
      -- Sweep what stopped counting (and tombstones that ran out), then count exactly.
      if redis.call('ZREMRANGEBYSCORE', key, 1 - now, now) == c then fresh[key] = true end
      c = redis.call('ZCOUNT', key, after, '+inf')
      counts[key] = c
      exact[key] = true
    end
    -- The k-th oldest entry still counting (0-based) must go before this request has a slot.
    local k = c + ahead + occ - limit
    if k >= 0 then
      local w = -1
      if k < c then
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
end
"""

# ARGV[1]: the server time after which the caller has given up (0: unknown), the check's
# figures, the token. Returns the server time (µs) when admitted and taken, else {code, now}:
# code -2 the token was undone, -3 too late, else the wait as in the check.
_ACQUIRE_HEAD = (
    _PRELUDE
    + """
local late = struct.unpack('<d', ARGV[1], 1)
if late > 0 and now > late then return {-3, now} end
"""
)
_ACQUIRE_BODY = (
    _KEEP
    + """
local member = string.sub(ARGV[1], 9 + 24 * #KEYS)
"""
    + _CHECK.replace("@POS@", "9")
    + """
if wait ~= 0 then return {wait, now} end
seen = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local window = windows[i]
@MEMBER@  local score = now + lease + window
  if i == 1 then
    -- The first entry doubles as the tombstone check: an undo left its token there.
    if redis.call('ZADD', key, 'NX', score, m) == 0 then
      if tonumber(redis.call('ZSCORE', key, m)) < 0 then return {-2, now} end
      return now  -- this very acquire ran before (a client's retry): it holds its entries
    end
    if window == 0 and fresh[key] then redis.call('ZADD', key, '-inf', '') end
  elseif window == 0 then
    redis.call('ZADD', key, score, m, '-inf', '')
  else
    redis.call('ZADD', key, score, m)
  end
  if fresh[key] then
    redis.call('PEXPIRE', key, math.ceil((2 * lease + window) / 1000) + 1)
  elseif tend[key] then
    keep(key, math.ceil((2 * lease + window) / 1000) + 1)
  end
  fresh[key] = nil
  tend[key] = nil
end
return now
"""
)
_ACQUIRE = _ACQUIRE_HEAD + _ACQUIRE_BODY


def _shaped_acquire(shape: tuple[tuple[int, int], ...], lease_us: int) -> str:
    """The acquire for one shape of request (distinct logs of these limits and windows, µs).

    Nobody waiting ahead, no key due for tending, every log's ZCARD within its limit: that
    settles it, and the entries are taken in straight-line code with the figures written in.
    Otherwise the generic acquire runs, in the same call.

    A cap's ZCARD counts its sentinel too (see the module docstring), so a cap after the
    first log fits while its ZCARD is at most its limit, and the ZADD that takes its place
    (and puts the sentinel back if it was missing) tells which it was: two new members mean
    no sentinel, and a cap whose ZCARD was its limit without one was full: the entries just
    taken are taken back and the generic acquire decides. A cap as the first log asks for
    its sentinel (ZSCORE) only when its ZCARD is its limit.
    """
    n = len(shape)
    cards = "".join(f"local c{i} = redis.call('ZCARD', KEYS[{i}])\n" for i in range(1, n + 1))
    fits = []
    for i, (limit, window) in enumerate(shape, 1):
        if window > 0:
            fits.append(f"c{i} < {limit}")
        elif i > 1:
            fits.append(f"c{i} <= {limit}")
        else:
            fits.append(f"(c1 < {limit} or c1 == {limit} and redis.call('ZSCORE', KEYS[1], ''))")
    take = [f"  local member = string.sub(ARGV[1], {9 + 24 * n})"]
    for i, (limit, window) in enumerate(shape, 1):
        if window > 0 and limit > _SWEEP_FROM:
            # A log that admits many keeps what stopped counting until a process tends it
            # (every lease / 2): swept here too, now and then, it stays small. An emptied key
            # is a new key (its expiry is set below).
            take.append(
                f"  if c{i} >= {_SWEEP_FROM} and c{i} % {_SWEEP_EVERY} == 0 then"
                f" if redis.call('ZREMRANGEBYSCORE', KEYS[{i}], 1 - now, now) == c{i}"
                f" then c{i} = 0 end end"
            )
    for i, (limit, window) in enumerate(shape, 1):
        score = f"now + {lease_us + window}"
        # A new key gets its expiry: 2 * lease + window, in ms rounded up, + 1.
        ms = -(-(2 * lease_us + window) // 1000) + 1
        if i == 1:
            take += [
                f"  if redis.call('ZADD', KEYS[1], 'NX', {score}, member) == 0 then",
                "    if tonumber(redis.call('ZSCORE', KEYS[1], member)) < 0 then",
                "      return {-2, now}",
                "    end",
                "    return now",
                "  end",
            ]
            if window > 0:
                take.append(f"  if c1 == 0 then redis.call('PEXPIRE', KEYS[1], {ms}) end")
            else:
                take.append(
                    "  if c1 == 0 then redis.call('ZADD', KEYS[1], '-inf', '')"
                    f" redis.call('PEXPIRE', KEYS[1], {ms}) end"
                )
        elif window > 0:
            take += [
                f"  redis.call('ZADD', KEYS[{i}], {score}, member)",
                f"  if c{i} == 0 then redis.call('PEXPIRE', KEYS[{i}], {ms}) end",
            ]
        else:
            undo = " ".join(f"redis.call('ZREM', KEYS[{j}], member)" for j in range(1, i + 1))
            take += [
                f"  if redis.call('ZADD', KEYS[{i}], {score}, member, '-inf', '') == 2 then",
                f"    if c{i} == 0 then redis.call('PEXPIRE', KEYS[{i}], {ms})",
                f"    elseif c{i} == {limit} then {undo} break end",
                "  end",
            ]
    # ``repeat ... until true``: a block to ``break`` out of, to the generic acquire.
    fast = (
        f"{cards}if {' and '.join(fits)} then repeat\n"
        + "\n".join(take)
        + "\n  return now\nuntil true end\n"
    )
    return _ACQUIRE_HEAD + fast + _ACQUIRE_BODY


def _shaped_release(windows: tuple[int, ...], lease_us: int) -> str:
    """The release for one shape of request (distinct logs of these windows, µs).

    What the generic release does, in straight-line code with each log's window written in.
    """
    lines = [
        "local spec = ARGV[1]",
        "local code = struct.unpack('<d', spec, 1)",
        f"local member = string.sub(spec, {9 + 8 * len(windows)})",
        "local sent = code % 2",
        "local hold = (code - sent) / 2",
    ]

    def keep(i: int, ms: str) -> str:
        # The key's expiry pushed to at least ``ms`` from now, never shortened.
        return (
            f"local ms = {ms} "
            f"if redis.call('PTTL', KEYS[{i}]) < ms then redis.call('PEXPIRE', KEYS[{i}], ms) end"
        )

    for i, window in enumerate(windows, 1):
        if window > 0:
            ms = str(-(-(2 * lease_us + window) // 1000) + 1)
            lines += [
                "if sent == 1 or hold > 0 then",
                f"  if redis.call('ZADD', KEYS[{i}], 'XX', 'LT', 'CH', now + {window}, member)"
                " == 0 then",
                f"    redis.call('ZADD', KEYS[{i}], now + {window}, member)",
                f"    {keep(i, ms)}",
                "  end",
                f"else redis.call('ZREM', KEYS[{i}], member) end",
            ]
        else:
            lines += [
                "if hold > 0 then",
                f"  redis.call('ZADD', KEYS[{i}], now + hold, member)",
                f"  {keep(i, f'math.ceil((2 * {lease_us} + hold) / 1000) + 1')}",
                f"else redis.call('ZREM', KEYS[{i}], member) end",
            ]
    return _PRELUDE + "\n".join(lines) + "\nreturn 0\n"


# ARGV[1]: the check's figures (tend flags 0). Returns {wait, now}, the wait as in the check.
_WAIT = _PRELUDE + _CHECK.replace("@POS@", "1") + "return {wait, now}\n"

# ARGV[1]: 2 * hold µs + sent (1: answered), per log window µs, the token.
_RELEASE = (
    _PRELUDE
    + _KEEP
    + """
local spec = ARGV[1]
local code = struct.unpack('<d', spec, 1)
local member = string.sub(spec, 9 + 8 * #KEYS)
local sent = code % 2
local hold = (code - sent) / 2
local seen = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local window = struct.unpack('<d', spec, 8 * i + 1)
@MEMBER@  local span = 0
  if window > 0 then
    -- Answered (or maybe seen by the gateway): counts one window from now.
    if sent == 1 or hold > 0 then span = window end
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

# Undo an acquire whose outcome is unknown. ARGV[1]: µs the tombstone stays, per log window
# µs, the token. Takes back every entry, and leaves the tombstone in the first log (with an
# expiry that also covers any entry a process adds to that log meanwhile).
_UNDO = (
    _PRELUDE
    + _KEEP
    + """
local stay = struct.unpack('<d', ARGV[1], 1)
local member = string.sub(ARGV[1], 9 + 8 * #KEYS)
local seen = {}
for i = 1, #KEYS do
  local key = KEYS[i]
@MEMBER@  if i == 1 then
    redis.call('ZADD', key, -(now + stay), m)
    local window = struct.unpack('<d', ARGV[1], 9)
    keep(key, math.ceil(math.max(stay, 2 * lease + window) / 1000) + 1)
  else
    redis.call('ZREM', key, m)
  end
end
return 0
"""
)

# KEYS: the logs. ARGV: the server time after which the caller has given up, then per entry:
# log index, window µs, token. Extends in-flight entries that still exist (never brings back
# one released or run out, never revives a tombstone).
_RENEW = (
    _PRELUDE
    + _KEEP
    + """
local late = tonumber(ARGV[1])
if late > 0 and now > late then return -3 end
local longest = {}
for j = 2, #ARGV, 3 do
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


class _Scripts:
    """The scripts of one lease and poll interval (constants of their text)."""

    __slots__ = (
        "_shaped",
        "acquire",
        "all",
        "lease_us",
        "poll_us",
        "release",
        "renew",
        "undo",
        "wait",
    )

    def __init__(self, lease_us: int, poll_us: int) -> None:
        self.lease_us = lease_us
        self.poll_us = poll_us
        make = self._make
        self.acquire = make(_ACQUIRE)
        self.wait = make(_WAIT)
        self.release = make(_RELEASE)
        self.undo = make(_UNDO)
        self.renew = make(_RENEW)
        self.all = (self.acquire, self.wait, self.release, self.undo, self.renew)
        self._shaped: dict[tuple[tuple[int, int], ...], tuple[_Script, _Script]] = {}

    def _make(self, source: str) -> _Script:
        return _Script(
            source.replace("@MEMBER@", _MEMBER)
            .replace("@LEASE@", str(self.lease_us))
            .replace("@POLL@", str(self.poll_us))
        )

    def shaped(
        self, keys: Sequence[str], limits: list[int], windows: list[int]
    ) -> tuple[_Script, _Script]:
        """The acquire and the release for requests of this shape.

        Loaded on first use (EVALSHA, else EVAL); the generic ones when a log repeats or the
        shapes are too many.
        """
        if len(set(keys)) < len(keys):
            # A repeated log: the generic scripts count its occurrences.
            return self.acquire, self.release
        shape = tuple(zip(limits, windows, strict=True))
        scripts = self._shaped.get(shape)
        if scripts is None:
            if len(self._shaped) >= _SHAPES_MAX:
                return self.acquire, self.release
            scripts = self._shaped[shape] = (
                self._make(_shaped_acquire(shape, self.lease_us)),
                self._make(_shaped_release(tuple(windows), self.lease_us)),
            )
        return scripts


def _in_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _run_sync(client: Any, script: _Script, head: tuple[Any, ...], args: Sequence[Any]) -> Any:
    try:
        return client.execute_command("EVALSHA", script.sha, *head, *args)
    except NoScriptError:
        # First use on this server (or after SCRIPT FLUSH): EVAL also caches it.
        return client.execute_command("EVAL", script.source, *head, *args)


def _unavailable(exc: BaseException) -> LimiterUnavailableError:
    return LimiterUnavailableError(
        f"the shared limiter on Redis did not answer ({type(exc).__name__}: {exc}); "
        "nothing was sent"
    )


_DOUBLE = struct.Struct("<d")


def _pack(values: Sequence[float]) -> bytes:
    # The scripts' numbers: little-endian doubles (exact for integers below 2^53).
    return struct.pack(f"<{len(values)}d", *values)


_SENT = _DOUBLE.pack(1)
_UNSENT = _DOUBLE.pack(0)
# The acquire's deadline while the server's clock is not known yet: none.
_NO_DEADLINE = _DOUBLE.pack(0)


class _Plan:
    """What a request's demands need on Redis, computed once per distinct set of demands.

    Everything a call sends that does not change between requests is here, as bytes, so a
    decision builds only its token and its deadline: the keys (with their count, the head of
    every script call), the packed figures of each script.
    """

    __slots__ = (
        "acquire_cmd",
        "acquire_script",
        "head",
        "keys",
        "limits",
        "members",
        "release_cmd",
        "release_script",
        "release_spec",
        "sent_head",
        "tend_at",
        "unsent_head",
        "windows",
        "zero_spec",
    )

    def __init__(self, keys: list[str], demands: Sequence[Demand], scripts: _Scripts) -> None:
        self.keys = keys
        self.head: tuple[Any, ...] = (b"%d" % len(keys), *(k.encode() for k in keys))
        self.limits = [d.limit for d in demands]
        self.windows = [round(d.window * _MICRO) for d in demands]
        #: The acquire when nobody waits ahead and nothing is due (the usual case).
        self.acquire_script, self.release_script = scripts.shaped(keys, self.limits, self.windows)
        # The hot paths' commands but for their last argument.
        self.acquire_cmd = ("EVALSHA", self.acquire_script.sha.encode(), *self.head)
        self.release_cmd = ("EVALSHA", self.release_script.sha.encode(), *self.head)
        #: The acquire's and the wait's figures when nobody waits ahead and nothing is due.
        self.zero_spec = self.spec(None, None)
        self.release_spec = _pack(self.windows)
        # A release's argument but for the token: answered, or not (nothing held).
        self.sent_head = _SENT + self.release_spec
        self.unsent_head = _UNSENT + self.release_spec
        #: Until when (monotonic) none of the keys needs tending by this process.
        self.tend_at = -_INF
        # Per position, the suffix of its entry's token when its log repeats ("#1", "#2"...).
        seen: dict[str, int] = {}
        members = []
        for key in keys:
            occ = seen.get(key, 0)
            seen[key] = occ + 1
            members.append(f"#{occ}".encode() if occ else b"")
        self.members = members

    def spec(self, ahead: Sequence[int] | None, due: list[bool] | None) -> bytes:
        """The check's figures: per log limit, window, 2 * ahead + due."""
        values: list[float] = []
        for i, (limit, window) in enumerate(zip(self.limits, self.windows, strict=True)):
            packed = 2 * ahead[i] if ahead is not None else 0
            if due is not None and due[i]:
                packed += 1
            values += (limit, window, packed)
        return _pack(values)


class _Shared:
    """State shared by a backend and all its views: the client, the clock offset, the leases."""

    def __init__(
        self,
        client: Any,
        *,
        owned: bool,
        timeout: float,
        lease_us: int,
        poll_us: int,
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
        self.scripts = _Scripts(lease_us, poll_us)
        self.heartbeat = heartbeat
        self.url = url
        self.cluster = cluster
        self.options = options or {}
        self.threaded = False
        #: Whether socket timeouts bound every call, so no timeout scope is needed around it.
        self.bounded = False
        #: Ready, asyncio and bounded: a call is one plain await on the client.
        self.fast = False
        # The hot path's own connections (see _direct), or None: through the client.
        self.pool: Any = None
        self.idle: list[Any] | None = None
        self.moves = hasattr(_aredis.Connection, "should_reconnect")
        if client is not None:
            self._adopt(client)
        # Server time minus local monotonic time, in µs (a lower bound, from the last reply).
        self.offset: int | None = None
        self.token = secrets.token_hex(6).encode() + b":"
        self.counter = itertools.count()
        # Reservations in flight (token -> view, plan), renewed by the worker.
        self.live: dict[bytes, tuple[RedisBackend, _Plan]] = {}
        # Releases and undos Redis could not take: (queued at, script, plan, args).
        self.pending: deque[tuple[float, _Script, _Plan, list[Any]]] = deque()
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
        self._direct(client)

    def _direct(self, client: Any) -> None:
        # The hot path (an acquire's or a release's EVALSHA) on connections of its own, taken
        # from the client's pool and kept (up to _KEPT idle): redis-py's execute_command
        # spends as much of the client's CPU on the pool and its bookkeeping (lock, events,
        # metrics) as on the command, some 20 µs a call. Only on a client of ours (retries
        # off: none are lost) with a plain pool of at least _KEPT_FROM connections (what is
        # kept cannot starve the other commands). A connection's own send and read drop it
        # on any failure or cancellation, so a kept one is never out of step (it reconnects
        # on its next send).
        pool = getattr(client, "connection_pool", None)
        if (
            self.owned
            and client.__class__ is _aredis.Redis
            and not client.single_connection_client
            and pool.__class__ is _aredis.ConnectionPool
            and pool.max_connections >= _KEPT_FROM
        ):
            self.pool, self.idle = pool, []
        else:
            self.pool = self.idle = None

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
                for script in self.scripts.all:
                    await anyio.to_thread.run_sync(client.script_load, script.source)
                seconds, micros = await anyio.to_thread.run_sync(client.time)
            else:
                for script in self.scripts.all:
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
        self.fast = not self.threaded and self.bounded

    async def run(self, script: _Script, head: tuple[Any, ...], args: Sequence[Any]) -> Any:
        """Run ``script`` on ``head`` (the key count, the keys) and ``args``.

        Any failure is :class:`LimiterUnavailableError`, nothing else.
        """
        try:
            if self.fast:
                # The hot path: one command through the client's public API.
                try:
                    reply = await self.client.execute_command("EVALSHA", script.sha, *head, *args)
                except NoScriptError:
                    reply = await self.client.execute_command("EVAL", script.source, *head, *args)
            else:
                reply = await self._run_slow(script, head, args)
        except Exception as exc:
            self.failing = True
            raise _unavailable(exc) from exc
        self.failing = False
        return reply

    async def call(
        self, command: tuple[Any, ...], blob: bytes, script: _Script, head: tuple[Any, ...]
    ) -> Any:
        """:meth:`run`'s fast path for a precomputed ``EVALSHA`` command and its one argument.

        ``command`` is the sha, the key count and the keys; ``fast`` must be true. The hot path
        of every acquire and release.
        """
        idle = self.idle
        try:
            if idle is None:
                try:
                    reply = await self.client.execute_command(*command, blob)
                except NoScriptError:
                    return await self.run(script, head, (blob,))
            else:
                try:
                    reply = await self.direct(idle, (*command, blob))
                except NoScriptError:
                    # Not cached (a new shape, a flushed or restarted server): on the same path.
                    reply = await self.direct(idle, ("EVAL", script.source, *head, blob))
        except Exception as exc:
            self.failing = True
            raise _unavailable(exc) from exc
        if self.failing:
            self.failing = False
        return reply

    async def direct(self, idle: list[Any], args: tuple[Any, ...]) -> Any:
        """One command on a kept connection (see :meth:`_direct`); redis-py's errors as they are."""
        conn = idle.pop() if idle else await self.pool.get_connection()
        try:
            await conn.send_packed_command(conn.pack_command(*args))
            return await conn.read_response()
        finally:
            # One the server asked to reconnect (redis-py 8's maintenance notifications) goes
            # back to the pool, which reconnects it.
            if len(idle) < _KEPT and not (self.moves and conn.should_reconnect()):
                idle.append(conn)
            else:
                with anyio.CancelScope(shield=True):
                    await self.pool.release(conn)

    async def _run_slow(self, script: _Script, head: tuple[Any, ...], args: Sequence[Any]) -> Any:
        if not self.ready:
            with anyio.fail_after(self.timeout * 2):
                await self._ensure()
        client = self.client
        if self.threaded:
            call = partial(_run_sync, client, script, head, args)
            # The thread reads its own reply (its connection stays in step) even when the
            # caller gives up; the socket timeouts bound it, the scope bounds the caller.
            with anyio.fail_after(self.timeout * 2 if self.bounded else self.timeout):
                return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
        # A cancelled command makes redis-py drop its connection: never out of step.
        with anyio.fail_after(None if self.bounded else self.timeout):
            try:
                return await client.execute_command("EVALSHA", script.sha, *head, *args)
            except NoScriptError:
                return await client.execute_command("EVAL", script.source, *head, *args)

    def not_after(self, clock: float | None = None) -> int:
        """The server time (µs) after which a call sent at ``clock`` has been given up.

        ``clock`` is monotonic (default: now); ``0`` while the server's clock is not known yet.
        """
        offset = self.offset
        if offset is None:
            return 0
        if clock is None:
            clock = time.monotonic()
        return round((clock + self.timeout) * _MICRO) + offset

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
            queued, script, plan, args = entry
            if queued < horizon:
                pending.popleft()  # its entries ran out with their lease meanwhile
                continue
            try:
                # Releases are idempotent: a concurrent drain running the same one is harmless.
                await self.run(script, plan.head, args)
            except LimiterUnavailableError:
                return
            if pending and pending[0] is entry:
                pending.popleft()

    def defer(self, script: _Script, plan: _Plan, args: list[Any]) -> None:
        if len(self.pending) >= _PENDING_MAX:
            self.pending.popleft()
        self.pending.append((time.monotonic(), script, plan, args))
        self.wake_worker()

    async def _renew(self) -> None:
        if not self.live:
            return
        groups: dict[str, tuple[list[str], dict[str, int], list[Any]]] = {}
        for member, (view, plan) in list(self.live.items()):
            group = groups.get(view._base)
            if group is None:
                group = groups[view._base] = ([], {}, [self.not_after()])
            keys, index, args = group
            for key, window, suffix in zip(plan.keys, plan.windows, plan.members, strict=True):
                i = index.get(key)
                if i is None:
                    keys.append(key)
                    i = index[key] = len(keys)
                args += (i, window, member + suffix)
        for keys, _, args in groups.values():
            try:
                await self.run(self.scripts.renew, (len(keys), *keys), args)
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
        self.fast = False
        idle, self.idle = self.idle, None
        if idle:
            for conn in idle:  # back to the pool, which closes them with the client
                with contextlib.suppress(Exception):
                    await self.pool.release(conn)
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
            poll_us=max(1, round(poll_interval * _MICRO)),
            heartbeat=heartbeat,
            url=url,
            cluster=cluster,
            options=options,
        )
        self._prefix = prefix
        self._namespace = namespace
        self._mac_key = hashlib.blake2b(namespace.encode(), person=b"smsc_async.ns").digest()
        self._lease_us = round(lease_ttl * _MICRO)
        self._timeout = timeout
        self._fallback = fallback
        self._recheck = recheck
        self._reset_view()

    def _reset_view(self) -> None:
        self._base = f"{self._prefix}:{{{self._namespace}}}:{_LAYOUT}:"
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
        ``smsc:{<namespace>}:v2:balance:<mac>``; a cap (``"*concurrency"``) keeps its name.
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
                [self.key(d.key) for d in demands], demands, self._shared.scripts
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
        if self._down_until != -_INF:
            memory = self._memory_now()
            if memory is not None:
                return memory.try_acquire(demands, ahead)
        shared = self._shared
        if shared.pending and not shared.failing:
            # This process's own releases that Redis missed go first: its places are free.
            await shared.drain()
        plan = self._plans.get(demands) if demands.__class__ is tuple else None
        if plan is None:
            plan = self._plan(demands)
        member = shared.token + b"%x" % next(shared.counter)
        clock = time.monotonic()
        due = None if clock < plan.tend_at else self._due(plan, clock)
        if ahead is None and due is None:
            spec, script, command = plan.zero_spec, plan.acquire_script, plan.acquire_cmd
        else:
            script = shared.scripts.acquire
            spec, command = plan.spec(ahead, due), ("EVALSHA", script.sha, *plan.head)
        tail = spec + member
        for attempt in range(2):
            # The server time after which this caller has given up (shared.not_after, inline).
            offset = shared.offset
            if offset is None:
                blob = _NO_DEADLINE + tail
            else:
                sent_at = time.monotonic() if attempt else clock
                blob = _DOUBLE.pack(round((sent_at + shared.timeout) * _MICRO) + offset) + tail
            try:
                if shared.fast:
                    reply = await shared.call(command, blob, script, plan.head)
                else:
                    reply = await shared.run(script, plan.head, (blob,))
                if reply.__class__ is int:
                    code, server_now = 0, reply
                else:
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
            shared.offset = server_now - round(time.monotonic() * _MICRO)  # note_time
            if code == 0:
                if due is not None:
                    self._tended(plan, due, clock)
                shared.live[member] = (self, plan)
                if not shared.fast or shared.worker is not asyncio.get_running_loop():
                    shared.wake_worker()
                if self._down_until != -_INF:
                    self._recovered()
                return _new_reservation(Reservation, (demands, member))
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
        spec = plan.zero_spec if ahead is None else plan.spec(ahead, None)
        shared = self._shared
        try:
            reply = await shared.run(shared.scripts.wait, plan.head, (spec,))
            code, server_now = int(reply[0]), int(reply[1])
        except LimiterUnavailableError as exc:
            return self._fall_back(exc).wait_time_now(demands, ahead)
        except (TypeError, ValueError, IndexError) as exc:
            return self._fall_back(_unavailable(exc)).wait_time_now(demands, ahead)
        shared.note_time(server_now)
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
        if handle.__class__ is not bytes:
            # Taken from the in-memory fallback.
            assert self._memory is not None
            self._memory.release_now(reservation, sent=sent, hold=hold)
            return
        shared = self._shared
        entry = shared.live.pop(handle, None)
        plan = entry[1] if entry is not None else self._plan(reservation.demands)
        if hold > 0:
            code = _DOUBLE.pack(2 * round(min(hold, 86_400.0) * _MICRO) + (1 if sent else 0))
            blob = code + plan.release_spec + handle
        else:
            blob = (plan.sent_head if sent else plan.unsent_head) + handle
        args = [blob]
        script = plan.release_script
        if shared.failing or self._down_until > -_INF:
            # Redis is failing right now: do not hold the caller up for a timeout.
            shared.defer(script, plan, args)
            return
        try:
            if shared.fast:
                await shared.call(plan.release_cmd, blob, script, plan.head)
            else:
                await shared.run(script, plan.head, args)
        except LimiterUnavailableError as exc:
            logger.warning(
                "smsc_async: could not release limiter entry %s on Redis (%s); "
                "trying again when Redis answers",
                handle.decode(),
                exc.__cause__ or exc,
            )
            shared.defer(script, plan, args)

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

    async def _undo(self, plan: _Plan, member: bytes, *, now: bool) -> None:
        """Take back whatever an acquire of unknown outcome took, and tombstone its token."""
        shared = self._shared
        # The tombstone outlives the acquire: the script refuses it as late by then, or (clock
        # offset not known yet) its entries would have run out anyway.
        tomb_us = self._lease_us + 2 * round(shared.timeout * _MICRO)
        args: list[Any] = [_DOUBLE.pack(tomb_us) + plan.release_spec + member]
        undo = shared.scripts.undo
        if now and not shared.failing:
            try:
                await shared.run(undo, plan.head, args)
                return
            except LimiterUnavailableError:
                pass
        shared.defer(undo, plan, args)

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
