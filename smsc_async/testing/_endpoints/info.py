"""``/sys/info.php?get_operator=1``: the operator, country and region of numbers."""

from __future__ import annotations

from collections.abc import Mapping

from smsc_async.testing._endpoints._context import PARAMETERS_ERROR, Context
from smsc_async.testing._numbers import Operator, lookup, normalize
from smsc_async.testing._wire import GatewayError, csv, flag, key_values, to_json, xml

PATH = "/sys/info.php"
ERRORS: Mapping[int, str] = {3: "Operator not found."}  # seed 003


def _fields(op: Operator) -> list[tuple[str, object]]:
    return [
        ("country", op.country),
        ("operator", op.operator),
        ("region", op.region),
        ("mcc", op.mcc),
        ("mnc", op.mnc),
        ("tz", str(op.tz)),
    ]


def _render_one(fmt: int, fields: list[tuple[str, object]]) -> str:
    if fmt == 0:
        return key_values(fields)
    if fmt == 1:
        return csv(value for _, value in fields)
    if fmt == 2:
        return xml("info", fields)
    return to_json(dict(fields))


def _missing(fmt: int, number: str) -> str:
    code, text = 3, ERRORS[3]
    if fmt == 0:
        return f"phone = {number}, ERROR = {code} ({text})"
    if fmt == 1:
        return f"{number},-{code}"
    fields: list[tuple[str, object]] = [("phone", number), ("error", text), ("error_code", code)]
    return xml("info", fields) if fmt == 2 else to_json(dict(fields))


def handle(ctx: Context) -> str:
    params = ctx.params
    if not flag(params, "get_operator"):
        raise GatewayError(1, PARAMETERS_ERROR)
    raw = params.get("phone", "")
    is_list = "," in raw
    items = [item for item in raw.split(",") if item.strip()]
    if not items or len(items) > ctx.emulator.max_lookup_batch:
        raise GatewayError(1, PARAMETERS_ERROR)
    numbers = [normalize(item) for item in items]
    if any(number is None for number in numbers):
        # One malformed number spoils the whole list: clients must split the batch to find it.
        raise GatewayError(1, PARAMETERS_ERROR)
    if not is_list:
        found = lookup(numbers[0] or "")
        if found is None:
            raise GatewayError(3, ERRORS[3])
        return _render_one(ctx.fmt, _fields(found))
    answers: list[str] = []
    objects: list[dict[str, object]] = []
    for number in numbers:
        assert number is not None
        found = lookup(number)
        if ctx.fmt == 3:
            if found is None:
                objects.append({"phone": number, "error": ERRORS[3], "error_code": 3})
            else:
                objects.append({"phone": number, **dict(_fields(found))})
        elif found is None:
            answers.append(_missing(ctx.fmt, number))
        else:
            answers.append(_render_one(ctx.fmt, [("phone", number), *_fields(found)]))
    if ctx.fmt == 3:
        return to_json(objects)
    if ctx.fmt == 2:
        inner = "".join(a + "\n" for a in answers)
        return f"<list>\n{inner}</list>"
    return "\n".join(answers)
