#!/usr/bin/env python
# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup benchmark: sqlite_backup against the guide's cp + gzip, under a steady writer.

Generates (once, cached in --workdir) a SQLite database of --size-mib MiB in WAL
mode, copies it to a live file, starts bench_writer.py on it (its own process and
connection, one INSERT per transaction at --rate commits/s) and, while it runs,
measures --repeat rounds, in alternating order, of

  cp_gzip         the guide's method: cp db backup.db && gzip -6 backup.db
  sqlite_backup   take_backup(compression=gzip, level 6, check=quick_check),
                  followed by an idle window (nothing but the writer) as long

then once

  sqlite3_backup  sqlite3 db ".backup out.db" then gzip -6 (killed after --cli-timeout)

and experiments on take_backup's phases. Every copy is decompressed and checked
(integrity_check, writer rows against writer_state.last_seq). Ratios are against
the baseline of the same run: median sqlite_backup wall / median cp_gzip wall
(goal <= 1.0) and writer p99 commit latency during sqlite_backup / during the idle
windows (goal <= 2), plus writer errors (goal 0). Results go to --results-dir as
backup_bench.json and backup_bench.md.

    python benchmarks/backup_bench.py                  # 1 GiB, about 25 minutes
    python benchmarks/backup_bench.py --size-mib 8 --quick --results-dir /tmp/r
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import _common  # noqa: E402  pylint: disable=wrong-import-position

NAME = "backup_bench"
SCHEMA_VERSION = 1
GOAL_WALL_RATIO = 1.0
GOAL_P99_RATIO = 2.0
GOAL_ERRORS = 0

SCHEMA = """
CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  created TEXT NOT NULL,
  customer TEXT NOT NULL,
  status TEXT NOT NULL,
  total_cents INTEGER NOT NULL,
  items TEXT NOT NULL,
  shipping TEXT,
  note TEXT,
  token TEXT,
  payload BLOB,
  run_id TEXT,
  seq INTEGER
);
CREATE TABLE writer_state (run_id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
"""

_ITEM = "printf('{\"sku\":\"MS-%%05d\",\"name\":\"Milos shop item %%d\",\"qty\":%%d,\"price_cents\":%%d,\"currency\":\"EUR\",\"tax_rate\":\"0.19\"}', " \
        "(x * %d) %% 99991, (x * %d) %% 500, 1 + x %% 3, 499 + (x * %d) %% 20000)"

# One generated order: about 1 KiB; JSON-like text (compresses well), a hex token
# (half) and a random blob (not at all), so gzip ratios look like a real shop's.
FILL = """
WITH RECURSIVE c(x) AS (SELECT ? UNION ALL SELECT x + 1 FROM c WHERE x < ?)
INSERT INTO orders (created, customer, status, total_cents, items, shipping, note, token, payload)
SELECT
  printf('2025-%02d-%02dT%02d:%02d:%02d.%03dZ', 1 + x % 12, 1 + x % 28, x % 24, (x * 7) % 60, (x * 13) % 60, x % 1000),
  printf('customer-%06d@example.com', abs(random()) % 200000),
  CASE x % 4 WHEN 0 THEN 'paid' WHEN 1 THEN 'shipped' WHEN 2 THEN 'delivered' ELSE 'refunded' END,
  abs(random()) % 100000,
  '[' || ITEM1 || CASE WHEN x % 5 >= 1 THEN ',' || ITEM2 ELSE '' END || CASE WHEN x % 5 >= 2 THEN ',' || ITEM3 ELSE '' END
      || CASE WHEN x % 5 >= 3 THEN ',' || ITEM4 ELSE '' END || ']',
  printf('{"name":"Customer %d","street":"Hauptstrasse %d","city":"%s","zip":"%05d","country":"DE","phone":"+49 30 %07d"}',
         abs(random()) % 200000, 1 + x % 180, CASE x % 3 WHEN 0 THEN 'Berlin' WHEN 1 THEN 'Hamburg' ELSE 'Muenchen' END,
         abs(random()) % 100000, abs(random()) % 10000000),
  CASE x % 7 WHEN 0 THEN 'Please leave the parcel with the neighbours if nobody is at home.'
             WHEN 1 THEN 'Gift wrapping requested; do not include the invoice in the parcel.' ELSE NULL END,
  hex(randomblob(16)),
  randomblob(PAYLOAD)
FROM c
""".replace("ITEM1", _ITEM % (7, 3, 11)).replace("ITEM2", _ITEM % (13, 5, 17)).replace("ITEM3", _ITEM % (19, 7, 23)) \
   .replace("ITEM4", _ITEM % (29, 11, 31))
PAYLOAD_BYTES = 96


def build_parser():
    parser = argparse.ArgumentParser(prog="backup_bench.py", description=__doc__.split("\n", 1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the generated database in MiB (default 1024)")
    parser.add_argument("--workdir", default="/var/tmp/milos-bench",
                        help="where the generated database is cached and the copies are made (default /var/tmp/milos-bench)")
    parser.add_argument("--results-dir", default=_common.RESULTS_DIR, help="where backup_bench.json and .md go (default benchmarks/results)")
    parser.add_argument("--rate", type=float, default=100.0, help="writer commits per second (default 100)")
    parser.add_argument("--idle-seconds", type=float, default=None, help="length of the idle window before the backups (default 30, --quick 1)")
    parser.add_argument("--gap-seconds", type=float, default=None, help="pause (after a sync) between windows (default 5, --quick 0.2)")
    parser.add_argument("--cli-timeout", type=float, default=None,
                        help="seconds before sqlite3 .backup is given up (default 600, --quick 3)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs of cp_gzip and sqlite_backup, alternating their order; medians are reported (default 3, --quick 1)")
    parser.add_argument("--level", type=int, default=6, help="gzip level for every method (default 6)")
    parser.add_argument("--no-investigate", dest="investigate", action="store_false",
                        help="skip the phase experiments after the main measurement")
    parser.add_argument("--quick", action="store_true", help="short windows and timeouts (smoke test; the figures mean little)")
    parser.add_argument("--render", action="store_true",
                        help="measure nothing: write backup_bench.md again from backup_bench.json in --results-dir")
    parser.add_argument("--regenerate", action="store_true", help="generate the database again even if a cached one exists")
    return parser


def resolve(args):
    """Fill the defaults that depend on --quick."""
    quick = args.quick
    if args.idle_seconds is None:
        args.idle_seconds = 1.0 if quick else 30.0
    if args.gap_seconds is None:
        args.gap_seconds = 0.2 if quick else 5.0
    if args.cli_timeout is None:
        args.cli_timeout = 3.0 if quick else 600.0
    if args.repeat is None:
        args.repeat = 1 if quick else 3
    if args.repeat < 1 or args.size_mib < 1:
        raise SystemExit("--repeat and --size-mib must be 1 or more")
    return args


def log(text):
    sys.stdout.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), text))
    sys.stdout.flush()


# -- the database -----------------------------------------------------------------

def generate(path, size_mib):
    """Write a WAL-mode database of at least size_mib MiB to path (through a temp name)."""
    tmp = path + ".generating"
    for extra in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(tmp + extra):
            os.unlink(tmp + extra)
    target = size_mib * 1024 * 1024
    started = time.monotonic()
    conn = sqlite3.connect(tmp, isolation_level=None)
    conn.execute("PRAGMA page_size=4096")
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.executescript(SCHEMA)
    fill = FILL.replace("PAYLOAD", str(PAYLOAD_BYTES))
    batch = max(500, min(50000, size_mib * 50))
    x = 1
    while True:
        size = conn.execute("PRAGMA page_count").fetchone()[0] * 4096
        if size >= target:
            break
        conn.execute("BEGIN")
        conn.execute(fill, (x, x + batch - 1))
        conn.execute("COMMIT")
        x += batch
    conn.execute("CREATE INDEX orders_writer ON orders (run_id, seq) WHERE run_id IS NOT NULL")
    conn.execute("PRAGMA journal_mode=WAL")
    rows = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    conn.close()
    os.rename(tmp, path)
    meta = dict(schema_version=SCHEMA_VERSION, size_mib=size_mib, payload_bytes=PAYLOAD_BYTES, rows=rows,
                bytes=os.path.getsize(path), generate_s=round(time.monotonic() - started, 2))
    with open(path + ".json", "w", encoding="utf-8") as handle:
        json.dump(meta, handle)
    return meta


def cached_database(workdir, size_mib, regenerate=False):
    """The generated database for size_mib (made on first use) and its description."""
    path = os.path.join(workdir, "base-%dMiB.db" % size_mib)
    meta = None
    if not regenerate and os.path.exists(path) and os.path.exists(path + ".json"):
        with open(path + ".json", encoding="utf-8") as handle:
            meta = json.load(handle)
        if meta.get("schema_version") != SCHEMA_VERSION or meta.get("payload_bytes") != PAYLOAD_BYTES or meta.get("bytes") != os.path.getsize(path):
            meta = None
    if meta is None:
        log("generating a %d MiB database in %s" % (size_mib, path))
        meta = generate(path, size_mib)
        meta["cached"] = False
    else:
        meta["cached"] = True
    return path, meta


def make_live(base, live):
    """A fresh copy of the generated database that the writer and the backups use."""
    for extra in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(live + extra):
            os.unlink(live + extra)
    shutil.copyfile(base, live)
    conn = sqlite3.connect(live, isolation_level=None)
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    if mode != "wal":
        raise RuntimeError("%s is in journal mode %r, not wal" % (live, mode))
    with open(live, "rb") as handle:  # into the page cache, so every method starts warm
        while handle.read(16 * 1024 * 1024):
            pass
    os.sync()


# -- the writer -------------------------------------------------------------------

class Writer:
    def __init__(self, db, log_path, rate, run_id):
        self.log_path = log_path
        self.run_id = run_id
        argv = [sys.executable, os.path.join(HERE, "bench_writer.py"), "--db", db, "--log", log_path,
                "--rate", str(rate), "--run-id", run_id]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("ready"):
            self.proc.kill()
            raise RuntimeError("the writer did not start: %r" % line)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        with open(self.log_path, encoding="utf-8") as handle:
            data = json.load(handle)
        self.proc.stdout.close()
        return data


def window_stats(data, start, end):
    """The writer's commits that started in [start, end), and its errors there."""
    lat = [ms for t, ms in zip(data["starts"], data["latencies_ms"]) if start <= t < end]
    errors = [msg for t, msg in data["errors"] if start <= t < end]
    seconds = max(end - start, 1e-9)
    return collections.OrderedDict([
        ("seconds", round(seconds, 3)),
        ("commits", len(lat)),
        ("commits_per_s", round(len(lat) / seconds, 1)),
        ("p50_ms", _round(_common.percentile(lat, 50))),
        ("p99_ms", _round(_common.percentile(lat, 99))),
        ("max_ms", _round(max(lat) if lat else None)),
        ("over_100ms", sum(1 for ms in lat if ms > 100)),
        ("errors", len(errors)),
        ("error_messages", sorted(set(errors))[:3]),
    ])


def committed_before(data, moment):
    """How many writer transactions had finished committing at moment."""
    return sum(1 for t, ms in zip(data["starts"], data["latencies_ms"]) if t + ms / 1000.0 <= moment)


def _round(value, digits=3):
    return None if value is None else round(value, digits)


# -- checking a copy --------------------------------------------------------------

def check_copy(path, run_id, workdir, compressed=True):
    """Decompress path (gzip) and check it: integrity_check and the writer's rows."""
    plain = path
    if compressed:
        plain = os.path.join(workdir, "check.db")
        with open(plain, "wb") as out:
            subprocess.run(["gzip", "-dc", path], stdout=out, check=True)
    try:
        conn = sqlite3.connect("file:%s?mode=ro&immutable=1" % plain, uri=True, isolation_level=None)
        try:
            integrity = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            state = conn.execute("SELECT last_seq FROM writer_state WHERE run_id = ?", (run_id,)).fetchone()
            rows, max_seq = conn.execute("SELECT count(*), max(seq) FROM orders WHERE run_id = ?", (run_id,)).fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return dict(integrity=str(exc), last_seq=None, writer_rows=None, max_seq=None, consistent=False)
    finally:
        if compressed:
            os.unlink(plain)
    last_seq = state[0] if state else 0
    ok = integrity == ["ok"]
    return dict(integrity="ok" if ok else "; ".join(integrity[:3]), last_seq=last_seq, writer_rows=rows, max_seq=max_seq,
                consistent=ok and rows == last_seq and (max_seq or 0) == last_seq)


# -- measuring a window -------------------------------------------------------------

class Meter:
    """CPU seconds of this process and its reaped children, of the writer, and of everything else; disk writes.

    /proc/stat gives the machine's busy time; what this benchmark and the writer did not
    use was used by other processes (on a shared machine: other jobs), reported as
    others_cores, the average number of cores they kept busy during the window.
    disk_mib_written is what the whole machine wrote to the work directory's disk.
    """

    def __init__(self, writer_pid, workdir):
        self.writer_pid = writer_pid
        self.hz = os.sysconf("SC_CLK_TCK")
        self.disk = _common.block_device_stat(workdir)

    def sample(self):
        with open("/proc/stat", encoding="ascii") as handle:
            fields = [int(x) for x in handle.readline().split()[1:9]]
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            with open("/proc/%d/stat" % self.writer_pid, encoding="ascii") as handle:
                parts = handle.read().rsplit(")", 1)[1].split()
            writer = (int(parts[11]) + int(parts[12])) / float(self.hz)
        except (OSError, IndexError, ValueError):
            writer = 0.0
        busy = (sum(fields) - fields[3] - fields[4] - fields[7]) / float(self.hz)
        return dict(t=time.monotonic(), busy=busy, steal=fields[7] / float(self.hz), writer=writer,
                    own=own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime, sectors=_common.sectors_written(self.disk))

    @staticmethod
    def between(a, b):
        wall = max(b["t"] - a["t"], 1e-9)
        own = b["own"] - a["own"]
        writer = b["writer"] - a["writer"]
        others = max(0.0, (b["busy"] - a["busy"]) - own - writer)
        short = wall < 1.0  # /proc/stat counts in ticks: shares over shorter windows mean little
        return collections.OrderedDict([("cpu_s", round(own, 2)), ("writer_cpu_s", round(writer, 2)),
                                        ("others_cores", None if short else round(others / wall, 2)),
                                        ("steal_cores", None if short else round((b["steal"] - a["steal"]) / wall, 2)),
                                        ("disk_mib_written", None if a["sectors"] is None or b["sectors"] is None
                                         else round((b["sectors"] - a["sectors"]) * 512 / 1048576.0, 1))])


def fresh_dir(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


# -- the methods ------------------------------------------------------------------

def method_cp_gzip(live, out, level):
    copy = os.path.join(out, "backup.db")
    t0 = time.monotonic()
    subprocess.run(["cp", live, copy], check=True)
    t1 = time.monotonic()
    subprocess.run(["gzip", "-%d" % level, copy], check=True)
    t2 = time.monotonic()
    return dict(start=t0, end=t2, finished=True, error=None,
                phases=collections.OrderedDict([("copy", t1 - t0), ("gzip", t2 - t1)]), output=copy + ".gz")


def method_cli_backup(live, out, level, timeout):
    copy = os.path.join(out, "out.db")
    t0 = time.monotonic()
    try:
        res = subprocess.run(["sqlite3", live, ".backup '%s'" % copy], capture_output=True, text=True, timeout=timeout, check=False)
        error = (res.stderr.strip() or "exit code %d" % res.returncode) if res.returncode != 0 else None
        finished = res.returncode == 0
    except subprocess.TimeoutExpired:
        finished = False
        error = "killed after the %g s timeout, still copying" % timeout
    t1 = time.monotonic()
    phases = collections.OrderedDict([("backup", t1 - t0)])
    output = None
    if finished:
        subprocess.run(["gzip", "-%d" % level, copy], check=True)
        output = copy + ".gz"
        phases["gzip"] = time.monotonic() - t1
    return dict(start=t0, end=time.monotonic(), finished=finished, error=error, phases=phases, output=output)


class PhaseTimer:
    """Time take_backup's phases by wrapping the module's own functions (restored afterwards).

    Keeps each call's interval too, so the writer's latency can be cut by phase.
    """

    WRAPPED = (("snapshot", "snapshot"), ("inspect_database", "check"), ("compress", "compress"),
               ("sha256_file", "checksum"), ("_fsync_dir", "fsync"))

    def __init__(self, module):
        self.module = module
        self.intervals = []
        self.saved = []

    def _wrap(self, owner, attr, label):
        original = getattr(owner, attr, None)
        if original is None:  # renamed in the module: that phase is then counted in "other"
            return
        intervals = self.intervals

        def timed(*args, **kwargs):
            t0 = time.monotonic()
            try:
                return original(*args, **kwargs)
            finally:
                intervals.append((label, t0, time.monotonic()))

        self.saved.append((owner, attr, original))
        setattr(owner, attr, timed)

    def __enter__(self):
        for attr, label in self.WRAPPED:
            self._wrap(self.module, attr, label)
        self._wrap(self.module.os, "fsync", "fsync")
        return self

    def __exit__(self, *exc):
        for owner, attr, original in reversed(self.saved):
            setattr(owner, attr, original)
        self.saved = []

    def totals(self):
        totals = collections.OrderedDict((label, 0.0) for dummy, label in self.WRAPPED)
        for label, t0, t1 in self.intervals:
            totals[label] += t1 - t0
        return totals


def method_sqlite_backup(sb, live, out, level):
    with PhaseTimer(sb) as timer:
        t0 = time.monotonic()
        result = sb.take_backup(live, out, compression="gzip", compression_level=level, check="quick_check")
        t1 = time.monotonic()
    phases = timer.totals()
    phases["other"] = max(0.0, (t1 - t0) - sum(phases.values()))
    return dict(start=t0, end=t1, finished=True, error=None, phases=phases, output=result["path"],
                intervals=[(label, a, b) for label, a, b in timer.intervals if label in ("snapshot", "check", "compress")],
                manifest_duration_s=result["duration_s"])


COMMANDS = collections.OrderedDict([
    ("cp_gzip", "cp db backup.db && gzip -%d backup.db"),
    ("sqlite3_backup", "sqlite3 db \".backup out.db\" && gzip -%d out.db"),
    ("sqlite_backup", "take_backup(src, dest, compression='gzip', compression_level=%d, check='quick_check')"),
])


# -- experiments on the phases ------------------------------------------------------

CHILD = """
import importlib, sqlite3, sys
sys.path.insert(0, sys.argv[1])
sb = importlib.import_module("ansible_collections.milos_shop.ops.plugins.module_utils._sqlite_backup")
src, dest, level, variant = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
if variant.startswith("snapshot_synchronous_"):
    def snapshot(conn, target, deadline):
        dst = sqlite3.connect(target, isolation_level=None)
        try:
            dst.execute("PRAGMA synchronous=" + variant.rsplit("_", 1)[1].upper())
            conn.backup(dst, pages=-1, progress=lambda status, remaining, total: deadline.check("snapshot"))
        finally:
            dst.close()
        deadline.check("snapshot")
    sb.snapshot = snapshot
sb.take_backup(src, dest, compression="gzip", compression_level=level, check="quick_check",
               tmpdir="/dev/shm" if variant == "tmpdir_dev_shm" else None)
"""


def investigate(sb, live, workdir, level, meter, settle):
    """Time each phase of take_backup alone, with variants, while the writer runs.

    Returns {experiment: {wall_s, cpu_s, others_cores, ...}} and the windows of the
    experiments whose writer latency is reported (take_backup in a child, nice 0 and 10).
    """
    out = fresh_dir(os.path.join(workdir, "investigate"))
    snap = os.path.join(out, "snap.db")
    found = collections.OrderedDict()
    windows = collections.OrderedDict()
    deadline = sb.Deadline(0)

    def timed(label, func):
        os.sync()
        time.sleep(settle)
        a = meter.sample()
        func()
        b = meter.sample()
        found[label] = collections.OrderedDict([("wall_s", round(b["t"] - a["t"], 3))])
        found[label].update(Meter.between(a, b))
        windows[label] = (a["t"], b["t"])
        log("  %-44s %7.2f s wall, %6.2f s CPU, others %s cores"
            % (label, found[label]["wall_s"], found[label]["cpu_s"], _common.fmt(found[label]["others_cores"])))

    def snapshot_as_take_backup():
        conn = sb.open_source(live)
        try:
            sb.snapshot(conn, snap, deadline)
        finally:
            conn.close()

    def snapshot_synchronous(mode):
        def go():
            remove_snap()
            conn = sb.open_source(live)
            dst = sqlite3.connect(snap, isolation_level=None)
            try:
                dst.execute("PRAGMA synchronous=%s" % mode)
                conn.backup(dst, pages=-1)
            finally:
                dst.close()
                conn.close()
        return go

    def remove_snap():
        for extra in ("", "-journal", "-wal", "-shm"):
            if os.path.exists(snap + extra):
                os.unlink(snap + extra)

    def gzip_cli():
        with open(os.path.join(out, "cli.gz"), "wb") as handle:
            subprocess.run(["gzip", "-%d" % level, "-c", snap], stdout=handle, check=True)

    def gzip_parallel(workers, name):
        def go():
            with open(os.path.join(out, name), "wb") as handle:
                sb.gzip_parallel(snap, handle, level, deadline, workers=workers)
        return go

    def zstd3():
        with open(os.path.join(out, "snap.zst"), "wb") as handle:
            sb.zstd_compress(snap, handle, 3, deadline)

    def child(variant):
        def go():
            dest = fresh_dir(os.path.join(out, "child-" + variant))
            argv = [sys.executable, "-c", CHILD, _common.COLLECTIONS, live, dest, str(level), variant]
            subprocess.run((["nice", "-n", "10"] if variant == "nice_10" else []) + argv, check=True)
            shutil.rmtree(dest, ignore_errors=True)
        return go

    def cpu_only():
        with open(os.devnull, "wb") as handle:
            sb.gzip_parallel(snap, handle, level, deadline)

    timed("snapshot_synchronous_full", snapshot_synchronous("FULL"))
    timed("snapshot_synchronous_off", snapshot_synchronous("OFF"))
    remove_snap()
    timed("snapshot", snapshot_as_take_backup)
    timed("quick_check", lambda: sb.inspect_database(snap, "quick_check", deadline))
    timed("gzip_cli_1_thread", gzip_cli)
    timed("gzip_parallel_1_worker", gzip_parallel(1, "one.gz"))
    timed("gzip_parallel_all_workers", gzip_parallel(None, "all.gz"))
    found["gzip_parallel_all_workers"]["workers"] = sb.cpu_count()
    for key, name in (("gzip_cli_1_thread", "cli.gz"), ("gzip_parallel_1_worker", "one.gz"), ("gzip_parallel_all_workers", "all.gz")):
        found[key]["bytes"] = os.path.getsize(os.path.join(out, name))
    if sb.zstd_command() or sb.zstandard is not None:
        timed("zstd_3_all_cores", zstd3)
        found["zstd_3_all_cores"]["bytes"] = os.path.getsize(os.path.join(out, "snap.zst"))

    def fsync_output():
        with open(os.path.join(out, "all.gz"), "rb+") as handle:
            os.fsync(handle.fileno())

    timed("fsync_output", fsync_output)
    timed("sha256_output", lambda: sb.sha256_file(os.path.join(out, "all.gz")))
    timed("gzip_parallel_to_dev_null", cpu_only)
    remove_snap()
    # take_backup as it is and with one thing changed, each in a child process.
    timed("take_backup_child", child("as_is"))
    timed("take_backup_child_snapshot_synchronous_full", child("snapshot_synchronous_full"))
    timed("take_backup_child_snapshot_synchronous_off", child("snapshot_synchronous_off"))
    if os.path.isdir("/dev/shm"):
        timed("take_backup_child_tmpdir_dev_shm", child("tmpdir_dev_shm"))
    timed("take_backup_child_nice_10", child("nice_10"))
    shutil.rmtree(out, ignore_errors=True)
    return found, windows


# -- the run ----------------------------------------------------------------------

def pause(seconds):
    os.sync()
    time.sleep(seconds)


def measure(key, func, meter, run_id, workdir):
    """Run one method in a fresh output directory, check its copy (outside the window), remove it."""
    out = fresh_dir(os.path.join(workdir, "out-" + key))
    a = meter.sample()
    res = func(out)
    b = meter.sample()
    res.update(Meter.between(a, b))
    res["wall_s"] = res["end"] - res["start"]
    output = res.pop("output")
    res["size"] = os.path.getsize(output) if output else None
    if output:
        t0 = time.monotonic()
        res["check"] = check_copy(output, run_id, workdir)
        res["check"]["check_s"] = round(time.monotonic() - t0, 2)
    else:
        res["check"] = None
    shutil.rmtree(out, ignore_errors=True)
    log("  %-15s %7.2f s wall, %6.2f s CPU, others %s cores, finished %s"
        % (key, res["wall_s"], res["cpu_s"], _common.fmt(res["others_cores"]), res["finished"]))
    return res


def run(args):
    args = resolve(args)
    sb = _common.load_module_utils("_sqlite_backup")
    info = _common.machine()
    code = _common.code_version("plugins/module_utils/_sqlite_backup.py", "benchmarks")
    os.makedirs(args.workdir, exist_ok=True)
    base, meta = cached_database(args.workdir, args.size_mib, args.regenerate)
    live = os.path.join(args.workdir, "live.db")
    log("database %s: %d rows, %.0f MiB (%s)" % (base, meta["rows"], meta["bytes"] / 1048576.0, "cached" if meta["cached"] else "generated"))
    make_live(base, live)

    run_id = "bench-%d-%d" % (os.getpid(), int(time.time()))
    writer = Writer(live, os.path.join(args.workdir, "writer-log.json"), args.rate, run_id)
    meter = Meter(writer.proc.pid, args.workdir)
    runs = collections.OrderedDict((key, []) for key in COMMANDS)
    idle = []
    found, found_windows = None, {}
    methods = dict(
        cp_gzip=lambda out: method_cp_gzip(live, out, args.level),
        sqlite3_backup=lambda out: method_cli_backup(live, out, args.level, args.cli_timeout),
        sqlite_backup=lambda out: method_sqlite_backup(sb, live, out, args.level),
    )
    try:
        pause(max(args.gap_seconds, 1.0))
        for rep in range(args.repeat):
            order = ("cp_gzip", "sqlite_backup") if rep % 2 == 0 else ("sqlite_backup", "cp_gzip")
            log("round %d of %d: %s" % (rep + 1, args.repeat, ", ".join(order)))
            for key in order:
                runs[key].append(measure(key, methods[key], meter, run_id, args.workdir))
                pause(args.gap_seconds)
                if key == "sqlite_backup":
                    seconds = max(args.idle_seconds, runs[key][-1]["wall_s"])
                    a = meter.sample()
                    time.sleep(seconds)
                    b = meter.sample()
                    window = dict(start=a["t"], end=b["t"])
                    window.update(Meter.between(a, b))
                    idle.append(window)
                    log("  %-15s %7.2f s (as long as sqlite_backup), others %s cores" % ("idle", seconds, _common.fmt(window["others_cores"])))
                    pause(args.gap_seconds)
        log("sqlite3 .backup (timeout %.0f s) + gzip -%d" % (args.cli_timeout, args.level))
        runs["sqlite3_backup"].append(measure("sqlite3_backup", methods["sqlite3_backup"], meter, run_id, args.workdir))
        if args.investigate:
            pause(args.gap_seconds)
            log("phase experiments")
            found, found_windows = investigate(sb, live, args.workdir, args.level, meter, min(args.gap_seconds, 1.0))
    finally:
        data = writer.stop()
        for extra in ("", "-wal", "-shm"):
            if os.path.exists(live + extra):
                os.unlink(live + extra)
    return summarise(args, info, code, meta, runs, idle, data, found, found_windows)


def _median(values):
    values = [v for v in values if v is not None]
    return _common.median(values) if values else None


def summarise(args, info, code, meta, runs, idle, data, found, found_windows):
    def pooled(windows):
        lat = []
        errors = 0
        for start, end in windows:
            stats = window_stats(data, start, end)
            errors += stats["errors"]
            lat += [ms for t, ms in zip(data["starts"], data["latencies_ms"]) if start <= t < end]
        return collections.OrderedDict([("seconds", round(sum(e - s for s, e in windows), 2)), ("commits", len(lat)),
                                        ("p50_ms", _round(_common.percentile(lat, 50))), ("p99_ms", _round(_common.percentile(lat, 99))),
                                        ("max_ms", _round(max(lat) if lat else None)), ("over_100ms", sum(1 for ms in lat if ms > 100)),
                                        ("errors", errors)])

    first = data["starts"][0] if data["starts"] else 0.0
    methods = collections.OrderedDict()
    for key, items in runs.items():
        for item in items:
            item["writer"] = window_stats(data, item["start"], item["end"])
            if item["check"]:
                seq = item["check"]["last_seq"] or 0
                before_start = committed_before(data, item["start"])
                item["check"]["committed_before_start"] = before_start
                item["check"]["lost_commits"] = max(0, before_start - seq) if item["check"]["last_seq"] is not None else None
                item["check"]["complete"] = before_start <= seq <= committed_before(data, item["end"])
            if "intervals" in item:
                item["writer_by_phase"] = collections.OrderedDict()
                for label in ("snapshot", "check", "compress"):
                    spans = [(a, b) for name, a, b in item["intervals"] if name == label]
                    item["writer_by_phase"][label] = pooled(spans)
                item.pop("intervals")
        wall = [item["wall_s"] for item in items]
        phases = collections.OrderedDict()
        for name in items[0]["phases"] if items else ():
            phases[name] = _round(_median([item["phases"].get(name) for item in items]))
        checks = [item["check"] for item in items if item["check"]]
        methods[key] = collections.OrderedDict([
            ("command", COMMANDS[key] % args.level),
            ("runs", len(items)),
            ("wall_s", _round(_median(wall))),
            ("wall_s_all", [_round(w) for w in wall]),
            ("cpu_s", _round(_median([item["cpu_s"] for item in items]), 2)),
            ("others_cores", _round(_median([item["others_cores"] for item in items]), 2)),
            ("disk_mib_written", _round(_median([item["disk_mib_written"] for item in items]), 1)),
            ("finished", all(item["finished"] for item in items)),
            ("error", next((item["error"] for item in items if item["error"]), None)),
            ("size", _median([item["size"] for item in items])),
            ("phases", phases),
            ("writer", pooled([(item["start"], item["end"]) for item in items])),
            ("check", collections.OrderedDict([
                ("integrity", sorted(set(c["integrity"] for c in checks))),
                ("consistent", all(c["consistent"] for c in checks)),
                ("complete", all(c["complete"] for c in checks)),
                ("lost_commits", [c["lost_commits"] for c in checks]),
            ]) if checks else None),
            ("details", items),
        ])
        if key == "sqlite_backup" and items:
            methods[key]["writer_by_phase"] = collections.OrderedDict(
                (label, _merge_phase_stats([item["writer_by_phase"][label] for item in items])) for label in ("snapshot", "check", "compress"))
        for item in items:
            for field in ("start", "end"):
                item[field + "_offset_s"] = round(item.pop(field) - first, 2)
            item["wall_s"] = round(item["wall_s"], 3)
            item["phases"] = collections.OrderedDict((k, round(v, 3)) for k, v in item["phases"].items())

    idle_stats = pooled([(w["start"], w["end"]) for w in idle])
    idle_stats["others_cores"] = _round(_median([w["others_cores"] for w in idle]), 2)
    idle_stats["disk_mib_written"] = _round(_median([w["disk_mib_written"] for w in idle]), 1)
    idle_stats["p99_ms_each"] = [window_stats(data, w["start"], w["end"])["p99_ms"] for w in idle]
    a, b, c = methods["cp_gzip"], methods["sqlite3_backup"], methods["sqlite_backup"]
    wall_ratio = _common.ratio(c["wall_s"], a["wall_s"])
    p99_ratio = _common.ratio(c["writer"]["p99_ms"], idle_stats["p99_ms"])
    paired = [_common.ratio(x["wall_s"], y["wall_s"]) for x, y in zip(c["details"], a["details"])]
    total_errors = len(data["errors"])
    ratios = collections.OrderedDict([
        ("sqlite_backup_wall_over_cp_gzip_wall", wall_ratio),
        ("sqlite_backup_wall_over_cp_gzip_wall_each_round", paired),
        ("sqlite_backup_cpu_over_cp_gzip_cpu", _common.ratio(c["cpu_s"], a["cpu_s"])),
        ("p99_during_sqlite_backup_over_idle", p99_ratio),
        ("p99_during_cp_gzip_over_idle", _common.ratio(a["writer"]["p99_ms"], idle_stats["p99_ms"])),
        ("p99_during_sqlite3_backup_over_idle", _common.ratio(b["writer"]["p99_ms"], idle_stats["p99_ms"])),
        ("sqlite_backup_size_over_cp_gzip_size", _common.ratio(c["size"], a["size"])),
        ("sqlite_backup_compress_over_cp_gzip_gzip", _common.ratio(c["phases"].get("compress"), a["phases"].get("gzip"))),
        ("db_over_sqlite_backup_size", _common.ratio(meta["bytes"], c["size"], 2)),
    ])
    c_check = c["check"] or {}
    verdicts = collections.OrderedDict([
        ("sqlite_backup_wall_over_cp_gzip_wall", wall_ratio is not None and wall_ratio <= GOAL_WALL_RATIO),
        ("p99_during_sqlite_backup_over_idle", p99_ratio is not None and p99_ratio <= GOAL_P99_RATIO),
        ("writer_errors", total_errors == GOAL_ERRORS),
        ("sqlite_backup_consistent", bool(c_check.get("consistent") and c_check.get("complete") and c_check.get("integrity") == ["ok"])),
    ])
    investigation = None
    if found is not None:
        investigation = found
        for label, (start, end) in found_windows.items():
            stats = window_stats(data, start, end)
            investigation[label]["writer_p99_ms"] = stats["p99_ms"]
            investigation[label]["writer_p99_over_idle"] = _common.ratio(stats["p99_ms"], idle_stats["p99_ms"])
            investigation[label]["writer_max_ms"] = stats["max_ms"]
    return collections.OrderedDict([
        ("benchmark", NAME),
        ("date", _common.now_iso()),
        ("command", _common.command_line()),
        ("machine", info),
        ("parameters", collections.OrderedDict([
            ("size_mib", args.size_mib), ("rate", args.rate), ("repeat", args.repeat), ("idle_seconds", args.idle_seconds),
            ("gap_seconds", args.gap_seconds), ("cli_timeout", args.cli_timeout), ("level", args.level), ("quick", args.quick),
            ("workdir", args.workdir)])),
        ("code", code),
        ("database", meta),
        ("writer", collections.OrderedDict([("run_id", data["run_id"]), ("commits", data["commits"]), ("errors", total_errors),
                                            ("error_messages", sorted(set(msg for dummy, msg in data["errors"]))[:5])])),
        ("idle", idle_stats),
        ("methods", methods),
        ("ratios", ratios),
        ("goals", collections.OrderedDict([
            ("sqlite_backup_wall_over_cp_gzip_wall", "<= %g" % GOAL_WALL_RATIO),
            ("p99_during_sqlite_backup_over_idle", "<= %g" % GOAL_P99_RATIO),
            ("writer_errors", "== %d" % GOAL_ERRORS),
            ("sqlite_backup_consistent", "true"),
        ])),
        ("verdicts", verdicts),
        ("investigation", investigation),
        ("notes", NOTES),
    ])


def _merge_phase_stats(stats):
    """Writer stats of one phase over several runs: seconds and commits add up, p99 is the worst run's."""
    out = collections.OrderedDict()
    out["seconds"] = round(sum(s["seconds"] for s in stats), 2)
    out["commits"] = sum(s["commits"] for s in stats)
    out["p99_ms_each"] = [s["p99_ms"] for s in stats]
    out["max_ms"] = max((s["max_ms"] for s in stats if s["max_ms"] is not None), default=None)
    out["errors"] = sum(s["errors"] for s in stats)
    return out


NOTES = [
    "cp_gzip copies the live main file while the writer commits: it ignores the -wal file (every transaction not yet "
    "checkpointed is missing: lost_commits) and a checkpoint during the copy can leave a torn, malformed file. It is NOT a "
    "consistent backup, only the guide's baseline for speed.",
    "sqlite3 .backup copies 100 pages per step and starts again whenever another connection commits between two steps, so "
    "under a steady writer it may never finish; it is killed after cli_timeout and its copy is then not checked.",
    "Each copy is checked after decompression: integrity_check; writer rows == writer_state.last_seq (consistent); "
    "committed_before_start <= last_seq <= committed_before_end (complete).",
    "cp_gzip and sqlite_backup run --repeat times in alternating order (ABBA...), medians are compared; each idle window "
    "follows a sqlite_backup run and lasts as long; writer p99 is pooled over all windows of a kind.",
    "others_cores is the average number of cores that processes other than this benchmark and its writer kept busy during "
    "a window (from /proc/stat): on a shared 2-core machine it says how much of the machine the run really had. "
    "disk writes are the sectors written to the work directory's disk during the window, by every process.",
    "A window of a second holds about 100 commits, so its p99 is nearly its maximum: the p99 of short phases (check, "
    "snapshot) and short experiments says whether one slow commit (a WAL checkpoint) fell into it, little more.",
]


# -- the report -------------------------------------------------------------------

def markdown(result):
    m = result["methods"]
    ratios, verdicts, goals = result["ratios"], result["verdicts"], result["goals"]
    db = result["database"]
    p = result["parameters"]
    lines = ["# Backup benchmark", "",
             "Generated by `benchmarks/backup_bench.py` on %s; command `%s`. Do not edit by hand." % (result["date"], result["command"]), "",
             _common.machine_md(result["machine"]), "",
             "Code: commit %s%s." % (result["code"]["commit"], "; uncommitted changes in " + ", ".join(result["code"]["uncommitted"])
                                     if result["code"]["uncommitted"] else ""), "",
             "Database: %d rows, %.0f MiB (%s), WAL mode. Writer: %g commits/s, one INSERT + counter UPDATE per transaction, "
             "synchronous=NORMAL, busy_timeout 10000 ms; %d commits and %d errors in the whole run. cp_gzip and sqlite_backup ran "
             "%d times each in alternating order (medians below); sqlite3 .backup once." % (
                 db["rows"], db["bytes"] / 1048576.0, "cached" if db["cached"] else "generated in %s s" % db["generate_s"],
                 p["rate"], result["writer"]["commits"], result["writer"]["errors"], p["repeat"]), "",
             "## Goals", ""]
    rows = [
        ["sqlite_backup wall / cp+gzip wall (medians)", _common.fmt(ratios["sqlite_backup_wall_over_cp_gzip_wall"]),
         goals["sqlite_backup_wall_over_cp_gzip_wall"], _verdict(verdicts["sqlite_backup_wall_over_cp_gzip_wall"])],
        ["writer p99 during sqlite_backup / idle", _common.fmt(ratios["p99_during_sqlite_backup_over_idle"]),
         goals["p99_during_sqlite_backup_over_idle"], _verdict(verdicts["p99_during_sqlite_backup_over_idle"])],
        ["writer errors (whole run)", result["writer"]["errors"], goals["writer_errors"], _verdict(verdicts["writer_errors"])],
        ["sqlite_backup copies pass integrity_check, consistent and complete", _common.fmt(verdicts["sqlite_backup_consistent"]), "yes",
         _verdict(verdicts["sqlite_backup_consistent"])],
        ["sqlite3 .backup finished under the writer", _common.fmt(m["sqlite3_backup"]["finished"]), "(observation)", ""],
    ]
    lines += [_common.md_table(["measure", "value", "goal", "verdict"], rows), "",
              "Per round, sqlite_backup wall / cp+gzip wall: %s. CPU seconds, sqlite_backup / cp+gzip: %s." % (
                  ", ".join(_common.fmt(x) for x in ratios["sqlite_backup_wall_over_cp_gzip_wall_each_round"]),
                  _common.fmt(ratios["sqlite_backup_cpu_over_cp_gzip_cpu"])), "",
              "## Methods", ""]
    rows = []
    for key, method in m.items():
        check = method["check"] or {}
        w = method["writer"]
        rows.append([
            key, "%s s" % " / ".join("%.1f" % x for x in method["wall_s_all"]), _common.fmt(method["cpu_s"], " s"), _others(method["others_cores"]),
            _common.fmt(method["disk_mib_written"], " MiB"),
            _common.fmt(method["finished"]), "%.1f MiB" % (method["size"] / 1048576.0) if method["size"] else "n/a",
            ", ".join(check.get("integrity", [])) or "n/a", _common.fmt(check.get("consistent")) if check else "n/a",
            ", ".join("unreadable" if x is None else str(x) for x in check.get("lost_commits", [])) or "n/a",
            _common.fmt(w["p99_ms"], " ms"), _common.fmt(w["max_ms"], " ms"), w["errors"],
        ])
    i = result["idle"]
    rows.append(["idle (writer only)", "%.1f s in all" % i["seconds"], "", _others(i["others_cores"]), _common.fmt(i["disk_mib_written"], " MiB"),
                 "", "", "", "", "",
                 _common.fmt(i["p99_ms"], " ms") + " (each: %s)" % ", ".join(_common.fmt(x) for x in i["p99_ms_each"]),
                 _common.fmt(i["max_ms"], " ms"), i["errors"]])
    lines += [_common.md_table(["window", "wall (each run)", "CPU (median)", "others' cores", "disk writes", "finished", "size", "integrity",
                                "rows consistent", "lost commits", "writer p99", "writer max", "writer errors"], rows), ""]
    if m["sqlite3_backup"]["error"]:
        lines += ["sqlite3 .backup: %s." % m["sqlite3_backup"]["error"], ""]
    lines += ["Other ratios: " + ", ".join("%s %s" % (k, _common.fmt(v)) for k, v in ratios.items()
                                           if k not in ("sqlite_backup_wall_over_cp_gzip_wall", "p99_during_sqlite_backup_over_idle",
                                                        "sqlite_backup_wall_over_cp_gzip_wall_each_round")) + ".", ""]
    lines += ["## Where the time goes", ""]
    rows = [[key, " + ".join("%s %.2f s" % (k, v) for k, v in method["phases"].items() if v is not None)] for key, method in m.items()]
    lines += [_common.md_table(["method (medians)", "phases"], rows), ""]
    by_phase = m["sqlite_backup"].get("writer_by_phase")
    if by_phase:
        lines += ["Writer p99 during each sqlite_backup phase (each run): " + "; ".join(
            "%s %s ms" % (label, ", ".join(_common.fmt(x) for x in stats["p99_ms_each"])) for label, stats in by_phase.items()) + ".", ""]
    if result["investigation"]:
        rows = []
        for key, value in result["investigation"].items():
            extra = ", ".join("%s %s" % (k, _common.fmt(v)) for k, v in value.items() if k in ("bytes", "workers"))
            rows.append([key, "%.2f s" % value["wall_s"], "%.2f s" % value["cpu_s"], _others(value["others_cores"]),
                         _common.fmt(value.get("disk_mib_written"), " MiB"),
                         _common.fmt(value.get("writer_p99_ms"), " ms"), _common.fmt(value.get("writer_p99_over_idle")),
                         _common.fmt(value.get("writer_max_ms"), " ms"), extra])
        lines += ["Each phase alone, with variants (writer still running; take_backup_child* run the whole take_backup in a child "
                  "process, as it is or with the one change named):", "",
                  _common.md_table(["experiment", "wall", "CPU", "others' cores", "disk writes", "writer p99", "p99 / idle", "writer max", "more"],
                                   rows), ""]
    lines += ["## Notes", ""] + ["- " + note for note in result["notes"]]
    lines.append("- **(busy)** marks a window in which other processes kept more than %g core busy on average: its figures say "
                 "more about the neighbours than about the method." % BUSY_CORES)
    return "\n".join(lines) + "\n"


BUSY_CORES = 0.5


def _others(cores):
    """others' cores, flagged when other processes used more than half a core (the figures of that window are disturbed)."""
    if cores is not None and cores > BUSY_CORES:
        return "**%s (busy)**" % _common.fmt(cores)
    return _common.fmt(cores)


def _verdict(ok):
    return "met" if ok else "NOT met"


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.render:
        with open(os.path.join(args.results_dir, NAME + ".json"), encoding="utf-8") as handle:
            result = json.load(handle, object_pairs_hook=collections.OrderedDict)
    else:
        result = run(args)
    json_path, md_path = _common.write_results(args.results_dir, NAME, result, markdown(result))
    r = result["ratios"]
    print("sqlite_backup wall / cp+gzip wall: %s (goal <= %g; each round %s)" % (
        _common.fmt(r["sqlite_backup_wall_over_cp_gzip_wall"]), GOAL_WALL_RATIO, r["sqlite_backup_wall_over_cp_gzip_wall_each_round"]))
    print("writer p99 during sqlite_backup / idle: %s (goal <= %g)" % (_common.fmt(r["p99_during_sqlite_backup_over_idle"]), GOAL_P99_RATIO))
    print("writer errors: %d (goal %d)" % (result["writer"]["errors"], GOAL_ERRORS))
    print("sqlite3 .backup finished: %s" % _common.fmt(result["methods"]["sqlite3_backup"]["finished"]))
    print("verdicts: %s" % json.dumps(result["verdicts"]))
    print("results: %s, %s" % (json_path, md_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
