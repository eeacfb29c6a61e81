"""all_in_one deployed for real: one bare Debian 12 lab node converged by `state.orchestrate
fileshare.all_in_one`, then checked from outside (the host, over the lab bridge) and inside the node.

Scenario: bring up + converge (all_in_one_lab) → services and ports → TLS front, rate limit, DNS →
WebDAV with curl and with cadaver (dead property, locks) → health 200 → MariaDB stopped → 503 naming
the database → MariaDB started → 200 → the second orchestration run changed nothing.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
import uuid
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.zone
import pytest
from fileshare_lab import logic

NODE = "aio1"
FQDN = "files.example.lab"
DOMAIN = "example.lab"
USER, PASSWORD = "alice", "lab-alice-pw"
TSIG_SECRET = "c2l0ZS1leGFtcGxlLXRzaWctc2VjcmV0LWxhYi1vbmx5IQ=="
# Debian 12 names (the map's values for Debian-12).
SERVICES = ["nginx", "apache2", "php8.2-fpm", "mariadb", "redis-server", "memcached", "named"]
NS = {"D": "DAV:", "F": "urn:fileshare:test"}


@pytest.fixture(scope="module")
def node(all_in_one_lab):
    return all_in_one_lab.node(NODE)


@pytest.fixture(scope="module")
def ca_file(node, tmp_path_factory) -> Path:
    """The lab CA the node made with Salt's x509 modules: what clients trust."""
    pem = node.run("cat /etc/fileshare/pki/lab-ca.crt", check=True).stdout
    assert "BEGIN CERTIFICATE" in pem
    path = tmp_path_factory.mktemp("ca") / "lab-ca.crt"
    path.write_text(pem)
    return path


class Front:
    """curl on the host against https://files.example.lab/ at the node's address."""

    def __init__(self, address: str, ca_file: Path):
        self.address = address
        self.ca_file = ca_file
        self.url = f"https://{FQDN}"

    def curl(self, method: str, path: str, *args: str, auth: bool = True, data: str | None = None):
        argv = [
            "curl",
            "-sS",
            "--max-time",
            "30",
            "-X",
            method,
            "--resolve",
            f"{FQDN}:443:{self.address}",
            "--resolve",
            f"{FQDN}:80:{self.address}",
            "--cacert",
            str(self.ca_file),
            "-D",
            "-",
            "-o",
            "-",
            *args,
        ]
        if auth:
            argv += ["-u", f"{USER}:{PASSWORD}"]
        if data is not None:
            argv += ["-H", "Content-Type: application/xml", "--data-binary", data]
        argv.append(path if path.startswith("http") else self.url + path)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return Response(proc.stdout)


class Response:
    def __init__(self, raw: str):
        # With -D - and redirects not followed there is one header block, then the body (text mode has
        # already turned CRLF into LF).
        head, _, self.body = raw.partition("\n\n")
        lines = head.split("\n")
        self.status = int(lines[0].split()[1])
        self.headers: dict[str, list[str]] = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            self.headers.setdefault(key.strip().lower(), []).append(value.strip())

    def header(self, name: str) -> str:
        return ", ".join(self.headers.get(name.lower(), []))

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


@pytest.fixture(scope="module")
def front(node, ca_file) -> Front:
    return Front(node.address, ca_file)


@pytest.fixture
def name() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


# ---- the node -------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_service_is_active_and_enabled(node, service):
    unit = node.host.service(service)
    assert unit.is_running, f"{service} is not active"
    assert unit.is_enabled, f"{service} is not enabled"


def _listeners(node) -> set[tuple[str, int]]:
    out = node.run("ss -Hltn", check=True).stdout
    found = set()
    for line in out.splitlines():
        local = line.split()[3]
        address, _, port = local.rpartition(":")
        found.add((address.strip("[]"), int(port)))
    return found


def test_only_the_front_and_dns_listen_on_the_node_address(all_in_one_lab, node):
    listeners = _listeners(node)
    ports = all_in_one_lab.topology["ports"]
    expected = {
        ports["https"]: {node.address},  # nginx, TLS front
        ports["http"]: {node.address},  # nginx, redirect to https
        ports["dns"]: {"127.0.0.1", node.address},  # named
        ports["app"]: {"127.0.0.1"},  # Apache, behind the front
        ports["db"]: {"127.0.0.1"},  # MariaDB
        ports["redis"]: {"127.0.0.1"},  # Redis
        ports["memcached"]: {"127.0.0.1"},  # Memcached
    }
    for port, addresses in expected.items():
        bound = {a for a, p in listeners if p == port}
        assert bound == addresses, f"port {port} bound on {bound}, expected {addresses}"
    # rndc's control channel stays on loopback; php-fpm listens on a unix socket, not TCP.
    assert {a for a, p in listeners if p == 953} <= {"127.0.0.1", "::1"}
    assert not [lp for lp in listeners if lp[1] == 9000]
    wildcard = {p for a, p in listeners if a in ("0.0.0.0", "*", "::")}
    assert wildcard <= {ports["ssh"]}, f"ports on every address: {wildcard}"


def test_php_fpm_has_the_extensions_owncloud_requires(node):
    loaded = set(node.run("php-fpm8.2 -m", check=True).stdout.lower().split())
    wanted = {
        "ctype",
        "curl",
        "dom",
        "gd",
        "iconv",
        "intl",
        "json",
        "mbstring",
        "pdo_mysql",
        "posix",
        "simplexml",
        "xmlwriter",
        "zip",
        "zlib",
        "redis",
        "memcached",
        "apcu",
        "zend opcache",
    }
    # `php -m` prints "Zend OPcache" on two words.
    loaded |= {"zend opcache"} if "opcache" in loaded else set()
    assert wanted - loaded == set()


def test_secrets_are_readable_only_by_their_service(node):
    for path, owner, group, mode in [
        ("/etc/apache2/fileshare-webdav.htpasswd", "root", "www-data", 0o640),
        ("/etc/fileshare/health.php", "root", "www-data", 0o640),
        ("/etc/fileshare/pki/front.key", "root", "root", 0o600),
        ("/etc/fileshare/pki/lab-ca.key", "root", "root", 0o600),
        ("/etc/bind/fileshare-tsig.key", "root", "bind", 0o640),
    ]:
        f = node.host.file(path)
        assert (f.user, f.group, f.mode) == (owner, group, mode), path
    assert PASSWORD not in node.run("cat /etc/apache2/fileshare-webdav.htpasswd").stdout


# ---- TLS front ------------------------------------------------------------------------------------


def test_http_redirects_to_https(front):
    get = front.curl("GET", f"http://{FQDN}/some/file", auth=False)
    assert get.status == 301 and get.header("location") == f"https://{FQDN}/some/file"
    put = front.curl("PUT", f"http://{FQDN}/some/file", auth=False, data="x")
    assert put.status == 308, "a redirect that keeps the method and body"


def _handshake(address: str, ca_file: Path, version: ssl.TLSVersion):
    ctx = ssl.create_default_context(cafile=str(ca_file))
    ctx.set_ciphers("ALL:@SECLEVEL=0")  # let the client offer anything: the server must refuse
    ctx.minimum_version = ctx.maximum_version = version
    with socket.create_connection((address, 443), timeout=10) as sock:
        with ctx.wrap_socket(sock, server_hostname=FQDN) as tls:
            return tls.version(), tls.getpeercert()


def test_tls_front_speaks_only_tls12_and_tls13_with_the_lab_certificate(node, ca_file):
    version, cert = _handshake(node.address, ca_file, ssl.TLSVersion.TLSv1_3)
    assert version == "TLSv1.3"
    sans = {v for k, v in cert["subjectAltName"]}
    assert {FQDN, f"{NODE}.{DOMAIN}", node.address} <= sans
    assert _handshake(node.address, ca_file, ssl.TLSVersion.TLSv1_2)[0] == "TLSv1.2"
    for old in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        with pytest.raises((ssl.SSLError, ConnectionError)):
            _handshake(node.address, ca_file, old)


# ---- DNS ------------------------------------------------------------------------------------------


def _ask(address: str, qname: str, rdtype: str, recursion: bool = False):
    query = dns.message.make_query(qname, rdtype)
    if not recursion:
        query.flags &= ~dns.flags.RD
    return dns.query.udp(query, address, timeout=5)


def test_dns_answers_for_the_site_zone_authoritatively(node):
    answer = _ask(node.address, FQDN, "A")
    assert answer.rcode() == dns.rcode.NOERROR and answer.flags & dns.flags.AA
    assert [r.to_text() for rrset in answer.answer for r in rrset] == [node.address]
    srv = _ask(node.address, f"_https._tcp.{DOMAIN}", "SRV")
    assert [r.to_text() for rrset in srv.answer for r in rrset] == [f"0 0 443 {FQDN}."]
    per_node = _ask(node.address, f"{NODE}.{DOMAIN}", "A")
    assert [r.to_text() for rrset in per_node.answer for r in rrset] == [node.address]


def test_dns_refuses_recursion_to_outsiders(node):
    # The host is not in fileshare:load:dns:recursion_allowed (only 127.0.0.1 is).
    assert _ask(node.address, "debian.org", "A", recursion=True).rcode() == dns.rcode.REFUSED


def test_zone_transfer_needs_the_tsig_key(node):
    with pytest.raises(dns.exception.DNSException):
        dns.zone.from_xfr(dns.query.xfr(node.address, DOMAIN, timeout=5))
    keyring = dns.tsigkeyring.from_text({"fileshare": TSIG_SECRET})
    zone = dns.zone.from_xfr(
        dns.query.xfr(
            node.address, DOMAIN, keyring=keyring, keyname="fileshare", keyalgorithm="hmac-sha256", timeout=5
        )
    )
    assert zone.get_rdataset("files", "A") is not None


# ---- WebDAV ---------------------------------------------------------------------------------------


def test_unauthenticated_requests_are_refused(front):
    response = front.curl("PROPFIND", "/", "-H", "Depth: 0", auth=False)
    assert response.status == 401
    assert "Basic" in response.header("www-authenticate")
    wrong = front.curl("GET", "/", "-u", f"{USER}:wrong", auth=False)
    assert wrong.status == 401


def test_options_claims_dav_class_1_and_2(front):
    response = front.curl("OPTIONS", "/")
    assert response.status == 200
    classes = {c.strip() for c in response.header("dav").split(",")}
    assert {"1", "2"} <= classes
    assert {"PROPPATCH", "LOCK", "UNLOCK", "COPY", "MOVE"} <= set(response.header("allow").split(","))


def _hrefs(multistatus: str) -> list[str]:
    return re.findall(r"<D:href>([^<]+)</D:href>", multistatus)


def test_webdav_round_trip_with_curl(front, name):
    assert front.curl("MKCOL", f"/{name}/").status == 201
    assert front.curl("PUT", f"/{name}/a.txt", data="first version\n").status == 201
    get = front.curl("GET", f"/{name}/a.txt")
    assert (get.status, get.body) == (200, "first version\n")
    listing = front.curl("PROPFIND", f"/{name}/", "-H", "Depth: 1")
    assert listing.status == 207 and f"/{name}/a.txt" in _hrefs(listing.body)
    # Clients send Destination as https://<front>/...: the app server must accept it.
    copy = front.curl("COPY", f"/{name}/a.txt", "-H", f"Destination: {front.url}/{name}/b.txt")
    assert copy.status == 201, copy
    move = front.curl(
        "MOVE", f"/{name}/b.txt", "-H", f"Destination: {front.url}/{name}/c.txt", "-H", "Overwrite: F"
    )
    assert move.status == 201, move
    assert front.curl("GET", f"/{name}/b.txt").status == 404
    assert front.curl("GET", f"/{name}/c.txt").body == "first version\n"
    assert front.curl("DELETE", f"/{name}/").status == 204
    assert front.curl("GET", f"/{name}/a.txt").status == 404


# A dead property (our own namespace, so mod_dav stores it): set by PROPPATCH, read back by PROPFIND.
def set_colour_body(value: str) -> str:
    return (
        '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:F="urn:fileshare:test">'
        f"<D:set><D:prop><F:colour>{value}</F:colour></D:prop></D:set></D:propertyupdate>"
    )


PROPFIND_COLOUR = (
    '<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:F="urn:fileshare:test">'
    "<D:prop><F:colour/></D:prop></D:propfind>"
)


def test_dead_property_is_stored_and_read_back(front, name):
    assert front.curl("PUT", f"/{name}.txt", data="with a property\n").status == 201
    set_prop = front.curl(
        "PROPPATCH",
        f"/{name}.txt",
        data=set_colour_body(f"teal-{name}"),
    )
    assert set_prop.status == 207 and "200 OK" in set_prop.body
    read = front.curl(
        "PROPFIND",
        f"/{name}.txt",
        "-H",
        "Depth: 0",
        data=PROPFIND_COLOUR,
    )
    assert read.status == 207
    assert re.search(rf">teal-{name}</\w+:colour>", read.body), read.body
    assert front.curl("DELETE", f"/{name}.txt").status == 204


def test_lock_keeps_other_writers_out_until_unlock(front, name):
    assert front.curl("PUT", f"/{name}.txt", data="v1\n").status == 201
    lock = front.curl(
        "LOCK",
        f"/{name}.txt",
        "-H",
        "Timeout: Second-600",
        data=(
            '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>'
            "<D:locktype><D:write/></D:locktype><D:owner>lab test</D:owner></D:lockinfo>"
        ),
    )
    assert lock.status == 200, lock
    token = lock.header("lock-token").strip("<>")
    assert token.startswith("opaquelocktoken:")
    assert front.curl("PUT", f"/{name}.txt", data="intruder\n").status == 423
    assert front.curl("DELETE", f"/{name}.txt").status == 423
    assert front.curl("PUT", f"/{name}.txt", "-H", f"If: (<{token}>)", data="v2\n").status == 204
    discovered = front.curl(
        "PROPFIND",
        f"/{name}.txt",
        "-H",
        "Depth: 0",
        data=(
            '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>'
        ),
    )
    assert token in discovered.body
    assert front.curl("UNLOCK", f"/{name}.txt", "-H", f"Lock-Token: <{token}>").status == 204
    assert front.curl("PUT", f"/{name}.txt", data="v3\n").status == 204
    assert front.curl("GET", f"/{name}.txt").body == "v3\n"
    assert front.curl("DELETE", f"/{name}.txt").status == 204


@pytest.fixture(scope="module")
def cadaver(node):
    """cadaver inside the node (from the apt mirror), trusting the site's lab CA through the system store:
    the Debian build of cadaver (neon on GnuTLS) has no option for a CA file."""
    node.run("DEBIAN_FRONTEND=noninteractive apt-get install -y -q cadaver", check=True, timeout=600)
    node.run(
        "cp /etc/fileshare/pki/lab-ca.crt /usr/local/share/ca-certificates/fileshare-lab-ca.crt"
        " && update-ca-certificates",
        check=True,
    )
    netrc = f"machine {node.address}\\nlogin {USER}\\npassword {PASSWORD}\\n"
    node.run(f"mkdir -p /root/cadaver && printf '{netrc}' > /root/cadaver/.netrc", check=True)
    node.run("chmod 600 /root/cadaver/.netrc", check=True)

    def session(commands: list[str]) -> str:
        script = "\n".join(commands + ["quit"]) + "\n"
        proc = node.run(
            f"cd /root/cadaver && HOME=/root/cadaver timeout 120 cadaver https://{node.address}/ "
            f"<<'EOF'\n{script}EOF"
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    return session


def test_webdav_round_trip_with_cadaver(node, cadaver, name):
    node.run(f"echo 'cadaver was here' > /root/cadaver/{name}.txt", check=True)
    out = cadaver(
        [
            f"mkcol {name}",
            f"put {name}.txt {name}/up.txt",
            f"ls {name}",
            f"propset {name}/up.txt colour amber",
            f"propget {name}/up.txt colour",
            f"lock {name}/up.txt",
            f"discover {name}/up.txt",
            f"unlock {name}/up.txt",
            f"copy {name}/up.txt {name}/copy.txt",
            f"move {name}/copy.txt {name}/moved.txt",
            f"get {name}/moved.txt {name}.back",
            f"delete {name}/up.txt",
            f"delete {name}/moved.txt",
            f"rmcol {name}",
        ]
    )
    assert "failed" not in out.lower(), out
    assert "Value of colour is: amber" in out
    assert re.search(r"Lock token <opaquelocktoken:[^>]+>", out), out
    assert out.count("succeeded") >= 12, out
    assert node.run(f"cat /root/cadaver/{name}.back").stdout == "cadaver was here\n"


# ---- health ---------------------------------------------------------------------------------------


def _health(front):
    response = front.curl("GET", "/health", auth=False)
    return response.status, json.loads(response.body)


def test_health_is_200_when_database_redis_and_data_dir_work(front):
    status, body = _health(front)
    assert status == 200, body
    assert body["status"] == "ok" and body["failed"] == []
    assert body["checks"] == {"database": "ok", "redis": "ok", "data_dir": "ok"}


def test_health_is_503_naming_the_database_while_mariadb_is_stopped(node, front, wait_until):
    node.run("systemctl stop mariadb", check=True)
    try:
        status, body = _health(front)
        assert status == 503, body
        assert body["failed"] == ["database"], body
        assert body["checks"]["redis"] == "ok" and body["checks"]["data_dir"] == "ok"
    finally:
        node.run("systemctl start mariadb", check=True)
    assert wait_until(lambda: _health(front)[0] == 200, timeout=60)


def test_health_writes_its_row_in_the_product_database(node, front):
    assert _health(front)[0] == 200
    out = node.run("HOME=/root mysql -N -e 'SELECT node FROM fileshare.fileshare_health'", check=True).stdout
    assert NODE in out.split()


# ---- rate limit ----------------------------------------------------------------------------------


def test_a_client_over_the_rate_limit_gets_429(front, wait_until):
    # Last but one: the flood leaves this client's bucket full for a moment.
    # 50 r/s with a burst of 100 (example site): 400 requests as fast as curl can send them.
    proc = subprocess.run(
        [
            "curl",
            "-s",
            "-Z",
            "--parallel-max",
            "50",
            "--max-time",
            "30",
            "--resolve",
            f"{FQDN}:443:{front.address}",
            "--cacert",
            str(front.ca_file),
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}\\n",
            f"{front.url}/?n=[1-400]",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    codes = proc.stdout.split()
    assert len(codes) == 400
    assert codes.count("429") > 0, f"no 429 among {sorted(set(codes))}"
    assert codes.count("401") >= 100, "the burst itself must pass through"
    # The bucket drains at the configured rate: the client is served again.
    assert wait_until(lambda: front.curl("GET", "/", auth=False).status == 401, timeout=30)


# ---- idempotence ----------------------------------------------------------------------------------


def test_second_orchestration_run_reports_zero_changes(all_in_one_lab):
    report = all_in_one_lab.report("all_in_one")
    if report.get("lab") == all_in_one_lab.name:
        assert report["result"] == "ok" and report["noop_changes"] == 0, report
        return
    # build/lab/all_in_one/report.json is per architecture: another lab converged since ours. Run the
    # orchestration once more here and count what it changes.
    proc = subprocess.run(
        all_in_one_lab.handle.salt_cmd("salt-run")
        + ["state.orchestrate", "fileshare.all_in_one", "--out=json", "--log-level=quiet"],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    out = json.loads(proc.stdout)
    assert logic.failures(out) == [] and logic.count_changes(out) == 0, proc.stdout[-3000:]


def test_app_and_load_layers_reapplied_change_nothing(all_in_one_lab):
    out = all_in_one_lab.salt_json(NODE, "state.apply", "fileshare.app,fileshare.load", timeout=900)
    states = out.get(NODE)
    assert isinstance(states, dict) and states, out
    changed = {k: v["changes"] for k, v in states.items() if v.get("changes")}
    failed = {k: v["comment"] for k, v in states.items() if v.get("result") is not True}
    assert failed == {} and changed == {}
