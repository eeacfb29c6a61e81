"""Machine-wide parts every lab shares: the apt cache, the wheel directory and the Python mirror
served from it, and the base container each node is cloned from."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import logic
from .host import (
    BIN,
    LXC_ATTACH_PATH,
    REPO,
    Lab,
    cmdline,
    flock,
    pids_with,
    run,
    say,
    terminate,
    umount_under,
    wait_port,
    write,
)
from .logic import LabError
from .network import lab_bridge_addresses

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
        running = pids_with(marker, "apt-cacher-ng")
        current = Path(conf_file).read_text() if os.path.exists(conf_file) else ""
        bound = next(
            (ln.split(":", 1)[1].split() for ln in current.splitlines() if ln.startswith("BindAddress:")), []
        )
        # Restart only for a new bridge: a restart cuts the downloads of labs converging meanwhile.
        if running and set(bind) <= set(bound) and all(wait_port(a, logic.CACHE_PORT, 2) for a in bind):
            say(f"apt cache already running on {', '.join(bind)}")
            return
        if running:
            terminate(running)
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
        if not all(wait_port(a, logic.CACHE_PORT, 15) for a in bind):
            raise LabError(f"apt-cacher-ng did not listen on {bind} (log in {cdir}/log)")
        say(f"apt cache (re)started on {', '.join(bind)}:{logic.CACHE_PORT}")


def _port_holders(port: int) -> list[int]:
    out = run(["ss", "-ltnpH", f"sport = :{port}"], check=False).stdout
    return sorted({int(p) for p in re.findall(r"pid=(\d+)", out)})


def _free_cache_port() -> None:
    """Debian's own apt-cacher-ng service (started by the package install) would hold the port."""
    for pid in _port_holders(logic.CACHE_PORT):
        cmd = cmdline(pid)
        if "apt-cacher-ng" in cmd and "/etc/apt-cacher-ng" in cmd:
            say(f"stopping Debian's default apt-cacher-ng (pid {pid}): the lab runs its own on :3142")
            terminate([pid])
        else:
            raise LabError(
                f"port {logic.CACHE_PORT} is taken by pid {pid} ({cmd.strip()[:80]}): free it first"
            )


def stop_cache(paths: dict) -> None:
    terminate(pids_with(f"{paths['cache_dir']}/etc", "apt-cacher-ng"))


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
        for p in pids_with(f"--directory {lab.paths['mirror']}", "http.server")
        if f"--bind {lab.addr} " in cmdline(p)
    ]


def ensure_mirror(lab: Lab) -> None:
    """The site's Python/artifact mirror for this lab: the shared wheel directory over HTTP on the bridge."""
    mirror = lab.paths["mirror"]
    os.makedirs(f"{mirror}/artifacts", exist_ok=True)
    os.makedirs(lab.paths["lab_dir"], exist_ok=True)
    if not os.path.islink(f"{mirror}/wheels"):
        os.symlink(lab.paths["wheels"], f"{mirror}/wheels")
    if mirror_pids(lab) and wait_port(lab.addr, logic.MIRROR_PORT, 2):
        return
    terminate(mirror_pids(lab))
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
    if not wait_port(lab.addr, logic.MIRROR_PORT, 15):
        raise LabError(f"the Python mirror did not listen on {lab.addr}:{logic.MIRROR_PORT}")
    say(f"Python mirror on http://{lab.addr}:{logic.MIRROR_PORT}/wheels/")


def stop_mirror(lab: Lab) -> None:
    terminate(mirror_pids(lab))


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
            umount_under(cdir)
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
