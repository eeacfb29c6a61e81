"""Backups and restore on all_in_one, for real (docs/backup.md): the lean drill of issue 14.

Scenario: files (WebDAV PUT through the TLS front, each acknowledged 201) and rows (committed) →
`state.orchestrate fileshare.backup` → more files and rows → a folder deleted → `fileshare.restore`
scope path brings it back in place (sha256 of every file acknowledged before the backup; a file written
since in another folder untouched; /health 200) → bad input (unknown snapshot, wrong password,
unreachable repository) refused with one message naming it, nothing changed → the table dropped →
`fileshare.restore` scope site: every row and every file acknowledged before the backup, by sha256 →
the snapshot holds the site's pillar as the node has it (the bundle to rebuild the master) → rows
before a new backup, up to a second T and after it: `fileshare.restore` to T brings back exactly those
before T, and a time before the oldest backup is refused →
the lab's outsider as an off-site SFTP host: the backup node's pillar points there, the repository step
refuses until the host authorizes the node's key, then a backup lands there and a deleted folder comes
back from it; a host presenting another key than the pinned one is refused.
Names are unique per run, so the module runs over a lab's leftovers (--reuse-deployed).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import time
import uuid

import pytest
import yaml
from fileshare_lab import ask, logic
from test_all_in_one import NODE, Front

FILES_PER_FOLDER = 20
ROWS = 300


def orchestrate(lab, sls: str, pillar: dict | None = None):
    """(seconds, output, failures) of `salt-run state.orchestrate SLS` on the lab's master."""
    return ask.orchestrate(lab.handle, sls, pillar, timeout=900)


def step_return(out: dict, fun: str):
    """What the step calling FUN returned on the node."""
    found = logic.step_return(out, fun)
    assert found is not None, f"no step ran {fun}: {json.dumps(out)[:2000]}"
    return found


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Site:
    """The drill's data: what was acknowledged, and how to read it back."""

    def __init__(self, lab, front: Front, node: str = NODE, db_node: str = NODE):
        # node: the backup node (its configuration, and the data directory as it sees it); db_node: where
        # rows are written and read (on HA a database node, through its local server).
        self.lab, self.front, self.node, self.db_node = lab, front, lab.node(node), lab.node(db_node)
        run = uuid.uuid4().hex[:8]
        self.folders = [f"bk-{run}-a", f"bk-{run}-b"]
        self.table = f"bk_{run}"
        self.files: dict[str, str] = {}
        self.rows: dict[int, str] = {}
        self.measured: dict[str, float] = {}
        config = json.loads(self.node.run("cat /etc/fileshare/backup.json", check=True).stdout)
        self.data_dir = config["data_dir"]

    def put(self, path: str, text: str) -> None:
        status = self.front.curl("PUT", path, data=text).status
        assert status == 201, (path, status)
        self.files[path] = sha(text)

    def sql(self, statement: str) -> str:
        command = f"HOME=/root mysql -N -B fileshare -e {json.dumps(statement)}"
        return self.db_node.run(command, check=True).stdout

    def insert(self, first: int, count: int) -> dict[int, str]:
        values = {i: uuid.uuid4().hex * 4 for i in range(first, first + count)}
        self.sql(
            f"INSERT INTO {self.table} (id, v) VALUES " + ",".join(f"({i}, '{v}')" for i, v in values.items())
        )
        return {i: sha(v) for i, v in values.items()}

    def file_digests(self, paths) -> dict[str, str | None]:
        listing = self.node.run(
            "cd " + self.data_dir + " && sha256sum " + " ".join(p.lstrip("/") for p in paths) + " 2>/dev/null"
        ).stdout
        found = {"/" + line.split(None, 1)[1].strip(): line.split()[0] for line in listing.splitlines()}
        return {p: found.get(p) for p in paths}

    def row_digests(self) -> dict[int, str]:
        out = self.sql(f"SELECT id, SHA2(v, 256) FROM {self.table}")
        return {int(i): d for i, d in (line.split("\t") for line in out.splitlines())}


@pytest.fixture(scope="module")
def site(all_in_one_lab, tmp_path_factory):
    node = all_in_one_lab.node(NODE)
    ca = tmp_path_factory.mktemp("ca") / "lab-ca.crt"
    ca.write_text(node.run("cat /etc/fileshare/pki/lab-ca.crt", check=True).stdout)
    return Site(all_in_one_lab, Front(node.address, ca))


def write_and_back_up(site: Site, rows: int = ROWS) -> Site:
    """Files and rows acknowledged, then `fileshare.backup`; what is written after it is kept apart
    (site.before: the files in the snapshot; site.after_a/after_b: one file in each folder since)."""
    for folder in site.folders:
        assert site.front.curl("MKCOL", f"/{folder}/").status == 201
        for i in range(FILES_PER_FOLDER):
            site.put(f"/{folder}/f{i:02d}.txt", f"{folder} {i} {uuid.uuid4().hex * (1 + i * 50)}\n")
    site.sql(f"CREATE TABLE {site.table} (id INT PRIMARY KEY, v VARCHAR(255) NOT NULL)")
    site.rows = site.insert(0, rows)
    seconds, out, failures = orchestrate(site.lab, "fileshare.backup")
    assert failures == [], json.dumps(out)[:3000]
    site.measured["backup_seconds"] = round(seconds, 1)
    site.backup = step_return(out, "fileshare_backup.run")
    site.before = dict(site.files)
    site.after_a = f"/{site.folders[0]}/after.txt"
    site.after_b = f"/{site.folders[1]}/after.txt"
    site.put(site.after_a, "written after the backup\n")
    site.put(site.after_b, "written after the backup, elsewhere\n")
    return site


@pytest.fixture(scope="module")
def backed_up(site):
    write_and_back_up(site)
    site.insert(ROWS, 10)
    return site


def test_a_backup_records_its_snapshot_and_the_database_position(backed_up):
    got = backed_up.backup
    assert got["snapshot"] and got["position"]["gtid"], got
    latest = backed_up.lab.call(NODE, "fileshare_backup.status")["latest"]
    assert latest["id"].startswith(got["snapshot"])
    assert latest["position"]["gtid"] == got["position"]["gtid"]


def test_the_snapshot_holds_the_site_configuration_to_rebuild_the_master(backed_up):
    site = backed_up
    got = site.lab.call(site.node.name, "fileshare_backup.site_bundle", "latest")
    try:
        kept = yaml.safe_load(site.node.run(f"cat {got['path']}", check=True).stdout)
        assert kept == site.lab.call(site.node.name, "pillar.get", "fileshare", "unmask=True")
        assert kept["secrets"]["backup_password"], "the bundle holds the secrets"
        modes = site.node.run(
            f"stat -c %a {got['path']} /etc/fileshare/backup-site/pillar.yaml"
        ).stdout.split()
        assert modes == ["600", "600"], modes
    finally:
        site.node.run(f"rm -rf {got['path'].split('/etc/fileshare/')[0]}")


def delete_and_restore_folder(site: Site) -> dict[str, str]:
    """The first folder deleted through the front, then `fileshare.restore` scope path; returns the
    folder's files as acknowledged before the backup, checked identical after the restore."""
    folder = site.folders[0]
    assert site.front.curl("DELETE", f"/{folder}/").status == 204
    seconds, out, failures = orchestrate(
        site.lab, "fileshare.restore", {"restore": {"scope": "path", "path": folder}}
    )
    assert failures == [], json.dumps(out)[:3000]
    site.measured["path_restore_seconds"] = round(seconds, 1)
    restored = {p: d for p, d in site.before.items() if p.startswith(f"/{folder}/")}
    assert site.file_digests(restored) == restored
    return restored


def test_a_deleted_folder_comes_back_in_place_while_the_site_serves(backed_up):
    site = backed_up
    restored = delete_and_restore_folder(site)
    # The folder is as it was at the backup; the other folder kept what was written since.
    assert site.file_digests([site.after_a]) == {site.after_a: None}
    assert site.file_digests([site.after_b]) == {site.after_b: site.files[site.after_b]}
    assert site.front.curl("GET", "/health", auth=False).status == 200
    site.measured["files_compared"] = len(restored)


@pytest.mark.parametrize(
    ("break_it", "words"),
    [
        ("unknown_snapshot", "unknown snapshot 0badc0de"),
        ("wrong_password", "wrong password for the backup repository"),
        ("unreachable", "is unreachable or not initialised"),
    ],
)
def test_bad_input_is_refused_with_one_message_before_anything_changes(backed_up, break_it, words):
    site = backed_up
    if break_it == "unknown_snapshot":
        seconds, out, failures = orchestrate(
            site.lab, "fileshare.restore", {"restore": {"scope": "site", "snapshot": "0badc0de"}}
        )
        assert failures and words in json.dumps(out), json.dumps(out)[:3000]
        assert "restore_site" not in json.dumps(out)
    else:
        # The same checks with a configuration the orchestration cannot be given by mistake: another
        # password file, or a repository path where there is none.
        config = json.loads(site.node.run("cat /etc/fileshare/backup.json", check=True).stdout)
        if break_it == "wrong_password":
            site.node.run("umask 077; echo not-the-password > /root/bk-wrong.pass", check=True)
            config["password_file"] = "/root/bk-wrong.pass"
        else:
            config["repository"] = "/var/backups/nowhere"
        site.node.run(f"umask 077; echo '{json.dumps(config)}' > /root/bk-broken.json", check=True)
        out = site.lab.salt_json(
            NODE, "fileshare_backup.resolve", "latest", "site", "", "config=/root/bk-broken.json"
        )
        assert words in str(out.get(NODE)), out
    assert site.row_digests().keys() >= site.rows.keys()


def drop_table_and_restore_site(site: Site) -> dict:
    """The drill's table dropped, then `fileshare.restore` scope site; returns restore_site's return."""
    site.sql(f"DROP TABLE {site.table}")
    seconds, out, failures = orchestrate(site.lab, "fileshare.restore", {"restore": {"scope": "site"}})
    assert failures == [], json.dumps(out)[:3000]
    site.measured["site_restore_seconds"] = round(seconds, 1)
    return step_return(out, "fileshare_backup.restore_site")


def test_a_dropped_table_and_the_files_come_back_with_a_site_restore(backed_up):
    site = backed_up
    got = drop_table_and_restore_site(site)
    assert got["position"]["gtid"] == site.backup["position"]["gtid"]
    rows = site.row_digests()
    assert {i: rows.get(i) for i in site.rows} == site.rows
    assert site.file_digests(site.before) == site.before
    site.measured["rows_compared"] = len(site.rows)
    site.measured["all_files_compared"] = len(site.before)
    print(f"\nbackup drill on lab {site.lab.name}: {json.dumps(site.measured)}")


# ---- a point in time ------------------------------------------------------------------------------------


def roll_forward_to_a_point_in_time(site: Site) -> dict:
    """Rows before a backup, rows after it up to a second T, rows after T, then `fileshare.restore` to
    T. Returns restore_site's return, the table, the rows read back on site.db_node, and the rows
    expected (committed before T) and not expected (after T)."""
    table = f"pit_{uuid.uuid4().hex[:8]}"
    site.sql(f"CREATE TABLE {table} (id INT PRIMARY KEY, v VARCHAR(255) NOT NULL)")

    def insert(first: int) -> dict[int, str]:
        values = {i: uuid.uuid4().hex for i in range(first, first + 10)}
        site.sql(
            f"INSERT INTO {table} (id, v) VALUES " + ",".join(f"({i}, '{v}')" for i, v in values.items())
        )
        return values

    before_backup = insert(0)
    seconds, out, failures = orchestrate(site.lab, "fileshare.backup")
    assert failures == [], json.dumps(out)[:3000]
    before_point = insert(100)
    # mysqlbinlog stops at the first event of the second T or later: T is a whole second after the
    # rows before it were committed, and the rows after it come a whole second later again.
    time.sleep(1.2)
    point = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    time.sleep(1.2)
    after_point = insert(200)
    stamp = point.strftime("%Y-%m-%dT%H:%M:%SZ")
    seconds, out, failures = orchestrate(
        site.lab, "fileshare.restore", {"restore": {"scope": "site", "time": stamp}}
    )
    assert failures == [], json.dumps(out)[:3000]
    site.measured["point_in_time_restore_seconds"] = round(seconds, 1)
    got = step_return(out, "fileshare_backup.restore_site")
    rows = dict(line.split("\t") for line in site.sql(f"SELECT id, v FROM {table}").splitlines())
    return {
        "table": table,
        "restored": got,
        "rows": {int(k): v for k, v in rows.items()},
        "expected": {**before_backup, **before_point},
        "after_point": after_point,
    }


def test_a_restore_to_a_point_in_time_brings_back_exactly_the_rows_committed_before_it(backed_up):
    found = roll_forward_to_a_point_in_time(backed_up)
    assert found["restored"]["rolled_forward"]["transactions"] >= 1, found["restored"]
    assert found["rows"] == found["expected"], (sorted(found["rows"]), sorted(found["expected"]))
    assert not set(found["after_point"]) & set(found["rows"])
    assert backed_up.front.curl("GET", "/health", auth=False).status == 200
    # The restore's check archived the binary logs: the status reports that archive's age.
    status = backed_up.lab.call(NODE, "fileshare_backup.status")
    assert status["binlogs"]["count"] >= 1 and status["binlogs"]["age_seconds"] < 300, status
    rolled = json.dumps(found["restored"]["rolled_forward"])
    print(f"\npoint-in-time restore on lab {backed_up.lab.name}: {rolled}")


def test_a_point_in_time_before_the_oldest_backup_is_refused_before_anything_changes(backed_up):
    seconds, out, failures = orchestrate(
        backed_up.lab, "fileshare.restore", {"restore": {"scope": "site", "time": "2001-01-01T00:00:00Z"}}
    )
    assert failures and "is before the oldest backup" in json.dumps(out), json.dumps(out)[:3000]
    assert "restore_site" not in json.dumps(out)


# ---- an off-site repository over SFTP ----------------------------------------------------------------


@pytest.fixture(scope="module")
def offsite(backed_up):
    """The lab's outsider as the site's off-site host (sshd, an account holding the repository), and the
    backup node's pillar pointing there (given on the command line, as a site's pillar file would). The
    backup node goes back to the site's own pillar and the outsider is removed after the module."""
    lab = backed_up.lab
    lab.tool("outsider", "up")
    try:

        def there(cmd: str) -> str:
            return lab.tool("run", "outsider", cmd, timeout=600).stdout

        there(
            "DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 install -y openssh-server"
            " >/dev/null && useradd -m restic && systemctl restart ssh"
        )
        address = lab.handle.saved["outsider"]["address"]
        # The backup node reaches the new host before the test goes on (its first packets to a new
        # address wait for the neighbour to answer).
        lab.node(NODE).run(
            f"timeout 60 sh -c 'until ssh-keyscan -T 2 {address} >/dev/null 2>&1; do sleep 1; done'",
            check=True,
        )
        host_key = " ".join(there("cat /etc/ssh/ssh_host_ed25519_key.pub").split()[:2])
        repository = f"sftp:restic@{address}:/home/restic/site"
        yield {
            "there": there,
            "repository": repository,
            "pillar": {"fileshare": {"backup": {"repository": repository, "sftp": {"host_key": host_key}}}},
        }
    finally:
        lab.salt(NODE, "state.sls", "fileshare.backup_job")
        lab.tool("outsider", "down", check=False)


def apply_backup_job(lab, pillar: dict) -> dict:
    out = lab.salt_json(
        NODE, "state.sls", "fileshare.backup_job", f"pillar={json.dumps(pillar)}", timeout=600
    )
    return out.get(NODE) or {}


def test_an_offsite_repository_refuses_until_its_host_authorizes_the_key_then_takes_backups(
    backed_up, offsite
):
    site = backed_up
    states = apply_backup_job(site.lab, offsite["pillar"])
    # The command's own words are in its changes (cmd.run's stderr), the comment only says it failed.
    failed = {k: v["comment"] + json.dumps(v["changes"]) for k, v in states.items() if not v["result"]}
    assert any("refused this node's key for restic" in c for c in failed.values()), json.dumps(
        failed, indent=1
    )
    # The operator's step: the public key the job prints, authorized for the repository's account.
    key = site.lab.call(NODE, "fileshare_backup.public_key")
    assert key.startswith("ssh-ed25519 "), key
    offsite["there"](
        "install -d -o restic -g restic -m 700 /home/restic/.ssh && "
        f"echo '{key}' > /home/restic/.ssh/authorized_keys && chown restic: /home/restic/.ssh/authorized_keys"
    )
    states = apply_backup_job(site.lab, offsite["pillar"])
    assert all(v["result"] for v in states.values()), {
        k: v["comment"] for k, v in states.items() if not v["result"]
    }
    config = json.loads(site.node.run("cat /etc/fileshare/backup.json", check=True).stdout)
    assert config["repository"] == offsite["repository"]
    seconds, out, failures = orchestrate(site.lab, "fileshare.backup")
    assert failures == [], json.dumps(out)[:3000]
    site.measured["offsite_backup_seconds"] = round(seconds, 1)
    snapshot = step_return(out, "fileshare_backup.run")["snapshot"]
    # The snapshot is on the off-site host, in restic's encrypted form only.
    stored = offsite["there"]("ls /home/restic/site/snapshots")
    assert any(name.startswith(snapshot) for name in stored.split()), (snapshot, stored)
    assert site.folders[1] not in offsite["there"](
        "grep -rl " + site.folders[1] + " /home/restic/site || true"
    )


def test_a_path_comes_back_from_the_offsite_repository(backed_up, offsite):
    site = backed_up
    folder = site.folders[1]
    # The site restore before brought the folder back as it was at the first backup.
    kept = {p: d for p, d in site.before.items() if p.startswith(f"/{folder}/")}
    assert site.front.curl("DELETE", f"/{folder}/").status == 204
    seconds, out, failures = orchestrate(
        site.lab, "fileshare.restore", {"restore": {"scope": "path", "path": folder}}
    )
    assert failures == [], json.dumps(out)[:3000]
    site.measured["offsite_path_restore_seconds"] = round(seconds, 1)
    assert site.file_digests(kept) == kept
    print(f"\noff-site repository on lab {site.lab.name}: {json.dumps(site.measured)}")


def test_an_offsite_host_presenting_another_key_is_refused(backed_up, offsite):
    site = backed_up
    config = json.loads(site.node.run("cat /etc/fileshare/backup.json", check=True).stdout)
    host = config["repository"].split("@", 1)[1].split(":", 1)[0]
    site.node.run(
        "umask 077; ssh-keygen -q -t ed25519 -N '' -f /root/bk-other-host && "
        f"echo \"{host} $(cut -d' ' -f1,2 /root/bk-other-host.pub)\" > /root/bk-other-known-hosts && "
        "rm -f /root/bk-other-host*",
        check=True,
    )
    config["sftp"]["known_hosts"] = "/root/bk-other-known-hosts"
    site.node.run(f"umask 077; echo '{json.dumps(config)}' > /root/bk-other.json", check=True)
    out = site.lab.salt_json(
        NODE, "fileshare_backup.resolve", "latest", "site", "", "config=/root/bk-other.json"
    )
    assert "does not present the host key" in str(out.get(NODE)), out
