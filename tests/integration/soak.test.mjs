// Short soak (make check; the long one is bench/soak): ~30 SDK workers,
// calls, HTTP requests and durable publishes run while a random broker,
// fanout or the router is SIGKILLed every few seconds and malformed input
// arrives at rate. The engine must keep serving, respawn what died, deliver
// every durable message it acknowledged, and the master must not leak file
// descriptors.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { before, after } from 'node:test';
import {
  startEngine,
  stopEngineChecked,
  engineTest,
  guard,
  sdkWorker,
  workerReady,
  waitFor,
  settle,
  sleep,
  buildFrame,
} from './harness.mjs';

const WORKERS = Number(process.env.SOAK_WORKERS || 30);
const SECONDS = Number(process.env.SOAK_SECONDS || 24);
const KILL_EVERY_MS = Number(process.env.SOAK_KILL_EVERY_MS || 3000);

let engine;
const test = engineTest(() => engine);

before(guard(() => engine, 'setup', async () => {
  // calls and HTTP requests cut off by a kill fail within 5 s rather than the
  // default 30 s, so none is still open when the engine is stopped at the end
  engine = await startEngine({
    brokers: 2,
    args: ['--fanouts', '1', '--invocation_timeout_ms', '5000', '--http_timeout_ms', '5000'],
  });
}));
after(async () => stopEngineChecked(engine, assert));

const fdCount = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;
const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

// Malformed input of the kinds badinput*.test.mjs covers, one connection each.
const BAD = [
  Buffer.from('GET / HTTP/1.0\r\n\r\n'),
  Buffer.from('POST / HTTP/1.1\r\nHost: x\r\n\r\n'),
  Buffer.from('\x16\x03\x01\x02\x00garbage-tls-hello'),
  Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n' + 'X-Pad: ' + 'a'.repeat(20000) + '\r\n\r\n'),
];
const UPGRADE = 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
const BAD_AFTER_UPGRADE = [
  buildFrame(1, Buffer.from('{"type":"invokefunction","function_id":'), {}),
  buildFrame(1, Buffer.from([0xc3, 0x28]), {}),
  buildFrame(1, Buffer.from('{"type":"ping"}'), { mask: false }),
  buildFrame(1, Buffer.from('{"a":' + '['.repeat(500) + ']'.repeat(500) + '}'), {}),
  buildFrame(0x3, Buffer.from('x'), {}),
  buildFrame(1, Buffer.from('{"type":"registerfunction"}'), { rsv: 4 }),
];

function sendBad(port, i) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const done = () => { s.destroy(); resolve(); };
    s.on('error', done);
    s.setTimeout(2000, done);
    s.on('connect', () => {
      if (i % 2 === 0) s.write(BAD[(i >> 1) % BAD.length]);
      else s.write(Buffer.concat([Buffer.from(UPGRADE), BAD_AFTER_UPGRADE[(i >> 1) % BAD_AFTER_UPGRADE.length]]));
      setTimeout(done, 50);
    });
  });
}

test(`soak: ${WORKERS} workers, calls, HTTP, durable publishes, kill -9 every ${KILL_EVERY_MS} ms, bad input`, { timeout: (SECONDS + 100) * 1000 }, async (t) => {
  const workers = [];
  for (let i = 0; i < WORKERS; i++) {
    const w = sdkWorker(engine, `soak-${i}`, { invocationTimeoutMs: 5000 });
    w.registerFunction('soak::echo', async (d) => ({ n: d.n }));
    workers.push(w);
  }
  const delivered = new Set();
  const sub = sdkWorker(engine, 'soak-sub');
  sub.registerFunction('soak::sub', async (d) => { delivered.add(d.n); return null; });
  sub.registerTrigger({ type: 'durable:subscriber', function_id: 'soak::sub', config: { topic: 'soak.t' } });
  sub.registerFunction('soak::http', async () => ({ status_code: 200, body: { ok: true } }));
  sub.registerTrigger({ type: 'http', function_id: 'soak::http', config: { api_path: 'soak', http_method: 'GET' } });
  await Promise.all([...workers, sub].map((w) => workerReady(w, { timeout: 30000 })));
  await waitFor(async () => (await settle(fetch(`http://127.0.0.1:${engine.httpPort}/soak`))).value?.status === 200,
    { timeout: 10000, what: 'the HTTP route' });

  const master = engine.proc.pid;
  const fdBefore = fdCount(master);
  const rssBefore = rssKiB(master);
  const stats = { calls: 0, callsOk: 0, http: 0, httpOk: 0, published: 0, acked: 0, bad: 0, kills: [] };
  const acked = new Set();
  const deadline = Date.now() + SECONDS * 1000;
  let seq = 0;

  async function callLane(w) {
    while (Date.now() < deadline) {
      const r = await settle(w.trigger({ function_id: 'soak::echo', payload: { n: 1 }, timeoutMs: 5000 }));
      stats.calls++;
      if (r.ok) stats.callsOk++;
      else await sleep(50);
    }
  }
  async function httpLane() {
    while (Date.now() < deadline) {
      const r = await settle(fetch(`http://127.0.0.1:${engine.httpPort}/soak`, { signal: AbortSignal.timeout(5000) }));
      stats.http++;
      if (r.ok && r.value.status === 200) stats.httpOk++;
      if (r.ok) await settle(r.value.arrayBuffer());
      else await sleep(50);
    }
  }
  async function pubLane(w) {
    while (Date.now() < deadline) {
      const n = seq++;
      stats.published++;
      const r = await settle(w.trigger({ function_id: 'iii::durable::publish', payload: { topic: 'soak.t', data: { n } }, timeoutMs: 5000 }));
      if (r.ok) acked.add(n);
      else await sleep(50);
    }
  }
  async function badLane() {
    let i = 0;
    while (Date.now() < deadline) {
      await sendBad(engine.workerPort, i++);
      stats.bad++;
    }
  }
  async function killer() {
    while (Date.now() + KILL_EVERY_MS < deadline) {
      await sleep(KILL_EVERY_MS);
      const kids = engine.children().filter((c) => /^trine: (router|broker|fanout)/.test(c.cmdline));
      if (kids.length === 0) continue;
      const v = kids[Math.floor(Math.random() * kids.length)];
      stats.kills.push(v.cmdline.split(' ')[1]);
      engine.killChild(v.pid);
    }
  }
  await Promise.all([
    ...workers.slice(0, 8).map(callLane),
    ...workers.slice(8, 12).map(pubLane),
    httpLane(), httpLane(), badLane(), badLane(), killer(),
  ]);
  stats.acked = acked.size;

  // everything respawned and serving again
  await waitFor(() => engine.router() && engine.brokerProcs().length === 2, { timeout: 20000, what: 'router and brokers respawned' });
  await waitFor(async () => (await settle(workers[0].trigger({ function_id: 'soak::echo', payload: { n: 2 }, timeoutMs: 3000 }))).ok,
    { timeout: 30000, interval: 200, what: 'calls to work again' });
  await waitFor(async () => (await settle(fetch(`http://127.0.0.1:${engine.httpPort}/soak`))).value?.status === 200,
    { timeout: 30000, interval: 200, what: 'HTTP to work again' });
  const missing = () => [...acked].filter((n) => !delivered.has(n));
  await waitFor(() => missing().length === 0, { timeout: 40000, interval: 200, what: `acked messages delivered (${acked.size})` });
  await sleep(500);
  const fdAfter = fdCount(master);
  const rssAfter = rssKiB(master);
  t.diagnostic(`soak: ${JSON.stringify({ ...stats, kills: stats.kills.length, killed: stats.kills.join(','), lost: missing().length, fdBefore, fdAfter, rssBefore, rssAfter })}`);
  assert.ok(stats.kills.length >= 3, 'faults were injected');
  assert.ok(stats.callsOk > 0 && stats.httpOk > 0 && acked.size > 0, 'load was served during the faults');
  assert.deepEqual(missing(), [], 'no acknowledged durable message is lost');
  assert.ok(fdAfter <= fdBefore + 2, `master fds ${fdBefore} -> ${fdAfter}`);
});
