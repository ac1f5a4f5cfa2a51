// The worker helper's env parsing and its keep-alive-safe drain, in-process on 127.0.0.1 (no addon).
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { drainHttpServers, trackHttpServer } from '../../src/worker/drain.js';
import {
  drainSignalsFromEnv,
  drainSpreadFromEnv,
  drainTimeoutFromEnv,
  inheritedListenFds,
  listenPlan,
  WorkerEnvError,
} from '../../src/worker-contract.js';

describe('worker env', () => {
  test('inheritedListenFds counts from fd 3 and honours LISTEN_PID', () => {
    assert.deepEqual(inheritedListenFds({}), []);
    assert.deepEqual(inheritedListenFds({ LISTEN_FDS: '2' }), [3, 4]);
    assert.deepEqual(inheritedListenFds({ LISTEN_FDS: '1', LISTEN_PID: String(process.pid) }), [3]);
    assert.deepEqual(inheritedListenFds({ LISTEN_FDS: '1', LISTEN_PID: String(process.pid + 1) }), []);
    assert.throws(() => inheritedListenFds({ LISTEN_FDS: 'x' }), /LISTEN_FDS="x" is not a count/);
  });

  test('listenPlan picks inherited, self, or standalone', () => {
    assert.deepEqual(listenPlan({ LISTEN_FDS: '1', LISTEN_FDNAMES: '127.0.0.1_8000', PORT: '8000', HOST: '127.0.0.1' }), {
      mode: 'inherited',
      fds: [3],
      names: ['127.0.0.1:8000'],
    });
    assert.deepEqual(listenPlan({ PORT: '8000', HOST: '[::1]' }), { mode: 'self', host: '::1', port: 8000 });
    assert.deepEqual(listenPlan({ PORT: '8001' }, 9000), { mode: 'standalone', host: '127.0.0.1', port: 8001 });
    assert.deepEqual(listenPlan({}, 9000), { mode: 'standalone', host: '127.0.0.1', port: 9000 });
    assert.deepEqual(listenPlan({}), { mode: 'standalone', host: '127.0.0.1', port: 3000 });
  });

  test('listenPlan refuses fds meant for another pid, naming the likely cause', () => {
    assert.throws(
      () => listenPlan({ LISTEN_FDS: '1', LISTEN_PID: '1' }),
      (error: unknown) => error instanceof WorkerEnvError && /wrapper that forked/.test(error.message),
    );
  });

  test('drain timeout leaves 500 ms before the supervisor SIGKILLs', () => {
    assert.equal(drainTimeoutFromEnv({}), 30_000);
    assert.equal(drainTimeoutFromEnv({ SUPERVISOR_DRAIN_TIMEOUT_MS: '10000' }), 9_500);
    assert.equal(drainTimeoutFromEnv({ SUPERVISOR_DRAIN_TIMEOUT_MS: '200' }), 0);
    assert.throws(() => drainTimeoutFromEnv({ SUPERVISOR_DRAIN_TIMEOUT_MS: 'soon' }), /SUPERVISOR_DRAIN_TIMEOUT_MS="soon"/);
  });

  test('drain spread: SUPERVISOR_DRAIN_SPREAD_MS as it is, 0 when unset, a clear error when not a number', () => {
    assert.equal(drainSpreadFromEnv({}), 0);
    assert.equal(drainSpreadFromEnv({ SUPERVISOR_DRAIN_SPREAD_MS: '1500' }), 1_500);
    assert.throws(() => drainSpreadFromEnv({ SUPERVISOR_DRAIN_SPREAD_MS: '-1' }), /SUPERVISOR_DRAIN_SPREAD_MS="-1" is not a number of milliseconds >= 0/);
  });

  test('drain signals: the configured one plus SIGINT, deduplicated', () => {
    assert.deepEqual(drainSignalsFromEnv({}), ['SIGTERM', 'SIGINT']);
    assert.deepEqual(drainSignalsFromEnv({ SUPERVISOR_DRAIN_SIGNAL: 'SIGQUIT' }), ['SIGQUIT', 'SIGINT']);
    assert.deepEqual(drainSignalsFromEnv({ SUPERVISOR_DRAIN_SIGNAL: 'INT' }), ['SIGINT']);
    assert.deepEqual(drainSignalsFromEnv({ SUPERVISOR_DRAIN_SIGNAL: 'usr2' }), ['SIGUSR2', 'SIGINT']);
    assert.throws(() => drainSignalsFromEnv({ SUPERVISOR_DRAIN_SIGNAL: 'SIGNOPE' }), /not a signal name/);
  });
});

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  reusedSocket: boolean;
}

function get(agent: http.Agent, port: number, path = '/'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, reusedSocket: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** A tracked server whose handler answers `/` at once and `/hold` when the test calls release(). */
async function startServer(): Promise<{ server: http.Server; port: number; held: http.ServerResponse[]; release(): void }> {
  const held: http.ServerResponse[] = [];
  const server = http.createServer();
  trackHttpServer(server);
  server.on('request', (req, res) => {
    if (req.url === '/hold') return void held.push(res);
    if (req.url === '/hold-after-headers') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial ');
      return void held.push(res);
    }
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    held,
    release: () => held.splice(0).forEach((res) => res.end('done')),
  };
}

async function waitFor(check: () => boolean, what: string, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('drainHttpServers', () => {
  test('an idle keep-alive connection gets its next request answered, with Connection: close', async () => {
    const { server, port } = await startServer();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await get(agent, port);
      assert.equal(first.headers.connection, 'keep-alive');
      const drained = drainHttpServers([server], 5000);
      // The idle connection must survive the start of the drain.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const second = await get(agent, port);
      assert.equal(second.status, 200);
      assert.equal(second.reusedSocket, true, 'the request went over the old keep-alive connection');
      assert.equal(second.headers.connection, 'close');
      const result = await drained;
      assert.equal(result.timedOut, false);
      assert.ok(result.elapsedMs < 4000, `drain ended when the last connection closed (${result.elapsedMs} ms)`);
      await assert.rejects(get(agent, port), { code: 'ECONNREFUSED' }, 'no new connections after the drain');
    } finally {
      agent.destroy();
      server.closeAllConnections();
    }
  });

  test('a response in progress whose headers are not out yet gets Connection: close', async () => {
    const { server, port, held, release } = await startServer();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const reply = get(agent, port, '/hold');
      await waitFor(() => held.length === 1, 'the held request');
      const drained = drainHttpServers([server], 5000);
      release();
      const { status, headers, body } = await reply;
      assert.equal(status, 200);
      assert.equal(body, 'done');
      assert.equal(headers.connection, 'close');
      assert.equal((await drained).timedOut, false);
    } finally {
      agent.destroy();
      server.closeAllConnections();
    }
  });

  test('a keep-alive response already under way finishes; its connection closes on the next request', async () => {
    const { server, port, held, release } = await startServer();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const reply = get(agent, port, '/hold-after-headers');
      await waitFor(() => held.length === 1, 'the held request');
      const drained = drainHttpServers([server], 5000);
      release();
      const first = await reply;
      assert.equal(first.body, 'partial done');
      assert.equal(first.headers.connection, 'keep-alive', 'its headers were sent before the drain');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const second = await get(agent, port);
      assert.equal(second.reusedSocket, true);
      assert.equal(second.headers.connection, 'close');
      assert.equal((await drained).timedOut, false);
    } finally {
      agent.destroy();
      server.closeAllConnections();
    }
  });

  test('at the deadline what is left is destroyed and the drain resolves', async () => {
    const { server, port, held } = await startServer();
    const idleAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const busyAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await get(idleAgent, port);
      const busy = get(busyAgent, port, '/hold');
      busy.catch(() => {}); // it is expected to fail; asserted below
      await waitFor(() => held.length === 1, 'the held request');
      const result = await drainHttpServers([server], 300);
      assert.equal(result.timedOut, true);
      assert.equal(result.destroyed, 2);
      assert.equal(result.destroyedBusy, 1);
      assert.ok(result.elapsedMs >= 290 && result.elapsedMs < 2000, `elapsed ${result.elapsedMs} ms`);
      await assert.rejects(busy, /socket hang up|ECONNRESET/);
    } finally {
      idleAgent.destroy();
      busyAgent.destroy();
      server.closeAllConnections();
    }
  });

  test('with no connections the drain resolves at once', async () => {
    const { server } = await startServer();
    const result = await drainHttpServers([server], 5000);
    assert.equal(result.timedOut, false);
    assert.ok(result.elapsedMs < 1000);
  });
});
