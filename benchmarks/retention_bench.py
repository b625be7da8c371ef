#!/usr/bin/env python
# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retention benchmark: retention_prune's logic over 10,000 backup files.

Makes a directory of --count empty files named like the backups sqlite_backup
writes (milos_shop_backup_YYYY-MM-DDTHH-MM-SS.db.gz), one an hour back from now
(10,000 hours is about 14 months), each with its mtime set to the time in its
name, and manifests for the --manifests newest. Then times, --repeat times each
(the median is reported), with the module's default policy (7 daily, 4 weekly,
12 monthly):

  scandir        baseline: os.scandir listing + stat of every entry
  find_dry       baseline: the guide's command without -delete,
                 find DIR -name '*.db.gz' -mtime +7
  plan           prune(check_mode=True): the check-mode plan
  plan_diff      prune(check_mode=True, diff=True): --check --diff
  find_delete    baseline: find DIR -name '*.db.gz' -mtime +7 -delete (a fresh copy each time)
  prune          prune(): the real deletion (a fresh copy each time)

and prints plan / scandir, plan / find_dry, prune / find_delete, and the absolute
times against the goal (< 1 s). Results go to --results-dir as
retention_bench.json and retention_bench.md.

    python benchmarks/retention_bench.py
    python benchmarks/retention_bench.py --count 500 --quick --results-dir /tmp/r
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import _common  # noqa: E402  pylint: disable=wrong-import-position

NAME = "retention_bench"
GOAL_SECONDS = 1.0
PREFIX = "milos_shop_backup_"
SUFFIX = ".db.gz"
FIND_ARGS = ["-name", "*.db.gz", "-mtime", "+7"]


def build_parser():
    parser = argparse.ArgumentParser(prog="retention_bench.py", description=__doc__.split("\n", 1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    parser.add_argument("--count", type=int, default=10000, help="backup files, one an hour (default 10000)")
    parser.add_argument("--manifests", type=int, default=3, help="manifests for this many of the newest backups (default 3)")
    parser.add_argument("--repeat", type=int, default=None, help="runs of each measurement, the median is reported (default 5, --quick 1)")
    parser.add_argument("--workdir", default="/var/tmp/milos-bench/retention",
                        help="where the backup directories are made (default /var/tmp/milos-bench/retention)")
    parser.add_argument("--results-dir", default=_common.RESULTS_DIR, help="where retention_bench.json and .md go (default benchmarks/results)")
    parser.add_argument("--quick", action="store_true", help="one run of each measurement (smoke test)")
    return parser


def resolve(args):
    if args.repeat is None:
        args.repeat = 1 if args.quick else 5
    if args.count < 1 or args.repeat < 1:
        raise SystemExit("--count and --repeat must be 1 or more")
    return args


def backup_times(count, newest):
    return [newest - datetime.timedelta(hours=i) for i in range(count)]


def make_dir(path, times, manifests):
    """count empty backups (mtime = the time in the name) and manifests for the newest."""
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    for i, moment in enumerate(times):
        name = PREFIX + moment.strftime("%Y-%m-%dT%H-%M-%S") + SUFFIX
        full = os.path.join(path, name)
        with open(full, "wb"):
            pass
        stamp = moment.timestamp()
        os.utime(full, (stamp, stamp))
        if i < manifests:
            manifest = dict(format=1, backup=name, compression="gzip", size=0, check="quick_check", check_result="ok",
                            sha256="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
            with open(full + ".manifest.json", "w", encoding="utf-8") as handle:
                json.dump(manifest, handle)
            os.utime(full + ".manifest.json", (stamp, stamp))


def scandir_stat(path):
    n = 0
    with os.scandir(path) as entries:
        for entry in entries:
            entry.stat(follow_symlinks=False)
            n += 1
    return n


def find(path, delete=False):
    argv = ["find", path, "-maxdepth", "1"] + FIND_ARGS + (["-delete"] if delete else ["-print"])
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return len(out.splitlines())


def count_deleted(before, path):
    return before - len(os.listdir(path))


class PhaseTimer:
    """Time prune's steps by wrapping _retention's own functions (restored afterwards)."""

    WRAPPED = (("scan", "scan"), ("newest_verified", "newest_verified"), ("apply_policy", "apply_policy"))

    def __init__(self, module):
        self.module = module
        self.times = collections.OrderedDict()
        self.saved = []

    def __enter__(self):
        for attr, label in self.WRAPPED:
            original = getattr(self.module, attr)
            self.saved.append((attr, original))
            setattr(self.module, attr, self._timed(original, label))
        return self

    def _timed(self, original, label):
        times = self.times

        def timed(*args, **kwargs):
            t0 = time.monotonic()
            try:
                return original(*args, **kwargs)
            finally:
                times[label] = times.get(label, 0.0) + time.monotonic() - t0
        return timed

    def __exit__(self, *exc):
        for attr, original in self.saved:
            setattr(self.module, attr, original)


def measure(func, repeat, setup=None):
    """Median wall time of func() over repeat runs (setup() before each, not timed) and the last result."""
    times = []
    value = None
    for dummy in range(repeat):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        value = func()
        times.append(time.perf_counter() - t0)
    return dict(median_s=round(_common.median(times), 4), min_s=round(min(times), 4), max_s=round(max(times), 4), runs=len(times)), value


def run(args):
    args = resolve(args)
    rt = _common.load_module_utils("_retention")
    info = _common.machine()
    code = _common.code_version("plugins/module_utils/_retention.py", "benchmarks")
    now = datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0)
    times = backup_times(args.count, now)
    policy = rt.Policy(daily=7, weekly=4, monthly=12)
    names = rt.BackupNames()
    os.makedirs(args.workdir, exist_ok=True)
    plan_dir = os.path.join(args.workdir, "plan")
    work_dir = os.path.join(args.workdir, "work")
    entries = args.count + min(args.manifests, args.count)

    def fresh():
        make_dir(work_dir, times, args.manifests)

    t0 = time.monotonic()
    make_dir(plan_dir, times, args.manifests)
    made_s = time.monotonic() - t0
    scandir_stat(plan_dir)  # warm the directory into the cache, as every later run finds it

    m = collections.OrderedDict()
    m["scandir"], listed = measure(lambda: scandir_stat(plan_dir), args.repeat)
    m["find_dry"], find_dry_count = measure(lambda: find(plan_dir), args.repeat)
    m["plan"], plan = measure(lambda: rt.prune(plan_dir, policy, names, check_mode=True, now=now), args.repeat)
    m["plan_diff"], dummy = measure(lambda: rt.prune(plan_dir, policy, names, check_mode=True, diff=True, now=now), args.repeat)
    with PhaseTimer(rt) as timer:
        t0 = time.perf_counter()
        rt.prune(plan_dir, policy, names, check_mode=True, now=now)
        total = time.perf_counter() - t0
    plan_phases = collections.OrderedDict((k, round(v, 4)) for k, v in timer.times.items())
    plan_phases["result_and_rest"] = round(max(0.0, total - sum(timer.times.values())), 4)
    plan_phases["total"] = round(total, 4)
    m["find_delete"], dummy = measure(lambda: find(work_dir, delete=True), args.repeat, setup=fresh)
    find_deleted = count_deleted(entries, work_dir)
    m["prune"], pruned = measure(lambda: rt.prune(work_dir, policy, names, now=now), args.repeat, setup=fresh)
    prune_deleted = count_deleted(entries, work_dir)
    shutil.rmtree(work_dir, ignore_errors=True)
    shutil.rmtree(plan_dir, ignore_errors=True)

    def med(key):
        return m[key]["median_s"]

    ratios = collections.OrderedDict([
        ("plan_over_scandir", _common.ratio(med("plan"), med("scandir"), 2)),
        ("plan_over_find_dry", _common.ratio(med("plan"), med("find_dry"), 2)),
        ("plan_diff_over_find_dry", _common.ratio(med("plan_diff"), med("find_dry"), 2)),
        ("prune_over_find_delete", _common.ratio(med("prune"), med("find_delete"), 2)),
    ])
    verdicts = collections.OrderedDict([
        ("plan_under_1s", med("plan") < GOAL_SECONDS),
        ("plan_diff_under_1s", med("plan_diff") < GOAL_SECONDS),
        ("prune_under_1s", med("prune") < GOAL_SECONDS),
        ("prune_kept_newest_verified", pruned["newest_verified"] is not None and any(k["path"] == pruned["newest_verified"] for k in pruned["kept"])),
    ])
    return collections.OrderedDict([
        ("benchmark", NAME),
        ("date", _common.now_iso()),
        ("command", _common.command_line()),
        ("machine", info),
        ("parameters", collections.OrderedDict([
            ("count", args.count), ("manifests", args.manifests), ("repeat", args.repeat), ("quick", args.quick),
            ("workdir", args.workdir), ("policy", "keep_daily=7, keep_weekly=4, keep_monthly=12 (the module's defaults)"),
            ("newest", now.strftime("%Y-%m-%dT%H:%M:%SZ")), ("oldest", times[-1].strftime("%Y-%m-%dT%H:%M:%SZ"))])),
        ("code", code),
        ("directory", collections.OrderedDict([("entries", entries), ("listed", listed), ("make_s", round(made_s, 3))])),
        ("measurements", m),
        ("plan_phases", plan_phases),
        ("outcome", collections.OrderedDict([
            ("plan_kept", len(plan["kept"])), ("plan_would_delete", len(plan["deleted"])),
            ("prune_kept", len(pruned["kept"])), ("prune_deleted_backups", len(pruned["deleted"])),
            ("prune_deleted_entries", prune_deleted), ("find_dry_listed", find_dry_count), ("find_deleted_entries", find_deleted)])),
        ("ratios", ratios),
        ("goals", collections.OrderedDict([("plan_s", "< %g" % GOAL_SECONDS), ("plan_diff_s", "< %g" % GOAL_SECONDS),
                                           ("prune_s", "< %g" % GOAL_SECONDS)])),
        ("verdicts", verdicts),
        ("notes", [
            "The baselines do less: scandir only lists and stats; find -mtime +7 keeps the last 8 days and deletes every older "
            "backup (no weekly or monthly ones, manifests left behind). prune parses every name, reads manifests newest first "
            "until one verifies, applies the GFS policy and builds the module's result (one dict per backup).",
            "find runs as a separate process, so its times include a fork and exec (about a millisecond).",
            "The directory is warm in the page cache for every run (as on a real backup host that was just written to).",
        ]),
    ])


def markdown(result):
    m = result["measurements"]
    o = result["outcome"]
    lines = ["# Retention benchmark", "",
             "Generated by `benchmarks/retention_bench.py` on %s; command `%s`. Do not edit by hand." % (result["date"], result["command"]), "",
             _common.machine_md(result["machine"]), "",
             "Code: commit %s%s." % (result["code"]["commit"], "; uncommitted changes in " + ", ".join(result["code"]["uncommitted"])
                                     if result["code"]["uncommitted"] else ""), "",
             "%d backup files, one an hour from %s back to %s, manifests for the %d newest; policy %s; each time is the median of %d runs." % (
                 result["parameters"]["count"], result["parameters"]["newest"], result["parameters"]["oldest"],
                 result["parameters"]["manifests"], result["parameters"]["policy"], result["parameters"]["repeat"]), "",
             "## Goals", ""]
    rows = [
        ["check-mode plan (prune, check_mode)", "%.4f s" % m["plan"]["median_s"], result["goals"]["plan_s"] + " s",
         _verdict(result["verdicts"]["plan_under_1s"])],
        ["check-mode plan with diff", "%.4f s" % m["plan_diff"]["median_s"], result["goals"]["plan_diff_s"] + " s",
         _verdict(result["verdicts"]["plan_diff_under_1s"])],
        ["real prune", "%.4f s" % m["prune"]["median_s"], result["goals"]["prune_s"] + " s", _verdict(result["verdicts"]["prune_under_1s"])],
    ]
    lines += [_common.md_table(["measure", "median", "goal", "verdict"], rows), "", "## Ratios against the baselines of this run", ""]
    lines += [_common.md_table(["ratio", "value"], [[k, _common.fmt(v)] for k, v in result["ratios"].items()]), "", "## All measurements", ""]
    lines += [_common.md_table(["measurement", "median", "min", "max", "runs"],
                               [[k, "%.4f s" % v["median_s"], "%.4f s" % v["min_s"], "%.4f s" % v["max_s"], v["runs"]] for k, v in m.items()]), ""]
    lines += ["Plan phases (one check-mode run, timed by wrapping _retention's functions): "
              + ", ".join("%s %.4f s" % (k, v) for k, v in result["plan_phases"].items()) + ".", ""]
    lines += ["Outcome: prune kept %d and deleted %d backups (%d entries with manifests); find -mtime +7 listed %d and deleted %d entries." % (
        o["prune_kept"], o["prune_deleted_backups"], o["prune_deleted_entries"], o["find_dry_listed"], o["find_deleted_entries"]), ""]
    lines += ["## Notes", ""] + ["- " + note for note in result["notes"]]
    return "\n".join(lines) + "\n"


def _verdict(ok):
    return "met" if ok else "NOT met"


def main(argv=None):
    args = build_parser().parse_args(argv)
    result = run(args)
    json_path, md_path = _common.write_results(args.results_dir, NAME, result, markdown(result))
    m = result["measurements"]
    for key, value in result["ratios"].items():
        print("%s: %s" % (key, _common.fmt(value)))
    for key in ("plan", "plan_diff", "prune"):
        print("%s: %.4f s (goal < %g s)" % (key, m[key]["median_s"], GOAL_SECONDS))
    print("verdicts: %s" % json.dumps(result["verdicts"]))
    print("results: %s, %s" % (json_path, md_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
