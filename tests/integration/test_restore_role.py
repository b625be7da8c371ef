"""playbooks/restore.yml (role milos_shop.ops.restore) against a stand-in of its own, on the real engine.

Backups are made with playbooks/backup.yml (the backup role) into a directory of
the test; damaged or special backups are derived from them with the
collection's own module_utils.
"""

from __future__ import annotations

import datetime
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
from pathlib import Path

import pytest
import yaml

from ansible_collections.milos_shop.ops.plugins.module_utils import _sqlite_backup as sb
from tests.helpers.shop_vars import milos_shop_vars

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
APP_UID = 1000

pytestmark = pytest.mark.docker


# -- helpers ----------------------------------------------------------------------

def write_inventory(tmp_path: Path, standin, backup_dir: Path, **extra) -> Path:
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        # where the shop lives: one name per fact, read by the backup and restore roles
        **milos_shop_vars(standin, backup_dir),
        "backup_retention_enabled": False,
        # the shared app steps (stop, start and wait healthy)
        "milos_shop_health_timeout": 5,
        "milos_shop_health_retries": 3,
        "milos_shop_stop_timeout": 10,
        "milos_shop_wait_timeout": 60,
    }
    host.update(extra)
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump({"milos_shop": {"hosts": {"shop": host}}}))
    return path


def playbook(name: str, inventory: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run([str(BIN / "ansible-playbook"), f"playbooks/{name}.yml", "-i", str(inventory), *args],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=timeout, check=False)


def extra(**variables) -> list[str]:
    return ["-e", json.dumps(variables)]


def output(res: subprocess.CompletedProcess) -> str:
    """The run's output with the callback's YAML line folding undone, for message checks."""
    return " ".join((res.stdout + res.stderr).split())


def add_orders(standin, prefix: str, count: int) -> None:
    for i in range(count):
        status, body, dummy = standin.request("/api/orders", method="POST", body={"customer": f"{prefix}-{i}", "totalCents": 100 + i})
        assert status == 201, body


def orders(standin) -> list[tuple]:
    return standin.query("SELECT id, customer, total_cents FROM orders ORDER BY id")


def back_up(inventory: Path, backup_dir: Path) -> Path:
    before = set(backup_dir.glob("*.db.gz")) if backup_dir.exists() else set()
    res = playbook("backup", inventory)
    assert res.returncode == 0, res.stdout + res.stderr
    (new,) = set(backup_dir.glob("*.db.gz")) - before
    return new


def started_at(standin) -> str:
    return standin.inspect()["State"]["StartedAt"]


def fingerprint(path: Path) -> dict:
    st = path.stat()
    return dict(sha256=hashlib.sha256(path.read_bytes()).hexdigest(), ino=st.st_ino, ctime=st.st_ctime_ns, mtime=st.st_mtime_ns)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy_backup(good: Path, stamp: str) -> tuple[Path, Path]:
    """A copy of a published backup and its manifest under another time stamp."""
    name = good.name.replace(good.name[len("milos_shop_backup_"):len("milos_shop_backup_") + 19], stamp)
    path = good.with_name(name)
    shutil.copy2(good, path)
    manifest = json.loads(Path(str(good) + ".manifest.json").read_text())
    manifest["backup"] = name
    Path(str(path) + ".manifest.json").write_text(json.dumps(manifest))
    return path, Path(str(path) + ".manifest.json")


def fix_manifest(path: Path, manifest: Path) -> None:
    data = json.loads(manifest.read_text())
    data.update(sha256=sha(path), size=path.stat().st_size)
    manifest.write_text(json.dumps(data))


def truncate_gzip(path: Path, manifest: Path) -> None:
    path.write_bytes(path.read_bytes()[:-200])
    fix_manifest(path, manifest)


def flip_bytes(path: Path, manifest: Path) -> None:
    data = bytearray(path.read_bytes())
    for offset in range(len(data) // 2, len(data) // 2 + 16):
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    fix_manifest(path, manifest)


def not_sqlite(path: Path, manifest: Path) -> None:
    path.write_bytes(gzip.compress(b"SELECT 'this is a SQL dump, not a database';\n" * 200))
    fix_manifest(path, manifest)


def wrong_checksum(path: Path, manifest: Path) -> None:
    data = json.loads(manifest.read_text())
    data["sha256"] = "0" * 64
    manifest.write_text(json.dumps(data))


def corrupt_middle_pages(path: Path, seed: int = 1) -> None:
    """Overwrite some pages in the middle of a database file with random bytes."""
    page_size = 4096
    pages = path.stat().st_size // page_size
    rnd = random.Random(seed)
    with open(path, "r+b") as handle:
        for page in range(pages // 2, pages // 2 + 3):
            handle.seek(page * page_size)
            handle.write(bytes(rnd.randrange(256) for dummy in range(page_size)))


@pytest.fixture
def setup(standin, tmp_path):
    """The stand-in with 5 orders, a backup of them, then 3 more orders."""
    backup_dir = tmp_path / "ops-backups"
    inventory = write_inventory(tmp_path, standin, backup_dir)
    add_orders(standin, "before", 5)
    backup = back_up(inventory, backup_dir)
    at_backup = orders(standin)
    add_orders(standin, "after", 3)
    assert len(orders(standin)) == 8
    return dict(standin=standin, backup_dir=backup_dir, inventory=inventory, backup=backup, at_backup=at_backup, tmp_path=tmp_path)


def marker(setup) -> Path:
    """The stand-in's maintenance marker (tests.helpers.shop_vars puts it beside the backup directory)."""
    return setup["backup_dir"].parent / f"{setup['standin'].project}.maintenance.json"


# -- tests ------------------------------------------------------------------------

def test_restore_of_a_plain_file_without_an_app(tmp_path):
    """An app managed elsewhere: restore_app_enabled false and the database's path set; no container at all."""
    db = tmp_path / "plain" / "shop.db"
    db.parent.mkdir()
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, total_cents INTEGER)")
    con.executemany("INSERT INTO orders (customer, total_cents) VALUES (?, ?)", [(f"c{i}", i) for i in range(10)])
    con.close()
    backups = tmp_path / "backups"
    backup = sb.take_backup(str(db), str(backups), create_dest=True)["path"]
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("DELETE FROM orders WHERE id > 3")
    con.close()
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "milos_shop_db_path": str(db), "milos_shop_backup_dir": str(backups),
            "milos_shop_maintenance_file": str(tmp_path / "maintenance.json"),
            "milos_shop_container": "no-such-container-for-a-plain-file", "restore_app_enabled": False}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"milos_shop": {"hosts": {"shop": host}}}))

    res = playbook("restore", inventory, "--check")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Stop: nothing (restore_app_enabled is false)" in output(res)
    res = playbook("restore", inventory)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"Restored {db} from {backup}" in output(res)
    con = sqlite3.connect(db)
    try:
        assert con.execute("SELECT count(*) FROM orders").fetchone()[0] == 10
    finally:
        con.close()
    assert not (tmp_path / "maintenance.json").exists()


def test_restore_newest(setup):
    standin, db = setup["standin"], setup["standin"].db_path
    mode = stat.S_IMODE(db.stat().st_mode)
    res = playbook("restore", setup["inventory"])
    assert res.returncode == 0, res.stdout + res.stderr
    text = output(res)
    assert f"Chosen backup {setup['backup']}" in text
    assert f"{standin.url}/api/services" in text and "200" in text
    # the maintenance window was open while the app was stopped, and is closed now
    assert f"restore of {standin.db_path} from {setup['backup'].name}" in text
    assert not marker(setup).exists()

    # the app is healthy and holds exactly the orders at backup time
    assert standin.health() == "healthy"
    assert orders(standin) == setup["at_backup"]
    status, body, dummy = standin.request("/api/orders/count")
    assert status == 200 and body == {"count": 5}
    # owned by the app user, mode kept, nothing else in the data directory (no temp files)
    for name in os.listdir(standin.data_dir):
        assert (standin.data_dir / name).stat().st_uid == APP_UID, name
    assert sorted(os.listdir(standin.data_dir)) == ["milos_shop.db", "milos_shop.db-shm", "milos_shop.db-wal"]
    assert stat.S_IMODE(db.stat().st_mode) == mode

    # the pre-restore copy: the database after the clean stop (its WAL checkpointed into it), root-only
    (copy,) = (setup["backup_dir"] / "pre-restore").iterdir()
    assert copy.name.startswith("milos_shop.db.pre-restore-")
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600 and copy.stat().st_uid == 0
    assert stat.S_IMODE(copy.parent.stat().st_mode) == 0o700
    con = sqlite3.connect(f"file:{copy}?mode=ro&immutable=1", uri=True)
    try:
        assert con.execute("SELECT count(*) FROM orders").fetchone()[0] == 8
    finally:
        con.close()


def test_check_mode_changes_nothing(setup):
    standin, db = setup["standin"], setup["standin"].db_path
    files = {name: fingerprint(standin.data_dir / name) for name in ["milos_shop.db"]}
    listing = sorted(os.listdir(standin.data_dir))
    started = started_at(standin)
    res = playbook("restore", setup["inventory"], "--check")
    assert res.returncode == 0, res.stdout + res.stderr
    text = output(res)
    assert f"Backup: {setup['backup']} (verification passed)" in text
    assert (f"Stop: service milos-shop of Compose project {standin.project} (container {standin.container} is running, health healthy),"
            " in a maintenance window") in text
    assert f"Replace: {db} (" in text
    assert f"the database is open now, its side files {db}-wal, {db}-shm are checkpointed by the stop" in text
    assert {name: fingerprint(standin.data_dir / name) for name in files} == files
    assert sorted(os.listdir(standin.data_dir)) == listing
    assert started_at(standin) == started and standin.health() == "healthy"
    assert len(orders(standin)) == 8
    assert not (setup["backup_dir"] / "pre-restore").exists()


@pytest.mark.parametrize("damage, expected", [
    (truncate_gzip, "cannot decompress"),
    (flip_bytes, "cannot decompress"),
    (not_sqlite, "does not hold a SQLite database (file is not a database)"),
    (wrong_checksum, "checksum mismatch"),
], ids=["truncated-gzip", "flipped-bytes", "not-sqlite", "checksum-mismatch"])
def test_bad_backup_given_as_a_path_is_refused(setup, damage, expected):
    standin, db = setup["standin"], setup["standin"].db_path
    path, manifest = copy_backup(setup["backup"], "2027-01-01T00-00-00")
    damage(path, manifest)
    before = fingerprint(db)
    started = started_at(standin)
    res = playbook("restore", setup["inventory"], *extra(restore_backup=str(path)))
    assert res.returncode == 2, res.stdout + res.stderr
    text = output(res)
    assert f"Backup {path} failed verification: {path.name}: " in text and expected in text
    assert "Nothing was stopped or changed." in text
    # the live database and the app were never touched
    assert fingerprint(db) == before
    assert started_at(standin) == started and standin.health() == "healthy"
    assert len(orders(standin)) == 8
    assert not (setup["backup_dir"] / "pre-restore").exists()


def test_a_time_stamp_chooses_that_backup(setup):
    standin = setup["standin"]
    stamp = setup["backup"].name[len("milos_shop_backup_"):len("milos_shop_backup_") + 19]
    newer, manifest = copy_backup(setup["backup"], "2099-01-01T00-00-00")  # a newer one that must not be taken
    res = playbook("restore", setup["inventory"], *extra(restore_backup=stamp))
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"Chosen backup {setup['backup']}" in output(res)
    assert orders(standin) == setup["at_backup"]

    res = playbook("restore", setup["inventory"], *extra(restore_backup="2000-01-01T00-00-00"))
    assert res.returncode == 2
    assert f"No backup milos_shop_backup_2000-01-01T00-00-00.db.gz|.db.zst|.db in {setup['backup_dir']}" in output(res)


def test_newest_skips_a_corrupt_newest_backup(setup):
    standin = setup["standin"]
    corrupt, manifest = copy_backup(setup["backup"], "2099-12-31T23-59-59")
    data = bytearray(corrupt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    res = playbook("restore", setup["inventory"])
    assert res.returncode == 0, res.stdout + res.stderr
    text = output(res)
    assert f"Chosen backup {setup['backup']}" in text
    assert f"Skipped the newer {corrupt.name}: checksum mismatch" in text
    assert orders(standin) == setup["at_backup"] and standin.health() == "healthy"


def test_failed_health_probe_is_rolled_back(setup):
    standin, db = setup["standin"], setup["standin"].db_path
    current = orders(standin)
    res = playbook("restore", setup["inventory"], *extra(milos_shop_health_url=f"{standin.url}/api/no-such-health"))
    assert res.returncode == 2, res.stdout + res.stderr
    text = output(res)
    assert "failed in step 'Assert that the app is healthy'" in text
    assert f"{standin.url}/api/no-such-health" in text and "404" in text
    assert "Rolled back: the pre-restore copy" in text and "was put back." in text
    assert f"The app ({standin.container}) is running and healthy again." in text
    (copy,) = (setup["backup_dir"] / "pre-restore").iterdir()
    assert f"The pre-restore copy stays at {copy}." in text
    assert not marker(setup).exists(), "a failed restore left its maintenance window open"
    # the database as it was before the restore, and the app serving it
    assert standin.health() == "healthy"
    assert orders(standin) == current and len(current) == 8
    assert db.stat().st_uid == APP_UID


def test_restored_app_that_never_gets_healthy_is_rolled_back(setup):
    """The newest backup is a good SQLite database the app cannot serve (no services table): health fails after the start."""
    standin = setup["standin"]
    current = orders(standin)
    wrong = setup["tmp_path"] / "wrong-schema.db"
    con = sqlite3.connect(wrong, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, service_id INTEGER, total_cents INTEGER)")
    con.close()
    when = datetime.datetime(2099, 1, 1, tzinfo=datetime.timezone.utc)
    sb.take_backup(str(wrong), str(setup["backup_dir"]), now=lambda: when)

    res = playbook("restore", setup["inventory"], *extra(milos_shop_wait_timeout=45))
    assert res.returncode == 2, res.stdout + res.stderr
    text = output(res)
    assert "milos_shop_backup_2099-01-01T00-00-00.db.gz failed in step 'Start the app and wait until Compose reports it healthy'" in text
    assert "Rolled back: the pre-restore copy" in text and "is running and healthy again" in text
    assert standin.health() == "healthy"
    assert orders(standin) == current


def test_crashed_app_with_a_corrupt_database(setup):
    """The app died (its -wal/-shm stay behind) and the database has damaged pages: the copy keeps it all, the restore succeeds."""
    standin, db = setup["standin"], setup["standin"].db_path
    add_orders(standin, "bulk", 300)
    subprocess.run(["docker", "kill", standin.container], check=True, capture_output=True)
    wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
    assert wal.exists() and shm.exists()
    corrupt_middle_pages(db)
    saved = {suffix: sha(Path(f"{db}{suffix}")) for suffix in ("", "-wal", "-shm")}

    res = playbook("restore", setup["inventory"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"Stale files removed: {wal}, {shm}." in output(res)
    assert standin.health() == "healthy"
    assert orders(standin) == setup["at_backup"]
    # the pre-restore copy holds the damaged database and its WAL, byte for byte
    pre = setup["backup_dir"] / "pre-restore"
    (copy,) = [p for p in pre.iterdir() if p.name.endswith(tuple("0123456789"))]
    assert {suffix: sha(Path(f"{copy}{suffix}")) for suffix in ("", "-wal", "-shm")} == saved
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in pre.iterdir())


def test_postgresql_restore(postgres, tmp_path):
    backup_dir = tmp_path / "pg-backups"
    connection = {
        "backup_engine": "postgresql", "backup_pg_host": postgres.host, "backup_pg_port": postgres.port,
        "backup_pg_database": postgres.database, "backup_pg_user": postgres.user, "backup_pg_password": postgres.password,
        "restore_engine": "postgresql", "restore_pg_host": postgres.host, "restore_pg_port": postgres.port,
        "restore_pg_database": postgres.database, "restore_pg_user": postgres.user, "restore_pg_password": postgres.password,
        "restore_app_enabled": False, "backup_dir": str(backup_dir), "backup_retention_enabled": False,
        "restore_backup_dir": str(backup_dir),
    }
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"milos_shop": {"hosts": {"shop": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable, **connection}}}}))
    postgres.psql("DROP TABLE IF EXISTS restore_orders, restore_extra")
    postgres.psql("CREATE TABLE restore_orders (id serial PRIMARY KEY, customer text NOT NULL)")
    postgres.psql("INSERT INTO restore_orders (customer) SELECT 'before-' || i FROM generate_series(1, 5) i")
    res = playbook("backup", inventory)
    assert res.returncode == 0, res.stdout + res.stderr
    (dump,) = backup_dir.glob("*.pgc")

    postgres.psql("INSERT INTO restore_orders (customer) VALUES ('after-1'), ('after-2')")
    postgres.psql("DELETE FROM restore_orders WHERE customer = 'before-1'")
    changed = postgres.psql("SELECT string_agg(customer, ',' ORDER BY id) FROM restore_orders")

    # check mode: the plan, nothing restored
    res = playbook("restore", inventory, "--check")
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"Backup: {dump} (sha256 matches its manifest, pg_restore --list reads" in output(res)
    assert postgres.psql("SELECT string_agg(customer, ',' ORDER BY id) FROM restore_orders") == changed

    # a dump whose checksum does not match its manifest is refused
    bad = dump.with_name(dump.name.replace(dump.name[18:37], "2099-01-01T00-00-00"))
    bad.write_bytes(dump.read_bytes()[:-10])
    shutil.copy(f"{dump}.manifest.json", f"{bad}.manifest.json")
    res = playbook("restore", inventory, *extra(restore_backup=str(bad)))
    assert res.returncode == 2
    assert f"Backup {bad} failed verification: {bad.name}: checksum mismatch" in output(res)
    assert postgres.psql("SELECT string_agg(customer, ',' ORDER BY id) FROM restore_orders") == changed

    # newest skips it and restores the good dump: the rows at backup time, the pre-restore dump kept
    res = playbook("restore", inventory)
    assert res.returncode == 0, res.stdout + res.stderr
    text = output(res)
    assert f"Skipped the newer {bad.name}: checksum mismatch" in text and f"from {dump}" in text
    assert postgres.psql("SELECT string_agg(customer, ',' ORDER BY id) FROM restore_orders") == ",".join(f"before-{i}" for i in range(1, 6))
    (copy,) = (backup_dir / "pre-restore").iterdir()
    assert copy.name.startswith(f"{postgres.database}.pre-restore-") and copy.suffix == ".pgc"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    listing = subprocess.run(["pg_restore", "--list", str(copy)], capture_output=True, text=True, check=True).stdout
    assert "TABLE public restore_orders" in listing
    assert postgres.password not in res.stdout + res.stderr
