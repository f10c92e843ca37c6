"""The gateway's documented request-rate rules, as data.

The client's limiter keeps a session inside these rules. Which rules a request counts against is
said by its endpoint's declaration (``smsc_async._endpoints``), built from the chargers below;
:func:`charges_for` reads it from there.

Every rule is "at most ``limit`` requests in any span of ``window`` seconds" over one *scope*:

* ``Scope.ENDPOINT`` -- every request the rule covers shares one log per login;
* ``Scope.IDENTICAL`` -- one log per normalized request (same endpoint, same parameters);
* ``Scope.MESSAGE`` -- one log per message (``id`` + ``phone``) asked about.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import attrs

__all__ = [
    "Block",
    "Charge",
    "Charger",
    "RateLimits",
    "Rule",
    "Scope",
    "charges_for",
    "concurrency_group",
    "fixed_charges",
    "identical",
    "identity_key",
    "per_login",
    "per_message",
    "uncharged",
]


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


# Parameters that never make two requests different: credentials and the answer's encoding.
_NOT_IDENTITY = frozenset({"login", "psw", "apikey", "fmt", "charset"})
# Parameters that hold lists of numbers: separators, order and a leading ``+`` do not matter.
_NUMBER_LISTS = frozenset({"phones", "phone"})
_SPLIT = re.compile(r"[,;\s]+")
_PLAIN_LIST = re.compile(r"[0-9,]*")  # the shape clients send: digits between commas
# Keys longer than this are hashed so that memory per key stays small (send texts can be long).
_MAX_PLAIN_KEY = 64


def _any_number_list(value: str) -> str:
    """A list of numbers in the key's form, whatever its separators and ``+`` signs."""
    return ",".join(sorted(p.lstrip("+") for p in _SPLIT.split(value) if p))


def _number_list(value: str) -> str:
    # The common shape, plain digits between commas: split on the commas, which is what the
    # general path does there, for a fifth of its cost over 100 numbers. Empty parts sort
    # first and leave only leading commas, which lstrip drops. Anything else (a "+", a space,
    # a ";") takes the general path; tests/test_limits_key.py pins the two together.
    if _PLAIN_LIST.fullmatch(value):
        return ",".join(sorted(value.split(","))).lstrip(",")
    return _any_number_list(value)


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


#: What a declaration says it is charged against: its path and parameters in, charges out.
Charger = Callable[[str, Mapping[str, str]], tuple[Charge, ...]]


def uncharged(path: str, params: Mapping[str, str]) -> tuple[Charge, ...]:
    """A call no rate rule covers (it still counts toward the concurrency caps)."""
    return ()


# Chargers whose charges never depend on the parameters, with those charges: a request to a
# path served only by such chargers needs no per-request work to know what it counts against.
_FIXED: dict[Charger, tuple[Charge, ...]] = {uncharged: ()}


# The key of each per-login log. Shared backends (Redis) name their logs by these keys, so they
# stay as the first release wrote them: processes of both versions keep counting one log.
_LOGIN_KEYS = {"stat_any": "stat", "operator_any": "operator", "messages_hourly": "messages"}
_LOGIN_KEYS |= {"status_batch": "batch"}


def _per_login(rule: str) -> Charge:
    return Charge(rule, _LOGIN_KEYS.get(rule, rule))


def per_login(*rules: str) -> Charger:
    """Charged against ``rules``, each one log per login (e.g. 10 balance requests a minute)."""
    charges = tuple(_per_login(rule) for rule in rules)

    def charge(path: str, params: Mapping[str, str]) -> tuple[Charge, ...]:
        return charges

    _FIXED[charge] = charges
    return charge


def identical(rule: str, *also: str) -> Charger:
    """Charged against ``rule`` per identical request (:func:`identity_key`), plus ``also``."""
    shared = tuple(_per_login(name) for name in also)

    def charge(path: str, params: Mapping[str, str]) -> tuple[Charge, ...]:
        return (Charge(rule, identity_key(path, params)), *shared)

    return charge


def _message_pairs(params: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    ids = [i for i in params.get("id", "").split(",") if i]
    phones = [p.lstrip("+") for p in _SPLIT.split(params.get("phone", "")) if p]
    if len(phones) == 1 and len(ids) > 1:
        phones *= len(ids)
    return zip(ids, phones, strict=False)


def per_message(rule: str, *, batch: str | None = None) -> Charger:
    """Charged against ``rule`` once per message (``id`` + ``phone``) asked about.

    A request naming several messages also counts once against ``batch``, when given.
    """
    batch_charge = None if batch is None else _per_login(batch)

    def charge(path: str, params: Mapping[str, str]) -> tuple[Charge, ...]:
        charges = [Charge(rule, f"{i}|{p}") for i, p in _message_pairs(params)]
        several = "," in params.get("id", "") or "," in params.get("phone", "")
        if batch_charge is not None and several:
            charges.append(batch_charge)
        return tuple(charges)

    return charge


def charges_for(path: str, params: Mapping[str, str]) -> tuple[Charge, ...]:
    """Which rules a request to ``path`` (e.g. ``"/sys/send.php"``) with ``params`` counts against.

    Read from the endpoint the request is declared as (its path and selector parameters); a
    request matching no declaration counts against no rule.
    """
    # On the hot path: one dict look-up and a selector or two, no function-call layers.
    index = _index if _index is not None else _load_index()
    for selector, rules in index.get(path, ()):
        for key, value in selector:
            if params.get(key) != value:
                break
        else:
            return rules(path, params)
    return ()


def fixed_charges(path: str) -> tuple[Charge, ...] | None:
    """What every request to ``path`` counts against, if that does not depend on its parameters.

    ``None`` when it does (an identical-request rule, a per-message rule, or declarations on one
    path that differ by their selector): then only :func:`charges_for` can say.
    """
    index = _index if _index is not None else _load_index()
    entries = index.get(path, ())
    # A request that matches no selector counts against nothing.
    found: set[tuple[Charge, ...]] = set() if any(not sel for sel, _ in entries) else {()}
    for _, rules in entries:
        charges = _FIXED.get(rules)
        if charges is None:
            return None
        found.add(charges)
    return found.pop() if len(found) == 1 else None


def concurrency_group(path: str) -> str | None:
    """The narrower concurrency cap a path falls under besides the per-login one, if any."""
    return _groups().get(path)


# path -> (selector, the declaration's charger), most specific selector first; built on first use
# because the declarations import this module.
_Index = dict[str, tuple[tuple[tuple[tuple[str, str], ...], Charger], ...]]
_index: _Index | None = None


def _load_index() -> _Index:
    global _index
    from ._endpoints import by_path

    _index = {
        path: tuple((e.selector, e.rules) for e in group) for path, group in by_path().items()
    }
    return _index


@functools.cache
def _groups() -> dict[str, str]:
    from ._endpoints import declarations

    return {e.path: e.concurrency for e in declarations() if e.concurrency is not None}
