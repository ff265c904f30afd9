// HTTP triggers: a worker registers {type:'http', config:{api_path, http_method}}
// and plain HTTP clients (node fetch, curl, raw sockets) reach its function on
// http_port through any broker. What each bad request gets is asserted:
// 404 no route, 405 wrong method (with Allow), 500 function error (its code),
// 422 condition false, 504 too slow, 413 body too large, 503 nobody serves
// the function, 500 invocation_stopped when the worker dies mid-request.

import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import { execFile } from 'node:child_process';
import net from 'node:net';
import {
  startEngine,
  stopEngineChecked,
  engineTest,
  sdkWorker,
  workerReady,
  RawClient,
  waitFor,
  sleep,
  guard,
} from './harness.mjs';

let engine;
let base;
const test = engineTest(() => engine);

const TIMEOUT_MS = 2000;
const MAX_BODY = 256 * 1024;

before(guard(() => engine, 'setup', async () => {
  engine = await startEngine({
    args: ['--http_timeout_ms', String(TIMEOUT_MS), '--http_max_body', String(MAX_BODY)],
  });
  base = `http://127.0.0.1:${engine.httpPort}`;
}));

after(async () => {
  await stopEngineChecked(engine, assert);
});

// A route is live once every broker has the table; both brokers take
// connections, so a few fresh connections must all stop answering 404.
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

async function routeGone(path) {
  await waitFor(
    async () => {
      for (let i = 0; i < 4; i++) {
        const r = await fetch(base + path, { headers: { connection: 'close' } });
        await r.arrayBuffer();
        if (r.status !== 404) return false;
      }
      return true;
    },
    { what: `route ${path} to be gone` },
  );
}

function curl(args) {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-s', '-i', ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => {
      if (err) reject(err);
      else resolve(stdout);
    });
  });
}

function parseCurl(out) {
  // the last response in the output (curl -i prints each)
  const parts = out.split(/\r\n\r\n/);
  const head = parts[0].split('\r\n');
  const status = Number(head[0].split(' ')[1]);
  const headers = {};
  for (const l of head.slice(1)) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status, headers, body: parts.slice(1).join('\r\n\r\n') };
}

test('a GET route gets the request object: template path, params, query, lower-cased headers', async () => {
  const w = sdkWorker(engine, 'http-echo');
  w.registerFunction('http::echo', async (req) => ({ status_code: 200, body: req }));
  w.registerTrigger({ type: 'http', function_id: 'http::echo', config: { api_path: '/users/:id/posts/{post}' } });
  await workerReady(w);
  await routeLive('/users/1/posts/2');

  const r = await fetch(`${base}/users/42/posts/a%20b?page=2&q=x+y%21&page=3`, {
    headers: { 'X-Custom-Header': 'Value One' },
  });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /application\/json/);
  const req = await r.json();
  assert.equal(req.path, '/users/:id/posts/{post}', 'path is the registered template');
  assert.equal(req.method, 'GET');
  assert.deepEqual(req.path_params, { id: '42', post: 'a%20b' }, 'path params are raw segments');
  assert.deepEqual(req.query_params, { page: '3', q: 'x y!' }, 'query decoded, last value wins');
  assert.equal(req.headers['x-custom-header'], 'Value One');
  assert.equal(req.headers.host, `127.0.0.1:${engine.httpPort}`);
  assert.equal(req.body, null, 'a GET without a JSON body has body null');
  assert.deepEqual(req.trigger, { type: 'http', path: '/users/:id/posts/{post}', method: 'GET' });
  assert.equal(req.raw_body, '');
  assert.equal(req._caller_worker_id, undefined, 'HTTP calls are engine calls');

  // a HEAD request is served by the GET route, without a body
  const h = await fetch(`${base}/users/1/posts/2`, { method: 'HEAD' });
  assert.equal(h.status, 200);
  assert.equal((await h.text()), '');
});

test('POST bodies: JSON parsed, other types null with raw_body text, binary as base64', async () => {
  const w = sdkWorker(engine, 'http-body');
  w.registerFunction('http::body', async (req) => ({
    body: { body: req.body, raw_body: req.raw_body, raw_body_base64: req.raw_body_base64, ct: req.headers['content-type'] },
  }));
  w.registerTrigger({ type: 'http', function_id: 'http::body', config: { api_path: 'body', http_method: 'post' } });
  await workerReady(w);
  await routeLive('/body', { method: 'POST' });

  const payload = { a: [1, 2, { b: 'é✓' }], n: 12345678901, s: 'x'.repeat(1000) };
  let r = await fetch(`${base}/body`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  });
  let got = await r.json();
  assert.deepEqual(got.body, payload);
  assert.equal(got.raw_body, JSON.stringify(payload));

  r = await fetch(`${base}/body`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello, wörld' });
  got = await r.json();
  assert.equal(got.body, null, 'text is not parsed');
  assert.equal(got.raw_body, 'hello, wörld');

  r = await fetch(`${base}/body`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"broken":' });
  got = await r.json();
  assert.equal(r.status, 200, 'malformed JSON is not an error');
  assert.equal(got.body, null);

  const bin = Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80]);
  r = await fetch(`${base}/body`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bin });
  got = await r.json();
  assert.equal(got.raw_body, undefined);
  assert.equal(Buffer.from(got.raw_body_base64, 'base64').toString('hex'), bin.toString('hex'));

  // the same through curl, with a webhook-like form body
  const out = parseCurl(await curl(['-X', 'POST', '--data', 'a=1&b=two', `${base}/body`]));
  assert.equal(out.status, 200);
  assert.equal(JSON.parse(out.body).raw_body, 'a=1&b=two');
  assert.equal(JSON.parse(out.body).ct, 'application/x-www-form-urlencoded');
});

test('response mapping: status, header map and list forms, text bodies, null result', async () => {
  const w = sdkWorker(engine, 'http-resp');
  w.registerFunction('http::created', async () => ({
    status_code: 201,
    headers: { Location: '/things/7', 'X-Num': 5 },
    body: { id: 7 },
  }));
  w.registerFunction('http::list', async () => ({
    status_code: 202,
    headers: ['Content-Type: text/plain; charset=utf-8', 'X-Multi:  a b ', 'no colon here'],
    body: 'plain text body',
  }));
  w.registerFunction('http::null', async () => null);
  w.registerFunction('http::badstatus', async () => ({ status_code: 'teapot', body: [1, 2] }));
  w.registerTrigger({ type: 'http', function_id: 'http::created', config: { api_path: '/things', http_method: 'POST' } });
  w.registerTrigger({ type: 'http', function_id: 'http::list', config: { api_path: '/text' } });
  w.registerTrigger({ type: 'http', function_id: 'http::null', config: { api_path: '/null' } });
  w.registerTrigger({ type: 'http', function_id: 'http::badstatus', config: { api_path: '/badstatus' } });
  await workerReady(w);
  await routeLive('/badstatus');

  let r = await fetch(`${base}/things`, { method: 'POST' });
  assert.equal(r.status, 201);
  assert.equal(r.headers.get('location'), '/things/7');
  assert.equal(r.headers.get('x-num'), null, 'non-string header values are skipped');
  assert.deepEqual(await r.json(), { id: 7 });

  const out = parseCurl(await curl([`${base}/text`]));
  assert.equal(out.status, 202);
  assert.equal(out.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal(out.headers['x-multi'], 'a b');
  assert.equal(out.body, 'plain text body', 'a string body with a user content type is sent as is');

  r = await fetch(`${base}/null`);
  assert.equal(r.status, 200);
  assert.equal(await r.text(), '{}');

  r = await fetch(`${base}/badstatus`);
  assert.equal(r.status, 200, 'an invalid status code becomes 200');
  assert.deepEqual(await r.json(), [1, 2]);
});

test('404 without a route, 405 with Allow for a wrong method', async () => {
  let r = await fetch(`${base}/no/such/route`);
  assert.equal(r.status, 404);
  assert.deepEqual(await r.json(), { error: { code: 'NOT_FOUND', message: 'Not Found' } });

  const w = sdkWorker(engine, 'http-405');
  w.registerFunction('http::only-get', async () => ({ body: 'ok' }));
  w.registerTrigger({ type: 'http', function_id: 'http::only-get', config: { api_path: '/only-get' } });
  await workerReady(w);
  await routeLive('/only-get');
  r = await fetch(`${base}/only-get`, { method: 'DELETE' });
  assert.equal(r.status, 405);
  assert.equal(r.headers.get('allow'), 'GET, HEAD');
  assert.equal(await r.text(), '');
  // trailing slashes are significant
  r = await fetch(`${base}/only-get/`);
  assert.equal(r.status, 404);
});

test('a function error is 500 with its code and an error_id', async () => {
  const w = sdkWorker(engine, 'http-500');
  w.registerFunction('http::throws', async () => {
    throw new Error('kaboom');
  });
  w.registerTrigger({ type: 'http', function_id: 'http::throws', config: { api_path: '/throws' } });
  await workerReady(w);
  await routeLive('/throws');
  const r = await fetch(`${base}/throws`);
  assert.equal(r.status, 500);
  const e = await r.json();
  assert.equal(e.error.code, 'invocation_failed');
  assert.match(e.error.message, /kaboom/);
  assert.match(e.error.error_id, /^[0-9a-f]{16}$/);
});

test('condition false is 422 CONDITION_NOT_MET; middleware may respond or continue in order', async () => {
  const w = sdkWorker(engine, 'http-chain');
  const seen = [];
  w.registerFunction('http::cond', async (req) => req.query_params.allow === 'yes');
  w.registerFunction('http::mw1', async (input) => {
    seen.push(['mw1', input.phase, input.request.method, input.request.body]);
    if (input.request.headers['x-block']) {
      return { action: 'respond', response: { status_code: 401, headers: { 'X-By': 'mw1' }, body: { denied: true } } };
    }
    return { action: 'continue' };
  });
  w.registerFunction('http::mw2', async () => {
    seen.push(['mw2']);
    return { action: 'continue' };
  });
  w.registerFunction('http::guarded', async () => {
    seen.push(['fn']);
    return { body: { ok: true } };
  });
  w.registerTrigger({
    type: 'http',
    function_id: 'http::guarded',
    config: {
      api_path: '/guarded',
      condition_function_id: 'http::cond',
      middleware_function_ids: ['http::mw1', 'http::mw2'],
    },
  });
  await workerReady(w);
  await routeLive('/guarded?allow=yes');
  seen.length = 0;

  let r = await fetch(`${base}/guarded?allow=no`);
  assert.equal(r.status, 422);
  assert.deepEqual(await r.json(), {
    error: { code: 'CONDITION_NOT_MET', message: 'Request condition not met' },
    skipped: true,
  });
  assert.deepEqual(seen, [], 'nothing runs after a false condition');

  r = await fetch(`${base}/guarded?allow=yes`, { headers: { 'x-block': '1' } });
  assert.equal(r.status, 401);
  assert.equal(r.headers.get('x-by'), 'mw1');
  assert.deepEqual(await r.json(), { denied: true });
  assert.deepEqual(seen, [['mw1', 'preHandler', 'GET', undefined]], 'middleware sees no body; respond short-circuits');

  seen.length = 0;
  r = await fetch(`${base}/guarded?allow=yes`);
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { ok: true });
  assert.deepEqual(seen, [['mw1', 'preHandler', 'GET', undefined], ['mw2'], ['fn']]);
});

test('a function slower than http_timeout_ms gets 504; others are not held up', async () => {
  const w = sdkWorker(engine, 'http-slow');
  w.registerFunction('http::slow', async () => {
    await sleep(TIMEOUT_MS + 1500);
    return { body: 'late' };
  });
  w.registerFunction('http::fast', async () => ({ body: 'fast' }));
  w.registerTrigger({ type: 'http', function_id: 'http::slow', config: { api_path: '/slow' } });
  w.registerTrigger({ type: 'http', function_id: 'http::fast', config: { api_path: '/fast' } });
  await workerReady(w);
  await routeLive('/fast');
  const slow = fetch(`${base}/slow`);
  const f = await fetch(`${base}/fast`);
  assert.equal(await f.json(), 'fast');
  const r = await slow;
  assert.equal(r.status, 504);
  const e = await r.json();
  assert.equal(e.error.code, 'TIMEOUT');
  // the late answer is dropped without harm; the same connection pool keeps working
  await sleep(2000);
  assert.equal((await fetch(`${base}/fast`)).status, 200);
});

test('a body over http_max_body gets 413 and the function is not called', async () => {
  const w = sdkWorker(engine, 'http-413');
  let calls = 0;
  w.registerFunction('http::upload', async (req) => {
    calls++;
    return { body: { n: req.raw_body.length } };
  });
  w.registerTrigger({ type: 'http', function_id: 'http::upload', config: { api_path: '/upload', http_method: 'PUT' } });
  await workerReady(w);
  await routeLive('/upload', { method: 'PUT' });
  calls = 0;
  let r = await fetch(`${base}/upload`, { method: 'PUT', body: 'x'.repeat(MAX_BODY) });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { n: MAX_BODY });
  r = await fetch(`${base}/upload`, { method: 'PUT', body: 'x'.repeat(MAX_BODY + 1) }).catch((e) => e);
  if (r instanceof Error) {
    // the engine may close the connection while the client is still sending
    assert.ok(r);
  } else {
    assert.equal(r.status, 413);
  }
  assert.equal(calls, 1, 'only the request within the limit reached the function');
});

test('503 when no worker serves the function; 500 invocation_stopped when it dies mid-request', async () => {
  const owner = sdkWorker(engine, 'http-route-owner');
  owner.registerTrigger({ type: 'http', function_id: 'http::elsewhere', config: { api_path: '/elsewhere' } });
  await workerReady(owner);
  await routeLive('/elsewhere');
  let r = await fetch(`${base}/elsewhere`);
  assert.equal(r.status, 503);
  const e = await r.json();
  assert.equal(e.error.code, 'function_not_found');
  assert.match(e.error.error_id, /^[0-9a-f]{16}$/);

  const server = sdkWorker(engine, 'http-dies');
  let started;
  const inHandler = new Promise((res) => (started = res));
  server.registerFunction('http::elsewhere', async () => {
    started();
    await new Promise((res) => setTimeout(res, 60000).unref());
    return { body: 'never' };
  });
  await workerReady(server);
  const pending = fetch(`${base}/elsewhere`);
  await inHandler;
  await server.shutdown();
  engine.workers.delete(server);
  r = await pending;
  assert.equal(r.status, 500);
  assert.equal((await r.json()).error.code, 'invocation_stopped');
});

test('routes go away on unregister and when their worker leaves; the same method+path replaces', async () => {
  const a = sdkWorker(engine, 'http-owner-a');
  a.registerFunction('http::a', async () => ({ body: 'a' }));
  a.registerFunction('http::a2', async () => ({ body: 'a2' }));
  const t = a.registerTrigger({ type: 'http', function_id: 'http::a', config: { api_path: '/removable' } });
  a.registerTrigger({ type: 'http', function_id: 'http::a2', config: { api_path: '/leaves-with-worker' } });
  await workerReady(a);
  await routeLive('/removable');
  await routeLive('/leaves-with-worker');
  t.unregister();
  await routeGone('/removable');

  const b = sdkWorker(engine, 'http-owner-b');
  b.registerFunction('http::b', async () => ({ body: 'b' }));
  b.registerTrigger({ type: 'http', function_id: 'http::b', config: { api_path: '/leaves-with-worker' } });
  await workerReady(b);
  await waitFor(async () => (await (await fetch(`${base}/leaves-with-worker`)).json()) === 'b', {
    what: 'the newer binding to serve the route',
  });
  await b.shutdown();
  engine.workers.delete(b);
  await routeGone('/leaves-with-worker');
});

test('a parameter name that conflicts with an existing route is rejected with triggerregistrationresult', async () => {
  const w = sdkWorker(engine, 'http-conflict');
  w.registerFunction('http::x', async (req) => ({ body: req.path_params }));
  w.registerTrigger({ type: 'http', function_id: 'http::x', config: { api_path: '/conf/:x' } });
  await workerReady(w);
  await routeLive('/conf/1');

  const raw = await RawClient.open(engine);
  raw.send({ type: 'registerfunction', id: 'http::y' });
  raw.send({
    type: 'registertrigger', id: 'conf-y', trigger_type: 'http', function_id: 'http::y',
    config: { api_path: '/conf/:y', http_method: 'POST' },
  });
  const m = await raw.waitForMessage((x) => x.type === 'triggerregistrationresult' && x.id === 'conf-y');
  assert.equal(m.error.code, 'trigger_registration_failed');
  assert.equal(m.error.message,
    "Route 'POST /conf/:y' conflicts with already-registered route 'GET /conf/:x' (same path shape, different parameter names)");
  raw.send({
    type: 'registertrigger', id: 'no-path', trigger_type: 'http', function_id: 'http::y', config: {},
  });
  const m2 = await raw.waitForMessage((x) => x.type === 'triggerregistrationresult' && x.id === 'no-path');
  assert.equal(m2.error.message, 'api_path is required');
  assert.deepEqual(await (await fetch(`${base}/conf/9`)).json(), { x: '9' }, 'the first route still serves');
});

test('CORS: permissive by default, preflight answered', async () => {
  const w = sdkWorker(engine, 'http-cors');
  w.registerFunction('http::cors', async () => ({ body: 'c' }));
  w.registerTrigger({ type: 'http', function_id: 'http::cors', config: { api_path: '/cors', http_method: 'PUT' } });
  await workerReady(w);
  await routeLive('/cors', { method: 'PUT' });
  let r = await fetch(`${base}/cors`, {
    method: 'OPTIONS',
    headers: { origin: 'https://app.example', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'x-token' },
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
  assert.equal(r.headers.get('access-control-allow-methods'), '*');
  assert.equal(r.headers.get('access-control-allow-headers'), 'x-token');
  r = await fetch(`${base}/cors`, { method: 'PUT', headers: { origin: 'https://app.example' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
  // errors carry the CORS headers too, so a browser can read them
  r = await fetch(`${base}/nothing-here`, { headers: { origin: 'https://app.example' } });
  assert.equal(r.status, 404);
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
});

test('1,000 routes: each one reaches its own function', async () => {
  const w = sdkWorker(engine, 'http-many');
  w.registerFunction('http::many', async (req) => ({ body: { path: req.path, id: req.path_params.id } }));
  for (let i = 0; i < 1000; i++) {
    w.registerTrigger({ type: 'http', function_id: 'http::many', config: { api_path: `/many/${i}/:id` } });
  }
  await workerReady(w);
  await routeLive('/many/999/x');
  for (const i of [0, 1, 7, 123, 500, 998, 999]) {
    const r = await fetch(`${base}/many/${i}/v${i}`);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { path: `/many/${i}/:id`, id: `v${i}` });
  }
  assert.equal((await fetch(`${base}/many/1000/x`)).status, 404);
});

test('a slow client (slowloris) does not block other requests; keep-alive reuses a connection', async () => {
  const w = sdkWorker(engine, 'http-loris');
  w.registerFunction('http::ping', async () => ({ body: 'pong' }));
  w.registerTrigger({ type: 'http', function_id: 'http::ping', config: { api_path: '/ping' } });
  await workerReady(w);
  await routeLive('/ping');

  const slow = [];
  for (let i = 0; i < 8; i++) {
    const s = net.connect(engine.httpPort, '127.0.0.1');
    s.on('error', () => {});
    await new Promise((res) => s.once('connect', res));
    s.write('GET /ping HTTP/1.1\r\nHost: x\r\n');
    slow.push(s);
  }
  const trickle = setInterval(() => {
    for (const s of slow) s.write('X-a: b\r\n');
  }, 200);
  try {
    for (let i = 0; i < 20; i++) {
      const r = await fetch(`${base}/ping`);
      assert.equal(r.status, 200);
      assert.equal(await r.json(), 'pong');
    }
  } finally {
    clearInterval(trickle);
    for (const s of slow) s.destroy();
  }
  // two requests over one connection
  const out = await curl(['-v', `${base}/ping`, `${base}/ping`]).catch((e) => String(e));
  assert.equal((out.match(/HTTP\/1.1 200/g) || []).length, 2);
});

// Its own engine: a long http_timeout_ms tells "answered when the router died" from
// "answered by the 504 timer".
test('a request in flight when the router dies gets 500 invocation_stopped at once, not a 504 later', async () => {
  const e2 = await startEngine({ args: ['--http_timeout_ms', '30000'] });
  try {
    const base2 = `http://127.0.0.1:${e2.httpPort}`;
    const w = sdkWorker(e2, 'http-router-dies');
    let started;
    const inHandler = new Promise((res) => (started = res));
    w.registerFunction('http::hangs', async () => {
      started();
      await new Promise((res) => setTimeout(res, 60000).unref());
      return { body: 'never' };
    });
    w.registerFunction('http::alive', async () => ({ body: 'ok' }));
    w.registerTrigger({ type: 'http', function_id: 'http::hangs', config: { api_path: '/hangs' } });
    w.registerTrigger({ type: 'http', function_id: 'http::alive', config: { api_path: '/alive' } });
    await workerReady(w);
    await waitFor(async () => (await fetch(`${base2}/alive`)).status === 200, { what: '/alive to be served' });
    const pending = fetch(`${base2}/hangs`);
    await inHandler;
    e2.killChild(e2.router().pid);
    const r = await pending;
    assert.equal(r.status, 500, 'not the 504 of http_timeout_ms');
    assert.equal((await r.json()).error.code, 'invocation_stopped');
  } finally {
    await stopEngineChecked(e2, assert);
  }
});
