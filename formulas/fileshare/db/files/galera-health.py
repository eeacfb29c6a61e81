#!/usr/bin/env python3
"""
Galera health responder for load balancers (the clustercheck convention).

It listens on --port: the site's fileshare:ports:galera_health, which its systemd unit passes.

GET / answers 200 only when this node is in the Primary component, ready and Synced (Donor or
Desynced too with --allow-donor), 503 otherwise. The JSON body names the reason and carries the
node's view, which peers' ``galera.views`` read. After the node itself was stopped (frozen, paused),
it answers 503 until its view has changed: its status still says Synced while its peers have
evicted it, and writes routed there would fail. The verdict is the Salt module's own pure logic
(``galera.parse_status`` / ``galera.health``), loaded from the copy the formula installs beside
this script, so HAProxy and Salt never disagree about a node.

The server status comes from the ``mysql`` client (as clustercheck does) run as this service's
user; on Debian the ``mysql`` system user authenticates by unix socket, so no password is stored.
"""

import argparse
import importlib.util
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

QUERY = "SHOW GLOBAL STATUS LIKE 'wsrep%'"


def load_logic(path):
    spec = importlib.util.spec_from_file_location("galera_logic", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_status(client, defaults_file, timeout):
    cmd = [client]
    if defaults_file:
        cmd.append(f"--defaults-extra-file={defaults_file}")
    cmd += ["--batch", "--skip-column-names", f"--connect-timeout={int(timeout)}", "-e", QUERY]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 1, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return {}
    status = {}
    for line in out.splitlines():
        if "\t" in line:
            key, value = line.split("\t", 1)
            status[key] = value
    return status


class Checker:
    """
    Caches the verdict briefly (several balancers ask often) and closes the stall gate: after the
    node itself was stopped for longer than --stall (the ticker sees the gap), it answers 503 until
    its view has changed or --stall-hold passed (``galera.stall_beat``/``stall_verdict``).
    """

    def __init__(self, logic, args):
        self.logic, self.args = logic, args
        self.lock = threading.Lock()
        self.at, self.answer = 0.0, None
        self.gate = {}

    def beat(self):
        with self.lock:
            before = self.gate.get("stalled_at")
            self.logic.stall_beat(self.gate, time.monotonic(), self.args.stall)
            if self.gate.get("stalled_at") != before:
                self.answer = None  # a verdict from before the stall is stale

    def tick(self):
        while True:
            self.beat()
            time.sleep(0.2)

    def answer_now(self):
        self.beat()
        with self.lock:
            if self.answer is None or time.monotonic() - self.at > self.args.cache:
                view = self.logic.parse_status(read_status(self.args.client, self.args.defaults_file, 3))
                ok, reason = self.logic.health(view, self.args.allow_donor)
                held = self.logic.stall_verdict(
                    self.gate, time.monotonic(), view, self.args.stall_hold, self.args.allow_donor
                )
                if ok and held:
                    ok, reason = False, held
                self.answer = (200 if ok else 503, {"available": ok, "reason": reason, "view": view})
                self.at = time.monotonic()
            return self.answer


def make_handler(checker):
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, with_body):
            code, body = checker.answer_now()
            data = (json.dumps(body) + "\n").encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            if with_body:
                self.wfile.write(data)

        def do_GET(self):  # noqa: N802 (http.server's naming)
            self._reply(True)

        def do_HEAD(self):  # noqa: N802
            self._reply(False)

        def do_OPTIONS(self):  # noqa: N802 (HAProxy's default httpchk method)
            self._reply(True)

        def log_message(self, *args):
            pass  # HAProxy polls every second or two: keep the journal quiet

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # HAProxy closes a check once it has read the status line: the body then meets a reset.
        # That is the normal end of a check, not an error worth a traceback in the journal.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--logic", required=True, help="path of the galera Salt module copy")
    parser.add_argument("--client", default="mysql")
    parser.add_argument("--defaults-file", default=None)
    parser.add_argument("--allow-donor", action="store_true")
    # Shorter than HAProxy's fastest check interval: its "rise" must count fresh answers.
    parser.add_argument("--cache", type=float, default=0.15)
    # Longer than a loaded node's scheduling hiccups, as long as Galera's suspect timeout plus margin.
    parser.add_argument("--stall", type=float, default=1.5)
    parser.add_argument("--stall-hold", type=float, default=10.0)
    args = parser.parse_args(argv)
    checker = Checker(load_logic(args.logic), args)
    threading.Thread(target=checker.tick, daemon=True).start()
    Server((args.bind, args.port), make_handler(checker)).serve_forever()


if __name__ == "__main__":
    main()
