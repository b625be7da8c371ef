# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils file is private to the milos_shop.ops collection; it may
# change or go away without notice. Do not use it from other collections.

"""Streaming scan of Milos-Shop log lines (milos_shop.ops.log_scan), and its verdict (:func:`judge`).

The app logs every API request in the guide's format

    METHOD /api/path STATUS in DURATIONms :: {response_json}

(the stand-in prefixes a time and a level: ``2026-11-28T10:00:00.000Z [info] ...``)
and errors with a level (``[error] ...``). A LogScan consumes lines one at a time
and keeps only counters and one sample per error signature, so its memory does
not grow with the size of the log.
"""

from __future__ import annotations

import codecs
import re

from ansible_collections.milos_shop.ops.plugins.module_utils._checklist import alert, make_item

# A scan reads a day's log, a few million lines, so the common line (a request answered
# in time) costs one regex match and few allocations:
# - optional parts are written (?:...|), not (?:...)?: the same match, without an allocation
#   per optional group in the regex engine;
# - the lines of a chunk are matched in place with finditer() (no string per line), which is
#   why no pattern below may match a newline ([ \t], not \s);
# - lines are counted per chunk, and requests as the lines that are not something else.
_REQUEST = (r"(?P<method>GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (?P<path>/\S*) (?P<status>[1-5]\d\d) in "
            r"(?P<ms>\d+(?:\.\d+|))ms(?: :: .*|)\r?$")
REQUEST_RE = re.compile(_REQUEST)
# What comes before the message, each part optional: Docker's timestamps=True prefix (RFC 3339 with
# nanoseconds, then one space; a line without it that starts with the app's own ISO time uses that), the
# app's time (ISO, or Replit's "3:45:12 PM"), and a level in brackets. Only at the start of the line: a
# "[error]" inside a request's JSON answer is not the line's level.
_PREFIX = (
    r"(?:(?P<ts>\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:\d\d)) |)"
    r"(?:[ \t]*(?:\d{4}-\d\d-\d\dT[\d:.]+Z?|\d{1,2}:\d\d:\d\d ?(?:[AP]M|))[ \t]+|)"
    r"(?:\[(?P<level>(?i:error|err|fatal|critical|crit|warn|warning|info|debug|trace|express))\][ \t]*|)"
)
# One line: the prefix, then (group msg) the message. A request answered with 1xx to 3xx right at
# the start of the message, in whole milliseconds, ends in the empty group ok_ts (with a time stamp)
# or ok (without), which match.lastgroup tells without another allocation; other lines take the
# general path.
_REQUEST_OK = (r"(?P<method>GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (?P<path>/\S*) (?P<status>[1-3]\d\d) in "
               r"(?P<ms>0|[1-9]\d*)ms(?: :: .*|)\r?$(?(ts)(?P<ok_ts>)|(?P<ok>))")
LINE_RE = re.compile(r"^" + _PREFIX + r"(?P<msg>)(?:" + _REQUEST_OK + r"|)[^\n]*", re.MULTILINE)
# In a line without a level: Node's "TypeError: ...", "Unhandled rejection", "FATAL ...".
UNSTRUCTURED_ERROR_RE = re.compile(r"(?:error|exception)\b|\b(?:fatal|unhandled|uncaught|panic)\b", re.IGNORECASE)
STACK_RE = re.compile(r"[ \t]+at[ \t]")  # used with match()

ERROR_LEVELS = ("error", "err", "fatal", "critical", "crit")
WARN_LEVELS = ("warn", "warning")
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
# Groups kept per table (errors, 5xx, slow); further signatures are counted under OTHER.
MAX_SIGNATURES = 5000
OTHER = "<other signatures>"
MAX_SAMPLE = 500
MAX_SIGNATURE = 300
# A line longer than this (in characters) is cut to it; the rest is dropped.
MAX_LINE = 1024 * 1024


def signature(message):
    """The shape of an error message, with the parts that vary replaced."""
    # Enough of the message for the signature's length; the replacements do not shorten much.
    text = message.strip()[:4 * MAX_SIGNATURE]
    for pattern, repl in _NORMALISE:
        text = pattern.sub(repl, text)
    return text[:MAX_SIGNATURE]


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
    """Counters over a stream of log lines; feed() one line, or feed_chunks() a stream of bytes."""

    def __init__(self, slow_ms=5000):
        self.slow_ms = slow_ms
        self.lines = 0
        self.not_requests = 0  # lines that are not requests: requests = lines - not_requests
        self.unparsed = 0
        self.error_lines = 0
        self.warn_lines = 0
        self.status_5xx = 0
        self.status_4xx = 0
        self.slow_requests = 0
        self.max_ms = None
        self._max_digits, self._max_len = "", 0
        self._slow_digits = str(slow_ms) if isinstance(slow_ms, int) and slow_ms >= 0 else ""
        self.first_ts = None
        self._last_stamped = None  # the match of the last line with a time stamp, for that time
        self.errors = {}
        self.server_errors = {}
        self.slow = {}
        self.overflow = 0

    @property
    def requests(self):
        return self.lines - self.not_requests

    def _group(self, table, key, ts, line, offset):
        group = table.get(key)
        if group is None:
            if len(table) - (OTHER in table) >= MAX_SIGNATURES:
                self.overflow += 1
                key = OTHER
                group = table.get(key)
            if group is None:
                group = table[key] = Group(ts, line[offset:offset + MAX_SAMPLE])
        group.add(ts)

    def feed(self, raw):
        """Consume one line (str, without its newline)."""
        self.lines += 1
        self._line(raw)

    def _line(self, line):
        """Read one line, already counted in self.lines: the general path, for any line."""
        if len(line) > MAX_LINE:
            line = line[:MAX_LINE]
        line = line.rstrip("\r\n")
        if not line or line.isspace():
            self.lines -= 1
            return
        match = LINE_RE.match(line)
        sample = match.end("ts") + 1  # where the sample starts: after Docker's time, if any
        if sample:
            self._last_stamped = match
            if self.first_ts is None:
                self.first_ts = match.group("ts")
        start = match.start("msg")
        request = REQUEST_RE.search(line, start) if " in " in line else None
        if request is None:
            self.not_requests += 1
            self._other(line, match, start, sample)
            return

        ms = request.group("ms")
        ms = float(ms) if "." in ms else int(ms)
        if self.max_ms is None or ms > self.max_ms:
            self._set_max(ms)
        status = request.group("status")
        if status[0] == "5":
            self.status_5xx += 1
            key = request_signature(request.group("method"), request.group("path"), status)
            self._group(self.server_errors, key, match.group("ts"), line, sample)
        elif status[0] == "4":
            self.status_4xx += 1
        if ms > self.slow_ms:
            self.slow_requests += 1
            key = request_signature(request.group("method"), request.group("path"), "slow")
            self._group(self.slow, key, match.group("ts"), line, sample)

    def _other(self, line, match, start, sample):
        """A line that is not a request: an error, a warning, a stack frame or something else."""
        level = match.group("level")
        if level is None:
            if STACK_RE.match(line, start):  # a stack trace's frames belong to the error line above them
                return
            if not UNSTRUCTURED_ERROR_RE.search(line, start):
                self.unparsed += 1
                return
            level = "error"
        level = level.lower()
        if level in ERROR_LEVELS:
            self.error_lines += 1
            self._group(self.errors, signature(line[start:start + 8 * MAX_SIGNATURE]), match.group("ts"), line, sample)
        elif level in WARN_LEVELS:
            self.warn_lines += 1

    def _lines(self, text, pos, endpos):
        """Read the lines of text[pos:endpos] (newline-separated, no newline at endpos)."""
        self.lines += text.count("\n", pos, endpos) + 1
        slow_len, slow_digits = len(self._slow_digits), self._slow_digits
        for match in LINE_RE.finditer(text, pos, endpos):
            kind = match.lastgroup
            if kind == "ok_ts" or kind == "ok":
                # A request answered in whole ms: compared as digits (shorter is less), not parsed.
                ms = match.group("ms")
                size = len(ms)
                if size < slow_len or (size == slow_len and ms <= slow_digits):  # not slow
                    if size > self._max_len or (size == self._max_len and ms > self._max_digits):
                        self._set_max(int(ms))
                    if kind == "ok_ts":
                        self._last_stamped = match
                        if self.first_ts is None:
                            self.first_ts = match.group("ts")
                    continue
            self._line(match.group())

    def _set_max(self, ms):
        self.max_ms = ms
        self._max_digits = str(int(ms))  # whole ms: a duration is more if it has more digits, or greater ones
        self._max_len = len(self._max_digits)

    def feed_chunks(self, chunks):
        """Consume an iterable of byte chunks (lines and UTF-8 characters may span chunks)."""
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        pending = []  # the pieces of the line not yet ended
        size = 0
        skipping = False  # the line went over MAX_LINE: its start was read, drop the rest
        for chunk in chunks:
            text = decoder.decode(chunk)
            last = text.rfind("\n")
            if last < 0:
                if text and not skipping:
                    pending.append(text)
                    size += len(text)
                    if size > MAX_LINE:
                        self.feed("".join(pending))
                        pending, size, skipping = [], 0, True
                continue
            start = 0
            if skipping or pending:
                start = text.find("\n") + 1
                if not skipping:
                    pending.append(text[:start - 1])
                    self.feed("".join(pending))
                skipping = False
            if start <= last:
                self._lines(text, start, last)
            pending = [text[last + 1:]] if last + 1 < len(text) else []
            size = len(text) - last - 1
            if size > MAX_LINE:
                self.feed(pending[0])
                pending, size, skipping = [], 0, True
        pending.append(decoder.decode(b"", final=True))
        if not skipping and "".join(pending):
            self.feed("".join(pending))

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
            "max_latency_ms": None if self.max_ms is None else float(self.max_ms),
            "first_line_at": self.first_ts,
            "last_line_at": self._last_stamped.group("ts") if self._last_stamped else None,
            "top_errors": self._top(self.errors, top),
            "top_5xx": self._top(self.server_errors, top),
            "top_slow": self._top(self.slow, top),
            "distinct_error_signatures": len(self.errors) - (OTHER in self.errors),
            "signature_overflow": self.overflow,
        }


def alerts_for(result, max_errors, max_5xx, max_slow):
    """Alerts (kind, severity warn, value, threshold, message) for counts over their thresholds."""
    alerts = []
    checks = (
        ("errors", result["error_lines"], max_errors, "error lines", result["top_errors"]),
        ("5xx", result["status_5xx"], max_5xx, "5xx responses", result["top_5xx"]),
        ("slow", result["slow_requests"], max_slow, "requests slower than %d ms" % result["slow_threshold_ms"], result["top_slow"]),
    )
    for kind, value, limit, what, top in checks:
        if value > limit:
            worst = ("; most frequent: %s (%d)" % (top[0]["signature"], top[0]["count"])) if top else ""
            alerts.append({"kind": kind, "severity": "warn", "value": value, "threshold": limit,
                           "message": "%d %s (threshold %d)%s" % (value, what, limit, worst)})
    return alerts


def finish(result, window, max_errors, max_5xx, max_slow):
    """Add ``window``, ``alerts``, ``ok`` and ``msg`` to a scan's result; return it."""
    result["window"] = window
    result["alerts"] = alerts_for(result, max_errors, max_5xx, max_slow)
    result["ok"] = not result["alerts"]
    if result["ok"]:
        result["msg"] = "%d lines since %s: %d errors, %d 5xx, %d slow requests" % (
            result["lines"], window["since"], result["error_lines"], result["status_5xx"], result["slow_requests"])
    else:
        result["msg"] = "; ".join(alert["message"] for alert in result["alerts"])
    return result


# -- the verdict ------------------------------------------------------------------

ITEM_ID = "logs"
EVIDENCE_KEYS = ("lines", "error_lines", "status_5xx", "slow_requests", "unparsed_lines", "top_errors", "top_5xx",
                 "top_slow", "alerts", "window")


def item_title(since="24h"):
    """The item's title, naming the window the way the guide does (``Errors in the last 24 h``)."""
    text = str(since).strip()
    match = re.fullmatch(r"([0-9]+)(min|h|d|w|s)", text)
    if match:
        text = "%s %s" % match.groups()
    return "Errors in the last %s (docker-compose logs | grep -i error)" % text


def judge(result, item_id=ITEM_ID, title=None):
    """The ``logs`` item: warn when a count is over its threshold (errors, 5xx, slow requests), pass otherwise."""
    evidence = dict((key, result.get(key)) for key in EVIDENCE_KEYS)
    return make_item(item_id, title or item_title(), summary=result["msg"], evidence=evidence, alerts=result["alerts"])


def error_item(message, window=None, item_id=ITEM_ID, title=None):
    """The ``logs`` item when the logs cannot be read (no such container, no Docker daemon): a fail."""
    return make_item(item_id, title or item_title(), summary=message, evidence={"window": window},
                     alerts=[alert("check_error", "fail", message)])
