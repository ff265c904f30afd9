// Non-durable pub/sub (§6.4): `subscribe` {topic} bindings and the `publish`
// function {topic, data}. Every subscribed function gets the raw data;
// unsubscribing one binding leaves the others (unlike the reference's local
// adapter, which drops every subscriber of the topic).

import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import {
  startEngine,
  stopEngineChecked,
  engineTest,
  sdkWorker,
  workerReady,
  shutdownWorker,
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

test('publish fans out to three subscribers; unsubscribing one leaves the other two', async () => {
  const subs = [sdkWorker(engine, 'sub-a'), sdkWorker(engine, 'sub-b'), sdkWorker(engine, 'sub-c')];
  const got = [[], [], []];
  const trigs = subs.map((w, i) => {
    w.registerFunction(`ps::on${i}`, async (data) => {
      got[i].push(data);
      return null;
    });
    return w.registerTrigger({ type: 'subscribe', function_id: `ps::on${i}`, config: { topic: 'orders.shipped' } });
  });
  const pub = sdkWorker(engine, 'publisher');
  await Promise.all([...subs, pub].map((w) => workerReady(w)));

  const r = await pub.trigger({ function_id: 'publish', payload: { topic: 'orders.shipped', data: { order: 1 } } });
  assert.equal(r ?? null, null, 'publish answers null');
  await waitFor(() => got.every((g) => g.length === 1), { what: 'all three subscribers to get message 1' });
  for (const g of got) assert.deepEqual(g[0], { order: 1 }, 'raw data, no envelope');

  trigs[1].unregister();
  await workerReady(subs[1]);
  await pub.trigger({ function_id: 'publish', payload: { topic: 'orders.shipped', data: { order: 2 } } });
  await waitFor(() => got[0].length === 2 && got[2].length === 2, { what: 'subscribers a and c to get message 2' });
  await sleep(300);
  assert.equal(got[1].length, 1, 'the unsubscribed function got nothing more');
  assert.deepEqual(got[0][1], { order: 2 });

  // another topic reaches nobody here
  await pub.trigger({ function_id: 'publish', payload: { topic: 'orders.other', data: 3 } });
  await sleep(200);
  assert.equal(got[0].length, 2);
  for (const w of [...subs, pub]) await shutdownWorker(engine, w);
});

test('publish without a topic is an error; subscribe without a topic is rejected', async () => {
  const w = sdkWorker(engine, 'ps-bad');
  await workerReady(w);
  await assert.rejects(
    w.trigger({ function_id: 'publish', payload: { data: 1 } }),
    (e) => /topic_not_set/.test(e.code ?? '') || /topic/.test(String(e.message)),
  );
  await shutdownWorker(engine, w);
});

test('a subscriber whose worker leaves stops receiving; the others go on', async () => {
  const a = sdkWorker(engine, 'ps-leaver');
  const b = sdkWorker(engine, 'ps-stayer');
  const seen = { a: 0, b: 0 };
  a.registerFunction('ps::leaver', async () => { seen.a++; return null; });
  b.registerFunction('ps::stayer', async () => { seen.b++; return null; });
  a.registerTrigger({ type: 'subscribe', function_id: 'ps::leaver', config: { topic: 't2' } });
  b.registerTrigger({ type: 'subscribe', function_id: 'ps::stayer', config: { topic: 't2' } });
  await Promise.all([workerReady(a), workerReady(b)]);
  await b.trigger({ function_id: 'publish', payload: { topic: 't2', data: {} } });
  await waitFor(() => seen.a === 1 && seen.b === 1, { what: 'both subscribers' });
  await shutdownWorker(engine, a);
  await b.trigger({ function_id: 'publish', payload: { topic: 't2', data: {} } });
  await waitFor(() => seen.b === 2, { what: 'the remaining subscriber' });
  assert.equal(seen.a, 1);
  await shutdownWorker(engine, b);
});
