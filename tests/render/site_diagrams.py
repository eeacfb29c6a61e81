"""The example site's diagrams (docs/images/<architecture>.dot and .svg), from the pillar the render
harness compiles and the suite's one derivation: `make diagrams` writes them; the render tier checks
that the committed ones are still the pillar's."""

import pathlib
import subprocess
import tempfile

from fileshare_lab import topology
from render_harness import ARCHITECTURES, REPO, Renderer

IMAGES = REPO / "docs" / "images"


def dot_text(renderer, architecture):
    """The DOT text of the example site's ARCHITECTURE."""
    return topology.suite_module("fileshare_topology").dot(
        topology.derive({"fileshare": renderer.pillar(architecture)})
    )


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
