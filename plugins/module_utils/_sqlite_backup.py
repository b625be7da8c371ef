# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils file is private to the milos_shop.ops collection; it may change
# or go away without notice. Do not use it from other collections.

"""Consistent online backups of a live SQLite database, and their verification.

The logic behind the milos_shop.ops.sqlite_backup module. It does not import
Ansible, so it can be unit-tested (and used) on its own:

- take_backup(): snapshot the database with the SQLite online backup API from a
  separate read-only connection, check the snapshot, compress it (in parallel),
  optionally verify the compressed file, publish it atomically with a JSON
  manifest beside it. Runs into one directory take turns on a directory lock.
- verify_backup(): check a published backup against its manifest, decompress it
  to a temporary file and run an integrity check on it. Changes nothing.

The files, compression, SQLite and manifest parts live in _files, _compression,
_sqlite and _manifest; this file keeps the backup's own steps. Expected
failures raise BackupError with a message meant for the operator.
"""

from __future__ import annotations

import collections
import datetime
import os
import sqlite3
import stat
import tempfile
import time

from ansible_collections.milos_shop.ops.plugins.module_utils._compression import (
    LEVELS,
    SUFFIXES,
    compress,
    compression_of,
    cpu_count,
    decompress,
    gzip_parallel,
    require_compression,
    validate_level,
    zstandard,
    zstd_command,
    zstd_compress,
)
from ansible_collections.milos_shop.ops.plugins.module_utils._files import (
    CHUNK_SIZE,
    Deadline,
    DeadlineExceeded,
    DirectoryLock,
    MissingDependency,
    OpsError,
    TempFiles,
    remove,
    remove_stale_temps,
    resolve_gid,
    resolve_uid,
    write_file,
)
from ansible_collections.milos_shop.ops.plugins.module_utils._manifest import (
    MANIFEST_FORMAT,
    MANIFEST_SUFFIX,
    ManifestError,
    iso_utc,
    manifest_path_for,
    publish_backup,
    read_manifest,
    sha256_file,
    write_manifest,
)
from ansible_collections.milos_shop.ops.plugins.module_utils._sqlite import (
    CHECKS,
    SQLITE_HEADER,
    database_info,
    inspect_database,
    is_disk_full,
    open_source as _open_source,
)

__all__ = [
    "BackupError", "CHECKS", "CHUNK_SIZE", "DEFAULT_PREFIX", "Deadline", "DeadlineExceeded", "LEVELS", "MANIFEST_FORMAT",
    "MANIFEST_SUFFIX", "MissingDependency", "SQLITE_HEADER", "SUFFIXES", "VERIFY_CHOICES", "backup_name", "check_dest",
    "check_source", "compression_of", "cpu_count", "decompress", "gzip_parallel", "inspect_database", "iso_utc",
    "manifest_path_for", "open_source", "remove_stale_temps", "require_compression", "sha256_file", "snapshot",
    "source_info", "take_backup", "utcnow", "validate_level", "validate_prefix", "verify_backup", "zstandard",
    "zstd_command", "zstd_compress",
]

# The expected failure of the data modules (one class: sqlite_restore's RestoreError derives from it).
BackupError = OpsError

DEFAULT_PREFIX = "milos_shop_backup_"
VERIFY_CHOICES = ("none",) + CHECKS
NAME_TIME_FORMAT = "%Y-%m-%dT%H-%M-%S"
MIB = 1024 * 1024
DEFAULT_DIR_MODE = 0o700
# How often a run whose second-resolution name is taken waits for the next second.
NAME_RETRIES = 3


# -- names and time -------------------------------------------------------------

def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def backup_name(prefix, when, compression):
    """The published file name: <prefix>YYYY-MM-DDTHH-MM-SS.db[.gz|.zst], in UTC."""
    return "%s%s%s" % (prefix, when.astimezone(datetime.timezone.utc).strftime(NAME_TIME_FORMAT), SUFFIXES[compression])


def validate_prefix(prefix):
    if not prefix or "/" in prefix or "\0" in prefix or prefix.startswith("."):
        raise BackupError("prefix %r is not usable: it must be a non-empty file name start without '/' and must not begin with '.'" % (prefix,))


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


def open_source(src, timeout=30.0, create_files=True):
    """A read-only connection to the live database; see _sqlite.open_source."""
    return _open_source(src, timeout=timeout, create_files=create_files, error=BackupError)


def source_info(conn):
    return database_info(conn)


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


# -- the destination ----------------------------------------------------------------

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


def _parse_dir_mode(dir_mode):
    if isinstance(dir_mode, int) and not isinstance(dir_mode, bool):
        return dir_mode
    text = str(dir_mode)
    try:
        value = int(text, 8)
    except ValueError:
        raise BackupError("dir_mode %r is not an octal mode such as '0700'" % (dir_mode,))
    if not 0 <= value <= 0o7777 or len(text.lstrip("0")) > 4:
        raise BackupError("dir_mode %r is not an octal mode such as '0700'" % (dir_mode,))
    return value


def default_attributes(mode):
    """An attribute setter without Ansible: numeric modes only."""

    def apply(path, kind):
        if kind == "file" and mode is not None:
            os.chmod(path, int(mode, 8) if isinstance(mode, str) else mode)

    return apply


class _Job(TempFiles):
    """State shared by the phases of one backup: temp files, phase, deadline."""

    def __init__(self, deadline):
        super(_Job, self).__init__()
        self.deadline = deadline
        self.phase = "start"

    def enter(self, phase):
        self.deadline.check(self.phase if self.phase != "start" else phase)
        self.phase = phase

    def temp(self, directory, name, kind):
        """A new empty 0600 file .<name>.<kind>-<random> in directory, locked while the run lives."""
        return self.new(directory, name, kind)


def _busy_timeout(timer):
    remaining = timer.remaining()
    return 30.0 if remaining is None else max(min(remaining, 30.0), 0.1)


def _diff(final, manifest_final, size, db_size, would_create, dest, dest_attributes=None):
    before = dict(path=final, state="absent")
    after = dict(path=final, state="file", manifest_path=manifest_final, db_size=db_size)
    if size is not None:
        after["size"] = size
    if would_create:
        before["dest"] = "absent"
        after["dest"] = dest
        if dest_attributes:
            after["dest_attributes"] = dest_attributes
    return dict(before=before, after=after)


def _free_name(prefix, compression, dest, now, sleep, timer):
    """(started, name) for a name not taken in dest; waits for the next second when this one is taken.

    Names have one-second resolution. The runs into one directory hold its lock
    in turn, so a name is only taken by a run that finished within the same
    second: waiting for the next second gives every run its own name, in the
    form retention_prune and backup_status already read. A clock that does not
    move (tests) or a deadline that would pass ends the wait with an error.
    """
    started = now()
    for attempt in range(NAME_RETRIES + 1):
        name = backup_name(prefix, started, compression)
        final = os.path.join(dest, name)
        if not (os.path.lexists(final) or os.path.lexists(manifest_path_for(final))):
            return started, name
        remaining = timer.remaining()
        wait = 1.0 - started.microsecond / 1e6 + 0.01
        if attempt == NAME_RETRIES or (remaining is not None and remaining < wait):
            break
        sleep(wait)
        later = now()
        if backup_name(prefix, later, compression) == name:
            break
        started = later
    raise BackupError("a backup named %r already exists in %r; refusing to overwrite it" % (name, dest))


def take_backup(src, dest, prefix=DEFAULT_PREFIX, compression="gzip", compression_level=6, check="quick_check",
                create_dest=False, deadline=0, tmpdir=None, check_mode=False, mode="0600", fix_attributes=None,
                now=utcnow, clock=time.monotonic, verify="none", dir_mode=DEFAULT_DIR_MODE, sleep=time.sleep,
                dest_attributes=None):
    """Back up the SQLite database src into the directory dest; return the result dict.

    fix_attributes(path, kind) applies mode/owner/group to a temp file before it
    is published (kind "file") and owner/group to a created dest (kind "dir");
    without it only a numeric mode is applied. A created dest gets dir_mode.

    verify (none, quick_check, integrity_check) verifies the compressed file
    before it is published: it is decompressed into a temporary file, checked,
    and its size, pages and user_version compared with the snapshot's; its
    sha256 is the one the manifest records (hashed once, the file is renamed,
    not copied). A backup that fails is not published.

    Runs into one dest take turns on its directory lock (waiting up to the
    deadline); each publishes under its own name (see _free_name).
    """
    fix_attributes = fix_attributes or default_attributes(mode)
    check = check or "quick_check"
    verify = verify or "none"
    if check not in CHECKS:
        raise BackupError("check %r is not one of %s" % (check, ", ".join(CHECKS)))
    if verify not in VERIFY_CHOICES:
        raise BackupError("verify %r is not one of %s" % (verify, ", ".join(VERIFY_CHOICES)))
    if compression not in SUFFIXES:
        raise BackupError("compression %r is not one of %s" % (compression, ", ".join(SUFFIXES)))
    dir_mode = _parse_dir_mode(dir_mode)
    if check_mode:
        # A real run fails where the owner or group is applied (the module's message); check mode says it first.
        for key, resolve in (("owner", resolve_uid), ("group", resolve_gid)):
            if (dest_attributes or {}).get(key) is not None:
                resolve(dest_attributes[key], error=BackupError)
    validate_prefix(prefix)
    validate_level(compression, compression_level, BackupError)
    timer = Deadline(deadline, clock)
    job = _Job(timer)

    # Preflight, the same in check mode: the source, the destination, the tools.
    job.enter("preflight")
    check_source(src)
    would_create = check_dest(dest, create_dest)
    if tmpdir is not None and not os.path.isdir(tmpdir):
        raise BackupError("tmpdir %r is not a directory" % (tmpdir,))
    require_compression(compression)

    lock = DirectoryLock(dest)
    try:
        if not check_mode:
            if would_create:
                os.makedirs(dest, dir_mode)
                os.chmod(dest, dir_mode)
                fix_attributes(dest, "dir")
            # The runs into one directory take turns: waiting here is bounded by the deadline.
            job.enter("lock")
            lock.acquire(timer if timer.seconds else None, "the wait for the lock on dest %r (another backup into it is running)" % (dest,))
        if check_mode:
            started = now()
            name = backup_name(prefix, started, compression)
            if os.path.lexists(os.path.join(dest, name)) or os.path.lexists(manifest_path_for(os.path.join(dest, name))):
                raise BackupError("a backup named %r already exists in %r; refusing to overwrite it" % (name, dest))
        else:
            started, name = _free_name(prefix, compression, dest, now, sleep, timer)
        return _take(src, dest, name, started, compression, compression_level, check, verify, tmpdir, check_mode, fix_attributes,
                     now, timer, job, would_create, dir_mode, prefix, dest_attributes, lock)
    finally:
        lock.release()


def _take(src, dest, name, started, compression, compression_level, check, verify, tmpdir, check_mode, fix_attributes,
          now, timer, job, would_create, dir_mode, prefix, dest_attributes, lock):
    final = os.path.join(dest, name)
    manifest_final = manifest_path_for(final)
    # Leftovers of killed runs (a kill -9 skips every cleanup) would pile up, each as big as the database.
    removed_temps = []
    for directory in collections.OrderedDict((os.path.realpath(d), d) for d in (dest, tmpdir) if d is not None).values():
        removed_temps += remove_stale_temps(directory, prefix, check_mode=check_mode)
    conn = open_source(src, timeout=_busy_timeout(timer), create_files=not check_mode)
    planned_dir = dict(dest_attributes or {}, mode="%04o" % dir_mode) if would_create else None
    result = dict(changed=True, src=src, path=final, manifest_path=manifest_final, compression=compression, check=check,
                  created=iso_utc(started), removed_temps=removed_temps, verify=verify, verified=False, verify_problems=[],
                  dest_created=would_create, lock_wait_s=round(lock.waited_s, 3))
    try:
        info = source_info(conn)
        if check_mode:
            conn.close()
            estimate = info["page_size"] * info["page_count"]
            result.update(size=None, db_size=estimate, sha256=None, duration_s=None, throughput_mib_s=None,
                          page_size=info["page_size"], page_count=info["page_count"], user_version=info["user_version"],
                          verified=None)
            result["diff"] = _diff(final, manifest_final, None, estimate, would_create, dest, planned_dir)
            return result

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
            write_file(tmp_out, lambda out: compress(compression, snap, out, compression_level, timer), fix_attributes)
            job.forget(snap)
            for extra in ("", "-wal", "-shm", "-journal"):
                remove(snap + extra)
            job.enter("checksum")
            digest = sha256_file(tmp_out, timer)
            size = os.path.getsize(tmp_out)

            # 4. optionally verify the very file that will be published.
            if verify != "none":
                job.enter("verify")
                plain = job.temp(work_dir, name, "snapshot")
                verification = _check_compressed(tmp_out, compression, verify, timer, plain)
                job.forget(plain)
                for extra in ("", "-wal", "-shm", "-journal"):
                    remove(plain + extra)
                problems = verification["problems"]
                for key in ("page_count", "user_version"):
                    if not problems and verification.get(key) != db_info[key]:
                        problems.append("%s mismatch: the compressed backup holds %r but the snapshot had %r"
                                        % (key, verification.get(key), db_info[key]))
                if not problems and verification.get("db_size") != db_size:
                    problems.append("db_size mismatch: the compressed backup holds %r bytes but the snapshot had %r"
                                    % (verification.get("db_size"), db_size))
                if problems:
                    result["verify_problems"] = problems
                    raise BackupError("%s of the compressed backup of src %r failed; no backup was written: %s"
                                      % (verify, src, "; ".join(problems)), dict(verify_problems=problems))

            # 5. the manifest, also a temp file until published.
            job.enter("manifest")
            finished = now()
            duration = max(timer.elapsed(), 1e-6)
            fields = [
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
            ]
            if verify != "none":
                fields += [("verify", verify), ("verify_result", "ok")]
            fields += [
                ("started", iso_utc(started, precise=True)),
                ("finished", iso_utc(finished, precise=True)),
                ("duration_s", round(duration, 3)),
            ]
            tmp_manifest, manifest = write_manifest(final, fields, temps=job, fix_attributes=fix_attributes, publish=False)

            # 6. publish: the backup first, then its manifest, never over an existing file.
            job.enter("publish")
            try:
                publish_backup(tmp_out, final, tmp_manifest, temps=job)
            except FileExistsError:
                raise BackupError("a backup named %r already exists in %r; refusing to overwrite it" % (name, dest))
        except BaseException as exc:
            job.cleanup()
            if isinstance(exc, (OSError, sqlite3.Error)) and is_disk_full(exc):
                where = work_dir if job.phase in ("snapshot", "verify") else dest
                raise BackupError("disk full on %r during %s: %s; temporary files were removed, no backup was written and existing backups "
                                  "were not touched" % (where, job.phase, exc))
            if isinstance(exc, sqlite3.Error) and job.phase == "snapshot":
                raise BackupError("cannot read src %r during snapshot: %s; no backup was written" % (src, exc))
            raise
        job.cleanup()
    finally:
        conn.close()

    result.update(size=size, db_size=db_size, sha256=digest, duration_s=manifest["duration_s"],
                  throughput_mib_s=round(db_size / MIB / duration, 2), page_size=db_info["page_size"],
                  page_count=db_info["page_count"], user_version=db_info["user_version"], manifest=dict(manifest),
                  verified=verify != "none")
    result["diff"] = _diff(final, manifest_final, size, db_size, would_create, dest, planned_dir)
    return result


# -- verification ---------------------------------------------------------------

def _check_compressed(path, compression, check, timer, plain):
    """Decompress path into the existing file plain and run the check on it.

    Returns dict(problems, db_size, page_size, page_count, user_version); the
    problems name path. OSError (a full disk) goes to the caller.
    """
    found = dict(problems=[], db_size=None)
    problems = found["problems"]
    try:
        with open(plain, "wb") as out:
            decompress(compression, path, out, timer)
    except ValueError as exc:
        problems.append("cannot decompress %r (%s): %s" % (path, compression, exc))
        return found
    timer.check("decompress")
    found["db_size"] = os.path.getsize(plain)
    with open(plain, "rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        problems.append("%r does not hold a SQLite database (file is not a database)" % (path,))
        return found
    info, check_problems = inspect_database(plain, check, timer)
    found.update(info)
    for problem in check_problems:
        if problem == "file is not a database":
            problems.append("%r does not hold a SQLite database (file is not a database)" % (path,))
        else:
            problems.append("%s of %r failed: %s" % (check, path, problem))
    found["checked"] = not check_problems
    return found


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
    try:
        manifest = read_manifest(path)
    except ManifestError as exc:
        problems.append(str(exc))
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
            found = _check_compressed(path, compression, check, timer, plain)
            problems.extend(found.pop("problems"))
            checked = found.pop("checked", False)
            result.update(found)
            if manifest is not None and checked:
                for key in ("db_size", "page_count", "user_version"):
                    if key in manifest and manifest[key] != result.get(key):
                        problems.append("%s mismatch: the backup has %r but the manifest says %r" % (key, result.get(key), manifest[key]))
        except OSError as exc:
            if is_disk_full(exc):
                raise BackupError("disk full on %r while decompressing %r for verification: %s" % (os.path.dirname(plain), path, exc), result)
            raise
        finally:
            for extra in ("", "-wal", "-shm", "-journal") if not keep_plain else ("-wal", "-shm", "-journal"):
                remove(plain + extra)

    result["ok"] = not problems
    return result
