# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils file is private to the milos_shop.ops collection; it may change
# or go away without notice. Do not use it from other collections.

"""Files that are written safely: temporary names, fsync, no-replace publishing, locks.

The file side of every module of the collection that writes backups or puts
files in place. It does not import Ansible:

- the expected failure (:class:`OpsError`), a missing dependency and the time
  budget of a run (:class:`Deadline`), shared by the data modules;
- writing: :func:`write_all`, :func:`write_file` (fsync), :func:`fsync_dir`,
  :func:`copy_file`;
- publishing: :func:`publish_no_replace` puts a finished temporary file under
  its final name only when that name is free, in one system call
  (``renameat2(RENAME_NOREPLACE)``, else ``link()`` then ``unlink()``), so
  there is no window between a check and the rename;
- temporary files of a run (:class:`TempFiles`), each locked while the run
  lives, and :func:`remove_stale_temps` for those of killed runs;
- :class:`DirectoryLock`: runs into one directory serialize on it;
- :func:`need_space` (free-space checks) and owner, group and mode
  (:func:`parse_mode`, :func:`resolve_uid`, :func:`resolve_gid`,
  :func:`apply_attributes`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import grp
import hashlib
import os
import pwd
import re
import stat
import tempfile
import time

CHUNK_SIZE = 4 * 1024 * 1024
MODE_PATTERN = re.compile(r"^0?[0-7]{3}$")
# Temporary files of a run: .<final name>.<kind>-<mkstemp part>[-wal|-shm|-journal].
TEMP_NAME = re.compile(r"^\.(?P<base>.+\.(?:snapshot|tmp)-[A-Za-z0-9_]+)(?P<extra>-wal|-shm|-journal)?$")
TEMP_KINDS = ("snapshot", "tmp")
SIDE_EXTRAS = ("-wal", "-shm", "-journal")
# A temporary file younger than this is never taken for a leftover (it may be between creation and lock).
STALE_TEMP_MIN_AGE_S = 5
# How often a lock that is held by another run is tried again.
LOCK_POLL_S = 0.05

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


# -- errors and the time budget -------------------------------------------------------

class OpsError(Exception):
    """An expected failure; msg is meant for the operator, result holds return values."""

    def __init__(self, msg, result=None):
        super(OpsError, self).__init__(msg)
        self.msg = msg
        self.result = result or {}


class MissingDependency(OpsError):
    """Neither the command nor the Python library needed for an option is available."""

    def __init__(self, library, reason, import_error=None):
        msg = "%s is required %s, but it is not available" % (library, reason)
        super(MissingDependency, self).__init__(msg)
        self.library = library
        self.reason = reason
        self.import_error = import_error


def fmt_seconds(seconds):
    return "%g" % seconds


class DeadlineExceeded(OpsError):
    """The run took longer than the deadline allows."""

    def __init__(self, seconds, phase):
        super(DeadlineExceeded, self).__init__("deadline of %s s passed during %s" % (fmt_seconds(seconds), phase))
        self.phase = phase


class Deadline:
    """A time budget in seconds measured on a monotonic clock; 0 means none."""

    def __init__(self, seconds=0, clock=time.monotonic):
        self.seconds = float(seconds or 0)
        self.clock = clock
        self.start = clock()

    def elapsed(self):
        return self.clock() - self.start

    def remaining(self):
        """Seconds left, or None if there is no deadline."""
        if not self.seconds:
            return None
        return self.seconds - self.elapsed()

    def expired(self):
        return bool(self.seconds) and self.elapsed() > self.seconds

    def check(self, phase):
        if self.expired():
            raise DeadlineExceeded(self.seconds, phase)


# -- writing ------------------------------------------------------------------------------

def write_all(fileobj, data):
    """Write all of data (a file object may write less than it was given)."""
    view = memoryview(data)
    while view:
        written = fileobj.write(view)
        if written is None:  # pragma: no cover - raw files in non-blocking mode only
            written = 0
        view = view[written:]


def write_file(path, writer, fix_attributes=None):
    """Fill the existing (temporary) file path: writer(out) or bytes; flush, fsync, then fix_attributes(path, "file")."""
    with open(path, "wb") as out:
        if callable(writer):
            writer(out)
        else:
            write_all(out, writer)
        out.flush()
        os.fsync(out.fileno())
    if fix_attributes is not None:
        fix_attributes(path, "file")


def fsync_file(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path):
    """fsync a directory so that renames and new names in it are durable; silent where it cannot be done."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def remove(path):
    """Unlink path; a missing file is fine."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def is_disk_full(exc):
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def sha256_of(path, deadline=None, phase="checksum"):
    """Hex sha256 of a file, read in blocks; deadline.check(phase) between blocks when given."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            block = handle.read(CHUNK_SIZE)
            if not block:
                break
            digest.update(block)
            if deadline is not None:
                deadline.check(phase)
    return digest.hexdigest()


def copy_file(src, dst):
    """Copy src into the existing file dst byte for byte and fsync it; return (size, sha256 of the bytes read).

    The copy is read back and compared; OpsError when it differs.
    """
    digest = hashlib.sha256()
    size = 0
    with open(src, "rb") as handle, open(dst, "wb") as out:
        while True:
            block = handle.read(CHUNK_SIZE)
            if not block:
                break
            digest.update(block)
            size += len(block)
            write_all(out, block)
        out.flush()
        os.fsync(out.fileno())
    written = sha256_of(dst)
    if written != digest.hexdigest():
        raise OpsError("the copy %r of %r does not match what was read (sha256 %s, read %s)" % (dst, src, written, digest.hexdigest()))
    return size, written


# -- publishing without replacing ------------------------------------------------------------

def _load_renameat2():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError, TypeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_RENAMEAT2 = _load_renameat2()
# Error numbers that mean "this file system (or kernel) cannot do it", not "it failed".
_UNSUPPORTED = (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM, errno.EXDEV)


def _renameat2_noreplace(src, dst):
    """True when renamed; False when renameat2 cannot be used here; FileExistsError or OSError otherwise."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
        return True
    code = ctypes.get_errno()
    if code == errno.EEXIST:
        raise FileExistsError(code, os.strerror(code), dst)
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), src)


def publish_no_replace(src, dst, method=None):
    """Rename the finished file src to dst only if dst does not exist; return the method used.

    In one step: renameat2(RENAME_NOREPLACE) where the kernel and the file
    system have it, else link(src, dst), which fails when dst exists, then
    unlink(src). Either way no other writer can slip in between a check and
    the rename. FileExistsError when dst is taken (src is left as it was).
    Only on a file system that has neither (no hard links, e.g. vfat) is it a
    check followed by a rename; writers of this collection also hold the
    directory lock while they publish (DirectoryLock), which covers that case.
    method forces "renameat2", "link" or "rename" (tests).
    """
    if method in (None, "renameat2") and _renameat2_noreplace(src, dst):
        return "renameat2"
    if method == "renameat2":
        raise OSError(errno.ENOTSUP, "renameat2(RENAME_NOREPLACE) is not available here", dst)
    if method in (None, "link"):
        try:
            os.link(src, dst)
        except FileExistsError:
            raise
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED or method == "link":
                raise
        else:
            os.unlink(src)
            return "link"
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst)
    os.rename(src, dst)
    return "rename"


# -- temporary files of a run ----------------------------------------------------------------

def make_temp(directory, name, kind):
    """A new empty 0600 file .<name>.<kind>-<random> in directory; returns (fd, path)."""
    return tempfile.mkstemp(dir=directory, prefix=".%s.%s-" % (name, kind))


class TempFiles:
    """The temporary files of one run, each locked (flock) while the run lives, removed by cleanup().

    The lock tells a later run that the file is in use; when the run is killed
    the lock goes with it and the file is a leftover (remove_stale_temps).
    """

    def __init__(self):
        self.paths = []
        self.locks = {}

    def new(self, directory, name, kind):
        fd, path = make_temp(directory, name, kind)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pass  # a file system without flock: the age rule still protects it
        self.locks[path] = fd
        self.paths.append(path)
        return path

    def adopt(self, path):
        """Remove path on cleanup too (a file this run published but must take back on failure)."""
        self.paths.append(path)

    def _unlock(self, path):
        fd = self.locks.pop(path, None)
        if fd is not None:
            os.close(fd)

    def forget(self, path):
        """path is no longer this run's to remove (it was published, or renamed away); unknown paths are ignored."""
        if path in self.paths:
            self.paths.remove(path)
        self._unlock(path)

    def cleanup(self):
        for path in self.paths:
            for extra in ("",) + SIDE_EXTRAS:
                remove(path + extra)
            self._unlock(path)
        self.paths = []
        for path in list(self.locks):
            self._unlock(path)


def temp_in_use(path):
    """Whether another process holds the flock of a temporary file (a run that is still going)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


def remove_stale_temps(directory, prefix, check_mode=False, min_age=STALE_TEMP_MIN_AGE_S, now=time.time):
    """Remove the temporary files that killed runs left in directory; return their paths.

    Only dot-prefixed names of this prefix's temporary files count
    (.<prefix>...<.snapshot-|.tmp->..., with their -wal, -shm and -journal), and
    only when they are regular files, not locked by a running run and older
    than min_age seconds. Check mode lists them without removing them.
    """
    removed = []
    try:
        entries = sorted(os.listdir(directory))
    except OSError:
        return removed
    bases = set()
    for entry in entries:
        match = TEMP_NAME.match(entry)
        if match and entry.startswith("." + prefix) and not match.group("extra"):
            bases.add(entry)
    for entry in entries:
        match = TEMP_NAME.match(entry)
        if not match or not entry.startswith("." + prefix):
            continue
        path = os.path.join(directory, entry)
        base = "." + match.group("base")
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or now() - st.st_mtime < min_age:
            continue
        if match.group("extra"):
            # A side file counts with its base; alone, it is a leftover.
            if base in bases:
                continue
        elif temp_in_use(path):
            continue
        removed.append(path)
        if not check_mode:
            remove(path)
            if not match.group("extra"):
                for extra in SIDE_EXTRAS:
                    side = path + extra
                    if os.path.lexists(side):
                        removed.append(side)
                        remove(side)
    return removed


# -- the directory lock --------------------------------------------------------------------------

class DirectoryLock:
    """flock() on the directory itself: the runs that write into one directory take turns.

    No lock file is created (nothing appears in the directory). ``shared=True``
    takes a shared lock (readers such as retention, that must not see a
    half-published pair but may run side by side). acquire() waits until the
    deadline (a Deadline; none means wait as long as it takes) and raises
    DeadlineExceeded naming the phase when it passes. On a file system where
    flock does not work on a directory the lock is a no-op (``held`` stays
    False, ``supported`` False).
    """

    def __init__(self, path, shared=False, sleep=time.sleep):
        self.path = path
        self.shared = shared
        self.sleep = sleep
        self.fd = None
        self.held = False
        self.supported = True
        self.waited_s = 0.0

    def acquire(self, deadline=None, phase="waiting for the lock"):
        self.fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        kind = fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX
        began = time.monotonic()
        try:
            while True:
                try:
                    fcntl.flock(self.fd, kind | fcntl.LOCK_NB)
                except BlockingIOError:
                    if deadline is not None and deadline.expired():
                        raise DeadlineExceeded(deadline.seconds, phase)
                    self.sleep(LOCK_POLL_S)
                    continue
                except OSError as exc:
                    if exc.errno in (errno.ENOLCK, errno.EBADF, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
                        self.supported = False
                        return self
                    raise
                self.held = True
                return self
        except BaseException:
            self.release()
            raise
        finally:
            self.waited_s = time.monotonic() - began

    def release(self):
        if self.fd is not None:
            os.close(self.fd)  # closing the only descriptor drops the flock
        self.fd = None
        self.held = False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.release()


# -- space, owner, group and mode -------------------------------------------------------------------

def free_bytes(directory):
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


def need_space(directory, needed, what, error=OpsError, free=None):
    """Raise error when directory has less than needed bytes free for what; nothing when needed is falsy."""
    if not needed:
        return
    free = free_bytes(directory) if free is None else free
    if free < needed:
        raise error("not enough free space in %r for %s: it needs %d bytes, %d are free; nothing was changed"
                    % (directory, what, needed, free))


def fmt_mode(mode):
    return "%04o" % mode


def parse_mode(mode, default, error=OpsError, option="mode"):
    """An octal mode string such as '0640' (or an int) as an int; default when mode is None or empty."""
    if mode is None or mode == "":
        return default
    if isinstance(mode, int) and not isinstance(mode, bool):
        if 0 <= mode <= 0o7777:
            return mode
        raise error("%s %r is not a file mode" % (option, mode))
    text = str(mode)
    if not MODE_PATTERN.match(text):
        raise error("%s %r is not an octal mode such as '0640' (symbolic modes are not supported)" % (option, mode))
    return int(text, 8)


def resolve_uid(owner, error=OpsError, option="owner"):
    """A user name or uid as a uid; None when not given."""
    if owner is None or owner == "":
        return None
    text = str(owner)
    if text.isdigit():
        return int(text)
    try:
        return pwd.getpwnam(text).pw_uid
    except KeyError:
        raise error("%s %r is not a known user" % (option, owner))


def resolve_gid(group, error=OpsError, option="group"):
    """A group name or gid as a gid; None when not given."""
    if group is None or group == "":
        return None
    text = str(group)
    if text.isdigit():
        return int(text)
    try:
        return grp.getgrnam(text).gr_gid
    except KeyError:
        raise error("%s %r is not a known group" % (option, group))


def attributes_of(path):
    st = os.stat(path)
    return dict(owner=st.st_uid, group=st.st_gid, mode=stat.S_IMODE(st.st_mode))


def apply_attributes(path, attrs, error=OpsError):
    """chown to attrs owner/group (either may be None: unchanged) and chmod to attrs mode (None: unchanged)."""
    uid = attrs.get("owner")
    gid = attrs.get("group")
    if uid is not None or gid is not None:
        try:
            os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)
        except OSError as exc:
            raise error("cannot give %r to uid %s, gid %s: %s; run the task as root (become)"
                        % (path, "-" if uid is None else uid, "-" if gid is None else gid, exc))
    if attrs.get("mode") is not None:
        os.chmod(path, attrs["mode"])


def public_attributes(attrs):
    """Attributes as returned by the modules: uid, gid and the mode as an octal string."""
    return dict(owner=attrs["owner"], group=attrs["group"], mode=fmt_mode(attrs["mode"]))
