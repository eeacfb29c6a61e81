"""galera states with Salt's loader mocked: gates fail with reasons, steps predict under test=True."""

import pytest
from suite_modules import load
from test_galera_logic import raw

galera = load("_modules/galera.py", "galera_for_states")
galera_state = load("_states/galera.py", "galera_states")


class Node:
    def __init__(self):
        self.view = galera.parse_status(raw())
        self.calls = []
        self.wait_error = None
        self.peers = {}

    def salt(self):
        def wait(state, timeout=120, interval=2):
            self.calls.append("wait")
            if self.wait_error:
                raise galera.CommandExecutionError(self.wait_error)
            return galera.parse_status(raw())

        def bootstrap():
            self.calls.append("bootstrap")
            return True

        def start(service):
            self.calls.append(f"start {service}")
            return True

        def quorum(expected=None, peers=False):
            return galera.verdict({"db1": self.view}, expected or 3)

        return {
            "galera.status": lambda: self.view,
            "galera.wait": wait,
            "galera.bootstrap": bootstrap,
            "service.start": start,
            "galera.quorum": quorum,
            "galera.views": lambda peers=True: dict(self.peers, db1=self.view),
        }


@pytest.fixture
def node():
    return Node()


@pytest.fixture
def opts():
    return {"test": False}


@pytest.fixture
def configure_loader_modules(node, opts):
    return {galera_state: {"__salt__": node.salt(), "__opts__": opts, "__grains__": {"id": "db1"}}}


def test_quorate_passes_on_a_healthy_cluster():
    ret = galera_state.quorate("fileshare")
    assert ret["result"] is True and ret["changes"] == {} and "size 3" in ret["comment"]


def test_quorate_fails_with_the_verdicts_reasons(node):
    node.view = galera.parse_status(raw(status="non-Primary", size=1))
    ret = galera_state.quorate("fileshare")
    assert ret["result"] is False
    assert ret["comment"] == (
        "fileshare is not quorate: db1: not in the Primary component (non-Primary); "
        "cluster size 1, expected 3 members"
    )


def test_bootstrapped_does_nothing_on_a_running_primary(node):
    ret = galera_state.bootstrapped("fileshare", node="db1")
    assert ret["result"] is True and ret["changes"] == {} and node.calls == []


def test_bootstrapped_only_acts_on_the_chosen_node(node):
    node.view = {}
    ret = galera_state.bootstrapped("fileshare", node="db2")
    assert ret["result"] is True and node.calls == [] and "not the bootstrap node (db2)" in ret["comment"]


def test_bootstrapped_starts_the_chosen_node_and_waits_for_synced(node):
    node.view = {}
    ret = galera_state.bootstrapped("fileshare", node="db1")
    assert ret["result"] is True and node.calls == ["bootstrap", "wait"]
    assert ret["changes"] == {"bootstrapped": {"old": None, "new": "db1"}}


def test_bootstrapped_joins_when_a_peer_runs_the_primary_component(node):
    node.view = {}
    node.peers = {"db2": galera.parse_status(raw()), "db3": {}}
    ret = galera_state.bootstrapped("fileshare", node="db1")
    assert ret["result"] is True and node.calls == ["start mariadb", "wait"]
    assert ret["changes"] == {"joined": {"old": None, "new": "db1"}} and "Primary on db2" in ret["comment"]


def test_bootstrapped_under_test_predicts(node, opts):
    node.view, opts["test"] = {}, True
    ret = galera_state.bootstrapped("fileshare", node="db1")
    assert ret["result"] is None and ret["changes"] and node.calls == []


def test_bootstrapped_refuses_a_running_non_primary_node(node):
    node.view = galera.parse_status(raw(status="non-Primary"))
    ret = galera_state.bootstrapped("fileshare", node="db1")
    assert ret["result"] is False and node.calls == []


def test_bootstrapped_reports_a_refusal(node, configure_loader_modules):
    node.view = {}

    def refuse():
        raise galera.CommandExecutionError("grastate.dat has safe_to_bootstrap: 0")

    galera_state.__salt__["galera.bootstrap"] = refuse
    ret = galera_state.bootstrapped("fileshare", node="db1")
    assert ret["result"] is False and ret["changes"] == {} and "safe_to_bootstrap: 0" in ret["comment"]


def test_joined_starts_a_stopped_node_and_waits(node):
    node.view = {}
    ret = galera_state.joined("fileshare")
    assert ret["result"] is True and node.calls == ["start mariadb", "wait"]


def test_joined_is_a_no_op_on_a_member(node):
    assert galera_state.joined("fileshare")["changes"] == {} and node.calls == []


def test_joined_fails_when_the_node_never_syncs(node):
    node.view, node.wait_error = {}, "not Synced after 120s (last seen: Joining)"
    ret = galera_state.joined("fileshare")
    assert ret["result"] is False and "last seen: Joining" in ret["comment"] and ret["changes"] == {}


def test_synced_waits_and_reports(node):
    assert galera_state.synced("fileshare", timeout=5)["result"] is True and node.calls == ["wait"]
    node.wait_error = "not Synced after 5s (last seen: Donor/Desynced)"
    assert galera_state.synced("fileshare", timeout=5)["result"] is False


def test_synced_under_test_reads_only(node, opts):
    opts["test"] = True
    node.view = galera.parse_status(raw(state=1))
    ret = galera_state.synced("fileshare")
    assert ret["result"] is None and node.calls == [] and "Joining" in ret["comment"]
