import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { autogroupNice, setAutogroupNice, setThreadsNice, setWarmingNice } from '../../src/daemon/process/priority.js';
import { readSchedulingFacts } from '../../src/daemon/process/scheduling-facts.js';

// The mechanisms against the real kernel: a process spawned detached (as workers are) leads its
// own session and so its own autogroup; its nice is written, read back, restored; the child is reaped.
const autogroupOn = (() => {
  try {
    return readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() === '1';
  } catch {
    return false;
  }
})();

function sleeper(detached: boolean): ChildProcess {
  return spawn('sleep', ['30'], { detached, stdio: 'ignore' });
}

async function reap(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

function threadNices(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

test('autogroup: a detached process\'s group nice is raised, read back, and restored to 0', { skip: autogroupOn ? false : 'autogroup is off on this kernel' }, async () => {
  const child = sleeper(true);
  try {
    const pid = child.pid!;
    const ownBefore = autogroupNice(process.pid);
    assert.equal(autogroupNice(pid), 0);
    assert.equal(setAutogroupNice(pid, 19), null);
    assert.equal(autogroupNice(pid), 19);
    assert.equal(setWarmingNice('autogroup', pid, 7), null);
    assert.equal(autogroupNice(pid), 7);
    assert.equal(setAutogroupNice(pid, 0), null, 'back to 0 needs no privilege (only values below 0 do)');
    assert.equal(autogroupNice(pid), 0);
    assert.equal(autogroupNice(process.pid), ownBefore, 'the test\'s own autogroup is untouched');
  } finally {
    await reap(child);
  }
});

test('autogroup: a process in the supervisor\'s own session is refused, its group left alone', { skip: autogroupOn ? false : 'autogroup is off on this kernel' }, async () => {
  const child = sleeper(false);
  try {
    const before = autogroupNice(process.pid);
    const error = setAutogroupNice(child.pid!, 19);
    assert.equal(error?.code, 'ESHAREDGROUP');
    assert.match(error!.message, /does not lead a session of its own/);
    assert.equal(autogroupNice(process.pid), before);
  } finally {
    await reap(child);
  }
});

test('nice: every thread of a process is set, and back to 0 with CAP_SYS_NICE', { skip: readSchedulingFacts().canLowerNice ? false : 'lowering a nice value needs CAP_SYS_NICE' }, async () => {
  // A Node process has several threads from the start (the platform workers, libuv's pool).
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { detached: true, stdio: 'ignore' });
  try {
    const pid = child.pid!;
    const deadline = Date.now() + 5000;
    while (threadNices(pid).length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(setThreadsNice(pid, 12), null);
    assert.deepEqual(new Set(threadNices(pid)), new Set([12]));
    assert.equal(setThreadsNice(pid, 0), null);
    assert.deepEqual(new Set(threadNices(pid)), new Set([0]));
  } finally {
    await reap(child);
  }
});

test('a process that exited is no error', async () => {
  const child = sleeper(true);
  const pid = child.pid!;
  await reap(child);
  assert.equal(setAutogroupNice(pid, 5), null);
  assert.equal(setThreadsNice(pid, 5), null);
});
