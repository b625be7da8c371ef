"""playbooks/daily.yml end to end, against stand-ins on the real engine, with real symptoms.

Each checklist item is broken the way it breaks in production (a crash loop,
a burst of 5xx answers, stale or failing backups, a full disk) and the test
reads what an operator reads: the exit code, the report files on the control
node, the alerts that reached a local webhook and SMTP server.

To keep the run short, the symptoms that do not disturb each other share one
run: the `fleet` inventory has one host per symptom (several hosts may check
the same stand-in with different settings), like a multi-host inventory in
production, and each test asserts on its host's report. The `quick` runs (a
healthy run, --check, --tags, daily_fail_on) read one healthy stand-in side by
side.

Check mode: the report is still written on the control node (the checks only
read, and the report is what a check run is for); the target is not changed
(no backup is taken: it is predicted), and no alert is sent or remembered.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.receivers import (
    ITEM_ORDER,
    SECRETS,
    assert_no_secrets,
    backup_files,
    host_vars,
    notifiers,
    old_backups,
    run_daily,
    start_standins,
    take_backup,
    wait_for,
    write_inventory,
)

pytestmark = pytest.mark.docker


# -- helpers ----------------------------------------------------------------------

def recap(run, host: str) -> dict:
    """The PLAY RECAP counters of one host."""
    for line in run.stdout.splitlines():
        if line.startswith(f"{host} ") and ":" in line:
            return {k: int(v) for k, v in (pair.split("=") for pair in line.split(":", 1)[1].split())}
    raise AssertionError(f"no PLAY RECAP line for {host}:\n{run.stdout[-3000:]}")


# -- stand-ins and runs shared by the tests of this module ---------------------------

@pytest.fixture(scope="module")
def shop(docker_engine, tmp_path_factory):
    """A healthy stand-in for the tests that only read it."""
    [s] = start_standins(tmp_path_factory.mktemp("shop"), 1)
    yield s
    s.destroy()


@pytest.fixture(scope="module")
def quick(shop, tmp_path_factory):
    """Runs against the healthy stand-in, side by side: they only read it, and each has its own directories.

    healthy: a full run, both alert channels listening. check: --check over a backup
    directory that holds one backup. tags: --tags daily_health. fail_on: a warning
    (host memory over 1%) with daily_fail_on [fail, warn] from the inventory.
    webhook_down: a warning (health latency over 1 ms) to a webhook that answers 500.
    """
    base = tmp_path_factory.mktemp("quick")
    take_backup(shop.db_path, base / "check" / "backups")
    check_before = {p.name: p.stat().st_mtime_ns for p in (base / "check" / "backups").iterdir()}
    with notifiers() as notify_healthy, notifiers() as notify_check, notifiers(webhook_status=500) as notify_down:
        def job(name, notify=None, *args, **extra):
            d = base / name
            d.mkdir(exist_ok=True)
            inventory = write_inventory(d / "hosts.yml", {"shop": host_vars(shop, d / "backups", d / "reports", notify, **extra)})
            return lambda: run_daily(inventory, d / "reports", *args)

        jobs = {
            "healthy": job("healthy", notify_healthy),
            "check": job("check", notify_check, "--check"),
            "tags": job("tags", None, "--tags", "daily_health"),
            "fail_on": job("fail_on", None, "--tags", "daily_resources",
                           daily_memory_threshold_percent=1, daily_fail_on=["fail", "warn"]),
            "webhook_down": job("webhook_down", notify_down, "--tags", "daily_health", daily_health_latency_ms=1),
        }
        with ThreadPoolExecutor(len(jobs)) as pool:
            futures = {name: pool.submit(fn) for name, fn in jobs.items()}
            runs = {name: future.result() for name, future in futures.items()}
    runs["dirs"] = {name: base / name for name in jobs}
    runs["alerts"] = {"healthy": notify_healthy.take(), "check": notify_check.take(), "webhook_down": notify_down.take()}
    runs["check_before"] = check_before
    return runs


@pytest.fixture(scope="module")
def fleet(shop, tmp_path_factory):
    """One run (with -v) over an inventory of one host per symptom, problems listed after the healthy host."""
    base = tmp_path_factory.mktemp("fleet")
    errors, crashing = start_standins(base, 2)
    try:
        # A burst of 5xx answers (each also logs an [error] line).
        for _request in range(20):
            assert errors.request("/api/_fault/error")[0] == 500
        # A crash loop: the app refuses to start, Docker keeps restarting it.
        (crashing.data_dir / "CRASH_ON_START").write_text("")
        assert crashing.request("/api/_fault/crash", method="POST")[0] == 202
        wait_for(lambda: crashing.inspect()["RestartCount"] >= 3, timeout=60, what="three restarts")

        # Backups: three days old; none; a source that is not SQLite, beside two old backups
        # that retention (keep 1 daily) would prune one of, if it ran.
        stale = base / "stale-backups"
        old_backups(shop.db_path, stale, 72)
        failing = base / "failing-backups"
        failing_before = old_backups(shop.db_path, failing, 72, 96)
        not_sqlite = base / "not-a-database.db"
        not_sqlite.write_text("this is not a SQLite database\n" * 100)

        reports = base / "reports"
        with notifiers() as notify:
            def hv(standin, name, backup_dir=None, **extra):
                return host_vars(standin, backup_dir or base / f"{name}-backups", reports, notify, **extra)

            hosts = {
                "healthy": hv(shop, "healthy"),
                "errors": hv(errors, "errors"),
                "disk": hv(shop, "disk", daily_disk_threshold_percent=1),
                "stale": hv(shop, "stale", daily_backup_enabled=False, backup_dir=stale),
                "nobackup": hv(shop, "nobackup", daily_backup_enabled=False),
                "badbackup": hv(shop, "badbackup", backup_dir=failing, milos_shop_db_path=str(not_sqlite),
                                backup_keep_daily=1, backup_keep_weekly=0, backup_keep_monthly=0),
                "crashloop": hv(crashing, "crashloop"),
                "missing": hv(shop, "missing", milos_shop_container="milos-shop-no-such-container", daily_backup_enabled=False),
            }
            run = run_daily(write_inventory(base / "hosts.yml", hosts), reports, "-v")
            posts, mails = notify.take()
        yield {"run": run, "posts": posts, "mails": mails, "hosts": list(hosts), "base": base,
               "stale": stale, "failing": failing, "failing_before": failing_before, "not_sqlite": not_sqlite,
               "errors": errors, "crashing": crashing}
    finally:
        errors.destroy()
        crashing.destroy()


# -- a healthy stand-in ------------------------------------------------------------

def test_healthy_stack_passes_reports_and_stays_quiet(quick):
    run = quick["healthy"]
    assert run.returncode == 0, run.explain()
    report = run.report()
    assert report["status"] == "pass"
    assert report["check_mode"] is False
    assert [item["id"] for item in report["items"]] == ITEM_ORDER
    for item in report["items"]:
        assert item["status"] == "pass", item
        assert set(item) >= {"id", "title", "status", "summary", "evidence"}
    items = run.items()
    assert items["containers"]["evidence"]["health"] == "healthy"
    assert items["health"]["evidence"]["status"] == 200
    assert items["backup"]["evidence"]["backup_ran"] is True
    assert items["backup"]["evidence"]["age_hours"] < 1
    backups = backup_files(quick["dirs"]["healthy"] / "backups")
    assert len([name for name in backups if name.endswith(".db.gz")]) == 1, backups

    # Markdown: a title, a count, then one line per item (all pass here).
    md = run.markdown()
    assert md.startswith("# Daily check of shop: PASS")
    lines = [line for line in md.splitlines() if line.startswith("- ")]
    assert len(lines) == 6 and all(line.startswith("- PASS ") for line in lines), md
    assert "0 failed, 0 warnings, 0 skipped, 6 passed" in md

    summary = run.summary()
    assert summary["status"] == "pass"
    assert summary["hosts"] == [{"host": "shop", "status": "pass", "problems": []}]
    assert run.summary_markdown().startswith("# Daily check summary: PASS")

    # set_stats, for AWX: shown with ANSIBLE_SHOW_CUSTOM_STATS.
    stats = run.custom_stats()
    assert "milos_shop_daily:" in stats and "status: pass" in stats, run.stdout[-2000:]

    assert quick["alerts"]["healthy"] == ([], []), "a healthy run sent an alert"


def test_check_mode_changes_nothing_on_the_target(quick):
    """--check takes no backup (it predicts it), sends nothing, remembers nothing; the report is written."""
    run = quick["check"]
    assert run.returncode == 0, run.explain()
    backup_dir = quick["dirs"]["check"] / "backups"
    assert {p.name: p.stat().st_mtime_ns for p in backup_dir.iterdir()} == quick["check_before"], "check mode changed the backups"
    report = run.report()
    assert report["check_mode"] is True
    assert [item["status"] for item in report["items"]] == ["pass"] * 6, report
    backup = run.items()["backup"]
    assert backup["summary"].startswith("check mode: a new backup would be taken now; "), backup
    assert backup["evidence"]["backup_ran"] is False and backup["evidence"]["backup_predicted"] is True
    assert quick["alerts"]["check"] == ([], [])
    assert ".notify-state/daily-shop.json" not in run.files


def test_tags_daily_health_runs_only_the_health_item(quick):
    run = quick["tags"]
    assert run.returncode == 0, run.explain()
    assert [item["id"] for item in run.report()["items"]] == ["health"]
    assert run.items()["health"]["status"] == "pass"
    assert "Scan the app's logs" not in run.stdout and "Back up the database" not in run.stdout
    assert not (quick["dirs"]["tags"] / "backups").exists(), "a --tags daily_health run took a backup"


def test_daily_fail_on_from_the_inventory_makes_a_warning_fail_the_run(quick):
    run = quick["fail_on"]
    assert run.returncode == 2, run.explain()
    resources = run.items()["resources"]
    assert resources["status"] == "warn" and "host memory" in resources["summary"], resources
    assert "Daily check of shop: WARN: host memory" in run.stdout


def test_a_webhook_that_refuses_does_not_stop_the_email_and_fails_the_run(quick):
    run = quick["webhook_down"]
    assert run.report()["status"] == "warn"
    posts, mails = quick["alerts"]["webhook_down"]
    assert len(posts) == 1 and posts[0].body["status"] == "warn"
    assert len(mails) == 1 and mails[0].subject.startswith("[WARN]")
    assert run.returncode == 2, run.explain()
    assert "the webhook answered HTTP status 500 (the URL is not shown: it is a secret)" in run.stdout
    # Not remembered as sent: the next run alerts again.
    assert ".notify-state/daily-shop.json" not in run.files


# -- one host per symptom -------------------------------------------------------------

@pytest.mark.slow
def test_a_burst_of_5xx_warns_in_the_logs_item(fleet):
    run = fleet["run"]
    logs = run.items("errors")["logs"]
    assert logs["status"] == "warn", logs
    assert logs["evidence"]["status_5xx"] == 20
    assert logs["evidence"]["error_lines"] == 20
    assert logs["evidence"]["top_5xx"][0]["signature"] == "GET /api/_fault/error 500"
    assert "GET /api/_fault/error 500" in logs["summary"]
    assert "WARN Errors in the last 24 h" in run.markdown("errors")
    assert "GET /api/_fault/error 500" in run.markdown("errors")
    # A warning alone does not fail the host.
    assert run.report("errors")["status"] == "warn"
    assert recap(run, "errors")["failed"] == 0


@pytest.mark.slow
def test_disk_over_the_threshold_fails_naming_the_path(fleet, shop):
    run = fleet["run"]
    disk = run.items("disk")["disk"]
    assert disk["status"] == "fail", disk
    assert "threshold 1%" in disk["summary"]
    assert str(shop.data_dir) in disk["summary"]
    assert recap(run, "disk")["failed"] == 1
    assert run.markdown("disk").splitlines()[4].startswith("- FAIL Disk space"), run.markdown("disk")


@pytest.mark.slow
def test_a_stale_backup_fails_the_backup_item(fleet):
    backup = fleet["run"].items("stale")["backup"]
    assert backup["status"] == "fail", backup
    assert backup["evidence"]["backup_ran"] is False
    assert 71.9 <= backup["evidence"]["age_hours"] <= 72.5
    assert backup["summary"].endswith(" h old (older than 26 h)"), backup["summary"]
    assert recap(fleet["run"], "stale")["failed"] == 1


@pytest.mark.slow
def test_no_backup_at_all_fails_the_backup_item(fleet):
    backup = fleet["run"].items("nobackup")["backup"]
    assert backup["status"] == "fail", backup
    assert backup["summary"].startswith("no verified backup in "), backup["summary"]


@pytest.mark.slow
def test_a_failing_backup_fails_with_its_reason_and_prunes_nothing(fleet):
    run = fleet["run"]
    backup = run.items("badbackup")["backup"]
    assert backup["status"] == "fail", backup
    assert backup["summary"].startswith("backup failed: "), backup["summary"]
    assert str(fleet["not_sqlite"]) in backup["evidence"]["backup_error"], backup
    # Retention (keep one daily backup) would have removed the older of the two.
    assert backup_files(fleet["failing"]) == fleet["failing_before"]
    assert len(fleet["failing_before"]) == 4


@pytest.mark.slow
def test_a_crash_loop_fails_the_containers_item(fleet):
    items = fleet["run"].items("crashloop")
    containers = items["containers"]
    assert containers["status"] == "fail", containers
    assert containers["evidence"]["restart_count"] >= 3
    assert containers["evidence"]["restart_loop"] is True
    assert "restart loop" in containers["summary"]
    assert items["health"]["status"] == "fail"


@pytest.mark.slow
def test_a_missing_container_is_reported(fleet):
    items = fleet["run"].items("missing")
    assert items["containers"]["status"] == "fail"
    assert items["containers"]["summary"] == "container milos-shop-no-such-container does not exist"
    assert items["logs"]["status"] == "fail" and "does not exist" in items["logs"]["summary"], items["logs"]


@pytest.mark.slow
def test_multiple_hosts_one_report_each_and_a_summary_problems_first(fleet):
    run = fleet["run"]
    assert run.returncode == 2, run.explain()
    for host in fleet["hosts"]:
        assert [item["id"] for item in run.report(host)["items"]] == ITEM_ORDER, host
    summary = run.summary()
    assert summary["status"] == "fail"
    listed = [h["host"] for h in summary["hosts"]]
    assert sorted(listed) == sorted(fleet["hosts"])
    statuses = [h["status"] for h in summary["hosts"]]
    assert statuses == sorted(statuses, key=["fail", "warn", "pass"].index), summary
    assert listed[-1] == "healthy" and statuses[-1] == "pass"
    assert {h["host"]: h["status"] for h in summary["hosts"]}["errors"] == "warn"
    md = run.summary_markdown()
    assert md.index("- FAIL crashloop") < md.index("- WARN errors") < md.index("- PASS healthy"), md
    # An alert per host with a problem, none for the healthy one.
    assert sorted(p.body["host"] for p in fleet["posts"]) == sorted(h for h in fleet["hosts"] if h != "healthy")
    assert len(fleet["mails"]) == len(fleet["hosts"]) - 1


@pytest.mark.slow
def test_secrets_never_show(fleet):
    """The webhook token, the SMTP password and the app's Sentry DSN: not in -v output, reports or alerts."""
    run = fleet["run"]
    assert "ok: [healthy] => " in run.stdout, "the fleet run was not verbose"
    assert_no_secrets(run.output, "the -v output")
    for path in fleet["base"].rglob("*"):
        if path.is_file() and path.suffix in (".json", ".md"):
            assert_no_secrets(path.read_text(errors="replace"), str(path))
    for post in fleet["posts"]:
        assert_no_secrets(json.dumps(post.body), "a webhook post")
        assert post.path == "/hooks/T0KEN-SECRET-123"  # the token reached the receiver, and only there
    for mail in fleet["mails"]:
        assert_no_secrets(mail.body + mail.subject, "an email")
        assert mail.auth == "smtp-user"
    # The Sentry DSN is really in the containers' environment (docker inspect shows it).
    env = fleet["crashing"].inspect()["Config"]["Env"]
    assert any(SECRETS[2] in e for e in env)
