"""
Galera across the cluster, from the master: recovery after a full outage.

The runbook (kolla-ansible's recover_cluster, as code): every member reports its position
(``galera.recover_position``: running server, grastate.dat or ``mysqld --wsrep-recover``); one
member judges them with the pure ``galera.choose_bootstrap``; only the chosen node is marked
safe_to_bootstrap and bootstrapped; then the others are started one at a time and each must reach
Synced before the next. Every step says what it found; any refusal stops the run.

.. code-block:: bash

    salt-run galera.positions db1,db2,db3
    salt-run galera.healthy db1,db2,db3
    salt-run galera.recover db1,db2,db3

``recover`` first looks at what runs: a healthy cluster is left alone (no step, no change); when
a Primary component survives somewhere the stopped members are only started (they join it, never
a bootstrap); when no member is Primary the running ones (non-Primary: they serve nothing) are
stopped and the cluster is bootstrapped from the most advanced member. The orchestration
``fileshare.galera_recover`` wraps it for operators.
"""

import logging
import time

import salt.client
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)


def _members(members):
    if isinstance(members, str):
        members = [m.strip() for m in members.split(",") if m.strip()]
    if not members:
        raise CommandExecutionError("give the data members: salt-run galera.recover db1,db2,db3")
    return list(members)


def _call(tgt, fun, arg=(), kwarg=None, timeout=60):
    """Run FUN on the minions in TGT (a list); {minion: (ok, return)} for every one asked."""
    client = salt.client.get_local_client(__opts__["conf_file"])
    out = client.cmd(
        list(tgt), fun, arg=list(arg), kwarg=kwarg or {}, tgt_type="list", timeout=timeout, full_return=True
    )
    res = {}
    for minion in tgt:
        got = out.get(minion)
        if not isinstance(got, dict):
            res[minion] = (False, "no answer")
        else:
            ok = got.get("retcode", 0) == 0 and not (
                isinstance(got.get("ret"), str) and got["ret"].startswith("ERROR")
            )
            res[minion] = (ok, got.get("ret"))
    return res


def positions(members):
    """
    Each member's last committed position (None for a member that could not tell).

    CLI Example:

    .. code-block:: bash

        salt-run galera.positions db1,db2,db3
    """
    members = _members(members)
    return {
        m: (ret if ok else None)
        for m, (ok, ret) in _call(members, "galera.recover_position", timeout=180).items()
    }


def choose(members):
    """
    Positions plus the pure verdict of which single node to bootstrap.

    CLI Example:

    .. code-block:: bash

        salt-run galera.choose db1,db2,db3
    """
    members = _members(members)
    pos = positions(members)
    judge = next((m for m in members if pos.get(m) is not None), members[0])
    ok, verdict = _call([judge], "galera.choose_bootstrap", arg=[pos])[judge]
    if not ok:
        raise CommandExecutionError(f"{judge} could not judge the positions: {verdict}")
    return {"positions": pos, "verdict": verdict}


SYNCED = 4


def _view(ret):
    """A member's galera.status answer as a view ({} = MariaDB does not answer)."""
    return ret if isinstance(ret, dict) else {}


def judge(views, expected):
    """
    Pure verdict over every member's view (None: the minion did not answer Salt): ``{"healthy",
    "primary", "reasons"}``. Healthy = every member answers, runs in the Primary component, is ready
    and Synced, sees ``expected`` members and one state UUID. ``primary`` lists the members that run
    a Primary component (a recovery then only starts the others).
    """
    reasons, primary, uuids = [], [], set()
    for node in sorted(views):
        view = views[node]
        if view is None:
            reasons.append(f"{node}: does not answer Salt")
            continue
        if not view:
            reasons.append(f"{node}: MariaDB is not running")
            continue
        if view.get("cluster_status") == "Primary":
            primary.append(node)
            if view.get("local_state") != SYNCED or not view.get("ready"):
                reasons.append(f"{node}: {view.get('local_state_comment', '?')}, not Synced")
            if view.get("cluster_size") != expected:
                reasons.append(f"{node}: sees {view.get('cluster_size')} members, expected {expected}")
        else:
            status = view.get("cluster_status") or "disconnected"
            reasons.append(f"{node}: not in the Primary component ({status})")
        if view.get("cluster_state_uuid"):
            uuids.add(view["cluster_state_uuid"])
    if len(uuids) > 1:
        reasons.append(f"members disagree on the cluster state UUID: {', '.join(sorted(uuids))}")
    return {"healthy": not reasons, "primary": primary, "reasons": reasons}


def _settled(members, service, timeout):
    """Wait while a member's server is still starting (a boot after the outage): positions read
    from a starting server, or a --wsrep-recover beside it, would be wrong."""
    deadline = time.monotonic() + float(timeout)
    while True:
        states = _call(
            members, "cmd.run", arg=[f"systemctl is-active {service}"], kwarg={"ignore_retcode": True}
        )
        busy = sorted(m for m, (ok, ret) in states.items() if ok and ret in ("activating", "deactivating"))
        if not busy or time.monotonic() >= deadline:
            return busy
        time.sleep(3)


def _look(members, expected):
    answers = _call(members, "galera.status")
    views = {m: (_view(ret) if ok else None) for m, (ok, ret) in answers.items()}
    return views, judge(views, expected)


def healthy(members, expected=None):
    """
    Is the cluster whole? ``{"healthy", "primary", "reasons"}`` from every member's own status:
    Primary, Synced, ready, the expected size (default: the members given), one state UUID. The
    orchestration skips the recovery when it is (``unless`` with ``get_return: healthy``).

    CLI Example:

    .. code-block:: bash

        salt-run galera.healthy db1,db2,db3
    """
    members = _members(members)
    return _look(members, int(expected or len(members)))[1]


# How long a member may ignore SIGTERM before it is killed (see _stop).
STOP_GRACE = 15
RUNNING = ("active", "activating", "deactivating", "reloading")


def _unit_states(nodes, service):
    answers = _call(nodes, "cmd.run", arg=[f"systemctl is-active {service}"], kwarg={"ignore_retcode": True})
    return {n: (ret if ok else None) for n, (ok, ret) in answers.items()}


def _stop(nodes, service, grace):
    """
    Stop SERVICE on NODES at once and wait until it is down on each; ``{node: "stopped" |
    "killed"}``. A server still waiting for a Primary component that never forms does not act on
    SIGTERM, and Debian's unit waits 900 s for it without ever sending SIGKILL (``SendSIGKILL=no``):
    measured, such a stop hangs for minutes. Past GRACE seconds it is killed, which loses nothing:
    it has not been in a Primary component since its last commit, and ``mysqld --wsrep-recover``
    reads that position back from InnoDB.
    """
    if not nodes:
        return {}
    # no_block: the stop jobs are queued (so systemd restarts nothing that dies), the wait is ours.
    for node, (ok, ret) in _call(nodes, "service.stop", arg=[service], kwarg={"no_block": True}).items():
        if not ok:
            raise CommandExecutionError(f"{node}: could not ask systemd to stop {service}: {ret}")
    how = {}
    deadline = time.monotonic() + float(grace)
    while True:
        states = _unit_states(nodes, service)
        up = sorted(n for n, state in states.items() if state is None or state in RUNNING)
        for node in set(nodes) - set(up):
            how.setdefault(node, "stopped")
        if not up:
            return {n: how[n] for n in nodes}
        if time.monotonic() >= deadline:
            stuck = [n for n in up if how.get(n) == "killed"]
            if stuck:
                raise CommandExecutionError(
                    ", ".join(f"{n}: {service} still {states[n]} after SIGKILL" for n in stuck)
                )
            # A string, not a list: a remote cmd.run_all defaults to python_shell=True, which runs
            # only a list's first word (measured: `systemctl` alone, nothing killed).
            kill = _call(
                up,
                "cmd.run_all",
                arg=[f"systemctl kill --signal=SIGKILL {service}"],
                kwarg={"python_shell": False},
            )
            for node, (ok, ret) in kill.items():
                if not ok:
                    raise CommandExecutionError(f"{node}: could not kill the stuck {service}: {ret}")
                how[node] = "killed"
            deadline = time.monotonic() + float(grace)
        time.sleep(1)


def _start_one_by_one(nodes, service, timeout, steps):
    for other in nodes:
        # One at a time: two joiners at once would each need a donor and slow the only Synced node.
        ok, ret = _call([other], "service.start", arg=[service], timeout=timeout)[other]
        if not ok or ret is False:
            raise CommandExecutionError(f"{other}: {service} did not start: {ret}; done so far: {steps}")
        ok, ret = _call([other], "galera.wait", kwarg={"timeout": timeout}, timeout=timeout + 30)[other]
        if not ok:
            raise CommandExecutionError(f"{other}: not Synced after start: {ret}; done so far: {steps}")
        steps.append({"joined": other, "size": ret.get("cluster_size")})


def recover(members, timeout=300, service="mariadb", expected=None):
    """
    Bring the cluster back after an outage, doing only what is needed (returns the steps taken,
    ``[]`` for a healthy cluster; raises with the reasons and touches nothing it cannot justify):

    - every member must answer Salt (a missing member could be the most advanced one);
    - a member runs a Primary component: start the stopped members one by one (they join it);
    - no Primary anywhere: stop the running (non-Primary) members, then bootstrap only the most
      advanced member and start the others one by one, each until Synced. Refused when the
      positions do not prove a single most advanced node (UUIDs differ, a position unknown).

    CLI Example:

    .. code-block:: bash

        salt-run galera.recover db1,db2,db3
    """
    members = _members(members)
    expected = int(expected or len(members))
    # Members still starting get 30 s: after a power cut pc.recovery re-forms the Primary component
    # within seconds of the last member's start (measured), but a member that boots waiting for a
    # component that cannot come back (its peers were shut down cleanly, which forgets the
    # membership) stays "activating" for TimeoutStartSec (900 s), answering no query; it is stopped.
    busy = _settled(members, service, min(float(timeout), 30))
    views, found = _look(members, expected)
    if found["healthy"]:
        return []
    missing = sorted(m for m, v in views.items() if v is None)
    if missing:
        raise CommandExecutionError(
            f"refusing to recover: {', '.join(missing)} does not answer Salt, and a missing member may "
            "hold the most advanced position; bring it back (or take it out of the pillar) first"
        )
    steps = [{"found": found["reasons"]}]
    if found["primary"]:
        stopped = [m for m in members if not views[m]]
        steps.append({"primary component on": found["primary"], "starting": stopped})
        _start_one_by_one(stopped, service, timeout, steps)
        for node in [m for m in members if views[m] and m not in found["primary"]]:
            ok, ret = _call([node], "galera.wait", kwarg={"timeout": timeout}, timeout=timeout + 30)[node]
            if not ok:
                raise CommandExecutionError(f"{node}: runs but did not join the Primary component: {ret}")
            steps.append({"rejoined": node, "size": ret.get("cluster_size")})
        return steps
    # Not Primary (or stuck starting): they refuse every query, so stopping them loses no service,
    # and a clean shutdown writes the position to grastate.dat.
    for node, how in _stop([m for m in members if views[m] or m in busy], service, STOP_GRACE).items():
        steps.append({f"{how} non-Primary": node})
    chosen = choose(members)
    verdict = chosen["verdict"]
    steps.append({"positions": chosen["positions"], "verdict": verdict})
    node = verdict["bootstrap"]
    if node is None:
        raise CommandExecutionError("refusing to bootstrap: " + "; ".join(verdict["reasons"]))
    if verdict["uuid"] != "00000000-0000-0000-0000-000000000000":
        ok, ret = _call([node], "galera.mark_safe_to_bootstrap")[node]
        if not ok:
            raise CommandExecutionError(f"{node}: cannot mark safe_to_bootstrap: {ret}")
        steps.append({"marked safe_to_bootstrap": node})
    ok, ret = _call([node], "galera.bootstrap", timeout=timeout)[node]
    if not ok:
        raise CommandExecutionError(f"{node}: bootstrap failed: {ret}")
    ok, ret = _call([node], "galera.wait", kwarg={"timeout": timeout}, timeout=timeout + 30)[node]
    if not ok:
        raise CommandExecutionError(f"{node}: not Synced after bootstrap: {ret}")
    steps.append({"bootstrapped": node, "seqno": verdict["seqno"]})
    _start_one_by_one([m for m in members if m != node], service, timeout, steps)
    return steps
