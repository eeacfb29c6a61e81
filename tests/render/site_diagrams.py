"""The example site's diagrams (docs/images/<architecture>.dot and .svg), from the pillar the render
harness compiles and the suite's one derivation: `make diagrams` writes them; the render tier checks
that the committed ones are still the pillar's."""

import pathlib
import subprocess
import sys
import tempfile

import yaml
from render_harness import ARCHITECTURES, REPO, Renderer

IMAGES = REPO / "docs" / "images"


def _topology_module():
    sys.path.insert(0, str(REPO / "tests" / "unit"))
    from suite_modules import load  # noqa: PLC0415 - the unit tier's loader, by path

    return load("_modules/fileshare_topology.py", "fileshare_topology_for_diagrams")


def dot_text(renderer, architecture):
    """The DOT text of the example site's ARCHITECTURE."""
    topology = _topology_module()
    defaults = yaml.safe_load((REPO / "formulas/fileshare/parameters/defaults.yaml").read_text())
    return topology.dot(topology.derive(topology.merged(defaults, renderer.pillar(architecture))))


def main():
    renderer = Renderer(pathlib.Path(tempfile.mkdtemp()))
    IMAGES.mkdir(parents=True, exist_ok=True)
    for architecture in ARCHITECTURES:
        text = dot_text(renderer, architecture)
        (IMAGES / f"{architecture}.dot").write_text(text)
        svg = IMAGES / f"{architecture}.svg"
        subprocess.run(["dot", "-Tsvg", "-o", str(svg)], input=text, text=True, check=True)
        print(f"{svg.relative_to(REPO)} written")


if __name__ == "__main__":
    main()
