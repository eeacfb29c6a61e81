"""The first step of every orchestration (formulas/fileshare/infra/sync.sls): pip runs only when a pinned
Salt extension is missing or at another version. The rendered check is run here for real, in this
Python, against packages it has and has not."""

import importlib.metadata
import shlex
import subprocess
import sys

import pytest
from render_harness import _args as state_args

GATE = "a Salt extension the suite needs is missing or at another version"
INSTALL = "the Salt extensions the suite needs are installed in the minion's Python"


def _render(renderer, extensions):
    high = renderer.show_sls(
        "debian-12",
        "full_ha",
        "app1",
        "fileshare.infra.sync",
        override={"lookup": {"salt_extensions": extensions}},
    )
    assert isinstance(high, dict), high
    return high


def _args(high, state_id, module):
    return state_args(high[state_id][module])[1]


def _gate_passes(high) -> bool:
    """Run the rendered check as the minion would, with this interpreter standing in for the minion's."""
    check = _args(high, GATE, "fileshare_cmd")["unless"]
    python = shlex.quote(_args(high, INSTALL, "pip")["bin_env"])
    # The check runs in the Python that pip installs into: the minion's own.
    assert check.startswith(python + " -c "), check
    check = shlex.quote(sys.executable) + check[len(python) :]
    return subprocess.run(check, shell=True, check=False).returncode == 0


def test_pip_runs_only_on_the_gate(renderer):
    high = _render(renderer, ["jinja2==1.0"])
    install = _args(high, INSTALL, "pip")
    # pip's own check is the cost the gate avoids: no unless of its own, only the gate's change.
    assert "unless" not in install and "onlyif" not in install
    assert install["onchanges"] == [{"fileshare_cmd": GATE}]
    assert install["pkgs"] == ["jinja2==1.0"]
    assert install["reload_modules"] is True


@pytest.mark.parametrize(
    "extensions, passes",
    [
        (
            [
                f"jinja2=={importlib.metadata.version('jinja2')}",
                f"salt=={importlib.metadata.version('salt')}",
            ],
            True,
        ),
        ([f"jinja2=={importlib.metadata.version('jinja2')}", "salt==1.0"], False),
        (["jinja2"], True),
        (["no-such-distribution-here==1.0"], False),
        (["no-such-distribution-here"], False),
    ],
    ids=[
        "all-pinned-present",
        "one-at-another-version",
        "unpinned-present",
        "pinned-missing",
        "unpinned-missing",
    ],
)
def test_the_gate_passes_only_when_every_pin_holds(renderer, extensions, passes):
    assert _gate_passes(_render(renderer, extensions)) is passes
