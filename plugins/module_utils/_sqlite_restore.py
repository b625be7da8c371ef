# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils file is private to the milos_shop.ops collection; it may change
# or go away without notice. Do not use it from other collections.

"""Put a verified SQLite backup in place of a stopped database, and the files around that.

The logic behind the milos_shop.ops.sqlite_restore module. It does not import
Ansible, so it can be unit-tested (and used) on its own:

- restore_backup(): verify a published backup against its manifest while
  decompressing it into a temporary file beside the database, fsync it, check
  it, remove the stale -wal/-shm/-journal files, rename it over the database,
  fsync the directory. The database is not touched unless all checks passed.
- save_copy(): copy a stopped database and its -wal/-shm/-journal files byte
  for byte (even a corrupt one) to a pre-restore copy, published atomically.
- revert_copy(): put such a copy back in place of the database.
- check_database(): PRAGMA integrity_check (or quick_check) of a database,
  also a live one, from a read-only connection.

Decompression and verification are those of _sqlite_backup (verify_backup, its
public entry point); files, SQLite and manifest helpers come from _files,
_sqlite and _manifest.
Expected failures raise RestoreError with a message meant for the operator.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import tempfile

from ansible_collections.milos_shop.ops.plugins.module_utils import _files
from ansible_collections.milos_shop.ops.plugins.module_utils._files import (
    MissingDependency,
    OpsError,
    attributes_of as _attributes_of,
    fmt_mode as _fmt_mode,
    free_bytes as _free_bytes_of,
    fsync_dir as _fsync_dir,
    fsync_file as _fsync_file,
    remove as _remove,
)
from ansible_collections.milos_shop.ops.plugins.module_utils._manifest import (
    MANIFEST_SUFFIX,
    ManifestError,
    read_manifest,
    sha256_file,
)
from ansible_collections.milos_shop.ops.plugins.module_utils._sqlite import (
    CHECKS,
    SIDE_SUFFIXES,
    SQLITE_HEADER,
    header_info,
    in_use,
    is_disk_full as _is_disk_full,
    open_source,
    run_check,
    side_files,
    summarize_check,
)
from ansible_collections.milos_shop.ops.plugins.module_utils._sqlite_backup import verify_backup

__all__ = ["RestoreError", "check_database", "header_info", "in_use", "parse_mode", "resolve_gid", "resolve_uid", "restore_backup",
           "revert_copy", "save_copy", "side_files", "target_attributes"]

DEFAULT_NEW_MODE = 0o640
DEFAULT_COPY_MODE = 0o600


class RestoreError(OpsError):
    """An expected failure; msg is meant for the operator, result holds return values."""


# -- small helpers ----------------------------------------------------------------

def parse_mode(mode, default):
    """An octal mode string such as '0640' as an int; default when mode is None or empty."""
    if isinstance(mode, int) and not isinstance(mode, bool):
        mode = str(mode)
    return _files.parse_mode(mode, default, error=RestoreError)


def resolve_uid(owner):
    return _files.resolve_uid(owner, error=RestoreError)


def resolve_gid(group):
    return _files.resolve_gid(group, error=RestoreError)


def file_state(path, with_sha256):
    """What a diff shows of a file: state, size, sha256, pages, owner, group, mode."""
    if not os.path.lexists(path):
        return dict(path=path, state="absent")
    st = os.lstat(path)
    state = dict(path=path, state="file", size=st.st_size, owner=st.st_uid, group=st.st_gid, mode=_fmt_mode(stat.S_IMODE(st.st_mode)))
    if with_sha256:
        state["sha256"] = sha256_file(path)
    try:
        state.update(header_info(path))
    except OSError:
        pass
    return state


def _check_directory(path, what):
    directory = os.path.dirname(os.path.abspath(path)) or "/"
    if not os.path.isdir(directory):
        raise RestoreError("the directory %r of %s %r does not exist" % (directory, what, path))
    return directory


def _check_regular(path, what, required):
    """Fail when path is a symbolic link or not a regular file; return whether it exists."""
    if os.path.islink(path):
        raise RestoreError("%s %r is a symbolic link; give the path of the file itself (%r)" % (what, path, os.path.realpath(path)))
    if not os.path.lexists(path):
        if required:
            raise RestoreError("%s %r does not exist" % (what, path))
        return False
    if not os.path.isfile(path):
        raise RestoreError("%s %r is not a regular file" % (what, path))
    return True


def _refuse_in_use(dest, check_mode, action):
    busy = in_use(dest)
    if busy and not check_mode:
        raise RestoreError("dest %r is in use: a process has the database open (SQLite's locks on it are held). Stop the application "
                           "before %s; nothing was changed" % (dest, action))
    return busy


def target_attributes(dest, owner, group, mode, new_mode=DEFAULT_NEW_MODE):
    """uid, gid and mode for the file put in place of dest.

    By default those of the current dest; when there is none, the owner and
    group of its directory (the application's data directory) and new_mode.
    """
    if os.path.isfile(dest):
        st = os.stat(dest)
        uid, gid, current_mode = st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)
    else:
        st = os.stat(os.path.dirname(os.path.abspath(dest)) or "/")
        uid, gid, current_mode = st.st_uid, st.st_gid, new_mode
    wanted_uid = resolve_uid(owner)
    wanted_gid = resolve_gid(group)
    return dict(
        owner=uid if wanted_uid is None else wanted_uid,
        group=gid if wanted_gid is None else wanted_gid,
        mode=parse_mode(mode, current_mode),
    )


def _apply_attributes(path, attrs):
    _files.apply_attributes(path, attrs, error=RestoreError)


def _public(attrs):
    """Attributes as returned: uid, gid and the mode as an octal string."""
    return _files.public_attributes(attrs)


def _mkstemp(directory, name, kind):
    """A new empty 0600 file .<name>.<kind>-<random> in directory."""
    fd, path = tempfile.mkstemp(dir=directory, prefix=".%s.%s-" % (name, kind))
    os.close(fd)
    return path


def _free_bytes(directory):
    return _free_bytes_of(directory)


def _copy_file(src, dst):
    """Copy src into the existing file dst byte for byte, fsync it; return (size, sha256 of what was read)."""
    try:
        return _files.copy_file(src, dst)
    except OpsError as exc:
        if isinstance(exc, RestoreError):
            raise
        raise RestoreError(exc.msg)


def _same_files(pairs):
    """Whether every (a, b) pair has the same bytes (sizes compared first)."""
    for a, b in pairs:
        if os.path.getsize(a) != os.path.getsize(b) or sha256_file(a) != sha256_file(b):
            return False
    return True


def _read_manifest(backup_path):
    try:
        return read_manifest(backup_path)
    except ManifestError:
        return None


def _need_space(directory, needed, what):
    if needed:
        _files.need_space(directory, needed, what, error=RestoreError, free=_free_bytes(directory))


# -- restore from a published backup ------------------------------------------------

def restore_backup(backup_path, dest, owner=None, group=None, mode=None, check="integrity_check", tmpdir=None,
                   check_mode=False, want_diff=False):
    """Put the verified backup backup_path in place of the database dest; return the result dict.

    dest must not be in use. In check mode the backup is verified the same way
    (decompressed into tmpdir instead of dest's directory) and the result
    predicts what a run would do.
    """
    check = check or "integrity_check"
    if check not in CHECKS:
        raise RestoreError("check %r is not one of %s" % (check, ", ".join(CHECKS)))
    dest = os.path.abspath(dest)
    directory = _check_directory(dest, "dest")
    existed = _check_regular(dest, "dest", required=False)
    if tmpdir is not None and not os.path.isdir(tmpdir):
        raise RestoreError("tmpdir %r is not a directory" % (tmpdir,))
    attrs = target_attributes(dest, owner, group, mode)
    stale = side_files(dest)
    busy = _refuse_in_use(dest, check_mode, "a restore")
    before = file_state(dest, with_sha256=want_diff)
    before["side_files"] = stale

    result = dict(changed=False, dest=dest, backup_path=backup_path, manifest_path=backup_path + MANIFEST_SUFFIX,
                  replaced=existed, removed=[], in_use=busy, check=check, attributes=_public(attrs), sha256=None, db_sha256=None,
                  db_size=None, page_size=None, page_count=None, user_version=None, problems=[])

    manifest = _read_manifest(backup_path)
    needed = manifest.get("db_size") if manifest and isinstance(manifest.get("db_size"), int) else None
    work_dir = (tmpdir or tempfile.gettempdir()) if check_mode else directory
    _need_space(work_dir, needed, "the decompressed backup")
    if check_mode and needed and work_dir != directory and not existed:
        _need_space(directory, needed, "the restored database")

    # 1. verify against the manifest while decompressing into a temp file beside
    #    dest, and check the decompressed database (verify_backup does both).
    plain = _mkstemp(work_dir, os.path.basename(dest), "restore")
    try:
        try:
            verification = verify_backup(backup_path, check=check, plain=plain)
        except MissingDependency:
            raise
        except OpsError as exc:
            failed = dict(result, **{k: v for k, v in exc.result.items() if k in ("problems", "sha256", "manifest")})
            raise RestoreError("%s; dest %r was not touched" % (exc.msg, dest), failed)
        for key in ("sha256", "db_size", "page_size", "page_count", "user_version", "problems"):
            result[key] = verification.get(key)
        result["manifest"] = verification.get("manifest")
        if not verification["ok"]:
            raise RestoreError("backup %r failed verification, dest %r was not touched: %s"
                               % (backup_path, dest, "; ".join(verification["problems"])), result)

        # 2. make the checked copy durable before it can replace anything.
        _fsync_file(plain)
        result["db_sha256"] = sha256_file(plain)

        after = dict(path=dest, state="file", size=result["db_size"], sha256=result["db_sha256"], page_size=result["page_size"],
                     page_count=result["page_count"], owner=attrs["owner"], group=attrs["group"], mode=_fmt_mode(attrs["mode"]),
                     user_version=result["user_version"], side_files=[])
        result["diff"] = dict(before=before, after=after)

        same = (existed and not stale and os.path.getsize(dest) == result["db_size"] and _attributes_of(dest) == attrs
                and sha256_file(dest) == result["db_sha256"])
        if same:
            return result
        result["changed"] = True
        result["removed"] = stale
        if check_mode:
            return result

        # 3. attributes on the temp file, so the final name never has others.
        _apply_attributes(plain, attrs)
        if in_use(dest):
            raise RestoreError("dest %r came into use during the restore: stop the application; nothing was changed" % (dest,), result)

        # 4. stale side files first: after the rename they would be read as the new database's.
        for path in stale:
            _remove(path)
        os.rename(plain, dest)
        plain = None
        _fsync_dir(directory)
    except OSError as exc:
        if _is_disk_full(exc):
            raise RestoreError("disk full on %r while restoring %r: %s; dest %r was not touched" % (work_dir, backup_path, exc, dest), result)
        raise
    finally:
        if plain is not None:
            for extra in ("",) + SIDE_SUFFIXES:
                _remove(plain + extra)
    return result


# -- pre-restore copies ---------------------------------------------------------------

def _copy_set(db):
    """(suffix, path) of the database and the side files present beside it, database first."""
    return [("", db)] + [(suffix, db + suffix) for suffix in SIDE_SUFFIXES if os.path.lexists(db + suffix)]


def _publish(temps, directory):
    """Rename (temp, final) pairs in order, then fsync the directory."""
    for temp, final in temps:
        os.rename(temp, final)
    _fsync_dir(directory)


def save_copy(dest, copy_path, owner=None, group=None, mode=None, check_mode=False):
    """Copy the stopped database dest and its side files, byte for byte, to copy_path(+suffix).

    The database does not have to be readable by SQLite: a corrupt one is copied
    as it is. The side files are published first and the database last, so a
    file at copy_path means the whole set is there. An existing copy with the
    same bytes is left as it is (no change); a different one is never
    overwritten.
    """
    dest = os.path.abspath(dest)
    copy_path = os.path.abspath(copy_path)
    _check_directory(dest, "dest")
    directory = _check_directory(copy_path, "copy_path")
    uid = resolve_uid(owner)
    gid = resolve_gid(group)
    attrs = dict(owner=os.geteuid() if uid is None else uid, group=os.getegid() if gid is None else gid,
                 mode=parse_mode(mode, DEFAULT_COPY_MODE))
    result = dict(changed=False, dest=dest, copy_path=copy_path, exists=False, files=[], in_use=False, attributes=_public(attrs))
    if not _check_regular(dest, "dest", required=False):
        result["diff"] = dict(before=dict(path=copy_path, state="absent"), after=dict(path=copy_path, state="absent"))
        return result
    result["exists"] = True
    for suffix, path in _copy_set(dest)[1:]:
        _check_regular(path, "side file", required=True)
    result["in_use"] = _refuse_in_use(dest, check_mode, "copying it (a file copy of an open database is not consistent)")

    sources = _copy_set(dest)
    existing = [copy_path + suffix for suffix in ("",) + SIDE_SUFFIXES if os.path.lexists(copy_path + suffix)]
    wanted = [copy_path + suffix for suffix, dummy in sources]
    before = dict(path=copy_path, state="file" if os.path.lexists(copy_path) else "absent", files=existing)
    after = dict(path=copy_path, state="file", files=wanted,
                 sizes=dict((copy_path + suffix, os.path.getsize(path)) for suffix, path in sources))
    result["diff"] = dict(before=before, after=after)
    if existing:
        if sorted(existing) == sorted(wanted) and _same_files([(path, copy_path + suffix) for suffix, path in sources]):
            result["files"] = [dict(src=path, path=copy_path + suffix, size=os.path.getsize(path), sha256=sha256_file(path))
                               for suffix, path in sources]
            return result
        raise RestoreError("copy_path %r already exists (%s) and differs from dest %r; refusing to overwrite an earlier copy, "
                           "choose another copy_path" % (copy_path, ", ".join(existing), dest))
    _need_space(directory, sum(os.path.getsize(path) for dummy, path in sources), "the copy")
    result["changed"] = True
    if check_mode:
        result["files"] = [dict(src=path, path=copy_path + suffix, size=os.path.getsize(path), sha256=None) for suffix, path in sources]
        return result

    temps = []
    try:
        for suffix, path in sources:
            temp = _mkstemp(directory, os.path.basename(copy_path) + suffix, "tmp")
            temps.append((temp, copy_path + suffix))
            size, digest = _copy_file(path, temp)
            _apply_attributes(temp, attrs)
            result["files"].append(dict(src=path, path=copy_path + suffix, size=size, sha256=digest))
        # side files first, the database last
        _publish(temps[1:] + temps[:1], directory)
        temps = []
    except OSError as exc:
        if _is_disk_full(exc):
            raise RestoreError("disk full on %r while copying %r: %s; no copy was written" % (directory, dest, exc), result)
        raise
    finally:
        for temp, dummy in temps:
            _remove(temp)
    return result


def revert_copy(copy_path, dest, owner=None, group=None, mode=None, check_mode=False):
    """Put the saved copy copy_path (and its side files) back in place of the stopped database dest.

    Every file is copied byte for byte into a temp file beside dest first. Then
    the side files of dest are removed, the database is renamed into place, and
    the saved side files after it, so that at no point a side file sits beside
    a database it does not belong to. The copy itself is kept.
    """
    dest = os.path.abspath(dest)
    copy_path = os.path.abspath(copy_path)
    directory = _check_directory(dest, "dest")
    _check_regular(copy_path, "copy_path", required=True)
    existed = _check_regular(dest, "dest", required=False)
    attrs = target_attributes(dest, owner, group, mode)
    busy = _refuse_in_use(dest, check_mode, "putting the copy back")
    sources = _copy_set(copy_path)
    for suffix, path in sources[1:]:
        _check_regular(path, "side file", required=True)
    stale = side_files(dest)
    wanted = [dest + suffix for suffix, dummy in sources]
    result = dict(changed=False, dest=dest, copy_path=copy_path, replaced=existed, in_use=busy,
                  removed=[path for path in stale if path not in wanted], files=[], attributes=_public(attrs))
    before = file_state(dest, with_sha256=False)
    before["side_files"] = stale
    after = dict(path=dest, state="file", size=os.path.getsize(copy_path), owner=attrs["owner"], group=attrs["group"],
                 mode=_fmt_mode(attrs["mode"]), side_files=wanted[1:])
    result["diff"] = dict(before=before, after=after)

    same = (existed and sorted(stale) == sorted(wanted[1:]) and all(_attributes_of(path) == attrs for path in wanted)
            and _same_files([(path, dest + suffix) for suffix, path in sources]))
    if same:
        result["removed"] = []
        return result
    _need_space(directory, sum(os.path.getsize(path) for dummy, path in sources), "the database put back")
    result["changed"] = True
    if check_mode:
        result["files"] = [dict(src=path, path=dest + suffix, size=os.path.getsize(path), sha256=None) for suffix, path in sources]
        return result

    temps = []
    try:
        for suffix, path in sources:
            temp = _mkstemp(directory, os.path.basename(dest) + suffix, "revert")
            temps.append((temp, dest + suffix))
            size, digest = _copy_file(path, temp)
            _apply_attributes(temp, attrs)
            result["files"].append(dict(src=path, path=dest + suffix, size=size, sha256=digest))
        if in_use(dest):
            raise RestoreError("dest %r came into use while the copy was prepared: stop the application; nothing was changed" % (dest,), result)
        for path in stale:
            _remove(path)
        _publish(temps, directory)
        temps = []
    except OSError as exc:
        if _is_disk_full(exc):
            raise RestoreError("disk full on %r while putting %r back: %s; dest %r was not touched" % (directory, copy_path, exc, dest), result)
        raise
    finally:
        for temp, dummy in temps:
            _remove(temp)
    return result


# -- checking a (live) database --------------------------------------------------------

def check_database(dest, check="integrity_check", check_mode=False):
    """Run the check on dest from a read-only connection (the application may be running); changes nothing.

    Returns the result dict with ok and problems; a database that fails the
    check is a result with ok=False, not an exception.
    """
    check = check or "integrity_check"
    if check not in CHECKS:
        raise RestoreError("check %r is not one of %s" % (check, ", ".join(CHECKS)))
    dest = os.path.abspath(dest)
    _check_regular(dest, "dest", required=True)
    result = dict(changed=False, dest=dest, check=check, ok=False, problems=[], page_size=None, page_count=None,
                  user_version=None)
    try:
        with open(dest, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise RestoreError("dest %r cannot be read: %s" % (dest, exc))
    if header != SQLITE_HEADER:
        result["problems"].append("dest %r is not a SQLite database (file is not a database)" % (dest,))
        return result
    try:
        conn = open_source(dest, create_files=not check_mode)
    except OpsError as exc:
        result["problems"].append(exc.msg)
        return result
    try:
        result["page_size"] = conn.execute("PRAGMA page_size").fetchone()[0]
        result["page_count"] = conn.execute("PRAGMA page_count").fetchone()[0]
        result["user_version"] = conn.execute("PRAGMA user_version").fetchone()[0]
        rows = run_check(conn, check)
    except sqlite3.DatabaseError as exc:
        result["problems"].append("%s of %r failed: %s" % (check, dest, exc))
        return result
    finally:
        conn.close()
    for problem in summarize_check(rows):
        result["problems"].append("%s of %r failed: %s" % (check, dest, problem))
    result["ok"] = not result["problems"]
    return result
