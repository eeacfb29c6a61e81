"""The one derivation of the topology (_modules/fileshare_topology.py): pure logic, many shapes of pillar."""

import pathlib

import pytest
import yaml
from suite_modules import load

REPO = pathlib.Path(__file__).resolve().parents[2]
topology = load("_modules/fileshare_topology.py")
pillar_module = load("_modules/fileshare_pillar.py")
DEFAULTS = yaml.safe_load((REPO / "formulas/fileshare/parameters/defaults.yaml").read_text())


def site(architecture="full_ha", **extra):
    nodes = {
        "all_in_one": [{"name": "aio1", "address": "10.0.0.11", "roles": ["load", "app", "db"]}],
        "full_ha": [
            {"name": "lb1", "address": "10.0.0.31", "roles": ["load", "infra"]},
            {"name": "lb2", "address": "10.0.0.32", "roles": ["load", "infra"]},
            {"name": "app1", "address": "10.0.0.41", "roles": ["app", "infra"]},
            {"name": "db1", "address": "10.0.0.51", "roles": ["db", "infra"]},
            {"name": "db2", "address": "10.0.0.52", "roles": ["db", "infra"]},
            {"name": "db3", "address": "10.0.0.53", "roles": ["db", "infra"]},
            {"name": "im1", "address": "10.0.0.61", "roles": ["intermediate"]},
            {"name": "im2", "address": "10.0.0.62", "roles": ["intermediate"]},
            {"name": "st1", "address": "10.0.0.71", "roles": ["storage"]},
        ],
    }[architecture]
    data = {
        "site": "acme",
        "domain": "example.org",
        "architecture": architecture,
        "network": {"subnet": "10.0.0.0/24"},
        "vip": {"address": "10.0.0.100", "name": "files"},
        "nodes": nodes,
        "storage": {"volume": "vol0"},
    }
    data.update(extra)
    return topology.merged(DEFAULTS, data)


def test_roles_list_nodes_in_pillar_order():
    t = topology.derive(site())
    assert t["roles"]["db"] == ["db1", "db2", "db3"]
    assert t["roles"]["load"] == ["lb1", "lb2"]
    assert t["roles"]["arbitrator"] == []
    assert t["addresses"]["intermediate"] == ["10.0.0.61", "10.0.0.62"]
    assert t["db_writers"] == ["db1", "db2", "db3"]
    assert topology.first(t, "storage") == "st1"
    assert topology.first(t, "arbitrator") is None


def test_ha_endpoints_go_through_the_vip_fronts():
    t = topology.derive(site())
    assert t["endpoints"]["db"] == {"host": "10.0.0.100", "port": DEFAULTS["ports"]["db_front"]}
    assert t["endpoints"]["redis"] == {"host": "10.0.0.100", "port": DEFAULTS["ports"]["redis_front"]}
    assert [m["host"] for m in t["endpoints"]["memcached"]] == ["10.0.0.61", "10.0.0.62"]


def test_all_in_one_endpoints_are_loopback():
    t = topology.derive(site("all_in_one"))
    assert t["single_host"] is True
    assert t["endpoints"]["db"] == {"host": "127.0.0.1", "port": DEFAULTS["ports"]["db"]}
    assert t["endpoints"]["memcached"] == [{"host": "127.0.0.1", "port": DEFAULTS["ports"]["memcached"]}]
    assert t["db_clients"] == ["localhost", "127.0.0.1"]


def test_db_clients_on_ha_are_the_app_and_load_nodes():
    t = topology.derive(site())
    assert t["db_clients"] == ["localhost", "127.0.0.1", "10.0.0.31", "10.0.0.32", "10.0.0.41"]


def test_galera_cluster_name_defaults_to_the_site():
    assert topology.derive(site())["names"]["galera_cluster"] == "acme-db"
    named = topology.derive(site(names={"galera_cluster": "prod-galera"}))
    assert named["names"]["galera_cluster"] == "prod-galera"
    # The other names keep their defaults when one is overridden (maps merge).
    assert named["names"]["sentinel_master"] == DEFAULTS["names"]["sentinel_master"]


def test_a_port_override_in_pillar_wins_and_the_rest_stay():
    t = topology.derive(site(ports={"sentinel": 26400}))
    assert t["ports"]["sentinel"] == 26400
    assert t["ports"]["redis"] == DEFAULTS["ports"]["redis"]


def test_lookup_overrides_come_before_the_site_settings():
    t = topology.derive(site(lookup={"ports": {"redis": 7000, "sentinel": 27000}}, ports={"redis": 7001}))
    assert t["ports"]["redis"] == 7001
    assert t["ports"]["sentinel"] == 27000


def test_node_view_of_a_listed_node():
    t = topology.derive(site(), "db2")
    assert t["node"] == {"name": "db2", "address": "10.0.0.52", "roles": ["db", "infra"]}
    assert t["private_listen"] == ["127.0.0.1", "10.0.0.52"]


def test_node_view_of_an_unlisted_node_is_loopback_without_roles():
    t = topology.derive(site(), "stranger")
    assert t["node"] == {"name": "stranger", "address": "127.0.0.1", "roles": []}
    assert t["private_listen"] == ["127.0.0.1"]


def test_all_in_one_node_listens_on_loopback_only():
    assert topology.derive(site("all_in_one"), "aio1")["private_listen"] == ["127.0.0.1"]


def test_vip_fqdn_and_prefix():
    vip = topology.derive(site())["vip"]
    assert vip == {"address": "10.0.0.100", "name": "files", "fqdn": "files.example.org", "prefix": 24}


@pytest.mark.parametrize(
    "bad",
    [
        {"nodes": "lb1"},
        {"nodes": [None, 3, {"name": 5}, {"address": "10.0.0.1"}]},
        {"nodes": [{"name": "x", "roles": "db"}]},
        {"vip": "10.0.0.1"},
        {"network": {"subnet": "not-a-net"}},
        {"ports": "many"},
        {"names": ["x"]},
        {"storage": None},
    ],
)
def test_a_malformed_pillar_never_raises(bad):
    """Rendering must survive it: the validation step names the bad key, not a render error."""
    t = topology.derive(site(**bad), "lb1")
    assert set(t["roles"]) == set(topology.ROLES)


def test_an_architecture_of_the_wrong_type_never_raises():
    data = site()
    data["architecture"] = 7
    assert topology.derive(data)["roles"]["db"] == ["db1", "db2", "db3"]


def test_a_malformed_node_entry_is_skipped_and_the_good_ones_kept():
    t = topology.derive(site(nodes=[{"name": "db1", "address": "10.0.0.51", "roles": ["db"]}, "junk"]))
    assert t["roles"]["db"] == ["db1"]


def test_the_schema_accepts_every_default_port_and_only_those():
    """fileshare:ports in pillar takes exactly the keys parameters/defaults.yaml defines."""
    schema_keys = set(pillar_module.SCHEMA["properties"]["ports"]["properties"])
    assert schema_keys == set(DEFAULTS["ports"])
    schema_names = set(pillar_module.SCHEMA["properties"]["names"]["properties"])
    assert schema_names == set(DEFAULTS["names"])


def test_all_in_one_node_holds_the_backup_role_when_no_node_lists_it():
    t = topology.derive(site("all_in_one"), "aio1")
    assert t["roles"]["backup"] == ["aio1"]
    assert "backup" in t["node"]["roles"]


def _mini_ha():
    data = site("all_in_one")
    data["architecture"] = "mini_ha"
    data["nodes"] = [
        {"name": f"node{i}", "address": f"10.0.0.2{i}", "roles": list(pillar_module.LAYER_ROLES)}
        for i in (1, 2, 3)
    ]
    return data


def test_mini_ha_backup_falls_to_the_last_db_node_not_the_writer():
    t = topology.derive(_mini_ha())
    assert t["db_writers"][0] == "node1"
    assert t["roles"]["backup"] == ["node3"]
    # It copies a synced member over ssh like a backup node of its own: a site restore reaches all three.
    assert t["backup_remote"] == ["node3"]


def test_full_ha_has_no_backup_node_unless_one_is_listed():
    assert topology.derive(site())["roles"]["backup"] == []
    listed = site()
    listed["nodes"][5]["roles"].append("backup")
    assert topology.derive(listed)["roles"]["backup"] == ["db3"]
    # On HA every backup node copies over ssh, a database node too.
    assert topology.derive(listed)["backup_remote"] == ["db3"]
    own = site()
    own["nodes"].append({"name": "bk1", "address": "10.0.0.80", "roles": ["backup", "infra"]})
    assert topology.derive(own)["backup_remote"] == ["bk1"]


def test_a_listed_backup_node_wins_over_the_default():
    data = site("all_in_one")
    data["nodes"].append({"name": "bk1", "address": "10.0.0.12", "roles": ["backup"]})
    t = topology.derive(data)
    assert t["roles"]["backup"] == ["bk1"]
    assert t["addresses"]["backup"] == ["10.0.0.12"]


@pytest.mark.parametrize("shape", ["all_in_one", "mini_ha", "full_ha"])
def test_the_validator_asks_the_password_of_exactly_the_node_the_topology_derives(shape):
    """fileshare_pillar checks the raw node list before anything is derived: its backup holder must be
    the derivation's."""
    data = _mini_ha() if shape == "mini_ha" else site(shape)
    data["app"]["data_dir"] = "/srv/fileshare/data"
    derived = topology.derive(data)["roles"]["backup"]
    data["secrets"] = {}
    found = pillar_module.backup_problems(data)
    assert [p["key"] for p in found] == ["fileshare:secrets:backup_password"] * len(derived)
    assert all(f"{name} holds the backup repository" in found[0]["reason"] for name in derived)


# ---- flows and the site diagram ----------------------------------------------------------------------


def test_every_flow_names_known_roles_and_ports():
    derived = topology.derive(site())
    sources = set(topology.ROLES) | {"vip", "backup_remote", "users", "site_network"}
    for flow in derived["flows"]:
        assert set(flow["to"]) <= set(topology.ROLES), flow
        assert set(flow["sources"]) <= sources, flow
        # A port key the defaults lack would read None and open nothing.
        assert None not in flow["ports"] and (flow["ports"] or flow["proto"] == "vrrp"), flow


def test_flows_follow_a_site_s_own_ports():
    derived = topology.derive(site(ports={"db": 13306}))
    (mariadb,) = [f for f in derived["flows"] if f["to"] == ["db", "arbitrator"] and f["ports"] == [13306]]
    assert "app" in mariadb["sources"]


def test_the_diagram_shows_every_node_the_vip_and_the_flows_between_layers():
    text = topology.dot(topology.derive(site()))
    assert text.startswith("digraph fileshare {") and text.rstrip().endswith("}")
    for name, address in [
        ("lb1", "10.0.0.31"),
        ("app1", "10.0.0.41"),
        ("db3", "10.0.0.53"),
        ("st1", "10.0.0.71"),
    ]:
        assert f'"{name}" [label="{name}\\n{address}"];' in text
    assert 'vip [shape=ellipse, fillcolor="#dbe9f6", label="VIP files.example.org\\n10.0.0.100"];' in text
    assert 'users -> vip [label="80, 443"];' in text
    # Groups by role in pillar order (infra, on every node, left out): load 0, app 1, db 2, ...
    assert '"app1" -> "db1" [ltail=cluster_1, lhead=cluster_2, label="3306"];' in text
    assert '"lb1" -> "app1" [ltail=cluster_0, lhead=cluster_1, label="8080"];' in text
    # Among the members of one layer: written in its box, not drawn.
    assert 'label="db\\npeers: 3306, 4567, 4568, 4444, 9200";' in text
    assert 'label="storage\\npeers: 24007, 24008, 49152-60999";' in text
    assert 'site_network -> "lb1" [lhead=cluster_0, label="53, 53/udp"];' in text


def test_the_diagram_of_a_site_without_vip_sends_users_to_the_load_nodes():
    data = site()
    data["vip"] = {}
    text = topology.dot(topology.derive(data))
    assert "vip" not in text.replace("VIP", "")
    assert 'users -> "lb1" [lhead=cluster_0, label="80, 443"];' in text


def test_the_diagram_quotes_what_it_is_given():
    data = site()
    data["site"] = 'a "quoted" site'
    assert 'label="a \\"quoted\\" site (full_ha)"' in topology.dot(topology.derive(data))
