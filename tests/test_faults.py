"""Hostile answers over real loopback sockets: trickling, bloated, gzip bombs, deep JSON.

The servers run in the test's event loop; under trio the loop runs on a ``MockClock``, so the
deadlines below are checked exactly in virtual time.
"""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from typing import Any

import anyio
import anyio.abc
import pytest
import trio.testing

from smsc_async import (
    ProtocolError,
    RequestTimeout,
    SendUnconfirmedError,
    Session,
)

from .raw_http import raw_server, response_head

pytestmark = pytest.mark.anyio

PHONE = "79161234567"
MiB = 1024 * 1024
#: Far longer than any deadline here: a test that reaches it failed (the old code hung).
GUARD = 60.0


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    if request.param == "trio":
        return ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)})
    return "asyncio"


def _virtual(anyio_backend: Any) -> bool:
    return isinstance(anyio_backend, tuple)


async def _trickle_head(stream: anyio.abc.SocketStream, request: bytes) -> None:
    # A byte of the status line every 0.2 s: each read succeeds, the answer never completes.
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}" * 1000:
        await stream.send(bytes([byte]))
        await anyio.sleep(0.2)


async def _trickle_body(stream: anyio.abc.SocketStream, request: bytes) -> None:
    await stream.send(response_head(200, content_length=10_000))
    for _ in range(10_000):
        await stream.send(b" ")
        await anyio.sleep(0.2)


@pytest.mark.parametrize("trickle", [_trickle_head, _trickle_body])
async def test_timeout_bounds_the_whole_request(anyio_backend: Any, trickle: Any) -> None:
    async with (
        raw_server(trickle) as url,
        Session("demo", "demo", base_url=url, timeout=1.0, retry=None) as smsc,
    ):
        with anyio.fail_after(GUARD):
            started = anyio.current_time()
            with pytest.raises(RequestTimeout, match="within 1 s"):
                await smsc.balance()
            ended = anyio.current_time()

    assert ended - started >= 1.0
    if _virtual(anyio_backend):
        assert ended - started == pytest.approx(1.0, abs=1e-9)


async def test_trickled_send_is_unconfirmed_at_its_deadline(anyio_backend: Any) -> None:
    async with (
        raw_server(_trickle_body) as url,
        Session("demo", "demo", base_url=url, timeout=1.0) as smsc,
    ):
        with anyio.fail_after(GUARD):
            started = anyio.current_time()
            with pytest.raises(SendUnconfirmedError) as info:
                await smsc.send(PHONE, "hello")
            ended = anyio.current_time()

    err = info.value
    assert err.reason == "timeout" and err.deadline is not None
    assert ended >= err.deadline
    if _virtual(anyio_backend):
        assert err.deadline == pytest.approx(started + 1.0, abs=1e-9)
        assert ended == pytest.approx(err.deadline, abs=1e-9)


def _counting(chunks: int, *, length: bool, gzip: bytes | None = None) -> tuple[Any, list[int]]:
    """A server answering 1 MiB chunks of spaces (or a gzip body); it counts the bytes it sent."""
    sent = [0]
    chunk = b" " * MiB

    async def handler(stream: anyio.abc.SocketStream, request: bytes) -> None:
        if gzip is not None:
            await stream.send(response_head(200, content_encoding="gzip", content_length=len(gzip)))
            for i in range(0, len(gzip), 16384):
                await stream.send(gzip[i : i + 16384])
                sent[0] += len(gzip[i : i + 16384])
            return
        head = response_head(200, content_length=chunks * MiB) if length else response_head(200)
        await stream.send(head)
        for _ in range(chunks):
            await stream.send(chunk)
            sent[0] += MiB

    return handler, sent


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """512 MiB of spaces, gzip-compressed to about half a megabyte."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = b" " * MiB
    parts = [packer.compress(block) for _ in range(512)]
    parts.append(packer.flush())
    return b"".join(parts)


async def _peak_during(call: Any) -> tuple[BaseException | None, int]:
    tracemalloc.start()
    try:
        error: BaseException | None = None
        try:
            await call()
        except Exception as exc:
            error = exc
        return error, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "until-close"])
async def test_a_500_mb_answer_is_refused_early(anyio_backend: Any, length: bool) -> None:
    handler, sent = _counting(500, length=length)
    async with (
        raw_server(handler) as url,
        Session("demo", "demo", base_url=url, timeout=GUARD) as smsc,
    ):
        with anyio.fail_after(GUARD):
            error, peak = await _peak_during(smsc.balance)

    assert isinstance(error, ProtocolError), error
    assert "max_response_size" in str(error)
    assert peak < 32 * MiB  # the 4 MiB cap plus buffers, never the body
    assert sent[0] < 100 * MiB  # the rest was never even read


async def test_a_gzip_bomb_is_refused_before_it_inflates(
    anyio_backend: Any, gzip_bomb: bytes
) -> None:
    assert len(gzip_bomb) < MiB
    handler, _ = _counting(0, length=True, gzip=gzip_bomb)
    async with (
        raw_server(handler) as url,
        Session("demo", "demo", base_url=url, timeout=GUARD) as smsc,
    ):
        with anyio.fail_after(GUARD):
            error, peak = await _peak_during(smsc.balance)

    assert isinstance(error, ProtocolError), error
    assert "max_response_size" in str(error)
    assert peak < 32 * MiB


async def test_a_gzip_answer_within_the_cap_is_read(anyio_backend: Any) -> None:
    body = gzip.compress(b'{"balance": "12.50", "currency": "RUB"}')

    async def handler(stream: anyio.abc.SocketStream, request: bytes) -> None:
        assert b"accept-encoding: gzip, deflate\r\n" in request.lower()
        await stream.send(response_head(200, content_encoding="gzip", content_length=len(body)))
        await stream.send(body)

    async with raw_server(handler) as url, Session("demo", "demo", base_url=url) as smsc:
        assert str((await smsc.balance()).balance) == "12.50"


async def test_max_response_size_is_configurable(anyio_backend: Any) -> None:
    body = b'{"balance": "1.00", "currency": "' + b"R" * 5000 + b'"}'

    async def handler(stream: anyio.abc.SocketStream, request: bytes) -> None:
        await stream.send(response_head(200) + body)

    async with (
        raw_server(handler) as url,
        Session("demo", "demo", base_url=url, max_response_size=4096) as smsc,
    ):
        with pytest.raises(ProtocolError, match="max_response_size"):
            await smsc.balance()

        async with Session("demo", "demo", base_url=url, max_response_size=8192) as smsc:
            assert (await smsc.balance()).currency == "R" * 5000


async def test_an_unasked_encoding_is_a_protocol_error(anyio_backend: Any) -> None:
    async def handler(stream: anyio.abc.SocketStream, request: bytes) -> None:
        await stream.send(response_head(200, content_encoding="br", content_length=4) + b"xxxx")

    async with raw_server(handler) as url, Session("demo", "demo", base_url=url) as smsc:
        with pytest.raises(ProtocolError, match="encoding"):
            await smsc.balance()


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000],
    ids=["lists", "objects"],
)
async def test_deeply_nested_json_over_the_wire(anyio_backend: Any, body: bytes) -> None:
    async def handler(stream: anyio.abc.SocketStream, request: bytes) -> None:
        await stream.send(response_head(200, content_length=len(body)) + body)

    async with raw_server(handler) as url, Session("demo", "demo", base_url=url) as smsc:
        with pytest.raises(ProtocolError, match="nested too deeply"):
            await smsc.balance()


def test_constructor_checks_the_new_options() -> None:
    with pytest.raises(TypeError, match="max_response_size"):
        Session("a", "b", max_response_size=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_response_size"):
        Session("a", "b", max_response_size=10)
    with pytest.raises(ValueError, match="timeout"):
        Session("a", "b", timeout=0)
    with pytest.raises(ValueError, match="timeout"):
        Session("a", "b", timeout=float("inf"))
    with pytest.raises(TypeError, match="timeout"):
        Session("a", "b", timeout="30")  # type: ignore[arg-type]
    assert Session("a", "b", timeout=2).timeout == 2.0


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
async def test_deflate_answers_in_both_framings(anyio_backend: Any, wbits: int) -> None:
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    body = packer.compress(b'{"balance": "3.00"}') + packer.flush()

    async def handler(stream: anyio.abc.SocketStream, request: bytes) -> None:
        head = response_head(200, content_encoding="deflate", content_length=len(body))
        await stream.send(head + body)

    async with raw_server(handler) as url, Session("demo", "demo", base_url=url) as smsc:
        assert str((await smsc.balance()).balance) == "3.00"


async def test_corrupt_gzip_is_a_protocol_error(anyio_backend: Any) -> None:
    body = gzip.compress(b'{"balance": "1"}')
    body = body[:10] + bytes(b ^ 0x55 for b in body[10:])

    async def handler(stream: anyio.abc.SocketStream, request: bytes) -> None:
        await stream.send(response_head(200, content_encoding="gzip", content_length=len(body)))
        await stream.send(body)

    async with raw_server(handler) as url, Session("demo", "demo", base_url=url) as smsc:
        with pytest.raises(ProtocolError, match="corrupt gzip"):
            await smsc.balance()
