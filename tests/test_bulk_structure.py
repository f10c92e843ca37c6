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
import json
import pickle
from collections.abc import Callable
from typing import Any

import anyio
import attrs
import cattrs
import pytest
from anyio.streams.memory import MemoryObjectSendStream
from hypothesis import example, given
from hypothesis import strategies as st

from smsc_async import LookupResult, OperatorInfo, ProtocolError, _bulk, _converter
from smsc_async._bulk import BulkLookup, _Reader, normalize_phone
from smsc_async._converter import get_converter, slot_setters
from smsc_async._endpoints._base import decode
from smsc_async._endpoints.info import OPERATOR_INFO

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


def _reader(send: MemoryObjectSendStream[Any]) -> _Reader:
    async def never(part: object) -> list[OperatorInfo]:
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
