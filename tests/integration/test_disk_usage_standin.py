# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""milos_shop.ops.disk_usage over a stand-in's real data and backup directories, through `ansible localhost -m`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def adhoc(args, check_mode=False):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    cmd = [str(BIN / "ansible"), "localhost", "-m", "milos_shop.ops.disk_usage", "-a", json.dumps(args),
           "-e", "ansible_python_interpreter=%s" % sys.executable] + (["--check"] if check_mode else [])
    res = subprocess.run(cmd, cwd=str(ROOT), capture_output=True, text=True, env=env, timeout=120, check=False)
    assert res.returncode == 0 and res.stdout.startswith("localhost | SUCCESS => "), res.stdout + res.stderr
    return json.loads(res.stdout.split("=>", 1)[1])


def test_the_standins_directories(shared_standin):
    standin = shared_standin
    args = {"required_paths": ["/", str(standin.data_dir)], "optional_paths": [str(standin.backup_dir)]}
    for result in (adhoc(args), adhoc(args, check_mode=True)):
        item = result["item"]
        assert result["changed"] is False and item["id"] == "disk" and item["status"] == "pass", item
        paths = [p for d in result["disks"] for p in d["paths"]]
        assert sorted(paths) == sorted(["/", str(standin.data_dir), str(standin.backup_dir)])
        assert str(standin.data_dir) in item["summary"] and "% used" in item["summary"]


def test_a_threshold_below_the_use_and_a_missing_data_directory(shared_standin):
    standin = shared_standin
    usage = shutil.disk_usage(str(standin.data_dir))
    threshold = int(100.0 * usage.used / (usage.used + usage.free)) - 1
    assert threshold >= 0
    missing = str(standin.project_dir / "no-such-data")
    item = adhoc({"required_paths": [str(standin.data_dir), missing], "optional_paths": [missing + "-backups"],
                  "threshold_percent": threshold})["item"]
    assert item["status"] == "fail"
    assert item["summary"].startswith("data directory %s does not exist; filesystem of %s" % (missing, standin.data_dir))
    assert "(threshold %d%%)" % threshold in item["summary"]
    assert item["evidence"]["missing"] == [missing, missing + "-backups"]
