"""Sender names (senders.php) end to end, over real HTTP to the emulator."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from smsc_async import (
    APIError,
    AuthorizationError,
    CodeAlreadySentError,
    InvalidPhoneError,
    IPBlockedError,
    ParameterError,
    PersistError,
    SenderNotFoundError,
    Session,
    TooManyRequestsError,
    UndeliverableError,
    WrongCodeError,
)
from smsc_async.models import OperatorStatus, SenderName, SenderStatus
from smsc_async.testing import RESERVED, Emulator, Fault
from smsc_async.testing._records import OPERATOR_FIELDS, add_sender, records, sender_code

from ._input import assert_refused

pytestmark = pytest.mark.anyio

PATH = "/sys/senders.php"
NUMBER = "79161234567"


async def test_list_shows_allowed_names_by_default(smsc: Session, emulator: Emulator) -> None:
    assert await smsc.senders.list() == []
    shop = add_sender(emulator, "demo", "Shop")
    add_sender(emulator, "demo", "Pending", status=0)
    add_sender(emulator, "demo", "Off", status=2)
    assert await smsc.senders.list() == [SenderName(sender="Shop", id=shop.id)]


async def test_list_all_carries_the_status(smsc: Session, emulator: Emulator) -> None:
    add_sender(emulator, "demo", "Shop")
    add_sender(emulator, "demo", "Pending", status=0)
    add_sender(emulator, "demo", "Off", status=2)
    names = await smsc.senders.list(all=True)
    assert [(s.sender, s.status) for s in names] == [
        ("Shop", SenderStatus.ALLOWED),
        ("Pending", SenderStatus.MODERATION),
        ("Off", SenderStatus.DISABLED),
    ]
    assert all(s.operators == {} for s in names)


async def test_list_with_operator_statuses(smsc: Session, emulator: Emulator) -> None:
    add_sender(
        emulator,
        "demo",
        "Shop",
        operators={"mts_step": 3, "mega_int": 8, "by_reg": 255, "tele2": 7},
    )
    [shop] = await smsc.senders.list(operators=True)
    statuses = shop.operators
    assert set(statuses) == set(OPERATOR_FIELDS)
    assert statuses["mts_step"] is OperatorStatus.REJECTED
    assert statuses["mega_int"] is OperatorStatus.DOCUMENTS_REQUIRED
    assert statuses["by_reg"] is OperatorStatus.DEREGISTERING
    assert statuses["tele2"].name == "UNKNOWN_7"  # a code the documentation does not list
    assert statuses["bee_step"] is OperatorStatus.ALLOWED  # unset: allowed name, allowed
    assert shop.status is None


async def test_add_then_moderation(smsc: Session, emulator: Emulator) -> None:
    first = await smsc.senders.add("Shop", comment="our shop")
    second = await smsc.senders.add("Cafe")
    assert second == first + 1
    assert await smsc.senders.list() == []  # both wait for moderation
    names = await smsc.senders.list(all=True)
    assert [(s.id, s.sender, s.status) for s in names] == [
        (first, "Shop", SenderStatus.MODERATION),
        (second, "Cafe", SenderStatus.MODERATION),
    ]
    assert records(emulator.account("demo")).sender("shop").comment == "our shop"  # type: ignore[union-attr]


async def test_add_existing_name_is_a_persist_error(smsc: Session) -> None:
    await smsc.senders.add("Shop")
    with pytest.raises(PersistError) as info:
        await smsc.senders.add("SHOP")
    assert info.value.code == 5
    assert info.value.endpoint == "senders"


async def test_change_renames_and_comments(smsc: Session, emulator: Emulator) -> None:
    shop = add_sender(emulator, "demo", "Shop")
    await smsc.senders.change(shop.id, comment="new comment")
    assert shop.comment == "new comment"
    assert shop.status == 1
    await smsc.senders.change(shop.id, sender="ShopNew")
    assert await smsc.senders.list() == []  # a new name is moderated again
    [renamed] = await smsc.senders.list(all=True)
    assert (renamed.id, renamed.sender, renamed.status) == (
        shop.id,
        "ShopNew",
        SenderStatus.MODERATION,
    )


async def test_change_errors(smsc: Session, emulator: Emulator) -> None:
    shop = add_sender(emulator, "demo", "Shop")
    add_sender(emulator, "demo", "Cafe")
    with pytest.raises(PersistError):
        await smsc.senders.change(shop.id, sender="Cafe")
    with pytest.raises(SenderNotFoundError) as info:
        await smsc.senders.change(999, comment="x")
    assert info.value.code == 3


async def test_confirm_a_digit_sender(smsc: Session, emulator: Emulator) -> None:
    await smsc.senders.add(NUMBER)
    await smsc.senders.send_code("+" + NUMBER)
    code = sender_code(emulator, "demo", NUMBER)
    assert code is not None
    assert len(code) == 6
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(WrongCodeError) as info:
        await smsc.senders.confirm(NUMBER, wrong)
    assert info.value.code == 11
    await smsc.senders.confirm(NUMBER, code)
    assert [s.sender for s in await smsc.senders.list()] == [NUMBER]


async def test_code_goes_out_once_in_eight_hours(smsc: Session, emulator: Emulator) -> None:
    add_sender(emulator, "demo", NUMBER, status=0)
    await smsc.senders.send_code(NUMBER)
    with pytest.raises(CodeAlreadySentError) as info:
        await smsc.senders.send_code(NUMBER)
    assert info.value.code == 10


async def test_code_without_sending_is_wrong(smsc: Session, emulator: Emulator) -> None:
    add_sender(emulator, "demo", NUMBER, status=0)
    with pytest.raises(WrongCodeError):
        await smsc.senders.confirm(NUMBER, "123456")


async def test_code_errors(smsc: Session, emulator: Emulator) -> None:
    undeliverable = RESERVED.undeliverable + "123"
    add_sender(emulator, "demo", undeliverable, status=0)
    with pytest.raises(UndeliverableError) as undelivered:
        await smsc.senders.send_code(undeliverable)
    assert undelivered.value.code == 8
    # 13 digits starting with 7: a phone number to the client, no Russian number to the gateway.
    with pytest.raises(InvalidPhoneError) as invalid:
        await smsc.senders.send_code("7123456789012")
    assert invalid.value.code == 7
    with pytest.raises(SenderNotFoundError):
        await smsc.senders.send_code("79031234567")
    with pytest.raises(SenderNotFoundError):
        await smsc.senders.confirm("79031234567", "123456")


async def test_delete_by_name_and_by_id(smsc: Session, emulator: Emulator) -> None:
    shop = add_sender(emulator, "demo", "Shop")
    add_sender(emulator, "demo", "Cafe")
    await smsc.senders.delete("shop")
    cafe_id = (await smsc.senders.list())[0].id
    await smsc.senders.delete(cafe_id)
    assert await smsc.senders.list(all=True) == []
    with pytest.raises(SenderNotFoundError):
        await smsc.senders.delete(shop.id)
    with pytest.raises(SenderNotFoundError):
        await smsc.senders.delete("Shop")


_Call = Callable[[Session], Awaitable[Any]]
CALLS: list[tuple[str, _Call]] = [
    ("senders", lambda s: s.senders.list(all=True)),
    ("add_sender", lambda s: s.senders.add("Shop")),
    ("change_sender", lambda s: s.senders.change(1, comment="x")),
    ("send_sender_code", lambda s: s.senders.send_code(NUMBER)),
    ("confirm_sender", lambda s: s.senders.confirm(NUMBER, "123456")),
    ("delete_sender", lambda s: s.senders.delete("Shop")),
]


CODES: list[tuple[int, type[APIError]]] = [
    (1, ParameterError),
    (2, AuthorizationError),
    (3, SenderNotFoundError),
    (4, IPBlockedError),
    (5, PersistError),
    (7, InvalidPhoneError),
    (8, UndeliverableError),
    (10, CodeAlreadySentError),
    (11, WrongCodeError),
    (6, APIError),  # not a senders code: the plain APIError
]
# Every code through some command, and every command at least once: one error table serves all.
MATRIX = [(*CODES[i], *CALLS[i % len(CALLS)]) for i in range(len(CODES))]


# Decoding does not depend on the backend: one is enough.
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize(
    ("code", "cls", "name", "call"), MATRIX, ids=[f"{m[0]}-{m[2]}" for m in MATRIX]
)
async def test_every_code_maps_to_its_class(
    smsc: Session, emulator: Emulator, code: int, cls: type[APIError], name: str, call: _Call
) -> None:
    emulator.inject(Fault(kind="error", error_code=code, path=PATH, text="from the fault"))
    with pytest.raises(cls) as info:
        await call(smsc)
    assert type(info.value) is cls
    assert (info.value.code, info.value.message, info.value.endpoint) == (
        code,
        "from the fault",
        "senders",
    )


async def test_error_9_is_retried(smsc: Session, emulator: Emulator) -> None:
    emulator.inject(Fault(kind="error", error_code=9, path=PATH, times=2))
    assert await smsc.senders.add("Shop") == 1
    emulator.inject(Fault(kind="error", error_code=9, path=PATH, times=None))
    with pytest.raises(TooManyRequestsError):
        await smsc.senders.list()


async def test_rate_rules_are_kept(smsc: Session, emulator: Emulator) -> None:
    # Three identical list requests a minute and five additions a minute (0.6 s here).
    window = smsc.limits.senders_add.window
    start = anyio.current_time()
    for n in range(6):
        await smsc.senders.add(f"Shop{n}")
    for _ in range(4):
        await smsc.senders.list(all=True)
    assert anyio.current_time() - start >= window * 0.9
    assert emulator.stats.errors[9] == 0
    assert emulator.stats.requests[PATH] == 10


@pytest.mark.parametrize(
    ("call", "exc"),
    [
        (lambda s: s.senders.list(all=1), TypeError),
        (lambda s: s.senders.list(operators="yes"), TypeError),
        (lambda s: s.senders.add(""), ValueError),
        (lambda s: s.senders.add("."), ValueError),
        (lambda s: s.senders.add("TwelveChars!"), ValueError),
        (lambda s: s.senders.add("Шоп"), ValueError),
        (lambda s: s.senders.add("1234567890123456"), ValueError),
        (lambda s: s.senders.add(42), TypeError),
        (lambda s: s.senders.add("Shop", comment=1), TypeError),
        (lambda s: s.senders.change(1), ValueError),
        (lambda s: s.senders.change(0, comment="x"), ValueError),
        (lambda s: s.senders.change("Shop", comment="x"), TypeError),
        (lambda s: s.senders.change(1, sender="x" * 12), ValueError),
        (lambda s: s.senders.send_code("Shop"), ValueError),
        (lambda s: s.senders.send_code("12345"), ValueError),
        (lambda s: s.senders.confirm(NUMBER, ""), ValueError),
        (lambda s: s.senders.confirm(NUMBER, "12a4"), ValueError),
        (lambda s: s.senders.confirm(NUMBER, 1234), TypeError),
        (lambda s: s.senders.delete(0), ValueError),
        (lambda s: s.senders.delete(True), TypeError),
        (lambda s: s.senders.delete(None), TypeError),
        (lambda s: s.senders.delete(""), ValueError),
    ],
)
def test_bad_input_never_leaves(call: _Call, exc: type[Exception]) -> None:
    assert_refused(call, exc)
