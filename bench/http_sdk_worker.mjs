// The iii-sdk worker of the HTTP trigger benchmark (bench/scenario-http):
//   node http_sdk_worker.mjs <worker_port> <routes> <body-json>
// registers bench::http and <routes> triggers GET /r/<i>/:id, prints "ready"
// once they are applied (a probe call through the engine), then serves.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../tests/package.json'));
const { registerWorker } = require('iii-sdk');

console.debug = () => {};
process.env.OTEL_ENABLED = 'false';
const [port, routes, bodyText] = process.argv.slice(2);
const body = JSON.parse(bodyText);
const w = registerWorker(`ws://127.0.0.1:${port}`, {
  workerName: 'bench-http-sdk',
  otel: { enabled: false },
  enableMetricsReporting: false,
});
w.registerFunction('bench::http', async () => ({ status_code: 200, body }));
for (let i = 0; i < Number(routes); i++) {
  w.registerTrigger({ type: 'http', function_id: 'bench::http', config: { api_path: `/r/${i}/:id`, http_method: 'GET' } });
}
w.registerFunction('bench::probe', async () => ({ ok: true }));
for (;;) {
  try {
    const r = await w.trigger({ function_id: 'bench::probe', payload: {}, timeoutMs: 2000 });
    if (r && r.ok) break;
  } catch {
    await new Promise((res) => setTimeout(res, 100));
  }
}
console.log('ready');
