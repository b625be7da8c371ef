# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the streaming log scan: line formats, signatures, chunking, memory, alerts."""

from __future__ import annotations

import random
import tracemalloc

import pytest

from ansible_collections.milos_shop.ops.plugins.module_utils import _logscan
from ansible_collections.milos_shop.ops.plugins.module_utils import _checklist
from ansible_collections.milos_shop.ops.plugins.module_utils._logscan import (
    LogScan,
    alerts_for,
    error_item,
    finish,
    item_title,
    judge,
    request_signature,
    signature,
)

# Docker's timestamps=True prefix (RFC 3339, nanoseconds) and the stand-in's own time and level.
DOCKER_TS = "2026-11-28T10:00:00.123456789Z"
APP = "2026-11-28T10:00:00.123Z"
SERVICES_JSON = '[{"id":1,"name":"web-design","description":"Web design for small shops","priceCents":49000}]'
COUNTERS = ("lines", "requests", "status_4xx", "status_5xx", "slow_requests", "error_lines", "warn_lines", "unparsed_lines")


def scan_lines(lines, slow_ms=5000, top=5):
    scan = LogScan(slow_ms=slow_ms)
    for line in lines:
        scan.feed(line)
    return scan.result(top=top)


def counters(result):
    return {name: result[name] for name in COUNTERS if result[name]}


def ts(second, fraction=0):
    """A Docker time stamp on 2026-11-28 at 10:00:<second>.<fraction in ns>."""
    return "2026-11-28T10:00:%02d.%09dZ" % (second, fraction)


# -- one line at a time -------------------------------------------------------------

@pytest.mark.parametrize("line, expected", [
    # The stand-in, through the Docker API (timestamps=True) and as `docker logs` prints it.
    ("%s %s [info] GET /api/services 200 in 3ms :: %s" % (DOCKER_TS, APP, SERVICES_JSON), dict(lines=1, requests=1)),
    ("%s [info] GET /api/services 200 in 3ms :: %s" % (APP, SERVICES_JSON), dict(lines=1, requests=1)),
    # Replit's express logger and the guide's bare format, with and without the answer.
    ('3:45:12 PM [express] GET /api/services 200 in 5ms :: {"ok":true}', dict(lines=1, requests=1)),
    ('11:05:00 AM [express] POST /api/orders 201 in 12ms :: {"id":7}', dict(lines=1, requests=1)),
    ('GET /api/orders 200 in 12ms :: [{"id":1}]', dict(lines=1, requests=1)),
    ("DELETE /api/orders/12 204 in 1ms", dict(lines=1, requests=1)),
    # Status classes.
    ('%s %s [info] GET /api/_fault/error 500 in 2ms :: {"message":"Internal Server Error"}' % (DOCKER_TS, APP),
     dict(lines=1, requests=1, status_5xx=1)),
    ('GET /api/services 503 in 1ms', dict(lines=1, requests=1, status_5xx=1)),
    ('%s [info] GET /api/nope 404 in 1ms :: {"message":"no route GET /api/nope"}' % APP, dict(lines=1, requests=1, status_4xx=1)),
    ('%s [warn] rate limit exceeded for ::1 on GET /api/orders' % APP, dict(lines=1, warn_lines=1)),
    # Slow is more than the threshold: equal is not slow.
    ('%s [info] GET /api/_fault/slow 200 in 5001ms :: {"sleptMs":5000}' % APP, dict(lines=1, requests=1, slow_requests=1)),
    ('%s [info] GET /api/_fault/slow 200 in 5000ms :: {"sleptMs":5000}' % APP, dict(lines=1, requests=1)),
    ("GET /api/services 200 in 5000.5ms", dict(lines=1, requests=1, slow_requests=1)),
    ("GET /api/services 502 in 6000ms", dict(lines=1, requests=1, status_5xx=1, slow_requests=1)),
    # Levels.
    ("%s %s [error] GET /api/_fault/error failed: Error: injected server error" % (DOCKER_TS, APP), dict(lines=1, error_lines=1)),
    ("%s [error] fatal: /data/CRASH_ON_START is present, refusing to start (crash-loop switch)" % APP, dict(lines=1, error_lines=1)),
    ("%s [fatal] out of memory" % APP, dict(lines=1, error_lines=1)),
    ("%s [ERROR] disk full" % APP, dict(lines=1, error_lines=1)),
    ("[critical] database is locked", dict(lines=1, error_lines=1)),
    ("%s [warn] fault switch: /api/services is now error" % APP, dict(lines=1, warn_lines=1)),
    ("%s [warning] deprecated option" % APP, dict(lines=1, warn_lines=1)),
    # An info or debug line that mentions an error is not an error line, nor unparsed.
    ("%s [info] websocket disconnected abc (transport error)" % APP, dict(lines=1)),
    ("%s [debug] retrying after error" % APP, dict(lines=1)),
    ("%s [info] milos-shop stand-in 1.0.0 serving on port 5000" % APP, dict(lines=1)),
    # A "[error]" inside a request's answer is not the line's level.
    ('GET /api/logs 200 in 3ms :: {"line":"[error] something"}', dict(lines=1, requests=1)),
    # Lines without a level: the words of an error make one.
    ("TypeError: Cannot read properties of undefined (reading 'id')", dict(lines=1, error_lines=1)),
    ("Error: connect ECONNREFUSED 127.0.0.1:5432", dict(lines=1, error_lines=1)),
    ("%s Unhandled rejection at: Promise" % DOCKER_TS, dict(lines=1, error_lines=1)),
    ("FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory", dict(lines=1, error_lines=1)),
    # The frames of a stack trace are neither errors nor unparsed, even when they name an error.
    ("    at Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:95:5)", dict(lines=1)),
    ("%s     at new ValidationError (/app/dist/server.js:10:11)" % DOCKER_TS, dict(lines=1)),
    ("\tat async Promise.all (index 0)", dict(lines=1)),
    # Anything else is counted, not fatal.
    ("> milos-shop@1.0.0 start", dict(lines=1, unparsed_lines=1)),
    ("Node.js v20.11.0", dict(lines=1, unparsed_lines=1)),
    ("%s at least it started" % DOCKER_TS, dict(lines=1, unparsed_lines=1)),
    ("GET /api/services 200 in soon", dict(lines=1, unparsed_lines=1)),
    ("\x00\x01\x02 binary \ufffd", dict(lines=1, unparsed_lines=1)),
    # Empty lines are not lines.
    ("", dict()),
    ("   \t", dict()),
    ("\r\n", dict()),
])
def test_line_formats(line, expected):
    result = scan_lines([line])
    assert counters(result) == expected
    # A stream reads the common line on a path of its own: the same result.
    stream = LogScan()
    stream.feed_chunks([line.encode() + b"\n"])
    assert stream.result() == result


def test_the_slow_threshold_is_an_option():
    result = scan_lines(["GET /api/a 200 in 101ms", "GET /api/a 200 in 100ms", "GET /api/b 200 in 250ms"], slow_ms=100)
    assert result["slow_requests"] == 2 and result["slow_threshold_ms"] == 100
    assert result["max_latency_ms"] == 250.0
    assert [(g["signature"], g["count"]) for g in result["top_slow"]] == [("GET /api/a slow", 1), ("GET /api/b slow", 1)]


def test_an_empty_log():
    result = scan_lines([])
    assert counters(result) == {}
    assert result["max_latency_ms"] is None and result["first_line_at"] is None and result["last_line_at"] is None
    assert result["top_errors"] == result["top_5xx"] == result["top_slow"] == []
    assert alerts_for(result, 0, 0, 0) == []


def test_times_of_the_window():
    result = scan_lines(["%s %s [info] GET /api/services 200 in 1ms" % (ts(second), APP) for second in (1, 2, 3)] + ["no time"])
    assert result["first_line_at"] == ts(1) and result["last_line_at"] == ts(3)


# -- signatures ----------------------------------------------------------------------

@pytest.mark.parametrize("first, second", [
    ("order 123 failed after 17 ms", "order 98765 failed after 3 ms"),
    ("user 'alice' not found", 'user "bob" not found'),
    ("payment 3f2a9c1e-0b7d-4c55-9e1a-2b3c4d5e6f70 declined", "payment 00000000-1111-2222-3333-444444444444 declined"),
    ("connect ECONNREFUSED 10.0.0.5:5432", "connect ECONNREFUSED 172.17.0.2:5432"),
    ("session deadbeefcafe0123 expired at 2026-11-28T10:00:01.5Z", "session 0123456789abcdef expired at 2026-11-29T23:59:59Z"),
    ("pointer 0x7ffd1234 invalid", "pointer 0xdeadbeef invalid"),
])
def test_errors_differing_only_in_variable_parts_share_a_signature(first, second):
    assert signature(first) == signature(second)
    result = scan_lines(["%s [error] %s" % (APP, first), "%s [error] %s" % (APP, second)])
    assert result["error_lines"] == 2 and result["distinct_error_signatures"] == 1
    assert result["top_errors"][0]["count"] == 2


def test_different_messages_are_different_signatures():
    result = scan_lines(["%s [error] order 1 failed" % APP, "%s [error] payment 1 failed" % APP, "%s [error] order 2 failed" % APP])
    assert result["distinct_error_signatures"] == 2
    assert [(g["signature"], g["count"]) for g in result["top_errors"]] == [("order <n> failed", 2), ("payment <n> failed", 1)]


def test_signature_is_bounded():
    assert len(signature("x" * 10000)) == _logscan.MAX_SIGNATURE
    assert signature("  spaced out  ") == "spaced out"


@pytest.mark.parametrize("method, path, status, expected", [
    ("GET", "/api/orders/123", 500, "GET /api/orders/:id 500"),
    ("GET", "/api/orders/123/items/9?expand=1", 500, "GET /api/orders/:id/items/:id 500"),
    ("PUT", "/api/users/3f2a9c1e-0b7d-4c55-9e1a-2b3c4d5e6f70", 502, "PUT /api/users/:id 502"),
    ("GET", "/api/services", 500, "GET /api/services 500"),
    ("GET", "/api/_fault/error", 500, "GET /api/_fault/error 500"),
])
def test_request_signatures(method, path, status, expected):
    assert request_signature(method, path, status) == expected


def test_groups_count_first_and_last_seen_and_sample():
    lines = [
        "%s %s [error] order 7 failed: SQLITE_BUSY" % (ts(5), APP),
        "%s %s [info] GET /api/orders/7 500 in 3ms :: {}" % (ts(6), APP),
        "%s %s [error] order 8 failed: SQLITE_BUSY" % (ts(9), APP),
        "%s %s [info] GET /api/orders/8 500 in 4ms :: {}" % (ts(10), APP),
        "%s %s [error] order 9 failed: SQLITE_BUSY" % (ts(7), APP),  # out of order: first/last are by time
    ]
    result = scan_lines(lines)
    assert result["top_errors"] == [{
        "signature": "order <n> failed: SQLITE_BUSY", "count": 3, "first_seen": ts(5), "last_seen": ts(9),
        "sample": "%s [error] order 7 failed: SQLITE_BUSY" % APP,
    }]
    assert result["top_5xx"] == [{
        "signature": "GET /api/orders/:id 500", "count": 2, "first_seen": ts(6), "last_seen": ts(10),
        "sample": "%s [info] GET /api/orders/7 500 in 3ms :: {}" % APP,
    }]


def test_groups_without_docker_times_use_the_apps_iso_time():
    result = scan_lines(["2026-11-28T10:00:01.000Z [error] boom", "2026-11-28T10:00:02.000Z [error] boom", "[error] boom"])
    group = result["top_errors"][0]
    assert group["count"] == 3 and group["first_seen"] == "2026-11-28T10:00:01.000Z" and group["last_seen"] == "2026-11-28T10:00:02.000Z"
    assert group["sample"] == "[error] boom"


def test_top_n_most_frequent_first_then_by_signature():
    lines = ["[error] alpha"] * 3 + ["[error] beta"] + ["[error] gamma"] * 2 + ["[error] delta"] * 2
    result = scan_lines(lines, top=3)
    assert [(g["signature"], g["count"]) for g in result["top_errors"]] == [("alpha", 3), ("delta", 2), ("gamma", 2)]
    assert result["distinct_error_signatures"] == 4
    assert scan_lines(lines, top=0)["top_errors"] == []


def test_signature_cap(monkeypatch):
    monkeypatch.setattr(_logscan, "MAX_SIGNATURES", 3)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
    result = scan_lines(["[error] %s broke" % word for word in words] + ["[error] alpha broke", "[error] zeta broke"], top=10)
    assert result["error_lines"] == 8
    assert result["distinct_error_signatures"] == 3
    assert result["signature_overflow"] == 4  # delta, epsilon, zeta, zeta
    groups = {g["signature"]: g["count"] for g in result["top_errors"]}
    assert groups == {"alpha broke": 2, "beta broke": 1, "gamma broke": 1, _logscan.OTHER: 4}


def test_signature_cap_applies_to_each_table(monkeypatch):
    monkeypatch.setattr(_logscan, "MAX_SIGNATURES", 2)
    result = scan_lines(["GET /api/%s 500 in 1ms" % name for name in ("a", "b", "c", "d")] + ["[error] x"])
    assert [(g["signature"], g["count"]) for g in result["top_5xx"]] == [
        (_logscan.OTHER, 2), ("GET /api/a 500", 1), ("GET /api/b 500", 1)]
    assert result["distinct_error_signatures"] == 1


# -- chunks --------------------------------------------------------------------------

MIXED = "\n".join([
    "%s %s [info] GET /api/services 200 in 3ms :: %s" % (ts(1), APP, SERVICES_JSON),
    '%s %s [info] GET /api/_fault/error 500 in 2ms :: {"message":"Internal Server Error"}' % (ts(2), APP),
    "%s %s [error] GET /api/_fault/error failed: Error: injected server error" % (ts(2, 5), APP),
    "%s %s [info] GET /api/orders 201 in 7001ms :: {\"customer\":\"J\u00fcrgen \u20ac\u2603\"}" % (ts(3), APP),
    "%s %s [warn] rate limit exceeded for ::1 on GET /api/orders" % (ts(4), APP),
    "%s TypeError: Cannot read properties of undefined (reading 'caf\u00e9')" % ts(5),
    "%s     at Object.<anonymous> (/app/dist/server.js:1:1)" % ts(5, 1),
    "",
    "%s garbage \u00fc\u00f6\u00e4" % ts(6),
    "%s %s [info] GET /api/services 200 in 1ms\r" % (ts(7), APP),
    "no newline at the end",
]).encode("utf-8")


def scan_chunks(chunks):
    scan = LogScan()
    scan.feed_chunks(chunks)
    return scan.result()


def test_mixed_log_in_one_chunk():
    result = scan_chunks([MIXED])
    assert counters(result) == dict(lines=10, requests=4, status_5xx=1, slow_requests=1, error_lines=2, warn_lines=1, unparsed_lines=2)
    assert result["first_line_at"] == ts(1) and result["last_line_at"] == ts(7)
    assert "J\u00fcrgen \u20ac\u2603" in result["top_slow"][0]["sample"]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 4096])
def test_chunk_boundaries_do_not_change_the_result(size):
    chunks = (MIXED[i:i + size] for i in range(0, len(MIXED), size))
    assert scan_chunks(chunks) == scan_chunks([MIXED])


def test_one_line_per_chunk_as_docker_sends_them():
    lines = MIXED.split(b"\n")
    assert scan_chunks(line + b"\n" for line in lines) == scan_chunks([MIXED + b"\n"])


def test_random_chunk_boundaries_and_empty_chunks():
    rng = random.Random(42)
    data = MIXED * 20
    chunks, i = [], 0
    while i < len(data):
        n = rng.choice([0, 1, 2, 5, 50, 300])
        chunks.append(data[i:i + n])
        i += n
    assert scan_chunks(iter(chunks)) == scan_chunks([data])


def test_invalid_utf8_is_replaced_not_fatal():
    data = b"[error] bad \xff\xfe bytes\nGET /api/x 200 in 1ms\n"
    for chunks in ([data], [data[i:i + 1] for i in range(len(data))]):
        result = scan_chunks(chunks)
        assert counters(result) == dict(lines=2, requests=1, error_lines=1)
        assert result["top_errors"][0]["sample"] == "[error] bad \ufffd\ufffd bytes"


def test_a_very_long_line_is_cut_and_the_next_line_is_read():
    long_line = ("%s [error] huge payload " % APP) + "x" * (3 * 1024 * 1024)
    data = (long_line + "\nGET /api/services 200 in 1ms\n").encode()
    whole = scan_chunks([data])
    assert counters(whole) == dict(lines=2, requests=1, error_lines=1)
    assert len(whole["top_errors"][0]["sample"]) == _logscan.MAX_SAMPLE
    assert len(whole["top_errors"][0]["signature"]) <= _logscan.MAX_SIGNATURE
    # Streamed in 64 KiB pieces: the rest of the line is dropped, not read as more lines.
    assert scan_chunks(data[i:i + 65536] for i in range(0, len(data), 65536)) == whole


def test_line_cut_is_the_same_whatever_the_chunks(monkeypatch):
    monkeypatch.setattr(_logscan, "MAX_LINE", 40)
    data = ("[error] " + "word " * 30 + "\n[error] short\n" + "[error] " + "y" * 100).encode()
    whole = scan_chunks([data])
    assert counters(whole) == dict(lines=3, error_lines=3)
    assert sorted(g["sample"] for g in whole["top_errors"]) == ["[error] short", ("[error] " + "word " * 30)[:40], ("[error] " + "y" * 100)[:40]]
    for size in (1, 3, 39, 40, 41):
        assert scan_chunks(data[i:i + size] for i in range(0, len(data), size)) == whole


# -- memory --------------------------------------------------------------------------

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima"]


def generated_chunks(pool, lines):
    """`lines` lines of a day's log: the pool's chunks (100 lines each), over and over."""
    for i in range(lines // 100):
        yield pool[i % len(pool)]


def make_pool(rng):
    """200 chunks of 100 generated lines: requests (ids, times vary), 1 % 5xx, 1 % errors whose words vary, slow ones."""
    pool = []
    for c in range(200):
        out = []
        for i in range(100):
            k = c * 100 + i
            stamp = "2026-11-28T%02d:%02d:%02d.%09dZ %s" % (k // 3600 % 24, k // 60 % 60, k % 60, k, APP)
            kind = k % 200
            if kind < 194:
                out.append('%s [info] GET /api/orders/%d 200 in %dms :: {"id":%d,"totalCents":%d}' % (
                    stamp, k, rng.randrange(80), k, rng.randrange(10 ** 6)))
            elif kind < 196:
                out.append('%s [info] POST /api/orders 500 in %dms :: {"message":"Internal Server Error"}' % (stamp, rng.randrange(80)))
            elif kind < 198:
                # Unbounded variety: every error a signature of its own, so only the cap keeps memory flat.
                out.append("%s [error] %s %s %s failed for order %d" % (stamp, rng.choice(WORDS), rng.choice(WORDS), rng.choice(WORDS), k))
            elif kind < 199:
                out.append("%s [info] GET /api/services 200 in %dms" % (stamp, 5001 + rng.randrange(3000)))
            else:
                out.append("%s npm notice %d" % (stamp, k))
        pool.append(("\n".join(out) + "\n").encode())
    return pool


def traced_peak(pool, lines):
    tracemalloc.start()
    try:
        scan = LogScan()
        scan.feed_chunks(generated_chunks(pool, lines))
        result = scan.result()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, result


@pytest.mark.slow
def test_memory_stays_flat_over_two_million_lines(monkeypatch):
    monkeypatch.setattr(_logscan, "MAX_SIGNATURES", 50)
    pool = make_pool(random.Random(1))
    small_peak, small = traced_peak(pool, 200000)
    large_peak, large = traced_peak(pool, 2000000)
    assert small["lines"] == 200000 and large["lines"] == 2000000
    assert large["requests"] == 1970000 and large["status_5xx"] == 20000 and large["slow_requests"] == 10000
    assert large["error_lines"] == 20000 and large["unparsed_lines"] == 10000
    assert large["distinct_error_signatures"] == 50 and large["signature_overflow"] > 0
    assert small_peak < 5 * 2 ** 20 and large_peak < 5 * 2 ** 20, (small_peak, large_peak)
    # Ten times the lines, about the same peak (what differs is which lines were last in flight).
    assert large_peak < small_peak * 1.25 + 256 * 1024, (small_peak, large_peak)


# -- alerts --------------------------------------------------------------------------

def alerting_result():
    lines = (["[error] order %d failed" % i for i in range(3)] + ["[error] disk full"]
             + ["GET /api/services 500 in 1ms"] * 2 + ["GET /api/orders/%d 200 in 6000ms" % i for i in range(5)])
    return scan_lines(lines)


@pytest.mark.parametrize("max_errors, max_5xx, max_slow, kinds", [
    (0, 0, 0, ["errors", "5xx", "slow"]),
    (4, 2, 5, []),  # at the thresholds: no alert
    (3, 2, 5, ["errors"]),
    (4, 1, 5, ["5xx"]),
    (4, 2, 4, ["slow"]),
    (100, 100, 100, []),
])
def test_alerts_over_thresholds(max_errors, max_5xx, max_slow, kinds):
    alerts = alerts_for(alerting_result(), max_errors, max_5xx, max_slow)
    assert [a["kind"] for a in alerts] == kinds


def test_alert_messages_name_the_worst_signature():
    alerts = {a["kind"]: a for a in alerts_for(alerting_result(), 0, 0, 0)}
    assert alerts["errors"] == {"kind": "errors", "severity": "warn", "value": 4, "threshold": 0,
                                "message": "4 error lines (threshold 0); most frequent: order <n> failed (3)"}
    assert alerts["5xx"]["message"] == "2 5xx responses (threshold 0); most frequent: GET /api/services 500 (2)"
    assert alerts["slow"]["message"] == "5 requests slower than 5000 ms (threshold 0); most frequent: GET /api/orders/:id slow (5)"


def test_alert_message_without_groups():
    result = alerting_result()
    result["top_errors"] = []  # as with top=0
    assert alerts_for(result, 0, 100, 100)[0]["message"] == "4 error lines (threshold 0)"


# -- the verdict ------------------------------------------------------------------------

WINDOW = {"since": "2026-11-27T12:00:00+00:00", "until": "2026-11-28T12:00:00+00:00"}


@pytest.mark.parametrize("max_errors, max_5xx, max_slow, status, kinds", [
    (100, 100, 100, "pass", []),
    (4, 2, 5, "pass", []),  # at each threshold: no alert
    (3, 2, 5, "warn", ["errors"]),
    (4, 1, 5, "warn", ["5xx"]),
    (4, 2, 4, "warn", ["slow"]),
    (0, 0, 0, "warn", ["errors", "5xx", "slow"]),
])
def test_judge_statuses_and_thresholds(max_errors, max_5xx, max_slow, status, kinds):
    result = finish(alerting_result(), dict(WINDOW), max_errors, max_5xx, max_slow)
    item = judge(result)
    assert _checklist.validate(item) is item and item["id"] == "logs"
    assert item["status"] == status and [a["kind"] for a in item["alerts"]] == kinds
    limits = {"errors": max_errors, "5xx": max_5xx, "slow": max_slow}
    assert all(a["severity"] == "warn" and a["threshold"] == limits[a["kind"]] for a in item["alerts"])
    assert item["summary"] == result["msg"]
    assert set(item["evidence"]) == {"lines", "error_lines", "status_5xx", "slow_requests", "unparsed_lines", "top_errors",
                                     "top_5xx", "top_slow", "alerts", "window"}


def test_judge_summary_without_alerts():
    result = finish(alerting_result(), dict(WINDOW), 100, 100, 100)
    assert judge(result)["summary"] == "%d lines since %s: 4 errors, 2 5xx, 5 slow requests" % (result["lines"], WINDOW["since"])


@pytest.mark.parametrize("since, title", [
    ("24h", "Errors in the last 24 h (docker-compose logs | grep -i error)"),
    ("90min", "Errors in the last 90 min (docker-compose logs | grep -i error)"),
    ("1d12h", "Errors in the last 1d12h (docker-compose logs | grep -i error)"),
])
def test_item_title_names_the_window(since, title):
    assert item_title(since) == title


def test_error_item_is_a_fail():
    item = error_item("container 'x' does not exist on unix:///var/run/docker.sock", WINDOW)
    assert item["status"] == "fail" and item["alerts"][0]["kind"] == "check_error" and item["evidence"]["window"] == WINDOW
