"""Security posture of a converged full_ha site, checked from the wire and from inside the nodes (issue 6).

Scenario: the `full_ha_lab` (after test_full_ha.py in `make test`) → an outsider node joins the lab's
bridge with an address the pillar does not know (`fileshare-lab outsider up`) → from it, every private
port of the site is unreachable while the peers that use each port reach it, and the public front is
reachable (so the outsider's silence is the firewall's doing) → bind9 refuses recursion and zone
transfers without the TSIG key and transfers with it → no pillar secret in state output (test=True
included), logs, process arguments or any file the unprivileged user can read; secret-bearing files
are 0600/0640 and owned by root or the service → the TLS front speaks only TLS 1.2/1.3 with AEAD
ciphers (openssl s_client, proven able to speak the old protocols against a local server) → Redis
refuses clients without the password → MariaDB has no anonymous user and no remote root.
The outsider is removed at the end; nothing of the cluster is changed.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import re
import shlex
import socket
import ssl
import subprocess
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.zone
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOMAIN = "example.lab"
FQDN = f"files.{DOMAIN}"
# TCP connect from a node: 0 = open, 1 = refused, 124 = no answer (dropped).
PROBE = "timeout {t} bash -c 'exec 3<>/dev/tcp/{addr}/{port}' >/dev/null 2>&1; echo $?"


@pytest.fixture(scope="module")
def site(full_ha_lab):
    return full_ha_lab


@pytest.fixture(scope="module")
def nodes(site):
    return site.nodes


def role(site, name):
    return site.role(name)


@pytest.fixture(scope="module")
def ports(site):
    return site.topology["ports"]


@pytest.fixture(scope="module")
def vip(site):
    return site.topology["vip"]["address"]


@pytest.fixture(scope="module")
def secrets() -> dict[str, str]:
    """Every secret value of the example site's pillar (webdav users' passwords included), read from the
    pillar source: Salt's own output masks them ("**********"), which would make every leak check vacuous."""
    text = (REPO / "pillar" / "sites" / "example" / "common.sls").read_text()
    lines = []
    for line in text[text.index("\n  secrets:\n") :].split("\n")[2:]:
        if line.strip() and not line.startswith("    "):
            break
        lines.append(line)
    tree = yaml.safe_load("\n".join(lines))
    values = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            values.update({f"{key}:{k}": v for k, v in value.items()})
        else:
            values[key] = value
    assert len(values) >= 6 and all(isinstance(v, str) and len(set(v)) > 3 for v in values.values()), values
    return values


@pytest.fixture(scope="module")
def outsider(site):
    """A node on the bridge that is no member of the site; removed after the module."""
    site.tool("outsider", "up")
    try:
        entry = site.handle.saved["outsider"]
        yield entry
    finally:
        site.tool("outsider", "down", check=False)


def outsider_run(site, cmd: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return site.tool("run", "outsider", cmd, check=False, timeout=timeout)


def probe_script(targets: list[tuple[str, int]], t: int = 3) -> str:
    """One shell line probing every (address, port) in parallel; prints 'address:port code' lines."""
    parts = [f"( echo {a}:{p} $({PROBE.format(t=t, addr=a, port=p)}) ) &" for a, p in targets]
    return " ".join(parts) + " wait"


def parse_probes(text: str) -> dict[str, int]:
    found = {}
    for line in text.splitlines():
        m = re.fullmatch(r"(\S+:\d+) (\d+)", line.strip())
        if m:
            found[m.group(1)] = int(m.group(2))
    return found


def private_endpoints(site):
    """(what, address, port, a peer node that must reach it)."""
    ports, vip = site.topology["ports"], site.topology["vip"]["address"]
    db1, db2 = role(site, "db")[:2]
    im1, im2 = role(site, "intermediate")[:2]
    st1 = role(site, "storage")[0]
    app1 = role(site, "app")[0]
    lb1 = role(site, "load")[0]
    return [
        ("MariaDB", db1.address, ports["db"], lb1),
        ("Galera replication", db1.address, ports["galera_replication"], db2),
        ("Galera IST", db1.address, ports["galera_ist"], db2),
        ("Galera SST", db1.address, ports["galera_sst"], db2),
        ("Galera health responder", db1.address, ports["galera_health"], lb1),
        ("Galera health responder for a database peer", db1.address, ports["galera_health"], db2),
        ("Redis", im1.address, ports["redis"], app1),
        ("Sentinel", im1.address, ports["sentinel"], im2),
        ("Memcached", im1.address, ports["memcached"], app1),
        ("glusterd", st1.address, ports["glusterd"], app1),
        ("app server", app1.address, ports["app"], lb1),
        ("database front on the VIP", vip, ports["db_front"], app1),
        ("Redis front on the VIP", vip, ports["redis_front"], app1),
    ] + [
        # The backup node of its own: the database copy over ssh, and the volume it reads.
        endpoint
        for bk1 in role(site, "backup")
        if bk1.name in site.topology["backup_remote"]
        for endpoint in (
            ("ssh for the backup's database copy", db1.address, ports["ssh"], bk1),
            ("glusterd for the backup node's mount", st1.address, ports["glusterd"], bk1),
        )
    ]


# ---- firewall: the outsider is refused, the peers are served ------------------------------------------


def test_outsider_reaches_the_public_front_only(site, ports, vip, outsider):
    endpoints = private_endpoints(site)
    lb1 = role(site, "load")[0]
    st1 = role(site, "storage")[0]
    # The brick port of the volume on st1 (Gluster picks it from 49152 up).
    volume = site.topology["names"]["volume"]
    status = st1.run(f"gluster --mode=script volume status {volume} --xml", check=True).stdout
    brick_ports = re.findall(r"<port>(\d+)</port>", status)
    assert brick_ports and brick_ports[0] != "N/A", status
    extra = [
        ("Gluster brick", st1.address, int(brick_ports[0]), None),
        ("HAProxy stats on the load node", lb1.address, ports["haproxy_stats"], None),
        ("HAProxy stats on the VIP", vip, ports["haproxy_stats"], None),
        ("ssh on a load node", lb1.address, ports["ssh"], None),
    ]
    https, http = ports["https"], ports["http"]
    targets = [(a, p) for _, a, p, _ in endpoints + extra] + [(vip, https), (vip, http)]
    counter_before = drop_counter(role(site, "db")[0])
    got = parse_probes(outsider_run(site, probe_script(targets)).stdout)
    assert got.get(f"{vip}:{https}") == 0, f"the outsider cannot even reach the public front: {got}"
    assert got.get(f"{vip}:{http}") == 0, got
    reachable = {what: f"{a}:{p}" for what, a, p, _ in endpoints + extra if got.get(f"{a}:{p}") != 124}
    assert reachable == {}, f"reachable (or refused, not dropped) from the outsider: {reachable} ({got})"
    assert drop_counter(role(site, "db")[0]) > counter_before, "db1's drop rule counted nothing"


def drop_counter(node) -> int:
    text = node.run("nft list chain inet fileshare input", check=True).stdout
    m = re.search(r"counter packets (\d+) bytes \d+ drop", text)
    assert m, text
    return int(m.group(1))


def test_peers_reach_what_the_outsider_cannot(site, nodes, ports):
    by_peer: dict[str, list[tuple[str, int]]] = {}
    for _, address, port, peer in private_endpoints(site):
        by_peer.setdefault(peer.name, []).append((address, port))

    def check(item):
        name, targets = item
        return name, parse_probes(nodes[name].run(probe_script(targets)).stdout)

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(pool.map(check, by_peer.items()))
    # Answered (0 = open; 1 = refused: nothing listens right now, e.g. the SST and IST ports between
    # transfers) is what the firewall lets through; 124 (no answer) would be a drop.
    dropped = {
        f"{what} from {peer.name}": results[peer.name].get(f"{a}:{p}")
        for what, a, p, peer in private_endpoints(site)
        if results[peer.name].get(f"{a}:{p}") not in (0, 1)
    }
    assert dropped == {}, dropped
    # Everything but the transfer-only ports must be listening and answering.
    not_open = {
        f"{what} from {peer.name}": results[peer.name].get(f"{a}:{p}")
        for what, a, p, peer in private_endpoints(site)
        if p not in (ports["galera_sst"], ports["galera_ist"]) and results[peer.name].get(f"{a}:{p}") != 0
    }
    assert not_open == {}, not_open


def test_every_node_drops_by_default_and_admits_no_unlisted_source(site, nodes, ports, vip):
    def ruleset(node):
        return node.name, node.run("nft list table inet fileshare").stdout

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        tables = dict(pool.map(ruleset, nodes.values()))
    addresses = {n.address for n in nodes.values()}
    for name, text in tables.items():
        assert "policy drop;" in text, (name, text)
        for line in text.splitlines():
            line = line.strip()
            # Only the public front (HTTP/HTTPS on load nodes) and the ICMP/loopback basics admit anyone.
            if line.endswith("accept") and "saddr" not in line:
                assert re.match(
                    r"(ct state established,related|iif \"lo\"|ip protocol icmp|meta l4proto ipv6-icmp"
                    rf"|tcp dport \{{ {ports['http']}, {ports['https']} \}})",
                    line,
                ), (name, line)
                if str(ports["https"]) in line:
                    assert name in site.topology["roles"]["load"], (name, line)
        sources = set(re.findall(r"(\d+\.\d+\.\d+\.\d+)(?!/)", text))
        net = next(iter(addresses)).rsplit(".", 1)[0]
        assert sources <= addresses | {f"{net}.0", f"{net}.1", vip}, (name, sources - addresses)


# ---- bind9 --------------------------------------------------------------------------------------------


def _ask(server, qname, rdtype, recursion=False):
    query = dns.message.make_query(qname, rdtype)
    if not recursion:
        query.flags &= ~dns.flags.RD
    return dns.query.udp(query, server, timeout=5)


def test_dns_refuses_recursion_and_serves_its_zone(site):
    for lb in role(site, "load"):
        assert _ask(lb.address, "debian.org", "A", recursion=True).rcode() == dns.rcode.REFUSED, lb
        answer = _ask(lb.address, FQDN, "A")
        assert answer.rcode() == dns.rcode.NOERROR and answer.answer, lb


def _transfer(address, keyring=None):
    signed = {"keyring": keyring, "keyname": "fileshare", "keyalgorithm": "hmac-sha256"} if keyring else {}
    return dns.zone.from_xfr(dns.query.xfr(address, DOMAIN, timeout=5, **signed))


def test_zone_transfer_needs_the_tsig_key(site, secrets):
    keyring = dns.tsigkeyring.from_text({"fileshare": secrets["tsig_key"]})
    wrong = dns.tsigkeyring.from_text({"fileshare": "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk="})
    for lb in role(site, "load"):
        with pytest.raises(dns.exception.DNSException):
            _transfer(lb.address)
        with pytest.raises(dns.exception.DNSException):
            _transfer(lb.address, wrong)
        assert _transfer(lb.address, keyring).get_rdataset("files", "A") is not None, lb


# ---- secrets ------------------------------------------------------------------------------------------


def _leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return sorted(key for key, value in secrets.items() if value in text)


def test_no_secret_in_state_output_test_mode_included(site, secrets):
    layers = {"load": "fileshare.load", "app": "fileshare.app", "intermediate": "fileshare.intermediate"}
    runs = [(role(site, r)[0].name, sls) for r, sls in layers.items()]

    def apply(item):
        name, sls = item
        proc = site.salt(
            name, "state.sls", sls, "test=True", "--out=json", "--static", "-t", "300", timeout=400
        )
        return name, sls, proc.stdout + proc.stderr

    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        outputs = list(pool.map(apply, runs))
    for name, sls, text in outputs:
        result = json.loads(text[text.index("{") :]) if "{" in text else {}
        states = result.get(name)
        assert isinstance(states, dict) and len(states) > 5, (name, sls, text[-2000:])
        assert all(s["result"] is not False for s in states.values()), (name, sls)
        assert _leaks(text, secrets) == [], (name, sls, _leaks(text, secrets))


def _grep_command(secrets, paths, user=None):
    patterns = " ".join(f"-e {shlex.quote(v)}" for v in secrets.values())
    grep = f"grep -rlsIF {patterns} {' '.join(paths)}"
    return f"runuser -u {user} -- {grep}" if user else grep


def test_no_secret_in_logs_or_process_arguments(site, nodes, secrets):
    def check(node):
        logs = node.run(_grep_command(secrets, ["/var/log"]), timeout=120).stdout.split()
        ps = node.run("ps -eo args").stdout
        journal = node.run("journalctl -q --no-pager -o cat -n 20000").stdout
        return node.name, logs, _leaks(ps, secrets), _leaks(journal, secrets)

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(check, nodes.values()))
    assert [r for r in results if any(r[1:])] == []
    master_logs = Path(site.handle.paths["master_root"], "var", "log", "salt")
    texts = "".join(p.read_text(errors="replace") for p in master_logs.glob("*") if p.is_file())
    assert _leaks(texts, secrets) == []


def test_no_secret_in_a_file_an_unprivileged_user_can_read(nodes, secrets):
    paths = ["/etc", "/root", "/run", "/srv", "/usr/local", "/var/lib", "/var/www", "/opt", "/tmp", "/home"]

    def check(node):
        return node.name, node.run(_grep_command(secrets, paths, user="nobody"), timeout=240).stdout.split()

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        found = {name: files for name, files in pool.map(check, nodes.values()) if files}
    assert found == {}


# Files that must carry a secret, by role: path -> owners allowed. (keepalived.conf holds none while
# advert_int < 1 s: VRRPv3 has no authentication, see docs/security.md.)
SECRET_FILES = {
    "load": {
        "/etc/bind/fileshare-tsig.key": {"root", "bind"},
        "/etc/haproxy/haproxy.cfg": {"root", "haproxy"},
        "/etc/fileshare/smoke-check.netrc": {"root"},
    },
    "db": {"/root/.my.cnf": {"root"}},
    "intermediate": {"/etc/redis/fileshare.conf": {"root", "redis"}},
    "app": {"/etc/fileshare/health.php": {"root", "www-data"}},
}


def test_secret_bearing_files_are_private_to_their_service(site, nodes, secrets):
    for role_name, files in SECRET_FILES.items():
        for node in role(site, role_name):
            for path, owners in files.items():
                text = node.run(f"cat {path}").stdout
                assert _leaks(text, secrets), f"{node.name}:{path} holds no secret (wrong path?)"
                mode, user, group = node.run(f"stat -c '%a %U %G' {path}", check=True).stdout.split()
                assert mode in ("600", "640", "400", "440"), (node.name, path, mode)
                assert user in owners or group in owners, (node.name, path, user, group)
    # And every file under /etc holding a secret, wherever it is, has no bits for others.
    for node in nodes.values():
        files = node.run(_grep_command(secrets, ["/etc", "/root", "/usr/local"])).stdout.split()
        for path in files:
            mode = node.run(f"stat -c %a {shlex.quote(path)}", check=True).stdout.strip()
            assert int(mode, 8) & 0o007 == 0, (node.name, path, mode)


# ---- TLS front ----------------------------------------------------------------------------------------


def _s_client(address: str, *options: str, port: int = 443) -> tuple[bool, str]:
    """Handshake with openssl s_client; the client itself allows everything (SECLEVEL=0)."""
    proc = subprocess.run(
        ["openssl", "s_client", "-connect", f"{address}:{port}", "-servername", FQDN, "-brief", *options],
        input="",
        capture_output=True,
        text=True,
        timeout=20,
    )
    text = proc.stdout + proc.stderr
    return ("Protocol version:" in text and proc.returncode == 0), text


@pytest.fixture(scope="module")
def old_tls_server(tmp_path_factory):
    """A local TLS 1.0/1.1 server: proves the client below can speak what the front must refuse."""
    d = tmp_path_factory.mktemp("oldtls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=old",
         "-keyout", str(d / "k.pem"), "-out", str(d / "c.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    proc = subprocess.Popen(
        ["openssl", "s_server", "-accept", "127.0.0.1:14433", "-key", str(d / "k.pem"), "-cert",
         str(d / "c.pem"), "-cipher", "ALL:@SECLEVEL=0", "-quiet"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(50):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 14433), timeout=1):
                break
            time.sleep(0.1)
        yield ("127.0.0.1", 14433)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("protocol", ["-tls1", "-tls1_1"])
def test_tls_front_refuses_old_protocols(vip, old_tls_server, protocol):
    options = [protocol, "-cipher", "ALL:@SECLEVEL=0"]
    host, port = old_tls_server
    ok, text = _s_client(host, *options, port=port)
    assert ok, f"the client cannot speak {protocol} at all, the check would prove nothing:\n{text}"
    ok, text = _s_client(vip, *options)
    assert not ok, text


@pytest.mark.parametrize(
    "cipher",
    ["AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA", "DES-CBC3-SHA", "ECDHE-RSA-AES256-SHA384"],
)
def test_tls_front_refuses_weak_tls12_ciphers(vip, cipher):
    ok, text = _s_client(vip, "-tls1_2", "-cipher", f"{cipher}:@SECLEVEL=0")
    assert not ok, text


def test_tls_front_speaks_tls12_and_tls13_with_aead_ciphers(vip):
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.minimum_version = context.maximum_version = version
        with socket.create_connection((vip, 443), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname=FQDN) as tls:
                name, proto, bits = tls.cipher()
        assert proto == ("TLSv1.2" if version == ssl.TLSVersion.TLSv1_2 else "TLSv1.3")
        assert re.search(r"GCM|CHACHA20", name) and bits >= 128, name
        if proto == "TLSv1.2":
            assert name.startswith("ECDHE-"), name


# ---- Redis and MariaDB --------------------------------------------------------------------------------


def test_redis_refuses_clients_without_the_password(site, secrets):
    for node in role(site, "intermediate"):
        anonymous = node.run(f"redis-cli --no-auth-warning -h {node.address} ping").stdout
        assert "NOAUTH" in anonymous, (node.name, anonymous)
        wrong = node.run(
            f"REDISCLI_AUTH=wrong-password redis-cli --no-auth-warning -h {node.address} ping"
        ).stdout
        assert "PONG" not in wrong, (node.name, wrong)
        right = node.run(
            f"REDISCLI_AUTH={shlex.quote(secrets['redis_password'])} redis-cli -h {node.address} ping"
        ).stdout
        assert right.strip() == "PONG", (node.name, right)


def test_mariadb_has_no_anonymous_user_and_no_remote_root(site, secrets):
    db1 = role(site, "db")[0]
    users = db1.run('HOME=/root mariadb -N -B -e "SELECT user, host FROM mysql.user"', check=True).stdout
    rows = [tuple(line.split("\t")) for line in users.strip().splitlines()]
    assert rows, users
    assert [r for r in rows if r[0] == ""] == [], rows
    assert [r for r in rows if r[0] == "root" and r[1] not in ("localhost", "127.0.0.1", "::1")] == [], rows
    # And over the network: root from another db node's address is refused even with the right password.
    db2 = role(site, "db")[1]
    remote = db2.run(
        f"MYSQL_PWD={shlex.quote(secrets['db_root_password'])} "
        f"mariadb -h {db1.address} -u root -N -e 'SELECT 1'"
    )
    assert remote.returncode != 0 and re.search(r"Access denied|is not allowed to connect", remote.stderr), (
        remote.stdout,
        remote.stderr,
    )
    anonymous = db2.run(f"mariadb -h {db1.address} -u '' --password= -N -e 'SELECT 1'")
    assert anonymous.returncode != 0, anonymous.stdout
