"""Templates, mailing lists, the phone book and sub-clients, over HTTP to the emulator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

from smsc_async import (
    AuthorizationError,
    DateFormatError,
    InvalidPhoneError,
    NotFoundError,
    ParameterError,
    PersistError,
    RateLimits,
    Session,
    TooManyRequestsError,
)
from smsc_async.models import Contact, ContactGroup, JobStatus, Template, UserStat
from smsc_async.testing import Emulator, Fault

from ._input import assert_refused
from ._virtual import VIRTUAL, on_twice_clock
from .conftest import FAST_RETRY, SCALE

pytestmark = pytest.mark.anyio


@pytest.fixture
def emulator(request: pytest.FixtureRequest) -> Emulator:
    # The emulator's own rule table on the tests' scale (or a test's own, given indirectly),
    # not the client's RateLimits: it checks the client instead of agreeing with it.
    return Emulator(scale=getattr(request, "param", SCALE), delivery_delay=0.05)


PHONE = "79161234567"
OTHER = "79031234567"
Call = Callable[[Session], Awaitable[Any]]


def _session(url: str, limits: RateLimits, login: str = "demo", password: str = "demo") -> Session:
    return Session(login=login, password=password, base_url=url, limits=limits, retry=FAST_RETRY)


# -- templates.php ------------------------------------------------------------------------------


async def test_templates_round_trip(smsc: Session) -> None:
    assert await smsc.templates.list() == []
    first = await smsc.templates.add("code", "Your code: {code}", format="sms", autosign=True)
    second = await smsc.templates.add("promo", "Sale!", sender="Shop")
    assert second > first
    assert await smsc.templates.list() == [
        Template(id=first, name="code", msg="Your code: {code}", format="sms", autosign=True),
        Template(id=second, name="promo", msg="Sale!", sender="Shop"),
    ]
    await smsc.templates.change(first, message="Code: {code}", format="viber", autosign=False)
    changed = (await smsc.templates.list())[0]
    assert (changed.msg, changed.format, changed.autosign) == ("Code: {code}", "viber", False)
    await smsc.templates.delete(second)
    assert [t.id for t in await smsc.templates.list()] == [first]


async def test_template_errors(smsc: Session, emulator: Emulator) -> None:
    # An unknown id on change comes back as the plain "ERROR = 3 (...)" line despite fmt=3.
    with pytest.raises(NotFoundError) as info:
        await smsc.templates.change(999, name="x")
    assert (info.value.code, info.value.endpoint) == (3, "templates")
    with pytest.raises(NotFoundError):
        await smsc.templates.delete(999)
    assert emulator.stats.errors_by_path["/sys/templates.php"][3] == 2


# -- jobs.php -----------------------------------------------------------------------------------


async def test_jobs_round_trip(smsc: Session) -> None:
    group = await smsc.groups.add("vip")
    await smsc.contacts.add(OTHER, groups=[group])
    num = (await smsc.groups.list())[0].num
    created = await smsc.jobs.add(
        "promo",
        [PHONE, f"G{num}"],
        "Sale!",
        sender="Shop",
        time=dt.timedelta(hours=2),
        repeat=2,
        repeats=3,
        cost=True,
    )
    assert created.cost is not None
    assert created.cost > 0
    job = await smsc.jobs.get(created.id)
    assert (job.name, job.status, job.cnt, job.rpt, job.sender) == (
        "promo",
        JobStatus.SCHEDULED,
        2,
        2,
        "Shop",
    )
    assert job.cost == created.cost
    assert job.time is not None
    assert job.time > dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=100)
    now_job = await smsc.jobs.add("now", PHONE, "Hi")
    assert now_job.cost is None
    assert (await smsc.jobs.get(now_job.id)).status is JobStatus.DONE
    await smsc.jobs.cancel(created.id)
    listed = {j.id: j.status for j in await smsc.jobs.list()}
    assert listed == {created.id: JobStatus.CANCELLED, now_job.id: JobStatus.DONE}
    await smsc.jobs.delete(now_job.id)
    assert [j.id for j in await smsc.jobs.list(start=dt.date(2000, 1, 1))] == [created.id]
    assert await smsc.jobs.list(end=dt.date(2000, 1, 1)) == []


async def test_job_from_template(smsc: Session) -> None:
    tpl = await smsc.templates.add("t", "From the template")
    created = await smsc.jobs.add("tpl", PHONE, "Given text", template=tpl)
    assert (await smsc.jobs.get(created.id)).mes == "Given text"  # the given text wins


async def test_job_errors(smsc: Session) -> None:
    created = await smsc.jobs.add("now", PHONE, "Hi")
    # Error 3, "error saving a record": cancelling a finished mailing, unknown ids.
    with pytest.raises(PersistError) as info:
        await smsc.jobs.cancel(created.id)
    assert (info.value.code, info.value.endpoint) == (3, "jobs")
    for call in (smsc.jobs.get, smsc.jobs.delete, smsc.jobs.cancel):
        with pytest.raises(PersistError):
            await call(999)
    with pytest.raises(PersistError):
        await smsc.jobs.add("tpl", PHONE, "Hi", template=999)
    with pytest.raises(ParameterError):
        await smsc.jobs.add("group", "G99", "Hi")  # no such group


@pytest.mark.parametrize("anyio_backend", VIRTUAL)
async def test_identical_jobs_requests_wait_for_the_rule() -> None:
    smsc, recorder, clock = on_twice_clock()
    async with smsc:
        t0 = clock.now()
        for _ in range(3):  # one identical request a minute
            await smsc.jobs.list()
        await smsc.jobs.list(start=dt.date(2025, 1, 1))  # another request: not held
    assert recorder.times("/sys/jobs.php") == [t0, t0 + 60, t0 + 120, t0 + 120]
    assert recorder.emulator.stats.errors[9] == 0


# The gateway's own minute: on the tests' scale (0.6 s) a loaded machine can ask again after it.
@pytest.mark.parametrize("emulator", [1.0], indirect=True, ids=["gateway-minute"])
async def test_identical_jobs_request_from_elsewhere_gets_error_9(
    smsc: Session, live_url: str, limits: RateLimits
) -> None:
    await smsc.jobs.list()
    async with _session(live_url, limits) as other:  # its own limiter knows nothing of ours
        with pytest.raises(TooManyRequestsError) as info:
            await other.jobs.list()
    assert info.value.endpoint == "jobs"


# -- phones.php ---------------------------------------------------------------------------------


async def test_phone_book_round_trip(smsc: Session) -> None:
    vip = await smsc.groups.add("vip", num=7)
    mail = await smsc.groups.add("newsletter", type=1)
    ann = await smsc.contacts.add(
        PHONE,
        name="Ann",
        first_name="Anna",
        last_name="K",
        middle_name="P",
        mail="ann@example.com",
        comment="met at fair",
        groups=[vip, mail],
    )
    await smsc.contacts.add(OTHER, name="Bob")
    assert await smsc.contacts.list(group=vip) == [
        Contact(
            id=ann,
            phone=PHONE,
            name="Ann",
            fnm="Anna",
            lnm="K",
            mnm="P",
            mail="ann@example.com",
            cmt="met at fair",
            grp=(vip, mail),
        )
    ]
    assert [c.phone for c in await smsc.contacts.list(search="bob")] == [OTHER]
    groups = await smsc.groups.list()
    assert groups[0] == ContactGroup(id=vip, name="vip", num=7, type=0, cnt=1)
    assert (groups[1].type, groups[1].num) == (1, 1)
    await smsc.contacts.move([OTHER], vip, action="add")
    await smsc.contacts.move(PHONE, vip, action="remove")
    assert [c.phone for c in await smsc.contacts.list(group=vip)] == [OTHER]
    await smsc.contacts.move([PHONE, OTHER], mail)  # "move": the only group now
    assert {c.grp for c in await smsc.contacts.list()} == {(mail,)}
    await smsc.contacts.change(PHONE, new_phone="79161234568", name="Anna")
    assert {c.phone: c.name for c in await smsc.contacts.list()} == {
        "79161234568": "Anna",
        OTHER: "Bob",
    }
    await smsc.groups.change(vip, name="VIP", num=8)
    await smsc.groups.delete(mail)
    assert [(g.name, g.num, g.cnt) for g in await smsc.groups.list()] == [("VIP", 8, 0)]
    assert {c.grp for c in await smsc.contacts.list()} == {()}
    await smsc.contacts.delete(OTHER)
    assert [c.phone for c in await smsc.contacts.list()] == ["79161234568"]


async def test_blacklist(smsc: Session) -> None:
    await smsc.blacklist.add(PHONE)
    await smsc.blacklist.add(OTHER, scope=2)
    await smsc.blacklist.remove(PHONE)
    with pytest.raises(NotFoundError):
        await smsc.blacklist.remove(PHONE)


async def test_phone_book_errors(smsc: Session) -> None:
    await smsc.contacts.add(PHONE)
    with pytest.raises(ParameterError, match="exists"):
        await smsc.contacts.add(PHONE)
    with pytest.raises(NotFoundError) as info:
        await smsc.contacts.add(OTHER, groups=[999])
    assert (info.value.code, info.value.endpoint) == (3, "phones")
    for call in (
        lambda: smsc.contacts.change(OTHER, name="x"),
        lambda: smsc.contacts.delete(OTHER),
        lambda: smsc.groups.delete(999),
        lambda: smsc.groups.change(999, name="x"),
        lambda: smsc.contacts.move(PHONE, 999),
        lambda: smsc.contacts.list(group=999),
    ):
        with pytest.raises(NotFoundError):
            await call()
    # 7 digits pass the client's shape check; the gateway knows no such number.
    with pytest.raises(InvalidPhoneError) as bad:
        await smsc.contacts.add("7916123")
    assert bad.value.code == 7
    with pytest.raises(InvalidPhoneError):
        await smsc.blacklist.add("7916123")
    await smsc.groups.add("a", num=5)
    with pytest.raises(ParameterError, match="taken"):
        await smsc.groups.add("b", num=5)


# -- users.php ----------------------------------------------------------------------------------


async def test_sub_clients(
    smsc: Session, emulator: Emulator, live_url: str, limits: RateLimits
) -> None:
    uid = await smsc.users.add("shop-2", "s3cret!", currency="USD", daily_limit=500, reseller=True)
    assert uid >= 1
    await smsc.users.pay("shop-2", Decimal("50.00"))
    assert (await smsc.balance()).balance == Decimal("950.00")
    async with _session(live_url, limits, "shop-2", "s3cret!") as sub:
        sent = await sub.send(PHONE, "from the sub-client", cost=2)
        assert (await sub.balance()).balance == Decimal("50.00") - (sent.cost or 0)
    stat = await smsc.users.stat("shop-2")
    assert stat == UserStat(
        login="shop-2",
        sms=1,
        credit=sent.cost or Decimal("0"),
        debit=Decimal("50.00"),
        balance=Decimal("50.00") - (sent.cost or 0),
        currency="USD",
    )
    assert (await smsc.users.stat("shop-2", end=dt.date(2000, 1, 1))).sms == 0
    await smsc.users.add("shop-3", "pw")
    assert [s.login for s in await smsc.users.stats(start=dt.date(2000, 1, 1))] == [
        "shop-2",
        "shop-3",
    ]
    await smsc.users.change("shop-2", new_login="shop-two", password="n3w", number_limit=3)
    assert (await smsc.users.stat("shop-two")).sms == 1
    async with _session(live_url, limits, "shop-two", "n3w") as renamed:
        assert (await renamed.balance()).currency == "USD"


async def test_sub_client_errors(smsc: Session) -> None:
    await smsc.users.add("shop-2", "pw")
    with pytest.raises(ParameterError, match="taken"):
        await smsc.users.add("shop-2", "pw")
    with pytest.raises(ParameterError, match="taken"):
        await smsc.users.add("demo", "pw")  # an existing account's login
    with pytest.raises(ParameterError, match="money"):
        await smsc.users.pay("shop-2", Decimal("1000000"))
    for call in (
        lambda: smsc.users.stat("nobody"),
        lambda: smsc.users.pay("nobody", 1),
        lambda: smsc.users.change("nobody", sender="X"),
    ):
        with pytest.raises(NotFoundError) as info:
            await call()
        assert (info.value.code, info.value.endpoint) == (3, "users")


async def test_sub_client_password_change_locks_the_old_one_out(
    smsc: Session, live_url: str, limits: RateLimits
) -> None:
    await smsc.users.add("shop-2", "old")
    await smsc.users.change("shop-2", password="new")
    async with _session(live_url, limits, "shop-2", "old") as stale:
        with pytest.raises(AuthorizationError):
            await stale.balance()


# -- errors shared by every endpoint, and bad input ---------------------------------------------


async def test_jobs_date_error(smsc: Session, emulator: Emulator) -> None:
    emulator.inject(Fault(kind="error", error_code=5, path="/sys/jobs.php"))
    with pytest.raises(DateFormatError):
        await smsc.jobs.add("x", PHONE, "Hi", time=dt.timedelta(minutes=5))


async def test_wrong_password_is_error_2(live_url: str, limits: RateLimits) -> None:
    async with _session(live_url, limits, "demo", "wrong") as s:
        with pytest.raises(AuthorizationError):
            await s.templates.list()


BAD_INPUT: list[tuple[Call, type[Exception], str]] = [
    (lambda s: s.templates.add("", "x"), ValueError, "name"),
    (lambda s: s.templates.add("n", "x" * 1001), ValueError, "message"),
    (lambda s: s.templates.add("n", "x", format="fax"), ValueError, "format"),  # type: ignore[arg-type]
    (lambda s: s.templates.add("n", "x", sender="way too long sender"), ValueError, "sender"),
    (lambda s: s.templates.add("n", "x", autosign=1), TypeError, "autosign"),  # type: ignore[arg-type]
    (lambda s: s.templates.change(1), ValueError, "at least one"),
    (lambda s: s.templates.change(0, name="x"), ValueError, "id"),
    (lambda s: s.templates.delete("1"), TypeError, "id"),  # type: ignore[arg-type]
    (lambda s: s.jobs.add("", PHONE, "x"), ValueError, "name"),
    (lambda s: s.jobs.add("n", "nope", "x"), ValueError, "phones"),
    (lambda s: s.jobs.add("n", [], "x"), ValueError, "phones"),
    (lambda s: s.jobs.add("n", PHONE, ""), ValueError, "message"),
    (lambda s: s.jobs.add("n", PHONE, "x", repeat=8), ValueError, "repeat"),  # type: ignore[arg-type]
    (lambda s: s.jobs.add("n", PHONE, "x", repeats=2), ValueError, "repeats"),
    (lambda s: s.jobs.add("n", PHONE, "x", repeat=1, repeats=0), ValueError, "repeats"),
    (lambda s: s.jobs.add("n", PHONE, "x", template=0), ValueError, "template"),
    (lambda s: s.jobs.add("n", PHONE, "x", time=dt.datetime(2030, 1, 1)), ValueError, "aware"),
    (lambda s: s.jobs.list(start="01.01.2024"), TypeError, "start"),  # type: ignore[arg-type]
    (lambda s: s.jobs.get(-1), ValueError, "id"),
    # "G" and Arabic-Indic digits is neither a group nor a number.
    (lambda s: s.jobs.add("j", ["G\u0661"], "Hi"), ValueError, "phone"),
    (lambda s: s.contacts.add("12"), ValueError, "phone"),
    (lambda s: s.contacts.add(PHONE, mail="nope"), ValueError, "mail"),
    (lambda s: s.contacts.add(PHONE, groups=[0]), ValueError, "groups"),
    (lambda s: s.contacts.add(PHONE, groups="1"), TypeError, "groups"),  # type: ignore[arg-type]
    (lambda s: s.contacts.change(PHONE), ValueError, "at least one"),
    (lambda s: s.contacts.change(PHONE, new_phone="x"), ValueError, "new_phone"),
    (lambda s: s.contacts.move(PHONE, 1, action="copy"), ValueError, "action"),  # type: ignore[arg-type]
    (lambda s: s.groups.add(""), ValueError, "name"),
    (lambda s: s.groups.add("g", num=0), ValueError, "num"),
    (lambda s: s.groups.add("g", type=2), ValueError, "type"),  # type: ignore[arg-type]
    (lambda s: s.groups.change(1), ValueError, "name or num"),
    (lambda s: s.blacklist.add(PHONE, scope=3), ValueError, "scope"),  # type: ignore[arg-type]
    (lambda s: s.users.add("has space", "pw"), ValueError, "login"),
    (lambda s: s.users.add("u", ""), ValueError, "password"),
    (lambda s: s.users.add("u", "pw", currency="GBP"), ValueError, "currency"),  # type: ignore[arg-type]
    (lambda s: s.users.add("u", "pw", daily_limit=-1), ValueError, "daily_limit"),
    (lambda s: s.users.change("u"), ValueError, "at least one"),
    (lambda s: s.users.pay("u", 0), ValueError, "amount"),
    (lambda s: s.users.pay("u", "abc"), ValueError, "amount"),
    (lambda s: s.users.pay("u", Decimal("1.005")), ValueError, "amount"),
    (lambda s: s.users.pay("u", 1.5), TypeError, "amount"),  # type: ignore[arg-type]
    (lambda s: s.users.stat("u", start=5), TypeError, "start"),  # type: ignore[arg-type]
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "needle"), BAD_INPUT)
def test_bad_input_never_leaves(call: Call, error: type[Exception], needle: str) -> None:
    assert_refused(call, error, needle)
