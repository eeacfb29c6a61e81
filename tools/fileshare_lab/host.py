"""The thin I/O layer of the lab: bridge, apt cache, base image, master, nodes, fault tools."""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pids_with(marker: str, program: str) -> list[int]:
    """Processes started by this tool: their command line names our own config path."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            cmd = _cmdline(int(entry))
            if marker in cmd and program in cmd:
                pids.append(int(entry))
    return pids


def _terminate(pids: list[int], grace: float = 10.0) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_pid_alive(p) for p in pids):
        time.sleep(0.2)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _wait_port(addr: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((addr, port)) == 0:
                return True
        time.sleep(0.2)
    return False


# --- lab state ------------------------------------------------------------------------------


class Lab:
    def __init__(self, name: str, net: str | None = None):
        self.name = logic.check_lab_name(name)
        self.paths = logic.lab_paths(home(), self.name)
        self.saved = self._load()
        self.net = logic.check_net(net) if net else self.saved.get("net") or logic.derive_net(self.name)
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


def architectures() -> list[str]:
    skip = {"init", "common"}
    return sorted(p.stem for p in Path(REPO, "pillar/sites/example").glob("*.sls") if p.stem not in skip)


def check_arch(arch: str) -> str:
    known = architectures()
    if arch not in known:
        raise LabError(f"unknown architecture {arch!r}: one of {', '.join(known)}")
    return arch


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


# --- bridge ---------------------------------------------------------------------------------


def _link(name: str) -> dict | None:
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
    link = _link(lab.bridge)
    if link is None:
        run(["ip", "link", "add", "name", lab.bridge, "type", "bridge"])
        link = _link(lab.bridge)
        say(f"bridge {lab.bridge} created")
    have = [f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", []) if a.get("family") == "inet"]
    want = f"{lab.addr}/24"
    for a in have:
        if a != want:
            run(["ip", "addr", "del", a, "dev", lab.bridge])
    if want not in have:
        run(["ip", "addr", "add", want, "dev", lab.bridge])
    run(["ip", "link", "set", lab.bridge, "up"])
    say(f"bridge {lab.bridge} is {want}")


def delete_bridge(lab: Lab) -> None:
    if _link(lab.bridge) is not None:
        run(["ip", "link", "del", lab.bridge])
        say(f"bridge {lab.bridge} deleted")


def lab_bridge_addresses() -> list[str]:
    out = json.loads(run(["ip", "-j", "addr", "show", "type", "bridge"]).stdout or "[]")
    addrs = []
    for link in out:
        if link.get("ifname", "").startswith("fsbr-"):
            addrs += [a["local"] for a in link.get("addr_info", []) if a.get("family") == "inet"]
    return sorted(addrs)


# --- apt cache (machine-wide) ---------------------------------------------------------------


def ensure_cache(paths: dict) -> None:
    """One warm apt-cacher-ng for every lab, bound to 127.0.0.1 and each lab bridge's address."""
    cdir = paths["cache_dir"]
    with flock(f"{paths['locks']}/cache.lock", "apt cache"):
        bind = ["127.0.0.1"] + lab_bridge_addresses()
        conf = logic.render_cache_config(cache_dir=cdir, bind=bind)
        conf_file = f"{cdir}/etc/acng.conf"
        pidfile = f"{cdir}/run/pid"
        marker = f"{cdir}/etc"
        running = _pids_with(marker, "apt-cacher-ng")
        current = Path(conf_file).read_text() if os.path.exists(conf_file) else ""
        bound = next(
            (ln.split(":", 1)[1].split() for ln in current.splitlines() if ln.startswith("BindAddress:")), []
        )
        # Restart only for a new bridge: a restart cuts the downloads of labs converging meanwhile.
        if running and set(bind) <= set(bound) and all(_wait_port(a, logic.CACHE_PORT, 2) for a in bind):
            say(f"apt cache already running on {', '.join(bind)}")
            return
        if running:
            _terminate(running)
        _free_cache_port()
        for sub in ("etc", "run", "cache", "log"):
            os.makedirs(f"{cdir}/{sub}", exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(pidfile)
        write(conf_file, conf)
        run(
            [
                "/usr/sbin/apt-cacher-ng",
                "-c",
                marker,
                f"pidfile={pidfile}",
                f"SocketPath={cdir}/run/socket",
                "foreground=0",
            ]
        )
        if not all(_wait_port(a, logic.CACHE_PORT, 15) for a in bind):
            raise LabError(f"apt-cacher-ng did not listen on {bind} (log in {cdir}/log)")
        say(f"apt cache (re)started on {', '.join(bind)}:{logic.CACHE_PORT}")


def _port_holders(port: int) -> list[int]:
    out = run(["ss", "-ltnpH", f"sport = :{port}"], check=False).stdout
    return sorted({int(p) for p in re.findall(r"pid=(\d+)", out)})


def _free_cache_port() -> None:
    """Debian's own apt-cacher-ng service (started by the package install) would hold the port."""
    for pid in _port_holders(logic.CACHE_PORT):
        cmd = _cmdline(pid)
        if "apt-cacher-ng" in cmd and "/etc/apt-cacher-ng" in cmd:
            say(f"stopping Debian's default apt-cacher-ng (pid {pid}): the lab runs its own on :3142")
            _terminate([pid])
        else:
            raise LabError(
                f"port {logic.CACHE_PORT} is taken by pid {pid} ({cmd.strip()[:80]}): free it first"
            )


def stop_cache(paths: dict) -> None:
    _terminate(_pids_with(f"{paths['cache_dir']}/etc", "apt-cacher-ng"))


# --- base image (machine-wide) ----------------------------------------------------------------


def wheel_requirements() -> list[str]:
    import yaml

    text = Path(REPO, "formulas/fileshare/parameters/defaults.yaml").read_text()
    return logic.wheel_requirements(yaml.safe_load(text) or {})


def ensure_wheels(paths: dict) -> None:
    """The wheel directory: Salt for the base, and the Salt extensions the formulas pip-install."""
    wheels = paths["wheels"]
    marker = f"{wheels}/.complete"
    reqs = wheel_requirements()
    want = " ".join(reqs)
    with flock(f"{paths['locks']}/wheels.lock", "wheel directory"):
        if os.path.exists(marker) and Path(marker).read_text() == want:
            return
        t = time.monotonic()
        os.makedirs(wheels, exist_ok=True)
        run([f"{BIN}/pip", "wheel", "--quiet", *reqs, "-w", wheels], timeout=900)
        write(marker, want)
        say(f"wheels for {want} built in {logic.format_seconds(time.monotonic() - t)}")


def mirror_pids(lab: Lab) -> list[int]:
    return [
        p
        for p in _pids_with(f"--directory {lab.paths['mirror']}", "http.server")
        if f"--bind {lab.addr} " in _cmdline(p)
    ]


def ensure_mirror(lab: Lab) -> None:
    """The site's Python/artifact mirror for this lab: the shared wheel directory over HTTP on the bridge."""
    mirror = lab.paths["mirror"]
    os.makedirs(f"{mirror}/artifacts", exist_ok=True)
    os.makedirs(lab.paths["lab_dir"], exist_ok=True)
    if not os.path.islink(f"{mirror}/wheels"):
        os.symlink(lab.paths["wheels"], f"{mirror}/wheels")
    if mirror_pids(lab) and _wait_port(lab.addr, logic.MIRROR_PORT, 2):
        return
    _terminate(mirror_pids(lab))
    log = open(f"{lab.paths['lab_dir']}/mirror.log", "a")  # noqa: SIM115 - handed to the daemon
    subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            str(logic.MIRROR_PORT),
            "--bind",
            lab.addr,
            "--directory",
            mirror,
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    if not _wait_port(lab.addr, logic.MIRROR_PORT, 15):
        raise LabError(f"the Python mirror did not listen on {lab.addr}:{logic.MIRROR_PORT}")
    say(f"Python mirror on http://{lab.addr}:{logic.MIRROR_PORT}/wheels/")


def stop_mirror(lab: Lab) -> None:
    _terminate(mirror_pids(lab))


def _chroot(rootfs: str, *cmd: str, timeout: float = 900) -> None:
    env_cmd = [
        "chroot",
        rootfs,
        "/usr/bin/env",
        "-i",
        f"PATH={LXC_ATTACH_PATH}",
        "DEBIAN_FRONTEND=noninteractive",
        *cmd,
    ]
    run(env_cmd, timeout=timeout)


def ensure_base(paths: dict) -> None:
    """The one stopped base container every node is cloned from; rebuilt if half-built."""
    with flock(f"{paths['locks']}/base.lock", "base image"):
        marker = paths["base_marker"]
        bpath = paths["base_lxcpath"]
        # The marker is written last: a base without it is half-built (interrupted) and is rebuilt.
        if os.path.exists(marker) and os.path.exists(f"{bpath}/{logic.BASE_NAME}/config"):
            say("base image ready")
            return
        t = time.monotonic()
        say("building the base image (Debian 12 + Salt venv) - first time only")
        ensure_wheels(paths)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(marker)
        cdir = f"{bpath}/{logic.BASE_NAME}"
        if os.path.exists(cdir):
            run(["lxc-stop", "-k", "-P", bpath, "-n", logic.BASE_NAME], check=False)
            run(["lxc-destroy", "-P", bpath, "-n", logic.BASE_NAME], check=False)
            _umount_under(cdir)
            shutil.rmtree(cdir, ignore_errors=True)
        os.makedirs(bpath, exist_ok=True)
        create_conf = f"{paths['home']}/base/create.conf"
        write(create_conf, "lxc.net.0.type = empty\nlxc.apparmor.profile = unconfined\n")
        mirror = f"http://127.0.0.1:{logic.CACHE_PORT}"
        run(
            [
                "lxc-create",
                "-P",
                bpath,
                "-n",
                logic.BASE_NAME,
                "-f",
                create_conf,
                "-t",
                "debian",
                "--",
                "-r",
                logic.RELEASE,
                f"--mirror={mirror}/debian",
                f"--security-mirror={mirror}/debian-security",
            ],
            timeout=1800,
        )
        say(f"base rootfs created in {logic.format_seconds(time.monotonic() - t)}")
        rootfs = f"{cdir}/rootfs"
        write(f"{rootfs}/etc/network/interfaces", logic.BASE_INTERFACES)
        # The host's side of the cache while building; each node gets its bridge address instead.
        write(f"{rootfs}/etc/apt/sources.list", logic.render_sources_list("127.0.0"))
        _chroot(rootfs, "apt-get", "-q", "update")
        _chroot(
            rootfs,
            "apt-get",
            "-q",
            "-y",
            "install",
            "--no-install-recommends",
            "python3-venv",
            "iputils-ping",
            "iproute2",
            "procps",
            "ca-certificates",
        )
        wheels_mnt = f"{rootfs}/wheels"
        os.makedirs(wheels_mnt, exist_ok=True)
        run(["mount", "--bind", "-o", "ro", paths["wheels"], wheels_mnt])
        try:
            _chroot(rootfs, "python3", "-m", "venv", "/opt/salt")
            _chroot(
                rootfs,
                "/opt/salt/bin/pip",
                "install",
                "--quiet",
                "--no-index",
                "--find-links",
                "/wheels",
                *logic.SALT_REQUIREMENTS,
            )
        finally:
            run(["umount", wheels_mnt], check=False)
        for tool in ("salt-call", "salt-minion"):
            link = f"{rootfs}/usr/local/bin/{tool}"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(link)
            os.symlink(f"/opt/salt/bin/{tool}", link)
        os.makedirs(f"{rootfs}/etc/salt/minion.d", exist_ok=True)
        write(f"{rootfs}/etc/systemd/system/salt-minion.service", logic.MINION_UNIT)
        wants = f"{rootfs}/etc/systemd/system/multi-user.target.wants"
        os.makedirs(wants, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{wants}/salt-minion.service")
        os.symlink("/etc/systemd/system/salt-minion.service", f"{wants}/salt-minion.service")
        _chroot(rootfs, "apt-get", "clean")
        # Clones copy the base's identity: leave machine-id empty so each node makes its own.
        write(f"{rootfs}/etc/machine-id", "")
        dbus_id = f"{rootfs}/var/lib/dbus/machine-id"
        if os.path.lexists(dbus_id) and not os.path.islink(dbus_id):
            os.unlink(dbus_id)
        for stale in ("etc/salt/pki", "etc/salt/minion_id"):
            p = f"{rootfs}/{stale}"
            if os.path.isdir(p):
                shutil.rmtree(p)
            elif os.path.exists(p):
                os.unlink(p)
        with open(f"{cdir}/config", "a") as fh:
            fh.write("\n# fileshare-lab\n" + logic.render_base_mounts(paths["wheels"]))
        write(marker, f"{logic.BASE_NAME} {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
        say(f"base image built in {logic.format_seconds(time.monotonic() - t)}")
        prune_old_bases(paths)


def prune_old_bases(paths: dict) -> None:
    """Destroy bases of older recipes once no node of any lab is an overlay clone of them."""
    bpath = paths["base_lxcpath"]
    configs = Path(paths["home"]).glob("*/lxc/*/config")
    used = " ".join(c.read_text(errors="replace") for c in configs)
    for old in sorted(os.listdir(bpath)):
        if old == logic.BASE_NAME or f"{bpath}/{old}/rootfs" in used:
            continue
        run(["lxc-destroy", "-P", bpath, "-n", old], check=False, timeout=300)
        shutil.rmtree(f"{bpath}/{old}", ignore_errors=True)
        say(f"removed old base image {old} (no node uses it)")


def _umount_under(path: str) -> None:
    with open("/proc/mounts") as fh:
        mounts = [line.split()[1] for line in fh]
    for m in sorted(mounts, reverse=True):
        if m.startswith(path.rstrip("/") + "/"):
            run(["umount", "-l", m], check=False)


# --- master -----------------------------------------------------------------------------------


def master_pids(lab: Lab) -> list[int]:
    return _pids_with(lab.paths["master_etc"], "salt-master")


def stop_master(lab: Lab) -> None:
    pids = master_pids(lab)
    if pids:
        _terminate(pids)
        say(f"salt-master of lab {lab.name} stopped")
    pidfile = f"{lab.paths['master_root']}/var/run/salt-master.pid"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(pidfile)


def write_master_config(lab: Lab, arch: str) -> None:
    text = logic.render_master_config(
        repo=REPO, paths=lab.paths, net=lab.net, arch=arch, master_id=f"{lab.name}-master"
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
    if not _wait_port(lab.addr, 4506, 60):
        raise LabError(
            f"salt-master did not listen on {lab.addr}:4506 "
            f"(log: {lab.paths['master_root']}/var/log/salt/master)"
        )
    say(f"salt-master of lab {lab.name} listening on {lab.addr}")


def compile_pillar(lab: Lab, arch: str) -> dict:
    """The example site's pillar as the lab master would compile it for this architecture."""
    write_master_config(lab, arch)
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
            f"could not compile the example pillar for {arch}:\n{proc.stdout}{proc.stderr}"
        ) from None
    if proc.returncode != 0 or not isinstance(pillar, dict) or "_errors" in pillar:
        detail = pillar.get("_errors", pillar) if isinstance(pillar, dict) else pillar
        raise LabError(f"the example pillar for {arch} has errors: {detail}")
    return pillar


# --- nodes ------------------------------------------------------------------------------------


def containers(lab: Lab) -> list[str]:
    path = lab.paths["lxcpath"]
    if not os.path.isdir(path):
        return []
    return sorted(d for d in os.listdir(path) if os.path.exists(f"{path}/{d}/config"))


def lxc_state(lab: Lab, cname: str) -> str:
    proc = run(["lxc-info", "-P", lab.paths["lxcpath"], "-n", cname, "-s", "-H"], check=False)
    return proc.stdout.strip() or "ABSENT"


def forget_minion(lab: Lab, name: str) -> None:
    """Drop the master's accepted key and cache of one minion: its rebuilt node has a new key."""
    pki = f"{lab.paths['master_root']}/etc/salt/pki/master"
    for sub in ("minions", "minions_pre", "minions_denied", "minions_rejected"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{pki}/{sub}/{name}")
    shutil.rmtree(f"{lab.paths['master_root']}/var/cache/salt/master/minions/{name}", ignore_errors=True)


def destroy_container(lab: Lab, cname: str) -> None:
    path = lab.paths["lxcpath"]
    state = lxc_state(lab, cname)
    if state == "FROZEN":
        run(["lxc-unfreeze", "-P", path, "-n", cname], check=False)
    if state != "STOPPED":
        run(["lxc-stop", "-k", "-P", path, "-n", cname], check=False, timeout=60)
    if not os.path.exists(f"{path}/{cname}"):
        return
    _umount_under(f"{path}/{cname}")
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
        if not _pids_with(target, "rm"):
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
    if _link(veth) is not None:
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


def attach_cmd(lab: Lab, cname: str, cmd: list[str], interactive: bool = False) -> list[str]:
    env = ["-v", f"PATH={LXC_ATTACH_PATH}", "-v", "LANG=C.UTF-8"]
    if interactive:
        env += ["-v", f"TERM={os.environ.get('TERM', 'xterm')}", "-v", "HOME=/root"]
    return ["lxc-attach", "--clear-env", *env, "-P", lab.paths["lxcpath"], "-n", cname, "--", *cmd]


def veth_master(veth: str) -> str | None:
    link = _link(veth)
    if link is None:
        return None
    return link.get("master") or ""
