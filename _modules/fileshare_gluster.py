"""
GlusterFS as the rolling upgrade sees it: is every brick of the volume connected, with nothing left
to heal? The pure layer parses ``gluster volume heal VOL info`` and judges it; the outer layer runs the
command on a storage node and waits.

The volume and the number of bricks (one per storage node) come from the site's topology
(``fileshare_topology.get``) when the caller passes none.

.. code-block:: bash

    salt st1 fileshare_gluster.heal_status
    salt st1 fileshare_gluster.wait_healed timeout=300
"""

import time

from salt.exceptions import CommandExecutionError

__virtualname__ = "fileshare_gluster"


def __virtual__():
    if __salt__["cmd.has_exec"]("gluster"):
        return __virtualname__
    return False, "fileshare_gluster needs the gluster command (a storage node)"


# --------------------------------------------------------------------------- pure layer


def parse_heal_info(text):
    """
    ``gluster volume heal VOL info`` -> ``[{"brick", "status", "entries"}]`` in the output's order;
    ``entries`` is None where Gluster printed ``-`` (a brick it cannot reach).

    CLI Example:

    .. code-block:: bash

        salt-call fileshare_gluster.parse_heal_info "$(gluster volume heal fileshare info)"
    """
    bricks = []
    for line in (text or "").splitlines():
        line = line.strip()
        if line.startswith("Brick "):
            bricks.append({"brick": line[len("Brick ") :].strip(), "status": None, "entries": None})
        elif bricks and line.startswith("Status:"):
            bricks[-1]["status"] = line.split(":", 1)[1].strip()
        elif bricks and line.startswith("Number of entries:"):
            count = line.split(":", 1)[1].strip()
            bricks[-1]["entries"] = int(count) if count.isdigit() else None
    return bricks


def heal_verdict(bricks, expected, volume):
    """
    ``{"healed", "bricks", "down", "pending", "comment"}`` from parsed heal info: healed when exactly
    EXPECTED bricks are listed, every one Connected, and no entry is left to heal.
    """
    down = [b["brick"] for b in bricks if b["status"] != "Connected"]
    pending = sum(b["entries"] or 0 for b in bricks)
    healed = len(bricks) == int(expected) and not down and pending == 0
    if healed:
        comment = f"volume {volume}: {len(bricks)} bricks connected, nothing to heal"
    else:
        comment = (
            f"volume {volume}: {len(bricks)} of {expected} bricks listed, {len(down)} not connected"
            f"{' (' + ', '.join(down) + ')' if down else ''}, {pending} entries to heal"
        )
    return {"healed": healed, "bricks": len(bricks), "down": down, "pending": pending, "comment": comment}


# --------------------------------------------------------------------------- outer layer


def _site(key, value=None):
    """VALUE when the caller gave one, else KEY of the site's topology (e.g. ``ports:sentinel``)."""
    found = value if value not in (None, "", []) else __salt__["fileshare_topology.get"](key)
    if found in (None, "", []):
        raise CommandExecutionError(f"the site's topology has no {key}: pass it explicitly")
    return found


def heal_status(volume=None, bricks=None):
    """
    One look at the volume's heal info, judged: ``{"healed", "bricks", "down", "pending", "comment"}``.
    BRICKS: how many bricks the volume must list (default: the site's storage nodes).

    CLI Example:

    .. code-block:: bash

        salt st1 fileshare_gluster.heal_status
        salt st1 fileshare_gluster.heal_status fileshare bricks=3
    """
    volume = _site("names:volume", volume)
    expected = int(bricks) if bricks else len(_site("roles:storage"))
    res = __salt__["cmd.run_all"](
        ["gluster", "volume", "heal", volume, "info"], python_shell=False, ignore_retcode=True
    )
    verdict = heal_verdict(parse_heal_info(res.get("stdout", "")), expected, volume)
    if res.get("retcode") and not verdict["healed"]:
        verdict["comment"] += f" (gluster: {(res.get('stderr') or res.get('stdout') or '').strip()[:200]})"
    return verdict


def wait_healed(volume=None, bricks=None, timeout=300, interval=2):
    """
    Look every INTERVAL seconds, at most TIMEOUT (0: once), until every brick is connected and nothing
    is left to heal; the last verdict, or CommandExecutionError naming what is still wrong.

    CLI Example:

    .. code-block:: bash

        salt st1 fileshare_gluster.wait_healed timeout=300
    """
    deadline = time.monotonic() + float(timeout)
    while True:
        verdict = heal_status(volume, bricks)
        if verdict["healed"]:
            return verdict
        if time.monotonic() >= deadline:
            raise CommandExecutionError(verdict["comment"])
        time.sleep(float(interval))
