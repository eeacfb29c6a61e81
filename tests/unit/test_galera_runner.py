"""The galera.recover runbook with the minions stood in: one bootstrap, the most advanced node, in order."""

import pytest
from suite_modules import load
from test_galera_logic import UUID

galera = load("_modules/galera.py", "galera_for_runner")
runner = load("_runners/galera.py", "galera_runner")


class Cluster:
    """Answers LocalClient calls as the module would on each stopped member."""

    def __init__(self, seqnos, uuids=None):
        self.positions = {
            n: {
                "uuid": (uuids or {}).get(n, UUID),
                "seqno": s,
                "safe_to_bootstrap": False,
                "running": False,
                "cluster_status": "",
            }
            for n, s in seqnos.items()
        }
        self.log = []
        self.views = {}  # running members: their galera.status (absent: MariaDB stopped)
        self.silent = set()  # members that do not answer Salt
        self.stubborn = set()  # members whose server ignores SIGTERM (stuck without a Primary)

    def __call__(self, tgt, fun, arg=(), kwarg=None, timeout=60):
        out = {}
        for minion in tgt:
            self.log.append((minion, fun))
            if minion in self.silent:
                out[minion] = (False, "no answer")
            elif fun == "galera.status":
                out[minion] = (True, self.views.get(minion, {}))
            elif fun == "cmd.run":
                running = minion in self.views or minion in self.stubborn
                out[minion] = (True, "active" if running else "inactive")
            elif fun == "service.stop":
                if minion not in self.stubborn:
                    self.views.pop(minion, None)
                out[minion] = (True, True)
            elif fun == "cmd.run_all":  # systemctl kill --signal=SIGKILL
                self.stubborn.discard(minion)
                self.views.pop(minion, None)
                out[minion] = (True, {"retcode": 0})
            elif fun == "galera.recover_position":
                out[minion] = (self.positions[minion] is not None, self.positions[minion])
            elif fun == "galera.choose_bootstrap":
                out[minion] = (True, galera.choose_bootstrap(*arg))
            elif fun == "galera.wait":
                out[minion] = (
                    True,
                    {
                        "cluster_size": sum(
                            1 for m, f in self.log if f in ("galera.bootstrap", "service.start")
                        )
                    },
                )
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
    asked = ("cmd.run", "galera.status", "galera.recover_position", "galera.choose_bootstrap")
    actions = [(m, f) for m, f in cluster.log if f not in asked]
    assert actions == [
        ("db2", "galera.mark_safe_to_bootstrap"),
        ("db2", "galera.bootstrap"),
        ("db2", "galera.wait"),
        ("db1", "service.start"),
        ("db1", "galera.wait"),
        ("db3", "service.start"),
        ("db3", "galera.wait"),
    ]
    assert steps[2] == {"marked safe_to_bootstrap": "db2"} and steps[-1] == {"joined": "db3", "size": 3}


def test_recover_refuses_and_touches_nothing_when_uuids_differ(cluster):
    cluster.positions["db3"]["uuid"] = "1a2b3c4d-0000-11f0-8888-000000000001"
    with pytest.raises(runner.CommandExecutionError, match="state UUIDs differ"):
        runner.recover(["db1", "db2", "db3"])
    assert {f for _, f in cluster.log} == {
        "cmd.run",
        "galera.status",
        "galera.recover_position",
        "galera.choose_bootstrap",
    }


def test_recover_refuses_when_a_member_cannot_tell_its_position(cluster):
    cluster.positions["db1"] = None
    with pytest.raises(runner.CommandExecutionError, match="db1: no position"):
        runner.recover("db1,db2,db3")


def test_recover_needs_the_members():
    with pytest.raises(runner.CommandExecutionError, match="give the data members"):
        runner.recover("")


def view(status="Primary", state=4, size=3, uuid=UUID):
    return {
        "wsrep": True,
        "cluster_status": status,
        "local_state": state,
        "ready": status == "Primary",
        "local_state_comment": {4: "Synced", 1: "Joining"}.get(state, "Initialized"),
        "cluster_size": size,
        "cluster_state_uuid": uuid,
    }


def actions(cluster):
    return [(m, f) for m, f in cluster.log if f not in ("cmd.run", "galera.status")]


def changes(cluster):
    """What the runner did, without its questions (status, positions, the verdict)."""
    asked = ("galera.recover_position", "galera.choose_bootstrap")
    return [a for a in actions(cluster) if a[1] not in asked]


def test_recover_leaves_a_healthy_cluster_alone(cluster):
    cluster.views = {n: view() for n in ("db1", "db2", "db3")}
    assert runner.recover("db1,db2,db3") == []
    assert actions(cluster) == []
    assert runner.healthy("db1,db2,db3") == {"healthy": True, "primary": ["db1", "db2", "db3"], "reasons": []}


def test_recover_only_starts_the_stopped_members_when_a_primary_component_survives(cluster):
    cluster.views = {"db2": view(size=1)}
    steps = runner.recover("db1,db2,db3")
    assert actions(cluster) == [
        ("db1", "service.start"),
        ("db1", "galera.wait"),
        ("db3", "service.start"),
        ("db3", "galera.wait"),
    ]
    assert steps[1] == {"primary component on": ["db2"], "starting": ["db1", "db3"]}


def test_recover_stops_non_primary_members_before_it_bootstraps_the_most_advanced(cluster):
    cluster.views = {"db1": view("non-Primary", 0, 1), "db3": view("non-Primary", 0, 1)}
    runner.recover("db1,db2,db3")
    asked = ("galera.recover_position", "galera.choose_bootstrap")
    acted = [a for a in actions(cluster) if a[1] not in asked]
    assert acted[:4] == [
        ("db1", "service.stop"),
        ("db3", "service.stop"),
        ("db2", "galera.mark_safe_to_bootstrap"),
        ("db2", "galera.bootstrap"),
    ]
    assert [f for _, f in acted].count("galera.bootstrap") == 1


def test_recover_refuses_and_touches_nothing_while_a_member_does_not_answer(cluster):
    cluster.views = {"db1": view("non-Primary", 0, 1)}
    cluster.silent = {"db3"}
    with pytest.raises(runner.CommandExecutionError, match="db3 does not answer Salt"):
        runner.recover("db1,db2,db3")
    assert actions(cluster) == []


def test_judge_names_every_reason_a_cluster_is_not_whole():
    found = runner.judge({"db1": view(size=2), "db2": view("non-Primary", 0, 1), "db3": None}, 3)
    assert found["healthy"] is False and found["primary"] == ["db1"]
    assert found["reasons"] == [
        "db1: sees 2 members, expected 3",
        "db2: not in the Primary component (non-Primary)",
        "db3: does not answer Salt",
    ]


def test_recover_stops_members_stuck_starting_without_a_primary_then_bootstraps_one(cluster, monkeypatch):
    monkeypatch.setattr(runner, "_settled", lambda members, service, timeout: ["db1", "db3"])
    runner.recover("db1,db2,db3")
    acted = changes(cluster)
    assert acted[:3] == [
        ("db1", "service.stop"),
        ("db3", "service.stop"),
        ("db2", "galera.mark_safe_to_bootstrap"),
    ]
    assert [f for _, f in acted].count("galera.bootstrap") == 1


def test_recover_kills_a_member_that_ignores_the_stop_then_bootstraps_one(cluster, monkeypatch):
    # Debian's unit waits 900 s on a server stuck without a Primary and never sends SIGKILL.
    monkeypatch.setattr(runner, "STOP_GRACE", 0)
    cluster.views = {"db1": view("non-Primary", 0, 1), "db3": view("non-Primary", 0, 1)}
    cluster.stubborn = {"db3"}
    steps = runner.recover("db1,db2,db3")
    acted = changes(cluster)
    assert acted[:4] == [
        ("db1", "service.stop"),
        ("db3", "service.stop"),
        ("db3", "cmd.run_all"),
        ("db2", "galera.mark_safe_to_bootstrap"),
    ]
    assert steps[1:3] == [{"stopped non-Primary": "db1"}, {"killed non-Primary": "db3"}]


def test_recover_gives_up_when_a_killed_member_still_runs(cluster, monkeypatch):
    monkeypatch.setattr(runner, "STOP_GRACE", 0)
    cluster.views = {"db1": view("non-Primary", 0, 1)}
    cluster.stubborn = {"db1"}
    monkeypatch.setattr(runner.time, "sleep", lambda _s: None)
    real = cluster.__call__

    def deaf_to_kill(tgt, fun, arg=(), kwarg=None, timeout=60):
        if fun == "cmd.run_all":
            return {m: (True, {"retcode": 0}) for m in tgt}
        return real(tgt, fun, arg, kwarg, timeout)

    monkeypatch.setattr(runner, "_call", deaf_to_kill)
    with pytest.raises(runner.CommandExecutionError, match="db1: mariadb still active after SIGKILL"):
        runner.recover("db1,db2,db3")
    assert not [a for a in actions(cluster) if a[1].startswith("galera.") and a[1] != "galera.status"]
