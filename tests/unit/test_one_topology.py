"""No port, name or role derivation outside parameters/defaults.yaml and _modules/fileshare_topology.py.

The topology (nodes by role, addresses, writer order, names, ports) is derived once; a literal elsewhere
is a second source that an override in pillar would silently leave behind. This test reads every file of
the suite that runs against a site: formulas, runbooks, modules, tools and the lab tests.
"""

import functools
import pathlib
import re

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
DEFAULTS = yaml.safe_load((REPO / "formulas/fileshare/parameters/defaults.yaml").read_text())
THE_DERIVATION = {
    REPO / "formulas/fileshare/parameters/defaults.yaml",
    REPO / "_modules/fileshare_topology.py",
}
SEARCHED = ["formulas", "orchestrate", "_modules", "_states", "_runners", "tools", "tests/lab", "kitchen.yml"]
SUFFIXES = {".sls", ".jinja", ".py", ".yml", ".yaml", ".cfg", ".conf", ".php", ".sh"}

# Ports whose number is specific enough to find by grep (80, 443, 22 and 53 are not: they also appear in
# counts, durations and addresses, and are checked by the render test of every override instead).
PORT_KEYS = [key for key, value in DEFAULTS["ports"].items() if isinstance(value, int) and value >= 1024]
NAMES = sorted(set(DEFAULTS["names"]["backends"].values()))


def _files():
    for top in SEARCHED:
        path = REPO / top
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in candidates:
            if file in THE_DERIVATION or "__pycache__" in file.parts or file.suffix not in SUFFIXES:
                continue
            yield file


@functools.cache
def _lines():
    return [
        (file.relative_to(REPO), number, line)
        for file in _files()
        for number, line in enumerate(file.read_text(errors="replace").splitlines(), 1)
    ]


# A docstring's CLI example shows an operator a real call (`salt lb1 fileshare_haproxy.backend fs_db`).
_CLI_EXAMPLE = re.compile(r"^\s*salt(-call|-run)?\s")


def _hits(pattern, exempt=()):
    regex = re.compile(pattern)
    return [
        f"{file}:{number}: {line.strip()}"
        for file, number, line in _lines()
        if regex.search(line) and not _CLI_EXAMPLE.match(line) and file.as_posix() not in exempt
    ]


def test_the_search_covers_the_suite():
    files = {f.relative_to(REPO).as_posix() for f in _files()}
    assert "formulas/fileshare/load/files/default/haproxy.cfg.jinja" in files
    assert "orchestrate/fileshare/rolling_upgrade.sls" in files
    assert "_modules/galera.py" in files
    assert any(f.startswith("tools/fileshare_bench/") for f in files)
    assert any(f.startswith("tests/lab/") for f in files)


@pytest.mark.parametrize("key", PORT_KEYS)
def test_no_port_literal_outside_the_derivation(key):
    port = DEFAULTS["ports"][key]
    hits = _hits(rf"(?<![0-9.]){port}(?![0-9])")
    assert not hits, f"port {key} ({port}) written out instead of asked from the topology:\n" + "\n".join(
        hits
    )


@pytest.mark.parametrize("name", NAMES)
def test_no_haproxy_backend_name_outside_the_derivation(name):
    hits = _hits(rf"\b{re.escape(name)}\b")
    assert not hits, f"backend name {name} written out:\n" + "\n".join(hits)


def test_no_galera_cluster_name_is_derived_outside_the_topology():
    hits = _hits(r"""~\s*['"]-db['"]|\+\s*['"]-db['"]|f['"].*\}-db['"]""")
    assert not hits, "the Galera cluster name computed again:\n" + "\n".join(hits)


def test_no_role_is_looked_up_in_the_node_list_outside_the_topology():
    """`'db' in entry.roles` and friends: the topology's roles/addresses answer that."""
    roles = "load|app|db|intermediate|storage|arbitrator"
    # The pillar validator checks the raw node list before anything is derived from it.
    hits = _hits(
        rf"""['"]({roles})['"]\s+in\s+\w+(\.get\(\s*['"]roles['"]|\.roles\b|\[['"]roles['"]\])""",
        exempt={"_modules/fileshare_pillar.py"},
    )
    assert not hits, "a role looked up in the node list:\n" + "\n".join(hits)


def test_no_formula_sls_shares_its_name_with_an_orchestration():
    """The master serves formulas/ and orchestrate/ as one tree: `fileshare.backup` in both would make
    `state.apply` run the orchestration (or the orchestration a formula), whichever root comes first."""
    formulas = REPO / "formulas"
    names = {
        ".".join(p.relative_to(formulas).with_suffix("").parts).removesuffix(".init")
        for p in formulas.rglob("*.sls")
    }
    orchestrations = {f"fileshare.{p.stem}" for p in (REPO / "orchestrate/fileshare").glob("*.sls")}
    assert not names & orchestrations
