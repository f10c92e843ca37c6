"""The throwaway Redis servers' own helpers (tests/redis_server.py), without a server.

Both faults below were met in CI: a cluster node given a port above 55535 exits at once (its
bus port, port + 10000, would not exist), and when the third node could not start the first two
kept running past the run.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests import redis_server
from tests.redis_server import CLUSTER_BUS_OFFSET, MAX_CLUSTER_PORT, RedisCluster, free_port


def test_a_cluster_nodes_port_leaves_room_for_its_bus_port() -> None:
    ports = [free_port(cluster=True) for _ in range(200)]
    assert max(ports) <= MAX_CLUSTER_PORT == 55535
    assert all(port + CLUSTER_BUS_OFFSET <= 65535 for port in ports)


def test_a_cluster_whose_third_node_cannot_start_stops_the_first_two(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[Any] = []

    class Node:
        def __init__(self, *, cluster: bool) -> None:
            assert cluster
            if len(started) == 2:
                pytest.skip("redis-server is installed but could not be started")
            self.stopped = False
            started.append(self)

        def stop(self) -> None:
            self.stopped = True

    monkeypatch.setattr(redis_server, "RedisProcess", Node)
    monkeypatch.setattr(redis_server, "_binary", lambda name: name)
    with pytest.raises(pytest.skip.Exception):
        RedisCluster()
    assert [node.stopped for node in started] == [True, True]
