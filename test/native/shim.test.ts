// supervisor-shim: LISTEN_PID, exec failures reported like a shell, and PR_SET_PDEATHSIG.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { shimPath } from '../../src/native/index.js';
import { readStat } from '../../src/daemon/process/proc.js';

const scratch = mkdtempSync(join(tmpdir(), 'rps-shim-'));
const children = new Set<ChildProcess>();
const PATH = process.env.PATH ?? '/usr/bin:/bin';

after(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Spawns and collects output; SIGKILLs the child after ms so a test can never hang. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv, ms = 10_000) {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<Outcome>((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, exited, stdout: () => stdout };
}

// A zombie is dead, only waiting for its new parent to reap it.
function isAlive(pid: number): boolean {
  const state = readStat(pid)?.state;
  return state !== undefined && state !== 'Z';
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
  } catch {
    return '';
  }
}

async function waitFor(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
  return true;
}

describe('supervisor-shim', { timeout: 30_000 }, () => {
  test('sets LISTEN_PID to its own pid, which the exec keeps', async () => {
    const { child, exited } = run(shimPath, ['sh', '-c', 'echo $LISTEN_PID $$'], { LISTEN_FDS: '1', PATH });
    const outcome = await exited;
    assert.equal(outcome.code, 0, outcome.stderr);
    assert.equal(outcome.stdout, `${child.pid} ${child.pid}\n`);
    assert.equal(outcome.stderr, '');
  });

  const autogroupOn = (() => {
    try {
      return readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() === '1';
    } catch {
      return false;
    }
  })();
  test('writes SUPERVISOR_AUTOGROUP_NICE to its own autogroup before the exec, and removes it', { skip: autogroupOn ? false : 'the kernel\'s autogroup is off (kernel.sched_autogroup_enabled)' }, async () => {
    // setsid: a session, and so an autogroup, of its own, as a worker spawned detached has.
    const outcome = await run('setsid', ['--wait', shimPath, 'sh', '-c', 'cat /proc/self/autogroup; echo ${SUPERVISOR_AUTOGROUP_NICE-unset}'], { SUPERVISOR_AUTOGROUP_NICE: '7', PATH }).exited;
    assert.equal(outcome.code, 0, outcome.stderr);
    assert.match(outcome.stdout, /^\/autogroup-\d+ nice 7\nunset\n$/);
  });

  test('leaves LISTEN_PID unset without LISTEN_FDS', async () => {
    const outcome = await run(shimPath, ['sh', '-c', 'echo ${LISTEN_PID-unset}'], { PATH }).exited;
    assert.equal(outcome.stdout, 'unset\n');
  });

  test('a missing command exits 127 with one line naming it and the errno', async () => {
    const outcome = await run(shimPath, ['no-such-command-rps'], { PATH }).exited;
    assert.equal(outcome.code, 127);
    assert.equal(outcome.stdout, '');
    assert.equal(
      outcome.stderr,
      "supervisor-shim: cannot execute 'no-such-command-rps': No such file or directory (ENOENT)\n",
    );
  });

  test('a file that is not executable exits 126', async () => {
    const file = join(scratch, 'not-executable');
    writeFileSync(file, '#!/bin/sh\necho never\n', { mode: 0o644 });
    const outcome = await run(shimPath, [file], { PATH }).exited;
    assert.equal(outcome.code, 126);
    assert.equal(outcome.stderr, `supervisor-shim: cannot execute '${file}': Permission denied (EACCES)\n`);
  });

  test('exits 1 quietly when SUPERVISOR_PID is not its parent, runs when it is', async () => {
    const orphan = await run(shimPath, ['sh', '-c', 'echo ran'], { PATH, SUPERVISOR_PID: '1' }).exited;
    assert.deepEqual([orphan.code, orphan.stdout, orphan.stderr], [1, '', '']);
    const adopted = await run(shimPath, ['sh', '-c', 'echo ran'], { PATH, SUPERVISOR_PID: String(process.pid) }).exited;
    assert.deepEqual([adopted.code, adopted.stdout, adopted.stderr], [0, 'ran\n', '']);
  });

  test('the worker dies with SIGKILL when its parent dies (PR_SET_PDEATHSIG)', async () => {
    // A node parent spawns the shim running sleep, prints the pid, and waits to be killed.
    const script = `
      const { spawn } = require('node:child_process');
      const worker = spawn(${JSON.stringify(shimPath)}, ['sleep', '30'], {
        stdio: 'ignore', env: { PATH: process.env.PATH, SUPERVISOR_PID: String(process.pid) } });
      console.log(worker.pid);
      setInterval(() => {}, 1000);`;
    const parent = run(process.execPath, ['-e', script], { PATH }, 20_000);
    let workerPid = 0;
    try {
      assert.ok(await waitFor(() => /^\d+\n/.test(parent.stdout()), 5000), 'the parent printed the worker pid');
      workerPid = Number(parent.stdout().trim());
      // Wait for the exec: from then on PDEATHSIG is armed in the process that is now sleep.
      assert.ok(await waitFor(() => commandOf(workerPid) === 'sleep', 5000), `pid ${workerPid} became sleep`);
      parent.child.kill('SIGKILL');
      const outcome = await parent.exited;
      assert.equal(outcome.signal, 'SIGKILL');
      assert.ok(await waitFor(() => !isAlive(workerPid), 2000), `sleep (pid ${workerPid}) still alive 2 s after its parent died`);
    } finally {
      parent.child.kill('SIGKILL');
      if (workerPid > 0 && isAlive(workerPid)) {
        try {
          process.kill(workerPid, 'SIGKILL');
        } catch {
          // it died between the check and the kill
        }
      }
    }
  });
});
