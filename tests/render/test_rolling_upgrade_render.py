"""fileshare.rolling_upgrade and fileshare.release rendered with a release in the pillar: the runbook's
order (pre-flight before any change, one node at a time, writer / Redis master / VIP holder last) and
the release's changes on every role."""

import inspect
import pathlib
import sys

import pytest
from render_harness import MASTER_ID
from test_render import _ordered_steps

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "unit"))
from suite_modules import load  # noqa: E402 - the unit tier's loader of the suite's modules

RELEASE = {
    "name": "2026.2",
    "packages": {"haproxy": "2.6.12-1+deb12u3", "redis-server": "5:7.0.15-1~deb12u7"},
}


def show(renderer, arch, minion, sls, release=RELEASE):
    caller = renderer._caller("debian-12")
    caller.opts["id"] = caller.opts["grains"]["id"] = caller.opts["grains"]["host"] = minion
    caller.opts["fileshare_example_architecture"] = arch
    pillar = {"fileshare": {"release": release}} if release else {}
    result = caller.cmd("state.show_sls", sls, pillar=pillar)
    assert isinstance(result, dict), f"{sls} on {minion} ({arch}) does not render:\n{result}"
    return result


def steps(result):
    return [s[1:] for s in _ordered_steps(result)]


def index(titles, prefix):
    found = [i for i, t in enumerate(titles) if t.startswith(prefix)]
    assert found, f"no step starting with {prefix!r} in {titles}"
    return found[0]


# Salt's own functions the runbook may call; everything else must be the suite's.
SALT_FUNCTIONS = {"saltutil.sync_states", "saltutil.sync_modules", "state.apply"}


def _suite_function(kind, dotted):
    """The suite's function (kind: _modules or _states) named module.function, or None."""
    module, _, function = dotted.partition(".")
    path = REPO / kind / f"{module}.py"
    if not path.exists():
        return None
    return getattr(load(f"{kind}/{module}.py", f"rolling_{kind.strip('_')}_{module}"), function, None)


@pytest.mark.parametrize("arch", ["full_ha", "mini_ha"])
def test_every_step_runs_a_function_of_the_suite_with_its_arguments(renderer, arch):
    """No embedded script: each gate, wait and hand-over is a state of the suite's modules, called with
    arguments its signature takes (a typo would only show mid-upgrade, with a node already out)."""
    found = steps(show(renderer, arch, MASTER_ID, "fileshare.rolling_upgrade"))
    calls = [(title, args) for title, fun, args in found if fun == "salt.function"]
    assert not [t for t, a in calls if a["name"].startswith("cmd.")], "a shell step is back"
    gates = 0
    for title, args in calls:
        if args["name"] == "state.single":
            state = _suite_function("_states", args["arg"][0])
            assert state is not None, f"{title}: no state {args['arg'][0]} in _states/"
            params = inspect.signature(state).parameters
            assert set(args.get("kwarg", {})) <= set(params), f"{title}: {args['kwarg']} vs {list(params)}"
            gates += 1
        else:
            assert args["name"] in SALT_FUNCTIONS or _suite_function("_modules", args["name"]), title
    assert gates >= 20, gates


@pytest.mark.parametrize("arch", ["full_ha", "mini_ha"])
def test_every_port_and_name_comes_from_the_topology(renderer, arch):
    """A site that overrides ports and names gets them in every step of its upgrade."""
    overrides = {
        "ports": {"sentinel": 26999, "redis": 6999, "app": 8999, "https": 8443, "http": 8088},
        "names": {
            "sentinel_master": "cache",
            "galera_cluster": "sql",
            "backends": {"app": "web_app", "db": "web_db"},
        },
        "storage": {"volume": "data"},
    }
    caller = renderer._caller("debian-12")
    caller.opts["id"] = caller.opts["grains"]["id"] = caller.opts["grains"]["host"] = MASTER_ID
    caller.opts["fileshare_example_architecture"] = arch
    result = caller.cmd(
        "state.show_sls", "fileshare.rolling_upgrade", pillar={"fileshare": {"release": RELEASE, **overrides}}
    )
    assert isinstance(result, dict), result
    kwargs = [args.get("kwarg", {}) for _, fun, args in steps(result) if fun == "salt.function"]
    text = repr(kwargs)
    for default in ("26379", "6379", "8080", "fs_app", "fs_db", "'fileshare'", "-db'"):
        assert default not in text, f"{default} survived the override"
    by_state = {}
    for _, fun, args in steps(result):
        if fun == "salt.function" and args["name"] == "state.single":
            by_state.setdefault(args["arg"][0], []).append(args.get("kwarg", {}))
    assert {k["port"] for k in by_state["fileshare_redis.quorate"]} == {26999}
    assert {k["sentinel_port"] for k in by_state["fileshare_redis.not_master"]} == {26999}
    assert {k["port"] for k in by_state["fileshare_redis.not_master"]} == {6999}
    assert {k["name"] for k in by_state["galera.quorate"]} == {"sql"}
    assert {k["backend"] for k in by_state["fileshare_haproxy.drained"]} == {"web_app"}
    assert {k["backend"] for k in by_state["fileshare_haproxy.maint"]} == {"web_db"}
    assert all(":8999/health" in k["name"] for k in by_state["fileshare_http.answers"])
    assert {tuple(k["ports"]) for k in by_state["fileshare_vip.sessions_finished"]} == {(8088, 8443)}
    assert {k["port"] for k in by_state["fileshare_vip.released"]} == {8443}
    assert {k["name"] for k in by_state["fileshare_gluster.healed"]} == {"data"}


@pytest.mark.parametrize("arch", ["full_ha", "mini_ha"])
def test_rolling_upgrade_reads_as_the_runbook(renderer, arch):
    found = steps(show(renderer, arch, MASTER_ID, "fileshare.rolling_upgrade"))
    titles = [t for t, _, _ in found]
    assert titles[0] == "pillar is valid for the site"
    first_change = min(i for i, t in enumerate(titles) if not t.startswith(("pre-flight", "pillar is valid")))
    assert all(t.startswith("pre-flight") for t in titles[1:first_change])
    for what in ("Galera", "serves on every load node", "/health", "Sentinels", "Gluster"):
        assert any(what in t for t in titles[:first_change]), f"no pre-flight check of {what}"
    app, db, im, load = ("app", "db", "im", "lb") if arch == "full_ha" else ("node",) * 4
    # Each step requires the one before it: one node at a time, in this order.
    for (title, _, args), previous in zip(found[2:], titles[1:], strict=False):
        assert previous in {str(v) for r in args["require"] for v in r.values()}, title
    for kind, names in (("app node", [f"{app}1", f"{app}2"]),):
        for name in names:
            drain = index(titles, f"{kind} {name} is drained")
            up = index(titles, f"{kind} {name} (drained) runs release 2026.2")
            ready = index(titles, f"{kind} {name} takes traffic again")
            assert drain < up < ready
    dbs = [f"{db}3", f"{db}2", f"{db}1"]
    order = [index(titles, f"database node {n} may be taken down") for n in dbs]
    assert order == sorted(order), "database nodes: backups first, the writer (first node) last"
    for n in dbs:
        assert (
            index(titles, f"database node {n} may be taken down")
            < index(titles, f"database node {n} is in maint")
            < index(titles, f"database node {n} (in maint) runs")
            < index(titles, f"database node {n} takes")
        )
    ims = [f"{im}3", f"{im}2", f"{im}1"]
    order = [index(titles, f"intermediate node {n} does not hold the Redis master") for n in ims]
    assert order == sorted(order), "intermediate nodes: replicas first, the initial master last"
    for n in ims:
        # Sentinel sees a restarted replica online up to 10 s late: that gate waits; the hand-over
        # (writes paused, SENTINEL FAILOVER, replicaof) is the state fileshare_redis.not_master.
        _, _, agree = found[index(titles, f"intermediate node {n}: the Sentinels agree again")]
        assert agree["retry"]["attempts"] * agree["retry"]["interval"] >= 30, agree
        _, _, handover = found[index(titles, f"intermediate node {n} does not hold the Redis master")]
        assert handover["tgt"] == n and handover["arg"] == ["fileshare_redis.not_master"], handover
    lbs = [f"{load}2", f"{load}1"]
    order = [index(titles, f"load node {n} does not hold the VIP") for n in lbs]
    assert order == sorted(order), "load nodes: the BACKUP first"
    layers = [
        index(titles, p)
        for p in (
            "app node",
            "database node",
            "intermediate node",
            "storage node",
            "load node",
            "the file share works end to end",
        )
    ]
    assert layers == sorted(layers)
    upgrades = [(t, args) for t, fun, args in found if fun == "salt.state"]
    assert upgrades and all(args["sls"] == "fileshare.release" for _, args in upgrades)
    assert all(args["pillar"] == {"fileshare": {"release": RELEASE}} for _, args in upgrades)
    assert all(len(str(args["tgt"]).split(",")) == 1 for _, args in upgrades), "one node at a time"
    assert "lab-redis-pw" not in repr(found), "the Redis password reached the orchestration's data"


def test_rolling_upgrade_refuses_without_a_release(renderer):
    found = steps(show(renderer, "full_ha", MASTER_ID, "fileshare.rolling_upgrade", release=None))
    assert [fun for _, fun, _ in found] == ["fileshare_pillar.validated", "test.fail_without_changes"]


def test_rolling_upgrade_refuses_all_in_one(renderer):
    found = steps(show(renderer, "all_in_one", MASTER_ID, "fileshare.rolling_upgrade"))
    assert [fun for _, fun, _ in found] == ["fileshare_pillar.validated", "test.fail_without_changes"]
    assert "mini_ha or full_ha" in found[1][0] or "mini_ha or full_ha" in str(found[1][2])


@pytest.mark.parametrize(
    "minion, expected",
    [
        ("lb1", {"HAProxy is configured", "HAProxy is running and enabled"}),
        ("app1", {"X-Fileshare-Release-App", "fileshare.release", "php8.2-fpm"}),
        ("db1", {"systemctl restart mariadb", "99-fileshare-release.cnf"}),
        (
            "im1",
            {
                "systemctl restart redis-server",
                "systemctl restart redis-sentinel",
                "systemctl restart memcached",
            },
        ),
        ("st1", {"systemctl restart glusterd"}),
    ],
)
def test_release_changes_every_layer_it_runs_on(renderer, minion, expected):
    result = show(renderer, "full_ha", minion, "fileshare.release")
    text = repr(result)
    for what in expected | {"Pin: version 2.6.12-1+deb12u3", "Pin-Priority: 1001"}:
        assert what in text, f"{minion}: {what!r} missing from fileshare.release"
    pkgs = [args for _, fun, args in steps(result) if fun == "pkg.installed" and "version" in args]
    assert {p["name"]: p["version"] for p in pkgs} == RELEASE["packages"]
    assert all("ok installed" in p["onlyif"] for p in pkgs), (
        "a pinned package is installed only where present"
    )


def test_a_node_that_serves_no_user_takes_the_release_first(renderer):
    found = steps(show(renderer, "full_ha", MASTER_ID, "fileshare.rolling_upgrade"))
    titles = [t for t, _, _ in found]
    backup = index(titles, "node bk1 (serves no user) runs release")
    assert found[backup][2]["tgt"] == "bk1" and found[backup][2]["sls"] == "fileshare.release"
    assert backup < index(titles, "app node app1 is drained")
    # mini_ha's nodes all serve: no such step.
    mini = [t for t, _, _ in steps(show(renderer, "mini_ha", MASTER_ID, "fileshare.rolling_upgrade"))]
    assert not [t for t in mini if "serves no user" in t]


def test_a_canary_run_upgrades_only_its_nodes_through_every_hand_over(renderer):
    """fileshare:release:nodes: the named nodes take the release in the runbook's order, with the VIP,
    writer and Redis master hand-overs when they are named; the pre-flight still asks every node."""
    canary = ["lb1", "st1", "im1", "db1", "app1", "bk1"]
    found = steps(
        show(renderer, "full_ha", MASTER_ID, "fileshare.rolling_upgrade", dict(RELEASE, nodes=canary))
    )
    titles = [t for t, _, _ in found]
    upgraded = [args["tgt"] for _, fun, args in found if fun == "salt.state"]
    assert upgraded == ["bk1", "app1", "db1", "im1", "st1", "lb1"]
    for step in (
        "pre-flight: app node app2 serves on every load node",
        "app node app1 is drained on every load node",
        "database node db1 (in maint) is not the writer on any load node",
        "intermediate node im1 does not hold the Redis master",
        "storage node st1: every brick connected",
        "load node lb1 does not hold the VIP",
        "the file share works end to end through the VIP",
    ):
        index(titles, step)
    others = ("app2", "db2", "db3", "im2", "im3", "st2", "st3", "lb2")
    assert not [t for t in titles if not t.startswith("pre-flight") and any(f" {n} " in t for n in others)]
    # On mini_ha a node holds every layer: each of its layer steps, and no other node's.
    found = steps(
        show(renderer, "mini_ha", MASTER_ID, "fileshare.rolling_upgrade", dict(RELEASE, nodes=["node2"]))
    )
    assert {args["tgt"] for _, fun, args in found if fun == "salt.state"} == {"node2"}
    assert len([1 for _, fun, _ in found if fun == "salt.state"]) == 5
