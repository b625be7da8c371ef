# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A steady writer for backup_bench.py: the Python twin of demo/milos-shop/src/writer.js.

Its own process and connection (busy_timeout 10000 ms, synchronous=NORMAL), one
order per transaction at a fixed rate (default 100 commits/s, catching up after a
stall instead of drifting). Each transaction also sets writer_state.last_seq, so a
consistent copy holds exactly last_seq rows of this run, numbered 1..last_seq.

It records, for every commit, its start on CLOCK_MONOTONIC (the same clock as
time.monotonic() in the parent, so the parent can cut the log into windows) and
its latency (BEGIN IMMEDIATE to the end of COMMIT), and every error. On SIGTERM
or SIGINT it writes them as JSON to --log and exits.

    python benchmarks/bench_writer.py --db DB --log LOG.json [--rate 100] [--run-id ID]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import sys
import time

ITEM = '{"sku":"MS-%05d","name":"Milos shop item %d","qty":%d,"price_cents":%d,"currency":"EUR"}'


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--db", required=True, help="the live database (WAL mode)")
    parser.add_argument("--log", required=True, help="JSON file written on exit: commit starts, latencies, errors")
    parser.add_argument("--rate", type=float, default=100.0, help="commits per second (default 100)")
    parser.add_argument("--run-id", default=None, help="writer_state.run_id of this run (default writer-<pid>)")
    parser.add_argument("--busy-timeout-ms", type=int, default=10000, help="SQLite busy_timeout (default 10000)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    run_id = args.run_id or "writer-%d" % os.getpid()
    stop = []

    def on_signal(signum, frame):  # pylint: disable=unused-argument
        stop.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    conn = sqlite3.connect(args.db, isolation_level=None, timeout=args.busy_timeout_ms / 1000.0)
    conn.execute("PRAGMA busy_timeout=%d" % args.busy_timeout_ms)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("INSERT OR REPLACE INTO writer_state (run_id, last_seq) VALUES (?, 0)", (run_id,))

    starts = []
    latencies = []
    errors = []
    seq = 0
    interval = 1.0 / args.rate
    due = time.monotonic()
    announced = False
    while not stop:
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
            if stop:
                break
        t0 = time.monotonic()
        try:
            conn.execute("BEGIN IMMEDIATE")
            n = seq + 1
            conn.execute(
                "INSERT INTO orders (created, customer, status, total_cents, items, run_id, seq) "
                "VALUES (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?, 'paid', ?, ?, ?, ?)",
                (run_id, 1000 + n % 97, "[" + ITEM % (n % 99999, n % 500, 1 + n % 3, 499 + n % 5000) + "]", run_id, n))
            conn.execute("UPDATE writer_state SET last_seq = ? WHERE run_id = ?", (n, run_id))
            conn.execute("COMMIT")
            seq = n
            latencies.append((time.monotonic() - t0) * 1000.0)
            starts.append(t0)
        except sqlite3.Error as exc:
            errors.append([t0, str(exc)])
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        if not announced:
            sys.stdout.write("ready %s\n" % run_id)
            sys.stdout.flush()
            announced = True
        due += interval
    conn.close()
    data = dict(run_id=run_id, rate=args.rate, commits=seq, errors=errors, starts=starts, latencies_ms=latencies)
    tmp = args.log + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.rename(tmp, args.log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
