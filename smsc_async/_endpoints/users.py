"""Sub-clients of a reseller account: users.php.

Commands ``add``, ``chg``, ``pay``, ``get_stat`` and ``get_stat_all``.

Only the commands and parameters are documented. We read (and the emulator writes): ``add`` →
``{"id": N}`` (the sub-client's id); ``chg`` and ``pay`` → the bare ``OK``; ``get_stat`` → one
``{"login", "sms", "credit", "debit", "balance", "currency"}`` object over the period and
``get_stat_all`` a list of them, one per sub-client. Error 3 means the sub-client does not exist.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Literal

from .. import models
from .._errors import NotFoundError
from .._validation import check_choice, check_flag, check_int, check_sender, check_str
from ._base import Endpoint, Kind, Namespace, as_list, id_of
from ._common import expect_ok, format_date, ok_endpoint

__all__ = ["CURRENCIES", "Currency", "Users"]

_PATH = "/sys/users.php"
_ERRORS = {3: NotFoundError}

#: The gateway's currency codes (``curr``).
CURRENCIES = {"RUB": "1", "USD": "2", "EUR": "3", "UAH": "4", "KZT": "5"}
Currency = Literal["RUB", "USD", "EUR", "UAH", "KZT"]

ADD = Endpoint(
    "users", _PATH, lambda: int, (("add", "1"),), errors=_ERRORS, kind=Kind.WRITE, adapt=id_of
)
CHANGE = ok_endpoint("users", _PATH, (("chg", "1"),), errors=_ERRORS)
PAY = ok_endpoint("users", _PATH, (("pay", "1"),), errors=_ERRORS)
STAT = Endpoint("users", _PATH, lambda: models.UserStat, (("get_stat", "1"),), errors=_ERRORS)
STATS = Endpoint(
    "users",
    _PATH,
    lambda: list[models.UserStat],
    (("get_stat_all", "1"),),
    errors=_ERRORS,
    adapt=as_list,
)


def _login(value: object, name: str) -> str:
    login = check_str(name, value).strip()
    if not login.isascii() or any(c in login for c in " ,;&=") or len(login) > 64:
        raise ValueError(f"{name}: {value!r} is not a login (ASCII, no spaces or , ; & =)")
    return login


def _options(
    *,
    reseller: bool | None,
    currency: Currency | None,
    sender: str | None,
    daily_limit: int | None,
    number_limit: int | None,
) -> dict[str, str]:
    params: dict[str, str] = {}
    if reseller is not None:
        params["reseller"] = check_flag("reseller", reseller)
    if currency is not None:
        params["curr"] = CURRENCIES[check_choice("currency", currency, tuple(CURRENCIES))]
    if sender is not None:
        params["sender"] = check_sender(sender)
    if daily_limit is not None:
        params["dlim"] = str(check_int("daily_limit", daily_limit, 0))
    if number_limit is not None:
        params["plim"] = str(check_int("number_limit", number_limit, 0))
    return params


def _period(start: dt.date | None, end: dt.date | None) -> dict[str, str]:
    params: dict[str, str] = {}
    if start is not None:
        params["start"] = format_date(start, "start")
    if end is not None:
        params["end"] = format_date(end, "end")
    return params


class Users(Namespace):
    """Sub-clients of a reseller account (users.php), as ``smsc.users``."""

    async def add(
        self,
        login: str,
        password: str,
        *,
        reseller: bool = False,
        currency: Currency | None = None,
        sender: str | None = None,
        daily_limit: int | None = None,
        number_limit: int | None = None,
    ) -> int:
        """Create sub-client ``login`` and return its id.

        ``reseller=True`` gives it a balance of its own (else it spends the main balance);
        ``daily_limit`` caps its SMS a day and ``number_limit`` its SMS a day to one number.

        >>> uid = await smsc.users.add("shop-2", "s3cret!", daily_limit=500)  # doctest: +SKIP
        """
        params = {"user": _login(login, "login"), "password": check_str("password", password)}
        params.update(
            _options(
                reseller=reseller,
                currency=currency,
                sender=sender,
                daily_limit=daily_limit,
                number_limit=number_limit,
            )
        )
        return await self._call(ADD, params)

    async def change(
        self,
        login: str,
        *,
        new_login: str | None = None,
        password: str | None = None,
        reseller: bool | None = None,
        currency: Currency | None = None,
        sender: str | None = None,
        daily_limit: int | None = None,
        number_limit: int | None = None,
    ) -> None:
        """Change the settings given of sub-client ``login``.

        >>> await smsc.users.change("shop-2", daily_limit=1000)  # doctest: +SKIP
        """
        params = {"user": _login(login, "login")}
        if new_login is not None:
            params["new_login"] = _login(new_login, "new_login")
        if password is not None:
            params["password"] = check_str("password", password)
        params.update(
            _options(
                reseller=reseller,
                currency=currency,
                sender=sender,
                daily_limit=daily_limit,
                number_limit=number_limit,
            )
        )
        if len(params) == 1:
            raise ValueError("pass at least one setting to change")
        expect_ok(CHANGE, await self._call(CHANGE, params))

    async def pay(self, login: str, amount: Decimal | int | str) -> None:
        """Move ``amount`` from the main balance to sub-client ``login``'s balance.

        >>> await smsc.users.pay("shop-2", Decimal("100.00"))  # doctest: +SKIP
        """
        if isinstance(amount, (bool, float)) or not isinstance(amount, (Decimal, int, str)):
            raise TypeError(f"amount must be a Decimal, int or str, not {type(amount).__name__}")
        try:
            value = Decimal(str(amount).strip())
        except InvalidOperation:
            raise ValueError(f"amount: {amount!r} is not a number") from None
        if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")):
            raise ValueError(f"amount must be positive with at most two decimals, got {amount!r}")
        params = {"user": _login(login, "login"), "sum": f"{value:.2f}"}
        expect_ok(PAY, await self._call(PAY, params))

    async def stat(
        self, login: str, *, start: dt.date | None = None, end: dt.date | None = None
    ) -> models.UserStat:
        """Sending statistics and balance of sub-client ``login`` over ``start``..``end``.

        >>> (await smsc.users.stat("shop-2")).sms  # doctest: +SKIP
        12
        """
        params = {"user": _login(login, "login"), **_period(start, end)}
        return await self._call(STAT, params)

    async def stats(
        self, *, start: dt.date | None = None, end: dt.date | None = None
    ) -> list[models.UserStat]:
        """Sending statistics of every sub-client over ``start``..``end``.

        >>> [s.login for s in await smsc.users.stats()]  # doctest: +SKIP
        ['shop-2']
        """
        return await self._call(STATS, _period(start, end))
