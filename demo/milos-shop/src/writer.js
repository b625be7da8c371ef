'use strict';
// Steady writer: commits one order per transaction at a fixed rate, straight to
// the database (its own connection, like a second app process). Each
// transaction also bumps writer_state.last_seq, so a consistent snapshot holds
// exactly last_seq writer rows numbered 1..last_seq.
//
//   node dist/writer.js [--rate 100] [--duration 0] [--stats FILE] [--run-id ID]
//
// Stops on SIGTERM/SIGINT or after --duration seconds (0 = until stopped) and
// prints (and writes to --stats) commits, errors and commit latency percentiles.
const fs = require('node:fs');
const store = require('./db');

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const rate = Number(args.rate || 100);
const duration = Number(args.duration || 0);
const runId = args['run-id'] || `writer-${process.pid}-${Date.now()}`;
const db = store.open();
db.prepare('INSERT OR REPLACE INTO writer_state (run_id, last_seq) VALUES (?, 0)').run(runId);
const insert = db.prepare("INSERT INTO orders (customer, total_cents, source, seq) VALUES (?, ?, 'writer', ?)");
const bump = db.prepare('UPDATE writer_state SET last_seq = ? WHERE run_id = ?');

const latencies = [];
let seq = 0;
let errors = 0;
let lastError = null;
const started = Date.now();

function commitOne() {
  const t0 = process.hrtime.bigint();
  try {
    db.exec('BEGIN IMMEDIATE');
    insert.run(`${runId}`, 1000 + (seq % 97), seq + 1);
    bump.run(seq + 1, runId);
    db.exec('COMMIT');
    seq += 1;
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
  } catch (err) {
    errors += 1;
    lastError = err.message;
    try { db.exec('ROLLBACK'); } catch { /* not in a transaction */ }
  }
}

function pct(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function finish() {
  clearInterval(timer);
  const sorted = latencies.slice().sort((a, b) => a - b);
  const stats = {
    run_id: runId, commits: seq, errors, last_error: lastError,
    seconds: (Date.now() - started) / 1000,
    latency_ms: { p50: pct(sorted, 50), p99: pct(sorted, 99), max: sorted[sorted.length - 1] ?? null },
  };
  const text = JSON.stringify(stats);
  if (args.stats) fs.writeFileSync(args.stats, text);
  console.log(text);
  db.close();
  process.exit(0);
}

// Fixed-rate schedule that catches up after a stall instead of drifting.
const interval = 1000 / rate;
let due = Date.now();
const timer = setInterval(() => {
  const now = Date.now();
  while (due <= now) { commitOne(); due += interval; }
  if (duration && now - started >= duration * 1000) finish();
}, Math.max(1, Math.floor(interval / 2)));
process.on('SIGTERM', finish);
process.on('SIGINT', finish);
console.log(JSON.stringify({ run_id: runId, rate, started: new Date(started).toISOString() }));
