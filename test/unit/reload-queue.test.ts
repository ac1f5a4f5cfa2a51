import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReloadQueue, type ReloadResult, type ReloadRun } from '../../src/daemon/reload/queue.js';

function controllable(minIntervalMs = 0) {
  const started: { run: ReloadRun; finish: () => void }[] = [];
  const queue = new ReloadQueue(
    (run) =>
      new Promise<ReloadResult>((resolve) => {
        started.push({
          run,
          finish: () => resolve({ outcome: 'promoted', generation: started.length, reason: null, lastLines: [], release: null, trigger: String(run.triggers), startedAt: 0, durationMs: 0 }),
        });
      }),
    minIntervalMs,
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
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(started.length, 2, 'the follow-up starts when the first ends');
  assert.deepEqual(started[1]!.run.triggers.counts(), [['supervisor reload', 1], ['SIGHUP', 1]]);
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
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(started.length, 1, 'no follow-up ran');
});

test('a follow-up waits out the minimum interval and gathers every trigger that came meanwhile', async () => {
  const { queue, started } = controllable(300);
  const began = Date.now();
  queue.request('SIGHUP');
  queue.request('SIGHUP');
  started[0]!.finish();
  await new Promise((resolve) => setTimeout(resolve, 100));
  const late = queue.request('SIGHUP');
  assert.equal(started.length, 1, 'the follow-up has not started yet');
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(started.length, 2);
  assert.ok(Date.now() - began >= 300);
  assert.deepEqual(started[1]!.run.triggers.counts(), [['SIGHUP', 2]], 'the late trigger joined the waiting follow-up');
  assert.equal(started[1]!.run, late);
  started[1]!.finish();
  await late.result;
});

test('a reload that throws settles as failed, and the queue moves on to the follow-up', async () => {
  let calls = 0;
  const queue = new ReloadQueue(async (run) => {
    calls++;
    if (calls === 1) throw new Error('spawn EMFILE');
    return { outcome: 'promoted', generation: 2, reason: null, lastLines: [], release: null, trigger: String(run.triggers), startedAt: 0, durationMs: 0 };
  }, 0);
  const first = queue.request('SIGHUP');
  const second = queue.request('supervisor reload');
  const failed = await first.result;
  assert.equal(failed.outcome, 'failed');
  assert.match(failed.reason ?? '', /spawn EMFILE/);
  assert.equal(failed.trigger, 'SIGHUP');
  assert.equal((await second.result).outcome, 'promoted', 'the follow-up still runs');
  assert.equal(queue.busy, false);
});

test('coalesced triggers are counted by kind, in order of first arrival', async () => {
  const { queue, started } = controllable();
  const first = queue.request('SIGHUP');
  for (let i = 0; i < 100; i++) queue.request('SIGHUP');
  const follow = queue.request('supervisor reload');
  queue.request('supervisor reload');
  queue.request('watch /srv/app/current -> /srv/app/releases/2');
  started[0]!.finish();
  assert.equal((await first.result).trigger, 'SIGHUP', 'a single trigger is named alone');
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(started[1]!.run.triggers.total, 103);
  started[1]!.finish();
  assert.equal((await follow.result).trigger, 'SIGHUP x100, supervisor reload x2, watch /srv/app/current -> /srv/app/releases/2');
});

test('a cancelled follow-up reports its triggers counted', async () => {
  const { queue, started } = controllable();
  queue.request('SIGHUP');
  const pending = queue.request('SIGHUP');
  queue.request('SIGHUP');
  const cancelled = queue.cancelPending({ outcome: 'refused', generation: null, reason: 'stopping', lastLines: [], release: null, startedAt: 0, durationMs: 0 });
  assert.equal((await pending.result).trigger, 'SIGHUP x2');
  started[0]!.finish();
  await cancelled;
});
