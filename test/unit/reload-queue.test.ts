import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReloadQueue, type ReloadResult, type ReloadRun } from '../../src/daemon/reload-queue.js';

function controllable() {
  const started: { run: ReloadRun; finish: () => void }[] = [];
  const queue = new ReloadQueue(
    (run) =>
      new Promise<ReloadResult>((resolve) => {
        started.push({
          run,
          finish: () => resolve({ outcome: 'promoted', generation: started.length, reason: null, lastLines: [], release: null, trigger: run.triggers.join(', '), startedAt: 0, durationMs: 0 }),
        });
      }),
  );
  return { queue, started };
}

test('triggers during a reload coalesce into one follow-up', async () => {
  const { queue, started } = controllable();
  const first = queue.request('SIGHUP');
  const second = queue.request('supervisor reload');
  const third = queue.request('SIGHUP');
  assert.notEqual(first, second);
  assert.equal(second, third, 'both later triggers share one follow-up');
  assert.equal(started.length, 1, 'one reload at a time');
  started[0]!.finish();
  assert.equal((await first.result).outcome, 'promoted');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(started.length, 2, 'the follow-up starts when the first ends');
  assert.deepEqual(started[1]!.run.triggers, ['supervisor reload', 'SIGHUP']);
  started[1]!.finish();
  assert.equal((await second.result).generation, 2);
  assert.equal(queue.busy, false);
});

test('cancelPending refuses the queued follow-up and waits for the running one', async () => {
  const { queue, started } = controllable();
  const running = queue.request('a');
  const pending = queue.request('b');
  const cancelled = queue.cancelPending({ outcome: 'refused', generation: null, reason: 'stopping', lastLines: [], release: null, startedAt: 0, durationMs: 0 });
  assert.equal((await pending.result).outcome, 'refused');
  started[0]!.finish();
  await cancelled;
  assert.equal((await running.result).outcome, 'promoted');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(started.length, 1, 'no follow-up ran');
});
