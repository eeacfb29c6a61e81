"""
BIND 9 zones and records.

.. code-block:: yaml

    zone example.lab is served:
      bind9.zone_present:
        - name: example.lab
        - zone_file: /var/lib/bind/db.example.lab
        - nameservers: [ns1]
        - records:
          - {name: ns1, type: A, data: 10.77.0.11}
          - {name: files, type: A, data: 10.77.0.11}
        - allow_update: True

    webdav service is registered in DNS:
      bind9.record_present:
        - name: _webdav._tcp
        - zone: example.lab
        - rdtype: SRV
        - data: 0 10 443 files
        - server: 10.77.0.11

Changes are reported as a record diff (``added``/``removed``) and the SOA serial move.
"""

__virtualname__ = "bind9"


def __virtual__():
    if "bind9.write_zone" in __salt__:
        return __virtualname__
    return False, "the bind9 execution module is not available (needs dnspython)"


def _ret(name):
    return {"name": name, "changes": {}, "result": True, "comment": ""}


def zone_present(
    name,
    zone_file,
    records=None,
    nameservers=None,
    soa_email=None,
    allow_update=False,
    ttl=3600,
    soa_timers=None,
    user=None,
    group=None,
    mode="0644",
):
    """
    The zone NAME is served from ZONE_FILE with exactly the declared records (plus, when
    ``allow_update``, the records added by dynamic update since: they are never lost). The SOA
    serial (YYYYMMDDnn) moves only when the content changes; the file is checked with dnspython
    and named-checkzone before it is installed; only this zone is reloaded.

    name
        The zone (``example.lab``).
    zone_file
        Path of the zone file (dynamic zones: a directory named can write, e.g. /var/lib/bind).
    records
        List of ``{name, type, data, ttl?}``; names relative to the zone (``@`` for the apex) or
        FQDNs with a trailing dot.
    nameservers
        Host names for the apex NS (relative or FQDN with a trailing dot); the first is the SOA MNAME.
    soa_email
        Contact address (``hostmaster@example.lab``); default ``hostmaster.<zone>``.
    allow_update
        The zone takes RFC 2136 updates: edit between rndc freeze/thaw, keep dynamic records.
    """
    ret = _ret(name)
    test = bool(__opts__.get("test"))
    try:
        plan = __salt__["bind9.write_zone"](
            name,
            zone_file,
            records=records or [],
            nameservers=nameservers or [],
            soa_email=soa_email,
            allow_update=allow_update,
            ttl=ttl,
            soa_timers=soa_timers,
            user=user,
            group=group,
            mode=mode,
            test=test,
        )
    except Exception as exc:  # CommandExecutionError or a dnspython parse error: report, never guess
        ret["result"] = False
        ret["comment"] = f"zone {name} not installed: {exc}"
        return ret
    if not plan["changes"]:
        ret["comment"] = f"zone {name} is up to date (serial {plan['serial'][0]})"
        return ret
    ret["changes"] = {
        "records": plan["changes"],
        "serial": {"old": plan["serial"][0], "new": plan["serial"][1]},
    }
    if test:
        ret["result"] = None
        ret["comment"] = f"zone {name} would be updated in {zone_file}"
    else:
        ret["comment"] = f"zone {name}: {plan['comment']}"
    return ret


def _current(name, zone, rdtype, server, port):
    fqdn = name if name.endswith(".") else f"{name}.{zone.rstrip('.')}."
    answers = __salt__["bind9.query"](fqdn, server, rdtype, port=port)
    norm = __salt__["bind9.normalize_record"]
    return fqdn, sorted({norm({"name": fqdn, "type": rdtype, "data": a}, zone)[3] for a in answers})


def record_present(
    name,
    zone,
    rdtype,
    data,
    ttl=300,
    server="127.0.0.1",
    replace=False,
    keyname=None,
    secret=None,
    algorithm=None,
    port=53,
):
    """
    The record NAME RDTYPE DATA exists in ZONE at SERVER, added by a TSIG-signed dynamic update.
    With ``replace`` the whole RRset becomes DATA. The zone must allow updates by the TSIG key.
    """
    ret = _ret(name)
    rdtype = str(rdtype).upper()
    try:
        want = __salt__["bind9.normalize_record"]({"name": name, "type": rdtype, "data": data}, zone)[3]
        fqdn, have = _current(name, zone, rdtype, server, port)
    except Exception as exc:
        ret.update(result=False, comment=f"cannot read {name}/{rdtype} at {server}: {exc}")
        return ret
    if want in have and (not replace or have == [want]):
        ret["comment"] = f"{fqdn} {rdtype} {want} is present"
        return ret
    removed = [h for h in have if h != want] if replace else []
    ret["changes"] = {
        "records": {
            "added": [f"{fqdn} {ttl} {rdtype} {want}"],
            "removed": [f"{fqdn} {rdtype} {h}" for h in removed],
        }
    }
    if __opts__.get("test"):
        ret.update(result=None, comment=f"{fqdn} {rdtype} {want} would be added")
        return ret
    try:
        __salt__["bind9.update"](
            zone,
            fqdn,
            rdtype,
            data,
            ttl=ttl,
            action="replace" if replace else "add",
            server=server,
            keyname=keyname,
            secret=secret,
            algorithm=algorithm,
            port=port,
        )
        _, after = _current(name, zone, rdtype, server, port)
    except Exception as exc:
        ret.update(changes={}, result=False, comment=f"update of {fqdn} {rdtype} failed: {exc}")
        return ret
    if want not in after:
        ret.update(
            changes={},
            result=False,
            comment=f"{server} accepted the update but does not answer {fqdn} {rdtype} {want}",
        )
        return ret
    ret["comment"] = f"{fqdn} {rdtype} {want} added"
    return ret


def record_absent(
    name, zone, rdtype, data=None, server="127.0.0.1", keyname=None, secret=None, algorithm=None, port=53
):
    """
    The record NAME RDTYPE DATA (or, without DATA, the whole RRset) is absent from ZONE at SERVER,
    removed by a TSIG-signed dynamic update.
    """
    ret = _ret(name)
    rdtype = str(rdtype).upper()
    try:
        fqdn, have = _current(name, zone, rdtype, server, port)
        want = (
            __salt__["bind9.normalize_record"]({"name": name, "type": rdtype, "data": data}, zone)[3]
            if data is not None
            else None
        )
    except Exception as exc:
        ret.update(result=False, comment=f"cannot read {name}/{rdtype} at {server}: {exc}")
        return ret
    gone = [h for h in have if want is None or h == want]
    if not gone:
        ret["comment"] = " ".join(str(p) for p in (fqdn, rdtype, want) if p) + " is absent"
        return ret
    ret["changes"] = {"records": {"added": [], "removed": [f"{fqdn} {rdtype} {g}" for g in gone]}}
    if __opts__.get("test"):
        ret.update(result=None, comment=f"{fqdn} {rdtype} would be removed")
        return ret
    try:
        __salt__["bind9.update"](
            zone,
            fqdn,
            rdtype,
            data,
            action="delete",
            server=server,
            keyname=keyname,
            secret=secret,
            algorithm=algorithm,
            port=port,
        )
        _, after = _current(name, zone, rdtype, server, port)
    except Exception as exc:
        ret.update(changes={}, result=False, comment=f"removal of {fqdn} {rdtype} failed: {exc}")
        return ret
    if any(g in after for g in gone):
        ret.update(changes={}, result=False, comment=f"{server} still answers {fqdn} {rdtype}")
        return ret
    ret["comment"] = f"{fqdn} {rdtype} removed"
    return ret
