"""The stand-in's fault switches, so that the collection's checks meet real symptoms.

/api/_fault/error and /api/_fault/slow, the run-time switch of /api/services
(slow, error, ok) with its effect on Docker health, a crash that Docker's
restart policy recovers from, and a crash loop driven by a CRASH_ON_START file
in the data directory.
"""

from __future__ import annotations

import http.client
import re
import threading
import time

import pytest

from tests.helpers.standin import Standin, started, wait_http

pytestmark = pytest.mark.docker


def answers(s: Standin) -> bool:
    try:
        return s.request("/api/services", timeout=2)[0] == 200
    except (OSError, http.client.HTTPException):
        return False


def wait_log(s: Standin, pattern: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        logs = s.logs()
        if re.search(pattern, logs, re.M):
            return logs
        if time.monotonic() > deadline:
            raise AssertionError(f"no log line matching {pattern!r} in:\n{logs}")
        time.sleep(0.2)


def timed(fn, *args, **kwargs):
    t0 = time.monotonic()
    out = fn(*args, **kwargs)
    return out, time.monotonic() - t0


def test_fault_error_answers_500_and_logs_an_error(shared_standin):
    status, body, _unused = shared_standin.request("/api/_fault/error")
    assert status == 500
    assert body == {"message": "Internal Server Error"}
    wait_log(shared_standin, r"^\S+ \[error\] GET /api/_fault/error failed: Error: injected server error$")
    # One failing request does not hurt the app.
    assert shared_standin.request("/api/services")[0] == 200


@pytest.mark.slow
def test_fault_slow_takes_the_requested_time(shared_standin):
    result = {}

    def slow():
        result["answer"], result["seconds"] = timed(shared_standin.request, "/api/_fault/slow?ms=6000", timeout=30)

    worker = threading.Thread(target=slow)
    worker.start()
    time.sleep(0.5)
    # The app keeps serving others while the slow request waits.
    (status, _unused, _unused), seconds = timed(shared_standin.request, "/api/services")
    assert status == 200 and seconds < 2
    worker.join(30)
    assert not worker.is_alive()
    status, body, _unused = result["answer"]
    assert status == 200 and body == {"sleptMs": 6000}
    assert 6.0 <= result["seconds"] < 12
    logs = wait_log(shared_standin, r"\[info\] GET /api/_fault/slow 200 in \d+ms")
    ms = [int(x) for x in re.findall(r"GET /api/_fault/slow 200 in (\d+)ms", logs)]
    assert ms[-1] >= 6000


def test_faults_are_off_unless_enabled(standin_factory):
    s = started(standin_factory, FAULTS_ENABLED="false")
    assert s.request("/api/_fault/error")[0] == 404
    assert s.request("/api/_fault/slow?ms=10")[0] == 404
    assert s.request("/api/_fault/crash", "POST", {})[0] == 404
    assert s.request("/api/_fault/services", "POST", {"mode": "error"})[0] == 404
    assert s.request("/api/services")[0] == 200
    assert s.inspect()["RestartCount"] == 0


def test_services_fault_switch_modes(standin_factory):
    s = started(standin_factory)

    status, body, _unused = s.request("/api/_fault/services", "POST", {"mode": "slow", "delayMs": 1500})
    assert status == 200 and body == {"services": "slow", "servicesDelayMs": 1500}
    (status, services, _unused), seconds = timed(s.request, "/api/services", timeout=10)
    assert status == 200 and len(services) == 4
    assert seconds >= 1.5
    wait_log(s, r"^\S+ \[warn\] fault switch: /api/services is now slow$")

    status, body, _unused = s.request("/api/_fault/services", "POST", {"mode": "error"})
    assert status == 200 and body["services"] == "error"
    status, body, _unused = s.request("/api/services")
    assert status == 500 and body == {"message": "Internal Server Error"}
    wait_log(s, r"^\S+ \[error\] GET /api/services failed: Error: services query failed \(injected fault\)$")
    assert s.exec("/usr/local/bin/node", "/app/dist/healthcheck.js", check=False).returncode == 1

    status, body, _unused = s.request("/api/_fault/services", "POST", {"mode": "ok"})
    assert status == 200 and body["services"] == "ok"
    (status, services, _unused), seconds = timed(s.request, "/api/services")
    assert status == 200 and len(services) == 4 and seconds < 1.5

    for bad in ({"mode": "broken"}, {}, {"delayMs": 10}):
        status, body, _unused = s.request("/api/_fault/services", "POST", bad)
        assert status == 400 and body == {"message": "mode must be ok, slow or error"}
    assert s.request("/api/services")[0] == 200


@pytest.mark.slow
def test_services_error_makes_docker_unhealthy(standin):
    # `standin` is healthy: failures now count towards the retries (3 x 5 s).
    assert standin.health() == "healthy"
    assert standin.request("/api/_fault/services", "POST", {"mode": "error"})[0] == 200
    standin.wait_health("unhealthy", timeout=45)
    health = standin.inspect()["State"]["Health"]
    assert health["FailingStreak"] >= 3
    assert health["Log"][-1]["ExitCode"] != 0
    assert standin.inspect()["State"]["Running"] is True  # unhealthy is not stopped

    assert standin.request("/api/_fault/services", "POST", {"mode": "ok"})[0] == 200
    standin.wait_health("healthy", timeout=30)


def test_crash_exits_and_docker_restarts_it(standin_factory):
    s = started(standin_factory)
    status, order, _unused = s.request("/api/orders", "POST", {"customer": "before-crash", "totalCents": 4200})
    assert status == 201
    before = s.inspect()
    assert before["RestartCount"] == 0

    status, body, _unused = s.request("/api/_fault/crash", "POST", {})
    assert status == 202 and body == {"crashing": True}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if s.inspect()["RestartCount"] >= 1 and answers(s):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"not restarted: {s.inspect()['State']}")

    after = s.inspect()
    assert after["RestartCount"] == 1
    assert after["State"]["Running"] is True
    assert after["State"]["StartedAt"] != before["State"]["StartedAt"]
    logs = s.logs()
    assert re.search(r"^\S+ \[error\] fatal: process crashing on request \(injected fault\)$", logs, re.M)
    assert len(re.findall(r"serving on port 5000", logs)) == 2
    # What was committed before the crash is still there.
    assert s.query("SELECT customer, total_cents FROM orders WHERE id = ?", (order["id"],)) == [("before-crash", 4200)]
    assert s.request("/api/orders/count")[1] == {"count": 1}


@pytest.mark.slow
def test_crash_on_start_file_makes_a_restart_loop(standin_factory):
    s = started(standin_factory)
    marker = s.data_dir / "CRASH_ON_START"
    marker.touch()
    assert s.request("/api/_fault/crash", "POST", {})[0] == 202

    seen_restarting = False
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        info = s.inspect()
        seen_restarting |= info["State"]["Restarting"] or info["State"]["Status"] == "restarting"
        if info["RestartCount"] >= 4 and seen_restarting:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"no restart loop: RestartCount {s.inspect()['RestartCount']}")
    assert not answers(s)
    logs = s.logs()
    refusals = re.findall(r"^\S+ \[error\] fatal: /app/data/CRASH_ON_START is present, refusing to start "
                          r"\(crash-loop switch\)$", logs, re.M)
    assert len(refusals) >= 3
    count = s.inspect()["RestartCount"]

    marker.unlink()
    wait_http(s, timeout=60)
    info = s.inspect()
    assert info["State"]["Running"] is True and info["State"]["Restarting"] is False
    assert info["RestartCount"] >= count
    time.sleep(1.5)
    assert s.inspect()["RestartCount"] == info["RestartCount"]  # the loop is over
    assert s.request("/api/services")[0] == 200
    assert s.query("SELECT count(*) FROM services") == [(4,)]
