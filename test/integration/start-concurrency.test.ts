// start_concurrency: a reload starts at most N new workers at a time, the next when one is ready,
// so a small machine is not saturated by N runtimes booting at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Daemon, exampleApp, fixture } from '../helpers/harness.js';

type LogLine = Record<string, unknown>;

// The most workers of generation `gen` that were started and not yet ready at any point, from
// the daemon's log in the order it wrote it.
function mostStartingAtOnce(logs: readonly LogLine[], gen: number): { most: number; ready: number } {
  let starting = 0;
  let most = 0;
  let ready = 0;
  for (const line of logs) {
    if (line.gen !== gen) continue;
    if (line.msg === 'worker started') most = Math.max(most, ++starting);
    if (line.msg === 'worker state' && line.to === 'ready') {
      starting--;
      ready++;
    }
  }
  return { most, ready };
}

const config = (version: string, startConcurrency?: number) => ({
  workers: 3,
  command: ['node', exampleApp],
  env: { APP_VERSION: version },
  ready: { kind: 'notify', timeout: '10s' },
  drain: { signal: 'SIGTERM', timeout: '5s' },
  ...(startConcurrency === undefined ? {} : { start_concurrency: startConcurrency }),
});

test('start_concurrency: 1 starts a reload\'s workers one at a time; the default starts them all at once', async () => {
  const daemon = await Daemon.start({ config: config('1') });
  try {
    daemon.writeConfig(config('2'));
    assert.equal((await daemon.cli('reload')).exitCode, 0);
    assert.deepEqual(mostStartingAtOnce(daemon.logs, 2), { most: 3, ready: 3 }, 'default: all three started before any was ready');

    daemon.writeConfig(config('3', 1));
    const reload = await daemon.cli('reload');
    assert.equal(reload.exitCode, 0, reload.stderr);
    assert.deepEqual(mostStartingAtOnce(daemon.logs, 3), { most: 1, ready: 3 }, 'one at a time, each after the one before was ready');
    const status = await daemon.status();
    assert.deepEqual(status.generations.map((gen) => [gen.generation, gen.state, gen.workers.length]), [[3, 'serving', 3]]);
  } finally {
    await daemon.stop();
  }
});

test('start_concurrency: a worker that never gets ready fails the reload, and the ones after it are never started', async () => {
  const daemon = await Daemon.start({ config: config('1') });
  try {
    daemon.writeConfig({ ...config('2', 1), command: ['node', fixture('never-ready')], ready: { kind: 'notify', timeout: '1s' } });
    const reload = await daemon.cli('reload');
    assert.equal(reload.exitCode, 1, 'rolled back');
    const started = daemon.logs.filter((line) => line.gen === 2 && line.msg === 'worker started');
    assert.equal(started.length, 1, 'only the first of three was started');
    const status = await daemon.status();
    assert.deepEqual(status.generations.map((gen) => [gen.generation, gen.state, gen.workers.length]), [[1, 'serving', 3]]);
  } finally {
    await daemon.stop();
  }
});
