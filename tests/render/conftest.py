"""The render tier's one shared fixture: the session's renderer (see render_harness.py)."""

import pytest
from render_harness import Renderer


@pytest.fixture(scope="session")
def renderer(tmp_path_factory):
    return Renderer(tmp_path_factory.mktemp("render"))
