import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EventFrame } from '../../src/control/protocol.js';
import { ReloadSoFar } from '../../src/cli/reload-so-far.js';

const frame = (event: string, fields: Record<string, unknown> = {}): EventFrame => ({ type: 'event', event, time: '2026-12-07T00:00:00.000Z', ...fields });

test('what a reload was doing, from the events seen so far; a rollback announced is a known verdict', () => {
  const soFar = new ReloadSoFar();
  assert.equal(soFar.doing, 'waiting for the supervisor to acknowledge the reload');
  soFar.see(frame('accepted', { pid: 1, queued: false }));
  assert.equal(soFar.doing, 'checking the config');
  soFar.see(frame('starting', { generation: 3, workers: 4 }));
  soFar.see(frame('worker-ready', { generation: 3, ready: 1, total: 4 }));
  assert.equal(soFar.doing, 'starting generation 3: 1/4 worker(s) ready');
  assert.equal(soFar.rollingBack, null);
  soFar.see(frame('rolling-back', { generation: 3, reason: 'worker 2 (pid 9) exited with code 3 before it was ready' }));
  assert.deepEqual(soFar.rollingBack, { generation: 3, reason: 'worker 2 (pid 9) exited with code 3 before it was ready' });
  assert.match(soFar.doing, /^rolling back generation 3 \(worker 2/);

  const promoted = new ReloadSoFar();
  promoted.see(frame('promoted', { generation: 4, drainingGeneration: 3, drainWorkers: 2, slowStartMs: 0 }));
  assert.equal(promoted.doing, 'generation 4 serves: draining generation 3, 0/2 worker(s) gone');
  promoted.see(frame('drained', { generation: 3, done: 1, total: 2 }));
  assert.equal(promoted.doing, 'draining generation 3: 1/2 worker(s) gone');
  assert.equal(promoted.rollingBack, null);
  assert.equal(promoted.lastEvent?.event, 'drained');
});
