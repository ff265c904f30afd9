// Worker-protocol and WebSocket details a hand-written client (or a future
// SDK) relies on: void calls, reattach, unregistering, the close handshake,
// fragmentation, RFC 6455 violations, telemetry frames.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { before, after } from 'node:test';
import { TriggerAction } from 'iii-sdk';
import {
  startEngine,
  stopEngineChecked,
  engineTest,
  guard,
  sdkWorker,
  workerReady,
  RawClient,
  RawSocket,
  buildFrame,
  within,
  waitFor,
  settle,
  sleep,
  callBuiltin,
  UUID_RE,
  parseFrames,
} from './harness.mjs';

let engine;
const test = engineTest(() => engine);
let sdk; // an SDK worker used as caller and as target
const calls = [];
let releaseHold = () => {};

before(guard(() => engine, 'setup', async () => {
  engine = await startEngine({ args: ['--handshake_timeout_ms', '1500'] });
  sdk = sdkWorker(engine, 'proto-sdk');
  sdk.registerFunction('p::echo', async (input) => {
    calls.push(input);
    return { echoed: input };
  });
  sdk.registerFunction('p::nothing', async () => undefined);
  sdk.registerFunction('p::hold', async (input) => {
    calls.push(input);
    await new Promise((r) => {
      const prev = releaseHold;
      releaseHold = () => {
        prev();
        r();
      };
    });
    return { held: true };
  });
  await workerReady(sdk);
}));

after(async () => {
  releaseHold();
  await stopEngineChecked(engine, assert);
});

async function rawWorker() {
  const c = await RawClient.open(engine);
  const reg = await c.waitForMessage((m) => m.type === 'workerregistered', { what: 'workerregistered' });
  c.workerId = reg.worker_id;
  c.token = reg.reattach_token;
  return c;
}

function invoke(c, function_id, data, extra = {}) {
  const invocation_id = crypto.randomUUID();
  c.send({ type: 'invokefunction', invocation_id, function_id, data, ...extra });
  return invocation_id;
}

function resultFor(c, id, what = 'invocationresult') {
  return c.waitForMessage((m) => m.type === 'invocationresult' && m.invocation_id === id, { what });
}

// Register a function from a raw client and wait until the engine routes to it.
async function rawRegister(c, id) {
  c.send({ type: 'registerfunction', id });
  const probe = invoke(c, id, { probe: true });
  const inv = await c.waitForMessage((m) => m.type === 'invokefunction' && m.function_id === id && m.data && m.data.probe, {
    what: `the probe invoke of ${id}`,
  });
  c.send({ type: 'invocationresult', invocation_id: inv.invocation_id, function_id: id, result: 'probe-ok' });
  const r = await resultFor(c, probe);
  assert.equal(r.result, 'probe-ok');
}

test('a handler that returns nothing resolves the call (result null/absent)', async () => {
  const c = await rawWorker();
  const id = invoke(c, 'p::nothing', {});
  const r = await resultFor(c, id);
  assert.equal(r.error, undefined, JSON.stringify(r));
  assert.ok(r.result === undefined || r.result === null, JSON.stringify(r));
  assert.equal(await sdk.trigger({ function_id: 'p::nothing', payload: {} }) ?? null, null);
  c.terminate();
});

test('action void with an invocation_id: the handler runs and no result is sent', async () => {
  const c = await rawWorker();
  const token = crypto.randomUUID();
  const voidId = invoke(c, 'p::echo', { token }, { action: { type: 'void' } });
  await waitFor(() => calls.find((x) => x && x.token === token), { what: 'the void call to run' });
  // A later normal call's result arrives; the void one must not have.
  const id = invoke(c, 'p::echo', { after: true });
  await resultFor(c, id);
  await sleep(100);
  assert.ok(!c.messages.some((m) => m.invocation_id === voidId), 'no invocationresult for a void call');
  c.terminate();
});

test('an invokefunction without invocation_id is fire-and-forget', async () => {
  const c = await rawWorker();
  const token = crypto.randomUUID();
  c.send({ type: 'invokefunction', function_id: 'p::echo', data: { token } });
  await waitFor(() => calls.find((x) => x && x.token === token), { what: 'the id-less call to run' });
  const id = invoke(c, 'p::echo', { after: true });
  await resultFor(c, id);
  await sleep(100);
  assert.equal(c.messages.filter((m) => m.type === 'invocationresult').length, 1, 'only the call with an id is answered');
  c.terminate();
});

test('the target always receives an invocation_id, even for void calls, and may answer it', async () => {
  const t = await rawWorker();
  await rawRegister(t, 'rawt::fn');
  const token = crypto.randomUUID();
  await sdk.trigger({ function_id: 'rawt::fn', payload: { token }, action: TriggerAction.Void() });
  const inv = await t.waitForMessage((m) => m.type === 'invokefunction' && m.data && m.data.token === token, {
    what: 'the void invoke at the raw target',
  });
  assert.match(String(inv.invocation_id), UUID_RE, `invoke at target: ${JSON.stringify(inv)}`);
  assert.equal(inv.data._caller_worker_id, sdk.workerId);
  assert.equal(inv.action, undefined, 'no action is forwarded to the target');
  // Answering a void invocation is harmless.
  t.send({ type: 'invocationresult', invocation_id: inv.invocation_id, function_id: 'rawt::fn', result: 1 });
  // And a sync call still works through the raw target.
  const p = sdk.trigger({ function_id: 'rawt::fn', payload: { sync: 1 } });
  const inv2 = await t.waitForMessage((m) => m.type === 'invokefunction' && m.data && m.data.sync === 1);
  t.send({ type: 'invocationresult', invocation_id: inv2.invocation_id, function_id: 'rawt::fn', result: { fine: true } });
  assert.deepEqual(await p, { fine: true });
  t.terminate();
});

test('an error result from a raw target reaches the caller unchanged', async () => {
  const t = await rawWorker();
  await rawRegister(t, 'rawt::err');
  const p = settle(sdk.trigger({ function_id: 'rawt::err', payload: {} }));
  const inv = await t.waitForMessage((m) => m.type === 'invokefunction' && m.function_id === 'rawt::err' && !m.data.probe);
  t.send({
    type: 'invocationresult',
    invocation_id: inv.invocation_id,
    function_id: 'rawt::err',
    error: { code: 'my_code', message: 'my message', stacktrace: 'at here' },
  });
  const r = await p;
  assert.equal(r.ok, false);
  assert.equal(r.error.code, 'my_code');
  assert.match(r.error.message, /my message/);
  assert.equal(r.error.stacktrace, 'at here');
  t.terminate();
});

test('unregisterfunction makes the function unknown', async () => {
  const ref = sdk.registerFunction('p::temp', async () => 'temp');
  await workerReady(sdk);
  assert.equal(await sdk.trigger({ function_id: 'p::temp', payload: {} }), 'temp');
  ref.unregister();
  await workerReady(sdk); // the unregister was sent before this round trip
  const r = await settle(sdk.trigger({ function_id: 'p::temp', payload: {} }));
  assert.equal(r.ok, false);
  assert.equal(r.error.code, 'function_not_found');
});

test('reattach with the right token evicts the old connection and keeps the new registrations', async () => {
  const old = await rawWorker();
  await rawRegister(old, 'reat::fn');
  const neu = await rawWorker();
  neu.send({ type: 'reattach', previous_worker_id: old.workerId, reattach_token: old.token });
  neu.send({ type: 'registerfunction', id: 'reat::fn' });
  await within(old.closed, 10000, 'the old connection to be closed by the reattach');
  assert.ok(neu.isOpen);
  // Calls reach the new connection.
  const p = sdk.trigger({ function_id: 'reat::fn', payload: { n: 1 } });
  const inv = await neu.waitForMessage((m) => m.type === 'invokefunction' && m.function_id === 'reat::fn', {
    what: 'the call to reach the reattached connection',
  });
  neu.send({ type: 'invocationresult', invocation_id: inv.invocation_id, function_id: 'reat::fn', result: 'new' });
  assert.equal(await p, 'new');
  const ids = (await callBuiltin(sdk, 'engine::workers::list')).workers.map((w) => w.id);
  assert.ok(!ids.includes(old.workerId), 'the evicted worker is gone');
  assert.ok(ids.includes(neu.workerId));
  neu.terminate();
});

test('reattach with a wrong token is ignored', async () => {
  const old = await rawWorker();
  const neu = await rawWorker();
  neu.send({ type: 'reattach', previous_worker_id: old.workerId, reattach_token: crypto.randomUUID() });
  neu.send({ type: 'reattach', previous_worker_id: old.workerId });
  neu.send({ type: 'reattach', previous_worker_id: neu.workerId, reattach_token: neu.token });
  await neu.pingPong();
  await old.pingPong();
  assert.ok(old.isOpen && neu.isOpen);
  old.terminate();
  neu.terminate();
});

test('a caller that disconnects mid-call does not disturb the target or the engine', async () => {
  const c = await rawWorker();
  const before = calls.length;
  invoke(c, 'p::hold', { from: 'leaver' });
  await waitFor(() => calls.length > before, { what: 'p::hold to start' });
  c.terminate();
  await sleep(100);
  releaseHold(); // the target answers a call whose caller is gone
  assert.deepEqual(await sdk.trigger({ function_id: 'p::echo', payload: 5 }), { echoed: 5 });
});

test('the close handshake: a client close 1000 is answered with a close frame', async () => {
  const c = await rawWorker();
  c.ws.close(1000, 'bye');
  const info = await within(c.closed, 10000, 'the close handshake to complete');
  assert.equal(info.code, 1000, JSON.stringify(info));
});

test('a fragmented message is reassembled, with a control ping between fragments', async () => {
  const r = await RawSocket.open(engine);
  try {
    assert.equal(r.status, 101, r.head);
    const id = crypto.randomUUID();
    const msg = JSON.stringify({ type: 'invokefunction', invocation_id: id, function_id: 'p::echo', data: { frag: 'x'.repeat(3000) } });
    const a = msg.slice(0, 1000);
    const b = msg.slice(1000, 2000);
    const c = msg.slice(2000);
    r.write(buildFrame(0x1, a, { fin: false }));
    r.write(buildFrame(0x9, 'mid')); // control frames may be interleaved
    r.write(buildFrame(0x0, b, { fin: false }));
    r.write(buildFrame(0x0, c, { fin: true }));
    const pong = await waitFor(() => r.frames().find((f) => f.opcode === 0xa), { what: 'the pong' });
    assert.equal(pong.payload.toString(), 'mid');
    const res = await waitFor(
      () => r.frames().find((f) => f.opcode === 0x1 && f.payload.toString().includes(id)),
      { what: 'the result of the fragmented call' },
    );
    const m = JSON.parse(res.payload.toString());
    assert.equal(m.result.echoed.frag.length, 3000);
  } finally {
    r.destroy();
  }
});

const violations = [
  ['reserved bits without an extension', () => buildFrame(0x1, '{"type":"ping"}', { rsv: 4 })],
  ['an unknown opcode', () => buildFrame(0x3, 'x')],
  ['a control frame longer than 125 bytes', () => buildFrame(0x9, Buffer.alloc(126, 0x61))],
  ['a fragmented control frame', () => buildFrame(0x9, 'x', { fin: false })],
  ['a continuation frame with nothing to continue', () => buildFrame(0x0, '{"type":"ping"}')],
  ['a new data frame inside a fragmented message', () =>
    Buffer.concat([buildFrame(0x1, '{"type":', { fin: false }), buildFrame(0x1, '"ping"}')])],
];
for (const [what, frame] of violations) {
  test(`${what} is closed with 1002`, async () => {
    const r = await RawSocket.open(engine);
    try {
      assert.equal(r.status, 101, r.head);
      r.write(frame());
      assert.equal(await r.closeCode(), 1002);
      await within(r.ended, 10000, 'the engine to close the TCP connection');
    } finally {
      r.destroy();
    }
  });
}

test('an unsupported Sec-WebSocket-Version is refused with 426 and the supported version', async () => {
  const r = await RawSocket.open(engine, { version: '8' });
  try {
    assert.equal(r.status, 426, r.head);
    assert.match(r.head, /sec-websocket-version:\s*13/i);
  } finally {
    r.destroy();
  }
});

test('an upgrade without Sec-WebSocket-Key is refused with 400', async () => {
  const r = await RawSocket.open(engine, {
    headers: [`Host: 127.0.0.1:${engine.workerPort}`, 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13'],
  });
  try {
    assert.equal(r.status, 400, r.head);
  } finally {
    r.destroy();
  }
});

test('a connection that never completes the handshake is closed (--handshake_timeout_ms)', async () => {
  const net = await import('node:net');
  const s = net.connect({ port: engine.workerPort, host: '127.0.0.1' });
  s.on('error', () => {});
  s.on('data', () => {});
  s.write('GET / HTTP/1.1\r\nHost: x\r\n'); // and then nothing
  await within(new Promise((r) => s.once('close', r)), 10000, 'the engine to drop the silent connection');
  s.destroy();
});

test('telemetry frames (OTLP/MTRC/LOGS binary) on / are not treated as protocol errors', async () => {
  const c = await rawWorker();
  c.sendBinary(Buffer.concat([Buffer.from('OTLP'), Buffer.from('{"resourceSpans":[]}')]));
  c.sendBinary(Buffer.concat([Buffer.from('MTRC'), Buffer.from('{"resourceMetrics":[]}')]));
  c.sendBinary(Buffer.concat([Buffer.from('LOGS'), Buffer.from('{"resourceLogs":[]}')]));
  c.sendBinary(Buffer.from('LOGS not json'));
  await c.pingPong();
  assert.ok(c.isOpen);
  assert.ok(!c.messages.some((m) => m.type === 'error'));
  c.terminate();
});

test('the /otel endpoint accepts the SDK telemetry socket', async () => {
  const c = await RawClient.open(engine, '/otel');
  c.sendBinary(Buffer.concat([Buffer.from('LOGS'), Buffer.from('{"resourceLogs":[]}')]));
  await sleep(100);
  assert.ok(c.isOpen, `closed: ${JSON.stringify(c.closeInfo)}`);
  c.terminate();
});

test('a worker with the default options (OpenTelemetry on) works', async () => {
  const w = sdkWorker(engine, 'otel-on', { otel: { enabled: true }, enableMetricsReporting: true });
  w.registerFunction('otel::fn', async ({ x }) => x * 3);
  await workerReady(w);
  assert.equal(await sdk.trigger({ function_id: 'otel::fn', payload: { x: 3 } }), 9);
  assert.equal(await w.trigger({ function_id: 'p::echo', payload: 1 }).then((r) => r.echoed), 1);
});

test('a handshake and the first frame in one TCP write: the frame is processed', async () => {
  const net = await import('node:net');
  const key = crypto.randomBytes(16).toString('base64');
  const s = net.connect({ port: engine.workerPort, host: '127.0.0.1' });
  let buf = Buffer.alloc(0);
  s.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
  });
  s.on('error', () => {});
  await new Promise((r) => s.once('connect', r));
  s.write(
    Buffer.concat([
      Buffer.from(
        `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
      buildFrame(0x1, '{"type":"ping"}'),
    ]),
  );
  try {
    await waitFor(
      () => {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return false;
        return parseFrames(buf.subarray(end + 4)).some((f) => f.opcode === 0x1 && f.payload.toString().includes('pong'));
      },
      { what: 'a pong to the frame sent together with the handshake' },
    );
  } finally {
    s.destroy();
  }
});

test('a frame written one byte at a time is processed', async () => {
  const r = await RawSocket.open(engine);
  try {
    const f = buildFrame(0x1, '{"type":"ping"}');
    for (const b of f) {
      r.write(Buffer.from([b]));
      await sleep(2);
    }
    await waitFor(() => r.frames().some((x) => x.opcode === 0x1 && x.payload.toString().includes('pong')), {
      what: 'a pong to the byte-by-byte frame',
    });
  } finally {
    r.destroy();
  }
});

test('50 frames in one TCP write get 50 answers', async () => {
  const r = await RawSocket.open(engine);
  try {
    const frames = [];
    for (let i = 0; i < 50; i++) frames.push(buildFrame(0x1, '{"type":"ping"}'), buildFrame(0x9, `p${i}`));
    r.write(Buffer.concat(frames));
    await waitFor(
      () =>
        r.frames().filter((x) => x.opcode === 0x1 && x.payload.toString().includes('pong')).length === 50 &&
        r.frames().filter((x) => x.opcode === 0xa).length === 50,
      { what: '50 pongs and 50 control pongs' },
    );
    const pongs = r.frames().filter((x) => x.opcode === 0xa).map((x) => x.payload.toString());
    assert.deepEqual(pongs, Array.from({ length: 50 }, (_, i) => `p${i}`), 'control pongs in order, same payloads');
  } finally {
    r.destroy();
  }
});

test('header names and tokens are case-insensitive (Connection: keep-alive, Upgrade)', async () => {
  const key = crypto.randomBytes(16).toString('base64');
  const r = await RawSocket.open(engine, {
    key,
    headers: [
      `host: 127.0.0.1:${engine.workerPort}`,
      'upgrade: WebSocket',
      'connection: keep-alive, Upgrade',
      `sec-websocket-key: ${key}`,
      'sec-websocket-version: 13',
      'User-Agent: firefox-like',
    ],
  });
  try {
    assert.equal(r.status, 101, r.head);
  } finally {
    r.destroy();
  }
});

test('a handshake head larger than the limit is refused with 431', async () => {
  const r = await RawSocket.open(engine, {
    headers: [
      `Host: 127.0.0.1:${engine.workerPort}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}`,
      'Sec-WebSocket-Version: 13',
      `X-Big: ${'a'.repeat(20000)}`,
    ],
  });
  try {
    assert.equal(r.status, 431, r.head);
  } finally {
    r.destroy();
  }
});

for (const [what, payload, code] of [
  ['a close frame with a 1-byte payload', Buffer.from([0x03]), 1002],
  ['a close frame with the reserved code 1005', Buffer.from([0x03, 0xed]), 1002],
  ['a close frame with code 999', Buffer.from([0x03, 0xe7]), 1002],
  ['a close frame with an invalid UTF-8 reason', Buffer.from([0x03, 0xe8, 0xc3, 0x28]), 1007],
]) {
  test(`${what} is answered with close ${code}`, async () => {
    const r = await RawSocket.open(engine);
    try {
      r.write(buildFrame(0x8, payload));
      assert.equal(await r.closeCode(), code);
    } finally {
      r.destroy();
    }
  });
}

test('200 connections at once all get workerregistered and answers', async () => {
  const clients = await Promise.all(Array.from({ length: 200 }, () => RawClient.open(engine)));
  await Promise.all(clients.map((c) => c.waitForMessage((m) => m.type === 'workerregistered')));
  const ids = new Set(clients.map((c) => c.messages[0].worker_id));
  assert.equal(ids.size, 200, 'every connection has its own worker id');
  await Promise.all(clients.map((c) => c.pingPong()));
  for (const c of clients) c.terminate();
  assert.deepEqual(await sdk.trigger({ function_id: 'p::echo', payload: 1 }), { echoed: 1 });
});

test('a payload cannot spoof _caller_worker_id', async () => {
  const other = sdkWorker(engine, 'spoof-victim');
  await workerReady(other);
  const c = await rawWorker();
  const id = invoke(c, 'p::echo', { _caller_worker_id: other.workerId, x: 1 });
  const r = await resultFor(c, id);
  assert.equal(r.result.echoed._caller_worker_id, c.workerId, 'the engine sets the real caller id');
  // engine::workers::register uses it to find the worker: a spoof must not rename another worker.
  c.send({
    type: 'invokefunction',
    function_id: 'engine::workers::register',
    action: { type: 'void' },
    data: { runtime: 'evil', name: 'hijacked', _caller_worker_id: other.workerId },
  });
  await c.pingPong();
  await sleep(200);
  const list = (await callBuiltin(sdk, 'engine::workers::list')).workers;
  const victim = list.find((w) => w.id === other.workerId);
  assert.equal(victim.name, 'spoof-victim', JSON.stringify(victim));
  c.terminate();
});

test('the target sees _caller_worker_id exactly once, the engine\'s, even when the caller sent one', async () => {
  const target = await rawWorker();
  target.send({ type: 'registerfunction', id: 'p::rawtarget' });
  await target.pingPong();
  const c = await rawWorker();
  const id = invoke(c, 'p::rawtarget', { _caller_worker_id: 'spoofed', x: 1 });
  const inv = await target.waitForMessage((m) => m.type === 'invokefunction' && m.function_id === 'p::rawtarget');
  const raw = target.rawFrames.map((f) => f.data.toString()).find((t) => t.includes('p::rawtarget') && t.includes('invokefunction'));
  assert.equal(raw.split('_caller_worker_id').length - 1, 1, `one key in ${raw}`);
  assert.equal(inv.data._caller_worker_id, c.workerId);
  assert.equal(inv.data.x, 1);
  target.send({ type: 'invocationresult', invocation_id: inv.invocation_id, function_id: 'p::rawtarget', result: 1 });
  await resultFor(c, id);
  c.terminate();
  target.terminate();
});

test('two callers using the same invocation_id each get their own result', async () => {
  const a = await rawWorker();
  const b = await rawWorker();
  const id = crypto.randomUUID();
  a.send({ type: 'invokefunction', invocation_id: id, function_id: 'p::echo', data: { who: 'a' } });
  b.send({ type: 'invokefunction', invocation_id: id, function_id: 'p::echo', data: { who: 'b' } });
  const ra = await resultFor(a, id);
  const rb = await resultFor(b, id);
  assert.equal(ra.result.echoed.who, 'a');
  assert.equal(rb.result.echoed.who, 'b');
  a.terminate();
  b.terminate();
});

test('an invocationresult from a connection that was not asked is ignored', async (t) => {
  const a = await rawWorker();
  const c = await rawWorker();
  const id = invoke(a, 'p::hold', { who: 'a' });
  await sleep(100);
  c.send({ type: 'invocationresult', invocation_id: id, function_id: 'p::hold', result: 'spoofed' });
  await c.pingPong();
  await sleep(200);
  releaseHold();
  const r = await resultFor(a, id);
  assert.equal(r.result && r.result.held, true, `the caller got ${JSON.stringify(r)}`);
  a.terminate();
  c.terminate();
});

test('metadata passed with a call reaches the handler', async () => {
  const seenMeta = [];
  const w = sdkWorker(engine, 'meta-target');
  w.registerFunction('meta::fn', async (input, metadata) => {
    seenMeta.push(metadata);
    return 'ok';
  });
  await workerReady(w);
  assert.equal(await sdk.trigger({ function_id: 'meta::fn', payload: {}, metadata: { tenant: 'acme', n: [1, 2] } }), 'ok');
  assert.deepEqual(seenMeta.at(-1), { tenant: 'acme', n: [1, 2] });
});

test('long and odd function ids work or are refused; no call hangs', async (t) => {
  const ids = [
    'a'.repeat(255),
    'b'.repeat(256),
    'c'.repeat(300),
    'd'.repeat(1000),
    'q"\\'.repeat(150), // needs escaping: 450 chars, 750 escaped
    'ns::fn/π?x=1&y=" ü 😀',
    'tab\there',
  ];
  const w = sdkWorker(engine, 'odd-ids');
  ids.forEach((id, i) => w.registerFunction(id, async () => `fn${i}`));
  await workerReady(w);
  const outcomes = [];
  for (const [i, id] of ids.entries()) {
    const r = await settle(sdk.trigger({ function_id: id, payload: { i }, timeoutMs: 8000 }));
    outcomes.push(`${id.length} chars: ${r.ok ? r.value : r.error.code}`);
    if (r.ok) assert.equal(r.value, `fn${i}`);
    else assert.notEqual(r.error.code, 'TIMEOUT', `call to the ${id.length}-char id ${JSON.stringify(id.slice(0, 20))}… got no answer from the engine`);
  }
  t.diagnostic(outcomes.join('; '));
  // Short odd ids must work.
  assert.equal(await sdk.trigger({ function_id: ids[5], payload: {} }), 'fn5');
  assert.equal(await sdk.trigger({ function_id: ids[6], payload: {} }), 'fn6');
});
