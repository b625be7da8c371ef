"""The stand-in's log lines on stdout and its rate limiter.

Every line is "<ISO time> [<level>] <message>"; request lines carry the guide's
format "METHOD /api/path STATUS in DURATIONms :: {response_json}". LOG_LEVEL
filters them. With RATE_LIMIT_MAX requests a minute, /api answers 429 and logs
a [warn] line, except /api/services, which monitoring polls.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from tests.helpers.standin import Standin, started

pytestmark = pytest.mark.docker

LINE = re.compile(r"^(?P<ts>\S+) \[(?P<level>error|warn|info|debug)\] (?P<msg>.+)$")
REQUEST = re.compile(
    r"^(?P<ts>\S+) \[info\] (?P<method>GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (?P<path>/api/\S+) "
    r"(?P<status>\d{3}) in (?P<ms>\d+)ms( :: (?P<json>.*))?$")


def wait_log(s: Standin, pattern: str, timeout: float = 10) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        lines = s.logs().splitlines()
        if any(re.search(pattern, line) for line in lines):
            return lines
        if time.monotonic() > deadline:
            raise AssertionError(f"no log line matching {pattern!r} in:\n" + "\n".join(lines))
        time.sleep(0.2)


def request_lines(lines: list[str]) -> list[re.Match]:
    return [m for m in map(REQUEST.match, lines) if m]


# -- format -----------------------------------------------------------------------


def test_every_line_has_timestamp_and_level(shared_standin):
    shared_standin.request("/api/services")
    lines = wait_log(shared_standin, r"\[info\] GET /api/services 200 in")
    assert lines
    now = datetime.now(timezone.utc)
    for line in lines:
        m = LINE.match(line)
        assert m, f"not a log line: {line!r}"
        ts = datetime.fromisoformat(m["ts"].replace("Z", "+00:00"))
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", m["ts"])
        assert now - timedelta(hours=1) < ts < now + timedelta(minutes=1)


def test_request_lines_use_the_guide_format(shared_standin):
    marker = uuid.uuid4().hex[:8]
    calls = [
        ("GET", "/api/services", None),
        ("GET", "/api/orders/count", None),
        ("GET", "/api/version", None),
        ("GET", f"/api/missing-{marker}", None),
        ("POST", "/api/_fault/services", {"mode": f"bogus-{marker}"}),
    ]
    answers = {}
    for method, path, body in calls:
        status, res, _unused = shared_standin.request(path, method, body)
        answers[(method, path)] = (status, res)
    lines = wait_log(shared_standin, r"POST /api/_fault/services 400 in \d+ms :: ")

    found = {}
    for m in request_lines(lines):
        found[(m["method"], m["path"])] = m  # the latest line for each route
    for (method, path), (status, res) in answers.items():
        m = found.get((method, path))
        assert m, f"no request line for {method} {path}"
        assert int(m["status"]) == status
        assert int(m["ms"]) < 5000
        assert m["json"] is not None and json.loads(m["json"]) == res
    assert answers[("GET", f"/api/missing-{marker}")][0] == 404
    # Query strings are not part of the logged path; non-/api requests are not logged.
    shared_standin.request("/api/orders/count?probe=1")
    shared_standin.request("/")
    lines = wait_log(shared_standin, r"GET /api/orders/count 200")
    assert all("?" not in m["path"] for m in request_lines(lines))
    assert not any(re.search(r"\] GET / \d{3} ", line) for line in lines)


def test_long_response_json_is_cut(standin_factory):
    s = started(standin_factory)
    for i in range(10):
        assert s.request("/api/orders", "POST", {"customer": f"long-line-{i}", "totalCents": i})[0] == 201
    status, body, _unused = s.request("/api/orders?limit=10")
    assert status == 200 and len(json.dumps(body)) > 400
    lines = wait_log(s, r"\[info\] GET /api/orders 200 in")
    m = [m for m in request_lines(lines) if m["path"] == "/api/orders" and m["method"] == "GET"][-1]
    assert m["json"].endswith("…")
    assert len(m["json"]) == 400
    assert m["json"][:-1] == json.dumps(body, separators=(",", ":"))[:399]


# -- levels -----------------------------------------------------------------------


def test_errors_are_logged_at_error_level(shared_standin):
    status, body, _unused = shared_standin.request("/api/_fault/error")
    assert status == 500 and body == {"message": "Internal Server Error"}
    wait_log(shared_standin, r"\[error\] GET /api/_fault/error failed: Error: injected server error$")
    # The request line is written when the answer is finished, which may come after the error line.
    wait_log(shared_standin, r"^\S+ \[info\] GET /api/_fault/error 500 in \d+ms :: ")
    # Client mistakes are no errors.
    shared_standin.request("/api/orders", "POST", {"customer": ""})
    lines = wait_log(shared_standin, r"POST /api/orders 400 in")
    assert not any("[error] POST /api/orders" in line for line in lines)


def test_log_level_error_suppresses_info_and_warn(standin_factory):
    s = started(standin_factory, LOG_LEVEL="error")
    s.request("/api/services")
    s.request("/api/orders", "POST", {"customer": "quiet", "totalCents": 1})
    s.request("/api/_fault/services", "POST", {"mode": "ok"})  # logs a [warn]
    s.request("/api/_fault/error")
    lines = wait_log(s, r"\[error\] GET /api/_fault/error failed")
    assert lines
    for line in lines:
        m = LINE.match(line)
        assert m and m["level"] == "error", f"unexpected line at LOG_LEVEL=error: {line!r}"


def test_log_level_warn_keeps_warnings(standin_factory):
    s = started(standin_factory, LOG_LEVEL="WARN")
    s.request("/api/services")
    s.request("/api/_fault/services", "POST", {"mode": "ok"})
    lines = wait_log(s, r"\[warn\] fault switch: /api/services is now ok$")
    assert not [line for line in lines if "[info]" in line]


# -- rate limiting ----------------------------------------------------------------


def test_rate_limit_answers_429_and_logs_a_warning(standin_factory):
    s = started(standin_factory, RATE_LIMIT_MAX="5")
    for i in range(5):
        status, _unused, headers = s.request("/api/orders", "POST", {"customer": f"rl-{i}", "totalCents": 100})
        assert status == 201
        assert headers["RateLimit-Limit"] == "5"
        assert headers["RateLimit-Remaining"] == str(4 - i)
    for i in range(2):
        status, body, headers = s.request("/api/orders", "POST", {"customer": f"rl-over-{i}", "totalCents": 100})
        assert status == 429
        assert body == {"message": "Too many requests, please try again later."}
        assert headers["RateLimit-Remaining"] == "0"
    # The limit is per client across /api, not per route.
    assert s.request("/api/orders/count")[0] == 429
    assert s.query("SELECT count(*) FROM orders") == [(5,)]

    lines = wait_log(s, r"GET /api/orders/count 429 in")
    warns = [line for line in lines if re.match(r"^\S+ \[warn\] rate limit exceeded for \S+ on POST /api/orders$", line)]
    assert len(warns) == 2
    assert len([m for m in request_lines(lines) if m["status"] == "429"]) == 3


def test_services_is_exempt_from_the_rate_limit(standin_factory):
    s = started(standin_factory, RATE_LIMIT_MAX="5")
    for _unused in range(20):
        status, body, headers = s.request("/api/services")
        assert status == 200 and isinstance(body, list)
        assert headers["RateLimit-Limit"] is None
    # The 20 polls did not use up the quota ...
    for i in range(5):
        assert s.request("/api/orders", "POST", {"customer": f"ex-{i}", "totalCents": 1})[0] == 201
    assert s.request("/api/orders", "POST", {"customer": "ex-over", "totalCents": 1})[0] == 429
    # ... and monitoring still gets through once the limit is hit.
    for _unused in range(5):
        assert s.request("/api/services")[0] == 200
    assert s.exec("/usr/local/bin/node", "/app/dist/healthcheck.js", check=False).returncode == 0
