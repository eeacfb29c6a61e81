"""Rolling upgrade: the Galera take-down gate (galera.safe_to_take_down state) and the release keys of
the pillar schema (fileshare:release)."""

import copy

import pytest
from suite_modules import load
from test_galera_logic import raw
from test_pillar_schema import examples  # noqa: F401 - the compiled example pillars (fixture)

galera = load("_modules/galera.py", "galera_for_gate")
galera_state = load("_states/galera.py", "galera_states_for_gate")
fp = load("_modules/fileshare_pillar.py", "fileshare_pillar_for_release")


def gate(views, me="db1"):
    galera_state.__salt__ = {
        "galera.safe_to_take_down": lambda node=None, expected=None: galera.take_down_verdict(
            views, node or me, expected or 3
        )
    }
    galera_state.__grains__ = {"id": me}
    return galera_state.safe_to_take_down("fileshare-db")


def test_a_member_of_a_healthy_cluster_may_be_taken_down():
    synced = galera.parse_status(raw())
    ret = gate({"db1": synced, "db2": synced, "db3": synced})
    assert ret["result"] is True and ret["changes"] == {} and "db1 may be taken down" in ret["comment"]


def test_no_member_is_taken_down_while_another_is_missing():
    synced = galera.parse_status(raw())
    joining = galera.parse_status(raw(state=1, comment="Joining", size=3))
    ret = gate({"db1": synced, "db2": synced, "db3": joining})
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"].startswith("db1 must not be taken down: ")


@pytest.mark.parametrize(
    "release",
    [
        {"name": "2026.2"},
        {
            "name": "2026.2",
            "packages": {"haproxy": "2.6.12-1+deb12u3", "mariadb-server": "1:10.11.11-0+deb12u1"},
        },
    ],
)
def test_release_keys_are_accepted(examples, release):  # noqa: F811
    data = copy.deepcopy(examples["full_ha"])
    data["release"] = release
    assert fp.problems(data) == []


@pytest.mark.parametrize(
    "release, key, words",
    [
        ({}, "fileshare:release:name", "required"),
        ({"name": "2026 2"}, "fileshare:release:name", "release name"),
        (
            {"name": "x", "packages": {"haproxy": "2.6; rm -rf /"}},
            "fileshare:release:packages:haproxy",
            "exact package version",
        ),
        ({"name": "x", "packages": {"Bad Name": "1.0"}}, "fileshare:release:packages", "Debian package name"),
        ({"name": "x", "version": "1"}, "fileshare:release:version", "unknown key"),
    ],
)
def test_bad_release_keys_are_refused_with_the_key(examples, release, key, words):  # noqa: F811
    data = copy.deepcopy(examples["full_ha"])
    data["release"] = release
    found = fp.problems(data)
    assert len(found) == 1, found
    assert found[0]["key"] == key and words in found[0]["reason"], found
