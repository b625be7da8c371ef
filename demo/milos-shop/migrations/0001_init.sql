-- Initial schema of the stand-in Milos-Shop.
CREATE TABLE services (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL,
  price_cents INTEGER NOT NULL,
  active INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE orders (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  customer TEXT NOT NULL,
  service_id INTEGER REFERENCES services(id),
  total_cents INTEGER NOT NULL,
  source TEXT NOT NULL DEFAULT 'api',
  seq INTEGER,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX orders_source_seq ON orders(source, seq);
-- One row per steady writer run: the writer bumps last_seq in the same
-- transaction as its order, so a consistent snapshot has exactly last_seq rows.
CREATE TABLE writer_state (
  run_id TEXT PRIMARY KEY,
  last_seq INTEGER NOT NULL
);
