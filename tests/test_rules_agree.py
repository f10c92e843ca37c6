"""The client and the emulator are written separately from the gateway's docs; here they must agree.

The emulator (``smsc_async.testing``) imports nothing of the client, so a wrong rule, a wrong
identity match or a wrong alphabet on either side makes one of these tests fail instead of being
copied to the other side.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Mapping
from pathlib import Path

import pytest

import smsc_async.testing
from smsc_async import RateLimits, segments
from smsc_async._limits import charges_for
from smsc_async.testing import GatewayLimits
from smsc_async.testing._limits import charges
from smsc_async.testing._sms import _GSM_TABLE, count_parts

TESTING = Path(smsc_async.testing.__file__).parent
Params = Mapping[str, str]


def client_charges(path: str, params: Params) -> list[tuple[str, str]]:
    """The client's ``(rule, log key)`` charges for one request."""
    return [(c.rule, c.key) for c in charges_for(path, params)]


# -- independence ------------------------------------------------------------------------------


def _sources() -> list[Path]:
    return sorted(TESTING.rglob("*.py"))


def test_the_emulator_names_no_private_client_module() -> None:
    offenders = [
        f"{path.relative_to(TESTING)}:{n}"
        for path in _sources()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"smsc_async\._", line)
    ]
    assert offenders == []


# The pytest fixture's helper builds a client Session for the user (lazily, public names only);
# it is the one file allowed to name the client package, and it is not part of the oracle.
_CLIENT_BUILDER = "_served.py"


def _wrong_imports(path: Path) -> list[str]:
    public_ok = path.name == _CLIENT_BUILDER
    wrong: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            private = node.level > 0 or (
                module.startswith("smsc_async.") and not module.startswith("smsc_async.testing")
            )
            public = module == "smsc_async" and not (
                public_ok and all(not a.name.startswith("_") for a in node.names)
            )
            if private or public:
                wrong.append(f"line {node.lineno}: from {'.' * node.level}{module}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                if (name == "smsc_async" and not public_ok) or (
                    name.startswith("smsc_async.") and not name.startswith("smsc_async.testing")
                ):
                    wrong.append(f"line {node.lineno}: import {name}")
    return wrong


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(TESTING)))
def test_the_emulator_imports_only_itself_and_third_party_code(path: Path) -> None:
    assert _wrong_imports(path) == []


def test_the_import_check_catches_a_client_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from smsc_async._limits import RateLimits\nfrom ..x import y\nimport smsc_async\n"
        "from smsc_async import Session\n"
    )
    assert len(_wrong_imports(probe)) == 4


# -- the rule tables ---------------------------------------------------------------------------


def test_both_sides_know_the_same_rules() -> None:
    assert sorted(RateLimits().rules()) == sorted(GatewayLimits().rules())


@pytest.mark.parametrize("name", sorted(GatewayLimits().rules()))
def test_each_rule_has_the_same_limit_window_and_scope(name: str) -> None:
    ours, theirs = RateLimits().rules()[name], GatewayLimits().rules()[name]
    assert (ours.limit, ours.window, ours.scope.value) == (
        theirs.limit,
        theirs.window,
        theirs.scope,
    )


def test_concurrency_caps_and_ip_blocks_agree() -> None:
    ours, theirs = RateLimits(), GatewayLimits()
    assert (ours.concurrency, ours.status_concurrency) == (
        theirs.concurrency,
        theirs.status_concurrency,
    )
    for name in ("auth_failures", "failed_sends"):
        a, b = getattr(ours, name), getattr(theirs, name)
        assert (a.count, a.window, a.duration) == (b.count, b.window, b.duration), name


def test_scaling_agrees() -> None:
    ours, theirs = RateLimits().scaled(0.01), GatewayLimits().scaled(0.01)
    for name, rule in theirs.rules().items():
        assert ours.rules()[name].window == rule.window, name
    assert ours.failed_sends.duration == theirs.failed_sends.duration


# -- which rules a request counts against, and which requests are identical ---------------------

SEND, STATUS, INFO, GET = "/sys/send.php", "/sys/status.php", "/sys/info.php", "/sys/get.php"
AUTH = {"login": "alex", "psw": "secret"}

#: Representative requests, grouped so that every pair inside a group is compared.
REQUESTS: dict[str, list[tuple[str, Params]]] = {
    "balance": [
        ("/sys/balance.php", {**AUTH}),
        ("/sys/balance.php", {**AUTH, "cur": "1", "fmt": "3"}),
    ],
    "send": [
        (SEND, {**AUTH, "phones": "79161234567", "mes": "hi"}),
        (SEND, {**AUTH, "phones": "+79161234567", "mes": "hi", "fmt": "3"}),
        (SEND, {"apikey": "k", "mes": "hi", "phones": "79161234567", "charset": "utf-8"}),
        (SEND, {**AUTH, "phones": "79161234567", "mes": "hi!"}),
        (SEND, {**AUTH, "phones": "79161234567,79261234567", "mes": "hi"}),
        (SEND, {**AUTH, "phones": "79261234567; +79161234567", "mes": "hi"}),
        (SEND, {**AUTH, "phones": "79161234567", "mes": "hi", "id": "7"}),
        (SEND, {**AUTH, "phones": "79161234567", "mes": "hi", "cost": "1"}),
        (SEND, {**AUTH, "phones": "79161234567", "mes": "hi", "cost": "1", "fmt": "1"}),
        (SEND, {**AUTH, "phones": "79161234567", "mes": "hi", "cost": "3"}),
        (SEND, {**AUTH, "phones": "79161234567", "mes": "x" * 500}),
        (SEND, {**AUTH, "phones": "79161234567", "mes": "x" * 499 + "y"}),
    ],
    "status": [
        (STATUS, {**AUTH, "id": "1", "phone": "79161234567"}),
        (STATUS, {**AUTH, "id": "1", "phone": "+79161234567", "all": "2"}),
        (STATUS, {**AUTH, "id": "2", "phone": "79161234567"}),
        (STATUS, {**AUTH, "id": "1,", "phone": "79161234567,"}),
        (STATUS, {**AUTH, "id": "1,2", "phone": "79161234567"}),
        (STATUS, {**AUTH, "id": "2,3", "phone": "79161234567,79261234567"}),
        (STATUS, {**AUTH, "id": "1,2", "phone": "79161234567", "del": "1"}),
    ],
    "info": [
        (INFO, {**AUTH, "get_operator": "1", "phone": "79161234567"}),
        (INFO, {**AUTH, "get_operator": "1", "phone": "+79161234567", "fmt": "3"}),
        (INFO, {**AUTH, "get_operator": "1", "phone": "79261234567"}),
        (INFO, {**AUTH, "get_operator": "1", "phone": "79261234567,79161234567"}),
        (INFO, {**AUTH, "get_operator": "1", "phone": "79161234567,79261234567"}),
    ],
    "get": [
        (GET, {**AUTH, "get_messages": "1", "cnt": "10"}),
        (GET, {**AUTH, "get_messages": "1", "cnt": "10", "fmt": "3"}),
        (GET, {**AUTH, "get_messages": "1", "cnt": "20"}),
        (GET, {**AUTH, "get_answers": "1"}),
        (GET, {**AUTH, "get_answers": "1", "hour": "48"}),
        (GET, {**AUTH, "get_stat": "1", "start": "01.01.2024"}),
        (GET, {**AUTH, "get_stat": "1", "start": "01.02.2024"}),
        (GET, {**AUTH, "get_price": "1"}),
        (GET, {**AUTH, "get_price": "1", "fmt": "3"}),
        (GET, {**AUTH, "get_mega_accounts": "1"}),
    ],
    "tinyurls": [
        ("/sys/tinyurls.php", {**AUTH, "get": "1", "id": "5"}),
        ("/sys/tinyurls.php", {"apikey": "k", "id": "5", "get": "1", "fmt": "3"}),
        ("/sys/tinyurls.php", {**AUTH, "get": "1", "id": "6"}),
        ("/sys/tinyurls.php", {**AUTH, "get": "1", "link": "mywebsite.ru"}),
    ],
    "senders": [
        ("/sys/senders.php", {**AUTH, "get": "1"}),
        ("/sys/senders.php", {**AUTH, "get": "1", "all": "1"}),
        ("/sys/senders.php", {**AUTH, "add": "1", "sender": "Shop"}),
        ("/sys/senders.php", {**AUTH, "add": "1", "sender": "Shop2"}),
        ("/sys/senders.php", {**AUTH, "chg": "1", "sender": "Shop"}),
    ],
    "jobs": [
        ("/sys/jobs.php", {**AUTH, "get": "1", "id": "1"}),
        ("/sys/jobs.php", {**AUTH, "id": "1", "get": "1", "fmt": "3"}),
        ("/sys/jobs.php", {**AUTH, "get": "1", "id": "2"}),
        ("/sys/jobs.php", {**AUTH, "add": "1", "name": "n", "phones": "79161234567", "mes": "m"}),
    ],
    "no rule": [
        ("/sys/templates.php", {**AUTH, "get": "1"}),
        ("/sys/phones.php", {**AUTH, "get": "1"}),
        ("/sys/users.php", {**AUTH, "get_stat": "1"}),
    ],
}


def _label(path: str, params: Params) -> str:
    asked = "&".join(f"{k}={v}"[:24] for k, v in params.items() if k not in AUTH)
    return f"{path.rsplit('/', 1)[-1]}?{asked}"


def _shared_logs(found: list[tuple[str, str]], other: list[tuple[str, str]]) -> set[str]:
    """The rules under which two requests land in one log (the same key)."""
    return {rule for rule, key in found if (rule, key) in other}


@pytest.mark.parametrize("group", sorted(REQUESTS))
def test_requests_count_against_the_same_rules_and_share_the_same_logs(group: str) -> None:
    items = REQUESTS[group]
    rules = {
        _label(*item): (
            sorted(rule for rule, _ in client_charges(*item)),
            sorted(rule for rule, _ in charges(*item)),
        )
        for item in items
    }
    assert {k: v for k, v in rules.items() if v[0] != v[1]} == {}
    shared = {
        (_label(*a), _label(*b)): (
            _shared_logs(client_charges(*a), client_charges(*b)),
            _shared_logs(charges(*a), charges(*b)),
        )
        for a, b in itertools.combinations(items, 2)
    }
    assert {k: v for k, v in shared.items() if v[0] != v[1]} == {}
    # The table is not vacuous: some pairs of each charged group do share a log.
    if group != "no rule":
        assert any(ours for ours, _ in shared.values())


# -- the GSM 03.38 alphabet and part counts ------------------------------------------------------

TEXTS = [
    *(c for c in _GSM_TABLE if c != "\x1b"),
    *"^{}\\[~]|€\f",
    "`",  # not in GSM 03.38: UCS-2
    "Привет",
    "x" * 160,
    "x" * 161,
    "x" * 306,
    "x" * 307,
    "€" * 80,
    "€" * 81,
    "я" * 70,
    "я" * 71,
    "я" * 134,
    "я" * 135,
    "😀" * 35,
    "😀" * 36,
    "a" * 152 + "€",
    "a" * 153 + "€" + "b",
]


@pytest.mark.parametrize("text", TEXTS, ids=lambda t: f"{t[:3]!r}x{len(t)}")
def test_a_text_takes_the_same_number_of_parts(text: str) -> None:
    assert segments(text).parts == count_parts(text)


def test_the_emulator_reads_numbers_only_from_a_client_table() -> None:
    assert GatewayLimits.from_numbers(RateLimits().scaled(0.01)) == GatewayLimits().scaled(0.01)

    class OnlyBalance:
        balance = RateLimits().balance.scaled(2)

    mixed = GatewayLimits.from_numbers(OnlyBalance())
    assert mixed.balance.window == 120.0
    assert mixed.balance.scope == "endpoint"  # the scope is the emulator's own
    assert mixed.send_identical == GatewayLimits().send_identical
