"""The galera.recover runbook with the minions stood in: one bootstrap, the most advanced node, in order."""

import pytest
from suite_modules import load
from test_galera_logic import UUID

galera = load("_modules/galera.py", "galera_for_runner")
runner = load("_runners/galera.py", "galera_runner")


class Cluster:
    """Answers LocalClient calls as the module would on each stopped member."""

    def __init__(self, seqnos, uuids=None):
        self.positions = {n: {"uuid": (uuids or {}).get(n, UUID), "seqno": s, "safe_to_bootstrap": False,
                              "running": False, "cluster_status": ""} for n, s in seqnos.items()}
        self.log = []

    def __call__(self, tgt, fun, arg=(), kwarg=None, timeout=60):
        out = {}
        for minion in tgt:
            self.log.append((minion, fun))
            if fun == "galera.recover_position":
                out[minion] = (self.positions[minion] is not None, self.positions[minion])
            elif fun == "galera.choose_bootstrap":
                out[minion] = (True, galera.choose_bootstrap(*arg))
            elif fun == "galera.wait":
                out[minion] = (True, {"cluster_size": sum(1 for m, f in self.log if f in ("galera.bootstrap",
                                                                                           "service.start"))})
            else:
                out[minion] = (True, True)
        return out


@pytest.fixture
def cluster(monkeypatch):
    c = Cluster({"db1": 40, "db2": 42, "db3": 41})
    monkeypatch.setattr(runner, "_call", c)
    return c


def test_recover_bootstraps_only_the_most_advanced_then_joins_the_rest_one_by_one(cluster):
    steps = runner.recover("db1,db2,db3")
    asked = ("galera.recover_position", "galera.choose_bootstrap")
    actions = [(m, f) for m, f in cluster.log if f not in asked]
    assert actions == [
        ("db2", "galera.mark_safe_to_bootstrap"), ("db2", "galera.bootstrap"), ("db2", "galera.wait"),
        ("db1", "service.start"), ("db1", "galera.wait"), ("db3", "service.start"), ("db3", "galera.wait"),
    ]
    assert steps[1] == {"marked safe_to_bootstrap": "db2"} and steps[-1] == {"joined": "db3", "size": 3}


def test_recover_refuses_and_touches_nothing_when_uuids_differ(cluster):
    cluster.positions["db3"]["uuid"] = "1a2b3c4d-0000-11f0-8888-000000000001"
    with pytest.raises(runner.CommandExecutionError, match="state UUIDs differ"):
        runner.recover(["db1", "db2", "db3"])
    assert {f for _, f in cluster.log} == {"galera.recover_position", "galera.choose_bootstrap"}


def test_recover_refuses_when_a_member_cannot_tell_its_position(cluster):
    cluster.positions["db1"] = None
    with pytest.raises(runner.CommandExecutionError, match="db1: no position"):
        runner.recover("db1,db2,db3")


def test_recover_needs_the_members():
    with pytest.raises(runner.CommandExecutionError, match="give the data members"):
        runner.recover("")
