# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keep the benchmark scripts from rotting: each runs once with a tiny size.

The benchmarks are not tests (their figures are committed in benchmarks/results);
this only checks that each script parses its arguments, runs end to end and
writes results JSON with the expected keys. Figures from these runs mean nothing.
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
MACHINE_KEYS = {"nproc", "ram_gib", "cpu_model", "debian_version", "os", "python", "sqlite_library"}


def load(name):
    spec = importlib.util.spec_from_file_location("bench_smoke_" + name, BENCHMARKS / (name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_bench(name, tmp_path, *args):
    results = tmp_path / "results"
    proc = subprocess.run([sys.executable, str(BENCHMARKS / (name + ".py")), "--workdir", str(tmp_path / "work"),
                           "--results-dir", str(results), *args],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((results / (name + ".json")).read_text())
    markdown = (results / (name + ".md")).read_text()
    assert markdown.startswith("#") and "| CPU |" in markdown
    assert COMMON_KEYS <= set(data), sorted(COMMON_KEYS - set(data))
    assert MACHINE_KEYS <= set(data["machine"]), sorted(MACHINE_KEYS - set(data["machine"]))
    assert data["benchmark"] == name
    return data, proc.stdout


@pytest.mark.parametrize("name, defaults", [
    ("backup_bench", {"size_mib": 1024, "workdir": "/var/tmp/milos-bench", "rate": 100.0, "level": 6, "quick": False}),
    ("retention_bench", {"count": 10000, "manifests": 3, "quick": False}),
])
def test_argument_parsing_is_importable(name, defaults):
    args = load(name).build_parser().parse_args([])
    for key, value in defaults.items():
        assert getattr(args, key) == value
    assert args.results_dir == str(BENCHMARKS / "results")


def test_backup_bench_smoke(tmp_path):
    data, out = run_bench("backup_bench", tmp_path, "--size-mib", "8", "--quick")
    assert set(data["methods"]) == {"cp_gzip", "sqlite3_backup", "sqlite_backup"}
    assert {"seconds", "commits", "p99_ms", "p99_ms_each", "errors"} <= set(data["idle"])
    assert data["methods"]["cp_gzip"]["runs"] == 1 and data["methods"]["sqlite_backup"]["runs"] == 1
    assert {"sqlite_backup_wall_over_cp_gzip_wall", "p99_during_sqlite_backup_over_idle"} <= set(data["ratios"])
    assert set(data["verdicts"]) == {"sqlite_backup_wall_over_cp_gzip_wall", "p99_during_sqlite_backup_over_idle",
                                     "writer_errors", "sqlite_backup_consistent"}
    method = data["methods"]["sqlite_backup"]
    assert {"wall_s", "phases", "writer", "check", "size"} <= set(method)
    assert {"snapshot", "check", "compress", "fsync", "checksum"} <= set(method["phases"])
    assert {"p99_ms", "errors", "commits"} <= set(method["writer"])
    # The one figure that must hold at any size: the backup is a consistent snapshot.
    assert method["check"]["integrity"] == ["ok"] and method["check"]["consistent"] and method["check"]["complete"], method["check"]
    assert data["verdicts"]["sqlite_backup_consistent"]
    assert data["writer"]["commits"] > 0
    assert "sqlite_backup wall / cp+gzip wall" in out


def test_retention_bench_smoke(tmp_path):
    data, out = run_bench("retention_bench", tmp_path, "--count", "300", "--quick")
    assert {"scandir", "find_dry", "plan", "plan_diff", "find_delete", "prune"} == set(data["measurements"])
    assert {"plan_over_scandir", "plan_over_find_dry", "prune_over_find_delete"} <= set(data["ratios"])
    assert {"plan_under_1s", "prune_under_1s"} <= set(data["verdicts"])
    assert data["outcome"]["prune_kept"] + data["outcome"]["prune_deleted_backups"] == 300
    assert data["verdicts"]["prune_kept_newest_verified"]
    assert "plan:" in out
