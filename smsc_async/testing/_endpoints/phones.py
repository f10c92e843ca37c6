"""``/sys/phones.php``: contacts, contact groups and the blacklist.

Commands ``add``, ``chg``, ``del``, ``get`` (contacts, by number), ``add_group``, ``chg_group``,
``del_group``, ``get_group`` (groups, by id), ``move_group`` (1 move, 2 add, 3 remove),
``add_black``, ``del_black``. Creating answers the new ``id``, every other change ``OK``; error 3
is an unknown contact or group, error 7 a malformed number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from smsc_async.testing._endpoints._book import (
    Book,
    ContactRecord,
    Fields,
    GroupRecord,
    book_of,
    command,
    record_id,
    render_created,
    render_many,
)
from smsc_async.testing._endpoints._context import PARAMETERS_ERROR, Context
from smsc_async.testing._numbers import normalize
from smsc_async.testing._wire import GatewayError, render_ok

PATH = "/sys/phones.php"
ERRORS: Mapping[int, str] = {3: "record not found", 7: "invalid number"}

_COMMANDS = (
    "add",
    "chg",
    "del",
    "get",
    "add_group",
    "chg_group",
    "del_group",
    "get_group",
    "move_group",
    "add_black",
    "del_black",
)
_TEXT_FIELDS = ("name", "fnm", "lnm", "mnm", "mail", "cmt")
_MAX_CONTACTS = 10_000
_MAX_GROUP_NUM = 99_999


def _fail(code: int, text: str | None = None) -> GatewayError:
    return GatewayError(code, text or ERRORS.get(code, PARAMETERS_ERROR))


def _number(params: Mapping[str, str], name: str = "phone") -> str:
    raw = params.get(name, "")
    if not raw.strip():
        raise _fail(1)
    number = normalize(raw)
    if number is None:
        raise _fail(7)
    return number


def _group_ids(book: Book, raw: str) -> list[int]:
    ids: list[int] = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        if not item.isdigit():
            raise _fail(1)
        if int(item) not in book.groups:
            raise _fail(3)
        ids.append(int(item))
    return list(dict.fromkeys(ids))


def _contact_fields(c: ContactRecord) -> Fields:
    return [
        ("id", c.id),
        ("phone", c.phone),
        ("name", c.name),
        ("fnm", c.fnm),
        ("lnm", c.lnm),
        ("mnm", c.mnm),
        ("mail", c.mail),
        ("cmt", c.cmt),
        ("grp", ",".join(map(str, c.groups))),
    ]


def _group_fields(book: Book, g: GroupRecord) -> Fields:
    size = sum(1 for c in book.contacts.values() if g.id in c.groups)
    return [("id", g.id), ("name", g.name), ("num", g.num), ("type", g.type), ("cnt", size)]


def _apply(book: Book, contact: ContactRecord, params: Mapping[str, str]) -> None:
    for name in _TEXT_FIELDS:
        if name in params:
            setattr(contact, name, params[name].strip())
    if "grp" in params:
        contact.groups = _group_ids(book, params["grp"])


def _group_num(book: Book, params: Mapping[str, str], current: GroupRecord | None) -> int:
    raw = params.get("num", "").strip()
    if not raw:
        if current is not None:
            return current.num
        taken = {g.num for g in book.groups.values()}
        return next(n for n in range(1, _MAX_GROUP_NUM + 1) if n not in taken)
    if not raw.isdigit() or not 1 <= int(raw) <= _MAX_GROUP_NUM:
        raise _fail(1)
    other = book.group_by_num(int(raw))
    if other is not None and other is not current:
        raise _fail(1, "group number is taken")
    return int(raw)


def _contacts(ctx: Context, book: Book, what: str) -> str:
    params = ctx.params
    if what == "get":
        rows = list(book.contacts.values())
        if params.get("grp", "").strip():
            wanted = _group_ids(book, params["grp"])
            rows = [c for c in rows if set(wanted) & set(c.groups)]
        search = params.get("search", "").strip().lower()
        if search:
            rows = [c for c in rows if any(search in v.lower() for v in (c.phone, c.name))]
        return render_many(ctx.fmt, "phone", [_contact_fields(c) for c in rows])
    number = _number(params)
    if what == "add":
        if number in book.contacts:
            raise _fail(1, "contact already exists")
        if len(book.contacts) >= _MAX_CONTACTS:
            raise _fail(1, "too many contacts")
        contact = ContactRecord(id=book.next_id(), phone=number)
        _apply(book, contact, params)
        book.contacts[number] = contact
        return render_created(ctx.fmt, contact.id)
    contact_or_none = book.contacts.get(number)
    if contact_or_none is None:
        raise _fail(3)
    contact = contact_or_none
    if what == "del":
        del book.contacts[number]
        return render_ok(ctx.fmt)
    # chg
    new_number = _number(params, "new_phone") if params.get("new_phone", "").strip() else number
    if new_number != number and new_number in book.contacts:
        raise _fail(1, "contact already exists")
    _apply(book, contact, params)
    if new_number != number:
        del book.contacts[number]
        contact.phone = new_number
        book.contacts[new_number] = contact
    return render_ok(ctx.fmt)


def _groups(ctx: Context, book: Book, what: str) -> str:
    params = ctx.params
    if what == "get_group":
        rows = [_group_fields(book, g) for g in book.groups.values()]
        return render_many(ctx.fmt, "group", rows)
    if what == "add_group":
        name = params.get("name", "").strip()
        kind = params.get("type", "0").strip() or "0"
        if not name or kind not in ("0", "1"):
            raise _fail(1)
        created = GroupRecord(
            id=book.next_id(), name=name, num=_group_num(book, params, None), type=int(kind)
        )
        book.groups[created.id] = created
        return render_created(ctx.fmt, created.id)
    if what == "move_group":
        mode = params.get("move_group", "").strip()
        gid = record_id(params, "grp")
        if mode not in ("1", "2", "3"):
            raise _fail(1)
        if gid not in book.groups:
            raise _fail(3)
        numbers = [normalize(p) for p in re.split(r"[,;]", params.get("phone", "")) if p.strip()]
        if not numbers or any(n is None for n in numbers):
            raise _fail(7)
        contacts = [book.contacts.get(n or "") for n in numbers]
        if any(c is None for c in contacts):
            raise _fail(3)
        for c in contacts:
            assert c is not None
            if mode == "1":
                c.groups = [gid]
            elif mode == "2" and gid not in c.groups:
                c.groups.append(gid)
            elif mode == "3" and gid in c.groups:
                c.groups.remove(gid)
        return render_ok(ctx.fmt)
    group = book.groups.get(record_id(params))
    if group is None:
        raise _fail(3)
    if what == "del_group":
        del book.groups[group.id]
        for c in book.contacts.values():
            if group.id in c.groups:
                c.groups.remove(group.id)
        return render_ok(ctx.fmt)
    # chg_group
    if "name" in params:
        if not params["name"].strip():
            raise _fail(1)
        group.name = params["name"].strip()
    group.num = _group_num(book, params, group)
    return render_ok(ctx.fmt)


def handle(ctx: Context) -> str:
    """Answer one phones.php request."""
    params, book = ctx.params, book_of(ctx.account)
    what = command(params, _COMMANDS)
    if what in ("add", "chg", "del", "get"):
        return _contacts(ctx, book, what)
    if what in ("add_black", "del_black"):
        number = _number(params)
        if what == "del_black":
            if book.blacklist.pop(number, None) is None:
                raise _fail(3)
            return render_ok(ctx.fmt)
        scope = params.get("type", "0").strip() or "0"
        if scope not in ("0", "1", "2"):
            raise _fail(1)
        book.blacklist[number] = int(scope)
        return render_ok(ctx.fmt)
    return _groups(ctx, book, what)
