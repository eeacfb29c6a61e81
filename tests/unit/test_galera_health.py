"""
The port-9200 health responder as a real process over HTTP, with a stand-in `mysql` client printing what
`SHOW GLOBAL STATUS LIKE 'wsrep%'` prints. It must judge with the Salt module's own verdict.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from suite_modules import REPO

SCRIPT = REPO / "formulas/fileshare/db/files/galera-health.py"
LOGIC = REPO / "_modules/galera.py"


def fake_client(tmp_path, state, comment, status="Primary", conf_id="7"):
    path = tmp_path / "mysql"
    lines = [
        ("wsrep_cluster_conf_id", conf_id),
        ("wsrep_cluster_size", "3"),
        ("wsrep_cluster_status", status),
        ("wsrep_local_state", state),
        ("wsrep_local_state_comment", comment),
        ("wsrep_ready", "ON"),
        ("wsrep_connected", "ON"),
    ]
    body = "".join(f"printf '%s\\t%s\\n' '{k}' \"{v}\"\n" for k, v in lines)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def responder(tmp_path):
    procs = []

    def start(client, *extra):
        port = free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                str(SCRIPT),
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--logic",
                str(LOGIC),
                "--client",
                str(client),
                *extra,
            ]
        )
        procs.append(proc)
        start.pid = proc.pid
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                return f"http://127.0.0.1:{port}/"
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("responder did not listen")

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(5)


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_synced_node_answers_200(responder, tmp_path):
    code, body = get(responder(fake_client(tmp_path, "4", "Synced")))
    assert code == 200 and body["available"] and body["view"]["cluster_size"] == 3


def test_a_donor_answers_503_unless_donors_are_allowed(responder, tmp_path):
    client = fake_client(tmp_path, "2", "Donor/Desynced")
    assert get(responder(client)) == (
        503,
        {
            "available": False,
            "reason": "Donor/Desynced, not Synced",
            "view": get(responder(client))[1]["view"],
        },
    )
    assert get(responder(client, "--allow-donor"))[0] == 200


def test_a_non_primary_node_answers_503_with_the_reason(responder, tmp_path):
    code, body = get(responder(fake_client(tmp_path, "4", "Synced", status="non-Primary")))
    assert code == 503 and body["reason"] == "not in the Primary component (non-Primary)"


def test_a_dead_server_answers_503(responder, tmp_path):
    code, body = get(responder(tmp_path / "no-such-client"))
    assert code == 503 and body == {"available": False, "reason": "MariaDB does not answer", "view": {}}


def test_after_the_node_was_stopped_it_answers_503_until_its_view_changes(responder, tmp_path):
    """A frozen node thaws still saying Synced in the view its peers have left: refused until its
    view changes. SIGSTOP freezes the responder as a frozen VM or container would."""
    conf = tmp_path / "conf_id"
    conf.write_text("7")
    client = fake_client(tmp_path, "4", "Synced", conf_id="$(cat " + str(conf) + ")")
    url = responder(client, "--stall", "0.5", "--stall-hold", "60", "--cache", "0")
    assert get(url)[0] == 200
    os.kill(responder.pid, signal.SIGSTOP)
    time.sleep(1.5)
    os.kill(responder.pid, signal.SIGCONT)
    code, body = get(url)
    assert code == 503 and body["reason"].startswith("stopped for ") and body["view"]["conf_id"] == 7
    conf.write_text("9")
    code, body = get(url)
    assert code == 200 and body["view"]["conf_id"] == 9
