"""The checklist core end to end: one name per fact, and maintenance windows honoured by the daily run.

Each test has a stand-in of its own and runs the playbooks as an operator does.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.receivers import BIN, ROOT, host_vars, notifiers, run_daily, take_backup, write_inventory

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def playbook(name: str, inventory: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    return subprocess.run([str(BIN / "ansible-playbook"), f"playbooks/{name}.yml", "-i", str(inventory), *args],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=timeout, check=False)


def task_results(res: subprocess.CompletedProcess, host: str = "shop") -> dict:
    """{task name without the role: result} from the ansible.posix.json callback (the last of a repeated name wins)."""
    out = json.loads(res.stdout[res.stdout.index("{"):])
    results = {}
    for play in out["plays"]:
        for task in play["tasks"]:
            if host in task["hosts"]:
                results[task["task"]["name"].split(" : ", 1)[-1]] = task["hosts"][host]
    return results


def test_milos_shop_backup_dir_alone_moves_backup_retention_daily_and_restore(standin, tmp_path):
    moved = tmp_path / "moved-backups"
    inventory = write_inventory(tmp_path / "hosts.yml", {"shop": host_vars(standin, moved, tmp_path / "reports")})

    res = playbook("backup", inventory)
    assert res.returncode == 0, res.stdout + res.stderr
    tasks = task_results(res)
    backup = tasks["Back up the live SQLite database (online backup API, checked, atomic)"]
    assert Path(backup["path"]).parent == moved and Path(backup["path"]).exists()
    assert backup["src"] == str(standin.db_path), "the database was not found through the container's mounts"
    retention = tasks["Prune backups beyond the retention policy"]
    assert retention["invocation"]["module_args"]["path"] == str(moved)
    assert retention["newest_verified"] == backup["path"]
    assert not any(standin.backup_dir.iterdir()), "a backup landed in the app's own backup directory"

    run = run_daily(inventory, tmp_path / "reports", "--tags", "daily_backup", "-e", "daily_backup_enabled=false")
    assert run.returncode == 0, run.explain()
    item = run.items()["backup"]
    assert item["status"] == "pass", item
    assert item["evidence"]["newest_verified"] == Path(backup["path"]).name

    res = playbook("restore", inventory, "--check")
    assert res.returncode == 0, res.stdout + res.stderr
    chosen = task_results(res)["Show the chosen backup"]["msg"]
    assert chosen.startswith(f"Chosen backup {backup['path']} "), chosen


def window(path: Path, until: datetime.datetime, by: str = "tester", reason: str = "restore drill") -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"by": by, "reason": reason, "since": f"{now:%Y-%m-%dT%H:%M:%SZ}",
                                "until": f"{until:%Y-%m-%dT%H:%M:%SZ}", "token": "0" * 32}))


def test_maintenance_window_skips_without_alerts_and_an_expired_one_warns(standin, tmp_path):
    backups = tmp_path / "backups"
    take_backup(standin.db_path, backups)
    with notifiers() as notify:
        hv = host_vars(standin, backups, tmp_path / "reports", notify, daily_backup_enabled=False)
        marker = Path(hv["milos_shop_maintenance_file"])
        inventory = write_inventory(tmp_path / "hosts.yml", {"shop": hv})

        # The app stopped on purpose, inside a window: every problem is a skip that says why; no alert.
        until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=30)
        window(marker, until)
        standin.compose("stop", "-t", "5")
        run = run_daily(inventory, tmp_path / "reports")
        assert run.returncode == 0, run.explain()
        items = run.items()
        reason = f"maintenance by tester until {until:%Y-%m-%dT%H:%M:%SZ} (restore drill)"
        for name in ("containers", "logs", "health", "resources"):
            if items[name]["status"] != "pass":
                assert items[name]["status"] == "skip", items[name]
                assert items[name]["summary"].startswith(reason), items[name]
                assert items[name]["alerts"] == []
        assert items["containers"]["status"] == "skip" and items["health"]["status"] == "skip"
        assert items["containers"]["evidence"]["during_maintenance"]["status"] == "fail"
        assert run.report()["status"] == "skip"
        assert "- SKIP Containers up" in run.markdown()
        assert notify.take() == ([], []), "a maintenance window raised an alert"

        # The window's end has passed and its marker is still there: a warn of its own, and an alert.
        standin.compose("start")
        standin.wait_health()
        window(marker, datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5))
        run = run_daily(inventory, tmp_path / "reports")
        assert run.returncode == 0, run.explain()
        items = run.items()
        assert items["maintenance"]["status"] == "warn", items["maintenance"]
        assert "still there" in items["maintenance"]["summary"]
        assert items["containers"]["status"] == "pass" and items["health"]["status"] == "pass"
        posts, mails = notify.take()
        assert len(posts) == 1 and posts[0].body["status"] == "warn" and len(mails) == 1

        # Closed: everything passes again, and one recovery message.
        marker.unlink()
        run = run_daily(inventory, tmp_path / "reports")
        assert run.returncode == 0 and run.report()["status"] == "pass", run.explain()
        posts, mails = notify.take()
        assert len(posts) == 1 and posts[0].body["kind"] == "recovery"
