"""Models of sender names (senders.php)."""

from __future__ import annotations

import attrs

from ._base import Model
from .messages import OpenIntEnum

__all__ = [
    "OperatorStatus",
    "SENDER_OPERATOR_FIELDS",
    "SenderName",
    "SenderStatus",
]


class SenderStatus(OpenIntEnum):
    """Moderation state of a sender name (``status`` in senders.php ``all=1`` lists)."""

    MODERATION = 0
    ALLOWED = 1
    DISABLED = 2


class OperatorStatus(OpenIntEnum):
    """Registration state of a sender name at one operator (senders.php ``operators=1``)."""

    PENDING = 0
    SUBMITTED = 1
    ALLOWED = 2
    REJECTED = 3
    SUSPENDED = 4
    INSUFFICIENT_FUNDS = 5
    DOCUMENTS_REQUIRED = 8
    FROM_MONTH_START = 9
    DEREGISTERING = 255


#: The per-operator status fields of a sender name, in the gateway's fmt=0 order.
SENDER_OPERATOR_FIELDS = (
    "mega_step",
    "bee_step",
    "motiv_step",
    "sber_step",
    "winmob_step",
    "volnamob_step",
    "mts_step",
    "tele2_step",
    "tele2",
    "ua_reg",
    "ua_int",
    "mega_int",
    "motiv_int",
    "mts_int",
    "motiv",
    "by_reg",
    "by_int",
    "tele2_int",
    "sber_int",
)


@attrs.frozen(kw_only=True)
class SenderName(Model):
    """A sender name (senders.php ``get``).

    ``status`` is set in ``all=1`` lists; the per-operator fields (``mega_step``, ``mts_int`` …)
    with ``operators=1``; :attr:`operators` gathers the ones present.
    """

    sender: str
    id: int
    status: SenderStatus | None = None
    mega_step: OperatorStatus | None = None
    bee_step: OperatorStatus | None = None
    motiv_step: OperatorStatus | None = None
    sber_step: OperatorStatus | None = None
    winmob_step: OperatorStatus | None = None
    volnamob_step: OperatorStatus | None = None
    mts_step: OperatorStatus | None = None
    tele2_step: OperatorStatus | None = None
    tele2: OperatorStatus | None = None
    ua_reg: OperatorStatus | None = None
    ua_int: OperatorStatus | None = None
    mega_int: OperatorStatus | None = None
    motiv_int: OperatorStatus | None = None
    mts_int: OperatorStatus | None = None
    motiv: OperatorStatus | None = None
    by_reg: OperatorStatus | None = None
    by_int: OperatorStatus | None = None
    tele2_int: OperatorStatus | None = None
    sber_int: OperatorStatus | None = None

    @property
    def operators(self) -> dict[str, OperatorStatus]:
        """The per-operator statuses the gateway reported, by field name."""
        found = ((name, getattr(self, name)) for name in SENDER_OPERATOR_FIELDS)
        return {name: value for name, value in found if value is not None}
