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


def test_an_sftp_repository_is_parsed_and_a_local_path_is_not():
    assert fb.sftp_target("sftp:restic@10.0.0.9:/srv/restic/site") == {
        "user": "restic",
        "host": "10.0.0.9",
        "path": "/srv/restic/site",
    }
    assert fb.sftp_target("/var/backups/fileshare/restic") is None


def test_the_offsite_ssh_command_pins_the_host_key_and_uses_the_job_key_only():
    sftp = {"key": "/etc/k/id", "known_hosts": "/etc/k/offsite", "port": 2222}
    command = fb.sftp_command("sftp:restic@backup.example.org:/srv/r", sftp)
    assert command.startswith("ssh -i /etc/k/id -p 2222 ")
    assert "StrictHostKeyChecking=yes" in command and "accept-new" not in command
    assert "UserKnownHostsFile=/etc/k/offsite" in command and "BatchMode=yes" in command
    assert command.endswith("restic@backup.example.org -s sftp")


@pytest.mark.parametrize(
    "port, line",
    [(22, "h.example.org ssh-ed25519 AAAAkey\n"), (2222, "[h.example.org]:2222 ssh-ed25519 AAAAkey\n")],
)
def test_the_known_hosts_line_names_the_port_as_ssh_does(port, line):
    assert fb.known_hosts_line("h.example.org", port, "ssh-ed25519 AAAAkey comment") == line


@pytest.mark.parametrize(
    "stderr, words",
    [
        ("Host key verification failed.\nFatal: unable to open repository", "does not present the host key"),
        (
            "restic@h: Permission denied (publickey).\nFatal: unable to start the sftp session",
            "refused this node's key",
        ),
        (
            "ssh: connect to host h port 22: No route to host\nFatal: unable to open repository",
            "is unreachable (ssh: connect to host h port 22: No route to host)",
        ),
    ],
)
def test_an_offsite_repository_s_ssh_failures_are_named(stderr, words):
    assert words in fb.restic_problem(stderr, "sftp:restic@h:/srv/r")


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


def test_the_throttle_is_restic_s_upload_limit_and_zero_means_none():
    assert fb.limit_args(8192) == ["--limit-upload", "8192"]
    assert fb.limit_args(0) == [] and fb.limit_args(None) == []


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
    with pytest.raises(
        fb.BackupError, match="the backup key may run stream-db, receive-db, stream-binlogs here"
    ):
        fb.forced(asked)


def test_a_restored_member_starts_at_the_copys_position_never_safe_to_bootstrap_by_itself():
    text = fb.grastate_text({"galera_uuid": "13c4872a-f1c0-11f1-9978-7313c659ed35", "seqno": 25})
    assert "uuid:    13c4872a-f1c0-11f1-9978-7313c659ed35\n" in text and "seqno:   25\n" in text
    assert text.endswith("safe_to_bootstrap: 0\n")


def test_a_copy_without_a_galera_position_cannot_seed_a_cluster():
    with pytest.raises(fb.BackupError, match="records no Galera position"):
        fb.grastate_text({"galera_uuid": None, "seqno": None})


# ---- point in time ------------------------------------------------------------------------------------

UTC = datetime.UTC


def _snap(sid, when, tags):
    return {"id": sid * 8, "short_id": sid, "time": when, "tags": tags}


FULL = [
    _snap("aaaa0001", "2026-12-07T01:00:00.123456789+00:00", ["fileshare", "gtid=0-1-100"]),
    _snap("aaaa0002", "2026-12-07T03:00:00.5Z", ["fileshare", "gtid=0-1-300"]),
]
LOGS = [
    _snap("bbbb0001", "2026-12-07T01:15:00.1+00:00", ["fileshare-binlog", "member=db3"]),
    _snap("bbbb0002", "2026-12-07T02:30:00.1+00:00", ["fileshare-binlog", "member=db3"]),
    _snap("bbbb0003", "2026-12-07T03:30:00.1+00:00", ["fileshare-binlog", "member=db2"]),
]
NOW = datetime.datetime(2026, 12, 7, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-12-07T02:10:00Z", datetime.datetime(2026, 12, 7, 2, 10, tzinfo=UTC)),
        ("2026-12-07 02:10:00", datetime.datetime(2026, 12, 7, 2, 10, tzinfo=UTC)),
        ("2026-12-07T03:10:00.7+01:00", datetime.datetime(2026, 12, 7, 2, 10, tzinfo=UTC)),
    ],
)
def test_a_point_in_time_is_read_as_utc_to_the_second(text, expected):
    assert fb.parse_when(text) == expected


def test_a_point_in_time_that_is_no_time_is_named():
    with pytest.raises(fb.BackupError, match="restore:time 'yesterday' is not a time"):
        fb.parse_when("yesterday")


def test_the_plan_takes_the_newest_backup_before_the_point_and_the_first_archive_after_it():
    plan = fb.pitr_plan(FULL, LOGS, datetime.datetime(2026, 12, 7, 2, 10, tzinfo=UTC), now=NOW)
    assert plan["base"]["short_id"] == "aaaa0001" and plan["logs"]["short_id"] == "bbbb0002"
    plan = fb.pitr_plan(FULL, LOGS, datetime.datetime(2026, 12, 7, 3, 0, 1, tzinfo=UTC), now=NOW)
    assert plan["base"]["short_id"] == "aaaa0002" and plan["logs"]["short_id"] == "bbbb0003"


@pytest.mark.parametrize(
    "when, words",
    [
        (
            datetime.datetime(2026, 12, 7, 0, 59, tzinfo=UTC),
            "is before the oldest backup (2026-12-07T01:00:00Z)",
        ),
        (datetime.datetime(2026, 12, 7, 3, 45, tzinfo=UTC), "archived up to 2026-12-07T03:30:00Z"),
        (datetime.datetime(2026, 12, 7, 5, 0, tzinfo=UTC), "is in the future"),
    ],
)
def test_a_point_the_backups_cannot_reach_is_refused_with_the_reason(when, words):
    with pytest.raises(fb.BackupError, match=words.replace("(", r"\(").replace(")", r"\)")):
        fb.pitr_plan(FULL, LOGS, when, now=NOW)


def test_a_backup_without_a_gtid_cannot_be_rolled_forward():
    full = [_snap("cccc0001", "2026-12-07T01:00:00Z", ["fileshare"])]
    with pytest.raises(fb.BackupError, match="records no GTID"):
        fb.pitr_plan(full, LOGS, datetime.datetime(2026, 12, 7, 2, 0, tzinfo=UTC), now=NOW)


def test_gtid_lists_are_read_per_domain():
    assert fb.gtid_domains("0-1-5,1-1-1234") == {0: 5, 1: 1234}
    assert fb.gtid_domains("1-1-7+2-3-9") == {1: 7, 2: 9}
    assert fb.gtid_domains("") == {}


@pytest.mark.parametrize(
    "start, first_list, gap",
    [
        ("1-1-100", "1-1-90", None),  # the logs begin before the backup: the replay skips up to 100
        ("1-1-100", "1-1-100", None),
        ("1-1-100", "", None),  # the server's first log: nothing before it
        ("1-1-100", "1-1-120", (100, 120)),  # 101-120 are in no archived log
        ("1-1-100,101-1-4", "1-1-100,102-1-9", None),  # another member's own events: not the site's
        ("101-1-4", "1-1-7", (0, 7)),  # the backup saw no site write, the logs begin after seven
    ],
)
def test_a_gap_between_the_backup_and_the_first_archived_log_is_found(start, first_list, gap):
    assert fb.binlog_gap(start, first_list, 1) == gap


def test_binary_logs_are_the_numbered_files_oldest_first():
    names = ["mariadb-bin.000010", "mariadb-bin.index", "mariadb-bin.000002", "other.000001", "mariadb-bin.x"]
    assert fb.binlog_names(names, "mariadb-bin") == ["mariadb-bin.000002", "mariadb-bin.000010"]


def test_the_replay_starts_after_the_backup_gtid_and_stops_before_the_second():
    when = datetime.datetime(2026, 12, 7, 2, 10, tzinfo=UTC)
    argv = fb.replay_argv("/usr/bin/mariadb-binlog", "0-1-5+1-1-9+101-1-2", when, ["a", "b"], 1)
    assert argv == [
        "/usr/bin/mariadb-binlog",
        "--no-defaults",
        "--do-domain-ids=1",
        "--start-position=1-1-9",
        "--stop-datetime=2026-12-07 02:10:00",
        "a",
        "b",
    ]
    # No site write before the backup: every write of the domain in the logs is replayed.
    assert "--start-position" not in " ".join(fb.replay_argv("m", "101-1-2", when, ["a"], 1))


def test_the_gtid_event_line_of_mysqlbinlog_is_recognised():
    line = b"#261207  2:10:00 server id 1  end_log_pos 1234 CRC32 0x1a2b3c4d \tGTID 0-1-45 trans\n"
    assert fb.GTID_EVENT.search(line).group(1) == b"0-1-45"
    assert fb.GTID_EVENT.search(b"/*!100001 SET @@session.gtid_seq_no=45*//*!*/;\n") is None
