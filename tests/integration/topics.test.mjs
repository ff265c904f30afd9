// Durable topics and named queues (reference §6.2, §6.3) with the real iii-sdk:
// fan-out to every subscribed function, competing replicas, retries with
// growing backoff into the dead-letter queue and back (redrive), FIFO order,
// the visibility timeout, messages kept for a subscriber that comes later,
// and a router killed with SIGKILL while 10,000 messages are published:
// every message acknowledged to the publisher is delivered afterwards.

import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import { TriggerAction } from 'iii-sdk';
import {
  startEngine,
  stopEngineChecked,
  engineTest,
  sdkWorker,
  workerReady,
  waitFor,
  settle,
  sleep,
  callBuiltin,
  UUID_RE,
  guard,
} from './harness.mjs';

let engine;
const test = engineTest(() => engine);
let pub; // publisher and operator

before(guard(() => engine, 'setup', async () => {
  engine = await startEngine({
    brokers: 2,
    args: ['--queue', 'ordered type=fifo group_field=account concurrency=5 backoff_ms=100',
      '--queue', 'jobs max_retries=2 backoff_ms=100'],
  });
  pub = sdkWorker(engine, 'publisher');
  await workerReady(pub);
}));

after(async () => stopEngineChecked(engine, assert));

const publish = (topic, data, w = pub) =>
  w.trigger({ function_id: 'iii::durable::publish', payload: { topic, data }, timeoutMs: 10000 });

// A worker with one subscriber function on topic; records what it gets.
async function subscriber(name, fnId, topic, handler, queueConfig) {
  const w = sdkWorker(engine, name);
  const got = [];
  w.registerFunction(fnId, async (data) => {
    got.push({ data, at: Date.now() });
    return handler ? handler(data, got.length) : { ok: true };
  });
  const config = { topic };
  if (queueConfig) config.queue_config = queueConfig;
  w.registerTrigger({ type: 'durable:subscriber', function_id: fnId, config });
  await workerReady(w);
  return { w, got };
}

test('publish: each of three subscribed functions gets the message exactly once', async () => {
  const subs = [];
  for (const n of ['a', 'b', 'c']) subs.push(await subscriber(`fan-${n}`, `fan::${n}`, 'fan.orders'));
  const r = await publish('fan.orders', { order: 42 });
  assert.equal(r, null, 'iii::durable::publish answers null');
  for (const s of subs) await waitFor(() => s.got.length >= 1, { what: 'each subscriber to get the message' });
  await sleep(500); // room for a duplicate to show up
  for (const s of subs) assert.deepEqual(s.got.map((g) => g.data), [{ order: 42 }], 'one copy, the data as published');
});

test('publish without a topic is refused with topic_not_set', async () => {
  const r = await settle(pub.trigger({ function_id: 'iii::durable::publish', payload: { data: 1 } }));
  assert.equal(r.ok, false);
  assert.match(String(r.error.code || r.error.message), /topic_not_set/);
});

test('a subscriber without a topic is refused with trigger_registration_failed', async () => {
  const w = sdkWorker(engine, 'notopic');
  w.registerFunction('notopic::fn', async () => null);
  w.registerTrigger({ type: 'durable:subscriber', function_id: 'notopic::fn', config: {} });
  await workerReady(w);
  const list = await callBuiltin(pub, 'engine::registered-triggers::list', { trigger_type: 'durable:subscriber' });
  assert.ok(!list.registered_triggers.some((t) => t.function_id === 'notopic::fn'),
    'the binding without a topic is not kept');
});

test('the legacy names work: trigger type "queue" and function "enqueue"', async () => {
  const w = sdkWorker(engine, 'legacy');
  const got = [];
  w.registerFunction('legacy::fn', async (d) => { got.push(d); return null; });
  w.registerTrigger({ type: 'queue', function_id: 'legacy::fn', config: { topic: 'legacy.t' } });
  await workerReady(w);
  await pub.trigger({ function_id: 'enqueue', payload: { topic: 'legacy.t', data: { v: 1 } } });
  await waitFor(() => got.length === 1, { what: 'the legacy subscriber to get the message' });
  assert.deepEqual(got[0], { v: 1 });
});

test('replicas of one function compete: each message goes to one of them, both get work', async () => {
  const got = { r1: [], r2: [] };
  for (const name of ['r1', 'r2']) {
    const w = sdkWorker(engine, `replica-${name}`);
    w.registerFunction('comp::fn', async (d) => {
      got[name].push(d.n);
      await sleep(20);
      return null;
    });
    w.registerTrigger({ type: 'durable:subscriber', function_id: 'comp::fn', config: { topic: 'comp.t' } });
    await workerReady(w);
  }
  for (let i = 0; i < 40; i++) await publish('comp.t', { n: i });
  await waitFor(() => got.r1.length + got.r2.length >= 40, { what: '40 deliveries' });
  await sleep(300);
  const all = [...got.r1, ...got.r2].sort((a, b) => a - b);
  assert.deepEqual(all, [...Array(40).keys()], 'every message once, to exactly one replica');
  assert.ok(got.r1.length > 0 && got.r2.length > 0, `both replicas served (${got.r1.length}/${got.r2.length})`);
});

test('failure: retries with growing delay, then the DLQ; redrive delivers it again', async () => {
  let failing = true;
  const s = await subscriber('flaky', 'flaky::fn', 'flaky.t', () => {
    if (failing) throw new Error('boom');
    return { ok: true };
  }, { maxRetries: 2, backoffDelayMs: 200 });
  await publish('flaky.t', { id: 'x1' });
  await waitFor(() => s.got.length === 3, { what: 'three attempts (maxRetries 2)' });
  const gap1 = s.got[1].at - s.got[0].at;
  const gap2 = s.got[2].at - s.got[1].at;
  assert.ok(gap1 >= 180, `first retry waits backoffDelayMs (${gap1} ms)`);
  assert.ok(gap2 >= 380, `second retry waits twice as long (${gap2} ms)`);

  const dt = await waitFor(async () => {
    const l = await callBuiltin(pub, 'engine::queue::dlq_topics');
    return l.find((t) => t.topic === 'flaky.t');
  }, { what: 'flaky.t in dlq_topics' });
  assert.equal(dt.count, 1);
  const dm = await callBuiltin(pub, 'engine::queue::dlq_messages', { topic: 'flaky.t', offset: 0, limit: 10 });
  assert.equal(dm.messages.length, 1);
  assert.deepEqual(dm.messages[0].data, { id: 'x1' });
  assert.match(dm.messages[0].error, /boom/, 'the dead letter carries the handler error');
  assert.equal(typeof dm.messages[0].failed_at, 'number');
  assert.equal(dm.messages[0].attempts, 3);
  const stats = await callBuiltin(pub, 'engine::queue::topic_stats', { topic: 'flaky.t' });
  assert.equal(stats.dlq, 1);
  assert.equal(stats.depth, 0);
  const empty = await callBuiltin(pub, 'engine::queue::dlq_messages', { topic: 'flaky.t', offset: 1, limit: 10 });
  assert.equal(empty.messages.length, 0, 'offset past the end lists nothing');

  await sleep(600);
  assert.equal(s.got.length, 3, 'nothing more after the last attempt');
  failing = false;
  const rd = await callBuiltin(pub, 'iii::queue::redrive', { topic: 'flaky.t' });
  assert.equal(rd.redriven, 1);
  await waitFor(() => s.got.length === 4, { what: 'the redriven message to be delivered' });
  assert.deepEqual(s.got[3].data, { id: 'x1' });
  const after = await callBuiltin(pub, 'engine::queue::dlq_messages', { topic: 'flaky.t' });
  assert.equal(after.messages.length, 0, 'the DLQ is empty after the redrive');
});

test('redrive_message and discard_message act on one dead letter; an unknown id is message_not_found', async () => {
  let fail = true;
  const s = await subscriber('dl1', 'dl1::fn', 'dl1.t', () => {
    if (fail) throw new Error('nope');
    return null;
  }, { maxRetries: 0 });
  await publish('dl1.t', { k: 1 });
  await publish('dl1.t', { k: 2 });
  const dm = await waitFor(async () => {
    const l = await callBuiltin(pub, 'engine::queue::dlq_messages', { topic: 'dl1.t' });
    return l.messages.length === 2 && l;
  }, { what: 'two dead letters' });
  const byK = Object.fromEntries(dm.messages.map((m) => [m.data.k, m.id]));
  fail = false;
  const one = await callBuiltin(pub, 'iii::queue::redrive_message', { topic: 'dl1.t', message_id: byK[1] });
  assert.equal(one.redriven, true);
  await waitFor(() => s.got.some((g) => g.data.k === 1 && s.got.filter((x) => x.data.k === 1).length === 2),
    { what: 'message 1 delivered again' });
  const d = await callBuiltin(pub, 'iii::queue::discard_message', { topic: 'dl1.t', message_id: byK[2] });
  assert.equal(d.discarded, true);
  const left = await callBuiltin(pub, 'engine::queue::dlq_messages', { topic: 'dl1.t' });
  assert.equal(left.messages.length, 0);
  const bad = await settle(callBuiltin(pub, 'iii::queue::discard_message', { topic: 'dl1.t', message_id: byK[2] }));
  assert.equal(bad.ok, false);
  assert.match(String(bad.error.code || bad.error.message), /message_not_found/);
});

test('enqueue: a messageReceiptId; the named queue delivers to the function; an unknown queue is enqueue_error', async () => {
  const w = sdkWorker(engine, 'jobworker');
  const got = [];
  w.registerFunction('jobs::run', async (d) => { got.push(d); return null; });
  await workerReady(w);
  const r = await pub.trigger({ function_id: 'jobs::run', payload: { job: 7 }, action: TriggerAction.Enqueue({ queue: 'jobs' }) });
  assert.match(r.messageReceiptId, UUID_RE);
  await waitFor(() => got.length === 1, { what: 'the enqueued call to run' });
  assert.deepEqual(got[0], { job: 7 }, 'the original data, without _caller_worker_id');
  const d = await pub.trigger({ function_id: 'jobs::run', payload: { job: 8 }, action: TriggerAction.Enqueue({ queue: 'default' }) });
  assert.match(d.messageReceiptId, UUID_RE, 'the default queue always exists');
  await waitFor(() => got.length === 2, { what: 'the call on the default queue to run' });
  const bad = await settle(pub.trigger({ function_id: 'jobs::run', payload: {}, action: TriggerAction.Enqueue({ queue: 'nope' }) }));
  assert.equal(bad.ok, false);
  assert.equal(bad.error.code, 'enqueue_error');
  assert.match(bad.error.message, /nope/);
  const list = await callBuiltin(pub, 'engine::queue::list_topics');
  assert.ok(list.find((t) => t.name === 'jobs' && t.broker_type === 'function_queue'));
  assert.ok(list.find((t) => t.name === 'fan.orders' && t.subscriber_count === 3));
});

test('FIFO: per-group order under concurrency, one in flight per group; a missing group field is enqueue_error', async () => {
  const w = sdkWorker(engine, 'fifo');
  const seen = {};
  const active = {};
  let maxActive = 0;
  let overlap = false;
  w.registerFunction('fifo::fn', async (d) => {
    active[d.account] = (active[d.account] || 0) + 1;
    if (active[d.account] > 1) overlap = true;
    maxActive = Math.max(maxActive, Object.values(active).reduce((a, b) => a + b, 0));
    await sleep(Math.floor(Math.random() * 15));
    (seen[d.account] ||= []).push(d.seq);
    active[d.account]--;
    return null;
  });
  await workerReady(w);
  const sends = [];
  for (let i = 0; i < 60; i++) {
    sends.push(pub.trigger({ function_id: 'fifo::fn', payload: { account: `acc${i % 3}`, seq: i },
      action: TriggerAction.Enqueue({ queue: 'ordered' }) }));
    await sends[i]; // enqueue order = send order
  }
  await waitFor(() => Object.values(seen).reduce((a, s) => a + s.length, 0) === 60, { what: '60 FIFO deliveries' });
  for (const [acc, list] of Object.entries(seen)) {
    const expected = [...Array(60).keys()].filter((i) => `acc${i % 3}` === acc);
    assert.deepEqual(list, expected, `${acc} in enqueue order`);
  }
  assert.equal(overlap, false, 'never two of one group at once');
  assert.ok(maxActive > 1, 'groups run side by side');
  const bad = await settle(pub.trigger({ function_id: 'fifo::fn', payload: { seq: 1 }, action: TriggerAction.Enqueue({ queue: 'ordered' }) }));
  assert.equal(bad.ok, false);
  assert.equal(bad.error.code, 'enqueue_error');
});

test('FIFO subscriber: one at a time, in publish order', async () => {
  let active = 0;
  let overlap = false;
  const order = [];
  await subscriber('fifosub', 'fifosub::fn', 'fifo.t', async (d) => {
    if (++active > 1) overlap = true;
    await sleep(Math.floor(Math.random() * 10));
    order.push(d.i);
    active--;
    return null;
  }, { type: 'fifo', concurrency: 10 });
  for (let i = 0; i < 30; i++) await publish('fifo.t', { i });
  await waitFor(() => order.length === 30, { what: '30 deliveries' });
  assert.deepEqual(order, [...Array(30).keys()]);
  assert.equal(overlap, false);
});

test('visibility timeout: a handler that never answers gets the message again', async () => {
  const s = await subscriber('hang', 'hang::fn', 'hang.t', (d, n) => {
    if (n === 1) return new Promise(() => {}); // never answers
    return { ok: true };
  }, { visibilityTimeout: 500, backoffDelayMs: 0 });
  await publish('hang.t', { h: 1 });
  await waitFor(() => s.got.length >= 2, { timeout: 10000, what: 'the redelivery after the visibility timeout' });
  assert.deepEqual(s.got[1].data, { h: 1 });
  assert.ok(s.got[1].at - s.got[0].at >= 450, 'not before the timeout');
  await sleep(300);
  assert.equal(s.got.length, 2, 'acknowledged by the second answer');
});

test('a message published before any subscriber exists is delivered when one comes', async () => {
  await publish('late.t', { early: true });
  const st = await callBuiltin(pub, 'engine::queue::topic_stats', { topic: 'late.t' });
  assert.equal(st.retained, 1, 'kept while nobody subscribes');
  const s = await subscriber('late', 'late::fn', 'late.t');
  await waitFor(() => s.got.length === 1, { what: 'the retained message' });
  assert.deepEqual(s.got[0].data, { early: true });
});

test('router SIGKILL while publishing 10,000 messages: every acknowledged message is delivered', { timeout: 90000 }, async () => {
  const delivered = new Set();
  const w = sdkWorker(engine, 'crashsub');
  w.registerFunction('crash::fn', async (d) => { delivered.add(d.n); return null; });
  w.registerTrigger({ type: 'durable:subscriber', function_id: 'crash::fn', config: { topic: 'crash.t', queue_config: { concurrency: 200 } } });
  await workerReady(w);
  const p = sdkWorker(engine, 'crashpub', { invocationTimeoutMs: 4000 });
  await workerReady(p);
  const oldRouter = engine.router();
  const acked = new Set();
  const ackedBeforeKill = new Set();
  let next = 0;
  let killed = false;
  const TOTAL = 10000;
  async function lane() {
    while (next < TOTAL) {
      const n = next++;
      const r = await settle(p.trigger({ function_id: 'iii::durable::publish', payload: { topic: 'crash.t', data: { n } }, timeoutMs: 4000 }));
      if (r.ok) {
        acked.add(n);
        if (!killed) ackedBeforeKill.add(n);
      }
      if (!killed && acked.size >= 3000) {
        killed = true;
        engine.killChild(oldRouter.pid);
      }
    }
  }
  await Promise.all(Array.from({ length: 64 }, lane));
  assert.ok(killed, 'the router was killed mid-way');
  await waitFor(() => { const r = engine.router(); return r && r.pid !== oldRouter.pid; },
    { timeout: 15000, what: 'the router to be respawned' });
  const missing = () => [...acked].filter((n) => !delivered.has(n)).sort((a, b) => a - b);
  const all = await settle(waitFor(() => missing().length === 0, { timeout: 40000, interval: 200,
    what: `every acknowledged message to be delivered (acked ${acked.size})` }));
  if (!all.ok) {
    // Say what is missing and where the router has it: still queued (depth),
    // handed to the subscriber without an answer (in_flight), dead-lettered
    // (dlq), or nowhere (lost although acknowledged).
    const lost = missing();
    const before = lost.filter((n) => ackedBeforeKill.has(n)).length;
    const st = await settle(callBuiltin(p, 'engine::queue::topic_stats', { topic: 'crash.t' }));
    assert.fail(`${lost.length} of ${acked.size} acknowledged messages were never delivered ` +
      `(${before} acknowledged before the kill, ${lost.length - before} after; n = ` +
      `${lost.slice(0, 20).join(', ')}${lost.length > 20 ? ', ...' : ''}); ` +
      `engine::queue::topic_stats crash.t: ${st.ok ? JSON.stringify(st.value) : st.error.message}`);
  }
  assert.ok(acked.size >= 3000, `acknowledged ${acked.size} of ${TOTAL}`);
  assert.deepEqual(missing(), []);
});
