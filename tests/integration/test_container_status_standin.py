# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""milos_shop.ops.container_status against stand-ins on the real engine: running, stopped, missing, crash loop.

The module only reads: a healthy stack is the session's shared stand-in; the stopped one and
the crash loop are stand-ins of their own. The module runs in-process (as in the unit tests)
and, in check mode and not, through `ansible localhost -m`.
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

from ansible_collections.milos_shop.ops.plugins.modules import container_status
from tests.helpers.standin import started

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def check(capsys, **args):
    """Run the module in-process; return its result (it never fails for a problem it finds)."""
    with patch_module_args(dict(args, _ansible_check_mode=False)):
        with pytest.raises(SystemExit) as info:
            container_status.main()
    result = json.loads(capsys.readouterr().out)
    assert info.value.code == 0 and "failed" not in result, result
    assert result["changed"] is False
    return result


def adhoc(args, check_mode=False):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    cmd = [str(BIN / "ansible"), "localhost", "-m", "milos_shop.ops.container_status", "-a", json.dumps(args),
           "-e", "ansible_python_interpreter=%s" % sys.executable] + (["--check"] if check_mode else [])
    res = subprocess.run(cmd, cwd=str(ROOT), capture_output=True, text=True, env=env, timeout=120, check=False)
    assert res.returncode == 0 and res.stdout.startswith("localhost | SUCCESS => "), res.stdout + res.stderr
    return json.loads(res.stdout.split("=>", 1)[1])


def test_a_running_healthy_container_passes_in_check_mode_and_not(shared_standin):
    standin = shared_standin
    standin.wait_health("healthy")
    args = {"container": standin.container, "database_path": "/app/data/milos_shop.db"}
    applied = adhoc(args)
    checked = adhoc(args, check_mode=True)
    for result in (applied, checked):
        item = result["item"]
        assert result["changed"] is False
        assert item["id"] == "containers" and item["status"] == "pass", item
        assert item["summary"].startswith("container %s is running, health healthy, 0 restarts, up " % standin.container)
        ev = item["evidence"]
        assert ev["exists"] is True and ev["status"] == "running" and ev["health"] == "healthy"
        assert ev["restart_count"] == 0 and ev["restart_loop"] is False and ev["uptime_s"] >= 0
        assert ev["image"] == "milos-shop/standin:local" and ev["started_at"].endswith("Z")
        # The database, found from the container's mounts.
        assert result["database_host_path"] == str(standin.db_path)
        assert result["database_mount"]["destination"] == "/app/data"
        assert result["database_host_path_error"] is None
    # The environment (SENTRY_DSN, ...) never comes back.
    assert "SENTRY_DSN" not in json.dumps(applied) and "NODE_ENV" not in json.dumps(applied)
    assert checked["container"]["mounts"] == applied["container"]["mounts"]


def test_a_database_path_nothing_mounts(shared_standin, capsys):
    result = check(capsys, container=shared_standin.container, database_path="/srv/db/milos_shop.db")
    assert result["item"]["status"] == "pass" and result["database_host_path"] is None
    assert result["database_host_path_error"].startswith(
        "container %s mounts nothing at /srv/db or above it (it mounts " % shared_standin.container)


def test_a_stopped_container_fails(standin_factory, capsys):
    standin = started(standin_factory)
    standin.compose("stop", "-t", "1")
    result = check(capsys, container=standin.container, database_path="/app/data/milos_shop.db")
    item = result["item"]
    assert item["status"] == "fail"
    assert item["summary"].startswith("container %s is exited, health " % standin.container), item["summary"]
    assert item["evidence"]["status"] == "exited" and item["evidence"]["uptime_s"] == 0
    assert "not_running" in [a["kind"] for a in item["alerts"]]
    # A stopped container still has its mounts: the database can be found (a restore needs that).
    assert result["database_host_path"] == str(standin.db_path)


def test_a_missing_container_fails_without_failing_the_task(docker_engine, capsys):
    result = check(capsys, container="no-such-milos-container-status", database_path="/app/data/milos_shop.db")
    assert result["item"]["status"] == "fail"
    assert result["item"]["summary"] == "container no-such-milos-container-status does not exist"
    assert result["item"]["evidence"]["exists"] is False and result["container"]["exists"] is False
    assert result["database_host_path"] is None
    assert "does not exist" in result["database_host_path_error"]


def test_an_unreachable_daemon_is_a_fail_item(capsys, tmp_path):
    result = check(capsys, container="milos-shop", docker_host="unix://%s/docker.sock" % tmp_path)
    assert result["item"]["status"] == "fail" and result["item"]["alerts"][0]["kind"] == "check_error"
    assert result["item"]["summary"].startswith("cannot read the state of container milos-shop: the Docker daemon at unix://")


@pytest.mark.slow
def test_a_crash_loop_is_a_restart_loop(standin_factory, capsys):
    standin = started(standin_factory)
    (standin.data_dir / "CRASH_ON_START").touch()
    assert standin.request("/api/_fault/crash", "POST", {})[0] == 202
    deadline = time.monotonic() + 60
    while standin.inspect()["RestartCount"] < 3:
        assert time.monotonic() < deadline, "no restart loop: %s" % standin.inspect()["State"]
        time.sleep(0.2)
    result = check(capsys, container=standin.container, restart_loop_count=3, restart_window="10min")
    item = result["item"]
    assert item["status"] == "fail", item
    assert item["evidence"]["restart_count"] >= 3 and item["evidence"]["restart_loop"] is True
    assert " in a restart loop, " in item["summary"]
    assert "restart_loop" in [a["kind"] for a in item["alerts"]]
    # The same container judged with a higher loop count is not in a loop (it may still be down).
    relaxed = check(capsys, container=standin.container, restart_loop_count=1000)["item"]
    assert relaxed["evidence"]["restart_loop"] is False
