"""
kitchen.yml cannot run here (no Ruby gems, no Docker engine), so check what can be checked: it parses,
pins the same Salt as requirements.lock, every path it names exists in the checkout, its state top syncs
the suite's modules first and then follows fileshare.all_in_one, its verifier runs its own testinfra
checks, and its pillar is a valid all_in_one site.
"""

import pathlib
import re

import pytest
import salt.config
import salt.pillar
import yaml
from suite_modules import load

REPO = pathlib.Path(__file__).resolve().parents[2]
KITCHEN_ROOT_IN_CONTAINER = "/tmp/kitchen/srv/salt"


fp = load("_modules/fileshare_pillar.py", "fileshare_pillar_for_kitchen")


@pytest.fixture(scope="module")
def kitchen():
    return yaml.safe_load((REPO / "kitchen.yml").read_text())


@pytest.fixture(scope="module")
def suite(kitchen):
    (suite,) = [s for s in kitchen["suites"] if s["name"] == "all_in_one"]
    return suite


def _in_checkout(path_in_container):
    return REPO / pathlib.Path(path_in_container).relative_to(KITCHEN_ROOT_IN_CONTAINER)


def _file_roots(kitchen):
    return [_in_checkout(r) for r in kitchen["provisioner"]["salt_minion_extra_config"]["file_roots"]["base"]]


def test_driver_and_provisioner_pin_the_locked_salt(kitchen):
    assert kitchen["driver"]["name"] == "docker"
    provisioner = kitchen["provisioner"]
    assert provisioner["name"] == "salt_solo"
    assert provisioner["formula"] == "fileshare"
    pinned = re.search(r"^salt==(\S+)$", (REPO / "requirements.lock").read_text(), re.M).group(1)
    assert str(provisioner["salt_version"]) == pinned
    # Salt goes into its own virtualenv by init_environment, at the same pin, and salt-call is that one.
    assert provisioner["salt_install"] == "none"
    assert f"pip install --quiet salt=={pinned}" in provisioner["init_environment"]
    assert provisioner["salt_call_command"] == "/opt/salt/bin/salt-call"


def test_the_suite_runs_on_debian_12(kitchen, suite):
    assert [p["name"] for p in kitchen["platforms"]] == ["debian-12"]
    assert kitchen["platforms"][0]["driver"]["image"] == "debian:12"
    assert suite["verifier"]["name"] == "shell"


def test_file_roots_and_pillar_directories_exist(kitchen):
    roots = _file_roots(kitchen)
    assert roots == [REPO, REPO / "formulas", REPO / "orchestrate"]
    for root in roots:
        assert root.is_dir(), root
    assert (REPO / "formulas" / kitchen["provisioner"]["formula"]).is_dir()
    assert kitchen["provisioner"]["pillars_from_directories"] == ["tests/kitchen/pillar"]
    assert (REPO / "tests/kitchen/pillar/top.sls").is_file()


def test_pre_salt_command_runs_a_script_of_the_checkout(kitchen):
    words = kitchen["provisioner"]["pre_salt_command"].split()
    scripts = [w for w in words if w.startswith(KITCHEN_ROOT_IN_CONTAINER + "/")]
    assert scripts and all(_in_checkout(s).is_file() for s in scripts), scripts


def _sls_path(roots, sls):
    rel = pathlib.Path(*sls.split("."))
    for root in roots:
        for candidate in (root / rel / "init.sls", root / rel.with_suffix(".sls")):
            if candidate.is_file():
                return candidate
    return None


def test_state_top_syncs_the_suite_first_then_follows_the_orchestration(kitchen, suite):
    top = suite["provisioner"]["state_top"]["base"]
    minion = kitchen["provisioner"]["salt_minion_id"]
    assert list(top) == [minion] == ["aio1"]
    roots = _file_roots(kitchen)
    for sls in top[minion]:
        assert _sls_path(roots, sls), f"{sls} names no SLS file"
    # map.jinja asks fileshare_topology and the db states need the Salt extensions: infra.sync first.
    first, *layers = top[minion]
    assert first == "fileshare.infra.sync"
    orchestration = (REPO / "orchestrate" / "fileshare" / "all_in_one.sls").read_text()
    positions = []
    for sls in layers:
        assert f"'{sls}'" in orchestration, f"{sls} is not a step of fileshare.all_in_one"
        positions.append(orchestration.index(f"'{sls}'"))
    assert positions == sorted(positions), "state_top is not in the orchestration's order"
    steps = re.findall(r"'(fileshare\.[a-z_.]+)'", orchestration)
    assert layers == steps, "state_top leaves out a step of fileshare.all_in_one"


def test_verifier_runs_the_kitchen_checks_against_the_container(suite):
    words = suite["verifier"]["command"].split()
    paths = [w for w in words if "/" in w and not w.startswith("--")]
    assert "tests/kitchen/test_all_in_one.py" in paths
    for path in paths:
        assert (REPO / path).exists(), path
    assert "--hosts=docker://${KITCHEN_CONTAINER_ID}" in words


def test_kitchen_pillar_is_a_valid_all_in_one_site(tmp_path, kitchen):
    """Rendered as salt-call renders it in the container (its own address and subnet from this machine's
    interfaces), it passes the validation every orchestration starts with."""
    minion = kitchen["provisioner"]["salt_minion_id"]
    opts = salt.config.minion_config(None)
    opts.update(
        id=minion,
        file_client="local",
        cachedir=str(tmp_path / "cache"),
        pillar_roots={"base": [str(REPO / "tests/kitchen/pillar")]},
        file_roots={"base": [str(REPO)]},
        grains={"id": minion},
    )
    site = salt.pillar.get_pillar(opts, opts["grains"], minion, saltenv="base").compile_pillar()["fileshare"]
    assert site["architecture"] == "all_in_one"
    assert [n["name"] for n in site["nodes"]] == [minion]
    assert fp.problems(site) == []
