"""What an endpoint handler gets, and the error texts every endpoint shares."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import attrs

from smsc_async.testing._state import Account

if TYPE_CHECKING:
    from smsc_async.testing._app import Emulator

#: Error texts shared by every endpoint (endpoint modules add their own codes in ``ERRORS``).
COMMON_ERRORS: Mapping[int, str] = {
    1: "parameters error",
    2: "authorise error",
    4: "ip is blocked",
    9: "duplicate request, wait a minute",
}
#: The error-9 text for the concurrent-connections cap.
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
