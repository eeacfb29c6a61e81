"""
Backups of the site's files and database into a restic repository, and their restore.

One file serves twice: Salt syncs it as the execution module ``fileshare_backup`` (the orchestrations
``fileshare.backup`` and ``fileshare.restore`` call it), and ``fileshare.backup_job`` installs the same file
as the script the systemd timer runs (``fileshare-backup run``), so the scheduled backup does not need
a Salt minion and both paths run the same code. Everything it needs is in the job's configuration
(``backup_job:config``, root only, written by ``formulas/fileshare/backup_job``); the repository password
is in its own root-only file and reaches restic as ``RESTIC_PASSWORD_FILE``, never in argv or output.

A backup is one restic snapshot holding the data directory and mariabackup's prepared copy of the
database, tagged with the database position (GTID, Galera seqno) and holding a manifest beside the
copy, so the snapshot's id and time and the database position travel together (docs/backup.md).

Pure logic (parsing mariabackup's position files, tags, choosing a snapshot, naming a restic failure,
checking a restore's scope and path) is in plain functions, unit-tested in
tests/unit/test_fileshare_backup.py; the I/O around it is thin.
"""

import datetime
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

try:  # Salt's loader: errors as Salt reports them. The timer's script runs without Salt.
    from salt.exceptions import CommandExecutionError as _Base
except ImportError:  # pragma: no cover - the script on a node
    _Base = Exception

__virtualname__ = "fileshare_backup"

# Every snapshot the suite takes carries this tag; snapshots of other tools in the repository are not
# ours to restore.
TAG = "fileshare"
SCOPES = ("site", "path")
CONFIG = "/etc/fileshare/backup.json"
MANIFEST = "fileshare-backup.json"
# The suite's own files in the data directory (the health endpoint's and the data watch's probes, a
# PUT being written): they come and go, and restic ends a backup that saw a file vanish with exit 3.
PROBES = (".fileshare-health-*", ".fileshare-watch-*", ".fileshare-put-*")


class BackupError(_Base):
    """A backup or restore that cannot go on; the message names the problem for the operator."""


def __virtual__():
    return __virtualname__


# ---------------------------------------------------------------------------------------------------
# Pure logic
# ---------------------------------------------------------------------------------------------------


def position(binlog_info="", galera_info=""):
    """
    The database position of a mariabackup copy, from its ``xtrabackup_binlog_info`` (``FILE POS GTID``,
    tab-separated; MariaDB 11 names it ``mariadb_backup_binlog_info``) and ``xtrabackup_galera_info``
    (``UUID:SEQNO``, MariaDB 10.11 adds `` DOMAIN_ID``). Missing parts are None.
    """
    found = {"binlog_file": None, "binlog_pos": None, "gtid": None, "galera_uuid": None, "seqno": None}
    fields = (binlog_info or "").split()
    if len(fields) >= 2:
        found["binlog_file"] = fields[0]
        found["binlog_pos"] = int(fields[1]) if fields[1].isdigit() else None
    if len(fields) >= 3:
        found["gtid"] = ",".join(fields[2:]).replace(",,", ",")
    galera = ((galera_info or "").split() or [""])[0]
    if ":" in galera:
        uuid, _, seqno = galera.rpartition(":")
        found["galera_uuid"] = uuid
        found["seqno"] = int(seqno) if seqno.lstrip("-").isdigit() else None
    return found


def tags(where):
    """restic tags for a snapshot at database position ``where``. A tag cannot hold ',' (restic splits
    --tag on it): a multi-domain GTID list is written with '+'."""
    out = [TAG]
    if where.get("gtid"):
        out.append("gtid=" + where["gtid"].replace(",", "+"))
    if where.get("seqno") is not None:
        out.append(f"seqno={where['seqno']}")
    return out


def position_of(snapshot):
    """The database position a snapshot's tags record ({} when it has none)."""
    found = {}
    for tag in snapshot.get("tags") or []:
        key, _, value = tag.partition("=")
        if key == "gtid" and value:
            found["gtid"] = value.replace("+", ",")
        elif key == "seqno" and value.lstrip("-").isdigit():
            found["seqno"] = int(value)
    return found


def backup_args(host, sources, tag_list):
    """restic's arguments for one backup of SOURCES, the suite's probe files left out."""
    args = ["backup", "--json", "--host", host, *sources]
    for pattern in PROBES:
        args += ["--exclude", pattern]
    for tag in tag_list:
        args += ["--tag", tag]
    return args


def forget_args(retention):
    """restic forget's keep options from pillar fileshare:backup:retention (0 = keep none of that kind)."""
    args = []
    for kind in ("daily", "weekly", "monthly"):
        count = int((retention or {}).get(kind) or 0)
        if count:
            args += [f"--keep-{kind}", str(count)]
    return args or ["--keep-last", "1"]


def sftp_target(repository):
    """``{"user", "host", "path"}`` of an off-site repository written as restic's ``sftp:USER@HOST:/PATH``;
    None for a local path."""
    if not (repository or "").startswith("sftp:"):
        return None
    login, _, path = repository[len("sftp:") :].partition(":")
    user, _, host = login.rpartition("@")
    return {"user": user, "host": host, "path": path}


def sftp_command(repository, sftp):
    """The ssh command restic starts for an off-site repository (``-o sftp.command``): the job's own key,
    no prompt, and the host key pinned from the pillar (``fileshare:backup:sftp:host_key``) in its own
    known_hosts, never trusted on first use: the off-site host holds every backup."""
    target = sftp_target(repository)
    return " ".join(
        [
            "ssh",
            "-i",
            sftp["key"],
            "-p",
            str(sftp.get("port", 22)),
            "-o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes",
            f"-o UserKnownHostsFile={sftp['known_hosts']}",
            "-o ConnectTimeout=10 -o ServerAliveInterval=15",
            f"{target['user']}@{target['host']}",
            "-s sftp",
        ]
    )


def known_hosts_line(host, port, host_key):
    """The known_hosts line pinning an off-site host's key (ssh writes ``[HOST]:PORT`` for a port other
    than 22)."""
    name = host if int(port) == 22 else f"[{host}]:{port}"
    return f"{name} {' '.join(host_key.split()[:2])}\n"


def restic_problem(stderr, repository):
    """One operator-facing line for a failed restic call, naming the problem rather than restic's
    wording (restic 0.14 exits 1 for all of them)."""
    text = (stderr or "").lower()
    target = sftp_target(repository)
    if target and "host key verification failed" in text:
        return (
            f"{target['host']} does not present the host key fileshare:backup:sftp:host_key pins: "
            f"the backup repository {repository} was not opened"
        )
    if target and "ssh: connect to host" in text:
        said = next(line for line in (stderr or "").splitlines() if "connect to host" in line.lower())
        return f"the off-site host of the backup repository {repository} is unreachable ({said.strip()})"
    if target and "permission denied" in text:
        return (
            f"{target['host']} refused this node's key for {target['user']}: authorize the public key "
            "`fileshare-backup public-key` prints there (docs/backup.md)"
        )
    if "wrong password" in text or "no key found" in text:
        return (
            f"wrong password for the backup repository {repository}: "
            "fileshare:secrets:backup_password does not open it"
        )
    if (
        "repository does not exist" in text
        or "is there a repository at the following location" in text
        or "no such file or directory" in text
        or "unable to open config file" in text
    ):
        return f"the backup repository {repository} is unreachable or not initialised"
    if "no matching id found" in text or "no snapshot found" in text:
        return f"no such snapshot in the backup repository {repository}"
    if "locked" in text:
        return f"the backup repository {repository} is locked by another restic process"
    last = [line for line in (stderr or "").strip().splitlines() if line.strip()]
    return f"restic failed on {repository}: {last[-1] if last else 'no message'}"


def pick_snapshot(snapshots, wanted="latest"):
    """
    The snapshot of ours (tag ``fileshare``) that ``wanted`` names: ``latest`` (the newest), or an id
    or a unique id prefix of at least 4 characters. Raises BackupError naming the problem.
    """
    ours = sorted((s for s in snapshots if TAG in (s.get("tags") or [])), key=lambda s: s.get("time", ""))
    wanted = str(wanted or "latest").strip()
    if not ours:
        raise BackupError("the backup repository holds no fileshare snapshot: take a backup first")
    if wanted == "latest":
        return ours[-1]
    if len(wanted) < 4 or any(c not in "0123456789abcdef" for c in wanted.lower()):
        raise BackupError(f"snapshot {wanted!r} is neither 'latest' nor a snapshot id (hex, at least 4)")
    matches = [s for s in ours if s.get("id", "").startswith(wanted.lower())]
    if not matches:
        known = ", ".join(s.get("short_id", s.get("id", "")[:8]) for s in ours[-5:])
        raise BackupError(f"unknown snapshot {wanted}: the repository's latest are {known}")
    if len(matches) > 1:
        raise BackupError(f"snapshot {wanted} is ambiguous ({len(matches)} match): give more of its id")
    return matches[0]


def restore_target(scope, path, data_dir):
    """
    What a restore of ``scope`` brings back: ``site`` (the data directory and the database) or ``path``
    (one path inside the data directory, given relative to it). Returns the absolute path restored
    from the snapshot; raises BackupError for a scope or path that cannot be right.
    """
    data_dir = "/" + str(data_dir).strip("/")
    if scope not in SCOPES:
        raise BackupError(f"restore scope {scope!r} is unknown: use one of {', '.join(SCOPES)}")
    if scope == "site":
        if path:
            raise BackupError("restore scope site restores everything: give no path (or use scope path)")
        return data_dir
    parts = [p for p in str(path or "").split("/") if p not in ("", ".")]
    if not parts:
        raise BackupError("restore scope path needs a path inside the data directory (e.g. alice/docs)")
    if ".." in parts:
        raise BackupError(f"restore path {path!r} leaves the data directory ('..')")
    return data_dir + "/" + "/".join(parts)


def manifest(where, data_dir, started, database_seconds):
    """What a snapshot holds beside the database copy: the position and when the copy was taken."""
    return {
        "data_dir": data_dir,
        "database": where,
        "database_copied_at": started,
        "database_seconds": round(database_seconds, 3),
        "files_after_database": True,
    }


def choose_source(members, healthy):
    """
    The Galera member a backup on HA copies: ``members`` in writer order (the first takes the writes),
    ``healthy`` the names whose health responder answers 200 (Synced). The last healthy member in that
    order: never the writer while another member is synced. Raises BackupError when none is synced.
    """
    usable = [m for m in members if m["name"] in healthy]
    if not usable:
        names = ", ".join(m["name"] for m in members) or "none listed"
        raise BackupError(f"no database member is synced to copy from ({names}): see galera.quorum")
    return usable[-1]


def ssh_argv(source, member, command="stream-db"):
    """ssh's command line for the copy from ``member``: key auth only, no prompt, the peer's host key
    pinned in the job's own known_hosts on first use. COMMAND is only a request: the member's
    authorized_keys entry (``authorized_options``) forces ``ssh-command``, which runs it if ``forced``
    allows it."""
    return [
        "ssh",
        "-i",
        source["key"],
        "-p",
        str(source.get("port", 22)),
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={source['known_hosts']}",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        "ConnectTimeout=10",
        "-o",
        "ServerAliveInterval=15",
        f"{source.get('user', 'root')}@{member['address']}",
        command,
    ]


# What the backup node's key may ask a database node for (``ssh_command``): its copy, its closed binary
# logs, or, for a site restore with MariaDB stopped there, to receive a restored copy as its datadir.
SSH_COMMANDS = ("stream-db", "receive-db", "stream-binlogs")


def forced(original):
    """The command the backup node's key asked for (``SSH_ORIGINAL_COMMAND``), if it is allowed."""
    wanted = (original or "").strip()
    if wanted not in SSH_COMMANDS:
        raise BackupError(f"the backup key may run {', '.join(SSH_COMMANDS)} here, not {wanted!r}")
    return wanted


def grastate_text(where):
    """grastate.dat for a datadir restored from a copy at Galera position ``where``: every member gets
    the same position, so the cluster bootstraps from one and the others join without a transfer. None
    is safe to bootstrap by itself: the galera.recover runner marks the one it bootstraps."""
    if not where.get("galera_uuid") or where.get("seqno") is None:
        raise BackupError("the snapshot's database copy records no Galera position: it cannot seed a cluster")
    return (
        "# GALERA saved state\nversion: 2.1\n"
        f"uuid:    {where['galera_uuid']}\nseqno:   {where['seqno']}\n"
        "safe_to_bootstrap: 0\n"
    )


def authorized_options(script, sources):
    """The options of the backup node's key in a database node's authorized_keys: the key may run the
    database copy's commands (``SSH_COMMANDS``) and nothing else, only from the backup node's addresses."""
    options = ["restrict", f'command="{script} ssh-command"']
    if sources:
        options.append(f'from="{",".join(sources)}"')
    return options


def taken_at(snapshot):
    """When ``snapshot`` was taken, an aware datetime (restic's RFC 3339 time with nanoseconds)."""
    head, _, rest = snapshot["time"].partition(".")
    zone = rest.lstrip("0123456789") if rest else head[19:]
    head = head[:19]
    return datetime.datetime.fromisoformat(head + (zone.replace("Z", "+00:00") or "+00:00"))


def age_seconds(snapshot, now=None):
    """Seconds since ``snapshot`` was taken."""
    now = now or datetime.datetime.now(datetime.UTC)
    return max(0.0, (now - taken_at(snapshot)).total_seconds())


# ---- point in time: a snapshot rolled forward by the archived binary logs ----------------------------

# The binary logs' snapshots carry this tag (not TAG: they are no restore point of their own).
BINLOG_TAG = "fileshare-binlog"


def parse_when(text):
    """``restore:time`` as an aware UTC datetime: ISO 8601 with a zone (``2026-12-07T02:10:00Z``) or
    without one (taken as UTC), to the second."""
    value = str(text or "").strip()
    try:
        when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        raise BackupError(
            f"restore:time {value!r} is not a time: give it as 2026-12-07T02:10:00Z (UTC)"
        ) from None
    when = when if when.tzinfo else when.replace(tzinfo=datetime.UTC)
    return when.astimezone(datetime.UTC).replace(microsecond=0)


def _stamp(moment):
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pitr_plan(full, logs, when, now=None):
    """
    What a restore to the point in time ``when`` uses: ``base``, the newest backup (``full``, snapshots
    tagged TAG) taken at or before it, and ``logs``, the oldest archive of binary logs (snapshots tagged
    BINLOG_TAG) taken at or after it, whose events from the base's GTID up to ``when`` are replayed.
    Raises BackupError naming why the point cannot be reached.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    if when > now:
        raise BackupError(f"restore:time {_stamp(when)} is in the future (now {_stamp(now)})")
    ours = sorted((s for s in full if TAG in (s.get("tags") or [])), key=taken_at)
    before = [s for s in ours if taken_at(s) <= when]
    if not before:
        oldest = _stamp(taken_at(ours[0])) if ours else "none taken yet"
        raise BackupError(f"restore:time {_stamp(when)} is before the oldest backup ({oldest})")
    base = before[-1]
    if not (base.get("position") or position_of(base)).get("gtid"):
        raise BackupError(f"backup {base.get('short_id')} records no GTID: it cannot be rolled forward")
    archived = sorted((s for s in logs if BINLOG_TAG in (s.get("tags") or [])), key=taken_at)
    after = [s for s in archived if taken_at(s) >= when]
    if not after:
        newest = _stamp(taken_at(archived[-1])) if archived else "never"
        raise BackupError(
            f"the binary logs are archived up to {newest}: restore:time {_stamp(when)} lies after that "
            "(archive them first: fileshare-backup binlogs) or choose an earlier time"
        )
    return {"base": base, "logs": after[0]}


def gtid_domains(gtid_list):
    """``{domain: seqno}`` of a GTID list (``D-S-N,D-S-N``; '+' as the tags write ',')."""
    found = {}
    for gtid in str(gtid_list or "").replace("+", ",").split(","):
        parts = gtid.strip().split("-")
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            found[int(parts[0])] = max(found.get(int(parts[0]), 0), int(parts[2]))
    return found


def binlog_gap(start, first_list, domain):
    """``(backup's seqno, the logs' first)`` when the site's writes (GTID ``domain``) between the base's
    GTID ``start`` and the first archived log are missing: that log begins (its ``Gtid list``, the
    state before it) after the base's position. A replay over a gap would silently skip transactions,
    so a restore refuses it. None when there is no gap."""
    since, begun = gtid_domains(start).get(int(domain), 0), gtid_domains(first_list).get(int(domain), 0)
    return (since, begun) if since < begun else None


def binlog_names(names, base):
    """The binary log files among ``names`` (``BASE.000001`` ...), oldest first."""
    prefix = base + "."
    return sorted(n for n in names if n.startswith(prefix) and n[len(prefix) :].isdigit())


def replay_argv(mysqlbinlog, start, when, files, domain):
    """mysqlbinlog's events of the site's writes (GTID ``domain``: on HA a member's own maintenance
    events have a domain of their own and stay out) after GTID ``start`` up to (not including) the
    second ``when``, UTC (the caller sets TZ=UTC: --stop-datetime is read in the local zone)."""
    seqno = gtid_domains(start).get(int(domain))
    after = [
        g
        for g in str(start).replace("+", ",").split(",")
        if seqno and g.strip().startswith(f"{int(domain)}-")
    ]
    return [
        mysqlbinlog,
        "--no-defaults",
        f"--do-domain-ids={int(domain)}",
        *([f"--start-position={after[0].strip()}"] if after else []),
        f"--stop-datetime={when.astimezone(datetime.UTC).strftime('%Y-%m-%d %H:%M:%S')}",
        *[str(f) for f in files],
    ]


# ---------------------------------------------------------------------------------------------------
# I/O: restic, mariabackup, systemctl (the same on a node with or without Salt)
# ---------------------------------------------------------------------------------------------------


def _config(path=CONFIG):
    try:
        return json.loads(pathlib.Path(path).read_text())
    except FileNotFoundError as exc:
        raise BackupError(f"{path} is missing: apply fileshare.backup_job on this node first") from exc


def _env(cfg):
    return {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "RESTIC_REPOSITORY": cfg["repository"],
        "RESTIC_PASSWORD_FILE": cfg["password_file"],
        "RESTIC_CACHE_DIR": cfg.get("cache_dir", "/var/cache/fileshare-backup/restic"),
    }


# A backup reads and encrypts the whole data directory while the site serves: it yields the CPU and the
# disk to the services (the timer's unit says the same; a run through Salt inherits the minion's
# priority otherwise), and restic encrypts on one core instead of all of them.
BACKGROUND = ["nice", "-n", "10", "ionice", "-c", "2", "-n", "7"]


def limit_args(kib):
    """restic's own throttle: --limit-upload caps what a backup writes to the repository (any backend,
    local too), so an off-site backup does not fill the site's uplink. It does not slow the reading:
    restic packs what it reads into temporary files ahead of the upload. 0: no cap."""
    return ["--limit-upload", str(kib)] if kib else []


def _restic(cfg, *args, check=True, background=False):
    env = {**_env(cfg), **({"GOMAXPROCS": "1"} if background else {})}
    options = (
        ["-o", "sftp.command=" + sftp_command(cfg["repository"], cfg["sftp"])] if cfg.get("sftp") else []
    ) + (limit_args(cfg.get("limit_kib")) if background else [])
    argv = (BACKGROUND if background else []) + [cfg.get("restic", "restic"), *options, *args]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise BackupError(restic_problem(proc.stderr + _sftp_said(cfg, proc.stderr), cfg["repository"]))
    return proc


def _sftp_said(cfg, stderr):
    """What ssh itself says about the off-site host when restic could not start its sftp session:
    restic passes ssh's words on only when they arrive before it exits, so they are asked again."""
    if not cfg.get("sftp") or "unable to start the sftp session" not in (stderr or ""):
        return ""
    argv = sftp_command(cfg["repository"], cfg["sftp"]).split()
    try:
        proc = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False
        )
    except subprocess.TimeoutExpired:
        return "\nssh: connect to host timed out after 30 s"
    return "\n" + proc.stderr


def _run(argv, what):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise BackupError(f"{what} failed (exit {proc.returncode}): {' | '.join(tail)}")
    return proc


def probe(config=CONFIG):
    """
    Check that the repository is reachable and the password opens it; raise naming the problem.

    CLI Example:

    .. code-block:: bash

        salt aio1 fileshare_backup.probe
    """
    cfg = _config(config)
    _restic(cfg, "cat", "config")
    return True


def init(config=CONFIG):
    """
    Create the repository unless it exists (a repository that exists but does not open is an error,
    never overwritten).

    CLI Example:

    .. code-block:: bash

        salt aio1 fileshare_backup.init
    """
    cfg = _config(config)
    if sftp_target(cfg["repository"]):
        # Off-site: only a repository that is not there yet is created; a refused key, a wrong host key
        # or a wrong password is reported as it is.
        opened = _restic(cfg, "cat", "config", check=False)
        if opened.returncode == 0:
            return {"created": False}
        if "unable to open config file" not in opened.stderr.lower():
            said = opened.stderr + _sftp_said(cfg, opened.stderr)
            raise BackupError(restic_problem(said, cfg["repository"]))
        _restic(cfg, "init")
        return {"created": True}
    repo = pathlib.Path(cfg["repository"])
    if (repo / "config").exists():
        probe(config)
        return {"created": False}
    repo.mkdir(parents=True, exist_ok=True, mode=0o700)
    _restic(cfg, "init")
    return {"created": True}


def public_key(config=CONFIG):
    """
    The public half of the backup node's ssh key: what an off-site SFTP host authorizes for the
    repository's user (the private half never leaves this node).

    CLI Example:

    .. code-block:: bash

        salt bk1 fileshare_backup.public_key
    """
    cfg = _config(config)
    key = (cfg.get("sftp") or cfg.get("db_source") or {}).get("key")
    if not key:
        raise BackupError("this backup node has no ssh key: its repository is local and its database too")
    return pathlib.Path(key + ".pub").read_text().strip()


def snapshots(config=CONFIG):
    """
    The suite's snapshots, oldest first, with the database position each records.

    CLI Example:

    .. code-block:: bash

        salt aio1 fileshare_backup.snapshots
    """
    cfg = _config(config)
    found = json.loads(_restic(cfg, "snapshots", "--json", "--tag", TAG).stdout or "[]")
    return [
        {
            "id": s["id"],
            "short_id": s.get("short_id"),
            "time": s["time"],
            "tags": s.get("tags", []),
            "position": position_of(s),
        }
        for s in sorted(found, key=lambda s: s["time"])
    ]


def _database_copy(cfg, target):
    """mariabackup's copy of the running server in ``target``, prepared (ready to copy back)."""
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _run(_backup_argv(cfg, target), "mariabackup --backup")
    _prepare(cfg, target)
    return _read_position(target)


def _backup_argv(cfg, target, *options):
    """mariabackup --backup of the local server into TARGET (the copy, or with --stream its scratch)."""
    # --defaults-extra-file must come first; root's my.cnf holds the credentials (never argv).
    return [
        cfg["mariabackup"],
        f"--defaults-extra-file={cfg['root_cnf']}",
        "--backup",
        *options,
        f"--target-dir={target}",
        f"--socket={cfg['socket']}",
    ]


def _prepare(cfg, target):
    _run([cfg["mariabackup"], "--prepare", f"--target-dir={target}"], "mariabackup --prepare")


def _read_position(target):
    binlog = ""
    for name in ("xtrabackup_binlog_info", "mariadb_backup_binlog_info"):
        if (target / name).exists():
            binlog = (target / name).read_text()
    galera = (
        (target / "xtrabackup_galera_info").read_text()
        if (target / "xtrabackup_galera_info").exists()
        else ""
    )
    return position(binlog, galera)


def _healthy(member, timeout=3):
    try:
        with urllib.request.urlopen(
            f"http://{member['address']}:{member['health_port']}/", timeout=timeout
        ) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _pull(cfg, target, command, unpack_argv, what):
    """Run the forced ``command`` (stream-db, stream-binlogs) on a synced member that is not the writer
    (``db_source``: choose_source) and unpack what it streams into an empty ``target``: the member."""
    members = cfg["db_source"]["members"]
    chosen = choose_source(members, {m["name"] for m in members if _healthy(m)})
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True, mode=0o700)
    with tempfile.TemporaryFile() as errors:
        ssh = subprocess.Popen(
            ssh_argv(cfg["db_source"], chosen, command), stdout=subprocess.PIPE, stderr=errors
        )
        unpack = subprocess.run(
            [*unpack_argv, str(target)], stdin=ssh.stdout, capture_output=True, text=True, check=False
        )
        ssh.stdout.close()
        code = ssh.wait()
        errors.seek(0)
        said = errors.read().decode(errors="replace").strip().splitlines()
    if code != 0:
        raise BackupError(f"{what} from {chosen['name']} failed (ssh exit {code}): {' | '.join(said[-3:])}")
    if unpack.returncode != 0:
        raise BackupError(f"{what} from {chosen['name']} did not unpack: {unpack.stderr.strip()}")
    return chosen["name"]


def _database_copy_remote(cfg, target):
    """The copy of a synced Galera member that is not the writer (``db_source``, docs/backup.md),
    streamed over ssh by mariabackup (xbstream) into ``target`` and prepared here: (member, position)."""
    member = _pull(
        cfg, target, "stream-db", [cfg.get("mbstream", "mbstream"), "-x", "-C"], "the database copy"
    )
    _prepare(cfg, target)
    return member, _read_position(target)


def _sql(cfg, statement):
    _run(
        [
            cfg.get("mariadb", "mariadb"),
            f"--defaults-extra-file={cfg['root_cnf']}",
            f"--socket={cfg['socket']}",
            "-e",
            statement,
        ],
        statement,
    )


def stream_db(config=CONFIG):
    """
    On a Galera member (the forced command of the backup node's ssh key): desync this member from flow
    control, write mariabackup's copy as an xbstream to stdout, resync. The backup node unpacks and
    prepares it. Not for use by hand: stdout is the stream.
    """
    cfg = _config(config)
    _sql(cfg, "SET GLOBAL wsrep_desync=ON")
    try:
        with tempfile.TemporaryDirectory(prefix="fileshare-stream-") as scratch:
            proc = subprocess.run(
                _backup_argv(cfg, scratch, "--stream=xbstream", "--galera-info"), check=False
            )
    finally:
        _sql(cfg, "SET GLOBAL wsrep_desync=OFF")
    if proc.returncode != 0:
        raise BackupError(f"mariabackup --backup --stream failed (exit {proc.returncode})")
    return True


def _db_running(cfg):
    return (
        subprocess.run(["systemctl", "is-active", "--quiet", cfg["db_service"]], check=False).returncode == 0
    )


def receive_db(config=CONFIG):
    """
    On a Galera member with MariaDB stopped (a site restore, over the backup node's key): a prepared
    copy arrives as a tar on stdin and becomes the datadir, with a grastate.dat at the copy's
    position; the datadir that was there is kept beside, renamed ``*.pre-restore-<time>``.
    """
    cfg = _config(config)
    if _db_running(cfg):
        raise BackupError(
            f"{cfg['db_service']} runs here: a restored datadir goes in only while it is stopped"
        )
    datadir = pathlib.Path(cfg["db_data_dir"])
    incoming = pathlib.Path(f"{datadir}.incoming")
    if incoming.exists():
        shutil.rmtree(incoming)
    incoming.mkdir(mode=0o755)
    proc = subprocess.run(
        ["tar", "-x", "-C", str(incoming)], stdin=sys.stdin.buffer, capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise BackupError(
            f"the restored copy did not arrive whole: {proc.stderr.decode(errors='replace')[-300:]}"
        )
    where = _read_position(incoming)
    (incoming / "grastate.dat").write_text(grastate_text(where))
    _run(
        ["chown", "-R", f"{cfg['db_user']}:{cfg['db_user']}", str(incoming)], "chown of the restored datadir"
    )
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = f"{datadir}.pre-restore-{stamp}"
    if datadir.exists():
        os.rename(datadir, kept)
    os.rename(incoming, datadir)
    return {"position": where, "kept": kept}


def ssh_command(config=CONFIG):
    """The forced command of the backup node's key on a database node: runs what it asked for
    (``SSH_COMMANDS``), nothing else."""
    wanted = forced(os.environ.get("SSH_ORIGINAL_COMMAND"))
    if wanted == "stream-db":
        return stream_db(config)
    if wanted == "stream-binlogs":
        return stream_binlogs(config)
    print(json.dumps(receive_db(config)))
    return True


def _send_copy(cfg, member, copy_dir):
    """The prepared copy in ``copy_dir`` to ``member`` (receive-db), as a tar over the job's ssh key."""
    with tempfile.TemporaryFile() as errors:
        tar = subprocess.Popen(["tar", "-c", "-C", str(copy_dir), "."], stdout=subprocess.PIPE, stderr=errors)
        ssh = subprocess.run(
            ssh_argv(cfg["db_source"], member, "receive-db"), stdin=tar.stdout, capture_output=True, text=True
        )
        tar.stdout.close()
        tar.wait()
    if ssh.returncode != 0 or tar.returncode != 0:
        said = " | ".join((ssh.stderr or "").strip().splitlines()[-2:])
        raise BackupError(
            f"the restored copy did not reach {member['name']} (ssh exit {ssh.returncode}): {said}"
        )
    return json.loads(ssh.stdout.strip().splitlines()[-1])


def _closed_binlogs(cfg):
    """(directory, names) of this server's binary logs after a flush: every one but the newest, which
    the server is writing."""
    _sql(cfg, "FLUSH BINARY LOGS")
    logdir, base = os.path.split(cfg["log_bin"])
    return logdir, binlog_names(os.listdir(logdir), base)[:-1]


def stream_binlogs(config=CONFIG):
    """
    On a Galera member (the backup node's forced command): flush, then write the closed binary logs as
    a tar to stdout. Not for use by hand: stdout is the stream.
    """
    cfg = _config(config)
    logdir, names = _closed_binlogs(cfg)
    sys.stdout.flush()
    proc = subprocess.run(["tar", "-c", "-C", logdir, "--", *names], check=False)
    if proc.returncode != 0:
        raise BackupError(f"tar of the binary logs failed (exit {proc.returncode})")
    return True


def _binlogs_local(cfg, target):
    """This server's closed binary logs mirrored into ``target`` (new ones copied, expired ones gone)."""
    logdir, names = _closed_binlogs(cfg)
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    for gone in set(os.listdir(target)) - set(names):
        (target / gone).unlink()
    for name in names:
        source, copy = pathlib.Path(logdir) / name, target / name
        here, there = source.stat(), copy.stat() if copy.exists() else None
        # Size and time: after a site restore the server numbers its logs from 1 again.
        if not there or (there.st_size, there.st_mtime_ns) != (here.st_size, here.st_mtime_ns):
            shutil.copy2(source, copy)
    return cfg["host"]


def _binlogs_remote(cfg, target):
    """The closed binary logs of a synced member (the backup's choice of member) into ``target``."""
    return _pull(cfg, target, "stream-binlogs", ["tar", "-x", "-C"], "the binary logs")


def archive_binlogs(config=CONFIG):
    """
    Archive the database's closed binary logs into the repository (a snapshot tagged
    ``fileshare-binlog``), so a restore can roll a backup forward to a point in time after it. The
    timer runs it every ``fileshare:backup:binlog_interval``; a point-in-time restore runs it first
    while the database still answers.

    CLI Example:

    .. code-block:: bash

        salt aio1 fileshare_backup.archive_binlogs
    """
    cfg = _config(config)
    probe(config)
    started = time.monotonic()
    target = pathlib.Path(cfg["staging_dir"]) / "binlog"
    source = _binlogs_remote(cfg, target) if cfg.get("db_source") else _binlogs_local(cfg, target)
    names = binlog_names(os.listdir(target), os.path.basename(cfg["log_bin"]))
    if not names:
        raise BackupError(f"{source} has no closed binary log to archive")
    proc = _restic(
        cfg,
        "backup",
        "--json",
        "--host",
        cfg["host"],
        "--tag",
        BINLOG_TAG,
        "--tag",
        f"member={source}",
        str(target),
        background=True,
    )
    summary = [json.loads(line) for line in proc.stdout.splitlines() if '"summary"' in line]
    return {
        "snapshot": summary[-1]["snapshot_id"] if summary else None,
        "member": source,
        "files": names,
        "seconds": round(time.monotonic() - started, 3),
    }


def binlog_snapshots(config=CONFIG):
    """The archives of binary logs, oldest first."""
    cfg = _config(config)
    found = json.loads(_restic(cfg, "snapshots", "--json", "--tag", BINLOG_TAG).stdout or "[]")
    return sorted(
        (
            {"id": s["id"], "short_id": s.get("short_id"), "time": s["time"], "tags": s.get("tags", [])}
            for s in found
        ),
        key=taken_at,
    )


def run(config=CONFIG):
    """
    Take a backup now: the database (mariabackup, prepared), then the data directory, into one restic
    snapshot tagged with the database position; then restic forget --prune by the retention.

    CLI Example:

    .. code-block:: bash

        salt aio1 fileshare_backup.run
    """
    cfg = _config(config)
    probe(config)
    started = time.monotonic()
    copied_at = datetime.datetime.now(datetime.UTC).isoformat()
    staging = pathlib.Path(cfg["staging_dir"])
    db_dir = staging / "db"
    if cfg.get("db_source"):
        source, where = _database_copy_remote(cfg, db_dir)
    else:
        source, where = cfg["host"], _database_copy(cfg, db_dir)
    database_seconds = time.monotonic() - started
    record = {**manifest(where, cfg["data_dir"], copied_at, database_seconds), "database_source": source}
    (staging / MANIFEST).write_text(json.dumps(record))
    sources = [cfg["data_dir"], str(staging)] + ([cfg["site_bundle"]] if cfg.get("site_bundle") else [])
    proc = _restic(cfg, *backup_args(cfg["host"], sources, tags(where)), background=True)
    summary = [json.loads(line) for line in proc.stdout.splitlines() if '"summary"' in line]
    snapshot = summary[-1]["snapshot_id"] if summary else None
    # Archives of binary logs older than the oldest backup kept roll nothing forward.
    days = int((cfg.get("retention") or {}).get("daily") or 7)
    _restic(cfg, "forget", "--tag", BINLOG_TAG, "--host", cfg["host"], "--keep-within", f"{days}d")
    _restic(cfg, "forget", "--prune", "--tag", TAG, "--host", cfg["host"], *forget_args(cfg.get("retention")))
    shutil.rmtree(db_dir, ignore_errors=True)
    return {
        "snapshot": snapshot,
        "position": where,
        "database_source": source,
        "database_copied_at": copied_at,
        "database_seconds": round(database_seconds, 3),
        "seconds": round(time.monotonic() - started, 3),
        "files_new": summary[-1].get("files_new") if summary else None,
        "bytes_added": summary[-1].get("data_added") if summary else None,
    }


def check(config=CONFIG):
    """
    restic check of the repository's structure (the weekly timer runs it).

    CLI Example:

    .. code-block:: bash

        salt aio1 fileshare_backup.check
    """
    cfg = _config(config)
    _restic(cfg, "check")
    return True


def status(config=CONFIG):
    """
    The age of the last good backup of each kind, in seconds (None when there is none): the latest
    snapshot (database and files) and the latest archive of the binary logs (how far a point-in-time
    restore reaches when the database is lost with its logs).

    CLI Example:

    .. code-block:: bash

        salt aio1 fileshare_backup.status
    """
    found, logs = snapshots(config), binlog_snapshots(config)
    return {
        "latest": found[-1] if found else None,
        "age_seconds": round(age_seconds(found[-1])) if found else None,
        "count": len(found),
        "binlogs": {
            "latest": logs[-1] if logs else None,
            "age_seconds": round(age_seconds(logs[-1])) if logs else None,
            "count": len(logs),
        },
    }


def resolve(snapshot="latest", scope="site", path="", config=CONFIG, when="", archive=True):
    """
    Everything a restore needs checked before any node changes: the repository opens, the snapshot
    exists, the scope and path make sense and the path is in the snapshot. Returns the snapshot and what
    will be restored; raises naming the first problem. With ``when`` (a point in time, scope site) the
    snapshot is the newest backup before it, and the archive of binary logs that rolls it forward is
    named too; the closed binary logs are archived first while the database answers (``archive``).

    CLI Example:

    .. code-block:: bash

        salt aio1 fileshare_backup.resolve latest path alice/docs
        salt aio1 fileshare_backup.resolve scope=site when=2026-12-07T02:10:00Z
    """
    cfg = _config(config)
    target = restore_target(scope, path, cfg["data_dir"])
    probe(config)
    if when:
        if scope != "site":
            raise BackupError("restore:time goes with scope site (a path comes back as a snapshot had it)")
        if str(snapshot or "latest") != "latest":
            raise BackupError("give restore:time or restore:snapshot, not both: the time picks the snapshot")
        moment = parse_when(when)
        archived = None
        if archive:
            try:
                archived = archive_binlogs(config)
            except BackupError as exc:  # the database is down (a disaster): what is archived must do
                archived = {"error": str(exc)}
        plan = pitr_plan(snapshots(config), binlog_snapshots(config), moment)
        return {
            "snapshot": plan["base"],
            "logs": plan["logs"],
            "time": _stamp(moment),
            "scope": scope,
            "restores": target,
            "archived_now": archived,
        }
    chosen = pick_snapshot(snapshots(config), snapshot)
    listing = _restic(cfg, "ls", "--json", chosen["id"], target).stdout.splitlines()
    if not any('"path"' in line for line in listing[1:]):
        raise BackupError(f"{target} is not in snapshot {chosen['short_id']} ({chosen['time']})")
    return {"snapshot": chosen, "scope": scope, "restores": target}


def _unpack(cfg, chosen, include, name):
    """restic restore of ``include`` from ``chosen`` into a fresh directory under restore_dir."""
    target = pathlib.Path(cfg["restore_dir"]) / name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True, mode=0o700)
    args = ["restore", chosen["id"], "--target", str(target)]
    for path in include:
        args += ["--include", path]
    _restic(cfg, *args)
    return target


def restore_path(snapshot="latest", path="", config=CONFIG):
    """
    Put one path of the data directory back as it was in ``snapshot``, in place, while the site serves:
    files of the snapshot are written back, files created since are left alone.

    CLI Example:

    .. code-block:: bash

        salt aio1 fileshare_backup.restore_path latest alice/docs
    """
    cfg = _config(config)
    started = time.monotonic()
    found = resolve(snapshot, "path", path, config)
    chosen, target = found["snapshot"], found["restores"]
    unpacked = _unpack(cfg, chosen, [target], f"path-{chosen['short_id']}")
    source = unpacked / target.lstrip("/")
    if source.is_dir():
        pathlib.Path(target).mkdir(parents=True, exist_ok=True)
        _run(["rsync", "-a", f"{source}/", f"{target}/"], "rsync of the restored path")
    else:
        pathlib.Path(target).parent.mkdir(parents=True, exist_ok=True)
        _run(["rsync", "-a", str(source), target], "rsync of the restored file")
    shutil.rmtree(unpacked, ignore_errors=True)
    return {"snapshot": chosen["id"], "restored": target, "seconds": round(time.monotonic() - started, 3)}


def site_bundle(snapshot="latest", config=CONFIG):
    """
    Unpack the site's configuration (its pillar, secrets included) from ``snapshot`` under the restore
    directory, root only, and return where: what a new Salt master needs, with the repository's
    password, to rebuild the site from bare nodes (docs/backup.md).

    CLI Example:

    .. code-block:: bash

        salt bk1 fileshare_backup.site_bundle latest
    """
    cfg = _config(config)
    probe(config)
    chosen = pick_snapshot(snapshots(config), snapshot)
    bundle = cfg.get("site_bundle") or "/etc/fileshare/backup-site/pillar.yaml"
    unpacked = _unpack(cfg, chosen, [bundle], f"site-bundle-{chosen['short_id']}")
    found = unpacked / bundle.lstrip("/")
    if not found.is_file():
        raise BackupError(f"snapshot {chosen['short_id']} holds no site configuration ({bundle})")
    return {"snapshot": chosen["id"], "time": chosen["time"], "path": str(found)}


def _move_keeping_owners(source, target):
    """SOURCE becomes TARGET: a rename on one filesystem; across filesystems (HA: the restore directory
    is local, the data directory on the volume) a copy that keeps owners and modes, which shutil.move
    does not (the web server could not read root-owned files: 403 on every GET, seen in the drill)."""
    try:
        os.rename(source, target)
    except OSError:
        _run(["rsync", "-aH", f"{source}/", f"{target}/"], "rsync of the restored data directory")
        shutil.rmtree(source, ignore_errors=True)


def _systemctl(action, unit):
    _run(["systemctl", action, unit], f"systemctl {action} {unit}")


# mysqlbinlog's line for a transaction's GTID event ("#261207  2:10:00 server id 1 ... GTID 0-1-45 trans").
GTID_EVENT = re.compile(rb"^#\d.*\sGTID (\d+-\d+-\d+)")


def _first_gtid_list(mysqlbinlog, first):
    """The ``Gtid list`` event of a binary log: the GTID state before its first transaction."""
    out = _run([mysqlbinlog, "--no-defaults", "--stop-position=512", str(first)], "mysqlbinlog").stdout
    found = re.search(r"Gtid list \[([^\]]*)\]", out)
    return found.group(1) if found else ""


def _replay(cfg, datadir, files, start, moment, domain):
    """The binary logs' events after GTID ``start`` up to ``moment`` applied to the prepared copy in
    ``datadir``, by a server of its own started on it (no network, no grants, no binary log of its own)
    and stopped after; nothing of the site's servers is involved."""
    work = datadir.parent
    sock, err = work / "pitr.sock", work / "pitr.err"
    server = subprocess.Popen(
        [
            cfg.get("mariadbd", "/usr/sbin/mariadbd"),
            "--no-defaults",
            f"--datadir={datadir}",
            f"--socket={sock}",
            f"--pid-file={work / 'pitr.pid'}",
            f"--log-error={err}",
            "--skip-networking",
            "--skip-grant-tables",
            "--skip-log-bin",
            "--user=root",
            "--innodb-buffer-pool-size=128M",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = [cfg.get("mariadb", "mariadb"), "--no-defaults", f"--socket={sock}"]
    try:
        deadline = time.monotonic() + 120
        while subprocess.run([*client, "-e", "SELECT 1"], capture_output=True, check=False).returncode:
            if server.poll() is not None or time.monotonic() > deadline:
                tail = err.read_text()[-400:] if err.exists() else ""
                raise BackupError(f"the server for the point-in-time replay did not start: {tail}")
            time.sleep(0.5)
        with tempfile.TemporaryFile() as errors:  # a file: a full pipe would stall the replay
            events = subprocess.Popen(
                replay_argv(cfg.get("mysqlbinlog", "mysqlbinlog"), start, moment, files, domain),
                stdout=subprocess.PIPE,
                stderr=errors,
                env={**os.environ, "TZ": "UTC"},
            )
            applier = subprocess.Popen(client, stdin=subprocess.PIPE, stdout=errors, stderr=errors)
            reached, count = "", 0
            for line in events.stdout:  # passed on as it comes; the last GTID is the point reached
                applier.stdin.write(line)
                found = GTID_EVENT.search(line)
                if found:
                    reached, count = found.group(1).decode(), count + 1
            applier.stdin.close()
            failed = events.wait() != 0 or applier.wait() != 0
            errors.seek(0)
            said = errors.read().decode(errors="replace")
        if failed:
            raise BackupError(f"the replay of the binary logs failed: {said.strip()[-400:]}")
    finally:
        subprocess.run([*client, "-e", "SHUTDOWN"], capture_output=True, check=False)
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return {"last_gtid": reached, "transactions": count}


def _roll_forward(cfg, found, restored_db):
    """The restored copy rolled forward from its backup's GTID to the restore's point in time."""
    logs = _unpack(cfg, found["logs"], [], f"binlog-{found['logs']['short_id']}")
    base = os.path.basename(cfg["log_bin"])
    paths = {path.name: path for path in logs.rglob(base + ".*")}
    files = [paths[name] for name in binlog_names(paths, base)]
    if not files:
        raise BackupError(f"archive {found['logs']['short_id']} holds no binary log")
    start, domain = found["snapshot"]["position"]["gtid"], cfg.get("gtid_domain", 0)
    gap = binlog_gap(start, _first_gtid_list(cfg.get("mysqlbinlog", "mysqlbinlog"), files[0]), domain)
    if gap:
        raise BackupError(
            f"the archived binary logs begin after backup {found['snapshot']['short_id']}'s position "
            f"(GTID domain {domain}: the backup is at {gap[0]}, the logs begin after {gap[1]}): "
            "the transactions between are in no archive"
        )
    replayed = _replay(cfg, restored_db, files, start, parse_when(found["time"]), domain)
    shutil.rmtree(logs, ignore_errors=True)
    return {"from_gtid": start, "until": found["time"], "files": [f.name for f in files], **replayed}


def restore_site(snapshot="latest", config=CONFIG, when=""):
    """
    Restore the database and the data directory from ``snapshot``. The writers must be stopped first
    (fileshare.restore does it). all_in_one: this node's MariaDB is stopped, its datadir replaced, and
    started. HA (``db_source``): MariaDB must be stopped on every database node; each gets the same
    copy as its datadir (``receive_db``), and the runbook bootstraps the cluster from it afterwards. The
    data directory is swapped in place (on HA on the volume, through this node's mount). What was there
    is kept beside, renamed ``*.pre-restore-<time>`` (nothing is deleted).

    CLI Example:

    .. code-block:: bash

        salt aio1 fileshare_backup.restore_site latest
    """
    cfg = _config(config)
    started = time.monotonic()
    # The writers are stopped by now: the binary logs were archived by the runbook's resolve step.
    found = resolve(snapshot, "site", "", config, when=when, archive=False)
    chosen = found["snapshot"]
    staging = cfg["staging_dir"].rstrip("/")
    unpacked = _unpack(cfg, chosen, [cfg["data_dir"], staging], f"site-{chosen['short_id']}")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    restored_db = unpacked / staging.lstrip("/") / "db"
    if not restored_db.is_dir():
        raise BackupError(f"snapshot {chosen['short_id']} holds no database copy")
    rolled = _roll_forward(cfg, found, restored_db) if when else None
    kept = []
    if cfg.get("db_source"):
        # Every member first, then the files: a member that refuses (MariaDB still running) stops the
        # restore before the data directory is touched.
        for member in cfg["db_source"]["members"]:
            kept.append(f"{member['name']}:{_send_copy(cfg, member, restored_db)['kept']}")
    else:
        datadir = pathlib.Path(cfg["db_data_dir"])
        _systemctl("stop", cfg["db_service"])
        os.rename(datadir, f"{datadir}.pre-restore-{stamp}")
        datadir.mkdir(mode=0o755)
        _run(
            [cfg["mariabackup"], "--copy-back", f"--target-dir={restored_db}", f"--datadir={datadir}"],
            "mariabackup --copy-back",
        )
        _run(["chown", "-R", f"{cfg['db_user']}:{cfg['db_user']}", str(datadir)], "chown of the datadir")
        _systemctl("start", cfg["db_service"])
        kept.append(f"{datadir}.pre-restore-{stamp}")
    data_dir = pathlib.Path(cfg["data_dir"])
    if data_dir.exists():
        os.rename(data_dir, f"{data_dir}.pre-restore-{stamp}")
    _move_keeping_owners(unpacked / cfg["data_dir"].lstrip("/"), data_dir)
    shutil.rmtree(unpacked, ignore_errors=True)
    return {
        "snapshot": chosen["id"],
        "position": chosen["position"],
        "rolled_forward": rolled,
        "kept": kept + [f"{data_dir}.pre-restore-{stamp}"],
        "seconds": round(time.monotonic() - started, 3),
    }


def main(argv=None):
    """``fileshare-backup run|check|status|snapshots|public-key``: the timer's entry point; prints JSON
    (the public key as ssh writes it), logs to journald through systemd, exits 1 with the reason on
    failure."""
    argv = sys.argv[1:] if argv is None else argv
    commands = {
        "run": run,
        "check": check,
        "status": status,
        "snapshots": snapshots,
        "init": init,
        "probe": probe,
        "public-key": public_key,
        "binlogs": archive_binlogs,
        "site-bundle": site_bundle,
    }
    if argv == ["ssh-command"]:  # stdout is the stream of stream-db: nothing else may be printed there
        try:
            ssh_command()
        except BackupError as exc:
            print(f"fileshare-backup: {exc}", file=sys.stderr)
            return 1
        return 0
    if len(argv) != 1 or argv[0] not in commands:
        print(f"usage: fileshare-backup {'|'.join(commands)}", file=sys.stderr)
        return 2
    try:
        found = commands[argv[0]]()
        print(found if argv[0] == "public-key" else json.dumps(found, indent=1, default=str))
    except BackupError as exc:
        print(f"fileshare-backup {argv[0]}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover - the node's script
    sys.exit(main())
