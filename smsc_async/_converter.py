"""The one cattrs converter that turns the gateway's JSON into models."""

from __future__ import annotations

import datetime as dt
import enum
import functools
import re
import types
import typing
from decimal import Decimal, InvalidOperation
from typing import Any, Union

import cattrs

from ._constants import MOSCOW as _MOSCOW_NOW

__all__ = [
    "get_converter",
    "moscow_time",
    "parse_gateway_date",
    "slot_setters",
    "to_json_data",
]

_DATE_FORMAT = "%d.%m.%Y %H:%M:%S"


@functools.cache
def moscow_time() -> dt.tzinfo:
    """The zone of the gateway's dates: ``zoneinfo.ZoneInfo("Europe/Moscow")``.

    A fixed UTC+3 is right only since 26.10.2014 (Moscow was UTC+4 from 2011 and kept summer
    time before), so history and statistics dates need the tz database. Where none is installed
    (Windows without the ``tzdata`` package) the fixed UTC+3 is used.
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo("Europe/Moscow")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return _MOSCOW_NOW


def parse_gateway_date(value: str) -> dt.datetime:
    """``DD.MM.YYYY hh:mm:ss`` in Moscow time → an aware datetime."""
    return dt.datetime.strptime(value, _DATE_FORMAT).replace(tzinfo=moscow_time())


# Money in an answer beyond this is not money but a hostile or broken body.
_MAX_ANSWER_MONEY = Decimal(10) ** 18


def _decimal(value: Any, _: type) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ValueError(f"not a decimal: {value!r}")
    try:
        # str() first: Decimal(0.1) would keep the float's binary error.
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal: {value!r}") from None
    # "sNaN", "NaN", "Infinity" (and JSON's bare NaN/Infinity, which json.loads accepts) are no
    # amount of money: arithmetic on them raises or spreads NaN through the caller's sums.
    if not number.is_finite() or abs(number) >= _MAX_ANSWER_MONEY:
        raise ValueError(f"not a finite amount: {value!r}")
    return number


def _datetime(value: Any, _: type) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError(f"not a gateway date: {value!r}")
    return parse_gateway_date(value)


def _int_or_str(value: Any, _: type) -> int | str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"not an id: {value!r}")
    return value


# int() alone would also read "1_000" or Arabic-Indic "١٢"; the gateway writes ASCII digits, and
# 30 of them bound the work int() does on a hostile body.
_INT_TEXT = re.compile(r"\s*[-+]?[0-9]{1,30}\s*", re.ASCII)


def _int(value: Any, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"not an integer: {value!r}")
    if isinstance(value, str) and not _INT_TEXT.fullmatch(value):
        raise ValueError(f"not an integer: {value[:40]!r}")
    return int(value)


def _bool(value: Any, _: type) -> bool:
    # The gateway writes flags as 0/1, numbers or strings; a plain bool("0") would be True.
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1"):
        return bool(int(value))
    raise ValueError(f"not a 0/1 flag: {value!r}")


def _str(value: Any, _: type) -> str:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"not a string: {value!r}")


def _int_enum(value: Any, cls: type[enum.IntEnum]) -> enum.IntEnum:
    return cls(_int(value, int))


def _optional_args(tp: Any) -> tuple[Any, ...] | None:
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = typing.get_args(tp)
        if type(None) in args:
            return tuple(a for a in args if a is not type(None))
    return None


def _make_optional_hook(converter: cattrs.Converter, tp: Any) -> Any:
    args = _optional_args(tp) or ()
    inner_tp: Any = args[0] if len(args) == 1 else Union[args]  # noqa: UP007
    structure_inner = converter.get_structure_hook(inner_tp)

    # The gateway writes an absent value as "" as often as it leaves the field out.
    def hook(value: Any, _: Any) -> Any:
        if value is None or value == "":
            return None
        return structure_inner(value, inner_tp)

    return hook


_FLAT_SCALARS: dict[Any, Any] = {str: _str, int: _int}
# Small integers as str() writes them (what int() reads them as, and what _int gives for each):
# a dict look-up costs a third of checking the text and reading it.
_SMALL_INTS = {str(n): n for n in range(-100, 1000)}


def _flat_fields(cls: Any) -> list[tuple[str, Any]] | None:
    """``(name, scalar hook)`` per field of a flat record such as ``OperatorInfo``.

    ``None`` unless every field of ``cls`` is ``str | None`` or ``int | None`` defaulting to
    ``None``.
    """
    import attrs

    if not attrs.has(cls):
        return None
    hints = typing.get_type_hints(cls)
    fields = []
    for field in attrs.fields(cls):
        args = _optional_args(hints.get(field.name))
        if (
            args is None
            or len(args) != 1
            or args[0] not in _FLAT_SCALARS
            or field.default is not None
            or not field.init
            or field.alias != field.name
        ):
            return None
        fields.append((field.name, _FLAT_SCALARS[args[0]]))
    return fields


def slot_setters(cls: Any, names: list[str]) -> list[Any] | None:
    """The setters of the slots ``names`` of ``cls``, when setting them is all ``cls()`` does.

    ``None`` unless ``cls`` is an attrs class whose fields are exactly ``names``, kept in slots
    (no ``__dict__``, no hidden slot such as a cached hash), with no validator, converter or
    init hook: then an instance made by ``object.__new__`` with every slot set is the one
    ``cls(**fields)`` makes, for a fraction of the cost of attrs' keyword ``__init__`` (a bulk
    look-up makes two objects per number). The flat-record hook and the bulk run's results use
    it; a class it refuses is built through its ``__init__``.
    """
    import attrs

    if not attrs.has(cls):
        return None
    slots: set[str] = set()
    for klass in cls.__mro__[:-1]:  # object's own slots aside
        if "__slots__" not in vars(klass):
            return None  # a class of the chain has a __dict__
        own = vars(klass)["__slots__"]
        slots.update((own,) if isinstance(own, str) else own)
    slots.discard("__weakref__")
    fields = {field.name: field for field in attrs.fields(cls)}
    if slots != set(names) or set(fields) != set(names) or len(names) != len(fields):
        return None
    if any(hasattr(cls, hook) for hook in ("__attrs_pre_init__", "__attrs_post_init__")):
        return None
    setters = []
    for name in names:
        field = fields[name]
        descriptor = vars(cls).get(name)
        if (
            field.validator is not None
            or field.converter is not None
            or not isinstance(descriptor, types.MemberDescriptorType)
        ):
            return None
        setters.append(descriptor.__set__)
    return setters


def _twin(cls: Any, names: list[str]) -> type | None:
    """A mutable class of ``cls``'s very layout, whose instances may become ``cls``'s.

    ``None`` unless :func:`slot_setters` allows setting the slots of ``cls`` straight. An
    instance of the twin takes its fields by plain attribute stores (a slot store the
    interpreter does inline, where calling each slot's setter costs a call apiece: most of
    building a flat record) and is then turned into a ``cls`` by assigning ``__class__``, which
    Python allows between classes of one layout: the object is then the one ``cls(**fields)``
    makes, frozen like it.
    """
    if slot_setters(cls, names) is None:
        return None
    # Both hooks of attribute setting restored (they share one type slot): frozen attrs
    # classes replace them, and one left in Python would make every store a call.
    twin = type(
        f"_Mutable{cls.__name__}",
        (cls,),
        {"__slots__": (), "__setattr__": object.__setattr__, "__delattr__": object.__delattr__},
    )
    if twin.__basicsize__ != cls.__basicsize__:  # pragma: no cover - () adds no slot
        return None
    return twin


def _flat_lines(fields: list[tuple[str, Any]], cls: Any, twin: Any, pad: str) -> list[str]:
    """The statements turning the dict ``data`` into a ``cls`` named ``self``, indented ``pad``.

    Exactly what cattrs' generated hook does through each field's optional hook (absent, None
    and "" all give the default None; any other value goes through the str/int hook), written
    out straight instead of a call chain per field: a bulk look-up builds a million of these.
    """
    lines = [f"{pad}get = data.get"]
    for n, (name, scalar) in enumerate(fields):
        v = f"v{n}"
        lines.append(f"{pad}{v} = get({name!r})")
        # A str first: the gateway's usual value, settled by one class check and its truth.
        lines.append(f"{pad}if {v}.__class__ is str:")
        if scalar is _str:
            lines.append(f"{pad}    if not {v}: {v} = None")
            lines.append(f"{pad}elif {v} is not None: {v} = _str({v}, str)")
            continue
        # What _int does to a str, minus its type checks: a small number written plainly
        # (the usual "3") is looked up, other plain digits are read without the regular
        # expression; any other value (Arabic-Indic digits, "1_0", a float) goes through _int,
        # which refuses it.
        lines.append(f"{pad}    n = _small({v})")
        lines.append(f"{pad}    if n is not None: {v} = n")
        lines.append(
            f"{pad}    elif {v}.isdigit() and {v}.isascii() and len({v}) <= 30: {v} = int({v})"
        )
        lines.append(f"{pad}    elif not {v}: {v} = None")
        lines.append(f"{pad}    elif _int_text({v}): {v} = int({v})")
        lines.append(f"{pad}    else: {v} = _int({v}, int)")
        lines.append(
            f"{pad}elif {v} is not None and {v}.__class__ is not int: {v} = _int({v}, int)"
        )
    if twin is None:
        names = ", ".join(f"{name}=v{n}" for n, (name, _) in enumerate(fields))
        lines.append(f"{pad}self = cls({names})")
    else:
        lines.append(f"{pad}self = _new(twin)")
        lines.extend(f"{pad}self.{name} = v{n}" for n, (name, _) in enumerate(fields))
        lines.append(f"{pad}self.__class__ = cls")
    return lines


def _compiled(lines: list[str], cls: Any) -> Any:
    fields = _flat_fields(cls) or []
    scope: dict[str, Any] = {
        "cls": cls,
        "twin": _twin(cls, [name for name, _ in fields]),
        "_new": object.__new__,
        "_str": _str,
        "_int": _int,
        "_int_text": _INT_TEXT.fullmatch,
        "_small": _SMALL_INTS.get,
    }
    # Source built from the class's own field names (identifiers, checked by attrs).
    exec("\n".join(lines), scope)
    return scope["hook"]


def _make_flat_hook(cls: Any) -> Any:
    fields = _flat_fields(cls) or []
    twin = _twin(cls, [name for name, _ in fields])
    body = _flat_lines(fields, cls, twin, "    ")
    return _compiled(["def hook(data, _):", *body, "    return self"], cls)


def _flat_list_item(tp: Any) -> Any:
    """The record of ``list[record]`` when the record is flat, else ``None``."""
    if typing.get_origin(tp) is not list:
        return None
    args = typing.get_args(tp)
    if len(args) != 1 or not isinstance(args[0], type) or _flat_fields(args[0]) is None:
        return None
    return args[0]


def _make_flat_list_hook(tp: Any) -> Any:
    # cattrs' list hook (``[item_hook(e, cls) for e in obj]``) with the item hook's body in
    # its loop: the same values and the same errors, without a call per entry.
    cls = _flat_list_item(tp)
    fields = _flat_fields(cls) or []
    twin = _twin(cls, [name for name, _ in fields])
    body = _flat_lines(fields, cls, twin, "        ")
    lines = ["def hook(obj, _):", "    out = []", "    append = out.append", "    for data in obj:"]
    return _compiled([*lines, *body, "        append(self)", "    return out"], cls)


@functools.cache
def get_converter() -> cattrs.Converter:
    """The converter that builds every model from decoded JSON, made on first use.

    Building it registers dozens of default hooks (milliseconds): no reason to pay at import.
    """
    conv = cattrs.Converter(detailed_validation=False)
    conv.register_structure_hook(Decimal, _decimal)
    conv.register_structure_hook(dt.datetime, _datetime)
    conv.register_structure_hook(int, _int)
    conv.register_structure_hook(str, _str)
    conv.register_structure_hook(bool, _bool)
    conv.register_structure_hook(Union[int, str], _int_or_str)  # noqa: UP007
    # IntEnum before int: the int hook would otherwise win for these int subclasses.
    conv.register_structure_hook(enum.IntEnum, _int_enum)
    conv.register_structure_hook_factory(
        lambda tp: _optional_args(tp) is not None and tp is not type(None),
        lambda tp: _make_optional_hook(conv, tp),
    )
    conv.register_structure_hook_factory(
        lambda tp: isinstance(tp, type) and _flat_fields(tp) is not None, _make_flat_hook
    )
    conv.register_structure_hook_factory(
        lambda tp: _flat_list_item(tp) is not None, _make_flat_list_hook
    )
    # The way back, for Model.to_dict(): JSON-safe values (enums already unstructure to ints,
    # tuples to lists). str(Decimal) is exact; a float would not be.
    conv.register_unstructure_hook(Decimal, str)
    conv.register_unstructure_hook(dt.datetime, dt.datetime.isoformat)
    return conv


def to_json_data(model: Any) -> Any:
    """``model`` (an attrs model) as JSON-safe dicts, lists, strs, ints and bools."""
    return get_converter().unstructure(model)
