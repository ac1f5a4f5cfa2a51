// Liveness after ready (health:) with the real daemon, real workers and real sockets: a worker
// that turns unhealthy while it serves is found through its own socket and replaced; one of a
// baking release rolls the release back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from '../../src/control/client.js';
import type { DaemonStatus } from '../../src/control/protocol.js';
import { Daemon, exampleApp, fixture, waitFor } from '../helpers/harness.js';

const health = { kind: 'http', path: '/healthz', interval: '200ms', timeout: '500ms', failures: 3 };
const base = {
  workers: 2,
  ready: { kind: 'notify', timeout: '10s' },
  restart: { backoff: '100ms', max: '1s' },
  drain: { signal: 'SIGTERM', timeout: '3s' },
  health,
};

async function statusOf(daemon: Daemon): Promise<DaemonStatus> {
  return (await request(daemon.socketPath, { command: 'status' })).data as DaemonStatus;
}

test('health: a serving worker that turns unhealthy is found through its own socket and replaced; its healthy neighbour is left alone', async () => {
  const daemon = await Daemon.start({ config: { ...base, command: ['node', fixture('unhealthy-after-ready')], env: { UNHEALTHY_AFTER_MS: '500', UNHEALTHY_WORKER: '2' } } });
  try {
    const before = await statusOf(daemon);
    const [first, second] = before.generations[0]!.workers;
    const unhealthy = await waitFor('worker 2 found unhealthy', () => daemon.logs.find((line) => typeof line.msg === 'string' && line.msg.startsWith('worker is unhealthy')), 10_000);
    assert.equal(unhealthy.worker, 2);
    assert.equal(unhealthy.pid, second!.pid);
    assert.match(String(unhealthy.msg), /worker is unhealthy: it failed 3 health check\(s\) in a row \(GET \/healthz not answered 2xx within 500 ms, every 200 ms, health.failures 3\); replacing it/);
    const after = await waitFor('worker 2 replaced', async () => {
      const status = await statusOf(daemon);
      const slot = status.generations[0]!.workers[1]!;
      return slot.pid !== second!.pid && slot.state === 'ready' ? status : undefined;
    }, 10_000);
    assert.equal(after.generations[0]!.workers[0]!.pid, first!.pid, 'the healthy worker keeps serving');
    assert.equal(after.generations[0]!.workers[0]!.restarts, 0);
    assert.ok(daemon.logs.every((line) => line.msg !== 'worker is unhealthy' || line.worker === 2));
  } finally {
    await daemon.stop();
  }
});

test('health: a release that passes readiness and then fails its health checks rolls back in its bake window', async () => {
  const daemon = await Daemon.start({ config: { ...base, command: ['node', exampleApp], env: { APP_VERSION: '1' }, bake: '30s' } });
  try {
    const oldPids = (await statusOf(daemon)).generations[0]!.workers.map((worker) => worker.pid);
    daemon.writeConfig({ ...base, command: ['node', fixture('unhealthy-after-ready')], env: { APP_VERSION: '2', UNHEALTHY_AFTER_MS: '1000' }, bake: '30s' });
    assert.equal((await daemon.cli('reload')).exitCode, 0);
    const rollback = await waitFor('an automatic rollback', async () => (await statusOf(daemon)).lastRollback ?? undefined, 15_000);
    assert.equal(rollback.automatic, true);
    assert.match(rollback.reason, /of generation 2 failed 3 health check\(s\) in a row \(GET \/healthz not answered 2xx within 500 ms, every 200 ms, health.failures 3\) during the bake window/);
    const status = await statusOf(daemon);
    assert.deepEqual(status.generations.filter((gen) => gen.state === 'serving').map((gen) => gen.workers.map((worker) => worker.pid)), [oldPids]);
  } finally {
    await daemon.stop();
  }
});
