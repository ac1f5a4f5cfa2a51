import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Logger } from '../../src/log.js';
import type { DaemonStatus } from '../../src/control/protocol.js';
import type { SupervisorEvents } from '../../src/daemon/supervisor.js';
import type { ReloadResult } from '../../src/daemon/reload/queue.js';
import { monotonicUsec, statusLine, SystemdNotifier, watchdogPingMs, type NotifierSource } from '../../src/daemon/ops/systemd.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function fakeLog() {
  const warnings: string[] = [];
  const log = { info() {}, debug() {}, error() {}, warn: (_fields: unknown, message: string) => warnings.push(message) } as unknown as Logger;
  return { log, warnings };
}

interface Worker { state: string; pid?: number | null; crashLooping?: boolean }
function status(state: string, generations: Array<[number, string, Worker[]]>, lastReload: Partial<DaemonStatus['lastReload']> | null = null): DaemonStatus {
  return {
    schema: 1,
    pid: 1,
    state,
    generations: generations.map(([generation, genState, workers]) => ({
      generation,
      state: genState,
      workers: workers.map((worker, slot) => ({ slot, pid: 100 + slot, crashLooping: false, ...worker })),
    })),
    lastReload: lastReload === null ? null : { trigger: 'SIGHUP', outcome: 'promoted', generation: 2, reason: null, startedAt: '', durationMs: 1234, ...lastReload },
  } as unknown as DaemonStatus;
}

class FakeSupervisor extends EventEmitter<SupervisorEvents> implements NotifierSource {
  current = status('starting', [[1, 'serving', [{ state: 'starting' }, { state: 'starting' }]]]);
  readonly config = { ready: { timeoutMs: 100 }, drain: { timeoutMs: 100 } };
  status(): DaemonStatus {
    return this.current;
  }
  move(from: string, to: string): void {
    this.emit('state-change', { from, to } as SupervisorEvents['state-change'][0]);
  }
  reloaded(outcome: ReloadResult['outcome']): void {
    this.emit('reloaded', { outcome, generation: 2, reason: null, lastLines: [], trigger: 't', startedAt: 0, durationMs: 0 } as unknown as ReloadResult);
  }
}

function harness(env: NodeJS.ProcessEnv, options: { extendEveryMs?: number; deadlineSlackMs?: number } = {}) {
  const sent: Array<{ socket: string; fields: Record<string, string> }> = [];
  const { log, warnings } = fakeLog();
  const notifier = new SystemdNotifier({
    log,
    env,
    pid: 4242,
    clock: () => 123_456_789n,
    statusEveryMs: 60_000,
    extendEveryMs: options.extendEveryMs ?? 60_000,
    deadlineSlackMs: options.deadlineSlackMs ?? 60_000,
    send: (socket, message) => {
      sent.push({ socket, fields: Object.fromEntries(message.split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)])) });
    },
  });
  const source = new FakeSupervisor();
  // Only the protocol's state messages, in order (STATUS-only updates left out).
  const states = () => sent.map(({ fields }) => Object.keys(fields).filter((key) => key !== 'STATUS' && key !== 'MONOTONIC_USEC').join('+')).filter(Boolean);
  return { notifier, source, sent, states, warnings };
}

test('monotonicUsec is CLOCK_MONOTONIC in microseconds (compared with python3 clock_gettime)', (t) => {
  const before = monotonicUsec();
  const python = spawnSync('python3', ['-c', 'import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)'], { encoding: 'utf8' });
  const after = monotonicUsec();
  if (python.error || python.status !== 0) return t.skip(`python3 is not available to read CLOCK_MONOTONIC: ${python.error?.message ?? python.stderr}`);
  const theirs = BigInt(python.stdout.trim());
  assert.ok(before <= theirs && theirs <= after, `CLOCK_MONOTONIC ${theirs} µs is not between ${before} and ${after}`);
});

test('watchdogPingMs: half of WATCHDOG_USEC, only for our pid', () => {
  assert.equal(watchdogPingMs({ WATCHDOG_USEC: '30000000' }, 7), 15_000);
  assert.equal(watchdogPingMs({ WATCHDOG_USEC: '400000', WATCHDOG_PID: '7' }, 7), 200);
  assert.equal(watchdogPingMs({ WATCHDOG_USEC: '400000', WATCHDOG_PID: '8' }, 7), null, 'meant for another process');
  assert.equal(watchdogPingMs({}, 7), null);
  assert.equal(watchdogPingMs({ WATCHDOG_USEC: '0' }, 7), null);
  assert.equal(watchdogPingMs({ WATCHDOG_USEC: 'soon' }, 7), null);
  assert.equal(watchdogPingMs({ WATCHDOG_USEC: '1' }, 7), 1, 'never a zero interval');
});

test('statusLine: one line with generations, ready workers and the last reload', () => {
  assert.equal(
    statusLine(status('running', [[3, 'serving', [{ state: 'ready' }, { state: 'ready' }, { state: 'ready' }, { state: 'starting' }]]], { generation: 3 })),
    'generation 3 serving 3/4 ready; last reload: promoted generation 3 (1.2s)',
  );
  assert.equal(statusLine(status('starting', [[1, 'serving', [{ state: 'starting' }, { state: 'ready' }]]])), 'starting: generation 1 serving 1/2 ready; no reload yet');
  assert.equal(
    statusLine(status('reloading', [[3, 'serving', [{ state: 'ready' }]], [4, 'starting', [{ state: 'starting' }]]])),
    'reloading: generation 3 serving 1/1 ready, generation 4 starting 0/1 ready; no reload yet',
  );
  assert.equal(
    statusLine(status('running', [[5, 'serving', [{ state: 'ready' }]], [4, 'draining', [{ state: 'draining' }, { state: 'exited', pid: null }]]])),
    'generation 5 serving 1/1 ready, generation 4 draining (1 left); no reload yet',
  );
  const rolledBack = statusLine(
    status('running', [[3, 'serving', [{ state: 'ready', crashLooping: true }]]], { outcome: 'rolled-back', reason: 'generation 4: worker 0 exited with code 3\nsecond line\tand more' }),
  );
  assert.equal(rolledBack, 'generation 3 serving 1/1 ready, CRASH LOOP; last reload: ROLLED BACK generation 4: worker 0 exited with code 3');
  const long = statusLine(status('running', [[3, 'serving', [{ state: 'ready' }]]], { outcome: 'refused', reason: 'x'.repeat(1000) }));
  assert.ok(long.length <= 240 && !long.includes('\n'), long);
});

test('without NOTIFY_SOCKET every call is a no-op', () => {
  const { notifier, source, sent } = harness({ WATCHDOG_USEC: '1000' });
  assert.equal(notifier.enabled, false);
  assert.equal(notifier.watchdogMs, null);
  notifier.attach(source);
  assert.equal(source.listenerCount('first-ready'), 0, 'nothing subscribed');
  source.emit('first-ready');
  assert.equal(notifier.notify({ READY: 1 }), false);
  assert.deepEqual(sent, []);
  notifier.close();
});

test('reads NOTIFY_SOCKET and WATCHDOG_* once and removes them, so nothing started later inherits them', () => {
  const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: '@systemd-test', WATCHDOG_USEC: '2000000', WATCHDOG_PID: '4242', PATH: '/bin' };
  const { notifier } = harness(env);
  assert.equal(notifier.socket, '@systemd-test');
  assert.equal(notifier.watchdogMs, 1000);
  assert.deepEqual(env, { PATH: '/bin' });
});

test('start, reload (promoted, rolled back, refused), stop: READY, RELOADING+MONOTONIC_USEC, READY, STOPPING in order', async () => {
  const { notifier, source, sent, states } = harness({ NOTIFY_SOCKET: '@systemd-test' });
  notifier.attach(source);
  source.move('starting', 'running');
  assert.deepEqual(states(), ['EXTEND_TIMEOUT_USEC'], 'no READY=1 before every worker of the first generation is ready');
  source.current = status('running', [[1, 'serving', [{ state: 'ready' }, { state: 'ready' }]]]);
  source.emit('first-ready');
  assert.deepEqual(states(), ['EXTEND_TIMEOUT_USEC', 'READY']);
  assert.equal(sent.at(-1)!.fields.STATUS, 'generation 1 serving 2/2 ready; no reload yet');
  assert.equal(sent.at(-1)!.socket, '@systemd-test');

  source.emit('reload-start', { trigger: 'supervisor reload' });
  assert.deepEqual(sent.at(-1)!.fields.MONOTONIC_USEC, '123456789');
  source.move('running', 'reloading');
  source.reloaded('promoted');
  source.move('reloading', 'running');
  // A rollback ends with READY=1 as well: the old generation serves; ExecReload's exit code fails.
  source.emit('reload-start', { trigger: 'SIGHUP' });
  source.move('running', 'reloading');
  source.reloaded('rolled-back');
  source.move('reloading', 'running');
  // Refused before any generation started: still a RELOADING=1 ... READY=1 pair.
  source.emit('reload-start', { trigger: 'SIGHUP' });
  source.reloaded('refused');
  source.move('running', 'stopping');
  source.move('stopping', 'stopped');
  assert.deepEqual(states(), [
    'EXTEND_TIMEOUT_USEC', 'READY',
    'RELOADING', 'EXTEND_TIMEOUT_USEC', 'READY',
    'RELOADING', 'EXTEND_TIMEOUT_USEC', 'READY',
    'RELOADING', 'READY',
    'STOPPING', 'EXTEND_TIMEOUT_USEC',
  ]);
  const count = sent.length;
  source.emit('first-ready');
  await sleep(20);
  assert.equal(sent.length, count, 'nothing is sent after stopped');
});

test('a reload before the first READY=1 sends no RELOADING=1; a promotion then counts as ready', () => {
  const { notifier, source, states } = harness({ NOTIFY_SOCKET: '@systemd-test' });
  notifier.attach(source);
  source.move('starting', 'running');
  source.emit('reload-start', { trigger: 'SIGHUP' });
  source.reloaded('rolled-back');
  assert.deepEqual(states().filter((s) => s !== 'EXTEND_TIMEOUT_USEC'), [], 'systemd is still starting the unit');
  source.emit('reload-start', { trigger: 'SIGHUP' });
  source.reloaded('promoted');
  source.emit('first-ready'); // cannot happen after a promotion, but must not repeat READY=1
  assert.deepEqual(states().filter((s) => s !== 'EXTEND_TIMEOUT_USEC'), ['READY']);
  notifier.close();
});

test('a reload that ends during a stop sends no READY=1', () => {
  const { notifier, source, states } = harness({ NOTIFY_SOCKET: '@systemd-test' });
  notifier.attach(source);
  source.emit('first-ready');
  source.emit('reload-start', { trigger: 'SIGHUP' });
  source.move('running', 'reloading');
  source.move('reloading', 'stopping');
  source.reloaded('rolled-back');
  assert.deepEqual(states(), ['EXTEND_TIMEOUT_USEC', 'READY', 'RELOADING', 'EXTEND_TIMEOUT_USEC', 'STOPPING', 'EXTEND_TIMEOUT_USEC']);
  notifier.close();
});

test('EXTEND_TIMEOUT_USEC repeats while a stop runs, by more than the interval, and stops after the config deadlines', async () => {
  const { notifier, source, sent } = harness({ NOTIFY_SOCKET: '@systemd-test' }, { extendEveryMs: 40, deadlineSlackMs: 300 });
  notifier.attach(source);
  source.emit('first-ready');
  source.move('running', 'stopping');
  // drain 100 ms (+ at most 100 ms of queue wait) + 300 ms slack = 500 ms of extensions.
  await sleep(900);
  const extends_ = sent.filter(({ fields }) => 'EXTEND_TIMEOUT_USEC' in fields);
  assert.ok(extends_.length >= 6 && extends_.length <= 16, `${extends_.length} extensions in 500 ms at 40 ms`);
  for (const { fields } of extends_) assert.equal(fields.EXTEND_TIMEOUT_USEC, String((40 + 5000) * 1000));
  const count = extends_.length;
  await sleep(200);
  assert.equal(sent.filter(({ fields }) => 'EXTEND_TIMEOUT_USEC' in fields).length, count, 'no extension past the deadlines');
  notifier.close();
});

test('the start is extended for one ready.timeout at most, and no longer once READY=1 is sent', async () => {
  const slow = harness({ NOTIFY_SOCKET: '@systemd-test' }, { extendEveryMs: 20, deadlineSlackMs: 100 });
  slow.notifier.attach(slow.source); // never ready: ready.timeout 100 ms + 100 ms slack
  const quick = harness({ NOTIFY_SOCKET: '@systemd-test' }, { extendEveryMs: 20, deadlineSlackMs: 100 });
  quick.notifier.attach(quick.source);
  await sleep(50);
  quick.source.emit('first-ready');
  const extensions = (sent: typeof slow.sent) => sent.filter(({ fields }) => 'EXTEND_TIMEOUT_USEC' in fields).length;
  const quickCount = extensions(quick.sent);
  await sleep(400);
  const slowCount = extensions(slow.sent);
  assert.ok(slowCount >= 5 && slowCount <= 13, `${slowCount} extensions in 200 ms at 20 ms`);
  assert.equal(extensions(quick.sent), quickCount, 'none after READY=1');
  await sleep(100);
  assert.equal(extensions(slow.sent), slowCount, 'none past ready.timeout + slack');
  slow.notifier.close();
  quick.notifier.close();
});

test('WATCHDOG=1 at half of WATCHDOG_USEC; none when WATCHDOG_PID names another process', async () => {
  const ours = harness({ NOTIFY_SOCKET: '@systemd-test', WATCHDOG_USEC: '100000', WATCHDOG_PID: '4242' });
  const theirs = harness({ NOTIFY_SOCKET: '@systemd-test', WATCHDOG_USEC: '100000', WATCHDOG_PID: '1' });
  ours.notifier.attach(ours.source);
  theirs.notifier.attach(theirs.source);
  await sleep(520);
  ours.notifier.close();
  theirs.notifier.close();
  const pings = ours.sent.filter(({ fields }) => fields.WATCHDOG === '1').length;
  assert.ok(pings >= 8 && pings <= 12, `${pings} pings in 520 ms at 50 ms (one at attach)`);
  assert.equal(theirs.sent.filter(({ fields }) => 'WATCHDOG' in fields).length, 0);
});

test('a failing send is reported once per cause and never throws', () => {
  const { log, warnings } = fakeLog();
  let calls = 0;
  const notifier = new SystemdNotifier({
    log,
    env: { NOTIFY_SOCKET: '@gone' },
    send: () => {
      calls++;
      throw Object.assign(new Error('sendto @gone failed: ECONNREFUSED'), { code: 'ECONNREFUSED' });
    },
  });
  assert.equal(notifier.notify({ READY: 1 }), false);
  assert.equal(notifier.notify({ STATUS: 'x' }), false);
  assert.equal(calls, 2);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /cannot notify systemd: .*ECONNREFUSED/);
});

test('a reload is extended by the deadlines of the config it runs under, not the one before it', async () => {
  const { notifier, source, sent } = harness({ NOTIFY_SOCKET: '@systemd-test' }, { extendEveryMs: 20, deadlineSlackMs: 50 });
  notifier.attach(source);
  source.emit('first-ready');
  // In force: ready.timeout 100 ms (worst 100 + drain 200 + slack 50 = 350 ms). The reload's own
  // config raises ready.timeout to 600 ms: 600 + 200 + 50 = 850 ms.
  const next = { ready: { timeoutMs: 600 }, drain: { timeoutMs: 100 } } as unknown as NonNullable<SupervisorEvents['state-change'][0]['config']>;
  source.emit('state-change', { from: 'running', to: 'reloading', config: next });
  const extensions = () => sent.filter(({ fields }) => 'EXTEND_TIMEOUT_USEC' in fields).length;
  await sleep(500);
  const atHalf = extensions();
  await sleep(150);
  assert.ok(extensions() > atHalf, 'still extending 650 ms into the reload: the new ready.timeout counts');
  await sleep(400);
  const atEnd = extensions();
  await sleep(100);
  assert.equal(extensions(), atEnd, 'and no longer than its deadlines');
  notifier.close();
});
