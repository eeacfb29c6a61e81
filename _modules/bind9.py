"""
Authoritative BIND 9 zones: render, validate, install, reload one zone, and talk DNS.

The pure layer (``_build_zone``, ``_zone_records``, ``diff_records``, ``next_serial``,
``_merge_dynamic``, ``_validate``) takes data and returns data; the outer layer reads files,
runs ``named-checkzone`` and ``rndc`` through ``cmd.run_all`` and speaks DNS with dnspython.

Zone files are rendered by dnspython, never by string templates. A record is the tuple
``(name, type, ttl, data)`` with ``name`` relative to the zone origin (``@`` for the apex)
and ``data`` in canonical presentation form relative to the origin.

TSIG: functions that sign (``update``, ``axfr``, ``record_present`` ...) take ``keyname``,
``secret`` and ``algorithm``; when not given they read the config/pillar options
``bind9.tsig_name`` (default ``fileshare``), ``bind9.tsig_algorithm`` (default
``hmac-sha256``) and ``bind9.tsig_secret`` (default: pillar ``fileshare:secrets:tsig_key``).
Secrets are never logged nor returned.
"""

import datetime
import json
import logging
import os
import re
import socket
import tempfile
import time

from salt.exceptions import CommandExecutionError

try:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype
    import dns.rdtypes.ANY.SOA
    import dns.tsigkeyring
    import dns.update
    import dns.zone

    HAS_DNSPYTHON = True
except ImportError:
    HAS_DNSPYTHON = False

log = logging.getLogger(__name__)

__virtualname__ = "bind9"

DEFAULT_TTL = 3600
# refresh, retry, expire, negative-cache TTL (RFC 1912 ranges, short refresh so secondaries follow fast)
DEFAULT_SOA_TIMERS = {"refresh": 3600, "retry": 600, "expire": 1209600, "minimum": 300}
MAX_SERIAL = 2**32 - 1


def __virtual__():
    if not HAS_DNSPYTHON:
        return False, "The bind9 module needs dnspython (python3-dnspython / pip dnspython)."
    return __virtualname__


# --------------------------------------------------------------------------- pure layer


def next_serial(current, today):
    """
    Return the next SOA serial in the YYYYMMDDnn convention.

    ``today`` is a ``datetime.date``. The result is always greater than ``current`` (a serial
    must only grow, or secondaries ignore the change). The 100th change of a day borrows the
    next day's numbers (2026112899 -> 2026112900), and a later day restarts at nn=00 only if
    that is still greater than ``current``.

    CLI Example:

    .. code-block:: bash

        salt-call bind9.next_serial 2026112899 2026-11-28
    """
    if isinstance(today, str):
        today = datetime.date.fromisoformat(today)
    current = int(current or 0)
    if current < 0 or current >= MAX_SERIAL:
        raise ValueError(f"SOA serial {current} is outside 0..{MAX_SERIAL - 1}")
    candidate = max(current + 1, int(today.strftime("%Y%m%d")) * 100)
    if candidate > MAX_SERIAL:
        raise ValueError(f"SOA serial would pass {MAX_SERIAL}")
    return candidate


def _email_to_rname(email, origin):
    """``hostmaster@example.lab`` -> ``hostmaster.example.lab.`` (dots in the local part escaped)."""
    if not email:
        return f"hostmaster.{_absolute(origin)}"
    if "@" not in email:
        return _absolute(email)
    local, domain = email.split("@", 1)
    return local.replace(".", "\\.") + "." + _absolute(domain)


def _absolute(name):
    return name if name.endswith(".") else name + "."


def normalize_record(record, origin):
    """
    Canonical ``(name, type, ttl, data)`` for a pillar record ``{name, type, data, ttl?}``.

    Raises ``ValueError`` naming the record when dnspython cannot parse it.

    CLI Example:

    .. code-block:: bash

        salt-call bind9.normalize_record '{name: www.example.lab., type: cname, data: node1}' example.lab
    """
    origin_name = dns.name.from_text(_absolute(origin))
    try:
        rdtype = dns.rdatatype.from_text(str(record["type"]).upper())
        name = dns.name.from_text(str(record.get("name", "@")), origin=origin_name)
        rdata = dns.rdata.from_text(
            dns.rdataclass.IN, rdtype, str(record["data"]), origin=origin_name, relativize_to=origin_name
        )
        ttl = int(record.get("ttl") or record.get("_default_ttl") or DEFAULT_TTL)
    except (KeyError, ValueError, dns.exception.DNSException) as exc:
        raise ValueError(f"record {record!r} is not valid: {exc}") from exc
    if not name.is_subdomain(origin_name):
        raise ValueError(f"record {record!r} is outside zone {origin}")
    rel = name.relativize(origin_name).to_text()
    return (rel, dns.rdatatype.to_text(rdtype), ttl, rdata.to_text(origin=origin_name, relativize=True))


def _record_text(rec):
    """One record as a zone-file-like line, for diffs: ``www 3600 A 10.0.0.1``."""
    return f"{rec[0]} {rec[2]} {rec[1]} {rec[3]}"


def _build_zone(origin, records, nameservers, serial, soa_email=None, ttl=DEFAULT_TTL, soa_timers=None):
    """
    Build a ``dns.zone.Zone`` from declared records (dicts) plus the apex SOA and NS.

    ``nameservers`` are host names relative to the zone or FQDNs with a trailing dot; the first
    one is the SOA MNAME.
    """
    if not nameservers:
        raise ValueError(f"zone {origin} needs at least one nameserver")
    origin_name = dns.name.from_text(_absolute(origin))
    zone = dns.zone.Zone(origin_name, relativize=True)
    timers = dict(DEFAULT_SOA_TIMERS, **(soa_timers or {}))
    soa_text = "{} {} {} {refresh} {retry} {expire} {minimum}".format(
        nameservers[0], _email_to_rname(soa_email, origin), int(serial), **timers
    )
    recs = [("@", "SOA", ttl, soa_text)]
    recs += [("@", "NS", ttl, ns) for ns in nameservers]
    for rec in records:
        recs.append(tuple(rec) if isinstance(rec, (tuple, list)) else rec)
    norm = [
        normalize_record(dict(r, _default_ttl=r.get("ttl") or ttl), origin) if isinstance(r, dict) else r
        for r in recs
    ]
    # dnspython silently keeps only one of a CNAME and other data at one name: refuse instead.
    types = {}
    for name, rdtype, _, _ in norm:
        types.setdefault(name, set()).add(rdtype)
    for name, found in sorted(types.items()):
        if "CNAME" in found and len(found) > 1:
            raise ValueError(f"{name} has a CNAME beside other data ({', '.join(sorted(found))})")
    for name, rdtype, rttl, data in norm:
        rdata = dns.rdata.from_text(
            dns.rdataclass.IN, rdtype, data, origin=origin_name, relativize_to=origin_name
        )
        rdataset = zone.find_rdataset(name, rdtype, create=True)
        rdataset.add(rdata, int(rttl))
    return zone


def _zone_records(zone):
    """Every record of a zone as a sorted list of ``(name, type, ttl, data)``, SOA included."""
    out = []
    for name, ttl, rdata in zone.iterate_rdatas():
        out.append(
            (name.to_text(), dns.rdatatype.to_text(rdata.rdtype), int(ttl), rdata.to_text(origin=zone.origin))
        )
    return sorted(out)


def _soa_of(records):
    """The SOA record tuple of a record list, or None."""
    for rec in records:
        if rec[0] == "@" and rec[1] == "SOA":
            return rec
    return None


def _serial_of(records):
    soa = _soa_of(records)
    return int(soa[3].split()[2]) if soa else 0


def _content(records):
    """Records that define a zone's content: everything, with the SOA serial blanked."""
    out = set()
    for rec in records:
        rec = tuple(rec)
        if rec[1] == "SOA":
            fields = rec[3].split()
            fields[2] = "*"
            rec = (rec[0], rec[1], rec[2], " ".join(fields))
        out.add(rec)
    return out


def diff_records(current, desired):
    """
    ``{"added": [...], "removed": [...]}`` between two record lists, SOA serial ignored.

    CLI Example:

    .. code-block:: bash

        salt-call bind9.diff_records '[[www, A, 3600, 10.0.0.1]]' '[[www, A, 3600, 10.0.0.2]]'
    """
    cur, des = _content(current), _content(desired)
    return {
        "added": [_record_text(r) for r in sorted(des - cur)],
        "removed": [_record_text(r) for r in sorted(cur - des)],
    }


def _merge_dynamic(live, previously_declared, declared):
    """
    Records a dynamic zone must hold after a state run.

    Records present live that the state did not declare last time were added by dynamic update
    (RFC 2136) and are kept (bind-formula issue #104: a state run must not lose them). Records the
    state declared last time and no longer declares are removed. Apex SOA/NS always come from the
    declaration. All arguments are lists of record tuples; returns a sorted list.
    """
    prev = {tuple(r) for r in previously_declared or []}
    keep = {
        tuple(r) for r in live or [] if tuple(r) not in prev and not (r[0] == "@" and r[1] in ("SOA", "NS"))
    }
    return sorted(keep | {tuple(r) for r in declared})


def _validate(records, origin):
    """
    Problems in a record list (strings; empty when valid): missing SOA/NS at the apex, a CNAME
    beside other data, an in-zone nameserver or CNAME/SRV/MX target without an address.
    """
    problems = []
    by_name = {}
    for rec in records:
        by_name.setdefault(rec[0], set()).add(rec[1])
    apex = by_name.get("@", set())
    if "SOA" not in apex:
        problems.append(f"zone {origin} has no SOA at the apex")
    if "NS" not in apex:
        problems.append(f"zone {origin} has no NS at the apex")
    for name, types in sorted(by_name.items()):
        if "CNAME" in types and types - {"CNAME", "RRSIG", "NSEC"}:
            problems.append(f"{name} has a CNAME beside other data ({', '.join(sorted(types))})")
    for rec in records:
        if rec[1] in ("NS", "MX", "SRV"):
            target = rec[3].split()[-1]
            need = {"A", "AAAA"}
        elif rec[1] == "CNAME":
            target, need = rec[3], None
        else:
            continue
        if target.endswith(".") or (rec[1] == "SRV" and target == "."):
            continue  # outside the zone, or SRV "no service here"
        have = by_name.get(target, set())
        if (need is None and not have) or (need is not None and not have & need):
            problems.append(f"{rec[1]} target {target} (from {rec[0]}) has no address in the zone")
    return problems


def _render(zone):
    """Zone file text (dnspython's presentation format) with a header saying who owns it."""
    return "; Managed by Salt (bind9.zone_present). Do not edit: use pillar or nsupdate.\n" + zone.to_text(
        want_origin=True, nl="\n"
    )


def _parse(text, origin):
    """Records of a zone file text (raises ``CommandExecutionError`` when it does not parse)."""
    try:
        zone = dns.zone.from_text(text, origin=_absolute(origin), relativize=True, check_origin=False)
    except dns.exception.DNSException as exc:
        raise CommandExecutionError(f"zone {origin}: cannot parse: {exc}") from exc
    return _zone_records(zone)


# --------------------------------------------------------------------------- outer layer


def _tsig(keyname=None, secret=None, algorithm=None):
    keyname = keyname or __salt__["config.get"]("bind9.tsig_name", "fileshare")
    algorithm = algorithm or __salt__["config.get"]("bind9.tsig_algorithm", "hmac-sha256")
    # Salt 3008 masks pillar.get's answer ("**********") unless asked for the plain value.
    secret = (
        secret
        or __salt__["config.get"]("bind9.tsig_secret")
        or __salt__["pillar.get"]("fileshare:secrets:tsig_key", unmask=True)
    )
    if not secret:
        raise CommandExecutionError("no TSIG secret: pass secret= or set pillar fileshare:secrets:tsig_key")
    return dns.tsigkeyring.from_text({keyname: secret}), dns.name.from_text(keyname), algorithm


def _address(server):
    try:
        return socket.getaddrinfo(server, 53, proto=socket.IPPROTO_UDP)[0][4][0]
    except OSError as exc:
        raise CommandExecutionError(f"cannot resolve DNS server {server}: {exc}") from exc


def _run(cmd, ignore_retcode=False):
    res = __salt__["cmd.run_all"](cmd, python_shell=False, ignore_retcode=ignore_retcode)
    return res


def query(name, server="127.0.0.1", rdtype="A", port=53, timeout=3.0):
    """
    Ask SERVER directly (no recursion wanted) for NAME/RDTYPE; return the answer data as strings,
    ``[]`` for NXDOMAIN or no data. Raises on timeout or a refusing server.

    CLI Example:

    .. code-block:: bash

        salt '*' bind9.query files.example.lab 10.77.0.11 A
    """
    msg = dns.message.make_query(name, rdtype)
    msg.flags &= ~dns.flags.RD  # ask the authority itself, never its recursion
    where = _address(server)
    try:
        resp = dns.query.udp(msg, where, timeout=float(timeout), port=int(port))
        if resp.flags & dns.flags.TC:
            resp = dns.query.tcp(msg, where, timeout=float(timeout), port=int(port))
    except (dns.exception.DNSException, OSError) as exc:
        raise CommandExecutionError(f"{server} did not answer {name}/{rdtype}: {exc}") from exc
    rcode = resp.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        return []
    if rcode != dns.rcode.NOERROR:
        raise CommandExecutionError(f"{server} answered {name}/{rdtype} with {dns.rcode.to_text(rcode)}")
    want = dns.rdatatype.from_text(rdtype)
    return sorted(rd.to_text() for rrset in resp.answer if rrset.rdtype == want for rd in rrset)


def axfr(zone, server="127.0.0.1", keyname=None, secret=None, algorithm=None, port=53):
    """
    Transfer ZONE from SERVER with TSIG; return its records as ``[name, type, ttl, data]`` lists.

    CLI Example:

    .. code-block:: bash

        salt ns2 bind9.axfr example.lab 10.77.0.21
    """
    keyring, kname, alg = _tsig(keyname, secret, algorithm)
    try:
        xfr = dns.query.xfr(
            _address(server),
            zone,
            keyring=keyring,
            keyname=kname,
            keyalgorithm=alg,
            port=int(port),
            lifetime=15,
        )
        return [list(r) for r in _zone_records(dns.zone.from_xfr(xfr))]
    except (dns.exception.DNSException, OSError) as exc:
        raise CommandExecutionError(f"AXFR of {zone} from {server} failed: {exc}") from exc


def update(
    zone,
    name,
    rdtype,
    data=None,
    ttl=300,
    action="add",
    server="127.0.0.1",
    keyname=None,
    secret=None,
    algorithm=None,
    port=53,
):
    """
    Send one RFC 2136 dynamic update signed with TSIG. ``action`` is ``add``, ``replace`` (the whole
    RRset becomes DATA) or ``delete`` (DATA given: that record; else the whole RRset).

    CLI Example:

    .. code-block:: bash

        salt node1 bind9.update example.lab _webdav._tcp SRV "0 10 443 node1" action=add
        salt node1 bind9.update example.lab node9 A action=delete
    """
    keyring, kname, alg = _tsig(keyname, secret, algorithm)
    upd = dns.update.UpdateMessage(zone, keyring=keyring, keyname=kname, keyalgorithm=alg)
    if action == "add":
        upd.add(name, int(ttl), rdtype, data)
    elif action == "replace":
        upd.replace(name, int(ttl), rdtype, data)
    elif action == "delete":
        if data is None:
            upd.delete(name, rdtype)
        else:
            upd.delete(name, rdtype, data)
    else:
        raise CommandExecutionError(f"unknown update action {action!r} (add, replace, delete)")
    try:
        resp = dns.query.tcp(upd, _address(server), timeout=10, port=int(port))
    except (dns.exception.DNSException, OSError) as exc:
        raise CommandExecutionError(f"dynamic update of {zone} at {server} failed: {exc}") from exc
    if resp.rcode() != dns.rcode.NOERROR:
        raise CommandExecutionError(
            f"{server} refused the update of {name}/{rdtype} in {zone}: {dns.rcode.to_text(resp.rcode())}"
        )
    return True


def rndc(*args):
    """
    Run ``rndc ARGS``; return its output or raise with rndc's message.

    CLI Example:

    .. code-block:: bash

        salt ns1 bind9.rndc reload example.lab
    """
    res = _run(["rndc"] + [str(a) for a in args], ignore_retcode=True)
    if res["retcode"] != 0:
        raise CommandExecutionError(f"rndc {' '.join(args)}: {(res['stderr'] or res['stdout']).strip()}")
    return res["stdout"]


def zone_loaded(zone):
    """
    True when the running named serves ZONE (``rndc zonestatus``); False if named is down or
    does not know the zone.

    CLI Example:

    .. code-block:: bash

        salt ns1 bind9.zone_loaded example.lab
    """
    return served_serial(zone) is not None


def served_serial(zone):
    """
    The SOA serial the running named serves for ZONE (``rndc zonestatus``; 0 when it shows none),
    or None when named is down or does not serve the zone.

    CLI Example:

    .. code-block:: bash

        salt ns1 bind9.served_serial example.lab
    """
    res = _run(["rndc", "zonestatus", zone], ignore_retcode=True)
    if res["retcode"] != 0:
        return None
    match = re.search(r"^serial: (\d+)", res["stdout"] or "", re.M)
    return int(match.group(1)) if match else 0


def _read_synced_zone(name, zone_file, served, timeout=15.0):
    """
    Read a frozen dynamic zone's file once named has dumped its journal into it. ``rndc freeze``
    returns before the dump is written (named dumps asynchronously), so reading at once could miss
    the newest dynamic records and reuse a serial: wait until the file's serial reaches SERVED.
    """
    deadline = time.monotonic() + timeout
    while True:
        current = read_zone_file(name, zone_file)
        if served is None or _serial_of(current) >= served:
            return current
        if time.monotonic() > deadline:
            raise CommandExecutionError(
                f"zone {name}: named did not write serial {served} to {zone_file} within {timeout:.0f}s "
                "after rndc freeze"
            )
        time.sleep(0.2)


def check_zone(zone, path):
    """
    Validate a zone file with ``named-checkzone``; return True or raise with its report.

    CLI Example:

    .. code-block:: bash

        salt ns1 bind9.check_zone example.lab /var/lib/bind/db.example.lab
    """
    cmd = ["named-checkzone", "-k", "fail", "-n", "fail", "-i", "local", zone, path]
    res = _run(cmd, ignore_retcode=True)
    if res["retcode"] != 0:
        raise CommandExecutionError(f"named-checkzone rejected {zone}: {res['stdout'].strip()}")
    return True


def read_zone_file(zone, zone_file):
    """
    Records of ZONE as written in ZONE_FILE (``[]`` when the file does not exist).

    CLI Example:

    .. code-block:: bash

        salt ns1 bind9.read_zone_file example.lab /var/lib/bind/db.example.lab
    """
    if not os.path.exists(zone_file):
        return []
    with open(zone_file, encoding="utf-8") as fh:
        return [list(r) for r in _parse(fh.read(), zone)]


def _sidecar(zone_file):
    # The records the state declared last time, so a dynamic zone can tell them from records
    # added by nsupdate. Kept beside the zone file (named writes that directory too).
    return zone_file + ".salt-declared.json"


def _declared_last(zone_file):
    """Records the last state run declared for a dynamic zone (``[]`` if never)."""
    try:
        with open(_sidecar(zone_file), encoding="utf-8") as fh:
            return [tuple(r) for r in json.load(fh)]
    except FileNotFoundError:
        return []


def _owner(path, user, group, mode):
    import grp
    import pwd

    if user or group:
        os.chown(
            path,
            pwd.getpwnam(user).pw_uid if user else -1,
            grp.getgrnam(group).gr_gid if group else -1,
        )
    os.chmod(path, int(str(mode), 8))


def _install_zone(zone, zone_file, text, user=None, group=None, mode="0644"):
    """
    Write TEXT to ZONE_FILE atomically after ``named-checkzone`` accepted it (a rejected file is
    never installed). Returns True or raises with the checker's report.
    """
    directory = os.path.dirname(zone_file) or "."
    fd, tmp = tempfile.mkstemp(prefix=".salt-zone-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        check_zone(zone, tmp)
        _owner(tmp, user, group, mode)
        os.replace(tmp, zone_file)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return True


def plan_zone(
    name,
    zone_file,
    records=None,
    nameservers=None,
    soa_email=None,
    allow_update=False,
    ttl=DEFAULT_TTL,
    soa_timers=None,
    today=None,
    current=None,
    served=None,
):
    """
    Work out what ``zone_present`` would write: returns ``{"changes": diff, "serial": (old, new),
    "records": desired, "declared": declared, "text": zone text or None when unchanged}``.
    ``current`` is the live record list (read by the caller); ``served`` the serial named serves,
    which the new serial must pass too. Pure apart from the clock and the declared-records file of
    dynamic zones.

    CLI Example:

    .. code-block:: bash

        salt ns1 bind9.plan_zone example.lab /var/lib/bind/db.example.lab \
            records='[{name: www, type: A, data: 10.77.0.11}]' nameservers='[ns1]'
    """
    today = today or datetime.date.today()
    current = [tuple(r) for r in current or []]
    declared_zone = _build_zone(name, records or [], nameservers or [], 0, soa_email, ttl, soa_timers)
    declared = _zone_records(declared_zone)
    if allow_update:
        desired = _merge_dynamic(current, _declared_last(zone_file), declared)
    else:
        desired = declared
    problems = _validate(desired, name)
    if problems:
        raise CommandExecutionError(f"zone {name}: " + "; ".join(problems))
    diff = diff_records(current, desired)
    old_serial = _serial_of(current)
    if not diff["added"] and not diff["removed"]:
        return {
            "changes": {},
            "serial": (old_serial, old_serial),
            "records": current,
            "declared": declared,
            "text": None,
        }
    new_serial = next_serial(max(old_serial, served or 0), today)
    final = _build_zone(
        name, [r for r in desired if r[1] != "SOA"], nameservers, new_serial, soa_email, ttl, soa_timers
    )
    # build_zone added apex NS from nameservers again; the set semantics of rdatasets dedupe them.
    return {
        "changes": diff,
        "serial": (old_serial, new_serial),
        "records": _zone_records(final),
        "declared": declared,
        "text": _render(final),
    }


def write_zone(
    name,
    zone_file,
    records=None,
    nameservers=None,
    soa_email=None,
    allow_update=False,
    ttl=DEFAULT_TTL,
    soa_timers=None,
    user=None,
    group=None,
    mode="0644",
    test=False,
):
    """
    Bring ZONE_FILE to the declared content and make named serve it; return the plan (see
    ``plan_zone``) plus ``"comment"``.

    Dynamic zones (``allow_update``) are frozen with rndc while the file is read and written and
    thawed after (bind-formula issue #124), so the journal is synced into the file first and no
    update lands between read and write. Static zones are reloaded alone (``rndc reload ZONE``).
    Under ``test`` nothing is frozen or written: a dynamic zone is read after ``rndc sync``.

    CLI Example:

    .. code-block:: bash

        salt ns1 bind9.write_zone example.lab /var/lib/bind/db.example.lab \\
            records='[{name: www, type: A, data: 10.77.0.11}]' nameservers='[ns1]'
    """
    served = served_serial(name)
    loaded = served is not None
    frozen = False
    if allow_update and loaded:
        if test:
            rndc("sync", name)
        else:
            rndc("freeze", name)
            frozen = True
    try:
        if allow_update and loaded:
            current = _read_synced_zone(name, zone_file, served)
        else:
            current = read_zone_file(name, zone_file)
        plan = plan_zone(
            name,
            zone_file,
            records,
            nameservers,
            soa_email,
            allow_update,
            ttl,
            soa_timers,
            current=current,
            served=served,
        )
        if test or plan["text"] is None:
            plan["comment"] = "zone is up to date" if plan["text"] is None else "zone would be updated"
            return plan
        _install_zone(name, zone_file, plan["text"], user, group, mode)
        if allow_update:
            with open(_sidecar(zone_file), "w", encoding="utf-8") as fh:
                json.dump([list(r) for r in plan["declared"]], fh)
    finally:
        if frozen:
            rndc("thaw", name)  # thaw reloads the zone from the file we wrote
    if not loaded:
        if _run(["rndc", "status"], ignore_retcode=True)["retcode"] != 0:
            plan["comment"] = "zone file installed; named is not running and will load it when started"
            return plan
        # A zone named knows but failed to load (no file yet at its start) takes a reload; a zone
        # new to named.conf only a reconfig.
        try:
            rndc("reload", name)
        except CommandExecutionError:
            rndc("reconfig")
        if not zone_loaded(name):
            raise CommandExecutionError(f"zone file installed but named does not serve {name}: see its log")
        plan["comment"] = f"zone file installed; named now serves {name}"
    elif not frozen:
        rndc("reload", name)
        plan["comment"] = f"zone file installed; rndc reload {name}"
    else:
        plan["comment"] = f"zone file installed between rndc freeze/thaw {name}"
    return plan
