"""
HAProxy's runtime API (the ``stats socket ... level admin`` of the load nodes): read the servers of a
backend, drain / ready / maint one of them, wait until its sessions are gone or its checks pass.

Two layers, as in the rest of the suite:

- pure functions (:func:`parse_stat`, :func:`parse_servers_state`, :func:`server_view`,
  :func:`current_writer`, :func:`state_command`) take the socket's text and return data; unit tests
  hit these directly;
- the thin outer layer talks to the unix socket (one command per connection: HAProxy's
  non-interactive mode answers and closes).

BACKEND arguments take HAProxy's backend name or the site's key for it (``app``, ``db``, ``redis``:
``names:backends`` of the topology), so operators need not know the names.

A server's *admin* state is what an operator (or this module) set: ``ready``, ``drain`` (no new
traffic, the current sessions finish) or ``maint`` (no traffic, health checks stopped). Its
*status* is what the health checks found (``UP``, ``DOWN``, ...), as ``show stat`` prints it.
"""

import csv
import io
import logging
import socket
import time

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "fileshare_haproxy"

SOCKET = "/run/haproxy/admin.sock"
STATES = ("ready", "drain", "maint")

# srv_admin_state bits of `show servers state` (HAProxy's SRV_ADMF_*).
ADMIN_FLAGS = {
    0x01: "forced maint",
    0x02: "maint inherited from a tracked server",
    0x04: "maint from the configuration (disabled)",
    0x08: "forced drain",
    0x10: "drain inherited from a tracked server",
    0x20: "maint: address not resolved",
    0x40: "maint: hostname not resolved",
}
MAINT_MASK = 0x01 | 0x02 | 0x04 | 0x20 | 0x40
DRAIN_MASK = 0x08 | 0x10
# srv_op_state (SRV_ST_*).
OP_STATES = {0: "stopped", 1: "starting", 2: "running", 3: "stopping"}


def __virtual__():
    return __virtualname__


# ---- pure layer ---------------------------------------------------------------------------------


def parse_stat(text):
    """
    ``show stat`` (CSV whose header line starts with ``# ``) -> list of dicts, one per proxy line
    (frontends, backends and servers), keyed by the header's column names.

    CLI Example:

    .. code-block:: bash

        salt-call fileshare_haproxy.parse_stat "$(echo 'show stat' | socat - ...)"
    """
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        raise CommandExecutionError("not the output of `show stat` (no '# pxname,...' header)")
    header = lines[0][2:].split(",")
    rows = []
    for record in csv.reader(io.StringIO("\n".join(lines[1:]))):
        row = dict(zip(header, record, strict=False))
        if row.get("pxname") and row.get("svname"):
            rows.append(row)
    return rows


def parse_servers_state(text):
    """
    ``show servers state`` (format version 1) -> list of dicts with ``backend``, ``server``,
    ``address``, ``op_state`` (int), ``admin_state`` (int), ``weight`` (int) and the raw columns.

    CLI Example:

    .. code-block:: bash

        salt-call fileshare_haproxy.parse_servers_state "$(echo 'show servers state' | socat - ...)"
    """
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if not lines or lines[0].strip() != "1":
        raise CommandExecutionError("not the output of `show servers state` (format version 1 expected)")
    header = None
    rows = []
    for line in lines[1:]:
        if line.startswith("#"):
            header = line.lstrip("# ").split()
            continue
        if header is None:
            raise CommandExecutionError("`show servers state` output has no column header")
        raw = dict(zip(header, line.split(), strict=False))
        try:
            rows.append(
                {
                    "backend": raw["be_name"],
                    "server": raw["srv_name"],
                    "address": raw.get("srv_addr", ""),
                    "op_state": int(raw["srv_op_state"]),
                    "admin_state": int(raw["srv_admin_state"]),
                    "weight": int(raw.get("srv_uweight", 0)),
                    "raw": raw,
                }
            )
        except (KeyError, ValueError) as exc:
            raise CommandExecutionError(f"unreadable `show servers state` line {line!r}: {exc}") from exc
    return rows


def admin_name(admin_state):
    """srv_admin_state bits -> ``maint``, ``drain`` or ``ready`` (maint wins over drain)."""
    admin_state = int(admin_state)
    if admin_state & MAINT_MASK:
        return "maint"
    if admin_state & DRAIN_MASK:
        return "drain"
    return "ready"


def admin_reasons(admin_state):
    """srv_admin_state bits -> the list of reasons HAProxy has for them (empty when ready)."""
    return [reason for bit, reason in sorted(ADMIN_FLAGS.items()) if int(admin_state) & bit]


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def server_view(stat_rows, state_rows, backend, server):
    """
    One server as the runbook needs it: ``{"backend", "server", "status", "sessions", "admin",
    "admin_reasons", "backup", "op_state"}``; None when the backend has no such server.
    ``status`` is ``show stat``'s (``UP``, ``DOWN``, ``MAINT``, ``DRAIN``, ``UP 1/2`` ...) and
    ``sessions`` its current sessions (scur).
    """
    stat = next((r for r in stat_rows if r.get("pxname") == backend and r.get("svname") == server), None)
    state = next((r for r in state_rows if r["backend"] == backend and r["server"] == server), None)
    if stat is None and state is None:
        return None
    admin_state = state["admin_state"] if state else 0
    status = (stat or {}).get("status", "")
    return {
        "backend": backend,
        "server": server,
        "status": status,
        "up": status.startswith("UP") or status in ("DRAIN", "NOLB"),
        "sessions": _int((stat or {}).get("scur")),
        "admin": admin_name(admin_state) if state else ("maint" if status.startswith("MAINT") else "ready"),
        "admin_reasons": admin_reasons(admin_state),
        "backup": (stat or {}).get("bck") == "1",
        "op_state": OP_STATES.get(state["op_state"], "unknown") if state else "unknown",
    }


def servers(stat_rows, state_rows, backend):
    """Every server of BACKEND (server_view of each), in ``show stat`` order."""
    names = [
        r["svname"]
        for r in stat_rows
        if r.get("pxname") == backend and r.get("svname") not in ("FRONTEND", "BACKEND")
    ]
    return [server_view(stat_rows, state_rows, backend, name) for name in names]


def current_writer(views):
    """
    The server of an active/backup backend that gets new connections: the first active (non-backup)
    server that is UP and ready; if none, the first backup that is (HAProxy uses only the first
    usable backup without ``option allbackups``). None when no server can take traffic.
    """
    usable = [v for v in views if v and v["up"] and v["admin"] == "ready"]
    for wanted_backup in (False, True):
        for view in usable:
            if view["backup"] == wanted_backup:
                return view["server"]
    return None


def state_command(backend, server, state):
    """The runtime API command setting SERVER of BACKEND to STATE (ready, drain or maint)."""
    if state not in STATES:
        raise CommandExecutionError(f"state must be one of {', '.join(STATES)}, not {state!r}")
    for what, value in (("backend", backend), ("server", server)):
        if not value or any(c in str(value) for c in " /;\n\r\t"):
            raise CommandExecutionError(f"{what} {value!r} is not a HAProxy proxy or server name")
    return f"set server {backend}/{server} state {state}"


def drain_verdict(view):
    """``{"drained": bool, "reason"}``: no new traffic and no session left on the server."""
    if view is None:
        return {"drained": False, "reason": "no such server"}
    if view["admin"] == "ready":
        return {"drained": False, "reason": f"{view['server']} is ready (takes new traffic)"}
    if view["sessions"]:
        return {"drained": False, "reason": f"{view['server']} still has {view['sessions']} session(s)"}
    return {"drained": True, "reason": f"{view['server']} is in {view['admin']} with no session"}


# ---- socket layer -------------------------------------------------------------------------------


def _socket():
    return __salt__["config.get"]("fileshare_haproxy.socket", SOCKET)


def _backend(name):
    """HAProxy's name of backend NAME: the site's ``names:backends`` entry when NAME is its key."""
    backends = __salt__["fileshare_topology.get"]("names:backends") or {}
    return backends.get(name, name) if isinstance(backends, dict) else name


def command(cmd, socket_path=None, timeout=5.0):
    """
    Send one command to the runtime API and return its answer (text).

    CLI Example:

    .. code-block:: bash

        salt lb1 fileshare_haproxy.command 'show info'
    """
    path = socket_path or _socket()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(float(timeout))
            sock.connect(path)
            sock.sendall(cmd.encode() + b"\n")
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
    except OSError as exc:
        raise CommandExecutionError(f"HAProxy runtime API at {path}: {exc}") from exc
    return b"".join(chunks).decode(errors="replace")


def server(backend, name, socket_path=None):
    """
    One server's view (status, sessions, admin state); raises if the backend has no such server.

    CLI Example:

    .. code-block:: bash

        salt lb1 fileshare_haproxy.server app app1
    """
    backend = _backend(backend)
    stat_rows = parse_stat(command("show stat", socket_path))
    state_rows = parse_servers_state(command(f"show servers state {backend}", socket_path))
    view = server_view(stat_rows, state_rows, backend, name)
    if view is None:
        raise CommandExecutionError(f"HAProxy backend {backend} has no server {name}")
    return view


def backend(name, socket_path=None):
    """
    Every server of backend NAME, and the one new connections go to (``writer``).

    CLI Example:

    .. code-block:: bash

        salt lb1 fileshare_haproxy.backend db
    """
    name = _backend(name)
    stat_rows = parse_stat(command("show stat", socket_path))
    state_rows = parse_servers_state(command(f"show servers state {name}", socket_path))
    views = servers(stat_rows, state_rows, name)
    if not views:
        raise CommandExecutionError(f"HAProxy has no backend {name} (or it has no servers)")
    return {"servers": views, "writer": current_writer(views)}


def set_state(backend, name, state, socket_path=None):
    """
    Set server NAME of BACKEND to ready, drain or maint; return its view afterwards.

    CLI Example:

    .. code-block:: bash

        salt lb1 fileshare_haproxy.set_state app app1 drain
    """
    backend = _backend(backend)
    answer = command(state_command(backend, name, state), socket_path).strip()
    if answer:
        raise CommandExecutionError(f"HAProxy refused `{state_command(backend, name, state)}`: {answer}")
    return server(backend, name, socket_path)


def shutdown_sessions(backend, name, socket_path=None):
    """
    Cut the sessions still open on server NAME (clients reconnect to another server).

    CLI Example:

    .. code-block:: bash

        salt lb1 fileshare_haproxy.shutdown_sessions db db1
    """
    backend = _backend(backend)
    state_command(backend, name, "maint")  # validates the names
    answer = command(f"shutdown sessions server {backend}/{name}", socket_path).strip()
    if answer:
        raise CommandExecutionError(f"HAProxy refused to shut down sessions of {backend}/{name}: {answer}")
    return True


def wait(backend, name, until="drained", timeout=60, interval=1, socket_path=None):
    """
    Wait at most TIMEOUT seconds until server NAME is ``drained`` (no new traffic, no session) or
    ``up`` (ready and its health checks pass); return its view, raise with the last one on timeout.

    CLI Example:

    .. code-block:: bash

        salt lb1 fileshare_haproxy.wait app app1 until=drained timeout=60
    """
    if until not in ("drained", "up"):
        raise CommandExecutionError(f"until must be drained or up, not {until!r}")
    deadline = time.monotonic() + float(timeout)
    while True:
        view = server(backend, name, socket_path)
        if until == "drained":
            verdict = drain_verdict(view)
            if verdict["drained"]:
                return view
            reason = verdict["reason"]
        else:
            if view["admin"] == "ready" and view["up"]:
                return view
            reason = f"{name} is {view['admin']}, checks say {view['status'] or 'nothing'}"
        if time.monotonic() >= deadline:
            raise CommandExecutionError(f"{backend}/{name} not {until} after {timeout}s: {reason}")
        time.sleep(float(interval))
