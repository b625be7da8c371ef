# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sqlite_restore module's entry point: arguments, results, failures, docs."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
import yaml

from ansible.module_utils._internal import _traceback

from ansible_collections.milos_shop.ops.plugins.module_utils import _compression
from ansible_collections.milos_shop.ops.plugins.module_utils import _sqlite_backup as sb
from ansible_collections.milos_shop.ops.plugins.modules import sqlite_restore
from tests.helpers.module_harness import result_of, run_main

ROOT = Path(__file__).resolve().parents[4]
VENV_BIN = ROOT / ".venv" / "bin"
T0 = datetime.datetime(2026, 11, 28, 16, 14, 42, tzinfo=datetime.timezone.utc)


def run_module(args, check_mode=False, diff=False):
    return run_main(sqlite_restore.main, args, check_mode=check_mode, diff=diff)


def rows(path):
    conn = sqlite3.connect(str(path))
    try:
        return conn.execute("SELECT count(*) FROM items").fetchone()[0]
    finally:
        conn.close()


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def db(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    path = data / "shop.db"
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
    conn.executemany("INSERT INTO items (name) VALUES (?)", (("item-%d" % i,) for i in range(500)))
    conn.close()
    return path


@pytest.fixture
def taken(db, tmp_path):
    dest = tmp_path / "backups"
    dest.mkdir()
    result = sb.take_backup(str(db), str(dest), now=lambda: T0)
    conn = sqlite3.connect(str(db), isolation_level=None)
    conn.executemany("INSERT INTO items (name) VALUES (?)", (("late-%d" % i,) for i in range(20)))
    conn.close()
    return result


def test_restored_then_idempotent(db, taken, capsys):
    assert not run_module(dict(dest=str(db), backup_path=taken["path"]))
    result = result_of(capsys)
    assert result["changed"] is True and result["replaced"] is True
    for key in ("dest", "backup_path", "manifest_path", "manifest", "removed", "in_use", "attributes", "sha256", "db_sha256",
                "db_size", "page_size", "page_count", "user_version", "check", "problems"):
        assert key in result, key
    assert "diff" not in result
    assert rows(db) == 500 and result["db_sha256"] == sha(db)

    assert not run_module(dict(dest=str(db), backup_path=taken["path"]))
    assert result_of(capsys)["changed"] is False


def test_check_mode_with_diff(db, taken, capsys):
    before = sha(db)
    assert not run_module(dict(dest=str(db), backup_path=taken["path"]), check_mode=True, diff=True)
    result = result_of(capsys)
    assert result["changed"] is True
    assert result["diff"]["before"]["sha256"] == before and result["diff"]["after"]["sha256"] == result["db_sha256"]
    assert sha(db) == before and rows(db) == 520


def test_bad_backup_fails_with_the_problems(db, taken, capsys):
    path = Path(taken["path"])
    path.write_bytes(path.read_bytes()[:-50])
    before = sha(db)
    assert run_module(dict(dest=str(db), backup_path=str(path)))
    result = result_of(capsys)
    assert result["failed"] is True and "changed" not in result
    assert result["msg"].startswith("backup %r failed verification, dest %r was not touched: " % (str(path), str(db)))
    assert "checksum mismatch" in result["msg"] and result["problems"]
    assert sha(db) == before


def test_saved_then_reverted(db, taken, tmp_path, capsys):
    copy = tmp_path / "pre.db"
    assert not run_module(dict(state="saved", dest=str(db), copy_path=str(copy)))
    saved = result_of(capsys)
    assert saved["changed"] is True and saved["attributes"]["mode"] == "0600" and saved["files"][0]["sha256"] == sha(db)
    assert not run_module(dict(dest=str(db), backup_path=taken["path"]))
    capsys.readouterr()
    assert rows(db) == 500
    assert not run_module(dict(state="reverted", dest=str(db), copy_path=str(copy)), diff=True)
    reverted = result_of(capsys)
    assert reverted["changed"] is True and reverted["diff"]["after"]["side_files"] == []
    assert rows(db) == 520


def test_checked_fails_on_a_corrupt_database(db, tmp_path, capsys):
    assert not run_module(dict(state="checked", dest=str(db)))
    assert result_of(capsys)["ok"] is True
    bad = tmp_path / "bad.db"
    bad.write_bytes(db.read_bytes()[:100] + b"\xff" * 8192)
    assert run_module(dict(state="checked", dest=str(bad), check="quick_check"))
    result = result_of(capsys)
    assert result["msg"].startswith("database %r failed the check: " % str(bad)) and result["ok"] is False


@pytest.mark.parametrize("args, message", [
    (dict(), "missing required arguments: dest"),
    (dict(dest="/tmp/x.db"), "state is restored but all of the following are missing: backup_path"),
    (dict(dest="/tmp/x.db", state="saved"), "state is saved but all of the following are missing: copy_path"),
    (dict(dest="/tmp/x.db", state="reverted"), "state is reverted but all of the following are missing: copy_path"),
    (dict(dest="/tmp/x.db", state="gone"), "value of state must be one of: restored, saved, reverted, checked, got: gone"),
    (dict(dest="/nonexistent/dir/x.db", backup_path="/tmp/b.db.gz"), "the directory '/nonexistent/dir' of dest '/nonexistent/dir/x.db' does not exist"),
    (dict(dest="/tmp/x.db", state="reverted", copy_path="/nonexistent/copy.db"), "copy_path '/nonexistent/copy.db' does not exist"),
])
def test_argument_errors(args, message, capsys):
    assert run_module(args)
    result = result_of(capsys)
    assert result["failed"] is True
    assert message in result["msg"]


def test_missing_zstd_uses_missing_required_lib(db, tmp_path, capsys, monkeypatch):
    dest = tmp_path / "zst"
    dest.mkdir()
    sb.require_compression("zstd")
    taken = sb.take_backup(str(db), str(dest), compression="zstd", now=lambda: T0)
    monkeypatch.setattr(_compression, "zstd_command", lambda: None)
    monkeypatch.setattr(_compression, "zstandard", None)
    assert run_module(dict(dest=str(db), backup_path=taken["path"]))
    assert "Failed to import the required Python library (zstandard)" in result_of(capsys)["msg"]


def test_unexpected_error_carries_the_traceback(db, taken, capsys, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(sqlite_restore, "restore_backup", boom)
    monkeypatch.setattr(_traceback, "_module_tracebacks_enabled_events", None)
    # Importing Ansible's controller side (the filter plugins' tests do, in the same xdist worker)
    # switches tracebacks to the controller's configuration: a module reads _ansible_tracebacks_for.
    monkeypatch.setattr(_traceback, "_is_traceback_enabled", lambda event: event is _traceback.TracebackEvent.ERROR)
    assert run_module(dict(dest=str(db), backup_path=taken["path"], _ansible_tracebacks_for=["error"]))
    result = result_of(capsys)
    assert result["msg"] == "sqlite_restore failed unexpectedly: boom"
    assert "Traceback" in result["exception"] and "RuntimeError" in result["exception"]


def test_documentation_matches_the_argument_spec():
    """A local stand-in for validate-modules' docs/argspec comparison."""
    doc = yaml.safe_load(sqlite_restore.DOCUMENTATION)
    docs = doc["options"]
    spec = sqlite_restore.argument_spec()
    assert set(docs) == set(spec)
    for name, arg in spec.items():
        assert docs[name]["type"] == arg["type"], name
        assert docs[name].get("default") == arg.get("default"), name
        assert docs[name].get("choices") == arg.get("choices"), name
        assert docs[name].get("required", False) == arg.get("required", False), name
    for block in ("EXAMPLES", "RETURN"):
        yaml.safe_load(getattr(sqlite_restore, block))
    assert doc["version_added"] == "0.1.0"
    assert doc["extends_documentation_fragment"] == ["milos_shop.ops._attributes"]


@pytest.mark.skipif(not (VENV_BIN / "ansible").exists(), reason="ansible not installed in .venv")
def test_through_ansible(db, taken):
    """The module as Ansible runs it: an ad-hoc command on localhost."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    res = subprocess.run([str(VENV_BIN / "ansible"), "localhost", "-m", "milos_shop.ops.sqlite_restore",
                          "-a", "dest=%s backup_path=%s" % (db, taken["path"])],
                         capture_output=True, text=True, env=env, timeout=120, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    result = json.loads(res.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert result["changed"] is True
    assert rows(db) == 500
