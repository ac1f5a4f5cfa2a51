// The bake window with the real daemon, real workers and real sockets, under load from clients
// that never retry: after a promotion the previous generation stays alive and steered out;
// `supervisor rollback` (or the new generation failing) brings the same processes back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from '../../src/control/client.js';
import type { DaemonStatus } from '../../src/control/protocol.js';
import { Daemon, exampleApp, fixture, get, isAlive, waitFor } from '../helpers/harness.js';
import { startMixedLoad as startLoad, stopLoad, type LoadClient } from '../helpers/load.js';

const base = {
  workers: 2,
  ready: { kind: 'notify', timeout: '10s' },
  restart: { backoff: '100ms', max: '1s' },
  drain: { signal: 'SIGTERM', timeout: '5s' },
};
const good = (version: string, bake: unknown = '30s') => ({ ...base, command: ['node', exampleApp], env: { APP_VERSION: version }, bake });

// Status on the control socket from this process: quicker than a CLI start on a busy machine.
async function statusOf(daemon: Daemon): Promise<DaemonStatus> {
  return (await request(daemon.socketPath, { command: 'status' })).data as DaemonStatus;
}

const pidsOf = (status: DaemonStatus, generation: number) => status.generations.find((gen) => gen.generation === generation)?.workers.map((worker) => worker.pid) ?? [];

// One new connection per request, back to back, each answer stamped with the version that gave it.
class Sampler {
  readonly answers: { at: number; version: string }[] = [];
  #running = true;
  readonly #loop: Promise<void>;
  constructor(port: number) {
    this.#loop = (async () => {
      while (this.#running) {
        const answer = await get(port);
        this.answers.push({ at: Date.now(), version: String(answer.headers['x-version']) });
      }
    })();
  }
  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }
}

test('bake: after a promotion the previous generation stays warm; supervisor rollback brings the same processes back at once, under load with 0 failed', async () => {
  const daemon = await Daemon.start({ config: good('1') });
  let load: LoadClient[] = [];
  try {
    const before = await statusOf(daemon);
    const oldPids = pidsOf(before, 1);
    daemon.writeConfig(good('2'));
    load = startLoad(daemon.port);
    const reload = await daemon.cli('reload');
    assert.equal(reload.exitCode, 0, reload.stderr);
    assert.match(reload.stdout, /generation 1 bakes for 30 s: supervisor rollback brings it back/);

    const baking = await statusOf(daemon);
    assert.deepEqual(baking.generations.map((gen) => [gen.generation, gen.state]), [[1, 'baking'], [2, 'serving']]);
    assert.deepEqual(pidsOf(baking, 1), oldPids, 'the previous generation\'s workers are alive');
    assert.equal(baking.bake?.previous, 1);
    assert.ok(baking.bake!.remainingMs > 20_000 && baking.bake!.remainingMs <= 30_000, `${baking.bake!.remainingMs} ms left`);
    assert.ok(baking.bake!.previousRssBytes > 10 * 1024 ** 2, `the previous generation holds ${baking.bake!.previousRssBytes} bytes`);
    assert.equal((await get(daemon.port)).headers['x-version'], '2', 'new connections go to the new generation');
    const metrics = await daemon.cli('status');
    assert.match(metrics.stdout, /bake: generation 2 serves; generation 1 kept warm for a rollback/);

    const sampler = new Sampler(daemon.port);
    await waitFor('the sampler to get answers', () => sampler.answers.length >= 5);
    // Asked on the control socket from this process, so the time is the daemon's, not a CLI's start.
    const asked = Date.now();
    const rollback = await request(daemon.socketPath, { command: 'rollback' });
    await sampler.stop();
    assert.equal(rollback.code, 0, rollback.message);
    assert.match(rollback.message, /rolled back: generation 1 serves again \(new connections reached it \d+ ms after the request\); generation 2 drained in \d+ ms/);

    const after = await statusOf(daemon);
    assert.deepEqual(after.generations.map((gen) => [gen.generation, gen.state]), [[1, 'serving']]);
    assert.deepEqual(pidsOf(after, 1), oldPids, 'the same processes serve again: nothing was started cold');
    assert.equal(after.bake, null);
    assert.equal(after.lastRollback?.automatic, false);
    assert.equal(after.lastRollback?.reason, 'rolled back by supervisor rollback');
    assert.equal((await get(daemon.port)).headers['x-version'], '1');

    // Around the rollback: the new generation answered until it, the previous one from it on.
    const firstOld = sampler.answers.find((answer) => answer.at >= asked && answer.version === '1');
    assert.ok(firstOld, 'no answer from generation 1 after the rollback was asked for');
    const lastNew = sampler.answers.filter((answer) => answer.version === '2').at(-1);
    const laterNew = sampler.answers.filter((answer) => answer.at > firstOld.at && answer.version === '2');
    assert.deepEqual(laterNew, [], 'no new connection reached generation 2 after generation 1 answered again');
    process.stdout.write(`# rollback: first answer from generation 1 ${firstOld.at - asked} ms after the request; last from generation 2 at ${lastNew ? lastNew.at - asked : '-'} ms; steered ${after.lastRollback?.steeredMs} ms after the request\n`);

    for (const report of await stopLoad(load)) {
      assert.ok(report.ok > 20, `${report.mode}: only ${report.ok} requests`);
      assert.equal(report.failed, 0, `${report.mode}: ${JSON.stringify(report.failures)}`);
    }
    load = [];

    // Nothing left to roll back to: said, with exit code 1.
    const again = await daemon.cli('rollback');
    assert.equal(again.exitCode, 1);
    assert.match(again.stderr, /nothing to roll back to: no bake window is open.*deploy the previous release and reload/);
  } finally {
    await stopLoad(load);
    await daemon.stop();
  }
});

test('bake: a release that is ready and then crashes is rolled back automatically in its bake window; the previous generation\'s same workers serve', async () => {
  const daemon = await Daemon.start({ config: good('1') });
  let load: LoadClient[] = [];
  try {
    const oldPids = pidsOf(await statusOf(daemon), 1);
    daemon.writeConfig({ ...base, command: ['node', fixture('crash-after-ready')], env: { APP_VERSION: '2', CRASH_AFTER_MS: '3000' }, bake: '30s' });
    load = startLoad(daemon.port);
    const reload = await daemon.cli('reload');
    assert.equal(reload.exitCode, 0, reload.stderr); // it passed readiness: promoted, baking
    const rolledBack = await waitFor('an automatic rollback', async () => (await statusOf(daemon)).lastRollback ?? undefined, 20_000);
    assert.equal(rolledBack.automatic, true);
    assert.equal(rolledBack.generation, 1);
    assert.match(rolledBack.reason, /worker \d \(pid \d+\) of generation 2 exited with code 1 during the bake window: 1 exit\(s\), no exit is tolerated/);
    const after = await waitFor('generation 2 drained', async () => {
      const status = await statusOf(daemon);
      return status.generations.length === 1 ? status : undefined;
    }, 15_000);
    assert.deepEqual(after.generations.map((gen) => [gen.generation, gen.state]), [[1, 'serving']]);
    assert.deepEqual(pidsOf(after, 1), oldPids);
    assert.ok(oldPids.every((pid) => pid !== null && isAlive(pid)));
    const events = daemon.logs.filter((line) => typeof line.msg === 'string' && line.msg.startsWith('rolled back to generation 1'));
    assert.equal(events.length, 1);

    // The crash itself loses what the crashing workers held: requests they were answering and
    // connections waiting in their accept queues (the kernel resets those when nobody accepts
    // them). Each is a reset, never a refusal, a 5xx or a timeout.
    for (const report of await stopLoad(load)) {
      assert.ok(report.ok > 20, `${report.mode}: only ${report.ok} requests`);
      assert.deepEqual(Object.keys(report.failures).filter((cause) => cause !== 'ECONNRESET'), [], `${report.mode}: ${JSON.stringify(report.failures)}`);
      process.stdout.write(`# crash during the bake: ${report.mode}: ${report.failed} reset of ${report.ok + report.failed}\n`);
    }
    // After the rollback: nothing fails.
    load = startLoad(daemon.port);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    for (const report of await stopLoad(load)) {
      assert.ok(report.ok > 20, `${report.mode}: only ${report.ok} requests after the rollback`);
      assert.equal(report.failed, 0, `${report.mode} after the rollback: ${JSON.stringify(report.failures)}`);
    }
    load = [];
  } finally {
    await stopLoad(load);
    await daemon.stop();
  }
});

test('bake: a window that ends with no failure drains the previous generation', async () => {
  const daemon = await Daemon.start({ config: good('1', '1500ms') });
  try {
    const oldPids = pidsOf(await statusOf(daemon), 1);
    daemon.writeConfig(good('2', '1500ms'));
    assert.equal((await daemon.cli('reload')).exitCode, 0);
    assert.equal((await statusOf(daemon)).bake?.previous, 1);
    await waitFor('the bake window to end', async () => (await statusOf(daemon)).generations.length === 1, 10_000);
    await waitFor('generation 1 to exit', () => oldPids.every((pid) => pid !== null && !isAlive(pid)), 10_000);
    assert.ok(daemon.logs.some((line) => line.msg === 'bake ended: the bake window (1500 ms) ended with no failure; generation 1 drains'));
    assert.equal((await statusOf(daemon)).bake, null);
  } finally {
    await daemon.stop();
  }
});

test('bake.park_signal: a keep-alive client of the previous generation is told to reconnect at its next request and reaches the new generation; the parked workers stay up for a rollback', async () => {
  const { default: http } = await import('node:http');
  const parked = (version: string) => ({ ...good(version), bake: { window: '30s', park_signal: 'SIGUSR2' } });
  const daemon = await Daemon.start({ config: parked('1') });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const first = await get(daemon.port, '/', agent);
    assert.equal(first.headers['x-version'], '1');
    daemon.writeConfig(parked('2'));
    assert.equal((await daemon.cli('reload')).exitCode, 0);
    await waitFor('the park signal sent', () => daemon.logs.some((line) => typeof line.msg === 'string' && line.msg.includes('(SIGUSR2, bake.park_signal)')), 5_000);
    // The worker handles the signal a moment later: at most a few more answers from generation 1,
    // the last of them telling the client to reconnect (without the park it would stay there).
    const answers: { version: string; connection: string | undefined }[] = [];
    while (answers.length < 10 && answers.at(-1)?.version !== '2') {
      const answer = await get(daemon.port, '/', agent);
      answers.push({ version: String(answer.headers['x-version']), connection: answer.headers.connection });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(answers.at(-1)?.version, '2', `the kept client never reached generation 2: ${JSON.stringify(answers)}`);
    assert.equal(answers.at(-2)?.connection ?? 'close', 'close', 'generation 1 told it to reconnect');
    const status = await statusOf(daemon);
    assert.deepEqual(status.generations.map((gen) => [gen.generation, gen.state]), [[1, 'baking'], [2, 'serving']]);
    const rollback = await request(daemon.socketPath, { command: 'rollback' });
    assert.equal(rollback.code, 0, rollback.message);
    const back = await get(daemon.port, '/', agent);
    assert.equal(back.headers['x-version'] === '1' || back.headers.connection === 'close', true);
  } finally {
    agent.destroy();
    await daemon.stop();
  }
});
