"""The HA architectures deployed for real, checked from outside and inside the nodes. Shared by
test_full_ha.py and test_mini_ha.py: each defines the `ha` fixture (its converged lab) and imports
these tests, so both architectures pass exactly the same checks.

Scenario: bare nodes → `state.orchestrate fileshare.<arch>` (fixture) → through the VIP: health 200 and
WebDAV round trips with curl and cadaver → straight to each app node: a LOCK taken on one is honoured
on the other, a dead property set on one is read on the other → each cluster's own verdict: Galera
quorate with every member Synced, the Sentinels agree on one master, the Gluster volume has every
brick online, both DNS servers answer alike with one SOA serial, HAProxy sees every backend UP → the
second orchestration run changed nothing.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import subprocess
import uuid
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest
from fileshare_lab import ask, logic
from test_all_in_one import PROPFIND_COLOUR, Response, set_colour_body  # same curl parsing, same bodies

USER, PASSWORD = "alice", "lab-alice-pw"
LOCKINFO = (
    '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>'
    "<D:locktype><D:write/></D:locktype><D:owner>lab test</D:owner></D:lockinfo>"
)


def curl(base: str, method: str, path: str, *args: str, auth: bool = True, data: str | None = None):
    """curl on the host (a real client over the lab bridge); base is https://FQDN or an app node's
    http://address:port."""
    argv = ["curl", "-sS", "--max-time", "30", "-X", method, "-D", "-", "-o", "-", *args]
    if auth:
        argv += ["-u", f"{USER}:{PASSWORD}"]
    if data is not None:
        argv += ["-H", "Content-Type: application/xml", "--data-binary", data]
    argv.append(base + path)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return Response(proc.stdout)


def node_curl(
    client, base: str, method: str, path: str, *args: str, auth: bool = True, data: str | None = None
):
    """curl run in the cluster node `client` (same arguments and parsing as curl() on the host)."""
    argv = ["curl", "-sS", "--max-time", "30", "-X", method, "-D", "-", "-o", "-", *args]
    if auth:
        argv += ["-u", f"{USER}:{PASSWORD}"]
    stdin = ""
    if data is not None:
        argv += ["-H", "Content-Type: application/xml", "--data-binary", "@-"]
        stdin = f"printf %s {shlex.quote(base64.b64encode(data.encode()).decode())} | base64 -d | "
    argv.append(base + path)
    proc = client.run(stdin + shlex.join(argv), timeout=60)
    assert proc.returncode == 0, (client.name, proc.stderr)
    return Response(proc.stdout)


class Ha:
    def __init__(self, lab, arch: str, ca_file: Path):
        self.lab, self.arch, self.ca_file = lab, arch, ca_file
        self.topology = lab.topology
        self.vip = self.topology["vip"]["address"]
        self.fqdn = self.topology["vip"]["fqdn"]
        self.ports = self.topology["ports"]

    def role(self, role: str):
        return self.lab.role(role)

    def app_base(self, node) -> str:
        return f"http://{node.address}:{self.ports['app']}"

    def vip_curl(self, method: str, path: str, *args: str, **kw) -> Response:
        return curl(
            f"https://{self.fqdn}",
            method,
            path,
            "--resolve",
            f"{self.fqdn}:{self.ports['https']}:{self.vip}",
            "--cacert",
            str(self.ca_file),
            *args,
            **kw,
        )

    def app_curl(self, node, method: str, path: str, *args: str, **kw) -> Response:
        """Straight to an app node's app server, from inside the cluster: the firewall admits only
        peers there, and the load nodes are the app nodes' legitimate clients."""
        return node_curl(self.role("load")[0], self.app_base(node), method, path, *args, **kw)


@pytest.fixture(scope="module")
def ca_file(ha_lab, tmp_path_factory) -> Path:
    lb = ha_lab.role("load")[0]
    pem = lb.run("cat /etc/fileshare/pki/lab-ca.crt", check=True).stdout
    assert "BEGIN CERTIFICATE" in pem
    path = tmp_path_factory.mktemp("ca") / "lab-ca.crt"
    path.write_text(pem)
    return path


@pytest.fixture(scope="module")
def ha(ha_lab, ha_arch, ca_file) -> Ha:
    return Ha(ha_lab, ha_arch, ca_file)


@pytest.fixture
def name() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


# ---- through the VIP ------------------------------------------------------------------------------


def test_health_through_the_vip_is_200(ha):
    response = ha.vip_curl("GET", "/health", auth=False)
    assert response.status == 200, response
    assert isinstance(json.loads(response.body), dict), response


def test_webdav_round_trip_through_the_vip_with_curl(ha, name):
    assert ha.vip_curl("MKCOL", f"/{name}/").status == 201
    assert ha.vip_curl("PUT", f"/{name}/a.txt", data="through the VIP\n").status == 201
    get = ha.vip_curl("GET", f"/{name}/a.txt")
    assert (get.status, get.body) == (200, "through the VIP\n")
    move = ha.vip_curl("MOVE", f"/{name}/a.txt", "-H", f"Destination: https://{ha.fqdn}/{name}/b.txt")
    assert move.status == 201, move
    assert ha.vip_curl("GET", f"/{name}/b.txt").body == "through the VIP\n"
    assert ha.vip_curl("DELETE", f"/{name}/").status == 204
    assert ha.vip_curl("GET", f"/{name}/b.txt").status == 404


def test_a_file_written_through_the_vip_is_on_every_app_node(ha, name):
    assert ha.vip_curl("PUT", f"/{name}.txt", data="shared\n").status == 201
    for node in ha.role("app"):
        assert ha.app_curl(node, "GET", f"/{name}.txt").body == "shared\n", node
    assert ha.vip_curl("DELETE", f"/{name}.txt").status == 204


def test_webdav_round_trip_through_the_vip_with_cadaver(ha, name):
    """cadaver in the first load node, trusting the lab CA (system store), resolving the site's name to
    the VIP in a private mount namespace (the node's own /etc/hosts stays as Salt left it)."""
    lb = ha.role("load")[0]
    lb.run(
        "command -v cadaver || DEBIAN_FRONTEND=noninteractive apt-get install -y -q cadaver",
        check=True,
        timeout=600,
    )
    lb.run(
        "cp /etc/fileshare/pki/lab-ca.crt /usr/local/share/ca-certificates/fileshare-lab-ca.crt"
        " && update-ca-certificates",
        check=True,
    )
    work = f"/root/cadaver-{name}"
    netrc = f"machine {ha.fqdn}\\nlogin {USER}\\npassword {PASSWORD}\\n"
    lb.run(
        f"mkdir -p {work} && printf '{netrc}' > {work}/.netrc && chmod 600 {work}/.netrc"
        f" && echo 'cadaver was here' > {work}/up.txt && (cat /etc/hosts; echo '{ha.vip} {ha.fqdn}')"
        f" > {work}/hosts",
        check=True,
    )
    script = (
        "\n".join(
            [
                f"mkcol {name}",
                f"put up.txt {name}/up.txt",
                f"propset {name}/up.txt colour amber",
                f"propget {name}/up.txt colour",
                f"lock {name}/up.txt",
                f"unlock {name}/up.txt",
                f"get {name}/up.txt back.txt",
                f"delete {name}/up.txt",
                f"rmcol {name}",
                "quit",
            ]
        )
        + "\n"
    )
    proc = lb.run(
        f"cd {work} && unshare -m sh -c 'mount --bind {work}/hosts /etc/hosts && "
        f"HOME={work} timeout 120 cadaver https://{ha.fqdn}/' <<'EOF'\n{script}EOF"
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "failed" not in out.lower(), out
    assert "Value of colour is: amber" in out
    assert lb.run(f"cat {work}/back.txt").stdout == "cadaver was here\n"
    lb.run(f"rm -rf {work}")


# ---- app nodes share state ------------------------------------------------------------------------


def test_a_lock_taken_on_one_app_node_is_honoured_on_another(ha, name):
    first, second = ha.role("app")[:2]
    assert ha.app_curl(first, "PUT", f"/{name}.txt", data="v1\n").status == 201
    lock = ha.app_curl(first, "LOCK", f"/{name}.txt", "-H", "Timeout: Second-600", data=LOCKINFO)
    assert lock.status == 200, lock
    token = lock.header("lock-token").strip("<>")
    assert token.startswith("opaquelocktoken:")
    # Measured with mod_dav_fs and its lock database on the shared volume: app2 answered 204 here
    # (Debian's Berkeley DB lock file, read through each node's own FUSE page cache, no cross-node
    # locking). HA uses the wsgidav engine, whose locks live in Redis (docs/webdav.md).
    intruder = ha.app_curl(second, "PUT", f"/{name}.txt", data="intruder\n")
    assert intruder.status == 423, f"{second.name} ignored the lock {first.name} granted: {intruder}"
    assert ha.app_curl(second, "DELETE", f"/{name}.txt").status == 423
    assert ha.app_curl(second, "PUT", f"/{name}.txt", "-H", f"If: (<{token}>)", data="v2\n").status == 204
    assert ha.app_curl(second, "UNLOCK", f"/{name}.txt", "-H", f"Lock-Token: <{token}>").status == 204
    assert ha.app_curl(first, "PUT", f"/{name}.txt", data="v3\n").status == 204
    assert ha.app_curl(second, "GET", f"/{name}.txt").body == "v3\n"
    assert ha.app_curl(first, "DELETE", f"/{name}.txt").status == 204


def test_two_app_nodes_never_both_grant_an_exclusive_lock_on_one_file(ha, name):
    """Both app nodes asked at the same instant for an exclusive lock on one file: exactly one grants
    it (the check-then-grant step is serialised across nodes, not only within one process)."""
    first, second = ha.role("app")[:2]
    client = ha.role("load")[0]
    for attempt in range(5):
        path = f"/{name}-{attempt}.txt"
        assert ha.app_curl(first, "PUT", path, data="contended\n").status == 201
        lock = [
            "curl", "-sS", "--max-time", "30", "-o", "/dev/null", "-w", "%{http_code} %header{lock-token}\\n",
            "-u", f"{USER}:{PASSWORD}", "-X", "LOCK", "-H", "Timeout: Second-120",
            "-H", "Content-Type: application/xml", "--data-binary", LOCKINFO,
        ]  # fmt: skip
        both = " & ".join(shlex.join([*lock, f"{ha.app_base(n)}{path}"]) for n in (first, second))
        out = client.run(f"{both} & wait", timeout=60).stdout.split("\n")
        answers = sorted(line.split(" ", 1)[0] for line in out if line.strip())
        assert answers == ["200", "423"], (attempt, out)
        token = [line.split(" ", 1)[1].strip("<> ") for line in out if line.startswith("200")][0]
        gone = ha.app_curl(second, "DELETE", path, "-H", f"If: (<{token}>)")
        assert gone.status == 204, gone


def test_a_rewrite_on_one_app_node_is_read_at_once_on_another(ha, name):
    """Read-after-write across app nodes: the same file rewritten with content of the same size, each
    PUT on one node followed at once by a GET on the other, half the rounds in each direction (a node
    that only reads keeps pages cached; one that also writes does not). Same-size rewrites are the hard
    case: the reader's kernel sees a new mtime but no size change (before the mount used
    direct-io-mode, 48 reads in 50 returned the previous content)."""
    first, second = ha.role("app")[:2]
    client = ha.role("load")[0]
    rounds = 40
    # One shell loop in the load node: 80 requests in ~2 s, as fast as a real client retrying a save.
    script = f"""
        bad=0
        for i in $(seq 1000 {999 + rounds}); do
          w={ha.app_base(first)}; r={ha.app_base(second)}
          [ $i -lt {1000 + rounds // 2} ] || {{ w={ha.app_base(second)}; r={ha.app_base(first)}; }}
          body="rewrite-$i"
          code=$(printf %s "$body" | curl -sS --max-time 10 -o /dev/null -w '%{{http_code}}' \\
                 -u {USER}:{PASSWORD} -T - $w/{name}.txt)
          got=$(curl -sS --max-time 10 -u {USER}:{PASSWORD} $r/{name}.txt)
          case $code in 201|204) ;; *) echo "put $i answered $code"; bad=$((bad + 1)); continue;; esac
          [ "$got" = "$body" ] || {{ echo "round $i: wrote on $w, read on $r: '$got'"; bad=$((bad + 1)); }}
        done
        echo "stale=$bad"
    """
    out = client.run(script, timeout=300).stdout
    assert out.strip().endswith("stale=0"), out
    assert ha.app_curl(first, "DELETE", f"/{name}.txt").status == 204


def test_a_dead_property_set_on_one_app_node_is_read_on_another(ha, name):
    first, second = ha.role("app")[:2]
    assert ha.app_curl(first, "PUT", f"/{name}.txt", data="with a property\n").status == 201
    set_prop = ha.app_curl(
        first,
        "PROPPATCH",
        f"/{name}.txt",
        data=set_colour_body(f"teal-{name}"),
    )
    assert set_prop.status == 207 and "200 OK" in set_prop.body, set_prop
    read = ha.app_curl(
        second,
        "PROPFIND",
        f"/{name}.txt",
        "-H",
        "Depth: 0",
        data=PROPFIND_COLOUR,
    )
    assert read.status == 207 and re.search(rf">teal-{name}</\w+:colour>", read.body), read
    assert ha.app_curl(second, "DELETE", f"/{name}.txt").status == 204


def test_the_data_directory_is_the_gluster_volume_on_every_app_node(ha):
    for node in ha.role("app"):
        fstype = node.run("findmnt -n -o FSTYPE --target /srv/fileshare/data", check=True).stdout.strip()
        assert fstype == "fuse.glusterfs", (node, fstype)
        dropin = node.run("systemctl show -p Requires,After apache2", check=True).stdout
        assert "srv-fileshare.mount" in dropin, (node, dropin)


# ---- each cluster's verdict -----------------------------------------------------------------------


def test_galera_is_quorate_with_every_member_synced(ha):
    db = [n.name for n in ha.role("db")]
    verdicts = ha.lab.salt_json(",".join(db), "-L", "galera.quorum")
    assert sorted(verdicts) == sorted(db), verdicts
    for node, verdict in verdicts.items():
        assert verdict == {"quorate": True, "reasons": [], "size": len(db)}, (node, verdict)
    for node in db:
        view = ha.lab.call(node, "galera.status")
        state = (view["cluster_status"], view["local_state_comment"])
        assert state == ("Primary", "Synced"), (node, view)


def test_sentinels_agree_on_one_master_with_every_replica_connected(ha):
    """fileshare_redis.quorum on each intermediate node: every Sentinel names one master, a master,
    whose replicas are all the other intermediate nodes, online."""
    args = ask.salt_kwargs(ask.sentinel_args(ha.topology))
    verdicts = {n.name: ha.lab.call(n.name, "fileshare_redis.quorum", *args) for n in ha.role("intermediate")}
    assert all(v["quorate"] and not v["reasons"] for v in verdicts.values()), verdicts
    assert len({v["master"] for v in verdicts.values()}) == 1, verdicts


def test_gluster_volume_has_every_brick_online_and_nothing_to_heal(ha):
    st = ha.role("storage")
    status = ask.heal_status(ha.lab.handle, ha.topology)
    bricks = status["bricks"]
    assert (len(bricks) if isinstance(bricks, list | dict) else bricks) == len(st), status
    assert not status["down"] and status["pending"] == 0, status


def _dns(server: str, qname: str, rdtype: str):
    response = dns.query.udp(dns.message.make_query(qname, rdtype), server, timeout=5)
    return sorted(str(rr) for rrset in response.answer for rr in rrset)


def test_both_dns_servers_answer_alike_with_one_soa_serial(ha):
    lbs = ha.role("load")
    domain = ha.topology["domain"]
    assert len(lbs) >= 2
    names = [(ha.fqdn, "A"), (domain, "SOA"), (domain, "NS")] + [(f"{n.name}.{domain}", "A") for n in lbs]
    answers = {lb.name: [_dns(lb.address, q, t) for q, t in names] for lb in lbs}
    first = answers[lbs[0].name]
    assert first[0] == [ha.vip], first
    for lb in lbs[1:]:
        assert answers[lb.name] == first, answers
    serials = {lb.name: _dns(lb.address, domain, "SOA")[0].split()[2] for lb in lbs}
    assert len(set(serials.values())) == 1, serials


def test_haproxy_sees_every_backend_up(ha):
    """Every app and database server UP (database backups included: UP means ready to take over); in
    the Redis front exactly one server, the current master, passes the role:master check
    (fileshare_haproxy.backend on every load node)."""
    backends = ha.topology["names"]["backends"]
    expected = {"app": len(ha.role("app")), "db": len(ha.role("db")), "redis": len(ha.role("intermediate"))}
    loads = [n.name for n in ha.role("load")]
    for backend, count in expected.items():
        views = ha.lab.salt_json(",".join(loads), "-L", "fileshare_haproxy.backend", backends[backend])
        assert sorted(views) == sorted(loads), views
        for lb, view in views.items():
            assert isinstance(view, dict), (lb, view)
            assert ask.backend_verdict(view, count, masters=backend == "redis") == [], (lb, view)


# ---- the site's picture ---------------------------------------------------------------------------


def test_the_master_draws_the_site_its_nodes_run(ha, tmp_path):
    """`salt-run fileshare.diagram` asks the nodes for the topology their pillar gives and draws it: every
    node of the lab with its address, as the real Graphviz writes the SVG."""
    svg = tmp_path / "site.svg"
    proc = subprocess.run(
        ha.lab.handle.salt_cmd("salt-run") + ["fileshare.diagram", f"out={svg}", "--log-level=quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and svg.exists(), proc.stdout + proc.stderr
    drawn = svg.read_text()
    for node in ha.lab.topology["nodes"]:
        assert f">{node['name']}</text>" in drawn and f">{node['address']}</text>" in drawn, node
    # A name Graphviz cannot write is refused before any node is asked.
    bad = subprocess.run(
        ha.lab.handle.salt_cmd("salt-run") + ["fileshare.diagram", "out=site.jpeg", "--log-level=quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "out=site.jpeg: the file name ends in one of .svg" in bad.stdout + bad.stderr


# ---- idempotence ----------------------------------------------------------------------------------


def test_second_orchestration_run_reports_zero_changes(ha):
    report = ha.lab.report(ha.arch)
    if report.get("lab") == ha.lab.name:
        assert report["result"] == "ok" and report["noop_changes"] == 0, report
        return
    proc = subprocess.run(
        ha.lab.handle.salt_cmd("salt-run")
        + ["state.orchestrate", f"fileshare.{ha.arch}", "--out=json", "--log-level=quiet"],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    out = json.loads(proc.stdout)
    assert logic.failures(out) == [] and logic.count_changes(out) == 0, proc.stdout[-3000:]
