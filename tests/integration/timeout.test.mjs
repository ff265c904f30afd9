// The engine's own invocation deadline (--invocation_timeout_ms): a handler
// that never answers must not leave the caller hanging until its SDK gives up.

import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import {
  startEngine,
  stopEngineChecked,
  engineTest,
  sdkWorker,
  workerReady,
  settle,
  sleep,
  waitFor,
  guard,
} from './harness.mjs';

let engine;
const test = engineTest(() => engine);
let caller;
let slow;
const late = [];

before(guard(() => engine, 'setup', async () => {
  engine = await startEngine({ args: ['--invocation_timeout_ms', '1000'] });
  caller = sdkWorker(engine, 'caller');
  slow = sdkWorker(engine, 'slow');
  slow.registerFunction('slow::never', () => new Promise(() => {}));
  slow.registerFunction('slow::late', async ({ ms }) => {
    await sleep(ms);
    late.push(ms);
    return { answered: ms };
  });
  slow.registerFunction('slow::quick', async ({ v }) => ({ v }));
  await Promise.all([workerReady(caller), workerReady(slow)]);
}));

after(async () => {
  await stopEngineChecked(engine, assert);
});

test('a handler that never answers: the caller gets invocation_timeout from the engine', async () => {
  // The SDK's own deadline is 10 s, so an SDK "TIMEOUT" means the engine said nothing.
  const r = await settle(caller.trigger({ function_id: 'slow::never', payload: {}, timeoutMs: 10000 }));
  assert.equal(r.ok, false);
  assert.equal(r.error.code, 'invocation_timeout', `got ${r.error.code}: ${r.error.message}`);
});

test('an answer after the deadline is dropped and both connections keep working', async () => {
  const r = await settle(caller.trigger({ function_id: 'slow::late', payload: { ms: 2000 }, timeoutMs: 10000 }));
  assert.equal(r.ok, false);
  assert.equal(r.error.code, 'invocation_timeout', `got ${r.error.code}: ${r.error.message}`);
  // Let the late answer reach the engine, then check the pair still works.
  await waitFor(() => late.includes(2000), { what: 'the late handler to finish' });
  await sleep(200);
  assert.deepEqual(await caller.trigger({ function_id: 'slow::quick', payload: { v: 5 } }), { v: 5 });
});

test('calls that answer within the deadline are not affected', async () => {
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => caller.trigger({ function_id: 'slow::quick', payload: { v: i } })),
  );
  results.forEach((r, i) => assert.deepEqual(r, { v: i }));
});
