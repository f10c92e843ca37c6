"""What every answer model shares: :meth:`Model.to_dict`."""

from __future__ import annotations

from typing import Any

from .._converter import to_json_data

__all__ = ["Model"]


class Model:
    """Base of the answer models: frozen attrs classes that can turn themselves into JSON data."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """The answer as JSON-safe data, ready for ``json.dumps`` or a web framework's response.

        Every field is present under its gateway name; money (:class:`~decimal.Decimal`) becomes a
        str (``"250.80"``, exact), dates ISO 8601 strs with their offset
        (``"2026-03-01T12:00:00+03:00"``), status codes plain ints, nested models dicts and tuples
        lists. Derived properties (``final``, ``found`` …) are not included.

        >>> balance.to_dict()  # doctest: +SKIP
        {'balance': '250.80', 'currency': 'RUR', 'credit': None}
        """
        data: dict[str, Any] = to_json_data(self)
        return data
