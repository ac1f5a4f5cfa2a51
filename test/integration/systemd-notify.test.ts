// The daemon under a stand-in for systemd: a real unix datagram socket bound where NOTIFY_SOCKET
// points receives what a Type=notify service manager would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { NotifySocket } from '../../src/native/index.js';
import { monotonicUsec } from '../../src/daemon/ops/systemd.js';
import { Daemon, exampleApp, fixture, sleep, waitFor } from '../helpers/harness.js';

interface Received {
  at: bigint; // CLOCK_MONOTONIC µs when it arrived
  pid: number;
  fields: Record<string, string>;
}

// A fake systemd notify socket (abstract name, unique per test).
function fakeSystemd(label: string) {
  const path = `@rps-test-systemd/${label}/${process.pid}/${Date.now().toString(36)}`;
  const socket = NotifySocket.bind(path);
  const received: Received[] = [];
  socket.onMessage((message) => received.push({ at: monotonicUsec(), pid: message.pid, fields: message.fields }));
  const has = (key: string, value = '1') => (message: Received) => message.fields[key] === value;
  return {
    path,
    received,
    close: () => socket.close(),
    // Waits for the first message from index `from` on that matches; returns its index.
    next: (what: string, predicate: (message: Received) => boolean, from: number, timeoutMs = 20_000) =>
      waitFor(what, () => {
        const index = received.findIndex((message, i) => i >= from && predicate(message));
        return index === -1 ? undefined : index;
      }, timeoutMs),
    has,
  };
}

const fast = {
  workers: 2,
  ready: { kind: 'notify', timeout: '5s' },
  drain: { signal: 'SIGTERM', timeout: '3s' },
  restart: { backoff: '100ms', max: '1s', crash_loop: 3 },
};
const app = (version: string) => ({ ...fast, command: ['node', exampleApp], env: { APP_VERSION: version } });

function environ(pid: number): Record<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  return Object.fromEntries(entries.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
}

test('Type=notify protocol: READY=1, RELOADING=1 + MONOTONIC_USEC then READY=1 (promoted and rolled back), STOPPING=1, STATUS=, WATCHDOG=1 every WATCHDOG_USEC/2', async () => {
  const systemd = fakeSystemd('protocol');
  let daemon: Daemon | null = null;
  try {
    daemon = await Daemon.start({ config: app('1'), env: { NOTIFY_SOCKET: systemd.path, WATCHDOG_USEC: '400000' } });
    const ready = await systemd.next('READY=1', systemd.has('READY'), 0);
    assert.match(systemd.received[ready]!.fields.STATUS ?? '', /^generation 1 serving 2\/2 ready; no reload yet$/);

    // Workers get the supervisor's own notify socket, never systemd's, and no watchdog settings.
    const workers = await daemon.servingPids();
    assert.equal(workers.length, 2);
    for (const pid of workers) {
      const env = environ(pid);
      assert.notEqual(env.NOTIFY_SOCKET, systemd.path, `worker ${pid} got systemd's NOTIFY_SOCKET`);
      assert.match(env.NOTIFY_SOCKET ?? '', /^@reuseport-supervisor\//);
      assert.equal(env.WATCHDOG_USEC, undefined);
    }

    // WATCHDOG=1 at half of WATCHDOG_USEC: every 200 ms.
    const watchFrom = systemd.received.length;
    await sleep(2_000);
    const pings = systemd.received.slice(watchFrom).filter(systemd.has('WATCHDOG')).map((message) => Number(message.at / 1000n));
    assert.ok(pings.length >= 7 && pings.length <= 12, `${pings.length} WATCHDOG=1 in 2 s, expected about 10`);
    const gaps = pings.slice(1).map((at, i) => at - pings[i]!).sort((a, b) => a - b);
    const median = gaps[Math.floor(gaps.length / 2)]!;
    assert.ok(median >= 150 && median <= 260, `median gap between pings ${median} ms, expected 200`);

    // A promoted reload: RELOADING=1 with the current CLOCK_MONOTONIC, then READY=1.
    daemon.writeConfig(app('2'));
    let from = systemd.received.length;
    const promoted = await daemon.cli('reload');
    assert.equal(promoted.exitCode, 0, promoted.stderr);
    let reloading = await systemd.next('RELOADING=1', systemd.has('RELOADING'), from);
    const stamp = BigInt(systemd.received[reloading]!.fields.MONOTONIC_USEC ?? '0');
    const skew = systemd.received[reloading]!.at - stamp;
    assert.ok(skew >= 0n && skew < 1_000_000n, `MONOTONIC_USEC ${stamp} is ${skew} µs from CLOCK_MONOTONIC at arrival`);
    let readyAgain = await systemd.next('READY=1 after the reload', systemd.has('READY'), reloading + 1);
    assert.match(systemd.received[readyAgain]!.fields.STATUS ?? '', /generation 2 serving 2\/2 ready; last reload: promoted generation 2/);

    // A rolled-back reload also ends with READY=1 (the old generation serves); the CLI exits 1.
    daemon.writeConfig({ ...fast, command: ['node', fixture('crash-on-boot')] });
    from = systemd.received.length;
    const rolledBack = await daemon.cli('reload');
    assert.equal(rolledBack.exitCode, 1, rolledBack.stderr);
    reloading = await systemd.next('RELOADING=1', systemd.has('RELOADING'), from);
    readyAgain = await systemd.next('READY=1 after the rollback', systemd.has('READY'), reloading + 1);
    assert.match(systemd.received[readyAgain]!.fields.STATUS ?? '', /generation 2 serving 2\/2 ready; last reload: ROLLED BACK generation 3/);

    from = systemd.received.length;
    assert.equal(await daemon.stop(), 0);
    await systemd.next('STOPPING=1', systemd.has('STOPPING'), from, 5_000);

    const states = systemd.received
      .map((message) => ['READY', 'RELOADING', 'STOPPING'].filter((key) => message.fields[key] === '1').join('+'))
      .filter(Boolean);
    assert.deepEqual(states, ['READY', 'RELOADING', 'READY', 'RELOADING', 'READY', 'STOPPING']);
    const senders = new Set(systemd.received.map((message) => message.pid));
    assert.deepEqual([...senders], [daemon.pid], 'only the supervisor itself writes to systemd');
  } finally {
    await daemon?.stop();
    systemd.close();
  }
});

test('WATCHDOG_PID naming another process: no WATCHDOG=1, everything else as usual', async () => {
  const systemd = fakeSystemd('watchdog-pid');
  let daemon: Daemon | null = null;
  try {
    daemon = await Daemon.start({ config: app('1'), env: { NOTIFY_SOCKET: systemd.path, WATCHDOG_USEC: '200000', WATCHDOG_PID: '1' } });
    await systemd.next('READY=1', systemd.has('READY'), 0);
    await sleep(600);
    assert.equal(systemd.received.filter(systemd.has('WATCHDOG')).length, 0);
  } finally {
    await daemon?.stop();
    systemd.close();
  }
});

test('a stop whose drain outlasts the interval sends EXTEND_TIMEOUT_USEC= repeatedly until the last worker exits', async () => {
  const systemd = fakeSystemd('extend');
  let daemon: Daemon | null = null;
  try {
    daemon = await Daemon.start({
      config: { ...fast, workers: 1, drain: { signal: 'SIGTERM', timeout: '20s' }, command: ['node', fixture('slow-drain')], env: { DRAIN_DELAY_MS: '5600' } },
      env: { NOTIFY_SOCKET: systemd.path },
    });
    await systemd.next('READY=1', systemd.has('READY'), 0);
    const started = monotonicUsec();
    assert.equal(await daemon.stop(), 0);
    const stopping = await systemd.next('STOPPING=1', systemd.has('STOPPING'), 0, 5_000);
    const extensions = systemd.received.slice(stopping).filter((message) => message.fields.EXTEND_TIMEOUT_USEC !== undefined);
    assert.ok(extensions.length >= 2, `${extensions.length} EXTEND_TIMEOUT_USEC during a 5.6 s drain, expected one at once and one after 5 s`);
    for (const message of extensions) {
      assert.equal(message.fields.EXTEND_TIMEOUT_USEC, '10000000', 'each extends by 10 s, more than the 5 s between them');
      assert.ok(message.at - started < 7_000_000n, 'none after the drain ended');
    }
  } finally {
    await daemon?.stop();
    systemd.close();
  }
});
