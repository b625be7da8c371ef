# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health_probe module's entry point: arguments, results, failures, docs."""

from __future__ import annotations

import http.server
import json
import socket
import threading

import pytest
import yaml

from ansible.module_utils._internal import _traceback

from ansible_collections.milos_shop.ops.plugins.doc_fragments import _checklist as checklist_fragment
from ansible_collections.milos_shop.ops.plugins.module_utils import _health
from ansible_collections.milos_shop.ops.plugins.modules import health_probe
from tests.helpers.module_harness import result_of, run_main

SERVICES = [{"id": 1, "name": "web-design"}, {"id": 2, "name": "hosting"}]


def run_module(args, check_mode=False):
    return run_main(health_probe.main, args, check_mode=check_mode)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server():
    """An HTTP server on 127.0.0.1; set server.status / server.body to change its answer."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # pylint: disable=invalid-name
            body = json.dumps(httpd.body).encode()
            httpd.requests += 1
            self.send_response(httpd.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # pylint: disable=arguments-differ
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.status, httpd.body, httpd.requests = 200, SERVICES, 0
    httpd.url = "http://127.0.0.1:%d/api/services" % httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_healthy_never_changed(server, capsys):
    assert not run_module(dict(url=server.url, json_assertions=["length(@) > `0`"], return_json=True))
    result = result_of(capsys)
    assert result["changed"] is False and result["ok"] is True
    assert result["status"] == 200 and result["attempts"] == 1 and result["alerts"] == []
    assert result["json"] == SERVICES
    assert result["msg"].startswith("%s answered 200 in " % server.url)
    item = result["item"]
    assert (item["id"], item["title"], item["status"]) == ("health", "Health check OK (curl /api/services)", "pass")
    assert item["summary"] == result["msg"] and item["alerts"] == []
    assert item["evidence"] == {"url": server.url, "status": 200, "latency_ms": result["latency_ms"], "attempts": 1,
                                "websocket": None, "alerts": []}


@pytest.mark.parametrize("status, ok", [(200, True), (500, False)])
def test_check_mode_gives_the_same_result(server, capsys, status, ok):
    server.status = status
    args = dict(url=server.url, json_assertions=["length(@) > `0`"], fail_on_alert=False)
    assert not run_module(args)
    applied = result_of(capsys)
    assert not run_module(args, check_mode=True)
    checked = result_of(capsys)
    assert server.requests == 2  # check mode probes too: reading is safe
    for result in (applied, checked):
        assert result["changed"] is False and result["ok"] is ok
    timing = ("latency_ms", "msg", "alerts", "item")
    assert dict((k, v) for k, v in applied.items() if k not in timing) == dict((k, v) for k, v in checked.items() if k not in timing)
    assert [a["kind"] for a in applied["alerts"]] == [a["kind"] for a in checked["alerts"]]
    assert applied["item"]["status"] == checked["item"]["status"] == ("pass" if ok else "fail")


def test_fail_on_alert_fails_naming_the_problem(server, capsys):
    server.status = 500
    assert run_module(dict(url=server.url))
    result = result_of(capsys)
    assert result["failed"] is True and result["changed"] is False and result["ok"] is False
    assert result["msg"] == "%s answered 500 Internal Server Error, expected 200" % server.url
    assert [a["kind"] for a in result["alerts"]] == ["status"] and result["status"] == 500


def test_fail_on_alert_false_succeeds_with_ok_false(capsys):
    url = "http://127.0.0.1:%d/api/services" % free_port()
    assert not run_module(dict(url=url, fail_on_alert=False, websocket=True))
    result = result_of(capsys)
    assert "failed" not in result or result["failed"] is False
    assert result["ok"] is False and result["changed"] is False
    assert [a["kind"] for a in result["alerts"]] == ["connection_refused", "websocket"]
    assert result["error"]["kind"] == "connection_refused"
    assert result["msg"].startswith("connection to '127.0.0.1' refused (nothing listens there?); WebSocket connection_refused: ")


@pytest.mark.parametrize("args, message", [
    (dict(retries=-1), "retries must be 0 or more, got -1"),
    (dict(backoff=-1), "backoff must be 0 or more, got -1.0"),
    (dict(timeout=0), "timeout must be more than 0, got 0.0"),
    (dict(latency_threshold_ms=-5), "latency_threshold_ms must be 0 or more, got -5"),
    (dict(websocket=True, websocket_path="socket.io"),
     "websocket_path must start with / and hold no spaces or control characters, got 'socket.io'"),
    (dict(url="ftp://127.0.0.1/api/services"), "url 'ftp://127.0.0.1/api/services' must start with http:// or https://"),
    (dict(url="http://127.0.0.1:5000x/"), "url 'http://127.0.0.1:5000x/' has an invalid port: "),
    (dict(status_codes=[20]), "status_codes must list HTTP status codes (100 to 599), got [20]"),
    (dict(body_regex="[a-"), "body_regex '[a-' is not a valid regular expression: "),
    (dict(json_assertions=["length(@"]), "json_assertions entry 'length(@' is not valid JMESPath: "),
    (dict(method="HEAD", return_json=True), "method='HEAD' gets no body to check: return_json need method=GET"),
    (dict(method="POST"), "value of method must be one of: GET, HEAD, got: POST"),
    (dict(retries="many"), "argument 'retries' is of type str and we were unable to convert to int"),
])
def test_bad_parameters(capsys, args, message):
    args.setdefault("url", "http://127.0.0.1:%d/api/services" % free_port())
    assert run_module(args)
    result = result_of(capsys)
    assert result["failed"] is True
    assert message in result["msg"]
    assert "alerts" not in result  # refused before any request


def test_json_assertions_without_jmespath(monkeypatch, capsys):
    monkeypatch.setattr(health_probe, "HAS_JMESPATH", False)
    assert run_module(dict(url="http://127.0.0.1:1/", json_assertions=["length(@) > `0`"]))
    result = result_of(capsys)
    assert "Failed to import the required Python library (jmespath)" in result["msg"]


def test_without_jmespath_other_checks_still_work(monkeypatch, server, capsys):
    monkeypatch.setattr(health_probe, "HAS_JMESPATH", False)
    monkeypatch.setattr(_health, "HAS_JMESPATH", False)
    monkeypatch.setattr(_health, "jmespath", None)
    assert not run_module(dict(url=server.url, expect_json=True, return_json=True, body_regex="hosting"))
    result = result_of(capsys)
    assert result["ok"] is True and result["json"] == SERVICES
    server.body = {"services": []}
    assert run_module(dict(url=server.url, expect_json=True, body_regex="hosting"))
    assert [a["kind"] for a in result_of(capsys)["alerts"]] == ["body_regex"]


def test_unexpected_error_carries_the_traceback(monkeypatch, capsys):
    def boom(params):
        raise RuntimeError("boom")

    monkeypatch.setattr(health_probe, "probe", boom)
    monkeypatch.setattr(_traceback, "_module_tracebacks_enabled_events", None)
    # Importing Ansible's controller side (the filter plugins' tests do) switches tracebacks to the controller's
    # configuration: a module reads _ansible_tracebacks_for.
    monkeypatch.setattr(_traceback, "_is_traceback_enabled", lambda event: event is _traceback.TracebackEvent.ERROR)
    assert run_module(dict(url="http://127.0.0.1:1/", _ansible_tracebacks_for=["error"]))
    result = result_of(capsys)
    assert result["msg"] == "health probe of 'http://127.0.0.1:1/' failed unexpectedly: boom"
    assert "Traceback" in result["exception"] and "RuntimeError" in result["exception"]


def test_documentation_matches_the_argument_spec():
    """A local stand-in for validate-modules' docs/argspec comparison."""
    doc = yaml.safe_load(health_probe.DOCUMENTATION)
    options = dict(doc["options"])
    options.update(yaml.safe_load(checklist_fragment.ModuleDocFragment.DOCUMENTATION)["options"])
    spec = health_probe.argument_spec()
    assert set(options) == set(spec)
    for name, arg in spec.items():
        option = options[name]
        assert option["type"] == arg["type"], name
        assert option.get("default") == arg.get("default"), name
        assert option.get("choices") == arg.get("choices"), name
        assert option.get("elements") == arg.get("elements"), name
        assert option.get("required", False) == arg.get("required", False), name
    assert doc["version_added"] == "0.1.0"
    yaml.safe_load(health_probe.EXAMPLES)
    returned = yaml.safe_load(health_probe.RETURN)
    kinds = " ".join(returned["alerts"]["contains"]["kind"]["description"])
    for kind in ("status", "latency", "assertion", "body_regex", "not_json", "tls_expiry", "websocket", "connection_refused",
                 "connection_reset", "dns", "timeout", "tls", "protocol", "network", "error"):
        assert "C(%s)" % kind in kinds, kind


@pytest.mark.parametrize("args, status, kinds", [
    (dict(latency_threshold_ms=0), "warn", ["latency"]),
    (dict(status_codes=[201]), "fail", ["status"]),
    (dict(status_codes=[201], latency_threshold_ms=0), "fail", ["status"]),
    (dict(json_assertions=["length(@) > `5`"], latency_threshold_ms=0), "fail", ["latency", "assertion"]),
])
def test_the_item_with_alerts(server, capsys, args, status, kinds):
    assert not run_module(dict(args, url=server.url, fail_on_alert=False, item_id="api", item_title="API"))
    item = result_of(capsys)["item"]
    assert (item["id"], item["title"], item["status"]) == ("api", "API", status)
    assert [a["kind"] for a in item["alerts"]] == kinds
    assert server.url in item["summary"]


def test_alerts_carry_severity_and_threshold(server, capsys):
    server.status = 503
    assert run_module(dict(url=server.url, latency_threshold_ms=0))
    result = result_of(capsys)
    assert result["failed"] is True and result["item"]["status"] == "fail"
    assert result["alerts"] == [{"kind": "status", "severity": "fail", "value": 503, "threshold": [200],
                                 "message": "%s answered 503 Service Unavailable, expected 200" % server.url}]


def test_a_transport_error_names_the_url_in_the_summary(capsys):
    url = "http://127.0.0.1:%d/api/services" % free_port()
    assert not run_module(dict(url=url, fail_on_alert=False))
    item = result_of(capsys)["item"]
    assert item["status"] == "fail" and item["summary"] == "%s: connection to '127.0.0.1' refused (nothing listens there?)" % url
    assert item["alerts"][0]["kind"] == "connection_refused"
