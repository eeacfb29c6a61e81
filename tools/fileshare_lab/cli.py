"""fileshare-lab: LXC nodes of the example site on one machine, a Salt master on the host.

    fileshare-lab [--lab NAME] [--net A.B.C] COMMAND ...

See docs/lab.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from . import containers, host, images, logic, master, network, topology
from .host import Lab, say
from .logic import LabError

USAGE = """fileshare-lab [--lab NAME] [--net A.B.C] [--app-nodes N] COMMAND

commands:
  up ARCH                 fresh bare nodes of ARCH from the example site, master, keys accepted
  converge ARCH           sync the master, run `state.orchestrate fileshare.ARCH` twice, write the report
  status                  bridge, cache, master and nodes of the lab
  shell NODE [-- CMD...]  a shell (or CMD) in NODE
  run NODE CMD...         run CMD in NODE non-interactively (one argument: through sh -c)
  salt ARGS...            `salt` against the lab master
  salt-run ARGS...        `salt-run` against the lab master
  down                    stop and destroy nodes, master and bridge (base image and cache stay)
  kill NODE               hard stop NODE
  freeze NODE [--timeout S]
                          freeze NODE's processes; returns within S seconds (default 5) even if
                          some task cannot stop, naming it
  partition NODE          detach NODE from the bridge, silently
  heal NODE               undo kill, freeze or partition
  outsider up|down        a node on the bridge that is no site member (address not in pillar, no
                          minion): `run outsider CMD` probes the site from outside
  rebuild NODE            destroy NODE and bring it back bare (new key, accepted); then converge again
"""

NODE_COMMANDS = {"shell", "run", "kill", "freeze", "partition", "heal", "rebuild"}
ARCH_COMMANDS = {"up", "converge"}
PASSTHROUGH = {"salt", "salt-run"}
PLAIN = {"status", "down"}
COMMANDS = NODE_COMMANDS | ARCH_COMMANDS | PASSTHROUGH | PLAIN | {"outsider"}


def _split(argv: list[str]) -> tuple[list[str], str | None, list[str]]:
    """Global options, the command, and its arguments (passed through untouched)."""
    i = 0
    while i < len(argv):
        if argv[i] in COMMANDS:
            return argv[:i], argv[i], argv[i + 1 :]
        i += 2 if argv[i] in ("--lab", "--net", "--app-nodes") else 1
    return argv, None, []


class _FreezeParser(argparse.ArgumentParser):
    """freeze's options: one usage line through LabError instead of argparse's exit."""

    def error(self, message):
        raise LabError(f"usage: {self.prog} NODE [--timeout SECONDS] ({message})")


def _parse(argv: list[str]):
    globals_, command, rest = _split(argv)
    parser = argparse.ArgumentParser(prog="fileshare-lab", usage=USAGE, add_help=True)
    parser.add_argument("--lab", default="fileshare", help="lab name (default fileshare)")
    parser.add_argument("--net", default=None, help="first three octets of the lab's /24")
    parser.add_argument("--app-nodes", default=None, help="full_ha's app nodes, 2-9 (default 2)")
    opts, extra = parser.parse_known_args(globals_)
    if extra:
        raise LabError(f"unknown command or option {extra[0]!r}\n\n" + USAGE)
    if command is None:
        raise LabError("no command given\n\n" + USAGE)
    if command == "freeze":
        fparser = _FreezeParser(prog="fileshare-lab freeze", add_help=False)
        fparser.add_argument("node")
        fparser.add_argument("--timeout", type=float, default=logic.FREEZE_TIMEOUT)
        fopts = fparser.parse_args(rest)
        if not 0 < fopts.timeout <= 600:
            raise LabError(f"freeze --timeout takes 0 < SECONDS <= 600, not {fopts.timeout:g}")
        opts.timeout, rest = fopts.timeout, [fopts.node]
    elif command in ARCH_COMMANDS or command in NODE_COMMANDS - {"shell", "run"}:
        if len(rest) != 1:
            raise LabError(f"usage: fileshare-lab {command} {'ARCH' if command in ARCH_COMMANDS else 'NODE'}")
    elif command in PLAIN and rest:
        raise LabError(f"usage: fileshare-lab {command} (no arguments)")
    elif command == "shell" and (not rest or (len(rest) > 1 and rest[1] != "--")):
        raise LabError("usage: fileshare-lab shell NODE [-- CMD...]")
    elif command == "run" and len(rest) < 2:
        raise LabError("usage: fileshare-lab run NODE CMD...")
    elif command == "outsider":
        if len(rest) != 1:
            raise LabError("usage: fileshare-lab outsider up|down")
        logic.check_outsider_action(rest[0])
    return opts, command, rest


def _need_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (LXC containers, bridges)")


# --- up -----------------------------------------------------------------------------------------


def cmd_up(lab: Lab, arch: str) -> int:
    t0 = time.monotonic()
    host.check_arch(arch)
    network.check_net_free(lab)
    timings = {}
    t = time.monotonic()
    pillar = master.compile_pillar(lab, arch)
    site = topology.derive(pillar)
    nodes = logic.nodes_from_topology(site, lab.net)
    service = logic.service_info(site, pillar["fileshare"].get("product"))
    domain = site["domain"]
    say(f"lab {lab.name}: {arch} on {lab.net}.0/24, nodes {', '.join(n['name'] for n in nodes)}")
    timings["pillar"] = time.monotonic() - t

    t = time.monotonic()
    network.ensure_host_limits()
    network.ensure_bridge(lab)
    images.ensure_cache(lab.paths)
    timings["bridge_and_cache"] = time.monotonic() - t

    t = time.monotonic()
    images.ensure_wheels(lab.paths)
    images.ensure_base(lab.paths)
    images.ensure_mirror(lab)
    timings["base_and_mirror"] = time.monotonic() - t

    t = time.monotonic()
    master.stop_master(lab)
    old = containers.containers(lab)
    containers.destroy_containers(lab, old)
    if old:
        say(f"destroyed old containers: {', '.join(old)}")
    timings["cleanup"] = time.monotonic() - t

    t = time.monotonic()
    master.start_master(lab, arch)
    timings["master"] = time.monotonic() - t

    t = time.monotonic()
    made = [containers.create_node(lab, n, nodes, domain) for n in nodes]
    lab.save(
        {
            "lab": lab.name,
            "architecture": arch,
            "net": lab.net,
            "app_nodes": lab.app_nodes,
            "bridge": lab.bridge,
            "nodes": made,
            "service": service,
            "domain": domain,
        }
    )
    for n in made:
        containers.start_container(lab, n["container"])
    say(f"{len(made)} node(s) cloned and started in {logic.format_seconds(time.monotonic() - t)}")
    timings["nodes"] = time.monotonic() - t

    t = time.monotonic()
    master.wait_ping(lab, [n["name"] for n in made])
    timings["keys_and_ping"] = time.monotonic() - t
    say(f"all {len(made)} minion(s) answer test.ping ({logic.format_seconds(timings['keys_and_ping'])})")
    total = time.monotonic() - t0
    lab.save(
        {**lab.saved, "up_seconds": round(total, 2), "up_steps": {k: round(v, 2) for k, v in timings.items()}}
    )
    print(
        f"\nlab {lab.name} is up: {arch} in {logic.format_seconds(total)} "
        f"({', '.join(f'{k} {logic.format_seconds(v)}' for k, v in timings.items())})"
    )
    for n in made:
        print(f"  {n['name']:8} {n['address']:15} container {n['container']}, veth {n['veth']}")
    print(f"next: fileshare-lab --lab {lab.name} converge {arch}")
    return 0


# --- converge -------------------------------------------------------------------------------


def _json_from(text: str):
    """The first JSON document starting a line (salt-run may print warnings around it)."""
    offset = 0
    for line in text.splitlines(keepends=True):
        if line[:1] in ("{", "["):
            try:
                return json.JSONDecoder().raw_decode(text[offset:])[0]
            except ValueError:
                pass
        offset += len(line)
    raise ValueError("no JSON")


def _job_line(line: str) -> str | None:
    """A progress line for a job the orchestration starts on nodes (from `state.event` output)."""
    data = logic.new_job(line)
    return None if data is None else _job_text(data)


def _job_text(data: dict) -> str | None:
    fun = data.get("fun", "")
    if fun in ("saltutil.find_job", "test.ping", "") or fun.startswith("runner."):
        return None
    args = [a for a in data.get("arg", []) if isinstance(a, str) and "=" not in a]
    nodes = data.get("minions") or []
    return f"  {fun} {' '.join(args[:2])} on {','.join(nodes) if nodes else data.get('tgt')}"


def _orchestrate(lab: Lab, arch: str, label: str) -> tuple[float, dict | list, int]:
    say(f"{label}: salt-run state.orchestrate fileshare.{arch}")
    t = time.monotonic()

    def progress(data):
        text = _job_text(data)
        if text:
            say(f"{text} (+{logic.format_seconds(time.monotonic() - t)})")

    with master.watch_jobs(lab, progress):
        proc = host.run(
            lab.salt_cmd("salt-run")
            + ["state.orchestrate", f"fileshare.{arch}", "--out=json", "--log-level=quiet"],
            check=False,
            timeout=3600,
        )
    seconds = time.monotonic() - t
    try:
        out = _json_from(proc.stdout)
    except ValueError:
        raise LabError(
            f"{label}: orchestration gave no result (exit {proc.returncode}):\n"
            f"{(proc.stdout + proc.stderr)[-3000:]}"
        ) from None
    say(f"{label}: finished in {logic.format_seconds(seconds)}")
    return seconds, out, proc.returncode


def _print_failures(out) -> None:
    for f in logic.failures(out):
        print(f"FAILED step: {f['step']}\n  {f['comment'].strip()}", file=sys.stderr)
        for s in f["states"][:10]:
            print(f"  on {s['node']}: {s['state']}: {s['comment'].strip()[:800]}", file=sys.stderr)


def cmd_converge(lab: Lab, arch: str) -> int:
    host.check_arch(arch)
    saved = lab.require_up()
    if saved["architecture"] != arch:
        raise LabError(
            f"lab {lab.name} is up with {saved['architecture']}, not {arch}: "
            f"run `fileshare-lab --lab {lab.name} up {arch}` first"
        )
    if not master.master_pids(lab):
        raise LabError(f"the salt-master of lab {lab.name} is not running: run `up {arch}` again")
    names = [n["name"] for n in saved["nodes"]]
    steps = []

    def step(name: str, cmd: list[str]) -> None:
        t = time.monotonic()
        host.run(cmd, timeout=600)
        steps.append({"name": name, "seconds": round(time.monotonic() - t, 2)})
        say(f"{name}: {logic.format_seconds(steps[-1]['seconds'])}")

    # What an operator does once: the master gets the suite's runners and fileshare_pillar. The nodes
    # get their modules from the orchestration's own first step, as on a site (a sync_all of every
    # node here cost ~18 s of every converge and could hide a step that needs a module it lacks).
    step("sync master", lab.salt_cmd("salt-run") + ["saltutil.sync_all", "--log-level=quiet"])

    seconds, out, _ = _orchestrate(lab, arch, "converge")
    steps.append({"name": "converge", "seconds": round(seconds, 2)})
    report = {
        "architecture": arch,
        "lab": lab.name,
        "nodes": names,
        "converge_seconds": round(seconds, 2),
        "noop_seconds": None,
        "noop_changes": None,
        "service": saved.get("service"),
        "up_seconds": saved.get("up_seconds"),
        "steps": steps,
    }
    failed = not isinstance(out, dict) or bool(logic.failures(out))
    with contextlib.suppress(LabError):
        report["orchestrate_steps"] = logic.step_summaries(out)
    if not failed:
        report["changes"] = logic.count_changes(out)
        nseconds, nout, _ = _orchestrate(lab, arch, "second run (expect no changes)")
        steps.append({"name": "noop", "seconds": round(nseconds, 2)})
        report["noop_seconds"] = round(nseconds, 2)
        failed = bool(logic.failures(nout))
        if failed:
            out = nout
        else:
            report["noop_changes"] = logic.count_changes(nout)
    report["result"] = "failed" if failed else "ok"
    path = Path(host.REPO, "build", "lab", arch, "report.json")
    # The per-lab copy lets labs of one checkout converge side by side without clobbering each
    # other's record (the lab tier's --reuse-deployed reads it).
    for where in (path, Path(host.REPO, "build", "lab", "labs", lab.name, arch, "report.json")):
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_text(json.dumps(report, indent=2) + "\n")

    print()
    for s in report.get("orchestrate_steps", []):
        print(f"  {s['seconds']:8.1f}s  {s['changes']:4d} changed  {s['name']}")
    if failed:
        sys.stdout.flush()
        try:
            _print_failures(out)
        except LabError as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
        print(f"report: {path}", file=sys.stderr)
        return 1
    svc = saved.get("service") or {}
    print(
        f"\n{arch} converged in {logic.format_seconds(report['converge_seconds'])} "
        f"({report['changes']} changes); second run {logic.format_seconds(report['noop_seconds'])} "
        f"with {report['noop_changes']} changes"
    )
    if svc.get("vip"):
        print(
            f"service: https://{svc['fqdn']}/ at {svc['vip']} ({svc.get('product')})\n"
            f"  from the host: curl -k --resolve {svc['fqdn']}:443:{svc['vip']} https://{svc['fqdn']}/"
        )
    print(f"report: {path}")
    return 0


# --- the rest -------------------------------------------------------------------------------


def cmd_status(lab: Lab) -> int:
    saved = lab.saved
    link = network.link(lab.bridge)
    print(
        f"lab {lab.name}: {saved.get('architecture', 'not up')}, subnet {lab.net}.0/24, "
        f"bridge {lab.bridge} {'present' if link else 'absent'}"
    )
    print(f"  master: {'running' if master.master_pids(lab) else 'stopped'} ({lab.master_file})")
    cache = host.pids_with(f"{lab.paths['cache_dir']}/etc", "apt-cacher-ng")
    print(f"  apt cache: {'running' if cache else 'stopped'} (:{logic.CACHE_PORT})")
    mirror = "running" if images.mirror_pids(lab) else "stopped"
    print(f"  Python mirror: {mirror} (http://{lab.addr}:{logic.MIRROR_PORT}/wheels/)")
    base = os.path.exists(lab.paths["base_marker"])
    print(f"  base image: {'ready' if base else 'not built'}")
    for n in saved.get("nodes", []):
        state = containers.node_state(lab, n["container"])
        attached = network.veth_master(n["veth"])
        link_state = (
            "no veth" if attached is None else ("on bridge" if attached == lab.bridge else "PARTITIONED")
        )
        print(f"  {n['name']:8} {n['address']:15} {state:8} {link_state}")
    return 0


def cmd_down(lab: Lab) -> int:
    gone = containers.containers(lab)
    containers.destroy_containers(lab, gone)
    if gone:
        say(f"destroyed {', '.join(gone)}")
    master.stop_master(lab)
    images.stop_mirror(lab)
    network.delete_bridge(lab)
    if os.path.exists(lab.paths["state"]):
        os.unlink(lab.paths["state"])
    say(f"lab {lab.name} is down (base image and apt cache kept)")
    return 0


def cmd_fault(lab: Lab, command: str, name: str, timeout: float = logic.FREEZE_TIMEOUT) -> int:
    node = lab.node(name)
    if command == "kill":
        containers.kill(lab, node)
        say(f"{name} killed (hard stop)")
    elif command == "freeze":
        say(containers.freeze(lab, node, timeout))
    elif command == "partition":
        network.partition(lab, node)
        say(f"{name} partitioned ({node['veth']} detached from {lab.bridge})")
    else:
        # Thaw before reattaching: a node that finds itself reconnected should run at once, not
        # after its peers saw it back on the wire yet silent.
        done = containers.revive(lab, node)
        if network.reattach(lab, node):
            done.append(f"reattached to {lab.bridge}")
        say(f"{name} healed: {', '.join(done) or 'nothing to undo'}")
    return 0


def cmd_rebuild(lab: Lab, name: str) -> int:
    """A node lost and replaced: a fresh bare clone of the base under the same name and address, its
    old key forgotten by the master so the new one is accepted. The cluster layers bring it back at
    the next `converge` (the runbook's job, not this command's)."""
    t = time.monotonic()
    saved = lab.require_up()
    node = lab.node(name)
    containers.destroy_container(lab, node["container"])
    master.forget_minion(lab, name)
    entry = {k: v for k, v in node.items() if k not in ("container", "veth")}
    made = containers.create_node(lab, entry, saved["nodes"], saved.get("domain", ""))
    containers.start_container(lab, made["container"])
    master.wait_ping(lab, [name])
    say(f"{name} rebuilt bare and answers test.ping ({logic.format_seconds(time.monotonic() - t)})")
    return 0


def cmd_outsider(lab: Lab, action: str) -> int:
    saved = lab.require_up()
    old = saved.get("outsider")
    if old:
        containers.destroy_container(lab, old["container"])
        lab.save({k: v for k, v in saved.items() if k != "outsider"})
    if action == "down":
        say(f"outsider of lab {lab.name} is gone" if old else f"lab {lab.name} had no outsider")
        return 0
    made = containers.create_outsider(lab)
    lab.save({**lab.saved, "outsider": made})
    containers.start_container(lab, made["container"])
    say(
        f"outsider up at {made['address']} on {lab.bridge} (no minion, not in pillar): "
        f"fileshare-lab --lab {lab.name} run outsider CMD"
    )
    return 0


def cmd_exec(lab: Lab, command: str, rest: list[str]) -> int:
    node = lab.node(rest[0])
    if command == "shell":
        cmd = rest[2:] or ["/bin/bash", "-l"]
        argv = containers.attach_cmd(lab, node["container"], cmd, interactive=True)
        os.execvp(argv[0], argv)
    cmd = rest[1:]
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if len(cmd) == 1:
        cmd = ["/bin/sh", "-c", cmd[0]]
    proc = subprocess.run(containers.attach_cmd(lab, node["container"], cmd), stdin=subprocess.DEVNULL)
    return proc.returncode


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        opts, command, rest = _parse(argv)
        lab = Lab(opts.lab, opts.net, opts.app_nodes)
        if command in PASSTHROUGH:
            if not os.path.exists(lab.master_file):
                raise LabError(f"lab {lab.name} has no master yet: run `up ARCH` first")
            cmd = lab.salt_cmd(command) + rest
            os.execv(cmd[0], cmd)
        # Validate every argument before anything on the machine changes.
        if command in ARCH_COMMANDS:
            host.check_arch(rest[0])
        if command in NODE_COMMANDS:
            lab.node(rest[0])
        if command == "outsider":
            lab.require_up()
        _need_root()
        if command in ("up", "converge", "down", "rebuild", "outsider"):
            # One changing command per lab at a time; other labs go on in parallel.
            with host.flock(f"{lab.paths['locks']}/lab-{lab.name}.lock", f"{command} of lab {lab.name}"):
                if command == "up":
                    return cmd_up(lab, rest[0])
                if command == "converge":
                    return cmd_converge(lab, rest[0])
                if command == "outsider":
                    return cmd_outsider(lab, rest[0])
                if command == "rebuild":
                    return cmd_rebuild(lab, rest[0])
                return cmd_down(lab)
        if command == "status":
            return cmd_status(lab)
        if command in ("shell", "run"):
            return cmd_exec(lab, command, rest)
        return cmd_fault(lab, command, rest[0], getattr(opts, "timeout", logic.FREEZE_TIMEOUT))
    except LabError as exc:
        print(f"fileshare-lab: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return host.closed_pipe()


if __name__ == "__main__":
    sys.exit(main())
