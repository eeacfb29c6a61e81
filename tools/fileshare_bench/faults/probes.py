"""
The full_ha lab seen from the host during the fault scenarios: nodes by role (the suite's topology),
commands inside nodes, the faults themselves (fileshare-lab kill/freeze/partition/heal), and what each
layer says, asked through the suite's own modules (tools/fileshare_lab/ask.py): HAProxy's servers
(fileshare_haproxy), the Sentinel master and a Redis node's role (fileshare_redis), a Galera node's view
(galera.parse_status of the real client's SHOW STATUS), the volume's heal status (fileshare_gluster).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from fileshare_bench.target import BenchError

DB_TABLE = "fileshare.fault_rows"
PYTHON = "/opt/salt/bin/python3"  # the nodes' Salt venv: has PyMySQL

# Inside a node: INSERT rows through HOST:PORT for SECONDS, reconnecting after each error; prints the
# acknowledged (committed) row numbers and the errors with their times. Settings (and the password)
# come as JSON on stdin.
WRITER = r"""
import json, sys, time
import pymysql
cfg = json.loads(sys.stdin.read())
host, port, user, password = cfg["host"], cfg["port"], cfg["user"], cfg["password"]
db, tag, seconds = cfg["db"], cfg["tag"], cfg["seconds"]
acked, errors, conn, n = [], [], None, 0
t0 = time.monotonic()
while time.monotonic() - t0 < float(seconds):
    n += 1
    t = time.monotonic() - t0
    try:
        if conn is None:
            conn = pymysql.connect(host=host, port=int(port), user=user, password=password, database=db,
                                   autocommit=True, connect_timeout=2, read_timeout=5, write_timeout=5)
        with conn.cursor() as cur:
            cur.execute("INSERT INTO fault_rows (tag, n) VALUES (%s, %s)", (tag, n))
        acked.append(n)
    except Exception as exc:
        now = round(time.monotonic() - t0, 2)
        errors.append([round(t, 2), now, type(exc).__name__ + ": " + str(exc)[:100]])
        try:
            conn.close()
        except Exception:
            pass
        conn = None
        time.sleep(0.1)
    time.sleep(0.05)
print(json.dumps({"acked": acked, "attempts": n, "errors": errors}))
"""


class FaultError(Exception):
    """A scenario could not be run or healed (the message says which step)."""


class Cluster:
    """The full_ha lab seen from the host: nodes by role, commands inside nodes, faults, Salt."""

    def __init__(self, lab_name: str):
        from fileshare_lab import host as labhost
        from fileshare_lab import topology

        self.name = lab_name
        try:
            self.handle = labhost.Lab(lab_name)
            saved = self.handle.require_up()
            self.topology = topology.of_lab(self.handle)
        except labhost.LabError as exc:
            raise BenchError(str(exc)) from exc
        if saved.get("architecture") != "full_ha":
            raise BenchError(
                f"--lab: lab {lab_name} runs {saved.get('architecture')}, the faults need full_ha"
            )
        self.nodes = {n["name"]: n for n in saved["nodes"]}
        self.vip = self.topology["vip"]["address"]
        self.fqdn = self.topology["vip"]["fqdn"]
        self.ports = self.topology["ports"]
        self.backends = self.topology["names"]["backends"]
        self.tool = str(Path(sys.executable).parent / "fileshare-lab")
        self._secrets: dict = {}
        self.faulted: set[str] = set()  # nodes a fault touched since the last heal_all

    # ---- plumbing --------------------------------------------------------------------------------

    def role(self, role: str) -> list[str]:
        return list(self.topology["roles"][role])

    def address(self, node: str) -> str:
        return self.topology["by_name"][node]["address"]

    def run(
        self, node: str, cmd, timeout: float = 120, data: str | None = None
    ) -> subprocess.CompletedProcess:
        """CMD in NODE; DATA on its stdin (how a password reaches a command: never on its argv)."""
        from fileshare_lab import containers

        argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        try:
            return containers.attach(
                self.handle, self.nodes[node]["container"], argv, timeout=timeout, input=data
            )
        except subprocess.TimeoutExpired as exc:
            return subprocess.CompletedProcess(argv, 124, exc.stdout or "", f"timed out after {timeout}s")

    def in_node(self, node: str, module: str, fun: str, *args, timeout: float = 15, **kwargs):
        """A suite module's function run in NODE by the minion's Python (the fast path of
        fileshare_lab.ask, for the probes that time a failover); None when it fails."""
        from fileshare_lab import ask
        from fileshare_lab.logic import LabError

        try:
            return ask.in_node(
                lambda argv, data: self.run(node, argv, timeout, data), module, fun, *args, **kwargs
            )
        except LabError:
            return None

    @staticmethod
    def _host(argv: list[str], timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def fault(self, command: str, node: str) -> None:
        if command != "heal":
            self.faulted.add(node)
        proc = self._host([self.tool, "--lab", self.name, command, node], 300)
        if proc.returncode != 0:
            raise FaultError(f"fileshare-lab {command} {node}: {proc.stderr.strip() or proc.stdout.strip()}")

    def salt(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        return self._host(self.handle.salt_cmd("salt") + list(args), timeout)

    def salt_run(self, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
        return self._host(self.handle.salt_cmd("salt-run") + list(args), timeout)

    def answers(self, *nodes: str) -> bool:
        """Does every one of NODES answer Salt (one call for all)?"""
        from fileshare_lab import ask

        got = ask.salt_json(self.handle, ",".join(nodes), "test.ping", timeout=3, tgt="list")
        return all(got.get(n) is True for n in nodes)

    def secret(self, key: str) -> str:
        """fileshare:secrets:KEY as the master compiles it (asked through a node that answers)."""
        from fileshare_lab import ask

        for node in (self.role("app") + self.role("load")) * 2:
            if self._secrets.get(key):
                break
            got = ask.salt_json(
                self.handle, node, "pillar.get", f"fileshare:secrets:{key}", "unmask=True", timeout=60
            )
            self._secrets[key] = got.get(node) or ""
        if not self._secrets.get(key):
            raise FaultError(f"cannot read fileshare:secrets:{key} from the lab's master")
        return self._secrets[key]

    # ---- what the cluster says -------------------------------------------------------------------

    def sql(self, node: str, query: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return self.run(
            node, ["mysql", "--defaults-extra-file=/root/.my.cnf", "-N", "-B", "-e", query], timeout=timeout
        )

    def galera(self, node: str) -> dict:
        """NODE's own view as galera.parse_status reads its SHOW STATUS ({} when it does not answer).
        Asked with the mysql client inside the node: a partitioned node cannot answer Salt."""
        from fileshare_lab import topology

        proc = self.sql(node, "SHOW STATUS LIKE 'wsrep_%'", timeout=15)
        if proc.returncode != 0:
            return {}
        status = dict(line.split("\t", 1) for line in proc.stdout.strip().splitlines() if "\t" in line)
        return topology.suite_module("galera").parse_status(status)

    def galera_whole(self) -> bool:
        dbs = self.role("db")
        views = [self.galera(n) for n in dbs]
        return all(
            v.get("cluster_status") == "Primary"
            and v.get("cluster_size") == len(dbs)
            and v.get("local_state_comment") == "Synced"
            for v in views
        )

    def vip_holder(self) -> list[str]:
        return [
            n
            for n in self.role("load")
            if f" {self.vip}/" in self.run(n, "ip -o -4 addr show", timeout=15).stdout
        ]

    def haproxy(self, node: str, backend: str) -> dict:
        """{server: status} of BACKEND (app, db or redis) on load node NODE ({} when it does not answer)."""
        from fileshare_lab import ask

        view = self.in_node(node, "fileshare_haproxy", "backend", self.backends[backend])
        return ask.statuses(view) if view else {}

    def backends_up(self) -> dict:
        """What HAProxy on each load node gets wrong ({} when nothing): every app and db server UP,
        exactly one Redis server UP (the master)."""
        from fileshare_lab import ask

        expected = {
            "app": len(self.role("app")),
            "db": len(self.role("db")),
            "redis": len(self.role("intermediate")),
        }
        wrong = {}
        for lb in self.role("load"):
            for backend, count in expected.items():
                view = self.in_node(lb, "fileshare_haproxy", "backend", self.backends[backend])
                problems = ask.backend_verdict(view or {}, count, masters=backend == "redis")
                if problems:
                    wrong[f"{lb} {self.backends[backend]}"] = problems
        return wrong

    def sentinel_master(self, asked: str | None = None) -> str | None:
        """The Redis master (node name) the Sentinel on ASKED reports; without ASKED, the one most
        Sentinels report, asked from the first intermediate node that answers."""
        from fileshare_lab import ask, topology

        args = ask.sentinel_args(self.topology)
        for node in [asked] if asked else self.role("intermediate"):
            addresses = [self.address(node)] if asked else list(self.topology["addresses"]["intermediate"])
            answers = self.in_node(node, "fileshare_redis", "sentinel_answers", addresses=addresses, **args)
            master = topology.suite_module("fileshare_redis").agreed(answers) if answers else None
            if master:
                return ask.node_of(self.topology, master)
        return None

    def redis(self, node: str, host: str, port: int, *words: str):
        """The reply to one Redis command sent from NODE (the fileshare_redis client; None on error)."""
        return self.in_node(
            node, "fileshare_redis", "command", host, port, *words, password=self.secret("redis_password")
        )

    def redis_role(self, node: str) -> str:
        from fileshare_lab import topology

        text = self.redis(node, self.address(node), self.ports["redis"], "INFO", "replication")
        return topology.suite_module("fileshare_redis").parse_info(text).get("role", "") if text else ""

    def gluster_pending(self) -> int | None:
        """Entries still to heal on the volume (fileshare_gluster.heal_status; None: cannot tell)."""
        from fileshare_lab import ask
        from fileshare_lab.logic import LabError

        try:
            status = ask.heal_status(self.handle, self.topology)
        except LabError:
            return None
        return None if status.get("down") else status.get("pending")

    def healthy(self) -> dict:
        """What is not healthy (an empty dict: everything is)."""
        bad = {}
        if not self.galera_whole():
            bad["galera"] = {n: self.galera(n) for n in self.role("db")}
        holders = self.vip_holder()
        if len(holders) != 1:
            bad["vip"] = holders
        haproxy = self.backends_up()
        if haproxy:
            bad["haproxy"] = haproxy
        masters = {self.sentinel_master(im) for im in self.role("intermediate")}
        if len(masters) != 1 or None in masters:
            bad["sentinel"] = sorted(map(str, masters))
        pending = self.gluster_pending()
        if pending != 0:
            bad["gluster"] = pending
        return bad

    def wait(self, predicate, timeout: float, what: str, interval: float = 1.0):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise FaultError(f"not within {timeout:.0f} s: {what}")
            time.sleep(interval)

    def wait_healthy(self, timeout: float = 300) -> None:
        last = {}

        def ok():
            nonlocal last
            last = self.healthy()
            return not last

        try:
            self.wait(ok, timeout, "the cluster is healthy", interval=3)
        except FaultError as exc:
            raise FaultError(f"{exc}; still wrong: {json.dumps(last)[:1500]}") from None

    def heal_all(self) -> list[str]:
        """Undo every fault (kill, freeze, partition) done through this object; the nodes healed."""
        healed = sorted(self.faulted)
        for node in healed:
            self.fault("heal", node)
        self.faulted.clear()
        return healed

    # ---- database rows ---------------------------------------------------------------------------

    def ensure_table(self) -> None:
        proc = self.sql(
            self.role("db")[0],
            f"CREATE TABLE IF NOT EXISTS {DB_TABLE} (id BIGINT AUTO_INCREMENT "
            "PRIMARY KEY, tag VARCHAR(40) NOT NULL, n INT NOT NULL, KEY (tag))",
        )
        if proc.returncode != 0:
            raise FaultError(f"cannot create {DB_TABLE}: {proc.stderr.strip()}")

    def writer(self, tag: str, seconds: float, node: str | None = None) -> Writer:
        """Rows written through the VIP's database front from NODE (default: the first app node)."""
        return Writer(self, node or self.role("app")[0], tag, seconds)

    def rows(self, node: str, tag: str) -> set[int] | None:
        proc = self.sql(node, f"SELECT n FROM {DB_TABLE} WHERE tag = '{tag}'", timeout=60)
        if proc.returncode != 0:
            return None
        return {int(x) for x in proc.stdout.split()}

    def lost_rows(self, tag: str, acked) -> dict:
        """Acknowledged rows missing on each db node (after the cluster is whole again)."""
        lost = {}
        for node in self.role("db"):
            present = self.rows(node, tag)
            lost[node] = len(set(acked)) if present is None else len(set(acked) - present)
        return lost


class Writer(threading.Thread):
    """The WRITER script in a node, in the background; .result after join()."""

    def __init__(self, cluster: Cluster, node: str, tag: str, seconds: float):
        super().__init__(daemon=True)
        self.cluster, self.node, self.tag, self.seconds = cluster, node, tag, seconds
        self.result: dict = {"acked": [], "attempts": 0, "errors": [["-", "-", "writer did not run"]]}

    def run(self):
        c = self.cluster
        cfg = {
            "host": c.vip,
            "port": c.ports["db_front"],
            "user": "fileshare",
            "password": c.secret("db_password"),
            "db": "fileshare",
            "tag": self.tag,
            "seconds": self.seconds,
        }
        proc = c.run(self.node, [PYTHON, "-c", WRITER], timeout=self.seconds + 60, data=json.dumps(cfg))
        try:
            self.result = json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            self.result["errors"] = [["-", "-", f"writer: {proc.stderr.strip()[-300:]}"]]

    def window(self) -> float:
        errors = [e for e in self.result["errors"] if isinstance(e[0], float | int)]
        return round(max(e[1] for e in errors) - min(e[0] for e in errors), 2) if errors else 0.0

    def longest_outage(self, gap: float = 5.0) -> float:
        """The longest run of write errors (errors less than GAP seconds apart): a failover and the
        planned failback are two short outages, not one window from the first to the second."""
        errors = sorted(e for e in self.result["errors"] if isinstance(e[0], float | int))
        longest, start, end = 0.0, None, None
        for t0, t1, _ in errors:
            if start is None or t0 - end > gap:
                start, end = t0, t1
            end = max(end, t1)
            longest = max(longest, end - start)
        return round(longest, 2)
