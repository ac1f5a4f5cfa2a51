// PID 1 duties: a worker's double-forked grandchild is orphaned, reparented to the supervisor
// (PID 1 of its own pid namespace, or a child subreaper) and, once it exits, reaped by it without
// stealing the exit statuses Node waits for (workers still report their exits; reloads work).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { processIds, readStat } from '../../src/daemon/process/proc.js';
import { cliPath, Daemon, fixture, freePort, isAlive, waitFor, type LogLine } from '../helpers/harness.js';

const config = {
  workers: 2,
  command: ['node', fixture('orphan-maker')],
  env: { ORPHAN_MS: '200' },
  ready: { kind: 'notify', timeout: '5s' },
  drain: { signal: 'SIGTERM', timeout: '3s' },
};

// Host pids of the zombies whose parent is pid.
function zombieChildren(pid: number): number[] {
  return processIds().filter((child) => {
    const info = readStat(child);
    return info !== null && info.ppid === pid && info.state === 'Z';
  });
}

const orphanPids = (logs: LogLine[]) =>
  logs.flatMap((line) => {
    const match = /orphan-maker: pid \d+ ready .*; orphan pid (\d+)$/.exec(String(line.msg ?? ''));
    return match ? [Number(match[1])] : [];
  });

test('with --subreaper the supervisor reaps its workers\' orphans and keeps its workers\' exit statuses', async () => {
  const daemon = await Daemon.start({ config, args: ['--subreaper'] });
  try {
    await daemon.waitForLog('the reaper', (line) => line.msg === 'child subreaper: reaping orphaned processes');
    await waitFor('two orphans', () => orphanPids(daemon.logs).length === 2);
    const orphans = orphanPids(daemon.logs);
    for (const orphan of orphans) {
      const reaped = await daemon.waitForLog(`orphan ${orphan} reaped`, (line) => line.msg === 'reaped an orphaned process' && line.orphan === orphan, 5_000);
      assert.equal(reaped.code, 7);
      assert.equal(readStat(orphan), null, `orphan ${orphan} left a process entry`);
    }
    assert.deepEqual(zombieChildren(daemon.pid), []);
    // Node still gets its own children's exits: a reload drains the old workers and says how.
    const oldPids = await daemon.servingPids();
    const reload = await daemon.cli('reload');
    assert.equal(reload.exitCode, 0, reload.stderr);
    for (const pid of oldPids) {
      assert.ok(daemon.logs.some((line) => line.pid === pid && line.msg === 'worker exited with code 0'), `exit of worker ${pid} was reported`);
    }
    await waitFor('the new generation\'s orphans to be reaped', () => daemon.countLogs((line) => line.msg === 'reaped an orphaned process') === 4, 5_000);
    assert.deepEqual(zombieChildren(daemon.pid), []);
  } finally {
    assert.equal(await daemon.stop(), 0);
  }
});

function pidNamespaceProblem(): string | null {
  if (process.getuid?.() !== 0) return 'needs root for unshare --pid';
  const probe = spawnSync('unshare', ['--pid', '--fork', '--kill-child', '--mount-proc', 'true'], { timeout: 10_000 });
  if (probe.error) return `unshare is not available: ${probe.error.message}`;
  if (probe.status !== 0) return `cannot make a pid namespace here: ${probe.stderr.toString().trim()}`;
  return null;
}
const problem = pidNamespaceProblem();

test('as PID 1 of a pid namespace (a container entrypoint) the supervisor reaps orphans and leaves no zombie', { skip: problem ?? false }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rps-pid1-'));
  const socketPath = path.join(dir, 'supervisor.sock');
  const configPath = path.join(dir, 'supervisor.yaml');
  writeFileSync(configPath, JSON.stringify({ ...config, listen: `127.0.0.1:${await freePort()}`, control: socketPath }));
  // --kill-child: if unshare dies, PID 1 of the namespace gets SIGKILL, and with it every process
  // in the namespace: nothing can outlive the test.
  const child = spawn('unshare', ['--pid', '--fork', '--kill-child', '--mount-proc', process.execPath, cliPath, 'run', '-c', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const logs: LogLine[] = [];
  let pending = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        logs.push({ msg: line });
      }
    }
  });
  const find = (what: string, predicate: (line: LogLine) => boolean, timeoutMs = 15_000) => waitFor(what, () => logs.find(predicate), timeoutMs);
  try {
    const running = await find('supervisor running', (line) => line.msg === 'supervisor running');
    assert.equal(running.supervisorPid, 1, 'the supervisor is PID 1 in its namespace');
    await find('the reaper', (line) => line.msg === 'running as PID 1: reaping orphaned processes');
    await find('all workers ready', (line) => line.msg === 'all workers ready');
    await waitFor('two orphans', () => orphanPids(logs).length === 2);
    for (const orphan of orphanPids(logs)) {
      const reaped = await find(`orphan ${orphan} reaped`, (line) => line.msg === 'reaped an orphaned process' && line.orphan === orphan, 5_000);
      assert.equal(reaped.code, 7);
    }
    // Seen from the host: the supervisor (unshare's child) has no zombie children.
    const hostPid = await waitFor('the supervisor\'s host pid', () => processIds().find((pid) => readStat(pid)?.ppid === child.pid));
    assert.deepEqual(zombieChildren(hostPid), []);

    const reload = await execa(process.execPath, [cliPath, 'reload', '--socket', socketPath], { reject: false, timeout: 60_000 });
    assert.equal(reload.exitCode, 0, reload.stderr);
    await waitFor('the new generation\'s orphans to be reaped', () => logs.filter((line) => line.msg === 'reaped an orphaned process').length === 4, 5_000);
    assert.deepEqual(zombieChildren(hostPid), []);

    // SIGTERM to PID 1 stops it: it installed a handler, so the kernel delivers it.
    process.kill(hostPid, 'SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(!isAlive(hostPid));
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL'); // --kill-child takes the namespace with it
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
});
