"""fileshare_gluster: `gluster volume heal VOL info` parsed and judged, and the healed gate."""

import pytest
from site_topology import getter
from suite_modules import load

mod = load("_modules/fileshare_gluster.py", "fileshare_gluster_mod")
state = load("_states/fileshare_gluster.py", "fileshare_gluster_state")


def brick(host, status="Connected", entries="0", files=()):
    lines = [
        f"Brick {host}:/srv/gluster/brick",
        *files,
        f"Status: {status}",
        f"Number of entries: {entries}",
        "",
    ]
    return "\n".join(lines)


HEALED = "".join(brick(h) for h in ("st1", "st2", "st3"))


def test_heal_info_lists_each_brick_with_its_status_and_entries():
    text = (
        brick("st1")
        + brick("st2", entries="2", files=["/a.txt", "<gfid:1234>"])
        + brick("st3", status="Transport endpoint is not connected", entries="-")
    )
    assert mod.parse_heal_info(text) == [
        {"brick": "st1:/srv/gluster/brick", "status": "Connected", "entries": 0},
        {"brick": "st2:/srv/gluster/brick", "status": "Connected", "entries": 2},
        {"brick": "st3:/srv/gluster/brick", "status": "Transport endpoint is not connected", "entries": None},
    ]


@pytest.mark.parametrize(
    "text", ["", "Volume fileshare does not exist\nVolume heal failed.", "Status: Connected"]
)
def test_heal_info_of_an_error_lists_no_brick(text):
    assert mod.parse_heal_info(text) == []


@pytest.mark.parametrize(
    "text, expected, healed, comment",
    [
        (HEALED, 3, True, "volume fileshare: 3 bricks connected, nothing to heal"),
        (
            brick("st1") + brick("st2"),
            3,
            False,
            "volume fileshare: 2 of 3 bricks listed, 0 not connected, 0 entries to heal",
        ),
        (
            brick("st1") + brick("st2", entries="5") + brick("st3", entries="1"),
            3,
            False,
            "volume fileshare: 3 of 3 bricks listed, 0 not connected, 6 entries to heal",
        ),
        (
            brick("st1")
            + brick("st2")
            + brick("st3", status="Transport endpoint is not connected", entries="-"),
            3,
            False,
            "volume fileshare: 3 of 3 bricks listed, 1 not connected (st3:/srv/gluster/brick), "
            "0 entries to heal",
        ),
        (HEALED, 4, False, "volume fileshare: 3 of 4 bricks listed, 0 not connected, 0 entries to heal"),
        ("", 3, False, "volume fileshare: 0 of 3 bricks listed, 0 not connected, 0 entries to heal"),
    ],
)
def test_the_volume_is_healed_only_with_every_brick_connected_and_nothing_pending(
    text, expected, healed, comment
):
    verdict = mod.heal_verdict(mod.parse_heal_info(text), expected, "fileshare")
    assert verdict["healed"] is healed and verdict["comment"] == comment


class Storage:
    """What the module asks of Salt on a storage node: the heal info, a new answer per look."""

    def __init__(self, answers):
        self.answers, self.asked = list(answers), []

    def run_all(self, argv, **kwargs):
        self.asked.append(argv)
        text = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return {"retcode": 0 if text else 2, "stdout": text, "stderr": "" if text else "Volume heal failed."}


@pytest.fixture
def storage():
    node = Storage([HEALED])
    nodes = [{"name": f"st{i}", "address": f"10.0.0.7{i}", "roles": ["storage"]} for i in (1, 2, 3)]
    mod.__salt__ = {
        "cmd.run_all": node.run_all,
        "fileshare_topology.get": getter(
            {"architecture": "full_ha", "nodes": nodes, "storage": {"volume": "data"}}, "st1"
        ),
    }
    state.__salt__ = {
        "fileshare_gluster.heal_status": mod.heal_status,
        "fileshare_gluster.wait_healed": mod.wait_healed,
    }
    state.__opts__ = {"test": False}
    return node


def test_heal_status_asks_the_sites_volume_for_its_storage_nodes(storage):
    assert mod.heal_status()["healed"] is True
    assert storage.asked == [["gluster", "volume", "heal", "data", "info"]]


def test_a_failed_gluster_command_is_named(storage):
    storage.answers = [""]
    verdict = mod.heal_status("data")
    assert not verdict["healed"] and "gluster: Volume heal failed." in verdict["comment"]


def test_wait_healed_looks_again_until_the_heal_ends(storage):
    storage.answers = [brick("st1") + brick("st2", entries="3") + brick("st3"), HEALED]
    assert mod.wait_healed(timeout=10, interval=0.01)["healed"] is True and len(storage.asked) == 2


def test_the_gate_fails_naming_what_is_left_at_the_deadline(storage):
    storage.answers = [brick("st1") + brick("st2", entries="3") + brick("st3")]
    ret = state.healed("data", timeout=0)
    assert ret["result"] is False and ret["comment"].endswith("3 entries to heal") and ret["changes"] == {}


def test_the_gate_under_test_looks_once_and_says_it_would_wait(storage):
    storage.answers = [brick("st1") + brick("st2", entries="3") + brick("st3")]
    state.__opts__["test"] = True
    ret = state.healed("data", timeout=300)
    assert ret["result"] is None and "would wait at most 300 s" in ret["comment"] and len(storage.asked) == 1
    storage.answers = [HEALED]
    assert state.healed("data", timeout=300)["result"] is True
