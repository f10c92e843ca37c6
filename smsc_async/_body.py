"""Reading an answer body with a bound on its size, counted after decompression.

httpx's own decoders inflate a whole network chunk at once (a 64 KiB gzip chunk can become 64 MiB),
so the session asks only for the encodings handled here and inflates the raw stream itself, never
producing more than the cap allows.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

import httpx

from ._http import _Body

__all__ = ["ACCEPT_ENCODING", "BadEncoding", "BodyTooLarge", "read_body"]

#: The ``Accept-Encoding`` the session sends: the encodings :func:`read_body` can bound.
ACCEPT_ENCODING = "gzip, deflate"


class BodyTooLarge(Exception):
    """The answer exceeds the size cap (``size`` bytes seen so far, or announced)."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class BadEncoding(Exception):
    """The answer uses a content encoding the session did not ask for, or its data is corrupt."""


class _Inflater:
    """One zlib stream inflated under a limit (gzip or deflate, with or without its header)."""

    __slots__ = ("_encoding", "_obj", "_raw_fallback", "_started")

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._raw_fallback = encoding == "deflate"
        # Servers send "deflate" both zlib-wrapped (RFC 1950) and raw (RFC 1951): try the wrapper.
        wbits = zlib.MAX_WBITS | 16 if encoding != "deflate" else zlib.MAX_WBITS
        self._obj = zlib.decompressobj(wbits)
        self._started = False

    def feed(self, data: bytes, room: int) -> bytes:
        """Inflate ``data``, producing at most ``room`` bytes; raise when more would come."""
        try:
            try:
                out = self._obj.decompress(data, room + 1)
            except zlib.error:
                if not (self._raw_fallback and not self._started):
                    raise
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                out = self._obj.decompress(data, room + 1)
        except zlib.error as exc:
            raise BadEncoding(f"corrupt {self._encoding} data: {exc}") from None
        self._started = True
        if len(out) > room or self._obj.unconsumed_tail:
            raise BodyTooLarge(room + 1)
        return out


def _encodings(response: httpx.Response) -> list[str]:
    header = response.headers.get("content-encoding", "")
    names = [name.strip().lower() for name in header.split(",") if name.strip()]
    names = [name for name in names if name != "identity"]
    for name in names:
        if name not in ("gzip", "x-gzip", "deflate"):
            raise BadEncoding(f"{name!r}, which was not asked for")
    return names


async def read_body(response: httpx.Response, limit: int) -> bytes:
    """The decoded body of a streamed ``response``, at most ``limit`` bytes.

    Raises :class:`BodyTooLarge` as soon as more would come (before reading the rest), and
    :class:`BadEncoding` for an encoding it cannot bound or data it cannot inflate.
    """
    if response.is_stream_consumed:
        # Already in memory (a response built with content=, as httpx.MockTransport handlers
        # build them; httpx decoded it then): nothing is left to bound but its size.
        content = response.content
        if len(content) > limit:
            raise BodyTooLarge(len(content))
        return content
    encodings = _encodings(response)
    announced = response.headers.get("content-length")
    if not encodings and announced is not None and announced.isdigit() and int(announced) > limit:
        raise BodyTooLarge(int(announced))
    # Encodings apply in the order listed, so they are undone from the last one.
    inflaters = [_Inflater(name) for name in reversed(encodings)]
    parts: list[bytes] = []
    size = 0
    stream = response.stream
    chunks: AsyncIterator[bytes]
    if type(stream) is _Body and not response.is_closed:
        # The aiohttp backend's body read as it comes, without the layer aiter_raw adds over
        # it (re-chunking, and setting on failures the request _Body sets already).
        response.is_stream_consumed = True
        chunks = stream.__aiter__()
    else:
        chunks = response.aiter_raw()
    done = False
    try:
        async for chunk in chunks:
            for inflater in inflaters:
                # Each stage may at most fill what is left (an inner stage is bounded alike).
                chunk = inflater.feed(chunk, limit - size)
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(size)
            parts.append(chunk)
        done = True
    finally:
        if not done:
            await _abandon(response, chunks)
    return b"".join(parts)


async def _abandon(response: httpx.Response, chunks: AsyncIterator[bytes]) -> None:
    """Stop reading ``response`` midway without leaving httpx's stream generators suspended.

    Closing the generator alone leaves the ones nested inside httpx to the garbage collector
    (trio warns about each). So the connection is closed first; resumed, every generator in the
    chain then ends on the closed stream, after at most what was already buffered.
    """
    await response.aclose()
    try:
        async for _ in chunks:
            pass
    except Exception:  # the closed stream's own error: expected, and nothing to report
        pass
