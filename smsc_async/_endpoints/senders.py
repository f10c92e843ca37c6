"""Sender names (sender IDs): senders.php get, add, chg, send_code, check_code and del."""

from __future__ import annotations

import builtins
from typing import Any

from .. import models
from .._errors import (
    CodeAlreadySentError,
    InvalidPhoneError,
    PersistError,
    SenderNotFoundError,
    UndeliverableError,
    WrongCodeError,
)
from .._limits import identical, per_login
from .._validation import check_flag, check_int, check_phone, check_sender, check_str
from ._base import Endpoint, Kind, Namespace
from ._common import expect_ok, ok_endpoint

__all__ = ["Senders"]

_PATH = "/sys/senders.php"
_ERRORS = {
    3: SenderNotFoundError,
    5: PersistError,
    7: InvalidPhoneError,
    8: UndeliverableError,
    10: CodeAlreadySentError,
    11: WrongCodeError,
}


def _added_id(data: Any) -> Any:
    # add=1 answers {"sender": <id>}.
    return data["sender"] if isinstance(data, dict) and "sender" in data else data


LIST = Endpoint(
    "senders",
    _PATH,
    lambda: list[models.SenderName],
    (("get", "1"),),
    errors=_ERRORS,
    rules=identical("senders_list_identical"),
)
ADD = Endpoint(
    "senders",
    _PATH,
    lambda: int,
    (("add", "1"),),
    errors=_ERRORS,
    rules=per_login("senders_add"),
    kind=Kind.WRITE,
    adapt=_added_id,
)
CHANGE = ok_endpoint("senders", _PATH, (("chg", "1"),), errors=_ERRORS)
SEND_CODE = ok_endpoint("senders", _PATH, (("send_code", "1"),), errors=_ERRORS)
CHECK_CODE = ok_endpoint("senders", _PATH, (("check_code", "1"),), errors=_ERRORS)
DELETE = ok_endpoint("senders", _PATH, (("del", "1"),), errors=_ERRORS)


def _name(value: object, name: str = "sender") -> str:
    sender = check_sender(value, name)
    if sender in ("", "."):
        raise ValueError(f"{name} must name a sender, not {sender!r}")
    return sender


def _target(sender: object) -> dict[str, str]:
    """A sender name picked by its name (str) or its id (int)."""
    if isinstance(sender, int) and not isinstance(sender, bool):
        return {"id": str(check_int("sender", sender, 1))}
    if isinstance(sender, str):
        return {"sender": _name(sender)}
    raise TypeError(f"sender must be a name (str) or an id (int), not {type(sender).__name__}")


def _comment(comment: object) -> str:
    return check_str("comment", comment, allow_empty=True)


class Senders(Namespace):
    """Sender names (senders.php), as ``smsc.senders``: list, add, change, confirm, delete."""

    async def list(
        self, *, all: bool = False, operators: bool = False
    ) -> builtins.list[models.SenderName]:
        """The account's sender names (senders.php ``get``).

        By default only names allowed for use; ``all=True`` lists every name with its moderation
        ``status``; ``operators=True`` adds the registration status at each operator
        (``mega_step``, ``mts_int`` …, gathered in :attr:`SenderName.operators`). The gateway
        allows three identical list requests a minute.

        >>> [s.sender for s in await smsc.senders.list()]  # doctest: +SKIP
        ['Shop']
        """
        params: dict[str, str] = {}
        if check_flag("all", all) == "1":
            params["all"] = "1"
        if check_flag("operators", operators) == "1":
            params["operators"] = "1"
        return await self._call(LIST, params)

    async def add(self, sender: str, *, comment: str | None = None) -> int:
        """Register a new sender name for moderation; returns its id (senders.php ``add``).

        A digit-only name (a phone number) is confirmed with :meth:`send_code` and
        :meth:`confirm`. The gateway allows five new names a minute.

        >>> sender_id = await smsc.senders.add("Shop", comment="our shop")  # doctest: +SKIP
        """
        params = {"sender": _name(sender)}
        if comment is not None:
            params["cmt"] = _comment(comment)
        return await self._call(ADD, params)

    async def change(
        self, id: int, *, sender: str | None = None, comment: str | None = None
    ) -> None:
        """Rename sender name ``id`` and/or change its comment (senders.php ``chg``).

        A renamed sender goes through moderation again.

        >>> await smsc.senders.change(sender_id, sender="ShopNew")  # doctest: +SKIP
        """
        params = {"id": str(check_int("id", id, 1))}
        if sender is None and comment is None:
            raise ValueError("change needs a new sender, a comment, or both")
        if sender is not None:
            params["sender"] = _name(sender)
        if comment is not None:
            params["cmt"] = _comment(comment)
        expect_ok(CHANGE, await self._call(CHANGE, params))

    async def send_code(self, sender: str) -> None:
        """Send a confirmation code to a digit-only sender name, a phone number you own.

        senders.php ``send_code``. The code goes out at most once in 8 hours
        (:class:`~smsc_async.CodeAlreadySentError` otherwise); pass it to :meth:`confirm`.

        >>> await smsc.senders.send_code("79161234567")  # doctest: +SKIP
        """
        expect_ok(
            SEND_CODE,
            await self._call(SEND_CODE, {"sender": check_phone(sender, "sender").lstrip("+")}),
        )

    async def confirm(self, sender: str, code: str) -> None:
        """Confirm a digit-only sender name with the code it received (senders.php ``check_code``).

        A wrong code raises :class:`~smsc_async.WrongCodeError`.

        >>> await smsc.senders.confirm("79161234567", "123456")  # doctest: +SKIP
        """
        number = check_phone(sender, "sender").lstrip("+")
        text = check_str("code", code).strip()
        if not text.isdigit() or not text.isascii():
            raise ValueError(f"code must be the digits the number received, got {code!r}")
        expect_ok(CHECK_CODE, await self._call(CHECK_CODE, {"sender": number, "code": text}))

    async def delete(self, sender: str | int) -> None:
        """Delete a sender name, by its name (str) or its id (int) (senders.php ``del``).

        >>> await smsc.senders.delete("Shop")  # doctest: +SKIP
        """
        expect_ok(DELETE, await self._call(DELETE, _target(sender)))
