"""``/sys/ping.php``: trigger an event notification group (not ping-SMS, which is send.php).

``id`` names a group of the account (:func:`~._misc.add_notification_group`; error 3 for another);
``ok=1`` picks the recovery template instead of the failure one; ``name``, ``host`` and ``info``
fill macros. Answers ``OK``; each call is recorded (:func:`~._misc.notifications`).
"""

from __future__ import annotations

from collections.abc import Mapping

from smsc_async.testing._endpoints._book import record_id
from smsc_async.testing._endpoints._context import Context
from smsc_async.testing._endpoints._misc import Notification, misc_of
from smsc_async.testing._wire import GatewayError, flag, render_ok

PATH = "/sys/ping.php"
ERRORS: Mapping[int, str] = {3: "notification group not found"}


def handle(ctx: Context) -> str:
    """Answer one ping.php request."""
    params, rec = ctx.params, misc_of(ctx.account)
    group = record_id(params)
    if group not in rec.groups:
        raise GatewayError(3, ERRORS[3])
    rec.notifications.append(
        Notification(
            group=group,
            ok=flag(params, "ok"),
            name=params.get("name", ""),
            host=params.get("host", ""),
            info=params.get("info", ""),
            at=ctx.now,
        )
    )
    return render_ok(ctx.fmt)
