"""The site diagram (fileshare_topology.dot) of the example site's pillar, drawn by the real Graphviz."""

import subprocess

import pytest
from render_harness import ARCHITECTURES
from site_diagrams import IMAGES, dot_text


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_graphviz_draws_every_node_of_the_example_site(renderer, architecture):
    text = dot_text(renderer, architecture)
    done = subprocess.run(["dot", "-Tsvg"], input=text, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and not done.stderr, done.stderr
    for node in renderer.pillar(architecture)["nodes"]:
        assert f">{node['name']}</text>" in done.stdout and f">{node['address']}</text>" in done.stdout, node


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_the_diagrams_in_the_docs_are_the_example_pillar_s(renderer, architecture):
    """docs/images/<architecture>.dot is what the pillar gives now: `make diagrams` after a change."""
    assert (IMAGES / f"{architecture}.dot").read_text() == dot_text(renderer, architecture)
