"""
fileshare-bench rolling: the same release upgrade twice under the same client load, the naive way
(`salt '*' state.apply fileshare.release` on every node at once) and `fileshare.rolling_upgrade`.

  fileshare-bench rolling --lab NAME [--rate 40] [--workers 12] [--settle 30] [--out-dir build/bench]

Before each run the lab is put on the OLD release (no load then): the packages the lab's apt cache
offers in two versions (bookworm and bookworm-security: HAProxy on the load nodes, Redis and Memcached
on the intermediate nodes) pinned at the older version. Each run then upgrades to the NEW release
(newer packages, a new release name that every layer picks up with a restart or reload) while the load
generator records every request; --settle seconds of load before the upgrade give the p99 to compare
with. Writes rolling_upgrade.json, rolling_upgrade.md and rolling_upgrade.png in --out-dir.

The module also serves the lab test (tests/lab/test_rolling_upgrade.py): lab_releases, apply_release,
rolling_upgrade, release_problems and cluster_problems.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from pathlib import Path

from fileshare_bench import cli
from fileshare_bench.target import BenchError

# Packages whose two versions (point release, security update) the lab's apt cache offers, by the node
# that carries them; the release pins all of a source package's binaries together.
PACKAGES = {
    "load": ["haproxy"],
    "intermediate": ["memcached", "redis-server", "redis-tools", "redis-sentinel"],
}
OLD_NAME, NEW_NAME = "2026.1", "2026.2"


# ---- the lab ------------------------------------------------------------------------------------


def _lab(name):
    """The lab and the topology of the site it runs."""
    from fileshare_lab import host as labhost
    from fileshare_lab import topology

    try:
        lab = labhost.Lab(name)
        lab.require_up()
        return lab, topology.of_lab(lab)
    except labhost.LabError as exc:
        raise BenchError(str(exc)) from exc


def node_run(lab, node, cmd, timeout=120):
    """(exit code, output) of sh -c CMD inside NODE (lxc-attach: no network path from the host)."""
    from fileshare_lab import containers, logic

    proc = containers.attach(
        lab, logic.container_name(lab.name, node), ["/bin/sh", "-c", cmd], timeout=timeout
    )
    return proc.returncode, proc.stdout + proc.stderr


def salt_json(lab, *args, timeout=900):
    proc = subprocess.run(
        lab.salt_cmd("salt") + list(args) + ["--out=json", "--static", "--log-level=quiet"],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    try:
        return proc.returncode, json.loads(proc.stdout or "{}")
    except ValueError:
        return proc.returncode, {"_output": (proc.stdout + proc.stderr)[-3000:]}


def versions(madison):
    """`apt-cache madison PKG` text -> its versions, oldest first (as apt lists them: newest first)."""
    found = []
    for line in madison.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) >= 2 and parts[1] and parts[1] not in found:
            found.append(parts[1])
    return list(reversed(found))


def lab_releases(lab_name):
    """(old, new): fileshare:release values with the lab cache's older and newer package versions."""
    lab, site = _lab(lab_name)
    old = {"name": OLD_NAME, "packages": {}}
    new = {"name": NEW_NAME, "packages": {}}
    for role, packages in PACKAGES.items():
        node = site["roles"][role][0]
        for package in packages:
            code, out = node_run(lab, node, f"apt-cache madison {package}")
            found = versions(out) if code == 0 else []
            if len(found) < 2:
                raise BenchError(
                    f"the apt cache offers {package} in {len(found)} version(s) on {node}, not two"
                )
            old["packages"][package], new["packages"][package] = found[0], found[-1]
    return old, new


def _pillar_arg(release):
    return "pillar=" + json.dumps({"fileshare": {"release": release}})


def apply_release(lab_name, release, db_one_at_a_time=False, timeout=1800):
    """
    fileshare.release on every node at once: the naive way. (seconds, ok, {node: failed states}).
    DB_ONE_AT_A_TIME: the db nodes afterwards, one by one (setting a lab up without breaking Galera:
    every member restarting at once leaves no Primary component).
    """
    lab, site = _lab(lab_name)
    dbs = site["roles"]["db"] if db_one_at_a_time else []
    groups = [[n["name"] for n in site["nodes"] if n["name"] not in dbs]] + [[db] for db in dbs]
    t = time.monotonic()
    ok, failures = True, {}
    for group in groups:
        code, out = salt_json(
            lab,
            "-L",
            ",".join(group),
            "state.apply",
            "fileshare.release",
            _pillar_arg(release),
            "-t",
            str(timeout),
            timeout=timeout + 60,
        )
        ok = ok and code == 0
        for node, states in out.items():
            if not isinstance(states, dict):
                failures[node] = [str(states)[:300]]
                continue
            bad = [
                f"{s.get('__id__', k)}: {s.get('comment', '')}"[:300]
                for k, s in states.items()
                if isinstance(s, dict) and s.get("result") is False
            ]
            if bad:
                failures[node] = bad
    return time.monotonic() - t, ok and not failures, failures


def recover(lab_name):
    """fileshare.galera_recover (a no-op on a whole cluster), then wait until healthy: the problems left."""
    lab, _ = _lab(lab_name)
    subprocess.run(
        lab.salt_cmd("salt-run") + ["state.orchestrate", "fileshare.galera_recover", "--log-level=quiet"],
        capture_output=True,
        text=True,
        timeout=1200,
        stdin=subprocess.DEVNULL,
    )
    return wait_healthy(lab_name, 300)


def step_label(data):
    """A short label for a job the orchestration publishes (state.event salt/job/*/new), or None."""
    fun = data.get("fun", "")
    # The pre-flight's module syncs run three nodes at a time: a mark per batch only crowds the plot.
    if fun in ("", "saltutil.find_job", "test.ping") or fun.startswith(("runner.", "saltutil.sync_")):
        return None
    args = data.get("arg") or []
    words = [a for a in args if isinstance(a, str) and "=" not in a]
    kwargs = {}
    for a in args:
        if isinstance(a, dict):
            kwargs.update({k: v for k, v in a.items() if not k.startswith("__")})
    tgt = data.get("tgt")
    tgt = ",".join(tgt) if isinstance(tgt, list) else str(tgt)
    if fun == "state.single" and words:
        what = words[0].split(".")[-1]
        return f"{what} {kwargs.get('name', '')} {kwargs.get('backend', '')}".strip() + f" @{tgt}"
    if fun in ("state.sls", "state.apply") and words:
        return f"{words[0]} @{tgt}"
    return f"{fun} @{tgt}"


def rolling_upgrade(lab_name, release, on_step=None, timeout=3600):
    """
    salt-run state.orchestrate fileshare.rolling_upgrade with RELEASE as pillar; ON_STEP(label) for
    every job it starts on nodes. (seconds, ok, failed steps [(title, comment)]).
    """
    from fileshare_lab import master

    lab, _ = _lab(lab_name)

    def on_job(data):
        label = step_label(data)
        if label:
            on_step(label)

    t = time.monotonic()
    with master.watch_jobs(lab, on_job) if on_step else contextlib.nullcontext():
        proc = subprocess.run(
            lab.salt_cmd("salt-run")
            + [
                "state.orchestrate",
                "fileshare.rolling_upgrade",
                _pillar_arg(release),
                "--out=json",
                "--log-level=quiet",
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    seconds = time.monotonic() - t
    return (
        seconds,
        proc.returncode == 0 and not failed_steps(proc.stdout),
        failed_steps(proc.stdout)
        or ([] if proc.returncode == 0 else [("salt-run", (proc.stdout + proc.stderr)[-2000:])]),
    )


def failed_steps(text):
    """[(step title, comment)] of the steps that failed in `state.orchestrate --out=json` output."""
    try:
        data = json.loads(text[text.index("{") :])
    except ValueError:
        return []
    found = []

    def walk(node):
        if isinstance(node, dict):
            for value in node.values():
                if isinstance(value, dict) and value.get("result") is False and "__id__" in value:
                    inner = []
                    _reasons(value.get("changes"), inner)
                    reasons = "; ".join([str(value.get("comment", ""))] + inner)
                    found.append((value["__id__"], reasons[:3000]))
                else:
                    walk(value)

    walk(data)
    return found


def _reasons(node, out):
    """Comments of the failed states inside a step's minion returns."""
    if isinstance(node, dict):
        if node.get("result") is False and node.get("comment"):
            out.append(str(node["comment"])[:800])
        if isinstance(node.get("ret"), dict):  # salt.function: {minion: output}
            out.extend(f"{m}: {v[-800:]}" for m, v in node["ret"].items() if isinstance(v, str))
        for value in node.values():
            _reasons(value, out)


# ---- checks -------------------------------------------------------------------------------------


def release_problems(lab_name, release, since, nodes=None):
    """
    What is not yet on RELEASE, per node (of NODES, default all): the release recorded, the pinned
    packages installed, HAProxy and the app servers naming it, and the restarted services started after
    SINCE (epoch seconds).
    """
    from fileshare_lab import topology

    lab, site = _lab(lab_name)
    problems = []
    fqdn, vip = site["vip"]["fqdn"], site["vip"]["address"]
    for entry in site["nodes"]:
        node = entry["name"]
        if nodes is not None and node not in nodes:
            continue
        holds = topology.suite_module("fileshare_topology").role_of(site, node)
        code, out = node_run(lab, node, "cat /etc/fileshare/release")
        if f"name={release['name']}" not in out:
            problems.append(f"{node}: /etc/fileshare/release says {out.strip()!r}")
        for role, packages in PACKAGES.items():
            if role not in holds:
                continue
            for package in packages:
                want = release.get("packages", {}).get(package)
                code, out = node_run(lab, node, f"dpkg-query -W -f='${{Version}}' {package}")
                if want and out.strip() != want:
                    problems.append(f"{node}: {package} {out.strip()}, not {want}")
        services = []
        if "app" in holds:
            code, out = node_run(
                lab,
                node,
                f"curl -s -D - -o /dev/null -H 'Host: {fqdn}' http://{entry['address']}:{site['ports']['app']}/health",
            )
            if f"X-Fileshare-Release-App: {release['name']}".lower() not in out.lower():
                problems.append(f"{node}: the app server does not name release {release['name']}")
            code, out = node_run(lab, node, "cat /etc/php/*/fpm/conf.d/99-fileshare-release.ini")
            if f'"{release["name"]}"' not in out:
                problems.append(f"{node}: php-fpm's release setting is {out.strip()[:100]!r}")
        if "load" in holds:
            code, out = node_run(
                lab,
                node,
                f"curl -sk -D - -o /dev/null --resolve {fqdn}:{site['ports']['https']}:{vip} "
                f"https://{fqdn}/health",
            )
            if f"X-Fileshare-Release-Load: {release['name']}".lower() not in out.lower():
                problems.append(f"{node}: HAProxy behind the VIP does not name release {release['name']}")
            code, out = node_run(lab, node, "grep -h X-Fileshare-Release-Load /etc/haproxy/haproxy.cfg")
            if f'"{release["name"]}"' not in out:
                problems.append(f"{node}: HAProxy's configuration does not name release {release['name']}")
        if "db" in holds:
            services += ["mariadb"]
        if "intermediate" in holds:
            services += ["redis-server", "redis-sentinel", "memcached"]
        if "storage" in holds:
            services += ["glusterd"]
        for service in services:
            code, out = node_run(
                lab, node, f'date -d "$(systemctl show -p ActiveEnterTimestamp --value {service})" +%s'
            )
            try:
                started = int(out.strip())
            except ValueError:
                problems.append(f"{node}: {service} has no start time ({out.strip()[:100]})")
                continue
            if started < since:
                problems.append(f"{node}: {service} runs since before the upgrade")
    return problems


def cluster_problems(lab_name):
    """What keeps the cluster from being healthy: the orchestration's own pre-flight gates, read-only."""
    lab, site = _lab(lab_name)
    roles, names = site["roles"], site["names"]
    loads = ",".join(roles["load"])
    serving = "fileshare_haproxy.serving"
    backends = names["backends"]
    gates = [(loads, serving, f"name={app}", f"backend={backends['app']}") for app in roles["app"]]
    gates += [(loads, serving, f"name={db}", f"backend={backends['db']}") for db in roles["db"]]
    gates += [
        (",".join(roles["db"]), "galera.quorate", f"name={names['galera_cluster']}"),
        (",".join(roles["intermediate"]), "fileshare_redis.quorate", f"name={names['sentinel_master']}"),
    ]
    problems = []
    for targets, state, *args in gates:
        code, out = salt_json(lab, "-L", targets, "state.single", state, *args, timeout=120)
        problems += _state_failures(out, code)
    return problems


def _state_failures(out, code):
    bad = []
    for node, states in out.items():
        if not isinstance(states, dict):
            bad.append(f"{node}: {str(states)[:200]}")
            continue
        for state in states.values():
            if isinstance(state, dict) and state.get("result") is False:
                bad.append(f"{node}: {state.get('comment', '')[:300]}")
    if code != 0 and not bad:
        bad.append(f"salt exited {code}: {str(out)[:300]}")
    return bad


def wait_healthy(lab_name, timeout=300):
    deadline = time.monotonic() + timeout
    while True:
        problems = cluster_problems(lab_name)
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(5)


# ---- the benchmark ------------------------------------------------------------------------------


def _measure(args, target, name, upgrade):
    from fileshare_bench.loadgen import LoadGenerator

    with LoadGenerator(target, rate=args.rate, workers=args.workers, name=name, prefill=True) as lg:
        time.sleep(args.settle)
        start = lg.now()
        lg.mark(f"{name}: upgrade starts")
        seconds, ok, failures = upgrade(lg)
        lg.mark(f"{name}: upgrade done ({'ok' if ok else 'FAILED'})")
        end = lg.now()
        time.sleep(args.settle)
    run = lg.run
    before = run.summary(0, start)
    during = run.summary(start, end + args.settle)
    row = {
        "strategy": name,
        "requests": during["requests"],
        "failed": during["failed"],
        "failed_by_op": during.get("failed_by_op"),
        "p50_ms": during["p50_ms"],
        "p99_ms": during["p99_ms"],
        "max_ms": during["max_ms"],
        "p99_before_ms": before["p99_ms"],
        "duration_seconds": round(seconds, 1),
        "error_window_seconds": during["error_window_seconds"],
        "upgrade_ok": ok,
        "upgrade_failures": failures,
    }
    return run, row


def _add_arguments(parser):
    parser.add_argument("--lab", type=cli.lab_name, default="fileshare", help="full_ha lab to upgrade")
    parser.add_argument("--rate", type=cli.number(1, 500), default=40.0, help="requests/second")
    # Each thread keeps its own schedule: with PROPFINDs of 1-5 s on a 2-core lab, 12 threads held only
    # ~11 of 40 req/s and 32 overloaded the app nodes; with the one-stat folder listing 12 held ~37.
    parser.add_argument("--workers", type=cli.number(1, 64, int), default=12, help="client threads")
    parser.add_argument(
        "--settle",
        type=cli.number(5, 600),
        default=30.0,
        help="seconds of load before and after each upgrade",
    )
    parser.add_argument("--out-dir", default=str(cli.BENCH_DIR), help="where the JSON, table and plot go")
    parser.add_argument("--only", choices=["naive", "rolling"], help="run one strategy only")


def _on_old(lab, old):
    """Put the lab on the OLD release (no load running) and wait until it is healthy again."""
    print(f"[rolling] lab on release {old['name']} (packages {old['packages']}), every node at once")
    seconds, ok, failures = apply_release(lab, old, db_one_at_a_time=True)
    if not ok:
        print(f"[rolling] WARNING: setting up the old release: {json.dumps(failures)[:2000]}")
    problems = recover(lab)
    if problems:
        raise BenchError(f"the lab is not healthy on the old release: {problems[:5]}")


def _previous(out_dir, only):
    path = out_dir / "rolling_upgrade.json"
    if not path.exists():
        return []
    return [row for name, row in json.loads(path.read_text())["strategies"].items() if name != only]


def _previous_runs(out_dir, only):
    from fileshare_bench.loadgen import Run
    from fileshare_bench.stats import Record

    runs = {}
    for path in sorted(out_dir.glob("rolling_upgrade_*_records.json")):
        data = json.loads(path.read_text())
        if data["name"] == only:
            continue
        run = Run(data["name"], data["started_at"])
        run.records = [Record(*r) for r in data["records"]]
        run.marks = [(m["t"], m["label"]) for m in data["marks"]]
        runs[data["name"]] = run
    return runs


def _run(args) -> int:
    from fileshare_bench.plot import timeline
    from fileshare_bench.stats import markdown_table
    from fileshare_bench.target import Target

    out_dir = Path(args.out_dir)
    target = Target.from_lab(args.lab)
    old, new = lab_releases(args.lab)
    runs, rows = {}, []
    strategies = {
        "naive": lambda lg: apply_release(args.lab, new),
        "rolling": lambda lg: rolling_upgrade(args.lab, new, on_step=lg.mark),
    }
    for name, upgrade in strategies.items():
        if args.only and name != args.only:
            continue
        _on_old(args.lab, old)
        print(f"[rolling] {name}: {args.rate} req/s through the VIP, upgrade to {new['name']}")
        runs[name], row = _measure(args, target, name, upgrade)
        rows.append(row)
        print(f"[rolling] {name}: {json.dumps(row)}")
        if name == "naive":
            # Every Galera member restarted at once: the cluster usually lost its Primary component.
            problems = wait_healthy(args.lab, 60)
            row["healthy_after"] = not problems
            if problems:
                print(
                    f"[rolling] after the naive upgrade the cluster is unhealthy: {problems[:5]}; recovering"
                )
                problems = recover(args.lab)
                if problems:
                    raise BenchError(f"the lab did not recover after the naive upgrade: {problems[:5]}")
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.only:
        # One strategy measured now: the other one's row and records from the last run, if any.
        rows, runs = _previous(out_dir, args.only) + rows, {**_previous_runs(out_dir, args.only), **runs}
    result = {
        "lab": args.lab,
        "rate": args.rate,
        "workers": args.workers,
        "settle_seconds": args.settle,
        "old": old,
        "new": new,
        "strategies": {r["strategy"]: r for r in rows},
    }
    (out_dir / "rolling_upgrade.json").write_text(json.dumps(result, indent=2) + "\n")
    for name, run in runs.items():
        (out_dir / f"rolling_upgrade_{name}_records.json").write_text(json.dumps(run.to_dict()) + "\n")
    table = markdown_table(
        rows,
        [
            ("strategy", "strategy"),
            ("requests", "requests"),
            ("failed", "failed"),
            ("p50_ms", "p50 ms"),
            ("p99_ms", "p99 ms"),
            ("p99_before_ms", "p99 before ms"),
            ("max_ms", "max ms"),
            ("duration_seconds", "upgrade s"),
            ("error_window_seconds", "error window s"),
            ("upgrade_ok", "upgrade ok"),
        ],
    )
    changes = ", ".join(f"{k} {old['packages'][k]} -> {v}" for k, v in new["packages"].items())
    (out_dir / "rolling_upgrade.md").write_text(
        f"Upgrade {old['name']} -> {new['name']} ({changes}) under {args.rate:g} req/s ({args.workers} "
        f"workers) through the VIP; window = the upgrade + {args.settle:g} s after it.\n\n" + table
    )
    timeline(
        runs, out_dir / "rolling_upgrade.png", title=f"release {old['name']} -> {new['name']} under load"
    )
    print(table)
    print(f"[rolling] wrote {out_dir}/rolling_upgrade.json, .md, .png")
    rolling = result["strategies"].get("rolling")
    if rolling:
        misses = target_misses(rolling)
        print("[rolling] targets: " + ("all met" if not misses else "MISSED: " + "; ".join(misses)))
        if misses:
            return 1
    return 0


# Issue 5's promise for fileshare.rolling_upgrade under load.
TARGET_MIN_REQUESTS = 10_000
TARGET_P99_FACTOR = 2.0


def target_misses(row: dict) -> list[str]:
    """What a rolling_upgrade row misses of the targets: the upgrade ran, no request failed, at least
    TARGET_MIN_REQUESTS in the window, p99 at most TARGET_P99_FACTOR x the p99 before."""
    misses = []
    if not row["upgrade_ok"]:
        misses.append(f"the upgrade failed: {row['upgrade_failures']}")
    if row["failed"]:
        misses.append(f"{row['failed']} failed requests ({row.get('failed_by_op')})")
    if row["requests"] < TARGET_MIN_REQUESTS:
        misses.append(f"{row['requests']} requests in the window, {TARGET_MIN_REQUESTS} wanted")
    limit = TARGET_P99_FACTOR * (row["p99_before_ms"] or 0)
    if row["p99_ms"] is None or row["p99_ms"] > limit:
        misses.append(f"p99 {row['p99_ms']} ms over {TARGET_P99_FACTOR:g} x {row['p99_before_ms']} ms before")
    return misses


cli.register(
    "rolling",
    "the same release upgrade under load, naive (all nodes at once) vs fileshare.rolling_upgrade",
    _add_arguments,
    _run,
)
