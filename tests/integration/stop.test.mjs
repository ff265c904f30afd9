// Graceful stop: SIGTERM to the master closes every worker connection with
// 1001 (going away), exits 0 and leaves no child process behind.

import assert from 'node:assert/strict';
import { after } from 'node:test';
import {
  startEngine,
  engineTest,
  sdkWorker,
  workerReady,
  RawClient,
  within,
  waitFor,
  pidAlive,
  engineLogProblems,
} from './harness.mjs';

let engine;
const test = engineTest(() => engine);

after(async () => {
  if (engine) await engine.abandon(); // only does something if a test failed midway
});

test('SIGTERM: raw clients get close 1001, exit code 0, no children left', async () => {
  engine = await startEngine({ brokers: 2 });
  const { router, brokers } = await engine.waitForChildren();
  const children = engine.children().map((c) => c.pid);
  assert.ok(children.includes(router.pid));

  // Several raw clients so both brokers are likely to hold some.
  const clients = [];
  for (let i = 0; i < 6; i++) {
    const c = await RawClient.open(engine);
    await c.waitForMessage((m) => m.type === 'workerregistered');
    clients.push(c);
  }
  const holders = new Set(clients.map((c) => engine.brokerHolding(c.ws._socket.localPort)?.pid));
  // An SDK worker too; it must not keep the engine from stopping.
  const w = sdkWorker(engine, 'stopper');
  w.registerFunction('stop::me', async () => 1);
  await workerReady(w);

  engine.proc.kill('SIGTERM');
  const info = await within(engine.exited, 10000, 'trine to exit after SIGTERM');
  if (info.code !== 0) engine.dumpLog(`exit ${JSON.stringify(info)}`);
  assert.deepEqual(info, { code: 0, signal: null }, 'exit code 0 after SIGTERM');

  for (const [i, c] of clients.entries()) {
    const ci = await within(c.closed, 10000, `client ${i} to be closed`);
    assert.equal(ci.code, 1001, `client ${i} close ${JSON.stringify(ci)} (brokers holding clients: ${[...holders]})`);
  }
  await w.shutdown();
  engine.workers.clear();

  await waitFor(() => children.every((pid) => !pidAlive(pid)), {
    timeout: 5000,
    what: `children ${children} to be gone`,
  });
  for (const b of brokers) assert.ok(!pidAlive(b.pid));
  const problems = engineLogProblems(engine);
  if (problems.length) engine.dumpLog('problems in the engine log');
  assert.deepEqual(problems, [], 'no child crashed and no sanitizer report');
});

test('SIGKILL to the master: the children go too and the port is released', async () => {
  const e = await startEngine({ brokers: 2 });
  engine = e;
  const children = e.children().map((c) => c.pid);
  assert.ok(children.length >= 3);
  e.killedByTest.add(e.pid);
  process.kill(e.pid, 'SIGKILL');
  await within(e.exited, 10000, 'the master to die');
  await waitFor(() => children.every((pid) => !pidAlive(pid)), {
    timeout: 10000,
    what: `children ${children} to exit after their master was killed`,
  });
  const net = await import('node:net');
  const free = await new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(e.workerPort, '0.0.0.0', () => s.close(() => resolve(true)));
  });
  assert.ok(free, `worker port ${e.workerPort} can be bound again`);
});
