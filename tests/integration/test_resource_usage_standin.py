# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""milos_shop.ops.resource_usage against stand-ins on the real engine (Docker stats, real filesystems).

The module only reads, so the session's shared stand-in serves the tests with a running
container; the stopped one is a stand-in of its own. The module runs in-process (as in the
unit tests) and once through `ansible localhost -m`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.milos_shop.ops.plugins.modules import resource_usage

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Host thresholds no machine can be over, so that the results do not depend on this machine's load.
CALM = dict(disk_threshold_percent=100, memory_threshold_percent=100, cpu_threshold_percent=100)


@pytest.fixture
def stopped(standin_factory):
    """A stand-in that started and was stopped (no need to wait for it to be healthy)."""
    standin = standin_factory(up=False)
    standin.up(wait=False)
    standin.compose("stop", "-t", "1")  # it may not have its SIGTERM handler yet
    return standin


def scan(capsys, **args):
    """Run the module in-process; return its result."""
    with patch_module_args(dict(args, _ansible_check_mode=False)):
        with pytest.raises(SystemExit) as info:
            resource_usage.main()
    result = json.loads(capsys.readouterr().out)
    assert (info.value.code != 0) == bool(result.get("failed")), result
    return result


def test_container_stats_of_the_standin(shared_standin, capsys):
    standin = shared_standin
    result = scan(capsys, **dict(CALM, paths=[str(standin.data_dir), str(standin.backup_dir)], cpu_interval=0.2,
                                 container=standin.container))
    assert result["ok"] is True and result["changed"] is False
    container = result["container"]
    assert container["name"] == standin.container and container["running"] is True
    assert container["cpu_percent"] >= 0.0
    assert container["memory_limit_bytes"] > 0 and 0 < container["memory_used_bytes"] < container["memory_limit_bytes"]
    assert 0.0 < container["memory_percent"] < 100.0
    assert container["pids"] >= 1
    # The data and backup directories are on one filesystem here: one entry naming both.
    assert [d["paths"] for d in result["disks"]] == [[str(standin.data_dir), str(standin.backup_dir)]]
    assert 0.0 <= result["cpu"]["used_percent"] <= 100.0 and result["memory"]["total_bytes"] > 0
    item = result["item"]
    assert item["id"] == "resources" and item["status"] == "pass", item
    assert item["summary"].startswith("host memory ") and "; container %s CPU " % standin.container in item["summary"]
    assert item["evidence"]["container"] == container


def test_disk_threshold_below_current_use_alerts_through_ansible(shared_standin):
    standin = shared_standin
    usage = shutil.disk_usage(str(standin.data_dir))
    used = 100.0 * usage.used / (usage.used + usage.free)
    assert used >= 1, "the filesystem of the test directory is empty?"
    threshold = int(used) - 1
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    args = "paths=%s cpu_interval=0 container=%s disk_threshold_percent=%d memory_threshold_percent=100" % (
        standin.data_dir, standin.container, threshold)
    res = subprocess.run([str(BIN / "ansible"), "localhost", "-m", "milos_shop.ops.resource_usage", "-a", args,
                          "-e", "ansible_python_interpreter=%s" % sys.executable],
                         cwd=str(ROOT), capture_output=True, text=True, env=env, timeout=120, check=False)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "localhost | FAILED! => {" in res.stdout, res.stdout
    result = json.loads(res.stdout.split("localhost | FAILED! => ", 1)[1])
    assert result["ok"] is False and result["changed"] is False
    disk_alerts = [a for a in result["alerts"] if a["kind"] == "disk"]
    assert len(disk_alerts) == 1
    assert disk_alerts[0]["message"].startswith("filesystem of %s is " % standin.data_dir)
    assert "(threshold %d%%)" % threshold in disk_alerts[0]["message"]
    assert result["msg"].startswith("filesystem of %s is " % standin.data_dir)
    assert result["container"]["running"] is True


def test_stopped_container_is_an_alert(stopped, capsys):
    standin = stopped
    result = scan(capsys, **dict(CALM, paths=[str(standin.data_dir)], cpu_interval=0, container=standin.container, fail_on_alert=False))
    assert result["ok"] is False and result["container"]["running"] is False
    assert [a["message"] for a in result["alerts"]] == ["container %s is not running: no CPU or memory figures" % standin.container]
    assert result["item"]["status"] == "warn" and result["item"]["alerts"][0]["kind"] == "container_down"


def test_missing_container_fails_and_says_which(docker_engine, tmp_path, capsys):
    result = scan(capsys, paths=[str(tmp_path)], cpu_interval=0, container="no-such-milos-container-resources")
    assert result["failed"] is True
    assert result["msg"] == "container 'no-such-milos-container-resources' does not exist on unix:///var/run/docker.sock"
