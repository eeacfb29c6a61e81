"""Load the suite's own Salt modules by path (_modules/x.py and _states/x.py share names)."""

import importlib.util
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[2]


def load(path, name=None):
    name = name or path.replace("/", "_").removesuffix(".py").lstrip("_")
    spec = importlib.util.spec_from_file_location(name, REPO / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
