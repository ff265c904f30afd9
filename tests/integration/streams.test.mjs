// Streams and state (reference §8-9, sdk-wire.md §5-7): the stream::* and
// state::* functions over LMDB, stream clients served by the fanout process
// on stream_port in both dialects, join authorization, and the stream/state
// trigger kinds.

import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import { Stream } from '@motiadev/stream-client-node';
import {
  startEngine,
  stopEngineChecked,
  engineTest,
  sdkWorker,
  workerReady,
  waitFor,
  sleep,
  guard,
  RawClient,
} from './harness.mjs';

let engine;
let w;
const test = engineTest(() => engine);
const call = (id, payload) => w.trigger({ function_id: id, payload, timeoutMs: 10000 });

// A raw client on the stream port (the harness's RawClient, pointed there).
async function streamClient() {
  const target = { url: `ws://127.0.0.1:${engine.streamPort}`, rawClients: engine.rawClients };
  return RawClient.open(target, '/');
}

before(guard(() => engine, 'setup', async () => {
  engine = await startEngine({ args: ['--fanouts', '1'] });
  w = sdkWorker(engine, 'streams-user');
  await workerReady(w);
}));

after(async () => {
  await stopEngineChecked(engine, assert);
});

test('stream::set/get/list/list_groups/list_all/delete keep items by stream, group and id', async () => {
  const r1 = await call('stream::set', { stream_name: 'todos', group_id: 'u1', item_id: 'a', data: { id: 'a', t: 1 } });
  assert.deepEqual(r1, { old_value: null, new_value: { id: 'a', t: 1 } });
  const r2 = await call('stream::set', { stream_name: 'todos', group_id: 'u1', item_id: 'a', data: { id: 'a', t: 2 } });
  assert.deepEqual(r2, { old_value: { id: 'a', t: 1 }, new_value: { id: 'a', t: 2 } });
  await call('stream::set', { stream_name: 'todos', group_id: 'u1', item_id: 'b', data: { id: 'b' } });
  await call('stream::set', { stream_name: 'todos', group_id: 'u2', item_id: 'c', data: { id: 'c' } });
  assert.deepEqual(await call('stream::get', { stream_name: 'todos', group_id: 'u1', item_id: 'a' }), { id: 'a', t: 2 });
  assert.equal(await call('stream::get', { stream_name: 'todos', group_id: 'u1', item_id: 'zz' }), null);
  const list = await call('stream::list', { stream_name: 'todos', group_id: 'u1' });
  assert.deepEqual(list.map((x) => x.id).sort(), ['a', 'b']);
  assert.deepEqual(await call('stream::list_groups', { stream_name: 'todos' }), ['u1', 'u2']);
  const all = await call('stream::list_all', {});
  assert.deepEqual(all.stream.find((s) => s.id === 'todos'), { id: 'todos', groups: ['u1', 'u2'] });
  const d = await call('stream::delete', { stream_name: 'todos', group_id: 'u1', item_id: 'b' });
  assert.deepEqual(d, { old_value: { id: 'b' } });
  assert.equal(await call('stream::get', { stream_name: 'todos', group_id: 'u1', item_id: 'b' }), null);
  // bad input: a missing field is an error with the reference's code
  await assert.rejects(call('stream::set', { stream_name: 'todos', item_id: 'x', data: 1 }), (e) => {
    assert.equal(e.code, 'STREAM_SET_ERROR');
    return true;
  });
});

test('stream::update applies ops and reports per-op errors', async () => {
  const r = await call('stream::update', {
    stream_name: 'counters', group_id: 'g', item_id: 'c1',
    ops: [
      { type: 'set', path: 'name', value: 'x' },
      { type: 'increment', path: 'n', by: 5 },
      { type: 'decrement', path: 'n', by: 2 },
      { type: 'append', path: 'tags', value: 'a' },
      { type: 'merge', path: '', value: { m: 1 } },
      { type: 'increment', path: 'name', by: 1 },
      { type: 'merge', path: '', value: { __proto__: null, constructor: 1 } },
    ],
  });
  assert.equal(r.old_value, null);
  assert.deepEqual(r.new_value, { name: 'x', n: 3, tags: ['a'], m: 1 });
  assert.deepEqual(r.errors.map((e) => [e.op_index, e.code]), [[5, 'increment.not_number'], [6, 'merge.value.forbidden']]);
  const r2 = await call('stream::update', { stream_name: 'counters', group_id: 'g', item_id: 'c1', ops: [{ type: 'remove', path: 'tags' }] });
  assert.deepEqual(r2.new_value, { name: 'x', n: 3, m: 1 });
  assert.equal(r2.errors, undefined, 'no errors key when every op applied');
});

test('state::set/get/update/delete/list/list_groups', async () => {
  assert.deepEqual(await call('state::set', { scope: 's1', key: 'k', value: { v: 1 } }), { old_value: null, new_value: { v: 1 } });
  await call('state::set', { scope: 's1', key: 'k2', data: 7 });
  await call('state::set', { scope: 's0', key: 'x', value: true });
  assert.deepEqual(await call('state::get', { scope: 's1', key: 'k' }), { v: 1 });
  const u = await call('state::update', { scope: 's1', key: 'k', ops: [{ type: 'increment', path: 'v', by: 2 }] });
  assert.deepEqual(u.new_value, { v: 3 });
  assert.deepEqual((await call('state::list', { scope: 's1' })).length, 2);
  assert.deepEqual(await call('state::list_groups', {}), { groups: ['s0', 's1'] });
  assert.deepEqual(await call('state::delete', { scope: 's1', key: 'k2' }), { old_value: 7 });
  assert.equal(await call('state::get', { scope: 's1', key: 'k2' }), null);
  await assert.rejects(call('state::get', { key: 'k' }), (e) => e.code === 'GET_ERROR');
});

test('state and stream triggers fire on changes with the reference payloads', async () => {
  const got = [];
  const tw = sdkWorker(engine, 'trig-worker');
  tw.registerFunction('t::state', async (d) => { got.push(d); return null; });
  tw.registerFunction('t::stream', async (d) => { got.push(d); return null; });
  tw.registerTrigger({ type: 'state', function_id: 't::state', config: { scope: 'watched' } });
  tw.registerTrigger({ type: 'stream', function_id: 't::stream', config: { stream_name: 'watched', group_id: 'g' } });
  await workerReady(tw);
  await sleep(200);
  await call('state::set', { scope: 'watched', key: 'k', value: 1 });
  await call('state::set', { scope: 'other', key: 'k', value: 1 });
  await call('stream::set', { stream_name: 'watched', group_id: 'g', item_id: 'i', data: { id: 'i' } });
  await call('stream::set', { stream_name: 'watched', group_id: 'h', item_id: 'i', data: { id: 'i' } });
  await waitFor(() => got.length >= 2, { what: 'two trigger calls' });
  await sleep(200);
  assert.equal(got.length, 2, 'other scope and other group do not fire');
  const st = got.find((g) => g.type === 'state');
  assert.deepEqual(st, { type: 'state', event_type: 'state:created', scope: 'watched', key: 'k', old_value: null, new_value: 1 });
  const sm = got.find((g) => g.type === 'stream');
  assert.equal(sm.streamName, 'watched');
  assert.equal(sm.groupId, 'g');
  assert.equal(sm.id, 'i');
  assert.deepEqual(sm.event, { type: 'create', data: { id: 'i' } });
  assert.equal(typeof sm.timestamp, 'number');
});

test('@motiadev/stream-client-node: group and item subscriptions get sync, then create/update/delete/event', async () => {
  await call('stream::set', { stream_name: 'chat', group_id: 'room1', item_id: 'm1', data: { id: 'm1', text: 'hi' } });
  const client = new Stream(`ws://127.0.0.1:${engine.streamPort}`);
  try {
    const group = client.subscribeGroup('chat', 'room1');
    const item = client.subscribeItem('chat', 'room1', 'm1');
    const events = [];
    group.onEvent('typing', (d) => events.push(d));
    await waitFor(() => group.getState().length === 1, { what: 'group sync' });
    await waitFor(() => item.getState()?.text === 'hi', { what: 'item sync' });
    await call('stream::set', { stream_name: 'chat', group_id: 'room1', item_id: 'm2', data: { id: 'm2', text: 'yo' } });
    await call('stream::set', { stream_name: 'chat', group_id: 'room1', item_id: 'm1', data: { id: 'm1', text: 'edited' } });
    await call('stream::send', { stream_name: 'chat', group_id: 'room1', type: 'typing', data: { who: 'bob' } });
    await waitFor(() => group.getState().length === 2 && item.getState()?.text === 'edited' && events.length === 1,
      { what: 'create, update and the custom event' });
    assert.deepEqual(events[0], { who: 'bob' });
    await call('stream::delete', { stream_name: 'chat', group_id: 'room1', item_id: 'm1' });
    await waitFor(() => group.getState().length === 1 && item.getState() === null, { what: 'delete' });
    assert.equal(group.getState()[0].id, 'm2');
  } finally {
    client.close();
  }
});

test('raw frames: current dialect frames carry type "stream" and increasing timestamps; leave stops events', async () => {
  const c = await streamClient();
  c.send({ type: 'join', data: { subscriptionId: 's1', streamName: 'raw', groupId: 'g' } });
  const sync = await c.waitForMessage((m) => m.event?.type === 'sync', { what: 'sync' });
  assert.deepEqual(sync.event.data, [], 'an empty group syncs as []');
  assert.equal(sync.type, 'stream');
  assert.equal(sync.id, null);
  for (let i = 0; i < 20; i++) {
    await call('stream::set', { stream_name: 'raw', group_id: 'g', item_id: `i${i % 3}`, data: { id: `i${i % 3}`, n: i } });
  }
  await waitFor(() => c.messages.length >= 21, { what: '20 live events' });
  const live = c.messages.slice(1);
  assert.deepEqual(live.map((m) => m.event.data.n), [...Array(20).keys()], 'in order, none lost or duplicated');
  for (let i = 1; i < c.messages.length; i++) assert.ok(c.messages[i].timestamp > c.messages[i - 1].timestamp);
  assert.deepEqual(live.slice(0, 3).map((m) => m.event.type), ['create', 'create', 'create']);
  assert.equal(live[3].event.type, 'update');
  // garbage is ignored, the connection stays
  c.send('not json');
  c.send({ type: 'join', data: {} });
  c.send({ type: 'leave', data: { subscriptionId: 's1', streamName: 'raw', groupId: 'g' } });
  await sleep(200);
  const n = c.messages.length;
  await call('stream::set', { stream_name: 'raw', group_id: 'g', item_id: 'x', data: { id: 'x' } });
  await sleep(300);
  assert.equal(c.messages.length, n, 'no events after leave');
  assert.ok(c.isOpen);
  c.terminate();
});

test('raw frames: the older Join/Leave dialect is answered in that dialect', async () => {
  await call('stream::set', { stream_name: 'old', group_id: 'g', item_id: 'a', data: { id: 'a', v: 1 } });
  const c = await streamClient();
  c.send({ type: 'Join', subscription_id: 'o1', stream_name: 'old', group_id: 'g', id: 'a' });
  const sync = await c.waitForMessage((m) => m.event?.type === 'Sync', { what: 'Sync' });
  assert.deepEqual(sync.event.data, { id: 'a', v: 1 });
  assert.equal(sync.stream_name, 'old');
  assert.equal(sync.group_id, 'g');
  assert.equal(sync.type, undefined);
  // mixed: a current-dialect group subscription on the same connection
  c.send({ type: 'join', data: { subscriptionId: 'n1', streamName: 'old', groupId: 'g' } });
  await c.waitForMessage((m) => m.event?.type === 'sync', { what: 'current-dialect sync' });
  await call('stream::set', { stream_name: 'old', group_id: 'g', item_id: 'a', data: { id: 'a', v: 2 } });
  await call('stream::set', { stream_name: 'old', group_id: 'g', item_id: 'b', data: { id: 'b' } });
  await c.waitForMessage((m) => m.event?.type === 'create' && m.id === 'b', { what: 'create for the group sub' });
  const upd = await c.waitForMessage((m) => m.event?.type === 'Update', { what: 'Update' });
  assert.deepEqual(upd.event.data, { id: 'a', v: 2 });
  assert.ok(!c.messages.some((m) => m.event?.type === 'Create'), 'the item subscription does not see other items');
  c.send({ type: 'Leave', subscription_id: 'o1' });
  await sleep(200);
  const n = c.messages.length;
  await call('stream::set', { stream_name: 'old', group_id: 'g', item_id: 'a', data: { id: 'a', v: 3 } });
  await c.waitForMessage((m) => m.event?.type === 'update' && m.event.data.v === 3, { from: n, what: 'group update' });
  await sleep(200);
  assert.ok(!c.messages.slice(n).some((m) => m.event?.type === 'Update'), 'Leave stopped the older subscription');
  c.terminate();
});

test('stream:join trigger refuses with unauthorized; stream:leave runs on leave and on close', async () => {
  const seen = [];
  const aw = sdkWorker(engine, 'gate');
  aw.registerFunction('gate::join', async (d) => { seen.push(['join', d]); return d.group_id === 'secret' ? { unauthorized: true } : {}; });
  aw.registerFunction('gate::leave', async (d) => { seen.push(['leave', d]); return null; });
  const t1 = aw.registerTrigger({ type: 'stream:join', function_id: 'gate::join', config: {} });
  const t2 = aw.registerTrigger({ type: 'stream:leave', function_id: 'gate::leave', config: {} });
  await workerReady(aw);
  await sleep(200);
  const c = await streamClient();
  c.send({ type: 'join', data: { subscriptionId: 'x1', streamName: 'priv', groupId: 'secret' } });
  const u = await c.waitForMessage((m) => m.event?.type === 'unauthorized', { what: 'unauthorized' });
  assert.equal(u.groupId, 'secret');
  c.send({ type: 'join', data: { subscriptionId: 'x2', streamName: 'priv', groupId: 'open', id: 'i' } });
  await c.waitForMessage((m) => m.event?.type === 'sync', { what: 'sync of the allowed join' });
  await call('stream::set', { stream_name: 'priv', group_id: 'secret', item_id: 'i', data: { id: 'i' } });
  await sleep(200);
  assert.ok(!c.messages.some((m) => m.groupId === 'secret' && m.event.type === 'create'), 'refused join gets nothing');
  const j = seen.find((s) => s[0] === 'join' && s[1].subscription_id === 'x2')[1];
  assert.deepEqual(j, { subscription_id: 'x2', stream_name: 'priv', group_id: 'open', id: 'i', context: null });
  c.terminate();
  await waitFor(() => seen.some((s) => s[0] === 'leave' && s[1].subscription_id === 'x2'), { what: 'leave trigger on close' });
  t1.unregister();
  t2.unregister();
  await workerReady(aw);
});

test('a worker that owns a stream (createStream) serves get/set and subscribers still see changes', async () => {
  const ow = sdkWorker(engine, 'owner');
  const mem = new Map();
  ow.registerFunction('stream::get(owned)', async (d) => mem.get(`${d.group_id}/${d.item_id}`) ?? null);
  ow.registerFunction('stream::set(owned)', async (d) => {
    const k = `${d.group_id}/${d.item_id}`;
    const old = mem.get(k) ?? null;
    mem.set(k, d.data);
    return { old_value: old, new_value: d.data };
  });
  ow.registerFunction('stream::list(owned)', async (d) => [...mem.entries()].filter(([k]) => k.startsWith(`${d.group_id}/`)).map(([, v]) => v));
  await workerReady(ow);
  await sleep(200);
  const c = await streamClient();
  c.send({ type: 'join', data: { subscriptionId: 'o', streamName: 'owned', groupId: 'g' } });
  await c.waitForMessage((m) => m.event?.type === 'sync', { what: 'sync from the owner' });
  const r = await call('stream::set', { stream_name: 'owned', group_id: 'g', item_id: 'k', data: { id: 'k', v: 1 } });
  assert.deepEqual(r, { old_value: null, new_value: { id: 'k', v: 1 } });
  assert.deepEqual(mem.get('g/k'), { id: 'k', v: 1 }, 'the owner stored it');
  assert.deepEqual(await call('stream::get', { stream_name: 'owned', group_id: 'g', item_id: 'k' }), { id: 'k', v: 1 });
  await c.waitForMessage((m) => m.event?.type === 'create' && m.id === 'k', { what: 'create event' });
  const u = await call('stream::update', { stream_name: 'owned', group_id: 'g', item_id: 'k', ops: [{ type: 'increment', path: 'v', by: 1 }] });
  assert.deepEqual(u.new_value, { id: 'k', v: 2 });
  assert.deepEqual(mem.get('g/k'), { id: 'k', v: 2 });
  c.terminate();
});

test('the router killed with SIGKILL: data is still there after the restart, clients resync', async () => {
  await call('stream::set', { stream_name: 'durable', group_id: 'g', item_id: 'a', data: { id: 'a' } });
  await call('state::set', { scope: 'durable', key: 'k', value: 42 });
  const c = await streamClient();
  c.send({ type: 'join', data: { subscriptionId: 'd', streamName: 'durable', groupId: 'g' } });
  await c.waitForMessage((m) => m.event?.type === 'sync', { what: 'sync' });
  await sleep(100); // let the group commit land
  const router = engine.router();
  engine.killChild(router.pid);
  await waitFor(() => engine.router() && engine.router().pid !== router.pid, { what: 'router respawn' });
  await waitFor(async () => {
    try {
      return (await call('state::get', { scope: 'durable', key: 'k' })) === 42;
    } catch {
      return false;
    }
  }, { timeout: 20000, what: 'state after restart' });
  assert.deepEqual(await call('stream::get', { stream_name: 'durable', group_id: 'g', item_id: 'a' }), { id: 'a' });
  const n = c.messages.length;
  await call('stream::set', { stream_name: 'durable', group_id: 'g', item_id: 'b', data: { id: 'b' } });
  await c.waitForMessage((m) => m.id === 'b' || (m.event?.type === 'sync' && m.event.data.some((x) => x.id === 'b')),
    { from: n, timeout: 15000, what: 'the new item after the router restart' });
  c.terminate();
});
