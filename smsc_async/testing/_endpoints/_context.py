"""What an endpoint handler gets, and the error texts every endpoint shares."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import attrs

from smsc_async.testing._state import Account

if TYPE_CHECKING:
    from smsc_async.testing._app import Emulator

#: Error 1, as every seed page's error table words it.
PARAMETERS_ERROR = "Error in parameters."
#: Error texts shared by every endpoint (endpoint modules add their own codes in ``ERRORS``),
#: as the seeds' error tables word them (000-004: "1 Error in parameters.", "2 Invalid username
#: or password. ...", "4 The IP address is temporarily blocked."). Error 9 of a rate rule has
#: its rule's text (``_limits.REFUSALS``); this one is for rules whose page is not a seed.
COMMON_ERRORS: Mapping[int, str] = {
    1: PARAMETERS_ERROR,
    2: "Invalid username or password.",
    4: "The IP address is temporarily blocked.",
    9: "duplicate request, wait a minute",
}
#: The error-9 text for the concurrent-connections cap: seeds 000/001/003 quote it, "(too many
#: concurrent requests)".
CONCURRENCY_TEXT = "too many concurrent requests"


@attrs.define(kw_only=True, eq=False)
class Context:
    """One authorized request as a handler sees it. ``now`` is emulator time in unix seconds."""

    emulator: Emulator
    account: Account
    params: Mapping[str, str]
    fmt: int
    now: float
    path: str


#: A handler answers with the body text in ``ctx.fmt`` or raises ``GatewayError``.
Handler = Callable[[Context], str]
