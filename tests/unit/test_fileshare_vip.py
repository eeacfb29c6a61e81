"""fileshare_vip: who holds the VIP, the web sessions on it, and the load node's hand-over states."""

import pytest
from site_topology import getter
from suite_modules import load

mod = load("_modules/fileshare_vip.py", "fileshare_vip_mod")
state = load("_states/fileshare_vip.py", "fileshare_vip_state")

VIP = "10.0.0.30"
IP_ADDR = (
    "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
    "2: eth0    inet 10.0.0.31/24 brd 10.0.0.255 scope global eth0\\       valid_lft forever\n"
)
HELD = IP_ADDR + "2: eth0    inet 10.0.0.30/24 scope global secondary eth0\\       valid_lft forever\n"


@pytest.mark.parametrize(
    "text, address, held",
    [
        (HELD, VIP, True),
        (IP_ADDR, VIP, False),
        (HELD, "10.0.0.3", False),
        ("", VIP, False),
        ("2: eth0    inet 10.0.0.30/32 scope global eth0", VIP, True),
    ],
)
def test_the_vip_is_held_when_an_interface_lists_it(text, address, held):
    assert mod.holds(text, address) is held


def test_ss_filter_names_each_web_port():
    assert mod.ss_filter([80, 443]) == ["(", "sport", "=", ":80", "or", "sport", "=", ":443", ")"]
    assert mod.ss_filter([8443]) == ["(", "sport", "=", ":8443", ")"]


@pytest.mark.parametrize(
    "text, count",
    [
        ("", 0),
        ("\n", 0),
        ("0 0 10.0.0.30:443 10.0.0.41:51234\n", 1),
        ("0 0 10.0.0.30:443 10.0.0.41:51234\n0 0 10.0.0.30:80 10.0.0.42:40000\n", 2),
    ],
)
def test_sessions_are_the_lines_ss_prints(text, count):
    assert mod.count_sessions(text) == count


class LoadNode:
    """A load node as the module sees it through Salt: its addresses, its sockets and its services.
    The VIP leaves LEAVES_AFTER looks after keepalived stops; SESSIONS[i] is what ss shows the i-th time
    after HAProxy's reload."""

    def __init__(self, held=True, leaves_after=1, sessions=(0,), answers=200):
        self.held, self.leaves_after, self.sessions, self.answers = (
            held,
            leaves_after,
            list(sessions),
            answers,
        )
        self.services = {"keepalived": True, "haproxy": True}
        self.calls, self.looks, self.reloaded = [], 0, False

    def run_all(self, argv, **kwargs):
        self.calls.append(argv[0])
        if argv[0] == "ip":
            if not self.services["keepalived"]:
                self.looks += 1
                if self.looks > self.leaves_after:
                    self.held = False
            return {"retcode": 0, "stdout": HELD if self.held else IP_ADDR, "stderr": ""}
        count = self.sessions.pop(0) if len(self.sessions) > 1 else self.sessions[0]
        return {"retcode": 0, "stdout": "0 0 10.0.0.30:443 10.0.0.41:5000\n" * count, "stderr": ""}

    def salt(self):
        def wait(url, host=None, attempts=1, interval=1, timeout=5):
            self.calls.append(("wait", url, host, attempts))
            if self.answers != 200:
                raise mod.CommandExecutionError(f"{url} answered {self.answers}")
            return 200

        def stop(name):
            self.services[name] = False
            self.calls.append(("stop", name))
            return True

        def reload(name):
            self.calls.append(("reload", name))
            return True

        def start(name):
            self.services[name] = True
            self.calls.append(("start", name))
            return True

        return {
            "cmd.run_all": self.run_all,
            "fileshare_http.wait": wait,
            "service.stop": stop,
            "service.start": start,
            "service.reload": reload,
            "service.status": lambda name: self.services[name],
            "fileshare_topology.get": getter(
                {
                    "architecture": "full_ha",
                    "domain": "example.org",
                    "vip": {"address": VIP, "name": "files"},
                },
                "lb1",
            ),
        }


@pytest.fixture
def node(monkeypatch):
    lb = LoadNode()
    mod.__salt__ = lb.salt()
    mod.__grains__ = {"id": "lb1"}
    state.__salt__ = {
        f"fileshare_vip.{f}": getattr(mod, f) for f in ("held", "give_up", "sessions", "finish_sessions")
    }
    state.__salt__.update({k: v for k, v in mod.__salt__.items() if k.startswith("service.")})
    state.__opts__ = {"test": False}
    monkeypatch.setattr(mod.time, "sleep", lambda s: None)
    monkeypatch.setattr(state.time, "sleep", lambda s: None)
    return lb


def test_giving_up_the_vip_stops_keepalived_and_checks_another_node_answers(node):
    ret = state.released()
    assert ret["result"] is True and ret["changes"]["vip"] == {"old": "held", "new": "given up"}
    assert ("stop", "keepalived") in node.calls
    assert ("wait", f"https://{VIP}:443/health", "files.example.org", 30) in node.calls


def test_a_node_without_the_vip_changes_nothing(node):
    node.held = False
    ret = state.released()
    assert ret["result"] is True and ret["changes"] == {} and "does not hold" in ret["comment"]
    assert ("stop", "keepalived") not in node.calls


def test_a_vip_that_does_not_leave_in_30_s_fails(node):
    node.leaves_after = 1000
    ret = state.released()
    assert ret["result"] is False and "still holds the VIP 30 s after keepalived stopped" in ret["comment"]
    assert node.looks == 30


def test_nobody_answering_on_the_vip_fails(node):
    node.answers = 503
    ret = state.released()
    assert ret["result"] is False and "nobody answers on the VIP after lb1 gave it up" in ret["comment"]


def test_released_under_test_only_says_it_would_stop_keepalived(node):
    state.__opts__["test"] = True
    ret = state.released()
    assert ret["result"] is None and node.services["keepalived"] is True


def test_no_session_left_means_no_reload(node):
    ret = state.sessions_finished()
    assert ret["result"] is True and ret["changes"] == {} and ("reload", "haproxy") not in node.calls


def test_sessions_are_finished_by_a_reload(node):
    node.sessions = [3, 2, 1, 0]
    ret = state.sessions_finished(ports=[80, 443])
    assert ret["result"] is True and ret["changes"] == {"sessions": {"old": 3, "new": 0}}
    assert ("reload", "haproxy") in node.calls and "(3 s;" in ret["comment"]


def test_sessions_outlasting_the_bound_fail_the_step(node):
    node.sessions = [4]
    ret = state.sessions_finished(timeout=60)
    assert (
        ret["result"] is False
        and ret["comment"] == "4 web sessions still open on lb1 60 s after haproxy's reload"
    )


def test_sessions_under_test_are_counted_not_reloaded(node):
    node.sessions = [2]
    state.__opts__["test"] = True
    ret = state.sessions_finished()
    assert ret["result"] is None and ret["changes"] == {"sessions": {"old": 2, "new": 0}}
    assert ("reload", "haproxy") not in node.calls


def test_keepalived_is_started_again_and_haproxy_must_be_active(node):
    node.services["keepalived"] = False
    ret = state.contending()
    assert ret["result"] is True and ret["changes"] == {"keepalived": {"old": "stopped", "new": "running"}}
    node.services["haproxy"] = False
    ret = state.contending(timeout=3)
    assert ret["result"] is False and "haproxy is not active after 3 s" in ret["comment"]


def test_contending_under_test_starts_nothing(node):
    node.services["keepalived"] = False
    state.__opts__["test"] = True
    ret = state.contending()
    assert ret["result"] is None and node.services["keepalived"] is False
