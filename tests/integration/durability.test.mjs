// What a caller was told is stored survives a crash: state::set and stream::set answer
// only after the router's storage transaction is committed, so a router killed with
// SIGKILL right after the answers still has every acknowledged write after its restart.

import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import {
  startEngine,
  stopEngineChecked,
  engineTest,
  sdkWorker,
  workerReady,
  waitFor,
  settle,
  guard,
} from './harness.mjs';

let engine;
let w;
const test = engineTest(() => engine);

before(guard(() => engine, 'setup', async () => {
  engine = await startEngine({ brokers: 1 });
  w = sdkWorker(engine, 'durable-writer');
  await workerReady(w);
}));

after(async () => stopEngineChecked(engine, assert));

const call = (function_id, payload) => w.trigger({ function_id, payload, timeoutMs: 10000 });

test('state::set and stream::set acknowledged just before a router SIGKILL are there after the restart', async () => {
  const N = 1500;
  const acked = [];
  const writes = [];
  for (let i = 0; i < N; i++) {
    writes.push(settle(call('state::set', { scope: 'dur', key: `k${i}`, value: { i } })).then((r) => r.ok && acked.push(['state', i])));
    writes.push(settle(call('stream::set', { stream_name: 'dur', group_id: 'g', item_id: `i${i}`, data: { i } })).then((r) => r.ok && acked.push(['stream', i])));
  }
  // kill the router as soon as the first answers arrive: later writes may fail, but
  // none that was acknowledged may be lost
  await waitFor(() => acked.length >= 400, { what: 'the first acknowledged writes' });
  const old = engine.router();
  engine.killChild(old.pid);
  await Promise.all(writes);
  await waitFor(() => { const r = engine.router(); return r && r.pid !== old.pid; }, { what: 'the router to be respawned' });
  const lost = [];
  for (const [kind, i] of acked) {
    const r = await waitFor(async () => {
      const s = await settle(kind === 'state'
        ? call('state::get', { scope: 'dur', key: `k${i}` })
        : call('stream::get', { stream_name: 'dur', group_id: 'g', item_id: `i${i}` }));
      return s.ok ? { v: s.value } : false;
    }, { what: `${kind} ${i} to be readable after the restart` });
    if (!r.v || r.v.i !== i) lost.push(`${kind} ${i}`);
  }
  assert.ok(acked.length >= 400);
  assert.deepEqual(lost, [], `acknowledged but lost: ${lost.length} of ${acked.length}`);
});
