// Misbehaving workers (test/fixtures): what reaches them (argv, environment), what they leave
// behind (forked helpers), how they end (mid-drain, holding a connection), and how much they can
// make the supervisor do (an output flood).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { request } from '../../src/control/client.js';
import { Daemon, fixture, isAlive, sleep, waitFor, type LogLine } from '../helpers/harness.js';

const fast = {
  workers: 1,
  ready: { kind: 'notify', timeout: '5s' },
  drain: { signal: 'SIGTERM', timeout: '2s' },
  restart: { backoff: '50ms', max: '500ms', crash_loop: 5 },
};

const CONTRACT = ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'NOTIFY_SOCKET', 'PORT', 'HOST', 'SUPERVISOR_PID', 'SUPERVISOR_GENERATION', 'SUPERVISOR_WORKER', 'SUPERVISOR_DRAIN_SIGNAL', 'SUPERVISOR_DRAIN_TIMEOUT_MS', 'SUPERVISOR_READY_TIMEOUT_MS'];

test('argv reaches the worker unmodified (no shell), and its environment is exactly env + inherit_env + the contract', async () => {
  const tricky = ['$(touch PWNED)', 'two words', '*', '"quoted"', "it's", 'semi;colon && touch PWNED2', '`touch PWNED3`', '$HOME', '\\n', 'ünïcödé'];
  const daemon = await Daemon.start({
    config: {
      ...fast,
      command: ['node', fixture('dump-env'), 'dump.json', ...tricky],
      env: { FROM_CONFIG: 'yes', EMPTY: '' },
      inherit_env: ['PATH', 'INHERITED_ONE', 'NOT_SET_ANYWHERE'],
    },
    env: { INHERITED_ONE: 'from the supervisor', SECRET_TOKEN: 'must not leak', NOTIFY_SOCKET: '/stale' },
  });
  try {
    const dump = JSON.parse(readFileSync(path.join(daemon.dir, 'dump.json'), 'utf8')) as { pid: number; argv: string[]; env: Record<string, string> };
    assert.deepEqual(dump.argv, ['dump.json', ...tricky]);
    for (const name of ['PWNED', 'PWNED2', 'PWNED3']) assert.equal(existsSync(path.join(daemon.dir, name)), false, `${name} was created: a shell ran`);
    const expected = ['FROM_CONFIG', 'EMPTY', 'PATH', 'INHERITED_ONE', ...CONTRACT].sort();
    assert.deepEqual(Object.keys(dump.env).sort(), expected);
    assert.equal(dump.env.FROM_CONFIG, 'yes');
    assert.equal(dump.env.EMPTY, '');
    assert.equal(dump.env.PATH, process.env.PATH);
    assert.equal(dump.env.INHERITED_ONE, 'from the supervisor');
    assert.equal(dump.env.LISTEN_PID, String(dump.pid), 'LISTEN_PID is the worker itself');
    assert.equal(dump.env.LISTEN_FDS, '1');
    assert.equal(dump.env.LISTEN_FDNAMES, `127.0.0.1_${daemon.port}`, 'the listen address with its ":" written "_" (docs/worker-contract.md)');
    assert.equal(dump.env.SUPERVISOR_PID, String(daemon.pid));
    assert.equal(dump.env.PORT, String(daemon.port));
    assert.equal(dump.env.HOST, '127.0.0.1');
    assert.match(dump.env.NOTIFY_SOCKET!, /^@reuseport-supervisor\//);
    assert.deepEqual([dump.env.SUPERVISOR_GENERATION, dump.env.SUPERVISOR_WORKER, dump.env.SUPERVISOR_DRAIN_SIGNAL, dump.env.SUPERVISOR_DRAIN_TIMEOUT_MS], ['1', '1', 'SIGTERM', '2000']);
  } finally {
    assert.equal(await daemon.stop(), 0);
  }
});

function helperPids(daemon: Daemon, workerPid: number): Promise<number[]> {
  return daemon
    .waitForLog(`helpers of ${workerPid}`, (line) => line.pid === workerPid && /^fork-children: helpers /.test(String(line.msg)))
    .then((line) => String(line.msg).replace('fork-children: helpers ', '').split(',').map(Number));
}

test('helpers a worker forked die with it: after a drain, after a crash, and at stop', async () => {
  const daemon = await Daemon.start({ config: { ...fast, command: ['node', fixture('fork-children')] } });
  const seen: number[] = [];
  try {
    const [first] = await daemon.servingPids();
    const firstHelpers = await helperPids(daemon, first!);
    seen.push(...firstHelpers);
    assert.equal(firstHelpers.length, 3);
    assert.ok(firstHelpers.every(isAlive));

    // Drained by a reload: the worker exits on SIGTERM, its helpers ignore it.
    const reload = await daemon.cli('reload');
    assert.equal(reload.exitCode, 0, reload.stderr);
    await waitFor('the drained worker\'s helpers to be gone', () => firstHelpers.every((pid) => !isAlive(pid)), 3_000);

    // A crash: the worker is SIGKILLed by someone else; what it forked goes too, and it is restarted.
    const [second] = await daemon.servingPids();
    const secondHelpers = await helperPids(daemon, second!);
    seen.push(...secondHelpers);
    process.kill(second!, 'SIGKILL');
    await waitFor('the crashed worker\'s helpers to be gone', () => secondHelpers.every((pid) => !isAlive(pid)), 3_000);
    const third = await waitFor('a replacement', async () => {
      const pids = await daemon.servingPids();
      return pids[0] !== undefined && pids[0] !== second ? pids[0] : undefined;
    });
    const thirdHelpers = await helperPids(daemon, third);
    seen.push(...thirdHelpers);

    // Stop: everything goes.
    assert.equal(await daemon.stop(), 0);
    await waitFor('every helper to be gone after stop', () => thirdHelpers.every((pid) => !isAlive(pid)), 3_000);
  } finally {
    await daemon.stop();
    for (const pid of seen) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
});

test('a worker that dies in the middle of its drain: the reload still promotes and it is not restarted', async () => {
  const daemon = await Daemon.start({ config: { ...fast, workers: 2, command: ['node', fixture('exit-mid-drain')], drain: { signal: 'SIGTERM', timeout: '5s' } } });
  try {
    const old = await daemon.servingPids();
    const started = Date.now();
    const reload = await daemon.cli('reload');
    assert.equal(reload.exitCode, 0, reload.stderr);
    assert.match(reload.stdout, /promoted: generation 2 serves/);
    assert.doesNotMatch(reload.stdout, /killed at drain\.timeout/);
    assert.ok(Date.now() - started < 4_000, 'the reload did not wait for the drain deadline');
    for (const pid of old) assert.ok(!isAlive(pid));
    const exits = daemon.logs.filter((line) => line.gen === 1 && /exited with code 1/.test(String(line.msg)));
    assert.equal(exits.length, 2, 'both old workers were seen to exit with code 1');
    assert.equal(daemon.countLogs((line) => line.gen === 1 && /restarting/.test(String(line.msg))), 0, 'a draining worker is not restarted');
    const status = await daemon.status();
    assert.deepEqual(status.generations.map((gen) => [gen.generation, gen.state]), [[2, 'serving']]);
  } finally {
    await daemon.stop();
  }
});

test('a worker held open by an idle keep-alive connection is killed at the drain deadline, and the client is let go', async () => {
  const daemon = await Daemon.start({ config: { ...fast, command: ['node', fixture('hold-connection')], drain: { signal: 'SIGTERM', timeout: '1s' } } });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const [old] = await daemon.servingPids();
    const held = await new Promise<import('node:net').Socket>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: daemon.port, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(req.socket!));
      });
      req.on('error', reject);
    });
    const closed = new Promise<number>((resolve) => held.once('close', () => resolve(Date.now())));
    const started = Date.now();
    const reload = await daemon.cli('reload');
    assert.equal(reload.exitCode, 0, reload.stderr);
    assert.match(reload.stdout, /1 old worker\(s\) killed at drain\.timeout/);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 1_000 && elapsed < 5_000, `reload took ${elapsed} ms`);
    assert.ok(!isAlive(old!));
    const closedAt = await Promise.race([closed, sleep(3_000).then(() => null)]);
    assert.ok(closedAt !== null, 'the held connection was closed when its worker died');
    assert.equal((await daemon.get()).status, 200, 'the new generation serves');
  } finally {
    agent.destroy();
    await daemon.stop();
  }
});

test('a new worker that dies after ready while its siblings are still starting rolls the reload back, without waiting', async () => {
  const daemon = await Daemon.start({ config: { ...fast, workers: 2, command: ['node', fixture('good-app')] } });
  try {
    const old = await daemon.servingPids();
    daemon.writeConfig({ ...fast, workers: 2, command: ['node', fixture('ready-then-exit')], env: { SLOW_READY_MS: '3000' }, ready: { kind: 'notify', timeout: '5s' } });
    const reload = await daemon.cli('reload');
    assert.equal(reload.exitCode, 1, reload.stdout);
    assert.match(reload.stderr, /rolled back: generation 2: worker 1 \(pid \d+\) exited with code 1 after it was ready, before its generation was promoted/);
    // By the daemon's clock: the rollback follows the death, long before the sibling's READY=1 (3 s).
    const time = (predicate: (line: LogLine) => boolean) => Date.parse(String(daemon.logs.find(predicate)?.time));
    const died = time((line) => line.gen === 2 && line.worker === 1 && /exited with code 1/.test(String(line.msg)));
    const rolledBack = time((line) => line.msg === 'reload rolled-back');
    assert.ok(rolledBack - died < 1_000, `the rollback came ${rolledBack - died} ms after the death`);
    assert.deepEqual((await daemon.servingPids()).sort(), old.sort());
    assert.equal((await daemon.status()).generations.length, 1);
  } finally {
    await daemon.stop();
  }
});

test('an old worker that is ready but accepts nothing, SIGKILLed while its queue is waited on: the reload goes on at once', async () => {
  const daemon = await Daemon.start({ config: { ...fast, command: ['node', fixture('ready-not-accepting')], drain: { signal: 'SIGTERM', timeout: '6s' } } });
  try {
    const [old] = await daemon.servingPids();
    // Requests that complete their handshake and wait in the worker's queue.
    const pending = [1, 2, 3].map(() => daemon.get().then(() => 'answered', (error: NodeJS.ErrnoException) => error.code ?? error.message));
    await sleep(300);
    daemon.writeConfig({ ...fast, command: ['node', fixture('good-app')] });
    const reload = daemon.cli('reload');
    await daemon.waitForLog('the old generation to drain', (line) => line.msg === 'generation state' && line.gen === 1 && line.to === 'draining');
    await sleep(300);
    const killedAt = Date.now();
    process.kill(old!, 'SIGKILL');
    const result = await reload;
    assert.equal(result.exitCode, 0, result.stderr);
    assert.ok(Date.now() - killedAt < 2_000, `the reload waited ${Date.now() - killedAt} ms after the worker died`);
    // What waited in the dead worker's queue is reset at once, not left to time out.
    assert.deepEqual(await Promise.all(pending), ['ECONNRESET', 'ECONNRESET', 'ECONNRESET']);
    assert.equal((await daemon.get()).status, 200);
  } finally {
    await daemon.stop();
  }
});

// Not detected, by design (docs/reliability.md): after READY=1 the supervisor checks only that a
// worker is alive. What it does give: the wedged worker stays in place (no restart storm), status
// says how long it has been up, and a reload replaces it like any other.
test('a worker that turns unhealthy after ready is not detected: it keeps its place until a reload replaces it', async () => {
  const daemon = await Daemon.start({ config: { ...fast, command: ['node', fixture('unhealthy-after-ready')], env: { UNHEALTHY_AFTER_MS: '200' } } });
  try {
    const [pid] = await daemon.servingPids();
    await daemon.waitForLog('the worker to turn unhealthy', (line) => /now answering 500/.test(String(line.msg)));
    assert.equal((await daemon.get()).status, 500);
    const status = await daemon.status();
    assert.deepEqual(status.generations[0]!.workers.map((worker) => [worker.pid, worker.state, worker.restarts]), [[pid, 'ready', 0]]);
    daemon.writeConfig({ ...fast, command: ['node', fixture('good-app')] });
    const reload = await daemon.cli('reload');
    assert.equal(reload.exitCode, 0, reload.stderr);
    assert.equal((await daemon.get()).status, 200);
    assert.ok(!isAlive(pid!));
  } finally {
    await daemon.stop();
  }
});

function rssKb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0);
}

test('a worker flooding stdout and stderr: the supervisor keeps answering, its memory stays bounded, long lines are cut', async (t) => {
  let floodLines = 0;
  let cutLines = 0;
  const daemon = await Daemon.start({
    config: { ...fast, command: ['node', fixture('flood-output')] },
    // The flood itself is counted, not kept: the test's own memory must not be the bottleneck.
    keepLine: (raw) => {
      if (!raw.includes('"stream":')) return true;
      floodLines++;
      if (raw.includes('[line cut at')) cutLines++;
      return false;
    },
  });
  try {
    await sleep(500); // the flood is under way
    const rss: number[] = [rssKb(daemon.pid)];
    const latencies: number[] = [];
    const until = Date.now() + 3_000;
    while (Date.now() < until) {
      const started = performance.now();
      const result = await request(daemon.socketPath, { command: 'status' });
      assert.equal(result.ok, true);
      latencies.push(performance.now() - started);
      rss.push(rssKb(daemon.pid));
      await sleep(100);
    }
    // A reload in the middle of a flood drains the flooding worker like any other.
    const reload = await request(daemon.socketPath, { command: 'reload' });
    assert.equal(reload.ok, true, reload.message);
    rss.push(rssKb(daemon.pid));
    const worst = Math.max(...latencies);
    const growthMb = (Math.max(...rss) - rss[0]!) / 1024;
    const diagnosis = `status latencies max ${worst.toFixed(0)} ms over ${latencies.length}; RSS ${rss[0]} -> max ${Math.max(...rss)} kB; ${floodLines} flood lines, ${cutLines} cut`;
    t.diagnostic(diagnosis);
    assert.ok(floodLines > 1_000, diagnosis);
    assert.ok(cutLines > 0, `no 1 MiB line was cut: ${diagnosis}`);
    assert.ok(worst < 1_000, diagnosis);
    // Bounded, not flat: the supervisor reads a flood at up to 16 MiB/s per worker (output_limit) in
    // 64 KiB buffers that the garbage collector takes back in its own time. Measured growth: 33-38 MB
    // on Node 20 and 22, 70 MB on Node 24 (a lazier young generation); output kept without a bound
    // grows by hundreds of MB in this test.
    assert.ok(growthMb < 96 && Math.max(...rss) < 300 * 1024, diagnosis);
  } finally {
    assert.equal(await daemon.stop(), 0);
  }
});
