"""The site's topology as the suite derives it, for the lab and bench tools and the lab tests.

There is one derivation: ``_modules/fileshare_topology.py`` (the same file map.jinja and the suite's
modules use), loaded here by path from the checkout this package lives in, applied to
``parameters/defaults.yaml`` merged with the pillar the lab's master compiles. Nodes by role,
addresses, the writer order, ports and names all come from it; nothing here recomputes them.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import yaml

from .host import REPO, Lab
from .logic import LabError

DEFAULTS = Path(REPO, "formulas", "fileshare", "parameters", "defaults.yaml")


@functools.cache
def suite_module(name: str):
    """The suite's own execution module ``_modules/NAME.py`` as a plain Python module (its pure
    functions: derivations and parsers; its Salt functions need a minion)."""
    path = Path(REPO, "_modules", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"fileshare_suite_{name}", path)
    if spec is None or not path.exists():
        raise LabError(f"the suite has no module {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def defaults() -> dict:
    return yaml.safe_load(DEFAULTS.read_text()) or {}


def derive(pillar: dict) -> dict:
    """The topology of the site whose compiled pillar (the whole pillar, key ``fileshare``) is PILLAR."""
    site = pillar.get("fileshare") if isinstance(pillar, dict) else None
    derivation = suite_module("fileshare_topology")
    return derivation.derive(derivation.merged(defaults(), site if isinstance(site, dict) else {}))


@functools.cache
def _of_lab(name: str, architecture: str, net: str) -> dict:
    from .master import compile_pillar  # master imports the modules that import this one

    return derive(compile_pillar(Lab(name)))


def of_lab(lab: Lab | str) -> dict:
    """The topology of the site a lab that is up runs: its master compiles the pillar (with the
    configuration `up` wrote) once per process and deployment."""
    saved = Lab(lab if isinstance(lab, str) else lab.name).require_up()
    return _of_lab(saved["lab"], saved["architecture"], saved["net"])
