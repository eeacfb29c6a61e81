"""Lab tier fixtures: real LXC nodes of the example site, brought up and converged by fileshare-lab.

    lab                 the lab named by --lab-name (default fstest), not brought up by itself
    deploy              deploy(arch) -> Lab: fresh bare nodes of arch, converged; once per session and arch
    all_in_one_lab,     deploy(...) of that architecture, for tests that need it
    mini_ha_lab, full_ha_lab
    wait_until          wait_until(predicate, timeout=60): poll until true
    spare_lab           a second lab (own bridge, subnet, master) for tests that break nodes

A Lab gives `lab.node(name)` -> Node with `.run(cmd)` (lxc-attach, non-interactive) and `.host` (a testinfra
host on that node), `lab.topology` (the site as fileshare_topology derives it from the lab's pillar),
`lab.role(role)` (its nodes of that role, pillar order), `lab.salt(...)` / `lab.salt_json(...)` /
`lab.call(node, fun, ...)` (the suite's modules through the lab's master), `lab.tool(...)`, and
`lab.report(arch)` (build/lab/ARCH/report.json).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import testinfra.host
from fileshare_lab import ask, containers, topology
from fileshare_lab import host as labhost
from fileshare_lab import logic as lablogic
from testinfra.backend import base

TOOL = str(Path(sys.executable).parent / "fileshare-lab")
REPO = Path(__file__).resolve().parents[2]


def pytest_addoption(parser):
    parser.addoption("--lab-name", default="fstest", help="name of the lab the lab tier brings up (fstest)")
    parser.addoption(
        "--reuse-deployed",
        action="store_true",
        help="test the lab as it is when `fileshare-lab converge ARCH` of this lab last succeeded "
        "(build/lab/ARCH/report.json names it), instead of fresh nodes",
    )


# One pytest session deploys each architecture once on its lab, so modules run grouped by what they
# need: the lab tools and all_in_one, the spare-lab functional tests, then ONE full_ha deployment that
# the HA checks, the security posture, the rolling upgrade and (last, as they break things) the fault
# scenarios share; then the lab is redeployed as mini_ha for its lean checks (~12-15 min: up, converge
# twice, one node killed under load), last.
MODULE_ORDER = [
    "test_lab_tool",
    "test_all_in_one",
    "test_backup",
    "test_bind9_functional",
    "test_galera_functional",
    "test_ha_data_layers",
    "test_full_ha",
    "test_backup_ha",
    "test_security",
    "test_rolling_upgrade",
    "test_faults",
    "test_mini_ha",
]


def module_rank(module: str) -> float:
    """Where a lab module runs in the session; modules not listed run before the full_ha group."""
    return MODULE_ORDER.index(module) if module in MODULE_ORDER else MODULE_ORDER.index("test_full_ha") - 0.5


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.lab)
    items.sort(
        key=lambda item: (
            module_rank(Path(str(item.fspath)).stem) if here in Path(str(item.fspath)).parents else -1
        )
    )


class ModuleClock:
    """One line per lab module as it ends: its wall time and the session's so far. The tier's budget
    is tight (make test < 75 min on 2 cores), and a run stopped by its time limit prints no
    --durations table: these lines say where the time went."""

    def __init__(self, config):
        self.config, self.started = config, time.monotonic()
        self.module, self.since, self.outcomes = None, self.started, {}

    def _flush(self, now):
        if self.module is None:
            return
        reporter = self.config.pluginmanager.getplugin("terminalreporter")
        counts = ", ".join(f"{n} {k}" for k, n in sorted(self.outcomes.items()))
        line = (
            f"[lab clock] {self.module}: {now - self.since:.0f} s ({counts}); "
            f"lab tier {now - self.started:.0f} s so far"
        )
        if reporter is not None:
            reporter.write_line(line)

    def pytest_runtest_logstart(self, nodeid, location):
        module = Path(nodeid.split("::")[0]).stem  # the module collected, not where the test is defined
        if module != self.module:
            now = time.monotonic()
            self._flush(now)
            self.module, self.since, self.outcomes = module, now, {}

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or report.outcome != "passed":
            self.outcomes[report.outcome] = self.outcomes.get(report.outcome, 0) + 1

    def pytest_sessionfinish(self):
        self._flush(time.monotonic())


def pytest_configure(config):
    config.pluginmanager.register(ModuleClock(config), "fileshare-lab-module-clock")


class LxcAttachBackend(base.BaseBackend):
    """testinfra backend for LXC (not LXD) containers: runs each command through lxc-attach."""

    NAME = "lxc-attach"

    def __init__(self, hostspec: str, lxcpath: str, *args, **kwargs):
        self.container = hostspec
        self.lxcpath = lxcpath
        super().__init__(hostspec, *args, **kwargs)

    def run(self, command: str, *args: str, **kwargs) -> base.CommandResult:
        cmd = self.get_command(command, *args)
        for _ in range(lablogic.ATTACH_TRIES):
            out = self.run_local(
                "lxc-attach --clear-env -v PATH=%s -v LANG=C.UTF-8 -P %s -n %s -- /bin/sh -c %s",
                labhost.LXC_ATTACH_PATH,
                self.lxcpath,
                self.container,
                cmd,
            )
            if not lablogic.attach_aborted(out.rc, out.stderr_bytes):
                break
            time.sleep(0.2)
        out.command = self.encode(cmd)
        return out


class Node:
    def __init__(self, lab: Lab, entry: dict):
        self.lab = lab
        self.name = entry["name"]
        self.address = entry["address"]
        self.container = entry["container"]
        self.veth = entry["veth"]
        self._host = None

    def __repr__(self):
        return f"<Node {self.name} {self.address} in lab {self.lab.name}>"

    def run(self, cmd: str | list[str], *, check: bool = False, timeout: float = 300):
        """Run cmd in the node (a string goes through sh -c); returns CompletedProcess with text output."""
        argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        proc = containers.attach(self.lab.handle, self.container, argv, timeout=timeout)
        if check and proc.returncode != 0:
            pytest.fail(f"{self.name}: {cmd!r} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    @property
    def host(self) -> testinfra.host.Host:
        if self._host is None:
            self._host = testinfra.host.Host(
                LxcAttachBackend(self.container, self.lab.handle.paths["lxcpath"])
            )
        return self._host


class Lab:
    def __init__(self, name: str, config=None):
        self.name = name
        self.deployed: str | None = None
        self.capture = config.pluginmanager.getplugin("capturemanager") if config else None

    def _show(self, text: str) -> None:
        """Progress straight to the terminal, past pytest's output capture."""
        if self.capture is None:
            sys.stderr.write(text)
            return
        with self.capture.global_and_fixture_disabled():
            sys.stderr.write(text)
            sys.stderr.flush()

    @property
    def handle(self) -> labhost.Lab:
        return labhost.Lab(self.name)

    def tool(self, *args: str, check: bool = True, timeout: float = 3600, stream: bool = False):
        """Run fileshare-lab on this lab; stream=True also shows its progress lines on the terminal."""
        argv = [TOOL, "--lab", self.name, *args]
        if stream:
            lines = []
            with subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True
            ) as proc:
                for line in proc.stdout:
                    lines.append(line)
                    self._show(f"[lab {self.name}] {line}")
                proc.wait(timeout=timeout)
            result = subprocess.CompletedProcess(argv, proc.returncode, "".join(lines), "")
        else:
            result = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
            )
        if check and result.returncode != 0:
            pytest.fail(
                f"fileshare-lab {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result

    def up(self, arch: str) -> None:
        self.deployed = None
        self.tool("up", arch, stream=True)

    def converge(self, arch: str) -> dict:
        self.tool("converge", arch, stream=True)
        self.deployed = arch
        return self.report(arch)

    def down(self) -> None:
        self.deployed = None
        self.tool("down", check=False)

    def report(self, arch: str) -> dict:
        return json.loads((REPO / "build" / "lab" / "labs" / self.name / arch / "report.json").read_text())

    @property
    def nodes(self) -> dict[str, Node]:
        return {e["name"]: Node(self, e) for e in self.handle.require_up()["nodes"]}

    def node(self, name: str) -> Node:
        return self.nodes[name]

    @property
    def topology(self) -> dict:
        return topology.of_lab(self.name)

    def role(self, role: str) -> list[Node]:
        """The nodes of ROLE, in pillar order (the topology's)."""
        nodes = self.nodes
        return [nodes[name] for name in self.topology["roles"][role]]

    def salt(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.handle.salt_cmd("salt") + list(args),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def salt_json(self, target: str, *args: str, timeout: float = 600) -> dict:
        """{minion: return} of `salt TARGET ARGS --out=json --static`; {} when nothing answered."""
        try:
            proc = self.salt(target, *args, "--out=json", "--static", "--log-level=quiet", timeout=timeout)
            return json.loads(proc.stdout or "{}")
        except (ValueError, subprocess.TimeoutExpired):
            return {}

    def call(self, node: str, fun: str, *args: str, timeout: float = 120):
        """FUN's return on NODE through the lab's master; the test fails when it does not answer."""
        try:
            return ask.call(self.handle, node, fun, *args, timeout=timeout)
        except labhost.LabError as exc:
            pytest.fail(str(exc))

    def answers_ping(self, node: str, timeout: int = 3) -> bool:
        # Cut the wait short: after -t, salt asks a silent minion for its jobs for gather_job_timeout more.
        out = self.salt_json(node, "test.ping", "-t", str(timeout), timeout=timeout + 3)
        return out.get(node) is True


def wait_until(predicate, timeout: float = 60, interval: float = 0.5) -> bool:
    """Poll predicate until it is true or timeout passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


@pytest.fixture(name="wait_until", scope="session")
def wait_until_fixture():
    return wait_until


@pytest.fixture(scope="session")
def lab_name(request) -> str:
    return request.config.getoption("--lab-name")


@pytest.fixture(scope="session")
def lab(lab_name, pytestconfig) -> Lab:
    return Lab(lab_name, pytestconfig)


@pytest.fixture(scope="session")
def deploy(lab, pytestconfig):
    """deploy(arch): fresh bare nodes of arch, then the orchestration; reused while arch stays deployed
    (and, with --reuse-deployed, when this lab's last converge of arch succeeded)."""

    def _deploy(arch: str) -> Lab:
        if lab.deployed != arch and pytestconfig.getoption("--reuse-deployed"):
            try:
                report = lab.report(arch)
                running = lab.handle.require_up().get("architecture")
            except Exception:  # noqa: BLE001 - no report or no lab: deploy afresh
                report, running = {}, None
            if running == arch and report.get("lab") == lab.name and report.get("result") == "ok":
                lab.deployed = arch
        if lab.deployed != arch:
            lab.up(arch)
            lab.converge(arch)
        return lab

    return _deploy


@pytest.fixture(scope="session")
def all_in_one_lab(deploy) -> Lab:
    return deploy("all_in_one")


@pytest.fixture(scope="session")
def mini_ha_lab(deploy) -> Lab:
    return deploy("mini_ha")


@pytest.fixture(scope="session")
def full_ha_lab(deploy) -> Lab:
    return deploy("full_ha")


@pytest.fixture(scope="session")
def spare_lab(lab_name, pytestconfig):
    """A second lab beside the main one, for tests that break nodes; taken down at the end."""
    spare = Lab(lab_name[:19] + "x", pytestconfig)
    yield spare
    spare.down()
