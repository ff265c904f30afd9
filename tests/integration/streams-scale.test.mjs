// Streams at scale and under faults (issue 6): two fanout processes sharing
// stream_port, a fanout started alone against a router that listens on TCP,
// a slow stream client closed while fast ones keep up, the auth function's
// context reaching stream:join / stream:leave triggers (and refusing joins),
// and kill -9 of a fanout: the real @motiadev/stream-client-node clients on
// it reconnect and rejoin, the others are untouched, and stream:leave
// triggers run for the dead fanout's subscriptions.
// Each test starts its own engine (the directives differ).

import assert from 'node:assert/strict';
import { test as nodeTest } from 'node:test';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import crypto from 'node:crypto';
import { Stream } from '@motiadev/stream-client-node';
import {
  TRINE_BIN,
  startEngine,
  stopEngineChecked,
  sdkWorker,
  workerReady,
  waitFor,
  sleep,
  settle,
  pidAlive,
  RawClient,
  parseFrames,
} from './harness.mjs';

// A test with its own engine: stopped (and checked for crashes) at the end,
// its log printed when the test fails.
function engineCase(name, engineArgs, fn) {
  nodeTest(name, { timeout: 90000 }, async () => {
    const args = typeof engineArgs === 'function' ? await engineArgs() : engineArgs;
    const engine = await startEngine({ args });
    const w = sdkWorker(engine, 'scale-user');
    const extra = [];
    let ok = false;
    try {
      await workerReady(w);
      await fn(engine, w, extra);
      ok = true;
    } catch (e) {
      engine.failed = true;
      engine.dumpLog(`test "${name}" failed: ${e && e.message}`);
      throw e;
    } finally {
      for (const x of extra) await settle(Promise.resolve(x()));
      if (ok) await stopEngineChecked(engine, assert);
      else await settle(engine.stop());
    }
  });
}

const call = (w, id, payload) => w.trigger({ function_id: id, payload, timeoutMs: 15000 });

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

async function streamClient(engine, port = engine.streamPort, path = '/', opts = {}) {
  return RawClient.open({ url: `ws://127.0.0.1:${port}`, rawClients: engine.rawClients }, path, opts);
}

const fanoutProcs = (engine) => engine.children().filter((c) => c.cmdline.startsWith('trine: fanout'));

// Socket inode of the server side of 127.0.0.1:serverPort <-> 127.0.0.1:clientPort.
function serverInode(serverPort, clientPort) {
  const hex = (p) => p.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      if (f[1].endsWith(`:${hex(serverPort)}`) && f[2].endsWith(`:${hex(clientPort)}`) && f[9] !== '0') return f[9];
    }
  }
  return null;
}

function holdsInode(pid, inode) {
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return true;
      } catch {
        /* closed meanwhile */
      }
    }
  } catch {
    /* gone */
  }
  return false;
}

// Which fanout process serves the client whose local port is clientPort?
async function fanoutHolding(engine, clientPort) {
  return waitFor(() => {
    const inode = serverInode(engine.streamPort, clientPort);
    if (!inode) return null;
    const f = fanoutProcs(engine).find((p) => holdsInode(p.pid, inode));
    return f ? f.pid : null;
  }, { what: `the fanout holding client port ${clientPort}` });
}

const rawPort = (c) => c.ws._socket.localPort;

engineCase('two fanout processes: clients on both see the same events in the same order', ['--fanouts', '2'], async (engine, w, extra) => {
  await waitFor(() => fanoutProcs(engine).length === 2, { what: 'two fanouts' });
  const clients = [];
  const byFanout = new Map();
  extra.push(() => clients.forEach((c) => c.terminate()));
  // the kernel hands connections to whichever fanout accepts first: open
  // clients until both fanouts serve some
  for (let i = 0; i < 60 && (byFanout.size < 2 || clients.length < 6); i++) {
    const c = await streamClient(engine);
    clients.push(c);
    const pid = await fanoutHolding(engine, rawPort(c));
    byFanout.set(pid, (byFanout.get(pid) || 0) + 1);
  }
  assert.equal(byFanout.size, 2, 'both fanouts serve clients');
  for (const [i, c] of clients.entries()) {
    c.send({ type: 'join', data: { subscriptionId: `s${i}`, streamName: 'scale', groupId: 'g' } });
  }
  for (const c of clients) await c.waitForMessage((m) => m.event?.type === 'sync', { what: 'sync' });
  for (let i = 0; i < 30; i++) {
    if (i % 3 === 2) await call(w, 'stream::send', { stream_name: 'scale', group_id: 'g', type: 'ping', data: { n: i } });
    else await call(w, 'stream::set', { stream_name: 'scale', group_id: 'g', item_id: `i${i % 4}`, data: { id: `i${i % 4}`, n: i } });
  }
  for (const c of clients) await waitFor(() => c.messages.length >= 31, { what: '30 live events on every client' });
  await sleep(200);
  const seqOf = (c) => c.messages.slice(1).map((m) => [m.event.type, m.timestamp, m.event.data?.n ?? m.event.event?.data?.n]);
  const first = seqOf(clients[0]);
  assert.deepEqual(first.map((x) => x[2]), [...Array(30).keys()], 'nothing lost, duplicated or reordered');
  for (const c of clients.slice(1)) assert.deepEqual(seqOf(c), first, 'every client, on either fanout, got the same frames');
});

let tcpPorts;
engineCase('a fanout started alone against a router listening on TCP serves stream clients', async () => {
  tcpPorts = { router: await freePort(), pub: await freePort(), stream: await freePort() };
  return ['--fanouts', '0', '--router_listen', `tcp://127.0.0.1:${tcpPorts.router}`,
    '--router_pub_listen', `tcp://127.0.0.1:${tcpPorts.pub}`];
}, async (engine, w, extra) => {
  const { router: rp, pub: pp, stream: sp } = tcpPorts;
  assert.equal(fanoutProcs(engine).length, 0, 'the engine runs no fanout of its own');
  const log = `${engine.dir}/fanout.stderr`;
  const fd = fs.openSync(log, 'w');
  const fan = spawn(TRINE_BIN, [
    'fanout', '--router_endpoint', `tcp://127.0.0.1:${rp}`, '--router_pub_endpoint', `tcp://127.0.0.1:${pp}`,
    '--stream_port', String(sp), '--data_dir', `${engine.dir}/fanout-data`, '--log_level', 'info',
  ], { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const fanExit = new Promise((resolve) => fan.once('exit', (code, signal) => resolve({ code, signal })));
  let stopped = false;
  extra.push(async () => {
    if (!stopped && pidAlive(fan.pid)) fan.kill('SIGKILL');
  });
  await call(w, 'stream::set', { stream_name: 'remote', group_id: 'g', item_id: 'a', data: { id: 'a', v: 1 } });
  const c = await waitFor(async () => (await settle(streamClient(engine, sp))).value || null,
    { timeout: 15000, what: 'the standalone fanout to accept' });
  c.send({ type: 'join', data: { subscriptionId: 'r', streamName: 'remote', groupId: 'g' } });
  const sync = await c.waitForMessage((m) => m.event?.type === 'sync', { what: 'sync over the TCP link' });
  assert.deepEqual(sync.event.data, [{ id: 'a', v: 1 }]);
  await call(w, 'stream::set', { stream_name: 'remote', group_id: 'g', item_id: 'b', data: { id: 'b' } });
  await call(w, 'stream::send', { stream_name: 'remote', group_id: 'g', type: 'hello', data: { x: 1 } });
  await c.waitForMessage((m) => m.event?.type === 'event' && m.event.event.type === 'hello', { what: 'live events over the TCP link' });
  assert.deepEqual(c.messages.slice(1).map((m) => m.event.type), ['create', 'event']);
  assert.equal(c.messages[1].id, 'b');
  // SIGTERM: the client gets a going-away close, the fanout exits 0
  fan.kill('SIGTERM');
  stopped = true;
  const info = await c.closed;
  assert.equal(info.code, 1001);
  const r = await Promise.race([fanExit, sleep(10000).then(() => 'timeout')]);
  assert.deepEqual(r, { code: 0, signal: null }, `the fanout exits 0 on SIGTERM:\n${fs.readFileSync(log, 'utf8')}`);
});

// A WebSocket client on a bare TCP socket, so that it can stop reading.
async function pausedClient(port, join) {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  const key = crypto.randomBytes(16).toString('base64');
  sock.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  let buf = Buffer.alloc(0);
  await new Promise((resolve, reject) => {
    const on = (d) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      sock.off('data', on);
      if (!buf.subarray(0, 12).toString().includes('101')) reject(new Error(`handshake: ${buf.toString()}`));
      buf = buf.subarray(end + 4);
      resolve();
    };
    sock.on('data', on);
  });
  const payload = Buffer.from(JSON.stringify(join));
  const mask = crypto.randomBytes(4);
  const hdr = payload.length < 126 ? Buffer.from([0x81, 0x80 | payload.length]) : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 255]);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
  sock.write(Buffer.concat([hdr, mask, body]));
  const st = { sock, buf, ended: false, port: sock.localPort };
  sock.on('data', (d) => { st.buf = Buffer.concat([st.buf, d]); });
  sock.on('end', () => { st.ended = true; });
  sock.on('close', () => { st.ended = true; });
  sock.on('error', () => { st.ended = true; });
  return st;
}

engineCase('a stream client that stops reading is closed with a reason; fast clients get every event',
  ['--stream_output_hard_limit', '1m', '--stream_output_soft_limit', '1m', '--stream_output_soft_seconds', '60'],
  async (engine, w, extra) => {
    const join = (id) => ({ type: 'join', data: { subscriptionId: id, streamName: 'firehose', groupId: 'g' } });
    const fast = [await streamClient(engine), await streamClient(engine)];
    extra.push(() => fast.forEach((c) => c.terminate()));
    fast.forEach((c, i) => c.send(join(`f${i}`)));
    for (const c of fast) await c.waitForMessage((m) => m.event?.type === 'sync', { what: 'fast sync' });
    const slow = await pausedClient(engine.streamPort, join('slow'));
    extra.push(() => slow.sock.destroy());
    await waitFor(() => slow.buf.length > 0, { what: 'the slow client\'s sync' });
    slow.sock.pause(); // stop reading: the kernel buffers fill, then the fanout's
    const blob = 'x'.repeat(32 * 1024);
    let sent = 0;
    // (the fast clients, reading, are never more than a few events behind)
    const mark = new RegExp(`127\\.0\\.0\\.1:${slow.port}\\): [^\\n]*slow consumer`);
    const closed = () => mark.test(engine.log());
    while (!closed() && sent < 3000) {
      const batch = [];
      for (let i = 0; i < 4; i++, sent++) {
        batch.push(call(w, 'stream::send', { stream_name: 'firehose', group_id: 'g', type: 'blob', data: { n: sent, blob } }));
      }
      await Promise.all(batch);
    }
    assert.ok(closed(), `the fanout closed the slow client after ${sent} events of 32 KiB`);
    slow.sock.resume(); // read what is left: the close frame follows the backlog
    await waitFor(() => slow.ended, { timeout: 15000, what: 'the slow client\'s connection to end' });
    const close = parseFrames(slow.buf).find((f) => f.opcode === 8);
    assert.ok(close, 'a close frame reached the slow client');
    assert.equal(close.payload.readUInt16BE(0), 1008, 'policy violation');
    assert.match(close.payload.subarray(2).toString(), /slow consumer/);
    const others = engine.log().split('\n').filter((l) => /slow consumer/.test(l) && !l.includes(`:${slow.port})`));
    assert.deepEqual(others, [], 'no fast client was closed');
    for (const c of fast) {
      await waitFor(() => c.messages.length >= sent + 1, { timeout: 20000, what: `all ${sent} events on a fast client` });
      assert.deepEqual(c.messages.slice(1).map((m) => m.event.event.data.n), [...Array(sent).keys()]);
      assert.ok(c.isOpen, 'fast clients stay connected');
    }
  });

engineCase('stream_auth_function: its context reaches stream:join/stream:leave triggers, which may refuse the join',
  ['--stream_auth_function', 'auth::stream'], async (engine, w) => {
    const seen = [];
    w.registerFunction('auth::stream', async (req) => {
      seen.push(['auth', req]);
      return { context: { user: req.query_params?.user?.[0] ?? null, team: req.headers?.['x-team'] ?? null } };
    });
    w.registerFunction('gate::join', async (d) => {
      seen.push(['join', d]);
      return d.context?.user === d.group_id ? {} : { unauthorized: true };
    });
    w.registerFunction('gate::leave', async (d) => { seen.push(['leave', d]); return null; });
    w.registerTrigger({ type: 'stream:join', function_id: 'gate::join', config: {} });
    w.registerTrigger({ type: 'stream:leave', function_id: 'gate::leave', config: {} });
    await workerReady(w);
    await sleep(200);
    await call(w, 'stream::set', { stream_name: 'inbox', group_id: 'alice', item_id: 'm', data: { id: 'm' } });
    await call(w, 'stream::set', { stream_name: 'inbox', group_id: 'bob', item_id: 'm', data: { id: 'm', secret: 1 } });
    const c = await streamClient(engine, engine.streamPort, '/?user=alice&x=1', { headers: { 'X-Team': 'red' } });
    const auth = await waitFor(() => seen.find((s) => s[0] === 'auth'), { what: 'the auth call' });
    assert.deepEqual(auth[1].query_params, { user: ['alice'], x: ['1'] });
    assert.equal(auth[1].headers['x-team'], 'red');
    assert.match(auth[1].addr, /^127\.0\.0\.1:\d+$/);
    // own group: allowed, with the context
    c.send({ type: 'join', data: { subscriptionId: 'own', streamName: 'inbox', groupId: 'alice' } });
    const sync = await c.waitForMessage((m) => m.event?.type === 'sync', { what: 'sync of the own group' });
    assert.deepEqual(sync.event.data, [{ id: 'm' }]);
    const j = seen.find((s) => s[0] === 'join' && s[1].subscription_id === 'own')[1];
    assert.deepEqual(j, { subscription_id: 'own', stream_name: 'inbox', group_id: 'alice', id: null, context: { user: 'alice', team: 'red' } });
    // someone else's group: an unauthorized frame, no sync, no events
    c.send({ type: 'join', data: { subscriptionId: 'other', streamName: 'inbox', groupId: 'bob' } });
    const u = await c.waitForMessage((m) => m.event?.type === 'unauthorized', { what: 'unauthorized' });
    assert.equal(u.groupId, 'bob');
    assert.equal(u.event.data, undefined, 'an unauthorized frame carries no data');
    await call(w, 'stream::set', { stream_name: 'inbox', group_id: 'bob', item_id: 'n', data: { id: 'n' } });
    await call(w, 'stream::set', { stream_name: 'inbox', group_id: 'alice', item_id: 'n', data: { id: 'n' } });
    await c.waitForMessage((m) => m.event?.type === 'create' && m.groupId === 'alice', { what: 'own group create' });
    await sleep(200);
    assert.ok(!c.messages.some((m) => m.groupId === 'bob' && m.event.type !== 'unauthorized'), 'nothing of the refused group');
    // no leave for the refused join; leave with the context on close
    c.terminate();
    const l = await waitFor(() => seen.find((s) => s[0] === 'leave'), { what: 'leave trigger on close' });
    assert.deepEqual(l[1], { subscription_id: 'own', stream_name: 'inbox', group_id: 'alice', id: null, context: { user: 'alice', team: 'red' } });
    await sleep(300);
    assert.equal(seen.filter((s) => s[0] === 'leave').length, 1, 'the refused subscription does not leave');
    // a client without a user gets context {user:null}: refused everywhere
    const anon = await streamClient(engine);
    anon.send({ type: 'join', data: { subscriptionId: 'a', streamName: 'inbox', groupId: 'alice' } });
    await anon.waitForMessage((m) => m.event?.type === 'unauthorized', { what: 'anonymous refused' });
    anon.terminate();
  });

engineCase('kill -9 of a fanout: its @motiadev/stream-client-node clients reconnect and rejoin, the others are unaffected, stream:leave runs for its subscriptions',
  ['--fanouts', '2'], async (engine, w, extra) => {
    const leaves = [];
    w.registerFunction('gate::leave', async (d) => { leaves.push(d.subscription_id); return null; });
    w.registerTrigger({ type: 'stream:leave', function_id: 'gate::leave', config: {} });
    await workerReady(w);
    await waitFor(() => fanoutProcs(engine).length === 2, { what: 'two fanouts' });
    await call(w, 'stream::set', { stream_name: 'board', group_id: 'g', item_id: 'a', data: { id: 'a' } });
    const clients = [];
    extra.push(() => clients.forEach((x) => x.client.close()));
    const byFanout = new Map();
    for (let i = 0; i < 60 && (byFanout.size < 2 || clients.length < 4); i++) {
      const client = new Stream(`ws://127.0.0.1:${engine.streamPort}`);
      const sub = client.subscribeGroup('board', 'g');
      await waitFor(() => sub.getState().length === 1, { what: 'group sync' });
      const adapter = client.ws;
      const pid = await fanoutHolding(engine, adapter.ws._socket.localPort);
      clients.push({ client, sub, adapter, pid });
      byFanout.set(pid, (byFanout.get(pid) || 0) + 1);
    }
    assert.equal(byFanout.size, 2, 'clients on both fanouts');
    const victim = clients[0].pid;
    const onVictim = clients.filter((x) => x.pid === victim);
    const others = clients.filter((x) => x.pid !== victim);
    engine.killChild(victim);
    // the victim's subscriptions leave (the router noticed the fanout is gone)
    const victimSubs = onVictim.map((x) => x.sub.sub.subscriptionId).sort();
    await waitFor(() => victimSubs.every((s) => leaves.includes(s)), { timeout: 20000, what: 'stream:leave for the dead fanout\'s subscriptions' });
    // the victim's clients reconnect (after 2 s) on a new socket and rejoin
    await waitFor(() => onVictim.every((x) => x.client.ws !== x.adapter && x.client.ws.isOpen()), { timeout: 20000, what: 'reconnects' });
    await call(w, 'stream::set', { stream_name: 'board', group_id: 'g', item_id: 'b', data: { id: 'b' } });
    for (const x of clients) {
      await waitFor(() => x.sub.getState().some((i) => i.id === 'b'), { timeout: 15000, what: 'the new item on every client' });
    }
    assert.deepEqual(x2ids(clients[0].sub), ['a', 'b']);
    for (const x of others) {
      assert.equal(x.client.ws, x.adapter, 'a client of the other fanout kept its connection');
      assert.deepEqual(x2ids(x.sub), ['a', 'b']);
    }
    await sleep(300);
    assert.deepEqual(leaves.filter((s) => !victimSubs.includes(s)), [], 'no leave for the other fanout\'s clients');
    assert.equal(leaves.length, victimSubs.length, 'one leave per lost subscription');
  });

function x2ids(sub) {
  return sub.getState().map((i) => i.id).sort();
}
