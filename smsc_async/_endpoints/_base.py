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


def _same(text: str) -> str:
    return text


def decode(
    endpoint: Endpoint[T],
    status_code: int,
    content: bytes,
    *,
    redact: Callable[[str], str] = _same,
) -> T:
    """Turn one HTTP answer into ``endpoint.model`` or raise the matching error.

    ``redact`` is applied to every piece of the answer placed into an exception (the excerpt of
    an unreadable body, the server's error text), so that a page echoing the request cannot carry
    the session's secrets into an error message. JSON nested too deeply for the parser is a
    :class:`~smsc_async.ProtocolError` like any other unreadable body.
    """
    name = endpoint.name
    if status_code != 200:
        raise ProtocolError(
            f"HTTP {status_code}",
            endpoint=name,
            excerpt=_excerpt(content, redact),
            status_code=status_code,
        )
    try:
        data = json.loads(content)
    except RecursionError:
        raise ProtocolError(
            "JSON nested too deeply", endpoint=name, excerpt=_excerpt(content, redact)
        ) from None
    except ValueError:
        _raise_unreadable(endpoint, content.decode("utf-8", "replace"), redact)
    if isinstance(data, dict) and "error_code" in data:
        code = data["error_code"]
        if isinstance(code, str) and code.isdigit() and len(code) < 10:
            code = int(code)
        if not isinstance(code, int) or isinstance(code, bool):
            raise ProtocolError("error_code is not a number", endpoint=name)
        echoed = data.get("id")
        raise api_error(
            name,
            code,
            redact(str(data.get("error", ""))),
            None if echoed is None else redact(str(echoed)),
        )
    if endpoint.adapt is not None:
        data = endpoint.adapt(data)
    model = endpoint.model
    if isinstance(model, str):
        model = _resolve(model)
    try:
        result: T = get_converter().structure(data, model)
    except Exception as exc:  # cattrs raises many kinds (RecursionError too); none may escape
        raise ProtocolError(
            f"unexpected answer shape ({type(exc).__name__}: {redact(_short(str(exc)))})",
            endpoint=name,
            excerpt=_excerpt(content, redact),
        ) from None
    return result


def _short(text: str) -> str:
    return text if len(text) <= EXCERPT_LENGTH else text[:EXCERPT_LENGTH] + "…"


def _excerpt(content: bytes | str, redact: Callable[[str], str]) -> str:
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    return redact(text)[:EXCERPT_LENGTH]


def _raise_unreadable(endpoint: Endpoint[Any], text: str, redact: Callable[[str], str]) -> Any:
    match = _PLAIN_ERROR.match(text)
    if match:
        code, message, echoed = match.groups()
        if len(code) < 10:
            raise api_error(
                endpoint.name,
                int(code),
                redact(message),
                None if echoed is None else redact(echoed),
            )
    stripped = text.lstrip()
    if not stripped:
        reason = "empty body"
    elif stripped[:1] == "<":
        reason = "an HTML or XML page instead of JSON"
    elif stripped[:1] in "{[":
        reason = "truncated or malformed JSON"
    else:
        reason = "not JSON"
    raise ProtocolError(reason, endpoint=endpoint.name, excerpt=_excerpt(text, redact))


class Caller:
    """What endpoint groups need from the session: one pipeline to run a declared call through."""

    @property
    def limits(self) -> RateLimits:
        """The rate rules the session keeps."""
        raise NotImplementedError

    async def _call(self, endpoint: Endpoint[T], params: dict[str, str]) -> T:
        raise NotImplementedError
