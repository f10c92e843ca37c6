"""The remaining management scripts: operator templates, documents, notifications, inbound numbers.

Covers ``op_templates.php``, ``documents.php``, ``ping.php`` and ``receive_phones.php``. Their
commands and parameters are known from client libraries, their answers are not documented; we read
(and the emulator writes), in JSON:

* op_templates.php ``add`` → ``{"id": N}``; ``get`` → a list of ``{"id", "sender", "msg",
  "mts_srv", "mts_trn", "mega_srv", "mega_trn", "bee_srv", "bee_trn", "tele2_srv",
  "tele2_trn"}``;
* documents.php ``add_account`` → ``{"id": N}`` (the invoice); ``get_account`` → a list of
  ``{"id", "num", "date", "sum", "service", "paid"}``; ``get_act`` → a list of ``{"id", "num",
  "date", "sum", "invoice"}``; error 3: no such sub-client;
* ping.php → ``{"result": "OK"}``; error 3: no such notification group;
* receive_phones.php ``gets`` → a list of ``{"phone", "cost", "bought", "noprolong"}``; ``buy`` →
  ``{"phone", "cost"}`` (``cost`` what was charged for the rest of the month); ``chg`` →
  ``{"result": "OK"}``; error 3: the number is not for sale (``buy``) or not the account's
  (``chg``), error 5: not enough money;

``wait_call.php`` (``{"id", "phone"}``) and get.php ``get_mega_accounts`` (a list of
``{"account", "sms", "cost"}``) are calls of the session itself, in ``info`` and ``data``.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from .. import models
from .._errors import InsufficientFundsError, NotFoundError
from .._validation import check_flag, check_phone, check_sender, check_str
from ._base import Endpoint, Kind, Namespace, as_list, id_of
from ._common import check_record_id, expect_ok, ok_endpoint

__all__ = [
    "OPERATORS",
    "Documents",
    "InboundNumbers",
    "Notifications",
    "Operator",
    "OperatorTemplates",
]

#: Operators an operator template is registered with: MTS, MegaFon, Beeline, Tele2.
OPERATORS = ("mts", "mega", "bee", "tele2")
Operator = Literal["mts", "mega", "bee", "tele2"]

_OP_TEMPLATES = "/sys/op_templates.php"
_DOCUMENTS = "/sys/documents.php"
_RECEIVE_PHONES = "/sys/receive_phones.php"
_NOT_FOUND = {3: NotFoundError}


def _cost_of(data: Any) -> Any:
    return data.get("cost") if isinstance(data, dict) else data


ADD_OP_TEMPLATE = Endpoint(
    "op_templates", _OP_TEMPLATES, lambda: int, (("add", "1"),), kind=Kind.WRITE, adapt=id_of
)
OP_TEMPLATES = Endpoint(
    "op_templates",
    _OP_TEMPLATES,
    lambda: list[models.OperatorTemplate],
    (("get", "1"),),
    adapt=as_list,
)
ADD_INVOICE = Endpoint(
    "documents",
    _DOCUMENTS,
    lambda: int,
    (("add_account", "1"),),
    errors=_NOT_FOUND,
    kind=Kind.WRITE,
    adapt=id_of,
)
INVOICES = Endpoint(
    "documents",
    _DOCUMENTS,
    lambda: list[models.Invoice],
    (("get_account", "1"),),
    errors=_NOT_FOUND,
    adapt=as_list,
)
ACTS = Endpoint(
    "documents",
    _DOCUMENTS,
    lambda: list[models.Act],
    (("get_act", "1"),),
    errors=_NOT_FOUND,
    adapt=as_list,
)
NOTIFY = ok_endpoint("ping", "/sys/ping.php", errors=_NOT_FOUND)
_RECEIVE_ERRORS = {3: NotFoundError, 5: InsufficientFundsError}
INBOUND_NUMBERS = Endpoint(
    "receive_phones",
    _RECEIVE_PHONES,
    lambda: list[models.InboundNumber],
    (("gets", "1"),),
    errors=_RECEIVE_ERRORS,
    adapt=as_list,
)
BUY_INBOUND = Endpoint(
    "receive_phones",
    _RECEIVE_PHONES,
    lambda: Decimal,
    (("buy", "1"),),
    errors=_RECEIVE_ERRORS,
    kind=Kind.WRITE,
    adapt=_cost_of,
)
RENEWAL = ok_endpoint("receive_phones", _RECEIVE_PHONES, (("chg", "1"),), errors=_RECEIVE_ERRORS)


def _operators(value: object, name: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Iterable) or isinstance(items, (bytes, dict)):
        raise TypeError(f"{name} must be a str or an iterable of str, not {type(value).__name__}")
    out: list[str] = []
    for item in items:
        if item not in OPERATORS:
            raise ValueError(f"{name}: {item!r} is not one of {', '.join(OPERATORS)}")
        out.append(str(item))
    return out


def _amount(value: object, name: str = "amount") -> str:
    if isinstance(value, (bool, float)) or not isinstance(value, (Decimal, int, str)):
        raise TypeError(f"{name} must be a Decimal, int or str, not {type(value).__name__}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{name}: {value!r} is not a number") from None
    if not number.is_finite() or number <= 0 or number != number.quantize(Decimal("0.01")):
        raise ValueError(f"{name} must be positive with at most two decimals, got {value!r}")
    return f"{number:.2f}"


def _sub_client(user: str | None, user_id: int | None) -> dict[str, str]:
    if (user is None) == (user_id is None):
        raise ValueError("pass exactly one of user (a login) and user_id")
    if user is not None:
        login = check_str("user", user).strip()
        if not login.isascii() or any(c in login for c in " ,;&="):
            raise ValueError(f"user: {user!r} is not a login (ASCII, no spaces or , ; & =)")
        return {"user": login}
    return {"user_id": check_record_id(user_id, "user_id")}


def _macro(params: dict[str, str], name: str, value: str | None) -> None:
    if value is not None:
        text = check_str(name, value)
        if len(text) > 1000:
            raise ValueError(f"{name} is longer than 1000 characters")
        params[name] = text


class OperatorTemplates(Namespace):
    """Templates registered with operators (op_templates.php), as ``smsc.operator_templates``."""

    async def list(self) -> builtins.list[models.OperatorTemplate]:
        """Every operator template of the account.

        >>> [t.transactional for t in await smsc.operator_templates.list()]  # doctest: +SKIP
        [('mts', 'mega')]
        """
        return await self._call(OP_TEMPLATES, {})

    async def add(
        self,
        message: str,
        *,
        sender: str | None = None,
        service: Operator | Iterable[Operator] = (),
        transactional: Operator | Iterable[Operator] = (),
    ) -> int:
        """Submit a template for registration with operators and return its id.

        ``service`` and ``transactional`` name the operators (``"mts"``, ``"mega"``, ``"bee"``,
        ``"tele2"``) to register it with as a service or a transactional template; at least one
        must be given.

        >>> await smsc.operator_templates.add("Code: %d%", sender="Shop",
        ...                                   transactional=["mts", "mega"])  # doctest: +SKIP
        7
        """
        params = {"msg": check_str("message", message)}
        if not params["msg"].strip() or len(params["msg"]) > 1000:
            raise ValueError("message must be 1 to 1000 characters, not blank")
        if sender is not None:
            params["sender"] = check_sender(sender)
        chosen = [(op, "srv") for op in _operators(service, "service")]
        chosen += [(op, "trn") for op in _operators(transactional, "transactional")]
        if not chosen:
            raise ValueError("name at least one operator in service or transactional")
        for op, kind in chosen:
            params[f"{op}_{kind}"] = "1"
        return await self._call(ADD_OP_TEMPLATE, params)


class Documents(Namespace):
    """Invoices and acts of sub-clients (documents.php), as ``smsc.documents``."""

    async def add_invoice(
        self,
        amount: Decimal | int | str,
        *,
        user: str | None = None,
        user_id: int | None = None,
        service: str | None = None,
    ) -> int:
        """Issue an invoice over ``amount`` to a sub-client and return its id.

        Name the sub-client by login (``user``) or by id (``user_id``); ``service`` is what the
        invoice is for. Raises :class:`~smsc_async.NotFoundError` for an unknown sub-client.

        >>> await smsc.documents.add_invoice("1500.00", user="shop-2",
        ...                                  service="SMS")  # doctest: +SKIP
        12
        """
        params = _sub_client(user, user_id)
        params["sum"] = _amount(amount)
        if service is not None:
            params["service"] = check_str("service", service).strip()
        return await self._call(ADD_INVOICE, params)

    async def invoices(
        self, *, user: str | None = None, user_id: int | None = None, id: int | None = None
    ) -> list[models.Invoice]:
        """A sub-client's invoices (only invoice ``id`` when given).

        >>> [i.num for i in await smsc.documents.invoices(user="shop-2")]  # doctest: +SKIP
        ['12']
        """
        params = _sub_client(user, user_id)
        if id is not None:
            params["id"] = check_record_id(id)
        return await self._call(INVOICES, params)

    async def acts(
        self,
        *,
        user: str | None = None,
        user_id: int | None = None,
        id: int | None = None,
        num: str | None = None,
    ) -> list[models.Act]:
        """A sub-client's acts (only act ``id``, or the one numbered ``num``, when given).

        >>> await smsc.documents.acts(user="shop-2", num="12")  # doctest: +SKIP
        """
        params = _sub_client(user, user_id)
        if id is not None:
            params["id"] = check_record_id(id)
        if num is not None:
            params["num"] = check_str("num", num).strip()
        return await self._call(ACTS, params)


class Notifications(Namespace):
    """Event notification groups (ping.php), as ``smsc.notifications``: trigger one."""

    async def send(
        self,
        group_id: int,
        *,
        ok: bool = False,
        name: str | None = None,
        host: str | None = None,
        info: str | None = None,
    ) -> None:
        """Trigger event notification group ``group_id`` (ping.php), as a monitor would.

        The group's failure template is sent, or its recovery template with ``ok=True``;
        ``name``, ``host`` and ``info`` fill the template's macros of those names. Raises
        :class:`~smsc_async.NotFoundError` for an unknown group.

        >>> await smsc.notifications.send(3, name="db", host="db1.example",
        ...                               info="disk full")  # doctest: +SKIP
        """
        params = {"id": check_record_id(group_id, "group_id")}
        if check_flag("ok", ok) == "1":
            params["ok"] = "1"
        _macro(params, "name", name)
        _macro(params, "host", host)
        _macro(params, "info", info)
        expect_ok(NOTIFY, await self._call(NOTIFY, params))


class InboundNumbers(Namespace):
    """Dedicated inbound numbers (receive_phones.php), as ``smsc.inbound_numbers``."""

    async def list(self) -> builtins.list[models.InboundNumber]:
        """Dedicated inbound numbers: those for sale and those the account has.

        >>> [n.phone for n in await smsc.inbound_numbers.list() if n.bought]  # doctest: +SKIP
        ['79587654321']
        """
        return await self._call(INBOUND_NUMBERS, {})

    async def buy(self, phone: str) -> Decimal:
        """Connect inbound number ``phone`` and return what was charged (the rest of the month).

        Raises :class:`~smsc_async.NotFoundError` when the number is not for sale and
        :class:`~smsc_async.InsufficientFundsError` when the balance does not cover it.

        >>> await smsc.inbound_numbers.buy("79587654321")  # doctest: +SKIP
        Decimal('193.55')
        """
        return await self._call(BUY_INBOUND, {"phone": check_phone(phone)})

    async def set_renewal(self, phone: str, *, renew: bool) -> None:
        """Switch the monthly renewal of the account's inbound number ``phone`` on or off.

        >>> await smsc.inbound_numbers.set_renewal("79587654321", renew=False)  # doctest: +SKIP
        """
        noprolong = "0" if check_flag("renew", renew) == "1" else "1"
        params = {"phone": check_phone(phone), "noprolong": noprolong}
        expect_ok(RENEWAL, await self._call(RENEWAL, params))
