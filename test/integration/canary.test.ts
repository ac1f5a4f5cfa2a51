// The canary with the real daemon, real workers and real sockets, under load from clients that
// never retry: the new generation holds a share of new connections (the kernel's steering
// program picks at random by weight) until supervisor promote or supervisor rollback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from '../../src/control/client.js';
import type { DaemonStatus } from '../../src/control/protocol.js';
import { Daemon, exampleApp, get } from '../helpers/harness.js';
import { startMixedLoad as startLoad, stopLoad, type LoadClient } from '../helpers/load.js';

const base = {
  workers: 2,
  ready: { kind: 'notify', timeout: '10s' },
  restart: { backoff: '100ms', max: '1s' },
  drain: { signal: 'SIGTERM', timeout: '5s' },
};
const good = (version: string) => ({ ...base, command: ['node', exampleApp], env: { APP_VERSION: version } });

// Status on the control socket from this process: quicker than a CLI start on a busy machine.
async function statusOf(daemon: Daemon): Promise<DaemonStatus> {
  return (await request(daemon.socketPath, { command: 'status' })).data as DaemonStatus;
}

// New connections from several lanes at once, each answer counted by the version that gave it.
// Stops at `enough` answers, or after `ms` on a machine too busy for that many.
async function shareOfNewConnections(port: number, ms: number, enough = Infinity, lanes = 4): Promise<{ total: number; byVersion: Record<string, number>; failed: number }> {
  const byVersion: Record<string, number> = {};
  let failed = 0;
  let answered = 0;
  const until = Date.now() + ms;
  await Promise.all(Array.from({ length: lanes }, async () => {
    while (Date.now() < until && answered < enough) {
      try {
        const version = String((await get(port)).headers['x-version']);
        byVersion[version] = (byVersion[version] ?? 0) + 1;
        answered++;
      } catch {
        failed++;
      }
    }
  }));
  return { total: Object.values(byVersion).reduce((sum, count) => sum + count, 0), byVersion, failed };
}

// 2,000 samples make 10% +- 2 points 3 standard deviations of the kernel's random choice; a machine
// too busy for them in 20 s gives fewer, judged with a wider margin.
const HOLD_SAMPLES = 2_000;
const HOLD_SAMPLE_MS = 20_000;

test('canary: reload --canary 10% holds the new generation at about 10% of new connections under load; promote takes it to all of them; rollback to none', async () => {
  const daemon = await Daemon.start({ config: good('1') });
  let load: LoadClient[] = [];
  try {
    daemon.writeConfig(good('2'));
    load = startLoad(daemon.port);
    const reload = await daemon.cli('reload', '--canary', '10%');
    assert.equal(reload.exitCode, 0, reload.stderr);
    assert.match(reload.stdout, /canary: generation 2 gets 10% of new connections, generation 1 the rest, for up to 5m \(then rollback\); decide with supervisor promote or supervisor rollback/);
    const refused = await daemon.cli('reload');
    assert.equal(refused.exitCode, 1);
    assert.match(refused.stderr, /a canary holds: generation 2 gets 10% of new connections: run supervisor promote or supervisor rollback first/);
    const held = await shareOfNewConnections(daemon.port, HOLD_SAMPLE_MS, HOLD_SAMPLES);
    const share = (held.byVersion['2'] ?? 0) / held.total;
    process.stdout.write(`# canary 10%: generation 2 answered ${held.byVersion['2'] ?? 0} of ${held.total} new connections (${(share * 100).toFixed(1)}%)\n`);
    assert.equal(held.failed, 0);
    // The kernel picks at random by weight: allow 4 standard deviations of that choice around 10%
    // (about +-2 points at 2,000 samples, wider when a busy machine allows fewer).
    const allowed = 4 * Math.sqrt((0.1 * 0.9) / held.total);
    assert.ok(held.total >= 200, `only ${held.total} samples in ${HOLD_SAMPLE_MS} ms`);
    assert.ok(Math.abs(share - 0.1) <= allowed, `generation 2 got ${(share * 100).toFixed(1)}% of ${held.total} new connections, outside 10% +- ${(allowed * 100).toFixed(1)}`);
    const status = await statusOf(daemon);
    assert.equal(status.canary?.share, 0.1);
    assert.deepEqual(status.generations.map((gen) => [gen.generation, gen.state]), [[1, 'draining'], [2, 'serving']]);

    const promote = await daemon.cli('promote');
    assert.equal(promote.exitCode, 0, promote.stderr);
    assert.match(promote.stdout, /promoted: generation 2 serves/);
    const after = await shareOfNewConnections(daemon.port, 1_000);
    assert.deepEqual(Object.keys(after.byVersion), ['2']);

    daemon.writeConfig(good('3'));
    assert.equal((await daemon.cli('reload', '--canary', '10%')).exitCode, 0);
    const rollback = await daemon.cli('rollback');
    assert.equal(rollback.exitCode, 0, rollback.stderr);
    assert.match(rollback.stdout, /rolled back: the reload to generation 3 was stopped; the previous generation serves \(generation 3: rolled back by supervisor rollback\)/);
    const back = await shareOfNewConnections(daemon.port, 1_000);
    assert.deepEqual(Object.keys(back.byVersion), ['2']);
    assert.equal((await statusOf(daemon)).lastReload?.outcome, 'rolled-back');

    for (const report of await stopLoad(load)) {
      assert.ok(report.ok > 20, `${report.mode}: only ${report.ok} requests`);
      assert.equal(report.failed, 0, `${report.mode}: ${JSON.stringify(report.failures)}`);
    }
    load = [];
    assert.equal((await daemon.cli('promote')).exitCode, 1);
  } finally {
    await stopLoad(load);
    await daemon.stop();
  }
});
