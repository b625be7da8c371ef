# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils file is private to the milos_shop.ops collection; it may
# change or go away without notice. Do not use it from other collections.

"""Streaming scan of Milos-Shop log lines (milos_shop.ops.log_scan).

The app logs every API request in the guide's format

    METHOD /api/path STATUS in DURATIONms :: {response_json}

(the stand-in prefixes a time and a level: ``2026-11-28T10:00:00.000Z [info] ...``)
and errors with a level (``[error] ...``). A LogScan consumes lines one at a time
and keeps only counters and one sample per error signature, so its memory does
not grow with the size of the log.
"""

from __future__ import annotations

import re

REQUEST_RE = re.compile(
    r"(?P<method>GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (?P<path>/\S*) (?P<status>[1-5]\d\d) in (?P<ms>\d+(?:\.\d+)?)ms(?: :: (?P<body>.*))?$"
)
LEVEL_RE = re.compile(r"\[(?P<level>error|err|fatal|critical|crit|warn|warning|info|debug|trace|express)\]", re.IGNORECASE)
# Docker's timestamps=True prefix: RFC 3339 with nanoseconds, then one space.
DOCKER_TS_RE = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) ")
APP_TS_RE = re.compile(r"^\s*(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z?|\d{1,2}:\d\d:\d\d\s?(?:AM|PM)?)\s+")
UNSTRUCTURED_ERROR_RE = re.compile(r"\b(error|exception|fatal|unhandled|uncaught)\b", re.IGNORECASE)
STACK_RE = re.compile(r"^\s+at\s")

ERROR_LEVELS = ("error", "err", "fatal", "critical", "crit")
# Parts of a message that vary between occurrences of the same problem.
_NORMALISE = [
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE), "<uuid>"),
    (re.compile(r"\b\d{4}-\d\d-\d\dT[\d:.]+Z?\b"), "<time>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b", re.IGNORECASE), "<hex>"),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "<str>"),
    (re.compile(r"\d+"), "<n>"),
]
_PATH_IDS = re.compile(r"/(?:\d+|[0-9a-f]{8,}|[0-9a-f-]{36})(?=/|$|\?)", re.IGNORECASE)
MAX_SIGNATURES = 5000
MAX_SAMPLE = 500


def signature(message):
    """The shape of an error message, with the parts that vary replaced."""
    text = message.strip()
    for pattern, repl in _NORMALISE:
        text = pattern.sub(repl, text)
    return text[:300]


def request_signature(method, path, status):
    """Group requests by method, path without ids or query, and status."""
    return "%s %s %s" % (method, _PATH_IDS.sub("/:id", path.split("?", 1)[0]), status)


class Group(object):
    __slots__ = ("count", "first_seen", "last_seen", "sample")

    def __init__(self, ts, sample):
        self.count = 0
        self.first_seen = ts
        self.last_seen = ts
        self.sample = sample[:MAX_SAMPLE]

    def add(self, ts):
        self.count += 1
        if ts is not None:
            if self.first_seen is None or ts < self.first_seen:
                self.first_seen = ts
            if self.last_seen is None or ts > self.last_seen:
                self.last_seen = ts


class LogScan(object):
    """Counters over a stream of log lines."""

    def __init__(self, slow_ms=5000):
        self.slow_ms = slow_ms
        self.lines = 0
        self.requests = 0
        self.unparsed = 0
        self.error_lines = 0
        self.warn_lines = 0
        self.status_5xx = 0
        self.status_4xx = 0
        self.slow_requests = 0
        self.max_ms = None
        self.first_ts = None
        self.last_ts = None
        self.errors = {}
        self.server_errors = {}
        self.slow = {}
        self.overflow = 0

    def _group(self, table, key, ts, line):
        group = table.get(key)
        if group is None:
            if len(table) >= MAX_SIGNATURES:
                self.overflow += 1
                key = "<other signatures>"
                group = table.get(key)
            if group is None:
                group = table[key] = Group(ts, line)
        group.add(ts)

    def feed(self, raw):
        """Consume one line (str, without its newline)."""
        line = raw.rstrip("\r\n")
        if not line.strip():
            return
        self.lines += 1
        ts = None
        match = DOCKER_TS_RE.match(line)
        if match:
            ts = match.group("ts")
            line = line[match.end():]
            if self.first_ts is None:
                self.first_ts = ts
            self.last_ts = ts
        message = APP_TS_RE.sub("", line, count=1)
        level_match = LEVEL_RE.search(message[:80])
        level = level_match.group("level").lower() if level_match else None
        if level_match:
            message = message[level_match.end():].strip()

        request = REQUEST_RE.search(message)
        if request:
            self.requests += 1
            status = int(request.group("status"))
            ms = float(request.group("ms"))
            self.max_ms = ms if self.max_ms is None else max(self.max_ms, ms)
            key = request_signature(request.group("method"), request.group("path"), status)
            if status >= 500:
                self.status_5xx += 1
                self._group(self.server_errors, key, ts, line)
            elif status >= 400:
                self.status_4xx += 1
            if ms > self.slow_ms:
                self.slow_requests += 1
                self._group(self.slow, request_signature(request.group("method"), request.group("path"), "slow"), ts, line)
            return

        if level in ERROR_LEVELS or (level is None and UNSTRUCTURED_ERROR_RE.search(message) and not STACK_RE.match(message)):
            self.error_lines += 1
            self._group(self.errors, signature(message), ts, line)
        elif level in ("warn", "warning"):
            self.warn_lines += 1
        elif level is None and not STACK_RE.match(message):
            self.unparsed += 1

    def feed_chunks(self, chunks):
        """Consume an iterable of byte chunks (lines may span chunks)."""
        pending = b""
        for chunk in chunks:
            pending += chunk
            while True:
                cut = pending.find(b"\n")
                if cut < 0:
                    break
                self.feed(pending[:cut].decode("utf-8", "replace"))
                pending = pending[cut + 1:]
            if len(pending) > 1024 * 1024:  # a single absurd line: count it, drop the rest
                self.feed(pending[:MAX_SAMPLE].decode("utf-8", "replace"))
                pending = b""
        if pending:
            self.feed(pending.decode("utf-8", "replace"))

    @staticmethod
    def _top(table, top):
        groups = sorted(table.items(), key=lambda kv: (-kv[1].count, kv[0]))[:top]
        return [
            {"signature": key, "count": g.count, "first_seen": g.first_seen, "last_seen": g.last_seen, "sample": g.sample}
            for key, g in groups
        ]

    def result(self, top=5):
        return {
            "lines": self.lines,
            "requests": self.requests,
            "unparsed_lines": self.unparsed,
            "error_lines": self.error_lines,
            "warn_lines": self.warn_lines,
            "status_4xx": self.status_4xx,
            "status_5xx": self.status_5xx,
            "slow_requests": self.slow_requests,
            "slow_threshold_ms": self.slow_ms,
            "max_latency_ms": self.max_ms,
            "first_line_at": self.first_ts,
            "last_line_at": self.last_ts,
            "top_errors": self._top(self.errors, top),
            "top_5xx": self._top(self.server_errors, top),
            "top_slow": self._top(self.slow, top),
            "distinct_error_signatures": len(self.errors),
            "signature_overflow": self.overflow,
        }


def alerts_for(result, max_errors, max_5xx, max_slow):
    """Alerts (kind, message, value) for counts over their thresholds."""
    alerts = []
    checks = (
        ("errors", result["error_lines"], max_errors, "error lines", result["top_errors"]),
        ("5xx", result["status_5xx"], max_5xx, "5xx responses", result["top_5xx"]),
        ("slow", result["slow_requests"], max_slow, "requests slower than %d ms" % result["slow_threshold_ms"], result["top_slow"]),
    )
    for kind, value, limit, what, top in checks:
        if value > limit:
            worst = ("; most frequent: %s (%d)" % (top[0]["signature"], top[0]["count"])) if top else ""
            alerts.append({"kind": kind, "value": value, "message": "%d %s (threshold %d)%s" % (value, what, limit, worst)})
    return alerts
