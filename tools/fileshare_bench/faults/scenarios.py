"""The fault scenarios: each under client load through the VIP, each with its checks and observations,
each healed before the next starts (run_scenario)."""

from __future__ import annotations

import json
import time
import uuid

from fileshare_bench.faults.probes import DB_TABLE, Cluster, FaultError, Writer
from fileshare_bench.stats import summarize
from fileshare_bench.target import Target

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
    writer_node = c.topology["db_writers"][0]  # the database front's only non-backup server
    c.ensure_table()
    w = c.writer(f"kill-{uuid.uuid4().hex[:8]}", 40)
    w.start()
    time.sleep(8)
    sc.mark(f"kill {writer_node}")
    c.fault("kill", writer_node)
    lb = c.vip_holder()[0]
    t0 = time.monotonic()
    c.wait(
        lambda: c.haproxy(lb, "db").get(writer_node, "").startswith("DOWN"),
        30,
        f"HAProxy on {lb} marks {writer_node} DOWN",
        interval=0.3,
    )
    sc.observed["writer_marked_down_after_seconds"] = round(time.monotonic() - t0, 2)
    c.wait(lambda: c.galera(dbs[1]).get("cluster_size") == len(dbs) - 1, 60, "the survivors drop the writer")
    sc.check(
        "the survivors keep a Primary component",
        c.galera(dbs[1]).get("cluster_status") == "Primary",
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
    c.wait(
        lambda: c.galera(isolated).get("cluster_status") == "non-Primary", 60, f"{isolated} goes non-Primary"
    )
    sc.check(f"{isolated} is non-Primary", True, c.galera(isolated))
    refused = c.sql(isolated, f"INSERT INTO {DB_TABLE} (tag, n) VALUES ('isolated', 0)")
    sc.check(f"{isolated} refuses writes", refused.returncode != 0, refused.stderr.strip()[:200])
    c.wait(
        lambda: c.galera(dbs[0]).get("cluster_size") == len(dbs) - 1,
        60,
        "the other two drop the isolated node",
    )
    sc.check(
        "the other two stay Primary",
        all(c.galera(n).get("cluster_status") == "Primary" for n in dbs[:-1]),
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
        lambda: all(c.galera(n).get("cluster_status") == "non-Primary" for n in dbs),
        90,
        "every db node goes non-Primary",
    )
    views = {n: c.galera(n) for n in dbs}
    sc.check(
        "no Primary component anywhere",
        all(v.get("cluster_status") == "non-Primary" for v in views.values()),
        views,
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
    c.wait(lambda: c.galera(survivor).get("cluster_size") == len(dbs) - 1, 60, f"the others drop {crashed}")
    time.sleep(3)
    sc.mark(f"staggered: {first_down} is shut down cleanly")
    stop = c.run(first_down, "systemctl stop mariadb", timeout=120)
    sc.check(f"{first_down} shut down cleanly", stop.returncode == 0, stop.stderr.strip()[-200:] or None)
    c.wait(
        lambda: (
            c.galera(survivor).get("cluster_status") == "Primary"
            and c.galera(survivor).get("cluster_size") == 1
        ),
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
    c.wait(lambda: c.haproxy(lb, "app").get(app, "").startswith("DOWN"), 30, f"{app} marked DOWN")
    time.sleep(5)
    t_heal = sc.mark(f"heal {app}")
    sc.windows["app_down"] = (t_kill - 1, t_heal)
    c.fault("heal", app)
    c.wait(lambda: c.haproxy(lb, "app").get(app) == "UP", 240, f"{app} serves again (UP)", interval=2)
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
        lambda: c.haproxy(lb, "redis").get(new) == "UP",
        30,
        f"HAProxy's redis front follows {new}",
        interval=0.5,
    )
    sc.observed["haproxy_follows_seconds"] = round(time.monotonic() - t0, 1)
    out = c.redis(app, c.vip, c.ports["redis_front"], "SET", "fileshare:fault6", "after-failover")
    sc.check("a Redis write through the VIP works after the failover", out == "OK", out)
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
