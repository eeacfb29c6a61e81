"""The app and load layers as rendered on every target OS: the app server variants (Apache for webdav,
nginx for PHP products), where the app server listens per architecture, the TLS front's certificate
source, and secrets kept out of rendered state data."""

import json

import pytest
import yaml
from render_harness import FORMULA, OS_GRAINS

OSES = list(OS_GRAINS)
PORTS = yaml.safe_load((FORMULA / "parameters" / "defaults.yaml").read_text())["ports"]
SECRETS = [
    "lab-alice-pw",
    "lab-bob-pw",
    "lab-db-pw-change-me",
    "lab-redis-pw-change-me",
    "c2l0ZS1leGFtcGxlLXRzaWctc2VjcmV0LWxhYi1vbmx5IQ==",
]
WEB_GROUP = {"Debian": "www-data", "RedHat": "apache", "Arch": "http"}


def show(renderer, os_name, minion, sls, architecture="all_in_one", pillar=None):
    caller = renderer._caller(os_name)
    caller.opts["id"] = caller.opts["grains"]["id"] = caller.opts["grains"]["host"] = minion
    caller.opts["fileshare_example_architecture"] = architecture
    kwargs = {"pillar": {"fileshare": pillar}} if pillar else {}
    result = caller.cmd("state.show_sls", sls, **kwargs)
    assert isinstance(result, dict), result
    return result


def args(chunk):
    """{'fun': 'file.managed', name: ..., ...} of a show_sls chunk."""
    for module, body in chunk.items():
        if module.startswith("__"):
            continue
        out = {}
        for item in body:
            if isinstance(item, str):
                out["fun"] = f"{module}.{item}"
            elif isinstance(item, dict):
                out.update(item)
        return out
    return {}


def states(result, fun=None):
    found = {sid: args(chunk) for sid, chunk in result.items()}
    return {sid: a for sid, a in found.items() if fun is None or a.get("fun") == fun}


@pytest.mark.parametrize("os_name", OSES)
def test_webdav_renders_on_apache_with_its_password_file_for_the_web_group(renderer, os_name):
    result = show(renderer, os_name, "aio1", "fileshare.app")
    files = states(result, "file.managed")
    htpasswd = files["The WebDAV users' password file is managed"]
    assert (htpasswd["mode"], htpasswd["group"]) == ("0640", WEB_GROUP[OS_GRAINS[os_name]["os_family"]])
    assert htpasswd["show_changes"] is False
    assert "WebDAV is served by Apache mod_dav" in files
    assert not states(result, "test.fail_without_changes")
    health = files["The health endpoint's configuration is managed"]
    assert health["mode"] == "0640" and health["show_changes"] is False


@pytest.mark.parametrize("os_name", OSES)
def test_no_secret_appears_in_rendered_state_data(renderer, os_name):
    text = json.dumps(show(renderer, os_name, "aio1", "fileshare.app,fileshare.load"), default=str)
    leaked = [s for s in SECRETS if s in text]
    assert leaked == []


@pytest.mark.parametrize("os_name", OSES)
def test_nginx_app_server_variant_renders_and_webdav_refuses_it(renderer, os_name):
    result = show(renderer, os_name, "aio1", "fileshare.app", pillar={"app": {"server": "nginx"}})
    files = states(result, "file.managed")
    app_conf = files["The fileshare nginx app server is configured"]
    assert app_conf["name"].endswith("/conf.d/fileshare-app.conf")
    assert app_conf["context"]["app"]["port"] == PORTS["app"]
    assert not [
        a
        for a in states(result, "pkg.installed").values()
        if "httpd" in json.dumps(a) or "apache2" in json.dumps(a)
    ], "no Apache with the nginx app server"
    refusals = states(result, "test.fail_without_changes")
    assert list(refusals) == ["WebDAV needs Apache httpd as the app server"]


@pytest.mark.parametrize("product", ["owncloud", "seafile"])
def test_products_not_built_yet_refuse_clearly(renderer, product):
    result = show(renderer, "debian-12", "aio1", "fileshare.app.products", pillar={"product": product})
    refusals = states(result, "test.fail_without_changes")
    assert len(refusals) == 1 and "only 'webdav'" in next(iter(refusals.values()))["name"]


@pytest.mark.parametrize(
    ("architecture", "minion", "listen"),
    [
        ("all_in_one", "aio1", ["127.0.0.1"]),
        ("mini_ha", "node1", ["127.0.0.1", "10.77.0.21"]),
        ("full_ha", "app1", ["127.0.0.1", "10.77.0.41"]),
    ],
)
def test_apache_listens_on_loopback_and_on_the_node_for_haproxy_on_ha(renderer, architecture, minion, listen):
    result = show(renderer, "debian-12", minion, "fileshare.app.apache", architecture=architecture)
    site = states(result, "file.managed")["The fileshare Apache site is configured"]
    assert site["context"]["app"]["listen"] == listen
    assert site["context"]["app"]["port"] not in (PORTS["http"], PORTS["https"])


def test_full_ha_front_proxies_to_every_app_node(renderer):
    result = show(renderer, "debian-12", "lb1", "fileshare.load.nginx", architecture="full_ha")
    front = states(result, "file.managed")["The TLS front is configured"]["context"]["load"]
    assert front["upstreams"] == [f"10.77.0.41:{PORTS['app']}", f"10.77.0.42:{PORTS['app']}"]
    assert front["listen"] == ["10.77.0.31"]


@pytest.mark.parametrize("os_name", OSES)
def test_front_certificate_comes_from_a_lab_ca_made_with_x509(renderer, os_name):
    result = show(renderer, os_name, "aio1", "fileshare.load.tls")
    certs = states(result, "x509.certificate_managed")
    server = certs["The TLS front's certificate is issued by the lab CA"]
    assert "DNS:files.example.lab" in server["subjectAltName"]
    assert "DNS:aio1.example.lab" in server["subjectAltName"]
    assert server["days_remaining"] < server["days_valid"]
    keys = states(result, "x509.private_key_managed")
    assert all(k["mode"] == "0600" and k["new"] is False for k in keys.values())


def test_front_certificate_from_pillar_replaces_the_lab_ca(renderer):
    cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    key = "-----BEGIN PRIVATE KEY-----\nsecretkeymaterial\n-----END PRIVATE KEY-----"
    own = {"load": {"tls": {"cert": cert, "key": key}}}
    result = show(renderer, "debian-12", "aio1", "fileshare.load", pillar=own)
    assert not states(result, "x509.certificate_managed")
    key = states(result, "file.managed")["The site's TLS private key is installed"]
    assert (key["mode"], key["show_changes"]) == ("0600", False)
    assert "secretkeymaterial" not in json.dumps(result, default=str)
