# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers shared by the benchmark scripts: machine facts, statistics, result files.

Not part of the collection's code and not a test: benchmarks print ratios against
a baseline measured in the same run and write their results beside them
(benchmarks/results/<name>.md and .json).
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS_DIR = os.path.join(HERE, "results")
MODULE_UTILS = os.path.join(ROOT, "plugins", "module_utils")


COLLECTIONS = os.path.join(ROOT, ".cache", "collections")


def load_module_utils(name):
    """Import plugins/module_utils/<name>.py as the collection does (ansible_collections.milos_shop.ops...).

    The module_utils import each other by their collection names; ./scripts/setup
    links this checkout at .cache/collections/ansible_collections/milos_shop/ops.
    """
    if COLLECTIONS not in sys.path:
        sys.path.insert(0, COLLECTIONS)
    return importlib.import_module("ansible_collections.milos_shop.ops.plugins.module_utils." + name)


def _read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return ""


def _command_version(argv):
    if not shutil.which(argv[0]):
        return None
    res = subprocess.run(argv, capture_output=True, text=True, check=False)
    text = (res.stdout or res.stderr).strip().splitlines()
    return text[0] if text else None


def machine():
    """What the numbers were measured on."""
    cpu = None
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = None
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    pretty = None
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            pretty = line.split("=", 1)[1].strip().strip('"')
    try:
        nproc = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        nproc = os.cpu_count()
    return dict(
        nproc=nproc,
        ram_gib=round(mem_kib / 1024.0 / 1024.0, 1) if mem_kib else None,
        cpu_model=cpu or platform.processor() or None,
        os=pretty,
        debian_version=_read("/etc/debian_version").strip() or None,
        kernel=platform.release(),
        python=platform.python_version(),
        sqlite_library=sqlite3.sqlite_version,
        sqlite_cli=_command_version(["sqlite3", "--version"]),
        gzip=_command_version(["gzip", "--version"]),
        load_average=[round(x, 2) for x in os.getloadavg()],
    )


def code_version(*paths):
    """The checkout's commit, and which of paths (relative to the root) differ from it."""
    def git(*argv):
        res = subprocess.run(["git", "-C", ROOT] + list(argv), capture_output=True, text=True, check=False)
        return res.stdout.rstrip("\n") if res.returncode == 0 else None

    changed = git("status", "--porcelain", "--", *paths) if paths else None
    return dict(commit=git("rev-parse", "--short", "HEAD"),
                uncommitted=sorted(name for name in (line.split(None, 1)[1] for line in (changed or "").splitlines() if line.strip())
                                   if not name.startswith("benchmarks/results")))


def block_device_stat(path):
    """/sys/.../stat of the block device holding path, or None (e.g. on tmpfs or overlay)."""
    dev = os.stat(path).st_dev
    stat_path = "/sys/dev/block/%d:%d/stat" % (os.major(dev), os.minor(dev))
    return stat_path if os.path.exists(stat_path) else None


def sectors_written(stat_path):
    """512-byte sectors written to the device so far (all processes), or None."""
    if stat_path is None:
        return None
    try:
        with open(stat_path, encoding="ascii") as handle:
            return int(handle.read().split()[6])
    except (OSError, IndexError, ValueError):
        return None


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def percentile(values, pct):
    """Nearest-rank percentile of a list (None when empty), as the stand-in's writer computes it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(pct / 100.0 * len(ordered)))]


def median(values):
    ordered = sorted(values)
    if not ordered:
        return None
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def ratio(numerator, denominator, digits=3):
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, digits)


def fmt(value, unit="", digits=3):
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if abs(value) >= 10 ** digits:
            return "%.0f%s" % (value, unit)
        return ("%." + str(digits) + "g") % value + unit
    return "%s%s" % (value, unit)


def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for dummy in header) + " |"]
    for row in rows:
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines)


def machine_md(info):
    return md_table(["machine", ""], [
        ["CPU", "%s (nproc %s)" % (info["cpu_model"], info["nproc"])],
        ["RAM", "%s GiB" % info["ram_gib"]],
        ["OS", "%s (debian_version %s), kernel %s" % (info["os"], info["debian_version"], info["kernel"])],
        ["Python / SQLite", "%s / library %s, CLI %s" % (info["python"], info["sqlite_library"], (info["sqlite_cli"] or "n/a").split(" ")[0])],
        ["load average at start", " ".join(str(x) for x in info["load_average"])],
    ])


def write_results(results_dir, name, data, markdown):
    """Write <name>.json and <name>.md into results_dir; return their paths."""
    os.makedirs(results_dir, exist_ok=True)
    json_path = os.path.join(results_dir, name + ".json")
    md_path = os.path.join(results_dir, name + ".md")
    with open(json_path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=False)
        handle.write("\n")
    with open(md_path, "w", encoding="utf-8") as handle:
        handle.write(markdown.rstrip("\n") + "\n")
    return json_path, md_path


def command_line():
    return " ".join([os.path.relpath(sys.argv[0], ROOT) if os.path.isabs(sys.argv[0]) else sys.argv[0]] + sys.argv[1:])
