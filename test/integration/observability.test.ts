// What an operator sees (issue 7): status --json against its documented schema, the event stream
// during a reload and a rollback, metrics values after reloads, the health endpoint while
// stopping, reload progress on a terminal and on a pipe, --no-wait and --timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { cliPath, Daemon, exampleApp, fixture, freePort, get, root, waitFor } from '../helpers/harness.js';
import { keyPaths, statusResultSchema } from '../helpers/status-schema.js';

const fast = {
  workers: 2,
  ready: { kind: 'notify', timeout: '5s' },
  drain: { signal: 'SIGTERM', timeout: '3s' },
  restart: { backoff: '100ms', max: '1s', crash_loop: 3 },
};
const app = (version: string, extra: Record<string, unknown> = {}) => ({ ...fast, command: ['node', exampleApp], env: { APP_VERSION: version }, ...extra });
const crashing = { ...fast, command: ['node', fixture('crash-on-boot')], ready: { kind: 'notify', timeout: '2s' } };

// A Prometheus text page as "name{labels}" -> value.
function parseMetrics(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

function metric(values: Map<string, number>, key: string): number {
  const value = values.get(key);
  assert.notEqual(value, undefined, `metric ${key} is missing; have: ${[...values.keys()].filter((name) => name.startsWith('supervisor_')).join(', ')}`);
  return value!;
}

// `supervisor events --json` as a child process: its frames, and a way to end it like Ctrl-C.
class EventsClient {
  readonly frames: Array<Record<string, unknown>> = [];
  readonly child: ChildProcess;
  readonly #exit: Promise<number | null>;

  constructor(socketPath: string) {
    this.child = spawn(process.execPath, [cliPath, 'events', '--json', '--socket', socketPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#exit = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    let pending = '';
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf('\n')) !== -1) {
        this.frames.push(JSON.parse(pending.slice(0, newline)) as Record<string, unknown>);
        pending = pending.slice(newline + 1);
      }
    });
  }

  events(name?: string): Array<Record<string, unknown>> {
    return this.frames.filter((frame) => frame.type === 'event' && (name === undefined || frame.event === name));
  }

  waitFor(what: string, predicate: (frame: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
    return waitFor(what, () => this.frames.find(predicate), 15_000);
  }

  async interrupt(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGINT');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    const code = await this.#exit;
    clearTimeout(timer);
    return code;
  }
}

test('status --json matches the documented schema 1, before and after reloads; the table shows uptime', async () => {
  const daemon = await Daemon.start({ config: app('1') });
  try {
    const before = statusResultSchema.parse(JSON.parse((await daemon.cli('status', '--json')).stdout));
    assert.equal(before.data.lastReload, null);
    assert.equal(before.data.generations[0]!.workers.every((worker) => worker.uptimeMs !== null && worker.pid !== null), true);
    daemon.writeConfig(app('2'));
    assert.equal((await daemon.cli('reload')).exitCode, 0);
    daemon.writeConfig(crashing);
    assert.equal((await daemon.cli('reload')).exitCode, 1);
    const after = statusResultSchema.parse(JSON.parse((await daemon.cli('status', '--json')).stdout));
    assert.equal(after.data.lastReload?.outcome, 'rolled-back');
    assert.equal(after.data.generations[0]!.generation, 2);

    // Every field the daemon reports is named in docs/status-schema.md.
    const docs = readFileSync(path.join(root, 'docs/status-schema.md'), 'utf8');
    const undocumented = [...new Set([...keyPaths(before.data), ...keyPaths(after.data)])].filter((key) => !docs.includes(`\`${key}\``));
    assert.deepEqual(undocumented, [], 'fields missing from docs/status-schema.md');

    const text = await daemon.cli('status');
    assert.match(text.stdout, /GEN\s+GEN STATE\s+WORKER\s+PID\s+STATE\s+UPTIME\s+READY SINCE/);
    assert.match(text.stdout, /last reload of .*: rolled-back \(generation 3\)/);

    // --watch on a pipe: one JSON status per interval, until Ctrl-C (exit 0).
    const watch = spawn(process.execPath, [cliPath, 'status', '--watch', '--interval', '200ms', '--json', '--socket', daemon.socketPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      watch.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      await waitFor('three snapshots', () => out.split('\n').length > 3, 10_000);
      for (const line of out.trim().split('\n')) statusResultSchema.parse(JSON.parse(line));
      const exited = new Promise((resolve) => watch.once('exit', resolve));
      watch.kill('SIGINT');
      assert.equal(await exited, 0);
    } finally {
      if (watch.exitCode === null) watch.kill('SIGKILL');
    }
  } finally {
    await daemon.stop();
  }
});

test('events: a reload and a rollback stream in order; a client that hangs up is unsubscribed', async () => {
  const daemon = await Daemon.start({ config: app('1') });
  const client = new EventsClient(daemon.socketPath);
  try {
    await client.waitFor('subscribed', (frame) => frame.event === 'subscribed');
    assert.equal((await daemon.status()).eventSubscribers, 1);

    daemon.writeConfig(app('2'));
    assert.equal((await daemon.cli('reload')).exitCode, 0);
    await client.waitFor('promoted result', (frame) => frame.event === 'reload-result');
    const promoted = client.events().map((frame) => String(frame.event === 'reload-phase' ? `phase:${frame.phase}` : frame.event));
    const order = ['reload-start', 'phase:starting', 'worker-started', 'phase:worker-ready', 'phase:promoted', 'worker-drained', 'phase:drained', 'reload-result'];
    let at = -1;
    for (const name of order) {
      const next = promoted.indexOf(name, at + 1);
      assert.ok(next > at, `${name} after position ${at} in ${promoted.join(' ')}`);
      at = next;
    }
    const readyStates = client.events('worker-state').filter((frame) => frame.gen === 2 && frame.to === 'ready');
    assert.equal(readyStates.length, 2);
    assert.deepEqual(client.events('generation-state').map((frame) => `${frame.gen}:${frame.from}->${frame.to}`), ['2:starting->serving', '1:serving->draining', '1:draining->retired']);
    assert.equal(client.events('reload-result')[0]!.outcome, 'promoted');

    daemon.writeConfig(crashing);
    assert.equal((await daemon.cli('reload')).exitCode, 1);
    const rolledBack = await client.waitFor('rollback result', (frame) => frame.event === 'reload-result' && frame.outcome === 'rolled-back');
    assert.match(String(rolledBack.reason), /generation 3: worker \d \(pid \d+\) exited with code 3 before it was ready/);
    assert.deepEqual(rolledBack.lastLines, ['crash-on-boot: failing on purpose']);
    assert.ok(client.events('reload-phase').some((frame) => frame.phase === 'rolling-back' && frame.generation === 3));
    assert.ok(client.events('generation-state').some((frame) => frame.gen === 3 && frame.to === 'failed'));
    assert.ok(client.events('worker-exit').some((frame) => frame.gen === 3 && frame.code === 3 && frame.restartInMs === null));
    for (const frame of client.events()) assert.match(String(frame.time), /^\d{4}-\d\d-\d\dT.*Z$/);

    assert.equal(await client.interrupt(), 0, 'Ctrl-C ends `supervisor events` with exit 0');
    await waitFor('the subscription to end', async () => (await daemon.status()).eventSubscribers === 0, 5_000);
  } finally {
    await client.interrupt();
    await daemon.stop();
  }
});

test('metrics after reloads: generation, workers, reloads by result, durations, SIGKILLs; /healthz says draining while stopping', async () => {
  const metricsPort = await freePort();
  // Generation 1 ignores SIGTERM: its two workers are killed at drain.timeout on the reload.
  const daemon = await Daemon.start({
    config: { ...app('1'), command: ['node', fixture('ignore-sigterm')], drain: { signal: 'SIGTERM', timeout: '300ms' }, metrics: `127.0.0.1:${metricsPort}`, stop_grace: '1500ms' },
  });
  try {
    const health = await get(metricsPort, '/healthz');
    assert.deepEqual([health.status, health.body], [200, 'serving\n']);
    daemon.writeConfig({ ...app('2'), metrics: `127.0.0.1:${metricsPort}`, stop_grace: '1500ms' });
    assert.equal((await daemon.cli('reload')).exitCode, 0);
    daemon.writeConfig({ ...crashing, metrics: `127.0.0.1:${metricsPort}`, stop_grace: '1500ms' });
    assert.equal((await daemon.cli('reload')).exitCode, 1);

    const page = await get(metricsPort, '/metrics');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const values = parseMetrics(page.body);
    assert.equal(metric(values, 'supervisor_generation'), 2);
    assert.equal(metric(values, 'supervisor_state{state="running"}'), 1);
    assert.equal(metric(values, 'supervisor_workers{generation="2",state="ready"}'), 2);
    assert.equal(metric(values, 'supervisor_workers{generation="2",state="starting"}'), 0);
    assert.equal(values.has('supervisor_workers{generation="1",state="ready"}'), false, 'a retired generation leaves the gauge');
    assert.equal(metric(values, 'supervisor_accept_queue{generation="2",worker="1"}'), 0);
    assert.equal(metric(values, 'supervisor_accept_queue{generation="2",worker="2"}'), 0);
    assert.equal(metric(values, 'supervisor_reloads_total{result="promoted"}'), 1);
    assert.equal(metric(values, 'supervisor_reloads_total{result="rolled-back"}'), 1);
    assert.equal(metric(values, 'supervisor_reloads_total{result="refused"}'), 0);
    assert.equal(metric(values, 'supervisor_reload_duration_seconds_count{result="promoted"}'), 1);
    const promotedSeconds = metric(values, 'supervisor_reload_duration_seconds_sum{result="promoted"}');
    const lastReload = (await daemon.status()).lastReload!;
    assert.equal(lastReload.outcome, 'rolled-back');
    // The promoted reload waited for the SIGKILL deadline (300 ms) of the old workers.
    assert.ok(promotedSeconds >= 0.3 && promotedSeconds < 10, `promoted reload took ${promotedSeconds}s`);
    assert.equal(metric(values, 'supervisor_reload_duration_seconds_bucket{le="0.25",result="promoted"}'), 0);
    assert.equal(metric(values, 'supervisor_reload_duration_seconds_bucket{le="+Inf",result="promoted"}'), 1);
    assert.equal(metric(values, 'supervisor_reload_duration_seconds_count{result="rolled-back"}'), 1);
    assert.equal(metric(values, 'supervisor_drain_sigkills_total'), 2);
    // Two drained by the promotion (killed at 300 ms each), plus whichever workers of the failed
    // generation 3 were still alive to drain when its first worker crashed.
    const drains = metric(values, 'supervisor_drain_duration_seconds_count');
    assert.ok(drains >= 2 && drains <= 4, `${drains} drains`);
    assert.ok(metric(values, 'supervisor_drain_duration_seconds_sum') >= 0.6);
    assert.ok(metric(values, 'supervisor_drain_duration_seconds_bucket{le="0.25"}') <= drains - 2, 'the killed workers took >= 300 ms');
    assert.equal(metric(values, 'supervisor_worker_restarts_total'), 0);
    assert.ok(metric(values, 'process_resident_memory_bytes') > 0, 'the supervisor process\'s own metrics');

    assert.equal((await get(metricsPort, '/nope')).status, 404);
    daemon.child.kill('SIGTERM');
    const draining = await waitFor('/healthz to say draining', async () => {
      const answer = await get(metricsPort, '/healthz');
      return answer.status === 503 ? answer : undefined;
    }, 5_000);
    assert.equal(draining.body, 'draining\n');
    // stop_grace: the workers still serve while the health check turns the host away.
    assert.equal((await daemon.get()).status, 200);
    assert.deepEqual([(await get(metricsPort, '/livez')).status], [200]);
    assert.equal(await daemon.exited(), 0);
  } finally {
    await daemon.stop();
  }
});

const haveScript = spawnSync('script', ['--version']).status === 0;

test('reload progress: a spinner redrawn in place on a pseudo-terminal, plain lines on a pipe', { skip: haveScript ? false : 'script (util-linux) is not installed' }, async () => {
  const daemon = await Daemon.start({ config: app('1') });
  try {
    daemon.writeConfig(app('2'));
    const command = [process.execPath, cliPath, 'reload', '--socket', daemon.socketPath].map((word) => `'${word}'`).join(' ');
    const tty = await execa('script', ['-qfec', command, '/dev/null'], { reject: false, timeout: 60_000, env: { TERM: 'xterm' } });
    assert.equal(tty.exitCode, 0, tty.stdout);
    const screen = tty.stdout;
    assert.ok(screen.includes('\r\x1b[K'), 'redraws the line in place');
    assert.match(screen, /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] (checking the config|starting generation 2)/);
    assert.match(screen, /✓ config valid; release \//);
    assert.match(screen, /✓ generation 2 ready: 2\/2 worker\(s\) in \d+\.\ds/);
    assert.match(screen, /✓ steering: new connections go to generation 2/);
    assert.match(screen, /✓ generation 1 drained: 2 worker\(s\) in \d+\.\ds/);
    assert.match(screen, /promoted: generation 2 serves \(\d+\.\ds\)/);

    daemon.writeConfig(app('3'));
    const pipe = await daemon.cli('reload');
    assert.equal(pipe.exitCode, 0, pipe.stderr);
    assert.ok(!pipe.stderr.includes('\x1b') && !pipe.stdout.includes('\x1b'), 'no escape sequences on a pipe');
    assert.deepEqual(pipe.stderr.trim().split('\n').map((line) => line.replace(/\d+/g, 'N')), [
      'reload accepted by supervisor pid N',
      `starting generation N: N worker(s) in ${daemon.dir.replace(/\d+/g, 'N')}`,
      '  ready N/N: worker N (pid N)',
      '  ready N/N: worker N (pid N)',
      'generation N serves; draining generation N (N worker(s))',
      '  drained N/N',
      '  drained N/N',
    ]);
    assert.match(pipe.stdout, /^promoted: generation 3 serves \(\d+\.\ds\)\n?$/);

    daemon.writeConfig(crashing);
    const failed = await execa('script', ['-qfec', command, '/dev/null'], { reject: false, timeout: 60_000, env: { TERM: 'xterm' } });
    assert.equal(failed.exitCode, 1, failed.stdout);
    assert.match(failed.stdout, /✗ generation 4 failed: worker \d \(pid \d+\) exited with code 3 before it was ready/);
    assert.match(failed.stdout, /supervisor: rolled back: generation 4/);
  } finally {
    await daemon.stop();
  }
});

test('reload --no-wait exits 0 once accepted and the reload still runs; --timeout exits 5 and the reload goes on', async () => {
  // Old workers take 2.5 s to drain, so a reload outlasts the client and a short --timeout.
  const slow = (version: string) => ({ ...app(version), command: ['node', fixture('slow-drain')], env: { APP_VERSION: version, DRAIN_DELAY_MS: '2500' } });
  const promotedLogs = (daemon: Daemon, generation: number) => daemon.countLogs((line) => line.msg === 'reload promoted' && line.gen === generation);
  const daemon = await Daemon.start({ config: slow('1') });
  try {
    daemon.writeConfig(slow('2'));
    const noWait = await daemon.cli('reload', '--no-wait');
    assert.equal(noWait.exitCode, 0, noWait.stderr);
    assert.match(noWait.stdout, /reload accepted by supervisor pid \d+; not waiting for it/);
    assert.equal(promotedLogs(daemon, 2), 0, 'the client returned before the reload ended');
    await waitFor('generation 2 to be promoted without a waiting client', async () => (await daemon.status()).lastReload?.outcome === 'promoted', 15_000);
    assert.equal((await daemon.status()).lastReload?.generation, 2);

    daemon.writeConfig(slow('3'));
    const timedOut = await daemon.cli('reload', '--timeout', '300ms', '--json');
    assert.equal(timedOut.exitCode, 5, timedOut.stderr);
    const lines = timedOut.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.equal(lines[0]!.event, 'accepted');
    assert.deepEqual([lines.at(-1)!.type, lines.at(-1)!.ok, lines.at(-1)!.code], ['result', false, 5]);
    assert.match(String(lines.at(-1)!.message), /still reloading after 300ms: (checking the config|starting generation 3: \d\/2 worker\(s\) ready|generation 3 serves: draining generation 2, 0\/2 worker\(s\) gone|draining generation 2: \d\/2 worker\(s\) gone); stopped waiting, the reload goes on/);
    assert.equal((lines.at(-1)!.data as { timedOut: boolean }).timedOut, true);
    assert.equal(promotedLogs(daemon, 3), 0, 'the client gave up before the reload ended');
    await waitFor('generation 3 to be promoted after the client gave up', async () => (await daemon.status()).lastReload?.generation === 3, 15_000);

    const bad = await daemon.cli('reload', '--timeout', 'soon');
    assert.equal(bad.exitCode, 100);
    assert.match(bad.stderr, /--timeout: invalid duration "soon"/);
  } finally {
    await daemon.stop();
  }
});

test('reload --timeout after the daemon announced a rollback: exit 1 with the rollback\'s reason, not "still reloading"; a verdict before the timeout is reported as it is', async () => {
  // The new workers never get ready and ignore the drain signal: the rollback is announced at
  // ready.timeout (1 s), but stopping them takes until drain.timeout (10 s) more.
  const stubborn = { ...fast, command: ['sh', '-c', 'trap "" TERM; echo stubborn on boot; exec sleep 60'], ready: { kind: 'notify', timeout: '1s' }, drain: { signal: 'SIGTERM', timeout: '10s' } };
  const daemon = await Daemon.start({ config: app('1') });
  try {
    daemon.writeConfig(stubborn);
    const cut = await daemon.cli('reload', '--timeout', '3s', '--json');
    assert.equal(cut.exitCode, 1, cut.stdout + cut.stderr);
    assert.equal((await daemon.status()).state, 'reloading', 'the client answered before the daemon settled the rollback');
    const lines = cut.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.ok(lines.some((line) => line.event === 'rolling-back'), cut.stdout);
    const result = lines.at(-1)!;
    assert.deepEqual([result.type, result.ok, result.code], ['result', false, 1]);
    assert.match(String(result.message), /^rolled back: generation 2: worker \d \(pid \d+\) was not ready within 1000 ms .*\(stopped waiting after 3s while the daemon stops generation 2; the old generation serves: follow it with supervisor events or status\)$/);
    assert.deepEqual((result.data as { rollingBack: { generation: number } }).rollingBack.generation, 2);
    // The daemon settles it as the client said, once the stubborn workers are killed.
    await waitFor('the rollback to settle', async () => (await daemon.status()).lastReload?.outcome === 'rolled-back', 15_000);
    assert.equal((await daemon.get('/')).headers['x-version'], '1', 'the old generation serves');

    // The verdict before the timeout: the daemon's own, with no word of a timeout.
    daemon.writeConfig(crashing);
    const whole = await daemon.cli('reload', '--timeout', '30s');
    assert.equal(whole.exitCode, 1, whole.stderr);
    assert.match(whole.stderr, /supervisor: rolled back: generation 3: worker \d \(pid \d+\) exited with code 3 before it was ready$/);
    assert.doesNotMatch(whole.stderr, /stopped waiting|still reloading/);
  } finally {
    await daemon.stop();
  }
});
