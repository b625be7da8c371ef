# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""milos_shop.ops.backup_status over real backups of a live stand-in's database.

The database is found the way the roles find it (container_status' database_host_path),
backed up with sqlite_backup's own code into the stand-in's backup directory, and judged:
fresh, newest rotten with an older good one, a file deleted with its manifest left, and
the deep check; once through `ansible localhost -m` in check mode and not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.milos_shop.ops.plugins.module_utils._sqlite_backup import take_backup
from ansible_collections.milos_shop.ops.plugins.modules import backup_status, container_status

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(module, capsys, **args):
    with patch_module_args(dict(args, _ansible_check_mode=False)):
        with pytest.raises(SystemExit) as info:
            module.main()
    result = json.loads(capsys.readouterr().out)
    assert info.value.code == 0 and "failed" not in result and result["changed"] is False, result
    return result


def adhoc(args, check_mode=False):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    cmd = [str(BIN / "ansible"), "localhost", "-m", "milos_shop.ops.backup_status", "-a", json.dumps(args),
           "-e", "ansible_python_interpreter=%s" % sys.executable] + (["--check"] if check_mode else [])
    res = subprocess.run(cmd, cwd=str(ROOT), capture_output=True, text=True, env=env, timeout=120, check=False)
    assert res.returncode == 0 and res.stdout.startswith("localhost | SUCCESS => "), res.stdout + res.stderr
    return json.loads(res.stdout.split("=>", 1)[1])


def test_backups_of_the_live_database(standin, capsys):
    db = run(container_status, capsys, container=standin.container, database_path="/app/data/milos_shop.db")["database_host_path"]
    assert db == str(standin.db_path)
    backups = str(standin.backup_dir)

    empty = run(backup_status, capsys, path=backups)["item"]
    assert empty["status"] == "fail" and empty["summary"] == "no verified backup in %s" % backups

    older = Path(take_backup(db, backups)["path"])
    time.sleep(1.1)  # backup names are to the second
    newer = Path(take_backup(db, backups)["path"])
    applied = adhoc({"path": backups, "deep_check": True})
    checked = adhoc({"path": backups, "deep_check": True}, check_mode=True)
    for result in (applied, checked):
        item = result["item"]
        assert item["status"] == "pass", item
        assert item["summary"] == "newest verified backup %s is 0 h old; integrity_check ok" % newer.name
        assert item["evidence"]["backups_listed"] == 2 and item["evidence"]["age_hours"] < 0.1
        assert item["evidence"]["total_bytes"] == older.stat().st_size + newer.stat().st_size
    assert applied["item"]["evidence"]["newest_sha256"] == checked["item"]["evidence"]["newest_sha256"]

    # The newest changes after its manifest was written: the older one is named as the good one.
    data = bytearray(newer.read_bytes())
    data[len(data) // 2] ^= 0x10
    newer.write_bytes(bytes(data))
    item = run(backup_status, capsys, path=backups)["item"]
    assert item["status"] == "warn", item
    assert item["summary"].startswith("newest backup %s does not verify (checksum mismatch: " % newer.name)
    assert item["summary"].endswith("newest verified backup %s is 0 h old" % older.name)

    # Deleted, its manifest left: still named.
    newer.unlink()
    item = run(backup_status, capsys, path=backups)["item"]
    assert item["status"] == "warn" and "is missing (its manifest is left)" in item["summary"]
    assert item["evidence"]["rotten"][0]["name"] == newer.name and item["evidence"]["backups_listed"] == 1

    # A maximum age of one second: the older backup (more than a second old) is stale.
    item = run(backup_status, capsys, path=backups, max_age="1s")["item"]
    assert item["status"] == "fail" and "(older than " in item["summary"]
