"""Bulk operator look-ups: a stream of numbers in, one result per distinct number out.

The work is a pipeline of three parts that run in one task group::

    reader ──batches──▶ workers (each: limiter slot → info.php → split on a refused batch)
       │                   │
       └── invalid numbers ┴──results──▶ the caller's ``async for``

Both channels are bounded, so however long the input, at most ``2 * concurrency`` batches and
``concurrency`` answered batches are held at once; the only memory that grows is the de-duplication
set (:class:`_NumberSet`, about 12-24 bytes per distinct number). The task group lives inside an
``async with`` block so that leaving the block -- normally, by ``break``, by an error or by
cancellation -- cancels the requests still in flight before the block is left.

No part keeps the event loop from other tasks for long: the reader hands over at every batch it
sends on, after every 256 items that sent nothing on and after every 1,024 slots of the set rehashed
(a table's worth at a million numbers), a worker's turn is one answer (decoding and matching one
batch), answers that come in together are decoded a few per turn of the loop, the reader's stretches
sharing the same allowance (:class:`_Turns`: about a hundred numbers' worth a turn, however many
workers were answered at once), and the results are made a column at a time. The objects a run makes
die young, by reference counting, one batch's worth in each stage: a million numbers bring on a few
collections of the youngest generation and none of the whole heap (a full collection is what
long-lived objects piling up would bring round).
"""

from __future__ import annotations

import re
from array import array
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Iterator, Sequence
from itertools import islice, repeat
from operator import attrgetter
from types import TracebackType
from typing import Union

import anyio
import anyio.abc
import anyio.lowlevel
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._clock import Clock, SystemClock
from ._converter import slot_setters
from ._endpoints._base import Kind, Pace
from ._errors import (
    OperatorNotFoundError,
    ParameterError,
    ProtocolError,
    SMSCError,
    api_error,
)
from ._retry import RetryPolicy
from .models import OperatorInfo

__all__ = [
    "BulkLookup",
    "LookupProgress",
    "LookupResult",
    "LookupResults",
    "normalize_phone",
]

_DEFAULT_RETRY = RetryPolicy()
# The errors a refused batch can owe to one of its numbers: split it to find the number.
_SPLIT_ON = (ParameterError, OperatorNotFoundError)
# The reader yields to the event loop whenever it sends a batch on, and at the latest after this
# many items that sent nothing on (duplicates, blank lines): a stretch of reading is a batch's
# worth of numbers (0.1-0.3 ms), never more...
_READER_STRETCH = 256
# ... and once the set has rehashed this many slots since it last yielded: a table of 2,048 slots
# at a million numbers (~0.3 ms), or the sum of the many small ones that double early on (each
# yield is a turn of the loop: one after every one of those would cost more than they do).
_REHASH_STRETCH = 1024
# The de-duplication set's plain front set: how many numbers it holds before the tables take
# over, and how many of them move to the tables with each number added after that.
_FRONT = 1 << 14
_FRONT_STEP = 4
# The de-duplication set: 2**_TABLE_BITS tables of 2**_FIRST_BITS slots to start with, indexed
# by the hash's top bits and probed with the next _INDEX_BITS.
_TABLE_BITS = 10
_INDEX_BITS = 64 - _TABLE_BITS
_TABLE_MASK = (1 << _TABLE_BITS) - 1
_FIRST_BITS = 4
_EMPTY_TABLE = bytes(8 << _FIRST_BITS)
# Table k doubles when more than (0.5 + 0.2 k / 2**_TABLE_BITS) of its slots are taken.
_LOAD_BASE = 5 << (_TABLE_BITS + 10)  # 0.5 in units of 1 / (10 * 2**(_TABLE_BITS + 10))
_LOAD_STEP = 2 << 10
_LOAD_UNIT = 10 << (_TABLE_BITS + 10)

# First digits of a plain-digit number that normalize_phone returns as it is, whatever its length.
_PLAIN = frozenset("1234567")
_PHONE_NOISE = re.compile(r"[\s\-().]")
_PHONE = re.compile(r"\+?[1-9]\d{6,14}", re.ASCII)
# Lines that are each a number take() would take as it is (7-15 ASCII digits from 1-7).
_PLAIN_LINES = re.compile(r"[1-7][0-9]{6,14}(?:\n[1-7][0-9]{6,14})*")

# The numbers a run reads or decodes in one turn of the event loop (rounded up to whole
# batches; a stretch of reading costs about what decoding a batch does): every worker answered
# in the same turn would otherwise decode in it, and keep other tasks waiting for all fourteen
# answers (~7 ms at batch 100) where they now wait for one.
_TURN_NUMBERS = 100

#: ``lookup(part, pace)``: look ``part`` up, awaiting ``pace()`` once the answer is in and before
#: decoding it (a turn of the loop shared with the run's other workers).
Lookup = Callable[[Sequence[str], Pace], Awaitable[list[OperatorInfo]]]
ProgressCallback = Callable[["LookupProgress"], object]


def normalize_phone(value: str) -> str:
    """``value`` as the gateway reads it: international digits without ``+`` or formatting.

    Spaces, dashes, dots and brackets are dropped. As the gateway does for a number written without
    ``+``, a Russian/Kazakh trunk ``8XXXXXXXXXX`` becomes ``7XXXXXXXXXX`` and a bare ten-digit
    ``9XXXXXXXXX`` gets its ``7``. Raises ``ValueError`` for anything but 7 to 15 digits.

    >>> normalize_phone("+7 (916) 123-45-67"), normalize_phone("8 916 123 45 67")
    ('79161234567', '79161234567')
    """
    if value.isdigit() and value.isascii() and 7 <= len(value) <= 15 and value[0] != "0":
        text = value  # the common case, plain digits: no regular expression needed
    else:
        text = _PHONE_NOISE.sub("", value)
        if not _PHONE.fullmatch(text):
            raise ValueError(
                f"{value!r} is not a phone number in international format "
                "(7 to 15 digits, optional leading '+')"
            )
    if text[0] == "+":
        return text[1:]
    if len(text) == 11 and text[0] == "8":
        return "7" + text[1:]
    if len(text) == 10 and text[0] == "9":
        return "7" + text
    return text


class _NumberSet:
    """A set of phone numbers held as 64-bit integers in 1024 small open-addressing tables.

    A Python ``set`` of strings costs about 100 bytes per number; this costs 8 bytes per slot at a
    load between 0.35 and 0.7 over all tables, so a million numbers take 12-24 MB. Numbers are 7-15
    digits without a leading zero, so each fits an ``int64`` and ``0`` can mark an empty slot.

    The top bits of a number's hash pick its table. A full table is rehashed alone, in pure
    Python and so without a pause for other tasks: at a million numbers that is about a
    thousand numbers (~0.3 ms), where one big table would stop the event loop for hundreds of
    milliseconds to rehash all of them at once. Tables fill at one pace (and a numbering plan's
    regular ranges fill them more evenly still), so were they all to double at the same load they
    would all double within a few thousand numbers, dozens per stretch of the reader: table
    ``k`` doubles at a load of ``0.5 + 0.2 k / 1024`` instead, which spreads the 1024 doublings of
    each size evenly over a fifth of that size's filling. :attr:`moved` tells the reader how many
    slots were rehashed, so that it lets other tasks run once that is a stretch's worth.
    """

    __slots__ = (
        "_front",
        "_front_limit",
        "_limits",
        "_masks",
        "_shifts",
        "_sizes",
        "_tables",
        "add",
        "moved",
    )

    def __init__(self, front: int | None = None) -> None:
        if front is None:
            front = _FRONT
        # The first ``front`` numbers go to a plain set, several times quicker per number than
        # the tables and small at that size (~1.5 MB for 16,384 numbers, its largest resize
        # well under a millisecond): most runs are over before they would fill it. Once it is
        # full the tables take every new number, and take its numbers over a few per call (see
        # _front_add): it empties within the next quarter of its size.
        self._front: set[int] | None = set() if front > 0 else None
        self._front_limit = front
        count = 1 << _TABLE_BITS
        # Every table starts as the one shared empty table and gets its own at its first number:
        # a run of a few hundred numbers would otherwise spend more making 1024 tables (~0.25
        # ms) than de-duplicating.
        self._tables = [_SHARED_EMPTY] * count
        # Per table, what its index needs: the hash's bits below the table's own, shifted down
        # and masked (kept as they are used: the hash's arithmetic is on multi-digit ints).
        self._shifts = [_INDEX_BITS - _FIRST_BITS] * count
        self._masks = [(1 << _FIRST_BITS) - 1] * count
        self._limits = list(_FIRST_LIMITS)
        self._sizes = [0] * count
        #: Slots of old tables rehashed since the reader last cleared it.
        self.moved = 0
        #: Add a number; whether it was new.
        self.add: Callable[[int], bool] = (
            self._front_add if self._front is not None else self._table_add
        )

    def __len__(self) -> int:
        return sum(self._sizes) + (len(self._front) if self._front is not None else 0)

    @property
    def nbytes(self) -> int:
        """Bytes held by the tables' slots."""
        return sum(8 * len(table) for table in self._tables)

    @staticmethod
    def _limit(which: int, bits: int) -> int:
        """The most numbers table ``which`` holds at ``2**bits`` slots before it doubles."""
        return ((_LOAD_BASE + _LOAD_STEP * which) << bits) // _LOAD_UNIT

    def _front_add(self, number: int) -> bool:
        front = self._front
        if front is None:  # emptied (add is _table_add now; a caller kept the old one)
            return self._table_add(number)
        if number in front:
            return False
        if len(front) < self._front_limit:
            front.add(number)
            return True
        # Full: the tables take every new number from here on, and take the set's numbers over,
        # _FRONT_STEP a call (counted as moved slots: the reader hands over after each stretch's
        # worth of them), so no call pays for all of them.
        self._front_limit = 0
        step = min(_FRONT_STEP, len(front))
        table_add = self._table_add
        for _ in range(step):
            table_add(front.pop())
        self.moved += step
        if not front:
            self._front = None
            self.add = table_add
        return table_add(number)

    def _table_add(self, number: int) -> bool:
        # Fibonacci hashing spreads consecutive numbers (a numbering plan's ranges) over tables:
        # the top bits of the product's low 64 pick the table, the next ones the slot.
        h = number * 0x9E3779B97F4A7C15
        which = (h >> _INDEX_BITS) & _TABLE_MASK
        table = self._tables[which]
        mask = self._masks[which]
        i = (h >> self._shifts[which]) & mask
        while True:
            slot = table[i]
            if slot == 0:
                break
            if slot == number:
                return False
            i = (i + 1) & mask
        if table is _SHARED_EMPTY:
            table = self._tables[which] = _SHARED_EMPTY[:]  # a copy: half the time of a new one
        table[i] = number
        sizes = self._sizes
        size = sizes[which] + 1
        sizes[which] = size
        if size > self._limits[which]:
            self._grow(which)
        return True

    def _grow(self, which: int) -> None:
        old = self._tables[which]
        shift = self._shifts[which] - 1
        mask = 2 * self._masks[which] + 1
        table = _ZERO * (mask + 1)
        for number in old:
            if number:
                i = ((number * 0x9E3779B97F4A7C15) >> shift) & mask
                while table[i]:
                    i = (i + 1) & mask
                table[i] = number
        self._tables[which] = table
        self._shifts[which] = shift
        self._masks[which] = mask
        self._limits[which] = self._limit(which, _INDEX_BITS - shift)
        self.moved += len(old)


# Read by every table that has no number yet, written by none (add() copies it first).
_SHARED_EMPTY = array("q", _EMPTY_TABLE)
_ZERO = array("q", [0])  # repeated, the quickest empty table of any size
_FIRST_LIMITS = tuple(_NumberSet._limit(which, _FIRST_BITS) for which in range(1 << _TABLE_BITS))


@attrs.frozen(kw_only=True)
class LookupResult:
    """The answer for one distinct number of a bulk look-up.

    ``phone`` is the number as given, normalized (:func:`normalize_phone`; the stripped text when it
    is not a number at all). Exactly one of ``info`` (the operator, country and region) and
    ``error`` is set: ``error`` is a per-number failure that did not stop the run -- a
    ``ValueError`` for text that is not a phone number, a ``TypeError`` for an item that is not
    text or an ``int`` at all (``None``, a float …; ``phone`` is then its ``repr``) -- both
    rejected locally, never sent --, :class:`~smsc_async.ParameterError` for a number the
    gateway refused, :class:`~smsc_async.OperatorNotFoundError` for one whose operator it does
    not know.
    """

    phone: str
    info: OperatorInfo | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        """Whether the operator was found (``info`` is set)."""
        return self.info is not None


@attrs.frozen(kw_only=True)
class LookupProgress:
    """How far a bulk look-up has come; passed to the ``progress`` callback after every batch.

    ``done`` counts distinct numbers answered (``failed`` of them with a per-number error).
    ``total`` is the number of distinct numbers to answer: exact once the whole input has been
    read, an estimate before that when the input has a length (or ``total=`` was given), else
    ``None``. ``rate`` is numbers per second over the last two rule windows, ``eta`` the seconds
    left at that rate (``None`` while ``total`` is unknown), ``requests`` the info.php requests
    sent so far.
    """

    done: int
    failed: int
    total: int | None
    requests: int
    elapsed: float
    rate: float
    eta: float | None

    @property
    def found(self) -> int:
        """Numbers whose operator was found."""
        return self.done - self.failed


@attrs.frozen
class _Failure:
    """A run-stopping error on its way to the consumer."""

    error: BaseException


_Item = Union[list[LookupResult], _Failure]  # noqa: UP007 (a runtime alias on Python 3.10)


def _result_maker() -> Callable[[Sequence[str], Sequence[OperatorInfo]], list[LookupResult]]:
    """``[LookupResult(phone=p, info=i) for p, i in zip(phones, infos)]``, the fastest way there is.

    A run makes one result per number; setting the three slots straight, a column at a time
    (``map`` runs the setters without a Python loop), costs half of attrs' keyword ``__init__``
    and makes the same objects (see :func:`~smsc_async._converter.slot_setters`).
    """
    setters = slot_setters(LookupResult, ["phone", "info", "error"])
    if setters is None:
        return lambda phones, infos: [
            LookupResult(phone=phone, info=info) for phone, info in zip(phones, infos, strict=True)
        ]
    set_phone, set_info, set_error = setters
    new = object.__new__

    def found(phones: Sequence[str], infos: Sequence[OperatorInfo]) -> list[LookupResult]:
        count = len(phones)
        results: list[LookupResult] = list(map(new, repeat(LookupResult, count)))
        deque(map(set_phone, results, phones), 0)
        deque(map(set_info, results, infos), 0)
        deque(map(set_error, results, repeat(None, count)), 0)
        return results

    return found


_found = _result_maker()
_PHONE_OF = attrgetter("phone")
_ERROR_CODE_OF = attrgetter("error_code")


def _match(part: Sequence[str], infos: Sequence[OperatorInfo]) -> list[LookupResult]:
    """Pair each number of ``part`` with its entry of the gateway's answer."""
    count = len(part)
    if (
        len(infos) == count
        and list(map(_ERROR_CODE_OF, infos)).count(None) == count
        and list(map(_PHONE_OF, infos)) == part
    ):
        # The usual answer: one entry per number, in order, echoing the digits sent, all found.
        return _found(part, infos)
    if len(infos) == count:
        # One entry per number in order, some of them not found.
        results = []
        for phone, entry in zip(part, infos, strict=True):
            if entry.phone != phone:
                break
            if entry.error_code is None:
                results.append(LookupResult(phone=phone, info=entry))
            else:
                failure = api_error("info", entry.error_code, entry.error or "")
                results.append(LookupResult(phone=phone, error=failure))
        else:
            return results
    wanted = set(part)
    by_phone: dict[str, OperatorInfo] = {}
    spare: deque[OperatorInfo] = deque()
    for entry in infos:
        key = entry.phone
        if key is not None and key not in wanted:
            # The gateway echoes the digits it was sent; anything else is normalized to compare.
            try:
                key = normalize_phone(key)
            except ValueError:
                key = None
        if key is not None and key in wanted and key not in by_phone:
            by_phone[key] = entry
        else:
            spare.append(entry)
    results = []
    for phone in part:
        info: OperatorInfo | None = by_phone.get(phone)
        if info is None and spare:
            # The gateway answers in request order; an entry whose number it wrote differently
            # belongs to the next number left without one.
            info = spare.popleft()
        if info is None:
            error: Exception = ProtocolError(
                "no entry for this number in the answer", endpoint="info"
            )
            results.append(LookupResult(phone=phone, error=error))
        elif info.error_code is not None:
            error = api_error("info", info.error_code, info.error or "")
            results.append(LookupResult(phone=phone, error=error))
        else:
            if info.phone != phone:
                info = attrs.evolve(info, phone=phone)
            results.append(LookupResult(phone=phone, info=info))
    return results


class _Rate:
    """Numbers per second over a trailing span of time."""

    __slots__ = ("_samples", "_span")

    def __init__(self, span: float) -> None:
        self._span = span
        self._samples: deque[tuple[float, int]] = deque()

    def update(self, now: float, done: int, elapsed: float) -> float:
        samples = self._samples
        # A sample per hundredth of the span is enough for the rate and keeps the deque small:
        # long-lived objects piling up would bring on full garbage collections (a stalled loop).
        if not samples or now - samples[-1][0] >= self._span / 100:
            samples.append((now, done))
        # Before one span has passed the first window's burst would inflate a trailing rate.
        if elapsed < self._span:
            return done / elapsed if elapsed > 0 else 0.0
        while len(samples) > 2 and samples[1][0] <= now - self._span:
            samples.popleft()
        then, before = samples[0]
        return (done - before) / (now - then) if now > then else 0.0


class _Turns:
    """Lets a few answers a turn of the event loop be decoded; the others wait for the next turn.

    A worker awaits :meth:`wait` before its decode, the reader before each stretch of reading.
    Past ``per_turn`` of them the rest yield
    (a checkpoint puts a task behind everything already ready, the loop's other tasks included)
    and come back in the next turn, the first of them starting that turn's count. A turn with no
    one deferred does not start a new count: the count then spans several quiet turns, which
    costs at most one needless yield every ``per_turn`` answers, and needs no clock and no hook
    into the event loop (the same code on asyncio and trio).
    """

    __slots__ = ("_left", "_per_turn", "_turn")

    def __init__(self, per_turn: int) -> None:
        self._per_turn = per_turn
        self._left = per_turn
        self._turn = 0

    async def wait(self) -> None:
        """Return in a turn of the loop that has room for one more decode."""
        while self._left <= 0:
            turn = self._turn
            await anyio.lowlevel.checkpoint()
            if self._turn == turn:
                # The first to come back after yielding: a new turn, a new count.
                self._turn = turn + 1
                self._left = self._per_turn
        self._left -= 1


class LookupResults:
    """The results of a running :class:`BulkLookup`: iterate it with ``async for``.

    Results come in the order their batches are answered, not the input order. A run-stopping error
    (authorization, a transport failure that outlasted the retries, an error of the input iterable)
    is raised from the iteration.
    """

    def __init__(self, lookup: BulkLookup, receive: MemoryObjectReceiveStream[_Item]) -> None:
        self._lookup = lookup
        self._receive = receive
        self._buffer: deque[LookupResult] = deque()

    def __aiter__(self) -> LookupResults:
        return self

    async def __anext__(self) -> LookupResult:
        while not self._buffer:
            try:
                # An answered batch waiting is taken without a turn of the loop (receive()
                # would first yield, once per batch, for nothing) -- but a cancelled caller
                # still stops here, as at any checkpoint.
                await anyio.lowlevel.checkpoint_if_cancelled()
                try:
                    item = self._receive.receive_nowait()
                except anyio.WouldBlock:
                    item = await self._receive.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                raise StopAsyncIteration from None
            if isinstance(item, _Failure):
                raise item.error
            self._buffer.extend(item)
        return self._buffer.popleft()

    @property
    def progress(self) -> LookupProgress:
        """How far the run has come."""
        return self._lookup.progress


class BulkLookup:
    """Operator look-ups of a whole stream of numbers at the gateway's rate ceiling.

    Made by :meth:`Session.lookup_operators <smsc_async.Session.lookup_operators>`; enter it to
    start the run and iterate what it gives::

        async with smsc.lookup_operators(open("phones.txt")) as results:
            async for item in results:
                print(item.phone, item.info.operator if item.ok else item.error)

    Leaving the block before the end cancels the look-ups still in flight.
    """

    def __init__(
        self,
        lookup: Lookup,
        phones: Iterable[str | int] | AsyncIterable[str | int],
        *,
        batch_size: int,
        concurrency: int,
        progress: ProgressCallback | None,
        total: int | None,
        skip: Iterable[str],
        retries: int,
        rate_span: float,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._lookup_fn = lookup
        # The session's policy and clock: a retried batch waits what any retried call waits.
        self._retry = retry if retry is not None else _DEFAULT_RETRY
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._phones = phones
        self._batch_size = batch_size
        self._concurrency = concurrency
        self._callback = progress
        self._skip = skip
        self._retries = retries
        self._rate = _Rate(rate_span)
        # The largest batch the gateway accepted after refusing a bigger one for its size.
        self._cap = batch_size
        self._turns = _Turns(-(-_TURN_NUMBERS // batch_size))  # whole batches, at least one
        self._hint = total
        if total is None and not isinstance(phones, AsyncIterable):
            try:
                self._hint = len(phones)  # type: ignore[arg-type]
            except TypeError:
                self._hint = None
        self._unread_hint_lost = 0  # duplicates, skipped and blank items: not to be answered
        self._queued = 0  # distinct numbers sent to be answered (invalid ones included)
        self._read_all = False
        self._done = 0
        self._failed = 0
        self._requests = 0
        self._started: float | None = None
        self._last: LookupProgress | None = LookupProgress(
            done=0, failed=0, total=total, requests=0, elapsed=0.0, rate=0.0, eta=None
        )
        # The figures of the latest report, made a LookupProgress only when someone asks (a
        # callback, or the progress property): most runs never read most of their reports.
        self._figures: tuple[int, int, int | None, int, float, float, float | None] = (
            0, 0, total, 0, 0.0, 0.0, None
        )  # fmt: skip
        self._stopping = False
        # Workers are started as batches come (one to begin with, another whenever a batch is
        # sent on and none is waiting for one, up to ``concurrency``): a run of a few batches
        # does not pay for fourteen tasks.
        self._workers_left = 0
        self._workers_started = 0
        self._idle = 0
        self._worker_streams: (
            tuple[MemoryObjectReceiveStream[list[str]], MemoryObjectSendStream[_Item]] | None
        ) = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._entered = False
        self._gate: anyio.Event | None = None
        self._receive: MemoryObjectReceiveStream[_Item] | None = None
        self._probing = False

    @property
    def progress(self) -> LookupProgress:
        """The latest progress snapshot."""
        last = self._last
        if last is None:
            done, failed, total, requests, elapsed, rate, eta = self._figures
            last = self._last = LookupProgress(
                done=done,
                failed=failed,
                total=total,
                requests=requests,
                elapsed=elapsed,
                rate=rate,
                eta=eta,
            )
        return last

    async def __aenter__(self) -> LookupResults:
        if self._entered:
            raise RuntimeError("a BulkLookup can be entered only once")
        self._entered = True
        self._started = self._clock.now()
        self._gate = anyio.Event()
        send_batches, receive_batches = anyio.create_memory_object_stream[list[str]](
            self._concurrency
        )
        send_results, receive_results = anyio.create_memory_object_stream[_Item](self._concurrency)
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        # The reader keeps these two to start workers with; it closes them when it ends.
        self._worker_streams = (receive_batches, send_results)
        task_group.start_soon(self._read, send_batches, send_results.clone())
        self._start_worker()
        self._receive = receive_results
        return LookupResults(self, receive_results)

    def _start_worker(self) -> None:
        """One more worker, unless one is waiting for a batch already (or all are started)."""
        streams, task_group = self._worker_streams, self._task_group
        if (
            streams is None
            or task_group is None
            or self._idle
            or self._workers_started >= self._concurrency
        ):
            return
        self._workers_started += 1
        self._workers_left += 1
        task_group.start_soon(self._work, streams[0].clone(), streams[1].clone())

    def _close_worker_streams(self) -> None:
        streams, self._worker_streams = self._worker_streams, None
        if streams is not None:
            streams[0].close()
            streams[1].close()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task_group = self._task_group
        if task_group is None:
            return
        self._task_group = None
        self._stopping = True
        # The tasks never raise (their errors travel to the consumer as _Failure), so the group
        # ends quietly and the block's own exception, if any, leaves unchanged rather than wrapped
        # in an exception group.
        task_group.cancel_scope.cancel()
        try:
            await task_group.__aexit__(None, None, None)
        finally:
            self._close_worker_streams()  # the reader's, were it cancelled before it began
            if self._receive is not None:
                self._receive.close()

    # -- reading -----------------------------------------------------------------------------

    async def _read(
        self, batches: MemoryObjectSendStream[list[str]], results: MemoryObjectSendStream[_Item]
    ) -> None:
        async with batches, results:
            try:
                reader = _Reader(self, batches, results)
                phones = self._phones
                if isinstance(phones, AsyncIterable):
                    take = reader.take
                    quiet = 0  # items since the last send
                    async for item in phones:
                        quiet += 1
                        if take(item) or quiet >= _READER_STRETCH:
                            quiet = 0
                            await reader.send()
                else:
                    # take_from() reads a stretch in one call: a call per item would cost more
                    # than the item.
                    items = iter(phones)
                    more = True
                    while more:
                        more = reader.take_from(items)
                        await reader.send()
                await reader.flush()
                self._read_all = True
            except Exception as exc:
                if not self._stopping:
                    self._stopping = True
                    await results.send(_Failure(exc))
            finally:
                self._close_worker_streams()

    # -- looking up --------------------------------------------------------------------------

    async def _work(
        self, batches: MemoryObjectReceiveStream[list[str]], results: MemoryObjectSendStream[_Item]
    ) -> None:
        async with batches, results:
            try:
                while True:
                    self._idle += 1
                    try:
                        batch = await batches.receive()
                    except anyio.EndOfStream:
                        break
                    finally:
                        self._idle -= 1
                    start = 0
                    while start < len(batch):
                        if self._stopping:
                            return
                        # The cap may shrink while this batch is worked on: read it each time.
                        part = batch[start : start + self._cap]
                        start += len(part)
                        settled, _ = await self._settle(part)
                        tallied = self._tally(settled)
                        # No turn of the loop just to hand it on: the worker yields when it
                        # asks for its next batch.
                        try:
                            results.send_nowait(tallied)
                        except anyio.WouldBlock:
                            await results.send(tallied)
            except Exception as exc:
                self._stopping = True
                await results.send(_Failure(exc))
            finally:
                self._workers_left -= 1
                if self._workers_left == 0 and not self._stopping:
                    self._report()

    async def _settle(self, part: list[str]) -> tuple[list[LookupResult], bool]:
        """Results for ``part``, and whether the gateway refused a number of it on its own."""
        try:
            infos = await self._request(part)
        except _SPLIT_ON as exc:
            if len(part) == 1:
                return [LookupResult(phone=part[0], error=exc)], True
            # One bad number spoils the whole list: halve until it stands alone.
            half = (len(part) + 1) // 2
            first, bad_first = await self._settle(part[:half])
            second, bad_second = await self._settle(part[half:])
            if isinstance(exc, ParameterError) and not (bad_first or bad_second):
                # Every number passed on its own, so the list was refused for its length.
                self._cap = min(self._cap, half)
            return first + second, bad_first or bad_second
        return _match(part, infos), False

    async def _request(self, part: list[str]) -> list[OperatorInfo]:
        gate = self._gate
        if gate is not None and not gate.is_set():
            if self._probing:
                await gate.wait()
            else:
                # The first request goes alone: wrong credentials then cost one authorization
                # failure, not one per worker (five in half an hour get the IP blocked).
                self._probing = True
                try:
                    return await self._attempts(part)
                finally:
                    gate.set()
        return await self._attempts(part)

    async def _attempts(self, part: list[str]) -> list[OperatorInfo]:
        try:
            return await self._counted(part)
        except SMSCError as exc:
            if self._retries == 0 or not self._retry.retries(exc, Kind.READ):
                raise
            failed = exc
        # The session's policy decides what is retried and how long each wait is, on the
        # session clock; ``retries`` only sets how many more tries a batch gets.
        policy = attrs.evolve(self._retry, attempts=self._retries + 1)
        return await policy.run(
            lambda: self._counted(part),
            clock=self._clock,
            kind=Kind.READ,  # info.php look-ups: idempotent reads
            failed=failed,
            name="lookup_operators",
        )

    async def _counted(self, part: list[str]) -> list[OperatorInfo]:
        self._requests += 1
        return await self._lookup_fn(part, self._turns.wait)

    # -- progress ----------------------------------------------------------------------------

    def _tally(self, results: list[LookupResult]) -> list[LookupResult]:
        self._done += len(results)
        self._failed += sum(1 for r in results if r.error is not None)
        self._report()
        return results

    def _report(self) -> None:
        now = self._clock.now()
        elapsed = now - (self._started if self._started is not None else now)
        if self._read_all:
            total: int | None = self._queued
        elif self._hint is not None:
            total = max(self._hint - self._unread_hint_lost, self._queued)
        else:
            total = None
        rate = self._rate.update(now, self._done, elapsed)
        eta = None
        if total is not None:
            left = max(total - self._done, 0)
            eta = 0.0 if left == 0 else (left / rate if rate > 0 else None)
        self._figures = (self._done, self._failed, total, self._requests, elapsed, rate, eta)
        self._last = None
        if self._callback is not None:
            self._callback(self.progress)


class _Reader:
    """Turns input items into batches of new, normalized numbers (and results for bad ones)."""

    __slots__ = (
        "_ahead",
        "_ahead_failure",
        "_bad",
        "_batch",
        "_batches",
        "_lookup",
        "_rejected",
        "_results",
        "_seen",
    )

    def __init__(
        self,
        lookup: BulkLookup,
        batches: MemoryObjectSendStream[list[str]],
        results: MemoryObjectSendStream[_Item],
    ) -> None:
        self._lookup = lookup
        self._batches = batches
        self._results = results
        self._seen = _NumberSet()
        self._bad: set[str] = set()
        for raw in lookup._skip:
            text, _ = _as_text(raw)
            try:
                self._seen.add(int(normalize_phone(text)))
            except ValueError:
                # Text that is not a number was reported as such already.
                self._bad.add(text)
        self._batch: list[str] = []
        self._rejected: list[LookupResult] = []
        # Items take_from() read past a hand-over, and an error of the input read with them.
        self._ahead: list[object] = []
        self._ahead_failure: Exception | None = None

    def take(self, item: object) -> bool:
        """Take one input item; whether to :meth:`send` now.

        That is when a batch or a result is ready, or when a table of the set was just rehashed.
        """
        lookup = self._lookup
        if item.__class__ is str:
            text: str = item.strip()
            wrong_type = None
        else:
            text, wrong_type = _as_text(item)
        if not text:
            lookup._unread_hint_lost += 1
            return False
        try:
            if wrong_type is not None:
                raise wrong_type
            # Already in the gateway's form, the usual case: what normalize_phone returns for
            # it, without the call (a leading 0, 8 or 9 may need its rules).
            if text.isdigit() and text.isascii() and 7 <= len(text) <= 15 and text[0] in _PLAIN:
                phone = text
            else:
                phone = normalize_phone(text)
        except (ValueError, TypeError) as exc:
            # Rejected here, never sent: one result per distinct bad item, and the run goes on.
            if text in self._bad:
                lookup._unread_hint_lost += 1
                return False
            self._bad.add(text)
            lookup._queued += 1
            self._rejected.append(LookupResult(phone=text, error=exc))
            return True
        seen = self._seen
        if not seen.add(int(phone)):
            lookup._unread_hint_lost += 1
            return False
        lookup._queued += 1
        batch = self._batch
        batch.append(phone)
        if seen.moved >= _REHASH_STRETCH:
            # A stretch's worth of rehashing (one table of 2,048 slots, ~0.3 ms, at a million
            # numbers; dozens of small ones early on): other tasks run before the next.
            seen.moved = 0
            return True
        return len(batch) >= lookup._batch_size

    def take_from(self, items: Iterator[object]) -> bool:
        """:meth:`take` items from ``items`` until it is time to :meth:`send`; whether any are left.

        That is when :meth:`take` says so, or after ``_READER_STRETCH`` items. Items are read a
        chunk at a time (at most what fills the batch or ends the stretch): a chunk of new
        numbers already in the gateway's form, the usual input while the front set fills, is
        checked and taken with a few calls for the whole chunk. Any other chunk is taken item by
        item, a number in the gateway's form without the call (what :meth:`take` would do with
        it, step for step); what a hand-over leaves of it is taken first by the next call. The
        batches, results and hand-overs are those of :meth:`take` called item by item.
        """
        lookup = self._lookup
        batch = self._batch
        size = lookup._batch_size
        seen = self._seen
        quiet = 0
        chunk = self._ahead
        self._ahead = []
        while True:
            if not chunk:
                failure = self._ahead_failure
                if failure is not None:
                    self._ahead_failure = None
                    raise failure
                chunk = []
                try:
                    # extend() keeps what it read before an error of the input: those items
                    # are taken first, then the error is raised, as item by item.
                    chunk.extend(
                        islice(items, max(1, min(size - len(batch), _READER_STRETCH - quiet)))
                    )
                except Exception as exc:
                    self._ahead_failure = exc
                    if not chunk:
                        continue
                else:
                    if not chunk:
                        return False
                    front = seen._front
                    if front is not None and len(front) + len(chunk) <= seen._front_limit:
                        texts = _plain_numbers(chunk)
                        if texts is not None:
                            numbers = set(map(int, texts))
                            if len(numbers) == len(texts) and front.isdisjoint(numbers):
                                front |= numbers
                                batch.extend(texts)
                                lookup._queued += len(texts)
                                quiet += len(texts)
                                chunk = []
                                if len(batch) >= size or quiet >= _READER_STRETCH:
                                    return True
                                continue
            quiet, handed_over = self._take_each(chunk, quiet)
            chunk = []
            if handed_over:
                return True

    def _take_each(self, chunk: list[object], quiet: int) -> tuple[int, bool]:
        """Take ``chunk``'s items one by one; ``quiet`` and whether it is time to :meth:`send`.

        At a hand-over the items left of ``chunk`` wait in ``_ahead`` for the next call.
        """
        lookup = self._lookup
        batch = self._batch
        size = lookup._batch_size
        seen = self._seen
        add = seen.add
        take = self.take
        plain = _PLAIN
        queued = lost = 0
        try:
            for index, item in enumerate(chunk):
                quiet += 1
                if item.__class__ is str:
                    text: str = item.strip()
                    if (
                        text.isdigit()
                        and text.isascii()
                        and 7 <= len(text) <= 15
                        and text[0] in plain
                    ):
                        handed_over = False
                        if add(int(text)):
                            queued += 1
                            batch.append(text)
                            if seen.moved >= _REHASH_STRETCH:
                                seen.moved = 0
                                handed_over = True
                            elif len(batch) >= size:
                                handed_over = True
                        else:
                            lost += 1
                        if handed_over or quiet >= _READER_STRETCH:
                            self._ahead = chunk[index + 1 :]
                            return quiet, True
                        continue
                if take(item) or quiet >= _READER_STRETCH:
                    self._ahead = chunk[index + 1 :]
                    return quiet, True
            return quiet, False
        finally:
            lookup._queued += queued
            lookup._unread_hint_lost += lost

    async def send(self) -> None:
        """Send on what :meth:`take` made ready (and let other tasks run).

        The next stretch of reading waits for a turn with room, as a decode does: a stretch
        costs about what decoding a batch does.
        """
        lookup = self._lookup
        if self._rejected:
            rejected, self._rejected = self._rejected, []
            await self._results.send(lookup._tally(rejected))
        if len(self._batch) >= lookup._batch_size:
            await self._ship()
        else:
            await anyio.lowlevel.checkpoint()
        await lookup._turns.wait()

    async def _ship(self) -> None:
        batch, self._batch = self._batch, []
        self._lookup._start_worker()  # a batch for a worker that is not there yet
        await self._batches.send(batch)

    async def flush(self) -> None:
        await self.send()
        if self._batch:
            await self._ship()


def _plain_numbers(chunk: list[object]) -> list[str] | None:
    """The stripped texts of ``chunk`` if every item is a ``str`` already in the gateway's form.

    One regular expression over the texts joined by newlines, instead of five tests an item (a
    text with a newline of its own inside would add a line: the count tells).
    """
    try:
        texts: list[str] = list(map(str.strip, chunk))  # type: ignore[arg-type]
    except TypeError:  # an item that is not a str
        return None
    joined = "\n".join(texts)
    if joined.count("\n") != len(texts) - 1 or _PLAIN_LINES.fullmatch(joined) is None:
        return None
    return texts


def _as_text(item: object) -> tuple[str, TypeError | None]:
    """An input item's stripped text, and the error that rejects it if it is neither str nor int."""
    if isinstance(item, str):
        return item.strip(), None
    if isinstance(item, int) and not isinstance(item, bool):
        return str(item), None
    # None, a float, bytes … in the input: reported as that item's result, not raised, so one
    # bad row of a database column does not stop a run of a million.
    text = repr(item)
    text = text if len(text) <= 40 else text[:37] + "..."
    return text, TypeError(
        f"not a phone number: a {type(item).__name__} (phones must hold str or int numbers)"
    )


def check_callback(progress: object) -> ProgressCallback | None:
    """``progress`` if it is a callable or ``None``."""
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable, not {type(progress).__name__}")
    return progress
