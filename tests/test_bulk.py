"""Bulk operator look-ups: de-duplication, splitting, failures, cancellation, the rule's ceiling."""

from __future__ import annotations

import collections
import functools
import gc
import random
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import cattrs
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsc_async import (
    AuthorizationError,
    OperatorInfo,
    OperatorNotFoundError,
    ParameterError,
    ProtocolError,
    RateLimits,
    RetryPolicy,
    Session,
    SMSCError,
    _bulk,
    _converter,
)
from smsc_async._bulk import (
    BulkLookup,
    Lookup,
    LookupProgress,
    LookupResult,
    _match,
    _NumberSet,
    normalize_phone,
)
from smsc_async._converter import get_converter
from smsc_async._endpoints._base import Pace
from smsc_async.testing import RESERVED, Emulator, Fault

from ._virtual import VIRTUAL, Recorder, TwiceClock
from .conftest import FAST_RETRY

pytestmark = pytest.mark.anyio

INFO = "/sys/info.php"
UNKNOWN = RESERVED.no_operator + "123"  # the emulator knows no operator for it
GATEWAY_BAD = "7916123456"  # well-formed to the client, refused by the gateway (10 digits)


def numbers(count: int, start: int = 0) -> Iterator[str]:
    """``count`` distinct Russian mobile numbers, spread over the operator table."""
    for i in range(start, start + count):
        yield f"79{(i * 7_919) % 10**9:09d}"


MakeSession = Callable[..., Session]


@pytest.fixture
def make_session() -> MakeSession:
    def make(emulator: Emulator, **kwargs: object) -> Session:
        options: dict[str, object] = {
            "login": "demo",
            "password": "demo",
            "base_url": "http://127.0.0.1",
            "limits": emulator.limits,
            "retry": FAST_RETRY,
            "transport": httpx.ASGITransport(app=emulator),
        }
        options.update(kwargs)
        return Session(**options)  # type: ignore[arg-type]

    return make


def _key(result: LookupResult) -> tuple[str, str]:
    return (result.phone, repr(result.info) + repr(result.error))


def stub_run(
    lookup: Lookup,
    phones: Iterable[str],
    *,
    batch_size: int,
    concurrency: int,
    progress: Callable[[LookupProgress], None] | None = None,
    rate_span: float = 1.0,
) -> BulkLookup:
    """A run on a stub look-up instead of a session: no retries, nothing skipped."""
    return BulkLookup(
        lookup,
        phones,
        batch_size=batch_size,
        concurrency=concurrency,
        progress=progress,
        total=None,
        skip=(),
        retries=0,
        rate_span=rate_span,
    )


async def run(session: Session, phones: object, **kwargs: object) -> list[LookupResult]:
    async with session.lookup_operators(phones, **kwargs) as results:  # type: ignore[arg-type]
        return [item async for item in results]


# -- pure parts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("79161234567", "79161234567"),
        ("+7 (916) 123-45-67", "79161234567"),
        ("8 916 123 45 67", "79161234567"),
        ("9161234567", "79161234567"),
        ("+380 67 123 4567", "380671234567"),
        ("+89161234567", "89161234567"),  # with '+' nothing is corrected
        ("375.29.123.45.67", "375291234567"),
    ],
)
def test_normalize_phone(raw: str, normal: str) -> None:
    assert normalize_phone(raw) == normal


@pytest.mark.parametrize("raw", ["", "12345", "+0123456789", "7916ABC4567", "1234567890123456"])
def test_normalize_phone_rejects(raw: str) -> None:
    with pytest.raises(ValueError, match="not a phone number"):
        normalize_phone(raw)


@given(
    st.lists(st.integers(min_value=1_000_000, max_value=999_999_999_999_999), max_size=3000),
    st.sampled_from([0, 1, 7, 64, 2000, _bulk._FRONT]),
)
def test_number_set_is_a_set(values: list[int], front: int) -> None:
    # Whatever the size of the plain front set: before it fills, while the tables take its
    # numbers over, after it is gone.
    compact = _NumberSet(front)
    seen: set[int] = set()
    for value in values:
        assert compact.add(value) == (value not in seen)
        seen.add(value)
        assert len(compact) == len(seen)
    assert all(not compact.add(v) for v in seen)
    assert len(compact) == len(seen)


def test_the_front_set_hands_its_numbers_over_a_few_at_a_time() -> None:
    compact = _NumberSet(1000)
    for value in range(79_000_000_000, 79_000_001_000):
        assert compact.add(value)
    assert compact._front is not None and len(compact._front) == 1000 and not any(compact._sizes)
    compact.moved = 0
    added = 1000
    while compact._front is not None:
        before = len(compact._front)
        assert compact.add(79_000_000_000 + added)
        added += 1
        # Each number added moves _FRONT_STEP of the front's into the tables, and says so.
        assert len(compact._front or ()) == max(before - _bulk._FRONT_STEP, 0)
        assert sum(compact._sizes) == added - len(compact._front or ())
    assert added == 1000 + 1000 // _bulk._FRONT_STEP
    assert compact.moved >= 1000
    assert compact.add == compact._table_add  # no front check any more
    assert all(not compact.add(v) for v in range(79_000_000_000, 79_000_000_000 + added))


@given(
    st.lists(st.integers(min_value=1_000_000, max_value=999_999_999_999_999), max_size=200),
    st.lists(st.integers(min_value=1_000_000, max_value=999_999_999_999_999), max_size=200),
)
def test_number_sets_share_nothing_but_the_empty_table(one: list[int], two: list[int]) -> None:
    # Tables start as one shared empty table: a number added to one set is in no other.
    first, second = _NumberSet(0), _NumberSet(0)
    for value in one:
        first.add(value)
    seen: set[int] = set()
    for value in two:
        assert second.add(value) == (value not in seen)
        seen.add(value)
    assert all(not first.add(v) for v in one)
    assert len(second) == len(set(two))
    assert not any(_bulk._SHARED_EMPTY)
    fresh = _NumberSet(0)
    assert all(fresh.add(v) for v in set(one[:50]))


def test_number_set_stays_compact() -> None:
    compact = _NumberSet()
    for value in range(79_000_000_000, 79_000_100_000):
        compact.add(value)
    assert len(compact) == 100_000
    # 8 bytes per slot at a load of at least 0.35: at most ~23 bytes per number.
    assert compact.nbytes <= 100_000 * 23


def _doublings(numbers: Iterable[int]) -> dict[int, list[int]]:
    """Per table size, the positions in ``numbers`` whose adding made a table double to it."""
    compact = _NumberSet(0)
    slots = [len(table) for table in compact._tables]
    at: dict[int, list[int]] = {}
    for position, value in enumerate(numbers):
        compact.add(value)
        if compact.moved:  # the reader's cue
            compact.moved = 0
            grown = [w for w, table in enumerate(compact._tables) if len(table) != slots[w]]
            assert len(grown) == 1
            (which,) = grown
            assert len(compact._tables[which]) == 2 * slots[which]
            slots[which] *= 2
            at.setdefault(slots[which], []).append(position)
    assert slots == [len(table) for table in compact._tables]  # no doubling went unflagged
    return at


def test_tables_double_at_staggered_loads() -> None:
    for bits in range(4, 24):
        limits = [_NumberSet._limit(which, bits) for which in range(1024)]
        # Every table between a half and seven tenths full at most, each its own share.
        assert all(0.5 <= limit / 2**bits < 0.7 for limit in limits)
        assert limits == sorted(limits)
        if bits >= 10:
            assert limits[-1] - limits[0] >= 0.19 * 2**bits


@pytest.mark.parametrize(
    "numbers",
    [
        range(79_000_000_000, 79_000_300_000),  # a numbering plan's range, in order
        [79_000_000_000 + 7_919 * i for i in range(300_000)],  # a stride: tables fill evenly
    ],
    ids=["consecutive", "stride"],
)
def test_tables_double_one_at_a_time(numbers: Sequence[int]) -> None:
    """Numbers that fill the 1024 tables at one pace do not make them double together.

    Were every table to double at the same load, all 1024 doublings to 512 slots would come
    within 4,000-7,000 numbers of these (several in a stretch of the reader's 32 items); at
    loads from 0.5 to 0.7 of 256 slots they spread over a fifth of 256 x 1024 numbers.
    """
    at = _doublings(numbers)
    assert len(at[512]) == 1024
    assert max(at[512]) - min(at[512]) >= 0.15 * 256 * 1024


def test_match_by_phone_then_by_position() -> None:
    part = ["79161234567", "79031234567", "79261234567", "79991234567"]
    infos = [
        OperatorInfo(phone="79261234567", operator="MegaFon"),
        OperatorInfo(phone="+7 903 123 45 67", operator="Beeline"),  # written differently
        OperatorInfo(phone="7916-123-4567", operator="MTS"),
        OperatorInfo(phone="odd", error="operator not found", error_code=3),
    ]
    results = {r.phone: r for r in _match(part, infos)}
    assert results["79161234567"].info == OperatorInfo(phone="79161234567", operator="MTS")
    assert results["79031234567"].info is not None
    assert results["79031234567"].info.operator == "Beeline"
    assert results["79261234567"].info is not None
    assert isinstance(results["79991234567"].error, OperatorNotFoundError)


def test_match_reports_numbers_left_without_an_entry() -> None:
    results = _match(["79161234567", "79031234567"], [OperatorInfo(phone="79161234567")])
    assert results[0].ok
    assert isinstance(results[1].error, ProtocolError)
    assert not results[1].ok


# -- against the emulator -----------------------------------------------------------------------


async def test_results_do_not_depend_on_input_order(
    make_session: MakeSession, limits: RateLimits
) -> None:
    phones = [*numbers(300), UNKNOWN, GATEWAY_BAD, "not a number"]
    shuffled = phones[:]
    random.Random(7).shuffle(shuffled)
    emulator = Emulator(limits=limits)
    async with make_session(emulator) as smsc:
        first = await run(smsc, phones, batch_size=40, concurrency=6)
        second = await run(smsc, reversed(shuffled), batch_size=17, concurrency=3)
        single = await smsc.operator_info("79000007919")
    assert len(first) == len(phones)
    assert sorted(map(_key, first)) == sorted(map(_key, second))
    by_phone = {r.phone: r for r in first}
    assert by_phone["79000007919"].info == single[0]
    assert emulator.stats.errors[9] == 0


async def test_duplicates_are_looked_up_once(make_session: MakeSession, emulator: Emulator) -> None:
    variants = ["79161234567", "+7 916 123-45-67", "8 (916) 1234567", "9161234567"]
    phones = [*variants, *numbers(99), *variants, "junk", "junk", " ", ""]
    async with make_session(emulator) as smsc:
        results = await run(smsc, phones, batch_size=25)
    assert sorted(r.phone for r in results) == sorted(["79161234567", "junk", *numbers(99)])
    # 100 distinct numbers in batches of 25; "junk" never leaves the machine.
    assert emulator.stats.requests[INFO] == 4


async def test_per_number_failures_do_not_stop_the_run(
    make_session: MakeSession, emulator: Emulator
) -> None:
    good = list(numbers(60))
    phones = [*good[:30], UNKNOWN, "12345", GATEWAY_BAD, *good[30:]]
    async with make_session(emulator) as smsc:
        results = {r.phone: r for r in await run(smsc, phones, batch_size=100)}
    assert len(results) == 63
    assert all(results[p].ok and results[p].info.mcc == "250" for p in good)  # type: ignore[union-attr]
    assert isinstance(results[UNKNOWN].error, OperatorNotFoundError)
    assert results[UNKNOWN].info is None
    assert isinstance(results["12345"].error, ValueError)
    assert isinstance(results[GATEWAY_BAD].error, ParameterError)
    # The refused batch of 62 was halved down to the bad number: log2 steps, not 62 requests.
    assert emulator.stats.requests[INFO] <= 1 + 2 * 6


async def test_batches_refused_for_their_length_are_split_and_learned(
    make_session: MakeSession, limits: RateLimits
) -> None:
    emulator = Emulator(limits=limits, max_lookup_batch=10)
    async with make_session(emulator) as smsc:
        results = await run(smsc, numbers(400), batch_size=40, concurrency=1)
    assert len(results) == 400
    assert all(r.ok for r in results)
    # The first batch of 40 costs 1 + 2 + 4 requests (three refused); every later one is cut to 10.
    assert emulator.stats.errors[1] == 3
    assert emulator.stats.requests[INFO] == 3 + 40


async def test_no_number_is_lost_while_workers_learn_the_length(
    make_session: MakeSession, limits: RateLimits
) -> None:
    emulator = Emulator(limits=limits, max_lookup_batch=7)
    async with make_session(emulator) as smsc:
        results = await run(smsc, numbers(1000), batch_size=64, concurrency=6)
    assert sorted(r.phone for r in results) == sorted(numbers(1000))
    assert all(r.ok for r in results)


async def test_a_run_keeps_no_objects_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every object a batch makes dies with it, by reference counting alone.

    Results, batches, stream items and progress samples that piled up (or died only in
    reference cycles) would grow the objects the collector tracks: the process holds as many
    after 20,000 numbers as after 4,000, and long-lived objects are what make a full
    collection of the heap, a stall of the loop, come round. (The set's front is made small
    so that its tables, which do live on, are all made within the first 4,000.)
    """
    monkeypatch.setattr(_bulk, "_FRONT", 1000)

    async def lookup(part: Sequence[str], pace: Pace) -> list[OperatorInfo]:
        await anyio.lowlevel.checkpoint()
        return [OperatorInfo(phone=p, operator="МТС") for p in part]

    counts: list[int] = []

    def progress(now: LookupProgress) -> None:
        if now.done % 1000 == 0 and not bulk._read_all:  # (the reader and its set end first)
            counts.append(len(gc.get_objects()))

    bulk = stub_run(
        lookup, numbers(20_000), batch_size=10, concurrency=1, progress=progress, rate_span=120.0
    )
    gc.collect()
    was = gc.isenabled()
    gc.disable()  # a collection would hide a cycle's garbage
    try:
        async with bulk as results:
            async for _ in results:
                pass
    finally:
        if was:
            gc.enable()
    assert len(counts) >= 18
    steady = counts[3:]
    assert max(steady) - min(steady) < 100, repr(counts)


async def test_cap_shrinking_in_the_middle_of_a_batch_loses_nothing() -> None:
    """A gateway that lowers its list limit mid-run: every number still gets its answer."""
    limit = [10]
    calls = 0

    async def lookup(part: Sequence[str], pace: Pace) -> list[OperatorInfo]:
        nonlocal calls
        calls += 1
        if calls == 12:
            limit[0] = 3
        if len(part) > limit[0]:
            raise ParameterError(1, "parameters error", endpoint="info")
        return [OperatorInfo(phone=p, operator="X") for p in part]

    bulk = stub_run(lookup, numbers(200), batch_size=40, concurrency=1)
    async with bulk as results:
        got = [r.phone async for r in results]
    assert sorted(got) == sorted(numbers(200))
    assert bulk._cap == 3


async def test_bad_number_isolated_when_batches_are_also_too_long(
    make_session: MakeSession, limits: RateLimits
) -> None:
    emulator = Emulator(limits=limits, max_lookup_batch=8)
    phones = [*numbers(20), GATEWAY_BAD, *numbers(20, start=20)]
    async with make_session(emulator) as smsc:
        results = {r.phone: r for r in await run(smsc, phones, batch_size=50, concurrency=2)}
    assert len(results) == 41
    assert isinstance(results[GATEWAY_BAD].error, ParameterError)
    assert sum(r.ok for r in results.values()) == 40


async def test_progress_reports(make_session: MakeSession, emulator: Emulator) -> None:
    seen: list[LookupProgress] = []
    phones = [*numbers(230), UNKNOWN, "x1", *numbers(10)]  # ten duplicates
    async with (
        make_session(emulator) as smsc,
        smsc.lookup_operators(phones, batch_size=50, progress=seen.append) as results,
    ):
        got = [r async for r in results]
    assert len(got) == 232
    last = seen[-1]
    assert (last.done, last.failed, last.total, last.eta) == (232, 2, 232, 0.0)
    assert last.found == 230
    assert last.requests == emulator.stats.requests[INFO]
    assert last.rate > 0
    assert last.elapsed > 0
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    # The list's length estimates the total from the start; duplicates correct it on the way.
    assert seen[0].total is not None
    assert seen[0].total >= 232
    assert results.progress == last


async def test_total_unknown_for_a_generator(make_session: MakeSession, emulator: Emulator) -> None:
    seen: list[LookupProgress] = []
    async with make_session(emulator) as smsc:
        await run(smsc, numbers(120), batch_size=50, concurrency=1, progress=seen.append)
    assert seen[0].total is None
    assert seen[0].eta is None
    assert seen[-1].total == 120


async def test_skip_resumes_a_run(make_session: MakeSession, emulator: Emulator) -> None:
    phones = list(numbers(100))
    done = [f"+{p}" for p in phones[:70]]
    async with make_session(emulator) as smsc:
        results = await run(smsc, phones, skip=done, batch_size=50)
    assert sorted(r.phone for r in results) == sorted(phones[70:])
    assert emulator.stats.requests[INFO] == 1


async def test_async_iterable_input(make_session: MakeSession, emulator: Emulator) -> None:
    async def cursor() -> AsyncIterator[str | int]:
        for i, phone in enumerate(numbers(75)):
            if i % 10 == 0:
                await anyio.lowlevel.checkpoint()
            yield int(phone) if i % 2 else phone

    async with make_session(emulator) as smsc:
        results = await run(smsc, cursor(), batch_size=20)
    assert sorted(r.phone for r in results) == sorted(numbers(75))


async def test_input_is_read_lazily(make_session: MakeSession, emulator: Emulator) -> None:
    """Memory stays flat: the reader runs only a few batches ahead of the consumer."""
    pulled = 0

    def endless() -> Iterator[str]:
        nonlocal pulled
        for phone in numbers(10**9):
            pulled += 1
            yield phone

    async with (
        make_session(emulator) as smsc,
        smsc.lookup_operators(endless(), batch_size=20, concurrency=3) as results,
    ):
        async for _ in results:
            if results.progress.done >= 200:
                break
        # Let the reader run as far ahead as the bounded channels let it.
        await anyio.wait_all_tasks_blocked()
        ahead = pulled - results.progress.done
    # At most: batches queued (3) + held by workers (3) + results buffered (3) + one being built.
    assert ahead <= (3 + 3 + 3 + 1) * 20 + 20


@pytest.mark.parametrize(("batch", "per_turn"), [(100, 1), (50, 2), (30, 4)])
async def test_answers_that_come_in_together_are_decoded_a_few_per_turn(
    batch: int, per_turn: int
) -> None:
    """Fourteen answers ready in one turn of the loop: the other tasks wait for a few decodes.

    Each worker awaits ``pace()`` before it decodes. An observer task that yields without end
    runs once a turn; between two of its runs, no more than two turns' worth of decodes (about
    100 numbers a turn) may happen, however many workers were answered at once.
    """
    concurrency = 14
    ready = anyio.Event()
    waiting = 0
    turn = 0
    decoded_in: list[int] = []

    async def lookup(part: Sequence[str], pace: Pace) -> list[OperatorInfo]:
        nonlocal waiting
        if not decoded_in:
            # The first batch goes alone. While it is out, the reader sends the batches on, a
            # turn each, and starts a worker for every other one (the one between goes to the
            # worker started last): a hundred turns start them all.
            while turn < 100:
                await anyio.lowlevel.checkpoint()
        else:
            waiting += 1
            if waiting < concurrency:
                await ready.wait()
            else:
                ready.set()  # every worker is answered at once
        await pace()
        decoded_in.append(turn)
        return [OperatorInfo(phone=p, operator="X") for p in part]

    async def observe() -> None:
        nonlocal turn
        while True:
            await anyio.lowlevel.checkpoint()
            turn += 1

    bulk = stub_run(
        lookup, numbers((2 * concurrency + 1) * batch), batch_size=batch, concurrency=concurrency
    )
    with anyio.fail_after(30):  # a guard against a hang, not a speed bound
        async with anyio.create_task_group() as tg:
            tg.start_soon(observe)
            async with bulk as results:
                got = [r async for r in results]
            tg.cancel_scope.cancel()
    assert waiting == 2 * concurrency
    assert len(got) == (2 * concurrency + 1) * batch
    assert all(r.ok for r in got)
    assert len(decoded_in) == 2 * concurrency + 1
    per_observed_turn = collections.Counter(decoded_in[1:])
    assert max(per_observed_turn.values()) <= 2 * per_turn
    # ... and so the decodes were spread over at least that many turns.
    assert len(per_observed_turn) >= concurrency // (2 * per_turn)


async def test_the_session_decodes_each_answer_after_its_pace(
    make_session: MakeSession, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through a session, every look-up's answer waits for ``pace()`` before it is decoded."""
    import smsc_async._session as session_module

    steps: list[tuple[int, str]] = []  # (task, step): workers interleave, each keeps order
    call_once = Session._call_once
    real_decode = session_module.decode

    async def once(self: Session, endpoint: Any, params: Any, pace: Any = None) -> Any:
        assert pace is not None

        async def paced() -> None:
            steps.append((anyio.get_current_task().id, "pace"))
            await pace()

        return await call_once(self, endpoint, params, paced)

    def decoding(*args: Any, **kwargs: Any) -> Any:
        steps.append((anyio.get_current_task().id, "decode"))
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(Session, "_call_once", once)
    monkeypatch.setattr(session_module, "decode", decoding)
    async with make_session(emulator) as smsc:
        results = await run(smsc, numbers(250), batch_size=50)
    assert len(results) == 250 and all(r.ok for r in results)
    assert emulator.stats.requests[INFO] == 5
    assert len(steps) == 10
    for task in {task for task, _ in steps}:
        mine = [step for t, step in steps if t == task]
        assert mine == ["pace", "decode"] * (len(mine) // 2)


async def test_breaking_out_cancels_requests_in_flight() -> None:
    """Leaving the block cancels the look-ups in flight instead of waiting for their answers."""
    started = cancelled = 0

    async def lookup(part: Sequence[str], pace: Pace) -> list[OperatorInfo]:
        nonlocal started, cancelled
        started += 1
        if started == 1:
            return [OperatorInfo(phone=p, operator="X") for p in part]
        try:
            await anyio.sleep_forever()  # an answer that never comes
        except anyio.get_cancelled_exc_class():
            cancelled += 1
            raise
        raise AssertionError("unreachable")

    bulk = stub_run(lookup, numbers(10_000), batch_size=10, concurrency=4)
    with anyio.fail_after(30):  # a guard against a hang, not a speed bound
        async with bulk as results:
            async for _ in results:
                await anyio.wait_all_tasks_blocked()  # all four workers wait for an answer
                break
    # The first answer, then four look-ups in flight: all four cancelled, none awaited.
    assert (started, cancelled) == (5, 4)


async def test_breaking_out_leaves_the_session_usable(
    make_session: MakeSession, limits: RateLimits
) -> None:
    emulator = Emulator(limits=limits, latency=0.05)
    async with make_session(emulator) as smsc:
        async with smsc.lookup_operators(numbers(10_000), batch_size=10, concurrency=4) as results:
            async for _ in results:
                break
        assert smsc._limiter.waiting() == 0
        sent = emulator.stats.requests[INFO]
        assert (await smsc.operator_info("79161234567"))[0].found
        # Nothing of the run goes on behind the caller's back: one request more, the one above.
        assert emulator.stats.requests[INFO] == sent + 1


async def test_outer_cancellation_stops_the_run(
    make_session: MakeSession, limits: RateLimits
) -> None:
    emulator = Emulator(limits=limits, latency=0.01)
    got: list[LookupResult] = []
    async with make_session(emulator) as smsc:
        with anyio.CancelScope() as scope:
            async with smsc.lookup_operators(numbers(10_000), batch_size=10) as results:
                async for item in results:
                    got.append(item)
                    if len(got) == 20:
                        scope.cancel()  # as a caller's timeout or shutdown would
        assert scope.cancelled_caught
        # Two answered batches of 10; the cancellation lands at the wait for the third.
        assert len(got) == 20
        assert smsc._limiter.waiting() == 0


async def test_fatal_errors_end_the_run_unwrapped(
    make_session: MakeSession, emulator: Emulator
) -> None:
    async with make_session(emulator, password="wrong") as smsc:
        with pytest.raises(AuthorizationError):
            await run(smsc, numbers(500), batch_size=10)
    assert emulator.stats.errors[2] == 1  # the session stopped at the first refusal


async def test_errors_of_the_input_end_the_run(
    make_session: MakeSession, emulator: Emulator
) -> None:
    def failing() -> Iterator[str]:
        yield from numbers(30)
        raise OSError("disk went away")

    async with make_session(emulator) as smsc:
        with pytest.raises(OSError, match="disk went away"):
            await run(smsc, failing(), batch_size=10)


async def test_items_that_are_not_numbers_are_rejected_locally(
    make_session: MakeSession, emulator: Emulator
) -> None:
    """``None`` in a database column (or a float, bytes, a bool) is a failed result, not a stop."""
    phones = [None, "79161234567", 7.9e10, None, b"79031234567", True, 79261234567]
    async with make_session(emulator) as smsc:
        results = {r.phone: r for r in await run(smsc, phones, batch_size=10)}
    assert sorted(results) == sorted(
        ["None", "79161234567", "79000000000.0", "b'79031234567'", "True", "79261234567"]
    )
    for bad in ("None", "79000000000.0", "b'79031234567'", "True"):
        assert isinstance(results[bad].error, TypeError)
        assert not results[bad].ok
    assert "NoneType" in str(results["None"].error)
    assert results["79161234567"].ok and results["79261234567"].ok
    # The two numbers went in one request; nothing else left the machine.
    assert emulator.stats.requests[INFO] == 1


async def test_transient_failures_are_retried(
    make_session: MakeSession, emulator: Emulator
) -> None:
    emulator.inject(Fault(kind="drop", path=INFO, times=1))
    emulator.inject(Fault(kind="http_status", status=502, path=INFO, times=1))
    async with make_session(emulator) as smsc:
        results = await run(smsc, numbers(100), batch_size=50)
        assert len(results) == 100
        assert all(r.ok for r in results)
        emulator.inject(Fault(kind="drop", path=INFO, times=None))
        with pytest.raises(Exception, match=r"RemoteProtocolError|disconnected"):
            await run(smsc, numbers(10), retries=1)


class RecordingClock(TwiceClock):
    """The session clock of these tests, on virtual time: notes every wait, jitters half."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await super().sleep(seconds)

    def jitter(self, high: float) -> float:
        return high / 2


def _bulk_on_virtual_time(**policy: Any) -> tuple[Session, Recorder, RecordingClock]:
    clock = RecordingClock()
    recorder = Recorder(Emulator(clock=clock.now), clock)
    session = Session(
        login="demo",
        password="demo",
        base_url="http://127.0.0.1",
        transport=recorder,
        clock=clock,
        # attempts=1: the session itself never retries, so every retry seen is the run's.
        retry=RetryPolicy(attempts=1, **policy),
    )
    return session, recorder, clock


@pytest.mark.parametrize("anyio_backend", VIRTUAL)
async def test_retry_waits_are_the_session_policys_on_its_clock() -> None:
    smsc, recorder, clock = _bulk_on_virtual_time(initial=0.5, max_wait=0.75, jitter=0.5)
    recorder.emulator.inject(Fault(kind="drop", path=INFO, times=2))
    async with smsc:
        t0 = clock.now()
        async with smsc.lookup_operators(numbers(20), batch_size=20, retries=2) as results:
            got = [r async for r in results]
            assert results.progress.requests == 3
    assert len(got) == 20 and all(r.ok for r in got)
    # Exponential from `initial` (0.5, then 1.0 capped at 0.75), plus the clock's jitter: half
    # of 0.5. (A fourth identical try would also wait for the rule of 3 identical a minute.)
    assert clock.sleeps == [0.5 + 0.25, 0.75 + 0.25]
    assert recorder.times(INFO) == [t0, t0 + 0.75, t0 + 1.75]


@pytest.mark.parametrize("anyio_backend", VIRTUAL)
@pytest.mark.parametrize(
    ("fault", "retried"),
    [
        (Fault(kind="drop", path=INFO), True),  # a read's lost answer
        (Fault(kind="http_status", status=502, path=INFO), True),  # the gateway failed
        (Fault(kind="error", error_code=9, path=INFO), True),
        (Fault(kind="malformed", path=INFO), False),  # an answer, only unreadable
        (Fault(kind="http_status", status=400, path=INFO), False),
        (Fault(kind="html", path=INFO), False),
    ],
    ids=["drop", "502", "error-9", "malformed", "400", "html"],
)
async def test_a_run_retries_exactly_what_the_policy_retries(fault: Fault, retried: bool) -> None:
    smsc, recorder, clock = _bulk_on_virtual_time(initial=1.0, jitter=0.0)
    recorder.emulator.inject(fault)  # once: the retry, if any, is answered
    async with smsc:
        t0 = clock.now()
        if retried:
            got = await run(smsc, numbers(5), retries=2)
            assert all(r.ok for r in got)
            assert recorder.times(INFO) == [t0, t0 + 1.0]
        else:
            with pytest.raises(ProtocolError):
                await run(smsc, numbers(5), retries=2)
            assert recorder.times(INFO) == [t0]


@pytest.mark.parametrize("anyio_backend", VIRTUAL)
async def test_retries_never_nest_with_the_sessions_own() -> None:
    # The session retries reads 4 times in all; a run retrying each batch by the same policy
    # must not multiply them: retries=1 is two requests for a batch, not 2 x 4.
    clock = RecordingClock()
    recorder = Recorder(Emulator(clock=clock.now), clock)
    smsc = Session(
        login="demo",
        password="demo",
        base_url="http://127.0.0.1",
        transport=recorder,
        clock=clock,
        retry=RetryPolicy(attempts=4, initial=1.0, jitter=0.0),
    )
    recorder.emulator.inject(Fault(kind="drop", path=INFO, times=None))
    async with smsc:
        with pytest.raises(SMSCError):
            await run(smsc, numbers(5), retries=1)
    assert len(recorder.times(INFO)) == 2


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"batch_size": 0}, ValueError),
        ({"concurrency": 0}, ValueError),
        ({"progress": 3}, TypeError),
        ({"retries": -1}, ValueError),
    ],
)
async def test_arguments_are_checked(
    make_session: MakeSession, emulator: Emulator, kwargs: dict[str, object], error: type[Exception]
) -> None:
    async with make_session(emulator) as smsc:
        with pytest.raises(error):
            smsc.lookup_operators(["79161234567"], **kwargs)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            smsc.lookup_operators("79161234567")
        entered = smsc.lookup_operators(["79161234567"])
        async with entered as results:
            assert [r.phone async for r in results] == ["79161234567"]
        with pytest.raises(RuntimeError):
            await entered.__aenter__()


async def test_over_real_http(smsc: Session, emulator: Emulator) -> None:
    results = await run(smsc, [*numbers(250), UNKNOWN], batch_size=50)
    assert len(results) == 251
    assert sum(r.ok for r in results) == 250
    assert emulator.stats.errors[9] == 0


@pytest.mark.parametrize("anyio_backend", VIRTUAL)
async def test_hundred_thousand_numbers_at_the_rules_ceiling(make_session: MakeSession) -> None:
    # The gateway's own rule (100 look-ups a minute) on virtual time, the emulator judging it on
    # the same clock: whole-minute windows keep every instant exact in binary floating point.
    limits = RateLimits()
    emulator = Emulator(limits=limits, max_lookup_batch=100, clock=anyio.current_time)
    rule = limits.operator_any
    count = 100_000
    async with make_session(emulator) as smsc:
        started = anyio.current_time()
        done = failed = 0
        async with smsc.lookup_operators(numbers(count), batch_size=100, concurrency=8) as results:
            async for item in results:
                done += 1
                failed += item.error is not None
        elapsed = anyio.current_time() - started
    requests = count // 100
    assert (done, failed) == (count, 0)
    assert emulator.stats.requests[INFO] == requests
    assert emulator.stats.errors[9] == 0
    # 1000 requests in bursts of 100, each a window after the one before: nine windows, to the
    # instant (on virtual time an answer takes no time, so nothing is lost between bursts).
    assert elapsed == (requests // rule.limit - 1) * rule.window


_FIELD_VALUES = st.one_of(
    st.none(),
    st.just(""),
    st.text(max_size=5),
    st.integers(-5, 10**12).map(str),
    st.integers(-5, 10**12),
    st.booleans(),
    st.floats(allow_nan=False),
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from([f.name for f in attrs.fields(OperatorInfo)] + ["extra"]), _FIELD_VALUES
    )
)
def test_operator_info_fast_path_structures_as_cattrs_does(data: dict[str, object]) -> None:
    """The converter's straight-line hook for flat records agrees with cattrs' own, errors too."""
    fast = get_converter().get_structure_hook(OperatorInfo)
    plain = _plain_hook()
    assert fast.__name__ == "hook"
    assert plain.__name__ == "structure_OperatorInfo"  # cattrs' generated one

    def outcome(hook: Callable[..., object]) -> object:
        try:
            return hook(data, OperatorInfo)
        except Exception as exc:
            return type(exc)

    assert outcome(fast) == outcome(plain)


@functools.cache
def _plain_hook() -> Callable[..., object]:
    """OperatorInfo's hook in the converter as it is without the flat-record factory."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_converter, "_flat_fields", lambda cls: None)
        converter: cattrs.Converter = _converter.get_converter.__wrapped__()
        return converter.get_structure_hook(OperatorInfo)


def test_rate_keeps_few_samples() -> None:
    """A fast run reports after every batch; the rate keeps a sample per 1/100 of its span."""
    rate = _bulk._Rate(10.0)
    for step in range(100_000):
        now = step * 0.001  # a batch of 50 every millisecond, for 100 s
        got = rate.update(now, step * 50, now)
    assert len(rate._samples) <= 102
    assert got == pytest.approx(50_000, rel=1e-6)  # the true rate (steady: any two samples)
