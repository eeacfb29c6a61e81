"""
Every SLS renders on every target OS for every architecture, and names that OS's packages, services and
paths. The expectations below are written from each distribution's own packaging, independently of
formulas/fileshare/parameters: the map must agree with them, not the other way round.
"""

import json

import pytest
from render_harness import (
    ARCHITECTURES,
    LAYERS,
    OS_GRAINS,
    architectures_for,
    discover_sls,
    named,
    render_errors,
)

OSES = list(OS_GRAINS)
SLS = discover_sls()

# component -> (packages, services, a config path prefix), per target OS.
_DEBIAN = {
    "apache": ({"apache2"}, {"apache2"}, "/etc/apache2/"),
    "nginx": ({"nginx"}, {"nginx"}, "/etc/nginx/"),
    "mariadb": ({"mariadb-server"}, {"mariadb"}, "/etc/mysql/"),
    "galera": ({"galera-4"}, set(), None),
    "redis": ({"redis-server"}, {"redis-server"}, "/etc/redis/"),
    # Debian packages Sentinel apart; its config is seeded once, then Sentinel's own (no file state).
    "sentinel": ({"redis-sentinel"}, {"redis-sentinel"}, None),
    "memcached": ({"memcached"}, {"memcached"}, "/etc/memcached.conf"),
    "bind": ({"bind9"}, {"named"}, "/etc/bind/"),
    "glusterfs": ({"glusterfs-server"}, {"glusterd"}, None),
    "keepalived": ({"keepalived"}, {"keepalived"}, "/etc/keepalived/"),
    "haproxy": ({"haproxy"}, {"haproxy"}, "/etc/haproxy/"),
    "journald": (set(), set(), "/etc/systemd/journald.conf.d/"),
    "logrotate": ({"logrotate"}, set(), "/etc/logrotate.d/"),
}
_REDHAT = dict(
    _DEBIAN,
    apache=({"httpd"}, {"httpd"}, "/etc/httpd/"),
    php=({"php-fpm"}, {"php-fpm"}, "/etc/php-fpm.d/"),
    mariadb=({"mariadb-server"}, {"mariadb"}, "/etc/my.cnf.d/"),
    galera=({"mariadb-server-galera"}, set(), None),
    redis=({"redis"}, {"redis"}, "/etc/redis/"),
    sentinel=(set(), {"redis-sentinel"}, None),
    memcached=({"memcached"}, {"memcached"}, "/etc/sysconfig/memcached"),
    bind=({"bind"}, {"named"}, "/etc/named"),
)
EXPECT = {
    "debian-12": dict(_DEBIAN, php=({"php8.2-fpm"}, {"php8.2-fpm"}, "/etc/php/8.2/fpm/")),
    "ubuntu-22.04": dict(_DEBIAN, php=({"php8.1-fpm"}, {"php8.1-fpm"}, "/etc/php/8.1/fpm/")),
    "ubuntu-24.04": dict(_DEBIAN, php=({"php8.3-fpm"}, {"php8.3-fpm"}, "/etc/php/8.3/fpm/")),
    "rocky-9": _REDHAT,
    "centos-stream-9": _REDHAT,
    "arch": dict(
        _DEBIAN,
        apache=({"apache"}, {"httpd"}, "/etc/httpd/"),
        php=({"php-fpm"}, {"php-fpm"}, "/etc/php/php-fpm.d/"),
        mariadb=({"mariadb"}, {"mariadb"}, "/etc/my.cnf.d/"),
        galera=({"galera"}, set(), None),
        # Arch replaced redis with valkey (drop-in compatible) in 2025.
        redis=({"valkey"}, {"valkey"}, "/etc/valkey/"),
        sentinel=(set(), {"valkey-sentinel"}, None),
        # Arch's memcached has no configuration file: flags go in a systemd drop-in.
        memcached=({"memcached"}, {"memcached"}, "/etc/systemd/system/memcached.service.d/"),
        bind=({"bind"}, {"named"}, "/etc/named"),
        glusterfs=({"glusterfs"}, {"glusterd"}, None),
    ),
}

# Names that belong to another OS family and must never be rendered for this one.
FOREIGN = {
    "Debian": {
        "pkgs": {
            "httpd",
            "apache",
            "bind",
            "redis",
            "valkey",
            "mariadb-server-galera",
            "glusterfs",
            "php-fpm",
        },
        "services": {"httpd", "redis", "valkey", "php-fpm"},
        "paths": ("/etc/httpd", "/etc/php-fpm.d", "/etc/my.cnf.d", "/etc/named", "/etc/sysconfig"),
    },
    "RedHat": {
        "pkgs": {"apache2", "apache", "bind9", "redis-server", "galera-4", "valkey", "mariadb-clients"},
        "services": {"apache2", "redis-server", "valkey", "bind9"},
        "paths": ("/etc/apache2", "/etc/php/", "/etc/mysql", "/etc/bind", "/etc/memcached.conf"),
    },
    "Arch": {
        "pkgs": {
            "apache2",
            "httpd",
            "bind9",
            "redis-server",
            "mariadb-server",
            "glusterfs-server",
            "galera-4",
        },
        "services": {"apache2", "redis-server", "bind9"},
        "paths": ("/etc/apache2", "/etc/mysql", "/etc/bind", "/etc/php-fpm.d", "/etc/sysconfig"),
    },
}

# What each layer's init must bring, per architecture (the webdav product on Apache, the default).
LAYER_COMPONENTS = {
    ("load", "all_in_one"): ["nginx"],
    ("load", "mini_ha"): ["haproxy", "keepalived", "bind"],
    ("load", "full_ha"): ["haproxy", "keepalived", "bind"],
    ("app", None): ["apache", "php"],
    ("db", "all_in_one"): ["mariadb"],
    ("db", "mini_ha"): ["mariadb", "galera"],
    ("db", "full_ha"): ["mariadb", "galera"],
    ("intermediate", None): ["redis", "memcached"],
    ("intermediate", "mini_ha"): ["redis", "sentinel", "memcached"],
    ("intermediate", "full_ha"): ["redis", "sentinel", "memcached"],
    ("storage", "mini_ha"): ["glusterfs"],
    ("storage", "full_ha"): ["glusterfs"],
    ("infra", None): ["journald", "logrotate"],
}
# The all_in_one node as a whole (every layer's init together).
ALL_IN_ONE_NODE = ["nginx", "apache", "php", "mariadb", "redis", "memcached", "bind", "journald", "logrotate"]


def _cases():
    """Every SLS on every architecture (Debian 12) and on every OS (one architecture, full_ha where it
    runs): an OS's names come from the map, an architecture's branches from the pillar, so every SLS
    meets every OS and every architecture without the whole product (all 1,044 combinations took ~7 of
    the tier's 9 min). An orchestration renders on the master: no node's OS enters it."""
    for sls, kind, layer, product in SLS:
        archs = architectures_for(sls, kind)
        sweep = "full_ha" if "full_ha" in archs else archs[0]
        for arch in archs:
            for os_name in OSES if arch == sweep and kind == "formula" else OSES[:1]:
                yield pytest.param(os_name, arch, sls, kind, layer, product, id=f"{os_name}-{arch}-{sls}")


def _render(renderer, os_name, arch, sls, kind, layer, product=None):
    minion, result = renderer.render(os_name, arch, sls, kind, layer, product)
    if minion is None:
        pytest.fail(f"example site {arch} has no node with role {layer}")
    errors = render_errors(result)
    assert not errors, f"{sls} on {os_name} ({arch}, minion {minion}) does not render:\n" + "\n".join(
        map(str, errors)
    )
    return result


def test_the_harness_found_the_suite():
    kinds = {kind for _, kind, _, _ in SLS}
    layers = {layer for _, _, layer, _ in SLS if layer}
    assert kinds == {"formula", "orchestrate"}
    assert layers, "no layer SLS found under formulas/fileshare"


@pytest.mark.parametrize(("os_name", "arch", "sls", "kind", "layer", "product"), list(_cases()))
def test_sls_renders_with_only_this_os_names(renderer, os_name, arch, sls, kind, layer, product):
    result = _render(renderer, os_name, arch, sls, kind, layer, product)
    assert isinstance(result, dict)
    if kind == "orchestrate":
        return
    seen = named(result)
    family = OS_GRAINS[os_name]["os_family"]
    foreign = FOREIGN[family]
    assert not seen["pkgs"] & foreign["pkgs"], f"{os_name} gets another family's packages"
    assert not seen["services"] & foreign["services"], f"{os_name} gets another family's services"
    wrong = [f for f in seen["files"] if f.startswith(foreign["paths"])]
    assert not wrong, f"{os_name} gets another family's paths: {wrong}"
    text = json.dumps(sorted(seen["pkgs"] | seen["services"] | seen["files"]))
    for junk in ("{version}", "None", "//", "php-8", "php8.-"):
        assert junk not in text, f"unrendered or empty value {junk!r} in {text}"
    if os_name == "ubuntu-24.04":
        assert "php8.2" not in text and "php8.1" not in text


def _expect(os_name, components):
    pkgs, services, paths = set(), set(), []
    for component in components:
        p, s, path = EXPECT[os_name][component]
        pkgs |= p
        services |= s
        if path:
            paths.append(path)
    return pkgs, services, paths


def _assert_names(seen, os_name, components, what):
    pkgs, services, paths = _expect(os_name, components)
    assert pkgs <= seen["pkgs"], (
        f"{what}: missing packages {sorted(pkgs - seen['pkgs'])}, got {sorted(seen['pkgs'])}"
    )
    assert services <= seen["services"], (
        f"{what}: missing services {sorted(services - seen['services'])}, got {sorted(seen['services'])}"
    )
    for path in paths:
        assert any(f.startswith(path) for f in seen["files"]), (
            f"{what}: nothing managed under {path}; files: {sorted(seen['files'])}"
        )


def _layer_cases():
    for layer in LAYERS:
        for arch in ARCHITECTURES:
            components = LAYER_COMPONENTS.get((layer, arch)) or LAYER_COMPONENTS.get((layer, None))
            if not components:
                continue
            for os_name in OSES:
                yield pytest.param(os_name, arch, layer, components, id=f"{os_name}-{arch}-{layer}")


@pytest.mark.parametrize(("os_name", "arch", "layer", "components"), list(_layer_cases()))
def test_layer_names_the_os_packages_services_and_paths(renderer, os_name, arch, layer, components):
    result = _render(renderer, os_name, arch, f"fileshare.{layer}", "formula", layer)
    _assert_names(named(result), os_name, components, f"fileshare.{layer} on {os_name} ({arch})")


@pytest.mark.parametrize("os_name", OSES)
def test_all_in_one_node_gets_every_service_of_its_os(renderer, os_name):
    seen = {"pkgs": set(), "services": set(), "files": set(), "states": set()}
    for layer in LAYERS:
        result = _render(renderer, os_name, "all_in_one", f"fileshare.{layer}", "formula", layer)
        for key, values in named(result).items():
            seen[key] |= values
    _assert_names(seen, os_name, ALL_IN_ONE_NODE, f"all_in_one node on {os_name}")
    assert "/srv/fileshare/data" in seen["files"], "the data directory is not managed"


def _orchestrations():
    return [
        (sls, arch)
        for sls, kind, _, _ in SLS
        if kind == "orchestrate"
        for arch in architectures_for(sls, kind)
    ]


def _ordered_steps(result):
    steps = []
    for state_id, chunk in result.items():
        for module, body in chunk.items():
            if module.startswith("__"):
                continue
            fun = next(i for i in body if isinstance(i, str))
            args = {}
            for item in body:
                if isinstance(item, dict):
                    args.update(item)
            steps.append((args.get("order", 0), state_id, f"{module}.{fun}", args))
    return sorted(steps, key=lambda s: s[0])


@pytest.mark.parametrize(("sls", "arch"), _orchestrations())
def test_orchestration_validates_the_pillar_first_and_everything_requires_it(renderer, sls, arch):
    result = _render(renderer, "debian-12", arch, sls, "orchestrate", None)
    steps = _ordered_steps(result)
    order, gate_id, fun, args = steps[0]
    assert fun == "fileshare_pillar.validated", f"first step of {sls} is {gate_id} ({fun})"
    assert args.get("failhard") is True
    requires = {state_id: _required_ids(args) for _, state_id, _, args in steps}

    def reaches_gate(state_id, seen=()):
        return gate_id in requires.get(state_id, ()) or any(
            reaches_gate(r, seen + (state_id,)) for r in requires.get(state_id, ()) if r not in seen
        )

    for _, state_id, _, _ in steps[1:]:
        assert reaches_gate(state_id), (
            f"{sls}: step {state_id!r} does not require {gate_id!r}, even indirectly"
        )


def _required_ids(args):
    ids = set()
    for requisite in args.get("require", []):
        if isinstance(requisite, dict):
            ids.update(str(v) for v in requisite.values())
        else:
            ids.add(str(requisite))
    return ids
