"""fileshare_bench.stats: which requests failed, percentiles, the error window, the table."""

import pytest
from fileshare_bench.stats import Record, markdown_table, percentile, summarize


def rec(t, latency=0.01, error="", op="get", status=200):
    return Record(t, op, status if not error else None, latency, error)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, 0.0),
        ([5.0], 99, 5.0),
        ([1, 2, 3, 4], 50, 2),
        ([1, 2, 3, 4], 75, 3),
        (list(range(1, 101)), 99, 99),
    ],
)
def test_percentile_is_nearest_rank(values, q, expected):
    assert percentile(values, q) == expected


def test_no_failures_means_no_error_window():
    s = summarize([rec(t / 10) for t in range(100)])
    assert s["requests"] == 100 and s["failed"] == 0
    assert s["error_window_seconds"] == 0.0 and s["first_failure"] is None


def test_error_window_runs_from_first_failed_send_to_last_failed_end():
    records = [
        rec(0.0),
        rec(1.0, error="HTTP 503"),
        rec(1.5),
        rec(2.0, latency=0.5, error="timeout"),
        rec(3.0),
    ]
    s = summarize(records)
    assert s["failed"] == 2 and s["error_window_seconds"] == 1.5
    assert s["first_failure"] == 1.0 and s["last_failure"] == 2.5


def test_failed_requests_do_not_count_in_latency_percentiles():
    records = [rec(0, latency=0.010), rec(1, latency=0.020), rec(2, latency=9.0, error="timeout")]
    s = summarize(records)
    assert s["p99_ms"] == 20.0 and s["max_ms"] == 20.0


def test_a_window_selects_by_send_time_and_counts_failures_by_op():
    records = [rec(0), rec(5, op="put", error="HTTP 502"), rec(6, op="put", error="HTTP 502"), rec(11)]
    s = summarize(records, start=4, end=10)
    assert s["requests"] == 2 and s["failed_by_op"] == {"put": 2}
    assert s["duration_seconds"] == 6 and s["rps"] == pytest.approx(0.3, abs=0.05)


def test_markdown_table_has_a_row_per_entry():
    text = markdown_table([{"a": 1, "b": None}, {"a": 2.5, "b": "x"}], [("a", "A"), ("b", "B")])
    assert text.splitlines() == ["| A | B |", "|---|---|", "| 1 | - |", "| 2.5 | x |"]


def test_the_timeline_is_a_png_with_a_panel_per_run(tmp_path):
    from fileshare_bench.loadgen import Run
    from fileshare_bench.plot import timeline

    runs = {
        name: Run(
            name, 0.0, [rec(t / 10, error="HTTP 503" if t == 5 else "") for t in range(50)], [(2.0, "step")]
        )
        for name in ("naive", "rolling")
    }
    path = timeline(runs, tmp_path / "plot.png", title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
