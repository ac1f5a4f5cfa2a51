import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/config/errors.js';
import type { DaemonStatus, EventFrame } from '../../src/control/protocol.js';
import { LifecycleBus } from '../../src/daemon/events.js';
import { healthOf } from '../../src/daemon/ops/health.js';
import { SupervisorMetrics } from '../../src/daemon/ops/metrics.js';
import { ReloadProgressView } from '../../src/cli/progress.js';
import { renderLifecycleEvent, renderStatus } from '../../src/cli/render.js';

function status(state: string, workers: string[]): DaemonStatus {
  return {
    schema: 1, pid: 10, state, config: '/etc/s.yaml', socket: 'reuseport', listen: ['127.0.0.1:8000'],
    lossless: { configured: 'auto', mechanisms: ['steer'], migrateReq: false, lossless: true, guarantee: 'lossless' },
    sharedAcceptQueue: null,
    generations: [{
      generation: 3, state: 'serving', cwd: '/srv', release: { path: '/srv', revision: null }, command: ['app'], startedAt: new Date(0).toISOString(),
      workers: workers.map((workerState, index) => ({ slot: index + 1, pid: 100 + index, state: workerState, readySince: null, uptimeMs: 5, restarts: 0, crashLooping: false, acceptQueue: index, lastExit: null, warming: null, outputSuppressed: 0 })),
    }],
    lastReload: null,
    eventSubscribers: 0,
    droppedLogLines: 0,
    slowStart: null,
    warming: { priority: { mechanism: 'none', reason: 'ready.nice is 0', nice: 0, rampMs: 0 }, warmup: null },
  };
}

test('health: serving with a ready worker, starting without one, draining once stopping', () => {
  assert.deepEqual(healthOf(status('running', ['ready', 'backoff'])), { status: 200, state: 'serving', readyWorkers: 1 });
  assert.deepEqual(healthOf(status('reloading', ['ready'])), { status: 200, state: 'serving', readyWorkers: 1 });
  assert.deepEqual(healthOf(status('running', ['backoff', 'starting'])), { status: 503, state: 'starting', readyWorkers: 0 });
  assert.deepEqual(healthOf(status('starting', ['ready'])), { status: 503, state: 'starting', readyWorkers: 1 });
  assert.deepEqual(healthOf(status('stopping', ['ready'])), { status: 503, state: 'draining', readyWorkers: 1 });
});

test('the lifecycle bus stamps events, survives a throwing subscriber and unsubscribes once', () => {
  const bus = new LifecycleBus();
  const seen: string[] = [];
  const off = bus.subscribe((event) => seen.push(`${event.event}:${String(event.gen)}:${/Z$/.test(event.time)}`));
  bus.subscribe(() => {
    throw new Error('broken subscriber');
  });
  bus.publish('generation-state', { gen: 2, from: 'starting', to: 'serving' });
  assert.deepEqual(seen, ['generation-state:2:true']);
  assert.equal(bus.subscribers(), 2);
  off();
  off();
  assert.equal(bus.subscribers(), 1);
  bus.publish('reload-start', { trigger: 'x' });
  assert.equal(seen.length, 1);
});

test('metrics: gauges read the status at scrape time, counters follow the events', async () => {
  const bus = new LifecycleBus();
  let current = status('running', ['ready', 'starting']);
  const metrics = new SupervisorMetrics({ status: () => current, events: bus }, { processMetrics: false });
  const result = { generation: 2, reason: null, trigger: 'test', release: null, lastLines: [] };
  bus.publish('reload-result', { ...result, outcome: 'promoted', durationMs: 1500 });
  bus.publish('reload-result', { ...result, outcome: 'rolled-back', durationMs: 200 });
  bus.publish('worker-drained', { gen: 1, worker: 1, pid: 10, durationMs: 30_000, killed: true });
  bus.publish('worker-started', { gen: 1, worker: 1, pid: 11, restart: 0 });
  bus.publish('worker-started', { gen: 1, worker: 1, pid: 12, restart: 2 });
  const text = await metrics.text();
  for (const line of [
    'supervisor_generation 3',
    'supervisor_state{state="running"} 1',
    'supervisor_workers{generation="3",state="ready"} 1',
    'supervisor_workers{generation="3",state="starting"} 1',
    'supervisor_accept_queue{generation="3",worker="2"} 1',
    'supervisor_reloads_total{result="promoted"} 1',
    'supervisor_reloads_total{result="rolled-back"} 1',
    'supervisor_reloads_total{result="refused"} 0',
    'supervisor_reload_duration_seconds_bucket{le="1",result="promoted"} 0',
    'supervisor_reload_duration_seconds_bucket{le="2",result="promoted"} 1',
    'supervisor_reload_duration_seconds_sum{result="promoted"} 1.5',
    'supervisor_drain_sigkills_total 1',
    'supervisor_drain_duration_seconds_bucket{le="10"} 0',
    'supervisor_drain_duration_seconds_bucket{le="30"} 1',
    'supervisor_worker_restarts_total 1',
  ]) {
    assert.ok(text.split('\n').includes(line), `missing: ${line}`);
  }
  assert.ok(!text.includes('supervisor_shared_accept_queue'), 'no shared-queue gauge in reuseport mode');
  current = { ...current, generations: [] };
  assert.ok(!(await metrics.text()).includes('supervisor_workers{'), 'a gone generation leaves no series');
  metrics.close();
  assert.equal(bus.subscribers(), 0);
});

function frame(event: string, fields: Record<string, unknown> = {}): EventFrame {
  return { type: 'event', event, time: '2025-01-01T00:00:00.000Z', ...fields };
}

test('reload progress: plain lines when not a terminal, a redrawn spinner line on one', () => {
  const events = [
    frame('accepted', { pid: 9, queued: false }),
    frame('starting', { generation: 2, workers: 2, cwd: '/srv/r2', revision: 'abc' }),
    frame('worker-ready', { generation: 2, slot: 1, pid: 11, ready: 1, total: 2 }),
    frame('worker-ready', { generation: 2, slot: 2, pid: 12, ready: 2, total: 2 }),
    frame('promoted', { generation: 2, drainingGeneration: 1, drainWorkers: 2 }),
    frame('drained', { generation: 1, done: 1, total: 2 }),
    frame('drained', { generation: 1, done: 2, total: 2 }),
  ];
  let plain = '';
  const pipeView = new ReloadProgressView({ write: (text: string) => (plain += text) }, false);
  for (const event of events) pipeView.event(event);
  pipeView.finish();
  assert.equal(plain, [
    'reload accepted by supervisor pid 9',
    'starting generation 2: 2 worker(s) in /srv/r2',
    '  ready 1/2: worker 1 (pid 11)',
    '  ready 2/2: worker 2 (pid 12)',
    'generation 2 serves; draining generation 1 (2 worker(s))',
    '  drained 1/2',
    '  drained 2/2',
    '',
  ].join('\n'));

  let screen = '';
  let clock = 0;
  const ttyView = new ReloadProgressView({ write: (text: string) => (screen += text) }, true, () => clock);
  for (const event of events) {
    clock += 100;
    ttyView.event(event);
  }
  ttyView.finish();
  // What stays on the screen once each \r\x1b[K has erased the line it starts.
  const kept = screen.split('\n').map((line) => line.split('\r\x1b[K').at(-1)).filter(Boolean);
  assert.deepEqual(kept, [
    '✓ config valid; release /srv/r2 (revision abc)',
    '✓ generation 2 ready: 2/2 worker(s) in 0.2s',
    '✓ steering: new connections go to generation 2',
    '✓ generation 1 drained: 2 worker(s) in 0.2s',
  ]);
  assert.match(screen, /\r\x1b\[K. starting generation 2: ready 1\/2 \(0\.3s\)/u);
  assert.ok(screen.endsWith('\r\x1b[K'), 'the spinner line is cleared at the end');
});

test('events render as one line each', () => {
  assert.equal(renderLifecycleEvent(frame('worker-state', { gen: 2, worker: 1, pid: 40, from: 'starting', to: 'ready' })), '2025-01-01T00:00:00.000Z gen 2 worker 1 pid 40: starting -> ready');
  assert.equal(renderLifecycleEvent(frame('worker-exit', { gen: 2, worker: 1, pid: 40, code: 1, signal: null, restartInMs: 200 })), '2025-01-01T00:00:00.000Z gen 2 worker 1 pid 40: exited with code 1; restarting in 200ms');
  assert.equal(renderLifecycleEvent(frame('reload-result', { outcome: 'rolled-back', generation: 3, durationMs: 1200, reason: 'generation 3: boom' })), '2025-01-01T00:00:00.000Z reload ROLLED BACK generation 3 in 1.2s: generation 3: boom');
  assert.equal(renderLifecycleEvent(frame('reload-phase', { phase: 'drained', generation: 1, done: 1, total: 2 })), '2025-01-01T00:00:00.000Z reload: drained 1/2');
});

test('config: metrics is an address on its own port; stop_grace a duration', () => {
  const base = 'listen: 127.0.0.1:8000\ncommand: [node, server.js]\n';
  const pure = { checkFilesystem: false, env: {}, uid: 1000 };
  const config = parseConfig(`${base}metrics: 127.0.0.1:9100\nstop_grace: 5s\n`, '/srv/s.yaml', pure);
  assert.deepEqual(config.metrics, { host: '127.0.0.1', port: 9100, family: 4, text: '127.0.0.1:9100' });
  assert.equal(config.stopGraceMs, 5000);
  const defaults = parseConfig(base, '/srv/s.yaml', pure);
  assert.deepEqual([defaults.metrics, defaults.stopGraceMs], [null, 0]);
  const problems = (text: string) => {
    try {
      parseConfig(`${base}${text}`, '/srv/s.yaml', pure);
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.problems.map((problem) => `${problem.key}: ${problem.message}`);
    }
    return [];
  };
  assert.deepEqual(problems('metrics: 9100\n'), ['metrics: expected an address such as 127.0.0.1:9100, got 9100: write 127.0.0.1:9100']);
  assert.deepEqual(problems('metrics: 0.0.0.0:8000\n'), ['metrics: 0.0.0.0:8000 would share port 8000 with listen 127.0.0.1:8000: choose another port for metrics, such as 0.0.0.0:9100']);
  assert.match(problems('stop_grace: 5\n')[0]!, /^stop_grace: a bare number has no unit/);
});

test('status text names a slow start in progress: who gets which share, and for how long', () => {
  const during = { ...status('reloading', ['ready']), slowStart: { generation: 3, from: 2, share: 0.4, remainingMs: 600 } };
  assert.match(renderStatus(during), /^slow start: generation 3 gets 40% of new connections, generation 2 the rest; 600ms left$/m);
  assert.doesNotMatch(renderStatus(status('running', ['ready'])), /slow start/);
});
