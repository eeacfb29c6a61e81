"""Pure logic of fileshare-lab: names, subnets, rendered configuration."""

import ipaddress

import pytest
from fileshare_lab import logic, topology
from fileshare_lab.logic import LabError


def test_well_known_labs_keep_their_subnets():
    assert logic.derive_net("fileshare") == "10.77.0"
    assert logic.derive_net("fstest") == "10.78.0"


@pytest.mark.parametrize("lab", ["a", "dev", "alice", "ci2", "x" * 20, "lab0", "lab1"])
def test_other_labs_get_a_stable_subnet_in_the_reserved_range(lab):
    net = logic.derive_net(lab)
    assert net == logic.derive_net(lab)
    first, second, third = (int(p) for p in net.split("."))
    assert first == 10 and 80 <= second <= 199 and 0 <= third <= 255


def test_different_names_usually_get_different_subnets():
    nets = {logic.derive_net(f"lab{i}") for i in range(50)}
    assert len(nets) >= 45


@pytest.mark.parametrize(
    "net,norm", [("10.90.3", "10.90.3"), ("192.168.7", "192.168.7"), ("172.20.010", "172.20.10")]
)
def test_good_nets_are_accepted_and_normalised(net, norm):
    assert logic.check_net(net) == norm


@pytest.mark.parametrize(
    "net",
    [
        "10.90",
        "10.90.3.0",
        "10.256.1",
        "a.b.c",
        "",
        "8.8.8",
        "172.32.0",
        "10.90.-1",
        "1000.1.1",
        "10.90.3/24",
    ],
)
def test_bad_nets_are_refused_with_the_reason(net):
    with pytest.raises(LabError, match="--net"):
        logic.check_net(net)


@pytest.mark.parametrize("value,count", [("2", 2), (6, 6), ("9", 9)])
def test_app_node_counts_the_example_site_can_address_are_accepted(value, count):
    assert logic.check_app_nodes(value) == count


@pytest.mark.parametrize("value", ["1", "10", "0", "-3", "six", "", "2.5"])
def test_other_app_node_counts_are_refused_with_the_reason(value):
    with pytest.raises(LabError, match="--app-nodes"):
        logic.check_app_nodes(value)


def test_master_config_carries_the_app_node_count_for_the_example_pillar():
    paths = logic.lab_paths("/h", "fsscale")
    text = logic.render_master_config(
        repo="/r", paths=paths, net="10.77.0", arch="full_ha", master_id="m", app_nodes=6
    )
    assert "fileshare_example_app_nodes: 6\n" in text


@pytest.mark.parametrize("lab", ["Fileshare", "1lab", "my-lab", "", "a" * 21, "lab_x", "lab/x"])
def test_bad_lab_names_are_refused(lab):
    with pytest.raises(LabError, match="lab name"):
        logic.check_lab_name(lab)


@pytest.mark.parametrize("lab", ["fileshare", "fstest", "a", "averyveryverylongname"[:20]])
def test_bridge_names_fit_the_kernel_limit_and_differ_per_lab(lab):
    name = logic.bridge_name(lab)
    assert len(name) <= 15 and name.startswith("fsbr-")
    assert name != logic.bridge_name(lab + "x"[: 20 - len(lab)] if len(lab) < 20 else lab[:-1])


def test_short_names_stay_readable():
    assert logic.bridge_name("fileshare") == "fsbr-fileshare"
    assert logic.veth_name("fileshare", "node1") == "fileshare-node1"
    assert logic.container_name("fstest", "aio1") == "fstest-aio1"


@pytest.mark.parametrize("lab", ["fileshare", "fstest", "abcdefghijklmnopqrst"])
@pytest.mark.parametrize("node", ["aio1", "node3", "lb1", "a-very-long-node-name-indeed"])
def test_veth_names_fit_and_are_unique_per_lab_and_node(lab, node):
    veth = logic.veth_name(lab, node)
    assert len(veth) <= 15
    assert veth != logic.veth_name(lab, node + "2")
    assert veth != logic.veth_name(lab[:-1] + "z", node)


def test_mac_addresses_are_stable_local_unicast_and_distinct():
    mac = logic.mac_address("fileshare", "aio1")
    assert mac == logic.mac_address("fileshare", "aio1")
    assert mac != logic.mac_address("fstest", "aio1")
    first = int(mac.split(":")[0], 16)
    assert first & 0b10 and not first & 0b1 and len(mac.split(":")) == 6


def _pillar(*nodes):
    return {
        "fileshare": {
            "nodes": [{"name": n, "address": a, "roles": ["app"]} for n, a in nodes],
            "vip": {"address": "10.77.0.100", "name": "files"},
            "domain": "example.lab",
            "product": "webdav",
        }
    }


def _topology(*nodes):
    return topology.derive(_pillar(*nodes))


def test_nodes_come_from_the_pillar_in_order():
    nodes = logic.nodes_from_topology(_topology(("node1", "10.77.0.21"), ("node2", "10.77.0.22")), "10.77.0")
    assert [n["name"] for n in nodes] == ["node1", "node2"]
    assert nodes[0]["address"] == "10.77.0.21" and nodes[0]["roles"] == ["app"]


@pytest.mark.parametrize(
    "nodes,reason",
    [
        ([("node1", "10.78.0.21")], "not a host address"),
        ([("node1", "10.77.0.1")], "not a host address"),
        ([("node1", "10.77.0.255")], "not a host address"),
        ([("node1", "nowhere")], "bad address"),
        ([("node1", "10.77.0.21"), ("node1", "10.77.0.22")], "unique"),
        ([("Node_1", "10.77.0.21")], "usable"),
    ],
)
def test_unusable_pillar_nodes_are_refused(nodes, reason):
    with pytest.raises(LabError, match=reason):
        logic.nodes_from_topology(_topology(*nodes), "10.77.0")


@pytest.mark.parametrize("pillar", [{}, {"fileshare": {}}, {"fileshare": {"nodes": []}}, "oops"])
def test_a_pillar_without_nodes_is_refused(pillar):
    with pytest.raises(LabError, match="nodes"):
        logic.nodes_from_topology(topology.derive(pillar), "10.77.0")


def test_service_info_names_the_vip_and_fqdn():
    info = logic.service_info(_topology(("aio1", "10.77.0.11")), "webdav")
    assert info == {"vip": "10.77.0.100", "fqdn": "files.example.lab", "product": "webdav"}


def test_master_config_binds_the_bridge_and_carries_the_example_site_options():
    paths = logic.lab_paths("/var/lib/fileshare-lab", "fstest")
    text = logic.render_master_config(
        repo="/src", paths=paths, net="10.78.0", arch="mini_ha", master_id="fstest-master"
    )
    assert "interface: 10.78.0.1\n" in text
    assert "auto_accept: True" in text
    assert "root_dir: /var/lib/fileshare-lab/fstest/master/root" in text
    assert "fileshare_example_architecture: mini_ha\n" in text
    assert "fileshare_example_net: 10.78.0\n" in text
    root_links = "    - /var/lib/fileshare-lab/fstest/master/srv\n"
    for root in (root_links, "    - /src/formulas\n", "    - /src/orchestrate\n", "    - /src/pillar\n"):
        assert root in text


def test_master_config_is_yaml_salt_can_read():
    yaml = pytest.importorskip("yaml")
    paths = logic.lab_paths("/h", "fileshare")
    cfg = yaml.safe_load(
        logic.render_master_config(repo="/r", paths=paths, net="10.77.0", arch="all_in_one", master_id="m")
    )
    # The checkout's top level is served through the lab's link folder, never the whole checkout.
    assert cfg["file_roots"]["base"] == ["/h/fileshare/master/srv", "/r/formulas", "/r/orchestrate"]
    assert "/r" not in cfg["file_roots"]["base"]
    assert cfg["pillar_roots"]["base"] == ["/r/pillar"]
    assert cfg["auto_accept"] is True and cfg["ipv6"] is False


def test_lab_paths_are_per_lab_and_the_base_is_shared():
    a, b = logic.lab_paths("/h", "fileshare"), logic.lab_paths("/h", "fstest")
    assert a["lxcpath"] == "/h/fileshare/lxc" and b["lxcpath"] == "/h/fstest/lxc"
    assert a["master_etc"] != b["master_etc"]
    for shared in ("base_lxcpath", "base_marker", "wheels", "cache_dir", "locks"):
        assert a[shared] == b[shared]


def test_minion_config_points_at_the_lab_master_with_short_waits():
    text = logic.render_minion_config(node="node2", net="10.78.0")
    assert "id: node2\n" in text and "master: 10.78.0.1\n" in text
    assert "acceptance_wait_time: 1\n" in text


def test_container_network_has_a_named_veth_and_no_gateway():
    text = logic.render_container_network(
        bridge="fsbr-x", veth="x-aio1", address="10.1.2.11", mac="02:00:00:00:00:01"
    )
    assert "lxc.net.0.veth.pair = x-aio1" in text
    assert "lxc.net.0.link = fsbr-x" in text
    assert "lxc.net.0.ipv4.address = 10.1.2.11/24" in text
    assert "gateway" not in text


def test_clone_config_loses_the_base_network_and_hostname():
    base = (
        "lxc.include = /usr/share/lxc/config/common.conf\nlxc.net.0.type = empty\n"
        "lxc.uts.name = fileshare-base\nlxc.rootfs.path = overlay:/b:/d\n"
    )
    out = logic.rewrite_container_config(base, network="lxc.net.0.type = veth\n", hostname="aio1")
    assert "empty" not in out and "fileshare-base" not in out
    assert "lxc.rootfs.path = overlay:/b:/d" in out
    assert "lxc.uts.name = aio1" in out and out.endswith("lxc.net.0.type = veth\n")


def test_hosts_names_every_node_and_the_master_as_salt():
    nodes = [{"name": "node1", "address": "10.77.0.21"}, {"name": "node2", "address": "10.77.0.22"}]
    text = logic.render_hosts(nodes, "10.77.0", "example.lab")
    assert "10.77.0.21\tnode1.example.lab node1\n" in text
    assert "10.77.0.22\tnode2.example.lab node2\n" in text
    assert "10.77.0.1\tsalt\n" in text
    assert text.startswith("127.0.0.1\tlocalhost\n")


def test_apt_sources_point_at_the_cache_on_the_bridge():
    text = logic.render_sources_list("10.78.0")
    assert text.count("http://10.78.0.1:3142/") == 3
    assert "debian-security bookworm-security" in text


def test_cache_config_binds_loopback_and_bridges_and_remaps_debian():
    text = logic.render_cache_config(cache_dir="/c", bind=["127.0.0.1", "10.77.0.1", "10.78.0.1"])
    assert "BindAddress: 127.0.0.1 10.77.0.1 10.78.0.1\n" in text
    assert "Remap-debrep: deb.debian.org/debian /debian ; http://deb.debian.org/debian/" in text
    assert "CacheDir: /c/cache" in text


def test_base_mounts_unconfine_apparmor_and_bind_fuse_and_wheels_read_only():
    text = logic.render_base_mounts("/w")
    assert "lxc.apparmor.profile = unconfined" in text
    assert "/dev/fuse dev/fuse none bind,create=file" in text
    assert "lxc.mount.entry = /w wheels none bind,ro,create=dir 0 0" in text


def test_minion_unit_kills_only_the_main_process():
    assert "KillMode=process" in logic.MINION_UNIT
    assert "ExecStart=/opt/salt/bin/salt-minion" in logic.MINION_UNIT
    assert "inet manual" in logic.BASE_INTERFACES and "dhcp" not in logic.BASE_INTERFACES.split("\n", 1)[1]


def test_every_subnet_derived_is_a_valid_private_24():
    for i in range(200):
        net = logic.derive_net(f"l{i}")
        assert logic.check_net(net) == net
        assert ipaddress.ip_network(f"{net}.0/24").is_private


def test_wheels_cover_salt_and_the_formulas_salt_extensions_once():
    reqs = logic.wheel_requirements({"salt_extensions": ["saltext.mysql==1.1.0", "salt==3008.4"]})
    assert reqs[:4] == logic.SALT_REQUIREMENTS
    assert reqs.count("salt==3008.4") == 1 and "saltext.mysql==1.1.0" in reqs
    assert logic.wheel_requirements({}) == logic.SALT_REQUIREMENTS


@pytest.mark.parametrize("bad", [{"salt_extensions": "saltext.mysql"}, {"salt_extensions": [1]}])
def test_malformed_salt_extensions_are_refused(bad):
    with pytest.raises(LabError, match="salt_extensions"):
        logic.wheel_requirements(bad)


def test_wheels_cover_the_wsgidav_engine_venv():
    reqs = logic.wheel_requirements(
        {
            "salt_extensions": ["sqlparse==0.6.1"],
            "wsgidav": {"requirements": ["WsgiDAV==4.4.0", "sqlparse==0.6.1"]},
        }
    )
    assert "WsgiDAV==4.4.0" in reqs and reqs.count("sqlparse==0.6.1") == 1
    with pytest.raises(LabError, match="wsgidav:requirements"):
        logic.wheel_requirements({"wsgidav": {"requirements": "WsgiDAV"}})


def test_the_repo_defaults_yield_the_wheels_the_formulas_pip_install():
    from fileshare_lab import images

    reqs = images.wheel_requirements()
    assert "salt==3008.4" in reqs and len(reqs) == len(set(reqs))
    assert "WsgiDAV==4.4.0" in reqs


# --- freezing a node ----------------------------------------------------------------------------

HYBRID_MOUNTS = """tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/freezer cgroup rw,relatime,freezer 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
"""


@pytest.mark.parametrize(
    "mounts,controller,where",
    [
        (HYBRID_MOUNTS, None, "/sys/fs/cgroup/unified"),
        (HYBRID_MOUNTS, "freezer", "/sys/fs/cgroup/freezer"),
        ("cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec 0 0\n", None, "/sys/fs/cgroup"),
        ("cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec 0 0\n", "freezer", None),
        ("cgroup /sys/fs/cgroup/freezer cgroup rw,freezer 0 0\n", None, None),
    ],
)
def test_cgroup_hierarchies_are_found_on_unified_and_hybrid_hosts(mounts, controller, where):
    assert logic.cgroup_mount(mounts, controller) == where


# /proc/<init>/cgroup of a node on this hybrid host: v1 controllers, then the v2 line, where the node's
# systemd has put its init below the payload group LXC made.
INIT_CGROUP = """6:freezer:/lxc.payload.fsdev-app1
1:cpu,cpuacct:/lxc.payload.fsdev-app1
0::/lxc.payload.fsdev-app1/init.scope
"""


def test_the_container_cgroup_is_lxcs_payload_group_not_the_group_init_sits_in():
    assert logic.container_cgroup(INIT_CGROUP, "fsdev-app1") == "lxc.payload.fsdev-app1"
    assert logic.container_cgroup(INIT_CGROUP, "fsdev-app1", "freezer") == "lxc.payload.fsdev-app1"
    assert logic.container_cgroup(INIT_CGROUP, "fsdev-app1", "cpuacct") == "lxc.payload.fsdev-app1"


def test_a_payload_group_nested_below_a_parent_keeps_its_parent():
    text = "0::/lxc.pivot/lxc.payload.fsdev-db1/system.slice/mariadb.service\n"
    assert logic.container_cgroup(text, "fsdev-db1") == "lxc.pivot/lxc.payload.fsdev-db1"


def test_a_group_lxc_renamed_past_a_leftover_is_the_nodes_own():
    # A killed run left lxc.payload.fstestx-node1 behind: LXC started the new node in ...-node1-1.
    text = "0::/lxc.payload.fstestx-node1-1/init.scope\n6:freezer:/lxc.payload.fstestx-node1-1\n"
    assert logic.container_cgroup(text, "fstestx-node1") == "lxc.payload.fstestx-node1-1"
    assert logic.container_cgroup(text, "fstestx-node1", "freezer") == "lxc.payload.fstestx-node1-1"
    with pytest.raises(LabError, match="not below lxc.payload.fstestx-node1"):
        logic.container_cgroup("0::/lxc.payload.fstestx-node1-x/init.scope\n", "fstestx-node1")


def test_every_cgroup_hierarchy_is_found_once():
    mounts = (
        "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid 0 0\n"
        "cgroup /sys/fs/cgroup/freezer cgroup rw,freezer 0 0\n"
        "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\n"
        "proc /proc proc rw 0 0\n"
    )
    assert logic.cgroup_mounts(mounts) == [
        "/sys/fs/cgroup/unified",
        "/sys/fs/cgroup/freezer",
        "/sys/fs/cgroup/cpu,cpuacct",
    ]


@pytest.mark.parametrize(
    "entry, ours",
    [
        ("lxc.payload.fstest-node1", True),
        ("lxc.payload.fstest-node1-2", True),
        ("lxc.monitor.fstest-node1", True),
        ("lxc.payload.fstest-node10", False),
        ("lxc.payload.fstestx-node1", False),
        ("lxc.pivot", False),
        ("system.slice", False),
    ],
)
def test_only_this_containers_leftover_groups_are_taken(entry, ours):
    assert logic.leftover_group(entry, "fstest-node1") is ours


def test_a_hierarchy_the_init_is_not_in_gives_none():
    assert logic.container_cgroup("0::/lxc.payload.fsdev-app1/init.scope\n", "fsdev-app1", "freezer") is None
    assert logic.container_cgroup("6:freezer:/lxc.payload.fsdev-app1\n", "fsdev-app1") is None


def test_another_containers_group_is_never_taken_for_this_ones():
    with pytest.raises(LabError, match="not below lxc.payload.fsdev-app1"):
        logic.container_cgroup("0::/lxc.payload.fsdev-app10/init.scope\n", "fsdev-app1")


def test_cgroup_events_are_read_as_numbers():
    assert logic.parse_cgroup_events("populated 1\nfrozen 0\n") == {"populated": 1, "frozen": 0}
    assert logic.parse_cgroup_events("") == {}


@pytest.mark.parametrize(
    "stat,expected",
    [
        ("4242 (glusterfs) D 1 4242 4242 0 -1", ("glusterfs", "D")),
        ("17 (tmux: server) S 1 17 17 0 -1", ("tmux: server", "S")),
        ("99 (a) b)) R 1 99 99 0 -1", ("a) b)", "R")),
    ],
)
def test_a_tasks_name_and_state_are_read_even_when_the_name_has_spaces_or_parentheses(stat, expected):
    assert logic.parse_proc_stat(stat) == expected


def test_a_complete_freeze_says_how_long_it_took():
    assert logic.freeze_message("app1", True, [], 0.12) == "app1 frozen (0.1s)"


def test_a_partial_freeze_names_the_tasks_that_could_not_stop():
    msg = logic.freeze_message("app1", False, [("glusterfs", 812), ("ls", 4242)], 5.03)
    assert msg.startswith("app1 frozen except 2 task(s) in uninterruptible sleep: glusterfs(812), ls(4242)")
    assert "heal" in msg


def test_a_long_list_of_stuck_tasks_is_cut_short():
    msg = logic.freeze_message("app1", False, [("df", p) for p in range(25)], 5.0)
    assert "except 25 task(s)" in msg and "df(9)," in msg and "df(10)" not in msg and "and 15 more" in msg


def test_a_partial_freeze_without_a_sleeping_task_still_says_it_is_not_complete():
    assert "not yet stopped" in logic.freeze_message("app1", False, [], 5.0)


THAWED = {"freeze": 0, "frozen": 0, "v1": "THAWED"}


@pytest.mark.parametrize(
    "lxc,freezer,shown",
    [
        # lxc-info on a hybrid host reads the v1 freezer only and says RUNNING for a v2 freeze.
        ("RUNNING", {**THAWED, "freeze": 1, "frozen": 1}, "FROZEN"),
        ("RUNNING", {**THAWED, "freeze": 1}, "FREEZING"),
        ("RUNNING", THAWED, "RUNNING"),
        ("RUNNING", {"freeze": 0, "frozen": 0, "v1": None}, "RUNNING"),
        ("RUNNING", None, "RUNNING"),
        # lxc-freeze's own freeze, and an interrupted one that left the v1 freezer FREEZING.
        ("FROZEN", {**THAWED, "v1": "FROZEN"}, "FROZEN"),
        ("FREEZING", {**THAWED, "v1": "FREEZING"}, "FREEZING"),
        # LXC keeps saying FREEZING after an interrupted lxc-freeze was thawed: its processes run.
        ("FREEZING", THAWED, "RUNNING"),
        ("STOPPED", None, "STOPPED"),
    ],
)
def test_status_shows_what_the_freezers_hold_not_what_lxc_remembers(lxc, freezer, shown):
    assert logic.node_state(lxc, freezer) == shown


@pytest.mark.parametrize(
    "lxc,freezer,plan",
    [
        ("STOPPED", None, ["start"]),
        ("RUNNING", {**THAWED, "freeze": 1, "frozen": 1}, ["thaw"]),
        # The half-done freeze of issue 12: some task never stopped.
        ("RUNNING", {**THAWED, "freeze": 1}, ["thaw"]),
        # lxc-freeze's complete freeze: lxc-unfreeze also sets LXC's record back to RUNNING.
        ("FROZEN", {**THAWED, "v1": "FROZEN"}, ["lxc-unfreeze"]),
        # An interrupted lxc-freeze: lxc-unfreeze ignores a FREEZING container, the freezer is written.
        ("FREEZING", {**THAWED, "v1": "FREEZING"}, ["thaw v1"]),
        ("FREEZING", {"freeze": 1, "frozen": 0, "v1": "FREEZING"}, ["thaw", "thaw v1"]),
        # heal twice: nothing left to undo, whatever LXC still remembers.
        ("FREEZING", THAWED, []),
        ("RUNNING", THAWED, []),
        ("RUNNING", None, []),
    ],
)
def test_heal_undoes_any_freeze_and_nothing_else(lxc, freezer, plan):
    assert logic.undo_plan(lxc, freezer) == plan


@pytest.mark.parametrize(
    "returncode, stderr, aborted",
    [
        (
            134,
            "Device or resource busy - Failed to rexec as memfd\nmunmap_chunk(): invalid pointer\nAborted\n",
            True,
        ),
        (134, b"Device or resource busy - Failed to rexec as memfd\nAborted\n", True),
        (1, "stat: cannot statx '/nope': No such file or directory\n", False),
        (0, "Failed to rexec as memfd", False),  # the command ran and succeeded: nothing to repeat
        (1, None, False),
    ],
)
def test_attach_aborted_only_when_lxc_attach_never_started_the_command(returncode, stderr, aborted):
    assert logic.attach_aborted(returncode, stderr) is aborted
