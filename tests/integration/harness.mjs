// Shared harness for the integration tests: starts the real trine binary on
// free ports, finds its child processes, drives raw WebSocket clients and
// real iii-sdk workers, and waits for conditions with a deadline.
//
// Waits only bound how long we wait for something that must happen; no test
// asserts on speed.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test as nodeTest } from 'node:test';
import WebSocket from 'ws';
import { registerWorker } from 'iii-sdk';

const here = path.dirname(fileURLToPath(import.meta.url));

export const TRINE_BIN = process.env.TRINE_BIN || path.resolve(here, '../../trine');
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// The SDK chats on console.debug (worker ids, reconnect attempts, OTel off);
// keep the test output readable unless asked for it.
if (!process.env.TRINE_TEST_VERBOSE) console.debug = () => {};
process.env.OTEL_ENABLED = 'false';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Poll fn until it returns a truthy value (returned) or the deadline passes
// (throws, with the last error fn threw, if any).
export async function waitFor(fn, { timeout = 10000, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let lastErr;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() >= deadline) {
      const why = lastErr ? ` (last error: ${lastErr && lastErr.message})` : '';
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${why}`);
    }
    await sleep(interval);
  }
}

// Resolve p, or reject once `timeout` ms pass.
export function within(p, timeout, what = 'promise') {
  let t;
  return Promise.race([
    p,
    new Promise((_, rej) => {
      t = setTimeout(() => rej(new Error(`timed out after ${timeout} ms waiting for ${what}`)), timeout);
    }),
  ]).finally(() => clearTimeout(t));
}

// Settle a promise into {ok, value, error} so a test can assert on a rejection.
export async function settle(p) {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}

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

async function distinctFreePorts(n) {
  const ports = new Set();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

// ---- processes -----------------------------------------------------------

export function pidAlive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function readCmdline(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+/g, ' ').trim();
  } catch {
    return null;
  }
}

// Live (non-zombie) children of pid, with their command line.
export function childrenOf(pid) {
  const out = [];
  for (const ent of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(ent)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${ent}/stat`, 'utf8');
    } catch {
      continue;
    }
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = rest[0];
    const ppid = Number(rest[1]);
    if (ppid !== pid || state === 'Z' || state === 'X') continue;
    const cmdline = readCmdline(Number(ent));
    if (cmdline === null) continue;
    out.push({ pid: Number(ent), cmdline });
  }
  return out.sort((a, b) => a.pid - b.pid);
}

// Inode of the server side of a TCP connection (server port, client port).
function tcpInode(serverPort, clientPort) {
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const lport = parseInt(cols[1].split(':')[1], 16);
      const rport = parseInt(cols[2].split(':')[1], 16);
      if (lport === serverPort && rport === clientPort) return cols[9];
    }
  }
  return null;
}

function pidHoldsInode(pid, inode) {
  let fds;
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return true;
    } catch {
      /* fd closed meanwhile */
    }
  }
  return false;
}

// ---- engine --------------------------------------------------------------

// Start the engine; resolves once the worker port accepts connections.
// opts.args: extra command line arguments; opts.brokers: broker count.
export async function startEngine(opts = {}) {
  const brokers = opts.brokers ?? 2;
  if (!fs.existsSync(TRINE_BIN)) throw new Error(`engine binary not found: ${TRINE_BIN} (set TRINE_BIN)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trine-it-'));
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir);
  const logPath = path.join(dir, 'trine.stderr');
  const [workerPort, httpPort, streamPort] = await distinctFreePorts(3);
  const args = [
    '--worker_port', String(workerPort),
    '--http_port', String(httpPort),
    '--stream_port', String(streamPort),
    '--brokers', String(brokers),
    '--data_dir', dataDir,
    '--log_level', 'info',
    ...(opts.args || []),
  ];
  const logFd = fs.openSync(logPath, 'w');
  const proc = spawn(TRINE_BIN, args, { stdio: ['ignore', logFd, logFd] });
  fs.closeSync(logFd);

  const engine = {
    proc,
    pid: proc.pid,
    args,
    dir,
    dataDir,
    logPath,
    workerPort,
    httpPort,
    streamPort,
    brokers,
    url: `ws://127.0.0.1:${workerPort}`,
    exitInfo: null,
    workers: new Set(),
    rawClients: new Set(),
    failed: false,
    knownChildren: new Set(),
  };
  engine.exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => {
      engine.exitInfo = { code, signal };
      resolve(engine.exitInfo);
    });
  });
  proc.once('error', (e) => {
    engine.exitInfo = { code: null, signal: null, error: e };
  });

  engine.log = () => {
    try {
      return fs.readFileSync(logPath, 'utf8');
    } catch {
      return '';
    }
  };
  // SIGKILL one engine child on purpose; remembered so that a failure report
  // can tell our kills from a process that died (or was killed) otherwise.
  engine.killedByTest = new Set();
  engine.killChild = (pid) => {
    engine.killedByTest.add(pid);
    process.kill(pid, 'SIGKILL');
  };
  engine.dumpLog = (why = '') => {
    const lines = engine.log().split('\n');
    const foreign = lines.filter((l) => {
      const m = /\(pid (\d+)\) (killed by signal|exited)/.exec(l);
      return m && !engine.killedByTest.has(Number(m[1]));
    });
    if (foreign.length) {
      process.stderr.write(
        `\nNOTE: engine children died without this test killing them:\n${foreign.join('\n')}\n`,
      );
    }
    const tail = lines.slice(-300).join('\n');
    process.stderr.write(
      `\n----- trine stderr (${logPath})${why ? ' — ' + why : ''}; last ${Math.min(300, lines.length)} lines -----\n` +
        `${tail}\n----- end of trine stderr -----\n`,
    );
  };

  engine.children = () => {
    const kids = childrenOf(engine.pid);
    for (const k of kids) engine.knownChildren.add(k.pid);
    return kids;
  };
  engine.router = () => engine.children().find((c) => c.cmdline.startsWith('trine: router'));
  engine.brokerProcs = () => engine.children().filter((c) => c.cmdline.startsWith('trine: broker'));
  // Which broker process holds the server side of a TCP connection whose
  // client end is bound to clientPort?
  engine.brokerHolding = (clientPort) => {
    const inode = tcpInode(engine.workerPort, clientPort);
    if (!inode) return null;
    return engine.brokerProcs().find((b) => pidHoldsInode(b.pid, inode)) || null;
  };

  // Wait until the expected process set is up: router + N brokers.
  engine.waitForChildren = async (timeout = 10000) =>
    waitFor(
      () => {
        const r = engine.router();
        const b = engine.brokerProcs();
        return r && b.length === brokers ? { router: r, brokers: b } : null;
      },
      { timeout, what: `router + ${brokers} brokers to be running under master ${engine.pid}` },
    );

  engine.stop = async ({ timeout = 10000 } = {}) => {
    for (const w of engine.workers) await settle(w.shutdown());
    engine.workers.clear();
    for (const c of engine.rawClients) c.terminate();
    engine.rawClients.clear();
    engine.children();
    if (!engine.exitInfo) proc.kill('SIGTERM');
    let info;
    try {
      info = await within(engine.exited, timeout, `trine (pid ${engine.pid}) to exit after SIGTERM`);
    } catch (e) {
      engine.kill();
      throw e;
    }
    return info;
  };

  // After a failed test: stop our clients (an SDK worker would otherwise keep
  // reconnecting and hold the test process open) and kill what is left.
  engine.abandon = async () => {
    for (const w of engine.workers) await settle(w.shutdown());
    engine.workers.clear();
    for (const c of engine.rawClients) c.terminate();
    engine.rawClients.clear();
    engine.kill();
  };

  // Last-resort cleanup: SIGKILL the master and every child we have seen.
  engine.kill = () => {
    if (!engine.exitInfo) {
      try {
        process.kill(engine.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const pid of engine.knownChildren) {
      if (pidAlive(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
  };

  try {
    await waitFor(
      async () => {
        if (engine.exitInfo) throw new Error(`trine exited early: ${JSON.stringify(engine.exitInfo)}`);
        return canConnect(workerPort);
      },
      { timeout: 15000, interval: 50, what: `trine worker port ${workerPort} to accept connections` },
    );
    await engine.waitForChildren();
  } catch (e) {
    engine.dumpLog('startup failed');
    engine.kill();
    throw e;
  }
  return engine;
}

// Lines of the engine log that show a crash the tests did not cause: a child
// that died without this test killing it (the master respawns it, so calls
// may still work), or an AddressSanitizer / UBSan / LeakSanitizer report.
export function engineLogProblems(engine) {
  const out = [];
  for (const l of engine.log().split('\n')) {
    const m = /\(pid (\d+)\) (killed by signal|exited with)/.exec(l);
    if (m && !engine.killedByTest.has(Number(m[1]))) out.push(l);
    else if (/ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|SUMMARY: \w+Sanitizer/.test(l)) out.push(l);
  }
  return out;
}

// Standard after() hook body: stop the engine and assert a clean exit; keep
// the temp dir when something failed.
export async function stopEngineChecked(engine, assert) {
  if (!engine) return;
  let info;
  try {
    info = await engine.stop();
  } catch (e) {
    engine.dumpLog('engine did not stop');
    await engine.abandon();
    throw e;
  }
  if (info.code !== 0) engine.dumpLog(`engine exit ${JSON.stringify(info)}`);
  assert.deepStrictEqual(info, { code: 0, signal: null }, 'trine must exit with code 0 after SIGTERM');
  const problems = engineLogProblems(engine);
  if (problems.length) {
    engine.failed = true;
    engine.dumpLog('problems found in the engine log');
  }
  assert.deepStrictEqual(problems, [], 'no child process crashed and no sanitizer report during this file');
  if (!engine.failed) fs.rmSync(engine.dir, { recursive: true, force: true });
}

// Wrap a test or hook body so that a failure prints the engine's stderr.
export function guard(getEngine, what, fn) {
  return async (...args) => {
    try {
      return await fn(...args);
    } catch (e) {
      const engine = getEngine();
      if (engine) {
        engine.failed = true;
        engine.dumpLog(`${what} failed: ${e && e.message}`);
      }
      throw e;
    }
  };
}

// node:test's `test`, but a failing test prints the engine's stderr.
export function engineTest(getEngine) {
  return (name, opts, fn) => {
    if (typeof opts === 'function') {
      fn = opts;
      opts = {};
    }
    return nodeTest(name, { timeout: 60000, ...opts }, guard(getEngine, `test "${name}"`, fn));
  };
}

// ---- SDK workers ---------------------------------------------------------

// A real iii-sdk worker with OpenTelemetry off; stopped by engine.stop().
export function sdkWorker(engine, name, options = {}) {
  const w = registerWorker(engine.url, {
    workerName: name,
    otel: { enabled: false },
    enableMetricsReporting: false,
    invocationTimeoutMs: 15000,
    ...options,
  });
  w.testName = name;
  engine.workers.add(w);
  return w;
}

// Resolve once the worker is connected and everything it registered so far
// has reached the engine: it registers a probe function last and calls it
// through the engine (one connection's messages are processed in order).
export async function workerReady(w, { timeout = 15000 } = {}) {
  const probe = `test::probe::${w.testName}`;
  if (!w.functions.has(probe)) w.registerFunction(probe, async () => ({ ok: true }));
  await waitFor(
    async () => {
      const r = await w.trigger({ function_id: probe, payload: {}, timeoutMs: 3000 });
      return r && r.ok === true;
    },
    { timeout, interval: 100, what: `worker ${w.testName} to reach the engine` },
  );
  await waitFor(() => w.workerId, { timeout, what: `workerregistered for ${w.testName}` });
  return w;
}

export async function shutdownWorker(engine, w) {
  engine.workers.delete(w);
  await w.shutdown();
}

// Local TCP port of an SDK worker's current WebSocket.
export function workerLocalPort(w) {
  return w.ws && w.ws._socket ? w.ws._socket.localPort : null;
}

// ---- raw WebSocket client ------------------------------------------------

// A plain `ws` client that records every frame it receives.
export class RawClient {
  constructor(engine, urlPath = '/', opts = {}) {
    this.engine = engine;
    this.messages = []; // parsed JSON frames (text or binary)
    this.rawFrames = []; // {data: Buffer, isBinary}
    this.errors = [];
    this.closeInfo = null;
    this.ws = new WebSocket(engine.url + urlPath, { perMessageDeflate: false, ...opts });
    engine.rawClients.add(this);
    this.ws.on('message', (data, isBinary) => {
      this.rawFrames.push({ data, isBinary });
      try {
        this.messages.push(JSON.parse(data.toString()));
      } catch {
        this.messages.push({ __unparsable: data.toString() });
      }
    });
    this.ws.on('error', (e) => this.errors.push(e));
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
      });
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (req, res) =>
        reject(new Error(`unexpected HTTP ${res.statusCode} on upgrade`)),
      );
    });
  }

  static async open(engine, urlPath = '/', opts = {}) {
    const c = new RawClient(engine, urlPath, opts);
    await within(c.opened, 10000, `WebSocket open on ${urlPath}`);
    return c;
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(obj) {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  sendBinary(buf) {
    this.ws.send(Buffer.from(buf), { binary: true });
  }

  // Wait for a JSON frame matching pred, received at or after index `from`.
  async waitForMessage(pred, { timeout = 10000, from = 0, what = 'a matching frame' } = {}) {
    return waitFor(
      () => {
        for (let i = from; i < this.messages.length; i++) if (pred(this.messages[i])) return this.messages[i];
        if (this.closeInfo) throw new Error(`connection closed ${JSON.stringify(this.closeInfo)}`);
        return null;
      },
      { timeout, interval: 10, what },
    );
  }

  // Send a JSON ping and wait for the pong that answers it.
  async pingPong(timeout = 10000) {
    const from = this.messages.length;
    this.send({ type: 'ping' });
    return this.waitForMessage((m) => m.type === 'pong', { timeout, from, what: 'pong' });
  }

  terminate() {
    this.engine.rawClients.delete(this);
    try {
      this.ws.terminate();
    } catch {
      /* already gone */
    }
  }
}

// Index the engine's builtin list results by a key.
export async function callBuiltin(w, id, payload = {}) {
  return w.trigger({ function_id: id, payload, timeoutMs: 10000 });
}

// ---- hand-made WebSocket frames over a plain TCP socket -----------------
// For what the `ws` client refuses to send (unmasked frames, reserved bits,
// bad opcodes, fragmented control frames).

// Build one client frame. opts: fin (default true), rsv (0..7), mask (default true).
export function buildFrame(opcode, payload = Buffer.alloc(0), { fin = true, rsv = 0, mask = true } = {}) {
  payload = Buffer.from(payload);
  const len = payload.length;
  const head = [((fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f))];
  const m = mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len < 65536) head.push(m | 126, len >> 8, len & 0xff);
  else {
    head.push(m | 127);
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(len));
    head.push(...b);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = crypto.randomBytes(4);
  const body = Buffer.from(payload.map((x, i) => x ^ key[i & 3]));
  return Buffer.concat([Buffer.from(head), key, body]);
}

// Parse server frames (7/16/64-bit lengths) from a buffer.
export function parseFrames(buf) {
  const frames = [];
  let off = 0;
  while (buf.length - off >= 2) {
    const b0 = buf[off];
    const b1 = buf[off + 1];
    let len = b1 & 0x7f;
    let hdr = 2;
    if (len === 126) {
      if (buf.length - off < 4) break;
      len = buf.readUInt16BE(off + 2);
      hdr = 4;
    } else if (len === 127) {
      if (buf.length - off < 10) break;
      len = Number(buf.readBigUInt64BE(off + 2));
      hdr = 10;
    }
    if (b1 & 0x80) hdr += 4; // a server must not mask, but parse it anyway
    if (buf.length - off < hdr + len) break;
    frames.push({
      opcode: b0 & 0x0f,
      fin: !!(b0 & 0x80),
      rsv: (b0 >> 4) & 7,
      masked: !!(b1 & 0x80),
      payload: buf.subarray(off + hdr, off + hdr + len),
    });
    off += hdr + len;
  }
  return frames;
}

// A WebSocket client on a raw TCP socket: performs the opening handshake with
// the given extra header lines and records every byte the server sends.
export class RawSocket {
  static async open(engine, { path = '/', headers = null, version = '13', key = null } = {}) {
    const r = new RawSocket();
    r.key = key ?? crypto.randomBytes(16).toString('base64');
    r.accept = crypto.createHash('sha1').update(r.key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    r.s = net.connect({ port: engine.workerPort, host: '127.0.0.1' });
    r.buf = Buffer.alloc(0);
    r.ended = new Promise((resolve) => r.s.once('close', resolve));
    r.s.on('error', () => {});
    r.s.on('data', (d) => {
      r.buf = Buffer.concat([r.buf, d]);
    });
    await within(new Promise((res, rej) => {
      r.s.once('connect', res);
      r.s.once('error', rej);
    }), 10000, 'TCP connect');
    const lines = headers ?? [
      `Host: 127.0.0.1:${engine.workerPort}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${r.key}`,
      `Sec-WebSocket-Version: ${version}`,
    ];
    r.s.write(`GET ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`);
    await waitFor(() => r.buf.indexOf('\r\n\r\n') >= 0 || r.s.destroyed, { what: 'the handshake response' });
    const end = r.buf.indexOf('\r\n\r\n');
    r.head = end >= 0 ? r.buf.subarray(0, end).toString() : r.buf.toString();
    r.status = Number((/^HTTP\/1\.1 (\d{3})/.exec(r.head) || [])[1]);
    r.bodyStart = end >= 0 ? end + 4 : r.buf.length;
    return r;
  }

  frames() {
    return parseFrames(this.buf.subarray(this.bodyStart));
  }

  write(buf) {
    if (!this.s.destroyed) this.s.write(buf);
  }

  // Wait for the server's close frame; returns its status code (or null if
  // the frame had no code).
  async closeCode(timeout = 10000) {
    const f = await waitFor(() => this.frames().find((x) => x.opcode === 0x8), {
      timeout,
      what: 'a close frame from the engine',
    });
    return f.payload.length >= 2 ? f.payload.readUInt16BE(0) : null;
  }

  destroy() {
    this.s.destroy();
  }
}
