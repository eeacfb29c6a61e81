"""
The VIP on a load node, for rolling upgrades: does this node hold it, give it up (keepalived stopped
cleanly: a priority-0 advertisement, the BACKUP takes it at once) and check another node answers on
it, count the web sessions still open on it, and finish them with an HAProxy reload.

The pure layer reads ``ip -4 -o addr show`` and ``ss -Htn`` output; the outer layer runs them, and
systemd through Salt's ``service`` module. The VIP, the service's name and the web ports come from the
site's topology (``fileshare_topology.get``) when the caller passes none.

.. code-block:: bash

    salt lb1 fileshare_vip.held
    salt lb1 fileshare_vip.give_up
    salt lb1 fileshare_vip.sessions
    salt lb1 fileshare_vip.finish_sessions
"""

import time

from salt.exceptions import CommandExecutionError

__virtualname__ = "fileshare_vip"

# Bounds measured in the lab (docs/rolling-upgrade.md): the VIP leaves within a second of keepalived's
# stop and is looked for every second for 30 s; another node must answer on it within 30 tries; the
# sessions an HAProxy reload leaves to its old process end within 60 s.
RELEASE_LOOKS = 30
ANSWER_TRIES = 30
DRAIN_LOOKS = 60


def __virtual__():
    if __salt__["cmd.has_exec"]("ip") and __salt__["cmd.has_exec"]("ss"):
        return __virtualname__
    return False, "fileshare_vip needs ip and ss (iproute2)"


# --------------------------------------------------------------------------- pure layer


def holds(ip_addr_text, address):
    """Does ``ip -4 -o addr show`` output list ADDRESS (any prefix) on an interface?"""
    for line in (ip_addr_text or "").splitlines():
        fields = line.split()
        if "inet" in fields:
            cidr = fields[fields.index("inet") + 1] if fields.index("inet") + 1 < len(fields) else ""
            if cidr.split("/")[0] == address:
                return True
    return False


def ss_filter(ports):
    """The ``ss`` filter tokens for sessions whose local port is one of PORTS."""
    tokens = ["("]
    for i, port in enumerate(ports):
        tokens += (["or"] if i else []) + ["sport", "=", f":{int(port)}"]
    return tokens + [")"]


def count_sessions(ss_text):
    """Sessions in ``ss -H`` output (one per non-empty line)."""
    return sum(1 for line in (ss_text or "").splitlines() if line.strip())


# --------------------------------------------------------------------------- outer layer


def _site(key, value=None):
    """VALUE when the caller gave one, else KEY of the site's topology (e.g. ``ports:sentinel``)."""
    found = value if value not in (None, "", []) else __salt__["fileshare_topology.get"](key)
    if found in (None, "", []):
        raise CommandExecutionError(f"the site's topology has no {key}: pass it explicitly")
    return found


def _run(argv):
    res = __salt__["cmd.run_all"](argv, python_shell=False, ignore_retcode=True)
    if res.get("retcode"):
        raise CommandExecutionError(f"{' '.join(argv)}: {(res.get('stderr') or '').strip()}")
    return res.get("stdout", "")


def held(address=None):
    """
    Does this node hold the VIP (ADDRESS, default the site's)?

    CLI Example:

    .. code-block:: bash

        salt lb1,lb2 fileshare_vip.held
    """
    return holds(_run(["ip", "-4", "-o", "addr", "show"]), _site("vip:address", address))


def give_up(address=None, fqdn=None, port=None, service="keepalived"):
    """
    When this node holds the VIP: stop keepalived (cleanly: its BACKUP takes the VIP at once), wait
    at most 30 s for the VIP to leave, then at most 30 tries for ``https://FQDN/health`` on the VIP
    to answer 200 from another node. ``{"held", "comment"}``; raises when a wait runs out.

    CLI Example:

    .. code-block:: bash

        salt lb1 fileshare_vip.give_up
        salt lb1 fileshare_vip.give_up address=10.77.0.30 fqdn=files.example.org port=443
    """
    address, fqdn = _site("vip:address", address), _site("vip:fqdn", fqdn)
    port = _site("ports:https", port)
    me = __grains__.get("id", "this node")
    if not held(address):
        return {"held": False, "comment": f"{me} does not hold the VIP {address}"}
    __salt__["service.stop"](service)
    for look in range(RELEASE_LOOKS):
        if not held(address):
            break
        if look + 1 < RELEASE_LOOKS:
            time.sleep(1)
    else:
        raise CommandExecutionError(f"{me} still holds the VIP {RELEASE_LOOKS} s after {service} stopped")
    try:
        __salt__["fileshare_http.wait"](
            f"https://{address}:{int(port)}/health", host=fqdn, attempts=ANSWER_TRIES, interval=1, timeout=5
        )
    except CommandExecutionError as exc:
        raise CommandExecutionError(f"nobody answers on the VIP after {me} gave it up: {exc}") from exc
    return {"held": True, "comment": f"{me} gave the VIP up; another load node answers on it"}


def sessions(address=None, ports=None):
    """
    The established TCP sessions from the VIP (ADDRESS) on the web ports (PORTS, default the site's
    http and https ports) on this node.

    CLI Example:

    .. code-block:: bash

        salt lb1 fileshare_vip.sessions
        salt lb1 fileshare_vip.sessions ports='[80, 443]'
    """
    address = _site("vip:address", address)
    ports = ports or [_site("ports:http"), _site("ports:https")]
    return count_sessions(_run(["ss", "-Htn", "state", "established", *ss_filter(ports), "src", address]))


def finish_sessions(address=None, ports=None, service="haproxy", timeout=DRAIN_LOOKS):
    """
    End the web sessions still open on this node: when any is, reload HAProxy (its old process closes
    idle keep-alive connections and answers the others with Connection: close; clients reopen on the
    VIP holder) and look every second, at most TIMEOUT seconds, until none is left.
    ``{"sessions", "seconds", "comment"}``; raises with the count when some outlast TIMEOUT.

    CLI Example:

    .. code-block:: bash

        salt lb2 fileshare_vip.finish_sessions
    """
    me = __grains__.get("id", "this node")
    left = sessions(address, ports)
    if not left:
        return {"sessions": 0, "seconds": 0, "comment": f"no web session open on {me}"}
    before = left
    __salt__["service.reload"](service)
    for second in range(1, int(timeout) + 1):
        left = sessions(address, ports)
        if not left:
            return {
                "sessions": before,
                "seconds": second,
                "comment": f"every web session on {me} ended ({second} s; {before} open before the reload)",
            }
        time.sleep(1)
    raise CommandExecutionError(
        f"{left} web sessions still open on {me} {timeout} s after {service}'s reload"
    )
