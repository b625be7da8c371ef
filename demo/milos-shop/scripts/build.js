'use strict';
// `npm run build`: copy src/ to dist/ and record what was built with which
// dependency versions in dist/build-info.json (served at /api/version).
// Deterministic: the same sources and node_modules give the same dist/.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const src = path.join(root, 'src');
const dist = path.join(root, 'dist');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(dist);
const hash = crypto.createHash('sha256');
for (const file of fs.readdirSync(src).sort()) {
  const data = fs.readFileSync(path.join(src, file));
  hash.update(file).update(data);
  fs.writeFileSync(path.join(dist, file), data);
}
const dependencies = {};
for (const name of Object.keys(pkg.dependencies || {}).sort()) {
  const manifest = path.join(root, 'node_modules', name, 'package.json');
  dependencies[name] = fs.existsSync(manifest) ? JSON.parse(fs.readFileSync(manifest, 'utf8')).version : null;
}
hash.update(JSON.stringify(dependencies));
const info = { name: pkg.name, version: pkg.version, dependencies, sourceHash: hash.digest('hex').slice(0, 16) };
fs.writeFileSync(path.join(dist, 'build-info.json'), JSON.stringify(info, null, 2) + '\n');
console.log(`build: dist/ ${info.version} (${info.sourceHash})`);
