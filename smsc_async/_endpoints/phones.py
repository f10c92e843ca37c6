"""The phone book: contacts, contact groups and the blacklist (phones.php).

The commands and parameters are documented, most answers are not; we read (and the emulator
writes): ``add``/``add_group`` → ``{"id": N}``; every change, move and delete → the bare ``OK``;
``get`` → a list of contacts ``{"id", "phone", "name", "fnm", "lnm", "mnm", "mail", "cmt",
"grp"}`` with ``grp`` the comma-separated ids of the contact's groups; ``get_group`` → a list of
groups ``{"id", "name", "num", "type", "cnt"}``. Contacts are addressed by their number; groups
by their id, and a send reaches a group's members with ``phones="G<num>"``.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Any, Literal

from .. import models
from .._errors import InvalidPhoneError, NotFoundError
from .._validation import check_choice, check_int, check_phone, check_phones, check_str
from ._base import Endpoint, Kind, Namespace, as_list, id_of
from ._common import check_email, check_record_id, expect_ok, ok_endpoint

__all__ = ["Blacklist", "BlacklistScope", "Contacts", "GroupMove", "Groups"]

_PATH = "/sys/phones.php"
_ERRORS = {3: NotFoundError, 7: InvalidPhoneError}

#: What a blacklisted number is spared: 0 every message, 1 mass mailings, 2 single messages.
BlacklistScope = Literal[0, 1, 2]
#: ``Contacts.move``: move into the group, add it as another group, or remove from it.
GroupMove = Literal["move", "add", "remove"]
_MOVES = {"move": "1", "add": "2", "remove": "3"}


def _contacts(data: Any) -> Any:
    items = as_list(data)
    if not isinstance(items, list):
        return items
    out = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("grp"), str):
            groups = [g.strip() for g in item["grp"].split(",") if g.strip()]
            item = {**item, "grp": groups}
        out.append(item)
    return out


def _command(command: str) -> Endpoint[str]:
    return ok_endpoint("phones", _PATH, ((command, "1"),), errors=_ERRORS)


ADD = Endpoint(
    "phones", _PATH, lambda: int, (("add", "1"),), errors=_ERRORS, kind=Kind.WRITE, adapt=id_of
)
ADD_GROUP = Endpoint(
    "phones",
    _PATH,
    lambda: int,
    (("add_group", "1"),),
    errors=_ERRORS,
    kind=Kind.WRITE,
    adapt=id_of,
)
CHANGE = _command("chg")
CHANGE_GROUP = _command("chg_group")
DELETE = _command("del")
DELETE_GROUP = _command("del_group")
ADD_BLACK = _command("add_black")
DELETE_BLACK = _command("del_black")
# ``move_group`` carries the kind of move (1, 2, 3), so it is a parameter, not a fixed selector.
MOVE = ok_endpoint("phones", _PATH, errors=_ERRORS)
CONTACTS = Endpoint(
    "phones",
    _PATH,
    lambda: list[models.Contact],
    (("get", "1"),),
    errors=_ERRORS,
    adapt=_contacts,
)
GROUPS = Endpoint(
    "phones",
    _PATH,
    lambda: list[models.ContactGroup],
    (("get_group", "1"),),
    errors=_ERRORS,
    adapt=as_list,
)


def _groups(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return check_record_id(value, "groups")
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes, dict)):
        return ",".join(check_record_id(g, "groups") for g in value)
    raise TypeError(f"groups must be a group id or an iterable of them, not {type(value).__name__}")


def _contact_fields(
    *,
    name: str | None,
    first_name: str | None,
    last_name: str | None,
    middle_name: str | None,
    mail: str | None,
    comment: str | None,
    groups: int | Iterable[int] | None,
) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, arg, value in (
        ("name", "name", name),
        ("fnm", "first_name", first_name),
        ("lnm", "last_name", last_name),
        ("mnm", "middle_name", middle_name),
        ("cmt", "comment", comment),
    ):
        if value is not None:
            params[key] = check_str(arg, value, allow_empty=True)
    if mail is not None:
        params["mail"] = check_email(mail, "mail")
    if groups is not None:
        params["grp"] = _groups(groups)
    return params


class Contacts(Namespace):
    """The phone book (phones.php), as ``smsc.contacts``: list, add, change, move, delete."""

    async def list(
        self, *, group: int | None = None, search: str | None = None
    ) -> builtins.list[models.Contact]:
        """The contacts, or those of group id ``group`` / matching ``search`` (number or name).

        >>> [c.phone for c in await smsc.contacts.list(group=gid)]  # doctest: +SKIP
        ['79161234567']
        """
        params: dict[str, str] = {}
        if group is not None:
            params["grp"] = check_record_id(group, "group")
        if search is not None:
            params["search"] = check_str("search", search)
        return await self._call(CONTACTS, params)

    async def add(
        self,
        phone: str,
        *,
        name: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        middle_name: str | None = None,
        mail: str | None = None,
        comment: str | None = None,
        groups: int | Iterable[int] | None = None,
    ) -> int:
        """Add a contact and return its id; ``groups`` are group ids it belongs to.

        >>> await smsc.contacts.add("79161234567", name="Ann", groups=[gid])  # doctest: +SKIP
        """
        params = {"phone": check_phone(phone)}
        params.update(
            _contact_fields(
                name=name,
                first_name=first_name,
                last_name=last_name,
                middle_name=middle_name,
                mail=mail,
                comment=comment,
                groups=groups,
            )
        )
        return await self._call(ADD, params)

    async def change(
        self,
        phone: str,
        *,
        new_phone: str | None = None,
        name: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        middle_name: str | None = None,
        mail: str | None = None,
        comment: str | None = None,
        groups: int | Iterable[int] | None = None,
    ) -> None:
        """Change the fields given of the contact with number ``phone`` (``new_phone`` renumbers).

        >>> await smsc.contacts.change("79161234567", name="Anna")  # doctest: +SKIP
        """
        params = {"phone": check_phone(phone)}
        if new_phone is not None:
            params["new_phone"] = check_phone(new_phone, "new_phone")
        params.update(
            _contact_fields(
                name=name,
                first_name=first_name,
                last_name=last_name,
                middle_name=middle_name,
                mail=mail,
                comment=comment,
                groups=groups,
            )
        )
        if len(params) == 1:
            raise ValueError("pass at least one field to change")
        expect_ok(CHANGE, await self._call(CHANGE, params))

    async def move(
        self, phones: str | Iterable[str], group: int, *, action: GroupMove = "move"
    ) -> None:
        """Move contacts into group ``group``, add them to it, or remove them from it.

        ``action="move"`` makes it their only group, ``"add"`` keeps their other groups,
        ``"remove"`` takes them out of it.

        >>> await smsc.contacts.move(["79161234567"], gid, action="add")  # doctest: +SKIP
        """
        params = {
            "move_group": _MOVES[check_choice("action", action, tuple(_MOVES))],
            "phone": ",".join(check_phones(phones)),
            "grp": check_record_id(group, "group"),
        }
        expect_ok(MOVE, await self._call(MOVE, params))

    async def delete(self, phone: str) -> None:
        """Delete the contact with number ``phone``.

        >>> await smsc.contacts.delete("79161234567")  # doctest: +SKIP
        """
        expect_ok(DELETE, await self._call(DELETE, {"phone": check_phone(phone)}))


class Groups(Namespace):
    """Contact groups (phones.php), as ``smsc.groups``: list, add, change, delete.

    A send reaches a group's members with ``phones="G<num>"``.
    """

    async def list(self) -> builtins.list[models.ContactGroup]:
        """Every contact group.

        >>> [(g.id, g.name, g.cnt) for g in await smsc.groups.list()]  # doctest: +SKIP
        [(1, 'clients', 1)]
        """
        return await self._call(GROUPS, {})

    async def add(self, name: str, *, num: int | None = None, type: Literal[0, 1] = 0) -> int:
        """Create a contact group and return its id.

        ``num`` is its number for sending to ``"G<num>"`` (the gateway picks one when omitted);
        ``type=1`` makes it a group of e-mail addresses.

        >>> gid = await smsc.groups.add("clients")  # doctest: +SKIP
        """
        params = {"name": check_str("name", name).strip()}
        if num is not None:
            params["num"] = str(check_int("num", num, 1, 99999))
        if check_choice("type", type, (0, 1)):
            params["type"] = "1"
        return await self._call(ADD_GROUP, params)

    async def change(self, id: int, *, name: str | None = None, num: int | None = None) -> None:
        """Rename or renumber group ``id``.

        >>> await smsc.groups.change(gid, name="VIP")  # doctest: +SKIP
        """
        params = {"id": check_record_id(id)}
        if name is not None:
            params["name"] = check_str("name", name).strip()
        if num is not None:
            params["num"] = str(check_int("num", num, 1, 99999))
        if len(params) == 1:
            raise ValueError("pass name or num")
        expect_ok(CHANGE_GROUP, await self._call(CHANGE_GROUP, params))

    async def delete(self, id: int) -> None:
        """Delete group ``id`` (its contacts stay, outside it).

        >>> await smsc.groups.delete(gid)  # doctest: +SKIP
        """
        expect_ok(DELETE_GROUP, await self._call(DELETE_GROUP, {"id": check_record_id(id)}))


class Blacklist(Namespace):
    """The account's blacklist (phones.php), as ``smsc.blacklist``: add, remove."""

    async def add(self, phone: str, *, scope: BlacklistScope = 0) -> None:
        """Put ``phone`` on the account's blacklist.

        ``scope`` 0 spares it every message, 1 mass mailings only, 2 single messages only.

        >>> await smsc.blacklist.add("79161234567")  # doctest: +SKIP
        """
        params = {"phone": check_phone(phone)}
        if check_choice("scope", scope, (0, 1, 2)):
            params["type"] = str(scope)
        expect_ok(ADD_BLACK, await self._call(ADD_BLACK, params))

    async def remove(self, phone: str) -> None:
        """Take ``phone`` off the blacklist.

        >>> await smsc.blacklist.remove("79161234567")  # doctest: +SKIP
        """
        expect_ok(DELETE_BLACK, await self._call(DELETE_BLACK, {"phone": check_phone(phone)}))
