"""Backups as rendered (docs/backup.md): fileshare.backup_job on every OS and architecture keeps the
repository password out of the rendered state, and fileshare.backup / fileshare.restore read as their
runbooks: on all_in_one the checks come before any change, a site restore stops the writers first and
starts them last, a path restore stops nothing; mini_ha and full_ha are refused with the reason."""

import json

import pytest
from render_harness import ARCHITECTURES, MASTER_ID, OS_GRAINS
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


def test_the_backup_timer_follows_the_pillar_schedule(renderer):
    pillar = {"fileshare": {"backup": {"schedule": "*-*-* 04:15:00", "retention": {"daily": 3}}}}
    result = show(renderer, "all_in_one", "aio1", "fileshare.backup_job", pillar)
    placed = {state_id: args for state_id, _, args in steps(result)}
    timer = next(
        a for s, f, a in steps(result) if s.startswith("fileshare-backup.timer") and f == "file.managed"
    )
    assert "OnCalendar=*-*-* 04:15:00" in timer["contents"]
    config = json.loads(placed["the backup job's configuration is readable by root only"]["contents"])
    assert config["retention"]["daily"] == 3


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


@pytest.mark.parametrize("sls", ["fileshare.backup", "fileshare.restore"])
@pytest.mark.parametrize("arch", [a for a in ARCHITECTURES if a != "all_in_one"])
def test_ha_backups_are_refused_until_built(renderer, sls, arch):
    found = steps(show(renderer, arch, MASTER_ID, sls))
    funs = [fun for _, fun, _ in found]
    assert funs[0] == "fileshare_pillar.validated"
    assert funs[1:] == ["test.fail_without_changes"], found
