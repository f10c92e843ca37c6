"""The gateway's documented request-rate rules, as data.

Both sides of the wire read this module: the client's limiter keeps a session inside the rules and
the emulator (``smsc_async.testing``) enforces them, so a rule changes in exactly one place.

Every rule is "at most ``limit`` requests in any span of ``window`` seconds" over one *scope*:

* ``Scope.ENDPOINT`` -- every request the rule covers shares one log per login;
* ``Scope.IDENTICAL`` -- one log per normalized request (same endpoint, same parameters);
* ``Scope.MESSAGE`` -- one log per message (``id`` + ``phone``) asked about.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import attrs

__all__ = ["Block", "Charge", "RateLimits", "Rule", "Scope", "charges_for", "identity_key"]


class Scope(enum.Enum):
    """What a rule counts requests by."""

    ENDPOINT = "endpoint"
    IDENTICAL = "identical"
    MESSAGE = "message"


def _positive(inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


@attrs.frozen(kw_only=True)
class Rule:
    """At most ``limit`` requests in any span of ``window`` seconds, counted per ``scope``."""

    limit: int = attrs.field(validator=_positive)
    window: float = attrs.field(validator=_positive)
    scope: Scope = Scope.ENDPOINT

    def scaled(self, factor: float) -> Rule:
        """The same rule with its window multiplied by ``factor``."""
        return attrs.evolve(self, window=self.window * factor)


@attrs.frozen(kw_only=True)
class Block:
    """``count`` failures within ``window`` seconds block the IP for ``duration`` seconds."""

    count: int = attrs.field(validator=_positive)
    window: float = attrs.field(validator=_positive)
    duration: float = attrs.field(validator=_positive)

    def scaled(self, factor: float) -> Block:
        """The same block rule with both of its times multiplied by ``factor``."""
        return attrs.evolve(self, window=self.window * factor, duration=self.duration * factor)


_MINUTE = 60.0
_HOUR = 3600.0


def _rule(limit: int, window: float, scope: Scope = Scope.ENDPOINT) -> Rule:
    return Rule(limit=limit, window=window, scope=scope)


@attrs.frozen(kw_only=True)
class RateLimits:
    """Every documented rate rule of one login.

    ``RateLimits()`` is the gateway's documented set; ``RateLimits().scaled(0.01)`` runs an hour of
    rules in 36 seconds (tests, benchmarks and the emulator use it). Variants come from
    ``attrs.evolve``::

        limits = attrs.evolve(RateLimits(), concurrency=8)
    """

    #: Simultaneous requests per login across all endpoints (the gateway refuses 15 or more).
    concurrency: int = attrs.field(default=14, validator=_positive)
    #: Simultaneous status.php requests (its page says five or more are refused).
    status_concurrency: int = attrs.field(default=4, validator=_positive)

    send_identical: Rule = _rule(1, _MINUTE, Scope.IDENTICAL)
    cost_identical: Rule = _rule(5, _MINUTE, Scope.IDENTICAL)
    status_message: Rule = _rule(5, _MINUTE, Scope.MESSAGE)
    status_batch: Rule = _rule(1, _MINUTE)
    balance: Rule = _rule(10, _MINUTE)
    operator_identical: Rule = _rule(3, _MINUTE, Scope.IDENTICAL)
    operator_any: Rule = _rule(100, _MINUTE)
    messages_identical: Rule = _rule(3, _MINUTE, Scope.IDENTICAL)
    messages_hourly: Rule = _rule(30, _HOUR)
    answers_identical: Rule = _rule(3, _MINUTE, Scope.IDENTICAL)
    price_identical: Rule = _rule(3, _MINUTE, Scope.IDENTICAL)
    stat_any: Rule = _rule(3, _MINUTE)
    tinyurl_identical: Rule = _rule(3, _MINUTE, Scope.IDENTICAL)
    senders_list_identical: Rule = _rule(3, _MINUTE, Scope.IDENTICAL)
    senders_add: Rule = _rule(5, _MINUTE)
    jobs_identical: Rule = _rule(1, _MINUTE, Scope.IDENTICAL)

    #: 5 authorization failures within 30 minutes block the IP for 30 minutes.
    auth_failures: Block = Block(count=5, window=30 * _MINUTE, duration=30 * _MINUTE)
    #: 100 failed sends in a row within 10 minutes block the IP for 10 minutes.
    failed_sends: Block = Block(count=100, window=10 * _MINUTE, duration=10 * _MINUTE)

    def scaled(self, factor: float) -> RateLimits:
        """The same rules with every time window (and block duration) multiplied by ``factor``."""
        if not factor > 0:
            raise ValueError(f"factor must be > 0, got {factor!r}")
        changes: dict[str, object] = {}
        for field in attrs.fields(RateLimits):
            value = getattr(self, field.name)
            if isinstance(value, (Rule, Block)):
                changes[field.name] = value.scaled(factor)
        return attrs.evolve(self, **changes)  # type: ignore[arg-type]

    def rules(self) -> dict[str, Rule]:
        """Every request-rate rule by its field name."""
        return {
            f.name: getattr(self, f.name)
            for f in attrs.fields(RateLimits)
            if isinstance(getattr(self, f.name), Rule)
        }


class Charge(NamedTuple):
    """One request's entry against one rule: the rule's name and the key of its log."""

    # A NamedTuple, not attrs: one is built per rule per request, on the hot path.
    rule: str
    key: str


_BALANCE = (Charge("balance", "balance"),)
_STAT = (Charge("stat_any", "stat"),)
_SENDERS_ADD = (Charge("senders_add", "senders_add"),)


# Parameters that never make two requests different: credentials and the answer's encoding.
_NOT_IDENTITY = frozenset({"login", "psw", "apikey", "fmt", "charset"})
# Parameters that hold lists of numbers: separators, order and a leading ``+`` do not matter.
_NUMBER_LISTS = frozenset({"phones", "phone"})
_SPLIT = re.compile(r"[,;\s]+")
# Keys longer than this are hashed so that memory per key stays small (send texts can be long).
_MAX_PLAIN_KEY = 64


def _number_list(value: str) -> str:
    return ",".join(sorted(p.lstrip("+") for p in _SPLIT.split(value) if p))


def identity_key(path: str, params: Mapping[str, str]) -> str:
    """The key under which two requests count as *identical* for the gateway.

    Same endpoint and same parameters, whatever the order of fields, the list separators or a ``+``
    on numbers; credentials and the response format are left out.
    """
    parts = [path]
    for name in sorted(params):
        if name in _NOT_IDENTITY:
            continue
        value = params[name]
        if name in _NUMBER_LISTS:
            value = _number_list(value)
        parts.append(f"{name}={value}")
    key = "&".join(parts)
    if len(key) > _MAX_PLAIN_KEY:
        import hashlib  # only long keys need it; importing it costs ~3 ms at startup

        return path + "#" + hashlib.blake2b(key.encode(), digest_size=12).hexdigest()
    return key


def _message_pairs(params: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    ids = [i for i in params.get("id", "").split(",") if i]
    phones = [p.lstrip("+") for p in _SPLIT.split(params.get("phone", "")) if p]
    if len(phones) == 1 and len(ids) > 1:
        phones *= len(ids)
    return zip(ids, phones, strict=False)


def _flag(params: Mapping[str, str], name: str) -> bool:
    return params.get(name, "0") not in ("", "0")


def charges_for(path: str, params: Mapping[str, str]) -> tuple[Charge, ...]:
    """Which rules a request to ``path`` (e.g. ``"/sys/send.php"``) with ``params`` counts against.

    The same table drives the client's limiter and the emulator's enforcement.
    """
    name = path[path.rfind("/") + 1 :]
    if name == "balance.php":
        return _BALANCE
    if name == "send.php":
        rule = "cost_identical" if params.get("cost") == "1" else "send_identical"
        return (Charge(rule, identity_key(path, params)),)
    if name == "status.php":
        pairs = list(_message_pairs(params))
        charges = [Charge("status_message", f"{i}|{p}") for i, p in pairs]
        batch = "," in params.get("id", "") or "," in params.get("phone", "")
        if batch and not _flag(params, "del"):
            charges.append(Charge("status_batch", "batch"))
        return tuple(charges)
    if name == "info.php" and _flag(params, "get_operator"):
        return (
            Charge("operator_identical", identity_key(path, params)),
            Charge("operator_any", "operator"),
        )
    if name == "get.php":
        if _flag(params, "get_messages"):
            return (
                Charge("messages_identical", identity_key(path, params)),
                Charge("messages_hourly", "messages"),
            )
        if _flag(params, "get_answers"):
            return (Charge("answers_identical", identity_key(path, params)),)
        if _flag(params, "get_stat"):
            return _STAT
        if _flag(params, "get_price"):
            return (Charge("price_identical", identity_key(path, params)),)
        return ()
    if name == "tinyurls.php":
        return (Charge("tinyurl_identical", identity_key(path, params)),)
    if name == "senders.php":
        if _flag(params, "add"):
            return _SENDERS_ADD
        if _flag(params, "get"):
            return (Charge("senders_list_identical", identity_key(path, params)),)
        return ()
    if name == "jobs.php":
        return (Charge("jobs_identical", identity_key(path, params)),)
    return ()


def concurrency_group(path: str) -> str | None:
    """The narrower concurrency cap a path falls under besides the per-login one, if any."""
    return "status" if path.endswith("/status.php") else None
