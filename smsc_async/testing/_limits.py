"""The gateway's request-rate rules as the emulator enforces them, written from its documentation.

This module is the emulator's own reading of the docs; it does not import the client. The client
keeps its rules in ``smsc_async.RateLimits``; ``tests/test_rules_agree.py`` compares the two rule by
rule and request by request, so a wrong rule on either side shows up as a failing test instead
of being mirrored.

Every rule is "at most ``limit`` requests in any span of ``window`` seconds", counted per login in
one log per *scope*:

* ``"endpoint"`` -- every request the rule covers shares one log;
* ``"identical"`` -- one log per identical request (see :func:`identity`);
* ``"message"`` -- one log per message (``id`` + ``phone``) a status request asks about.

Sources: the seed pages in ``shared/seeds/`` (quoted with their file number) and the research
notes ``shared/smsc-api.md`` (quoted with their section) where the seeds say nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import attrs

__all__ = [
    "REFUSALS",
    "GatewayBlock",
    "GatewayLimits",
    "GatewayRule",
    "charges",
    "concurrency_group",
]

Scope = Literal["endpoint", "identical", "message"]
_SCOPES = ("endpoint", "identical", "message")
_MINUTE = 60.0
_HOUR = 3600.0


def _positive(inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


@attrs.frozen(kw_only=True)
class GatewayRule:
    """At most ``limit`` requests in any span of ``window`` seconds, one log per ``scope``."""

    limit: int = attrs.field(validator=_positive)
    window: float = attrs.field(validator=_positive)
    scope: Scope = attrs.field(default="endpoint", validator=attrs.validators.in_(_SCOPES))

    def scaled(self, factor: float) -> GatewayRule:
        """The same rule with its window multiplied by ``factor``."""
        return attrs.evolve(self, window=self.window * factor)


@attrs.frozen(kw_only=True)
class GatewayBlock:
    """``count`` failures within ``window`` seconds block the IP for ``duration`` seconds."""

    count: int = attrs.field(validator=_positive)
    window: float = attrs.field(validator=_positive)
    duration: float = attrs.field(validator=_positive)

    def scaled(self, factor: float) -> GatewayBlock:
        """The same block with its window and duration multiplied by ``factor``."""
        return attrs.evolve(self, window=self.window * factor, duration=self.duration * factor)


def _per_minute(limit: int, scope: Scope = "endpoint") -> GatewayRule:
    return GatewayRule(limit=limit, window=_MINUTE, scope=scope)


@attrs.frozen(kw_only=True)
class GatewayLimits:
    """Every rate rule the emulator enforces, with the documentation's numbers as defaults.

    ``GatewayLimits().scaled(0.01)`` runs an hour of rules in 36 seconds. Variants come from
    ``attrs.evolve``::

        limits = attrs.evolve(GatewayLimits(), balance=GatewayRule(limit=1000, window=60))
    """

    # seeds 000/001/003: "This error also occurs when you try to send fifteen or more requests
    # simultaneously from different connections under the same username" -> 14 at once pass.
    #: Most simultaneous requests of one login (the fifteenth at once is refused).
    concurrency: int = attrs.field(default=14, validator=_positive)
    # smsc-api.md §4.2 (status page): error 9 for "five or more" concurrent requests.
    #: Most simultaneous status.php requests of one login (the fifth at once is refused).
    status_concurrency: int = attrs.field(default=4, validator=_positive)

    # seed 002: "The server does not accept more than one identical request for sending SMS
    # messages within a minute".
    send_identical: GatewayRule = _per_minute(1, "identical")
    # smsc-api.md §3.4 (send error 9): "more than five identical cost requests ... within a
    # minute".
    cost_identical: GatewayRule = _per_minute(5, "identical")
    # smsc-api.md §4.2 (status error 9): "more than five status requests for the same message
    # ... within a minute".
    status_message: GatewayRule = _per_minute(5, "message")
    # smsc-api.md §4.2: "... or more than one batch (mass) request, within a minute".
    status_batch: GatewayRule = _per_minute(1)
    # seed 001: "The server does not accept more than ten balance requests per minute".
    balance: GatewayRule = _per_minute(10)
    # seed 003: "The server does not accept more than three identical requests within a minute
    # to receive information about the subscriber's operator".
    operator_identical: GatewayRule = _per_minute(3, "identical")
    # seed 003: "The server also blocks sending more than 100 requests per minute to receive
    # operator data".
    operator_any: GatewayRule = _per_minute(100)
    # seed 003: "The server does not accept more than three identical requests within a minute
    # or thirty requests within an hour to get the history of outgoing messages".
    messages_identical: GatewayRule = _per_minute(3, "identical")
    messages_hourly: GatewayRule = GatewayRule(limit=30, window=_HOUR)
    # seed 003: "The server does not accept more than three identical requests within a minute
    # to receive a list of incoming messages".
    answers_identical: GatewayRule = _per_minute(3, "identical")
    # seed 003: "The server does not accept more than three identical requests within a minute
    # to receive a list of tariffs".
    price_identical: GatewayRule = _per_minute(3, "identical")
    # seed 003: "The server does not accept more than three requests per minute to get
    # statistics".
    stat_any: GatewayRule = _per_minute(3)
    # seed 003: "The server does not accept more than three identical requests within a minute
    # to get information about a short link".
    tinyurl_identical: GatewayRule = _per_minute(3, "identical")
    # seed 000: "Attempt to send more than three identical requests to get a list of available
    # sender names or five requests to create a new sender name within a minute."
    senders_list_identical: GatewayRule = _per_minute(3, "identical")
    senders_add: GatewayRule = _per_minute(5)
    # smsc-api.md §8.3 (jobs error 9): "more than one identical jobs request within a minute".
    jobs_identical: GatewayRule = _per_minute(1, "identical")

    # smsc-api.md §10 (FAQ 99): "5 authorization errors within 30 min -> IP blocked 30 min".
    #: Authorization failures that block the IP (error 4).
    auth_failures: GatewayBlock = GatewayBlock(count=5, window=30 * _MINUTE, duration=30 * _MINUTE)
    # smsc-api.md §10 (FAQ 99): "100 erroneous send requests in a row within 10 min -> IP
    # blocked 10 min".
    #: Failed sends in a row that block the IP (error 4).
    failed_sends: GatewayBlock = GatewayBlock(count=100, window=10 * _MINUTE, duration=10 * _MINUTE)

    def scaled(self, factor: float) -> GatewayLimits:
        """The same rules with every window (and block duration) multiplied by ``factor``."""
        if not factor > 0:
            raise ValueError(f"factor must be > 0, got {factor!r}")
        changes: dict[str, Any] = {}
        for field in attrs.fields(GatewayLimits):
            value = getattr(self, field.name)
            if isinstance(value, (GatewayRule, GatewayBlock)):
                changes[field.name] = value.scaled(factor)
        return attrs.evolve(self, **changes)

    def rules(self) -> dict[str, GatewayRule]:
        """Every request-rate rule by its name."""
        return {
            f.name: getattr(self, f.name)
            for f in attrs.fields(GatewayLimits)
            if isinstance(getattr(self, f.name), GatewayRule)
        }

    @classmethod
    def from_numbers(cls, source: object) -> GatewayLimits:
        """The emulator's rules with the numbers read from ``source``'s same-named attributes.

        ``source`` may be any object with this class's field names, such as a client
        ``smsc_async.RateLimits``: only ``limit``/``window`` of each rule, ``count``/``window``/
        ``duration`` of each block and the two concurrency caps are read (a field it lacks keeps
        the documented number). What a rule counts and how identical requests are matched stay
        the emulator's own.
        """
        if isinstance(source, GatewayLimits):
            return source
        default = cls()
        changes: dict[str, Any] = {}
        for field in attrs.fields(GatewayLimits):
            value = getattr(default, field.name)
            given = getattr(source, field.name, None)
            if given is None:
                continue  # a field ``source`` lacks keeps the documented number
            if isinstance(value, GatewayRule):
                changes[field.name] = attrs.evolve(
                    value, limit=int(given.limit), window=float(given.window)
                )
            elif isinstance(value, GatewayBlock):
                changes[field.name] = GatewayBlock(
                    count=int(given.count),
                    window=float(given.window),
                    duration=float(given.duration),
                )
            else:
                changes[field.name] = int(given)
        return cls(**changes)


#: The text of error 9 when a rule refuses, where a seed's error table words it.
REFUSALS: Mapping[str, str] = {
    # seed 001
    "balance": "Attempt to send more than ten balance requests within a minute.",
    # seed 000
    **dict.fromkeys(
        ("senders_list_identical", "senders_add"),
        "Attempt to send more than three identical requests to get a list of available sender"
        " names or five requests to create a new sender name within a minute.",
    ),
    # seed 003, one table per get.php command and per script
    **dict.fromkeys(
        ("messages_identical", "messages_hourly"),
        "Attempt to send more than three identical requests to get the history of outgoing"
        " messages within a minute or more than thirty requests within an hour.",
    ),
    # (the seed's statistics table repeats the incoming-messages sentence word for word)
    **dict.fromkeys(
        ("answers_identical", "stat_any"),
        "Attempt to send more than three identical requests to receive a list of incoming"
        " messages within a minute.",
    ),
    "price_identical": "Attempt to send more than three identical requests for a list of fares"
    " within a minute.",
    **dict.fromkeys(
        ("operator_identical", "operator_any"),
        "Attempt to send more than three identical requests or any 100 requests for information"
        " about the subscriber's operator within a minute.",
    ),
    "tinyurl_identical": "Attempt to send more than three identical requests for short link"
    " information within a minute.",
}


# -- which rules a request counts against ---------------------------------------------------------

# Credentials name the account, not the request; ``fmt``/``charset`` only change how the answer
# is written. The docs do not say whether the gateway tells such requests apart; the emulator
# reads "identical" the stricter way (they are the same request), so a client that passes here
# passes there.
_NOT_ASKED = frozenset({"login", "psw", "apikey", "fmt", "charset"})
# send.php documents ``phones`` as "separated by , or ;" with an optional "+" (smsc-api.md §3.1);
# status.php and get.php take ``phone`` lists the same way.
_NUMBER_LISTS = frozenset({"phones", "phone"})
_LIST_SEPARATORS = re.compile(r"[,;\s]+")
# Longer keys are hashed, so a log's key stays small whatever the length of a text.
_MAX_PLAIN_KEY = 64


def _numbers(value: str) -> list[str]:
    return [p.lstrip("+") for p in _LIST_SEPARATORS.split(value) if p.strip("+")]


def identity(path: str, params: Mapping[str, str]) -> str:
    """The key under which two requests are *identical*: same script, same question.

    The order of parameters does not matter, nor the order, separators or ``+`` of a list of
    numbers (the same recipients are the same request); credentials and the answer's format
    are left out.
    """
    parts = [path]
    for name in sorted(params):
        if name in _NOT_ASKED:
            continue
        value = params[name]
        if name in _NUMBER_LISTS:
            value = ",".join(sorted(_numbers(value)))
        parts.append(f"{name}={value}")
    key = "\n".join(parts)
    if len(key) > _MAX_PLAIN_KEY:
        return path + "#" + hashlib.blake2b(key.encode(), digest_size=12).hexdigest()
    return key


def _on(params: Mapping[str, str], name: str) -> bool:
    return params.get(name, "0").strip() not in ("", "0")


def message_pairs(params: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    """The ``(id, phone)`` messages a status.php request asks about, in request order.

    smsc-api.md §4: "phone ... comma list when asking for several messages — listed in the same
    order as ids"; one phone with several ids asks about each id for that phone.
    """
    ids = [i.strip() for i in params.get("id", "").split(",") if i.strip()]
    phones = _numbers(params.get("phone", ""))
    if len(phones) == 1 and len(ids) > 1:
        phones *= len(ids)
    return zip(ids, phones, strict=False)


def charges(path: str, params: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(rule name, log key)`` for every rule a request to ``path`` counts against."""
    name = path.rsplit("/", 1)[-1]
    if name == "balance.php":
        return [("balance", "")]
    if name == "send.php":
        # "cost=1 – only compute cost, don't send" (smsc-api.md §3.1) has its own rule.
        rule = "cost_identical" if params.get("cost", "").strip() == "1" else "send_identical"
        return [(rule, identity(path, params))]
    if name == "status.php":
        found = [("status_message", f"{i}|{p}") for i, p in message_pairs(params)]
        # A batch is several messages, or one written with a trailing comma (smsc-api.md §4:
        # "To keep the batch response format for a single message, append a comma"). Deleting
        # (del=1) is not a status request and does not count as one.
        batch = "," in params.get("id", "") or "," in params.get("phone", "")
        if batch and not _on(params, "del"):
            found.append(("status_batch", ""))
        return found
    if name == "info.php" and _on(params, "get_operator"):
        return [("operator_identical", identity(path, params)), ("operator_any", "")]
    if name == "get.php":
        # The same order as the endpoint's dispatch: the first command flag set wins.
        if _on(params, "get_messages"):
            return [("messages_identical", identity(path, params)), ("messages_hourly", "")]
        if _on(params, "get_answers"):
            return [("answers_identical", identity(path, params))]
        if _on(params, "get_stat"):
            return [("stat_any", "")]
        if _on(params, "get_price"):
            return [("price_identical", identity(path, params))]
        return []
    if name == "tinyurls.php" and _on(params, "get"):
        return [("tinyurl_identical", identity(path, params))]
    if name == "senders.php":
        if _on(params, "add"):
            return [("senders_add", "")]
        if _on(params, "get"):
            return [("senders_list_identical", identity(path, params))]
        return []
    if name == "jobs.php":
        return [("jobs_identical", identity(path, params))]
    return []


def concurrency_group(path: str) -> str | None:
    """The narrower concurrency cap ``path`` falls under besides the per-login one, if any."""
    return "status" if path.endswith("/status.php") else None
