# Managed by Salt (fileshare.app.products.webdav). Local changes are overwritten.
"""WsgiDAV for several app nodes serving one shared data directory.

Every app node runs this server behind its Apache (which authenticates and passes the user in a
header). All WebDAV state that must be the same on every node lives in the site's Redis (through the
HAProxy front that follows the master), keyed by URI, never by anything node-local:

* locks: WsgiDAV's own LockStorageRedis;
* the lock manager's check-then-grant critical section: a Redis lock, so two nodes cannot both grant
  an exclusive lock on one resource (WsgiDAV only serialises the threads of one process);
* dead properties: RedisPropertyManager below (one hash per resource URI).

The shared directory is a GlusterFS mount without client caches (coherence between the app nodes), so
every path lookup is a round trip to the bricks; SharedFilesystemProvider below lists a folder with one
stat per member instead of WsgiDAV's dozen path walks.

Usage: python fileshare_wsgidav.py /etc/fileshare/wsgidav.yaml
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import sys
import tempfile
import threading
import time

import redis
import yaml
from cheroot import wsgi
from redis.backoff import ExponentialBackoff
from redis.exceptions import BusyLoadingError, LockError, MasterDownError, ReadOnlyError, ResponseError
from redis.retry import Retry
from wsgidav import util
from wsgidav.dav_error import HTTP_FORBIDDEN, HTTP_SERVICE_UNAVAILABLE, DAVError
from wsgidav.dav_provider import DAVCollection, DAVNonCollection
from wsgidav.dc.base_dc import BaseDomainController
from wsgidav.fs_dav_provider import BUFFER_SIZE, FileResource, FilesystemProvider, FolderResource
from wsgidav.lock_man.lock_storage_redis import LockStorageRedis
from wsgidav.wsgidav_app import WsgiDAVApp

log = logging.getLogger("fileshare_wsgidav")

# A Redis master failover leaves the HAProxy front without a master for ~2.5-3 s (Sentinel's 1 s
# down-after, the promotion, the replica re-attached, HAProxy's next check), and a connection still
# on the old master answers READONLY. Each failed command drops its connection and is retried on a
# new one through the front, which costs a LAN round trip: steps of 0.1, 0.2, then 0.25 s for ~8.5 s
# in all. A WebDAV request waits through a failover instead of answering 500, and at most 0.25 s
# longer than Redis was gone (a 1 s cap made requests wait up to 1 s more: 3.6 s for a 3 s gap).
RETRY_BACKOFF = ExponentialBackoff(cap=0.25, base=0.05)
RETRIES = 35
# A command whose answer never comes (the load node it went through died with it) is retried after
# this long. Redis answers in milliseconds; 10 s here made a dead VIP holder cost WebDAV requests 10 s
# and their clients' patience (fault scenario 1: file operations failed for up to 10 s).
SOCKET_TIMEOUT_SECONDS = 2


# A new master refuses writes with NOREPLICAS until a replica is attached and acknowledging
# (min-replicas-to-write): for a moment after a promotion, longer on a loaded host, where a replica's
# sync or its acknowledgements lag. redis-py has no class for that answer (a plain ResponseError), so
# it is told apart by its code. Measured in CI: 14 WebDAV requests failed with 500 during a Redis
# master cut that the client otherwise waited out.
TRANSIENT = (ReadOnlyError, BusyLoadingError, MasterDownError)
TRANSIENT_CODES = ("NOREPLICAS ",)


def transient(error: Exception) -> bool:
    """Whether a failed Redis command is worth resending: a broken connection, or an answer that a
    master hand-over gives (READONLY, LOADING, MASTERDOWN, NOREPLICAS). Anything else is the
    command's own error, raised at once."""
    if not isinstance(error, ResponseError) or isinstance(error, TRANSIENT):
        return True
    return str(error).startswith(TRANSIENT_CODES)


class FailoverRetry(Retry):
    """redis-py's Retry that also resends the hand-over answers it has no class for (transient)."""

    def __init__(self, backoff, retries):
        super().__init__(backoff, retries)
        # Every error answer reaches `transient`, which decides (the TRANSIENT classes are among them).
        self.update_supported_errors([ResponseError])

    def call_with_retry(self, do, fail, is_retryable=None, with_failure_count=False):
        def retryable(error):
            return transient(error) and (is_retryable is None or is_retryable(error))

        return super().call_with_retry(do, fail, retryable, with_failure_count)


def _client(options: dict) -> redis.Redis:
    return redis.Redis(
        host=options["host"],
        port=int(options["port"]),
        db=int(options.get("db", 0)),
        password=options.get("password") or None,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        health_check_interval=30,
        retry=FailoverRetry(RETRY_BACKOFF, RETRIES),
    )


class RetryingLockStorageRedis(LockStorageRedis):
    """WsgiDAV's Redis lock storage on a client that rides out a master hand-over (see _client)."""

    def open(self):
        assert self._redis is None
        self._redis = _client(
            {
                "host": self._redis_host,
                "port": self._redis_port,
                "db": self._redis_db,
                "password": self._redis_password,
            }
        )


class ClusterLock:
    """Stands in for the lock manager's process-local ReadWriteLock. Writers (grant, refresh,
    release of a WebDAV lock) take one Redis lock shared by every app node. Readers (lock discovery
    for PROPFIND, the checks before a PUT) take nothing: each lock-storage read is one Redis call,
    and serialising every read across the cluster only queued them (PROPFIND p50 under load went
    from 2.4-4.9 s to 1.7 s; the rest of its cost is elsewhere). Re-entrant per thread: the lock
    manager reads while it holds the write lock."""

    # The critical section is a few Redis round trips (milliseconds), so the lock can expire soon.
    # It must: a failover can lose its release (Sentinel promotes the replica before it demotes the
    # old master, and a DEL on the old master in between never reaches the new one). Measured with a
    # 30 s expiry: every PUT waited for the orphaned lock, and PUTs timed out for 20 s after a planned
    # hand-over. A section that outlives the expiry (stalled by the failover itself) may overlap
    # another node's: during a failover an exclusive lock may be granted twice (docs/webdav.md).
    EXPIRY_SECONDS = 4.0
    WAIT_SECONDS = 8.0
    POLL_SECONDS = 0.005  # redis-py polls a taken lock every 0.1 s by default: a queue of 100 ms steps

    def __init__(self, client: redis.Redis, name: str):
        self._lock = client.lock(
            name,
            timeout=self.EXPIRY_SECONDS,
            blocking_timeout=self.WAIT_SECONDS,
            sleep=self.POLL_SECONDS,
            thread_local=True,
        )
        self._held = threading.local()  # per thread: a stack of what each acquire took

    def _stack(self) -> list:
        if not hasattr(self._held, "stack"):
            self._held.stack = []
        return self._held.stack

    def acquire_read(self, timeout=None) -> None:
        self._stack().append("nested" if "write" in self._stack() else "read")

    def acquire_write(self, timeout=None) -> None:
        stack = self._stack()
        if "write" in stack:
            stack.append("nested")
            return
        if not self._lock.acquire():
            raise RuntimeError("timed out waiting for the cluster-wide WebDAV lock manager lock")
        stack.append("write")

    def release(self) -> None:
        if self._stack().pop() != "write":
            return
        try:
            self._lock.release()
        except LockError as exc:
            # The lock's key is gone: it expired, or a failover lost it (Redis replicates
            # asynchronously). The critical section has already run; failing the request now
            # would only turn a done change into an error.
            log.warning("cluster-wide lock manager lock lost before release: %s", exc)


class RedisPropertyManager:
    """Dead properties in Redis: hash <prefix><uri> maps property name (Clark notation) to its XML."""

    def __init__(self, *, host, port, password=None, db=0, prefix="fileshare:davprop:"):
        self._redis = _client({"host": host, "port": port, "password": password, "db": db})
        self._prefix = prefix

    def __repr__(self):
        return self.__class__.__name__

    def _key(self, url: str) -> str:
        return self._prefix + url

    def _children(self, url: str):
        """Keys of url and everything below it (collections are moved and deleted with members)."""
        base = url.rstrip("/")
        pattern = "".join("[" + c + "]" if c in "*?[]\\" else c for c in self._key(base))
        yield from (k.decode() for k in self._redis.scan_iter(match=pattern + "/*", count=500))
        if self._redis.exists(self._key(base)):
            yield self._key(base)
        if base != url and self._redis.exists(self._key(url)):
            yield self._key(url)

    def get_properties(self, norm_url, environ=None):
        return [name.decode() for name in self._redis.hkeys(self._key(norm_url))]

    def get_property(self, norm_url, name, environ=None):
        return self._redis.hget(self._key(norm_url), name)

    def write_property(self, norm_url, name, property_value, dry_run=False, environ=None):
        if not dry_run:
            self._redis.hset(self._key(norm_url), name, property_value)

    def remove_property(self, norm_url, name, dry_run=False, environ=None):
        if not dry_run:
            self._redis.hdel(self._key(norm_url), name)

    def remove_properties(self, norm_url, environ=None):
        keys = list(self._children(norm_url))
        if keys:
            self._redis.delete(*keys)

    def copy_properties(self, src_url, dest_url, environ=None):
        props = self._redis.hgetall(self._key(src_url))
        pipe = self._redis.pipeline()
        pipe.delete(self._key(dest_url))
        if props:
            pipe.hset(self._key(dest_url), mapping=props)
        pipe.execute()

    def move_properties(self, src_url, dest_url, with_children, environ=None):
        keys = list(self._children(src_url)) if with_children else [self._key(src_url)]
        src_key = self._key(src_url)
        for key in keys:
            if self._redis.exists(key):
                self._redis.rename(key, self._key(dest_url) + key[len(src_key) :])


# The suite's own files in the data directory (health and data-watch probes, PUTs being written):
# never listed.
OWN_PREFIX = ".fileshare-"
PUT_PREFIX = OWN_PREFIX + "put-"
# A process that did not run for this long was stopped (a frozen host, a paused VM): about when
# HAProxy's app check has given up on its node and cut its requests.
STALL_LIMIT = 1.5


class StallFence:
    """Whether this process was stopped while a write was in flight. A ticker beats every EVERY s;
    a beat later than LIMIT after the one before marks the end of a stall. A write that began before
    the last stall ended, that ends within SETTLE s after it (a request read from the socket after the
    thaw was sent before it: HAProxy sends this node nothing new until its checks pass again, > 1 s),
    or that asks while a stall is not yet noticed (the ticker has not run since the thaw), must not be
    committed: HAProxy cut its client during the stall, and another node may have taken a newer
    version of the file meanwhile (measured: a thawed app node's PUT overwrote a PUT acknowledged
    during its freeze, and a GET returned the older content)."""

    def __init__(self, limit=STALL_LIMIT, every=0.1, settle=1.0, clock=time.monotonic):
        self.limit, self.every, self.settle, self.clock = limit, every, settle, clock
        self.last_beat, self.stall_end = clock(), float("-inf")
        # Nothing is known until the ticker has beaten once: a fence nobody ticks (the engine
        # imported, not run) holds no write back.
        self.watching = False
        self._started = False
        self._lock = threading.Lock()

    def beat(self):
        now = self.clock()
        if self.watching and now - self.last_beat > self.limit:
            self.stall_end = now
        self.last_beat, self.watching = now, True

    def stopped_since(self, began):
        if not self.watching:
            return False
        now = self.clock()
        return (
            now - self.last_beat > self.limit or self.stall_end >= began or now - self.stall_end < self.settle
        )

    def start(self):
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._run, name="stall-fence", daemon=True).start()

    def _run(self):
        while True:
            self.beat()
            time.sleep(self.every)


FENCE = StallFence()


class StattedFile(FileResource):
    """WsgiDAV's file resource, built from a stat already taken (by the lookup or the listing), and
    answering from it: WsgiDAV's ETag takes two more path walks each time it is asked for (isfile,
    stat; a GET asks twice), is_link one more. A PUT's new stat comes from the written file itself."""

    def __init__(self, path: str, environ: dict, file_path: str, file_stat: os.stat_result):
        DAVNonCollection.__init__(self, path, environ)
        self._file_path = file_path
        self.file_stat = file_stat
        self.name = util.to_str(os.path.basename(file_path))

    def get_etag(self):
        # WsgiDAV's own (util.get_file_etag, not Windows): inode-mtime-size.
        st = self.file_stat
        return f"{st[stat.ST_INO]}-{st[stat.ST_MTIME]}-{st[stat.ST_SIZE]}"

    def is_link(self):
        return False  # looked up without following links, and links are refused

    # A PUT is written beside its file and renamed over it once complete (end_write): a GET never
    # sees half a file, and a PUT that was in flight when this node was stopped is dropped (FENCE).
    _pending = None

    def begin_write(self, *, content_type=None):
        if self.provider.readonly:
            raise DAVError(HTTP_FORBIDDEN)
        fd, temp = tempfile.mkstemp(prefix=PUT_PREFIX, dir=os.path.dirname(self._file_path))
        try:
            os.fchmod(fd, stat.S_IMODE(self.file_stat.st_mode))
            fh = os.fdopen(fd, "wb", BUFFER_SIZE)
        except BaseException:
            os.close(fd)
            os.unlink(temp)
            raise
        self._pending = (fh, temp, FENCE.clock())
        return _StatOnClose(fh, self)

    def end_write(self, *, with_errors):
        if self._pending is None:
            return
        fh, temp, began = self._pending
        self._pending = None
        fh.close()
        if with_errors or FENCE.stopped_since(began):
            os.unlink(temp)
            if not with_errors:
                log.warning("dropped a PUT of %r: this node was stopped while it ran", self._file_path)
                raise DAVError(HTTP_SERVICE_UNAVAILABLE, "this node was stopped during the upload")
            return
        os.replace(temp, self._file_path)


class _StatOnClose:
    """The file a PUT writes: on close, its resource's stat is taken from the open file (fstat: no
    path walk), so the ETag the PUT answers with is the new content's."""

    def __init__(self, fh, resource: StattedFile):
        self._fh, self._resource = fh, resource

    def write(self, data):
        return self._fh.write(data)

    def writelines(self, lines):
        self._fh.writelines(lines)

    def close(self):
        if self._fh.closed:
            return
        try:
            self._fh.flush()
            self._resource.file_stat = os.fstat(self._fh.fileno())
        finally:
            self._fh.close()


class SharedFolder(FolderResource):
    """WsgiDAV's folder resource, built from a stat already taken, listing its members with one stat
    each. WsgiDAV's own listing walks every member's full path about twelve times (islink, isdir,
    isfile, realpath's per-component lstat, exists, islink, isdir, stat); with the mount's caches off
    each walk is a lookup per path component on every brick. Here: one readdir of the open folder and
    one fstatat(folder, name) per member (measured in docs/webdav.md)."""

    def __init__(self, path: str, environ: dict, file_path: str, file_stat: os.stat_result):
        DAVCollection.__init__(self, path, environ)
        self._file_path = file_path
        self.file_stat = file_stat
        self.fs_opts = self.provider
        self.name = util.to_str(os.path.basename(file_path))

    # Gluster answers EBADFD on a folder opened just before a brick reconnects (measured once in a
    # rolling upgrade, at a storage node's restart): the listing is read again on a new descriptor.
    LISTING_ATTEMPTS = 3

    def get_member_list(self):
        for attempt in range(1, self.LISTING_ATTEMPTS + 1):
            try:
                return self._listing()
            except OSError as exc:
                if exc.errno != errno.EBADFD or attempt == self.LISTING_ATTEMPTS:
                    raise
                log.warning("listing %r again (attempt %d): %s", self._file_path, attempt + 1, exc)
        raise AssertionError("unreachable")

    def _listing(self):
        members = []
        fd = os.open(self._file_path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with os.scandir(fd) as entries:
                for entry in entries:
                    member = self._member(entry)
                    if member is not None:
                        members.append(member)
        finally:
            os.close(fd)
        return members

    def _member(self, entry: os.DirEntry):
        if entry.name.startswith(OWN_PREFIX):
            return None
        try:
            # Not following links: as WsgiDAV, which skips links and whatever is no file or folder.
            entry_stat = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            return None  # removed (by another app node) between readdir and stat
        path = util.join_uri(self.path, entry.name)
        file_path = os.path.join(self._file_path, entry.name)
        if stat.S_ISDIR(entry_stat.st_mode):
            return SharedFolder(path, self.environ, file_path, entry_stat)
        if stat.S_ISREG(entry_stat.st_mode):
            return StattedFile(path, self.environ, file_path, entry_stat)
        log.info("skipping %r: neither a file nor a folder", file_path)
        return None


class SharedFilesystemProvider(FilesystemProvider):
    """WsgiDAV's filesystem provider with SharedFolder listings, StattedFile answers, and a lookup
    that walks the resource's path once. WsgiDAV's lookup walks it about five times (realpath's lstat
    per component to keep symbolic links from leading out of the root, then exists, islink, isdir and
    the resource's own stat); on the app nodes' mount each component of each walk is a lookup on every
    brick. Here: one walk from the root, a component at a time, never following a symbolic link (a
    link anywhere below the root is refused with 403; WsgiDAV refuses links too, and lets one through
    only where realpath shows it stays inside the root)."""

    def get_resource_inst(self, path: str, environ: dict):
        if self.fs_opts.get("follow_symlinks") or self.shadow_map:
            return super().get_resource_inst(path, environ)
        self._count_get_resource_inst += 1
        root = self.root_folder_path  # already absolute (WsgiDAV's constructor)
        file_path = os.path.abspath(os.path.join(root, *path.strip("/").split("/")))
        if not self._is_equal_or_child_path(root, file_path):
            raise DAVError(HTTP_FORBIDDEN, f"Access outside root is not allowed: {file_path!r}")
        file_path = util.to_unicode_safe(file_path)
        relative = os.path.relpath(file_path, root)  # '..' resolved by abspath
        try:
            file_stat = self._lstat_beneath_root([] if relative == "." else relative.split(os.sep))
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISLNK(file_stat.st_mode):
            raise DAVError(HTTP_FORBIDDEN, f"Symlink support is disabled: {file_path!r}")
        if stat.S_ISDIR(file_stat.st_mode):
            return SharedFolder(path, environ, file_path, file_stat)
        return StattedFile(path, environ, file_path, file_stat)

    def _lstat_beneath_root(self, parts: list[str]) -> os.stat_result:
        """lstat of root/PARTS, opening each folder on the way relative to the one before (O_PATH: no
        open on the filesystem, O_NOFOLLOW: a link on the way is refused). Raises FileNotFoundError,
        NotADirectoryError (a file on the way), or DAVError 403 (a link on the way)."""
        if not parts:
            return os.lstat(self.root_folder_path)
        flags = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
        fd = os.open(self.root_folder_path, flags)
        try:
            for part in parts[:-1]:
                try:
                    below = os.open(part, flags | os.O_NOFOLLOW, dir_fd=fd)
                except NotADirectoryError:
                    if stat.S_ISLNK(os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode):
                        raise DAVError(HTTP_FORBIDDEN, f"Symlink support is disabled: {part!r}") from None
                    raise
                os.close(fd)
                fd = below
            return os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
        finally:
            os.close(fd)


class TrustedHeaderDC(BaseDomainController):
    """Apache authenticates (the site's htpasswd) and passes the user in a header that it always sets
    itself; this server listens on loopback only. Nobody logs in here directly."""

    def get_domain_realm(self, path_info, environ):
        return self._calc_realm_from_path_provider(path_info, environ)

    def require_authentication(self, realm, environ):
        return True

    def basic_auth_user(self, realm, user_name, password, environ):
        return False

    def supports_http_digest_auth(self):
        return False


def make_app(config: dict) -> WsgiDAVApp:
    store = config.pop("fileshare_redis")
    fs_opts = config.get("fs_dav_provider") or {}
    config["provider_mapping"] = {
        share: SharedFilesystemProvider(root, fs_opts=fs_opts) if isinstance(root, str) else root
        for share, root in config["provider_mapping"].items()
    }
    config["lock_storage"] = RetryingLockStorageRedis(
        **{k: store[k] for k in ("host", "port", "password", "db") if k in store}
    )
    config.setdefault("http_authenticator", {})["domain_controller"] = TrustedHeaderDC
    config["property_manager"] = RedisPropertyManager(
        **{k: store[k] for k in ("host", "port", "password", "db") if k in store}
    )
    app = WsgiDAVApp(config)
    app.lock_manager._lock = ClusterLock(_client(store), "fileshare:davlock:manager")
    return app


def main(argv: list[str]) -> int:
    with open(argv[1]) as fh:
        config = yaml.safe_load(fh)
    util.init_logging(config)
    app = make_app(config)
    server = wsgi.Server(
        (config["host"], int(config["port"])),
        app,
        numthreads=int(config.get("server_args", {}).get("numthreads", 32)),
        server_name="fileshare-wsgidav",
    )
    log.info("serving %s on %s:%s", config["provider_mapping"], config["host"], config["port"])
    FENCE.start()
    try:
        server.start()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
