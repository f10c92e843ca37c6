"""Templates, mailing lists, the phone book and sub-clients, over HTTP to the emulator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import anyio
import pytest

from smsc_async import (
    AuthorizationError,
    DateFormatError,
    InvalidPhoneError,
    IPBlockedError,
    NotFoundError,
    ParameterError,
    PersistError,
    RateLimits,
    Session,
    TooManyRequestsError,
)
from smsc_async.models import Contact, ContactGroup, JobStatus, Template, UserStat
from smsc_async.testing import Emulator, Fault

from .conftest import FAST_RETRY

pytestmark = pytest.mark.anyio

PHONE = "79161234567"
OTHER = "79031234567"
Call = Callable[[Session], Awaitable[Any]]


def _session(url: str, limits: RateLimits, login: str = "demo", password: str = "demo") -> Session:
    return Session(login=login, password=password, base_url=url, limits=limits, retry=FAST_RETRY)


# -- templates.php ------------------------------------------------------------------------------


async def test_templates_round_trip(smsc: Session) -> None:
    assert await smsc.templates() == []
    first = await smsc.add_template("code", "Your code: {code}", format="sms", autosign=True)
    second = await smsc.add_template("promo", "Sale!", sender="Shop")
    assert second > first
    assert await smsc.templates() == [
        Template(id=first, name="code", msg="Your code: {code}", format="sms", autosign=True),
        Template(id=second, name="promo", msg="Sale!", sender="Shop"),
    ]
    await smsc.change_template(first, message="Code: {code}", format="viber", autosign=False)
    changed = (await smsc.templates())[0]
    assert (changed.msg, changed.format, changed.autosign) == ("Code: {code}", "viber", False)
    await smsc.delete_template(second)
    assert [t.id for t in await smsc.templates()] == [first]


async def test_template_errors(smsc: Session, emulator: Emulator) -> None:
    # An unknown id on change comes back as the plain "ERROR = 3 (...)" line despite fmt=3.
    with pytest.raises(NotFoundError) as info:
        await smsc.change_template(999, name="x")
    assert (info.value.code, info.value.endpoint) == (3, "templates")
    with pytest.raises(NotFoundError):
        await smsc.delete_template(999)
    assert emulator.stats.errors_by_path["/sys/templates.php"][3] == 2


# -- jobs.php -----------------------------------------------------------------------------------


async def test_jobs_round_trip(smsc: Session) -> None:
    group = await smsc.add_group("vip")
    await smsc.add_contact(OTHER, groups=[group])
    num = (await smsc.groups())[0].num
    created = await smsc.add_job(
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
    job = await smsc.job(created.id)
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
    now_job = await smsc.add_job("now", PHONE, "Hi")
    assert now_job.cost is None
    assert (await smsc.job(now_job.id)).status is JobStatus.DONE
    await smsc.cancel_job(created.id)
    listed = {j.id: j.status for j in await smsc.jobs()}
    assert listed == {created.id: JobStatus.CANCELLED, now_job.id: JobStatus.DONE}
    await smsc.delete_job(now_job.id)
    assert [j.id for j in await smsc.jobs(start=dt.date(2000, 1, 1))] == [created.id]
    assert await smsc.jobs(end=dt.date(2000, 1, 1)) == []


async def test_job_from_template(smsc: Session) -> None:
    tpl = await smsc.add_template("t", "From the template")
    created = await smsc.add_job("tpl", PHONE, "Given text", template=tpl)
    assert (await smsc.job(created.id)).mes == "Given text"  # the given text wins


async def test_job_errors(smsc: Session) -> None:
    created = await smsc.add_job("now", PHONE, "Hi")
    # Error 3, "error saving a record": cancelling a finished mailing, unknown ids.
    with pytest.raises(PersistError) as info:
        await smsc.cancel_job(created.id)
    assert (info.value.code, info.value.endpoint) == (3, "jobs")
    for call in (smsc.job, smsc.delete_job, smsc.cancel_job):
        with pytest.raises(PersistError):
            await call(999)
    with pytest.raises(PersistError):
        await smsc.add_job("tpl", PHONE, "Hi", template=999)
    with pytest.raises(ParameterError):
        await smsc.add_job("group", "G99", "Hi")  # no such group


async def test_identical_jobs_requests_wait_for_the_rule(
    smsc: Session, emulator: Emulator, limits: RateLimits
) -> None:
    await smsc.jobs()
    started = anyio.current_time()
    await smsc.jobs()  # the limiter holds the identical request for the rest of the window
    assert anyio.current_time() - started >= limits.jobs_identical.window * 0.8
    assert emulator.stats.errors[9] == 0


async def test_identical_jobs_request_from_elsewhere_gets_error_9(
    smsc: Session, live_url: str, limits: RateLimits
) -> None:
    await smsc.jobs()
    async with _session(live_url, limits) as other:  # its own limiter knows nothing of ours
        with pytest.raises(TooManyRequestsError) as info:
            await other.jobs()
    assert info.value.endpoint == "jobs"


# -- phones.php ---------------------------------------------------------------------------------


async def test_phone_book_round_trip(smsc: Session) -> None:
    vip = await smsc.add_group("vip", num=7)
    mail = await smsc.add_group("newsletter", type=1)
    ann = await smsc.add_contact(
        PHONE,
        name="Ann",
        first_name="Anna",
        last_name="K",
        middle_name="P",
        mail="ann@example.com",
        comment="met at fair",
        groups=[vip, mail],
    )
    await smsc.add_contact(OTHER, name="Bob")
    assert await smsc.contacts(group=vip) == [
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
    assert [c.phone for c in await smsc.contacts(search="bob")] == [OTHER]
    groups = await smsc.groups()
    assert groups[0] == ContactGroup(id=vip, name="vip", num=7, type=0, cnt=1)
    assert (groups[1].type, groups[1].num) == (1, 1)
    await smsc.move_contacts([OTHER], vip, action="add")
    await smsc.move_contacts(PHONE, vip, action="remove")
    assert [c.phone for c in await smsc.contacts(group=vip)] == [OTHER]
    await smsc.move_contacts([PHONE, OTHER], mail)  # "move": the only group now
    assert {c.grp for c in await smsc.contacts()} == {(mail,)}
    await smsc.change_contact(PHONE, new_phone="79161234568", name="Anna")
    assert {c.phone: c.name for c in await smsc.contacts()} == {
        "79161234568": "Anna",
        OTHER: "Bob",
    }
    await smsc.change_group(vip, name="VIP", num=8)
    await smsc.delete_group(mail)
    assert [(g.name, g.num, g.cnt) for g in await smsc.groups()] == [("VIP", 8, 0)]
    assert {c.grp for c in await smsc.contacts()} == {()}
    await smsc.delete_contact(OTHER)
    assert [c.phone for c in await smsc.contacts()] == ["79161234568"]


async def test_blacklist(smsc: Session) -> None:
    await smsc.blacklist_add(PHONE)
    await smsc.blacklist_add(OTHER, scope=2)
    await smsc.blacklist_remove(PHONE)
    with pytest.raises(NotFoundError):
        await smsc.blacklist_remove(PHONE)


async def test_phone_book_errors(smsc: Session) -> None:
    await smsc.add_contact(PHONE)
    with pytest.raises(ParameterError, match="exists"):
        await smsc.add_contact(PHONE)
    with pytest.raises(NotFoundError) as info:
        await smsc.add_contact(OTHER, groups=[999])
    assert (info.value.code, info.value.endpoint) == (3, "phones")
    for call in (
        lambda: smsc.change_contact(OTHER, name="x"),
        lambda: smsc.delete_contact(OTHER),
        lambda: smsc.delete_group(999),
        lambda: smsc.change_group(999, name="x"),
        lambda: smsc.move_contacts(PHONE, 999),
        lambda: smsc.contacts(group=999),
    ):
        with pytest.raises(NotFoundError):
            await call()
    # 7 digits pass the client's shape check; the gateway knows no such number.
    with pytest.raises(InvalidPhoneError) as bad:
        await smsc.add_contact("7916123")
    assert bad.value.code == 7
    with pytest.raises(InvalidPhoneError):
        await smsc.blacklist_add("7916123")
    await smsc.add_group("a", num=5)
    with pytest.raises(ParameterError, match="taken"):
        await smsc.add_group("b", num=5)


# -- users.php ----------------------------------------------------------------------------------


async def test_sub_clients(
    smsc: Session, emulator: Emulator, live_url: str, limits: RateLimits
) -> None:
    uid = await smsc.add_user("shop-2", "s3cret!", currency="USD", daily_limit=500, reseller=True)
    assert uid >= 1
    await smsc.pay_user("shop-2", Decimal("50.00"))
    assert (await smsc.balance()).balance == Decimal("950.00")
    async with _session(live_url, limits, "shop-2", "s3cret!") as sub:
        sent = await sub.send(PHONE, "from the sub-client", cost=2)
        assert (await sub.balance()).balance == Decimal("50.00") - (sent.cost or 0)
    stat = await smsc.user_stat("shop-2")
    assert stat == UserStat(
        login="shop-2",
        sms=1,
        credit=sent.cost or Decimal("0"),
        debit=Decimal("50.00"),
        balance=Decimal("50.00") - (sent.cost or 0),
        currency="USD",
    )
    assert (await smsc.user_stat("shop-2", end=dt.date(2000, 1, 1))).sms == 0
    await smsc.add_user("shop-3", "pw")
    assert [s.login for s in await smsc.users_stat(start=dt.date(2000, 1, 1))] == [
        "shop-2",
        "shop-3",
    ]
    await smsc.change_user("shop-2", new_login="shop-two", password="n3w", number_limit=3)
    assert (await smsc.user_stat("shop-two")).sms == 1
    async with _session(live_url, limits, "shop-two", "n3w") as renamed:
        assert (await renamed.balance()).currency == "USD"


async def test_sub_client_errors(smsc: Session) -> None:
    await smsc.add_user("shop-2", "pw")
    with pytest.raises(ParameterError, match="taken"):
        await smsc.add_user("shop-2", "pw")
    with pytest.raises(ParameterError, match="taken"):
        await smsc.add_user("demo", "pw")  # an existing account's login
    with pytest.raises(ParameterError, match="money"):
        await smsc.pay_user("shop-2", Decimal("1000000"))
    for call in (
        lambda: smsc.user_stat("nobody"),
        lambda: smsc.pay_user("nobody", 1),
        lambda: smsc.change_user("nobody", sender="X"),
    ):
        with pytest.raises(NotFoundError) as info:
            await call()
        assert (info.value.code, info.value.endpoint) == (3, "users")


async def test_sub_client_password_change_locks_the_old_one_out(
    smsc: Session, live_url: str, limits: RateLimits
) -> None:
    await smsc.add_user("shop-2", "old")
    await smsc.change_user("shop-2", password="new")
    async with _session(live_url, limits, "shop-2", "old") as stale:
        with pytest.raises(AuthorizationError):
            await stale.balance()


# -- errors shared by every endpoint, and bad input ---------------------------------------------

ENDPOINTS: list[tuple[str, str, Call]] = [
    ("templates", "/sys/templates.php", lambda s: s.templates()),
    ("jobs", "/sys/jobs.php", lambda s: s.add_job("x", PHONE, "Hi")),
    ("phones", "/sys/phones.php", lambda s: s.groups()),
    ("users", "/sys/users.php", lambda s: s.users_stat()),
]
SHARED = [
    (1, ParameterError),
    (2, AuthorizationError),
    (4, IPBlockedError),
    (9, TooManyRequestsError),
]


@pytest.mark.parametrize(("code", "error"), SHARED)
@pytest.mark.parametrize(("name", "path", "call"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
async def test_shared_error_codes(
    smsc: Session,
    emulator: Emulator,
    name: str,
    path: str,
    call: Call,
    code: int,
    error: type[Exception],
) -> None:
    emulator.inject(Fault(kind="error", error_code=code, path=path, times=None))
    with pytest.raises(error) as info:
        await call(smsc)
    assert (info.value.code, info.value.endpoint) == (code, name)  # type: ignore[attr-defined]


async def test_jobs_date_error(smsc: Session, emulator: Emulator) -> None:
    emulator.inject(Fault(kind="error", error_code=5, path="/sys/jobs.php"))
    with pytest.raises(DateFormatError):
        await smsc.add_job("x", PHONE, "Hi", time=dt.timedelta(minutes=5))


async def test_wrong_password_is_error_2(live_url: str, limits: RateLimits) -> None:
    async with _session(live_url, limits, "demo", "wrong") as s:
        with pytest.raises(AuthorizationError):
            await s.templates()


BAD_INPUT: list[tuple[Call, type[Exception], str]] = [
    (lambda s: s.add_template("", "x"), ValueError, "name"),
    (lambda s: s.add_template("n", "x" * 1001), ValueError, "message"),
    (lambda s: s.add_template("n", "x", format="fax"), ValueError, "format"),  # type: ignore[arg-type]
    (lambda s: s.add_template("n", "x", sender="way too long sender"), ValueError, "sender"),
    (lambda s: s.add_template("n", "x", autosign=1), TypeError, "autosign"),  # type: ignore[arg-type]
    (lambda s: s.change_template(1), ValueError, "at least one"),
    (lambda s: s.change_template(0, name="x"), ValueError, "id"),
    (lambda s: s.delete_template("1"), TypeError, "id"),  # type: ignore[arg-type]
    (lambda s: s.add_job("", PHONE, "x"), ValueError, "name"),
    (lambda s: s.add_job("n", "nope", "x"), ValueError, "phones"),
    (lambda s: s.add_job("n", [], "x"), ValueError, "phones"),
    (lambda s: s.add_job("n", PHONE, ""), ValueError, "message"),
    (lambda s: s.add_job("n", PHONE, "x", repeat=8), ValueError, "repeat"),  # type: ignore[arg-type]
    (lambda s: s.add_job("n", PHONE, "x", repeats=2), ValueError, "repeats"),
    (lambda s: s.add_job("n", PHONE, "x", repeat=1, repeats=0), ValueError, "repeats"),
    (lambda s: s.add_job("n", PHONE, "x", template=0), ValueError, "template"),
    (lambda s: s.add_job("n", PHONE, "x", time=dt.datetime(2030, 1, 1)), ValueError, "aware"),
    (lambda s: s.jobs(start="01.01.2024"), TypeError, "start"),  # type: ignore[arg-type]
    (lambda s: s.job(-1), ValueError, "id"),
    (lambda s: s.add_contact("12"), ValueError, "phone"),
    (lambda s: s.add_contact(PHONE, mail="nope"), ValueError, "mail"),
    (lambda s: s.add_contact(PHONE, groups=[0]), ValueError, "groups"),
    (lambda s: s.add_contact(PHONE, groups="1"), TypeError, "groups"),  # type: ignore[arg-type]
    (lambda s: s.change_contact(PHONE), ValueError, "at least one"),
    (lambda s: s.change_contact(PHONE, new_phone="x"), ValueError, "new_phone"),
    (lambda s: s.move_contacts(PHONE, 1, action="copy"), ValueError, "action"),  # type: ignore[arg-type]
    (lambda s: s.add_group(""), ValueError, "name"),
    (lambda s: s.add_group("g", num=0), ValueError, "num"),
    (lambda s: s.add_group("g", type=2), ValueError, "type"),  # type: ignore[arg-type]
    (lambda s: s.change_group(1), ValueError, "name or num"),
    (lambda s: s.blacklist_add(PHONE, scope=3), ValueError, "scope"),  # type: ignore[arg-type]
    (lambda s: s.add_user("has space", "pw"), ValueError, "login"),
    (lambda s: s.add_user("u", ""), ValueError, "password"),
    (lambda s: s.add_user("u", "pw", currency="GBP"), ValueError, "currency"),  # type: ignore[arg-type]
    (lambda s: s.add_user("u", "pw", daily_limit=-1), ValueError, "daily_limit"),
    (lambda s: s.change_user("u"), ValueError, "at least one"),
    (lambda s: s.pay_user("u", 0), ValueError, "amount"),
    (lambda s: s.pay_user("u", "abc"), ValueError, "amount"),
    (lambda s: s.pay_user("u", Decimal("1.005")), ValueError, "amount"),
    (lambda s: s.pay_user("u", 1.5), TypeError, "amount"),  # type: ignore[arg-type]
    (lambda s: s.user_stat("u", start=5), TypeError, "start"),  # type: ignore[arg-type]
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "needle"), BAD_INPUT)
async def test_bad_input_never_leaves(
    smsc: Session, emulator: Emulator, call: Call, error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=needle):
        await call(smsc)
    assert sum(emulator.stats.requests.values()) == 0
