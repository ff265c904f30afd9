// Worker-provided trigger types: the engine forwards every binding of a type to
// the worker that provides it, parks bindings until a provider appears, and
// passes a provider's rejection back to the worker that registered the binding.

import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import {
  startEngine,
  stopEngineChecked,
  engineTest,
  sdkWorker,
  workerReady,
  waitFor,
  sleep,
  guard,
} from './harness.mjs';

let engine;
const test = engineTest(() => engine);

before(guard(() => engine, 'setup', async () => {
  engine = await startEngine();
}));

after(async () => {
  await stopEngineChecked(engine, assert);
});

function recordingProvider() {
  const rec = { registered: [], unregistered: [] };
  rec.handler = {
    registerTrigger: async (t) => {
      rec.registered.push(t);
    },
    unregisterTrigger: async (t) => {
      rec.unregistered.push(t);
    },
  };
  return rec;
}

test('a binding of a worker-provided type reaches the provider with its config', async () => {
  const a = sdkWorker(engine, 'provider-a');
  const b = sdkWorker(engine, 'binder-b');
  const rec = recordingProvider();
  a.registerTriggerType({ id: 'demo', description: 'demo trigger' }, rec.handler);
  await workerReady(a);

  const fired = [];
  b.registerFunction('demo::target', async (input) => {
    fired.push(input);
    return { ok: true };
  });
  const trig = b.registerTrigger({ type: 'demo', function_id: 'demo::target', config: { every: 'tuesday', n: 3 } });
  await workerReady(b);

  const got = await waitFor(() => rec.registered.find((t) => t.function_id === 'demo::target'), {
    what: "provider A's registerTrigger for demo::target",
  });
  assert.deepEqual(got.config, { every: 'tuesday', n: 3 });
  assert.equal(typeof got.id, 'string');
  assert.ok(b.triggers.has(got.id), 'the provider sees the id the binding worker chose');

  // The provider fires the trigger by invoking the bound function.
  assert.deepEqual(await a.trigger({ function_id: got.function_id, payload: { tick: 1 } }), { ok: true });
  assert.equal(fired.at(-1).tick, 1);

  // Removing the binding tells the provider.
  trig.unregister();
  const gone = await waitFor(() => rec.unregistered.find((t) => t.id === got.id), {
    what: "provider A's unregisterTrigger",
  });
  assert.equal(gone.id, got.id);
});

test('a binding registered before its type exists is delivered when the provider arrives', async () => {
  const c = sdkWorker(engine, 'early-binder');
  c.registerFunction('late::target', async () => 'ok');
  c.registerTrigger({ type: 'latetype', function_id: 'late::target', config: { parked: true } });
  await workerReady(c);
  await sleep(300); // give a wrong engine time to drop it

  const d = sdkWorker(engine, 'late-provider');
  const rec = recordingProvider();
  d.registerTriggerType({ id: 'latetype', description: 'arrives late' }, rec.handler);
  await workerReady(d);
  const got = await waitFor(() => rec.registered.find((t) => t.function_id === 'late::target'), {
    what: 'the parked binding to reach the late provider',
  });
  assert.deepEqual(got.config, { parked: true });
});

test("a provider's rejection is passed back to the worker that registered the binding", async () => {
  const errors = [];
  const origError = console.error;
  console.error = (...args) => {
    errors.push(args.map(String).join(' '));
    origError(...args);
  };
  try {
    const e = sdkWorker(engine, 'picky-provider');
    e.registerTriggerType(
      { id: 'picky', description: 'rejects everything' },
      {
        registerTrigger: async () => {
          throw new Error('picky says no');
        },
        unregisterTrigger: async () => {},
      },
    );
    await workerReady(e);
    const f = sdkWorker(engine, 'rejected-binder');
    f.registerFunction('picky::target', async () => 'never');
    f.registerTrigger({ type: 'picky', function_id: 'picky::target', config: {} });
    await workerReady(f);
    // iii-sdk 0.22.1 reports a failed registration by logging it:
    // [iii] Trigger registration failed for "<id>" (picky): picky says no
    const line = await waitFor(() => errors.find((l) => l.includes('Trigger registration failed')), {
      what: 'the binding worker to be told about the rejection',
    });
    assert.match(line, /\(picky\): picky says no/);
    const [id] = [...f.triggers.keys()];
    assert.ok(line.includes(id), `the rejection names the binding id ${id}: ${line}`);
  } finally {
    console.error = origError;
  }
});

test('when the binding worker leaves, the provider is told to unregister its bindings', async () => {
  const p = sdkWorker(engine, 'leave-provider');
  const rec = recordingProvider();
  p.registerTriggerType({ id: 'leavetype', description: 'x' }, rec.handler);
  await workerReady(p);
  const b = sdkWorker(engine, 'leaving-binder');
  b.registerFunction('leave::target', async () => 1);
  b.registerTrigger({ type: 'leavetype', function_id: 'leave::target', config: { a: 1 } });
  await workerReady(b);
  const got = await waitFor(() => rec.registered.find((t) => t.function_id === 'leave::target'), {
    what: 'the binding to reach the provider',
  });
  await b.shutdown();
  engine.workers.delete(b);
  const gone = await waitFor(() => rec.unregistered.find((t) => t.id === got.id), {
    what: 'unregisterTrigger at the provider after the binding worker left',
  });
  assert.equal(gone.id, got.id);
});

test('when the provider leaves, its bindings wait for the next provider of the type', async () => {
  const p1 = sdkWorker(engine, 'provider-one');
  const rec1 = recordingProvider();
  p1.registerTriggerType({ id: 'handover', description: 'x' }, rec1.handler);
  await workerReady(p1);
  const b = sdkWorker(engine, 'handover-binder');
  b.registerFunction('handover::target', async () => 1);
  b.registerTrigger({ type: 'handover', function_id: 'handover::target', config: { keep: 'me' } });
  await workerReady(b);
  await waitFor(() => rec1.registered.length > 0, { what: 'the binding to reach the first provider' });
  await p1.shutdown();
  engine.workers.delete(p1);
  const types = await waitFor(
    async () => {
      const r = await b.trigger({ function_id: 'engine::triggers::list', payload: {} });
      return !r.triggers.some((t) => t.id === 'handover') ? r : null;
    },
    { what: 'the trigger type to go away with its provider' },
  );
  assert.ok(types);

  const p2 = sdkWorker(engine, 'provider-two');
  const rec2 = recordingProvider();
  p2.registerTriggerType({ id: 'handover', description: 'x' }, rec2.handler);
  await workerReady(p2);
  const got = await waitFor(() => rec2.registered.find((t) => t.function_id === 'handover::target'), {
    what: 'the existing binding to reach the second provider',
  });
  assert.deepEqual(got.config, { keep: 'me' });
});

test('engine::workers-available fires on worker connect and disconnect', async () => {
  const watcher = sdkWorker(engine, 'watcher');
  const events = [];
  watcher.registerFunction('watch::workers', async (e) => {
    events.push(e);
    return null;
  });
  watcher.registerTrigger({ type: 'engine::workers-available', function_id: 'watch::workers', config: {} });
  await workerReady(watcher);
  await sleep(200);
  const v = sdkWorker(engine, 'visitor');
  await workerReady(v);
  const id = v.workerId;
  const conn = await waitFor(() => events.find((e) => e.event === 'worker_connected' && e.worker_id === id), {
    what: `worker_connected for ${id}`,
  });
  assert.equal(conn.worker_id, id);
  await v.shutdown();
  engine.workers.delete(v);
  await waitFor(() => events.find((e) => e.event === 'worker_disconnected' && e.worker_id === id), {
    what: `worker_disconnected for ${id}`,
  });
  const mine = events.filter((e) => e.worker_id === id);
  assert.equal(mine.filter((e) => e.event === 'worker_connected').length, 1, JSON.stringify(mine));
  assert.equal(mine.filter((e) => e.event === 'worker_disconnected').length, 1, JSON.stringify(mine));
});
