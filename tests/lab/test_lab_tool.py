"""The lab's fault tools act for real: partition, freeze and kill a node, then heal it."""

import socket
import time

import pytest

pytestmark = pytest.mark.lab

# A TCP service of our own in the node: it greets each connection. The node's kernel completes the
# handshake even when the service is frozen, so only the greeting tells a frozen node from a live one,
# as for a client of a hung host.
GREETER = """
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 0))
s.listen(64)
open("/run/lab-greeter.port.tmp", "w").write(str(s.getsockname()[1]))
__import__("os").rename("/run/lab-greeter.port.tmp", "/run/lab-greeter.port")
while True:
    c, _ = s.accept()
    c.sendall(b"hello\\n")
    c.close()
"""


@pytest.fixture(scope="module")
def trio(spare_lab):
    """Three bare mini_ha nodes (no orchestration: the tools act below the services)."""
    spare_lab.up("mini_ha")
    return spare_lab


def _reaches(src, dst) -> bool:
    return src.run(f"ping -c1 -W1 {dst.address}", timeout=20).returncode == 0


def _greets(node, port: int) -> bool:
    try:
        with socket.create_connection((node.address, port), timeout=1) as conn:
            conn.settimeout(1)
            return conn.recv(16) == b"hello\n"
    except OSError:
        return False


@pytest.fixture(scope="module")
def greeter(trio, wait_until):
    """node3 with the greeter running under its systemd; (node, port)."""
    node = trio.node("node3")
    node.run("systemctl stop lab-greeter; rm -f /run/lab-greeter.port")  # a rerun on a kept lab
    node.run(
        ["systemd-run", "--unit", "lab-greeter", "--collect", "/usr/bin/python3", "-c", GREETER], check=True
    )
    assert wait_until(lambda: node.run("test -s /run/lab-greeter.port").returncode == 0, timeout=20)
    port = int(node.run("cat /run/lab-greeter.port", check=True).stdout)
    assert wait_until(lambda: _greets(node, port), timeout=10)
    return node, port


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


def _state(lab, name: str) -> list[str]:
    """[state, link] of NODE's line in `status` ("node3 10.78.0.23 FROZEN PARTITIONED")."""
    line = next(row for row in lab.tool("status").stdout.splitlines() if row.split()[:1] == [name])
    return line.split(None, 3)[2:]


@pytest.fixture
def healed(trio):
    """Heal node3 after the test even when it fails: the next test attaches to it, which a frozen node
    would hold forever."""
    yield
    trio.tool("heal", "node3", check=False)


def test_freeze_returns_in_bounds_and_stops_a_nodes_services_but_not_its_kernel(
    trio, greeter, healed, wait_until
):
    node, port = greeter
    node1 = trio.node("node1")

    t0 = time.monotonic()
    out = trio.tool("freeze", "node3", "--timeout", "3", timeout=60).stdout
    # The bound plus the tool's own start-up and lxc-info calls on a loaded 2-core host.
    assert time.monotonic() - t0 < 3 + 10
    assert "node3 frozen" in out
    assert not _greets(node, port)
    assert _reaches(node1, node)  # a hung host, not a dead one: its kernel still answers
    assert _state(trio, "node3")[0] in ("FROZEN", "FREEZING")

    assert "thawed" in trio.tool("heal", "node3").stdout
    assert wait_until(lambda: _greets(node, port), timeout=10)


def test_heal_undoes_a_freeze_and_a_partition_together_and_twice_is_harmless(
    trio, greeter, healed, wait_until
):
    node, port = greeter
    node1 = trio.node("node1")

    trio.tool("freeze", "node3")
    trio.tool("partition", "node3")
    state, link = _state(trio, "node3")
    assert state in ("FROZEN", "FREEZING") and link == "PARTITIONED"
    assert not _reaches(node1, node)

    healed = trio.tool("heal", "node3").stdout
    assert "thawed" in healed and "reattached" in healed
    assert _state(trio, "node3") == ["RUNNING", "on bridge"]
    assert wait_until(lambda: _greets(node, port), timeout=10)
    assert _reaches(node1, node)
    assert "nothing to undo" in trio.tool("heal", "node3").stdout


def test_kill_stops_a_node_hard_and_heal_boots_it_again(trio, wait_until):
    node1, node2 = trio.node("node1"), trio.node("node2")

    trio.tool("kill", "node2")
    assert not _reaches(node1, node2)
    assert "STOPPED" in trio.tool("status").stdout

    trio.tool("heal", "node2")
    assert wait_until(lambda: _reaches(node1, node2), timeout=20)
    assert wait_until(lambda: trio.answers_ping("node2"), timeout=60)
