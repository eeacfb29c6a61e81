"""The disaster drill's verdict (tools/fileshare_bench/backup.py): which of issue 14's targets a result
misses, and its arguments refused with one message."""

import pytest
from fileshare_bench import backup, cli

MET = {
    "files_acknowledged": 128,
    "files_identical": 128,
    "rows_acknowledged": 2000,
    "rows_up_to_point": 100,
    "rows_identical_per_member": {"db1": 2100, "db2": 2100, "db3": 2100},
    "rows_after_point_present_per_member": {"db1": 0, "db2": 0, "db3": 0},
    "load_failed": 0,
    "failed_during_backup": 0,
    "failed_during_path_restore": 0,
    "path_files_acknowledged": 16,
    "path_files_identical": 16,
    "p99_before_ms": 100.0,
    "p99_during_backup_ms": 150.0,
    "rto_seconds": 240.0,
}


def test_a_drill_that_kept_everything_meets_the_targets():
    assert backup.misses(MET) == []


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"files_identical": 127}, "1 acknowledged files lost or changed"),
        (
            {"rows_identical_per_member": {"db1": 2100, "db2": 2099, "db3": 2100}},
            "1 rows committed before the point in time lost on db2",
        ),
        (
            {"rows_after_point_present_per_member": {"db1": 0, "db2": 0, "db3": 4}},
            "4 rows committed after the point in time present on db3",
        ),
        (
            {"load_failed": 3, "failed_during_backup": 2, "failed_during_path_restore": 1},
            "3 failed requests (2 during the backup, 1 during the path restore)",
        ),
        ({"path_files_identical": 15}, "1 files of the restored path lost or changed"),
        ({"p99_during_backup_ms": 151.0}, "p99 during the backup 151.0 ms over 150 ms"),
        ({"rto_seconds": 301.0}, "full restore took 301.0 s (target 300 s)"),
        ({"rto_seconds": None}, "full restore took None s"),
    ],
)
def test_each_missed_target_is_named(change, words):
    found = backup.misses({**MET, **change})
    assert len(found) == 1 and words in found[0], found


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--mib", "4"], "argument --mib"),
        (["--rate", "0"], "argument --rate"),
        (["--lab", "../x"], "argument --lab"),
    ],
)
def test_bad_arguments_are_refused_with_one_message(capsys, argv, named):
    full = ["backup", "--lab", "fsdev", *argv] if argv[0] != "--lab" else ["backup", *argv]
    with pytest.raises(SystemExit) as exit_:
        cli.main(full)
    assert exit_.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and named in errors[0], errors
