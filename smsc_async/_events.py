"""Events a session reports to an ``on_event`` hook, for dashboards and progress bars.

``Session(on_event=callback)`` calls ``callback(event)`` synchronously for each event; the
callback must be quick and must not raise (an exception from it is logged and dropped). Events
carry no secret and no personal data (no phone numbers, no texts).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

__all__ = ["Event", "EventHook", "LimiterWait", "RequestDone"]


@attrs.frozen(kw_only=True)
class LimiterWait:
    """A request is about to wait in the limiter.

    ``endpoint`` is the endpoint's name, ``rule`` the rate rule that holds it (a
    :class:`~smsc_async.RateLimits` field name such as ``"operator_any"``, or ``"concurrency"`` /
    ``"status_concurrency"`` for the caps), ``limit`` and ``window`` that rule's numbers (window
    ``0.0`` for a cap), ``seconds`` the expected wait (``inf`` when an answer in flight decides)
    and ``queued`` how many requests of this process wait for the same rule.
    """

    endpoint: str
    rule: str
    limit: int
    window: float
    seconds: float
    queued: int


@attrs.frozen(kw_only=True)
class RequestDone:
    """One attempt of a request ended.

    ``attempt`` counts from 1, ``waited`` is the time spent in the limiter, ``duration`` the time
    on the wire, and ``outcome`` ``"ok"`` or the name of the exception class that ended it
    (``"TooManyRequestsError"``, ``"RequestTimeout"`` …).
    """

    endpoint: str
    attempt: int
    waited: float
    duration: float
    outcome: str


#: Every event type a hook may receive.
Event = LimiterWait | RequestDone
#: The type of ``Session(on_event=...)``.
EventHook = Callable[[Event], None]
