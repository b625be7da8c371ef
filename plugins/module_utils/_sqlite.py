# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils file is private to the milos_shop.ops collection; it may change
# or go away without notice. Do not use it from other collections.

"""SQLite database files: opening them safely, reading their header, seeing whether they are in use, checking them.

- :func:`sqlite_uri`, :func:`is_wal`, :func:`header_info`, :func:`is_sqlite_file`;
- :func:`open_source`: a read-only connection to a live database, with a
  message that names the cause (a missing ``-shm`` in an unwritable directory)
  when it cannot be opened; :func:`database_info` (page size, pages, user
  version);
- :func:`in_use` probes, without waiting, the locks SQLite takes, and
  :func:`side_files` lists the ``-wal``, ``-shm`` and ``-journal`` files;
- :func:`inspect_database` runs ``PRAGMA quick_check`` or ``integrity_check``
  on a private file (immutable, read-only, interruptible by a deadline) and
  :func:`run_check` on an open connection.

It does not import Ansible.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
import struct
from urllib.parse import quote

from ansible_collections.milos_shop.ops.plugins.module_utils._files import (
    DeadlineExceeded,
    OpsError,
    is_disk_full as _is_os_disk_full,
)

SQLITE_HEADER = b"SQLite format 3\x00"
CHECKS = ("quick_check", "integrity_check")
# How many lines of a failed check end up in a message.
MAX_CHECK_LINES = 5
# The files SQLite keeps beside a database. A stale one beside a different
# database file corrupts it when SQLite next opens it (the WAL is replayed, the
# hot journal rolled back).
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")
# Lock bytes (see SQLite's os_unix.c and wal.c): every connection to a WAL
# database holds a read lock on the "dead man switch" byte of the -shm file and
# a SHARED lock on the database file, as long as it is open. A connection in
# rollback-journal mode holds the SHARED range only inside a transaction.
SHM_DMS_OFFSET = 128
DB_SHARED_OFFSET = 0x40000002
DB_SHARED_SIZE = 510


def is_disk_full(exc):
    """ENOSPC/EDQUOT, or SQLite's "database or disk is full"."""
    if _is_os_disk_full(exc):
        return True
    return isinstance(exc, sqlite3.DatabaseError) and "disk is full" in str(exc)


def sqlite_uri(path, **params):
    query = "&".join("%s=%s" % item for item in params.items())
    return "file:%s%s" % (quote(os.path.abspath(path), safe="/"), "?" + query if query else "")


def is_wal(path):
    """Whether the database header says WAL mode (file format versions 2)."""
    with open(path, "rb") as handle:
        handle.seek(18)
        return handle.read(2) == b"\x02\x02"


def is_sqlite_file(path):
    """Whether the file starts like a SQLite database (OSError when it cannot be read)."""
    with open(path, "rb") as handle:
        return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER


def header_info(path):
    """page_size and page_count (file size / page size) from a file's header, without SQLite.

    Works on a corrupt database too; both are None when the file does not start
    like a SQLite database.
    """
    with open(path, "rb") as handle:
        header = handle.read(100)
    size = os.path.getsize(path)
    if len(header) < 18 or header[:len(SQLITE_HEADER)] != SQLITE_HEADER:
        return dict(page_size=None, page_count=None)
    page_size = struct.unpack(">H", header[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    if not page_size:
        return dict(page_size=None, page_count=None)
    return dict(page_size=page_size, page_count=size // page_size)


def explain_open_failure(src, exc):
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


def open_source(src, timeout=30.0, create_files=True, error=OpsError):
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
        conn = sqlite3.connect(sqlite_uri(src, **params), uri=True, timeout=timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise error(explain_open_failure(src, exc))
    try:
        conn.execute("PRAGMA schema_version").fetchone()
    except sqlite3.Error as exc:
        conn.close()
        raise error(explain_open_failure(src, exc))
    return conn


def database_info(conn):
    """page_size, page_count and user_version of an open database."""
    return dict(
        page_size=conn.execute("PRAGMA page_size").fetchone()[0],
        page_count=conn.execute("PRAGMA page_count").fetchone()[0],
        user_version=conn.execute("PRAGMA user_version").fetchone()[0],
    )


def summarize_check(rows):
    """[] for a check that said "ok", else one line with the first rows of what it said."""
    if rows == ["ok"]:
        return []
    shown = rows[:MAX_CHECK_LINES]
    more = len(rows) - len(shown)
    return ["%s%s" % ("; ".join(str(r) for r in shown), " (and %d more)" % more if more > 0 else "")]


def run_check(conn, check):
    """The rows of PRAGMA quick_check or integrity_check on an open connection."""
    if check not in CHECKS:
        raise ValueError("check %r is not one of %s" % (check, ", ".join(CHECKS)))
    return [row[0] for row in conn.execute("PRAGMA %s" % check)]


def inspect_database(path, check, deadline, phase="check"):
    """Run the check on a private database file (opened immutable, read-only).

    Returns (info, problems): info holds page_size, page_count, user_version;
    problems is empty when the check said "ok". A deadline that passes
    interrupts the check (DeadlineExceeded naming the phase).
    """
    conn = sqlite3.connect(sqlite_uri(path, mode="ro", immutable=1), uri=True, isolation_level=None)
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
            info = database_info(conn)
            rows = run_check(conn, check)
        except sqlite3.DatabaseError as exc:
            if interrupted:
                raise DeadlineExceeded(deadline.seconds, phase)
            if "file is not a database" in str(exc):
                return info, ["file is not a database"]
            return info, [str(exc)]
    finally:
        conn.close()
    return info, summarize_check(rows)


def _probe_lock(path, start, length):
    """True when another process holds a lock on the byte range; None when it cannot be told."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    except OSError:
        return None
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, length, start, os.SEEK_SET)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EAGAIN):
                return True
            return None
        fcntl.lockf(fd, fcntl.LOCK_UN, length, start, os.SEEK_SET)
        return False
    finally:
        os.close(fd)


def in_use(db):
    """Whether another process has the database open (WAL mode) or is inside a transaction.

    Probes, without waiting, the locks SQLite takes: the -shm "dead man switch"
    byte and the database file's SHARED range. Taking and dropping the probe
    lock changes nothing. An idle connection in rollback-journal mode holds no
    lock and cannot be seen.
    """
    return bool(_probe_lock(db + "-shm", SHM_DMS_OFFSET, 1) or _probe_lock(db, DB_SHARED_OFFSET, DB_SHARED_SIZE))


def side_files(db):
    """The -wal, -shm and -journal files present beside db."""
    return [db + suffix for suffix in SIDE_SUFFIXES if os.path.lexists(db + suffix)]
