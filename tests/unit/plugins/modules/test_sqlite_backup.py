# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sqlite_backup module's entry point: arguments, results, failures, docs."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
import yaml

from ansible.module_utils._internal import _traceback

from ansible_collections.milos_shop.ops.plugins.module_utils import _compression
from ansible_collections.milos_shop.ops.plugins.modules import sqlite_backup
from tests.helpers.module_harness import result_of, run_main

ROOT = Path(__file__).resolve().parents[4]
VENV_BIN = ROOT / ".venv" / "bin"


def run_module(args, check_mode=False, diff=False):
    return run_main(sqlite_backup.main, args, check_mode=check_mode, diff=diff)


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "shop.db"
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
    conn.executemany("INSERT INTO items (name) VALUES (?)", (("item-%d" % i,) for i in range(500)))
    conn.execute("PRAGMA user_version=2")
    conn.close()
    return path


@pytest.fixture
def dest(tmp_path):
    d = tmp_path / "backups"
    d.mkdir()
    return d


def test_present_then_verified(db, dest, capsys):
    assert not run_module(dict(src=str(db), dest=str(dest), owner="root", group="root", mode="0640"))
    result = result_of(capsys)
    assert result["changed"] is True
    assert os.path.isfile(result["path"]) and os.path.isfile(result["manifest_path"])
    for key in ("path", "manifest_path", "size", "db_size", "sha256", "duration_s", "throughput_mib_s", "compression", "check",
                "page_count", "user_version"):
        assert key in result, key
    assert result["user_version"] == 2 and result["compression"] == "gzip" and result["check"] == "quick_check"
    assert oct(os.stat(result["path"]).st_mode & 0o777) == "0o640"
    assert "diff" not in result

    assert not run_module(dict(state="verified", path=result["path"]))
    verified = result_of(capsys)
    assert verified["changed"] is False and verified["ok"] is True and verified["problems"] == []
    assert verified["check"] == "integrity_check"


def test_check_mode_with_diff_writes_nothing(db, dest, capsys):
    assert not run_module(dict(src=str(db), dest=str(dest), compression="none"), check_mode=True, diff=True)
    result = result_of(capsys)
    assert result["changed"] is True
    assert result["path"].startswith(str(dest / "milos_shop_backup_")) and result["path"].endswith(".db")
    assert result["diff"]["before"]["state"] == "absent"
    assert result["diff"]["after"] == {"path": result["path"], "state": "file", "manifest_path": result["manifest_path"],
                                       "db_size": db.stat().st_size}
    assert os.listdir(dest) == []


@pytest.mark.parametrize("args, message", [
    (dict(dest="/tmp"), "state is present but all of the following are missing: src"),
    (dict(state="verified"), "state is verified but all of the following are missing: path"),
    (dict(src="/nonexistent/shop.db", dest="/tmp"), "src '/nonexistent/shop.db' does not exist"),
    (dict(src="/nonexistent/shop.db", dest="/tmp", compression="lz4"), "value of compression must be one of: gzip, zstd, none, got: lz4"),
])
def test_argument_and_source_errors(args, message, capsys):
    assert run_module(args)
    result = result_of(capsys)
    assert result["failed"] is True
    assert message in result["msg"]


@pytest.mark.parametrize("args, message", [
    (dict(owner="no_such_user_sqlite_backup"), "chown failed: failed to look up user no_such_user_sqlite_backup"),
    (dict(group="no_such_group_sqlite_backup"), "chgrp failed: failed to look up group no_such_group_sqlite_backup"),
    (dict(mode="u=rwx,bogus"), "mode must be in octal or symbolic form"),
])
def test_attribute_failures_leave_no_temp_files(db, dest, capsys, args, message):
    args.update(src=str(db), dest=str(dest))
    assert run_module(args)
    result = result_of(capsys)
    assert message in result["msg"]
    assert os.listdir(dest) == []


def test_verify_failure_fails_the_task_with_the_result(db, dest, capsys):
    assert not run_module(dict(src=str(db), dest=str(dest)))
    path = Path(result_of(capsys)["path"])
    path.write_bytes(path.read_bytes()[:-50])
    assert run_module(dict(state="verified", path=str(path)))
    result = result_of(capsys)
    assert result["failed"] is True and result["changed"] is False and result["ok"] is False
    assert result["msg"].startswith("backup %r failed verification: " % str(path))
    assert "checksum mismatch" in result["msg"] and "cannot decompress" in result["msg"]
    assert result["problems"]


def test_missing_zstd_uses_missing_required_lib(db, dest, capsys, monkeypatch):
    monkeypatch.setattr(_compression, "zstd_command", lambda: None)
    monkeypatch.setattr(_compression, "zstandard", None)
    assert run_module(dict(src=str(db), dest=str(dest), compression="zstd"))
    result = result_of(capsys)
    assert "Failed to import the required Python library (zstandard)" in result["msg"]
    assert "compression=zstd" in result["msg"]


def test_unexpected_error_carries_the_traceback(db, dest, capsys, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(sqlite_backup, "take_backup", boom)
    # as with ANSIBLE_DISPLAY_TRACEBACK=error on the controller
    monkeypatch.setattr(_traceback, "_module_tracebacks_enabled_events", None)
    # Importing Ansible's controller side (the filter plugins' tests do, in the same xdist worker)
    # switches tracebacks to the controller's configuration: a module reads _ansible_tracebacks_for.
    monkeypatch.setattr(_traceback, "_is_traceback_enabled", lambda event: event is _traceback.TracebackEvent.ERROR)
    assert run_module(dict(src=str(db), dest=str(dest), _ansible_tracebacks_for=["error"]))
    result = result_of(capsys)
    assert result["msg"] == "sqlite_backup failed unexpectedly: boom"
    assert "Traceback" in result["exception"] and "RuntimeError" in result["exception"]


def _doc_options():
    return yaml.safe_load(sqlite_backup.DOCUMENTATION)["options"]


def test_documentation_matches_the_argument_spec():
    """A local stand-in for validate-modules' docs/argspec comparison."""
    docs = _doc_options()
    spec = sqlite_backup.argument_spec()
    assert set(docs) == set(spec)
    for name, arg in spec.items():
        doc = docs[name]
        assert doc["type"] == arg["type"], name
        assert doc.get("default") == arg.get("default"), name
        assert doc.get("choices") == arg.get("choices"), name
        assert doc.get("required", False) == arg.get("required", False), name
    for block in ("EXAMPLES", "RETURN"):
        yaml.safe_load(getattr(sqlite_backup, block))
    assert yaml.safe_load(sqlite_backup.DOCUMENTATION)["version_added"] == "0.1.0"


@pytest.mark.skipif(not (VENV_BIN / "ansible").exists(), reason="ansible not installed in .venv")
def test_through_ansible(db, dest):
    """The module as Ansible runs it: an ad-hoc command on localhost."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    res = subprocess.run([str(VENV_BIN / "ansible"), "localhost", "-m", "milos_shop.ops.sqlite_backup",
                          "-a", "src=%s dest=%s compression=none" % (db, dest)],
                         capture_output=True, text=True, env=env, timeout=120, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    result = json.loads(res.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert result["changed"] is True
    assert sorted(os.listdir(dest)) == sorted([os.path.basename(result["path"]), os.path.basename(result["manifest_path"])])
    if shutil.which("sqlite3"):
        check = subprocess.run(["sqlite3", result["path"], "PRAGMA integrity_check"], capture_output=True, text=True, check=True)
        assert check.stdout.strip() == "ok"


def test_verify_and_create_dest_in_one_call(db, tmp_path, capsys):
    target = tmp_path / "made" / "here"
    args = dict(src=str(db), dest=str(target), create_dest=True, dir_mode="0750", owner="root", group="root", verify="integrity_check")
    assert not run_module(args, check_mode=True, diff=True)
    predicted = result_of(capsys)
    assert predicted["changed"] is True and predicted["dest_created"] is True and predicted["verified"] is None
    assert predicted["diff"]["after"]["dest_attributes"] == {"owner": "root", "group": "root", "mode": "0750"}
    assert not (tmp_path / "made").exists()
    assert not run_module(args)
    result = result_of(capsys)
    assert result["verified"] is True and result["verify"] == "integrity_check" and result["verify_problems"] == []
    assert result["dest_created"] is True and oct(os.stat(target).st_mode & 0o777) == "0o750"
    assert os.stat(target).st_uid == 0 and os.stat(target).st_gid == 0
    assert json.loads(Path(result["manifest_path"]).read_text())["verify_result"] == "ok"


def test_bad_dir_mode_names_the_option(db, tmp_path, capsys):
    assert run_module(dict(src=str(db), dest=str(tmp_path / "x"), create_dest=True, dir_mode="rwx"))
    assert result_of(capsys)["msg"] == "dir_mode 'rwx' is not an octal mode such as '0700'"
    assert not (tmp_path / "x").exists()
