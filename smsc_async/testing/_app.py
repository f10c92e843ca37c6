"""The emulated gateway as a raw ASGI 3 application."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from decimal import Decimal
from typing import Any

import anyio
import attrs
import httpx

from smsc_async.testing._endpoints import CONCURRENCY_TEXT, HANDLERS, Context, error_text
from smsc_async.testing._faults import Fault
from smsc_async.testing._limits import REFUSALS, GatewayLimits, charges, concurrency_group
from smsc_async.testing._rules import IPGuard, Windows
from smsc_async.testing._state import Account, Incoming, Message, Stats
from smsc_async.testing._wire import (
    GatewayError,
    Request,
    content_type,
    parse_request,
    plain_error,
    render_error,
)

Scope = MutableMapping[str, Any]
Message_ = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message_]]
Send = Callable[[Message_], Awaitable[None]]

#: The account every ``Emulator`` starts with, so newcomers can run against it at once.
DEMO_LOGIN, DEMO_PASSWORD, DEMO_API_KEY = "demo", "demo", "demo-key"
DEMO_BALANCE = Decimal("1000.00")
#: Texts containing any of these words are refused with send error 6 ("message is denied").
DEFAULT_FORBIDDEN_WORDS = ("casino", "казино")

_SEND_PATH = "/sys/send.php"
# Aged-out IP-block bookkeeping is dropped every this many requests (memory stays bounded).
_SWEEP_EVERY = 1024
_HTML_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_MALFORMED = {
    0: b"OK - 1 SM",
    1: b"12",
    2: b"<result>\n<id>1</id>\n<cn",
    3: b'{"id": 1, "cnt": 1, "co',
}


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised by the app to lose an answer: the connection ends before the answer's body.

    In-process (``httpx.ASGITransport``) it reaches the caller as the ``httpx.RemoteProtocolError``
    a dropped connection gives. Served over a socket (:func:`serve`), the app first sends the
    status line and headers and then raises; the server closes the connection, and the client
    sees the stream end before the body (``httpx.RemoteProtocolError`` as well).
    """

    def __init__(self) -> None:
        super().__init__("Server disconnected without sending a response.")


@attrs.define
class _Armed:
    """An injected fault and how many more requests it applies to (``None``: forever)."""

    fault: Fault
    remaining: int | None


class _Reply:
    __slots__ = ("body", "drop", "headers", "status")

    def __init__(
        self, body: bytes, *, status: int = 200, ctype: bytes = b"text/plain", drop: bool = False
    ) -> None:
        self.body = body
        self.status = status
        self.headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]
        #: Lose this answer: headers go out, then the connection ends before the body.
        self.drop = drop


class Emulator:
    """A faithful local stand-in for the SMSC HTTP gateway: an ASGI 3 application.

    Use it in-process with ``httpx.AsyncClient(transport=httpx.ASGITransport(app=emu))`` (asyncio or
    trio) or on a loopback port with :func:`serve`::

        emu = Emulator(scale=0.01)  # every rule window x 0.01: a minute in 0.6 s
        emu.add_account(login="alex", password="secret", balance=Decimal("250.80"))
        with serve(emu) as base_url:
            ...

    ``strict=True`` enforces every rule of :class:`GatewayLimits` the way the documentation
    states it: sliding windows "at most N in any span of W seconds" per login, counted by
    arrival time; only *admitted* requests are counted (a request refused with error 9 is not
    charged). It also enforces the concurrency caps (``concurrency + 1`` simultaneous requests
    of a login, or ``status_concurrency + 1`` to status.php, get error 9) and the IP blocks
    (error 4). ``strict=False`` enforces none of them.

    ``limits`` is a :class:`GatewayLimits` (default: the documented numbers), or any object with
    its field names -- such as a client ``RateLimits`` -- whose numbers are then used; which
    requests a rule counts and which requests are identical stay the emulator's own. ``scale``
    multiplies every window and block duration. ``emu.limits`` is ``limits`` as given.

    ``clock`` is a monotonic clock in seconds (default ``time.monotonic``); emulator time, used for
    dates and message statuses, advances with it from ``start_time`` (unix seconds; default: the
    wall time at construction). Messages
    are queued (status -1), handed to the operator (0) after ``delivery_delay / 2`` seconds and
    final after ``delivery_delay``. ``latency`` is added to every admitted request, so that
    requests overlap. ``max_lookup_batch`` caps the numbers of one info.php request.

    A demo account (login ``demo``, password ``demo``, API key ``demo-key``, 1000.00 RUR) exists
    unless ``demo=False``.
    """

    def __init__(
        self,
        *,
        limits: Any = None,
        scale: float = 1.0,
        strict: bool = True,
        clock: Callable[[], float] | None = None,
        start_time: float | None = None,
        delivery_delay: float = 1.0,
        latency: float = 0.0,
        max_lookup_batch: int = 100,
        forbidden_words: Iterable[str] = DEFAULT_FORBIDDEN_WORDS,
        max_messages: int = 100_000,
        demo: bool = True,
    ) -> None:
        if delivery_delay < 0 or latency < 0:
            raise ValueError("delivery_delay and latency must be >= 0")
        if max_lookup_batch < 1 or max_messages < 1:
            raise ValueError("max_lookup_batch and max_messages must be >= 1")
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale!r}")
        self.limits: Any = limits if limits is not None else GatewayLimits()
        table = GatewayLimits.from_numbers(self.limits)
        #: The rules enforced: the emulator's table with ``limits``' numbers, scaled.
        self.gateway_limits = table if scale == 1 else table.scaled(scale)
        self.strict = strict
        self.delivery_delay = delivery_delay
        self.latency = latency
        self.max_lookup_batch = max_lookup_batch
        self.max_messages = max_messages
        self.forbidden_words = tuple(w.lower() for w in forbidden_words)
        #: Counters for tests; see :class:`Stats`.
        self.stats = Stats()
        self._clock = clock or time.monotonic
        self._epoch = (time.time() if start_time is None else start_time) - self._clock()
        self._rules = self.gateway_limits.rules()
        self._windows = Windows()
        self._guard = IPGuard(
            auth=self.gateway_limits.auth_failures, sends=self.gateway_limits.failed_sends
        )
        self._accounts: dict[str, Account] = {}
        self._faults: list[_Armed] = []
        self._in_flight: dict[tuple[str, str | None], int] = {}
        self._next_id = 0
        self._next_incoming = 0
        self._arrivals = 0
        # The app may run in a serving thread while a test inspects or changes state.
        self._lock = threading.RLock()
        if demo:
            self.add_account(
                login=DEMO_LOGIN,
                password=DEMO_PASSWORD,
                api_key=DEMO_API_KEY,
                balance=DEMO_BALANCE,
            )

    # ----------------------------------------------------------------- state for tests and users

    def add_account(
        self,
        *,
        login: str,
        password: str,
        api_key: str | None = None,
        balance: Decimal = Decimal("0"),
        currency: str = "RUR",
        credit: Decimal | None = None,
    ) -> Account:
        """Create (or replace) the account ``login`` and return it."""
        if not login or not password:
            raise ValueError("login and password must be non-empty")
        with self._lock:
            account = Account(
                login=login,
                password=password,
                api_key=api_key,
                balance=Decimal(balance),
                currency=currency,
                credit=Decimal(credit) if credit is not None else None,
            )
            self._accounts[login] = account
            return account

    @property
    def accounts(self) -> dict[str, Account]:
        """Every account by login (a copy: add accounts with :meth:`add_account`)."""
        with self._lock:
            return dict(self._accounts)

    def account(self, login: str) -> Account:
        """The account ``login`` (``KeyError`` when there is none)."""
        return self._accounts[login]

    def inject(self, fault: Fault) -> None:
        """Apply ``fault`` to the next ``fault.times`` matching requests (in injection order)."""
        with self._lock:
            self._faults.append(_Armed(fault=fault, remaining=fault.times))

    def clear_faults(self) -> None:
        """Forget every injected fault not yet used up."""
        with self._lock:
            self._faults.clear()

    def add_incoming(
        self,
        login: str,
        *,
        phone: str,
        message: str,
        to_phone: str = "",
        sent: float | None = None,
    ) -> Incoming:
        """Record an SMS received from ``phone`` on the account's number ``to_phone``."""
        with self._lock:
            now = self.now()
            self._next_incoming += 1
            incoming = Incoming(
                id=self._next_incoming,
                phone=phone.lstrip("+"),
                message=message,
                to_phone=to_phone.lstrip("+"),
                sent=now if sent is None else sent,
                received=now,
            )
            self._accounts[login].incoming.append(incoming)
            return incoming

    def now(self) -> float:
        """Emulator time in unix seconds (it advances with ``clock``)."""
        return self._epoch + self._clock()

    def next_message_id(self) -> str:
        """A server-assigned message id."""
        self._next_id += 1
        return str(self._next_id)

    def store_message(self, account: Account, message: Message) -> None:
        """Remember ``message`` (latest per ``(id, phone)``), forgetting the oldest over the cap."""
        key = (message.id, message.phone)
        messages = account.messages
        messages.pop(key, None)
        messages[key] = message
        while len(messages) > self.max_messages:
            del messages[next(iter(messages))]

    # ------------------------------------------------------------------------------ the ASGI app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope (``http``; ``lifespan`` is acknowledged)."""
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            raise RuntimeError(f"unsupported ASGI scope type {scope['type']!r}")
        body = b""
        while True:
            event = await receive()
            if event["type"] == "http.disconnect":
                return
            body += event.get("body", b"")
            if not event.get("more_body", False):
                break
        headers = dict(scope.get("headers") or [])
        request = parse_request(
            scope.get("query_string", b""),
            body,
            headers.get(b"content-type", b"").decode("latin-1"),
        )
        path = scope["path"]
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        reply = await self._respond(path, request, ip)
        await send(
            {"type": "http.response.start", "status": reply.status, "headers": reply.headers}
        )
        if reply.drop:
            # ASGI has no way to close a connection before the status line; raising after it
            # makes any ASGI server close the connection with the body unsent.
            raise ConnectionDropped()
        await send({"type": "http.response.body", "body": reply.body})

    async def _respond(self, path: str, request: Request, ip: str) -> _Reply:
        with self._lock:
            self.stats.requests[path] += 1
            self._arrivals += 1
            if self._arrivals % _SWEEP_EVERY == 0:
                self._guard.sweep(self._clock())
            fault = self._take_fault(path)
            if fault is not None:
                self.stats.faults[fault.kind] += 1
        delay = 0.0
        if fault is not None:
            if fault.kind == "delay":
                delay = fault.seconds
            elif not fault.after or fault.kind in ("error", "plain_error"):
                return self._fault_reply(fault, path, request)
        reply = await self._handle(path, request, ip, delay)
        if fault is not None and fault.after and fault.kind != "delay":
            if fault.kind == "drop":
                reply.drop = True  # the request was handled; only its answer is lost
                return reply
            return self._fault_reply(fault, path, request)
        return reply

    def _take_fault(self, path: str) -> Fault | None:
        for armed in self._faults:
            if armed.fault.matches(path):
                if armed.remaining is not None:
                    armed.remaining -= 1
                    if armed.remaining <= 0:
                        self._faults.remove(armed)
                return armed.fault
        return None

    def _fault_reply(self, fault: Fault, path: str, request: Request) -> _Reply:
        kind = fault.kind
        if kind == "drop":
            # The body is never sent; its length only makes the headers announce one.
            return _Reply(
                _MALFORMED[request.fmt], ctype=content_type(request.fmt, request.charset), drop=True
            )
        if kind == "http_status":
            status = fault.status or 503
            return _Reply(
                f"{status} Service Unavailable".encode() if fault.body is None else fault.body,
                status=status,
            )
        if kind == "html":
            return _Reply(
                _HTML_PAGE if fault.body is None else fault.body,
                status=fault.status or 200,
                ctype=b"text/html",
            )
        if kind == "malformed":
            return _Reply(
                _MALFORMED[request.fmt] if fault.body is None else fault.body,
                ctype=content_type(request.fmt, request.charset),
            )
        text = fault.text or error_text(path, fault.error_code)
        with self._lock:
            self.stats.error(path, fault.error_code)
        if kind == "plain_error":
            return self._encode(request, plain_error(fault.error_code, text), fmt=0)
        return self._encode(request, render_error(request.fmt, fault.error_code, text))

    def _encode(self, request: Request, text: str, *, fmt: int | None = None) -> _Reply:
        return _Reply(
            text.encode(request.codec, "replace"),
            ctype=content_type(request.fmt if fmt is None else fmt, request.charset),
        )

    def _error(self, path: str, request: Request, code: int, text: str | None = None) -> _Reply:
        self.stats.error(path, code)
        return self._encode(
            request, render_error(request.fmt, code, text or error_text(path, code))
        )

    def _authorize(self, params: Any) -> Account | None:
        login = params.get("login", "")
        psw = params.get("psw", "")
        key = params.get("apikey", "")
        if not key and not login and psw:
            key = psw  # an empty login means the API key is passed in ``psw``
        if key:
            # A scan, not an index: tests may change ``account.api_key`` in place.
            return next((a for a in self._accounts.values() if a.api_key == key), None)
        account = self._accounts.get(login)
        if account is None or not psw:
            return None
        # The official libraries may send the lower-case MD5 of the password instead.
        digest = hashlib.md5(account.password.encode()).hexdigest()
        if psw in (account.password, digest):
            return account
        return None

    async def _handle(self, path: str, request: Request, ip: str, delay: float) -> _Reply:
        handler = HANDLERS.get(path)
        if handler is None:
            return _Reply(
                b"<html><body><h1>404 Not Found</h1></body></html>", status=404, ctype=b"text/html"
            )
        params = request.params
        mono = self._clock()
        slots: list[tuple[str, str | None]] = []
        with self._lock:
            admitted = self._admit(path, request, ip, mono, slots)
        if isinstance(admitted, _Reply):
            if delay:
                await anyio.sleep(delay)
            return admitted
        account = admitted
        try:
            if self.latency or delay:
                await anyio.sleep(self.latency + delay)
            with self._lock:
                ctx = Context(
                    emulator=self,
                    account=account,
                    params=params,
                    fmt=request.fmt,
                    now=self.now(),
                    path=path,
                )
                try:
                    text = handler(ctx)
                except GatewayError as exc:
                    self._after_send(path, ip, ok=False)
                    self.stats.error(path, exc.code)
                    return self._encode(
                        request, render_error(request.fmt, exc.code, exc.text, exc.id)
                    )
                self._after_send(path, ip, ok=True)
                return self._encode(request, text)
        finally:
            with self._lock:
                for slot in slots:
                    self._in_flight[slot] -= 1
                    if not self._in_flight[slot]:
                        del self._in_flight[slot]

    def _after_send(self, path: str, ip: str, *, ok: bool) -> None:
        if path != _SEND_PATH or not self.strict:
            return
        if ok:
            self._guard.send_succeeded(ip)
        else:
            self._guard.send_failed(ip, self._clock())

    def _admit(
        self, path: str, request: Request, ip: str, now: float, slots: list[tuple[str, str | None]]
    ) -> _Reply | Account:
        """The refusal for a request arriving at ``now``, or its account with its slots taken."""
        strict = self.strict
        if strict and self._guard.blocked(ip, now):
            return self._error(path, request, 4)
        account = self._authorize(request.params)
        if account is None:
            if strict:
                self._guard.auth_failed(ip, now)
                self._after_send(path, ip, ok=False)
            return self._error(path, request, 2)
        login = account.login
        group = concurrency_group(path)
        if strict:
            total = self._in_flight.get((login, None), 0)
            if total + 1 > self.gateway_limits.concurrency:
                self._after_send(path, ip, ok=False)
                return self._error(path, request, 9, CONCURRENCY_TEXT)
            if group is not None:
                in_group = self._in_flight.get((login, group), 0)
                if in_group + 1 > self.gateway_limits.status_concurrency:
                    self._after_send(path, ip, ok=False)
                    return self._error(path, request, 9, CONCURRENCY_TEXT)
            counted = [
                (rule, key, self._rules[rule]) for rule, key in charges(path, request.params)
            ]
            refused = self._windows.admit(login, counted, now) if counted else None
            if refused is not None:
                self._after_send(path, ip, ok=False)
                return self._error(path, request, 9, REFUSALS.get(refused))
        slots.append((login, None))
        if group is not None:
            slots.append((login, group))
        for slot in slots:
            count = self._in_flight[slot] = self._in_flight.get(slot, 0) + 1
            stat = self.stats.max_in_flight if slot[1] is None else self.stats.max_status_in_flight
            stat[login] = max(stat[login], count)
        return account

    def rule_logs(self) -> int:
        """How many rate-rule logs are live (memory stays bounded as keys age out)."""
        with self._lock:
            self._windows.sweep(self._clock())
            return len(self._windows)
