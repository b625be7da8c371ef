#!/usr/bin/env python
# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore benchmark: from `ansible-playbook playbooks/restore.yml` to a healthy app.

A stand-in of its own gets a database of --size-mib MiB in the stand-in's schema
(cached in --workdir), is backed up with sqlite_backup (gzip), then restored with
the restore role while the app runs. Reported: the restore's wall time (goal: under
60 s), against a baseline measured in the same run: the guide's procedure
(`docker compose stop`, `gunzip -c backup > db`, `docker compose start`, wait for
health), which verifies nothing and keeps no pre-restore copy.

    python benchmarks/restore_bench.py [--size-mib 1024] [--results-dir benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / ".cache" / "collections"))

from benchmarks import _common  # noqa: E402  pylint: disable=wrong-import-position
from tests.helpers.standin import APP_UID, Standin, wait_http  # noqa: E402  pylint: disable=wrong-import-position

BIN = Path(sys.executable).parent


def make_database(path: Path, size_mib: int) -> None:
    """A WAL database in the stand-in's schema, about size_mib MiB (cached)."""
    if path.exists() and path.stat().st_size >= size_mib * 1024 * 1024 * 0.9:
        return
    tmp = path.with_suffix(".tmp")
    if tmp.exists():
        tmp.unlink()
    con = sqlite3.connect(tmp)
    con.executescript((ROOT / "demo" / "milos-shop" / "migrations" / "0001_init.sql").read_text())
    con.execute("CREATE TABLE __migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    con.execute("INSERT INTO __migrations VALUES ('0001_init.sql', '2026-01-01T00:00:00Z')")
    con.execute("PRAGMA user_version = 1")
    con.executemany("INSERT INTO services (name, description, price_cents) VALUES (?, ?, ?)",
                    [("web-design", "Web design", 49000), ("seo-audit", "SEO audit", 19000), ("hosting", "Hosting", 2900)])
    rows = int(size_mib * 1024 * 1024 / 470)
    con.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "INSERT INTO orders (customer, service_id, total_cents, source) "
        "SELECT 'customer-' || i || ' ' || hex(randomblob(160)) || ' {\"items\": [\"web-design\", \"hosting\"]}', "
        "1 + i % 3, i % 100000, 'bench' FROM n", (rows,))
    con.commit()
    con.execute("PRAGMA journal_mode = WAL")
    con.close()
    tmp.rename(path)


def timed(cmd, **kw) -> tuple[float, subprocess.CompletedProcess]:
    start = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    return time.monotonic() - start, res


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp/milos-bench/restore"))
    parser.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)

    args.workdir.mkdir(parents=True, exist_ok=True)
    cached = args.workdir / f"standin-{args.size_mib}MiB.db"
    make_database(cached, args.size_mib)
    run_dir = args.workdir / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()
    shop = Standin(run_dir)
    try:
        shutil.copy(cached, shop.db_path)
        os.chown(shop.db_path, APP_UID, APP_UID)
        shop.up()
        from ansible_collections.milos_shop.ops.plugins.module_utils._sqlite_backup import take_backup  # pylint: disable=import-outside-toplevel

        backups = run_dir / "ops-backups"
        backup = take_backup(str(shop.db_path), str(backups), create_dest=True)
        expected = shop.query("SELECT count(*) FROM orders")[0][0]
        # Orders after the backup: the restore must take them away.
        for i in range(5):
            shop.request("/api/orders", "POST", {"customer": f"after-{i}", "totalCents": 1})

        inventory = run_dir / "hosts.yml"
        inventory.write_text(json.dumps({"milos_shop": {"hosts": {"shop": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            # Where the shop lives, once (role milos_shop.ops.milos_shop); the restore derives from it.
            "milos_shop_backup_dir": str(backups), "milos_shop_db_path": str(shop.db_path),
            "milos_shop_project_dir": str(shop.project_dir), "milos_shop_project_name": shop.project,
            "milos_shop_container": shop.container, "milos_shop_health_url": f"{shop.url}/api/services",
            "milos_shop_maintenance_file": str(run_dir / "maintenance.json"),
            "restore_pre_restore_dir": str(run_dir / "pre-restore")}}}}))
        env = dict(os.environ, ANSIBLE_NOCOLOR="1")
        role_s, res = timed([str(BIN / "ansible-playbook"), "playbooks/restore.yml", "-i", str(inventory)], cwd=ROOT, env=env)
        if res.returncode != 0:
            print(res.stdout[-5000:], res.stderr[-3000:])
            raise SystemExit("restore playbook failed")
        restored = shop.query("SELECT count(*) FROM orders")[0][0]
        healthy = shop.health() == "healthy"

        # Baseline: the guide's procedure (no verification, no pre-restore copy, no rollback).
        def guide_restore() -> None:
            shop.compose("stop", "-t", "30")
            for suffix in ("-wal", "-shm"):
                Path(f"{shop.db_path}{suffix}").unlink(missing_ok=True)
            with open(shop.db_path, "wb") as out:
                subprocess.run(["gunzip", "-c", backup["path"]], stdout=out, check=True)
            os.chown(shop.db_path, APP_UID, APP_UID)
            shop.compose("start")
            wait_http(shop, timeout=300)
            shop.wait_health(timeout=300)

        start = time.monotonic()
        guide_restore()
        guide_s = time.monotonic() - start
    finally:
        shop.destroy()

    result = {
        "benchmark": "restore",
        "machine": _common.machine(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "size_mib": args.size_mib,
        "db_bytes": cached.stat().st_size,
        "backup_bytes": backup["size"],
        "restore_role_s": round(role_s, 2),
        "guide_procedure_s": round(guide_s, 2),
        "ratio_role_over_guide": round(role_s / guide_s, 3),
        "goal_s": 60,
        "goal_met": role_s < 60,
        "orders_at_backup": expected,
        "orders_after_restore": restored,
        "restored_exactly": restored == expected,
        "healthy_after_restore": healthy,
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "restore_bench.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.results_dir / "restore_bench.md").write_text(
        "# Restore benchmark\n\nGenerated by `benchmarks/restore_bench.py` on %s. Do not edit by hand.\n\n"
        "Database %d MiB (stand-in schema, WAL), backup %.0f MiB gzip. Machine: %s.\n\n"
        "| measure | value | goal | verdict |\n| --- | --- | --- | --- |\n"
        "| restore role, command to healthy app (verify, pre-restore copy, swap, start, integrity_check, probe) | %.1f s | < 60 s | %s |\n"
        "| guide's procedure (stop, gunzip over the file, start, wait healthy), same run | %.1f s | (baseline) | |\n"
        "| ratio role / guide | %.2f | | |\n"
        "| orders after restore == at backup | %s | yes | %s |\n"
        "| app healthy after restore | %s | yes | %s |\n"
        % (result["date"], args.size_mib, backup["size"] / 2 ** 20, json.dumps(result["machine"]),
           role_s, "met" if role_s < 60 else "NOT met", guide_s, role_s / guide_s,
           result["restored_exactly"], "met" if result["restored_exactly"] else "NOT met",
           healthy, "met" if healthy else "NOT met"))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
