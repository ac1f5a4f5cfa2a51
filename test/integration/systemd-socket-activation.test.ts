// Socket activation as systemd does it, with Debian's systemd-socket-activate: it binds the port,
// waits for the first connection, then execs the supervisor with LISTEN_FDS=1 / LISTEN_PID (same
// pid). The supervisor must serve that first connection and reload under load without a failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import type { DaemonStatus } from '../../src/control/protocol.js';
import { NotifySocket } from '../../src/native/index.js';
import { cliPath, exampleApp, freePort, get, isAlive, waitFor, type LogLine, collectLogLines, killSpawnedDaemon } from '../helpers/harness.js';
import { LoadClient } from '../helpers/load.js';

const RELOADS = 3;

function activatorProblem(): string | null {
  const probe = spawnSync('systemd-socket-activate', ['--version'], { encoding: 'utf8' });
  if (probe.error) return `systemd-socket-activate is not installed (${probe.error.message}): apt-get install systemd`;
  return null;
}

const problem = activatorProblem();

test('systemd-socket-activate: the passed listener serves the first connection, every worker shares it, reloads under load fail no request', { skip: problem ?? false }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rps-activate-'));
  const port = await freePort();
  const control = path.join(dir, 'supervisor.sock');
  const configPath = path.join(dir, 'supervisor.yaml');
  const config = (version: string) =>
    JSON.stringify({
      listen: `127.0.0.1:${port}`,
      socket: 'reuseport', // socket activation turns this into one shared listener
      slow_start: '1s', // as in examples/supervisor.yaml: it steers when run without the .socket unit
      workers: 2,
      command: ['node', exampleApp],
      env: { APP_VERSION: version },
      ready: { kind: 'notify', timeout: '5s' },
      drain: { signal: 'SIGTERM', timeout: '5s' },
      control,
    });
  writeFileSync(configPath, config('1'));
  const notifyPath = `@rps-test-activate/${process.pid}/${Date.now().toString(36)}`;
  const notify = NotifySocket.bind(notifyPath);
  const notified: string[] = [];
  notify.onMessage((message) => notified.push(message.text));

  const logs: LogLine[] = [];
  const stderr: string[] = [];
  let child: ChildProcess | null = null;
  const loads: LoadClient[] = [];
  try {
    child = spawn(
      'systemd-socket-activate',
      ['-l', `127.0.0.1:${port}`, '-E', `NOTIFY_SOCKET=${notifyPath}`, process.execPath, cliPath, 'run', '-c', configPath],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    collectLogLines(child.stdout!, logs);
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));

    // Nothing runs until the first connection; that connection waits in the queue and is served.
    await waitFor('systemd-socket-activate to listen', () => stderr.join('').includes('Listening on'), 10_000);
    assert.equal(logs.length, 0, 'the supervisor starts only on the first connection');
    const first = await get(port);
    assert.equal(first.status, 200);
    assert.equal(first.headers['x-version'], '1');
    await waitFor('READY=1 on the notify socket', () => notified.some((text) => text.split('\n').includes('READY=1')), 20_000);
    assert.ok(logs.some((line) => line.msg === 'socket activation: the passed listeners are shared by every worker (shared mode)'), JSON.stringify(logs.slice(0, 8)));
    // The config is right for a start without the .socket unit: a fact at info level, no warning.
    assert.deepEqual(logs.filter((line) => Number(line.level) >= 40).map((line) => line.msg), []);
    assert.ok(logs.some((line) => /^socket activation: slow_start does not apply/.test(String(line.msg))), JSON.stringify(logs.slice(0, 8)));

    const cli = (...args: string[]) => execa(process.execPath, [cliPath, ...args, '--socket', control], { reject: false, timeout: 60_000 });
    const status = JSON.parse((await cli('status', '--json')).stdout) as { data: DaemonStatus };
    assert.equal(status.data.socket, 'shared');
    assert.equal(status.data.pid, child.pid, 'systemd-socket-activate execs the supervisor in place (LISTEN_PID = its pid)');

    loads.push(new LoadClient({ port, mode: 'new-connection', concurrency: 12 }), new LoadClient({ port, mode: 'keep-alive', concurrency: 12 }));
    for (const load of loads) load.start();
    for (let i = 0; i < RELOADS; i++) {
      writeFileSync(configPath, config(String(i + 2)));
      const reload = await cli('reload');
      assert.equal(reload.exitCode, 0, `reload ${i + 1}: ${reload.stderr}`);
    }
    const reports = await Promise.all(loads.splice(0).map((load) => load.stop()));
    for (const report of reports) {
      assert.ok(report.ok > 100, `${report.mode}: only ${report.ok} requests succeeded`);
      assert.equal(report.failed, 0, `${report.mode}: ${report.failed} failed: ${JSON.stringify(report.failures)}`);
    }
    assert.equal((await get(port)).headers['x-version'], String(RELOADS + 1));

    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr.join(''));
  } finally {
    await Promise.all(loads.map((load) => load.stop()));
    await killSpawnedDaemon(child, logs);
    notify.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('socket activation of another address than listen: exit 101, which the units\' RestartPreventExitStatus= stops on, naming both lists', { skip: problem ?? false }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rps-activate-'));
  const [passed, configured] = [await freePort(), await freePort()];
  const configPath = path.join(dir, 'supervisor.yaml');
  writeFileSync(configPath, JSON.stringify({ listen: `127.0.0.1:${configured}`, workers: 1, command: ['node', exampleApp], control: path.join(dir, 'supervisor.sock') }));
  const logs: LogLine[] = [];
  const stderr: string[] = [];
  let child: ChildProcess | null = null;
  try {
    child = spawn('systemd-socket-activate', ['-l', `127.0.0.1:${passed}`, process.execPath, cliPath, 'run', '-c', configPath], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    collectLogLines(child.stdout!, logs);
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
    await waitFor('systemd-socket-activate to listen', () => stderr.join('').includes('Listening on'), 10_000);
    // The first connection starts the supervisor, which refuses; the connection is reset with it.
    const first = get(passed).catch((error: Error) => error);
    const code = await Promise.race([exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 20_000))]);
    assert.equal(code, 101, `${stderr.join('')}\n${JSON.stringify(logs)}`);
    assert.ok((await first) instanceof Error, 'nothing served the connection');
    const fatal = logs.find((line) => String(line.msg).startsWith('cannot start:'));
    assert.ok(fatal, JSON.stringify(logs));
    assert.match(String(fatal.msg), new RegExp(`socket activation passed 127\\.0\\.0\\.1:${passed}, but the config listens on 127\\.0\\.0\\.1:${configured}`));
    assert.match(String(fatal.msg), /exit 101: starting again would fail the same way/);
    assert.equal(logs.filter((line) => line.msg === 'worker started').length, 0);
  } finally {
    await killSpawnedDaemon(child, logs);
    rmSync(dir, { recursive: true, force: true });
  }
});
