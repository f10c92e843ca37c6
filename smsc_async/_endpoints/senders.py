"""Sender names (sender IDs): senders.php get, add, chg, send_code, check_code and del."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._validation import check_flag, check_int, check_phone, check_sender, check_str
from ._base import Caller, Endpoint
from ._common import expect_ok, ok_endpoint

if TYPE_CHECKING:
    from ..models import SenderName

_PATH = "/sys/senders.php"


def _added_id(data: Any) -> Any:
    # add=1 answers {"sender": <id>}.
    return data["sender"] if isinstance(data, dict) and "sender" in data else data


SENDERS: Endpoint[list[SenderName]] = Endpoint(
    "senders", _PATH, "list[SenderName]", (("get", "1"),)
)
ADD_SENDER: Endpoint[int] = Endpoint("senders", _PATH, int, (("add", "1"),), _added_id)
CHANGE_SENDER = ok_endpoint("senders", _PATH, (("chg", "1"),))
SEND_CODE = ok_endpoint("senders", _PATH, (("send_code", "1"),))
CHECK_CODE = ok_endpoint("senders", _PATH, (("check_code", "1"),))
DELETE_SENDER = ok_endpoint("senders", _PATH, (("del", "1"),))


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


class SendersAPI(Caller):
    """senders.php: list, add, change, confirm and delete sender names."""

    async def senders(self, *, all: bool = False, operators: bool = False) -> list[SenderName]:
        """The account's sender names (senders.php ``get``).

        By default only names allowed for use; ``all=True`` lists every name with its moderation
        ``status``; ``operators=True`` adds the registration status at each operator
        (``mega_step``, ``mts_int`` …, gathered in :attr:`SenderName.operators`). The gateway
        allows three identical list requests a minute.

        >>> [s.sender for s in await smsc.senders()]  # doctest: +SKIP
        ['Shop']
        """
        params: dict[str, str] = {}
        if check_flag("all", all) == "1":
            params["all"] = "1"
        if check_flag("operators", operators) == "1":
            params["operators"] = "1"
        return await self._call(SENDERS, params)

    async def add_sender(self, sender: str, *, comment: str | None = None) -> int:
        """Register a new sender name for moderation; returns its id (senders.php ``add``).

        A digit-only name (a phone number) is confirmed with :meth:`send_sender_code` and
        :meth:`confirm_sender`. The gateway allows five new names a minute.

        >>> sender_id = await smsc.add_sender("Shop", comment="our shop")  # doctest: +SKIP
        """
        params = {"sender": _name(sender)}
        if comment is not None:
            params["cmt"] = _comment(comment)
        return await self._call(ADD_SENDER, params)

    async def change_sender(
        self, id: int, *, sender: str | None = None, comment: str | None = None
    ) -> None:
        """Rename sender name ``id`` and/or change its comment (senders.php ``chg``).

        A renamed sender goes through moderation again.

        >>> await smsc.change_sender(sender_id, sender="ShopNew")  # doctest: +SKIP
        """
        params = {"id": str(check_int("id", id, 1))}
        if sender is None and comment is None:
            raise ValueError("change_sender needs a new sender, a comment, or both")
        if sender is not None:
            params["sender"] = _name(sender)
        if comment is not None:
            params["cmt"] = _comment(comment)
        expect_ok(CHANGE_SENDER, await self._call(CHANGE_SENDER, params))

    async def send_sender_code(self, sender: str) -> None:
        """Send a confirmation code to a digit-only sender name, a phone number you own.

        senders.php ``send_code``. The code goes out at most once in 8 hours
        (:class:`~smsc_async.CodeAlreadySentError` otherwise); pass it to :meth:`confirm_sender`.

        >>> await smsc.send_sender_code("79161234567")  # doctest: +SKIP
        """
        expect_ok(
            SEND_CODE,
            await self._call(SEND_CODE, {"sender": check_phone(sender, "sender").lstrip("+")}),
        )

    async def confirm_sender(self, sender: str, code: str) -> None:
        """Confirm a digit-only sender name with the code it received (senders.php ``check_code``).

        A wrong code raises :class:`~smsc_async.WrongCodeError`.

        >>> await smsc.confirm_sender("79161234567", "123456")  # doctest: +SKIP
        """
        number = check_phone(sender, "sender").lstrip("+")
        text = check_str("code", code).strip()
        if not text.isdigit() or not text.isascii():
            raise ValueError(f"code must be the digits the number received, got {code!r}")
        expect_ok(CHECK_CODE, await self._call(CHECK_CODE, {"sender": number, "code": text}))

    async def delete_sender(self, sender: str | int) -> None:
        """Delete a sender name, by its name (str) or its id (int) (senders.php ``del``).

        >>> await smsc.delete_sender("Shop")  # doctest: +SKIP
        """
        expect_ok(DELETE_SENDER, await self._call(DELETE_SENDER, _target(sender)))
