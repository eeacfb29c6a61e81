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


def seeded(name, kind, address, initial_master, lines=(), after=(), master_name="fileshare", port=6379,
           sentinel_port=26379, quorum=2, user="redis", group="redis", mode="0640",
           password_key="redis_password"):
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


def quorate(name="fileshare", port=26379):
    """
    Fail with the reasons unless every intermediate node's Sentinel reports the same master of NAME,
    that node is a master, and every other intermediate node is its replica, online. Changes nothing.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    verdict = __salt__["fileshare_redis.quorum"](name, port)
    if verdict["quorate"]:
        ret["comment"] = f"Sentinels agree: {name} master is {verdict['master']}, every replica online"
    else:
        ret.update(result=False, comment=f"Redis {name} is not quorate: " + "; ".join(verdict["reasons"]))
    return ret
