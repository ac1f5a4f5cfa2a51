import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { Daemon, exampleApp, fixture, waitFor } from '../helpers/harness.js';

// Nice values of every thread of a process (field 19 of /proc/PID/task/TID/stat).
function threadNices(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

const isRoot = process.getuid?.() === 0;
test('ready.nice: workers warm up at lower priority and every thread is back at 0 once ready', { skip: isRoot ? false : 'restoring a nice value needs root' }, async () => {
  const daemon = await Daemon.start({
    config: { workers: 2, command: ['node', exampleApp], ready: { kind: 'notify', timeout: '5s', nice: 10 }, drain: { signal: 'SIGTERM', timeout: '2s' } },
  });
  try {
    for (const pid of await daemon.servingPids()) {
      const nices = threadNices(pid);
      assert.ok(nices.length > 1, 'a Node worker has several threads');
      assert.deepEqual(new Set(nices), new Set([0]), `worker ${pid} threads: ${nices}`);
    }
    // A worker that never becomes ready keeps its warm-up priority on every thread.
    daemon.writeConfig({ workers: 1, command: ['node', fixture('never-ready')], ready: { kind: 'notify', timeout: '3s', nice: 10 }, drain: { signal: 'SIGTERM', timeout: '1s' } });
    const reload = daemon.cli('reload');
    const candidate = await waitFor('the candidate worker', async () => {
      const status = await daemon.status();
      return status.generations.find((gen) => gen.state === 'starting')?.workers[0]?.pid ?? undefined;
    });
    await waitFor('its threads', () => threadNices(candidate).length > 1);
    assert.deepEqual(new Set(threadNices(candidate)), new Set([10]));
    assert.equal((await reload).exitCode, 1);
  } finally {
    await daemon.stop();
  }
});
