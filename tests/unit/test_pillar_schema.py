"""
The pillar contract: the example site is valid for every architecture, and each bad pillar gives exactly
one error naming the key and the reason, without ever echoing a secret.
"""

import copy
import pathlib

import pytest
import salt.config
import salt.pillar
import yaml
from salt.exceptions import CommandExecutionError
from suite_modules import load

REPO = pathlib.Path(__file__).resolve().parents[2]
ARCHITECTURES = ["all_in_one", "mini_ha", "full_ha"]


fp = load("_modules/fileshare_pillar.py", "fileshare_pillar_module")
fp_state = load("_states/fileshare_pillar.py", "fileshare_pillar_state")
fp_topology = load("_modules/fileshare_topology.py", "fileshare_topology_module")


def render_example_pillar(architecture, tmp_path, minion_id="node1"):
    """Compile the repo's pillar exactly as a master would for one minion, with the lab's master option."""
    opts = salt.config.minion_config(None)
    opts.update(
        id=minion_id,
        file_client="local",
        cachedir=str(tmp_path / "cache"),
        pillar_roots={"base": [str(REPO / "pillar")]},
        file_roots={"base": [str(REPO)]},
        fileshare_example_architecture=architecture,
        grains={},
    )
    return salt.pillar.get_pillar(opts, {}, minion_id, saltenv="base").compile_pillar()


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pillar")
    return {a: render_example_pillar(a, tmp)["fileshare"] for a in ARCHITECTURES}


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_example_site_pillar_is_valid(examples, architecture):
    data = examples[architecture]
    assert data["architecture"] == architecture
    assert fp.problems(data) == []


def test_example_architecture_node_counts(examples):
    assert [len(examples[a]["nodes"]) for a in ARCHITECTURES] == [1, 3, 14]


# --- mutations ------------------------------------------------------------------------------------


def _set(path, value):
    def mutate(d):
        *parents, last = path
        for p in parents:
            d = d[p]
        d[last] = value

    return mutate


def _delete(path):
    def mutate(d):
        *parents, last = path
        for p in parents:
            d = d[p]
        del d[last]

    return mutate


def _edit_nodes(func):
    def mutate(d):
        func(d["nodes"])

    return mutate


def _full_ha_without(role, keep):
    def mutate(d):
        seen = 0
        kept = []
        for node in d["nodes"]:
            if role in node["roles"]:
                seen += 1
                if seen > keep:
                    continue
            kept.append(node)
        d["nodes"] = kept

    return mutate


def _arbitrator(d):
    _full_ha_without("db", 2)(d)
    d["nodes"].append(
        {
            "name": "arb1",
            "address": d["nodes"][0]["address"].rsplit(".", 1)[0] + ".59",
            "roles": ["arbitrator", "infra"],
        }
    )


# (id, architecture of the base pillar, mutation, expected key, expected words in the reason)
BAD = [
    ("missing_domain", "all_in_one", _delete(["domain"]), "fileshare:domain", "required"),
    ("missing_secrets_block", "all_in_one", _delete(["secrets"]), "fileshare:secrets", "required"),
    (
        "missing_db_password",
        "all_in_one",
        _delete(["secrets", "db_password"]),
        "fileshare:secrets:db_password",
        "required",
    ),
    (
        "secret_not_a_string",
        "all_in_one",
        _set(["secrets", "redis_password"], 12345),
        "fileshare:secrets:redis_password",
        "must be a string",
    ),
    (
        "webdav_without_users",
        "all_in_one",
        _delete(["secrets", "webdav_users"]),
        "fileshare:secrets:webdav_users",
        "webdav needs its users",
    ),
    ("unknown_top_level_key", "all_in_one", _set(["colour"], "blue"), "fileshare:colour", "unknown key"),
    (
        "unknown_architecture",
        "all_in_one",
        _set(["architecture"], "triple_ha"),
        "fileshare:architecture",
        "must be one of all_in_one, mini_ha, full_ha",
    ),
    ("unknown_product", "all_in_one", _set(["product"], "nextcloud"), "fileshare:product", "must be one of"),
    ("bad_domain", "all_in_one", _set(["domain"], "Example_Lab"), "fileshare:domain", "DNS domain"),
    (
        "nodes_not_a_list",
        "all_in_one",
        _set(["nodes"], {"aio1": "10.77.0.11"}),
        "fileshare:nodes",
        "must be a list",
    ),
    (
        "node_missing_address",
        "all_in_one",
        _delete(["nodes", 0, "address"]),
        "fileshare:nodes:0:address",
        "required",
    ),
    (
        "node_bad_address",
        "mini_ha",
        _set(["nodes", 1, "address"], "10.77.0.300"),
        "fileshare:nodes:1:address",
        "IPv4 address",
    ),
    ("node_bad_name", "mini_ha", _set(["nodes", 2, "name"], "Node_3"), "fileshare:nodes:2:name", "DNS label"),
    (
        "unknown_role",
        "all_in_one",
        _set(["nodes", 0, "roles"], ["load", "app", "web"]),
        "fileshare:nodes:0:roles:2",
        "must be one of",
    ),
    (
        "port_is_a_string",
        "all_in_one",
        _set(["ports"], {"redis": "6390"}),
        "fileshare:ports:redis",
        "must be an integer",
    ),
    (
        "bad_subnet",
        "all_in_one",
        _set(["network", "subnet"], "10.77.0.0"),
        "fileshare:network:subnet",
        "CIDR",
    ),
    (
        "subnet_with_host_bits",
        "all_in_one",
        _set(["network", "subnet"], "10.77.0.5/24"),
        "fileshare:network:subnet",
        "not a valid network",
    ),
    (
        "vip_outside_subnet",
        "mini_ha",
        _set(["vip", "address"], "10.9.9.9"),
        "fileshare:vip:address",
        "10.9.9.9 is outside fileshare:network:subnet 10.77.0.0/24",
    ),
    (
        "all_in_one_vip_outside_subnet",
        "all_in_one",
        _set(["vip", "address"], "10.9.9.9"),
        "fileshare:vip:address",
        "10.9.9.9 is outside fileshare:network:subnet 10.77.0.0/24",
    ),
    (
        "node_outside_subnet",
        "full_ha",
        _set(["nodes", 4, "address"], "192.168.1.10"),
        "fileshare:nodes:4:address",
        "is outside fileshare:network:subnet",
    ),
    (
        "vip_collides_with_node",
        "mini_ha",
        _set(["vip", "address"], "10.77.0.22"),
        "fileshare:vip:address",
        "collides with fileshare:nodes:1:address",
    ),
    (
        "all_in_one_vip_not_the_node",
        "all_in_one",
        _set(["vip", "address"], "10.77.0.12"),
        "fileshare:vip:address",
        "single node's own address",
    ),
    (
        "duplicate_node_name",
        "mini_ha",
        _set(["nodes", 2, "name"], "node1"),
        "fileshare:nodes:2:name",
        "already the name of fileshare:nodes:0",
    ),
    (
        "duplicate_node_address",
        "mini_ha",
        _set(["nodes", 2, "address"], "10.77.0.21"),
        "fileshare:nodes:2:address",
        "already the address of fileshare:nodes:0",
    ),
    (
        "all_in_one_two_nodes",
        "all_in_one",
        _edit_nodes(lambda n: n.append(dict(n[0], name="aio2", address="10.77.0.12"))),
        "fileshare:nodes",
        "all_in_one needs exactly 1 node, found 2",
    ),
    (
        "mini_ha_two_nodes",
        "mini_ha",
        _edit_nodes(lambda n: n.pop()),
        "fileshare:nodes",
        "mini_ha needs exactly 3 nodes, found 2",
    ),
    (
        "mini_ha_node_lacks_db",
        "mini_ha",
        _set(["nodes", 1, "roles"], ["load", "app", "intermediate", "storage", "infra"]),
        "fileshare:nodes:1:roles",
        "node2 lacks db",
    ),
    ("full_ha_one_load_node", "full_ha", _full_ha_without("load", 1), "fileshare:nodes", "2 load nodes"),
    (
        "full_ha_one_app_node",
        "full_ha",
        _full_ha_without("app", 1),
        "fileshare:nodes",
        "at least 2 app nodes",
    ),
    (
        "two_galera_nodes",
        "full_ha",
        _full_ha_without("db", 2),
        "fileshare:nodes",
        "2 Galera db nodes cannot keep quorum when one fails: use 3 db nodes",
    ),
    (
        "mod_dav_on_several_app_nodes",
        "full_ha",
        _set(["app", "webdav", "engine"], "mod_dav"),
        "fileshare:app:webdav:engine",
        "mod_dav cannot share WebDAV locks between the 2 app nodes",
    ),
    (
        "unknown_webdav_engine",
        "full_ha",
        _set(["app", "webdav", "engine"], "nginx"),
        "fileshare:app:webdav:engine",
        "",
    ),
    (
        "app_without_storage",
        "full_ha",
        _full_ha_without("storage", 0),
        "fileshare:nodes:2:roles",
        "app node app1 needs the storage layer",
    ),
    (
        "owncloud_not_built",
        "all_in_one",
        _set(["product"], "owncloud"),
        "fileshare:product",
        "owncloud is not built yet",
    ),
    (
        "artifact_without_checksum",
        "all_in_one",
        _set(["artifacts"], {"seafile": {"url": "http://10.77.0.1:3143/artifacts/seafile.tgz"}}),
        "fileshare:artifacts:seafile:sha256",
        "required",
    ),
    (
        "artifact_bad_checksum",
        "all_in_one",
        _set(["artifacts"], {"seafile": {"url": "http://10.77.0.1/s.tgz", "sha256": "abc"}}),
        "fileshare:artifacts:seafile:sha256",
        "64 lower-case hex",
    ),
    (
        "ha_without_vrrp_password",
        "full_ha",
        _delete(["secrets", "vrrp_password"]),
        "fileshare:secrets:vrrp_password",
        "VRRP password",
    ),
    (
        "tls_key_not_a_string",
        "all_in_one",
        _set(
            ["load", "tls"], {"cert": "-----BEGIN CERTIFICATE-----", "key": ["-----BEGIN PRIVATE KEY-----"]}
        ),
        "fileshare:load:tls:key",
        "must be a string, got a list",
    ),
    (
        "admin_source_not_a_network",
        "mini_ha",
        _set(["load", "acl", "admin_sources"], ["everyone"]),
        "fileshare:load:acl:admin_sources:0",
        "IPv4 address or network",
    ),
    (
        "mirror_not_a_url",
        "all_in_one",
        _set(["mirrors", "apt"], "ftp://mirror/debian"),
        "fileshare:mirrors:apt",
        "http:// or https:// URL",
    ),
    ("vip_missing_name", "full_ha", _delete(["vip", "name"]), "fileshare:vip:name", "required"),
    (
        "app_server_unknown",
        "all_in_one",
        _set(["app", "server"], "lighttpd"),
        "fileshare:app:server",
        "apache, nginx",
    ),
    (
        "data_dir_relative",
        "all_in_one",
        _set(["app", "data_dir"], "srv/data"),
        "fileshare:app:data_dir",
        "absolute path",
    ),
    (
        "keepalived_preempt_delay_negative",
        "mini_ha",
        _set(["load", "keepalived", "preempt_delay"], -1),
        "fileshare:load:keepalived:preempt_delay",
        "",
    ),
]


# Hostile input (issue 6): edits that would break a running cluster are refused before any change.
BAD += [
    (
        "two_of_three_galera_nodes_removed",
        "full_ha",
        _full_ha_without("db", 1),
        "fileshare:nodes",
        "full_ha needs 3 Galera db nodes, found 1",
    ),
    (
        "load_node_on_the_vip",
        "full_ha",
        _set(["nodes", 1, "address"], "10.77.0.100"),
        "fileshare:vip:address",
        "collides with fileshare:nodes:1:address",
    ),
    (
        "storage_node_on_the_vip",
        "full_ha",
        _set(["vip", "address"], "10.77.0.73"),
        "fileshare:vip:address",
        "the floating VIP needs an address of its own",
    ),
    (
        "mini_ha_node_without_storage",
        "mini_ha",
        _set(["nodes", 2, "roles"], ["load", "app", "db", "intermediate", "infra"]),
        "fileshare:nodes:2:roles",
        "node3 lacks storage",
    ),
    (
        "owncloud_with_its_artifact_not_built",
        "full_ha",
        lambda d: d.update(
            product="owncloud",
            artifacts={"owncloud": {"url": "http://10.77.0.1:3143/artifacts/oc.tar.bz2", "sha256": "0" * 64}},
        ),
        "fileshare:product",
        "owncloud is not built yet",
    ),
    (
        "seafile_not_built",
        "full_ha",
        _set(["product"], "seafile"),
        "fileshare:product",
        "seafile is not built yet",
    ),
    (
        "firewall_admin_source_not_a_network",
        "full_ha",
        _set(["firewall"], {"admin_sources": ["anywhere"]}),
        "fileshare:firewall:admin_sources:0",
        "IPv4 address or network",
    ),
    (
        "firewall_unknown_key",
        "full_ha",
        _set(["firewall"], {"allow_all": True}),
        "fileshare:firewall:allow_all",
        "unknown key",
    ),
]

# A new user's typos below the top level, old keys, and what the schema names but no state builds: each
# refused before any node changes (a state refusing it would run after the layers before it).
BAD += [
    (
        "typo_below_the_top_level",
        "all_in_one",
        _set(["db", "engin"], "postgresql"),
        "fileshare:db:engin",
        "unknown key (did you mean engine?)",
    ),
    (
        "typo_three_levels_down",
        "mini_ha",
        _set(["load", "keepalived", "advert_interval"], 1),
        "fileshare:load:keepalived:advert_interval",
        "unknown key (did you mean advert_int?)",
    ),
    (
        "typo_in_a_node",
        "full_ha",
        _set(["nodes", 3, "role"], ["db"]),
        "fileshare:nodes:3:role",
        "unknown key (did you mean roles?)",
    ),
    (
        "unknown_key_far_from_any_known",
        "all_in_one",
        _set(["infra", "zzz"], 1),
        "fileshare:infra:zzz",
        "unknown key (known here: journald, logrotate)",
    ),
    (
        "old_app_port_names_its_new_place",
        "all_in_one",
        _set(["app", "port"], 8090),
        "fileshare:app:port",
        "unknown key (moved to fileshare:ports:app)",
    ),
    (
        "old_redis_port_names_its_new_place",
        "mini_ha",
        _set(["intermediate", "redis"], {"maxmemory_mb": 64, "port": 6390}),
        "fileshare:intermediate:redis:port",
        "unknown key (moved to fileshare:ports:redis)",
    ),
    (
        "postgresql_not_built",
        "all_in_one",
        _set(["db", "engine"], "postgresql"),
        "fileshare:db:engine",
        "postgresql is not built yet",
    ),
    (
        "arbitrator_not_built",
        "full_ha",
        _arbitrator,
        "fileshare:nodes:13:roles",
        "role arbitrator is not built yet (no state installs garbd on arb1)",
    ),
    (
        "nginx_cannot_serve_webdav",
        "all_in_one",
        _set(["app", "server"], "nginx"),
        "fileshare:app:server",
        "product webdav is served by Apache httpd",
    ),
    (
        "no_python_mirror",
        "full_ha",
        _delete(["mirrors", "python"]),
        "fileshare:mirrors:python",
        "only from the site's Python mirror",
    ),
    (
        "data_dir_outside_the_shared_volume",
        "full_ha",
        _set(["storage"], {"volume": "fileshare", "mount_point": "/srv/gluster"}),
        "fileshare:app:data_dir",
        "/srv/fileshare/data must lie under fileshare:storage:mount_point (/srv/gluster) on full_ha",
    ),
    (
        "tls_cert_without_key",
        "full_ha",
        _set(["load", "tls"], {"cert": "-----BEGIN CERTIFICATE-----"}),
        "fileshare:load:tls",
        "needs both cert and key",
    ),
    (
        "no_package_mirror",
        "all_in_one",
        _delete(["mirrors", "apt"]),
        "fileshare:mirrors",
        "needs the package mirror of the nodes' OS: apt, rpm, pacman",
    ),
    (
        "backup_without_its_password",
        "all_in_one",
        _delete(["secrets", "backup_password"]),
        "fileshare:secrets:backup_password",
        "is required: aio1 holds the backup repository",
    ),
    (
        "backup_repository_inside_the_data_directory",
        "all_in_one",
        _set(["backup"], {"repository": "/srv/fileshare/data/.restic"}),
        "fileshare:backup:repository",
        "/srv/fileshare/data/.restic lies inside the data directory it backs up",
    ),
    (
        "a_negative_backup_limit",
        "all_in_one",
        _set(["backup"], {"limit_kib": -1}),
        "fileshare:backup:limit_kib",
        "violates minimum 0 (got -1)",
    ),
    (
        "two_backup_nodes",
        "mini_ha",
        lambda d: [n["roles"].append("backup") for n in d["nodes"][:2]],
        "fileshare:nodes",
        "role backup belongs to one node (one repository), found node1, node2",
    ),
    (
        "a_second_backup_node_on_full_ha",
        "full_ha",
        lambda d: d["nodes"][4]["roles"].append("backup"),
        "fileshare:nodes",
        "role backup belongs to one node (one repository), found db1, bk1",
    ),
    (
        "offsite_repository_without_its_host_key",
        "all_in_one",
        _set(["backup"], {"repository": "sftp:restic@offsite.example.org:/srv/restic/site"}),
        "fileshare:backup:sftp:host_key",
        "is required for the off-site repository sftp:restic@offsite.example.org:/srv/restic/site",
    ),
    (
        "repository_neither_a_path_nor_sftp",
        "all_in_one",
        _set(["backup"], {"repository": "s3:https://bucket.example.org/site"}),
        "fileshare:backup:repository",
        "must be an absolute path on the backup node or sftp:USER@HOST:/PATH",
    ),
    (
        "offsite_host_key_not_a_key",
        "all_in_one",
        _set(
            ["backup"],
            {"repository": "sftp:restic@offsite.example.org:/srv/restic", "sftp": {"host_key": "AAAAC3Nz"}},
        ),
        "fileshare:backup:sftp:host_key",
        "must be a public host key as ssh-keyscan prints it",
    ),
    (
        "backup_retention_keeps_no_day",
        "all_in_one",
        _set(["backup"], {"retention": {"daily": 0}}),
        "fileshare:backup:retention:daily",
        "",
    ),
    (
        "canary_naming_a_node_the_site_lacks",
        "full_ha",
        _set(["release"], {"name": "2026.2", "nodes": ["app1", "db9"]}),
        "fileshare:release:nodes:1",
        "db9 is not a node of this site (its nodes: lb1, lb2, app1",
    ),
    (
        "canary_naming_a_node_twice",
        "full_ha",
        _set(["release"], {"name": "2026.2", "nodes": ["app1", "app1"]}),
        "fileshare:release:nodes",
        "must be a list of the site's node names, each once",
    ),
    (
        "canary_of_no_node",
        "full_ha",
        _set(["release"], {"name": "2026.2", "nodes": []}),
        "fileshare:release:nodes",
        "must be a list of the site's node names, each once",
    ),
]


@pytest.mark.parametrize(("base", "mutate", "key", "words"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_pillar_gives_exactly_one_clear_error(examples, base, mutate, key, words):
    data = copy.deepcopy(examples[base])
    mutate(data)
    found = fp.problems(data)
    assert len(found) == 1, found
    assert found[0]["key"] == key
    assert words in found[0]["reason"]
    secrets = _secret_values(examples[base]["secrets"])
    message = fp.message(found)
    assert message.startswith(f"pillar key {key}: ")
    for secret in secrets:
        assert secret not in message


def test_at_least_twenty_bad_pillars():
    assert len(BAD) >= 20


def _secret_values(tree):
    if isinstance(tree, dict):
        return [v for item in tree.values() for v in _secret_values(item)]
    return [str(tree)]


@pytest.mark.parametrize("bad_value", [["lab-root-pw-change-me"], {"x": "lab-root-pw-change-me"}, "", 3.5])
def test_secret_values_never_appear_in_reasons(examples, bad_value):
    data = copy.deepcopy(examples["all_in_one"])
    data["secrets"]["db_root_password"] = bad_value
    data["secrets"]["webdav_users"]["carol"] = 12345678
    found = fp.problems(data)
    assert {f["key"] for f in found} >= {
        "fileshare:secrets:db_root_password",
        "fileshare:secrets:webdav_users:carol",
    }
    text = repr(found)
    for secret in _secret_values(examples["all_in_one"]["secrets"]) + ["12345678", "3.5"]:
        assert secret not in text


def test_missing_fileshare_pillar_is_named():
    assert fp.problems(None) == [
        {"key": "fileshare", "reason": "is missing: no fileshare pillar for this minion (see pillar/top.sls)"}
    ]


def test_several_problems_are_all_listed_and_the_message_counts_them(examples):
    data = copy.deepcopy(examples["all_in_one"])
    del data["domain"]
    data["product"] = "ftp"
    found = fp.problems(data)
    assert {f["key"] for f in found} == {"fileshare:domain", "fileshare:product"}
    assert "and 1 more problem" in fp.message(found)


# --- the Salt layer: exec module functions and the state --------------------------------------------


def test_no_lab_ca_needs_the_site_certificate_and_key(examples):
    data = copy.deepcopy(examples["all_in_one"])
    data["load"]["tls"] = {"lab_ca": False}
    found = fp.problems(data)
    assert [f["key"] for f in found] == ["fileshare:load:tls:cert", "fileshare:load:tls:key"]
    assert all("is required with lab_ca false" in f["reason"] for f in found)
    data["load"]["tls"].update(cert="-----BEGIN CERTIFICATE-----", key="-----BEGIN PRIVATE KEY-----")
    assert fp.problems(data) == []


def test_data_dir_is_checked_against_the_default_mount_point(examples):
    data = copy.deepcopy(examples["mini_ha"])
    data["app"]["data_dir"] = "/data"
    found = fp.problems(data, _defaults())
    assert found == [
        {
            "key": "fileshare:app:data_dir",
            "reason": "/data must lie under fileshare:storage:mount_point (/srv/fileshare) on mini_ha: "
            "every app node serves it from the GlusterFS volume mounted there",
        }
    ]
    # Without the defaults the rule cannot tell; all_in_one and a local backend have no shared volume.
    assert fp.problems(data) == []
    data["storage"]["backend"] = "local"
    assert fp.problems(data, _defaults()) == []
    single = copy.deepcopy(examples["all_in_one"])
    single["app"]["data_dir"] = "/data"
    assert fp.problems(single, _defaults()) == []


@pytest.fixture
def salt_module(examples):
    fp.__pillar__ = {"fileshare": copy.deepcopy(examples["mini_ha"])}
    fp.__salt__ = {}
    yield fp
    del fp.__pillar__, fp.__salt__


def test_validate_reads_the_defaults_from_the_fileserver(salt_module):
    """Salt's cp.get_file_str serves parameters/defaults.yaml; validate compares the pillar with it."""
    defaults = REPO / "formulas/fileshare/parameters/defaults.yaml"
    salt_module.__salt__ = {
        "cp.get_file_str": lambda path: (
            defaults.read_text() if path == "salt://fileshare/parameters/defaults.yaml" else False
        )
    }
    salt_module.__pillar__["fileshare"]["app"]["data_dir"] = "/data"
    assert [f["key"] for f in salt_module.validate()] == ["fileshare:app:data_dir"]


def test_check_raises_naming_key_and_reason(salt_module):
    salt_module.__pillar__["fileshare"]["vip"]["address"] = "10.9.9.9"
    with pytest.raises(CommandExecutionError) as err:
        salt_module.check()
    assert str(err.value) == (
        "pillar key fileshare:vip:address: 10.9.9.9 is outside fileshare:network:subnet 10.77.0.0/24"
    )


def test_check_and_validate_accept_the_example(salt_module):
    assert salt_module.validate() == []
    assert salt_module.check() is True


def test_validate_takes_given_data_over_pillar(salt_module, examples):
    bad = copy.deepcopy(examples["all_in_one"])
    bad["nodes"][0]["roles"] = ["load"]
    assert [f["key"] for f in salt_module.validate(bad)] == ["fileshare:nodes:0:roles"]


@pytest.mark.parametrize("test_mode", [False, True])
def test_state_fails_with_one_message_and_no_changes(salt_module, test_mode):
    salt_module.__pillar__["fileshare"]["nodes"][0]["roles"] = ["db"]
    fp_state.__pillar__ = salt_module.__pillar__
    fp_state.__opts__ = {"test": test_mode}
    fp_state.__salt__ = {
        "fileshare_pillar.validate": salt_module.validate,
        "fileshare_pillar.message": fp.message,
    }
    ret = fp_state.validated("fileshare")
    assert ret == {
        "name": "fileshare",
        "changes": {},
        "result": False,
        "comment": "pillar key fileshare:nodes:0:roles: mini_ha runs every layer on every node; "
        "node1 lacks load, app, intermediate, storage, infra",
    }


def test_state_passes_on_a_valid_pillar(salt_module):
    fp_state.__pillar__ = salt_module.__pillar__
    fp_state.__salt__ = {
        "fileshare_pillar.validate": salt_module.validate,
        "fileshare_pillar.message": fp.message,
    }
    ret = fp_state.validated("fileshare")
    assert ret["result"] is True and ret["changes"] == {}
    assert "mini_ha with 3 node(s)" in ret["comment"]


# --- unknown keys at every depth ------------------------------------------------------------------


def fixed_maps(schema=fp.SCHEMA, path=()):
    """Every map of the schema with a fixed set of keys, as (path, its keys); ``[]`` stands for a list
    item and ``*`` for an entry of a free map."""
    if schema.get("additionalProperties") is False:
        yield path, sorted(schema["properties"])
    for key, sub in schema.get("properties", {}).items():
        yield from fixed_maps(sub, path + (key,))
    if isinstance(schema.get("items"), dict):
        yield from fixed_maps(schema["items"], path + ("[]",))
    if isinstance(schema.get("additionalProperties"), dict):
        yield from fixed_maps(schema["additionalProperties"], path + ("*",))


FIXED_MAPS = list(fixed_maps())


def test_every_map_with_fixed_keys_is_found():
    paths = {":".join(p) for p, _ in FIXED_MAPS}
    assert {"", "db", "load:keepalived", "nodes:[]", "artifacts:*", "names:backends", "app:webdav"} <= paths
    # Free maps stay open: their keys are the site's own names.
    assert not paths & {"mirrors", "secrets", "secrets:webdav_users", "lookup", "release:packages"}


def _reach(data, path):
    """The map at ``path`` in ``data``, created where the example leaves it out."""
    for part in path:
        if part == "[]":
            data = data[0]
        elif part == "*":
            data = data.setdefault("anything", {})
        else:
            data = data.setdefault(part, {})
    return data


@pytest.mark.parametrize(("path", "known"), FIXED_MAPS, ids=[":".join(p) or "top" for p, _ in FIXED_MAPS])
def test_a_typo_at_every_depth_is_refused_naming_the_nearest_key(examples, path, known):
    data = copy.deepcopy(examples["full_ha"])
    key = min(known, key=len)
    typo = key + key[-1]
    _reach(data, path)[typo] = "x"
    where = ":".join(["fileshare"] + [str(0) if p == "[]" else "anything" if p == "*" else p for p in path])
    found = fp.problems(data)
    assert {"key": f"{where}:{typo}", "reason": f"unknown key (did you mean {key}?)"} in found


def _defaults():
    return yaml.safe_load((REPO / "formulas/fileshare/parameters/defaults.yaml").read_text())


# The sections of defaults.yaml that hold site settings (the others are the OS map, set through lookup).
SITE_SECTIONS = [
    "architecture",
    "product",
    "app",
    "load",
    "db",
    "intermediate",
    "storage",
    "infra",
    "ports",
    "names",
]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_site_setting_with_a_default_is_a_key_the_schema_accepts(examples, architecture):
    """A site may set any key the formulas give a default for: the schema must not refuse one."""
    defaults = _defaults()
    data = copy.deepcopy(examples[architecture])
    for section in SITE_SECTIONS:
        value = defaults[section]
        data[section] = (
            fp_topology.merged(value, data.get(section)) if isinstance(value, dict) else data[section]
        )
    assert fp.problems(data) == []


def test_galera_failure_detection_must_be_ordered(examples):
    data = copy.deepcopy(examples["full_ha"])
    data.setdefault("db", {})["evs"] = {"suspect_timeout": 7}
    found = fp.problems(data, _defaults())
    assert found == [
        {"key": "fileshare:db:evs:suspect_timeout", "reason": "must not exceed inactive_timeout (7 > 6)"}
    ]
    data["db"]["evs"]["inactive_timeout"] = 15
    assert fp.problems(data, _defaults()) == []
    data["db"]["evs"] = {"suspect_timeout": 0}
    assert [f["key"] for f in fp.problems(data)] == ["fileshare:db:evs:suspect_timeout"]


def test_galera_join_messages_must_be_resent_before_a_peer_is_suspected(examples):
    data = copy.deepcopy(examples["full_ha"])
    data.setdefault("db", {})["evs"] = {"join_retrans_period": 1}
    assert fp.problems(data, _defaults()) == [
        {
            "key": "fileshare:db:evs:join_retrans_period",
            "reason": "must be below suspect_timeout (1 >= 1): members agreeing on a new view would suspect "
            "each other",
        }
    ]
    data["db"]["evs"]["suspect_timeout"] = 2
    assert fp.problems(data, _defaults()) == []
