# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of module_utils/_sqlite_backup.py on real SQLite files in tmp_path."""

from __future__ import annotations

import datetime
import errno
import gzip
import hashlib
import json
import os
import random
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from ansible_collections.milos_shop.ops.plugins.module_utils import _compression, _files
from ansible_collections.milos_shop.ops.plugins.module_utils import _sqlite_backup as sb

NOW = datetime.datetime(2026, 11, 28, 15, 55, 49, 123456, tzinfo=datetime.timezone.utc)
NAME = "milos_shop_backup_2026-11-28T15-55-49"
MANIFEST_KEYS = {
    "format", "backup", "source", "created", "compression", "size", "db_size", "page_size", "page_count",
    "user_version", "sqlite_version", "sha256", "check", "check_result", "started", "finished", "duration_s",
}
HAS_ZSTD = shutil.which("zstd") is not None


# -- helpers ----------------------------------------------------------------------

def fixed_now():
    return NOW


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def make_db(path, rows=200, payload=300, wal=True, user_version=3):
    """A database like the shop's: items with a counter, in WAL mode; all checkpointed and closed."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, payload BLOB)")
    conn.execute("CREATE INDEX items_name ON items (name)")
    conn.execute("CREATE TABLE counter (n INTEGER NOT NULL)")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO items (name, payload) VALUES (?, ?)",
                     (("item-%06d" % i, (b"p%06d" % i) * (payload // 7 + 1)) for i in range(rows)))
    conn.execute("INSERT INTO counter (n) VALUES (?)", (rows,))
    conn.execute("COMMIT")
    conn.execute("PRAGMA user_version=%d" % user_version)
    conn.close()
    return path


def rows_in(db_path):
    conn = sqlite3.connect(str(db_path))
    try:
        return conn.execute("SELECT count(*) FROM items").fetchone()[0], conn.execute("SELECT n FROM counter").fetchone()[0]
    finally:
        conn.close()


def unpack(path, tmp_path, compression="gzip"):
    """Decompress a published backup with the CLI tools, into a .db file."""
    out = tmp_path / ("unpacked-%s.db" % Path(path).name)
    if compression == "gzip":
        data = subprocess.run(["gzip", "-dc", str(path)], check=True, capture_output=True).stdout
    elif compression == "zstd":
        data = subprocess.run(["zstd", "-dc", str(path)], check=True, capture_output=True).stdout
    else:
        data = Path(path).read_bytes()
    out.write_bytes(data)
    return out


def backup(src, dest, **kwargs):
    kwargs.setdefault("now", fixed_now)
    return sb.take_backup(str(src), str(dest), **kwargs)


@pytest.fixture
def db(tmp_path):
    return make_db(tmp_path / "shop.db")


@pytest.fixture
def dest(tmp_path):
    d = tmp_path / "backups"
    d.mkdir()
    return d


# -- names and options --------------------------------------------------------------

@pytest.mark.parametrize("prefix, compression, expected", [
    ("milos_shop_backup_", "gzip", NAME + ".db.gz"),
    ("milos_shop_backup_", "zstd", NAME + ".db.zst"),
    ("milos_shop_backup_", "none", NAME + ".db"),
    ("nightly-", "gzip", "nightly-2026-11-28T15-55-49.db.gz"),
])
def test_backup_name(prefix, compression, expected):
    assert sb.backup_name(prefix, NOW, compression) == expected


def test_backup_name_is_utc():
    local = NOW.astimezone(datetime.timezone(datetime.timedelta(hours=-5)))
    assert sb.backup_name("p_", local, "gzip") == "p_2026-11-28T15-55-49.db.gz"


@pytest.mark.parametrize("name, compression", [
    ("a.db.gz", "gzip"), ("a.db.zst", "zstd"), ("a.db", "none"), ("a.tar", None),
])
def test_compression_of(name, compression):
    assert sb.compression_of(name) == compression


@pytest.mark.parametrize("compression, level, ok", [
    ("gzip", 1, True), ("gzip", 9, True), ("gzip", 0, False), ("gzip", 10, False),
    ("zstd", 19, True), ("zstd", 20, False), ("none", 99, True),
])
def test_compression_level_range(db, dest, compression, level, ok):
    if ok:
        sb.validate_level(compression, level)
    else:
        with pytest.raises(sb.BackupError, match=r"compression_level %d is out of range for compression='%s'" % (level, compression)):
            backup(db, dest, compression=compression, compression_level=level)


@pytest.mark.parametrize("prefix", ["", ".hidden_", "a/b_", "x\0"])
def test_bad_prefix(db, dest, prefix):
    with pytest.raises(sb.BackupError, match=r"prefix .* is not usable"):
        backup(db, dest, prefix=prefix)
    assert os.listdir(dest) == []


# -- the snapshot -----------------------------------------------------------------

def test_snapshot_includes_committed_rows_still_in_the_wal(tmp_path, dest):
    src = make_db(tmp_path / "shop.db", rows=10)
    writer = sqlite3.connect(str(src), isolation_level=None)
    try:
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("BEGIN")
        writer.executemany("INSERT INTO items (name) VALUES (?)", (("wal-%d" % i,) for i in range(500)))
        writer.execute("UPDATE counter SET n = n + 500")
        writer.execute("COMMIT")
        # The rows are committed but only in the -wal: the main file alone lacks them.
        assert os.path.getsize(str(src) + "-wal") > 0
        main_only = tmp_path / "main-only.db"
        shutil.copyfile(src, main_only)
        assert rows_in(main_only) == (10, 10)

        result = backup(src, dest)
    finally:
        writer.close()
    assert rows_in(unpack(result["path"], tmp_path)) == (510, 510)


WRITER = textwrap.dedent("""
    import sqlite3, sys, os
    db, stop = sys.argv[1], sys.argv[2]
    conn = sqlite3.connect(db, isolation_level=None, timeout=30)
    conn.execute("PRAGMA busy_timeout=30000")
    i = 0
    while not os.path.exists(stop):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO items (name, payload) VALUES (?, randomblob(2000))", ("w-%d" % i,))
        conn.execute("UPDATE counter SET n = n + 1")
        conn.execute("COMMIT")
        i += 1
    print(i)
""")


def test_backup_under_a_concurrent_writer_is_a_consistent_prefix(tmp_path, dest):
    # Big enough that the snapshot takes a while, so the writer commits during it.
    src = make_db(tmp_path / "shop.db", rows=20000, payload=1500)
    stop = tmp_path / "stop"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(src), str(stop)], stdout=subprocess.PIPE, text=True)
    try:
        reader = sqlite3.connect(str(src))
        deadline = time.monotonic() + 30
        while reader.execute("SELECT n FROM counter").fetchone()[0] < 20100 and time.monotonic() < deadline:
            time.sleep(0.01)
        before = reader.execute("SELECT n FROM counter").fetchone()[0]
        results = [backup(src, dest, compression="none", deadline=60, prefix="run%d_" % i) for i in range(3)]
        after = reader.execute("SELECT n FROM counter").fetchone()[0]
        reader.close()
    finally:
        stop.touch()
        written = int(proc.communicate(timeout=60)[0])
    assert proc.returncode == 0
    assert written > 0 and after > before
    for result in results:
        items, counter = rows_in(result["path"])
        assert items == counter, "the snapshot is not a consistent prefix of the writer's transactions"
        assert before <= counter <= after
    # the writer kept committing while the snapshots were taken: they saw different states
    assert len({rows_in(r["path"])[1] for r in results}) > 1


# -- compression ----------------------------------------------------------------

def test_gzip_parallel_members_read_by_gunzip_and_python(tmp_path):
    rnd = random.Random(7)
    data = b"".join(bytes([rnd.randrange(4)]) * rnd.randrange(1, 300) for dummy in range(20000)) + os.urandom(50000)
    src = tmp_path / "plain"
    src.write_bytes(data)
    out = tmp_path / "plain.gz"
    with open(out, "wb") as handle:
        sb.gzip_parallel(str(src), handle, 6, sb.Deadline(0), workers=3, chunk_size=64 * 1024)
    packed = out.read_bytes()
    assert packed.count(b"\x1f\x8b\x08") >= len(data) // (64 * 1024)  # one member per chunk
    assert subprocess.run(["gzip", "-dc", str(out)], check=True, capture_output=True).stdout == data
    assert gzip.decompress(packed) == data
    assert subprocess.run(["gzip", "-t", str(out)], check=False).returncode == 0


def test_gzip_parallel_compresses_chunks_at_the_same_time(tmp_path, monkeypatch):
    src = tmp_path / "plain"
    src.write_bytes(os.urandom(8 * 1024) * 64)
    real = _compression._gzip_member
    state = {"active": 0, "most": 0}
    lock = threading.Lock()

    def member(data, level):
        with lock:
            state["active"] += 1
            state["most"] = max(state["most"], state["active"])
        time.sleep(0.02)
        try:
            return real(data, level)
        finally:
            with lock:
                state["active"] -= 1

    monkeypatch.setattr(_compression, "_gzip_member", member)
    out = tmp_path / "plain.gz"
    with open(out, "wb") as handle:
        sb.gzip_parallel(str(src), handle, 6, sb.Deadline(0), workers=2, chunk_size=32 * 1024)
    assert state["most"] == 2
    assert gzip.decompress(out.read_bytes()) == src.read_bytes()


def test_gzip_parallel_empty_input_is_valid_gzip(tmp_path):
    src = tmp_path / "empty"
    src.write_bytes(b"")
    out = tmp_path / "empty.gz"
    with open(out, "wb") as handle:
        sb.gzip_parallel(str(src), handle, 6, sb.Deadline(0))
    assert gzip.decompress(out.read_bytes()) == b""


@pytest.mark.parametrize("compression", [
    "gzip",
    pytest.param("zstd", marks=pytest.mark.skipif(not HAS_ZSTD, reason="zstd command not installed")),
    "none",
])
def test_backup_compressions_decompress_to_the_snapshot(db, dest, tmp_path, compression):
    result = backup(db, dest, compression=compression)
    assert result["path"] == str(dest / (NAME + sb.SUFFIXES[compression]))
    plain = unpack(result["path"], tmp_path, compression)
    assert plain.stat().st_size == result["db_size"]
    # byte for byte what the backup API gives for the (quiet) source
    reference = tmp_path / "reference.db"
    source, target = sqlite3.connect("file:%s?mode=ro" % db, uri=True), sqlite3.connect(str(reference))
    source.backup(target)
    source.close()
    target.close()
    assert plain.read_bytes() == reference.read_bytes()
    assert plain.read_bytes()[:16] == sb.SQLITE_HEADER
    assert rows_in(plain) == (200, 200)
    if compression == "gzip":
        assert gzip.decompress(Path(result["path"]).read_bytes()) == plain.read_bytes()
    assert sb.verify_backup(result["path"])["ok"]


def test_zstd_without_command_or_library_fails_clearly(db, dest, monkeypatch):
    monkeypatch.setattr(_compression, "zstd_command", lambda: None)
    monkeypatch.setattr(_compression, "zstandard", None)
    with pytest.raises(sb.MissingDependency, match="zstandard is required for compression=zstd"):
        backup(db, dest, compression="zstd", check_mode=True)
    assert os.listdir(dest) == []


# -- the manifest and the published files --------------------------------------------

def test_manifest_fields(db, dest):
    result = backup(db, dest, check="integrity_check")
    path = Path(result["path"])
    manifest_path = Path(result["manifest_path"])
    assert manifest_path.name == path.name + ".manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert set(manifest) == MANIFEST_KEYS
    assert manifest["format"] == 1
    assert manifest["backup"] == path.name == NAME + ".db.gz"
    assert manifest["source"] == str(db)
    assert manifest["created"] == "2026-11-28T15:55:49Z"
    assert manifest["compression"] == "gzip"
    assert manifest["size"] == path.stat().st_size == result["size"]
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() == result["sha256"]
    assert manifest["check"] == "integrity_check" and manifest["check_result"] == "ok"
    assert manifest["user_version"] == 3 == result["user_version"]
    assert manifest["page_size"] * manifest["page_count"] == manifest["db_size"] == result["db_size"]
    assert manifest["sqlite_version"] == sqlite3.sqlite_version
    assert manifest["started"] == "2026-11-28T15:55:49.123Z"
    assert manifest["duration_s"] >= 0
    for published in (path, manifest_path):
        assert stat.S_IMODE(published.stat().st_mode) == 0o600
    assert sorted(os.listdir(dest)) == sorted([path.name, manifest_path.name])  # no temp files left
    assert result["changed"] is True and result["throughput_mib_s"] > 0


def test_nothing_under_the_final_name_until_published(db, dest, monkeypatch):
    listings = []
    real = _compression._gzip_member

    def member(data, level):
        listings.append(sorted(os.listdir(dest)))
        return real(data, level)

    monkeypatch.setattr(_compression, "_gzip_member", member)
    result = backup(db, dest)
    final = NAME + ".db.gz"
    assert listings
    for listing in listings:
        assert final not in listing and final + ".manifest.json" not in listing
        assert [n for n in listing if n.startswith("." + final + ".snapshot-")]
        assert [n for n in listing if n.startswith("." + final + ".tmp-")]
        assert all(n.startswith(".") for n in listing)
    assert sorted(os.listdir(dest)) == [final, final + ".manifest.json"]
    assert result["path"] == str(dest / final)


def test_mode_option(db, dest):
    result = backup(db, dest, mode="0640")
    assert stat.S_IMODE(os.stat(result["path"]).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(result["manifest_path"]).st_mode) == 0o640


def test_tmpdir_option_holds_the_snapshot(db, dest, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    seen = []
    real = sb.inspect_database

    def spy(path, *args, **kwargs):
        seen.append(os.path.dirname(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(sb, "inspect_database", spy)
    backup(db, dest, tmpdir=str(work))
    assert seen == [str(work)]
    assert os.listdir(work) == []


def test_same_second_does_not_overwrite(db, dest):
    first = backup(db, dest)
    content = Path(first["path"]).read_bytes()
    with pytest.raises(sb.BackupError, match="already exists"):
        backup(db, dest)
    assert Path(first["path"]).read_bytes() == content
    assert len(os.listdir(dest)) == 2


def test_create_dest(db, tmp_path):
    target = tmp_path / "new" / "backups"
    result = backup(db, target, create_dest=True)
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert os.path.isfile(result["path"])


# -- errors ---------------------------------------------------------------------

def _write_file(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("content, message", [
    (b"this is a text file, not a database\n" * 10, r"is not a SQLite database \(file is not a database\)"),
    (b"", r"is empty, not a SQLite database"),
    (b"SQLite format 3\x00" + bytes(range(256)) * 20, r"is not a SQLite database \(file is not a database\)"),
])
def test_not_a_database(tmp_path, dest, content, message):
    src = _write_file(tmp_path / "fake.db", content)
    with pytest.raises(sb.BackupError, match=message) as info:
        backup(src, dest)
    assert repr(str(src)) in info.value.msg
    assert os.listdir(dest) == []


@pytest.mark.parametrize("case, message", [
    ("missing", r"src '.*/nope.db' does not exist"),
    ("directory", r"src '.*' is not a regular file"),
])
def test_bad_source(tmp_path, dest, case, message):
    src = tmp_path / "nope.db"
    if case == "directory":
        src = tmp_path / "adir"
        src.mkdir()
    for check_mode in (False, True):
        with pytest.raises(sb.BackupError, match=message):
            backup(src, dest, check_mode=check_mode)


@pytest.mark.parametrize("case, message", [
    ("missing", r"dest '.*' does not exist \(set create_dest=true to create it\)"),
    ("file", r"dest '.*' exists but is not a directory"),
])
def test_bad_dest(db, tmp_path, case, message):
    target = tmp_path / "target"
    if case == "file":
        target.write_text("x")
    with pytest.raises(sb.BackupError, match=message):
        backup(db, target)


def corrupt_middle_pages(path, seed=1):
    """Overwrite some pages in the middle of a closed database with random bytes."""
    page_size = 4096
    size = os.path.getsize(path)
    pages = size // page_size
    rnd = random.Random(seed)
    with open(path, "r+b") as handle:
        for page in range(pages // 3, pages // 3 + 5):
            handle.seek(page * page_size)
            handle.write(bytes(rnd.randrange(256) for dummy in range(page_size)))


@pytest.mark.parametrize("check", ["quick_check", "integrity_check"])
def test_corrupt_source_publishes_nothing(tmp_path, dest, check):
    src = make_db(tmp_path / "shop.db", rows=3000)
    corrupt_middle_pages(src)
    with pytest.raises(sb.BackupError) as info:
        backup(src, dest, check=check)
    assert info.value.msg.startswith("%s of the snapshot of src %r failed, the source database is corrupt; no backup was written: " % (check, str(src)))
    assert os.listdir(dest) == []


@pytest.mark.parametrize("fail_on", ["compress", "manifest"])
@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_disk_full_leaves_no_temp_files_and_old_backups_alone(db, dest, monkeypatch, fail_on, compression):
    old = dest / "milos_shop_backup_2026-11-27T03-00-00.db.gz"
    old.write_bytes(b"old backup")
    old_manifest = dest / (old.name + ".manifest.json")
    old_manifest.write_text("{}")
    real = _files.write_all
    payloads = []

    def full(fileobj, data):
        is_manifest = bytes(data[:1]) == b"{"
        if (fail_on == "manifest") == is_manifest:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        payloads.append(len(data))
        return real(fileobj, data)

    monkeypatch.setattr(_compression, "write_all", full)
    monkeypatch.setattr(_files, "write_all", full)
    with pytest.raises(sb.BackupError) as info:
        backup(db, dest, compression=compression)
    assert info.value.msg.startswith("disk full on %r during %s: " % (str(dest), fail_on))
    assert "no backup was written" in info.value.msg
    assert sorted(os.listdir(dest)) == sorted([old.name, old_manifest.name])
    assert old.read_bytes() == b"old backup" and old_manifest.read_text() == "{}"


def test_unexpected_errors_propagate_and_clean_up(db, dest, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(sb, "sha256_file", boom)
    with pytest.raises(RuntimeError):
        backup(db, dest)
    assert os.listdir(dest) == []


AS_NOBODY = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv") or not os.path.exists("/usr/bin/python3"),
                               reason="needs root to switch to the user nobody")


@AS_NOBODY
@pytest.mark.parametrize("case, expected", [
    ("wal-without-shm", ["cannot open src {src!r} read-only", "{shm!r} does not exist and its directory", "is not writable by uid"]),
    ("unreadable-src", ["src {src!r} is not readable: [Errno 13] Permission denied"]),
    ("unwritable-dest", ["dest {out!r} is not writable by uid"]),
])
def test_permission_problems_as_another_user(case, expected):
    """Run as the user nobody, with real permissions (root passes every access check)."""
    base = Path(tempfile.mkdtemp(prefix="sqlite_backup_perm_"))
    try:
        base.chmod(0o755)
        data = base / "data"
        data.mkdir(mode=0o755)
        src = make_db(data / "shop.db")
        src.chmod(0o600 if case == "unreadable-src" else 0o644)
        out = base / "out"
        out.mkdir()
        out.chmod(0o755 if case == "unwritable-dest" else 0o777)
        # A copy of the module_utils that nobody can read: the checkout may sit in a 0700 directory (mktemp -d).
        code_root = base / "code"
        shutil.copytree(Path(sb.__file__).parent, code_root / "ansible_collections" / "milos_shop" / "ops" / "plugins" / "module_utils",
                        ignore=shutil.ignore_patterns("__pycache__"))
        for path in [code_root, *code_root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        code = ("import sys; sys.path.insert(0, %r)\n"
                "from ansible_collections.milos_shop.ops.plugins.module_utils import _sqlite_backup as sb\n"
                "try:\n    sb.take_backup(%r, %r)\nexcept sb.BackupError as e:\n    print(e.msg)\n"
                % (str(code_root), str(src), str(out)))
        res = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3", "-c", code],
                             capture_output=True, text=True, cwd=str(base), check=False)
        assert res.returncode == 0, res.stderr
        for text in expected:
            assert text.format(src=str(src), shm=str(src) + "-shm", out=str(out)) in res.stdout
        assert os.listdir(out) == []
        assert sorted(os.listdir(data)) == ["shop.db"]
    finally:
        shutil.rmtree(base)


# -- check mode -------------------------------------------------------------------

def test_check_mode_predicts_and_writes_nothing(db, tmp_path):
    target = tmp_path / "later"
    before = sorted(os.listdir(tmp_path))
    result = backup(db, target, check_mode=True, create_dest=True)
    assert result["changed"] is True
    assert result["path"] == str(target / (NAME + ".db.gz"))
    assert result["manifest_path"] == result["path"] + ".manifest.json"
    assert result["db_size"] == db.stat().st_size
    assert result["size"] is None and result["sha256"] is None
    assert result["diff"]["before"] == {"path": result["path"], "state": "absent", "dest": "absent"}
    assert result["diff"]["after"]["state"] == "file" and result["diff"]["after"]["db_size"] == result["db_size"]
    # nothing created: no dest, and no -wal/-shm beside the quiet source
    assert sorted(os.listdir(tmp_path)) == before


def test_check_mode_uses_the_current_time(db, dest):
    result = sb.take_backup(str(db), str(dest), check_mode=True)
    name = os.path.basename(result["path"])
    stamp = datetime.datetime.strptime(name[len("milos_shop_backup_"):-len(".db.gz")], "%Y-%m-%dT%H-%M-%S")
    assert abs((stamp.replace(tzinfo=datetime.timezone.utc) - sb.utcnow()).total_seconds()) < 60
    assert os.listdir(dest) == []


def test_check_mode_validates_the_source(tmp_path, dest):
    src = _write_file(tmp_path / "text.db", b"hello\n" * 100)
    with pytest.raises(sb.BackupError, match="file is not a database"):
        backup(src, dest, check_mode=True)


# -- the deadline ---------------------------------------------------------------------

@pytest.mark.parametrize("phase, owner, target", [
    ("snapshot", sb, "snapshot"),
    ("check", sb, "inspect_database"),
    ("compress", _compression, "_gzip_member"),
    ("checksum", sb, "sha256_file"),
])
def test_deadline_names_the_phase_and_cleans_up(db, dest, monkeypatch, phase, owner, target):
    clock = FakeClock()
    real = getattr(owner, target)

    def slow(*args, **kwargs):
        clock.t += 31
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, target, slow)
    with pytest.raises(sb.DeadlineExceeded) as info:
        backup(db, dest, deadline=30, clock=clock)
    assert info.value.msg == "deadline of 30 s passed during %s" % phase
    assert os.listdir(dest) == []


def test_deadline_interrupts_a_long_check(tmp_path):
    src = make_db(tmp_path / "shop.db", rows=5000, wal=False)
    clock = FakeClock()

    def ticking():
        clock.t += 1
        return clock.t

    deadline = sb.Deadline(2.5, ticking)
    with pytest.raises(sb.DeadlineExceeded, match=r"^deadline of 2\.5 s passed during check$"):
        sb.inspect_database(str(src), "integrity_check", deadline)


def test_no_deadline_by_default():
    deadline = sb.Deadline(0, FakeClock())
    deadline.clock.t += 10 ** 9
    assert deadline.remaining() is None and not deadline.expired()
    deadline.check("anything")


# -- verification -----------------------------------------------------------------

def _flip_byte(path, manifest):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _flip_byte_and_fix_manifest(path, manifest):
    _flip_byte(path, manifest)
    _rewrite_manifest(manifest, sha256=hashlib.sha256(path.read_bytes()).hexdigest(), size=path.stat().st_size)


def _truncate(path, manifest):
    path.write_bytes(path.read_bytes()[:-100])


def _truncate_and_fix_manifest(path, manifest):
    _truncate(path, manifest)
    _rewrite_manifest(manifest, sha256=hashlib.sha256(path.read_bytes()).hexdigest(), size=path.stat().st_size)


def _wrong_checksum(path, manifest):
    _rewrite_manifest(manifest, sha256="0" * 64)


def _missing_manifest(path, manifest):
    manifest.unlink()


def _broken_manifest(path, manifest):
    manifest.write_text("{not json")


def _not_sqlite(path, manifest):
    path.write_bytes(gzip.compress(b"just some text, not a database\n" * 100))
    _rewrite_manifest(manifest, sha256=hashlib.sha256(path.read_bytes()).hexdigest(), size=path.stat().st_size)


def _rewrite_manifest(manifest, **changes):
    data = json.loads(manifest.read_text())
    data.update(changes)
    manifest.write_text(json.dumps(data))


@pytest.mark.parametrize("damage, expected", [
    (None, None),
    (_truncate, "checksum mismatch"),
    (_truncate_and_fix_manifest, "cannot decompress"),
    (_flip_byte, "checksum mismatch"),
    (_flip_byte_and_fix_manifest, "cannot decompress"),
    (_wrong_checksum, "checksum mismatch"),
    (_missing_manifest, "is missing"),
    (_broken_manifest, "is not readable JSON"),
    (_not_sqlite, "does not hold a SQLite database (file is not a database)"),
])
def test_verify(db, dest, tmp_path, damage, expected):
    result = backup(db, dest)
    path, manifest = Path(result["path"]), Path(result["manifest_path"])
    if damage:
        damage(path, manifest)
    listing = sorted(os.listdir(dest))
    stamps = {name: os.stat(dest / name).st_mtime_ns for name in listing}
    work = tmp_path / "verify-tmp"
    work.mkdir()
    verified = sb.verify_backup(str(path), tmpdir=str(work))
    assert verified["changed"] is False
    assert verified["check"] == "integrity_check"
    if expected is None:
        assert verified["ok"] is True and verified["problems"] == []
        assert verified["sha256"] == result["sha256"] and verified["page_count"] == result["page_count"]
    else:
        assert verified["ok"] is False
        assert any(expected in problem for problem in verified["problems"]), verified["problems"]
    # verification changes nothing and leaves no temp files
    assert sorted(os.listdir(dest)) == listing
    assert {name: os.stat(dest / name).st_mtime_ns for name in listing} == stamps
    assert os.listdir(work) == []


def test_verify_corrupt_database_inside_a_good_gzip(tmp_path, dest):
    src = make_db(tmp_path / "shop.db", rows=3000)
    result = backup(src, dest, compression="none")
    corrupt_middle_pages(result["path"])
    data = Path(result["path"]).read_bytes()
    _rewrite_manifest(Path(result["manifest_path"]), sha256=hashlib.sha256(data).hexdigest())
    verified = sb.verify_backup(result["path"])
    assert verified["ok"] is False
    assert any(p.startswith("integrity_check of %r failed" % result["path"]) for p in verified["problems"]), verified["problems"]


def test_verify_deadline(db, dest, monkeypatch):
    result = backup(db, dest)
    clock = FakeClock()
    real = sb.decompress

    def slow(*args, **kwargs):
        clock.t += 11
        return real(*args, **kwargs)

    monkeypatch.setattr(sb, "decompress", slow)
    with pytest.raises(sb.DeadlineExceeded, match=r"^deadline of 10 s passed during decompress$"):
        sb.verify_backup(result["path"], deadline=10, clock=clock)


def test_verify_missing_backup_fails(tmp_path):
    with pytest.raises(sb.BackupError, match=r"backup '.*/gone.db.gz' failed verification: backup '.*' does not exist") as info:
        sb.verify_backup(str(tmp_path / "gone.db.gz"))
    assert info.value.result["ok"] is False


def test_verify_reads_the_demo_backup_shape(db, dest):
    """A manifest another tool (retention_prune) relies on: name and keys."""
    result = backup(db, dest)
    manifest = json.loads(Path(result["path"] + ".manifest.json").read_text())
    for key in ("backup", "created", "sha256", "check_result"):
        assert key in manifest


# -- verify in the same run, the created directory ------------------------------------------

@pytest.mark.parametrize("verify", ["quick_check", "integrity_check"])
@pytest.mark.parametrize("compression", [
    "gzip",
    pytest.param("zstd", marks=pytest.mark.skipif(not HAS_ZSTD, reason="zstd command not installed")),
    "none",
])
def test_verify_in_the_same_run(db, dest, verify, compression):
    result = backup(db, dest, verify=verify, compression=compression)
    assert result["verify"] == verify and result["verified"] is True and result["verify_problems"] == []
    manifest = json.loads(Path(result["manifest_path"]).read_text())
    assert manifest["verify"] == verify and manifest["verify_result"] == "ok"
    assert set(manifest) == MANIFEST_KEYS | {"verify", "verify_result"}
    assert manifest["sha256"] == hashlib.sha256(Path(result["path"]).read_bytes()).hexdigest()
    assert sorted(os.listdir(dest)) == sorted([os.path.basename(result["path"]), os.path.basename(result["manifest_path"])])
    assert sb.verify_backup(result["path"])["ok"]


def test_verify_none_is_the_default(db, dest):
    result = backup(db, dest)
    assert result["verify"] == "none" and result["verified"] is False
    assert set(json.loads(Path(result["manifest_path"]).read_text())) == MANIFEST_KEYS


def test_a_backup_that_fails_verification_is_not_published(db, dest, monkeypatch):
    real = sb.compress

    def damaged(compression, src_path, out, level, deadline):
        real(compression, src_path, out, level, deadline)
        out.flush()
        out.seek(out.tell() // 2)
        out.write(b"\x00" * 64)  # what a bad disk or a bad compressor would do

    monkeypatch.setattr(sb, "compress", damaged)
    with pytest.raises(sb.BackupError) as info:
        backup(db, dest, verify="integrity_check")
    assert info.value.msg.startswith("integrity_check of the compressed backup of src %r failed; no backup was written: " % str(db))
    assert info.value.result["verify_problems"]
    assert os.listdir(dest) == []


def test_check_mode_predicts_verify_and_the_created_directory(db, tmp_path):
    target = tmp_path / "new" / "backups"
    result = backup(db, target, check_mode=True, create_dest=True, verify="integrity_check", dir_mode="0750",
                    dest_attributes=dict(owner="root", group="root"))
    assert result["verify"] == "integrity_check" and result["verified"] is None and result["dest_created"] is True
    assert result["diff"]["after"]["dest_attributes"] == dict(owner="root", group="root", mode="0750")
    assert not (tmp_path / "new").exists()
    real = backup(db, target, create_dest=True, verify="integrity_check", dir_mode="0750", mode="0640")
    assert real["dest_created"] is True and real["verified"] is True
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(real["path"]).st_mode) == 0o640


@pytest.mark.parametrize("kwargs, message", [
    (dict(dir_mode="u=rwx"), "dir_mode 'u=rwx' is not an octal mode such as '0700'"),
    (dict(verify="deep"), "verify 'deep' is not one of none, quick_check, integrity_check"),
    (dict(dest_attributes=dict(owner="no-such-user-here")), "owner 'no-such-user-here' is not a known user"),
    (dict(dest_attributes=dict(group="no-such-group-here")), "group 'no-such-group-here' is not a known group"),
])
def test_bad_new_options_name_the_option(db, dest, kwargs, message):
    with pytest.raises(sb.BackupError) as info:
        backup(db, dest, check_mode=True, **kwargs)
    assert info.value.msg == message


# -- concurrent runs into one directory (issue 8 point 3) ------------------------------------

CONCURRENT = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, sys.argv[1])
    from ansible_collections.milos_shop.ops.plugins.module_utils import _sqlite_backup as sb
    start = float(sys.argv[4])
    while time.time() < start:
        time.sleep(0.001)
    try:
        result = sb.take_backup(sys.argv[2], sys.argv[3], deadline=60)
    except sb.BackupError as exc:
        print(json.dumps({"error": exc.msg}))
    else:
        print(json.dumps({"path": result["path"], "sha256": result["sha256"], "lock_wait_s": result["lock_wait_s"]}))
""")


def test_four_concurrent_runs_each_publish_their_own_backup(db, dest):
    collections = str(Path(sb.__file__).parents[5])
    start = time.time() + 1.0
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT, collections, str(db), str(dest), repr(start)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for dummy in range(4)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert [r for r in results if "error" in r] == []
    paths = sorted(r["path"] for r in results)
    assert len(set(paths)) == 4
    assert sorted(os.listdir(dest)) == sorted([os.path.basename(p) for p in paths] + [os.path.basename(p) + ".manifest.json" for p in paths])
    for r in results:
        assert sb.verify_backup(r["path"])["ok"]
        assert json.loads(Path(r["path"] + ".manifest.json").read_text())["sha256"] == r["sha256"]
    assert max(r["lock_wait_s"] for r in results) > 0  # they took turns


def test_a_second_run_in_the_same_second_waits_for_the_next(db, dest):
    moments = [NOW, NOW + datetime.timedelta(seconds=1)]
    slept = []

    def now():
        return moments.pop(0) if len(moments) > 1 else moments[0]

    first = backup(db, dest)
    second = sb.take_backup(str(db), str(dest), now=now, sleep=slept.append)
    assert os.path.basename(first["path"]) == NAME + ".db.gz"
    assert os.path.basename(second["path"]) == "milos_shop_backup_2026-11-28T15-55-50.db.gz"
    assert len(slept) == 1 and 0.8 < slept[0] < 0.9
