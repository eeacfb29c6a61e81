"""The app nodes' WebDAV provider (formulas/.../fileshare_wsgidav.py) against WsgiDAV's own, both real,
on a real directory: the same members with the same live properties, links and special files refused
or skipped alike, and a folder listing that walks no member's path (one fstatat per member instead of
WsgiDAV's ~12 path walks; each walk is a brick round trip per component on the app nodes' mount)."""

import errno
import importlib.util
import logging
import os
from pathlib import Path

import pytest
from wsgidav.dav_error import DAVError
from wsgidav.fs_dav_provider import FilesystemProvider

PROGRAM = (
    Path(__file__).resolve().parents[2] / "formulas/fileshare/app/products/files/default/fileshare_wsgidav.py"
)
MEMBERS = 20


def load_program():
    spec = importlib.util.spec_from_file_location("fileshare_wsgidav", PROGRAM)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def program():
    return load_program()


@pytest.fixture
def tree(tmp_path):
    folder = tmp_path / "alice" / "docs"
    (folder / "sub").mkdir(parents=True)
    for i in range(MEMBERS):
        (folder / f"file{i}.txt").write_bytes(b"x" * i)
    (folder / "link").symlink_to("/etc")
    os.mkfifo(folder / "fifo")
    return tmp_path


def provider(cls, root):
    instance = cls(str(root), fs_opts={})
    instance.set_share_path("/")
    return instance


def listing(instance, path):
    environ = {"wsgidav.provider": instance, "wsgidav.config": {}}
    folder = instance.get_resource_inst(path, environ)
    return sorted(
        (
            m.path,
            m.is_collection,
            m.get_content_length() if not m.is_collection else None,
            m.get_etag(),
            m.get_last_modified(),
            m.get_display_name(),
        )
        for m in folder.get_member_list()
    )


def test_lists_the_same_members_with_the_same_live_properties(program, tree):
    ours = listing(provider(program.SharedFilesystemProvider, tree), "/alice/docs")
    stock = listing(provider(FilesystemProvider, tree), "/alice/docs")
    assert ours == stock
    # The link and the fifo are skipped by both; the folder and every file are there.
    assert len(ours) == MEMBERS + 1


def test_lookups_answer_like_wsgidav(program, tree):
    ours, stock = provider(program.SharedFilesystemProvider, tree), provider(FilesystemProvider, tree)
    for path in ("/alice/docs/file3.txt", "/alice/docs/sub", "/alice", "/", "/alice/../alice/docs/"):
        environ = {"wsgidav.provider": ours, "wsgidav.config": {}}
        mine = ours.get_resource_inst(path, environ)
        theirs = stock.get_resource_inst(path, {"wsgidav.provider": stock, "wsgidav.config": {}})
        assert (mine.is_collection, mine.file_stat) == (theirs.is_collection, theirs.file_stat), path
        assert (mine.get_etag(), mine.is_link()) == (theirs.get_etag(), theirs.is_link()), path
    for missing in ("/nothing", "/alice/docs/file3.txt/below", "/alice/nothing/file3.txt"):
        assert ours.get_resource_inst(missing, {"wsgidav.provider": ours, "wsgidav.config": {}}) is None
    # A link is refused, as the last component or on the way (it leads out of the root here).
    for link in ("/alice/docs/link", "/alice/docs/link/passwd", "/alice/../../etc/passwd"):
        for instance in (ours, stock):
            with pytest.raises(DAVError) as refused:
                instance.get_resource_inst(link, {"wsgidav.provider": instance, "wsgidav.config": {}})
            assert refused.value.value == 403, (link, instance)


def test_a_lookup_and_its_etag_walk_no_path_below_the_root(program, tree, monkeypatch):
    """What a GET asks of a file (lookup, ETag twice, is_link), counted as calls that resolve a path
    below the root from the top: WsgiDAV's ~10, ours none (one walk from the root, a component at a
    time relative to the folder before)."""
    below = str(tree) + "/"
    calls = []
    for name in ("stat", "lstat", "open"):
        real = getattr(os, name)

        def counting(*a, _real=real, **k):
            if isinstance(a[0], str) and a[0].startswith(below) and k.get("dir_fd") is None:
                calls.append(a[0])
            return _real(*a, **k)

        monkeypatch.setattr(os, name, counting)
    counts = {}
    for cls in (FilesystemProvider, program.SharedFilesystemProvider):
        instance = provider(cls, tree)
        calls.clear()
        res = instance.get_resource_inst(
            "/alice/docs/file3.txt", {"wsgidav.provider": instance, "wsgidav.config": {}}
        )
        res.get_etag(), res.get_etag(), res.is_link()
        counts[cls.__name__] = len(calls)
    assert counts["FilesystemProvider"] >= 8, counts
    assert counts["SharedFilesystemProvider"] == 0, counts


def test_a_put_answers_with_the_new_contents_etag(program, tree):
    ours = provider(program.SharedFilesystemProvider, tree)
    res = ours.get_resource_inst("/alice/docs/file3.txt", {"wsgidav.provider": ours, "wsgidav.config": {}})
    before = res.get_etag()
    fh = res.begin_write()
    fh.writelines([b"longer ", b"content"])
    fh.close()
    fh.close()  # WsgiDAV may close twice (error paths): harmless
    res.end_write(with_errors=False)
    stock = provider(FilesystemProvider, tree)
    theirs = stock.get_resource_inst(
        "/alice/docs/file3.txt", {"wsgidav.provider": stock, "wsgidav.config": {}}
    )
    assert res.get_etag() == theirs.get_etag() != before
    assert res.get_content_length() == len(b"longer content")


def test_a_listing_walks_no_member_path(program, tree, monkeypatch):
    """Path-based stat calls (os.stat, os.lstat: what os.path.isdir, islink, exists and realpath use)
    while listing a folder of MEMBERS files: WsgiDAV's grow with the members, ours do not."""
    calls = []
    for name in ("stat", "lstat"):
        real = getattr(os, name)
        monkeypatch.setattr(os, name, lambda *a, _real=real, **k: calls.append(a[0]) or _real(*a, **k))
    counts = {}
    for cls in (FilesystemProvider, program.SharedFilesystemProvider):
        instance = provider(cls, tree)
        environ = {"wsgidav.provider": instance, "wsgidav.config": {}}
        folder = instance.get_resource_inst("/alice/docs", environ)
        calls.clear()
        folder.get_member_list()
        counts[cls.__name__] = len(calls)
    assert counts["FilesystemProvider"] >= 3 * MEMBERS, counts
    assert counts["SharedFilesystemProvider"] == 0, counts


def test_a_folder_in_bad_state_is_listed_again(program, tree, monkeypatch):
    """EBADFD (Gluster: a folder opened just before a brick reconnected, measured in a rolling upgrade)
    is retried on a new descriptor; EBADFD at every attempt is raised."""
    instance = provider(program.SharedFilesystemProvider, tree)
    folder = instance.get_resource_inst("/alice/docs", {"wsgidav.provider": instance, "wsgidav.config": {}})
    real_scandir, failed = os.scandir, []
    budget = {"failures": 2}

    def scandir_in_bad_state(fd):
        if len(failed) < budget["failures"]:
            failed.append(fd)
            raise OSError(errno.EBADFD, "File descriptor in bad state", fd)
        return real_scandir(fd)

    monkeypatch.setattr(os, "scandir", scandir_in_bad_state)
    # Its warnings would reach Salt's deferred log handler (the test session's plugin), which writes
    # them to a closed stream at exit.
    monkeypatch.setattr(program.log, "disabled", True)
    assert len(folder.get_member_list()) == MEMBERS + 1
    assert len(failed) == 2
    failed.clear()
    budget["failures"] = program.SharedFolder.LISTING_ATTEMPTS
    with pytest.raises(OSError) as raised:
        folder.get_member_list()
    assert raised.value.errno == errno.EBADFD and len(failed) == program.SharedFolder.LISTING_ATTEMPTS


def put(instance, path, chunks, with_errors=False):
    res = instance.get_resource_inst(path, {"wsgidav.provider": instance, "wsgidav.config": {}})
    fh = res.begin_write()
    fh.writelines(chunks)
    fh.close()
    res.end_write(with_errors=with_errors)
    return res


def test_a_put_is_renamed_over_its_file_only_once_complete(program, tree):
    ours = provider(program.SharedFilesystemProvider, tree)
    target = tree / "alice/docs/file3.txt"
    res = ours.get_resource_inst("/alice/docs/file3.txt", {"wsgidav.provider": ours, "wsgidav.config": {}})
    fh = res.begin_write()
    fh.write(b"half")
    # While it is written, the file keeps its old content, and the part written is listed nowhere.
    assert target.read_bytes() == b"xxx"
    assert not [m for m in listing(ours, "/alice/docs") if ".fileshare-" in m[0]]
    fh.close()
    res.end_write(with_errors=False)
    assert target.read_bytes() == b"half"
    assert not list(target.parent.glob(".fileshare-put-*"))
    # A failed upload leaves the file as it was and nothing beside it.
    put(ours, "/alice/docs/file3.txt", [b"broken"], with_errors=True)
    assert target.read_bytes() == b"half" and not list(target.parent.glob(".fileshare-put-*"))


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_a_put_in_flight_while_the_node_was_stopped_is_dropped(program, tree, monkeypatch):
    now = [100.0]
    fence = program.StallFence(limit=1.5, clock=lambda: now[0])
    fence.beat()
    monkeypatch.setattr(program, "FENCE", fence)
    # The engine's warnings kept here (Salt's test logging would print them at exit, to a closed stream).
    records = Records()
    log = logging.getLogger("fileshare_wsgidav.test")
    log.propagate, log.handlers = False, [records]
    monkeypatch.setattr(program, "log", log)
    ours = provider(program.SharedFilesystemProvider, tree)
    target = tree / "alice/docs/file4.txt"
    res = ours.get_resource_inst("/alice/docs/file4.txt", {"wsgidav.provider": ours, "wsgidav.config": {}})
    fh = res.begin_write()
    fh.write(b"zombie")
    fh.close()
    # Frozen for 10 s; at the thaw the PUT's thread runs before the ticker has beaten again.
    now[0] += 10.0
    with pytest.raises(DAVError) as failed:
        res.end_write(with_errors=False)
    assert failed.value.value == 503
    assert target.read_bytes() == b"xxxx" and not list(target.parent.glob(".fileshare-put-*"))
    assert records.messages == [f"dropped a PUT of {str(target)!r}: this node was stopped while it ran"]
    # The ticker beats: the stall is on record, and a PUT begun before it ended is still dropped.
    res = ours.get_resource_inst("/alice/docs/file4.txt", {"wsgidav.provider": ours, "wsgidav.config": {}})
    fh = res.begin_write()
    now[0] += 10.0
    fence.beat()
    fh.close()
    with pytest.raises(DAVError):
        res.end_write(with_errors=False)
    # Right after the thaw, a PUT read from the socket then was sent before it: dropped too.
    now[0] += 0.1
    fence.beat()
    with pytest.raises(DAVError):
        put(ours, "/alice/docs/file4.txt", [b"queued"])
    # One begun once the node has settled, with the ticker beating, goes through.
    now[0] += 1.0
    fence.beat()
    put(ours, "/alice/docs/file4.txt", [b"fresh"])
    assert target.read_bytes() == b"fresh"


@pytest.mark.parametrize(
    "beats, began, stopped",
    [
        ([0.1, 0.2, 0.3], 0.0, False),  # a steady ticker
        ([0.1, 2.0], 0.0, True),  # a 1.9 s gap ended after the write began
        ([0.1, 2.0, 2.1], 2.05, True),  # began after the stall ended, but within 1 s of it
        ([0.1, 2.0, 2.5, 3.0, 3.1], 3.05, False),  # began after the node settled
    ],
)
def test_the_stall_fence_reads_its_beats(program, beats, began, stopped):
    now = [0.0]
    fence = program.StallFence(limit=1.5, clock=lambda: now[0])
    fence.beat()
    for t in beats:
        now[0] = t
        fence.beat()
    assert fence.stopped_since(began) is stopped


def test_a_fence_nobody_ticks_holds_no_write_back(program):
    now = [0.0]
    fence = program.StallFence(limit=1.5, clock=lambda: now[0])
    now[0] = 60.0
    assert fence.stopped_since(0.0) is False
    # Its first beat starts the watch; it is no stall, however long after the fence was made.
    fence.beat()
    now[0] = 61.1
    fence.beat()
    assert fence.stopped_since(60.5) is False


def answer(text):
    """An error answer as redis-py's own parser turns it into an exception."""
    from redis._parsers.base import BaseParser

    return BaseParser.parse_error(text)


@pytest.mark.parametrize(
    "text, resent",
    [
        ("NOREPLICAS Not enough good replicas to write.", True),  # a new master before its replica
        ("READONLY You can't write against a read only replica.", True),
        ("LOADING Redis is loading the dataset in memory", True),
        ("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", True),
        ("WRONGTYPE Operation against a key holding the wrong kind of value", False),
        ("ERR unknown command 'NOREPLICAS'", False),
    ],
)
def test_a_command_is_resent_only_for_a_hand_over_answer(program, text, resent):
    from redis.backoff import NoBackoff

    errors = [answer(text), answer(text)]
    failed = []

    def command():
        if errors:
            raise errors.pop(0)
        return "OK"

    retry = program.FailoverRetry(NoBackoff(), 3)
    if resent:
        assert retry.call_with_retry(command, failed.append) == "OK"
        assert len(failed) == 2
    else:
        with pytest.raises(Exception, match=text.split(" ", 1)[1][:20]):
            retry.call_with_retry(command, failed.append)
        assert failed == []


def test_a_broken_connection_is_resent_and_a_lasting_one_raised(program):
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError

    def command():
        raise ConnectionError("Connection reset by peer")

    failed = []
    with pytest.raises(ConnectionError):
        program.FailoverRetry(NoBackoff(), 3).call_with_retry(command, failed.append)
    assert len(failed) == 4  # the first try and 3 resends
