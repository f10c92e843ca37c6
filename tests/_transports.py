"""Pytest plugin: every test that talks HTTP runs on both HTTP backends under asyncio.

A test "talks HTTP" when its fixtures include ``live_url`` (the emulator on a real loopback
socket; the ``smsc`` fixture uses it) or it carries ``@pytest.mark.http``. Such a test runs as
``[asyncio]`` (httpx), ``[asyncio-aiohttp]`` and ``[trio]`` (httpx: aiohttp has no trio support),
so the extra backend adds one asyncio run per HTTP test and no trio run; tests that inject a
``transport=`` (the in-process ASGI emulator) never reach either backend and run once per async
backend as before.

``--http-backend`` (or ``SMSC_TEST_HTTP_BACKEND``) chooses:

* ``both`` (the default when ``httpx-aiohttp`` is installed, as the ``test`` extra does): the
  three runs above;
* ``httpx``: the old two runs;
* ``aiohttp``: every asyncio test, HTTP or not, with aiohttp as the session's default backend,
  and trio on httpx -- to run the whole suite against aiohttp once.

The backend reaches the code under test as the default of ``Session(http_backend=None)``,
patched for the one test; a test may also ask for the ``http_backend`` fixture to see it.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import pytest

from smsc_async import _http

_MODES = ("both", "httpx", "aiohttp")
_RUNS = [("asyncio", "httpx"), ("asyncio", "aiohttp"), ("trio", "httpx")]
_IDS = ["asyncio", "asyncio-aiohttp", "trio"]


def _have_aiohttp() -> bool:
    return importlib.util.find_spec("httpx_aiohttp") is not None


def pytest_addoption(parser: pytest.Parser) -> None:
    default = os.environ.get("SMSC_TEST_HTTP_BACKEND") or ("both" if _have_aiohttp() else "httpx")
    parser.addoption(
        "--http-backend",
        choices=_MODES,
        default=default,
        help="HTTP backends for tests that talk HTTP (default: both when aiohttp is installed)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "http: talks HTTP over a real socket: runs on each HTTP backend under asyncio"
    )
    if config.getoption("--http-backend") != "httpx" and not _have_aiohttp():
        raise pytest.UsageError(
            "--http-backend=both/aiohttp needs: pip install 'smsc-async[aiohttp]'"
        )


def _talks_http(metafunc: pytest.Metafunc) -> bool:
    return "live_url" in metafunc.fixturenames or any(
        True for _ in metafunc.definition.iter_markers("http")
    )


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Before pytest applies anyio_backend's own params: a parametrize mark naming it takes
    # precedence over them, so the three runs replace the two instead of multiplying them.
    if metafunc.config.getoption("--http-backend") != "both":
        return
    if "anyio_backend" not in metafunc.fixturenames or not _talks_http(metafunc):
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        if "anyio_backend" in str(mark.args[0]):
            return  # the test chose its backends itself
    metafunc.definition.add_marker(
        pytest.mark.parametrize(("anyio_backend", "http_backend"), _RUNS, ids=_IDS)
    )


@pytest.fixture
def http_backend(request: pytest.FixtureRequest) -> str:
    """The session's default HTTP backend in this test (when not parametrized by the plugin)."""
    if request.config.getoption("--http-backend") == "aiohttp" and (
        "anyio_backend" in request.fixturenames
        and request.getfixturevalue("anyio_backend") == "asyncio"
    ):
        return "aiohttp"
    return "httpx"


@pytest.fixture(autouse=True)
def _session_default_http_backend(http_backend: _http.HttpBackend) -> Iterator[None]:
    saved = _http.DEFAULT_BACKEND
    _http.DEFAULT_BACKEND = http_backend
    yield
    _http.DEFAULT_BACKEND = saved
