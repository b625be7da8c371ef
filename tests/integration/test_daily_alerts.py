"""The daily run's alerts, end to end: a local webhook and a local SMTP server receive them.

An alert goes out on every run whose status is in notify_on (fail and warn by
default), and exactly one recovery message on the first passing run after it.

Two scenarios, each on a stand-in of its own (its container carries a Sentry DSN,
a secret, in its environment) with its own receivers and report directory, run
side by side; the tests then read what each step left. The backup step is
covered by test_daily_playbook.py: here it is off, and a fresh backup is in place.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.integration.receivers import (
    SMTP_USER,
    WEBHOOK_TOKEN_PATH,
    host_vars,
    notifiers,
    run_daily,
    start_standins,
    take_backup,
    write_inventory,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def steps_of(shop, base: Path, actions) -> list[dict]:
    """Run the playbook after each action; record the run and what each channel received."""
    take_backup(shop.db_path, base / "backups")
    steps = []
    with notifiers() as notify:
        hosts = {"shop": host_vars(shop, base / "backups", base / "reports", notify, daily_backup_enabled=False)}
        inventory = write_inventory(base / "hosts.yml", hosts)
        for action in actions:
            args = action() or ()
            run = run_daily(inventory, base / "reports", *args)
            posts, mails = notify.take()
            steps.append({"run": run, "posts": posts, "mails": mails})
    return steps


def stopped_then_started(shop, base: Path) -> list[dict]:
    """The app stopped; started again, first checked by a partial run (--tags); a full run; still running."""
    def stop():
        shop.compose("stop", "-t", "5")

    def start_and_check_health_only():
        shop.compose("start")
        shop.wait_health()
        return ("--tags", "daily_health")

    return steps_of(shop, base, [stop, start_and_check_health_only, lambda: None, lambda: None])


def slow_health(shop, base: Path) -> list[dict]:
    """The health endpoint answers in 6 s."""
    def slow():
        assert shop.request("/api/_fault/services", method="POST", body={"mode": "slow", "delayMs": 6000})[0] == 200

    return steps_of(shop, base, [slow])


@pytest.fixture(scope="module")
def scenarios(docker_engine, tmp_path_factory):
    base = tmp_path_factory.mktemp("alerts")
    stopped, slow = start_standins(base, 2)
    try:
        with ThreadPoolExecutor(2) as pool:
            futures = {"stopped": pool.submit(stopped_then_started, stopped, base / "stopped"),
                       "slow": pool.submit(slow_health, slow, base / "slow")}
            results = {name: future.result() for name, future in futures.items()}
        yield {**results, "stopped_standin": stopped}
    finally:
        stopped.destroy()
        slow.destroy()


def test_stopped_app_fails_the_run_and_alerts_once_per_channel(scenarios):
    shop = scenarios["stopped_standin"]
    step = scenarios["stopped"][0]
    run = step["run"]
    assert run.returncode == 2, run.explain()
    items = run.items()
    assert items["containers"]["status"] == "fail"
    assert f"container {shop.container} is exited" in items["containers"]["summary"]
    assert items["health"]["status"] == "fail"
    assert "refused" in items["health"]["summary"]
    md = run.markdown().splitlines()
    assert md[4].startswith("- FAIL ") and md[5].startswith("- FAIL "), md

    assert len(step["posts"]) == 1 and len(step["mails"]) == 1, step
    post, mail = step["posts"][0], step["mails"][0]
    assert post.path == WEBHOOK_TOKEN_PATH
    assert post.body["kind"] == "alert" and post.body["status"] == "fail"
    assert f"container {shop.container} is exited" in post.text
    assert {"containers", "health"} <= set(post.body["problems"]), post.body
    assert mail.subject.startswith("[FAIL]"), mail.subject
    assert f"container {shop.container} is exited" in mail.body
    assert mail.rcpt_tos == ["ops@example.com"]
    assert mail.auth == SMTP_USER
    # The control node remembers the status, for the recovery message.
    assert json.loads(run.text(".notify-state/daily-shop.json"))["status"] == "fail"


def test_a_partial_run_that_passes_is_no_recovery(scenarios):
    partial = scenarios["stopped"][1]
    run = partial["run"]
    assert run.returncode == 0, run.explain()
    assert list(run.items()) == ["health"], run.items()
    assert partial["posts"] == [] and partial["mails"] == [], partial
    # The remembered status is still the failure, so the next full run sends the recovery.
    assert json.loads(run.text(".notify-state/daily-shop.json"))["status"] == "fail"


def test_recovery_is_sent_once_then_nothing(scenarios):
    recovered, quiet = scenarios["stopped"][2:]
    run = recovered["run"]
    assert run.returncode == 0, run.explain()
    assert run.report()["status"] == "pass", run.report()
    assert len(recovered["posts"]) == 1 and len(recovered["mails"]) == 1, recovered
    assert recovered["posts"][0].body["kind"] == "recovery"
    assert "recovered" in recovered["posts"][0].text and "it was FAIL" in recovered["posts"][0].text
    assert recovered["mails"][0].subject.startswith("[RECOVERED]"), recovered["mails"][0].subject
    assert json.loads(run.text(".notify-state/daily-shop.json"))["status"] == "pass"

    assert quiet["run"].returncode == 0, quiet["run"].explain()
    assert quiet["posts"] == [] and quiet["mails"] == []


def test_slow_health_endpoint_warns_without_failing_the_run_and_alerts(scenarios):
    [step] = scenarios["slow"]
    run = step["run"]
    assert run.returncode == 0, run.explain()
    health = run.items()["health"]
    assert health["status"] == "warn", health
    assert [a["kind"] for a in health["evidence"]["alerts"]] == ["latency"]
    assert 5000 < health["evidence"]["latency_ms"] < 9000
    assert "over the 5000 ms threshold" in health["summary"]
    # The Docker health check (4 s timeout) starts failing too; it takes three misses to say unhealthy,
    # and the containers item runs first: no item fails.
    assert run.report()["status"] == "warn", run.report()
    assert len(step["posts"]) == 1 and len(step["mails"]) == 1, step
    post = step["posts"][0]
    assert post.body["status"] == "warn" and "health" in post.body["problems"]
    assert "over the 5000 ms threshold" in post.text
    assert step["mails"][0].subject.startswith("[WARN]"), step["mails"][0].subject
