import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Daemon, exampleApp, fixture, isAlive, sleep, waitFor } from '../helpers/harness.js';

const fast = {
  workers: 2,
  ready: { kind: 'notify', timeout: '5s' },
  drain: { signal: 'SIGTERM', timeout: '3s' },
  restart: { backoff: '100ms', max: '1s', crash_loop: 3 },
};

function app(version: string, extra: Record<string, unknown> = {}) {
  return { ...fast, command: ['node', exampleApp], env: { APP_VERSION: version }, ...extra };
}

async function versionsSeen(daemon: Daemon, requests = 20): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < requests; i++) seen.add(String((await daemon.get()).headers['x-version']));
  return seen;
}

test('starts N ready workers that answer on the port; status shows them', async () => {
  const daemon = await Daemon.start({ config: app('1') });
  try {
    const status = await daemon.status();
    assert.equal(status.state, 'running');
    assert.equal(status.generations.length, 1);
    const [gen] = status.generations;
    assert.equal(gen!.state, 'serving');
    assert.deepEqual(gen!.workers.map((w) => w.state), ['ready', 'ready']);
    assert.ok(gen!.workers.every((w) => w.pid !== null && isAlive(w.pid)));
    assert.deepEqual(await versionsSeen(daemon), new Set(['1']));
    const text = await daemon.cli('status');
    assert.equal(text.exitCode, 0, text.stderr);
    assert.match(text.stdout, /GEN\s+GEN STATE\s+WORKER\s+PID/);
    assert.match(text.stdout, /serving\s+1\s+\d+\s+ready/);
  } finally {
    assert.equal(await daemon.stop(), 0);
  }
});

test('reload promotes a new generation: new pids serve the new version, old pids are gone', async () => {
  const daemon = await Daemon.start({ config: app('1') });
  try {
    const oldPids = await daemon.servingPids();
    daemon.writeConfig(app('2'));
    const reload = await daemon.cli('reload');
    assert.equal(reload.exitCode, 0, reload.stderr);
    assert.match(reload.stdout, /promoted: generation 2 serves/);
    assert.match(reload.stderr, /ready 2\/2/);
    const newPids = await daemon.servingPids();
    assert.equal(newPids.length, 2);
    for (const pid of newPids) assert.ok(!oldPids.includes(pid));
    for (const pid of oldPids) assert.ok(!isAlive(pid), `old worker ${pid} is still alive`);
    assert.deepEqual(await versionsSeen(daemon), new Set(['2']));
    const status = await daemon.status();
    assert.equal(status.generations.length, 1);
    assert.equal(status.lastReload?.outcome, 'promoted');
  } finally {
    await daemon.stop();
  }
});

for (const broken of [
  { name: 'crashes on boot', command: ['node', fixture('crash-on-boot')], reason: /exited with code 3 before it was ready/, line: /crash-on-boot: failing on purpose/ },
  { name: 'is never ready', command: ['node', fixture('never-ready')], reason: /was not ready within 1000 ms/, line: null },
]) {
  test(`a new version that ${broken.name} rolls back; the old pids keep serving`, async () => {
    const daemon = await Daemon.start({ config: app('1') });
    try {
      const oldPids = await daemon.servingPids();
      daemon.writeConfig({ ...app('2'), command: broken.command, ready: { kind: 'notify', timeout: '1s' } });
      const reload = await daemon.cli('reload');
      assert.equal(reload.exitCode, 1, reload.stdout);
      assert.match(reload.stderr, /rolled back: generation 2: worker \d \(pid \d+\)/);
      assert.match(reload.stderr, broken.reason);
      if (broken.line) assert.match(reload.stderr, broken.line);
      assert.deepEqual((await daemon.servingPids()).sort(), oldPids.sort());
      for (const pid of oldPids) assert.ok(isAlive(pid));
      assert.deepEqual(await versionsSeen(daemon), new Set(['1']));
      const status = await daemon.status();
      assert.equal(status.generations.length, 1, 'the failed generation is gone');
      assert.equal(status.lastReload?.outcome, 'rolled-back');
    } finally {
      await daemon.stop();
    }
  });
}

test('an old worker that ignores the drain signal is killed at the drain deadline', async () => {
  const daemon = await Daemon.start({
    config: { ...app('1'), command: ['node', fixture('ignore-sigterm')], drain: { signal: 'SIGTERM', timeout: '1s' } },
  });
  try {
    const oldPids = await daemon.servingPids();
    daemon.writeConfig(app('2'));
    const started = Date.now();
    const reload = await daemon.cli('reload');
    assert.equal(reload.exitCode, 0, reload.stderr);
    assert.match(reload.stdout, /2 old worker\(s\) killed at drain.timeout/);
    assert.ok(Date.now() - started >= 1000, 'the reload waited for the drain deadline');
    for (const pid of oldPids) assert.ok(!isAlive(pid));
    assert.ok(daemon.logs.some((line) => /sent SIGKILL/.test(String(line.msg))));
  } finally {
    await daemon.stop();
  }
});

test('a bad config is refused with its line number and nothing changes', async () => {
  const daemon = await Daemon.start({ config: app('1') });
  try {
    const oldPids = await daemon.servingPids();
    daemon.writeConfig(`listen: 127.0.0.1:{{PORT}}\ncontrol: {{DIR}}/supervisor.sock\nworkers: lots\ncommand: [node, ${exampleApp}]\n`);
    const reload = await daemon.cli('reload');
    assert.equal(reload.exitCode, 1);
    assert.match(reload.stderr, /refused: config rejected/);
    assert.match(reload.stderr, /supervisor\.yaml:3:\d+: workers/);
    const check = await daemon.cli('check', '-c', daemon.configPath);
    assert.equal(check.exitCode, 100);
    assert.match(check.stderr, /supervisor\.yaml:3:\d+: workers/);
    assert.deepEqual((await daemon.servingPids()).sort(), oldPids.sort());
  } finally {
    await daemon.stop();
  }
});

test('SIGHUP reloads, and a burst of triggers coalesces into at most two reloads', async () => {
  const daemon = await Daemon.start({ config: app('1') });
  try {
    daemon.writeConfig(app('2'));
    process.kill(daemon.pid, 'SIGHUP');
    await daemon.waitForLog('SIGHUP reload', (line) => line.msg === 'reload promoted' && line.trigger === 'SIGHUP');
    assert.deepEqual(await versionsSeen(daemon), new Set(['2']));

    const before = daemon.countLogs((line) => line.msg === 'reload promoted');
    const reloadsStarted = () => daemon.countLogs((line) => line.msg === 'supervisor state' && line.to === 'reloading');
    const startedBefore = reloadsStarted();
    daemon.writeConfig(app('3'));
    const cliReload = daemon.cli('reload');
    await waitFor('the reload to start', () => reloadsStarted() > startedBefore);
    for (let i = 0; i < 10; i++) process.kill(daemon.pid, 'SIGHUP');
    const reload = await cliReload;
    assert.equal(reload.exitCode, 0, reload.stderr);
    await waitFor('reloads to settle', async () => {
      const status = await daemon.status();
      return status.state === 'running' && status.generations.length === 1 && daemon.countLogs((line) => line.msg === 'reload promoted') - before >= 2;
    });
    const reloads = daemon.countLogs((line) => line.msg === 'reload promoted') - before;
    const triggers = daemon.logs.filter((line) => line.msg === 'reload promoted').map((line) => line.trigger);
    assert.equal(reloads, 2, `expected the reload and one coalesced follow-up, saw ${reloads}: ${JSON.stringify(triggers)}`);
    assert.deepEqual(await versionsSeen(daemon), new Set(['3']));
  } finally {
    await daemon.stop();
  }
});

test('a worker that dies is restarted with capped exponential backoff', async () => {
  const daemon = await Daemon.start({
    config: { ...app('1'), workers: 1, command: ['node', fixture('crash-after-ready')], env: { CRASH_AFTER_MS: '50' }, restart: { backoff: '100ms', max: '400ms', crash_loop: 5 } },
  });
  try {
    const restarts = await waitFor('four restarts', () => {
      const lines = daemon.logs.filter((line) => /restarting$/.test(String(line.msg)));
      return lines.length >= 4 ? lines.map((line) => line.restartInMs as number) : undefined;
    }, 20_000);
    assert.deepEqual(restarts.slice(0, 4), [100, 200, 400, 400]);
    const status = await daemon.status();
    assert.ok(status.generations[0]!.workers[0]!.restarts >= 3);
  } finally {
    await daemon.stop();
  }
});

test('a worker that dies before ready N times in a row is reported crash looping', async () => {
  const daemon = await Daemon.start({
    config: { ...app('1'), workers: 1, command: ['node', fixture('crash-on-boot')], restart: { backoff: '50ms', max: '200ms', crash_loop: 3 } },
    waitReady: false,
  });
  try {
    await daemon.waitForLog('crash loop report', (line) => /crash looping/.test(String(line.msg)));
    const status = await waitFor('status to show the crash loop', async () => {
      const current = await daemon.status();
      return current.generations[0]!.workers[0]!.crashLooping ? current : undefined;
    });
    assert.ok(status.generations[0]!.workers[0]!.restarts >= 2);
    const text = await daemon.cli('status');
    assert.match(text.stdout, /CRASH LOOP/);
  } finally {
    await daemon.stop();
  }
});

test('supervisor stop drains every worker, exits 0 and leaves no process behind', async () => {
  const daemon = await Daemon.start({ config: app('1') });
  const pids = await daemon.servingPids();
  const stop = await daemon.cli('stop');
  assert.equal(stop.exitCode, 0, stop.stderr);
  assert.match(stop.stdout, /stopped/);
  assert.equal(await daemon.exited(), 0);
  for (const pid of pids) assert.ok(!isAlive(pid), `worker ${pid} outlived the supervisor`);
  const after = await daemon.cli('status');
  assert.equal(after.exitCode, 3);
  assert.match(after.stderr, /no supervisor answers/);
  await daemon.stop();
});

test('kill -9 of the supervisor leaves no worker behind', async () => {
  const daemon = await Daemon.start({ config: app('1') });
  const pids = await daemon.servingPids();
  process.kill(daemon.pid, 'SIGKILL');
  await daemon.exited();
  await waitFor('workers to die with their supervisor', () => pids.every((pid) => !isAlive(pid)), 5_000);
  await daemon.stop();
});
