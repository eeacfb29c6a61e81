"""pip runs only when a pin does not hold: before the Salt extensions of every orchestration's first
step (formulas/fileshare/infra/sync.sls) and before the WsgiDAV virtualenv (app/packages.sls). The
rendered check is run here for real, in this Python, against packages it has and has not."""

import importlib.metadata
import shlex
import subprocess
import sys

import pytest
from render_harness import _args as state_args

GATE = "a Salt extension the suite needs is missing or at another version"
INSTALL = "the Salt extensions the suite needs are installed in the minion's Python"


def _render(renderer, extensions=None, sls="fileshare.infra.sync", override=None):
    high = renderer.show_sls(
        "debian-12",
        "full_ha",
        "app1",
        sls,
        override=override or {"lookup": {"salt_extensions": extensions}},
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


# The same gate before the WsgiDAV virtualenv's pip (formulas/fileshare/app/packages.sls).
APP_GATE = "WsgiDAV or its Redis client is missing or at another version"
APP_INSTALL = "WsgiDAV and its Redis client are installed"


@pytest.mark.parametrize(
    "requirements, passes",
    [
        ([f"jinja2=={importlib.metadata.version('jinja2')}"], True),
        (["jinja2==1.0"], False),
        (["no-such-distribution-here==1.0"], False),
    ],
    ids=["pinned-present", "at-another-version", "missing"],
)
def test_the_wsgidav_venv_s_pip_runs_only_when_a_pin_does_not_hold(renderer, requirements, passes):
    high = _render(
        renderer, sls="fileshare.app.packages", override={"wsgidav": {"requirements": requirements}}
    )
    install = _args(high, APP_INSTALL, "pip")
    assert install["onchanges"] == [{"fileshare_cmd": APP_GATE}] and "unless" not in install
    check = _args(high, APP_GATE, "fileshare_cmd")["unless"]
    # The check runs in the virtualenv pip installs into; this interpreter stands in for it here.
    venv_python = shlex.quote(install["bin_env"].removesuffix("/pip") + "/python")
    assert check.startswith(venv_python + " -c "), check
    check = shlex.quote(sys.executable) + check[len(venv_python) :]
    assert (subprocess.run(check, shell=True, check=False).returncode == 0) is passes
