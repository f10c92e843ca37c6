"""The Session: one httpx pool, one limiter, one pipeline for every endpoint."""

from __future__ import annotations

import copy
import functools
import logging
from collections import deque
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpx

from ._backend import LimiterBackend
from ._clock import Clock, SystemClock
from ._constants import DEFAULT_BASE_URL, DEFAULT_IP_BLOCK_COOLDOWN, DEFAULT_TIMEOUT, USER_AGENT
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
from ._endpoints._base import Endpoint, Kind, Namespace, decode
from ._errors import (
    APIError,
    AuthorizationError,
    CircuitOpenError,
    ConnectError,
    IPBlockedError,
    LockedOutError,
    RequestTimeout,
    SMSCError,
    TooManyRequestsError,
    TransportError,
)
from ._events import EventHook
from ._http import HttpBackend, make_client
from ._limiter import Limiter
from ._limits import RateLimits
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


def _auth_fields(login: str | None, password: str | None, api_key: str | None) -> dict[str, str]:
    for name, value in (("login", login), ("password", password), ("api_key", api_key)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a str, not {type(value).__name__}")
        if value is not None and not value:
            raise ValueError(f"{name} must not be empty")
    if api_key is not None:
        if login is not None or password is not None:
            raise ValueError("pass either login and password or api_key, not both")
        return {"apikey": api_key}
    if login is None or password is None:
        raise ValueError("pass login and password, or api_key")
    return {"login": login, "psw": password}


def _limits_namespace(
    login: str | None, password: str | None, api_key: str | None
) -> tuple[str, bytes]:
    """Where a shared limiter backend files this login's logs, and the key it hashes them with.

    Both come from the login's secret (its password or API key), never in clear: the namespace
    is a keyed hash of the login, so a guessed login cannot be matched against Redis offline,
    and the key turns the numbers and texts in log keys into MACs. Every process of one login
    derives the same pair; a new password moves the login to a new namespace.
    """
    import hashlib  # only shared backends need it; kept off the import path

    if api_key is not None:
        identity, secret = "apikey", api_key
    else:
        identity, secret = f"login:{login}", password or ""
    key = _derive_key(identity, secret)
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

    >>> async with Session(login="alex", password="…") as smsc:  # doctest: +SKIP
    ...     balance = await smsc.balance()

    ``http_backend="aiohttp"`` (asyncio only; ``pip install 'smsc-async[aiohttp]'``) sends
    through aiohttp instead of httpx's own transport, for a fraction of the CPU per request; the
    timeouts, limits, answers and exception types stay the same. ``transport`` (an
    ``httpx.AsyncBaseTransport``) or ``http_client`` (an ``httpx.AsyncClient``) may be injected
    instead; the session closes only a client it created.
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
        timeout: float = DEFAULT_TIMEOUT,
        ip_block_cooldown: float = DEFAULT_IP_BLOCK_COOLDOWN,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
        on_event: EventHook | None = None,
        max_wait: float | None = None,
        http_backend: HttpBackend | None = None,
    ) -> None:
        self._form = _auth_fields(login, password, api_key)
        self._form.update(fmt="3", charset="utf-8")
        self._auth_kind = "api_key" if api_key is not None else "password"
        self._base_url = _check_base_url(base_url)
        if limits is not None and not isinstance(limits, RateLimits):
            raise TypeError(f"limits must be a RateLimits, not {type(limits).__name__}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy or None, not {type(retry).__name__}")
        if http_client is not None and transport is not None:
            raise ValueError("pass transport or http_client, not both")
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
            namespace, key = _limits_namespace(login, password, api_key)
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
            # cancelled or timed out stay taken (the gateway may still be at work on it).
            request_timeout=timeout if isinstance(timeout, (int, float)) and timeout > 0 else None,
        )
        self._max_wait = _check_max_wait(max_wait)
        self._retry = retry
        self._cooldown = float(ip_block_cooldown)
        if http_client is None:
            self._client = make_client(
                http_backend,
                transport=transport,
                timeout=timeout,
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
        # True while any of the above may refuse a request: the hot path tests only this.
        self._guarded = False

    # Lockout and closing state: one for the session and every with_options() copy of it.
    _closed: _Shared[bool] = _Shared()
    _auth_failed: _Shared[bool] = _Shared()
    _blocked_until: _Shared[float] = _Shared()
    _failed_sends: _Shared[deque[float]] = _Shared()
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

    # -- the pipeline ----------------------------------------------------------------------------

    async def _call(self, endpoint: Endpoint[T], params: dict[str, str]) -> T:
        if endpoint.selector:
            params = {**dict(endpoint.selector), **params}
        try:
            return await self._attempt(endpoint, params)
        except SMSCError as exc:
            retry = self._retry
            if retry is None or retry.attempts <= 1 or not retry.retries(exc, endpoint.kind):
                raise
            return await retry.run(
                lambda: self._attempt(endpoint, params),
                clock=self._clock,
                kind=endpoint.kind,
                failed=exc,
                name=endpoint.name,
            )

    async def _attempt(self, endpoint: Endpoint[T], params: dict[str, str]) -> T:
        self._refuse_if_locked(endpoint)
        form = {**params, **self._form}
        async with self._limiter.slot(
            endpoint.path, params, max_wait=self._max_wait, name=endpoint.name
        ) as lease:
            try:
                response = await self._client.post(self._base_url + endpoint.path, data=form)
            except httpx.TimeoutException as exc:
                raise RequestTimeout(
                    f"{endpoint.name}: timed out ({type(exc).__name__})", endpoint=endpoint.name
                ) from exc
            except httpx.ConnectError as exc:
                raise ConnectError(
                    f"{endpoint.name}: cannot connect ({exc})", endpoint=endpoint.name
                ) from exc
            except httpx.TransportError as exc:
                raise TransportError(
                    f"{endpoint.name}: {type(exc).__name__} ({exc})", endpoint=endpoint.name
                ) from exc
            try:
                result = decode(endpoint, response.status_code, response.content)
            except TooManyRequestsError:
                # Refused outright: the gateway did not act on it, so it must not hold the
                # identical-send window against the retry.
                lease.refused()
                raise
            except APIError as exc:
                self._note_failure(endpoint, exc)
                raise
        if endpoint.kind is Kind.SEND and self._failed_sends:
            self._failed_sends.clear()
        return result

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
            if len(self._failed_sends) >= rule.count - 1:
                retry_after = self._failed_sends[0] + rule.window - now
                raise CircuitOpenError(
                    f"send: refused: {len(self._failed_sends)} sends failed in a row; one more "
                    "would make the gateway block the IP",
                    retry_after=retry_after,
                )
        self._guarded = now < self._blocked_until or bool(self._failed_sends)

    def _note_failure(self, endpoint: Endpoint[Any], exc: APIError) -> None:
        self._guarded = True
        if isinstance(exc, AuthorizationError):
            self._auth_failed = True
        elif isinstance(exc, IPBlockedError):
            self._blocked_until = self._clock.now() + self._cooldown
        if endpoint.kind is Kind.SEND:
            self._failed_sends.append(self._clock.now())
