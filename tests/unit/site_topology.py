"""The topology the suite's modules ask for at run time (``fileshare_topology.get``), derived for the
unit tests by the real derivation from parameters/defaults.yaml and a test's pillar."""

import yaml
from suite_modules import REPO, load

topology = load("_modules/fileshare_topology.py", "fileshare_topology_for_tests")
DEFAULTS = yaml.safe_load((REPO / "formulas/fileshare/parameters/defaults.yaml").read_text())


def getter(site, minion_id=None):
    """A ``fileshare_topology.get(key=None, default=None)`` over SITE (pillar ``fileshare``)."""
    derived = topology.derive(topology.merged(DEFAULTS, site), minion_id)

    def get(key=None, default=None):
        value = derived
        for part in str(key).split(":") if key else []:
            if not isinstance(value, dict) or part not in value:
                return default
            value = value[part]
        return value

    return get
