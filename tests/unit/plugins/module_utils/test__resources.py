# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the resource readings: Docker stats documents, /proc files, filesystems, alerts."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess

import pytest

from ansible_collections.milos_shop.ops.plugins.module_utils import _checklist
from ansible_collections.milos_shop.ops.plugins.module_utils._resources import (
    alerts_for,
    container_usage,
    cpu_usage,
    disk_usage,
    group_disks,
    judge_disk,
    judge_resources,
    measure_disks,
    memory_usage,
)

MIB = 2 ** 20
GIB = 2 ** 30

# -- Docker stats documents (GET /containers/{id}/stats?stream=false) ---------------
# Recorded shapes, trimmed to what docker stats reads. The expected figures are worked
# out by hand the way the docker CLI does (calculateCPUPercentUnix, calculateMemUsageUnixNoCache).

# cgroup v1 (Docker 20.10 on Debian 11): online_cpus, percpu_usage; the memory stats carry both the
# cgroup's own inactive_file and the hierarchical total_inactive_file, which docker stats subtracts.
STATS_V1 = {
    "read": "2026-11-28T16:29:01.429621536Z",
    "preread": "2026-11-28T16:29:00.426402285Z",
    "pids_stats": {"current": 11},
    "cpu_stats": {
        "cpu_usage": {"total_usage": 3579664079, "percpu_usage": [1713299293, 1866364786],
                      "usage_in_kernelmode": 710000000, "usage_in_usermode": 2460000000},
        "system_cpu_usage": 4537940000000,
        "online_cpus": 2,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    },
    "precpu_stats": {
        "cpu_usage": {"total_usage": 3179664079, "percpu_usage": [1513299293, 1666364786],
                      "usage_in_kernelmode": 700000000, "usage_in_usermode": 2300000000},
        "system_cpu_usage": 4535940000000,
        "online_cpus": 2,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    },
    "memory_stats": {
        "usage": 43175936,
        "max_usage": 57696256,
        "stats": {"active_anon": 4096, "active_file": 16535552, "cache": 23547904, "inactive_anon": 17457152,
                  "inactive_file": 5000000, "rss": 17461248, "total_cache": 23547904, "total_inactive_file": 7012352,
                  "total_rss": 17461248, "hierarchical_memory_limit": 268435456},
        "limit": 268435456,
    },
    "name": "/milos-shop",
    "id": "6484707e508739d77a7c52ddd9df74f8b5f31a619ec192d60c415f0e00ba48ba",
}
# CPU: (3579664079 - 3179664079) / (4537940000000 - 4535940000000) * 2 * 100 = 4e8 / 2e9 * 200 = 40 %.
# Memory: 43175936 - 7012352 (total_inactive_file, not inactive_file) = 36163584 of 268435456 = 13.472 %.
V1_EXPECTED = {"running": True, "cpu_percent": 40.0, "memory_used_bytes": 36163584, "memory_limit_bytes": 268435456,
               "memory_percent": 13.47, "pids": 11}

# cgroup v2 (Docker 24 on Debian 12): no percpu_usage, memory stats with inactive_file only.
STATS_V2 = {
    "read": "2026-11-28T16:30:01.000000000Z",
    "preread": "2026-11-28T16:30:00.000000000Z",
    "pids_stats": {"current": 9, "limit": 4915},
    "cpu_stats": {
        "cpu_usage": {"total_usage": 1250000000, "usage_in_kernelmode": 250000000, "usage_in_usermode": 1000000000},
        "system_cpu_usage": 20004000000000,
        "online_cpus": 4,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    },
    "precpu_stats": {
        "cpu_usage": {"total_usage": 1000000000, "usage_in_kernelmode": 200000000, "usage_in_usermode": 800000000},
        "system_cpu_usage": 20000000000000,
        "online_cpus": 4,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    },
    "memory_stats": {
        "usage": 50000000,
        "stats": {"anon": 30000000, "file": 18000000, "active_file": 8000000, "inactive_file": 10000000, "kernel_stack": 200000,
                  "slab": 900000, "pgfault": 12000},
        "limit": 100000000,
    },
    "name": "/milos-shop",
    "id": "0c3f0f6a0b3e",
}
# CPU: 2.5e8 / 4e9 * 4 * 100 = 25 %. Memory: 50000000 - 10000000 = 40000000 of 100000000 = 40 %.
V2_EXPECTED = {"running": True, "cpu_percent": 25.0, "memory_used_bytes": 40000000, "memory_limit_bytes": 100000000,
               "memory_percent": 40.0, "pids": 9}

# A container that exists but is not running (recorded from Docker 20.10 for a created container).
STATS_NOT_RUNNING = {
    "read": "0001-01-01T00:00:00Z", "preread": "0001-01-01T00:00:00Z", "pids_stats": {},
    "num_procs": 0, "storage_stats": {},
    "cpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                  "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
    "precpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                     "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
    "memory_stats": {}, "name": "/ls-probe", "id": "ac61cdbcd5de",
}


def modified(document, **changes):
    """A deep copy of a stats document with changes at paths like cpu_stats__online_cpus (None deletes the key)."""
    doc = copy.deepcopy(document)
    for path, value in changes.items():
        keys = path.split("__")
        node = doc
        for key in keys[:-1]:
            node = node[key]
        if value is None:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
    return doc


@pytest.mark.parametrize("stats, expected", [
    (STATS_V1, V1_EXPECTED),
    (STATS_V2, V2_EXPECTED),
    # An older daemon without online_cpus: the number of per-CPU counters.
    (modified(STATS_V1, cpu_stats__online_cpus=None), V1_EXPECTED),
    # Inactive cache at or over the usage: docker stats shows the usage.
    (modified(STATS_V2, memory_stats__stats__inactive_file=60000000),
     dict(V2_EXPECTED, memory_used_bytes=50000000, memory_percent=50.0)),
    # An idle container, and counters that went backwards (a restart between the samples): 0 %.
    (modified(STATS_V2, cpu_stats__cpu_usage__total_usage=1000000000), dict(V2_EXPECTED, cpu_percent=0.0)),
    (modified(STATS_V2, cpu_stats__cpu_usage__total_usage=10), dict(V2_EXPECTED, cpu_percent=0.0)),
    # No system delta (first sample): 0 %, not a division by zero.
    (modified(STATS_V2, precpu_stats__system_cpu_usage=None, cpu_stats__system_cpu_usage=0), dict(V2_EXPECTED, cpu_percent=0.0)),
    # No limit reported: 0 %.
    (modified(STATS_V2, memory_stats__limit=0), dict(V2_EXPECTED, memory_limit_bytes=0, memory_percent=0.0)),
    # More than one core busy: over 100 %.
    (modified(STATS_V2, cpu_stats__cpu_usage__total_usage=1000000000 + 3000000000),
     dict(V2_EXPECTED, cpu_percent=300.0)),
    (STATS_NOT_RUNNING, {"running": False, "cpu_percent": 0.0, "memory_used_bytes": 0, "memory_limit_bytes": 0,
                         "memory_percent": 0.0, "pids": None}),
])
def test_container_usage_as_docker_stats_computes_it(stats, expected):
    assert container_usage(stats) == expected


def test_container_usage_of_a_document_without_figures():
    # Running (its time is not the zero time) without a memory controller: 0, not an error.
    assert container_usage({"read": "2026-11-28T16:30:01Z"}) == {
        "running": True, "cpu_percent": 0.0, "memory_used_bytes": 0, "memory_limit_bytes": 0, "memory_percent": 0.0, "pids": None}


# -- /proc/stat and /proc/meminfo ----------------------------------------------------

STAT_HEAD = "cpu  {} {} {} {} {} {} {} {} {} {}\ncpu0 1 2 3 4 5 6 7 8 0 0\nintr 12345\nctxt 999\n"


def stat_file(path, user, nice, system, idle, iowait, irq=0, softirq=0, steal=0, guest=0, guest_nice=0):
    path.write_text(STAT_HEAD.format(user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice))
    return path


@pytest.mark.parametrize("before, after, expected", [
    # 500 jiffies pass; idle + iowait grow by 200 + 100: 200 busy = 40 %.
    ((100, 0, 100, 800, 0), (250, 0, 150, 1000, 100), 40.0),
    # guest time is already in user time: not counted twice. irq, softirq and steal are busy.
    ((100, 0, 100, 800, 0, 0, 0, 0, 0), (200, 0, 100, 1100, 0, 50, 25, 25, 90), 40.0),
    # Fully idle, fully busy.
    ((0, 0, 0, 1000, 0), (0, 0, 0, 2000, 0), 0.0),
    ((0, 10, 0, 1000, 0), (500, 10, 500, 1000, 0), 100.0),
    # No time passed: 0 %, not a division by zero.
    ((1, 1, 1, 1, 1), (1, 1, 1, 1, 1), 0.0),
])
def test_cpu_usage_over_the_interval(tmp_path, before, after, expected):
    path = stat_file(tmp_path / "stat", *before)
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        stat_file(path, *after)  # the kernel's counters move on while we sleep

    result = cpu_usage(0.5, stat=str(path), sleep=sleep)
    assert slept == [0.5]
    assert result == {"interval_s": 0.5, "used_percent": expected, "cpus": os.cpu_count()}


def test_cpu_usage_on_an_old_kernel_with_four_fields(tmp_path):
    path = tmp_path / "stat"
    path.write_text("cpu  100 0 100 800\n")

    def sleep(seconds):
        path.write_text("cpu  175 0 100 825\n")

    assert cpu_usage(1, stat=str(path), sleep=sleep)["used_percent"] == 75.0


def test_cpu_usage_of_this_host_is_a_percentage():
    result = cpu_usage(0.05)
    assert 0.0 <= result["used_percent"] <= 100.0 and result["cpus"] >= 1


MEMINFO = """MemTotal:       16384000 kB
MemFree:         1024000 kB
MemAvailable:    4096000 kB
Buffers:          512000 kB
Cached:          2048000 kB
SwapCached:            0 kB
HugePages_Total:       0
HugePages_Free:        0
Hugepagesize:       2048 kB
DirectMap4k:      123456 kB
"""


def test_memory_usage_from_meminfo(tmp_path):
    path = tmp_path / "meminfo"
    path.write_text(MEMINFO)
    assert memory_usage(str(path)) == {"total_bytes": 16384000 * 1024, "available_bytes": 4096000 * 1024, "used_percent": 75.0}


def test_memory_usage_before_memavailable_is_free_buffers_and_cache(tmp_path):
    path = tmp_path / "meminfo"
    path.write_text("".join(line + "\n" for line in MEMINFO.splitlines() if not line.startswith("MemAvailable")))
    # (1024000 + 512000 + 2048000) of 16384000 kB available: 78.125 % used.
    assert memory_usage(str(path)) == {"total_bytes": 16384000 * 1024, "available_bytes": 3584000 * 1024, "used_percent": 78.12}


def test_memory_usage_of_this_host():
    result = memory_usage()
    assert result["total_bytes"] > 0 and 0 < result["available_bytes"] <= result["total_bytes"]
    assert 0.0 <= result["used_percent"] < 100.0


# -- filesystems ---------------------------------------------------------------------

def test_disk_usage_is_what_df_shows(tmp_path):
    usage = disk_usage(str(tmp_path))
    st = os.statvfs(str(tmp_path))
    assert usage["total_bytes"] == st.f_blocks * st.f_frsize
    assert usage["used_bytes"] == shutil.disk_usage(str(tmp_path)).used
    assert usage["free_bytes"] == st.f_bavail * st.f_frsize
    # df's Use%: used / (used + available to users), which reserved blocks make more than used / total.
    assert usage["used_percent"] == round(100.0 * usage["used_bytes"] / (usage["used_bytes"] + usage["free_bytes"]), 2)
    assert usage["device"] == os.stat(str(tmp_path)).st_dev


def test_paths_on_one_filesystem_are_one_entry(tmp_path):
    sub = tmp_path / "data" / "deeper"
    sub.mkdir(parents=True)
    (tmp_path / "file.db").write_bytes(b"x")
    disks = group_disks([str(tmp_path), str(sub), str(tmp_path / "file.db")])
    assert len(disks) == 1
    assert disks[0]["paths"] == [str(tmp_path), str(sub), str(tmp_path / "file.db")]
    assert set(disks[0]) == {"paths", "total_bytes", "used_bytes", "free_bytes", "used_percent"}


@pytest.fixture
def tmpfs(tmp_path):
    """A 1 MiB tmpfs mounted in tmp_path (needs root); skipped where mounting is not allowed."""
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % (res.stderr.strip() or res.returncode))
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_a_tmpfs_is_an_entry_of_its_own(tmp_path, tmpfs):
    (tmpfs / "half").write_bytes(b"\0" * (512 * 1024))
    disks = group_disks([str(tmp_path), str(tmpfs), str(tmpfs / "half")])
    assert [d["paths"] for d in disks] == [[str(tmp_path)], [str(tmpfs), str(tmpfs / "half")]]
    small = disks[1]
    assert small["total_bytes"] == MIB
    assert small["used_bytes"] == 512 * 1024 and small["free_bytes"] == 512 * 1024
    assert small["used_percent"] == 50.0


# -- alerts --------------------------------------------------------------------------

THRESHOLDS = {"disk": 90, "memory": 80, "cpu": 80, "container_cpu": 80, "container_memory": 80}


def reading(disk=50.0, memory=50.0, cpu=50.0, container_cpu=10.0, container_memory=10.0, running=True):
    return {
        "disks": [{"paths": ["/", "/var/backups"], "total_bytes": 100 * GIB, "used_bytes": int(disk * GIB),
                   "free_bytes": int((100 - disk) * GIB), "used_percent": disk}],
        "memory": {"total_bytes": 16 * GIB, "available_bytes": 8 * GIB, "used_percent": memory},
        "cpu": None if cpu is None else {"interval_s": 1.0, "used_percent": cpu, "cpus": 2},
        "container": {"name": "milos-shop", "running": running, "cpu_percent": container_cpu, "memory_used_bytes": 1,
                      "memory_limit_bytes": 2, "memory_percent": container_memory, "pids": 3},
    }


@pytest.mark.parametrize("figures, kinds", [
    (dict(), []),
    # At the threshold: no alert; over it: one.
    (dict(disk=90.0, memory=80.0, cpu=80.0, container_cpu=80.0, container_memory=80.0), []),
    (dict(disk=90.01), ["disk"]),
    (dict(memory=80.5), ["memory"]),
    (dict(cpu=99.9), ["cpu"]),
    (dict(container_cpu=150.0), ["container_cpu"]),
    (dict(container_memory=80.01), ["container_memory"]),
    (dict(disk=89.99, memory=79.99, cpu=79.99, container_cpu=79.99, container_memory=79.99), []),
    (dict(disk=100.0, memory=100.0, cpu=100.0, container_cpu=200.0, container_memory=100.0),
     ["disk", "memory", "cpu", "container_cpu", "container_memory"]),
    # CPU not sampled.
    (dict(cpu=None), []),
    # A stopped container: one alert, not figures of 0 %.
    (dict(running=False, container_cpu=0.0, container_memory=0.0), ["container_down"]),
])
def test_alerts_at_under_and_over_thresholds(figures, kinds):
    assert [a["kind"] for a in alerts_for(reading(**figures), THRESHOLDS)] == kinds


def test_alert_messages():
    figures = reading(disk=95.5, memory=85.0, cpu=90.0, container_cpu=120.0, container_memory=81.0)
    alerts = {a["kind"]: a for a in alerts_for(figures, THRESHOLDS)}
    assert alerts["disk"] == {"kind": "disk", "severity": "fail", "value": 95.5, "threshold": 90,
                              "message": "filesystem of /, /var/backups is 95.5% used (threshold 90%), 4.5 GiB free"}
    assert alerts["memory"]["message"] == "host memory 85.0% used (threshold 80%)"
    assert alerts["cpu"]["message"] == "host CPU 90.0% busy over 1.0 s (threshold 80%)"
    assert alerts["container_cpu"]["message"] == "container milos-shop CPU 120.0% (threshold 80%)"
    assert alerts["container_memory"]["message"] == "container milos-shop memory 81.0% of its limit (threshold 80%)"
    down = alerts_for(reading(running=False), THRESHOLDS)
    assert down == [{"kind": "container_down", "severity": "warn", "value": 0, "threshold": None,
                     "message": "container milos-shop is not running: no CPU or memory figures"}]


@pytest.mark.parametrize("kind, severity, threshold", [
    ("disk", "fail", 90), ("memory", "warn", 80), ("cpu", "warn", 80), ("container_cpu", "warn", 80),
    ("container_memory", "warn", 80),
])
def test_alert_severities_and_thresholds(kind, severity, threshold):
    figures = reading(disk=95.5, memory=85.0, cpu=90.0, container_cpu=120.0, container_memory=81.0)
    found = {a["kind"]: a for a in alerts_for(figures, THRESHOLDS)}[kind]
    assert (found["severity"], found["threshold"]) == (severity, threshold)


def test_no_container_no_container_alerts():
    result = reading(container_cpu=500.0)
    del result["container"]
    assert alerts_for(result, THRESHOLDS) == []


def test_zero_thresholds_alert_on_anything_used():
    zero = dict.fromkeys(THRESHOLDS, 0)
    assert len(alerts_for(reading(), zero)) == 5


# -- the resources item ------------------------------------------------------------------

def judged(**figures):
    result = reading(**figures)
    result["alerts"] = alerts_for(result, THRESHOLDS)
    item = judge_resources(result)
    assert _checklist.validate(item) is item and (item["id"], item["title"]) == ("resources", "CPU and memory (docker stats)")
    return item


@pytest.mark.parametrize("figures, status, kinds", [
    (dict(), "pass", []),
    (dict(memory=80.0, cpu=80.0, container_cpu=80.0, container_memory=80.0), "pass", []),
    (dict(memory=80.01), "warn", ["memory"]),
    (dict(cpu=80.01), "warn", ["cpu"]),
    (dict(container_cpu=80.01), "warn", ["container_cpu"]),
    (dict(container_memory=80.01), "warn", ["container_memory"]),
    (dict(running=False), "warn", ["container_down"]),
    (dict(disk=99.0), "pass", []),  # the disk is the disk item's
    (dict(disk=99.0, memory=99.0), "warn", ["memory"]),
])
def test_resources_statuses(figures, status, kinds):
    item = judged(**figures)
    assert item["status"] == status and [a["kind"] for a in item["alerts"]] == kinds
    assert item["evidence"]["alerts"] == item["alerts"]


def test_resources_summary_with_and_without_alerts():
    assert judged(memory=42.5, cpu=3.25, container_cpu=0.5, container_memory=12.0)["summary"] == (
        "host memory 42.5% used, CPU 3.25% busy; container milos-shop CPU 0.5%, memory 12.0% of its limit")
    assert judged(cpu=None)["summary"].startswith("host memory 50.0% used, CPU not sampled; container milos-shop")
    assert judged(memory=85.0, container_memory=81.0)["summary"] == (
        "host memory 85.0% used (threshold 80%); container milos-shop memory 81.0% of its limit (threshold 80%)")


def test_resources_without_a_container():
    result = reading()
    del result["container"]
    result["alerts"] = []
    item = judge_resources(result)
    assert item["summary"] == "host memory 50.0% used, CPU 50.0% busy" and item["evidence"]["container"] is None


def test_resources_that_cannot_be_read_fail():
    result = {"disks": [], "memory": reading()["memory"], "cpu": None, "alerts": []}
    item = judge_resources(result, error="container 'x' does not exist on unix:///var/run/docker.sock")
    assert item["status"] == "fail" and item["summary"] == "container 'x' does not exist on unix:///var/run/docker.sock"
    assert [a["kind"] for a in item["alerts"]] == ["check_error"]


# -- the disk item --------------------------------------------------------------------------

def fake_measure(percent_by_path, device_by_path=None):
    def measure(path):
        if percent_by_path[path] is None:
            raise PermissionError(13, "Permission denied")
        return {"path": path, "total_bytes": 100 * GIB, "used_bytes": int(percent_by_path[path] * GIB),
                "free_bytes": int((100 - percent_by_path[path]) * GIB), "used_percent": percent_by_path[path],
                "device": (device_by_path or {}).get(path, path)}
    return measure


@pytest.mark.parametrize("percents, threshold, status, kinds", [
    ({"/": 50.0}, 90, "pass", []),
    ({"/": 90.0}, 90, "pass", []),
    ({"/": 90.01}, 90, "fail", ["disk"]),
    ({"/": 1.5}, 1, "fail", ["disk"]),
    ({"/": 0.0}, 0, "pass", []),
    ({"/": 100.0}, 100, "pass", []),
    ({"/": 10.0, "/data": 95.0}, 90, "fail", ["disk"]),
    ({"/": 95.0, "/data": 95.0}, 90, "fail", ["disk", "disk"]),
])
def test_disk_statuses(tmp_path, percents, threshold, status, kinds):
    paths = dict((str(tmp_path) if p == "/" else str(tmp_path / p.strip("/")), v) for p, v in percents.items())
    for path in paths:
        os.makedirs(path, exist_ok=True)
    disks, missing, required_missing, errors = measure_disks(list(paths), [], fake_measure(paths))
    item = judge_disk(disks, missing, required_missing, threshold, errors)
    assert _checklist.validate(item) is item and (item["id"], item["title"]) == ("disk", "Disk space (df -h)")
    assert item["status"] == status and [a["kind"] for a in item["alerts"]] == kinds
    assert all(a["severity"] == "fail" and a["threshold"] == threshold for a in item["alerts"])
    assert item["evidence"]["threshold_percent"] == threshold


def test_disk_summary_groups_by_filesystem(tmp_path):
    data, backups = tmp_path / "data", tmp_path / "backups"
    data.mkdir()
    backups.mkdir()
    paths = {str(tmp_path): 41.2, str(data): 41.2, str(backups): 12.5}
    devices = {str(tmp_path): 1, str(data): 1, str(backups): 2}
    disks, missing, required_missing, errors = measure_disks([str(tmp_path), str(data)], [str(backups)],
                                                             fake_measure(paths, devices))
    item = judge_disk(disks, missing, required_missing, 90, errors)
    assert item["status"] == "pass"
    assert item["summary"] == "%s, %s: 41.2%% used; %s: 12.5%% used" % (tmp_path, data, backups)
    assert [d["paths"] for d in item["evidence"]["disks"]] == [[str(tmp_path), str(data)], [str(backups)]]


def test_disk_missing_required_and_optional_paths(tmp_path):
    data, backups = str(tmp_path / "data"), str(tmp_path / "backups")
    disks, missing, required_missing, errors = measure_disks([str(tmp_path), data], [backups], fake_measure({str(tmp_path): 20.0}))
    item = judge_disk(disks, missing, required_missing, 90, errors)
    assert item["status"] == "fail" and [a["kind"] for a in item["alerts"]] == ["missing_path"]
    assert item["summary"] == "data directory %s does not exist" % data
    assert item["evidence"]["missing"] == [data, backups] and item["evidence"]["required_missing"] == [data]
    assert [d["paths"] for d in item["evidence"]["disks"]] == [[str(tmp_path)]]


def test_disk_missing_optional_path_only_is_noted(tmp_path):
    backups = str(tmp_path / "backups")
    disks, missing, required_missing, errors = measure_disks([str(tmp_path)], [backups], fake_measure({str(tmp_path): 20.0}))
    item = judge_disk(disks, missing, required_missing, 90, errors)
    assert item["status"] == "pass" and item["summary"] == "%s: 20.0%% used" % tmp_path
    assert item["evidence"]["missing"] == [backups] and item["evidence"]["required_missing"] == []


def test_disk_missing_data_and_a_full_disk_both_named(tmp_path):
    data = str(tmp_path / "data")
    disks, missing, required_missing, errors = measure_disks([str(tmp_path), data], [], fake_measure({str(tmp_path): 97.0}))
    item = judge_disk(disks, missing, required_missing, 90, errors)
    assert item["summary"].startswith("data directory %s does not exist; filesystem of %s is 97.0%% used (threshold 90%%)"
                                      % (data, tmp_path))


def test_disk_that_cannot_be_measured_fails(tmp_path):
    disks, missing, required_missing, errors = measure_disks([str(tmp_path)], [], fake_measure({str(tmp_path): None}))
    item = judge_disk(disks, missing, required_missing, 90, errors)
    assert item["status"] == "fail" and item["summary"] == "cannot measure the filesystem of %s: Permission denied" % tmp_path


def test_disk_of_this_host(tmp_path):
    disks, missing, required_missing, errors = measure_disks([str(tmp_path)], [])
    item = judge_disk(disks, missing, required_missing, 100, errors)
    assert item["status"] == "pass" and item["evidence"]["disks"][0]["total_bytes"] > 0
