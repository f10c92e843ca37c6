"""get.php ``get_mega_accounts``: MegaFon statistics per personal account number.

Not a script of its own: get.php hands ``get_mega_accounts=1`` requests here. Answers (our
reading) a list of ``account``, ``sms``, ``cost`` rows, only ``account`` when given (an unknown
one gives an empty list). Rows are put in with :func:`~._misc.add_megafon_account`.
"""

from __future__ import annotations

from smsc_async.testing._endpoints._book import render_many
from smsc_async.testing._endpoints._context import Context
from smsc_async.testing._endpoints._misc import misc_of
from smsc_async.testing._wire import money


def handle(ctx: Context) -> str:
    """Answer one get.php ``get_mega_accounts`` request."""
    only = ctx.params.get("account", "").strip()
    rows = [
        [("account", r.account), ("sms", r.sms), ("cost", money(r.cost))]
        for r in misc_of(ctx.account).megafon.values()
        if only in ("", r.account)
    ]
    return render_many(ctx.fmt, "account", rows)
