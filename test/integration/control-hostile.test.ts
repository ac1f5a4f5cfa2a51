// Hostile clients on a live daemon's control socket: generated frames (malformed, binary, partial,
// oversized), clients that never send or send a byte at a time. The daemon answers each with a
// usage result or hangs up, never crashes, and keeps answering everyone else quickly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import { request } from '../../src/control/client.js';
import { REQUEST_TIMEOUT_MS } from '../../src/control/server.js';
import { Daemon, exampleApp, isAlive } from '../helpers/harness.js';
import { frameArbitrary, type GeneratedFrame } from '../helpers/frames.js';

const config = { workers: 1, command: ['node', exampleApp], ready: { kind: 'notify', timeout: '5s' }, drain: { signal: 'SIGTERM', timeout: '2s' } };
const LIVE_FRAMES = 400;
const BATCH = 25;

interface Exchange {
  answer: string;
  closedBy: 'server' | 'timeout';
}

// Writes the frame (then half-closes when it has no newline, as a client that gave up would) and
// collects whatever comes back until the server closes the connection.
function exchange(path: string, frame: GeneratedFrame, timeoutMs = 5_000): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    let answer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ answer, closedBy: 'timeout' });
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      socket.write(frame.bytes);
      if (!frame.bytes.includes(0x0a)) socket.end();
    });
    socket.on('data', (chunk: string) => (answer += chunk));
    // EPIPE/ECONNRESET: the server refused the rest of an oversized frame; what it said counts.
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') {
        clearTimeout(timer);
        reject(error);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ answer, closedBy: 'server' });
    });
  });
}

async function timedStatus(path: string): Promise<number> {
  const started = performance.now();
  const result = await request(path, { command: 'status' });
  assert.equal(result.ok, true);
  return performance.now() - started;
}

test(`${LIVE_FRAMES} generated frames against a live daemon: each refused or answered, nobody blocked, nothing restarted`, async () => {
  const daemon = await Daemon.start({ config });
  try {
    const pids = await daemon.servingPids();
    const frames = fc.sample(frameArbitrary, { numRuns: LIVE_FRAMES, seed: 20240606 });
    let worstStatusMs = 0;
    const kinds = new Map<string, number>();
    for (let start = 0; start < frames.length; start += BATCH) {
      const batch = frames.slice(start, start + BATCH);
      // Another client's status request goes in while the batch is on the wire.
      const [results, statusMs] = await Promise.all([Promise.all(batch.map((frame) => exchange(daemon.socketPath, frame))), timedStatus(daemon.socketPath)]);
      worstStatusMs = Math.max(worstStatusMs, statusMs);
      results.forEach(({ answer, closedBy }, i) => {
        const frame = batch[i]!;
        kinds.set(frame.kind, (kinds.get(frame.kind) ?? 0) + 1);
        assert.equal(closedBy, 'server', `the daemon did not close a ${frame.kind} frame's connection: ${JSON.stringify(frame.bytes.subarray(0, 80).toString('latin1'))}`);
        const lines = answer.split('\n').filter(Boolean);
        if (frame.kind === 'partial' || lines.length === 0) {
          // A frame without a newline (or blank lines only) is not acted on; the hang-up ends it.
          assert.ok(frame.kind === 'partial' || frame.bytes.toString('utf8').trim() === '', `no answer to a ${frame.kind} frame`);
          return;
        }
        assert.equal(lines.length, 1, `one result line per connection, got ${lines.length}`);
        const result = JSON.parse(lines[0]!) as { type: string; ok: boolean; code: number; message: string };
        assert.equal(result.type, 'result');
        if (frame.kind === 'valid') assert.deepEqual([result.ok, result.code], [true, 0]);
        else assert.deepEqual([result.ok, result.code], [false, 100], `${frame.kind}: ${result.message}`);
        if (frame.kind === 'oversized') assert.match(result.message, /too long/);
      });
    }
    assert.ok(worstStatusMs < 2_000, `status took ${worstStatusMs.toFixed(0)} ms while frames were refused`);
    const status = await daemon.status();
    assert.equal(status.state, 'running');
    assert.deepEqual(await daemon.servingPids(), pids, 'no worker was touched');
    assert.equal(daemon.exitCode, null);
    for (const kind of ['valid', 'wrong-json', 'text', 'binary', 'partial', 'oversized']) assert.ok((kinds.get(kind) ?? 0) > 0, `no ${kind} frame was sent`);
  } finally {
    assert.equal(await daemon.stop(), 0);
  }
});

test('slow clients (silent, or one byte at a time) cannot stall the daemon, and are cut off at the request deadline', async () => {
  const daemon = await Daemon.start({ config });
  const sockets: net.Socket[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    // Resolves when the daemon closes the connection, or (a failure) REQUEST_TIMEOUT_MS + 5 s in.
    const cutOff = (socket: net.Socket) => new Promise<{ at: number; answer: string }>((resolve) => {
      let answer = '';
      const bound = setTimeout(() => socket.destroy(), REQUEST_TIMEOUT_MS + 5_000);
      timers.push(bound);
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (answer += chunk));
      socket.on('error', () => {});
      socket.on('close', () => {
        clearTimeout(bound);
        resolve({ at: Date.now(), answer });
      });
    });
    const opened = Date.now();
    // Ten clients that connect and never send.
    const silent = Array.from({ length: 10 }, () => {
      const socket = net.connect(daemon.socketPath);
      sockets.push(socket);
      return cutOff(socket);
    });
    // One that sends a never-ending request line, one byte every 500 ms (a slowloris).
    const dribbler = net.connect(daemon.socketPath);
    sockets.push(dribbler);
    const dribbled = cutOff(dribbler);
    timers.push(setInterval(() => dribbler.writable && dribbler.write('x'), 500));
    // One that sends a valid request a byte at a time, quickly: it is answered.
    const slowValid = net.connect(daemon.socketPath);
    sockets.push(slowValid);
    const slowAnswer = cutOff(slowValid);
    const bytes = [...'{"command":"ping"}\n'];
    timers.push(setInterval(() => {
      const next = bytes.shift();
      if (next !== undefined && slowValid.writable) slowValid.write(next);
    }, 20));

    // Meanwhile, status from another client answers fast, again and again.
    const latencies: number[] = [];
    while (Date.now() - opened < 3_000) latencies.push(await timedStatus(daemon.socketPath));
    assert.ok(Math.max(...latencies) < 1_000, `status latencies ${latencies.map((ms) => ms.toFixed(0)).join(', ')}`);
    const pong = JSON.parse((await slowAnswer).answer.trim()) as { ok: boolean; message: string };
    assert.deepEqual([pong.ok, pong.message], [true, 'pong']);

    const [silentEnds, dribbleEnd] = await Promise.all([Promise.all(silent), dribbled]);
    for (const end of [...silentEnds, dribbleEnd]) {
      const waited = end.at - opened;
      assert.ok(waited >= REQUEST_TIMEOUT_MS - 500 && waited < REQUEST_TIMEOUT_MS + 3_000, `cut off after ${waited} ms`);
      assert.match(end.answer, /no request line within/);
    }
    assert.equal((await daemon.status()).state, 'running');
  } finally {
    for (const timer of timers) clearInterval(timer);
    for (const socket of sockets) socket.destroy();
    assert.equal(await daemon.stop(), 0);
    assert.equal(isAlive(daemon.pid), false);
  }
});
