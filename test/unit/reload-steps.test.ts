import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import pino from 'pino';
import { loadConfig } from '../../src/config/index.js';
import { Supervisor } from '../../src/daemon/supervisor.js';
import type { ReloadStep } from '../../src/daemon/reload/reload.js';
import type { LifecycleEvent } from '../../src/daemon/events.js';
import { FakeOs, type FakeBehaviour } from '../helpers/fake-os.js';

// Whole reloads driven through the OS seam with pretend workers on a fake clock: no process, no
// port, no sleep. The deadlines are the realistic ones (ready.timeout 10 s, drain.timeout 30 s, a
// 1 s slow start, the 1 s minimum between reloads) and pass in virtual time, so a test can say at
// exactly which instant a rollback or a SIGKILL happens. The real-process tests in
// test/integration hold the same choreography against the kernel.

const STEPS: ReloadStep[] = ['prepare', 'start-candidate', 'promote', 'canary', 'shift', 'retire'];
const READY_TIMEOUT_MS = 10_000;
const DRAIN_TIMEOUT_MS = 30_000;
const READY_AFTER_MS = 5; // a fake worker's default time to READY=1
const DRAIN_MS = 1; // a fake worker's default time to exit after the drain signal

interface Setup {
  behaviourOf?: (version: string) => FakeBehaviour;
  onReloadStep?: (step: ReloadStep) => void;
  config?: Record<string, unknown>;
}

async function started({ behaviourOf, onReloadStep, config = {} }: Setup = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'reload-steps-'));
  const file = join(dir, 'supervisor.json');
  const write = (version: string, more: Record<string, unknown> = {}) =>
    writeFileSync(file, JSON.stringify({
      listen: '127.0.0.1:1', control: join(dir, 'control.sock'), workers: 2, cwd: dir,
      command: ['node', 'app.js'], env: { APP_VERSION: version }, lossless: 'auto',
      ready: { kind: 'notify', timeout: `${READY_TIMEOUT_MS}ms` }, drain: { timeout: `${DRAIN_TIMEOUT_MS}ms` }, slow_start: '1s',
      ...config,
      ...more,
    }));
  writeFileSync(join(dir, 'app.js'), '');
  write('v1');
  const os = new FakeOs(behaviourOf);
  const clock = os.clock;
  const log = pino({ level: 'silent' });
  const supervisor = new Supervisor(file, loadConfig(file), log, { stdout: log, stderr: log }, { os, ...(onReloadStep ? { onReloadStep } : {}) });
  const stopped = async () => {
    await clock.until(supervisor.stop());
    assert.deepEqual(os.alive().map((child) => child.pid), [], 'every fake worker ended');
  };
  const cleanup = async () => {
    try {
      if (supervisor.state !== 'stopped') await stopped();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    supervisor.start();
    await clock.until(once(supervisor, 'first-ready'));
  } catch (error) {
    await cleanup();
    throw error;
  }
  // Virtual milliseconds since `from`; each reload's times below count from its request.
  const since = (from: number) => clock.now() - from;
  const reload = (trigger = 'test') => {
    const at = clock.now();
    const run = supervisor.reload(trigger);
    const phases: [string, number][] = [];
    run.on('progress', ({ event }) => phases.push([event, since(at)]));
    return { run, at, phases, result: () => clock.until(run.result) };
  };
  return { supervisor, os, clock, write, reload, since, stopped, cleanup };
}

function servingPids(supervisor: Supervisor) {
  const serving = supervisor.status().generations.find((gen) => gen.state === 'serving')!;
  return { generation: serving.generation, pids: serving.workers.map((worker) => worker.pid) };
}

function lifecycle(supervisor: Supervisor, clock: { now(): number }) {
  const seen: (LifecycleEvent & { at: number })[] = [];
  supervisor.events.subscribe((event) => seen.push({ ...event, at: clock.now() }));
  return seen;
}

function phaseAt(phases: [string, number][], event: string): number | undefined {
  return phases.find(([name]) => name === event)?.[1];
}

test('a reload promotes the new generation, shifts over the slow start, and drains the old one only then', async () => {
  const { supervisor, os, clock, write, reload, cleanup } = await started();
  try {
    const before = servingPids(supervisor);
    write('v2');
    const { run, at, phases, result } = reload();
    await clock.until(new Promise<void>((resolve) => run.on('progress', ({ event }) => event === 'promoted' && resolve())));
    // 1 s in 10 steps of 100 ms: the new generation's share grows from 1/11 by 1/11 per step.
    assert.equal(supervisor.status().slowStart!.share, Math.round((1 / 11) * 1000) / 1000);
    await clock.advance(500);
    const midway = supervisor.status().slowStart!;
    assert.equal(midway.share, Math.round((6 / 11) * 1000) / 1000, 'five steps later');
    assert.equal(midway.remainingMs, 500);
    assert.ok(before.pids.every((pid) => os.children.find((child) => child.pid === pid)!.signals.length === 0), 'no old worker is told to drain during the shift');
    const outcome = await result();
    assert.equal(outcome.outcome, 'promoted', outcome.reason ?? '');
    assert.deepEqual(phases, [
      ['starting', 0],
      ['worker-ready', READY_AFTER_MS],
      ['worker-ready', READY_AFTER_MS],
      ['promoted', READY_AFTER_MS],
      ['shifted', READY_AFTER_MS + 1000],
      ['drained', READY_AFTER_MS + 1000 + DRAIN_MS],
      ['drained', READY_AFTER_MS + 1000 + DRAIN_MS],
    ]);
    assert.equal(outcome.durationMs, READY_AFTER_MS + 1000 + DRAIN_MS);
    assert.equal(outcome.startedAt, at);
    assert.deepEqual(supervisor.status().generations.map((gen) => gen.generation), [2], 'the old generation is gone');
    for (const pid of before.pids) {
      const old = os.children.find((child) => child.pid === pid)!;
      assert.equal(old.alive, false);
      assert.deepEqual(old.signals, ['SIGTERM']);
    }
    assert.ok(os.alive().every((child) => child.env.APP_VERSION === 'v2'));
  } finally {
    await cleanup();
  }
});

test('an old worker that ignores the drain signal is killed at exactly drain.timeout', async () => {
  const { supervisor, os, write, reload, cleanup } = await started({ behaviourOf: (v) => (v === 'v1' ? { ignoreDrain: true } : {}), config: { slow_start: '0s' } });
  try {
    const before = servingPids(supervisor);
    write('v2');
    const { phases, result } = reload();
    const outcome = await result();
    assert.equal(outcome.outcome, 'promoted');
    assert.match(outcome.reason ?? '', /2 old worker\(s\) killed at drain\.timeout/);
    assert.equal(phaseAt(phases, 'promoted'), READY_AFTER_MS);
    assert.equal(phaseAt(phases, 'drained'), READY_AFTER_MS + DRAIN_TIMEOUT_MS, 'SIGKILL at the deadline, not a moment before');
    assert.equal(outcome.durationMs, READY_AFTER_MS + DRAIN_TIMEOUT_MS);
    for (const pid of before.pids) assert.deepEqual(os.children.find((child) => child.pid === pid)!.signals, ['SIGTERM', 'SIGKILL']);
    assert.equal(servingPids(supervisor).generation, 2);
  } finally {
    await cleanup();
  }
});

test('a candidate whose worker exits before ready is rolled back at that moment with its last lines; the old pids serve on', async () => {
  const { supervisor, os, write, reload, cleanup } = await started({ behaviourOf: (v) => (v === 'v2' ? { readyAfterMs: null, exitAfterMs: 40 } : {}) });
  try {
    const before = servingPids(supervisor);
    write('v2');
    const { phases, result } = reload();
    const outcome = await result();
    assert.equal(outcome.outcome, 'rolled-back');
    assert.match(outcome.reason ?? '', /exited with code 1 before it was ready/);
    assert.ok(outcome.lastLines.includes('crashed on purpose'));
    assert.equal(phaseAt(phases, 'rolling-back'), 40, 'the first exit decides, without waiting for ready.timeout');
    assert.deepEqual(servingPids(supervisor), before);
    assert.ok(os.alive().every((child) => child.env.APP_VERSION === 'v1'));
  } finally {
    await cleanup();
  }
});

test('a candidate that never becomes ready is rolled back at exactly ready.timeout and its workers are stopped', async () => {
  const { supervisor, os, write, reload, cleanup } = await started({ behaviourOf: (v) => (v === 'v2' ? { readyAfterMs: null } : {}) });
  try {
    const before = servingPids(supervisor);
    write('v2');
    const { phases, result } = reload();
    const outcome = await result();
    assert.equal(outcome.outcome, 'rolled-back');
    assert.match(outcome.reason ?? '', new RegExp(`was not ready within ${READY_TIMEOUT_MS} ms`));
    assert.deepEqual(phases.map(([event]) => event), ['starting', 'rolling-back']);
    assert.equal(phaseAt(phases, 'rolling-back'), READY_TIMEOUT_MS);
    assert.equal(outcome.durationMs, READY_TIMEOUT_MS + DRAIN_MS, 'the candidate drains like any worker');
    const candidates = os.children.filter((child) => child.env.APP_VERSION === 'v2');
    assert.equal(candidates.length, 2);
    assert.ok(candidates.every((child) => !child.alive && child.signals[0] === 'SIGTERM'));
    assert.deepEqual(servingPids(supervisor), before);
    assert.equal(os.alive().length, 2);
  } finally {
    await cleanup();
  }
});

test('a worker that cannot even be spawned fails the reload, naming the error, and the daemon goes on', async () => {
  let failSpawn = false;
  const { supervisor, os, write, reload, cleanup } = await started();
  try {
    const spawn = os.process.spawn;
    os.process.spawn = (file, args, options) => {
      if (failSpawn) throw Object.assign(new Error('spawn EMFILE'), { code: 'EMFILE' });
      return spawn(file, args, options);
    };
    const before = servingPids(supervisor);
    write('v2');
    failSpawn = true;
    const failed = await reload().result();
    assert.equal(failed.outcome, 'failed');
    assert.match(failed.reason ?? '', /step start-candidate: spawn EMFILE: the supervisor may open \d+ files \(RLIMIT_NOFILE\), more than the about \d+ this config needs across a reload: something else holds them .* \(generation 1 kept serving, generation 2 was stopped\)/);
    assert.deepEqual(servingPids(supervisor), before);
    assert.equal(supervisor.state, 'running');
    failSpawn = false;
    assert.equal((await reload().result()).outcome, 'promoted');
  } finally {
    await cleanup();
  }
});

test('a spawn that throws for the second worker stops the half-started candidate', async () => {
  const { supervisor, os, write, reload, cleanup } = await started();
  try {
    const spawn = os.process.spawn;
    let candidates = 0;
    os.process.spawn = (file, args, options) => {
      if (options.env?.APP_VERSION === 'v2' && ++candidates === 2) throw Object.assign(new Error('spawn EAGAIN'), { code: 'EAGAIN' });
      return spawn(file, args, options);
    };
    const before = servingPids(supervisor);
    write('v2');
    const { phases, result } = reload();
    const outcome = await result();
    assert.equal(outcome.outcome, 'failed');
    assert.match(outcome.reason ?? '', /step start-candidate: spawn EAGAIN/);
    const started = os.children.filter((child) => child.env.APP_VERSION === 'v2');
    assert.equal(started.length, 1, 'one candidate worker was started');
    assert.deepEqual(started[0]!.signals, ['SIGTERM'], 'and stopped');
    assert.equal(started[0]!.alive, false);
    assert.equal(phaseAt(phases, 'rolling-back'), 0, 'at once, not at ready.timeout');
    assert.deepEqual(servingPids(supervisor), before);
  } finally {
    await cleanup();
  }
});

test('a config that changes a restart-only key is refused, naming the key and why, and nothing starts', async () => {
  const { supervisor, os, write, reload, cleanup } = await started();
  try {
    const before = servingPids(supervisor);
    const spawned = os.children.length;
    write('v2');
    const config = JSON.parse(readFileSync(supervisor.configFile, 'utf8'));
    writeFileSync(supervisor.configFile, JSON.stringify({ ...config, backlog: 64 }));
    const outcome = await reload().result();
    assert.equal(outcome.outcome, 'refused');
    assert.match(outcome.reason ?? '', /config changes 'backlog', which a reload cannot apply \(an accept queue's length is fixed/);
    assert.equal(os.children.length, spawned, 'no worker was started');
    assert.deepEqual(servingPids(supervisor), before);
  } finally {
    await cleanup();
  }
});

test('triggers during a reload coalesce into one follow-up, which starts one second after the reload before it started', async () => {
  const { supervisor, clock, write, since, cleanup } = await started({ config: { slow_start: '0s' } });
  try {
    const starts: number[] = [];
    supervisor.on('reload-start', () => starts.push(clock.now()));
    write('v2');
    const at = clock.now();
    const first = supervisor.reload('SIGHUP');
    const second = supervisor.reload('supervisor reload');
    assert.equal((await clock.until(first.result)).generation, 2);
    assert.equal(since(at), READY_AFTER_MS + DRAIN_MS, 'the first reload is over long before the minimum interval');
    await clock.advance(500);
    const third = supervisor.reload('SIGHUP');
    assert.equal(second, third, 'a trigger while the follow-up waits joins it');
    assert.equal(starts.length, 1, 'the follow-up has not started yet');
    const follow = await clock.until(second.result);
    assert.equal(follow.generation, 3);
    assert.equal(follow.trigger, 'supervisor reload, SIGHUP');
    assert.deepEqual(starts.map((start) => start - at), [0, 1000]);
    assert.equal(servingPids(supervisor).generation, 3);
  } finally {
    await cleanup();
  }
});

test('a follow-up to a reload that took longer than the minimum interval starts as soon as it ends', async () => {
  const { supervisor, clock, write, cleanup } = await started();
  try {
    const starts: number[] = [];
    supervisor.on('reload-start', () => starts.push(clock.now()));
    write('v2');
    const at = clock.now();
    const first = supervisor.reload('SIGHUP');
    const second = supervisor.reload('SIGHUP');
    const ended = (await clock.until(first.result)).durationMs;
    assert.equal(ended, READY_AFTER_MS + 1000 + DRAIN_MS, 'the 1 s slow start makes it longer than the interval');
    await clock.until(second.result);
    // The queue waits max(0, interval left): a timer of 0 ms, which Node (and the fake clock) fire after 1 ms.
    assert.deepEqual(starts.map((start) => start - at), [0, ended + 1]);
  } finally {
    await cleanup();
  }
});

test('a stop during a slow start ends it at once and drains both generations', async () => {
  const { supervisor, os, clock, write, reload, since, stopped, cleanup } = await started({ config: { slow_start: '5s' } });
  try {
    write('v2');
    const { run, phases } = reload();
    await clock.until(new Promise<void>((resolve) => run.on('progress', ({ event }) => event === 'promoted' && resolve())));
    await clock.advance(2000);
    const shift = supervisor.status().slowStart;
    assert.ok(shift !== null && shift.remainingMs === 3000, 'the slow start is 2 s into its 5 s');
    const stopping = clock.now();
    await stopped();
    // The ramp is cut, the old generation drains (1 ms), then the new one (1 ms): 3 s early.
    assert.equal(since(stopping), 2 * DRAIN_MS, 'the stop did not wait for the rest of the ramp');
    assert.equal(phaseAt(phases, 'shifted'), READY_AFTER_MS + 2000);
    assert.equal((await run.result).outcome, 'promoted');
    assert.deepEqual(os.alive(), []);
    assert.equal(supervisor.state, 'stopped');
  } finally {
    await cleanup();
  }
});

test("a serving worker that keeps crashing is restarted after 1, 2, 4, 8, 8 s; a crash loop is reported; a worker stable for 10 s starts the sequence over", async () => {
  let crashOnBoot = false;
  const behaviourOf = (): FakeBehaviour => (crashOnBoot ? { readyAfterMs: null, exitAfterMs: 50 } : {});
  const { supervisor, os, clock, cleanup } = await started({ behaviourOf, config: { restart: { backoff: '1s', max: '8s', crash_loop: 3 } } });
  try {
    const events = lifecycle(supervisor, clock);
    const slotOne = () => os.alive().find((child) => child.env.SUPERVISOR_WORKER === '1')!;
    assert.ok(slotOne(), 'worker 1 runs');
    crashOnBoot = true;
    const at = clock.now();
    slotOne().exit(1, null, 'crashed on purpose');
    await clock.advance(30_000);
    const exits = events.filter((event) => event.event === 'worker-exit');
    const restarts = events.filter((event) => event.event === 'worker-started');
    assert.deepEqual(exits.slice(0, 5).map((event) => event.restartInMs), [1000, 2000, 4000, 8000, 8000]);
    // Each restart comes its delay after the exit, and each new worker dies 50 ms after its start.
    assert.deepEqual(restarts.slice(0, 4).map((event) => event.at - at), [1000, 3050, 7100, 15150]);
    assert.deepEqual(exits.slice(0, 4).map((event) => event.at - at), [0, 1050, 3100, 7150]);
    const loops = events.filter((event) => event.event === 'crash-loop');
    assert.equal(loops.length, 1, 'reported once');
    assert.equal(loops[0]!.at - at, 7150, 'at the third death before ready');
    assert.equal(loops[0]!.bootFailures, 3);
    assert.equal(supervisor.status().generations[0]!.workers[0]!.crashLooping, true);

    crashOnBoot = false; // the app is fixed: the next restart becomes ready and stays up
    await clock.until(new Promise<void>((resolve) => supervisor.events.subscribe((event) => event.event === 'worker-state' && event.to === 'ready' && resolve())));
    assert.equal(supervisor.status().generations[0]!.workers[0]!.crashLooping, false);
    await clock.advance(10_000);
    events.length = 0;
    slotOne().exit(1, null, 'crashed after 10 s of service');
    await clock.advance(0);
    assert.deepEqual(events.filter((event) => event.event === 'worker-exit').map((event) => event.restartInMs), [1000], 'stable for 10 s: the sequence starts over');
    await clock.advance(1000 + READY_AFTER_MS);
    events.length = 0;
    slotOne().exit(1, null, 'crashed again at once');
    await clock.advance(0);
    assert.deepEqual(events.filter((event) => event.event === 'worker-exit').map((event) => event.restartInMs), [2000], 'not stable: the delay doubles');
  } finally {
    await cleanup();
  }
});

for (const step of STEPS) {
  test(`a throw in step ${step} settles the reload as failed, one generation serves, and the next reload promotes`, async () => {
    let inject = true;
    const onReloadStep = (entered: ReloadStep) => {
      if (inject && entered === step) throw new Error(`injected at ${step}`);
    };
    const { supervisor, os, write, reload, cleanup } = await started({ onReloadStep });
    try {
      const before = servingPids(supervisor);
      write('v2');
      const outcome = await reload().result();
      assert.equal(outcome.outcome, 'failed');
      assert.match(outcome.reason ?? '', new RegExp(`reload failed in step ${step}: injected at ${step}`));
      assert.equal(supervisor.state, 'running', 'the daemon is up and not stuck reloading');
      const sockets = [...os.listenerSet.routes.values()];
      if (step === 'retire') {
        // The candidate already served alone: the hand-over is finished, not undone.
        assert.equal(servingPids(supervisor).generation, 2);
        assert.ok(before.pids.every((pid) => !os.children.find((child) => child.pid === pid)!.alive), 'the old workers were ended');
      } else {
        assert.deepEqual(servingPids(supervisor), before, 'the same generation and pids serve');
        assert.ok(before.pids.every((pid) => os.children.find((child) => child.pid === pid)!.alive));
        assert.ok(os.alive().every((child) => child.env.APP_VERSION === 'v1'), 'no candidate worker is left');
        assert.ok(sockets.length === 2 && sockets.every((route) => route.routable), 'new connections reach the serving workers only');
      }
      assert.deepEqual(supervisor.status().generations.length, 1);
      inject = false;
      write('v3');
      const next = await reload().result();
      assert.equal(next.outcome, 'promoted', next.reason ?? '');
    } finally {
      await cleanup();
    }
  });
}

// The bake window and the canary, on the same fake clock: the exact instants at which a window
// ends, a failure rolls back, a hold runs out.

const oldSignals = (os: FakeOs, pids: (number | null)[]) => pids.map((pid) => os.children.find((child) => child.pid === pid)!.signals);

test('bake: the previous generation stays alive and unsignalled for exactly the window, then drains', async () => {
  const { supervisor, os, clock, write, reload, cleanup } = await started({ config: { slow_start: '0s', bake: '60s' } });
  try {
    const before = servingPids(supervisor);
    write('v2');
    const { at, result } = reload();
    const outcome = await result();
    assert.equal(outcome.outcome, 'promoted');
    assert.equal(outcome.reason, 'generation 1 bakes for 60 s: supervisor rollback brings it back');
    const promotedAt = clock.now();
    assert.deepEqual(supervisor.status().generations.map((gen) => [gen.generation, gen.state]), [[1, 'baking'], [2, 'serving']]);
    assert.deepEqual(supervisor.status().bake, { generation: 2, previous: 1, endsAt: new Date(promotedAt + 60_000).toISOString(), remainingMs: 60_000, previousRssBytes: 2 * 10 * 1024 ** 2, exits: 0, maxExits: 0 });
    await clock.advance(59_999);
    assert.deepEqual(oldSignals(os, before.pids), [[], []], 'no signal during the window');
    await clock.advance(1);
    assert.deepEqual(oldSignals(os, before.pids), [['SIGTERM'], ['SIGTERM']], 'the drain signal when the window ends');
    await clock.advance(DRAIN_MS);
    assert.deepEqual(supervisor.status().generations.map((gen) => gen.generation), [2]);
    assert.equal(supervisor.status().bake, null);
    assert.equal(promotedAt - at, READY_AFTER_MS);
  } finally {
    await cleanup();
  }
});

test('bake: a worker of the new generation that exits rolls back at that instant; the same old workers serve, a dead one is restarted', async () => {
  const { supervisor, os, clock, write, reload, cleanup } = await started({
    config: { slow_start: '0s', bake: '60s' },
    behaviourOf: (version) => (version === 'v2' ? { exitAfterMs: 3_000 } : {}),
  });
  try {
    const before = servingPids(supervisor);
    write('v2');
    const seen = lifecycle(supervisor, clock);
    assert.equal((await reload().result()).outcome, 'promoted');
    const startedAt = os.children.find((child) => child.env.APP_VERSION === 'v2')!;
    await clock.until(new Promise<void>((resolve) => supervisor.events.subscribe((event) => event.event === 'rollback' && resolve())));
    const rollback = seen.find((event) => event.event === 'rollback')!;
    assert.equal(rollback.at - clock.now(), 0);
    assert.equal(rollback.automatic, true);
    assert.match(String(rollback.reason), /worker \d \(pid \d+\) of generation 2 exited with code 1 during the bake window: 1 exit\(s\), no exit is tolerated/);
    assert.ok(startedAt);
    assert.deepEqual(servingPids(supervisor), before, 'the same pids serve again');
    assert.deepEqual(oldSignals(os, before.pids), [[], []]);
    await clock.advance(DRAIN_MS + 1);
    assert.deepEqual(supervisor.status().generations.map((gen) => [gen.generation, gen.state]), [[1, 'serving']]);
    assert.equal(supervisor.status().lastRollback?.from, 2);
    assert.ok(os.alive().every((child) => child.env.APP_VERSION === 'v1'));
  } finally {
    await cleanup();
  }
});

test('canary: holds its share until the hold runs out (on_expiry: rollback), at exactly that instant; supervisor promote goes on from the canary\'s share', async () => {
  const { supervisor, os, clock, write, reload, cleanup } = await started({ config: { slow_start: '1s', canary: { share: '10%', hold: '5m' } } });
  try {
    const before = servingPids(supervisor);
    write('v2');
    const first = reload();
    await clock.until(new Promise<void>((resolve) => first.run.on('progress', ({ event }) => event === 'canary' && resolve())));
    assert.deepEqual(supervisor.status().canary, { generation: 2, from: 1, share: 0.1, remainingMs: 300_000, onExpiry: 'rollback' });
    const refused = supervisor.reload('test');
    assert.match((await clock.until(refused.result)).reason ?? '', /a canary holds: generation 2 gets 10% of new connections: run supervisor promote or supervisor rollback first/);
    await clock.advance(299_999);
    assert.deepEqual(oldSignals(os, before.pids), [[], []]);
    const outcome = await first.result();
    assert.equal(outcome.outcome, 'rolled-back');
    assert.match(outcome.reason ?? '', /the canary hold \(5m\) ran out with no supervisor promote \(on_expiry: rollback\)/);
    assert.equal(outcome.durationMs, READY_AFTER_MS + 300_000 + DRAIN_MS);
    assert.deepEqual(servingPids(supervisor), before);

    write('v3');
    await clock.advance(1_000);
    const second = reload();
    await clock.until(new Promise<void>((resolve) => second.run.on('progress', ({ event }) => event === 'canary' && resolve())));
    await clock.advance(1_000);
    const promoted = supervisor.promoteCanary('supervisor promote');
    await clock.advance(1);
    // The slow start grows from the canary's 10%: one step of 1 s in 10 adds 0.9/11.
    assert.equal(supervisor.status().slowStart!.share, Math.round((0.1 + 0.9 / 11) * 1000) / 1000);
    const result = await clock.until(promoted);
    assert.equal(result?.outcome, 'promoted');
    assert.deepEqual(second.phases.map(([event]) => event).filter((event) => event !== 'worker-ready'), ['starting', 'promoted', 'canary', 'canary-promoted', 'shifted', 'drained', 'drained']);
    assert.equal(await supervisor.promoteCanary('supervisor promote'), null, 'nothing left to promote');
  } finally {
    await cleanup();
  }
});

test('bake: a reload during a bake ends it (the baking generation drains beside the reload); bake.max_rss skips a bake that would hold too much', async () => {
  const { supervisor, os, write, reload, cleanup } = await started({ config: { slow_start: '0s', bake: '60s' } });
  try {
    const first = servingPids(supervisor);
    write('v2');
    assert.equal((await reload().result()).outcome, 'promoted');
    write('v3');
    const third = await reload().result();
    assert.equal(third.outcome, 'promoted');
    assert.deepEqual(oldSignals(os, first.pids), [['SIGTERM'], ['SIGTERM']], 'generation 1 drained when the next reload started');
    assert.deepEqual(supervisor.status().generations.map((gen) => [gen.generation, gen.state]), [[2, 'baking'], [3, 'serving']]);

    // Two fake workers hold 20 MB: over a 15 MB limit the bake is skipped and generation 3 drains at once.
    const serving3 = servingPids(supervisor);
    write('v4', { bake: { window: '60s', max_rss: '15MB' } });
    const fourth = await reload().result();
    assert.equal(fourth.outcome, 'promoted');
    assert.equal(fourth.reason, 'bake skipped: generation 3 holds 20 MB, over bake.max_rss (15 MB)');
    assert.deepEqual(oldSignals(os, serving3.pids), [['SIGTERM'], ['SIGTERM']]);
    assert.equal(supervisor.status().bake, null);
  } finally {
    await cleanup();
  }
});

test('supervisor rollback during a slow start stops the reload at that instant: the previous generation takes every connection back, the new one is stopped', async () => {
  const { supervisor, os, clock, write, reload, cleanup } = await started();
  try {
    const before = servingPids(supervisor);
    write('v2');
    const { run, at, result } = reload();
    await clock.until(new Promise<void>((resolve) => run.on('progress', ({ event }) => event === 'promoted' && resolve())));
    await clock.advance(400);
    const rolled = supervisor.rollback('supervisor rollback');
    const outcome = await result();
    assert.equal(outcome.outcome, 'rolled-back');
    assert.equal(outcome.reason, 'generation 2: rolled back by supervisor rollback');
    assert.equal(outcome.durationMs, clock.now() - at);
    assert.equal(clock.now() - at, READY_AFTER_MS + 400 + DRAIN_MS, 'no wait for the rest of the ramp');
    assert.equal((await clock.until(rolled))?.kind, 'reload');
    assert.deepEqual(servingPids(supervisor), before);
    assert.deepEqual(oldSignals(os, before.pids), [[], []]);
    assert.ok(os.alive().every((child) => child.env.APP_VERSION === 'v1'));
    assert.equal(await supervisor.rollback('supervisor rollback'), null, 'nothing left to roll back to');
  } finally {
    await cleanup();
  }
});
