"""Backups of the live stand-in database while a steady writer commits ~100 orders/s.

The writer (demo/milos-shop/src/writer.js) commits one order per transaction and
bumps writer_state.last_seq in the same transaction, so a consistent snapshot
holds exactly last_seq writer rows of its run, numbered 1..last_seq. Every backup
taken during the writes, by module_utils in-process and by the role through
ansible-playbook, must decompress, pass integrity_check and hold such a prefix,
and the prefixes must grow with time.
"""

from __future__ import annotations

import datetime
import gzip
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from ansible_collections.milos_shop.ops.plugins.module_utils._sqlite_backup import take_backup, verify_backup

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
IN_PROCESS_BACKUPS = 50
ROLE_HOSTS = 4

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def run_state(con: sqlite3.Connection, run_id: str) -> dict:
    """What one database holds of one writer run."""
    last = con.execute("SELECT last_seq FROM writer_state WHERE run_id = ?", (run_id,)).fetchone()
    rows, lo, hi, distinct = con.execute(
        "SELECT count(*), min(seq), max(seq), count(DISTINCT seq) FROM orders WHERE source = 'writer' AND customer = ?",
        (run_id,)).fetchone()
    return {"last_seq": last[0] if last else None, "rows": rows, "min": lo, "max": hi, "distinct": distinct}


def backup_state(backup: Path, scratch: Path, run_id: str) -> dict:
    """Decompress a .db.gz backup, run integrity_check on it, return the writer run it holds."""
    plain = scratch / (backup.name + ".db")
    with gzip.open(backup, "rb") as src, open(plain, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    con = sqlite3.connect(f"file:{plain}?mode=ro&immutable=1", uri=True)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)], backup
        return run_state(con, run_id)
    finally:
        con.close()
        plain.unlink()


def assert_consistent_prefix(state: dict, what) -> None:
    n = state["last_seq"]
    assert n is not None and n > 0, (what, state)
    assert state["rows"] == n and state["distinct"] == n, (what, state)
    assert (state["min"], state["max"]) == (1, n), (what, state)


def grow(db: Path, mib: int) -> None:
    """Give the live database some bulk (padding orders) so that a snapshot overlaps several commits."""
    con = sqlite3.connect(db, timeout=30)
    try:
        con.execute(
            "INSERT INTO orders (customer, total_cents, source) "
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "SELECT hex(randomblob(256)), 1, 'padding' FROM n", (mib * 2048,))
        con.commit()
    finally:
        con.close()


class Writer:
    """`node dist/writer.js` in the container, in the background, stopped with SIGTERM like an operator would."""

    def __init__(self, standin, rate: int):
        self.standin = standin
        self.run_id = f"load-{uuid.uuid4().hex[:6]}"
        self.proc = subprocess.Popen(
            ["docker", "exec", standin.container, "sh", "-c",
             f"echo $$ > /tmp/writer.pid && exec node dist/writer.js --rate {rate} --run-id {self.run_id}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while not standin.query("SELECT 1 FROM writer_state WHERE run_id = ? AND last_seq > 0", (self.run_id,)):
            assert time.monotonic() < deadline, "the writer did not start"
            assert self.proc.poll() is None, self.proc.communicate()
            time.sleep(0.05)

    def live_seq(self) -> int:
        return self.standin.query("SELECT last_seq FROM writer_state WHERE run_id = ?", (self.run_id,))[0][0]

    def stop(self) -> dict:
        self.standin.exec("sh", "-c", "kill -TERM $(cat /tmp/writer.pid)", check=False)
        out, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, err
        return json.loads(out.splitlines()[-1])


def role_inventory(tmp_path: Path, standin, hosts: int) -> tuple[Path, list[Path]]:
    """An inventory of `hosts` local hosts, each backing up the stand-in into a directory of its own."""
    dirs = [tmp_path / f"role-{i}" for i in range(hosts)]
    inventory = {
        "milos_shop": {
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "backup_sqlite_path": str(standin.db_path),
                "backup_retention_enabled": False,
            },
            "hosts": {f"shop{i}": {"backup_dir": str(d)} for i, d in enumerate(dirs)},
        }
    }
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path, dirs


def test_backups_during_steady_writes_are_consistent_growing_prefixes(standin, tmp_path):
    grow(standin.db_path, 8)
    dest = tmp_path / "backups"
    dest.mkdir(mode=0o700)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    inventory, role_dirs = role_inventory(tmp_path, standin, ROLE_HOSTS)
    base = datetime.datetime(2026, 11, 28, 3, 0, 0, tzinfo=datetime.timezone.utc)

    writer = Writer(standin, rate=100)
    taken = []
    try:
        # 1. consecutive backups in-process (module_utils, what the module runs), each a distinct name.
        for i in range(IN_PROCESS_BACKUPS):
            when = base + datetime.timedelta(seconds=i)
            result = take_backup(str(standin.db_path), str(dest), now=lambda when=when: when)
            taken.append((result, writer.live_seq()))
            time.sleep(0.05)
        # 2. a handful through the role (backup, verify), all at once from one ansible-playbook run.
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        role = subprocess.run([str(BIN / "ansible-playbook"), "playbooks/backup.yml", "-i", str(inventory)],
                              cwd=ROOT, capture_output=True, text=True, env=env, timeout=180, check=False)
        after_role = writer.live_seq()
    finally:
        stats = writer.stop()

    assert role.returncode == 0, role.stdout + role.stderr
    assert stats["errors"] == 0, stats
    # The writer kept its pace: the backups did not block it.
    assert stats["commits"] >= 0.7 * 100 * stats["seconds"], stats

    # Every in-process backup: verified by the module, a consistent prefix, growing.
    seqs = []
    for result, live_after in taken:
        path = Path(result["path"])
        assert verify_backup(str(path))["ok"]
        state = backup_state(path, scratch, writer.run_id)
        assert_consistent_prefix(state, path.name)
        # Never more than was committed by the time the backup returned.
        assert state["last_seq"] <= live_after, (path.name, state, live_after)
        seqs.append(state["last_seq"])
    assert seqs == sorted(seqs), seqs
    assert len(set(seqs)) > IN_PROCESS_BACKUPS // 2, seqs  # the writer moved on between most backups
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        n for r, dummy in taken for n in (Path(r["path"]).name, Path(r["manifest_path"]).name))  # no temp files

    # Every role backup: one per host, with its manifest, a consistent prefix newer than the in-process ones.
    for directory in role_dirs:
        backups = sorted(directory.glob("milos_shop_backup_*.db.gz"))
        assert len(backups) == 1, list(directory.iterdir())
        assert sorted(p.name for p in directory.iterdir()) == [backups[0].name, backups[0].name + ".manifest.json"]
        state = backup_state(backups[0], scratch, writer.run_id)
        assert_consistent_prefix(state, backups[0])
        assert seqs[-1] <= state["last_seq"] <= after_role, (state, seqs[-1], after_role)

    # The writer's final state is consistent too.
    final = run_state(sqlite3.connect(f"file:{standin.db_path}?mode=ro", uri=True), writer.run_id)
    assert_consistent_prefix(final, "live")
    assert final["last_seq"] == stats["commits"]
