// Links between hosts (issue: security): a broker on another host connects to the
// router over TCP with ZeroMQ CURVE. `trine keygen` makes the key pairs; the router
// admits only the public keys in curve_allowed_keys_file. What a user notices: a broker
// with a listed key serves workers whose functions the rest of the engine can call; a
// broker with an unlisted key, or with no key at all, never gets its workers' functions
// into the engine, and the router logs the refusal.

import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import {
  TRINE_BIN,
  startEngine,
  stopEngineChecked,
  engineTest,
  sdkWorker,
  workerReady,
  waitFor,
  sleep,
  callBuiltin,
  pidAlive,
  guard,
} from './harness.mjs';

let engine;
let keys;
let routerPort;
const test = engineTest(() => engine);
const brokers = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

before(guard(() => engine, 'setup', async () => {
  const dir = fs.mkdtempSync('/tmp/trine-curve-');
  keys = dir;
  for (const who of ['router', 'good', 'intruder']) execFileSync(TRINE_BIN, ['keygen', `${dir}/${who}`]);
  fs.writeFileSync(`${dir}/allowed`, `# brokers allowed to connect\n${fs.readFileSync(`${dir}/good.pub`, 'utf8')}`);
  routerPort = await freePort();
  engine = await startEngine({
    args: ['--router_listen', `tcp://127.0.0.1:${routerPort}`,
      '--curve_secret_key_file', `${dir}/router.key`,
      '--curve_allowed_keys_file', `${dir}/allowed`],
  });
}));

after(async () => {
  for (const b of brokers) if (pidAlive(b.pid)) b.kill('SIGKILL');
  await stopEngineChecked(engine, assert);
  fs.rmSync(keys, { recursive: true, force: true });
});

// A standalone broker on its own worker port, linked to the router over TCP.
async function remoteBroker(keyName) {
  const port = await freePort();
  const args = ['broker', '--worker_port', String(port), '--http_port', '0', '--stream_port', '0',
    '--router_endpoint', `tcp://127.0.0.1:${routerPort}`, '--data_dir', `${keys}/data-${port}`,
    '--log_level', 'info'];
  if (keyName) args.push('--curve_secret_key_file', `${keys}/${keyName}.key`,
    '--curve_server_key_file', `${keys}/router.pub`);
  const b = spawn(TRINE_BIN, args, { stdio: 'ignore' });
  brokers.push(b);
  await waitFor(() => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  }), { what: `the ${keyName || 'plain'} broker to listen` });
  return { url: `ws://127.0.0.1:${port}`, proc: b };
}

const listed = async (w, id) =>
  (await callBuiltin(w, 'engine::functions::list')).functions.some((f) => f.function_id === id);

test('a broker with a listed key links over TCP: its worker is callable from the engine', async () => {
  const local = sdkWorker(engine, 'curve-local');
  await workerReady(local);
  const b = await remoteBroker('good');
  const remote = sdkWorker({ ...engine, url: b.url, workers: engine.workers }, 'curve-remote');
  remote.registerFunction('remote::hello', async (d) => ({ hi: d.name }));
  await waitFor(() => listed(local, 'remote::hello'), { timeout: 15000, what: 'remote::hello in the engine' });
  const r = await local.trigger({ function_id: 'remote::hello', payload: { name: 'curve' } });
  assert.deepEqual(r, { hi: 'curve' });
});

test('a broker with an unlisted key, or without keys, is refused: its functions never appear', async () => {
  const local = sdkWorker(engine, 'curve-local2');
  await workerReady(local);
  const bad = await remoteBroker('intruder');
  const plain = await remoteBroker(null);
  const w1 = sdkWorker({ ...engine, url: bad.url, workers: engine.workers }, 'curve-intruder');
  w1.registerFunction('intruder::fn', async () => 'no');
  const w2 = sdkWorker({ ...engine, url: plain.url, workers: engine.workers }, 'curve-plain');
  w2.registerFunction('plain::fn', async () => 'no');
  await waitFor(() => /curve: refused a link/.test(engine.log()), { timeout: 15000,
    what: 'the router to log the refused key' });
  await sleep(2000);
  assert.equal(await listed(local, 'intruder::fn'), false, 'an unlisted key reaches nothing');
  assert.equal(await listed(local, 'plain::fn'), false, 'a plaintext link reaches nothing');
});
