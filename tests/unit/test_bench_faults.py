"""fileshare-bench faults: scenario selection refused with one message, the report's table and notes."""

import argparse
import json

import pytest
from fileshare_bench import faults


def test_scenarios_are_chosen_by_number_and_the_outage_runs_last():
    assert faults._numbers("5,1,3") == [1, 3, 5]
    assert faults.ORDER[-1] == 5


@pytest.mark.parametrize(
    ("text", "message"),
    [("x", "not a comma-separated list"), ("0,9", "scenarios are 1..7"), (",", "scenarios are 1..7")],
)
def test_bad_scenario_numbers_are_refused_naming_the_problem(text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        faults._numbers(text)


def test_the_report_has_one_row_per_scenario_with_its_window_losses_and_failed_checks(tmp_path):
    result = {
        "scenario": "2 kill the database writer",
        "requests": 100,
        "failed": 3,
        "error_window_seconds": 2.5,
        "file_ops": {"requests": 80, "failed": 1, "failed_by_op": {"put": 1}, "error_window_seconds": 0.4},
        "data_lost": 0,
        "content_mismatches": 0,
        "checks": {"no committed row lost": True, "the writer committed rows": False},
        "observed": {"db_error_window_seconds": 2.1, "rows": {1, 2}},
        "parts": {"failover": {"error_window_seconds": 1.5}},
        "error": None,
    }
    js, md = faults.write_report([result], tmp_path, "fileshare-bench faults --lab x --only 2")
    table = md.read_text().splitlines()
    assert table[2].startswith(
        "| scenario | requests | failed | error window (s) | file ops failed | file ops window (s) "
        "| rows lost | stale/wrong reads |"
    )
    row = table[4]
    assert row.startswith("| 2 kill the database writer | 100 | 3 | 2.5 | 1 | 0.4 | 0 | 0 |"), row
    assert "db_error_window_seconds=2.1" in row and "failover_error_window_seconds=1.5" in row
    assert "FAILED: the writer committed rows" in row
    assert json.loads(js.read_text())["scenarios"][0]["requests"] == 100


def test_a_scenario_without_database_rows_reports_a_dash_not_zero(tmp_path):
    result = {
        "scenario": "7 flood from one client",
        "requests": 10,
        "failed": 0,
        "error_window_seconds": 0.0,
        "file_ops": {"requests": 8, "failed": 0, "failed_by_op": {}, "error_window_seconds": 0.0},
        "data_lost": None,
        "content_mismatches": 0,
        "checks": {},
        "observed": {},
        "parts": {},
        "error": None,
    }
    _, md = faults.write_report([result], tmp_path, "x")
    assert (
        md.read_text().splitlines()[4].startswith("| 7 flood from one client | 10 | 0 | 0 | 0 | 0 | - | 0 |")
    )


def test_a_failover_and_its_failback_are_two_outages_not_one_window():
    writer = faults.Writer.__new__(faults.Writer)  # only its result: no node, no thread
    writer.result = {
        "errors": [[8.0, 9.0, "lost"], [9.5, 10.0, "lost"], [33.0, 33.7, "lost"], ["-", "-", "x"]]
    }
    assert writer.window() == 25.7
    assert writer.longest_outage() == 2.0
    writer.result = {"errors": []}
    assert writer.longest_outage() == 0.0
