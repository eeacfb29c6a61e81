"""
Faults on the deployed full_ha site, each under constant client load through the VIP (the bench's load
generator from the host), each healed (restart, reattach, galera_recover if needed) before the next:
the same scenarios as `make bench-faults` (tools/fileshare_bench/faults.py), here with their promises
asserted. Runs last on the shared full_ha lab; the database outage runs last of all.

kill the VIP's MASTER → the VIP moves, error window < 3 s → kill the database writer → HAProxy moves
writes, no committed row lost → partition one db node → non-Primary, refuses writes, the others serve,
rejoins by IST → partition all three → no Primary, writes refused everywhere, Primary returns on heal →
kill an app node, the Redis master, a storage node → service goes on, everything heals → flood from one
client → 429 for it, nothing for the normal client → full db outage → galera_recover, no row lost.
"""

from __future__ import annotations

import pytest
from fileshare_bench import faults
from fileshare_bench.target import Target

FAILOVER_WINDOW_SECONDS = 3.0


@pytest.fixture(scope="module")
def cluster(full_ha_lab):
    return faults.Cluster(full_ha_lab.name)


@pytest.fixture(scope="module")
def target(full_ha_lab):
    return Target.from_lab(full_ha_lab.name)


@pytest.fixture
def scenario(cluster, target):
    def run(number: int) -> dict:
        result = faults.run_scenario(cluster, target, number, rate=15.0)
        failed = {k: result["observed"].get(k) for k, ok in result["checks"].items() if not ok}
        assert result["error"] is None, f"{result['scenario']}: {result['error']}\n{result['observed']}"
        assert not failed, f"{result['scenario']}: failed checks {failed}"
        assert result["requests"] > 0
        return result

    return run


def test_killing_the_vip_master_moves_the_vip_within_the_error_window(scenario):
    result = scenario(1)
    # WebDAV operations only: the deep /health also fails by itself on an overloaded host (docs/faults.md).
    failover = result["parts"]["failover_webdav"]
    assert failover["error_window_seconds"] < FAILOVER_WINDOW_SECONDS, failover
    assert result["observed"]["vip_moved_after_seconds"] < FAILOVER_WINDOW_SECONDS, result["observed"]


def test_killing_the_database_writer_moves_writes_and_loses_no_committed_row(scenario):
    result = scenario(2)
    assert result["data_lost"] == 0, result["observed"]
    assert result["observed"]["db_error_window_seconds"] < 15, result["observed"]


def test_a_partitioned_db_node_refuses_writes_and_rejoins_by_ist(scenario):
    result = scenario(3)
    assert result["data_lost"] == 0, result["observed"]


def test_three_isolated_db_nodes_refuse_writes_and_regain_primary_when_healed(scenario):
    result = scenario(4)
    assert "primary_returned_by_itself_after_seconds" in result["observed"], result["observed"]


def test_app_redis_master_and_storage_node_failures_are_absorbed_and_healed(scenario):
    result = scenario(6)
    assert result["observed"]["sentinel_failover_seconds"] < 60, result["observed"]


def test_a_flooding_client_gets_429_while_a_normal_client_sees_no_failure(scenario):
    result = scenario(7)
    assert result["failed"] == 0, result["summary"]


def test_a_full_database_outage_is_recovered_by_galera_recover_with_no_row_lost(scenario):
    result = scenario(5)
    assert result["data_lost"] == 0, result["observed"]
