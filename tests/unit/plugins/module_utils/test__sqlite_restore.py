# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of module_utils/_sqlite_restore.py on real SQLite files in tmp_path."""

from __future__ import annotations

import datetime
import errno
import gzip
import hashlib
import json
import os
import random
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ansible_collections.milos_shop.ops.plugins.module_utils import _compression
from ansible_collections.milos_shop.ops.plugins.module_utils import _sqlite_backup as sb
from ansible_collections.milos_shop.ops.plugins.module_utils import _sqlite_restore as sr

T0 = datetime.datetime(2026, 11, 28, 16, 14, 42, tzinfo=datetime.timezone.utc)


# -- helpers ----------------------------------------------------------------------

def make_db(path, rows=200, wal=True):
    """A database like the shop's: orders in WAL mode; checkpointed and closed (a cleanly stopped app)."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, note BLOB)")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO orders (customer, note) VALUES (?, ?)", (("c-%05d" % i, b"x" * 300) for i in range(rows)))
    conn.execute("COMMIT")
    conn.execute("PRAGMA user_version=3")
    conn.close()
    return path


def add_rows(path, count):
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.executemany("INSERT INTO orders (customer, note) VALUES (?, ?)", (("late-%05d" % i, b"y" * 300) for i in range(count)))
    conn.close()


def crash_with_rows_in_the_wal(path, count):
    """Commit rows from another process that then dies without closing: -wal and -shm stay behind, holding the rows."""
    code = textwrap.dedent("""
        import os, sqlite3, sys
        conn = sqlite3.connect(sys.argv[1], isolation_level=None)
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.executemany("INSERT INTO orders (customer, note) VALUES (?, ?)", (("wal-%05d" % i, b"w" * 300) for i in range(int(sys.argv[2]))))
        os._exit(0)
    """)
    subprocess.run([sys.executable, "-c", code, str(path), str(count)], check=True)
    assert os.path.getsize(str(path) + "-wal") > 0 and os.path.exists(str(path) + "-shm")


class Holder:
    """Another process with the database open (a running application)."""

    def __init__(self, path, transaction=False):
        code = textwrap.dedent("""
            import sqlite3, sys, time
            conn = sqlite3.connect(sys.argv[1], isolation_level=None)
            if sys.argv[2] == "1":
                conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM orders").fetchone()
            print("ready", flush=True)
            sys.stdin.readline()
        """)
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(path), "1" if transaction else "0"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture
def holder():
    made = []

    def make(path, transaction=False):
        made.append(Holder(path, transaction))
        return made[-1]

    yield make
    for h in made:
        if h.proc.poll() is None:
            h.proc.kill()
            h.proc.wait()


def count(path):
    """Rows in orders, through a read-write connection (which, unlike a read-only one, leaves no -wal/-shm behind)."""
    conn = sqlite3.connect(str(path))
    try:
        return conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    finally:
        conn.close()


def backup(src, dest, when=T0, **kwargs):
    return sb.take_backup(str(src), str(dest), now=lambda: when, **kwargs)


def fingerprint(path):
    """Everything a restore must not change about an untouched file."""
    path = Path(path)
    st = path.stat()
    return dict(sha256=hashlib.sha256(path.read_bytes()).hexdigest(), ino=st.st_ino, mtime=st.st_mtime_ns, ctime=st.st_ctime_ns,
                mode=stat.S_IMODE(st.st_mode), uid=st.st_uid)


def listing(directory):
    return sorted(os.listdir(directory))


def corrupt_middle_pages(path, seed=1):
    """Overwrite some pages in the middle of a closed database with random bytes."""
    page_size = 4096
    pages = os.path.getsize(path) // page_size
    rnd = random.Random(seed)
    with open(path, "r+b") as handle:
        for page in range(pages // 3, pages // 3 + 5):
            handle.seek(page * page_size)
            handle.write(bytes(rnd.randrange(256) for dummy in range(page_size)))


def rewrite_manifest(manifest, **changes):
    data = json.loads(manifest.read_text())
    data.update(changes)
    manifest.write_text(json.dumps(data))


def fix_manifest(path, manifest):
    rewrite_manifest(manifest, sha256=hashlib.sha256(path.read_bytes()).hexdigest(), size=path.stat().st_size)


@pytest.fixture
def data(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def backups(tmp_path):
    d = tmp_path / "backups"
    d.mkdir()
    return d


@pytest.fixture
def db(data):
    return make_db(data / "milos_shop.db")


# -- restore ----------------------------------------------------------------------

@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_restore_puts_the_backup_content_in_place(db, backups, compression):
    if compression == "zstd":
        sb.require_compression("zstd")
    taken = backup(db, backups, compression=compression)
    add_rows(db, 50)
    os.chmod(db, 0o604)
    assert count(db) == 250

    result = sr.restore_backup(taken["path"], str(db))
    assert result["changed"] is True and result["replaced"] is True and result["removed"] == []
    assert count(db) == 200
    assert result["db_sha256"] == hashlib.sha256(db.read_bytes()).hexdigest()
    assert result["sha256"] == taken["sha256"] and result["db_size"] == db.stat().st_size
    assert result["page_count"] == taken["page_count"] and result["user_version"] == 3
    assert result["problems"] == [] and result["check"] == "integrity_check"
    # the current file's owner and mode are kept; no temp file is left behind
    assert stat.S_IMODE(db.stat().st_mode) == 0o604 and result["attributes"]["mode"] == "0604"
    assert listing(db.parent) == ["milos_shop.db"]


def test_restore_removes_stale_wal_shm_and_journal(db, backups):
    taken = backup(db, backups)
    crash_with_rows_in_the_wal(db, 70)
    journal = Path(str(db) + "-journal")
    journal.write_bytes(b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7" + b"\0" * 504)
    stale = [str(db) + s for s in ("-wal", "-shm", "-journal")]

    result = sr.restore_backup(taken["path"], str(db))
    assert result["removed"] == stale
    assert listing(db.parent) == ["milos_shop.db"]
    # the rows that were only in the stale WAL did not come back into the restored database
    assert count(db) == 200
    assert sr.check_database(str(db))["ok"]


def test_restore_is_idempotent(db, backups):
    taken = backup(db, backups)
    add_rows(db, 5)
    assert sr.restore_backup(taken["path"], str(db))["changed"] is True
    before = fingerprint(db)
    again = sr.restore_backup(taken["path"], str(db))
    assert again["changed"] is False and again["removed"] == []
    assert fingerprint(db) == before


def test_check_mode_predicts_and_changes_nothing(db, backups, tmp_path):
    taken = backup(db, backups)
    add_rows(db, 30)
    crash_with_rows_in_the_wal(db, 10)
    work = tmp_path / "work"
    work.mkdir()
    files = {name: fingerprint(db.parent / name) for name in listing(db.parent)}

    result = sr.restore_backup(taken["path"], str(db), check_mode=True, want_diff=True, tmpdir=str(work))
    assert result["changed"] is True and result["replaced"] is True
    assert result["removed"] == [str(db) + "-wal", str(db) + "-shm"]
    before, after = result["diff"]["before"], result["diff"]["after"]
    assert before["sha256"] == files["milos_shop.db"]["sha256"] and before["side_files"] == result["removed"]
    assert after["sha256"] == result["db_sha256"] and after["side_files"] == [] and after["page_count"] == taken["page_count"]
    assert before["size"] != after["size"]
    # nothing changed, nothing left behind
    assert {name: fingerprint(db.parent / name) for name in listing(db.parent)} == files
    assert listing(work) == []


def test_check_mode_of_an_identical_database_reports_no_change(db, backups):
    taken = backup(db, backups)
    sr.restore_backup(taken["path"], str(db))
    assert sr.restore_backup(taken["path"], str(db), check_mode=True)["changed"] is False


def _truncate(path, manifest):
    path.write_bytes(path.read_bytes()[:-100])


def _truncate_and_fix_manifest(path, manifest):
    _truncate(path, manifest)
    fix_manifest(path, manifest)


def _flip_bytes(path, manifest):
    data = bytearray(path.read_bytes())
    for offset in range(len(data) // 2, len(data) // 2 + 8):
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _flip_bytes_and_fix_manifest(path, manifest):
    _flip_bytes(path, manifest)
    fix_manifest(path, manifest)


def _wrong_checksum(path, manifest):
    rewrite_manifest(manifest, sha256="0" * 64)


def _missing_manifest(path, manifest):
    manifest.unlink()


def _not_sqlite(path, manifest):
    path.write_bytes(gzip.compress(b"just some text, not a database\n" * 100))
    fix_manifest(path, manifest)


def _corrupt_database_in_a_good_gzip(path, manifest):
    plain = gzip.decompress(path.read_bytes())
    tmp = path.with_suffix(".plain")
    tmp.write_bytes(plain)
    corrupt_middle_pages(tmp)
    path.write_bytes(gzip.compress(tmp.read_bytes()))
    tmp.unlink()
    fix_manifest(path, manifest)


def _missing_backup(path, manifest):
    path.unlink()


@pytest.mark.parametrize("damage, expected", [
    (_truncate, "checksum mismatch"),
    (_truncate_and_fix_manifest, "cannot decompress"),
    (_flip_bytes, "checksum mismatch"),
    (_flip_bytes_and_fix_manifest, "cannot decompress"),
    (_wrong_checksum, "checksum mismatch"),
    (_missing_manifest, "is missing"),
    (_not_sqlite, "does not hold a SQLite database (file is not a database)"),
    (_corrupt_database_in_a_good_gzip, "integrity_check of"),
    (_missing_backup, "does not exist"),
])
def test_a_bad_backup_is_refused_and_dest_untouched(data, backups, damage, expected):
    db = make_db(data / "milos_shop.db", rows=3000)
    taken = backup(db, backups)
    add_rows(db, 10)
    crash_with_rows_in_the_wal(db, 5)
    damage(Path(taken["path"]), Path(taken["manifest_path"]))
    files = {name: fingerprint(db.parent / name) for name in listing(db.parent)}

    with pytest.raises(sb.BackupError) as info:
        sr.restore_backup(taken["path"], str(db))
    assert expected in info.value.msg
    assert "dest %r was not touched" % str(db) in info.value.msg
    assert any(expected in problem for problem in info.value.result["problems"]), info.value.result
    # the database, its WAL with the newest rows, and nothing else
    assert {name: fingerprint(db.parent / name) for name in listing(db.parent)} == files
    assert count(db) == 3015


def test_dest_in_use_is_refused_in_a_real_run_and_reported_in_check_mode(db, backups, holder):
    taken = backup(db, backups)
    h = holder(db)
    files = {name: fingerprint(db.parent / name) for name in listing(db.parent)}
    with pytest.raises(sr.RestoreError, match=r"dest '.*' is in use: a process has the database open.*Stop the application"):
        sr.restore_backup(taken["path"], str(db))
    predicted = sr.restore_backup(taken["path"], str(db), check_mode=True)
    assert predicted["in_use"] is True
    assert {name: fingerprint(db.parent / name) for name in listing(db.parent)} == files
    h.close()
    assert sr.restore_backup(taken["path"], str(db))["in_use"] is False


@pytest.mark.parametrize("wal, transaction, expected", [
    (True, False, True),  # every WAL connection holds its locks while open
    (False, True, True),  # rollback-journal mode: only inside a transaction
    (False, False, False),  # an idle rollback-journal connection holds no lock (documented limit)
])
def test_in_use(data, holder, wal, transaction, expected):
    db = make_db(data / "milos_shop.db", wal=wal)
    assert sr.in_use(str(db)) is False
    holder(db, transaction)
    assert sr.in_use(str(db)) is expected


def test_restore_into_a_missing_dest_takes_the_directory_owner(db, backups, data):
    taken = backup(db, backups)
    db.unlink()
    os.chown(data, 1000, 1000)
    result = sr.restore_backup(taken["path"], str(db))
    assert result["changed"] is True and result["replaced"] is False
    st = db.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1000, 0o640)
    assert count(db) == 200


def test_owner_group_mode_options(db, backups):
    taken = backup(db, backups)
    result = sr.restore_backup(taken["path"], str(db), owner="1000", group="1000", mode="0600")
    st = db.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1000, 0o600)
    assert result["attributes"] == dict(owner=1000, group=1000, mode="0600")
    # the same again: no change; another mode: a change
    assert sr.restore_backup(taken["path"], str(db), owner="1000", group="1000", mode="0600")["changed"] is False
    assert sr.restore_backup(taken["path"], str(db), mode="640")["changed"] is True
    assert stat.S_IMODE(db.stat().st_mode) == 0o640 and db.stat().st_uid == 1000


@pytest.mark.parametrize("kwargs, message", [
    (dict(mode="u+rw"), "mode 'u+rw' is not an octal mode such as '0640'"),
    (dict(mode="0999"), "mode '0999' is not an octal mode"),
    (dict(owner="no_such_user_restore"), "owner 'no_such_user_restore' is not a known user"),
    (dict(group="no_such_group_restore"), "group 'no_such_group_restore' is not a known group"),
    (dict(check="full_check"), "check 'full_check' is not one of quick_check, integrity_check"),
])
def test_bad_options(db, backups, kwargs, message):
    taken = backup(db, backups)
    before = fingerprint(db)
    with pytest.raises(sr.RestoreError) as info:
        sr.restore_backup(taken["path"], str(db), **kwargs)
    assert message in info.value.msg
    assert fingerprint(db) == before


def test_bad_dest(db, backups, tmp_path):
    taken = backup(db, backups)
    link = tmp_path / "link.db"
    link.symlink_to(db)
    with pytest.raises(sr.RestoreError, match="dest '.*/link.db' is a symbolic link; give the path of the file itself"):
        sr.restore_backup(taken["path"], str(link))
    with pytest.raises(sr.RestoreError, match="the directory '.*/nowhere' of dest '.*' does not exist"):
        sr.restore_backup(taken["path"], str(tmp_path / "nowhere" / "x.db"))
    with pytest.raises(sr.RestoreError, match="dest '.*' is not a regular file"):
        sr.restore_backup(taken["path"], str(tmp_path))


def test_not_enough_space_is_found_before_anything(db, backups, monkeypatch):
    taken = backup(db, backups)
    add_rows(db, 1)
    before = fingerprint(db)
    monkeypatch.setattr(sr, "_free_bytes", lambda directory: 1000)
    with pytest.raises(sr.RestoreError, match=r"not enough free space in '.*' for the decompressed backup: it needs \d+ bytes, 1000 are free"):
        sr.restore_backup(taken["path"], str(db))
    assert fingerprint(db) == before and listing(db.parent) == ["milos_shop.db"]


def test_disk_full_while_decompressing_leaves_dest_and_no_temp(db, backups, monkeypatch):
    taken = backup(db, backups)
    add_rows(db, 1)
    before = fingerprint(db)

    def full(fileobj, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_compression, "write_all", full)
    with pytest.raises(sb.BackupError, match=r"disk full on .* while decompressing .*; dest '.*' was not touched"):
        sr.restore_backup(taken["path"], str(db))
    assert fingerprint(db) == before and listing(db.parent) == ["milos_shop.db"]


def test_a_failure_at_the_rename_leaves_dest_and_no_temp(db, backups, monkeypatch):
    taken = backup(db, backups)
    add_rows(db, 1)
    before = fingerprint(db)

    def fail(src, dst):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(sr.os, "rename", fail)
    with pytest.raises(OSError, match="Input/output error"):
        sr.restore_backup(taken["path"], str(db))
    assert fingerprint(db) == before and listing(db.parent) == ["milos_shop.db"]


# -- pre-restore copies -------------------------------------------------------------

def test_save_copies_a_crashed_database_byte_for_byte(db, backups, tmp_path):
    crash_with_rows_in_the_wal(db, 40)
    pre = tmp_path / "pre-restore"
    pre.mkdir()
    copy = pre / "milos_shop.db.pre-restore"
    sources = {s: Path(str(db) + s).read_bytes() for s in ("", "-wal", "-shm")}

    result = sr.save_copy(str(db), str(copy))
    assert result["changed"] is True and result["exists"] is True
    assert [f["path"] for f in result["files"]] == [str(copy), str(copy) + "-wal", str(copy) + "-shm"]
    for suffix, content in sources.items():
        saved = Path(str(copy) + suffix)
        assert saved.read_bytes() == content
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert {f["sha256"] for f in result["files"]} == {hashlib.sha256(c).hexdigest() for c in sources.values()}
    # the source is as it was, and the copy holds the rows of its WAL
    assert {s: Path(str(db) + s).read_bytes() for s in ("", "-wal", "-shm")} == sources
    assert listing(pre) == ["milos_shop.db.pre-restore", "milos_shop.db.pre-restore-shm", "milos_shop.db.pre-restore-wal"]
    assert count(copy) == 240


def test_save_copies_a_corrupt_database_as_it_is(data, tmp_path):
    db = make_db(data / "milos_shop.db", rows=3000)
    corrupt_middle_pages(db)
    assert not sr.check_database(str(db))["ok"]
    copy = tmp_path / "copy.db"
    result = sr.save_copy(str(db), str(copy))
    assert result["changed"] is True
    assert copy.read_bytes() == db.read_bytes()


def test_save_is_idempotent_and_never_overwrites_another_copy(db, tmp_path):
    copy = tmp_path / "copy.db"
    assert sr.save_copy(str(db), str(copy))["changed"] is True
    before = fingerprint(copy)
    assert sr.save_copy(str(db), str(copy))["changed"] is False
    add_rows(db, 1)
    with pytest.raises(sr.RestoreError, match="copy_path '.*/copy.db' already exists .* and differs from dest .*refusing to overwrite"):
        sr.save_copy(str(db), str(copy))
    assert fingerprint(copy) == before


def test_save_check_mode_and_in_use(db, tmp_path, holder):
    copy = tmp_path / "copy.db"
    predicted = sr.save_copy(str(db), str(copy), check_mode=True)
    assert predicted["changed"] is True and [f["path"] for f in predicted["files"]] == [str(copy)]
    assert not copy.exists()
    holder(db)
    with pytest.raises(sr.RestoreError, match="dest '.*' is in use"):
        sr.save_copy(str(db), str(copy))
    assert sr.save_copy(str(db), str(copy), check_mode=True)["in_use"] is True
    assert not copy.exists() and listing(tmp_path) == ["data"]


def test_save_of_a_missing_database_has_nothing_to_copy(data, tmp_path):
    result = sr.save_copy(str(data / "none.db"), str(tmp_path / "copy.db"))
    assert result["changed"] is False and result["exists"] is False and result["files"] == []


def test_revert_puts_the_saved_set_back(db, backups, tmp_path):
    taken = backup(db, backups)
    add_rows(db, 25)
    crash_with_rows_in_the_wal(db, 15)
    os.chown(db, 1000, 1000)
    os.chmod(db, 0o640)
    copy = tmp_path / "copy.db"
    saved = sr.save_copy(str(db), str(copy))
    originals = {f["path"][len(str(copy)):]: f["sha256"] for f in saved["files"]}
    sr.restore_backup(taken["path"], str(db))
    add_rows(db, 3)  # the restored app ran and left its own WAL behind
    crash_with_rows_in_the_wal(db, 2)

    result = sr.revert_copy(str(copy), str(db))
    assert result["changed"] is True
    assert result["removed"] == []  # the restored db's -wal and -shm were replaced by the saved ones
    assert {s: hashlib.sha256(Path(str(db) + s).read_bytes()).hexdigest() for s in ("", "-wal", "-shm")} == originals
    for suffix in ("", "-wal", "-shm"):
        st = os.stat(str(db) + suffix)
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1000, 0o640)
    assert copy.exists() and listing(db.parent) == ["milos_shop.db", "milos_shop.db-shm", "milos_shop.db-wal"]
    assert sr.revert_copy(str(copy), str(db))["changed"] is False
    assert count(db) == 240  # the original rows, those in its WAL too


def test_revert_removes_side_files_the_copy_does_not_have(db, backups, tmp_path):
    copy = tmp_path / "copy.db"
    sr.save_copy(str(db), str(copy))
    add_rows(db, 5)
    crash_with_rows_in_the_wal(db, 5)
    predicted = sr.revert_copy(str(copy), str(db), check_mode=True)
    assert predicted["changed"] is True and predicted["removed"] == [str(db) + "-wal", str(db) + "-shm"]
    assert os.path.exists(str(db) + "-wal")
    result = sr.revert_copy(str(copy), str(db))
    assert result["removed"] == [str(db) + "-wal", str(db) + "-shm"]
    assert listing(db.parent) == ["milos_shop.db"] and count(db) == 200


def test_revert_needs_the_copy(db, tmp_path):
    with pytest.raises(sr.RestoreError, match="copy_path '.*/gone.db' does not exist"):
        sr.revert_copy(str(tmp_path / "gone.db"), str(db))


# -- checking --------------------------------------------------------------------

def test_check_database(data, holder):
    good = make_db(data / "good.db")
    holder(good)  # live, in WAL mode
    assert sr.check_database(str(good)) == dict(changed=False, dest=str(good), check="integrity_check", ok=True,
                                                problems=[], page_size=4096, page_count=sr.check_database(str(good))["page_count"],
                                                user_version=3)
    bad = make_db(data / "bad.db", rows=3000)
    corrupt_middle_pages(bad)
    result = sr.check_database(str(bad))
    assert result["ok"] is False and result["problems"][0].startswith("integrity_check of %r failed" % str(bad))
    text = data / "text.db"
    text.write_text("not a database")
    assert sr.check_database(str(text))["problems"] == ["dest %r is not a SQLite database (file is not a database)" % str(text)]
    with pytest.raises(sr.RestoreError, match="dest '.*/missing.db' does not exist"):
        sr.check_database(str(data / "missing.db"))


def test_header_info_reads_a_corrupt_file(data):
    db = make_db(data / "x.db", rows=3000)
    size = db.stat().st_size
    corrupt_middle_pages(db)
    assert sr.header_info(str(db)) == dict(page_size=4096, page_count=size // 4096)
    (data / "t").write_bytes(b"hello")
    assert sr.header_info(str(data / "t")) == dict(page_size=None, page_count=None)
