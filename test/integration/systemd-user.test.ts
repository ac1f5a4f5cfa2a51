// A root supervisor on a privileged port with unprivileged workers (user:/group:), run with exactly
// the capabilities the shipped unit leaves it (CapabilityBoundingSet=, NoNewPrivileges=), inside
// its own network namespace so port 80 on the host is never touched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { cliPath, isAlive, root, waitFor, type LogLine, collectLogLines, killSpawnedDaemon } from '../helpers/harness.js';

const appDir = path.join(root, 'examples/app'); // readable by nobody, unlike a 0700 temp directory

// The unit's CapabilityBoundingSet= as setpriv's --bounding-set argument.
function unitBoundingSet(): string {
  const unit = readFileSync(path.join(root, 'systemd/reuseport-supervisor.service'), 'utf8');
  const line = /^CapabilityBoundingSet=(.+)$/m.exec(unit);
  assert.ok(line, 'the unit sets CapabilityBoundingSet=');
  return ['-all', ...line[1]!.trim().split(/\s+/).map((cap) => `+${cap.replace(/^CAP_/, '').toLowerCase()}`)].join(',');
}

function problem(): string | null {
  if (process.getuid?.() !== 0) return 'needs root: user:/group: and a network namespace';
  const namespace = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up'], { encoding: 'utf8' });
  if (namespace.error || namespace.status !== 0) return `cannot create a network namespace: ${namespace.error?.message ?? namespace.stderr.trim()}`;
  const setpriv = spawnSync('setpriv', ['--bounding-set', unitBoundingSet(), '--no-new-privs', 'true'], { encoding: 'utf8' });
  if (setpriv.error || setpriv.status !== 0) return `setpriv (util-linux) cannot apply the unit's capabilities: ${setpriv.error?.message ?? setpriv.stderr.trim()}`;
  if (!/^nobody:x:65534:/m.test(readFileSync('/etc/passwd', 'utf8'))) return 'no user nobody (65534) in /etc/passwd';
  return null;
}

function idsOf(pid: number): { uid: string; gid: string; groups: string; capEff: string } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => (new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(status)?.[1] ?? '').trim();
  return { uid: field('Uid'), gid: field('Gid'), groups: field('Groups'), capEff: field('CapEff') };
}

// GET http://127.0.0.1:80/ from inside the supervisor's network namespace.
async function getInside(pid: number): Promise<{ status: number; body: string; pid: string }> {
  const code = `
    const http = require('node:http');
    http.get({ host: '127.0.0.1', port: 80, path: '/', agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => console.log(JSON.stringify({ status: res.statusCode, body, pid: res.headers['x-pid'] })));
    }).on('error', (error) => { console.error(error.message); process.exit(1); });`;
  const run = await execa('nsenter', [`--net=/proc/${pid}/ns/net`, process.execPath, '-e', code], { reject: false, timeout: 20_000 });
  assert.equal(run.exitCode, 0, run.stderr);
  return JSON.parse(run.stdout) as { status: number; body: string; pid: string };
}

const skip = problem();
test('user: nobody on 127.0.0.1:80: a root supervisor with only the unit\'s capabilities binds the port, workers run as 65534 and answer, reload and stop work', { skip: skip ?? false }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rps-user-'));
  const configPath = path.join(dir, 'supervisor.yaml');
  const control = path.join(dir, 'supervisor.sock');
  const config = (version: string) =>
    JSON.stringify({
      listen: '127.0.0.1:80',
      workers: 2,
      user: 'nobody',
      group: 'nogroup',
      command: ['node', 'server.js'],
      cwd: appDir,
      env: { APP_VERSION: version },
      ready: { kind: 'notify', timeout: '10s' },
      drain: { signal: 'SIGTERM', timeout: '5s' },
      control,
    });
  writeFileSync(configPath, config('1'));

  const logs: LogLine[] = [];
  const stderr: string[] = [];
  let child: ChildProcess | null = null;
  let exitCode: number | null = null;
  try {
    // unshare, sh and setpriv all exec in place: child.pid is the supervisor's pid.
    child = spawn(
      'unshare',
      ['-n', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', 'setpriv', '--bounding-set', unitBoundingSet(), '--no-new-privs', process.execPath, cliPath, 'run', '-c', configPath],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve((exitCode = code))));
    collectLogLines(child.stdout!, logs);
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
    await waitFor('all workers ready', () => {
      if (exitCode !== null) throw new Error(`supervisor exited with ${exitCode}: ${stderr.join('')} ${JSON.stringify(logs.slice(-5))}`);
      return logs.some((line) => line.msg === 'all workers ready');
    }, 30_000);

    const supervisor = idsOf(child.pid!);
    assert.match(supervisor.uid, /^0\s+0\s+0\s+0$/);
    // Only the unit's four capabilities: NET_BIND_SERVICE (10), SETGID (6), SETUID (7), KILL (5).
    assert.equal(BigInt(`0x${supervisor.capEff}`), (1n << 10n) | (1n << 7n) | (1n << 6n) | (1n << 5n));

    const answer = await getInside(child.pid!);
    assert.equal(answer.status, 200);
    assert.match(answer.body, /^hello from pid \d+, version 1/);
    const workerPids = logs.filter((line) => line.msg === 'worker started').map((line) => line.pid as number);
    assert.ok(workerPids.includes(Number(answer.pid)), `answered by ${answer.pid}, workers ${workerPids.join(', ')}`);
    for (const pid of workerPids) {
      const ids = idsOf(pid);
      assert.match(ids.uid, /^65534\s+65534\s+65534\s+65534$/, `worker ${pid} uid`);
      assert.match(ids.gid, /^65534\s+65534\s+65534\s+65534$/, `worker ${pid} gid`);
      assert.equal(ids.groups, '', `worker ${pid} keeps no supplementary groups of root`);
      assert.equal(BigInt(`0x${ids.capEff}`), 0n, `worker ${pid} has no capabilities`);
    }

    // Reload: new workers as nobody on the same privileged port; the old ones are signalled (CAP_KILL).
    writeFileSync(configPath, config('2'));
    const reload = await execa(process.execPath, [cliPath, 'reload', '--socket', control], { reject: false, timeout: 60_000 });
    assert.equal(reload.exitCode, 0, reload.stderr);
    const after = await getInside(child.pid!);
    assert.match(after.body, /version 2/);
    assert.match(idsOf(Number(after.pid)).uid, /^65534\s/);
    for (const pid of workerPids) assert.ok(!isAlive(pid), `old worker ${pid} still alive`);

    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr.join(''));
  } finally {
    await killSpawnedDaemon(child, logs);
    rmSync(dir, { recursive: true, force: true });
  }
});
