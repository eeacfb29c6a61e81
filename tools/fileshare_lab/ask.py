"""The cluster's state as the suite's own execution modules report it, for the lab and bench tools
and the lab tests. Nothing here parses a product's output: HAProxy's runtime API is
``fileshare_haproxy``'s, Sentinel's answers ``fileshare_redis``'s, a Galera node's status ``galera``'s,
the Gluster volume's heal status ``fileshare_gluster``'s.

Two ways to ask, one parser behind both:

- through the lab's salt-master (:func:`call`): ``salt NODE module.function ARGS --out=json``, what an
  operator would type; every check that is not a stopwatch uses this;
- inside the node (:func:`in_node`): the same module, as Salt synced it to the minion, imported by the
  minion's own Python and called there. A Salt round trip takes 1-15 s on a loaded lab host (measured
  with `salt lb1 fileshare_haproxy.backend`: 17.7 s while a full_ha lab converged beside it), too slow
  for probes that time a failover every 0.1-0.5 s (in the node: 0.2-0.7 s a call), and a
  partitioned node cannot reach the master at all, while lxc-attach still reaches it.
"""

from __future__ import annotations

import json
import subprocess
import time

from .host import Lab
from .logic import LabError, failures

# Where a minion keeps the modules `saltutil.sync_modules` gave it, and the Python it runs them with.
EXTMODS = "/var/cache/salt/minion/extmods/modules"
MINION_PYTHON = "/opt/salt/bin/python3"

# Salt's answer when a function raised or does not exist (--out=json gives it as the return string).
_SALT_ERRORS = ("ERROR", "The minion function caused an exception", "Passed invalid arguments")

# In the node: import the synced module, call FUN(*ARGS, **KWARGS), print {"return"} or {"error"}. The
# module's few defaults that ask Salt (config.get of a socket path, fileshare_topology.get: the tools
# pass every port and name themselves) get their built-in default. The
# modules take only their exception class from Salt, and importing the salt package costs ~2 s in a
# node (fileshare_haproxy.backend in lb1 of a full_ha lab: 2.4 s with it, 0.2-0.4 s without,
# measured): a stand-in gives that class.
IN_NODE = r"""
import json, sys, types
sys.path.insert(0, EXTMODS)
salt, salt.exceptions = types.ModuleType("salt"), types.ModuleType("salt.exceptions")
salt.exceptions.CommandExecutionError = type("CommandExecutionError", (Exception,), {})
sys.modules.update({"salt": salt, "salt.exceptions": salt.exceptions})
call = json.loads(sys.stdin.read())
module = __import__(call["module"])
module.__salt__ = {
    "config.get": lambda key, default=None: default,
    "fileshare_topology.get": lambda key=None, default=None: default,
}
try:
    out = {"return": getattr(module, call["fun"])(*call["args"], **call["kwargs"])}
except Exception as exc:
    out = {"error": type(exc).__name__ + ": " + str(exc)}
print(json.dumps(out, default=str))
""".replace("EXTMODS", repr(EXTMODS))


def salt_json(lab: Lab, target: str, fun: str, *args: str, timeout: float = 120, tgt: str = "glob") -> dict:
    """{minion: return} of `salt TARGET FUN ARGS --out=json --static`; {} when nothing answered."""
    argv = lab.salt_cmd("salt") + ([] if tgt == "glob" else [f"--{tgt}"])
    argv += [target, fun, *args, "--out=json", "--static", "--log-level=quiet", "-t", str(int(timeout))]
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout + 30, stdin=subprocess.DEVNULL
        )
        out = json.loads(proc.stdout or "{}")
    except (ValueError, subprocess.TimeoutExpired):
        return {}
    return out if isinstance(out, dict) else {}


def orchestrate(lab: Lab, sls: str, pillar: dict | None = None, timeout: float = 1800):
    """(seconds, output, failed steps) of `salt-run state.orchestrate SLS [pillar=...]` on the lab's
    master; an answer that is not an orchestration's (none, a render error) is one failed step."""
    argv = lab.salt_cmd("salt-run") + ["state.orchestrate", sls, "--out=json", "--log-level=quiet"]
    if pillar:
        argv.append("pillar=" + json.dumps(pillar))
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    seconds = time.monotonic() - started
    try:
        out = json.loads(proc.stdout)
        return seconds, out, failures(out)
    except (ValueError, LabError) as exc:
        said = (proc.stdout + proc.stderr).strip()[-1500:]
        return (
            seconds,
            {},
            [{"step": f"salt-run state.orchestrate {sls}", "comment": f"{exc}: {said}", "states": []}],
        )


def failed(ret) -> bool:
    """Is a minion's return Salt's report of a failure rather than the function's value?"""
    return isinstance(ret, str) and (ret.startswith(_SALT_ERRORS) or ret.endswith("is not available."))


def call(lab: Lab, node: str, fun: str, *args: str, timeout: float = 120):
    """FUN's return on NODE through the lab's master; a LabError when the node does not answer or the
    function fails."""
    out = salt_json(lab, node, fun, *args, timeout=timeout)
    if node not in out:
        raise LabError(f"{node} did not answer `salt {node} {fun}` within {timeout:.0f} s")
    if failed(out[node]):
        raise LabError(f"`salt {node} {fun} {' '.join(args)}`: {out[node]}")
    return out[node]


def in_node(run, module: str, fun: str, *args, **kwargs):
    """``module.fun(*args, **kwargs)`` run inside a node by RUN ((argv, stdin text) -> CompletedProcess:
    the lab's lxc-attach); its return, or a LabError with the node's reason. The call travels on
    stdin: its arguments may hold a password, which a command line would show in ``ps``."""
    call = {"module": module, "fun": fun, "args": list(args), "kwargs": kwargs}
    proc = run([MINION_PYTHON, "-c", IN_NODE], json.dumps(call))
    try:
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise LabError(f"{module}.{fun} in the node: {(proc.stderr or proc.stdout).strip()[-300:]}") from None
    if "error" in out:
        raise LabError(f"{module}.{fun} in the node: {out['error']}")
    return out["return"]


# ---- what each layer says -------------------------------------------------------------------------


def statuses(backend: dict) -> dict[str, str]:
    """{server: status} of a ``fileshare_haproxy.backend`` return (``UP``, ``DOWN 1/2``, ``MAINT`` ...).
    Servers HAProxy does not check (``no check``: the app backend's fail-open ``<node>-open`` backups)
    are left out: they say nothing about a node's health."""
    return {
        view["server"]: view["status"] for view in backend.get("servers", []) if view["status"] != "no check"
    }


def backend_verdict(backend: dict, expected: int, masters: bool = False) -> list[str]:
    """What is wrong with a ``fileshare_haproxy.backend`` return (empty: nothing): EXPECTED servers,
    every one UP; with MASTERS, exactly one UP (the Redis front's check passes on the master only)."""
    got = statuses(backend)
    up = [s for s, status in got.items() if status.startswith("UP")]
    wrong = [] if len(got) == expected else [f"{len(got)} servers, {expected} expected"]
    if masters and len(up) != 1:
        wrong.append(f"{len(up)} servers UP, the master alone expected: {got}")
    if not masters and len(up) != len(got):
        wrong.append(f"not UP: {sorted(set(got) - set(up))}")
    return wrong


def node_of(topology: dict, host_port: str | None) -> str | None:
    """The node whose address is the host of HOST_PORT (a Sentinel answer), or the address itself."""
    if not host_port:
        return None
    address = host_port.rpartition(":")[0] or host_port
    return next((n["name"] for n in topology["nodes"] if n["address"] == address), address)


def sentinel_args(topology: dict) -> dict:
    """The keyword arguments of ``fileshare_redis.sentinel_*``: the site's master name and port."""
    return {"name": topology["names"]["sentinel_master"], "port": topology["ports"]["sentinel"]}


def salt_kwargs(kwargs: dict) -> list[str]:
    """KEY=VALUE arguments for the salt command line (values as YAML/JSON Salt parses)."""
    return [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in kwargs.items()]


def heal_status(lab: Lab, topology: dict, node: str | None = None) -> dict:
    """``fileshare_gluster.heal_status`` of the site's volume, asked on NODE (default: the first
    storage node): ``{bricks, down, pending}``."""
    node = node or topology["roles"]["storage"][0]
    return call(lab, node, "fileshare_gluster.heal_status", topology["names"]["volume"], timeout=90)
