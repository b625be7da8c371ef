'use strict';
// SQLite access for the stand-in: open in WAL mode, migrations, schema diff,
// seed data. Uses node:sqlite (Node.js 22.13+), no native add-on.
const fs = require('node:fs');
const path = require('node:path');
const { DatabaseSync } = require('node:sqlite');
const schema = require('./schema');

const DB_PATH = process.env.DB_PATH || '/app/data/milos_shop.db';
const MIGRATIONS_DIR = process.env.MIGRATIONS_DIR || path.join(__dirname, '..', 'migrations');

function open(file = DB_PATH) {
  const db = new DatabaseSync(file);
  db.exec('PRAGMA busy_timeout = 10000');
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = NORMAL');
  db.exec('PRAGMA foreign_keys = ON');
  return db;
}

function migrationFiles() {
  if (!fs.existsSync(MIGRATIONS_DIR)) return [];
  return fs.readdirSync(MIGRATIONS_DIR).filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f)).sort();
}

function appliedMigrations(db) {
  db.exec('CREATE TABLE IF NOT EXISTS __migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)');
  return new Set(db.prepare('SELECT name FROM __migrations').all().map((r) => r.name));
}

function pendingMigrations(db) {
  const applied = appliedMigrations(db);
  return migrationFiles().filter((f) => !applied.has(f));
}

// Apply every pending migration, each in its own transaction; user_version
// counts the migrations applied.
function push(db) {
  const done = [];
  for (const name of pendingMigrations(db)) {
    const sql = fs.readFileSync(path.join(MIGRATIONS_DIR, name), 'utf8');
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(sql);
      db.prepare('INSERT INTO __migrations (name, applied_at) VALUES (?, ?)').run(name, new Date().toISOString());
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw new Error(`migration ${name} failed: ${err.message}`);
    }
    done.push(name);
  }
  const count = db.prepare('SELECT count(*) AS n FROM __migrations').get().n;
  db.exec(`PRAGMA user_version = ${Number(count)}`);
  return done;
}

// Tables and columns that schema.js declares but `db` lacks.
function schemaDiff(db) {
  const missing = [];
  for (const [table, columns] of Object.entries(schema)) {
    const have = db.prepare('SELECT name FROM pragma_table_info(?)').all(table).map((r) => r.name);
    if (have.length === 0) {
      missing.push({ table, create: true, columns: Object.keys(columns) });
      continue;
    }
    const cols = Object.keys(columns).filter((c) => !have.includes(c));
    if (cols.length) missing.push({ table, create: false, columns: cols });
  }
  return missing;
}

// SQL for a migration that brings the migrations up to schema.js.
function migrationSql(diff) {
  const lines = [];
  for (const d of diff) {
    const defs = d.columns.map((c) => `${c} ${schema[d.table][c]}`);
    if (d.create) lines.push(`CREATE TABLE ${d.table} (\n  ${defs.join(',\n  ')}\n);`);
    else for (const def of defs) lines.push(`ALTER TABLE ${d.table} ADD COLUMN ${def};`);
  }
  return lines.join('\n') + '\n';
}

const SEED_SERVICES = [
  ['web-design', 'Web design for small shops', 49000],
  ['seo-audit', 'Search engine audit', 19000],
  ['maintenance', 'Monthly maintenance plan', 9900],
  ['hosting', 'Managed hosting', 2900],
];

function seed(db) {
  const ins = db.prepare('INSERT OR IGNORE INTO services (name, description, price_cents) VALUES (?, ?, ?)');
  let added = 0;
  for (const row of SEED_SERVICES) added += Number(ins.run(...row).changes);
  return added;
}

function isEmpty(db) {
  return db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != '__migrations'").get().n === 0;
}

module.exports = {
  DB_PATH, MIGRATIONS_DIR, open, migrationFiles, pendingMigrations, push, schemaDiff, migrationSql, seed, isEmpty,
};
