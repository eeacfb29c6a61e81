"""
The site's topology, derived once: which nodes hold which role, their addresses, the database writer
order, the cluster and service names, every port, and where clients reach each private layer.

Everything that needs one of these facts asks this module; nothing recomputes them:

- ``map.jinja`` calls :func:`derive` on the merged map data (``parameters/defaults.yaml`` + the OS
  layers + pillar ``fileshare:lookup`` + pillar ``fileshare``) and publishes the result as
  ``fileshare.topology``; formulas and templates read it there;
- the orchestrations read the same through ``map.jinja`` on the master;
- the suite's execution and state modules call :func:`get` at run time (pillar + the defaults from the
  fileserver) when a caller does not pass a port or name;
- the lab and bench tools import this file and call :func:`derive` on ``merged(defaults, pillar)``.

Literal ports and names live only in ``parameters/defaults.yaml`` (keys ``ports`` and ``names``, which a
site overrides in pillar ``fileshare:ports`` / ``fileshare:names``); the few derived defaults (the Galera
cluster name ``<site>-db``) live here. :func:`derive` never raises on a malformed pillar: rendering must
survive it so that the orchestration's validation step, not a render error, names the bad key.
"""

import copy
import ipaddress

__virtualname__ = "fileshare_topology"

ROLES = ["load", "app", "db", "intermediate", "storage", "infra", "arbitrator", "backup"]
# The HA layers whose nodes form a cluster reached over the network.
_PRIVATE = ["db", "intermediate", "storage"]


def __virtual__():
    return __virtualname__


# ---------------------------------------------------------------------------------------------------
# Pure logic
# ---------------------------------------------------------------------------------------------------


def merged(defaults, site):
    """The map data without OS layers: ``defaults`` with pillar ``lookup`` and then the site's settings
    merged over it (maps recursively, lists replaced), as map.jinja merges them."""
    out = copy.deepcopy(defaults) if isinstance(defaults, dict) else {}
    site = site if isinstance(site, dict) else {}
    lookup = site.get("lookup")
    if isinstance(lookup, dict):
        _merge(out, lookup)
    _merge(out, {k: v for k, v in site.items() if k != "lookup"})
    return out


def _merge(dest, src):
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(dest.get(key), dict):
            _merge(dest[key], value)
        else:
            dest[key] = copy.deepcopy(value)
    return dest


def _mapping(value):
    return value if isinstance(value, dict) else {}


def _text(value):
    return value if isinstance(value, str) else ""


def _nodes(config):
    """The well-formed entries of fileshare:nodes, in pillar order (validation reports the others)."""
    raw = config.get("nodes")
    if not isinstance(raw, list):
        return []
    nodes = []
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
            continue
        roles = entry.get("roles")
        roles = [r for r in roles if isinstance(r, str)] if isinstance(roles, list) else []
        nodes.append({"name": entry["name"], "address": _text(entry.get("address")), "roles": roles})
    return nodes


def _prefix(config):
    subnet = _text(_mapping(config.get("network")).get("subnet"))
    try:
        return ipaddress.ip_network(subnet, strict=False).prefixlen
    except ValueError:
        return None


def _backup_nodes(architecture, single_host, roles):
    """Who holds the backup repository and takes the backups. A node listed with role ``backup`` wins.
    Otherwise, where every node carries every layer (all_in_one, mini_ha), the last database node: the
    single node, or on mini_ha a Galera member that is not the first writer (a copy there never stalls
    the writer). full_ha has no default: its backup node is the site's choice (its own node)."""
    if roles["backup"]:
        return list(roles["backup"])
    if (single_host or architecture == "mini_ha") and roles["db"]:
        return roles["db"][-1:]
    return []


# Who reaches whom, by role: the firewall admits exactly these (infra/firewall.jinja) and the site
# diagram draws them (:func:`dot`).
# ``to``: the roles that serve; ``from``: the roles that reach them, or ``vip`` (the VIP, from which
# HAProxy's checks and proxied connections may leave a load node), ``backup_remote`` (the backup nodes
# that copy a Galera member and read the volume), ``users`` (the front's allowed sources, anyone by
# default), ``site_network`` (the site's subnet); ``ports``: keys of ``ports``. In rule order.
FLOWS = [
    (
        "users reach the service (HTTPS, and HTTP for the redirect)",
        ["load"],
        "tcp",
        ["http", "https"],
        ["users"],
    ),
    (
        "apps reach the database and Redis fronts on the VIP",
        ["load"],
        "tcp",
        ["db_front", "redis_front"],
        ["app", "load", "vip"],
    ),
    ("DNS (bind9) for the site network", ["load"], "tcp", ["dns"], ["site_network"]),
    ("DNS (bind9) for the site network", ["load"], "udp", ["dns"], ["site_network"]),
    ("VRRP between the load nodes", ["load"], "vrrp", [], ["load"]),
    # From their own addresses (the command binds it), not the VIP: a new VIP holder asks before
    # handing sessions over (load/vip_handoff.sls).
    (
        "the other load nodes ask this node's HAProxy whether it answers",
        ["load"],
        "tcp",
        ["haproxy_peer"],
        ["load"],
    ),
    ("HAProxy reaches the app server", ["app"], "tcp", ["app"], ["load", "vip"]),
    (
        "MariaDB for HAProxy, the apps and the Galera peers (SST)",
        ["db", "arbitrator"],
        "tcp",
        ["db"],
        ["db", "arbitrator", "load", "vip", "app"],
    ),
    (
        "Galera replication, IST and SST among the database nodes",
        ["db", "arbitrator"],
        "tcp",
        ["galera_replication", "galera_ist", "galera_sst"],
        ["db", "arbitrator"],
    ),
    # The database peers too: galera.bootstrap's "a peer already runs Primary" guard, galera.quorum
    # peers=True and safe_to_take_down (the rolling-upgrade gate) ask each other's responder.
    (
        "HAProxy, the database peers and the backup node ask the Galera health responder",
        ["db", "arbitrator"],
        "tcp",
        ["galera_health"],
        ["load", "vip", "db", "arbitrator", "backup_remote"],
    ),
    (
        "the backup node's database copy (ssh, its key forced to that command)",
        ["db", "arbitrator"],
        "tcp",
        ["ssh"],
        ["backup_remote"],
    ),
    (
        "Redis and Sentinel for their peers, HAProxy and the apps",
        ["intermediate"],
        "tcp",
        ["redis", "sentinel"],
        ["intermediate", "load", "vip", "app"],
    ),
    ("Memcached for the apps", ["intermediate"], "tcp", ["memcached"], ["app"]),
    (
        "GlusterFS (glusterd and bricks) for the storage peers and the clients (app, backup)",
        ["storage"],
        "tcp",
        ["glusterd", "gluster_management", "gluster_bricks"],
        ["storage", "app", "backup_remote"],
    ),
]


def flows(ports):
    """FLOWS with their port numbers: ``[{comment, to, proto, ports, sources}]``."""
    return [
        {
            "comment": comment,
            "to": list(to),
            "proto": proto,
            "ports": [ports.get(p) for p in keys],
            "sources": list(sources),
        }
        for comment, to, proto, keys, sources in FLOWS
    ]


def derive(config, minion_id=None):
    """
    The topology of the site described by ``config`` (the merged map data), and, with ``minion_id``,
    that node's own view.

    Returns a dict:

    ``architecture``, ``single_host`` (all_in_one), ``site``, ``domain``
    ``vip``            ``{address, name, fqdn, prefix}``
    ``nodes``          ``[{name, address, roles}]`` in pillar order; ``by_name`` the same by name
    ``roles``          role -> [node names] (every role, empty when unused); ``addresses`` role -> [addresses]
                       (``backup`` is derived when no node lists it, and added to that node's roles)
    ``db_writers``     database nodes in writer order: the first takes writes, the next takes over
    ``backup_remote``  backup nodes that copy a Galera member over ssh (HA: every backup node; a site
                       restore sends the restored copy to every member the same way)
    ``ports``          every port (``parameters/defaults.yaml`` ``ports``, overridden by pillar)
    ``names``          ``galera_cluster``, ``sentinel_master``, ``volume``, ``backends`` (HAProxy's
                       ``app``/``db``/``redis`` backends)
    ``endpoints``      where apps reach ``db`` {host, port}, ``redis`` {host, port}, ``memcached``
                       [{host, port}]: loopback on all_in_one, HAProxy's fronts on the VIP on HA
    ``node``           (with minion_id) ``{name, address, roles}`` of that node (address 127.0.0.1 and
                       no roles when the pillar does not list it)
    ``private_listen`` (with minion_id) addresses its private services listen on
    ``db_clients``     hosts the database admits the product's user from (apps; on HA the load nodes)
    ``flows``          who reaches whom (:data:`FLOWS` with port numbers): the firewall's rules
    """
    config = _mapping(config)
    architecture = _text(config.get("architecture"))
    single_host = architecture in ("", "all_in_one")
    site = _text(config.get("site"))
    domain = _text(config.get("domain"))
    vip = _mapping(config.get("vip"))
    vip_address = _text(vip.get("address"))
    vip_name = _text(vip.get("name"))

    nodes = _nodes(config)
    roles = {role: [n["name"] for n in nodes if role in n["roles"]] for role in ROLES}
    backup = _backup_nodes(architecture, single_host, roles)
    if backup and not roles["backup"]:
        for node in nodes:
            if node["name"] in backup:
                node["roles"] = node["roles"] + ["backup"]
        roles["backup"] = backup
    addresses = {role: [n["address"] for n in nodes if role in n["roles"] and n["address"]] for role in ROLES}

    ports = copy.deepcopy(_mapping(config.get("ports")))
    names = copy.deepcopy(_mapping(config.get("names")))
    names["galera_cluster"] = _text(names.get("galera_cluster")) or f"{site or 'fileshare'}-db"
    names["volume"] = _text(_mapping(config.get("storage")).get("volume"))
    names["backends"] = _mapping(names.get("backends"))

    if single_host or not vip_address:
        endpoints = {
            "db": {"host": "127.0.0.1", "port": ports.get("db")},
            "redis": {"host": "127.0.0.1", "port": ports.get("redis")},
            "memcached": [{"host": "127.0.0.1", "port": ports.get("memcached")}],
        }
    else:
        endpoints = {
            "db": {"host": vip_address, "port": ports.get("db_front")},
            "redis": {"host": vip_address, "port": ports.get("redis_front")},
            "memcached": [
                {"host": address, "port": ports.get("memcached")} for address in addresses["intermediate"]
            ],
        }

    db_clients = ["localhost", "127.0.0.1"]
    if not single_host:
        for address in addresses["load"] + addresses["app"]:
            if address not in db_clients:
                db_clients.append(address)

    # On HA the backup node copies a synced Galera member over ssh (itself too, when it is one: mini_ha)
    # and a site restore sends the copy to every member; all_in_one's copies its own server.
    backup_remote = [] if single_host else list(roles["backup"])

    topology = {
        "architecture": architecture,
        "single_host": single_host,
        "site": site,
        "domain": domain,
        "vip": {
            "address": vip_address,
            "name": vip_name,
            "fqdn": f"{vip_name}.{domain}" if vip_name and domain else vip_name or domain,
            "prefix": _prefix(config),
        },
        "nodes": nodes,
        "by_name": {n["name"]: n for n in nodes},
        "roles": roles,
        "addresses": addresses,
        "db_writers": list(roles["db"]),
        "backup_remote": backup_remote,
        "ports": ports,
        "names": names,
        "endpoints": endpoints,
        "db_clients": db_clients,
        "flows": flows(ports),
    }
    if minion_id is not None:
        node = topology["by_name"].get(minion_id) or {"name": minion_id, "address": "127.0.0.1", "roles": []}
        node = copy.deepcopy(node)
        node["address"] = node["address"] or "127.0.0.1"
        listen = ["127.0.0.1"]
        if not single_host and node["address"] != "127.0.0.1":
            listen.append(node["address"])
        topology["node"] = node
        topology["private_listen"] = listen
    return topology


def role_of(topology, name):
    """The roles of node ``name`` ([] when the site does not list it)."""
    return list(topology["by_name"].get(name, {}).get("roles", []))


def first(topology, role):
    """The first node of ``role`` in pillar order, or None."""
    names = topology["roles"].get(role, [])
    return names[0] if names else None


# Layer colours of the site diagram (one per role; a node group takes its first role's).
_COLOURS = {
    "load": "#dbe9f6",
    "app": "#e2f0d9",
    "db": "#fde9d9",
    "arbitrator": "#fde9d9",
    "intermediate": "#fff2cc",
    "storage": "#ede1f5",
    "backup": "#eeeeee",
    "infra": "#f4f4f4",
}


def _ports_label(pairs):
    """'80, 443' for tcp, '53/udp', 'vrrp': the ports of (proto, port) pairs, in first-seen order."""
    out = []
    for proto, port in pairs:
        text = proto if proto == "vrrp" else str(port) if proto == "tcp" else f"{port}/{proto}"
        if text not in out:
            out.append(text)
    return ", ".join(out)


def _dot_text(value):
    """VALUE as a quoted DOT string; its line breaks as DOT's centred ones."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def dot(topology):
    """
    The site as a Graphviz digraph (DOT text): nodes grouped by their roles (one box per group, the
    nodes with their addresses), the users and the VIP, and one arrow per pair of groups with the
    ports of every flow between them (``topology["flows"]``, the firewall's rules); ports among the
    members of one group are written in its box. Render it with ``dot -Tsvg``.
    """
    groups = {}  # roles (infra left out: every node has it) -> [node]
    for node in topology["nodes"]:
        key = tuple(role for role in node["roles"] if role != "infra") or tuple(node["roles"])
        if key:
            groups.setdefault(key, []).append(node)
    ids = {key: f"cluster_{i}" for i, key in enumerate(groups)}
    holders = {role: [key for key in groups if role in key] for role in ROLES}
    holders["backup_remote"] = [
        key for key in groups if any(n["name"] in topology["backup_remote"] for n in groups[key])
    ]
    edges, peers = {}, {key: [] for key in groups}
    outside = {"users": {}, "site_network": {}}  # group -> (proto, port) pairs from outside the site
    for flow in topology["flows"]:
        pairs = [(flow["proto"], port) for port in flow["ports"]] or [(flow["proto"], None)]
        targets = [key for role in flow["to"] for key in holders.get(role, [])]
        for source in flow["sources"]:
            for target in dict.fromkeys(targets):
                if source in outside:
                    outside[source].setdefault(target, []).extend(pairs)
                    continue
                for key in dict.fromkeys(holders.get(source, [])):
                    if key == target:
                        peers[key].extend(pairs)
                    else:
                        edges.setdefault((key, target), []).extend(pairs)
    vip = topology["vip"]
    title = f"{topology['site'] or 'fileshare'} ({topology['architecture'] or 'all_in_one'})"
    lines = [
        "digraph fileshare {",
        f"  graph [rankdir=LR, compound=true, fontname=Helvetica, labelloc=t, label={_dot_text(title)}];",
        '  node [shape=box, style="rounded,filled", fillcolor=white, fontname=Helvetica, fontsize=10];',
        '  edge [fontname=Helvetica, fontsize=9, color="#555555"];',
        '  users [shape=ellipse, label="users"];',
    ]
    front = "users"
    if vip["address"] and holders["load"]:
        label = f"VIP {vip['fqdn']}\n{vip['address']}"
        lines.append(f'  vip [shape=ellipse, fillcolor="#dbe9f6", label={_dot_text(label)}];')
        front = "vip"
    for key, members in groups.items():
        label = " + ".join(key)
        if peers[key]:
            label += f"\npeers: {_ports_label(peers[key])}"
        lines.append(f"  subgraph {ids[key]} {{")
        colour = _COLOURS.get(key[0], "#ffffff")
        lines.append(f'    style="rounded,filled"; fillcolor="{colour}"; label={_dot_text(label)};')
        for node in members:
            label = _dot_text(node["name"] + "\n" + node["address"])
            lines.append(f"    {_dot_text(node['name'])} [label={label}];")
        lines.append("  }")

    def anchor(key):
        return _dot_text(groups[key][0]["name"])

    users = outside["users"]
    if front == "vip" and users:
        label = _dot_text(_ports_label(p for pairs in users.values() for p in pairs))
        lines.append(f"  users -> vip [label={label}];")
    for target, pairs in users.items():
        if front == "vip":
            lines.append(f"  vip -> {anchor(target)} [lhead={ids[target]}, style=dashed];")
        else:
            label = _dot_text(_ports_label(pairs))
            lines.append(f"  users -> {anchor(target)} [lhead={ids[target]}, label={label}];")
    if outside["site_network"]:
        lines.append('  site_network [shape=ellipse, label="site network"];')
        for target, pairs in outside["site_network"].items():
            label = _dot_text(_ports_label(pairs))
            lines.append(f"  site_network -> {anchor(target)} [lhead={ids[target]}, label={label}];")
    for (source, target), pairs in edges.items():
        ends = f"ltail={ids[source]}, lhead={ids[target]}"
        lines.append(
            f"  {anchor(source)} -> {anchor(target)} [{ends}, label={_dot_text(_ports_label(pairs))}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------
# Salt functions
# ---------------------------------------------------------------------------------------------------

_DEFAULTS = "salt://fileshare/parameters/defaults.yaml"


def _defaults():
    """parameters/defaults.yaml from the fileserver (once per process)."""
    if "fileshare_topology.defaults" not in __context__:
        import yaml  # noqa: PLC0415 - Salt ships PyYAML; only this I/O path needs it

        text = __salt__["cp.get_file_str"](_DEFAULTS)
        if not text:
            from salt.exceptions import CommandExecutionError  # noqa: PLC0415

            raise CommandExecutionError(f"{_DEFAULTS} is not reachable on the fileserver")
        __context__["fileshare_topology.defaults"] = yaml.safe_load(text) or {}
    return __context__["fileshare_topology.defaults"]


def get(key=None, default=None):
    """
    This node's view of the site's topology at run time (for the suite's modules and for operators),
    from pillar ``fileshare`` and ``parameters/defaults.yaml``. ``key`` picks one value
    (colon-separated, e.g. ``ports:sentinel``).

    CLI Example:

    .. code-block:: bash

        salt db1 fileshare_topology.get
        salt db1 fileshare_topology.get ports:galera_health
        salt-call fileshare_topology.get roles:db
    """
    # Salt 3008 masks every pillar leaf a remote call reads unless told otherwise (the topology holds
    # no secret: derive() reads no key under secrets).
    site = __salt__["pillar.get"]("fileshare", {}, unmask=True)
    topology = derive(merged(_defaults(), site), __grains__.get("id"))
    if key is None:
        return topology
    value = topology
    for part in str(key).split(":"):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return default
    return value


def diagram():
    """
    The site's diagram as Graphviz DOT text (:func:`dot` of this node's topology): nodes by role, the
    VIP, and every flow the firewall admits with its ports. ``salt-run fileshare.diagram`` renders it.

    CLI Example:

    .. code-block:: bash

        salt lb1 fileshare_topology.diagram --out=txt
        salt-call fileshare_topology.diagram --out=newline_values_only | dot -Tsvg -o site.svg
    """
    return dot(get())
