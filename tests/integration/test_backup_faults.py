"""Faults around backups: the module killed, a full disk, damaged backups, and the backup role's failure paths.

The module is run the way Ansible runs it on a target (its file as a Python
program with an arguments file), so that it can be killed with SIGKILL and its
messages are exactly those an operator sees. The role runs through
ansible-playbook with a generated inventory (local connection), as in
test_daily_playbook.py.
"""

from __future__ import annotations

import datetime
import fcntl
import gzip
import hashlib
import json
import os
import random
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml

from ansible_collections.milos_shop.ops.plugins.module_utils._sqlite_backup import remove_stale_temps, take_backup, verify_backup

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MODULE = "ansible_collections.milos_shop.ops.plugins.modules.sqlite_backup"
PREFIX = "milos_shop_backup_"


# -- helpers ----------------------------------------------------------------------

def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def snapshot_dir(directory: Path) -> dict:
    """Every entry of a directory with the sha256 of its content."""
    return {p.name: sha256(p) for p in sorted(directory.iterdir())}


def final_names(directory: Path) -> list[str]:
    """Entries under a published backup's name (backups and manifests), not temporary ones."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(PREFIX))


def make_db(path: Path, mib: float = 0, rows: int = 200) -> Path:
    """A SQLite database in WAL mode with `rows` small rows and `mib` MiB of incompressible blobs."""
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, total INTEGER)")
        con.execute("CREATE INDEX orders_customer ON orders(customer)")
        con.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)")
        con.executemany("INSERT INTO orders (customer, total) VALUES (?, ?)", [(f"customer-{i:05d}", i) for i in range(rows)])
        if mib:
            con.execute("INSERT INTO blobs (data) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                        "SELECT randomblob(4000) FROM n", (int(mib * 1024 * 1024 / 4000),))
        con.commit()
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    return path


def corrupt_middle_pages(path: Path) -> None:
    """Overwrite a few pages in the middle of a closed database with random bytes (the header stays good)."""
    pages = path.stat().st_size // 4096
    rnd = random.Random(7)
    with open(path, "r+b") as handle:
        for page in range(pages // 3, pages // 3 + 5):
            handle.seek(page * 4096)
            handle.write(bytes(rnd.randrange(256) for dummy in range(4096)))


def old_backups(src: Path, dest: Path, days: int) -> dict:
    """`days` valid backups of src with proper names and manifests, one a day, in 2025; returns the directory's contents."""
    dest.mkdir(mode=0o700, exist_ok=True)
    start = datetime.datetime(2025, 3, 1, 3, 0, 0, tzinfo=datetime.timezone.utc)
    for i in range(days):
        when = start + datetime.timedelta(days=i)
        take_backup(str(src), str(dest), now=lambda when=when: when)
    return snapshot_dir(dest)


def module_env() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT / ".cache" / "collections"))


def module_argv(tmp_path: Path, args: dict) -> list[str]:
    """Run the module as Ansible does on a target: its file as a program, arguments in a JSON file."""
    args_file = tmp_path / f"args-{time.monotonic_ns()}.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    return [sys.executable, "-m", MODULE, str(args_file)]


def run_module(tmp_path: Path, **args) -> dict:
    res = subprocess.run(module_argv(tmp_path, args), capture_output=True, text=True, env=module_env(), timeout=120, check=False)
    assert res.stdout.strip(), res.stderr
    result = json.loads(res.stdout)
    assert (res.returncode != 0) == bool(result.get("failed")), res
    return result


def write_inventory(tmp_path: Path, host_vars: dict, hosts: tuple[str, ...] = ("shop",)) -> Path:
    inventory = {
        "milos_shop": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, **host_vars},
            "hosts": {name: {} for name in hosts},
        }
    }
    path = tmp_path / f"hosts-{time.monotonic_ns()}.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def playbook(inventory: Path, *args: str, callback: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", **(env or {}))
    if callback:
        env["ANSIBLE_STDOUT_CALLBACK"] = callback
    return subprocess.run([str(BIN / "ansible-playbook"), "playbooks/backup.yml", "-i", str(inventory), *args],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=300, check=False)


def task_results(res: subprocess.CompletedProcess, host: str = "shop") -> dict:
    """{task name without the role: result} from the ansible.posix.json callback (the last of a repeated name wins)."""
    out = json.loads(res.stdout[res.stdout.index("{"):])  # -v puts "Using ... as config file" first
    results = {}
    for play in out["plays"]:
        for task in play["tasks"]:
            if host in task["hosts"]:
                results[task["task"]["name"].split(" : ", 1)[-1]] = task["hosts"][host]
    return results


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- the module killed --------------------------------------------------------------

@pytest.mark.slow
def test_sigkill_during_compress_publishes_nothing_and_the_next_run_removes_the_leftovers(tmp_path):
    src = make_db(tmp_path / "big.db", mib=200)
    dest = tmp_path / "backups"
    dest.mkdir(mode=0o700)
    proc = subprocess.Popen(module_argv(tmp_path, {"src": str(src), "dest": str(dest)}), env=module_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        # The compressed temp file appears when the compress phase starts; let it grow a little.
        while not [p for p in dest.iterdir() if ".db.gz.tmp-" in p.name and p.stat().st_size > 1 << 20]:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the compress phase did not start"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    # Nothing under a final name; the temporary files are what a killed run leaves.
    assert final_names(dest) == []
    leftovers = sorted(p.name for p in dest.iterdir())
    assert any(".snapshot-" in n for n in leftovers) and any(".tmp-" in n for n in leftovers), leftovers
    assert all(n.startswith("." + PREFIX) for n in leftovers), leftovers

    # Seconds-old temporary files may belong to a run that is starting: they are left alone.
    assert remove_stale_temps(str(dest), PREFIX, check_mode=True) == []
    past = time.time() - 60
    for name in leftovers:
        os.utime(dest / name, (past, past))
    # A temporary file that a running backup holds (its flock) is left alone whatever its age.
    busy = dest / f".{PREFIX}2026-11-28T03-00-00.db.gz.tmp-busy1234"
    busy.write_bytes(b"being written")
    os.utime(busy, (past, past))
    with open(busy, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        # The next run (here a minute later, as the leftovers' age says) succeeds and removes the leftovers.
        result = run_module(tmp_path, src=str(src), dest=str(dest))
    assert not result.get("failed"), result
    assert sorted(Path(p).name for p in result["removed_temps"]) == leftovers
    busy.unlink()
    assert sorted(p.name for p in dest.iterdir()) == [Path(result["path"]).name, Path(result["manifest_path"]).name]
    assert verify_backup(result["path"], check="quick_check")["ok"]


# -- a full disk --------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """An 8 MiB tmpfs as the backup directory (needs root); unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "small-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mount)], check=True, capture_output=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True, capture_output=True)


@pytest.mark.parametrize("phase", ["snapshot", "compress"])
def test_full_disk_fails_clearly_and_leaves_earlier_backups_intact(tmp_path, small_disk, phase):
    old_backups(make_db(tmp_path / "small.db", rows=2000), small_disk, days=2)
    before = snapshot_dir(small_disk)
    src = make_db(tmp_path / "big.db", mib=12)  # incompressible, bigger than the whole disk
    args = dict(src=str(src), dest=str(small_disk))
    if phase == "compress":
        # The snapshot fits elsewhere; the compressed backup does not fit in the destination.
        args["tmpdir"] = str(tmp_path)
    result = run_module(tmp_path, **args)
    assert result["failed"] is True
    assert result["msg"].startswith(f"disk full on {str(small_disk)!r} during {phase}: "), result["msg"]
    assert "temporary files were removed, no backup was written and existing backups were not touched" in result["msg"]
    assert snapshot_dir(small_disk) == before  # no temp files, earlier backups byte for byte the same
    assert all(verify_backup(str(small_disk / name))["ok"] for name in before if not name.endswith(".manifest.json"))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# -- verification refuses damaged backups -------------------------------------------

def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for offset in range(len(data) // 2, len(data) // 2 + 8):
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _not_gzip(path: Path) -> None:
    path.write_text("name,total\nalice,10\n")


def _gzip_not_sqlite(path: Path) -> None:
    path.write_bytes(gzip.compress(b"name,total\nalice,10\n" * 1000))
    manifest = path.with_name(path.name + ".manifest.json")
    data = json.loads(manifest.read_text())
    data.update(sha256=sha256(path), size=path.stat().st_size)  # the manifest agrees: only the content is wrong
    manifest.write_text(json.dumps(data))


def _edit_manifest_checksum(path: Path) -> None:
    manifest = path.with_name(path.name + ".manifest.json")
    data = json.loads(manifest.read_text())
    data["sha256"] = "0" * 64
    manifest.write_text(json.dumps(data))


def _no_manifest(path: Path) -> None:
    path.with_name(path.name + ".manifest.json").unlink()


@pytest.mark.parametrize("damage, expected", [
    (_truncate, ["cannot decompress {path!r} (gzip): EOFError: Compressed file ended before the end-of-stream marker was reached",
                 "size mismatch: {path!r} has", "checksum mismatch: sha256 of {path!r} is"]),
    (_flip, ["cannot decompress {path!r} (gzip): ", "checksum mismatch: sha256 of {path!r} is"]),
    (_not_gzip, ["cannot decompress {path!r} (gzip): BadGzipFile: Not a gzipped file", "checksum mismatch"]),
    (_gzip_not_sqlite, ["{path!r} does not hold a SQLite database (file is not a database)"]),
    (_edit_manifest_checksum, ["checksum mismatch: sha256 of {path!r} is {sha} but the manifest says '{zeros}'"]),
    (_no_manifest, ["manifest {manifest!r} is missing"]),
], ids=["truncated", "flipped-bytes", "not-gzip", "gzip-of-a-non-sqlite-file", "manifest-checksum-edited", "manifest-missing"])
def test_verify_refuses_a_damaged_backup_with_a_clear_message(tmp_path, damage, expected):
    dest = tmp_path / "backups"
    old_backups(make_db(tmp_path / "shop.db", rows=20000), dest, days=1)
    path = next(dest.glob(PREFIX + "*.db.gz"))
    assert run_module(tmp_path, state="verified", path=str(path))["ok"] is True
    damage(path)
    before = snapshot_dir(dest)

    result = run_module(tmp_path, state="verified", path=str(path))
    assert result["failed"] is True and result["ok"] is False
    assert result["msg"].startswith(f"backup {str(path)!r} failed verification: "), result["msg"]
    for text in expected:
        text = text.format(path=str(path), manifest=f"{path}.manifest.json", sha=sha256(path), zeros="0" * 64)
        assert text in result["msg"], result["msg"]
    assert snapshot_dir(dest) == before  # verification changes nothing


# -- the role: failures never prune -------------------------------------------------

def _corrupt_db(path: Path) -> Path:
    make_db(path, rows=5000)
    corrupt_middle_pages(path)
    return path


def _not_a_db(path: Path) -> Path:
    path.write_text("this is not a database\n" * 100)
    return path


@pytest.mark.parametrize("make_src, expected", [
    (_corrupt_db, "quick_check of the snapshot of src {src!r} failed, the source database is corrupt; no backup was written: "),
    (_not_a_db, "src {src!r} is not a SQLite database (file is not a database)"),
], ids=["corrupt-database", "not-a-database"])
def test_role_failed_backup_never_prunes(tmp_path, make_src, expected):
    dest = tmp_path / "backups"
    before = old_backups(make_db(tmp_path / "good.db"), dest, days=10)
    src = make_src(tmp_path / "shop.db")
    # A policy that would delete 9 of the 10 old backups, had it run.
    inventory = write_inventory(tmp_path, dict(backup_sqlite_path=str(src), backup_dir=str(dest), backup_keep_last=1,
                                               backup_keep_daily=1, backup_keep_weekly=0, backup_keep_monthly=0))
    res = playbook(inventory, callback="ansible.posix.json")
    assert res.returncode == 2, res.stdout + res.stderr
    tasks = task_results(res)
    failed = tasks["Back up the live SQLite database (online backup API, checked, atomic)"]
    assert failed["failed"] is True
    assert expected.format(src=str(src)) in failed["msg"], failed["msg"]
    assert "Prune backups beyond the retention policy" not in tasks
    assert "Verify the new backup (checksum, decompress, integrity_check)" not in tasks
    assert snapshot_dir(dest) == before  # every old backup and manifest, byte for byte


# -- the role: the database found through the container's mounts ------------------

SENTRY_SECRET = "discovery-secret-7c41"


@pytest.mark.docker
def test_role_finds_the_database_through_the_container_mounts(standin_factory, tmp_path):
    standin = standin_factory(app_env={"SENTRY_DSN": f"https://{SENTRY_SECRET}@sentry.invalid/1"})
    dest = tmp_path / "backups"
    inventory = write_inventory(tmp_path, dict(backup_sqlite_path="", milos_shop_container=standin.container, backup_dir=str(dest)))
    res = playbook(inventory, "-v", callback="ansible.posix.json")
    assert res.returncode == 0, res.stdout + res.stderr
    # Reading the container's mounts must not print its environment (the Sentry DSN is a secret), even with -v.
    assert SENTRY_SECRET not in res.stdout + res.stderr
    backup = task_results(res)["Back up the live SQLite database (online backup API, checked, atomic)"]
    assert backup["src"] == str(standin.db_path)
    manifest = json.loads(Path(backup["manifest_path"]).read_text())
    assert manifest["source"] == str(standin.db_path) and manifest["sha256"] == sha256(Path(backup["path"]))
    assert verify_backup(backup["path"])["ok"]

    inventory = write_inventory(tmp_path, dict(backup_sqlite_path="", milos_shop_container="no-such-milos-container", backup_dir=str(dest)))
    before = snapshot_dir(dest)
    res = playbook(inventory, callback="ansible.posix.json")
    assert res.returncode == 2, res.stdout + res.stderr
    failed = task_results(res)["Assert that the database was found"]
    assert failed["failed"] is True
    assert failed["msg"].startswith("Cannot find the database: "), failed["msg"]
    assert "no-such-milos-container" in failed["msg"] and "does not exist" in failed["msg"], failed["msg"]
    assert failed["msg"].endswith("Set milos_shop_db_path to the host path of the database."), failed["msg"]
    assert snapshot_dir(dest) == before


# -- the role: a second copy -----------------------------------------------------------

@pytest.mark.parametrize("target", ["host", "controller"])
def test_role_second_copy_matches_the_manifest(tmp_path, target):
    dest = tmp_path / "backups"
    copy_dir = tmp_path / f"copy-{target}"
    inventory = write_inventory(tmp_path, dict(backup_sqlite_path=str(make_db(tmp_path / "shop.db", rows=3000)), backup_dir=str(dest),
                                               backup_copy_enabled=True, backup_copy_target=target, backup_copy_dir=str(copy_dir)))
    res = playbook(inventory, callback="ansible.posix.json")
    assert res.returncode == 0, res.stdout + res.stderr
    backup = task_results(res)["Back up the live SQLite database (online backup API, checked, atomic)"]
    name = Path(backup["path"]).name
    where = copy_dir if target == "host" else copy_dir / "shop"
    manifest = json.loads((dest / (name + ".manifest.json")).read_text())
    assert sorted(p.name for p in where.iterdir()) == [name, name + ".manifest.json"]
    assert sha256(where / name) == manifest["sha256"] == backup["sha256"]
    assert (where / (name + ".manifest.json")).read_text() == (dest / (name + ".manifest.json")).read_text()
    # The copies are as private as the backups.
    assert mode(where) == 0o700
    assert {mode(p) for p in where.iterdir()} == {0o600}
    assert verify_backup(str(where / name))["ok"]


# -- the role: PostgreSQL -----------------------------------------------------------

@pytest.fixture(scope="module")
def pg(postgres):
    """The session's PostgreSQL server with a table big enough that pg_dump runs for a moment."""
    postgres.psql("DROP TABLE IF EXISTS backup_faults_orders; "
                  "CREATE TABLE backup_faults_orders (id serial PRIMARY KEY, customer text NOT NULL, note text); "
                  "INSERT INTO backup_faults_orders (customer, note) SELECT 'customer-' || i, md5(i::text) || md5((i * 7)::text) "
                  "FROM generate_series(1, 100000) AS i;")
    return postgres


def pg_vars(pg, dest: Path, password: str | None = None) -> dict:
    return dict(backup_engine="postgresql", backup_dir=str(dest), backup_pg_host=pg.host, backup_pg_port=pg.port,
                backup_pg_database=pg.database, backup_pg_user=pg.user, backup_pg_password=password or pg.password)


class CommandLines:
    """The command lines of the processes that carry `marker` in their environment, seen while it runs.

    /proc is read every few milliseconds; the marker (an environment variable that
    ansible-playbook passes on to every module and command it starts) keeps other
    processes on the machine out.
    """

    def __init__(self):
        self.marker = f"MILOS_BACKUP_TEST_RUN={uuid.uuid4().hex}"
        self.env = dict([self.marker.split("=", 1)])
        self.seen: set[str] = set()
        self._checked: set[tuple[str, str]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        marker = self.marker.encode()
        while not self._stop.is_set():
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                        line = handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
                    if not line or (entry.name, line) in self._checked:
                        continue
                    with open(f"/proc/{entry.name}/environ", "rb") as handle:
                        ours = marker in handle.read()
                except OSError:
                    continue
                self._checked.add((entry.name, line))
                if ours:
                    self.seen.add(line)
            time.sleep(0.01)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


@pytest.mark.slow
def test_role_postgresql_dump_is_private_listed_and_keeps_the_password_secret(pg, tmp_path):
    dest = tmp_path / "pg-backups"
    copy_dir = tmp_path / "pg-copy"
    dest.mkdir(mode=0o700)
    # Temporary files of a killed run: one from two days ago (a leftover), one from now (maybe a running dump).
    stale = dest / f".{PREFIX}2026-11-26T03-00-00.partial.pgc"
    fresh = dest / f".{PREFIX}2026-11-28T03-00-00.partial.pgc"
    for path in (stale, fresh):
        path.write_bytes(b"PGDMP partial")
        path.chmod(0o600)
    past = time.time() - 2 * 86400
    os.utime(stale, (past, past))
    inventory = write_inventory(tmp_path, dict(pg_vars(pg, dest), backup_copy_enabled=True, backup_copy_target="host",
                                               backup_copy_dir=str(copy_dir)))
    # Check mode predicts the dump and removes no leftover.
    before = snapshot_dir(dest)
    res = playbook(inventory, "--check")
    assert res.returncode == 0, res.stdout + res.stderr
    assert snapshot_dir(dest) == before and not copy_dir.exists()

    with CommandLines() as procs:
        plain = playbook(inventory, env=procs.env)
        verbose = playbook(inventory, "-v", env=procs.env)
    for res in (plain, verbose):
        assert res.returncode == 0, res.stdout + res.stderr
        assert pg.password not in res.stdout + res.stderr
    # The poll did see the dump running, and no command line held the password.
    assert any("pg_dump" in line for line in procs.seen), sorted(procs.seen)
    assert [line for line in procs.seen if pg.password in line] == []

    dumps = sorted(dest.glob(PREFIX + "*.pgc"))
    assert len(dumps) == 2, list(dest.iterdir())
    published = sorted(n for d in dumps for n in (d.name, d.name + ".manifest.json"))
    assert sorted(p.name for p in dest.iterdir()) == sorted([*published, fresh.name])  # the stale leftover is gone
    assert mode(dest) == 0o700 and mode(copy_dir) == 0o700
    assert {mode(p) for p in dest.iterdir()} == {0o600}
    # The second copies, checksum checked by the role.
    assert snapshot_dir(copy_dir) == {n: h for n, h in snapshot_dir(dest).items() if n in published}
    assert {mode(p) for p in copy_dir.iterdir()} == {0o600}
    for dump in dumps:
        manifest = json.loads((dest / (dump.name + ".manifest.json")).read_text())
        assert manifest["backup"] == dump.name and manifest["check_result"] == "ok"
        assert manifest["sha256"] == sha256(dump) and manifest["size"] == dump.stat().st_size
        assert pg.password not in json.dumps(manifest)
        listing = subprocess.run([pg_restore(), "--list", str(dump)], capture_output=True, text=True, check=True).stdout
        assert "TABLE public backup_faults_orders" in listing
        assert manifest["toc_entries"] == len([line for line in listing.splitlines() if line and not line.startswith(";")])


def pg_restore() -> str:
    from tests.helpers.postgres import pg_bin

    return pg_bin("pg_restore")


def test_role_postgresql_wrong_password_fails_clearly_and_publishes_nothing(pg, tmp_path):
    dest = tmp_path / "pg-backups"
    dest.mkdir(mode=0o700)
    old = dest / f"{PREFIX}2025-03-01T03-00-00.pgc"
    old.write_bytes(b"PGDMP an older dump")
    inventory = write_inventory(tmp_path, pg_vars(pg, dest, password="not-the-password-93f1"))
    res = playbook(inventory)
    assert res.returncode == 2, res.stdout + res.stderr
    out = res.stdout + res.stderr
    assert f"PostgreSQL backup of {pg.database} on {pg.host}:{pg.port} failed in 'Dump the database (pg_dump --format=custom)'" in out
    assert f'password authentication failed for user "{pg.user}"' in out
    assert "No backup was published; older backups are untouched." in out
    assert "not-the-password-93f1" not in out
    assert sorted(p.name for p in dest.iterdir()) == [old.name]  # no partial dump, no manifest
    assert old.read_bytes() == b"PGDMP an older dump"


# -- the role: check mode and a second run ------------------------------------------

@pytest.mark.slow
def test_role_check_mode_writes_nothing_and_a_second_run_only_adds_a_backup(tmp_path):
    dest = tmp_path / "backups"
    inventory = write_inventory(tmp_path, dict(backup_sqlite_path=str(make_db(tmp_path / "shop.db")), backup_dir=str(dest)))
    listing = sorted(p.name for p in tmp_path.iterdir())

    # Check mode on a host that never had a backup: it predicts, and writes nothing.
    res = playbook(inventory, "--check", callback="ansible.posix.json")
    assert res.returncode == 0, res.stdout
    tasks = task_results(res)
    # sqlite_backup creates its directory itself (one call): it predicts the directory with the backup.
    assert tasks["Create the backup directory"].get("skipped") is True
    predicted = tasks["Back up the live SQLite database (online backup API, checked, atomic)"]
    assert predicted["changed"] is True and predicted["dest_created"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == listing and not dest.exists()

    first = playbook(inventory, callback="ansible.posix.json")
    assert first.returncode == 0, first.stdout
    after_first = snapshot_dir(dest)
    assert len(after_first) == 2

    # Check mode with backups present: still nothing written.
    res = playbook(inventory, "--check", callback="ansible.posix.json")
    assert res.returncode == 0, res.stdout
    assert snapshot_dir(dest) == after_first

    # A second run (the same minute, seconds later) takes a new backup: backups are not idempotent by nature, a new one is a change.
    # The directory and the retention have nothing to do, and say so. (Run by the role's tag: `--tags backup`
    # must take the backup, not only prune.)
    second = playbook(inventory, "--tags", "backup", callback="ansible.posix.json")
    assert second.returncode == 0, second.stdout
    tasks = task_results(second)
    assert tasks["Back up the live SQLite database (online backup API, checked, atomic)"]["changed"] is True
    assert tasks["Back up the live SQLite database (online backup API, checked, atomic)"]["dest_created"] is False
    assert tasks["Prune backups beyond the retention policy"]["changed"] is False
    assert tasks["Back up the live SQLite database (online backup API, checked, atomic)"]["verified"] is True
    after_second = snapshot_dir(dest)
    assert len(after_second) == 4 and set(after_first) < set(after_second)
    assert {k: after_second[k] for k in after_first} == after_first
    stats = json.loads(second.stdout)["stats"]["shop"]
    assert stats["failures"] == 0
