# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keep daily_bench.py and logscan_bench.py from rotting: each runs once in --quick mode.

The benchmarks are not tests (their figures are committed in benchmarks/results);
this only checks that each script runs end to end and writes results JSON with the
expected keys into a temporary directory (--results-dir), never over the committed
results. --quick needs no Docker: daily_bench runs only the disk item of the daily
playbook without a stand-in, logscan_bench scans a few MiB. Figures from these runs
mean nothing.
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
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    data = json.loads((results / (name + ".json")).read_text())
    markdown = (results / (name + ".md")).read_text()
    assert markdown.startswith("#") and "| CPU |" in markdown and "## Notes" in markdown
    assert COMMON_KEYS <= set(data), sorted(COMMON_KEYS - set(data))
    assert data["benchmark"] == name and data["parameters"]["quick"] is True
    return data, proc.stdout


@pytest.mark.parametrize("name, defaults", [
    ("daily_bench", {"runs": None, "cpu_interval": 0.2, "workdir": "/var/tmp/milos-bench/daily", "quick": False}),
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
    data, out = run_bench("daily_bench", tmp_path)
    assert {"daily_default", "debug_1", "debug_K", "ping_M"} <= set(data["playbooks"])
    run = data["daily_run"]
    # --quick: the disk item only (a stat over two directories, resource_usage, the result).
    assert run["tasks"] == 3 and run["module_calls"] == 3, data["tasks"]
    calls = data["modules"]["calls"]
    assert [c["action"] for c in calls] == ["ansible.builtin.stat", "ansible.builtin.stat", "milos_shop.ops.resource_usage"]
    assert all(c["error"] is None and c["python_m_s"] > 0 for c in calls), calls
    assert {"overhead_share", "overhead_share_beyond_ping_work", "module_time_over_wall", "per_task_s",
            "per_module_call_s", "facts_on_over_off"} <= set(data["ratios"])
    assert data["verdicts"] == {"daily_run_passes": None}
    assert {"startup_s", "tasks_s", "module_calls_s", "module_work_s", "remainder_s"} <= set(data["model"])
    assert "overhead share" in out
    # Nothing left in the work directory: each run's files are removed.
    assert not any((tmp_path / "work").glob("run-*"))
