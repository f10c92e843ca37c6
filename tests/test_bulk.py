"""Bulk operator look-ups: de-duplication, splitting, failures, cancellation, the rule's ceiling."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Iterator, Sequence

import anyio
import anyio.lowlevel
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsc_async import (
    AuthorizationError,
    OperatorInfo,
    OperatorNotFoundError,
    ParameterError,
    ProtocolError,
    RateLimits,
    Session,
    _bulk,
)
from smsc_async._bulk import (
    BulkLookup,
    LookupProgress,
    LookupResult,
    _match,
    _NumberSet,
    normalize_phone,
)
from smsc_async.testing import RESERVED, Emulator, Fault

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


@given(st.lists(st.integers(min_value=1_000_000, max_value=999_999_999_999_999), max_size=3000))
def test_number_set_is_a_set(values: list[int]) -> None:
    compact = _NumberSet()
    seen: set[int] = set()
    for value in values:
        assert compact.add(value) == (value not in seen)
        seen.add(value)
    assert len(compact) == len(seen)
    assert all(not compact.add(v) for v in seen)


def test_number_set_stays_compact() -> None:
    compact = _NumberSet()
    for value in range(79_000_000_000, 79_000_100_000):
        compact.add(value)
    assert len(compact) == 100_000
    # 8 bytes per slot at a load of at least 0.35: at most ~23 bytes per number.
    assert compact._table.itemsize * len(compact._table) <= 100_000 * 23


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


async def test_cap_shrinking_in_the_middle_of_a_batch_loses_nothing() -> None:
    """A gateway that lowers its list limit mid-run: every number still gets its answer."""
    limit = [10]
    calls = 0

    async def lookup(part: Sequence[str]) -> list[OperatorInfo]:
        nonlocal calls
        calls += 1
        if calls == 12:
            limit[0] = 3
        if len(part) > limit[0]:
            raise ParameterError(1, "parameters error", endpoint="info")
        return [OperatorInfo(phone=p, operator="X") for p in part]

    bulk = BulkLookup(
        lookup,
        numbers(200),
        batch_size=40,
        concurrency=1,
        progress=None,
        total=None,
        skip=(),
        retries=0,
        rate_span=1.0,
    )
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
        await anyio.sleep(0.05)
        ahead = pulled - results.progress.done
    # At most: batches queued (3) + held by workers (3) + results buffered (3) + one being built.
    assert ahead <= (3 + 3 + 3 + 1) * 20 + 20


async def test_breaking_out_cancels_requests_in_flight(
    make_session: MakeSession, limits: RateLimits
) -> None:
    emulator = Emulator(limits=limits, latency=0.3)
    async with make_session(emulator) as smsc:
        with anyio.fail_after(5):
            async with smsc.lookup_operators(
                numbers(10_000), batch_size=10, concurrency=4
            ) as results:
                async for _ in results:
                    break
                started = anyio.current_time()
            left = anyio.current_time() - started
        assert left < 0.25  # the 3 other requests in flight were cancelled, not awaited
        assert smsc._limiter.waiting() == 0
        sent = emulator.stats.requests[INFO]
        await anyio.sleep(0.4)
        assert emulator.stats.requests[INFO] == sent
        # The session is still usable afterwards.
        assert (await smsc.operator_info("79161234567"))[0].found


async def test_outer_cancellation_stops_the_run(
    make_session: MakeSession, limits: RateLimits
) -> None:
    emulator = Emulator(limits=limits, latency=0.2)
    got: list[LookupResult] = []
    async with make_session(emulator) as smsc:
        with anyio.move_on_after(0.5) as scope:
            async with smsc.lookup_operators(numbers(10_000), batch_size=10) as results:
                async for item in results:
                    got.append(item)
        assert scope.cancelled_caught
        assert 0 < len(got) < 10_000
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
        with pytest.raises(TypeError, match="not float"):
            await run(smsc, ["79161234567", 7.9e10])


async def test_transient_failures_are_retried(
    make_session: MakeSession, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_bulk, "_RETRY_WAITS", (0.01,))
    emulator.inject(Fault(kind="drop", path=INFO, times=1))
    emulator.inject(Fault(kind="http_status", status=502, path=INFO, times=1))
    async with make_session(emulator) as smsc:
        results = await run(smsc, numbers(100), batch_size=50)
        assert len(results) == 100
        assert all(r.ok for r in results)
        emulator.inject(Fault(kind="drop", path=INFO, times=None))
        with pytest.raises(Exception, match=r"RemoteProtocolError|disconnected"):
            await run(smsc, numbers(10), retries=1)


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


async def test_hundred_thousand_numbers_at_the_rules_ceiling(
    make_session: MakeSession, limits: RateLimits
) -> None:
    emulator = Emulator(limits=limits, max_lookup_batch=100)
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
    # 1000 requests need at least 9 full windows after the first burst of 100 ...
    floor = (requests // rule.limit - 1) * rule.window
    assert elapsed >= floor
    # ... and at the ceiling take little more than that.
    assert elapsed < floor * 1.5, f"{elapsed:.2f} s for {requests} requests (floor {floor:.2f} s)"
