// An OS error in a reload's reason: the call, the errno name, and for EMFILE the limit and the
// number of descriptors the config needs across a reload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.js';
import { fdBudget, fdLimitWarning, openFileLimit } from '../../src/config/fd-budget.js';
import { findOsError, withOsError } from '../../src/daemon/reload/os-error.js';

const config = (extra = '') => parseConfig(`${extra.startsWith('listen') ? '' : 'listen: 127.0.0.1:8000\n'}command: [node, server.js]\nworkers: 16\n${extra}`, '/srv/app/supervisor.yaml', { checkFilesystem: false, env: {}, uid: 1000 });
const errno = (message: string, code: string, syscall: string) => Object.assign(new Error(message), { code, syscall });

test('fd budget: per worker its pipes and listeners, two generations, probes, shared listeners, metrics, its own', () => {
  assert.deepEqual(fdBudget(config()), { perWorker: 3, workers: 96, starting: 0, listeners: 0, own: 32, total: 128 });
  assert.equal(fdBudget(config('listen: [127.0.0.1:8000, 127.0.0.1:8001]')).perWorker, 4, 'a listener per address per worker');
  assert.deepEqual(fdBudget(config('socket: shared')).listeners, 1, 'shared: the listener once');
  assert.equal(fdBudget(config('socket: shared')).perWorker, 2);
  assert.equal(fdBudget(config('ready: { kind: http }')).starting, 16, 'a probe per starting worker');
  assert.equal(fdBudget(config('metrics: 127.0.0.1:9100')).listeners, 5, 'the metrics listener and a few clients');
});

test('openFileLimit reads /proc/self/limits; the warning compares it with the budget', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rps-limits-'));
  try {
    const file = join(dir, 'limits');
    writeFileSync(file, 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            110                  4096                 files\n');
    assert.deepEqual(openFileLimit(file), { soft: 110, hard: 4096 });
    assert.equal(openFileLimit(join(dir, 'none')), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(fdLimitWarning(config(), { soft: 128, hard: 128 }), null);
  assert.equal(fdLimitWarning(config(), null), null, 'unknown: no warning');
  assert.equal(
    fdLimitWarning(config(), { soft: 110, hard: 110 }),
    'the open file limit here is 110 (RLIMIT_NOFILE), and this config needs about 128 across a reload (16 worker(s) x 3 fds x 2 generations + 32 of its own): raise the limit to at least 128: LimitNOFILE=128 in the systemd unit, or ulimit -n 128 in the shell that starts it, then restart the supervisor',
  );
  assert.ok(openFileLimit() !== null, 'this machine has /proc');
});

test('findOsError follows a worker\'s start error and causes', () => {
  const spawnError = errno('spawn /x EMFILE', 'EMFILE', 'spawn /x');
  const notReady = Object.assign(new Error('worker 3 could not be started'), { startError: spawnError });
  assert.equal(findOsError(notReady), spawnError);
  assert.equal(findOsError(new Error('wrapped', { cause: spawnError })), spawnError);
  assert.equal(findOsError(new Error('no errno here')), null);
  assert.equal(findOsError(Object.assign(new Error('x'), { code: 'ERR_INVALID_ARG_TYPE' })), null, "Node's own codes are not errno names");
});

test('withOsError: the call and errno named once, a general hint replaced by the one with numbers', () => {
  const limit = { soft: 110, hard: 110 };
  const fix = 'the supervisor may open 110 files (RLIMIT_NOFILE), and this config needs about 128 across a reload (16 worker(s) x 3 fds x 2 generations + 32 of its own); raise the limit to at least 128: LimitNOFILE=128 in the systemd unit, or ulimit -n 128 in the shell that starts it, then restart the supervisor';
  const socket = errno('socket 127.0.0.1:8000 failed: too many open files (EMFILE); the process ran out of file descriptors: raise the limit (ulimit -n, LimitNOFILE=)', 'EMFILE', 'socket');
  assert.equal(withOsError(socket.message, socket, config(), limit), `socket 127.0.0.1:8000 failed: too many open files (EMFILE): ${fix}`);
  const spawnError = errno('spawn /x EMFILE', 'EMFILE', 'spawn /x');
  const notReady = Object.assign(new Error('w'), { startError: spawnError });
  assert.equal(withOsError('worker 3 could not be started (spawn failed with EMFILE) before it was ready', notReady, config(), limit), `worker 3 could not be started (spawn failed with EMFILE) before it was ready: ${fix}`);
  assert.equal(withOsError('it broke', new Error('x', { cause: errno('fork EAGAIN', 'EAGAIN', 'spawn') }), config(), limit), "it broke: spawn failed with EAGAIN: no process could be created: the limit on processes is reached (LimitNPROC=, or TasksMax= and the cgroup's pids.max): raise it in the unit");
  assert.equal(withOsError('connect ECONNREFUSED 127.0.0.1:1', errno('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED', 'connect'), config(), limit), 'connect ECONNREFUSED 127.0.0.1:1', 'no fix known: the message alone');
  assert.equal(withOsError('plain', new Error('plain'), config(), limit), 'plain');
});
