// Byte channels and streaming HTTP bodies: engine::channels::create, the
// /ws/channels/<id>?key=&dir=read|write endpoint, and HTTP functions written
// with the SDK's http() helper that stream their response (set_status,
// set_headers, binary chunks) or read the request body as a stream. With two
// brokers the writer, the reader and the HTTP request land on different
// processes, so chunks cross brokers through the router.
// Bad input: a wrong access key gets 403, an unknown channel 404, a
// malformed channel URL 400, a second writer 409; a channel whose creator
// disconnected is gone (404).

import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import crypto from 'node:crypto';
import WebSocket from 'ws';
import { http } from '@iii-dev/helpers/http';
import { createChannel } from 'iii-sdk/helpers';
import {
  startEngine,
  stopEngineChecked,
  engineTest,
  sdkWorker,
  workerReady,
  shutdownWorker,
  callBuiltin,
  waitFor,
  within,
  guard,
} from './harness.mjs';

let engine;
let base;
const test = engineTest(() => engine);

before(guard(() => engine, 'setup', async () => {
  engine = await startEngine({ args: ['--http_max_body', '64m'] });
  base = `http://127.0.0.1:${engine.httpPort}`;
}));

after(async () => {
  await stopEngineChecked(engine, assert);
});

async function routeLive(path, init = {}) {
  await waitFor(
    async () => {
      for (let i = 0; i < 4; i++) {
        const r = await fetch(base + path, { ...init, headers: { connection: 'close', ...(init.headers || {}) } });
        await r.arrayBuffer();
        if (r.status === 404) return false;
      }
      return true;
    },
    { what: `route ${path} to be served`, interval: 50 },
  );
}

// Open a channel socket by hand: resolves with the upgrade's HTTP status
// (101 when accepted) and the socket.
function openChannel(id, key, dir) {
  const url = `${engine.url}/ws/channels/${id}?key=${encodeURIComponent(key)}&dir=${dir}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('open', () => resolve({ status: 101, ws }));
    ws.on('unexpected-response', (req, res) => {
      resolve({ status: res.statusCode, ws: null });
      req.destroy();
    });
    ws.on('error', (e) => { if (!e.message.includes('Unexpected server response')) reject(e); });
  });
}

test('http() helper streams status, headers and binary chunks in order', async () => {
  const w = sdkWorker(engine, 'stream-resp');
  const chunks = [];
  for (let i = 0; i < 6; i++) chunks.push(Buffer.alloc(100000 + i * 7, i + 1));
  w.registerFunction('stream::resp', http(async (req, res) => {
    res.status(206);
    res.headers({ 'content-type': 'application/octet-stream', 'x-stream': 'yes' });
    for (const c of chunks) res.stream.write(c);
    res.stream.end();
  }));
  w.registerTrigger({ type: 'http', function_id: 'stream::resp', config: { api_path: 'stream/resp' } });
  await workerReady(w);
  await routeLive('/stream/resp');

  for (let round = 0; round < 3; round++) {
    const r = await fetch(`${base}/stream/resp`, { headers: { connection: 'close' } });
    assert.equal(r.status, 206, 'set_status reaches the client');
    assert.equal(r.headers.get('x-stream'), 'yes', 'set_headers reaches the client');
    assert.equal(r.headers.get('content-type'), 'application/octet-stream');
    const body = Buffer.from(await r.arrayBuffer());
    assert.equal(body.length, chunks.reduce((n, c) => n + c.length, 0));
    assert.ok(body.equals(Buffer.concat(chunks)), 'chunks arrive complete and in order');
  }
});

test('a streamed response with only control messages answers with that status and an empty body', async () => {
  const w = sdkWorker(engine, 'stream-empty');
  w.registerFunction('stream::empty', http(async (req, res) => {
    res.status(204);
    res.headers({ 'x-empty': '1' });
    res.close();
  }));
  w.registerTrigger({ type: 'http', function_id: 'stream::empty', config: { api_path: 'stream/empty' } });
  await workerReady(w);
  await routeLive('/stream/empty');
  const r = await fetch(`${base}/stream/empty`);
  assert.equal(r.status, 204);
  assert.equal(r.headers.get('x-empty'), '1');
  assert.equal((await r.arrayBuffer()).byteLength, 0);
});

test('a 50 MiB upload is read by the function as a stream', async () => {
  const w = sdkWorker(engine, 'stream-upload');
  w.registerFunction('stream::upload', http(async (req, res) => {
    const h = crypto.createHash('sha256');
    let n = 0;
    let pieces = 0;
    for await (const chunk of req.request_body.stream) {
      h.update(chunk);
      n += chunk.length;
      pieces++;
    }
    return { status_code: 200, body: { sha256: h.digest('hex'), bytes: n, pieces } };
  }));
  w.registerTrigger({ type: 'http', function_id: 'stream::upload', config: { api_path: 'stream/upload', http_method: 'POST' } });
  await workerReady(w);
  await routeLive('/stream/upload', { method: 'POST', body: 'x' });

  const data = crypto.randomBytes(50 * 1024 * 1024);
  const want = crypto.createHash('sha256').update(data).digest('hex');
  const r = await fetch(`${base}/stream/upload`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: data,
  });
  assert.equal(r.status, 200);
  const out = await r.json();
  assert.equal(out.bytes, data.length, 'every byte reached the function');
  assert.equal(out.sha256, want, 'the bytes are the ones sent, in order');
  assert.ok(out.pieces > 1, 'the body came as a stream of chunks');
});

test('a plain function that returns nothing still answers 200 {}', async () => {
  const w = sdkWorker(engine, 'stream-plain');
  w.registerFunction('stream::plain', async () => undefined);
  w.registerTrigger({ type: 'http', function_id: 'stream::plain', config: { api_path: 'stream/plain' } });
  await workerReady(w);
  await routeLive('/stream/plain');
  const r = await fetch(`${base}/stream/plain`);
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), {});
});

test('engine::channels::create: worker to worker across brokers, with back-pressure', async () => {
  const a = sdkWorker(engine, 'chan-a');
  const b = sdkWorker(engine, 'chan-b');
  await workerReady(a);
  await workerReady(b);
  const ch = await createChannel(a, 2);
  assert.equal(ch.writerRef.direction, 'write');
  assert.equal(ch.readerRef.direction, 'read');
  assert.equal(ch.writerRef.channel_id, ch.readerRef.channel_id);
  assert.match(ch.writerRef.access_key, /^[0-9a-f]{64}$/, 'a random 256-bit key');
  assert.notEqual(ch.writerRef.access_key, ch.readerRef.access_key, 'one key per direction');

  const data = crypto.randomBytes(3 * 1024 * 1024 + 11);
  ch.writer.stream.end(data);
  const got = await within(ch.reader.readAll(), 20000, 'reader to get the whole stream');
  assert.ok(got.equals(data), 'the reader gets every byte in order');

  // a buffer_size above 1024 is capped, not refused; a bad one is an error
  const big = await callBuiltin(b, 'engine::channels::create', { buffer_size: 5000 });
  assert.ok(big.writer && big.reader);
  await assert.rejects(callBuiltin(b, 'engine::channels::create', { buffer_size: 'x' }), /buffer_size/);
});

test('channel endpoint refuses bad keys (403), unknown channels (404), bad URLs (400) and a second writer (409)', async () => {
  const w = sdkWorker(engine, 'chan-refuse');
  await workerReady(w);
  const ch = await callBuiltin(w, 'engine::channels::create', {});
  const id = ch.writer.channel_id;

  assert.equal((await openChannel(id, ch.writer.access_key.replace(/.$/, (c) => (c === '0' ? '1' : '0')), 'write')).status, 403);
  assert.equal((await openChannel(id, ch.writer.access_key, 'read')).status, 403, "the writer's key does not open the read end");
  assert.equal((await openChannel(id, 'short', 'write')).status, 403);
  assert.equal((await openChannel('00000000-0000-4000-8000-000000000000', 'k', 'read')).status, 404);
  assert.equal((await openChannel(id, ch.writer.access_key, 'sideways')).status, 400);

  const first = await openChannel(id, ch.writer.access_key, 'write');
  assert.equal(first.status, 101);
  assert.equal((await openChannel(id, ch.writer.access_key, 'write')).status, 409);
  first.ws.close();
});

test("a channel is dropped when the worker that created it disconnects", async () => {
  const w = sdkWorker(engine, 'chan-owner');
  await workerReady(w);
  const ch = await callBuiltin(w, 'engine::channels::create', {});
  const r = await openChannel(ch.reader.channel_id, ch.reader.access_key, 'read');
  assert.equal(r.status, 101);
  const closed = new Promise((resolve) => r.ws.on('close', (code) => resolve(code)));
  await shutdownWorker(engine, w);
  assert.equal(await within(closed, 10000, 'reader socket to close'), 1000);
  await waitFor(async () => (await openChannel(ch.reader.channel_id, ch.reader.access_key, 'read')).status === 404,
    { what: 'channel to be gone' });
});
