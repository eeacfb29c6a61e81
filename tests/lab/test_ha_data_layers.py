"""
The HA database and intermediate layers on bare mini_ha nodes (a spare lab), applied step by step as the
orchestration does: Galera bootstrapped on node1 and joined by node2 then node3 (quorate, health responders
200), Redis master + replicas with three Sentinels that agree; every SLS a second time makes no change; after
a Sentinel failover and after node1 is rebuilt (MariaDB stopped, data and Redis configs wiped), re-applying
the same SLS brings it back as a member and a replica of the current master, never a second bootstrap.
"""

import json

import pytest
from fileshare_lab import ask

# Long: make test converges the same SLS in the same order on mini_ha and full_ha from bare nodes, a
# second run with no change included, and drills the Sentinel failover there (test_faults.py); this
# separate 3-node build cost the lab tier ~6 min. What only it checks (a rebuilt first db node joins
# instead of bootstrapping a second cluster) runs in `make test-lab-long`.
pytestmark = [pytest.mark.lab, pytest.mark.long]

NODES = ["node1", "node2", "node3"]


def apply(lab, target, sls):
    """{minion: {state id: result}} of state.apply; fails the test on any failed state."""
    out = lab.salt_json(target, "state.apply", sls, "-t", "900", timeout=960)
    assert out, f"{sls} on {target}: no answer"
    for node, ret in out.items():
        assert isinstance(ret, dict), f"{sls} on {node}: {ret}"
        failed = {k: r["comment"] for k, r in ret.items() if r["result"] is not True}
        assert not failed, f"{sls} on {node}: {failed}"
    return out


def changes(out):
    return {node: sorted(r["__id__"] for r in ret.values() if r["changes"]) for node, ret in out.items()}


def mysql(node, query):
    proc = node.run(f'mariadb --defaults-file=/root/.my.cnf -N -B -e "{query}"', check=True)
    return dict(line.split("\t", 1) for line in proc.stdout.splitlines() if "\t" in line)


def sentinel_masters(lab):
    """{node: the master's address its Sentinel reports, None if it does not answer}
    (fileshare_redis.sentinel_answers, asked on each node for its own Sentinel)."""
    answers = {}
    for name in NODES:
        address = lab.node(name).address
        args = ask.salt_kwargs({**ask.sentinel_args(lab.topology), "addresses": [address]})
        got = lab.salt_json(name, "fileshare_redis.sentinel_answers", *args)
        master = (got.get(name) or {}).get(address) if isinstance(got.get(name), dict) else None
        answers[name] = master.rpartition(":")[0] if master else None
    return answers


@pytest.fixture(scope="module")
def ha(spare_lab):
    lab = spare_lab
    lab.up("mini_ha")
    lab.salt("*", "saltutil.sync_all", "-t", "300", timeout=360)
    first = {}
    for target, sls in [
        ("*", "fileshare.infra.sync"),
        ("*", "fileshare.infra"),
        ("node1", "fileshare.db.galera.bootstrap"),
        ("node2", "fileshare.db"),
        ("node3", "fileshare.db"),
        ("*", "fileshare.db.quorate"),
        ("*", "fileshare.intermediate"),
        ("*", "fileshare.intermediate.quorate"),
    ]:
        first[(target, sls)] = apply(lab, target, sls)
    lab.first = first
    return lab


def test_galera_three_members_primary_synced_and_bootstrapped_once(ha):
    boot = ha.first[("node1", "fileshare.db.galera.bootstrap")]["node1"]
    state = next(r for r in boot.values() if r["__id__"].startswith("The Galera cluster runs"))
    assert state["changes"] == {"bootstrapped": {"old": None, "new": "node1"}}
    for name in NODES:
        status = mysql(ha.node(name), "SHOW STATUS LIKE 'wsrep_%'")
        assert status["wsrep_cluster_size"] == "3" and status["wsrep_cluster_status"] == "Primary"
        assert status["wsrep_local_state_comment"] == "Synced"
        settings = mysql(
            ha.node(name),
            "SHOW VARIABLES WHERE Variable_name IN "
            "('binlog_format','innodb_autoinc_lock_mode','wsrep_sst_method',"
            "'character_set_server','tx_isolation','transaction_isolation')",
        )
        assert settings["binlog_format"] == "ROW" and settings["innodb_autoinc_lock_mode"] == "2"
        assert settings["wsrep_sst_method"] == "rsync" and settings["character_set_server"] == "utf8mb4"
        assert settings.get("transaction_isolation", settings.get("tx_isolation")) == "READ-COMMITTED"


def test_health_responders_answer_200_on_every_member(ha):
    node1 = ha.node("node1")
    for name in NODES:
        url = f"http://{ha.node(name).address}:{ha.topology['ports']['galera_health']}/"
        code = node1.run(f"curl -s -o /dev/null -w '%{{http_code}}' {url}").stdout
        assert code == "200", f"{name}: {code}"


def test_product_user_reaches_the_database_from_another_node(ha):
    # Salt 3008 masks pillar values in output unless asked for them plainly.
    got = ha.salt("node2", "pillar.get", "fileshare:secrets:db_password", "unmask=True", "--out=json")
    secret = json.loads(got.stdout)
    password = secret["node2"]
    proc = ha.node("node2").run(
        [
            "mariadb",
            "-h",
            ha.node("node1").address,
            "-u",
            "fileshare",
            f"-p{password}",
            "fileshare",
            "-N",
            "-e",
            "SELECT 1",
        ]
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "1", proc.stderr


def test_sentinels_agree_and_replicas_are_connected(ha):
    assert set(sentinel_masters(ha).values()) == {ha.node("node1").address}
    out = apply(ha, "*", "fileshare.intermediate.quorate")
    for ret in out.values():
        assert "every replica online" in next(iter(ret.values()))["comment"]


def test_second_application_changes_nothing(ha):
    for target, sls in ha.first:
        out = apply(ha, target, sls)
        assert not any(changes(out).values()), f"{sls} on {target}: {changes(out)}"


def test_after_a_failover_intermediate_reruns_change_nothing(ha, wait_until):
    old = ha.node("node1").address
    ha.node("node1").run("systemctl stop redis-server", check=True)
    assert wait_until(lambda: set(sentinel_masters(ha).values()) - {old, None}, timeout=60)
    ha.node("node1").run("systemctl start redis-server", check=True)
    apply(ha, "*", "fileshare.intermediate.quorate")
    out = apply(ha, "*", "fileshare.intermediate")
    assert not any(changes(out).values()), changes(out)
    assert old not in set(sentinel_masters(ha).values())


def test_rebuilt_first_db_node_joins_instead_of_bootstrapping(ha):
    ha.node("node1").run(
        "systemctl stop mariadb redis-server redis-sentinel; rm -rf /var/lib/mysql/* "
        "/etc/redis/redis.conf /etc/redis/sentinel.conf",
        check=True,
    )
    master = set(sentinel_masters(ha).values()) - {None}
    out = apply(ha, "node1", "fileshare.db.galera.bootstrap")["node1"]
    state = next(r for r in out.values() if r["__id__"].startswith("The Galera cluster runs"))
    assert state["changes"] == {"joined": {"old": None, "new": "node1"}}, state
    apply(ha, "*", "fileshare.db.quorate")
    apply(ha, "node1", "fileshare.intermediate")
    conf = ha.node("node1").run("cat /etc/redis/redis.conf", check=True).stdout
    assert f"replicaof {master.pop()} {ha.topology['ports']['redis']}" in conf
    apply(ha, "*", "fileshare.intermediate.quorate")
