"""
Galera gates and steps for orchestrations.

.. code-block:: yaml

    the Galera cluster is bootstrapped on db1:
      galera.bootstrapped:
        - name: fileshare
        - node: db1

    db2 has joined the cluster:
      galera.joined:
        - name: fileshare

    db2 is Synced:
      galera.synced:
        - name: fileshare
        - timeout: 300

    the Galera cluster is quorate:
      galera.quorate:
        - name: fileshare
"""

__virtualname__ = "galera"


def __virtual__():
    if "galera.status" in __salt__:
        return __virtualname__
    return False, "the galera execution module is not available (needs Salt's mysql module)"


def _ret(name):
    return {"name": name, "changes": {}, "result": True, "comment": ""}


def _service_start(service):
    """The action that makes this node join: start SERVICE (it joins through wsrep_cluster_address;
    the unit's start returns after the joiner's state transfer, rsync SST ~4 s in the lab)."""

    def start():
        if not __salt__["service.start"](service):
            raise RuntimeError(f"service {service} did not start")

    return start


def _start(ret, changes, would, action, done, failed, timeout):
    """Run ACTION, then wait until Synced; the state's answer either way (predicted under test)."""
    ret["changes"] = changes
    if __opts__.get("test"):
        ret.update(result=None, comment=would)
        return ret
    try:
        action()
        view = __salt__["galera.wait"]("Synced", timeout=timeout)
    except Exception as exc:
        ret.update(changes={}, result=False, comment=f"{failed}: {exc}")
        return ret
    ret["comment"] = f"{done} (size {view['cluster_size']})"
    return ret


def bootstrapped(name, node=None, timeout=120, service="mariadb"):
    """
    A Primary component exists, started here if this minion is NODE (default: this minion) and no
    Primary runs yet. On any other minion the state only reports. Refuses (never guesses) as
    ``galera.bootstrap`` does: safe_to_bootstrap 0, or a peer already Primary.

    name
        The cluster's name (for the output).
    node
        The one minion allowed to bootstrap; pick it with the ``galera.recover`` runner after an outage.

    When another member's health responder reports a Primary component (this node was rebuilt or
    restarted while the others ran on), SERVICE is started instead: the node joins, never bootstraps.
    """
    ret = _ret(name)
    me = __grains__["id"]
    view = __salt__["galera.status"]()
    if view.get("wsrep") and view["cluster_status"] == "Primary":
        ret["comment"] = f"{me} is in the Primary component of {name} (size {view['cluster_size']})"
        return ret
    if node and node != me:
        ret["comment"] = f"{me} is not the bootstrap node ({node}): nothing to do here"
        return ret
    if view:
        ret.update(
            result=False,
            comment=f"MariaDB runs on {me} but is not Primary "
            f"({view.get('cluster_status', 'wsrep off')}): not bootstrapping",
        )
        return ret
    running = sorted(
        peer
        for peer, peer_view in __salt__["galera.views"](True).items()
        if peer != me and peer_view.get("cluster_status") == "Primary"
    )
    if running:
        # This node was rebuilt or restarted while the others kept the cluster: it joins (IST/SST),
        # a second bootstrap would split the cluster in two.
        return _start(
            ret,
            {"joined": {"old": None, "new": me}},
            f"{service} would be started on {me} to join {name} (Primary on {', '.join(running)})",
            _service_start(service),
            f"{me} joined {name} (Primary on {', '.join(running)})",
            f"{me} did not join {name}",
            timeout,
        )
    return _start(
        ret,
        {"bootstrapped": {"old": None, "new": me}},
        f"{name} would be bootstrapped on {me}",
        __salt__["galera.bootstrap"],
        f"{name} bootstrapped on {me}",
        f"{name} not bootstrapped on {me}",
        timeout,
    )


def joined(name, timeout=120, service="mariadb"):
    """
    This node runs MariaDB in the Primary component. When MariaDB is stopped, SERVICE is started
    (it joins through ``wsrep_cluster_address``) and the state waits, at most TIMEOUT seconds,
    until the node is Synced.
    """
    ret = _ret(name)
    me = __grains__["id"]
    view = __salt__["galera.status"]()
    if view.get("wsrep") and view["connected"] and view["cluster_status"] == "Primary":
        ret["comment"] = f"{me} is a member of {name} ({view['local_state_comment']})"
        return ret
    if view:
        ret.update(
            result=False,
            comment=f"MariaDB runs on {me} but is not in a Primary component "
            f"({view.get('cluster_status', 'wsrep off')})",
        )
        return ret

    return _start(
        ret,
        {"joined": {"old": None, "new": me}},
        f"{service} would be started on {me} to join {name}",
        _service_start(service),
        f"{me} joined {name}",
        f"{me} did not join {name}",
        timeout,
    )


def synced(name, timeout=120, interval=2):
    """Wait, at most TIMEOUT seconds, until this node is Synced in the Primary component."""
    ret = _ret(name)
    if __opts__.get("test"):
        view = __salt__["galera.status"]()
        ret["result"] = None if view.get("local_state_comment") != "Synced" else True
        ret["comment"] = f"{name}: now {view.get('local_state_comment', 'no answer')}; would wait for Synced"
        return ret
    try:
        view = __salt__["galera.wait"]("Synced", timeout=timeout, interval=interval)
    except Exception as exc:
        ret.update(result=False, comment=f"{name}: {exc}")
        return ret
    ret["comment"] = f"{name}: Synced (size {view['cluster_size']})"
    return ret


def quorate(name, expected=None, peers=False):
    """
    Fail with the verdict's reasons unless the cluster is quorate as this node sees it
    (``peers=True``: also as the other data nodes' health responders report). Changes nothing.
    """
    ret = _ret(name)
    result = __salt__["galera.quorum"](expected=expected, peers=peers)
    if result["quorate"]:
        ret["comment"] = f"{name} is quorate (size {result['size']})"
    else:
        ret.update(result=False, comment=f"{name} is not quorate: " + "; ".join(result["reasons"]))
    return ret


def safe_to_take_down(name, node=None, expected=None):
    """
    Gate for rolling restarts: fail with the reasons unless NODE (default: this node) may be stopped
    now (``galera.safe_to_take_down``: the rest keep a Primary component and are Synced). Changes nothing.
    """
    ret = _ret(name)
    result = __salt__["galera.safe_to_take_down"](node=node, expected=expected)
    if result["safe"]:
        who = node or __grains__["id"]
        ret["comment"] = f"{who} may be taken down: the others keep {name} Primary and Synced"
    else:
        ret.update(
            result=False,
            comment=f"{node or __grains__['id']} must not be taken down: " + "; ".join(result["reasons"]),
        )
    return ret
