"""
bind9's outer layer with Salt's loader mocked (pytest-salt-factories): which rndc and named-checkzone
commands run, in which order, and what lands on disk. named itself is exercised in tests/lab.
"""

import json
import os
import re

import pytest
from suite_modules import load

bind9 = load("_modules/bind9.py", "bind9_module")
bind9_state = load("_states/bind9.py", "bind9_state")

ZONE = "example.lab"
RECORDS = [
    {"name": "ns1", "type": "A", "data": "10.77.0.11"},
    {"name": "files", "type": "A", "data": "10.77.0.100"},
]
DYNAMIC_LINE = "app9 300 IN A 10.77.0.49\n"


class FakeNamed:
    """Stands in for cmd.run_all: named's rndc and named-checkzone, with a journal to sync."""

    def __init__(self, zone_file, loaded=True, running=True, checkzone_ok=True):
        self.zone_file, self.loaded, self.running = zone_file, loaded, running
        self.checkzone_ok = checkzone_ok
        self.calls, self.journal = [], []
        self.served = 0  # the serial named serves (zonestatus)
        self.dump_delay = 0  # reads of the zone file before a freeze's dump lands (named dumps async)

    def __call__(self, cmd, python_shell=False, ignore_retcode=False, **kw):
        self.calls.append(cmd[:2] if cmd[0] == "rndc" else [cmd[0]])
        ok = {"retcode": 0, "stdout": "", "stderr": ""}
        if cmd[0] == "named-checkzone":
            bad = {"retcode": 1, "stdout": "zone example.lab: bad", "stderr": ""}
            return ok if self.checkzone_ok else bad
        if cmd[1] == "status":
            return ok if self.running else {"retcode": 1, "stdout": "", "stderr": "connection refused"}
        if cmd[1] == "zonestatus":
            status = {"retcode": 0, "stdout": f"name: example.lab\nserial: {self.served}\n", "stderr": ""}
            return status if self.loaded else {"retcode": 1, "stdout": "", "stderr": "not found"}
        if cmd[1] in ("freeze", "sync") and not self.dump_delay:  # named writes the journal into the file
            self.dump()
        return ok

    def dump(self):
        if not os.path.exists(self.zone_file):
            return
        with open(self.zone_file) as fh:
            text = fh.read()
        if self.served:  # named writes the serial it serves into the SOA
            text = re.sub(r"(IN SOA \S+ \S+ )\d+", rf"\g<1>{self.served}", text)
        with open(self.zone_file, "w") as fh:
            fh.write(text + "".join(self.journal))
        self.journal = []


@pytest.fixture
def zone_file(tmp_path):
    return str(tmp_path / "db.example.lab")


@pytest.fixture
def named(zone_file):
    return FakeNamed(zone_file)


@pytest.fixture
def configure_loader_modules(named):
    salt = {
        "cmd.run_all": named,
        "config.get": lambda key, default=None: default,
        "pillar.get": lambda key, default=None, unmask=False: default,
    }
    return {bind9: {"__salt__": salt}}


def write(zone_file, **kw):
    kw.setdefault("records", RECORDS)
    kw.setdefault("nameservers", ["ns1"])
    return bind9.write_zone(ZONE, zone_file, **kw)


def test_a_static_zone_is_checked_installed_and_only_that_zone_reloaded(zone_file, named):
    plan = write(zone_file)
    assert named.calls == [["rndc", "zonestatus"], ["named-checkzone"], ["rndc", "reload"]]
    assert plan["changes"]["added"] and plan["serial"][1] > plan["serial"][0]
    assert bind9.read_zone_file(ZONE, zone_file) == [list(r) for r in plan["records"]]


def test_a_second_run_changes_nothing_and_keeps_the_serial(zone_file, named):
    first = write(zone_file)
    named.calls.clear()
    second = write(zone_file)
    assert second["changes"] == {} and second["serial"] == (first["serial"][1], first["serial"][1])
    assert ["rndc", "reload"] not in named.calls and ["named-checkzone"] not in named.calls


def test_a_zone_named_checkzone_rejects_is_never_installed(zone_file, named):
    write(zone_file)
    before = open(zone_file).read()
    named.checkzone_ok = False
    with pytest.raises(bind9.CommandExecutionError, match="named-checkzone rejected"):
        write(zone_file, records=RECORDS + [{"name": "x", "type": "A", "data": "10.0.0.9"}])
    assert open(zone_file).read() == before
    assert not [f for f in os.listdir(os.path.dirname(zone_file)) if ".salt-zone-" in f]


def test_a_dynamic_zone_is_written_between_freeze_and_thaw_and_keeps_dynamic_records(zone_file, named):
    write(zone_file, allow_update=True)
    named.calls.clear()
    named.journal = [DYNAMIC_LINE]  # a client registered app9 by nsupdate since
    new = RECORDS + [{"name": "new", "type": "A", "data": "10.0.0.7"}]
    plan = write(zone_file, allow_update=True, records=new)
    assert named.calls == [["rndc", "zonestatus"], ["rndc", "freeze"], ["named-checkzone"], ["rndc", "thaw"]]
    records = bind9.read_zone_file(ZONE, zone_file)
    assert ["app9", "A", 300, "10.77.0.49"] in records and ["new", "A", 3600, "10.0.0.7"] in records
    assert plan["changes"]["added"] == ["new 3600 A 10.0.0.7"]
    assert json.load(open(zone_file + ".salt-declared.json"))  # what we declared, to tell it from updates


def test_a_dynamic_zone_waits_for_named_to_dump_its_journal_and_passes_the_served_serial(
    zone_file, named, monkeypatch
):
    first = write(zone_file, allow_update=True)
    served = first["serial"][1] + 1  # named bumped the serial for the update
    named.served, named.journal, named.dump_delay = served, [DYNAMIC_LINE], 1
    sleeps = []

    def dump_later(seconds):
        sleeps.append(seconds)
        named.dump()

    monkeypatch.setattr(bind9.time, "sleep", dump_later)
    www = {"name": "www", "type": "CNAME", "data": "files"}
    plan = write(zone_file, allow_update=True, records=RECORDS + [www])
    assert sleeps, "the zone file was read before named's dump landed"
    assert plan["serial"][1] > served
    assert ["app9", "A", 300, "10.77.0.49"] in bind9.read_zone_file(ZONE, zone_file)


def test_a_dynamic_zone_whose_dump_never_lands_is_refused_and_thawed(zone_file, named, monkeypatch):
    write(zone_file, allow_update=True)
    named.served, named.dump_delay = 2099010100, 1
    monkeypatch.setattr(bind9.time, "sleep", lambda s: None)
    monkeypatch.setattr(bind9.time, "monotonic", iter(range(0, 1000, 10)).__next__)
    with pytest.raises(bind9.CommandExecutionError, match="did not write serial 2099010100"):
        write(zone_file, allow_update=True, records=RECORDS[:1])
    assert named.calls[-1] == ["rndc", "thaw"]


def test_a_dynamic_zone_is_thawed_even_when_the_check_fails(zone_file, named):
    write(zone_file, allow_update=True)
    named.calls.clear()
    named.checkzone_ok = False
    with pytest.raises(bind9.CommandExecutionError):
        write(zone_file, allow_update=True, records=[{"name": "y", "type": "A", "data": "10.0.0.8"}])
    assert named.calls[-1] == ["rndc", "thaw"]


def test_dry_run_of_a_dynamic_zone_syncs_reads_and_writes_nothing(zone_file, named):
    write(zone_file, allow_update=True)
    named.calls.clear()
    named.journal = [DYNAMIC_LINE]
    plan = write(zone_file, allow_update=True, records=RECORDS[:1], test=True)
    assert named.calls == [["rndc", "zonestatus"], ["rndc", "sync"]]
    assert plan["changes"] == {"added": [], "removed": ["files 3600 A 10.77.0.100"]}  # app9 is kept
    assert "files" in open(zone_file).read()


def test_a_declared_record_removed_from_pillar_leaves_a_dynamic_zone(zone_file, named):
    write(zone_file, allow_update=True)
    named.journal = [DYNAMIC_LINE]
    write(zone_file, allow_update=True, records=RECORDS[:1])
    names = [r[0] for r in bind9.read_zone_file(ZONE, zone_file)]
    assert "files" not in names and "app9" in names


def test_a_new_zone_before_named_runs_is_installed_without_rndc(zone_file, named):
    named.loaded, named.running = False, False
    plan = write(zone_file)
    assert named.calls == [["rndc", "zonestatus"], ["named-checkzone"], ["rndc", "status"]]
    assert "named is not running" in plan["comment"]


def test_a_zone_named_failed_to_load_is_reloaded_and_must_then_be_served(zone_file, named):
    named.loaded = False
    with pytest.raises(bind9.CommandExecutionError, match="named does not serve example.lab"):
        write(zone_file)
    assert named.calls[-3:] == [["rndc", "status"], ["rndc", "reload"], ["rndc", "zonestatus"]]


def test_a_zone_new_to_a_running_named_is_picked_up_by_reconfig(zone_file, named):
    named.loaded = False
    real = named.__call__

    def named_learns_the_zone(cmd, **kw):
        if cmd[:2] == ["rndc", "reload"]:
            named.calls.append(cmd[:2])
            return {"retcode": 1, "stdout": "", "stderr": "rndc: 'reload' failed: not found"}
        if cmd[:2] == ["rndc", "reconfig"]:
            named.loaded = True
        return real(cmd, **kw)

    bind9.__salt__["cmd.run_all"] = named_learns_the_zone
    plan = write(zone_file)
    assert named.calls[-3:] == [["rndc", "reload"], ["rndc", "reconfig"], ["rndc", "zonestatus"]]
    assert plan["comment"] == "zone file installed; named now serves example.lab"


def test_rndc_failures_are_raised_with_rndc_message(named):
    named.running = False
    with pytest.raises(bind9.CommandExecutionError, match="connection refused"):
        bind9.rndc("status")


def test_signing_needs_a_secret():
    with pytest.raises(bind9.CommandExecutionError, match="no TSIG secret"):
        bind9._tsig()
