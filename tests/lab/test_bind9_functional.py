"""
The bind9 module and states against real named servers in lab nodes: node1 is the primary of a dynamic
zone (TSIG-signed updates) and of a static zone, node2 a secondary that transfers with the TSIG key, node3
a client. Every answer is checked with dig.
"""

import json
import re

import pytest

pytestmark = pytest.mark.lab

ZONE = "fs.test"
STATIC = f"static.{ZONE}"
ZONE_FILE = f"/var/lib/bind/db.{ZONE}"
STATIC_FILE = f"/var/lib/bind/db.{STATIC}"


@pytest.fixture(scope="module")
def dns(spare_lab):
    """Three bare mini_ha nodes: named primary on node1, secondary on node2, client node3 (a test SLS)."""
    spare_lab.up("mini_ha")
    spare_lab.salt("*", "saltutil.sync_all")
    pillar = json.dumps({"bind9_test": {"zone": ZONE, "primary": "node1", "secondary": "node2"}})
    out = spare_lab.salt_json(
        "*", "state.apply", "tests.lab.files.bind9_pair", f"pillar={pillar}", "-t", "900", timeout=900
    )
    for node in ("node1", "node2", "node3"):
        assert isinstance(out.get(node), dict), out
        failed = [r["comment"] for r in out[node].values() if r["result"] is not True]
        assert not failed, failed
    nodes = spare_lab.nodes
    spare_lab.addr = {name: n.address for name, n in nodes.items()}
    return spare_lab


def records(lab, extra=()):
    a = lab.addr
    return [
        {"name": "node1", "type": "A", "data": a["node1"]},
        {"name": "node2", "type": "A", "data": a["node2"]},
        {"name": "files", "type": "A", "data": a["node3"]},
        {"name": "_https._tcp", "type": "SRV", "data": "0 0 443 files"},
        *extra,
    ]


def zone_present(lab, recs, *, zone=ZONE, zone_file=ZONE_FILE, allow_update=True, test=False):
    args = [
        f"name={zone}",
        f"zone_file={zone_file}",
        f"allow_update={allow_update}",
        "user=bind",
        "group=bind",
        'nameservers=["node1", "node2"]',
        f"records={json.dumps(recs)}",
    ]
    if test:
        args.append("test=True")
    out = lab.salt_json("node1", "state.single", "bind9.zone_present", *args)
    (ret,) = out["node1"].values()
    return ret


def dig(lab, name, rdtype="A", server="node1", via="node3", key=False):
    opts = f"-y hmac-sha256:fileshare:{tsig_secret(lab)}" if key else ""
    cmd = f"dig +short +time=2 +tries=1 {opts} @{lab.addr[server]} {name} {rdtype}"
    return lab.node(via).run(cmd, timeout=30).stdout.split("\n")[:-1]


def soa_serial(lab, server="node1"):
    answer = dig(lab, ZONE, "SOA", server)
    return int(answer[0].split()[2]) if answer else 0


def tsig_secret(lab):
    """The site's TSIG secret as named has it (the test SLS wrote it from pillar)."""
    if not getattr(lab, "tsig", None):
        conf = lab.node("node1").run("cat /etc/bind/named.conf", timeout=30).stdout
        lab.tsig = re.search(r'secret "([^"]+)"', conf).group(1)
    return lab.tsig


def salt_call(lab, node, *args):
    """(ok, return) of one execution function on NODE; an exception comes back as "ERROR: ..."."""
    value = lab.salt_json(node, *args).get(node)
    return not (value is None or isinstance(value, str) and value.startswith("ERROR")), value


def test_zone_is_served_by_the_primary_and_transferred_to_the_secondary(dns, wait_until):
    ret = zone_present(dns, records(dns))
    assert ret["result"] is True, ret["comment"]
    assert "files 3600 A " + dns.addr["node3"] in ret["changes"]["records"]["added"]
    assert dig(dns, f"files.{ZONE}") == [dns.addr["node3"]]
    assert wait_until(lambda: dig(dns, f"files.{ZONE}", server="node2") == [dns.addr["node3"]], timeout=30)
    assert soa_serial(dns, "node2") == soa_serial(dns) == ret["changes"]["serial"]["new"]


def test_transfers_need_the_tsig_key(dns):
    node3 = dns.node("node3")
    plain = node3.run(f"dig @{dns.addr['node1']} {ZONE} AXFR", timeout=30).stdout
    assert "Transfer failed" in plain
    signed = dig(dns, ZONE, "AXFR", key=True)
    assert any(f"files.{ZONE}." in line for line in signed)
    ok, out = salt_call(dns, "node3", "bind9.axfr", ZONE, dns.addr["node1"])
    assert ok and ["files", "A", 3600, dns.addr["node3"]] in out


def test_bind9_query_asks_a_given_server(dns):
    ok, out = salt_call(dns, "node3", "bind9.query", f"files.{ZONE}", dns.addr["node2"], "A")
    assert ok and out == [dns.addr["node3"]]
    ok, out = salt_call(dns, "node3", "bind9.query", f"nothing.{ZONE}", dns.addr["node1"], "A")
    assert ok and out == []


def test_a_second_run_changes_nothing_and_a_dry_run_predicts_without_writing(dns):
    serial = soa_serial(dns)
    again = zone_present(dns, records(dns))
    assert again["result"] is True and again["changes"] == {}
    extra = [{"name": "dry", "type": "A", "data": "10.9.9.9"}]
    dry = zone_present(dns, records(dns, extra), test=True)
    assert dry["result"] is None and dry["changes"]["records"]["added"] == ["dry 3600 A 10.9.9.9"]
    assert soa_serial(dns) == serial and dig(dns, f"dry.{ZONE}") == []


def test_signed_dynamic_updates_reach_primary_and_secondary(dns, wait_until):
    ok, out = salt_call(
        dns, "node3", "bind9.update", ZONE, "app9", "A", "10.191.0.49", f"server={dns.addr['node1']}"
    )
    assert ok, out
    assert dig(dns, f"app9.{ZONE}") == ["10.191.0.49"]
    assert wait_until(lambda: dig(dns, f"app9.{ZONE}", server="node2") == ["10.191.0.49"], timeout=30)


def test_unsigned_and_wrongly_signed_updates_are_refused(dns):
    node3 = dns.node("node3")
    script = f"server {dns.addr['node1']}\\nzone {ZONE}\\nupdate add evil.{ZONE} 60 A 10.6.6.6\\nsend\\n"
    out = node3.run(f"printf '{script}' | nsupdate", timeout=30)
    assert out.returncode != 0 and "REFUSED" in out.stdout + out.stderr
    ok, out = salt_call(
        dns,
        "node3",
        "bind9.update",
        ZONE,
        "evil",
        "A",
        "10.6.6.6",
        f"server={dns.addr['node1']}",
        "secret=d3Jvbmcta2V5LWZvci10ZXN0aW5nIQ==",
    )
    assert not ok and "update of" in out
    assert dig(dns, f"evil.{ZONE}") == []


def test_a_state_run_keeps_dynamic_records_and_moves_the_serial_once(dns, wait_until):
    before = soa_serial(dns)
    ret = zone_present(dns, records(dns, [{"name": "www", "type": "CNAME", "data": "files"}]))
    assert ret["result"] is True and ret["changes"]["records"] == {
        "added": ["www 3600 CNAME files"],
        "removed": [],
    }
    assert "freeze/thaw" in ret["comment"]
    after = ret["changes"]["serial"]["new"]
    assert after > before
    # rndc thaw schedules the zone's reload: named serves the new serial a moment later.
    assert wait_until(lambda: soa_serial(dns) == after, timeout=15)
    assert dig(dns, f"app9.{ZONE}") == ["10.191.0.49"]  # the nsupdate record survived the state run
    assert dig(dns, f"www.{ZONE}") == [f"files.{ZONE}.", dns.addr["node3"]]
    assert wait_until(lambda: soa_serial(dns, "node2") == after, timeout=30)
    assert dig(dns, f"app9.{ZONE}", server="node2") == ["10.191.0.49"]


def test_record_present_and_absent_through_signed_updates(dns):
    args = [f"zone={ZONE}", "rdtype=SRV", "data=0 10 443 files", f"server={dns.addr['node1']}"]
    out = dns.salt_json("node3", "state.single", "bind9.record_present", "name=_webdav._tcp", *args)
    (ret,) = out["node3"].values()
    assert ret["result"] is True and ret["changes"]["records"]["added"]
    assert dig(dns, f"_webdav._tcp.{ZONE}", "SRV") == [f"0 10 443 files.{ZONE}."]
    out = dns.salt_json("node3", "state.single", "bind9.record_present", "name=_webdav._tcp", *args)
    assert list(out["node3"].values())[0]["changes"] == {}
    out = dns.salt_json("node3", "state.single", "bind9.record_absent", "name=_webdav._tcp", *args)
    (ret,) = out["node3"].values()
    assert ret["result"] is True and ret["changes"]["records"]["removed"]
    assert dig(dns, f"_webdav._tcp.{ZONE}", "SRV") == []


def test_a_static_zone_is_reloaded_alone(dns):
    recs = [
        {"name": "node1", "type": "A", "data": dns.addr["node1"]},
        {"name": "node2", "type": "A", "data": dns.addr["node2"]},
        {"name": "box", "type": "A", "data": "10.1.2.3"},
    ]
    ret = zone_present(dns, recs, zone=STATIC, zone_file=STATIC_FILE, allow_update=False)
    assert ret["result"] is True, ret["comment"]
    assert dig(dns, f"box.{STATIC}") == ["10.1.2.3"]
    recs[2]["data"] = "10.1.2.4"
    ret = zone_present(dns, recs, zone=STATIC, zone_file=STATIC_FILE, allow_update=False)
    assert ret["comment"].endswith(f"rndc reload {STATIC}")
    assert dig(dns, f"box.{STATIC}") == ["10.1.2.4"]
    log = dns.node("node1").run("journalctl -u named --no-pager -o cat", timeout=30).stdout
    commands = re.findall(r"received control channel command '([^']*)'", log)
    assert f"reload {STATIC}" in commands and "reload" not in commands


def test_a_zone_named_checkzone_rejects_is_not_installed(dns):
    before = sorted(dig(dns, ZONE, "AXFR", key=True))
    # dnspython takes an underscore in a host name; named-checkzone -k fail (check-names) does not.
    ret = zone_present(dns, records(dns, [{"name": "bad_host", "type": "A", "data": "10.1.1.1"}]))
    assert ret["result"] is False and "named-checkzone rejected" in ret["comment"]
    assert sorted(dig(dns, ZONE, "AXFR", key=True)) == before  # same records, same serial
    assert dig(dns, f"files.{ZONE}") == [dns.addr["node3"]]  # still served, and thawed:
    ok, _ = salt_call(
        dns, "node3", "bind9.update", ZONE, "app8", "A", "10.191.0.48", f"server={dns.addr['node1']}"
    )
    assert ok and dig(dns, f"app8.{ZONE}") == ["10.191.0.48"]
