"""fileshare_cmd.run: Salt's unless/onlyif/creates semantics, checked by the module itself (pure logic
with the checks mocked; the lab converges run it for real)."""

import pytest
from suite_modules import load

fcmd = load("_states/fileshare_cmd.py", "fileshare_cmd_state")


def checks(results, paths=()):
    asked = []

    def succeeds(command):
        asked.append(command)
        return results[command]

    return asked, succeeds, lambda path: path in paths


@pytest.mark.parametrize(
    "onlyif, unless, creates, results, paths, reason",
    [
        (None, None, None, {}, (), None),
        ("ok", None, None, {"ok": True}, (), None),
        (["ok", "bad"], None, None, {"ok": True, "bad": False}, (), "onlyif condition is false"),
        (None, "ok", None, {"ok": True}, (), "unless condition is true"),
        # unless skips only when every one of its commands succeeds
        (None, ["ok", "bad"], None, {"ok": True, "bad": False}, (), None),
        (None, None, "/a", {}, ("/a",), "All files in creates exist"),
        (None, None, ["/a", "/b"], {}, ("/a",), None),
        # onlyif is asked first: a false onlyif skips whatever unless says
        ("bad", "ok", None, {"bad": False, "ok": False}, (), "onlyif condition is false"),
    ],
)
def test_skip_reason_follows_salts_requisite_semantics(onlyif, unless, creates, results, paths, reason):
    _, succeeds, exists = checks(results, paths)
    assert fcmd.skip_reason(onlyif, unless, creates, succeeds, exists) == reason


def test_a_skipped_command_neither_runs_nor_changes_and_triggers_no_watch(monkeypatch):
    ran = []
    monkeypatch.setattr(fcmd, "__salt__", {"cmd.retcode": lambda cmd, **kw: 0}, raising=False)
    monkeypatch.setattr(fcmd, "__states__", {"cmd.run": lambda name, **kw: ran.append(name)}, raising=False)
    ret = fcmd.run("a2enmod -q dav", unless="test -e /x", cwd="/")
    assert ran == []
    assert ret == {
        "name": "a2enmod -q dav",
        "changes": {},
        "result": True,
        "comment": "unless condition is true",
        "skip_watch": True,
    }


def test_a_command_whose_check_fails_runs_through_cmd_run_with_its_own_arguments(monkeypatch):
    calls = []
    retcode = []
    monkeypatch.setattr(
        fcmd, "__salt__", {"cmd.retcode": lambda cmd, **kw: retcode.append((cmd, kw)) or 1}, raising=False
    )

    def run(name, **kw):
        calls.append((name, kw))
        return {"name": name, "changes": {"retcode": 0}, "result": True, "comment": ""}

    monkeypatch.setattr(fcmd, "__states__", {"cmd.run": run}, raising=False)
    ret = fcmd.run("nft -f /etc/nft.conf", unless="nft list table inet fileshare", runas="root", timeout=9)
    assert calls == [("nft -f /etc/nft.conf", {"runas": "root", "timeout": 9})]
    # The check runs where and as whom the command would (runas), quietly, never raising.
    ((command, options),) = retcode
    assert command == "nft list table inet fileshare"
    assert options["runas"] == "root" and "timeout" not in options and options["ignore_retcode"] is True
    assert ret["changes"] == {"retcode": 0}
