"""
Redis and Sentinel as the HA intermediate layer sees them: which master the Sentinels report, and
whether they agree on it with every replica connected. Talks RESP over a plain socket (no redis-py in
the minion's Python); the Redis password comes from pillar ``fileshare:secrets:redis_password`` and is
never returned nor logged.

.. code-block:: bash

    salt im1 fileshare_redis.sentinel_master
    salt im1 fileshare_redis.quorum
"""

import socket

__virtualname__ = "fileshare_redis"

SENTINEL_PORT = 26379
REDIS_PORT = 6379


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
    line, rest = buf[1:end].decode(), buf[end + 2:]
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
        return rest[:size].decode(), rest[size + 2:]
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
        reasons.append("Sentinels disagree on the master: " + ", ".join(
            f"{addr} says {answer}" for addr, answer in sorted(answers.items()) if answer))
    if len(answers) < expected_sentinels:
        reasons.append(f"{len(answers)} Sentinels asked, {expected_sentinels} expected")
    master = masters[0] if len(masters) == 1 else None
    if master:
        if replication is None:
            reasons.append(f"master {master} does not answer")
        elif replication.get("role") != "master":
            reasons.append(f"{master} is not a master (role {replication.get('role')})")
        else:
            online = [v for k, v in replication.items()
                      if k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online"]
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


def _intermediate_addresses():
    return [n["address"] for n in _pillar("fileshare:nodes", []) if "intermediate" in n.get("roles", [])]


def sentinel_answers(name="fileshare", port=SENTINEL_PORT, addresses=None, timeout=1.0):
    """
    What each intermediate node's Sentinel reports as the master of NAME: ``{address: "host:port"}``,
    None for a Sentinel that does not answer.

    CLI Example:

    .. code-block:: bash

        salt im1 fileshare_redis.sentinel_answers
    """
    out = {}
    for address in addresses or _intermediate_addresses():
        try:
            reply = command(address, port, "SENTINEL", "get-master-addr-by-name", name, timeout=timeout)
            out[address] = f"{reply[0]}:{reply[1]}" if reply else None
        except (OSError, RuntimeError, ValueError):
            out[address] = None
    return out


def sentinel_master(name="fileshare", port=SENTINEL_PORT, timeout=1.0):
    """
    The master (``"host:port"``) most Sentinels that answer report, or None (none runs yet).

    CLI Example:

    .. code-block:: bash

        salt im1 fileshare_redis.sentinel_master
    """
    return agreed(sentinel_answers(name, port, timeout=timeout))


def replication(host, port=REDIS_PORT, timeout=2.0):
    """Parsed ``INFO replication`` of HOST:PORT (authenticated), None when it does not answer."""
    try:
        text = command(host, port, "INFO", "replication",
                       password=_pillar("fileshare:secrets:redis_password", "") or None, timeout=timeout)
    except (OSError, RuntimeError, ValueError):
        return None
    return parse_info(text)


def quorum(name="fileshare", port=SENTINEL_PORT):
    """
    Do all the intermediate nodes' Sentinels agree on one master of NAME, is it a master, and are all
    the other intermediate nodes its replicas, online? ``{"quorate", "master", "reasons"}``.

    CLI Example:

    .. code-block:: bash

        salt im1 fileshare_redis.quorum
    """
    addresses = _intermediate_addresses()
    answers = sentinel_answers(name, port, addresses)
    master = agreed(answers)
    info = None
    if master:
        host, _, mport = master.rpartition(":")
        info = replication(host, int(mport))
    return sentinel_verdict(answers, info, len(addresses), max(len(addresses) - 1, 0))
