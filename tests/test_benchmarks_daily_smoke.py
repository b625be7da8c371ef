# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keep daily_bench.py and logscan_bench.py from rotting: each runs once in --quick mode.

The benchmarks are not tests (their figures are committed in benchmarks/results);
this only checks that each script runs end to end and writes results JSON with the
expected keys into a temporary directory (--results-dir), never over the committed
results. --quick needs no Docker: daily_bench runs only the disk item of the daily
playbook without a stand-in, BEFORE (the baseline commit, from git archive) and AFTER
(the working tree), for two hosts, and with --full its older measurements;
logscan_bench scans a few MiB. Figures from these runs mean nothing.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
COMMON_KEYS = {"benchmark", "date", "command", "machine", "parameters", "ratios", "goals", "verdicts", "notes"}


def load(name):
    spec = importlib.util.spec_from_file_location("bench_daily_smoke_" + name, BENCHMARKS / (name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_bench(name, tmp_path, *args):
    results = tmp_path / "results"
    proc = subprocess.run([sys.executable, str(BENCHMARKS / (name + ".py")), "--workdir", str(tmp_path / "work"),
                           "--results-dir", str(results), "--quick", *args],
                          capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    data = json.loads((results / (name + ".json")).read_text())
    markdown = (results / (name + ".md")).read_text()
    assert markdown.startswith("#") and "| CPU |" in markdown and "## Notes" in markdown
    assert COMMON_KEYS <= set(data), sorted(COMMON_KEYS - set(data))
    assert data["benchmark"] == name and data["parameters"]["quick"] is True
    return data, proc.stdout


@pytest.mark.parametrize("name, defaults", [
    ("daily_bench", {"runs": None, "cpu_interval": 0.2, "workdir": "/var/tmp/milos-bench/daily", "quick": False,
                     "baseline_ref": "d9ce76d", "after_ref": None, "hosts": [1], "full": False, "note": ""}),
    ("logscan_bench", {"size_mib": 1024, "workdir": "/var/tmp/milos-bench/logscan", "docker": None, "quick": False}),
])
def test_defaults_write_the_committed_results(name, defaults):
    args = load(name).build_parser().parse_args([])
    for key, value in defaults.items():
        assert getattr(args, key) == value, key
    assert args.results_dir == str(BENCHMARKS / "results")


def test_logscan_bench_quick(tmp_path):
    data, out = run_bench("logscan_bench", tmp_path, "--size-mib", "2")
    sizes = data["parameters"]["sizes"]
    assert sizes == ["128 KiB", "512 KiB", "2 MiB"]
    assert set(data["measurements"]) == set(sizes)
    for label in sizes:
        assert set(data["measurements"][label]) == {"grep", "python_lines", "read_64k", "feed_frames", "feed_frames_ts", "feed_64k"}
        for mode in ("feed_frames", "feed_frames_ts", "feed_64k"):
            m = data["measurements"][label][mode]
            assert {"wall_s", "cpu_s", "mib_per_s", "maxrss_kib", "tracemalloc_peak_kib"} <= set(m)
    assert {"feed_64k_throughput_over_grep", "feed_frames_throughput_over_python_lines",
            "feed_frames_peak_rss_largest_over_smallest", "feed_64k_tracemalloc_peak_largest_over_smallest",
            "feed_1b_wall_over_feed_frames_wall"} <= set(data["ratios"])
    assert set(data["verdicts"]) == {"peak_rss_flat", "tracemalloc_peak_flat", "counts_match"}
    # The one figure that must hold at any size: the scan finds exactly what was generated.
    assert data["verdicts"]["counts_match"], data["counts"]
    assert data["one_byte_chunks"]["counts_match"]
    assert data["docker"] == {"skipped": "--no-docker or --quick"}
    assert "throughput / grep -ci error" in out


def test_daily_bench_quick(tmp_path):
    # Two hosts (the same code path as one, with the per-host arithmetic), and --full's older measurements.
    data, out = run_bench("daily_bench", tmp_path, "--hosts", "2", "--full")
    assert data["parameters"]["hosts"] == [2] and data["parameters"]["baseline_ref"] == "d9ce76d"
    assert data["code"]["before"]["commit"].startswith("d9ce76d") and data["code"]["after"]["ref"] == "working tree"
    # BEFORE and AFTER, for each count of hosts: CPU-seconds, wall, counts, the ratio and the goal.
    assert set(data["by_hosts"]) == {"2"}
    for n, entry in data["by_hosts"].items():
        for side in ("before", "after"):
            s = entry[side]
            assert s["hosts"] == int(n) and s["runs"] == 1
            assert s["cpu_s"] > 0 and s["wall_s"] > 0 and s["cpu_per_host_s"] == pytest.approx(s["cpu_s"] / int(n), abs=0.002)
            assert s["tasks_per_host"] >= 1 and s["module_calls_per_host"] >= 1, s
        assert entry["floor"]["cpu_s"] > 0
        assert {"cpu_per_host_s", "wall_s", "tasks_per_host", "module_calls_per_host"} <= set(entry["after_over_before"])
        assert isinstance(entry["goal_met"], bool)
        assert data["verdicts"]["cpu_per_host_goal_met_n" + n] == entry["goal_met"]
    assert "cpu_per_host_goal_met" in data["verdicts"] and "cpu_per_host_s" in data["goals"]
    for key, counts in data["counts"].items():
        # Every task file that ran is inside its side's tree: BEFORE ran the baseline's code, not the working tree's.
        assert counts["task_files_outside_tree"] == [], (key, counts["task_files_outside_tree"])
        # --quick: the disk item only; its module calls are counted from -vvv, by module.
        assert counts["module_executions"] == sum(counts["module_executions_by_module"].values()) >= counts["hosts"]
        assert counts["per_host"] and all(h["recap"] for h in counts["per_host"].values()), counts["per_host"]
    # The BEFORE inventory has the old names only, AFTER's both.
    assert "milos_shop_backup_dir" not in data["parameters"]["host_vars"]["before"]
    assert {"backup_dir", "milos_shop_backup_dir", "milos_shop_container", "daily_container"} <= set(data["parameters"]["host_vars"]["after"])
    markdown = (tmp_path / "results" / "daily_bench.md").read_text()
    assert "| 2 hosts | CPU-seconds per host |" in markdown and "| 2 hosts | tasks per host |" in markdown
    assert "CPU-seconds per host BEFORE" in out

    # --full: the older measurements, of the working tree.
    full = data["full"]
    assert {"daily_default", "debug_1", "debug_K", "ping_M"} <= set(full["playbooks"])
    assert full["daily_run"]["tasks"] >= 1 and full["daily_run"]["module_calls"] >= 1, full["tasks"]
    calls = full["modules"]["calls"]
    assert calls and all(c["error"] is None and c["python_m_s"] > 0 for c in calls), calls
    assert {"overhead_share", "overhead_share_beyond_ping_work", "module_time_over_wall", "per_task_s",
            "per_module_call_s", "facts_on_over_off"} <= set(full["ratios"])
    assert full["verdicts"] == {"daily_run_passes": None}
    assert {"startup_s", "tasks_s", "module_calls_s", "module_work_s", "remainder_s"} <= set(full["model"])
    assert "overhead share" in out
    # Nothing left in the work directory: each run's files (the exported trees too) are removed.
    assert not any((tmp_path / "work").glob("run-*"))
