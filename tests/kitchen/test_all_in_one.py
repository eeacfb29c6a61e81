"""
What `kitchen verify` checks on the all_in_one container Kitchen converged: every layer's service runs
and starts at boot, each listens on its port, and a file survives a WebDAV PUT/GET round trip through the
TLS front, from inside the container. Service names come from the map's parameter files and ports from
the suite's own topology on the host (parameters/defaults.yaml merged with the kitchen pillar), never
from literals here.
"""

import importlib.util
import json
import pathlib
import shlex

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
PARAMETERS = REPO / "formulas" / "fileshare" / "parameters"
# Where kitchen.yml puts Salt and kitchen-salt its configuration.
SALT_CALL = "/opt/salt/bin/salt-call --config-dir=/tmp/kitchen/etc/salt --local --out=json"


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


topology = _load("fileshare_topology_for_kitchen", REPO / "_modules" / "fileshare_topology.py")


def debian_12_map():
    """The map's values for Debian 12 (map.jinja's OS layers, without pillar): service names."""
    data = {}
    for layer in ("defaults.yaml", "os_family/Debian.yaml", "osfinger/Debian-12.yaml"):
        data = topology.merged(data, yaml.safe_load((PARAMETERS / layer).read_text()) or {})
    version = data["php"]["version"]
    data["php"]["fpm_service"] = data["php"]["fpm_service"].replace("{version}", version)
    return data


MAP = debian_12_map()
# The services of every layer on all_in_one (the TLS front is nginx there; HAProxy is for HA).
SERVICES = {
    "infra": [MAP["journald"]["service"]],
    "db": [MAP["mariadb"]["service"]],
    "intermediate": [MAP["redis"]["service"], MAP["memcached"]["service"]],
    "app": [MAP["apache"]["service"], MAP["php"]["fpm_service"]],
    "load": [MAP["nginx"]["service"], MAP["bind"]["service"]],
}


def salt_call(host, *args):
    out = host.check_output(f"{SALT_CALL} {' '.join(shlex.quote(a) for a in args)}")
    return json.loads(out)["local"]


@pytest.fixture(scope="module")
def site(host):
    """The suite's own view of the converged site, asked on the host."""
    return salt_call(host, "fileshare_topology.get")


@pytest.mark.parametrize("service", [s for names in SERVICES.values() for s in names], ids=lambda s: s)
def test_every_layer_service_runs_and_starts_at_boot(host, service):
    unit = host.service(service)
    assert unit.is_running, f"{service} is not running"
    assert unit.is_enabled, f"{service} does not start at boot"


# Who listens where on all_in_one: the TLS front and DNS on the node, the rest on loopback.
PORTS = ["http", "https", "dns", "app", "db", "redis", "memcached"]


@pytest.mark.parametrize("port", PORTS)
def test_each_layer_listens_on_its_port(host, site, port):
    number = site["ports"][port]
    listening = host.socket.get_listening_sockets()
    assert any(s.startswith("tcp://") and s.endswith(f":{number}") for s in listening), (
        f"nothing listens on {port} ({number})"
    )


def test_health_through_the_tls_front_is_200(host, site):
    fqdn, address = site["vip"]["fqdn"], site["vip"]["address"]
    https = site["ports"]["https"]
    status = host.check_output(
        f"curl -sk -o /dev/null -w '%{{http_code}}' --resolve {fqdn}:{https}:{address} https://{fqdn}:{https}/health"
    )
    assert status == "200"


def test_a_file_survives_a_webdav_put_and_get(host, site):
    users = salt_call(host, "pillar.get", "fileshare:secrets:webdav_users")
    user, password = next(iter(users.items()))
    fqdn, address, https = site["vip"]["fqdn"], site["vip"]["address"], site["ports"]["https"]
    url = f"https://{fqdn}:{https}/kitchen-check.txt"
    curl = f"curl -sk --resolve {fqdn}:{https}:{address} -u {shlex.quote(user + ':' + password)}"
    content = "written by kitchen verify"
    host.check_output(f"printf %s {shlex.quote(content)} > /tmp/kitchen-check.txt")
    try:
        put = host.check_output(f"{curl} -o /dev/null -w '%{{http_code}}' -T /tmp/kitchen-check.txt {url}")
        assert put in ("201", "204"), put
        assert host.check_output(f"{curl} {url}") == content
    finally:
        host.run(f"{curl} -X DELETE {url}")
        host.run("rm -f /tmp/kitchen-check.txt")
