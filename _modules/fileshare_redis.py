"""
Redis and Sentinel as the HA intermediate layer sees them: which master the Sentinels report, whether
they agree on it with every replica connected, and the hand-over of the master before a node restarts.
Talks RESP over a plain socket (no redis-py in the minion's Python); the Redis password comes from
pillar ``fileshare:secrets:redis_password`` and is never on a command line, returned nor logged.

Ports, the Sentinel master's name and the intermediate nodes come from the site's topology
(``fileshare_topology.get``) when the caller passes none.

.. code-block:: bash

    salt im1 fileshare_redis.sentinel_master
    salt im1 fileshare_redis.quorum
    salt im1 fileshare_redis.hand_over
"""

import socket
import time

from salt.exceptions import CommandExecutionError

__virtualname__ = "fileshare_redis"

# The hand-over's bounds, as measured in the lab (docs/rolling-upgrade.md): writes are paused (not
# refused) for at most PAUSE_MS while Sentinel promotes a replica; a promotion is looked for every
# 0.1 s for 5.5 s; a failover that hangs is waited out (every 1 s, at most 90 s) with writes flowing,
# then tried again, ATTEMPTS times in all; the old master must report role slave within 60 s.
PAUSE_MS = 6000
PROMOTION_LOOKS, PROMOTION_EVERY = 55, 0.1
ATTEMPTS = 3
WAIT_OUT_LOOKS = 90
ROLE_LOOKS = 60
# Once Sentinel has promoted another node, this one stays a paused master this long: it has no replica
# left, so HAProxy's Redis check fails here and its Redis front moves (2 failed checks 250 ms apart,
# then it cuts the sessions, which clients retry) while writes here still wait rather than fail.
CUT_HOLD = 1.2
# Sentinel names its connections so; cutting them makes a Sentinel wait up to 1 s to reconnect (its
# reconnect throttle), longer than down-after: measured, two Sentinels then took the new master for
# down and failed over a second time, losing writes.
SENTINEL_CLIENT = "sentinel-"


def __virtual__():
    return __virtualname__


# --------------------------------------------------------------------------- pure layer


def encode(*args):
    """A RESP array of bulk strings."""
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = str(arg).encode()
        out.append(f"${len(data)}\r\n".encode() + data + b"\r\n")
    return b"".join(out)


def decode(buf):
    """``(value, rest)`` of the first RESP reply in BUF; raises ValueError when BUF is incomplete."""
    if not buf:
        raise ValueError("incomplete")
    kind, end = buf[:1], buf.find(b"\r\n")
    if end < 0:
        raise ValueError("incomplete")
    line, rest = buf[1:end].decode(), buf[end + 2 :]
    if kind == b"+":
        return line, rest
    if kind == b"-":
        return RuntimeError(line), rest
    if kind == b":":
        return int(line), rest
    if kind == b"$":
        size = int(line)
        if size < 0:
            return None, rest
        if len(rest) < size + 2:
            raise ValueError("incomplete")
        return rest[:size].decode(), rest[size + 2 :]
    if kind == b"*":
        count = int(line)
        if count < 0:
            return None, rest
        items = []
        for _ in range(count):
            item, rest = decode(rest)
            items.append(item)
        return items, rest
    raise ValueError(f"not RESP: {buf[:20]!r}")


def parse_info(text):
    """``INFO`` text as a dict (``slaveN`` lines parsed into dicts)."""
    out = {}
    for line in (text or "").splitlines():
        if ":" not in line or line.startswith("#"):
            continue
        key, value = line.split(":", 1)
        if key.startswith("slave") and "=" in value:
            value = dict(part.split("=", 1) for part in value.split(",") if "=" in part)
        out[key] = value
    return out


def agreed(answers):
    """The master a majority of the Sentinels that answered report, else None."""
    votes = {}
    for answer in answers.values():
        if answer:
            votes[answer] = votes.get(answer, 0) + 1
    if not votes:
        return None
    best = max(votes, key=votes.get)
    return best if votes[best] * 2 > sum(votes.values()) else None


def reported_host(reply):
    """The host of a ``SENTINEL get-master-addr-by-name`` reply (``[host, port]``), else None."""
    return reply[0] if isinstance(reply, list) and reply and reply[0] else None


def failover_in_progress(reply):
    """Does a ``SENTINEL MASTER`` reply (flat ``[key, value, ...]``) say a failover is running?"""
    if not isinstance(reply, list):
        return False
    fields = dict(zip(reply[0::2], reply[1::2], strict=False))
    return "failover_in_progress" in str(fields.get("flags", "")).split(",")


def hand_over_master(link, me):
    """
    Move the Redis master away from ME (this node's address) through Sentinel; the decisions only, all
    I/O through LINK (``role()``, ``pause(ms)``, ``unpause()``, ``min_replicas(n)`` -> the value it
    replaces, ``failover()`` -> bool, ``master()`` -> host or None, ``in_failover()`` -> bool,
    ``replicaof(host)``, ``clients()`` -> ``CLIENT LIST TYPE normal`` text, ``kill(client_id)``,
    ``sleep(s)``).
    Returns ``{"handed_over", "master", "attempts", "notes"}``; ``handed_over`` is None when ME was
    not the master (nothing to do), False when Sentinel named no new master or ME stayed master.

    SENTINEL FAILOVER alone promotes a replica and leaves this node a writable master until Sentinel's
    next look at it (measured: two masters behind HAProxy for over 10 s; writes there are lost, redis
    issue 13118). So writes wait here (paused, not refused) while Sentinel promotes, and CUT_HOLD more
    while HAProxy leaves this node (it has no replica left) and cuts the sessions it sent here, which
    clients retry (redis-py does) on the new master. Redis refuses a write for want of replicas
    (NOREPLICAS) or as a replica (READONLY) before it looks at the pause, so min-replicas-to-write is
    0 while writes wait (none runs: nothing can be lost), and this node follows the new master only
    after the hold, cutting the clients still here (not Sentinels) before writes are let go. A
    promotion that does not come in time (measured once: another Sentinel turned the promoted replica
    back into a replica, and the failover hung until its 60 s timeout while 11 PUTs timed out behind a
    15 s pause) is waited out with writes flowing, then tried again.
    """
    notes = []
    role = link.role()
    if role != "master":
        return {
            "handed_over": None,
            "master": None,
            "attempts": 0,
            "notes": [f"{me} is a Redis {role or 'server that does not answer'}: nothing to hand over"],
        }

    def new_master():
        host = link.master()
        return host if host and host != me else None

    kept = []

    def hold():
        link.pause(PAUSE_MS)
        prior = link.min_replicas(0)
        if not kept:
            kept.append(prior)

    def release():
        try:
            link.min_replicas(kept[0])
        finally:
            link.unpause()

    new, attempt = None, 0
    for attempt in range(1, ATTEMPTS + 1):
        hold()
        if link.failover():
            for _ in range(PROMOTION_LOOKS):
                new = new_master()
                if new:
                    break
                link.sleep(PROMOTION_EVERY)
        if new:
            break
        release()
        notes.append(
            f"attempt {attempt}: no new Redis master {PROMOTION_LOOKS * PROMOTION_EVERY:g} s after "
            "SENTINEL FAILOVER; waiting for Sentinel to end it"
        )
        for _ in range(WAIT_OUT_LOOKS):
            new = new_master()
            if new or not link.in_failover():
                break
            link.sleep(1)
        if new:
            break
    if not new:
        notes.append(
            f"Sentinel named no new Redis master after {ATTEMPTS} SENTINEL FAILOVERs: {me} stays master"
        )
        return {"handed_over": False, "master": None, "attempts": attempt, "notes": notes}
    try:
        # Anew: the promotion may have used most of the first pause, or come while a hung failover
        # was waited out with writes flowing.
        hold()
        link.sleep(CUT_HOLD)
        link.replicaof(new)
        for client in clients_to_cut(link.clients()):
            link.kill(client)
    finally:
        release()
    for _ in range(ROLE_LOOKS):
        if link.role() == "slave":
            notes.append(f"{me} handed the Redis master over to {new} (SENTINEL FAILOVER)")
            return {"handed_over": True, "master": new, "attempts": attempt, "notes": notes}
        link.sleep(1)
    notes.append(f"{me} is still the Redis master {ROLE_LOOKS} s after SENTINEL FAILOVER")
    return {"handed_over": False, "master": new, "attempts": attempt, "notes": notes}


def clients_to_cut(client_list):
    """
    The ids in CLIENT_LIST (``CLIENT LIST`` text, one ``key=value ...`` line per client) of the
    clients a hand-over cuts: every one but Sentinel's (named ``sentinel-...``).
    """
    ids = []
    for line in (client_list or "").splitlines():
        fields = dict(word.split("=", 1) for word in line.split() if "=" in word)
        if fields.get("id", "").isdigit() and not fields.get("name", "").startswith(SENTINEL_CLIENT):
            ids.append(int(fields["id"]))
    return ids


def sentinel_changes(current, wanted):
    """
    The ``SENTINEL SET`` settings that differ: ``{option: (now, wanted)}``. CURRENT is the flat
    ``SENTINEL MASTER`` reply (``[key, value, key, value, ...]``) or a dict; WANTED ``{option: value}``
    with Sentinel's option names (down-after-milliseconds, failover-timeout, parallel-syncs, quorum).
    """
    if isinstance(current, (list, tuple)):
        current = dict(zip(current[::2], current[1::2], strict=False))
    current = {str(k): str(v) for k, v in (current or {}).items()}
    return {
        option: (current.get(option), str(value))
        for option, value in sorted(wanted.items())
        if current.get(option) != str(value)
    }


def sentinel_verdict(answers, replication, expected_sentinels, expected_replicas):
    """
    Verdict from each Sentinel's answer (``"host:port"`` or None) and the reported master's parsed
    ``INFO replication`` (None when it did not answer): ``{"quorate", "master", "reasons"}``.
    """
    reasons = []
    silent = sorted(addr for addr, answer in answers.items() if not answer)
    if silent:
        reasons.append(f"Sentinel on {', '.join(silent)} does not answer or knows no master")
    masters = sorted({answer for answer in answers.values() if answer})
    if len(masters) > 1:
        reasons.append(
            "Sentinels disagree on the master: "
            + ", ".join(f"{addr} says {answer}" for addr, answer in sorted(answers.items()) if answer)
        )
    if len(answers) < expected_sentinels:
        reasons.append(f"{len(answers)} Sentinels asked, {expected_sentinels} expected")
    master = masters[0] if len(masters) == 1 else None
    if master:
        if replication is None:
            reasons.append(f"master {master} does not answer")
        elif replication.get("role") != "master":
            reasons.append(f"{master} is not a master (role {replication.get('role')})")
        else:
            online = [
                v
                for k, v in replication.items()
                if k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online"
            ]
            if len(online) < expected_replicas:
                reasons.append(
                    f"master {master} has {len(online)} replicas online, {expected_replicas} expected"
                )
    return {"quorate": not reasons, "master": master, "reasons": reasons}


# --------------------------------------------------------------------------- outer layer


def command(host, port, *args, password=None, timeout=2.0):
    """Send one command (after AUTH when PASSWORD is given); its reply. Raises OSError/RuntimeError."""
    with socket.create_connection((host, int(port)), timeout=float(timeout)) as sock:
        payload = (encode("AUTH", password) if password else b"") + encode(*args)
        sock.sendall(payload)
        buf, replies = b"", []
        wanted = 2 if password else 1
        while len(replies) < wanted:
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError("connection closed")
            buf += chunk
            while buf and len(replies) < wanted:
                try:
                    value, buf = decode(buf)
                except ValueError:
                    break
                replies.append(value)
    for reply in replies:
        if isinstance(reply, RuntimeError):
            raise reply
    return replies[-1]


def _pillar(key, default):
    # Salt 3008 masks pillar.get's answer ("**********") unless asked for the plain value.
    return __salt__["pillar.get"](key, default, unmask=True)


def _password():
    return _pillar("fileshare:secrets:redis_password", "") or None


def _site(key, value=None):
    """VALUE when the caller gave one, else KEY of the site's topology (e.g. ``ports:sentinel``)."""
    found = value if value not in (None, "", []) else __salt__["fileshare_topology.get"](key)
    if found in (None, "", []):
        raise CommandExecutionError(f"the site's topology has no {key}: pass it explicitly")
    return found


def sentinel_answers(name=None, port=None, addresses=None, timeout=1.0):
    """
    What each intermediate node's Sentinel reports as the master of NAME: ``{address: "host:port"}``,
    None for a Sentinel that does not answer.

    CLI Example:

    .. code-block:: bash

        salt im1 fileshare_redis.sentinel_answers
        salt im1 fileshare_redis.sentinel_answers port=27000
    """
    name, port = _site("names:sentinel_master", name), _site("ports:sentinel", port)
    out = {}
    for address in addresses or _site("addresses:intermediate"):
        try:
            reply = command(address, port, "SENTINEL", "get-master-addr-by-name", name, timeout=timeout)
            out[address] = f"{reply[0]}:{reply[1]}" if reply else None
        except (OSError, RuntimeError, ValueError):
            out[address] = None
    return out


def sentinel_master(name=None, port=None, timeout=1.0):
    """
    The master (``"host:port"``) most Sentinels that answer report, or None (none runs yet).

    CLI Example:

    .. code-block:: bash

        salt im1 fileshare_redis.sentinel_master
    """
    return agreed(sentinel_answers(name, port, timeout=timeout))


def replication(host, port=None, timeout=2.0):
    """
    Parsed ``INFO replication`` of HOST:PORT (authenticated), None when it does not answer.

    CLI Example:

    .. code-block:: bash

        salt im1 fileshare_redis.replication 10.77.0.61
    """
    try:
        text = command(
            host, _site("ports:redis", port), "INFO", "replication", password=_password(), timeout=timeout
        )
    except (OSError, RuntimeError, ValueError):
        return None
    return parse_info(text)


def role(address=None, port=None):
    """
    This node's Redis role (``master``, ``slave``), None when it does not answer.

    CLI Example:

    .. code-block:: bash

        salt im1 fileshare_redis.role
    """
    info = replication(_site("node:address", address), port)
    return (info or {}).get("role")


class _Link:
    """hand_over_master's I/O: this node's Redis (authenticated) and its Sentinel (no password)."""

    def __init__(self, address, port, sentinel_port, name):
        self.address, self.port, self.sentinel_port, self.name = address, int(port), int(sentinel_port), name
        self.password = _password()

    def redis(self, *args):
        return command(self.address, self.port, *args, password=self.password)

    def sentinel(self, *args):
        return command(self.address, self.sentinel_port, "SENTINEL", *args)

    def role(self):
        return role(self.address, self.port)

    def pause(self, ms):
        self.redis("CLIENT", "PAUSE", int(ms), "WRITE")

    def unpause(self):
        self.redis("CLIENT", "UNPAUSE")

    def min_replicas(self, n):
        # Runtime only (no CONFIG REWRITE): a restart reads redis.conf's value again.
        reply = self.redis("CONFIG", "GET", "min-replicas-to-write")
        prior = int(reply[1]) if isinstance(reply, list) and len(reply) == 2 else 0
        self.redis("CONFIG", "SET", "min-replicas-to-write", int(n))
        return prior

    def failover(self):
        try:
            return self.sentinel("FAILOVER", self.name) == "OK"
        except (OSError, RuntimeError, ValueError):
            return False

    def master(self):
        try:
            return reported_host(self.sentinel("get-master-addr-by-name", self.name))
        except (OSError, RuntimeError, ValueError):
            return None

    def in_failover(self):
        try:
            return failover_in_progress(self.sentinel("MASTER", self.name))
        except (OSError, RuntimeError, ValueError):
            return False

    def replicaof(self, host):
        self.redis("REPLICAOF", host, self.port)

    def clients(self):
        # Normal clients only: not replicas, not pub/sub links.
        reply = self.redis("CLIENT", "LIST", "TYPE", "normal")
        return reply.decode() if isinstance(reply, bytes) else str(reply or "")

    def kill(self, client_id):
        try:
            self.redis("CLIENT", "KILL", "ID", int(client_id))
        except RuntimeError:
            pass  # gone already (ERR No such client)

    def sleep(self, seconds):
        time.sleep(seconds)


def hand_over(name=None, address=None, port=None, sentinel_port=None):
    """
    Hand the Redis master over when this node holds it: writes paused for at most 6 s, SENTINEL
    FAILOVER (up to 3 attempts), this node made a replica of the new master at once, writes resumed;
    ``{"handed_over", "master", "attempts", "notes"}`` (``handed_over`` None: it was not the master).
    Raises when Sentinel named no new master or this node stayed master.

    CLI Example:

    .. code-block:: bash

        salt im1 fileshare_redis.hand_over
        salt im1 fileshare_redis.hand_over name=fileshare address=10.77.0.61
    """
    link = _Link(
        _site("node:address", address),
        _site("ports:redis", port),
        _site("ports:sentinel", sentinel_port),
        _site("names:sentinel_master", name),
    )
    try:
        result = hand_over_master(link, link.address)
    except (OSError, RuntimeError, ValueError) as exc:
        raise CommandExecutionError(f"Redis on {link.address}: {exc}") from exc
    if result["handed_over"] is False:
        raise CommandExecutionError("; ".join(result["notes"]))
    return result


def sentinel_settings(settings, name=None, address=None, port=None, apply=False):
    """
    This node's Sentinel's settings for master NAME that differ from SETTINGS (``{option: value}``,
    Sentinel's option names), as ``{option: [now, wanted]}``; with APPLY, each is set (SENTINEL SET)
    and the answer is what was changed. Sentinel rewrites its own file, so the setting persists.

    CLI Example:

    .. code-block:: bash

        salt im1 fileshare_redis.sentinel_settings '{down-after-milliseconds: 1000}'
    """
    name = _site("names:sentinel_master", name)
    address, port = _site("node:address", address), _site("ports:sentinel", port)
    try:
        changes = sentinel_changes(command(address, port, "SENTINEL", "MASTER", name), settings)
        if apply:
            for option, (_, value) in changes.items():
                command(address, port, "SENTINEL", "SET", name, option, value)
    except (OSError, RuntimeError, ValueError) as exc:
        raise CommandExecutionError(f"Sentinel on {address}:{port}: {exc}") from exc
    return {option: list(pair) for option, pair in changes.items()}


def quorum(name=None, port=None):
    """
    Do all the intermediate nodes' Sentinels agree on one master of NAME, is it a master, and are all
    the other intermediate nodes its replicas, online? ``{"quorate", "master", "reasons"}``.

    CLI Example:

    .. code-block:: bash

        salt im1 fileshare_redis.quorum
    """
    addresses = _site("addresses:intermediate")
    answers = sentinel_answers(name, port, addresses)
    master = agreed(answers)
    info = None
    if master:
        host, _, mport = master.rpartition(":")
        info = replication(host, int(mport))
    return sentinel_verdict(answers, info, len(addresses), max(len(addresses) - 1, 0))
