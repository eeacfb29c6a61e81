"""
Validate the ``fileshare:`` pillar before anything is changed on any node.

Two layers, as in the rest of the suite:

- pure functions (:func:`problems`, :func:`semantic_problems`) take the pillar subtree and return a list
  of ``{"key": "fileshare:nodes:1:address", "reason": "..."}``; unit tests hit these directly;
- the Salt functions :func:`validate` and :func:`check` read ``__pillar__`` (or given data).

The JSON Schema (draft 2020-12) lives in this module, not in a file beside the formula: the module is
what ``saltutil.sync_all`` ships to the master's own minion (``state.orchestrate``) and to every node,
so the schema travels with the code that applies it and validation needs no fileserver round trip
before it can say what is wrong (one rule compares the pillar with ``parameters/defaults.yaml`` when
the fileserver has it). ``docs/pillar.md`` is its human reference.

Reasons never contain the value of anything under ``fileshare:secrets``.
"""

import difflib
import ipaddress
import logging

import yaml
from salt.exceptions import CommandExecutionError

try:
    import jsonschema

    HAS_JSONSCHEMA = True
except ImportError:  # pragma: no cover - the lab's /opt/salt and the venv both carry it
    HAS_JSONSCHEMA = False

log = logging.getLogger(__name__)

__virtualname__ = "fileshare_pillar"

ROLES = ["load", "app", "db", "intermediate", "storage", "infra", "arbitrator", "backup"]
# Roles every node of all_in_one / mini_ha carries. arbitrator (garbd) is named but not built yet.
LAYER_ROLES = ["load", "app", "db", "intermediate", "storage", "infra"]
# Roles a node of all_in_one / mini_ha may carry besides the layers (the backup repository; derived
# when no node lists it: fileshare_topology._backup_nodes).
OPTIONAL_ROLES = ["backup"]
ARCHITECTURES = ["all_in_one", "mini_ha", "full_ha"]
PRODUCTS = ["owncloud", "seafile", "webdav"]
# Products the contract names but no state builds yet (semantic rule unbuilt_problems refuses them).
UNBUILT_PRODUCTS = ["owncloud", "seafile"]
# The package mirror a node's OS family reads (infra/repositories.sls): a site needs at least one.
PACKAGE_MIRRORS = ["apt", "rpm", "pacman"]
# fileshare:ports (parameters/defaults.yaml holds their values; a unit test keeps the two lists equal).
PORTS = [
    "http",
    "https",
    "ssh",
    "dns",
    "app",
    "webdav",
    "db",
    "galera_replication",
    "galera_ist",
    "galera_sst",
    "galera_health",
    "redis",
    "sentinel",
    "memcached",
    "glusterd",
    "gluster_management",
    "db_front",
    "redis_front",
    "haproxy_stats",
    "haproxy_peer",
]

_DNS_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_URL = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s]*)?$"
_SIZE = r"^[0-9]+[KMGT]?$"


def _url(what):
    return {"type": "string", "pattern": _URL, "x-reason": f"{what} must be an http:// or https:// URL"}


def _port():
    return {"type": "integer", "minimum": 1, "maximum": 65535}


def _networks():
    return {
        "type": "array",
        "items": {
            "type": "string",
            "pattern": r"^[0-9]{1,3}(\.[0-9]{1,3}){3}(/[0-9]{1,2})?$",
            "x-reason": "must be an IPv4 address or network",
        },
    }


def _fixed(properties, required=None, **extra):
    """A map with a fixed set of keys: any other key is refused, with the nearest known one named."""
    schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        schema["required"] = required
    schema.update(extra)
    return schema


def _path():
    return {"type": "string", "pattern": r"^/[^\s]*$", "x-reason": "must be an absolute path without spaces"}


def _size(example):
    return {"type": "string", "pattern": _SIZE, "x-reason": f"must be a size like {example}"}


def _label(what):
    return {
        "type": "string",
        "pattern": f"^{_DNS_LABEL}$",
        "x-reason": f"must be a DNS label (a-z, 0-9, '-', at most 63 characters){what}",
    }


def _name(what, chars="letters, digits, '_', '.', '-'", pattern="^[A-Za-z0-9_.-]{1,64}$"):
    return {"type": "string", "pattern": pattern, "x-reason": f"must be {what} ({chars})"}


def _required_when(condition, block, keys, reason):
    """JSON Schema if/then: when ``condition`` holds for the top level, ``block`` must hold ``keys``."""
    return {
        "if": {"properties": condition, "required": list(condition)},
        "then": {"properties": {block: {"required": keys, "x-reason": reason}}},
    }


SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://fileshare.example/pillar.schema.json",
    "title": "fileshare pillar",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "site",
        "domain",
        "architecture",
        "product",
        "network",
        "vip",
        "nodes",
        "mirrors",
        "load",
        "app",
        "db",
        "intermediate",
        "storage",
        "infra",
        "secrets",
    ],
    "properties": {
        "site": {
            "type": "string",
            "pattern": f"^{_DNS_LABEL}$",
            "x-reason": "must be a short lower-case name (DNS label: a-z, 0-9, '-', at most 63 characters)",
        },
        "domain": {
            "type": "string",
            "maxLength": 253,
            "pattern": rf"^({_DNS_LABEL}\.)+[a-z]([a-z0-9-]{{0,61}}[a-z0-9])?$",
            "x-reason": "must be a lower-case DNS domain of at least two labels (e.g. files.example.org)",
        },
        "architecture": {"enum": ARCHITECTURES},
        "product": {"enum": PRODUCTS},
        "network": _fixed(
            {
                "subnet": {
                    "type": "string",
                    "pattern": r"^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$",
                    "x-reason": "must be an IPv4 network in CIDR form (e.g. 10.77.0.0/24)",
                },
            },
            required=["subnet"],
        ),
        "vip": _fixed(
            {
                "address": {"type": "string", "format": "ipv4", "x-reason": "must be an IPv4 address"},
                "name": _label(""),
            },
            required=["address", "name"],
        ),
        "nodes": {
            "type": "array",
            "minItems": 1,
            "items": _fixed(
                {
                    "name": _label(": it is the minion id and host name"),
                    "address": {"type": "string", "format": "ipv4", "x-reason": "must be an IPv4 address"},
                    "roles": {
                        "type": "array",
                        "minItems": 1,
                        "uniqueItems": True,
                        "items": {"enum": ROLES},
                    },
                },
                required=["name", "address", "roles"],
            ),
        },
        # A free map (name -> URL); the states read python (Salt extensions, WsgiDAV) and the package
        # mirror of the node's OS (apt and apt_security, rpm or pacman).
        "mirrors": {
            "type": "object",
            "propertyNames": {"pattern": r"^[a-z][a-z0-9_]*$"},
            "additionalProperties": _url("a mirror"),
            "allOf": [
                {
                    "required": ["python"],
                    "x-reason": "is required: the Salt extensions and WsgiDAV install only from the site's "
                    "Python mirror",
                },
                {
                    "anyOf": [{"required": [key]} for key in PACKAGE_MIRRORS],
                    "x-reason": f"needs the package mirror of the nodes' OS: {', '.join(PACKAGE_MIRRORS)}",
                },
            ],
        },
        # The contract for the products to come (ownCloud, Seafile): no state reads it yet.
        "artifacts": {
            "type": "object",
            "additionalProperties": _fixed(
                {
                    "url": _url("an artifact url"),
                    "sha256": {
                        "type": "string",
                        "pattern": "^[0-9a-f]{64}$",
                        "x-reason": "must be the artifact's sha256 (64 lower-case hex digits)",
                    },
                    "version": {"type": "string"},
                },
                required=["url", "sha256"],
            ),
        },
        "load": _fixed(
            {
                # load/tls.sls installs cert and key when both are there, else makes a lab CA.
                "tls": _fixed(
                    {
                        "lab_ca": {"type": "boolean"},
                        # PEM certificate chain and key; the key is a secret (never echoed).
                        "cert": {"type": "string"},
                        "key": {"type": "string"},
                    },
                    allOf=[
                        {
                            "dependentRequired": {"cert": ["key"], "key": ["cert"]},
                            "x-reason": "needs both cert and key (the site's own certificate), or neither "
                            "(a lab CA)",
                        },
                        {
                            "if": {"properties": {"lab_ca": {"const": False}}, "required": ["lab_ca"]},
                            "then": {
                                "required": ["cert", "key"],
                                "x-reason": "is required with lab_ca false: without the site's own "
                                "certificate the front would get a lab CA's",
                            },
                        },
                    ],
                ),
                "acl": _fixed(
                    {
                        "admin_paths": {
                            "type": "array",
                            "items": {
                                "type": "string",
                                "pattern": "^/",
                                "x-reason": "must be a URL path (/...)",
                            },
                        },
                        "admin_sources": _networks(),
                        "allowed_sources": _networks(),
                    }
                ),
                "keepalived": _fixed(
                    {
                        # Seconds; below 1 keepalived speaks VRRPv3 (centiseconds, at most 40.95 s).
                        "advert_int": {"type": "number", "minimum": 0.05, "maximum": 255},
                        "check_interval": {"type": "integer", "minimum": 1, "maximum": 60},
                        "check_fall": {"type": "integer", "minimum": 1, "maximum": 10},
                        "virtual_router_id": {"type": "integer", "minimum": 1, "maximum": 255},
                        "preempt_delay": {"type": "integer", "minimum": 0, "maximum": 1000},
                        "interface": {"type": "string", "pattern": r"^[A-Za-z0-9_.@-]{1,15}$"},
                        # A free map: node name -> VRRP priority.
                        "priorities": {
                            "type": "object",
                            "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 254},
                        },
                    }
                ),
                "rate_limit": _fixed(
                    {
                        "requests_per_second": {"type": "integer", "minimum": 1},
                        "burst": {"type": "integer", "minimum": 0},
                    }
                ),
                "dns": _fixed({"recursion_allowed": _networks(), "allow_update": {"type": "boolean"}}),
                # Milliseconds without a first byte before HAProxy resends a body-less idempotent
                # request to another app node (a frozen node must not stall it for minutes).
                "app_response_timeout": {"type": "integer", "minimum": 100, "maximum": 300000},
            },
            required=["tls"],
        ),
        "app": _fixed(
            {
                "server": {"enum": ["apache", "nginx"]},
                "data_dir": _path(),
                # The app server's document root, where a product's code lives.
                "product_dir": _path(),
                "health": _fixed(
                    {
                        "dir": _path(),
                        "config": _path(),
                        # Seconds the node check forgives the data directory for not taking a write:
                        # a stall every app node shares (a silent storage node) must not take them all
                        # out of HAProxy at once.
                        "data_grace": {"type": "number", "minimum": 1, "maximum": 60},
                    }
                ),
                "php": _fixed(
                    {
                        "memory_limit": _size("512M"),
                        "upload_max_filesize": _size("2G"),
                        "max_children": {"type": "integer", "minimum": 1},
                    }
                ),
                "webdav": _fixed(
                    {
                        "realm": {"type": "string", "minLength": 1},
                        # mod_dav shares no locks between app nodes (docs/webdav.md); empty = by architecture.
                        "engine": {"enum": ["", "mod_dav", "wsgidav"]},
                        "lock_db": {"type": "string", "pattern": r"^(/[^\s]*)?$"},
                    }
                ),
            },
            required=["server", "data_dir"],
        ),
        "db": _fixed(
            {
                "engine": {"enum": ["mariadb", "postgresql"]},
                "name": _name(
                    "a database identifier", "letters, digits, '_'", "^[A-Za-z_][A-Za-z0-9_]{0,63}$"
                ),
                "user": _name(
                    "a database user name",
                    "letters, digits, '_', at most 32",
                    "^[A-Za-z_][A-Za-z0-9_]{0,31}$",
                ),
                # Galera's failure detection in seconds (docs/faults.md).
                "evs": _fixed(
                    {
                        key: {"type": "number", "exclusiveMinimum": 0, "maximum": 60}
                        for key in (
                            "keepalive_period",
                            "inactive_check_period",
                            "join_retrans_period",
                            "suspect_timeout",
                            "inactive_timeout",
                        )
                    }
                ),
            },
            required=["engine", "name", "user"],
        ),
        "intermediate": _fixed(
            {
                "redis": _fixed({"maxmemory_mb": {"type": "integer", "minimum": 16}}),
                "sentinel": _fixed(
                    {
                        "quorum": {"type": "integer", "minimum": 1},
                        "down_after_ms": {"type": "integer", "minimum": 100},
                        "failover_timeout_ms": {"type": "integer", "minimum": 1000},
                    }
                ),
                "memcached": _fixed(
                    {
                        "memory_mb": {"type": "integer", "minimum": 16},
                        "max_connections": {"type": "integer", "minimum": 16},
                    }
                ),
            }
        ),
        # Every port and name of the topology (defaults: parameters/defaults.yaml ports, names).
        "ports": _fixed(
            {
                **{key: _port() for key in PORTS},
                "gluster_bricks": {
                    "type": "string",
                    "pattern": r"^[0-9]{1,5}-[0-9]{1,5}$",
                    "x-reason": "must be a port range FIRST-LAST (Gluster's base-port and max-port)",
                },
            }
        ),
        "names": _fixed(
            {
                "galera_cluster": _name(
                    "a cluster name", "letters, digits, '_', '-'; empty = <site>-db", "^[A-Za-z0-9_-]{0,64}$"
                ),
                "sentinel_master": _name("a Sentinel master name"),
                "backends": _fixed(
                    {role: _name("an HAProxy backend name") for role in ("app", "db", "redis")}
                ),
            }
        ),
        "storage": _fixed(
            {
                "volume": _name("a volume name", "letters, digits, '_', '-'", "^[A-Za-z0-9_-]+$"),
                # Empty = by architecture: local on all_in_one, glusterfs on HA.
                "backend": {"enum": ["", "local", "glusterfs"]},
                # HA: where app nodes mount the volume; it must hold app:data_dir.
                "mount_point": _path(),
                # HA: the watch that remounts a wedged FUSE client (seconds).
                "mount_watch": _fixed(
                    {
                        "every": {"type": "number", "minimum": 0.5, "maximum": 60},
                        "probe_timeout": {"type": "number", "minimum": 1, "maximum": 60},
                        "stall": {"type": "integer", "minimum": 10, "maximum": 3600},
                    }
                ),
                # A free map: Gluster volume option -> value (gluster volume set).
                "options": {
                    "type": "object",
                    "additionalProperties": {"type": ["string", "number", "boolean"]},
                },
            },
            required=["volume"],
        ),
        "infra": _fixed(
            {
                "journald": _fixed(
                    {"system_max_use": _size("200M"), "max_retention": {"type": "string", "minLength": 1}}
                ),
                "logrotate": _fixed(
                    {
                        "rotate": {"type": "integer", "minimum": 1},
                        "frequency": {"enum": ["daily", "weekly", "monthly"]},
                    }
                ),
            }
        ),
        # A free map of secrets (strings) plus webdav_users (user -> password).
        "secrets": {
            "type": "object",
            "required": ["db_root_password", "db_password", "redis_password", "tsig_key"],
            "properties": {
                "webdav_users": {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": {"type": "string", "minLength": 1},
                },
            },
            "additionalProperties": {"type": "string", "minLength": 1},
        },
        # Backups (formulas/fileshare/backup_job, docs/backup.md): a restic repository on the backup node.
        "backup": _fixed(
            {
                # A local path on the backup node, or an off-site one over SFTP (restic's syntax).
                "repository": {
                    "type": "string",
                    "pattern": r"^(/[^\s]*|sftp:[a-z_][a-z0-9_.-]{0,31}@[A-Za-z0-9.-]{1,253}:/[^\s:]*)$",
                    "x-reason": "must be an absolute path on the backup node or sftp:USER@HOST:/PATH",
                },
                # Minutes between two archives of the binary logs (point-in-time restore).
                "binlog_interval": {"type": "integer", "minimum": 1, "maximum": 1440},
                # KiB/s restic writes at most (--limit-upload), 0 for no cap.
                "limit_kib": {"type": "integer", "minimum": 0, "maximum": 10485760},
                # The off-site host of an sftp: repository: its ssh port and its host key, pinned (the
                # line ssh-keyscan prints for it, without the host name: 'ssh-ed25519 AAAA...').
                "sftp": _fixed(
                    {
                        "port": _port(),
                        "host_key": {
                            "type": "string",
                            "pattern": r"^((ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) "
                            r"[A-Za-z0-9+/=]{16,})?$",
                            "x-reason": "must be a public host key as ssh-keyscan prints it: "
                            "'ssh-ed25519 AAAA...'",
                        },
                    }
                ),
                # systemd OnCalendar expression of the backup timer.
                "schedule": {
                    "type": "string",
                    "pattern": r"^[A-Za-z0-9*:/.,~ -]{1,64}$",
                    "x-reason": "must be a systemd OnCalendar expression (e.g. '*-*-* 02:30:00', 'daily')",
                },
                # Snapshots kept by restic forget after each backup.
                "retention": _fixed(
                    {
                        "daily": {"type": "integer", "minimum": 1, "maximum": 3660},
                        "weekly": {"type": "integer", "minimum": 0, "maximum": 520},
                        "monthly": {"type": "integer", "minimum": 0, "maximum": 1200},
                    }
                ),
            }
        ),
        # The site's release (fileshare.release; moved node by node by fileshare.rolling_upgrade).
        "release": _fixed(
            {
                "name": {
                    "type": "string",
                    "pattern": r"^[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}$",
                    "x-reason": "must be a release name (letters, digits, '.', '_', '+', '~', '-'; "
                    "at most 64 characters)",
                },
                # A free map: Debian package -> exact version.
                "packages": {
                    "type": "object",
                    "propertyNames": {
                        "pattern": r"^[a-z0-9][a-z0-9+.-]+$",
                        "x-reason": "must be a Debian package name",
                    },
                    "additionalProperties": {
                        "type": "string",
                        "pattern": r"^([0-9]+:)?[A-Za-z0-9.+~-]+$",
                        "x-reason": "must be an exact package version (e.g. 2.6.12-1+deb12u3)",
                    },
                },
                # A canary run of fileshare.rolling_upgrade: only these nodes take the release.
                "nodes": {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": True,
                    "items": {"type": "string"},
                    "x-reason": "must be a list of the site's node names, each once",
                },
            },
            required=["name"],
        ),
        # nftables (formulas/fileshare/infra/firewall.sls): on by default on mini_ha/full_ha.
        "firewall": _fixed(
            {
                "enabled": {"type": "boolean"},
                # Who may ssh to the nodes; nobody when empty.
                "admin_sources": _networks(),
            }
        ),
        # Free-form overrides merged over the OS map (template-formula's `lookup`).
        "lookup": {"type": "object"},
        # Per-site template overrides (TOFS, see formulas/fileshare/libtofs.jinja).
        "tofs": _fixed(
            {
                "files_switch": {"type": "array", "items": {"type": "string"}},
                # A free map: template -> the files to look for instead.
                "source_files": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            }
        ),
    },
    "allOf": [
        # The load nodes of mini_ha and full_ha share the VIP by VRRP, authenticated.
        _required_when(
            {"architecture": {"enum": ["mini_ha", "full_ha"]}},
            "secrets",
            ["vrrp_password"],
            "mini_ha and full_ha need the VRRP password of the load nodes here",
        ),
        _required_when(
            {"product": {"const": "webdav"}},
            "secrets",
            ["webdav_users"],
            "product webdav needs its users and passwords here",
        ),
    ],
}

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "boolean": "true or false",
    "object": "a map",
    "array": "a list",
    "number": "a number",
    "null": "empty",
}


def _key(path):
    return ":".join(["fileshare"] + [str(p) for p in path])


def _is_secret(path):
    return bool(path) and (path[0] == "secrets" or list(path[:3]) == ["load", "tls", "key"])


def _got(instance):
    return {
        dict: "a map",
        list: "a list",
        str: "a string",
        bool: "true/false",
        int: "an integer",
        float: "a number",
        type(None): "nothing",
    }.get(type(instance), type(instance).__name__)


# Keys of earlier releases and where they live now, so an old site's pillar is told where to go.
MOVED = {
    ("app", "port"): "fileshare:ports:app",
    ("db", "port"): "fileshare:ports:db",
    ("db", "galera"): "fileshare:names:galera_cluster",
    ("intermediate", "redis", "port"): "fileshare:ports:redis",
    ("intermediate", "memcached", "port"): "fileshare:ports:memcached",
    ("intermediate", "sentinel", "port"): "fileshare:ports:sentinel",
    ("intermediate", "sentinel", "master_name"): "fileshare:names:sentinel_master",
}


def _unknown_key(path, known):
    """Why ``path`` is refused: where it moved, else the nearest known key (a typo), else the known keys."""
    moved = MOVED.get(tuple(str(p) for p in path if not isinstance(p, int)))
    if moved:
        return f"unknown key (moved to {moved})"
    near = difflib.get_close_matches(str(path[-1]), known, n=1)
    if near:
        return f"unknown key (did you mean {near[0]}?)"
    return f"unknown key (known here: {', '.join(known)})"


def _schema_problem(error):
    """Turn one jsonschema error into ``[{key, reason}]`` without ever echoing a secret's value."""
    path = list(error.absolute_path)
    secret = _is_secret(path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    custom = schema.get("x-reason")
    shown = "" if secret or isinstance(error.instance, (dict, list)) else f" (got {error.instance!r})"
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return [{"key": _key(path + [k]), "reason": custom or "is required but missing"} for k in missing]
    if error.validator == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        return [
            {"key": _key(path + [k]), "reason": _unknown_key(path + [k], known)}
            for k in error.instance
            if k not in known
        ]
    if error.validator == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        names = " or ".join(_TYPE_NAMES.get(t, t) for t in wanted)
        return [{"key": _key(path), "reason": f"must be {names}, got {_got(error.instance)}"}]
    if error.validator == "enum":
        allowed = ", ".join(str(v) for v in error.validator_value)
        return [{"key": _key(path), "reason": f"must be one of {allowed}{shown}"}]
    if custom:
        return [{"key": _key(path), "reason": f"{custom}{shown}"}]
    if error.validator == "uniqueItems":
        return [{"key": _key(path), "reason": "lists the same item twice"}]
    if error.validator in ("minItems", "minProperties"):
        return [{"key": _key(path), "reason": f"needs at least {error.validator_value} entries"}]
    if error.validator == "minLength":
        return [{"key": _key(path), "reason": "must not be empty"}]
    if error.validator in ("minimum", "maximum", "maxLength"):
        return [{"key": _key(path), "reason": f"violates {error.validator} {error.validator_value}{shown}"}]
    if error.validator == "propertyNames":
        return [{"key": _key(path), "reason": "has a key that is not a lower-case name"}]
    # A validator this function does not phrase: say which, never the instance.
    return [{"key": _key(path), "reason": f"fails schema rule {error.validator}"}]


def schema_problems(data):
    """Return ``[{key, reason}]`` for everything the JSON Schema rejects in ``data`` (fileshare subtree)."""
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    found = []
    for error in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        for problem in _schema_problem(error):
            if problem not in found:
                found.append(problem)
    return found


# ---------------------------------------------------------------------------------------------------
# Semantic rules JSON Schema cannot express. Each takes the (schema-valid) subtree, returns problems.
# ---------------------------------------------------------------------------------------------------


def address_problems(data):
    """VIP and nodes inside the subnet, not its network/broadcast address, no duplicates or collisions."""
    found = []
    try:
        subnet = ipaddress.ip_network(data["network"]["subnet"])
    except ValueError as exc:
        return [{"key": "fileshare:network:subnet", "reason": f"is not a valid network: {exc}"}]
    where = f"fileshare:network:subnet {subnet}"
    reserved = {subnet.network_address, subnet.broadcast_address} if subnet.prefixlen < 31 else set()

    def inside(key, text):
        address = ipaddress.ip_address(text)
        if address not in subnet:
            found.append({"key": key, "reason": f"{text} is outside {where}"})
        elif address in reserved:
            found.append({"key": key, "reason": f"{text} is the network or broadcast address of {where}"})

    inside("fileshare:vip:address", data["vip"]["address"])
    vip_sound = not found
    names, addresses = {}, {}
    for index, node in enumerate(data["nodes"]):
        inside(f"fileshare:nodes:{index}:address", node["address"])
        if node["name"] in names:
            found.append(
                {
                    "key": f"fileshare:nodes:{index}:name",
                    "reason": f"{node['name']} is already the name of fileshare:nodes:{names[node['name']]}",
                }
            )
        names.setdefault(node["name"], index)
        if node["address"] in addresses:
            found.append(
                {
                    "key": f"fileshare:nodes:{index}:address",
                    "reason": f"{node['address']} is already the address of "
                    f"fileshare:nodes:{addresses[node['address']]}",
                }
            )
        addresses.setdefault(node["address"], index)

    vip = data["vip"]["address"]
    if data["architecture"] == "all_in_one":
        # No VRRP on one node: users reach the node itself, so the VIP must be its address.
        if vip_sound and len(data["nodes"]) == 1 and vip != data["nodes"][0]["address"]:
            found.append(
                {
                    "key": "fileshare:vip:address",
                    "reason": f"{vip} must be the single node's own address {data['nodes'][0]['address']} "
                    "on all_in_one (there is no floating address without VRRP)",
                }
            )
    elif vip in addresses:
        found.append(
            {
                "key": "fileshare:vip:address",
                "reason": f"{vip} collides with fileshare:nodes:{addresses[vip]}:address: "
                "the floating VIP needs an address of its own",
            }
        )
    return found


def _with_role(nodes, role):
    return [(i, n) for i, n in enumerate(nodes) if role in n["roles"]]


def topology_problems(data):
    """Node counts and roles per architecture: refuse what cannot be highly available."""
    arch, nodes = data["architecture"], data["nodes"]
    found = []
    if arch in ("all_in_one", "mini_ha"):
        wanted = 1 if arch == "all_in_one" else 3
        if len(nodes) != wanted:
            return [
                {
                    "key": "fileshare:nodes",
                    "reason": f"{arch} needs exactly {wanted} node{'s' if wanted > 1 else ''}, "
                    f"found {len(nodes)}",
                }
            ]
        for index, node in enumerate(nodes):
            missing = [r for r in LAYER_ROLES if r not in node["roles"]]
            extra = [r for r in node["roles"] if r not in LAYER_ROLES + OPTIONAL_ROLES]
            if missing:
                found.append(
                    {
                        "key": f"fileshare:nodes:{index}:roles",
                        "reason": f"{arch} runs every layer on every node; {node['name']} lacks "
                        f"{', '.join(missing)}",
                    }
                )
            elif extra:
                found.append(
                    {
                        "key": f"fileshare:nodes:{index}:roles",
                        "reason": f"role {', '.join(extra)} is only for full_ha (node {node['name']})",
                    }
                )
        return found

    # full_ha: dedicated nodes per layer.
    app = _with_role(nodes, "app")
    storage = _with_role(nodes, "storage")
    if app and not storage:
        # Every app node serves the shared data directory: without storage nodes there is none.
        index, node = app[0]
        return [
            {
                "key": f"fileshare:nodes:{index}:roles",
                "reason": f"app node {node['name']} needs the storage layer, but no node has role storage",
            }
        ]
    counts = {
        "load": (2, "2 load nodes (keepalived VRRP pair)"),
        "intermediate": (3, "3 intermediate nodes (Redis/Memcached with quorum)"),
        "storage": (3, "3 storage nodes (GlusterFS replica 3)"),
    }
    for role, (wanted, why) in counts.items():
        have = len(_with_role(nodes, role))
        if have != wanted:
            found.append({"key": "fileshare:nodes", "reason": f"full_ha needs {why}, found {have}"})
    if len(app) < 2:
        found.append(
            {"key": "fileshare:nodes", "reason": f"full_ha needs at least 2 app nodes, found {len(app)}"}
        )
    db = _with_role(nodes, "db")
    if len(db) == 2:
        found.append(
            {
                "key": "fileshare:nodes",
                "reason": "2 Galera db nodes cannot keep quorum when one fails: use 3 db nodes",
            }
        )
    elif len(db) != 3:
        found.append(
            {"key": "fileshare:nodes", "reason": f"full_ha needs 3 Galera db nodes, found {len(db)}"}
        )
    return found


def webdav_problems(data):
    """mod_dav_fs keeps its locks in a per-node DBM file: refuse it where several app nodes serve one
    data directory (a lock granted by one node would not stop a write through another)."""
    app = data.get("app") if isinstance(data.get("app"), dict) else {}
    webdav = app.get("webdav") if isinstance(app.get("webdav"), dict) else {}
    apps = [n for n in data["nodes"] if "app" in n.get("roles", [])]
    if data.get("product") == "webdav" and webdav.get("engine") == "mod_dav" and len(apps) > 1:
        return [
            {
                "key": "fileshare:app:webdav:engine",
                "reason": f"mod_dav cannot share WebDAV locks between the {len(apps)} app nodes "
                "(docs/webdav.md): use wsgidav (or leave it empty)",
            }
        ]
    return []


def unbuilt_problems(data):
    """What the schema names but no state builds yet: refused here, before any node changes, rather than
    by a state that fails after the layers before it have changed the nodes."""
    found = []
    if data["product"] in UNBUILT_PRODUCTS:
        found.append(
            {
                "key": "fileshare:product",
                "reason": f"{data['product']} is not built yet (formulas/fileshare/app/products/"
                f"{data['product']}.sls refuses it): this release serves webdav only",
            }
        )
    if data["db"]["engine"] != "mariadb":
        found.append(
            {
                "key": "fileshare:db:engine",
                "reason": f"{data['db']['engine']} is not built yet: the db layer installs MariaDB "
                "(Galera on mini_ha and full_ha) only",
            }
        )
    for index, node in enumerate(data["nodes"]):
        if "arbitrator" in node["roles"]:
            found.append(
                {
                    "key": f"fileshare:nodes:{index}:roles",
                    "reason": "role arbitrator is not built yet "
                    f"(no state installs garbd on {node['name']}): full_ha runs 3 Galera db nodes",
                }
            )
    if data["product"] == "webdav" and data["app"]["server"] != "apache":
        found.append(
            {
                "key": "fileshare:app:server",
                "reason": f"product webdav is served by Apache httpd (mod_dav, or WsgiDAV behind it); "
                f"{data['app']['server']}'s WebDAV has no locks or dead properties: use apache",
            }
        )
    return found


def storage_problems(data, defaults=None):
    """HA app nodes serve the data directory from the shared volume mounted at storage:mount_point
    (formulas/fileshare/storage/client.sls refuses anything else, but only at the app step, after the
    layers before it). ``defaults`` (parameters/defaults.yaml) gives the mount point the pillar leaves
    out; without either the rule cannot tell and passes."""
    if data["architecture"] == "all_in_one":
        return []
    storage = data["storage"]
    default = (defaults or {}).get("storage") or {}
    if (storage.get("backend") or default.get("backend") or "glusterfs") != "glusterfs":
        return []
    mount_point = storage.get("mount_point") or default.get("mount_point")
    if not mount_point:
        return []
    mount_point = mount_point.rstrip("/")
    data_dir = data["app"]["data_dir"]
    if (data_dir + "/").startswith(mount_point + "/"):
        return []
    return [
        {
            "key": "fileshare:app:data_dir",
            "reason": f"{data_dir} must lie under fileshare:storage:mount_point ({mount_point}) on "
            f"{data['architecture']}: every app node serves it from the GlusterFS volume mounted there",
        }
    ]


EVS_ORDER = ("keepalive_period", "inactive_check_period", "suspect_timeout", "inactive_timeout")


def evs_problems(data, defaults=None):
    """Galera's failure detection must be ordered: a keepalive is sent before a peer is checked, a
    peer is checked before it is suspected, suspected before declared dead; a join message is resent
    before a peer agreeing on a new view is suspected."""
    evs = {**((defaults or {}).get("db") or {}).get("evs", {}), **((data.get("db") or {}).get("evs") or {})}
    for shorter, longer in zip(EVS_ORDER, EVS_ORDER[1:], strict=False):
        if shorter in evs and longer in evs and float(evs[shorter]) > float(evs[longer]):
            return [
                {
                    "key": f"fileshare:db:evs:{shorter}",
                    "reason": f"must not exceed {longer} ({evs[shorter]} > {evs[longer]})",
                }
            ]
    retrans, suspect = evs.get("join_retrans_period"), evs.get("suspect_timeout")
    if retrans is not None and suspect is not None and float(retrans) >= float(suspect):
        return [
            {
                "key": "fileshare:db:evs:join_retrans_period",
                "reason": f"must be below suspect_timeout ({retrans} >= {suspect}): members agreeing on a "
                "new view would suspect each other",
            }
        ]
    return []


def backup_problems(data, defaults=None):
    """A site with a backup node needs the repository password, one backup node at most, and a
    repository outside the data directory it backs up."""
    arch, nodes = data["architecture"], data["nodes"]
    holders = [n["name"] for n in nodes if "backup" in n["roles"]]
    if not holders and arch in ("all_in_one", "mini_ha") and any("db" in n["roles"] for n in nodes):
        holders = [[n["name"] for n in nodes if "db" in n["roles"]][-1]]
    if not holders:
        return []
    if len(holders) > 1:
        return [
            {
                "key": "fileshare:nodes",
                "reason": f"role backup belongs to one node (one repository), found {', '.join(holders)}",
            }
        ]
    if "backup_password" not in data["secrets"]:
        return [
            {
                "key": "fileshare:secrets:backup_password",
                "reason": f"is required: {holders[0]} holds the backup repository, encrypted with it",
            }
        ]
    backup = {**((defaults or {}).get("backup") or {}), **(data.get("backup") or {})}
    repository = (backup.get("repository") or "").rstrip("/")
    if repository.startswith("sftp:") and not (backup.get("sftp") or {}).get("host_key"):
        return [
            {
                "key": "fileshare:backup:sftp:host_key",
                "reason": f"is required for the off-site repository {repository}: the host's key is pinned, "
                "never trusted on first use",
            }
        ]
    data_dir = data["app"]["data_dir"].rstrip("/")
    if repository and (repository + "/").startswith(data_dir + "/"):
        return [
            {
                "key": "fileshare:backup:repository",
                "reason": f"{repository} lies inside the data directory it backs up ({data_dir})",
            }
        ]
    return []


def semantic_problems(data, defaults=None):
    """What is not built first; address rules next; topology only once every address is sound (one
    defect, one message)."""
    return (
        unbuilt_problems(data)
        or address_problems(data)
        or topology_problems(data)
        or webdav_problems(data)
        or storage_problems(data, defaults)
        or evs_problems(data, defaults)
        or backup_problems(data, defaults)
        or release_problems(data)
    )


def release_problems(data):
    """A canary run names nodes of this site only: a typo would upgrade nothing and look done."""
    names = [n["name"] for n in data["nodes"]]
    for index, name in enumerate((data.get("release") or {}).get("nodes") or []):
        if name not in names:
            return [
                {
                    "key": f"fileshare:release:nodes:{index}",
                    "reason": f"{name} is not a node of this site (its nodes: {', '.join(names)})",
                }
            ]
    return []


def problems(data, defaults=None):
    """
    Pure validation of the ``fileshare`` pillar subtree: ``[]`` when valid, else ``[{key, reason}]``.
    ``defaults`` (parameters/defaults.yaml, optional) serves the rules that compare the pillar with a
    default it leaves out.

    Schema problems are reported alone (the semantic rules need a well-formed tree).
    """
    if data is None:
        return [
            {
                "key": "fileshare",
                "reason": "is missing: no fileshare pillar for this minion (see pillar/top.sls)",
            }
        ]
    return schema_problems(data) or semantic_problems(data, defaults)


def message(found):
    """One operator-facing line for a list of problems."""
    if not found:
        return "pillar fileshare is valid"
    first = found[0]
    more = (
        f" (and {len(found) - 1} more problem(s): salt-call fileshare_pillar.validate)"
        if len(found) > 1
        else ""
    )
    return f"pillar key {first['key']}: {first['reason']}{more}"


# ---------------------------------------------------------------------------------------------------
# Salt functions
# ---------------------------------------------------------------------------------------------------


def __virtual__():
    if not HAS_JSONSCHEMA:
        return False, "fileshare_pillar needs the Python library jsonschema in Salt's environment"
    return __virtualname__


_DEFAULTS = "salt://fileshare/parameters/defaults.yaml"


def _defaults():
    """parameters/defaults.yaml from the fileserver; {} where there is none (the schema and every rule
    but the one needing a default still apply)."""
    if "cp.get_file_str" not in __salt__:
        return {}
    text = __salt__["cp.get_file_str"](_DEFAULTS)
    return (yaml.safe_load(text) or {}) if text else {}


def _subtree(data):
    if data is None:
        return __pillar__.get("fileshare")
    return data


def validate(data=None):
    """
    Validate the ``fileshare`` pillar (this minion's, or ``data`` = the subtree) and list every problem.

    CLI Example:

    .. code-block:: bash

        salt-call fileshare_pillar.validate
        salt-run salt.cmd fileshare_pillar.validate
    """
    return problems(_subtree(data), _defaults())


def check(data=None):
    """
    Raise ``CommandExecutionError`` naming the first bad key and the reason; return True when valid.

    CLI Example:

    .. code-block:: bash

        salt-call fileshare_pillar.check
    """
    found = validate(data)
    if found:
        raise CommandExecutionError(message(found))
    return True
