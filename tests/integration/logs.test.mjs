// The log trigger (§7): records from engine::log::*, from OTLP LOGS frames on
// /otel (the SDK's Logger sends only severityNumber), exact level matching as
// the reference, min_level as an addition, the §7 payload, and no endless
// loop when a log handler logs.

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
  RawClient,
} from './harness.mjs';

let engine;
const test = engineTest(() => engine);

before(guard(() => engine, 'setup', async () => {
  engine = await startEngine();
}));

after(async () => {
  await stopEngineChecked(engine, assert);
});

function recorder(w, id) {
  const got = [];
  w.registerFunction(id, async (rec) => {
    got.push(rec);
    return null;
  });
  return got;
}

test('engine::log::* records reach log triggers by exact level, min_level and all', async () => {
  const w = sdkWorker(engine, 'log-listener');
  const errs = recorder(w, 'logs::error');
  const warnUp = recorder(w, 'logs::warn_up');
  const all = recorder(w, 'logs::all');
  w.registerTrigger({ type: 'log', function_id: 'logs::error', config: { level: 'error' }, metadata: { m: 1 } });
  w.registerTrigger({ type: 'log', function_id: 'logs::warn_up', config: { min_level: 'warn' } });
  w.registerTrigger({ type: 'log', function_id: 'logs::all', config: { level: 'all' } });
  const app = sdkWorker(engine, 'log-app');
  await Promise.all([workerReady(w), workerReady(app)]);

  const tag = `t${Date.now()}`;
  for (const lvl of ['debug', 'info', 'warn', 'error']) {
    await app.trigger({
      function_id: `engine::log::${lvl}`,
      payload: { message: `${tag} ${lvl}`, data: { order_id: 'o1' }, service_name: 'billing', trace_id: 'abc', span_id: 'def' },
    });
  }
  const mine = (arr) => arr.filter((r) => typeof r.body === 'string' && r.body.startsWith(tag));
  await waitFor(() => mine(all).length === 4 && mine(errs).length === 1 && mine(warnUp).length === 2, {
    what: 'the records at each binding',
  });
  await sleep(300);
  assert.deepEqual(mine(errs).map((r) => r.body), [`${tag} error`]);
  assert.deepEqual(mine(warnUp).map((r) => r.body).sort(), [`${tag} error`, `${tag} warn`]);
  const e = mine(errs)[0];
  assert.equal(e.severity_number, 17);
  assert.equal(e.severity_text, 'ERROR');
  assert.deepEqual(e.attributes, { order_id: 'o1' });
  assert.equal(e.trace_id, 'abc');
  assert.equal(e.span_id, 'def');
  assert.equal(e.service_name, 'billing');
  assert.deepEqual(e.resource, { 'service.name': 'billing' });
  assert.equal(typeof e.timestamp_unix_nano, 'number');
  assert.equal(typeof e.observed_timestamp_unix_nano, 'number');
  assert.ok('instrumentation_scope_name' in e && 'instrumentation_scope_version' in e);
  await shutdownWorker(engine, w);
  await shutdownWorker(engine, app);
});

test('a bad level is rejected with trigger_registration_failed', async () => {
  const c = await RawClient.open(engine, '/');
  c.send({ type: 'registertrigger', id: 'bad-log', trigger_type: 'log', function_id: 'x', config: { level: 'loud' } });
  const r = await c.waitForMessage((m) => m.type === 'triggerregistrationresult' && m.id === 'bad-log', { timeout: 5000 });
  assert.equal(r.error.code, 'trigger_registration_failed');
  assert.match(r.error.message, /Invalid log level 'loud'/);
  c.terminate();
});

test('OTLP LOGS frames on /otel: the level comes from severityNumber when severityText is missing', async () => {
  const w = sdkWorker(engine, 'otel-listener');
  const warns = recorder(w, 'logs::otel_warn');
  w.registerTrigger({ type: 'log', function_id: 'logs::otel_warn', config: { level: 'warn' } });
  await workerReady(w);
  const tag = `otlp${Date.now()}`;
  const batch = {
    resourceLogs: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'shop' } }] },
      scopeLogs: [{
        scope: { name: 'iii-node', version: '0.22.1' },
        logRecords: [
          { timeUnixNano: '1755770000000000000', severityNumber: 13, body: { stringValue: `${tag} warn` },
            attributes: [{ key: 'cart', value: { intValue: '3' } }], traceId: '4bf9', spanId: '00f0' },
          { timeUnixNano: '1755770000000000001', severityNumber: 9, body: { stringValue: `${tag} info` } },
        ],
      }],
    }],
  };
  const c = await RawClient.open(engine, '/otel');
  c.sendBinary(Buffer.concat([Buffer.from('LOGS'), Buffer.from(JSON.stringify(batch))]));
  await waitFor(() => warns.some((r) => r.body === `${tag} warn`), { what: 'the OTLP warn record' });
  await sleep(300);
  const mine = warns.filter((r) => String(r.body).startsWith(tag));
  assert.equal(mine.length, 1, 'the info record does not match level warn');
  const r = mine[0];
  assert.equal(r.severity_number, 13);
  assert.equal(r.severity_text, 'WARN');
  assert.equal(r.timestamp_unix_nano, 1755770000000000000);
  assert.deepEqual(r.attributes, { cart: 3 });
  assert.deepEqual(r.resource, { 'service.name': 'shop' });
  assert.equal(r.service_name, 'shop');
  assert.equal(r.instrumentation_scope_name, 'iii-node');
  assert.equal(r.instrumentation_scope_version, '0.22.1');
  assert.equal(r.trace_id, '4bf9');
  c.terminate();
  await shutdownWorker(engine, w);
});

test("the SDK's Logger over /otel reaches a log trigger", async (t) => {
  let Logger;
  try {
    ({ Logger } = await import('@iii-dev/helpers/observability'));
  } catch {
    t.skip('@iii-dev/helpers/observability is not installed');
    return;
  }
  const w = sdkWorker(engine, 'logger-listener');
  const infos = recorder(w, 'logs::sdk_info');
  w.registerTrigger({ type: 'log', function_id: 'logs::sdk_info', config: { level: 'info' } });
  await workerReady(w);
  const app = sdkWorker(engine, 'logger-app', { otel: { enabled: true } });
  await workerReady(app);
  const tag = `sdk${Date.now()}`;
  const logger = new Logger();
  await waitFor(() => {
    logger.info(`${tag} hello`, { k: 'v' });
    return infos.some((r) => r.body === `${tag} hello`);
  }, { timeout: 15000, interval: 500, what: "the Logger's record at the info trigger" });
  const r = infos.find((x) => x.body === `${tag} hello`);
  assert.equal(r.severity_number, 9);
  assert.equal(r.severity_text, 'INFO');
  await shutdownWorker(engine, app);
  await shutdownWorker(engine, w);
});

test('a log handler that logs does not loop', async () => {
  const w = sdkWorker(engine, 'log-echo');
  let calls = 0;
  w.registerFunction('logs::echo', async (rec) => {
    calls++;
    await w.trigger({ function_id: 'engine::log::info', payload: { message: `echo of ${rec.body}` } });
    return null;
  });
  w.registerTrigger({ type: 'log', function_id: 'logs::echo', config: { level: 'all' } });
  await workerReady(w);
  const app = sdkWorker(engine, 'log-echo-app');
  await workerReady(app);
  const before = calls;
  await app.trigger({ function_id: 'engine::log::warn', payload: { message: 'one' } });
  await waitFor(() => calls > before, { what: 'the echo handler to run' });
  await sleep(1500);
  assert.ok(calls - before <= 2, `the handler ran ${calls - before} times for one record`);
  await shutdownWorker(engine, app);
  await shutdownWorker(engine, w);
});
