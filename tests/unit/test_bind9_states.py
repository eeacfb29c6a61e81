"""bind9 states with Salt's loader mocked: honest test=True, record diffs, refusals in the comment."""

import pytest
from suite_modules import load

bind9 = load("_modules/bind9.py", "bind9_for_states")
bind9_state = load("_states/bind9.py", "bind9_states")

ZONE = "example.lab"


class FakeDNS:
    """An authoritative server's answers for bind9.query and its dynamic updates for bind9.update."""

    def __init__(self, rrsets=None, accept=True):
        self.rrsets = rrsets or {}
        self.accept = accept
        self.updates = []

    def query(self, name, server, rdtype, port=53):
        return sorted(self.rrsets.get((name, rdtype), []))

    def update(self, zone, name, rdtype, data=None, action="add", **kw):
        self.updates.append((action, name, rdtype, data))
        if not self.accept:
            raise bind9.CommandExecutionError("REFUSED")
        have = self.rrsets.setdefault((name, rdtype), [])
        origin = bind9.dns.name.from_text(ZONE + ".")
        absolute = bind9.dns.rdata.from_text("IN", rdtype, data, origin=origin).to_text() if data else None
        if action == "add":
            have.append(absolute)
        elif action == "replace":
            have[:] = [absolute]
        elif action == "delete":
            have[:] = [h for h in have if data is not None and h != absolute]


@pytest.fixture
def dns():
    return FakeDNS({("files.example.lab.", "A"): ["10.77.0.100"]})


@pytest.fixture
def opts():
    return {"test": False}


@pytest.fixture
def plan():
    return {"changes": {}, "serial": (2026112801, 2026112801), "comment": "zone is up to date"}


@pytest.fixture
def configure_loader_modules(dns, opts, plan):
    def write_zone(name, zone_file, **kw):
        if isinstance(plan, Exception):
            raise plan
        plan["kw"] = kw
        return plan

    salt = {
        "bind9.write_zone": write_zone,
        "bind9.query": dns.query,
        "bind9.update": dns.update,
        "bind9.normalize_record": bind9.normalize_record,
    }
    return {bind9_state: {"__salt__": salt, "__opts__": opts}}


def test_zone_present_up_to_date_reports_no_changes(plan):
    ret = bind9_state.zone_present(ZONE, "/var/lib/bind/db.example.lab", records=[], nameservers=["ns1"])
    assert ret["result"] is True and ret["changes"] == {} and "2026112801" in ret["comment"]


def test_zone_present_reports_the_record_diff_and_serial(plan):
    plan.update(
        changes={"added": ["www 3600 A 10.0.0.1"], "removed": []},
        serial=(2026112801, 2026112802),
        comment="zone file installed; rndc reload example.lab",
    )
    ret = bind9_state.zone_present(
        ZONE,
        "/z",
        records=[{"name": "www", "type": "A", "data": "10.0.0.1"}],
        nameservers=["ns1"],
        allow_update=True,
    )
    assert ret["result"] is True
    assert ret["changes"] == {
        "records": {"added": ["www 3600 A 10.0.0.1"], "removed": []},
        "serial": {"old": 2026112801, "new": 2026112802},
    }
    assert plan["kw"]["allow_update"] is True and plan["kw"]["test"] is False


def test_zone_present_under_test_predicts_and_passes_test_down(plan, opts):
    opts["test"] = True
    plan.update(changes={"added": [], "removed": ["x 60 A 10.0.0.2"]}, serial=(5, 2026112800))
    ret = bind9_state.zone_present(ZONE, "/z", records=[], nameservers=["ns1"])
    assert ret["result"] is None and ret["changes"]["records"]["removed"] == ["x 60 A 10.0.0.2"]
    assert plan["kw"]["test"] is True


def test_zone_present_fails_with_the_reason(configure_loader_modules):
    def refuse(*a, **kw):
        raise bind9.CommandExecutionError("named-checkzone rejected example.lab: bad")

    bind9_state.__salt__["bind9.write_zone"] = refuse
    ret = bind9_state.zone_present(ZONE, "/z", records=[], nameservers=["ns1"])
    assert ret["result"] is False and "named-checkzone rejected" in ret["comment"]


def test_record_present_adds_a_missing_record_and_verifies_it(dns):
    ret = bind9_state.record_present("_webdav._tcp", ZONE, "SRV", "0 10 443 files", server="10.77.0.11")
    assert ret["result"] is True
    assert ret["changes"]["records"]["added"] == ["_webdav._tcp.example.lab. 300 SRV 0 10 443 files"]
    assert dns.updates == [("add", "_webdav._tcp.example.lab.", "SRV", "0 10 443 files")]


def test_record_present_is_idempotent_whatever_the_spelling(dns):
    ret = bind9_state.record_present("files.example.lab.", ZONE, "a", "10.77.0.100")
    assert ret["result"] is True and ret["changes"] == {} and dns.updates == []


def test_record_present_under_test_changes_nothing(dns, opts):
    opts["test"] = True
    ret = bind9_state.record_present("new", ZONE, "A", "10.0.0.5")
    assert ret["result"] is None and ret["changes"] and dns.updates == []


def test_record_present_replace_reports_what_goes(dns):
    ret = bind9_state.record_present("files", ZONE, "A", "10.77.0.101", replace=True)
    assert ret["changes"]["records"]["removed"] == ["files.example.lab. A 10.77.0.100"]
    assert dns.rrsets[("files.example.lab.", "A")] == ["10.77.0.101"]


def test_a_refused_update_fails_with_the_servers_answer():
    bind9_state.__salt__["bind9.update"] = FakeDNS(accept=False).update
    ret = bind9_state.record_present("new", ZONE, "A", "10.0.0.5")
    assert ret["result"] is False and "REFUSED" in ret["comment"] and ret["changes"] == {}


def test_an_update_the_server_accepts_but_does_not_serve_fails(dns):
    dns.update = lambda *a, **kw: True
    bind9_state.__salt__["bind9.update"] = dns.update
    ret = bind9_state.record_present("new", ZONE, "A", "10.0.0.5")
    assert ret["result"] is False and "does not answer" in ret["comment"]


def test_record_absent_removes_and_is_idempotent(dns):
    ret = bind9_state.record_absent("files", ZONE, "A", "10.77.0.100")
    assert ret["result"] is True
    assert ret["changes"]["records"]["removed"] == ["files.example.lab. A 10.77.0.100"]
    again = bind9_state.record_absent("files", ZONE, "A", "10.77.0.100")
    assert again["result"] is True and again["changes"] == {}


def test_record_absent_under_test_changes_nothing(dns, opts):
    opts["test"] = True
    ret = bind9_state.record_absent("files", ZONE, "A")
    assert ret["result"] is None and dns.updates == []
