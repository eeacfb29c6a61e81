"""fileshare-bench refuses hostile or mistaken arguments: one message naming the argument, exit 2, nothing
sent, nothing written (issue 6, hostile input)."""

import pytest
from fileshare_bench import cli


@pytest.fixture
def lab_home(tmp_path, monkeypatch):
    monkeypatch.setenv("FILESHARE_LAB_HOME", str(tmp_path / "labs"))
    return tmp_path


def _refused(capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    return errors[0]


@pytest.mark.parametrize(
    "args,named",
    [
        (["--rate", "0"], "argument --rate: 0.0 is outside 0.1..1000"),
        (["--rate", "-5"], "argument --rate"),
        (["--rate", "lots"], "argument --rate: 'lots' is not a float"),
        (["--rate", "1e9"], "argument --rate"),
        (["--workers", "0"], "argument --workers: 0 is outside 1..64"),
        (["--workers", "2.5"], "argument --workers: '2.5' is not a int"),
        (["--workers", "100000"], "argument --workers"),
        (["--seconds", "0"], "argument --seconds"),
        (["--seconds", "nan-ish"], "argument --seconds"),
        (["--lab", "../../etc"], "argument --lab"),
        (["--lab", "Lab;rm -rf /"], "argument --lab"),
        (["--lab", "x" * 80], "argument --lab"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_load_arguments_name_the_argument_and_write_nothing(lab_home, capsys, args, named):
    out = lab_home / "out.json"
    line = _refused(capsys, ["load", *args, "--out", str(out)])
    assert named in line
    assert not out.exists()
    assert not (lab_home / "labs").exists()


def test_no_or_unknown_subcommand_is_refused(capsys):
    assert "required: COMMAND" in _refused(capsys, [])
    assert "invalid choice: 'flood'" in _refused(capsys, ["flood"])


def test_a_lab_that_is_not_up_is_one_message_and_exit_2(lab_home, capsys):
    out = lab_home / "out.json"
    assert cli.main(["load", "--lab", "nosuchlab", "--seconds", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["fileshare-bench: lab nosuchlab is not up: run `fileshare-lab --lab nosuchlab up ARCH`"]
    assert not out.exists()
