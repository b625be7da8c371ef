'use strict';
// Log lines on stdout: "<ISO time> [<level>] <message>".
// Request lines carry the guide's format as their message:
//   METHOD /api/path STATUS in DURATIONms :: {response_json}
const LEVELS = { error: 0, warn: 1, info: 2, debug: 3 };
const configured = String(process.env.LOG_LEVEL || 'info').toLowerCase();
const threshold = configured in LEVELS ? LEVELS[configured] : LEVELS.info;
const MAX_JSON = 400;

function write(level, message) {
  if (LEVELS[level] > threshold) return;
  process.stdout.write(`${new Date().toISOString()} [${level}] ${message}\n`);
}

function requestLine(method, path, status, durationMs, body) {
  let line = `${method} ${path} ${status} in ${durationMs}ms`;
  if (body !== undefined) {
    let json = JSON.stringify(body);
    if (json.length > MAX_JSON) json = json.slice(0, MAX_JSON - 1) + '…';
    line += ` :: ${json}`;
  }
  return line;
}

module.exports = {
  error: (m) => write('error', m),
  warn: (m) => write('warn', m),
  info: (m) => write('info', m),
  debug: (m) => write('debug', m),
  requestLine,
  level: Object.keys(LEVELS).find((k) => LEVELS[k] === threshold),
};
