// Two real iii-sdk workers talking through trine: calls, fire-and-forget,
// errors, large payloads, concurrency, replicas and the engine's built-ins.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, after } from 'node:test';
import { TriggerAction } from 'iii-sdk';
import {
  startEngine,
  stopEngineChecked,
  engineTest,
  sdkWorker,
  workerReady,
  shutdownWorker,
  waitFor,
  settle,
  callBuiltin,
  UUID_RE,
  within,
  guard,
} from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

let engine;
const test = engineTest(() => engine);

let alice; // caller
let bob; // owns the functions
const seen = { echo: [], notify: [] };

before(guard(() => engine, 'setup', async () => {
  engine = await startEngine();
  alice = sdkWorker(engine, 'alice');
  bob = sdkWorker(engine, 'bob');
  bob.registerFunction('bob::echo', async (input) => {
    seen.echo.push(input);
    return { got: input };
  });
  bob.registerFunction('bob::add', async ({ a, b }) => ({ sum: a + b }));
  bob.registerFunction('bob::notify', async (input) => {
    seen.notify.push(input);
    return { ignored: true };
  });
  bob.registerFunction('bob::fail', async (input) => {
    throw new Error(`kaboom ${input.n}`);
  });
  bob.registerFunction('bob::blob', async ({ blob }) => ({
    length: blob.length,
    sha: crypto.createHash('sha256').update(blob).digest('hex'),
    blob,
  }));
  alice.registerFunction('alice::hello', async ({ name }) => `hello ${name}`);
  await Promise.all([workerReady(alice), workerReady(bob)]);
}));

after(async () => {
  await stopEngineChecked(engine, assert);
});

test('both workers receive a UUID worker id in workerregistered', () => {
  assert.match(alice.workerId, UUID_RE);
  assert.match(bob.workerId, UUID_RE);
  assert.notEqual(alice.workerId, bob.workerId);
});

test('a sync call returns the handler result; the handler sees _caller_worker_id', async () => {
  const r = await alice.trigger({ function_id: 'bob::echo', payload: { x: 1, s: 'ü€😀' } });
  assert.equal(r.got.x, 1);
  assert.equal(r.got.s, 'ü€😀');
  assert.equal(r.got._caller_worker_id, alice.workerId, 'engine adds the caller worker id to object payloads');
});

test('calls work in both directions', async () => {
  assert.equal(await bob.trigger({ function_id: 'alice::hello', payload: { name: 'bob' } }), 'hello bob');
  assert.deepEqual(await alice.trigger({ function_id: 'bob::add', payload: { a: 2, b: 40 } }), { sum: 42 });
});

test('non-object payloads are passed through unchanged', async () => {
  seen.echo.length = 0;
  assert.deepEqual(await alice.trigger({ function_id: 'bob::echo', payload: 7 }), { got: 7 });
  assert.deepEqual(await alice.trigger({ function_id: 'bob::echo', payload: 'str' }), { got: 'str' });
  assert.deepEqual(await alice.trigger({ function_id: 'bob::echo', payload: [1, 2] }), { got: [1, 2] });
  assert.deepEqual(await alice.trigger({ function_id: 'bob::echo', payload: null }), { got: null });
});

test('a fire-and-forget (void) call reaches the handler', async () => {
  seen.notify.length = 0;
  const token = crypto.randomUUID();
  const r = await alice.trigger({
    function_id: 'bob::notify',
    payload: { token },
    action: TriggerAction.Void(),
  });
  assert.equal(r, undefined, 'void calls resolve without a result');
  const got = await waitFor(() => seen.notify.find((p) => p && p.token === token), {
    what: 'bob::notify to be invoked by the void call',
  });
  assert.equal(got._caller_worker_id, alice.workerId);
  // A normal call afterwards still works (the discarded reply did not confuse anybody).
  assert.deepEqual(await alice.trigger({ function_id: 'bob::add', payload: { a: 1, b: 1 } }), { sum: 2 });
});

test('a handler that throws gives the caller invocation_failed with the message', async () => {
  const r = await settle(alice.trigger({ function_id: 'bob::fail', payload: { n: 42 } }));
  assert.equal(r.ok, false, 'the call must reject');
  assert.equal(r.error.code, 'invocation_failed');
  assert.match(r.error.message, /kaboom 42/);
  assert.match(String(r.error.stacktrace || ''), /kaboom 42/, 'the stacktrace is relayed too');
});

test('an unknown function gives function_not_found', async () => {
  const r = await settle(alice.trigger({ function_id: 'nobody::home', payload: { a: 1 } }));
  assert.equal(r.ok, false);
  assert.equal(r.error.code, 'function_not_found');
});

test('a 1 MiB payload round-trips intact', async () => {
  const blob = crypto.randomBytes(768 * 1024).toString('base64'); // exactly 1 MiB of text
  assert.equal(blob.length, 1024 * 1024);
  const sha = crypto.createHash('sha256').update(blob).digest('hex');
  const r = await alice.trigger({ function_id: 'bob::blob', payload: { blob }, timeoutMs: 30000 });
  assert.equal(r.length, blob.length);
  assert.equal(r.sha, sha, 'the handler saw the same bytes');
  assert.ok(r.blob === blob, 'the caller got the same bytes back');
});

test('payload values survive the engine unchanged (numbers, unicode, NUL, escapes)', async () => {
  const payload = {
    ints: [0, -1, 2 ** 31, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 63, -(2 ** 63), 2 ** 64 - 2048],
    floats: [0.1, 1.5, -2.25, 1e300, 5e-324, 1e-7, 123456.789],
    strings: ['a\u0000b', 'tab\tnl\ncr\r', 'quote " backslash \\ slash /', '\u2028\u2029', 'é 中文 😀', '\u007f\u0001'],
    nested: { a: [{ b: [[[]]] }, {}], 'key with spaces': true, '': null, 'ключ': false },
  };
  const r = await alice.trigger({ function_id: 'bob::echo', payload });
  const { _caller_worker_id, ...got } = r.got;
  assert.deepEqual(got, payload);
});

test('integers beyond 64 bits are not clamped', async () => {
  // JSON.stringify writes these as plain integer literals ("100000000000000000000").
  const payload = { pos: 1e20, neg: -1e20, neg19: -1e19, pos2_64: 2 ** 64 * 4, huge: 1e30, ok: 12345 };
  const r = await alice.trigger({ function_id: 'bob::echo', payload });
  const { _caller_worker_id, ...got } = r.got;
  assert.deepEqual(got, payload);
});

test('lone surrogates (escaped by JSON.stringify) do not break either connection', async () => {
  const r = await alice.trigger({ function_id: 'bob::echo', payload: { lone: '\ud800x\udfff' } });
  assert.equal(typeof r.got.lone, 'string');
  assert.equal(r.got.lone[1], 'x');
  assert.deepEqual(await alice.trigger({ function_id: 'bob::add', payload: { a: 1, b: 2 } }), { sum: 3 });
});

test('raw JSON escapes and number spellings are decoded the same way JSON.parse does', async () => {
  const { RawClient } = await import('./harness.mjs');
  const c = await RawClient.open(engine);
  await c.waitForMessage((m) => m.type === 'workerregistered');
  const id = crypto.randomUUID();
  const data = '{"e":"\\ud83d\\ude00","u":"\\u00e9\\u4e2d","n":1.0,"x":1E2,"exp":2.5e-3,"u64":18446744073709551615,"big":100000000000000000000}';
  c.send(`{"type":"invokefunction","invocation_id":"${id}","function_id":"bob::echo","data":${data}}`);
  const res = await c.waitForMessage((m) => m.type === 'invocationresult' && m.invocation_id === id);
  const { _caller_worker_id, ...got } = res.result.got;
  assert.deepEqual(got, JSON.parse(data));
  c.terminate();
});

test('an 8 MiB payload round-trips intact', async () => {
  const blob = crypto.randomBytes(6 * 1024 * 1024).toString('base64');
  const sha = crypto.createHash('sha256').update(blob).digest('hex');
  const r = await alice.trigger({ function_id: 'bob::blob', payload: { blob }, timeoutMs: 60000 });
  assert.equal(r.sha, sha);
  assert.ok(r.blob === blob);
});

test('100 concurrent calls all return their own result', async () => {
  const calls = [];
  for (let i = 0; i < 100; i++) {
    calls.push(alice.trigger({ function_id: 'bob::add', payload: { a: i, b: 1000 * i }, timeoutMs: 30000 }));
  }
  const results = await Promise.all(calls);
  results.forEach((r, i) => assert.deepEqual(r, { sum: 1001 * i }, `call ${i}`));
});

test('a mesh of workers: every worker calls every other one concurrently', async () => {
  const n = 6;
  const mesh = Array.from({ length: n }, (_, i) => sdkWorker(engine, `mesh${i}`));
  mesh.forEach((w, i) => w.registerFunction(`mesh::${i}`, async ({ from, k }) => ({ at: i, from, k })));
  await Promise.all(mesh.map((w) => workerReady(w)));
  const calls = [];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i === j) continue;
      for (let k = 0; k < 10; k++) {
        calls.push(
          mesh[i].trigger({ function_id: `mesh::${j}`, payload: { from: i, k }, timeoutMs: 30000 }).then((r) => {
            assert.deepEqual(r, { at: j, from: i, k });
          }),
        );
      }
    }
  }
  await Promise.all(calls);
  for (const w of mesh) await shutdownWorker(engine, w);
});

test('action enqueue: the caller gets a messageReceiptId and the function runs', async () => {
  const token = crypto.randomUUID();
  const r = await settle(
    alice.trigger({ function_id: 'bob::notify', payload: { token, queued: true }, action: TriggerAction.Enqueue({ queue: 'default' }) }),
  );
  assert.ok(r.ok, `enqueue failed: ${r.error && r.error.code}: ${r.error && r.error.message}`);
  assert.match(String(r.value && r.value.messageReceiptId), UUID_RE, JSON.stringify(r.value));
  const got = await waitFor(() => seen.notify.find((p) => p && p.token === token), {
    what: 'the enqueued call to run',
  });
  assert.equal(got.queued, true);
});

test('engine::functions::list includes the registered function ids', async () => {
  const r = await callBuiltin(alice, 'engine::functions::list');
  assert.ok(Array.isArray(r.functions), `functions array expected, got ${JSON.stringify(r)}`);
  const ids = r.functions.map((f) => f.function_id);
  for (const id of ['bob::echo', 'bob::add', 'bob::notify', 'bob::fail', 'bob::blob', 'alice::hello']) {
    assert.ok(ids.includes(id), `${id} missing from ${JSON.stringify(ids)}`);
  }
});

test('engine::workers::list includes both workers with their names', async () => {
  // The SDK announces its name with a void engine::workers::register after
  // connecting; wait for it to be applied.
  const r = await waitFor(
    async () => {
      const res = await callBuiltin(alice, 'engine::workers::list');
      const a = res.workers.find((w) => w.id === alice.workerId);
      const b = res.workers.find((w) => w.id === bob.workerId);
      return a && b && a.name === 'alice' && b.name === 'bob' ? res : null;
    },
    { what: 'alice and bob (with names) in engine::workers::list' },
  );
  const a = r.workers.find((w) => w.id === alice.workerId);
  assert.equal(a.runtime, 'node');
});

test('engine::triggers::list and engine::registered-triggers::list answer', async () => {
  const ttype = `listdemo-${process.pid}`;
  bob.registerTriggerType(
    { id: ttype, description: 'listing test' },
    { registerTrigger: async () => {}, unregisterTrigger: async () => {} },
  );
  alice.registerTrigger({ type: ttype, function_id: 'alice::hello', config: { k: 'v' } });
  await Promise.all([workerReady(alice), workerReady(bob)]);

  const types = await waitFor(
    async () => {
      const r = await callBuiltin(alice, 'engine::triggers::list');
      assert.ok(Array.isArray(r.triggers), `triggers array expected, got ${JSON.stringify(r)}`);
      return r.triggers.some((t) => t.id === ttype) ? r : null;
    },
    { what: `trigger type ${ttype} in engine::triggers::list` },
  );
  assert.ok(types.triggers.some((t) => t.id === ttype));

  const bindings = await waitFor(
    async () => {
      const r = await callBuiltin(alice, 'engine::registered-triggers::list');
      assert.ok(Array.isArray(r.registered_triggers), `registered_triggers array expected, got ${JSON.stringify(r)}`);
      return r.registered_triggers.find((t) => t.trigger_type === ttype);
    },
    { what: `a ${ttype} binding in engine::registered-triggers::list` },
  );
  assert.equal(bindings.function_id, 'alice::hello');
});

// iii-sdk names these built-ins (EngineFunctions in iii-constants); the
// reference engine answers them.
for (const [id, payload] of [
  ['engine::functions::info', () => ({ function_id: 'bob::echo' })],
  ['engine::workers::info', () => ({ name: 'bob' })],
  ['engine::triggers::info', () => ({ id: 'engine::workers-available' })],
  // alice's binding from the registered-triggers test above
  ['engine::registered-triggers::info', () => ({ id: [...alice.triggers.keys()][0] })],
]) {
  test(`${id} answers`, async () => {
    const r = await settle(callBuiltin(alice, id, payload()));
    assert.ok(r.ok, `${id} failed: ${r.error && r.error.code}: ${r.error && r.error.message}`);
    assert.equal(typeof r.value, 'object');
    assert.ok(JSON.stringify(r.value).includes(Object.values(payload())[0]), JSON.stringify(r.value));
  });
}

test('replicas: two workers with one function id share the calls; one leaving keeps it callable', async () => {
  const r1 = sdkWorker(engine, 'replica1');
  const r2 = sdkWorker(engine, 'replica2');
  r1.registerFunction('rep::who', async () => 'replica1');
  r2.registerFunction('rep::who', async () => 'replica2');
  await Promise.all([workerReady(r1), workerReady(r2)]);

  const counts = { replica1: 0, replica2: 0 };
  for (let i = 0; i < 40; i++) {
    const who = await alice.trigger({ function_id: 'rep::who', payload: { i } });
    assert.ok(who in counts, `unexpected result ${JSON.stringify(who)}`);
    counts[who]++;
  }
  assert.ok(counts.replica1 > 0 && counts.replica2 > 0, `calls must be spread over both replicas: ${JSON.stringify(counts)}`);

  const goneId = r1.workerId;
  await shutdownWorker(engine, r1);
  await waitFor(
    async () => !(await callBuiltin(alice, 'engine::workers::list')).workers.some((w) => w.id === goneId),
    { what: 'replica1 to leave engine::workers::list' },
  );
  for (let i = 0; i < 20; i++) {
    const r = await settle(alice.trigger({ function_id: 'rep::who', payload: { i } }));
    assert.ok(r.ok, `call ${i} after replica1 left failed: ${r.error && r.error.message}`);
    assert.equal(r.value, 'replica2');
  }
});

test('a worker that leaves takes its functions with it', async () => {
  const tmp = sdkWorker(engine, 'shortlived');
  tmp.registerFunction('short::lived', async () => 'here');
  await workerReady(tmp);
  assert.equal(await alice.trigger({ function_id: 'short::lived', payload: {} }), 'here');
  await shutdownWorker(engine, tmp);
  const r = await waitFor(
    async () => {
      const s = await settle(alice.trigger({ function_id: 'short::lived', payload: {} }));
      return !s.ok && s.error.code === 'function_not_found' ? s : null;
    },
    { what: 'short::lived to become function_not_found after its worker left' },
  );
  assert.equal(r.error.code, 'function_not_found');
});

test('a worker killed while handling a call: the caller gets invocation_stopped', async () => {
  const child = fork(path.join(here, 'fixtures', 'hang-worker.mjs'), [engine.url, 'hang::forever'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const msgs = [];
  child.on('message', (m) => msgs.push(m));
  const exited = new Promise((r) => child.once('exit', r));
  try {
    await waitFor(() => msgs.find((m) => m.ready), { timeout: 15000, what: 'the child worker to be ready' });
    const call = settle(alice.trigger({ function_id: 'hang::forever', payload: { q: 1 }, timeoutMs: 20000 }));
    await waitFor(() => msgs.find((m) => m.invoked), { what: 'the child worker to receive the call' });
    child.kill('SIGKILL');
    const r = await within(call, 20000, 'the call to settle');
    assert.equal(r.ok, false, 'the call must fail');
    assert.equal(r.error.code, 'invocation_stopped', `got ${r.error.code}: ${r.error.message}`);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  }
  // The function went away with its worker.
  const r = await waitFor(
    async () => {
      const s = await settle(alice.trigger({ function_id: 'hang::forever', payload: {} , timeoutMs: 5000}));
      return !s.ok && s.error.code === 'function_not_found' ? s : null;
    },
    { what: 'hang::forever to be gone' },
  );
  assert.equal(r.error.code, 'function_not_found');
});
