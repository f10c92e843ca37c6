"""The Redis tests again, on a real three-master Redis Cluster through redis-py's cluster client.

The fixture (``tests/redis_server.py``) starts three ``redis-server --cluster-enabled yes`` on
free loopback ports and joins them with ``redis-cli --cluster create``; without those binaries
the tests skip with the reason. The backend finds out by itself that the server is a cluster
node (:meth:`~smsc_async.redis.RedisBackend.from_url`); every key of one login carries the same
``{hash tag}``, so each script runs on the one master that owns the login's slot.

The tests are the single-server ones, imported here so that they run with this module's
``redis_url`` and ``sync_redis``: a cluster's URL and a ``redis.RedisCluster``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.cluster import key_slot

from smsc_async._backend import Demand, Reservation
from smsc_async.redis import RedisBackend
from tests.redis_server import RedisCluster, all_keys, redis_cluster  # noqa: F401
from tests.test_redis_backend import (  # noqa: F401
    backend,
    test_a_live_holder_keeps_its_places_past_the_lease,
    test_a_repeated_key_takes_a_slot_per_occurrence,
    test_abandoned_leases_run_out,
    test_ahead_claims_keep_room_for_earlier_waiters,
    test_cancelled_waiter_leaves_nothing,
    test_concurrency_cap_is_shared,
    test_decisions_ignore_the_host_clock,
    test_hold_keeps_the_places_and_counts_the_rules,
    test_keys_share_one_slot_per_login_and_expire,
    test_limit_then_exact_wait,
    test_refusal_takes_nothing,
    test_same_decisions_as_the_memory_backend,
    test_scripts_come_back_after_a_script_flush,
    test_session_binds_a_hash_of_its_login,
    test_two_limiters_share_one_window,
    test_unsent_frees_and_in_flight_counts,
)
from tests.test_redis_processes import (  # noqa: F401
    limits,
    served,
    test_four_processes_share_the_concurrency_cap,
    test_four_processes_share_the_rules,
    test_killed_process_does_not_leak_its_leases,
)

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_url(redis_cluster: RedisCluster) -> str:  # noqa: F811
    """The cluster's URL (any one master), every master flushed."""
    redis_cluster.flush()
    return redis_cluster.url


@pytest.fixture
def sync_redis(redis_cluster: RedisCluster) -> Iterator[redis.RedisCluster]:  # noqa: F811
    client = redis_cluster.client()
    try:
        yield client
    finally:
        client.close()


def _round_trip_demands() -> tuple[Demand, ...]:
    return (Demand("balance:balance", 3, 0.3), Demand("*concurrency", 2, 0.0))


@pytest.mark.anyio
async def test_a_synchronous_cluster_client_passed_in(redis_url: str) -> None:
    client = redis.RedisCluster.from_url(redis_url, retry=redis.retry.Retry(NoBackoff(), 0))
    try:
        async with RedisBackend(client) as root:
            view = root.bind("sync-cluster")
            got = await view.acquire(_round_trip_demands())
            assert isinstance(got, Reservation)
            await view.release(got, sent=True)
        assert client.ping()  # not ours to close
    finally:
        client.close()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_an_asyncio_cluster_client_passed_in(redis_url: str) -> None:
    client = redis.asyncio.RedisCluster.from_url(redis_url)
    try:
        async with RedisBackend(client) as root:
            view = root.bind("asyncio-cluster")
            got = await view.acquire(_round_trip_demands())
            assert isinstance(got, Reservation)
            await view.release(got, sent=True)
        assert await client.ping()
    finally:
        await client.aclose()


@pytest.mark.anyio
async def test_logins_spread_over_the_masters(
    redis_url: str,
    sync_redis: redis.RedisCluster,
) -> None:
    # Each login's keys share one slot; different logins land on different masters.
    async with RedisBackend.from_url(redis_url) as root:
        owners = set()
        for i in range(12):
            view = root.bind(f"login-{i}")
            demands = (*_round_trip_demands(), Demand("send_identical:x", 1, 0.3))
            got = await view.acquire(demands)
            assert isinstance(got, Reservation)
            keys = [view.key(d.key) for d in demands]
            assert len({key_slot(k.encode()) for k in keys}) == 1
            owners.add(sync_redis.get_node_from_key(keys[0]).name)
            await view.release(got, sent=False)
        assert len(owners) > 1
        # Released at once: each cap holds nothing but its sentinel (b"" at -inf).
        caps = [k for k in all_keys(sync_redis) if k.endswith(":*concurrency")]
        assert len(caps) == 12
        for key in caps:
            assert sync_redis.zrange(key, 0, -1, withscores=True) == [(b"", -math.inf)]
