"""The emulated endpoints: one module per gateway script with ``PATH``, ``ERRORS``, ``handle``.

Adding an endpoint is one module plus one entry in ``_MODULES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from smsc_async.testing._endpoints import (
    balance,
    documents,
    get,
    info,
    jobs,
    op_templates,
    phones,
    ping,
    receive_phones,
    send,
    senders,
    status,
    templates,
    tinyurls,
    users,
    wait_call,
)
from smsc_async.testing._endpoints._context import (
    COMMON_ERRORS,
    CONCURRENCY_TEXT,
    Context,
    Handler,
)

_MODULES: tuple[ModuleType, ...] = (
    balance,
    info,
    send,
    status,
    senders,
    get,
    tinyurls,
    templates,
    jobs,
    phones,
    users,
    op_templates,
    documents,
    ping,
    receive_phones,
    wait_call,
)

#: Handler per request path.
HANDLERS: Mapping[str, Handler] = {m.PATH: m.handle for m in _MODULES}
_ERRORS: Mapping[str, Mapping[int, str]] = {m.PATH: m.ERRORS for m in _MODULES}


def error_text(path: str, code: int) -> str:
    """The gateway's text for error ``code`` on ``path``."""
    return _ERRORS.get(path, {}).get(code) or COMMON_ERRORS.get(code, "error")


__all__ = ["CONCURRENCY_TEXT", "HANDLERS", "Context", "Handler", "error_text"]
