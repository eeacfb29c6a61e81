"""Backups on full_ha, for real (docs/backup.md): the backup node copies a Galera member that is not the
writer over ssh (its key forced to that one command) and reads the files through its own client mount
of the volume.

Scenario, on the full_ha deployment the HA checks share: files through the VIP (WebDAV PUT, each
acknowledged 201) and rows committed on the writer → `state.orchestrate fileshare.backup` → the copy came
from the last synced member in writer order, which is synced again and no longer desynced; the snapshot
holds the table and the files → a folder deleted → `fileshare.restore` scope path brings it back through
the volume (sha256 of every file acknowledged before the backup; a file written since elsewhere
untouched) → the table dropped → `fileshare.restore` scope site: every member runs the restored copy
(each acknowledged row read on each member) and every file is back by sha256 (marked long: `make
test-lab-long`) → the snapshot holds the site's pillar → a restore to a second T rolls the restored
copy forward with a member's archived binary logs: every member holds exactly the rows committed
before T. Names are unique per run (--reuse-deployed).
"""

from __future__ import annotations

import json

import pytest
from test_all_in_one import Front
from test_backup import (
    Site,
    delete_and_restore_folder,
    drop_table_and_restore_site,
    roll_forward_to_a_point_in_time,
    # Collected here too: the site's configuration in a snapshot taken by full_ha's backup node.
    test_the_snapshot_holds_the_site_configuration_to_rebuild_the_master,  # noqa: F401
    write_and_back_up,
)

pytestmark = pytest.mark.usefixtures("full_ha_lab")
ROWS = 100


@pytest.fixture(scope="module")
def site(full_ha_lab, tmp_path_factory):
    topology = full_ha_lab.topology
    (backup_node,) = topology["roles"]["backup"]
    writer = topology["db_writers"][0]
    ca = tmp_path_factory.mktemp("ca") / "lab-ca.crt"
    load = topology["roles"]["load"][0]
    ca.write_text(full_ha_lab.node(load).run("cat /etc/fileshare/pki/lab-ca.crt", check=True).stdout)
    found = Site(full_ha_lab, Front(topology["vip"]["address"], ca), node=backup_node, db_node=writer)
    found.topology = topology
    return found


@pytest.fixture(scope="module")
def backed_up(site):
    return write_and_back_up(site, rows=ROWS)


def test_the_copy_comes_from_a_synced_member_that_is_not_the_writer(backed_up):
    got = backed_up.backup
    members = backed_up.topology["db_writers"]
    assert got["database_source"] == members[-1], got
    assert got["snapshot"] and got["position"]["seqno"] is not None and got["position"]["gtid"], got
    # The member the copy desynced is back in flow control and synced.
    source = backed_up.lab.node(got["database_source"])
    state = source.run(
        "HOME=/root mysql -N -B -e \"SHOW GLOBAL VARIABLES LIKE 'wsrep_desync'; "
        "SHOW GLOBAL STATUS LIKE 'wsrep_local_state_comment'\"",
        check=True,
    ).stdout.split()
    assert state == ["wsrep_desync", "OFF", "wsrep_local_state_comment", "Synced"], state
    print(f"\nfull_ha backup on lab {backed_up.lab.name}: {json.dumps(got)}")


def test_the_snapshot_holds_the_table_and_the_files(backed_up):
    site = backed_up
    config = json.loads(site.node.run("cat /etc/fileshare/backup.json", check=True).stdout)
    env = f"RESTIC_REPOSITORY={config['repository']} RESTIC_PASSWORD_FILE={config['password_file']}"
    listing = site.node.run(
        f"{env} restic ls --json {site.backup['snapshot']} {config['staging_dir']}/db/fileshare "
        f"{config['data_dir']}/{site.folders[0]}",
        check=True,
    ).stdout
    paths = {json.loads(line).get("path") for line in listing.splitlines()[1:]}
    assert f"{config['staging_dir']}/db/fileshare/{site.table}.ibd" in paths
    assert {config["data_dir"] + p for p in site.before if p.startswith(f"/{site.folders[0]}/")} <= paths


def test_a_deleted_folder_comes_back_through_the_volume(backed_up):
    site = backed_up
    restored = delete_and_restore_folder(site)
    # What users see through the VIP, not only the backup node's mount.
    for path in list(restored)[:3]:
        assert site.front.curl("GET", path).status == 200, path
    # As it was at the backup (the file written in it since is not); the other folder untouched.
    assert site.file_digests([site.after_a]) == {site.after_a: None}
    assert site.file_digests([site.after_b]) == {site.after_b: site.files[site.after_b]}
    print(f"\nfull_ha backup drill on lab {site.lab.name}: {json.dumps(site.measured)}")


# The point-in-time test below restores the whole site to every member as this one does, and rolls it
# forward; mini_ha's backup test restores a dropped table to every member: this one is `make
# test-lab-long`.
@pytest.mark.long
def test_a_dropped_table_and_the_files_come_back_with_a_site_restore(backed_up):
    site = backed_up
    got = drop_table_and_restore_site(site)
    assert got["position"]["seqno"] == site.backup["position"]["seqno"], got
    # Every member runs the restored copy: the rows as acknowledged, read on each.
    for member in site.topology["db_writers"]:
        site.db_node = site.lab.node(member)
        rows = site.row_digests()
        assert {i: rows.get(i) for i in site.rows} == site.rows, member
    assert site.file_digests(site.before) == site.before
    # Users read them through the VIP (owners and modes came back with the files).
    for path in list(site.before)[:: max(1, len(site.before) // 5)]:
        assert site.front.curl("GET", path).status == 200, path
    assert site.front.curl("GET", "/health", auth=False).status == 200
    site.measured["rows_compared"] = len(site.rows)
    site.measured["files_compared"] = len(site.before)
    print(f"\nfull_ha site restore on lab {site.lab.name}: {json.dumps(site.measured)}")


def test_a_restore_to_a_point_in_time_rolls_every_member_forward_to_it(backed_up):
    site = backed_up
    writers = site.topology["db_writers"]
    site.db_node = site.lab.node(writers[0])
    found = roll_forward_to_a_point_in_time(site)
    rolled = found["restored"]["rolled_forward"]
    assert rolled["transactions"] >= 1, found["restored"]
    # Every member runs the rolled-forward copy: exactly the rows committed before T, on each.
    for member in writers:
        out = site.lab.node(member).run(
            f"HOME=/root mysql -N -B fileshare -e 'SELECT id, v FROM {found['table']}'"
        )
        rows = {int(i): v for i, v in (line.split("\t") for line in out.stdout.splitlines())}
        assert rows == found["expected"], (member, sorted(rows), sorted(found["expected"]))
    assert site.front.curl("GET", "/health", auth=False).status == 200
    measured = json.dumps(site.measured)
    print(f"\nfull_ha point-in-time restore on lab {site.lab.name}: {json.dumps(rolled)} {measured}")
