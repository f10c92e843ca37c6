"""The Session pipeline end to end, over real HTTP to the emulator."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import anyio
import httpx
import pytest

import smsc_async
from smsc_async import (
    AuthorizationError,
    Balance,
    CircuitOpenError,
    DuplicateSendError,
    InsufficientFundsError,
    IPBlockedError,
    LockedOutError,
    ProtocolError,
    RateLimits,
    RequestDone,
    RequestTimeout,
    RetryPolicy,
    SendUnconfirmedError,
    Session,
    Status,
    TooManyRequestsError,
    TransportError,
    UndeliverableError,
)
from smsc_async.testing import Emulator, Fault

from .conftest import FAST_RETRY

pytestmark = pytest.mark.anyio

PHONE = "79161234567"


async def test_balance(smsc: Session) -> None:
    assert await smsc.balance() == Balance(balance=Decimal("1000.00"), currency="RUR")


async def test_send_status_and_operator_info(smsc: Session, emulator: Emulator) -> None:
    sent = await smsc.send([PHONE], "Код: 1234", sender="Shop", cost=3)
    assert sent.cnt == 1 and sent.cost is not None and sent.balance is not None
    assert sent.balance == Decimal("1000.00") - sent.cost
    status = await smsc.status(sent.id, PHONE)
    assert status.status in (Status.WAITING, Status.HANDED_TO_OPERATOR, Status.DELIVERED)
    await anyio.sleep(0.15)  # the emulator delivers after 0.05 s
    full = await smsc.status(sent.id, PHONE, all=2)
    assert full.status is Status.DELIVERED and full.final
    assert full.message == "Код: 1234" and full.sender_id == "Shop"
    assert full.operator and full.country
    assert full.send_date is not None and full.send_date.tzinfo is not None
    infos = await smsc.operator_info([PHONE, "79031234567"])
    assert [i.phone for i in infos] == [PHONE, "79031234567"]
    assert all(i.found and i.mcc == "250" for i in infos)


async def test_statuses_batch(smsc: Session) -> None:
    a = await smsc.send(PHONE, "first")
    b = await smsc.send("79031234567", "second")
    results = await smsc.statuses([(a.id, PHONE), (b.id, "79031234567")])
    assert [str(r.id) for r in results] == [str(a.id), str(b.id)]
    unknown = await smsc.status(999_999, PHONE)
    assert unknown.status is Status.NOT_FOUND


async def test_send_list_and_cost(smsc: Session) -> None:
    est = await smsc.cost([PHONE, "79031234567"], "x" * 161)
    assert est.cnt == 4 and est.cost > 0  # two parts each for two numbers
    sent = await smsc.send_list({PHONE: "Hi Ann", "79031234567": "Hi Bob\nsecond line"})
    assert sent.cnt == 2
    assert (await smsc.balance()).balance == Decimal("1000.00") - 2 * est.cost / 4


async def test_api_key_auth(live_url: str, limits: RateLimits) -> None:
    async with Session(api_key="demo-key", base_url=live_url, limits=limits) as smsc:
        assert (await smsc.balance()).currency == "RUR"


async def test_credentials_only_in_post_body(live_url: str, limits: RateLimits) -> None:
    seen: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request)

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as client:
        smsc = Session("demo", "demo", base_url=live_url, limits=limits, http_client=client)
        await smsc.balance()
        await smsc.aclose()
        assert not client.is_closed  # a session closes only a client it created
    (request,) = seen
    assert request.method == "POST"
    assert "demo" not in str(request.url) and request.url.query == b""
    body = request.content.decode()
    assert "psw=demo" in body and "fmt=3" in body and "charset=utf-8" in body
    assert "demo" not in repr(smsc)


async def test_wrong_password_locks_out_before_the_ip_block(
    live_url: str, limits: RateLimits, emulator: Emulator
) -> None:
    async with Session("demo", "s3cret-wrong", base_url=live_url, limits=limits) as smsc:
        with pytest.raises(AuthorizationError) as info:
            await smsc.balance()
        assert "s3cret-wrong" not in str(info.value)
        for _ in range(5):
            with pytest.raises(LockedOutError):
                await smsc.balance()
    assert emulator.stats.requests["/sys/balance.php"] == 1
    assert emulator.stats.errors[4] == 0


async def test_error_4_opens_a_circuit(
    live_url: str, limits: RateLimits, emulator: Emulator
) -> None:
    emulator.inject(Fault(kind="error", error_code=4, path="/sys/balance.php"))
    async with Session(
        "demo", "demo", base_url=live_url, limits=limits, ip_block_cooldown=0.2
    ) as smsc:
        with pytest.raises(IPBlockedError):
            await smsc.balance()
        with pytest.raises(CircuitOpenError) as info:
            await smsc.send(PHONE, "hello")
        assert 0 < info.value.retry_after <= 0.2
        await anyio.sleep(0.25)
        assert (await smsc.balance()).balance == Decimal("1000.00")
    assert emulator.stats.requests["/sys/send.php"] == 0


async def test_error_9_is_retried_through_the_limiter(smsc: Session, emulator: Emulator) -> None:
    emulator.inject(Fault(kind="error", error_code=9, path="/sys/balance.php", times=2))
    assert (await smsc.balance()).currency == "RUR"
    assert emulator.stats.requests["/sys/balance.php"] == 3


async def test_send_refused_with_error_9_is_retried_not_duplicated(
    smsc: Session, emulator: Emulator
) -> None:
    emulator.inject(Fault(kind="error", error_code=9, path="/sys/send.php", times=1))
    sent = await smsc.send(PHONE, "once")
    assert sent.cnt == 1
    assert emulator.stats.sms == 1


async def test_error_9_gives_up_after_the_policy(
    live_url: str, limits: RateLimits, emulator: Emulator
) -> None:
    emulator.inject(Fault(kind="error", error_code=9, times=None))
    policy = RetryPolicy(attempts=3, initial=0.01, max_wait=0.02, jitter=0)
    async with Session("demo", "demo", base_url=live_url, limits=limits, retry=policy) as smsc:
        with pytest.raises(TooManyRequestsError):
            await smsc.balance()
    assert emulator.stats.requests["/sys/balance.php"] == 3


async def test_other_errors_are_not_retried(smsc: Session, emulator: Emulator) -> None:
    emulator.inject(Fault(kind="error", error_code=8, path="/sys/send.php"))
    with pytest.raises(UndeliverableError):
        await smsc.send(PHONE, "x")
    emulator.inject(Fault(kind="error", error_code=3, path="/sys/send.php"))
    with pytest.raises(InsufficientFundsError):
        await smsc.send(PHONE, "y")
    assert emulator.stats.requests["/sys/send.php"] == 2


async def test_identical_send_is_refused_at_once(smsc: Session, emulator: Emulator) -> None:
    await smsc.send(PHONE, "double click")
    with pytest.raises(DuplicateSendError) as info:
        await smsc.send("+" + PHONE, "double click")
    assert info.value.retry_after > 0
    assert emulator.stats.requests["/sys/send.php"] == 1
    await smsc.send(PHONE, "double click", id=7)  # a different request is fine


async def test_lost_answer_of_a_send_is_never_retried(
    live_url: str, limits: RateLimits, emulator: Emulator
) -> None:
    emulator.inject(Fault(kind="delay", seconds=1.0, path="/sys/send.php"))
    async with Session(
        "demo", "demo", base_url=live_url, limits=limits, timeout=0.2, retry=FAST_RETRY
    ) as smsc:
        with pytest.raises(SendUnconfirmedError) as info:
            await smsc.send(PHONE, "maybe sent")
        assert isinstance(info.value.__cause__, RequestTimeout)
        # Whether it went out is unknown, so the same send stays refused inside its window.
        with pytest.raises(DuplicateSendError):
            await smsc.send(PHONE, "maybe sent")
    assert emulator.stats.requests["/sys/send.php"] == 1


async def test_dropped_connection(smsc: Session, emulator: Emulator) -> None:
    # Persistent: a read is retried after a transport failure (RetryPolicy), so every try drops.
    emulator.inject(Fault(kind="drop", path="/sys/balance.php", times=None))
    with pytest.raises(TransportError):
        await smsc.balance()


@pytest.mark.parametrize(
    ("fault", "needle"),
    [
        # Persistent: a read is retried after a 5xx answer (RetryPolicy), so every try gets it.
        (Fault(kind="http_status", status=503, times=None), "HTTP 503"),
        (Fault(kind="html"), "HTML"),
        (Fault(kind="malformed"), "malformed"),
    ],
)
async def test_unreadable_answers(
    smsc: Session, emulator: Emulator, fault: Fault, needle: str
) -> None:
    emulator.inject(fault)
    with pytest.raises(ProtocolError) as info:
        await smsc.balance()
    assert needle in str(info.value)


async def test_plain_error_form(smsc: Session, emulator: Emulator) -> None:
    emulator.inject(Fault(kind="plain_error", error_code=3, path="/sys/send.php"))
    with pytest.raises(InsufficientFundsError):
        await smsc.send(PHONE, "x")


async def test_real_gateway_errors_from_the_emulator(smsc: Session, emulator: Emulator) -> None:
    emulator.account("demo").balance = Decimal("0.01")
    with pytest.raises(InsufficientFundsError) as info:
        await smsc.send(PHONE, "costly", id="order-1")
    assert info.value.id == "order-1"


async def test_bad_input_never_leaves(smsc: Session, emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="phones"):
        await smsc.send(["not-a-number"], "x")
    with pytest.raises(ValueError, match="message must not be empty"):
        await smsc.send(PHONE, "")
    with pytest.raises(ValueError, match="sender"):
        await smsc.send(PHONE, "x", sender="ThisIsTooLongName")
    with pytest.raises(ValueError, match="timezone-aware"):
        await smsc.send(PHONE, "x", time=dt.datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="all must be one of"):
        await smsc.status(1, PHONE, all=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="id must be an int or a str"):
        await smsc.status(1.5, PHONE)  # type: ignore[arg-type]
    assert sum(emulator.stats.requests.values()) == 0


async def test_in_process_transport(
    asgi_transport: httpx.ASGITransport, limits: RateLimits
) -> None:
    async with Session(
        "demo", "demo", base_url="http://127.0.0.1", transport=asgi_transport, limits=limits
    ) as smsc:
        assert (await smsc.balance()).currency == "RUR"


def test_constructor_checks() -> None:
    with pytest.raises(ValueError, match="plain http"):
        Session("a", "b", base_url="http://smsc.ru")
    with pytest.raises(ValueError, match="login and password, or api_key"):
        Session("a")
    with pytest.raises(ValueError, match="not both"):
        Session("a", "b", api_key="k")
    with pytest.raises(TypeError, match="password must be a str"):
        Session("a", 123)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="credentials"):
        Session("a", "b", base_url="https://user:pw@smsc.ru")
    session = Session(api_key="secret-key", base_url="https://smsc.kz/")
    assert "secret" not in repr(session)
    assert repr(session) == "<smsc_async.Session base_url='https://smsc.kz' auth=api_key>"


async def test_closed_session_refuses(smsc: Session) -> None:
    await smsc.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await smsc.balance()


def test_version() -> None:
    assert smsc_async.__version__


async def test_status_of_an_email_by_address(smsc: Session) -> None:
    sent = await smsc.send_email("ann@example.com", "Hello", subject="News")
    status = await smsc.status(sent.id, "ann@example.com")
    assert status.status is not Status.NOT_FOUND
    with pytest.raises(ValueError, match="phone"):
        await smsc.status(sent.id, "ann@")


# -- the failed-sends guard ------------------------------------------------------------------


@pytest.mark.parametrize("codes", [[9], [8, 9]], ids=["error-9", "mixed"])
async def test_failed_sends_guard_counts_error_9(
    live_url: str, limits: RateLimits, emulator: Emulator, codes: list[int]
) -> None:
    # The gateway blocks the IP after 100 failed sends in a row, error 9 included.
    rule = limits.failed_sends
    async with Session("demo", "demo", base_url=live_url, limits=limits, retry=None) as smsc:
        for i in range(rule.count - 1):
            code = codes[i % len(codes)]
            emulator.inject(Fault(kind="error", error_code=code, path="/sys/send.php"))
            with pytest.raises((TooManyRequestsError, UndeliverableError)):
                await smsc.send(PHONE, f"attempt {i}")
        with pytest.raises(CircuitOpenError, match="99 sends failed in a row") as info:
            await smsc.send(PHONE, "one too many")
        assert info.value.retry_after > 0
    assert emulator.stats.requests["/sys/send.php"] == rule.count - 1


async def test_error_9_retries_of_one_send_each_count(
    live_url: str, limits: RateLimits, emulator: Emulator
) -> None:
    emulator.inject(Fault(kind="error", error_code=9, path="/sys/send.php", times=None))
    policy = RetryPolicy(attempts=3, initial=0.0, max_wait=0.0, jitter=0.0)
    async with Session("demo", "demo", base_url=live_url, limits=limits, retry=policy) as smsc:
        for i in range(33):
            with pytest.raises(TooManyRequestsError):
                await smsc.send(PHONE, f"try {i}")  # 3 requests each: 99 in all
        with pytest.raises(CircuitOpenError):
            await smsc.send(PHONE, "stop")
    assert emulator.stats.requests["/sys/send.php"] == 99


# -- configuration ---------------------------------------------------------------------------


def test_from_env() -> None:
    env = {"SMSC_LOGIN": "alex", "SMSC_PASSWORD": "pw", "SMSC_BASE_URL": "https://smsc.kz"}
    smsc = Session.from_env(environ=env, timeout=5)
    assert repr(smsc) == "<smsc_async.Session base_url='https://smsc.kz' auth=password>"
    assert smsc.timeout == 5.0
    smsc = Session.from_env(environ={"SMSC_API_KEY": "k", "SMSC_LOGIN": ""})
    assert repr(smsc) == "<smsc_async.Session base_url='https://smsc.ru' auth=api_key>"
    # Keywords win, credentials as a whole.
    smsc = Session.from_env(environ=env, api_key="other", base_url="https://smsc.ua")
    assert repr(smsc) == "<smsc_async.Session base_url='https://smsc.ua' auth=api_key>"
    with pytest.raises(ValueError, match="SMSC_LOGIN and SMSC_PASSWORD, or SMSC_API_KEY"):
        Session.from_env(environ={})
    with pytest.raises(ValueError, match="both SMSC_LOGIN and SMSC_PASSWORD"):
        Session.from_env(environ={"SMSC_LOGIN": "alex"})
    with pytest.raises(ValueError, match="not both"):
        Session.from_env(environ={**env, "SMSC_API_KEY": "k"})


def test_from_env_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSC_LOGIN", "alex")
    monkeypatch.setenv("SMSC_PASSWORD", "pw")
    monkeypatch.delenv("SMSC_API_KEY", raising=False)
    monkeypatch.delenv("SMSC_BASE_URL", raising=False)
    assert (
        repr(Session.from_env()) == "<smsc_async.Session base_url='https://smsc.ru' auth=password>"
    )


async def test_http_client_with_timeout_is_refused() -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(7.0, read=12.0)) as client:
        with pytest.raises(ValueError, match="timeout"):
            Session("a", "b", http_client=client, timeout=5)
        # The client's own longest phase bounds each attempt.
        assert Session("a", "b", http_client=client).timeout == 12.0


# -- what it tells: logs and events ----------------------------------------------------------


async def test_one_debug_line_and_one_event_per_attempt(
    live_url: str,
    limits: RateLimits,
    emulator: Emulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="smsc_async")
    events: list[object] = []
    emulator.inject(Fault(kind="error", error_code=9, path="/sys/balance.php", times=2))
    async with Session(
        "demo", "demo", base_url=live_url, limits=limits, retry=FAST_RETRY, on_event=events.append
    ) as smsc:
        await smsc.balance()
        await smsc.send(PHONE, "x")
        with pytest.raises(DuplicateSendError):
            await smsc.send(PHONE, "x")
    done = [e for e in events if isinstance(e, RequestDone)]
    assert [(e.endpoint, e.attempt, e.outcome) for e in done] == [
        ("balance", 1, "TooManyRequestsError"),
        ("balance", 2, "TooManyRequestsError"),
        ("balance", 3, "ok"),
        ("send", 1, "ok"),
        ("send", 1, "DuplicateSendError"),
    ]
    assert all(e.waited >= 0 and e.duration >= 0 for e in done)
    assert done[-1].duration == 0.0  # refused before it left
    lines = [r for r in caplog.records if r.name == "smsc_async"]
    debug = [r.getMessage() for r in lines if r.levelno == logging.DEBUG]
    assert len(debug) == 5
    assert debug[0].startswith("balance attempt 1: TooManyRequestsError in ")
    assert "s in the limiter" in debug[0]
    info = [r.getMessage() for r in lines if r.levelno == logging.INFO]
    retries = [m for m in info if "; try " in m]
    assert len(retries) == 2 and all("TooManyRequestsError" in m for m in retries)
    assert PHONE not in caplog.text and "demo" not in caplog.text


async def test_circuits_opening_are_warnings(
    live_url: str, limits: RateLimits, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="smsc_async")
    emulator.inject(Fault(kind="error", error_code=4, path="/sys/balance.php"))
    async with Session("demo", "demo", base_url=live_url, limits=limits) as smsc:
        with pytest.raises(IPBlockedError):
            await smsc.balance()
    async with Session("demo", "wrong", base_url=live_url, limits=limits) as smsc:
        with pytest.raises(AuthorizationError):
            await smsc.balance()
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert messages == [
        "balance: the gateway blocked this IP (error 4); circuit open for 600 s",
        "balance: authorization failed (error 2); the session sends nothing more",
    ]


async def test_a_raising_hook_is_logged_and_dropped(
    caplog: pytest.LogCaptureFixture, live_url: str, limits: RateLimits
) -> None:
    def hook(event: object) -> None:
        raise RuntimeError("dashboard down")

    async with Session("demo", "demo", base_url=live_url, limits=limits, on_event=hook) as s:
        assert (await s.balance()).currency == "RUR"
    (record,) = [r for r in caplog.records if r.name == "smsc_async"]
    assert record.levelno == logging.WARNING and "on_event hook raised" in record.getMessage()
