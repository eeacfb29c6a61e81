"""The VIP handoff of the load nodes (load/vip_handoff.sls) as rendered for full_ha, checked with the real
tools in a throw-away network namespace: nft accepts the rules, the command loads them with the policy
route, hands sessions to every peer while this node is BACKUP, and on becoming MASTER only to peers whose
HAProxy answers (not to a frozen one whose kernel still completes the handshake, nor to a dead one), asking
them all at once; keepalived runs it on every state change."""

import subprocess
import textwrap
from pathlib import Path

import pytest
from test_app_load_render import PORTS, args, show

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "formulas" / "fileshare" / "load" / "files" / "default"
SLS = "fileshare.load.vip_handoff"


def rendered(renderer, minion, state_id, template, **override):
    """A file.managed of the SLS rendered by Salt's own jinja with the state's context."""
    result = show(renderer, "debian-12", minion, SLS, architecture="full_ha")
    found = [args(chunk) for sid, chunk in result.items() if sid == state_id]
    assert found, f"{state_id!r} not in {sorted(result)}"
    context = dict(found[0]["context"])
    context["handoff"] = {**context["handoff"], **override}
    return found[0]["name"], context, apply_template(renderer, template, context)


def apply_template(renderer, template, context):
    """TEMPLATES/template rendered by Salt's own jinja with a state's context."""
    return renderer.apply_template("debian-12", (TEMPLATES / template).read_text(), context)


def in_netns(script: str) -> subprocess.CompletedProcess:
    # A new network namespace: the host's own rules and routes are never touched.
    return subprocess.run(
        ["unshare", "--net", "sh", "-ec", script], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def site(renderer):
    nodes = renderer.pillar("full_ha")["nodes"]
    return {n["name"]: n["address"] for n in nodes if "load" in n["roles"]}


@pytest.mark.parametrize("minion", ["lb1", "lb2"])
def test_rules_hand_over_to_the_other_load_node_and_nft_accepts_them(renderer, site, minion, tmp_path):
    _, context, text = rendered(
        renderer, minion, "the VIP handoff's nftables rules are written", "vip-handoff.nft.jinja"
    )
    peers = [address for name, address in site.items() if name != minion]
    assert context["peers"] == peers
    # Held until the holder has asked which peers' HAProxy answers: nothing handed to anyone yet.
    assert not [line for line in text.splitlines() if line.strip().startswith("dup to")]
    assert "counter drop" in text
    vip = renderer.pillar("full_ha")["vip"]["address"]
    fronts = ", ".join(str(PORTS[key]) for key in ("http", "https", "db_front", "redis_front"))
    assert f"ip daddr {vip} tcp dport {{ {fronts} }}" in text
    rules = tmp_path / "handoff.nft"
    rules.write_text(text)
    done = in_netns(f"nft -f {rules} && nft list table ip {context['handoff']['table']}")
    assert done.returncode == 0, done.stderr
    assert "fib daddr type local ct state invalid,new tcp flags ! syn jump handoff" in done.stdout


def test_the_command_loads_rules_and_route_and_follows_keepalived_states(renderer, tmp_path):
    rules_path = tmp_path / "handoff.nft"
    _, context, rules = rendered(
        renderer, "lb1", "the VIP handoff's nftables rules are written", "vip-handoff.nft.jinja"
    )
    rules_path.write_text(rules)
    _, _, script = rendered(
        renderer,
        "lb1",
        "the VIP handoff command is installed",
        "fileshare-vip-handoff.sh.jinja",
        rules=str(rules_path),
    )
    command = tmp_path / "fileshare-vip-handoff"
    command.write_text(script)
    command.chmod(0o755)
    handoff, vip = context["handoff"], context["vip"]
    table = f"nft list chain ip {handoff['table']} handoff"
    done = in_netns(
        f"{command} up; {command} up; ip rule; ip route show table {handoff['route_table']}; "
        f"echo '== backup'; {command} backup; {table}; "
        # Nothing answers in an empty namespace: the peer counts as dead.
        f"echo '== master'; {command} master; {table}"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    setup, backup, master = done.stdout.split("== ")
    # `up` twice: one policy rule, not two.
    assert setup.count(f"fwmark {handoff['mark']} lookup {handoff['route_table']}") == 1, setup
    assert f"local {vip} dev lo" in setup
    # A backup holds (drops) until it becomes master; a master with no answering peer hands nothing
    # over and leaves the packets to the firewall's reset.
    assert "dup to" not in backup and "drop" in backup, backup
    assert "dup to" not in master and "drop" not in master, master


def test_keepalived_runs_the_handoff_on_every_state_change(renderer):
    result = show(renderer, "debian-12", "lb1", "fileshare.load.keepalived", architecture="full_ha")
    keepalived = args(result["keepalived is configured"])
    text = apply_template(renderer, "keepalived.conf.jinja", keepalived["context"])
    script = keepalived["context"]["handoff"]["script"]
    for state, arg in (("master", "master"), ("backup", "backup"), ("fault", "backup")):
        assert f'notify_{state} "{script} {arg}"' in text, text


# In the namespace: an HTTP server answering 200 (a peer whose HAProxy runs), a socket that completes the
# TCP handshake in the kernel and never answers (a frozen peer), and an address nothing listens on.
PEERS = textwrap.dedent(
    """
    import http.server, socket, sys, time
    port = int(sys.argv[1])

    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    frozen = socket.create_server(("192.0.2.12", port))
    answering = http.server.HTTPServer(("192.0.2.11", port), Ok)
    print("ready", flush=True)
    answering.serve_forever()
    """
)


def test_a_new_holder_hands_over_only_to_peers_whose_haproxy_answers(renderer, tmp_path):
    answering, frozen, dead = "192.0.2.11", "192.0.2.12", "192.0.2.13"
    rules_path = tmp_path / "handoff.nft"
    _, context, rules = rendered(
        renderer, "lb1", "the VIP handoff's nftables rules are written", "vip-handoff.nft.jinja"
    )
    rules_path.write_text(rules)
    context["handoff"] = {**context["handoff"], "rules": str(rules_path)}
    context["peers"] = [frozen, answering, dead]
    command = tmp_path / "fileshare-vip-handoff"
    command.write_text(apply_template(renderer, "fileshare-vip-handoff.sh.jinja", context))
    command.chmod(0o755)
    (tmp_path / "peers.py").write_text(PEERS)
    handoff, own, port = context["handoff"], context["address"], context["peer_port"]
    done = in_netns(
        f"ip link set lo up; for a in {own} {answering} {frozen} {dead}; do ip addr add $a/32 dev lo; done; "
        f"python3 {tmp_path / 'peers.py'} {port} > {tmp_path / 'ready'} 2>&1 & server=$!; "
        "trap 'kill $server' EXIT; "
        f"for i in $(seq 50); do grep -q ready {tmp_path / 'ready'} && break; sleep 0.1; done; "
        f"{command} up; start=$(date +%s%N); {command} master; end=$(date +%s%N); "
        f"echo took $(( (end - start) / 1000000 )); nft list chain ip {handoff['table']} handoff"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    chain = [line.strip() for line in done.stdout.splitlines() if line.strip().startswith(("dup", "counter"))]
    assert chain[0] == f"dup to {answering}" and chain[1].startswith("counter") and len(chain) == 2, (
        done.stdout
    )
    # The frozen peer costs its two bounded attempts, once: not a ping's second, not one bound per peer.
    took = int(done.stdout.split("took ")[1].split()[0])
    bound = 1000 * float(handoff["probe_max_time"]) * int(handoff["probe_attempts"])
    assert bound <= took < bound + 700, done.stdout
