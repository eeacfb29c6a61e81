"""
The VIP's hand-over on a load node during a rolling upgrade.

.. code-block:: yaml

    This load node does not hold the VIP:
      fileshare_vip.released:
        - name: 10.77.0.30
        - fqdn: files.example.org

    No web session is left on this load node:
      fileshare_vip.sessions_finished:
        - name: 10.77.0.30
        - ports: [80, 443]

    This load node contends for the VIP again:
      fileshare_vip.contending:
        - name: 10.77.0.30

The VIP, its name and the ports default to the site's topology (``fileshare_topology.get``).
"""

import time

__virtualname__ = "fileshare_vip"


def __virtual__():
    if "fileshare_vip.held" in __salt__:
        return __virtualname__
    return False, "the fileshare_vip execution module is not available"


def _ret(name):
    return {"name": name, "changes": {}, "result": True, "comment": ""}


def released(name=None, fqdn=None, port=None, service="keepalived"):
    """
    This node does not hold the VIP NAME: if it does, SERVICE (keepalived) is stopped cleanly, the VIP
    must leave within 30 s and ``https://FQDN/health`` answer 200 on it from another node within 30
    tries. Under test=True says whether it would stop SERVICE.
    """
    ret = _ret(name)
    try:
        if __opts__.get("test"):
            if __salt__["fileshare_vip.held"](name):
                ret.update(
                    result=None,
                    changes={"vip": {"old": "held", "new": "given up"}},
                    comment=f"this node holds the VIP: {service} would be stopped",
                )
            else:
                ret["comment"] = "this node does not hold the VIP"
            return ret
        done = __salt__["fileshare_vip.give_up"](name, fqdn, port, service)
    except Exception as exc:  # CommandExecutionError: which wait ran out
        ret.update(result=False, comment=str(exc))
        return ret
    if done["held"]:
        ret["changes"] = {
            "vip": {"old": "held", "new": "given up"},
            service: {"old": "running", "new": "stopped"},
        }
    ret["comment"] = done["comment"]
    return ret


def sessions_finished(name=None, ports=None, service="haproxy", timeout=60):
    """
    No web session from the VIP NAME is left on this node: when some are, SERVICE (HAProxy) is
    reloaded to finish them, at most TIMEOUT seconds. Under test=True counts them and says whether it
    would reload.
    """
    ret = _ret(name)
    try:
        if __opts__.get("test"):
            left = __salt__["fileshare_vip.sessions"](name, ports)
            if left:
                ret.update(
                    result=None,
                    changes={"sessions": {"old": left, "new": 0}},
                    comment=f"{left} web sessions open: {service} would be reloaded",
                )
            else:
                ret["comment"] = "no web session open"
            return ret
        done = __salt__["fileshare_vip.finish_sessions"](name, ports, service, timeout)
    except Exception as exc:  # CommandExecutionError: how many outlasted the bound
        ret.update(result=False, comment=str(exc))
        return ret
    if done["sessions"]:
        ret["changes"] = {"sessions": {"old": done["sessions"], "new": 0}}
    ret["comment"] = done["comment"]
    return ret


def contending(name=None, service="keepalived", front="haproxy", timeout=30):
    """
    SERVICE (keepalived) runs on this node again (started if not: it takes the VIP back after its
    preempt_delay when it has the highest priority), and FRONT (HAProxy) is active within TIMEOUT
    seconds. Under test=True says what it would start.
    """
    ret = _ret(name)
    running = __salt__["service.status"](service)
    if not running:
        ret["changes"] = {service: {"old": "stopped", "new": "running"}}
        if __opts__.get("test"):
            ret.update(result=None, comment=f"{service} would be started")
            return ret
        __salt__["service.start"](service)
        if not __salt__["service.status"](service):
            ret.update(result=False, comment=f"{service} did not start")
            return ret
    looks = 1 if __opts__.get("test") else max(int(timeout), 1)
    for look in range(looks):
        if __salt__["service.status"](front):
            ret["comment"] = f"{service} runs ({'already running' if running else 'started'}), {front} active"
            return ret
        if look + 1 < looks:
            time.sleep(1)
    if __opts__.get("test"):
        ret.update(result=None, comment=f"{service} runs, {front} is not active now")
    else:
        ret.update(result=False, comment=f"{service} runs, {front} is not active after {timeout} s")
    return ret
