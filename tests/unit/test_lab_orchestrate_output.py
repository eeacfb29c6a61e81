"""fileshare-lab's reading of `salt-run state.orchestrate --out=json`: changes, steps, failures."""

import pytest
from fileshare_lab import logic
from fileshare_lab.logic import LabError


def _step(run_num, sid, result=True, changes=None, comment="", duration=10.0):
    return {
        "__id__": sid,
        "name": sid,
        "result": result,
        "changes": changes or {},
        "comment": comment,
        "__run_num__": run_num,
        "duration": duration,
    }


def _node_state(run_num, sid, result=True, changed=False, comment=""):
    return {
        "__id__": sid,
        "result": result,
        "changes": {"diff": "x"} if changed else {},
        "comment": comment,
        "__run_num__": run_num,
    }


def _wrap(steps, master="fileshare-master"):
    return {
        "data": {master: {f"mod_|-{s['__id__']}_|-x_|-fn": s for s in steps}},
        "outputter": "highstate",
        "retcode": 0,
    }


def _salt_state(run_num, sid, per_node, result=True, comment=""):
    ret = {node: {f"st_|-{s['__id__']}_|-n_|-f": s for s in states} for node, states in per_node.items()}
    return _step(run_num, sid, result=result, changes={"ret": ret, "out": "highstate"}, comment=comment)


FIRST_RUN = _wrap(
    [
        _step(0, "pillar is valid for the site", duration=1.7),
        _salt_state(
            1,
            "database is installed",
            {
                "db1": [
                    _node_state(0, "mariadb", changed=True),
                    _node_state(1, "conf", changed=True),
                    _node_state(2, "svc"),
                ],
                "db2": [_node_state(0, "mariadb", changed=True)],
            },
        ),
        _step(2, "cluster is ready", changes={"size": 3}, duration=2500.0),
    ]
)

NOOP_RUN = _wrap(
    [
        _step(0, "pillar is valid for the site"),
        _step(1, "database is installed", comment="States ran successfully. No changes made to db1, db2."),
        _step(2, "cluster is ready"),
    ]
)


def test_changes_count_each_nodes_changed_states_and_plain_steps():
    assert logic.count_changes(FIRST_RUN) == 4


def test_a_second_run_without_changes_counts_zero():
    assert logic.count_changes(NOOP_RUN) == 0


def test_the_unwrapped_master_dict_reads_the_same():
    assert logic.count_changes(FIRST_RUN["data"]) == 4


def test_steps_are_in_run_order_with_durations_in_seconds():
    steps = logic.step_summaries(FIRST_RUN)
    assert [s["name"] for s in steps] == [
        "pillar is valid for the site",
        "database is installed",
        "cluster is ready",
    ]
    assert steps[2]["seconds"] == 2.5 and steps[1]["changes"] == 3 and steps[0]["changes"] == 0


def test_no_failures_in_a_good_run():
    assert logic.failures(FIRST_RUN) == []


def test_a_failed_step_names_itself_its_comment_and_the_failing_node_states():
    out = _wrap(
        [
            _step(0, "pillar is valid for the site"),
            _salt_state(
                1,
                "database is installed",
                {"db1": [_node_state(0, "mariadb"), _node_state(1, "conf", result=False, comment="bad cnf")]},
                result=False,
                comment="Run failed on minions: db1",
            ),
            _step(2, "cluster is ready", result=False, comment="One or more requisite failed"),
        ]
    )
    found = logic.failures(out)
    assert found[0]["step"] == "database is installed"
    assert found[0]["comment"] == "Run failed on minions: db1"
    assert found[0]["states"] == [{"node": "db1", "state": "conf", "comment": "bad cnf"}]
    assert found[1]["step"] == "cluster is ready" and found[1]["states"] == []


def test_a_failed_pillar_validation_is_the_failing_step():
    out = _wrap(
        [
            _step(
                0,
                "pillar is valid for the site",
                result=False,
                comment="fileshare:vip:address: 10.9.9.9 is outside fileshare:network:subnet",
            )
        ]
    )
    (only,) = logic.failures(out)
    assert only["step"] == "pillar is valid for the site" and "vip:address" in only["comment"]


def test_a_node_returning_an_error_string_counts_as_a_change_attempt():
    out = _wrap(
        [_step(0, "app is deployed", result=False, changes={"ret": {"app1": ["Rendering SLS failed"]}})]
    )
    assert logic.failures(out)[0]["step"] == "app is deployed"


def test_an_orchestration_that_did_not_render_raises_with_salts_message():
    with pytest.raises(LabError, match="No matching sls found"):
        logic.count_changes(
            {"data": ["No matching sls found for 'fileshare.nope' in env 'base'"], "outputter": "highstate"}
        )


def test_garbage_output_raises():
    with pytest.raises(LabError, match="unexpected"):
        logic.count_changes({"something": 1})


def test_ping_missing_lists_silent_and_false_nodes():
    assert logic.ping_missing(["a", "b", "c"], {"a": True, "b": False}) == ["b", "c"]
    assert logic.ping_missing(["a"], "Minion did not return") == ["a"]
    assert logic.ping_missing(["a"], {"a": True}) == []


def test_format_seconds_switches_to_minutes():
    assert logic.format_seconds(4.25) == "4.2s"
    assert logic.format_seconds(125.0) == "2m05.0s"


def test_step_return_is_what_the_function_step_returned_on_its_node():
    called = _step(1, "a backup is taken", changes={"ret": {"bk1": {"snapshot": "1a2b"}}})
    out = {
        "data": {
            "fileshare-master": {
                "salt_|-a backup is taken_|-fileshare_backup.run_|-function": called,
                "salt_|-probe_|-fileshare_backup.probe_|-function": _step(
                    0, "probe", changes={"ret": {"bk1": True}}
                ),
            }
        },
        "outputter": "highstate",
    }
    assert logic.step_return(out, "fileshare_backup.run") == {"snapshot": "1a2b"}
    assert logic.step_return(out, "fileshare_backup.probe") is True
    # A prefix of another function's name is not that function.
    assert logic.step_return(out, "fileshare_backup.ru") is None
    assert logic.step_return(out, "fileshare_backup.restore_site") is None
