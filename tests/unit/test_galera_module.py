"""
galera's outer layer with Salt's loader mocked: views through Salt's mysql module, peers through their
health responders, recovery reading grastate.dat and mysqld --wsrep-recover, and the refusals.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from site_topology import getter
from suite_modules import load
from test_galera_logic import GRASTATE, UUID, raw

galera = load("_modules/galera.py", "galera_module")
galera_state = load("_states/galera.py", "galera_state")

NODES = [
    {"name": "db1", "address": "127.0.0.1", "roles": ["db"]},
    {"name": "db2", "address": "127.0.0.1", "roles": ["db"]},
    {"name": "db3", "address": "127.0.0.1", "roles": ["db"]},
]


class Minion:
    """What the module asks of Salt on one node: mysql.status, pillar, config and commands."""

    def __init__(self, datadir):
        self.status = raw()
        self.datadir = datadir
        self.commands = []
        self.recover_log = ""
        self.connection = None

    def run_all(self, cmd, **kw):
        self.commands.append(cmd[0])
        if "--wsrep-recover" in cmd:
            logfile = next(a.split("=", 1)[1] for a in cmd if a.startswith("--log-error="))
            with open(logfile, "w") as fh:
                fh.write(self.recover_log)
        return {"retcode": 0, "stdout": "", "stderr": ""}

    def salt(self):
        def status(**kw):
            self.connection = kw
            return self.status

        return {
            "mysql.status": status,
            # Salt 3008 masks pillar.get unless unmask=True: the module must ask for plain values.
            "fileshare_topology.get": getter({"architecture": "full_ha", "nodes": NODES}, "db1"),
            "config.get": lambda key, default=None: str(self.datadir) if key == "galera.datadir" else default,
            "cmd.run_all": self.run_all,
        }


@pytest.fixture
def minion(tmp_path):
    return Minion(tmp_path)


@pytest.fixture
def configure_loader_modules(minion):
    return {galera: {"__salt__": minion.salt(), "__grains__": {"id": "db1"}}}


@pytest.fixture
def peers(monkeypatch):
    """Peers' views as their health responders would give them."""
    views = {"db2": galera.parse_status(raw()), "db3": galera.parse_status(raw())}
    by_call = iter(["db2", "db3"] * 10)
    monkeypatch.setattr(galera, "peer_view", lambda address, **kw: views[next(by_call)])
    return views


def test_status_comes_from_salts_mysql_module(minion):
    assert galera.status()["local_state_comment"] == "Synced"
    minion.status = {}
    assert galera.status() == {}


def test_connection_defaults_to_the_root_option_file_then_the_socket(minion, tmp_path):
    cnf = tmp_path / "my.cnf"
    galera.__salt__["config.get"] = lambda key, default=None: (
        str(cnf) if key == "galera.default_file" else default
    )
    galera.status()
    socket = {"connection_unix_socket": "/run/mysqld/mysqld.sock", "connection_user": "root"}
    assert minion.connection == socket
    cnf.write_text("[client]\nuser=root\n")
    galera.status()
    assert minion.connection == {"connection_default_file": str(cnf)}
    galera.status(connection_user="monitor", connection_pass="x")
    assert minion.connection == {"connection_user": "monitor", "connection_pass": "x"}


def test_expected_size_counts_pillar_data_nodes():
    assert galera.expected_size() == 3


def test_quorum_on_the_local_view(minion):
    assert galera.quorum() == {"quorate": True, "reasons": [], "size": 3}
    minion.status = raw(size=2)
    assert galera.quorum()["reasons"] == ["cluster size 2, expected 3 members"]


def test_quorum_with_peers_names_the_node_that_is_not_synced(peers):
    peers["db3"] = galera.parse_status(raw(state=2))
    assert galera.quorum(peers=True)["reasons"] == ["db3: Donor/Desynced, not Synced"]


def test_safe_to_take_down_needs_the_peers_synced(peers):
    assert galera.safe_to_take_down() == {"safe": True, "reasons": []}
    peers["db2"] = {}
    assert galera.safe_to_take_down()["reasons"] == ["db2: MariaDB does not answer"]


def health_responder(code, view, requests=1):
    """A stand-in health responder answering CODE with VIEW to REQUESTS requests; the ports asked."""
    body = json.dumps({"available": code == 200, "view": view}).encode()
    asked = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            asked.append(self.server.server_port)
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=lambda: [server.handle_request() for _ in range(requests)], daemon=True).start()
    server.asked = asked
    return server


def test_peer_view_reads_the_view_even_from_a_503():
    server = health_responder(503, {"local_state": 1})
    assert galera.peer_view("127.0.0.1", port=server.server_port) == {"local_state": 1}
    server.server_close()
    assert galera.peer_view("127.0.0.1", port=server.server_port, timeout=0.5) == {}


def test_peers_are_asked_on_the_sites_health_port(minion):
    """A site that moves the health responder (pillar fileshare:ports:galera_health) is asked there."""
    server = health_responder(200, {"local_state": 4}, requests=2)
    galera.__salt__["fileshare_topology.get"] = getter(
        {"architecture": "full_ha", "nodes": NODES, "ports": {"galera_health": server.server_port}}, "db1"
    )
    views = galera.views()
    server.server_close()
    assert views["db2"] == views["db3"] == {"local_state": 4}
    assert server.asked == [server.server_port] * 2


def test_position_of_a_running_node_is_its_last_committed(minion):
    assert galera.recover_position() == {
        "uuid": UUID,
        "seqno": 42,
        "safe_to_bootstrap": False,
        "running": True,
        "cluster_status": "Primary",
        "source": "running server",
    }


def test_a_server_running_without_wsrep_is_never_recovered_beside(minion):
    minion.status = {"Uptime": "5"}
    with pytest.raises(galera.CommandExecutionError, match="without wsrep"):
        galera.recover_position()
    assert minion.commands == []


def test_position_of_a_cleanly_stopped_node_is_in_grastate(minion):
    minion.status = {}
    (minion.datadir / "grastate.dat").write_text(GRASTATE.replace("-1", "77"))
    res = galera.recover_position()
    assert (res["seqno"], res["source"], res["running"]) == (77, "grastate.dat", False)
    assert minion.commands == []


def test_a_crashed_node_is_asked_with_wsrep_recover(minion):
    minion.status = {}
    (minion.datadir / "grastate.dat").write_text(GRASTATE)
    minion.recover_log = f"[Note] WSREP: Recovered position: {UUID}:1234\n"
    res = galera.recover_position()
    assert (res["seqno"], res["source"]) == (1234, "mysqld --wsrep-recover") and minion.commands == ["mysqld"]


def test_a_wsrep_recover_that_finds_nothing_raises(minion):
    minion.status = {}
    (minion.datadir / "grastate.dat").write_text(GRASTATE)
    with pytest.raises(galera.CommandExecutionError, match="no recovered position"):
        galera.recover_position()


def test_a_fresh_node_without_data_has_no_position_to_recover(minion):
    minion.status = {}
    res = galera.recover_position()
    assert res["uuid"] == galera.ZERO_UUID and minion.commands == []


def test_grastate_is_only_edited_on_a_stopped_node(minion):
    (minion.datadir / "grastate.dat").write_text(GRASTATE)
    with pytest.raises(galera.CommandExecutionError, match="running"):
        galera.mark_safe_to_bootstrap()
    minion.status = {}
    assert galera.mark_safe_to_bootstrap()["safe_to_bootstrap"]
    assert "safe_to_bootstrap: 1" in (minion.datadir / "grastate.dat").read_text()


def test_bootstrap_refuses_a_node_not_marked_safe(minion):
    minion.status = {}
    (minion.datadir / "grastate.dat").write_text(GRASTATE)
    with pytest.raises(galera.CommandExecutionError, match="safe_to_bootstrap: 0"):
        galera.bootstrap()
    assert "galera_new_cluster" not in minion.commands


def test_bootstrap_refuses_when_a_peer_is_primary(minion, peers):
    minion.status = {}
    with pytest.raises(galera.CommandExecutionError, match="db2 already runs a Primary component"):
        galera.bootstrap()
    assert "galera_new_cluster" not in minion.commands


def test_bootstrap_of_the_marked_node(minion, peers):
    minion.status = {}
    (minion.datadir / "grastate.dat").write_text(galera.set_safe_to_bootstrap(GRASTATE))
    peers["db2"], peers["db3"] = {}, {}
    assert galera.bootstrap() is True and minion.commands == ["galera_new_cluster"]


def test_wait_returns_when_synced_and_times_out_naming_the_state(minion):
    assert galera.wait(timeout=0)["local_state_comment"] == "Synced"
    minion.status = raw(state=1)
    with pytest.raises(galera.CommandExecutionError, match=r"not Synced after 0.2s \(last seen: Joining\)"):
        galera.wait(timeout=0.2, interval=0.05)
