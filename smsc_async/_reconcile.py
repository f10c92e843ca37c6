"""Finding out what became of a send whose answer was lost, and the ids that make it possible."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from ._clock import Clock
from ._constants import RECONCILE_GRACE, SESSION_ID_PREFIX
from ._errors import SendUnconfirmedError
from ._validation import list_items

if TYPE_CHECKING:
    from ._endpoints.messages import MessageCalls
    from .models import MessageStatus

__all__ = ["ReconciledSend", "new_message_id", "reconcile", "recipients_of"]

# 20 random characters of [a-z0-9] (~100 bits), so two sessions never pick the same id. Drawn
# from os.urandom: ``secrets`` would cost more to import than all of this module.
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_RANDOM_CHARS = 20
# 252 = 7 * 36: bytes at or above it are skipped, so every character is equally likely.
_UNBIASED = 252


def new_message_id() -> str:
    """A message id no other send carries: ``sa`` and 20 random letters and digits.

    It fits the gateway's string ids (up to 40 Latin letters, digits, ``.``, ``-``, ``_``) and is
    never all digits, so the gateway never reads it as a (range-limited) number.
    """
    chars: list[str] = []
    while len(chars) < _RANDOM_CHARS:
        chars.extend(_ALPHABET[b % 36] for b in os.urandom(_RANDOM_CHARS) if b < _UNBIASED)
    return SESSION_ID_PREFIX + "".join(chars[:_RANDOM_CHARS])


def recipients_of(params: Mapping[str, str]) -> tuple[str, ...]:
    """The recipients of a send.php request: ``phones``, or those of each ``list`` line."""
    listing = params.get("list")
    if listing is not None:
        found: list[str] = []
        for line in listing.split("\n"):
            head, sep, _ = line.partition(":")
            if sep:
                found.extend(p.strip() for p in list_items(head, "list"))
        return tuple(found)
    return tuple(p.strip() for p in list_items(params.get("phones", ""), "phones"))


@attrs.frozen(kw_only=True)
class ReconciledSend:
    """What the gateway accepted of a send whose answer was lost.

    ``id`` is the message id, ``statuses`` each recipient's :class:`~smsc_async.MessageStatus`
    (``Status.NOT_FOUND`` for a recipient the gateway holds nothing for).
    """

    id: str
    statuses: Mapping[str, MessageStatus]


def _queryable(recipient: str) -> bool:
    from ._endpoints._common import check_recipient

    try:
        check_recipient(recipient)
    except ValueError:
        return False
    return True


async def _ask(
    api: MessageCalls, id: str, recipients: Sequence[str]
) -> dict[str, MessageStatus] | None:
    """Each recipient's status of message ``id``, or ``None`` when the gateway has none of them."""
    from .models import Status

    if len(recipients) == 1:
        statuses = [await api.status(id, recipients[0])]
    else:
        statuses = await api.statuses([(id, r) for r in recipients])
    if all(s.status is Status.NOT_FOUND for s in statuses):
        return None
    return dict(zip(recipients, statuses, strict=False))


async def reconcile(
    api: MessageCalls, error: SendUnconfirmedError, *, clock: Clock, timeout: float
) -> ReconciledSend | None:
    """What the gateway accepted of the send behind ``error``; ``None`` when it has no such message.

    "Not found" is trusted only once the lost attempt can no longer be on its way: after its
    deadline (``timeout`` from now when the error carries none) and :data:`RECONCILE_GRACE` more.
    """
    if not isinstance(error, SendUnconfirmedError):
        raise TypeError(f"error must be a SendUnconfirmedError, not {type(error).__name__}")
    recipients = [r for r in error.phones if _queryable(r)]
    if not recipients:
        raise ValueError(
            "error: none of the send's recipients is a number or an e-mail address, and status.php "
            "finds messages only by those; look the message up in the history instead"
        )
    deadline = error.deadline if error.deadline is not None else clock.now() + timeout
    trust_after = deadline + RECONCILE_GRACE
    while True:
        found = await _ask(api, error.id, recipients)
        if found is not None:
            return ReconciledSend(id=error.id, statuses=found)
        wait = trust_after - clock.now()
        if wait <= 0:
            return None
        await clock.sleep(wait)
