"""galera's pure layer: node views, health answers, quorum arithmetic, grastate and recovery choice."""

import pytest
from suite_modules import load

galera = load("_modules/galera.py", "galera_logic")

UUID = "8bfc2a2b-cd6e-11f0-9c4b-3a1d4e5f6a7b"
OTHER = "1a2b3c4d-0000-11f0-8888-000000000001"
ZERO = galera.ZERO_UUID


def raw(state=4, status="Primary", size=3, ready="ON", uuid=UUID, committed=42, comment=None, conf_id=7):
    """SHOW STATUS as PyMySQL hands it to mysql.status with use_unicode off: bytes."""
    comments = {1: "Joining", 2: "Donor/Desynced", 3: "Joined", 4: "Synced"}
    return {
        b"wsrep_cluster_size": str(size).encode(),
        b"wsrep_cluster_status": status.encode(),
        b"wsrep_local_state": str(state).encode(),
        b"wsrep_local_state_comment": (comment or comments.get(state, "Initialized")).encode(),
        b"wsrep_ready": ready.encode(),
        b"wsrep_connected": b"ON",
        b"wsrep_cluster_state_uuid": uuid.encode(),
        b"wsrep_cluster_conf_id": str(conf_id).encode(),
        b"wsrep_local_state_uuid": uuid.encode(),
        b"wsrep_last_committed": str(committed).encode(),
        b"wsrep_flow_control_paused": b"0.25",
        b"wsrep_local_recv_queue_avg": b"0.5",
        b"wsrep_local_send_queue_avg": b"0",
        b"Uptime": b"100",
    }


def view(**kw):
    return galera.parse_status(raw(**kw))


# ---- status ------------------------------------------------------------------------------------------


def test_status_is_parsed_from_bytes_or_text():
    v = view()
    assert v == galera.parse_status({k.decode(): v.decode() for k, v in raw().items()})
    assert v["cluster_size"] == 3 and v["cluster_status"] == "Primary" and v["local_state"] == 4
    assert v["ready"] and v["connected"] and v["cluster_state_uuid"] == UUID and v["last_committed"] == 42
    assert v["flow_control_paused"] == 0.25 and v["recv_queue_avg"] == 0.5


def test_no_answer_and_no_wsrep_are_told_apart():
    assert galera.parse_status({}) == {}
    assert galera.parse_status({"Uptime": "5"}) == {"wsrep": False}


# ---- health (port 9200) -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "v,allow_donor,available,reason",
    [
        (view(), False, True, "Synced"),
        (view(state=2), False, False, "Donor/Desynced, not Synced"),
        (view(state=2), True, True, "Donor/Desynced (donors allowed)"),
        (view(state=1), True, False, "Joining, not Synced"),
        (view(state=3), False, False, "Joined, not Synced"),
        (view(status="non-Primary", size=1), True, False, "not in the Primary component (non-Primary)"),
        (view(ready="OFF"), False, False, "wsrep_ready is OFF"),
        ({}, False, False, "MariaDB does not answer"),
        ({"wsrep": False}, False, False, "wsrep is not enabled (not a Galera node)"),
    ],
)
def test_health_is_200_only_when_synced_and_donor_only_when_allowed(v, allow_donor, available, reason):
    assert galera.health(v, allow_donor) == (available, reason)


# ---- the stall gate (a node that was frozen) ----------------------------------------------------------


def gate_after_stall(seconds=8.0):
    """A gate that saw conf_id 7 healthy, then a node stopped for SECONDS, now just running again."""
    gate = galera.stall_beat({}, 100.0, 1.5)
    assert galera.stall_verdict(gate, 100.0, view(), 10.0) is None
    galera.stall_beat(gate, 100.2, 1.5)
    galera.stall_beat(gate, 100.2 + seconds, 1.5)
    return gate, 100.2 + seconds


def test_beats_closer_than_the_stall_threshold_leave_the_gate_open():
    gate = {}
    for t in (0.0, 0.2, 1.6, 3.0):
        galera.stall_beat(gate, t, 1.5)
    assert galera.stall_verdict(gate, 3.0, view(), 10.0) is None


def test_a_thawed_node_still_saying_synced_in_its_old_view_is_refused():
    gate, now = gate_after_stall()
    reason = galera.stall_verdict(gate, now + 0.5, view(conf_id=7), 10.0)
    assert reason == "stopped for 8.0 s: its view may be stale until it changes (at most 10 s)"


def test_the_gate_opens_once_the_node_is_synced_in_a_new_view_and_not_before():
    gate, now = gate_after_stall()
    # It noticed the eviction: non-Primary in a new view is still refused (by health, and the gate).
    assert galera.stall_verdict(gate, now + 1, view(status="non-Primary", conf_id=-1), 10.0)
    assert galera.stall_verdict(gate, now + 2, view(state=1, conf_id=9), 10.0)
    assert galera.stall_verdict(gate, now + 3, view(conf_id=9), 10.0) is None
    assert gate["conf_id"] == 9 and gate["stalled_at"] is None


def test_a_stall_nobody_noticed_opens_the_gate_after_the_hold():
    gate, now = gate_after_stall(2.0)
    assert galera.stall_verdict(gate, now + 9.9, view(conf_id=7), 10.0)
    assert galera.stall_verdict(gate, now + 10.1, view(conf_id=7), 10.0) is None


def test_a_donor_opens_the_gate_only_where_donors_are_allowed():
    gate, now = gate_after_stall()
    assert galera.stall_verdict(gate, now + 1, view(state=2, conf_id=9), 10.0)
    assert galera.stall_verdict(gate, now + 1, view(state=2, conf_id=9), 10.0, allow_donor=True) is None


# ---- quorum ---------------------------------------------------------------------------------------------


def test_three_synced_members_are_quorate():
    res = galera.verdict({"db1": view(), "db2": view(), "db3": view()}, 3)
    assert res == {"quorate": True, "reasons": [], "size": 3}


def test_two_data_nodes_and_an_arbitrator_count_three():
    # garbd has no SQL view but is counted in wsrep_cluster_size.
    assert galera.verdict({"db1": view(size=3), "db2": view(size=3)}, 3)["quorate"]


def test_a_lost_member_shows_as_a_size_mismatch():
    res = galera.verdict({"db1": view(size=2), "db2": view(size=2), "db3": {}}, 3)
    assert not res["quorate"]
    assert res["reasons"] == ["db3: MariaDB does not answer", "cluster size 2, expected 3 members"]


def test_an_isolated_node_is_named_non_primary():
    res = galera.verdict({"db1": view(), "db2": view(), "db3": view(status="non-Primary", size=1)}, 3)
    assert "db3: not in the Primary component (non-Primary)" in res["reasons"]
    assert "cluster size 1, expected 3 members" in res["reasons"]


def test_a_donor_or_joiner_is_not_quorate_yet():
    res = galera.verdict({"db1": view(state=2), "db2": view(state=1)}, 3)
    assert res["reasons"][:2] == ["db1: Donor/Desynced, not Synced", "db2: Joining, not Synced"]


def test_members_disagreeing_on_the_state_uuid_are_not_one_cluster():
    res = galera.verdict({"db1": view(), "db2": view(uuid=OTHER)}, 3)
    assert res["reasons"] == [f"nodes disagree on the cluster state UUID: {OTHER}, {UUID}"]


def test_an_even_four_node_cluster_is_quorate_at_four():
    views = {f"db{i}": view(size=4) for i in range(1, 5)}
    assert galera.verdict(views, 4)["quorate"] and not galera.verdict(views, 3)["quorate"]


@pytest.mark.parametrize(
    "size,leaving,keeps",
    [
        (1, 1, False),
        (2, 1, False),  # 1 of 2 is not a majority: a 2-node cluster cannot lose a node
        (3, 1, True),  # 2 data nodes, or 1 data node + garbd, of 3
        (3, 2, False),
        (4, 1, True),
        (4, 2, False),  # an even split: neither half is Primary
        (5, 2, True),
        (6, 3, False),
        (7, 3, True),
    ],
)
def test_quorum_arithmetic_needs_a_strict_majority(size, leaving, keeps):
    assert galera.keeps_primary(size, leaving) is keeps


# ---- safe to take down ------------------------------------------------------------------------------------


def test_one_of_three_synced_nodes_may_go():
    assert galera.take_down_verdict({"db1": view(), "db2": view(), "db3": view()}, "db1", 3) == {
        "safe": True,
        "reasons": [],
    }


def test_a_two_node_cluster_may_not_lose_either():
    res = galera.take_down_verdict({"db1": view(size=2), "db2": view(size=2)}, "db1", 2)
    assert not res["safe"]
    assert res["reasons"] == [
        "without db1 the cluster keeps 1 of 2 members, not a majority: it would lose its Primary component"
    ]


def test_with_an_arbitrator_one_data_node_may_go_if_the_other_is_synced():
    assert galera.take_down_verdict({"db1": view(), "db2": view()}, "db1", 3)["safe"]
    res = galera.take_down_verdict({"db1": view(), "db2": view(state=2)}, "db1", 3)
    assert not res["safe"] and "no other Synced data node would be left without db1" in res["reasons"]


def test_not_while_another_member_is_donor_or_unknown():
    res = galera.take_down_verdict({"db1": view(), "db2": view(state=2), "db3": view()}, "db1", 3)
    assert res["reasons"] == ["db2: Donor/Desynced, not Synced"]
    res = galera.take_down_verdict({"db1": view(), "db2": {}, "db3": view()}, "db3", 3)
    assert "db2: MariaDB does not answer" in res["reasons"] and not res["safe"]


def test_not_when_the_cluster_is_already_short():
    res = galera.take_down_verdict({"db1": view(size=2), "db2": view(size=2)}, "db2", 3)
    assert "cluster size 2, expected 3 members" in res["reasons"]


# ---- grastate.dat and wsrep-recover -----------------------------------------------------------------------

GRASTATE = f"""# GALERA saved state
version: 2.1
uuid:    {UUID}
seqno:   -1
safe_to_bootstrap: 0
"""


def test_grastate_after_a_crash_has_no_position():
    assert galera.parse_grastate(GRASTATE) == {
        "uuid": UUID,
        "seqno": -1,
        "safe_to_bootstrap": False,
        "version": "2.1",
    }


def test_grastate_after_a_clean_shutdown_of_the_last_node():
    text = GRASTATE.replace("seqno:   -1", "seqno:   1234").replace("bootstrap: 0", "bootstrap: 1")
    assert galera.parse_grastate(text)["seqno"] == 1234 and galera.parse_grastate(text)["safe_to_bootstrap"]


def test_an_empty_or_partial_grastate_claims_nothing():
    assert galera.parse_grastate("") == {"uuid": ZERO, "seqno": -1, "safe_to_bootstrap": False, "version": ""}
    assert galera.parse_grastate("uuid: x\nseqno: garbage\n")["seqno"] == -1


def test_safe_to_bootstrap_is_set_or_added():
    assert galera.parse_grastate(galera.set_safe_to_bootstrap(GRASTATE))["safe_to_bootstrap"]
    assert "safe_to_bootstrap: 1" in galera.set_safe_to_bootstrap("version: 2.1\nseqno: 5\n")
    assert galera.set_safe_to_bootstrap(GRASTATE).count("safe_to_bootstrap") == 1


@pytest.mark.parametrize(
    "log,expected",
    [
        (f"2026-11-28  4:01:02 0 [Note] WSREP: Recovered position: {UUID}:1234\n", 1234),
        (f"[Note] WSREP: Recovered position: {UUID.upper()}:77,0-1-77\n", 77),  # GTID suffix (10.5+)
        (f"[Note] WSREP: Recovered position {UUID}:5\n[Note] WSREP: Recovered position: {UUID}:9\n", 9),
        (f"[Note] WSREP: Recovered position: {ZERO}:-1\n", -1),
    ],
)
def test_wsrep_recover_position_is_read_from_the_log(log, expected):
    assert galera.parse_recovered("noise\n" + log + "[Note] mysqld: Shutdown complete\n") == {
        "uuid": UUID if expected != -1 else ZERO,
        "seqno": expected,
    }


def test_a_log_without_a_position_gives_none():
    assert galera.parse_recovered("[ERROR] Aborting\n") is None


# ---- choosing the node to bootstrap ------------------------------------------------------------------------


def pos(seqno, uuid=UUID, safe=False, **kw):
    return dict(uuid=uuid, seqno=seqno, safe_to_bootstrap=safe, **kw)


def test_the_most_advanced_node_is_chosen():
    res = galera.choose_bootstrap({"db1": pos(40), "db2": pos(42), "db3": pos(41)})
    assert res["bootstrap"] == "db2" and res["seqno"] == 42 and res["uuid"] == UUID
    assert "behind, will rejoin by IST/SST: db1, db3" in res["reasons"]


def test_a_behind_node_is_never_chosen_even_if_flagged_safe():
    res = galera.choose_bootstrap({"db1": pos(40, safe=True), "db2": pos(42), "db3": pos(41)})
    assert res["bootstrap"] == "db2"


def test_equal_seqnos_prefer_the_safe_to_bootstrap_node_then_the_first_name():
    assert (
        galera.choose_bootstrap({"db1": pos(42), "db2": pos(42), "db3": pos(42, safe=True)})["bootstrap"]
        == "db3"
    )
    res = galera.choose_bootstrap({"db3": pos(42), "db2": pos(42), "db1": pos(7)})
    assert res["bootstrap"] == "db2"
    assert "db2, db3 are equally advanced; db2 chosen (first by name)" in res["reasons"]


def test_an_unrecovered_seqno_refuses():
    res = galera.choose_bootstrap({"db1": pos(42), "db2": pos(-1), "db3": pos(41)})
    assert res["bootstrap"] is None
    assert res["reasons"] == ["db2: seqno -1 (position unknown): run galera.recover_position there"]


def test_a_missing_member_refuses():
    res = galera.choose_bootstrap({"db1": pos(42), "db2": None, "db3": pos(41)})
    assert res["bootstrap"] is None and res["reasons"][0].startswith("db2: no position")


def test_mismatched_uuids_refuse_naming_them():
    res = galera.choose_bootstrap({"db1": pos(42), "db2": pos(50, uuid=OTHER), "db3": pos(41)})
    assert res["bootstrap"] is None
    assert res["reasons"] == [
        f"state UUIDs differ (db1={UUID}, db2={OTHER}, db3={UUID}): "
        "these are different clusters, decide by hand"
    ]


def test_a_running_primary_refuses_any_bootstrap():
    res = galera.choose_bootstrap({"db1": pos(42, running=True, cluster_status="Primary"), "db2": pos(40)})
    assert res["bootstrap"] is None and "never bootstrap" in res["reasons"][0]


def test_a_new_cluster_bootstraps_the_first_member():
    res = galera.choose_bootstrap({"db2": pos(-1, uuid=ZERO), "db1": pos(-1, uuid=ZERO)})
    assert res["bootstrap"] == "db1" and res["uuid"] == ZERO


def test_a_member_that_never_joined_is_not_a_candidate():
    res = galera.choose_bootstrap({"db1": pos(-1, uuid=ZERO), "db2": pos(3), "db3": pos(5)})
    assert res["bootstrap"] == "db3"


def test_members_from_the_topology_count_arbitrators_apart():
    roles = {"db": ["db1", "db2"], "arbitrator": ["arb", "db2"], "app": ["app1"]}
    assert galera.members(roles) == (["db1", "db2"], ["arb"])
    assert galera.members({}) == ([], [])
