# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils file is private to the milos_shop.ops collection; it may change
# or go away without notice. Do not use it from other collections.

"""Consistent online backups of a live SQLite database, and their verification.

The logic behind the milos_shop.ops.sqlite_backup module. It does not import
Ansible, so it can be unit-tested (and used) on its own:

- take_backup(): snapshot the database with the SQLite online backup API from a
  separate read-only connection, check the snapshot, compress it (in parallel),
  publish it atomically with a JSON manifest beside it.
- verify_backup(): check a published backup against its manifest, decompress it
  to a temporary file and run an integrity check on it. Changes nothing.

Expected failures raise BackupError with a message meant for the operator.
"""

from __future__ import annotations

import collections
import datetime
import errno
import fcntl
import gzip
import hashlib
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import tempfile
import time
import traceback
import zlib
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

try:
    import zstandard
except ImportError:
    zstandard = None
    ZSTANDARD_IMPORT_ERROR = traceback.format_exc()
else:
    ZSTANDARD_IMPORT_ERROR = None


SQLITE_HEADER = b"SQLite format 3\x00"
DEFAULT_PREFIX = "milos_shop_backup_"
MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_FORMAT = 1
SUFFIXES = {"gzip": ".db.gz", "zstd": ".db.zst", "none": ".db"}
CHECKS = ("quick_check", "integrity_check")
LEVELS = {"gzip": (1, 9), "zstd": (1, 19)}
NAME_TIME_FORMAT = "%Y-%m-%dT%H-%M-%S"
ISO_SECONDS = "%Y-%m-%dT%H:%M:%SZ"
CHUNK_SIZE = 4 * 1024 * 1024
MIB = 1024 * 1024
# How many lines of a failed check end up in a message.
MAX_CHECK_LINES = 5
# Temporary files of a run: .<backup name>[.manifest.json].<kind>-<mkstemp part>[-wal|-shm|-journal].
TEMP_NAME = re.compile(r"^\.(?P<base>.+\.(?:snapshot|tmp)-[A-Za-z0-9_]+)(?P<extra>-wal|-shm|-journal)?$")
# A temporary file younger than this is never taken for a leftover (it may be between creation and lock).
STALE_TEMP_MIN_AGE_S = 5


class BackupError(Exception):
    """An expected failure; msg is meant for the operator, result holds return values."""

    def __init__(self, msg, result=None):
        super(BackupError, self).__init__(msg)
        self.msg = msg
        self.result = result or {}


class MissingDependency(BackupError):
    """Neither the command nor the Python library needed for an option is available."""

    def __init__(self, library, reason, import_error=None):
        msg = "%s is required %s, but it is not available" % (library, reason)
        super(MissingDependency, self).__init__(msg)
        self.library = library
        self.reason = reason
        self.import_error = import_error


class DeadlineExceeded(BackupError):
    """The run took longer than the deadline allows."""

    def __init__(self, seconds, phase):
        super(DeadlineExceeded, self).__init__("deadline of %s s passed during %s" % (_fmt_seconds(seconds), phase))
        self.phase = phase


def _fmt_seconds(seconds):
    return "%g" % seconds


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


# -- names and time -------------------------------------------------------------

def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def iso_utc(when, precise=False):
    """2026-11-28T15:55:49Z (or with milliseconds when precise)."""
    when = when.astimezone(datetime.timezone.utc)
    if precise:
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (when.microsecond // 1000)
    return when.strftime(ISO_SECONDS)


def backup_name(prefix, when, compression):
    """The published file name: <prefix>YYYY-MM-DDTHH-MM-SS.db[.gz|.zst], in UTC."""
    return "%s%s%s" % (prefix, when.astimezone(datetime.timezone.utc).strftime(NAME_TIME_FORMAT), SUFFIXES[compression])


def manifest_path_for(path):
    return path + MANIFEST_SUFFIX


def compression_of(path):
    """The compression a backup file name implies, or None."""
    for compression in ("gzip", "zstd"):
        if path.endswith(SUFFIXES[compression]):
            return compression
    if path.endswith(SUFFIXES["none"]):
        return "none"
    return None


def validate_prefix(prefix):
    if not prefix or "/" in prefix or "\0" in prefix or prefix.startswith("."):
        raise BackupError("prefix %r is not usable: it must be a non-empty file name start without '/' and must not begin with '.'" % (prefix,))


def validate_level(compression, level):
    if compression not in LEVELS:
        return
    low, high = LEVELS[compression]
    if not low <= level <= high:
        raise BackupError("compression_level %r is out of range for compression=%r (%d to %d)" % (level, compression, low, high))


# -- small file helpers -----------------------------------------------------------

def _write_all(fileobj, data):
    """Write all of data; the single place where backup bytes are written."""
    view = memoryview(data)
    while view:
        written = fileobj.write(view)
        if written is None:  # pragma: no cover - raw files in non-blocking mode only
            written = 0
        view = view[written:]


def _fsync_dir(path):
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


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _is_disk_full(exc):
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(exc, sqlite3.DatabaseError) and "disk is full" in str(exc):
        return True
    return False


def _sqlite_uri(path, **params):
    query = "&".join("%s=%s" % item for item in params.items())
    return "file:%s%s" % (quote(os.path.abspath(path), safe="/"), "?" + query if query else "")


def sha256_file(path, deadline=None, phase="checksum"):
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


def cpu_count():
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# -- the source -----------------------------------------------------------------

def check_source(src):
    """Fail unless src is a readable regular file that starts like a SQLite database."""
    try:
        st = os.stat(src)
    except FileNotFoundError:
        raise BackupError("src %r does not exist" % (src,))
    except OSError as exc:
        raise BackupError("src %r cannot be read: %s" % (src, exc))
    if not stat.S_ISREG(st.st_mode):
        raise BackupError("src %r is not a regular file" % (src,))
    try:
        with open(src, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise BackupError("src %r is not readable: %s" % (src, exc))
    if not header:
        raise BackupError("src %r is empty, not a SQLite database (file is not a database)" % (src,))
    if header != SQLITE_HEADER:
        raise BackupError("src %r is not a SQLite database (file is not a database)" % (src,))
    return st


def _explain_open_failure(src, exc):
    """A message for a failed read-only open, naming the WAL side files when they are the cause."""
    directory = os.path.dirname(os.path.abspath(src)) or "."
    shm = src + "-shm"
    text = str(exc)
    if "file is not a database" in text:
        return "src %r is not a SQLite database (file is not a database)" % (src,)
    try:
        wal = is_wal(src)
    except OSError:
        wal = False
    if wal and not os.path.exists(shm) and not os.access(directory, os.W_OK):
        return ("cannot open src %r read-only: %s. The database is in WAL mode, %r does not exist and its directory %r is not writable "
                "by uid %d, so SQLite cannot create it; run the task as the database owner or with become" % (src, text, shm, directory, os.geteuid()))
    if wal and os.path.exists(shm) and not os.access(shm, os.R_OK):
        return ("cannot open src %r read-only: %s. %r is not readable by uid %d; run the task as the database owner or with become"
                % (src, text, shm, os.geteuid()))
    return "cannot open src %r read-only: %s" % (src, text)


def is_wal(src):
    """Whether the database header says WAL mode (file format versions 2)."""
    with open(src, "rb") as handle:
        handle.seek(18)
        return handle.read(2) == b"\x02\x02"


def open_source(src, timeout=30.0, create_files=True):
    """A read-only connection to the live database (it shares the WAL index with the app).

    A read-only connection to a WAL database creates the -wal and -shm files when
    they are missing (no connection is open then) and leaves them behind. With
    create_files=False (check mode) such a quiet database is opened immutable
    instead, which creates nothing; that is only used to read its metadata.
    """
    params = dict(mode="ro")
    if not create_files and is_wal(src) and not os.path.exists(src + "-shm"):
        params["immutable"] = 1
    try:
        conn = sqlite3.connect(_sqlite_uri(src, **params), uri=True, timeout=timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise BackupError(_explain_open_failure(src, exc))
    try:
        conn.execute("PRAGMA schema_version").fetchone()
    except sqlite3.Error as exc:
        conn.close()
        raise BackupError(_explain_open_failure(src, exc))
    return conn


def source_info(conn):
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    page_count = conn.execute("PRAGMA page_count").fetchone()[0]
    user_version = conn.execute("PRAGMA user_version").fetchone()[0]
    return dict(page_size=page_size, page_count=page_count, user_version=user_version)


def snapshot(conn, target, deadline):
    """Copy the database behind conn into the file target with one backup step.

    pages=-1 copies everything in one sqlite3_backup_step() inside one read
    transaction: in WAL mode it does not block the writers, it sees every
    transaction committed before it began (WAL included) and none after.
    Small incremental steps would restart whenever a writer commits, which under
    steady writes means forever. The progress callback runs when SQLite is busy
    and at the end, so the deadline can stop a wait for a lock.

    The target is a private temp file, read back from the page cache and then
    removed: synchronous=OFF spares the fsync that would force the whole copy
    to disk (benchmarks/backup_bench.py: usually about 1 GiB less written per
    1 GiB backup, less disk contention for the live writer). The published
    file is still fsynced before it is renamed into place.
    """
    dst = sqlite3.connect(target, isolation_level=None)
    try:
        dst.execute("PRAGMA synchronous=OFF")
        conn.backup(dst, pages=-1, progress=lambda status, remaining, total: deadline.check("snapshot"))
    finally:
        dst.close()
    deadline.check("snapshot")


# -- checking a database file -----------------------------------------------------

def inspect_database(path, check, deadline, phase="check"):
    """Run the check on a private database file (opened immutable, read-only).

    Returns (info, problems): info holds page_size, page_count, user_version;
    problems is empty when the check said "ok".
    """
    conn = sqlite3.connect(_sqlite_uri(path, mode="ro", immutable=1), uri=True, isolation_level=None)
    interrupted = []

    def progress():
        if deadline.expired():
            interrupted.append(True)
            return 1
        return 0

    conn.set_progress_handler(progress, 10000)
    info = {}
    try:
        try:
            info = dict(
                page_size=conn.execute("PRAGMA page_size").fetchone()[0],
                page_count=conn.execute("PRAGMA page_count").fetchone()[0],
                user_version=conn.execute("PRAGMA user_version").fetchone()[0],
            )
            rows = [row[0] for row in conn.execute("PRAGMA %s" % check)]
        except sqlite3.DatabaseError as exc:
            if interrupted:
                raise DeadlineExceeded(deadline.seconds, phase)
            if "file is not a database" in str(exc):
                return info, ["file is not a database"]
            return info, [str(exc)]
    finally:
        conn.close()
    if rows == ["ok"]:
        return info, []
    shown = rows[:MAX_CHECK_LINES]
    more = len(rows) - len(shown)
    return info, ["%s%s" % ("; ".join(str(r) for r in shown), " (and %d more)" % more if more > 0 else "")]


# -- compression ------------------------------------------------------------------

def zstd_command():
    return shutil.which("zstd")


def require_compression(compression):
    """Fail early (also in check mode) when the compression cannot be done here."""
    if compression == "zstd" and not zstd_command() and zstandard is None:
        raise MissingDependency("zstandard", "for compression=zstd (or install the zstd command)", ZSTANDARD_IMPORT_ERROR)


def _gzip_member(data, level):
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


def gzip_parallel(src_path, out, level, deadline, workers=None, chunk_size=CHUNK_SIZE):
    """Write src_path to out as concatenated gzip members compressed on every core.

    zlib releases the GIL while it compresses, so threads use all cores. Each
    chunk becomes one complete gzip member; members are written in order, and
    gunzip (and Python's gzip) read concatenated members as one stream.
    """
    workers = workers or cpu_count()
    pending = collections.deque()
    wrote = False
    with open(src_path, "rb") as handle, ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            while True:
                chunk = handle.read(chunk_size)
                if not chunk:
                    break
                pending.append(pool.submit(_gzip_member, chunk, level))
                if len(pending) >= 2 * workers:
                    _write_all(out, pending.popleft().result())
                    wrote = True
                    deadline.check("compress")
            while pending:
                _write_all(out, pending.popleft().result())
                wrote = True
                deadline.check("compress")
            if not wrote:
                _write_all(out, _gzip_member(b"", level))
        finally:
            for future in pending:
                future.cancel()


def zstd_compress(src_path, out, level, deadline):
    """Compress with the zstd command on every core (-T0), else the zstandard library."""
    command = zstd_command()
    if command:
        _run_filter([command, "-T0", "-%d" % level, "-q", "-c", src_path], out, deadline, "compress")
        return
    if zstandard is None:
        raise MissingDependency("zstandard", "for compression=zstd (or install the zstd command)", ZSTANDARD_IMPORT_ERROR)
    compressor = zstandard.ZstdCompressor(level=level, threads=-1).compressobj()
    with open(src_path, "rb") as handle:
        while True:
            chunk = handle.read(CHUNK_SIZE)
            if not chunk:
                break
            _write_all(out, compressor.compress(chunk))
            deadline.check("compress")
    _write_all(out, compressor.flush())


def copy_plain(src_path, out, deadline, phase="compress"):
    with open(src_path, "rb") as handle:
        while True:
            chunk = handle.read(CHUNK_SIZE)
            if not chunk:
                break
            _write_all(out, chunk)
            deadline.check(phase)


def _run_filter(argv, out, deadline, phase):
    """Run argv with stdout going to the file out; errors raise OSError or BackupError."""
    out.flush()
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out.fileno(), stderr=errors)
        try:
            returncode = proc.wait(timeout=deadline.remaining() if deadline.seconds else None)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise DeadlineExceeded(deadline.seconds, phase)
        if returncode != 0:
            errors.seek(0)
            text = errors.read().decode("utf-8", "replace").strip()
            if "No space left" in text or "Disk quota" in text:
                raise OSError(errno.ENOSPC, "%s failed: %s" % (os.path.basename(argv[0]), text))
            raise BackupError("%s failed with exit code %d: %s" % (" ".join(argv), returncode, text))
    deadline.check(phase)


def compress(compression, src_path, out, level, deadline):
    if compression == "gzip":
        gzip_parallel(src_path, out, level, deadline)
    elif compression == "zstd":
        zstd_compress(src_path, out, level, deadline)
    else:
        copy_plain(src_path, out, deadline)


def decompress(compression, src_path, out, deadline):
    """Decompress src_path into the file out; raises ValueError naming the problem."""
    if compression == "gzip":
        try:
            with gzip.open(src_path, "rb") as handle:
                while True:
                    chunk = handle.read(CHUNK_SIZE)
                    if not chunk:
                        break
                    _write_all(out, chunk)
                    deadline.check("decompress")
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise ValueError("%s: %s" % (type(exc).__name__, exc))
        except OSError as exc:
            if _is_disk_full(exc):
                raise
            raise ValueError(str(exc))
    elif compression == "zstd":
        command = zstd_command()
        if command:
            try:
                _run_filter([command, "-d", "-q", "-c", src_path], out, deadline, "decompress")
            except BackupError as exc:
                if isinstance(exc, DeadlineExceeded):
                    raise
                raise ValueError(exc.msg)
            return
        if zstandard is None:
            raise MissingDependency("zstandard", "to verify a zstd backup (or install the zstd command)", ZSTANDARD_IMPORT_ERROR)
        try:
            with open(src_path, "rb") as handle:
                reader = zstandard.ZstdDecompressor().stream_reader(handle)
                while True:
                    chunk = reader.read(CHUNK_SIZE)
                    if not chunk:
                        break
                    _write_all(out, chunk)
                    deadline.check("decompress")
        except zstandard.ZstdError as exc:
            raise ValueError(str(exc))
    else:
        copy_plain(src_path, out, deadline, "decompress")


# -- publishing -----------------------------------------------------------------

def check_dest(dest, create_dest):
    """Return True when dest would have to be created; fail when it is unusable."""
    if os.path.isdir(dest):
        if not os.access(dest, os.W_OK | os.X_OK):
            raise BackupError("dest %r is not writable by uid %d" % (dest, os.geteuid()))
        return False
    if os.path.exists(dest):
        raise BackupError("dest %r exists but is not a directory" % (dest,))
    if not create_dest:
        raise BackupError("dest %r does not exist (set create_dest=true to create it)" % (dest,))
    parent = os.path.dirname(os.path.abspath(dest))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise BackupError("dest %r cannot be created: %r is not a writable directory" % (dest, parent))
    return True


def default_attributes(mode):
    """An attribute setter without Ansible: numeric modes only."""

    def apply(path, kind):
        if kind == "file" and mode is not None:
            os.chmod(path, int(mode, 8) if isinstance(mode, str) else mode)

    return apply


class _Job:
    """State shared by the phases of one backup: temp files, phase, deadline."""

    def __init__(self, deadline):
        self.deadline = deadline
        self.phase = "start"
        self.temps = []
        self.locks = {}

    def enter(self, phase):
        self.deadline.check(self.phase if self.phase != "start" else phase)
        self.phase = phase

    def temp(self, directory, name, kind):
        """A new empty 0600 file .<name>.<kind>-<random> in directory, locked while the run lives.

        The flock on it tells a later run that the file is in use; when the run is
        killed the lock goes with it and the file is a leftover (remove_stale_temps).
        """
        fd, path = tempfile.mkstemp(dir=directory, prefix=".%s.%s-" % (name, kind))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pass  # a file system without flock: the age rule still protects it
        self.locks[path] = fd
        self.temps.append(path)
        return path

    def _unlock(self, path):
        fd = self.locks.pop(path, None)
        if fd is not None:
            os.close(fd)

    def forget(self, path):
        self.temps.remove(path)
        self._unlock(path)

    def cleanup(self):
        for path in self.temps:
            for extra in ("", "-wal", "-shm", "-journal"):
                _remove(path + extra)
            self._unlock(path)
        self.temps = []
        for path in list(self.locks):
            self._unlock(path)


def _in_use(path):
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
    only when they are regular files, not locked by a running backup and older
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
        elif _in_use(path):
            continue
        removed.append(path)
        if not check_mode:
            _remove(path)
            if not match.group("extra"):
                for extra in ("-wal", "-shm", "-journal"):
                    side = path + extra
                    if os.path.lexists(side):
                        removed.append(side)
                        _remove(side)
    return removed


def _write_file(path, writer, fix_attributes):
    """Open path (a fresh temp), let writer fill it, fsync, apply mode/owner."""
    with open(path, "wb") as out:
        writer(out)
        out.flush()
        os.fsync(out.fileno())
    fix_attributes(path, "file")


def take_backup(src, dest, prefix=DEFAULT_PREFIX, compression="gzip", compression_level=6, check="quick_check",
                create_dest=False, deadline=0, tmpdir=None, check_mode=False, mode="0600", fix_attributes=None,
                now=utcnow, clock=time.monotonic):
    """Back up the SQLite database src into the directory dest; return the result dict.

    fix_attributes(path, kind) applies mode/owner/group to a temp file before it
    is published (kind "file") and to a created dest (kind "dir"); without it
    only a numeric mode is applied.
    """
    fix_attributes = fix_attributes or default_attributes(mode)
    check = check or "quick_check"
    if check not in CHECKS:
        raise BackupError("check %r is not one of %s" % (check, ", ".join(CHECKS)))
    if compression not in SUFFIXES:
        raise BackupError("compression %r is not one of %s" % (compression, ", ".join(SUFFIXES)))
    validate_prefix(prefix)
    validate_level(compression, compression_level)
    timer = Deadline(deadline, clock)
    job = _Job(timer)
    started = now()
    name = backup_name(prefix, started, compression)
    final = os.path.join(dest, name)
    manifest_final = manifest_path_for(final)

    # Preflight, the same in check mode: the source, the destination, the tools.
    job.enter("preflight")
    check_source(src)
    would_create = check_dest(dest, create_dest)
    if tmpdir is not None and not os.path.isdir(tmpdir):
        raise BackupError("tmpdir %r is not a directory" % (tmpdir,))
    require_compression(compression)
    if os.path.lexists(final) or os.path.lexists(manifest_final):
        raise BackupError("a backup named %r already exists in %r; refusing to overwrite it" % (name, dest))
    # Leftovers of killed runs (a kill -9 skips every cleanup) would pile up, each as big as the database.
    removed_temps = []
    for directory in collections.OrderedDict((os.path.realpath(d), d) for d in (dest, tmpdir) if d is not None).values():
        removed_temps += remove_stale_temps(directory, prefix, check_mode=check_mode)
    conn = open_source(src, timeout=_busy_timeout(timer), create_files=not check_mode)
    result = dict(changed=True, src=src, path=final, manifest_path=manifest_final, compression=compression, check=check, created=iso_utc(started),
                  removed_temps=removed_temps)
    try:
        info = source_info(conn)
        if check_mode:
            conn.close()
            estimate = info["page_size"] * info["page_count"]
            result.update(size=None, db_size=estimate, sha256=None, duration_s=None, throughput_mib_s=None,
                          page_size=info["page_size"], page_count=info["page_count"], user_version=info["user_version"])
            result["diff"] = _diff(final, manifest_final, None, estimate, would_create, dest)
            return result

        if would_create:
            os.makedirs(dest, 0o700)
            os.chmod(dest, 0o700)
            fix_attributes(dest, "dir")
        work_dir = tmpdir or dest
        try:
            # 1. the snapshot: a private, uncompressed temp file.
            job.enter("snapshot")
            snap = job.temp(work_dir, name, "snapshot")
            snapshot(conn, snap, timer)
            conn.close()

            # 2. check the copy before anything is published.
            job.enter("check")
            db_info, problems = inspect_database(snap, check, timer)
            if problems:
                raise BackupError("%s of the snapshot of src %r failed, the source database is corrupt; no backup was written: %s"
                                  % (check, src, "; ".join(problems)))
            db_size = os.path.getsize(snap)

            # 3. compress into a dot-prefixed temp file in dest.
            job.enter("compress")
            tmp_out = job.temp(dest, name, "tmp")
            _write_file(tmp_out, lambda out: compress(compression, snap, out, compression_level, timer), fix_attributes)
            job.enter("checksum")
            digest = sha256_file(tmp_out, timer)
            size = os.path.getsize(tmp_out)

            # 4. the manifest, also a temp file until published.
            job.enter("manifest")
            finished = now()
            duration = max(timer.elapsed(), 1e-6)
            manifest = collections.OrderedDict([
                ("format", MANIFEST_FORMAT),
                ("backup", name),
                ("source", src),
                ("created", iso_utc(started)),
                ("compression", compression),
                ("size", size),
                ("db_size", db_size),
                ("page_size", db_info["page_size"]),
                ("page_count", db_info["page_count"]),
                ("user_version", db_info["user_version"]),
                ("sqlite_version", sqlite3.sqlite_version),
                ("sha256", digest),
                ("check", check),
                ("check_result", "ok"),
                ("started", iso_utc(started, precise=True)),
                ("finished", iso_utc(finished, precise=True)),
                ("duration_s", round(duration, 3)),
            ])
            tmp_manifest = job.temp(dest, name + MANIFEST_SUFFIX, "tmp")
            text = (json.dumps(manifest, indent=2) + "\n").encode("utf-8")
            _write_file(tmp_manifest, lambda out: _write_all(out, text), fix_attributes)

            # 5. publish: the backup first, then its manifest, then the directory entry.
            job.enter("publish")
            if os.path.lexists(final) or os.path.lexists(manifest_final):
                raise BackupError("a backup named %r already exists in %r; refusing to overwrite it" % (name, dest))
            os.rename(tmp_out, final)
            job.forget(tmp_out)
            job.temps.append(final)
            os.rename(tmp_manifest, manifest_final)
            job.forget(tmp_manifest)
            job.forget(final)
            _fsync_dir(dest)
        except BaseException as exc:
            job.cleanup()
            if isinstance(exc, (OSError, sqlite3.Error)) and _is_disk_full(exc):
                where = work_dir if job.phase == "snapshot" else dest
                raise BackupError("disk full on %r during %s: %s; temporary files were removed, no backup was written and existing backups "
                                  "were not touched" % (where, job.phase, exc))
            if isinstance(exc, sqlite3.Error) and job.phase == "snapshot":
                raise BackupError("cannot read src %r during snapshot: %s; no backup was written" % (src, exc))
            raise
        job.cleanup()  # the snapshot
    finally:
        conn.close()

    result.update(size=size, db_size=db_size, sha256=digest, duration_s=manifest["duration_s"],
                  throughput_mib_s=round(db_size / MIB / duration, 2), page_size=db_info["page_size"],
                  page_count=db_info["page_count"], user_version=db_info["user_version"], manifest=dict(manifest))
    result["diff"] = _diff(final, manifest_final, size, db_size, would_create, dest)
    return result


def _busy_timeout(timer):
    remaining = timer.remaining()
    return 30.0 if remaining is None else max(min(remaining, 30.0), 0.1)


def _diff(final, manifest_final, size, db_size, would_create, dest):
    before = dict(path=final, state="absent")
    after = dict(path=final, state="file", manifest_path=manifest_final, db_size=db_size)
    if size is not None:
        after["size"] = size
    if would_create:
        before["dest"] = "absent"
        after["dest"] = dest
    return dict(before=before, after=after)


# -- verification ---------------------------------------------------------------

def verify_backup(path, check="integrity_check", tmpdir=None, deadline=0, clock=time.monotonic, plain=None):
    """Verify a published backup; never changes anything. Returns the result dict (ok, problems).

    The backup is decompressed into a temporary file in tmpdir that is removed
    afterwards. With plain (an existing file that the caller owns), it is
    decompressed into that file instead and the file is left to the caller:
    when the result is ok, it holds the checked database (sqlite_restore puts
    it in place).
    """
    check = check or "integrity_check"
    if check not in CHECKS:
        raise BackupError("check %r is not one of %s" % (check, ", ".join(CHECKS)))
    timer = Deadline(deadline, clock)
    manifest_path = manifest_path_for(path)
    compression = compression_of(path)
    result = dict(changed=False, ok=False, problems=[], path=path, manifest_path=manifest_path, compression=compression, check=check,
                  size=None, sha256=None, db_size=None, page_count=None, page_size=None, user_version=None, manifest=None)
    problems = result["problems"]
    if not os.path.isfile(path):
        problems.append("backup %r does not exist" % (path,) if not os.path.lexists(path) else "backup %r is not a regular file" % (path,))
        raise BackupError("backup %r failed verification: %s" % (path, problems[0]), result)

    # 1. the manifest
    manifest = None
    try:
        with open(manifest_path, "rb") as handle:
            manifest = json.loads(handle.read().decode("utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        problems.append("manifest %r is missing" % (manifest_path,))
        manifest = None
    except (OSError, ValueError) as exc:
        problems.append("manifest %r is not readable JSON: %s" % (manifest_path, exc))
        manifest = None
    result["manifest"] = manifest
    if manifest is not None:
        if manifest.get("backup") != os.path.basename(path):
            problems.append("manifest %r describes %r, not %r" % (manifest_path, manifest.get("backup"), os.path.basename(path)))
        if manifest.get("check_result") != "ok":
            problems.append("manifest %r records check_result %r" % (manifest_path, manifest.get("check_result")))
        if manifest.get("compression") not in (None, compression):
            problems.append("manifest %r says compression %r but the file name says %r" % (manifest_path, manifest.get("compression"), compression))
        compression = compression or manifest.get("compression")
        result["compression"] = compression

    # 2. size and checksum
    size = result["size"] = os.path.getsize(path)
    digest = result["sha256"] = sha256_file(path, timer, "checksum")
    if manifest is not None:
        if manifest.get("size") is not None and manifest.get("size") != size:
            problems.append("size mismatch: %r has %d bytes but the manifest says %r" % (path, size, manifest.get("size")))
        if manifest.get("sha256") != digest:
            problems.append("checksum mismatch: sha256 of %r is %s but the manifest says %r" % (path, digest, manifest.get("sha256")))

    # 3. decompress to a temporary file and check the database in it
    if compression not in SUFFIXES:
        problems.append("cannot tell the compression of %r from its name (expected %s)" % (path, ", ".join(SUFFIXES.values())))
    else:
        keep_plain = plain is not None
        if not keep_plain:
            fd, plain = tempfile.mkstemp(dir=tmpdir, prefix=".sqlite_backup_verify-", suffix=".db")
            os.close(fd)
        try:
            try:
                with open(plain, "wb") as out:
                    decompress(compression, path, out, timer)
            except ValueError as exc:
                problems.append("cannot decompress %r (%s): %s" % (path, compression, exc))
            else:
                timer.check("decompress")
                result["db_size"] = os.path.getsize(plain)
                with open(plain, "rb") as handle:
                    header = handle.read(len(SQLITE_HEADER))
                if header != SQLITE_HEADER:
                    problems.append("%r does not hold a SQLite database (file is not a database)" % (path,))
                else:
                    info, check_problems = inspect_database(plain, check, timer)
                    result.update(info)
                    for problem in check_problems:
                        if problem == "file is not a database":
                            problems.append("%r does not hold a SQLite database (file is not a database)" % (path,))
                        else:
                            problems.append("%s of %r failed: %s" % (check, path, problem))
                    if manifest is not None and not check_problems:
                        for key in ("db_size", "page_count", "user_version"):
                            if key in manifest and manifest[key] != result.get(key):
                                problems.append("%s mismatch: the backup has %r but the manifest says %r" % (key, result.get(key), manifest[key]))
        except OSError as exc:
            if _is_disk_full(exc):
                raise BackupError("disk full on %r while decompressing %r for verification: %s" % (os.path.dirname(plain), path, exc), result)
            raise
        finally:
            for extra in ("", "-wal", "-shm", "-journal") if not keep_plain else ("-wal", "-shm", "-journal"):
                _remove(plain + extra)

    result["ok"] = not problems
    return result
