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
    if state == "FROZEN":
        run(["lxc-unfreeze", "-P", path, "-n", cname], check=False)
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


def create_node(lab: Lab, node: dict, nodes: list[dict], domain: str) -> dict:
    path, bpath = lab.paths["lxcpath"], lab.paths["base_lxcpath"]
    cname = logic.container_name(lab.name, node["name"])
    veth = logic.veth_name(lab.name, node["name"])
    # A veth left behind by a killed container would make the start fail.
    if link(veth) is not None:
        run(["ip", "link", "del", veth], check=False)
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


def kill(lab: Lab, node: dict) -> None:
    """A hard stop: the node's processes die at once, as in a power cut."""
    run(["lxc-stop", "-k", "-P", lab.paths["lxcpath"], "-n", node["container"]])


def freeze(lab: Lab, node: dict) -> None:
    run(["lxc-freeze", "-P", lab.paths["lxcpath"], "-n", node["container"]])


def revive(lab: Lab, node: dict) -> list[str]:
    """Undo a kill or a freeze; what it did."""
    state = lxc_state(lab, node["container"])
    if state == "STOPPED":
        start_container(lab, node["container"])
        return ["started"]
    if state == "FROZEN":
        run(["lxc-unfreeze", "-P", lab.paths["lxcpath"], "-n", node["container"]])
        return ["unfrozen"]
    return []
