// Worker authentication (worker_auth token | function), per-worker function
// access from the auth function's result (FORBIDDEN), and the
// max_registrations_per_worker limit. A refused worker is closed with 4001
// and a reason, and never gets a workerregistered (nothing it sends counts).

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { before, after, describe } from 'node:test';
import {
  startEngine,
  stopEngineChecked,
  engineTest,
  guard,
  sdkWorker,
  workerReady,
  RawClient,
  within,
  waitFor,
  sleep,
} from './harness.mjs';

const SECRET = 's3cret-' + crypto.randomBytes(8).toString('hex');

function invoke(c, fn, data = {}) {
  const id = crypto.randomUUID();
  const from = c.messages.length;
  c.send({ type: 'invokefunction', invocation_id: id, function_id: fn, data });
  return c.waitForMessage((m) => m.type === 'invocationresult' && m.invocation_id === id, {
    from,
    what: `result of ${fn}`,
  });
}

async function refused(engine, path, opts = {}) {
  const c = new RawClient(engine, path, opts);
  const info = await within(c.closed, 15000, 'close of a refused worker');
  assert.equal(info.code, 4001, `close code for ${path}: ${JSON.stringify(info)}`);
  assert.match(info.reason, /unauthorized/);
  assert.ok(!c.messages.some((m) => m.type === 'workerregistered'), 'a refused worker is not registered');
  return info;
}

describe('worker_auth token', () => {
  let engine;
  const test = engineTest(() => engine);
  before(guard(() => engine, 'setup', async () => {
    engine = await startEngine({ args: ['--worker_auth', 'token', '--worker_auth_token', SECRET] });
  }));
  after(async (t) => stopEngineChecked(engine, assert));

  test('no token, a wrong token or a wrong bearer: closed with 4001', async () => {
    await refused(engine, '/');
    await refused(engine, '/?token=nope');
    await refused(engine, '/?token=' + SECRET.slice(0, -1));
    await refused(engine, '/', { headers: { Authorization: 'Bearer ' + SECRET + 'x' } });
  });

  test('the token in ?token= or as a bearer header admits the worker', async () => {
    const q = await RawClient.open(engine, '/?token=' + encodeURIComponent(SECRET));
    await q.waitForMessage((m) => m.type === 'workerregistered');
    await q.pingPong();
    const w = sdkWorker(engine, 'sec-token', { headers: { Authorization: `Bearer ${SECRET}` } });
    w.registerFunction('sec::echo', async (d) => ({ echo: d.v }));
    await workerReady(w);
    const r = await invoke(q, 'sec::echo', { v: 7 });
    assert.deepEqual(r.result, { echo: 7 });
    q.terminate();
  });
});

describe('worker_auth function', () => {
  let engine;
  let lastAuth = null;
  const test = engineTest(() => engine);
  before(guard(() => engine, 'setup', async () => {
    engine = await startEngine({
      args: [
        '--worker_auth', 'function',
        '--worker_auth_function', 'auth::check',
        '--worker_auth_token', SECRET,
        '--max_registrations_per_worker', '6',
      ],
    });
    // trusted by its token: it provides the auth function itself
    const w = sdkWorker(engine, 'sec-auth', { headers: { Authorization: `Bearer ${SECRET}` } });
    w.registerFunction('auth::check', async (req) => {
      lastAuth = req;
      const tok = (req.query_params?.token || [])[0];
      if (tok !== 'good') throw new Error('bad ticket');
      return { allowed_functions: ['app::*'], forbidden_functions: ['app::secret'] };
    });
    w.registerFunction('app::hello', async () => ({ hi: true }));
    w.registerFunction('app::secret', async () => ({ secret: 42 }));
    w.registerFunction('other::x', async () => ({ x: 1 }));
    await workerReady(w);
  }));
  after(async () => stopEngineChecked(engine, assert));

  test('the function refuses: closed with 4001 and its message', async () => {
    const info = await refused(engine, '/?token=bad');
    assert.match(info.reason, /bad ticket/);
  });

  test('the function gets headers, query_params and ip_address', async () => {
    const c = await RawClient.open(engine, '/?token=good&x=1&x=2', { headers: { 'X-App': 'demo' } });
    await c.waitForMessage((m) => m.type === 'workerregistered');
    assert.deepEqual(lastAuth.query_params, { token: ['good'], x: ['1', '2'] });
    assert.equal(lastAuth.headers['x-app'], 'demo');
    assert.equal(typeof lastAuth.ip_address, 'string');
    assert.ok(lastAuth.ip_address.length > 0);
    c.terminate();
  });

  test('allowed functions answer, forbidden and unlisted ones get FORBIDDEN', async () => {
    const c = await RawClient.open(engine, '/?token=good');
    await c.waitForMessage((m) => m.type === 'workerregistered');
    assert.deepEqual((await invoke(c, 'app::hello')).result, { hi: true });
    const f = await invoke(c, 'app::secret');
    assert.equal(f.error?.code, 'FORBIDDEN');
    assert.match(f.error.message, /forbidden_functions/);
    const u = await invoke(c, 'other::x');
    assert.equal(u.error?.code, 'FORBIDDEN');
    c.terminate();
  });

  test('max_registrations_per_worker: a trigger over it is refused, a function closes the worker (1008)', async () => {
    const c = await RawClient.open(engine, '/?token=good');
    await c.waitForMessage((m) => m.type === 'workerregistered');
    for (let i = 0; i < 6; i++) c.send({ type: 'registerfunction', id: `app::f${i}` });
    c.send({ type: 'registerfunction', id: 'app::f0', description: 're-registering is not a new one' });
    await c.pingPong();
    c.send({ type: 'registertrigger', id: 'tr-over', trigger_type: 'custom', function_id: 'app::f0', config: {} });
    const rej = await c.waitForMessage((m) => m.type === 'triggerregistrationresult' && m.id === 'tr-over');
    assert.equal(rej.error?.code, 'too_many_registrations');
    assert.match(rej.error.message, /max_registrations_per_worker \(6\)/);
    c.send({ type: 'registerfunction', id: 'app::f6' });
    const info = await within(c.closed, 10000, 'close after too many registrations');
    assert.equal(info.code, 1008);
    assert.match(info.reason, /max_registrations_per_worker/);
  });
});

describe('http_bind and stream_bind', () => {
  let engine;
  const test = engineTest(() => engine);
  before(guard(() => engine, 'setup', async () => {
    engine = await startEngine({
      args: ['--bind', '127.0.0.1', '--http_bind', '127.0.0.2', '--stream_bind', '127.0.0.3'],
    });
  }));
  after(async () => stopEngineChecked(engine, assert));

  const reach = (host, port) =>
    new Promise((resolve) => {
      const s = net.connect({ host, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });

  test('each port listens on its own address only', async () => {
    const { workerPort, httpPort, streamPort } = engine;
    assert.equal(await reach('127.0.0.1', workerPort), true, 'worker port on bind');
    assert.equal(await reach('127.0.0.2', workerPort), false, 'worker port not on http_bind');
    await waitFor(() => reach('127.0.0.2', httpPort), { what: 'HTTP on http_bind' });
    assert.equal(await reach('127.0.0.1', httpPort), false, 'HTTP not on bind');
    await waitFor(() => reach('127.0.0.3', streamPort), { what: 'streams on stream_bind' });
    assert.equal(await reach('127.0.0.1', streamPort), false, 'streams not on bind');
    const r = await fetch(`http://127.0.0.2:${httpPort}/nope`);
    assert.equal(r.status, 404);
  });
});
