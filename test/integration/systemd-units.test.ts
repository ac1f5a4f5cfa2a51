// The units as `supervisor install-unit` writes them (real paths of node and the CLI, so that
// `systemd-analyze verify` can check that ExecStart= is executable), checked offline by systemd's
// own tools: no systemd as PID 1 is needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { cliPath, root } from '../helpers/harness.js';

const MAX_EXPOSURE = 4.0; // "OK" or better

function toolProblem(): string | null {
  const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  if (probe.error) return `systemd-analyze is not installed (${probe.error.message}): apt-get install systemd`;
  return null;
}
const problem = toolProblem();
const systemdVersion = problem ? 0 : Number(/^systemd (\d+)/.exec(spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' }).stdout)?.[1] ?? 0);

interface Installed {
  dir: string;
  units: string;
  config: string;
  calls: string; // every systemctl invocation (there must be none)
  run: Awaited<ReturnType<typeof execa>>;
}

// install-unit --socket for a real config, with a PATH whose `systemctl` only records its calls.
async function install(extra: string[] = []): Promise<Installed> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rps-units-'));
  const units = path.join(dir, 'units');
  const config = path.join(dir, 'supervisor.yaml');
  writeFileSync(config, `listen: [127.0.0.1:8080, "[::1]:8080"]\nbacklog: 1024\ncommand: [node, server.js]\ncwd: ${path.join(root, 'examples/app')}\n`);
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  const calls = path.join(dir, 'systemctl-calls');
  writeFileSync(path.join(bin, 'systemctl'), `#!/bin/sh\necho "$@" >> ${calls}\n`);
  chmodSync(path.join(bin, 'systemctl'), 0o755);
  const run = await execa(process.execPath, [cliPath, 'install-unit', '--dir', units, '--socket', '-c', config, ...extra], {
    reject: false,
    env: { PATH: `${bin}:${process.env.PATH}` },
  });
  return { dir, units, config, calls, run };
}

function verify(file: string) {
  return spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
}

function exposure(file: string): { score: number; output: string } {
  const run = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', file], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const match = /Overall exposure level for \S+: (\d+\.\d+) (\w+)/.exec(run.stdout);
  assert.ok(match, run.stdout.slice(-500));
  return { score: Number(match[1]), output: run.stdout };
}

test('install-unit writes units that systemd-analyze verify accepts with nothing on stderr, and runs no systemctl', { skip: problem ?? false }, async () => {
  const installed = await install();
  try {
    assert.equal(installed.run.exitCode, 0, String(installed.run.stderr));
    assert.match(String(installed.run.stdout), /systemctl daemon-reload/);
    assert.equal(existsSync(installed.calls), false, `install-unit ran systemctl: ${existsSync(installed.calls) ? readFileSync(installed.calls, 'utf8') : ''}`);
    // The template is checked as an instance, with its specifiers resolved.
    for (const name of ['reuseport-supervisor.service', 'reuseport-supervisor@.service', 'reuseport-supervisor@demo.service', 'reuseport-supervisor.socket']) {
      const run = verify(path.join(installed.units, name));
      assert.equal(run.stderr, '', `${name}: ${run.stderr}`);
      assert.equal(run.status, 0, name);
    }
    const socket = readFileSync(path.join(installed.units, 'reuseport-supervisor.socket'), 'utf8');
    assert.match(socket, /^ListenStream=127\.0\.0\.1:8080\nListenStream=\[::1\]:8080$/m);
    const service = readFileSync(path.join(installed.units, 'reuseport-supervisor.service'), 'utf8');
    assert.ok(service.includes(`ExecStart=${process.execPath} ${cliPath} run -c ${installed.config}`), service);

    // verify does report problems: a unit whose ExecStart= is missing is not silent.
    const broken = path.join(installed.dir, 'broken.service');
    writeFileSync(broken, service.replace(/^ExecStart=\S+/m, 'ExecStart=/nonexistent/node'));
    assert.match(verify(broken).stderr, /not executable/);
  } finally {
    rmSync(installed.dir, { recursive: true, force: true });
  }
});

test(`systemd-analyze security: the service and the template score ${MAX_EXPOSURE.toFixed(1)} or lower ("OK")`, { skip: problem ?? false }, async (t) => {
  const installed = await install();
  try {
    for (const name of ['reuseport-supervisor.service', 'reuseport-supervisor@demo.service']) {
      const { score, output } = exposure(path.join(installed.units, name));
      assert.ok(score <= MAX_EXPOSURE, `${name}: exposure ${score}\n${output}`);
      t.diagnostic(`${name}: exposure ${score.toFixed(1)}`);
    }
  } finally {
    rmSync(installed.dir, { recursive: true, force: true });
  }
});

const newSystemd = problem ?? (systemdVersion < 253 ? `systemd ${systemdVersion} here has no Type=notify-reload (253 and later)` : false);
test('the Type=notify-reload drop-in: verify accepts it with nothing on stderr (systemd >= 253)', { skip: newSystemd }, async () => {
  const installed = await install(['--notify-reload']);
  try {
    assert.equal(installed.run.exitCode, 0, String(installed.run.stderr));
    for (const name of ['reuseport-supervisor.service', 'reuseport-supervisor@demo.service']) {
      const run = verify(path.join(installed.units, name));
      assert.equal(run.stderr, '', `${name}: ${run.stderr}`);
      assert.equal(run.status, 0, name);
    }
  } finally {
    rmSync(installed.dir, { recursive: true, force: true });
  }
});

const oldSystemd = problem ?? (systemdVersion >= 253 ? `systemd ${systemdVersion} here supports Type=notify-reload` : false);
test('systemd < 253 (Debian 12): install-unit refuses --notify-reload, and systemd would ignore the drop-in', { skip: oldSystemd }, async () => {
  const installed = await install(['--notify-reload']);
  try {
    assert.equal(installed.run.exitCode, 100);
    assert.match(String(installed.run.stderr), new RegExp(`needs systemd >= 253.*has ${systemdVersion}`));
    assert.equal(existsSync(path.join(installed.units, 'reuseport-supervisor.service')), false, 'nothing written');
    // What the docs warn of: the drop-in's settings are ignored, and its ExecReload= reset would
    // leave the unit without a reload command.
    const dropIns = path.join(installed.units, 'reuseport-supervisor.service.d');
    const plain = await install();
    try {
      mkdirSync(path.join(plain.units, 'reuseport-supervisor.service.d'));
      cpSync(path.join(root, 'systemd', 'notify-reload.conf'), path.join(plain.units, 'reuseport-supervisor.service.d', 'notify-reload.conf'));
      const run = verify(path.join(plain.units, 'reuseport-supervisor.service'));
      assert.match(run.stderr, /Failed to parse service type, ignoring: notify-reload/);
      assert.match(run.stderr, /Unknown key .?ReloadSignal/);
    } finally {
      rmSync(plain.dir, { recursive: true, force: true });
    }
    assert.equal(existsSync(dropIns), false);
  } finally {
    rmSync(installed.dir, { recursive: true, force: true });
  }
});
