'use strict';
// The schema the code expects (what drizzle's schema file is to the real shop).
// `db:generate` writes a migration for anything here that the migrations lack.
module.exports = {
  services: {
    id: 'INTEGER PRIMARY KEY AUTOINCREMENT',
    name: 'TEXT NOT NULL UNIQUE',
    description: 'TEXT NOT NULL',
    price_cents: 'INTEGER NOT NULL',
    active: 'INTEGER NOT NULL DEFAULT 1',
  },
  orders: {
    id: 'INTEGER PRIMARY KEY AUTOINCREMENT',
    customer: 'TEXT NOT NULL',
    service_id: 'INTEGER REFERENCES services(id)',
    total_cents: 'INTEGER NOT NULL',
    source: "TEXT NOT NULL DEFAULT 'api'",
    seq: 'INTEGER',
    created_at: "TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
  },
  writer_state: {
    run_id: 'TEXT PRIMARY KEY',
    last_seq: 'INTEGER NOT NULL',
  },
};
