// slow_start and drain.spread with the real daemon, the example app and real sockets: during a
// slow start both generations get new connections, the new one a growing share, and after it the
// new generation gets all of them; with drain.spread the old workers close their keep-alive
// connections one by one over the window, not all at the drain signal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { request } from '../../src/control/client.js';
import type { DaemonStatus } from '../../src/control/protocol.js';
import { Daemon, exampleApp, get, isAlive, sleep, waitFor } from '../helpers/harness.js';

const base = {
  workers: 2,
  command: ['node', exampleApp],
  ready: { kind: 'notify', timeout: '10s' },
  restart: { backoff: '100ms', max: '1s' },
};

test('slow_start: new connections go to both generations, the new one taking a growing share, then to the new one only', async () => {
  const daemon = await Daemon.start({ config: { ...base, env: { APP_VERSION: '1' }, slow_start: '2s', drain: { signal: 'SIGTERM', timeout: '5s' } } });
  try {
    daemon.writeConfig({ ...base, env: { APP_VERSION: '2' }, slow_start: '2s', drain: { signal: 'SIGTERM', timeout: '5s' } });
    const reload = daemon.cli('reload');
    let done = false;
    void reload.finally(() => (done = true));
    // One new connection per request, back to back, until the reload has ended.
    const answers: { at: number; version: string }[] = [];
    let during: DaemonStatus['slowStart'] = null;
    let asked = false;
    while (!done) {
      const answer = await get(daemon.port);
      assert.equal(answer.status, 200);
      answers.push({ at: Date.now(), version: String(answer.headers['x-version']) });
      // Once the new generation answers, status shows the ramp: asked on the control socket from
      // this process, which answers within the ramp even on a busy machine (a CLI start may not).
      if (!asked && answer.headers['x-version'] === '2') {
        asked = true;
        during = ((await request(daemon.socketPath, { command: 'status' })).data as DaemonStatus).slowStart;
      }
    }
    const result = await reload;
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stdout + result.stderr, /slow start/);

    const firstNew = answers.findIndex((answer) => answer.version === '2');
    assert.ok(firstNew >= 0, 'the new generation never answered');
    // Thirds of the ramp by time (a count would shift with the client's pace on a busy machine).
    const rampStart = answers[firstNew]!.at;
    const within = (from: number, to: number) => answers.filter((answer) => answer.at >= rampStart + from && answer.at < rampStart + to);
    const ramp = within(0, 1800);
    const share = (part: typeof ramp) => part.filter((answer) => answer.version === '2').length / part.length;
    const [first, last] = [within(0, 600), within(1200, 1800)];
    const early = share(first);
    const late = share(last);
    assert.ok(first.length >= 10 && last.length >= 10, `too few requests in the ramp to judge it: ${first.length} in its first third, ${last.length} in its last`);
    assert.ok(early < 0.6, `the new generation took ${Math.round(early * 100)}% of new connections in the first third of the slow start`);
    assert.ok(late > early, `the new generation's share did not grow: ${Math.round(early * 100)}% -> ${Math.round(late * 100)}%`);
    assert.ok(ramp.some((answer) => answer.version === '1'), 'the old generation got no new connection during the slow start');

    assert.ok(during, 'status showed no slow start while the new generation had a share');
    assert.equal(during.generation, 2);
    assert.equal(during.from, 1);
    assert.ok(during.share > 0 && during.share < 1 && during.remainingMs <= 2000, JSON.stringify(during));

    for (let i = 0; i < 20; i++) assert.equal((await get(daemon.port)).headers['x-version'], '2');
    const status = await daemon.status();
    assert.deepEqual(status.generations.map((gen) => gen.state), ['serving']);
    assert.equal(status.slowStart, null);
  } finally {
    await daemon.stop();
  }
});

// A keep-alive client on a raw socket: one request at a time, and whether each answer closed it.
class KeepAliveClient {
  readonly closedAt: number[] = [];
  failures = 0;
  #socket: net.Socket | null = null;

  constructor(private readonly port: number) {}

  async request(): Promise<{ version: string; closed: boolean }> {
    const socket = this.#socket ?? (this.#socket = net.connect(this.port, '127.0.0.1'));
    return new Promise((resolve, reject) => {
      let buffer = '';
      const onData = (chunk: Buffer) => {
        buffer += chunk.toString('latin1');
        const end = buffer.indexOf('\r\n\r\n');
        const length = /content-length: *(\d+)/i.exec(buffer);
        if (end < 0 || !length || buffer.length < end + 4 + Number(length[1])) return;
        cleanup();
        const closed = /\r\nconnection: *close/i.test(buffer.slice(0, end));
        if (closed) {
          this.closedAt.push(Date.now());
          socket.destroy();
          this.#socket = null;
        }
        resolve({ version: /x-version: *(\S+)/i.exec(buffer)?.[1] ?? '', closed });
      };
      const onError = (error: Error) => {
        cleanup();
        this.failures++;
        this.#socket = null;
        reject(error);
      };
      const onClose = () => onError(new Error('closed before a complete response'));
      const cleanup = () => {
        socket.off('data', onData);
        socket.off('error', onError);
        socket.off('close', onClose);
      };
      socket.on('data', onData);
      socket.once('error', onError);
      socket.once('close', onClose);
      socket.write('GET / HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n');
    });
  }

  close(): void {
    this.#socket?.destroy();
  }
}

test('drain.spread: old workers close their keep-alive connections over the window, and no request fails', async () => {
  const config = (version: string) => ({ ...base, env: { APP_VERSION: version }, drain: { signal: 'SIGTERM', timeout: '8s', spread: '1500ms' } });
  const daemon = await Daemon.start({ config: config('1') });
  const clients = Array.from({ length: 12 }, () => new KeepAliveClient(daemon.port));
  let running = true;
  const loops = clients.map(async (client) => {
    while (running) {
      await client.request();
      await sleep(5);
    }
  });
  try {
    await sleep(300); // every client holds a keep-alive connection to generation 1
    daemon.writeConfig(config('2'));
    const reload = await daemon.cli('reload');
    assert.equal(reload.exitCode, 0, reload.stderr);
    await waitFor('every client to have moved', () => clients.every((client) => client.closedAt.length > 0) || undefined, 5000);
    const closes = clients.map((client) => client.closedAt[0]!).sort((a, b) => a - b);
    const window = closes.at(-1)! - closes[0]!;
    // All at the drain signal would close them within a few ms of each other.
    assert.ok(window > 300, `the ${clients.length} keep-alive connections closed within ${window} ms of each other`);
    assert.ok(window < 3000, `closing took ${window} ms, far beyond drain.spread (1500 ms)`);
  } finally {
    running = false;
    await Promise.allSettled(loops);
    for (const client of clients) client.close();
    await daemon.stop();
  }
  assert.equal(clients.reduce((sum, client) => sum + client.failures, 0), 0, 'a keep-alive request failed');
});

test('a stop during a slow start ends the ramp at once: both generations drain, the supervisor exits 0, no worker is left', async () => {
  const config = (version: string) => ({ ...base, env: { APP_VERSION: version }, slow_start: '20s', drain: { signal: 'SIGTERM', timeout: '5s' } });
  const daemon = await Daemon.start({ config: config('1') });
  let pids: number[] = [];
  try {
    daemon.writeConfig(config('2'));
    const reload = daemon.cli('reload');
    await waitFor('the slow start to begin', async () => (await daemon.status()).slowStart ?? undefined, 10_000);
    pids = daemon.workerPids();
    assert.equal(pids.length, 4, `expected both generations' workers, got ${pids.join(', ')}`);
    const started = Date.now();
    const code = await daemon.stop();
    assert.equal(code, 0);
    assert.ok(Date.now() - started < 10_000, `the stop waited ${Date.now() - started} ms: the 20 s ramp was not cut short`);
    await reload;
  } finally {
    await daemon.stop();
  }
  for (const pid of pids) assert.equal(isAlive(pid), false, `worker ${pid} outlived the supervisor`);
});
