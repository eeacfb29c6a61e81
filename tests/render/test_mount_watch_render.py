"""The mount watch (formulas/fileshare/storage/client.sls, docs/faults.md): the script as rendered for
full_ha, its decisions run for real here. A FIFO nobody reads stands in for a wedged client (a write
to it hangs, as every call into the wedged FUSE client did); a listening or a closed local port for
storage nodes that answer or not. Only the commands that would touch the host's mounts and processes
(systemctl, umount, pgrep) are replaced, by recorders; pgrep names a stand-in client process that
records the statedump signal."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from render_harness import template_path

SERVERS = ["10.1.2.21", "10.1.2.22", "10.1.2.23"]


@pytest.fixture(scope="module")
def placed(renderer):
    high = renderer.show_sls("debian-12", "full_ha", "app1", "fileshare.storage.client")
    assert isinstance(high, dict), high
    return renderer.placed("debian-12", high)


def test_the_watch_runs_on_the_sites_storage_nodes_and_settings(renderer, placed):
    script = placed["the mount watch is installed"]
    storage = renderer.pillar("full_ha")["nodes"]
    addresses = [n["address"] for n in storage if "storage" in n.get("roles", [])]
    assert addresses and all(a in script for a in addresses), addresses
    assert "port=24007" in script and "stall=20" in script and "every=2" in script
    assert "mount_point=/srv/fileshare" in script and "mount_unit=srv-fileshare.mount" in script
    unit = json.loads(placed["the mount watch's unit is installed"])["contents"]
    assert "Restart=always" in unit and "RuntimeDirectory=fileshare-mount-watch" in unit
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)


def _script(renderer, tmp_path, port, client_pid=0):
    """The watch rendered with short timings against tmp_path, and its recorders on PATH."""
    template = template_path("salt://fileshare/storage/files/default/mount-watch.sh.jinja").read_text()
    mount_point = tmp_path / "mnt"
    mount_point.mkdir()
    context = {
        "mount_point": str(mount_point),
        "mount_unit": "srv-fileshare.mount",
        "node": "app1",
        "servers": ["127.0.0.1", "127.0.0.1", "127.0.0.2"],
        "port": port,
        "stall": 2,
        "every": 0.2,
        "probe_timeout": 0.5,
    }
    script = renderer.apply_template("debian-12", template, context)
    mounts = tmp_path / "mounts"
    mounts.write_text(f"app1:/fileshare {mount_point} fuse.glusterfs rw 0 0\n")
    script = script.replace("mounts=/proc/mounts", f"mounts={mounts}")
    script = script.replace("rundir=/var/run/gluster", f"rundir={tmp_path / 'gluster-run'}")
    script = script.replace("dumps=/var/log/glusterfs/fileshare-statedumps", f"dumps={tmp_path / 'dumps'}")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    for tool, answer in {"systemctl": "", "umount": "", "pgrep": f"echo {client_pid}"}.items():
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> {calls}\n{answer}\n')
        (bin_dir / tool).chmod(0o755)
    (tmp_path / "watch.sh").write_text(script)
    (tmp_path / "run").mkdir()
    return mount_point, calls


def _run(tmp_path, seconds):
    """The watch's output after SECONDS; it and the probes it left hung on the FIFO are killed."""
    env = dict(
        os.environ, PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}", RUNTIME_DIRECTORY=str(tmp_path / "run")
    )
    script = (tmp_path / "watch.sh").read_text()
    log = tmp_path / "out"
    with log.open("w") as out:
        proc = subprocess.Popen(["bash", "-c", script], env=env, stdout=out, start_new_session=True)
        time.sleep(seconds)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return log.read_text()


@pytest.fixture
def storage_port():
    """A local port that accepts connections: storage nodes that answer."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def client(tmp_path):
    """A stand-in FUSE client: on SIGUSR1 it writes a statedump where glusterfs does, then waits to be
    killed."""
    code = (
        "import os, signal, sys, time; "
        "dump = lambda *_: open(f'{sys.argv[1]}/glusterdump.{os.getpid()}.dump.{int(time.time())}', 'w')"
        ".write('statedump'); "
        "signal.signal(signal.SIGUSR1, dump); "
        "time.sleep(120)"
    )
    (tmp_path / "gluster-run").mkdir()
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "gluster-run")])
    time.sleep(0.3)  # its handler is in place
    yield proc
    proc.kill()
    proc.wait()


def _dumps(tmp_path):
    return (
        [p.read_text() for p in (tmp_path / "dumps").glob("glusterdump.*")]
        if (tmp_path / "dumps").exists()
        else []
    )


def test_a_hung_client_with_the_storage_answering_is_killed_and_remounted(
    renderer, tmp_path, storage_port, client
):
    proc = client
    mount_point, calls = _script(renderer, tmp_path, storage_port, proc.pid)
    os.mkfifo(mount_point / ".fileshare-mount-watch-app1")
    out = _run(tmp_path, 4.5)
    assert "the client is wedged" in out and "remounted" in out, out
    # Statedump first, kept under the logs; then killed, then a new mount.
    assert _dumps(tmp_path) == ["statedump"]
    assert proc.wait(timeout=5) == -signal.SIGKILL
    recorded = calls.read_text().splitlines()
    # The client is found by its command line, which ends with the mount point.
    assert recorded[:3] == [
        f"pgrep -o -f -- glusterfs .*{mount_point}$",
        f"umount -l {mount_point}",
        "systemctl start srv-fileshare.mount",
    ], recorded
    assert (tmp_path / "run" / "last").read_text().split()[1] != "0"


def test_a_hung_client_with_the_storage_silent_waits(renderer, tmp_path, client):
    proc = client
    mount_point, calls = _script(renderer, tmp_path, _closed_port(), proc.pid)
    os.mkfifo(mount_point / ".fileshare-mount-watch-app1")
    out = _run(tmp_path, 4.5)
    assert "waiting for the storage" in out and "wedged" not in out, out
    assert not _dumps(tmp_path) and proc.poll() is None and not calls.exists()


def test_writes_that_fail_fast_are_not_a_wedged_client(renderer, tmp_path, storage_port, client):
    proc = client
    mount_point, calls = _script(renderer, tmp_path, storage_port, proc.pid)
    # The probe file is a directory: the write fails at once, as on a volume that refuses writes.
    (mount_point / ".fileshare-mount-watch-app1").mkdir()
    out = _run(tmp_path, 4.5)
    assert "wedged" not in out and "waiting" not in out, out
    assert not _dumps(tmp_path) and proc.poll() is None and not calls.exists()
