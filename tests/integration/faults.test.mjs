// Fault tests: SIGKILL the router or brokers under live SDK workers and check
// what the workers notice. A router crash must be invisible to connected
// workers (apart from calls in flight); a broker crash drops only that
// broker's connections, the SDK reconnects and re-registers.

import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import {
  startEngine,
  stopEngineChecked,
  engineTest,
  sdkWorker,
  workerReady,
  workerLocalPort,
  waitFor,
  settle,
  within,
  pidAlive,
  callBuiltin,
  UUID_RE,
  guard,
} from './harness.mjs';

let engine;
const test = engineTest(() => engine);
let w1; // caller
let w2; // owns f::double and f::slow
let bystanders;
const slowStarted = [];
let releaseSlow = () => {};

before(guard(() => engine, 'setup', async () => {
  engine = await startEngine({ brokers: 2 });
  w1 = sdkWorker(engine, 'w1');
  w2 = sdkWorker(engine, 'w2');
  w1.registerFunction('f::hello', async ({ name }) => `hello ${name}`);
  w2.registerFunction('f::double', async ({ n }) => ({ n: n * 2 }));
  w2.registerFunction('f::slow', async (input) => {
    slowStarted.push(input);
    await new Promise((r) => {
      const prev = releaseSlow;
      releaseSlow = () => {
        prev();
        r();
      };
    });
    return { slow: true };
  });
  bystanders = [sdkWorker(engine, 'by1'), sdkWorker(engine, 'by2'), sdkWorker(engine, 'by3')];
  bystanders.forEach((b, i) => b.registerFunction(`f::by${i}`, async () => i));
  await Promise.all([w1, w2, ...bystanders].map((w) => workerReady(w)));
}));

after(async () => {
  releaseSlow();
  await stopEngineChecked(engine, assert);
});

const all = () => [w1, w2, ...bystanders];

async function callWorks(from, fn, payload, expect) {
  const r = await settle(from.trigger({ function_id: fn, payload, timeoutMs: 3000 }));
  return r.ok && JSON.stringify(r.value) === JSON.stringify(expect);
}

function snapshot() {
  return new Map(all().map((w) => [w, { ws: w.ws, id: w.workerId }]));
}

test('SIGKILL the router: workers keep their connections and calls work again', async (t) => {
  const { router: oldRouter } = await engine.waitForChildren();
  const before = snapshot();

  // A call in flight when the router dies must fail with an error from the
  // engine, not hang until the SDK's own deadline.
  slowStarted.length = 0;
  const inflight = settle(w1.trigger({ function_id: 'f::slow', payload: { k: 1 }, timeoutMs: 25000 }));
  await waitFor(() => slowStarted.length > 0, { what: 'f::slow to start' });

  process.kill(oldRouter.pid, 'SIGKILL');

  const newRouter = await waitFor(
    () => {
      const r = engine.router();
      return r && r.pid !== oldRouter.pid ? r : null;
    },
    { timeout: 15000, what: 'the master to respawn the router' },
  );
  assert.ok(!pidAlive(oldRouter.pid));
  assert.notEqual(newRouter.pid, oldRouter.pid);

  // Both directions work again, on the same connections.
  await waitFor(() => callWorks(w1, 'f::double', { n: 21 }, { n: 42 }), {
    timeout: 20000,
    interval: 200,
    what: 'w1 -> f::double (on w2) to work after the router restart',
  });
  await waitFor(() => callWorks(w2, 'f::hello', { name: 'x' }, 'hello x'), {
    timeout: 10000,
    interval: 200,
    what: 'w2 -> f::hello (on w1) to work after the router restart',
  });
  for (const [i, b] of bystanders.entries()) {
    await waitFor(() => callWorks(w1, `f::by${i}`, {}, i), { timeout: 10000, what: `f::by${i}` });
  }

  const r = await within(inflight, 25000, 'the in-flight call to settle');
  t.diagnostic(`in-flight call at router crash: ${r.ok ? 'ok ' + JSON.stringify(r.value) : r.error.code + ': ' + r.error.message}`);
  assert.equal(r.ok, false, 'the call in flight at the crash must fail');
  assert.notEqual(r.error.code, 'TIMEOUT', 'the engine must fail it, not leave the SDK to time out');
  releaseSlow();

  for (const [w, s] of before) {
    assert.equal(w.ws, s.ws, `${w.testName} must not reconnect after a router crash`);
    assert.equal(w.workerId, s.id, `${w.testName} keeps its worker id`);
  }
  const list = await callBuiltin(w1, 'engine::workers::list');
  const ids = list.workers.map((w) => w.id);
  for (const w of all()) assert.ok(ids.includes(w.workerId), `${w.testName} (${w.workerId}) listed after router restart`);
  const fl = await callBuiltin(w1, 'engine::functions::list');
  const fids = fl.functions.map((f) => f.function_id);
  for (const id of ['f::hello', 'f::double', 'f::slow', 'f::by0']) assert.ok(fids.includes(id), `${id} re-registered`);
});

test('SIGKILL the broker holding a worker: it reconnects, others stay, calls work again', async (t) => {
  const { brokers } = await engine.waitForChildren();
  const holder = new Map();
  for (const w of all()) {
    const b = await waitFor(() => engine.brokerHolding(workerLocalPort(w)), {
      what: `the broker holding ${w.testName}`,
    });
    holder.set(w, b.pid);
  }
  t.diagnostic(`brokers ${brokers.map((b) => b.pid).join(',')}; ${all().map((w) => `${w.testName}@${holder.get(w)}`).join(' ')}`);
  const victim = holder.get(w2);
  const before = snapshot();

  process.kill(victim, 'SIGKILL');

  const onVictim = all().filter((w) => holder.get(w) === victim);
  const others = all().filter((w) => holder.get(w) !== victim);
  for (const w of onVictim) {
    await waitFor(() => w.ws && w.ws !== before.get(w).ws && w.isOpen() && w.workerId !== before.get(w).id, {
      timeout: 20000,
      what: `${w.testName} to reconnect and get a new worker id`,
    });
  }
  await waitFor(() => callWorks(w1, 'f::double', { n: 5 }, { n: 10 }), {
    timeout: 20000,
    interval: 200,
    what: 'f::double to be callable after w2 reconnected',
  });
  await waitFor(() => callWorks(w2, 'f::hello', { name: 'y' }, 'hello y'), { timeout: 10000, interval: 200 });
  for (const w of others) {
    assert.equal(w.ws, before.get(w).ws, `${w.testName} was on another broker and must not have reconnected`);
  }
  if (others.length === 0) t.diagnostic('all workers were on the killed broker; "others stay" not checked');

  const respawned = await waitFor(
    () => {
      const bs = engine.brokerProcs();
      return bs.length === engine.brokers && !bs.some((b) => b.pid === victim) ? bs : null;
    },
    { timeout: 15000, what: 'the master to respawn the killed broker' },
  );
  assert.ok(!respawned.some((b) => b.pid === victim));
  assert.ok(!pidAlive(victim));

  // The dead connections are gone from the registry, the new ones are listed.
  await waitFor(
    async () => {
      const ids = (await callBuiltin(w1, 'engine::workers::list')).workers.map((w) => w.id);
      return onVictim.every((w) => ids.includes(w.workerId) && !ids.includes(before.get(w).id));
    },
    { what: 'engine::workers::list to show the reconnected workers only under their new ids' },
  );
});

test('SIGKILL every broker: the SDK reconnects and its functions are callable again', async () => {
  const { brokers } = await engine.waitForChildren();
  const before = snapshot();
  for (const b of brokers) process.kill(b.pid, 'SIGKILL');

  for (const w of all()) {
    await waitFor(() => w.ws && w.ws !== before.get(w).ws && w.isOpen(), {
      timeout: 30000,
      interval: 100,
      what: `${w.testName} to reconnect`,
    });
  }
  await waitFor(() => callWorks(w1, 'f::double', { n: 8 }, { n: 16 }), {
    timeout: 20000,
    interval: 200,
    what: 'f::double to be callable again',
  });
  for (const [i, b] of bystanders.entries()) {
    await waitFor(() => callWorks(b, 'f::hello', { name: `b${i}` }, `hello b${i}`), { timeout: 10000, interval: 200 });
  }
  const now = await engine.waitForChildren(15000);
  for (const b of brokers) {
    assert.ok(!now.brokers.some((n) => n.pid === b.pid), `broker ${b.pid} was replaced`);
  }
  for (const w of all()) {
    assert.match(w.workerId, UUID_RE);
    assert.notEqual(w.workerId, before.get(w).id, `${w.testName} got a new worker id`);
  }
});
