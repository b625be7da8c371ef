# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The log_scan module's entry point: arguments, results, failures, docs (the Docker client faked)."""

from __future__ import annotations

import time

import docker
import docker.errors
import pytest
import yaml

from ansible.module_utils._internal import _traceback

from ansible_collections.milos_shop.ops.plugins.doc_fragments import _checklist as checklist_fragment
from ansible_collections.milos_shop.ops.plugins.doc_fragments import _docker as docker_fragment
from ansible_collections.milos_shop.ops.plugins.module_utils import _docker
from ansible_collections.milos_shop.ops.plugins.modules import log_scan
from tests.helpers.module_harness import result_of, run_main

APP = "2026-11-28T10:00:00.000Z"
HEALTHY = [
    "2026-11-28T10:00:01.000000001Z %s [info] milos-shop stand-in 1.0.0 serving on port 5000\n" % APP,
    '2026-11-28T10:00:02.000000001Z %s [info] GET /api/services 200 in 3ms :: [{"id":1}]\n' % APP,
    '2026-11-28T10:00:03.000000001Z %s [info] GET /api/orders/count 200 in 1ms :: {"count":3}\n' % APP,
]
FAULTY = HEALTHY + [
    '2026-11-28T10:00:04.000000001Z %s [info] GET /api/_fault/error 500 in 2ms :: {"message":"Internal Server Error"}\n' % APP,
    "2026-11-28T10:00:04.000000002Z %s [error] GET /api/_fault/error failed: Error: injected server error\n" % APP,
    '2026-11-28T10:00:05.000000001Z %s [info] GET /api/_fault/slow 200 in 6004ms :: {"sleptMs":6000}\n' % APP,
]


class FakeClient(object):
    """Stands in for docker.APIClient: logs() answers byte chunks, or raises."""

    calls = []
    chunks = []
    error = None
    init_error = None

    def __init__(self, **kwargs):
        if FakeClient.init_error is not None:
            raise FakeClient.init_error
        FakeClient.calls.append(("init", kwargs))

    def logs(self, container, **kwargs):
        FakeClient.calls.append(("logs", dict(kwargs, container=container)))
        if FakeClient.error is not None:
            raise FakeClient.error
        return iter(FakeClient.chunks)


@pytest.fixture
def fake_docker(monkeypatch):
    """The module's Docker client, faked; set .chunks (lines as str), .error or .init_error."""
    FakeClient.calls = []
    FakeClient.chunks = [line.encode() for line in HEALTHY]
    FakeClient.error = None
    FakeClient.init_error = None
    monkeypatch.setattr(docker, "APIClient", FakeClient)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    return FakeClient


def run_module(args, check_mode=False):
    return run_main(log_scan.main, args, check_mode=check_mode)


def test_healthy_log_passes_and_changes_nothing(fake_docker, capsys):
    before = time.time()
    assert not run_module(dict(container="shop-1"))
    result = result_of(capsys)
    assert result["changed"] is False and result["ok"] is True and result["alerts"] == []
    assert result["lines"] == 3 and result["requests"] == 2 and result["error_lines"] == 0 and result["status_5xx"] == 0
    assert result["first_line_at"] == "2026-11-28T10:00:01.000000001Z" and result["last_line_at"] == "2026-11-28T10:00:03.000000001Z"
    assert result["msg"].startswith("3 lines since ") and result["msg"].endswith(": 0 errors, 0 5xx, 0 slow requests")
    item = result["item"]
    assert (item["id"], item["status"], item["summary"]) == ("logs", "pass", result["msg"])
    assert item["title"] == "Errors in the last 24 h (docker-compose logs | grep -i error)"
    assert item["evidence"]["lines"] == 3 and item["evidence"]["top_errors"] == [] and item["evidence"]["window"] == result["window"]

    init, logs = fake_docker.calls
    assert init == ("init", {"base_url": "unix:///var/run/docker.sock", "version": "auto", "timeout": 120})
    kwargs = logs[1]
    assert kwargs["container"] == "shop-1"
    assert kwargs["stream"] is True and kwargs["follow"] is False and kwargs["timestamps"] is True
    assert kwargs["stdout"] is True and kwargs["stderr"] is True
    # The default window is the last 24 hours, to the fraction of a second.
    assert isinstance(kwargs["since"], float) and isinstance(kwargs["until"], float)
    assert before - 1 <= kwargs["until"] <= time.time() + 1
    assert kwargs["until"] - kwargs["since"] == pytest.approx(86400, abs=0.001)
    assert result["window"]["since"].endswith("+00:00") and result["window"]["until"].endswith("+00:00")


def test_check_mode_gives_the_same_result(fake_docker, capsys):
    fake_docker.chunks = [line.encode() for line in FAULTY]
    args = dict(fail_on_alert=False)
    assert not run_module(args)
    normal = result_of(capsys)
    assert not run_module(args, check_mode=True)
    checked = result_of(capsys)
    for result in (normal, checked):
        del result["window"], result["item"]["evidence"]["window"]  # the time of the run
    assert checked == normal
    assert checked["item"]["status"] == "warn"
    assert checked["changed"] is False


def test_alerts_fail_the_task_by_default(fake_docker, capsys):
    fake_docker.chunks = [line.encode() for line in FAULTY]
    assert run_module(dict())
    result = result_of(capsys)
    assert result["failed"] is True and result["ok"] is False and result["changed"] is False
    assert [a["kind"] for a in result["alerts"]] == ["errors", "5xx", "slow"]
    assert result["msg"] == (
        "1 error lines (threshold 0); most frequent: GET /api/_fault/error failed: Error: injected server error (1); "
        "1 5xx responses (threshold 0); most frequent: GET /api/_fault/error 500 (1); "
        "1 requests slower than 5000 ms (threshold 0); most frequent: GET /api/_fault/slow slow (1)")
    assert result["top_5xx"][0]["sample"].startswith(APP)


def test_fail_on_alert_false_reports_instead(fake_docker, capsys):
    fake_docker.chunks = [line.encode() for line in FAULTY]
    assert not run_module(dict(fail_on_alert=False))
    result = result_of(capsys)
    assert "failed" not in result and result["ok"] is False and len(result["alerts"]) == 3


@pytest.mark.parametrize("args, kinds", [
    (dict(max_errors=1, max_5xx=1, max_slow=1), []),
    (dict(max_errors=1, max_5xx=1, max_slow=0), ["slow"]),
    (dict(max_errors=1, max_5xx=1, slow_threshold_ms=6004), []),
    (dict(max_errors=1, max_5xx=0, max_slow=1), ["5xx"]),
])
def test_thresholds(fake_docker, capsys, args, kinds):
    fake_docker.chunks = [line.encode() for line in FAULTY]
    args["fail_on_alert"] = False
    assert not run_module(args)
    assert [a["kind"] for a in result_of(capsys)["alerts"]] == kinds


def test_lines_may_span_chunks(fake_docker, capsys):
    data = "".join(FAULTY).encode()
    fake_docker.chunks = [data[i:i + 7] for i in range(0, len(data), 7)]
    assert not run_module(dict(fail_on_alert=False, top=1))
    result = result_of(capsys)
    assert (result["lines"], result["requests"], result["error_lines"], result["status_5xx"], result["slow_requests"]) == (6, 4, 1, 1, 1)
    assert result["max_latency_ms"] == 6004.0


@pytest.mark.parametrize("since, seconds", [("90s", 90), ("15min", 900), ("2h", 7200), ("7d", 604800), (" 3h ", 10800),
                                            ("1d12h", 129600), ("90", 90), ("1w", 604800)])
def test_since_windows(fake_docker, capsys, since, seconds):
    assert not run_module(dict(since=since))
    result_of(capsys)
    kwargs = fake_docker.calls[1][1]
    assert kwargs["until"] - kwargs["since"] == pytest.approx(seconds, abs=0.001)


def test_a_window_longer_than_the_epoch_reads_everything(fake_docker, capsys):
    assert not run_module(dict(since="99999999d"))
    result = result_of(capsys)
    assert fake_docker.calls[1][1]["since"] == 1.0
    assert result["window"]["since"] == "1970-01-01T00:00:01+00:00"


@pytest.mark.parametrize("args, message", [
    # One duration grammar for the collection: a bare m is refused (write min).
    (dict(since="90m"), "since: the unit m is ambiguous; write min for minutes"),
    (dict(since="0h"), "since: expected a positive duration, got '0h'"),
    (dict(since="0"), "since: expected a positive duration, got '0'"),
    (dict(since="x"), "since: expected a duration made of <number><unit> parts"),
    (dict(since="1mo"), "since: years and months have no fixed length"),
    (dict(since="3 h"), "got '3 h'"),
    (dict(since="-1h"), "got '-1h'"),
    (dict(since="1.5h"), "got '1.5h'"),
    (dict(slow_threshold_ms=-1), "slow_threshold_ms must be 0 or more, got -1"),
    (dict(top=-5), "top must be 0 or more, got -5"),
    (dict(max_errors=-1), "max_errors must be 0 or more, got -1"),
    (dict(max_5xx=-2), "max_5xx must be 0 or more, got -2"),
    (dict(max_slow=-3), "max_slow must be 0 or more, got -3"),
    (dict(container=""), "container must be the name or id of a container, got ''"),
    (dict(top="many"), "argument 'top' is of type str and we were unable to convert to int"),
    (dict(colour="red"), "Unsupported parameters for (basic.py) module: colour"),
])
def test_bad_arguments_fail_before_reading(fake_docker, capsys, args, message):
    assert run_module(args)
    result = result_of(capsys)
    assert result["failed"] is True
    assert message in result["msg"]
    assert not [call for call in fake_docker.calls if call[0] == "logs"]


def test_missing_container_is_named(fake_docker, capsys):
    fake_docker.error = docker.errors.NotFound("No such container: nope")
    assert run_module(dict(container="nope", docker_host="tcp://127.0.0.1:2375"))
    result = result_of(capsys)
    assert result["msg"] == "container 'nope' does not exist on tcp://127.0.0.1:2375"
    assert set(result["window"]) == {"since", "until"}
    assert result["item"]["status"] == "fail" and result["item"]["summary"] == result["msg"]


def test_missing_container_with_fail_on_alert_false_is_a_fail_item(fake_docker, capsys):
    fake_docker.error = docker.errors.NotFound("No such container: nope")
    assert not run_module(dict(container="nope", fail_on_alert=False, item_id="l", item_title="Logs"))
    result = result_of(capsys)
    assert result["ok"] is False and result["changed"] is False and "failed" not in result
    item = result["item"]
    assert (item["id"], item["title"], item["status"]) == ("l", "Logs", "fail")
    assert item["summary"] == "container 'nope' does not exist on unix:///var/run/docker.sock"
    assert [a["kind"] for a in item["alerts"]] == ["check_error"]


def test_docker_errors_are_reported(fake_docker, capsys, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    fake_docker.init_error = docker.errors.DockerException("Error while fetching server API version: connection refused")
    assert run_module(dict())
    result = result_of(capsys)
    assert result["msg"] == ("cannot read the logs of 'milos-shop' from the Docker daemon at unix:///nonexistent/docker.sock: "
                             "Error while fetching server API version: connection refused")


def test_an_error_in_the_stream_carries_the_traceback(fake_docker, capsys, monkeypatch):
    def broken():
        yield HEALTHY[0].encode()
        raise ConnectionResetError("connection reset by peer")

    class BrokenClient(FakeClient):
        def logs(self, container, **kwargs):
            return broken()

    monkeypatch.setattr(docker, "APIClient", BrokenClient)
    monkeypatch.setattr(_traceback, "_module_tracebacks_enabled_events", None)
    # Importing Ansible's controller side (the filter plugins' tests do) switches tracebacks to the controller's
    # configuration: a module reads _ansible_tracebacks_for.
    monkeypatch.setattr(_traceback, "_is_traceback_enabled", lambda event: event is _traceback.TracebackEvent.ERROR)
    assert run_module(dict(_ansible_tracebacks_for=["error"]))
    result = result_of(capsys)
    assert result["msg"] == "reading the logs of 'milos-shop' from unix:///var/run/docker.sock failed unexpectedly: connection reset by peer"
    assert "ConnectionResetError" in result["exception"]


def test_without_the_docker_library(monkeypatch, capsys):
    monkeypatch.setattr(_docker, "HAS_DOCKER", False)
    monkeypatch.setattr(_docker, "DOCKER_IMPORT_ERROR", "Traceback: No module named 'docker'")
    assert run_module(dict())
    result = result_of(capsys)
    assert "Failed to import the required Python library (docker)" in result["msg"]


def test_parse_window():
    assert log_scan.parse_window("24h") == 86400
    with pytest.raises(ValueError):
        log_scan.parse_window(None)


def test_documentation_matches_the_argument_spec():
    """A local stand-in for validate-modules' docs/argspec comparison."""
    doc = yaml.safe_load(log_scan.DOCUMENTATION)
    options = dict(doc["options"])
    for fragment in (checklist_fragment, docker_fragment):
        options.update(yaml.safe_load(fragment.ModuleDocFragment.DOCUMENTATION)["options"])
    spec = log_scan.argument_spec()
    assert set(options) == set(spec)
    for name, arg in spec.items():
        option = options[name]
        assert option["type"] == arg["type"], name
        assert option.get("default") == arg.get("default"), name
        assert option.get("choices") == arg.get("choices"), name
    returned = yaml.safe_load(log_scan.RETURN)
    assert {"ok", "msg", "alerts", "window", "lines", "requests", "error_lines", "status_5xx", "slow_requests", "top_errors",
            "top_5xx", "top_slow", "first_line_at", "last_line_at", "distinct_error_signatures", "signature_overflow",
            "item"} <= set(returned)
    yaml.safe_load(log_scan.EXAMPLES)
