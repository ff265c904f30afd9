// The cron trigger: seconds-first expressions as the reference reads them, the
// §5 payload with the trigger's metadata, rejection of bad expressions with a
// message naming the field, stop on unregister / worker exit, and exactly one
// run per tick across a SIGKILL of the router (the tick due while it was down
// fires late, once, with its original scheduled_time).

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

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?\+00:00$/;

test('a `* * * * * *` job fires about once a second with the §5 payload and its metadata', async () => {
  const w = sdkWorker(engine, 'cron-every-second');
  const runs = [];
  w.registerFunction('cron::tick', async (input) => {
    runs.push({ input, at: Date.now() });
    return null;
  });
  const trig = w.registerTrigger({
    type: 'cron',
    function_id: 'cron::tick',
    config: { expression: '* * * * * *' },
    metadata: { team: 'ops' },
  });
  await workerReady(w);
  await waitFor(() => runs.length >= 4, { timeout: 10000, what: '4 runs of a per-second job' });
  trig.unregister();
  const first = runs[0].input;
  assert.equal(first.trigger, 'cron');
  assert.equal(typeof first.job_id, 'string');
  assert.ok(first.job_id.length > 0);
  assert.match(first.scheduled_time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$/);
  assert.match(first.actual_time, RFC3339);
  assert.ok(Date.parse(first.actual_time) >= Date.parse(first.scheduled_time));
  assert.ok(!('_caller_worker_id' in first), 'engine-originated calls are not decorated');
  // consecutive runs are consecutive seconds, each tick once
  const scheds = runs.slice(0, 4).map((r) => Date.parse(r.input.scheduled_time));
  for (let i = 1; i < scheds.length; i++) assert.equal(scheds[i] - scheds[i - 1], 1000);
  // it stops after unregister: at most one run already on its way
  await sleep(300);
  const n = runs.length;
  await sleep(2500);
  assert.ok(runs.length <= n + 1, `still firing after unregister (${n} -> ${runs.length})`);
  await shutdownWorker(engine, w);
});

test('the trigger metadata reaches the handler beside the payload', async () => {
  const c = await RawClient.open(engine, '/');
  await c.send({ type: 'registerfunction', id: 'cron::raw' });
  await c.send({
    type: 'registertrigger',
    id: 'raw-job-1',
    trigger_type: 'cron',
    function_id: 'cron::raw',
    config: { expression: '*/1 * * * * *' },
    metadata: { owner: 'raw' },
  });
  const inv = await c.waitForMessage((m) => m.type === 'invokefunction' && m.function_id === 'cron::raw', { timeout: 5000 });
  assert.deepEqual(inv.metadata, { owner: 'raw' });
  assert.equal(inv.data.job_id, 'raw-job-1');
  await c.send({ type: 'unregistertrigger', id: 'raw-job-1' });
  c.terminate();
});

test('bad expressions are rejected with trigger_registration_failed naming the field', async () => {
  const c = await RawClient.open(engine, '/');
  const cases = [
    [{ expression: '0 0 0 * * 0' }, /day-of-week: 0 is out of range 1-7/],
    [{ expression: '61 * * * * *' }, /second: 61/],
    [{ expression: '* * *' }, /expected 6 fields/],
    [{ expression: '0 0 0 * FOO *' }, /month/],
    [{}, /Cron expression is required/],
    [{ expression: '* * * * * *', timezone: 'Mars/Olympus' }, /Unknown timezone/],
  ];
  for (const [i, [config, re]] of cases.entries()) {
    await c.send({ type: 'registertrigger', id: `bad-${i}`, trigger_type: 'cron', function_id: 'x', config });
    const r = await c.waitForMessage((m) => m.type === 'triggerregistrationresult' && m.id === `bad-${i}`, { timeout: 5000 });
    assert.equal(r.error.code, 'trigger_registration_failed');
    assert.match(r.error.message, re);
  }
  // classic 5-field, shortcuts and a time zone are accepted (no error comes back)
  for (const [i, config] of [
    { expression: '*/5 * * * *' },
    { expression: '@hourly' },
    { expression: '@every 10s' },
    { expression: '0 30 9 * * MON-FRI', timezone: 'Europe/Paris' },
  ].entries()) {
    await c.send({ type: 'registertrigger', id: `good-${i}`, trigger_type: 'cron', function_id: 'x', config });
  }
  await sleep(300);
  assert.equal(c.messages.filter((m) => m.type === 'triggerregistrationresult' && /^good-/.test(m.id)).length, 0);
  c.terminate();
});

test('a job stops when its worker leaves', async () => {
  const w = sdkWorker(engine, 'cron-leaver');
  let runs = 0;
  w.registerFunction('cron::leaver', async () => {
    runs++;
    return null;
  });
  w.registerTrigger({ type: 'cron', function_id: 'cron::leaver', config: { expression: '* * * * * *' } });
  await workerReady(w);
  await waitFor(() => runs >= 2, { timeout: 8000, what: '2 runs' });
  await shutdownWorker(engine, w);
  const listed = await waitFor(async () => {
    const o = sdkWorker(engine, 'cron-observer');
    await workerReady(o);
    const r = await o.trigger({ function_id: 'engine::registered-triggers::list', payload: { trigger_type: 'cron' } });
    await shutdownWorker(engine, o);
    return r;
  });
  assert.ok(!listed.registered_triggers.some((t) => t.function_id === 'cron::leaver'));
});

test('runs of one job never overlap: ticks during a slow run are skipped and logged', async () => {
  const w = sdkWorker(engine, 'cron-slow');
  let active = 0;
  let maxActive = 0;
  let runs = 0;
  w.registerFunction('cron::slow', async () => {
    active++;
    maxActive = Math.max(maxActive, active);
    runs++;
    await sleep(2500);
    active--;
    return null;
  });
  const trig = w.registerTrigger({ type: 'cron', function_id: 'cron::slow', config: { expression: '* * * * * *' } });
  await workerReady(w);
  await waitFor(() => runs >= 2, { timeout: 12000, what: '2 slow runs' });
  trig.unregister();
  assert.equal(maxActive, 1);
  assert.match(engine.log(), /skipped, the previous run is still going/);
  await shutdownWorker(engine, w);
});

test('exactly once per tick across a SIGKILL of the router; the missed tick fires late, once', async () => {
  const w = sdkWorker(engine, 'cron-restart');
  const runs = [];
  w.registerFunction('cron::once', async (input) => {
    runs.push(input);
    return null;
  });
  w.registerTrigger({ type: 'cron', function_id: 'cron::once', config: { expression: '* * * * * *' } });
  await workerReady(w);
  await waitFor(() => runs.length >= 3, { timeout: 10000, what: '3 runs before the kill' });
  const { router: oldRouter } = await engine.waitForChildren();
  // freeze the router across a tick, then kill it: that tick is due while no router runs
  process.kill(oldRouter.pid, 'SIGSTOP');
  const killedAt = Date.now();
  await sleep(1600);
  engine.killChild(oldRouter.pid);
  await waitFor(
    () => {
      const r = engine.router();
      return r && r.pid !== oldRouter.pid ? r : null;
    },
    { timeout: 15000, what: 'the master to respawn the router' },
  );
  await waitFor(() => runs.some((r) => Date.parse(r.actual_time) > killedAt + 1500 &&
    Date.parse(r.scheduled_time) > killedAt + 1500), { timeout: 20000, what: 'the job to run on schedule again' });
  const scheds = runs.map((r) => r.scheduled_time);
  assert.equal(new Set(scheds).size, scheds.length, `a tick ran twice: ${scheds.join(' ')}`);
  // one run after the restart carries a scheduled_time from while the router was down
  // the new router names the tick that fell due while no router ran; it ran once, late
  const m = /cron job \S+: tick (\S+) fell due while the router was down; firing it late/.exec(engine.log());
  assert.ok(m, 'the restarted router did not catch up a missed tick');
  const lateTick = m[1];
  assert.ok(Date.parse(lateTick) >= killedAt - 1000, `caught-up tick ${lateTick} is from before the freeze`);
  await waitFor(() => runs.some((r) => r.scheduled_time === lateTick), { what: `the run of tick ${lateTick}` });
  const lateRuns = runs.filter((r) => r.scheduled_time === lateTick);
  assert.equal(lateRuns.length, 1);
  assert.ok(Date.parse(lateRuns[0].actual_time) > killedAt + 1600, 'the late tick ran after the restart');
  await shutdownWorker(engine, w);
});
