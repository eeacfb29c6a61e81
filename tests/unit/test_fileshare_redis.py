"""fileshare_redis: RESP, INFO parsing, the Sentinel verdict, and seeding a config file only once."""

import os
import socket
import threading

import pytest
from suite_modules import load

mod = load("_modules/fileshare_redis.py", "fileshare_redis_mod")
state = load("_states/fileshare_redis.py", "fileshare_redis_state")

INFO = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n" \
       "slave0:ip=10.0.0.22,port=6379,state=online,offset=1,lag=0\r\n" \
       "slave1:ip=10.0.0.23,port=6379,state=wait_bgsave,offset=0,lag=0\r\n"


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
    assert mod.sentinel_verdict(answers, online, 3, 2) == {"quorate": True, "master": "10.0.0.21:6379",
                                                           "reasons": []}
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
    }
    return {state: {"__salt__": salt, "__opts__": {"test": False}}}


def test_seeded_writes_once_and_never_again(tmp_path):
    conf = tmp_path / "sentinel.conf"
    conf.write_text("# the package's default\n")
    ret = state.seeded(str(conf), "sentinel", "10.0.0.22", "10.0.0.21", lines=["port 26379"],
                       after=["sentinel down-after-milliseconds fileshare 5000"])
    assert ret["result"] is True and "10.0.0.21" in ret["changes"]["seeded"]["new"]
    text = conf.read_text()
    assert "sentinel monitor fileshare 10.0.0.21 6379 2\nsentinel auth-pass fileshare \"s3cret\"\n" in text
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
