"""Injected faults: the ways a gateway (or the network in front of it) misbehaves."""

from __future__ import annotations

from typing import Any, Literal

import attrs

FaultKind = Literal["delay", "drop", "http_status", "malformed", "html", "error", "plain_error"]
_KINDS = ("delay", "drop", "http_status", "malformed", "html", "error", "plain_error")


def _times(inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and value < 1:
        raise ValueError(f"times must be >= 1 or None (forever), got {value!r}")


def _seconds(inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value < 0:
        raise ValueError(f"seconds must be >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class Fault:
    """One misbehaviour the emulator applies to the next ``times`` matching requests.

    ``kind`` is one of:

    * ``"delay"`` -- answer normally, ``seconds`` later (the request counts as in flight meanwhile);
    * ``"drop"`` -- lose the answer: the connection ends before its body. In-process the ASGI
      transport raises ``httpx.RemoteProtocolError``; served (:func:`serve`) the status line and
      headers go out, then the server closes the connection, and httpx raises
      ``httpx.RemoteProtocolError`` too (ASGI offers no way to close before the status line);
    * ``"http_status"`` -- an HTTP error (``status``, default 503) with a short text body;
    * ``"malformed"`` -- HTTP 200 with a truncated answer in the requested format;
    * ``"html"`` -- an HTML error page (``status``, default 200, as a misconfigured proxy sends);
    * ``"error"`` -- the gateway error ``error_code`` (with ``text``) in the requested format;
    * ``"plain_error"`` -- the plain ``ERROR = N (text)`` line even when ``fmt=3`` was asked for.

    ``path`` limits the fault to one endpoint (``None``: any); ``times=None`` applies it forever.
    By default a fault replaces the request's handling (nothing is charged or changed); with
    ``after=True`` the request is handled first -- a send is made, money is debited -- and only its
    answer is replaced (``drop``, ``http_status``, ``malformed``, ``html``): the lost-answer case.
    A send dropped that way is stored, so status.php finds it by its ``id`` and phone::

        emu.inject(Fault(kind="drop", path="/sys/send.php", after=True))
    ``body`` overrides the body of ``http_status``, ``malformed`` and ``html``.

    Example::

        emu.inject(Fault(path="/sys/send.php", kind="error", error_code=8, times=1))
    """

    kind: FaultKind = attrs.field(validator=attrs.validators.in_(_KINDS))
    path: str | None = None
    times: int | None = attrs.field(default=1, validator=_times)
    seconds: float = attrs.field(default=0.0, validator=_seconds)
    status: int | None = None
    error_code: int = 1
    text: str | None = None
    body: bytes | None = None
    after: bool = False

    def matches(self, path: str) -> bool:
        """Whether the fault applies to a request for ``path``."""
        return self.path is None or self.path == path
