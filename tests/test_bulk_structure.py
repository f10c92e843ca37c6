"""The bulk look-up's short paths: each must give exactly what the general path gives.

A bulk run builds two objects per number (an ``OperatorInfo`` from the answer, a
``LookupResult`` for the caller) and reads each number once; the converter's flat-record hook
sets the model's slots straight, the results are made the same way, and the reader takes plain
digits without calling :func:`normalize_phone`. Here each is compared with the general path it
stands in for: cattrs' own hook, attrs' ``__init__``, ``normalize_phone``.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import json
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import cattrs
import pytest
from anyio.streams.memory import MemoryObjectSendStream
from hypothesis import example, given
from hypothesis import strategies as st

from smsc_async import LookupResult, OperatorInfo, ProtocolError, _bulk, _converter
from smsc_async._bulk import (
    _READER_STRETCH,
    _REHASH_STRETCH,
    BulkLookup,
    _Reader,
    normalize_phone,
)
from smsc_async._converter import get_converter, slot_setters
from smsc_async._endpoints._base import decode
from smsc_async._endpoints.info import OPERATOR_INFO
from smsc_async._errors import api_error

FIELDS = [field.name for field in attrs.fields(OperatorInfo)]
USUAL = {
    "phone": "79161234567",
    "country": "Россия",
    "operator": "МТС",
    "region": "Москва",
    "mcc": "250",
    "mnc": "01",
    "tz": "3",
}


@functools.cache
def _plain_hook(cls: type) -> Callable[[Any, type], Any]:
    """``cls``'s hook in the converter as it is without the flat-record factory (cattrs' own)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_converter, "_flat_fields", lambda cls: None)
        converter: cattrs.Converter = _converter.get_converter.__wrapped__()
        hook: Callable[[Any, type], Any] = converter.get_structure_hook(cls)
        return hook


def _plain(data: Any, cls: type) -> Any:
    return _plain_hook(cls)(data, cls)


def _outcome(structure: Callable[[], object]) -> object:
    try:
        return structure()
    except Exception as exc:
        return type(exc)


def test_the_flat_hook_is_in_use() -> None:
    hook = get_converter().get_structure_hook(OperatorInfo)
    assert hook.__name__ == "hook"  # the generated one, not cattrs' structure_OperatorInfo
    assert _plain_hook(OperatorInfo).__name__ == "structure_OperatorInfo"
    assert slot_setters(OperatorInfo, FIELDS) is not None  # and it sets the slots straight


# Each answer entry as the gateway might write it, usual or not.
ODD_ENTRIES: list[Any] = [
    USUAL,
    {"phone": "79161234567"},  # every other field missing
    {},
    {k: v for k, v in USUAL.items() if k != "tz"},
    {**USUAL, "extra": "ignored", "mccmnc": "25001"},  # fields the model does not have
    {**USUAL, "tz": 3},
    {**USUAL, "tz": ""},
    {**USUAL, "tz": " 3 "},
    {**USUAL, "tz": "-1"},
    {**USUAL, "tz": "+2"},
    {**USUAL, "tz": "-100"},  # the ends of the small numbers looked up, and just past them
    {**USUAL, "tz": "999"},
    {**USUAL, "tz": "-101"},
    {**USUAL, "tz": "1000"},
    {**USUAL, "tz": "0"},
    {**USUAL, "tz": "-0"},
    {**USUAL, "tz": "007"},
    {**USUAL, "tz": "3 "},
    {**USUAL, "mcc": "", "mnc": None},
    {**USUAL, "mnc": 1},  # a number where a code is due: its text, no leading zero to keep
    {"phone": "79990000001", "error": "operator not found", "error_code": 3},
    {"phone": "79990000001", "error": "operator not found", "error_code": "3"},
    {"phone": 79161234567, "tz": "3"},
]
WRONG_ENTRIES: list[Any] = [
    {**USUAL, "tz": "3.0"},
    {**USUAL, "tz": 3.0},
    {**USUAL, "tz": "abc"},
    {**USUAL, "tz": "١٢"},  # Arabic-Indic digits: int() would read them
    {**USUAL, "tz": "1" * 31},
    {**USUAL, "tz": True},
    {**USUAL, "tz": [3]},
    {**USUAL, "country": ["Россия"]},
    {**USUAL, "operator": {"name": "МТС"}},
    {**USUAL, "mcc": 250.0},
    {**USUAL, "phone": True},
    {"phone": "79990000001", "error": "x", "error_code": "three"},
]
# Not an object at all. cattrs' own hook reads a list or a string as an object without fields
# (it asks ``"phone" in entry``) and makes an empty record of it; the flat hook refuses them.
NOT_OBJECTS: list[Any] = ["79161234567", ["79161234567"], None, 17, True]


@pytest.mark.parametrize(
    ("entry", "valid"), [(e, True) for e in ODD_ENTRIES] + [(e, False) for e in WRONG_ENTRIES]
)
def test_flat_hook_agrees_with_cattrs_on_odd_entries(entry: Any, valid: bool) -> None:
    fast = get_converter().get_structure_hook(OperatorInfo)
    got = _outcome(lambda: fast(entry, OperatorInfo))
    want = _outcome(lambda: _plain(entry, OperatorInfo))
    assert got == want
    assert isinstance(got, OperatorInfo) is valid


@pytest.mark.parametrize("entry", ODD_ENTRIES)
def test_odd_but_valid_entries_decode(entry: Any) -> None:
    body = json.dumps([entry, USUAL]).encode()
    got = decode(OPERATOR_INFO, 200, body)
    assert got == [_plain(e, OperatorInfo) for e in (entry, USUAL)]


@pytest.mark.parametrize("entry", NOT_OBJECTS)
def test_an_entry_that_is_no_object_is_refused(entry: Any) -> None:
    fast = get_converter().get_structure_hook(OperatorInfo)
    with pytest.raises((AttributeError, TypeError)):
        fast(entry, OperatorInfo)


@pytest.mark.parametrize("entry", WRONG_ENTRIES + NOT_OBJECTS)
def test_wrong_entries_make_the_whole_answer_a_protocol_error(entry: Any) -> None:
    # One bad entry among good ones: the answer is malformed, never half-read.
    body = json.dumps([USUAL, entry, USUAL]).encode()
    with pytest.raises(ProtocolError, match="info: unexpected answer shape"):
        decode(OPERATOR_INFO, 200, body)


def test_the_usual_entry_in_detail() -> None:
    (info,) = decode(OPERATOR_INFO, 200, json.dumps([USUAL]).encode())
    assert info == OperatorInfo(
        phone="79161234567",
        country="Россия",
        operator="МТС",
        region="Москва",
        mcc="250",
        mnc="01",
        tz=3,
    )
    assert type(info.tz) is int and type(info.mcc) is str and info.mnc == "01"
    assert info.error is None and info.error_code is None and info.found


@pytest.mark.parametrize("entry", ODD_ENTRIES)
def test_a_slot_built_model_is_the_init_built_one(entry: Any) -> None:
    fast = get_converter().structure(entry, OperatorInfo)
    built = OperatorInfo(**{name: getattr(fast, name) for name in FIELDS})
    assert fast == built and hash(fast) == hash(built) and repr(fast) == repr(built)
    assert fast.to_dict() == built.to_dict() == attrs.asdict(built)
    assert pickle.loads(pickle.dumps(fast)) == built
    assert copy.copy(fast) == built and copy.deepcopy(fast) == built
    assert attrs.evolve(fast, phone="7") == attrs.evolve(built, phone="7")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fast.phone = "7"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        fast.extra = 1  # type: ignore[attr-defined]


def test_a_slot_built_result_is_the_init_built_one() -> None:
    info = OperatorInfo(phone="79161234567", operator="МТС")
    (fast,) = _bulk._found(["79161234567"], [info])
    built = LookupResult(phone="79161234567", info=info)
    assert type(fast) is LookupResult and fast.ok
    assert fast == built and hash(fast) == hash(built) and repr(fast) == repr(built)
    assert pickle.loads(pickle.dumps(fast)) == built
    assert attrs.evolve(fast, error=ValueError()).error is not None
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fast.phone = "7"  # type: ignore[misc]


@attrs.frozen(kw_only=True)
class _Flat:
    a: str | None = None
    b: int | None = None


@attrs.frozen(kw_only=True)
class _Validated:
    a: str | None = attrs.field(default=None, validator=attrs.validators.max_len(3))
    b: int | None = None


def _same(value: str | None) -> str | None:
    return value


@attrs.frozen(kw_only=True)
class _Converted:
    a: str | None = attrs.field(default=None, converter=_same)
    b: int | None = None


@attrs.frozen(kw_only=True)
class _PostInit:
    a: str | None = None
    b: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.a == "bad":
            raise ValueError("refused after init")


@attrs.frozen(kw_only=True, cache_hash=True)
class _CachedHash:
    a: str | None = None
    b: int | None = None


@attrs.frozen(kw_only=True, slots=False)
class _WithDict:
    a: str | None = None
    b: int | None = None


@attrs.frozen(kw_only=True)
class _Base:
    a: str | None = None


@attrs.frozen(kw_only=True)
class _Derived(_Base):
    b: int | None = None


class _Plain:
    __slots__ = ("a", "b")


@pytest.mark.parametrize(
    "cls", [_Validated, _Converted, _PostInit, _CachedHash, _WithDict, _Derived, _Plain]
)
def test_slots_are_set_straight_only_when_that_is_all_init_does(cls: type) -> None:
    assert slot_setters(_Flat, ["a", "b"]) is not None
    assert slot_setters(cls, ["a", "b"]) is None
    assert slot_setters(_Flat, ["a"]) is None and slot_setters(_Flat, ["a", "b", "c"]) is None


@pytest.mark.parametrize("cls", [_Flat, _Validated, _Converted, _PostInit, _CachedHash, _WithDict])
@pytest.mark.parametrize(
    "data", [{"a": "abc", "b": "7"}, {"a": "abcd"}, {"a": "bad"}, {"b": ""}, {"a": 5, "b": 2.5}]
)
def test_flat_records_that_need_their_init_still_get_it(cls: type, data: dict[str, Any]) -> None:
    # The flat hook covers any such record; one with a validator, a converter or an init hook
    # keeps going through __init__, so the validator still refuses what it refuses.
    got = _outcome(lambda: get_converter().structure(data, cls))
    assert got == _outcome(lambda: _plain(data, cls))
    if isinstance(got, _CachedHash):
        assert hash(got) == hash(_CachedHash(**attrs.asdict(got)))


def _detail(structure: Callable[[], object]) -> object:
    """What ``structure`` gives, or its error's type and text (what decode's message shows)."""
    try:
        return structure()
    except Exception as exc:
        return type(exc), str(exc)


def _entry_by_entry(obj: Any, cls: type) -> list[Any]:
    """cattrs' list hook over the converter's item hook: what the list hook stands in for."""
    item = get_converter().get_structure_hook(cls)
    return [item(e, cls) for e in obj]


def test_the_list_hook_is_in_use() -> None:
    hook = get_converter().get_structure_hook(list[OperatorInfo])
    assert hook.__name__ == "hook"  # the generated one, not cattrs' structure_list
    assert _plain_hook(list[OperatorInfo]).__name__ == "structure_list"
    assert get_converter().get_structure_hook(list[str]).__name__ == "structure_list"


# Whole answers: lists of entries of every kind, and things that are no list.
ANSWERS: list[Any] = [
    [],
    [USUAL],
    ODD_ENTRIES,
    *([USUAL, e, USUAL] for e in WRONG_ENTRIES + NOT_OBJECTS),
    [NOT_OBJECTS[0], WRONG_ENTRIES[0]],  # the first error wins, as entry by entry
    (USUAL, USUAL),
    USUAL,  # a dict iterates over its keys: str entries, refused
    "79161234567",
    None,
    17,
    b"[]",
]


@pytest.mark.parametrize("answer", ANSWERS)
def test_the_list_hook_agrees_with_structuring_entry_by_entry(answer: Any) -> None:
    fast = get_converter().get_structure_hook(list[OperatorInfo])
    got = _detail(lambda: fast(answer, list[OperatorInfo]))
    assert got == _detail(lambda: _entry_by_entry(answer, OperatorInfo))
    if isinstance(got, list):
        assert all(type(info) is OperatorInfo for info in got)
        assert got == [_plain(e, OperatorInfo) for e in answer]


def test_the_list_hook_takes_any_iterable_once() -> None:
    entries = iter([USUAL, {**USUAL, "tz": "4"}])
    got = get_converter().structure(entries, list[OperatorInfo])
    assert [info.tz for info in got] == [3, 4] and next(entries, None) is None


@pytest.mark.parametrize("entry", ODD_ENTRIES)
def test_a_model_built_in_a_list_is_the_init_built_one(entry: Any) -> None:
    (fast,) = get_converter().structure([entry], list[OperatorInfo])
    built = OperatorInfo(**{name: getattr(fast, name) for name in FIELDS})
    assert type(fast) is OperatorInfo and fast.__class__ is OperatorInfo
    assert fast == built and hash(fast) == hash(built) and repr(fast) == repr(built)
    assert pickle.loads(pickle.dumps(fast)) == built and copy.deepcopy(fast) == built
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fast.phone = "7"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        del fast.phone  # type: ignore[misc]
    with pytest.raises(AttributeError):
        fast.extra = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("cls", [_Flat, _Validated, _Converted, _PostInit, _CachedHash, _WithDict])
@pytest.mark.parametrize(
    "data", [{"a": "abc", "b": "7"}, {"a": "abcd"}, {"a": "bad"}, {"b": ""}, {"a": 5, "b": 2.5}]
)
def test_lists_of_flat_records_that_need_their_init_still_get_it(
    cls: type, data: dict[str, Any]
) -> None:
    got = _outcome(lambda: get_converter().structure([data, {}], list[cls]))  # type: ignore[valid-type]
    assert got == _outcome(lambda: _plain([data, {}], list[cls]))  # type: ignore[valid-type]
    if isinstance(got, list):
        assert [type(item) for item in got] == [cls, cls]


def _reader(send: MemoryObjectSendStream[Any]) -> _Reader:
    async def never(part: object, pace: object) -> list[OperatorInfo]:
        raise AssertionError("not sent")

    lookup = BulkLookup(
        never,
        [],
        batch_size=1000,
        concurrency=1,
        progress=None,
        total=None,
        skip=(),
        retries=0,
        rate_span=1.0,
    )
    return _Reader(lookup, send, send)


@given(
    st.one_of(
        st.text(alphabet="0123456789", min_size=5, max_size=17),
        st.text(alphabet="0123456789+ -()", max_size=18),
        st.text(max_size=6),
        st.integers(0, 10**16).map(str),
    )
)
@example("89161234567")  # trunk 8: 7 in its place
@example("9161234567")  # ten digits from 9: a 7 in front
@example("8916123456")  # ten digits from 8, eleven from 9: as they are
@example("99161234567")
@example("0916123456")  # a leading 0: refused
@example("123456")  # too short, and too long:
@example("1234567890123456")
@example(" 79161234567 ")
@example("٧٩١٦١٢٣٤٥٦٧")  # Arabic-Indic digits: isdigit() says yes
@example("7٩١٦١٢٣٤٥٦٧")
def test_the_reader_reads_a_number_as_normalize_phone_does(text: str) -> None:
    send, receive = anyio.create_memory_object_stream[Any](1)
    with send, receive:
        reader = _reader(send)
        reader.take(text)
    try:
        want: str | None = normalize_phone(text)
    except ValueError:
        want = None
    if want is None:
        assert reader._batch == []
        assert not text.strip() or [r.phone for r in reader._rejected] == [text.strip()]
    else:
        assert reader._batch == [want] and reader._rejected == []


def test_the_reader_hands_over_after_a_stretch_of_rehashing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # take() asks for a turn of the loop (send) when a batch is full, a bad item is reported,
    # or the set has rehashed _REHASH_STRETCH slots since the last turn: a stretch of reading
    # holds at most that much rehashing and one more table. (Tables only: no front set.)
    monkeypatch.setattr(_bulk, "_FRONT", 0)
    send, receive = anyio.create_memory_object_stream[Any](1)
    with send, receive:
        reader = _reader(send)  # batches of 1000
        seen = reader._seen
        doublings = pending = largest = 0
        for k in range(200_000):
            before = seen.nbytes
            ready = reader.take(f"79{(k * 7_919) % 10**9:09d}")
            moved = (seen.nbytes - before) // 8  # a table of n slots doubled: 8n bytes more
            doublings += moved > 0
            pending += moved
            largest = max(largest, moved)
            assert ready == (pending >= _REHASH_STRETCH or len(reader._batch) == 1000)
            if pending >= _REHASH_STRETCH:
                assert pending < _REHASH_STRETCH + largest
                assert seen.moved == 0  # the cue is taken
                pending = 0
            assert seen.moved == pending
            if len(reader._batch) == 1000:
                reader._batch = []  # as send() would
        assert len(seen) == 200_000 and doublings >= 2 * 1024 and largest >= 256


def _mixed_input(sparse: bool) -> list[object]:
    """Numbers with every kind of other item among them: often, or (``sparse``) now and then."""
    mix: list[object] = []
    dup, odd = (457, 1_301) if sparse else (7, 11)
    for k in range(20_000 if sparse else 6_000):
        mix.append(f"79{(k * 7_919) % 10**9:09d}")
        if k % dup == 0:
            mix.append(mix[-1])  # a duplicate
        if k % odd == 0:
            mix.extend([f" 8916{k:07d} ", "", "junk", 79161234567, None, "+7 916 123-45-67"])
            mix.extend([" 79161234568\t", "7916123\n7916124", "79161234569\n"])  # odd spacing
        if k % 500 == 0:
            mix.extend(["79000000001"] * 300)  # a long run of duplicates
        if k % 1_777 == 0:
            # Alone among plain numbers: two numbers' worth of digits in one item.
            mix.append(f"79{k:09d}\n79{k + 1:09d}")
    return mix


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_take_from_reads_as_take_does(sparse: bool) -> None:
    # take_from() is take() for a chunk of items at a time (whole chunks of new plain numbers
    # at once, the rest item by item): over every kind of item, often or now and then (the
    # front set filling and then emptying into the tables), the batches, rejections, counts and
    # hand-overs come out the same.
    mix = _mixed_input(sparse)

    def replay(by_call: bool) -> list[tuple[list[str], list[str], int, int]]:
        send, receive = anyio.create_memory_object_stream[Any](1)
        with send, receive:
            reader = _reader(send)
            reader._lookup._batch_size = 100
            marks = []
            items = iter(mix)
            while True:
                if by_call:
                    item = next(items, StopIteration)
                    more = item is not StopIteration
                    quiet = 0
                    while more and not reader.take(item):
                        quiet += 1
                        if quiet >= _READER_STRETCH:
                            break
                        item = next(items, StopIteration)
                        more = item is not StopIteration
                else:
                    more = reader.take_from(items)
                lookup = reader._lookup
                batch = reader._batch if len(reader._batch) >= 100 else []
                marks.append(
                    (
                        list(batch),
                        [r.phone for r in reader._rejected],
                        lookup._queued,
                        lookup._unread_hint_lost,
                    )
                )
                if batch:
                    reader._batch = []
                reader._rejected = []
                if not more:
                    marks.append((reader._batch, [], lookup._queued, lookup._unread_hint_lost))
                    return marks

    assert replay(by_call=False) == replay(by_call=True)


def _benchmark_module(name: str) -> Any:
    """``benchmarks/<name>.py``, imported from its file (the benchmarks are not a package)."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_benchmark_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmarks_one_table_set_plugs_into_the_reader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # benchmarks/bulk_lookup.py measures our loop stalls against the old de-duplication set
    # by putting it in _NumberSet's place: the reader must take the same numbers through it
    # (it has no front set and never cues a hand-over, so only the hand-overs may differ).
    one_table = _benchmark_module("bulk_lookup").OneTable
    mix = _mixed_input(sparse=True)

    def read_all() -> tuple[list[str], list[str]]:
        send, receive = anyio.create_memory_object_stream[Any](1)
        with send, receive:
            reader = _reader(send)
            reader._lookup._batch_size = 100
            taken: list[str] = []
            rejected: list[str] = []
            items = iter(mix)
            more = True
            while more:
                more = reader.take_from(items)
                taken += reader._batch
                rejected += [r.phone for r in reader._rejected]
                reader._batch, reader._rejected = [], []
            return taken, rejected

    ours = read_all()
    monkeypatch.setattr(_bulk, "_NumberSet", one_table)
    theirs = read_all()
    assert theirs == ours and len(ours[0]) > 20_000


@pytest.mark.parametrize("bad_at", [0, 5, 99, 150, 260])
def test_take_from_takes_what_came_before_an_error_of_the_input(bad_at: int) -> None:
    # A chunk is read ahead: the items before the input's error are still taken (a bad one
    # reported) as item by item, and the error is raised only after them, itself unchanged.
    class Broken(Exception):
        pass

    def numbers() -> Iterator[object]:
        for k in range(bad_at):
            yield "junk" if k == bad_at - 1 else f"7916{k:07d}"
        raise Broken("the input broke")

    send, receive = anyio.create_memory_object_stream[Any](1)
    with send, receive:
        reader = _reader(send)
        reader._lookup._batch_size = 100
        items = numbers()
        taken: list[str] = []
        rejected: list[str] = []
        failure: Exception | None = None
        while failure is None:
            try:
                assert reader.take_from(items)
            except Broken as exc:
                failure = exc
            if len(reader._batch) >= 100:
                taken += reader._batch
                reader._batch = []
            rejected += [r.phone for r in reader._rejected]
            reader._rejected = []
        taken += reader._batch
    assert isinstance(failure, Broken) and str(failure) == "the input broke"
    want = [f"7916{k:07d}" for k in range(bad_at - 1)]
    assert taken == want and rejected == (["junk"] if bad_at else [])


@given(
    st.one_of(
        st.integers(-2000, 2000).map(str),
        st.integers(-2000, 2000).map(lambda n: f"{n:+d}"),
        st.integers(0, 2000).map(lambda n: f"0{n}"),
        st.text(alphabet="0123456789+- ", max_size=5),
    )
)
def test_an_integer_field_reads_as_cattrs_reads_it(text: str) -> None:
    fast = get_converter().get_structure_hook(OperatorInfo)
    for entry in ({**USUAL, "tz": text}, {"phone": "1", "error": "x", "error_code": text}):
        got = _outcome(lambda entry=entry: fast(entry, OperatorInfo))  # type: ignore[misc]
        assert got == _outcome(lambda entry=entry: _plain(entry, OperatorInfo))  # type: ignore[misc]
        if isinstance(got, OperatorInfo):
            value = got.tz if "tz" in entry else got.error_code
            assert value is None if text == "" else type(value) is int


_PHONES = st.text(alphabet="0123456789", min_size=7, max_size=15)


@given(
    st.lists(
        st.tuples(_PHONES, st.sampled_from(["МТС", "Билайн", ""]), st.booleans()),
        max_size=30,
        unique_by=lambda row: row[0],
    ),
    st.sampled_from(["as sent", "one missing", "one renamed"]),
)
def test_matching_gives_what_the_entry_by_entry_rule_gives(
    rows: list[tuple[str, str, bool]], shape: str
) -> None:
    # The usual answer (one entry per number, in order, all found) is paired a column at a
    # time; every answer must pair as the general rule pairs it, object for object.
    part = [phone for phone, _, _ in rows]
    infos = [
        OperatorInfo(phone=phone, operator=operator or None)
        if found
        else OperatorInfo(phone=phone, error="operator not found", error_code=3)
        for phone, operator, found in rows
    ]
    if shape == "one missing" and infos:
        del infos[len(infos) // 2]
    elif shape == "one renamed" and infos:
        infos[0] = attrs.evolve(infos[0], phone="+" + (infos[0].phone or ""))
    got = _bulk._match(part, infos)
    want = _general_match(part, infos)
    assert [type(r) for r in got] == [LookupResult] * len(part)
    assert [(r.phone, r.info, repr(r.error)) for r in got] == [
        (r.phone, r.info, repr(r.error)) for r in want
    ]
    assert [hash((r.phone, r.info)) for r in got] == [hash((r.phone, r.info)) for r in want]


def _general_match(part: list[str], infos: list[OperatorInfo]) -> list[LookupResult]:
    """The pairing rule written out plainly: by number, else the next entry left over."""
    wanted = set(part)
    by_phone: dict[str, OperatorInfo] = {}
    spare: list[OperatorInfo] = []
    for entry in infos:
        key = entry.phone
        if key is not None and key not in wanted:
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
        info = by_phone.get(phone) or (spare.pop(0) if spare else None)
        if info is None:
            error: Exception = ProtocolError(
                "no entry for this number in the answer", endpoint="info"
            )
            results.append(LookupResult(phone=phone, error=error))
        elif info.error_code is not None:
            results.append(
                LookupResult(
                    phone=phone, error=api_error("info", info.error_code, info.error or "")
                )
            )
        else:
            results.append(LookupResult(phone=phone, info=attrs.evolve(info, phone=phone)))
    return results
