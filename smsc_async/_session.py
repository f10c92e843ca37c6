"""The Session: one httpx pool, one limiter, one pipeline for every endpoint."""

from __future__ import annotations

import copy
import functools
import itertools
import logging
import math
import os
from collections import deque
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Generic, TypeVar

import anyio
import httpx

from ._backend import LimiterBackend
from ._body import ACCEPT_ENCODING, BadEncoding, BodyTooLarge, read_body
from ._clock import Clock, SystemClock
from ._constants import (
    DEFAULT_BASE_URL,
    DEFAULT_IP_BLOCK_COOLDOWN,
    DEFAULT_MAX_RESPONSE_SIZE,
    DEFAULT_TIMEOUT,
    USER_AGENT,
)
from ._endpoints import (
    Blacklist,
    ChannelCalls,
    Contacts,
    DataCalls,
    Documents,
    Groups,
    InboundNumbers,
    InfoCalls,
    Jobs,
    MessageCalls,
    Notifications,
    OperatorTemplates,
    Senders,
    Templates,
    Users,
)
from ._endpoints._base import Endpoint, Kind, Namespace, Pace, decode
from ._errors import (
    APIError,
    AuthorizationError,
    CircuitOpenError,
    ConnectError,
    IPBlockedError,
    LockedOutError,
    ProtocolError,
    RefusedError,
    RequestTimeout,
    SendUnconfirmedError,
    SMSCError,
    TooManyRequestsError,
    TransportError,
)
from ._events import EventHook, RequestDone
from ._http import Client, HttpBackend, make_client
from ._limiter import Lease, Limiter
from ._limits import RateLimits
from ._reconcile import ReconciledSend, new_message_id, recipients_of
from ._reconcile import reconcile as _reconcile
from ._redact import Credentials, Form, Redactor, detach
from ._retry import RetryPolicy

__all__ = ["Session"]

T = TypeVar("T")
V = TypeVar("V")

logger = logging.getLogger("smsc_async")

_DEFAULT_RETRY = RetryPolicy()
_UNSET: Any = object()


def _check_max_wait(max_wait: float | None) -> float | None:
    if max_wait is None:
        return None
    if isinstance(max_wait, bool) or not isinstance(max_wait, (int, float)):
        raise TypeError(f"max_wait must be a number or None, not {type(max_wait).__name__}")
    if not max_wait >= 0:
        raise ValueError(f"max_wait must be >= 0 or None, got {max_wait!r}")
    return float(max_wait)


class _Shared(Generic[V]):
    """A session attribute kept in one place for the session and its ``with_options`` copies."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, obj: Any, objtype: Any = None) -> V:
        return obj._shared[self._name]  # type: ignore[no-any-return]

    def __set__(self, obj: Any, value: V) -> None:
        # copy.copy() copies the reference to this dict: the copies share one state.
        obj.__dict__.setdefault("_shared", {})[self._name] = value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    import ipaddress  # only plain-http URLs get here

    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_base_url(base_url: str) -> str:
    if not isinstance(base_url, str):
        raise TypeError(f"base_url must be a str, not {type(base_url).__name__}")
    url = httpx.URL(base_url)
    if url.scheme not in ("https", "http") or not url.host:
        raise ValueError(f"base_url must be an https:// URL of the gateway, got {base_url!r}")
    if url.userinfo or url.query:
        raise ValueError("base_url must not carry credentials or a query; pass them to Session")
    if url.scheme == "http" and not _is_loopback(url.host):
        raise ValueError(
            f"base_url {base_url!r}: plain http is allowed only for loopback hosts (the emulator); "
            "use https"
        )
    return base_url.rstrip("/")


def _limits_namespace(credentials: Credentials) -> tuple[str, bytes]:
    """Where a shared limiter backend files this login's logs, and the key it hashes them with.

    Both come from the login's secret (its password or API key), never in clear: the namespace
    is a keyed hash of the login, so a guessed login cannot be matched against Redis offline,
    and the key turns the numbers and texts in log keys into MACs. Every process of one login
    derives the same pair; a new password moves the login to a new namespace.
    """
    import hashlib  # only shared backends need it; kept off the import path

    identity = credentials.identity()
    key = _derive_key(identity, credentials.secrets()[0])
    namespace = hashlib.blake2b(
        identity.encode(), key=key, digest_size=12, person=b"smsc_async.lim"
    ).hexdigest()
    return namespace, key


@functools.lru_cache(maxsize=32)
def _derive_key(identity: str, secret: str) -> bytes:
    # A slow KDF: a weak password cannot be recovered from the namespace by guessing quickly.
    import hashlib

    salt = b"smsc_async.limits\0" + identity.encode()
    return hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, 20_000)


def _check_timeout(timeout: object) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    if not 0 < timeout < math.inf:
        raise ValueError(f"timeout must be a positive finite number of seconds, got {timeout!r}")
    return float(timeout)


def _client_timeout(client: httpx.AsyncClient) -> float:
    """The whole-attempt bound for an injected client: the longest of its own phase timeouts."""
    t = client.timeout
    phases = [p for p in (t.connect, t.read, t.write, t.pool) if p is not None and p > 0]
    return max(phases) if phases else DEFAULT_TIMEOUT


#: Fields of every request: answers in JSON, texts in UTF-8.
_FORMAT = (("fmt", "3"), ("charset", "utf-8"))
#: Headers of every request; only encodings the body reader can bound after decompression.
_HEADERS = {
    "Accept-Encoding": ACCEPT_ENCODING,
    "Content-Type": "application/x-www-form-urlencoded",
}
#: httpcore trace events that mean the request's bytes started to leave.
_WRITE_EVENTS = frozenset(
    {"http11.send_request_headers.started", "http2.send_request_headers.started"}
)


class _Progress:
    """How far one request got, from httpx's ``trace`` extension.

    A transport that does not report (an ASGI or mock transport) leaves ``traced`` false: then
    the request is taken to have possibly left.
    """

    __slots__ = ("traced", "written")

    def __init__(self) -> None:
        self.traced = False
        self.written = False

    async def __call__(self, event: str, info: Mapping[str, Any]) -> None:
        self.traced = True
        if event in _WRITE_EVENTS:
            self.written = True

    @property
    def may_have_left(self) -> bool:
        return self.written or not self.traced


class Session(MessageCalls, ChannelCalls, InfoCalls, DataCalls):
    """An async session with the SMSC gateway: one connection pool and one rate limiter.

    The everyday calls are the session's own methods (``send``, ``cost``, ``status``,
    ``balance``, ``operator_info``, ``history``, ``incoming``, the channel sends …); the
    management areas are namespaces sharing its pipeline: ``smsc.senders``, ``smsc.templates``,
    ``smsc.jobs``, ``smsc.contacts``, ``smsc.groups``, ``smsc.blacklist``, ``smsc.users``,
    ``smsc.documents``, ``smsc.operator_templates``, ``smsc.inbound_numbers`` and
    ``smsc.notifications``.

    Authenticate with ``login`` and ``password`` or with ``api_key``. Credentials travel only in
    POST bodies, never in URLs, logs, reprs or error messages. ``base_url`` selects the regional
    host (``https://smsc.ru``, ``https://smscentre.com``, ``https://smsc.kz``,
    ``https://smsc.ua`` …); plain ``http://`` is accepted for loopback hosts only.

    Every request passes the same pipeline: arguments are checked, the limiter admits it inside
    every documented rate rule (``limits``; shared across processes with a Redis ``backend``),
    it is POSTed with ``fmt=3`` and ``charset=utf-8``, and the answer is decoded into a model or
    a typed :class:`~smsc_async.SMSCError`. Error 9 alone is retried (``retry``); an
    authorization failure stops the session before the gateway blocks the IP, and error 4 opens a
    circuit that fails fast for ``ip_block_cooldown`` seconds.

    ``timeout`` (seconds, default 30) bounds each attempt as a whole once the limiter admits it:
    pooled connection, connect, write, the wait for the answer and reading it. An answer larger
    than ``max_response_size`` bytes once decompressed (default 4 MiB) is a
    :class:`~smsc_async.ProtocolError`, read no further. A send whose answer was lost raises
    :class:`~smsc_async.SendUnconfirmedError`; :meth:`reconcile` tells whether it went out.

    >>> async with Session(login="alex", password="…") as smsc:  # doctest: +SKIP
    ...     balance = await smsc.balance()

    ``http_backend="aiohttp"`` (asyncio only; ``pip install 'smsc-async[aiohttp]'``) sends
    through aiohttp instead of httpx's own transport, for a fraction of the CPU per request; the
    timeouts, limits, answers and exception types stay the same. ``transport`` (an
    ``httpx.AsyncBaseTransport``) or ``http_client`` (an ``httpx.AsyncClient``) may be injected
    instead; the session closes only a client it created. With ``http_client`` the client's own
    timeouts apply (its longest phase bounds each attempt) and ``timeout`` must not be passed.
    :meth:`from_env` builds a session from ``SMSC_*`` environment variables.
    """

    def __init__(
        self,
        login: str | None = None,
        password: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        limits: RateLimits | None = None,
        backend: LimiterBackend | None = None,
        retry: RetryPolicy | None = _DEFAULT_RETRY,
        timeout: float | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        ip_block_cooldown: float = DEFAULT_IP_BLOCK_COOLDOWN,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
        on_event: EventHook | None = None,
        max_wait: float | None = None,
        http_backend: HttpBackend | None = None,
    ) -> None:
        # The secret lives only in here (its repr is masked) and in each request's Form.
        self._credentials = Credentials(login, password, api_key)
        self._redact = Redactor(self._credentials.secrets())
        self._auth_kind = self._credentials.kind
        self._base_url = _check_base_url(base_url)
        if limits is not None and not isinstance(limits, RateLimits):
            raise TypeError(f"limits must be a RateLimits, not {type(limits).__name__}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy or None, not {type(retry).__name__}")
        if http_client is not None and transport is not None:
            raise ValueError("pass transport or http_client, not both")
        if http_client is not None and timeout is not None:
            raise ValueError(
                "timeout applies to the client the session creates; with http_client, set the "
                "client's own timeout (the session bounds each attempt by its longest phase)"
            )
        if isinstance(max_response_size, bool) or not isinstance(max_response_size, int):
            raise TypeError(
                f"max_response_size must be an int, not {type(max_response_size).__name__}"
            )
        if max_response_size < 1024:
            raise ValueError(f"max_response_size must be >= 1024 bytes, got {max_response_size}")
        self._max_response_size = max_response_size
        if http_client is None:
            timeout = DEFAULT_TIMEOUT if timeout is None else _check_timeout(timeout)
            self._timeout = timeout
        else:
            self._timeout = _client_timeout(http_client)
        if clock is not None and not isinstance(clock, Clock):
            raise TypeError(f"clock must be a Clock, not {type(clock).__name__}")
        if on_event is not None and not callable(on_event):
            raise TypeError(f"on_event must be callable, not {type(on_event).__name__}")
        # The one clock everything that waits or measures time reads (virtual in tests).
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._on_event = on_event
        self._limits = limits if limits is not None else RateLimits()
        bind = getattr(backend, "bind", None)
        if bind is not None:
            # A shared backend (Redis) keeps each login's logs apart: tell it whose these are.
            namespace, key = _limits_namespace(self._credentials)
            import inspect  # only shared backends get here

            if "key" in inspect.signature(bind).parameters:
                # It hashes the numbers and texts in its keys with the login's secret (Redis).
                backend = bind(namespace, key=key)
            else:
                backend = bind(namespace)
        self._limiter = Limiter(
            self._limits,
            backend=backend,
            clock=self._clock,
            on_event=on_event,
            # How long an admitted request can be in flight: how long the places of one that was
            # cancelled or timed out stay taken (the gateway may still be at work on it). The
            # same bound as _attempt_deadline.
            request_timeout=self._timeout,
        )
        self._max_wait = _check_max_wait(max_wait)
        self._retry = retry
        self._cooldown = float(ip_block_cooldown)
        self._client: Client
        if http_client is None:
            self._client = make_client(
                http_backend,
                transport=transport,
                timeout=self._timeout,
                concurrency=self._limits.concurrency,
                headers={"User-Agent": USER_AGENT},
            )
            self._owns_client = True
        else:
            if http_backend is not None:
                raise ValueError("pass http_client or http_backend, not both")
            self._client = http_client
            self._owns_client = False
        self._closed = False
        # Lockout state: see _refuse_if_locked.
        self._auth_failed = False
        self._blocked_until = float("-inf")
        self._failed_sends = deque()
        # Sends on the wire now: each may yet fail, so they count toward the failed-sends guard.
        self._sends_in_flight = 0
        # True while any of the above may refuse a request: the hot path tests only this.
        self._guarded = False

    # Lockout and closing state: one for the session and every with_options() copy of it.
    _closed: _Shared[bool] = _Shared()
    _auth_failed: _Shared[bool] = _Shared()
    _blocked_until: _Shared[float] = _Shared()
    _failed_sends: _Shared[deque[float]] = _Shared()
    _sends_in_flight: _Shared[int] = _Shared()
    _guarded: _Shared[bool] = _Shared()

    def __repr__(self) -> str:
        return f"<smsc_async.Session base_url={self._base_url!r} auth={self._auth_kind}>"

    def with_options(
        self, *, max_wait: float | None = _UNSET, retry: RetryPolicy | None = _UNSET
    ) -> Session:
        """A copy of this session with other options, sharing its pool, limiter and state.

        ``max_wait`` (seconds, or ``None`` for no bound) makes a request that the limiter would
        hold longer raise :class:`~smsc_async.RateLimitedError` at once; ``retry`` replaces the
        retry policy. The copy shares the connection pool, the limiter, the clock and the
        lockout state, so closing either closes both. Cheap enough to call per request::

            try:
                balance = await smsc.with_options(max_wait=0).balance()
            except RateLimitedError as exc:
                ...  # answer 429 with Retry-After: exc.retry_after
        """
        clone = copy.copy(self)
        for name, value in list(vars(clone).items()):
            if isinstance(value, Namespace):
                del vars(clone)[name]  # built again on first use, on the copy's pipeline
        if max_wait is not _UNSET:
            clone._max_wait = _check_max_wait(max_wait)
        if retry is not _UNSET:
            if retry is not None and not isinstance(retry, RetryPolicy):
                raise TypeError(f"retry must be a RetryPolicy or None, not {type(retry).__name__}")
            clone._retry = retry
        return clone

    @property
    def timeout(self) -> float:
        """Seconds each attempt may take once admitted by the limiter (the whole request)."""
        return self._timeout

    @property
    def limits(self) -> RateLimits:
        """The rate rules this session keeps."""
        return self._limits

    # -- management namespaces: each shares this session's pipeline ------------------------------

    @functools.cached_property
    def senders(self) -> Senders:
        """Sender names: ``list``, ``add``, ``change``, ``send_code``, ``confirm``, ``delete``."""
        return Senders(self._call)

    @functools.cached_property
    def templates(self) -> Templates:
        """Message templates: ``list``, ``add``, ``change``, ``delete``."""
        return Templates(self._call)

    @functools.cached_property
    def jobs(self) -> Jobs:
        """Mailing lists: ``list``, ``get``, ``add``, ``cancel``, ``delete``."""
        return Jobs(self._call)

    @functools.cached_property
    def contacts(self) -> Contacts:
        """The phone book's contacts: ``list``, ``add``, ``change``, ``move``, ``delete``."""
        return Contacts(self._call)

    @functools.cached_property
    def groups(self) -> Groups:
        """Contact groups: ``list``, ``add``, ``change``, ``delete``."""
        return Groups(self._call)

    @functools.cached_property
    def blacklist(self) -> Blacklist:
        """The blacklist: ``add``, ``remove``."""
        return Blacklist(self._call)

    @functools.cached_property
    def users(self) -> Users:
        """Sub-clients: ``add``, ``change``, ``pay``, ``stat``, ``stats``."""
        return Users(self._call)

    @functools.cached_property
    def documents(self) -> Documents:
        """Sub-clients' invoices and acts: ``add_invoice``, ``invoices``, ``acts``."""
        return Documents(self._call)

    @functools.cached_property
    def operator_templates(self) -> OperatorTemplates:
        """Templates registered with the operators: ``list``, ``add``."""
        return OperatorTemplates(self._call)

    @functools.cached_property
    def inbound_numbers(self) -> InboundNumbers:
        """Dedicated inbound numbers: ``list``, ``buy``, ``set_renewal``."""
        return InboundNumbers(self._call)

    @functools.cached_property
    def notifications(self) -> Notifications:
        """Event notification groups: ``send``."""
        return Notifications(self._call)

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool if the session created it. Idempotent."""
        if self._closed:
            return
        self._closed = self._guarded = True
        if self._owns_client:
            await self._client.aclose()

    @classmethod
    def from_env(cls, *, environ: Mapping[str, str] | None = None, **kwargs: Any) -> Session:
        """A session configured from the environment, as twelve-factor apps configure services.

        Reads ``SMSC_LOGIN`` and ``SMSC_PASSWORD``, or ``SMSC_API_KEY``, and ``SMSC_BASE_URL``
        (default ``https://smsc.ru``); an empty variable counts as unset. Keyword arguments
        override them and pass every other option (``limits=``, ``timeout=`` …); credentials
        given as keywords replace the environment's altogether. ``environ`` defaults to
        ``os.environ``::

            smsc = Session.from_env(timeout=10)
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            return env.get(name) or None

        if not {"login", "password", "api_key"} & kwargs.keys():
            login, password, api_key = get("SMSC_LOGIN"), get("SMSC_PASSWORD"), get("SMSC_API_KEY")
            if api_key is not None and login is None and password is None:
                kwargs["api_key"] = api_key
            elif login is not None or password is not None:
                if login is None or password is None:
                    raise ValueError("set both SMSC_LOGIN and SMSC_PASSWORD, or SMSC_API_KEY")
                if api_key is not None:
                    raise ValueError("set SMSC_LOGIN and SMSC_PASSWORD or SMSC_API_KEY, not both")
                kwargs["login"], kwargs["password"] = login, password
            else:
                raise ValueError("set SMSC_LOGIN and SMSC_PASSWORD, or SMSC_API_KEY")
        base_url = get("SMSC_BASE_URL")
        if base_url is not None:
            kwargs.setdefault("base_url", base_url)
        return cls(**kwargs)

    async def reconcile(self, error: SendUnconfirmedError) -> ReconciledSend | None:
        """What the gateway accepted of a send whose answer was lost, or ``None`` if nothing.

        Asks status.php for the message by its ``id`` and each recipient. A message it holds is
        returned at once (:class:`~smsc_async.ReconciledSend`: ``.id`` and each recipient's
        status). ``None`` -- the gateway certainly has no such message, so sending it again
        cannot deliver it twice -- is answered only after the lost attempt's deadline (plus a
        short grace): until then the request may still be on its way. The recipe::

            try:
                sent = await smsc.send(phone, text)
            except SendUnconfirmedError as err:
                if await smsc.reconcile(err) is None:
                    sent = await smsc.send(phone, text)  # certainly not delivered: resend
        """
        return await _reconcile(self, error, clock=self._clock, timeout=self._timeout)

    # -- the pipeline ----------------------------------------------------------------------------

    async def _call(self, endpoint: Endpoint[T], params: dict[str, str]) -> T:
        if endpoint.selector:
            params = {**dict(endpoint.selector), **params}
        # The limiter keys identical requests on what the caller asked for: an id the session
        # makes up must not turn a double click into two different sends.
        key = params
        if endpoint.kind is Kind.SEND and "id" not in params:
            # Every send carries an id, so that a lost answer can be reconciled by it.
            params = {**params, "id": new_message_id()}
        try:
            return await self._attempt(endpoint, params, key, 1)
        except SMSCError as exc:
            retry = self._retry
            if retry is None or retry.attempts <= 1 or not retry.retries(exc, endpoint.kind):
                raise
            counter = itertools.count(2)
            return await retry.run(
                lambda: self._attempt(endpoint, params, key, next(counter)),
                clock=self._clock,
                kind=endpoint.kind,
                failed=exc,
                name=endpoint.name,
            )

    async def _call_once(
        self,
        endpoint: Endpoint[T],
        params: dict[str, str],
        pace: Pace | None = None,
    ) -> T:
        """One attempt of a read, without the session's retries.

        For callers that retry by the same policy themselves (bulk look-ups): retries never nest.
        ``pace`` is awaited between the answer's arrival and its decoding (a bulk run shares out
        its decoding among the turns of the event loop).
        """
        if endpoint.kind is Kind.SEND:
            raise RuntimeError("sends go through _call: they need an id and the send guard")
        if endpoint.selector:
            params = {**dict(endpoint.selector), **params}
        return await self._attempt(endpoint, params, params, 1, pace)

    def _attempt_deadline(self, admitted: float) -> float:
        """When an attempt admitted at ``admitted`` (session clock) gives up on its answer.

        After it the gateway can no longer be answering this attempt: the limiter may free the
        attempt's places, and ``reconcile`` may trust "not found".
        """
        return admitted + self._timeout

    async def _attempt(
        self,
        endpoint: Endpoint[T],
        params: dict[str, str],
        key: dict[str, str],
        attempt: int,
        pace: Pace | None = None,
    ) -> T:
        clock = self._clock
        started = clock.now()
        admitted: float | None = None
        outcome = "ok"
        try:
            self._refuse_if_locked(endpoint)
            async with self._limiter.slot(
                endpoint.path, key, max_wait=self._max_wait, name=endpoint.name
            ) as lease:
                admitted = clock.now()
                sending = endpoint.kind is Kind.SEND
                if sending:
                    if self._guarded:
                        # Failures may have piled up while this send waited for its slot.
                        try:
                            self._refuse(endpoint)
                        except RefusedError:
                            lease.unsent()
                            raise
                    self._sends_in_flight += 1
                try:
                    result = await self._exchange(
                        endpoint, params, lease, self._attempt_deadline(admitted), pace
                    )
                finally:
                    if sending:
                        self._sends_in_flight -= 1
            if sending and self._failed_sends:
                self._failed_sends.clear()
            return result
        except BaseException as exc:
            outcome = (
                "cancelled"
                if isinstance(exc, anyio.get_cancelled_exc_class())
                else type(exc).__name__
            )
            raise
        finally:
            self._report(endpoint, attempt, started, admitted, outcome)

    async def _exchange(
        self,
        endpoint: Endpoint[T],
        params: dict[str, str],
        lease: Lease,
        deadline: float,
        pace: Pace | None = None,
    ) -> T:
        """POST one request and decode its answer, all by ``deadline`` (session clock).

        ``pace``, when given, is awaited once the answer is in, before it is decoded.
        """
        name = endpoint.name
        progress = _Progress()
        # Only a send needs to know whether its bytes left (lost answer or never sent); tracing
        # costs a dozen callbacks per request, so reads go without and count as maybe sent.
        request = self._client.build_request(
            "POST",
            self._base_url + endpoint.path,
            content=Form(params, self._credentials, _FORMAT).encoded(),
            headers=_HEADERS,
            extensions={"trace": progress} if endpoint.kind is Kind.SEND else None,
        )
        failure: TransportError | ProtocolError | None = None
        content = b""
        status = 0
        # The bound runs on the event loop's timer; its length is measured on the session clock.
        with anyio.CancelScope(
            deadline=anyio.current_time() + (deadline - self._clock.now())
        ) as scope:
            try:
                response = await self._client.send(request, stream=True)
                try:
                    status = response.status_code
                    content = await read_body(response, self._max_response_size)
                finally:
                    await response.aclose()
            except httpx.HTTPError as exc:
                failure = self._transport_error(name, exc)
                failure.__cause__ = detach(exc)
            except BodyTooLarge as exc:
                failure = ProtocolError(
                    f"answer larger than max_response_size ({self._max_response_size} bytes)",
                    endpoint=name,
                    status_code=status,
                )
                failure.__cause__ = detach(exc)
            except BadEncoding as exc:
                failure = ProtocolError(
                    f"answer in an unreadable content encoding ({exc})",
                    endpoint=name,
                    status_code=status,
                )
        if scope.cancelled_caught:
            failure = RequestTimeout(
                f"{name}: no complete answer within {self._timeout:g} s", endpoint=name
            )
        if failure is None:
            if pace is not None:
                try:
                    await pace()
                except BaseException:
                    del content  # (a cancelled wait's traceback keeps no answer)
                    raise
            try:
                return decode(endpoint, status, content, redact=self._redact)
            except (APIError, ProtocolError) as exc:
                error = exc
            # The answer may echo the request, secrets included: no local keeps it for a
            # traceback reporter to capture, and the decoder's frames (holding it too) go.
            del content
            detach(error)
            if not isinstance(error, APIError):
                failure = error
            else:
                if isinstance(error, TooManyRequestsError):
                    # Refused outright: the gateway did not act on it, so it must not hold the
                    # identical-send window against the retry.
                    lease.refused()
                self._note_failure(endpoint, error)
                raise error
        never_left = isinstance(failure, ConnectError) or not progress.may_have_left
        if isinstance(failure, ProtocolError):
            never_left = False  # an answer came back, so the request arrived somewhere
        elif isinstance(failure.__cause__, (httpx.ConnectTimeout, httpx.PoolTimeout)):
            never_left = True
        if never_left:
            lease.unsent()
            raise failure
        if endpoint.kind is Kind.SEND:
            unconfirmed = self._unconfirmed(endpoint, params, failure, deadline)
            self._note_failure(endpoint, None)
            raise unconfirmed from failure
        raise failure

    def _transport_error(self, name: str, exc: httpx.HTTPError) -> TransportError:
        text = self._redact(str(exc))
        if isinstance(exc, httpx.TimeoutException):
            return RequestTimeout(f"{name}: timed out ({type(exc).__name__})", endpoint=name)
        if isinstance(exc, httpx.ConnectError):
            return ConnectError(f"{name}: cannot connect ({text})", endpoint=name)
        return TransportError(f"{name}: {type(exc).__name__} ({text})", endpoint=name)

    def _unconfirmed(
        self,
        endpoint: Endpoint[Any],
        params: Mapping[str, str],
        failure: SMSCError,
        deadline: float,
    ) -> SendUnconfirmedError:
        if isinstance(failure, RequestTimeout):
            reason = "timeout"
        elif isinstance(failure, ProtocolError):
            reason = "unreadable answer"
        else:
            reason = "connection lost"
        id = params["id"]
        return SendUnconfirmedError(
            f"{endpoint.name}: the request may have reached the gateway but no answer was read "
            f"({reason}); reconcile id {id} before sending it again",
            endpoint=endpoint.name,
            id=id,
            phones=recipients_of(params),
            reason=reason,
            deadline=deadline,
        )

    def _report(
        self,
        endpoint: Endpoint[Any],
        attempt: int,
        started: float,
        admitted: float | None,
        outcome: str,
    ) -> None:
        """One log line and one RequestDone event per attempt: names and times, never data."""
        hook = self._on_event
        debug = logger.isEnabledFor(logging.DEBUG)
        if hook is None and not debug:
            return
        now = self._clock.now()
        waited = (now if admitted is None else admitted) - started
        duration = 0.0 if admitted is None else now - admitted
        if debug:
            logger.debug(
                "%s attempt %d: %s in %.3f s (%.3f s in the limiter)",
                endpoint.name,
                attempt,
                outcome,
                duration,
                waited,
            )
        if hook is not None:
            event = RequestDone(
                endpoint=endpoint.name,
                attempt=attempt,
                waited=waited,
                duration=duration,
                outcome=outcome,
            )
            try:
                hook(event)
            except Exception:
                logger.warning("the on_event hook raised; event dropped", exc_info=True)

    def _refuse_if_locked(self, endpoint: Endpoint[Any]) -> None:
        # One attribute test on the hot path; the rest only after something went wrong.
        if self._guarded:
            self._refuse(endpoint)

    def _refuse(self, endpoint: Endpoint[Any]) -> None:
        if self._closed:
            raise RuntimeError("the session is closed")
        if self._auth_failed:
            raise LockedOutError(
                f"{endpoint.name}: refused: an earlier request failed authorization (error 2); "
                "this session sends nothing more so the gateway does not block the IP "
                "(5 failures in 30 minutes). Check the credentials and open a new Session."
            )
        now = self._clock.now()
        if now < self._blocked_until:
            raise CircuitOpenError(
                f"{endpoint.name}: refused: the gateway blocked this IP (error 4); "
                f"cooling down for {self._blocked_until - now:.1f} s more",
                retry_after=self._blocked_until - now,
            )
        if endpoint.kind is Kind.SEND:
            rule = self._limits.failed_sends
            while self._failed_sends and self._failed_sends[0] <= now - rule.window:
                self._failed_sends.popleft()
            # Sends still on the wire may fail too: they are counted as if they had.
            if len(self._failed_sends) + self._sends_in_flight >= rule.count - 1:
                retry_after = (
                    self._failed_sends[0] + rule.window - now if self._failed_sends else 0.0
                )
                raise CircuitOpenError(
                    f"send: refused: {len(self._failed_sends)} sends failed in a row"
                    f" ({self._sends_in_flight} more in flight); one more failure would make the"
                    " gateway block the IP",
                    retry_after=retry_after,
                )
        self._guarded = now < self._blocked_until or bool(self._failed_sends)

    def _note_failure(self, endpoint: Endpoint[Any], exc: APIError | None) -> None:
        """Count a refused send (``exc`` ``None``: a send whose answer was lost).

        Every send the gateway answers with an error counts toward its 100-in-a-row IP block,
        error 9 included; a lost answer may have been such an error, so it counts too.
        """
        self._guarded = True
        if isinstance(exc, AuthorizationError):
            if not self._auth_failed:
                logger.warning(
                    "%s: authorization failed (error 2); the session sends nothing more",
                    endpoint.name,
                )
            self._auth_failed = True
        elif isinstance(exc, IPBlockedError):
            self._blocked_until = self._clock.now() + self._cooldown
            logger.warning(
                "%s: the gateway blocked this IP (error 4); circuit open for %g s",
                endpoint.name,
                self._cooldown,
            )
        if endpoint.kind is Kind.SEND:
            self._failed_sends.append(self._clock.now())
            rule = self._limits.failed_sends
            if len(self._failed_sends) == rule.count - 1:
                logger.warning(
                    "%d sends failed in a row: sends stop until one window of the rule passes, "
                    "before the gateway would block the IP",
                    len(self._failed_sends),
                )
