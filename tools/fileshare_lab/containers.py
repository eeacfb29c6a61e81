"""The lab's nodes: LXC overlay clones of the base image on the lab's bridge, the outsider, and
commands run inside them."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import time
from pathlib import Path

from . import logic
from .host import LXC_ATTACH_PATH, Lab, pids_with, run, umount_under, write
from .logic import LabError
from .network import link

# --- nodes ------------------------------------------------------------------------------------


def containers(lab: Lab) -> list[str]:
    path = lab.paths["lxcpath"]
    if not os.path.isdir(path):
        return []
    return sorted(d for d in os.listdir(path) if os.path.exists(f"{path}/{d}/config"))


def lxc_state(lab: Lab, cname: str) -> str:
    proc = run(["lxc-info", "-P", lab.paths["lxcpath"], "-n", cname, "-s", "-H"], check=False)
    return proc.stdout.strip() or "ABSENT"


def destroy_container(lab: Lab, cname: str) -> None:
    path = lab.paths["lxcpath"]
    state = lxc_state(lab, cname)
    if state in logic.LXC_FROZEN_STATES:
        run(["lxc-unfreeze", "-P", path, "-n", cname], check=False, timeout=30)
    if state != "STOPPED":
        run(["lxc-stop", "-k", "-P", path, "-n", cname], check=False, timeout=60)
    if not os.path.exists(f"{path}/{cname}"):
        return
    umount_under(f"{path}/{cname}")
    # Deleting a converged node's overlay (~1 GB of small files) takes ~20 s: move it aside at once
    # and delete it in the background.
    trash = f"{lab.paths['home']}/trash"
    os.makedirs(trash, exist_ok=True)
    os.rename(f"{path}/{cname}", f"{trash}/{cname}.{os.getpid()}.{time.monotonic_ns()}")
    empty_trash(lab.paths)


def empty_trash(paths: dict) -> None:
    trash = f"{paths['home']}/trash"
    for entry in os.listdir(trash) if os.path.isdir(trash) else []:
        target = f"{trash}/{entry}"
        if not pids_with(target, "rm"):
            subprocess.Popen(
                ["rm", "-rf", "--one-file-system", target],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )


def destroy_containers(lab: Lab, names: list[str]) -> None:
    """Stop and destroy in parallel: deleting a converged node's overlay takes seconds of disk time."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda c: destroy_container(lab, c), names))


def drop_leftover_cgroups(cname: str) -> None:
    """Remove the empty groups a killed run left for CNAME in every cgroup hierarchy. With the plain
    name taken LXC starts the node in `lxc.payload.<cname>-1`, and each later run adds one. A group
    that still holds a process is kept (rmdir refuses it)."""
    for mount in logic.cgroup_mounts(Path("/proc/self/mounts").read_text()):
        try:
            entries = os.listdir(mount)
        except OSError:
            continue
        for entry in entries:
            if not logic.leftover_group(entry, cname):
                continue
            for directory, _, _ in os.walk(f"{mount}/{entry}", topdown=False):
                try:
                    os.rmdir(directory)
                except OSError:  # busy (a process in it) or gone: keep going, keep what is in use
                    pass


def create_node(lab: Lab, node: dict, nodes: list[dict], domain: str) -> dict:
    path, bpath = lab.paths["lxcpath"], lab.paths["base_lxcpath"]
    cname = logic.container_name(lab.name, node["name"])
    veth = logic.veth_name(lab.name, node["name"])
    # A veth left behind by a killed container would make the start fail.
    if link(veth) is not None:
        run(["ip", "link", "del", veth], check=False)
    drop_leftover_cgroups(cname)
    os.makedirs(path, exist_ok=True)
    run(
        ["lxc-copy", "-P", bpath, "-n", logic.BASE_NAME, "-p", path, "-N", cname, "-s", "-B", "overlay"],
        timeout=120,
    )
    cfg = f"{path}/{cname}/config"
    network = logic.render_container_network(
        bridge=lab.bridge, veth=veth, address=node["address"], mac=logic.mac_address(lab.name, node["name"])
    )
    write(cfg, logic.rewrite_container_config(Path(cfg).read_text(), network=network, hostname=node["name"]))
    # Files go into the stopped clone's writable layer; /etc/hosts after lxc-copy rewrote it.
    delta = f"{path}/{cname}/overlay/delta"
    write(f"{delta}/etc/hostname", node["name"] + "\n")
    write(f"{delta}/etc/hosts", logic.render_hosts(nodes, lab.net, domain))
    write(f"{delta}/etc/apt/sources.list", logic.render_sources_list(lab.net))
    write(f"{delta}/etc/salt/minion.d/lab.conf", logic.render_minion_config(node=node["name"], net=lab.net))
    return {**node, "container": cname, "veth": veth}


def create_outsider(lab: Lab) -> dict:
    """A node on the lab's bridge that is no member of the site: same base image, an address the
    pillar does not know, no Salt minion (the lab master accepts every key)."""
    saved = lab.require_up()
    entry = logic.outsider_entry(lab.net, saved["nodes"], saved.get("service") or {})
    made = create_node(lab, entry, saved["nodes"] + [entry], saved.get("domain", ""))
    delta = f"{lab.paths['lxcpath']}/{made['container']}/overlay/delta"
    os.unlink(f"{delta}/etc/salt/minion.d/lab.conf")
    os.makedirs(f"{delta}/etc/systemd/system", exist_ok=True)
    os.symlink("/dev/null", f"{delta}/etc/systemd/system/salt-minion.service")
    return made


def start_container(lab: Lab, cname: str) -> None:
    run(["lxc-start", "-P", lab.paths["lxcpath"], "-n", cname, "-d"], timeout=60)


def attach_cmd(lab: Lab, cname: str, cmd: list[str], interactive: bool = False) -> list[str]:
    env = ["-v", f"PATH={LXC_ATTACH_PATH}", "-v", "LANG=C.UTF-8"]
    if interactive:
        env += ["-v", f"TERM={os.environ.get('TERM', 'xterm')}", "-v", "HOME=/root"]
    return ["lxc-attach", "--clear-env", *env, "-P", lab.paths["lxcpath"], "-n", cname, "--", *cmd]


def attach(
    lab: Lab, cname: str, cmd: list[str], *, timeout: float | None = None, input: str | None = None
) -> subprocess.CompletedProcess:
    """CMD run in the container, its output captured as text; INPUT on its stdin (nothing otherwise).
    Run again when lxc-attach aborted before it started CMD (logic.attach_aborted)."""
    stdin = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
    for _ in range(logic.ATTACH_TRIES):
        proc = subprocess.run(
            attach_cmd(lab, cname, cmd), capture_output=True, text=True, timeout=timeout, **stdin
        )
        if not logic.attach_aborted(proc.returncode, proc.stderr):
            break
        time.sleep(0.2)
    return proc


def kill(lab: Lab, node: dict) -> None:
    """A hard stop: the node's processes die at once, as in a power cut."""
    run(["lxc-stop", "-k", "-P", lab.paths["lxcpath"], "-n", node["container"]])


def init_pid(lab: Lab, cname: str) -> int | None:
    """The host pid of the node's init, None when it is not running."""
    proc = run(["lxc-info", "-P", lab.paths["lxcpath"], "-n", cname, "-p", "-H"], check=False)
    out = proc.stdout.strip()
    return int(out) if out.isdigit() else None


def cgroups(lab: Lab, cname: str) -> dict | None:
    """The node's groups on the host: {"v2": its cgroup v2 directory, "v1": its v1 freezer directory
    (None on a host without one)}; None when the node is not running."""
    pid = init_pid(lab, cname)
    if pid is None:
        return None
    mounts = Path("/proc/self/mounts").read_text()
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except FileNotFoundError:  # stopped since lxc-info answered
        return None
    v2_mount, v2 = logic.cgroup_mount(mounts), logic.container_cgroup(text, cname)
    if v2_mount is None or v2 is None:
        raise LabError(f"{cname} is in no cgroup v2 group on this host: cannot freeze it")
    v1_mount, v1 = logic.cgroup_mount(mounts, "freezer"), logic.container_cgroup(text, cname, "freezer")
    return {"v2": f"{v2_mount}/{v2}", "v1": f"{v1_mount}/{v1}" if v1_mount and v1 else None}


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except FileNotFoundError:  # the node stopped meanwhile
        return None


def freezer(groups: dict | None) -> dict | None:
    """{"freeze": 1 when a v2 freeze was asked (cgroup.freeze), "frozen": 1 when every task stopped
    (cgroup.events), "v1": the v1 freezer's state (THAWED, FREEZING, FROZEN) or None}."""
    if groups is None:
        return None
    asked, events = _read(f"{groups['v2']}/cgroup.freeze"), _read(f"{groups['v2']}/cgroup.events")
    if asked is None or events is None:
        return None
    return {
        "freeze": int(asked or 0),
        "frozen": logic.parse_cgroup_events(events).get("frozen", 0),
        "v1": _read(f"{groups['v1']}/freezer.state") if groups["v1"] else None,
    }


def node_state(lab: Lab, cname: str) -> str:
    state = lxc_state(lab, cname)
    if state not in ("RUNNING", *logic.LXC_FROZEN_STATES):
        return state
    return logic.node_state(state, freezer(cgroups(lab, cname)))


def unstopped_tasks(cgroup: str) -> list[tuple[str, int]]:
    """(comm, pid) of the node's tasks in uninterruptible sleep, in every cgroup below its own."""
    stuck = []
    for directory, _, _ in os.walk(cgroup):
        try:
            tids = Path(f"{directory}/cgroup.threads").read_text().split()
        except OSError:  # removed meanwhile
            continue
        for tid in tids:
            try:
                comm, state = logic.parse_proc_stat(Path(f"/proc/{tid}/stat").read_text())
            except OSError:  # exited meanwhile
                continue
            if state == "D":
                stuck.append((comm, int(tid)))
    return sorted(stuck, key=lambda t: t[1])


def set_cgroup(path: str, value: str) -> None:
    """Write a cgroup control file in place (host.write's rename is refused there)."""
    with open(path, "w") as fh:
        fh.write(value)


def freeze(lab: Lab, node: dict, timeout: float = logic.FREEZE_TIMEOUT) -> str:
    """Freeze every process of NODE through its cgroup v2 freezer, waiting at most TIMEOUT seconds for
    them all to stop; what was done. Tasks that cannot stop in time (uninterruptible sleep) are named
    and the freeze stays: the rest of the node is frozen, which is the gray failure wanted."""
    name, cname = node["name"], node["container"]
    t0 = time.monotonic()
    groups = cgroups(lab, cname)
    if groups is None:
        raise LabError(f"{name} is not running ({lxc_state(lab, cname)}): nothing to freeze")
    set_cgroup(f"{groups['v2']}/cgroup.freeze", "1")
    # The kernel also signals the change (poll on cgroup.events); 50 ms polls keep the command simple
    # and its answer within 50 ms of the truth.
    while True:
        state = freezer(groups) or {}
        if state.get("frozen") or time.monotonic() - t0 >= timeout:
            break
        time.sleep(0.05)
    frozen = bool(state.get("frozen"))
    stuck = [] if frozen else unstopped_tasks(groups["v2"])
    return logic.freeze_message(name, frozen, stuck, time.monotonic() - t0)


def revive(lab: Lab, node: dict) -> list[str]:
    """Undo a kill or a freeze (complete or half-done, ours or lxc-freeze's); what it did."""
    cname = node["container"]
    state = lxc_state(lab, cname)
    groups = cgroups(lab, cname) if state != "STOPPED" else None
    done = []
    for step in logic.undo_plan(state, freezer(groups)):
        if step == "start":
            start_container(lab, cname)
            done.append("started")
        elif step == "thaw":
            set_cgroup(f"{groups['v2']}/cgroup.freeze", "0")
            done.append("thawed")
        elif step == "thaw v1":
            set_cgroup(f"{groups['v1']}/freezer.state", "THAWED")
            done.append("thawed (v1 freezer of an interrupted lxc-freeze)")
        else:
            run(["lxc-unfreeze", "-P", lab.paths["lxcpath"], "-n", cname], timeout=30)
            done.append("unfrozen (lxc-unfreeze)")
    return done
