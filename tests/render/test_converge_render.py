"""The converge's shape, rendered: on full_ha the layers that do not depend on each other run at once,
each on its own nodes, and the app nodes still take their turn one at a time; on mini_ha, whose nodes
carry every layer, nothing runs in parallel (a minion runs one state run at a time)."""

import pytest
from test_render import _ordered_steps, _render, _required_ids

INFRA = "infrastructure is in place on every node (mirrors, packages, journald, logrotate)"
BRANCH_STARTS = [
    "the database cluster is bootstrapped on db1",
    "Redis with Sentinel and Memcached are up on the intermediate nodes",
    "GlusterFS runs on the storage nodes with their bricks",
    "the app nodes have their software installed",
    "the load balancers hold the VIP and serve DNS",
]


def _steps(renderer, arch):
    result = _render(renderer, "debian-12", arch, "fileshare.full_ha", "orchestrate", None)
    return {state_id: args for _, state_id, _, args in _ordered_steps(result)}


def test_full_ha_runs_the_independent_layers_at_once_after_the_infrastructure(renderer):
    steps = _steps(renderer, "full_ha")
    for title in BRANCH_STARTS:
        assert _required_ids(steps[title]) == {INFRA}, f"{title!r} requires {_required_ids(steps[title])}"
        assert steps[title].get("parallel") is True, f"{title!r} is not parallel"
    targets = [set(steps[t]["tgt"].split(",")) for t in BRANCH_STARTS if t != BRANCH_STARTS[0]]
    for i, nodes in enumerate(targets):
        for other in targets[i + 1 :]:
            assert not nodes & other, f"parallel branches share nodes {nodes & other}"


def test_full_ha_app_nodes_wait_for_every_layer_and_go_one_at_a_time(renderer):
    steps = _steps(renderer, "full_ha")
    app1 = steps["app node app1 mounts the volume and serves the product and /health"]
    app2 = steps["app node app2 mounts the volume and serves the product and /health"]
    assert _required_ids(app1) == {
        "the database cluster is quorate with every member synced",
        "the Sentinels agree on one Redis master",
        "the replicated volume is started (from st1)",
        "the app nodes have their software installed",
    }
    assert _required_ids(app2) == {"app node app1 mounts the volume and serves the product and /health"}
    # Parallel so that the runner keeps starting the branches' next steps while these wait (full_ha.sls).
    assert app1.get("parallel") and app2.get("parallel")
    smoke = steps["the file share works end to end through the VIP (health 200, WebDAV round trip)"]
    assert _required_ids(smoke) == {
        "app node app2 mounts the volume and serves the product and /health",
        "the load balancers hold the VIP and serve DNS",
    }


@pytest.mark.parametrize("arch", ["mini_ha"])
def test_shared_nodes_run_every_step_one_after_the_other(renderer, arch):
    steps = _steps(renderer, arch)
    assert not [t for t, args in steps.items() if args.get("parallel")]
    # A chain: every step but the first two requires exactly the one before it, or the smoke check
    # both the last app node and the load layer (which then comes after it).
    titles = list(steps)
    for before, title in zip(titles[1:-1], titles[2:], strict=True):
        assert before in _required_ids(steps[title]), f"{title!r} does not follow {before!r}"
