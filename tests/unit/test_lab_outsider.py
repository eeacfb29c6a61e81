"""fileshare-lab's outsider: a lab node on the bridge that is no site member (pure logic, argument checks)."""

import json

import pytest
from fileshare_lab import cli, logic
from fileshare_lab.host import Lab
from fileshare_lab.logic import LabError

NET = "10.78.0"
NODES = [{"name": f"lb{i}", "address": f"{NET}.{30 + i}", "roles": ["load"]} for i in (1, 2)]


def test_the_outsider_takes_an_address_no_node_nor_the_vip_nor_the_master_has():
    entry = logic.outsider_entry(NET, NODES, {"vip": f"{NET}.100"})
    assert entry == {"name": "outsider", "address": f"{NET}.250", "roles": []}


def test_the_outsider_skips_taken_addresses_from_the_top():
    taken = [f"{NET}.{i}" for i in range(240, 251)]
    assert logic.outsider_address(NET, taken) == f"{NET}.239"


def test_the_outsider_never_takes_the_master_address():
    taken = [f"{NET}.{i}" for i in range(2, 251)]
    with pytest.raises(LabError, match="no free address"):
        logic.outsider_address(NET, taken)


def test_the_outsider_has_no_roles_so_no_firewall_rule_names_it():
    entry = logic.outsider_entry(NET, NODES, {})
    assert entry["roles"] == [] and entry["address"] not in {n["address"] for n in NODES}


@pytest.mark.parametrize("action", ["up", "down"])
def test_outsider_actions_are_accepted(action):
    assert logic.check_outsider_action(action) == action


@pytest.mark.parametrize("action", ["", "start", "UP", "up "])
def test_other_outsider_actions_are_refused(action):
    with pytest.raises(LabError, match="outsider takes up or down"):
        logic.check_outsider_action(action)


@pytest.fixture
def lab_home(tmp_path, monkeypatch):
    monkeypatch.setenv("FILESHARE_LAB_HOME", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(
    "argv,match",
    [
        (["outsider"], "usage: fileshare-lab outsider up|down"),
        (["outsider", "up", "now"], "usage: fileshare-lab outsider up|down"),
        (["outsider", "sideways"], "outsider takes up or down, not 'sideways'"),
        (["outsider", "up"], "lab fileshare is not up"),
    ],
)
def test_bad_outsider_arguments_give_one_message_exit_2_and_touch_nothing(lab_home, capsys, argv, match):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("fileshare-lab: ") and match in err
    assert len(err.strip().splitlines()) == 1
    assert list(lab_home.iterdir()) == []


def test_run_reaches_the_outsider_once_it_is_recorded(lab_home):
    state = lab_home / "fstest" / "lab.json"
    state.parent.mkdir()
    outsider = {
        **logic.outsider_entry(NET, NODES, {}),
        "container": "fstest-outsider",
        "veth": "fstest-outsider",
    }
    state.write_text(
        json.dumps({"architecture": "full_ha", "net": NET, "nodes": NODES, "outsider": outsider})
    )
    assert Lab("fstest").node("outsider") == outsider
