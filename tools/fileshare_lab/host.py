"""The lab's state (lab.json, paths, its Salt commands) and the host primitives the other modules
share: running commands, locks, atomic writes, processes this tool started, ports, mounts.

The lab's other concerns each have their module: ``network`` (bridge, subnets, partitions),
``images`` (apt cache, wheels, Python mirror, base image), ``master`` (the lab's salt-master, its
pillar, jobs and pings), ``containers`` (nodes and the outsider), ``topology`` (the site as the suite
derives it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from . import logic
from .logic import LabError

REPO = str(Path(__file__).resolve().parents[2])
BIN = str(Path(sys.executable).parent)
LXC_ATTACH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_T0 = time.monotonic()


def say(msg: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f}s] {msg}", flush=True)


def closed_pipe() -> int:
    """The reader of our output went away (`fileshare-lab status | head -1`): end quietly, with the
    status of a command killed by SIGPIPE. stdout is pointed at /dev/null first so that the
    interpreter's last flush does not raise again (the recipe of Python's signal module docs, "Note
    on SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 128 + signal.SIGPIPE


def home() -> str:
    return os.path.abspath(os.environ.get("FILESHARE_LAB_HOME", "/var/lib/fileshare-lab"))


def run(
    cmd: list[str],
    *,
    check: bool = True,
    capture: bool = True,
    timeout: float | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        cmd,
        capture_output=capture,
        text=True,
        timeout=timeout,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        detail = ((proc.stderr or "") + (proc.stdout or "")).strip() if capture else ""
        raise LabError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{detail[-2000:]}")
    return proc


@contextlib.contextmanager
def flock(path: str, what: str):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting: another fileshare-lab process holds the {what}")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def write(path: str, text: str, mode: int = 0o644) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def pids_with(marker: str, program: str) -> list[int]:
    """Processes started by this tool: their command line names our own config path."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            cmd = cmdline(int(entry))
            if marker in cmd and program in cmd:
                pids.append(int(entry))
    return pids


def terminate(pids: list[int], grace: float = 10.0) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.2)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_port(addr: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((addr, port)) == 0:
                return True
        time.sleep(0.2)
    return False


def umount_under(path: str) -> None:
    with open("/proc/mounts") as fh:
        mounts = [line.split()[1] for line in fh]
    for m in sorted(mounts, reverse=True):
        if m.startswith(path.rstrip("/") + "/"):
            run(["umount", "-l", m], check=False)


# --- lab state ------------------------------------------------------------------------------


class Lab:
    def __init__(self, name: str, net: str | None = None, app_nodes: int | str | None = None):
        self.name = logic.check_lab_name(name)
        self.paths = logic.lab_paths(home(), self.name)
        self.saved = self._load()
        self.net = logic.check_net(net) if net else self.saved.get("net") or logic.derive_net(self.name)
        # full_ha's app node count (scale runs); kept with the lab so later commands agree with `up`.
        self.app_nodes = logic.check_app_nodes(
            app_nodes or self.saved.get("app_nodes") or logic.APP_NODES_DEFAULT
        )
        self.bridge = logic.bridge_name(self.name)
        self.addr = logic.master_address(self.net)

    def _load(self) -> dict:
        try:
            with open(self.paths["state"]) as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return {}

    def save(self, data: dict) -> None:
        self.saved = data
        write(self.paths["state"], json.dumps(data, indent=2) + "\n")

    @property
    def master_file(self) -> str:
        return f"{self.paths['master_etc']}/master"

    def require_up(self) -> dict:
        if not self.saved.get("nodes"):
            raise LabError(f"lab {self.name} is not up: run `fileshare-lab --lab {self.name} up ARCH`")
        return self.saved

    def node(self, name: str) -> dict:
        saved = self.require_up()
        for n in saved["nodes"] + ([saved["outsider"]] if saved.get("outsider") else []):
            if n["name"] == name:
                return n
        names = ", ".join(n["name"] for n in saved["nodes"])
        raise LabError(f"unknown node {name!r} in lab {self.name} ({saved['architecture']}): {names}")

    def salt_cmd(self, tool: str) -> list[str]:
        return [f"{BIN}/{tool}", "-c", self.paths["master_etc"]]


def architectures() -> list[str]:
    skip = {"init", "common"}
    return sorted(p.stem for p in Path(REPO, "pillar/sites/example").glob("*.sls") if p.stem not in skip)


def check_arch(arch: str) -> str:
    known = architectures()
    if arch not in known:
        raise LabError(f"unknown architecture {arch!r}: one of {', '.join(known)}")
    return arch
