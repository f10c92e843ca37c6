"""Account endpoints: balance."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._base import Caller, Endpoint

if TYPE_CHECKING:
    from ..models import Balance

BALANCE: Endpoint[Balance] = Endpoint("balance", "/sys/balance.php", "Balance")


class AccountAPI(Caller):
    """balance.php."""

    async def balance(self) -> Balance:
        """The account's balance, with its currency and credit (balance.php, ``cur=1``).

        >>> await smsc.balance()  # doctest: +SKIP
        Balance(balance=Decimal('250.80'), currency='RUB', credit=None)
        """
        return await self._call(BALANCE, {"cur": "1"})
