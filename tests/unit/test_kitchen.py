"""
kitchen.yml cannot run here (no Ruby gems, no Docker engine), so check what can be checked: it parses,
names the platforms and the all_in_one suite, pins the same Salt as requirements.lock, and every path
it names exists in the checkout.
"""

import pathlib
import re

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
KITCHEN_ROOT_IN_CONTAINER = "/tmp/kitchen/srv/salt"


@pytest.fixture(scope="module")
def kitchen():
    return yaml.safe_load((REPO / "kitchen.yml").read_text())


def _file_roots(kitchen):
    roots = kitchen["provisioner"]["salt_minion_extra_config"]["file_roots"]["base"]
    return [REPO / pathlib.Path(r).relative_to(KITCHEN_ROOT_IN_CONTAINER) for r in roots]


def test_driver_and_provisioner(kitchen):
    assert kitchen["driver"]["name"] == "docker"
    provisioner = kitchen["provisioner"]
    assert provisioner["name"] == "salt_solo"
    assert provisioner["formula"] == "fileshare"
    pinned = re.search(r"^salt==(\S+)$", (REPO / "requirements.lock").read_text(), re.M).group(1)
    assert str(provisioner["salt_version"]) == pinned == "3008.4"


def test_platforms_parse(kitchen):
    names = [p["name"] for p in kitchen["platforms"]]
    assert names == ["debian-12", "ubuntu-22.04", "ubuntu-24.04", "rockylinux-9", "archlinux"]
    for platform in kitchen["platforms"]:
        assert platform["driver"]["image"], platform


def test_all_in_one_suite_runs_on_debian_12(kitchen):
    (suite,) = [s for s in kitchen["suites"] if s["name"] == "all_in_one"]
    platforms = {p["name"] for p in kitchen["platforms"]}
    assert suite["includes"] == ["debian-12"] and set(suite["includes"]) <= platforms
    assert suite["verifier"]["name"] == "shell"


def test_file_roots_and_pillar_directories_exist(kitchen):
    roots = _file_roots(kitchen)
    assert roots == [REPO, REPO / "formulas", REPO / "orchestrate"]
    for root in roots:
        assert root.is_dir(), root
    assert (REPO / "formulas" / kitchen["provisioner"]["formula"]).is_dir()
    for directory in kitchen["provisioner"]["pillars_from_directories"]:
        assert (REPO / directory / "top.sls").is_file(), directory


def _sls_path(roots, sls):
    rel = pathlib.Path(*sls.split("."))
    for root in roots:
        for candidate in (root / rel / "init.sls", root / rel.with_suffix(".sls")):
            if candidate.is_file():
                return candidate
    return None


def test_state_top_names_existing_sls_in_the_orchestration_order(kitchen):
    (suite,) = [s for s in kitchen["suites"] if s["name"] == "all_in_one"]
    top = suite["provisioner"]["state_top"]["base"]
    minion = kitchen["provisioner"]["salt_minion_id"]
    assert list(top) == [minion] == ["aio1"]
    roots = _file_roots(kitchen)
    orchestration = (REPO / "orchestrate" / "fileshare" / "all_in_one.sls").read_text()
    positions = []
    for sls in top[minion]:
        assert _sls_path(roots, sls), f"{sls} names no SLS file"
        assert f"'{sls}'" in orchestration, f"{sls} is not a step of fileshare.all_in_one"
        positions.append(orchestration.index(f"'{sls}'"))
    assert positions == sorted(positions), "state_top is not in the orchestration's order"


def test_verifier_runs_the_lab_tests_that_exist(kitchen):
    (suite,) = [s for s in kitchen["suites"] if s["name"] == "all_in_one"]
    words = suite["verifier"]["command"].split()
    paths = [w for w in words if "/" in w and not w.startswith("--")]
    assert "tests/lab/test_all_in_one.py" in paths
    for path in paths:
        assert (REPO / path).exists(), path
