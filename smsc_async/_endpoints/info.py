"""Number information: info.php ``get_operator``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from .._validation import check_phones
from ._base import Caller, Endpoint

if TYPE_CHECKING:
    from ..models import OperatorInfo


def _as_list(data: Any) -> Any:
    # One number is answered with an object, several with a list of them.
    return [data] if isinstance(data, dict) else data


OPERATOR_INFO: Endpoint[list[OperatorInfo]] = Endpoint(
    "info", "/sys/info.php", "list[OperatorInfo]", (("get_operator", "1"),), _as_list
)


class InfoAPI(Caller):
    """info.php."""

    async def operator_info(self, phones: str | Iterable[str]) -> list[OperatorInfo]:
        """Country, operator, region, MCC/MNC and time zone of one or several numbers.

        Several numbers go in one request (the gateway allows 100 look-up requests a minute); an
        entry the gateway could not resolve comes back with ``found == False``.

        >>> infos = await smsc.operator_info(["79161234567", "79031234567"])  # doctest: +SKIP
        """
        numbers = check_phones(phones)
        infos = await self._call(OPERATOR_INFO, {"phone": ",".join(numbers)})
        if len(numbers) == 1 and len(infos) == 1 and infos[0].phone is None:
            return [attrs.evolve(infos[0], phone=numbers[0])]
        return infos
