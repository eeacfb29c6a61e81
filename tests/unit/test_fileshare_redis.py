"""fileshare_redis: RESP, INFO parsing, the Sentinel verdict, the master's hand-over decisions, and
seeding a config file only once."""

import os
import socket
import threading

import pytest
from site_topology import getter
from suite_modules import load

mod = load("_modules/fileshare_redis.py", "fileshare_redis_mod")
state = load("_states/fileshare_redis.py", "fileshare_redis_state")

INFO = (
    "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n"
    "slave0:ip=10.0.0.22,port=6379,state=online,offset=1,lag=0\r\n"
    "slave1:ip=10.0.0.23,port=6379,state=wait_bgsave,offset=0,lag=0\r\n"
)


def test_sentinel_changes_name_what_differs():
    reply = ["name", "fileshare", "down-after-milliseconds", "5000", "parallel-syncs", "1", "quorum", "2"]
    wanted = {"down-after-milliseconds": 1000, "parallel-syncs": 1, "quorum": 2, "failover-timeout": 60000}
    assert mod.sentinel_changes(reply, wanted) == {
        "down-after-milliseconds": ("5000", "1000"),
        "failover-timeout": (None, "60000"),
    }
    assert mod.sentinel_changes({"quorum": "2"}, {"quorum": 2}) == {}


def test_resp_round_trip():
    assert mod.encode("AUTH", "p w") == b"*2\r\n$4\r\nAUTH\r\n$3\r\np w\r\n"
    value, rest = mod.decode(b"*2\r\n$9\r\n10.0.0.21\r\n$4\r\n6379\r\n+OK\r\n")
    assert value == ["10.0.0.21", "6379"] and rest == b"+OK\r\n"
    assert mod.decode(b"*-1\r\n") == (None, b"")
    err, _ = mod.decode(b"-WRONGPASS invalid\r\n")
    assert isinstance(err, RuntimeError) and "WRONGPASS" in str(err)
    with pytest.raises(ValueError):
        mod.decode(b"$10\r\nshort\r\n")


def test_info_replicas_are_parsed():
    info = mod.parse_info(INFO)
    assert info["role"] == "master" and info["slave0"]["state"] == "online"


def test_agreed_needs_a_majority_of_the_answers():
    assert mod.agreed({"a": "x:1", "b": "x:1", "c": "y:1"}) == "x:1"
    assert mod.agreed({"a": "x:1", "b": "y:1"}) is None
    assert mod.agreed({"a": None, "b": None}) is None


def test_verdict_healthy_and_each_failure_named():
    answers = {"10.0.0.21": "10.0.0.21:6379", "10.0.0.22": "10.0.0.21:6379", "10.0.0.23": "10.0.0.21:6379"}
    online = mod.parse_info(INFO.replace("wait_bgsave", "online"))
    assert mod.sentinel_verdict(answers, online, 3, 2) == {
        "quorate": True,
        "master": "10.0.0.21:6379",
        "reasons": [],
    }
    lagging = mod.sentinel_verdict(answers, mod.parse_info(INFO), 3, 2)
    assert not lagging["quorate"]
    assert lagging["reasons"] == ["master 10.0.0.21:6379 has 1 replicas online, 2 expected"]
    split = mod.sentinel_verdict(dict(answers, **{"10.0.0.23": "10.0.0.22:6379"}), online, 3, 2)
    assert not split["quorate"] and split["master"] is None and "disagree" in split["reasons"][0]
    silent = mod.sentinel_verdict(dict(answers, **{"10.0.0.23": None}), online, 3, 2)
    assert silent["reasons"] == ["Sentinel on 10.0.0.23 does not answer or knows no master"]
    gone = mod.sentinel_verdict(answers, None, 3, 2)
    assert gone["reasons"] == ["master 10.0.0.21:6379 does not answer"]


def test_command_authenticates_then_asks(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    seen = []

    def serve():
        conn, _ = server.accept()
        with conn:
            seen.append(conn.recv(4096))
            conn.sendall(b"+OK\r\n$" + str(len(INFO)).encode() + b"\r\n" + INFO.encode() + b"\r\n")

    thread = threading.Thread(target=serve)
    thread.start()
    text = mod.command("127.0.0.1", server.getsockname()[1], "INFO", "replication", password="pw")
    thread.join()
    server.close()
    assert seen[0].startswith(b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n") and text == INFO


@pytest.fixture
def configure_loader_modules():
    chowned = []
    salt = {
        "fileshare_redis.sentinel_master": lambda name, port: None,
        "pillar.get": lambda key, default="", unmask=False: "s3cret" if unmask else "**********",
        "file.chown": lambda path, user, group: chowned.append(path),
        "fileshare_topology.get": getter({"architecture": "full_ha"}),
    }
    return {state: {"__salt__": salt, "__opts__": {"test": False}}}


def test_seeded_writes_once_and_never_again(tmp_path):
    conf = tmp_path / "sentinel.conf"
    conf.write_text("# the package's default\n")
    ret = state.seeded(
        str(conf),
        "sentinel",
        "10.0.0.22",
        "10.0.0.21",
        lines=["port 26379"],
        after=["sentinel down-after-milliseconds fileshare 5000"],
    )
    assert ret["result"] is True and "10.0.0.21" in ret["changes"]["seeded"]["new"]
    text = conf.read_text()
    assert 'sentinel monitor fileshare 10.0.0.21 6379 2\nsentinel auth-pass fileshare "s3cret"\n' in text
    assert text.index("monitor") < text.index("down-after") and oct(os.stat(conf).st_mode & 0o777) == "0o640"
    assert "s3cret" not in repr(ret)
    conf.write_text(text.replace("10.0.0.21", "10.0.0.23"))  # Sentinel rewrote it after a failover
    again = state.seeded(str(conf), "sentinel", "10.0.0.22", "10.0.0.21")
    assert again["changes"] == {} and "10.0.0.23" in conf.read_text()


def test_seeded_redis_follows_the_master_sentinel_reports(tmp_path, configure_loader_modules):
    state.__salt__["fileshare_redis.sentinel_master"] = lambda name, port: "10.0.0.23:6379"
    conf = tmp_path / "redis.conf"
    state.seeded(str(conf), "redis", "10.0.0.21", "10.0.0.21", lines=["include /etc/redis/fileshare.conf"])
    assert conf.read_text().endswith("include /etc/redis/fileshare.conf\nreplicaof 10.0.0.23 6379\n")
    master = tmp_path / "master.conf"
    state.__salt__["fileshare_redis.sentinel_master"] = lambda name, port: None
    state.seeded(str(master), "redis", "10.0.0.21", "10.0.0.21")
    assert "replicaof" not in master.read_text()


def test_seeded_takes_ports_and_the_master_name_from_the_topology(tmp_path, configure_loader_modules):
    state.__salt__["fileshare_topology.get"] = getter(
        {"ports": {"redis": 7001, "sentinel": 27001}, "names": {"sentinel_master": "cache"}}
    )
    asked = []
    state.__salt__["fileshare_redis.sentinel_master"] = lambda name, port: asked.append((name, port))
    conf = tmp_path / "sentinel.conf"
    state.seeded(str(conf), "sentinel", "10.0.0.22", "10.0.0.21")
    assert "sentinel monitor cache 10.0.0.21 7001 2\n" in conf.read_text() and asked == [("cache", 27001)]


@pytest.mark.parametrize(
    "reply, host",
    [
        (["10.0.0.22", "6379"], "10.0.0.22"),
        (None, None),
        ([], None),
        (["", "0"], None),
        ("OK", None),
    ],
)
def test_reported_host_of_a_sentinel_answer(reply, host):
    assert mod.reported_host(reply) == host


@pytest.mark.parametrize(
    "flags, running",
    [
        ("master", False),
        ("master,failover_in_progress", True),
        ("s_down,master,failover_in_progress,promoted", True),
        ("master,o_down", False),
    ],
)
def test_failover_in_progress_is_read_from_the_flags(flags, running):
    assert mod.failover_in_progress(["name", "fileshare", "ip", "10.0.0.21", "flags", flags]) is running
    assert mod.failover_in_progress(None) is False


ME, OTHER = "10.0.0.21", "10.0.0.22"


class Scripted:
    """A Redis node and its Sentinel as the hand-over sees them, on a clock moved only by sleep():
    PROMOTED_AFTER[attempt] is when (s after that attempt's FAILOVER) Sentinel names OTHER (None:
    never), HUNG_FOR how long a failover that did not promote stays in progress."""

    def __init__(self, role="master", promoted_after=(0.3,), hung_for=0.0, accepted=True, follows_after=2.0):
        self.now, self.roles, self.calls = 0.0, role, []
        self.promoted_after, self.hung_for, self.accepted = list(promoted_after), hung_for, accepted
        self.follows_after, self.attempt_at, self.replica_at = follows_after, None, None
        self.min = 1

    def role(self):
        if self.replica_at is not None and self.now >= self.replica_at + self.follows_after:
            return "slave"
        return self.roles

    def pause(self, ms):
        self.calls.append(("pause", ms))

    def unpause(self):
        self.calls.append(("unpause",))

    def failover(self):
        self.calls.append(("failover",))
        self.attempt_at = self.now
        return self.accepted

    def _promoted(self):
        attempts = sum(1 for c in self.calls if c == ("failover",))
        after = self.promoted_after[min(attempts, len(self.promoted_after)) - 1] if attempts else None
        return after is not None and self.now >= self.attempt_at + after

    def master(self):
        return OTHER if self._promoted() else ME

    def in_failover(self):
        return self.now < self.attempt_at + self.hung_for

    def replicaof(self, host):
        self.calls.append(("replicaof", host))
        self.replica_at = self.now

    def clients(self):
        return (
            "id=7 addr=10.0.0.31:40000 laddr=10.0.0.21:6379 fd=9 name= age=3 flags=N cmd=set\n"
            "id=8 addr=10.0.0.22:41000 laddr=10.0.0.21:6379 fd=10 name=sentinel-ee7d9f43-cmd flags=N\n"
            "id=9 addr=10.0.0.32:42000 laddr=10.0.0.21:6379 fd=11 name=webdav flags=N cmd=get\n"
        )

    def kill(self, client_id):
        self.calls.append(("kill", client_id))

    def min_replicas(self, n):
        self.calls.append(("min_replicas", n))
        prior, self.min = self.min, n
        return prior

    def sleep(self, seconds):
        self.now += seconds


def kinds(link):
    return [c[0] for c in link.calls]


def test_a_replica_has_nothing_to_hand_over():
    link = Scripted(role="slave")
    res = mod.hand_over_master(link, ME)
    assert res["handed_over"] is None and link.calls == [] and "a Redis slave" in res["notes"][0]


def test_a_redis_that_does_not_answer_has_nothing_to_hand_over():
    res = mod.hand_over_master(Scripted(role=None), ME)
    assert res["handed_over"] is None and "does not answer" in res["notes"][0]


def test_writes_are_paused_around_the_failover_then_the_old_master_follows_and_cuts_its_clients():
    link = Scripted(promoted_after=[0.3])
    res = mod.hand_over_master(link, ME)
    assert res == {
        "handed_over": True,
        "master": OTHER,
        "attempts": 1,
        "notes": [f"{ME} handed the Redis master over to {OTHER} (SENTINEL FAILOVER)"],
    }
    # Writes stay paused here while HAProxy moves; then this node follows the new master and cuts the
    # clients still here, but not the Sentinel, before writes are let go (a replica answers READONLY).
    # Redis refuses a write for want of replicas before it looks at the pause: min-replicas-to-write
    # is 0 while writes wait, and comes back before they are let go.
    assert link.calls == [
        ("pause", 6000),
        ("min_replicas", 0),
        ("failover",),
        ("pause", 6000),
        ("min_replicas", 0),
        ("replicaof", OTHER),
        ("kill", 7),
        ("kill", 9),
        ("min_replicas", 1),
        ("unpause",),
    ]
    assert link.min == 1
    # Promoted at 0.3 s, the hold CUT_HOLD, then the old master follows and is seen a replica 2 s later.
    assert link.now == pytest.approx(0.3 + mod.CUT_HOLD + 2.0)


def test_a_promotion_is_looked_for_5_5_s_then_the_hung_failover_is_waited_out_and_tried_again():
    link = Scripted(promoted_after=[None, 1.0], hung_for=40)
    res = mod.hand_over_master(link, ME)
    assert res["handed_over"] is True and res["attempts"] == 2
    assert kinds(link) == [
        "pause",
        "min_replicas",
        "failover",
        "min_replicas",
        "unpause",
        "pause",
        "min_replicas",
        "failover",
        "pause",
        "min_replicas",
        "replicaof",
        "kill",
        "kill",
        "min_replicas",
        "unpause",
    ]
    # Writes flowed between the attempts with the site's min-replicas-to-write.
    assert [c for c in link.calls if c[0] == "min_replicas"] == [("min_replicas", n) for n in (0, 1, 0, 0, 1)]
    assert "attempt 1: no new Redis master 5.5 s after SENTINEL FAILOVER" in res["notes"][0]
    # 55 looks 0.1 s apart, then looks every second until the failover (40 s from its start) ends.
    assert link.now == pytest.approx(40.5 + 1.0 + mod.CUT_HOLD + 2.0)


def test_a_promotion_seen_while_waiting_out_the_failover_ends_the_attempts():
    link = Scripted(promoted_after=[20.0], hung_for=60)
    res = mod.hand_over_master(link, ME)
    assert res["handed_over"] is True and res["attempts"] == 1
    # Writes flowed while the hung failover was waited out: they wait again while HAProxy moves.
    assert [k for k in kinds(link) if k != "min_replicas"] == [
        "pause",
        "failover",
        "unpause",
        "pause",
        "replicaof",
        "kill",
        "kill",
        "unpause",
    ]
    assert link.min == 1


def test_the_hold_comes_before_following_the_new_master():
    link = Scripted(promoted_after=[0.3])
    seen = {}
    replicaof = link.replicaof

    def at_replicaof(host):
        seen["at"] = link.now
        replicaof(host)

    link.replicaof = at_replicaof
    mod.hand_over_master(link, ME)
    assert seen["at"] == pytest.approx(0.3 + mod.CUT_HOLD)


@pytest.mark.parametrize(
    "listing, ids",
    [
        ("", []),
        (None, []),
        ("id=3 addr=1.2.3.4:5 name= flags=N\nid=4 addr=1.2.3.4:6 name=sentinel-ab12-cmd flags=N\n", [3]),
        ("id=5 name=php cmd=set\r\nid=x name=\nnot a client line\n", [5]),
    ],
)
def test_a_hand_over_cuts_every_normal_client_but_sentinels(listing, ids):
    assert mod.clients_to_cut(listing) == ids


def test_a_hung_failover_is_waited_out_at_most_90_s():
    link = Scripted(promoted_after=[None, None, None], hung_for=1000)
    res = mod.hand_over_master(link, ME)
    assert res["handed_over"] is False and res["attempts"] == 3 and res["master"] is None
    assert link.now == pytest.approx(3 * (5.5 + 90))
    assert res["notes"][-1] == (
        f"Sentinel named no new Redis master after 3 SENTINEL FAILOVERs: {ME} stays master"
    )
    assert kinds(link).count("failover") == 3 and kinds(link)[-1] == "unpause"
    assert "replicaof" not in kinds(link) and link.min == 1


def test_a_refused_failover_is_not_waited_for():
    link = Scripted(accepted=False, promoted_after=[None, None, None])
    res = mod.hand_over_master(link, ME)
    assert res["handed_over"] is False and link.now == 0
    assert kinds(link) == ["pause", "min_replicas", "failover", "min_replicas", "unpause"] * 3
    assert link.min == 1


def test_writes_resume_even_when_replicaof_fails():
    link = Scripted()

    def refuse(host):
        raise RuntimeError("ERR replicaof refused")

    link.replicaof = refuse
    with pytest.raises(RuntimeError):
        mod.hand_over_master(link, ME)
    assert kinds(link)[-1] == "unpause"


def test_an_old_master_that_does_not_follow_within_60_s_fails_the_hand_over():
    link = Scripted(follows_after=61)
    res = mod.hand_over_master(link, ME)
    assert res["handed_over"] is False and res["master"] == OTHER
    assert res["notes"][-1] == f"{ME} is still the Redis master 60 s after SENTINEL FAILOVER"


@pytest.fixture
def not_master():
    done = []
    state.__salt__ = {
        "fileshare_topology.get": getter(
            {"architecture": "full_ha", "nodes": [{"name": "im1", "address": ME, "roles": ["intermediate"]}]},
            "im1",
        ),
        "fileshare_redis.role": lambda address, port: "master",
        "fileshare_redis.hand_over": lambda *args: (
            done.append(args)
            or {"handed_over": True, "master": OTHER, "attempts": 1, "notes": ["handed over"]}
        ),
    }
    state.__opts__ = {"test": False}
    return done


def test_not_master_hands_the_master_over(not_master):
    ret = state.not_master()
    assert ret["result"] is True and ret["changes"] == {"master": {"old": ME, "new": OTHER}}
    assert not_master == [("fileshare", ME, None, None)]


def test_not_master_under_test_says_it_would_and_does_not(not_master):
    state.__opts__["test"] = True
    ret = state.not_master("fileshare")
    assert ret["result"] is None and ret["changes"]["master"]["old"] == ME and not_master == []


def test_not_master_on_a_replica_changes_nothing(not_master):
    state.__salt__["fileshare_redis.role"] = lambda address, port: "slave"
    ret = state.not_master("fileshare")
    assert ret["result"] is True and ret["changes"] == {} and not_master == []


def test_not_master_fails_with_the_modules_reason(not_master):
    def fail(*args):
        raise mod.CommandExecutionError("Sentinel named no new Redis master")

    state.__salt__["fileshare_redis.hand_over"] = fail
    ret = state.not_master("fileshare")
    assert ret["result"] is False and "Sentinel named no new Redis master" in ret["comment"]
