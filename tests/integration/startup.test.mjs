// Right after start: a client may connect as soon as the worker port accepts.
// Whatever it sends then must be handled, not lost while the brokers and the
// router are still introducing themselves.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after } from 'node:test';
import {
  startEngine,
  stopEngineChecked,
  engineTest,
  RawClient,
  settle,
} from './harness.mjs';

let engine;
const test = engineTest(() => engine);

after(async () => {
  if (engine) await stopEngineChecked(engine, assert);
});

test('calls made the moment the engine accepts connections are all answered (5 fresh starts)', async (t) => {
  for (let round = 0; round < 5; round++) {
    if (engine) await stopEngineChecked(engine, assert);
    engine = null;
    engine = await startEngine({ brokers: 2 });
    const clients = await Promise.all(Array.from({ length: 8 }, () => RawClient.open(engine)));
    const ids = clients.map((c) => {
      const id = crypto.randomUUID();
      c.send({ type: 'invokefunction', invocation_id: id, function_id: 'startup::nobody', data: {} });
      return id;
    });
    const results = await Promise.all(
      clients.map((c, i) =>
        settle(
          c.waitForMessage((m) => m.type === 'invocationresult' && m.invocation_id === ids[i], {
            timeout: 10000,
            what: `an answer to the call sent right after start (round ${round}, client ${i})`,
          }),
        ),
      ),
    );
    const lost = results.filter((r) => !r.ok).length;
    if (lost) t.diagnostic(`round ${round}: ${lost} of ${clients.length} calls got no answer`);
    assert.equal(lost, 0, `round ${round}: ${lost} calls sent right after start were never answered`);
    for (const r of results) assert.equal(r.value.error.code, 'function_not_found');
    for (const c of clients) c.terminate();
  }
});
