"""Public classes are shown under the names users import them by, never a private module's."""

from __future__ import annotations

import pickle
import traceback

import httpx
import pytest

import smsc_async
from smsc_async import AuthorizationError, ConnectError, Session

ERRORS = [
    obj
    for obj in (getattr(smsc_async, name) for name in smsc_async.__all__)
    if isinstance(obj, type) and issubclass(obj, BaseException)
]


def test_there_are_errors_to_check() -> None:
    assert len(ERRORS) >= 30
    assert ConnectError in ERRORS


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_every_error_names_its_public_home(cls: type[BaseException]) -> None:
    assert cls.__module__ == "smsc_async"
    assert getattr(smsc_async, cls.__qualname__) is cls
    # pickle (and anything else that imports a class by module and name) finds it there.
    assert pickle.loads(pickle.dumps(cls)) is cls


def _last_line(exc: BaseException) -> str:
    return traceback.format_exception(exc)[-1]


def test_traceback_shows_the_public_name() -> None:
    with pytest.raises(ConnectError) as info:
        raise ConnectError("send: cannot connect", endpoint="send")
    assert _last_line(info.value) == "smsc_async.ConnectError: send: cannot connect\n"
    assert "_errors" not in "".join(traceback.format_exception(info.value))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # naming does not depend on the event loop


@pytest.mark.anyio
async def test_errors_from_the_pipeline_show_the_public_name() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    # retry=None: a read's connect failure is retried (with real waits) by the default policy.
    async with Session("demo", "demo", transport=httpx.MockTransport(refuse), retry=None) as smsc:
        with pytest.raises(ConnectError) as info:
            await smsc.balance()
    assert _last_line(info.value).startswith("smsc_async.ConnectError: balance: cannot connect")
    # The chained httpx error keeps its own name: only ours are renamed.
    formatted = "".join(traceback.format_exception(info.value))
    assert "httpx.ConnectError: connection refused" in formatted

    def wrong_password(request: httpx.Request) -> httpx.Response:
        body = b'{"error": "authorise error", "error_code": 2}'
        return httpx.Response(200, stream=httpx.ByteStream(body))

    async with Session("demo", "nope", transport=httpx.MockTransport(wrong_password)) as smsc:
        with pytest.raises(AuthorizationError) as auth:
            await smsc.balance()
    assert _last_line(auth.value) == (
        "smsc_async.AuthorizationError: balance: error 2 (authorise error)\n"
    )


def test_every_error_class_of_the_package_is_exported_under_its_public_name() -> None:
    from smsc_async import _errors

    defined = [
        obj
        for obj in vars(_errors).values()
        if isinstance(obj, type) and issubclass(obj, smsc_async.SMSCError)
    ]
    assert set(defined) == set(ERRORS)


@pytest.mark.anyio
async def test_mock_transport_answers_are_read() -> None:
    # httpx documents MockTransport for testing code that uses it: users test this way.
    def balance(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"balance": "10.00", "currency": "RUR"})

    async with Session("demo", "demo", transport=httpx.MockTransport(balance)) as smsc:
        assert (await smsc.balance()).currency == "RUR"
