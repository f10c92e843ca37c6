"""The gateway's side of the rate rules, as plain synchronous bookkeeping.

``Windows`` decides "at most N requests in any span of W seconds" per log; ``IPGuard`` keeps the two
IP-blocking rules. Both take the time as an argument, so tests drive them with literal numbers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from smsc_async.testing._limits import GatewayBlock, GatewayRule

# A full sweep of aged-out logs runs after this many admissions, keeping memory bounded even for
# keys that are never touched again (every distinct send text makes its own identical-request log).
_SWEEP_EVERY = 1024


class Windows:
    """Sliding-window logs, one per (owner, rule, key): "at most N in any span of W seconds".

    A request is admitted when each of its logs holds fewer than ``limit`` entries younger than
    ``window`` seconds (an entry exactly ``window`` old no longer counts).

    Only admitted requests are recorded: a request refused with error 9 does not count against any
    rule, so a client that backs off after a refusal is not punished twice.
    """

    def __init__(self) -> None:
        self._logs: dict[tuple[str, str, str], tuple[float, deque[float]]] = {}
        self._since_sweep = 0

    def __len__(self) -> int:
        return len(self._logs)

    def admit(
        self, owner: str, charges: Sequence[tuple[str, str, GatewayRule]], now: float
    ) -> str | None:
        """Record one request of ``owner`` against ``(rule name, key, rule)`` charges at ``now``.

        Returns ``None`` when admitted (and recorded in every log), else the name of the first rule
        that refuses (nothing is recorded).
        """
        wanted: dict[tuple[str, str, str], tuple[GatewayRule, int]] = {}
        for name, key, rule in charges:
            log_key = (owner, name, key)
            previous = wanted.get(log_key)
            wanted[log_key] = (rule, previous[1] + 1 if previous else 1)
        for log_key, (rule, count) in wanted.items():
            entry = self._logs.get(log_key)
            if entry is None:
                if count > rule.limit:
                    return log_key[1]
                continue
            log = entry[1]
            _expire(log, now - rule.window)
            if len(log) + count > rule.limit:
                return log_key[1]
        for log_key, (rule, count) in wanted.items():
            entry = self._logs.get(log_key)
            if entry is None:
                entry = self._logs[log_key] = (rule.window, deque())
            entry[1].extend([now] * count)
        self._since_sweep += 1
        if self._since_sweep >= _SWEEP_EVERY:
            self.sweep(now)
        return None

    def sweep(self, now: float) -> None:
        """Drop every log whose entries have all aged out."""
        self._since_sweep = 0
        stale = [k for k, (window, log) in self._logs.items() if not log or log[-1] <= now - window]
        for key in stale:
            del self._logs[key]


def _expire(log: deque[float], horizon: float) -> None:
    while log and log[0] <= horizon:
        log.popleft()


class IPGuard:
    """The two IP blocks: too many authorization failures, and too many failed sends in a row."""

    def __init__(self, *, auth: GatewayBlock, sends: GatewayBlock) -> None:
        self._auth = auth
        self._sends = sends
        self._auth_failures: dict[str, deque[float]] = {}
        self._send_failures: dict[str, deque[float]] = {}
        self._blocked: dict[str, float] = {}

    def blocked(self, ip: str, now: float) -> bool:
        """Whether ``ip`` is blocked at ``now`` (an expired block is forgotten)."""
        until = self._blocked.get(ip)
        if until is None:
            return False
        if now >= until:
            del self._blocked[ip]
            return False
        return True

    def blocked_until(self, ip: str) -> float | None:
        """When the current block of ``ip`` ends, if it has one."""
        return self._blocked.get(ip)

    def auth_failed(self, ip: str, now: float) -> None:
        """Count an authorization failure; the ``count``-th within the window blocks the IP."""
        self._count(self._auth_failures, self._auth, ip, now)

    def send_failed(self, ip: str, now: float) -> None:
        """Count a send answered with an error; ``count`` in a row within the window block."""
        self._count(self._send_failures, self._sends, ip, now)

    def send_succeeded(self, ip: str) -> None:
        """A successful send breaks the row of failed sends."""
        self._send_failures.pop(ip, None)

    def _count(
        self, logs: dict[str, deque[float]], rule: GatewayBlock, ip: str, now: float
    ) -> None:
        log = logs.setdefault(ip, deque())
        _expire(log, now - rule.window)
        log.append(now)
        if len(log) >= rule.count:
            self._blocked[ip] = now + rule.duration
            del logs[ip]

    def sweep(self, now: float) -> None:
        """Forget aged-out failures and expired blocks."""
        for logs, rule in ((self._auth_failures, self._auth), (self._send_failures, self._sends)):
            for ip in [ip for ip, log in logs.items() if not log or log[-1] <= now - rule.window]:
                del logs[ip]
        for ip in [ip for ip, until in self._blocked.items() if now >= until]:
            del self._blocked[ip]
