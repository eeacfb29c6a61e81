"""The backup module's pure logic: database positions, tags, snapshot choice, restic's failures named,
a restore's scope and path (_modules/fileshare_backup.py)."""

import datetime

import pytest
from suite_modules import load

fb = load("_modules/fileshare_backup.py")

SNAPSHOTS = [
    {
        "id": "aaaa1111" + "0" * 56,
        "short_id": "aaaa1111",
        "time": "2026-12-06T10:00:00.5Z",
        "tags": ["fileshare"],
    },
    {
        "id": "bbbb2222" + "0" * 56,
        "short_id": "bbbb2222",
        "time": "2026-12-06T12:00:00.5Z",
        "tags": ["fileshare"],
    },
    {
        "id": "cccc3333" + "0" * 56,
        "short_id": "cccc3333",
        "time": "2026-12-06T13:00:00Z",
        "tags": ["other-tool"],
    },
    {
        "id": "bbbb9999" + "0" * 56,
        "short_id": "bbbb9999",
        "time": "2026-12-06T11:00:00Z",
        "tags": ["fileshare"],
    },
]


def test_position_reads_binlog_gtid_and_galera_seqno():
    where = fb.position("mariadb-bin.000003\t1234\t0-1-56\n", "6b3f1c1e-1b1e-11ee-9a1d-0242ac120002:77\n")
    assert where == {
        "binlog_file": "mariadb-bin.000003",
        "binlog_pos": 1234,
        "gtid": "0-1-56",
        "galera_uuid": "6b3f1c1e-1b1e-11ee-9a1d-0242ac120002",
        "seqno": 77,
    }


def test_position_without_binlog_or_galera_is_empty_not_an_error():
    assert fb.position("", "") == dict.fromkeys(["binlog_file", "binlog_pos", "gtid", "galera_uuid", "seqno"])


def test_multi_domain_gtid_survives_the_tag_round_trip():
    where = fb.position("mariadb-bin.000001\t9\t0-1-5,1-2-7", "")
    assert where["gtid"] == "0-1-5,1-2-7"
    tags = fb.tags(where)
    assert tags == ["fileshare", "gtid=0-1-5+1-2-7"]
    assert all("," not in t for t in tags)
    assert fb.position_of({"tags": tags}) == {"gtid": "0-1-5,1-2-7"}


def test_seqno_is_tagged_and_read_back():
    assert fb.position_of({"tags": fb.tags({"seqno": 12, "gtid": None})}) == {"seqno": 12}


def test_latest_is_the_newest_of_our_snapshots_only():
    assert fb.pick_snapshot(SNAPSHOTS)["short_id"] == "bbbb2222"


def test_a_unique_prefix_picks_a_snapshot():
    assert fb.pick_snapshot(SNAPSHOTS, "aaaa")["short_id"] == "aaaa1111"


@pytest.mark.parametrize(
    ("wanted", "words"),
    [
        ("dead", "unknown snapshot dead: the repository's latest are"),
        ("bbbb", "ambiguous (2 match)"),
        ("cccc3333", "unknown snapshot cccc3333"),
        ("ab", "neither 'latest' nor a snapshot id"),
        ("yesterday", "neither 'latest' nor a snapshot id"),
    ],
)
def test_a_snapshot_that_cannot_be_chosen_is_named(wanted, words):
    with pytest.raises(fb.BackupError, match=words.replace("(", r"\(").replace(")", r"\)")):
        fb.pick_snapshot(SNAPSHOTS, wanted)


def test_an_empty_repository_says_to_take_a_backup_first():
    with pytest.raises(fb.BackupError, match="no fileshare snapshot"):
        fb.pick_snapshot([SNAPSHOTS[2]])


@pytest.mark.parametrize(
    ("stderr", "words"),
    [
        ("Fatal: wrong password or no key found\n", "wrong password for the backup repository /r"),
        (
            "Fatal: unable to open config file: stat /r/config: no such file or directory\n"
            "Is there a repository at the following location?\n/r",
            "/r is unreachable or not initialised",
        ),
        ("Fatal: repository does not exist: unable to open config file", "unreachable"),
        ('Fatal: no matching ID found for prefix "dead"', "no such snapshot"),
        ("Fatal: unable to create lock in backend: repository is already locked", "locked"),
        ("something odd\nFatal: disk on fire\n", "restic failed on /r: Fatal: disk on fire"),
    ],
)
def test_restic_failures_are_named(stderr, words):
    assert words in fb.restic_problem(stderr, "/r")


def test_restic_problem_never_echoes_more_than_its_last_line():
    assert "secret" not in fb.restic_problem("secret first line\nFatal: bad\n", "/r")


def test_forget_keeps_what_the_retention_says():
    assert fb.forget_args({"daily": 7, "weekly": 4, "monthly": 0}) == [
        "--keep-daily",
        "7",
        "--keep-weekly",
        "4",
    ]
    assert fb.forget_args({}) == ["--keep-last", "1"]


def test_site_restore_restores_the_data_directory():
    assert fb.restore_target("site", "", "/srv/fileshare/data/") == "/srv/fileshare/data"


def test_path_restore_is_inside_the_data_directory():
    assert (
        fb.restore_target("path", "/alice//docs/./", "/srv/fileshare/data")
        == "/srv/fileshare/data/alice/docs"
    )


@pytest.mark.parametrize(
    ("scope", "path", "words"),
    [
        ("everything", "", "scope 'everything' is unknown: use one of site, path"),
        ("path", "", "needs a path inside the data directory"),
        ("path", "alice/../../etc", "leaves the data directory"),
        ("site", "alice", "give no path"),
    ],
)
def test_a_bad_scope_or_path_is_refused(scope, path, words):
    with pytest.raises(fb.BackupError, match=words.replace("(", r"\(")):
        fb.restore_target(scope, path, "/srv/fileshare/data")


def test_age_reads_restics_nanosecond_times():
    now = datetime.datetime(2026, 12, 6, 12, 1, 0, tzinfo=datetime.UTC)
    assert fb.age_seconds({"time": "2026-12-06T12:00:00.123456789Z"}, now) == 60
    assert fb.age_seconds({"time": "2026-12-06T13:00:00.5+01:00"}, now) == 60


def test_the_manifest_records_the_position_and_when_the_copy_was_taken():
    got = fb.manifest({"gtid": "0-1-5"}, "/d", "2026-12-06T12:00:00+00:00", 1.23456)
    assert got["database"] == {"gtid": "0-1-5"} and got["database_seconds"] == 1.235
    assert got["files_after_database"] is True


def test_the_script_refuses_an_unknown_command(capsys):
    assert fb.main(["wipe"]) == 2
    assert "usage: fileshare-backup" in capsys.readouterr().err


def test_a_missing_configuration_is_named(tmp_path):
    with pytest.raises(fb.BackupError, match="apply fileshare.backup_job on this node first"):
        fb.probe(str(tmp_path / "nope.json"))


def test_a_backup_leaves_out_the_suites_probe_files_and_tags_the_position():
    args = fb.backup_args("aio1", ["/srv/fileshare/data", "/var/lib/staging"], ["fileshare", "gtid=0-1-7"])
    assert args[:6] == ["backup", "--json", "--host", "aio1", "/srv/fileshare/data", "/var/lib/staging"]
    excludes = [args[i + 1] for i, a in enumerate(args) if a == "--exclude"]
    # The health endpoint's and the data watch's probes and a PUT's part file vanish: restic would end
    # the backup with exit 3 ("incomplete snapshot") when it saw one go.
    assert excludes == [".fileshare-health-*", ".fileshare-watch-*", ".fileshare-put-*"]
    assert [args[i + 1] for i, a in enumerate(args) if a == "--tag"] == ["fileshare", "gtid=0-1-7"]


MEMBERS = [{"name": f"db{i}", "address": f"10.0.0.5{i}", "health_port": 9200} for i in (1, 2, 3)]


@pytest.mark.parametrize(
    ("healthy", "chosen"),
    [
        ({"db1", "db2", "db3"}, "db3"),
        ({"db1", "db2"}, "db2"),
        ({"db2", "db3"}, "db3"),
        # The writer is copied only when it is the only synced member (the copy still desyncs it).
        ({"db1"}, "db1"),
    ],
)
def test_the_copy_comes_from_the_last_synced_member_in_writer_order(healthy, chosen):
    assert fb.choose_source(MEMBERS, healthy)["name"] == chosen


def test_no_synced_member_is_named_as_the_problem():
    with pytest.raises(fb.BackupError, match=r"no database member is synced to copy from \(db1, db2, db3\)"):
        fb.choose_source(MEMBERS, set())


def test_ssh_never_prompts_and_pins_the_host_key_in_the_jobs_own_file():
    source = {"key": "/k", "known_hosts": "/kh", "port": 2222, "user": "root"}
    argv = fb.ssh_argv(source, MEMBERS[2])
    assert argv[:5] == ["ssh", "-i", "/k", "-p", "2222"]
    assert "BatchMode=yes" in argv and "UserKnownHostsFile=/kh" in argv
    assert "StrictHostKeyChecking=accept-new" in argv
    assert argv[-2:] == ["root@10.0.0.53", "stream-db"]


def test_the_backup_key_runs_the_copy_only_from_the_backup_node():
    options = fb.authorized_options("/usr/bin/python3 /usr/local/sbin/fileshare-backup", ["10.0.0.80"])
    assert options == [
        "restrict",
        'command="/usr/bin/python3 /usr/local/sbin/fileshare-backup ssh-command"',
        'from="10.0.0.80"',
    ]


def test_the_galera_position_of_a_stream_copy_drops_the_domain_id():
    # xtrabackup_galera_info as MariaDB 10.11's mariabackup writes it (seen in the lab).
    found = fb.position("mariadb-bin.000006\t389\t0-1-22\n", "13c4872a-f1c0-11f1-9978-7313c659ed35:25 0\n")
    assert (found["galera_uuid"], found["seqno"], found["gtid"]) == (
        "13c4872a-f1c0-11f1-9978-7313c659ed35",
        25,
        "0-1-22",
    )


@pytest.mark.parametrize("asked", ["stream-db", " receive-db\n"])
def test_the_backup_key_runs_the_copy_commands(asked):
    assert fb.forced(asked) == asked.strip()


@pytest.mark.parametrize("asked", [None, "", "bash", "stream-db; rm -rf /", "receive-db x"])
def test_the_backup_key_runs_nothing_else(asked):
    with pytest.raises(fb.BackupError, match="the backup key may run stream-db or receive-db here"):
        fb.forced(asked)


def test_a_restored_member_starts_at_the_copys_position_never_safe_to_bootstrap_by_itself():
    text = fb.grastate_text({"galera_uuid": "13c4872a-f1c0-11f1-9978-7313c659ed35", "seqno": 25})
    assert "uuid:    13c4872a-f1c0-11f1-9978-7313c659ed35\n" in text and "seqno:   25\n" in text
    assert text.endswith("safe_to_bootstrap: 0\n")


def test_a_copy_without_a_galera_position_cannot_seed_a_cluster():
    with pytest.raises(fb.BackupError, match="records no Galera position"):
        fb.grastate_text({"galera_uuid": None, "seqno": None})
