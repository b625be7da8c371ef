# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils file is private to the milos_shop.ops collection; it may
# change or go away without notice. Do not use it from other collections.

"""Host and container resource readings for milos_shop.ops.resource_usage.

Host figures come from statvfs and /proc (Linux); container figures from one
Docker stats sample, computed the way ``docker stats`` computes them.
"""

from __future__ import annotations

import os
import time


def disk_usage(path):
    """Use of the filesystem holding path: the `df` view (reserved blocks count as used)."""
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    free_for_users = st.f_bavail * st.f_frsize
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    # df's Use%: used / (used + available to unprivileged users).
    denominator = used + free_for_users
    percent = 100.0 * used / denominator if denominator else 0.0
    return {
        "path": path,
        "total_bytes": total,
        "used_bytes": used,
        "free_bytes": free_for_users,
        "used_percent": round(percent, 2),
        "device": os.stat(path).st_dev,
    }


def memory_usage(meminfo="/proc/meminfo"):
    """Host memory as `free` sees it: used is what is not available to new programs."""
    values = {}
    with open(meminfo) as handle:
        for line in handle:
            key, _sep, rest = line.partition(":")
            fields = rest.split()
            if fields and fields[0].isdigit():
                values[key] = int(fields[0]) * (1024 if fields[1:2] == ["kB"] else 1)
    total = values["MemTotal"]
    if "MemAvailable" in values:
        available = values["MemAvailable"]
    else:  # kernels before 3.14: the estimate `free` made
        available = values.get("MemFree", 0) + values.get("Buffers", 0) + values.get("Cached", 0)
    return {
        "total_bytes": total,
        "available_bytes": available,
        "used_percent": round(100.0 * (total - available) / total, 2) if total else 0.0,
    }


def _cpu_times(stat="/proc/stat"):
    with open(stat) as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields[:8]), idle


def cpu_usage(interval, stat="/proc/stat", sleep=time.sleep):
    """Busy share of all CPUs over interval seconds."""
    total1, idle1 = _cpu_times(stat)
    sleep(interval)
    total2, idle2 = _cpu_times(stat)
    dt = total2 - total1
    return {"interval_s": interval, "used_percent": round(100.0 * (dt - (idle2 - idle1)) / dt, 2) if dt > 0 else 0.0,
            "cpus": os.cpu_count()}


def _never_read(stats):
    # The daemon answers for a container that is not running with the zero time and empty figures.
    # (Not "no memory_stats": a running container without a memory controller has none either.)
    return str(stats.get("read") or "").startswith("0001-01-01")


def container_usage(stats):
    """CPU and memory percentages from one Docker stats document, as `docker stats` computes them.

    CPU: the container's share of the host's CPU time between the two samples of the document,
    times the online CPUs (100 is one full core). Memory: usage less the inactive page cache
    (total_inactive_file on cgroup v1, inactive_file on cgroup v2), against the limit.
    """
    cpu = stats.get("cpu_stats") or {}
    pre = stats.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get("total_usage", 0)
    system_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    cpu_percent = 100.0 * cpu_delta / system_delta * online if system_delta > 0 and cpu_delta > 0 else 0.0
    mem = stats.get("memory_stats") or {}
    usage = mem.get("usage", 0)
    mstats = mem.get("stats") or {}
    if "total_inactive_file" in mstats:  # cgroup v1 (it also has inactive_file, for the cgroup alone)
        inactive = mstats["total_inactive_file"]
    else:  # cgroup v2
        inactive = mstats.get("inactive_file", 0)
    used = usage - inactive if inactive < usage else usage
    limit = mem.get("limit", 0)
    return {
        "running": not _never_read(stats),
        "cpu_percent": round(cpu_percent, 2),
        "memory_used_bytes": used,
        "memory_limit_bytes": limit,
        "memory_percent": round(100.0 * used / limit, 2) if limit else 0.0,
        "pids": (stats.get("pids_stats") or {}).get("current"),
    }


def alerts_for(result, thresholds):
    """Alerts (kind, value, message) for each figure over its threshold."""
    alerts = []
    for disk in result["disks"]:
        if disk["used_percent"] > thresholds["disk"]:
            alerts.append({"kind": "disk", "value": disk["used_percent"],
                           "message": "filesystem of %s is %.1f%% used (threshold %d%%), %.1f GiB free"
                           % (", ".join(disk["paths"]), disk["used_percent"], thresholds["disk"], disk["free_bytes"] / 2.0 ** 30)})
    if result["memory"]["used_percent"] > thresholds["memory"]:
        alerts.append({"kind": "memory", "value": result["memory"]["used_percent"],
                       "message": "host memory %.1f%% used (threshold %d%%)" % (result["memory"]["used_percent"], thresholds["memory"])})
    if result["cpu"] and result["cpu"]["used_percent"] > thresholds["cpu"]:
        alerts.append({"kind": "cpu", "value": result["cpu"]["used_percent"],
                       "message": "host CPU %.1f%% busy over %s s (threshold %d%%)"
                       % (result["cpu"]["used_percent"], result["cpu"]["interval_s"], thresholds["cpu"])})
    container = result.get("container")
    if container and not container.get("running", True):
        alerts.append({"kind": "container_down", "value": 0,
                       "message": "container %s is not running: no CPU or memory figures" % container["name"]})
    elif container:
        if container["cpu_percent"] > thresholds["container_cpu"]:
            alerts.append({"kind": "container_cpu", "value": container["cpu_percent"],
                           "message": "container %s CPU %.1f%% (threshold %d%%)"
                           % (container["name"], container["cpu_percent"], thresholds["container_cpu"])})
        if container["memory_percent"] > thresholds["container_memory"]:
            alerts.append({"kind": "container_memory", "value": container["memory_percent"],
                           "message": "container %s memory %.1f%% of its limit (threshold %d%%)"
                           % (container["name"], container["memory_percent"], thresholds["container_memory"])})
    return alerts


def group_disks(paths):
    """Disk usage per filesystem, each listing the paths it holds."""
    disks = {}
    for path in paths:
        usage = disk_usage(path)
        entry = disks.setdefault(usage["device"], dict(usage, paths=[]))
        entry["paths"].append(path)
    for entry in disks.values():
        entry.pop("path", None)
        entry.pop("device", None)
    return list(disks.values())
