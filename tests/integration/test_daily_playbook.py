"""playbooks/daily.yml against a stand-in stack of its own, on the real engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.docker


def write_inventory(tmp_path: Path, standin) -> Path:
    inventory = {
        "milos_shop": {
            "hosts": {
                "shop": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": sys.executable,
                    "milos_shop_container": standin.container,
                    "milos_shop_health_url": f"{standin.url}/api/services",
                    "milos_shop_health_timeout": 3,
                }
            }
        }
    }
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def playbook(inventory: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run([str(BIN / "ansible-playbook"), "playbooks/daily.yml", "-i", str(inventory), *args],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=300, check=False)


def test_healthy_stack_passes(standin, tmp_path):
    res = playbook(write_inventory(tmp_path, standin))
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"container {standin.container} is running and healthy" in res.stdout
    assert "answered 200 with 4 services" in res.stdout
    assert "changed=0" in res.stdout


def test_check_mode_changes_nothing(standin, tmp_path):
    res = playbook(write_inventory(tmp_path, standin), "--check")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "changed=0" in res.stdout


def test_stopped_app_fails_the_run_and_says_why(standin, tmp_path):
    standin.compose("stop", "-t", "5")
    res = playbook(write_inventory(tmp_path, standin))
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"container {standin.container}: is exited" in res.stdout


def test_failing_health_endpoint_fails_the_run(standin, tmp_path):
    status, _unused, _unused = standin.request("/api/_fault/services", method="POST", body={"mode": "error"})
    assert status == 200
    res = playbook(write_inventory(tmp_path, standin), "--tags", "daily_health")
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"{standin.url}/api/services answered 500" in res.stdout


def test_missing_container_is_reported(standin, tmp_path):
    inventory = write_inventory(tmp_path, standin)
    text = inventory.read_text().replace(standin.container, "no-such-milos-container")
    inventory.write_text(text)
    res = playbook(inventory, "--tags", "daily_containers")
    assert res.returncode == 2
    assert "container no-such-milos-container: does not exist" in res.stdout
