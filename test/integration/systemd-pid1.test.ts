// The units `supervisor install-unit` writes, run by a real systemd as PID 1 in namespaces of the
// test's own (test/helpers/systemd-pid1.ts): one boot shared by every check, in order. The stand-in
// notify socket tests (systemd-notify, systemd-socket-activation) stay: they run everywhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { ExitCode, PERMANENT_EXIT_CODES } from '../../src/control/exit-codes.js';
import { cliPath, fixture, root, sleep } from '../helpers/harness.js';
import { hostChanges, hostState } from '../helpers/host-state.js';
import { ownCgroup2, pid1Problem, SystemdPid1 } from '../helpers/systemd-pid1.js';
import type { Answer, SequentialReport } from '../helpers/netns-client.js';

const MAX_EXPOSURE = 4.0; // systemd-analyze security: "OK" or better
const UNIT = 'reuseport-supervisor.service';
const SOCKET = 'reuseport-supervisor.socket';
const CONFIG = '/etc/reuseport-supervisor/supervisor.yaml';
const PORT = 8000;
const netnsClient = path.join(root, 'dist/test/helpers/netns-client.js');

// The package and, where it lives elsewhere (a shared checkout), its node_modules: read-only at
// the same paths inside, so install-unit writes the paths that work on the host.
const modules = realpathSync(path.join(root, 'node_modules'));
const binds = [realpathSync(root), ...(modules.startsWith(realpathSync(root) + path.sep) ? [] : [modules])];
const problem = pid1Problem(binds);

function config(listenPort: number, app: 'good-app' | 'crash-on-boot', version: string): string {
  return JSON.stringify({
    listen: `127.0.0.1:${listenPort}`,
    workers: 2,
    command: ['node', fixture(app)],
    env: { APP_VERSION: version },
    ready: { kind: 'notify', timeout: '10s' },
    drain: { signal: 'SIGTERM', timeout: '5s' },
  });
}

test('a real systemd (PID 1 in its own namespaces) runs the units install-unit writes: start, status, reload, rollback, SIGHUP, watchdog, stop, socket activation, template, hardening, no restart loop on exit 101', { skip: problem ?? false, timeout: 240_000 }, async (t) => {
  const cgroupParent = ownCgroup2()!;
  const before = hostState(cgroupParent);
  const began = Date.now();
  const box = await SystemdPid1.boot(binds);
  t.diagnostic(`systemd booted in ${box.bootMs} ms`);

  const run = async (args: string[], expectCode: number | null = 0) => {
    const result = await box.exec(args);
    if (expectCode !== null) assert.equal(result.exitCode, expectCode, `${args.join(' ')}: ${result.stdout}\n${result.stderr}`);
    return result;
  };
  const writeFile = (file: string, text: string) => run(['sh', '-c', 'mkdir -p "$(dirname "$2")" && printf %s "$1" > "$2"', 'sh', text, file]);
  const show = async (unit: string) => {
    const { stdout } = await run(['systemctl', 'show', unit, '-p', 'ActiveState,SubState,Result,MainPID,NRestarts,ExecMainStatus,StatusText']);
    return Object.fromEntries(stdout.trim().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)])) as Record<string, string>;
  };
  const get = async (port = PORT): Promise<Answer> => {
    const child = box.spawnInNetwork([process.execPath, netnsClient, 'get', String(port)]);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    await new Promise((resolve) => child.once('exit', resolve));
    return JSON.parse(out) as Answer;
  };
  // One request at a time on new connections until stop(): the count of failed requests.
  const sequential = async () => {
    const child = box.spawnInNetwork([process.execPath, netnsClient, 'sequential', String(PORT)]);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await waitUntil('the client to start', async () => out.startsWith('started'), 10_000);
    return {
      stop: async (): Promise<SequentialReport> => {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(timer);
        return JSON.parse(out.split('\n')[1]!) as SequentialReport;
      },
      kill: () => child.kill('SIGKILL'),
    };
  };

  try {
    await t.test('install-unit writes the units into the container\'s /etc/systemd/system', async () => {
      await writeFile(CONFIG, config(PORT, 'good-app', '1'));
      await run([process.execPath, cliPath, 'install-unit', '--socket', '-c', CONFIG]);
      // A watchdog a test can wait for (the unit's own is 30 s). The supervisor pings every half
      // of it, so a freeze is noticed between 3 and 6 s after it began.
      await writeFile(`/etc/systemd/system/${UNIT}.d/watchdog.conf`, '[Service]\nWatchdogSec=6s\nTimeoutAbortSec=5s\n');
      await run(['systemctl', 'daemon-reload']);
      const unit = await run(['systemctl', 'cat', UNIT]);
      assert.match(unit.stdout, new RegExp(`^RestartPreventExitStatus=${PERMANENT_EXIT_CODES.join(' ')}$`, 'm'));
    });

    await t.test('systemctl start returns once every worker is ready (READY=1); systemctl status shows STATUS=', async () => {
      await run(['systemctl', 'start', UNIT]);
      const status = JSON.parse((await run([process.execPath, cliPath, 'status', '--json'])).stdout) as { data: { generations: { workers: { state: string }[] }[] } };
      assert.deepEqual(status.data.generations[0]!.workers.map((worker) => worker.state), ['ready', 'ready'], 'start returned before the workers were ready');
      assert.equal((await get()).version, '1');
      const shown = await run(['systemctl', 'status', '--no-pager', UNIT]);
      assert.match(shown.stdout, /Active: active \(running\)/);
      assert.match(shown.stdout, /Status: "generation 1 serving 2\/2 ready/);
    });

    await t.test('systemctl reload promotes a new generation', async () => {
      await writeFile(CONFIG, config(PORT, 'good-app', '2'));
      const started = Date.now();
      await run(['systemctl', 'reload', UNIT]);
      const tookMs = Date.now() - started;
      assert.equal((await get()).version, '2');
      assert.match((await show(UNIT)).StatusText!, /last reload: promoted generation 2/);
      const promoted = /promoted: generation 2 serves \(([\d.]+)s\)/.exec((await run(['journalctl', '-u', UNIT, '-o', 'cat', '--no-pager'])).stdout);
      assert.ok(promoted, 'ExecReload= printed the verdict to the journal');
      t.diagnostic(`systemctl reload: ${tookMs} ms, of which the reload ${promoted[1]} s`);
    });

    await t.test('systemctl reload of a release that crashes fails with the rollback\'s reason; the old workers serve', async () => {
      await writeFile(CONFIG, config(PORT, 'crash-on-boot', '3'));
      const reload = await run(['systemctl', 'reload', UNIT], null);
      assert.notEqual(reload.exitCode, 0, 'the reload job must fail');
      const journal = await run(['journalctl', '-u', UNIT, '-o', 'cat', '--no-pager']);
      assert.match(journal.stdout, /supervisor: rolled back: generation 3: worker \d \(pid \d+\) exited with code 3 before it was ready/);
      assert.match((await show(UNIT)).StatusText!, /ROLLED BACK generation 3/);
      assert.equal((await get()).version, '2');
    });

    await t.test('SIGHUP to the supervisor reloads', async () => {
      await writeFile(CONFIG, config(PORT, 'good-app', '4'));
      await run(['systemctl', 'kill', '--signal=SIGHUP', '--kill-whom=main', UNIT]);
      await waitUntil('version 4 to serve', async () => (await get()).version === '4', 30_000);
    });

    await t.test('the watchdog restarts a frozen supervisor; its workers answer while it is frozen', async () => {
      const before = await show(UNIT);
      const client = await sequential();
      try {
        await run(['systemctl', 'kill', '--signal=SIGSTOP', '--kill-whom=main', UNIT]);
        await sleep(2_000); // before the watchdog can fire (3 s at the earliest)
        const frozen = await client.stop();
        assert.equal(frozen.failed, 0, JSON.stringify(frozen));
        assert.ok(frozen.ok >= 5, JSON.stringify(frozen));
      } finally {
        client.kill();
      }
      await waitUntil('the watchdog to restart the service', async () => {
        const now = await show(UNIT);
        return now.NRestarts === String(Number(before.NRestarts) + 1) && now.SubState === 'running' && now.MainPID !== before.MainPID && /serving 2\/2 ready/.test(now.StatusText!);
      }, 40_000);
      const journal = await run(['journalctl', '-u', UNIT, '-o', 'cat', '--no-pager']);
      assert.match(journal.stdout, /Watchdog timeout/);
      assert.equal((await get()).version, '4');
    });

    await t.test('systemctl stop drains and exits 0, nothing left in the cgroup', async () => {
      await run(['systemctl', 'stop', UNIT]);
      const state = await show(UNIT);
      assert.deepEqual([state.ActiveState, state.Result, state.ExecMainStatus], ['inactive', 'success', '0']);
      const left = await run(['sh', '-c', `cat /sys/fs/cgroup/system.slice/${UNIT}/cgroup.procs 2>/dev/null || true`]);
      assert.equal(left.stdout.trim(), '');
      assert.ok((await get()).error, 'nothing listens any more');
    });

    await t.test('socket activation: sequential requests across a restart and a reload, none failed', async () => {
      await writeFile(CONFIG, config(PORT, 'good-app', '5'));
      await run(['systemctl', 'start', SOCKET]);
      const client = await sequential(); // its first connection starts the service
      try {
        await waitUntil('the socket to start the service', async () => (await show(UNIT)).SubState === 'running', 30_000);
        await run(['systemctl', 'restart', UNIT]);
        await writeFile(CONFIG, config(PORT, 'good-app', '6'));
        await run(['systemctl', 'reload', UNIT]);
        await sleep(500);
        const report = await client.stop();
        assert.equal(report.failed, 0, JSON.stringify(report));
        assert.ok(report.ok >= 20, JSON.stringify(report));
        assert.ok(report.versions['5']! > 0 && report.versions['6']! > 0, JSON.stringify(report));
        t.diagnostic(`socket activation: ${report.ok} sequential requests across a restart and a reload, ${report.failed} failed`);
      } finally {
        client.kill();
      }
      await run(['systemctl', 'stop', SOCKET, UNIT]);
    });

    await t.test('the template unit: one instance per app with its own config and control socket', async () => {
      await writeFile('/etc/reuseport-supervisor/demo.yaml', config(PORT + 1, 'good-app', 'demo'));
      await run(['systemctl', 'start', 'reuseport-supervisor@demo.service']);
      assert.equal((await get(PORT + 1)).version, 'demo');
      const status = await run([process.execPath, cliPath, 'status', '--socket', '/run/reuseport-supervisor/demo/supervisor.sock']);
      assert.match(status.stdout, /running/);
      await run(['systemctl', 'reload', 'reuseport-supervisor@demo.service']);
      await run(['systemctl', 'stop', 'reuseport-supervisor@demo.service']);
    });

    await t.test(`systemd-analyze security rates the running unit ${MAX_EXPOSURE.toFixed(1)} or lower`, async () => {
      const analysis = await run(['systemd-analyze', 'security', '--no-pager', UNIT], null);
      const match = /Overall exposure level for \S+: (\d+\.\d+)/.exec(analysis.stdout);
      assert.ok(match, analysis.stdout.slice(-500) + analysis.stderr);
      assert.ok(Number(match[1]) <= MAX_EXPOSURE, analysis.stdout.slice(-500));
      t.diagnostic(`systemd-analyze security ${UNIT}: ${match[1]}`);
    });

    await t.test(`a .socket unit that does not match listen: exit ${ExitCode.unfit}, no restart loop, and the socket gives up instead of keeping clients waiting`, async () => {
      await writeFile(CONFIG, config(PORT + 2, 'good-app', '7')); // the socket unit still listens on PORT
      await run(['systemctl', 'start', SOCKET]);
      const first = get(); // starts the service, which refuses
      // Every start fails the same way; the connection left in the queue starts it again until
      // the socket's trigger limit (or the service's start limit, when starts are quick) ends it.
      await waitUntil('the socket to give up', async () => (await show(SOCKET)).ActiveState === 'failed', 120_000);
      const socket = await show(SOCKET);
      assert.ok(['trigger-limit-hit', 'service-start-limit-hit'].includes(socket.Result!), JSON.stringify(socket));
      const state = await show(UNIT);
      assert.equal(state.ExecMainStatus, String(ExitCode.unfit));
      assert.equal(state.NRestarts, '0', 'Restart= restarted a start that cannot succeed');
      assert.equal(state.ActiveState, 'failed');
      const journal = (await run(['journalctl', '-u', UNIT, '-o', 'cat', '--no-pager'])).stdout;
      assert.match(journal, /socket activation passed 127\.0\.0\.1:8000, but the config listens on 127\.0\.0\.1:8002/);
      const starts = journal.split('\n').filter((line) => line.includes('exit 101: starting again would fail')).length;
      assert.ok(starts >= 1 && starts <= 5, `${starts} starts`);
      assert.equal((await get()).error, 'ECONNREFUSED', 'the port is closed: new clients are refused, not queued');
      t.diagnostic(`exit ${ExitCode.unfit}: ${starts} start(s), NRestarts=${state.NRestarts}, ${SOCKET} ${socket.Result}; the client that started it: ${JSON.stringify(await first)}`);
      await run(['systemctl', 'reset-failed', UNIT, SOCKET]);
    });
  } finally {
    // Both checks run whatever failed before them; a leftover is worse than a failed check.
    const shutdown = await box.shutdown().then(() => null, (error: Error) => error.message);
    const changes = hostChanges(before, hostState(cgroupParent));
    t.diagnostic(`boot, checks and shutdown: ${((Date.now() - began) / 1000).toFixed(1)} s`);
    assert.deepEqual({ shutdown, changes }, { shutdown: null, changes: [] }, 'the container is gone and the host is as it was');
  }
});

async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}
