# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The containers verdict (restart loop, health, state) and the database's host path, from case tables."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.milos_shop.ops.plugins.module_utils import _checklist
from ansible_collections.milos_shop.ops.plugins.module_utils._container import (
    database_host_path,
    error_result,
    facts_of,
    judge,
    parse_docker_time,
    uptime_seconds,
)

NOW = datetime.datetime(2026, 11, 28, 12, 0, 0, tzinfo=datetime.timezone.utc)


def inspect_doc(status="running", running=True, restarting=False, health="healthy", restarts=0, up_s=3600,
                exit_code=0, mounts=None):
    started = NOW - datetime.timedelta(seconds=up_s)
    state = {"Status": status, "Running": running, "Restarting": restarting, "ExitCode": exit_code, "OOMKilled": False,
             "StartedAt": started.strftime("%Y-%m-%dT%H:%M:%S.000000000Z"), "FinishedAt": "0001-01-01T00:00:00Z"}
    if health is not None:
        state["Health"] = {"Status": health, "FailingStreak": 0, "Log": []}
    return {"Id": "abc123", "Name": "/shop", "RestartCount": restarts, "State": state,
            "Config": {"Image": "milos-shop/standin:local", "Env": ["SENTRY_DSN=https://secret@sentry.example/1"],
                       "Cmd": ["node", "--token=secret"], "Labels": {"secret": "x"}},
            "Args": ["--token=secret"],
            "Mounts": mounts if mounts is not None else [
                {"Type": "bind", "Source": "/srv/shop/data", "Destination": "/app/data", "RW": True},
                {"Type": "bind", "Source": "/srv/shop/backups", "Destination": "/app/backups", "RW": True}]}


def judged(loop_count=3, window=600, **kwargs):
    return judge(facts_of(inspect_doc(**kwargs), "shop"), "shop", loop_count, window, NOW)


@pytest.mark.parametrize("kwargs, status, kinds", [
    (dict(), "pass", []),
    (dict(health=None), "pass", []),  # no health check defined
    (dict(health="starting"), "warn", ["starting"]),
    (dict(health="unhealthy"), "fail", ["unhealthy"]),
    (dict(status="exited", running=False, health="none", exit_code=1), "fail", ["not_running"]),
    (dict(status="created", running=False, health=None), "fail", ["not_running"]),
    (dict(status="paused", running=True), "pass", []),
    (dict(status="restarting", running=True, restarting=True, health="starting", restarts=1), "fail", ["restarting", "starting"]),
    # the restart loop: restarts >= count while up < window
    (dict(restarts=2, up_s=10), "pass", []),
    (dict(restarts=3, up_s=10), "fail", ["restart_loop"]),
    (dict(restarts=3, up_s=599), "fail", ["restart_loop"]),
    (dict(restarts=3, up_s=600), "pass", []),
    (dict(restarts=50, up_s=86400), "pass", []),
    (dict(restarts=3, up_s=10, loop_count=4), "pass", []),
    (dict(restarts=3, up_s=700, window=3600), "fail", ["restart_loop"]),
    # not running counts as up 0 s
    (dict(status="exited", running=False, health=None, restarts=3, up_s=7200), "fail", ["not_running", "restart_loop"]),
    (dict(status="restarting", running=True, restarting=True, restarts=5, up_s=0), "fail", ["restarting", "restart_loop"]),
])
def test_statuses(kwargs, status, kinds):
    item = judged(**kwargs)
    assert _checklist.validate(item) is item
    assert item["id"] == "containers" and item["title"] == "Containers up (docker-compose ps)"
    assert item["status"] == status, item
    assert [a["kind"] for a in item["alerts"]] == kinds
    assert item["evidence"]["restart_loop"] is ("restart_loop" in kinds)


def test_summary_and_evidence_of_a_running_container():
    item = judged(restarts=1, up_s=3605)
    assert item["summary"] == "container shop is running, health healthy, 1 restarts, up 3605 s"
    assert item["evidence"] == {"exists": True, "status": "running", "health": "healthy", "restart_count": 1,
                                "restart_loop": False, "uptime_s": 3605, "started_at": "2026-11-28T10:59:55.000000000Z",
                                "image": "milos-shop/standin:local", "restart_loop_count": 3, "restart_window_s": 600}


def test_summary_of_a_loop_and_the_alert_thresholds():
    item = judged(status="restarting", running=True, restarting=True, health="starting", restarts=4, up_s=5)
    assert item["summary"] == "container shop is restarting in a restart loop, health starting, 4 restarts, up 5 s"
    loop = [a for a in item["alerts"] if a["kind"] == "restart_loop"][0]
    assert loop["severity"] == "fail" and loop["value"] == 4 and loop["threshold"] == 3


def test_a_stopped_container_says_so():
    item = judged(status="exited", running=False, health="none", exit_code=137)
    assert item["summary"] == "container shop is exited, health none, 0 restarts, up 0 s"
    assert item["alerts"][0]["message"] == "container shop is exited (exit code 137)"
    assert item["evidence"]["uptime_s"] == 0


def test_a_missing_container():
    item = judge(facts_of(None, "shop"), "shop", 3, 600, NOW)
    assert item["status"] == "fail" and item["summary"] == "container shop does not exist"
    assert item["evidence"]["exists"] is False and item["evidence"]["status"] == "missing"
    assert item["evidence"]["restart_loop"] is False and item["evidence"]["image"] is None
    assert [a["kind"] for a in item["alerts"]] == ["missing"]


def test_an_unreadable_state_is_a_fail_that_says_why():
    item = error_result("shop", "the Docker daemon at unix:///x: connection refused")
    assert item["status"] == "fail" and item["alerts"][0]["kind"] == "check_error"
    assert item["summary"] == "cannot read the state of container shop: the Docker daemon at unix:///x: connection refused"


def test_facts_never_hold_the_environment_or_the_command():
    facts = facts_of(inspect_doc(), "shop")
    assert "secret" not in repr(facts)
    assert facts["name"] == "shop" and facts["mounts"][1] == {"type": "bind", "source": "/srv/shop/data",
                                                              "destination": "/app/data", "rw": True}


@pytest.mark.parametrize("text, expected", [
    ("2026-11-28T11:00:00.123456789Z", datetime.datetime(2026, 11, 28, 11, 0, 0, 123456, tzinfo=datetime.timezone.utc)),
    ("2026-11-28T11:00:00Z", datetime.datetime(2026, 11, 28, 11, 0, 0, tzinfo=datetime.timezone.utc)),
    ("2026-11-28T12:00:00.5+01:00", datetime.datetime(2026, 11, 28, 11, 0, 0, 500000, tzinfo=datetime.timezone.utc)),
    ("0001-01-01T00:00:00Z", None),
    ("", None),
    (None, None),
    ("yesterday", None),
])
def test_parse_docker_time(text, expected):
    assert parse_docker_time(text) == expected


def test_uptime_without_a_start_time_is_zero():
    facts = facts_of(inspect_doc(), "shop")
    facts["started_at"] = "0001-01-01T00:00:00Z"
    assert uptime_seconds(facts, NOW) == 0


M_DATA = {"Type": "bind", "Source": "/srv/shop/data", "Destination": "/app/data", "RW": True}
M_FILE = {"Type": "bind", "Source": "/srv/db/live.db", "Destination": "/app/data/milos_shop.db", "RW": True}
M_APP = {"Type": "volume", "Source": "/var/lib/docker/volumes/app/_data", "Destination": "/app", "RW": True}
M_TMPFS = {"Type": "tmpfs", "Source": "", "Destination": "/app/data", "RW": True}
M_BACKUPS = {"Type": "bind", "Source": "/srv/shop/backups", "Destination": "/app/backups", "RW": True}


@pytest.mark.parametrize("mounts, path, host, destination", [
    ([M_DATA, M_BACKUPS], "/app/data/milos_shop.db", "/srv/shop/data/milos_shop.db", "/app/data"),
    ([M_DATA, M_FILE], "/app/data/milos_shop.db", "/srv/db/live.db", "/app/data/milos_shop.db"),  # the file itself wins
    ([M_APP], "/app/data/milos_shop.db", "/var/lib/docker/volumes/app/_data/data/milos_shop.db", "/app"),
    ([M_APP, M_DATA], "/app/data/milos_shop.db", "/srv/shop/data/milos_shop.db", "/app/data"),  # the nearest wins
    ([dict(M_DATA, Destination="/app/data/")], "/app/data//milos_shop.db", "/srv/shop/data/milos_shop.db", "/app/data/"),
])
def test_database_host_path(mounts, path, host, destination):
    found, mount, error = database_host_path(facts_of(inspect_doc(mounts=mounts), "shop"), path)
    assert (found, error) == (host, None)
    assert mount["destination"] == destination


@pytest.mark.parametrize("mounts, path, message", [
    ([M_BACKUPS], "/app/data/milos_shop.db",
     "container shop mounts nothing at /app/data or above it (it mounts /app/backups): the database is not on the host"),
    ([], "/app/data/milos_shop.db",
     "container shop mounts nothing at /app/data or above it (it mounts nothing): the database is not on the host"),
    ([dict(M_DATA, Destination="/app/database")], "/app/data/milos_shop.db",
     "container shop mounts nothing at /app/data or above it (it mounts /app/database): the database is not on the host"),
    ([M_TMPFS], "/app/data/milos_shop.db", "the mount of container shop at /app/data has no host side (type tmpfs)"),
])
def test_database_host_path_not_found(mounts, path, message):
    assert database_host_path(facts_of(inspect_doc(mounts=mounts), "shop"), path)[0::2] == (None, message)


def test_database_host_path_without_a_container():
    assert database_host_path(facts_of(None, "shop"), "/app/data/milos_shop.db") == (
        None, None, "container shop does not exist: cannot find /app/data/milos_shop.db from its mounts")
