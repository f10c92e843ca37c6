"""The account and the numbers: balance.php, info.php (operators, also in bulk), wait_call.php."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable, Sequence

import attrs

import smsc_async

from .. import models
from .._constants import (
    DEFAULT_LOOKUP_BATCH,
    DEFAULT_LOOKUP_CONCURRENCY,
    DEFAULT_LOOKUP_RETRIES,
)
from .._errors import InvalidPhoneError, OperatorNotFoundError
from .._limits import identical, per_login
from .._retry import RetryPolicy
from .._validation import check_int, check_phone, check_phones
from ._base import Calls, Endpoint, Kind, Pace, as_list

__all__ = ["BALANCE", "OPERATOR_INFO", "WAIT_CALL", "InfoCalls"]

BALANCE = Endpoint(
    "balance", "/sys/balance.php", lambda: models.Balance, rules=per_login("balance")
)
# One number is answered with an object, several with a list of them.
OPERATOR_INFO = Endpoint(
    "info",
    "/sys/info.php",
    lambda: list[models.OperatorInfo],
    (("get_operator", "1"),),
    errors={3: OperatorNotFoundError},
    rules=identical("operator_identical", "operator_any"),
    adapt=as_list,
)
# Starts a confirmation: not idempotent, each request gives the subscriber a number to call.
WAIT_CALL = Endpoint(
    "wait_call",
    "/sys/wait_call.php",
    lambda: models.WaitCall,
    errors={7: InvalidPhoneError},
    kind=Kind.WRITE,
)


class InfoCalls(Calls):
    """The balance, operator look-ups (one request or a whole list) and confirmation by call."""

    # A bulk run retries on the session's policy (and waits on its clock).
    _retry: RetryPolicy | None

    async def balance(self) -> models.Balance:
        """The account's balance, with its currency and credit (balance.php, ``cur=1``).

        >>> await smsc.balance()  # doctest: +SKIP
        Balance(balance=Decimal('250.80'), currency='RUB', credit=None)
        """
        return await self._call(BALANCE, {"cur": "1"})

    async def operator_info(self, phones: str | Iterable[str]) -> list[models.OperatorInfo]:
        """Country, operator, region, MCC/MNC and time zone of one or several numbers.

        Several numbers go in one request (the gateway allows 100 look-up requests a minute); an
        entry the gateway could not resolve comes back with ``found == False``.

        >>> infos = await smsc.operator_info(["79161234567", "79031234567"])  # doctest: +SKIP
        """
        numbers = check_phones(phones)
        infos = await self._call(OPERATOR_INFO, {"phone": ",".join(numbers)})
        if len(numbers) == 1 and len(infos) == 1 and infos[0].phone is None:
            return [attrs.evolve(infos[0], phone=numbers[0])]
        return infos

    async def wait_call(self, phone: str) -> models.WaitCall:
        """Start confirming ``phone`` by an incoming call: the subscriber is to call ``.phone``.

        The gateway reports the call to the account's callback URL.

        >>> check = await smsc.wait_call("79161234567")  # doctest: +SKIP
        >>> check.phone  # doctest: +SKIP
        '78005553535'
        """
        return await self._call(WAIT_CALL, {"phone": check_phone(phone)})

    def lookup_operators(
        self,
        phones: Iterable[str | int] | AsyncIterable[str | int],
        *,
        batch_size: int = DEFAULT_LOOKUP_BATCH,
        concurrency: int = DEFAULT_LOOKUP_CONCURRENCY,
        progress: Callable[[smsc_async.LookupProgress], object] | None = None,
        total: int | None = None,
        skip: Iterable[str] = (),
        retries: int = DEFAULT_LOOKUP_RETRIES,
    ) -> smsc_async.BulkLookup:
        """Look up the operator of every number of ``phones``, as fast as the gateway allows.

        ``phones`` is any iterable or async iterable of numbers (a list, an open file, a database
        cursor's column); blank items are ignored. Numbers are normalized and de-duplicated, packed
        ``batch_size`` to an info.php request, and sent with up to ``concurrency`` requests in
        flight, so the look-up rule (100 requests a minute) stays saturated. Each distinct number
        gets one :class:`~smsc_async.LookupResult` as soon as its batch is answered, with ``info``
        or a per-number ``error`` (not a number, refused by the gateway, operator not found) that
        does not stop the run. A batch refused because of one bad number is split until the
        number stands alone; one refused for its length is split, and later batches are cut to
        the length that worked.

        Memory stays flat however long the input: a few batches are held at a time, plus about
        12-24 bytes per distinct number for the de-duplication set. ``skip`` holds numbers (or
        texts that are not numbers) answered before, to be neither looked up nor yielded again:
        resuming a run. ``progress`` is called with a :class:`~smsc_async.LookupProgress` after
        every batch; ``total``, the number of items in ``phones`` (default: ``len(phones)`` when
        it has one), lets it estimate the ETA before the input is read to the end. ``concurrency``
        never exceeds the session's ``limits.concurrency``. ``retries`` repeats a batch after a
        failure the session's policy retries for reads (error 9, a transport failure, HTTP 5xx),
        waiting as the session's ``retry`` policy says (its defaults when it has ``retry=None``); a
        failure that outlasts them, or any other error of the session (wrong credentials …), stops
        the run and is raised from the iteration as it is. An item of ``phones`` that is not a
        number (text that is not one, ``None``, a float …) gets its own result with an ``error``
        and is never sent.

        Enter the returned object to start; leaving the block early cancels the requests in
        flight::

            async with smsc.lookup_operators(open("phones.txt")) as results:
                async for item in results:
                    print(item.phone, item.info.operator if item.ok else item.error)
        """
        check_int("batch_size", batch_size, 1)
        check_int("concurrency", concurrency, 1)
        check_int("retries", retries, 0)
        if total is not None:
            check_int("total", total, 0)
        if isinstance(phones, (str, bytes)):
            raise TypeError("phones must be an iterable of numbers, not a single str or bytes")
        if not isinstance(phones, (Iterable, AsyncIterable)):
            raise TypeError(f"phones must be an iterable of numbers, not {type(phones).__name__}")
        if isinstance(skip, (str, bytes)):
            raise TypeError("skip must be an iterable of numbers, not a single str or bytes")
        limits = self._limits
        # Loaded on first use: most programs never run a bulk look-up.
        from .._bulk import BulkLookup, check_callback

        return BulkLookup(
            self._lookup_batch,
            phones,
            batch_size=batch_size,
            concurrency=min(concurrency, limits.concurrency),
            progress=check_callback(progress),
            total=total,
            skip=skip,
            retries=retries,
            rate_span=2 * limits.operator_any.window,
            retry=self._retry,
            clock=self._clock,
        )

    async def _lookup_batch(self, part: Sequence[str], pace: Pace) -> list[models.OperatorInfo]:
        # The run normalized every number already (stricter than check_phones): straight to
        # the pipeline, without checking a million numbers twice. One attempt: the run retries
        # each batch by the session's policy itself, so the session's own retries must not nest.
        # ``pace`` shares the run's decoding out among the loop's turns.
        return await self._call_once(OPERATOR_INFO, {"phone": ",".join(part)}, pace)
