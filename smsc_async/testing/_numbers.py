"""Phone numbers: normalization, the operator table, tariffs and the emulator's reserved ranges.

The table answers deterministically for every well-formed number of the countries it knows (Russia,
Kazakhstan, Ukraine, Belarus, Uzbekistan, Kyrgyzstan): the first digits after the country code pick
the operator, the next three pick a region, so a million generated numbers all get an answer.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache

import attrs


@attrs.frozen(kw_only=True)
class ReservedNumbers:
    """Number ranges (prefixes of 11-digit Russian numbers) with a fixed behaviour in the emulator.

    * ``undeliverable`` -- send.php refuses them: error 8 when every recipient is in the range;
    * ``absent`` -- accepted, then end in status 20 with err 1 ("subscriber does not exist");
    * ``unavailable`` -- accepted, then end in status 25 with err 248 ("no route");
    * ``no_operator`` -- info.php knows no operator: error 3 (or a per-number error in a list).

    Each range is the prefix followed by any three digits, e.g. ``79990000123``.
    """

    undeliverable: str = "79990000"
    absent: str = "79990001"
    unavailable: str = "79990002"
    no_operator: str = "79990009"


#: The reserved ranges of the emulator.
RESERVED = ReservedNumbers()


@attrs.frozen(kw_only=True)
class Operator:
    """The operator-table answer for one number."""

    country: str
    operator: str
    region: str
    mcc: str
    mnc: str
    tz: int
    price: Decimal

    @property
    def mccmnc(self) -> str:
        """Country code plus operator code, e.g. ``"25001"``."""
        return self.mcc + self.mnc


@attrs.frozen
class _Net:
    name: str
    mnc: str
    price: Decimal


@attrs.frozen(eq=False)  # identity hash: instances key the lookup cache
class _Country:
    name: str
    mcc: str
    length: int  # total digits of a number, country code included
    nets: dict[str, _Net]  # national prefix (2-3 digits) -> operator
    fallback: tuple[_Net, ...]  # picked by the prefix's digits when it is not in ``nets``
    regions: tuple[tuple[str, int], ...]  # (name, UTC offset)
    pinned: dict[str, str]  # national prefix -> region name, for well-known prefixes


def _nets(table: dict[tuple[str, ...], _Net]) -> dict[str, _Net]:
    return {prefix: net for prefixes, net in table.items() for prefix in prefixes}


def _range(first: int, last: int) -> tuple[str, ...]:
    return tuple(str(n) for n in range(first, last + 1))


_MTS = _Net("МТС", "01", Decimal("4.30"))
_MEGAFON = _Net("МегаФон", "02", Decimal("4.10"))
_BEELINE = _Net("Билайн", "99", Decimal("4.20"))
_TELE2 = _Net("Tele2", "20", Decimal("3.90"))
_YOTA = _Net("Yota", "11", Decimal("3.90"))
_RTK = _Net("Ростелеком", "39", Decimal("4.30"))

_RUSSIA = _Country(
    name="Россия",
    mcc="250",
    length=11,
    nets=_nets(
        {
            _range(910, 919) + _range(980, 989): _MTS,
            (*_range(920, 939), "997"): _MEGAFON,
            ("903", "905", "906", "909", *_range(960, 969)): _BEELINE,
            (
                *("900", "901", "902", "904", "908"),
                *("950", "951", "952", "953", "958"),
                "977",
                *_range(991, 996),
            ): _TELE2,
            ("999",): _YOTA,
        }
    ),
    fallback=(_MTS, _MEGAFON, _BEELINE, _TELE2),
    regions=(
        ("Москва", 3),
        ("Московская обл.", 3),
        ("Санкт-Петербург", 3),
        ("Ленинградская обл.", 3),
        ("Краснодарский край", 3),
        ("Республика Татарстан", 3),
        ("Нижегородская обл.", 3),
        ("Ростовская обл.", 3),
        ("Самарская обл.", 4),
        ("Свердловская обл.", 5),
        ("Челябинская обл.", 5),
        ("Омская обл.", 6),
        ("Новосибирская обл.", 7),
        ("Красноярский край", 7),
        ("Иркутская обл.", 8),
        ("Приморский край", 10),
        ("Хабаровский край", 10),
        ("Калининградская обл.", 2),
    ),
    pinned={
        **dict.fromkeys(("915", "916", "985", "903", "905", "926", "925", "977", "999"), "Москва"),
        **dict.fromkeys(("911", "921", "952", "981"), "Санкт-Петербург"),
        **dict.fromkeys(("913", "923", "953"), "Новосибирская обл."),
    },
)
_RUSSIA_FIXED = attrs.evolve(_RUSSIA, nets={}, fallback=(_RTK,), pinned={})

_KAZAKHSTAN = _Country(
    name="Казахстан",
    mcc="401",
    length=11,
    nets=_nets(
        {
            ("700", "708"): _Net("Altel", "07", Decimal("2.60")),
            ("701", "702", "775", "778"): _Net("Kcell", "02", Decimal("2.40")),
            ("705", "771", "776", "777"): _Net("Билайн", "01", Decimal("2.40")),
            ("707", "747"): _Net("Tele2", "77", Decimal("2.20")),
        }
    ),
    fallback=(
        _Net("Kcell", "02", Decimal("2.40")),
        _Net("Билайн", "01", Decimal("2.40")),
    ),
    regions=(("Алматы", 5), ("Астана", 5), ("Шымкент", 5), ("Караганда", 5), ("Актобе", 5)),
    pinned={},
)

_UKRAINE = _Country(
    name="Украина",
    mcc="255",
    length=12,
    nets=_nets(
        {
            ("67", "68", "96", "97", "98"): _Net("Киевстар", "03", Decimal("3.10")),
            ("50", "66", "95", "99"): _Net("Vodafone", "01", Decimal("3.10")),
            ("63", "73", "93"): _Net("lifecell", "06", Decimal("3.00")),
        }
    ),
    fallback=(_Net("Киевстар", "03", Decimal("3.10")),),
    regions=(("Киев", 2), ("Харьков", 2), ("Одесса", 2), ("Днепр", 2), ("Львов", 2)),
    pinned={},
)

_BELARUS = _Country(
    name="Беларусь",
    mcc="257",
    length=12,
    nets=_nets(
        {
            ("291", "293", "296", "299", "44"): _Net("A1", "01", Decimal("3.80")),
            ("292", "295", "297", "298", "33"): _Net("МТС", "02", Decimal("3.80")),
            ("25",): _Net("life:)", "04", Decimal("3.70")),
        }
    ),
    fallback=(_Net("A1", "01", Decimal("3.80")),),
    regions=(("Минск", 3), ("Гомель", 3), ("Брест", 3), ("Витебск", 3), ("Гродно", 3)),
    pinned={},
)

_UZBEKISTAN = _Country(
    name="Узбекистан",
    mcc="434",
    length=12,
    nets=_nets(
        {
            ("90", "91"): _Net("Beeline", "04", Decimal("1.90")),
            ("93", "94"): _Net("Ucell", "05", Decimal("1.90")),
            ("97", "88"): _Net("Mobiuz", "07", Decimal("1.90")),
            ("95", "99", "77"): _Net("Uzmobile", "03", Decimal("1.80")),
        }
    ),
    fallback=(_Net("Beeline", "04", Decimal("1.90")),),
    regions=(("Ташкент", 5), ("Самарканд", 5), ("Бухара", 5), ("Фергана", 5)),
    pinned={},
)

_KYRGYZSTAN = _Country(
    name="Киргизия",
    mcc="437",
    length=12,
    nets=_nets(
        {
            ("77", "22"): _Net("Beeline", "01", Decimal("2.90")),
            ("55", "99"): _Net("MegaCom", "05", Decimal("2.90")),
            ("70", "50"): _Net("O!", "09", Decimal("2.80")),
        }
    ),
    fallback=(_Net("O!", "09", Decimal("2.80")),),
    regions=(("Бишкек", 6), ("Ош", 6), ("Джалал-Абад", 6)),
    pinned={},
)

_BY_CODE = {"380": _UKRAINE, "375": _BELARUS, "998": _UZBEKISTAN, "996": _KYRGYZSTAN}

#: Price of one SMS part to a number with no known operator.
INTERNATIONAL_PRICE = Decimal("6.00")

_SEPARATORS = re.compile(r"[\s()\-]")


def _country(digits: str) -> tuple[_Country, str] | None:
    """The country of ``digits`` (country code first) and the national part."""
    if digits[0] == "7":
        national = digits[1:]
        if national[:1] in ("6", "7"):
            return _KAZAKHSTAN, national
        if national[:1] == "9":
            return _RUSSIA, national
        if national[:1] in ("3", "4", "8"):
            return _RUSSIA_FIXED, national
        return None
    country = _BY_CODE.get(digits[:3])
    return (country, digits[3:]) if country else None


def normalize(raw: str) -> str | None:
    """A number in international digits (no ``+``), or ``None`` when it is malformed.

    Like the gateway, a number written without ``+`` is corrected: a Russian ``8XXXXXXXXXX`` becomes
    ``7XXXXXXXXXX`` and a bare ten-digit ``9XXXXXXXXX`` gets the ``7``; with ``+`` nothing is
    corrected. Known countries need their exact length; others 10 to 15 digits.
    """
    text = _SEPARATORS.sub("", raw)
    plus = text.startswith("+")
    digits = text[1:] if plus else text
    if not digits.isdigit() or not digits.isascii():
        return None
    if not plus:
        if len(digits) == 11 and digits[0] == "8":
            digits = "7" + digits[1:]
        elif len(digits) == 10 and digits[0] == "9":
            digits = "7" + digits
    if digits[0] == "0":
        return None
    if digits[0] == "7":
        return digits if len(digits) == 11 else None
    country = _BY_CODE.get(digits[:3])
    if country is not None:
        return digits if len(digits) == country.length else None
    return digits if 10 <= len(digits) <= 15 else None


def _digits_value(text: str) -> int:
    return int(text) if text else 0


@lru_cache(maxsize=4096)
def _answer(country: _Country, prefix: str, net: _Net, region_key: str) -> Operator:
    region, tz = country.regions[_digits_value(region_key) % len(country.regions)]
    pinned = country.pinned.get(prefix)
    if pinned is not None:
        region, tz = next(r for r in country.regions if r[0] == pinned)
    return Operator(
        country=country.name,
        operator=net.name,
        region=region,
        mcc=country.mcc,
        mnc=net.mnc,
        tz=tz,
        price=net.price,
    )


def lookup(number: str) -> Operator | None:
    """The operator of a normalized number, or ``None`` when none is known (info.php error 3)."""
    if number.startswith(RESERVED.no_operator):
        return None
    found = _country(number)
    if found is None:
        return None
    country, national = found
    for size in (3, 2):
        prefix = national[:size]
        net = country.nets.get(prefix)
        if net is not None:
            break
    else:
        prefix = national[:3]
        net = country.fallback[_digits_value(prefix) % len(country.fallback)]
    return _answer(country, prefix, net, national[3:6])


def price(number: str) -> Decimal:
    """Price of one SMS part to ``number``."""
    found = lookup(number)
    return found.price if found is not None else INTERNATIONAL_PRICE
