"""The failover benchmark's arithmetic: gaps, per-client numbers, rounds, goals, --only."""

import pytest
from fileshare_bench import failover


def test_longest_gap_counts_the_window_edges():
    acks = [[10.0, 1], [10.1, 2], [13.6, 3], [13.7, 4]]
    assert failover.longest_gap(acks, 9.5, 14.0) == (3.5, 10.1)
    # No write acknowledged at all: the whole window is the gap.
    assert failover.longest_gap([], 0.0, 5.0) == (5.0, 0.0)
    # Writes outside the window do not shorten it.
    assert failover.longest_gap([[1.0, 1], [20.0, 2]], 5.0, 8.0) == (3.0, 5.0)


def test_client_summary_is_relative_to_the_fault():
    record = {
        "acks": [[99.0, 1, 0.01], [100.0, 2, 0.01], [100.2, 3, 0.01], [102.2, 4, 1.2], [102.3, 5, 0.01]],
        "errors": [[100.3, 101.0, "OperationalError: lost"], [50.0, 50.1, "before the window"]],
    }
    got = failover.client_summary(record, fault=100.1, start=99.5, end=102.5)
    assert got["acked"] == 4
    assert got["errors"] == 1
    assert got["gap"] == 2.0
    assert got["gap_at"] == 0.1
    assert got["first_errors"] == ["OperationalError: lost"]
    assert got["slowest"] == 1.2
    assert got["error_times"] == [[0.2, 0.9]]


def test_rounds_give_min_median_max_and_goals():
    runs = [
        {"scenario": "db-kill", "round": r, "clients": {"db": {"gap": g, "errors": e, "lost": 0}}}
        for r, (g, e) in enumerate([(1.5, 3), (2.5, 5), (1.8, 4)], start=1)
    ]
    table = failover.summarize_rounds(runs)
    assert table["db-kill"]["db"]["gap"] == {"min": 1.5, "median": 1.8, "max": 2.5}
    verdicts = failover.goal_verdicts(table)
    assert verdicts == [
        {"scenario": "db-kill", "client": "db", "metric": "gap", "bound": 2.0, "median": 1.8, "met": True}
    ]
    runs[2]["clients"]["db"]["gap"] = 2.2
    assert failover.goal_verdicts(failover.summarize_rounds(runs))[0]["met"] is False
    text = failover.markdown(failover.summarize_rounds(runs), 3, verdicts)
    assert "| db-kill | 2.20 (1.50-2.50) | 4 (3-5) | 0 |" in text


def test_only_takes_names_layers_and_kinds():
    assert failover.parse_only("db-kill") == ["db-kill"]
    assert failover.parse_only("freeze") == [f"{layer}-freeze" for layer in failover.LAYERS]
    assert failover.parse_only("redis") == ["redis-kill", "redis-partition", "redis-freeze", "redis-handover"]
    with pytest.raises(ValueError, match="'dbkill' is no scenario"):
        failover.parse_only("dbkill")
    with pytest.raises(ValueError, match="no scenario named"):
        failover.parse_only(" , ")
