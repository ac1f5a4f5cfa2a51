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

// Whole reloads driven through the OS seam with pretend workers: no process, no port, no sleep
// longer than the config's own (short) deadlines. The real-process tests in test/integration
// hold the same choreography against the kernel.

const STEPS: ReloadStep[] = ['prepare', 'start-candidate', 'promote', 'shift', 'retire'];

interface Setup {
  behaviourOf?: (version: string) => FakeBehaviour;
  onReloadStep?: (step: ReloadStep) => void;
  slowStart?: string;
}

async function started({ behaviourOf, onReloadStep, slowStart = '200ms' }: Setup = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'reload-steps-'));
  const file = join(dir, 'supervisor.json');
  const write = (version: string) =>
    writeFileSync(file, JSON.stringify({
      listen: '127.0.0.1:1', control: join(dir, 'control.sock'), workers: 2, cwd: dir,
      command: ['node', 'app.js'], env: { APP_VERSION: version }, lossless: 'auto',
      ready: { kind: 'notify', timeout: '300ms' }, drain: { timeout: '200ms' }, slow_start: slowStart,
    }));
  writeFileSync(join(dir, 'app.js'), '');
  write('v1');
  const os = new FakeOs(behaviourOf);
  const log = pino({ level: 'silent' });
  const supervisor = new Supervisor(file, loadConfig(file), log, { stdout: log, stderr: log }, {
    // The config read in-process: these tests are about the steps (test/unit/read-apart covers the daemon's way).
    os, minReloadIntervalMs: 0, readConfig: async (path: string) => loadConfig(path), ...(onReloadStep ? { onReloadStep } : {}),
  });
  supervisor.start();
  await once(supervisor, 'first-ready');
  const cleanup = async () => {
    await supervisor.stop();
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(os.alive().map((child) => child.pid), [], 'every fake worker ended');
  };
  return { supervisor, os, write, cleanup };
}

function servingPids(supervisor: Supervisor) {
  const serving = supervisor.status().generations.find((gen) => gen.state === 'serving')!;
  return { generation: serving.generation, pids: serving.workers.map((worker) => worker.pid) };
}

test('a reload promotes the new generation and ends the old one with the drain signal', async () => {
  const { supervisor, os, write, cleanup } = await started();
  const before = servingPids(supervisor);
  write('v2');
  const result = await supervisor.reload('test').result;
  assert.equal(result.outcome, 'promoted', result.reason ?? '');
  const after = servingPids(supervisor);
  assert.equal(after.generation, 2);
  assert.deepEqual(supervisor.status().generations.map((gen) => gen.generation), [2], 'the old generation is gone');
  for (const pid of before.pids) {
    const old = os.children.find((child) => child.pid === pid)!;
    assert.equal(old.alive, false);
    assert.deepEqual(old.signals[0], 'SIGTERM');
  }
  assert.ok(os.alive().every((child) => child.env.APP_VERSION === 'v2'));
  await cleanup();
});

test('a candidate whose worker exits before ready is rolled back with its last lines; the old pids serve on', async () => {
  const { supervisor, os, write, cleanup } = await started({ behaviourOf: (v) => (v === 'v2' ? { readyAfterMs: null, exitAfterMs: 10 } : {}) });
  const before = servingPids(supervisor);
  write('v2');
  const result = await supervisor.reload('test').result;
  assert.equal(result.outcome, 'rolled-back');
  assert.match(result.reason ?? '', /exited with code 1 before it was ready/);
  assert.ok(result.lastLines.includes('crashed on purpose'));
  assert.deepEqual(servingPids(supervisor), before);
  assert.ok(os.alive().every((child) => child.env.APP_VERSION === 'v1'));
  await cleanup();
});

test('a candidate that never becomes ready is rolled back at ready.timeout', async () => {
  const { supervisor, os, write, cleanup } = await started({ behaviourOf: (v) => (v === 'v2' ? { readyAfterMs: null } : {}) });
  const before = servingPids(supervisor);
  write('v2');
  const result = await supervisor.reload('test').result;
  assert.equal(result.outcome, 'rolled-back');
  assert.match(result.reason ?? '', /was not ready within 300 ms/);
  assert.deepEqual(servingPids(supervisor), before);
  assert.equal(os.alive().length, 2);
  await cleanup();
});

test('a worker that cannot even be spawned fails the reload, naming the error, and the daemon goes on', async () => {
  let failSpawn = false;
  const { supervisor, os, write, cleanup } = await started();
  const spawn = os.process.spawn;
  os.process.spawn = (file, args, options) => {
    if (failSpawn) throw Object.assign(new Error('spawn EMFILE'), { code: 'EMFILE' });
    return spawn(file, args, options);
  };
  const before = servingPids(supervisor);
  write('v2');
  failSpawn = true;
  const failed = await supervisor.reload('test').result;
  assert.equal(failed.outcome, 'failed');
  assert.match(failed.reason ?? '', /step start-candidate: spawn EMFILE: the supervisor may open \d+ files \(RLIMIT_NOFILE\), and this config needs about 44 across a reload .*LimitNOFILE=44 .* \(generation 1 kept serving, generation 2 was stopped\)/);
  assert.deepEqual(servingPids(supervisor), before);
  assert.equal(supervisor.state, 'running');
  failSpawn = false;
  assert.equal((await supervisor.reload('test').result).outcome, 'promoted');
  await cleanup();
});

test('a config that changes a restart-only key is refused, naming the key and why, and nothing starts', async () => {
  const { supervisor, os, write, cleanup } = await started();
  const before = servingPids(supervisor);
  const spawned = os.children.length;
  write('v2');
  const config = JSON.parse(readFileSync(supervisor.configFile, 'utf8'));
  writeFileSync(supervisor.configFile, JSON.stringify({ ...config, backlog: 64 }));
  const result = await supervisor.reload('test').result;
  assert.equal(result.outcome, 'refused');
  assert.match(result.reason ?? '', /config changes 'backlog', which a reload cannot apply \(an accept queue's length is fixed/);
  assert.equal(os.children.length, spawned, 'no worker was started');
  assert.deepEqual(servingPids(supervisor), before);
  await cleanup();
});

test('triggers during a reload coalesce into one follow-up', async () => {
  const { supervisor, write, cleanup } = await started();
  write('v2');
  const events: LifecycleEvent[] = [];
  supervisor.events.subscribe((event) => events.push(event));
  const first = supervisor.reload('SIGHUP');
  const second = supervisor.reload('supervisor reload');
  const third = supervisor.reload('SIGHUP');
  const fourth = supervisor.reload('SIGHUP');
  assert.equal(second, third);
  assert.equal(second, fourth);
  assert.equal((await first.result).generation, 2);
  const follow = await second.result;
  assert.equal(follow.generation, 3);
  assert.equal(follow.trigger, 'supervisor reload, SIGHUP x2');
  assert.equal(supervisor.status().lastReload?.trigger, 'supervisor reload, SIGHUP x2', 'status shows the count');
  const named = (name: string) => events.filter((event) => event.event === name).map((event) => event.trigger);
  assert.deepEqual(named('reload-start'), ['SIGHUP', 'supervisor reload, SIGHUP x2'], 'so do the events');
  assert.deepEqual(named('reload-result'), ['SIGHUP', 'supervisor reload, SIGHUP x2']);
  await cleanup();
});

test('a stop during a slow start ends it at once and drains both generations', async () => {
  const { supervisor, os, write } = await started({ slowStart: '5s' });
  write('v2');
  const run = supervisor.reload('test');
  await new Promise<void>((resolve) => run.on('progress', ({ event }) => event === 'promoted' && resolve()));
  assert.ok(supervisor.status().slowStart !== null, 'the slow start is in progress');
  const stopping = Date.now();
  await supervisor.stop();
  assert.ok(Date.now() - stopping < 2_000, 'the stop did not wait for the 5 s ramp');
  assert.equal((await run.result).outcome, 'promoted');
  assert.deepEqual(os.alive(), []);
});

for (const step of STEPS) {
  test(`a throw in step ${step} settles the reload as failed, one generation serves, and the next reload promotes`, async () => {
    let inject = true;
    const onReloadStep = (entered: ReloadStep) => {
      if (inject && entered === step) throw new Error(`injected at ${step}`);
    };
    const { supervisor, os, write, cleanup } = await started({ onReloadStep });
    const before = servingPids(supervisor);
    write('v2');
    const result = await supervisor.reload('test').result;
    assert.equal(result.outcome, 'failed');
    assert.match(result.reason ?? '', new RegExp(`reload failed in step ${step}: injected at ${step}`));
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
    const next = await supervisor.reload('test').result;
    assert.equal(next.outcome, 'promoted', next.reason ?? '');
    await cleanup();
  });
}
