#!/usr/bin/env python
# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Log scan benchmark: LogScan.feed_chunks throughput and peak memory as the log grows.

Generates (once, cached in --workdir) a log of --size-mib MiB in the stand-in's
format (`2026-11-28T10:00:00.000Z [info] GET /api/services 200 in 3ms :: [...]`):
about 90 % health requests, other requests, 4xx, 5xx (each with its [error]
line), slow requests, [warn] lines, error lines from a few dozen signatures
(some with stack frames), errors without a level, and garbage (hex junk,
invalid UTF-8). The generator counts what the scan must find.

For three sizes (--size-mib / 16, / 4 and all of it: 64, 256 and 1024 MiB by
default), each measurement runs in a child process, --repeat times (medians):

  grep           baseline: the guide's method, grep -ci error FILE
  python_lines   baseline: a plain Python line loop that does nothing (text mode, UTF-8)
  read_64k       the file read in 64 KiB blocks, nothing else (the I/O floor)
  feed_frames    LogScan.feed_chunks over one line per chunk: the Docker API's frames
  feed_frames_ts the same with Docker's 31-byte time stamp before each line (timestamps=True,
                 what log_scan asks for)
  feed_64k       LogScan.feed_chunks over 64 KiB blocks (lines span chunks)

and the peak memory of each feed mode: ru_maxrss of its process and, in a separate
run, tracemalloc's peak. Goal: memory flat as the log grows (largest / smallest
<= 1.1). On a smaller file, feed_1b feeds one byte per chunk: what docker-py
yields for a container with a TTY. With Docker, the log_scan module end to end:
containers of its own (debian:bookworm-slim, `cat` of a prefix of the log, never
pulled) read through the Docker API, against `docker logs C | grep -ci error`.
Results go to --results-dir as logscan_bench.json and logscan_bench.md.

    python benchmarks/logscan_bench.py                    # 1 GiB, about 5 minutes, 1.6 GiB free in /var/tmp
    python benchmarks/logscan_bench.py --size-mib 4 --quick --results-dir /tmp/r
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import _common  # noqa: E402  pylint: disable=wrong-import-position

NAME = "logscan_bench"
SCHEMA_VERSION = 1
SEED = 20261128
GOAL_MEMORY_RATIO = 1.1
CHECKPOINT = 64 * 1024  # truth is recorded at the first line end after every 64 KiB
KIB = 1024
MIB = 1024 * 1024
DOCKER_TS = b"2026-11-28T10:00:00.123456789Z "  # Docker's timestamps=True prefix (RFC 3339, ns, one space)
DOCKER_IMAGE = "debian:bookworm-slim"
CONTAINER_LABEL = "milos-bench=logscan"
SLOW_MS = 5000
TRUTH_KEYS = ("lines", "requests", "status_4xx", "status_5xx", "slow_requests", "error_lines", "warn_lines", "unparsed_lines")
MODES = ("grep", "python_lines", "read_64k", "feed_frames", "feed_frames_ts", "feed_64k")
FEED_MODES = ("feed_frames", "feed_frames_ts", "feed_64k")

# -- the log ----------------------------------------------------------------------

SERVICES = ('[{"id":1,"name":"web-design","description":"Web design for small shops","priceCents":49000},'
            '{"id":2,"name":"seo-audit","description":"Search engine audit","priceCents":19000},'
            '{"id":3,"name":"maintenance","description":"Monthly maintenance plan","priceCents":9900},'
            '{"id":4,"name":"hosting","description":"Managed hosting","priceCents":2900}]')
SERVICES_LONG = (SERVICES[:-1] + ',{"id":5,"name":"shop-setup","description":"Online shop set-up with payment and '
                 'shipping","priceCents":129000}]')[:399] + "\u2026"  # the stand-in cuts answers at 400 characters
# Error messages with parts that vary (numbers, ids, addresses, quoted names): a few dozen signatures.
ERRORS = [
    "SQLITE_BUSY: database is locked (waited {n} ms)",
    "payment provider timeout after {n} ms for order {n}",
    "GET /api/orders/{n} failed: TypeError: Cannot read properties of undefined (reading 'priceCents')",
    "POST /api/orders failed: SqliteError: UNIQUE constraint failed: orders.id",
    "websocket {hex} error: transport close",
    "mail delivery to customer-{n}@example.com failed: connect ECONNREFUSED {ip}:587",
    "Sentry: failed to send event {uuid}: 429 Too Many Requests",
    "upstream https://rates.example.com/v{n}/eur answered 502 after {n} ms",
    "disk write failed: ENOSPC: no space left on device, write '/app/data/milos_shop.db-wal'",
    "order {n}: total {n} does not match the sum of its items {n}",
    "invoice {n} could not be rendered: template 'invoice.html' line {n}: unexpected token",
    "session {uuid} expired while checkout was pending",
    "stock sync failed for sku MS-{n}: HTTP {n}",
    "cache miss storm: {n} misses in {n} ms",
    "POST /api/orders failed: SyntaxError: Unexpected token } in JSON at position {n}",
    "GET /api/orders failed: RangeError: Invalid time value",
    "worker {n} exited with code {n}",
    "could not acquire lock on /app/data/milos_shop.db after {n} attempts",
    "refund {n} rejected by provider: insufficient funds",
    "shipping label {hex} failed: carrier API returned 503",
    "fatal: backup hook exited with status {n}",
    "prisma:error Invalid `prisma.order.findMany()` invocation: connection {n} closed",
    "ECONNRESET while streaming /api/orders to {ip}",
    "JWT verification failed for token {hex}",
    "unhandled promise rejection in cron job 'cleanup-{n}'",
    "query took {n} ms (limit {n} ms): SELECT * FROM orders WHERE customer = 'customer-{n}'",
    "image resize failed for upload {uuid}: unsupported format",
    "rate limiter store error: {n} keys dropped",
    "socket.io adapter error: room {hex} not found",
    "config error: SENTRY_DSN is set but not a URL",
    "migration {n} checksum mismatch",
    "email template 'order-{n}' missing, falling back to default",
    "webhook to https://hooks.example.com/{hex} failed: timeout after {n} ms",
    "GET /api/orders/{n} failed: Error: order {n} not found in cache",
    "payment {uuid} marked failed by provider: card declined",
    "heap usage {n} MiB over the soft limit of {n} MiB",
]
FAILURES = ["Error: injected server error", "SqliteError: database disk image is malformed", "Error: services query failed"]
UNSTRUCTURED = [
    "TypeError: Cannot read properties of null (reading 'id')",
    "Unhandled rejection at: Promise {n} reason: timeout",
    "(node:{n}) UnhandledPromiseRejectionWarning: Error: connect ETIMEDOUT {ip}:443",
]
FRAMES = ["    at Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:{n}:{n})",
          "    at next (/app/node_modules/express/lib/router/route.js:{n}:{n})",
          "    at /app/src/server.js:{n}:{n}",
          "    at process.processTicksAndRejections (node:internal/process/task_queues:{n}:{n})"]
JUNK = "0123456789abcdef !#$%&()*+,-./:;<=>?@[]^_{|}~"  # no letters that could spell a keyword or " in "


class Generator:
    """A deterministic stream of log lines (bytes, with newline) and the counts the scan must find."""

    def __init__(self, seed=SEED):
        self.rng = random.Random(seed)
        self.ms = 0
        self._second = None
        self._stamp = ""
        self.truth = collections.OrderedDict((key, 0) for key in TRUTH_KEYS)
        self.truth["stack_frames"] = 0
        self.truth["grep_error_lines"] = 0  # lines grep -ci error counts
        self.truth["max_latency_ms"] = 0
        self.truth["lines_other"] = 0  # info lines that are not requests

    def _time(self):
        self.ms += self.rng.randrange(0, 60)
        second, milli = divmod(self.ms, 1000)
        if second != self._second:
            self._second = second
            day, rest = divmod(second, 86400)
            self._stamp = "2026-%02d-%02dT%02d:%02d:%02d" % (11 + (28 + day - 1) // 30, (28 + day - 1) % 30 + 1,
                                                             rest // 3600, rest // 60 % 60, rest % 60)
        return "%s.%03dZ" % (self._stamp, milli)

    def _fill(self, template):
        rng = self.rng
        out = template
        while "{" in out:
            if "{n}" in out:
                out = out.replace("{n}", str(rng.randrange(1, 100000)), 1)
            elif "{hex}" in out:
                out = out.replace("{hex}", "%020x" % rng.getrandbits(80), 1)
            elif "{uuid}" in out:
                out = out.replace("{uuid}", str(uuid.UUID(int=rng.getrandbits(128))), 1)
            elif "{ip}" in out:
                out = out.replace("{ip}", "172.18.%d.%d" % (rng.randrange(256), rng.randrange(256)), 1)
            else:
                break
        return out

    def _request(self, method, path, status, ms, body):
        t = self.truth
        t["lines"] += 1
        t["requests"] += 1
        if status >= 500:
            t["status_5xx"] += 1
        elif status >= 400:
            t["status_4xx"] += 1
        if ms > SLOW_MS:
            t["slow_requests"] += 1
        if ms > t["max_latency_ms"]:
            t["max_latency_ms"] = ms
        line = "%s [info] %s %s %d in %dms :: %s\n" % (self._time(), method, path, status, ms, body)
        if "error" in body.lower():
            t["grep_error_lines"] += 1
        return line.encode("utf-8")

    def _leveled(self, level, message, kind):
        t = self.truth
        t["lines"] += 1
        t[kind] += 1
        if "error" in message.lower() or level == "error":
            t["grep_error_lines"] += 1
        return ("%s [%s] %s\n" % (self._time(), level, message)).encode("utf-8")

    def _plain(self, text, kind):
        t = self.truth
        t["lines"] += 1
        if kind:
            t[kind] += 1
        if b"error" in text.lower():
            t["grep_error_lines"] += 1
        return text + b"\n"

    def lines(self):
        """The next few lines (one event: a request, an error with its frames, ...)."""
        rng = self.rng
        r = rng.random()
        if r < 0.90:
            body = SERVICES if rng.random() < 0.8 else SERVICES_LONG
            return [self._request("GET", "/api/services", 200, min(int(rng.expovariate(0.25)), 4999), body)]
        if r < 0.94:
            k = rng.randrange(4)
            n = rng.randrange(1, 500000)
            if k == 0:
                body = ('{"id":%d,"customer":"customer-%06d@example.com","service_id":%d,"total_cents":%d,"status":"new",'
                        '"created_at":"%s"}' % (n, rng.randrange(200000), 1 + n % 4, rng.randrange(100000), self._time()))
                return [self._request("POST", "/api/orders", 201, rng.randrange(2, 80), body)]
            if k == 1:
                return [self._request("GET", "/api/orders/count", 200, rng.randrange(0, 10), '{"count":%d}' % n)]
            if k == 2:
                return [self._request("GET", "/api/version", 200, 0, '{"version":"1.0.0","commit":"%07x"}' % (n & 0xfffffff))]
            return [self._request("GET", "/api/orders", 200, rng.randrange(1, 120),
                                  '[{"id":%d,"customer":"customer-%06d@example.com","total_cents":%d}]' % (n, n % 200000, n % 9999))]
        if r < 0.95:
            if rng.random() < 0.7:
                return [self._request("GET", "/api/nope", 404, 0, '{"message":"no route GET /api/nope"}')]
            ip = "172.18.0.%d" % rng.randrange(2, 250)
            return [self._leveled("warn", "rate limit exceeded for %s on GET /api/orders" % ip, "warn_lines"),
                    self._request("GET", "/api/orders", 429, 0, '{"message":"Too many requests, please try again later."}')]
        if r < 0.955:  # a 5xx answer, logged with its error first (as the stand-in does)
            n = rng.randrange(1, 500000)
            path = "/api/orders/%d" % n if rng.random() < 0.7 else "/api/services"
            failure = FAILURES[rng.randrange(len(FAILURES))]
            return [self._leveled("error", "GET %s failed: %s" % (path, failure), "error_lines"),
                    self._request("GET", path, 500, rng.randrange(0, 30), '{"message":"Internal Server Error"}')]
        if r < 0.957:  # slow
            ms = rng.randrange(SLOW_MS + 1, 15000)
            if rng.random() < 0.5:
                return [self._request("GET", "/api/services", 200, ms, SERVICES)]
            return [self._request("POST", "/api/orders", 201, ms, '{"id":%d,"status":"new"}' % rng.randrange(1, 500000))]
        if r < 0.962:  # an error line from a few dozen signatures, a third with a stack trace
            out = [self._leveled("error", self._fill(ERRORS[rng.randrange(len(ERRORS))]), "error_lines")]
            if rng.random() < 0.33:
                for dummy in range(rng.randrange(2, 5)):
                    out.append(self._plain(self._fill(FRAMES[rng.randrange(len(FRAMES))]).encode("ascii"), "stack_frames"))
            return out
        if r < 0.9625:  # an error without a level (Node's own output)
            return [self._plain(self._fill(UNSTRUCTURED[rng.randrange(len(UNSTRUCTURED))]).encode("utf-8"), "error_lines")]
        if r < 0.9725:
            return [self._leveled("warn", "rate limit exceeded for 172.18.0.%d on POST /api/orders" % rng.randrange(2, 250),
                                  "warn_lines")]
        if r < 0.99:
            sid = "%020x" % rng.getrandbits(80)
            if rng.random() < 0.5:
                return [self._leveled("info", "websocket connected %s" % sid, "lines_other")]
            return [self._leveled("info", "websocket disconnected %s (transport close)" % sid, "lines_other")]
        # garbage: hex junk, invalid UTF-8, a JSON fragment cut from a multi-line dump
        k = rng.randrange(3)
        junk = "".join(rng.choice(JUNK) for dummy in range(rng.randrange(20, 300))).encode("ascii")
        if k == 1:
            junk = b"\xff\xfe" + junk[:40] + b"\xc3\x28\xa0\xa1" + junk[40:]
        elif k == 2:
            junk = b'  "sku": "MS-%05d", "qty": %d,' % (rng.randrange(99999), rng.randrange(1, 9))
        if not junk.strip():
            junk = b"#"
        return [self._plain(junk, "unparsed_lines")]


def _truth_copy(truth):
    return {k: v for k, v in truth.items() if k != "lines_other"}


def generate(path, size):
    """Write at least size bytes of log to path; return the meta (checkpoints of the truth every 64 KiB)."""
    gen = Generator()
    tmp = path + ".generating"
    started = time.monotonic()
    written = 0
    next_mark = CHECKPOINT
    checkpoints = []
    with open(tmp, "wb") as out:
        batch = []
        while written < size:
            for line in gen.lines():
                batch.append(line)
                written += len(line)
                if written >= next_mark:
                    checkpoints.append([written, _truth_copy(gen.truth)])
                    while next_mark <= written:
                        next_mark += CHECKPOINT
            if len(batch) >= 4096:
                out.write(b"".join(batch))
                batch = []
        out.write(b"".join(batch))
    if not checkpoints or checkpoints[-1][0] != written:
        checkpoints.append([written, _truth_copy(gen.truth)])
    os.rename(tmp, path)
    meta = dict(schema_version=SCHEMA_VERSION, seed=SEED, bytes=written, generate_s=round(time.monotonic() - started, 1),
                checkpoints=checkpoints)
    with open(path + ".json", "w", encoding="utf-8") as handle:
        json.dump(meta, handle)
    return meta


def cached_log(workdir, size, regenerate=False):
    """The generated log (at least size bytes, made on first use) and its meta."""
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "base.log")
    meta = None
    if not regenerate and os.path.exists(path) and os.path.exists(path + ".json"):
        with open(path + ".json", encoding="utf-8") as handle:
            meta = json.load(handle)
        if meta.get("schema_version") != SCHEMA_VERSION or meta.get("seed") != SEED \
                or meta.get("bytes") != os.path.getsize(path) or meta["bytes"] < size:
            meta = None
    if meta is None:
        log("generating a %s log in %s" % (_size_label(size), path))
        meta = generate(path, size)
        meta["cached"] = False
    else:
        meta["cached"] = True
    return path, meta


def prefix(base, meta, size, workdir):
    """A file with the base log's lines up to the first line end at or after size bytes, and its truth."""
    for end, truth in meta["checkpoints"]:
        if end >= size:
            break
    else:
        raise RuntimeError("the cached log is shorter than %d bytes" % size)
    path = os.path.join(workdir, "log-%s.log" % _size_label(size).replace(" ", ""))
    if end == meta["bytes"]:
        return base, end, truth
    if not os.path.exists(path) or os.path.getsize(path) != end:
        with open(base, "rb") as src, open(path + ".tmp", "wb") as dst:
            left = end
            while left:
                block = src.read(min(left, 8 * MIB))
                dst.write(block)
                left -= len(block)
        os.rename(path + ".tmp", path)
    return path, end, truth


def warm(path):
    """Read the file once so that every measurement starts from the page cache."""
    with open(path, "rb") as handle:
        while handle.read(8 * MIB):
            pass


def _size_label(size):
    if size >= MIB and size % MIB == 0:
        return "%d MiB" % (size // MIB)
    return "%d KiB" % (size // KIB) if size % KIB == 0 else "%d B" % size


# -- measuring in a child process -----------------------------------------------------

CHILD = r"""
import codecs, functools, json, os, resource, sys, time, tracemalloc
spec = json.loads(sys.argv[1])
sys.path.insert(0, spec["benchmarks"])
import _common
logscan = _common.load_module_utils("_logscan")
mode, path, trace = spec["mode"], spec["path"], spec["trace"]
ts = spec["docker_ts"].encode("ascii")
out = {"mode": mode}
scan = None
if trace:
    tracemalloc.start()
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
if mode == "idle":
    scan = logscan.LogScan(slow_ms=spec["slow_ms"])
elif mode == "python_lines":
    n = 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            n += 1
    out["lines"] = n
elif mode == "read_64k":
    n = 0
    with open(path, "rb") as handle:
        for block in iter(functools.partial(handle.read, 65536), b""):
            n += 1
    out["blocks"] = n
else:
    scan = logscan.LogScan(slow_ms=spec["slow_ms"])
    with open(path, "rb") as handle:
        if mode == "feed_frames":
            chunks = handle
        elif mode == "feed_frames_ts":
            chunks = (ts + line for line in handle)
        elif mode == "feed_64k":
            chunks = iter(functools.partial(handle.read, 65536), b"")
        elif mode == "feed_1b":
            chunks = iter(functools.partial(handle.read, 1), b"")
        else:
            raise SystemExit("unknown mode " + mode)
        scan.feed_chunks(chunks)
    out["result"] = scan.result(top=3)
t1 = time.perf_counter()
r1 = resource.getrusage(resource.RUSAGE_SELF)
if trace:
    out["tracemalloc_peak"] = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
out["wall_s"] = t1 - t0
out["cpu_s"] = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
out["vmhwm_kib"] = int([l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1])
print(json.dumps(out))
"""


def run_measured(argv, stdout_path=None, env=None, shell=False, stderr_path=None):
    """Run a command; return (exit code, wall s, its rusage). Output goes to files, not pipes, so that
    os.wait4 can reap the process and give that one process's CPU time. Its ru_maxrss is useless here:
    Linux carries the parent's peak RSS across fork and exec, so peak memory is read elsewhere (VmHWM)."""
    with open(stdout_path or os.devnull, "wb") as out, open(stderr_path or os.devnull, "wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, shell=shell)
        dummy, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, wall, usage


def child(mode, path, trace, tmpdir):
    spec = dict(benchmarks=HERE, mode=mode, path=path, trace=trace, slow_ms=SLOW_MS, docker_ts=DOCKER_TS.decode("ascii"))
    stdout_path = os.path.join(tmpdir, "child.json")
    stderr_path = os.path.join(tmpdir, "child.err")
    code, wall, usage = run_measured([sys.executable, "-c", CHILD, json.dumps(spec)], stdout_path, stderr_path=stderr_path)
    with open(stdout_path, encoding="utf-8") as handle:
        text = handle.read()
    if code != 0:
        with open(stderr_path, encoding="utf-8", errors="replace") as handle:
            raise RuntimeError("child %s on %s exited %d: %s" % (mode, path, code, handle.read()[-2000:]))
    out = json.loads(text)
    out["process_wall_s"] = wall
    out["maxrss_kib"] = out.pop("vmhwm_kib")
    return out


def grep(path, tmpdir):
    """grep -ci error FILE; its peak RSS through /usr/bin/time (a small parent), when there is one."""
    stdout_path = os.path.join(tmpdir, "grep.out")
    time_path = os.path.join(tmpdir, "grep.time")
    argv = ["grep", "-ci", "error", path]
    timer = os.path.exists("/usr/bin/time")
    if timer:
        argv = ["/usr/bin/time", "-f", "%M", "-o", time_path] + argv
    code, wall, usage = run_measured(argv, stdout_path)
    with open(stdout_path, encoding="utf-8") as handle:
        count = int(handle.read().strip() or 0)
    maxrss = None
    if timer:
        with open(time_path, encoding="utf-8") as handle:
            text = handle.read().split()
        code = 0 if text and text[-1].isdigit() else code
        maxrss = int(text[-1]) if text and text[-1].isdigit() else None
    if code not in (0, 1):
        raise RuntimeError("grep exited %d" % code)
    return dict(mode="grep", wall_s=wall, process_wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime, maxrss_kib=maxrss,
                count=count)


def log(text):
    sys.stdout.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), text))
    sys.stdout.flush()


# -- the Docker path ----------------------------------------------------------------

def docker_ok():
    if not shutil.which("docker"):
        return "no docker command"
    res = subprocess.run(["docker", "image", "inspect", DOCKER_IMAGE], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        return "image %s is not on this machine (the benchmark never pulls)" % DOCKER_IMAGE
    return None


def start_log_container(path, tty=False):
    """A container of our own whose whole output is the file (json-file driver, no rotation); waits for it to end."""
    name = "milos-bench-logscan-%s" % uuid.uuid4().hex[:8]
    argv = ["docker", "run", "-d", "--name", name, "--label", CONTAINER_LABEL, "--log-driver", "json-file",
            "--network", "none", "--pull", "never", "-v", "%s:/bench.log:ro" % path]
    if tty:
        argv.append("-t")
    t0 = time.monotonic()
    subprocess.run(argv + [DOCKER_IMAGE, "cat", "/bench.log"], check=True, capture_output=True, text=True)
    subprocess.run(["docker", "wait", name], check=True, capture_output=True, text=True, timeout=1800)
    return name, time.monotonic() - t0


def remove_container(name):
    subprocess.run(["docker", "rm", "-f", "-v", name], check=False, capture_output=True, text=True)


DOCKERPY_CHILD = r"""
import json, resource, sys, time, docker
name = sys.argv[1]
client = docker.APIClient(base_url="unix:///var/run/docker.sock", version="auto", timeout=120)
t0 = time.perf_counter()
frames = size = 0
for chunk in client.logs(name, stdout=True, stderr=True, stream=True, follow=False, timestamps=True, since=1.0):
    frames += 1
    size += len(chunk)
vmhwm = int([l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1])
print(json.dumps({"wall_s": time.perf_counter() - t0, "frames": frames, "bytes": size, "vmhwm_kib": vmhwm}))
"""

# python -m MODULE ARGS, as Ansible runs a module, then the process's own peak RSS (VmHWM) into a file.
MODULE_CHILD = r"""
import runpy, sys
module, args, report = sys.argv[1:4]
sys.argv = [module, args]
code = 0
try:
    runpy.run_module(module, run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
with open(report, "w") as handle:
    handle.write([l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1])
sys.exit(code)
"""


def module_env():
    return dict(os.environ, PYTHONPATH=os.path.join(_common.ROOT, ".cache", "collections"))


def log_scan_module(name, tmpdir):
    """The log_scan module run as Ansible runs it (python -m, args in a file); its result and process figures."""
    args = os.path.join(tmpdir, "log_scan_args.json")
    with open(args, "w", encoding="utf-8") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": {"container": name, "since": "24h", "fail_on_alert": False,
                                           "slow_threshold_ms": SLOW_MS, "top": 3}}, handle)
    stdout_path = os.path.join(tmpdir, "log_scan.json")
    report = os.path.join(tmpdir, "log_scan.vmhwm")
    code, wall, usage = run_measured([sys.executable, "-c", MODULE_CHILD, "ansible_collections.milos_shop.ops.plugins.modules.log_scan",
                                      args, report], stdout_path, env=module_env())
    with open(stdout_path, encoding="utf-8") as handle:
        text = handle.read()
    with open(report, encoding="utf-8") as handle:
        vmhwm = int(handle.read().strip())
    try:
        result = json.loads(text)
    except ValueError:
        raise RuntimeError("log_scan exited %d: %s" % (code, text[-2000:]))
    if result.get("failed"):
        raise RuntimeError("log_scan failed: %s" % result.get("msg"))
    return dict(wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime, maxrss_kib=vmhwm, result=result)


def docker_path(args, base, meta, tmpdir):
    """End to end through the Docker API; None when Docker or the image is missing."""
    why = docker_ok()
    if why:
        log("skipping the Docker path: " + why)
        return dict(skipped=why)
    out = collections.OrderedDict([("image", DOCKER_IMAGE), ("sizes", collections.OrderedDict()), ("tty", None)])
    containers = []
    try:
        for size in args.docker_sizes:
            path, size_bytes, truth = prefix(base, meta, size, args.workdir)
            warm(path)
            name, ingest = start_log_container(path)
            containers.append(name)
            label = _size_label(size)
            log("docker %s: container %s logged %d lines in %.1f s" % (label, name, truth["lines"], ingest))
            runs = collections.defaultdict(list)
            for dummy in range(args.repeat):
                code, wall, usage = run_measured("docker logs %s 2>&1 | grep -ci error" % name, shell=True)
                runs["docker_logs_grep"].append(dict(wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime))
                code, wall, usage = run_measured(["docker", "logs", "--timestamps", name])
                runs["docker_logs_devnull"].append(dict(wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime))
                stdout_path = os.path.join(tmpdir, "dockerpy.json")
                code, wall, usage = run_measured([sys.executable, "-c", DOCKERPY_CHILD, name], stdout_path)
                with open(stdout_path, encoding="utf-8") as handle:
                    inner = json.load(handle)
                runs["dockerpy_stream"].append(dict(wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime, maxrss_kib=inner["vmhwm_kib"],
                                                    frames=inner["frames"], bytes=inner["bytes"]))
                runs["log_scan_module"].append(log_scan_module(name, tmpdir))
            entry = collections.OrderedDict([("bytes", size_bytes), ("lines", truth["lines"]), ("container", name),
                                             ("ingest_s", round(ingest, 2))])
            for key, items in runs.items():
                entry[key] = _summary(items, size_bytes, truth["lines"])
            res = runs["log_scan_module"][-1]["result"]
            entry["log_scan_counts"] = {k: res.get(k) for k in TRUTH_KEYS}
            entry["counts_match"] = all(res.get(k) == truth[k] for k in TRUTH_KEYS)
            entry["frames"] = runs["dockerpy_stream"][-1]["frames"]
            out["sizes"][label] = entry
            log("docker %s: log_scan %.2f s (%s MiB/s, maxrss %d KiB), docker logs | grep -ci error %.2f s, counts match %s" % (
                label, entry["log_scan_module"]["wall_s"], _common.fmt(entry["log_scan_module"]["mib_per_s"]),
                entry["log_scan_module"]["maxrss_kib"], entry["docker_logs_grep"]["wall_s"], entry["counts_match"]))
            remove_container(name)
            containers.remove(name)
        if args.tty_kib:
            size = args.tty_kib * KIB
            path, size_bytes, truth = prefix(base, meta, size, args.workdir)
            tty = collections.OrderedDict([("size", _size_label(size)), ("bytes", size_bytes), ("lines", truth["lines"])])
            for kind, flag in (("no_tty", False), ("tty", True)):
                name, ingest = start_log_container(path, tty=flag)
                containers.append(name)
                items = [log_scan_module(name, tmpdir) for dummy in range(args.repeat)]
                stdout_path = os.path.join(tmpdir, "dockerpy.json")
                code, wall, usage = run_measured([sys.executable, "-c", DOCKERPY_CHILD, name], stdout_path)
                with open(stdout_path, encoding="utf-8") as handle:
                    inner = json.load(handle)
                tty[kind] = _summary(items, size_bytes, truth["lines"])
                tty[kind]["dockerpy_frames"] = inner["frames"]
                tty[kind]["dockerpy_stream_wall_s"] = round(wall, 3)
                tty[kind]["log_scan_lines"] = items[-1]["result"]["lines"]
                remove_container(name)
                containers.remove(name)
            out["tty"] = tty
            log("tty container (%s): log_scan %.2f s, without a TTY %.2f s; docker-py frames %d vs %d" % (
                _size_label(size), tty["tty"]["wall_s"], tty["no_tty"]["wall_s"], tty["tty"]["dockerpy_frames"],
                tty["no_tty"]["dockerpy_frames"]))
    finally:
        for name in containers:
            remove_container(name)
    return out


# -- summaries -------------------------------------------------------------------------

def _summary(items, size_bytes, lines):
    wall = _common.median([item["wall_s"] for item in items])
    out = collections.OrderedDict([
        ("runs", len(items)),
        ("wall_s", round(wall, 4)),
        ("wall_s_all", [round(item["wall_s"], 4) for item in items]),
        ("cpu_s", round(_common.median([item["cpu_s"] for item in items]), 4)),
        ("mib_per_s", round(size_bytes / MIB / wall, 1) if wall else None),
        ("us_per_line", round(wall / lines * 1e6, 3) if lines else None),
    ])
    rss = [item["maxrss_kib"] for item in items if item.get("maxrss_kib") is not None]
    if rss:
        out["maxrss_kib"] = max(rss)
        out["maxrss_kib_all"] = rss
    return out


def build_parser():
    parser = argparse.ArgumentParser(prog="logscan_bench.py", description=__doc__.split("\n", 1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    parser.add_argument("--size-mib", type=float, default=1024,
                        help="size of the generated log and the largest size measured, in MiB (default 1024); "
                             "the others are 1/16 and 1/4 of it")
    parser.add_argument("--workdir", default="/var/tmp/milos-bench/logscan",
                        help="where the generated log is cached (default /var/tmp/milos-bench/logscan)")
    parser.add_argument("--results-dir", default=_common.RESULTS_DIR, help="where logscan_bench.json and .md go (default benchmarks/results)")
    parser.add_argument("--repeat", type=int, default=None, help="runs of each measurement; medians are reported (default 3, --quick 1)")
    parser.add_argument("--one-byte-mib", type=float, default=None,
                        help="size fed one byte per chunk (feed_1b, a TTY container's chunks; default 4, --quick 0.25; 0 skips it)")
    parser.add_argument("--docker", dest="docker", action="store_true", default=None,
                        help="measure the log_scan module through the Docker API (default on; off with --quick)")
    parser.add_argument("--no-docker", dest="docker", action="store_false", help="skip the Docker path")
    parser.add_argument("--docker-sizes-mib", default="4,32,128",
                        help="log sizes, in MiB, of the containers read through the Docker API (default 4,32,128)")
    parser.add_argument("--tty-mib", type=float, default=4,
                        help="size of the log of a container with a TTY, read by log_scan beside one without (default 4; 0 skips it)")
    parser.add_argument("--no-trace", dest="trace", action="store_false", help="skip the tracemalloc runs")
    parser.add_argument("--quick", action="store_true", help="one run of each, no Docker (smoke test; the figures mean little)")
    parser.add_argument("--regenerate", action="store_true", help="generate the log again even if a cached one exists")
    return parser


def resolve(args):
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.one_byte_mib is None:
        args.one_byte_mib = 0.25 if args.quick else 4
    if args.docker is None:
        args.docker = not args.quick
    if args.repeat < 1 or args.size_mib <= 0:
        raise SystemExit("--repeat and --size-mib must be positive")

    def rounded(mib):
        return max(CHECKPOINT, int(round(mib * MIB / CHECKPOINT)) * CHECKPOINT)

    largest = rounded(args.size_mib)
    args.sizes = sorted(set([rounded(args.size_mib / 16.0), rounded(args.size_mib / 4.0), largest]))
    args.one_byte = rounded(args.one_byte_mib) if args.one_byte_mib > 0 else 0
    args.docker_sizes = sorted(set(rounded(float(x)) for x in args.docker_sizes_mib.split(",") if x.strip())) if args.docker else []
    args.tty_kib = (rounded(args.tty_mib) // KIB) if args.docker and args.tty_mib > 0 else 0
    args.generate_bytes = max([largest, args.one_byte] + args.docker_sizes + [args.tty_kib * KIB])
    return args


def run(args):
    args = resolve(args)
    info = _common.machine()
    info["grep"] = (subprocess.run(["grep", "--version"], capture_output=True, text=True, check=False).stdout.splitlines() or [None])[0]
    info["locale"] = os.environ.get("LC_ALL") or os.environ.get("LC_CTYPE") or os.environ.get("LANG") or "POSIX"
    base, meta = cached_log(args.workdir, args.generate_bytes, args.regenerate)
    tmpdir = tempfile.mkdtemp(prefix="logscan-bench-")
    files = collections.OrderedDict()
    try:
        for size in args.sizes:
            path, size_bytes, truth = prefix(base, meta, size, args.workdir)
            warm(path)
            files[_size_label(size)] = dict(path=path, bytes=size_bytes, truth=truth)
        labels = list(files)
        origin = "cached" if meta["cached"] else "generated in %s s" % meta["generate_s"]
        log("sizes %s, %d runs each; base log %s (%s)" % (", ".join(labels), args.repeat, _size_label(meta["bytes"]), origin))
        raw = collections.OrderedDict((label, collections.OrderedDict((mode, []) for mode in MODES)) for label in labels)
        idle = [child("idle", files[labels[0]]["path"], False, tmpdir)["maxrss_kib"] for dummy in range(args.repeat)]
        for rep in range(args.repeat):
            for label in labels:
                f = files[label]
                # rotate the order each round, so that no mode always runs first (or after the same one)
                order = MODES[rep % len(MODES):] + MODES[:rep % len(MODES)]
                for mode in order:
                    item = grep(f["path"], tmpdir) if mode == "grep" else child(mode, f["path"], False, tmpdir)
                    raw[label][mode].append(item)
                log("round %d/%d %s: %s" % (rep + 1, args.repeat, label, ", ".join(
                    "%s %.2f s" % (mode, raw[label][mode][-1]["wall_s"]) for mode in MODES)))
        traced = collections.OrderedDict()
        if args.trace:
            for label in labels:
                traced[label] = collections.OrderedDict()
                for mode in FEED_MODES:
                    traced[label][mode] = child(mode, files[label]["path"], True, tmpdir)
                peaks = ["%s peak %d KiB" % (mode, item["tracemalloc_peak"] // KIB) for mode, item in traced[label].items()]
                log("tracemalloc %s: %s" % (label, ", ".join(peaks)))
            idle_traced = child("idle", files[labels[0]]["path"], True, tmpdir)["tracemalloc_peak"]
        else:
            idle_traced = None
        one_byte = None
        if args.one_byte:
            path, size_bytes, truth = prefix(base, meta, args.one_byte, args.workdir)
            warm(path)
            items = [child("feed_1b", path, False, tmpdir) for dummy in range(args.repeat)]
            frames = [child("feed_frames", path, False, tmpdir) for dummy in range(args.repeat)]
            one_byte = collections.OrderedDict([("size", _size_label(args.one_byte)), ("bytes", size_bytes), ("lines", truth["lines"]),
                                                ("feed_1b", _summary(items, size_bytes, truth["lines"])),
                                                ("feed_frames", _summary(frames, size_bytes, truth["lines"])),
                                                ("counts_match", all(items[-1]["result"][k] == truth[k] for k in TRUTH_KEYS))])
            one_byte["feed_1b_wall_over_feed_frames_wall"] = _common.ratio(one_byte["feed_1b"]["wall_s"], one_byte["feed_frames"]["wall_s"], 1)
            log("feed_1b %s: %.2f s (%s MiB/s), feed_frames %.3f s" % (
                one_byte["size"], one_byte["feed_1b"]["wall_s"], _common.fmt(one_byte["feed_1b"]["mib_per_s"]), one_byte["feed_frames"]["wall_s"]))
        docker = docker_path(args, base, meta, tmpdir) if args.docker else dict(skipped="--no-docker or --quick")
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return summarise(args, info, meta, files, raw, traced, idle, idle_traced, one_byte, docker)


def summarise(args, info, meta, files, raw, traced, idle, idle_traced, one_byte, docker):
    labels = list(files)
    small, large = labels[0], labels[-1]
    measurements = collections.OrderedDict()
    counts = collections.OrderedDict()
    for label in labels:
        f = files[label]
        measurements[label] = collections.OrderedDict()
        for mode in MODES:
            entry = _summary(raw[label][mode], f["bytes"], f["truth"]["lines"])
            if traced.get(label, {}).get(mode):
                entry["tracemalloc_peak_kib"] = round(traced[label][mode]["tracemalloc_peak"] / KIB, 1)
            measurements[label][mode] = entry
        scans = {mode: raw[label][mode][-1]["result"] for mode in FEED_MODES}
        truth = f["truth"]
        counts[label] = collections.OrderedDict([
            ("truth", {k: truth[k] for k in TRUTH_KEYS + ("stack_frames", "grep_error_lines", "max_latency_ms")}),
            ("scan", {k: scans["feed_64k"][k] for k in TRUTH_KEYS + ("max_latency_ms", "distinct_error_signatures", "signature_overflow")}),
            ("grep_ci_error", raw[label]["grep"][-1]["count"]),
            ("python_lines", raw[label]["python_lines"][-1]["lines"]),
            ("feed_modes_agree", all({k: scans[m][k] for k in TRUTH_KEYS} == {k: scans["feed_64k"][k] for k in TRUTH_KEYS} for m in FEED_MODES)),
            ("scan_matches_truth", all(scans[m][k] == truth[k] for m in FEED_MODES for k in TRUTH_KEYS)
             and all(float(scans[m]["max_latency_ms"]) == truth["max_latency_ms"] for m in FEED_MODES)),
            ("grep_matches_truth", raw[label]["grep"][-1]["count"] == truth["grep_error_lines"]),
        ])
    m_large = measurements[large]
    ratios = collections.OrderedDict()
    for mode in FEED_MODES:
        ratios["%s_throughput_over_grep" % mode] = _common.ratio(m_large["grep"]["wall_s"], m_large[mode]["wall_s"])
        ratios["%s_throughput_over_python_lines" % mode] = _common.ratio(m_large["python_lines"]["wall_s"], m_large[mode]["wall_s"])
        ratios["%s_cpu_over_grep_cpu" % mode] = _common.ratio(m_large[mode]["cpu_s"], m_large["grep"]["cpu_s"])
    ratios["python_lines_throughput_over_grep"] = _common.ratio(m_large["grep"]["wall_s"], m_large["python_lines"]["wall_s"])
    for mode in FEED_MODES:
        ratios["%s_peak_rss_largest_over_smallest" % mode] = _common.ratio(measurements[large][mode]["maxrss_kib"],
                                                                           measurements[small][mode]["maxrss_kib"])
        if traced:
            ratios["%s_tracemalloc_peak_largest_over_smallest" % mode] = _common.ratio(
                measurements[large][mode]["tracemalloc_peak_kib"], measurements[small][mode]["tracemalloc_peak_kib"])
    for mode in FEED_MODES:
        ratios["%s_throughput_largest_over_smallest" % mode] = _common.ratio(measurements[large][mode]["mib_per_s"],
                                                                             measurements[small][mode]["mib_per_s"])
    if one_byte:
        ratios["feed_1b_wall_over_feed_frames_wall"] = one_byte["feed_1b_wall_over_feed_frames_wall"]
    docker_sizes = list((docker or {}).get("sizes", {}) or {})
    if docker_sizes:
        d_small, d_large = docker["sizes"][docker_sizes[0]], docker["sizes"][docker_sizes[-1]]
        ratios["log_scan_module_wall_over_docker_logs_grep_wall"] = _common.ratio(d_large["log_scan_module"]["wall_s"],
                                                                                  d_large["docker_logs_grep"]["wall_s"])
        ratios["log_scan_module_wall_over_dockerpy_stream_wall"] = _common.ratio(d_large["log_scan_module"]["wall_s"],
                                                                                 d_large["dockerpy_stream"]["wall_s"])
        ratios["log_scan_module_peak_rss_largest_over_smallest"] = _common.ratio(d_large["log_scan_module"]["maxrss_kib"],
                                                                                 d_small["log_scan_module"]["maxrss_kib"])
    if docker and docker.get("tty"):
        ratios["log_scan_module_tty_wall_over_no_tty_wall"] = _common.ratio(docker["tty"]["tty"]["wall_s"],
                                                                            docker["tty"]["no_tty"]["wall_s"], 1)

    goals = collections.OrderedDict()
    verdicts = collections.OrderedDict()
    goals["peak_rss_flat"] = "every feed mode: peak RSS %s / %s <= %g" % (large, small, GOAL_MEMORY_RATIO)
    verdicts["peak_rss_flat"] = all(ratios["%s_peak_rss_largest_over_smallest" % m] is not None
                                    and ratios["%s_peak_rss_largest_over_smallest" % m] <= GOAL_MEMORY_RATIO for m in FEED_MODES)
    if traced:
        goals["tracemalloc_peak_flat"] = "every feed mode: tracemalloc peak %s / %s <= %g" % (large, small, GOAL_MEMORY_RATIO)
        verdicts["tracemalloc_peak_flat"] = all(ratios["%s_tracemalloc_peak_largest_over_smallest" % m] <= GOAL_MEMORY_RATIO for m in FEED_MODES)
    if docker_sizes:
        goals["log_scan_module_peak_rss_flat"] = "log_scan module through Docker: peak RSS %s / %s <= %g" % (
            docker_sizes[-1], docker_sizes[0], GOAL_MEMORY_RATIO)
        verdicts["log_scan_module_peak_rss_flat"] = ratios["log_scan_module_peak_rss_largest_over_smallest"] <= GOAL_MEMORY_RATIO
    goals["counts_match"] = "the scan finds exactly what the generator wrote (every size and feed mode%s)" % (
        ", and the module through Docker" if docker_sizes else "")
    verdicts["counts_match"] = all(c["scan_matches_truth"] for c in counts.values()) and (
        not one_byte or one_byte["counts_match"]) and all(docker["sizes"][s]["counts_match"] for s in docker_sizes)

    return collections.OrderedDict([
        ("benchmark", NAME),
        ("date", _common.now_iso()),
        ("command", _common.command_line()),
        ("machine", info),
        ("parameters", collections.OrderedDict([
            ("size_mib", args.size_mib), ("sizes", labels), ("repeat", args.repeat), ("trace", args.trace),
            ("one_byte", _size_label(args.one_byte) if args.one_byte else None), ("docker", args.docker),
            ("docker_sizes", [_size_label(s) for s in args.docker_sizes]), ("tty", _size_label(args.tty_kib * KIB) if args.tty_kib else None),
            ("slow_threshold_ms", SLOW_MS), ("quick", args.quick), ("workdir", args.workdir)])),
        ("log", collections.OrderedDict([("seed", meta["seed"]), ("base_bytes", meta["bytes"]), ("cached", meta["cached"]),
                                         ("generate_s", meta["generate_s"]),
                                         ("files", collections.OrderedDict((label, dict(bytes=f["bytes"], lines=f["truth"]["lines"]))
                                                                           for label, f in files.items()))])),
        ("idle_child_maxrss_kib", max(idle)),
        ("idle_child_tracemalloc_peak_kib", round(idle_traced / KIB, 1) if idle_traced is not None else None),
        ("measurements", measurements),
        ("counts", counts),
        ("one_byte_chunks", one_byte),
        ("docker", docker),
        ("ratios", ratios),
        ("goals", goals),
        ("verdicts", verdicts),
        ("notes", NOTES),
    ])


NOTES = [
    "Every measurement runs in its own child process (the python ones time their loop inside, without interpreter start-up; "
    "grep and the Docker commands are timed from outside). Files are read from the page cache (each is read once before), "
    "so the figures are CPU, not disk.",
    "peak RSS is the child process's own high-water mark (VmHWM, read at its end; it includes the interpreter: see the "
    "idle child). ru_maxrss from wait4 is not used: Linux carries the parent's peak across fork and exec. grep's comes from "
    "/usr/bin/time. tracemalloc peak is the Python allocations traced while the scan ran, in a separate run (tracing "
    "slows it down, so that run is not timed).",
    "grep -ci error only counts lines that contain 'error' anywhere (a 500 answer's body 'Internal Server Error' too); the "
    "scan parses every line: levels, requests, status classes, durations and error signatures.",
    "feed_frames is how the Docker API delivers a container's log without a TTY: one frame per line (docker-py's "
    "multiplexed stream yields each frame); with timestamps=True (what log_scan asks for) each line starts with Docker's "
    "time stamp (feed_frames_ts). feed_64k shows the scan when chunks hold many lines.",
    "For a container with a TTY, docker-py's logs(stream=True) yields the log one byte per chunk (its raw stream helper "
    "reads with chunk_size=1): feed_1b and the tty measurement show what that costs.",
    "The Docker path runs the log_scan module as Ansible runs it (python -m with its arguments in a file), against a "
    "container of its own whose output is a prefix of the same log (json-file driver, no rotation); dockerd's own CPU is "
    "not in any process's CPU time.",
]


# -- the report ----------------------------------------------------------------------

def markdown(result):
    r, v, g = result["ratios"], result["verdicts"], result["goals"]
    p = result["parameters"]
    labels = p["sizes"]
    small, large = labels[0], labels[-1]
    lg = result["log"]
    lines = ["# Log scan benchmark", "",
             "Generated by `benchmarks/logscan_bench.py` on %s; command `%s`. Do not edit by hand." % (result["date"], result["command"]), "",
             _common.machine_md(result["machine"]), "",
             "Log: the stand-in's format, %s (%s), %s lines in the largest file; %s; grep locale %s. Each figure is the median of "
             "%d runs, each run in its own process, files in the page cache." % (
                 ", ".join(labels), "cached" if lg["cached"] else "generated in %s s" % lg["generate_s"],
                 lg["files"][large]["lines"], result["machine"].get("grep"), result["machine"].get("locale"), p["repeat"]), "",
             "## Goals", ""]
    rows = []
    for mode in FEED_MODES:
        key = "%s_peak_rss_largest_over_smallest" % mode
        rows.append(["%s: peak RSS %s / %s" % (mode, large, small), _common.fmt(r[key]), "<= %g" % GOAL_MEMORY_RATIO,
                     _verdict(r[key] is not None and r[key] <= GOAL_MEMORY_RATIO)])
    for mode in FEED_MODES:
        key = "%s_tracemalloc_peak_largest_over_smallest" % mode
        if key in r:
            rows.append(["%s: tracemalloc peak %s / %s" % (mode, large, small), _common.fmt(r[key]), "<= %g" % GOAL_MEMORY_RATIO,
                         _verdict(r[key] <= GOAL_MEMORY_RATIO)])
    if "log_scan_module_peak_rss_flat" in v:
        sizes = list(result["docker"]["sizes"])
        rows.append(["log_scan module through Docker: peak RSS %s / %s" % (sizes[-1], sizes[0]),
                     _common.fmt(r["log_scan_module_peak_rss_largest_over_smallest"]), "<= %g" % GOAL_MEMORY_RATIO,
                     _verdict(v["log_scan_module_peak_rss_flat"])])
    rows.append(["scan counts equal the generator's (every size, every mode)", _common.fmt(v["counts_match"]), "yes",
                 _verdict(v["counts_match"])])
    lines += [_common.md_table(["measure", "value", "goal", "verdict"], rows), "",
              "Throughput has no goal; the ratios against the baselines of this run (%s):" % large, "",
              _common.md_table(["ratio", "value"], [[k, _common.fmt(val)] for k, val in r.items()
                                                    if "throughput" in k or "cpu_over" in k or "wall_over" in k]), "",
              "## Throughput and memory", ""]
    rows = []
    for label in labels:
        for mode, m in result["measurements"][label].items():
            rows.append([label, mode, "%.3f s" % m["wall_s"], "%.3f s" % m["cpu_s"], _common.fmt(m["mib_per_s"]),
                         _common.fmt(m["us_per_line"]), "%.1f MiB" % (m["maxrss_kib"] / 1024.0),
                         "%.0f KiB" % m["tracemalloc_peak_kib"] if "tracemalloc_peak_kib" in m else ""])
    lines += [_common.md_table(["size", "mode", "wall", "CPU", "MiB/s", "µs/line", "peak RSS", "tracemalloc peak"], rows), "",
              "An idle child (interpreter, _logscan imported, a LogScan made) peaks at %.1f MiB RSS%s." % (
                  result["idle_child_maxrss_kib"] / 1024.0,
                  " and %.0f KiB traced" % result["idle_child_tracemalloc_peak_kib"] if result["idle_child_tracemalloc_peak_kib"] is not None else ""), ""]
    ob = result["one_byte_chunks"]
    if ob:
        lines += ["One byte per chunk (a TTY container through docker-py), %s: feed_1b %.2f s (%s MiB/s) against feed_frames "
                  "%.3f s on the same file: %sx slower." % (
                      ob["size"], ob["feed_1b"]["wall_s"], _common.fmt(ob["feed_1b"]["mib_per_s"]), ob["feed_frames"]["wall_s"],
                      _common.fmt(ob["feed_1b_wall_over_feed_frames_wall"])), ""]
    lines += ["## What was found", ""]
    rows = []
    for label, c in result["counts"].items():
        s, t = c["scan"], c["truth"]
        rows.append([label, s["lines"], s["requests"], s["status_5xx"], s["slow_requests"], s["error_lines"], s["warn_lines"],
                     s["unparsed_lines"], s["distinct_error_signatures"], c["grep_ci_error"], _common.fmt(c["scan_matches_truth"]),
                     _common.fmt(c["grep_matches_truth"])])
    lines += [_common.md_table(["size", "lines", "requests", "5xx", "slow", "error lines", "warn", "unparsed", "error signatures",
                                "grep -ci error", "scan = truth", "grep = truth"], rows), ""]
    d = result["docker"]
    lines += ["## Through the Docker API (log_scan module end to end)", ""]
    if not d or d.get("skipped"):
        lines += ["Skipped: %s." % (d or {}).get("skipped", "not run"), ""]
    else:
        rows = []
        for label, e in d["sizes"].items():
            for key in ("log_scan_module", "dockerpy_stream", "docker_logs_grep", "docker_logs_devnull"):
                m = e[key]
                rows.append([label, key, "%.2f s" % m["wall_s"], "%.2f s" % m["cpu_s"], _common.fmt(m["mib_per_s"]),
                             "%.1f MiB" % (m["maxrss_kib"] / 1024.0) if "maxrss_kib" in m and key != "docker_logs_grep" else ""])
        lines += ["Containers of its own (`%s`, `cat` of a prefix of the log, json-file driver); each read %d times." % (
            d["image"], p["repeat"]), "",
            _common.md_table(["size", "measurement", "wall", "CPU (that process)", "MiB/s", "peak RSS"], rows), "",
            "Counts of the module equal the generator's: %s." % ", ".join(
                "%s %s" % (label, _common.fmt(e["counts_match"])) for label, e in d["sizes"].items()), ""]
        if d.get("tty"):
            t = d["tty"]
            lines += ["A container with a TTY (`docker run -t`), %s: docker-py yields %d chunks (one per byte) against %d frames "
                      "without a TTY; log_scan takes %.2f s against %.2f s (%sx)." % (
                          t["size"],
                          t["tty"]["dockerpy_frames"], t["no_tty"]["dockerpy_frames"], t["tty"]["wall_s"], t["no_tty"]["wall_s"],
                          _common.fmt(r.get("log_scan_module_tty_wall_over_no_tty_wall"))), ""]
    lines += ["## Notes", ""] + ["- " + note for note in result["notes"]]
    return "\n".join(lines) + "\n"


def _verdict(ok):
    return "met" if ok else "NOT met"


def main(argv=None):
    args = build_parser().parse_args(argv)
    result = run(args)
    json_path, md_path = _common.write_results(args.results_dir, NAME, result, markdown(result))
    r = result["ratios"]
    large = result["parameters"]["sizes"][-1]
    small = result["parameters"]["sizes"][0]
    for mode in FEED_MODES:
        m = result["measurements"][large][mode]
        print("%s %s: %s MiB/s; throughput / grep -ci error %s, / python line loop %s; peak RSS %s/%s %s%s" % (
            mode, large, _common.fmt(m["mib_per_s"]), _common.fmt(r["%s_throughput_over_grep" % mode]),
            _common.fmt(r["%s_throughput_over_python_lines" % mode]), large, small,
            _common.fmt(r["%s_peak_rss_largest_over_smallest" % mode]),
            (", tracemalloc peak %s" % _common.fmt(r["%s_tracemalloc_peak_largest_over_smallest" % mode]))
            if "%s_tracemalloc_peak_largest_over_smallest" % mode in r else ""))
    for key in ("feed_1b_wall_over_feed_frames_wall", "log_scan_module_wall_over_docker_logs_grep_wall",
                "log_scan_module_peak_rss_largest_over_smallest", "log_scan_module_tty_wall_over_no_tty_wall"):
        if key in r:
            print("%s: %s" % (key, _common.fmt(r[key])))
    print("verdicts: %s" % json.dumps(result["verdicts"]))
    print("results: %s, %s" % (json_path, md_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
