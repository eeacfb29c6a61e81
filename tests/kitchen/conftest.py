"""
The Kitchen verifier's tests run against the container Kitchen converged (`--hosts=docker://<id>`, set by
kitchen.yml's verifier). Without --hosts testinfra would test this machine, so they are skipped.
"""

import pathlib

import pytest

HERE = pathlib.Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    if config.getoption("hosts"):
        return
    skip = pytest.mark.skip(reason="Kitchen's checks need --hosts=docker://<container> (kitchen verify)")
    # The hook sees every item of the session: only this folder's need the container.
    for item in items:
        if HERE in pathlib.Path(item.path).parents:
            item.add_marker(skip)
