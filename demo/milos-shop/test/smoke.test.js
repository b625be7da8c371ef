'use strict';
// `npm test`: checks of the built stand-in that need no database (host Node.js).
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');

const dist = path.join(__dirname, '..', 'dist');

test('request lines use the guide format', () => {
  const { requestLine } = require(path.join(dist, 'logger.js'));
  assert.strictEqual(requestLine('GET', '/api/services', 200, 3, [{ id: 1 }]), 'GET /api/services 200 in 3ms :: [{"id":1}]');
});

test('dependencies load', () => {
  for (const name of ['express', 'express-rate-limit', 'socket.io']) assert.ok(require(name));
});

test('build info names the installed dependency versions', () => {
  const info = require(path.join(dist, 'build-info.json'));
  assert.match(info.dependencies.express, /^4\./);
});
