"""The retry policy: one object for every retried request, the session's and the bulk runner's."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import attrs
import tenacity

from ._clock import Clock
from ._endpoints._base import Kind
from ._errors import ProtocolError, TooManyRequestsError, TransportError

__all__ = ["RetryPolicy"]

T = TypeVar("T")

logger = logging.getLogger("smsc_async")


def _non_negative(inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """Which failed requests a session retries, and how long it waits between tries.

    The rule, exactly as :meth:`retries` applies it:

    * every request (``Kind.SEND``, ``Kind.WRITE``, ``Kind.READ``) is retried after error 9
      (:class:`~smsc_async.TooManyRequestsError`): the gateway refused it without acting on it,
      so a retried send cannot deliver twice;
    * an idempotent read (``Kind.READ``) is also retried after a
      :class:`~smsc_async.TransportError` (no connection, a timeout, a dropped connection) and
      after a :class:`~smsc_async.ProtocolError` with an HTTP status of 500 or more (the gateway
      or a proxy failed): asking again changes nothing at the gateway;
    * nothing else is retried: sends and writes never after a transport failure (the gateway
      may have acted), and no request after any other answer.

    After the ``n``-th failed try the policy waits ``initial * 2 ** (n - 1)`` seconds, at most
    ``max_wait``, plus ``clock.jitter(jitter)`` (uniform in ``[0, jitter)``): by default 1, 2,
    4 s plus up to 1 s. After ``attempts`` tries in all the last error is raised. Every try
    passes through the rate limiter again. ``Session(retry=None)`` turns retrying off.

    >>> list(RetryPolicy(attempts=5, initial=0.5, max_wait=3.0).waits())
    [0.5, 1.0, 2.0, 3.0]
    """

    attempts: int = attrs.field(default=4, validator=attrs.validators.ge(1))
    initial: float = attrs.field(default=1.0, validator=_non_negative)
    max_wait: float = attrs.field(default=30.0, validator=_non_negative)
    jitter: float = attrs.field(default=1.0, validator=_non_negative)

    def waits(self) -> Iterator[float]:
        """The waits after each failed try but the last, without jitter (``attempts - 1``)."""
        for n in range(1, self.attempts):
            yield self._wait(n)

    def _wait(self, failed_tries: int) -> float:
        return min(self.initial * 2.0 ** (failed_tries - 1), self.max_wait)

    def retries(self, error: BaseException, kind: Kind) -> bool:
        """Whether a request of ``kind`` that failed with ``error`` may be tried again."""
        if isinstance(error, TooManyRequestsError):
            return True
        if kind is not Kind.READ:
            return False
        if isinstance(error, TransportError):
            return True
        status = getattr(error, "status_code", None)
        return isinstance(error, ProtocolError) and status is not None and status >= 500

    async def run(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        clock: Clock,
        kind: Kind,
        failed: BaseException | None = None,
        name: str = "request",
    ) -> T:
        """Call ``attempt()`` until it succeeds or the policy gives up; sleep on ``clock``.

        ``failed`` is the error of a first try already made (it counts as try 1), so a caller
        can keep its success path free of the policy::

            try:
                return await attempt()
            except SMSCError as exc:
                if not policy.retries(exc, kind):
                    raise
                return await policy.run(attempt, clock=clock, kind=kind, failed=exc)

        ``name`` labels the INFO log line of each retry (never a secret or a number).
        """

        def wait(state: tenacity.RetryCallState) -> float:
            failed_tries = state.attempt_number
            if failed_tries >= self.attempts:
                return 0.0  # tenacity asks before it stops: no sleep follows, draw nothing
            return self._wait(failed_tries) + clock.jitter(self.jitter)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            outcome = state.outcome
            error = outcome.exception() if outcome is not None else None
            logger.info(
                "%s: %s; try %d of %d in %.2f s",
                name,
                type(error).__name__,
                state.attempt_number + 1,
                self.attempts,
                state.upcoming_sleep,
            )

        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(lambda exc: self.retries(exc, kind)),
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=wait,
            sleep=clock.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        async for trial in retrying:
            with trial:
                if failed is not None:
                    error, failed = failed, None
                    raise error
                return await attempt()
        raise AssertionError("unreachable: tenacity reraises the last error")
