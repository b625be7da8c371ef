"""The stand-in's Compose shape, as Docker reports it.

Container name, restart policy, a port published on loopback only, the image's
HEALTHCHECK, a non-root user, and the app env file reaching the process while
its secret (SENTRY_DSN) stays out of the logs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from tests.helpers.standin import HEALTH_INTERVAL, HEALTH_RETRIES, STANDIN_SRC, Standin, wait_http

pytestmark = pytest.mark.docker

FAKE_DSN = "https://5f1e0c0ffee0c0ffee0c0ffee0c0ffee@o271828.ingest.sentry.invalid/3141592"
DSN_KEY = "5f1e0c0ffee0c0ffee0c0ffee0c0ffee"


@pytest.fixture(scope="module")
def with_secret(docker_engine, tmp_path_factory):
    """A stack whose app.env holds a (fake) Sentry DSN and the chattiest log level."""
    s = Standin(tmp_path_factory.mktemp("secret"),
                app_env={"SENTRY_DSN": FAKE_DSN, "LOG_LEVEL": "debug", "NODE_ENV": "production"})
    try:
        s.up(wait=False)
        wait_http(s)
        yield s
    finally:
        s.destroy()


def test_container_name_and_compose_labels(shared_standin):
    info = shared_standin.inspect()
    assert info["Name"] == f"/{shared_standin.container}"
    labels = info["Config"]["Labels"]
    assert labels["com.docker.compose.project"] == shared_standin.project
    assert labels["com.docker.compose.service"] == "milos-shop"
    assert info["Config"]["Image"] == "milos-shop/standin:local"
    assert info["State"]["Running"] is True


def test_restart_policy_is_unless_stopped(shared_standin):
    policy = shared_standin.inspect()["HostConfig"]["RestartPolicy"]
    assert policy["Name"] == "unless-stopped"


def test_port_is_published_on_loopback_only(shared_standin):
    info = shared_standin.inspect()
    expected = [{"HostIp": "127.0.0.1", "HostPort": str(shared_standin.port)}]
    assert info["HostConfig"]["PortBindings"] == {"5000/tcp": expected}
    assert info["NetworkSettings"]["Ports"] == {"5000/tcp": expected}
    assert shared_standin.request("/api/services")[0] == 200


def test_healthcheck_is_present_and_healthy(shared_standin):
    info = shared_standin.inspect()
    check = info["Config"]["Healthcheck"]
    assert check["Test"] == ["CMD", "/usr/local/bin/node", "/app/dist/healthcheck.js"]
    # The tests' interval and retries (MILOS_SHOP_HEALTH_*); the demo's are 5 s and 3 (below).
    assert check["Interval"] == seconds(HEALTH_INTERVAL) * 10**9
    assert check["Timeout"] == 4 * 10**9
    assert check["Retries"] == int(HEALTH_RETRIES)
    health = info["State"]["Health"]
    assert health["Status"] == "healthy"
    assert health["FailingStreak"] == 0
    assert health["Log"] and health["Log"][-1]["ExitCode"] == 0
    # The probe is what an operator would run by hand, and it passes.
    assert shared_standin.exec("/usr/local/bin/node", "/app/dist/healthcheck.js", check=False).returncode == 0


def seconds(duration: str) -> int:
    assert duration.endswith("s") and duration[:-1].isdigit(), duration
    return int(duration[:-1])


@pytest.mark.parametrize(("env", "expected"), [
    ({}, {"interval": "5s", "retries": 3}),
    ({"MILOS_SHOP_HEALTH_INTERVAL": "1s", "MILOS_SHOP_HEALTH_RETRIES": "7"}, {"interval": "1s", "retries": 7}),
])
def test_health_check_timing_is_the_demos_unless_the_environment_says(tmp_path, env, expected):
    """The demo (and production) keep 5 s and 3 retries; tests change them through the environment."""
    shutil.copy(STANDIN_SRC / "docker-compose.yml", tmp_path)
    (tmp_path / ".env").write_text("")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MILOS_SHOP_")}
    out = subprocess.run(["docker", "compose", "config", "--format", "json"], cwd=tmp_path, env={**clean, **env},
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["services"]["milos-shop"]["healthcheck"] == expected


def test_runs_as_non_root_uid_1000(shared_standin):
    info = shared_standin.inspect()
    assert info["Config"]["User"] == "1000:1000"
    assert shared_standin.exec("id", "-u").stdout.strip() == "1000"
    status = shared_standin.exec("cat", "/proc/1/status").stdout
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    assert uid_line.split()[1:] == ["1000"] * 4
    cmdline = shared_standin.exec("cat", "/proc/1/cmdline").stdout.split("\0")
    assert cmdline[:2] == ["/usr/local/bin/node", "/app/dist/server.js"]


def test_env_file_values_reach_the_container(with_secret):
    env = with_secret.inspect()["Config"]["Env"]
    for item in ("NODE_ENV=production", "LOG_LEVEL=debug", f"SENTRY_DSN={FAKE_DSN}",
                 "FAULTS_ENABLED=true", "RATE_LIMIT_MAX=600"):
        assert item in env
    # And the app process sees them.
    proc_env = with_secret.exec("cat", "/proc/1/environ").stdout.split("\0")
    assert f"SENTRY_DSN={FAKE_DSN}" in proc_env and "LOG_LEVEL=debug" in proc_env
    logs = with_secret.logs()
    assert "(NODE_ENV=production, LOG_LEVEL=debug, sentry enabled)" in logs


def test_sentry_dsn_never_appears_in_the_logs(with_secret):
    # Exercise every path that logs: requests, errors, 404s, fault switches.
    with_secret.request("/api/services")
    with_secret.request("/api/version")
    with_secret.request("/api/_fault/error")
    with_secret.request("/api/nope")
    with_secret.request("/api/orders", "POST", {"customer": "dsn-check", "totalCents": 1})
    with_secret.request("/api/_fault/services", "POST", {"mode": "ok"})
    deadline = time.monotonic() + 10
    while "POST /api/_fault/services 200" not in (logs := with_secret.logs()):
        assert time.monotonic() < deadline, logs
        time.sleep(0.2)
    assert "injected server error" in logs  # the error path ran and logged
    assert FAKE_DSN not in logs
    assert DSN_KEY not in logs
    assert "sentry.invalid" not in logs
    # Nor does the app hand it out over HTTP.
    assert DSN_KEY not in str(with_secret.request("/api/version")[1])


def test_without_a_dsn_sentry_is_disabled(shared_standin):
    assert "sentry disabled" in shared_standin.logs()
    assert "SENTRY_DSN=" in shared_standin.inspect()["Config"]["Env"]
