"""
Galera across the cluster, from the master: recovery after a full outage.

The runbook (kolla-ansible's recover_cluster, as code): every member reports its position
(``galera.recover_position``: running server, grastate.dat or ``mysqld --wsrep-recover``); one
member judges them with the pure ``galera.choose_bootstrap``; only the chosen node is marked
safe_to_bootstrap and bootstrapped; then the others are started one at a time and each must reach
Synced before the next. Every step says what it found; any refusal stops the run.

.. code-block:: bash

    salt-run galera.positions db1,db2,db3
    salt-run galera.recover db1,db2,db3
"""

import logging

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
    out = client.cmd(list(tgt), fun, arg=list(arg), kwarg=kwarg or {}, tgt_type="list", timeout=timeout,
                     full_return=True)
    res = {}
    for minion in tgt:
        got = out.get(minion)
        if not isinstance(got, dict):
            res[minion] = (False, "no answer")
        else:
            ok = got.get("retcode", 0) == 0 and not (isinstance(got.get("ret"), str)
                                                      and got["ret"].startswith("ERROR"))
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
    return {m: (ret if ok else None) for m, (ok, ret) in _call(members, "galera.recover_position",
                                                              timeout=180).items()}


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


def recover(members, timeout=300, service="mariadb"):
    """
    Recover a cluster after a full outage: bootstrap only the most advanced member, then start
    the others one by one, each until Synced. Returns the steps taken; raises with the reasons
    when the positions do not prove a single most advanced node.

    CLI Example:

    .. code-block:: bash

        salt-run galera.recover db1,db2,db3
    """
    members = _members(members)
    steps = []
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
    for other in [m for m in members if m != node]:
        # One at a time: two joiners at once would each need a donor and slow the only Synced node.
        ok, ret = _call([other], "service.start", arg=[service], timeout=timeout)[other]
        if not ok or ret is False:
            raise CommandExecutionError(f"{other}: {service} did not start: {ret}")
        ok, ret = _call([other], "galera.wait", kwarg={"timeout": timeout}, timeout=timeout + 30)[other]
        if not ok:
            raise CommandExecutionError(f"{other}: not Synced after start: {ret}")
        steps.append({"joined": other, "size": ret.get("cluster_size")})
    return steps
