"""The lab's network on the host: its bridge, the subnets other labs use, the nodes' veths (a
partition detaches one from the bridge)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from .host import Lab, run, say
from .logic import LabError


def other_labs_nets(lab: Lab) -> dict:
    nets = {}
    root = Path(lab.paths["home"])
    for state in root.glob("*/lab.json"):
        if state.parent.name == lab.name:
            continue
        with contextlib.suppress(OSError, ValueError):
            nets[json.loads(state.read_text()).get("net")] = state.parent.name
    return nets


def check_net_free(lab: Lab) -> None:
    """Refuse a subnet that another lab or any other host interface already uses."""
    owner = other_labs_nets(lab).get(lab.net)
    if owner:
        raise LabError(f"subnet {lab.net}.0/24 is used by lab {owner}: pick another with --net")
    routes = json.loads(run(["ip", "-j", "route", "show", "table", "all"]).stdout or "[]")
    for r in routes:
        dst = r.get("dst", "")
        if dst in (f"{lab.net}.0/24", f"{lab.net}.0") and r.get("dev") != lab.bridge:
            raise LabError(
                f"subnet {lab.net}.0/24 is already routed via {r.get('dev')}: pick another with --net"
            )


def link(name: str) -> dict | None:
    proc = run(["ip", "-j", "addr", "show", "dev", name], check=False)
    if proc.returncode != 0:
        return None
    data = json.loads(proc.stdout or "[]")
    return data[0] if data else None


INOTIFY_INSTANCES = "/proc/sys/fs/inotify/max_user_instances"
MIN_INOTIFY_INSTANCES = 1024


def ensure_host_limits() -> None:
    """Each node's systemd and services hold several inotify instances, all counted against root on the
    host; at the kernel's default 128, nodes past ~20 (full_ha beside a few 3-node labs) die at boot
    with exit 255 and no console output."""
    try:
        current = int(Path(INOTIFY_INSTANCES).read_text())
    except (OSError, ValueError):
        return
    if current < MIN_INOTIFY_INSTANCES:
        Path(INOTIFY_INSTANCES).write_text(f"{MIN_INOTIFY_INSTANCES}\n")
        say(f"fs.inotify.max_user_instances raised from {current} to {MIN_INOTIFY_INSTANCES}")


def ensure_bridge(lab: Lab) -> None:
    found = link(lab.bridge)
    if found is None:
        run(["ip", "link", "add", "name", lab.bridge, "type", "bridge"])
        found = link(lab.bridge)
        say(f"bridge {lab.bridge} created")
    have = [f"{a['local']}/{a['prefixlen']}" for a in found.get("addr_info", []) if a.get("family") == "inet"]
    want = f"{lab.addr}/24"
    for a in have:
        if a != want:
            run(["ip", "addr", "del", a, "dev", lab.bridge])
    if want not in have:
        run(["ip", "addr", "add", want, "dev", lab.bridge])
    run(["ip", "link", "set", lab.bridge, "up"])
    say(f"bridge {lab.bridge} is {want}")


def delete_bridge(lab: Lab) -> None:
    if link(lab.bridge) is not None:
        run(["ip", "link", "del", lab.bridge])
        say(f"bridge {lab.bridge} deleted")


def lab_bridge_addresses() -> list[str]:
    out = json.loads(run(["ip", "-j", "addr", "show", "type", "bridge"]).stdout or "[]")
    addrs = []
    for entry in out:
        if entry.get("ifname", "").startswith("fsbr-"):
            addrs += [a["local"] for a in entry.get("addr_info", []) if a.get("family") == "inet"]
    return sorted(addrs)


def veth_master(veth: str) -> str | None:
    found = link(veth)
    if found is None:
        return None
    return found.get("master") or ""


def partition(lab: Lab, node: dict) -> None:
    """Detach NODE's veth from the bridge: its packets go nowhere, silently (no link down)."""
    if veth_master(node["veth"]) is None:
        raise LabError(f"{node['name']} has no link ({node['veth']} absent): is it running?")
    run(["ip", "link", "set", node["veth"], "nomaster"])


def reattach(lab: Lab, node: dict) -> bool:
    """Undo a partition; whether there was one to undo."""
    attached = veth_master(node["veth"])
    if attached is None or attached == lab.bridge:
        return False
    run(["ip", "link", "set", node["veth"], "master", lab.bridge])
    return True
