"""Endpoints as declarations, and the pure decoder every answer goes through."""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

import attrs

from .._clock import Clock
from .._constants import EXCERPT_LENGTH
from .._converter import get_converter
from .._errors import SHARED_ERRORS, APIError, ProtocolError
from .._limits import Charge, Charger, RateLimits, uncharged

__all__ = [
    "Calls",
    "Dispatch",
    "Endpoint",
    "Kind",
    "Namespace",
    "as_list",
    "decode",
    "id_of",
    "ok",
]

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


def _with_shared_codes(codes: Mapping[int, type[APIError]]) -> Mapping[int, type[APIError]]:
    return {**SHARED_ERRORS, **codes}


@attrs.frozen(eq=False)
class Endpoint(Generic[T]):
    """One gateway call, declared once: everything the pipeline needs to know about it.

    * ``name`` -- what errors report as ``.endpoint``: the script (``"send"``, ``"senders"``), or
      get.php's command (``"get_messages"``);
    * ``path`` and ``selector`` -- the script and the fixed parameters that pick the command
      (``(("get", "1"),)``); the session adds the selector to every request;
    * ``model`` -- a function returning the answer's type (``lambda: models.Balance``), called when
      an answer is decoded so that importing the package builds no model; mypy reads ``T`` from
      it;
    * ``errors`` -- the codes this endpoint gives a meaning of its own (code 3 is "insufficient
      funds" on send but "not found" elsewhere); codes 1, 2, 4 and 9 mean the same everywhere;
    * ``rules`` -- which rate rules a request counts against, from its parameters (a
      :data:`~smsc_async._limits.Charger` such as ``identical("price_identical")``);
    * ``concurrency`` -- a narrower concurrency cap it also falls under (``"status"``);
    * ``kind`` -- whether it delivers (:attr:`Kind.SEND`), reads or changes account state;
    * ``adapt`` -- reshapes the decoded JSON before structuring (one object where a list is
      expected, ``{"id": N}`` where the id is the answer).

    Declarations compare by identity; all but the first four fields are keyword-only.
    """

    name: str
    path: str
    model: Callable[[], type[T]]
    selector: tuple[tuple[str, str], ...] = ()
    errors: Mapping[int, type[APIError]] = attrs.field(
        default=SHARED_ERRORS, converter=_with_shared_codes, kw_only=True
    )
    rules: Charger = attrs.field(default=uncharged, kw_only=True)
    concurrency: str | None = attrs.field(default=None, kw_only=True)
    kind: Kind = attrs.field(default=Kind.READ, kw_only=True)
    adapt: Callable[[Any], Any] | None = attrs.field(default=None, kw_only=True)

    def charges(self, params: Mapping[str, str]) -> tuple[Charge, ...]:
        """The rate-rule logs a request with ``params`` (selector included) counts against."""
        return self.rules(self.path, params)

    def error(self, code: int, message: str, id: str | None = None) -> APIError:
        """The exception for error ``code`` as this endpoint means it."""
        return self.errors.get(code, APIError)(code, message, endpoint=self.name, id=id)


class Dispatch(Protocol):
    """The session's pipeline: run one declared call with its parameters, return its answer."""

    async def __call__(self, endpoint: Endpoint[T], params: dict[str, str]) -> T: ...


#: What a caller hands the pipeline to be awaited between an answer's arrival and its decoding
#: (a bulk run's share of the event loop's turns).
Pace = Callable[[], Awaitable[None]]


class PacedDispatch(Protocol):
    """One attempt of a read, awaiting ``pace()`` (when given) before decoding its answer."""

    async def __call__(
        self, endpoint: Endpoint[T], params: dict[str, str], pace: Pace | None = None
    ) -> T: ...


class Calls:
    """Base of the calls a :class:`~smsc_async.Session` offers itself.

    Declares what those calls use of the session; ``Session.__init__`` provides it.
    """

    _call: Dispatch
    _call_once: PacedDispatch
    _limits: RateLimits
    _clock: Clock


class Namespace:
    """A group of management calls (``smsc.senders``, ``smsc.jobs`` …) on the session's pipeline."""

    __slots__ = ("_call",)

    def __init__(self, call: Dispatch) -> None:
        self._call = call

    def __repr__(self) -> str:
        return f"<smsc_async {type(self).__name__}>"


def ok(data: Any) -> Any:
    """``{"result": "OK"}`` → ``"OK"``; anything else is left for structuring to reject."""
    return data.get("result") if isinstance(data, dict) else data


def as_list(data: Any) -> Any:
    """One object where a list of them is expected → a list of one."""
    return [data] if isinstance(data, dict) else data


def id_of(data: Any) -> Any:
    """``{"id": N}`` → ``N`` (an ``add`` command's answer)."""
    return data.get("id") if isinstance(data, dict) else data


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
        if isinstance(code, str) and code.isascii() and code.isdigit() and len(code) < 10:
            code = int(code)
        if not isinstance(code, int) or isinstance(code, bool):
            raise ProtocolError("error_code is not a number", endpoint=name)
        echoed = data.get("id")
        raise endpoint.error(
            code,
            redact(str(data.get("error", ""))),
            None if echoed is None else redact(str(echoed)),
        )
    if endpoint.adapt is not None:
        data = endpoint.adapt(data)
    try:
        result: T = get_converter().structure(data, endpoint.model())
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
            raise endpoint.error(
                int(code), redact(message), None if echoed is None else redact(echoed)
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
