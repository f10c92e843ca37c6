"""The retry policy: error 9 ("too many requests") and nothing else."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import attrs
import tenacity

from ._errors import TooManyRequestsError

__all__ = ["RetryPolicy"]

T = TypeVar("T")


def _non_negative(inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How a session retries requests the gateway refused with error 9.

    Only error 9 is retried: it means the gateway refused the request without acting on it, so a
    retried send cannot deliver twice. Every attempt passes through the rate limiter again. Waits
    grow exponentially from ``initial`` up to ``max_wait`` seconds with up to ``jitter`` seconds of
    random spread; after ``attempts`` tries in all the last error is raised.

    ``Session(retry=None)`` turns retrying off.
    """

    attempts: int = attrs.field(default=4, validator=attrs.validators.ge(1))
    initial: float = attrs.field(default=1.0, validator=_non_negative)
    max_wait: float = attrs.field(default=30.0, validator=_non_negative)
    jitter: float = attrs.field(default=1.0, validator=_non_negative)

    def retrying(self) -> tenacity.AsyncRetrying:
        """A tenacity controller for one retry sequence (built only after a first error 9)."""
        return tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type(TooManyRequestsError),
            stop=tenacity.stop_after_attempt(max(self.attempts - 1, 1)),
            wait=tenacity.wait_exponential(multiplier=self.initial, max=self.max_wait)
            + tenacity.wait_random(0, self.jitter),
            sleep=anyio.sleep,
            reraise=True,
        )

    async def after_first_failure(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run the retries that follow a first error 9 (which counts as the first attempt)."""
        if self.attempts <= 1:
            raise RuntimeError("no retries configured")  # callers check attempts first
        await anyio.sleep(self._first_wait())
        async for trial in self.retrying():
            with trial:
                return await attempt()
        raise AssertionError("unreachable: tenacity reraises the last error")

    def _first_wait(self) -> float:
        return min(self.initial, self.max_wait) + random.uniform(0, self.jitter)
