"""
Redis replication and Sentinel for the HA intermediate layer.

``seeded`` writes a Redis or Sentinel main config file ONCE: from then on Redis and Sentinel own it
(a failover rewrites ``replicaof`` and the ``sentinel`` lines), so a later state run never fights
them. The master written into a new file is the one the running Sentinels report, when any answers
(a rebuilt node comes back as a replica of the current master), else the initial master from pillar.

.. code-block:: yaml

    Redis main config is seeded:
      fileshare_redis.seeded:
        - name: /etc/redis/redis.conf
        - kind: redis
        - address: 10.77.0.21
        - initial_master: 10.77.0.21
        - lines: ['include /etc/redis/fileshare.conf']

    Sentinels agree on one master:
      fileshare_redis.quorate:
        - name: fileshare

    This node does not hold the Redis master:
      fileshare_redis.not_master:
        - name: fileshare

Ports and the master's name default to the site's topology (``fileshare_topology.get``); the formulas
pass them from the map.
"""

import os

__virtualname__ = "fileshare_redis"

MARKER = "# fileshare: seeded once by Salt"


def __virtual__():
    if "fileshare_redis.sentinel_master" in __salt__:
        return __virtualname__
    return False, "the fileshare_redis execution module is not available"


def _owned(path):
    try:
        with open(path, encoding="utf-8") as fh:
            return MARKER in fh.read()
    except FileNotFoundError:
        return False


def _site(key, value):
    return value if value not in (None, "") else __salt__["fileshare_topology.get"](key)


def seeded(
    name,
    kind,
    address,
    initial_master,
    lines=(),
    after=(),
    master_name=None,
    port=None,
    sentinel_port=None,
    quorum=2,
    user="redis",
    group="redis",
    mode="0640",
    password_key="redis_password",
):
    """
    NAME (a Redis or Sentinel main config) exists and carries the seed marker; written only when it
    does not (the package's default file is replaced). KIND ``redis``: LINES, then ``replicaof`` unless
    this node (ADDRESS) is the master. KIND ``sentinel``: LINES, then ``sentinel monitor`` of the master
    with QUORUM and ``auth-pass``, then AFTER (the per-master settings). The password never appears in
    the output.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    if _owned(name):
        ret["comment"] = f"{name} was seeded before: {kind} owns it now"
        return ret
    master_name = _site("names:sentinel_master", master_name)
    port, sentinel_port = _site("ports:redis", port), _site("ports:sentinel", sentinel_port)
    reported = __salt__["fileshare_redis.sentinel_master"](master_name, sentinel_port)
    master = reported.rpartition(":")[0] if reported else initial_master
    source = "reported by Sentinel" if reported else "initial master from pillar"
    out = [MARKER + f" ({kind}); from now on {kind} rewrites it (failover), Salt never does.", *lines]
    if kind == "redis":
        if master != address:
            out.append(f"replicaof {master} {int(port)}")
    elif kind == "sentinel":
        password = __salt__["pillar.get"]("fileshare:secrets:" + password_key, "", unmask=True)
        quoted = '"' + str(password).replace("\\", "\\\\").replace('"', '\\"') + '"'
        out.append(f"sentinel monitor {master_name} {master} {int(port)} {int(quorum)}")
        out.append(f"sentinel auth-pass {master_name} {quoted}")
        out.extend(after)
    else:
        ret.update(result=False, comment=f"kind must be redis or sentinel, not {kind!r}")
        return ret
    ret["changes"] = {"seeded": {"old": None, "new": f"{kind} with master {master} ({source})"}}
    if __opts__.get("test"):
        ret.update(result=None, comment=f"{name} would be seeded")
        return ret
    tmp = name + ".salt-seed"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, int(str(mode), 8))
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(out) + "\n")
    __salt__["file.chown"](tmp, user, group)
    os.chmod(tmp, int(str(mode), 8))
    os.replace(tmp, name)
    ret["comment"] = f"{name} seeded: master {master} ({source})"
    return ret


def sentinel_set(name, settings, address=None, port=None):
    """
    The running Sentinel of this node watches master NAME with SETTINGS (``{option: value}``: its
    down-after-milliseconds, failover-timeout, parallel-syncs, quorum). The seeded file carries the
    settings of the day it was written and Sentinel owns it afterwards: a later pillar change reaches
    the Sentinels only through SENTINEL SET, which Sentinel also writes to its file.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    args = {"name": name, "address": address, "port": port}
    differ = __salt__["fileshare_redis.sentinel_settings"](settings, **args)
    if not differ:
        ret["comment"] = f"Sentinel watches {name} with the wanted settings"
        return ret
    ret["changes"] = {option: {"old": now, "new": wanted} for option, (now, wanted) in differ.items()}
    if __opts__.get("test"):
        ret.update(result=None, comment=f"Sentinel settings of {name} would change")
        return ret
    __salt__["fileshare_redis.sentinel_settings"](settings, apply=True, **args)
    ret["comment"] = f"Sentinel settings of {name} set: {', '.join(differ)}"
    return ret


def quorate(name=None, port=None):
    """
    Fail with the reasons unless every intermediate node's Sentinel reports the same master of NAME,
    that node is a master, and every other intermediate node is its replica, online. Changes nothing.
    """
    name = _site("names:sentinel_master", name)
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    verdict = __salt__["fileshare_redis.quorum"](name, port)
    if verdict["quorate"]:
        ret["comment"] = f"Sentinels agree: {name} master is {verdict['master']}, every replica online"
    else:
        ret.update(result=False, comment=f"Redis {name} is not quorate: " + "; ".join(verdict["reasons"]))
    return ret


def not_master(name=None, address=None, port=None, sentinel_port=None):
    """
    This node (ADDRESS, default its topology address) does not hold the Redis master of NAME: when it
    does, the master is handed over first (``fileshare_redis.hand_over``: writes paused at most 6 s,
    SENTINEL FAILOVER, this node follows the new master). Under test=True says whether it would.
    """
    name = _site("names:sentinel_master", name)
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    try:
        address = _site("node:address", address)
        role = __salt__["fileshare_redis.role"](address, port)
        if role != "master":
            role = role or "server that does not answer"
            ret["comment"] = f"{address} is a Redis {role}: nothing to hand over"
            return ret
        if __opts__.get("test"):
            ret.update(
                result=None,
                changes={"master": {"old": address, "new": "a promoted replica"}},
                comment=f"{address} holds the Redis master {name}: it would be handed over",
            )
            return ret
        done = __salt__["fileshare_redis.hand_over"](name, address, port, sentinel_port)
    except Exception as exc:  # CommandExecutionError from the module: the step fails with its reason
        ret.update(result=False, comment=f"Redis master {name} on {address}: {exc}")
        return ret
    if done["handed_over"]:
        ret["changes"] = {"master": {"old": address, "new": done["master"]}}
    ret["comment"] = "; ".join(done["notes"])
    return ret
