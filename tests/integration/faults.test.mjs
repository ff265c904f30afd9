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
  RawClient,
  sleep,
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
  const more = Array.from({ length: 10 }, (_, i) =>
    settle(bystanders[i % 3].trigger({ function_id: 'f::slow', payload: { k: 100 + i }, timeoutMs: 25000 })),
  );
  await waitFor(() => slowStarted.length === 11, { what: 'all 11 f::slow calls to start' });

  engine.killChild(oldRouter.pid);

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
  for (const [i, m] of (await Promise.all(more)).entries()) {
    assert.equal(m.ok, false, `in-flight call ${i} must fail`);
    assert.notEqual(m.error.code, 'TIMEOUT', `in-flight call ${i}: the engine must fail it`);
  }
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

test('router restart: registrations made during the outage and trigger bindings survive', async () => {
  const { router: oldRouter } = await engine.waitForChildren();
  // A trigger type provided by a bystander, with a binding made before the crash.
  const delivered = [];
  bystanders[0].registerTriggerType(
    { id: 'ftype', description: 'fault test type' },
    {
      registerTrigger: async (t) => {
        delivered.push(t);
      },
      unregisterTrigger: async () => {},
    },
  );
  await workerReady(bystanders[0]);
  w1.registerTrigger({ type: 'ftype', function_id: 'f::hello', config: { before: true } });
  await waitFor(() => delivered.find((t) => t.config && t.config.before), { what: 'the pre-crash binding' });

  engine.killChild(oldRouter.pid);
  // While the router is down: a new function, and a brand-new connection.
  w2.registerFunction('f::during', async () => 'registered during the outage');
  const late = await RawClient.open(engine);
  late.send({ type: 'registerfunction', id: 'raw::during' });

  await waitFor(
    () => {
      const r = engine.router();
      return r && r.pid !== oldRouter.pid;
    },
    { timeout: 15000, what: 'the router to be respawned' },
  );
  const reg = await late.waitForMessage((m) => m.type === 'workerregistered', {
    timeout: 15000,
    what: 'workerregistered for a connection opened during the outage',
  });
  assert.match(reg.worker_id, UUID_RE);
  await waitFor(() => callWorks(w1, 'f::during', {}, 'registered during the outage'), {
    timeout: 20000,
    interval: 200,
    what: 'f::during (registered while the router was down) to be callable',
  });
  const p = settle(w1.trigger({ function_id: 'raw::during', payload: { q: 1 }, timeoutMs: 10000 }));
  const inv = await waitFor(
    () => late.messages.find((m) => m.type === 'invokefunction' && m.function_id === 'raw::during'),
    { timeout: 10000, what: 'raw::during (registered on a connection opened during the outage) to be invoked' },
  );
  late.send({ type: 'invocationresult', invocation_id: inv.invocation_id, function_id: 'raw::during', result: 'late ok' });
  const r = await p;
  assert.ok(r.ok, r.error && r.error.message);
  assert.equal(r.value, 'late ok');
  late.terminate();

  // The trigger type still has its provider: a new binding reaches it.
  w2.registerTrigger({ type: 'ftype', function_id: 'f::double', config: { after: true } });
  await waitFor(() => delivered.find((t) => t.config && t.config.after), {
    timeout: 10000,
    what: 'a post-restart binding to reach the provider',
  });
  const bindings = (await callBuiltin(w1, 'engine::registered-triggers::list')).registered_triggers;
  assert.ok(
    bindings.some((b) => b.trigger_type === 'ftype' && b.function_id === 'f::hello'),
    `the pre-crash binding is still registered: ${JSON.stringify(bindings)}`,
  );
});

test('router killed under load, twice in a row: every call settles, then all works without reconnects', async (t) => {
  const before = snapshot();
  let stop = false;
  const outcomes = { ok: 0, failed: {}, wrong: 0 };
  const pump = async (from, k) => {
    let i = 0;
    while (!stop) {
      const n = k * 100000 + i++;
      const r = await settle(from.trigger({ function_id: 'f::double', payload: { n }, timeoutMs: 20000 }));
      if (r.ok) {
        if (r.value.n === 2 * n) outcomes.ok++;
        else outcomes.wrong++;
      } else {
        outcomes.failed[r.error.code] = (outcomes.failed[r.error.code] || 0) + 1;
      }
    }
  };
  const pumps = [w1, ...bystanders].flatMap((w, k) => [pump(w, 2 * k), pump(w, 2 * k + 1)]);
  await waitFor(() => outcomes.ok > 50, { what: 'the load to run' });

  for (let round = 0; round < 2; round++) {
    const { router } = await engine.waitForChildren();
    engine.killChild(router.pid);
    await waitFor(
      () => {
        const r = engine.router();
        return r && r.pid !== router.pid;
      },
      { timeout: 15000, what: `router respawn (round ${round})` },
    );
  }
  const okAfter = outcomes.ok;
  await waitFor(() => outcomes.ok > okAfter + 50, { timeout: 20000, what: 'calls to succeed again after the restarts' });
  stop = true;
  await within(Promise.all(pumps), 25000, 'every call in flight to settle');
  t.diagnostic(`outcomes under router kills: ${JSON.stringify(outcomes)}`);
  assert.equal(outcomes.wrong, 0, 'no call returned somebody else\'s result');
  assert.equal(outcomes.failed.TIMEOUT, undefined, 'no call was left to the SDK deadline');
  for (const [w, s] of before) assert.equal(w.ws, s.ws, `${w.testName} must not reconnect`);
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

  // A caller on the other broker, and a raw worker (which will not reconnect)
  // on the victim broker; open connections until each lands where needed.
  let remoteCaller = all().find((w) => holder.get(w) !== victim) || null;
  for (let i = 0; !remoteCaller && i < 8; i++) {
    const w = sdkWorker(engine, `extra${i}`);
    await workerReady(w);
    const b = engine.brokerHolding(workerLocalPort(w));
    if (b && b.pid !== victim) remoteCaller = w;
  }
  let rawOnVictim = null;
  for (let i = 0; !rawOnVictim && i < 10; i++) {
    const c = await RawClient.open(engine);
    await c.waitForMessage((m) => m.type === 'workerregistered');
    const b = engine.brokerHolding(c.ws._socket.localPort);
    if (b && b.pid === victim) rawOnVictim = c;
    else c.terminate();
  }
  if (rawOnVictim) {
    rawOnVictim.send({ type: 'registerfunction', id: 'raw::ondead' });
    await rawOnVictim.pingPong();
    const p = w1.trigger({ function_id: 'raw::ondead', payload: {}, timeoutMs: 10000 });
    const inv = await rawOnVictim.waitForMessage((m) => m.type === 'invokefunction');
    rawOnVictim.send({ type: 'invocationresult', invocation_id: inv.invocation_id, function_id: 'raw::ondead', result: 1 });
    assert.equal(await p, 1);
  }
  slowStarted.length = 0;
  const inflight = remoteCaller
    ? settle(remoteCaller.trigger({ function_id: 'f::slow', payload: { k: 2 }, timeoutMs: 25000 }))
    : null;
  if (inflight) await waitFor(() => slowStarted.length > 0, { what: 'f::slow to start' });
  const before = snapshot();
  const remoteWs = remoteCaller && remoteCaller.ws;

  engine.killChild(victim);

  if (inflight) {
    const r = await within(inflight, 25000, 'the in-flight call to the dead broker to settle');
    assert.equal(r.ok, false, 'a call whose target was on the killed broker must fail');
    assert.equal(r.error.code, 'invocation_stopped', `got ${r.error.code}: ${r.error.message}`);
  } else {
    t.diagnostic('could not get a caller onto the other broker; in-flight check skipped');
  }
  if (rawOnVictim) {
    // Its functions must go away with it, not hang callers.
    await waitFor(
      async () => {
        const s = await settle(w1.trigger({ function_id: 'raw::ondead', payload: {}, timeoutMs: 3000 }));
        return !s.ok && s.error.code === 'function_not_found';
      },
      { timeout: 15000, interval: 200, what: 'raw::ondead to be function_not_found after its broker died' },
    );
  } else {
    t.diagnostic('no raw client landed on the victim broker; cleanup check skipped');
  }

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
  if (remoteCaller) {
    assert.equal(remoteCaller.ws, remoteWs, `${remoteCaller.testName} was on the surviving broker and must not have reconnected`);
  }
  if (others.length === 0 && !remoteCaller) t.diagnostic('all workers were on the killed broker; "others stay" not checked');

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

test('a broker frozen past the heartbeat deadline (SIGSTOP): after SIGCONT its workers work again', async (t) => {
  const { brokers } = await engine.waitForChildren();
  // A worker on one broker and a caller on the other.
  const placed = new Map();
  for (let i = 0; i < 12 && placed.size < 2; i++) {
    const w = sdkWorker(engine, `freeze${i}`);
    w.registerFunction(`f::freeze${i}`, async () => `freeze${i}`);
    await workerReady(w);
    const b = engine.brokerHolding(workerLocalPort(w));
    if (b && !placed.has(b.pid)) placed.set(b.pid, { w, fn: `f::freeze${i}`, ret: `freeze${i}` });
  }
  if (placed.size < 2) {
    t.skip('could not place workers on both brokers');
    return;
  }
  const [[frozenPid, target], [, caller]] = [...placed.entries()];
  t.diagnostic(`freezing broker ${frozenPid} (brokers ${brokers.map((b) => b.pid)})`);
  const wsBefore = target.w.ws;
  process.kill(frozenPid, 'SIGSTOP');
  try {
    // The router must notice (heartbeats) and stop routing to the frozen broker.
    await waitFor(
      async () => {
        const r = await settle(caller.w.trigger({ function_id: target.fn, payload: {}, timeoutMs: 2000 }));
        return !r.ok && r.error.code === 'function_not_found';
      },
      { timeout: 20000, interval: 250, what: 'calls to a worker on the frozen broker to fail with function_not_found' },
    );
  } finally {
    process.kill(frozenPid, 'SIGCONT');
  }
  // Back: its worker must be reachable again (by replay, or by being closed so the SDK reconnects).
  await waitFor(() => callWorks(caller.w, target.fn, {}, target.ret), {
    timeout: 20000,
    interval: 250,
    what: `${target.fn} (on the resumed broker) to be callable again`,
  });
  t.diagnostic(`the worker ${target.w.ws === wsBefore ? 'kept its connection' : 'reconnected'}`);
  // And the worker on the resumed broker can call out.
  await waitFor(() => callWorks(target.w, caller.fn, {}, caller.ret), {
    timeout: 10000,
    interval: 250,
    what: 'the resumed worker to call out again',
  });
});

test('SIGKILL every broker: the SDK reconnects and its functions are callable again', async () => {
  const { brokers } = await engine.waitForChildren();
  const before = snapshot();
  // bystanders[0] provides 'ftype' (see the router-restart test), w1 and w2 bound it.
  const delivered = [];
  bystanders[0].triggerTypes.get('ftype').handler.registerTrigger = async (t) => {
    delivered.push(t);
  };
  for (const b of brokers) engine.killChild(b.pid);

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
  // The provider, back on a new connection, gets the bindings again.
  await waitFor(() => delivered.some((t) => t.function_id === 'f::hello' && t.config.before), {
    timeout: 15000,
    what: "w1's ftype binding to be delivered to the reconnected provider",
  });
  await waitFor(() => delivered.some((t) => t.function_id === 'f::double' && t.config.after), {
    timeout: 15000,
    what: "w2's ftype binding to be delivered to the reconnected provider",
  });
  const now = await engine.waitForChildren(15000);
  for (const b of brokers) {
    assert.ok(!now.brokers.some((n) => n.pid === b.pid), `broker ${b.pid} was replaced`);
  }
  for (const w of all()) {
    assert.match(w.workerId, UUID_RE);
    assert.notEqual(w.workerId, before.get(w).id, `${w.testName} got a new worker id`);
  }
});
