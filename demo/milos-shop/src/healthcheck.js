'use strict';
// Docker HEALTHCHECK: healthy when GET /api/services answers 200 with a JSON list.
const port = Number(process.env.PORT || 5000);
fetch(`http://127.0.0.1:${port}/api/services`, { signal: AbortSignal.timeout(4000) })
  .then(async (res) => {
    const body = await res.json();
    process.exit(res.status === 200 && Array.isArray(body) ? 0 : 1);
  })
  .catch(() => process.exit(1));
