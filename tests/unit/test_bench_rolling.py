"""fileshare_bench.rolling.target_misses: issue 5's targets for a rolling_upgrade row."""

import pytest
from fileshare_bench.rolling import step_label, target_misses

MET = {
    "upgrade_ok": True,
    "upgrade_failures": [],
    "failed": 0,
    "failed_by_op": {},
    "requests": 12_000,
    "p99_ms": 900.0,
    "p99_before_ms": 500.0,
}


def test_a_row_meeting_every_target_misses_nothing():
    assert target_misses(MET) == []


@pytest.mark.parametrize(
    ("change", "missed"),
    [
        ({"upgrade_ok": False, "upgrade_failures": [["step", "why"]]}, "the upgrade failed"),
        ({"failed": 1, "failed_by_op": {"put": 1}}, "1 failed requests"),
        ({"requests": 9_999}, "9999 requests in the window"),
        ({"p99_ms": 1000.1}, "p99 1000.1 ms over 2 x 500.0 ms"),
        ({"p99_ms": None}, "p99 None ms"),
    ],
)
def test_each_missed_target_is_named(change, missed):
    misses = target_misses({**MET, **change})
    assert len(misses) == 1 and misses[0].startswith(missed), misses


def test_p99_exactly_twice_the_p99_before_is_met():
    assert target_misses({**MET, "p99_ms": 1000.0}) == []


def test_step_labels_name_the_upgrade_steps_and_skip_the_bookkeeping():
    drained = {
        "fun": "state.single",
        "tgt": ["lb1", "lb2"],
        "arg": ["fileshare_haproxy.drained", {"name": "app1", "backend": "fs_app", "__kwarg__": True}],
    }
    assert step_label(drained) == "drained app1 fs_app @lb1,lb2"
    assert step_label({"fun": "state.sls", "tgt": ["db3"], "arg": ["fileshare.release"]}) == (
        "fileshare.release @db3"
    )
    for fun in ("saltutil.sync_states", "saltutil.sync_modules", "saltutil.find_job", "test.ping"):
        assert step_label({"fun": fun, "tgt": ["app1", "app2", "db1"], "arg": []}) is None, fun
