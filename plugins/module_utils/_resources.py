# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils file is private to the milos_shop.ops collection; it may
# change or go away without notice. Do not use it from other collections.

"""Host and container resource readings and their verdicts (milos_shop.ops.resource_usage, disk_usage).

Host figures come from statvfs and /proc (Linux); container figures from one
Docker stats sample, computed the way ``docker stats`` computes them.
:func:`judge_resources` and :func:`judge_disk` turn them into the ``resources``
and ``disk`` checklist items.
"""

from __future__ import annotations

import os
import time

from ansible_collections.milos_shop.ops.plugins.module_utils._checklist import alert, make_item


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


def _alert(kind, severity, value, threshold, message):
    return {"kind": kind, "severity": severity, "value": value, "threshold": threshold, "message": message}


def disk_alerts(disks, threshold):
    """One ``disk`` alert (severity fail) per filesystem more used than ``threshold`` percent."""
    return [_alert("disk", "fail", disk["used_percent"], threshold,
                   "filesystem of %s is %.1f%% used (threshold %d%%), %.1f GiB free"
                   % (", ".join(disk["paths"]), disk["used_percent"], threshold, disk["free_bytes"] / 2.0 ** 30))
            for disk in disks if disk["used_percent"] > threshold]


def alerts_for(result, thresholds):
    """Alerts (kind, severity, value, threshold, message) for each figure over its threshold.

    A full disk is a ``fail`` (the guide's "Espacio en disco < 10% libre" stops the shop);
    memory, CPU and a stopped container's missing figures are ``warn``.
    """
    alerts = disk_alerts(result["disks"], thresholds["disk"])
    if result["memory"]["used_percent"] > thresholds["memory"]:
        alerts.append(_alert("memory", "warn", result["memory"]["used_percent"], thresholds["memory"],
                             "host memory %.1f%% used (threshold %d%%)" % (result["memory"]["used_percent"], thresholds["memory"])))
    if result["cpu"] and result["cpu"]["used_percent"] > thresholds["cpu"]:
        alerts.append(_alert("cpu", "warn", result["cpu"]["used_percent"], thresholds["cpu"],
                             "host CPU %.1f%% busy over %s s (threshold %d%%)"
                             % (result["cpu"]["used_percent"], result["cpu"]["interval_s"], thresholds["cpu"])))
    container = result.get("container")
    if container and not container.get("running", True):
        alerts.append(_alert("container_down", "warn", 0, None,
                             "container %s is not running: no CPU or memory figures" % container["name"]))
    elif container:
        if container["cpu_percent"] > thresholds["container_cpu"]:
            alerts.append(_alert("container_cpu", "warn", container["cpu_percent"], thresholds["container_cpu"],
                                 "container %s CPU %.1f%% (threshold %d%%)"
                                 % (container["name"], container["cpu_percent"], thresholds["container_cpu"])))
        if container["memory_percent"] > thresholds["container_memory"]:
            alerts.append(_alert("container_memory", "warn", container["memory_percent"], thresholds["container_memory"],
                                 "container %s memory %.1f%% of its limit (threshold %d%%)"
                                 % (container["name"], container["memory_percent"], thresholds["container_memory"])))
    return alerts


RESOURCES_ID = "resources"
RESOURCES_TITLE = "CPU and memory (docker stats)"
DISK_ID = "disk"
DISK_TITLE = "Disk space (df -h)"


def judge_resources(result, item_id=RESOURCES_ID, title=RESOURCES_TITLE, error=None):
    """The ``resources`` item: host and container CPU and memory (disk is the ``disk`` item's).

    warn: any CPU or memory figure over its threshold, or a stopped container;
    fail: the figures could not be read (``error``, say a missing container);
    pass otherwise, with the figures in the summary.
    """
    alerts = [a for a in result.get("alerts") or [] if a["kind"] != "disk"]
    evidence = {"memory": result.get("memory"), "cpu": result.get("cpu"), "container": result.get("container"),
                "alerts": alerts}
    if error:
        return make_item(item_id, title, summary=error, evidence=evidence,
                         alerts=alerts + [alert("check_error", "fail", error)])
    if alerts:
        return make_item(item_id, title, summary="; ".join(a["message"] for a in alerts), evidence=evidence, alerts=alerts)
    memory, cpu, container = result["memory"], result.get("cpu"), result.get("container")
    summary = "host memory %s%% used, CPU %s" % (memory["used_percent"], "%s%% busy" % cpu["used_percent"] if cpu else "not sampled")
    if container:
        summary += "; container %s CPU %s%%, memory %s%% of its limit" % (
            container["name"], container["cpu_percent"], container["memory_percent"])
    return make_item(item_id, title, summary=summary, evidence=evidence, alerts=[])


def measure_disks(required_paths, optional_paths, measure=None):
    """Measure the filesystems of the paths that exist.

    Returns ``(disks, missing, required_missing, errors)``: the filesystems as
    :func:`group_disks` lists them, every path that does not exist, the required
    ones among them, and ``(path, message)`` for paths that exist but cannot be
    measured.
    """
    measure = measure or disk_usage
    missing, required_missing, present, errors = [], [], [], []
    for path, required in [(p, True) for p in required_paths] + [(p, False) for p in optional_paths]:
        if path in present or path in missing:
            continue
        if os.path.exists(path):
            present.append(path)
        else:
            missing.append(path)
            if required:
                required_missing.append(path)
    measured = []
    for path in present:
        try:
            measured.append((path, measure(path)))
        except OSError as exc:
            errors.append((path, "cannot measure the filesystem of %s: %s" % (path, exc.strerror or exc)))
    return _group(measured), missing, required_missing, errors


def judge_disk(disks, missing, required_missing, threshold, errors=(), item_id=DISK_ID, title=DISK_TITLE):
    """The ``disk`` item: fail when a filesystem is more used than ``threshold`` percent, or a required path
    (the data directory) does not exist, or cannot be measured; pass otherwise. Missing optional paths (a
    backup directory not made yet) are listed in the evidence, not measured, and do not change the status.
    """
    alerts = [alert("missing_path", "fail", "data directory %s does not exist" % path, value=path) for path in required_missing]
    alerts += [alert("check_error", "fail", message, value=path) for path, message in errors]
    over = disk_alerts(disks, threshold)
    alerts += over
    if alerts:
        summary = "; ".join(a["message"] for a in alerts)
    else:
        summary = "; ".join("%s: %s%% used" % (", ".join(d["paths"]), d["used_percent"]) for d in disks) or "no filesystem measured"
    evidence = {"disks": disks, "missing": list(missing), "required_missing": list(required_missing),
                "threshold_percent": threshold}
    return make_item(item_id, title, summary=summary, evidence=evidence, alerts=alerts)


def _group(measured):
    disks = {}
    for path, usage in measured:
        entry = disks.setdefault(usage["device"], dict(usage, paths=[]))
        entry["paths"].append(path)
    for entry in disks.values():
        entry.pop("path", None)
        entry.pop("device", None)
    return list(disks.values())


def group_disks(paths):
    """Disk usage per filesystem, each listing the paths it holds."""
    return _group([(path, disk_usage(path)) for path in paths])
