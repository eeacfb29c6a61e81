"""
The galera module, states, runner and health responder against a real 3-node MariaDB Galera cluster in lab
nodes: bootstrap and joins by the states, verdicts while a node is killed, partitioned and healed, and a full
outage recovered by `salt-run galera.recover` from the most advanced node with no committed row lost.
"""

import json
import urllib.error
import urllib.request

import pytest

# Long: make test runs the same kill, partition and full-outage recovery (galera_recover from the most
# advanced member, no committed row lost) on the deployed full_ha cluster (test_faults.py scenarios 2,
# 3 and 5), and the states' bootstrap and joins on every HA converge; this separate 3-node build cost
# the lab tier ~6 min.
pytestmark = [pytest.mark.lab, pytest.mark.long]

CLUSTER = "fstest"
NODES = ["node1", "node2", "node3"]


@pytest.fixture(scope="module")
def galera(spare_lab):
    """Three bare mini_ha nodes with MariaDB + Galera configured, not started (a test SLS)."""
    spare_lab.up("mini_ha")
    spare_lab.salt("*", "saltutil.sync_all")
    spare_lab.tool("salt-run", "saltutil.sync_runners")
    out = spare_lab.salt_json("*", "state.apply", "tests.lab.files.galera_node", "-t", "900", timeout=900)
    for node in NODES:
        assert isinstance(out.get(node), dict), out
        failed = [r["comment"] for r in out[node].values() if r["result"] is not True]
        assert not failed, failed
    spare_lab.rows = 0
    return spare_lab


def states(lab, nodes, fun, *args):
    """{node: state return} of one state function run on NODES (a list) in one salt call."""
    out = lab.salt_json(",".join(nodes), "-L", "state.single", fun, f"name={CLUSTER}", *args, timeout=600)
    return {node: next(iter(out[node].values())) for node in nodes}


def state(lab, node, fun, *args):
    return states(lab, [node], fun, *args)[node]


def call(lab, node, fun, *args):
    return lab.salt_json(node, fun, *args).get(node)


def sql(lab, node, query):
    return lab.node(node).run(["mysql", "-N", "-B", "-e", query], timeout=60)


def insert(lab, node, phase):
    """One committed row; returns True when the node accepted it."""
    proc = sql(lab, node, f"INSERT INTO t.rows (phase) VALUES ('{phase}')")
    if proc.returncode == 0:
        lab.rows += 1
    return proc.returncode == 0


def count(lab, node):
    return int(sql(lab, node, "SELECT COUNT(*) FROM t.rows").stdout.strip())


def health(lab, node):
    """The node's health responder's answer (code, body), asked from inside the node (works while
    partitioned)."""
    address, port = lab.node(node).address, lab.topology["ports"]["galera_health"]
    script = (
        "import urllib.request, urllib.error\n"
        "try:\n"
        f"    r = urllib.request.urlopen('http://{address}:{port}/', timeout=5)\n"
        "    print(r.status, r.read().decode())\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code, e.read().decode())\n"
    )
    out = lab.node(node).run(["python3", "-c", script], timeout=30).stdout
    code, body = out.split(" ", 1)
    return int(code), json.loads(body)


def host_health(lab, node):
    """The same answer as HAProxy would get it over the network."""
    try:
        url = f"http://{lab.node(node).address}:{lab.topology['ports']['galera_health']}/"
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def size_seen_by(lab, node):
    return (call(lab, node, "galera.status") or {}).get("cluster_size")


def test_states_bootstrap_one_node_and_join_the_others(galera):
    ret = state(galera, "node1", "galera.bootstrapped", "node=node1")
    assert ret["result"] is True and ret["changes"] == {"bootstrapped": {"old": None, "new": "node1"}}
    others = states(galera, ["node2", "node3"], "galera.bootstrapped", "node=node1")
    assert [r["changes"] for r in others.values()] == [{}, {}]  # never a second Primary component
    for node in ("node2", "node3"):  # one at a time: each joiner takes a donor
        ret = state(galera, node, "galera.joined")
        assert ret["result"] is True and ret["changes"], ret["comment"]
    for ret in states(galera, NODES, "galera.quorate").values():
        assert ret["result"] is True and ret["comment"] == f"{CLUSTER} is quorate (size 3)"
    assert all(r["result"] is True for r in states(galera, NODES, "galera.synced", "timeout=30").values())
    assert call(galera, "node1", "galera.quorum", "peers=True") == {"quorate": True, "reasons": [], "size": 3}
    assert state(galera, "node1", "galera.bootstrapped", "node=node1")["changes"] == {}
    sql(
        galera,
        "node1",
        "CREATE DATABASE t; CREATE TABLE t.rows (id INT AUTO_INCREMENT PRIMARY KEY, phase VARCHAR(16))",
    )
    assert insert(galera, "node2", "first") and count(galera, "node3") == 1


def test_health_responder_routes_only_to_synced_nodes(galera):
    for node in NODES:
        code, body = host_health(galera, node)
        assert code == 200 and body["available"] and body["view"]["cluster_size"] == 3


def test_a_killed_node_makes_the_cluster_short_and_no_other_node_safe_to_stop(galera, wait_until):
    status = call(galera, "node1", "galera.safe_to_take_down")
    assert status == {"safe": True, "reasons": []}
    galera.tool("kill", "node3")
    assert wait_until(lambda: size_seen_by(galera, "node1") == 2, timeout=30)
    verdict = call(galera, "node1", "galera.quorum", "peers=True")
    assert not verdict["quorate"]
    assert verdict["reasons"] == ["node3: MariaDB does not answer", "cluster size 2, expected 3 members"]
    status = call(galera, "node2", "galera.safe_to_take_down")
    assert not status["safe"]
    assert (
        "without node2 the cluster keeps 1 of 2 members, not a majority: it would lose its Primary component"
    ) in status["reasons"]
    ret = state(galera, "node1", "galera.quorate")
    assert ret["result"] is False and "cluster size 2, expected 3 members" in ret["comment"]
    assert insert(galera, "node1", "two-left")  # the two survivors keep a Primary component

    galera.tool("heal", "node3")
    assert wait_until(lambda: galera.answers_ping("node3"), timeout=60)
    ret = state(galera, "node3", "galera.joined")
    assert ret["result"] is True and ret["changes"], ret["comment"]
    assert count(galera, "node3") == galera.rows
    assert call(galera, "node1", "galera.quorum", "peers=True")["quorate"]


def test_a_partitioned_node_goes_non_primary_refuses_writes_and_heals(galera, wait_until):
    galera.tool("partition", "node2")
    assert wait_until(
        lambda: health(galera, "node2")[1]["view"].get("cluster_status") == "non-Primary", timeout=30
    )
    code, body = health(galera, "node2")
    assert code == 503 and body["reason"].startswith("not in the Primary component")
    refused = sql(galera, "node2", "INSERT INTO t.rows (phase) VALUES ('isolated')")
    assert refused.returncode != 0 and "WSREP" in refused.stderr
    assert wait_until(lambda: size_seen_by(galera, "node1") == 2, timeout=30)
    verdict = call(galera, "node1", "galera.quorum", "peers=True")
    assert verdict["reasons"] == ["node2: MariaDB does not answer", "cluster size 2, expected 3 members"]
    assert insert(galera, "node3", "majority")  # the majority side stays Primary

    galera.tool("heal", "node2")
    assert wait_until(
        lambda: (call(galera, "node1", "galera.quorum", "peers=True") or {}).get("quorate"), timeout=90
    )
    assert count(galera, "node2") == galera.rows
    assert host_health(galera, "node2")[0] == 200


def test_a_full_outage_is_recovered_from_the_most_advanced_node_with_no_row_lost(galera, wait_until):
    galera.tool("kill", "node3")  # node3 misses everything after this
    assert wait_until(lambda: size_seen_by(galera, "node1") == 2, timeout=30)
    assert insert(galera, "node1", "without-3")
    assert galera.node("node2").run("systemctl stop mariadb", timeout=120).returncode == 0  # clean leave
    assert wait_until(lambda: size_seen_by(galera, "node1") == 1, timeout=30)
    assert insert(galera, "node1", "only-1")  # node1 alone: the most advanced
    galera.tool("kill", "node1")
    galera.tool("heal", "node1")
    galera.tool("heal", "node3")
    assert wait_until(lambda: all(galera.answers_ping(n) for n in NODES), timeout=90)

    # A node that is behind refuses to bootstrap on its own.
    refused = call(galera, "node3", "galera.bootstrap")
    assert isinstance(refused, str) and "safe_to_bootstrap: 0" in refused
    choice = json.loads(galera.tool("salt-run", "galera.choose", ",".join(NODES), "--out=json").stdout)
    assert choice["verdict"]["bootstrap"] == "node1", choice
    seqnos = {n: p["seqno"] for n, p in choice["positions"].items()}
    assert seqnos["node1"] > seqnos["node2"] > seqnos["node3"], seqnos
    assert choice["positions"]["node3"]["source"] == "mysqld --wsrep-recover"

    steps = json.loads(
        galera.tool("salt-run", "galera.recover", ",".join(NODES), "--out=json", timeout=900).stdout
    )
    assert {"bootstrapped": "node1", "seqno": seqnos["node1"]} in steps
    assert steps[-1] == {"joined": "node3", "size": 3}
    for node in NODES:
        assert count(galera, node) == galera.rows, node
    assert all(r["result"] is True for r in states(galera, NODES, "galera.quorate").values())
