# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""milos_shop.ops.log_scan against stand-ins on the real engine: real logs, real faults.

Each test reads the logs of a stand-in of its own, so that its counts are exact. The
stand-ins are started together when the first test of this file needs one (each takes
seconds to become healthy), and are torn down at the end of the file. The module runs
in-process (as in the unit tests) and once through `ansible localhost -m`.
"""

from __future__ import annotations

import concurrent.futures
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.milos_shop.ops.plugins.modules import log_scan
from tests.helpers.standin import Standin

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NAMES = ("healthy", "burst", "slow", "window")
ERROR_SIGNATURE = "GET /api/_fault/error failed: Error: injected server error"


@pytest.fixture(scope="module")
def standins(docker_engine, tmp_path_factory):
    """One healthy stand-in per test that needs one, by name, all started at once."""
    base = tmp_path_factory.mktemp("log_scan")
    made = {name: Standin(base) for name in NAMES}
    with concurrent.futures.ThreadPoolExecutor(len(made)) as pool:
        try:
            for future in [pool.submit(s.up) for s in made.values()]:
                future.result()
            yield made
        finally:
            list(pool.map(lambda s: s.destroy(), made.values()))


def run_module(args):
    """Run the module in-process; return (failed, result)."""
    with patch_module_args(dict(args, _ansible_check_mode=False)):
        with pytest.raises(SystemExit) as info:
            log_scan.main()
    return info.value.code != 0


def scan(capsys, **args):
    failed = run_module(args)
    result = json.loads(capsys.readouterr().out)
    assert failed == bool(result.get("failed")), result
    return result


def wait_logged(standin, pattern, count, timeout=10):
    """Wait until `count` log lines match pattern (Docker writes the logs asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [line for line in standin.logs().splitlines() if re.search(pattern, line)]
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) == count, found
            return
        time.sleep(0.1)


def burst_of_errors(standin, count):
    for _i in range(count):
        status, body, _headers = standin.request("/api/_fault/error")
        assert status == 500 and body == {"message": "Internal Server Error"}


def test_healthy_stack_has_no_alert_through_ansible(standins):
    standin = standins["healthy"]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    res = subprocess.run([str(BIN / "ansible"), "localhost", "-m", "milos_shop.ops.log_scan", "-a", "container=%s since=1h" % standin.container,
                          "-e", "ansible_python_interpreter=%s" % sys.executable],
                         cwd=str(ROOT), capture_output=True, text=True, env=env, timeout=120, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.startswith("localhost | SUCCESS => "), res.stdout
    result = json.loads(res.stdout.split("=>", 1)[1])
    assert result["changed"] is False and result["ok"] is True and result["alerts"] == []
    # At least the start-up line and Docker's health check requests.
    assert result["lines"] >= 2 and result["requests"] >= 1 and result["unparsed_lines"] == 0
    assert result["error_lines"] == 0 and result["status_5xx"] == 0 and result["slow_requests"] == 0
    assert result["top_errors"] == [] and result["top_5xx"] == []
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", result["first_line_at"])
    assert result["item"]["status"] == "pass" and result["item"]["title"].startswith("Errors in the last 1 h ")


def test_burst_of_5xx(standins, capsys):
    standin = standins["burst"]
    burst_of_errors(standin, 20)
    wait_logged(standin, r"\[error\] GET /api/_fault/error failed", 20)
    result = scan(capsys, container=standin.container, since="10min", fail_on_alert=False)
    assert result["ok"] is False
    assert result["status_5xx"] == 20 and result["error_lines"] == 20 and result["slow_requests"] == 0
    top = result["top_5xx"]
    assert [(g["signature"], g["count"]) for g in top] == [("GET /api/_fault/error 500", 20)]
    assert top[0]["first_seen"] < top[0]["last_seen"]
    assert re.match(r"\d{4}-\S+Z \[info\] GET /api/_fault/error 500 in \d+ms :: \{\"message\":\"Internal Server Error\"\}$", top[0]["sample"])
    assert [(g["signature"], g["count"]) for g in result["top_errors"]] == [(ERROR_SIGNATURE, 20)]
    assert result["distinct_error_signatures"] == 1
    messages = {a["kind"]: a["message"] for a in result["alerts"]}
    assert messages == {
        "errors": "20 error lines (threshold 0); most frequent: %s (20)" % ERROR_SIGNATURE,
        "5xx": "20 5xx responses (threshold 0); most frequent: GET /api/_fault/error 500 (20)",
    }
    item = result["item"]
    assert item["status"] == "warn" and item["evidence"]["status_5xx"] == 20 and item["evidence"]["error_lines"] == 20
    assert item["evidence"]["top_5xx"][0]["signature"] == "GET /api/_fault/error 500"
    assert "GET /api/_fault/error 500" in item["summary"]

    # By default an alert fails the task; thresholds at the counts do not.
    failed = scan(capsys, container=standin.container, since="10min")
    assert failed["failed"] is True and "20 5xx responses (threshold 0)" in failed["msg"]
    assert scan(capsys, container=standin.container, since="10min", max_errors=20, max_5xx=20)["ok"] is True


def test_slow_request(standins, capsys):
    standin = standins["slow"]
    status, body, _headers = standin.request("/api/_fault/slow?ms=6000", timeout=20)
    assert status == 200 and body == {"sleptMs": 6000}
    wait_logged(standin, r"GET /api/_fault/slow 200 in \d+ms", 1)
    result = scan(capsys, container=standin.container, since="10min", fail_on_alert=False)
    assert result["slow_requests"] == 1 and result["slow_threshold_ms"] == 5000
    assert result["status_5xx"] == 0 and result["error_lines"] == 0
    assert 6000 <= result["max_latency_ms"] < 7000
    assert [(g["signature"], g["count"]) for g in result["top_slow"]] == [("GET /api/_fault/slow slow", 1)]
    assert [a["message"] for a in result["alerts"]] == [
        "1 requests slower than 5000 ms (threshold 0); most frequent: GET /api/_fault/slow slow (1)"]
    # Slow is more than the threshold.
    assert scan(capsys, container=standin.container, since="10min", slow_threshold_ms=7000)["slow_requests"] == 0


def test_since_window_excludes_older_lines(standins, capsys):
    standin = standins["window"]
    burst_of_errors(standin, 3)
    wait_logged(standin, r"\[error\] GET /api/_fault/error failed", 3)
    # 8 s apart; the window reaches back to just before the last burst however long a loaded machine took since.
    time.sleep(8)
    before_last = time.time()
    burst_of_errors(standin, 1)
    wait_logged(standin, r"\[error\] GET /api/_fault/error failed", 4)
    window = math.ceil(time.time() - before_last) + 1
    assert window < 8, f"the last burst took {window} s to show in the logs: the window would reach the first"
    recent = scan(capsys, container=standin.container, since=f"{window}s", fail_on_alert=False)
    assert recent["status_5xx"] == 1 and recent["error_lines"] == 1
    assert recent["window"]["since"][:19] <= recent["first_line_at"][:19]  # to the second: both UTC
    everything = scan(capsys, container=standin.container, since="1h", fail_on_alert=False)
    assert everything["status_5xx"] == 4 and everything["error_lines"] == 4
    assert everything["lines"] > recent["lines"]


def test_missing_container_fails_and_says_which(docker_engine, capsys):
    result = scan(capsys, container="no-such-milos-container-logscan")
    assert result["failed"] is True
    assert result["msg"] == "container 'no-such-milos-container-logscan' does not exist on unix:///var/run/docker.sock"
    reported = scan(capsys, container="no-such-milos-container-logscan", fail_on_alert=False)
    assert "failed" not in reported and reported["item"]["status"] == "fail"
    assert reported["item"]["summary"] == result["msg"]
