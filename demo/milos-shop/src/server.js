'use strict';
// Stand-in Milos-Shop server: the points the collection touches, nothing more.
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const express = require('express');
const rateLimit = require('express-rate-limit');
const { Server: SocketServer } = require('socket.io');
const log = require('./logger');
const store = require('./db');

const PORT = Number(process.env.PORT || 5000);
const FAULTS_ENABLED = String(process.env.FAULTS_ENABLED || 'true') === 'true';
const CRASH_MARKER = path.join(path.dirname(store.DB_PATH), 'CRASH_ON_START');
const buildInfo = (() => {
  try { return require('./build-info.json'); } catch { return {}; }
})();

if (fs.existsSync(CRASH_MARKER)) {
  log.error(`fatal: ${CRASH_MARKER} is present, refusing to start (crash-loop switch)`);
  process.exit(1);
}

const db = store.open();
if (String(process.env.DB_AUTO_MIGRATE || 'true') === 'true' && store.isEmpty(db)) {
  const applied = store.push(db);
  const seeded = store.seed(db);
  log.info(`database initialised: ${applied.length} migrations, ${seeded} services seeded`);
}

const app = express();
app.disable('x-powered-by');

// Health endpoint behaviour that the fault switch can change at run time.
const faults = { services: 'ok', servicesDelayMs: 6000 };

// Request log in the guide's format, for every /api route. First, so that it
// also logs requests that a body parse error or a mounted handler ends (the
// latter leave req.path relative to their mount point: keep the full one).
app.use((req, res, next) => {
  const start = process.hrtime.bigint();
  const reqPath = req.path;
  let body;
  const json = res.json.bind(res);
  res.json = (value) => { body = value; return json(value); };
  res.on('finish', () => {
    if (!reqPath.startsWith('/api')) return;
    const ms = Number((process.hrtime.bigint() - start) / 1000000n);
    log.info(log.requestLine(req.method, reqPath, res.statusCode, ms, body));
  });
  next();
});
app.use(express.json());

const limiter = rateLimit({
  windowMs: Number(process.env.RATE_LIMIT_WINDOW_MS || 60000),
  max: Number(process.env.RATE_LIMIT_MAX || 600),
  standardHeaders: true,
  legacyHeaders: false,
  // Monitoring must never trip the limiter.
  skip: (req) => req.path === '/services',
  handler: (req, res) => {
    log.warn(`rate limit exceeded for ${req.ip} on ${req.method} ${req.originalUrl}`);
    res.status(429).json({ message: 'Too many requests, please try again later.' });
  },
});
app.use('/api', limiter);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

app.get('/api/services', async (req, res, next) => {
  try {
    if (faults.services === 'slow') await sleep(faults.servicesDelayMs);
    if (faults.services === 'error') throw new Error('services query failed (injected fault)');
    res.json(db.prepare('SELECT id, name, description, price_cents AS priceCents FROM services WHERE active = 1 ORDER BY id').all());
  } catch (err) { next(err); }
});

app.get('/api/version', (req, res) => res.json(buildInfo));

app.get('/api/orders', (req, res) => {
  const limit = Math.min(Number(req.query.limit || 50), 1000);
  res.json(db.prepare('SELECT * FROM orders ORDER BY id DESC LIMIT ?').all(limit));
});

app.get('/api/orders/count', (req, res) => {
  res.json({ count: db.prepare('SELECT count(*) AS n FROM orders').get().n });
});

app.post('/api/orders', (req, res) => {
  const { customer, serviceId, totalCents } = req.body || {};
  if (typeof customer !== 'string' || !customer || !Number.isInteger(totalCents) || totalCents < 0) {
    return res.status(400).json({ message: 'customer (string) and totalCents (integer >= 0) are required' });
  }
  if (serviceId != null && !(Number.isInteger(serviceId) && db.prepare('SELECT 1 FROM services WHERE id = ?').get(serviceId))) {
    return res.status(400).json({ message: `no service with id ${JSON.stringify(serviceId)}` });
  }
  const info = db.prepare('INSERT INTO orders (customer, service_id, total_cents) VALUES (?, ?, ?)')
    .run(customer, serviceId ?? null, totalCents);
  const order = db.prepare('SELECT * FROM orders WHERE id = ?').get(Number(info.lastInsertRowid));
  io.emit('order:created', order);
  return res.status(201).json(order);
});

// Fault switches, so that checks can be tested against real symptoms.
if (FAULTS_ENABLED) {
  app.get('/api/_fault/error', () => {
    throw new Error('injected server error');
  });
  app.get('/api/_fault/slow', async (req, res) => {
    const ms = Math.min(Number(req.query.ms || 6000), 60000);
    await sleep(ms);
    res.json({ sleptMs: ms });
  });
  app.post('/api/_fault/crash', (req, res) => {
    res.status(202).json({ crashing: true });
    setTimeout(() => {
      log.error('fatal: process crashing on request (injected fault)');
      process.exit(70);
    }, 50);
  });
  app.post('/api/_fault/services', (req, res) => {
    const mode = (req.body || {}).mode;
    if (!['ok', 'slow', 'error'].includes(mode)) return res.status(400).json({ message: 'mode must be ok, slow or error' });
    faults.services = mode;
    if (Number.isInteger(req.body.delayMs)) faults.servicesDelayMs = req.body.delayMs;
    log.warn(`fault switch: /api/services is now ${mode}`);
    return res.json(faults);
  });
}

app.use('/api', (req, res) => res.status(404).json({ message: `no route ${req.method} ${req.baseUrl}${req.path}` }));

// eslint-disable-next-line no-unused-vars
app.use((err, req, res, next) => {
  // A client's mistake (a body that is not JSON, too large) is a 4xx, not a server error.
  if (err.status >= 400 && err.status < 500) return res.status(err.status).json({ message: err.message });
  log.error(`${req.method} ${req.originalUrl} failed: ${err.name}: ${err.message}`);
  res.status(500).json({ message: 'Internal Server Error' });
});

const server = http.createServer(app);
const io = new SocketServer(server);
io.on('connection', (socket) => {
  log.info(`websocket connected ${socket.id}`);
  socket.on('disconnect', (reason) => log.info(`websocket disconnected ${socket.id} (${reason})`));
});

server.listen(PORT, '0.0.0.0', () => {
  log.info(`milos-shop stand-in ${buildInfo.version || 'dev'} serving on port ${PORT} ` +
    `(NODE_ENV=${process.env.NODE_ENV || 'development'}, LOG_LEVEL=${log.level}, ` +
    `sentry ${process.env.SENTRY_DSN ? 'enabled' : 'disabled'})`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    log.info(`${sig} received, shutting down`);
    io.close();
    server.close(() => { db.close(); process.exit(0); });
    setTimeout(() => process.exit(0), 3000).unref();
  });
}
