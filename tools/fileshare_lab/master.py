"""The lab's salt-master on the host: its configuration on this checkout, start and stop, the
example pillar it compiles, the jobs it publishes, the minions it hears."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import threading
import time

from . import logic
from .host import REPO, Lab, pids_with, run, say, terminate, wait_port, write
from .logic import LabError

# --- master -----------------------------------------------------------------------------------


def master_pids(lab: Lab) -> list[int]:
    return pids_with(lab.paths["master_etc"], "salt-master")


def stop_master(lab: Lab) -> None:
    pids = master_pids(lab)
    if pids:
        terminate(pids)
        say(f"salt-master of lab {lab.name} stopped")
    pidfile = f"{lab.paths['master_root']}/var/run/salt-master.pid"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(pidfile)


def write_master_config(lab: Lab, arch: str) -> None:
    text = logic.render_master_config(
        repo=REPO,
        paths=lab.paths,
        net=lab.net,
        arch=arch,
        master_id=f"{lab.name}-master",
        app_nodes=lab.app_nodes,
    )
    write(lab.master_file, text)
    root = lab.paths["file_root"]
    os.makedirs(root, exist_ok=True)
    for name in logic.FILE_ROOT_LINKS:
        link = f"{root}/{name}"
        if os.path.islink(link) and os.readlink(link) == f"{REPO}/{name}":
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(link)
        os.symlink(f"{REPO}/{name}", link)


def start_master(lab: Lab, arch: str) -> None:
    stop_master(lab)
    write_master_config(lab, arch)
    # Nodes are recreated with new keys: old accepted keys would make auto_accept deny them.
    pki = f"{lab.paths['master_root']}/etc/salt/pki/master"
    for sub in ("minions", "minions_pre", "minions_denied", "minions_rejected"):
        shutil.rmtree(f"{pki}/{sub}", ignore_errors=True)
    shutil.rmtree(f"{lab.paths['master_root']}/var/cache/salt/master/minions", ignore_errors=True)
    run(lab.salt_cmd("salt-master") + ["-d", "--log-file-level", "info"])
    if not wait_port(lab.addr, 4506, 60):
        raise LabError(
            f"salt-master did not listen on {lab.addr}:4506 "
            f"(log: {lab.paths['master_root']}/var/log/salt/master)"
        )
    say(f"salt-master of lab {lab.name} listening on {lab.addr}")


def compile_pillar(lab: Lab, arch: str | None = None) -> dict:
    """The example site's pillar as the lab master compiles it: for ARCH (the master's configuration
    written first, as `up` does), or, without ARCH, with the configuration the lab runs on."""
    if arch:
        write_master_config(lab, arch)
    elif not os.path.exists(lab.master_file):
        raise LabError(f"lab {lab.name} has no master yet: run `up ARCH` first")
    os.makedirs(f"{lab.paths['master_root']}/var/cache/salt/master/proc", exist_ok=True)
    proc = run(
        lab.salt_cmd("salt-run") + ["pillar.show_pillar", "--out=json", "--log-level=quiet"],
        check=False,
        timeout=120,
    )
    try:
        pillar = json.loads(proc.stdout)
    except ValueError:
        raise LabError(
            f"could not compile the example pillar for {arch or lab.name}:\n{proc.stdout}{proc.stderr}"
        ) from None
    if proc.returncode != 0 or not isinstance(pillar, dict) or "_errors" in pillar:
        detail = pillar.get("_errors", pillar) if isinstance(pillar, dict) else pillar
        raise LabError(f"the example pillar for {arch or lab.name} has errors: {detail}")
    return pillar


def forget_minion(lab: Lab, name: str) -> None:
    """Drop the master's accepted key and cache of one minion: its rebuilt node has a new key."""
    pki = f"{lab.paths['master_root']}/etc/salt/pki/master"
    for sub in ("minions", "minions_pre", "minions_denied", "minions_rejected"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{pki}/{sub}/{name}")
    shutil.rmtree(f"{lab.paths['master_root']}/var/cache/salt/master/minions/{name}", ignore_errors=True)


@contextlib.contextmanager
def watch_jobs(lab: Lab, on_job):
    """ON_JOB(data) for every job the lab's master publishes while the block runs (an orchestration's
    steps on the nodes, as they start)."""
    proc = subprocess.Popen(
        lab.salt_cmd("salt-run") + ["state.event", "salt/job/*/new", "pretty=False", "--log-level=quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
    )

    def pump():
        for line in proc.stdout:
            data = logic.new_job(line)
            if data is not None:
                on_job(data)

    threading.Thread(target=pump, daemon=True).start()
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            # Measured on a loaded host: salt-run ignored SIGTERM for >10 s (and the finished
            # orchestration's report was lost with a traceback when this raised).
            proc.kill()
            proc.wait(timeout=30)


def wait_ping(lab: Lab, names: list[str], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    missing = names
    while time.monotonic() < deadline:
        proc = run(
            lab.salt_cmd("salt")
            + [
                "-L",
                ",".join(missing),
                "test.ping",
                "--out=json",
                "--static",
                "-t",
                "5",
                "--log-level=quiet",
            ],
            check=False,
            timeout=60,
        )
        try:
            out = json.loads(proc.stdout or "{}")
        except ValueError:
            out = {}
        missing = logic.ping_missing(missing, out)
        if not missing:
            return
        time.sleep(1)
    raise LabError(
        f"no test.ping answer from {', '.join(missing)} within {timeout:.0f}s "
        f"(see `fileshare-lab --lab {lab.name} run NODE journalctl -u salt-minion`)"
    )
