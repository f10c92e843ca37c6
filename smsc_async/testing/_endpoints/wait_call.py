"""``/sys/wait_call.php``: confirm a number by an incoming call.

``phone`` is the number to confirm (error 7 when malformed). Answers (our reading) the check's
``id`` and the ``phone`` the subscriber is to call; the emulator hands out its call numbers in
turn and records the check on the account.
"""

from __future__ import annotations

from collections.abc import Mapping

from smsc_async.testing._endpoints._book import book_of, render_one
from smsc_async.testing._endpoints._context import PARAMETERS_ERROR, Context
from smsc_async.testing._endpoints._misc import CALL_NUMBERS, misc_of
from smsc_async.testing._numbers import normalize
from smsc_async.testing._wire import GatewayError

PATH = "/sys/wait_call.php"
ERRORS: Mapping[int, str] = {7: "invalid number"}


def handle(ctx: Context) -> str:
    """Answer one wait_call.php request."""
    raw = ctx.params.get("phone", "")
    if not raw.strip():
        raise GatewayError(1, PARAMETERS_ERROR)
    number = normalize(raw)
    if number is None:
        raise GatewayError(7, ERRORS[7])
    checks = misc_of(ctx.account).wait_calls
    check = book_of(ctx.account).next_id()
    checks[check] = number
    call = CALL_NUMBERS[(len(checks) - 1) % len(CALL_NUMBERS)]
    return render_one(ctx.fmt, "result", [("id", check), ("phone", call)])
