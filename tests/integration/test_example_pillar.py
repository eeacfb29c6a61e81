"""
The example site picks its node list from the master option `fileshare_example_architecture`, through
config.get while the master renders pillar: both for a minion and for the master's own minion (what
state.orchestrate sees).
"""

import pytest
from conftest import REPO, file_roots


@pytest.fixture(scope="module")
def mini_ha_master(salt_factories, suite_root):
    factory = salt_factories.salt_master_daemon(
        "fsit-master-mini",
        overrides={
            "interface": "127.0.0.1",
            "file_roots": file_roots(suite_root),
            "pillar_roots": {"base": [str(REPO / "pillar")]},
            "fileshare_example_architecture": "mini_ha",
            "fileshare_example_net": "10.78.5",
        },
    )
    # pillar.show_pillar and salt.cmd run in the salt-run process from the master's configuration.
    return factory


def test_master_option_selects_mini_ha_for_a_minion(mini_ha_master):
    ret = mini_ha_master.salt_run_cli(timeout=120).run("pillar.show_pillar", "node2")
    assert ret.returncode == 0, ret
    site = ret.data["fileshare"]
    assert site["architecture"] == "mini_ha"
    assert [n["name"] for n in site["nodes"]] == ["node1", "node2", "node3"]
    assert [n["address"] for n in site["nodes"]] == ["10.78.5.21", "10.78.5.22", "10.78.5.23"]
    assert site["network"]["subnet"] == "10.78.5.0/24"


def _seen_by_orchestration(cli):
    ret = cli.run("state.orchestrate", "fsit.report")
    assert ret.returncode == 0, ret
    (states,) = ret.data["data"].values()
    (report,) = states.values()
    return report["name"]


def test_master_option_reaches_the_orchestration_pillar(mini_ha_master):
    assert _seen_by_orchestration(mini_ha_master.salt_run_cli(timeout=120)) == "mini_ha:node1,node2,node3"


def test_default_without_the_option_is_all_in_one(salt_run, pillar):
    pillar.use_repo()
    assert _seen_by_orchestration(salt_run) == "all_in_one:aio1"
