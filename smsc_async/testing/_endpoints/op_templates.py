"""``/sys/op_templates.php``: templates registered with mobile operators (``add``, ``get``).

Answers (our reading; the gateway documents only the parameters): ``add`` the new ``id``; ``get``
every template with ``id``, ``sender``, ``msg`` and the 0/1 flags ``mts_srv`` … ``tele2_trn``.
A template must name at least one operator flag.
"""

from __future__ import annotations

from collections.abc import Mapping

from smsc_async.testing._endpoints._book import (
    Fields,
    book_of,
    command,
    render_created,
    render_many,
)
from smsc_async.testing._endpoints._context import PARAMETERS_ERROR, Context
from smsc_async.testing._endpoints._misc import OP_TEMPLATE_FLAGS, OpTemplateRecord, misc_of
from smsc_async.testing._wire import GatewayError, flag

PATH = "/sys/op_templates.php"
ERRORS: Mapping[int, str] = {}

MAX_TEXT = 1000


def _fields(t: OpTemplateRecord) -> Fields:
    fields: Fields = [("id", t.id), ("sender", t.sender), ("msg", t.msg)]
    fields += [(name, int(name in t.flags)) for name in OP_TEMPLATE_FLAGS]
    return fields


def handle(ctx: Context) -> str:
    """Answer one op_templates.php request."""
    params, rec = ctx.params, misc_of(ctx.account)
    if command(params, ("add", "get")) == "get":
        return render_many(ctx.fmt, "template", [_fields(t) for t in rec.op_templates.values()])
    msg = params.get("msg", "")
    flags = frozenset(name for name in OP_TEMPLATE_FLAGS if flag(params, name))
    if not msg.strip() or len(msg) > MAX_TEXT or not flags:
        raise GatewayError(1, PARAMETERS_ERROR)
    record = OpTemplateRecord(
        id=book_of(ctx.account).next_id(),
        sender=params.get("sender", "").strip(),
        msg=msg,
        flags=flags,
    )
    rec.op_templates[record.id] = record
    return render_created(ctx.fmt, record.id)
