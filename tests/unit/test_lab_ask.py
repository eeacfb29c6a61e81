"""How the lab and bench tools read the site and ask its layers: the topology through the suite's own
derivation, the suite's modules' answers read (never re-parsed), and the in-node call path."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fileshare_lab import ask, logic, topology
from fileshare_lab.logic import LabError

MODULES = Path(__file__).resolve().parents[2] / "_modules"


def _pillar(**site):
    nodes = [
        {"name": f"node{i}", "address": f"10.77.0.2{i}", "roles": ["load", "app", "db", "intermediate"]}
        for i in (1, 2, 3)
    ]
    vip = {"address": "10.77.0.100", "name": "files"}
    base = {"architecture": "mini_ha", "site": "example", "domain": "example.lab", "vip": vip, "nodes": nodes}
    return {"fileshare": {**base, **site}}


def test_the_tools_see_the_defaults_of_parameters_defaults_yaml():
    site = topology.derive(_pillar())
    defaults = topology.defaults()
    assert site["ports"] == defaults["ports"]
    assert ask.sentinel_args(site) == {
        "name": defaults["names"]["sentinel_master"],
        "port": defaults["ports"]["sentinel"],
    }
    assert site["roles"]["db"] == ["node1", "node2", "node3"]
    assert logic.service_info(site, "webdav") == {
        "vip": "10.77.0.100",
        "fqdn": "files.example.lab",
        "product": "webdav",
    }


def test_a_port_or_name_overridden_in_pillar_is_what_the_tools_use():
    site = topology.derive(
        _pillar(ports={"sentinel": 26400, "db_front": 3400}, names={"sentinel_master": "mysite"})
    )
    assert ask.sentinel_args(site) == {"name": "mysite", "port": 26400}
    assert site["ports"]["db_front"] == 3400
    assert site["endpoints"]["db"] == {"host": "10.77.0.100", "port": 3400}


def _backend(*servers):
    return {"servers": [{"server": s, "status": status} for s, status in servers], "writer": None}


def test_backend_statuses_come_from_the_module_view():
    assert ask.statuses(_backend(("app1", "UP"), ("app2", "DOWN 1/2"))) == {"app1": "UP", "app2": "DOWN 1/2"}


def test_unchecked_fail_open_backups_are_not_counted_as_servers():
    backend = _backend(("app1", "UP"), ("app2", "DOWN"), ("app1-open", "no check"), ("app2-open", "no check"))
    assert ask.statuses(backend) == {"app1": "UP", "app2": "DOWN"}
    assert ask.backend_verdict(backend, 2) == ["not UP: ['app2']"]


@pytest.mark.parametrize(
    "backend,expected,masters,wrong",
    [
        (_backend(("app1", "UP"), ("app2", "UP 1/2")), 2, False, []),
        (_backend(("app1", "UP"), ("app2", "DOWN")), 2, False, ["not UP: ['app2']"]),
        (_backend(("app1", "UP")), 2, False, ["1 servers, 2 expected"]),
        (_backend(("im1", "UP"), ("im2", "DOWN"), ("im3", "DOWN")), 3, True, []),
        (_backend(("im1", "UP"), ("im2", "UP"), ("im3", "DOWN")), 3, True, ["2 servers UP"]),
        (_backend(("im1", "DOWN"), ("im2", "DOWN"), ("im3", "DOWN")), 3, True, ["0 servers UP"]),
        ({}, 2, False, ["0 servers, 2 expected"]),
    ],
)
def test_backend_verdict_names_what_is_wrong(backend, expected, masters, wrong):
    got = ask.backend_verdict(backend, expected, masters=masters)
    assert len(got) == len(wrong) and all(g.startswith(w) for g, w in zip(got, wrong, strict=True)), got


def test_a_sentinel_answer_is_mapped_to_its_node():
    site = topology.derive(_pillar())
    assert ask.node_of(site, "10.77.0.22:6379") == "node2"
    assert ask.node_of(site, "10.9.9.9:6379") == "10.9.9.9"
    assert ask.node_of(site, None) is None


def test_salt_reports_of_failure_are_told_from_returns():
    assert ask.failed("ERROR: HAProxy runtime API at /run/haproxy/admin.sock: no such file")
    assert ask.failed("'fileshare_gluster.heal_status' is not available.")
    assert ask.failed("The minion function caused an exception: Traceback ...")
    assert not ask.failed("10.77.0.21:6379") and not ask.failed({"quorate": True}) and not ask.failed(None)


def test_salt_keyword_arguments_are_yaml_salt_parses():
    assert ask.salt_kwargs({"name": "fileshare", "port": 26379, "addresses": ["10.77.0.21"]}) == [
        "name=fileshare",
        "port=26379",
        'addresses=["10.77.0.21"]',
    ]


def _run_here(argv, data):
    """What lxc-attach would run in a node, run here: this Python, the repo's modules on the path."""
    assert "secret" not in " ".join(argv), "an argument reached the command line"
    env = {**os.environ, "PYTHONPATH": str(MODULES)}
    return subprocess.run(
        [sys.executable, *argv[1:]], input=data, capture_output=True, text=True, env=env, timeout=60
    )


def test_in_node_calls_the_module_and_returns_its_value():
    answers = {"10.77.0.21": "10.77.0.21:6379", "10.77.0.22": "10.77.0.21:6379", "10.77.0.23": None}
    assert ask.in_node(_run_here, "fileshare_redis", "agreed", answers) == "10.77.0.21:6379"


def test_in_node_keeps_its_arguments_off_the_command_line():
    # A password argument travels on stdin (_run_here refuses it on argv); the call still arrives.
    with pytest.raises(LabError, match="CommandExecutionError: not the output of `show stat`"):
        ask.in_node(_run_here, "fileshare_haproxy", "parse_stat", "secret-garbage")


def test_in_node_raises_the_module_error_without_importing_salt():
    with pytest.raises(LabError, match="CommandExecutionError: not the output of `show stat`"):
        ask.in_node(_run_here, "fileshare_haproxy", "parse_stat", "garbage")


def test_in_node_gives_config_get_its_default():
    # fileshare_haproxy asks config.get for its socket: the stand-in gives the module's own default.
    with pytest.raises(LabError, match="runtime API at /run/haproxy/admin.sock"):
        ask.in_node(_run_here, "fileshare_haproxy", "backend", "be_app")
