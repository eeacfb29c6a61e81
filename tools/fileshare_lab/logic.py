"""Pure logic of the lab: names, addresses, rendered configuration, orchestration results.

Nothing here touches the machine; the other modules (host, network, images, master, containers) do
the I/O and call these functions.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re

# Linux interface names are at most 15 bytes (IFNAMSIZ 16 with the NUL).
IFNAME_MAX = 15
# Well-known labs keep well-known subnets: the example site's default and the test tier's.
FIXED_NETS = {"fileshare": "10.77.0", "fstest": "10.78.0"}
LAB_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,19}$")
NODE_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
# Bump when the base image recipe changes: a new base is built beside the old one, whose running
# clones keep working (an overlay clone needs its base's rootfs for as long as it lives).
BASE_RECIPE = "1"
BASE_NAME = f"fileshare-base-r{BASE_RECIPE}"
SALT_REQUIREMENTS = ["salt==3008.4", "dnspython", "jsonschema", "PyMySQL"]
# The host also plays the site's Python mirror (pillar fileshare:mirrors:python = http://<net>.1:3143/wheels/).
MIRROR_PORT = 3143
RELEASE = "bookworm"
CACHE_PORT = 3142


class LabError(Exception):
    """A user-facing error: one clear message, nothing changed."""


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def check_lab_name(lab: str) -> str:
    if not LAB_NAME_RE.match(lab):
        raise LabError(f"bad lab name {lab!r}: use 1-20 lowercase letters and digits, starting with a letter")
    return lab


def derive_net(lab: str) -> str:
    """First three octets of the lab's /24: fixed for the well-known labs, else from the name."""
    if lab in FIXED_NETS:
        return FIXED_NETS[lab]
    h = int(_digest(lab), 16)
    return f"10.{80 + h % 120}.{(h // 120) % 256}"


APP_NODES_DEFAULT = 2
APP_NODES_MAX = 9  # the example site's app addresses are .41-.49


def check_app_nodes(value) -> int:
    """Validate --app-nodes: how many app nodes the example full_ha site gets (2-9)."""
    text = str(value)
    if not text.isdigit() or not APP_NODES_DEFAULT <= int(text) <= APP_NODES_MAX:
        raise LabError(
            f"bad --app-nodes {value!r}: give {APP_NODES_DEFAULT}-{APP_NODES_MAX} "
            "(full_ha's app nodes; its addresses end in .41-.49)"
        )
    return int(text)


def check_net(net: str) -> str:
    """Validate `A.B.C` (a private /24's first three octets) and return it normalised."""
    parts = net.split(".") if isinstance(net, str) else []
    if len(parts) != 3 or not all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts):
        raise LabError(f"bad --net {net!r}: give the first three octets of a private /24, e.g. 10.90.3")
    norm = ".".join(str(int(p)) for p in parts)
    subnet = ipaddress.ip_network(f"{norm}.0/24")
    private = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
    if not any(subnet.subnet_of(p) for p in private):
        raise LabError(f"bad --net {net!r}: the lab subnet must be private (10/8, 172.16/12, 192.168/16)")
    return norm


def bridge_name(lab: str) -> str:
    name = f"fsbr-{lab}"
    if len(name) <= IFNAME_MAX:
        return name
    return f"fsbr-{_digest(lab)[:10]}"


def container_name(lab: str, node: str) -> str:
    return f"{lab}-{node}"


def veth_name(lab: str, node: str) -> str:
    """Host-side veth of a node: readable when it fits, else hashed; unique per (lab, node)."""
    name = f"{lab}-{node}"
    if len(name) <= IFNAME_MAX:
        return name
    short = f"v{_digest(lab)[:4]}-{node}"
    if len(short) <= IFNAME_MAX:
        return short
    return f"v{_digest(lab)[:4]}-{_digest(node)[:9]}"


def mac_address(lab: str, node: str) -> str:
    """A stable locally administered unicast MAC, so ARP caches survive a node's recreation."""
    d = _digest(f"{lab}/{node}")
    return "02:" + ":".join(d[i : i + 2] for i in range(0, 10, 2))


def master_address(net: str) -> str:
    return f"{net}.1"


def lab_paths(home: str, lab: str) -> dict:
    """Every path of a lab and of the machine-wide shared parts, under one home directory."""
    lab_dir = f"{home}/{lab}"
    return {
        "home": home,
        "lab_dir": lab_dir,
        "lxcpath": f"{lab_dir}/lxc",
        "master_etc": f"{lab_dir}/master/etc",
        "master_root": f"{lab_dir}/master/root",
        "file_root": f"{lab_dir}/master/srv",
        "state": f"{lab_dir}/lab.json",
        "base_lxcpath": f"{home}/base/lxc",
        "base_marker": f"{home}/base/{BASE_NAME}.complete",
        "wheels": f"{home}/wheels",
        "mirror": f"{home}/mirror",
        "cache_dir": f"{home}/apt-cacher-ng",
        "locks": f"{home}/locks",
    }


def wheel_requirements(defaults: dict) -> list[str]:
    """Salt for the base plus the Salt extensions the formulas install from the Python mirror."""
    extra = defaults.get("salt_extensions", []) if isinstance(defaults, dict) else []
    if not isinstance(extra, list) or not all(isinstance(r, str) for r in extra):
        raise LabError("formulas/fileshare/parameters/defaults.yaml: salt_extensions must be a list of pins")
    # The HA WebDAV engine's venv (wsgidav:requirements) installs from the same mirror.
    wsgidav = defaults.get("wsgidav", {}) if isinstance(defaults, dict) else {}
    engine = wsgidav.get("requirements", []) if isinstance(wsgidav, dict) else []
    if not isinstance(engine, list) or not all(isinstance(r, str) for r in engine):
        raise LabError(
            "formulas/fileshare/parameters/defaults.yaml: wsgidav:requirements must be a list of pins"
        )
    extra = extra + engine
    return SALT_REQUIREMENTS + [r for r in dict.fromkeys(extra) if r not in SALT_REQUIREMENTS]


def nodes_from_topology(topology: dict, net: str) -> list[dict]:
    """The site's nodes (fileshare_topology's derivation of the compiled pillar), checked to be
    usable as lab containers."""
    nodes_in = topology.get("nodes") if isinstance(topology, dict) else None
    if not nodes_in:
        raise LabError("the compiled pillar has no fileshare:nodes list")
    subnet = ipaddress.ip_network(f"{net}.0/24")
    nodes, seen = [], set()
    for entry in nodes_in:
        name, address = entry["name"], entry["address"]
        if not NODE_NAME_RE.match(name) or name in seen:
            raise LabError(f"pillar node name {name!r} is not a usable, unique host name")
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise LabError(f"pillar node {name} has a bad address {address!r}") from None
        if ip not in subnet or ip in (subnet.network_address, subnet.broadcast_address, subnet[1]):
            raise LabError(f"pillar node {name} address {address} is not a host address on {subnet}")
        seen.add(name)
        nodes.append({"name": name, "address": address, "roles": list(entry["roles"])})
    return nodes


def service_info(topology: dict, product: str | None) -> dict:
    """What a user of the site reaches: the VIP, its name, the product behind it."""
    return {"vip": topology["vip"]["address"] or None, "fqdn": topology["vip"]["fqdn"], "product": product}


# --- configuration rendering ---------------------------------------------------------------


# The checkout's top-level folders a lab master serves (salt://_modules ..., salt://tests/lab/files ...).
FILE_ROOT_LINKS = ("_modules", "_states", "_runners", "tests")


def render_master_config(
    *, repo: str, paths: dict, net: str, arch: str, master_id: str, app_nodes: int = APP_NODES_DEFAULT
) -> str:
    addr = master_address(net)
    return f"""# Written by fileshare-lab: the lab master of {paths["lab_dir"]}. Regenerated by `up`.
id: {master_id}
user: root
root_dir: {paths["master_root"]}
interface: {addr}
ipv6: False
# Lab nodes are recreated bare on each `up`: accept their new keys at once.
auto_accept: True
worker_threads: 3
timeout: 20
gather_job_timeout: 15
keep_jobs_seconds: 3600
# file_roots on this checkout: an edit is live on the next run. The checkout's top level is served
# through {paths["file_root"]}, which links only the folders Salt needs: the whole checkout (.venv, .git,
# build) made every module sync walk ~14k files (74 s measured).
file_roots:
  base:
    - {paths["file_root"]}
    - {repo}/formulas
    - {repo}/orchestrate
pillar_roots:
  base:
    - {repo}/pillar
# Read by pillar/sites/example/*.sls through config.get.
fileshare_example_architecture: {arch}
fileshare_example_net: {net}
fileshare_example_app_nodes: {app_nodes}
"""


def render_minion_config(*, node: str, net: str) -> str:
    return f"""# Written by fileshare-lab.
id: {node}
master: {master_address(net)}
ipv6: False
# Keys are auto-accepted by the lab master: do not wait the default 10 s between tries.
acceptance_wait_time: 1
acceptance_wait_time_max: 3
random_reauth_delay: 0
"""


def render_container_network(*, bridge: str, veth: str, address: str, mac: str) -> str:
    # No gateway: nodes have no route out (packages come from the cache on the bridge).
    return "\n".join(
        [
            "lxc.net.0.type = veth",
            f"lxc.net.0.link = {bridge}",
            "lxc.net.0.flags = up",
            "lxc.net.0.name = eth0",
            f"lxc.net.0.veth.pair = {veth}",
            f"lxc.net.0.hwaddr = {mac}",
            f"lxc.net.0.ipv4.address = {address}/24",
            "",
        ]
    )


def rewrite_container_config(text: str, *, network: str, hostname: str) -> str:
    """Replace the network and hostname entries of a cloned container's config."""
    kept = [line for line in text.splitlines() if not re.match(r"\s*lxc\.(net\.|network\.|uts\.name)", line)]
    return "\n".join(kept).rstrip("\n") + f"\nlxc.uts.name = {hostname}\n" + network


def render_hosts(nodes: list[dict], net: str, domain: str = "") -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", ""]
    for n in nodes:
        names = [f"{n['name']}.{domain}", n["name"]] if domain else [n["name"]]
        lines.append(f"{n['address']}\t" + " ".join(names))
    lines.append(f"{master_address(net)}\tsalt")
    return "\n".join(lines) + "\n"


def render_sources_list(net: str) -> str:
    base = f"http://{master_address(net)}:{CACHE_PORT}"
    return (
        f"deb {base}/debian {RELEASE} main\n"
        f"deb {base}/debian {RELEASE}-updates main\n"
        f"deb {base}/debian-security {RELEASE}-security main\n"
    )


def render_cache_config(*, cache_dir: str, bind: list[str]) -> str:
    # The default backend lookup fails here (503 Host not found): remap to explicit backends.
    return f"""# Written by fileshare-lab: the machine-wide apt cache of every lab.
CacheDir: {cache_dir}/cache
LogDir: {cache_dir}/log
SupportDir: /usr/lib/apt-cacher-ng
Port: {CACHE_PORT}
BindAddress: {" ".join(bind)}
Remap-debrep: deb.debian.org/debian /debian ; http://deb.debian.org/debian/
Remap-secdeb: deb.debian.org/debian-security security.debian.org/debian-security /debian-security ; \
http://deb.debian.org/debian-security/
ReportPage: acng-report.html
ExThreshold: 4
"""


MINION_UNIT = """[Unit]
Description=The Salt Minion (fileshare lab, /opt/salt)
After=network.target

[Service]
ExecStart=/opt/salt/bin/salt-minion -c /etc/salt
# Salt restarts itself from inside states: do not kill its children with it.
KillMode=process
Restart=on-failure
RestartSec=2

[Install]
WantedBy=multi-user.target
"""


BASE_INTERFACES = """# fileshare-lab: LXC sets the address from the container config (dhcp blocks boot 61 s).
auto lo
iface lo inet loopback

auto eth0
iface eth0 inet manual
"""


def render_base_mounts(wheels: str) -> str:
    return "\n".join(
        [
            "lxc.apparmor.profile = unconfined",
            "lxc.mount.entry = /dev/fuse dev/fuse none bind,create=file,optional 0 0",
            f"lxc.mount.entry = {wheels} wheels none bind,ro,create=dir 0 0",
            "",
        ]
    )


# --- orchestration results -----------------------------------------------------------------


def _state_items(states: dict) -> list[tuple[str, dict]]:
    items = [(k, v) for k, v in states.items() if isinstance(v, dict)]
    return sorted(items, key=lambda kv: kv[1].get("__run_num__", 0))


def orchestrate_states(output) -> dict:
    """The step dict of `salt-run state.orchestrate --out=json` (outputter wrapper and master id off)."""
    data = output
    if isinstance(data, dict) and "data" in data and "outputter" in data:
        data = data["data"]
    if isinstance(data, dict) and len(data) == 1:
        (only,) = data.values()
        if isinstance(only, dict) and all(isinstance(v, dict) for v in only.values()):
            if any("__run_num__" in v or "result" in v for v in only.values()):
                return only
    if isinstance(data, dict) and all(isinstance(v, dict) and "result" in v for v in data.values()):
        return data
    if isinstance(data, list):
        raise LabError("orchestration did not run: " + "; ".join(str(x) for x in data))
    raise LabError(f"unexpected orchestrate output: {str(output)[:300]}")


def _minion_returns(step: dict) -> dict:
    """{minion: {state_key: state_result}} nested in a salt.state step, else {}."""
    ret = (step.get("changes") or {}).get("ret")
    if not isinstance(ret, dict):
        return {}
    return {m: r for m, r in ret.items() if isinstance(r, dict)}


def count_changes(output) -> int:
    """How many states changed something, counting each node's states inside salt.state steps."""
    total = 0
    for _, step in _state_items(orchestrate_states(output)):
        minions = _minion_returns(step)
        if minions:
            for states in minions.values():
                if all(isinstance(v, dict) for v in states.values()):
                    total += sum(1 for v in states.values() if v.get("changes"))
                else:
                    total += 1
        elif step.get("changes"):
            total += 1
    return total


def step_summaries(output) -> list[dict]:
    steps = []
    for key, step in _state_items(orchestrate_states(output)):
        minions = _minion_returns(step)
        if minions:
            changes = sum(
                sum(1 for v in states.values() if isinstance(v, dict) and v.get("changes"))
                for states in minions.values()
            )
        else:
            changes = 1 if step.get("changes") else 0
        steps.append(
            {
                "name": step.get("__id__") or key,
                "result": step.get("result"),
                "seconds": round(float(step.get("duration", 0) or 0) / 1000.0, 3),
                "changes": changes,
            }
        )
    return steps


def failures(output) -> list[dict]:
    """Failed steps, each with its comment and the failing states on each node under it."""
    found = []
    for key, step in _state_items(orchestrate_states(output)):
        if step.get("result") is not False:
            continue
        nested = []
        for minion, states in _minion_returns(step).items():
            for skey, s in _state_items(states):
                if s.get("result") is False:
                    nested.append(
                        {
                            "node": minion,
                            "state": s.get("__id__") or skey,
                            "comment": str(s.get("comment", "")),
                        }
                    )
        found.append(
            {"step": step.get("__id__") or key, "comment": str(step.get("comment", "")), "states": nested}
        )
    return found


def step_return(output, fun: str):
    """What the orchestration step that called FUN (salt.function) returned on its node; None when no
    step called it or it returned nothing."""
    for key, step in _state_items(orchestrate_states(output)):
        if f"_|-{fun}_|-" in key or step.get("name") == fun:
            ret = (step.get("changes") or {}).get("ret")
            return next(iter(ret.values()), None) if isinstance(ret, dict) else None
    return None


def ping_missing(expected: list[str], output: dict) -> list[str]:
    """Nodes that did not answer True to test.ping (output of `salt --out=json --static`)."""
    return [n for n in expected if not (isinstance(output, dict) and output.get(n) is True)]


# lxc-attach first copies itself into a memory file and re-executes from it (LXC's guard against
# CVE-2019-5736). On a busy host that copy sometimes fails and lxc-attach aborts before it ran the
# command in the node, so running it again is safe.
ATTACH_ABORTED = "Failed to rexec as memfd"
ATTACH_TRIES = 3


def attach_aborted(returncode: int, stderr: str | bytes | None) -> bool:
    """True when lxc-attach gave up before it started the command (nothing ran in the node)."""
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else (stderr or "")
    return returncode != 0 and ATTACH_ABORTED in text


def format_seconds(s: float) -> str:
    return f"{s:.1f}s" if s < 120 else f"{int(s // 60)}m{s % 60:04.1f}s"


# --- the outsider: a lab node on the bridge that is no member of the site ---------------------------

OUTSIDER = "outsider"
OUTSIDER_ACTIONS = ("up", "down")


def check_outsider_action(action: str) -> str:
    if action not in OUTSIDER_ACTIONS:
        raise LabError(f"outsider takes {' or '.join(OUTSIDER_ACTIONS)}, not {action!r}")
    return action


def outsider_address(net: str, taken: list[str]) -> str:
    """The highest host address of the lab's /24 that neither the master nor a site node uses, nor the
    site's VIP (taken lists them all)."""
    used = set(taken) | {master_address(net)}
    for last in range(250, 1, -1):
        address = f"{net}.{last}"
        if address not in used:
            return address
    raise LabError(f"no free address for the outsider in {net}.0/24")


def outsider_entry(net: str, nodes: list[dict], service: dict) -> dict:
    """The outsider's node entry: no roles, an address the site's pillar does not know."""
    taken = [n["address"] for n in nodes] + [v for v in [service.get("vip")] if v]
    return {"name": OUTSIDER, "address": outsider_address(net, taken), "roles": []}


def new_job(line: str) -> dict | None:
    """The job a `salt-run state.event salt/job/*/new pretty=False` line announces, or None (another
    event, or not JSON)."""
    tag, _, body = line.rstrip("\n").partition("\t")
    if not (tag.startswith("salt/job/") and tag.endswith("/new")):
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


# --- freezing a node: the cgroup v2 freezer, bounded ------------------------------------------------

# How long `freeze` waits for every task of a node to stop. A task in uninterruptible sleep (a request
# to a FUSE mount whose daemon is frozen, a disk wait) cannot stop until it wakes: past this bound the
# freeze stays in place with those tasks named, instead of waiting forever as `lxc-freeze` does.
FREEZE_TIMEOUT = 5.0
# The states of the cgroup v1 freezer (freezer.state), which lxc-freeze uses on a hybrid host like
# this one; LXC knows nothing of cgroup.freeze in the v2 hierarchy.
LXC_FROZEN_STATES = ("FROZEN", "FREEZING")


def cgroup_mount(mounts: str, controller: str | None = None) -> str | None:
    """Where a cgroup hierarchy is mounted, from /proc/self/mounts: the v2 one (controller None) —
    /sys/fs/cgroup on a unified host, /sys/fs/cgroup/unified on a hybrid one — or the v1 one that
    holds CONTROLLER; None without it."""
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        if controller is None and fields[2] == "cgroup2":
            return fields[1]
        if controller is not None and fields[2] == "cgroup" and controller in fields[3].split(","):
            return fields[1]
    return None


def cgroup_mounts(mounts: str) -> list[str]:
    """Every cgroup hierarchy's mount point (v2 and each v1 one), from /proc/self/mounts."""
    found = []
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] in ("cgroup", "cgroup2") and fields[1] not in found:
            found.append(fields[1])
    return found


def leftover_group(entry: str, cname: str) -> bool:
    """Whether a top-level cgroup named ENTRY is one LXC makes for container CNAME (its payload or
    monitor group, or LXC's `-<n>` rename of one)."""
    return re.match(rf"^lxc\.(payload|monitor)\.{re.escape(cname)}(-[0-9]+)?$", entry) is not None


def container_cgroup(proc_cgroup: str, cname: str, controller: str | None = None) -> str | None:
    """The container's own group (relative to its hierarchy's mount) from /proc/<init pid>/cgroup, in
    the v2 hierarchy (controller None) or the v1 one of CONTROLLER; None when the init is in no such
    hierarchy. LXC makes `lxc.payload.<name>` and the node's systemd puts its units below it, so that
    group holds every process of the node and none of LXC's monitor (`lxc.monitor.<name>`). LXC names
    it `lxc.payload.<name>-<n>` when a group of the plain name is left over (a killed run's), so that
    counts too: it is read from this node's own init."""
    payload = f"lxc.payload.{cname}"
    ours = re.compile(rf"^{re.escape(payload)}(-[0-9]+)?$")
    for line in proc_cgroup.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if controller is None and (hierarchy != "0" or controllers):
            continue
        if controller is not None and controller not in controllers.split(","):
            continue
        parts = [p for p in path.split("/") if p]
        found = [i for i, part in enumerate(parts) if ours.match(part)]
        if not found:
            raise LabError(f"{cname}'s init is in cgroup {path!r}, not below {payload}: cannot freeze it")
        return "/".join(parts[: found[0] + 1])
    return None


def parse_cgroup_events(text: str) -> dict[str, int]:
    """cgroup.events ("populated 1\\nfrozen 0\\n") as {"populated": 1, "frozen": 0}."""
    events = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            events[key] = int(value)
    return events


def parse_proc_stat(text: str) -> tuple[str, str]:
    """(comm, state letter) of a /proc/<pid>/stat line; comm may hold spaces and parentheses, so it
    ends at the last ')'."""
    head, _, tail = text.rpartition(")")
    comm = head.partition("(")[2]
    return comm, tail.split()[0] if tail.split() else "?"


def freeze_message(node: str, frozen: bool, stuck: list[tuple[str, int]], seconds: float) -> str:
    """What `freeze` says: done, or done except the tasks that could not stop (in cgroup v2 a frozen
    task sleeps interruptibly, so those still in 'D' are exactly the ones the freezer waits for)."""
    if frozen:
        return f"{node} frozen ({format_seconds(seconds)})"
    if not stuck:
        return (
            f"{node} frozen except task(s) not yet stopped after {format_seconds(seconds)} "
            "(none in uninterruptible sleep); `heal` thaws it"
        )
    shown = ", ".join(f"{comm}({pid})" for comm, pid in stuck[:10])
    more = f", and {len(stuck) - 10} more" if len(stuck) > 10 else ""
    return (
        f"{node} frozen except {len(stuck)} task(s) in uninterruptible sleep: {shown}{more} "
        f"(left frozen after {format_seconds(seconds)}; `heal` thaws it)"
    )


def node_state(lxc_state: str, freezer: dict | None) -> str:
    """The state `status` shows, from the freezers themselves: lxc-info reads neither a freeze through
    cgroup v2 (it says RUNNING) nor the end of an lxc-freeze that was interrupted (it keeps saying
    FREEZING after the v1 freezer thawed)."""
    if not freezer:
        return lxc_state
    if freezer.get("freeze"):
        return "FROZEN" if freezer.get("frozen") else "FREEZING"
    if freezer.get("v1") in LXC_FROZEN_STATES:
        return freezer["v1"]
    return "RUNNING" if lxc_state in LXC_FROZEN_STATES else lxc_state


def undo_plan(lxc_state: str, freezer: dict | None) -> list[str]:
    """What `heal` must do to a node's processes, in order: start a stopped node; thaw a cgroup v2
    freeze, complete or not; thaw a v1 freeze (lxc-freeze's): through lxc-unfreeze when LXC knows it
    FROZEN, which also keeps LXC's record right, else by writing THAWED, since lxc-unfreeze does nothing
    to a container LXC records as FREEZING."""
    if lxc_state == "STOPPED":
        return ["start"]
    freezer = freezer or {}
    plan = []
    if freezer.get("freeze"):
        plan.append("thaw")
    if lxc_state == "FROZEN":
        plan.append("lxc-unfreeze")
    elif freezer.get("v1") in LXC_FROZEN_STATES:
        plan.append("thaw v1")
    return plan
