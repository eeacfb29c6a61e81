"""
The topology is the one source of every port and name: a site that overrides EVERY key of
fileshare:ports and fileshare:names gets the new value in every place that uses it (firewall rules,
HAProxy, the TLS front, the app server, WsgiDAV, the health endpoint, the Galera health unit, Redis,
Sentinel, Memcached, bind9, the smoke check, the Galera and Sentinel states) and the default nowhere.

Each node of each architecture is rendered once with the override (every SLS it runs, the gates and
the release included), template files as Salt renders them with their state's context. The key list
comes from parameters/defaults.yaml, so a new port or name without a place here fails the test.
"""

import re
import subprocess

import pytest
import yaml
from render_harness import FORMULA

DEFAULTS = yaml.safe_load((FORMULA / "parameters" / "defaults.yaml").read_text())
SITE = "example"
DOMAIN = "example.lab"


def _flat(tree, prefix=""):
    """{'ports:app': 8080, 'names:backends:app': 'fs_app', ...} of a nested mapping."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}:"))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _override():
    ports = {}
    for index, key in enumerate(sorted(DEFAULTS["ports"])):
        ports[key] = 40100 + 7 * index
    # A range is Gluster's base-port .. max-port: two values no other key uses.
    ports["gluster_bricks"] = "45001-45099"
    names = {
        "galera_cluster": "zz-galera",
        "sentinel_master": "zz-sentinel",
        "backends": {role: f"zz-{role}-backend" for role in DEFAULTS["names"]["backends"]},
    }
    return {"ports": ports, "names": names}


OVERRIDE = _override()
NEW = _flat(OVERRIDE)
# The values a site gets without the override ('' for the cluster name means <site>-db).
OLD = {key: value for key, value in _flat({"ports": DEFAULTS["ports"], "names": DEFAULTS["names"]}).items()}
OLD["names:galera_cluster"] = OLD["names:galera_cluster"] or f"{SITE}-db"

# The nodes rendered per architecture, and what each applies besides `fileshare` (its layers).
NODES = {
    "full_ha": {
        "lb1": ["fileshare.infra.smoke"],
        "app1": [],
        "db1": ["fileshare.db.galera.bootstrap", "fileshare.db.quorate", "fileshare.release"],
        "db2": [],
        "im1": ["fileshare.intermediate.quorate"],
        "st1": ["fileshare.storage.volume"],
    },
    "mini_ha": {
        "node1": [
            "fileshare.infra.smoke",
            "fileshare.db.galera.bootstrap",
            "fileshare.db.quorate",
            "fileshare.release",
            "fileshare.intermediate.quorate",
            "fileshare.storage.volume",
        ],
        "node2": [],
    },
    "all_in_one": {"aio1": ["fileshare.infra.smoke", "fileshare.release"]},
}

# The places (state IDs) that use each key, by the role of the node that holds them.
HAPROXY = ("load", "HAProxy is configured")
HANDOFF = ("load", "the VIP handoff's nftables rules are written")
HANDOFF_COMMAND = ("load", "the VIP handoff command is installed")
ZONE = ("load", f"The {DOMAIN} zone is served")
NAMED = ("load", "bind9's configuration is managed")
SMOKE = ("load", "the smoke check command is installed")
FRONT = ("load", "The TLS front is configured")
APACHE = ("app", "The fileshare Apache site is configured")
HEALTH = ("app", "The health endpoint's configuration is managed")
WSGIDAV = ("app", "The WsgiDAV configuration is managed")
WSGIDAV_PROXY = ("app", "WebDAV is served by WsgiDAV behind Apache")
MOD_DAV = ("app", "WebDAV is served by Apache mod_dav")
HEALTH_UNIT = ("db", "Galera health responder service is defined")
GALERA_CNF = ("db", "MariaDB Galera settings are managed")
MARIADB_CNF = ("db", "MariaDB server settings for the file share are managed")
SYNCED = ("db", "This node is Synced in the Galera cluster")
BOOTSTRAP = ("db", "The Galera cluster runs (bootstrapped on {db1} once, joined otherwise)")
JOINED = ("db2", "This node has joined the Galera cluster")
QUORATE = ("db", "The Galera cluster is quorate")
RELEASE_SYNCED = ("db", "This Galera member is Synced again")
REDIS = ("intermediate", "Redis configuration is managed")
REDIS_SEED = ("intermediate", "Redis main config is seeded (then Redis and Sentinel own it)")
SENTINEL_SEED = ("intermediate", "Sentinel config is seeded (then Sentinel owns it)")
SENTINELS_AGREE = ("intermediate", "The Sentinels agree on one Redis master with every replica online")
MEMCACHED = ("intermediate", "Memcached configuration is managed")
FIREWALL = "the firewall rule set is written"


def _fw(*roles):
    return [(role, FIREWALL) for role in roles]


HA_PLACES = {
    "ports:http": [HAPROXY, HANDOFF, *_fw("load")],
    "ports:https": [HAPROXY, HANDOFF, ZONE, SMOKE, *_fw("load")],
    "ports:ssh": _fw("load", "app", "db", "intermediate", "storage"),
    "ports:dns": [NAMED, *_fw("load")],
    "ports:app": [APACHE, HAPROXY, *_fw("app")],
    "ports:webdav": [WSGIDAV, WSGIDAV_PROXY, HEALTH],
    "ports:db": [GALERA_CNF, HAPROXY, *_fw("db")],
    "ports:galera_replication": [GALERA_CNF, *_fw("db")],
    "ports:galera_ist": [GALERA_CNF, *_fw("db")],
    "ports:galera_sst": [GALERA_CNF, *_fw("db")],
    "ports:galera_health": [HEALTH_UNIT, HAPROXY, *_fw("db")],
    "ports:redis": [REDIS, REDIS_SEED, SENTINEL_SEED, HAPROXY, *_fw("intermediate")],
    "ports:sentinel": [SENTINEL_SEED, REDIS_SEED, SENTINELS_AGREE, *_fw("intermediate")],
    "ports:memcached": [MEMCACHED, *_fw("intermediate")],
    # Gluster's own ports are its defaults (glusterd.vol is the package's): only the firewall names them.
    "ports:glusterd": _fw("storage"),
    "ports:gluster_management": _fw("storage"),
    "ports:gluster_bricks": _fw("storage"),
    "ports:db_front": [HAPROXY, HANDOFF, HEALTH, *_fw("load")],
    "ports:redis_front": [HAPROXY, HANDOFF, HEALTH, WSGIDAV, *_fw("load")],
    "ports:haproxy_stats": [HAPROXY],
    "ports:haproxy_peer": [HAPROXY, HANDOFF_COMMAND, *_fw("load")],
    "names:galera_cluster": [GALERA_CNF, SYNCED, BOOTSTRAP, JOINED, QUORATE, RELEASE_SYNCED],
    "names:sentinel_master": [SENTINEL_SEED, SENTINELS_AGREE],
    "names:backends:app": [HAPROXY],
    "names:backends:db": [HAPROXY],
    "names:backends:redis": [HAPROXY],
}
# One node, no VIP, no cluster, no firewall: loopback services behind nginx.
ALL_IN_ONE_PLACES = {
    "ports:http": [FRONT],
    "ports:https": [FRONT, ZONE, SMOKE],
    "ports:dns": [NAMED],
    "ports:app": [FRONT, APACHE, MOD_DAV],
    "ports:db": [MARIADB_CNF],
    "ports:redis": [REDIS, HEALTH],
    "ports:memcached": [MEMCACHED],
}


def _pattern(value):
    """`value` as a whole token: a port not inside a longer number or an address, a name not inside
    a longer name or a path."""
    if isinstance(value, int):
        return re.compile(rf"(?<![\d.]){value}(?![\d.])")
    return re.compile(rf"(?<![\w./-]){re.escape(str(value))}(?![\w./-])")


def _values(key, table):
    """The tokens a key's value shows as (a port range shows its two ends)."""
    value = table[key]
    if key == "ports:gluster_bricks":
        return [int(end) for end in str(value).split("-")]
    return [value]


@pytest.fixture(scope="module")
def rendered(renderer):
    """{architecture: {node: {state ID: what it puts on the node}}} with the override."""
    out = {}
    for architecture, nodes in NODES.items():
        out[architecture] = {}
        for node, extra in nodes.items():
            high = renderer.show_sls(
                "debian-12", architecture, node, ",".join(["fileshare", *extra]), override=OVERRIDE
            )
            assert isinstance(high, dict), f"{architecture} {node} does not render:\n{high}"
            out[architecture][node] = renderer.placed("debian-12", high)
    return out


def _places(renderer, architecture, table):
    """[(key, node, state ID)] of the table, the roles resolved to the first node holding them."""
    roles = {}
    for entry in renderer.pillar(architecture)["nodes"]:
        for role in entry["roles"]:
            roles.setdefault(role, []).append(entry["name"])
    roles["db2"] = roles["db"][1:2]
    found = []
    for key, places in table.items():
        for role, state_id in places:
            node = roles[role][0]
            found.append((key, node, state_id.format(db1=roles["db"][0])))
    return found


def test_every_port_and_name_has_a_place_to_check():
    keys = set(_flat({"ports": DEFAULTS["ports"], "names": DEFAULTS["names"]}))
    assert set(HA_PLACES) == keys, "a port or name of defaults.yaml has no place in this test"
    assert len(set(_flat(OVERRIDE["ports"]).values())) == len(OVERRIDE["ports"]), "override values collide"


@pytest.mark.parametrize(
    ("architecture", "table"),
    [("full_ha", HA_PLACES), ("mini_ha", HA_PLACES), ("all_in_one", ALL_IN_ONE_PLACES)],
)
def test_overriding_a_port_or_name_changes_every_place_that_uses_it(renderer, rendered, architecture, table):
    missing, stale = [], []
    for key, node, state_id in _places(renderer, architecture, table):
        text = rendered[architecture][node].get(state_id)
        if text is None:
            missing.append(f"{node}: no state {state_id!r}")
            continue
        for value in _values(key, NEW):
            if not _pattern(value).search(text):
                missing.append(f"{key}={value} not in {node}: {state_id!r}")
        for value in _values(key, OLD):
            if _pattern(value).search(text):
                stale.append(f"{key} still {value} in {node}: {state_id!r}")
    assert not missing, "\n".join(missing)
    assert not stale, "\n".join(stale)


# Defaults distinctive enough to look for in everything a node gets (low ports such as 22 or 80 and
# the name 'fileshare' also occur as counts, addresses and paths).
DISTINCT = [
    key
    for key, value in OLD.items()
    if (isinstance(value, int) and value >= 1024)
    or key in ("ports:gluster_bricks", "names:galera_cluster")
    or key.startswith("names:backends:")
]


@pytest.mark.parametrize("architecture", list(NODES))
def test_no_default_port_or_name_is_left_anywhere_a_node_gets(rendered, architecture):
    stale = []
    for node, places in rendered[architecture].items():
        for state_id, text in places.items():
            for key in DISTINCT:
                for value in _values(key, OLD):
                    if _pattern(value).search(text):
                        stale.append(f"{key} still {value} in {node}: {state_id!r}")
    assert not stale, "\n".join(stale)


@pytest.mark.parametrize("architecture", ["full_ha", "mini_ha"])
def test_nft_accepts_every_node_s_rules_with_the_override(rendered, architecture, tmp_path):
    """The ports land in nftables sets (the brick range as a range): nft itself checks each rule set."""
    for node, places in rendered[architecture].items():
        rules = tmp_path / f"{node}.nft"
        # The harness's minion names its master "salt", which nothing resolves in an empty namespace.
        rules.write_text(places[FIREWALL].replace("{ salt }", "{ 192.0.2.1 }"))
        # A new network namespace: the host's own rules are never touched.
        done = subprocess.run(
            ["unshare", "--net", "nft", "-c", "-f", str(rules)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"{node}: {done.stderr}"


# rolling_upgrade renders with a release pillar of its own: tests/render/test_rolling_upgrade_render.py.
ORCHESTRATIONS = [
    "fileshare.all_in_one",
    "fileshare.full_ha",
    "fileshare.mini_ha",
    "fileshare.galera_recover",
]


@pytest.mark.parametrize("orchestration", ORCHESTRATIONS)
def test_orchestrations_carry_no_default_port_or_name(renderer, orchestration):
    stem = orchestration.rsplit(".", 1)[-1]
    architecture = stem if stem in NODES else "full_ha"
    high = renderer.show_sls("debian-12", architecture, "saltmaster_master", orchestration, override=OVERRIDE)
    assert isinstance(high, dict), high
    stale = [
        f"{key} still {value} in {state_id!r}"
        for state_id, text in renderer.placed("debian-12", high).items()
        for key in DISTINCT
        for value in _values(key, OLD)
        if _pattern(value).search(text)
    ]
    assert not stale, "\n".join(stale)
