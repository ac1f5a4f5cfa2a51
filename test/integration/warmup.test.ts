import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Daemon, fixture, get } from '../helpers/harness.js';
import { LoadClient } from '../helpers/load.js';

interface Recorded {
  warmup: number;
  inProcess: number;
  client: number;
  outOfOrder: number;
  connectionsBeforeClients: number;
  firstClientAfter: number | null;
  paths: Record<string, number>;
}

const REQUESTS = 300;
const CONCURRENCY = 4;

function config(env: Record<string, string> = {}, paths = ['/', '/items']) {
  return {
    workers: 1,
    command: ['node', fixture('warmup-recorder')],
    env,
    ready: { kind: 'notify', timeout: '10s', warmup: { requests: REQUESTS, paths, concurrency: CONCURRENCY } },
    drain: { signal: 'SIGTERM', timeout: '3s' },
  };
}

async function recorded(port: number): Promise<Recorded & { pid: string }> {
  const answer = await get(port, '/recorded');
  return { ...(JSON.parse(answer.body) as Recorded), pid: String(answer.headers['x-pid']) };
}

function assertWarmedFirst(record: Recorded): void {
  assert.equal(record.warmup, REQUESTS, 'exactly the configured warm-up requests');
  assert.equal(record.outOfOrder, 0, 'no warm-up request after a client request');
  assert.equal(record.firstClientAfter, REQUESTS, 'the first client request came after the whole warm-up');
  assert.deepEqual(record.paths, { '/': REQUESTS / 2, '/items': REQUESTS / 2 }, 'the paths in turn');
  // Half the requests each on a new connection, half on the lanes' keep-alive connections.
  assert.ok(record.connectionsBeforeClients > REQUESTS / 2 && record.connectionsBeforeClients <= REQUESTS / 2 + 2 * CONCURRENCY, `${record.connectionsBeforeClients} warm-up connections`);
}

// Whatever the load saw: no client request may fail while a new worker warms up or fails to.
async function underLoad<T>(port: number, run: () => Promise<T>): Promise<T> {
  const clients = [new LoadClient({ port, mode: 'new-connection', concurrency: 4 }), new LoadClient({ port, mode: 'keep-alive', concurrency: 4 })];
  for (const client of clients) client.start();
  const result = await run();
  for (const report of await Promise.all(clients.map((client) => client.stop()))) {
    assert.ok(report.ok > 20, `${report.mode}: only ${report.ok} requests`);
    assert.equal(report.failed, 0, `${report.mode}: ${JSON.stringify(report.failures)}`);
  }
  return result;
}

test('ready.warmup: each new worker gets exactly the warm-up requests, before any client request; a failed warm-up rolls back', async () => {
  const daemon = await Daemon.start({ config: config() });
  try {
    const first = await recorded(daemon.port);
    assertWarmedFirst(first); // at start-up too

    daemon.writeConfig(config());
    const reload = await underLoad(daemon.port, () => daemon.cli('reload'));
    assert.equal(reload.exitCode, 0, reload.stderr);
    const second = await recorded(daemon.port);
    assert.notEqual(second.pid, first.pid);
    assertWarmedFirst(second);
    const done = daemon.logs.filter((line) => line.msg === 'warm-up done');
    assert.equal(done.length, 2);
    assert.deepEqual(done[1]!.statuses, { 200: REQUESTS });

    // A worker that answers 503 to a warm-up request fails readiness: the reload rolls back and
    // the serving worker is untouched.
    daemon.writeConfig(config({ FAIL_PATH: '/items' }));
    const failed = await underLoad(daemon.port, () => daemon.cli('reload'));
    assert.equal(failed.exitCode, 1);
    assert.match(failed.stdout + failed.stderr, /failed its warm-up: GET \/items answered 503 \(request \d+ of 300\): the worker was not put in service/);
    const status = await daemon.status();
    assert.equal(status.lastReload?.outcome, 'rolled-back');
    assert.deepEqual(status.generations.map((gen) => gen.state), ['serving']);
    assert.equal((await recorded(daemon.port)).pid, second.pid, 'the old worker still serves');
  } finally {
    await daemon.stop();
  }
});

test('the Node helper\'s in-process warm-up, in shared mode too: its requests all come before the first client\'s', async () => {
  const inProcess = { ...config({ IN_PROCESS_WARMUP: '200' }), socket: 'shared', ready: { kind: 'notify', timeout: '10s' } };
  const daemon = await Daemon.start({ config: inProcess });
  try {
    daemon.writeConfig(inProcess);
    const reload = await underLoad(daemon.port, () => daemon.cli('reload'));
    assert.equal(reload.exitCode, 0, reload.stderr);
    const record = await recorded(daemon.port);
    assert.equal(record.inProcess, 200);
    assert.equal(record.warmup, 0, 'no supervisor warm-up in shared mode');
    assert.equal(record.outOfOrder, 0);
    assert.equal(record.firstClientAfter, 200);
  } finally {
    await daemon.stop();
  }
});
