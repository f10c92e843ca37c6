"""The public namespace, the session's shape and the endpoint declarations are pinned."""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from typing import Any

import pytest

import smsc_async
from smsc_async import Session
from smsc_async._endpoints import by_path, declarations, endpoint_for
from smsc_async._endpoints._base import Endpoint, Kind, Namespace
from smsc_async._errors import ERROR_TABLES, SHARED_ERRORS, api_error
from smsc_async._limits import RateLimits, charges_for, concurrency_group


def test_all_is_sorted_and_complete() -> None:
    names = smsc_async.__all__
    assert list(names) == sorted(names)
    for name in names:
        assert hasattr(smsc_async, name), name


def test_every_public_name_has_a_docstring() -> None:
    for name in smsc_async.__all__:
        obj = getattr(smsc_async, name)
        if name.startswith("__"):
            continue
        assert obj.__doc__, name


def test_error_tree_has_one_root() -> None:
    for name in smsc_async.__all__:
        obj = getattr(smsc_async, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, smsc_async.SMSCError), name


# -- the session reads like a menu -------------------------------------------------------------

EVERYDAY = {
    # sending and status
    "send", "send_list", "cost", "status", "statuses", "wait_for_status", "delete",
    # the other channels
    "call", "hlr", "ping", "send_binary", "send_email", "send_mms", "send_push", "send_social",
    "send_telegram", "send_viber", "send_whatsapp",
    # the account and numbers
    "balance", "operator_info", "lookup_operators", "wait_call",
    # history, inbox, statistics
    "get_messages", "history", "answers", "incoming", "stats", "prices", "short_link",
    "megafon_accounts",
    # the session itself
    "aclose", "limits", "with_options", "timeout", "from_env", "reconcile",
}  # fmt: skip
NAMESPACES = {
    "blacklist": {"add", "remove"},
    "contacts": {"list", "add", "change", "move", "delete"},
    "documents": {"add_invoice", "invoices", "acts"},
    "groups": {"list", "add", "change", "delete"},
    "inbound_numbers": {"list", "buy", "set_renewal"},
    "jobs": {"list", "get", "add", "cancel", "delete"},
    "notifications": {"send"},
    "operator_templates": {"list", "add"},
    "senders": {"list", "add", "change", "send_code", "confirm", "delete"},
    "templates": {"list", "add", "change", "delete"},
    "users": {"add", "change", "pay", "stat", "stats"},
}


def _public(obj: object) -> set[str]:
    return {n for n in dir(obj) if not n.startswith("_")}


def test_session_reads_like_a_menu() -> None:
    smsc = Session("demo", "demo")
    assert _public(smsc) == EVERYDAY | set(NAMESPACES)
    for name, methods in NAMESPACES.items():
        namespace = getattr(smsc, name)
        assert isinstance(namespace, Namespace)
        assert getattr(smsc, name) is namespace  # built once, shared
        assert _public(namespace) == methods, name


def _public_functions(cls: type) -> list[tuple[str, Callable[..., Any]]]:
    found = []
    for name, value in inspect.getmembers(cls):
        if name.startswith("_") and name != "__init__":
            continue
        if isinstance(value, property):
            value = value.fget
        elif hasattr(value, "func"):  # functools.cached_property
            value = value.func
        if inspect.isfunction(value):
            found.append((name, value))
    return found


CLASSES = [Session, *(type(getattr(Session("demo", "demo"), n)) for n in NAMESPACES)]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_get_type_hints_works_on_every_public_method(cls: type) -> None:
    # What pydantic's validate_call and FastAPI's introspection do: every annotation resolves.
    functions = _public_functions(cls)
    assert functions
    for name, function in functions:
        hints = typing.get_type_hints(function)
        assert "return" in hints, f"{cls.__name__}.{name}"


def test_every_public_method_has_a_docstring() -> None:
    for cls in CLASSES:
        for name, function in _public_functions(cls):
            if name != "__init__":  # the class docstring documents the constructor
                assert function.__doc__, f"{cls.__name__}.{name}"


# -- one declaration per endpoint ----------------------------------------------------------------


def test_error_tables_are_read_from_the_declarations() -> None:
    for endpoint in declarations():
        for code, cls in SHARED_ERRORS.items():
            assert endpoint.errors[code] is cls, (endpoint.name, code)
        assert ERROR_TABLES[endpoint.name] == endpoint.errors
        assert type(api_error(endpoint.name, 3, "x")) is endpoint.errors.get(3, smsc_async.APIError)
    assert set(ERROR_TABLES) == {e.name for e in declarations()}
    # Code 3 means three different things on three endpoints.
    assert ERROR_TABLES["send"][3] is smsc_async.InsufficientFundsError
    assert ERROR_TABLES["senders"][3] is smsc_async.SenderNotFoundError
    assert ERROR_TABLES["info"][3] is smsc_async.OperatorNotFoundError


def test_every_declared_endpoint_is_found() -> None:
    # An endpoint in a module the registry does not read would escape its rate rules silently.
    import importlib
    import pkgutil

    import smsc_async._endpoints as package

    found = set()
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        found |= {id(v) for v in vars(module).values() if isinstance(v, Endpoint)}
    assert found == {id(e) for e in declarations()}
    assert len(found) > 40


def test_a_requests_declaration_follows_from_its_parameters() -> None:
    # The limiter and the emulator see only a path and parameters: each declaration must be the
    # one found for them, or one charged exactly alike.
    for endpoint in declarations():
        found = endpoint_for(endpoint.path, dict(endpoint.selector))
        assert found is not None
        assert (found.rules, found.concurrency) == (endpoint.rules, endpoint.concurrency)
    assert sum(len(group) for group in by_path().values()) == len(declarations())


# Requests as the session sends them (selector included) and the rules each counts against.
CHARGES: list[tuple[str, dict[str, str], list[str]]] = [
    ("/sys/send.php", {"phones": "79161234567", "mes": "hi"}, ["send_identical"]),
    ("/sys/send.php", {"phones": "79161234567", "mes": "hi", "cost": "1"}, ["cost_identical"]),
    ("/sys/send.php", {"phones": "79161234567", "mes": "hi", "cost": "3"}, ["send_identical"]),
    ("/sys/status.php", {"id": "1", "phone": "79161234567"}, ["status_message"]),
    (
        "/sys/status.php",
        {"id": "1,2,", "phone": "79161234567,79031234567,"},
        ["status_message", "status_message", "status_batch"],
    ),
    ("/sys/status.php", {"id": "1", "phone": "79161234567", "del": "1"}, ["status_message"]),
    ("/sys/balance.php", {"cur": "1"}, ["balance"]),
    (
        "/sys/info.php",
        {"get_operator": "1", "phone": "79161234567"},
        ["operator_identical", "operator_any"],
    ),
    ("/sys/info.php", {"phone": "79161234567"}, []),  # not a declared command
    ("/sys/get.php", {"get_messages": "1"}, ["messages_identical", "messages_hourly"]),
    ("/sys/get.php", {"get_answers": "1"}, ["answers_identical"]),
    ("/sys/get.php", {"get_stat": "1"}, ["stat_any"]),
    ("/sys/get.php", {"get_price": "1"}, ["price_identical"]),
    ("/sys/get.php", {"get_mega_accounts": "1"}, []),
    ("/sys/tinyurls.php", {"get": "1", "id": "5"}, ["tinyurl_identical"]),
    ("/sys/senders.php", {"get": "1"}, ["senders_list_identical"]),
    ("/sys/senders.php", {"add": "1", "sender": "Shop"}, ["senders_add"]),
    ("/sys/senders.php", {"del": "1", "sender": "Shop"}, []),
    ("/sys/jobs.php", {"get_all": "1"}, ["jobs_identical"]),
    ("/sys/jobs.php", {"add": "1", "name": "x"}, ["jobs_identical"]),
    ("/sys/templates.php", {"get": "1"}, []),
]


@pytest.mark.parametrize(("path", "params", "rules"), CHARGES)
def test_charges_are_read_from_the_declarations(
    path: str, params: dict[str, str], rules: list[str]
) -> None:
    assert [c.rule for c in charges_for(path, params)] == rules


def test_every_rate_rule_is_charged_by_some_declaration() -> None:
    charged = {rule for _, _, rules in CHARGES for rule in rules}
    assert charged == set(RateLimits().rules())
    declared = set()
    for endpoint in declarations():
        params = {**dict(endpoint.selector), "id": "1,2", "phone": "79161234567,79031234567"}
        declared.update(c.rule for c in endpoint.charges(params))
    assert declared == set(RateLimits().rules())


def test_identical_requests_share_a_key_whatever_the_order() -> None:
    a = charges_for("/sys/send.php", {"phones": "79161234567,+79031234567", "mes": "hi"})
    b = charges_for("/sys/send.php", {"mes": "hi", "phones": "79031234567;79161234567"})
    c = charges_for("/sys/send.php", {"phones": "79161234567", "mes": "hi"})
    assert a == b != c


def test_only_status_php_has_its_own_concurrency_cap() -> None:
    assert concurrency_group("/sys/status.php") == "status"
    assert {e.path for e in declarations() if e.concurrency} == {"/sys/status.php"}
    assert concurrency_group("/sys/send.php") is None


# Commands that change account state; besides them, three calls that take no selector do.
_CHANGES = {"add", "add_group", "add_black", "add_account", "chg", "chg_group", "del"}
_CHANGES |= {"del_group", "del_black", "buy", "pay", "cancel", "send_code", "check_code"}
_UNSELECTED_WRITES = {"/sys/ping.php", "/sys/wait_call.php", "/sys/phones.php"}


def test_kinds() -> None:
    from smsc_async._endpoints.messages import COST, SEND

    assert [e for e in declarations() if e.kind is Kind.SEND] == [SEND]
    assert COST.kind is Kind.READ  # an estimate never counts toward the failed-sends rule
    for endpoint in declarations():
        if endpoint is SEND:
            continue
        command = set(dict(endpoint.selector))
        writes = bool(command & _CHANGES) or (not command and endpoint.path in _UNSELECTED_WRITES)
        assert endpoint.kind is (Kind.WRITE if writes else Kind.READ), (endpoint.path, command)


def test_readme_lists_every_call() -> None:
    from pathlib import Path

    text = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `smsc(?:\.(\w+))?` \| `(\w+)` \|", text, flags=re.M)
    listed = {(ns, method) for ns, method in rows}
    expected = {
        ("", m) for m in EVERYDAY - {"aclose", "limits", "with_options", "timeout", "from_env"}
    }
    expected |= {(ns, m) for ns, methods in NAMESPACES.items() for m in methods}
    assert listed == expected
    assert len(rows) == len(listed)


def test_log_keys_are_those_shared_backends_already_hold() -> None:
    # A Redis backend names its logs by rule and key: a rolling upgrade keeps one log per rule.
    keys = {
        c.rule: c.key
        for path, params, _ in CHARGES
        for c in charges_for(path, params)
        if c.rule not in ("status_message",) and "identical" not in c.rule
    }
    assert keys == {
        "balance": "balance",
        "operator_any": "operator",
        "messages_hourly": "messages",
        "stat_any": "stat",
        "senders_add": "senders_add",
        "status_batch": "batch",
    }
    assert charges_for("/sys/status.php", {"id": "7", "phone": "+79161234567"})[0].key == (
        "7|79161234567"
    )
    assert charges_for("/sys/balance.php", {})[0].key == "balance"
