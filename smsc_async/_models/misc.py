"""Models of the remaining scripts: operator templates, documents, inbound numbers, call checks.

The gateway documents only the commands and parameters of these scripts, not their answers: the
field names here are our reading (the emulator writes the same ones), named after the request
parameters where one exists.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import attrs

from ._base import Model

__all__ = [
    "OPERATOR_TEMPLATE_OPERATORS",
    "Act",
    "InboundNumber",
    "Invoice",
    "MegafonStat",
    "OperatorTemplate",
    "WaitCall",
]

#: Operators an operator template can be registered with, as op_templates.php spells them.
OPERATOR_TEMPLATE_OPERATORS = ("mts", "mega", "bee", "tele2")


@attrs.frozen(kw_only=True)
class OperatorTemplate(Model):
    """A message template registered with mobile operators (op_templates.php ``get``).

    ``<operator>_srv`` / ``<operator>_trn`` say whether it is registered as a service or a
    transactional template with MTS (``mts``), MegaFon (``mega``), Beeline (``bee``) or Tele2;
    :attr:`service` and :attr:`transactional` list those operators.
    """

    id: int
    msg: str
    sender: str | None = None
    mts_srv: bool = False
    mts_trn: bool = False
    mega_srv: bool = False
    mega_trn: bool = False
    bee_srv: bool = False
    bee_trn: bool = False
    tele2_srv: bool = False
    tele2_trn: bool = False

    @property
    def service(self) -> tuple[str, ...]:
        """Operators this is a service template with (``("mts", "bee")``)."""
        return tuple(op for op in OPERATOR_TEMPLATE_OPERATORS if getattr(self, f"{op}_srv"))

    @property
    def transactional(self) -> tuple[str, ...]:
        """Operators this is a transactional template with."""
        return tuple(op for op in OPERATOR_TEMPLATE_OPERATORS if getattr(self, f"{op}_trn"))


@attrs.frozen(kw_only=True)
class Invoice(Model):
    """An invoice issued to a sub-client (documents.php ``get_account``).

    ``num`` is the document number printed on it; ``date`` when it was issued (aware, Moscow);
    ``paid`` whether it has been paid.
    """

    id: int
    num: str
    date: dt.datetime
    sum: Decimal
    service: str | None = None
    paid: bool = False


@attrs.frozen(kw_only=True)
class Act(Model):
    """An act (certificate of services rendered) of a sub-client (documents.php ``get_act``).

    ``invoice`` is the id of the invoice it closes, when there is one.
    """

    id: int
    num: str
    date: dt.datetime
    sum: Decimal
    invoice: int | None = None


@attrs.frozen(kw_only=True)
class InboundNumber(Model):
    """A dedicated number for incoming messages (receive_phones.php ``gets``).

    ``cost`` is the monthly fee; ``bought`` whether it is connected to this account and
    ``noprolong`` whether its renewal at the turn of the month is switched off.
    """

    phone: str
    cost: Decimal
    bought: bool = False
    noprolong: bool = False

    @property
    def renews(self) -> bool:
        """Whether the number is the account's and will be renewed next month."""
        return self.bought and not self.noprolong


@attrs.frozen(kw_only=True)
class WaitCall(Model):
    """A number check by incoming call (wait_call.php): the subscriber calls ``phone``.

    ``id`` identifies the check; the gateway reports the call (to the account's callback URL) once
    the subscriber has called ``phone`` from the number being confirmed.
    """

    id: int
    phone: str


@attrs.frozen(kw_only=True)
class MegafonStat(Model):
    """MegaFon statistics of one personal ``account`` (get.php ``get_mega_accounts``)."""

    account: str
    sms: int
    cost: Decimal
