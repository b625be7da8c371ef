"""The guide's npm scripts, run the way scripts/in-app.sh runs them: in the app container.

db:check, db:push, db:generate, seed and backup-db (node dist/cli.js), and
in-app.sh's mapping of script names to commands with its exec-or-run choice.
Tests use their own stacks: nothing here touches the demo project.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time

import pytest

from tests.helpers.standin import APP_UID, STANDIN_SRC, Standin, started, wait_http

pytestmark = pytest.mark.docker

CLI_USAGE = "usage: cli.js db:generate|db:push|db:check|seed|backup-db"


def cli(s: Standin, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    extra = [a for k, v in (env or {}).items() for a in ("-e", f"{k}={v}")]
    return subprocess.run(["docker", "exec", *extra, s.container, "node", "dist/cli.js", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def container_sql(s: Standin, sql: str) -> str:
    return s.exec("sqlite3", "-cmd", ".timeout 10000", "/app/data/milos_shop.db", sql).stdout


@pytest.fixture(scope="module")
def shop(docker_engine, tmp_path_factory):
    """A stack of this module's own for seed and backup (they write, but keep it usable)."""
    s = Standin(tmp_path_factory.mktemp("cli"))
    try:
        s.up(wait=False)
        wait_http(s)
        yield s
    finally:
        s.destroy()


# -- db:check / db:push -------------------------------------------------------------


def test_db_check_passes_on_a_fresh_database(shared_standin):
    res = cli(shared_standin, "db:check")
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip() == "db:check: schema up to date (1 migrations)"


def test_unknown_command_prints_usage(shared_standin):
    res = cli(shared_standin, "db:drop")
    assert res.returncode == 2
    assert res.stderr.strip() == CLI_USAGE


def test_db_check_fails_on_a_pending_migration_and_db_push_applies_it(standin_factory):
    s = started(standin_factory)
    assert s.query("PRAGMA user_version") == [(1,)]
    (s.project_dir / "migrations" / "0002_coupons.sql").write_text(
        "-- Discount coupons.\n"
        "CREATE TABLE coupons (\n  code TEXT PRIMARY KEY,\n  percent INTEGER NOT NULL\n);\n")

    res = cli(s, "db:check")
    assert res.returncode == 1
    assert "db:check: pending migrations: 0002_coupons.sql" in res.stdout
    assert "up to date" not in res.stdout
    assert s.query("SELECT name FROM sqlite_master WHERE name = 'coupons'") == []

    res = cli(s, "db:push")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "db:push: applied 0002_coupons.sql"
    assert s.query("PRAGMA user_version") == [(2,)]
    assert s.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'coupons'") == [("coupons",)]
    assert [r[0] for r in s.query("SELECT name FROM __migrations ORDER BY name")] == [
        "0001_init.sql", "0002_coupons.sql"]

    res = cli(s, "db:check")
    assert res.returncode == 0 and "schema up to date (2 migrations)" in res.stdout
    res = cli(s, "db:push")
    assert res.returncode == 0 and res.stdout.strip() == "db:push: nothing to apply"
    assert s.query("PRAGMA user_version") == [(2,)]
    assert s.request("/api/services")[0] == 200


def test_db_push_rolls_back_a_failing_migration(standin_factory):
    s = started(standin_factory)
    (s.project_dir / "migrations" / "0002_broken.sql").write_text(
        "CREATE TABLE half_done (id INTEGER);\nINSERT INTO no_such_table VALUES (1);\n")
    res = cli(s, "db:push")
    assert res.returncode == 1
    assert re.search(r"^db:push: migration 0002_broken.sql failed: .*no_such_table", res.stderr, re.M)
    # Nothing of it stays behind, and it is still pending.
    assert s.query("SELECT name FROM sqlite_master WHERE name = 'half_done'") == []
    assert s.query("PRAGMA user_version") == [(1,)]
    res = cli(s, "db:check")
    assert res.returncode == 1 and "pending migrations: 0002_broken.sql" in res.stdout


def test_db_check_reports_schema_drift(standin_factory):
    s = started(standin_factory)
    container_sql(s, "DROP TABLE writer_state")
    res = cli(s, "db:check")
    assert res.returncode == 1
    assert "db:check: writer_state lacks the table" in res.stdout
    assert "pending" not in res.stdout


# -- db:generate --------------------------------------------------------------------


def test_db_generate_without_schema_changes_writes_nothing(shared_standin):
    migrations = shared_standin.project_dir / "migrations"
    before = sorted(os.listdir(migrations))
    res = cli(shared_standin, "db:generate")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "db:generate: no schema changes"
    assert sorted(os.listdir(migrations)) == before == ["0001_init.sql"]


def test_db_generate_writes_what_the_migrations_lack(standin_factory):
    s = started(standin_factory)
    migrations = s.project_dir / "migrations"
    init = migrations / "0001_init.sql"
    text = init.read_text()
    # The migrations lose the writer_state table and services.active; schema.js has both.
    cut = text.replace(",\n  active INTEGER NOT NULL DEFAULT 1\n);", "\n);")
    cut = cut[:cut.index("-- One row per steady writer run")]
    assert "writer_state" not in cut and "active" not in cut
    init.write_text(cut)

    # A migrations directory the app user cannot write to: db:generate says so and fails.
    os.chown(migrations, 0, 0)
    res = cli(s, "db:generate")
    assert res.returncode == 1
    assert "db:generate: EACCES" in res.stderr
    assert sorted(os.listdir(migrations)) == ["0001_init.sql"]

    os.chown(migrations, APP_UID, APP_UID)
    res = cli(s, "db:generate")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "db:generate: wrote migrations/0002_services_writer_state.sql"
    generated = (migrations / "0002_services_writer_state.sql").read_text()
    assert generated == (
        "-- Generated by db:generate.\n"
        "ALTER TABLE services ADD COLUMN active INTEGER NOT NULL DEFAULT 1;\n"
        "CREATE TABLE writer_state (\n"
        "  run_id TEXT PRIMARY KEY,\n"
        "  last_seq INTEGER NOT NULL\n"
        ");\n")

    # With it, the migrations match schema.js again ...
    res = cli(s, "db:generate")
    assert res.returncode == 0 and res.stdout.strip() == "db:generate: no schema changes"
    assert sorted(os.listdir(migrations)) == ["0001_init.sql", "0002_services_writer_state.sql"]
    # ... and they build a database that db:check accepts (a scratch one: the live
    # database already has what 0002 adds).
    scratch = {"DB_PATH": "/tmp/scratch.db"}
    res = cli(s, "db:push", env=scratch)
    assert res.returncode == 0 and res.stdout.strip() == (
        "db:push: applied 0001_init.sql, 0002_services_writer_state.sql")
    res = cli(s, "db:check", env=scratch)
    assert res.returncode == 0 and "schema up to date (2 migrations)" in res.stdout


# -- seed -----------------------------------------------------------------------------


def test_seed_is_idempotent_and_restores_deleted_services(shop):
    res = cli(shop, "seed")
    assert res.returncode == 0 and res.stdout.strip() == "seed: 0 services added"
    names = [r["name"] for r in shop.request("/api/services")[1]]
    assert names == ["web-design", "seo-audit", "maintenance", "hosting"]

    container_sql(shop, "DELETE FROM services WHERE name IN ('seo-audit', 'hosting')")
    assert [r["name"] for r in shop.request("/api/services")[1]] == ["web-design", "maintenance"]

    res = cli(shop, "seed")
    assert res.returncode == 0 and res.stdout.strip() == "seed: 2 services added"
    services = shop.request("/api/services")[1]
    assert sorted(r["name"] for r in services) == sorted(names)
    assert {r["name"]: r["priceCents"] for r in services}["hosting"] == 2900

    res = cli(shop, "seed")
    assert res.returncode == 0 and res.stdout.strip() == "seed: 0 services added"
    assert shop.query("SELECT count(*) FROM services") == [(4,)]


# -- backup-db ------------------------------------------------------------------------


def test_backup_db_writes_a_gzipped_consistent_copy(shop, tmp_path):
    for i in range(7):
        assert shop.request("/api/orders", "POST", {"customer": f"backup-{i}", "totalCents": 100 + i})[0] == 201
    before = set(os.listdir(shop.backup_dir))

    res = cli(shop, "backup-db")
    assert res.returncode == 0, res.stderr
    m = re.fullmatch(r"backup-db: /app/backups/(milos_shop_backup_\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.db\.gz)",
                     res.stdout.strip())
    assert m, res.stdout
    new = set(os.listdir(shop.backup_dir)) - before
    assert new == {m[1]}  # only the .gz: the uncompressed copy is gone
    backup = shop.backup_dir / m[1]
    assert backup.stat().st_uid == APP_UID
    assert backup.read_bytes()[:2] == b"\x1f\x8b"

    restored = tmp_path / "restored.db"
    restored.write_bytes(gzip.decompress(backup.read_bytes()))
    con = sqlite3.connect(restored)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        live = shop.query("SELECT count(*), sum(total_cents) FROM orders")
        assert con.execute("SELECT count(*), sum(total_cents) FROM orders").fetchall() == live
        assert live[0][0] >= 7
        assert con.execute("SELECT name FROM services ORDER BY id").fetchall() == shop.query(
            "SELECT name FROM services ORDER BY id")
        assert con.execute("SELECT count(*) FROM __migrations").fetchall() == [(1,)]
    finally:
        con.close()
    assert not (tmp_path / "restored.db-wal").exists()


# -- scripts/in-app.sh ----------------------------------------------------------------


def events(project: str, since: float) -> list[tuple[str, str]]:
    out = subprocess.run(
        ["docker", "events", "--since", f"{since:.3f}", "--until", f"{time.time() + 1:.3f}",
         "--filter", f"label=com.docker.compose.project={project}", "--format", "{{json .}}"],
        capture_output=True, text=True, check=True, timeout=30).stdout
    # Docker's own health checks are exec events too ("exec_start: /usr/local/bin/node /app/dist/healthcheck.js"): not ours.
    return [(e["Action"], e["Actor"]["Attributes"].get("name", "")) for e in map(json.loads, out.splitlines())
            if "healthcheck.js" not in e["Action"]]


@pytest.mark.slow
def test_in_app_script_maps_npm_scripts_to_commands(standin_factory):
    s = standin_factory(up=False)
    # A copy of the script beside the test's own Compose project. The project's
    # compose file says `name: milos-shop` (the demo's): COMPOSE_PROJECT_NAME,
    # in the environment and in .env, makes every `docker compose` in the script
    # address the test's project instead. Checked before anything runs.
    (s.project_dir / "scripts").mkdir()
    script = s.project_dir / "scripts" / "in-app.sh"
    shutil.copy(STANDIN_SRC / "scripts" / "in-app.sh", script)
    with open(s.project_dir / ".env", "a") as f:
        f.write(f"COMPOSE_PROJECT_NAME={s.project}\n")
    env = dict(os.environ, COMPOSE_PROJECT_NAME=s.project)
    config = subprocess.run(["docker", "compose", "config", "--format", "json"], cwd=s.project_dir, env=env,
                            capture_output=True, text=True, check=True)
    if json.loads(config.stdout)["name"] != s.project:
        pytest.fail("COMPOSE_PROJECT_NAME is not honoured: refusing to run in-app.sh (it would address the demo)")

    def in_app(*args):
        return subprocess.run(["sh", str(script), *args], env=env, cwd="/", capture_output=True,
                              text=True, timeout=120, check=False)

    # App not running: one-off `docker compose run --rm` containers.
    t0 = time.time()
    res = in_app("db:check")
    assert res.returncode == 1 and "db:check: pending migrations: 0001_init.sql" in res.stdout
    res = in_app("db:push")
    assert res.returncode == 0 and res.stdout.strip() == "db:push: applied 0001_init.sql"
    res = in_app("seed")
    assert res.returncode == 0 and res.stdout.strip() == "seed: 4 services added"
    seen = events(s.project, t0)
    runs = {name for action, name in seen if action == "create"}
    assert len(runs) == 3 and all(name.startswith(f"{s.project}-milos-shop-run-") for name in runs)
    assert {name for action, name in seen if action == "destroy"} == runs  # --rm
    assert s.query("PRAGMA user_version") == [(1,)]

    # App running: `docker compose exec` into it.
    s.up(wait=False)
    wait_http(s)
    assert "database initialised" not in s.logs()  # db:push and seed did it already
    t1 = time.time()
    res = in_app("db:check")
    assert res.returncode == 0 and "schema up to date" in res.stdout
    res = in_app("writer", "--rate", "20", "--duration", "1", "--run-id", "in-app")
    assert res.returncode == 0, res.stderr
    stats = json.loads(res.stdout.splitlines()[-1])
    assert stats["run_id"] == "in-app" and stats["commits"] >= 15 and stats["errors"] == 0
    res = in_app("db:drop")
    assert res.returncode == 2 and CLI_USAGE in res.stderr
    seen = events(s.project, t1)
    assert not [name for action, name in seen if action == "create"]
    execs = [action for action, name in seen if action.startswith("exec_start") and name == s.container]
    assert execs == ["exec_start: node dist/cli.js db:check",
                     "exec_start: node dist/writer.js --rate 20 --duration 1 --run-id in-app",
                     "exec_start: node dist/cli.js db:drop"]
    assert s.query("SELECT last_seq FROM writer_state WHERE run_id = 'in-app'") == [(stats["commits"],)]
