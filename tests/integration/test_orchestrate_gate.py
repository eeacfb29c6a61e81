"""
`salt-run state.orchestrate fileshare.all_in_one` with a bad pillar stops at its first step, the pillar
validation, with one message naming the key and the reason, and publishes nothing to any node.
"""

import copy
import pathlib

import pytest
import salt.payload
from conftest import MINION_ID

GATE = "pillar is valid for the site"


@pytest.fixture(scope="module")
def example(salt_run, pillar):
    """The example site's all_in_one pillar as this master serves it."""
    pillar.use_repo()
    ret = salt_run.run("pillar.show_pillar", MINION_ID)
    assert ret.returncode == 0, ret
    return ret.data["fileshare"]


def _jobs(master):
    """Jobs the master published to minions, read from its job cache (salt-run's own jobs left out)."""
    jobs = {}
    for load in pathlib.Path(master.config["cachedir"], "jobs").glob("*/*/.load.p"):
        data = salt.payload.loads(load.read_bytes())
        if not str(data.get("fun", "")).startswith(("runner.", "wheel.")):
            jobs[data.get("jid")] = data.get("fun")
    return jobs


def _orchestrate(salt_run, sls, *args):
    ret = salt_run.run("state.orchestrate", sls, *args)
    data = ret.data["data"] if isinstance(ret.data, dict) and "data" in ret.data else ret.data
    (states,) = data.values()  # one entry: the master's own minion
    return ret, states


def _set(path, value):
    def mutate(d):
        for p in path[:-1]:
            d = d[p]
        d[path[-1]] = value

    return mutate


def _drop(path):
    def mutate(d):
        for p in path[:-1]:
            d = d[p]
        del d[path[-1]]

    return mutate


def _add_node(d):
    d["nodes"].append({"name": "aio2", "address": "10.77.0.12", "roles": ["app"]})


BAD = [
    pytest.param(
        _set(["vip", "address"], "10.9.9.9"),
        "fileshare:vip:address: 10.9.9.9 is outside fileshare:network:subnet 10.77.0.0/24",
        id="vip_outside_subnet",
    ),
    pytest.param(
        _drop(["secrets", "db_password"]),
        "fileshare:secrets:db_password: is required but missing",
        id="secret_missing",
    ),
    pytest.param(
        _set(["nodes", 0, "roles"], ["load", "app", "db", "queue"]),
        "fileshare:nodes:0:roles:3: must be one of",
        id="unknown_role",
    ),
    pytest.param(
        _add_node, "fileshare:nodes: all_in_one needs exactly 1 node, found 2", id="wrong_node_count"
    ),
    pytest.param(
        _set(["product"], "owncloud"),
        "fileshare:product: owncloud is not built yet",
        id="product_not_built",
    ),
    pytest.param(
        _set(["db", "engin"], "postgresql"),
        "fileshare:db:engin: unknown key (did you mean engine?)",
        id="typo_below_the_top_level",
    ),
    pytest.param(
        _set(["db", "engine"], "postgresql"),
        "fileshare:db:engine: postgresql is not built yet",
        id="db_engine_not_built",
    ),
    pytest.param(
        _set(["app", "server"], "nginx"),
        "fileshare:app:server: product webdav is served by Apache httpd",
        id="nginx_cannot_serve_webdav",
    ),
    pytest.param(
        _set(["nodes", 0, "address"], "10.77.0.999"),
        "fileshare:nodes:0:address: must be an IPv4 address",
        id="bad_address",
    ),
]


# Every bad pillar applied; two of them also under test=True (a dry run must stop the same way).
CASES = [pytest.param(*case.values, False, id=f"{case.id}-apply") for case in BAD] + [
    pytest.param(*case.values, True, id=f"{case.id}-test") for case in BAD[:2]
]


@pytest.mark.parametrize(("mutate", "message", "test_mode"), CASES)
def test_bad_pillar_stops_all_in_one_at_validation_and_changes_nothing(
    master, salt_run, pillar, example, mutate, message, test_mode
):
    data = copy.deepcopy(example)
    mutate(data)
    pillar.set_fileshare(data)
    jobs_before = _jobs(master)

    ret, states = _orchestrate(salt_run, "fileshare.all_in_one", *(["test=True"] if test_mode else []))

    assert ret.returncode != 0
    # Applying, failhard stops the run at the gate. Under test=True Salt ignores failhard, so the later
    # steps are listed, but each as not run because its requisite failed.
    ran = [
        s["__id__"] for s in states.values() if not s["comment"].startswith("One or more requisite failed")
    ]
    assert ran == [GATE], "a step after the validation ran"
    if not test_mode:
        assert len(states) == 1
    gate = next(s for s in states.values() if s["__id__"] == GATE)
    assert gate["result"] is False and gate["changes"] == {}
    assert gate["comment"].startswith(f"pillar key {message}"), gate["comment"]
    assert "\n" not in gate["comment"]
    for secret in ("lab-root-pw-change-me", "lab-db-pw-change-me", "lab-redis-pw-change-me", "lab-alice-pw"):
        assert secret not in ret.stdout
    assert _jobs(master) == jobs_before, "a job was published to a node"


def test_good_pillar_passes_the_gate_and_the_next_step_runs(master, salt_run, pillar, example, marker):
    """Positive control: with the example pillar the same gate passes and the job check sees the next step."""
    if marker.exists():
        marker.unlink()
    pillar.set_fileshare(example)
    jobs_before = _jobs(master)

    ret, states = _orchestrate(salt_run, "fsit.marker")

    assert ret.returncode == 0, ret.stdout
    gate = next(s for s in states.values() if s["__id__"] == GATE)
    assert gate["result"] is True and gate["changes"] == {}
    assert "all_in_one with 1 node(s)" in gate["comment"]
    assert marker.exists()
    new_jobs = set(_jobs(master).items()) - set(jobs_before.items())
    assert "file.touch" in {fun for _, fun in new_jobs}, new_jobs


def test_bad_pillar_leaves_the_marker_unwritten(salt_run, pillar, example, marker):
    if marker.exists():
        marker.unlink()
    data = copy.deepcopy(example)
    data["nodes"].append(dict(data["nodes"][0], name="aio2"))
    pillar.set_fileshare(data)

    ret, states = _orchestrate(salt_run, "fsit.marker")

    assert ret.returncode != 0
    assert [s["__id__"] for s in states.values()] == [GATE]
    assert "already the address of fileshare:nodes:0" in next(iter(states.values()))["comment"]
    assert not marker.exists()


def _ha(architecture, nodes, vip="10.77.0.100"):
    def mutate(d):
        d["architecture"] = architecture
        d["vip"]["address"] = vip
        d["nodes"] = nodes

    return mutate


_ALL = ["load", "app", "db", "intermediate", "storage", "infra"]
_FULL_HA_TWO_DB = (
    [{"name": f"lb{i}", "address": f"10.77.0.3{i}", "roles": ["load", "infra"]} for i in (1, 2)]
    + [{"name": f"app{i}", "address": f"10.77.0.4{i}", "roles": ["app", "infra"]} for i in (1, 2)]
    + [{"name": f"db{i}", "address": f"10.77.0.5{i}", "roles": ["db", "infra"]} for i in (1, 2)]
    + [{"name": f"im{i}", "address": f"10.77.0.6{i}", "roles": ["intermediate", "infra"]} for i in (1, 2, 3)]
    + [{"name": f"st{i}", "address": f"10.77.0.7{i}", "roles": ["storage", "infra"]} for i in (1, 2, 3)]
)


_FULL_HA = _FULL_HA_TWO_DB + [{"name": "db3", "address": "10.77.0.53", "roles": ["db", "infra"]}]


def _data_dir(path):
    def mutate(d):
        _ha("full_ha", _FULL_HA)(d)
        d["app"]["data_dir"] = path

    return mutate


@pytest.mark.parametrize(
    ("orchestration", "mutate", "message"),
    [
        pytest.param(
            "fileshare.full_ha",
            _data_dir("/data"),
            # The mount point is the default of parameters/defaults.yaml, read from the master's fileserver.
            "fileshare:app:data_dir: /data must lie under fileshare:storage:mount_point (/srv/fileshare)",
            id="full_ha_data_dir_off_the_shared_volume",
        ),
        pytest.param(
            "fileshare.full_ha",
            _ha("full_ha", _FULL_HA_TWO_DB),
            "fileshare:nodes: 2 Galera db nodes cannot keep quorum",
            id="full_ha_two_galera_nodes",
        ),
        pytest.param(
            "fileshare.full_ha",
            _ha(
                "full_ha",
                _FULL_HA_TWO_DB + [{"name": "arb1", "address": "10.77.0.59", "roles": ["arbitrator"]}],
            ),
            "fileshare:nodes:12:roles: role arbitrator is not built yet",
            id="full_ha_arbitrator_not_built",
        ),
        pytest.param(
            "fileshare.mini_ha",
            _ha(
                "mini_ha",
                [{"name": f"node{i}", "address": f"10.77.0.2{i}", "roles": _ALL} for i in (1, 2, 3)],
                vip="10.77.0.22",
            ),
            "fileshare:vip:address: 10.77.0.22 collides with fileshare:nodes:1:address",
            id="mini_ha_vip_on_a_node",
        ),
        pytest.param(
            "fileshare.full_ha",
            _ha("full_ha", [n for n in _FULL_HA_TWO_DB if n["name"] != "db2"]),
            "fileshare:nodes: full_ha needs 3 Galera db nodes, found 1",
            id="full_ha_two_of_three_galera_nodes_removed",
        ),
    ],
)
def test_bad_pillar_stops_the_ha_orchestrations_at_validation(
    master, salt_run, pillar, example, orchestration, mutate, message
):
    data = copy.deepcopy(example)
    mutate(data)
    pillar.set_fileshare(data)
    jobs_before = _jobs(master)

    ret, states = _orchestrate(salt_run, orchestration)

    assert ret.returncode != 0
    assert [s["__id__"] for s in states.values()] == [GATE], "a step after the validation ran"
    assert next(iter(states.values()))["comment"].startswith(f"pillar key {message}")
    assert _jobs(master) == jobs_before, "a job was published to a node"
