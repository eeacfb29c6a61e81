#!/usr/bin/env python3
"""
Galera health responder for load balancers (the clustercheck convention).

It listens on --port: the site's fileshare:ports:galera_health, which its systemd unit passes.

GET / answers 200 only when this node is in the Primary component, ready and Synced (Donor or
Desynced too with --allow-donor), 503 otherwise. The JSON body names the reason and carries the
node's view, which peers' ``galera.views`` read. The verdict is the Salt module's own pure logic
(``galera.parse_status`` / ``galera.health``), loaded from the copy the formula installs beside
this script, so HAProxy and Salt never disagree about a node.

The server status comes from the ``mysql`` client (as clustercheck does) run as this service's
user; on Debian the ``mysql`` system user authenticates by unix socket, so no password is stored.
"""

import argparse
import importlib.util
import json
import subprocess
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
    """Caches the verdict for a second: HAProxy checks every node often, from several balancers."""

    def __init__(self, logic, args):
        self.logic, self.args = logic, args
        self.lock = threading.Lock()
        self.at, self.answer = 0.0, None

    def answer_now(self):
        with self.lock:
            if self.answer is None or time.monotonic() - self.at > self.args.cache:
                view = self.logic.parse_status(read_status(self.args.client, self.args.defaults_file, 3))
                ok, reason = self.logic.health(view, self.args.allow_donor)
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--logic", required=True, help="path of the galera Salt module copy")
    parser.add_argument("--client", default="mysql")
    parser.add_argument("--defaults-file", default=None)
    parser.add_argument("--allow-donor", action="store_true")
    parser.add_argument("--cache", type=float, default=1.0)
    args = parser.parse_args(argv)
    checker = Checker(load_logic(args.logic), args)
    ThreadingHTTPServer((args.bind, args.port), make_handler(checker)).serve_forever()


if __name__ == "__main__":
    main()
