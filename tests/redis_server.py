"""Throwaway Redis servers for the tests: Debian's ``redis-server`` on free loopback ports.

Import the fixtures into a test module (``from tests.redis_server import redis_url``). With no
``redis-server`` (or, for the cluster, no ``redis-cli``) on PATH (``.ci/run`` installs them) the
tests that need one skip with the reason.

* :func:`redis_server` / :func:`redis_url`: one server for the whole run, flushed per test;
* :func:`private_redis`: a server of the test's own, to pause (SIGSTOP), kill and restart;
* :func:`redis_cluster`: a three-master Redis Cluster, started and joined by the fixture.

Every server runs with ``--enable-debug-command local`` so a test can stall it with
``DEBUG SLEEP`` (loopback only; never in production).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
import redis

_START_TIMEOUT = 10.0


# A cluster node also listens on its port + 10000 (the cluster bus) and refuses to start on a
# port above 55535; the kernel's free ports reach 60999, a fifth of them too high.
CLUSTER_BUS_OFFSET = 10000
MAX_CLUSTER_PORT = 65535 - CLUSTER_BUS_OFFSET


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, cluster: bool = False) -> int:
    """A free loopback port; for a cluster node, one below 55536 whose bus port is free too."""
    if not cluster:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    while True:
        # From the kernel's usual ephemeral range, below the cluster's limit.
        port = random.randrange(32768, MAX_CLUSTER_PORT + 1)
        if _bindable(port) and _bindable(port + CLUSTER_BUS_OFFSET):
            return port


def _binary(name: str) -> str:
    binary = shutil.which(name)
    if binary is None:
        pytest.skip(f"{name} is not on PATH (Debian: apt-get install redis-server redis-tools)")
    return binary


class RedisProcess:
    """One ``redis-server`` on a loopback port: its URL, and ways to pause, kill and restart it."""

    def __init__(self, *, port: int | None = None, cluster: bool = False) -> None:
        self.binary = _binary("redis-server")
        self.workdir = tempfile.mkdtemp(prefix="smsc-redis-")
        self.cluster = cluster
        self.process: subprocess.Popen[bytes] | None = None
        for _ in range(3):
            self.port = port if port is not None else free_port(cluster=cluster)
            if self._start():
                return
            if port is not None:
                break
        pytest.skip("redis-server is installed but could not be started on a loopback port")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _start(self) -> bool:
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self.workdir,
            "--daemonize",
            "no",
            "--enable-debug-command",
            "local",
            "--logfile",
            f"{self.workdir}/redis-{self.port}.log",
        ]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{self.port}.conf"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + _START_TIMEOUT
        while self.process.poll() is None and time.monotonic() < deadline:
            try:
                with redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.5) as client:
                    # The free port may have been taken meanwhile by another run's server (xdist
                    # workers, a neighbour's suite): ours then fails to bind, and its tests
                    # would share (and flush) a stranger's data. Only our own process will do.
                    if int(client.info("server")["process_id"]) == self.process.pid:
                        return True
                    break
            except redis.ConnectionError:
                time.sleep(0.02)
        self.kill()
        return False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: the server dies with everything it held."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        """Start again on the same port (empty: nothing persisted)."""
        self.kill()
        if not self._start():
            pytest.fail("redis-server did not restart on its port")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)  # its log and cluster config


# Servers started by start_redis, by pid, so that stop_redis can remove their directories too.
_SERVERS: dict[int, RedisProcess] = {}


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    """Start a private, non-persistent redis-server; return the process and its URL."""
    server = RedisProcess()
    assert server.process is not None
    _SERVERS[server.process.pid] = server
    return server.process, server.url


def stop_redis(process: subprocess.Popen[bytes]) -> None:
    """Stop a server from :func:`start_redis`."""
    server = _SERVERS.pop(process.pid, None)
    if server is not None:
        server.stop()
        return
    if process.poll() is None:
        os.kill(process.pid, signal.SIGCONT)
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


@pytest.fixture
def private_redis() -> Iterator[RedisProcess]:
    """A redis-server of this test's own: pause it, kill it, restart it."""
    server = RedisProcess()
    try:
        yield server
    finally:
        server.stop()


class RedisCluster:
    """Three cluster-enabled masters on loopback, joined by ``redis-cli --cluster create``."""

    def __init__(self) -> None:
        cli = _binary("redis-cli")
        self.nodes: list[RedisProcess] = []
        try:
            for _ in range(3):
                # One by one, so that a node that cannot start leaves the others to stop().
                self.nodes.append(RedisProcess(cluster=True))
            addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
            subprocess.run(
                [
                    cli,
                    "--cluster",
                    "create",
                    *addresses,
                    "--cluster-replicas",
                    "0",
                    "--cluster-yes",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=60,
            )
            deadline = time.monotonic() + 30
            while not self._ready():
                if time.monotonic() > deadline:
                    pytest.fail("the Redis cluster did not reach cluster_state:ok")
                time.sleep(0.05)
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        for node in self.nodes:
            with redis.Redis(host="127.0.0.1", port=node.port, socket_timeout=1.0) as client:
                if client.cluster("info").get("cluster_state") != "ok":
                    return False
        return True

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def client(self) -> redis.RedisCluster:
        return redis.RedisCluster(host="127.0.0.1", port=self.nodes[0].port)

    def flush(self) -> None:
        for node in self.nodes:
            with redis.Redis(host="127.0.0.1", port=node.port) as client:
                client.flushall()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """One three-master cluster for the whole run."""
    cluster = RedisCluster()
    try:
        yield cluster
    finally:
        cluster.stop()


def all_keys(client: redis.Redis | redis.RedisCluster) -> list[str]:
    """Every key on the server (on every master of a cluster), decoded."""
    if isinstance(client, redis.RedisCluster):
        found = client.keys("*", target_nodes=redis.RedisCluster.PRIMARIES)
    else:
        found = client.keys("*")
    return sorted(k.decode() for k in found)
