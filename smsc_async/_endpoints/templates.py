"""Message templates: templates.php (``add``, ``chg``, ``del``, ``get``).

The documentation shows the commands and their parameters but not every answer: ``add`` answers
``{"id": N}``, ``chg``/``del`` the bare ``OK`` and ``get`` a JSON list of
``{"id", "name", "msg", "format", "sender", "autosign"}`` objects (our reading, used by the
emulator too). A change of an unknown id may come back as the plain ``ERROR = 3 (...)`` line even
when JSON was asked for; the decoder reads both.
"""

from __future__ import annotations

import builtins
from typing import Literal

from .. import models
from .._errors import NotFoundError
from .._validation import check_choice, check_flag, check_message, check_sender, check_str
from ._base import Endpoint, Kind, Namespace, as_list, id_of
from ._common import check_record_id, expect_ok, ok_endpoint

__all__ = ["TEMPLATE_FORMATS", "TemplateFormat", "Templates"]

_PATH = "/sys/templates.php"
_ERRORS = {3: NotFoundError}

#: Kinds of message a template may be bound to (``None``: any).
TEMPLATE_FORMATS = ("sms", "flash", "bin", "push", "mms", "call", "mail", "viber")
TemplateFormat = Literal["sms", "flash", "bin", "push", "mms", "call", "mail", "viber"]

ADD = Endpoint(
    "templates", _PATH, lambda: int, (("add", "1"),), errors=_ERRORS, kind=Kind.WRITE, adapt=id_of
)
CHANGE = ok_endpoint("templates", _PATH, (("chg", "1"),), errors=_ERRORS)
DELETE = ok_endpoint("templates", _PATH, (("del", "1"),), errors=_ERRORS)
LIST = Endpoint(
    "templates",
    _PATH,
    lambda: list[models.Template],
    (("get", "1"),),
    errors=_ERRORS,
    adapt=as_list,
)


def _fields(
    name: str | None,
    message: str | None,
    format: TemplateFormat | None,
    sender: str | None,
    autosign: bool | None,
) -> dict[str, str]:
    params: dict[str, str] = {}
    if name is not None:
        params["name"] = check_str("name", name).strip()
    if message is not None:
        params["msg"] = check_message(message)
    if format is not None:
        params["format"] = check_choice("format", format, TEMPLATE_FORMATS)
    if sender is not None:
        params["sender"] = check_sender(sender)
    if autosign is not None:
        params["fl[1]"] = check_flag("autosign", autosign)
    return params


class Templates(Namespace):
    """Message templates (templates.php), as ``smsc.templates``: list, add, change, delete."""

    async def add(
        self,
        name: str,
        message: str,
        *,
        format: TemplateFormat | None = None,
        sender: str | None = None,
        autosign: bool = False,
    ) -> int:
        """Save a message template and return its id.

        >>> tid = await smsc.templates.add("code", "Code: {code}", format="sms")  # doctest: +SKIP
        """
        params = _fields(name, message, format, sender, autosign)
        return await self._call(ADD, params)

    async def change(
        self,
        id: int,
        *,
        name: str | None = None,
        message: str | None = None,
        format: TemplateFormat | None = None,
        sender: str | None = None,
        autosign: bool | None = None,
    ) -> None:
        """Change the fields given of template ``id``; raises NotFoundError for an unknown id.

        >>> await smsc.templates.change(tid, message="Code: {code}")  # doctest: +SKIP
        """
        params = {"id": check_record_id(id)}
        changes = _fields(name, message, format, sender, autosign)
        if not changes:
            raise ValueError("pass at least one of name, message, format, sender, autosign")
        params.update(changes)
        expect_ok(CHANGE, await self._call(CHANGE, params))

    async def delete(self, id: int) -> None:
        """Delete template ``id``; raises NotFoundError for an unknown id.

        >>> await smsc.templates.delete(tid)  # doctest: +SKIP
        """
        expect_ok(DELETE, await self._call(DELETE, {"id": check_record_id(id)}))

    async def list(self) -> builtins.list[models.Template]:
        """Every template of the account.

        >>> [t.name for t in await smsc.templates.list()]  # doctest: +SKIP
        ['code']
        """
        return await self._call(LIST, {})
