"""fileshare-lab's argument checks: one clear message, exit 2, nothing created."""

import json

import pytest
from fileshare_lab import cli


@pytest.fixture
def lab_home(tmp_path, monkeypatch):
    monkeypatch.setenv("FILESHARE_LAB_HOME", str(tmp_path))
    return tmp_path


def _fails(capsys, argv, match):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("fileshare-lab: ") and match in err
    return err


@pytest.mark.parametrize(
    "argv,match",
    [
        ([], "no command"),
        (["frobnicate"], "unknown command"),
        (["up"], "usage: fileshare-lab up ARCH"),
        (["up", "a", "b"], "usage: fileshare-lab up ARCH"),
        (["up", "full_hax"], "unknown architecture 'full_hax'"),
        (["converge", "nope"], "unknown architecture 'nope'"),
        (["--net", "10.300.1", "up", "all_in_one"], "bad --net"),
        (["--net", "8.8.8", "status"], "must be private"),
        (["--lab", "Bad_Name", "status"], "bad lab name"),
        (["status", "extra"], "no arguments"),
        (["kill"], "usage: fileshare-lab kill NODE"),
        (["shell"], "usage: fileshare-lab shell NODE"),
        (["shell", "aio1", "ls"], "usage: fileshare-lab shell NODE [-- CMD...]"),
        (["run", "aio1"], "usage: fileshare-lab run NODE CMD"),
        (["kill", "aio1"], "lab fileshare is not up"),
        (["salt", "*", "test.ping"], "has no master yet"),
    ],
)
def test_bad_arguments_give_one_message_and_change_nothing(lab_home, capsys, argv, match):
    _fails(capsys, argv, match)
    assert list(lab_home.iterdir()) == []


def test_unknown_architecture_lists_the_known_ones(lab_home, capsys):
    err = _fails(capsys, ["up", "nope"], "unknown architecture")
    for arch in ("all_in_one", "mini_ha", "full_ha"):
        assert arch in err


def test_unknown_node_names_the_lab_nodes(lab_home, capsys):
    state = lab_home / "fstest" / "lab.json"
    state.parent.mkdir()
    state.write_text(
        json.dumps(
            {
                "architecture": "mini_ha",
                "net": "10.78.0",
                "nodes": [
                    {
                        "name": f"node{i}",
                        "address": f"10.78.0.2{i}",
                        "container": f"fstest-node{i}",
                        "veth": f"fstest-node{i}",
                    }
                    for i in (1, 2, 3)
                ],
            }
        )
    )
    err = _fails(capsys, ["--lab", "fstest", "partition", "node9"], "unknown node 'node9'")
    assert "node1, node2, node3" in err
    assert sorted(p.name for p in lab_home.rglob("*")) == ["fstest", "lab.json"]


def test_global_options_may_precede_the_command_and_passthrough_args_stay_untouched():
    opts, command, rest = cli._parse(
        ["--lab", "fstest", "--net", "10.9.9", "salt", "-L", "a,b", "--out=json"]
    )
    assert (opts.lab, opts.net, command, rest) == ("fstest", "10.9.9", "salt", ["-L", "a,b", "--out=json"])


def test_a_lab_named_like_a_command_is_not_taken_for_one():
    opts, command, rest = cli._parse(["--lab", "status", "down"])
    assert (opts.lab, command, rest) == ("status", "down", [])


def test_json_is_found_among_salts_warnings():
    assert cli._json_from('[WARNING] x\n{"a": {"b": 1}}\nunclosed Runner') == {"a": {"b": 1}}
    with pytest.raises(ValueError):
        cli._json_from("nothing here")


def test_progress_names_each_job_the_orchestration_starts():
    line = (
        'salt/job/1/new\t{"fun": "state.sls", "arg": ["fileshare.db", {"__kwarg__": true, "test": true}],'
        ' "minions": ["db1", "db2"], "tgt": "db1,db2"}'
    )
    assert cli._job_line(line) == "  state.sls fileshare.db on db1,db2"


@pytest.mark.parametrize(
    "line",
    [
        'salt/job/1/new\t{"fun": "saltutil.find_job", "arg": ["1"], "minions": ["a"]}',
        'salt/job/1/ret/a\t{"fun": "state.sls", "arg": ["x"]}',
        "salt/job/1/new\tnot json",
        "",
    ],
)
def test_progress_skips_polling_returns_and_noise(line):
    assert cli._job_line(line) is None


@pytest.mark.parametrize(
    "argv,timeout",
    [
        (["freeze", "app1"], 5.0),
        (["freeze", "app1", "--timeout", "2.5"], 2.5),
        (["freeze", "--timeout", "9", "app1"], 9.0),
    ],
)
def test_freeze_takes_an_optional_bound(argv, timeout):
    opts, command, rest = cli._parse(argv)
    assert (command, rest, opts.timeout) == ("freeze", ["app1"], timeout)


@pytest.mark.parametrize(
    "argv,match",
    [
        (["freeze"], "usage: fileshare-lab freeze NODE [--timeout SECONDS]"),
        (["freeze", "app1", "app2"], "usage: fileshare-lab freeze NODE"),
        (["freeze", "app1", "--timeout", "soon"], "usage: fileshare-lab freeze NODE"),
        (["freeze", "app1", "--timeout", "0"], "0 < SECONDS <= 600"),
        (["freeze", "app1", "--timeout", "-1"], "0 < SECONDS <= 600"),
    ],
)
def test_a_bad_freeze_bound_gives_one_message_and_changes_nothing(lab_home, capsys, argv, match):
    _fails(capsys, argv, match)
    assert list(lab_home.iterdir()) == []
