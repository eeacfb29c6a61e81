"""
fileshare-bench faults: the fault scenarios of issue 6 on a full_ha lab, each under constant client load
through the VIP, each healed before the next starts.

  fileshare-bench faults --lab NAME [--only 1,3] [--rate 15] [--out-dir build/bench]

Writes OUT_DIR/faults.json (every scenario's summary, checks and observations) and OUT_DIR/faults.md
(scenario, requests, failed, error window, data lost). tests/lab/test_faults.py runs the same scenarios
and asserts their checks. Requests to internal ports (database, Redis, HAProxy's runtime API) are made
from inside cluster nodes; the host is only a user of the VIP's HTTPS front.

 1 kill the MASTER load node: the VIP moves (error window < 3 s)
 2 kill the database writer: HAProxy moves writes to the next node, no committed row lost
 3 partition one database node: non-Primary, refuses writes, the others serve; heal: IST
 4 partition the three database nodes from each other: no Primary anywhere; heal: Primary returns
 5 full database outage: `state.orchestrate fileshare.galera_recover`, no committed row lost
 6 kill an app node, kill the Redis master (Sentinel, HAProxy follows), stop a storage node
 7 flood from one client: 429 for it, no failure for a normal client
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from fileshare_bench import cli
from fileshare_bench.stats import markdown_table, summarize
from fileshare_bench.target import BenchError, Target

DB_TABLE = "fileshare.fault_rows"
PYTHON = "/opt/salt/bin/python3"  # the nodes' Salt venv: has PyMySQL
HAPROXY_SOCKET = "/run/haproxy/admin.sock"
SENTINEL_PORT = 26379

# Inside a node: INSERT rows through HOST:PORT for SECONDS, reconnecting after each error; prints the
# acknowledged (committed) row numbers and the errors with their times.
WRITER = r"""
import json, sys, time
import pymysql
host, port, user, password, db, tag, seconds = sys.argv[1:8]
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

# Inside a node: the HAProxy runtime API's `show stat` as {proxy: {server: status}}.
HASTAT = r"""
import json, socket
s = socket.socket(socket.AF_UNIX); s.connect("SOCKET_PATH"); s.sendall(b"show stat\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
out = {}
for line in data.decode().splitlines()[1:]:
    f = line.split(",")
    if len(f) > 17 and f[1] not in ("FRONTEND", "BACKEND"):
        out.setdefault(f[0], {})[f[1]] = f[17]
print(json.dumps(out))
""".replace("SOCKET_PATH", HAPROXY_SOCKET)

# Inside a node: one RESP command (AUTH first when a password is given) to HOST:PORT; the raw answers.
RESP = r"""
import socket, sys
host, port, password = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def enc(ws):
    return ("*%d\r\n" % len(ws) + "".join("$%d\r\n%s\r\n" % (len(w.encode()), w) for w in ws)).encode()
s = socket.create_connection((host, port), 3)
s.sendall((enc(["AUTH", password]) if password else b"") + enc(sys.argv[4:]))
s.settimeout(1.0)
data = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except OSError:
    pass
print(data.decode(errors="replace"))
"""

# Inside a node: FLOOD requests/s of GET / (no credentials: a cheap 401) at the VIP for SECONDS over
# keep-alive connections; prints the count of each status.
FLOOD = r"""
import http.client, json, ssl, sys, threading, time
vip, fqdn = sys.argv[1], sys.argv[2]
rate, seconds, workers = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
ctx = ssl._create_unverified_context()
counts, lock = {}, threading.Lock()
def work(i):
    interval, t0 = workers / rate, time.monotonic()
    nxt, conn = t0 + interval * i / workers, None
    while time.monotonic() - t0 < seconds:
        d = nxt - time.monotonic()
        if d > 0:
            time.sleep(d)
        nxt += interval
        try:
            if conn is None:
                conn = http.client.HTTPSConnection(vip, 443, context=ctx, timeout=5)
            conn.request("GET", "/", headers={"Host": fqdn})
            r = conn.getresponse(); r.read(); key = str(r.status)
            if r.getheader("connection", "").lower() == "close":
                conn.close(); conn = None
        except Exception as exc:
            key = type(exc).__name__
            conn = None
        with lock:
            counts[key] = counts.get(key, 0) + 1
threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
[t.start() for t in threads]; [t.join() for t in threads]
print(json.dumps(counts))
"""


class FaultError(Exception):
    """A scenario could not be run or healed (the message says which step)."""


class Cluster:
    """The full_ha lab seen from the host: nodes by role, commands inside nodes, faults, Salt."""

    def __init__(self, lab_name: str):
        from fileshare_lab import host as labhost

        self.name = lab_name
        try:
            self.handle = labhost.Lab(lab_name)
            saved = self.handle.require_up()
        except labhost.LabError as exc:
            raise BenchError(str(exc)) from exc
        if saved.get("architecture") != "full_ha":
            raise BenchError(
                f"--lab: lab {lab_name} runs {saved.get('architecture')}, the faults need full_ha"
            )
        self.nodes = {n["name"]: n for n in saved["nodes"]}
        self.service = saved.get("service") or {}
        self.vip = self.service["vip"]
        self.fqdn = self.service["fqdn"]
        self.tool = str(Path(sys.executable).parent / "fileshare-lab")
        self._secrets: dict = {}
        self.faulted: set[str] = set()  # nodes a fault touched since the last heal_all

    # ---- plumbing --------------------------------------------------------------------------------

    def role(self, role: str) -> list[str]:
        return [n for n, e in self.nodes.items() if role in e.get("roles", [])]

    def address(self, node: str) -> str:
        return self.nodes[node]["address"]

    def run(self, node: str, cmd, timeout: float = 120) -> subprocess.CompletedProcess:
        from fileshare_lab import host as labhost

        argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        try:
            return subprocess.run(
                labhost.attach_cmd(self.handle, self.nodes[node]["container"], argv),
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            return subprocess.CompletedProcess(argv, 124, exc.stdout or "", f"timed out after {timeout}s")

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
        try:
            proc = self.salt(
                "-L", ",".join(nodes), "test.ping", "-t", "3", "--out=json", "--static", timeout=30
            )
            got = json.loads(proc.stdout or "{}")
        except (ValueError, subprocess.TimeoutExpired):
            return False
        return all(got.get(n) is True for n in nodes)

    def secret(self, key: str) -> str:
        """fileshare:secrets:KEY as the master compiles it (asked through a node that answers)."""
        for node in (self.role("app") + self.role("load")) * 2:
            if self._secrets.get(key):
                break
            proc = self.salt(
                node,
                "pillar.get",
                f"fileshare:secrets:{key}",
                "unmask=True",
                "--out=json",
                "--static",
                "-t",
                "60",
                timeout=120,
            )
            try:
                self._secrets[key] = json.loads(proc.stdout or "{}").get(node) or ""
            except ValueError:
                continue
        if not self._secrets.get(key):
            raise FaultError(f"cannot read fileshare:secrets:{key} from the lab's master")
        return self._secrets[key]

    # ---- what the cluster says -------------------------------------------------------------------

    def sql(self, node: str, query: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return self.run(
            node, ["mysql", "--defaults-extra-file=/root/.my.cnf", "-N", "-B", "-e", query], timeout=timeout
        )

    def galera(self, node: str) -> dict:
        """{status, size, state} of NODE's own server ({} when it does not answer)."""
        proc = self.sql(
            node,
            "SHOW STATUS WHERE Variable_name IN ('wsrep_cluster_status', "
            "'wsrep_cluster_size', 'wsrep_local_state_comment')",
            timeout=15,
        )
        if proc.returncode != 0:
            return {}
        got = dict(line.split("\t", 1) for line in proc.stdout.strip().splitlines() if "\t" in line)
        return {
            "status": got.get("wsrep_cluster_status"),
            "size": int(got.get("wsrep_cluster_size", 0) or 0),
            "state": got.get("wsrep_local_state_comment"),
        }

    def galera_whole(self) -> bool:
        dbs = self.role("db")
        views = [self.galera(n) for n in dbs]
        return all(
            v.get("status") == "Primary" and v.get("size") == len(dbs) and v.get("state") == "Synced"
            for v in views
        )

    def vip_holder(self) -> list[str]:
        return [
            n
            for n in self.role("load")
            if f" {self.vip}/" in self.run(n, "ip -o -4 addr show", timeout=15).stdout
        ]

    def haproxy(self, node: str) -> dict:
        proc = self.run(node, ["python3", "-c", HASTAT], timeout=15)
        try:
            return json.loads(proc.stdout)
        except ValueError:
            return {}

    def backends_up(self) -> bool:
        """On every load node: every app and db server UP, exactly one Redis server UP (the master)."""
        for lb in self.role("load"):
            stat = self.haproxy(lb)
            if not stat:
                return False
            if any(s != "UP" for s in stat.get("fs_app", {}).values()) or not stat.get("fs_app"):
                return False
            if any(s != "UP" for s in stat.get("fs_db", {}).values()) or not stat.get("fs_db"):
                return False
            if list(stat.get("fs_redis", {}).values()).count("UP") != 1:
                return False
        return True

    def redis(self, node: str, host: str, port: int, *words: str) -> str:
        return self.run(
            node, [PYTHON, "-c", RESP, host, str(port), self.secret("redis_password"), *words], timeout=20
        ).stdout

    def sentinel_master(self, asked: str | None = None) -> str | None:
        """The Redis master (node name) the Sentinel on ASKED reports."""
        for im in [asked] if asked else self.role("intermediate"):
            out = self.run(
                im,
                f"redis-cli -p {SENTINEL_PORT} --no-auth-warning sentinel get-master-addr-by-name fileshare",
                timeout=15,
            ).stdout.split()
            if out:
                return next((n for n in self.nodes if self.address(n) == out[0]), out[0])
        return None

    def redis_role(self, node: str) -> str:
        out = self.redis(node, self.address(node), 6379, "INFO", "replication")
        return next(
            (line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("role:")), ""
        )

    def gluster_pending(self) -> int | None:
        """Entries still to heal on the volume (None: cannot tell)."""
        st = self.role("storage")[0]
        proc = self.run(st, "gluster volume heal fileshare info", timeout=60)
        if proc.returncode != 0:
            return None
        counts = [
            int(line.split(":", 1)[1])
            for line in proc.stdout.splitlines()
            if line.startswith("Number of entries:") and line.split(":", 1)[1].strip().isdigit()
        ]
        if len(counts) < len(self.role("storage")):
            return None
        return sum(counts)

    def healthy(self) -> dict:
        """What is not healthy (an empty dict: everything is)."""
        bad = {}
        if not self.galera_whole():
            bad["galera"] = {n: self.galera(n) for n in self.role("db")}
        holders = self.vip_holder()
        if len(holders) != 1:
            bad["vip"] = holders
        if not self.backends_up():
            bad["haproxy"] = {lb: self.haproxy(lb) for lb in self.role("load")}
        masters = {self.sentinel_master(im) for im in self.role("intermediate")}
        if len(masters) != 1 or None in masters:
            bad["sentinel"] = sorted(map(str, masters))
        if self.gluster_pending() != 0:
            bad["gluster"] = self.gluster_pending()
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
        proc = c.run(
            self.node,
            [
                PYTHON,
                "-c",
                WRITER,
                c.vip,
                "3307",
                "fileshare",
                c.secret("db_password"),
                "fileshare",
                self.tag,
                str(self.seconds),
            ],
            timeout=self.seconds + 60,
        )
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


# ---- the scenarios ---------------------------------------------------------------------------------


class Scenario:
    """One scenario's run: load through the VIP, marks, checks and observations."""

    def __init__(self, cluster: Cluster, target: Target, number: int, title: str, rate: float):
        from fileshare_bench.loadgen import LoadGenerator

        self.cluster, self.number, self.title = cluster, number, title
        self.load = LoadGenerator(target, rate=rate, workers=6, name=f"fault{number}")
        self.checks: dict[str, bool] = {}
        self.observed: dict = {}
        self.windows: dict[str, tuple[float, float | None]] = {}
        self.fixed: dict[str, float] = {}  # window name -> when the fault was undone (heal, recovery)
        self.data_lost: int | None = None

    def check(self, name: str, ok: bool, detail=None) -> bool:
        self.checks[name] = bool(ok)
        if detail is not None:
            self.observed[name] = detail
        return bool(ok)

    def records(self) -> list:
        """The load's records so far (a copy: its workers keep appending)."""
        with self.load._lock:
            return list(self.load.run.records)

    def mark(self, label: str) -> float:
        self.load.mark(label)
        return self.load.now()

    def result(self) -> dict:
        run = self.load.run
        summary = run.summary()
        parts = {name: summarize(run.records, a, b) for name, (a, b) in self.windows.items()}
        # The deep /health also fails on its own when the host is overloaded (2 s Redis/database
        # timeouts): the WebDAV operations alone show what the fault did to file access.
        webdav = [r for r in run.records if r.op != "health"]
        parts.update({f"{name}_webdav": summarize(webdav, a, b) for name, (a, b) in self.windows.items()})
        file_ops = summarize(webdav)
        for name, t_fixed in self.fixed.items():
            # How long file operations kept failing once the fault was undone (0: not at all).
            last = parts[f"{name}_webdav"]["last_failure"]
            self.observed[f"{name}_file_ops_back_after_seconds"] = round(max(0.0, (last or 0) - t_fixed), 2)
        return {
            "scenario": f"{self.number} {self.title}",
            "number": self.number,
            "requests": summary["requests"],
            "failed": summary["failed"],
            "error_window_seconds": summary["error_window_seconds"],
            "file_ops": {
                k: file_ops[k] for k in ("requests", "failed", "failed_by_op", "error_window_seconds")
            },
            "data_lost": self.data_lost,
            # The file data check: a GET whose content is not what that client last PUT (loadgen).
            "content_mismatches": sum(1 for r in webdav if "content differs" in r.error),
            "checks": self.checks,
            "observed": self.observed,
            "summary": summary,
            "parts": parts,
            "marks": [{"t": round(t, 2), "label": label} for t, label in run.marks],
            "failures": [
                [round(r.t, 2), r.op, r.status, round(r.latency, 2), r.error] for r in run.records if r.error
            ][:300],
        }


def _since(cluster: Cluster) -> str:
    return cluster.run(cluster.role("db")[0], "date +%s").stdout.strip()


def kill_vip_master(sc: Scenario) -> None:
    c = sc.cluster
    holder = c.vip_holder()
    sc.check("one load node holds the VIP before", len(holder) == 1, holder)
    master = holder[0]
    other = next(n for n in c.role("load") if n != master)
    time.sleep(5)
    t_kill = sc.mark(f"kill {master}")
    c.fault("kill", master)
    t0 = time.monotonic()
    moved = c.wait(lambda: c.vip_holder() == [other], 30, f"the VIP moves to {other}", interval=0.2)
    sc.observed["vip_moved_after_seconds"] = round(time.monotonic() - t0, 2)
    sc.check("the VIP moved to the other load node", moved)
    time.sleep(10)
    t_heal = sc.mark(f"heal {master}")
    sc.windows["failover"] = (t_kill - 1, t_heal)
    c.fault("heal", master)
    # The higher-priority node takes the VIP back after preempt_delay: a second, planned move.
    c.wait(lambda: c.vip_holder() == [master], 180, f"the VIP returns to {master}", interval=0.5)
    sc.observed["vip_back_after_heal_seconds"] = round(sc.load.now() - t_heal, 1)
    time.sleep(5)
    sc.windows["failback"] = (t_heal, None)


def _writer_scenario_rows(sc: Scenario, *writers: Writer) -> None:
    c = sc.cluster
    for writer in writers:
        writer.join()
    c.wait(c.galera_whole, 300, "every db node is Synced in the Primary component again", interval=2)
    lost = {n: 0 for n in c.role("db")}
    for writer in writers:
        for node, missing in c.lost_rows(writer.tag, writer.result["acked"]).items():
            lost[node] += missing
    acked = sum(len(w.result["acked"]) for w in writers)
    errors = [e for w in writers for e in w.result["errors"]]
    sc.data_lost = max(lost.values())
    sc.observed["rows_acknowledged"] = acked
    sc.observed["db_write_errors"] = len(errors)
    sc.observed["db_error_window_seconds"] = max(w.window() for w in writers)
    sc.observed["db_longest_outage_seconds"] = max(w.longest_outage() for w in writers)
    sc.observed["db_errors"] = sorted({e[2] for e in errors})[:5]
    sc.check("the writer committed rows", all(len(w.result["acked"]) > 20 for w in writers), acked)
    sc.check("no committed row lost on any db node", sc.data_lost == 0, lost)


def kill_db_writer(sc: Scenario) -> None:
    c = sc.cluster
    dbs = c.role("db")
    writer_node = dbs[0]  # the fs_db front's only non-backup server
    c.ensure_table()
    w = c.writer(f"kill-{uuid.uuid4().hex[:8]}", 40)
    w.start()
    time.sleep(8)
    sc.mark(f"kill {writer_node}")
    c.fault("kill", writer_node)
    lb = c.vip_holder()[0]
    t0 = time.monotonic()
    c.wait(
        lambda: c.haproxy(lb).get("fs_db", {}).get(writer_node, "").startswith("DOWN"),
        30,
        f"HAProxy on {lb} marks {writer_node} DOWN",
        interval=0.3,
    )
    sc.observed["writer_marked_down_after_seconds"] = round(time.monotonic() - t0, 2)
    c.wait(lambda: c.galera(dbs[1]).get("size") == len(dbs) - 1, 60, "the survivors drop the writer")
    sc.check(
        "the survivors keep a Primary component",
        c.galera(dbs[1]).get("status") == "Primary",
        c.galera(dbs[1]),
    )
    time.sleep(8)
    sc.mark(f"heal {writer_node}")
    c.fault("heal", writer_node)
    _writer_scenario_rows(sc, w)


def partition_one_db(sc: Scenario) -> None:
    c = sc.cluster
    dbs = c.role("db")
    isolated = dbs[-1]
    c.ensure_table()
    w = c.writer(f"part1-{uuid.uuid4().hex[:8]}", 35)
    w.start()
    time.sleep(5)
    since = _since(c)
    sc.mark(f"partition {isolated}")
    c.fault("partition", isolated)
    c.wait(lambda: c.galera(isolated).get("status") == "non-Primary", 60, f"{isolated} goes non-Primary")
    sc.check(f"{isolated} is non-Primary", True, c.galera(isolated))
    refused = c.sql(isolated, f"INSERT INTO {DB_TABLE} (tag, n) VALUES ('isolated', 0)")
    sc.check(f"{isolated} refuses writes", refused.returncode != 0, refused.stderr.strip()[:200])
    c.wait(lambda: c.galera(dbs[0]).get("size") == len(dbs) - 1, 60, "the other two drop the isolated node")
    sc.check(
        "the other two stay Primary",
        all(c.galera(n).get("status") == "Primary" for n in dbs[:-1]),
        {n: c.galera(n) for n in dbs[:-1]},
    )
    time.sleep(10)  # writes go on through the VIP: the isolated node will need them by IST
    sc.mark(f"heal {isolated}")
    c.fault("heal", isolated)
    _writer_scenario_rows(sc, w)
    log = c.run(isolated, f"journalctl -u mariadb --since @{since} --no-pager", timeout=60).stdout
    ist = [
        line.split("WSREP: ", 1)[-1][:160]
        for line in log.splitlines()
        if "IST" in line and ("receiv" in line.lower() or "Prepared IST" in line)
    ]
    sst = [
        line.split("WSREP: ", 1)[-1][:160]
        for line in log.splitlines()
        if "SST request" in line or "State transfer required" in line and "SST" in line
    ]
    sc.observed["joiner_log"] = (ist or ["(no IST line)"])[:4] + sst[:2]
    sc.check(f"{isolated} rejoined by IST (its log)", bool(ist))


def partition_all_db(sc: Scenario) -> None:
    c = sc.cluster
    dbs = c.role("db")
    c.ensure_table()
    time.sleep(5)
    t_split = sc.mark("partition every db node")
    for node in dbs:
        c.fault("partition", node)
    c.wait(
        lambda: all(c.galera(n).get("status") == "non-Primary" for n in dbs),
        90,
        "every db node goes non-Primary",
    )
    views = {n: c.galera(n) for n in dbs}
    sc.check(
        "no Primary component anywhere", all(v.get("status") == "non-Primary" for v in views.values()), views
    )
    refusals = {n: c.sql(n, f"INSERT INTO {DB_TABLE} (tag, n) VALUES ('split', 0)") for n in dbs}
    sc.check(
        "every db node refuses writes",
        all(p.returncode != 0 for p in refusals.values()),
        {n: p.stderr.strip()[:120] for n, p in refusals.items()},
    )
    time.sleep(5)
    t_heal = sc.mark("heal every db node")
    for node in dbs:
        c.fault("heal", node)
    t0 = time.monotonic()
    try:
        c.wait(c.galera_whole, 120, "a Primary component with every member returns by itself", interval=1)
        sc.observed["primary_returned_by_itself_after_seconds"] = round(time.monotonic() - t0, 1)
        sc.check("Primary returned without manual bootstrap", True)
    except FaultError as exc:
        sc.observed["primary_returned_by_itself"] = str(exc)
        sc.check("Primary returned without manual bootstrap", False, {n: c.galera(n) for n in dbs})
        proc = c.salt_run("state.orchestrate", "fileshare.galera_recover")
        sc.observed["galera_recover_after_partition"] = proc.returncode
    sc.windows["after heal"] = (t_heal, None)
    sc.windows["split"], sc.fixed["split"] = (t_split, None), t_heal
    rows = c.rows(dbs[0], "split")
    sc.check("no row written during the split", rows == set(), sorted(rows) if rows is not None else None)


def _orchestrate(c: Cluster, name: str, timeout: float) -> tuple[bool, dict]:
    """`salt-run state.orchestrate NAME`: (every step succeeded, {step: result, comment, changes})."""
    proc = c.salt_run("state.orchestrate", name, "--out=json", timeout=timeout)
    try:
        ret = json.loads(proc.stdout)
        states = ret["data"][next(iter(ret["data"]))]
        steps = {
            v["__id__"]: {
                "result": v["result"],
                "comment": str(v["comment"])[:300],
                "changes": v.get("changes"),
            }
            for v in sorted(states.values(), key=lambda v: v.get("__run_num__", 0))
        }
        return proc.returncode == 0 and all(v["result"] for v in steps.values()), steps
    except (ValueError, KeyError, StopIteration, AttributeError):
        return False, {"output": (proc.stdout + proc.stderr)[-1500:]}


def _recover_path(steps: dict) -> tuple[str, list]:
    """What galera.recover did, in a few words, and its own step list ([] when it had nothing to do)."""
    done = next(
        (((v.get("changes") or {}).get("return")) for k, v in steps.items() if "recovered" in k), None
    )
    if not done:
        return "nothing to do: the Primary component had re-formed by itself", []
    boot = next((d["bootstrapped"] for d in done if "bootstrapped" in d), None)
    if boot:
        return f"bootstrapped {boot}, started the others one by one", done
    return "started the stopped members into the surviving Primary component", done


def _recover(sc: Scenario, phase: str) -> tuple[str, list]:
    """Run galera_recover as the operator would; record it under PHASE (the fault's window, which
    started before, ends when it is done); (what it did, its steps)."""
    t0 = sc.mark(f"{phase}: salt-run state.orchestrate fileshare.galera_recover")
    ok, steps = _orchestrate(sc.cluster, "fileshare.galera_recover", 1500)
    sc.fixed[phase] = sc.mark(f"{phase}: galera_recover done")
    sc.observed[f"{phase}_galera_recover_seconds"] = round(sc.fixed[phase] - t0, 1)
    sc.observed[f"{phase}_galera_recover"] = steps
    sc.check(f"{phase}: galera_recover succeeded", ok)
    path, done = _recover_path(steps)
    sc.observed[f"{phase}_galera_recover_path"] = path
    return path, done


def _power_back(sc: Scenario, nodes: list[str], phase: str) -> None:
    c = sc.cluster
    sc.mark(f"{phase}: power back on {', '.join(nodes)}")
    for node in nodes:
        c.fault("heal", node)
    c.wait(lambda: c.answers(*nodes), 180, "every db node answers Salt")
    sc.observed[f"{phase}_mariadb_at_boot"] = {
        n: c.run(n, "systemctl is-active mariadb", timeout=15).stdout.strip() for n in nodes
    }


def full_outage(sc: Scenario) -> None:
    """
    Two outages of every database node, each with rows committed before it, each followed by
    galera_recover as an operator would run it:

    - power cut: all three killed at once. Galera's pc.recovery (each member saved the last Primary
      component's membership) may re-form the cluster by itself once they are all back; then
      galera_recover must find it whole and change nothing. If they stay stuck, it must recover.
    - staggered: the last node crashes, the first is shut down cleanly (the survivor keeps a
      Primary component of one and goes on committing), then the survivor is shut down too (a UPS
      running out). A clean shutdown forgets the membership, so nothing re-forms by itself: the
      crashed node waits at boot for a component that never comes back, the others fail to start.
      galera_recover must stop what hangs, bootstrap the survivor (the only one with every row)
      and start the others one by one. Bootstrapping any other node would lose its last rows.
    """
    c = sc.cluster
    dbs = c.role("db")
    c.ensure_table()
    writers = []

    w = c.writer(f"outage-{uuid.uuid4().hex[:8]}", 10)
    w.start()
    w.join()  # committed before the outage
    writers.append(w)
    t_cut = sc.mark("power cut: kill every db node")
    for node in dbs:
        c.fault("kill", node)
    time.sleep(3)
    _power_back(sc, dbs, "power_cut")
    _recover(sc, "power_cut")
    c.wait(c.galera_whole, 300, "every db node is Synced in the Primary component again", interval=2)

    crashed, first_down, survivor = dbs[-1], dbs[0], dbs[1]
    w = c.writer(f"stagger-{uuid.uuid4().hex[:8]}", 20)
    w.start()
    writers.append(w)
    time.sleep(5)
    t_crash = sc.mark(f"staggered: {crashed} crashes")
    sc.windows["power_cut"], sc.windows["staggered"] = (t_cut, t_crash), (t_crash, None)
    c.fault("kill", crashed)
    c.wait(lambda: c.galera(survivor).get("size") == len(dbs) - 1, 60, f"the others drop {crashed}")
    time.sleep(3)
    sc.mark(f"staggered: {first_down} is shut down cleanly")
    stop = c.run(first_down, "systemctl stop mariadb", timeout=120)
    sc.check(f"{first_down} shut down cleanly", stop.returncode == 0, stop.stderr.strip()[-200:] or None)
    c.wait(
        lambda: c.galera(survivor).get("status") == "Primary" and c.galera(survivor).get("size") == 1,
        60,
        f"{survivor} goes on alone in a Primary component",
    )
    last = c.writer(f"alone-{uuid.uuid4().hex[:8]}", 10)
    last.start()
    writers.append(last)
    last.join()  # rows that only the survivor has
    w.join()
    sc.mark(f"staggered: {survivor} is shut down cleanly, then the power goes")
    stop = c.run(survivor, "systemctl stop mariadb", timeout=120)
    sc.check(f"{survivor} shut down cleanly", stop.returncode == 0, stop.stderr.strip()[-200:] or None)
    for node in (first_down, survivor):
        c.fault("kill", node)
    time.sleep(3)
    _power_back(sc, dbs, "staggered")
    path, done = _recover(sc, "staggered")
    verdict = next((d for d in done if "verdict" in d), None)
    seqnos = {n: (p or {}).get("seqno") for n, p in verdict["positions"].items()} if verdict else {}
    sc.observed["staggered_positions"] = seqnos
    sc.check(
        f"galera_recover bootstrapped the most advanced member, {survivor}",
        path.startswith(f"bootstrapped {survivor},"),
        {"path": path, "seqnos": seqnos},
    )
    _writer_scenario_rows(sc, *writers)


def kill_app_redis_storage(sc: Scenario) -> None:
    c = sc.cluster
    app, lb = c.role("app")[0], c.vip_holder()[0]
    time.sleep(4)
    t_kill = sc.mark(f"kill {app}")
    c.fault("kill", app)
    c.wait(lambda: c.haproxy(lb).get("fs_app", {}).get(app, "").startswith("DOWN"), 30, f"{app} marked DOWN")
    time.sleep(5)
    t_heal = sc.mark(f"heal {app}")
    sc.windows["app_down"] = (t_kill - 1, t_heal)
    c.fault("heal", app)
    c.wait(
        lambda: c.haproxy(lb).get("fs_app", {}).get(app) == "UP", 240, f"{app} serves again (UP)", interval=2
    )
    sc.windows["app_back"] = (t_heal, sc.load.now())

    master = c.sentinel_master()
    survivor = next(n for n in c.role("intermediate") if n != master)
    t_kill = sc.mark(f"kill Redis master {master}")
    t0 = time.monotonic()
    c.fault("kill", master)
    new = c.wait(
        lambda: (m := c.sentinel_master(survivor)) not in (None, master) and m,
        90,
        "Sentinel elects a new master",
        interval=0.5,
    )
    sc.observed["sentinel_failover_seconds"] = round(time.monotonic() - t0, 1)
    c.wait(
        lambda: c.haproxy(lb).get("fs_redis", {}).get(new) == "UP",
        30,
        f"HAProxy's redis front follows {new}",
        interval=0.5,
    )
    sc.observed["haproxy_follows_seconds"] = round(time.monotonic() - t0, 1)
    out = c.redis(app, c.vip, 6380, "SET", "fileshare:fault6", "after-failover")
    sc.check("a Redis write through the VIP works after the failover", "+OK" in out, out.strip()[-60:])
    time.sleep(5)  # what the clients see once the front follows the new master
    t_heal = sc.mark(f"heal {master}")
    sc.windows["redis_failover"] = (t_kill - 1, t_heal)
    c.fault("heal", master)
    c.wait(lambda: c.redis_role(master) == "slave", 180, f"{master} comes back as a replica", interval=2)
    sc.check("the old master came back as a replica", True)
    sc.windows["redis_back"] = (t_heal, sc.load.now())

    st = c.role("storage")[-1]
    t_kill = sc.mark(f"stop storage node {st}")
    c.fault("kill", st)
    time.sleep(15)  # writes go on with two bricks of three
    t_heal = sc.mark(f"heal {st}")
    sc.windows["storage_down"] = (t_kill, t_heal)
    c.fault("heal", st)
    t0 = time.monotonic()
    c.wait(lambda: c.gluster_pending() == 0, 300, "the volume has nothing left to heal", interval=3)
    sc.observed["gluster_heal_seconds"] = round(time.monotonic() - t0, 1)  # from the restart
    sc.check("the storage node's brick healed", True)
    sc.windows["storage_back"] = (t_heal, None)
    # Counted now: every PUT sent while the node was down has been answered (or timed out) by now.
    puts = [r for r in sc.records() if r.op == "put" and t_kill <= r.t < t_heal]
    sc.observed["storage_down_puts_ok"] = sum(1 for r in puts if not r.error)
    sc.observed["storage_down_puts_failed"] = sum(1 for r in puts if r.error)


def flood(sc: Scenario) -> None:
    c = sc.cluster
    source = c.role("intermediate")[-1]  # another address than the normal client (the host)
    time.sleep(3)
    sc.mark(f"flood from {source}")
    proc = c.run(source, ["python3", "-c", FLOOD, c.vip, c.fqdn, "100", "20", "8"], timeout=120)
    sc.mark("flood over")
    try:
        counts = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        counts = {"error": proc.stderr.strip()[-300:]}
    sc.observed["flood_statuses"] = counts
    sc.check("the flooding client got 429", counts.get("429", 0) > 0, counts)
    time.sleep(3)
    normal = summarize(sc.records())
    sc.check(
        "the normal client saw no failure",
        normal["requests"] > 0 and normal["failed"] == 0,
        {k: normal[k] for k in ("requests", "failed", "errors")},
    )


# The database outage runs last: it is the one most likely to need galera_recover's heal.
ORDER = [1, 2, 3, 4, 6, 7, 5]
SCENARIOS = [
    (1, "kill the MASTER load node", kill_vip_master),
    (2, "kill the database writer", kill_db_writer),
    (3, "partition one database node", partition_one_db),
    (4, "partition the three database nodes", partition_all_db),
    (5, "full database outage + galera_recover", full_outage),
    (6, "kill app node, Redis master, storage node", kill_app_redis_storage),
    (7, "flood from one client", flood),
]


def run_scenario(cluster: Cluster, target: Target, number: int, rate: float = 15.0) -> dict:
    """Run scenario NUMBER under load and heal the cluster (even when a step fails); its result."""
    _, title, body = next(s for s in SCENARIOS if s[0] == number)
    sc = Scenario(cluster, target, number, title, rate)
    cluster.wait_healthy(300)
    sc.load.start()
    error = None
    try:
        body(sc)
    except Exception as exc:  # noqa: BLE001 - reported with the result, the heal still runs
        error = f"{type(exc).__name__}: {exc}"
    finally:
        sc.load.stop()
        try:
            touched = cluster.heal_all()
            if touched:
                cluster.wait(lambda: cluster.answers(*touched), 300, "every node touched answers Salt")
            cluster.wait(cluster.galera_whole, 120, "Galera is whole after the heal", interval=3)
        except FaultError as exc:
            if error is None and not all(sc.checks.values() or [True]):
                error = str(exc)
            if not cluster.galera_whole():
                proc = cluster.salt_run("state.orchestrate", "fileshare.galera_recover", timeout=1500)
                sc.observed["heal needed galera_recover"] = proc.returncode
        try:
            cluster.wait_healthy(300)
        except FaultError as exc:
            error = error or f"heal: {exc}"
    result = sc.result()
    result["error"] = error
    return result


COLUMNS = [
    ("scenario", "scenario"),
    ("requests", "requests"),
    ("failed", "failed"),
    ("error_window_seconds", "error window (s)"),
    ("file_ops_failed", "file ops failed"),
    ("file_ops_window", "file ops window (s)"),
    ("data_lost", "rows lost"),
    ("content_mismatches", "stale/wrong reads"),
    ("note", "observed"),
]


def _note(result: dict) -> str:
    o = dict(result["observed"])
    for part, summary in result["parts"].items():
        o[f"{part}_error_window_seconds"] = summary["error_window_seconds"]
    keys = [
        "vip_moved_after_seconds",
        "failover_error_window_seconds",
        "failover_webdav_error_window_seconds",
        "failback_error_window_seconds",
        "writer_marked_down_after_seconds",
        "db_error_window_seconds",
        "db_longest_outage_seconds",
        "primary_returned_by_itself_after_seconds",
        "power_cut_galera_recover_seconds",
        "power_cut_galera_recover_path",
        "staggered_galera_recover_seconds",
        "staggered_galera_recover_path",
        "staggered_positions",
        "vip_back_after_heal_seconds",
        "sentinel_failover_seconds",
        "app_down_webdav_error_window_seconds",
        "redis_failover_webdav_error_window_seconds",
        "haproxy_follows_seconds",
        "storage_down_puts_ok",
        "storage_down_puts_failed",
        "gluster_heal_seconds",
        "flood_statuses",
    ]
    parts = [f"{k}={json.dumps(o[k]) if isinstance(o[k], dict) else o[k]}" for k in keys if k in o]
    failed = [k for k, v in result["checks"].items() if not v]
    if failed:
        parts.append("FAILED: " + "; ".join(failed))
    if result.get("error"):
        parts.append("ERROR: " + result["error"][:200])
    return ", ".join(parts).replace("|", "/")


def write_report(results: list[dict], out_dir: Path, command: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / "faults.json", out_dir / "faults.md"
    js.write_text(json.dumps({"command": command, "scenarios": results}, indent=1, default=str) + "\n")
    rows = [
        dict(
            r,
            note=_note(r),
            file_ops_failed=r["file_ops"]["failed"],
            file_ops_window=r["file_ops"]["error_window_seconds"],
            data_lost="-" if r["data_lost"] is None else r["data_lost"],
        )
        for r in results
    ]
    md.write_text(
        f"Fault scenarios under client load through the VIP (`{command}`)\n\n" + markdown_table(rows, COLUMNS)
    )
    return js, md


def _numbers(text: str) -> list[int]:
    try:
        wanted = {int(x) for x in text.split(",") if x.strip()}
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of scenario numbers"
        ) from None
    if not wanted or not wanted <= set(ORDER):
        raise argparse.ArgumentTypeError(f"{text!r}: scenarios are {min(ORDER)}..{max(ORDER)}")
    return [n for n in ORDER if n in wanted]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lab", type=cli.lab_name, default="fileshare", help="a converged full_ha lab")
    parser.add_argument(
        "--only",
        type=_numbers,
        default=list(ORDER),
        help="comma-separated scenario numbers (default: all; the outage, 5, runs last)",
    )
    parser.add_argument("--rate", type=cli.number(1, 200), default=15.0, help="client requests/second")
    parser.add_argument("--out-dir", default=str(cli.BENCH_DIR), help="where faults.json and faults.md go")


def _run(args) -> int:
    cluster = Cluster(args.lab)
    target = Target.from_lab(args.lab)
    command = (
        "fileshare-bench faults --lab "
        + args.lab
        + ("" if len(args.only) == len(SCENARIOS) else " --only " + ",".join(map(str, args.only)))
    )
    results = []
    for number in args.only:
        print(f"[faults] scenario {number} ...", flush=True)
        result = run_scenario(cluster, target, number, args.rate)
        results.append(result)
        print(
            f"[faults] {result['scenario']}: {result['requests']} requests, {result['failed']} failed, "
            f"window {result['error_window_seconds']} s, lost {result['data_lost']}; {_note(result)}",
            flush=True,
        )
        write_report(results, Path(args.out_dir), command)
    js, md = write_report(results, Path(args.out_dir), command)
    print(md.read_text())
    print(f"written: {js} {md}")
    return 0 if all(all(r["checks"].values()) and not r["error"] for r in results) else 1


cli.register(
    "faults", "the fault scenarios of issue 6 under load; build/bench/faults.{json,md}", _add_arguments, _run
)
