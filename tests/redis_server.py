"""A throwaway Redis server for the tests: Debian's ``redis-server`` on a free loopback port.

Import the fixtures into a test module (``from tests.redis_server import redis_url``). With no
``redis-server`` on PATH (``.ci/run`` installs it) the tests that need one skip with the reason.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
import redis

_START_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    """Start a private, non-persistent redis-server; return the process and its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not on PATH (Debian: apt-get install redis-server)")
    workdir = tempfile.mkdtemp(prefix="smsc-redis-")
    for _ in range(3):
        port = _free_port()
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                workdir,
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + _START_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            try:
                with redis.Redis.from_url(url, socket_timeout=0.5) as client:
                    client.ping()
                return process, url
            except redis.ConnectionError:
                time.sleep(0.02)
        # Lost a race for the port (or a slow start): try another one.
        process.kill()
        process.wait()
    pytest.skip("redis-server is installed but could not be started on a loopback port")


def stop_redis(process: subprocess.Popen[bytes]) -> None:
    """Stop a server from :func:`start_redis`."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """One redis-server for the whole run (process, URL)."""
    process, url = start_redis()
    try:
        yield process, url
    finally:
        stop_redis(process)


@pytest.fixture
def redis_url(redis_server: tuple[subprocess.Popen[bytes], str]) -> str:
    """The URL of an empty Redis database (flushed before each test)."""
    process, url = redis_server
    if process.poll() is not None:
        pytest.fail("the test redis-server died")
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    return url
