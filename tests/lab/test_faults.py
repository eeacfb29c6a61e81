"""
Faults on the deployed full_ha site, each under constant client load through the VIP (the bench's load
generator from the host), each healed (restart, reattach, galera_recover if needed) before the next:
the same scenarios as `make bench-faults` (tools/fileshare_bench/faults/), here with their promises
asserted. Runs last on the shared full_ha lab; the database outage runs last of all.

Every scenario must pass its own checks (faults/scenarios.py: `sc.check(...)`, e.g. "no Primary component
anywhere", "the storage node's brick healed") and heal the cluster; the table below adds each
scenario's measured promise: a bound on a number the scenario reports.
"""

from __future__ import annotations

import operator
import time
from pathlib import Path

import pytest
from fileshare_bench import failover, faults
from fileshare_bench.target import Target

REPO = Path(__file__).resolve().parents[2]
OPS = {"<": operator.lt, "<=": operator.le, "==": operator.eq, ">": operator.gt}

# Each scenario's promises beside its own checks: (in words, "PATH OP BOUND"), PATH a dotted key into
# faults.run_scenario's result. In the order they run: the database outage last (the heaviest heal).
# make test keeps the database writer killed and the gray failures below (a frozen writer, a cut-off
# Redis master, a wedged storage client); mini_ha kills a node that holds every role at once under
# load. Marked long (`make test-lab-long`; `make bench-faults` runs all seven): the VIP master killed
# (the rolling canary moves the VIP twice), one db node and all three partitioned, the app node /
# Redis master / storage node kills, the flood, and the full outage that galera_recover heals (its
# choice of member is unit-tested; the whole drill took 5 of the tier's 14 min). On this shared 2-core
# host the lab tier must leave room: a CI host ran it 25-30 % slower than here.
PROMISES = [
    pytest.param(
        1,
        [
            ("the VIP moves within 3 s", "observed.vip_moved_after_seconds < 3"),
            # File operations only: the deep /health also fails while its dependencies fail over.
            # A WebDAV request whose Redis call was in flight through the dead node retries it after
            # WsgiDAV's 2 s Redis socket timeout (10 s before: failures for up to 10 s, measured).
            (
                "file operations fail for less than 3 s",
                "parts.failover_webdav.error_window_seconds < 3",
            ),
            # The old holder finishes what it had opened: the new one hands it the packets
            # (load/vip_handoff.sls; before it, a request in flight could be cut, once in CI).
            ("the planned failback fails no request at all", "parts.failback.failed == 0"),
        ],
        id="killing_the_vip_master_moves_the_vip_within_the_error_window",
        marks=pytest.mark.long,
    ),
    pytest.param(
        2,
        [
            ("no committed row is lost", "data_lost == 0"),
            ("writes move to the next node within 15 s", "observed.db_longest_outage_seconds < 15"),
            # HAProxy routes on each app node's own health (/health?scope=node), not the database's.
            ("file operations do not fail", "file_ops.failed == 0"),
        ],
        id="killing_the_database_writer_moves_writes_and_loses_no_committed_row",
    ),
    pytest.param(
        3,
        [("no committed row is lost", "data_lost == 0")],
        id="a_partitioned_db_node_refuses_writes_and_rejoins_by_ist",
        marks=pytest.mark.long,
    ),
    pytest.param(
        4,
        [
            (
                "a Primary returns by itself within 60 s",
                "observed.primary_returned_by_itself_after_seconds < 60",
            ),
            ("file operations, which need no database, go on", "file_ops.failed == 0"),
        ],
        id="three_isolated_db_nodes_refuse_writes_and_regain_primary_when_healed",
        marks=pytest.mark.long,
    ),
    pytest.param(
        6,
        [
            (
                "HAProxy takes a dead app node out within 10 s",
                "parts.app_down_webdav.error_window_seconds < 10",
            ),
            ("Sentinel promotes a new Redis master within 60 s", "observed.sentinel_failover_seconds < 60"),
            ("HAProxy's Redis front follows it", "observed.haproxy_follows_seconds < 70"),
            # Bounded, not zero: WsgiDAV's locks and properties live in Redis (docs/webdav.md).
            (
                "file operations fail for < 10 s around the failover",
                "parts.redis_failover_webdav.error_window_seconds < 10",
            ),
            ("writes go on while a storage node is down", "observed.storage_down_puts_ok > 0"),
            ("no write fails while a storage node is down", "observed.storage_down_puts_failed == 0"),
            ("the volume heals within 5 min of the restart", "observed.gluster_heal_seconds < 300"),
            ("no read returns other content than was written", "content_mismatches == 0"),
        ],
        id="app_redis_master_and_storage_node_failures_are_absorbed_and_healed",
        marks=pytest.mark.long,
    ),
    pytest.param(
        7,
        [("the normal client sees no failure", "failed == 0")],
        id="a_flooding_client_gets_429_while_a_normal_client_sees_no_failure",
        marks=pytest.mark.long,
    ),
    pytest.param(
        5,
        [
            ("no committed row is lost", "data_lost == 0"),
            (
                "galera_recover is done within 3 min after the power cut",
                "observed.power_cut_galera_recover_seconds < 180",
            ),
            (
                "and within 5 min after the staggered outage",
                "observed.staggered_galera_recover_seconds < 300",
            ),
            ("file operations, which need no database, go on", "file_ops.failed == 0"),
        ],
        id="a_full_database_outage_is_recovered_by_galera_recover_with_no_row_lost",
        marks=pytest.mark.long,
    ),
]


def measured(result: dict, claim: str) -> tuple[object, bool]:
    """(the value at PATH, whether the claim "PATH OP BOUND" holds for it; False when not measured)."""
    path, op, bound = claim.split()
    value = result
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value, value is not None and OPS[op](value, float(bound))


@pytest.fixture(scope="module")
def cluster(full_ha_lab):
    return faults.Cluster(full_ha_lab.name)


@pytest.fixture(scope="module")
def target(full_ha_lab):
    return Target.from_lab(full_ha_lab.name)


@pytest.fixture(scope="module")
def results(full_ha_lab):
    """Every scenario's result; written like `make bench-faults` does (faults.json, faults.md), so a
    test run leaves its numbers behind, passed or not."""
    done: list[dict] = []
    yield done
    if done:
        out = REPO / "build" / "lab" / "labs" / full_ha_lab.name / "faults"
        faults.write_report(done, out, f"pytest tests/lab/test_faults.py --lab-name {full_ha_lab.name}")


# Gray failures (a node frozen, as a hung kernel or a paused VM, or cut off silently), measured by the
# failover bench's real clients (tools/fileshare_bench/failover.py): two database writers, a Redis
# writer and a WebDAV PUT/GET client through the VIP. The bounds are looser than the bench's goals
# (docs/faults.md) on purpose: this host is shared with the whole lab tier.
GRAY = [
    pytest.param("db-freeze", ["db", "db-php"], id="a_frozen_database_writer_costs_seconds_and_no_row"),
    pytest.param("redis-partition", ["redis"], id="a_cut_off_redis_master_costs_seconds_and_no_write"),
    # Long, for a known defect: in 2 of 8 runs on 2026-12-07 (one a clean-clone CI run) the app nodes'
    # Gluster client stopped answering after the brick came back (fds not reopened, "Failed getlk ...
    # File descriptor in bad state", the gluster/glusterfs#3183 class), every later file operation on
    # both app nodes hung in D state, and every test after it on the lab failed. Until that is fixed
    # (issue 12), `make test-lab-long` runs it; the storage node kill stays in make test.
    pytest.param(
        "storage-partition",
        [],
        id="a_cut_off_storage_node_fails_no_file_operation",
        marks=pytest.mark.long,
    ),
]
GRAY_GAP = 5.0  # seconds without an acknowledged write, at most, for the writers the fault touches
GRAY_SLOWEST = 5.0  # seconds, the longest WebDAV request
# A cut-off Redis master takes Sentinel's 1 s down-after, the promotion seen at Sentinel's fixed 1 s
# INFO period, and the replica re-attached before HAProxy admits the new master; the WebDAV requests
# and the Redis writer wait that out (0 failed). Measured 2.9-3.3 s on a quiet lab (docs/faults.md),
# but 5.6 s in two clean-clone CI runs of the whole lab tier on this 2-core host: bounded at 8 s,
# under WsgiDAV's ~8.5 s retry budget, beyond which requests would fail.
GRAY_BOUNDS = {"redis-partition": 8.0}


@pytest.mark.parametrize("scenario, writers", GRAY)
def test_gray_failure(cluster, target, scenario, writers):
    cluster.ensure_table()
    run = failover.run_scenario(cluster, target, scenario, 1, hold=8.0, after=12.0, lead=3.0)
    clients = run["clients"]
    assert not run["problems"], f"{scenario}: {run['problems']}"
    assert set(clients) >= {"db", "db-php", "redis", "webdav"}, f"{scenario}: clients missing: {clients}"
    for name, numbers in clients.items():
        assert numbers.get("lost", 0) == 0, f"{scenario}: {name} lost acknowledged writes: {numbers}"
    web = clients["webdav"]
    assert web["stale"] == 0, f"{scenario}: stale reads: {web}"
    # Every client's numbers: what the Redis and database writers saw at the same moment names the cause.
    assert web["errors"] == 0, f"{scenario}: failed WebDAV requests: {clients}"
    slowest, gap = GRAY_BOUNDS.get(scenario, GRAY_SLOWEST), GRAY_BOUNDS.get(scenario, GRAY_GAP)
    assert web["slowest"] < slowest, f"{scenario}: a WebDAV request stalled: {clients}"
    for name in writers:
        assert clients[name]["gap"] < gap, f"{scenario}: {name} stopped too long: {clients}"


def _watch_state(node) -> tuple[int, int]:
    """The mount watch's (last time a write came back, remounts since it started)."""
    out = node.run("cat /run/fileshare-mount-watch/last").stdout.split()
    return (int(out[0]), int(out[1])) if len(out) == 2 else (0, -1)


def test_a_wedged_storage_client_is_remounted_and_its_node_serves_again(full_ha_lab, wait_until):
    """The storage-cut hang (docs/faults.md, known defect) left the FUSE client of an app node alive but
    answering nothing. Its stand-in here: the client stopped (SIGSTOP), the storage untouched. The mount
    watch must find it wedged, kill it and mount the volume anew, and the node must take writes again."""
    app = full_ha_lab.role("app")[0]
    # What the node was deployed with: the watch's mount point, the data watch's probe and user.
    mount_point = app.run(
        "sed -n 's/^mount_point=//p' /usr/local/libexec/fileshare-mount-watch"
    ).stdout.strip()
    probe = app.run("sed -n 's/^probe=//p' /usr/local/libexec/fileshare-data-watch").stdout.strip()
    user = app.run("systemctl show -p User --value fileshare-data-watch").stdout.strip()
    assert mount_point and probe and user, (mount_point, probe, user)
    find_client = f"pgrep -o -f -- 'glusterfs .*{mount_point}$'"
    wedged = app.run(find_client).stdout.strip()
    assert wedged, f"{app.name}: no FUSE client for {mount_point}"
    _, remounts = _watch_state(app)
    assert remounts >= 0, f"{app.name}: the mount watch reports nothing"
    app.run(f"kill -STOP {wedged}", check=True)
    try:
        # stall (20 s) after the last write came back, a probe's 5 s, the remount.
        remounted = wait_until(lambda: _watch_state(app)[1] > remounts, timeout=90, interval=1)
        assert remounted, (
            f"{app.name}: no remount of a wedged client in 90 s: "
            + app.run("journalctl -u fileshare-mount-watch --no-pager | tail -5").stdout
        )
    finally:
        app.run(f"kill -CONT {wedged} 2>/dev/null")
    fresh = app.run(find_client).stdout.strip()
    assert fresh and fresh != wedged, f"{app.name}: the wedged client {wedged} still serves ({fresh})"
    journal = app.run("journalctl -u fileshare-mount-watch --no-pager").stdout
    assert "the client is wedged" in journal and "remounted" in journal, journal[-2000:]
    # The node is back: the app's own user writes through the new client, and the data watch, which
    # HAProxy's node check reads, has got a write through since.
    probe = f"{probe}-wedge-test"
    app.run(
        f"timeout 10 runuser -u {user} -- sh -c 'echo ok > {probe} && cat {probe} && rm {probe}'", check=True
    )
    remounted_at = _watch_state(app)[0]
    assert wait_until(
        lambda: float(app.run("cut -d' ' -f1 /run/fileshare-data-watch/last").stdout or 0) > remounted_at,
        timeout=30,
    ), f"{app.name}: the data watch has not got a write through since the remount"
    # The new client lives in the mount's own unit: restarting the watch (a redeploy) leaves it alone.
    app.run("systemctl restart fileshare-mount-watch", check=True)
    time.sleep(3)
    assert app.run(find_client).stdout.strip() == fresh, f"{app.name}: restarting the watch took the mount"


@pytest.mark.parametrize("number, promises", PROMISES)
def test_fault_scenario(cluster, target, results, number, promises):
    result = faults.run_scenario(cluster, target, number, rate=15.0)
    results.append(result)
    name = result["scenario"]
    assert result["error"] is None, f"{name}: {result['error']}\n{result['observed']}"
    failed = {k: result["observed"].get(k) for k, ok in result["checks"].items() if not ok}
    assert not failed, f"{name}: failed checks {failed}"
    assert result["requests"] > 0, f"{name}: the load generator sent nothing"
    for promise, claim in promises:
        value, holds = measured(result, claim)
        assert holds, f"{name}: {promise}: wanted {claim}, measured {value}"
