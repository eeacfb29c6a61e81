"""The lab's fault tools act for real: partition, freeze and kill a node, then heal it."""

import pytest

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def trio(spare_lab):
    """Three bare mini_ha nodes (no orchestration: the tools act below the services)."""
    spare_lab.up("mini_ha")
    return spare_lab


def _reaches(src, dst) -> bool:
    return src.run(f"ping -c1 -W1 {dst.address}", timeout=20).returncode == 0


def test_partition_cuts_a_node_off_silently_and_heal_reattaches_it(trio, wait_until):
    node1, node2 = trio.node("node1"), trio.node("node2")
    assert _reaches(node1, node2)

    trio.tool("partition", "node2")
    assert not _reaches(node1, node2)
    assert not _reaches(node2, node1)
    # Silent: the node's own link stays up, as on a real cut further down the wire.
    assert "LOWER_UP" in node2.run("ip link show eth0", check=True).stdout
    assert "PARTITIONED" in trio.tool("status").stdout

    trio.tool("heal", "node2")
    assert wait_until(lambda: _reaches(node1, node2), timeout=10)


def test_freeze_stops_a_nodes_processes_and_heal_thaws_them(trio, wait_until):
    assert trio.answers_ping("node3")

    trio.tool("freeze", "node3")
    assert "FROZEN" in trio.tool("status").stdout
    assert not trio.answers_ping("node3")

    trio.tool("heal", "node3")
    assert wait_until(lambda: trio.answers_ping("node3"), timeout=30)


def test_kill_stops_a_node_hard_and_heal_boots_it_again(trio, wait_until):
    node1, node2 = trio.node("node1"), trio.node("node2")

    trio.tool("kill", "node2")
    assert not _reaches(node1, node2)
    assert "STOPPED" in trio.tool("status").stdout

    trio.tool("heal", "node2")
    assert wait_until(lambda: _reaches(node1, node2), timeout=20)
    assert wait_until(lambda: trio.answers_ping("node2"), timeout=60)
