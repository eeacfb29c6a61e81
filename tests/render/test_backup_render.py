"""Backups as rendered (docs/backup.md): fileshare.backup_job on every OS and architecture keeps the
repository password out of the rendered state, and fileshare.backup / fileshare.restore read as their
runbooks: on all_in_one the checks come before any change, a site restore stops the writers first and
starts them last, a path restore stops nothing. On full_ha the backup node copies a Galera member over
ssh (in writer order, its key forced to that one command on the database nodes) and mounts the volume;
a site restore there and everything on mini_ha are refused with the reason."""

import json

import pytest
from render_harness import MASTER_ID, OS_GRAINS
from test_app_load_render import args as state_args
from test_app_load_render import show as show_node
from test_render import _ordered_steps

PASSWORD = "lab-backup-pw-change-me"


def show(renderer, arch, minion, sls, pillar=None, os_name="debian-12"):
    caller = renderer._caller(os_name)
    caller.opts["id"] = caller.opts["grains"]["id"] = caller.opts["grains"]["host"] = minion
    caller.opts["fileshare_example_architecture"] = arch
    result = caller.cmd("state.show_sls", sls, **({"pillar": pillar} if pillar else {}))
    assert isinstance(result, dict), f"{sls} on {minion} ({arch}) does not render:\n{result}"
    return result


def steps(result):
    return [(state_id, fun, args) for _, state_id, fun, args in _ordered_steps(result)]


def backup_node(renderer, arch):
    """The node the derivation gives role backup (all_in_one: the node; mini_ha: the last db node)."""
    nodes = renderer.pillar(arch)["nodes"]
    listed = [n["name"] for n in nodes if "backup" in n["roles"]]
    return listed[0] if listed else [n["name"] for n in nodes if "db" in n["roles"]][-1]


@pytest.mark.parametrize("os_name", list(OS_GRAINS))
@pytest.mark.parametrize("arch", ["all_in_one", "mini_ha"])
def test_the_backup_job_keeps_the_password_out_of_the_rendered_state(renderer, arch, os_name):
    node = backup_node(renderer, arch)
    result = show(renderer, arch, node, "fileshare.backup_job", os_name=os_name)
    assert PASSWORD not in json.dumps(result, default=str)
    placed = {state_id: args for state_id, _, args in steps(result)}
    password = placed["the backup repository's password is in a file readable by root only"]
    assert password["contents_pillar"] == "fileshare:secrets:backup_password"
    assert password["mode"] == "0600" and password["show_changes"] is False
    config = json.loads(placed["the backup job's configuration is readable by root only"]["contents"])
    assert config["host"] == node and config["data_dir"] == renderer.pillar(arch)["app"]["data_dir"]
    assert "restic" in placed["restic, mariabackup and rsync are installed"]["pkgs"]


def test_the_backup_timer_and_job_follow_the_pillar(renderer):
    pillar = {
        "fileshare": {"backup": {"schedule": "*-*-* 04:15:00", "retention": {"daily": 3}, "limit_kib": 4096}}
    }
    result = show(renderer, "all_in_one", "aio1", "fileshare.backup_job", pillar)
    placed = {state_id: args for state_id, _, args in steps(result)}
    timer = next(
        a for s, f, a in steps(result) if s.startswith("fileshare-backup.timer") and f == "file.managed"
    )
    assert "OnCalendar=*-*-* 04:15:00" in timer["contents"]
    config = json.loads(placed["the backup job's configuration is readable by root only"]["contents"])
    assert config["retention"]["daily"] == 3 and config["limit_kib"] == 4096


def test_a_backup_checks_the_repository_before_it_runs(renderer):
    found = steps(show(renderer, "all_in_one", MASTER_ID, "fileshare.backup"))
    calls = [(args.get("name"), args.get("tgt")) for _, fun, args in found if fun == "salt.function"]
    assert calls == [("fileshare_backup.probe", "aio1"), ("fileshare_backup.run", "aio1")]


def restore(renderer, arch, **wanted):
    return steps(show(renderer, arch, MASTER_ID, "fileshare.restore", {"restore": wanted}))


def test_a_site_restore_checks_stops_the_writers_restores_then_serves_again(renderer):
    found = restore(renderer, "all_in_one", scope="site", snapshot="1a2b3c4d")
    order = [args.get("name") or args.get("sls") for _, _, args in found]
    resolve = order.index("fileshare_backup.resolve")
    stops = [i for i, (_, fun, args) in enumerate(found) if args.get("arg", [None])[0] == "service.dead"]
    assert stops and resolve < min(stops)
    restore_at = order.index("fileshare_backup.restore_site")
    assert max(stops) < restore_at < order.index("fileshare.app") < order.index("fileshare.infra.smoke")
    resolved = next(args for _, _, args in found if args.get("name") == "fileshare_backup.resolve")
    assert resolved["arg"] == ["1a2b3c4d", "site", ""]


def test_a_path_restore_stops_nothing(renderer):
    found = restore(renderer, "all_in_one", scope="path", path="alice/docs")
    names = [args.get("name") for _, fun, args in found if fun == "salt.function"]
    assert names == ["fileshare_backup.resolve", "fileshare_backup.restore_path"]
    path = next(args for _, _, args in found if args.get("name") == "fileshare_backup.restore_path")
    assert path["arg"] == ["latest", "alice/docs"]


def test_a_mini_ha_backup_runs_on_the_last_database_node(renderer):
    found = steps(show(renderer, "mini_ha", MASTER_ID, "fileshare.backup"))
    calls = [(args.get("name"), args.get("tgt")) for _, fun, args in found if fun == "salt.function"]
    assert calls == [("fileshare_backup.probe", "node3"), ("fileshare_backup.run", "node3")]


def test_a_mini_ha_site_restore_sends_the_copy_to_every_member_then_bootstraps(renderer):
    found = restore(renderer, "mini_ha", scope="site")
    order = [(fun, args.get("name") or args.get("sls"), args.get("tgt")) for _, fun, args in found]
    restore_at = order.index(("salt.function", "fileshare_backup.restore_site", "node3"))
    recover = order.index(("salt.runner", "galera.recover", None))
    assert restore_at < recover < order.index(("salt.state", "fileshare.db.quorate", "node1,node2,node3"))


def test_the_mini_ha_backup_node_copies_over_ssh_like_a_node_of_its_own(renderer):
    placed = {s: a for s, _, a in steps(show(renderer, "mini_ha", "node3", "fileshare.backup_job"))}
    config = json.loads(placed["the backup job's configuration is readable by root only"]["contents"])
    assert [m["name"] for m in config["db_source"]["members"]] == ["node1", "node2", "node3"]
    found = steps(show(renderer, "mini_ha", MASTER_ID, "fileshare.mini_ha"))
    by_sls = {args.get("sls"): args for _, fun, args in found if fun == "salt.state"}
    assert by_sls["fileshare.backup_job"]["tgt"] == "node3"
    assert by_sls["fileshare.backup_job.source"]["tgt"] == "node1,node2,node3"


def test_a_full_ha_backup_runs_on_the_backup_node(renderer):
    found = steps(show(renderer, "full_ha", MASTER_ID, "fileshare.backup"))
    calls = [(args.get("name"), args.get("tgt")) for _, fun, args in found if fun == "salt.function"]
    assert calls == [("fileshare_backup.probe", "bk1"), ("fileshare_backup.run", "bk1")]


def test_a_full_ha_path_restore_stops_nothing(renderer):
    names = [
        args.get("name")
        for _, fun, args in restore(renderer, "full_ha", scope="path", path="a/b")
        if fun == "salt.function"
    ]
    assert names == ["fileshare_backup.resolve", "fileshare_backup.restore_path"]


def test_a_full_ha_site_restore_stops_every_writer_and_member_then_bootstraps_from_the_copy(renderer):
    found = restore(renderer, "full_ha", scope="site")
    order = [(fun, args.get("name") or args.get("sls"), args.get("tgt")) for _, fun, args in found]
    gates = [i for i, (_, _, _) in enumerate(order) if found[i][2].get("arg", [None])[0] == "service.dead"]
    db_stop = next(i for i in gates if found[i][2]["kwarg"]["name"] == "mariadb")
    restore_at = order.index(("salt.function", "fileshare_backup.restore_site", "bk1"))
    recover = order.index(("salt.runner", "galera.recover", None))
    quorate = order.index(("salt.state", "fileshare.db.quorate", "db1,db2,db3"))
    app = order.index(("salt.state", "fileshare.app", "app1,app2"))
    assert found[db_stop][2]["tgt"] == "db1,db2,db3"
    assert (
        max(gates)
        < restore_at
        < recover
        < quorate
        < app
        < order.index(("salt.state", "fileshare.infra.smoke", "lb1,lb2"))
    )
    assert found[recover][2]["members"] == "db1,db2,db3"


def test_the_full_ha_backup_node_copies_a_member_over_ssh_and_mounts_the_volume(renderer):
    result = show(renderer, "full_ha", "bk1", "fileshare.backup_job")
    assert PASSWORD not in json.dumps(result, default=str)
    placed = {state_id: (fun, args) for state_id, fun, args in steps(result)}
    config = json.loads(placed["the backup job's configuration is readable by root only"][1]["contents"])
    source = config["db_source"]
    assert [m["name"] for m in source["members"]] == ["db1", "db2", "db3"]
    assert all(m["health_port"] == 9200 for m in source["members"])
    assert source["key"] == "/etc/fileshare/backup-ssh/id_ed25519" and source["port"] == 22
    assert any(fun == "mount.mounted" for fun, _ in placed.values())
    keygen = placed["the backup node's ssh key exists"][1]
    assert keygen["creates"] == source["key"] and "-N ''" in keygen["name"]
    # No node without role app gets the app services' mount drop-ins.
    assert not [s for s in placed if "starts only with the shared volume mounted" in s]


def test_a_database_node_refuses_until_the_backup_key_is_published(renderer):
    found = steps(show(renderer, "full_ha", "db1", "fileshare.backup_job.source"))
    assert [fun for _, fun, _ in found] == ["test.fail_without_changes"]
    assert "apply fileshare.backup_job there first" in found[0][2]["name"]


def test_the_converge_sets_up_the_backup_after_the_volume_and_the_database(renderer):
    found = steps(show(renderer, "full_ha", MASTER_ID, "fileshare.full_ha"))
    by_sls = {args.get("sls"): (state_id, args) for state_id, fun, args in found if fun == "salt.state"}
    job_id, job = by_sls["fileshare.backup_job"]
    assert job["tgt"] == "bk1"
    assert any("replicated volume is started" in str(r) for r in job["require"])
    _, source = by_sls["fileshare.backup_job.source"]
    assert source["tgt"] == "db1,db2,db3"
    assert any(job_id in str(r) for r in source["require"])
    assert any("database cluster is quorate" in str(r) for r in source["require"])


def firewall_rules(renderer, arch, minion):
    result = show_node(renderer, "debian-12", minion, "fileshare.infra.firewall", architecture=arch)
    return state_args(result["the firewall rule set is written"])["context"]["rules"]


def test_the_firewall_admits_the_backup_node_where_it_copies_and_reads(renderer):
    nodes = {n["name"]: n["address"] for n in renderer.pillar("full_ha")["nodes"]}
    bk1 = nodes["bk1"]
    db = firewall_rules(renderer, "full_ha", "db1")
    assert [r["ports"] for r in db if bk1 in r["sources"]] == [[9200], [22]]
    storage = firewall_rules(renderer, "full_ha", "st1")
    (gluster,) = [r for r in storage if bk1 in r["sources"]]
    assert "GlusterFS" in gluster["comment"]
    # Nothing else admits it, and the backup node itself serves nothing but the admins' ssh.
    for other in ("app1", "im1", "lb1"):
        assert not [r for r in firewall_rules(renderer, "full_ha", other) if bk1 in r["sources"]], other
    served = [r["comment"] for r in firewall_rules(renderer, "full_ha", "bk1") if r["proto"] != "tcp-sport"]
    assert served == ["ssh from the admin sources"]
    # mini_ha's backup node (node3) copies the members over ssh as well.
    mini = firewall_rules(renderer, "mini_ha", "node1")
    node3 = {n["name"]: n["address"] for n in renderer.pillar("mini_ha")["nodes"]}["node3"]
    assert [22] in [r["ports"] for r in mini if node3 in r["sources"]]


@pytest.mark.parametrize("arch, node", [("all_in_one", "aio1"), ("full_ha", "bk1")])
def test_an_offsite_repository_pins_its_host_key_and_creates_no_local_directory(renderer, arch, node):
    host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOffsiteHostKeyForTheRenderTest0000000000"
    pillar = {
        "fileshare": {
            "backup": {"repository": "sftp:restic@10.9.9.9:/srv/restic/site", "sftp": {"host_key": host_key}}
        }
    }
    result = show(renderer, arch, node, "fileshare.backup_job", pillar)
    placed = {state_id: args for state_id, _, args in steps(result)}
    config = json.loads(placed["the backup job's configuration is readable by root only"]["contents"])
    assert config["repository"] == "sftp:restic@10.9.9.9:/srv/restic/site"
    assert config["sftp"]["port"] == 22 and config["sftp"]["key"].endswith("id_ed25519")
    pinned = placed["the off-site host's key is pinned"]
    assert pinned["contents"] == f"10.9.9.9 {host_key}\n" and pinned["mode"] == "0600"
    assert "the backup node's ssh key exists" in placed
    assert not any(s.startswith("sftp:") for s in placed), sorted(placed)
    assert PASSWORD not in json.dumps(result, default=str)


def test_a_restore_to_a_point_in_time_passes_the_time_to_the_check_and_the_restore(renderer):
    found = restore(renderer, "all_in_one", scope="site", time="2026-12-07T02:10:00Z")
    calls = {args.get("name"): args for _, fun, args in found if fun == "salt.function"}
    assert calls["fileshare_backup.resolve"]["kwarg"] == {"when": "2026-12-07T02:10:00Z"}
    assert calls["fileshare_backup.restore_site"]["kwarg"] == {"when": "2026-12-07T02:10:00Z"}


def test_the_backup_node_archives_the_binary_logs_every_binlog_interval(renderer):
    pillar = {"fileshare": {"backup": {"binlog_interval": 5}}}
    found = steps(show(renderer, "all_in_one", "aio1", "fileshare.backup_job", pillar))
    placed = {s: a for s, _, a in found}
    timer = next(
        a for s, f, a in found if s.startswith("fileshare-backup-binlog.timer") and f == "file.managed"
    )
    assert "OnCalendar=*:0/5\n" in timer["contents"]
    config = json.loads(placed["the backup job's configuration is readable by root only"]["contents"])
    assert config["log_bin"] == "/var/lib/mysql/mariadb-bin"
