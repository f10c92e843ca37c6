"""Bad input is refused before anything is sent: checked without an event loop or a network.

A call's arguments are checked before its first suspension, so stepping its coroutine once
(``coro.send(None)``) must raise. Were a check missing, the call would go on into the pipeline
and fail there for want of an event loop, with an exception the test does not expect. Backend
independent, so each case runs once.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from smsc_async import Session


def _nothing_leaves(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"a request left: {request.url}")


def offline_session() -> Session:
    """A session whose transport fails the test if a request is ever sent."""
    return Session("demo", "demo", transport=httpx.MockTransport(_nothing_leaves))


def _step(call: Callable[[Session], Any]) -> None:
    result = call(offline_session())
    if inspect.iscoroutine(result):
        try:
            result.send(None)
        finally:
            result.close()


def assert_refused(
    call: Callable[[Session], Any], error: type[Exception], needle: str | None = None
) -> None:
    """``call(session)`` raises ``error`` (matching ``needle``) before its first suspension."""
    with pytest.raises(error, match=needle):
        _step(call)
