// Operations: systemd notifications (READY/STATUS/STOPPING/WATCHDOG to a
// fake NOTIFY_SOCKET), graceful stop with calls and HTTP requests in flight,
// reload (SIGHUP) with a good and a broken config, /metrics, and the
// packaging checks (systemd-analyze verify on the unit, mandoc -Tlint).

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test as nodeTest } from 'node:test';
import WebSocket from 'ws';
import {
  startEngine,
  engineTest,
  sdkWorker,
  workerReady,
  settle,
  sleep,
  within,
  waitFor,
  engineLogProblems,
  TRINE_BIN,
} from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const srcdir = path.resolve(here, '../..');

let engine;
const test = engineTest(() => engine);
const engines = [];

after(() => {
  for (const e of engines) e.kill(); // only does something if a test failed midway
});

async function start(opts) {
  engine = await startEngine(opts);
  engines.push(engine);
  return engine;
}

async function stopClean(e) {
  const info = await e.stop({ timeout: 20000 });
  if (info.code !== 0) e.dumpLog(`exit ${JSON.stringify(info)}`);
  assert.deepEqual(info, { code: 0, signal: null }, 'exit code 0 after SIGTERM');
  const problems = engineLogProblems(e);
  if (problems.length) e.dumpLog('problems in the engine log');
  assert.deepEqual(problems, [], 'no child crashed and no sanitizer report');
}

const hasPython = spawnSync('python3', ['-c', 'pass']).status === 0;

// A unix datagram socket standing in for systemd's NOTIFY_SOCKET (an
// abstract one, as systemd uses). Node has no unix datagram sockets, so a
// small python3 child binds it and prints each datagram as one line, with
// newlines inside a message shown as '|'.
function notifyListener() {
  const name = `trine-ops-${process.pid}-${Date.now()}`;
  const py = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\\0' + sys.argv[1])
print('bound', flush=True)
while True:
    d = s.recv(65536)
    print(repr(d.decode())[1:-1].replace('\\\\n', '|'), flush=True)
`;
  const p = spawn('python3', ['-c', py, name], { stdio: ['ignore', 'pipe', 'inherit'] });
  const l = { proc: p, messages: [], name: `@${name}` };
  let buf = '';
  l.bound = new Promise((resolve) => {
    p.stdout.on('data', (d) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line === 'bound') resolve();
        else l.messages.push(line);
      }
    });
  });
  l.close = () => p.kill('SIGKILL');
  return l;
}

// Start an engine whose master sees NOTIFY_SOCKET (and more env) at spawn.
async function startWithEnv(env, opts) {
  const saved = {};
  for (const k of Object.keys(env)) {
    saved[k] = process.env[k];
    process.env[k] = env[k];
  }
  try {
    return await start(opts);
  } finally {
    for (const k of Object.keys(env)) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
}

test('systemd: STATUS, READY=1 once every child serves, WATCHDOG=1 while children live, STOPPING=1', {
  skip: !hasPython && 'python3 is needed to bind a unix datagram socket',
}, async () => {
  const l = notifyListener();
  try {
    await within(l.bound, 10000, 'the fake NOTIFY_SOCKET to be bound');
    const e = await startWithEnv({ NOTIFY_SOCKET: l.name, WATCHDOG_USEC: '400000' }, { brokers: 2 });
    await waitFor(() => l.messages.some((m) => m.startsWith('READY=1')), { what: 'READY=1' });
    const ready = l.messages.findIndex((m) => m.startsWith('READY=1'));
    assert.match(l.messages[ready], /STATUS=serving: the router and 2 brokers/);
    assert.ok(l.messages.slice(0, ready).some((m) => m.startsWith('STATUS=starting')), `STATUS before READY: ${l.messages}`);
    assert.equal(l.messages.filter((m) => m.startsWith('READY=1')).length, 1, 'READY=1 exactly once');
    // every child said it serves before READY=1: the worker port answers and the router is up
    const count = () => l.messages.filter((m) => m === 'WATCHDOG=1').length;
    const before = count();
    await waitFor(() => count() >= before + 3, { what: 'WATCHDOG=1 pings (every WATCHDOG_USEC/2)' });

    // a child that is gone silences the watchdog until it is back
    const broker = e.brokerProcs()[0];
    e.killChild(broker.pid); // SIGKILL: the master respawns it after a backoff
    await waitFor(() => l.messages.some((m) => /^STATUS=broker \d exited/.test(m)), { what: 'STATUS about the dead broker' });
    const at = l.messages.findIndex((m) => /^STATUS=broker \d exited/.test(m));
    await waitFor(() => l.messages.slice(at).some((m) => m.startsWith('STATUS=serving')), { what: 'serving again' });
    const back = l.messages.slice(at).findIndex((m) => m.startsWith('STATUS=serving'));
    assert.ok(!l.messages.slice(at, at + back).includes('WATCHDOG=1'), `no WATCHDOG=1 while a broker is down: ${l.messages.slice(at, at + back + 1)}`);
    const n = count();
    await waitFor(() => count() > n, { what: 'WATCHDOG=1 again once the broker is back' });

    const info = await e.stop({ timeout: 20000 });
    assert.deepEqual(info, { code: 0, signal: null });
    assert.ok(l.messages.some((m) => m.startsWith('STOPPING=1')), `STOPPING=1 sent: ${l.messages}`);
  } finally {
    l.close();
  }
});

test('SIGTERM drains: calls and an HTTP request in flight all finish, then 1001, exit 0', async () => {
  const e = await start({ brokers: 2, args: ['--shutdown_timeout_ms', '15000'] });
  const base = `http://127.0.0.1:${e.httpPort}`;
  let started = 0;
  const serve = sdkWorker(e, 'drain-server');
  serve.registerFunction('ops::slow', async (d) => {
    started++;
    await sleep(1500);
    return { echo: d.n };
  });
  serve.registerTrigger({ type: 'http', function_id: 'ops::slow', config: { api_path: '/slow', http_method: 'POST' } });
  await workerReady(serve);
  const caller = sdkWorker(e, 'drain-caller');
  await workerReady(caller);
  await waitFor(async () => {
    const r = await fetch(`${base}/nothing`, { headers: { connection: 'close' } });
    await r.arrayBuffer();
    const r2 = await fetch(`${base}/slow`, { method: 'OPTIONS', headers: { connection: 'close' } });
    await r2.arrayBuffer();
    return r2.status !== 404;
  }, { what: 'the /slow route on the brokers' });
  started = 0;

  const calls = [];
  for (let n = 0; n < 6; n++) calls.push(settle(caller.trigger({ function_id: 'ops::slow', payload: { n }, timeoutMs: 30000 })));
  const http = settle(fetch(`${base}/slow`, { method: 'POST', body: JSON.stringify({ n: 99 }), headers: { 'content-type': 'application/json' } }).then(async (r) => ({ status: r.status, body: await r.json() })));
  await waitFor(() => started === 7, { what: 'all 7 calls to reach the worker' });

  e.proc.kill('SIGTERM');
  const results = await within(Promise.all(calls), 20000, 'the calls in flight');
  for (const [n, r] of results.entries()) {
    assert.ok(r.ok, `call ${n} failed during the drain: ${r.error && r.error.message}`);
    assert.deepEqual(r.value, { echo: n });
  }
  const h = await within(http, 20000, 'the HTTP request in flight');
  assert.ok(h.ok, `HTTP request failed during the drain: ${h.error}`);
  assert.equal(h.value.status, 200);

  const info = await within(e.exited, 20000, 'trine to exit after the drain');
  assert.deepEqual(info, { code: 0, signal: null }, 'exit 0 after a drain');
  assert.match(e.log(), /draining/);
  assert.deepEqual(engineLogProblems(e), []);
  e.workers.clear();
  await settle(serve.shutdown());
  await settle(caller.shutdown());
});

test('second SIGTERM forces the stop without waiting for calls in flight', async () => {
  const e = await start({ brokers: 1, args: ['--shutdown_timeout_ms', '60000'] });
  let started = 0;
  const serve = sdkWorker(e, 'hang-server');
  serve.registerFunction('ops::hang', async () => {
    started++;
    await new Promise((r) => setTimeout(r, 120000).unref());
    return 1;
  });
  await workerReady(serve);
  const call = settle(serve.trigger({ function_id: 'ops::hang', payload: {}, timeoutMs: 60000 }));
  await waitFor(() => started === 1, { what: 'the hanging call to start' });
  e.proc.kill('SIGTERM');
  await waitFor(() => /draining 1 connections/.test(e.log()), { what: 'the drain to begin' });
  await sleep(300);
  assert.equal(e.exitInfo, null, 'still draining while a call is in flight');
  e.proc.kill('SIGTERM');
  const info = await within(e.exited, 15000, 'trine to exit after the second SIGTERM');
  assert.deepEqual(info, { code: 0, signal: null });
  e.workers.clear();
  await settle(serve.shutdown());
  void call;
});

test('SIGHUP: brokers are replaced one by one without a failed call; router settings apply in place; a broken config keeps the old one', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trine-ops-conf-'));
  const conf = path.join(dir, 'trine.conf');
  fs.writeFileSync(conf, '# reload test\nlog_level info\ninvocation_timeout_ms 30000\n');
  const e = await start({ brokers: 2, args: ['-c', conf] });
  const { router, brokers } = await e.waitForChildren();
  let served = 0;
  const serve = sdkWorker(e, 'reload-server');
  serve.registerFunction('ops::echo', async (d) => {
    served++;
    await sleep(d.ms || 0);
    return { n: d.n };
  });
  await workerReady(serve);
  const caller = sdkWorker(e, 'reload-caller');
  await workerReady(caller);

  // a steady stream of calls (with a little think time: a call sent at the
  // very instant its connection is closed would be lost, see README), plus
  // slow ones in flight when the roll begins
  let stop = false;
  const failures = [];
  let ok = 0;
  const loop = (async () => {
    for (let n = 0; !stop; n++) {
      const r = await settle(caller.trigger({ function_id: 'ops::echo', payload: { n }, timeoutMs: 20000 }));
      if (r.ok && r.value.n === n) ok++;
      else failures.push(r.error ? r.error.message : JSON.stringify(r.value));
      await sleep(20);
    }
  })();
  const slow = [];
  for (let n = 0; n < 3; n++) slow.push(settle(caller.trigger({ function_id: 'ops::echo', payload: { n, ms: 800 }, timeoutMs: 20000 })));
  await waitFor(() => ok >= 5, { what: 'calls to flow' });

  process.kill(e.pid, 'SIGHUP');
  await waitFor(() => /reload: done/.test(e.log()), { timeout: 30000, what: 'the reload to finish' });
  await waitFor(() => {
    const now = e.brokerProcs().map((b) => b.pid);
    return now.length === 2 && now.every((p) => !brokers.some((b) => b.pid === p));
  }, { what: 'both brokers to be new processes' });
  assert.equal(e.router().pid, router.pid, 'the router is not restarted by a reload');
  const before = ok;
  await waitFor(() => ok >= before + 5, { timeout: 20000, what: 'calls to flow after the roll' });
  stop = true;
  await loop;
  for (const r of await Promise.all(slow)) assert.ok(r.ok, `slow call failed during the roll: ${r.error && r.error.message}`);
  assert.deepEqual(failures, [], 'no call failed while the brokers were replaced');

  // reloadable router setting applied in place: a short invocation timeout
  fs.writeFileSync(conf, 'log_level info\ninvocation_timeout_ms 300\n');
  process.kill(e.pid, 'SIGHUP');
  await waitFor(() => /reload: applied \(log_level info, invocation_timeout_ms 300\)/.test(e.log()), { what: 'the router to apply the new timeout' });
  await waitFor(() => (e.log().match(/reload: done/g) || []).length === 2, { timeout: 30000, what: 'the second roll' });
  await workerReady(caller);
  const t = await settle(caller.trigger({ function_id: 'ops::echo', payload: { n: 1, ms: 2000 }, timeoutMs: 10000 }));
  assert.equal(t.ok, false, 'a 2 s call fails with invocation_timeout_ms 300');
  assert.match(String(t.error && (t.error.code || t.error.message)), /timeout|timed out/i);

  // a broken config: logged with file:line, nothing is replaced, calls still work
  const pids = e.brokerProcs().map((b) => b.pid).sort();
  fs.writeFileSync(conf, 'log_level info\ninvocation_timeout_ms banana\n');
  process.kill(e.pid, 'SIGHUP');
  await waitFor(() => /reload: .*trine\.conf:2: invocation_timeout_ms: 'banana' is not an integer; keeping the running configuration/.test(e.log()), { what: 'the reload error in the log' });
  await sleep(500);
  assert.deepEqual(e.brokerProcs().map((b) => b.pid).sort(), pids, 'no broker replaced after a failed reload');
  const r = await caller.trigger({ function_id: 'ops::echo', payload: { n: 7 }, timeoutMs: 10000 });
  assert.deepEqual(r, { n: 7 });
  assert.ok(e.pid && !e.exitInfo, 'still running');
  await stopClean(e);
  fs.rmSync(dir, { recursive: true, force: true });
});

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Parse the Prometheus text format into { 'name{labels}': value }.
function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

test('/metrics: connections, invocations by outcome, latency histogram, HTTP by status, queues, restarts', async () => {
  const mport = await freePort();
  const e = await start({ brokers: 2, args: ['--metrics_port', String(mport), '--bind', '127.0.0.1'] });
  const url = `http://127.0.0.1:${mport}/metrics`;
  const get = async () => {
    const r = await fetch(url);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    return r.text();
  };
  const text0 = await get();
  for (const name of ['trine_connections', 'trine_invocations_total', 'trine_invocation_duration_seconds',
    'trine_http_requests_total', 'trine_queue_depth', 'trine_process_restarts_total',
    'trine_stream_subscriptions', 'trine_log_records_dropped_total']) {
    assert.match(text0, new RegExp(`^# TYPE ${name} `, 'm'), `${name} is declared`);
  }
  assert.equal((await fetch(`http://127.0.0.1:${mport}/other`)).status, 404, 'only /metrics is served');

  const w = sdkWorker(e, 'metrics-worker');
  w.registerFunction('ops::m', async () => ({ ok: 1 }));
  w.registerTrigger({ type: 'http', function_id: 'ops::m', config: { api_path: '/m' } });
  await workerReady(w);
  const before = parseMetrics(await get());
  for (let i = 0; i < 3; i++) await w.trigger({ function_id: 'ops::m', payload: {}, timeoutMs: 10000 });
  const nf = await settle(w.trigger({ function_id: 'ops::absent', payload: {}, timeoutMs: 10000 }));
  assert.equal(nf.ok, false);
  const base = `http://127.0.0.1:${e.httpPort}`;
  await waitFor(async () => {
    const r = await fetch(`${base}/m`, { headers: { connection: 'close' } });
    await r.arrayBuffer();
    return r.status === 200;
  }, { what: 'the /m route' });
  const r404 = await fetch(`${base}/nope`, { headers: { connection: 'close' } });
  await r404.arrayBuffer();

  await waitFor(async () => {
    const m = parseMetrics(await get());
    const sum = (prefix) => Object.entries(m).filter(([k]) => k.startsWith(prefix)).reduce((a, [, v]) => a + v, 0);
    return m['trine_invocations_total{outcome="result"}'] - before['trine_invocations_total{outcome="result"}'] >= 4 &&
      m['trine_invocations_total{outcome="not_found"}'] - before['trine_invocations_total{outcome="not_found"}'] === 1 &&
      sum('trine_connections{') === 1 &&
      sum('trine_http_requests_total{process="broker') >= 2 &&
      Object.keys(m).some((k) => /trine_http_requests_total\{process="broker\d",code="404"\}/.test(k)) &&
      Object.keys(m).some((k) => /trine_http_requests_total\{process="broker\d",code="200"\}/.test(k));
  }, { what: 'metrics to reflect the traffic (brokers report with their heartbeats)' });
  const m = parseMetrics(await get());
  assert.ok(m['trine_invocation_duration_seconds_count'] >= before['trine_invocation_duration_seconds_count'] + 4);
  assert.equal(m['trine_invocation_duration_seconds_bucket{le="+Inf"}'], m['trine_invocation_duration_seconds_count'], '+Inf bucket = count');
  assert.ok(m['trine_invocation_duration_seconds_bucket{le="10"}'] >= m['trine_invocation_duration_seconds_bucket{le="0.001"}'], 'buckets are cumulative');
  assert.equal(m['trine_queue_depth{queue="q:default"}'], 0);
  assert.equal(m['trine_process_restarts_total{process="broker0"}'], 0);
  assert.equal(m['trine_log_records_dropped_total'], 0);

  // a stream client's join shows up as a subscription
  assert.equal(m['trine_stream_subscriptions'], 0);
  const sc = new WebSocket(`ws://127.0.0.1:${e.streamPort}/`);
  await new Promise((res, rej) => { sc.once('open', res); sc.once('error', rej); });
  sc.send(JSON.stringify({ type: 'join', data: { subscriptionId: 's1', streamName: 'mx', groupId: 'g' } }));
  await waitFor(async () => parseMetrics(await get())['trine_stream_subscriptions'] === 1,
    { what: 'the stream subscription in /metrics' });
  sc.close();

  // a broker killed and respawned counts as a restart
  const b0 = e.brokerProcs().find((b) => b.cmdline.startsWith('trine: broker 0'));
  e.killChild(b0.pid);
  await waitFor(async () => parseMetrics(await get())['trine_process_restarts_total{process="broker0"}'] === 1,
    { what: 'the restart of broker 0 in /metrics' });
  await stopClean(e);
});

// ---- packaging: unit file, man pages, command line ----------------------

const hasTool = (cmd) => !spawnSync(cmd, ['--version']).error; // ENOENT when missing

nodeTest('systemd-analyze verify accepts scripts/trine.service', {
  skip: !hasTool('systemd-analyze') && 'systemd-analyze is not installed',
}, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trine-unit-'));
  const unit = path.join(dir, 'trine.service');
  const text = fs.readFileSync(path.join(srcdir, 'scripts/trine.service.in'), 'utf8')
    .replaceAll('@bindir@', path.dirname(TRINE_BIN)).replaceAll('@sysconfdir@', '/etc');
  assert.match(text, /^Type=notify$/m);
  assert.match(text, /^WatchdogSec=/m);
  assert.match(text, /^ExecReload=.*-HUP/m);
  fs.writeFileSync(unit, text);
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', unit], { encoding: 'utf8' });
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(r.status, 0, `systemd-analyze verify: ${r.stdout}${r.stderr}`);
  assert.equal(r.stderr.trim(), '', 'no warnings');
});

nodeTest('man pages pass mandoc -Tlint -W warning and document every directive', {
  skip: !hasTool('mandoc') && 'mandoc is not installed',
}, () => {
  for (const page of ['man/trine.8', 'man/trine.conf.5']) {
    const r = spawnSync('mandoc', ['-Tlint', '-W', 'warning', path.join(srcdir, page)], { encoding: 'utf8' });
    assert.equal(r.status, 0, `mandoc -Tlint ${page}: ${r.stdout}${r.stderr}`);
  }
  const conf5 = fs.readFileSync(path.join(srcdir, 'man/trine.conf.5'), 'utf8');
  const help = spawnSync(TRINE_BIN, ['--help'], { encoding: 'utf8' }).stdout;
  const names = [...help.matchAll(/^ {2}--([a-z_]+) /gm)].map((m) => m[1]);
  assert.ok(names.length > 20, `--help lists the directives: ${names}`);
  for (const n of names) assert.match(conf5, new RegExp(`^\\.It Ic ${n}\\b`, 'm'), `trine.conf(5) documents ${n}`);
  const trine8 = fs.readFileSync(path.join(srcdir, 'man/trine.8'), 'utf8');
  for (const opt of ['-config', '-test-config', '-daemonize', '-pidfile', '-help', '-version']) {
    assert.ok(help.includes(`-${opt}`), `--help lists -${opt}`);
    assert.ok(trine8.includes(`Fl ${opt}`), `trine(8) documents -${opt}`);
  }
});

nodeTest('--version, --help, and -t: 0 for a good file, 1 with file:line for a bad one', () => {
  const v = spawnSync(TRINE_BIN, ['--version'], { encoding: 'utf8' });
  assert.equal(v.status, 0);
  assert.match(v.stdout, /^trine \d+\.\d+\.\d+\n$/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trine-cfg-'));
  const good = path.join(dir, 'good.conf');
  const bad = path.join(dir, 'bad.conf');
  fs.writeFileSync(good, 'log_format json\nmetrics_port 9464\n');
  fs.writeFileSync(bad, '# ok\nlog_format yaml\n');
  const g = spawnSync(TRINE_BIN, ['-t', '-c', good], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
  const b = spawnSync(TRINE_BIN, ['-t', '-c', bad], { encoding: 'utf8' });
  assert.equal(b.status, 1);
  assert.match(b.stderr, /bad\.conf:2: log_format: 'yaml' is not text or json/);
  const o = spawnSync(TRINE_BIN, ['-t', '--metrics_port', '70000'], { encoding: 'utf8' });
  assert.equal(o.status, 1);
  assert.match(o.stderr, /command line: metrics_port: 70000 is out of range \[0, 65535\]/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('--daemonize detaches and --pidfile names the master; log_format json lines', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trine-daemon-'));
  const pidfile = path.join(dir, 'trine.pid');
  const logPath = path.join(dir, 'log');
  const [port] = [await freePort()];
  const fd = fs.openSync(logPath, 'w');
  const r = spawnSync(TRINE_BIN, ['-d', '-p', pidfile, '--worker_port', String(port), '--http_port', '0',
    '--stream_port', '0', '--brokers', '1', '--data_dir', path.join(dir, 'data'), '--log_format', 'json'],
  { stdio: ['ignore', fd, fd], timeout: 10000 });
  fs.closeSync(fd);
  assert.equal(r.status, 0, 'the launching process exits 0 at once');
  const pid = await waitFor(() => fs.existsSync(pidfile) && Number(fs.readFileSync(pidfile, 'utf8')), { what: 'the pidfile' });
  try {
    await waitFor(() => fs.readFileSync(logPath, 'utf8').includes('are serving'), { what: 'the daemon to serve' });
    const sid = (p) => {
      const st = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      return Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[3]);
    };
    assert.notEqual(sid(pid), sid('self'), 'the daemon is in a session of its own (setsid)');
    assert.notEqual(sid(pid), pid, 'and not its leader (second fork): it cannot regain a terminal');
    for (const line of fs.readFileSync(logPath, 'utf8').trim().split('\n')) {
      const o = JSON.parse(line);
      assert.deepEqual(Object.keys(o), ['ts', 'level', 'role', 'pid', 'msg']);
    }
  } finally {
    process.kill(pid, 'SIGTERM');
  }
  await waitFor(() => !fs.existsSync(pidfile), { what: 'the pidfile to be removed at exit' });
  fs.rmSync(dir, { recursive: true, force: true });
});
