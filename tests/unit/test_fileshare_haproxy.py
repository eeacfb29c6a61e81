"""HAProxy runtime API: parsing of `show stat` / `show servers state` (pure), and the module and states
against a stand-in runtime API on a real unix socket (a small stateful server speaking the same text)."""

import socket
import threading

import pytest
from site_topology import getter
from suite_modules import load

haproxy = load("_modules/fileshare_haproxy.py", "fileshare_haproxy_module")
haproxy_state = load("_states/fileshare_haproxy.py", "fileshare_haproxy_states")

STAT_HEADER = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,"
    "status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,"
    "type,rate,rate_lim,rate_max,check_status,check_code,check_duration,"
)
SERVERS_HEADER = (
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
    "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
    "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl "
    "srv_check_port srv_check_addr srv_agent_addr srv_agent_port"
)


def stat_line(px, sv, status, scur=0, bck=0):
    cols = [
        px,
        sv,
        "0",
        "0",
        str(scur),
        "3",
        "",
        "42",
        "1",
        "2",
        "",
        "0",
        "",
        "0",
        "0",
        "0",
        "0",
        status,
        "1",
        "0" if bck else "1",
        str(bck),
        "0",
        "0",
        "10",
        "0",
        "",
        "1",
        "3",
        "1",
        "",
        "40",
        "",
        "2",
        "0",
        "",
        "4",
        "L7OK",
        "200",
        "1",
        "",
    ]
    return ",".join(cols)


def stat_text(servers):
    lines = [STAT_HEADER, "fs_https,FRONTEND,,,1,2,262000,10,,,,,,,,,,OPEN,,,,,,,,,1,2,0,,,,0,1,0,3,,,,"]
    for (px, sv), (status, scur, bck) in servers.items():
        lines.append(stat_line(px, sv, status, scur, bck))
    lines.append("fs_app,BACKEND,0,0,1,3,,42,1,2,0,0,,0,0,0,0,UP,2,2,0,,0,10,0,,1,3,0,,40,,1,0,,4,,,,")
    return "\n".join(lines) + "\n\n"


def servers_text(states):
    lines = ["1", SERVERS_HEADER]
    for i, ((px, sv), (op, admin)) in enumerate(states.items(), 1):
        lines.append(f"3 {px} {i} {sv} 10.0.0.{40 + i} {op} {admin} 1 1 100 6 3 4 6 0 0 0 - 8080 - 0 0 - - 0")
    return "\n".join(lines) + "\n\n"


# ---- pure layer ---------------------------------------------------------------------------------


def test_show_stat_rows_are_keyed_by_the_header_columns():
    rows = haproxy.parse_stat(stat_text({("fs_app", "app1"): ("UP", 2, 0)}))
    app1 = next(r for r in rows if r["svname"] == "app1")
    assert app1["pxname"] == "fs_app" and app1["scur"] == "2" and app1["status"] == "UP"
    assert [r["svname"] for r in rows] == ["FRONTEND", "app1", "BACKEND"]


@pytest.mark.parametrize("text", ["", "Unknown command.\n", "1\n# be_id be_name\n"])
def test_show_stat_refuses_what_is_not_its_output(text):
    with pytest.raises(haproxy.CommandExecutionError, match="show stat"):
        haproxy.parse_stat(text)


def test_show_servers_state_gives_numbers():
    rows = haproxy.parse_servers_state(servers_text({("fs_app", "app1"): (2, 8)}))
    assert rows[0]["backend"] == "fs_app" and rows[0]["server"] == "app1"
    assert rows[0]["op_state"] == 2 and rows[0]["admin_state"] == 8 and rows[0]["address"] == "10.0.0.41"


@pytest.mark.parametrize(
    "text", ["", "2\n# x\n", "1\n3 fs_app 1 app1\n", "1\n# be_id be_name srv_id\n3 x y\n"]
)
def test_show_servers_state_refuses_unreadable_text(text):
    with pytest.raises(haproxy.CommandExecutionError):
        haproxy.parse_servers_state(text)


@pytest.mark.parametrize(
    "bits, name",
    [
        (0, "ready"),
        (0x01, "maint"),
        (0x08, "drain"),
        (0x10, "drain"),
        (0x09, "maint"),
        (0x04, "maint"),
        (0x20, "maint"),
    ],
)
def test_admin_state_bits_name_the_admin_state(bits, name):
    assert haproxy.admin_name(bits) == name


def test_admin_reasons_list_every_bit():
    assert haproxy.admin_reasons(0x09) == ["forced maint", "forced drain"]
    assert haproxy.admin_reasons(0) == []


def views(servers, states):
    return haproxy.servers(
        haproxy.parse_stat(stat_text(servers)), haproxy.parse_servers_state(servers_text(states)), "fs_db"
    )


def test_writer_is_the_first_active_server_that_is_up_and_ready():
    v = views(
        {("fs_db", "db1"): ("UP", 3, 0), ("fs_db", "db2"): ("UP", 0, 1), ("fs_db", "db3"): ("UP", 0, 1)},
        {("fs_db", "db1"): (2, 0), ("fs_db", "db2"): (2, 0), ("fs_db", "db3"): (2, 0)},
    )
    assert haproxy.current_writer(v) == "db1"


def test_writer_moves_to_the_first_usable_backup_when_the_active_one_is_in_maint():
    v = views(
        {("fs_db", "db1"): ("MAINT", 0, 0), ("fs_db", "db2"): ("UP", 0, 1), ("fs_db", "db3"): ("UP", 0, 1)},
        {("fs_db", "db1"): (2, 1), ("fs_db", "db2"): (2, 0), ("fs_db", "db3"): (2, 0)},
    )
    assert haproxy.current_writer(v) == "db2"
    v = views(
        {("fs_db", "db1"): ("DOWN", 0, 0), ("fs_db", "db2"): ("DOWN", 0, 1), ("fs_db", "db3"): ("UP", 0, 1)},
        {("fs_db", "db1"): (0, 0), ("fs_db", "db2"): (0, 0), ("fs_db", "db3"): (2, 0)},
    )
    assert haproxy.current_writer(v) == "db3"


def test_no_writer_when_nothing_can_take_traffic():
    v = views(
        {("fs_db", "db1"): ("DOWN", 0, 0), ("fs_db", "db2"): ("DRAIN", 0, 1)},
        {("fs_db", "db1"): (0, 0), ("fs_db", "db2"): (2, 8)},
    )
    assert haproxy.current_writer(v) is None


@pytest.mark.parametrize(
    "status, scur, admin, drained",
    [("DRAIN", 0, 8, True), ("DRAIN", 2, 8, False), ("UP", 0, 0, False), ("MAINT", 0, 1, True)],
)
def test_drained_only_without_new_traffic_and_without_sessions(status, scur, admin, drained):
    stat = haproxy.parse_stat(stat_text({("fs_app", "app1"): (status, scur, 0)}))
    state = haproxy.parse_servers_state(servers_text({("fs_app", "app1"): (2, admin)}))
    view = haproxy.server_view(stat, state, "fs_app", "app1")
    assert haproxy.drain_verdict(view)["drained"] is drained
    assert haproxy.drain_verdict(None) == {"drained": False, "reason": "no such server"}


@pytest.mark.parametrize(
    "backend, server, state",
    [
        ("fs_app", "app1", "stop"),
        ("fs app", "app1", "drain"),
        ("fs_app", "a/b", "ready"),
        ("", "app1", "maint"),
        ("fs_app", "app1;shutdown", "ready"),
    ],
)
def test_state_commands_refuse_unknown_states_and_odd_names(backend, server, state):
    with pytest.raises(haproxy.CommandExecutionError):
        haproxy.state_command(backend, server, state)


def test_state_command_text():
    assert haproxy.state_command("fs_app", "app1", "drain") == "set server fs_app/app1 state drain"


# ---- the socket layer and the states against a stand-in runtime API ----------------------------


class FakeHaproxy:
    """Serves `show stat`, `show servers state`, `set server B/S state X`, `shutdown sessions server`."""

    def __init__(self, path):
        self.path = str(path)
        self.servers = {
            ("fs_app", "app1"): {"admin": 0, "scur": 2, "status": "UP", "bck": 0},
            ("fs_app", "app2"): {"admin": 0, "scur": 1, "status": "UP", "bck": 0},
        }
        self.sessions_end_after = 2  # `show stat` reads until a drained server's sessions are gone
        self.down_after_ready = 0  # `show stat` reads while a readied server still fails its checks
        self.commands = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        threading.Thread(target=self.serve, daemon=True).start()

    def answer(self, cmd):
        self.commands.append(cmd)
        words = cmd.split()
        if cmd == "show stat":
            for srv in self.servers.values():
                if srv["admin"] and srv["scur"]:
                    self.sessions_end_after -= 1
                    if self.sessions_end_after <= 0:
                        srv["scur"] = 0
                if not srv["admin"] and srv["status"] != "UP":
                    self.down_after_ready -= 1
                    if self.down_after_ready <= 0:
                        srv["status"] = "UP"
            return stat_text(
                {
                    k: (
                        ("MAINT" if v["admin"] & 1 else "DRAIN" if v["admin"] & 8 else v["status"]),
                        v["scur"],
                        v["bck"],
                    )
                    for k, v in self.servers.items()
                }
            )
        if cmd.startswith("show servers state"):
            return servers_text({k: (2, v["admin"]) for k, v in self.servers.items()})
        if words[:2] == ["set", "server"] and len(words) == 5:
            backend, name = words[2].split("/")
            if (backend, name) not in self.servers:
                return "No such server.\n"
            self.servers[(backend, name)]["admin"] = {"ready": 0, "drain": 8, "maint": 1}[words[4]]
            return "\n"
        if words[:3] == ["shutdown", "sessions", "server"]:
            self.servers[tuple(words[3].split("/"))]["scur"] = 0
            return "\n"
        return "Unknown command.\n"

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while not data.endswith(b"\n"):
                    data += conn.recv(1024)
                conn.sendall(self.answer(data.decode().strip()).encode())


@pytest.fixture
def api(tmp_path):
    fake = FakeHaproxy(tmp_path / "admin.sock")
    haproxy.__salt__ = {
        "config.get": lambda key, default=None: fake.path,
        "fileshare_topology.get": getter({"architecture": "full_ha"}),
    }
    yield fake
    fake.sock.close()


@pytest.fixture
def states(api):
    salt = {
        name: getattr(haproxy, name.split(".")[1])
        for name in [
            "fileshare_haproxy.server",
            "fileshare_haproxy.set_state",
            "fileshare_haproxy.wait",
            "fileshare_haproxy.shutdown_sessions",
        ]
    }
    haproxy_state.__salt__ = salt
    haproxy_state.__opts__ = {"test": False}
    return haproxy_state


def test_server_view_through_the_socket(api):
    view = haproxy.server("fs_app", "app1")
    assert view["status"] == "UP" and view["sessions"] == 2 and view["admin"] == "ready"
    with pytest.raises(haproxy.CommandExecutionError, match="no server app9"):
        haproxy.server("fs_app", "app9")


def test_a_backend_is_named_by_its_key_in_the_topology(api):
    """Operators and the runbook may say ``app``: the site's names:backends gives HAProxy's name."""
    assert haproxy.server("app", "app1") == haproxy.server("fs_app", "app1")
    haproxy.__salt__["fileshare_topology.get"] = getter({"names": {"backends": {"db": "fs_app"}}})
    assert haproxy.server("db", "app2")["backend"] == "fs_app"


def test_refused_command_is_an_error(api):
    with pytest.raises(haproxy.CommandExecutionError, match="refused"):
        haproxy.set_state("fs_app", "app9", "drain")


def test_missing_socket_is_an_error(tmp_path):
    with pytest.raises(haproxy.CommandExecutionError, match="runtime API"):
        haproxy.command("show info", socket_path=str(tmp_path / "nothing.sock"))


def test_drained_sets_drain_and_waits_for_the_sessions(states, api):
    ret = states.drained("app1", "fs_app", timeout=10)
    assert ret["result"] is True, ret["comment"]
    assert ret["changes"] == {"admin": {"old": "ready", "new": "drain"}}
    assert "set server fs_app/app1 state drain" in api.commands
    assert api.servers[("fs_app", "app1")]["scur"] == 0
    again = states.drained("app1", "fs_app", timeout=10)
    assert again["result"] is True and again["changes"] == {}


def test_drained_fails_with_the_sessions_left_when_the_bound_passes(states, api):
    api.sessions_end_after = 10**6
    ret = states.drained("app1", "fs_app", timeout=1)
    assert ret["result"] is False
    assert "left drain" in ret["comment"] and "2 session(s)" in ret["comment"]
    assert api.servers[("fs_app", "app1")]["admin"] == 8  # stays drained: the runbook reports it


def test_drained_under_test_changes_nothing(states, api):
    states.__opts__ = {"test": True}
    ret = states.drained("app1", "fs_app")
    assert ret["result"] is None and ret["changes"]
    assert not [c for c in api.commands if c.startswith("set ")]


def test_maint_shuts_down_sessions_that_outlive_the_bound(states, api):
    api.sessions_end_after = 10**6
    ret = states.maint("app2", "fs_app", timeout=1)
    assert ret["result"] is True, ret["comment"]
    assert "shutdown sessions server fs_app/app2" in api.commands
    assert ret["changes"]["sessions"] == "shut down"


def test_maint_without_shutdown_fails_instead(states, api):
    api.sessions_end_after = 10**6
    ret = states.maint("app2", "fs_app", timeout=1, shutdown=False)
    assert ret["result"] is False
    assert not [c for c in api.commands if c.startswith("shutdown")]


def test_ready_waits_until_the_checks_pass(states, api):
    api.servers[("fs_app", "app1")].update(admin=8, status="DOWN")
    api.down_after_ready = 2
    ret = states.ready("app1", "fs_app", timeout=10)
    assert ret["result"] is True, ret["comment"]
    assert ret["changes"] == {"admin": {"old": "drain", "new": "ready"}}


def test_ready_fails_when_the_checks_keep_failing(states, api):
    api.servers[("fs_app", "app1")].update(admin=8, status="DOWN")
    api.down_after_ready = 10**6
    ret = states.ready("app1", "fs_app", timeout=1)
    assert ret["result"] is False and "DOWN" in ret["comment"]
