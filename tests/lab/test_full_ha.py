"""full_ha from bare nodes: `state.orchestrate fileshare.full_ha`, then the HA checks of ha_scenario.py
(through the VIP, across app nodes, each cluster's verdict, DNS, HAProxy, idempotence)."""

import pytest
from ha_scenario import *  # noqa: F403  (the shared tests and fixtures)


@pytest.fixture(scope="module")
def ha_arch() -> str:
    return "full_ha"


@pytest.fixture(scope="module")
def ha_lab(full_ha_lab):
    return full_ha_lab
