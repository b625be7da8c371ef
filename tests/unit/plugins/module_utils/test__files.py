# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of module_utils/_files.py on real files in tmp_path (only clocks are faked)."""

from __future__ import annotations

import errno
import fcntl
import multiprocessing
import os
import stat
import subprocess
import sys
import time

import pytest

from ansible_collections.milos_shop.ops.plugins.module_utils import _files


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


# -- the time budget --------------------------------------------------------------------

@pytest.mark.parametrize("seconds, elapsed, expired, remaining", [
    (0, 10 ** 9, False, None),
    (30, 29.5, False, 0.5),
    (30, 30, False, 0.0),
    (30, 30.5, True, -0.5),
])
def test_deadline(seconds, elapsed, expired, remaining):
    clock = FakeClock()
    deadline = _files.Deadline(seconds, clock)
    clock.t += elapsed
    assert deadline.expired() is expired
    assert deadline.remaining() == remaining
    if expired:
        with pytest.raises(_files.DeadlineExceeded, match=r"^deadline of 30 s passed during compress$"):
            deadline.check("compress")
    else:
        deadline.check("compress")


# -- publishing without replacing ---------------------------------------------------------------

METHODS = [None, "link", "rename"] + (["renameat2"] if _files._RENAMEAT2 is not None else [])


@pytest.mark.parametrize("method", METHODS)
def test_publish_to_a_free_name(tmp_path, method):
    src = tmp_path / ".x.tmp-abc"
    src.write_bytes(b"backup")
    used = _files.publish_no_replace(str(src), str(tmp_path / "x"), method=method)
    assert used == (method or used) and used in ("renameat2", "link", "rename")
    assert sorted(os.listdir(tmp_path)) == ["x"]
    assert (tmp_path / "x").read_bytes() == b"backup"
    assert os.stat(tmp_path / "x").st_nlink == 1


@pytest.mark.parametrize("method", METHODS)
def test_publish_never_replaces(tmp_path, method):
    src = tmp_path / ".x.tmp-abc"
    src.write_bytes(b"new")
    (tmp_path / "x").write_bytes(b"old")
    with pytest.raises(FileExistsError):
        _files.publish_no_replace(str(src), str(tmp_path / "x"), method=method)
    assert (tmp_path / "x").read_bytes() == b"old"
    assert src.read_bytes() == b"new"


def _race(args):
    directory, index = args
    src = os.path.join(directory, ".x.tmp-%d" % index)
    with open(src, "wb") as handle:
        handle.write(b"%d" % index)
    try:
        _files.publish_no_replace(src, os.path.join(directory, "x"))
    except FileExistsError:
        os.unlink(src)
        return False
    return True


def test_publish_race_has_one_winner(tmp_path):
    """Eight processes publish to one name at once: one wins, the others see FileExistsError, nobody overwrites."""
    for attempt in range(5):
        directory = tmp_path / str(attempt)
        directory.mkdir()
        with multiprocessing.get_context("fork").Pool(8) as pool:
            won = pool.map(_race, [(str(directory), i) for i in range(8)])
        assert won.count(True) == 1
        assert os.listdir(directory) == ["x"]
        assert (directory / "x").read_bytes() == b"%d" % won.index(True)


# -- temporary files ------------------------------------------------------------------------------

def test_temp_files_are_locked_and_cleaned(tmp_path):
    temps = _files.TempFiles()
    path = temps.new(str(tmp_path), "b.db.gz", "tmp")
    assert os.path.basename(path).startswith(".b.db.gz.tmp-")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert _files.temp_in_use(path)  # another descriptor cannot take the flock
    (tmp_path / (os.path.basename(path) + "-wal")).write_bytes(b"w")
    temps.cleanup()
    assert os.listdir(tmp_path) == []


def test_forgotten_temp_stays(tmp_path):
    temps = _files.TempFiles()
    path = temps.new(str(tmp_path), "b", "tmp")
    temps.forget(path)
    temps.cleanup()
    assert os.path.exists(path) and not _files.temp_in_use(path)


@pytest.mark.parametrize("name, age, locked, removed", [
    (".milos_shop_backup_x.db.gz.tmp-abc123", 60, False, True),
    (".milos_shop_backup_x.db.gz.snapshot-abc123", 60, False, True),
    (".milos_shop_backup_x.db.gz.tmp-abc123", 1, False, False),     # too young: may be between creation and lock
    (".milos_shop_backup_x.db.gz.tmp-abc123", 60, True, False),     # a running backup holds it
    (".other_x.db.gz.tmp-abc123", 60, False, False),                # another prefix
    ("milos_shop_backup_x.db.gz", 60, False, False),                # a published backup
    (".milos_shop_backup_x.db.gz.manifest.json.tmp-abc", 60, False, True),
])
def test_remove_stale_temps(tmp_path, name, age, locked, removed):
    path = tmp_path / name
    path.write_bytes(b"x")
    now = time.time()
    os.utime(path, (now - age, now - age))
    holder = None
    if locked:
        holder = os.open(str(path), os.O_RDONLY)
        fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        plan = _files.remove_stale_temps(str(tmp_path), "milos_shop_backup_", check_mode=True)
        assert path.exists()
        done = _files.remove_stale_temps(str(tmp_path), "milos_shop_backup_")
    finally:
        if holder is not None:
            os.close(holder)
    assert plan == done == ([str(path)] if removed else [])
    assert path.exists() is (not removed)


def test_stale_side_file_goes_with_its_base(tmp_path):
    base = tmp_path / ".milos_shop_backup_x.db.gz.snapshot-abc"
    base.write_bytes(b"x")
    (tmp_path / (base.name + "-wal")).write_bytes(b"w")
    old = time.time() - 60
    for name in os.listdir(tmp_path):
        os.utime(tmp_path / name, (old, old))
    assert sorted(_files.remove_stale_temps(str(tmp_path), "milos_shop_backup_")) == [str(base), str(base) + "-wal"]
    assert os.listdir(tmp_path) == []


# -- the directory lock -------------------------------------------------------------------------------

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_SH if sys.argv[2] == "shared" else fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def holder(tmp_path):
    procs = []

    def hold(kind):
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path), kind], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "held"
        procs.append(proc)
        return proc

    yield hold
    for proc in procs:
        proc.stdin.close()
        proc.wait(10)


@pytest.mark.parametrize("held, shared, waits", [
    (None, False, False),
    ("shared", True, False),    # readers side by side
    ("shared", False, True),    # a writer waits for a reader
    ("exclusive", True, True),  # a reader waits for a writer
    ("exclusive", False, True),
])
def test_directory_lock(tmp_path, holder, held, shared, waits):
    if held:
        holder(held)
    clock = FakeClock()
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        clock.t += 1

    lock = _files.DirectoryLock(str(tmp_path), shared=shared, sleep=sleep)
    if waits:
        with pytest.raises(_files.DeadlineExceeded, match="deadline of 3 s passed during the wait"):
            lock.acquire(_files.Deadline(3, clock), "the wait")
        assert len(sleeps) >= 3 and not lock.held
    else:
        with lock.acquire(_files.Deadline(3, clock)):
            assert lock.held and sleeps == []
        assert not lock.held
    assert os.listdir(tmp_path) == []  # no lock file


def test_directory_lock_is_taken_when_released(tmp_path, holder):
    proc = holder("exclusive")
    lock = _files.DirectoryLock(str(tmp_path))

    def sleep(seconds):
        proc.stdin.close()  # the holder lets go while we wait
        proc.wait(10)
        time.sleep(0.01)

    lock.sleep = sleep
    lock.acquire(None)
    assert lock.held
    lock.release()


# -- space, owner, group, mode -----------------------------------------------------------------------

@pytest.mark.parametrize("mode, default, expected", [
    (None, 0o640, 0o640),
    ("", 0o640, 0o640),
    ("0600", 0o640, 0o600),
    ("750", 0o640, 0o750),
    (0o700, 0o640, 0o700),
])
def test_parse_mode(mode, default, expected):
    assert _files.parse_mode(mode, default) == expected


@pytest.mark.parametrize("mode", ["u=rw", "0999", "12345", "rw-r-----"])
def test_parse_mode_refuses(mode):
    with pytest.raises(_files.OpsError, match=r"^mode %s is not an octal mode" % repr(mode).replace("-", r"\-")):
        _files.parse_mode(mode, 0o600)


@pytest.mark.parametrize("function, value, expected", [
    (_files.resolve_uid, None, None),
    (_files.resolve_uid, "0", 0),
    (_files.resolve_uid, "root", 0),
    (_files.resolve_gid, "", None),
    (_files.resolve_gid, "0", 0),
    (_files.resolve_gid, "root", 0),
])
def test_resolve_ids(function, value, expected):
    assert function(value) == expected


@pytest.mark.parametrize("function, option", [(_files.resolve_uid, "owner"), (_files.resolve_gid, "group")])
def test_unknown_ids_name_the_option(function, option):
    with pytest.raises(_files.OpsError, match=r"^%s 'no-such-name-here' is not a known" % option):
        function("no-such-name-here")


def test_apply_attributes(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x")
    _files.apply_attributes(str(path), dict(owner=os.geteuid(), group=os.getegid(), mode=0o640))
    assert _files.attributes_of(str(path)) == dict(owner=os.geteuid(), group=os.getegid(), mode=0o640)
    _files.apply_attributes(str(path), dict(owner=None, group=None, mode=None))
    assert _files.public_attributes(_files.attributes_of(str(path)))["mode"] == "0640"


@pytest.mark.parametrize("needed, free, fails", [(0, 0, False), (None, 0, False), (100, 100, False), (101, 100, True)])
def test_need_space(tmp_path, needed, free, fails):
    if fails:
        with pytest.raises(_files.OpsError, match=r"not enough free space in .* for the copy: it needs 101 bytes, 100 are free"):
            _files.need_space(str(tmp_path), needed, "the copy", free=free)
    else:
        _files.need_space(str(tmp_path), needed, "the copy", free=free)
    assert _files.free_bytes(str(tmp_path)) > 0


# -- writing -----------------------------------------------------------------------------------------

def test_write_file_and_copy(tmp_path):
    path = tmp_path / "a"
    path.touch()
    seen = []
    _files.write_file(str(path), b"hello", lambda p, kind: seen.append((p, kind)))
    assert path.read_bytes() == b"hello" and seen == [(str(path), "file")]
    _files.write_file(str(path), lambda out: _files.write_all(out, b"x" * 10))
    assert path.read_bytes() == b"x" * 10
    copy = tmp_path / "b"
    copy.touch()
    size, digest = _files.copy_file(str(path), str(copy))
    assert (size, digest) == (10, _files.sha256_of(str(copy)))
    _files.fsync_dir(str(tmp_path))
    _files.fsync_file(str(copy))
    _files.remove(str(copy))
    _files.remove(str(copy))
    assert not copy.exists()


@pytest.mark.parametrize("exc, full", [
    (OSError(errno.ENOSPC, "No space left on device"), True),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
    (OSError(errno.EACCES, "Permission denied"), False),
    (ValueError("disk is full"), False),
])
def test_is_disk_full(exc, full):
    assert _files.is_disk_full(exc) is full
