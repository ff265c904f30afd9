// Per-connection limits: a peer that stops reading, too many connections,
// too many calls in flight. Each must be refused or cut off visibly, without
// hurting anybody else.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { before, after } from 'node:test';
import { TriggerAction } from 'iii-sdk';
import WebSocket from 'ws';
import {
  startEngine,
  stopEngineChecked,
  engineTest,
  guard,
  sdkWorker,
  workerReady,
  RawClient,
  within,
  waitFor,
  settle,
  sleep,
} from './harness.mjs';

let engine;
const test = engineTest(() => engine);
let sdk;
let releaseHold = () => {};
let held = 0; // l::hold handlers waiting for releaseHold
const MAX_CONN = 8; // per broker

before(guard(() => engine, 'setup', async () => {
  engine = await startEngine({
    brokers: 2,
    args: [
      '--client_output_limit', '65536',
      '--max_connections', String(MAX_CONN),
      '--max_inflight_per_worker', '5',
    ],
  });
  sdk = sdkWorker(engine, 'limits-sdk');
  sdk.registerFunction('l::hold', async () => {
    held++;
    await new Promise((r) => {
      const prev = releaseHold;
      releaseHold = () => {
        prev();
        r();
      };
    });
    return 'released';
  });
  sdk.registerFunction('l::echo', async (x) => x);
  await workerReady(sdk);
}));

after(async () => {
  releaseHold();
  await stopEngineChecked(engine, assert);
});

async function rawWorker() {
  const c = await RawClient.open(engine);
  await c.waitForMessage((m) => m.type === 'workerregistered');
  return c;
}

test('more calls in flight than --max_inflight_per_worker: the extra one gets an error, the rest complete', async () => {
  const c = await rawWorker();
  const ids = Array.from({ length: 6 }, () => crypto.randomUUID());
  for (const id of ids) c.send({ type: 'invokefunction', invocation_id: id, function_id: 'l::hold', data: {} });
  const refused = await c.waitForMessage((m) => m.type === 'invocationresult' && m.error, {
    what: 'an error for the call over the limit',
  });
  assert.equal(refused.invocation_id, ids[5], `the 6th call is the one refused: ${JSON.stringify(refused)}`);
  assert.equal(typeof refused.error.code, 'string');
  // the refusal comes from the broker at once; the five accepted calls may still be on
  // their way to the worker: release them only once every handler holds
  await waitFor(() => held >= 5, { what: 'the five accepted calls to reach the handler' });
  releaseHold();
  for (const id of ids.slice(0, 5)) {
    const r = await c.waitForMessage((m) => m.type === 'invocationresult' && m.invocation_id === id);
    assert.equal(r.result, 'released', JSON.stringify(r));
  }
  // Below the limit again: a new call is accepted.
  const id = crypto.randomUUID();
  c.send({ type: 'invokefunction', invocation_id: id, function_id: 'l::echo', data: { again: 1 } });
  const r = await c.waitForMessage((m) => m.type === 'invocationresult' && m.invocation_id === id);
  assert.equal(r.result.again, 1);
  c.terminate();
});

test('a worker that stops reading is cut off at --client_output_limit; others are unaffected', async () => {
  const sink = await rawWorker();
  sink.send({ type: 'registerfunction', id: 'l::sink' });
  // Make sure the registration is in before the socket is paused.
  const probe = crypto.randomUUID();
  sink.send({ type: 'invokefunction', invocation_id: probe, function_id: 'l::sink', data: { probe: true } });
  const inv = await sink.waitForMessage((m) => m.type === 'invokefunction');
  sink.send({ type: 'invocationresult', invocation_id: inv.invocation_id, function_id: 'l::sink', result: 1 });
  await sink.waitForMessage((m) => m.type === 'invocationresult' && m.invocation_id === probe);

  sink.ws._socket.pause(); // stop reading: everything piles up in the engine
  const pad = crypto.randomBytes(24 * 1024).toString('base64'); // 32 KiB
  for (let i = 0; i < 1000; i++) {
    await sdk.trigger({ function_id: 'l::sink', payload: { i, pad }, action: TriggerAction.Void() });
    if (i % 50 === 49) await sleep(5);
  }
  // The engine must drop the connection and the function with it.
  await waitFor(
    async () => {
      const r = await settle(sdk.trigger({ function_id: 'l::sink', payload: {}, timeoutMs: 3000 }));
      return !r.ok && r.error.code === 'function_not_found';
    },
    { timeout: 30000, interval: 200, what: 'the non-reading worker to be dropped (l::sink gone)' },
  );
  sink.ws._socket.resume();
  await within(sink.closed, 15000, 'the non-reading connection to end');
  // Everybody else is fine.
  assert.equal((await sdk.trigger({ function_id: 'l::echo', payload: { fine: true } })).fine, true);
});

test('connections over --max_connections are refused with 503; capacity comes back', async () => {
  const accepted = [];
  const statuses = [];
  for (let i = 0; i < MAX_CONN * engine.brokers + 6; i++) {
    const ws = new WebSocket(engine.url, { perMessageDeflate: false });
    const outcome = await within(
      new Promise((resolve) => {
        ws.once('open', () => resolve('open'));
        ws.once('unexpected-response', (req, res) => {
          statuses.push(res.statusCode);
          req.destroy();
          resolve('refused');
        });
        ws.once('error', (e) => resolve(`error ${e.message}`));
      }),
      10000,
      `connection ${i}`,
    );
    if (outcome === 'open') accepted.push(ws);
    else if (outcome !== 'refused') statuses.push(outcome);
  }
  assert.ok(statuses.length > 0, `some connections must be refused (accepted ${accepted.length})`);
  assert.ok(statuses.every((s) => s === 503), `refusals are HTTP 503: ${JSON.stringify(statuses)}`);
  assert.ok(accepted.length <= MAX_CONN * engine.brokers, `accepted ${accepted.length}`);
  for (const ws of accepted) ws.terminate();
  // Once they are gone, new connections work (the SDK worker never noticed).
  await waitFor(
    async () => {
      const c = await settle(RawClient.open(engine));
      if (!c.ok) return false;
      c.value.terminate();
      return true;
    },
    { timeout: 10000, interval: 100, what: 'a new connection to be accepted' },
  );
  assert.deepEqual(await sdk.trigger({ function_id: 'l::echo', payload: 3 }), 3);
});
