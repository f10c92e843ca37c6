"""Endpoints as declarations, and the pure decoder every answer goes through."""

from __future__ import annotations

import enum
import functools
import json
import re
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import attrs

from .._constants import EXCERPT_LENGTH
from .._converter import get_converter
from .._errors import ProtocolError, api_error
from .._limits import RateLimits

__all__ = ["Caller", "Endpoint", "Kind", "decode"]

T = TypeVar("T")

# The plain error form some endpoints send even when JSON was asked for.
_PLAIN_ERROR = re.compile(r"\s*ERROR\s*=\s*(\d+)\s*\((.*?)\)\s*(?:,\s*ID\s*-\s*(\S+))?\s*$", re.S)


class Kind(enum.Enum):
    """What a call does, which decides how it may be retried and what it counts toward."""

    #: Delivers something (send.php): retried on error 9 only, counts toward the failed-sends
    #: rule, carries a message ``id``; a lost answer is a :class:`~smsc_async.SendUnconfirmedError`.
    SEND = "send"
    #: Reads or estimates without changing anything: may also be retried on transport failures.
    READ = "read"
    #: Changes account state (management calls): retried on error 9 only.
    WRITE = "write"


@attrs.frozen
class Endpoint(Generic[T]):
    """One gateway call: error-table ``name``, ``path``, fixed ``selector`` and answer ``model``.

    ``model`` is the type answers are structured into, or its name in :mod:`smsc_async.models`
    (``"Balance"``, ``"list[OperatorInfo]"``), resolved on first use so that importing the package
    does not build every model class. ``adapt`` reshapes the decoded JSON before it is structured
    (e.g. a single object where a list of them is expected).
    """

    name: str
    path: str
    model: Any
    selector: tuple[tuple[str, str], ...] = ()
    adapt: Callable[[Any], Any] | None = None
    kind: Kind = Kind.READ


@functools.cache
def _resolve(spec: str) -> Any:
    from .. import models

    if spec.startswith("list[") and spec.endswith("]"):
        return list[getattr(models, spec[5:-1])]  # type: ignore[misc]
    return getattr(models, spec)


def _excerpt(text: str) -> str:
    return text[:EXCERPT_LENGTH]


def decode(endpoint: Endpoint[T], status_code: int, content: bytes) -> T:
    """Turn one HTTP answer into ``endpoint.model`` or raise the matching error."""
    text: str | None = None
    if status_code != 200:
        text = content.decode("utf-8", "replace")
        raise ProtocolError(
            f"HTTP {status_code}",
            endpoint=endpoint.name,
            excerpt=_excerpt(text),
            status_code=status_code,
        )
    try:
        data = json.loads(content)
    except ValueError:
        text = content.decode("utf-8", "replace")
        _raise_unreadable(endpoint, text)
    if isinstance(data, dict) and "error_code" in data:
        code = data["error_code"]
        if isinstance(code, str) and code.isdigit():
            code = int(code)
        if not isinstance(code, int) or isinstance(code, bool):
            raise ProtocolError("error_code is not a number", endpoint=endpoint.name)
        echoed = data.get("id")
        raise api_error(
            endpoint.name,
            code,
            str(data.get("error", "")),
            None if echoed is None else str(echoed),
        )
    if endpoint.adapt is not None:
        data = endpoint.adapt(data)
    model = endpoint.model
    if isinstance(model, str):
        model = _resolve(model)
    try:
        result: T = get_converter().structure(data, model)
    except Exception as exc:  # cattrs raises many kinds; none may escape as such
        raise ProtocolError(
            f"unexpected answer shape ({type(exc).__name__}: {exc})",
            endpoint=endpoint.name,
            excerpt=_excerpt(content.decode("utf-8", "replace")),
        ) from None
    return result


def _raise_unreadable(endpoint: Endpoint[Any], text: str) -> Any:
    match = _PLAIN_ERROR.match(text)
    if match:
        code, message, echoed = match.groups()
        raise api_error(endpoint.name, int(code), message, echoed)
    stripped = text.lstrip()
    if not stripped:
        reason = "empty body"
    elif stripped[:1] == "<":
        reason = "an HTML or XML page instead of JSON"
    elif stripped[:1] in "{[":
        reason = "truncated or malformed JSON"
    else:
        reason = "not JSON"
    raise ProtocolError(reason, endpoint=endpoint.name, excerpt=_excerpt(text))


class Caller:
    """What endpoint groups need from the session: one pipeline to run a declared call through."""

    @property
    def limits(self) -> RateLimits:
        """The rate rules the session keeps."""
        raise NotImplementedError

    async def _call(self, endpoint: Endpoint[T], params: dict[str, str]) -> T:
        raise NotImplementedError
