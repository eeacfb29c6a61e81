"""Backups and restore on all_in_one, for real (docs/backup.md): the lean drill of issue 14.

Scenario: files (WebDAV PUT through the TLS front, each acknowledged 201) and rows (committed) →
`state.orchestrate fileshare.backup` → more files and rows → a folder deleted → `fileshare.restore`
scope path brings it back in place (sha256 of every file acknowledged before the backup; a file written
since in another folder untouched; /health 200) → bad input (unknown snapshot, wrong password,
unreachable repository) refused with one message naming it, nothing changed → the table dropped →
`fileshare.restore` scope site: every row and every file acknowledged before the backup, by sha256.
Names are unique per run, so the module runs over a lab's leftovers (--reuse-deployed).
"""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest
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
