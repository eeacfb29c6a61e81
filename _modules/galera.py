"""
MariaDB Galera: cluster verdicts and recovery after a full outage.

The pure layer takes data and returns data: ``parse_status`` (SHOW STATUS -> a node's view),
``verdict`` (quorum over views), ``take_down_verdict``, ``health`` (the health responder's answer),
``stall_beat``/``stall_verdict`` (the responder's refusal after the node itself was stopped),
``parse_grastate``, ``parse_recovered``, ``choose_bootstrap``. The outer layer reads the local
server through Salt's own ``mysql`` module (connection options as for ``mysql.*``: ``mysql.user``,
``mysql.pass``, ``mysql.unix_socket`` in minion config/pillar, or ``connection_*`` kwargs), reads
grastate.dat, runs ``mysqld --wsrep-recover`` and asks peers' health responders.

Members: the site's ``db`` nodes (data) and ``arbitrator`` nodes (garbd, counted in the cluster size,
no data), as the topology lists them (``fileshare_topology.get``). A node's view of a peer comes from
the peer's health responder (``GET http://<address>:<ports:galera_health>/`` returns the peer's parsed
status as JSON), so no node needs database credentials for another.

The health responder (formulas/fileshare/db/files/galera-health.py) imports this file outside
Salt for ``parse_status``, ``health`` and the stall gate: keep those free of the loader dunders.
"""

import json
import logging
import os
import re
import tempfile
import time
import urllib.error
import urllib.request

try:
    from salt.exceptions import CommandExecutionError
except ImportError:  # imported by the health responder, which runs without Salt

    class CommandExecutionError(Exception):
        pass


log = logging.getLogger(__name__)

__virtualname__ = "galera"

SYNCED, DONOR = 4, 2
STATES = {0: "Undefined", 1: "Joining", 2: "Donor/Desynced", 3: "Joined", 4: "Synced"}
ZERO_UUID = "00000000-0000-0000-0000-000000000000"


def __virtual__():
    if "mysql.status" not in __salt__:
        return False, "galera needs Salt's mysql module (install PyMySQL or mysqlclient on the minion)"
    return __virtualname__


# --------------------------------------------------------------------------- pure layer


def _text(value):
    return value.decode() if isinstance(value, bytes) else ("" if value is None else str(value))


def _num(value, kind=int, default=0):
    try:
        return kind(_text(value))
    except ValueError:
        return default


def parse_status(status):
    """
    A node's view from ``SHOW STATUS`` (as ``mysql.status`` returns it; bytes or text). ``{}`` in,
    ``{}`` out: the server did not answer.

    CLI Example:

    .. code-block:: bash

        salt db1 galera.parse_status "$(salt db1 --out=json mysql.status)"
    """
    if not status:
        return {}
    s = {_text(k).lower(): _text(v) for k, v in status.items()}
    if "wsrep_cluster_status" not in s:
        return {"wsrep": False}
    state = _num(s.get("wsrep_local_state"), default=0)
    return {
        "wsrep": True,
        "cluster_size": _num(s.get("wsrep_cluster_size")),
        "cluster_status": s.get("wsrep_cluster_status", ""),
        "local_state": state,
        "local_state_comment": s.get("wsrep_local_state_comment") or STATES.get(state, "Undefined"),
        "ready": s.get("wsrep_ready", "").upper() == "ON",
        "connected": s.get("wsrep_connected", "").upper() == "ON",
        "cluster_state_uuid": s.get("wsrep_cluster_state_uuid", ""),
        # Changes with every membership change: a node that missed one still shows the old number.
        "conf_id": _num(s.get("wsrep_cluster_conf_id"), default=-1),
        "local_state_uuid": s.get("wsrep_local_state_uuid", ""),
        "last_committed": _num(s.get("wsrep_last_committed"), default=-1),
        "flow_control_paused": _num(s.get("wsrep_flow_control_paused"), float, 0.0),
        "recv_queue_avg": _num(s.get("wsrep_local_recv_queue_avg"), float, 0.0),
        "send_queue_avg": _num(s.get("wsrep_local_send_queue_avg"), float, 0.0),
    }


def health(view, allow_donor=False):
    """
    The clustercheck answer for one node: ``(available, reason)``. Available only when the node
    is in the Primary component, ready and Synced; Donor/Desynced only when ``allow_donor`` (a
    donor serving an rsync SST blocks writes, so load balancers normally skip it).

    CLI Example:

    .. code-block:: bash

        salt-call galera.health "$(salt-call --out=json galera.status | jq .local)" allow_donor=True
    """
    if not view:
        return False, "MariaDB does not answer"
    if not view.get("wsrep"):
        return False, "wsrep is not enabled (not a Galera node)"
    if view["cluster_status"] != "Primary":
        return False, f"not in the Primary component ({view['cluster_status'] or 'disconnected'})"
    if not view["ready"]:
        return False, "wsrep_ready is OFF"
    if view["local_state"] == SYNCED:
        return True, "Synced"
    if view["local_state"] == DONOR and allow_donor:
        return True, f"{view['local_state_comment']} (donors allowed)"
    return False, f"{view['local_state_comment']}, not Synced"


def stall_beat(gate, now, stall):
    """
    Record one heartbeat of the health responder at NOW (monotonic seconds) in GATE, a dict the caller
    keeps. A gap longer than STALL since the previous beat means the whole node was stopped (a frozen
    VM or container, a swap storm): its peers may have evicted it meanwhile, yet for a while after it
    runs again its own status still says Primary and Synced. The gate then closes (``stall_verdict``).
    Returns GATE.
    """
    last = gate.get("last")
    if last is not None and now - last > stall:
        gate["stalled_at"], gate["stalled_for"] = now, now - last
        gate["stall_conf_id"] = gate.get("conf_id", -1)
    gate["last"] = now
    return gate


def stall_verdict(gate, now, view, hold, allow_donor=False):
    """
    Why the node must still be refused after a stall, or None. The gate opens when the node's view
    has changed since the stall (it noticed what the cluster did meanwhile: a new ``conf_id``) and
    it is healthy again, or after HOLD seconds (a stall so short that nobody evicted it changes no
    view). While the gate is open, the healthy view's ``conf_id`` is remembered for the next stall.
    """
    stalled_at = gate.get("stalled_at")
    if stalled_at is not None:
        changed = view.get("conf_id", -1) != gate.get("stall_conf_id", -1)
        if not ((changed and health(view, allow_donor)[0]) or now - stalled_at > hold):
            return (
                f"stopped for {gate['stalled_for']:.1f} s: its view may be stale until it changes "
                f"(at most {hold:g} s)"
            )
        gate["stalled_at"] = None
    if health(view, allow_donor)[0]:
        gate["conf_id"] = view.get("conf_id", -1)
    return None


def verdict(views, expected_size):
    """
    Quorum verdict over the views we have: ``{"quorate": bool, "reasons": [...], "size": n}``.
    Quorate = every view Primary, ready and Synced, the cluster size equal to the expected members
    (arbitrators counted), one cluster state UUID. A missing view (``None``/``{}``) is a reason.

    CLI Example:

    .. code-block:: bash

        salt-call galera.verdict '{db1: {...}, db2: {...}}' 3
    """
    reasons = []
    sizes, uuids = set(), set()
    for node in sorted(views):
        view = views[node]
        if not view:
            reasons.append(f"{node}: MariaDB does not answer")
            continue
        if not view.get("wsrep"):
            reasons.append(f"{node}: wsrep is not enabled")
            continue
        if view["cluster_status"] != "Primary":
            reasons.append(f"{node}: not in the Primary component ({view['cluster_status']})")
        elif view["local_state"] != SYNCED:
            reasons.append(f"{node}: {view['local_state_comment']}, not Synced")
        elif not view["ready"]:
            reasons.append(f"{node}: wsrep_ready is OFF")
        sizes.add(view["cluster_size"])
        if view["cluster_state_uuid"]:
            uuids.add(view["cluster_state_uuid"])
    for size in sorted(sizes):
        if size != int(expected_size):
            reasons.append(f"cluster size {size}, expected {expected_size} members")
    if len(uuids) > 1:
        reasons.append(f"nodes disagree on the cluster state UUID: {', '.join(sorted(uuids))}")
    return {"quorate": not reasons, "reasons": reasons, "size": max(sizes) if sizes else 0}


def keeps_primary(size, leaving=1):
    """
    True when ``size - leaving`` members are still a strict majority of ``size`` (Galera's quorum
    with equal weights: a component is Primary only with more than half of the last Primary's
    weight). We require this even for a clean shutdown: should the departure turn out to be a
    crash, the rest must still hold Primary.

    CLI Example:

    .. code-block:: bash

        salt-call galera.keeps_primary 4 2
    """
    return 2 * (int(size) - int(leaving)) > int(size)


def take_down_verdict(views, node, expected_size):
    """
    May NODE be stopped? ``{"safe": bool, "reasons": [...]}``. Safe only when the cluster is
    quorate now (``verdict``) and keeps a Primary component without NODE, and the others are Synced.

    CLI Example:

    .. code-block:: bash

        salt-call galera.take_down_verdict '{db1: {...}, db2: {...}, db3: {...}}' db1 3
    """
    reasons = list(verdict(views, expected_size)["reasons"])
    size = max([v["cluster_size"] for v in views.values() if v and v.get("wsrep")] or [0])
    if size and not keeps_primary(size):
        reasons.append(
            f"without {node} the cluster keeps {size - 1} of {size} members, not a majority: "
            "it would lose its Primary component"
        )
    others = [n for n in views if n != node and views[n] and views[n].get("local_state") == SYNCED]
    if not others:
        reasons.append(f"no other Synced data node would be left without {node}")
    return {"safe": not reasons, "reasons": reasons}


def parse_grastate(text):
    """
    ``grastate.dat`` -> ``{"uuid", "seqno", "safe_to_bootstrap", "version"}``. A missing field
    takes the value that makes no claim (seqno -1, safe_to_bootstrap False).

    CLI Example:

    .. code-block:: bash

        salt-call galera.parse_grastate "$(cat /var/lib/mysql/grastate.dat)"
    """
    fields = {}
    for line in (text or "").splitlines():
        line = line.split("#", 1)[0].strip()
        if ":" in line:
            key, value = line.split(":", 1)
            fields[key.strip()] = value.strip()
    return {
        "uuid": fields.get("uuid", ZERO_UUID),
        "seqno": _num(fields.get("seqno"), default=-1),
        "safe_to_bootstrap": fields.get("safe_to_bootstrap", "0") == "1",
        "version": fields.get("version", ""),
    }


def set_safe_to_bootstrap(text, value=True):
    """
    grastate.dat text with ``safe_to_bootstrap`` set (added if the file lacks it).

    CLI Example:

    .. code-block:: bash

        salt-call galera.set_safe_to_bootstrap "$(cat /var/lib/mysql/grastate.dat)"
    """
    line = f"safe_to_bootstrap: {1 if value else 0}"
    if re.search(r"^safe_to_bootstrap:.*$", text, flags=re.M):
        return re.sub(r"^safe_to_bootstrap:.*$", line, text, flags=re.M)
    return text.rstrip("\n") + "\n" + line + "\n"


_RECOVERED = re.compile(r"WSREP: Recovered position:?\s+([0-9a-fA-F-]{36}):(-?\d+)")


def parse_recovered(log_text):
    """
    The position ``mysqld --wsrep-recover`` logged (``WSREP: Recovered position: UUID:SEQNO``, a
    ``,GTID`` suffix allowed): ``{"uuid", "seqno"}``, or None when it logged none. The last line
    wins: mysqld logs the position it ends with.

    CLI Example:

    .. code-block:: bash

        salt-call galera.parse_recovered "$(cat /tmp/wsrep-recover.log)"
    """
    found = _RECOVERED.findall(log_text or "")
    if not found:
        return None
    uuid, seqno = found[-1]
    return {"uuid": uuid.lower(), "seqno": int(seqno)}


def choose_bootstrap(positions):
    """
    Pick the one node to bootstrap after a full outage from every member's position
    (``{node: {"uuid", "seqno", "safe_to_bootstrap", "running"?, "cluster_status"?}}``; a node
    that gave no position maps to None). Returns ``{"bootstrap": node or None, "uuid", "seqno",
    "reasons": [...]}``; ``bootstrap`` is None with the refusals in ``reasons`` when no node can be
    proven the most advanced. Refuses when a member is missing or still at seqno -1, when the
    state UUIDs differ, and when a member already runs a Primary component (bootstrapping then
    would make a second cluster: start the others instead).

    CLI Example:

    .. code-block:: bash

        salt-call galera.choose_bootstrap \\
          '{db1: {uuid: 8bf..., seqno: 42}, db2: {uuid: 8bf..., seqno: 40}, db3: {uuid: 8bf..., seqno: 42}}'
    """
    refusals = []
    for node in sorted(positions):
        pos = positions[node]
        if not pos:
            refusals.append(f"{node}: no position: cannot prove which node is the most advanced")
        elif pos.get("running") and pos.get("cluster_status") == "Primary":
            refusals.append(f"{node} runs a Primary component: start the others to join it, never bootstrap")
        elif int(pos.get("seqno", -1)) < 0 and pos.get("uuid", ZERO_UUID) != ZERO_UUID:
            refusals.append(f"{node}: seqno -1 (position unknown): run galera.recover_position there")
    if refusals:
        return {"bootstrap": None, "uuid": None, "seqno": None, "reasons": refusals}
    uuids = {p.get("uuid", ZERO_UUID) for p in positions.values()} - {ZERO_UUID}
    if len(uuids) > 1:
        detail = ", ".join(f"{n}={positions[n]['uuid']}" for n in sorted(positions))
        return {
            "bootstrap": None,
            "uuid": None,
            "seqno": None,
            "reasons": [f"state UUIDs differ ({detail}): these are different clusters, decide by hand"],
        }
    if not uuids:
        first = sorted(positions)[0]
        return {
            "bootstrap": first,
            "uuid": ZERO_UUID,
            "seqno": -1,
            "reasons": [f"no member holds data yet: new cluster, bootstrap {first}"],
        }
    uuid = uuids.pop()
    with_data = {n: p for n, p in positions.items() if p.get("uuid") == uuid}
    top = max(int(p["seqno"]) for p in with_data.values())
    leaders = sorted(n for n, p in with_data.items() if int(p["seqno"]) == top)
    flagged = [n for n in leaders if with_data[n].get("safe_to_bootstrap")]
    chosen = (flagged or leaders)[0]
    reasons = [f"{chosen} has the highest seqno {top} of cluster {uuid}"]
    if len(leaders) > 1:
        reasons.append(
            f"{', '.join(leaders)} are equally advanced; "
            f"{chosen} chosen ({'safe_to_bootstrap' if flagged else 'first by name'})"
        )
    behind = sorted(n for n, p in with_data.items() if int(p["seqno"]) < top)
    if behind:
        reasons.append(f"behind, will rejoin by IST/SST: {', '.join(behind)}")
    return {"bootstrap": chosen, "uuid": uuid, "seqno": top, "reasons": reasons}


def members(roles):
    """
    ``(data_nodes, arbitrators)`` by name from the topology's ``roles`` (role -> names); a node listed
    as both counts once, as data.

    CLI Example:

    .. code-block:: bash

        salt-call galera.members '{db: [db1, db2], arbitrator: [arb1]}'
    """
    data = list((roles or {}).get("db") or [])
    arbs = [n for n in (roles or {}).get("arbitrator") or [] if n not in data]
    return data, arbs


# --------------------------------------------------------------------------- outer layer


def _conn(kwargs):
    """
    Connection options for Salt's mysql module: those given, else the minion's ``mysql.*`` options,
    else the root option file the db layer writes (``galera.default_file``, /root/.my.cnf), else
    root over the local socket (unix_socket authentication, as Debian installs it).
    """
    conn = {k: v for k, v in kwargs.items() if k.startswith("connection_")}
    if conn or __salt__["config.get"]("mysql.default_file") or __salt__["config.get"]("mysql.user"):
        return conn
    default_file = __salt__["config.get"]("galera.default_file", "/root/.my.cnf")
    if os.path.exists(default_file):
        return {"connection_default_file": default_file}
    return {
        "connection_unix_socket": __salt__["config.get"]("galera.unix_socket", "/run/mysqld/mysqld.sock"),
        "connection_user": "root",
    }


def status(**connection_args):
    """
    This node's Galera view through Salt's mysql module: cluster size and status, local state
    and comment, ready, connected, state UUIDs, last committed seqno, flow control paused, queue
    averages. ``{}`` when MariaDB does not answer.

    CLI Example:

    .. code-block:: bash

        salt db1 galera.status
    """
    return parse_status(__salt__["mysql.status"](**_conn(connection_args)))


def _topology(key):
    return __salt__["fileshare_topology.get"](key)


def expected_size():
    """
    Members the site declares (data nodes plus arbitrators).

    CLI Example:

    .. code-block:: bash

        salt db1 galera.expected_size
    """
    data, arbs = members(_topology("roles"))
    return len(data) + len(arbs)


def peer_view(address, port=None, timeout=2.0):
    """
    A peer's view as its health responder (on PORT, default the site's ``ports:galera_health``)
    reports it (``{}`` when it does not answer).

    CLI Example:

    .. code-block:: bash

        salt db1 galera.peer_view 10.77.0.52
        salt db1 galera.peer_view 10.77.0.52 port=9201
    """
    port = port or _topology("ports:galera_health")
    if not port:
        raise CommandExecutionError("the site's topology has no ports:galera_health: pass port")
    url = f"http://{address}:{int(port)}/"
    try:
        with urllib.request.urlopen(url, timeout=float(timeout)) as resp:
            body = resp.read()
    except urllib.error.HTTPError as exc:  # 503 still carries the view
        body = exc.read()
    except (OSError, ValueError):
        return {}
    try:
        return json.loads(body).get("view") or {}
    except ValueError:
        return {}


def views(peers=True, **connection_args):
    """
    Views of every data member: this node's through mysql, the others' through their health
    responders (``peers=False``: this node only).

    CLI Example:

    .. code-block:: bash

        salt db1 galera.views
    """
    me = __grains__["id"]
    out = {me: status(**connection_args)}
    if peers:
        topology = _topology(None)
        port = topology["ports"].get("galera_health")
        for name in topology["roles"].get("db", []):
            if name != me:
                out[name] = peer_view(topology["by_name"][name]["address"], port=port)
    return out


def quorum(expected=None, peers=False, **connection_args):
    """
    Quorum verdict: Primary, size equal to the pillar's members (arbitrators counted), Synced,
    one state UUID; ``{"quorate", "reasons", "size"}``. ``peers=True`` also judges the other data
    nodes through their health responders; otherwise run it on every member.

    CLI Example:

    .. code-block:: bash

        salt -G 'roles:db' galera.quorum
        salt db1 galera.quorum peers=True
    """
    expected = int(expected) if expected else expected_size()
    return verdict(views(peers, **connection_args), expected)


def safe_to_take_down(node=None, expected=None, **connection_args):
    """
    May NODE (default: this node) be stopped now? True only if the cluster keeps a Primary
    component without it and the rest are Synced (peers judged through their health responders).
    Returns ``{"safe", "reasons"}``.

    CLI Example:

    .. code-block:: bash

        salt db1 galera.safe_to_take_down
    """
    expected = int(expected) if expected else expected_size()
    return take_down_verdict(views(True, **connection_args), node or __grains__["id"], expected)


def _datadir():
    return __salt__["config.get"]("galera.datadir", "/var/lib/mysql")


def grastate(path=None):
    """
    Parsed grastate.dat (uuid, seqno, safe_to_bootstrap); None when the file does not exist.

    CLI Example:

    .. code-block:: bash

        salt db1 galera.grastate
    """
    path = path or os.path.join(_datadir(), "grastate.dat")
    try:
        with open(path, encoding="utf-8") as fh:
            return parse_grastate(fh.read())
    except FileNotFoundError:
        return None


def _running(**connection_args):
    return bool(__salt__["mysql.status"](**_conn(connection_args)))


def recover_position(**connection_args):
    """
    This node's last committed position: from the running server, else grastate.dat, else (seqno
    -1 after a crash) from ``mysqld --wsrep-recover``. Returns ``{"uuid", "seqno",
    "safe_to_bootstrap", "running", "cluster_status", "source"}``; raises when it cannot tell.

    CLI Example:

    .. code-block:: bash

        salt -G 'roles:db' galera.recover_position
    """
    view = status(**connection_args)
    if view and not view.get("wsrep"):
        raise CommandExecutionError("MariaDB runs here without wsrep: it is not a Galera node now")
    if view.get("wsrep"):
        return {
            "uuid": view["local_state_uuid"],
            "seqno": view["last_committed"],
            "safe_to_bootstrap": False,
            "running": True,
            "cluster_status": view["cluster_status"],
            "source": "running server",
        }
    state = grastate() or {"uuid": ZERO_UUID, "seqno": -1, "safe_to_bootstrap": False}
    pos = dict(state, running=False, cluster_status="", source="grastate.dat")
    if (
        state["seqno"] >= 0
        or state["uuid"] == ZERO_UUID
        and not os.path.exists(os.path.join(_datadir(), "ibdata1"))
    ):
        return pos
    fd, logfile = tempfile.mkstemp(prefix="wsrep-recover-", suffix=".log")
    os.close(fd)
    try:
        os.chmod(logfile, 0o666)  # mysqld drops to the mysql user before it opens the log
        res = __salt__["cmd.run_all"](
            ["mysqld", "--user=mysql", "--wsrep-recover", f"--log-error={logfile}"],
            python_shell=False,
            ignore_retcode=True,
        )
        with open(logfile, encoding="utf-8", errors="replace") as fh:
            found = parse_recovered(fh.read() + res.get("stderr", ""))
    finally:
        os.unlink(logfile)
    if not found:
        raise CommandExecutionError("mysqld --wsrep-recover logged no recovered position")
    pos.update(found, source="mysqld --wsrep-recover")
    return pos


def mark_safe_to_bootstrap(path=None):
    """
    Set ``safe_to_bootstrap: 1`` in grastate.dat (only on the node ``choose_bootstrap`` picked;
    refused while MariaDB runs).

    CLI Example:

    .. code-block:: bash

        salt db2 galera.mark_safe_to_bootstrap
    """
    if _running():
        raise CommandExecutionError("MariaDB is running: grastate.dat is only edited on a stopped node")
    path = path or os.path.join(_datadir(), "grastate.dat")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(set_safe_to_bootstrap(text))
    return parse_grastate(set_safe_to_bootstrap(text))


def bootstrap(peers=True):
    """
    Start a new Primary component here (``galera_new_cluster``). Refused when MariaDB already
    runs, when grastate.dat says this node is not safe to bootstrap, or when a peer's health
    responder reports a Primary component (that would make two clusters).

    CLI Example:

    .. code-block:: bash

        salt db1 galera.bootstrap
    """
    if _running():
        raise CommandExecutionError("MariaDB is already running here: not bootstrapping")
    state = grastate()
    if state and state["uuid"] != ZERO_UUID and not state["safe_to_bootstrap"]:
        raise CommandExecutionError(
            "grastate.dat has safe_to_bootstrap: 0: this node may be behind. Use the galera.recover "
            "runner, which picks the most advanced node and marks it"
        )
    if peers:
        for node, view in views(True).items():
            if node != __grains__["id"] and view.get("cluster_status") == "Primary":
                raise CommandExecutionError(f"{node} already runs a Primary component: join it instead")
    res = __salt__["cmd.run_all"](["galera_new_cluster"], python_shell=False, ignore_retcode=True)
    if res["retcode"] != 0:
        raise CommandExecutionError(f"galera_new_cluster failed: {res['stderr'] or res['stdout']}")
    return True


def wait(state="Synced", timeout=120, interval=2, **connection_args):
    """
    Wait up to TIMEOUT seconds until this node is ready, in the Primary component and in STATE
    (``Synced``); return the last view, raise with it on timeout.

    CLI Example:

    .. code-block:: bash

        salt db2 galera.wait timeout=300
    """
    deadline = time.monotonic() + float(timeout)
    while True:
        view = status(**connection_args)
        if (
            view.get("wsrep")
            and view["ready"]
            and view["cluster_status"] == "Primary"
            and view["local_state_comment"] == state
        ):
            return view
        if time.monotonic() >= deadline:
            seen = view.get("local_state_comment", "no answer") if view else "no answer"
            raise CommandExecutionError(f"not {state} after {timeout}s (last seen: {seen})")
        time.sleep(float(interval))
