"""
A real salt-master and salt-minion on loopback (pytest-salt-factories). file_roots are the repo's
(the root's Salt extension folders, formulas, orchestrate) plus a fixture orchestration; pillar_roots
is a directory the tests rewrite, so each test puts a good or bad pillar in front of the real
orchestrations.
"""

import pathlib
import shutil

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
FILES = pathlib.Path(__file__).parent / "files"
MINION_ID = "fsit-minion"


@pytest.fixture(scope="package")
def pillar_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("pillar")


@pytest.fixture(scope="package")
def marker(tmp_path_factory):
    return tmp_path_factory.mktemp("minion-side") / "marker"


@pytest.fixture(scope="package")
def suite_root(tmp_path_factory):
    """
    The repo root as the master serves it (salt://_modules, _states, _runners), without the rest of
    the checkout: the fileserver walks every root on each sync, and the .venv's ~14k files made one
    saltutil.sync_all take over a minute.
    """
    root = tmp_path_factory.mktemp("suite-root")
    for path in REPO.glob("_*"):
        if path.is_dir():
            (root / path.name).symlink_to(path)
    return root


def file_roots(suite_root):
    return {
        "base": [
            str(suite_root),
            str(REPO / "formulas"),
            str(REPO / "orchestrate"),
            str(FILES / "orchestrate"),
        ]
    }


@pytest.fixture(scope="package")
def master(salt_factories, pillar_dir, marker, suite_root):
    factory = salt_factories.salt_master_daemon(
        "fsit-master",
        overrides={
            "interface": "127.0.0.1",
            "file_roots": file_roots(suite_root),
            "pillar_roots": {"base": [str(pillar_dir)]},
            "fsit_minion": MINION_ID,
            "fsit_marker": str(marker),
            "open_mode": True,
        },
    )
    with factory.started(start_timeout=120):
        yield factory


@pytest.fixture(scope="package")
def minion(master):
    factory = master.salt_minion_daemon(MINION_ID, overrides={"master": "127.0.0.1"})
    with factory.started(start_timeout=120):
        yield factory


@pytest.fixture(scope="package")
def salt_run(master, minion):
    cli = master.salt_run_cli(timeout=180)
    # What an operator runs once (orchestrate/fileshare/all_in_one.sls says so): the master's own
    # minion loader, which state.orchestrate uses, gets fileshare_pillar from _modules/_states.
    ret = cli.run("saltutil.sync_all")
    assert ret.returncode == 0, ret
    synced = ret.data
    assert (
        "modules.fileshare_pillar" in synced["modules"] and "states.fileshare_pillar" in synced["states"]
    ), synced
    return cli


class Pillar:
    """Writes the pillar the master serves: the repo's example site, or a given fileshare tree."""

    def __init__(self, root):
        self.root = root

    def clear(self):
        for child in self.root.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()

    def set_fileshare(self, data):
        self.clear()
        (self.root / "top.sls").write_text("base:\n  '*':\n    - fileshare\n")
        (self.root / "fileshare.sls").write_text(yaml.safe_dump({"fileshare": data}))

    def use_repo(self):
        self.clear()
        shutil.copy(REPO / "pillar" / "top.sls", self.root / "top.sls")
        (self.root / "sites").symlink_to(REPO / "pillar" / "sites")


@pytest.fixture(scope="package")
def pillar(pillar_dir):
    return Pillar(pillar_dir)
